//! Errors of the kernel oracle.

use thiserror::Error;

/// Everything that can go wrong while asking the kernel.
#[derive(Debug, Error)]
pub enum KernelError {
    /// The process is not root; namespaces and netfilter need it.
    #[error("the kernel oracle needs root (effective uid is {0})")]
    NotRoot(u32),
    /// A tool the oracle runs is not installed.
    #[error("required tool `{0}` not found in PATH; run .ci/install-deps.sh")]
    MissingTool(String),
    /// A command ran and failed.
    #[error("`{command}` failed ({status}): {stderr}")]
    Command {
        /// The command line.
        command: String,
        /// Exit status as text.
        status: String,
        /// Its standard output.
        stdout: String,
        /// Its standard error.
        stderr: String,
    },
    /// A command did not finish in time and was killed.
    #[error("`{command}` timed out after {seconds} s")]
    CommandTimeout {
        /// The command line.
        command: String,
        /// The time limit.
        seconds: u64,
    },
    /// `iptables-restore` rejected the ruleset.
    #[error("kernel rejected the ruleset{}: {message}", line.map(|l| format!(" at line {l}")).unwrap_or_default())]
    Restore {
        /// Line of the ruleset iptables-restore names, if it names one.
        line: Option<u32>,
        /// iptables-restore's message.
        message: String,
    },
    /// A system call failed.
    #[error("{context}: {source}")]
    Io {
        /// What was being done.
        context: String,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// The host description is not usable.
    #[error("invalid host description: {0}")]
    Host(String),
    /// The packet description is not usable.
    #[error("invalid packet: {0}")]
    Packet(String),
    /// A wait for the kernel timed out.
    #[error("timed out waiting for {0}")]
    Timeout(String),
    /// A netlink message could not be read.
    #[error("netlink: {0}")]
    Netlink(String),
}

impl KernelError {
    pub(crate) fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        KernelError::Io {
            context: context.into(),
            source,
        }
    }

    pub(crate) fn last_os(context: impl Into<String>) -> Self {
        KernelError::io(context, std::io::Error::last_os_error())
    }
}
