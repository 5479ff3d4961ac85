//! `-j MARK`: changes the packet mark. Every form reduces to `mark = (mark & !mask) ^ value`,
//! which is how `iptables-save` prints it (`--set-xmark value/mask`).

use crate::ext::mark::MarkMask;
use crate::model::Span;
use crate::syntax::args::{Args, Opt, parse_u32};
use crate::syntax::error::ParseError;
use crate::target::TargetExt;

/// The `MARK` target, normalised to XOR-and-mask form.
#[derive(Clone, Debug, PartialEq)]
pub struct MarkTarget {
    /// The value XORed in after masking.
    pub value: u32,
    /// The bits cleared before the XOR.
    pub mask: u32,
    given: bool,
}

impl MarkTarget {
    /// The new mark for a packet whose mark is `mark`.
    pub fn apply(&self, mark: u32) -> u32 {
        (mark & !self.mask) ^ self.value
    }
}

impl TargetExt for MarkTarget {
    const OPTIONS: &'static [&'static str] = &[
        "--set-xmark",
        "--set-mark",
        "--and-mark",
        "--or-mark",
        "--xor-mark",
    ];

    fn new() -> Self {
        MarkTarget {
            value: 0,
            mask: 0,
            given: false,
        }
    }

    fn option(&mut self, opt: Opt<'_>, args: &mut Args<'_>) -> Result<(), ParseError> {
        if self.given {
            return Err(opt.error("`MARK` takes only one of its options"));
        }
        let v = args.value(&opt)?;
        let bad = || ParseError::new(v.span, format!("invalid mark `{}`", v.text));
        match opt.name {
            "--set-xmark" | "--set-mark" => {
                let mm = MarkMask::parse(v)?;
                if opt.name == "--set-xmark" {
                    self.value = mm.value;
                    self.mask = mm.mask;
                } else {
                    // (mark & !mask) | value == (mark & !(mask | value)) ^ value
                    self.value = mm.value;
                    self.mask = mm.mask | mm.value;
                }
            }
            "--and-mark" => {
                let n = parse_u32(&v.text).ok_or_else(bad)?;
                self.value = 0;
                self.mask = !n;
            }
            "--or-mark" => {
                let n = parse_u32(&v.text).ok_or_else(bad)?;
                self.value = n;
                self.mask = n;
            }
            _ => {
                let n = parse_u32(&v.text).ok_or_else(bad)?;
                self.value = n;
                self.mask = 0;
            }
        }
        self.given = true;
        Ok(())
    }

    fn finish(&mut self, _args: &Args<'_>, at: Span) -> Result<(), ParseError> {
        if !self.given {
            return Err(ParseError::new(
                at,
                "target `MARK` needs one of `--set-xmark`, `--set-mark`, `--and-mark`, `--or-mark`, `--xor-mark`",
            ));
        }
        Ok(())
    }

    fn print(&self, out: &mut String) {
        out.push_str(&format!(" --set-xmark {:#x}/{:#x}", self.value, self.mask));
    }
}
