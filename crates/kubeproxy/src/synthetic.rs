//! Synthetic clusters and node rulesets for benchmarks: a reproducible, realistic
//! mix of Services and EndpointSlices, and a whole node's `iptables-save` output
//! built from it (kube-proxy plus Calico- and Docker-style chains).

use crate::config::{IpFamily, LocalDetector, ProxyConfig};
use crate::node::{NodeTables, SaveError};
use crate::objects::Cluster;
use crate::proxier::Proxier;
use ipnet::{IpNet, Ipv4Net};
use serde_json::{Value, json};
use std::net::IpAddr;

/// A small deterministic generator (SplitMix64).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

/// Builds `n_services` Services with `n_endpoints` endpoints each (one EndpointSlice
/// per Service, IPv4), reproducibly from `seed`. The mix: about 60% ClusterIP, 20%
/// NodePort, 20% LoadBalancer (half of those with externalTrafficPolicy Local and a
/// health-check node port, some with loadBalancerSourceRanges), 10% with ClientIP
/// session affinity, 5% with an external IP, 5% with internalTrafficPolicy Local;
/// endpoints spread over 20 nodes (`node-0` … `node-19`), about 5% terminating.
pub fn synthetic_cluster(n_services: usize, n_endpoints: usize, seed: u64) -> Cluster {
    let mut rng = Rng(seed);
    let mut cluster = Cluster::default();
    let mut warnings = Vec::new();
    for i in 0..n_services {
        let ns = format!("ns{}", i % 100);
        let name = format!("svc{i}");
        let cluster_ip = format!("172.{}.{}.{}", 16 + (i >> 16) % 16, (i >> 8) & 255, i & 255);
        let kind = rng.below(10);
        let ty = match kind {
            0..=5 => "ClusterIP",
            6 | 7 => "NodePort",
            _ => "LoadBalancer",
        };
        let node_port = 30000 + (i % 2768) as i64;
        let mut port = json!({"name": "http", "protocol": "TCP", "port": 80, "targetPort": 8080});
        if ty != "ClusterIP" {
            port["nodePort"] = json!(node_port);
        }
        let mut ports = vec![port];
        if rng.below(10) == 0 {
            ports.push(json!({"name": "dns", "protocol": "UDP", "port": 53, "targetPort": 53}));
        }
        let mut spec = json!({"type": ty, "clusterIP": cluster_ip, "ports": ports});
        if rng.below(10) == 0 {
            spec["sessionAffinity"] = json!("ClientIP");
            spec["sessionAffinityConfig"] = json!({"clientIP": {"timeoutSeconds": 10800}});
        }
        if rng.below(20) == 0 {
            spec["externalIPs"] = json!([format!("192.0.2.{}", i % 250 + 1)]);
        }
        if rng.below(20) == 0 {
            spec["internalTrafficPolicy"] = json!("Local");
        }
        let mut status = json!({});
        if ty == "LoadBalancer" {
            status = json!({"loadBalancer": {"ingress": [{"ip": format!("203.0.{}.{}", (i >> 8) & 255, i & 255)}]}});
            if rng.below(2) == 0 {
                spec["externalTrafficPolicy"] = json!("Local");
                spec["healthCheckNodePort"] = json!(32000 + (i % 700) as i64);
            }
            if rng.below(4) == 0 {
                spec["loadBalancerSourceRanges"] = json!(["198.51.100.0/24", "10.0.0.0/8"]);
            }
        }
        let svc = json!({
            "apiVersion": "v1", "kind": "Service",
            "metadata": {"namespace": ns, "name": name},
            "spec": spec, "status": status,
        });
        cluster.apply_value(svc, &mut warnings);

        let mut endpoints: Vec<Value> = Vec::with_capacity(n_endpoints);
        for e in 0..n_endpoints {
            let n = i * n_endpoints + e;
            let terminating = rng.below(20) == 0;
            endpoints.push(json!({
                "addresses": [format!("10.{}.{}.{}", (n >> 16) & 255, (n >> 8) & 255, n & 255)],
                "conditions": {"ready": !terminating, "serving": true, "terminating": terminating},
                "nodeName": format!("node-{}", rng.below(20)),
            }));
        }
        let slice = json!({
            "apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
            "metadata": {"namespace": ns, "name": format!("{name}-abcde"),
                         "labels": {"kubernetes.io/service-name": name}},
            "addressType": "IPv4",
            "endpoints": endpoints,
            "ports": [{"name": "http", "protocol": "TCP", "port": 8080},
                      {"name": "dns", "protocol": "UDP", "port": 53}],
        });
        cluster.apply_value(slice, &mut warnings);
    }
    cluster
}

