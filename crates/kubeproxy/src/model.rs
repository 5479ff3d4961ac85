//! kube-proxy's internal view of the objects for one IP family: service ports
//! (`ServicePortMap`) and their endpoints (`EndpointsMap`), plus the endpoint
//! categorisation of `pkg/proxy/topology.go` (traffic policies, readiness fallback,
//! zone and node hints).

use crate::config::{IpFamily, ProxyConfig};
use crate::names::{self, parse_cidr_sloppy, parse_ip_sloppy};
use crate::objects::{Cluster, SERVICE_NAME_LABEL};
use ipnet::IpNet;
use k8s_openapi::api::core::v1::Service;
use k8s_openapi::api::discovery::v1::EndpointSlice;
use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

/// `(namespace, name)` of a Service.
pub(crate) type SvcKey = (String, String);

/// One port of one Service as a single-family proxier sees it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ServicePortInfo {
    pub port_name: String,
    pub protocol_upper: String,
    /// `ns/name` or `ns/name:port`.
    pub name: String,
    /// Lower-case protocol (`tcp`, `udp`, `sctp`).
    pub protocol: String,
    pub cluster_ip: IpAddr,
    pub port: i32,
    pub node_port: i32,
    pub lb_vips: Vec<IpAddr>,
    pub client_ip_affinity: bool,
    pub sticky_seconds: i32,
    pub external_ips: Vec<IpAddr>,
    pub lb_source_ranges: Vec<IpNet>,
    pub health_check_node_port: i32,
    pub external_policy_local: bool,
    pub internal_policy_local: bool,
    /// Port/protocol hash shared by the SVC, SVL, EXT and FW chain names.
    pub hash: String,
}

impl ServicePortInfo {
    pub(crate) fn externally_accessible(&self) -> bool {
        self.node_port != 0 || !self.lb_vips.is_empty() || !self.external_ips.is_empty()
    }
    pub(crate) fn uses_cluster_endpoints(&self) -> bool {
        !self.internal_policy_local || self.externally_accessible()
    }
    pub(crate) fn uses_local_endpoints(&self) -> bool {
        self.internal_policy_local || (self.external_policy_local && self.externally_accessible())
    }
    pub(crate) fn chain(&self, prefix: &str) -> String {
        let mut s = String::with_capacity(prefix.len() + 16);
        s.push_str(prefix);
        s.push_str(&self.hash);
        s
    }
}

fn cluster_ip_by_family(svc: &Service, family: IpFamily) -> Option<String> {
    let spec = svc.spec.as_ref()?;
    let families = spec.ip_families.as_deref().unwrap_or_default();
    if families.is_empty() {
        let ip = spec.cluster_ip.as_deref().unwrap_or_default();
        if ip.is_empty() || ip == "None" {
            return None;
        }
        let ip6 = parse_ip_sloppy(ip).is_some_and(|a| a.is_ipv6());
        return (ip6 == (family == IpFamily::V6)).then(|| ip.to_string());
    }
    let ips = spec.cluster_ips.as_deref().unwrap_or_default();
    families
        .iter()
        .position(|f| f == family.as_k8s())
        .and_then(|i| ips.get(i).cloned())
}

fn should_skip(svc: &Service) -> bool {
    let Some(spec) = svc.spec.as_ref() else {
        return true;
    };
    let ip = spec.cluster_ip.as_deref().unwrap_or_default();
    ip.is_empty() || ip == "None" || spec.type_.as_deref() == Some("ExternalName")
}

