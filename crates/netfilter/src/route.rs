//! The routing decision: local delivery, longest-prefix match over the main table (with the
//! connected routes the addresses imply), and source address selection for local packets.

use std::net::IpAddr;

use crate::host::{Host, IfAddr, RouteKind, prefix_contains};
use crate::model::IfName;

/// Where a destination goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RouteResult {
    /// The route type (`Local`/`Broadcast` for local delivery).
    pub kind: RouteKind,
    /// The output device (`lo` for local delivery of a local packet; the address's interface
    /// for an arriving one).
    pub dev: IfName,
    /// The gateway, when the route has one.
    pub via: Option<IpAddr>,
    /// The source address a local packet gets on this route.
    pub src: Option<IpAddr>,
    /// The matched route's destination, for explanations.
    pub matched: Option<IfAddr>,
}

/// Why there is no route.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("no route to {0}")]
pub struct NoRoute(pub IpAddr);

/// Looks `dst` up as the kernel's FIB would: the local table first (addresses of the host,
/// broadcast addresses), then the main table by longest prefix, lower metric first.
pub fn lookup(host: &Host, dst: IpAddr) -> Result<RouteResult, NoRoute> {
    if host.is_local(dst) {
        let dev = host.local_iface(dst).map_or(IfName::LO, |i| i.name);
        return Ok(RouteResult {
            kind: RouteKind::Local,
            dev,
            via: None,
            src: Some(dst),
            matched: None,
        });
    }
    if host.is_broadcast(dst) {
        let dev = host
            .interfaces
            .iter()
            .find(|i| i.addresses.iter().any(|a| a.broadcast() == Some(dst)))
            .map(|i| i.name);
        // The limited broadcast (and 0.0.0.0/8) leaves by the main table's route.
        let dev = match dev {
            Some(d) => d,
            None => main_table(host, dst).map_or(IfName::LO, |r| r.dev),
        };
        let src = select_source(host, &dev, dst);
        return Ok(RouteResult {
            kind: RouteKind::Broadcast,
            dev,
            via: None,
            src,
            matched: None,
        });
    }
    main_table(host, dst)
}

/// A main-table route `lookup` weighs.
struct Cand {
    dst: IfAddr,
    via: Option<IpAddr>,
    dev: Option<IfName>,
    src: Option<IpAddr>,
    kind: RouteKind,
    metric: u32,
}

/// The main table's routes in the host's order: the explicit ones, then the connected
/// routes each address implies.
fn candidates(host: &Host) -> impl Iterator<Item = Cand> + '_ {
    let explicit = host
        .routes
        .iter()
        .filter(|r| r.kind != RouteKind::Local)
        .map(|r| Cand {
            dst: r.dst,
            via: r.via,
            dev: r.dev,
            src: r.src,
            kind: r.kind,
            metric: r.metric,
        });
    let connected = host.interfaces.iter().flat_map(|i| {
        i.addresses
            .iter()
            .filter(|a| !a.addr.is_loopback())
            .map(move |a| Cand {
                dst: *a,
                via: None,
                dev: Some(i.name),
                src: Some(a.addr),
                kind: RouteKind::Unicast,
                metric: u32::MAX,
            })
    });
    explicit.chain(connected)
}

/// The best of some candidates: the longest prefix, then the lower metric, then the first
/// (explicit routes come before connected ones).
fn best(cands: impl Iterator<Item = Cand>) -> Option<Cand> {
    let mut best: Option<Cand> = None;
    for c in cands {
        let better = best.as_ref().is_none_or(|b| {
            c.dst
                .prefix
                .cmp(&b.dst.prefix)
                .then(b.metric.cmp(&c.metric))
                .is_gt()
        });
        if better {
            best = Some(c);
        }
    }
    best
}

