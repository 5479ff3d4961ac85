//! `-m addrtype`: the routing type of the source or destination address (LOCAL, BROADCAST, …).

use crate::ext::MatchExt;
use crate::model::{Neg, Span};
use crate::syntax::args::{Args, Opt};
use crate::syntax::error::ParseError;
use crate::syntax::token::Token;

/// Address types as iptables names them, with the kernel's bit for each (1 << RTN_*), in the
/// order iptables prints them.
pub const TYPE_NAMES: [(&str, u16); 12] = [
    ("UNSPEC", 1 << 0),
    ("UNICAST", 1 << 1),
    ("LOCAL", 1 << 2),
    ("BROADCAST", 1 << 3),
    ("ANYCAST", 1 << 4),
    ("MULTICAST", 1 << 5),
    ("BLACKHOLE", 1 << 6),
    ("UNREACHABLE", 1 << 7),
    ("PROHIBIT", 1 << 8),
    ("THROW", 1 << 9),
    ("NAT", 1 << 10),
    ("XRESOLVE", 1 << 11),
];

/// A set of address types.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct AddrTypes(pub u16);

impl AddrTypes {
    /// The LOCAL type.
    pub const LOCAL: u16 = 1 << 2;
    /// The UNICAST type.
    pub const UNICAST: u16 = 1 << 1;
    /// The BROADCAST type.
    pub const BROADCAST: u16 = 1 << 3;
    /// The MULTICAST type.
    pub const MULTICAST: u16 = 1 << 5;

    fn parse(tok: &Token) -> Result<AddrTypes, ParseError> {
        let mut bits = 0;
        for part in tok.text.split(',') {
            bits |= TYPE_NAMES
                .iter()
                .find(|(n, _)| n.eq_ignore_ascii_case(part))
                .map(|(_, b)| *b)
                .ok_or_else(|| {
                    ParseError::new(tok.span, format!("unknown address type `{part}`"))
                })?;
        }
        Ok(AddrTypes(bits))
    }

    fn push(&self, out: &mut String) {
        let names: Vec<&str> = TYPE_NAMES
            .iter()
            .filter(|(_, b)| self.0 & b != 0)
            .map(|(n, _)| *n)
            .collect();
        out.push_str(&names.join(","));
    }
}

/// The `addrtype` match.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Addrtype {
    /// `--src-type`.
    pub src: Option<Neg<AddrTypes>>,
    /// `--dst-type`.
    pub dst: Option<Neg<AddrTypes>>,
    /// `--limit-iface-in`: look the address up only on the input interface.
    pub limit_iface_in: bool,
    /// `--limit-iface-out`: look the address up only on the output interface.
    pub limit_iface_out: bool,
}

impl MatchExt for Addrtype {
    const OPTIONS: &'static [&'static str] = &[
        "--src-type",
        "--dst-type",
        "--limit-iface-in",
        "--limit-iface-out",
    ];

    fn new() -> Self {
        Addrtype::default()
    }

    fn option(&mut self, mut opt: Opt<'_>, args: &mut Args<'_>) -> Result<(), ParseError> {
        match opt.name {
            "--src-type" | "--dst-type" => {
                let v = args.value_negatable(&mut opt)?;
                let t = Some(Neg {
                    negated: opt.negated,
                    value: AddrTypes::parse(v)?,
                });
                if opt.name == "--src-type" {
                    self.src = t;
                } else {
                    self.dst = t;
                }
            }
            "--limit-iface-in" => self.limit_iface_in = true,
            _ => self.limit_iface_out = true,
        }
        Ok(())
    }

    fn finish(&mut self, _args: &Args<'_>, at: Span) -> Result<(), ParseError> {
        if self.src.is_none() && self.dst.is_none() {
            return Err(ParseError::new(
                at,
                "match `addrtype` requires `--src-type` or `--dst-type`",
            ));
        }
        if self.limit_iface_in && self.limit_iface_out {
            return Err(ParseError::new(
                at,
                "`--limit-iface-in` and `--limit-iface-out` exclude each other",
            ));
        }
        Ok(())
    }

    fn print(&self, out: &mut String) {
        for (name, t) in [("--src-type", &self.src), ("--dst-type", &self.dst)] {
            if let Some(t) = t {
                if t.negated {
                    out.push_str(" !");
                }
                out.push_str(&format!(" {name} "));
                t.value.push(out);
            }
        }
        if self.limit_iface_in {
            out.push_str(" --limit-iface-in");
        }
        if self.limit_iface_out {
            out.push_str(" --limit-iface-out");
        }
    }
}

