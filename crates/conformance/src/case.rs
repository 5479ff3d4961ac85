//! A conformance case: a host, a ruleset and the packets sent through it.

use std::fmt::Write as _;
use std::net::IpAddr;

use chainwalk_host::kernel::{
    Family, Ingress, InterfaceKind, LabHost, Neighbor, PacketSpec, Proto, tcp_flags,
};

use crate::ConformanceError;
use crate::record::{Fate, Record};

/// One case: what the kernel and the engine are both asked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Case {
    /// A short name (`seed-42-case-7`, a corpus file name, ...).
    pub name: String,
    /// The node.
    pub host: LabHost,
    /// Addresses living behind the node's interfaces (clients, gateways, pods).
    pub neighbors: Vec<Neighbor>,
    /// Address family of the ruleset.
    pub family: Family,
    /// The ruleset in `iptables-save` form.
    pub rules: String,
    /// The packets, in order.
    pub packets: Vec<CasePacket>,
}

/// One packet of a case.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CasePacket {
    /// Empty the conntrack table before this packet (independent packets); false keeps
    /// the flow state of the previous packets (flows).
    pub flush_conntrack: bool,
    /// The packet, or how to derive it from an earlier one.
    pub packet: PacketTemplate,
}

/// A packet given outright or derived from an earlier packet's outcome, so that flows
/// work whatever port a NAT rule picked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PacketTemplate {
    /// Exactly this packet.
    Fixed(PacketSpec),
    /// The answer to packet `to` as it left the node: source and destination (addresses
    /// and ports) swapped, entering through the interface it left by (or generated
    /// locally if it was delivered locally). ICMP echo requests are answered with echo
    /// replies; TCP gets `tcp_flags`.
    Reply {
        /// Index of the earlier packet.
        to: usize,
        /// TCP flags of the answer.
        tcp_flags: u8,
    },
    /// Packet `of` again (same headers, same ingress) with other TCP flags: the next
    /// segment of the original direction.
    Again {
        /// Index of the earlier packet.
        of: usize,
        /// TCP flags of the new segment.
        tcp_flags: u8,
    },
}

impl Case {
    /// The packet `index` as it is to be sent, given the records of the packets before it
    /// (from the kernel or from the engine: each side derives flows from its own results).
    pub fn resolve(
        &self,
        index: usize,
        earlier: &[Record],
    ) -> Result<PacketSpec, ConformanceError> {
        let err = |message: String| ConformanceError::Packet { index, message };
        let p = self
            .packets
            .get(index)
            .ok_or_else(|| err("no such packet".into()))?;
        match &p.packet {
            PacketTemplate::Fixed(spec) => Ok(spec.clone()),
            PacketTemplate::Again { of, tcp_flags } => {
                let r = earlier
                    .get(*of)
                    .ok_or_else(|| err(format!("packet {of} has not been sent")))?;
                let mut spec = r.packet.clone();
                spec.tcp_flags = *tcp_flags;
                Ok(spec)
            }
            PacketTemplate::Reply { to, tcp_flags } => {
                let r = earlier
                    .get(*to)
                    .ok_or_else(|| err(format!("packet {to} has not been sent")))?;
                let h = r
                    .headers
                    .as_ref()
                    .ok_or_else(|| err(format!("packet {to} did not leave the node")))?;
                let ingress = match (r.fate, &r.out_iface) {
                    (Fate::Delivered, _) => Ingress::Local,
                    (Fate::Forwarded | Fate::Sent, Some(oif)) => Ingress::Interface(oif.clone()),
                    _ => return Err(err(format!("packet {to} did not leave the node"))),
                };
                let proto = match h.proto {
                    6 => Proto::Tcp,
                    17 => Proto::Udp,
                    1 => Proto::Icmp,
                    58 => Proto::Icmpv6,
                    n => Proto::Other(n),
                };
                let icmp_type = match proto {
                    Proto::Icmp => 0,
                    Proto::Icmpv6 => 129,
                    _ => 0,
                };
                Ok(PacketSpec {
                    proto,
                    src: h.dst,
                    dst: h.src,
                    sport: match proto {
                        Proto::Icmp | Proto::Icmpv6 => r.packet.sport,
                        _ => h.dport.map(|p| p.value()).unwrap_or(0),
                    },
                    dport: h.sport.map(|p| p.value()).unwrap_or(0),
                    tcp_flags: if proto == Proto::Tcp { *tcp_flags } else { 0 },
                    icmp_type,
                    icmp_code: 0,
                    mark: 0,
                    ingress,
                })
            }
        }
    }

    /// The host in the YAML shape `LabHost::from_yaml` reads, with the neighbours as an
    /// extra `neighbors` list (`LabHost::from_yaml` ignores it; [`Case`] readers use it).
    pub fn host_yaml(&self) -> String {
        host_yaml(&self.host, &self.neighbors)
    }

