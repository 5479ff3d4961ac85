//! The ruleset model: tables, chains, rules, and the typed values rules are made of.
//!
//! A [`Ruleset`] is what `iptables-save` prints for one address family: a list of
//! [`Table`]s, each holding built-in and user [`Chain`]s, each holding [`Rule`]s. Rules keep
//! their matches in order and at most one target, plus the counters and source span they came
//! from. Nothing here does I/O.

mod addr;
mod iface;
mod proto;

use std::fmt;

pub use addr::{AddrMask, AddrParseError, U128};
pub use iface::{IfName, Iface};
pub use proto::Protocol;

use crate::ext::Match;
use crate::target::Target;

/// The address family a ruleset belongs to: `iptables` (IPv4) or `ip6tables` (IPv6).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Family {
    /// IPv4, as handled by `iptables`.
    Ipv4,
    /// IPv6, as handled by `ip6tables`.
    Ipv6,
}

impl Family {
    /// The name of the save tool for this family (`iptables-save` or `ip6tables-save`).
    pub fn save_tool(self) -> &'static str {
        match self {
            Family::Ipv4 => "iptables-save",
            Family::Ipv6 => "ip6tables-save",
        }
    }
}

impl fmt::Display for Family {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Family::Ipv4 => "IPv4",
            Family::Ipv6 => "IPv6",
        })
    }
}

/// One of the five netfilter tables, in the kernel's hook-priority order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum TableName {
    /// `raw`: before connection tracking (priority -300).
    Raw,
    /// `mangle`: packet alteration (priority -150).
    Mangle,
    /// `nat`: address translation, consulted for a connection's first packet only.
    Nat,
    /// `filter`: the default table (priority 0).
    Filter,
    /// `security`: SELinux/MAC rules (priority 50).
    Security,
}

impl TableName {
    /// All tables, in hook-priority order.
    pub const ALL: [TableName; 5] = [
        TableName::Raw,
        TableName::Mangle,
        TableName::Nat,
        TableName::Filter,
        TableName::Security,
    ];

    /// The table's name as iptables spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            TableName::Raw => "raw",
            TableName::Mangle => "mangle",
            TableName::Nat => "nat",
            TableName::Filter => "filter",
            TableName::Security => "security",
        }
    }

    /// Parses a table name as iptables spells it.
    pub fn from_name(name: &str) -> Option<TableName> {
        TableName::ALL.into_iter().find(|t| t.as_str() == name)
    }

    /// The hooks this table has built-in chains on, in the order `iptables-save` (nf_tables
    /// flavour, 1.8.9) declares them.
    pub fn hooks(self) -> &'static [Hook] {
        use Hook::*;
        match self {
            TableName::Raw => &[Prerouting, Output],
            TableName::Mangle => &[Prerouting, Input, Forward, Output, Postrouting],
            TableName::Nat => &[Prerouting, Input, Output, Postrouting],
            TableName::Filter | TableName::Security => &[Input, Forward, Output],
        }
    }

    /// The position of this table in `iptables-save` (nf_tables flavour) output.
    pub fn save_order(self) -> u8 {
        match self {
            TableName::Mangle => 0,
            TableName::Security => 1,
            TableName::Raw => 2,
            TableName::Filter => 3,
            TableName::Nat => 4,
        }
    }
}

impl fmt::Display for TableName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A netfilter hook: where in the packet's path a built-in chain runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Hook {
    /// Every arriving packet, before the routing decision.
    Prerouting,
    /// Packets routed to a local socket.
    Input,
    /// Packets routed through the host.
    Forward,
    /// Locally generated packets.
    Output,
    /// Every leaving packet, after routing.
    Postrouting,
}

impl Hook {
    /// Every hook, in the order a forwarded packet meets them (then INPUT and OUTPUT).
    pub const ALL: [Hook; 5] = [
        Hook::Prerouting,
        Hook::Input,
        Hook::Forward,
        Hook::Output,
        Hook::Postrouting,
    ];

    /// The hook's built-in chain name (`PREROUTING`, …).
    pub fn chain_name(self) -> &'static str {
        match self {
            Hook::Prerouting => "PREROUTING",
            Hook::Input => "INPUT",
            Hook::Forward => "FORWARD",
            Hook::Output => "OUTPUT",
            Hook::Postrouting => "POSTROUTING",
        }
    }

    /// The hook whose built-in chain has this name.
    pub fn from_chain_name(name: &str) -> Option<Hook> {
        Hook::ALL.into_iter().find(|h| h.chain_name() == name)
    }
}

