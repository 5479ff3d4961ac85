//! The three walks of testdata/example-node/README.md, reproduced by the engine.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::net::IpAddr;

use chainwalk_netfilter::eval::{Prob, Simulator};
use chainwalk_netfilter::host::Host;
use chainwalk_netfilter::model::{Hook, Ruleset, TableName};
use chainwalk_netfilter::packet::parse_packet_line;
use chainwalk_netfilter::syntax::parse_save;
use chainwalk_netfilter::trace::{Effect, EventKind, FateKind, Outcome, Step, Trace};

const RULES: &str = include_str!("../../../testdata/example-node/node.rules");
const HOST: &str = include_str!("../../../testdata/example-node/host.yaml");
const SVC: &str = "KUBE-SVC-QV4NJDQ2TL4A6VRO";

fn node() -> (Ruleset, Host) {
    let parsed = parse_save(RULES, None);
    assert!(!parsed.has_errors(), "{:?}", parsed.diagnostics);
    (parsed.ruleset, Host::from_yaml(HOST).unwrap())
}

fn trace(line: &str) -> Trace {
    let (rs, host) = node();
    let sim = Simulator::new(&rs, &host);
    sim.trace(&parse_packet_line(line).unwrap()).unwrap()
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn dump(o: &Outcome) -> String {
    let mut s = format!("p={} uncertain={:?}\n", o.probability, o.uncertain);
    for st in &o.steps {
        for e in &st.events {
            s += &format!(
                "  {:?} {} {} {:?} {:?} {} {:?} mark={:#x}\n",
                e.hook,
                e.table,
                e.chain(),
                e.rule,
                e.kind,
                e.target(),
                e.effect,
                e.mark
            );
        }
        s += &format!("  notes {:?}\n  fate {:?}\n", st.notes, st.fate);
    }
    s
}

/// (table/chain) sequence of the events, deduplicated in a row, like the kernel test's path.
fn path(st: &Step) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for e in &st.events {
        let c = format!("{}/{}", e.table, e.chain());
        if out.last() != Some(&c) {
            out.push(c);
        }
    }
    out
}

fn pod_of(o: &Outcome) -> String {
    o.steps[0].fate.packet.dst.to_string()
}

fn sep(pod: &str) -> &'static str {
    match pod {
        "10.244.0.6" => "KUBE-SEP-BF7GKAYFIIMLRAW5",
        "10.244.0.7" => "KUBE-SEP-5GV5FJNBRYEOQ7QB",
        other => panic!("not an endpoint: {other}"),
    }
}

