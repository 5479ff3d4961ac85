//! The routing decision: local delivery, longest-prefix match over the main table (with the
//! connected routes the addresses imply), and source address selection for local packets.

use std::net::IpAddr;

use crate::host::{Host, IfAddr, RouteKind};
use crate::model::IfName;
use rustc_hash::FxHashMap;

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

/// Looks `dst` up in the main table by longest prefix, lower metric first.
fn main_table(host: &Host, dst: IpAddr) -> Result<RouteResult, NoRoute> {
    // Candidates: explicit routes, and connected routes implied by each address.
    struct Cand {
        dst: IfAddr,
        via: Option<IpAddr>,
        dev: Option<IfName>,
        src: Option<IpAddr>,
        kind: RouteKind,
        metric: u32,
    }
    let explicit = host
        .routes
        .iter()
        .filter(|r| r.kind != RouteKind::Local && r.dst.contains(dst))
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
            .filter(move |a| a.contains(dst) && !a.addr.is_loopback())
            .map(move |a| Cand {
                dst: IfAddr {
                    addr: a.addr,
                    prefix: a.prefix,
                },
                via: None,
                dev: Some(i.name),
                src: Some(a.addr),
                kind: RouteKind::Unicast,
                metric: u32::MAX,
            })
    });
    // Longest prefix; then lower metric; then earlier (explicit routes come first).
    let mut best: Option<Cand> = None;
    for c in explicit.chain(connected) {
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
    let best = best.ok_or(NoRoute(dst))?;
    let dev = match (&best.dev, best.via) {
        (Some(d), _) => *d,
        (None, Some(via)) => lookup(host, via).map(|r| r.dev).map_err(|_| NoRoute(dst))?,
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

/// Remembers the answers of [`lookup`] and [`select_source`] for one host, as the kernel's
/// FIB lookups are cached per destination: the same destination gets the same answer without
/// scanning the host's addresses and routes again. Holds at most [`RouteCache::CAPACITY`]
/// answers of each kind (then starts over), so a long run over many destinations stays
/// bounded.
#[derive(Clone, Debug, Default)]
pub struct RouteCache {
    routes: std::cell::RefCell<FxHashMap<IpAddr, Cached>>,
    sources: std::cell::RefCell<FxHashMap<(IfName, IpAddr), Option<IpAddr>>>,
}

/// One destination's remembered answers.
#[derive(Clone, Copy, Debug)]
struct Cached {
    route: Result<RouteResult, NoRoute>,
    /// The source MASQUERADE picks for a packet leaving by the route's device:
    /// [`select_source`] towards the gateway, or the destination itself.
    masquerade: Option<IpAddr>,
}

impl RouteCache {
    /// The most answers of each kind the cache holds.
    pub const CAPACITY: usize = 1 << 16;

    fn cached(&self, host: &Host, dst: IpAddr) -> Cached {
        if let Some(c) = self.routes.borrow().get(&dst) {
            return *c;
        }
        let route = lookup(host, dst);
        let masquerade = route
            .ok()
            .and_then(|r| select_source(host, &r.dev, r.via.unwrap_or(dst)));
        let c = Cached { route, masquerade };
        let mut m = self.routes.borrow_mut();
        if m.len() >= Self::CAPACITY {
            m.clear();
        }
        m.insert(dst, c);
        c
    }

    /// [`lookup`], remembered. `host` must be the same host on every call.
    pub fn lookup(&self, host: &Host, dst: IpAddr) -> Result<RouteResult, NoRoute> {
        self.cached(host, dst).route
    }

    /// The address MASQUERADE gives a packet to `dst` leaving through `out`: the source
    /// [`select_source`] picks on `out` towards the route's gateway (or `dst` itself when
    /// the route has none), remembered with the route when `out` is the route's device.
    pub fn masquerade_source(&self, host: &Host, out: IfName, dst: IpAddr) -> Option<IpAddr> {
        let c = self.cached(host, dst);
        match c.route {
            Ok(r) if r.dev == out => c.masquerade,
            r => self.select_source(host, out, r.ok().and_then(|r| r.via).unwrap_or(dst)),
        }
    }

    /// [`select_source`], remembered. `host` must be the same host on every call.
    pub fn select_source(&self, host: &Host, dev: IfName, toward: IpAddr) -> Option<IpAddr> {
        if let Some(r) = self.sources.borrow().get(&(dev, toward)) {
            return *r;
        }
        let r = select_source(host, &dev, toward);
        let mut m = self.sources.borrow_mut();
        if m.len() >= Self::CAPACITY {
            m.clear();
        }
        m.insert((dev, toward), r);
        r
    }
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
}
