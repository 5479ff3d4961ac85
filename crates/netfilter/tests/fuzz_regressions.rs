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
