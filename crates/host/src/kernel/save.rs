//! `iptables-restore` then `iptables-save` in a fresh namespace.

use std::collections::BTreeMap;

use super::{Family, KernelError, Netns};

/// The ipsets a ruleset references (`--match-set NAME DIRS`, `--add-set`/`--del-set NAME
/// DIRS`), each with the largest number of direction flags it is used with.
pub fn referenced_ipsets(rules: &str) -> BTreeMap<String, usize> {
    let mut sets = BTreeMap::new();
    for line in rules.lines() {
        let words: Vec<&str> = line.split_whitespace().collect();
        for (i, word) in words.iter().enumerate() {
            if matches!(
                *word,
                "--match-set" | "--add-set" | "--del-set" | "--map-set"
            ) {
                let (Some(name), Some(dirs)) = (words.get(i + 1), words.get(i + 2)) else {
                    continue;
                };
                let dims = dirs.split(',').count().clamp(1, 3);
                let entry = sets.entry((*name).to_string()).or_insert(dims);
                *entry = (*entry).max(dims);
            }
        }
    }
    sets
}

/// Creates (inside `ns`) every ipset `rules` references, with a hash type whose
/// dimension fits its direction list: `hash:ip`, `hash:ip,port`, `hash:ip,port,ip`.
pub(crate) fn create_ipsets(ns: &Netns, rules: &str, family: Family) -> Result<(), KernelError> {
    for (name, dims) in referenced_ipsets(rules) {
        let kind = match dims {
            1 => "hash:ip",
            2 => "hash:ip,port",
            _ => "hash:ip,port,ip",
        };
        ns.exec(
            &[
                "ipset",
                "create",
                &name,
                kind,
                "family",
                family.ipset_family(),
                "-exist",
            ],
            None,
        )?;
    }
    Ok(())
}

/// Loads `rules` with `iptables-nft-restore` (or the IPv6 one) inside `ns`.
pub(crate) fn restore_in(ns: &Netns, rules: &str, family: Family) -> Result<(), KernelError> {
    create_ipsets(ns, rules, family)?;
    match ns.exec(&[family.restore_cmd()], Some(rules)) {
        Ok(_) => Ok(()),
        Err(KernelError::Command { stderr, .. }) => Err(KernelError::Restore {
            line: restore_error_line(&stderr),
            message: stderr,
        }),
        Err(e) => Err(e),
    }
}

/// The line number iptables-restore names in its error text ("line 12 failed",
/// "Error occurred at line: 12").
fn restore_error_line(stderr: &str) -> Option<u32> {
    let lower = stderr.to_ascii_lowercase();
    let mut rest = lower.as_str();
    while let Some(pos) = rest.find("line") {
        rest = &rest[pos + 4..];
        let digits: String = rest
            .trim_start_matches([':', ' '])
            .chars()
            .take_while(|c| c.is_ascii_digit())
            .collect();
        if let Ok(n) = digits.parse() {
            return Some(n);
        }
    }
    None
}

/// What the kernel's `iptables-save` prints after `iptables-restore` of `rules` in a fresh
/// namespace, with `#` lines removed. ipsets the rules reference are created first (empty).
pub fn save_after_restore(rules: &str, family: Family) -> Result<String, KernelError> {
    super::check_environment()?;
    let ns = Netns::new("save")?;
    restore_in(&ns, rules, family)?;
    let saved = ns.exec(&[family.save_cmd()], None)?;
    let mut out = String::with_capacity(saved.len());
    for line in saved.lines().filter(|l| !l.starts_with('#')) {
        out.push_str(line);
        out.push('\n');
    }
    Ok(out)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn ipset_dimensions() {
        let rules = "-A X -m set --match-set a src -j ACCEPT\n\
                     -A X -m set ! --match-set b dst,dst -j DROP\n\
                     -A X -j SET --add-set c src,dst,dst\n\
                     -A X -m set --match-set a src,dst -j DROP\n";
        let sets = referenced_ipsets(rules);
        assert_eq!(sets.get("a"), Some(&2));
        assert_eq!(sets.get("b"), Some(&2));
        assert_eq!(sets.get("c"), Some(&3));
    }

    #[test]
    fn error_line() {
        assert_eq!(
            restore_error_line("iptables-restore: line 12 failed"),
            Some(12)
        );
        assert_eq!(
            restore_error_line("Error occurred at line: 7\nTry"),
            Some(7)
        );
        assert_eq!(restore_error_line("no number here"), None);
    }
}