#[test]
fn external_syn_splits_in_two_halves_dnats_forwards_and_masquerades() {
    let t = trace(
        "-p tcp -s 192.168.49.1 --sport 40000 -d 10.100.29.239 --dport 80 -i eth0 --syn --then reply",
    );
    assert_eq!(t.outcomes.len(), 2, "{t:#?}");
    let mut pods = Vec::new();
    for o in &t.outcomes {
        let d = dump(o);
        assert_eq!(o.probability, Prob::new(1u8, 1), "{d}");
        assert!(o.uncertain.is_empty(), "{d}");
        let st = &o.steps[0];
        let pod = pod_of(o);
        pods.push(pod.clone());
        assert_eq!(st.fate.kind, FateKind::Forwarded, "{d}");
        assert_eq!(st.fate.iface.as_deref(), Some("cni0"), "{d}");
        assert_eq!(st.fate.packet.src, ip("10.244.0.1"), "{d}");
        assert_eq!(st.fate.packet.dport, Some(80), "{d}");
        assert!(st.fate.packet.sport_random, "--random-fully: {d}");
        assert_eq!(
            st.fate.packet.mark, 0,
            "the mark bit is flipped off again: {d}"
        );
        let p = path(st);
        let want = [
            "mangle/PREROUTING".to_string(),
            "nat/PREROUTING".into(),
            "nat/KUBE-SERVICES".into(),
            format!("nat/{SVC}"),
            "nat/KUBE-MARK-MASQ".into(),
            format!("nat/{SVC}"),
            format!("nat/{}", sep(&pod)),
        ];
        assert_eq!(p[..want.len()], want, "{d}");
        // The DNAT rule is the 2nd of the endpoint chain.
        let dnat = st.events.iter().find(|e| e.chain() == sep(&pod)).unwrap();
        assert_eq!(
            (dnat.hook, dnat.rule, dnat.target()),
            (Hook::Prerouting, Some(2), "DNAT"),
            "{d}"
        );
        assert!(
            matches!(dnat.effect, Some(Effect::Dnat { to, .. }) if to.addr == ip(&pod) && to.port == Some(80)),
            "{d}"
        );
        // KUBE-MARK-MASQ: rule 1 sets 0x4000, then the implicit return.
        let masq: Vec<_> = st
            .events
            .iter()
            .filter(|e| e.chain() == "KUBE-MARK-MASQ")
            .collect();
        assert_eq!(masq.len(), 2, "{d}");
        assert_eq!((masq[0].rule, masq[0].mark), (Some(1), 0x4000), "{d}");
        assert!(
            matches!(
                masq[0].effect,
                Some(Effect::Mark {
                    from: 0,
                    to: 0x4000
                })
            ),
            "{d}"
        );
        assert_eq!(
            (masq[1].kind, masq[1].rule),
            (EventKind::Return, None),
            "{d}"
        );
        // filter FORWARD: KUBE-FORWARD rule 2 accepts because of the mark.
        let filt: Vec<_> = st
            .events
            .iter()
            .filter(|e| e.table == TableName::Filter)
            .collect();
        assert!(filt.iter().all(|e| e.hook == Hook::Forward), "{d}");
        let last = filt.last().unwrap();
        assert_eq!(
            (last.chain(), last.rule, last.target()),
            ("KUBE-FORWARD", Some(2), "ACCEPT"),
            "{d}"
        );
        // nat POSTROUTING: jump, mark flipped off by rule 2, MASQUERADE (rule 3).
        let post: Vec<_> = st
            .events
            .iter()
            .filter(|e| e.table == TableName::Nat && e.hook == Hook::Postrouting)
            .map(|e| (e.chain(), e.rule, e.target(), e.mark))
            .collect();
        assert_eq!(
            post,
            [
                ("POSTROUTING", Some(1), "KUBE-POSTROUTING", 0x4000),
                ("KUBE-POSTROUTING", Some(2), "MARK", 0),
                ("KUBE-POSTROUTING", Some(3), "MASQUERADE", 0),
            ],
            "{d}"
        );
        // The reply: un-NATed by conntrack, no nat rules.
        let r = &o.steps[1];
        assert_eq!(r.input.src, ip(&pod), "{d}");
        assert_eq!(r.input.dst, ip("10.244.0.1"), "{d}");
        assert!(r.events.iter().all(|e| e.table != TableName::Nat), "{d}");
        assert_eq!(r.fate.kind, FateKind::Forwarded, "{d}");
        assert_eq!(r.fate.iface.as_deref(), Some("eth0"), "{d}");
        assert_eq!(
            (r.fate.packet.src, r.fate.packet.sport),
            (ip("10.100.29.239"), Some(80)),
            "{d}"
        );
        assert_eq!(
            (r.fate.packet.dst, r.fate.packet.dport),
            (ip("192.168.49.1"), Some(40000)),
            "{d}"
        );
        // KUBE-FORWARD accepts the reply as ESTABLISHED (rule 3).
        let acc = r
            .events
            .iter()
            .rfind(|e| e.table == TableName::Filter)
            .unwrap();
        assert_eq!((acc.chain(), acc.rule), ("KUBE-FORWARD", Some(3)), "{d}");
    }
    pods.sort();
    assert_eq!(pods, ["10.244.0.6", "10.244.0.7"]);
}

#[test]
fn retransmitted_syn_skips_the_nat_table() {
    let t = trace(
        "-p tcp -s 192.168.49.1 --sport 40001 -d 10.100.29.239 --dport 80 -i eth0 --then again --syn",
    );
    assert_eq!(t.outcomes.len(), 2);
    for o in &t.outcomes {
        let again = &o.steps[1];
        assert!(
            again.events.iter().all(|e| e.table != TableName::Nat),
            "{}",
            dump(o)
        );
        assert_eq!(again.fate.packet, o.steps[0].fate.packet, "{}", dump(o));
    }
}

#[test]
fn local_process_goes_through_nat_output_and_is_rerouted() {
    let t = trace("-p tcp -d 10.100.29.239 --dport 80 --then reply");
    assert_eq!(t.outcomes.len(), 2);
    assert!(
        t.assumptions.iter().any(|a| a.contains("192.168.49.2")),
        "{:?}",
        t.assumptions
    );
    for o in &t.outcomes {
        let d = dump(o);
        assert_eq!(o.probability, Prob::new(1u8, 1), "{d}");
        let st = &o.steps[0];
        assert_eq!(
            st.input.src,
            ip("192.168.49.2"),
            "source picked by the first route lookup: {d}"
        );
        assert_eq!(st.fate.kind, FateKind::Sent, "{d}");
        assert_eq!(
            st.fate.iface.as_deref(),
            Some("cni0"),
            "re-routed after DNAT: {d}"
        );
        assert_eq!(st.fate.packet.src, ip("10.244.0.1"), "{d}");
        let p = path(st);
        assert_eq!(
            p[..5],
            [
                "mangle/OUTPUT".to_string(),
                "nat/OUTPUT".into(),
                "nat/KUBE-SERVICES".into(),
                format!("nat/{SVC}"),
                "nat/KUBE-MARK-MASQ".into()
            ],
            "{d}"
        );
        assert!(
            st.events
                .iter()
                .all(|e| e.hook == Hook::Output || e.hook == Hook::Postrouting),
            "{d}"
        );
        // The reply comes back to the process, un-NATed.
        let r = &o.steps[1];
        assert_eq!(r.fate.kind, FateKind::Local, "{d}");
        assert_eq!(
            (r.fate.packet.src, r.fate.packet.sport),
            (ip("10.100.29.239"), Some(80)),
            "{d}"
        );
        assert_eq!(r.fate.packet.dst, ip("192.168.49.2"), "{d}");
    }
}

