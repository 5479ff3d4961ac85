//! `chainwalk kube render` against the conformance cases and the example node.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};

use assert_cmd::Command;

fn testdata() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata")
}

fn chainwalk() -> Command {
    Command::cargo_bin("chainwalk").unwrap()
}

#[test]
fn case_replay_prints_each_step_as_upstream_expects() {
    let case = testdata().join("kube-proxy/sync-repeated-partial");
    for step in 0..=8 {
        let expected = if step == 0 {
            case.join("expected.rules")
        } else {
            case.join(format!("step-{step}/expected.rules"))
        };
        let out = chainwalk()
            .args([
                "kube",
                "render",
                "--canonical",
                "--step",
                &step.to_string(),
                "--case",
            ])
            .arg(&case)
            .assert()
            .success()
            .get_output()
            .stdout
            .clone();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            std::fs::read_to_string(expected).unwrap(),
            "step {step}"
        );
    }
}

#[test]
fn example_node_view_is_the_real_nodes_ruleset() {
    let dir = testdata().join("example-node");
    let out = chainwalk()
        .args(["kube", "render", "--node-view", "--objects"])
        .arg(dir.join("cluster.yaml"))
        .arg("--config")
        .arg(dir.join("kube-proxy.yaml"))
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    // The node's dump also holds kubelet's canary chain, which kube-proxy does not write.
    let real: String = std::fs::read_to_string(dir.join("node.rules"))
        .unwrap()
        .lines()
        .filter(|l| !l.starts_with('#') && !l.contains("KUBE-KUBELET-CANARY"))
        .map(|l| format!("{l}\n"))
        .collect();
    assert_eq!(String::from_utf8(out).unwrap(), real);
}

#[test]
fn missing_step_is_a_usage_error() {
    chainwalk()
        .args(["kube", "render", "--step", "3", "--case"])
        .arg(testdata().join("kube-proxy/etp-local"))
        .assert()
        .failure()
        .stderr(predicates::str::contains("no step 3"));
}

#[test]
fn kube_trace_names_services_and_endpoints() {
    let dir = testdata().join("example-node");
    let out = chainwalk()
        .args(["kube", "trace", "--objects"])
        .arg(dir.join("cluster.yaml"))
        .arg("--config")
        .arg(dir.join("kube-proxy.yaml"))
        .arg("--host")
        .arg(dir.join("host.yaml"))
        .args(["--", "-p", "tcp", "-s", "192.168.49.1", "--sport", "40000"])
        .args([
            "-d",
            "10.100.29.239",
            "--dport",
            "80",
            "-i",
            "eth0",
            "--syn",
        ])
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let text = String::from_utf8(out).unwrap();
    assert!(text.starts_with("2 outcomes"), "{text}");
    assert!(text.contains(
        "KUBE-SVC-QV4NJDQ2TL4A6VRO = Service default/hello-nginx, port 80/TCP (cluster IP 10.100.29.239)"
    ));
    assert!(
        text.contains("KUBE-SEP-BF7GKAYFIIMLRAW5 = endpoint 10.244.0.6:80 of default/hello-nginx")
    );
    assert!(
        text.contains("KUBE-SEP-5GV5FJNBRYEOQ7QB = endpoint 10.244.0.7:80 of default/hello-nginx")
    );
    // Chains the packet never visits are not listed.
    assert!(!text.contains("kube-dns"), "{text}");
}
