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

/// What one Service contributed to the last sync, reused by partial syncs while the
/// Service and its EndpointSlices stay the same.
#[derive(Debug, Clone, Default)]
struct Rendered {
    /// Its nat `KUBE-SERVICES`/`KUBE-NODEPORTS` rules.
    nat_top: String,
    /// Its filter rules.
    filter: String,
    /// The per-service nat chains it uses (SVC, SVL, EXT, FW, SEP).
    chains: Vec<String>,
    /// Endpoints counted towards large-cluster mode.
    endpoints: usize,
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
    /// Per Service: what the last sync wrote for it.
    rendered: HashMap<SvcKey, Rendered>,
    /// nat chains on the node that no current Service uses (kube-proxy's fixed
    /// chains, chains declared existing, stale chains not yet deleted).
    other_chains: HashSet<String>,
    need_full_sync: bool,
    /// In large-cluster mode kube-proxy looks for stale chains only once per
    /// `syncPeriod`; when this is false such syncs skip the cleanup. Default true
    /// (as if the period had elapsed).
    pub large_cluster_cleanup: bool,
}

/// Settings-derived values shared by all Services of one sync.
struct Ctx<'c> {
    cfg: &'c ProxyConfig,
    is_v6: bool,
    localhost_node_ports: bool,
    large: bool,
    if_local: Option<String>,
    if_not_local: Option<String>,
}

/// The output buffers of one sync.
#[derive(Default)]
struct Bufs {
    filter_rules: String,
    nat_chains: String,
    nat_rules: String,
    /// `names::probability(n)` by `n`, filled on demand.
    probabilities: Vec<String>,
}

/// How a Service is handled in one sync.
enum Plan<'a> {
    /// Unchanged since the last sync: reuse what was written.
    Cached(Rendered),
    /// Render from its endpoints (one list per service port); per-service chains are
    /// written only when `write_chains`.
    Render {
        endpoints: Vec<Vec<Endpoint<'a>>>,
        write_chains: bool,
    },
}

