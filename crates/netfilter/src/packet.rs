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
use crate::model::{Family, IfName, Protocol, Span};
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
    pub in_iface: Option<IfName>,
    /// The output interface, once routing has chosen one.
    pub out_iface: Option<IfName>,
    /// The bridge port the packet came in on, when it entered through a bridge.
    pub physdev_in: Option<IfName>,
    /// The bridge port the packet leaves through, when known.
    pub physdev_out: Option<IfName>,
    /// The skb mark.
    pub mark: u32,
    /// Whether the source port was randomised by NAT (`--random-fully`): the number shown is
    /// the original one, the real one is chosen by the kernel at run time.
    pub sport_random: bool,
    /// The header an ICMP or ICMPv6 error quotes: the packet it answers, as that packet
    /// looked when it was answered (conntrack relates the error to that packet's connection).
    pub quoted: Option<crate::conntrack::Tuple>,
    /// The local socket a locally generated packet was sent from (`None`: not known). Packets
    /// that came in on an interface have no local socket whatever this says.
    pub sender: Option<Sender>,
}

/// The socket a locally generated packet leaves from, as `-m owner` sees it.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Sender {
    /// No socket: the kernel built the packet without one.
    NoSocket,
    /// A kernel socket: it exists but has no file, so no owner (the socket the kernel sends
    /// its own TCP resets, ICMP errors and echo replies from).
    Kernel,
    /// A process's socket, owned by the file system user and group ids of the process that
    /// opened it; each is `None` when not known.
    Process {
        /// The user id.
        uid: Option<u32>,
        /// The group id.
        gid: Option<u32>,
        /// The supplementary groups (`--suppl-groups`).
        groups: Option<Vec<u32>>,
    },
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
    pub in_iface: Option<IfName>,
    /// `--mark`: the skb mark it arrives with.
    pub mark: u32,
    /// `--quote`: for an ICMP or ICMPv6 error, the header of the packet it answers.
    pub quoted: Option<crate::conntrack::Tuple>,
    /// `--uid`/`--gid`/`--groups`/`--socket`: the local socket it is sent from (local packets
    /// only; `None`: not known).
    pub sender: Option<Sender>,
    /// `--time`: when it passes, in nanoseconds since the ruleset was loaded (`None`: right
    /// after the packet before it).
    pub time: Option<u64>,
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
        /// `--time` (see [`PacketDesc::time`]).
        time: Option<u64>,
    },
    /// Another packet of the first packet's flow, in the original direction.
    Again {
        /// The flags; ACK when not given.
        tcp_flags: Option<u8>,
        /// `--time` (see [`PacketDesc::time`]).
        time: Option<u64>,
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
/// --tcp-flags MASK SET] [--icmp-type T[/C]] [--uid U] [--gid G] [--groups G,..] [--socket
/// none|kernel] [--time SECONDS]`), or `reply` (the reply to the first packet), or `again`
/// (one more packet of the first packet's flow); `reply` and `again` take
/// `--tcp-flags`/`--syn` and `--time` too. `--uid`, `--gid` and `--groups` describe the
/// socket of the local process that sends the packet (`-m owner`), `--socket` a packet sent
/// from no socket or from a kernel socket; `--time` says when the packet passes, in seconds
/// since the ruleset was loaded (`-m limit`).
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
    let mut quoted: Option<(usize, crate::conntrack::Tuple)> = None;
    let mut time: Option<u64> = None;
    let mut owner: Option<(usize, Owner)> = None;
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
                let name = IfName::new(v)
                    .filter(|_| !v.ends_with('+'))
                    .ok_or_else(|| {
                        PacketError::at(at + 1, format!("`{v}` is not an interface name"))
                    })?;
                in_iface = Some((at + 1, name));
            }
            "--mark" => {
                let v = value(i, opt)?;
                mark = parse_u32(v).ok_or_else(|| {
                    PacketError::at(at + 1, format!("`{v}` is not a 32-bit mark"))
                })?;
            }
            "--time" => {
                let v = value(i, opt)?;
                time = Some(parse_seconds(v).ok_or_else(|| {
                    PacketError::at(at + 1, format!("`{v}` is not a time in seconds"))
                        .help("seconds since the ruleset was loaded, e.g. 0, 2 or 1.25")
                })?);
            }
            "--uid" | "--gid" | "--groups" | "--socket" => {
                let v = value(i, opt)?;
                let o = owner.get_or_insert((at, Owner::default()));
                let id = |t: &str| {
                    t.parse::<u32>()
                        .map_err(|_| PacketError::at(at + 1, format!("`{t}` is not a numeric id")))
                };
                match opt {
                    "--uid" => o.1.uid = Some(id(v)?),
                    "--gid" => o.1.gid = Some(id(v)?),
                    "--groups" => {
                        let mut g = Vec::new();
                        for t in v.split(',').filter(|t| !t.is_empty()) {
                            g.push(id(t)?);
                        }
                        o.1.groups = Some(g);
                    }
                    _ => {
                        o.1.socket = Some(match v {
                            "none" => Sender::NoSocket,
                            "kernel" => Sender::Kernel,
                            _ => {
                                return Err(PacketError::at(
                                    at + 1,
                                    format!("`--socket {v}`: the socket is `none` or `kernel`"),
                                )
                                .help("a process's socket is given by --uid and --gid"));
                            }
                        })
                    }
                }
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
            "--quote" => {
                let v = value(i, opt)?;
                quoted = Some((at + 1, parse_quoted(v).map_err(|m| PacketError::at(at + 1, m).help("the packet an ICMP error answers: PROTO,SRC,SPORT,DST,DPORT (PROTO,SRC,DST without ports), e.g. udp,10.0.0.9,5000,10.0.0.2,53"))?));
            }
            other => {
                return Err(PacketError::at(at, format!("unknown option `{other}`")).help(
                    "packet options: -p, -s, -d, --sport, --dport, -i, --mark, --syn, --tcp-flags, --icmp-type, --quote, --uid, --gid, --groups, --socket, --time, --then",
                ));
            }
        }
        i += 2;
    }
    if let Some((at, kw)) = keyword {
        if proto.is_some()
            || src.is_some()
            || dst.is_some()
            || in_iface.is_some()
            || quoted.is_some()
            || owner.is_some()
        {
            return Err(PacketError::at(
                at,
                format!(
                    "`{kw}` takes its headers from the first packet (and its socket); give only --syn, --tcp-flags or --time"
                ),
            ));
        }
        let tcp_flags = flags.map(|(_, f)| f);
        return Ok(if kw == "reply" {
            PacketSpec::Reply { tcp_flags, time }
        } else {
            PacketSpec::Again { tcp_flags, time }
        });
    }
    let sender = match owner {
        None => None,
        Some((at, _)) if in_iface.is_some() => {
            return Err(PacketError::at(
                at,
                "a packet arriving on an interface (`-i`) has no local socket",
            )
            .help("--uid, --gid, --groups and --socket describe a local process's packet"));
        }
        Some((at, o)) => Some(o.sender().map_err(|m| PacketError::at(at, m))?),
    };
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
    if let Some((at, q)) = &quoted {
        let error = Packet {
            proto,
            src: dst,
            dst,
            sport: None,
            dport: None,
            tcp_flags: None,
            icmp,
            in_iface: None,
            out_iface: None,
            physdev_in: None,
            physdev_out: None,
            mark: 0,
            sport_random: false,
            quoted: None,
            sender: None,
        };
        if !crate::conntrack::is_icmp_error(&error) {
            return Err(PacketError::at(
                *at - 1,
                "`--quote` needs an ICMP or ICMPv6 error (`--icmp-type port-unreachable`, ...)",
            ));
        }
        if q.src.is_ipv4() != dst.is_ipv4() {
            return Err(PacketError::at(
                *at,
                "the quoted packet is of another address family than the error",
            ));
        }
    }
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
        quoted: quoted.map(|(_, q)| q),
        sender,
        time,
    }))
}

