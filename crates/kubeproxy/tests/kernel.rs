//! Asks the kernel: every sync of every conformance case is loaded the way kube-proxy
//! loads it (at full syncs the canary chains and jump rules are ensured with
//! `iptables -N/-C/-I`, then the restore input goes through `iptables-restore
//! --noflush`) into a fresh network namespace, and `iptables-save` must print exactly
//! our node view. This checks both the replay semantics and the `iptables-save` form.
//!
//! The nfacct objects kube-proxy's counters use are created in the namespace first, as the
//! `nfacct` match needs them. Fails, never skips, when not root
//! or when `ip`/`iptables` are missing (`scripts/test-all.sh` installs them).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use chainwalk_kubeproxy::node::CANARY;
use chainwalk_kubeproxy::{
    Case, Cluster, IpFamily, KubeProxyConfiguration, NodeTables, Proxier, ProxyConfig, SyncOutput,
    jump_rules,
};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

struct Netns(String);

impl Netns {
    fn new(tag: &str) -> Option<Netns> {
        let name = format!("cwkp-{}-{tag}", std::process::id());
        let ok = Command::new("ip")
            .args(["netns", "add", &name])
            .status()
            .ok()?
            .success();
        ok.then_some(Netns(name))
    }
    fn run(&self, args: &[&str], stdin: Option<&str>) -> Result<String, String> {
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", &self.0]).args(args);
        cmd.stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().map_err(|e| e.to_string())?;
        if let Some(mut si) = child.stdin.take() {
            si.write_all(stdin.unwrap_or_default().as_bytes())
                .map_err(|e| e.to_string())?;
        }
        let out = child.wait_with_output().map_err(|e| e.to_string())?;
        if out.status.success() {
            Ok(String::from_utf8_lossy(&out.stdout).to_string())
        } else {
            Err(format!(
                "{args:?}: {}",
                String::from_utf8_lossy(&out.stderr)
            ))
        }
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "del", &self.0]).status();
    }
}

fn usable() -> bool {
    let root = Command::new("id")
        .arg("-u")
        .output()
        .map(|o| o.stdout == b"0\n")
        .unwrap_or(false);
    let tools = ["ip", "iptables-restore", "iptables-save"]
        .iter()
        .all(|t| Command::new(t).arg("--version").output().is_ok());
    root && tools
}

fn cases() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata/kube-proxy");
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .expect("cases")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            std::fs::read_to_string(p.join("input.yaml"))
                .is_ok_and(|s| s.contains("kind: KubeProxyCase"))
        })
        .collect();
    v.sort();
    v
}

fn strip(save: &str) -> String {
    save.lines()
        .filter(|l| !l.starts_with('#'))
        .map(|l| format!("{l}\n"))
        .collect()
}

/// Loads one sync's output the way kube-proxy does: at a full sync the canary chains and the
/// jump rules in the built-in chains are ensured with `iptables -N/-C/-I`, then the restore
/// input goes through `iptables-restore --noflush`.
fn load_like_kube_proxy(ns: &Netns, family: IpFamily, out: &SyncOutput) -> Result<(), String> {
    let (restore_bin, ipt) = match family {
        IpFamily::V4 => ("iptables-restore", "iptables"),
        IpFamily::V6 => ("ip6tables-restore", "ip6tables"),
    };
    if out.full_sync {
        for t in ["mangle", "nat", "filter"] {
            let _ = ns.run(&[ipt, "-t", t, "-N", CANARY], None);
        }
        for j in jump_rules() {
            let _ = ns.run(&[ipt, "-t", j.table, "-N", j.target], None);
            let mut check = vec![ipt, "-t", j.table, "-C", j.chain];
            check.extend(j.args());
            if ns.run(&check, None).is_err() {
                let mut ins = vec![ipt, "-t", j.table, "-I", j.chain, "1"];
                ins.extend(j.args());
                ns.run(&ins, None)?;
            }
        }
    }
    ns.run(&[restore_bin, "--noflush"], Some(&out.restore))
        .map(|_| ())
}

