//! `-m tcpmss --mss MIN[:MAX]`: the MSS option of TCP SYN segments.

use crate::ext::MatchExt;
use crate::ext::common::{push_neg, push_range, range, require_proto};
use crate::model::{Neg, Protocol, Span};
use crate::syntax::args::{Args, Opt};
use crate::syntax::error::ParseError;

/// The `tcpmss` match.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct TcpmssMatch {
    /// `--mss`: inclusive range.
    pub mss: Option<Neg<(u32, u32)>>,
}

impl MatchExt for TcpmssMatch {
    const OPTIONS: &'static [&'static str] = &["--mss"];

    fn new() -> Self {
        TcpmssMatch::default()
    }

    fn option(&mut self, mut opt: Opt<'_>, args: &mut Args<'_>) -> Result<(), ParseError> {
        let v = args.value_negatable(&mut opt)?;
        self.mss = Some(Neg {
            negated: opt.negated,
            value: range(v, opt.name, 65535)?,
        });
        Ok(())
    }

    fn finish(&mut self, args: &Args<'_>, at: Span) -> Result<(), ParseError> {
        if self.mss.is_none() {
            return Err(ParseError::new(at, "match `tcpmss` requires `--mss`"));
        }
        require_proto(args, at, "tcpmss", &[Protocol::TCP], "tcp")
    }

    fn print(&self, out: &mut String) {
        if let Some(m) = &self.mss {
            push_neg(out, m.negated);
            out.push_str(" --mss ");
            push_range(out, m.value);
        }
    }
}

impl TcpmssMatch {
    /// Not decidable from what a trace knows: always uncertain, saying why.
    pub fn eval(&self, _cx: &crate::eval::Cx<'_>) -> crate::eval::Truth {
        crate::eval::Truth::Unknown(
            "match `-m tcpmss`: the MSS option of the packet is not modelled".into(),
        )
    }
}