/// The socket options of one description, before they are checked.
#[derive(Default)]
struct Owner {
    uid: Option<u32>,
    gid: Option<u32>,
    groups: Option<Vec<u32>>,
    socket: Option<Sender>,
}

impl Owner {
    fn sender(self) -> Result<Sender, String> {
        match self.socket {
            Some(s) if self.uid.is_some() || self.gid.is_some() || self.groups.is_some() => {
                Err(format!(
                    "`--socket {}` has no owner: --uid, --gid and --groups do not go with it",
                    if s == Sender::Kernel {
                        "kernel"
                    } else {
                        "none"
                    }
                ))
            }
            Some(s) => Ok(s),
            None => Ok(Sender::Process {
                uid: self.uid,
                gid: self.gid,
                groups: self.groups,
            }),
        }
    }
}

/// Parses a non-negative number of seconds with up to nine decimals into nanoseconds.
fn parse_seconds(text: &str) -> Option<u64> {
    let (whole, frac) = text.split_once('.').unwrap_or((text, ""));
    let digits = |t: &str| t.bytes().all(|b| b.is_ascii_digit());
    if whole.is_empty() || !digits(whole) || !digits(frac) || frac.len() > 9 {
        return None;
    }
    let secs: u64 = whole.parse().ok()?;
    let mut nanos: u64 = 0;
    for i in 0..9 {
        let d = frac.as_bytes().get(i).map_or(0, |b| u64::from(b - b'0'));
        nanos = nanos * 10 + d;
    }
    secs.checked_mul(1_000_000_000)?.checked_add(nanos)
}