impl fmt::Display for Hook {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.chain_name())
    }
}

/// Where a piece of input text came from: 1-based line and column, and the byte range.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Span {
    /// 1-based line number.
    pub line: u32,
    /// 1-based column (in characters) of the first character.
    pub col: u32,
    /// Byte offset of the first byte in the whole input.
    pub start: u32,
    /// Byte offset one past the last byte.
    pub end: u32,
}

impl Span {
    /// The byte range in the whole input.
    pub fn range(&self) -> std::ops::Range<usize> {
        self.start as usize..self.end as usize
    }
}

/// Packet and byte counters, as `[packets:bytes]`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Counters {
    /// Packets counted.
    pub packets: u64,
    /// Bytes counted.
    pub bytes: u64,
}

/// A built-in chain's policy.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Policy {
    /// Packets falling off the chain are accepted.
    Accept,
    /// Packets falling off the chain are dropped.
    Drop,
}

impl Policy {
    /// The policy as iptables spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            Policy::Accept => "ACCEPT",
            Policy::Drop => "DROP",
        }
    }
}

/// A whole ruleset for one family, as one `iptables-save` run prints it.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Ruleset {
    /// The family, when known (from the header or from the caller).
    pub family: Option<Family>,
    /// Tables in input order.
    pub tables: Vec<Table>,
}

impl Ruleset {
    /// The table with this name, if the ruleset has it.
    pub fn table(&self, name: TableName) -> Option<&Table> {
        self.tables.iter().find(|t| t.name == name)
    }

    /// The table with this name, mutable.
    pub fn table_mut(&mut self, name: TableName) -> Option<&mut Table> {
        self.tables.iter_mut().find(|t| t.name == name)
    }

    /// The table with this name, created empty (with its built-in chains) when missing.
    pub fn table_or_insert(&mut self, name: TableName) -> &mut Table {
        let pos = match self.tables.iter().position(|t| t.name == name) {
            Some(p) => p,
            None => {
                self.tables.push(Table::new(name));
                self.tables.len() - 1
            }
        };
        &mut self.tables[pos]
    }

    /// Iterates over every rule with its table and chain.
    pub fn rules(&self) -> impl Iterator<Item = (&Table, &Chain, &Rule)> {
        self.tables.iter().flat_map(|t| {
            t.chains
                .iter()
                .flat_map(move |c| c.rules.iter().map(move |r| (t, c, r)))
        })
    }
}

/// One table: its chains, built-in and user-defined.
#[derive(Clone, Debug, PartialEq)]
pub struct Table {
    /// Which table.
    pub name: TableName,
    /// Chains in declaration order.
    pub chains: Vec<Chain>,
    /// Where the `*table` line is.
    pub span: Span,
}

impl Table {
    /// An empty table. Built-in chains come into being when declared or first used, as with
    /// iptables-nft; an absent built-in chain behaves as an empty one with policy ACCEPT.
    pub fn new(name: TableName) -> Table {
        Table {
            name,
            chains: Vec::new(),
            span: Span::default(),
        }
    }

    /// The chain with this name.
    pub fn chain(&self, name: &str) -> Option<&Chain> {
        self.chains.iter().find(|c| c.name == name)
    }

    /// The chain with this name, mutable.
    pub fn chain_mut(&mut self, name: &str) -> Option<&mut Chain> {
        self.chains.iter_mut().find(|c| c.name == name)
    }

    /// The index of the chain with this name.
    pub fn chain_index(&self, name: &str) -> Option<usize> {
        self.chains.iter().position(|c| c.name == name)
    }
}

/// A chain: a list of rules, with a policy when built in.
#[derive(Clone, Debug, PartialEq)]
pub struct Chain {
    /// The chain's name (`INPUT`, `KUBE-SERVICES`, …).
    pub name: String,
    /// The hook for a built-in chain; `None` for a user chain.
    pub hook: Option<Hook>,
    /// The policy of a built-in chain; `None` for a user chain.
    pub policy: Option<Policy>,
    /// The chain counters from the declaration line.
    pub counters: Counters,
    /// Rules in order.
    pub rules: Vec<Rule>,
    /// Where the chain was declared (`:NAME …` or `-N NAME`).
    pub span: Span,
}

