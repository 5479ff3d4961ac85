//! Command scripts against the kernel: `testdata/example-node/article-rules.sh` must print,
//! canonically, exactly what the kernel's `iptables-save` prints after the script's commands ran.
//!
//! `article_rules_match_recorded_kernel_output` compares with the recorded kernel output
//! (`article-rules.kernel-save`); `article_rules_match_live_kernel` runs the script in a fresh
//! network namespace and asks the kernel again. The live test needs root and iptables, and fails
//! (it does not skip) without them.
//!
//! `corpus_as_commands_parses_like_the_save_form` rewrites every corpus ruleset as a script of
//! `iptables -t TABLE …` commands and requires the same ruleset as from the save form (the
//! kernel prints the same for both forms, so the corpus test's kernel comparison carries over).

#![allow(clippy::unwrap_used, clippy::panic)]

use std::path::{Path, PathBuf};
use std::process::Command;

use chainwalk_netfilter::check::check;
use chainwalk_netfilter::model::Family;
use chainwalk_netfilter::syntax::token::tokenize;
use chainwalk_netfilter::syntax::{
    Format, Severity, detect_format, parse_any, parse_commands, parse_save, print_save,
};

fn example_node() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata/example-node")
}

/// Drops `#` lines and zeroes counters, so outputs compare on rules alone.
fn normalise(text: &str) -> String {
    let mut out = String::new();
    for line in text.lines().filter(|l| !l.starts_with('#')) {
        let line = match line.strip_prefix('[') {
            Some(rest) => rest.split_once("] ").map(|(_, r)| r).unwrap_or(line),
            None => line,
        };
        if line.starts_with(':')
            && let Some(i) = line.rfind(" [")
        {
            out.push_str(&line[..i]);
            out.push_str(" [0:0]\n");
            continue;
        }
        out.push_str(line);
        out.push('\n');
    }
    out
}

/// The script parsed and printed canonically; panics with rendered diagnostics on any error.
fn ours() -> String {
    let path = example_node().join("article-rules.sh");
    let text = std::fs::read_to_string(&path).unwrap();
    assert_eq!(detect_format(&text), Format::Commands);
    let parsed = parse_any(&text, None);
    let errors: Vec<String> = parsed
        .diagnostics
        .iter()
        .chain(check(&parsed.ruleset).iter())
        .filter(|d| d.severity == Severity::Error)
        .map(|d| d.render("article-rules.sh", &text))
        .collect();
    assert!(errors.is_empty(), "{}", errors.join(""));
    assert_eq!(parsed.ruleset.family, Some(Family::Ipv4));
    normalise(&print_save(&parsed.ruleset))
}

fn assert_same(ours: &str, kernel: &str) {
    if ours != kernel {
        panic!("ours:\n{ours}\nkernel:\n{kernel}");
    }
}

#[test]
fn article_rules_match_recorded_kernel_output() {
    let kernel = std::fs::read_to_string(example_node().join("article-rules.kernel-save")).unwrap();
    assert_same(&ours(), &normalise(&kernel));
}

/// Deletes the namespace when dropped, also when the test fails.
struct Netns(String);

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "del", &self.0]).status();
    }
}

fn run(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap_or_else(|e| {
        panic!("cannot run {cmd:?}: {e} (this test needs iproute2 and iptables)")
    });
    assert!(
        out.status.success(),
        "{cmd:?} failed ({}): {}\nthis test needs root, iproute2 and iptables",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn article_rules_match_live_kernel() {
    let name = format!("cw-cmd-{}", std::process::id());
    run(Command::new("ip").args(["netns", "add", &name]));
    let ns = Netns(name);
    let script = example_node().join("article-rules.sh");
    run(Command::new("ip")
        .args(["netns", "exec", &ns.0, "sh", "-e"])
        .arg(&script));
    let kernel = run(Command::new("ip").args(["netns", "exec", &ns.0, "iptables-save"]));
    assert!(
        kernel.contains("*nat"),
        "iptables-save printed no nat table:\n{kernel}"
    );
    assert_same(&ours(), &normalise(&kernel));
}

/// `text` (iptables-save form) rewritten as iptables commands, each argument shell-quoted.
fn as_commands(text: &str, program: &str) -> String {
    let mut out = String::new();
    let mut table = "filter".to_string();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim_end();
        if let Some(t) = line.strip_prefix('*') {
            table = t.to_string();
            continue;
        }
        if line.is_empty() || line.starts_with('#') || line == "COMMIT" {
            continue;
        }
        let toks = tokenize(line, u32::try_from(i + 1).unwrap(), 0).unwrap();
        let mut words: Vec<String> = toks.into_iter().map(|t| t.text.into_owned()).collect();
        if words.first().is_some_and(|w| w.starts_with('[')) {
            words.remove(0);
        }
        if let Some(chain) = words.first().and_then(|w| w.strip_prefix(':')) {
            words = match words.get(1).map(String::as_str) {
                Some("-") => vec!["-N".into(), chain.into()],
                Some(policy) => vec!["-P".into(), chain.into(), policy.into()],
                None => continue,
            };
        }
        let quoted: Vec<String> = words
            .iter()
            .map(|w| shlex::try_quote(w).unwrap().into_owned())
            .collect();
        out.push_str(&format!("{program} -t {table} {}\n", quoted.join(" ")));
    }
    out
}

#[test]
fn corpus_as_commands_parses_like_the_save_form() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata/corpus/rulesets");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "rules"))
        .collect();
    files.sort();
    assert!(files.len() > 30, "corpus missing: {}", dir.display());
    let mut failures = Vec::new();
    for file in &files {
        let text = std::fs::read_to_string(file).unwrap();
        let save = parse_save(&text, None);
        if save.has_errors() {
            continue; // the corpus test reports these
        }
        let program = match save.ruleset.family {
            Some(Family::Ipv6) => "ip6tables",
            _ => "iptables",
        };
        let script = as_commands(&text, program);
        let commands = parse_commands(&script, None);
        let name = file.file_name().unwrap().to_string_lossy();
        let errors: String = commands
            .diagnostics
            .iter()
            .filter(|d| d.severity == Severity::Error)
            .take(3)
            .map(|d| d.render(&format!("{name} as commands"), &script))
            .collect();
        if !errors.is_empty() {
            failures.push(errors);
            continue;
        }
        // Counters cannot be given on the command line, so they are left out of the comparison.
        let (ours, theirs) = (
            normalise(&print_save(&commands.ruleset)),
            normalise(&print_save(&save.ruleset)),
        );
        if let Some((a, b)) = ours.lines().zip(theirs.lines()).find(|(a, b)| a != b) {
            failures.push(format!(
                "{name}: the command form prints `{a}`, the save form `{b}`"
            ));
        } else if ours != theirs {
            failures.push(format!("{name}: the command form prints differently"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
