//! `chainwalk fmt FILE`: print a ruleset canonically, as `iptables-save` prints it after the
//! ruleset is loaded (without its `#` lines). Input in either format; a command script comes
//! out as the `iptables-save` text it produces. When the input has errors nothing is printed
//! on standard output: the diagnostics go to standard error and the exit status is 1, so a
//! partial ruleset is never passed on as if it were complete.

use std::process::ExitCode;

use chainwalk_netfilter::syntax::{Severity, print_save};

use crate::cmd::EXIT_ERRORS;
use crate::input::{self, FamilyArg};

/// Print a ruleset (iptables-save output or an iptables command script) canonically, as
/// iptables-save prints it after loading.
#[derive(clap::Args)]
pub(crate) struct Args {
    /// The file to format; `-` reads standard input.
    #[arg(value_name = "FILE")]
    file: String,
    /// Address family of input that does not name one (no iptables-save header).
    #[arg(long, value_enum)]
    family: Option<FamilyArg>,
}

/// Runs the formatter.
pub(crate) fn run(args: Args) -> anyhow::Result<ExitCode> {
    let input = input::read(&args.file, args.family)?;
    let errors: Vec<_> = input
        .parsed
        .diagnostics
        .iter()
        .filter(|d| d.severity == Severity::Error)
        .collect();
    if !errors.is_empty() {
        for d in &errors {
            eprint!("{}", d.render(&input.name, &input.text));
        }
        eprintln!(
            "{}: {} {}; nothing printed",
            input.name,
            errors.len(),
            if errors.len() == 1 { "error" } else { "errors" }
        );
        return Ok(ExitCode::from(EXIT_ERRORS));
    }
    for d in &input.notes {
        eprint!("{}", d.render(&input.name, &input.text));
    }
    print!("{}", print_save(&input.parsed.ruleset));
    Ok(ExitCode::SUCCESS)
}
