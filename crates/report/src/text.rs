//! The text report: per outcome, its probability and the uncertain decisions it rests on,
//! then per packet one line per step (hook, table, chain, rule number, the rule as
//! `iptables-save` prints it, what it did) and the fate.

use std::fmt::Write as _;
use std::net::IpAddr;

use chainwalk_netfilter::conntrack::Entry;
use chainwalk_netfilter::ext::conntrack::CtState;
use chainwalk_netfilter::trace::{
    Effect, Endpoint, Event, EventKind, Fate, FateKind, Note, Outcome, RouteDecision, Step, Trace,
};

/// Renders a trace for people. `labels` names the packets of the sequence (`"SYN"`,
/// `"reply"`, …); missing labels are numbered.
pub fn trace_to_text(trace: &Trace, labels: &[String]) -> String {
    let mut out = String::new();
    for a in &trace.assumptions {
        let _ = writeln!(out, "assumed: {a}");
    }
    if !trace.assumptions.is_empty() {
        out.push('\n');
    }
    let n = trace.outcomes.len();
    let _ = writeln!(
        out,
        "{n} outcome{}{}",
        if n == 1 { "" } else { "s" },
        if n > 1 { ":" } else { "" }
    );
    if n > 1 {
        for (i, o) in trace.outcomes.iter().enumerate() {
            let _ = writeln!(out, "  {}. {}  {}", i + 1, prob(o), summary(o));
        }
    }
    for (i, o) in trace.outcomes.iter().enumerate() {
        out.push('\n');
        let _ = writeln!(out, "── outcome {} of {n} — probability {}", i + 1, prob(o));
        for u in &o.uncertain {
            let at = match u.at.rule {
                Some(r) => format!("{} {} #{r}", u.at.table, u.at.chain),
                None => format!("{} {}", u.at.table, u.at.chain),
            };
            let assumed = match u.assumed {
                Some(true) => "assumed to match",
                Some(false) => "assumed not to match",
                None => "effect unknown",
            };
            let _ = writeln!(out, "   uncertain: {at}: {} ({assumed})", u.reason);
        }
        for (k, st) in o.steps.iter().enumerate() {
            let label = labels
                .get(k)
                .cloned()
                .unwrap_or_else(|| format!("packet {}", k + 1));
            step(&mut out, &label, st);
        }
        if o.steps.len() < labels.len() {
            let _ = writeln!(
                out,
                "   (the rest of the sequence does not happen: the first packet made no connection)"
            );
        }
    }
    out
}

fn prob(o: &Outcome) -> String {
    let p = &o.probability;
    if p.is_one() {
        "1".into()
    } else {
        let exact = if p.exponent() <= 62 {
            format!("{}/{}", p.numerator(), 1u64 << p.exponent())
        } else {
            p.to_string()
        };
        format!("{exact} ≈ {:.6}", p.to_f64())
    }
}

fn summary(o: &Outcome) -> String {
    let mut parts = Vec::new();
    for st in &o.steps {
        parts.push(fate_short(&st.fate));
    }
    let mut s = parts.join("; then ");
    if !o.uncertain.is_empty() {
        s.push_str(" (uncertain)");
    }
    s
}

fn fate_short(f: &Fate) -> String {
    let p = &f.packet;
    let dst = ep(
        Endpoint {
            addr: p.dst,
            port: p.dport,
        },
        false,
    );
    let src = ep(
        Endpoint {
            addr: p.src,
            port: p.sport,
        },
        p.sport_random,
    );
    match f.kind {
        FateKind::Local => format!("delivered locally to {dst} from {src}"),
        FateKind::Forwarded => format!(
            "forwarded out {} to {dst} from {src}",
            f.iface.as_deref().unwrap_or("?")
        ),
        FateKind::Sent => format!(
            "sent out {} to {dst} from {src}",
            f.iface.as_deref().unwrap_or("?")
        ),
        FateKind::Dropped => match (&f.by, &f.reason) {
            (Some(b), _) => format!("dropped by {} {}{}", b.table, b.chain, rule_no(b.rule)),
            (None, Some(r)) => format!("dropped: {r}"),
            _ => "dropped".into(),
        },
        FateKind::Rejected => match &f.by {
            Some(b) => format!(
                "rejected by {} {}{} ({})",
                b.table,
                b.chain,
                rule_no(b.rule),
                f.reason.as_deref().unwrap_or("")
            ),
            None => "rejected".into(),
        },
        FateKind::Queued => "queued to userspace".into(),
    }
}

fn rule_no(r: Option<usize>) -> String {
    match r {
        Some(n) => format!(" #{n}"),
        None => " (policy)".into(),
    }
}

fn ep(e: Endpoint, random: bool) -> String {
    let a = match e.addr {
        IpAddr::V6(a) if e.port.is_some() => format!("[{a}]"),
        a => a.to_string(),
    };
    match e.port {
        Some(_) if random => format!("{a}:random"),
        Some(p) => format!("{a}:{p}"),
        None => a,
    }
}

