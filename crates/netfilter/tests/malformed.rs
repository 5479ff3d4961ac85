//! The malformed-input table: each bad input must give exactly one error, at the right line and
//! column, saying the right thing — from the parser or from the whole-ruleset checks, whichever
//! catches it, as `chainwalk check` reports them together.

use chainwalk_netfilter::check::check;
use chainwalk_netfilter::syntax::{
    Diagnostic, Format, SaveParser, Severity, detect_format, parse_any, parse_save,
};

struct Case {
    name: &'static str,
    input: &'static str,
    line: u32,
    col: u32,
    message: &'static str,
    help: Option<&'static str>,
}

const fn case(
    name: &'static str,
    input: &'static str,
    (line, col): (u32, u32),
    message: &'static str,
    help: Option<&'static str>,
) -> Case {
    Case {
        name,
        input,
        line,
        col,
        message,
        help,
    }
}

const CASES: &[Case] = &[
    case(
        "truncated file: table without COMMIT",
        "*filter\n:INPUT ACCEPT [0:0]\n-A INPUT -j ACCEPT\n",
        (1, 1),
        "is not closed",
        Some("truncated"),
    ),
    case(
        "unknown option after -m tcp",
        "*filter\n-A INPUT -p tcp -m tcp --dprot 22 -j ACCEPT\nCOMMIT\n",
        (2, 24),
        "unknown option `--dprot`",
        Some("did you mean `--dport`?"),
    ),
    case(
        "unknown option of the implicit protocol match",
        "*filter\n-A INPUT -p tcp --dprot 22 -j ACCEPT\nCOMMIT\n",
        (2, 17),
        "unknown option `--dprot`",
        Some("did you mean `--dport`?"),
    ),
    case(
        "unbalanced quote",
        "*filter\n-A INPUT -m comment --comment \"open -j ACCEPT\nCOMMIT\n",
        (2, 31),
        "unbalanced double quote",
        None,
    ),
    case(
        "prefix length past 32",
        "*filter\n-A INPUT -s 10.0.0.0/33 -j ACCEPT\nCOMMIT\n",
        (2, 13),
        "invalid address `10.0.0.0/33`",
        None,
    ),
    case(
        "octet past 255",
        "*filter\n-A INPUT -d 300.1.1.1 -j DROP\nCOMMIT\n",
        (2, 13),
        "invalid address `300.1.1.1`",
        None,
    ),
    case(
        "port past 65535",
        "*filter\n-A INPUT -p tcp -m tcp --dport 70000 -j ACCEPT\nCOMMIT\n",
        (2, 32),
        "70000",
        None,
    ),
    case(
        "jump loop A -> B -> A",
        "*filter\n:INPUT ACCEPT [0:0]\n:A - [0:0]\n:B - [0:0]\n-A INPUT -j A\n-A A -j B\n-A B -j A\nCOMMIT\n",
        (7, 9),
        "jump loop: A -> B -> A",
        None,
    ),
    case(
        "jump to a missing chain",
        "*filter\n:INPUT ACCEPT [0:0]\n:KUBE-SERVICES - [0:0]\n-A INPUT -j KUBE-SERVICE\nCOMMIT\n",
        (4, 13),
        "`KUBE-SERVICE`, which does not exist",
        Some("did you mean `KUBE-SERVICES`?"),
    ),
    case(
        "duplicate chain",
        "*filter\n:X - [0:0]\n:Y - [0:0]\n:X - [0:0]\n-A X -j Y\nCOMMIT\n",
        (4, 2),
        "chain `X` already exists",
        Some("line 2"),
    ),
    case(
        "policy on a user chain",
        "*filter\n:X ACCEPT [0:0]\n-A INPUT -j X\n-A X -j DROP\nCOMMIT\n",
        (2, 4),
        "user chain `X` cannot have a policy",
        Some("`-`"),
    ),
    case(
        "DNAT in filter",
        "*filter\n-A INPUT -p tcp -j DNAT --to-destination 10.0.0.1:80\nCOMMIT\n",
        (2, 20),
        "only valid in the nat table",
        None,
    ),
    case(
        "REJECT in nat",
        "*nat\n-A PREROUTING -p tcp -j REJECT\nCOMMIT\n",
        (2, 25),
        "only valid in the filter table",
        None,
    ),
    case(
        "rule outside a table",
        ":INPUT ACCEPT [0:0]\n-A INPUT -j ACCEPT\n",
        (1, 1),
        "outside a table",
        Some("*filter"),
    ),
    case(
        "unknown table",
        "*filer\n:INPUT ACCEPT [0:0]\n-A INPUT -j ACCEPT\nCOMMIT\n",
        (1, 1),
        "unknown table `filer`",
        Some("did you mean `filter`?"),
    ),
    case(
        "unknown match",
        "*filter\n-A INPUT -p tcp -m tpc --dport 22 -j ACCEPT\nCOMMIT\n",
        (2, 20),
        "unknown match `tpc`",
        Some("did you mean `tcp`?"),
    ),
    case(
        "misspelt target",
        "*filter\n-A INPUT -p tcp -j ACCPET\nCOMMIT\n",
        (2, 20),
        "jump to chain `ACCPET`, which does not exist",
        Some("did you mean `ACCEPT`?"),
    ),
    // The same mistakes in command scripts.
    case(
        "script: unknown option",
        "iptables -A INPUT -p tcp -m tcp --dprot 22 -j ACCEPT\n",
        (1, 33),
        "unknown option `--dprot`",
        Some("did you mean `--dport`?"),
    ),
    case(
        "script: unbalanced quote",
        "iptables -N X\niptables -A X -m comment --comment 'oops -j ACCEPT\niptables -A INPUT -j X\n",
        (2, 36),
        "unbalanced single quote",
        None,
    ),
    case(
        "script: bad CIDR",
        "iptables -A INPUT -s 10.0.0.0/33 -j ACCEPT\n",
        (1, 22),
        "invalid address `10.0.0.0/33`",
        None,
    ),
    case(
        "script: jump to a missing chain",
        "iptables -N KUBE-SERVICES\niptables -A INPUT -j KUBE-SERVICE\n",
        (2, 22),
        "chain `KUBE-SERVICE`",
        Some("did you mean `KUBE-SERVICES`?"),
    ),
    case(
        "script: duplicate chain",
        "iptables -N X\niptables -N X\n",
        (2, 13),
        "chain `X` already exists",
        Some("line 1"),
    ),
    case(
        "script: policy on a user chain",
        "iptables -N X\niptables -P X DROP\n",
        (2, 13),
        "user chain `X` cannot have a policy",
        None,
    ),
    case(
        "script: unknown table",
        "iptables -t filer -A INPUT -j ACCEPT\n",
        (1, 13),
        "unknown table `filer`",
        Some("did you mean `filter`?"),
    ),
    case(
        "script: DNAT in filter",
        "iptables -A INPUT -p tcp -j DNAT --to-destination 10.0.0.1\n",
        (1, 29),
        "only valid in the nat table",
        None,
    ),
    case(
        "script: unknown match",
        "iptables -A INPUT -p tcp -m tpc --dport 22 -j ACCEPT\n",
        (1, 29),
        "unknown match `tpc`",
        Some("did you mean `tcp`?"),
    ),
    case(
        "script: line continuation at the end of the input",
        "iptables -A INPUT -j ACCEPT \\",
        (1, 29),
        "backslash at the end",
        None,
    ),
];

