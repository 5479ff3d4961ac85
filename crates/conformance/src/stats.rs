//! The statistical check of `-m statistic --mode random`: many packets through the
//! kernel, the observed split among branches against expected probabilities.
//!
//! Packets are injected without tracing ([`Lab::send_untraced`]), each a new connection
//! (distinct source ports), and counted afterwards with the rule counters of
//! `iptables-save -c`: one counter per branch (the rule that jumps to it, or its DNAT
//! rule). Each branch's share is checked with the tighter of two tail bounds for `n`
//! independent packets and a branch of probability `p` (observed share `p̂`), with
//! `L = ln(2k/alpha)` for `k` branches (a union bound):
//!
//! - Hoeffding: `P(|p̂ − p| ≥ t) ≤ 2·exp(−2·n·t²)`, so `t = sqrt(L / (2n))`;
//! - Bernstein: `P(|p̂ − p| ≥ t) ≤ 2·exp(−n·t² / (2·p(1−p) + 2t/3))`, so
//!   `t = (L/3 + sqrt(L²/9 + 2·n·p(1−p)·L)) / n`, much tighter for small `p`.
//!
//! Each bound alone holds with probability at least `1 − alpha/k` per branch, so the check
//! fails a correct engine with probability at most `alpha`.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use chainwalk_host::kernel::{Family, Lab, PacketSpec};

use crate::ConformanceError;

/// A rule by table, chain and 1-based position.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RuleRef {
    /// Table.
    pub table: String,
    /// Chain.
    pub chain: String,
    /// 1-based position.
    pub position: u32,
}

impl RuleRef {
    /// A rule reference.
    pub fn new(table: &str, chain: &str, position: u32) -> RuleRef {
        RuleRef {
            table: table.to_string(),
            chain: chain.to_string(),
            position,
        }
    }
}

/// How many packets each branch took.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Split {
    /// Packets per branch, in the order the branches were given.
    pub counts: Vec<u64>,
    /// Packets sent.
    pub sent: u64,
    /// Time to send and count them.
    pub elapsed: Duration,
}

/// Packet counters of every rule of one family, from `iptables-save -c`.
pub fn rule_counters(lab: &Lab, family: Family) -> Result<HashMap<RuleRef, u64>, ConformanceError> {
    let text = lab.save(family, true)?;
    Ok(parse_counters(&text))
}

/// Reads `[packets:bytes] -A CHAIN ...` lines of an `iptables-save -c` text.
pub fn parse_counters(text: &str) -> HashMap<RuleRef, u64> {
    let mut out = HashMap::new();
    let mut table = String::new();
    let mut positions: HashMap<(String, String), u32> = HashMap::new();
    for line in text.lines() {
        if let Some(t) = line.strip_prefix('*') {
            table = t.trim().to_string();
            continue;
        }
        let Some(rest) = line.strip_prefix('[') else {
            continue;
        };
        let Some((counters, rule)) = rest.split_once("] ") else {
            continue;
        };
        let Some(rule) = rule.strip_prefix("-A ") else {
            continue;
        };
        let chain = rule.split_whitespace().next().unwrap_or("").to_string();
        let pos = positions.entry((table.clone(), chain.clone())).or_insert(0);
        *pos += 1;
        let packets = counters
            .split(':')
            .next()
            .and_then(|p| p.parse::<u64>().ok())
            .unwrap_or(0);
        out.insert(
            RuleRef {
                table: table.clone(),
                chain,
                position: *pos,
            },
            packets,
        );
    }
    out
}

/// Sends `n` packets (`packet(i)` for `i` in `0..n`, each should be a new connection)
/// into a lab that holds the ruleset and counts how many passed each branch rule.
/// Fails when the branches do not account for every packet (a packet lost or counted
/// twice).
pub fn kernel_split(
    lab: &Lab,
    family: Family,
    n: u64,
    packet: impl Fn(u64) -> PacketSpec,
    branches: &[RuleRef],
) -> Result<Split, ConformanceError> {
    let start = Instant::now();
    let before = rule_counters(lab, family)?;
    for i in 0..n {
        lab.send_untraced(&packet(i))?;
    }
    let after = rule_counters(lab, family)?;
    let counts: Vec<u64> = branches
        .iter()
        .map(|b| {
            let a = after.get(b).copied().unwrap_or(0);
            a.saturating_sub(before.get(b).copied().unwrap_or(0))
        })
        .collect();
    let total: u64 = counts.iter().sum();
    if total != n {
        return Err(ConformanceError::Packet {
            index: 0,
            message: format!("{n} packets sent, the branches counted {total}: {counts:?}"),
        });
    }
    Ok(Split {
        counts,
        sent: n,
        elapsed: start.elapsed(),
    })
}

