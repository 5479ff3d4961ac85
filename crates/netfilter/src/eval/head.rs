//! Rule heads: what most rules test — IPv4 addresses, the protocol, TCP or UDP ports —
//! copied out of the model into one flat array per table, in rule order. The indexed walk
//! asks a rule's head first: a head can reject a rule without the walk reading the rule
//! (its `Rule`, boxed addresses and matches live elsewhere on the heap), and a head that
//! holds every test of its rule decides a match too.
//!
//! A head only answers from tests whose answer is a plain yes or no and that change no
//! state: `-s`/`-d` with IPv4 addresses, `-p`, and one `-m tcp`/`-m udp` with only
//! `--sport`/`--dport`; `-m comment` always holds. Anything else (interfaces, IPv6
//! addresses, `-f`, other matches) leaves the rule to the full evaluation, which then sees
//! the same packet and gives the same answer the head would have given for the tests it
//! holds.

use std::net::IpAddr;

use crate::ext::Match;
use crate::ext::port::PortRange;
use crate::model::{AddrMask, Neg, Protocol, Rule};
use crate::packet::Packet;
use crate::target::Target;

/// `-s` with an IPv4 address.
const SRC: u16 = 1;
/// `! -s`.
const SRC_NEG: u16 = 1 << 1;
/// `-d` with an IPv4 address.
const DST: u16 = 1 << 2;
/// `! -d`.
const DST_NEG: u16 = 1 << 3;
/// `-p`.
const PROTO: u16 = 1 << 4;
/// `! -p`.
const PROTO_NEG: u16 = 1 << 5;
/// `-p all` (any protocol).
const PROTO_ANY: u16 = 1 << 6;
/// A `-m tcp` or `-m udp` match: the packet's protocol must be [`Head::l4`].
const L4: u16 = 1 << 7;
/// `--sport` of the port match.
const SPORT: u16 = 1 << 8;
/// `! --sport`.
const SPORT_NEG: u16 = 1 << 9;
/// `--dport` of the port match.
const DPORT: u16 = 1 << 10;
/// `! --dport`.
const DPORT_NEG: u16 = 1 << 11;
/// The head holds every test of the rule: its answer is the rule's.
const EXACT: u16 = 1 << 12;
/// The head holds the rule's generic part (`-s`, `-d`, `-p`, `-i`, `-o`, `-f`) whole.
const IP_EXACT: u16 = 1 << 13;

/// What a head says of its rule for a packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Decision {
    /// A test fails: the rule does not match.
    Fails,
    /// Every test of the rule holds: it matches.
    Holds,
    /// The rule's generic part holds; its extension matches are still to be evaluated.
    IpHolds,
    /// The head cannot tell: the rule is evaluated in full.
    Unknown,
}

/// A rule's target, when it is one the walk can follow without reading the rule.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) enum HeadTarget {
    /// `-j CHAIN` to a user chain.
    Jump,
    /// `-g CHAIN`.
    Goto,
    /// `-j ACCEPT`.
    Accept,
    /// Any other target, or none.
    #[default]
    Other,
}

/// The tests of one rule that a head holds (see the module documentation), and the kind of
/// its target.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Head {
    src: u32,
    src_mask: u32,
    dst: u32,
    dst_mask: u32,
    sport: (u16, u16),
    dport: (u16, u16),
    proto: u8,
    l4: u8,
    flags: u16,
    target: HeadTarget,
}

