//! Kubernetes objects kube-proxy reads: Nodes, Services and EndpointSlices.
//!
//! Objects come as JSON or YAML text the way `kubectl get … -o json|yaml` prints
//! them (a `v1/List`, a single object, or several YAML documents). Objects kube-proxy
//! could not use are reported as [`Warning`]s and left out (or, for a bad port or
//! address inside an otherwise usable object, only that part is left out).

use crate::names::{parse_cidr_sloppy, parse_ip_sloppy};
use k8s_openapi::api::core::v1::{Node, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use serde_json::Value;
use std::collections::BTreeMap;
use std::fmt;

/// The label naming the Service an EndpointSlice belongs to.
pub const SERVICE_NAME_LABEL: &str = "kubernetes.io/service-name";
/// The node label carrying the zone.
pub const ZONE_LABEL: &str = "topology.kubernetes.io/zone";

/// An object (or part of one) that was skipped, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Warning {
    /// Object kind, e.g. `Service`.
    pub kind: String,
    /// Namespace (empty for cluster-scoped objects or when unknown).
    pub namespace: String,
    /// Object name (empty when unknown).
    pub name: String,
    /// What was wrong and what was skipped.
    pub reason: String,
}

impl fmt::Display for Warning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.namespace.is_empty() {
            write!(f, "{} {}: {}", self.kind, self.name, self.reason)
        } else {
            write!(
                f,
                "{} {}/{}: {}",
                self.kind, self.namespace, self.name, self.reason
            )
        }
    }
}

/// Errors reading object text as a whole (single objects are reported as warnings).
#[derive(Debug, thiserror::Error)]
pub enum ParseError {
    /// The text is neither JSON nor YAML.
    #[error("cannot parse objects: {0}")]
    Syntax(String),
    /// A document did not have the expected shape.
    #[error("invalid {what}: {reason}")]
    Invalid {
        /// Which document.
        what: String,
        /// What is wrong.
        reason: String,
    },
}

/// `namespace/name` key of a namespaced object.
pub type ObjectKey = (String, String);

/// The cluster state kube-proxy watches: Nodes, Services and EndpointSlices.
#[derive(Debug, Clone, Default)]
pub struct Cluster {
    /// Nodes by name.
    pub nodes: BTreeMap<String, Node>,
    /// Services by (namespace, name).
    pub services: BTreeMap<ObjectKey, Service>,
    /// EndpointSlices by (namespace, name).
    pub endpoint_slices: BTreeMap<ObjectKey, EndpointSlice>,
}

/// Splits JSON or (multi-document) YAML text into JSON values.
pub fn parse_documents(text: &str) -> Result<Vec<Value>, ParseError> {
    let trimmed = text.trim_start();
    if (trimmed.starts_with('{') || trimmed.starts_with('['))
        && let Ok(v) = serde_json::from_str::<Value>(text)
    {
        return Ok(match v {
            Value::Array(items) => items,
            v => vec![v],
        });
    }
    let docs: Vec<Value> =
        serde_saphyr::from_multiple(text).map_err(|e| ParseError::Syntax(e.to_string()))?;
    Ok(docs.into_iter().filter(|d| !d.is_null()).collect())
}

fn meta_of(v: &Value) -> (String, String, String) {
    let s = |p: &str| {
        v.pointer(p)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string()
    };
    (s("/kind"), s("/metadata/namespace"), s("/metadata/name"))
}

impl Cluster {
    /// Reads objects from JSON or YAML text (a List, one object, or several documents).
    /// Objects of other kinds are reported and ignored.
    pub fn from_objects(text: &str) -> Result<(Cluster, Vec<Warning>), ParseError> {
        let docs = parse_documents(text)?;
        let mut cluster = Cluster::default();
        let mut warnings = Vec::new();
        for d in docs {
            cluster.apply_value(d, &mut warnings);
        }
        Ok((cluster, warnings))
    }

