//! `-m length --length MIN[:MAX]`: the packet's layer-3 length.

use crate::ext::MatchExt;
use crate::ext::common::{push_neg, push_range, range};
use crate::model::{Neg, Span};
use crate::syntax::args::{Args, Opt};
use crate::syntax::error::ParseError;

/// The `length` match.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Length {
    /// `--length`: inclusive range of lengths in bytes.
    pub length: Option<Neg<(u32, u32)>>,
}

impl MatchExt for Length {
    const OPTIONS: &'static [&'static str] = &["--length"];

    fn new() -> Self {
        Length::default()
    }

    fn option(&mut self, mut opt: Opt<'_>, args: &mut Args<'_>) -> Result<(), ParseError> {
        let v = args.value_negatable(&mut opt)?;
        self.length = Some(Neg {
            negated: opt.negated,
            value: range(v, opt.name, 65535)?,
        });
        Ok(())
    }

    fn finish(&mut self, _args: &Args<'_>, at: Span) -> Result<(), ParseError> {
        if self.length.is_none() {
            return Err(ParseError::new(at, "match `length` requires `--length`"));
        }
        Ok(())
    }

    fn print(&self, out: &mut String) {
        if let Some(l) = &self.length {
            push_neg(out, l.negated);
            out.push_str(" --length ");
            push_range(out, l.value);
        }
    }
}

impl Length {
    /// Not decidable from what a trace knows: always uncertain, saying why.
    pub fn eval(&self, _cx: &crate::eval::Cx<'_>) -> crate::eval::Truth {
        crate::eval::Truth::Unknown("match `-m length`: the packet's length is not modelled".into())
    }
}
