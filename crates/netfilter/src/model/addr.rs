//! Addresses with masks, as `-s`/`-d` and many extensions hold them.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::model::Family;

/// An address and a mask of the same family. Masks need not be contiguous
/// (`10.0.0.1/255.0.255.0` is valid); the address is kept already masked, as the kernel keeps it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AddrMask {
    /// An IPv4 address and mask, as host-order integers.
    V4 {
        /// The address, masked.
        addr: u32,
        /// The mask.
        mask: u32,
    },
    /// An IPv6 address and mask, as host-order integers.
    V6 {
        /// The address, masked.
        addr: U128,
        /// The mask.
        mask: U128,
    },
}

/// A 128-bit integer kept as four 32-bit words, so that an IPv6 address and mask do not force
/// 16-byte alignment (and padding) on every [`AddrMask`].
#[derive(Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct U128([u32; 4]);

impl U128 {
    /// The value.
    pub fn get(self) -> u128 {
        let [a, b, c, d] = self.0;
        (u128::from(a) << 96) | (u128::from(b) << 64) | (u128::from(c) << 32) | u128::from(d)
    }
}

impl From<u128> for U128 {
    fn from(v: u128) -> U128 {
        U128([
            (v >> 96) as u32,
            (v >> 64) as u32,
            (v >> 32) as u32,
            v as u32,
        ])
    }
}

impl From<U128> for u128 {
    fn from(v: U128) -> u128 {
        v.get()
    }
}

impl fmt::Debug for U128 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:#x}", self.get())
    }
}

/// Why an address did not parse.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum AddrParseError {
    /// The address part is not an IP address.
    #[error("`{0}` is not an IP address")]
    BadAddress(String),
    /// The mask part is neither a prefix length nor an address-shaped mask.
    #[error("`{0}` is not a valid mask")]
    BadMask(String),
    /// The prefix length is larger than the address.
    #[error("prefix length {len} is too long for {family} (at most {max})")]
    PrefixTooLong {
        /// The length given.
        len: u32,
        /// The family of the address.
        family: Family,
        /// The largest valid length.
        max: u32,
    },
    /// The address is of the other family than the ruleset's.
    #[error("`{0}` is an address of the wrong family for this ruleset")]
    WrongFamily(String),
}

impl AddrMask {
    /// A single host address (full mask).
    pub fn host(addr: IpAddr) -> AddrMask {
        match addr {
            IpAddr::V4(a) => AddrMask::V4 {
                addr: u32::from(a),
                mask: u32::MAX,
            },
            IpAddr::V6(a) => AddrMask::V6 {
                addr: u128::from(a).into(),
                mask: u128::MAX.into(),
            },
        }
    }

    /// Parses `ADDR`, `ADDR/LEN` or `ADDR/MASK`, as iptables accepts them.
    pub fn parse(text: &str) -> Result<AddrMask, AddrParseError> {
        let (a, m) = match text.split_once('/') {
            Some((a, m)) => (a, Some(m)),
            None => (text, None),
        };
        let addr: IpAddr = a
            .parse()
            .map_err(|_| AddrParseError::BadAddress(a.to_string()))?;
        match addr {
            IpAddr::V4(v4) => {
                let mask = match m {
                    None => u32::MAX,
                    Some(m) => parse_mask_v4(m)?,
                };
                Ok(AddrMask::V4 {
                    addr: u32::from(v4) & mask,
                    mask,
                })
            }
            IpAddr::V6(v6) => {
                let mask = match m {
                    None => u128::MAX,
                    Some(m) => parse_mask_v6(m)?,
                };
                Ok(AddrMask::V6 {
                    addr: (u128::from(v6) & mask).into(),
                    mask: mask.into(),
                })
            }
        }
    }

    /// The family of the address.
    pub fn family(&self) -> Family {
        match self {
            AddrMask::V4 { .. } => Family::Ipv4,
            AddrMask::V6 { .. } => Family::Ipv6,
        }
    }

    /// The (masked) address.
    pub fn addr(&self) -> IpAddr {
        match *self {
            AddrMask::V4 { addr, .. } => IpAddr::V4(Ipv4Addr::from(addr)),
            AddrMask::V6 { addr, .. } => IpAddr::V6(Ipv6Addr::from(addr.get())),
        }
    }

    /// The prefix length when the mask is contiguous; `None` for a non-contiguous mask.
    pub fn prefix_len(&self) -> Option<u32> {
        match *self {
            AddrMask::V4 { mask, .. } => {
                let len = mask.leading_ones();
                (mask.checked_shl(len).unwrap_or(0) == 0).then_some(len)
            }
            AddrMask::V6 { mask, .. } => {
                let mask = mask.get();
                let len = mask.leading_ones();
                (mask.checked_shl(len).unwrap_or(0) == 0).then_some(len)
            }
        }
    }

