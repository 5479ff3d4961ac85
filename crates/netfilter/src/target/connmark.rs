//! `-j CONNMARK`: sets the connection mark, or copies marks between packet and connection.

use crate::ext::mark::MarkMask;
use crate::model::Span;
use crate::syntax::args::{Args, Opt, parse_u32};
use crate::syntax::error::ParseError;
use crate::target::TargetExt;

/// What CONNMARK does.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ConnmarkOp {
    /// `ctmark = (ctmark & !mask) ^ value` (every set/and/or/xor form reduces to this).
    SetXmark {
        /// Value XORed in.
        value: u32,
        /// Bits cleared first.
        mask: u32,
    },
    /// `--save-mark`: `ctmark = (ctmark & !ctmask) | (nfmark & nfmask)`.
    Save {
        /// `--nfmask`.
        nfmask: u32,
        /// `--ctmask`.
        ctmask: u32,
    },
    /// `--restore-mark`: `nfmark = (nfmark & !nfmask) | (ctmark & ctmask)`.
    Restore {
        /// `--nfmask`.
        nfmask: u32,
        /// `--ctmask`.
        ctmask: u32,
    },
}

/// The `CONNMARK` target.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ConnmarkTarget {
    /// The operation, once one was given.
    pub op: Option<ConnmarkOp>,
    op_name: &'static str,
    nfmask: Option<u32>,
    ctmask: Option<u32>,
    mask: Option<u32>,
}

impl TargetExt for ConnmarkTarget {
    const OPTIONS: &'static [&'static str] = &[
        "--set-xmark",
        "--set-mark",
        "--and-mark",
        "--or-mark",
        "--xor-mark",
        "--save-mark",
        "--restore-mark",
        "--nfmask",
        "--ctmask",
        "--mask",
    ];

    fn new() -> Self {
        ConnmarkTarget::default()
    }

    fn option(&mut self, opt: Opt<'_>, args: &mut Args<'_>) -> Result<(), ParseError> {
        let is_op = !matches!(opt.name, "--nfmask" | "--ctmask" | "--mask");
        if is_op && self.op.is_some() {
            return Err(opt.error(format!(
                "`{}` cannot be used together with `{}`",
                opt.name, self.op_name
            )));
        }
        let num = |args: &mut Args<'_>| -> Result<u32, ParseError> {
            let v = args.value(&opt)?;
            parse_u32(&v.text)
                .ok_or_else(|| ParseError::new(v.span, format!("invalid mask `{}`", v.text)))
        };
        match opt.name {
            "--save-mark" | "--restore-mark" => {
                let (nfmask, ctmask) = (u32::MAX, u32::MAX);
                self.op = Some(if opt.name == "--save-mark" {
                    ConnmarkOp::Save { nfmask, ctmask }
                } else {
                    ConnmarkOp::Restore { nfmask, ctmask }
                });
            }
            "--nfmask" => self.nfmask = Some(num(args)?),
            "--ctmask" => self.ctmask = Some(num(args)?),
            "--mask" => self.mask = Some(num(args)?),
            "--set-xmark" | "--set-mark" => {
                let v = args.value(&opt)?;
                let mm = MarkMask::parse(v)?;
                let mask = if opt.name == "--set-mark" {
                    mm.mask | mm.value
                } else {
                    mm.mask
                };
                self.op = Some(ConnmarkOp::SetXmark {
                    value: mm.value,
                    mask,
                });
            }
            "--and-mark" => {
                self.op = Some(ConnmarkOp::SetXmark {
                    value: 0,
                    mask: !num(args)?,
                })
            }
            "--or-mark" => {
                let n = num(args)?;
                self.op = Some(ConnmarkOp::SetXmark { value: n, mask: n });
            }
            _ => {
                self.op = Some(ConnmarkOp::SetXmark {
                    value: num(args)?,
                    mask: 0,
                })
            }
        }
        if is_op {
            self.op_name = opt.name;
        }
        Ok(())
    }

    fn finish(&mut self, _args: &Args<'_>, at: Span) -> Result<(), ParseError> {
        if self.mask.is_some() && (self.nfmask.is_some() || self.ctmask.is_some()) {
            return Err(ParseError::new(
                at,
                "`--mask` cannot be used together with `--nfmask` or `--ctmask`",
            ));
        }
        let nf = self.nfmask.or(self.mask).unwrap_or(u32::MAX);
        let ct = self.ctmask.or(self.mask).unwrap_or(u32::MAX);
        match &mut self.op {
            None => Err(ParseError::new(at, "target `CONNMARK` needs an operation")
                .with_help("use --set-xmark, --set-mark, --save-mark or --restore-mark")),
            Some(ConnmarkOp::Save { nfmask, ctmask } | ConnmarkOp::Restore { nfmask, ctmask }) => {
                *nfmask = nf;
                *ctmask = ct;
                Ok(())
            }
            Some(ConnmarkOp::SetXmark { .. }) => Ok(()),
        }
    }

    fn print(&self, out: &mut String) {
        match self.op {
            Some(ConnmarkOp::SetXmark { value, mask }) => {
                out.push_str(&format!(" --set-xmark {value:#x}/{mask:#x}"));
            }
            Some(ConnmarkOp::Save { nfmask, ctmask }) => {
                out.push_str(&format!(
                    " --save-mark --nfmask {nfmask:#x} --ctmask {ctmask:#x}"
                ));
            }
            Some(ConnmarkOp::Restore { nfmask, ctmask }) => out.push_str(&format!(
                " --restore-mark --nfmask {nfmask:#x} --ctmask {ctmask:#x}"
            )),
            None => {}
        }
    }
}