/// The service ports of one Service (kube-proxy's `serviceToServiceMap`), ordered by
/// port name and protocol; `None` when kube-proxy ignores the Service.
pub(crate) fn service_ports(
    svc: &Service,
    ns: &str,
    name: &str,
    family: IpFamily,
) -> Option<Vec<ServicePortInfo>> {
    if should_skip(svc) {
        return None;
    }
    let cluster_ip = parse_ip_sloppy(&cluster_ip_by_family(svc, family)?)?;
    let spec = svc.spec.as_ref()?;
    let ty = spec.type_.as_deref().unwrap_or("ClusterIP");
    let externally_accessible_svc = ty == "LoadBalancer"
        || ty == "NodePort"
        || (ty == "ClusterIP" && !spec.external_ips.as_deref().unwrap_or_default().is_empty());
    let external_policy_local =
        externally_accessible_svc && spec.external_traffic_policy.as_deref() == Some("Local");
    let internal_policy_local = spec.internal_traffic_policy.as_deref() == Some("Local");
    let client_ip_affinity = spec.session_affinity.as_deref() == Some("ClientIP");
    let sticky_seconds = if client_ip_affinity {
        spec.session_affinity_config
            .as_ref()
            .and_then(|c| c.client_ip.as_ref())
            .and_then(|c| c.timeout_seconds)
            .unwrap_or(10800)
    } else {
        0
    };
    let in_family = |ip: &IpAddr| IpFamily::of(ip) == family;
    let external_ips: Vec<IpAddr> = spec
        .external_ips
        .iter()
        .flatten()
        .filter_map(|s| parse_ip_sloppy(s))
        .filter(in_family)
        .collect();
    let lb_source_ranges: Vec<IpNet> = spec
        .load_balancer_source_ranges
        .iter()
        .flatten()
        .filter_map(|s| parse_cidr_sloppy(s.trim()))
        .filter(|c| in_family(&c.addr()))
        .collect();
    let lb_vips: Vec<IpAddr> = svc
        .status
        .as_ref()
        .and_then(|s| s.load_balancer.as_ref())
        .and_then(|l| l.ingress.as_ref())
        .into_iter()
        .flatten()
        .filter(|i| i.ip_mode.as_deref().is_none_or(|m| m == "VIP"))
        .filter_map(|i| {
            i.ip.as_deref()
                .filter(|s| !s.is_empty())
                .and_then(parse_ip_sloppy)
        })
        .filter(in_family)
        .collect();
    let health_check_node_port = if ty == "LoadBalancer" && external_policy_local {
        spec.health_check_node_port.unwrap_or(0)
    } else {
        0
    };
    let mut out: Vec<ServicePortInfo> = spec
        .ports
        .iter()
        .flatten()
        .map(|p| {
            let port_name = p.name.clone().unwrap_or_default();
            let protocol_upper = p.protocol.clone().unwrap_or_else(|| "TCP".into());
            let protocol = protocol_upper.to_ascii_lowercase();
            let name = if port_name.is_empty() {
                format!("{ns}/{name}")
            } else {
                format!("{ns}/{name}:{port_name}")
            };
            let hash = names::port_proto_hash(&name, &protocol);
            ServicePortInfo {
                port_name,
                protocol_upper,
                name,
                protocol,
                cluster_ip,
                port: p.port,
                node_port: p.node_port.unwrap_or(0),
                lb_vips: lb_vips.clone(),
                client_ip_affinity,
                sticky_seconds,
                external_ips: external_ips.clone(),
                lb_source_ranges: lb_source_ranges.clone(),
                health_check_node_port,
                external_policy_local,
                internal_policy_local,
                hash,
            }
        })
        .collect();
    out.sort_by(|a, b| (&a.port_name, &a.protocol_upper).cmp(&(&b.port_name, &b.protocol_upper)));
    Some(out)
}

/// One endpoint of a slice, normalised as kube-proxy caches it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct SliceEndpoint {
    pub addresses: Addresses,
    /// Shared by the endpoints of one node.
    pub node_name: Option<std::sync::Arc<str>>,
    pub zone_hints: BTreeSet<String>,
    pub node_hints: BTreeSet<String>,
    pub ready: bool,
    pub serving: bool,
    pub terminating: bool,
}

