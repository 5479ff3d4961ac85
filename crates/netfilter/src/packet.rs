//! Packets: the headers the engine follows through the hooks, and the description language
//! `chainwalk trace` reads them from (iptables' own option letters).
//!
//! ```
//! use chainwalk_netfilter::packet::{parse_packets, PacketSpec};
//!
//! let args = "-p tcp -s 192.168.49.1 --sport 40000 -d 10.100.29.239 --dport 80 -i eth0 --then reply";
//! let specs = parse_packets(&args.split(' ').collect::<Vec<_>>()).unwrap();
//! assert_eq!(specs.len(), 2);
//! assert!(matches!(specs[1], PacketSpec::Reply { .. }));
//! ```

use std::fmt;
use std::net::IpAddr;

use crate::ext::port::parse_port;
use crate::ext::tcp::FLAG_NAMES;
use crate::model::{Family, Protocol, Span};
use crate::syntax::args::parse_u32;
use crate::syntax::token::Token;

/// TCP flag bits as the TCP header holds them.
pub mod tcp_flags {
    /// FIN.
    pub const FIN: u8 = 0x01;
    /// SYN.
    pub const SYN: u8 = 0x02;
    /// RST.
    pub const RST: u8 = 0x04;
    /// PSH.
    pub const PSH: u8 = 0x08;
    /// ACK.
    pub const ACK: u8 = 0x10;
    /// URG.
    pub const URG: u8 = 0x20;
}

/// One packet's headers and metadata at some point of its path.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Packet {
    /// The layer-4 protocol.
    pub proto: Protocol,
    /// Source address.
    pub src: IpAddr,
    /// Destination address.
    pub dst: IpAddr,
    /// Source port (TCP, UDP, SCTP, UDP-Lite, DCCP).
    pub sport: Option<u16>,
    /// Destination port.
    pub dport: Option<u16>,
    /// TCP flags (TCP only).
    pub tcp_flags: Option<u8>,
    /// ICMP / ICMPv6 type and code.
    pub icmp: Option<(u8, u8)>,
    /// The input interface (`None` for a locally generated packet).
    pub in_iface: Option<String>,
    /// The output interface, once routing has chosen one.
    pub out_iface: Option<String>,
    /// The bridge port the packet came in on, when it entered through a bridge.
    pub physdev_in: Option<String>,
    /// The bridge port the packet leaves through, when known.
    pub physdev_out: Option<String>,
    /// The skb mark.
    pub mark: u32,
    /// Whether the source port was randomised by NAT (`--random-fully`): the number shown is
    /// the original one, the real one is chosen by the kernel at run time.
    pub sport_random: bool,
}

impl Packet {
    /// The address family of the packet.
    pub fn family(&self) -> Family {
        if self.dst.is_ipv4() {
            Family::Ipv4
        } else {
            Family::Ipv6
        }
    }
}

/// Whether packets of this protocol carry 16-bit ports in the first four bytes.
pub fn has_ports(proto: Protocol) -> bool {
    [
        Protocol::TCP,
        Protocol::UDP,
        Protocol::SCTP,
        Protocol::UDPLITE,
        Protocol::DCCP,
    ]
    .contains(&proto)
}

/// A packet as the user described it; unset fields are filled in by the simulator.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PacketDesc {
    /// `-p`: the protocol (`tcp` when only ports are given is an error: `-p` is required).
    pub proto: Protocol,
    /// `-s`: the source; for a local packet, routing picks it when absent.
    pub src: Option<IpAddr>,
    /// `-d`: the destination.
    pub dst: IpAddr,
    /// `--sport`.
    pub sport: Option<u16>,
    /// `--dport`.
    pub dport: Option<u16>,
    /// `--syn` / `--tcp-flags`: the flags that are set.
    pub tcp_flags: Option<u8>,
    /// `--icmp-type`: type and code (code 0 when not given).
    pub icmp: Option<(u8, u8)>,
    /// `-i`: where the packet arrives; `None` for a packet from a local process.
    pub in_iface: Option<String>,
    /// `--mark`: the skb mark it arrives with.
    pub mark: u32,
}