impl Addrtype {
    /// The kernel's type for an address, as `xt_addrtype` asks the local routing table:
    /// 0.0.0.0/8 and 255.255.255.255 are BROADCAST, multicast is MULTICAST, the host's own
    /// addresses (and 127.0.0.0/8) LOCAL, a connected network's broadcast address BROADCAST,
    /// everything else UNICAST. With `dev`, a local address on another device counts as
    /// UNICAST.
    pub fn type_of(host: &crate::host::Host, ip: std::net::IpAddr, dev: Option<&str>) -> u16 {
        use std::net::IpAddr;
        match ip {
            IpAddr::V4(a) => {
                if a.octets()[0] == 0 || a.is_broadcast() {
                    return AddrTypes::BROADCAST;
                }
                if a.is_multicast() {
                    return AddrTypes::MULTICAST;
                }
            }
            IpAddr::V6(a) => {
                if a.is_multicast() {
                    return AddrTypes::MULTICAST;
                }
            }
        }
        if host.is_local(ip) {
            let on = if ip.is_loopback() {
                Some("lo")
            } else {
                host.local_iface(ip).map(|i| i.name.as_str())
            };
            return match (dev, on) {
                (Some(d), Some(o)) if d != o => AddrTypes::UNICAST,
                _ => AddrTypes::LOCAL,
            };
        }
        if host.is_broadcast(ip) {
            return AddrTypes::BROADCAST;
        }
        AddrTypes::UNICAST
    }

    /// IPv6 as `xt_addrtype` tests it: an address is not of one type but has properties.
    /// UNICAST, MULTICAST and UNSPEC asked for are required of the address itself (a local
    /// address is UNICAST too); of LOCAL, ANYCAST and UNREACHABLE asked for, the route
    /// lookup must show one.
    fn matches_v6(
        host: &crate::host::Host,
        a: std::net::Ipv6Addr,
        dev: Option<&str>,
        mask: u16,
    ) -> bool {
        const UNSPEC: u16 = 1 << 0;
        const ANYCAST: u16 = 1 << 4;
        const UNREACHABLE: u16 = 1 << 7;
        let multicast = a.is_multicast();
        let unspecified = a.is_unspecified();
        if (mask & AddrTypes::MULTICAST != 0 && !multicast)
            || (mask & AddrTypes::UNICAST != 0 && (multicast || unspecified))
            || (mask & UNSPEC != 0 && !unspecified)
        {
            return false;
        }
        if mask & (AddrTypes::LOCAL | ANYCAST | UNREACHABLE) == 0 {
            return true;
        }
        let ip = std::net::IpAddr::V6(a);
        let mut got = 0;
        if Self::type_of(host, ip, dev) == AddrTypes::LOCAL {
            got |= AddrTypes::LOCAL;
        }
        if crate::route::lookup(host, ip).is_err() {
            got |= UNREACHABLE;
        }
        mask & got != 0
    }

    /// Evaluates the match against the host's addresses.
    pub fn eval(&self, cx: &crate::eval::Cx<'_>) -> crate::eval::Truth {
        let dev = if self.limit_iface_in {
            Some(cx.pkt.in_iface.as_deref().unwrap_or(""))
        } else if self.limit_iface_out {
            Some(cx.pkt.out_iface.as_deref().unwrap_or(""))
        } else {
            None
        };
        let test = |t: &Option<Neg<AddrTypes>>, ip| {
            t.as_ref().is_none_or(|t| {
                t.apply(match ip {
                    std::net::IpAddr::V6(a) => Self::matches_v6(cx.host, a, dev, t.value.0),
                    v4 => Self::type_of(cx.host, v4, dev) & t.value.0 != 0,
                })
            })
        };
        crate::eval::Truth::of(test(&self.src, cx.pkt.src) && test(&self.dst, cx.pkt.dst))
    }
}