fn step(out: &mut String, label: &str, st: &Step) {
    let p = &st.input;
    let from = match (&p.in_iface, &p.physdev_in) {
        (Some(i), Some(port)) => format!("arrives on {i} (bridge port {port})"),
        (Some(i), None) => format!("arrives on {i}"),
        (None, _) => "sent by a local process".into(),
    };
    let _ = writeln!(out, "   {label}: {p}, {from}");
    let mut notes = st.notes.iter().peekable();
    for (i, e) in st.events.iter().enumerate() {
        while let Some((_, n)) = notes.next_if(|(at, _)| *at <= i) {
            note(out, n);
        }
        event(out, e);
    }
    for (_, n) in notes {
        note(out, n);
    }
    let _ = writeln!(out, "     ⇒ {}", fate_line(&st.fate));
}

fn event(out: &mut String, e: &Event) {
    let head = format!(
        "{:<11} {:<8} {}",
        e.hook.chain_name(),
        e.table.as_str(),
        e.chain()
    );
    match e.kind {
        EventKind::Policy => {
            let _ = writeln!(out, "     {head}  policy {}", e.target());
        }
        EventKind::Return => {
            let _ = writeln!(out, "     {head}  end of chain: return to the caller");
        }
        EventKind::Rule => {
            let what = match &e.effect {
                Some(Effect::Mark { from, to }) => format!("mark {from:#x} → {to:#x}"),
                Some(Effect::Dnat { from, to }) => {
                    format!("{} {} → {}", e.target(), ep(*from, false), ep(*to, false))
                }
                Some(Effect::Snat {
                    from,
                    to,
                    random_port,
                }) => format!(
                    "{} {} → {}",
                    e.target(),
                    ep(*from, false),
                    ep(*to, *random_port)
                ),
                Some(Effect::Untracked) => "untracked: conntrack and nat skip the packet".into(),
                Some(Effect::Unknown(r)) => format!("{}: {r}", e.target()),
                None => match e.target() {
                    "" => "counted (no target)".into(),
                    "ACCEPT" => "accept (this table's chain ends here)".into(),
                    "DROP" => "drop".into(),
                    "REJECT" => "reject".into(),
                    "RETURN" => "return".into(),
                    t if e.goto => format!("goto {t}"),
                    t if e.jump => format!("jump {t}"),
                    t => format!("{t} (continues)"),
                },
            };
            let _ = writeln!(
                out,
                "     {head} #{}  {}  ⇒ {what}",
                e.rule.unwrap_or(0),
                e.rule_text().unwrap_or("")
            );
        }
    }
}

fn note(out: &mut String, n: &Note) {
    let text = match n {
        Note::Conntrack {
            state,
            existing,
            reply,
        } => {
            let mut s = String::new();
            CtState(*state).push(&mut s);
            match (existing, reply) {
                (true, true) => format!("conntrack: reply of a known connection ({s})"),
                (true, false) => format!("conntrack: known connection ({s})"),
                (false, _) if *state & CtState::NEW != 0 => {
                    format!("conntrack: new connection ({s})")
                }
                _ => format!("conntrack: {s}"),
            }
        }
        Note::CtNat {
            hook,
            dst_side,
            from,
            to,
        } => format!(
            "conntrack ({hook}): {} {} → {} (recorded translation, nat table not consulted)",
            if *dst_side { "destination" } else { "source" },
            ep(*from, false),
            ep(*to, false)
        ),
        Note::NatSkipped { hook, why } => format!("nat {hook}: skipped ({why})"),
        Note::Route { reroute, decision } => {
            let what = match decision {
                RouteDecision::Local => "local delivery".to_string(),
                RouteDecision::Out { dev, via: Some(v) } => format!("out {dev} via {v}"),
                RouteDecision::Out { dev, via: None } => format!("out {dev}"),
                RouteDecision::Drop { reason } => format!("{reason}: dropped"),
            };
            if *reroute {
                format!("re-route (destination or mark changed in OUTPUT): {what}")
            } else {
                format!("routing decision: {what}")
            }
        }
        Note::SourceSelected { addr, dev } => {
            format!("source address {addr} picked by the route lookup (out {dev})")
        }
        Note::Bridged { bridge, iptables } => {
            if *iptables {
                format!("bridged by {bridge}; bridge-nf-call-iptables sends it through FORWARD")
            } else {
                format!(
                    "bridged by {bridge}; bridge-nf-call-iptables is off: iptables not consulted"
                )
            }
        }
        Note::Loopback => "loops back through lo".into(),
    };
    let _ = writeln!(out, "     · {text}");
}

fn fate_line(f: &Fate) -> String {
    let mut s = fate_short(f).to_string();
    if matches!(
        f.kind,
        FateKind::Local | FateKind::Forwarded | FateKind::Sent
    ) {
        let _ = write!(s, "  [{}]", f.packet);
    }
    s
}

/// A one-line description of a conntrack entry (`tcp 1.2.3.4:5 → 6.7.8.9:10 | reply …`).
pub fn entry_to_text(e: &Entry) -> String {
    format!(
        "{} {} → {} | reply {} → {}",
        e.orig.proto,
        ep(
            Endpoint {
                addr: e.orig.src,
                port: Some(e.orig.sport)
            },
            false
        ),
        ep(
            Endpoint {
                addr: e.orig.dst,
                port: Some(e.orig.dport)
            },
            false
        ),
        ep(
            Endpoint {
                addr: e.reply.src,
                port: Some(e.reply.sport)
            },
            false
        ),
        ep(
            Endpoint {
                addr: e.reply.dst,
                port: Some(e.reply.dport)
            },
            false
        )
    )
}
