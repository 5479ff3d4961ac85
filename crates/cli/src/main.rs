//! `chainwalk`: read, check and format iptables rulesets. Each subcommand lives in its own
//! module under [`cmd`]; this file only parses the arguments and dispatches.

mod cmd;
mod input;

use std::process::ExitCode;

use clap::Parser;

/// Where does this packet go, and why? Offline iptables tracing for Kubernetes nodes.
#[derive(Parser)]
#[command(name = "chainwalk", version, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: cmd::Command,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command.run() {
        Ok(code) => code,
        Err(e) => {
            eprintln!("chainwalk: error: {e:#}");
            ExitCode::from(cmd::EXIT_USAGE)
        }
    }
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory as _;

    /// clap's own consistency checks over every subcommand and flag.
    #[test]
    fn cli_definition_is_consistent() {
        super::Cli::command().debug_assert();
    }
}
