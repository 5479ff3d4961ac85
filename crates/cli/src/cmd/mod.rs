//! The subcommands, one module each. A module provides `Args` (a `clap::Args` struct whose doc
//! comment is the subcommand's help) and `run(Args) -> anyhow::Result<ExitCode>`; adding one is
//! one line in the list below plus its file.

use std::process::ExitCode;

/// Exit status when the input has errors.
pub(crate) const EXIT_ERRORS: u8 = 1;
/// Exit status for a usage error or an input that cannot be read.
pub(crate) const EXIT_USAGE: u8 = 2;

pub(crate) mod batch;

macro_rules! subcommands {
    ($($(#[$meta:meta])* $module:ident => $variant:ident,)*) => {
        $(pub(crate) mod $module;)*

        /// The subcommands.
        #[derive(clap::Subcommand)]
        pub(crate) enum Command {
            $($(#[$meta])* $variant($module::Args),)*
        }

        impl Command {
            /// Runs the chosen subcommand.
            pub(crate) fn run(self) -> anyhow::Result<ExitCode> {
                match self {
                    $(Command::$variant(args) => $module::run(args),)*
                }
            }
        }
    };
}

// The help text of each subcommand is the doc comment of its `Args`.
subcommands! {
    check => Check,
    fmt => Fmt,
    kube => Kube,
    /// Trace a packet through a ruleset on a host.
    trace => Trace,
    /// Trace the article's packets on the built-in example node.
    demo => Demo,
}
