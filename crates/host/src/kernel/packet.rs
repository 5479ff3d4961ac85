//! Packet descriptions, the bytes they become, and headers parsed back from the kernel.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::atomic::{AtomicU16, Ordering};

use super::{Family, KernelError};

/// TCP flag bits as they sit in the TCP header's flags byte.
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

/// Transport protocol of a packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Proto {
    /// TCP (6).
    Tcp,
    /// UDP (17).
    Udp,
    /// ICMP (1), IPv4 only.
    Icmp,
    /// ICMPv6 (58), IPv6 only.
    Icmpv6,
    /// Any other protocol number; sent with an empty payload.
    Other(u8),
}

impl Proto {
    /// The IP protocol number.
    pub fn number(self) -> u8 {
        match self {
            Proto::Tcp => 6,
            Proto::Udp => 17,
            Proto::Icmp => 1,
            Proto::Icmpv6 => 58,
            Proto::Other(n) => n,
        }
    }
}

/// Where a packet enters the node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ingress {
    /// Arrives on this node interface, sent from the neighbour namespace behind it (for a
    /// bridge, from the port whose neighbour owns the source address, else the first).
    Interface(String),
    /// Generated inside the node namespace (raw socket with the exact header).
    Local,
}

/// One packet with exactly these headers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PacketSpec {
    /// Transport protocol.
    pub proto: Proto,
    /// Source address.
    pub src: IpAddr,
    /// Destination address.
    pub dst: IpAddr,
    /// Source port (TCP/UDP); the echo identifier for ICMP echo.
    pub sport: u16,
    /// Destination port (TCP/UDP).
    pub dport: u16,
    /// TCP flag bits ([`tcp_flags`]).
    pub tcp_flags: u8,
    /// ICMP/ICMPv6 type.
    pub icmp_type: u8,
    /// ICMP/ICMPv6 code.
    pub icmp_code: u8,
    /// Packet mark (`SO_MARK`); only for [`Ingress::Local`].
    pub mark: u32,
    /// Where it enters.
    pub ingress: Ingress,
}

impl PacketSpec {
    /// A TCP SYN from `src` to `dst`.
    pub fn tcp_syn(src: SocketAddr, dst: SocketAddr, ingress: Ingress) -> PacketSpec {
        PacketSpec::tcp(src, dst, tcp_flags::SYN, ingress)
    }

    /// A TCP segment with the given flags.
    pub fn tcp(src: SocketAddr, dst: SocketAddr, flags: u8, ingress: Ingress) -> PacketSpec {
        PacketSpec {
            proto: Proto::Tcp,
            src: src.ip(),
            dst: dst.ip(),
            sport: src.port(),
            dport: dst.port(),
            tcp_flags: flags,
            icmp_type: 0,
            icmp_code: 0,
            mark: 0,
            ingress,
        }
    }

    /// A UDP datagram.
    pub fn udp(src: SocketAddr, dst: SocketAddr, ingress: Ingress) -> PacketSpec {
        PacketSpec {
            proto: Proto::Udp,
            tcp_flags: 0,
            ..PacketSpec::tcp(src, dst, 0, ingress)
        }
    }

    /// An ICMP (IPv4) or ICMPv6 echo request with identifier `id`.
    pub fn echo_request(src: IpAddr, dst: IpAddr, id: u16, ingress: Ingress) -> PacketSpec {
        let (proto, icmp_type) = match src {
            IpAddr::V4(_) => (Proto::Icmp, 8),
            IpAddr::V6(_) => (Proto::Icmpv6, 128),
        };
        PacketSpec {
            proto,
            src,
            dst,
            sport: id,
            dport: 0,
            tcp_flags: 0,
            icmp_type,
            icmp_code: 0,
            mark: 0,
            ingress,
        }
    }

    /// The family of the packet (from its source address).
    pub fn family(&self) -> Family {
        Family::of(&self.src)
    }

    /// The headers the packet is sent with.
    pub fn headers(&self) -> Headers {
        let ports = matches!(self.proto, Proto::Tcp | Proto::Udp);
        let icmp = matches!(self.proto, Proto::Icmp | Proto::Icmpv6);
        Headers {
            src: self.src,
            dst: self.dst,
            proto: self.proto.number(),
            sport: ports.then_some(self.sport),
            dport: ports.then_some(self.dport),
            tcp_flags: (self.proto == Proto::Tcp).then_some(self.tcp_flags),
            icmp_type: icmp.then_some(self.icmp_type),
            icmp_code: icmp.then_some(self.icmp_code),
            ttl: 64,
        }
    }
}