/// What [`synthetic_node`] puts on the node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeOptions {
    /// Services in the cluster (see [`synthetic_cluster`] for the mix).
    pub services: usize,
    /// Endpoints per Service.
    pub endpoints: usize,
    /// Seed of the cluster and of the other chains' details.
    pub seed: u64,
    /// Calico-style workloads on the node (two `cali-fw-`/`cali-tw-` chains each);
    /// 0 leaves out the `cali-*` chains altogether.
    pub calico_workloads: usize,
    /// Docker-style published container ports; 0 leaves out the `DOCKER*` chains.
    pub docker_containers: usize,
}

impl Default for NodeOptions {
    fn default() -> Self {
        NodeOptions {
            services: 1000,
            endpoints: 10,
            seed: 42,
            calico_workloads: 40,
            docker_containers: 20,
        }
    }
}

/// The kube-proxy settings of the synthetic node `node-0` (IPv4, pod CIDR
/// 10.0.0.0/8, node IP 192.168.0.10, no nfacct counters, so the ruleset loads
/// into a fresh network namespace).
pub fn synthetic_node_config() -> ProxyConfig {
    ProxyConfig {
        node_name: "node-0".into(),
        node_ip: Some(IpAddr::from([192, 168, 0, 10])),
        local_detector: LocalDetector::Cidr(IpNet::V4(
            Ipv4Net::new([10, 0, 0, 0].into(), 8).unwrap_or_default(),
        )),
        nfacct_invalid_dropped: false,
        nfacct_localhost_nodeports: false,
        ..ProxyConfig::default()
    }
}

/// One table of a ruleset being assembled in `iptables-save` form.
#[derive(Debug, Default)]
struct SaveTable {
    name: String,
    /// Chain name and policy (`-` for user chains), in declaration order.
    chains: Vec<(String, String)>,
    /// Rule lines (`-A …`) per chain.
    rules: std::collections::HashMap<String, Vec<String>>,
}

impl SaveTable {
    fn declare(&mut self, chain: &str) {
        if !self.rules.contains_key(chain) {
            let policy = if builtin(&self.name, chain) {
                "ACCEPT"
            } else {
                "-"
            };
            self.chains.push((chain.to_string(), policy.to_string()));
            self.rules.insert(chain.to_string(), Vec::new());
        }
    }
    /// Appends (or with `front`, prepends in order) rules given as `-A CHAIN …` lines.
    fn add(&mut self, lines: &[String], front: bool) {
        let mut by_chain: Vec<(String, Vec<String>)> = Vec::new();
        for l in lines {
            let chain = l.split(' ').nth(1).unwrap_or_default().to_string();
            match by_chain.iter_mut().find(|(c, _)| *c == chain) {
                Some((_, v)) => v.push(l.clone()),
                None => by_chain.push((chain, vec![l.clone()])),
            }
        }
        for (chain, v) in by_chain {
            self.declare(&chain);
            if let Some(rules) = self.rules.get_mut(&chain) {
                if front {
                    rules.splice(0..0, v);
                } else {
                    rules.extend(v);
                }
            }
        }
    }
}