impl ConnmarkTarget {
    /// What the target does to the marks: `(connection mark, packet mark)` after it runs,
    /// from the ones before, as the kernel computes them; `None` without an operation.
    pub fn apply(&self, ctmark: u32, mark: u32) -> Option<(u32, u32)> {
        match self.op? {
            ConnmarkOp::SetXmark { value, mask } => Some(((ctmark & !mask) ^ value, mark)),
            ConnmarkOp::Save { nfmask, ctmask } => {
                Some(((ctmark & !ctmask) ^ (mark & nfmask), mark))
            }
            ConnmarkOp::Restore { nfmask, ctmask } => {
                Some((ctmark, (mark & !nfmask) ^ (ctmark & ctmask)))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::eval::testkit::target4;
    use crate::target::Target;

    fn connmark(args: &str) -> super::ConnmarkTarget {
        match target4("mangle", "PREROUTING", &format!("-j CONNMARK {args}")) {
            Target::Connmark(t) => *t,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn set_forms() {
        // (ctmark & !mask) ^ value
        assert_eq!(
            connmark("--set-xmark 0x1/0xff").apply(0xf0, 7),
            Some((0x1, 7))
        );
        assert_eq!(
            connmark("--set-xmark 0x1/0xff").apply(0xff01, 7),
            Some((0xff01, 7))
        );
        // --set-mark clears the value's bits too: (0xf0 & !0x0f) ^ 0x3.
        assert_eq!(
            connmark("--set-mark 0x3/0xf").apply(0xf5, 0),
            Some((0xf3, 0))
        );
        assert_eq!(connmark("--and-mark 0xf0").apply(0x3c, 0), Some((0x30, 0)));
        assert_eq!(connmark("--or-mark 0x1").apply(0x30, 0), Some((0x31, 0)));
        assert_eq!(connmark("--xor-mark 0x11").apply(0x30, 0), Some((0x21, 0)));
    }

    #[test]
    fn save_and_restore() {
        assert_eq!(connmark("--save-mark").apply(0, 0x42), Some((0x42, 0x42)));
        assert_eq!(
            connmark("--restore-mark").apply(0x9, 0x42),
            Some((0x9, 0x9))
        );
        // Only the masked bits move: ct keeps 0xf0, takes 0x0f of the packet's 0x1234.
        assert_eq!(
            connmark("--save-mark --nfmask 0xf --ctmask 0xf").apply(0xf5, 0x1234),
            Some((0xf4, 0x1234))
        );
        assert_eq!(
            connmark("--restore-mark --mask 0xff").apply(0x1234, 0xab00),
            Some((0x1234, 0xab34))
        );
    }
}
