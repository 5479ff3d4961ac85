//! `-m icmp --icmp-type TYPE[/CODE]` (IPv4) and the name tables shared with `icmp6`.

use crate::eval::{Cx, Truth};
use crate::ext::MatchExt;
use crate::ext::common::push_neg;
use crate::model::{Neg, Protocol, Span};
use crate::syntax::args::{Args, Opt};
use crate::syntax::error::ParseError;
use crate::syntax::token::Token;

/// An ICMP type test: the type and an inclusive range of codes (`0..=255` for any code).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct IcmpType {
    /// The ICMP type; 255 with every code stands for `any` in IPv4.
    pub kind: u8,
    /// Lowest code matched.
    pub code_min: u8,
    /// Highest code matched.
    pub code_max: u8,
}

impl IcmpType {
    const fn all(kind: u8) -> IcmpType {
        IcmpType {
            kind,
            code_min: 0,
            code_max: 255,
        }
    }

    const fn code(kind: u8, code: u8) -> IcmpType {
        IcmpType {
            kind,
            code_min: code,
            code_max: code,
        }
    }

    /// Parses a name from `names` (case-insensitively, unambiguous prefixes accepted as
    /// iptables does), `TYPE` or `TYPE/CODE`.
    pub fn parse(
        tok: &Token,
        names: &[(&str, IcmpType)],
        what: &str,
    ) -> Result<IcmpType, ParseError> {
        let text = tok.as_str();
        let unknown = || ParseError::new(tok.span, format!("unknown {what} type `{text}`"));
        if text.starts_with(|c: char| c.is_ascii_digit()) {
            let (t, c) = match text.split_once('/') {
                Some((t, c)) => (t, Some(c)),
                None => (text, None),
            };
            let kind: u8 = t.parse().map_err(|_| unknown())?;
            return Ok(match c {
                None => IcmpType::all(kind),
                Some(c) => IcmpType::code(kind, c.parse().map_err(|_| unknown())?),
            });
        }
        if let Some((_, t)) = names.iter().find(|(n, _)| n.eq_ignore_ascii_case(text)) {
            return Ok(*t);
        }
        let lower = text.to_ascii_lowercase();
        let found: Vec<&(&str, IcmpType)> = names
            .iter()
            .filter(|(n, _)| !lower.is_empty() && n.to_ascii_lowercase().starts_with(&lower))
            .collect();
        match found.as_slice() {
            [(_, t)] => Ok(*t),
            [] => {
                let mut e = unknown();
                if let Some(s) = crate::syntax::error::suggest(text, names.iter().map(|(n, _)| *n))
                {
                    e = e.with_help(format!("did you mean `{s}`?"));
                }
                Err(e)
            }
            many => Err(
                ParseError::new(tok.span, format!("ambiguous {what} type `{text}`")).with_help(
                    format!(
                        "it could be {}",
                        many.iter().map(|(n, _)| *n).collect::<Vec<_>>().join(", ")
                    ),
                ),
            ),
        }
    }

    /// Writes `TYPE`, `TYPE/CODE` (a single code) or `TYPE` with the code range as iptables
    /// prints it.
    pub fn push(&self, out: &mut String) {
        out.push_str(&self.kind.to_string());
        if self.code_min == self.code_max {
            out.push_str(&format!("/{}", self.code_min));
        } else if self.code_min != 0 || self.code_max != 255 {
            out.push_str(&format!(" codes {}-{}", self.code_min, self.code_max));
        }
    }
}

/// ICMP (IPv4) type names, as iptables knows them.
pub const ICMP_NAMES: &[(&str, IcmpType)] = &[
    ("any", IcmpType::all(255)),
    ("echo-reply", IcmpType::all(0)),
    ("pong", IcmpType::all(0)),
    ("destination-unreachable", IcmpType::all(3)),
    ("network-unreachable", IcmpType::code(3, 0)),
    ("host-unreachable", IcmpType::code(3, 1)),
    ("protocol-unreachable", IcmpType::code(3, 2)),
    ("port-unreachable", IcmpType::code(3, 3)),
    ("fragmentation-needed", IcmpType::code(3, 4)),
    ("source-route-failed", IcmpType::code(3, 5)),
    ("network-unknown", IcmpType::code(3, 6)),
    ("host-unknown", IcmpType::code(3, 7)),
    ("network-prohibited", IcmpType::code(3, 9)),
    ("host-prohibited", IcmpType::code(3, 10)),
    ("TOS-network-unreachable", IcmpType::code(3, 11)),
    ("TOS-host-unreachable", IcmpType::code(3, 12)),
    ("communication-prohibited", IcmpType::code(3, 13)),
    ("host-precedence-violation", IcmpType::code(3, 14)),
    ("precedence-cutoff", IcmpType::code(3, 15)),
    ("source-quench", IcmpType::all(4)),
    ("redirect", IcmpType::all(5)),
    ("network-redirect", IcmpType::code(5, 0)),
    ("host-redirect", IcmpType::code(5, 1)),
    ("TOS-network-redirect", IcmpType::code(5, 2)),
    ("TOS-host-redirect", IcmpType::code(5, 3)),
    ("echo-request", IcmpType::all(8)),
    ("ping", IcmpType::all(8)),
    ("router-advertisement", IcmpType::all(9)),
    ("router-solicitation", IcmpType::all(10)),
    ("time-exceeded", IcmpType::all(11)),
    ("ttl-exceeded", IcmpType::all(11)),
    ("ttl-zero-during-transit", IcmpType::code(11, 0)),
    ("ttl-zero-during-reassembly", IcmpType::code(11, 1)),
    ("parameter-problem", IcmpType::all(12)),
    ("ip-header-bad", IcmpType::code(12, 0)),
    ("required-option-missing", IcmpType::code(12, 1)),
    ("timestamp-request", IcmpType::all(13)),
    ("timestamp-reply", IcmpType::all(14)),
    ("address-mask-request", IcmpType::all(17)),
    ("address-mask-reply", IcmpType::all(18)),
];

