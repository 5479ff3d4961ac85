//! Cases from real rulesets: a host model that fits a ruleset (its interfaces, its DNAT
//! targets as neighbours) and packets generated from its own rules (each DNAT rule's and
//! each ACCEPT/DROP/REJECT rule's addresses, protocol, ports and input interface).

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use chainwalk_host::kernel::{
    Family, Ingress, InterfaceKind, LabHost, LabInterface, LabRoute, Neighbor, PacketSpec, Proto,
    tcp_flags,
};

use crate::case::{Case, CasePacket, PacketTemplate};

/// The words of a rule line, double-quoted strings kept together.
fn words(line: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    for ch in line.chars() {
        match ch {
            '"' => quoted = !quoted,
            c if c.is_whitespace() && !quoted => {
                if !cur.is_empty() {
                    out.push(std::mem::take(&mut cur));
                }
            }
            c => cur.push(c),
        }
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

/// What a packet needs to match one rule (positive options only).
#[derive(Debug, Clone, Default)]
struct RuleFacts {
    chain: String,
    src: Option<String>,
    dst: Option<String>,
    iif: Option<String>,
    oif: Option<String>,
    proto: Option<String>,
    sport: Option<u16>,
    dport: Option<u16>,
    target: Option<String>,
    dnat_to: Option<String>,
}

fn first_port(v: &str) -> Option<u16> {
    v.split([',', ':']).next()?.parse().ok()
}

fn facts(line: &str) -> Option<RuleFacts> {
    let w = words(line.strip_prefix("-A ")?);
    let mut f = RuleFacts {
        chain: w.first()?.clone(),
        ..RuleFacts::default()
    };
    let mut i = 1;
    let mut negated = false;
    while let Some(flag) = w.get(i) {
        let flag = flag.as_str();
        let value = w.get(i + 1).cloned();
        if flag == "!" {
            negated = true;
            i += 1;
            continue;
        }
        let neg = std::mem::take(&mut negated);
        match flag {
            "-s" if !neg => f.src = value,
            "-d" if !neg => f.dst = value,
            "-i" if !neg => f.iif = value,
            "-o" if !neg => f.oif = value,
            "-p" if !neg => f.proto = value,
            "--sport" | "--sports" | "--source-port" if !neg => {
                f.sport = value.as_deref().and_then(first_port)
            }
            "--dport" | "--dports" | "--destination-port" | "--ports" if !neg => {
                f.dport = value.as_deref().and_then(first_port)
            }
            "-j" | "-g" => f.target = value,
            "--to-destination" => f.dnat_to = value,
            _ => {}
        }
        i += 1;
    }
    Some(f)
}

/// Options of a ruleset: what family it is for.
pub fn family_of(rules: &str) -> Family {
    for line in rules.lines() {
        let w = words(line);
        for pair in w.windows(2) {
            let (flag, value) = (pair[0].as_str(), pair[1].as_str());
            let v6 = value
                .split('/')
                .next()
                .is_some_and(|a| a.parse::<Ipv6Addr>().is_ok());
            if ((flag == "-s" || flag == "-d") && v6)
                || (flag == "-p" && matches!(value, "icmpv6" | "ipv6-icmp" | "58"))
                || flag == "--icmpv6-type"
            {
                return Family::Ipv6;
            }
        }
    }
    Family::Ipv4
}

/// An interface name the lab can create for a rule's `-i`/`-o` value (`tun+` → `tun0`).
fn concrete_iface(name: &str) -> Option<String> {
    let n = match name.strip_suffix('+') {
        Some(prefix) => format!("{prefix}0"),
        None => name.to_string(),
    };
    let ok = !n.is_empty()
        && n.len() <= 15
        && n != "lo"
        && n.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c));
    ok.then_some(n)
}

