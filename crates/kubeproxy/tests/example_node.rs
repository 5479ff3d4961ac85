//! The example node (`testdata/example-node`): rendering its cluster with its
//! kube-proxy configuration must give the kube-proxy rules the real node holds
//! (`node.rules`, an `iptables-save` of the node after kube-proxy's first sync).
//!
//! Our node view is printed in `iptables-save` form, which already applies the two
//! normalisations between kube-proxy's restore input and what `iptables-save` prints:
//! the mark `0x00004000` is printed as `0x4000`, and the probability `0.5000000000`
//! (ten decimals) as the kernel's fixed-point value with eleven decimals,
//! `0.50000000000`. The node has no nfacct counters (no `-m nfacct` in KUBE-FORWARD)
//! and its iptables supports `--random-fully`; kubelet's own canary chain
//! (`KUBE-KUBELET-CANARY`) is not kube-proxy's and is left out of the comparison.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use chainwalk_kubeproxy::{
    Cluster, IpFamily, KubeProxyConfiguration, NodeTables, Proxier, ProxyConfig,
};
use std::path::Path;

fn read(name: &str) -> String {
    let p = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../testdata/example-node")
        .join(name);
    std::fs::read_to_string(p).expect("example node file")
}

fn relevant(text: &str) -> Vec<String> {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.contains("KUBE-KUBELET-CANARY"))
        .map(str::to_string)
        .collect()
}

#[test]
fn example_node_rules_match() {
    let (cluster, warnings) = Cluster::from_objects(&read("cluster.yaml")).expect("cluster");
    assert!(warnings.is_empty(), "{warnings:?}");
    let kpc = KubeProxyConfiguration::from_yaml(&read("kube-proxy.yaml")).expect("config");
    let host = ProxyConfig {
        random_fully: true,
        nfacct_invalid_dropped: false,
        nfacct_localhost_nodeports: false,
        ..ProxyConfig::default()
    };
    let cfg = kpc.resolve(IpFamily::V4, None, &cluster, &host);
    assert_eq!(cfg.node_name, "minikube");
    assert_eq!(cfg.node_ip, Some("192.168.49.2".parse().unwrap()));
    let mut proxier = Proxier::new(cfg);
    let out = proxier.sync(&cluster);
    assert!(out.restore.contains("KUBE-SVC-QV4NJDQ2TL4A6VRO"));
    assert!(out.restore.contains("--or-mark 0x00004000"));
    let mut node = NodeTables::new(IpFamily::V4);
    node.apply(&out);
    let ours = relevant(&node.to_save().unwrap());
    let theirs = relevant(&read("node.rules"));
    if ours != theirs {
        let missing: Vec<_> = theirs.iter().filter(|l| !ours.contains(l)).collect();
        let extra: Vec<_> = ours.iter().filter(|l| !theirs.contains(l)).collect();
        panic!(
            "node ruleset differs\nmissing: {missing:#?}\nextra: {extra:#?}\nours:\n{}",
            ours.join("\n")
        );
    }
}