/// An endpoint's addresses: the usual one kept without a list, or the list.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Addresses {
    One(Box<str>),
    List(Box<[String]>),
}

impl Addresses {
    fn of(list: &[String]) -> Addresses {
        match list {
            [one] => Addresses::One(one.as_str().into()),
            _ => Addresses::List(list.into()),
        }
    }

    /// The first address (the one kube-proxy uses).
    pub(crate) fn first(&self) -> Option<&str> {
        match self {
            Addresses::One(a) => Some(a),
            Addresses::List(l) => l.first().map(String::as_str),
        }
    }

    fn iter(&self) -> impl Iterator<Item = &str> {
        let (one, list) = match self {
            Addresses::One(a) => (Some(&**a), &[][..]),
            Addresses::List(l) => (None, &l[..]),
        };
        one.into_iter().chain(list.iter().map(String::as_str))
    }

    /// Whether these are the addresses of `list`, in order.
    fn is(&self, list: &[String]) -> bool {
        self.iter().eq(list.iter().map(String::as_str))
    }
}

/// A slice as kube-proxy caches it; equality decides whether the Service "changed".
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct SliceInfo {
    /// (name, port, protocol), sorted by port.
    pub ports: Vec<(String, i32, String)>,
    /// Sorted by joined addresses.
    pub endpoints: Vec<SliceEndpoint>,
}

/// Node names, shared by the endpoints that name them.
type NodeNames<'c> = rustc_hash::FxHashMap<&'c str, std::sync::Arc<str>>;

pub(crate) fn slice_info<'c>(s: &'c EndpointSlice, nodes: &mut NodeNames<'c>) -> SliceInfo {
    let mut ports: Vec<(String, i32, String)> = s
        .ports
        .iter()
        .flatten()
        .filter_map(|p| {
            Some((
                p.name.clone()?,
                p.port?,
                p.protocol.clone().unwrap_or_else(|| "TCP".into()),
            ))
        })
        .collect();
    ports.sort_by_key(|p| p.1);
    let mut endpoints: Vec<SliceEndpoint> = s
        .endpoints
        .iter()
        .map(|e| {
            let c = e.conditions.as_ref();
            let hints = e.hints.as_ref();
            SliceEndpoint {
                addresses: Addresses::of(&e.addresses),
                node_name: e.node_name.as_deref().map(|n| {
                    nodes
                        .entry(n)
                        .or_insert_with(|| std::sync::Arc::from(n))
                        .clone()
                }),
                zone_hints: hints
                    .and_then(|h| h.for_zones.as_ref())
                    .into_iter()
                    .flatten()
                    .map(|z| z.name.clone())
                    .collect(),
                node_hints: hints
                    .and_then(|h| h.for_nodes.as_ref())
                    .into_iter()
                    .flatten()
                    .map(|z| z.name.clone())
                    .collect(),
                ready: c.and_then(|c| c.ready).unwrap_or(true),
                serving: c.and_then(|c| c.serving).unwrap_or(true),
                terminating: c.and_then(|c| c.terminating).unwrap_or(false),
            }
        })
        .collect();
    endpoints
        .sort_by(|a, b| joined_bytes(a.addresses.iter()).cmp(joined_bytes(b.addresses.iter())));
    SliceInfo { ports, endpoints }
}

/// The bytes of `addresses.join(",")`, without allocating.
fn joined_bytes<'a>(addresses: impl Iterator<Item = &'a str>) -> impl Iterator<Item = u8> {
    addresses.enumerate().flat_map(|(i, a)| {
        let sep: &[u8] = if i == 0 { b"" } else { b"," };
        sep.iter().chain(a.as_bytes()).copied()
    })
}

