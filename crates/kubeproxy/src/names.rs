//! Chain names and small formatting helpers shared with upstream kube-proxy.
//!
//! Per-service chains are named by a prefix plus the first 16 characters of the
//! standard (padded) base32 encoding of the SHA-256 of the service port name
//! (`namespace/name` or `namespace/name:port`) followed by the lower-case protocol;
//! endpoint chains also append the endpoint string (`ip:port`, `[ip]:port` for IPv6).

use sha2::{Digest, Sha256};
use std::net::{IpAddr, Ipv4Addr};

/// Prefix of the chain dispatching to endpoints under `Cluster` traffic policy.
pub const SVC_PREFIX: &str = "KUBE-SVC-";
/// Prefix of the chain dispatching to node-local endpoints under `Local` policy.
pub const SVL_PREFIX: &str = "KUBE-SVL-";
/// Prefix of the loadBalancerSourceRanges firewall chain.
pub const FW_PREFIX: &str = "KUBE-FW-";
/// Prefix of the chain handling traffic to external destinations.
pub const EXT_PREFIX: &str = "KUBE-EXT-";
/// Prefix of the per-endpoint DNAT chain.
pub const SEP_PREFIX: &str = "KUBE-SEP-";

/// The first 16 characters of the base32 SHA-256 of `parts` concatenated (exactly
/// the encoding of the first ten digest bytes).
fn hash16_bytes(parts: &[&str]) -> [u8; 16] {
    let mut h = Sha256::new();
    for p in parts {
        h.update(p.as_bytes());
    }
    let digest = h.finalize();
    let mut out = [b'A'; 16];
    if let Some(head) = digest.get(..10) {
        data_encoding::BASE32.encode_mut(head, &mut out);
    }
    out
}

/// `prefix` followed by the 16-character hash of `parts`.
fn prefixed_hash(prefix: &str, parts: &[&str]) -> String {
    let h = hash16_bytes(parts);
    let mut s = String::with_capacity(prefix.len() + 16);
    s.push_str(prefix);
    // Base32 symbols are ASCII.
    s.extend(h.iter().map(|&b| char::from(b)));
    s
}

fn hash16(parts: &[&str]) -> String {
    prefixed_hash("", parts)
}

/// The 16-character hash kube-proxy derives from a service port name and protocol.
pub fn port_proto_hash(service_port_name: &str, protocol: &str) -> String {
    hash16(&[service_port_name, protocol])
}

/// `KUBE-SVC-…` chain of a service port (`protocol` in lower case, e.g. `tcp`).
pub fn service_chain(service_port_name: &str, protocol: &str) -> String {
    format!(
        "{SVC_PREFIX}{}",
        port_proto_hash(service_port_name, protocol)
    )
}

/// `KUBE-SVL-…` chain of a service port.
pub fn local_chain(service_port_name: &str, protocol: &str) -> String {
    format!(
        "{SVL_PREFIX}{}",
        port_proto_hash(service_port_name, protocol)
    )
}

/// `KUBE-FW-…` chain of a service port.
pub fn firewall_chain(service_port_name: &str, protocol: &str) -> String {
    format!(
        "{FW_PREFIX}{}",
        port_proto_hash(service_port_name, protocol)
    )
}

/// `KUBE-EXT-…` chain of a service port.
pub fn external_chain(service_port_name: &str, protocol: &str) -> String {
    format!(
        "{EXT_PREFIX}{}",
        port_proto_hash(service_port_name, protocol)
    )
}

/// `KUBE-SEP-…` chain of one endpoint (`endpoint` as `ip:port` or `[ip]:port`).
pub fn endpoint_chain(service_port_name: &str, protocol: &str, endpoint: &str) -> String {
    prefixed_hash(SEP_PREFIX, &[service_port_name, protocol, endpoint])
}

/// Whether kube-proxy considers a chain one of its per-service chains (and so may delete it).
pub fn is_service_chain(name: &str) -> bool {
    [SVC_PREFIX, SVL_PREFIX, SEP_PREFIX, FW_PREFIX, EXT_PREFIX]
        .iter()
        .any(|p| name.starts_with(p))
}

/// The probability kube-proxy writes for the i-th of n remaining endpoints: `1/n` with
/// ten decimals.
pub fn probability(n: usize) -> String {
    format!("{:.10}", 1.0 / n as f64)
}

