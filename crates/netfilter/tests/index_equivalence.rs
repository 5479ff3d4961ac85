//! The indexed walk of `Simulator::new` against the reference walk of `Simulator::reference`:
//! on generated rulesets with long chains of exact-destination rules (negated, masked,
//! wildcard, random, jumping, DNAT-ing and MARK-ing, with the address, protocol and port
//! tests that rule heads decide), both give identical traces.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use chainwalk_netfilter::eval::Simulator;
use chainwalk_netfilter::host::Host;
use chainwalk_netfilter::packet::parse_packet_line;
use chainwalk_netfilter::syntax::parse_save;
use proptest::prelude::*;

mod common;
use common::HOST;

/// Destination addresses rules and packets draw from: few enough that they meet often.
fn addr(n: u8) -> String {
    format!("10.96.{}.{}", n / 4, n % 4)
}

fn dst() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => Just(String::new()),
        8 => (0u8..10).prop_map(|n| format!(" -d {}/32", addr(n))),
        1 => (0u8..10).prop_map(|n| format!(" ! -d {}/32", addr(n))),
        1 => (0u8..3).prop_map(|n| format!(" -d 10.96.{n}.0/24")),
        1 => (0u8..10).prop_map(|n| format!(" -d {}/255.255.0.255", addr(n))),
        1 => Just(" -d 10.96.0.0/16".to_string()),
        1 => Just(" -d 10.0.0.2/32".to_string()),
    ]
}

fn extra(random: bool) -> impl Strategy<Value = String> {
    let mut opts: Vec<(u32, BoxedStrategy<String>)> = vec![
        (6, Just(String::new()).boxed()),
        (
            4,
            (80u16..83)
                .prop_map(|p| format!(" -p tcp -m tcp --dport {p}"))
                .boxed(),
        ),
        (1, Just(" -p udp -m udp --dport 53".to_string()).boxed()),
        (1, Just(" ! -p tcp".to_string()).boxed()),
        (
            1,
            (0u32..4)
                .prop_map(|m| format!(" -m mark --mark {m:#x}/0x3"))
                .boxed(),
        ),
        (1, Just(" ! -s 10.0.0.0/24".to_string()).boxed()),
        (1, Just(" -s 10.1.0.0/16".to_string()).boxed()),
        (1, Just(" -p tcp -m tcp ! --dport 81".to_string()).boxed()),
        (
            1,
            Just(" -p udp -m comment --comment x -m udp --sport 990:1000".to_string()).boxed(),
        ),
        (1, Just(" -p all".to_string()).boxed()),
        (1, Just(" -i eth0".to_string()).boxed()),
        (1, Just(" -m addrtype --dst-type LOCAL".to_string()).boxed()),
        (1, Just(" -m limit --limit 3/min".to_string()).boxed()),
    ];
    if random {
        opts.push((
            1,
            (1u32..100)
                .prop_map(|p| format!(" -m statistic --mode random --probability 0.{p:02}"))
                .boxed(),
        ));
        opts.push((
            1,
            Just(" -m statistic --mode nth --every 2".to_string()).boxed(),
        ));
    }
    proptest::strategy::Union::new_weighted(opts)
}

fn target(nat: bool, chain: usize, nchains: usize) -> impl Strategy<Value = String> {
    let later: Vec<usize> = (chain + 1..nchains).collect();
    let mut opts: Vec<(u32, BoxedStrategy<String>)> = vec![
        (2, Just(" -j ACCEPT".to_string()).boxed()),
        (1, Just(" -j RETURN".to_string()).boxed()),
        (1, Just(String::new()).boxed()),
        (
            2,
            (0u32..4)
                .prop_map(|v| format!(" -j MARK --set-xmark {v:#x}/0x3"))
                .boxed(),
        ),
    ];
    if nat {
        opts.push((
            3,
            (0u8..10)
                .prop_map(|n| format!(" -p tcp -j DNAT --to-destination {}:80", addr(n)))
                .boxed(),
        ));
    } else {
        opts.push((2, Just(" -j DROP".to_string()).boxed()));
    }
    if !later.is_empty() {
        opts.push((
            4,
            (proptest::sample::select(later), any::<bool>())
                .prop_map(|(c, goto)| format!(" -{} C{c}", if goto { 'g' } else { 'j' }))
                .boxed(),
        ));
    }
    proptest::strategy::Union::new_weighted(opts)
}