/// Slices grouped by the Service they belong to, then by slice name. Unchanged
/// slices are taken over from `old` (the previous result) instead of being built
/// again; every Service whose slices differ from `old`'s is added to `changed`.
/// `old` is left empty.
pub(crate) fn slices_by_service_reusing(
    cluster: &Cluster,
    old: &mut BTreeMap<SvcKey, BTreeMap<String, SliceInfo>>,
    changed: &mut rustc_hash::FxHashSet<SvcKey>,
) -> BTreeMap<SvcKey, BTreeMap<String, SliceInfo>> {
    let mut out: BTreeMap<SvcKey, BTreeMap<String, SliceInfo>> = BTreeMap::new();
    let mut nodes = NodeNames::default();
    for ((ns, slice_name), s) in &cluster.endpoint_slices {
        let Some(svc) = s
            .metadata
            .labels
            .as_ref()
            .and_then(|l| l.get(SERVICE_NAME_LABEL))
        else {
            continue;
        };
        let key = (ns.clone(), svc.clone());
        let reused = old
            .get_mut(&key)
            .and_then(|m| m.remove_entry(slice_name.as_str()))
            .filter(|(_, info)| slice_equals(s, info));
        let (name, info) = match reused {
            Some(e) => e,
            None => {
                changed.insert(key.clone());
                (slice_name.clone(), slice_info(s, &mut nodes))
            }
        };
        out.entry(key).or_default().insert(name, info);
    }
    for (key, rest) in std::mem::take(old) {
        if !rest.is_empty() {
            changed.insert(key);
        }
    }
    out
}

/// Whether `slice_info(s)` would equal `info`, without building it.
fn slice_equals(s: &EndpointSlice, info: &SliceInfo) -> bool {
    let mut ports: Vec<(&str, i32, &str)> = s
        .ports
        .iter()
        .flatten()
        .filter_map(|p| {
            Some((
                p.name.as_deref()?,
                p.port?,
                p.protocol.as_deref().unwrap_or("TCP"),
            ))
        })
        .collect();
    ports.sort_by_key(|p| p.1);
    if ports.len() != info.ports.len()
        || ports
            .iter()
            .zip(&info.ports)
            .any(|(a, b)| a.0 != b.0 || a.1 != b.1 || a.2 != b.2)
    {
        return false;
    }
    if s.endpoints.len() != info.endpoints.len() {
        return false;
    }
    let mut eps: Vec<&k8s_openapi::api::discovery::v1::Endpoint> = s.endpoints.iter().collect();
    eps.sort_by(|a, b| {
        joined_bytes(a.addresses.iter().map(String::as_str))
            .cmp(joined_bytes(b.addresses.iter().map(String::as_str)))
    });
    eps.iter().zip(&info.endpoints).all(|(e, i)| {
        let c = e.conditions.as_ref();
        let hints = e.hints.as_ref();
        let zones: BTreeSet<&str> = hints
            .and_then(|h| h.for_zones.as_ref())
            .into_iter()
            .flatten()
            .map(|z| z.name.as_str())
            .collect();
        let nodes: BTreeSet<&str> = hints
            .and_then(|h| h.for_nodes.as_ref())
            .into_iter()
            .flatten()
            .map(|z| z.name.as_str())
            .collect();
        i.addresses.is(&e.addresses)
            && e.node_name.as_deref() == i.node_name.as_deref()
            && c.and_then(|c| c.ready).unwrap_or(true) == i.ready
            && c.and_then(|c| c.serving).unwrap_or(true) == i.serving
            && c.and_then(|c| c.terminating).unwrap_or(false) == i.terminating
            && zones
                .iter()
                .copied()
                .eq(i.zone_hints.iter().map(String::as_str))
            && nodes
                .iter()
                .copied()
                .eq(i.node_hints.iter().map(String::as_str))
    })
}

/// One endpoint of one service port, borrowing from the cached slice.
#[derive(Debug, Clone)]
pub(crate) struct Endpoint<'a> {
    pub ip: &'a str,
    /// `ip:port` / `[ip]:port`.
    pub endpoint: String,
    pub is_local: bool,
    pub ready: bool,
    pub serving: bool,
    pub terminating: bool,
    pub zone_hints: &'a BTreeSet<String>,
    pub node_hints: &'a BTreeSet<String>,
    /// Position in the port's endpoint list.
    pub idx: usize,
}