/// One packet of a traced sequence.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PacketSpec {
    /// A packet described in full.
    Desc(PacketDesc),
    /// The reply to the first packet, as its peer sends it back (resolved per outcome against
    /// the conntrack entry the first packet made).
    Reply {
        /// The flags of the reply; SYN,ACK for a reply to a SYN, ACK otherwise.
        tcp_flags: Option<u8>,
    },
    /// Another packet of the first packet's flow, in the original direction.
    Again {
        /// The flags; ACK when not given.
        tcp_flags: Option<u8>,
    },
}

/// A problem with a packet description.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct PacketError {
    /// What is wrong.
    pub message: String,
    /// The argument it is about (0-based index into the arguments), when there is one.
    pub arg: Option<usize>,
    /// A hint.
    pub help: Option<String>,
}

impl PacketError {
    fn at(arg: usize, message: impl Into<String>) -> PacketError {
        PacketError {
            message: message.into(),
            arg: Some(arg),
            help: None,
        }
    }

    fn general(message: impl Into<String>) -> PacketError {
        PacketError {
            message: message.into(),
            arg: None,
            help: None,
        }
    }

    fn help(mut self, help: impl Into<String>) -> PacketError {
        self.help = Some(help.into());
        self
    }
}

/// ICMP type names as iptables knows them.
pub const ICMP_TYPES: &[(&str, u8, Option<u8>)] = &[
    ("echo-reply", 0, None),
    ("pong", 0, None),
    ("destination-unreachable", 3, None),
    ("network-unreachable", 3, Some(0)),
    ("host-unreachable", 3, Some(1)),
    ("protocol-unreachable", 3, Some(2)),
    ("port-unreachable", 3, Some(3)),
    ("fragmentation-needed", 3, Some(4)),
    ("source-quench", 4, None),
    ("redirect", 5, None),
    ("echo-request", 8, None),
    ("ping", 8, None),
    ("router-advertisement", 9, None),
    ("router-solicitation", 10, None),
    ("time-exceeded", 11, None),
    ("ttl-exceeded", 11, None),
    ("parameter-problem", 12, None),
    ("timestamp-request", 13, None),
    ("timestamp-reply", 14, None),
    ("address-mask-request", 17, None),
    ("address-mask-reply", 18, None),
];

/// ICMPv6 type names as ip6tables knows them.
pub const ICMPV6_TYPES: &[(&str, u8, Option<u8>)] = &[
    ("destination-unreachable", 1, None),
    ("no-route", 1, Some(0)),
    ("port-unreachable", 1, Some(4)),
    ("packet-too-big", 2, None),
    ("time-exceeded", 3, None),
    ("parameter-problem", 4, None),
    ("echo-request", 128, None),
    ("ping", 128, None),
    ("echo-reply", 129, None),
    ("pong", 129, None),
    ("router-solicitation", 133, None),
    ("router-advertisement", 134, None),
    ("neighbour-solicitation", 135, None),
    ("neighbor-solicitation", 135, None),
    ("neighbour-advertisement", 136, None),
    ("neighbor-advertisement", 136, None),
];

/// Parses a sequence of packet descriptions separated by `--then`. Each part is either a full
/// description (`-p tcp -s A --sport P -d B --dport Q [-i IFACE] [--mark M] [--syn |
/// --tcp-flags MASK SET] [--icmp-type T[/C]]`), or `reply` (the reply to the first packet),
/// or `again` (one more packet of the first packet's flow); `reply` and `again` take
/// `--tcp-flags`/`--syn` too.
pub fn parse_packets<S: AsRef<str>>(args: &[S]) -> Result<Vec<PacketSpec>, PacketError> {
    let mut out = Vec::new();
    let mut start = 0;
    let texts: Vec<&str> = args.iter().map(|a| a.as_ref()).collect();
    if texts.is_empty() {
        return Err(PacketError::general("no packet described")
            .help("describe it as iptables would: -p tcp -s 10.0.0.1 -d 10.0.0.2 --dport 80"));
    }
    loop {
        let rest = texts.get(start..).unwrap_or_default();
        let end = rest
            .iter()
            .position(|t| *t == "--then")
            .map_or(texts.len(), |p| start + p);
        let part = rest.get(..end - start).unwrap_or_default();
        if part.is_empty() {
            return Err(PacketError::at(
                end.min(texts.len().saturating_sub(1)),
                "empty packet description around `--then`",
            ));
        }
        let spec = parse_one(part, start)?;
        if out.is_empty() && !matches!(spec, PacketSpec::Desc(_)) {
            return Err(PacketError::at(
                start,
                "the first packet must be described in full; `reply` and `again` refer to it",
            ));
        }
        out.push(spec);
        if end >= texts.len() {
            break;
        }
        start = end + 1;
    }
    Ok(out)
}

