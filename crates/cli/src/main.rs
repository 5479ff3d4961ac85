//! `chainwalk`: offline iptables tracing. Each subcommand lives in its own module under
//! `cmd/`; this file only parses the arguments and dispatches.

mod cmd {
    #[path = "demo.rs"]
    pub(crate) mod demo;
    #[path = "trace.rs"]
    pub(crate) mod trace;
}

use std::process::ExitCode;

use clap::Parser;

/// Where does this packet go, and why? Offline iptables tracing for Kubernetes nodes.
#[derive(Parser)]
#[command(name = "chainwalk", version, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(clap::Subcommand)]
enum Command {
    /// Trace a packet through a ruleset on a host.
    Trace(Box<cmd::trace::Args>),
    /// Trace the article's packets on the built-in example node.
    Demo(cmd::demo::Args),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let r = match cli.command {
        Command::Trace(a) => cmd::trace::run(*a),
        Command::Demo(a) => cmd::demo::run(a),
    };
    match r {
        Ok(code) => code,
        Err(e) => {
            eprintln!("chainwalk: error: {e:#}");
            ExitCode::from(2)
        }
    }
}