impl Head {
    /// The head of `rule`.
    pub(crate) fn of(rule: &Rule) -> Head {
        let mut h = Head {
            target: match &rule.target {
                Some(Target::Jump(_)) => HeadTarget::Jump,
                Some(Target::Goto(_)) => HeadTarget::Goto,
                Some(Target::Accept) => HeadTarget::Accept,
                _ => HeadTarget::Other,
            },
            ..Head::default()
        };
        let ip = &rule.ip;
        let mut ip_exact = ip.ifaces.is_none() && ip.fragment.is_none();
        let mut v4 = |a: &Neg<AddrMask>, flag: u16, neg: u16, h: &mut Head| match a.value {
            AddrMask::V4 { addr, mask } => {
                h.flags |= flag | if a.negated { neg } else { 0 };
                (addr, mask)
            }
            AddrMask::V6 { .. } => {
                ip_exact = false;
                (0, 0)
            }
        };
        if let Some(s) = &ip.src {
            (h.src, h.src_mask) = v4(s, SRC, SRC_NEG, &mut h);
        }
        if let Some(d) = &ip.dst {
            (h.dst, h.dst_mask) = v4(d, DST, DST_NEG, &mut h);
        }
        if let Some(p) = &ip.proto {
            h.flags |= PROTO
                | if p.negated { PROTO_NEG } else { 0 }
                | if p.value.is_any() { PROTO_ANY } else { 0 };
            h.proto = p.value.0;
        }
        let mut exact = ip_exact;
        // Matches run in order and the first that fails ends the rule: a port match after
        // any other match (a counter, a random choice, an undecidable one) may never run,
        // so only a port match that the comments alone precede goes in the head.
        let mut first = true;
        for m in rule.matches.iter() {
            let ports = match m {
                Match::Comment(_) => continue,
                Match::Tcp(t) if first && t.flags.is_none() && t.option.is_none() => {
                    (Protocol::TCP, t.sport, t.dport)
                }
                Match::Udp(u) if first => (Protocol::UDP, u.sport, u.dport),
                _ => {
                    exact = false;
                    first = false;
                    continue;
                }
            };
            first = false;
            let (proto, sport, dport) = ports;
            h.flags |= L4;
            h.l4 = proto.0;
            if let Some(s) = sport {
                h.flags |= SPORT | if s.negated { SPORT_NEG } else { 0 };
                h.sport = (s.value.lo, s.value.hi);
            }
            if let Some(d) = dport {
                h.flags |= DPORT | if d.negated { DPORT_NEG } else { 0 };
                h.dport = (d.value.lo, d.value.hi);
            }
        }
        if exact {
            h.flags |= EXACT;
        }
        if ip_exact {
            h.flags |= IP_EXACT;
        }
        h
    }

    /// The kind of the rule's target.
    pub(crate) fn target(&self) -> HeadTarget {
        self.target
    }

    /// What the head says of its rule for `p`: [`Decision::Fails`] when a test the head
    /// holds fails (whatever the rule's other tests say), [`Decision::Holds`] when the head
    /// holds every test of the rule and all hold, [`Decision::IpHolds`] when it holds the
    /// generic part whole and that holds.
    pub(crate) fn decide(&self, p: &Packet) -> Decision {
        let f = self.flags;
        let holds = |flag: u16, neg: u16, t: bool| f & flag == 0 || (t != (f & neg != 0));
        let ok = holds(SRC, SRC_NEG, in_v4(p.src, self.src, self.src_mask))
            && holds(DST, DST_NEG, in_v4(p.dst, self.dst, self.dst_mask))
            && holds(
                PROTO,
                PROTO_NEG,
                f & PROTO_ANY != 0 || self.proto == p.proto.0,
            )
            && (f & L4 == 0
                || (self.l4 == p.proto.0
                    && holds(SPORT, SPORT_NEG, in_range(p.sport, self.sport))
                    && holds(DPORT, DPORT_NEG, in_range(p.dport, self.dport))));
        match (ok, f & EXACT != 0, f & IP_EXACT != 0) {
            (false, _, _) => Decision::Fails,
            (true, true, _) => Decision::Holds,
            (true, false, true) => Decision::IpHolds,
            (true, false, false) => Decision::Unknown,
        }
    }
}

fn in_v4(ip: IpAddr, addr: u32, mask: u32) -> bool {
    match ip {
        IpAddr::V4(a) => u32::from(a) & mask == addr,
        IpAddr::V6(_) => false,
    }
}

