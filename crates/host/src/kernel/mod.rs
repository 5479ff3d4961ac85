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
