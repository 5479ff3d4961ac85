//! `-m esp --espspi SPI[:SPI]`: the SPI of IPsec ESP packets.

use crate::ext::MatchExt;
use crate::ext::common::{push_neg, push_range, range, require_proto};
use crate::model::{Neg, Protocol, Span};
use crate::syntax::args::{Args, Opt};
use crate::syntax::error::ParseError;

/// The `esp` match.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Esp {
    /// `--espspi`: inclusive SPI range; every SPI when absent.
    pub spi: Option<Neg<(u32, u32)>>,
}

impl MatchExt for Esp {
    const OPTIONS: &'static [&'static str] = &["--espspi"];

    fn new() -> Self {
        Esp::default()
    }

    fn option(&mut self, mut opt: Opt<'_>, args: &mut Args<'_>) -> Result<(), ParseError> {
        let v = args.value_negatable(&mut opt)?;
        self.spi = Some(Neg {
            negated: opt.negated,
            value: range(v, opt.name, u32::MAX)?,
        });
        Ok(())
    }

    fn finish(&mut self, args: &Args<'_>, at: Span) -> Result<(), ParseError> {
        require_proto(args, at, "esp", &[Protocol(50)], "esp")
    }

    fn print(&self, out: &mut String) {
        if let Some(s) = &self.spi
            && (s.negated || s.value != (0, u32::MAX))
        {
            push_neg(out, s.negated);
            out.push_str(" --espspi ");
            push_range(out, s.value);
        }
    }
}

impl Esp {
    /// Not decidable from what a trace knows: always uncertain, saying why.
    pub fn eval(&self, _cx: &crate::eval::Cx<'_>) -> crate::eval::Truth {
        crate::eval::Truth::Unknown(
            "match `-m esp`: the packet's IPsec ESP header is not modelled".into(),
        )
    }
}
