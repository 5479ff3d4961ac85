//! IP protocol numbers and their names.

use std::fmt;

/// An IP protocol number (`-p`), printed by name where the system's protocol table names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Protocol(pub u8);

impl Protocol {
    /// TCP (6).
    pub const TCP: Protocol = Protocol(6);
    /// UDP (17).
    pub const UDP: Protocol = Protocol(17);
    /// ICMP (1).
    pub const ICMP: Protocol = Protocol(1);
    /// ICMPv6 (58).
    pub const ICMPV6: Protocol = Protocol(58);
    /// SCTP (132).
    pub const SCTP: Protocol = Protocol(132);
    /// UDP-Lite (136).
    pub const UDPLITE: Protocol = Protocol(136);
    /// DCCP (33).
    pub const DCCP: Protocol = Protocol(33);

    /// Parses a protocol as `iptables -p` does: a number, a name from the protocol table, an
    /// alias, or `all` (0, which matches every protocol).
    pub fn parse(text: &str) -> Option<Protocol> {
        if let Ok(n) = text.parse::<u8>() {
            return Some(Protocol(n));
        }
        // Names are short: lower-cased on the stack.
        let mut buf = [0u8; 32];
        let lower = match buf.get_mut(..text.len()) {
            Some(b) => {
                b.copy_from_slice(text.as_bytes());
                b.make_ascii_lowercase();
                std::str::from_utf8(b).ok()?
            }
            None => return None,
        };
        match lower {
            "all" | "ip" | "hopopt" => return Some(Protocol(0)),
            "icmpv6" => return Some(Protocol::ICMPV6),
            "mh" | "ipv6-mh" => return Some(Protocol(135)),
            _ => {}
        }
        NAMES
            .iter()
            .find(|(_, name)| *name == lower)
            .map(|(n, _)| Protocol(*n))
    }

    /// The name `iptables-save` prints for this protocol, or `None` where it prints the number.
    pub fn name(self) -> Option<&'static str> {
        NAMES.iter().find(|(n, _)| *n == self.0).map(|(_, s)| *s)
    }

    /// Whether this is protocol 0, which matches every protocol and is not printed.
    pub fn is_any(self) -> bool {
        self.0 == 0
    }
}

impl fmt::Display for Protocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(name) => f.write_str(name),
            None => write!(f, "{}", self.0),
        }
    }
}

/// Protocol names as iptables 1.8.9 prints them (the system protocol table's first names).
const NAMES: &[(u8, &str)] = &[
    (1, "icmp"),
    (2, "igmp"),
    (3, "ggp"),
    (4, "ipencap"),
    (5, "st"),
    (6, "tcp"),
    (8, "egp"),
    (9, "igp"),
    (12, "pup"),
    (17, "udp"),
    (20, "hmp"),
    (22, "xns-idp"),
    (27, "rdp"),
    (29, "iso-tp4"),
    (33, "dccp"),
    (36, "xtp"),
    (37, "ddp"),
    (38, "idpr-cmtp"),
    (41, "ipv6"),
    (43, "ipv6-route"),
    (44, "ipv6-frag"),
    (45, "idrp"),
    (46, "rsvp"),
    (47, "gre"),
    (50, "esp"),
    (51, "ah"),
    (57, "skip"),
    (58, "ipv6-icmp"),
    (59, "ipv6-nonxt"),
    (60, "ipv6-opts"),
    (73, "rspf"),
    (81, "vmtp"),
    (88, "eigrp"),
    (89, "ospf"),
    (93, "ax.25"),
    (94, "ipip"),
    (97, "etherip"),
    (98, "encap"),
    (103, "pim"),
    (108, "ipcomp"),
    (112, "vrrp"),
    (115, "l2tp"),
    (124, "isis"),
    (132, "sctp"),
    (133, "fc"),
    (135, "mobility-header"),
    (136, "udplite"),
    (137, "mpls-in-ip"),
    (138, "manet"),
    (139, "hip"),
    (140, "shim6"),
    (141, "wesp"),
    (142, "rohc"),
    (143, "ethernet"),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_numbers() {
        assert_eq!(Protocol::parse("tcp"), Some(Protocol::TCP));
        assert_eq!(Protocol::parse("TCP"), Some(Protocol::TCP));
        assert_eq!(Protocol::parse("ipv6-icmp"), Some(Protocol::ICMPV6));
        assert_eq!(Protocol::parse("icmpv6"), Some(Protocol::ICMPV6));
        assert_eq!(Protocol::parse("all"), Some(Protocol(0)));
        assert_eq!(Protocol::parse("253"), Some(Protocol(253)));
        assert_eq!(Protocol::parse("nonsense"), None);
        assert_eq!(Protocol(94).to_string(), "ipip");
        assert_eq!(Protocol(4).to_string(), "ipencap");
        assert_eq!(Protocol(253).to_string(), "253");
    }
}