/// Keys present in only one of two sorted maps, or with different values.
fn changed_keys<V: PartialEq>(
    new: &BTreeMap<SvcKey, V>,
    old: &BTreeMap<SvcKey, V>,
    out: &mut HashSet<SvcKey>,
) {
    let mut a = new.iter().peekable();
    let mut b = old.iter().peekable();
    loop {
        match (a.peek(), b.peek()) {
            (None, None) => break,
            (Some((k, _)), None) => {
                out.insert((*k).clone());
                a.next();
            }
            (None, Some((k, _))) => {
                out.insert((*k).clone());
                b.next();
            }
            (Some((ka, va)), Some((kb, vb))) => match ka.cmp(kb) {
                std::cmp::Ordering::Less => {
                    out.insert((*ka).clone());
                    a.next();
                }
                std::cmp::Ordering::Greater => {
                    out.insert((*kb).clone());
                    b.next();
                }
                std::cmp::Ordering::Equal => {
                    if va != vb {
                        out.insert((*ka).clone());
                    }
                    a.next();
                    b.next();
                }
            },
        }
    }
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
            rendered: HashMap::default(),
            other_chains: HashSet::default(),
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
        self.other_chains.extend(chains.into_iter().map(Into::into));
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
        let mut v: Vec<&str> = self
            .other_chains
            .iter()
            .map(String::as_str)
            .chain(
                self.rendered
                    .values()
                    .flat_map(|r| r.chains.iter().map(String::as_str)),
            )
            .collect();
        v.sort_unstable();
        v.dedup();
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
        let mut updated: HashSet<SvcKey> = HashSet::default();
        let mut old_slices = std::mem::take(&mut self.slices);
        let slices = model::slices_by_service_reusing(cluster, &mut old_slices, &mut updated);
        if full {
            updated.clear();
        } else {
            changed_keys(&services, &self.services, &mut updated);
        }

        let mark = cfg.masquerade_mark.as_str();
        let mark_mask = format!("{mark}/{mark}");
        let mut filter_chains = String::new();
        let mut b = Bufs::default();

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
            chain_line(&mut b.nat_chains, c);
        }
        {
            let mut nr = Lines {
                out: Some(&mut b.nat_rules),
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
            b.filter_rules.push_str(
                "-A KUBE-FIREWALL -m comment --comment \"block incoming localnet connections\" -d 127.0.0.0/8 ! -s 127.0.0.0/8 -m conntrack ! --ctstate RELATED,ESTABLISHED,DNAT -j DROP\n",
            );
        }

        // Decide per Service: reuse (partial sync, unchanged) or render.
        let mut old_rendered = std::mem::take(&mut self.rendered);
        let mut plans: Vec<(&SvcKey, &Vec<ServicePortInfo>, Plan<'_>)> =
            Vec::with_capacity(services.len());
        let mut total_endpoints = 0usize;
        for (key, ports) in &services {
            let skip_nat = !full && !updated.contains(key);
            if skip_nat && let Some(r) = old_rendered.remove(key) {
                total_endpoints += r.endpoints;
                plans.push((key, ports, Plan::Cached(r)));
                continue;
            }
            let svc_slices = slices.get(key);
            let endpoints: Vec<Vec<Endpoint<'_>>> = ports
                .iter()
                .map(|p| model::port_endpoints(svc_slices, &p.port_name, &p.protocol_upper, cfg))
                .collect();
            total_endpoints += endpoints.iter().map(Vec::len).sum::<usize>();
            plans.push((
                key,
                ports,
                Plan::Render {
                    endpoints,
                    write_chains: !skip_nat,
                },
            ));
        }
        let large = total_endpoints > LARGE_CLUSTER_ENDPOINTS_THRESHOLD;
        let written: usize = plans
            .iter()
            .map(|(_, _, p)| match p {
                Plan::Render {
                    endpoints,
                    write_chains: true,
                } => endpoints.iter().map(Vec::len).sum(),
                _ => 0,
            })
            .sum();
        b.nat_chains.reserve(written * 36 + services.len() * 100);
        b.nat_rules
            .reserve(written * if large { 340 } else { 480 } + services.len() * 400);
        b.filter_rules.reserve(services.len() * 64);

        let ctx = Ctx {
            cfg,
            is_v6,
            localhost_node_ports: self.localhost_node_ports,
            large,
            if_local: cfg.local_detector.if_local(),
            if_not_local: cfg.local_detector.if_not_local(),
        };
        let mut rendered: HashMap<SvcKey, Rendered> = HashMap::default();
        rendered.reserve(services.len());
        // Chains of re-rendered Services that their previous rendering also used.
        for (key, ports, plan) in plans {
            let r = match plan {
                Plan::Cached(r) => {
                    b.nat_rules.push_str(&r.nat_top);
                    b.filter_rules.push_str(&r.filter);
                    r
                }
                Plan::Render {
                    endpoints,
                    write_chains,
                } => render_service(&ctx, ports, &endpoints, write_chains, &mut b),
            };
            rendered.insert(key.clone(), r);
        }

        // Stale chains: chains on the node that no current Service uses. Chain names
        // hash the service port name, so a chain a changed or deleted Service used
        // can only still be in use by the same Service.
        let mut candidates: Vec<String> = Vec::new();
        for (key, old) in old_rendered {
            match rendered.get(&key) {
                Some(new) => {
                    let now: HashSet<&str> = new.chains.iter().map(String::as_str).collect();
                    candidates.extend(old.chains.into_iter().filter(|c| !now.contains(c.as_str())));
                }
                None => candidates.extend(old.chains),
            }
        }
        let other = std::mem::take(&mut self.other_chains);
        if other.iter().any(|c| names::is_service_chain(c)) {
            let active: HashSet<&str> = rendered
                .values()
                .flat_map(|r| r.chains.iter().map(String::as_str))
                .collect();
            candidates.extend(other.into_iter().filter(|c| !active.contains(c.as_str())));
        } else {
            candidates.extend(other);
        }
        candidates.sort_unstable();
        candidates.dedup();
        let mut deleted = Vec::new();
        let mut remaining: HashSet<String> = HashSet::default();
        let cleanup = !large || self.large_cluster_cleanup;
        for c in candidates {
            if cleanup && names::is_service_chain(&c) {
                chain_line(&mut b.nat_chains, &c);
                b.nat_rules.push_str("-X ");
                b.nat_rules.push_str(&c);
                b.nat_rules.push('\n');
                deleted.push(c);
            } else {
                remaining.insert(c);
            }
        }

        let mut nat_rules = b.nat_rules;
        let mut filter_rules = b.filter_rules;
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

        // The nat rules are by far the largest part: put the rest in front of them
        // in place rather than copying them.
        let mut head = String::with_capacity(
            filter_chains.len() + filter_rules.len() + b.nat_chains.len() + 32,
        );
        head.push_str("*filter\n");
        head.push_str(&filter_chains);
        head.push_str(&filter_rules);
        head.push_str("COMMIT\n*nat\n");
        head.push_str(&b.nat_chains);
        let mut restore = nat_rules;
        restore.reserve(head.len() + 8);
        restore.insert_str(0, &head);
        restore.push_str("COMMIT\n");

        // Bookkeeping: the node now holds every chain declared, minus the deleted ones.
        for c in [
            KUBE_SERVICES,
            KUBE_NODEPORTS,
            KUBE_POSTROUTING,
            KUBE_MARK_MASQ,
        ] {
            remaining.insert(c.to_string());
        }
        self.other_chains = remaining;
        self.rendered = rendered;
        self.services = services;
        self.slices = slices;
        self.need_full_sync = false;

        let mut updated_services: Vec<String> =
            updated.iter().map(|(n, s)| format!("{n}/{s}")).collect();
        if !full {
            let mut keys: Vec<&SvcKey> = updated.iter().collect();
            keys.sort_unstable();
            updated_services = keys.iter().map(|(n, s)| format!("{n}/{s}")).collect();
        }
        SyncOutput {
            restore,
            family,
            full_sync: full,
            large_cluster_mode: large,
            deleted_chains: deleted,
            updated_services,
        }
    }
}

