//! The conformance-case format (`testdata/kube-proxy/*/input.yaml`): a `KubeProxyCase`
//! document describing node and proxy settings and the steps, followed by the objects
//! present at the first sync.

use crate::config::{IpFamily, LocalDetector, ProxyConfig};
use crate::names::{parse_cidr_sloppy, parse_ip_sloppy};
use crate::objects::{Cluster, ParseError, Warning, ZONE_LABEL, parse_documents};
use serde::Deserialize;
use serde_json::Value;
use std::collections::BTreeMap;

/// One host interface with its addresses (CIDR notation).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct CaseInterface {
    /// Interface name.
    pub name: String,
    /// Addresses with prefix length, e.g. `127.0.0.1/8`.
    pub addresses: Vec<String>,
}

/// The node a case runs on.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct CaseNode {
    /// Node name.
    pub name: String,
    /// Node IP of the proxier's family.
    pub ip: String,
    /// Node labels (only the zone label matters).
    pub labels: BTreeMap<String, String>,
    /// Host interfaces.
    pub interfaces: Vec<CaseInterface>,
}

/// The local-traffic detector of a case.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct CaseDetector {
    /// ClusterCIDR, NodeCIDR, BridgeInterface, InterfaceNamePrefix or None.
    pub mode: String,
    /// CIDR of the CIDR modes.
    pub cidr: String,
    /// Bridge name.
    pub interface: String,
    /// Interface prefix.
    pub interface_prefix: String,
}

/// The proxy settings of a case.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct CaseProxy {
    /// `IPv4` or `IPv6`.
    pub ip_family: String,
    /// Literal mark text used in the rules.
    pub masquerade_mark: String,
    /// masqueradeAll.
    pub masquerade_all: bool,
    /// Local traffic detector.
    pub local_detector: CaseDetector,
    /// localhostNodePorts.
    pub localhost_node_ports: bool,
    /// nodePortAddresses CIDRs.
    pub node_port_addresses: Vec<String>,
    /// iptables supports `--random-fully`.
    pub random_fully: bool,
    /// nf_conntrack_tcp_be_liberal is set.
    #[serde(rename = "conntrackTCPBeLiberal")]
    pub conntrack_tcp_be_liberal: bool,
    /// Which nfacct counters exist.
    pub nfacct: BTreeMap<String, bool>,
    /// Feature gates.
    pub feature_gates: BTreeMap<String, bool>,
}

impl Default for CaseProxy {
    fn default() -> Self {
        CaseProxy {
            ip_family: "IPv4".into(),
            masquerade_mark: "0x4000".into(),
            masquerade_all: false,
            local_detector: CaseDetector::default(),
            localhost_node_ports: true,
            node_port_addresses: Vec::new(),
            random_fully: false,
            conntrack_tcp_be_liberal: false,
            nfacct: BTreeMap::new(),
            feature_gates: BTreeMap::new(),
        }
    }
}

/// An object named for deletion.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct ObjectRef {
    /// Kind.
    pub kind: String,
    /// Namespace.
    pub namespace: String,
    /// Name.
    pub name: String,
}

/// One step of a multi-step case; one sync follows it.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct CaseStep {
    /// What the step does.
    pub description: String,
    /// Objects created or replaced.
    pub apply: Vec<Value>,
    /// Objects deleted.
    pub delete: Vec<ObjectRef>,
    /// The sync after this step is a full sync.
    pub full_sync: bool,
}

/// The first document of a case.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Case {
    /// `KubeProxyCase` or `KubeProxyTraceCase`.
    pub kind: String,
    /// Case name.
    pub name: String,
    /// What the case exercises.
    pub description: String,
    /// Provenance class.
    pub provenance: String,
    /// The node.
    pub node: CaseNode,
    /// Proxy settings.
    pub proxy: CaseProxy,
    /// Steps after the first sync.
    pub steps: Vec<CaseStep>,
    /// For trace cases: the file holding the complete ruleset.
    pub rules: Option<String>,
    /// What the flow checks assume about the node.
    pub tracer: CaseTracer,
}