/// Parses one description given as a single string (split as `iptables-restore` splits).
pub fn parse_packet_line(line: &str) -> Result<Vec<PacketSpec>, PacketError> {
    let toks: Vec<Token> = crate::syntax::token::tokenize(line, 1, 0)
        .map_err(|_| PacketError::general("unbalanced quote or overlong argument"))?;
    let texts: Vec<&str> = toks.iter().map(|t| t.as_str()).collect();
    parse_packets(&texts)
}

fn parse_one(part: &[&str], base: usize) -> Result<PacketSpec, PacketError> {
    let mut proto: Option<(usize, Protocol)> = None;
    let mut src = None;
    let mut dst = None;
    let mut sport = None;
    let mut dport = None;
    let mut flags: Option<(usize, u8)> = None;
    let mut icmp: Option<(usize, &str)> = None;
    let mut in_iface = None;
    let mut mark = 0u32;
    let mut keyword: Option<(usize, &str)> = None;
    let mut i = 0;
    let value = |i: usize, opt: &str| -> Result<&str, PacketError> {
        part.get(i + 1)
            .copied()
            .ok_or_else(|| PacketError::at(base + i, format!("`{opt}` needs a value")))
    };
    while let Some(&opt) = part.get(i) {
        let at = base + i;
        match opt {
            "reply" | "--reply" | "again" | "--again" => {
                keyword = Some((at, opt.trim_start_matches('-')));
                i += 1;
                continue;
            }
            "-p" | "--protocol" | "--proto" => {
                let v = value(i, opt)?;
                let p = Protocol::parse(v).filter(|p| !p.is_any()).ok_or_else(|| {
                    PacketError::at(at + 1, format!("unknown protocol `{v}`"))
                        .help("use a name (tcp, udp, icmp, icmpv6, sctp) or a number 1-255")
                })?;
                proto = Some((at, p));
            }
            "-s" | "--source" | "--src" | "-d" | "--destination" | "--dst" => {
                let v = value(i, opt)?;
                let a: IpAddr = v.parse().map_err(|_| {
                    PacketError::at(at + 1, format!("`{v}` is not an IP address"))
                        .help("a packet has one address: no mask, no name")
                })?;
                if opt.starts_with("-s") || opt.starts_with("--s") {
                    src = Some((at + 1, a));
                } else {
                    dst = Some((at + 1, a));
                }
            }
            "--sport" | "--source-port" | "--dport" | "--destination-port" => {
                let v = value(i, opt)?;
                let tok = Token {
                    text: std::borrow::Cow::Borrowed(v),
                    span: Span::default(),
                    quoted: false,
                };
                let p = parse_port(&tok, v).map_err(|e| PacketError::at(at + 1, e.message))?;
                if opt.starts_with("--s") {
                    sport = Some((at, p));
                } else {
                    dport = Some((at, p));
                }
            }
            "-i" | "--in-interface" => {
                let v = value(i, opt)?;
                if crate::model::Iface::new(v).is_none() || v.ends_with('+') {
                    return Err(PacketError::at(
                        at + 1,
                        format!("`{v}` is not an interface name"),
                    ));
                }
                in_iface = Some((at + 1, v.to_string()));
            }
            "--mark" => {
                let v = value(i, opt)?;
                mark = parse_u32(v).ok_or_else(|| {
                    PacketError::at(at + 1, format!("`{v}` is not a 32-bit mark"))
                })?;
            }
            "--syn" => {
                flags = Some((at, tcp_flags::SYN));
                i += 1;
                continue;
            }
            "--tcp-flags" => {
                let mask_text = value(i, opt)?;
                let set_text = part.get(i + 2).copied().ok_or_else(|| {
                    PacketError::at(
                        at,
                        "`--tcp-flags` needs the mask and the flags that are set",
                    )
                    .help("e.g. --tcp-flags ALL SYN,ACK")
                })?;
                let mask = parse_flags(mask_text)
                    .map_err(|f| PacketError::at(at + 1, format!("unknown TCP flag `{f}`")))?;
                let set = parse_flags(set_text)
                    .map_err(|f| PacketError::at(at + 2, format!("unknown TCP flag `{f}`")))?;
                flags = Some((at, set & mask));
                i += 3;
                continue;
            }
            "--icmp-type" | "--icmpv6-type" => {
                icmp = Some((at + 1, value(i, opt)?));
            }
            other => {
                return Err(PacketError::at(at, format!("unknown option `{other}`")).help(
                    "packet options: -p, -s, -d, --sport, --dport, -i, --mark, --syn, --tcp-flags, --icmp-type, --then",
                ));
            }
        }
        i += 2;
    }
    if let Some((at, kw)) = keyword {
        if proto.is_some() || src.is_some() || dst.is_some() || in_iface.is_some() {
            return Err(PacketError::at(
                at,
                format!(
                    "`{kw}` takes its headers from the first packet; give only --syn or --tcp-flags"
                ),
            ));
        }
        let tcp_flags = flags.map(|(_, f)| f);
        return Ok(if kw == "reply" {
            PacketSpec::Reply { tcp_flags }
        } else {
            PacketSpec::Again { tcp_flags }
        });
    }
    let (_, dst) =
        dst.ok_or_else(|| PacketError::at(base, "the packet needs a destination (`-d ADDRESS`)"))?;
    let proto_v = proto.map(|(_, p)| p);
    let needs = |what: &str, at: usize, ok: bool| {
        if ok {
            Ok(())
        } else {
            Err(
                PacketError::at(at, format!("{what} needs `-p` with a protocol that has it"))
                    .help("put `-p tcp` (or udp, sctp) before it, as iptables requires"),
            )
        }
    };
    let port_ok = proto_v.is_some_and(has_ports);
    if let Some((at, _)) = sport {
        needs("`--sport`", at, port_ok)?;
    }
    if let Some((at, _)) = dport {
        needs("`--dport`", at, port_ok)?;
    }
    if let Some((at, _)) = flags {
        needs("`--syn`/`--tcp-flags`", at, proto_v == Some(Protocol::TCP))?;
    }
    let proto = proto_v.ok_or_else(|| {
        PacketError::at(
            base,
            "the packet needs a protocol (`-p tcp`, `-p udp`, `-p icmp`, …)",
        )
    })?;
    if let Some((at, s)) = src
        && s.is_ipv4() != dst.is_ipv4()
    {
        return Err(PacketError::at(
            at,
            "source and destination are of different address families",
        ));
    }
    let icmp = match icmp {
        None => None,
        Some((at, text)) => {
            let v6 = proto == Protocol::ICMPV6;
            if proto != Protocol::ICMP && !v6 {
                return Err(PacketError::at(
                    at - 1,
                    "`--icmp-type` needs `-p icmp` or `-p icmpv6`",
                ));
            }
            Some(parse_icmp(text, v6).ok_or_else(|| {
                PacketError::at(at, format!("unknown ICMP type `{text}`"))
                    .help("a name (echo-request) or TYPE[/CODE]")
            })?)
        }
    };
    if (proto == Protocol::ICMP && !dst.is_ipv4()) || (proto == Protocol::ICMPV6 && dst.is_ipv4()) {
        return Err(PacketError::at(
            base,
            format!(
                "`-p {proto}` does not go with an {} destination",
                if dst.is_ipv4() { "IPv4" } else { "IPv6" }
            ),
        ));
    }
    let icmp = match (icmp, proto) {
        (Some(i), _) => Some(i),
        (None, p) if p == Protocol::ICMP => Some((8, 0)),
        (None, p) if p == Protocol::ICMPV6 => Some((128, 0)),
        _ => None,
    };
    if has_ports(proto) && dport.is_none() {
        return Err(PacketError::at(
            base,
            format!("a {proto} packet needs a destination port (`--dport`)"),
        ));
    }
    Ok(PacketSpec::Desc(PacketDesc {
        proto,
        src: src.map(|(_, a)| a),
        dst,
        sport: sport.map(|(_, p)| p),
        dport: dport.map(|(_, p)| p),
        tcp_flags: flags.map(|(_, f)| f),
        icmp,
        in_iface: in_iface.map(|(_, i)| i),
        mark,
    }))
}

