//! `-m icmp6 --icmpv6-type TYPE[/CODE]` (IPv6).

use crate::eval::{Cx, Truth};
use crate::ext::MatchExt;
use crate::ext::common::push_neg;
use crate::ext::icmp::IcmpType;
use crate::model::{Family, Neg, Protocol, Span};
use crate::syntax::args::{Args, Opt};
use crate::syntax::error::ParseError;

const fn all(kind: u8) -> IcmpType {
    IcmpType {
        kind,
        code_min: 0,
        code_max: 255,
    }
}

const fn code(kind: u8, c: u8) -> IcmpType {
    IcmpType {
        kind,
        code_min: c,
        code_max: c,
    }
}

/// ICMPv6 type names, as ip6tables knows them.
pub const ICMPV6_NAMES: &[(&str, IcmpType)] = &[
    ("destination-unreachable", all(1)),
    ("no-route", code(1, 0)),
    ("communication-prohibited", code(1, 1)),
    ("beyond-scope", code(1, 2)),
    ("address-unreachable", code(1, 3)),
    ("port-unreachable", code(1, 4)),
    ("failed-policy", code(1, 5)),
    ("reject-route", code(1, 6)),
    ("packet-too-big", all(2)),
    ("time-exceeded", all(3)),
    ("ttl-exceeded", all(3)),
    ("ttl-zero-during-transit", code(3, 0)),
    ("ttl-zero-during-reassembly", code(3, 1)),
    ("parameter-problem", all(4)),
    ("bad-header", code(4, 0)),
    ("unknown-header-type", code(4, 1)),
    ("unknown-option", code(4, 2)),
    ("echo-request", all(128)),
    ("ping", all(128)),
    ("echo-reply", all(129)),
    ("pong", all(129)),
    ("mld-listener-query", all(130)),
    ("mld-listener-report", all(131)),
    ("mld-listener-done", all(132)),
    ("mld-listener-reduction", all(132)),
    ("router-solicitation", all(133)),
    ("router-advertisement", all(134)),
    ("neighbour-solicitation", all(135)),
    ("neighbor-solicitation", all(135)),
    ("neighbour-advertisement", all(136)),
    ("neighbor-advertisement", all(136)),
    ("redirect", all(137)),
];

/// The `icmp6` match.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Icmp6 {
    /// `--icmpv6-type`.
    pub icmp_type: Option<Neg<IcmpType>>,
}

impl MatchExt for Icmp6 {
    const OPTIONS: &'static [&'static str] = &["--icmpv6-type"];

    fn new() -> Self {
        Icmp6::default()
    }

    fn option(&mut self, mut opt: Opt<'_>, args: &mut Args<'_>) -> Result<(), ParseError> {
        let v = args.value_negatable(&mut opt)?;
        self.icmp_type = Some(Neg {
            negated: opt.negated,
            value: IcmpType::parse(v, ICMPV6_NAMES, "ICMPv6")?,
        });
        Ok(())
    }

    fn finish(&mut self, args: &Args<'_>, at: Span) -> Result<(), ParseError> {
        if args.family != Family::Ipv6 {
            return Err(ParseError::new(at, "match `icmp6` is IPv6 only")
                .with_help("use `-p icmp -m icmp --icmp-type …`"));
        }
        if self.icmp_type.is_none() {
            return Err(ParseError::new(
                at,
                "match `icmp6` requires `--icmpv6-type`",
            ));
        }
        crate::ext::common::require_proto(args, at, "icmp6", &[Protocol::ICMPV6], "ipv6-icmp")
    }

    fn print(&self, out: &mut String) {
        if let Some(t) = &self.icmp_type {
            push_neg(out, t.negated);
            out.push_str(" --icmpv6-type ");
            t.value.push(out);
        }
    }
}

impl Icmp6 {
    /// Evaluates `--icmpv6-type` against the packet's ICMPv6 type and code.
    pub fn eval(&self, cx: &Cx<'_>) -> Truth {
        crate::ext::icmp::eval_icmp(self.icmp_type.as_ref(), Protocol::ICMPV6, false, cx)
    }
}

#[cfg(test)]
mod tests {
    use crate::eval::Truth;
    use crate::eval::testkit::{Fixture, match6, packet};
    use crate::ext::Match;
    use crate::model::Protocol;

    fn icmp6(rule: &str) -> super::Icmp6 {
        match match6(rule) {
            Match::Icmp6(m) => m,
            other => panic!("{other:?}"),
        }
    }

    fn fix(kind: u8, code: u8) -> Fixture {
        let mut p = packet(Protocol::ICMPV6, "2001:db8::7", "2001:db8::2");
        p.icmp = Some((kind, code));
        Fixture::new(p)
    }

    #[test]
    fn types_codes_and_negation() {
        let echo = icmp6("-p ipv6-icmp -m icmp6 --icmpv6-type echo-request");
        assert_eq!(echo.eval(&fix(128, 0).cx()), Truth::Yes);
        assert_eq!(echo.eval(&fix(129, 0).cx()), Truth::No);
        let unreach = icmp6("-p ipv6-icmp -m icmp6 --icmpv6-type port-unreachable");
        assert_eq!(unreach.eval(&fix(1, 4).cx()), Truth::Yes);
        assert_eq!(unreach.eval(&fix(1, 3).cx()), Truth::No);
        let not_echo = icmp6("-p ipv6-icmp -m icmp6 ! --icmpv6-type echo-request");
        assert_eq!(not_echo.eval(&fix(129, 0).cx()), Truth::Yes);
        assert_eq!(not_echo.eval(&fix(128, 0).cx()), Truth::No);
        // Type 255 is no wildcard in IPv6.
        let t255 = icmp6("-p ipv6-icmp -m icmp6 --icmpv6-type 255");
        assert_eq!(t255.eval(&fix(128, 0).cx()), Truth::No);
        let udp = Fixture::new(packet(Protocol::UDP, "2001:db8::7", "2001:db8::2"));
        assert_eq!(not_echo.eval(&udp.cx()), Truth::No);
    }
}