/// Looks `dst` up in the main table by longest prefix, lower metric first.
fn main_table(host: &Host, dst: IpAddr) -> Result<RouteResult, NoRoute> {
    let best = best(candidates(host).filter(|c| c.dst.contains(dst))).ok_or(NoRoute(dst))?;
    let dev = match (&best.dev, best.via) {
        (Some(d), _) => *d,
        (None, Some(via)) => gateway_dev(host, via).ok_or(NoRoute(dst))?,
        (None, None) => return Err(NoRoute(dst)),
    };
    let src = best
        .src
        .or_else(|| select_source(host, &dev, best.via.unwrap_or(dst)));
    Ok(RouteResult {
        kind: best.kind,
        dev,
        via: best.via,
        src,
        matched: Some(best.dst),
    })
}

/// The device a gateway is reached by, for a route that names none: the interface holding
/// the gateway when it is an address of the host, else the device of the on-link route
/// (a connected network, or a route with a device and no gateway) with the longest prefix
/// holding it, lower metric first. A gateway reached only through another gateway has
/// none: the kernel refuses such a route ("Nexthop has invalid gateway").
pub fn gateway_dev(host: &Host, via: IpAddr) -> Option<IfName> {
    if let Some(i) = host.local_iface(via) {
        return Some(i.name);
    }
    let on_link = |c: &Cand| {
        c.kind == RouteKind::Unicast && c.via.is_none() && c.dev.is_some() && c.dst.contains(via)
    };
    best(candidates(host).filter(on_link)).and_then(|c| c.dev)
}

/// The source address a local packet gets when it leaves through `dev` towards `toward` (the
/// gateway or the destination): an address of `dev` whose network holds `toward`, else the
/// first address of `dev` of the family, else the first address of the family on any
/// interface, in the host's interface order. Loopback addresses (host scope) are never
/// chosen: a packet leaving through `lo` gets the first global address (IPv4), or, for
/// IPv6, the destination itself when it is an address of the host (`::1` included).
pub fn select_source(host: &Host, dev: &str, toward: IpAddr) -> Option<IpAddr> {
    if toward.is_ipv6() && (host.is_local(toward) || toward.is_loopback()) {
        return Some(toward);
    }
    let fam = |a: &IfAddr| a.addr.is_ipv4() == toward.is_ipv4();
    let usable = |a: &IfAddr| fam(a) && !is_link_local(a.addr) && !a.addr.is_loopback();
    if let Some(i) = host.interface(dev) {
        if let Some(a) = i.addresses.iter().find(|a| usable(a) && a.contains(toward)) {
            return Some(a.addr);
        }
        if let Some(a) = i.addresses.iter().find(|a| usable(a)) {
            return Some(a.addr);
        }
    }
    host.interfaces
        .iter()
        .flat_map(|i| i.addresses.iter())
        .find(|a| usable(a))
        .map(|a| a.addr)
}

fn is_link_local(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(_) => false,
        IpAddr::V6(a) => (a.segments()[0] & 0xffc0) == 0xfe80,
    }
}

/// The host's routing decisions compiled for many lookups: [`RouteTable::lookup`] answers
/// as [`lookup`] does, without scanning the host's interfaces and routes for each packet.
///
/// Destinations that the local table or the broadcast rules decide (the host's addresses,
/// local routes, loopback, broadcast addresses) are looked up in full. For the others, the
/// main table's candidate routes are kept best first (longest prefix, then lower metric,
/// then the host's order, as [`lookup`] ranks them), so the first route holding the
/// destination is the answer; each route's device and source addresses are worked out
/// once, unless they depend on the destination itself.
#[derive(Clone, Debug)]
pub struct RouteTable<'h> {
    host: &'h Host,
    /// Networks whose destinations are looked up in full.
    special: Prefixes,
    /// The main table's candidates, best first, with where each sits in `routes`.
    main: Prefixes,
    routes: Vec<Compiled>,
}

/// IPv4 and IPv6 networks as masked integers, kept apart so that a lookup compares
/// integers of one family only.
#[derive(Clone, Debug, Default)]
struct Prefixes {
    /// (network, mask, payload)
    v4: Vec<(u32, u32, u32)>,
    v6: Vec<(u128, u128, u32)>,
}