fn parse_flags(text: &str) -> Result<u8, String> {
    let mut bits = 0u8;
    for part in text.split(',') {
        bits |= match part {
            "ALL" => 0x3f,
            "NONE" => 0,
            _ => FLAG_NAMES
                .iter()
                .find(|(n, _)| *n == part)
                .map(|(_, b)| *b)
                .ok_or_else(|| part.to_string())?,
        };
    }
    Ok(bits)
}

fn parse_icmp(text: &str, v6: bool) -> Option<(u8, u8)> {
    let table = if v6 { ICMPV6_TYPES } else { ICMP_TYPES };
    if let Some((_, t, c)) = table.iter().find(|(n, _, _)| *n == text) {
        return Some((*t, c.unwrap_or(0)));
    }
    let (t, c) = match text.split_once('/') {
        Some((t, c)) => (t, Some(c)),
        None => (text, None),
    };
    let t: u8 = t.parse().ok()?;
    let c: u8 = match c {
        Some(c) => c.parse().ok()?,
        None => 0,
    };
    Some((t, c))
}

/// Writes TCP flags as iptables names them (`SYN,ACK`), `NONE` for none.
pub fn flags_to_string(bits: u8) -> String {
    if bits == 0 {
        return "NONE".into();
    }
    FLAG_NAMES
        .iter()
        .filter(|(_, b)| bits & b != 0)
        .map(|(n, _)| *n)
        .collect::<Vec<_>>()
        .join(",")
}

