//! The renderers against traces of the example node: JSON carries every field of the trace,
//! text names every step.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use chainwalk_netfilter::eval::Simulator;
use chainwalk_netfilter::host::Host;
use chainwalk_netfilter::packet::parse_packet_line;
use chainwalk_netfilter::syntax::parse_save;
use chainwalk_netfilter::trace::{EventKind, Trace};
use chainwalk_report::{SCHEMA, trace_to_json, trace_to_text};

fn example(line: &str) -> Trace {
    let rs = parse_save(
        include_str!("../../../testdata/example-node/node.rules"),
        None,
    )
    .ruleset;
    let host = Host::from_yaml(include_str!("../../../testdata/example-node/host.yaml")).unwrap();
    Simulator::new(&rs, &host)
        .trace(&parse_packet_line(line).unwrap())
        .unwrap()
}

#[test]
fn json_mirrors_the_trace() {
    let t = example(
        "-p tcp -s 192.168.49.1 --sport 40000 -d 10.100.29.239 --dport 80 -i eth0 --then reply",
    );
    let v: serde_json::Value = serde_json::from_str(&trace_to_json(&t)).unwrap();
    assert_eq!(v["schema"], SCHEMA);
    let outs = v["outcomes"].as_array().unwrap();
    assert_eq!(outs.len(), t.outcomes.len());
    for (o, jo) in t.outcomes.iter().zip(outs) {
        assert_eq!(jo["probability"].as_f64().unwrap(), o.probability.to_f64());
        assert_eq!(
            jo["probability_exact"]["numerator"],
            o.probability.numerator().to_string()
        );
        let st = &o.steps[0];
        let ev = jo["events"].as_array().unwrap();
        assert_eq!(ev.len(), st.events.len());
        for (e, je) in st.events.iter().zip(ev) {
            assert_eq!(je["hook"], e.hook.chain_name());
            assert_eq!(je["table"], e.table.as_str());
            assert_eq!(je["chain"], e.chain());
            assert_eq!(je["rule"].as_u64().map(|r| r as usize), e.rule);
            assert_eq!(je["target"], e.target());
            assert_eq!(je["kind"] == "rule", e.kind == EventKind::Rule);
            assert_eq!(je["mark"].as_u64().unwrap(), u64::from(e.mark));
        }
        assert_eq!(jo["fate"]["kind"], st.fate.kind.as_str());
        assert_eq!(jo["fate"]["iface"].as_str(), st.fate.iface.as_deref());
        assert_eq!(jo["fate"]["packet"]["src"], st.fate.packet.src.to_string());
        assert_eq!(jo["fate"]["packet"]["dst"], st.fate.packet.dst.to_string());
        assert_eq!(jo["then"].as_array().unwrap().len(), o.steps.len() - 1);
        assert_eq!(
            jo["then"][0]["fate"]["packet"]["dst"],
            o.steps[1].fate.packet.dst.to_string()
        );
    }
}

#[test]
fn text_shows_every_rule_and_the_fate() {
    let t = example("-p tcp -d 10.100.29.239 --dport 80");
    let text = trace_to_text(&t, &[]);
    for a in &t.assumptions {
        assert!(text.contains(a.as_str()));
    }
    for o in &t.outcomes {
        for e in &o.steps[0].events {
            if let Some(r) = e.rule_text() {
                assert!(text.contains(r), "missing rule {r}");
            }
        }
        let iface = o.steps[0].fate.iface.as_deref().unwrap();
        assert!(text.contains(&format!(
            "sent out {iface} to {}",
            o.steps[0].fate.packet.dst
        )));
    }
    assert!(text.contains("1/2 ≈ 0.500000"));
}
