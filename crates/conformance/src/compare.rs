//! The seam to the engine under test, the comparison, and reproducers of disagreements.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use crate::case::Case;
use chainwalk_host::kernel::PacketSpec;

use crate::ConformanceError;
use crate::record::{Port, Record, RuleIndex};
use crate::run::run_kernel;

/// An implementation of netfilter that is checked against the kernel: it answers a case
/// with one record per packet. Packets given as templates ([`crate::PacketTemplate`]) are
/// resolved with [`Case::resolve`] from the engine's own earlier records; a packet that
/// cannot be resolved ends the case, as it does on the kernel side
/// ([`crate::run::run_packets`]).
pub trait Engine {
    /// A short name for reports.
    fn name(&self) -> &str;
    /// Runs every packet of `case` in order (flushing conntrack where the case says so).
    fn run(&self, case: &Case) -> Result<Vec<Record>, ConformanceError>;
}

/// The kernel itself as an engine: comparing it with itself shows whether a case is
/// deterministic (a case the kernel answers differently twice is unfit for comparison).
#[derive(Debug, Default, Clone, Copy)]
pub struct KernelEngine;

impl Engine for KernelEngine {
    fn name(&self) -> &str {
        "kernel"
    }

    fn run(&self, case: &Case) -> Result<Vec<Record>, ConformanceError> {
        run_kernel(case).map(|r| r.records)
    }
}

/// One difference between the kernel and the engine for one packet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Difference {
    /// Packet index.
    pub packet: usize,
    /// What differs: `path`, `fate`, `out_iface`, `headers`, `conntrack`, `packet`, `count`.
    pub field: &'static str,
    /// The kernel's value.
    pub kernel: String,
    /// The engine's value.
    pub engine: String,
}

/// The result of comparing one case.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Every packet agrees.
    Agree,
    /// At least one packet differs.
    Disagree(Vec<Difference>),
}

/// Compares kernel and engine records of one case. Compared per packet: the packet sent
/// (it differs only when an earlier difference changed a flow), the sequence of steps
/// (hook, table, chain, rule position/policy/end, verdict), the fate, the output
/// interface, the final headers and the conntrack entry. Ports chosen at random by
/// `--random-fully`/`--random` source NAT agree with any value, also where later
/// packets of the same flow (replies) carry them.
pub fn compare(case: &Case, kernel: &[Record], engine: &[Record]) -> Outcome {
    let index = RuleIndex::parse(&case.rules);
    let mut diffs = Vec::new();
    if kernel.len() != engine.len() {
        diffs.push(Difference {
            packet: kernel.len().min(engine.len()),
            field: "count",
            kernel: kernel.len().to_string(),
            engine: engine.len().to_string(),
        });
    }
    // Ports a random source NAT chose earlier in the same flow, per side: later packets
    // built on them (replies) carry them too.
    let (mut k_random, mut e_random): (Vec<u16>, Vec<u16>) = (Vec::new(), Vec::new());
    for (i, (k, e)) in kernel.iter().zip(engine).enumerate() {
        if case.packets.get(i).is_some_and(|p| p.flush_conntrack) {
            k_random.clear();
            e_random.clear();
        }
        let mut k = k.normalized(&index);
        let mut e = e.normalized(&index);
        mark_random(&mut k, &k_random);
        mark_random(&mut e, &e_random);
        k_random.extend(random_values(&k));
        e_random.extend(random_values(&e));
        let mut push = |field: &'static str, kv: String, ev: String| {
            diffs.push(Difference {
                packet: i,
                field,
                kernel: kv,
                engine: ev,
            })
        };
        if !packet_agrees(&k.packet, &k_random, &e.packet, &e_random) {
            push(
                "packet",
                crate::case::packet_text(&k.packet),
                crate::case::packet_text(&e.packet),
            );
        }
        if k.steps != e.steps {
            let path = |r: &Record| {
                let mut s = String::new();
                for st in &r.steps {
                    let _ = write!(
                        s,
                        "\n    {}/{}/{} {:?} {}",
                        st.hook, st.table, st.chain, st.at, st.verdict
                    );
                }
                s
            };
            push("path", path(&k), path(&e));
        }
        if k.fate != e.fate {
            push("fate", format!("{:?}", k.fate), format!("{:?}", e.fate));
        }
        if k.out_iface != e.out_iface {
            push(
                "out_iface",
                format!("{:?}", k.out_iface),
                format!("{:?}", e.out_iface),
            );
        }
        let hdr_ok = match (&k.headers, &e.headers) {
            (Some(a), Some(b)) => a.agrees(b),
            (None, None) => true,
            _ => false,
        };
        if !hdr_ok {
            let show = |h: &Option<crate::record::FinalHeaders>| {
                h.as_ref()
                    .map(|h| h.to_string())
                    .unwrap_or_else(|| "-".into())
            };
            push("headers", show(&k.headers), show(&e.headers));
        }
        let ct_ok = match (&k.conntrack, &e.conntrack) {
            (Some(a), Some(b)) => a.agrees(b),
            (None, None) => true,
            _ => false,
        };
        if !ct_ok {
            let show = |c: &Option<crate::record::CtEntry>| {
                c.as_ref()
                    .map(|c| c.to_string())
                    .unwrap_or_else(|| "-".into())
            };
            push("conntrack", show(&k.conntrack), show(&e.conntrack));
        }
    }
    if diffs.is_empty() {
        Outcome::Agree
    } else {
        Outcome::Disagree(diffs)
    }
}