/// Reads a quoted header: `PROTO,SRC,SPORT,DST,DPORT`, or `PROTO,SRC,DST` for a protocol
/// without ports.
fn parse_quoted(text: &str) -> Result<crate::conntrack::Tuple, String> {
    let parts: Vec<&str> = text.split(',').collect();
    let proto = parts
        .first()
        .and_then(|p| Protocol::parse(p))
        .filter(|p| !p.is_any())
        .ok_or_else(|| format!("`{text}` does not start with a protocol"))?;
    let addr = |s: &str| -> Result<IpAddr, String> {
        s.parse().map_err(|_| format!("`{s}` is not an IP address"))
    };
    let port = |s: &str| -> Result<u16, String> {
        s.parse().map_err(|_| format!("`{s}` is not a port number"))
    };
    let (src, sport, dst, dport) = match (has_ports(proto), parts.as_slice()) {
        (true, [_, s, sp, d, dp]) => (addr(s)?, port(sp)?, addr(d)?, port(dp)?),
        (false, [_, s, d]) => (addr(s)?, 0, addr(d)?, 0),
        (true, _) => {
            return Err(format!(
                "a quoted {proto} header is PROTO,SRC,SPORT,DST,DPORT"
            ));
        }
        (false, _) => return Err(format!("a quoted {proto} header is PROTO,SRC,DST")),
    };
    if src.is_ipv4() != dst.is_ipv4() {
        return Err("the quoted source and destination are of different address families".into());
    }
    Ok(crate::conntrack::Tuple {
        proto,
        src,
        sport,
        dst,
        dport,
    })
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
        if let Some(q) = &self.quoted {
            let ports = has_ports(q.proto);
            write!(
                f,
                " quoting {} {} → {}",
                q.proto,
                ep(q.src, ports.then_some(q.sport), false),
                ep(q.dst, ports.then_some(q.dport), false)
            )?;
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
        assert_eq!(
            p[1],
            PacketSpec::Reply {
                tcp_flags: None,
                time: None
            }
        );
        assert_eq!(
            p[2],
            PacketSpec::Again {
                tcp_flags: Some(tcp_flags::ACK),
                time: None
            }
        );
        let p = parse("-p icmp -d 10.0.0.1").unwrap();
        let PacketSpec::Desc(d) = &p[0] else { panic!() };
        assert_eq!(d.icmp, Some((8, 0)));
    }

    #[test]
    fn an_icmp_error_quotes_the_packet_it_answers() {
        let p = parse("-p icmp -s 10.0.0.2 -d 10.0.0.9 --icmp-type port-unreachable --quote udp,10.0.0.9,5000,10.0.0.2,53").unwrap();
        let PacketSpec::Desc(d) = &p[0] else { panic!() };
        let q = d.quoted.unwrap();
        assert_eq!(q.proto, Protocol::UDP);
        assert_eq!((q.src.to_string(), q.sport), ("10.0.0.9".into(), 5000));
        assert_eq!((q.dst.to_string(), q.dport), ("10.0.0.2".into(), 53));
        let p = parse("-p icmpv6 -s 2001:db8::2 -d 2001:db8::9 --icmp-type 1/4 --quote icmpv6,2001:db8::9,2001:db8::2").unwrap();
        let PacketSpec::Desc(d) = &p[0] else { panic!() };
        assert_eq!(d.quoted.unwrap().sport, 0);
        for (bad, want) in [
            (
                "-p icmp -d 10.0.0.9 --quote udp,10.0.0.9,1,10.0.0.2,53",
                "needs an ICMP or ICMPv6 error",
            ),
            (
                "-p icmp -d 10.0.0.9 --icmp-type 3 --quote udp,10.0.0.9,10.0.0.2",
                "PROTO,SRC,SPORT,DST,DPORT",
            ),
            (
                "-p icmp -d 10.0.0.9 --icmp-type 3 --quote icmp,10.0.0.9,1,10.0.0.2,2",
                "PROTO,SRC,DST",
            ),
            (
                "-p icmp -d 10.0.0.9 --icmp-type 3 --quote udp,::1,1,10.0.0.2,53",
                "different address families",
            ),
            (
                "-p icmp -d 10.0.0.9 --icmp-type 3 --quote udp,2001:db8::1,1,2001:db8::2,53",
                "another address family",
            ),
            (
                "-p icmp -d 10.0.0.9 --icmp-type 3 --quote bogus,10.0.0.9,10.0.0.2",
                "does not start with a protocol",
            ),
        ] {
            let e = parse(bad).expect_err(bad);
            assert!(e.message.contains(want), "{bad}: {}", e.message);
        }
    }

    #[test]
    fn sockets_and_times() {
        let p = parse("-p udp -d 10.0.0.1 --dport 53 --uid 104 --gid 50 --groups 7,9 --time 2.5 --then reply --time 3 --then again").unwrap();
        let PacketSpec::Desc(d) = &p[0] else { panic!() };
        assert_eq!(
            d.sender,
            Some(Sender::Process {
                uid: Some(104),
                gid: Some(50),
                groups: Some(vec![7, 9])
            })
        );
        assert_eq!(d.time, Some(2_500_000_000));
        assert_eq!(
            p[1],
            PacketSpec::Reply {
                tcp_flags: None,
                time: Some(3_000_000_000)
            }
        );
        assert_eq!(
            p[2],
            PacketSpec::Again {
                tcp_flags: None,
                time: None
            }
        );
        let p = parse("-p udp -d 10.0.0.1 --dport 53 --uid 0 --time 0.000000001").unwrap();
        let PacketSpec::Desc(d) = &p[0] else { panic!() };
        assert_eq!(
            d.sender,
            Some(Sender::Process {
                uid: Some(0),
                gid: None,
                groups: None
            })
        );
        assert_eq!(d.time, Some(1));
        for (text, want) in [("none", Sender::NoSocket), ("kernel", Sender::Kernel)] {
            let p = parse(&format!("-p icmp -d 10.0.0.1 --socket {text}")).unwrap();
            let PacketSpec::Desc(d) = &p[0] else { panic!() };
            assert_eq!(d.sender, Some(want));
            assert_eq!(d.time, None);
        }
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
            (
                "-p tcp -d 10.0.0.1 --dport 80 --time 1.5s",
                "not a time in seconds",
                Some(7),
            ),
            (
                "-p tcp -d 10.0.0.1 --dport 80 --time -1",
                "not a time in seconds",
                Some(7),
            ),
            (
                "-p tcp -d 10.0.0.1 --dport 80 --uid root",
                "not a numeric id",
                Some(7),
            ),
            (
                "-p tcp -s 10.0.0.2 -d 10.0.0.1 --dport 80 -i eth0 --uid 0",
                "has no local socket",
                Some(10),
            ),
            (
                "-p tcp -d 10.0.0.1 --dport 80 --socket kernel --uid 0",
                "has no owner",
                Some(6),
            ),
            (
                "-p tcp -d 10.0.0.1 --dport 80 --socket process",
                "the socket is `none` or `kernel`",
                Some(7),
            ),
            (
                "-p tcp -d 10.0.0.1 --dport 80 --then reply --uid 0",
                "takes its headers from the first packet",
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