impl Prefixes {
    fn push(&mut self, net: IfAddr, payload: u32) {
        match net.addr {
            IpAddr::V4(a) => {
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(net.prefix.min(32)))
                    .unwrap_or(0);
                self.v4.push((u32::from(a) & mask, mask, payload));
            }
            IpAddr::V6(a) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(net.prefix.min(128)))
                    .unwrap_or(0);
                self.v6.push((u128::from(a) & mask, mask, payload));
            }
        }
    }

    /// The payload of the first network holding `ip`.
    fn first(&self, ip: IpAddr) -> Option<u32> {
        match ip {
            IpAddr::V4(a) => {
                let a = u32::from(a);
                self.v4
                    .iter()
                    .find(|(n, m, _)| a & m == *n)
                    .map(|(_, _, p)| *p)
            }
            IpAddr::V6(a) => {
                let a = u128::from(a);
                self.v6
                    .iter()
                    .find(|(n, m, _)| a & m == *n)
                    .map(|(_, _, p)| *p)
            }
        }
    }
}

/// A source address worked out when the table is made, or one that depends on the
/// destination.
#[derive(Clone, Copy, Debug)]
enum Source {
    Fixed(Option<IpAddr>),
    /// [`select_source`] on the route's device toward the destination.
    TowardDst,
}

/// One main-table candidate, compiled.
#[derive(Clone, Copy, Debug)]
struct Compiled {
    /// The route's destination.
    dst: IfAddr,
    kind: RouteKind,
    via: Option<IpAddr>,
    /// `None`: the route leads nowhere (no device, and its gateway has no route).
    dev: Option<IfName>,
    /// The source a local packet gets.
    src: Source,
    /// The source MASQUERADE picks on `dev`: [`select_source`] toward the gateway, or the
    /// destination itself.
    masquerade: Source,
}

impl<'h> RouteTable<'h> {
    /// Compiles `host`'s routes.
    pub fn new(host: &'h Host) -> RouteTable<'h> {
        let mut special = Prefixes::default();
        let exact = |addr: IpAddr| IfAddr {
            addr,
            prefix: if addr.is_ipv4() { 32 } else { 128 },
        };
        // What `Host::is_local` and `Host::is_broadcast` hold.
        for net in ["127.0.0.0/8", "::1/128", "255.255.255.255/32", "0.0.0.0/8"] {
            if let Some(n) = IfAddr::parse(net) {
                special.push(n, 0);
            }
        }
        for a in host.interfaces.iter().flat_map(|i| i.addresses.iter()) {
            special.push(exact(a.addr), 0);
            if let Some(b) = a.broadcast() {
                special.push(exact(b), 0);
            }
        }
        for r in host.routes.iter().filter(|r| r.kind == RouteKind::Local) {
            special.push(r.dst, 0);
        }
        // The candidates `main_table` weighs, in its order: explicit routes, then the
        // connected ones.
        let mut cands: Vec<Cand> = candidates(host).collect();
        // Best first; a stable sort keeps the host's order among equals, as `main_table`
        // keeps the first of equals.
        cands.sort_by(|a, b| {
            b.dst
                .prefix
                .cmp(&a.dst.prefix)
                .then(a.metric.cmp(&b.metric))
        });
        let mut main = Prefixes::default();
        let mut routes = Vec::with_capacity(cands.len());
        for Cand {
            dst,
            via,
            dev,
            src,
            kind,
            ..
        } in cands
        {
            let dev = match (dev, via) {
                (Some(d), _) => Some(d),
                (None, Some(v)) => gateway_dev(host, v),
                (None, None) => None,
            };
            let toward = |dev: IfName| match via {
                Some(v) => Source::Fixed(select_source(host, &dev, v)),
                None => fixed_source(host, &dev, dst),
            };
            let (src, masquerade) = match dev {
                Some(d) => (
                    src.map_or_else(|| toward(d), |s| Source::Fixed(Some(s))),
                    toward(d),
                ),
                None => (Source::Fixed(None), Source::Fixed(None)),
            };
            main.push(dst, u32::try_from(routes.len()).unwrap_or(u32::MAX));
            routes.push(Compiled {
                dst,
                kind,
                via,
                dev,
                src,
                masquerade,
            });
        }
        RouteTable {
            host,
            special,
            main,
            routes,
        }
    }

    /// The host the table was made for.
    pub fn host(&self) -> &'h Host {
        self.host
    }

