//! Renders the `iptables-restore` input that upstream kube-proxy (iptables mode)
//! writes for a cluster state, for one IP family at a time, and the ruleset a node
//! holds afterwards. Pure: inputs are strings and structs, nothing touches files,
//! the network or the kernel.
//!
//! # Rule layout
//!
//! kube-proxy writes the `filter` and `nat` tables with `--noflush`, so only the
//! chains it declares are replaced:
//!
//! - nat `KUBE-SERVICES`: one rule per service port and destination (cluster IP →
//!   `KUBE-SVC-…`/`KUBE-SVL-…`, external IP → `KUBE-EXT-…`, load-balancer IP →
//!   `KUBE-EXT-…` or `KUBE-FW-…` when source ranges apply), ending with the jump to
//!   `KUBE-NODEPORTS` for local destinations.
//! - nat `KUBE-NODEPORTS`: node ports → `KUBE-EXT-…` (plus a 127.0.0.0/8 variant
//!   counted by nfacct when localhost node ports are on).
//! - `KUBE-SVC-…` (Cluster policy) and `KUBE-SVL-…` (Local policy): a masquerade rule
//!   for non-pod sources, optional `recent --rcheck` affinity rules, then one jump per
//!   endpoint with probability `1/n`, `1/(n-1)`, … (ten decimals), the last without.
//! - `KUBE-EXT-…`: masquerade and pick the external policy chain (with the local
//!   short-circuit rules for `externalTrafficPolicy: Local`).
//! - `KUBE-FW-…`: accept `loadBalancerSourceRanges`, the rest falls through to the
//!   filter `KUBE-PROXY-FIREWALL` drop.
//! - `KUBE-SEP-…`: hairpin masquerade, then DNAT to the endpoint.
//! - filter `KUBE-SERVICES`/`KUBE-EXTERNAL-SERVICES`/`KUBE-NODEPORTS`: REJECT/DROP for
//!   ports without (local) endpoints, ACCEPT for health-check node ports;
//!   `KUBE-FORWARD`, `KUBE-FIREWALL`, `KUBE-POSTROUTING`, `KUBE-MARK-MASQ`: fixed.
//!
//! Chain names hash the service port name and protocol (see [`names`]). Partial syncs
//! rewrite only the per-service chains of Services whose ports or EndpointSlices
//! changed, and delete vanished chains with `-X`. At full syncs kube-proxy also
//! ensures jump rules in the built-in chains; [`NodeTables`] replays syncs into the
//! ruleset a node holds.
//!
//! ```
//! use chainwalk_kubeproxy::{Cluster, Proxier, ProxyConfig, canonical_order};
//! let (cluster, warnings) = Cluster::from_objects(r#"
//! apiVersion: v1
//! kind: Service
//! metadata: {namespace: default, name: web}
//! spec: {clusterIP: 10.96.0.20, ports: [{port: 80, protocol: TCP}]}
//! "#).unwrap();
//! assert!(warnings.is_empty());
//! let mut proxier = Proxier::new(ProxyConfig::default());
//! let out = proxier.sync(&cluster);
//! assert!(canonical_order(&out.restore).contains("default/web has no endpoints"));
//! ```

pub mod case;
pub mod config;
pub mod legend;
mod model;
pub mod names;
pub mod node;
pub mod objects;
pub mod proxier;
pub mod restore;
pub mod synthetic;

pub use case::Case;
pub use config::{IpFamily, KubeProxyConfiguration, LocalDetector, ProxyConfig};
pub use legend::chain_legend;
pub use node::{JumpRule, NodeTables, SaveError, jump_rules, node_ruleset};
pub use objects::{Cluster, ParseError, Warning};
pub use proxier::{Proxier, SyncOutput};
pub use restore::canonical_order;
pub use synthetic::{NodeOptions, synthetic_cluster, synthetic_node, synthetic_node_config};
