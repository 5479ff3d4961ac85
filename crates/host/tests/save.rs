//! `save_after_restore` against the real kernel. Needs root and the tools from
//! `.ci/install-deps.sh`; without them these tests fail (they are never skipped).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};

use chainwalk_host::kernel::{Family, KernelError, check_environment, save_after_restore};

fn testdata() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata")
}

fn require_kernel() {
    if let Err(e) = check_environment() {
        panic!(
            "kernel tests need root and the kernel tools (run .ci/install-deps.sh as root): {e}"
        );
    }
}

fn strip_comments(text: &str) -> String {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .map(|l| format!("{l}\n"))
        .collect()
}

fn family_of(rules: &str) -> Family {
    // An IPv6 ruleset has IPv6 addresses in -s/-d or ICMPv6 matches; IPv4 ones never do.
    let v6_addr = |w: &str| {
        w.split('/').next().is_some_and(|a| {
            a.split(',')
                .all(|x| x.parse::<std::net::Ipv6Addr>().is_ok())
        })
    };
    for line in rules.lines().filter(|l| l.starts_with("-A ")) {
        let words: Vec<&str> = line.split_whitespace().collect();
        for pair in words.windows(2) {
            let (flag, value) = (pair[0], pair[1]);
            let addr_flag = matches!(flag, "-s" | "-d" | "--source" | "--destination");
            if (addr_flag && v6_addr(value))
                || (flag == "-p" && matches!(value, "icmpv6" | "ipv6-icmp" | "58"))
                || flag == "--icmpv6-type"
            {
                return Family::Ipv6;
            }
        }
    }
    Family::Ipv4
}

/// Corpus files the kernel refuses, with the reason iptables-restore gives.
const REJECTED: &[(&str, &str)] = &[
    ("tum-chair-2016-v4.rules", "MAC address"),
    ("tum-chair-2016-v6.rules", "MAC address"),
    ("veroneau-blocklist.rules", "COMMIT"),
    // DNAT with an empty --to-destination: `Bad IP address ""`.
    ("k8s-cilium-ipvs-mixed-nft.rules", "Bad IP address"),
];

#[test]
fn example_node_round_trips() {
    require_kernel();
    let rules = std::fs::read_to_string(testdata().join("example-node/node.rules")).unwrap();
    let saved = save_after_restore(&rules, Family::Ipv4).unwrap();
    assert_eq!(saved, strip_comments(&rules));
}

#[test]
fn restore_error_names_line() {
    require_kernel();
    let rules =
        "*filter\n:INPUT ACCEPT [0:0]\n-A INPUT -p tcp --no-such-option 1 -j ACCEPT\nCOMMIT\n";
    match save_after_restore(rules, Family::Ipv4) {
        Err(KernelError::Restore { line, message }) => {
            assert_eq!(line, Some(3), "message: {message}");
        }
        other => panic!("expected a restore error, got {other:?}"),
    }
}

#[test]
fn corpus_matches_kernel_save() {
    require_kernel();
    let dir = testdata().join("corpus/rulesets");
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".rules"))
        .collect();
    names.sort();
    assert!(names.len() >= 40, "corpus has only {} files", names.len());
    let regenerate = std::env::var_os("CHAINWALK_REGENERATE_KERNEL_SAVE").is_some();
    let mut failures = Vec::new();
    let mut compared = 0;
    for name in &names {
        let rules = std::fs::read_to_string(dir.join(name)).unwrap();
        let result = save_after_restore(&rules, family_of(&rules));
        let expected_path = testdata().join("corpus/kernel-save").join(name);
        match (result, REJECTED.iter().find(|(n, _)| n == name)) {
            (Err(KernelError::Restore { message, .. }), Some((_, reason))) => {
                if !message.contains(reason) {
                    failures.push(format!("{name}: rejected for another reason: {message}"));
                }
            }
            (Err(e), None) => failures.push(format!("{name}: {e}")),
            (Err(e), Some(_)) => failures.push(format!("{name}: unexpected error kind: {e}")),
            (Ok(_), Some(_)) => failures.push(format!("{name}: expected the kernel to reject it")),
            (Ok(saved), None) => {
                if regenerate && !expected_path.exists() {
                    std::fs::write(&expected_path, &saved).unwrap();
                }
                match std::fs::read_to_string(&expected_path) {
                    Ok(expected) if expected == saved => compared += 1,
                    Ok(_) => failures.push(format!("{name}: kernel-save differs")),
                    Err(e) => failures.push(format!("{name}: no kernel-save file: {e}")),
                }
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert_eq!(compared + REJECTED.len(), names.len());
}

/// Drops `#` lines, per-rule counters, and zeroes chain counters.
fn without_counters(text: &str) -> String {
    let mut out = String::new();
    for line in text.lines().filter(|l| !l.starts_with('#')) {
        let line = match line.strip_prefix('[') {
            Some(rest) => rest.split_once("] ").map(|(_, r)| r).unwrap_or(line),
            None => line,
        };
        match (line.starts_with(':'), line.rfind(" [")) {
            (true, Some(i)) => out.push_str(&format!("{} [0:0]\n", &line[..i])),
            _ => out.push_str(&format!("{line}\n")),
        }
    }
    out
}

/// Issue 2's kernel round trip: for every corpus file the kernel accepts, chainwalk's canonical
/// print is identical to what `iptables-save` prints after `iptables-restore` of the file, in a
/// fresh namespace, now (`#` lines and counters ignored).
#[test]
fn canonical_print_matches_live_kernel() {
    use chainwalk_netfilter::model::Family as F;
    use chainwalk_netfilter::syntax::{parse_save, print_save};
    require_kernel();
    let dir = testdata().join("corpus/rulesets");
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".rules"))
        .collect();
    names.sort();
    let mut identical = 0;
    let mut failures = Vec::new();
    for name in &names {
        if REJECTED.iter().any(|(n, _)| n == name) {
            continue;
        }
        let rules = std::fs::read_to_string(dir.join(name)).unwrap();
        let parsed = parse_save(&rules, None);
        let family = match parsed.ruleset.family {
            Some(F::Ipv6) => Family::Ipv6,
            _ => Family::Ipv4,
        };
        let kernel = match save_after_restore(&rules, family) {
            Ok(k) => k,
            Err(e) => {
                failures.push(format!("{name}: the kernel refused it: {e}"));
                continue;
            }
        };
        let ours = without_counters(&print_save(&parsed.ruleset));
        if ours == without_counters(&kernel) {
            identical += 1;
        } else {
            let first = ours
                .lines()
                .zip(without_counters(&kernel).lines())
                .find(|(a, b)| a != b)
                .map(|(a, b)| format!("\n    ours:   {a}\n    kernel: {b}"))
                .unwrap_or_default();
            failures.push(format!("{name}: differs{first}"));
        }
    }
    eprintln!(
        "kernel round trip: {identical} of {} corpus files identical; {} refused by the kernel: {}",
        names.len(),
        REJECTED.len(),
        REJECTED
            .iter()
            .map(|(n, r)| format!("{n} ({r})"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    assert!(
        failures.is_empty(),
        "{} files differ:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