/// The `icmp` match.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Icmp {
    /// `--icmp-type`.
    pub icmp_type: Option<Neg<IcmpType>>,
}

impl MatchExt for Icmp {
    const OPTIONS: &'static [&'static str] = &["--icmp-type"];

    fn new() -> Self {
        Icmp::default()
    }

    fn option(&mut self, mut opt: Opt<'_>, args: &mut Args<'_>) -> Result<(), ParseError> {
        let v = args.value_negatable(&mut opt)?;
        self.icmp_type = Some(Neg {
            negated: opt.negated,
            value: IcmpType::parse(v, ICMP_NAMES, "ICMP")?,
        });
        Ok(())
    }

    fn finish(&mut self, args: &Args<'_>, at: Span) -> Result<(), ParseError> {
        if args.family != crate::model::Family::Ipv4 {
            return Err(ParseError::new(at, "match `icmp` is IPv4 only")
                .with_help("use `-p ipv6-icmp -m icmp6 --icmpv6-type …`"));
        }
        if self.icmp_type.is_none() {
            return Err(ParseError::new(at, "match `icmp` requires `--icmp-type`"));
        }
        crate::ext::common::require_proto(args, at, "icmp", &[Protocol::ICMP], "icmp")
    }

    fn print(&self, out: &mut String) {
        if let Some(t) = &self.icmp_type {
            push_neg(out, t.negated);
            out.push_str(" --icmp-type ");
            if t.value == IcmpType::all(255) {
                out.push_str("any");
            } else {
                t.value.push(out);
            }
        }
    }
}

impl IcmpType {
    /// Whether a packet of ICMP `kind` and `code` passes this test; `any_wildcard` makes type
    /// 255 match every packet, as the IPv4 match does (the IPv6 one has no wildcard).
    pub fn matches(&self, kind: u8, code: u8, any_wildcard: bool) -> bool {
        (any_wildcard && self.kind == 255)
            || (self.kind == kind && self.code_min <= code && code <= self.code_max)
    }
}

/// Evaluates an ICMP or ICMPv6 type test: a packet of another protocol never matches, negated
/// or not, as in the kernel (the match is only called for its protocol).
pub(crate) fn eval_icmp(
    test: Option<&Neg<IcmpType>>,
    proto: Protocol,
    any_wildcard: bool,
    cx: &Cx<'_>,
) -> Truth {
    let p = cx.pkt;
    let Some(t) = test else {
        return Truth::Yes;
    };
    let held = p
        .icmp
        .is_some_and(|(kind, code)| t.value.matches(kind, code, any_wildcard));
    Truth::of(p.proto == proto && t.apply(held))
}

impl Icmp {
    /// Evaluates `--icmp-type` against the packet's ICMP type and code.
    pub fn eval(&self, cx: &Cx<'_>) -> Truth {
        eval_icmp(self.icmp_type.as_ref(), Protocol::ICMP, true, cx)
    }
}

#[cfg(test)]
mod tests {
    use crate::eval::Truth;
    use crate::eval::testkit::{Fixture, match4, packet};
    use crate::ext::Match;
    use crate::model::Protocol;

    fn icmp(rule: &str) -> super::Icmp {
        match match4(rule) {
            Match::Icmp(m) => m,
            other => panic!("{other:?}"),
        }
    }

    fn fix(kind: u8, code: u8) -> Fixture {
        let mut p = packet(Protocol::ICMP, "192.168.49.7", "192.168.49.2");
        p.icmp = Some((kind, code));
        Fixture::new(p)
    }

    #[test]
    fn types_codes_and_names() {
        let echo = icmp("-p icmp -m icmp --icmp-type echo-request");
        assert_eq!(echo.eval(&fix(8, 0).cx()), Truth::Yes);
        assert_eq!(echo.eval(&fix(0, 0).cx()), Truth::No);
        let port = icmp("-p icmp -m icmp --icmp-type port-unreachable");
        assert_eq!(port.eval(&fix(3, 3).cx()), Truth::Yes);
        assert_eq!(port.eval(&fix(3, 1).cx()), Truth::No);
        let unreach = icmp("-p icmp -m icmp --icmp-type 3");
        assert_eq!(unreach.eval(&fix(3, 13).cx()), Truth::Yes);
        assert_eq!(
            icmp("-p icmp -m icmp --icmp-type 3/4").eval(&fix(3, 4).cx()),
            Truth::Yes
        );
        assert_eq!(
            icmp("-p icmp -m icmp --icmp-type any").eval(&fix(13, 0).cx()),
            Truth::Yes
        );
    }

    #[test]
    fn negation_and_other_protocols() {
        let not_echo = icmp("-p icmp -m icmp ! --icmp-type echo-request");
        assert_eq!(not_echo.eval(&fix(0, 0).cx()), Truth::Yes);
        assert_eq!(not_echo.eval(&fix(8, 0).cx()), Truth::No);
        // A packet of another protocol matches neither the test nor its negation.
        let tcp = Fixture::new(packet(Protocol::TCP, "192.168.49.7", "192.168.49.2"));
        assert_eq!(not_echo.eval(&tcp.cx()), Truth::No);
        assert_eq!(
            icmp("-p icmp -m icmp --icmp-type any").eval(&tcp.cx()),
            Truth::No
        );
    }
}
