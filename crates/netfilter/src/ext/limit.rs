//! `-m limit`: a token bucket shared by every packet the rule sees. Also the rate arithmetic
//! that `hashlimit` shares: a rate `N/unit` is stored as the period between packets,
//! `unit * scale / N` (integer division), and printed back in the largest unit that
//! represents the stored period well, so `60/min` comes back as `1/sec`.

use crate::ext::MatchExt;
use crate::ext::common::no_negation;
use crate::model::Span;
use crate::syntax::args::{Args, Opt};
use crate::syntax::error::ParseError;
use crate::syntax::token::Token;

/// The scale of `limit` periods: 1/10000 s.
pub const LIMIT_SCALE: u64 = 10_000;

/// Units of a rate, largest first, with their length in seconds.
const UNITS: [(&str, u64); 4] = [("day", 86_400), ("hour", 3_600), ("min", 60), ("sec", 1)];

/// Parses `N[/second|/minute|/hour|/day]` (unit names may be abbreviated) into the stored
/// period at `scale`, and the unit's length in seconds.
pub(crate) fn parse_rate(tok: &Token, scale: u64) -> Result<(u64, u64), ParseError> {
    let text = tok.as_str();
    let bad = |why: &str| ParseError::new(tok.span, format!("bad rate `{text}`: {why}"));
    let (num, unit) = match text.split_once('/') {
        Some((n, u)) => (n, Some(u)),
        None => (text, None),
    };
    let secs = match unit {
        None => 1,
        Some(u) => {
            let u = u.to_ascii_lowercase();
            if u.is_empty() {
                return Err(bad("missing unit after `/`"));
            }
            [
                ("second", 1),
                ("minute", 60),
                ("hour", 3_600),
                ("day", 86_400),
            ]
            .iter()
            .find(|(name, _)| name.starts_with(&u))
            .map(|(_, s)| *s)
            .ok_or_else(|| bad("the unit is second, minute, hour or day"))?
        }
    };
    let digits: String = num.chars().take_while(|c| c.is_ascii_digit()).collect();
    let n: u64 = digits.parse().unwrap_or(0);
    if n == 0 {
        return Err(bad("the rate must be at least 1"));
    }
    let mult = secs * scale;
    if n > mult {
        return Err(
            ParseError::new(tok.span, format!("rate `{text}` is too fast"))
                .with_help(format!("at most {scale} per second can be expressed")),
        );
    }
    Ok((mult / n, secs))
}

/// Writes the stored period as iptables prints a rate (` N/unit`); returns the unit's length
/// in seconds.
pub(crate) fn push_rate(out: &mut String, period: u64, scale: u64) -> u64 {
    if period == 0 {
        out.push_str(" inf");
        return 1;
    }
    let mut chosen = 0;
    for (i, (_, secs)) in UNITS.iter().enumerate().skip(1) {
        let mult = secs * scale;
        if period > mult || mult / period < mult % period {
            break;
        }
        chosen = i;
    }
    let (name, secs) = UNITS[chosen];
    out.push_str(&format!(" {}/{name}", secs * scale / period));
    secs
}

/// The default burst of `limit` and `hashlimit`.
pub const DEFAULT_BURST: u32 = 5;

/// The `limit` match.
#[derive(Clone, Debug, PartialEq)]
pub struct Limit {
    /// The period between packets, in 1/10000 s (`--limit`, default 3/hour).
    pub period: u64,
    /// `--limit-burst` (default 5).
    pub burst: u32,
}

impl MatchExt for Limit {
    const OPTIONS: &'static [&'static str] = &["--limit", "--limit-burst"];

    fn new() -> Self {
        Limit {
            period: 3_600 * LIMIT_SCALE / 3,
            burst: DEFAULT_BURST,
        }
    }

    fn option(&mut self, opt: Opt<'_>, args: &mut Args<'_>) -> Result<(), ParseError> {
        no_negation(&opt)?;
        let v = args.value(&opt)?;
        if opt.name == "--limit" {
            self.period = parse_rate(v, LIMIT_SCALE)?.0;
        } else {
            self.burst = crate::ext::common::number(v, opt.name, 1, 10_000)?;
        }
        Ok(())
    }

    fn finish(&mut self, _args: &Args<'_>, _at: Span) -> Result<(), ParseError> {
        Ok(())
    }

    fn print(&self, out: &mut String) {
        out.push_str(" --limit");
        push_rate(out, self.period, LIMIT_SCALE);
        if self.burst != DEFAULT_BURST {
            out.push_str(&format!(" --limit-burst {}", self.burst));
        }
    }
}