/// Headers of a packet as the kernel showed them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Headers {
    /// Source address.
    pub src: IpAddr,
    /// Destination address.
    pub dst: IpAddr,
    /// IP protocol number (IPv6: the first next-header).
    pub proto: u8,
    /// TCP/UDP source port.
    pub sport: Option<u16>,
    /// TCP/UDP destination port.
    pub dport: Option<u16>,
    /// TCP flag bits.
    pub tcp_flags: Option<u8>,
    /// ICMP type.
    pub icmp_type: Option<u8>,
    /// ICMP code.
    pub icmp_code: Option<u8>,
    /// IPv4 TTL or IPv6 hop limit.
    pub ttl: u8,
}

impl Headers {
    /// Same addresses, protocol and (where present on both) ports.
    pub fn same_tuple(&self, other: &Headers) -> bool {
        fn eq(a: Option<u16>, b: Option<u16>) -> bool {
            a.is_none() || b.is_none() || a == b
        }
        self.src == other.src
            && self.dst == other.dst
            && self.proto == other.proto
            && eq(self.sport, other.sport)
            && eq(self.dport, other.dport)
    }

    /// Parses an IP header (`net`) and, if given, a separate transport header; without
    /// one, the transport header is read right after the IP header.
    pub(crate) fn parse(net: &[u8], transport: Option<&[u8]>) -> Option<Headers> {
        let version = net.first()? >> 4;
        let (src, dst, proto, ttl, rest): (IpAddr, IpAddr, u8, u8, &[u8]) = match version {
            4 => {
                let ihl = usize::from(net.first()? & 0x0f) * 4;
                let s: [u8; 4] = net.get(12..16)?.try_into().ok()?;
                let d: [u8; 4] = net.get(16..20)?.try_into().ok()?;
                (
                    Ipv4Addr::from(s).into(),
                    Ipv4Addr::from(d).into(),
                    *net.get(9)?,
                    *net.get(8)?,
                    net.get(ihl..).unwrap_or(&[]),
                )
            }
            6 => {
                let s: [u8; 16] = net.get(8..24)?.try_into().ok()?;
                let d: [u8; 16] = net.get(24..40)?.try_into().ok()?;
                (
                    Ipv6Addr::from(s).into(),
                    Ipv6Addr::from(d).into(),
                    *net.get(6)?,
                    *net.get(7)?,
                    net.get(40..).unwrap_or(&[]),
                )
            }
            _ => return None,
        };
        let th = transport.unwrap_or(rest);
        let port = |i: usize| th.get(i..i + 2).map(|b| u16::from_be_bytes([b[0], b[1]]));
        let mut h = Headers {
            src,
            dst,
            proto,
            sport: None,
            dport: None,
            tcp_flags: None,
            icmp_type: None,
            icmp_code: None,
            ttl,
        };
        match proto {
            6 => {
                h.sport = port(0);
                h.dport = port(2);
                h.tcp_flags = th.get(13).copied();
            }
            17 | 132 | 33 | 136 => {
                h.sport = port(0);
                h.dport = port(2);
            }
            1 | 58 => {
                h.icmp_type = th.first().copied();
                h.icmp_code = th.get(1).copied();
            }
            _ => {}
        }
        Some(h)
    }
}

static IP_ID: AtomicU16 = AtomicU16::new(1);