/// The example cluster rendered with the example node's kube-proxy configuration and loaded
/// into a kernel as kube-proxy loads it: `iptables-save` prints exactly the real node's
/// `node.rules` (kubelet's own canary chain, which kube-proxy does not write, left out).
#[test]
fn example_cluster_loads_into_the_real_nodes_ruleset() {
    assert!(
        usable(),
        "this test needs root, ip and iptables (run .ci/install-deps.sh as root)"
    );
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata/example-node");
    let read = |f: &str| std::fs::read_to_string(dir.join(f)).expect("example node file");
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
    let out = Proxier::new(cfg).sync(&cluster);
    let ns = Netns::new("example").expect("netns");
    load_like_kube_proxy(&ns, IpFamily::V4, &out).expect("restore");
    let without_kubelet = |t: &str| -> String {
        t.lines()
            .filter(|l| !l.starts_with('#') && !l.contains("KUBE-KUBELET-CANARY"))
            .map(|l| format!("{l}\n"))
            .collect()
    };
    let kernel = without_kubelet(&ns.run(&["iptables-save"], None).expect("save"));
    assert_eq!(kernel, without_kubelet(&read("node.rules")));
}

#[test]
fn kernel_agrees_with_node_view() {
    assert!(
        usable(),
        "this test needs root, ip and iptables (run .ci/install-deps.sh as root)"
    );
    let mut checked = 0;
    for (n, dir) in cases().iter().enumerate() {
        let input = std::fs::read_to_string(dir.join("input.yaml")).expect("input");
        let (case, mut cluster, mut warnings) = Case::load(&input).expect("case");
        let cfg = case.proxy_config();
        let save_bin = match cfg.family {
            IpFamily::V4 => "iptables-save",
            IpFamily::V6 => "ip6tables-save",
        };
        let ns = Netns::new(&n.to_string()).expect("netns");
        // The accounting objects kube-proxy's `-m nfacct` rules count into.
        for counter in [
            "ct_state_invalid_dropped_pkts",
            "localhost_nps_accepted_pkts",
        ] {
            ns.run(&["nfacct", "add", counter], None)
                .expect("nfacct (installed by .ci/install-deps.sh)");
        }
        let mut proxier = Proxier::new(cfg.clone());
        let mut node = NodeTables::new(cfg.family);
        for step in 0..=case.steps.len() {
            if step > 0 && case.apply_step(step - 1, &mut cluster, &mut warnings) {
                proxier.request_full_sync();
            }
            let out = proxier.sync(&cluster);
            load_like_kube_proxy(&ns, cfg.family, &out).unwrap_or_else(|e| {
                panic!(
                    "{}: step {step}: restore failed: {e}\n{}",
                    dir.display(),
                    out.restore
                )
            });
            node.apply(&out);
            let kernel = strip(&ns.run(&[save_bin], None).expect("save"));
            let ours = node.to_save().unwrap();
            let mut k_sorted: Vec<&str> = kernel.split_inclusive("COMMIT\n").collect();
            let mut o_sorted: Vec<&str> = ours.split_inclusive("COMMIT\n").collect();
            k_sorted.sort();
            o_sorted.sort();
            assert_eq!(
                o_sorted,
                k_sorted,
                "{}: step {step}: node view differs from the kernel's iptables-save",
                dir.display()
            );
            checked += 1;
        }
    }
    eprintln!("checked {checked} syncs against the kernel");
    assert!(checked >= 20);
}

/// A synthetic node ruleset (kube-proxy, Calico- and Docker-style chains) loads into a
/// fresh namespace with plain `iptables-restore`, and the kernel's `iptables-save`
/// prints it back exactly as generated.
#[test]
fn synthetic_node_loads_and_saves_back_unchanged() {
    assert!(
        usable(),
        "this test needs root, ip and iptables (run .ci/install-deps.sh as root)"
    );
    let opts = chainwalk_kubeproxy::NodeOptions {
        services: 120,
        endpoints: 4,
        seed: 7,
        calico_workloads: 12,
        docker_containers: 17,
    };
    let text = chainwalk_kubeproxy::synthetic_node(&opts).unwrap();
    let ns = Netns::new("synthetic").expect("netns");
    ns.run(&["iptables-restore", "--test"], Some(&text))
        .expect("iptables-restore --test");
    ns.run(&["iptables-restore"], Some(&text))
        .expect("iptables-restore");
    let kernel = strip(&ns.run(&["iptables-save"], None).expect("save"));
    assert_eq!(strip(&text), kernel);
    for want in [
        "-j cali-FORWARD",
        "-j DOCKER-USER",
        "-j KUBE-SERVICES",
        "KUBE-SEP-",
    ] {
        assert!(text.contains(want), "{want} missing");
    }
}
