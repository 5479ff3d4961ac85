//! The statistical check of `-m statistic --mode random`: many packets through the
//! kernel, the observed split among branches against expected probabilities.
//!
//! Packets are injected without tracing ([`Lab::send_untraced`]), each a new connection
//! (distinct source ports), and counted afterwards with the rule counters of
//! `iptables-save -c`: one counter per branch (the rule that jumps to it, or its DNAT
//! rule). Each branch's share is checked with Hoeffding's inequality: for `n`
//! independent packets and a branch of probability `p`, the observed share `p̂` has
//! `P(|p̂ − p| ≥ t) ≤ 2·exp(−2·n·t²)`. With `k` branches and a union bound, the check
//! fails a correct engine with probability at most `alpha` when
//! `t = sqrt(ln(2k/alpha) / (2n))`.

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

/// Half-width of the acceptance band for each branch share: `n` packets, `k` branches,
/// false-failure probability at most `alpha`.
pub fn hoeffding_bound(n: u64, k: usize, alpha: f64) -> f64 {
    ((2.0 * k.max(1) as f64 / alpha).ln() / (2.0 * n.max(1) as f64)).sqrt()
}

/// The verdict of a statistical check.
#[derive(Debug, Clone, PartialEq)]
pub struct SplitCheck {
    /// Observed share per branch.
    pub observed: Vec<f64>,
    /// Expected probability per branch.
    pub expected: Vec<f64>,
    /// Allowed deviation of each share.
    pub bound: f64,
    /// Whether every share is within the bound.
    pub ok: bool,
}

impl std::fmt::Display for SplitCheck {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for (i, (o, e)) in self.observed.iter().zip(&self.expected).enumerate() {
            writeln!(
                f,
                "branch {i}: observed {o:.4} expected {e:.4} (allowed ±{:.4}){}",
                self.bound,
                if (o - e).abs() > self.bound {
                    "  <-- outside"
                } else {
                    ""
                }
            )?;
        }
        Ok(())
    }
}

/// Compares observed counts with expected probabilities (Hoeffding, union bound over the
/// branches, false-failure probability `alpha`). Expected probabilities must sum to 1.
pub fn check_split(counts: &[u64], expected: &[f64], alpha: f64) -> SplitCheck {
    let n: u64 = counts.iter().sum();
    let bound = hoeffding_bound(n, expected.len(), alpha);
    let observed: Vec<f64> = counts
        .iter()
        .map(|c| if n == 0 { 0.0 } else { *c as f64 / n as f64 })
        .collect();
    let sum: f64 = expected.iter().sum();
    let ok = counts.len() == expected.len()
        && (sum - 1.0).abs() < 1e-9
        && observed
            .iter()
            .zip(expected)
            .all(|(o, e)| (o - e).abs() <= bound);
    SplitCheck {
        observed,
        expected: expected.to_vec(),
        bound,
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
    }

    #[test]
    fn counters_are_read_by_position() {
        let text = "*nat\n:A - [0:0]\n[5:300] -A A -j B\n[7:420] -A A -j C\nCOMMIT\n*filter\n[1:60] -A A -j ACCEPT\nCOMMIT\n";
        let c = parse_counters(text);
        assert_eq!(c.get(&RuleRef::new("nat", "A", 2)), Some(&7));
        assert_eq!(c.get(&RuleRef::new("filter", "A", 1)), Some(&1));
    }
}
