//! `-j DNAT` and `-j SNAT`: rewrite the destination or source of a connection.
//!
//! Both take an address range with an optional port range; conntrack applies the translation to
//! every packet of the connection, and the inverse to its replies.

use std::fmt;
use std::net::IpAddr;

use crate::model::Span;
use crate::syntax::args::{Args, Opt};
use crate::syntax::error::ParseError;
use crate::syntax::token::Token;
use crate::target::TargetExt;

/// An address range and an optional port range, as `--to-destination`/`--to-source` take them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct NatRange {
    /// First and last address, when an address was given.
    pub addrs: Option<(IpAddr, IpAddr)>,
    /// First and last port, when ports were given.
    pub ports: Option<(u16, u16)>,
}

impl NatRange {
    /// Parses `[ADDR[-ADDR]][:PORT[-PORT]]` (IPv6 addresses in brackets when a port follows).
    pub fn parse(tok: &Token) -> Result<NatRange, ParseError> {
        let text = tok.as_str();
        let bad =
            |why: &str| ParseError::new(tok.span, format!("invalid NAT range `{text}`: {why}"));
        let (addr_part, port_part) = if let Some(rest) = text.strip_prefix('[') {
            let (a, after) = rest.split_once(']').ok_or_else(|| bad("missing `]`"))?;
            match after.strip_prefix(':') {
                Some(p) => (a, Some(p)),
                None if after.is_empty() => (a, None),
                None => return Err(bad("unexpected text after `]`")),
            }
        } else if text.bytes().filter(|b| *b == b':').count() > 1 {
            (text, None)
        } else {
            match text.split_once(':') {
                Some((a, p)) => (a, Some(p)),
                None => (text, None),
            }
        };
        let addrs = if addr_part.is_empty() {
            None
        } else {
            let ip = |s: &str| s.parse::<IpAddr>().map_err(|_| bad("not an IP address"));
            let (lo, hi) = match addr_part.split_once('-') {
                Some((lo, hi)) => (ip(lo)?, ip(hi)?),
                None => {
                    let a = ip(addr_part)?;
                    (a, a)
                }
            };
            if lo.is_ipv4() != hi.is_ipv4() || lo > hi {
                return Err(bad("the address range is empty"));
            }
            Some((lo, hi))
        };
        let ports = match port_part {
            None => None,
            Some(p) => {
                let (lo, hi) = match p.split_once('-') {
                    Some((lo, hi)) => (lo, hi),
                    None => (p, p),
                };
                let port = |s: &str| s.parse::<u16>().map_err(|_| bad("port out of range"));
                let (lo, hi) = (port(lo)?, port(hi)?);
                if lo > hi {
                    return Err(bad("the port range is empty"));
                }
                Some((lo, hi))
            }
        };
        if addrs.is_none() && ports.is_none() {
            return Err(bad("no address and no port"));
        }
        Ok(NatRange { addrs, ports })
    }
}

impl fmt::Display for NatRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let v6 = matches!(self.addrs, Some((IpAddr::V6(_), _)));
        if let Some((lo, hi)) = self.addrs {
            if v6 && self.ports.is_some() {
                write!(f, "[{lo}")?;
            } else {
                write!(f, "{lo}")?;
            }
            if hi != lo {
                write!(f, "-{hi}")?;
            }
            if v6 && self.ports.is_some() {
                write!(f, "]")?;
            }
        }
        if let Some((lo, hi)) = self.ports {
            write!(f, ":{lo}")?;
            if hi != lo {
                write!(f, "-{hi}")?;
            }
        }
        Ok(())
    }
}

/// The `DNAT` or `SNAT` target (which one is told by the [`crate::target::Target`] variant).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Nat {
    /// The range to translate to (`--to-destination` / `--to-source`).
    pub range: Option<NatRange>,
    /// `--random`: randomise the port mapping.
    pub random: bool,
    /// `--random-fully`: fully randomise the port mapping.
    pub random_fully: bool,
    /// `--persistent`: same mapping for a client across connections.
    pub persistent: bool,
    to_option: &'static str,
}

impl TargetExt for Nat {
    const OPTIONS: &'static [&'static str] = &[
        "--to-destination",
        "--to-source",
        "--random",
        "--random-fully",
        "--persistent",
    ];

    fn new() -> Self {
        Nat::default()
    }

    fn option(&mut self, opt: Opt<'_>, args: &mut Args<'_>) -> Result<(), ParseError> {
        match opt.name {
            "--to-destination" | "--to-source" => {
                let v = args.value(&opt)?;
                if self.range.is_some() {
                    return Err(ParseError::new(
                        opt.tok.span,
                        format!("`{}` given twice; the kernel takes one range", opt.name),
                    ));
                }
                self.range = Some(NatRange::parse(v)?);
                self.to_option = opt.name;
            }
            "--random" => self.random = true,
            "--random-fully" => self.random_fully = true,
            _ => self.persistent = true,
        }
        Ok(())
    }

    fn finish(&mut self, args: &Args<'_>, at: Span) -> Result<(), ParseError> {
        let ports = self.range.is_some_and(|r| r.ports.is_some());
        crate::target::require_proto_for_ports(args, at, ports)?;
        if self.range.is_none() {
            return Err(ParseError::new(
                at,
                "NAT target needs `--to-destination` or `--to-source`",
            ));
        }
        Ok(())
    }

    fn print(&self, out: &mut String) {
        if let Some(r) = &self.range {
            out.push_str(&format!(" {} {r}", self.to_option));
        }
        if self.random {
            out.push_str(" --random");
        }
        if self.random_fully {
            out.push_str(" --random-fully");
        }
        if self.persistent {
            out.push_str(" --persistent");
        }
    }
}

impl Nat {
    /// The address and port a connection is translated to, given the current ones. A range of
    /// several addresses, or a port outside a port range, is chosen by the kernel at run time:
    /// the first is taken and the third value says so.
    pub fn translate(
        &self,
        addr: IpAddr,
        port: Option<u16>,
    ) -> (IpAddr, Option<u16>, Option<String>) {
        let mut doubt = None;
        let Some(r) = &self.range else {
            return (addr, port, None);
        };
        let new_addr = match r.addrs {
            Some((lo, hi)) => {
                if lo != hi {
                    doubt = Some(format!(
                        "NAT to the range {lo}-{hi}: the kernel picks the address by hash; {lo} shown"
                    ));
                }
                lo
            }
            None => addr,
        };
        let new_port = match (r.ports, port) {
            (Some((lo, hi)), Some(p)) if lo <= p && p <= hi && lo != hi => Some(p),
            (Some((lo, hi)), Some(_)) => {
                if lo != hi {
                    doubt = Some(format!(
                        "NAT to the ports {lo}-{hi}: the kernel picks the port; {lo} shown"
                    ));
                }
                Some(lo)
            }
            (_, p) => p,
        };
        (new_addr, new_port, doubt)
    }
}
