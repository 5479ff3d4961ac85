//! `-m frag`: the IPv6 fragment header (identification, length, position flags).

use crate::ext::MatchExt;
use crate::ext::common::{number, push_neg, push_range, range};
use crate::model::{Family, Neg, Span};
use crate::syntax::args::{Args, Opt};
use crate::syntax::error::ParseError;

/// The `frag` match.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Frag {
    /// `--fragid`: inclusive identification range.
    pub id: Option<Neg<(u32, u32)>>,
    /// `--fraglen`.
    pub len: Option<Neg<u32>>,
    /// `--fragres`: reserved fields must be zero.
    pub res: bool,
    /// `--fragfirst`: the first fragment.
    pub first: bool,
    /// `--fragmore`: more fragments follow.
    pub more: bool,
    /// `--fraglast`: the last fragment.
    pub last: bool,
}

impl MatchExt for Frag {
    const OPTIONS: &'static [&'static str] = &[
        "--fragid",
        "--fraglen",
        "--fragres",
        "--fragfirst",
        "--fragmore",
        "--fraglast",
    ];

    fn new() -> Self {
        Frag::default()
    }

    fn option(&mut self, mut opt: Opt<'_>, args: &mut Args<'_>) -> Result<(), ParseError> {
        match opt.name {
            "--fragid" => {
                let v = args.value_negatable(&mut opt)?;
                self.id = Some(Neg {
                    negated: opt.negated,
                    value: range(v, opt.name, u32::MAX)?,
                });
            }
            "--fraglen" => {
                let v = args.value_negatable(&mut opt)?;
                self.len = Some(Neg {
                    negated: opt.negated,
                    value: number(v, opt.name, 0, u32::MAX)?,
                });
            }
            "--fragres" => self.res = true,
            "--fragfirst" => self.first = true,
            "--fragmore" => self.more = true,
            _ => self.last = true,
        }
        Ok(())
    }

    fn finish(&mut self, args: &Args<'_>, at: Span) -> Result<(), ParseError> {
        if args.family != Family::Ipv6 {
            return Err(ParseError::new(at, "match `frag` exists for IPv6 only")
                .with_help("in IPv4, `-f` matches second and further fragments"));
        }
        Ok(())
    }

    fn print(&self, out: &mut String) {
        if let Some(i) = &self.id {
            push_neg(out, i.negated);
            out.push_str(" --fragid ");
            push_range(out, i.value);
        }
        if let Some(l) = &self.len {
            push_neg(out, l.negated);
            out.push_str(&format!(" --fraglen {}", l.value));
        }
        for (on, name) in [
            (self.res, " --fragres"),
            (self.first, " --fragfirst"),
            (self.more, " --fragmore"),
            (self.last, " --fraglast"),
        ] {
            if on {
                out.push_str(name);
            }
        }
    }
}

impl Frag {
    /// Not decidable from what a trace knows: always uncertain, saying why.
    pub fn eval(&self, _cx: &crate::eval::Cx<'_>) -> crate::eval::Truth {
        crate::eval::Truth::Unknown(
            "match `-m frag`: the packet's IPv6 fragment header is not modelled".into(),
        )
    }
}
