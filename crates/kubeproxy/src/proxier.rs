//! The single-family iptables proxier: turns the cluster state into the
//! `iptables-restore` input kube-proxy writes, full or partial.

use crate::config::{IpFamily, ProxyConfig};
use crate::model::{self, Endpoint, ServicePortInfo, SliceInfo, SvcKey};
use crate::names::{self, EXT_PREFIX, FW_PREFIX, SVC_PREFIX, SVL_PREFIX};
use crate::objects::Cluster;
use ipnet::IpNet;
use rustc_hash::{FxHashMap as HashMap, FxHashSet as HashSet};
use std::collections::{BTreeMap, BTreeSet};
use std::net::{IpAddr, Ipv4Addr};

const KUBE_SERVICES: &str = "KUBE-SERVICES";
const KUBE_EXTERNAL_SERVICES: &str = "KUBE-EXTERNAL-SERVICES";
const KUBE_NODEPORTS: &str = "KUBE-NODEPORTS";
const KUBE_POSTROUTING: &str = "KUBE-POSTROUTING";
const KUBE_MARK_MASQ: &str = "KUBE-MARK-MASQ";
const KUBE_FORWARD: &str = "KUBE-FORWARD";
const KUBE_PROXY_FIREWALL: &str = "KUBE-PROXY-FIREWALL";
const KUBE_FIREWALL: &str = "KUBE-FIREWALL";
const NODEPORTS_COMMENT: &str =
    "\"kubernetes service nodeports; NOTE: this must be the last rule in this chain\"";
/// Above this many endpoints kube-proxy drops per-endpoint comments ("large cluster mode").
pub const LARGE_CLUSTER_ENDPOINTS_THRESHOLD: usize = 1000;

/// What one sync wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncOutput {
    /// The `iptables-restore --noflush` input, in kube-proxy's emission order.
    pub restore: String,
    /// The family this output is for (`iptables` or `ip6tables`).
    pub family: IpFamily,
    /// Whether this was a full sync (kube-proxy then also ensures its jump rules in
    /// the built-in chains).
    pub full_sync: bool,
    /// Whether large-cluster mode (more than 1000 endpoints) was in effect.
    pub large_cluster_mode: bool,
    /// Chains deleted (`-X`) by this restore.
    pub deleted_chains: Vec<String>,
    /// Services (`namespace/name`) whose chains were rewritten because they changed
    /// (empty on full syncs, where all are written).
    pub updated_services: Vec<String>,
}

/// A line buffer that may discard what is written (for skipped services).
struct Lines<'a> {
    out: Option<&'a mut String>,
}

impl Lines<'_> {
    fn line(&mut self, parts: &[&str]) {
        if let Some(s) = self.out.as_deref_mut() {
            let mut first = true;
            for p in parts {
                if p.is_empty() {
                    continue;
                }
                if !first {
                    s.push(' ');
                }
                first = false;
                s.push_str(p);
            }
            s.push('\n');
        }
    }
    fn chain(&mut self, name: &str) {
        if let Some(s) = self.out.as_deref_mut() {
            chain_line(s, name);
        }
    }
}

fn chain_line(s: &mut String, name: &str) {
    s.push(':');
    s.push_str(name);
    s.push_str(" - [0:0]\n");
}

/// A single-family kube-proxy in iptables mode, remembering what it wrote so that
/// later syncs can be partial.
#[derive(Debug, Clone)]
pub struct Proxier {
    cfg: ProxyConfig,
    /// Effective localhostNodePorts (off unless nodePortAddresses includes 127/8).
    localhost_node_ports: bool,
    npa_cidrs: Vec<IpNet>,
    npa_match_all: bool,
    services: BTreeMap<SvcKey, Vec<ServicePortInfo>>,
    slices: BTreeMap<SvcKey, BTreeMap<String, SliceInfo>>,
    nat_chains: HashSet<String>,
    need_full_sync: bool,
    /// In large-cluster mode kube-proxy looks for stale chains only once per
    /// `syncPeriod`; when this is false such syncs skip the cleanup. Default true
    /// (as if the period had elapsed).
    pub large_cluster_cleanup: bool,
}

