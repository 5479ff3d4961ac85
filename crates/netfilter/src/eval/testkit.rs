//! Fixtures for the extensions' evaluation tests: a small host, a packet, a conntrack view,
//! and matches and targets taken from parsed rules.

use std::net::IpAddr;

use crate::conntrack::{CtInfo, Direction, Entry};
use crate::eval::Cx;
use crate::ext::Match;
use crate::host::Host;
use crate::ipset::IpSets;
use crate::model::{Family, Hook, Protocol, Ruleset};
use crate::packet::Packet;
use crate::target::Target;

/// The host: `eth0` 192.168.49.2/24 with a default route, `eth1` 10.1.0.2/24, a bridge `br0`
/// with ports `veth1` and `veth2`, and IPv6 on `eth0`.
const HOST: &str = "\
interfaces:
  - name: lo
    addresses: [127.0.0.1/8, ::1/128]
  - name: eth0
    addresses: [192.168.49.2/24, 2001:db8::2/64]
  - name: eth1
    addresses: [10.1.0.2/24]
  - name: br0
    addresses: [10.244.0.1/24]
    ports: [veth1, veth2]
routes:
  - to: default
    via: 192.168.49.1
    dev: eth0
";

/// Parses one rule of `table`'s `chain` (what follows `-A CHAIN`) and returns it.
fn rule_in(family: Family, table: &str, chain: &str, text: &str) -> crate::model::Rule {
    let save = format!("*{table}\n:{chain} ACCEPT [0:0]\n-A {chain} {text}\nCOMMIT\n");
    let parsed = crate::syntax::parse_save(&save, Some(family));
    assert!(!parsed.has_errors(), "{text}: {:?}", parsed.diagnostics);
    parsed.ruleset.tables[0].chains[0].rules[0].clone()
}

fn rule(family: Family, text: &str) -> crate::model::Rule {
    rule_in(family, "filter", "INPUT", text)
}

/// The last match of an IPv4 rule (the one after any implicit protocol match).
pub(crate) fn match4(text: &str) -> Match {
    rule(Family::Ipv4, text)
        .matches
        .into_vec()
        .pop()
        .expect("a match")
}

/// The last match of an IPv4 rule in `table`'s `chain`.
pub(crate) fn match4_in(table: &str, chain: &str, text: &str) -> Match {
    rule_in(Family::Ipv4, table, chain, text)
        .matches
        .into_vec()
        .pop()
        .expect("a match")
}

/// The last match of an IPv6 rule.
pub(crate) fn match6(text: &str) -> Match {
    rule(Family::Ipv6, text)
        .matches
        .into_vec()
        .pop()
        .expect("a match")
}

/// The target of an IPv4 rule.
pub(crate) fn target4(table: &str, chain: &str, text: &str) -> Target {
    rule_in(Family::Ipv4, table, chain, text)
        .target
        .expect("a target")
}

/// A packet arriving on `eth0` (`in_iface` may be changed by the test).
pub(crate) fn packet(proto: Protocol, src: &str, dst: &str) -> Packet {
    Packet {
        proto,
        src: src.parse::<IpAddr>().expect("address"),
        dst: dst.parse::<IpAddr>().expect("address"),
        sport: None,
        dport: None,
        tcp_flags: None,
        icmp: None,
        in_iface: crate::model::IfName::new("eth0"),
        out_iface: None,
        physdev_in: None,
        physdev_out: None,
        mark: 0,
        sport_random: false,
        quoted: None,
        sender: None,
    }
}

/// Everything a [`Cx`] borrows.
pub(crate) struct Fixture {
    pub(crate) pkt: Packet,
    pub(crate) host: Host,
    pub(crate) ct: CtInfo,
    pub(crate) ruleset: Ruleset,
    pub(crate) sets: Option<IpSets>,
}

impl Fixture {
    /// The packet on the test host, not looked at by conntrack yet.
    pub(crate) fn new(pkt: Packet) -> Fixture {
        Fixture {
            pkt,
            host: Host::from_yaml(HOST).expect("test host"),
            ct: CtInfo::None,
            ruleset: Ruleset::default(),
            sets: None,
        }
    }

    /// The packet as the first of a new connection with this connection mark.
    pub(crate) fn conn(mut self, ctmark: u32) -> Fixture {
        self.ct = CtInfo::Conn {
            entry: Entry {
                mark: ctmark,
                ..Entry::new(&self.pkt)
            },
            index: None,
            dir: Direction::Original,
            dst_done: false,
            src_done: false,
            related: false,
        };
        self
    }

    /// The packet as a reply of a connection the table holds.
    pub(crate) fn reply(mut self) -> Fixture {
        self = self.conn(0);
        if let CtInfo::Conn { index, dir, .. } = &mut self.ct {
            *index = Some(0);
            *dir = Direction::Reply;
        }
        self
    }

    /// The ipsets, from `ipset save` text.
    pub(crate) fn sets(mut self, text: &str) -> Fixture {
        self.sets = Some(IpSets::parse(text).expect("ipset save text"));
        self
    }

    /// The evaluation context (INPUT hook).
    pub(crate) fn cx(&self) -> Cx<'_> {
        Cx {
            pkt: &self.pkt,
            hook: Hook::Input,
            host: &self.host,
            ct: &self.ct,
            family: self.pkt.family(),
            ruleset: &self.ruleset,
            sets: self.sets.as_ref(),
        }
    }
}
