//! `-j TPROXY`: delivers the packet to a local socket without changing its destination
//! (mangle PREROUTING only).

use std::net::IpAddr;

use crate::ext::common::{ip_of_family, number};
use crate::ext::mark::MarkMask;
use crate::model::{Family, Protocol, Span};
use crate::syntax::args::{Args, Opt};
use crate::syntax::error::ParseError;
use crate::target::TargetExt;

/// The `TPROXY` target.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Tproxy {
    /// `--on-port`.
    pub port: Option<u16>,
    /// `--on-ip` (the unspecified address when absent).
    pub ip: Option<IpAddr>,
    /// `--tproxy-mark VALUE[/MASK]` (0/0 when absent).
    pub mark: Option<MarkMask>,
}

impl TargetExt for Tproxy {
    const OPTIONS: &'static [&'static str] = &["--on-port", "--on-ip", "--tproxy-mark"];

    fn new() -> Self {
        Tproxy::default()
    }

    fn option(&mut self, opt: Opt<'_>, args: &mut Args<'_>) -> Result<(), ParseError> {
        let v = args.value(&opt)?;
        match opt.name {
            "--on-port" => self.port = Some(number(v, opt.name, 0, 65535)? as u16),
            "--on-ip" => self.ip = Some(ip_of_family(v, &v.text, args.family)?),
            _ => self.mark = Some(MarkMask::parse(v)?),
        }
        Ok(())
    }

    fn finish(&mut self, args: &Args<'_>, at: Span) -> Result<(), ParseError> {
        if self.port.is_none() {
            return Err(ParseError::new(at, "target `TPROXY` requires `--on-port`"));
        }
        if !matches!(args.proto, Some(Protocol::TCP | Protocol::UDP)) {
            return Err(ParseError::new(
                at,
                "target `TPROXY` requires `-p tcp` or `-p udp`",
            ));
        }
        if self.ip.is_none() {
            self.ip = Some(match args.family {
                Family::Ipv4 => IpAddr::from([0u8; 4]),
                Family::Ipv6 => IpAddr::from([0u8; 16]),
            });
        }
        Ok(())
    }

    fn print(&self, out: &mut String) {
        if let Some(p) = self.port {
            out.push_str(&format!(" --on-port {p}"));
        }
        if let Some(ip) = self.ip {
            out.push_str(&format!(" --on-ip {ip}"));
        }
        let m = self.mark.unwrap_or(MarkMask { value: 0, mask: 0 });
        out.push_str(&format!(" --tproxy-mark {:#x}/{:#x}", m.value, m.mask));
    }
}
