//! `-j DSCP`: sets the DSCP field (mangle table only).

use crate::ext::common::number;
use crate::ext::dscp::parse_class;
use crate::model::Span;
use crate::syntax::args::{Args, Opt};
use crate::syntax::error::ParseError;
use crate::target::TargetExt;

/// The `DSCP` target.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct DscpTarget {
    /// The 6-bit value, once given.
    pub dscp: Option<u8>,
}

impl TargetExt for DscpTarget {
    const OPTIONS: &'static [&'static str] = &["--set-dscp", "--set-dscp-class"];

    fn new() -> Self {
        DscpTarget::default()
    }

    fn option(&mut self, opt: Opt<'_>, args: &mut Args<'_>) -> Result<(), ParseError> {
        let v = args.value(&opt)?;
        self.dscp = Some(if opt.name == "--set-dscp" {
            number(v, opt.name, 0, 63)? as u8
        } else {
            parse_class(v)?
        });
        Ok(())
    }

    fn finish(&mut self, _args: &Args<'_>, at: Span) -> Result<(), ParseError> {
        if self.dscp.is_none() {
            return Err(ParseError::new(
                at,
                "target `DSCP` requires `--set-dscp` or `--set-dscp-class`",
            ));
        }
        Ok(())
    }

    fn print(&self, out: &mut String) {
        if let Some(d) = self.dscp {
            out.push_str(&format!(" --set-dscp 0x{d:02x}"));
        }
    }
}
