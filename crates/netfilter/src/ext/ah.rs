//! `-m ah`: the IPsec Authentication Header: SPI, and in IPv6 also its length and reserved
//! field.

use crate::ext::MatchExt;
use crate::ext::common::{number, push_neg, push_range, range, require_proto};
use crate::model::{Family, Neg, Protocol, Span};
use crate::syntax::args::{Args, Opt};
use crate::syntax::error::ParseError;

/// The `ah` match.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Ah {
    /// `--ahspi`: inclusive SPI range.
    pub spi: Option<Neg<(u32, u32)>>,
    /// `--ahlen` (IPv6 only).
    pub len: Option<Neg<u32>>,
    /// `--ahres`: the reserved field must be zero (IPv6 only).
    pub res: bool,
}

impl MatchExt for Ah {
    const OPTIONS: &'static [&'static str] = &["--ahspi", "--ahlen", "--ahres"];

    fn new() -> Self {
        Ah::default()
    }

    fn option(&mut self, mut opt: Opt<'_>, args: &mut Args<'_>) -> Result<(), ParseError> {
        if opt.name != "--ahspi" && args.family == Family::Ipv4 {
            return Err(opt
                .error(format!("`{}` exists for IPv6 only", opt.name))
                .with_help("the IPv4 `ah` match takes only `--ahspi`"));
        }
        match opt.name {
            "--ahspi" => {
                let v = args.value_negatable(&mut opt)?;
                self.spi = Some(Neg {
                    negated: opt.negated,
                    value: range(v, opt.name, u32::MAX)?,
                });
            }
            "--ahlen" => {
                let v = args.value_negatable(&mut opt)?;
                self.len = Some(Neg {
                    negated: opt.negated,
                    value: number(v, opt.name, 0, u32::MAX)?,
                });
            }
            _ => self.res = true,
        }
        Ok(())
    }

    fn finish(&mut self, args: &Args<'_>, at: Span) -> Result<(), ParseError> {
        if args.family == Family::Ipv4 {
            return require_proto(args, at, "ah", &[Protocol(51)], "ah");
        }
        Ok(())
    }

    fn print(&self, out: &mut String) {
        if let Some(s) = &self.spi
            && (s.negated || s.value != (0, u32::MAX))
        {
            push_neg(out, s.negated);
            out.push_str(" --ahspi ");
            push_range(out, s.value);
        }
        if let Some(l) = &self.len {
            push_neg(out, l.negated);
            out.push_str(&format!(" --ahlen {}", l.value));
        }
        if self.res {
            out.push_str(" --ahres");
        }
    }
}

impl Ah {
    /// Not decidable from what a trace knows: always uncertain, saying why.
    pub fn eval(&self, _cx: &crate::eval::Cx<'_>) -> crate::eval::Truth {
        crate::eval::Truth::Unknown(
            "match `-m ah`: the packet's IPsec AH header is not modelled".into(),
        )
    }
}
