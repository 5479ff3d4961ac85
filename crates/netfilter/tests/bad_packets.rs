//! Bad packet descriptions: each gets one clear error, from the description parser or from
//! checking the packet against the ruleset and the host.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use chainwalk_netfilter::eval::Simulator;
use chainwalk_netfilter::host::Host;
use chainwalk_netfilter::packet::parse_packet_line;
use chainwalk_netfilter::syntax::parse_save;

const RULES: &str = include_str!("../../../testdata/example-node/node.rules");
const HOST: &str = include_str!("../../../testdata/example-node/host.yaml");

/// Parses and traces; returns the one error message.
fn error_of(line: &str) -> String {
    let rs = parse_save(RULES, None).ruleset;
    let host = Host::from_yaml(HOST).unwrap();
    match parse_packet_line(line) {
        Err(e) => e.message,
        Ok(specs) => match Simulator::new(&rs, &host).trace(&specs) {
            Err(e) => e.to_string(),
            Ok(t) => panic!("`{line}` traced: {t:?}"),
        },
    }
}

#[test]
fn each_bad_description_gets_one_clear_error() {
    let cases = [
        ("--dport 80 -d 10.100.29.239", "`--dport` needs `-p`"),
        ("-p icmp --sport 1 -d 10.100.29.239", "`--sport` needs `-p`"),
        (
            "-p tcp -s 2001:db8::1 -d 2001:db8::2 --dport 80 -i eth0",
            "`2001:db8::1` is an IPv6 address, but the ruleset is IPv4",
        ),
        (
            "-p tcp -s 192.168.49.1 -d 10.100.29.239 --dport 80 -i eth9",
            "the host has no interface `eth9` (it has lo, eth0, cni0)",
        ),
        (
            "-p tcp -s 192.168.49.300 -d 10.100.29.239 --dport 80 -i eth0",
            "`192.168.49.300` is not an IP address",
        ),
        (
            "-p tcp -s 192.168.49.1 -d 10.100.29.239/32 --dport 80 -i eth0",
            "`10.100.29.239/32` is not an IP address",
        ),
        (
            "-p tcp -d 10.100.29.239 --dport 80 -i eth0",
            "an arriving packet (`-i`) needs a source address",
        ),
        (
            "-p tcp -s 10.0.0.1 --dport 80 -i eth0",
            "needs a destination (`-d ADDRESS`)",
        ),
        (
            "-p tcp -d 10.100.29.239 --dport 80 --then reply -i eth0",
            "takes its headers from the first packet",
        ),
    ];
    for (line, want) in cases {
        let e = error_of(line);
        assert!(e.contains(want), "`{line}`: got `{e}`, want `{want}`");
        assert!(!e.contains('\n'), "one line: {e}");
    }
}