/// The `tracer` section: what the flow checks of a case assume about the node.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct CaseTracer {
    /// Exact addresses that `-m addrtype --dst-type LOCAL` treats as the node's own.
    pub local_addresses: Vec<String>,
}

impl Case {
    /// Reads a case's `input.yaml`: the case document and the initial objects.
    pub fn load(input_yaml: &str) -> Result<(Case, Cluster, Vec<Warning>), ParseError> {
        let mut docs = parse_documents(input_yaml)?.into_iter();
        let first = docs.next().ok_or_else(|| ParseError::Invalid {
            what: "case".into(),
            reason: "empty input".into(),
        })?;
        let case: Case = serde_json::from_value(first).map_err(|e| ParseError::Invalid {
            what: "case document".into(),
            reason: e.to_string(),
        })?;
        if case.kind != "KubeProxyCase" && case.kind != "KubeProxyTraceCase" {
            return Err(ParseError::Invalid {
                what: "case document".into(),
                reason: format!("unexpected kind {:?}", case.kind),
            });
        }
        let mut cluster = Cluster::default();
        let mut warnings = Vec::new();
        for d in docs {
            cluster.apply_value(d, &mut warnings);
        }
        Ok((case, cluster, warnings))
    }

    /// Applies step `index` (0-based) to `cluster`; returns whether the following sync
    /// is a full one.
    pub fn apply_step(
        &self,
        index: usize,
        cluster: &mut Cluster,
        warnings: &mut Vec<Warning>,
    ) -> bool {
        let Some(step) = self.steps.get(index) else {
            return false;
        };
        for r in &step.delete {
            cluster.delete(&r.kind, &r.namespace, &r.name);
        }
        for v in &step.apply {
            cluster.apply_value(v.clone(), warnings);
        }
        step.full_sync
    }

    /// The proxier settings the case describes.
    pub fn proxy_config(&self) -> ProxyConfig {
        let p = &self.proxy;
        let family = if p.ip_family == "IPv6" {
            IpFamily::V6
        } else {
            IpFamily::V4
        };
        let d = &p.local_detector;
        let local_detector = match d.mode.as_str() {
            "ClusterCIDR" | "NodeCIDR" => parse_cidr_sloppy(&d.cidr)
                .map(LocalDetector::Cidr)
                .unwrap_or_default(),
            "BridgeInterface" => LocalDetector::BridgeInterface(d.interface.clone()),
            "InterfaceNamePrefix" => LocalDetector::InterfaceNamePrefix(d.interface_prefix.clone()),
            _ => LocalDetector::None,
        };
        let host_addresses = self
            .node
            .interfaces
            .iter()
            .flat_map(|i| i.addresses.iter())
            .filter_map(|a| parse_ip_sloppy(a.split('/').next().unwrap_or_default()))
            .collect();
        ProxyConfig {
            family,
            node_name: self.node.name.clone(),
            node_ip: parse_ip_sloppy(&self.node.ip),
            zone: self.node.labels.get(ZONE_LABEL).cloned(),
            masquerade_mark: p.masquerade_mark.clone(),
            masquerade_all: p.masquerade_all,
            local_detector,
            localhost_node_ports: p.localhost_node_ports,
            node_port_addresses: p
                .node_port_addresses
                .iter()
                .filter_map(|c| parse_cidr_sloppy(c))
                .collect(),
            host_addresses,
            random_fully: p.random_fully,
            conntrack_tcp_be_liberal: p.conntrack_tcp_be_liberal,
            nfacct_invalid_dropped: p
                .nfacct
                .get("ct_state_invalid_dropped_pkts")
                .copied()
                .unwrap_or(false),
            nfacct_localhost_nodeports: p
                .nfacct
                .get("localhost_nps_accepted_pkts")
                .copied()
                .unwrap_or(false),
            prefer_same_traffic_distribution: p
                .feature_gates
                .get("PreferSameTrafficDistribution")
                .copied()
                .unwrap_or(true),
        }
    }
}
