//! `chainwalk trace --batch FILE`: many packets traced against one loaded ruleset, one JSON
//! document per line out.

use std::io::{BufWriter, IsTerminal as _, Write as _};
use std::process::ExitCode;

use anyhow::Context as _;
use chainwalk_netfilter::eval::Simulator;
use chainwalk_netfilter::packet::{PacketSpec, parse_packet_line, parse_packets};
use serde_json::{Value, json};

use super::trace::{Args, load_host, load_rules, load_state, read};

/// One packet of the batch: where it stood, its id, and its description or what is wrong
/// with it.
struct Item {
    line: usize,
    id: Option<Value>,
    specs: Result<Vec<PacketSpec>, String>,
}

/// Reads the batch file's packets.
fn items(text: &str) -> Vec<Item> {
    let mut out = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let line = i + 1;
        let l = raw.trim();
        if l.is_empty() || l.starts_with('#') {
            continue;
        }
        if l.starts_with('{') {
            let v: Value = match serde_json::from_str(l) {
                Ok(v) => v,
                Err(e) => {
                    out.push(Item {
                        line,
                        id: None,
                        specs: Err(format!("not a JSON object: {e}")),
                    });
                    continue;
                }
            };
            let id = v.get("id").cloned();
            let specs = match v.get("packet") {
                Some(Value::String(s)) => parse_packet_line(s).map_err(|e| e.message),
                Some(Value::Array(a)) => {
                    let words: Option<Vec<&str>> = a.iter().map(Value::as_str).collect();
                    match words {
                        Some(w) => parse_packets(&w).map_err(|e| e.message),
                        None => Err("`packet` must be a string or an array of strings".into()),
                    }
                }
                _ => Err("the object has no `packet` (a string or an array of strings)".into()),
            };
            out.push(Item { line, id, specs });
        } else {
            out.push(Item {
                line,
                id: None,
                specs: parse_packet_line(l).map_err(|e| e.message),
            });
        }
    }
    out
}

/// The interfaces the packets arrive on (for a host assumed from them).
fn named_ifaces(items: &[Item]) -> Vec<chainwalk_netfilter::model::IfName> {
    let mut names: Vec<_> = items
        .iter()
        .filter_map(|it| it.specs.as_ref().ok())
        .flatten()
        .filter_map(|s| match s {
            PacketSpec::Desc(d) => d.in_iface,
            _ => None,
        })
        .collect();
    names.sort();
    names.dedup();
    names
}

/// Runs `trace --batch FILE`.
pub(crate) fn run(args: &Args, file: &str) -> anyhow::Result<ExitCode> {
    let rules_text = read(&args.rules)?;
    let ruleset = load_rules(&args.rules, &rules_text)?;
    let batch = read(file)?;
    let items = items(&batch);
    let host = load_host(args, &named_ifaces(&items))?;
    let (sets, recent, table) = load_state(args)?;
    let mut sim = Simulator::new(&ruleset, &host);
    if let Some(s) = &sets {
        sim = sim.with_ipsets(s);
    }
    if let Some(r) = &recent {
        sim = sim.with_recent(r);
    }
    let bar = std::io::stderr().is_terminal().then(|| {
        let b = indicatif::ProgressBar::new(items.len() as u64);
        if let Ok(style) = indicatif::ProgressStyle::with_template(
            "{bar:40} {pos}/{len} packets, {per_sec}, {eta} left",
        ) {
            b.set_style(style);
        }
        b
    });
    let stdout = std::io::stdout();
    let mut out = BufWriter::new(stdout.lock());
    let mut failed = 0usize;
    for it in &items {
        let doc = match it
            .specs
            .as_ref()
            .map_err(|e| format!("bad packet description: {e}"))
            .and_then(|specs| sim.trace_from(specs, &table).map_err(|e| e.to_string()))
        {
            Ok(trace) => {
                let mut v = chainwalk_report::trace_to_value(&trace);
                // Its lists serve the next packet.
                sim.recycle(trace);
                if let (Some(id), Some(m)) = (&it.id, v.as_object_mut()) {
                    m.insert("id".into(), id.clone());
                }
                v
            }
            Err(e) => {
                failed += 1;
                let mut v = json!({ "line": it.line, "error": e });
                if let (Some(id), Some(m)) = (&it.id, v.as_object_mut()) {
                    m.insert("id".into(), id.clone());
                }
                v
            }
        };
        serde_json::to_writer(&mut out, &doc).context("cannot write the output")?;
        out.write_all(b"\n").context("cannot write the output")?;
        if let Some(b) = &bar {
            b.inc(1);
        }
    }
    out.flush().context("cannot write the output")?;
    if let Some(b) = bar {
        b.finish_and_clear();
    }
    if failed > 0 {
        eprintln!("{failed} of {} packets could not be traced", items.len());
        return Ok(ExitCode::from(super::EXIT_ERRORS));
    }
    Ok(ExitCode::SUCCESS)
}