    /// Adds or replaces one object given as a JSON value (a `List` adds all its items).
    pub fn apply_value(&mut self, v: Value, warnings: &mut Vec<Warning>) {
        let (kind, namespace, name) = meta_of(&v);
        let warn = |warnings: &mut Vec<Warning>, reason: String| {
            warnings.push(Warning {
                kind: kind.clone(),
                namespace: namespace.clone(),
                name: name.clone(),
                reason,
            })
        };
        match kind.as_str() {
            "List" | "ServiceList" | "EndpointSliceList" | "NodeList" => {
                if let Some(Value::Array(items)) = v.get("items") {
                    for item in items.clone() {
                        self.apply_value(item, warnings);
                    }
                }
            }
            "Node" => match serde_json::from_value::<Node>(v) {
                Ok(n) if !name.is_empty() => {
                    self.nodes.insert(name, n);
                }
                Ok(_) => warn(warnings, "Node without a name; skipped".into()),
                Err(e) => warn(warnings, format!("cannot read Node: {e}; skipped")),
            },
            "Service" => match serde_json::from_value::<Service>(v) {
                Ok(s) if name.is_empty() => {
                    let _ = s;
                    warn(warnings, "Service without a name; skipped".into())
                }
                Ok(s) => {
                    let mut ws = Vec::new();
                    if let Some(s) = sanitize_service(s, &mut ws) {
                        self.services.insert((namespace.clone(), name.clone()), s);
                    }
                    for r in ws {
                        warn(warnings, r);
                    }
                }
                Err(e) => warn(warnings, format!("cannot read Service: {e}; skipped")),
            },
            "EndpointSlice" => match serde_json::from_value::<EndpointSlice>(v) {
                Ok(s) if name.is_empty() => {
                    let _ = s;
                    warn(warnings, "EndpointSlice without a name; skipped".into())
                }
                Ok(s) => {
                    let mut ws = Vec::new();
                    if let Some(s) = sanitize_slice(s, &mut ws) {
                        self.endpoint_slices
                            .insert((namespace.clone(), name.clone()), s);
                    }
                    for r in ws {
                        warn(warnings, r);
                    }
                }
                Err(e) => warn(warnings, format!("cannot read EndpointSlice: {e}; skipped")),
            },
            "" => warn(warnings, "document without a kind; skipped".into()),
            _ => warn(warnings, "kind not used by kube-proxy; ignored".into()),
        }
    }

    /// Removes an object; returns whether it existed.
    pub fn delete(&mut self, kind: &str, namespace: &str, name: &str) -> bool {
        let key = (namespace.to_string(), name.to_string());
        match kind {
            "Service" => self.services.remove(&key).is_some(),
            "EndpointSlice" => self.endpoint_slices.remove(&key).is_some(),
            "Node" => self.nodes.remove(name).is_some(),
            _ => false,
        }
    }

    /// Number of endpoint addresses over all slices (a size measure).
    pub fn endpoint_count(&self) -> usize {
        self.endpoint_slices
            .values()
            .map(|s| s.endpoints.len())
            .sum()
    }
}

const PROTOCOLS: [&str; 3] = ["TCP", "UDP", "SCTP"];

