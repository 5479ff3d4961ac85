//! The `chainwalk` binary end to end: arguments, exit statuses, output streams and formats.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};

use assert_cmd::Command;
use predicates::prelude::*;
use predicates::str::contains;

fn testdata(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../testdata")
        .join(rel)
}

fn chainwalk() -> Command {
    Command::cargo_bin("chainwalk").unwrap()
}

/// Drops `#` lines, as the recorded kernel outputs have none.
fn without_comments(text: &str) -> String {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .map(|l| format!("{l}\n"))
        .collect()
}

const BAD: &str = "*filter\n:INPUT ACCEPT [0:0]\n-A INPUT -p tcp --dprot 22 -j ACCEPT\nCOMMIT\n";

#[test]
fn check_accepts_both_formats() {
    chainwalk()
        .arg("check")
        .arg(testdata("example-node/article-rules.sh"))
        .arg(testdata("example-node/node.rules"))
        .assert()
        .success()
        .stdout("ok: 2 files, 0 errors, 0 warnings\n");
}

#[test]
fn check_renders_located_errors_and_fails() {
    let dir = std::env::temp_dir().join(format!("chainwalk-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("bad.rules");
    std::fs::write(&file, BAD).unwrap();
    let name = file.to_str().unwrap();
    chainwalk()
        .args(["check", name])
        .assert()
        .code(1)
        .stdout("FAILED: 1 file, 1 error, 0 warnings\n")
        .stderr(contains(format!(
            "{name}:3:17: error: unknown option `--dprot`"
        )))
        .stderr(contains("3 | -A INPUT -p tcp --dprot 22 -j ACCEPT\n"))
        .stderr(contains("  |                 ^^^^^^^\n"))
        .stderr(contains("= help: did you mean `--dport`?"));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn check_reads_stdin() {
    chainwalk()
        .args(["check", "-"])
        .write_stdin("iptables -N X\niptables -A INPUT -j Y\n")
        .assert()
        .code(1)
        .stderr(contains("<stdin>:2:22: error: jump to chain `Y`"));
}

#[test]
fn check_json_is_stable_and_lists_unmodelled_extensions() {
    let out = chainwalk()
        .args(["check", "--format", "json", "-"])
        .write_stdin(
            "*filter\n:INPUT ACCEPT [0:0]\n-A INPUT -m time --timestart 09:00 -j DROP\n\
             -A INPUT -s 10.0.0.0/33 -j ACCEPT\nCOMMIT\n",
        )
        .assert()
        .code(1)
        .stderr("")
        .get_output()
        .stdout
        .clone();
    let doc: serde_json::Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(doc["schema"], "chainwalk/check/v1");
    let file = &doc["files"][0];
    assert_eq!(file["file"], "<stdin>");
    assert_eq!(file["errors"], 1);
    assert_eq!(file["warnings"], 1);
    let diags = file["diagnostics"].as_array().unwrap();
    assert_eq!(diags.len(), 2);
    assert_eq!(diags[0]["severity"], "warning");
    assert_eq!(
        (diags[0]["line"].as_u64(), diags[0]["column"].as_u64()),
        (Some(3), Some(13))
    );
    assert!(
        diags[0]["message"]
            .as_str()
            .unwrap()
            .contains("`time` is not modelled")
    );
    assert_eq!(diags[1]["severity"], "error");
    assert_eq!(
        (diags[1]["line"].as_u64(), diags[1]["column"].as_u64()),
        (Some(4), Some(13))
    );
    assert!(diags[1]["help"].is_null() || diags[1]["help"].is_string());
    let mut keys: Vec<&String> = diags[1].as_object().unwrap().keys().collect();
    keys.sort();
    assert_eq!(keys, ["column", "help", "line", "message", "severity"]);
}

#[test]
fn unreadable_file_and_usage_errors_exit_2() {
    chainwalk()
        .args(["check", "/nonexistent/chainwalk.rules"])
        .assert()
        .code(2)
        .stderr(contains("cannot read `/nonexistent/chainwalk.rules`"));
    chainwalk().arg("check").assert().code(2);
    chainwalk()
        .args(["check", "--format", "xml", "x"])
        .assert()
        .code(2);
    chainwalk().args(["check", "-", "-"]).assert().code(2);
}

#[test]
fn invalid_utf8_is_read_with_a_warning() {
    let mut text = b"*filter\n-A INPUT -m comment --comment \"caf".to_vec();
    text.extend([0xe9, b'"']);
    text.extend(b" -j ACCEPT\nCOMMIT\n");
    chainwalk()
        .args(["fmt", "-"])
        .write_stdin(text.clone())
        .assert()
        .success()
        .stdout(contains("--comment \"caf\u{fffd}\" -j ACCEPT"))
        .stderr(contains(
            "<stdin>:2:35: warning: the input is not valid UTF-8",
        ));
    chainwalk()
        .args(["check", "-"])
        .write_stdin(text)
        .assert()
        .success()
        .stdout("ok: 1 file, 0 errors, 1 warning\n");
}

#[test]
fn fmt_prints_what_the_kernel_prints() {
    let expected =
        std::fs::read_to_string(testdata("example-node/article-rules.kernel-save")).unwrap();
    chainwalk()
        .arg("fmt")
        .arg(testdata("example-node/article-rules.sh"))
        .assert()
        .success()
        .stdout(expected);
    let expected = std::fs::read_to_string(testdata("corpus/kernel-save/vsrv.rules")).unwrap();
    let out = chainwalk()
        .arg("fmt")
        .arg(testdata("corpus/rulesets/vsrv.rules"))
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let out = String::from_utf8(out).unwrap();
    let zero = |t: &str| -> String {
        without_comments(t)
            .lines()
            .map(|l| match (l.starts_with(':'), l.rfind(" [")) {
                (true, Some(i)) => format!("{} [0:0]\n", &l[..i]),
                _ => format!("{l}\n"),
            })
            .collect()
    };
    assert_eq!(zero(&out), zero(&expected));
}

#[test]
fn fmt_prints_nothing_on_errors() {
    chainwalk()
        .args(["fmt", "-"])
        .write_stdin(BAD)
        .assert()
        .code(1)
        .stdout("")
        .stderr(contains("<stdin>:3:17: error: unknown option `--dprot`"))
        .stderr(contains("nothing printed"));
}

#[test]
fn fmt_family_flag_for_headerless_input() {
    let text = "*filter\n-A INPUT -s ::1 -j ACCEPT\nCOMMIT\n";
    chainwalk()
        .args(["fmt", "-"])
        .write_stdin(text)
        .assert()
        .success()
        .stdout(contains("-A INPUT -s ::1/128 -j ACCEPT"));
    chainwalk()
        .args(["fmt", "--family", "ipv4", "-"])
        .write_stdin(text)
        .assert()
        .code(1)
        .stderr(contains("IPv6 address, but this is an IPv4 ruleset"));
    let fragment = "*filter\n-A INPUT -f -j DROP\nCOMMIT\n";
    chainwalk()
        .args(["fmt", "--family", "ipv4", "-"])
        .write_stdin(fragment)
        .assert()
        .success()
        .stdout(predicate::str::starts_with(
            "*filter\n:INPUT ACCEPT [0:0]\n",
        ));
    chainwalk()
        .args(["fmt", "--family", "ipv6", "-"])
        .write_stdin(fragment)
        .assert()
        .code(1)
        .stderr(contains("`-f` is IPv4 only"));
}

#[test]
fn help_lists_the_subcommands() {
    chainwalk()
        .arg("--help")
        .assert()
        .success()
        .stdout(contains("check").and(contains("fmt")));
}
