//! `-j TCPMSS`: rewrites the MSS option of TCP SYNs, to a value or to the path MTU.

use crate::ext::common::number;
use crate::model::{Family, Protocol, Span};
use crate::syntax::args::{Args, Opt};
use crate::syntax::error::ParseError;
use crate::target::TargetExt;

/// The `TCPMSS` target.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct TcpmssTarget {
    /// `--set-mss`.
    pub set_mss: Option<u16>,
    /// `--clamp-mss-to-pmtu` (takes precedence over `--set-mss`, as the kernel keeps one).
    pub clamp: bool,
}

impl TargetExt for TcpmssTarget {
    const OPTIONS: &'static [&'static str] = &["--set-mss", "--clamp-mss-to-pmtu"];

    fn new() -> Self {
        TcpmssTarget::default()
    }

    fn option(&mut self, opt: Opt<'_>, args: &mut Args<'_>) -> Result<(), ParseError> {
        if opt.name == "--clamp-mss-to-pmtu" {
            self.clamp = true;
            return Ok(());
        }
        let v = args.value(&opt)?;
        let max = if args.family == Family::Ipv4 {
            65515
        } else {
            65495
        };
        self.set_mss = Some(number(v, opt.name, 0, max)? as u16);
        Ok(())
    }

    fn finish(&mut self, args: &Args<'_>, at: Span) -> Result<(), ParseError> {
        if !self.clamp && self.set_mss.is_none() {
            return Err(ParseError::new(
                at,
                "target `TCPMSS` needs `--set-mss` or `--clamp-mss-to-pmtu`",
            ));
        }
        if args.proto != Some(Protocol::TCP) {
            return Err(ParseError::new(at, "target `TCPMSS` requires `-p tcp`")
                .with_help("the kernel refuses TCPMSS in a rule that can see other protocols"));
        }
        Ok(())
    }

    fn print(&self, out: &mut String) {
        if self.clamp {
            out.push_str(" --clamp-mss-to-pmtu");
        } else if let Some(m) = self.set_mss {
            out.push_str(&format!(" --set-mss {m}"));
        }
    }
}
