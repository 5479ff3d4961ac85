//! `-m connlimit`: the number of tracked connections from (or to) the packet's address block.

use crate::ext::MatchExt;
use crate::ext::common::number;
use crate::model::{Family, Span};
use crate::syntax::args::{Args, Opt};
use crate::syntax::error::ParseError;

/// The `connlimit` match.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Connlimit {
    /// The connection count limit.
    pub limit: u32,
    /// `--connlimit-above` (true) or `--connlimit-upto` (false).
    pub above: bool,
    /// `--connlimit-mask` prefix length; `None` until finished (then the family's full length).
    pub mask: Option<u8>,
    /// `--connlimit-daddr` (group by destination) instead of the default `--connlimit-saddr`.
    pub daddr: bool,
    given: bool,
}

impl MatchExt for Connlimit {
    const OPTIONS: &'static [&'static str] = &[
        "--connlimit-upto",
        "--connlimit-above",
        "--connlimit-mask",
        "--connlimit-saddr",
        "--connlimit-daddr",
    ];

    fn new() -> Self {
        Connlimit::default()
    }

    fn option(&mut self, opt: Opt<'_>, args: &mut Args<'_>) -> Result<(), ParseError> {
        match opt.name {
            "--connlimit-upto" | "--connlimit-above" => {
                let v = args.value(&opt)?;
                self.limit = number(v, opt.name, 0, u32::MAX)?;
                // `! --connlimit-above N` is `--connlimit-upto N`, and the other way round.
                self.above = (opt.name == "--connlimit-above") != opt.negated;
                self.given = true;
            }
            "--connlimit-mask" => {
                crate::ext::common::no_negation(&opt)?;
                let max = if args.family == Family::Ipv4 { 32 } else { 128 };
                self.mask = Some(number(args.value(&opt)?, opt.name, 0, max)? as u8);
            }
            "--connlimit-saddr" => self.daddr = false,
            _ => self.daddr = true,
        }
        Ok(())
    }

    fn finish(&mut self, args: &Args<'_>, at: Span) -> Result<(), ParseError> {
        if !self.given {
            return Err(ParseError::new(
                at,
                "match `connlimit` needs `--connlimit-upto` or `--connlimit-above`",
            ));
        }
        if self.mask.is_none() {
            self.mask = Some(if args.family == Family::Ipv4 { 32 } else { 128 });
        }
        Ok(())
    }

    fn print(&self, out: &mut String) {
        let kind = if self.above { "above" } else { "upto" };
        out.push_str(&format!(" --connlimit-{kind} {}", self.limit));
        if let Some(m) = self.mask {
            out.push_str(&format!(" --connlimit-mask {m}"));
        }
        out.push_str(if self.daddr {
            " --connlimit-daddr"
        } else {
            " --connlimit-saddr"
        });
    }
}

impl Connlimit {
    /// Not decidable from what a trace knows: always uncertain, saying why.
    pub fn eval(&self, _cx: &crate::eval::Cx<'_>) -> crate::eval::Truth {
        crate::eval::Truth::Unknown(
            "match `-m connlimit`: it depends on how many other connections the host tracks".into(),
        )
    }
}
