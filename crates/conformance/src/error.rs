//! Errors of the conformance harness.

use chainwalk_host::kernel::KernelError;
use thiserror::Error;

/// Everything that can go wrong while running a case (not a disagreement: those are
/// results, see [`crate::compare::Outcome`]).
#[derive(Debug, Error)]
pub enum ConformanceError {
    /// The kernel oracle failed (no root, a tool missing, a rejected ruleset, ...).
    #[error(transparent)]
    Kernel(#[from] KernelError),
    /// A packet of a case could not be built (e.g. a reply to a packet that never left).
    #[error("packet {index}: {message}")]
    Packet {
        /// Index of the packet in the case.
        index: usize,
        /// What is wrong.
        message: String,
    },
    /// The engine under test failed.
    #[error("engine: {0}")]
    Engine(String),
    /// Writing a reproducer failed.
    #[error("{path}: {source}")]
    Io {
        /// File or folder.
        path: String,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
}