impl Chain {
    /// A built-in chain for a hook, empty.
    pub fn builtin(hook: Hook, policy: Policy) -> Chain {
        Chain {
            name: hook.chain_name().to_string(),
            hook: Some(hook),
            policy: Some(policy),
            counters: Counters::default(),
            rules: Vec::new(),
            span: Span::default(),
        }
    }

    /// A user-defined chain, empty.
    pub fn user(name: impl Into<String>) -> Chain {
        Chain {
            name: name.into(),
            hook: None,
            policy: None,
            counters: Counters::default(),
            rules: Vec::new(),
            span: Span::default(),
        }
    }

    /// Whether this is a built-in chain.
    pub fn is_builtin(&self) -> bool {
        self.hook.is_some()
    }
}

/// A value that may be negated with `!`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Neg<T> {
    /// Whether `!` stands before the option.
    pub negated: bool,
    /// The value.
    pub value: T,
}

impl<T> Neg<T> {
    /// A value that is not negated.
    pub fn plain(value: T) -> Self {
        Neg {
            negated: false,
            value,
        }
    }

    /// Applies the negation to a test result.
    pub fn apply(&self, holds: bool) -> bool {
        holds != self.negated
    }
}

/// The generic part of a rule that every rule has: addresses, interfaces, protocol, fragment.
/// Addresses and interfaces are boxed: a rule has few of them, and an absent one then takes a
/// word.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct IpMatch {
    /// `-s`: source address and mask.
    pub src: Option<Box<Neg<AddrMask>>>,
    /// `-d`: destination address and mask.
    pub dst: Option<Box<Neg<AddrMask>>>,
    /// `-i` and `-o`, when the rule has either.
    pub ifaces: Option<Box<Ifaces>>,
    /// `-p`: protocol.
    pub proto: Option<Neg<Protocol>>,
    /// `-f`: only second and further fragments (IPv4 only).
    pub fragment: Option<Neg<()>>,
}

/// The interfaces a rule names.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Ifaces {
    /// `-i`: input interface.
    pub input: Option<Neg<Iface>>,
    /// `-o`: output interface.
    pub output: Option<Neg<Iface>>,
}

impl IpMatch {
    /// `-i`: the input interface.
    pub fn in_iface(&self) -> Option<&Neg<Iface>> {
        self.ifaces.as_ref().and_then(|i| i.input.as_ref())
    }

    /// `-o`: the output interface.
    pub fn out_iface(&self) -> Option<&Neg<Iface>> {
        self.ifaces.as_ref().and_then(|i| i.output.as_ref())
    }
}

/// One rule: generic matches, extension matches in order, and at most one target.
#[derive(Clone, Debug, PartialEq)]
pub struct Rule {
    /// The generic header matches.
    pub ip: IpMatch,
    /// Extension matches (`-m NAME …`), in order.
    pub matches: Box<[Match]>,
    /// The target (`-j` / `-g`); `None` for a rule that only counts.
    pub target: Option<Target>,
    /// Per-rule counters, when the input had them (`iptables-save -c`); boxed, as most
    /// rulesets have none.
    pub counters: Option<Box<Counters>>,
    /// Where the rule came from.
    pub span: Span,
    /// Where the target's name stood (for messages about the target).
    pub target_span: Span,
}

impl Rule {
    /// A rule with no matches and no target.
    pub fn empty() -> Rule {
        Rule {
            ip: IpMatch::default(),
            matches: Box::default(),
            target: None,
            counters: None,
            span: Span::default(),
            target_span: Span::default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The model stays compact: a ruleset of a million rules must fit in memory a few times
    /// the size of its text.
    #[test]
    fn sizes() {
        use std::mem::size_of;
        assert_eq!(size_of::<Span>(), 16);
        assert!(size_of::<Neg<AddrMask>>() <= 40);
        assert!(size_of::<Match>() <= 24, "Match: {}", size_of::<Match>());
        assert!(size_of::<Target>() <= 24, "Target: {}", size_of::<Target>());
        assert!(size_of::<Option<Target>>() <= 24);
        assert!(
            size_of::<IpMatch>() <= 40,
            "IpMatch: {}",
            size_of::<IpMatch>()
        );
        assert!(size_of::<Rule>() <= 112, "Rule: {}", size_of::<Rule>());
        assert!(size_of::<Chain>() <= 96, "Chain: {}", size_of::<Chain>());
    }
}
