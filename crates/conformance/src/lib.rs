//! Checks chainwalk's packet-flow engine against the real Linux kernel.
//!
//! - [`generate`]: seeded random cases (a host, a ruleset, packets aimed at its rules).
//! - [`run`]: runs a case on the kernel ([`chainwalk_host::kernel::Lab`]) and turns
//!   what the kernel showed into engine-independent [`Record`]s.
//! - [`compare`]: the [`Engine`] seam, the comparison, reproducer folders.
//! - [`engine`]: chainwalk's engine behind the [`Engine`] seam.
//! - [`corpus`]: cases from real rulesets, packets aimed at their own rules.
//! - [`stats`]: the statistical check of `-m statistic --mode random` against expected
//!   probabilities.
//!
//! See `docs/conformance.md` for what the harness can and cannot observe.

pub mod case;
pub mod compare;
pub mod corpus;
pub mod engine;
mod error;
pub mod generate;
pub mod record;
pub mod run;
pub mod stats;

pub use case::{Case, CasePacket, PacketTemplate};
pub use compare::{Engine, KernelEngine, Outcome, compare, run_all, write_reproducer};
pub use engine::ChainwalkEngine;
pub use error::ConformanceError;
pub use record::{At, CtEntry, Fate, FinalHeaders, Port, Record, RuleIndex, Step, Verdict};
pub use run::{KernelRun, run_kernel};