/// An address inside a rule's `ADDR[/LEN]` that a packet can use: the address itself for
/// a host prefix, the first address after the network's otherwise.
fn inside(prefix: &str, family: Family) -> Option<IpAddr> {
    let (a, len) = match prefix.split_once('/') {
        Some((a, l)) => (a, l.parse::<u32>().ok()),
        None => (prefix, None),
    };
    let ip: IpAddr = a.parse().ok()?;
    if Family::of(&ip) != family {
        return None;
    }
    let ip = match (ip, len) {
        (IpAddr::V4(v), Some(l)) if l < 31 => {
            let m = if l == 0 { 0 } else { u32::MAX << (32 - l) };
            IpAddr::V4(Ipv4Addr::from((u32::from(v) & m) | 1))
        }
        (IpAddr::V6(v), Some(l)) if l < 127 => {
            let m = if l == 0 { 0 } else { u128::MAX << (128 - l) };
            IpAddr::V6(Ipv6Addr::from((u128::from(v) & m) | 1))
        }
        (ip, _) => ip,
    };
    usable(ip).then_some(ip)
}

fn usable(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v) => {
            !(v.is_unspecified() || v.is_loopback() || v.is_multicast() || v.is_broadcast())
                && v.octets()[0] != 0
        }
        IpAddr::V6(v) => !(v.is_unspecified() || v.is_loopback() || v.is_multicast()),
    }
}

fn node_addr(i: usize, family: Family, host: u8) -> IpAddr {
    let i = (i % 50) as u8;
    match family {
        Family::Ipv4 => IpAddr::V4(Ipv4Addr::new(10, 200 + i, 0, host)),
        Family::Ipv6 => IpAddr::V6(Ipv6Addr::new(
            0xfd00,
            0x200 + u16::from(i),
            0,
            0,
            0,
            0,
            0,
            u16::from(host),
        )),
    }
}

