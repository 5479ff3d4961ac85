//! `chainwalk check FILE...`: parse each file, run the whole-ruleset checks, and report every
//! error and warning at its line and column.
//!
//! Text output (the default) renders each diagnostic with its source line and a caret on
//! standard error, then prints one summary line on standard output. `--format json` prints one
//! JSON document on standard output instead (schema `chainwalk/check/v1`). The exit status is
//! 0 when no file has an error, 1 when one does, 2 when a file cannot be read. Bytes that are
//! not UTF-8 are read as U+FFFD and reported as a warning.

use std::collections::HashMap;
use std::process::ExitCode;

use chainwalk_netfilter::check::check;
use chainwalk_netfilter::syntax::{Diagnostic, Severity};
use serde::Serialize;

use crate::cmd::EXIT_ERRORS;
use crate::input::{self, FamilyArg};

/// Identical warnings shown in text output before the rest are only counted.
const SAME_WARNING_SHOWN: usize = 3;

/// Check rulesets (iptables-save output or iptables command scripts, told apart automatically)
/// for what iptables or the kernel would refuse.
#[derive(clap::Args)]
pub(crate) struct Args {
    /// Files to check; `-` reads standard input.
    #[arg(required = true, value_name = "FILE")]
    files: Vec<String>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = OutputFormat::Text)]
    format: OutputFormat,
    /// Address family of input that does not name one (no iptables-save header).
    #[arg(long, value_enum)]
    family: Option<FamilyArg>,
}

/// How to report.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
enum OutputFormat {
    /// Rendered diagnostics on standard error, a summary line on standard output.
    Text,
    /// One JSON document on standard output.
    Json,
}

/// The JSON document.
#[derive(Serialize)]
struct Report {
    schema: &'static str,
    files: Vec<FileReport>,
}

#[derive(Serialize)]
struct FileReport {
    file: String,
    errors: usize,
    warnings: usize,
    diagnostics: Vec<JsonDiagnostic>,
}

#[derive(Serialize)]
struct JsonDiagnostic {
    severity: &'static str,
    line: u32,
    column: u32,
    message: String,
    help: Option<String>,
}

/// Everything said about one file: parse diagnostics and check findings, in input order.
fn diagnose(input: &input::Input) -> Vec<Diagnostic> {
    let mut all = input.notes.clone();
    all.extend(input.parsed.diagnostics.iter().cloned());
    all.extend(check(&input.parsed.ruleset));
    all.sort_by_key(|d| (d.error.span.line, d.error.span.col));
    all
}

fn count(diags: &[Diagnostic], severity: Severity) -> usize {
    diags.iter().filter(|d| d.severity == severity).count()
}

/// Runs the check.
pub(crate) fn run(args: Args) -> anyhow::Result<ExitCode> {
    input::check_stdin_once(&args.files)?;
    let mut inputs = Vec::new();
    for path in &args.files {
        inputs.push(input::read(path, args.family)?);
    }
    let results: Vec<(input::Input, Vec<Diagnostic>)> = inputs
        .into_iter()
        .map(|i| {
            let d = diagnose(&i);
            (i, d)
        })
        .collect();
    let errors: usize = results
        .iter()
        .map(|(_, d)| count(d, Severity::Error))
        .sum();
    let warnings: usize = results
        .iter()
        .map(|(_, d)| count(d, Severity::Warning))
        .sum();
    match args.format {
        OutputFormat::Json => print_json(&results)?,
        OutputFormat::Text => print_text(&results, errors, warnings),
    }
    Ok(if errors > 0 {
        ExitCode::from(EXIT_ERRORS)
    } else {
        ExitCode::SUCCESS
    })
}

fn print_text(results: &[(input::Input, Vec<Diagnostic>)], errors: usize, warnings: usize) {
    for (input, diags) in results {
        let mut seen: HashMap<&str, usize> = HashMap::new();
        for d in diags {
            if d.severity == Severity::Warning {
                let n = seen.entry(d.error.message.as_str()).or_default();
                *n += 1;
                if *n > SAME_WARNING_SHOWN {
                    continue;
                }
            }
            eprint!("{}", d.render(&input.name, &input.text));
        }
        let mut hidden: Vec<(&str, usize)> = seen
            .into_iter()
            .filter(|(_, n)| *n > SAME_WARNING_SHOWN)
            .collect();
        hidden.sort();
        for (message, n) in hidden {
            eprintln!(
                "{}: note: {} more warnings like `{message}`",
                input.name,
                n - SAME_WARNING_SHOWN
            );
        }
    }
    let files = results.len();
    let verdict = if errors > 0 { "FAILED" } else { "ok" };
    println!(
        "{verdict}: {files} {}, {errors} {}, {warnings} {}",
        plural(files, "file", "files"),
        plural(errors, "error", "errors"),
        plural(warnings, "warning", "warnings"),
    );
}

fn plural<'a>(n: usize, one: &'a str, many: &'a str) -> &'a str {
    if n == 1 { one } else { many }
}

fn print_json(results: &[(input::Input, Vec<Diagnostic>)]) -> anyhow::Result<()> {
    let report = Report {
        schema: "chainwalk/check/v1",
        files: results
            .iter()
            .map(|(input, diags)| FileReport {
                file: input.name.clone(),
                errors: count(diags, Severity::Error),
                warnings: count(diags, Severity::Warning),
                diagnostics: diags
                    .iter()
                    .map(|d| JsonDiagnostic {
                        severity: match d.severity {
                            Severity::Error => "error",
                            Severity::Warning => "warning",
                        },
                        line: d.error.span.line,
                        column: d.error.span.col,
                        message: d.error.message.clone(),
                        help: d.error.help.clone(),
                    })
                    .collect(),
            })
            .collect(),
    };
    println!("{}", serde_json::to_string_pretty(&report)?);
    Ok(())
}