    /// The compiled route holding `dst`: `Err` for a destination looked up in full.
    fn route(&self, dst: IpAddr) -> Result<Option<&Compiled>, ()> {
        if self.special.first(dst).is_some() {
            return Err(());
        }
        Ok(self
            .main
            .first(dst)
            .and_then(|i| self.routes.get(i as usize)))
    }

    fn source(&self, s: Source, dev: IfName, dst: IpAddr) -> Option<IpAddr> {
        match s {
            Source::Fixed(a) => a,
            Source::TowardDst => select_source(self.host, &dev, dst),
        }
    }

    /// [`lookup`] on the table's host.
    pub fn lookup(&self, dst: IpAddr) -> Result<RouteResult, NoRoute> {
        match self.route(dst) {
            Err(()) => lookup(self.host, dst),
            Ok(None) => Err(NoRoute(dst)),
            Ok(Some(c)) => {
                let dev = c.dev.ok_or(NoRoute(dst))?;
                Ok(RouteResult {
                    kind: c.kind,
                    dev,
                    via: c.via,
                    src: self.source(c.src, dev, dst),
                    matched: Some(c.dst),
                })
            }
        }
    }

    /// The address MASQUERADE gives a packet to `dst` leaving through `out`: the source
    /// [`select_source`] picks on `out` towards the route's gateway, or towards `dst` itself
    /// when the route has none.
    pub fn masquerade_source(&self, out: IfName, dst: IpAddr) -> Option<IpAddr> {
        if let Ok(Some(c)) = self.route(dst)
            && c.dev == Some(out)
        {
            return self.source(c.masquerade, out, dst);
        }
        let toward = self.lookup(dst).ok().and_then(|r| r.via).unwrap_or(dst);
        select_source(self.host, &out, toward)
    }
}

