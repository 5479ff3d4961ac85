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

impl Limit {
    /// Not decidable from what a trace knows: always uncertain, saying why.
    pub fn eval(&self, _cx: &crate::eval::Cx<'_>) -> crate::eval::Truth {
        crate::eval::Truth::Unknown(
            "match `-m limit`: it depends on the rate of earlier packets".into(),
        )
    }
}
