//! `-m statistic`: matches a random share of packets, or every n-th packet.
//!
//! iptables stores `--probability p` as the 31-bit fraction `round(p * 2^31)`; the kernel matches
//! when a random 31-bit number is below it. So the exact probability is that integer over 2^31,
//! which is what [`Statistic::probability`] returns.

use crate::ext::MatchExt;
use crate::model::Span;
use crate::syntax::args::{Args, Opt};
use crate::syntax::error::ParseError;

/// 2^31: the denominator of every stored probability.
pub const PROBABILITY_ONE: u64 = 1 << 31;

/// The mode of a `statistic` match.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Mode {
    /// `--mode random --probability p`, stored as `round(p * 2^31)`.
    Random {
        /// The stored numerator over 2^31.
        numerator: u32,
    },
    /// `--mode nth --every n --packet p`: counts packets, matching when the counter reaches `p`.
    Nth {
        /// `--every`.
        every: u32,
        /// `--packet` (0 when not given).
        packet: u32,
    },
}

/// The `statistic` match.
#[derive(Clone, Debug, PartialEq)]
pub struct Statistic {
    /// The mode and its parameters.
    pub mode: Mode,
    /// Whether the result is inverted (`! --probability` / `! --every`).
    pub negated: bool,
    /// What the options gave, until [`MatchExt::finish`] settles the mode: `GIVEN_*` bits.
    given: u8,
    /// `--probability` as the stored numerator, until the mode is settled; while parsing,
    /// `mode` holds `--every` and `--packet` as [`Mode::Nth`].
    numerator: u32,
}

const GIVEN_RANDOM: u8 = 1;
const GIVEN_NTH: u8 = 2;
const GIVEN_PROBABILITY: u8 = 4;
const GIVEN_EVERY: u8 = 8;
const GIVEN_PACKET: u8 = 16;

impl Statistic {
    /// The exact probability that the match holds, as a numerator over 2^31 (random mode only).
    pub fn probability(&self) -> Option<u32> {
        match self.mode {
            Mode::Random { numerator } => Some(numerator),
            Mode::Nth { .. } => None,
        }
    }
}