impl fmt::Display for Packet {
    /// `tcp 192.168.49.1:40000 → 10.100.29.239:80 [SYN] mark 0x0`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ep = |a: IpAddr, p: Option<u16>, random: bool| match (a, p) {
            (IpAddr::V6(a), Some(p)) if random => format!("[{a}]:{p}(random)"),
            (IpAddr::V6(a), Some(p)) => format!("[{a}]:{p}"),
            (a, Some(p)) if random => format!("{a}:{p}(random)"),
            (a, Some(p)) => format!("{a}:{p}"),
            (a, None) => a.to_string(),
        };
        write!(
            f,
            "{} {} → {}",
            self.proto,
            ep(self.src, self.sport, self.sport_random),
            ep(self.dst, self.dport, false)
        )?;
        if let Some(fl) = self.tcp_flags {
            write!(f, " [{}]", flags_to_string(fl))?;
        }
        if let Some((t, c)) = self.icmp {
            write!(f, " type {t} code {c}")?;
        }
        write!(f, " mark {:#x}", self.mark)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Result<Vec<PacketSpec>, PacketError> {
        parse_packet_line(s)
    }

    #[test]
    fn full_description() {
        let p = parse("-p tcp -s 192.168.49.1 --sport 40000 -d 10.100.29.239 --dport 80 -i eth0 --tcp-flags ALL SYN,ACK --mark 0x10").unwrap();
        let PacketSpec::Desc(d) = &p[0] else { panic!() };
        assert_eq!(d.proto, Protocol::TCP);
        assert_eq!(d.sport, Some(40000));
        assert_eq!(d.dport, Some(80));
        assert_eq!(d.tcp_flags, Some(tcp_flags::SYN | tcp_flags::ACK));
        assert_eq!(d.in_iface.as_deref(), Some("eth0"));
        assert_eq!(d.mark, 0x10);
        // The mask limits what is set, as in iptables.
        let p = parse("-p tcp -d 10.0.0.1 --dport 1 --tcp-flags SYN SYN,ACK").unwrap();
        let PacketSpec::Desc(d) = &p[0] else { panic!() };
        assert_eq!(d.tcp_flags, Some(tcp_flags::SYN));
    }

    #[test]
    fn icmp_and_sequences() {
        let p = parse("-p icmp -d 10.0.0.1 --icmp-type port-unreachable --then reply --then again --tcp-flags ALL ACK").unwrap();
        let PacketSpec::Desc(d) = &p[0] else { panic!() };
        assert_eq!(d.icmp, Some((3, 3)));
        assert_eq!(p[1], PacketSpec::Reply { tcp_flags: None });
        assert_eq!(
            p[2],
            PacketSpec::Again {
                tcp_flags: Some(tcp_flags::ACK)
            }
        );
        let p = parse("-p icmp -d 10.0.0.1").unwrap();
        let PacketSpec::Desc(d) = &p[0] else { panic!() };
        assert_eq!(d.icmp, Some((8, 0)));
    }

    #[test]
    fn bad_descriptions_have_one_clear_error() {
        let cases: &[(&str, &str, Option<usize>)] = &[
            ("--dport 80 -d 10.0.0.1", "`--dport` needs `-p`", Some(0)),
            (
                "-p icmp -d 10.0.0.1 --dport 80",
                "`--dport` needs `-p`",
                Some(4),
            ),
            (
                "-p tcp -d 10.0.0.300 --dport 80",
                "`10.0.0.300` is not an IP address",
                Some(3),
            ),
            (
                "-p tcp -d 10.0.0.0/8 --dport 80",
                "is not an IP address",
                Some(3),
            ),
            (
                "-p tcp -s ::1 -d 10.0.0.1 --dport 80",
                "different address families",
                Some(3),
            ),
            ("-p tcp --dport 80", "needs a destination", Some(0)),
            ("-p tcp -d 10.0.0.1", "needs a destination port", Some(0)),
            ("-p tcp -d 10.0.0.1 --dport 70000", "out of range", Some(5)),
            ("-p bogus -d 10.0.0.1", "unknown protocol `bogus`", Some(1)),
            (
                "-p tcp -d 10.0.0.1 --dport 80 --frob",
                "unknown option `--frob`",
                Some(6),
            ),
            (
                "-p tcp -d 10.0.0.1 --dport 80 -i",
                "`-i` needs a value",
                Some(6),
            ),
            (
                "-p tcp -d 10.0.0.1 --dport 80 --tcp-flags ALL SYN,BOGUS",
                "unknown TCP flag `BOGUS`",
                Some(8),
            ),
            (
                "-p udp -d 10.0.0.1 --dport 53 --syn",
                "`--syn`/`--tcp-flags` needs",
                Some(6),
            ),
            ("-p icmp -d ::1", "does not go with an IPv6", Some(0)),
            ("reply", "first packet must be described", Some(0)),
            (
                "-p tcp -d 10.0.0.1 --dport 80 --then",
                "empty packet description",
                Some(6),
            ),
            (
                "-p tcp -d 10.0.0.1 --dport 80 --then reply -d 10.0.0.2",
                "takes its headers from the first packet",
                Some(7),
            ),
            (
                "-p tcp -d 10.0.0.1 --dport 80 --mark 0xfffffffff",
                "not a 32-bit mark",
                Some(7),
            ),
        ];
        for (input, want, arg) in cases {
            let e = parse(input).expect_err(input);
            assert!(e.message.contains(want), "{input}: {}", e.message);
            assert_eq!(e.arg, *arg, "{input}: {}", e.message);
        }
    }
}
