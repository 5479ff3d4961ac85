//! kube-proxy settings: the resolved [`ProxyConfig`] one single-family proxier runs
//! with, the `KubeProxyConfiguration` file it can be built from, and the node facts
//! (name, IP, zone, host addresses) it needs.

use crate::names::{masquerade_mark, parse_cidr_sloppy, parse_ip_sloppy};
use crate::objects::{Cluster, ParseError, ZONE_LABEL, parse_documents};
use ipnet::IpNet;
use serde::Deserialize;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// IP family of a single-stack proxier (kube-proxy runs one per family).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub enum IpFamily {
    /// iptables
    #[default]
    V4,
    /// ip6tables
    V6,
}

impl IpFamily {
    /// The family of an address.
    pub fn of(ip: &IpAddr) -> IpFamily {
        if ip.is_ipv6() {
            IpFamily::V6
        } else {
            IpFamily::V4
        }
    }

    /// Kubernetes spelling: `IPv4` or `IPv6`.
    pub fn as_k8s(self) -> &'static str {
        match self {
            IpFamily::V4 => "IPv4",
            IpFamily::V6 => "IPv6",
        }
    }
}

/// How kube-proxy tells traffic from local pods apart.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum LocalDetector {
    /// No detector (`-s`/`-i` rules are left out).
    #[default]
    None,
    /// Source address inside a CIDR (modes ClusterCIDR and NodeCIDR).
    Cidr(IpNet),
    /// Input interface equals a bridge name.
    BridgeInterface(String),
    /// Input interface starts with a prefix.
    InterfaceNamePrefix(String),
}

impl LocalDetector {
    /// iptables arguments matching local-pod traffic, or `None` when not implemented.
    pub fn if_local(&self) -> Option<String> {
        match self {
            LocalDetector::None => None,
            LocalDetector::Cidr(c) => Some(format!("-s {c}")),
            LocalDetector::BridgeInterface(i) => Some(format!("-i {i}")),
            LocalDetector::InterfaceNamePrefix(p) => Some(format!("-i {p}+")),
        }
    }

    /// iptables arguments matching traffic that is not from a local pod.
    pub fn if_not_local(&self) -> Option<String> {
        self.if_local().map(|s| format!("! {s}"))
    }
}

/// Everything one single-family iptables proxier needs besides the cluster objects.
#[derive(Debug, Clone, PartialEq)]
pub struct ProxyConfig {
    /// Which family this proxier handles.
    pub family: IpFamily,
    /// This node's name (compared with `endpoints[].nodeName`).
    pub node_name: String,
    /// This node's IP of the family, if known (used for loadBalancerSourceRanges).
    pub node_ip: Option<IpAddr>,
    /// This node's zone label, if any.
    pub zone: Option<String>,
    /// The mark literal used in the rules (`0x00004000` for the default bit 14).
    pub masquerade_mark: String,
    /// Masquerade all traffic to cluster IPs.
    pub masquerade_all: bool,
    /// The local-traffic detector for this family.
    pub local_detector: LocalDetector,
    /// `iptables.localhostNodePorts` as configured (before kube-proxy's own override).
    pub localhost_node_ports: bool,
    /// `nodePortAddresses` CIDRs (all families; empty means all local addresses).
    pub node_port_addresses: Vec<IpNet>,
    /// Addresses of the host's interfaces (to resolve `nodePortAddresses`).
    pub host_addresses: Vec<IpAddr>,
    /// The iptables binary supports `--random-fully`.
    pub random_fully: bool,
    /// `net.netfilter.nf_conntrack_tcp_be_liberal` is non-zero.
    pub conntrack_tcp_be_liberal: bool,
    /// The nfacct counter `ct_state_invalid_dropped_pkts` exists.
    pub nfacct_invalid_dropped: bool,
    /// The nfacct counter `localhost_nps_accepted_pkts` exists.
    pub nfacct_localhost_nodeports: bool,
    /// Feature gate PreferSameTrafficDistribution (node hints).
    pub prefer_same_traffic_distribution: bool,
}

impl Default for ProxyConfig {
    fn default() -> Self {
        ProxyConfig {
            family: IpFamily::V4,
            node_name: String::new(),
            node_ip: None,
            zone: None,
            masquerade_mark: masquerade_mark(14),
            masquerade_all: false,
            local_detector: LocalDetector::None,
            localhost_node_ports: true,
            node_port_addresses: Vec::new(),
            host_addresses: Vec::new(),
            random_fully: true,
            conntrack_tcp_be_liberal: false,
            nfacct_invalid_dropped: true,
            nfacct_localhost_nodeports: true,
            prefer_same_traffic_distribution: true,
        }
    }
}

/// The `iptables` section of a KubeProxyConfiguration.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct IptablesSection {
    /// Bit of the fwmark used for masquerading (default 14).
    pub masquerade_bit: Option<u32>,
    /// Masquerade all service traffic.
    pub masquerade_all: Option<bool>,
    /// Allow NodePorts on 127.0.0.0/8 (default true).
    pub localhost_node_ports: Option<bool>,
}

/// The `detectLocal` section of a KubeProxyConfiguration.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct DetectLocalSection {
    /// Bridge name for mode BridgeInterface.
    pub bridge_interface: String,
    /// Interface prefix for mode InterfaceNamePrefix.
    pub interface_name_prefix: String,
}

