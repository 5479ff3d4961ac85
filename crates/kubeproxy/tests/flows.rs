//! The packet expectations of the conformance cases (`flows.txt`): the rules rendered for the
//! case (replayed into the node's tables, built-in jump rules included) are traced by the
//! packet engine through the full netfilter flow, and each packet's outcomes are reduced to
//! the two fields the cases state: the DNAT destinations over all outcomes, and whether any
//! outcome passed `KUBE-MARK-MASQ`; with no DNAT, the verdict a kube-proxy rule gave
//! (ACCEPT, DROP, REJECT) or `(none)`.
//!
//! The node for the engine: the case's interfaces and tracer addresses, forwarding on, a
//! default route out of eth0. A packet whose source is one of the node's addresses is sent by
//! a local process (OUTPUT path); any other arrives on eth0.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::net::IpAddr;
use std::path::{Path, PathBuf};

use chainwalk_kubeproxy::{Case, NodeTables, Proxier};
use chainwalk_netfilter::eval::Simulator;
use chainwalk_netfilter::host::Host;
use chainwalk_netfilter::packet::parse_packets;
use chainwalk_netfilter::syntax::parse_save;
use chainwalk_netfilter::trace::{Effect, EventKind, FateKind, Trace};
use libtest_mimic::{Arguments, Failed, Trial};

fn cases_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata/kube-proxy")
}

/// One line of `flows.txt`.
struct Flow {
    name: String,
    proto: String,
    src: String,
    dst: String,
    port: String,
    output: String,
    masquerade: bool,
}

fn read_flows(text: &str) -> Vec<Flow> {
    text.lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .map(|l| {
            let f: Vec<&str> = l.split(" | ").map(str::trim).collect();
            assert_eq!(f.len(), 7, "bad flow line: {l}");
            Flow {
                name: f[0].into(),
                proto: f[1].into(),
                src: f[2].into(),
                dst: f[3].into(),
                port: f[4].into(),
                output: f[5].into(),
                masquerade: f[6] == "true",
            }
        })
        .collect()
}

/// The node the engine traces on, as YAML in the host-file format.
fn host_for(case: &Case) -> Host {
    let mut addrs: Vec<String> = Vec::new();
    let mut lo: Vec<String> = vec!["127.0.0.1/8".into(), "::1/128".into()];
    for i in &case.node.interfaces {
        for a in &i.addresses {
            if i.name == "lo" {
                if !lo.contains(a) {
                    lo.push(a.clone());
                }
            } else {
                addrs.push(a.clone());
            }
        }
    }
    for a in &case.tracer.local_addresses {
        let ip: IpAddr = a.parse().unwrap();
        let known = lo
            .iter()
            .chain(&addrs)
            .any(|x| x.split('/').next() == Some(a.as_str()));
        if !known && !ip.is_loopback() {
            addrs.push(if ip.is_ipv4() {
                format!("{a}/24")
            } else {
                format!("{a}/64")
            });
        }
    }
    let v4 = addrs.iter().find(|a| !a.contains(':')).cloned();
    let v6 = addrs.iter().find(|a| a.contains(':')).cloned();
    let mut yaml = String::from("forwarding: true\nforwarding_v6: true\ninterfaces:\n");
    yaml += &format!("  - name: lo\n    addresses: [{}]\n", lo.join(", "));
    yaml += &format!("  - name: eth0\n    addresses: [{}]\n", addrs.join(", "));
    yaml += "routes:\n";
    if let Some(a) = v4 {
        let ip: std::net::Ipv4Addr = a.split('/').next().unwrap().parse().unwrap();
        let o = ip.octets();
        yaml += &format!(
            "  - to: default\n    via: {}.{}.{}.1\n    dev: eth0\n",
            o[0], o[1], o[2]
        );
    }
    if let Some(a) = v6 {
        let ip: std::net::Ipv6Addr = a.split('/').next().unwrap().parse().unwrap();
        let s = ip.segments();
        yaml += &format!(
            "  - to: default\n    via: \"{:x}:{:x}:{:x}:{:x}::fffe\"\n    dev: eth0\n",
            s[0], s[1], s[2], s[3]
        );
    }
    Host::from_yaml(&yaml).unwrap_or_else(|e| panic!("host for the case: {e}\n{yaml}"))
}