const BUILTINS: [(&str, &[&str]); 4] = [
    ("raw", &["PREROUTING", "OUTPUT"]),
    (
        "mangle",
        &["PREROUTING", "INPUT", "FORWARD", "OUTPUT", "POSTROUTING"],
    ),
    ("filter", &["INPUT", "FORWARD", "OUTPUT"]),
    ("nat", &["PREROUTING", "INPUT", "OUTPUT", "POSTROUTING"]),
];

fn builtin(table: &str, chain: &str) -> bool {
    BUILTINS
        .iter()
        .any(|(t, cs)| *t == table && cs.contains(&chain))
}

/// Splits `iptables-save` text into tables.
fn parse_save_tables(text: &str) -> Vec<SaveTable> {
    let mut out: Vec<SaveTable> = Vec::new();
    for line in text.lines() {
        if let Some(t) = line.strip_prefix('*') {
            out.push(SaveTable {
                name: t.to_string(),
                ..SaveTable::default()
            });
        } else if let Some(t) = out.last_mut() {
            if let Some(decl) = line.strip_prefix(':') {
                let mut it = decl.split(' ');
                let name = it.next().unwrap_or_default();
                t.declare(name);
            } else if line.starts_with("-A ") {
                let chain = line.split(' ').nth(1).unwrap_or_default().to_string();
                t.declare(&chain);
                if let Some(r) = t.rules.get_mut(&chain) {
                    r.push(line.to_string());
                }
            }
        }
    }
    out
}

/// Prints the tables in the order `iptables-save` (nf_tables) uses for them.
fn print_tables(tables: &mut [SaveTable], header: &str) -> String {
    const ORDER: [&str; 5] = ["mangle", "raw", "filter", "nat", "security"];
    tables.sort_by_key(|t| {
        ORDER
            .iter()
            .position(|n| *n == t.name)
            .unwrap_or(ORDER.len())
    });
    let total: usize = tables
        .iter()
        .flat_map(|t| t.rules.values())
        .flatten()
        .map(|l| l.len() + 1)
        .sum();
    let mut out = String::with_capacity(total + 4096);
    out.push_str(header);
    for t in tables.iter_mut() {
        let builtins: &[&str] = BUILTINS
            .iter()
            .find(|(n, _)| *n == t.name)
            .map(|(_, c)| *c)
            .unwrap_or(&[]);
        let rank = |c: &str| {
            let b = builtins.iter().position(|x| *x == c);
            (b.is_none(), b.unwrap_or(0))
        };
        t.chains
            .sort_by(|(a, _), (b, _)| rank(a).cmp(&rank(b)).then_with(|| a.cmp(b)));
        out.push('*');
        out.push_str(&t.name);
        out.push('\n');
        for (c, policy) in &t.chains {
            out.push(':');
            out.push_str(c);
            out.push(' ');
            out.push_str(policy);
            out.push_str(" [0:0]\n");
        }
        for (c, _) in &t.chains {
            for l in t.rules.get(c).into_iter().flatten() {
                out.push_str(l);
                out.push('\n');
            }
        }
        out.push_str("COMMIT\n");
    }
    out
}

/// Calico-style chain identifiers (`cali:` plus 16 URL-safe base64 characters).
fn cali_id(rng: &mut Rng) -> String {
    const A: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut s = String::from("\"cali:");
    for _ in 0..16 {
        let i = rng.below(64) as usize;
        s.push(char::from(A.get(i).copied().unwrap_or(b'A')));
    }
    s.push('"');
    s
}