fn errors(text: &str) -> Vec<Diagnostic> {
    let parsed = parse_any(text, None);
    let mut all = parsed.diagnostics.clone();
    all.extend(check(&parsed.ruleset));
    all.retain(|d| d.severity == Severity::Error);
    all
}

#[test]
fn every_malformed_input_gives_exactly_one_located_error() {
    let mut failures = Vec::new();
    for c in CASES {
        let errs = errors(c.input);
        let rendered: String = errs.iter().map(|d| d.render("input", c.input)).collect();
        let ok = match errs.as_slice() {
            [d] => {
                let e = &d.error;
                (e.span.line, e.span.col) == (c.line, c.col)
                    && e.message.contains(c.message)
                    && c.help
                        .is_none_or(|h| e.help.as_deref().is_some_and(|x| x.contains(h)))
            }
            _ => false,
        };
        if !ok {
            failures.push(format!(
                "{}: want one error at {}:{} containing `{}` (help {:?}); got {}:\n{rendered}",
                c.name,
                c.line,
                c.col,
                c.message,
                c.help,
                errs.len()
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases failed:\n\n{}",
        failures.len(),
        CASES.len(),
        failures.join("\n")
    );
}

/// Reading a save file a line at a time reports the same errors, at the same places, as
/// reading it whole.
#[test]
fn line_reader_gives_the_same_diagnostics() {
    let mut compared = 0;
    for c in CASES {
        if detect_format(c.input) != Format::Save {
            continue;
        }
        let whole = parse_save(c.input, None);
        let mut p = SaveParser::new(None);
        for line in c.input.split('\n') {
            p.line(line);
        }
        let lines = p.finish();
        assert_eq!(lines.diagnostics, whole.diagnostics, "{}", c.name);
        assert_eq!(lines.ruleset, whole.ruleset, "{}", c.name);
        compared += 1;
    }
    assert!(compared > 10, "only {compared} save-format cases");
}
