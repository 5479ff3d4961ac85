//! `-m hashlimit`: token buckets kept per address/port group (`--hashlimit-mode`), in a named
//! table. Packet rates use the `limit` arithmetic at a scale of 1/1000000 s; byte rates
//! (`512kb/s`) are stored by the kernel as a cost per 16-byte unit, which rounds them.

use crate::ext::MatchExt;
use crate::ext::common::{no_negation, number};
use crate::ext::limit::{DEFAULT_BURST, parse_rate, push_rate};
use crate::model::{Family, Span};
use crate::syntax::args::{Args, Opt};
use crate::syntax::error::ParseError;
use crate::syntax::token::Token;

/// The scale of `hashlimit` packet-rate periods: 1/1000000 s.
pub const HASHLIMIT_SCALE: u64 = 1_000_000;

/// Default garbage-collection interval in milliseconds.
pub const DEFAULT_GCINTERVAL: u32 = 1_000;

const BYTE_SHIFT: u32 = 4;

/// The rate of a `hashlimit` match.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum HashRate {
    /// Packets: the period between packets at 1/1000000 s.
    Packets(u64),
    /// Bytes per second: the kernel's cost per byte unit.
    Bytes(u64),
}

/// `--hashlimit-mode` flags, in the order iptables prints them.
pub const MODE_NAMES: [(&str, u8); 4] = [
    ("srcip", 1 << 2),
    ("srcport", 1 << 3),
    ("dstip", 1 << 0),
    ("dstport", 1 << 1),
];

/// The `hashlimit` match.
#[derive(Clone, Debug, PartialEq)]
pub struct Hashlimit {
    /// The rate; `None` until `--hashlimit-upto`/`--hashlimit-above` is read.
    pub rate: Option<HashRate>,
    /// `--hashlimit-above` (true) or `--hashlimit-upto` (false).
    pub above: bool,
    /// `--hashlimit-burst` (packets, or bytes in byte mode; `None` when not given).
    pub burst: Option<u64>,
    /// `--hashlimit-mode` bits (see [`MODE_NAMES`]).
    pub mode: u8,
    /// `--hashlimit-name`.
    pub name: String,
    /// `--hashlimit-htable-size` (0: kernel default).
    pub size: u32,
    /// `--hashlimit-htable-max` (0: kernel default).
    pub max: u32,
    /// `--hashlimit-htable-gcinterval` in ms.
    pub gc_interval: u32,
    /// `--hashlimit-htable-expire` in ms, when given.
    pub expire: Option<u32>,
    /// `--hashlimit-srcmask` (`None`: the full length).
    pub srcmask: Option<u8>,
    /// `--hashlimit-dstmask` (`None`: the full length).
    pub dstmask: Option<u8>,
    /// `--hashlimit-rate-match`.
    pub rate_match: bool,
    /// `--hashlimit-rate-interval` in seconds.
    pub rate_interval: u32,
    rate_unit_secs: u64,
    full_mask: u8,
}

fn bytes_to_cost(bytes: u64) -> u64 {
    u64::from(u32::MAX) / ((bytes >> BYTE_SHIFT) + 1)
}

fn cost_to_bytes(cost: u64) -> u64 {
    let r = u64::from(u32::MAX)
        .checked_div(cost)
        .unwrap_or(u64::from(u32::MAX));
    r.saturating_sub(1) << BYTE_SHIFT
}

const BYTE_UNITS: [(&str, u64); 3] = [("m", 1 << 20), ("k", 1 << 10), ("", 1)];

/// Parses `N[k|m]b` (with `/s` for a rate) into bytes.
fn parse_bytes(tok: &Token, text: &str) -> Option<u64> {
    let body = text.strip_suffix('b')?;
    let (num, factor) = match body.chars().last()? {
        'k' => (&body[..body.len() - 1], 1 << 10),
        'm' => (&body[..body.len() - 1], 1 << 20),
        _ => (body, 1),
    };
    let _ = tok;
    let n: u64 = num.parse().ok()?;
    n.checked_mul(factor).filter(|b| *b > 0)
}