/// Whether an endpoint address is IPv6 (as `ParseIPSloppy` would read it).
fn is_v6_address(s: &str) -> bool {
    s.contains(':') && s.parse::<std::net::Ipv6Addr>().is_ok()
}

/// Endpoints of one service port (`port_name`, upper-case `protocol`) of a Service
/// for `cfg.family`, ordered by endpoint string. Where slices repeat an endpoint,
/// the last local copy wins, else the first one.
pub(crate) fn port_endpoints<'a>(
    slices: Option<&'a BTreeMap<String, SliceInfo>>,
    port_name: &str,
    protocol: &str,
    cfg: &ProxyConfig,
) -> Vec<Endpoint<'a>> {
    let mut out: Vec<Endpoint<'a>> = Vec::new();
    let want_v6 = cfg.family == IpFamily::V6;
    for info in slices.into_iter().flat_map(BTreeMap::values) {
        for (pname, pnum, proto) in &info.ports {
            if pname != port_name || proto != protocol {
                continue;
            }
            out.reserve(info.endpoints.len());
            for e in &info.endpoints {
                let Some(first) = e.addresses.first() else {
                    continue;
                };
                if is_v6_address(first) != want_v6 {
                    continue;
                }
                let is_local = !cfg.node_name.is_empty()
                    && e.node_name.as_deref() == Some(cfg.node_name.as_str());
                out.push(Endpoint {
                    ip: first,
                    endpoint: names::join_host_port(first, *pnum),
                    is_local,
                    ready: e.ready,
                    serving: e.serving,
                    terminating: e.terminating,
                    zone_hints: &e.zone_hints,
                    node_hints: &e.node_hints,
                    idx: 0,
                });
            }
        }
    }
    // Stable, so equal endpoints keep their order of appearance.
    out.sort_by(|a, b| a.endpoint.cmp(&b.endpoint));
    let mut kept: Vec<Endpoint<'a>> = Vec::with_capacity(out.len());
    for e in out {
        match kept.last_mut() {
            Some(last) if last.endpoint == e.endpoint => {
                if e.is_local {
                    *last = e;
                }
            }
            _ => kept.push(e),
        }
    }
    for (i, e) in kept.iter_mut().enumerate() {
        e.idx = i;
    }
    kept
}

/// Topology mode chosen from endpoint hints.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TopologyMode {
    None,
    SameZone,
    SameNode,
}

