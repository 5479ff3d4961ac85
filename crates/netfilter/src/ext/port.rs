//! Ports and port ranges, as `--sport`, `--dport` and `--dports` take them.

use std::fmt;

use crate::syntax::error::ParseError;
use crate::syntax::token::Token;

/// An inclusive port range; a single port has `lo == hi`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct PortRange {
    /// First port.
    pub lo: u16,
    /// Last port.
    pub hi: u16,
}

impl PortRange {
    /// Every port, 0 to 65535.
    pub const ALL: PortRange = PortRange { lo: 0, hi: 65535 };

    /// A single port.
    pub fn single(port: u16) -> PortRange {
        PortRange { lo: port, hi: port }
    }

    /// Whether `port` is inside.
    pub fn contains(&self, port: u16) -> bool {
        self.lo <= port && port <= self.hi
    }

    /// Parses `P`, `LO:HI`, `LO:` or `:HI` (iptables also accepts `-` in multiport lists only
    /// through `:`); service names from the common well-known set are accepted too.
    pub fn parse(tok: &Token, text: &str) -> Result<PortRange, ParseError> {
        let r = match text.split_once(':') {
            None => PortRange::single(parse_port(tok, text)?),
            Some((lo, hi)) => {
                let lo = if lo.is_empty() {
                    0
                } else {
                    parse_port(tok, lo)?
                };
                let hi = if hi.is_empty() {
                    65535
                } else {
                    parse_port(tok, hi)?
                };
                PortRange { lo, hi }
            }
        };
        if r.lo > r.hi {
            return Err(ParseError::new(
                tok.span,
                format!("invalid port range `{text}`: {} is above {}", r.lo, r.hi),
            ));
        }
        Ok(r)
    }
}

impl fmt::Display for PortRange {
    /// Prints `P` or `LO:HI`, as `iptables-save` does.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.lo == self.hi {
            write!(f, "{}", self.lo)
        } else {
            write!(f, "{}:{}", self.lo, self.hi)
        }
    }
}

/// Parses one port number or well-known service name.
pub fn parse_port(tok: &Token, text: &str) -> Result<u16, ParseError> {
    if !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()) {
        return match text.parse::<u32>() {
            Ok(n) if n <= 65535 => Ok(n as u16),
            _ => Err(ParseError::new(
                tok.span,
                format!("port `{text}` is out of range (0-65535)"),
            )),
        };
    }
    SERVICES
        .iter()
        .find(|(name, _)| *name == text)
        .map(|(_, p)| *p)
        .ok_or_else(|| ParseError::new(tok.span, format!("invalid port or service name `{text}`")))
}

/// Well-known service names iptables resolves through the services database.
const SERVICES: &[(&str, u16)] = &[
    ("ftp-data", 20),
    ("ftp", 21),
    ("ssh", 22),
    ("telnet", 23),
    ("smtp", 25),
    ("domain", 53),
    ("bootps", 67),
    ("bootpc", 68),
    ("tftp", 69),
    ("http", 80),
    ("www", 80),
    ("kerberos", 88),
    ("pop3", 110),
    ("sunrpc", 111),
    ("ident", 113),
    ("auth", 113),
    ("ntp", 123),
    ("netbios-ns", 137),
    ("netbios-dgm", 138),
    ("netbios-ssn", 139),
    ("imap2", 143),
    ("imap", 143),
    ("snmp", 161),
    ("snmp-trap", 162),
    ("bgp", 179),
    ("irc", 194),
    ("ldap", 389),
    ("https", 443),
    ("microsoft-ds", 445),
    ("isakmp", 500),
    ("syslog", 514),
    ("submission", 587),
    ("ldaps", 636),
    ("rsync", 873),
    ("imaps", 993),
    ("pop3s", 995),
    ("openvpn", 1194),
    ("ms-sql-s", 1433),
    ("nfs", 2049),
    ("mysql", 3306),
    ("postgresql", 5432),
    ("x11", 6000),
];