/// Calico-style rules: (raw, mangle, filter, nat) line lists, and the jumps that go
/// in front of the built-in chains.
fn calico_rules(workloads: usize, rng: &mut Rng) -> [Vec<String>; 4] {
    let mut raw = Vec::new();
    let mut mangle = Vec::new();
    let mut filter = Vec::new();
    let mut nat = Vec::new();
    // The comment goes after the general options, as iptables-save prints it.
    let c = |v: &mut Vec<String>, chain: &str, rule: &str, rng: &mut Rng| {
        let toks: Vec<&str> = rule.split(' ').collect();
        let mut i = 0;
        while let Some(t) = toks.get(i) {
            match *t {
                "!" => i += 1,
                "-s" | "-d" | "-i" | "-o" | "-p" => i += 2,
                _ => break,
            }
        }
        let general = toks.get(..i).unwrap_or_default().join(" ");
        let rest = toks.get(i..).unwrap_or_default().join(" ");
        let sep = if general.is_empty() { "" } else { " " };
        v.push(format!(
            "-A {chain}{sep}{general} -m comment --comment {} {rest}",
            cali_id(rng)
        ));
    };
    // Jumps from the built-in chains.
    for (chain, target) in [("PREROUTING", "cali-PREROUTING"), ("OUTPUT", "cali-OUTPUT")] {
        c(&mut raw, chain, &format!("-j {target}"), rng);
    }
    c(&mut mangle, "PREROUTING", "-j cali-PREROUTING", rng);
    for (chain, target) in [
        ("INPUT", "cali-INPUT"),
        ("FORWARD", "cali-FORWARD"),
        ("OUTPUT", "cali-OUTPUT"),
    ] {
        c(&mut filter, chain, &format!("-j {target}"), rng);
    }
    c(&mut nat, "PREROUTING", "-j cali-PREROUTING", rng);
    c(&mut nat, "OUTPUT", "-j cali-OUTPUT", rng);
    c(&mut nat, "POSTROUTING", "-j cali-POSTROUTING", rng);

    // raw
    c(
        &mut raw,
        "cali-PREROUTING",
        "-j MARK --set-xmark 0x0/0xf0000",
        rng,
    );
    c(
        &mut raw,
        "cali-PREROUTING",
        "-i cali+ -j MARK --set-xmark 0x40000/0x40000",
        rng,
    );
    c(
        &mut raw,
        "cali-PREROUTING",
        "-m mark --mark 0x40000/0x40000 -j cali-rpf-skip",
        rng,
    );
    c(
        &mut raw,
        "cali-PREROUTING",
        "-m mark --mark 0x40000/0x40000 -m rpfilter --validmark --invert -j DROP",
        rng,
    );
    c(
        &mut raw,
        "cali-PREROUTING",
        "-m mark --mark 0x0/0x40000 -j cali-from-host-endpoint",
        rng,
    );
    c(
        &mut raw,
        "cali-PREROUTING",
        "-m mark --mark 0x10000/0x10000 -j ACCEPT",
        rng,
    );
    c(
        &mut raw,
        "cali-OUTPUT",
        "-j MARK --set-xmark 0x0/0xf0000",
        rng,
    );
    c(&mut raw, "cali-OUTPUT", "-j cali-to-host-endpoint", rng);
    c(
        &mut raw,
        "cali-OUTPUT",
        "-m mark --mark 0x10000/0x10000 -j ACCEPT",
        rng,
    );
    raw.push("-A cali-rpf-skip -j RETURN".to_string());
    raw.push("-A cali-from-host-endpoint -j RETURN".to_string());
    raw.push("-A cali-to-host-endpoint -j RETURN".to_string());
    // mangle
    c(
        &mut mangle,
        "cali-PREROUTING",
        "-m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT",
        rng,
    );
    c(
        &mut mangle,
        "cali-PREROUTING",
        "-m mark --mark 0x10000/0x10000 -j ACCEPT",
        rng,
    );
    c(
        &mut mangle,
        "cali-PREROUTING",
        "-j cali-from-host-endpoint",
        rng,
    );
    c(
        &mut mangle,
        "cali-PREROUTING",
        "-m mark --mark 0x10000/0x10000 -j ACCEPT",
        rng,
    );
    mangle.push("-A cali-from-host-endpoint -j RETURN".to_string());
    // nat
    c(&mut nat, "cali-PREROUTING", "-j cali-fip-dnat", rng);
    c(&mut nat, "cali-OUTPUT", "-j cali-fip-dnat", rng);
    c(&mut nat, "cali-POSTROUTING", "-j cali-fip-snat", rng);
    c(&mut nat, "cali-POSTROUTING", "-j cali-nat-outgoing", rng);
    c(
        &mut nat,
        "cali-POSTROUTING",
        "-o vxlan.calico -m addrtype ! --src-type LOCAL --limit-iface-out -m addrtype --src-type LOCAL -j MASQUERADE --random-fully",
        rng,
    );
    c(
        &mut nat,
        "cali-nat-outgoing",
        "-s 10.0.0.0/8 ! -d 10.0.0.0/8 -j MASQUERADE --random-fully",
        rng,
    );
    nat.push("-A cali-fip-dnat -j RETURN".to_string());
    nat.push("-A cali-fip-snat -j RETURN".to_string());
    // filter: fixed part
    c(
        &mut filter,
        "cali-INPUT",
        "-p udp -m udp --dport 4789 -j ACCEPT",
        rng,
    );
    c(
        &mut filter,
        "cali-INPUT",
        "-i cali+ -g cali-wl-to-host",
        rng,
    );
    c(
        &mut filter,
        "cali-INPUT",
        "-m mark --mark 0x10000/0x10000 -j ACCEPT",
        rng,
    );
    c(
        &mut filter,
        "cali-INPUT",
        "-j MARK --set-xmark 0x0/0xf0000",
        rng,
    );
    c(&mut filter, "cali-INPUT", "-j cali-from-host-endpoint", rng);
    c(
        &mut filter,
        "cali-INPUT",
        "-m mark --mark 0x10000/0x10000 -j ACCEPT",
        rng,
    );
    c(
        &mut filter,
        "cali-FORWARD",
        "-j MARK --set-xmark 0x0/0xe0000",
        rng,
    );
    c(
        &mut filter,
        "cali-FORWARD",
        "-m mark --mark 0x0/0x10000 -j cali-from-hep-forward",
        rng,
    );
    c(
        &mut filter,
        "cali-FORWARD",
        "-i cali+ -j cali-from-wl-dispatch",
        rng,
    );
    c(
        &mut filter,
        "cali-FORWARD",
        "-o cali+ -j cali-to-wl-dispatch",
        rng,
    );
    c(&mut filter, "cali-FORWARD", "-j cali-to-hep-forward", rng);
    c(&mut filter, "cali-FORWARD", "-j cali-cidr-block", rng);
    c(
        &mut filter,
        "cali-OUTPUT",
        "-m mark --mark 0x10000/0x10000 -j ACCEPT",
        rng,
    );
    c(&mut filter, "cali-OUTPUT", "-o cali+ -j RETURN", rng);
    c(
        &mut filter,
        "cali-OUTPUT",
        "-j MARK --set-xmark 0x0/0xf0000",
        rng,
    );
    c(
        &mut filter,
        "cali-OUTPUT",
        "-m conntrack ! --ctstate DNAT -j cali-to-host-endpoint",
        rng,
    );
    c(
        &mut filter,
        "cali-OUTPUT",
        "-m mark --mark 0x10000/0x10000 -j ACCEPT",
        rng,
    );
    c(
        &mut filter,
        "cali-wl-to-host",
        "-j cali-from-wl-dispatch",
        rng,
    );
    c(&mut filter, "cali-wl-to-host", "-j ACCEPT", rng);
    for chain in [
        "cali-from-hep-forward",
        "cali-to-hep-forward",
        "cali-from-host-endpoint",
        "cali-to-host-endpoint",
        "cali-cidr-block",
    ] {
        filter.push(format!("-A {chain} -j RETURN"));
    }
    // Per-workload chains and dispatch.
    for w in 0..workloads {
        let iface = format!("cali{:011x}", rng.next() & 0xfff_ffff_ffff);
        let ns = format!("ns{}", w % 100);
        let fw = format!("cali-fw-{iface}");
        let tw = format!("cali-tw-{iface}");
        c(
            &mut filter,
            "cali-from-wl-dispatch",
            &format!("-i {iface} -g {fw}"),
            rng,
        );
        c(
            &mut filter,
            "cali-to-wl-dispatch",
            &format!("-o {iface} -g {tw}"),
            rng,
        );
        for (chain, dir) in [(&fw, "pri"), (&tw, "pro")] {
            c(
                &mut filter,
                chain,
                "-m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT",
                rng,
            );
            c(
                &mut filter,
                chain,
                "-m conntrack --ctstate INVALID -j DROP",
                rng,
            );
            c(&mut filter, chain, "-j MARK --set-xmark 0x0/0x20000", rng);
            if dir == "pri" {
                c(
                    &mut filter,
                    chain,
                    "-p udp -m udp --dport 4789 -j DROP",
                    rng,
                );
            }
            c(&mut filter, chain, &format!("-j cali-{dir}-kns.{ns}"), rng);
            c(
                &mut filter,
                chain,
                "-m mark --mark 0x10000/0x10000 -j RETURN",
                rng,
            );
            c(&mut filter, chain, "-j DROP", rng);
        }
        if w < 100 {
            for dir in ["pri", "pro"] {
                let chain = format!("cali-{dir}-kns.{ns}");
                c(
                    &mut filter,
                    &chain,
                    "-j MARK --set-xmark 0x10000/0x10000",
                    rng,
                );
                c(
                    &mut filter,
                    &chain,
                    "-m mark --mark 0x10000/0x10000 -j RETURN",
                    rng,
                );
            }
        }
    }
    c(&mut filter, "cali-from-wl-dispatch", "-j DROP", rng);
    c(&mut filter, "cali-to-wl-dispatch", "-j DROP", rng);
    [raw, mangle, filter, nat]
}

