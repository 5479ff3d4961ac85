//! Command scripts against the kernel: `testdata/example-node/article-rules.sh` must print,
//! canonically, exactly what the kernel's `iptables-save` prints after the script's commands ran.
//!
//! `article_rules_match_recorded_kernel_output` compares with the recorded kernel output
//! (`article-rules.kernel-save`); `article_rules_match_live_kernel` runs the script in a fresh
//! network namespace and asks the kernel again. The live test needs root and iptables, and fails
//! (it does not skip) without them.

#![allow(clippy::unwrap_used, clippy::panic)]

use std::path::{Path, PathBuf};
use std::process::Command;

use chainwalk_netfilter::check::check;
use chainwalk_netfilter::model::Family;
use chainwalk_netfilter::syntax::{Format, Severity, detect_format, parse_any, print_save};

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
