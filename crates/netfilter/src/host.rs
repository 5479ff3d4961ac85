//! The host a ruleset runs on: interfaces and their addresses, bridges and their ports, routes,
//! and the forwarding switches. Read from a small YAML file or from what `ip -j address show`,
//! `ip -j route show` and `bridge -j link show` print (all pure functions over strings).
//!
//! ```
//! use chainwalk_netfilter::host::Host;
//!
//! let host = Host::from_yaml("forwarding: true\ninterfaces:\n  - name: eth0\n    addresses: [192.168.49.2/24]\nroutes:\n  - to: default\n    via: 192.168.49.1\n    dev: eth0\n").unwrap();
//! assert!(host.is_local("192.168.49.2".parse().unwrap()));
//! ```

use std::net::IpAddr;

use serde::Deserialize;

use crate::model::{Family, IfName};

/// An address assigned to an interface, with its prefix length.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct IfAddr {
    /// The address.
    pub addr: IpAddr,
    /// The prefix length of the connected network.
    pub prefix: u8,
}

impl IfAddr {
    /// Parses `ADDRESS/PREFIX` (a bare address means a host prefix).
    pub fn parse(text: &str) -> Option<IfAddr> {
        let (a, p) = match text.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (text, None),
        };
        let addr: IpAddr = a.trim().parse().ok()?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match p {
            Some(p) => p.trim().parse::<u8>().ok().filter(|p| *p <= max)?,
            None => max,
        };
        Some(IfAddr { addr, prefix })
    }

    /// Whether `ip` lies in this address's connected network.
    pub fn contains(&self, ip: IpAddr) -> bool {
        prefix_contains(self.addr, self.prefix, ip)
    }

    /// The subnet's broadcast address (IPv4, prefixes below /31).
    pub fn broadcast(&self) -> Option<IpAddr> {
        match self.addr {
            IpAddr::V4(a) if self.prefix < 31 => {
                let host_bits = u32::MAX.checked_shr(u32::from(self.prefix)).unwrap_or(0);
                Some(IpAddr::V4((u32::from(a) | host_bits).into()))
            }
            _ => None,
        }
    }
}

/// Whether `ip` is in `net/prefix`.
pub fn prefix_contains(net: IpAddr, prefix: u8, ip: IpAddr) -> bool {
    match (net, ip) {
        (IpAddr::V4(n), IpAddr::V4(i)) => {
            let mask = u32::MAX
                .checked_shl(32 - u32::from(prefix.min(32)))
                .unwrap_or(0);
            u32::from(n) & mask == u32::from(i) & mask
        }
        (IpAddr::V6(n), IpAddr::V6(i)) => {
            let mask = u128::MAX
                .checked_shl(128 - u32::from(prefix.min(128)))
                .unwrap_or(0);
            u128::from(n) & mask == u128::from(i) & mask
        }
        _ => false,
    }
}

/// One network interface.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Interface {
    /// Its name.
    pub name: IfName,
    /// Its addresses.
    pub addresses: Vec<IfAddr>,
    /// Whether it is a bridge.
    pub bridge: bool,
    /// The bridge it is a port of.
    pub master: Option<IfName>,
    /// Addresses known to sit behind this interface (neighbours; for a bridge port, the hosts
    /// on that port), used to tell which bridge port a packet leaves through.
    pub neighbors: Vec<IpAddr>,
}

/// What kind of route.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RouteKind {
    /// An ordinary route.
    Unicast,
    /// Local delivery (an address of this host).
    Local,
    /// A broadcast address of a connected network (delivered locally).
    Broadcast,
    /// Silently discarded.
    Blackhole,
    /// Discarded with "network unreachable".
    Unreachable,
    /// Discarded with "administratively prohibited".
    Prohibit,
}

/// One route of the main table.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Route {
    /// The destination network; prefix 0 is the default route.
    pub dst: IfAddr,
    /// The gateway.
    pub via: Option<IpAddr>,
    /// The output device.
    pub dev: Option<IfName>,
    /// The preferred source address.
    pub src: Option<IpAddr>,
    /// The route type.
    pub kind: RouteKind,
    /// The metric (lower wins among equal prefixes).
    pub metric: u32,
}

