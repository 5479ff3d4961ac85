//! Every corpus ruleset traces: a handful of packets per file (arriving, forwarded, local),
//! no errors, exact probabilities that sum to 1 (weighted over undecidable matches), and every
//! outcome ends with a fate.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::Path;

use chainwalk_netfilter::eval::{Prob, Simulator, TraceError};
use chainwalk_netfilter::host::Host;
use chainwalk_netfilter::model::Family;
use chainwalk_netfilter::packet::parse_packet_line;
use chainwalk_netfilter::syntax::parse_save;

const V4: &[&str] = &[
    "-p tcp -s 203.0.113.9 --sport 40000 -d 192.168.1.1 --dport 22 -i eth0 --then reply",
    "-p udp -s 192.168.1.50 --sport 5353 -d 8.8.8.8 --dport 53 -i eth1",
    "-p icmp -s 203.0.113.9 -d 192.168.1.1 -i eth0",
    "-p tcp -s 192.168.1.1 -d 203.0.113.9 --dport 443 --then reply",
];
const V6: &[&str] = &[
    "-p tcp -s 2001:db8::9 --sport 40000 -d 2001:db8:1::1 --dport 22 -i eth0 --then reply",
    "-p icmpv6 -s 2001:db8::9 -d 2001:db8:1::1 -i eth0",
    "-p udp -s 2001:db8:1::1 -d 2001:db8::53 --dport 53",
];

const HOST: &str = "forwarding: {ipv4: true, ipv6: true}
interfaces:
  - name: lo
    addresses: [127.0.0.1/8, ::1/128]
  - name: eth0
    addresses: [203.0.113.2/24, 2001:db8::2/64]
  - name: eth1
    addresses: [192.168.1.1/24, 2001:db8:1::1/64]
routes:
  - to: default
    via: 203.0.113.1
    dev: eth0
  - to: \"::/0\"
    via: 2001:db8::1
    dev: eth0
";

#[test]
fn every_corpus_ruleset_traces() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata/corpus/rulesets");
    let host = Host::from_yaml(HOST).unwrap();
    let mut traced = 0;
    let mut too_many = 0;
    let mut max_outcomes = 0;
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "rules"))
        .collect();
    files.sort();
    assert!(files.len() > 30);
    for f in files {
        let text = std::fs::read_to_string(&f).unwrap();
        let parsed = parse_save(&text, None);
        let rs = parsed.ruleset;
        let sim = Simulator::new(&rs, &host);
        let packets = match rs.family.unwrap_or(Family::Ipv4) {
            Family::Ipv4 => V4,
            Family::Ipv6 => V6,
        };
        for p in packets {
            let t = match sim.trace(&parse_packet_line(p).unwrap()) {
                Ok(t) => t,
                Err(TraceError::TooManyOutcomes { .. }) => {
                    too_many += 1;
                    continue;
                }
                Err(e) => panic!("{}: {p}: {e}", f.display()),
            };
            assert!(!t.outcomes.is_empty());
            max_outcomes = max_outcomes.max(t.outcomes.len());
            let total = t.outcomes.iter().fold(Prob::zero(), |acc, o| {
                let n = o.uncertain.iter().filter(|u| u.assumed.is_some()).count();
                acc.add(
                    &o.probability
                        .mul(&Prob::new(1u8, u32::try_from(n).unwrap())),
                )
            });
            assert!(total.is_one(), "{}: {p}: total {total}", f.display());
            for o in &t.outcomes {
                assert!(!o.steps.is_empty());
            }
            traced += 1;
        }
    }
    eprintln!("traced {traced}, too many outcomes {too_many}, at most {max_outcomes} outcomes");
    assert!(traced > 100, "{traced}");
    assert_eq!(too_many, 0);
}
