//! `chainwalk trace` and `chainwalk demo` as a user runs them.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::PathBuf;
use std::process::Command;

fn testdata(p: &str) -> String {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../testdata")
        .join(p)
        .to_string_lossy()
        .into_owned()
}

fn chainwalk(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_chainwalk"))
        .args(args)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

#[test]
fn trace_json_is_the_v1_contract() {
    let rules = testdata("example-node/node.rules");
    let host = testdata("example-node/host.yaml");
    let (code, out, err) = chainwalk(&[
        "trace",
        "-r",
        &rules,
        "--host",
        &host,
        "--format",
        "json",
        "-p",
        "tcp",
        "-s",
        "192.168.49.1",
        "--sport",
        "40000",
        "-d",
        "10.100.29.239",
        "--dport",
        "80",
        "-i",
        "eth0",
        "--then",
        "reply",
    ]);
    assert_eq!(code, 0, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["schema"], "chainwalk/trace/v1");
    let outcomes = v["outcomes"].as_array().unwrap();
    assert_eq!(outcomes.len(), 2);
    let total: f64 = outcomes
        .iter()
        .map(|o| o["probability"].as_f64().unwrap())
        .sum();
    assert_eq!(total, 1.0);
    let mut dsts = Vec::new();
    for o in outcomes {
        let fate = &o["fate"];
        assert_eq!(fate["kind"], "forwarded");
        assert_eq!(fate["iface"], "cni0");
        assert_eq!(fate["packet"]["src"], "10.244.0.1");
        dsts.push(fate["packet"]["dst"].as_str().unwrap().to_string());
        let ev = o["events"].as_array().unwrap();
        assert!(ev.iter().all(|e| e["hook"].is_string()
            && e["table"].is_string()
            && e["chain"].is_string()
            && e.get("rule").is_some()
            && e["target"].is_string()));
        let reply = &o["then"][0]["fate"];
        assert_eq!(reply["packet"]["src"], "10.100.29.239");
        assert_eq!(reply["packet"]["dst"], "192.168.49.1");
    }
    dsts.sort();
    assert_eq!(dsts, ["10.244.0.6", "10.244.0.7"]);
}

#[test]
fn trace_reads_command_scripts_and_options_after_the_packet() {
    let script = testdata("example-node/article-rules.sh");
    let host = testdata("example-node/host.yaml");
    let (code, out, err) = chainwalk(&[
        "trace",
        "-r",
        &script,
        "-p",
        "tcp",
        "-s",
        "192.168.49.1",
        "-d",
        "10.100.29.239",
        "--dport",
        "80",
        "-i",
        "eth0",
        "--host",
        &host,
    ]);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("DNAT 10.100.29.239:80 → 10.244.0.6:80"),
        "{out}"
    );
    assert!(
        out.contains("DNAT 10.100.29.239:80 → 10.244.0.7:80"),
        "{out}"
    );
    assert!(
        out.contains("MASQUERADE 192.168.49.1:40000 → 10.244.0.1:random"),
        "{out}"
    );
}

#[test]
fn without_a_host_the_assumptions_are_stated() {
    let rules = testdata("example-node/node.rules");
    let (code, out, err) = chainwalk(&[
        "trace",
        "-r",
        &rules,
        "-p",
        "udp",
        "-s",
        "10.0.0.9",
        "-d",
        "10.96.0.10",
        "--dport",
        "53",
        "-i",
        "eth0",
    ]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("assumed: no host given"), "{out}");
}

#[test]
fn bad_descriptions_fail_with_one_error() {
    let rules = testdata("example-node/node.rules");
    let host = testdata("example-node/host.yaml");
    for (args, want) in [
        (
            vec!["--dport", "80", "-d", "10.100.29.239"],
            "`--dport` needs `-p`",
        ),
        (
            vec![
                "-p", "tcp", "-s", "::1", "-d", "::2", "--dport", "80", "-i", "eth0",
            ],
            "IPv6 address, but the ruleset is IPv4",
        ),
        (
            vec![
                "-p", "tcp", "-s", "10.0.0.1", "-d", "10.0.0.2", "--dport", "80", "-i", "wlan0",
            ],
            "no interface `wlan0`",
        ),
        (
            vec![
                "-p", "tcp", "-s", "10.0.0.1", "-d", "10.0.0", "--dport", "80",
            ],
            "`10.0.0` is not an IP address",
        ),
    ] {
        let mut a = vec!["trace", "-r", &rules, "--host", &host];
        a.extend(args);
        let (code, out, err) = chainwalk(&a);
        assert_eq!(code, 2, "{a:?}: {out}");
        assert!(err.contains(want), "{a:?}: {err}");
        assert_eq!(
            err.lines().filter(|l| l.contains("error")).count(),
            1,
            "{err}"
        );
    }
}