/// A case for a real ruleset (as the kernel's `iptables-save` prints it after loading):
/// up to six interfaces named after the ruleset's `-i`/`-o` values (wildcards made
/// concrete, the first the uplink with the default route), each with an address and a
/// neighbour; every DNAT target as a neighbour behind the second interface; and up to
/// `max_packets` packets, one per rule, taken evenly from the DNAT rules first and then
/// from every ACCEPT/DROP/REJECT rule and jump with addresses, ports or interfaces. A
/// packet carries the rule's positive `-s`, `-d`, `-p`, ports and `-i`; rules in OUTPUT
/// give locally generated packets. A ruleset with fewer than three such packets gets
/// plain ones (to the node, through it, from it) up to three.
pub fn corpus_case(name: &str, rules: &str, max_packets: usize) -> Case {
    let family = family_of(rules);
    let all: Vec<RuleFacts> = rules.lines().filter_map(facts).collect();
    // Interfaces by how often rules name them.
    let mut freq: BTreeMap<String, usize> = BTreeMap::new();
    for f in &all {
        for n in [&f.iif, &f.oif].into_iter().flatten() {
            if let Some(c) = concrete_iface(n) {
                *freq.entry(c).or_default() += 1;
            }
        }
    }
    let mut names: Vec<(String, usize)> = freq.into_iter().collect();
    names.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    let mut ifaces: Vec<String> = names.into_iter().take(6).map(|(n, _)| n).collect();
    for fallback in ["eth0", "eth1"] {
        if ifaces.len() < 2 && !ifaces.iter().any(|n| n == fallback) {
            ifaces.push(fallback.to_string());
        }
    }
    let plen = if family == Family::Ipv4 { 24 } else { 64 };
    let mut interfaces = vec![LabInterface {
        name: "lo".into(),
        addresses: vec!["127.0.0.1/8".into()],
        kind: InterfaceKind::Loopback,
    }];
    let mut neighbors = Vec::new();
    let node_addrs: Vec<IpAddr> = (0..ifaces.len()).map(|i| node_addr(i, family, 1)).collect();
    for (i, n) in ifaces.iter().enumerate() {
        interfaces.push(LabInterface {
            name: n.clone(),
            addresses: vec![format!("{}/{plen}", node_addr(i, family, 1))],
            kind: InterfaceKind::Veth,
        });
        neighbors.push(Neighbor::new(n, node_addr(i, family, 2)));
    }
    let uplink = ifaces.first().cloned().unwrap_or_else(|| "eth0".into());
    let inner = ifaces.get(1).cloned().unwrap_or_else(|| uplink.clone());
    let mut routes = vec![LabRoute {
        to: "default".into(),
        via: Some(node_addr(0, family, 2).to_string()),
        dev: uplink.clone(),
    }];
    // DNAT targets live behind the second interface.
    for f in &all {
        let Some(to) = &f.dnat_to else { continue };
        let addr = if family == Family::Ipv6 {
            to.trim_start_matches('[').split(']').next().unwrap_or("")
        } else {
            to.split([':', '-']).next().unwrap_or("")
        };
        let Ok(ip) = addr.parse::<IpAddr>() else {
            continue;
        };
        if Family::of(&ip) != family
            || !usable(ip)
            || node_addrs.contains(&ip)
            || neighbors.iter().any(|n| n.address == ip)
        {
            continue;
        }
        neighbors.push(Neighbor::new(&inner, ip));
        let host_len = if family == Family::Ipv4 { 32 } else { 128 };
        routes.push(LabRoute {
            to: format!("{ip}/{host_len}"),
            via: None,
            dev: inner.clone(),
        });
    }
    let host = LabHost {
        forwarding_v4: true,
        forwarding_v6: true,
        interfaces,
        routes,
        bridge_nf_call_iptables: false,
    };

    // Candidate rules: DNAT first, then decisions and jumps with something to aim at.
    let aimed =
        |f: &RuleFacts| f.src.is_some() || f.dst.is_some() || f.iif.is_some() || f.dport.is_some();
    let mut candidates: Vec<&RuleFacts> = all.iter().filter(|f| f.dnat_to.is_some()).collect();
    candidates.extend(all.iter().filter(|f| {
        f.dnat_to.is_none()
            && aimed(f)
            && f.target.as_deref().is_some_and(|t| {
                !matches!(t, "LOG" | "NFLOG" | "ULOG" | "CT" | "NOTRACK" | "TCPMSS")
            })
    }));
    let step = (candidates.len() as f64 / max_packets.max(1) as f64).max(1.0);
    let mut packets: Vec<PacketSpec> = Vec::new();
    let mut k = 0.0;
    while (k as usize) < candidates.len() && packets.len() < max_packets {
        if let Some(f) = candidates.get(k as usize)
            && let Some(p) = packet_for(f, family, &ifaces, &node_addrs, packets.len())
            && !packets.contains(&p)
        {
            packets.push(p);
        }
        k += step;
    }
    // Rulesets with little to aim at still get a delivered, a forwarded and a local packet.
    if packets.len() < 3 {
        let up = Ingress::Interface(uplink.clone());
        let generic = [
            (node_addr(0, family, 2), node_addr(0, family, 1), up.clone()),
            (node_addr(0, family, 2), node_addr(1, family, 2), up),
            (
                node_addr(0, family, 1),
                node_addr(1, family, 2),
                Ingress::Local,
            ),
        ];
        for (i, (src, dst, ingress)) in generic.into_iter().enumerate() {
            let p = PacketSpec::tcp(
                (src, 41000 + i as u16).into(),
                (dst, 80).into(),
                tcp_flags::SYN,
                ingress,
            );
            if packets.len() < 3 && !packets.contains(&p) {
                packets.push(p);
            }
        }
    }
    Case {
        name: format!("corpus-{name}"),
        host,
        neighbors,
        family,
        rules: rules.to_string(),
        packets: packets
            .into_iter()
            .map(|p| CasePacket {
                flush_conntrack: true,
                packet: PacketTemplate::Fixed(p),
            })
            .collect(),
    }
}