#[test]
fn pod_to_its_own_service_hairpins_and_is_masqueraded() {
    let t = trace(
        "-p tcp -s 10.244.0.6 --sport 35000 -d 10.100.29.239 --dport 80 -i cni0 --then reply",
    );
    assert_eq!(t.outcomes.len(), 2);
    for o in &t.outcomes {
        let d = dump(o);
        let st = &o.steps[0];
        assert_eq!(st.fate.kind, FateKind::Forwarded, "{d}");
        assert_eq!(st.fate.iface.as_deref(), Some("cni0"), "{d}");
        // The source is inside 10.244.0.0/16: the service chain's first rule does not mark.
        assert!(
            !st.events
                .iter()
                .any(|e| e.chain() == SVC && e.rule == Some(1)),
            "{d}"
        );
        let pod = pod_of(o);
        if pod == "10.244.0.6" {
            let hair = st
                .events
                .iter()
                .find(|e| e.chain() == sep(&pod) && e.rule == Some(1))
                .unwrap();
            assert_eq!(hair.target(), "KUBE-MARK-MASQ", "{d}");
            assert_eq!(st.fate.packet.src, ip("10.244.0.1"), "{d}");
            // The reply comes back through the node, un-NATed to the pod itself.
            let r = &o.steps[1];
            assert_eq!(r.input.dst, ip("10.244.0.1"), "{d}");
            assert_eq!(r.fate.kind, FateKind::Forwarded, "{d}");
            assert_eq!(
                (r.fate.packet.src, r.fate.packet.dst),
                (ip("10.100.29.239"), ip("10.244.0.6")),
                "{d}"
            );
            assert_eq!(r.fate.packet.dport, Some(35000), "{d}");
        } else {
            assert_eq!(pod, "10.244.0.7", "{d}");
            let ret = st
                .events
                .iter()
                .find(|e| e.chain() == "KUBE-POSTROUTING")
                .unwrap();
            assert_eq!((ret.rule, ret.target()), (Some(1), "RETURN"), "{d}");
            assert_eq!(
                (st.fate.packet.src, st.fate.packet.sport),
                (ip("10.244.0.6"), Some(35000)),
                "{d}"
            );
        }
    }
}

#[test]
fn verdicts_read_as_the_kernel_trace_spells_them() {
    // As the kernel's nf_tables trace shows the external SYN: jumps, MARK continues, the end
    // of KUBE-MARK-MASQ continues, DNAT and MASQUERADE accept, KUBE-FORWARD's ACCEPT.
    let t = trace("-p tcp -s 192.168.49.1 --sport 40000 -d 10.100.29.239 --dport 80 -i eth0");
    let st = &t.outcomes[0].steps[0];
    let v: Vec<(String, Option<usize>, String)> = st
        .events
        .iter()
        .map(|e| (e.chain().to_string(), e.rule, e.kernel_verdict()))
        .collect();
    let has = |chain: &str, rule: Option<usize>, verdict: &str| {
        assert!(
            v.contains(&(chain.to_string(), rule, verdict.to_string())),
            "{chain} {rule:?} {verdict}: {v:?}"
        )
    };
    has("PREROUTING", None, "accept");
    has("PREROUTING", Some(1), "jump KUBE-SERVICES");
    has("KUBE-MARK-MASQ", Some(1), "continue");
    has("KUBE-MARK-MASQ", None, "continue");
    has("KUBE-SEP-BF7GKAYFIIMLRAW5", Some(2), "accept");
    has("KUBE-FORWARD", Some(2), "accept");
    has("POSTROUTING", Some(1), "jump KUBE-POSTROUTING");
    has("KUBE-POSTROUTING", Some(2), "continue");
    has("KUBE-POSTROUTING", Some(3), "accept");
}