/// Hoeffding half-width of the acceptance band of each branch share: `n` packets, `k`
/// branches, false-failure probability at most `alpha` overall.
pub fn hoeffding_bound(n: u64, k: usize, alpha: f64) -> f64 {
    ((2.0 * k.max(1) as f64 / alpha).ln() / (2.0 * n.max(1) as f64)).sqrt()
}

/// Bernstein half-width for a branch of probability `p` (same `n`, `k`, `alpha`).
pub fn bernstein_bound(n: u64, k: usize, alpha: f64, p: f64) -> f64 {
    let l = (2.0 * k.max(1) as f64 / alpha).ln();
    let n = n.max(1) as f64;
    let var = (p * (1.0 - p)).max(0.0);
    (l / 3.0 + (l * l / 9.0 + 2.0 * n * var * l).sqrt()) / n
}

/// The half-width used for a branch: the tighter of Hoeffding and Bernstein.
pub fn branch_bound(n: u64, k: usize, alpha: f64, p: f64) -> f64 {
    hoeffding_bound(n, k, alpha).min(bernstein_bound(n, k, alpha, p))
}

/// The verdict of a statistical check.
#[derive(Debug, Clone, PartialEq)]
pub struct SplitCheck {
    /// Observed share per branch.
    pub observed: Vec<f64>,
    /// Expected probability per branch.
    pub expected: Vec<f64>,
    /// Allowed deviation of each share.
    pub bounds: Vec<f64>,
    /// Whether every share is within the bound.
    pub ok: bool,
}

impl std::fmt::Display for SplitCheck {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for (i, ((o, e), b)) in self
            .observed
            .iter()
            .zip(&self.expected)
            .zip(&self.bounds)
            .enumerate()
        {
            let mark = if (o - e).abs() > *b {
                "  <-- outside"
            } else {
                ""
            };
            writeln!(
                f,
                "branch {i}: observed {o:.4} expected {e:.4} (allowed ±{b:.4}){mark}"
            )?;
        }

        Ok(())
    }
}

