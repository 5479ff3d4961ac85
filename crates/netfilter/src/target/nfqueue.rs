//! `-j NFQUEUE`: hands the packet to a userspace program through a netlink queue.

use crate::ext::common::number;
use crate::model::Span;
use crate::syntax::args::{Args, Opt};
use crate::syntax::error::ParseError;
use crate::target::TargetExt;

/// The `NFQUEUE` target.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Nfqueue {
    /// `--queue-num` (0 by default).
    pub num: u16,
    /// `--queue-balance FIRST:LAST`.
    pub balance: Option<(u16, u16)>,
    /// `--queue-bypass`: accept the packet when no program listens.
    pub bypass: bool,
    /// `--queue-cpu-fanout`: pick the queue by CPU.
    pub cpu_fanout: bool,
    num_given: bool,
}

impl TargetExt for Nfqueue {
    const OPTIONS: &'static [&'static str] = &[
        "--queue-num",
        "--queue-balance",
        "--queue-bypass",
        "--queue-cpu-fanout",
    ];

    fn new() -> Self {
        Nfqueue::default()
    }

    fn option(&mut self, opt: Opt<'_>, args: &mut Args<'_>) -> Result<(), ParseError> {
        match opt.name {
            "--queue-num" => {
                self.num = number(args.value(&opt)?, opt.name, 0, 65535)? as u16;
                self.num_given = true;
            }
            "--queue-balance" => {
                let v = args.value(&opt)?;
                let (a, b) = v
                    .text
                    .split_once(':')
                    .ok_or_else(|| ParseError::new(v.span, "`--queue-balance` takes FIRST:LAST"))?;
                let n = |s: &str| {
                    s.parse::<u16>()
                        .map_err(|_| ParseError::new(v.span, format!("invalid queue number `{s}`")))
                };
                let (a, b) = (n(a)?, n(b)?);
                if a >= b {
                    return Err(ParseError::new(
                        v.span,
                        format!("the first queue ({a}) must be below the last ({b})"),
                    ));
                }
                self.balance = Some((a, b));
            }
            "--queue-bypass" => self.bypass = true,
            _ => self.cpu_fanout = true,
        }
        Ok(())
    }

    fn finish(&mut self, _args: &Args<'_>, at: Span) -> Result<(), ParseError> {
        if self.num_given && self.balance.is_some() {
            return Err(ParseError::new(
                at,
                "`--queue-num` cannot be used together with `--queue-balance`",
            ));
        }
        if self.cpu_fanout && self.balance.is_none() {
            return Err(ParseError::new(
                at,
                "`--queue-cpu-fanout` requires `--queue-balance`",
            ));
        }
        Ok(())
    }

    fn print(&self, out: &mut String) {
        match self.balance {
            Some((a, b)) => out.push_str(&format!(" --queue-balance {a}:{b}")),
            None => out.push_str(&format!(" --queue-num {}", self.num)),
        }
        if self.bypass {
            out.push_str(" --queue-bypass");
        }
        if self.cpu_fanout {
            out.push_str(" --queue-cpu-fanout");
        }
    }
}