/// Internet checksum over `data` starting from `sum`.
fn checksum(mut sum: u32, data: &[u8]) -> u16 {
    let mut chunks = data.chunks_exact(2);
    for c in &mut chunks {
        sum += u32::from(u16::from_be_bytes([c[0], c[1]]));
    }
    if let [last] = chunks.remainder() {
        sum += u32::from(*last) << 8;
    }
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

fn pseudo_sum(src: IpAddr, dst: IpAddr, proto: u8, len: usize) -> u32 {
    let mut bytes = Vec::with_capacity(40);
    match (src, dst) {
        (IpAddr::V4(s), IpAddr::V4(d)) => {
            bytes.extend_from_slice(&s.octets());
            bytes.extend_from_slice(&d.octets());
        }
        (IpAddr::V6(s), IpAddr::V6(d)) => {
            bytes.extend_from_slice(&s.octets());
            bytes.extend_from_slice(&d.octets());
        }
        _ => {}
    }
    let mut sum: u32 = bytes
        .chunks_exact(2)
        .map(|c| u32::from(u16::from_be_bytes([c[0], c[1]])))
        .sum();
    sum += u32::from(proto);
    sum += (len & 0xffff) as u32 + ((len >> 16) as u32);
    sum
}

/// The IP packet (IP header onwards) a spec describes, checksums filled in.
pub(crate) fn build_ip(spec: &PacketSpec) -> Result<Vec<u8>, KernelError> {
    if Family::of(&spec.src) != Family::of(&spec.dst) {
        return Err(KernelError::Packet(format!(
            "source {} and destination {} are of different families",
            spec.src, spec.dst
        )));
    }
    match (spec.proto, spec.src) {
        (Proto::Icmp, IpAddr::V6(_)) => {
            return Err(KernelError::Packet("ICMP (v4) with IPv6 addresses".into()));
        }
        (Proto::Icmpv6, IpAddr::V4(_)) => {
            return Err(KernelError::Packet("ICMPv6 with IPv4 addresses".into()));
        }
        _ => {}
    }
    let proto = spec.proto.number();
    let mut l4 = match spec.proto {
        Proto::Tcp => {
            let mut t = vec![0u8; 20];
            t[0..2].copy_from_slice(&spec.sport.to_be_bytes());
            t[2..4].copy_from_slice(&spec.dport.to_be_bytes());
            t[4..8].copy_from_slice(&1_000_000u32.to_be_bytes());
            if spec.tcp_flags & tcp_flags::ACK != 0 {
                t[8..12].copy_from_slice(&1u32.to_be_bytes());
            }
            t[12] = 5 << 4;
            t[13] = spec.tcp_flags;
            t[14..16].copy_from_slice(&64240u16.to_be_bytes());
            t
        }
        Proto::Udp => {
            let mut u = vec![0u8; 8];
            u[0..2].copy_from_slice(&spec.sport.to_be_bytes());
            u[2..4].copy_from_slice(&spec.dport.to_be_bytes());
            u[4..6].copy_from_slice(&8u16.to_be_bytes());
            u
        }
        Proto::Icmp | Proto::Icmpv6 => {
            let mut i = vec![0u8; 8];
            i[0] = spec.icmp_type;
            i[1] = spec.icmp_code;
            i[4..6].copy_from_slice(&spec.sport.to_be_bytes());
            i[6..8].copy_from_slice(&1u16.to_be_bytes());
            i
        }
        Proto::Other(_) => Vec::new(),
    };
    let csum_at = match spec.proto {
        Proto::Tcp => Some(16),
        Proto::Udp => Some(6),
        Proto::Icmp | Proto::Icmpv6 => Some(2),
        Proto::Other(_) => None,
    };
    if let Some(at) = csum_at {
        let start = if spec.proto == Proto::Icmp {
            0
        } else {
            pseudo_sum(spec.src, spec.dst, proto, l4.len())
        };
        let mut c = checksum(start, &l4);
        if spec.proto == Proto::Udp && c == 0 {
            c = 0xffff;
        }
        l4[at..at + 2].copy_from_slice(&c.to_be_bytes());
    }
    let mut out = Vec::with_capacity(40 + l4.len());
    match (spec.src, spec.dst) {
        (IpAddr::V4(s), IpAddr::V4(d)) => {
            let total = (20 + l4.len()) as u16;
            out.extend_from_slice(&[0x45, 0]);
            out.extend_from_slice(&total.to_be_bytes());
            out.extend_from_slice(&IP_ID.fetch_add(1, Ordering::Relaxed).to_be_bytes());
            out.extend_from_slice(&[0x40, 0, 64, proto, 0, 0]);
            out.extend_from_slice(&s.octets());
            out.extend_from_slice(&d.octets());
            let c = checksum(0, &out);
            out[10..12].copy_from_slice(&c.to_be_bytes());
        }
        (IpAddr::V6(s), IpAddr::V6(d)) => {
            out.extend_from_slice(&[0x60, 0, 0, 0]);
            out.extend_from_slice(&(l4.len() as u16).to_be_bytes());
            out.extend_from_slice(&[proto, 64]);
            out.extend_from_slice(&s.octets());
            out.extend_from_slice(&d.octets());
        }
        _ => {}
    }
    out.extend_from_slice(&l4);
    Ok(out)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn build_and_parse_round_trip() {
        let spec = PacketSpec::tcp_syn(
            "192.168.49.1:40000".parse().unwrap(),
            "10.100.29.239:80".parse().unwrap(),
            Ingress::Local,
        );
        let bytes = build_ip(&spec).unwrap();
        assert_eq!(bytes.len(), 40);
        // The IPv4 header checksum verifies to zero.
        assert_eq!(checksum(0, &bytes[..20]), 0);
        let h = Headers::parse(&bytes, None).unwrap();
        assert_eq!(h, spec.headers());
        let v6 = PacketSpec::udp(
            "[fd00::1]:5353".parse().unwrap(),
            "[fd00::2]:53".parse().unwrap(),
            Ingress::Local,
        );
        let b6 = build_ip(&v6).unwrap();
        assert_eq!(Headers::parse(&b6, None).unwrap(), v6.headers());
    }

    #[test]
    fn mixed_families_rejected() {
        let mut spec = PacketSpec::echo_request(
            "10.0.0.1".parse().unwrap(),
            "10.0.0.2".parse().unwrap(),
            7,
            Ingress::Local,
        );
        spec.dst = "fd00::1".parse().unwrap();
        assert!(build_ip(&spec).is_err());
    }
}
