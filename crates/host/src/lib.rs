//! I/O edge of chainwalk that talks to the real Linux kernel.
//!
//! Everything here needs root and the kernel tools (`ip`, `iptables-nft-*`, `nft`,
//! `conntrack`, `ipset`): `.ci/install-deps.sh` installs them. The API speaks in plain
//! strings, numbers and small structs of its own so that the kernel's answers can be
//! compared with the offline engine's.
//!
//! See [`kernel`] for the kernel oracle.

pub mod kernel;