/// Nanoseconds per second.
const NSEC_PER_SEC: u64 = 1_000_000_000;

/// The state of one `-m limit` token bucket, counted in nanoseconds of credit as nf_tables'
/// `limit` expression counts it (iptables-nft loads `-m limit` as that expression).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Bucket {
    /// The credit, in nanoseconds (one packet costs [`Limit::cost`]).
    pub tokens: u64,
    /// When the credit was last brought up to date, in nanoseconds since the ruleset was
    /// loaded.
    pub last: u64,
}

impl Limit {
    /// The rate as iptables-nft hands it to the kernel: packets per unit, and the unit in
    /// seconds (the largest unit that represents the stored period well, as it is printed).
    pub fn rate_and_unit(&self) -> (u64, u64) {
        let mut probe = String::new();
        let unit = push_rate(&mut probe, self.period.max(1), LIMIT_SCALE);
        (unit * LIMIT_SCALE / self.period.max(1), unit)
    }

    /// What one packet costs, in nanoseconds of credit: the unit divided by the rate.
    pub fn cost(&self) -> u64 {
        let (rate, unit) = self.rate_and_unit();
        (unit * NSEC_PER_SEC).checked_div(rate).unwrap_or(0)
    }

    /// The bucket's size: `burst` packets' worth of credit.
    pub fn tokens_max(&self) -> u64 {
        self.cost().saturating_mul(u64::from(self.burst))
    }

    /// The bucket as the rule is loaded: full.
    pub fn full_bucket(&self) -> Bucket {
        Bucket {
            tokens: self.tokens_max(),
            last: 0,
        }
    }

    /// Evaluates the match for a packet passing at `now` (nanoseconds since the ruleset was
    /// loaded), updating the bucket as the kernel does: the credit grows by the time passed
    /// since the last packet, up to the bucket's size; the packet matches when the credit
    /// covers its cost, which is then taken.
    pub fn eval_bucket(&self, bucket: &mut Bucket, now: u64) -> bool {
        let tokens = bucket
            .tokens
            .saturating_add(now.saturating_sub(bucket.last))
            .min(self.tokens_max());
        bucket.last = bucket.last.max(now);
        let cost = self.cost();
        if tokens >= cost {
            bucket.tokens = tokens - cost;
            true
        } else {
            bucket.tokens = tokens;
            false
        }
    }

    /// Without the bucket's state the match cannot be decided: uncertain, saying why.
    pub fn eval(&self, _cx: &crate::eval::Cx<'_>) -> crate::eval::Truth {
        crate::eval::Truth::Unknown(
            "match `-m limit`: it depends on the rate of earlier packets".into(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::eval::testkit::match4_in;
    use crate::ext::Match;

    fn limit(rule: &str) -> Limit {
        match match4_in("filter", "INPUT", rule) {
            Match::Limit(m) => m,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn rates_as_iptables_nft_loads_them() {
        // `nft list ruleset` shows `limit rate 3/minute burst 10 packets` for this rule.
        let l = limit("-m limit --limit 3/min --limit-burst 10");
        assert_eq!(l.rate_and_unit(), (3, 60));
        assert_eq!(l.cost(), 20 * NSEC_PER_SEC);
        assert_eq!(l.tokens_max(), 200 * NSEC_PER_SEC);
        // The default: 3/hour, burst 5.
        let l = limit("-m limit");
        assert_eq!(l.rate_and_unit(), (3, 3600));
        assert_eq!(l.tokens_max(), 5 * 1200 * NSEC_PER_SEC);
        // 60/min is stored as 1/sec.
        assert_eq!(limit("-m limit --limit 60/min").rate_and_unit(), (1, 1));
    }

    #[test]
    fn the_bucket_starts_full_and_refills_with_time() {
        let l = limit("-m limit --limit 2/sec --limit-burst 3");
        let mut b = l.full_bucket();
        let hits: Vec<bool> = (0..5).map(|_| l.eval_bucket(&mut b, 0)).collect();
        assert_eq!(hits, [true, true, true, false, false]);
        // Half a second later one packet's worth has come back, not two.
        assert!(l.eval_bucket(&mut b, 500_000_000));
        assert!(!l.eval_bucket(&mut b, 500_000_000));
        assert!(!l.eval_bucket(&mut b, 999_999_999));
        assert!(l.eval_bucket(&mut b, 1_000_000_000));
        // A long pause fills the bucket up to its size only.
        let n = (0..10)
            .filter(|_| l.eval_bucket(&mut b, 100 * NSEC_PER_SEC))
            .count();
        assert_eq!(n, 3);
    }
}
