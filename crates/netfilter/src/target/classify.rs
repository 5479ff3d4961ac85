//! `-j CLASSIFY --set-class MAJOR:MINOR`: sets the packet's traffic-control class.

use crate::model::Span;
use crate::syntax::args::{Args, Opt};
use crate::syntax::error::ParseError;
use crate::target::TargetExt;

/// The `CLASSIFY` target.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Classify {
    /// The class as (major, minor), once given.
    pub class: Option<(u16, u16)>,
}

impl TargetExt for Classify {
    const OPTIONS: &'static [&'static str] = &["--set-class"];

    fn new() -> Self {
        Classify::default()
    }

    fn option(&mut self, opt: Opt<'_>, args: &mut Args<'_>) -> Result<(), ParseError> {
        let v = args.value(&opt)?;
        let bad = || {
            ParseError::new(v.span, format!("invalid class `{}`", v.text))
                .with_help("a class is MAJOR:MINOR in hex, e.g. 1:10")
        };
        let (a, b) = v.text.split_once(':').ok_or_else(bad)?;
        // iptables reads each half as a 32-bit hex number and keeps its low 16 bits.
        let hex = |s: &str| {
            u32::from_str_radix(s, 16)
                .map(|n| n as u16)
                .map_err(|_| bad())
        };
        self.class = Some((hex(a)?, hex(b)?));
        Ok(())
    }

    fn finish(&mut self, _args: &Args<'_>, at: Span) -> Result<(), ParseError> {
        if self.class.is_none() {
            return Err(ParseError::new(
                at,
                "target `CLASSIFY` requires `--set-class`",
            ));
        }
        Ok(())
    }

    fn print(&self, out: &mut String) {
        if let Some((a, b)) = self.class {
            out.push_str(&format!(" --set-class {a:04x}:{b:04x}"));
        }
    }
}