fn sanitize_service(mut s: Service, w: &mut Vec<String>) -> Option<Service> {
    let Some(spec) = s.spec.as_mut() else {
        w.push("Service has no spec; skipped".into());
        return None;
    };
    let ty = spec.type_.as_deref().unwrap_or("ClusterIP");
    if ty == "ExternalName" {
        return Some(s);
    }
    if !["ClusterIP", "NodePort", "LoadBalancer"].contains(&ty) {
        w.push(format!("unknown Service type {ty:?}; skipped"));
        return None;
    }
    for ip in spec
        .cluster_ip
        .iter()
        .chain(spec.cluster_ips.iter().flatten())
    {
        if ip != "None" && !ip.is_empty() && parse_ip_sloppy(ip).is_none() {
            w.push(format!("invalid clusterIP {ip:?}; Service skipped"));
            return None;
        }
    }
    let ports = spec.ports.take().unwrap_or_default();
    if ports.is_empty() {
        w.push("Service has no ports; nothing to render".into());
    }
    let mut kept = Vec::with_capacity(ports.len());
    for mut p in ports {
        let label = p
            .name
            .clone()
            .filter(|n| !n.is_empty())
            .unwrap_or_else(|| p.port.to_string());
        let proto = p.protocol.get_or_insert_with(|| "TCP".to_string());
        if !PROTOCOLS.contains(&proto.as_str()) {
            w.push(format!(
                "port {label}: unknown protocol {proto:?}; port skipped"
            ));
            continue;
        }
        if !(1..=65535).contains(&p.port) {
            w.push(format!(
                "port {label}: invalid port number {}; port skipped",
                p.port
            ));
            continue;
        }
        if let Some(np) = p.node_port
            && !(0..=65535).contains(&np)
        {
            w.push(format!("port {label}: invalid nodePort {np}; port skipped"));
            continue;
        }
        kept.push(p);
    }
    spec.ports = Some(kept);
    if let Some(ips) = spec.external_ips.as_mut() {
        ips.retain(|ip| {
            let ok = parse_ip_sloppy(ip).is_some();
            if !ok {
                w.push(format!("invalid externalIP {ip:?}; ignored"));
            }
            ok
        });
    }
    if let Some(ranges) = spec.load_balancer_source_ranges.as_mut() {
        ranges.retain(|r| {
            let ok = parse_cidr_sloppy(r.trim()).is_some();
            if !ok {
                w.push(format!("invalid loadBalancerSourceRange {r:?}; ignored"));
            }
            ok
        });
    }
    if let Some(ing) = s
        .status
        .as_mut()
        .and_then(|st| st.load_balancer.as_mut())
        .and_then(|lb| lb.ingress.as_mut())
    {
        ing.retain(|i| match i.ip.as_deref() {
            Some(ip) if !ip.is_empty() && parse_ip_sloppy(ip).is_none() => {
                w.push(format!("invalid load-balancer ingress IP {ip:?}; ignored"));
                false
            }
            _ => true,
        });
    }
    Some(s)
}

fn sanitize_slice(mut s: EndpointSlice, w: &mut Vec<String>) -> Option<EndpointSlice> {
    let has_label = s
        .metadata
        .labels
        .as_ref()
        .and_then(|l| l.get(SERVICE_NAME_LABEL))
        .is_some_and(|n| !n.is_empty());
    if !has_label {
        w.push(format!("no {SERVICE_NAME_LABEL} label; skipped"));
        return None;
    }
    if s.metadata
        .namespace
        .as_deref()
        .unwrap_or_default()
        .is_empty()
    {
        w.push("EndpointSlice without a namespace; skipped".into());
        return None;
    }
    match s.address_type.as_str() {
        "IPv4" | "IPv6" => {}
        other => {
            w.push(format!(
                "address type {other:?} not supported by kube-proxy; ignored"
            ));
            return None;
        }
    }
    let v6 = s.address_type == "IPv6";
    if let Some(ports) = s.ports.as_mut() {
        ports.retain_mut(|p| {
            let label = p.name.clone().unwrap_or_else(|| "<nil>".into());
            let proto = p.protocol.get_or_insert_with(|| "TCP".to_string());
            if p.name.is_none() {
                w.push("port with no name; port skipped".into());
                false
            } else if !PROTOCOLS.contains(&proto.as_str()) {
                w.push(format!(
                    "port {label}: unknown protocol {proto:?}; port skipped"
                ));
                false
            } else if !p.port.is_some_and(|n| (1..=65535).contains(&n)) {
                w.push(format!(
                    "port {label}: missing or invalid port number; port skipped"
                ));
                false
            } else {
                true
            }
        });
    }
    s.endpoints.retain(|e| {
        let Some(first) = e.addresses.first() else {
            w.push("endpoint without addresses; endpoint skipped".into());
            return false;
        };
        match parse_ip_sloppy(first) {
            Some(ip) if ip.is_ipv6() == v6 => true,
            Some(_) => {
                w.push(format!(
                    "endpoint address {first:?} does not match address type {}; endpoint skipped",
                    s.address_type
                ));
                false
            }
            None => {
                w.push(format!(
                    "invalid endpoint address {first:?}; endpoint skipped"
                ));
                false
            }
        }
    });
    Some(s)
}
