//! The chainwalk core: a model of Linux netfilter/iptables rulesets, their parsers and canonical
//! printer, and checks over them. Pure functions over data: this crate does no I/O, reads no
//! clock and draws no random numbers, so everything in it is deterministic and can be fuzzed.
//!
//! ```
//! use chainwalk_netfilter::syntax::{parse_save, print_save};
//!
//! let text = "*filter\n:INPUT ACCEPT [0:0]\n-A INPUT -p tcp --dport 22 -j ACCEPT\nCOMMIT\n";
//! let parsed = parse_save(text, None);
//! assert!(!parsed.has_errors());
//! assert!(print_save(&parsed.ruleset).contains("-A INPUT -p tcp -m tcp --dport 22 -j ACCEPT"));
//! ```
//!
//! Layers: [`model`] (tables, chains, rules, addresses), [`ext`] (one module per match
//! extension) and [`target`] (one module per target), [`syntax`] (tokenizer, parsers, printer,
//! diagnostics), [`check`] (what the kernel would refuse: missing chains, loops, targets in the
//! wrong table or hook), and the packet-flow engine: [`packet`] (packets and their
//! description language), [`host`] (interfaces, routes, bridges), [`route`] (the routing
//! decision), [`conntrack`] (connections and NAT bindings), [`eval`] (the hooks and the chain
//! walk: [`eval::Simulator`]) and [`trace`] (what a trace returns).

pub mod check;
pub mod conntrack;
pub mod eval;
pub mod ext;
pub mod host;
pub mod ipset;
pub mod model;
pub mod packet;
pub mod recent;
pub mod route;
pub mod syntax;
pub mod target;
pub mod trace;
