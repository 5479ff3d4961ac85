//! What the NAT targets compute: the new address and port of a connection. (Kept apart from
//! the targets' parsing and printing in `target/`.)

use std::net::IpAddr;

use crate::target::dnat::Nat;
use crate::target::masquerade::Masquerade;

impl Nat {
    /// The address and port a connection is translated to, given the current ones. A range of
    /// several addresses, or a port outside a port range, is chosen by the kernel at run time:
    /// the first is taken and the third value says so.
    pub fn translate(
        &self,
        addr: IpAddr,
        port: Option<u16>,
    ) -> (IpAddr, Option<u16>, Option<String>) {
        let mut doubt = None;
        let Some(r) = &self.range else {
            return (addr, port, None);
        };
        let new_addr = match r.addrs {
            Some((lo, hi)) => {
                if lo != hi {
                    doubt = Some(format!(
                        "NAT to the range {lo}-{hi}: the kernel picks the address by hash; {lo} shown"
                    ));
                }
                lo
            }
            None => addr,
        };
        let new_port = match (r.ports, port) {
            (Some((lo, hi)), Some(p)) if lo <= p && p <= hi && lo != hi => Some(p),
            (Some((lo, hi)), Some(_)) => {
                if lo != hi {
                    doubt = Some(format!(
                        "NAT to the ports {lo}-{hi}: the kernel picks the port; {lo} shown"
                    ));
                }
                Some(lo)
            }
            (_, p) => p,
        };
        (new_addr, new_port, doubt)
    }
}

impl Masquerade {
    /// The source port after masquerading: kept unless `--to-ports` excludes it (then the
    /// first port of the range, with a note that the kernel chooses). With `--random-fully` the
    /// kernel randomises it; the port returned is the original and the caller flags it.
    pub fn translate_port(&self, port: Option<u16>) -> (Option<u16>, Option<String>) {
        match (self.ports, port) {
            (Some((lo, hi)), Some(p)) if lo <= p && p <= hi => (Some(p), None),
            (Some((lo, hi)), Some(_)) => (
                Some(lo),
                (lo != hi).then(|| {
                    format!(
                        "MASQUERADE --to-ports {lo}-{hi}: the kernel picks the port; {lo} shown"
                    )
                }),
            ),
            (_, p) => (p, None),
        }
    }
}
