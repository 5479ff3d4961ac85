//! Properties of the engine on generated rulesets: outcome probabilities sum to exactly 1, a
//! ruleset without random or undecidable matches has exactly one outcome, and events are well
//! formed.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use chainwalk_netfilter::eval::{MAX_OUTCOMES, Prob, Simulator, TraceError};
use chainwalk_netfilter::host::Host;
use chainwalk_netfilter::packet::parse_packet_line;
use chainwalk_netfilter::syntax::parse_save;
use chainwalk_netfilter::trace::{EventKind, Trace};
use proptest::prelude::*;

mod common;
use common::HOST;

/// What a generated rule may contain.
#[derive(Clone, Debug)]
struct Gen {
    random: bool,
    opaque: bool,
}

fn matches(g: Gen) -> impl Strategy<Value = String> {
    let mut opts: Vec<BoxedStrategy<String>> = vec![
        Just(String::new()).boxed(),
        (0u8..4, 8u8..=32)
            .prop_map(|(n, l)| format!(" -s 10.{n}.0.0/{l}"))
            .boxed(),
        (0u8..4)
            .prop_map(|n| format!(" ! -d 10.{n}.0.0/16"))
            .boxed(),
        prop_oneof![Just(" -i eth0"), Just(" -i eth+"), Just(" ! -o eth1")]
            .prop_map(str::to_string)
            .boxed(),
        (20u16..25)
            .prop_map(|p| format!(" -p tcp -m tcp --dport {p}"))
            .boxed(),
        (0u32..4)
            .prop_map(|m| format!(" -m mark --mark {m:#x}/0x3"))
            .boxed(),
        prop_oneof![Just("NEW"), Just("ESTABLISHED"), Just("INVALID,NEW")]
            .prop_map(|s| format!(" -m conntrack --ctstate {s}"))
            .boxed(),
        Just(" -m addrtype --dst-type LOCAL".to_string()).boxed(),
    ];
    if g.random {
        opts.push(
            (1u32..100)
                .prop_map(|p| format!(" -m statistic --mode random --probability 0.{p:02}"))
                .boxed(),
        );
    }
    if g.opaque {
        opts.push(
            Just(" -m hashlimit --hashlimit-upto 3/min --hashlimit-name t".to_string()).boxed(),
        );
    }
    proptest::strategy::Union::new(opts)
}

fn target(chain: usize, nchains: usize) -> impl Strategy<Value = String> {
    // Jumps only go to later chains, so there are no loops.
    let later: Vec<usize> = (chain + 1..nchains).collect();
    let mut opts: Vec<BoxedStrategy<String>> = vec![
        Just(" -j ACCEPT".to_string()).boxed(),
        Just(" -j DROP".to_string()).boxed(),
        Just(" -j RETURN".to_string()).boxed(),
        Just(String::new()).boxed(),
        (0u32..4)
            .prop_map(|v| format!(" -j MARK --set-xmark {v:#x}/0x3"))
            .boxed(),
    ];
    if !later.is_empty() {
        let l = later.clone();
        opts.push(
            (0..l.len(), any::<bool>())
                .prop_map(move |(i, goto)| format!(" -{} C{}", if goto { 'g' } else { 'j' }, l[i]))
                .boxed(),
        );
    }
    proptest::strategy::Union::new(opts)
}

fn rule(chain: usize, nchains: usize, g: Gen) -> impl Strategy<Value = String> {
    (
        proptest::collection::vec(matches(g), 0..3),
        target(chain, nchains),
    )
        .prop_map(|(ms, t)| ms.concat() + &t)
}

fn ruleset(g: Gen) -> impl Strategy<Value = String> {
    (1usize..5).prop_flat_map(move |nchains| {
        let g = g.clone();
        let chains: Vec<_> = (0..nchains)
            .map(|c| proptest::collection::vec(rule(c, nchains, g.clone()), 0..5))
            .collect();
        (chains, any::<bool>(), any::<bool>()).prop_map(move |(chains, drop_in, drop_fwd)| {
            let mut s = format!(
                "*filter\n:INPUT {} [0:0]\n:FORWARD {} [0:0]\n:OUTPUT ACCEPT [0:0]\n",
                if drop_in { "DROP" } else { "ACCEPT" },
                if drop_fwd { "DROP" } else { "ACCEPT" }
            );
            for c in 1..chains.len() {
                s.push_str(&format!(":C{c} - [0:0]\n"));
            }
            for (c, rules) in chains.iter().enumerate() {
                for r in rules {
                    let name = if c == 0 {
                        "INPUT".to_string()
                    } else {
                        format!("C{c}")
                    };
                    s.push_str(&format!("-A {name}{r}\n"));
                    if c == 0 {
                        s.push_str(&format!("-A FORWARD{r}\n"));
                        s.push_str(&format!("-A OUTPUT{r}\n"));
                    }
                }
            }
            s.push_str("COMMIT\n");
            s
        })
    })
}