/// The host model.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Host {
    /// Interfaces, in order.
    pub interfaces: Vec<Interface>,
    /// Routes of the main table as given (connected routes are implied by the addresses).
    pub routes: Vec<Route>,
    /// `net.ipv4.ip_forward`.
    pub forwarding_v4: bool,
    /// `net.ipv6.conf.all.forwarding`.
    pub forwarding_v6: bool,
    /// `net.bridge.bridge-nf-call-iptables`: bridged IPv4 traffic passes through iptables.
    pub bridge_nf_call_iptables: bool,
    /// `net.bridge.bridge-nf-call-ip6tables`.
    pub bridge_nf_call_ip6tables: bool,
    /// Whether the host uses IPsec (has xfrm policies or states): `Some(false)` says it has
    /// none, so no packet leaves through an IPsec transform (`-m policy --dir out`); `None`
    /// when not known.
    pub ipsec: Option<bool>,
    /// What was assumed rather than read (empty for a host read from a file).
    pub assumptions: Vec<String>,
}

/// Why a host description could not be read.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum HostError {
    /// The YAML or JSON did not parse.
    #[error("cannot read the host description: {0}")]
    Syntax(String),
    /// A value is malformed.
    #[error("{0}")]
    Invalid(String),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct HostFile {
    #[serde(default)]
    forwarding: Option<Forwarding>,
    #[serde(default, alias = "forwarding_v6")]
    forwarding6: Option<bool>,
    #[serde(default, alias = "bridge-nf-call-iptables")]
    bridge_nf_call_iptables: Option<bool>,
    #[serde(default, alias = "bridge-nf-call-ip6tables")]
    bridge_nf_call_ip6tables: Option<bool>,
    #[serde(default)]
    ipsec: Option<bool>,
    #[serde(default)]
    interfaces: Vec<IfaceFile>,
    #[serde(default)]
    routes: Vec<RouteFile>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum Forwarding {
    Both(bool),
    Split {
        #[serde(default)]
        ipv4: bool,
        #[serde(default)]
        ipv6: bool,
    },
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct IfaceFile {
    name: String,
    #[serde(default)]
    addresses: Vec<String>,
    #[serde(default)]
    bridge: bool,
    #[serde(default)]
    kind: Option<String>,
    #[serde(default)]
    ports: Vec<String>,
    #[serde(default)]
    master: Option<String>,
    #[serde(default)]
    neighbors: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RouteFile {
    to: String,
    #[serde(default)]
    via: Option<String>,
    #[serde(default)]
    dev: Option<String>,
    #[serde(default)]
    src: Option<String>,
    #[serde(default, rename = "type")]
    kind: Option<String>,
    #[serde(default)]
    metric: Option<u32>,
}

fn addr(text: &str, what: &str) -> Result<IpAddr, HostError> {
    text.trim()
        .parse()
        .map_err(|_| HostError::Invalid(format!("{what} `{text}` is not an IP address")))
}

/// An interface name as the kernel allows it.
fn ifname(text: &str) -> Result<IfName, HostError> {
    IfName::new(text)
        .filter(|_| !text.ends_with('+'))
        .ok_or_else(|| {
            HostError::Invalid(format!(
                "`{text}` is not an interface name (1 to {} bytes, no `/`, `:` or blanks)",
                IfName::MAX_LEN
            ))
        })
}

fn route_kind(text: Option<&str>) -> Result<RouteKind, HostError> {
    Ok(match text.unwrap_or("unicast") {
        "unicast" => RouteKind::Unicast,
        "local" => RouteKind::Local,
        "broadcast" => RouteKind::Broadcast,
        "blackhole" => RouteKind::Blackhole,
        "unreachable" => RouteKind::Unreachable,
        "prohibit" => RouteKind::Prohibit,
        other => {
            return Err(HostError::Invalid(format!(
                "unknown route type `{other}` (unicast, local, blackhole, unreachable, prohibit)"
            )));
        }
    })
}

fn route_dst(to: &str, family_hint: Option<Family>) -> Result<IfAddr, HostError> {
    if to == "default" {
        let unspec: IpAddr = match family_hint {
            Some(Family::Ipv6) => IpAddr::V6(std::net::Ipv6Addr::UNSPECIFIED),
            _ => IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED),
        };
        return Ok(IfAddr {
            addr: unspec,
            prefix: 0,
        });
    }
    IfAddr::parse(to).ok_or_else(|| {
        HostError::Invalid(format!("route destination `{to}` is not ADDRESS/PREFIX"))
    })
}

impl Host {
    /// Reads the YAML host description (see `testdata/example-node/host.yaml`).
    pub fn from_yaml(text: &str) -> Result<Host, HostError> {
        let file: HostFile =
            serde_saphyr::from_str(text).map_err(|e| HostError::Syntax(e.to_string()))?;
        let (f4, f6) = match file.forwarding {
            None => (false, false),
            Some(Forwarding::Both(b)) => (b, file.forwarding6.unwrap_or(false)),
            Some(Forwarding::Split { ipv4, ipv6 }) => (ipv4, ipv6),
        };
        let mut host = Host {
            interfaces: Vec::new(),
            routes: Vec::new(),
            forwarding_v4: f4,
            forwarding_v6: file.forwarding6.unwrap_or(f6),
            bridge_nf_call_iptables: file.bridge_nf_call_iptables.unwrap_or(false),
            bridge_nf_call_ip6tables: file.bridge_nf_call_ip6tables.unwrap_or(false),
            ipsec: file.ipsec,
            assumptions: Vec::new(),
        };
        let mut port_of: Vec<(IfName, IfName)> = Vec::new();
        for i in file.interfaces {
            let name = ifname(&i.name)?;
            let mut addresses = Vec::new();
            for a in &i.addresses {
                addresses.push(IfAddr::parse(a).ok_or_else(|| {
                    HostError::Invalid(format!("interface {}: `{a}` is not ADDRESS/PREFIX", i.name))
                })?);
            }
            let mut neighbors = Vec::new();
            for n in &i.neighbors {
                neighbors.push(addr(n, "neighbour")?);
            }
            for p in &i.ports {
                port_of.push((ifname(p)?, name));
            }
            host.interfaces.push(Interface {
                bridge: i.bridge || i.kind.as_deref() == Some("bridge") || !i.ports.is_empty(),
                name,
                addresses,
                master: i.master.as_deref().map(ifname).transpose()?,
                neighbors,
            });
        }
        for (port, bridge) in port_of {
            match host.interfaces.iter_mut().find(|i| i.name == port) {
                Some(i) => i.master = Some(bridge),
                None => host.interfaces.push(Interface {
                    name: port,
                    addresses: Vec::new(),
                    bridge: false,
                    master: Some(bridge),
                    neighbors: Vec::new(),
                }),
            }
        }
        for r in file.routes {
            let via = r.via.as_deref().map(|v| addr(v, "gateway")).transpose()?;
            let hint = via.map(|v| {
                if v.is_ipv4() {
                    Family::Ipv4
                } else {
                    Family::Ipv6
                }
            });
            host.routes.push(Route {
                dst: route_dst(&r.to, hint)?,
                via,
                dev: r.dev.as_deref().map(ifname).transpose()?,
                src: r.src.as_deref().map(|v| addr(v, "source")).transpose()?,
                kind: route_kind(r.kind.as_deref())?,
                metric: r.metric.unwrap_or(0),
            });
        }
        host.validate()?;
        Ok(host)
    }

    /// Builds a host from `ip -j address show` output, optionally with `ip -j route show`
    /// (IPv4 and IPv6 outputs may be concatenated as separate JSON arrays) and
    /// `bridge -j link show` output. Forwarding switches are not in these outputs: pass them.
    pub fn from_ip_json(
        addresses: &str,
        routes: Option<&str>,
        bridge_links: Option<&str>,
        forwarding_v4: bool,
        forwarding_v6: bool,
    ) -> Result<Host, HostError> {
        let json_arrays = |text: &str| -> Result<Vec<serde_json::Value>, HostError> {
            let mut out = Vec::new();
            for v in serde_json::Deserializer::from_str(text).into_iter::<serde_json::Value>() {
                let v = v.map_err(|e| HostError::Syntax(e.to_string()))?;
                match v {
                    serde_json::Value::Array(a) => out.extend(a),
                    _ => return Err(HostError::Syntax("expected a JSON array".into())),
                }
            }
            Ok(out)
        };
        let s =
            |v: &serde_json::Value, k: &str| v.get(k).and_then(|x| x.as_str()).map(str::to_string);
        let mut host = Host {
            interfaces: Vec::new(),
            routes: Vec::new(),
            forwarding_v4,
            forwarding_v6,
            bridge_nf_call_iptables: false,
            bridge_nf_call_ip6tables: false,
            ipsec: None,
            assumptions: Vec::new(),
        };
        for link in json_arrays(addresses)? {
            let Some(name) = s(&link, "ifname") else {
                continue;
            };
            let name = ifname(&name)?;
            let mut addrs = Vec::new();
            for a in link
                .get("addr_info")
                .and_then(|a| a.as_array())
                .into_iter()
                .flatten()
            {
                let (Some(local), Some(prefix)) =
                    (s(a, "local"), a.get("prefixlen").and_then(|p| p.as_u64()))
                else {
                    continue;
                };
                let text = format!("{local}/{prefix}");
                addrs.push(IfAddr::parse(&text).ok_or_else(|| {
                    HostError::Invalid(format!("interface {name}: bad address `{text}`"))
                })?);
            }
            let kind = link
                .get("linkinfo")
                .and_then(|l| l.get("info_kind"))
                .and_then(|k| k.as_str());
            host.interfaces.push(Interface {
                bridge: kind == Some("bridge"),
                master: s(&link, "master").as_deref().map(ifname).transpose()?,
                name,
                addresses: addrs,
                neighbors: Vec::new(),
            });
        }
        if let Some(links) = bridge_links {
            for l in json_arrays(links)? {
                let (Some(name), Some(master)) = (s(&l, "ifname"), s(&l, "master")) else {
                    continue;
                };
                let master = ifname(&master)?;
                if let Some(i) = host.interfaces.iter_mut().find(|i| i.name == name) {
                    i.master = Some(master);
                }
                if let Some(b) = host.interfaces.iter_mut().find(|i| i.name == master) {
                    b.bridge = true;
                }
            }
        }
        // A master that is not a bond/vrf named as bridge is taken to be a bridge.
        let masters: Vec<IfName> = host.interfaces.iter().filter_map(|i| i.master).collect();
        for m in masters {
            if let Some(b) = host.interfaces.iter_mut().find(|i| i.name == m) {
                b.bridge = true;
            }
        }
        if let Some(routes) = routes {
            for r in json_arrays(routes)? {
                let Some(dst) = s(&r, "dst") else { continue };
                let via = s(&r, "gateway").map(|g| addr(&g, "gateway")).transpose()?;
                let hint = via.map(|v| {
                    if v.is_ipv4() {
                        Family::Ipv4
                    } else {
                        Family::Ipv6
                    }
                });
                host.routes.push(Route {
                    dst: route_dst(&dst, hint)?,
                    via,
                    dev: s(&r, "dev").as_deref().map(ifname).transpose()?,
                    src: s(&r, "prefsrc").map(|g| addr(&g, "source")).transpose()?,
                    kind: route_kind(s(&r, "type").as_deref())?,
                    metric: r
                        .get("metric")
                        .and_then(|m| m.as_u64())
                        .and_then(|m| u32::try_from(m).ok())
                        .unwrap_or(0),
                });
            }
        }
        host.validate()?;
        Ok(host)
    }

    /// A host assumed when none is given: a loopback interface, the interfaces the packets
    /// name, a default route out of the first of them, forwarding on. The assumptions are
    /// listed in [`Host::assumptions`].
    pub fn assumed(ifaces: &[IfName]) -> Host {
        let mut interfaces = vec![Interface {
            name: IfName::LO,
            addresses: vec![
                IfAddr {
                    addr: IpAddr::V4(std::net::Ipv4Addr::LOCALHOST),
                    prefix: 8,
                },
                IfAddr {
                    addr: IpAddr::V6(std::net::Ipv6Addr::LOCALHOST),
                    prefix: 128,
                },
            ],
            bridge: false,
            master: None,
            neighbors: Vec::new(),
        }];
        let eth0 = IfName::new("eth0").unwrap_or(IfName::LO);
        let mut names: Vec<IfName> = ifaces.iter().filter(|n| **n != "lo").copied().collect();
        names.dedup();
        if names.is_empty() {
            names.push(eth0);
        }
        for n in &names {
            if !interfaces.iter().any(|i| &i.name == n) {
                interfaces.push(Interface {
                    name: *n,
                    addresses: Vec::new(),
                    bridge: false,
                    master: None,
                    neighbors: Vec::new(),
                });
            }
        }
        let out = names.first().copied().unwrap_or(eth0);
        let default = |addr: IpAddr| Route {
            dst: IfAddr { addr, prefix: 0 },
            via: None,
            dev: Some(out),
            src: None,
            kind: RouteKind::Unicast,
            metric: 0,
        };
        Host {
            routes: vec![
                default(IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED)),
                default(IpAddr::V6(std::net::Ipv6Addr::UNSPECIFIED)),
            ],
            interfaces,
            forwarding_v4: true,
            forwarding_v6: true,
            bridge_nf_call_iptables: false,
            bridge_nf_call_ip6tables: false,
            ipsec: None,
            assumptions: vec![
                format!("no host given: interfaces {} besides lo, with no addresses", names.join(", ")),
                "the only local addresses are 127.0.0.0/8 and ::1 (addrtype LOCAL matches nothing else)".into(),
                format!("every other destination is routed out of {out}"),
                "forwarding is on (net.ipv4.ip_forward=1, IPv6 forwarding=1); no bridges".into(),
            ],
        }
    }

    fn validate(&self) -> Result<(), HostError> {
        for r in &self.routes {
            if let Some(d) = &r.dev
                && self.interface(d).is_none()
            {
                return Err(HostError::Invalid(format!(
                    "a route names device `{d}`, which has no interface entry"
                )));
            }
            if let (RouteKind::Unicast, Some(via), None) = (r.kind, r.via, r.dev)
                && crate::route::gateway_dev(self, via).is_none()
            {
                return Err(HostError::Invalid(format!(
                    "the route to {}/{} has gateway {via}, which no connected network or \
                     device route reaches (the kernel refuses it: Nexthop has invalid gateway)",
                    r.dst.addr, r.dst.prefix
                )));
            }
        }
        for i in &self.interfaces {
            if let Some(m) = &i.master
                && self.interface(m).is_none()
            {
                return Err(HostError::Invalid(format!(
                    "interface {} is a port of `{m}`, which has no interface entry",
                    i.name
                )));
            }
        }
        Ok(())
    }

    /// The interface with this name.
    pub fn interface(&self, name: &str) -> Option<&Interface> {
        self.interfaces.iter().find(|i| i.name == name)
    }

    /// Whether `ip` is an address of this host (any interface, or loopback 127.0.0.0/8, ::1).
    pub fn is_local(&self, ip: IpAddr) -> bool {
        ip.is_loopback()
            || self
                .interfaces
                .iter()
                .any(|i| i.addresses.iter().any(|a| a.addr == ip))
            || self
                .routes
                .iter()
                .any(|r| r.kind == RouteKind::Local && r.dst.contains(ip))
    }

    /// The interface holding local address `ip`.
    pub fn local_iface(&self, ip: IpAddr) -> Option<&Interface> {
        if ip.is_loopback() {
            return self.interface("lo");
        }
        self.interfaces
            .iter()
            .find(|i| i.addresses.iter().any(|a| a.addr == ip))
    }

    /// Whether `ip` is a broadcast address of a connected network (or the limited broadcast).
    pub fn is_broadcast(&self, ip: IpAddr) -> bool {
        if let IpAddr::V4(a) = ip
            && (a.is_broadcast() || a.octets()[0] == 0)
        {
            return true;
        }
        self.interfaces
            .iter()
            .any(|i| i.addresses.iter().any(|a| a.broadcast() == Some(ip)))
    }

    /// Whether forwarding is on for this family.
    pub fn forwarding(&self, family: Family) -> bool {
        match family {
            Family::Ipv4 => self.forwarding_v4,
            Family::Ipv6 => self.forwarding_v6,
        }
    }

    /// Whether bridged traffic of this family passes through the ip(6)tables hooks.
    pub fn bridge_calls_iptables(&self, family: Family) -> bool {
        match family {
            Family::Ipv4 => self.bridge_nf_call_iptables,
            Family::Ipv6 => self.bridge_nf_call_ip6tables,
        }
    }

    /// The bridge this interface is a port of.
    pub fn bridge_of(&self, port: &str) -> Option<&Interface> {
        let m = self.interface(port)?.master.as_deref()?;
        self.interface(m).filter(|b| b.bridge)
    }

    /// The port of `bridge` behind which `ip` sits, when the host says so.
    pub fn bridge_port_for(&self, bridge: &str, ip: IpAddr) -> Option<&Interface> {
        self.interfaces
            .iter()
            .find(|i| i.master.as_deref() == Some(bridge) && i.neighbors.contains(&ip))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const EXAMPLE: &str = include_str!("../../../testdata/example-node/host.yaml");

    #[test]
    fn example_node_reads() {
        let h = Host::from_yaml(EXAMPLE).unwrap();
        assert!(h.forwarding_v4);
        assert_eq!(h.interfaces.len(), 3);
        assert_eq!(h.routes.len(), 3);
        assert!(h.is_local("10.244.0.1".parse().unwrap()));
        assert!(h.is_local("127.0.0.9".parse().unwrap()));
        assert!(!h.is_local("10.244.0.6".parse().unwrap()));
        assert!(h.is_broadcast("10.244.0.255".parse().unwrap()));
    }

    #[test]
    fn bridges_and_errors() {
        let h = Host::from_yaml("bridge-nf-call-iptables: true\ninterfaces:\n  - name: cni0\n    addresses: [10.244.0.1/24]\n    ports: [veth6]\n  - name: veth6\n    neighbors: [10.244.0.6]\n").unwrap();
        assert!(h.bridge_nf_call_iptables);
        assert_eq!(h.bridge_of("veth6").map(|b| b.name.as_str()), Some("cni0"));
        assert_eq!(
            h.bridge_port_for("cni0", "10.244.0.6".parse().unwrap())
                .map(|p| p.name.as_str()),
            Some("veth6")
        );
        assert!(
            Host::from_yaml("interfaces:\n  - name: e\n    addresses: [10.0.0.300/24]\n").is_err()
        );
        assert!(Host::from_yaml("routes:\n  - to: default\n    dev: nothere\n").is_err());
        assert!(Host::from_yaml("bogus: 1\n").is_err());
        // Linux interface names are at most 15 bytes.
        assert!(Host::from_yaml("interfaces:\n  - name: cali0123456789a\n").is_ok());
        let long = Host::from_yaml("interfaces:\n  - name: cali0123456789ab\n");
        assert!(
            matches!(&long, Err(HostError::Invalid(m)) if m.contains("cali0123456789ab")),
            "{long:?}"
        );
        assert!(Host::from_ip_json(r#"[{"ifname": "a/b"}]"#, None, None, true, true).is_err());
    }

    #[test]
    fn ip_json() {
        let addrs = r#"[{"ifindex":1,"ifname":"lo","addr_info":[{"family":"inet","local":"127.0.0.1","prefixlen":8}]},
            {"ifindex":2,"ifname":"eth0","addr_info":[{"family":"inet","local":"192.168.49.2","prefixlen":24},{"family":"inet6","local":"fe80::1","prefixlen":64}]},
            {"ifindex":3,"ifname":"cni0","linkinfo":{"info_kind":"bridge"},"addr_info":[{"family":"inet","local":"10.244.0.1","prefixlen":24}]},
            {"ifindex":4,"ifname":"veth6","master":"cni0","addr_info":[]}]"#;
        let routes = r#"[{"dst":"default","gateway":"192.168.49.1","dev":"eth0","flags":[]},{"dst":"10.244.0.0/24","dev":"cni0","prefsrc":"10.244.0.1"}]"#;
        let bridge = r#"[{"ifindex":4,"ifname":"veth6","master":"cni0","state":"forwarding"}]"#;
        let h = Host::from_ip_json(addrs, Some(routes), Some(bridge), true, false).unwrap();
        assert_eq!(h.interfaces.len(), 4);
        assert!(h.interface("cni0").unwrap().bridge);
        assert_eq!(h.bridge_of("veth6").unwrap().name, "cni0");
        assert_eq!(h.routes[0].dst.prefix, 0);
        assert_eq!(h.routes[1].src, Some("10.244.0.1".parse().unwrap()));
        assert!(Host::from_ip_json("{", None, None, true, true).is_err());
    }
}
