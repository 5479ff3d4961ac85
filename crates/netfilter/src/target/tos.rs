//! `-j TOS`: rewrites the IPv4 TOS byte (IPv6 traffic class): `tos = (tos & !mask) ^ value`.

use crate::ext::tos::parse_tos;
use crate::model::Span;
use crate::syntax::args::{Args, Opt, parse_u32};
use crate::syntax::error::ParseError;
use crate::target::TargetExt;

/// The `TOS` target, in XOR-and-mask form.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct TosTarget {
    /// Value XORed in.
    pub value: u8,
    /// Bits cleared first.
    pub mask: u8,
    given: bool,
}

impl TargetExt for TosTarget {
    const OPTIONS: &'static [&'static str] = &["--set-tos", "--and-tos", "--or-tos", "--xor-tos"];

    fn new() -> Self {
        TosTarget::default()
    }

    fn option(&mut self, opt: Opt<'_>, args: &mut Args<'_>) -> Result<(), ParseError> {
        let v = args.value(&opt)?;
        let byte = || {
            parse_u32(&v.text)
                .filter(|n| *n <= 255)
                .map(|n| n as u8)
                .ok_or_else(|| ParseError::new(v.span, format!("invalid TOS value `{}`", v.text)))
        };
        let (value, mask) = match opt.name {
            "--set-tos" => parse_tos(v)?,
            "--and-tos" => (0, !byte()?),
            "--or-tos" => {
                let n = byte()?;
                (n, n)
            }
            _ => (byte()?, 0),
        };
        self.value = value;
        self.mask = mask;
        self.given = true;
        Ok(())
    }

    fn finish(&mut self, _args: &Args<'_>, at: Span) -> Result<(), ParseError> {
        if !self.given {
            return Err(ParseError::new(
                at,
                "target `TOS` needs `--set-tos` or a bit operation",
            ));
        }
        Ok(())
    }

    fn print(&self, out: &mut String) {
        out.push_str(&format!(
            " --set-tos 0x{:02x}/0x{:02x}",
            self.value, self.mask
        ));
    }
}
