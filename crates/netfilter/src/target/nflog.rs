//! `-j NFLOG`: sends the packet to a netlink log group (ulogd, tcpdump `nflog:N`); the packet
//! goes on.

use crate::ext::common::number;
use crate::syntax::args::{Args, Opt};
use crate::syntax::error::ParseError;
use crate::syntax::token::push_save_string;
use crate::target::TargetExt;

/// The `NFLOG` target.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Nflog {
    /// `--nflog-group` (0 by default, not printed).
    pub group: u16,
    /// `--nflog-prefix`.
    pub prefix: Option<String>,
    /// `--nflog-size`: bytes of the packet to copy.
    pub size: Option<u32>,
    /// `--nflog-threshold`: packets queued before sending (0 is not printed).
    pub threshold: u16,
}

impl TargetExt for Nflog {
    const OPTIONS: &'static [&'static str] = &[
        "--nflog-group",
        "--nflog-prefix",
        "--nflog-range",
        "--nflog-size",
        "--nflog-threshold",
    ];

    fn new() -> Self {
        Nflog::default()
    }

    fn option(&mut self, opt: Opt<'_>, args: &mut Args<'_>) -> Result<(), ParseError> {
        let v = args.value(&opt)?;
        match opt.name {
            "--nflog-group" => self.group = number(v, opt.name, 0, 65535)? as u16,
            "--nflog-prefix" => {
                if v.text.len() > 63 {
                    return Err(ParseError::new(
                        v.span,
                        "the NFLOG prefix is at most 63 bytes",
                    ));
                }
                self.prefix = Some(v.text.to_string());
            }
            // Deprecated and ignored by iptables-nft: read, not kept.
            "--nflog-range" => {
                number(v, opt.name, 0, u32::MAX)?;
            }
            "--nflog-size" => self.size = Some(number(v, opt.name, 0, u32::MAX)?),
            _ => self.threshold = number(v, opt.name, 0, 65535)? as u16,
        }
        Ok(())
    }

    fn print(&self, out: &mut String) {
        if let Some(p) = &self.prefix {
            out.push_str(" --nflog-prefix ");
            push_save_string(out, p);
        }
        if self.group != 0 {
            out.push_str(&format!(" --nflog-group {}", self.group));
        }
        if let Some(s) = self.size {
            out.push_str(&format!(" --nflog-size {s}"));
        }
        if self.threshold != 0 {
            out.push_str(&format!(" --nflog-threshold {}", self.threshold));
        }
    }
}
