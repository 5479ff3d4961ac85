//! The JSON report, schema `chainwalk/trace/v1` (documented in this crate's README).

use serde_json::{Map, Value, json};

use chainwalk_netfilter::ext::conntrack::CtState;
use chainwalk_netfilter::packet::{Packet, flags_to_string};
use chainwalk_netfilter::trace::{
    Effect, Endpoint, Event, EventKind, Fate, Note, Outcome, RouteDecision, RuleRef, Step, Trace,
    Uncertain,
};

/// The schema name written into every document.
pub const SCHEMA: &str = "chainwalk/trace/v1";

/// Renders a trace as a JSON document (pretty-printed, with a final newline).
pub fn trace_to_json(trace: &Trace) -> String {
    let v = trace_to_value(trace);
    let mut s = serde_json::to_string_pretty(&v).unwrap_or_default();
    s.push('\n');
    s
}

/// The `chainwalk/trace/v1` document of a trace as a JSON value.
pub fn trace_to_value(trace: &Trace) -> Value {
    // Built field by field: `json!` would copy the finished outcomes once more.
    let mut m = Map::new();
    m.insert("schema".into(), Value::from(SCHEMA));
    m.insert(
        "assumptions".into(),
        Value::Array(
            trace
                .assumptions
                .iter()
                .map(|a| Value::from(a.as_str()))
                .collect(),
        ),
    );
    m.insert(
        "outcomes".into(),
        Value::Array(trace.outcomes.iter().map(outcome).collect()),
    );
    Value::Object(m)
}

/// One outcome as a JSON value.
pub fn outcome(o: &Outcome) -> Value {
    let mut m = Map::new();
    m.insert("probability".into(), json!(o.probability.to_f64()));
    m.insert(
        "probability_exact".into(),
        json!({
            "numerator": o.probability.numerator().to_string(),
            "log2_denominator": o.probability.exponent(),
        }),
    );
    m.insert(
        "uncertain".into(),
        Value::Array(o.uncertain.iter().map(uncertain).collect()),
    );
    if let Some(first) = o.steps.first() {
        for (k, v) in step(first) {
            m.insert(k, v);
        }
    }
    m.insert(
        "then".into(),
        Value::Array(
            o.steps
                .iter()
                .skip(1)
                .map(|s| Value::Object(step(s)))
                .collect(),
        ),
    );
    Value::Object(m)
}

fn step(st: &Step) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert("input".into(), packet(&st.input));
    m.insert(
        "events".into(),
        Value::Array(st.events.iter().map(event).collect()),
    );
    m.insert(
        "notes".into(),
        Value::Array(st.notes.iter().map(|(at, n)| note(*at, n)).collect()),
    );
    m.insert("fate".into(), fate(&st.fate));
    m
}

fn rule_ref(r: &RuleRef) -> Value {
    json!({
        "hook": r.hook.chain_name(),
        "table": r.table.as_str(),
        "chain": r.chain,
        "rule": r.rule,
    })
}

fn uncertain(u: &Uncertain) -> Value {
    let mut v = rule_ref(&u.at);
    if let Value::Object(m) = &mut v {
        m.insert("reason".into(), json!(u.reason));
        m.insert("assumed".into(), json!(u.assumed));
    }
    v
}

fn endpoint(e: &Endpoint) -> Value {
    json!({"addr": e.addr.to_string(), "port": e.port})
}

fn event(e: &Event) -> Value {
    let effect = e.effect.as_ref().map(|f| match f {
        Effect::Mark { from, to } => json!({"kind": "mark", "from": from, "to": to}),
        Effect::Dnat { from, to } => {
            json!({"kind": "dnat", "from": endpoint(from), "to": endpoint(to)})
        }
        Effect::Snat {
            from,
            to,
            random_port,
        } => json!({"kind": "snat", "from": endpoint(from), "to": endpoint(to), "random_port": random_port}),
        Effect::Untracked => json!({"kind": "untracked"}),
        Effect::Unknown(r) => json!({"kind": "unknown", "reason": r}),
    });
    json!({
        "hook": e.hook.chain_name(),
        "table": e.table.as_str(),
        "chain": e.chain(),
        "rule": e.rule,
        "kind": match e.kind {
            EventKind::Rule => "rule",
            EventKind::Policy => "policy",
            EventKind::Return => "return",
        },
        "target": e.target(),
        "verdict": e.kernel_verdict(),
        "jump": e.jump,
        "goto": e.goto,
        "text": e.rule_text(),
        "effect": effect,
        "mark": e.mark,
    })
}

/// A packet's headers as a JSON value.
pub fn packet(p: &Packet) -> Value {
    json!({
        "proto": p.proto.to_string(),
        "src": p.src.to_string(),
        "sport": p.sport,
        "sport_random": p.sport_random,
        "dst": p.dst.to_string(),
        "dport": p.dport,
        "tcp_flags": p.tcp_flags.map(flags_to_string),
        "icmp_type": p.icmp.map(|i| i.0),
        "icmp_code": p.icmp.map(|i| i.1),
        "mark": p.mark,
        "in_iface": p.in_iface,
        "out_iface": p.out_iface,
        "physdev_in": p.physdev_in,
        "physdev_out": p.physdev_out,
    })
}

fn fate(f: &Fate) -> Value {
    json!({
        "kind": f.kind.as_str(),
        "iface": f.iface,
        "packet": packet(&f.packet),
        "by": f.by.as_ref().map(rule_ref),
        "reason": f.reason,
    })
}

fn note(at: usize, n: &Note) -> Value {
    let (kind, mut detail) = match n {
        Note::Conntrack {
            state,
            existing,
            reply,
        } => {
            let mut s = String::new();
            CtState(*state).push(&mut s);
            (
                "conntrack",
                json!({"state": s, "existing": existing, "reply": reply}),
            )
        }
        Note::CtNat {
            hook,
            dst_side,
            from,
            to,
        } => (
            "ct_nat",
            json!({"hook": hook.chain_name(), "side": if *dst_side { "dst" } else { "src" }, "from": endpoint(from), "to": endpoint(to)}),
        ),
        Note::NatSkipped { hook, why } => (
            "nat_skipped",
            json!({"hook": hook.chain_name(), "why": why}),
        ),
        Note::Route { reroute, decision } => {
            let d = match decision {
                RouteDecision::Local => json!({"decision": "local"}),
                RouteDecision::Out { dev, via } => {
                    json!({"decision": "out", "dev": dev, "via": via.map(|v| v.to_string())})
                }
                RouteDecision::Drop { reason } => json!({"decision": "drop", "reason": reason}),
            };
            let mut d = d;
            if let Value::Object(m) = &mut d {
                m.insert("reroute".into(), json!(reroute));
            }
            ("route", d)
        }
        Note::SourceSelected { addr, dev } => (
            "source_selected",
            json!({"addr": addr.to_string(), "dev": dev}),
        ),
        Note::Bridged { bridge, iptables } => {
            ("bridged", json!({"bridge": bridge, "iptables": iptables}))
        }
        Note::Loopback => ("loopback", json!({})),
    };
    if let Value::Object(m) = &mut detail {
        m.insert("kind".into(), json!(kind));
        m.insert("after_events".into(), json!(at));
    }
    detail
}
