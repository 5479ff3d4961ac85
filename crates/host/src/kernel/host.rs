//! Description of the node a [`super::Lab`] builds.

use std::net::IpAddr;

use serde::Deserialize;

use super::KernelError;

/// The node: forwarding switches, interfaces, routes.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct LabHost {
    /// `net.ipv4.ip_forward`.
    pub forwarding_v4: bool,
    /// `net.ipv6.conf.all.forwarding`.
    pub forwarding_v6: bool,
    /// Interfaces of the node.
    pub interfaces: Vec<LabInterface>,
    /// Routes of the node (connected routes are added by the kernel anyway).
    pub routes: Vec<LabRoute>,
    /// `net.bridge.bridge-nf-call-iptables` (and `-ip6tables`): bridged traffic passes
    /// iptables.
    pub bridge_nf_call_iptables: bool,
}

/// One interface of the node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LabInterface {
    /// Interface name inside the node namespace (at most 15 bytes).
    pub name: String,
    /// Addresses in CIDR form (`192.168.49.2/24`).
    pub addresses: Vec<String>,
    /// What the interface is.
    pub kind: InterfaceKind,
}

/// Kind of a node interface.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InterfaceKind {
    /// One end of a veth pair; the other end sits in a neighbour namespace.
    Veth,
    /// A bridge in the node namespace. `ports` names extra veth ports to create, each with
    /// an empty neighbour namespace; every neighbour declared behind the bridge gets a
    /// port of its own.
    Bridge {
        /// Names of extra ports.
        ports: Vec<String>,
    },
    /// The loopback device `lo`.
    Loopback,
}

/// One route of the node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LabRoute {
    /// Destination prefix or `default`.
    pub to: String,
    /// Gateway, if any.
    pub via: Option<String>,
    /// Output interface.
    pub dev: String,
}

/// A neighbour address that lives behind a node interface (a client, a gateway, a pod).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Neighbor {
    /// Node interface the neighbour is reached through.
    pub interface: String,
    /// Its address.
    pub address: IpAddr,
}

impl Neighbor {
    /// A neighbour `address` behind `interface`.
    pub fn new(interface: &str, address: IpAddr) -> Neighbor {
        Neighbor {
            interface: interface.to_string(),
            address,
        }
    }
}

#[derive(Deserialize)]
struct YamlHost {
    #[serde(default)]
    forwarding: bool,
    #[serde(default)]
    forwarding_v6: Option<bool>,
    #[serde(default)]
    bridge_nf_call_iptables: bool,
    #[serde(default)]
    interfaces: Vec<YamlInterface>,
    #[serde(default)]
    routes: Vec<YamlRoute>,
}

#[derive(Deserialize)]
struct YamlInterface {
    name: String,
    #[serde(default)]
    addresses: Vec<String>,
    #[serde(default)]
    kind: Option<String>,
    #[serde(default)]
    ports: Vec<String>,
}

#[derive(Deserialize)]
struct YamlRoute {
    to: String,
    #[serde(default)]
    via: Option<String>,
    dev: String,
}

impl LabHost {
    /// Reads the YAML shape of `testdata/example-node/host.yaml`: `forwarding`,
    /// `interfaces` (`name`, `addresses`, optional `kind: veth|bridge|loopback` and
    /// `ports`), `routes` (`to`, `via`, `dev`), optional `forwarding_v6` and
    /// `bridge_nf_call_iptables`. Without `kind`, `lo` is the loopback, names starting
    /// with `cni`, `br`, `docker`, `virbr` or `cbr` are bridges, everything else a veth.
    pub fn from_yaml(text: &str) -> Result<LabHost, KernelError> {
        let y: YamlHost =
            serde_saphyr::from_str(text).map_err(|e| KernelError::Host(e.to_string()))?;
        let mut interfaces = Vec::new();
        for i in y.interfaces {
            let kind = match i.kind.as_deref() {
                Some("veth") => InterfaceKind::Veth,
                Some("bridge") => InterfaceKind::Bridge { ports: i.ports },
                Some("loopback") => InterfaceKind::Loopback,
                Some(other) => {
                    return Err(KernelError::Host(format!(
                        "interface {}: unknown kind {other:?}",
                        i.name
                    )));
                }
                None if i.name == "lo" => InterfaceKind::Loopback,
                None if ["cni", "br", "docker", "virbr", "cbr"]
                    .iter()
                    .any(|p| i.name.starts_with(p)) =>
                {
                    InterfaceKind::Bridge { ports: i.ports }
                }
                None => InterfaceKind::Veth,
            };
            interfaces.push(LabInterface {
                name: i.name,
                addresses: i.addresses,
                kind,
            });
        }
        Ok(LabHost {
            forwarding_v4: y.forwarding,
            forwarding_v6: y.forwarding_v6.unwrap_or(y.forwarding),
            interfaces,
            routes: y
                .routes
                .into_iter()
                .map(|r| LabRoute {
                    to: r.to,
                    via: r.via,
                    dev: r.dev,
                })
                .collect(),
            bridge_nf_call_iptables: y.bridge_nf_call_iptables,
        })
    }

    /// Checks names and addresses before anything is created.
    pub(crate) fn validate(&self) -> Result<(), KernelError> {
        for i in &self.interfaces {
            if i.name.is_empty()
                || i.name.len() > 15
                || !i
                    .name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
            {
                return Err(KernelError::Host(format!(
                    "bad interface name {:?}",
                    i.name
                )));
            }
            if i.kind == InterfaceKind::Loopback && i.name != "lo" {
                return Err(KernelError::Host(format!(
                    "loopback interface must be named lo, not {}",
                    i.name
                )));
            }
            for a in &i.addresses {
                let (addr, len) = a.split_once('/').ok_or_else(|| {
                    KernelError::Host(format!("address {a:?} of {} lacks /prefix", i.name))
                })?;
                let ip: IpAddr = addr
                    .parse()
                    .map_err(|_| KernelError::Host(format!("bad address {a:?}")))?;
                let max = if ip.is_ipv4() { 32 } else { 128 };
                match len.parse::<u8>() {
                    Ok(l) if l <= max => {}
                    _ => return Err(KernelError::Host(format!("bad prefix length in {a:?}"))),
                }
            }
        }
        for r in &self.routes {
            if !self.interfaces.iter().any(|i| i.name == r.dev) {
                return Err(KernelError::Host(format!(
                    "route to {} uses unknown device {}",
                    r.to, r.dev
                )));
            }
            if let Some(via) = &r.via {
                via.parse::<IpAddr>()
                    .map_err(|_| KernelError::Host(format!("bad gateway {via:?}")))?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn example_node_yaml() {
        let text = include_str!("../../../../testdata/example-node/host.yaml");
        let host = LabHost::from_yaml(text).unwrap();
        assert!(host.forwarding_v4);
        let names: Vec<_> = host.interfaces.iter().map(|i| i.name.as_str()).collect();
        assert_eq!(names, ["lo", "eth0", "cni0"]);
        assert_eq!(host.interfaces[0].kind, InterfaceKind::Loopback);
        assert_eq!(host.interfaces[1].kind, InterfaceKind::Veth);
        assert!(matches!(
            host.interfaces[2].kind,
            InterfaceKind::Bridge { .. }
        ));
        assert_eq!(host.routes[0].via.as_deref(), Some("192.168.49.1"));
        host.validate().unwrap();
    }
}