/// The fields of `kubeproxy.config.k8s.io/v1alpha1` KubeProxyConfiguration that
/// shape the iptables rules.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct KubeProxyConfiguration {
    /// Proxy mode (only `iptables` or empty is meaningful here).
    pub mode: String,
    /// Node name to use instead of the host name.
    pub hostname_override: String,
    /// Pod CIDR(s), comma separated.
    #[serde(rename = "clusterCIDR")]
    pub cluster_cidr: String,
    /// ClusterCIDR, NodeCIDR, BridgeInterface or InterfaceNamePrefix.
    pub detect_local_mode: String,
    /// Options of the interface-based detectors.
    pub detect_local: DetectLocalSection,
    /// iptables options.
    pub iptables: IptablesSection,
    /// CIDRs (or `primary`) NodePorts are accepted on.
    pub node_port_addresses: Vec<String>,
}

impl KubeProxyConfiguration {
    /// Reads the configuration from YAML or JSON text.
    pub fn from_yaml(text: &str) -> Result<Self, ParseError> {
        let docs = parse_documents(text)?;
        let doc = docs
            .into_iter()
            .find(|d| d.get("kind").and_then(|k| k.as_str()) == Some("KubeProxyConfiguration"))
            .ok_or_else(|| ParseError::Invalid {
                what: "KubeProxyConfiguration".into(),
                reason: "no document of that kind".into(),
            })?;
        serde_json::from_value(doc).map_err(|e| ParseError::Invalid {
            what: "KubeProxyConfiguration".into(),
            reason: e.to_string(),
        })
    }

    /// Resolves the settings of the `family` proxier on node `node_name` (default:
    /// `hostnameOverride`) from this configuration and the Node object in `cluster`.
    /// Host facts the configuration does not carry (`--random-fully` support, nfacct
    /// counters, conntrack liberal mode) take the values of `host`.
    pub fn resolve(
        &self,
        family: IpFamily,
        node_name: Option<&str>,
        cluster: &Cluster,
        host: &ProxyConfig,
    ) -> ProxyConfig {
        let node_name = node_name
            .map(str::to_string)
            .unwrap_or_else(|| self.hostname_override.clone());
        let node = cluster.nodes.get(&node_name);
        let in_family = |ip: &IpAddr| IpFamily::of(ip) == family;
        let mut node_ip = None;
        let mut host_addresses = host.host_addresses.clone();
        if let Some(addrs) = node
            .and_then(|n| n.status.as_ref())
            .and_then(|s| s.addresses.as_ref())
        {
            for want in ["InternalIP", "ExternalIP"] {
                for a in addrs.iter().filter(|a| a.type_ == want) {
                    if let Some(ip) = parse_ip_sloppy(&a.address) {
                        if node_ip.is_none() && in_family(&ip) {
                            node_ip = Some(ip);
                        }
                        if !host_addresses.contains(&ip) {
                            host_addresses.push(ip);
                        }
                    }
                }
            }
        }
        for lo in [
            IpAddr::V4(Ipv4Addr::LOCALHOST),
            IpAddr::V6(Ipv6Addr::LOCALHOST),
        ] {
            if !host_addresses.contains(&lo) {
                host_addresses.push(lo);
            }
        }
        let zone = node
            .and_then(|n| n.metadata.labels.as_ref())
            .and_then(|l| l.get(ZONE_LABEL))
            .cloned();
        let family_cidr = |list: &mut dyn Iterator<Item = &str>| {
            list.filter_map(|c| parse_cidr_sloppy(c.trim()))
                .find(|c| IpFamily::of(&c.addr()) == family)
        };
        let local_detector = match self.detect_local_mode.as_str() {
            "" | "ClusterCIDR" => family_cidr(&mut self.cluster_cidr.split(','))
                .map(LocalDetector::Cidr)
                .unwrap_or_default(),
            "NodeCIDR" => {
                let spec = node.and_then(|n| n.spec.as_ref());
                let cidrs: Vec<&str> = spec
                    .and_then(|s| s.pod_cidrs.as_ref())
                    .map(|v| v.iter().map(String::as_str).collect())
                    .or_else(|| spec.and_then(|s| s.pod_cidr.as_deref()).map(|c| vec![c]))
                    .unwrap_or_default();
                family_cidr(&mut cidrs.into_iter())
                    .map(LocalDetector::Cidr)
                    .unwrap_or_default()
            }
            "BridgeInterface" if !self.detect_local.bridge_interface.is_empty() => {
                LocalDetector::BridgeInterface(self.detect_local.bridge_interface.clone())
            }
            "InterfaceNamePrefix" if !self.detect_local.interface_name_prefix.is_empty() => {
                LocalDetector::InterfaceNamePrefix(self.detect_local.interface_name_prefix.clone())
            }
            _ => LocalDetector::None,
        };
        let mut node_port_addresses = Vec::new();
        for a in &self.node_port_addresses {
            if a == "primary" {
                for ip in node_ip.iter() {
                    let len = if ip.is_ipv4() { 32 } else { 128 };
                    if let Ok(n) = IpNet::new(*ip, len) {
                        node_port_addresses.push(n);
                    }
                }
            } else if let Some(c) = parse_cidr_sloppy(a) {
                node_port_addresses.push(c);
            }
        }
        ProxyConfig {
            family,
            node_name,
            node_ip,
            zone,
            masquerade_mark: masquerade_mark(self.iptables.masquerade_bit.unwrap_or(14)),
            masquerade_all: self.iptables.masquerade_all.unwrap_or(false),
            local_detector,
            localhost_node_ports: self.iptables.localhost_node_ports.unwrap_or(true),
            node_port_addresses,
            host_addresses,
            ..host.clone()
        }
    }
}