fn in_range(port: Option<u16>, (lo, hi): (u16, u16)) -> bool {
    port.is_some_and(|v| PortRange { lo, hi }.contains(v))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::eval::Truth;
    use crate::eval::testkit::{Fixture, packet};
    use crate::model::Protocol;

    fn rule(text: &str) -> Rule {
        let parsed = crate::syntax::parse_save(
            &format!("*filter\n:INPUT ACCEPT [0:0]\n-A INPUT {text}\nCOMMIT\n"),
            None,
        );
        assert!(!parsed.has_errors(), "{text}: {:?}", parsed.diagnostics);
        parsed.ruleset.tables[0].chains[0].rules[0].clone()
    }

    /// The full evaluation of a rule's tests, as the walk does it.
    fn full(r: &Rule, fix: &Fixture) -> Option<bool> {
        let cx = fix.cx();
        let mut t = crate::eval::matches::eval_ip(&r.ip, &cx);
        for m in r.matches.iter() {
            if t != Truth::Yes {
                break;
            }
            t = m.eval(&cx);
        }
        match t {
            Truth::Yes => Some(true),
            Truth::No => Some(false),
            _ => None,
        }
    }

    #[test]
    fn heads_agree_with_the_full_evaluation() {
        let rules = [
            "-j ACCEPT",
            "-s 10.0.0.0/8 -j ACCEPT",
            "! -s 10.0.0.0/8 -d 10.96.0.1/32 -p tcp -m comment --comment x -m tcp --dport 80 -j ACCEPT",
            "-d 10.96.0.1/32 -p tcp -m tcp ! --dport 80 -j ACCEPT",
            "-p udp -m udp --sport 1000:2000 --dport 53 -j ACCEPT",
            "-p udp -m udp ! --sport 1000:2000 -j ACCEPT",
            "! -d 10.96.0.0/16 -p tcp -j ACCEPT",
            "! -p tcp -j ACCEPT",
            "-p all -j ACCEPT",
            "! -p all -j ACCEPT",
            "-p tcp -m tcp --dport 80 -m tcp --sport 5 -j ACCEPT",
            "-p tcp -m tcp --tcp-flags SYN SYN -j ACCEPT",
            "-i eth0 -d 10.96.0.1/32 -j ACCEPT",
            "-d 10.96.0.1/32 -m mark --mark 0x1 -j ACCEPT",
            "-s 192.168.1.7/255.0.255.0 -j ACCEPT",
            "-p icmp -j ACCEPT",
        ];
        let packets = [
            packet(Protocol::TCP, "10.0.0.9", "10.96.0.1"),
            packet(Protocol::TCP, "192.168.1.9", "10.96.0.1"),
            packet(Protocol::UDP, "192.7.1.9", "10.96.0.1"),
            packet(Protocol::ICMP, "10.0.0.9", "10.96.0.2"),
        ];
        let mut decided = 0;
        for text in rules {
            let r = rule(text);
            let head = Head::of(&r);
            for p in &packets {
                for (sport, dport) in [(1500, 80), (40000, 53), (5, 443)] {
                    let mut p = p.clone();
                    if matches!(p.proto, Protocol::TCP | Protocol::UDP) {
                        p.sport = Some(sport);
                        p.dport = Some(dport);
                    }
                    let fix = Fixture::new(p.clone());
                    let want = full(&r, &fix);
                    match head.decide(&p) {
                        Decision::Fails => {
                            decided += 1;
                            assert_eq!(want, Some(false), "{text} {p:?}");
                        }
                        Decision::Holds => {
                            decided += 1;
                            assert_eq!(want, Some(true), "{text} {p:?}");
                        }
                        Decision::IpHolds => {
                            let ip = crate::eval::matches::eval_ip(&r.ip, &fix.cx());
                            assert_eq!(ip, Truth::Yes, "{text} {p:?}");
                            assert_eq!(head.flags & EXACT, 0);
                        }
                        Decision::Unknown => assert_eq!(head.flags & (EXACT | IP_EXACT), 0),
                    }
                }
            }
        }
        assert!(decided > 100, "{decided}");
    }

    /// A port match after another match is not in the head: the match before it runs
    /// first (an nth counter counts every packet that reaches it, a random choice splits
    /// the outcome), so the rule must not be rejected before it runs.
    #[test]
    fn port_matches_after_other_matches_stay_out() {
        let p = packet(Protocol::TCP, "10.0.0.9", "10.96.0.1");
        for text in [
            "-m statistic --mode nth --every 2 -p tcp -m tcp --dport 80 -j ACCEPT",
            "-m statistic --mode random --probability 0.5 -p tcp -m tcp --dport 80 -j ACCEPT",
            "-p tcp -m limit --limit 1/sec -m tcp --dport 80 -j ACCEPT",
            "-p tcp -m mark --mark 1 -m tcp --dport 80 -j ACCEPT",
        ] {
            let mut p = p.clone();
            p.dport = Some(53);
            assert_ne!(Head::of(&rule(text)).decide(&p), Decision::Fails, "{text}");
        }
        // Comments before the port match do not keep it out.
        let mut q = p.clone();
        q.dport = Some(53);
        let r = rule("-p tcp -m comment --comment a -m tcp --dport 80 -j ACCEPT");
        assert_eq!(Head::of(&r).decide(&q), Decision::Fails);
    }

    #[test]
    fn exact_only_when_every_test_is_held() {
        assert_ne!(
            Head::of(&rule("-s 10.0.0.0/8 -m comment --comment a -j ACCEPT")).flags & EXACT,
            0
        );
        for text in [
            "-i eth0 -j ACCEPT",
            "-m mark --mark 1 -j ACCEPT",
            "-p tcp -m tcp --syn -j ACCEPT",
            "-m statistic --mode random --probability 0.5 -j ACCEPT",
        ] {
            assert_eq!(Head::of(&rule(text)).flags & EXACT, 0, "{text}");
        }
    }
}