/// What the engine says of one flow, in the cases' terms.
fn reduce(trace: &Trace) -> (String, bool) {
    let mut dnat: Vec<String> = Vec::new();
    let mut verdict: Option<String> = None;
    let mut masq = false;
    for o in &trace.outcomes {
        let Some(step) = o.steps.first() else {
            continue;
        };
        for e in &step.events {
            if e.chain() == "KUBE-MARK-MASQ"
                || (e.kind == EventKind::Rule && e.target() == "KUBE-MARK-MASQ")
            {
                masq = true;
            }
            if let Some(Effect::Dnat { to, .. }) = &e.effect {
                let s = match (to.addr, to.port) {
                    (IpAddr::V6(a), Some(p)) => format!("[{a}]:{p}"),
                    (a, Some(p)) => format!("{a}:{p}"),
                    (a, None) => a.to_string(),
                };
                if !dnat.contains(&s) {
                    dnat.push(s);
                }
            }
            if e.kind == EventKind::Rule
                && e.chain().starts_with("KUBE-")
                && e.target() == "ACCEPT"
                && verdict.is_none()
            {
                verdict = Some("ACCEPT".into());
            }
        }
        if matches!(step.fate.kind, FateKind::Dropped | FateKind::Rejected)
            && let Some(by) = &step.fate.by
            && by.chain.starts_with("KUBE-")
        {
            verdict = Some(
                if step.fate.kind == FateKind::Rejected {
                    "REJECT"
                } else {
                    "DROP"
                }
                .into(),
            );
        }
    }
    let out = if !dnat.is_empty() {
        dnat.join(", ")
    } else {
        verdict.unwrap_or_else(|| "(none)".into())
    };
    (out, masq)
}

fn check_flows(case: &Case, ruleset_text: &str, flows_file: &Path) -> Result<usize, Failed> {
    let parsed = parse_save(ruleset_text, None);
    if parsed.has_errors() {
        return Err(format!("the node ruleset does not parse: {:?}", parsed.diagnostics).into());
    }
    let host = host_for(case);
    let sim = Simulator::new(&parsed.ruleset, &host);
    let flows = read_flows(&std::fs::read_to_string(flows_file)?);
    let mut failures = Vec::new();
    for f in &flows {
        let src: IpAddr = f
            .src
            .parse()
            .map_err(|_| format!("{}: bad source", f.name))?;
        let local = host.is_local(src);
        let mut args: Vec<String> = [
            "-p", &f.proto, "-s", &f.src, "--sport", "40000", "-d", &f.dst, "--dport", &f.port,
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        if !local {
            args.extend(["-i".to_string(), "eth0".to_string()]);
        }
        if f.proto == "tcp" {
            args.push("--syn".into());
        }
        let specs = parse_packets(&args).map_err(|e| format!("{}: {e:?}", f.name))?;
        let trace = sim
            .trace(&specs)
            .map_err(|e| format!("{}: {e:?}", f.name))?;
        let (out, masq) = reduce(&trace);
        if out != f.output || masq != f.masquerade {
            failures.push(format!(
                "{}: expected `{}` masquerade={}, engine says `{out}` masquerade={masq}",
                f.name, f.output, f.masquerade
            ));
        }
    }
    if failures.is_empty() {
        Ok(flows.len())
    } else {
        Err(format!(
            "{} of {} flows differ in {}:\n{}",
            failures.len(),
            flows.len(),
            flows_file.display(),
            failures.join("\n")
        )
        .into())
    }
}

fn run_case(dir: &Path) -> Result<(), Failed> {
    let input = std::fs::read_to_string(dir.join("input.yaml"))?;
    let (case, mut cluster, mut warnings) = Case::load(&input)?;
    if case.kind == "KubeProxyTraceCase" {
        let rules = case
            .rules
            .clone()
            .unwrap_or_else(|| "expected.rules".into());
        let text = std::fs::read_to_string(dir.join(rules))?;
        check_flows(&case, &text, &dir.join("flows.txt"))?;
        return Ok(());
    }
    let cfg = case.proxy_config();
    let family = cfg.family;
    let mut proxier = Proxier::new(cfg);
    let mut node = NodeTables::new(family);
    node.apply(&proxier.sync(&cluster));
    if dir.join("flows.txt").is_file() {
        check_flows(&case, &node.to_save()?, &dir.join("flows.txt"))?;
    }
    for i in 0..case.steps.len() {
        if case.apply_step(i, &mut cluster, &mut warnings) {
            proxier.request_full_sync();
        }
        node.apply(&proxier.sync(&cluster));
        let flows = dir.join(format!("step-{}", i + 1)).join("flows.txt");
        if flows.is_file() {
            check_flows(&case, &node.to_save()?, &flows)?;
        }
    }
    Ok(())
}

fn main() {
    let args = Arguments::from_args();
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(cases_dir())
        .expect("conformance dir")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.join("input.yaml").is_file())
        .filter(|p| {
            p.join("flows.txt").is_file()
                || std::fs::read_dir(p)
                    .map(|d| d.flatten().any(|e| e.path().join("flows.txt").is_file()))
                    .unwrap_or(false)
        })
        .collect();
    dirs.sort();
    let trials = dirs
        .into_iter()
        .map(|dir| {
            let name = dir.file_name().unwrap().to_string_lossy().into_owned();
            Trial::test(name, move || run_case(&dir))
        })
        .collect();
    libtest_mimic::run(&args, trials).exit();
}