    /// Whether the mask is all zeroes (matches every address).
    pub fn is_any(&self) -> bool {
        match *self {
            AddrMask::V4 { mask, .. } => mask == 0,
            AddrMask::V6 { mask, .. } => mask.get() == 0,
        }
    }

    /// Whether an address is inside: `(ip & mask) == addr`. Addresses of the other family never
    /// are.
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (*self, ip) {
            (AddrMask::V4 { addr, mask }, IpAddr::V4(a)) => u32::from(a) & mask == addr,
            (AddrMask::V6 { addr, mask }, IpAddr::V6(a)) => {
                u128::from(a) & mask.get() == addr.get()
            }
            _ => false,
        }
    }
}

impl fmt::Display for AddrMask {
    /// Prints as `iptables-save` does: `ADDR/LEN`, or `ADDR/MASK` for a non-contiguous mask.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.prefix_len(), *self) {
            (Some(len), _) => write!(f, "{}/{}", self.addr(), len),
            (None, AddrMask::V4 { mask, .. }) => {
                write!(f, "{}/{}", self.addr(), Ipv4Addr::from(mask))
            }
            (None, AddrMask::V6 { mask, .. }) => {
                write!(f, "{}/{}", self.addr(), Ipv6Addr::from(mask.get()))
            }
        }
    }
}

fn parse_mask_v4(m: &str) -> Result<u32, AddrParseError> {
    if m.contains('.') {
        return m
            .parse::<Ipv4Addr>()
            .map(u32::from)
            .map_err(|_| AddrParseError::BadMask(m.to_string()));
    }
    let len: u32 = parse_len(m)?;
    if len > 32 {
        return Err(AddrParseError::PrefixTooLong {
            len,
            family: Family::Ipv4,
            max: 32,
        });
    }
    Ok(u32::MAX.checked_shl(32 - len).unwrap_or(0))
}

fn parse_mask_v6(m: &str) -> Result<u128, AddrParseError> {
    if m.contains(':') {
        return m
            .parse::<Ipv6Addr>()
            .map(u128::from)
            .map_err(|_| AddrParseError::BadMask(m.to_string()));
    }
    let len: u32 = parse_len(m)?;
    if len > 128 {
        return Err(AddrParseError::PrefixTooLong {
            len,
            family: Family::Ipv6,
            max: 128,
        });
    }
    Ok(u128::MAX.checked_shl(128 - len).unwrap_or(0))
}

fn parse_len(m: &str) -> Result<u32, AddrParseError> {
    if m.is_empty() || m.len() > 3 || !m.bytes().all(|b| b.is_ascii_digit()) {
        return Err(AddrParseError::BadMask(m.to_string()));
    }
    m.parse()
        .map_err(|_| AddrParseError::BadMask(m.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_and_print() {
        let cases = [
            ("10.0.0.5", "10.0.0.5/32"),
            ("10.0.0.5/8", "10.0.0.0/8"),
            ("10.0.0.0/255.0.0.0", "10.0.0.0/8"),
            ("10.1.2.3/255.0.255.0", "10.0.2.0/255.0.255.0"),
            ("0.0.0.0/0", "0.0.0.0/0"),
            ("2001:db8::1", "2001:db8::1/128"),
            ("2001:db8::1/64", "2001:db8::/64"),
            ("::/0", "::/0"),
        ];
        for (input, want) in cases {
            assert_eq!(AddrMask::parse(input).unwrap().to_string(), want, "{input}");
        }
    }

    #[test]
    fn errors() {
        assert!(matches!(
            AddrMask::parse("10.0.0.300"),
            Err(AddrParseError::BadAddress(_))
        ));
        assert!(matches!(
            AddrMask::parse("10.0.0.0/33"),
            Err(AddrParseError::PrefixTooLong { .. })
        ));
        assert!(matches!(
            AddrMask::parse("10.0.0.0/x"),
            Err(AddrParseError::BadMask(_))
        ));
        assert!(AddrMask::parse("").is_err());
    }

    #[test]
    fn contains() {
        let net = AddrMask::parse("10.244.0.0/16").unwrap();
        assert!(net.contains("10.244.3.4".parse().unwrap()));
        assert!(!net.contains("10.245.0.1".parse().unwrap()));
        assert!(!net.contains("::1".parse().unwrap()));
    }
}
