//! `-m multiport`: up to 15 ports or port ranges, tested against source, destination or either.

use crate::ext::MatchExt;
use crate::ext::port::PortRange;
use crate::model::{Protocol, Span};
use crate::syntax::args::{Args, Opt};
use crate::syntax::error::ParseError;

/// Which port a `multiport` match tests.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Direction {
    /// `--sports`.
    Source,
    /// `--dports`.
    Destination,
    /// `--ports`: source or destination.
    Either,
}

/// The `multiport` match.
#[derive(Clone, Debug, PartialEq)]
pub struct Multiport {
    /// Which port is tested.
    pub direction: Direction,
    /// Whether `!` stands before the option.
    pub negated: bool,
    /// The ports and ranges, in the order given.
    pub ports: Vec<PortRange>,
}

/// The most entries a `multiport` list may hold (a range counts twice).
pub const MAX_PORTS: usize = 15;

impl Multiport {
    /// Whether the match holds for these ports.
    pub fn holds(&self, sport: u16, dport: u16) -> bool {
        let any = |p: u16| self.ports.iter().any(|r| r.contains(p));
        let hit = match self.direction {
            Direction::Source => any(sport),
            Direction::Destination => any(dport),
            Direction::Either => any(sport) || any(dport),
        };
        hit != self.negated
    }
}

impl MatchExt for Multiport {
    const OPTIONS: &'static [&'static str] = &[
        "--sports",
        "--source-ports",
        "--dports",
        "--destination-ports",
        "--ports",
    ];

    fn new() -> Self {
        Multiport {
            direction: Direction::Destination,
            negated: false,
            ports: Vec::new(),
        }
    }

    fn option(&mut self, mut opt: Opt<'_>, args: &mut Args<'_>) -> Result<(), ParseError> {
        if !self.ports.is_empty() {
            return Err(opt.error("match `multiport` takes only one port list"));
        }
        let v = args.value_negatable(&mut opt)?;
        self.direction = match opt.name {
            "--sports" | "--source-ports" => Direction::Source,
            "--dports" | "--destination-ports" => Direction::Destination,
            _ => Direction::Either,
        };
        self.negated = opt.negated;
        let mut slots = 0;
        for part in v.text.split(',') {
            let r = PortRange::parse(v, part)?;
            slots += if r.lo == r.hi { 1 } else { 2 };
            self.ports.push(r);
        }
        if slots > MAX_PORTS {
            return Err(ParseError::new(
                v.span,
                format!(
                    "too many ports in `{}`: at most {MAX_PORTS} (a range counts twice)",
                    v.text
                ),
            ));
        }
        Ok(())
    }

    fn finish(&mut self, args: &Args<'_>, at: Span) -> Result<(), ParseError> {
        if self.ports.is_empty() {
            return Err(ParseError::new(
                at,
                "match `multiport` requires a port list",
            ));
        }
        let ok = matches!(
            args.proto,
            Some(p) if [Protocol::TCP, Protocol::UDP, Protocol::SCTP, Protocol::DCCP, Protocol::UDPLITE].contains(&p)
        );
        if !ok {
            return Err(ParseError::new(
                at,
                "match `multiport` needs `-p tcp`, `-p udp`, `-p udplite`, `-p sctp` or `-p dccp` before it",
            ));
        }
        Ok(())
    }

    fn print(&self, out: &mut String) {
        if self.negated {
            out.push_str(" !");
        }
        out.push_str(match self.direction {
            Direction::Source => " --sports ",
            Direction::Destination => " --dports ",
            Direction::Either => " --ports ",
        });
        let list: Vec<String> = self.ports.iter().map(|r| r.to_string()).collect();
        out.push_str(&list.join(","));
    }
}

impl Multiport {
    /// Evaluates the match against the packet's ports (no ports: no match).
    pub fn eval(&self, cx: &crate::eval::Cx<'_>) -> crate::eval::Truth {
        match (cx.pkt.sport, cx.pkt.dport) {
            (Some(s), Some(d)) if crate::packet::has_ports(cx.pkt.proto) => {
                crate::eval::Truth::of(self.holds(s, d))
            }
            _ => crate::eval::Truth::No,
        }
    }
}
