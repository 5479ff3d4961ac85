//! The kernel oracle: real network namespaces, real iptables-restore/save, real packets,
//! and the kernel's own nftrace of their path.
//!
//! - [`Netns`]: a guard for a uniquely named network namespace, deleted on drop.
//! - [`save_after_restore`]: what the kernel's `iptables-save` prints after
//!   `iptables-restore` of a ruleset (ipsets it references are created first).
//! - [`Lab`]: a node namespace with interfaces, routes and neighbour namespaces built from
//!   a [`LabHost`]; loads a ruleset, injects one packet at a time ([`PacketSpec`]) and
//!   returns what the kernel did with it ([`KernelObservation`]).
//!
//! How the path is read: a separate nft table `chainwalk_trace` has base chains at
//! priority −500 on every hook that set `meta nftrace set 1`, and empty base chains at
//! priority 1000 that mark the end of each hook. The trace events come from netlink
//! (`NFNLGRP_NFTRACE`); nft rule handles are mapped to 1-based iptables rule positions
//! with `nft -a list table`.
//!
//! What the kernel's trace shows (Linux 6.18, iptables 1.8.9 nf_tables), as reported in
//! [`TraceEvent`]s:
//! - Only matching rules produce events; a rule with a non-terminal target (MARK, a
//!   match-only rule) shows verdict `continue` with its position.
//! - DNAT, SNAT and MASQUERADE show as `accept` of their rule; the new header is visible
//!   at the end of the hook ([`Fate::last_header`]).
//! - Falling off the end of a user chain is a [`TraceKind::Return`] event (the kernel
//!   sends a rule event without a handle, verdict `continue`); a `-j RETURN` rule is a
//!   rule event with verdict `return`.
//! - A built-in chain whose rules all fall through ends with a [`TraceKind::Policy`]
//!   event (`accept`/`drop`); empty built-in chains (e.g. an empty mangle table) still
//!   show their policy event.
//! - The nat table is consulted only for a connection's first packet; later packets of
//!   the flow show no nat events and get the same translation.
//! - Conntrack hooks register in a namespace only when a ruleset needs them (NAT, ct
//!   matches); with a ruleset that has neither, `conntrack -L` stays empty.

mod error;
mod host;
mod lab;
mod netns;
mod packet;
mod save;
mod sys;
mod trace;

pub use error::KernelError;
pub use host::{InterfaceKind, LabHost, LabInterface, LabRoute, Neighbor};
pub use lab::{Fate, FateKind, KernelObservation, Lab, TraceEvent, TraceKind};
pub use netns::{Netns, check_environment, cleanup_stale_namespaces};
pub use packet::{Headers, Ingress, PacketSpec, Proto, tcp_flags};
pub use save::{referenced_ipsets, save_after_restore};

/// Address family of a ruleset or a packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Family {
    /// IPv4: `iptables`, nft family `ip`.
    Ipv4,
    /// IPv6: `ip6tables`, nft family `ip6`.
    Ipv6,
}

impl Family {
    /// The family of an address.
    pub fn of(addr: &std::net::IpAddr) -> Family {
        match addr {
            std::net::IpAddr::V4(_) => Family::Ipv4,
            std::net::IpAddr::V6(_) => Family::Ipv6,
        }
    }

    /// nft family name: `ip` or `ip6`.
    pub fn nft_family(self) -> &'static str {
        match self {
            Family::Ipv4 => "ip",
            Family::Ipv6 => "ip6",
        }
    }

    /// ipset family name: `inet` or `inet6`.
    pub fn ipset_family(self) -> &'static str {
        match self {
            Family::Ipv4 => "inet",
            Family::Ipv6 => "inet6",
        }
    }

    pub(crate) fn restore_cmd(self) -> &'static str {
        match self {
            Family::Ipv4 => "iptables-nft-restore",
            Family::Ipv6 => "ip6tables-nft-restore",
        }
    }

    pub(crate) fn save_cmd(self) -> &'static str {
        match self {
            Family::Ipv4 => "iptables-nft-save",
            Family::Ipv6 => "ip6tables-nft-save",
        }
    }
}