impl MatchExt for Statistic {
    const OPTIONS: &'static [&'static str] = &["--mode", "--probability", "--every", "--packet"];

    fn new() -> Self {
        Statistic {
            mode: Mode::Nth {
                every: 0,
                packet: 0,
            },
            negated: false,
            given: 0,
            numerator: 0,
        }
    }

    fn option(&mut self, mut opt: Opt<'_>, args: &mut Args<'_>) -> Result<(), ParseError> {
        match opt.name {
            "--mode" => {
                let v = args.value(&opt)?;
                if v.text != "random" && v.text != "nth" {
                    return Err(ParseError::new(
                        v.span,
                        format!("unknown statistic mode `{}`", v.text),
                    )
                    .with_help("the modes are `random` and `nth`"));
                }
                self.given &= !(GIVEN_RANDOM | GIVEN_NTH);
                self.given |= if v.text == "random" {
                    GIVEN_RANDOM
                } else {
                    GIVEN_NTH
                };
            }
            "--probability" => {
                let v = args.value_negatable(&mut opt)?;
                let p: f64 = v
                    .text
                    .parse()
                    .ok()
                    .filter(|p: &f64| (0.0..=1.0).contains(p))
                    .ok_or_else(|| {
                        ParseError::new(
                            v.span,
                            format!("probability `{}` is not a number from 0 to 1", v.text),
                        )
                    })?;
                // round(p * 2^31); p = 1 stores 2^31, which every 31-bit random number is below.
                let n = (p * PROBABILITY_ONE as f64).round() as u64;
                self.numerator = u32::try_from(n.min(PROBABILITY_ONE)).unwrap_or(u32::MAX);
                self.given |= GIVEN_PROBABILITY;
                self.negated |= opt.negated;
            }
            "--every" | "--packet" => {
                let v = args.value_negatable(&mut opt)?;
                let n: u32 = v.text.parse().map_err(|_| {
                    ParseError::new(v.span, format!("`{}` needs a whole number", opt.name))
                })?;
                if opt.name == "--every" {
                    if n == 0 {
                        return Err(ParseError::new(v.span, "`--every` must be at least 1"));
                    }
                    if let Mode::Nth { every, .. } = &mut self.mode {
                        *every = n;
                    }
                    self.given |= GIVEN_EVERY;
                } else {
                    if let Mode::Nth { packet, .. } = &mut self.mode {
                        *packet = n;
                    }
                    self.given |= GIVEN_PACKET;
                }
                self.negated |= opt.negated;
            }
            _ => {}
        }
        Ok(())
    }

    fn finish(&mut self, _args: &Args<'_>, at: Span) -> Result<(), ParseError> {
        let given = |bit: u8| self.given & bit != 0;
        let (every, packet) = match self.mode {
            Mode::Nth { every, packet } => (every, packet),
            Mode::Random { .. } => return Ok(()),
        };
        if given(GIVEN_RANDOM) {
            if !given(GIVEN_PROBABILITY) {
                return Err(ParseError::new(
                    at,
                    "`--mode random` requires `--probability`",
                ));
            }
            if given(GIVEN_EVERY) || given(GIVEN_PACKET) {
                return Err(ParseError::new(
                    at,
                    "`--every` and `--packet` belong to `--mode nth`",
                ));
            }
            self.mode = Mode::Random {
                numerator: self.numerator,
            };
        } else if given(GIVEN_NTH) {
            if !given(GIVEN_EVERY) {
                return Err(ParseError::new(at, "`--mode nth` requires `--every`"));
            }
            if packet >= every {
                return Err(ParseError::new(at, "`--packet` must be below `--every`"));
            }
        } else {
            return Err(ParseError::new(at, "match `statistic` requires `--mode`"));
        }
        Ok(())
    }

    fn print(&self, out: &mut String) {
        let inv = if self.negated { " !" } else { "" };
        match self.mode {
            Mode::Random { numerator } => {
                let p = f64::from(numerator) / PROBABILITY_ONE as f64;
                out.push_str(&format!(" --mode random{inv} --probability {p:.11}"));
            }
            Mode::Nth { every, packet } => {
                out.push_str(&format!(
                    " --mode nth{inv} --every {every} --packet {packet}"
                ));
            }
        }
    }
}

impl Statistic {
    /// Evaluates `--mode random` as an exact chance: the stored 31-bit fraction (its
    /// complement when negated). `--mode nth` needs the rule's counter: see
    /// [`Statistic::eval_nth`]; here it is undecidable.
    pub fn eval(&self) -> crate::eval::Truth {
        use crate::eval::{Prob, Truth};
        match self.mode {
            Mode::Random { numerator } => {
                let p = Prob::from_31bit(numerator);
                let p = if self.negated { p.complement() } else { p };
                if p.is_one() {
                    Truth::Yes
                } else if p.is_zero() {
                    Truth::No
                } else {
                    Truth::Chance(p)
                }
            }
            Mode::Nth { .. } => {
                Truth::Unknown("`--mode nth` depends on the rule's packet counter".into())
            }
        }
    }

    /// The counter a `--mode nth` rule starts with, as iptables sets it: `every - 1 - packet`
    /// (the kernel stores `every - 1`).
    pub fn nth_initial(&self) -> u32 {
        match self.mode {
            Mode::Nth { every, packet } => every.saturating_sub(1).saturating_sub(packet),
            Mode::Random { .. } => 0,
        }
    }

    /// Evaluates `--mode nth` as the kernel does, advancing the rule's counter `count` (which
    /// starts at [`Statistic::nth_initial`]): the counter wraps to 0 after `every - 1`, and the
    /// rule matches when it reaches 0. So `--every n --packet p` matches packets p+1, p+1+n, …
    pub fn eval_nth(&self, count: &mut u32) -> bool {
        match self.mode {
            Mode::Nth { every, .. } => {
                let last = every.saturating_sub(1);
                *count = if *count >= last { 0 } else { *count + 1 };
                (*count == 0) != self.negated
            }
            Mode::Random { .. } => false,
        }
    }
}