fn rules(
    nat: bool,
    chain: usize,
    nchains: usize,
    random: bool,
) -> impl Strategy<Value = Vec<String>> {
    let len = if chain == 0 { 0..40usize } else { 10..50usize };
    proptest::collection::vec(
        (
            dst(),
            extra(random),
            extra(random),
            target(nat, chain, nchains),
        )
            .prop_map(|(d, e1, e2, t)| {
                // Two extra tests in a row (a counter before a port match, ...); a rule
                // tests the protocol once.
                let e = if e1.contains(" -p ") && e2.contains(" -p ") {
                    e1
                } else {
                    e1 + &e2
                };
                (d, e, t)
            })
            .prop_map(|(d, e, t)| {
                // A DNAT target carries its own `-p tcp`; a rule may test the protocol once.
                let e = if t.contains("-p tcp") && e.contains(" -p ") || e.contains("! -p") {
                    if t.contains("-p tcp") {
                        String::new()
                    } else {
                        e
                    }
                } else {
                    e
                };
                format!("{d}{e}{t}")
            }),
        len,
    )
}

fn table(name: &'static str, base: &'static [&'static str], random: bool) -> BoxedStrategy<String> {
    let nat = name == "nat";
    (2usize..5)
        .prop_flat_map(move |nchains| {
            let chains: Vec<_> = (0..nchains)
                .map(|c| rules(nat, c, nchains, random))
                .collect();
            chains.prop_map(move |chains| {
                let mut s = format!("*{name}\n");
                for b in base {
                    s.push_str(&format!(":{b} ACCEPT [0:0]\n"));
                }
                for c in 1..chains.len() {
                    s.push_str(&format!(":C{c} - [0:0]\n"));
                }
                for (c, rs) in chains.iter().enumerate() {
                    for r in rs {
                        if c == 0 {
                            for b in base {
                                s.push_str(&format!("-A {b}{r}\n"));
                            }
                        } else {
                            s.push_str(&format!("-A C{c}{r}\n"));
                        }
                    }
                }
                s.push_str("COMMIT\n");
                s
            })
        })
        .boxed()
}

fn ruleset(random: bool) -> impl Strategy<Value = String> {
    (
        table("nat", &["PREROUTING", "OUTPUT"], random),
        table("filter", &["INPUT", "FORWARD", "OUTPUT"], random),
    )
        .prop_map(|(n, f)| n + &f)
}

fn packet() -> impl Strategy<Value = String> {
    (
        prop_oneof![Just("10.0.0.9"), Just("10.1.0.9")],
        prop_oneof![
            4 => (0u8..12).prop_map(addr),
            1 => Just("10.0.0.2".to_string()),
        ],
        prop_oneof![Just("tcp"), Just("udp")],
        prop_oneof![(80u16..83), Just(53u16)],
        prop_oneof![Just(" -i eth0"), Just(" -i eth1"), Just("")],
        0u32..4,
        any::<bool>(),
    )
        .prop_map(|(s, d, proto, dport, i, mark, reply)| {
            let src = if i.is_empty() {
                String::new()
            } else {
                format!(" -s {s}")
            };
            let then = if reply { " --then reply" } else { "" };
            format!("-p {proto}{src} --sport 999 -d {d} --dport {dport}{i} --mark {mark}{then}")
        })
}

/// The indexed walk and the reference walk trace every packet alike; the indexed
/// simulator gets each trace back (`recycle`), so later traces reuse earlier traces' lists.
fn same(rules: &str, packets: &[String]) {
    let parsed = parse_save(rules, None);
    assert!(!parsed.has_errors(), "{rules}\n{:?}", parsed.diagnostics);
    let host = Host::from_yaml(HOST).unwrap();
    let fast = Simulator::new(&parsed.ruleset, &host);
    let reference = Simulator::reference(&parsed.ruleset, &host);
    assert!(fast.is_indexed());
    assert!(!reference.is_indexed());
    for p in packets {
        let specs = parse_packet_line(p).unwrap();
        let a = fast.trace(&specs);
        let b = reference.trace(&specs);
        assert_eq!(a, b, "packet {p}\nruleset:\n{rules}");
        if let Ok(t) = a {
            fast.recycle(t);
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn indexed_walk_equals_reference(
        rules in ruleset(false),
        packets in proptest::collection::vec(packet(), 1..6),
    ) {
        same(&rules, &packets);
    }

    #[test]
    fn indexed_walk_equals_reference_with_branches(
        rules in ruleset(true),
        packets in proptest::collection::vec(packet(), 1..4),
    ) {
        same(&rules, &packets);
    }
}

/// The index really skips: a long chain of exact destinations is indexed, and a packet to
/// the last service still gets the same trace as the reference walk.
#[test]
fn long_service_chain_is_indexed_and_agrees() {
    let mut s =
        String::from("*nat\n:PREROUTING ACCEPT [0:0]\n:KUBE-SERVICES - [0:0]\n:SVC - [0:0]\n");
    s.push_str("-A PREROUTING -j KUBE-SERVICES\n");
    for i in 0..2000u32 {
        s.push_str(&format!(
            "-A KUBE-SERVICES -d 10.96.{}.{}/32 -p tcp -m tcp --dport 80 -j SVC\n",
            i / 256,
            i % 256
        ));
    }
    s.push_str("-A KUBE-SERVICES -m addrtype --dst-type LOCAL -j RETURN\n");
    s.push_str("-A SVC -p tcp -j DNAT --to-destination 10.1.0.7:8080\nCOMMIT\n");
    let parsed = parse_save(&s, None);
    assert!(!parsed.has_errors());
    let ix = chainwalk_netfilter::eval::index::RulesetIndex::build(&parsed.ruleset);
    let chain = ix
        .chain(chainwalk_netfilter::model::TableName::Nat, 1)
        .expect("KUBE-SERVICES is indexed");
    assert_eq!(chain.classified(), 2000);
    same(
        &s,
        &[
            "-p tcp -s 10.0.0.9 -d 10.96.7.207 --dport 80 -i eth0".to_string(),
            "-p tcp -s 10.0.0.9 -d 10.96.7.208 --dport 80 -i eth0".to_string(),
            "-p tcp -s 10.0.0.9 -d 10.96.0.0 --dport 81 -i eth0".to_string(),
            "-p tcp -d 10.96.3.3 --dport 80".to_string(),
        ],
    );
}

/// A `-d` test for the soundness property: IPv4 and IPv6, host, prefix and odd masks,
/// negated or not, or none.
fn dst_any() -> impl Strategy<Value = String> {
    prop_oneof![
        2 => Just(String::new()),
        6 => (0u8..10).prop_map(|n| format!(" -d {}/32", addr(n))),
        1 => (0u8..10).prop_map(|n| format!(" ! -d {}/32", addr(n))),
        2 => (0u8..3).prop_map(|n| format!(" -d 10.96.{n}.0/24")),
        1 => (0u8..10).prop_map(|n| format!(" -d {}/255.255.0.255", addr(n))),
        3 => (0u8..6).prop_map(|n| format!(" -d fd00::{n}/128")),
        1 => (0u8..3).prop_map(|n| format!(" -d fd00:{n}::/32")),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    /// The index never passes over a rule whose destination test holds for the packet.
    #[test]
    fn index_skips_only_rules_whose_destination_fails(
        dsts in proptest::collection::vec(dst_any(), 16..80),
        packet_dsts in proptest::collection::vec(
            prop_oneof![
                (0u8..12).prop_map(addr),
                (0u8..8).prop_map(|n| format!("fd00::{n}")),
                (0u8..4).prop_map(|n| format!("fd00:{n}::1")),
            ],
            1..8,
        ),
    ) {
        use chainwalk_netfilter::eval::index::ChainIndex;
        use chainwalk_netfilter::model::{AddrMask, Chain, Neg, Rule};
        let rules: Vec<Rule> = dsts
            .iter()
            .map(|d| {
                let mut r = Rule::empty();
                let t = d.trim();
                if !t.is_empty() {
                    let negated = t.starts_with('!');
                    let a = t.trim_start_matches("! ").trim_start_matches("-d ");
                    r.ip.dst = Some(Box::new(Neg { negated, value: AddrMask::parse(a).unwrap() }));
                }
                r
            })
            .collect();
        let mut chain = Chain::user("C");
        chain.rules = rules;
        let ix = ChainIndex::build(&chain);
        for d in &packet_dsts {
            let ip: std::net::IpAddr = d.parse().unwrap();
            let holds = |r: &Rule| r.ip.dst.as_ref().is_none_or(|n| n.apply(n.value.contains(ip)));
            for pos in 0..=chain.rules.len() {
                let next = ix.next(pos, ip);
                prop_assert!(next >= pos && next <= chain.rules.len());
                for (p, r) in chain.rules.iter().enumerate().take(next).skip(pos) {
                    prop_assert!(!holds(r), "rule {p} skipped for {d} from {pos}");
                }
            }
        }
    }
}