fn topology_mode(eps: &[Endpoint<'_>], cfg: &ProxyConfig) -> TopologyMode {
    let zone = cfg.zone.as_deref().unwrap_or_default();
    let mut has_ready = false;
    let mut for_node = false;
    let mut all_node_hints = true;
    let mut for_zone = false;
    let mut all_zone_hints = true;
    for e in eps.iter().filter(|e| e.ready) {
        has_ready = true;
        if e.node_hints.is_empty() {
            all_node_hints = false;
        } else if e.node_hints.contains(&cfg.node_name) {
            for_node = true;
        }
        if e.zone_hints.is_empty() {
            all_zone_hints = false;
        } else if e.zone_hints.contains(zone) {
            for_zone = true;
        }
    }
    if !has_ready {
        return TopologyMode::None;
    }
    if cfg.prefer_same_traffic_distribution && all_node_hints && for_node {
        return TopologyMode::SameNode;
    }
    if all_zone_hints && for_zone {
        return TopologyMode::SameZone;
    }
    TopologyMode::None
}

/// Result of `CategorizeEndpoints`.
pub(crate) struct Categorized<'a, 'b> {
    pub cluster: Vec<&'a Endpoint<'b>>,
    pub local: Vec<&'a Endpoint<'b>>,
    pub all_reachable: Vec<&'a Endpoint<'b>>,
    pub has_any: bool,
}

pub(crate) fn categorize<'a, 'b>(
    eps: &'a [Endpoint<'b>],
    svc: &ServicePortInfo,
    cfg: &ProxyConfig,
) -> Categorized<'a, 'b> {
    let mut out = Categorized {
        cluster: Vec::new(),
        local: Vec::new(),
        all_reachable: Vec::new(),
        has_any: false,
    };
    if eps.is_empty() {
        return out;
    }
    let zone = cfg.zone.as_deref().unwrap_or_default();
    let mut mode = TopologyMode::None;
    if svc.uses_cluster_endpoints() {
        mode = topology_mode(eps, cfg);
        out.cluster = eps
            .iter()
            .filter(|e| {
                e.ready
                    && match mode {
                        TopologyMode::None => true,
                        TopologyMode::SameNode => e.node_hints.contains(&cfg.node_name),
                        TopologyMode::SameZone => e.zone_hints.contains(zone),
                    }
            })
            .collect();
        if out.cluster.is_empty() {
            out.cluster = eps.iter().filter(|e| e.serving && e.terminating).collect();
        }
        out.has_any = !out.cluster.is_empty();
    }
    if !svc.uses_local_endpoints() {
        out.all_reachable = out.cluster.clone();
        return out;
    }
    let mut local_ready = false;
    let mut local_serving_terminating = false;
    for e in eps {
        if e.ready {
            out.has_any = true;
            local_ready |= e.is_local;
        } else if e.serving && e.terminating {
            out.has_any = true;
            local_serving_terminating |= e.is_local;
        }
    }
    let mut use_serving_terminating = false;
    if local_ready {
        out.local = eps.iter().filter(|e| e.is_local && e.ready).collect();
    } else if local_serving_terminating {
        use_serving_terminating = true;
        out.local = eps
            .iter()
            .filter(|e| e.is_local && e.serving && e.terminating)
            .collect();
    }
    if !svc.uses_cluster_endpoints() {
        out.all_reachable = out.local.clone();
        return out;
    }
    if mode == TopologyMode::None && !use_serving_terminating {
        out.all_reachable = out.cluster.clone();
        return out;
    }
    let mut merged: BTreeMap<&str, &Endpoint<'b>> = BTreeMap::new();
    for e in out.cluster.iter().chain(out.local.iter()) {
        merged.insert(e.endpoint.as_str(), e);
    }
    out.all_reachable = merged.into_values().collect();
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A slice equals what it was cached as, and stops equalling it when an endpoint's
    /// addresses, node or conditions change: the partial sync re-renders exactly the
    /// Services whose slices changed.
    #[test]
    fn slices_equal_their_cache_until_an_endpoint_changes() {
        let cluster = crate::synthetic::synthetic_cluster(40, 3, 7);
        let mut nodes = NodeNames::default();
        let mut checked = 0;
        for s in cluster.endpoint_slices.values() {
            let info = slice_info(s, &mut nodes);
            assert!(slice_equals(s, &info));
            if s.endpoints.is_empty() {
                continue;
            }
            checked += 1;
            let changes: [fn(&mut k8s_openapi::api::discovery::v1::Endpoint); 4] = [
                |e| e.addresses = vec!["10.254.0.1".into()],
                |e| e.addresses.push("10.254.0.2".into()),
                |e| e.node_name = Some("another-node".into()),
                |e| {
                    let c = e.conditions.get_or_insert_with(Default::default);
                    c.ready = Some(!c.ready.unwrap_or(true));
                },
            ];
            for change in changes {
                let mut t = s.clone();
                if let Some(e) = t.endpoints.first_mut() {
                    change(e);
                }
                assert!(!slice_equals(&t, &info), "{:?}", t.endpoints.first());
                assert!(slice_equals(&t, &slice_info(&t, &mut NodeNames::default())));
            }
        }
        assert!(checked > 10, "{checked}");
    }
}