/// Writes a byte rate as iptables prints it: the largest unit whose whole multiple maps to
/// the same stored cost.
fn push_byte_rate(out: &mut String, cost: u64) {
    let r = cost_to_bytes(cost);
    for (name, unit) in BYTE_UNITS {
        let n = r.div_ceil(unit).max(1);
        if unit == 1 || bytes_to_cost(n * unit) == cost {
            out.push_str(&format!(" {n}{name}b/s"));
            return;
        }
    }
}

/// Writes a byte count in the largest unit that divides it.
fn push_byte_count(out: &mut String, bytes: u64) {
    for (name, unit) in BYTE_UNITS {
        if unit == 1 || bytes.is_multiple_of(unit) {
            out.push_str(&format!(" {}{name}b", bytes / unit));
            return;
        }
    }
}

impl MatchExt for Hashlimit {
    const OPTIONS: &'static [&'static str] = &[
        "--hashlimit-upto",
        "--hashlimit-above",
        "--hashlimit",
        "--hashlimit-burst",
        "--hashlimit-mode",
        "--hashlimit-name",
        "--hashlimit-htable-size",
        "--hashlimit-htable-max",
        "--hashlimit-htable-gcinterval",
        "--hashlimit-htable-expire",
        "--hashlimit-srcmask",
        "--hashlimit-dstmask",
        "--hashlimit-rate-match",
        "--hashlimit-rate-interval",
    ];

    fn new() -> Self {
        Hashlimit {
            rate: None,
            above: false,
            burst: None,
            mode: 0,
            name: String::new(),
            size: 0,
            max: 0,
            gc_interval: DEFAULT_GCINTERVAL,
            expire: None,
            srcmask: None,
            dstmask: None,
            rate_match: false,
            rate_interval: 1,
            rate_unit_secs: 1,
            full_mask: 32,
        }
    }

    fn option(&mut self, opt: Opt<'_>, args: &mut Args<'_>) -> Result<(), ParseError> {
        no_negation(&opt)?;
        let full = if args.family == Family::Ipv4 { 32 } else { 128 };
        self.full_mask = full;
        match opt.name {
            "--hashlimit-rate-match" => {
                self.rate_match = true;
                return Ok(());
            }
            "--hashlimit-upto" | "--hashlimit-above" | "--hashlimit" => {
                let v = args.value(&opt)?;
                self.above = opt.name == "--hashlimit-above";
                if let Some(text) = v.text.strip_suffix("/s")
                    && text.ends_with('b')
                {
                    let bytes = parse_bytes(v, text).ok_or_else(|| {
                        ParseError::new(v.span, format!("bad byte rate `{}`", v.text))
                            .with_help("a byte rate looks like 1500b/s, 512kb/s or 1mb/s")
                    })?;
                    self.rate = Some(HashRate::Bytes(bytes_to_cost(bytes)));
                    self.rate_unit_secs = 0;
                } else {
                    let (period, secs) = parse_rate(v, HASHLIMIT_SCALE)?;
                    self.rate = Some(HashRate::Packets(period));
                    self.rate_unit_secs = secs;
                }
                return Ok(());
            }
            _ => {}
        }
        let v = args.value(&opt)?;
        match opt.name {
            "--hashlimit-burst" => {
                self.burst = Some(match parse_bytes(v, &v.text) {
                    Some(b) => b,
                    None => u64::from(number(v, opt.name, 1, u32::MAX)?),
                });
            }
            "--hashlimit-mode" => {
                let mut bits = 0;
                for part in v.text.split(',') {
                    bits |= MODE_NAMES
                        .iter()
                        .find(|(n, _)| *n == part)
                        .map(|(_, b)| *b)
                        .ok_or_else(|| {
                            ParseError::new(v.span, format!("unknown hashlimit mode `{part}`"))
                                .with_help("modes are srcip, srcport, dstip, dstport")
                        })?;
                }
                self.mode = bits;
            }
            "--hashlimit-name" => {
                if v.text.is_empty() || v.text.len() > 254 {
                    return Err(ParseError::new(
                        v.span,
                        "a hashlimit name is 1 to 254 characters",
                    ));
                }
                self.name = v.text.to_string();
            }
            "--hashlimit-htable-size" => self.size = number(v, opt.name, 0, u32::MAX)?,
            "--hashlimit-htable-max" => self.max = number(v, opt.name, 0, u32::MAX)?,
            "--hashlimit-htable-gcinterval" => self.gc_interval = number(v, opt.name, 0, u32::MAX)?,
            "--hashlimit-htable-expire" => self.expire = Some(number(v, opt.name, 0, u32::MAX)?),
            "--hashlimit-srcmask" => {
                self.srcmask = Some(number(v, opt.name, 0, u32::from(full))? as u8)
            }
            "--hashlimit-dstmask" => {
                self.dstmask = Some(number(v, opt.name, 0, u32::from(full))? as u8)
            }
            _ => self.rate_interval = number(v, opt.name, 1, u32::MAX)?,
        }
        Ok(())
    }

    fn finish(&mut self, args: &Args<'_>, at: Span) -> Result<(), ParseError> {
        self.full_mask = if args.family == Family::Ipv4 { 32 } else { 128 };
        if self.rate.is_none() {
            return Err(ParseError::new(
                at,
                "match `hashlimit` needs `--hashlimit-upto` or `--hashlimit-above`",
            ));
        }
        if self.name.is_empty() {
            return Err(ParseError::new(
                at,
                "match `hashlimit` requires `--hashlimit-name`",
            ));
        }
        Ok(())
    }

    fn print(&self, out: &mut String) {
        out.push_str(if self.above {
            " --hashlimit-above"
        } else {
            " --hashlimit-upto"
        });
        let mut printed_unit = 0;
        match self.rate {
            Some(HashRate::Packets(p)) => {
                printed_unit = push_rate(out, p, HASHLIMIT_SCALE);
                out.push_str(&format!(
                    " --hashlimit-burst {}",
                    self.burst.unwrap_or(u64::from(DEFAULT_BURST))
                ));
            }
            Some(HashRate::Bytes(cost)) => {
                push_byte_rate(out, cost);
                if let Some(b) = self.burst {
                    out.push_str(" --hashlimit-burst");
                    push_byte_count(out, b);
                }
            }
            None => {}
        }
        if self.mode != 0 {
            let names: Vec<&str> = MODE_NAMES
                .iter()
                .filter(|(_, b)| self.mode & b != 0)
                .map(|(n, _)| *n)
                .collect();
            out.push_str(&format!(" --hashlimit-mode {}", names.join(",")));
        }
        out.push_str(&format!(" --hashlimit-name {}", self.name));
        if self.size != 0 {
            out.push_str(&format!(" --hashlimit-htable-size {}", self.size));
        }
        if self.max != 0 {
            out.push_str(&format!(" --hashlimit-htable-max {}", self.max));
        }
        if self.gc_interval != DEFAULT_GCINTERVAL {
            out.push_str(&format!(
                " --hashlimit-htable-gcinterval {}",
                self.gc_interval
            ));
        }
        // Without `--hashlimit-htable-expire`, iptables stores the rate unit's length; it
        // prints the value unless it equals the length of the unit it prints the rate in.
        let expire = match self.expire {
            Some(e) => Some(e),
            None if self.rate_unit_secs > 0 => {
                Some(u32::try_from(self.rate_unit_secs * 1000).unwrap_or(u32::MAX))
            }
            None => None,
        };
        if let Some(e) = expire
            && (printed_unit == 0 || u64::from(e) != printed_unit * 1000)
        {
            out.push_str(&format!(" --hashlimit-htable-expire {e}"));
        }
        if let Some(m) = self.srcmask
            && m != self.full_mask
        {
            out.push_str(&format!(" --hashlimit-srcmask {m}"));
        }
        if let Some(m) = self.dstmask
            && m != self.full_mask
        {
            out.push_str(&format!(" --hashlimit-dstmask {m}"));
        }
        if self.rate_match {
            out.push_str(" --hashlimit-rate-match");
            if self.rate_interval != 1 {
                out.push_str(&format!(
                    " --hashlimit-rate-interval {}",
                    self.rate_interval
                ));
            }
        }
    }
}

impl Hashlimit {
    /// Not decidable from what a trace knows: always uncertain, saying why.
    pub fn eval(&self, _cx: &crate::eval::Cx<'_>) -> crate::eval::Truth {
        crate::eval::Truth::Unknown(
            "match `-m hashlimit`: it depends on the rate of earlier packets".into(),
        )
    }
}