/// Renders the rules of one Service (all its ports): the `KUBE-SERVICES`/
/// `KUBE-NODEPORTS` and filter rules always, its own chains when `write_chains`.
fn render_service(
    ctx: &Ctx<'_>,
    ports: &[ServicePortInfo],
    endpoints: &[Vec<Endpoint<'_>>],
    write_chains: bool,
    b: &mut Bufs,
) -> Rendered {
    let cfg = ctx.cfg;
    let large = ctx.large;
    let mut r = Rendered {
        endpoints: endpoints.iter().map(Vec::len).sum(),
        ..Rendered::default()
    };
    let filter_start = b.filter_rules.len();
    for (i, svc) in ports.iter().enumerate() {
        let all_eps: &[Endpoint<'_>] = endpoints.get(i).map(Vec::as_slice).unwrap_or(&[]);
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

        let top_start = b.nat_rules.len();
        let mut fr = Lines {
            out: Some(&mut b.filter_rules),
        };
        let mut nr_top = Lines {
            out: Some(&mut b.nat_rules),
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
                if ctx.localhost_node_ports && !ctx.is_v6 && cfg.nfacct_localhost_nodeports {
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
        r.nat_top
            .push_str(b.nat_rules.get(top_start..).unwrap_or_default());

        // Per-service chains (not written on partial syncs when unchanged).
        let mut nc = Lines {
            out: write_chains.then_some(&mut b.nat_chains),
        };
        let mut nr = Lines {
            out: write_chains.then_some(&mut b.nat_rules),
        };

        if has_internal {
            let args = format!(
                "-m comment --comment \"{name} cluster IP\" {m_proto} -d {cluster_ip} --dport {port}"
            );
            if cfg.masquerade_all {
                nr.line(&["-A", internal_chain, &args, "-j", KUBE_MARK_MASQ]);
            } else if let Some(nl) = &ctx.if_not_local {
                nr.line(&["-A", internal_chain, &args, nl, "-j", KUBE_MARK_MASQ]);
            }
        }

        if uses_ext_chain {
            nc.chain(&ext_chain);
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
                if let Some(l) = &ctx.if_local {
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
                    &format!("\"masquerade LOCAL traffic for {name} external destinations\""),
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
            let head = format!("-A {fw_chain} -m comment --comment \"{name} loadbalancer IP\"");
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
                &format!("\"other traffic to {name} will be dropped by KUBE-PROXY-FIREWALL\""),
            ]);
        }

        // Endpoint chain names, by position in `all_eps`.
        let mut seps: Vec<Option<String>> = vec![None; all_eps.len()];
        for e in cat
            .all_reachable
            .iter()
            .chain(cat.cluster.iter())
            .chain(cat.local.iter())
        {
            if let Some(slot) = seps.get_mut(e.idx)
                && slot.is_none()
            {
                *slot = Some(names::endpoint_chain(name, proto, &e.endpoint));
            }
        }

        if uses_cluster_chain {
            nc.chain(&cluster_chain);
            if write_chains {
                write_lb_rules(
                    &mut nr,
                    &mut b.probabilities,
                    name,
                    svc,
                    &cluster_chain,
                    &cat.cluster,
                    large,
                    &seps,
                );
            }
        }
        if uses_local_chain {
            nc.chain(&local_chain);
            if write_chains {
                write_lb_rules(
                    &mut nr,
                    &mut b.probabilities,
                    name,
                    svc,
                    &local_chain,
                    &cat.local,
                    large,
                    &seps,
                );
            }
        }

        if write_chains {
            for e in &cat.all_reachable {
                let chain = sep_of(&seps, e);
                nc.chain(chain);
                let comment = if large {
                    String::new()
                } else {
                    format!("-m comment --comment {name}")
                };
                nr.line(&["-A", chain, &comment, "-s", e.ip, "-j", KUBE_MARK_MASQ]);
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
        }

        // Active chains, in the order they were declared.
        if uses_ext_chain {
            r.chains.push(ext_chain);
        }
        if uses_fw_chain {
            r.chains.push(fw_chain);
        }
        if uses_cluster_chain {
            r.chains.push(cluster_chain);
        }
        if uses_local_chain {
            r.chains.push(local_chain);
        }
        r.chains.extend(seps.into_iter().flatten());
    }
    r.filter
        .push_str(b.filter_rules.get(filter_start..).unwrap_or_default());
    r
}

/// The `KUBE-SEP-` chain of an endpoint, from names computed by position.
fn sep_of<'s>(seps: &'s [Option<String>], e: &Endpoint<'_>) -> &'s str {
    seps.get(e.idx)
        .and_then(Option::as_deref)
        .unwrap_or_default()
}

/// Writes the affinity and load-balancing rules of a `KUBE-SVC-`/`KUBE-SVL-` chain.
#[allow(clippy::too_many_arguments)]
fn write_lb_rules(
    nr: &mut Lines<'_>,
    probabilities: &mut Vec<String>,
    name: &str,
    svc: &ServicePortInfo,
    chain: &str,
    eps: &[&Endpoint<'_>],
    large: bool,
    seps: &[Option<String>],
) {
    let comment = |e: &Endpoint<'_>| {
        if large {
            String::new()
        } else {
            format!("-m comment --comment \"{name} -> {}\"", e.endpoint)
        }
    };
    if svc.client_ip_affinity {
        let secs = svc.sticky_seconds.to_string();
        for e in eps {
            let c = sep_of(seps, e);
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
    if probabilities.len() < n + 1 {
        let start = probabilities.len();
        probabilities.extend((start..=n).map(names::probability));
    }
    for (i, e) in eps.iter().enumerate() {
        let c = sep_of(seps, e);
        let comment = comment(e);
        if i + 1 < n {
            let p = probabilities.get(n - i).map(String::as_str).unwrap_or("");
            nr.line(&[
                "-A",
                chain,
                &comment,
                "-m statistic --mode random --probability",
                p,
                "-j",
                c,
            ]);
        } else {
            nr.line(&["-A", chain, &comment, "-j", c]);
        }
    }
}