fn packet() -> impl Strategy<Value = String> {
    (
        prop_oneof![Just("10.0.0.9"), Just("10.1.0.9"), Just("10.3.4.5")],
        prop_oneof![Just("10.0.0.2"), Just("10.1.0.7"), Just("192.0.2.1")],
        20u16..25,
        prop_oneof![Just(" -i eth0"), Just(" -i eth1"), Just("")],
        0u32..4,
    )
        .prop_map(|(s, d, dport, i, mark)| {
            let src = if i.is_empty() {
                String::new()
            } else {
                format!(" -s {s}")
            };
            format!("-p tcp{src} --sport 999 -d {d} --dport {dport}{i} --mark {mark}")
        })
}

/// The trace, or `None` when the generated ruleset branches past [`MAX_OUTCOMES`] (the engine
/// refuses such traces rather than exhaust memory).
fn trace(rules: &str, packet: &str) -> Option<Trace> {
    let parsed = parse_save(rules, None);
    assert!(!parsed.has_errors(), "{rules}\n{:?}", parsed.diagnostics);
    let host = Host::from_yaml(HOST).unwrap();
    let specs = parse_packet_line(&format!("{packet} --then reply")).unwrap();
    match Simulator::new(&parsed.ruleset, &host).trace(&specs) {
        Ok(t) => Some(t),
        Err(TraceError::TooManyOutcomes { limit }) => {
            assert_eq!(limit, MAX_OUTCOMES);
            None
        }
        Err(e) => panic!("{e}"),
    }
}

/// Σ p · 2^-n, n = the number of undecidable matches the outcome assumed an answer for.
fn weighted_total(t: &Trace) -> Prob {
    t.outcomes.iter().fold(Prob::zero(), |acc, o| {
        let n = o.uncertain.iter().filter(|u| u.assumed.is_some()).count();
        acc.add(
            &o.probability
                .mul(&Prob::new(1u8, u32::try_from(n).unwrap())),
        )
    })
}

fn well_formed(t: &Trace) {
    for o in &t.outcomes {
        for st in &o.steps {
            for e in &st.events {
                match e.kind {
                    EventKind::Rule => assert!(e.rule.is_some_and(|r| r >= 1)),
                    EventKind::Policy | EventKind::Return => assert!(e.rule.is_none()),
                }
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn probabilities_sum_to_one(rules in ruleset(Gen { random: true, opaque: false }), p in packet()) {
        let Some(t) = trace(&rules, &p) else { return Ok(()) };
        let total = t.outcomes.iter().fold(Prob::zero(), |a, o| a.add(&o.probability));
        prop_assert!(total.is_one(), "{} outcomes, total {}", t.outcomes.len(), total);
        prop_assert!(t.outcomes.iter().all(|o| o.uncertain.is_empty()));
        well_formed(&t);
    }

    #[test]
    fn weighted_probabilities_sum_to_one_with_undecidable_matches(rules in ruleset(Gen { random: true, opaque: true }), p in packet()) {
        let Some(t) = trace(&rules, &p) else { return Ok(()) };
        prop_assert!(weighted_total(&t).is_one());
        well_formed(&t);
    }

    #[test]
    fn no_random_and_nothing_undecidable_means_one_outcome(rules in ruleset(Gen { random: false, opaque: false }), p in packet()) {
        let Some(t) = trace(&rules, &p) else { return Ok(()) };
        prop_assert_eq!(t.outcomes.len(), 1);
        prop_assert!(t.outcomes[0].probability.is_one());
        well_formed(&t);
    }

    #[test]
    fn without_random_every_outcome_rests_on_an_undecidable_match(rules in ruleset(Gen { random: false, opaque: true }), p in packet()) {
        let Some(t) = trace(&rules, &p) else { return Ok(()) };
        if t.outcomes.len() > 1 {
            prop_assert!(t.outcomes.iter().all(|o| o.uncertain.iter().any(|u| u.assumed.is_some())));
        }
        prop_assert!(t.outcomes.iter().all(|o| o.probability.is_one()));
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(500))]

    /// Any argument list gets an answer, never a panic; traced packets fit the example node.
    #[test]
    fn packet_descriptions_never_panic(words in proptest::collection::vec(prop_oneof![
        Just("-p"), Just("tcp"), Just("udp"), Just("icmp"), Just("-s"), Just("-d"), Just("10.0.0.9"),
        Just("10.1.0.7"), Just("::1"), Just("--sport"), Just("--dport"), Just("80"), Just("-i"),
        Just("eth0"), Just("--then"), Just("reply"), Just("again"), Just("--syn"), Just("--tcp-flags"),
        Just("ALL"), Just("SYN,ACK"), Just("--mark"), Just("0x4000"), Just("--icmp-type"), Just("3/4"),
        Just("!"), Just(""), Just("-"), Just("--"),
    ], 0..14)) {
        if let Ok(specs) = chainwalk_netfilter::packet::parse_packets(&words) {
            let parsed = parse_save("*filter\n:INPUT ACCEPT [0:0]\nCOMMIT\n", None);
            let host = Host::from_yaml(HOST).unwrap();
            let _ = Simulator::new(&parsed.ruleset, &host).trace(&specs);
        }
    }
}
