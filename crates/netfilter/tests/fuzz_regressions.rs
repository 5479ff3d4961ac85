//! Inputs the fuzzers (`fuzz/`) found to crash, hang or exhaust memory, minimised; each must
//! now parse to diagnostics quickly.

use chainwalk_netfilter::check::check;
use chainwalk_netfilter::syntax::{Severity, parse_commands, parse_save, print_save};

/// Parses `text` both ways, runs the checks and renders every diagnostic; returns the number of
/// errors of the save parse.
fn survive(text: &str) -> usize {
    let commands = parse_commands(text, None);
    for d in &commands.diagnostics {
        let _ = d.render("f", text);
    }
    let parsed = parse_save(text, None);
    let found = check(&parsed.ruleset);
    for d in parsed.diagnostics.iter().chain(found.iter()) {
        let _ = d.render("f", text);
    }
    let _ = parse_save(&print_save(&parsed.ruleset), None);
    parsed
        .diagnostics
        .iter()
        .filter(|d| d.severity == Severity::Error)
        .count()
}

/// `--` after `-p tcp` loaded the implicit tcp match again and again without consuming the
/// option: an endless loop that grew memory until it ran out.
#[test]
fn bare_double_dash_after_protocol() {
    assert_eq!(survive("*filter\n-A INPUT -p tcp --\nCOMMIT\n"), 1);
    assert_eq!(
        survive("*filter\n-A INPUT -p tcp -m tcp --dport 1 -- -p udp\nCOMMIT\n"),
        1
    );
}

/// Address lists multiply (one rule per source × destination); a command-script word has no
/// length limit, so without a bound one line could ask for billions of rules.
#[test]
fn address_list_expansion_is_bounded() {
    let list: Vec<String> = (0..5000)
        .map(|i| format!("10.{}.{}.1", i / 256, i % 256))
        .collect();
    let list = list.join(",");
    let script = format!("iptables -A INPUT -s {list} -d {list} -j ACCEPT\n");
    let parsed = parse_commands(&script, None);
    assert_eq!(parsed.diagnostics.len(), 1, "{:?}", parsed.diagnostics);
    let e = &parsed.diagnostics[0].error;
    assert!(e.message.contains("25000000 rules"), "{}", e.message);
    assert_eq!((e.span.line, e.span.col), (1, 22 + list.len() as u32 + 4));
    // 64 × 64 is still read.
    let small: Vec<String> = (0..64).map(|i| format!("10.0.{i}.1")).collect();
    let small = small.join(",");
    let script = format!("iptables -A INPUT -s {small} -d {small} -j ACCEPT\n");
    let parsed = parse_commands(&script, None);
    assert!(!parsed.has_errors());
    assert_eq!(parsed.ruleset.rules().count(), 4096);
}

/// Inserting at the head of a chain again and again used to move every rule each time, so a
/// megabyte of `-I` lines took many seconds; the order must still be iptables' order.
#[test]
fn many_head_inserts_are_fast_and_ordered() {
    let mut text = String::from("*filter\n:INPUT ACCEPT [0:0]\n-A INPUT -p udp -j ACCEPT\n");
    for i in 0..50_000 {
        text.push_str(&format!("-I INPUT -m mark --mark {i} -j ACCEPT\n"));
    }
    text.push_str("-I INPUT 2 -p tcp -j DROP\n-D INPUT 1\n-R INPUT 1 -p icmp -j DROP\nCOMMIT\n");
    let started = std::time::Instant::now();
    let parsed = parse_save(&text, None);
    assert!(!parsed.has_errors(), "{:?}", parsed.diagnostics.first());
    assert!(
        started.elapsed().as_secs() < 5,
        "took {:?}",
        started.elapsed()
    );
    let printed = print_save(&parsed.ruleset);
    let rules: Vec<&str> = printed.lines().filter(|l| l.starts_with("-A")).collect();
    assert_eq!(rules.len(), 50_001);
    assert_eq!(rules[0], "-A INPUT -p icmp -j DROP");
    assert_eq!(rules[1], "-A INPUT -m mark --mark 0xc34e -j ACCEPT");
    assert_eq!(rules[50_000], "-A INPUT -p udp -j ACCEPT");
}

/// "Did you mean" over a ruleset's chains compared every missing name with every chain: with
/// thousands of each that is quadratic, and the fuzzer spent most of its time there. The work
/// is now bounded; the first errors still get their suggestion.
#[test]
fn chain_suggestions_are_bounded() {
    let mut text = String::from("*filter\n");
    for i in 0..2000 {
        text.push_str(&format!(":KUBE-SEP-{i:016} - [0:0]\n"));
    }
    for i in 0..2000 {
        text.push_str(&format!(
            "-A KUBE-SVC-{i:016} -j ACCEPT\n-A INPUT -j KUBE-SVC-{i:016}\n"
        ));
    }
    text.push_str("COMMIT\n");
    let started = std::time::Instant::now();
    let parsed = parse_save(&text, None);
    let found = check(&parsed.ruleset);
    assert!(
        started.elapsed().as_secs() < 10,
        "took {:?}",
        started.elapsed()
    );
    assert_eq!(parsed.diagnostics.len(), 2000);
    assert_eq!(found.len(), 2000);
    let first = &parsed.diagnostics[0].error;
    assert_eq!(
        first.help.as_deref(),
        Some("did you mean `KUBE-SEP-0000000000000000`?")
    );
}

/// A quoted shell argument may hold a line break, but the `iptables-save` form cannot: the
/// printed ruleset did not read back. Such arguments (and over-long ones) are now refused.
#[test]
fn command_arguments_must_fit_the_save_form() {
    let script =
        "iptables -A INPUT -j LOG --log-prefix \"dropped\nIN: \"\niptables -A INPUT -j DROP\n";
    let parsed = parse_commands(script, None);
    assert_eq!(parsed.diagnostics.len(), 1, "{:?}", parsed.diagnostics);
    let e = &parsed.diagnostics[0].error;
    assert!(e.message.contains("line break"), "{}", e.message);
    assert_eq!((e.span.line, e.span.col), (1, 39));
    let long = "x".repeat(2000);
    let parsed = parse_commands(
        &format!("iptables -A INPUT -m comment --comment {long}\n"),
        None,
    );
    assert_eq!(parsed.diagnostics.len(), 1, "{:?}", parsed.diagnostics);
    assert!(parsed.diagnostics[0].error.message.contains("2000 bytes"));
}
