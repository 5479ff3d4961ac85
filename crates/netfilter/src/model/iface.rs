//! Interface names: a host's or packet's interface ([`IfName`]), and the patterns rules test
//! them with, with iptables' `+` wildcard ([`Iface`]).

use std::fmt;
use std::hash::{Hash, Hasher};
use std::ops::Deref;

/// A network interface's name as the kernel holds it: 1 to 15 bytes (`IFNAMSIZ` less its
/// NUL), without `/`, `:`, blanks or NUL, and not `.` or `..` (the kernel's
/// `dev_valid_name`). Kept inline, so packets and routes carry interface
/// names without heap text; reads like a `&str`.
#[derive(Clone, Copy)]
pub struct IfName {
    len: u8,
    bytes: [u8; IfName::MAX_LEN],
}

impl IfName {
    /// The longest interface name Linux allows (IFNAMSIZ - 1).
    pub const MAX_LEN: usize = 15;

    /// The loopback interface.
    pub const LO: IfName = IfName {
        len: 2,
        bytes: *b"lo\0\0\0\0\0\0\0\0\0\0\0\0\0",
    };

    /// Checks and wraps an interface name; `None` when the kernel would refuse it (empty,
    /// longer than [`IfName::MAX_LEN`] bytes, or holding `/`, `:`, a blank or NUL, or `.`/`..`).
    pub fn new(name: &str) -> Option<IfName> {
        let b = name.as_bytes();
        if b.is_empty()
            || b.len() > Self::MAX_LEN
            || name == "."
            || name == ".."
            || b.iter()
                .any(|c| matches!(c, b'/' | b':' | 0) || c.is_ascii_whitespace())
        {
            return None;
        }
        let mut bytes = [0u8; Self::MAX_LEN];
        bytes.get_mut(..b.len())?.copy_from_slice(b);
        Some(IfName {
            len: u8::try_from(b.len()).ok()?,
            bytes,
        })
    }

    /// The name's bytes.
    pub fn as_bytes(&self) -> &[u8] {
        self.bytes.get(..usize::from(self.len)).unwrap_or_default()
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        let bytes = self.as_bytes();
        // SAFETY: `IfName::new` is the only constructor besides `LO`; both copy a whole
        // `&str` (valid UTF-8) into `bytes[..len]` and nothing changes them afterwards.
        unsafe { std::str::from_utf8_unchecked(bytes) }
    }
}

impl Deref for IfName {
    type Target = str;
    fn deref(&self) -> &str {
        self.as_str()
    }
}

impl AsRef<str> for IfName {
    fn as_ref(&self) -> &str {
        self.as_str()
    }
}

impl std::borrow::Borrow<str> for IfName {
    fn borrow(&self) -> &str {
        self.as_str()
    }
}

impl PartialEq for IfName {
    fn eq(&self, other: &IfName) -> bool {
        self.len == other.len && self.bytes == other.bytes
    }
}

impl Eq for IfName {}

impl PartialEq<str> for IfName {
    fn eq(&self, other: &str) -> bool {
        self.as_bytes() == other.as_bytes()
    }
}

impl PartialEq<&str> for IfName {
    fn eq(&self, other: &&str) -> bool {
        self.as_bytes() == other.as_bytes()
    }
}

impl PartialEq<String> for IfName {
    fn eq(&self, other: &String) -> bool {
        self.as_bytes() == other.as_bytes()
    }
}

impl PartialEq<IfName> for str {
    fn eq(&self, other: &IfName) -> bool {
        self.as_bytes() == other.as_bytes()
    }
}

impl PartialEq<IfName> for &str {
    fn eq(&self, other: &IfName) -> bool {
        self.as_bytes() == other.as_bytes()
    }
}

impl PartialOrd for IfName {
    fn partial_cmp(&self, other: &IfName) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for IfName {
    fn cmp(&self, other: &IfName) -> std::cmp::Ordering {
        self.as_bytes().cmp(other.as_bytes())
    }
}

impl Hash for IfName {
    fn hash<H: Hasher>(&self, state: &mut H) {
        // As `str` hashes, so that `Borrow<str>` lookups work.
        self.as_str().hash(state);
    }
}

impl fmt::Debug for IfName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

impl fmt::Display for IfName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl From<IfName> for String {
    fn from(n: IfName) -> String {
        n.as_str().to_string()
    }
}

impl serde::Serialize for IfName {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

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
        self.matches_bytes(name.as_bytes())
    }

    /// [`Iface::matches`] on the name's bytes (no name: the empty name).
    pub fn matches_name(&self, name: Option<&IfName>) -> bool {
        self.matches_bytes(name.map_or(&[][..], IfName::as_bytes))
    }

    fn matches_bytes(&self, name: &[u8]) -> bool {
        match self.0.strip_suffix('+') {
            Some(prefix) => name.starts_with(prefix.as_bytes()),
            None => self.0.as_bytes() == name,
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

    proptest::proptest! {
        /// Any name `IfName::new` takes reads back as given (multi-byte text included).
        #[test]
        fn ifname_reads_back(name in "\\PC{0,16}") {
            if let Some(n) = IfName::new(&name) {
                proptest::prop_assert_eq!(n.as_str(), name.as_str());
                proptest::prop_assert!(name.len() <= IfName::MAX_LEN);
            }
        }
    }

    #[test]
    fn ifname_holds_what_the_kernel_allows() {
        for ok in ["lo", "eth0", "cali0123456789a", "veth-1.2@x", "a.b", "é1"] {
            let n = IfName::new(ok).unwrap();
            assert_eq!(n.as_str(), ok);
            assert_eq!(n, ok);
            assert_eq!(n.to_string(), ok);
        }
        // `ip link add a:b ...` is refused (EINVAL) on this kernel; `a.b` and `é1` are taken.
        for bad in [
            "",
            "cali0123456789ab",
            "a/b",
            "a b",
            "a:b",
            ".",
            "..",
            "a\0",
        ] {
            assert!(IfName::new(bad).is_none(), "{bad:?}");
        }
        assert_eq!(IfName::LO, IfName::new("lo").unwrap());
        assert_eq!(IfName::LO.as_str(), "lo");
        // Equal names hash alike, as their text does (lookups by `&str` through `Borrow`).
        let set: std::collections::HashSet<IfName> = [IfName::new("eth0").unwrap()].into();
        assert!(set.contains("eth0"));
    }

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
