//! Kernel-checked print cases: every line of `testdata/print-cases.txt` is a rule restored alone
//! with `iptables-restore` and what `iptables-save` then printed (or the error iptables-restore
//! gave). Our parser and printer must print exactly the same, and must refuse what the kernel
//! refused. The file is written by `scripts/kernel-print-cases.sh`, never by this code.

use std::path::Path;

use chainwalk_netfilter::check::check;
use chainwalk_netfilter::model::Family;
use chainwalk_netfilter::syntax::{Severity, parse_save, print_save};
use libtest_mimic::{Arguments, Failed, Trial};

/// One line of the case file.
struct Case {
    family: Family,
    table: String,
    input: String,
    expected: Result<String, String>,
}

fn parse_line(line: &str) -> Option<Case> {
    let (lhs, rhs) = line.split_once(" => ")?;
    let mut parts = lhs.splitn(3, ' ');
    let family = match parts.next()? {
        "ipv4" => Family::Ipv4,
        "ipv6" => Family::Ipv6,
        _ => return None,
    };
    let table = parts.next()?.to_string();
    let input = parts.next()?.to_string();
    let expected = match rhs.strip_prefix("ERROR: ") {
        Some(msg) => Err(msg.to_string()),
        None => Ok(rhs.to_string()),
    };
    Some(Case {
        family,
        table,
        input,
        expected,
    })
}

fn run(case: &Case) -> Result<(), Failed> {
    let text = format!(
        "*{}\n{}\nCOMMIT\n",
        case.table,
        case.input.replace(" ;; ", "\n")
    );
    let parsed = parse_save(&text, Some(case.family));
    let errors: Vec<String> = parsed
        .diagnostics
        .iter()
        .chain(check(&parsed.ruleset).iter())
        .filter(|d| d.severity == Severity::Error)
        .map(|d| d.render("case", &text))
        .collect();
    match &case.expected {
        Err(msg) => {
            // A rule kept verbatim with a warning that the kernel would refuse it (a broken
            // NAT rendering, a redacted address) agrees with the kernel too.
            let refused_warning = parsed.diagnostics.iter().any(|d| {
                d.severity == Severity::Warning && d.error.message.contains("would refuse")
            });
            if errors.is_empty() && !refused_warning {
                return Err(format!(
                    "the kernel refused this rule ({msg}), but we accept it and print:\n  {}",
                    rules_of(&print_save(&parsed.ruleset))
                )
                .into());
            }
            Ok(())
        }
        Ok(expected) => {
            if !errors.is_empty() {
                return Err(format!(
                    "the kernel accepted this rule, we refuse it:\n{}",
                    errors.join("")
                )
                .into());
            }
            let ours = rules_of(&print_save(&parsed.ruleset));
            if &ours != expected {
                return Err(format!("\n  ours:   {ours}\n  kernel: {expected}").into());
            }
            Ok(())
        }
    }
}

/// The `-A` lines of a printed ruleset, joined as the case file joins them.
fn rules_of(printed: &str) -> String {
    printed
        .lines()
        .filter(|l| l.starts_with("-A "))
        .collect::<Vec<_>>()
        .join(" && ")
}

fn main() {
    let args = Arguments::from_args();
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata/print-cases.txt");
    let text = std::fs::read_to_string(&path).unwrap_or_default();
    let mut trials = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.starts_with('#') || line.trim().is_empty() {
            continue;
        }
        let name = format!("{:03} {}", i + 1, line.split(" => ").next().unwrap_or(line));
        match parse_line(line) {
            Some(case) => trials.push(Trial::test(name, move || run(&case))),
            None => trials.push(Trial::test(name, || Err("malformed case line".into()))),
        }
    }
    if trials.is_empty() {
        trials.push(Trial::test("case file present", || {
            Err("testdata/print-cases.txt is missing or empty".into())
        }));
    }
    libtest_mimic::run(&args, trials).exit();
}