#[test]
fn demo_tells_the_three_walks() {
    let (code, out, err) = chainwalk(&["demo"]);
    assert_eq!(code, 0, "{err}");
    for want in [
        "external client → ClusterIP",
        "local process → ClusterIP",
        "pod → its own Service (hairpin)",
        "DNAT 10.100.29.239:80 → 10.244.0.6:80",
        "DNAT 10.100.29.239:80 → 10.244.0.7:80",
        "MASQUERADE 192.168.49.1:40000 → 10.244.0.1:random",
        "re-route (destination or mark changed in OUTPUT): out cni0",
        "KUBE-SEP-BF7GKAYFIIMLRAW5 #1",
    ] {
        assert!(out.contains(want), "missing `{want}`:\n{out}");
    }
    let (code, out, _) = chainwalk(&["demo", "--format", "json"]);
    assert_eq!(code, 0);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["walks"].as_array().unwrap().len(), 3);
}

#[test]
fn a_conntrack_table_can_be_given() {
    let rules = testdata("example-node/node.rules");
    let host = testdata("example-node/host.yaml");
    let dir = std::env::temp_dir().join(format!("chainwalk-ct-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let ct = dir.join("ct.txt");
    std::fs::write(&ct, "tcp      6 431999 ESTABLISHED src=192.168.49.1 dst=10.100.29.239 sport=40000 dport=80 src=10.244.0.7 dst=10.244.0.1 sport=80 dport=40000 [ASSURED] mark=0 use=1\n").unwrap();
    let (code, out, err) = chainwalk(&[
        "trace",
        "-r",
        &rules,
        "--host",
        &host,
        "--conntrack",
        ct.to_str().unwrap(),
        "--format",
        "json",
        "-p",
        "tcp",
        "-s",
        "192.168.49.1",
        "--sport",
        "40000",
        "-d",
        "10.100.29.239",
        "--dport",
        "80",
        "-i",
        "eth0",
        "--tcp-flags",
        "ALL",
        "ACK",
    ]);
    std::fs::remove_dir_all(&dir).unwrap();
    assert_eq!(code, 0, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    let o = &v["outcomes"].as_array().unwrap();
    assert_eq!(o.len(), 1, "a known connection does not branch");
    assert_eq!(o[0]["fate"]["packet"]["dst"], "10.244.0.7");
    assert!(
        o[0]["events"]
            .as_array()
            .unwrap()
            .iter()
            .all(|e| e["table"] != "nat")
    );
}

#[test]
fn owner_and_time_options_decide_owner_and_limit() {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("owner-limit");
    std::fs::create_dir_all(&dir).unwrap();
    let rules = dir.join("rules");
    std::fs::write(
        &rules,
        "*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n\
         -A OUTPUT -m owner --uid-owner 104 -j DROP\n\
         -A OUTPUT -p udp -m limit --limit 1/sec --limit-burst 1 -j ACCEPT\n\
         -A OUTPUT -p udp -j REJECT\nCOMMIT\n",
    )
    .unwrap();
    let host = dir.join("host.yaml");
    std::fs::write(
        &host,
        "interfaces:\n  - name: eth0\n    addresses: [10.0.0.2/24]\nroutes:\n  - to: default\n    via: 10.0.0.1\n    dev: eth0\n",
    )
    .unwrap();
    let (rules, host) = (rules.to_string_lossy(), host.to_string_lossy());
    let fates = |packet: &str| {
        let mut args = vec!["trace", "-r", &rules, "--host", &host, "--format", "json"];
        args.extend(packet.split(' '));
        let (code, out, err) = chainwalk(&args);
        assert_eq!(code, 0, "{err}");
        let v: serde_json::Value = serde_json::from_str(&out).unwrap();
        let outcomes = v["outcomes"].as_array().unwrap();
        assert_eq!(outcomes.len(), 1, "{out}");
        let mut kinds = vec![outcomes[0]["fate"]["kind"].as_str().unwrap().to_string()];
        for t in outcomes[0]["then"].as_array().into_iter().flatten() {
            kinds.push(t["fate"]["kind"].as_str().unwrap().to_string());
        }
        (kinds, v["assumptions"].to_string())
    };
    let udp = "-p udp -d 10.0.0.1 --dport 53 --uid 0";
    let (k, _) = fates("-p udp -d 10.0.0.1 --dport 53 --uid 104");
    assert_eq!(k, ["dropped"]);
    let (k, assumed) = fates(&format!("{udp} --then {udp} --then {udp} --time 1"));
    assert_eq!(k, ["sent", "rejected", "sent"]);
    assert!(assumed.contains("no --time"), "{assumed}");
}