fn packet_for(
    f: &RuleFacts,
    family: Family,
    ifaces: &[String],
    node_addrs: &[IpAddr],
    n: usize,
) -> Option<PacketSpec> {
    let local = f.chain == "OUTPUT" || f.chain == "POSTROUTING" && f.iif.is_none() && n % 2 == 1;
    let iif = f
        .iif
        .as_deref()
        .and_then(concrete_iface)
        .filter(|i| ifaces.contains(i));
    let ingress_if = iif.clone().or_else(|| ifaces.first().cloned())?;
    let idx = ifaces.iter().position(|i| *i == ingress_if).unwrap_or(0);
    let mut src = f
        .src
        .as_deref()
        .and_then(|s| inside(s, family))
        .unwrap_or_else(|| {
            if local {
                node_addrs
                    .first()
                    .copied()
                    .unwrap_or(node_addr(0, family, 1))
            } else {
                node_addr(idx, family, 2)
            }
        });
    let dst = f
        .dst
        .as_deref()
        .and_then(|d| inside(d, family))
        .unwrap_or_else(|| match f.chain.as_str() {
            "INPUT" | "PREROUTING" => node_addrs
                .get(idx)
                .copied()
                .unwrap_or(node_addr(0, family, 1)),
            _ => {
                let other = if idx == 0 { 1 } else { 0 };
                node_addr(other, family, 2)
            }
        });
    let ingress = if local || node_addrs.contains(&src) {
        if !node_addrs.contains(&src) {
            src = node_addrs.first().copied()?;
        }
        Ingress::Local
    } else {
        Ingress::Interface(ingress_if)
    };
    if src == dst || Family::of(&src) != Family::of(&dst) {
        return None;
    }
    let proto = match f.proto.as_deref() {
        Some("udp" | "17") => Proto::Udp,
        Some("icmp" | "1") if family == Family::Ipv4 => Proto::Icmp,
        Some("icmpv6" | "ipv6-icmp" | "58") if family == Family::Ipv6 => Proto::Icmpv6,
        Some("tcp" | "6") | None => Proto::Tcp,
        Some(_) => return None,
    };
    let sport = f.sport.unwrap_or(40000 + n as u16);
    let dport = f.dport.unwrap_or(80);
    Some(match proto {
        Proto::Icmp | Proto::Icmpv6 => PacketSpec::echo_request(src, dst, sport, ingress),
        Proto::Udp => PacketSpec::udp((src, sport).into(), (dst, dport).into(), ingress),
        _ => PacketSpec::tcp(
            (src, sport).into(),
            (dst, dport).into(),
            tcp_flags::SYN,
            ingress,
        ),
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn case_from_a_kube_like_ruleset() {
        let rules = "*nat\n:PREROUTING ACCEPT [0:0]\n:KUBE-SERVICES - [0:0]\n:KUBE-SEP-A - [0:0]\n\
            -A PREROUTING -j KUBE-SERVICES\n\
            -A KUBE-SERVICES -d 10.96.0.10/32 -p udp -m udp --dport 53 -j KUBE-SEP-A\n\
            -A KUBE-SEP-A -p udp -j DNAT --to-destination 10.244.1.5:53\nCOMMIT\n\
            *filter\n:INPUT ACCEPT [0:0]\n-A INPUT -i cali+ -s 192.168.0.0/16 -p tcp -m tcp --dport 22 -j DROP\nCOMMIT\n";
        let case = corpus_case("k", rules, 10);
        assert_eq!(case.family, Family::Ipv4);
        assert!(
            case.neighbors
                .iter()
                .any(|n| n.address.to_string() == "10.244.1.5")
        );
        assert!(case.host.interfaces.iter().any(|i| i.name == "cali0"));
        let texts: Vec<String> = case
            .packets
            .iter()
            .map(|p| match &p.packet {
                PacketTemplate::Fixed(s) => crate::case::packet_text(s),
                _ => String::new(),
            })
            .collect();
        assert!(
            texts
                .iter()
                .any(|t| t.starts_with("udp ") && t.contains("-> 10.96.0.10:53")),
            "{texts:?}"
        );
        assert!(
            texts.iter().any(|t| t.contains("192.168.0.1:")
                && t.contains(":22 ")
                && t.contains("in=cali0")),
            "{texts:?}"
        );
    }

    #[test]
    fn families_and_prefixes() {
        assert_eq!(
            family_of("-A INPUT -s 2001:db8::/32 -j ACCEPT\n"),
            Family::Ipv6
        );
        assert_eq!(
            family_of("-A INPUT -s 10.0.0.0/8 -j ACCEPT\n"),
            Family::Ipv4
        );
        assert_eq!(
            inside("10.1.2.0/24", Family::Ipv4),
            Some("10.1.2.1".parse().unwrap())
        );
        assert_eq!(inside("0.0.0.0/0", Family::Ipv4), None);
        assert_eq!(concrete_iface("tun+").as_deref(), Some("tun0"));
    }
}
