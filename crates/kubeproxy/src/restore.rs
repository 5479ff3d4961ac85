//! Working with restore text: the canonical order the conformance cases use.

use std::collections::BTreeMap;

/// One table of a restore file, as parsed.
#[derive(Debug, Default, Clone)]
pub(crate) struct RestoreTable {
    /// Declared chains: name and the rest of the declaration line (`- [0:0]`).
    pub chains: Vec<(String, String)>,
    /// `-A` rules: chain and the full line.
    pub rules: Vec<(String, String)>,
    /// Chains deleted with `-X`.
    pub deletes: Vec<String>,
}

/// Parses restore text into tables (by name, in order of appearance).
pub(crate) fn parse_restore(text: &str) -> Vec<(String, RestoreTable)> {
    let mut tables: Vec<(String, RestoreTable)> = Vec::new();
    for line in text.lines() {
        let line = line.trim_end();
        if let Some(t) = line.strip_prefix('*') {
            tables.push((t.to_string(), RestoreTable::default()));
            continue;
        }
        let Some((_, table)) = tables.last_mut() else {
            continue;
        };
        if let Some(decl) = line.strip_prefix(':') {
            let (name, rest) = decl.split_once(' ').unwrap_or((decl, ""));
            table.chains.push((name.to_string(), rest.to_string()));
        } else if let Some(rest) = line.strip_prefix("-A ") {
            let chain = rest.split(' ').next().unwrap_or_default();
            table.rules.push((chain.to_string(), line.to_string()));
        } else if let Some(rest) = line.strip_prefix("-X ") {
            table.deletes.push(rest.trim().to_string());
        }
    }
    tables
}

fn chain_rank(name: &str) -> (u8, &str) {
    match name {
        "KUBE-NODEPORTS" => (0, ""),
        "KUBE-SERVICES" => (1, ""),
        n if n.starts_with("KUBE-") => (2, n),
        n => (3, n),
    }
}

/// The service name a `KUBE-SERVICES`/`KUBE-NODEPORTS` rule is sorted by: its
/// comment text up to the first space or colon.
fn comment_service(rule: &str) -> &str {
    let Some(i) = rule.find("--comment ") else {
        return "";
    };
    let c = rule.get(i + 10..).unwrap_or_default();
    let c = c.strip_prefix('"').unwrap_or(c);
    let end = c.find([' ', ':', '"']).unwrap_or(c.len());
    c.get(..end).unwrap_or_default()
}

/// Reorders restore text into the canonical order of the conformance cases: tables by
/// name; chain declarations `KUBE-NODEPORTS`, `KUBE-SERVICES`, other `KUBE-*` chains,
/// then others (each group in byte order); rules grouped by chain in that order
/// (kube-proxy's order inside a chain, except that `KUBE-SERVICES` and
/// `KUBE-NODEPORTS` are stably sorted by the service in the comment, the nat
/// "must be the last rule" jump staying last); then `-X` lines; then `COMMIT`.
pub fn canonical_order(restore: &str) -> String {
    let mut tables = parse_restore(restore);
    tables.sort_by(|a, b| a.0.cmp(&b.0));
    let mut out = String::with_capacity(restore.len());
    for (name, t) in tables {
        out.push('*');
        out.push_str(&name);
        out.push('\n');
        let mut chains = t.chains.clone();
        chains.sort_by(|a, b| chain_rank(&a.0).cmp(&chain_rank(&b.0)));
        chains.dedup_by(|a, b| a.0 == b.0);
        for (c, rest) in &chains {
            out.push(':');
            out.push_str(c);
            if !rest.is_empty() {
                out.push(' ');
                out.push_str(rest);
            }
            out.push('\n');
        }
        let mut by_chain: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
        for (c, line) in &t.rules {
            by_chain.entry(c.as_str()).or_default().push(line.as_str());
        }
        let mut order: Vec<&str> = by_chain.keys().copied().collect();
        order.sort_by(|a, b| chain_rank(a).cmp(&chain_rank(b)));
        for c in order {
            let mut rules = by_chain.remove(c).unwrap_or_default();
            if c == "KUBE-SERVICES" || c == "KUBE-NODEPORTS" {
                rules.sort_by_key(|r| {
                    let last = name == "nat" && r.contains("must be the last rule");
                    (last, if last { "" } else { comment_service(r) })
                });
            }
            for r in rules {
                out.push_str(r);
                out.push('\n');
            }
        }
        let mut deletes = t.deletes.clone();
        deletes.sort_by(|a, b| chain_rank(a).cmp(&chain_rank(b)));
        for d in deletes {
            out.push_str("-X ");
            out.push_str(&d);
            out.push('\n');
        }
        out.push_str("COMMIT\n");
    }
    out
}