/// [`select_source`] on `dev` toward a destination of `net` that the local table does not
/// decide: fixed when it is the same for all of them, else [`Source::TowardDst`].
fn fixed_source(host: &Host, dev: &str, net: IfAddr) -> Source {
    // `select_source` answers an IPv6 destination that is local itself, but the table
    // looks local destinations up in full.
    let usable = |a: &IfAddr| {
        a.addr.is_ipv4() == net.addr.is_ipv4() && !is_link_local(a.addr) && !a.addr.is_loopback()
    };
    if let Some(i) = host.interface(dev) {
        for a in i.addresses.iter().filter(|a| usable(a)) {
            let common = a.prefix.min(net.prefix);
            if !prefix_contains(a.addr, common, net.addr) {
                // Disjoint: no destination of `net` is in `a`'s network.
                continue;
            }
            if a.prefix <= net.prefix {
                // `a`'s network holds all of `net`.
                return Source::Fixed(Some(a.addr));
            }
            // `a`'s network holds part of `net`.
            return Source::TowardDst;
        }
        if let Some(a) = i.addresses.iter().find(|a| usable(a)) {
            return Source::Fixed(Some(a.addr));
        }
    }
    Source::Fixed(
        host.interfaces
            .iter()
            .flat_map(|i| i.addresses.iter())
            .find(|a| usable(a))
            .map(|a| a.addr),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn host() -> Host {
        Host::from_yaml(include_str!("../../../testdata/example-node/host.yaml")).unwrap()
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn example_node_routes() {
        let h = host();
        let r = lookup(&h, ip("10.100.29.239")).unwrap();
        assert_eq!(
            (r.dev.as_str(), r.via, r.src),
            ("eth0", Some(ip("192.168.49.1")), Some(ip("192.168.49.2")))
        );
        let r = lookup(&h, ip("10.244.0.6")).unwrap();
        assert_eq!(
            (r.dev.as_str(), r.via, r.src),
            ("cni0", None, Some(ip("10.244.0.1")))
        );
        let r = lookup(&h, ip("192.168.49.2")).unwrap();
        assert_eq!(r.kind, RouteKind::Local);
        let r = lookup(&h, ip("127.0.0.1")).unwrap();
        assert_eq!((r.kind, r.dev.as_str()), (RouteKind::Local, "lo"));
    }

    /// The limited broadcast leaves by the main table's route, with that device's address
    /// (`ip route get 255.255.255.255` on this kernel: `broadcast 255.255.255.255 dev v2 src
    /// 10.1.0.2` with the default route on v2); a connected network's broadcast address by
    /// the interface that holds the network.
    #[test]
    fn broadcasts_leave_as_the_kernel_sends_them() {
        let h = Host::from_yaml(
            "interfaces:\n  - name: v0\n    addresses: [10.0.0.2/24]\n  - name: v2\n    addresses: [10.1.0.2/24]\nroutes:\n  - to: default\n    via: 10.1.0.1\n    dev: v2\n",
        )
        .unwrap();
        let r = lookup(&h, ip("255.255.255.255")).unwrap();
        assert_eq!(
            (r.kind, r.dev.as_str(), r.src),
            (RouteKind::Broadcast, "v2", Some(ip("10.1.0.2")))
        );
        let r = lookup(&h, ip("10.0.0.255")).unwrap();
        assert_eq!(
            (r.kind, r.dev.as_str(), r.src),
            (RouteKind::Broadcast, "v0", Some(ip("10.0.0.2")))
        );
    }

    /// Gateways resolve as this kernel accepts them (`ip route add`, checked here): through a
    /// connected network, through a device route, or to the host's own address; a gateway
    /// reached only through another gateway is refused when the host is read.
    #[test]
    fn gateways_resolve_as_the_kernel_accepts_them() {
        let base = "interfaces:\n  - name: d0\n    addresses: [10.0.0.2/24]\n  - name: d1\n    addresses: []\nroutes:\n  - to: 10.9.0.0/16\n    via: 10.0.0.1\n  - to: 10.6.0.0/16\n    dev: d1\n  - to: 10.5.0.0/16\n    via: 10.6.0.1\n  - to: 10.4.0.0/16\n    via: 10.0.0.2\n";
        let h = Host::from_yaml(base).unwrap();
        let dev = |d: &str| lookup(&h, ip(d)).map(|r| r.dev.to_string());
        assert_eq!(dev("10.9.1.1"), Ok("d0".into()));
        assert_eq!(dev("10.5.1.1"), Ok("d1".into()));
        assert_eq!(dev("10.4.1.1"), Ok("d0".into()));
        let err = Host::from_yaml(&format!("{base}  - to: 10.8.0.0/16\n    via: 10.9.0.1\n"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("invalid gateway"), "{err}");
    }

    #[test]
    fn no_default_means_no_route() {
        let h =
            Host::from_yaml("interfaces:\n  - name: eth0\n    addresses: [10.0.0.2/24]\n").unwrap();
        assert_eq!(lookup(&h, ip("8.8.8.8")), Err(NoRoute(ip("8.8.8.8"))));
        assert_eq!(lookup(&h, ip("10.0.0.9")).unwrap().dev, "eth0");
    }

    #[test]
    fn longest_prefix_and_metric() {
        let h = Host::from_yaml("interfaces:\n  - name: a\n    addresses: [10.0.0.2/24]\n  - name: b\n    addresses: [10.1.0.2/24]\nroutes:\n  - to: 10.9.0.0/16\n    via: 10.0.0.1\n    metric: 100\n  - to: 10.9.0.0/16\n    via: 10.1.0.1\n    dev: b\n    metric: 10\n  - to: 10.9.9.0/24\n    via: 10.0.0.1\n    type: blackhole\n").unwrap();
        let r = lookup(&h, ip("10.9.1.1")).unwrap();
        assert_eq!((r.dev.as_str(), r.src), ("b", Some(ip("10.1.0.2"))));
        assert_eq!(
            lookup(&h, ip("10.9.9.1")).unwrap().kind,
            RouteKind::Blackhole
        );
    }

    /// Addresses from a small space, so that random networks, routes and destinations
    /// overlap: IPv4 in 10.0.0.0/22 with a few outside it, IPv6 in fd00::/124 with
    /// link-local and loopback ones.
    fn small_ip() -> impl proptest::strategy::Strategy<Value = String> {
        use proptest::prelude::*;
        prop_oneof![
            6 => (0u8..4, 0u8..8).prop_map(|(c, d)| format!("10.0.{c}.{d}")),
            1 => (0u8..2, 0u8..2).prop_map(|(b, d)| format!("192.168.{b}.{}", d * 255)),
            1 => Just("255.255.255.255".to_string()),
            1 => Just("127.0.0.5".to_string()),
            3 => (0u8..16).prop_map(|d| format!("fd00::{d:x}")),
            1 => prop_oneof![Just("fe80::1".to_string()), Just("::1".to_string())],
        ]
    }

    fn small_net() -> impl proptest::strategy::Strategy<Value = String> {
        use proptest::prelude::*;
        (small_ip(), 0u8..=130).prop_map(|(a, p)| {
            let max = if a.contains(':') { 128 } else { 32 };
            // Mostly long prefixes, some short ones and some defaults.
            let p = match p {
                0..=9 => 0,
                10..=39 => 8 + p % 17,
                _ => max - p % 8,
            };
            format!("{a}/{}", p.min(max))
        })
    }

    fn host_yaml() -> impl proptest::strategy::Strategy<Value = String> {
        use proptest::prelude::*;
        let iface = proptest::collection::vec(small_net(), 0..4);
        let route = (
            small_net(),
            proptest::option::of(small_ip()),
            proptest::option::of(0usize..4),
            proptest::option::of(small_ip()),
            0usize..8,
            proptest::option::of(0u32..3),
        );
        (
            proptest::collection::vec(iface, 1..4),
            proptest::collection::vec(route, 0..5),
        )
            .prop_map(|(ifaces, routes)| {
                let mut y = String::from("interfaces:\n");
                for (n, addrs) in ifaces.iter().enumerate() {
                    y += &format!("  - name: e{n}\n    addresses: [{}]\n", addrs.join(", "));
                }
                if !routes.is_empty() {
                    y += "routes:\n";
                }
                for (to, via, dev, src, kind, metric) in routes {
                    y += &format!("  - to: {to}\n");
                    if let Some(v) = via {
                        y += &format!("    via: {v}\n");
                    }
                    if let Some(d) = dev {
                        y += &format!("    dev: e{d}\n");
                    }
                    if let Some(s) = src {
                        y += &format!("    src: {s}\n");
                    }
                    let kinds = [
                        "unicast",
                        "unicast",
                        "unicast",
                        "unicast",
                        "local",
                        "blackhole",
                        "unreachable",
                        "prohibit",
                    ];
                    y += &format!("    type: {}\n", kinds[kind]);
                    if let Some(m) = metric {
                        y += &format!("    metric: {m}\n");
                    }
                }
                y
            })
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(512))]

        /// The compiled table answers as `lookup` and `select_source` do, for every
        /// destination: routes, sources and MASQUERADE's pick.
        #[test]
        fn compiled_table_answers_as_lookup(yaml in host_yaml(), dsts in proptest::collection::vec(small_ip(), 1..24)) {
            // Hosts the file format refuses are not hosts.
            let Ok(h) = Host::from_yaml(&yaml) else { return Ok(()); };
            let table = RouteTable::new(&h);
            for d in &dsts {
                let d = ip(d);
                let want = lookup(&h, d);
                proptest::prop_assert_eq!(table.lookup(d), want, "{} in\n{}", d, yaml);
                for i in &h.interfaces {
                    let toward = want.ok().and_then(|r| r.via).unwrap_or(d);
                    proptest::prop_assert_eq!(
                        table.masquerade_source(i.name, d),
                        select_source(&h, &i.name, toward),
                        "masquerade on {} to {} in\n{}", i.name.as_str(), d, yaml
                    );
                }
            }
        }
    }
}
