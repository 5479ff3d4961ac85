//! `-j CHECKSUM --checksum-fill`: computes a missing layer-4 checksum (mangle table only).

use crate::model::Span;
use crate::syntax::args::{Args, Opt};
use crate::syntax::error::ParseError;
use crate::target::TargetExt;

/// The `CHECKSUM` target.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Checksum {
    /// `--checksum-fill`.
    pub fill: bool,
}

impl TargetExt for Checksum {
    const OPTIONS: &'static [&'static str] = &["--checksum-fill"];

    fn new() -> Self {
        Checksum::default()
    }

    fn option(&mut self, _opt: Opt<'_>, _args: &mut Args<'_>) -> Result<(), ParseError> {
        self.fill = true;
        Ok(())
    }

    fn finish(&mut self, _args: &Args<'_>, at: Span) -> Result<(), ParseError> {
        if !self.fill {
            return Err(ParseError::new(
                at,
                "target `CHECKSUM` requires `--checksum-fill`",
            ));
        }
        Ok(())
    }

    fn print(&self, out: &mut String) {
        if self.fill {
            out.push_str(" --checksum-fill");
        }
    }
}