impl Proxier {
    /// A proxier that has not synced yet (its first sync is a full one) on a node
    /// without kube-proxy chains.
    pub fn new(cfg: ProxyConfig) -> Proxier {
        let v4 = cfg.family == IpFamily::V4;
        let mut npa_cidrs: Vec<IpNet> = cfg
            .node_port_addresses
            .iter()
            .filter(|c| c.addr().is_ipv4() == v4)
            .copied()
            .collect();
        if npa_cidrs.is_empty() {
            npa_cidrs.push(if v4 {
                IpNet::V4(Default::default())
            } else {
                IpNet::V6(Default::default())
            });
        }
        let mut contains_v4_loopback = false;
        let mut match_all = false;
        let mut cidrs = Vec::new();
        for c in npa_cidrs {
            if let IpNet::V4(n) = c
                && (n.addr().is_loopback() || n.contains(&Ipv4Addr::new(127, 0, 0, 0)))
            {
                contains_v4_loopback = true;
            }
            if c.prefix_len() == 0 {
                cidrs = vec![c];
                match_all = true;
                break;
            }
            cidrs.push(c);
        }
        Proxier {
            localhost_node_ports: cfg.localhost_node_ports && contains_v4_loopback,
            cfg,
            npa_cidrs: cidrs,
            npa_match_all: match_all,
            services: BTreeMap::new(),
            slices: BTreeMap::new(),
            nat_chains: HashSet::default(),
            need_full_sync: true,
            large_cluster_cleanup: true,
        }
    }

    /// Declares chains that already exist in the node's nat table (e.g. from an
    /// `iptables-save`); stale kube-proxy chains among them are deleted by the next sync.
    pub fn with_existing_nat_chains<I: IntoIterator<Item = S>, S: Into<String>>(
        mut self,
        chains: I,
    ) -> Self {
        self.nat_chains.extend(chains.into_iter().map(Into::into));
        self
    }

    /// The settings this proxier runs with.
    pub fn config(&self) -> &ProxyConfig {
        &self.cfg
    }

    /// Makes the next sync a full one (as kube-proxy does periodically, on topology
    /// label changes, and when its canary chain vanished).
    pub fn request_full_sync(&mut self) {
        self.need_full_sync = true;
    }

    /// The nat chains this proxier believes exist on the node.
    pub fn nat_chains(&self) -> Vec<&str> {
        let mut v: Vec<&str> = self.nat_chains.iter().map(String::as_str).collect();
        v.sort_unstable();
        v
    }