/// Port values marked randomised in a normalized record.
fn random_values(r: &Record) -> Vec<u16> {
    let mut v = Vec::new();
    let mut take = |p: Option<Port>| {
        if let Some(Port::Randomised(x)) = p {
            v.push(x);
        }
    };
    if let Some(h) = &r.headers {
        take(h.sport);
        take(h.dport);
    }
    if let Some(c) = &r.conntrack {
        take(c.reply.sport);
        take(c.reply.dport);
    }
    v
}

/// Marks ports equal to an earlier randomised value as randomised.
fn mark_random(r: &mut Record, values: &[u16]) {
    if values.is_empty() {
        return;
    }
    let fix = |p: &mut Option<Port>| {
        if let Some(x) = p
            && values.contains(&x.value())
        {
            *x = x.randomised();
        }
    };
    if let Some(h) = &mut r.headers {
        fix(&mut h.sport);
        fix(&mut h.dport);
    }
    if let Some(c) = &mut r.conntrack {
        fix(&mut c.orig.sport);
        fix(&mut c.orig.dport);
        fix(&mut c.reply.sport);
        fix(&mut c.reply.dport);
    }
}

/// Packets agree when equal, ports that each side took from its own randomised ports
/// excepted.
fn packet_agrees(k: &PacketSpec, kr: &[u16], e: &PacketSpec, er: &[u16]) -> bool {
    let port = |a: u16, b: u16| a == b || (kr.contains(&a) && er.contains(&b));
    let mut k2 = k.clone();
    let e2 = e.clone();
    if port(k.sport, e.sport) {
        k2.sport = e.sport;
    }
    if port(k.dport, e.dport) {
        k2.dport = e.dport;
    }
    k2 == e2
}

/// The differences as readable text.
pub fn diff_text(diffs: &[Difference]) -> String {
    let mut s = String::new();
    for d in diffs {
        let _ = writeln!(
            s,
            "packet {} {}:\n  kernel: {}\n  engine: {}",
            d.packet, d.field, d.kernel, d.engine
        );
    }
    s
}

fn write(path: &Path, text: &str) -> Result<(), ConformanceError> {
    std::fs::write(path, text).map_err(|source| ConformanceError::Io {
        path: path.display().to_string(),
        source,
    })
}

/// Writes a reproducer of a disagreement into `dir/<case name>/`: `rules` (the ruleset),
/// `host.yaml` (node and neighbours), `packets.txt`, `kernel.txt` and `engine.txt` (each
/// side's path, fate, headers and conntrack per packet) and `diff.txt`. Returns the folder.
pub fn write_reproducer(
    dir: &Path,
    case: &Case,
    kernel: &[Record],
    engine: &[Record],
    diffs: &[Difference],
) -> Result<PathBuf, ConformanceError> {
    let safe: String = case
        .name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "-_.".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect();
    let folder = dir.join(safe);
    std::fs::create_dir_all(&folder).map_err(|source| ConformanceError::Io {
        path: folder.display().to_string(),
        source,
    })?;
    let index = RuleIndex::parse(&case.rules);
    let listing = |records: &[Record]| {
        let mut s = String::new();
        for (i, r) in records.iter().enumerate() {
            let _ = writeln!(
                s,
                "== packet {i}\n{}",
                r.normalized(&index).describe(&index)
            );
        }
        s
    };
    write(&folder.join("rules"), &case.rules)?;
    write(&folder.join("host.yaml"), &case.host_yaml())?;
    write(&folder.join("packets.txt"), &case.packets_text())?;
    write(&folder.join("kernel.txt"), &listing(kernel))?;
    write(&folder.join("engine.txt"), &listing(engine))?;
    write(&folder.join("diff.txt"), &diff_text(diffs))?;
    Ok(folder)
}

