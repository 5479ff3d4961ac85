//! Interface names as rules test them, with iptables' `+` wildcard.

use std::fmt;

/// An interface name pattern (`-i`/`-o`): an exact name, or a prefix when it ends in `+`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Iface(String);

impl Iface {
    /// The longest interface name Linux allows (IFNAMSIZ - 1).
    pub const MAX_LEN: usize = 15;

    /// Checks and wraps an interface pattern; `None` when it is empty or too long.
    pub fn new(name: &str) -> Option<Iface> {
        if name.is_empty() || name.len() > Self::MAX_LEN || name.contains(['/', ' ']) {
            return None;
        }
        Some(Iface(name.to_string()))
    }

    /// The pattern as written.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether the pattern ends in `+` (matches every name with that prefix).
    pub fn is_wildcard(&self) -> bool {
        self.0.ends_with('+')
    }

    /// Whether an interface name matches this pattern, as the kernel compares them.
    pub fn matches(&self, name: &str) -> bool {
        match self.0.strip_suffix('+') {
            Some(prefix) => name.starts_with(prefix),
            None => self.0 == name,
        }
    }
}

impl fmt::Display for Iface {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcard() {
        let p = Iface::new("cali+").unwrap();
        assert!(p.matches("cali123"));
        assert!(p.matches("cali"));
        assert!(!p.matches("eth0"));
        let e = Iface::new("eth0").unwrap();
        assert!(e.matches("eth0"));
        assert!(!e.matches("eth01"));
        let all = Iface::new("+").unwrap();
        assert!(all.matches("anything"));
        assert!(Iface::new("abcdefghijklmnop").is_none());
    }
}