/// Docker-style rules: (filter, nat) line lists, built-in jumps included.
fn docker_rules(containers: usize, rng: &mut Rng) -> [Vec<String>; 2] {
    let mut filter: Vec<String> = [
        "-A FORWARD -j DOCKER-USER",
        "-A FORWARD -j DOCKER-ISOLATION-STAGE-1",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let mut nat: Vec<String> = vec![
        "-A PREROUTING -m addrtype --dst-type LOCAL -j DOCKER".into(),
        "-A OUTPUT ! -d 127.0.0.0/8 -m addrtype --dst-type LOCAL -j DOCKER".into(),
    ];
    let bridges: Vec<(String, u32)> = std::iter::once(("docker0".to_string(), 17))
        .chain((0..containers / 8).map(|i| {
            (
                format!("br-{:012x}", rng.next() & 0xffff_ffff_ffff),
                18 + i as u32,
            )
        }))
        .collect();
    for (br, net) in &bridges {
        filter.push(format!(
            "-A FORWARD -o {br} -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT"
        ));
        filter.push(format!("-A FORWARD -o {br} -j DOCKER"));
        filter.push(format!("-A FORWARD -i {br} ! -o {br} -j ACCEPT"));
        filter.push(format!("-A FORWARD -i {br} -o {br} -j ACCEPT"));
        filter.push(format!(
            "-A DOCKER-ISOLATION-STAGE-1 -i {br} ! -o {br} -j DOCKER-ISOLATION-STAGE-2"
        ));
        filter.push(format!("-A DOCKER-ISOLATION-STAGE-2 -o {br} -j DROP"));
        nat.push(format!(
            "-A POSTROUTING -s 172.{net}.0.0/16 ! -o {br} -j MASQUERADE"
        ));
        nat.push(format!("-A DOCKER -i {br} -j RETURN"));
    }
    for i in 0..containers {
        let (br, net) = bridges
            .get(i % bridges.len())
            .cloned()
            .unwrap_or_else(|| ("docker0".into(), 17));
        let ip = format!("172.{net}.0.{}", i / bridges.len() + 2);
        let (proto, port) = if rng.below(5) == 0 {
            ("udp", 53)
        } else {
            (
                "tcp",
                [80, 443, 5432, 6379, 8080][(rng.below(5)) as usize % 5],
            )
        };
        let host_port = 8000 + i;
        filter.push(format!(
            "-A DOCKER -d {ip}/32 ! -i {br} -o {br} -p {proto} -m {proto} --dport {port} -j ACCEPT"
        ));
        nat.push(format!(
            "-A POSTROUTING -s {ip}/32 -d {ip}/32 -p {proto} -m {proto} --dport {port} -j MASQUERADE"
        ));
        nat.push(format!(
            "-A DOCKER ! -i {br} -p {proto} -m {proto} --dport {host_port} -j DNAT --to-destination {ip}:{port}"
        ));
    }
    filter.push("-A DOCKER-ISOLATION-STAGE-1 -j RETURN".into());
    filter.push("-A DOCKER-ISOLATION-STAGE-2 -j RETURN".into());
    for i in 0..containers.div_ceil(4) {
        filter.push(format!(
            "-A DOCKER-USER -s 198.18.{}.0/24 -m comment --comment \"blocked range {i}\" -j DROP",
            i % 256
        ));
    }
    filter.push("-A DOCKER-USER -j RETURN".into());
    [filter, nat]
}

/// A whole node's ruleset in `iptables-save` form: the kube-proxy rules of a full
/// sync of [`synthetic_cluster`] on node `node-0` (with the jump rules and canary
/// chains kube-proxy keeps in the built-in chains), plus Calico-style `cali-*`
/// chains in raw, mangle, filter and nat and Docker-style `DOCKER*` chains, as
/// chosen by `opts`. Reproducible from `opts.seed`.
pub fn synthetic_node(opts: &NodeOptions) -> Result<String, SaveError> {
    let cluster = synthetic_cluster(opts.services, opts.endpoints, opts.seed);
    let mut proxier = Proxier::new(synthetic_node_config());
    let sync = proxier.sync(&cluster);
    let mut node = NodeTables::new(IpFamily::V4);
    node.apply(&sync);
    drop(sync);
    let kube = node.to_save()?;
    drop(node);
    let mut tables = parse_save_tables(&kube);
    drop(kube);
    let mut rng = Rng(opts.seed ^ 0x5EED_0FCA_11C0);
    let table = |tables: &mut Vec<SaveTable>, name: &str| -> usize {
        match tables.iter().position(|t| t.name == name) {
            Some(i) => i,
            None => {
                let mut t = SaveTable {
                    name: name.to_string(),
                    ..SaveTable::default()
                };
                for (tn, cs) in BUILTINS {
                    if tn == name {
                        for c in cs {
                            t.declare(c);
                        }
                    }
                }
                tables.insert(0, t);
                0
            }
        }
    };
    if opts.docker_containers > 0 {
        let [filter, nat] = docker_rules(opts.docker_containers, &mut rng);
        let i = table(&mut tables, "filter");
        if let Some(t) = tables.get_mut(i) {
            t.add(&filter, false);
        }
        let i = table(&mut tables, "nat");
        if let Some(t) = tables.get_mut(i) {
            t.add(&nat, false);
        }
    }
    if opts.calico_workloads > 0 {
        let parts = calico_rules(opts.calico_workloads, &mut rng);
        for (name, lines) in ["raw", "mangle", "filter", "nat"].iter().zip(parts) {
            let i = table(&mut tables, name);
            if let Some(t) = tables.get_mut(i) {
                // Calico inserts its jumps at the top of the built-in chains.
                let (jumps, rest): (Vec<String>, Vec<String>) = lines.into_iter().partition(|l| {
                    let chain = l.split(' ').nth(1).unwrap_or_default();
                    builtin(name, chain)
                });
                t.add(&jumps, true);
                t.add(&rest, false);
            }
        }
    }
    let header = format!(
        "# chainwalk synthetic node: {} services x {} endpoints, seed {}, {} Calico workloads, {} Docker ports\n",
        opts.services, opts.endpoints, opts.seed, opts.calico_workloads, opts.docker_containers
    );
    Ok(print_tables(&mut tables, &header))
}