/// Whether `case` still shows a disagreement (kernel or engine errors count as no).
fn still_disagrees(case: &Case, engine: &dyn Engine) -> bool {
    let Ok(kernel) = run_kernel(case) else {
        return false;
    };
    let Ok(ours) = engine.run(case) else {
        return false;
    };
    matches!(compare(case, &kernel.records, &ours), Outcome::Disagree(_))
}

/// The case without packet `k` (templates that point past it are renumbered); `None` when
/// a later packet is derived from it.
fn without_packet(case: &Case, k: usize) -> Option<Case> {
    use crate::case::PacketTemplate as T;
    let referenced = case.packets.iter().any(|p| match p.packet {
        T::Reply { to, .. } => to == k,
        T::Again { of, .. } => of == k,
        T::Fixed(_) => false,
    });
    if referenced || case.packets.len() <= 1 {
        return None;
    }
    let mut c = case.clone();
    c.packets.remove(k);
    for p in &mut c.packets {
        match &mut p.packet {
            T::Reply { to: i, .. } | T::Again { of: i, .. } if *i > k => *i -= 1,
            _ => {}
        }
    }
    if let Some(first) = c.packets.first_mut() {
        first.flush_conntrack = true;
    }
    Some(c)
}

/// Shrinks a disagreeing case to a smaller one that still disagrees: drops packets, then
/// rule lines, one at a time, keeping each removal after which kernel and engine still
/// disagree. Tries at most `budget` candidates (each runs the kernel and the engine once).
pub fn shrink(case: &Case, engine: &dyn Engine, budget: usize) -> Case {
    let mut best = case.clone();
    let mut tries = 0;
    let mut k = best.packets.len();
    while k > 0 && tries < budget {
        k -= 1;
        if let Some(c) = without_packet(&best, k) {
            tries += 1;
            if still_disagrees(&c, engine) {
                best = c;
            }
        }
    }
    let mut lines: Vec<String> = best.rules.lines().map(str::to_string).collect();
    let mut i = lines.len();
    while i > 0 && tries < budget {
        i -= 1;
        if !lines.get(i).is_some_and(|l| l.starts_with("-A ")) {
            continue;
        }
        let mut shorter = lines.clone();
        shorter.remove(i);
        let mut c = best.clone();
        c.rules = shorter.iter().map(|l| format!("{l}\n")).collect();
        tries += 1;
        if still_disagrees(&c, engine) {
            lines = shorter;
            best = c;
        }
    }
    best
}

/// Totals of a conformance run.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Summary {
    /// Cases where every packet agreed.
    pub agree: usize,
    /// Cases with at least one difference.
    pub disagree: usize,
    /// Reproducer folders written.
    pub reproducers: Vec<PathBuf>,
}

/// Runs `cases` on the kernel and on `engine`, compares them and writes a reproducer
/// into `out` for every disagreement, shrunk with [`shrink`] when `shrink_budget` is not
/// zero. `progress` is called after each case.
pub fn run_all(
    cases: &[Case],
    engine: &dyn Engine,
    out: &Path,
    shrink_budget: usize,
    mut progress: impl FnMut(&Case, &Outcome),
) -> Result<Summary, ConformanceError> {
    let mut summary = Summary::default();
    for case in cases {
        let kernel = run_kernel(case)?.records;
        let ours = engine.run(case)?;
        let outcome = compare(case, &kernel, &ours);
        match &outcome {
            Outcome::Agree => summary.agree += 1,
            Outcome::Disagree(d) => {
                summary.disagree += 1;
                let small = if shrink_budget > 0 {
                    shrink(case, engine, shrink_budget)
                } else {
                    case.clone()
                };
                let dir = if small == *case {
                    write_reproducer(out, case, &kernel, &ours, d)?
                } else {
                    let k = run_kernel(&small)?.records;
                    let e = engine.run(&small)?;
                    match compare(&small, &k, &e) {
                        Outcome::Disagree(d2) => write_reproducer(out, &small, &k, &e, &d2)?,
                        Outcome::Agree => write_reproducer(out, case, &kernel, &ours, d)?,
                    }
                };
                summary.reproducers.push(dir);
            }
        }
        progress(case, &outcome);
    }
    Ok(summary)
}