/// Compares observed counts with expected probabilities (per branch the tighter of the
/// Hoeffding and Bernstein bounds, union bound over the branches, false-failure
/// probability `alpha`). Expected probabilities must sum to 1.
pub fn check_split(counts: &[u64], expected: &[f64], alpha: f64) -> SplitCheck {
    let n: u64 = counts.iter().sum();
    let k = expected.len();
    let bounds: Vec<f64> = expected
        .iter()
        .map(|p| branch_bound(n, k, alpha, *p))
        .collect();
    let observed: Vec<f64> = counts
        .iter()
        .map(|c| if n == 0 { 0.0 } else { *c as f64 / n as f64 })
        .collect();
    let sum: f64 = expected.iter().sum();
    let ok = n > 0
        && counts.len() == k
        && (sum - 1.0).abs() < 1e-9
        && observed
            .iter()
            .zip(expected)
            .zip(&bounds)
            .all(|((o, e), b)| (o - e).abs() <= *b);
    SplitCheck {
        observed,
        expected: expected.to_vec(),
        bounds,
        ok,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn bound_for_2000_packets() {
        let t = hoeffding_bound(2000, 2, 1e-6);
        assert!(t > 0.06 && t < 0.063, "{t}");
        assert!(check_split(&[1000, 1000], &[0.5, 0.5], 1e-6).ok);
        assert!(check_split(&[1100, 900], &[0.5, 0.5], 1e-6).ok);
        // A third/two-thirds split is far outside a half/half expectation.
        assert!(!check_split(&[667, 1333], &[0.5, 0.5], 1e-6).ok);
        assert!(!check_split(&[1000, 1000], &[0.5, 0.4], 1e-6).ok);
        // Small branches get a much tighter band than Hoeffding's.
        let b = branch_bound(2000, 5, 1e-6, 0.015);
        assert!(b < 0.02, "{b}");
        assert!(!check_split(&[1920, 80], &[0.985, 0.015], 1e-6).ok);
        assert!(check_split(&[1970, 30], &[0.985, 0.015], 1e-6).ok);
    }

    #[test]
    fn counters_are_read_by_position() {
        let text = "*nat\n:A - [0:0]\n[5:300] -A A -j B\n[7:420] -A A -j C\nCOMMIT\n*filter\n[1:60] -A A -j ACCEPT\nCOMMIT\n";
        let c = parse_counters(text);
        assert_eq!(c.get(&RuleRef::new("nat", "A", 2)), Some(&7));
        assert_eq!(c.get(&RuleRef::new("filter", "A", 1)), Some(&1));
    }
}

/// A ruleset with random `-m statistic --mode random` branches, and where they lead.
#[derive(Debug, Clone)]
pub struct BranchCase {
    /// Host, neighbours and ruleset; `packets` holds one packet to the service (vary its
    /// source port for new connections).
    pub case: crate::Case,
    /// The DNAT rule of each leaf.
    pub leaves: Vec<RuleRef>,
    /// The probability of each leaf, from the rules' probabilities as written.
    pub expected: Vec<f64>,
}

/// Three endpoints the way kube-proxy writes them (1/3, then 1/2 of the rest, then the
/// rest) on the host of `generate::random_case(1, 0)`: two backends behind the inner
/// interface and the uplink's gateway, a SYN from the gateway to 10.96.0.1:80. The expected
/// shares are the rules' probabilities as written (each a third, to the rounding of
/// `0.33333333349`).
pub fn three_way_case() -> BranchCase {
    let base = crate::generate::random_case(1, 0);
    let mut host = base.host.clone();
    host.routes.clear();
    let name = |i: usize| host.interfaces.get(i).map(|i| i.name.clone());
    let (up, inner) = (name(1).unwrap_or_default(), name(2).unwrap_or_default());
    let fallback = std::net::IpAddr::V4(std::net::Ipv4Addr::new(10, 0, 0, 1));
    let gw = base
        .neighbors
        .iter()
        .find(|n| n.interface == up)
        .map_or(fallback, |n| n.address);
    let inner_net: Vec<std::net::IpAddr> = base
        .neighbors
        .iter()
        .filter(|n| n.interface == inner)
        .map(|n| n.address)
        .collect();
    let backend = |i: usize| inner_net.get(i).copied().unwrap_or(gw);
    let rules = format!(
        "*nat\n:PREROUTING ACCEPT [0:0]\n:INPUT ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n:POSTROUTING ACCEPT [0:0]\n:SVC - [0:0]\n:EP1 - [0:0]\n:EP2 - [0:0]\n:EP3 - [0:0]\n\
         -A PREROUTING -d 10.96.0.1/32 -p tcp -m tcp --dport 80 -j SVC\n\
         -A SVC -m statistic --mode random --probability 0.33333333349 -j EP1\n\
         -A SVC -m statistic --mode random --probability 0.50000000000 -j EP2\n\
         -A SVC -j EP3\n\
         -A EP1 -p tcp -j DNAT --to-destination {}:80\n\
         -A EP2 -p tcp -j DNAT --to-destination {}:80\n\
         -A EP3 -p tcp -j DNAT --to-destination {}:80\nCOMMIT\n",
        backend(0),
        backend(1),
        gw
    );
    let spec = PacketSpec::tcp_syn(
        std::net::SocketAddr::new(gw, 1024),
        std::net::SocketAddr::new(
            std::net::IpAddr::V4(std::net::Ipv4Addr::new(10, 96, 0, 1)),
            80,
        ),
        chainwalk_host::kernel::Ingress::Interface(up),
    );
    let p1 = 0.333_333_333_49;
    BranchCase {
        case: crate::Case {
            name: "three-way".into(),
            host,
            neighbors: base.neighbors.clone(),
            family: chainwalk_host::kernel::Family::Ipv4,
            rules,
            packets: vec![crate::CasePacket {
                flush_conntrack: true,
                packet: crate::PacketTemplate::Fixed(spec),
            }],
        },
        leaves: ["EP1", "EP2", "EP3"]
            .iter()
            .map(|c| RuleRef::new("nat", c, 1))
            .collect(),
        expected: vec![p1, (1.0 - p1) / 2.0, (1.0 - p1) / 2.0],
    }
}

/// A service address split at random: a top chain with 2–4 branches (each but the last
/// with a random `--probability` of three decimals), some branches splitting again in a
/// chain of their own, every leaf a DNAT to a backend. Deterministic in `seed`.
pub fn branch_case(seed: u64) -> BranchCase {
    use rand_chacha::ChaCha8Rng;
    use rand_chacha::rand_core::{Rng, SeedableRng};
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut below = |n: u64| rng.next_u64() % n.max(1);
    let mut base = crate::generate::random_case(seed, 0);
    if base.family != chainwalk_host::kernel::Family::Ipv4 {
        base = crate::generate::flow_case(seed, 0);
    }
    let up = base
        .host
        .interfaces
        .get(1)
        .map(|i| i.name.clone())
        .unwrap_or_default();
    let backends: Vec<std::net::IpAddr> = base
        .neighbors
        .iter()
        .filter(|n| n.interface != up)
        .map(|n| n.address)
        .collect();
    let client = base
        .neighbors
        .iter()
        .find(|n| n.interface == up)
        .map(|n| n.address)
        .unwrap_or(std::net::IpAddr::V4(std::net::Ipv4Addr::new(10, 0, 0, 1)));
    let mut chains: Vec<String> = vec!["SVC".into()];
    let mut rules = String::new();
    let mut leaves = Vec::new();
    let mut expected = Vec::new();
    // (chain, probability of reaching it, depth)
    let mut todo = vec![("SVC".to_string(), 1.0f64, 0u32)];
    let mut n_leaf = 0;
    while let Some((chain, reach, depth)) = todo.pop() {
        let k = 2 + below(3) as usize;
        let mut rest = reach;
        for b in 0..k {
            let last = b + 1 == k;
            let p = if last {
                1.0
            } else {
                (100 + below(800)) as f64 / 1000.0
            };
            let here = rest * p;
            rest -= here;
            let target = if depth == 0 && !last && below(3) == 0 {
                let sub = format!("{chain}-S{b}");
                todo.push((sub.clone(), here, depth + 1));
                sub
            } else {
                n_leaf += 1;
                let leaf = format!("LEAF{n_leaf}");
                let to = backends
                    .get((n_leaf - 1) % backends.len().max(1))
                    .copied()
                    .unwrap_or(client);
                rules.push_str(&format!(
                    "-A {leaf} -p tcp -j DNAT --to-destination {to}:80\n"
                ));
                leaves.push(RuleRef::new("nat", &leaf, 1));
                expected.push(here);
                leaf
            };
            chains.push(target.clone());
            if last {
                rules.push_str(&format!("-A {chain} -j {target}\n"));
            } else {
                rules.push_str(&format!(
                    "-A {chain} -m statistic --mode random --probability {p:.3} -j {target}\n"
                ));
            }
        }
    }
    let mut text = String::from(
        "*nat\n:PREROUTING ACCEPT [0:0]\n:INPUT ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n:POSTROUTING ACCEPT [0:0]\n",
    );
    chains.sort();
    chains.dedup();
    for c in &chains {
        text.push_str(&format!(":{c} - [0:0]\n"));
    }
    text.push_str("-A PREROUTING -d 10.96.0.1/32 -p tcp -m tcp --dport 80 -j SVC\n");
    text.push_str(&rules);
    text.push_str("COMMIT\n");
    let spec = PacketSpec::tcp_syn(
        std::net::SocketAddr::new(client, 1024),
        "10.96.0.1:80"
            .parse()
            .unwrap_or(std::net::SocketAddr::new(client, 80)),
        chainwalk_host::kernel::Ingress::Interface(up),
    );
    let mut host = base.host.clone();
    host.routes.clear();
    BranchCase {
        case: crate::Case {
            name: format!("branches-{seed}"),
            host,
            neighbors: base.neighbors.clone(),
            family: chainwalk_host::kernel::Family::Ipv4,
            rules: text,
            packets: vec![crate::CasePacket {
                flush_conntrack: true,
                packet: crate::PacketTemplate::Fixed(spec),
            }],
        },
        leaves,
        expected,
    }
}
