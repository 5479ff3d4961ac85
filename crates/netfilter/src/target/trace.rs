//! `-j TRACE`: marks the packet for rule tracing (`xtables-monitor --trace`); non-terminating.

use crate::syntax::args::{Args, Opt};
use crate::syntax::error::ParseError;
use crate::target::TargetExt;

/// The `TRACE` target (no options).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Trace;

impl TargetExt for Trace {
    const OPTIONS: &'static [&'static str] = &[];

    fn new() -> Self {
        Trace
    }

    fn option(&mut self, _opt: Opt<'_>, _args: &mut Args<'_>) -> Result<(), ParseError> {
        Ok(())
    }

    fn print(&self, _out: &mut String) {}
}