    /// Syncs to `cluster`: a full sync the first time or after
    /// [`request_full_sync`](Self::request_full_sync), otherwise a partial one that
    /// rewrites only the chains of Services whose ports or endpoints changed.
    pub fn sync(&mut self, cluster: &Cluster) -> SyncOutput {
        let cfg = &self.cfg;
        let family = cfg.family;
        let is_v6 = family == IpFamily::V6;
        let full = self.need_full_sync;

        // ServiceChangeTracker / EndpointsChangeTracker.
        let mut services: BTreeMap<SvcKey, Vec<ServicePortInfo>> = BTreeMap::new();
        for ((ns, name), svc) in &cluster.services {
            if let Some(ports) = model::service_ports(svc, ns, name, family) {
                services.insert((ns.clone(), name.clone()), ports);
            }
        }
        let slices = model::slices_by_service(cluster);
        let mut updated: BTreeSet<SvcKey> = BTreeSet::new();
        for k in services.keys().chain(self.services.keys()) {
            if services.get(k) != self.services.get(k) {
                updated.insert(k.clone());
            }
        }
        for k in slices.keys().chain(self.slices.keys()) {
            if slices.get(k) != self.slices.get(k) {
                updated.insert(k.clone());
            }
        }

        let mark = cfg.masquerade_mark.as_str();
        let mark_mask = format!("{mark}/{mark}");
        let mut filter_chains = String::new();
        let mut filter_rules = String::new();
        let mut nat_chains = String::new();
        let mut nat_rules = String::new();

        for c in [
            KUBE_SERVICES,
            KUBE_EXTERNAL_SERVICES,
            KUBE_FORWARD,
            KUBE_NODEPORTS,
            KUBE_PROXY_FIREWALL,
        ] {
            chain_line(&mut filter_chains, c);
        }
        for c in [
            KUBE_SERVICES,
            KUBE_NODEPORTS,
            KUBE_POSTROUTING,
            KUBE_MARK_MASQ,
        ] {
            chain_line(&mut nat_chains, c);
        }
        {
            let mut nr = Lines {
                out: Some(&mut nat_rules),
            };
            nr.line(&[
                "-A",
                KUBE_POSTROUTING,
                "-m mark ! --mark",
                &mark_mask,
                "-j RETURN",
            ]);
            nr.line(&["-A", KUBE_POSTROUTING, "-j MARK --xor-mark", mark]);
            nr.line(&[
                "-A",
                KUBE_POSTROUTING,
                "-m comment --comment \"kubernetes service traffic requiring SNAT\" -j MASQUERADE",
                if cfg.random_fully {
                    "--random-fully"
                } else {
                    ""
                },
            ]);
            nr.line(&["-A", KUBE_MARK_MASQ, "-j MARK --or-mark", mark]);
        }
        if !is_v6 && self.localhost_node_ports {
            chain_line(&mut filter_chains, KUBE_FIREWALL);
            filter_rules.push_str(
                "-A KUBE-FIREWALL -m comment --comment \"block incoming localnet connections\" -d 127.0.0.0/8 ! -s 127.0.0.0/8 -m conntrack ! --ctstate RELATED,ESTABLISHED,DNAT -j DROP\n",
            );
        }

        let mut active: HashSet<String> = HashSet::default();
        active.reserve(self.nat_chains.len() + 1024);

        // Endpoints per service port.
        let empty = BTreeMap::new();
        let mut endpoints: HashMap<&SvcKey, HashMap<(String, String), Vec<Endpoint>>> =
            HashMap::default();
        let mut total_endpoints = 0usize;
        for k in services.keys() {
            let eps = model::service_endpoints(slices.get(k).unwrap_or(&empty), cfg);
            for p in services.get(k).into_iter().flatten() {
                if let Some(v) = eps.get(&(p.port_name.clone(), p.protocol_upper.clone())) {
                    total_endpoints += v.len();
                }
            }
            endpoints.insert(k, eps);
        }
        let large = total_endpoints > LARGE_CLUSTER_ENDPOINTS_THRESHOLD;
        nat_chains.reserve(total_endpoints * 32 + services.len() * 64);
        nat_rules.reserve(total_endpoints * if large { 220 } else { 320 } + services.len() * 300);
        filter_rules.reserve(services.len() * 64);
        let if_local = cfg.local_detector.if_local();
        let if_not_local = cfg.local_detector.if_not_local();
        let no_eps: Vec<Endpoint> = Vec::new();

        for (key, ports) in &services {
            let svc_eps = endpoints.get(key);
            let skip_nat = !full && !updated.contains(key);
            for svc in ports {
                let all_eps = svc_eps
                    .and_then(|m| m.get(&(svc.port_name.clone(), svc.protocol_upper.clone())))
                    .unwrap_or(&no_eps);
                let cat = model::categorize(all_eps, svc, cfg);
                let proto = svc.protocol.as_str();
                let name = svc.name.as_str();
                let cluster_ip = svc.cluster_ip.to_string();
                let port = svc.port.to_string();

                let cluster_chain = svc.chain(SVC_PREFIX);
                let uses_cluster_chain = !cat.cluster.is_empty() && svc.uses_cluster_endpoints();
                let local_chain = svc.chain(SVL_PREFIX);
                let uses_local_chain = !cat.local.is_empty() && svc.uses_local_endpoints();

                let has_endpoints = cat.has_any;
                let mut internal_chain = &cluster_chain;
                let mut has_internal = has_endpoints;
                if svc.internal_policy_local {
                    internal_chain = &local_chain;
                    if cat.local.is_empty() {
                        has_internal = false;
                    }
                }
                let mut external_policy_chain = &cluster_chain;
                let mut has_external = has_endpoints;
                if svc.external_policy_local {
                    external_policy_chain = &local_chain;
                    if cat.local.is_empty() {
                        has_external = false;
                    }
                }
                let ext_chain = svc.chain(EXT_PREFIX);
                let uses_ext_chain = has_endpoints && svc.externally_accessible();
                let fw_chain = svc.chain(FW_PREFIX);
                let uses_fw_chain =
                    has_endpoints && !svc.lb_vips.is_empty() && !svc.lb_source_ranges.is_empty();
                let lb_chain = if uses_fw_chain { &fw_chain } else { &ext_chain };

                let (mut int_target, mut int_comment) = ("", String::new());
                let (mut ext_target, mut ext_comment) = ("", String::new());
                if !has_endpoints {
                    int_target = "REJECT";
                    int_comment = format!("\"{name} has no endpoints\"");
                    ext_target = "REJECT";
                    ext_comment = int_comment.clone();
                } else {
                    if !has_internal {
                        int_target = "DROP";
                        int_comment = format!("\"{name} has no local endpoints\"");
                    }
                    if !has_external {
                        ext_target = "DROP";
                        ext_comment = format!("\"{name} has no local endpoints\"");
                    }
                }

                let mut fr = Lines {
                    out: Some(&mut filter_rules),
                };
                let mut nr_top = Lines {
                    out: Some(&mut nat_rules),
                };
                let m_proto = ["-m", proto, "-p", proto];
                let m_proto = m_proto.join(" ");

                if has_internal {
                    nr_top.line(&[
                        "-A",
                        KUBE_SERVICES,
                        "-m comment --comment",
                        &format!("\"{name} cluster IP\""),
                        &m_proto,
                        "-d",
                        &cluster_ip,
                        "--dport",
                        &port,
                        "-j",
                        internal_chain,
                    ]);
                } else {
                    fr.line(&[
                        "-A",
                        KUBE_SERVICES,
                        "-m comment --comment",
                        &int_comment,
                        &m_proto,
                        "-d",
                        &cluster_ip,
                        "--dport",
                        &port,
                        "-j",
                        int_target,
                    ]);
                }

                for ip in &svc.external_ips {
                    let ip = ip.to_string();
                    if has_endpoints {
                        nr_top.line(&[
                            "-A",
                            KUBE_SERVICES,
                            "-m comment --comment",
                            &format!("\"{name} external IP\""),
                            &m_proto,
                            "-d",
                            &ip,
                            "--dport",
                            &port,
                            "-j",
                            &ext_chain,
                        ]);
                    }
                    if !has_external {
                        fr.line(&[
                            "-A",
                            KUBE_EXTERNAL_SERVICES,
                            "-m comment --comment",
                            &ext_comment,
                            &m_proto,
                            "-d",
                            &ip,
                            "--dport",
                            &port,
                            "-j",
                            ext_target,
                        ]);
                    }
                }

                for ip in &svc.lb_vips {
                    let ip = ip.to_string();
                    if has_endpoints {
                        nr_top.line(&[
                            "-A",
                            KUBE_SERVICES,
                            "-m comment --comment",
                            &format!("\"{name} loadbalancer IP\""),
                            &m_proto,
                            "-d",
                            &ip,
                            "--dport",
                            &port,
                            "-j",
                            lb_chain,
                        ]);
                    }
                    if uses_fw_chain {
                        fr.line(&[
                            "-A",
                            KUBE_PROXY_FIREWALL,
                            "-m comment --comment",
                            &format!("\"{name} traffic not accepted by {fw_chain}\""),
                            &m_proto,
                            "-d",
                            &ip,
                            "--dport",
                            &port,
                            "-j DROP",
                        ]);
                    }
                }
                if !has_external {
                    for ip in &svc.lb_vips {
                        fr.line(&[
                            "-A",
                            KUBE_EXTERNAL_SERVICES,
                            "-m comment --comment",
                            &ext_comment,
                            &m_proto,
                            "-d",
                            &ip.to_string(),
                            "--dport",
                            &port,
                            "-j",
                            ext_target,
                        ]);
                    }
                }

                if svc.node_port != 0 {
                    let np = svc.node_port.to_string();
                    if has_endpoints {
                        if self.localhost_node_ports && !is_v6 && cfg.nfacct_localhost_nodeports {
                            nr_top.line(&[
                                "-A",
                                KUBE_NODEPORTS,
                                "-m comment --comment",
                                name,
                                &m_proto,
                                "-d 127.0.0.0/8 --dport",
                                &np,
                                "-m nfacct --nfacct-name localhost_nps_accepted_pkts -j",
                                &ext_chain,
                            ]);
                        }
                        nr_top.line(&[
                            "-A",
                            KUBE_NODEPORTS,
                            "-m comment --comment",
                            name,
                            &m_proto,
                            "--dport",
                            &np,
                            "-j",
                            &ext_chain,
                        ]);
                    }
                    if !has_external {
                        fr.line(&[
                            "-A",
                            KUBE_EXTERNAL_SERVICES,
                            "-m comment --comment",
                            &ext_comment,
                            "-m addrtype --dst-type LOCAL",
                            &m_proto,
                            "--dport",
                            &np,
                            "-j",
                            ext_target,
                        ]);
                    }
                }

                if svc.health_check_node_port != 0 {
                    fr.line(&[
                        "-A",
                        KUBE_NODEPORTS,
                        "-m comment --comment",
                        &format!("\"{name} health check node port\""),
                        "-m tcp -p tcp --dport",
                        &svc.health_check_node_port.to_string(),
                        "-j ACCEPT",
                    ]);
                }

                // Per-service chains (skipped on partial syncs when unchanged).
                let mut nc = Lines {
                    out: if skip_nat {
                        None
                    } else {
                        Some(&mut nat_chains)
                    },
                };
                let mut nr = Lines {
                    out: if skip_nat { None } else { Some(&mut nat_rules) },
                };

                if has_internal {
                    let args = format!(
                        "-m comment --comment \"{name} cluster IP\" {m_proto} -d {cluster_ip} --dport {port}"
                    );
                    if cfg.masquerade_all {
                        nr.line(&["-A", internal_chain, &args, "-j", KUBE_MARK_MASQ]);
                    } else if let Some(nl) = &if_not_local {
                        nr.line(&["-A", internal_chain, &args, nl, "-j", KUBE_MARK_MASQ]);
                    }
                }

                if uses_ext_chain {
                    nc.chain(&ext_chain);
                    active.insert(ext_chain.clone());
                    if !svc.external_policy_local {
                        nr.line(&[
                            "-A",
                            &ext_chain,
                            "-m comment --comment",
                            &format!("\"masquerade traffic for {name} external destinations\""),
                            "-j",
                            KUBE_MARK_MASQ,
                        ]);
                    } else {
                        if let Some(l) = &if_local {
                            nr.line(&[
                                "-A",
                                &ext_chain,
                                "-m comment --comment",
                                &format!("\"pod traffic for {name} external destinations\""),
                                l,
                                "-j",
                                &cluster_chain,
                            ]);
                        }
                        nr.line(&[
                            "-A",
                            &ext_chain,
                            "-m comment --comment",
                            &format!(
                                "\"masquerade LOCAL traffic for {name} external destinations\""
                            ),
                            "-m addrtype --src-type LOCAL -j",
                            KUBE_MARK_MASQ,
                        ]);
                        nr.line(&[
                            "-A",
                            &ext_chain,
                            "-m comment --comment",
                            &format!("\"route LOCAL traffic for {name} external destinations\""),
                            "-m addrtype --src-type LOCAL -j",
                            &cluster_chain,
                        ]);
                    }
                    if has_external {
                        nr.line(&["-A", &ext_chain, "-j", external_policy_chain]);
                    }
                }

                if uses_fw_chain {
                    nc.chain(&fw_chain);
                    active.insert(fw_chain.clone());
                    let head =
                        format!("-A {fw_chain} -m comment --comment \"{name} loadbalancer IP\"");
                    let mut allow_from_node = false;
                    for cidr in &svc.lb_source_ranges {
                        nr.line(&[&head, "-s", &cidr.to_string(), "-j", &ext_chain]);
                        if cfg.node_ip.is_some_and(|ip| cidr.contains(&ip)) {
                            allow_from_node = true;
                        }
                    }
                    if allow_from_node {
                        for ip in &svc.lb_vips {
                            nr.line(&[&head, "-s", &ip.to_string(), "-j", &ext_chain]);
                        }
                    }
                    nr.line(&[
                        "-A",
                        &fw_chain,
                        "-m comment --comment",
                        &format!(
                            "\"other traffic to {name} will be dropped by KUBE-PROXY-FIREWALL\""
                        ),
                    ]);
                }

                let sep_name = |e: &Endpoint| names::endpoint_chain(name, proto, &e.endpoint);
                let mut sep_names: HashMap<&str, String> = HashMap::default();
                if !skip_nat {
                    for e in cat
                        .all_reachable
                        .iter()
                        .chain(cat.cluster.iter())
                        .chain(cat.local.iter())
                    {
                        sep_names
                            .entry(e.endpoint.as_str())
                            .or_insert_with(|| sep_name(e));
                    }
                }
                let sep = |e: &Endpoint| -> &str {
                    sep_names
                        .get(e.endpoint.as_str())
                        .map(String::as_str)
                        .unwrap_or_default()
                };

                if uses_cluster_chain {
                    nc.chain(&cluster_chain);
                    active.insert(cluster_chain.clone());
                    if !skip_nat {
                        write_lb_rules(
                            &mut nr,
                            name,
                            svc,
                            &cluster_chain,
                            &cat.cluster,
                            large,
                            &sep,
                        );
                    }
                }
                if uses_local_chain {
                    nc.chain(&local_chain);
                    active.insert(local_chain.clone());
                    if !skip_nat {
                        write_lb_rules(&mut nr, name, svc, &local_chain, &cat.local, large, &sep);
                    }
                }

                for e in &cat.all_reachable {
                    if skip_nat {
                        active.insert(sep_name(e));
                        continue;
                    }
                    let chain = sep(e);
                    nc.chain(chain);
                    let comment = if large {
                        String::new()
                    } else {
                        format!("-m comment --comment {name}")
                    };
                    nr.line(&["-A", chain, &comment, "-s", &e.ip, "-j", KUBE_MARK_MASQ]);
                    let recent = if svc.client_ip_affinity {
                        format!("-m recent --name {chain} --set")
                    } else {
                        String::new()
                    };
                    nr.line(&[
                        "-A",
                        chain,
                        &comment,
                        &recent,
                        &m_proto,
                        "-j DNAT --to-destination",
                        &e.endpoint,
                    ]);
                }
                active.extend(sep_names.into_values());
            }
        }

        // Stale chains.
        let mut deleted = Vec::new();
        if !large || self.large_cluster_cleanup {
            let mut stale: Vec<&String> = self
                .nat_chains
                .iter()
                .filter(|c| !active.contains(*c) && names::is_service_chain(c))
                .collect();
            stale.sort();
            for c in stale {
                {
                    chain_line(&mut nat_chains, c);
                    nat_rules.push_str("-X ");
                    nat_rules.push_str(c);
                    nat_rules.push('\n');
                    deleted.push(c.clone());
                }
            }
        }

        // Final jump to KUBE-NODEPORTS.
        if self.npa_match_all {
            let extra = if is_v6 {
                " ! -d ::1/128"
            } else if !self.localhost_node_ports {
                " ! -d 127.0.0.0/8"
            } else {
                ""
            };
            nat_rules.push_str(&format!(
                "-A {KUBE_SERVICES} -m comment --comment {NODEPORTS_COMMENT} -m addrtype --dst-type LOCAL{extra} -j {KUBE_NODEPORTS}\n"
            ));
        } else {
            let mut ips: Vec<IpAddr> = cfg
                .host_addresses
                .iter()
                .filter(|ip| self.npa_cidrs.iter().any(|c| c.contains(*ip)))
                .copied()
                .collect::<BTreeSet<_>>()
                .into_iter()
                .collect();
            ips.retain(|ip| !ip.is_loopback() || (!is_v6 && self.localhost_node_ports));
            for ip in ips {
                nat_rules.push_str(&format!(
                    "-A {KUBE_SERVICES} -m comment --comment {NODEPORTS_COMMENT} -d {ip} -j {KUBE_NODEPORTS}\n"
                ));
            }
        }

        if !cfg.conntrack_tcp_be_liberal {
            filter_rules.push_str("-A KUBE-FORWARD -m conntrack --ctstate INVALID");
            if cfg.nfacct_invalid_dropped {
                filter_rules.push_str(" -m nfacct --nfacct-name ct_state_invalid_dropped_pkts");
            }
            filter_rules.push_str(" -j DROP\n");
        }
        filter_rules.push_str(&format!(
            "-A KUBE-FORWARD -m comment --comment \"kubernetes forwarding rules\" -m mark --mark {mark_mask} -j ACCEPT\n"
        ));
        filter_rules.push_str("-A KUBE-FORWARD -m comment --comment \"kubernetes forwarding conntrack rule\" -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT\n");

        let mut restore = String::with_capacity(
            filter_chains.len() + filter_rules.len() + nat_chains.len() + nat_rules.len() + 32,
        );
        restore.push_str("*filter\n");
        restore.push_str(&filter_chains);
        restore.push_str(&filter_rules);
        restore.push_str("COMMIT\n*nat\n");
        restore.push_str(&nat_chains);
        restore.push_str(&nat_rules);
        restore.push_str("COMMIT\n");

        // Bookkeeping: the node now holds every chain declared, minus the deleted ones.
        for c in &deleted {
            self.nat_chains.remove(c);
        }
        for c in [
            KUBE_SERVICES,
            KUBE_NODEPORTS,
            KUBE_POSTROUTING,
            KUBE_MARK_MASQ,
        ] {
            self.nat_chains.insert(c.to_string());
        }
        self.nat_chains.extend(active);
        self.services = services;
        self.slices = slices;
        self.need_full_sync = false;

        SyncOutput {
            restore,
            family,
            full_sync: full,
            large_cluster_mode: large,
            deleted_chains: deleted,
            updated_services: if full {
                Vec::new()
            } else {
                updated.iter().map(|(n, s)| format!("{n}/{s}")).collect()
            },
        }
    }
}

fn write_lb_rules<'s>(
    nr: &mut Lines<'_>,
    name: &str,
    svc: &ServicePortInfo,
    chain: &str,
    eps: &[&Endpoint],
    large: bool,
    sep: &dyn for<'e> Fn(&'e Endpoint) -> &'s str,
) {
    let comment = |e: &Endpoint| {
        if large {
            String::new()
        } else {
            format!("-m comment --comment \"{name} -> {}\"", e.endpoint)
        }
    };
    if svc.client_ip_affinity {
        let secs = svc.sticky_seconds.to_string();
        for e in eps {
            let c = sep(e);
            nr.line(&[
                "-A",
                chain,
                &comment(e),
                "-m recent --name",
                c,
                "--rcheck --seconds",
                &secs,
                "--reap -j",
                c,
            ]);
        }
    }
    let n = eps.len();
    for (i, e) in eps.iter().enumerate() {
        let c = sep(e);
        let prob = if i + 1 < n {
            format!(
                "-m statistic --mode random --probability {}",
                names::probability(n - i)
            )
        } else {
            String::new()
        };
        nr.line(&["-A", chain, &comment(e), &prob, "-j", c]);
    }
}