/// Formats the masquerade mark `1 << bit` as kube-proxy does (`0x` plus eight hex digits).
pub fn masquerade_mark(bit: u32) -> String {
    format!("0x{:08x}", 1u64.checked_shl(bit).unwrap_or(0))
}

/// Parses an IP address the way Go's `ParseIPSloppy` does: IPv4 octets may carry
/// leading zeros (read as decimal).
pub fn parse_ip_sloppy(s: &str) -> Option<IpAddr> {
    if s.contains(':') {
        return s.parse::<IpAddr>().ok();
    }
    let mut octets = [0u8; 4];
    let mut n = 0;
    for part in s.split('.') {
        if n >= 4 || part.is_empty() || part.len() > 3 || !part.bytes().all(|b| b.is_ascii_digit())
        {
            return None;
        }
        let v: u16 = part.parse().ok()?;
        *octets.get_mut(n)? = u8::try_from(v).ok()?;
        n += 1;
    }
    (n == 4).then(|| IpAddr::V4(Ipv4Addr::from(octets)))
}

/// Parses a CIDR the way Go's `ParseCIDRSloppy` does, returning the masked network.
pub fn parse_cidr_sloppy(s: &str) -> Option<ipnet::IpNet> {
    let (ip, len) = s.split_once('/')?;
    let ip = parse_ip_sloppy(ip)?;
    if len.is_empty() || !len.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let len: u8 = len.parse().ok()?;
    ipnet::IpNet::new(ip, len).ok().map(|n| n.trunc())
}

/// `ip:port`, with brackets around IPv6 addresses (Go's `net.JoinHostPort`).
pub fn join_host_port(ip: &str, port: i32) -> String {
    let mut s = String::with_capacity(ip.len() + 9);
    if ip.contains(':') {
        s.push('[');
        s.push_str(ip);
        s.push(']');
    } else {
        s.push_str(ip);
    }
    s.push(':');
    push_int(&mut s, i64::from(port));
    s
}

/// Appends the decimal form of `n`.
pub(crate) fn push_int(s: &mut String, n: i64) {
    if n < 0 {
        s.push('-');
    }
    let mut v = n.unsigned_abs();
    let mut buf = [0u8; 20];
    let mut i = buf.len();
    loop {
        i -= 1;
        if let Some(slot) = buf.get_mut(i) {
            *slot = b'0' + (v % 10) as u8;
        }
        v /= 10;
        if v == 0 || i == 0 {
            break;
        }
    }
    s.extend(buf.iter().skip(i).map(|&b| char::from(b)));
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn probabilities() {
        assert_eq!(probability(2), "0.5000000000");
        assert_eq!(probability(3), "0.3333333333");
        assert_eq!(probability(7), "0.1428571429");
    }

    #[test]
    fn host_port() {
        for port in [0, 7, 80, 65535, i32::MAX, -1, i32::MIN] {
            assert_eq!(join_host_port("10.1.2.3", port), format!("10.1.2.3:{port}"));
            assert_eq!(join_host_port("fd00::1", port), format!("[fd00::1]:{port}"));
        }
    }

    #[test]
    fn hash_is_truncated_base32_of_digest() {
        for (name, proto) in [("ns/svc:http", "tcp"), ("a/b", "udp"), ("", "")] {
            let mut h = Sha256::new();
            h.update(name.as_bytes());
            h.update(proto.as_bytes());
            let full = data_encoding::BASE32.encode(&h.finalize());
            assert_eq!(port_proto_hash(name, proto), full[..16]);
            assert_eq!(
                service_chain(name, proto),
                format!("KUBE-SVC-{}", &full[..16])
            );
        }
    }

    #[test]
    fn mark() {
        assert_eq!(masquerade_mark(14), "0x00004000");
        assert_eq!(masquerade_mark(0), "0x00000001");
    }

    #[test]
    fn sloppy() {
        assert_eq!(
            parse_ip_sloppy("010.001.0.9"),
            Some("10.1.0.9".parse().unwrap())
        );
        assert_eq!(parse_ip_sloppy("10.1.0"), None);
        assert_eq!(parse_ip_sloppy("256.1.0.1"), None);
        assert_eq!(
            parse_cidr_sloppy("203.0.113.7/25").map(|c| c.to_string()),
            Some("203.0.113.0/25".to_string())
        );
    }
}
