//! `-m hl`: the IPv6 hop limit, compared with a number.

use crate::ext::MatchExt;
use crate::ext::ttl::HopTest;
use crate::model::{Family, Span};
use crate::syntax::args::{Args, Opt};
use crate::syntax::error::ParseError;

/// The `hl` match (IPv6).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Hl {
    /// The comparison.
    pub test: Option<HopTest>,
}

impl MatchExt for Hl {
    const OPTIONS: &'static [&'static str] = &["--hl-eq", "--hl-lt", "--hl-gt"];

    fn new() -> Self {
        Hl::default()
    }

    fn option(&mut self, opt: Opt<'_>, args: &mut Args<'_>) -> Result<(), ParseError> {
        HopTest::parse(&mut self.test, &opt, args)
    }

    fn finish(&mut self, args: &Args<'_>, at: Span) -> Result<(), ParseError> {
        HopTest::finish(&self.test, args, at, "hl", Family::Ipv6, "ttl")
    }

    fn print(&self, out: &mut String) {
        if let Some(t) = &self.test {
            t.push(out, "hl");
        }
    }
}

impl Hl {
    /// Not decidable from what a trace knows: always uncertain, saying why.
    pub fn eval(&self, _cx: &crate::eval::Cx<'_>) -> crate::eval::Truth {
        crate::eval::Truth::Unknown("match `-m hl`: the packet's hop limit is not modelled".into())
    }
}