    /// The packets, one line each (templates shown as templates).
    pub fn packets_text(&self) -> String {
        let mut s = String::new();
        for (i, p) in self.packets.iter().enumerate() {
            let flush = if p.flush_conntrack {
                " [conntrack flushed before]"
            } else {
                ""
            };
            let body = match &p.packet {
                PacketTemplate::Fixed(spec) => packet_text(spec),
                PacketTemplate::Reply { to, tcp_flags } => {
                    format!("reply to packet {to} flags={}", flags_text(*tcp_flags))
                }
                PacketTemplate::Again { of, tcp_flags } => {
                    format!("packet {of} again with flags={}", flags_text(*tcp_flags))
                }
            };
            let _ = writeln!(s, "{i}: {body}{flush}");
        }
        s
    }
}

/// TCP flags as `SYN,ACK`.
pub fn flags_text(flags: u8) -> String {
    let names = [
        (tcp_flags::FIN, "FIN"),
        (tcp_flags::SYN, "SYN"),
        (tcp_flags::RST, "RST"),
        (tcp_flags::PSH, "PSH"),
        (tcp_flags::ACK, "ACK"),
        (tcp_flags::URG, "URG"),
    ];
    let v: Vec<&str> = names
        .iter()
        .filter(|(b, _)| flags & b != 0)
        .map(|(_, n)| *n)
        .collect();
    if v.is_empty() {
        "NONE".into()
    } else {
        v.join(",")
    }
}

/// One packet on one line: `tcp 192.0.2.1:40000 -> 10.96.0.1:80 flags=SYN in=eth0`.
pub fn packet_text(p: &PacketSpec) -> String {
    let addr = |a: IpAddr, port: u16| match a {
        IpAddr::V4(_) => format!("{a}:{port}"),
        IpAddr::V6(_) => format!("[{a}]:{port}"),
    };
    let ingress = match &p.ingress {
        Ingress::Interface(i) => format!("in={i}"),
        Ingress::Local => "local".to_string(),
    };
    let mark = if p.mark != 0 {
        format!(" mark={:#x}", p.mark)
    } else {
        String::new()
    };
    match p.proto {
        Proto::Tcp => format!(
            "tcp {} -> {} flags={} {ingress}{mark}",
            addr(p.src, p.sport),
            addr(p.dst, p.dport),
            flags_text(p.tcp_flags)
        ),
        Proto::Udp => format!(
            "udp {} -> {} {ingress}{mark}",
            addr(p.src, p.sport),
            addr(p.dst, p.dport)
        ),
        Proto::Icmp | Proto::Icmpv6 => format!(
            "{} {} -> {} type={} code={} id={} {ingress}{mark}",
            if p.proto == Proto::Icmp {
                "icmp"
            } else {
                "icmpv6"
            },
            p.src,
            p.dst,
            p.icmp_type,
            p.icmp_code,
            p.sport
        ),
        Proto::Other(n) => format!("proto-{n} {} -> {} {ingress}{mark}", p.src, p.dst),
    }
}

/// A host and its neighbours in the YAML shape of `testdata/example-node/host.yaml`.
pub fn host_yaml(host: &LabHost, neighbors: &[Neighbor]) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "forwarding: {}", host.forwarding_v4);
    let _ = writeln!(s, "forwarding_v6: {}", host.forwarding_v6);
    let _ = writeln!(
        s,
        "bridge_nf_call_iptables: {}",
        host.bridge_nf_call_iptables
    );
    let _ = writeln!(s, "interfaces:");
    for i in &host.interfaces {
        let _ = writeln!(s, "  - name: {}", i.name);
        let _ = writeln!(s, "    addresses: [{}]", i.addresses.join(", "));
        match &i.kind {
            InterfaceKind::Veth => {
                let _ = writeln!(s, "    kind: veth");
            }
            InterfaceKind::Loopback => {
                let _ = writeln!(s, "    kind: loopback");
            }
            InterfaceKind::Bridge { ports } => {
                let _ = writeln!(s, "    kind: bridge");
                if !ports.is_empty() {
                    let _ = writeln!(s, "    ports: [{}]", ports.join(", "));
                }
            }
        }
    }
    let _ = writeln!(s, "routes:");
    for r in &host.routes {
        let _ = writeln!(s, "  - to: {}", r.to);
        if let Some(v) = &r.via {
            let _ = writeln!(s, "    via: {v}");
        }
        let _ = writeln!(s, "    dev: {}", r.dev);
    }
    let _ = writeln!(s, "neighbors:");
    for n in neighbors {
        let _ = writeln!(
            s,
            "  - {{interface: {}, address: {}}}",
            n.interface, n.address
        );
    }
    s
}
