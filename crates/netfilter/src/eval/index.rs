//! Candidate indexes for long chains: for a packet, the rules of a chain that can possibly
//! match, in rule order, without testing every rule.
//!
//! A Kubernetes node's `KUBE-SERVICES` chain holds one rule per service port, each testing an
//! exact destination address (`-d 10.96.0.10/32`). The kernel tests them one by one; so does
//! the reference walk. The index groups the rules of a long chain by their destination test:
//! for each of the commonest destination masks, a hash map from the masked address to the
//! positions of the rules that require exactly it. The rules whose destination test is
//! negated, absent, or uses another mask form the wildcard list. For a packet, the next
//! candidate at or after a position is the smallest position at or after it in the wildcard
//! list and in the bucket of each mask class for the packet's current destination.
//!
//! A rule is skipped only when its generic `-d` test fails for the packet, which makes the
//! generic part of the rule — and so the whole rule — fail before any extension match runs:
//! no statistic branch, no undecidable match, no `nth` counter and no `recent` list is touched
//! for a rule the reference walk would also have rejected on `-d`. Every candidate is evaluated
//! in full by the walk, and the walk asks again after each rule, against the packet as it is
//! then, so targets that rewrite the packet are followed.

use std::net::IpAddr;
use std::sync::Arc;

use rustc_hash::FxHashMap;

use crate::model::{AddrMask, Chain, Ruleset, Table, TableName};

/// Chains with fewer rules than this are walked rule by rule.
pub const MIN_INDEXED_RULES: usize = 16;

/// The most destination-mask classes a chain index keeps; rules with other masks are
/// wildcards.
const MAX_CLASSES: usize = 4;

/// A mask class needs this many rules to be worth a hash lookup.
const MIN_CLASS_RULES: usize = 4;

/// Destination-mask classes of one chain.
#[derive(Clone, Debug, Default)]
struct MaskClass {
    /// Whether the class holds IPv6 rules.
    v6: bool,
    /// The mask (IPv4 masks in the low 32 bits).
    mask: u128,
    /// Rule positions (ascending) by masked destination address.
    buckets: FxHashMap<u128, Positions>,
}

/// Rule positions in ascending order; a single one (a service's one rule in
/// `KUBE-SERVICES`) is kept inline, so the lookup touches no further memory.
#[derive(Clone, Debug)]
enum Positions {
    One(u32),
    Many(Vec<u32>),
}

impl Positions {
    fn push(&mut self, p: u32) {
        match self {
            Positions::One(first) => *self = Positions::Many(vec![*first, p]),
            Positions::Many(v) => v.push(p),
        }
    }

    /// The first position that is at least `pos`.
    fn first_at_or_after(&self, pos: u32) -> Option<u32> {
        match self {
            Positions::One(p) => (*p >= pos).then_some(*p),
            Positions::Many(v) => first_at_or_after(v, pos),
        }
    }
}

/// The index of one chain.
#[derive(Clone, Debug, Default)]
pub struct ChainIndex {
    /// Positions (ascending) of the rules that no mask class holds.
    wildcard: Vec<u32>,
    classes: Vec<MaskClass>,
    /// The number of rules in the chain.
    len: usize,
}

/// The indexes of a ruleset's long chains.
#[derive(Clone, Debug, Default)]
pub struct RulesetIndex {
    /// Per table: its name and, per chain (by position), the chain's index when it has one.
    tables: Vec<(TableName, Vec<Option<ChainIndex>>)>,
    /// Per table: chain positions by name (the first chain of a name, as
    /// [`Table::chain_index`](crate::model::Table::chain_index) finds it).
    names: Vec<FxHashMap<String, usize>>,
}

fn split_mask(m: &AddrMask) -> (bool, u128, u128) {
    match *m {
        AddrMask::V4 { addr, mask } => (false, u128::from(mask), u128::from(addr)),
        AddrMask::V6 { addr, mask } => (true, mask.get(), addr.get()),
    }
}

fn key_of(ip: IpAddr) -> (bool, u128) {
    match ip {
        IpAddr::V4(a) => (false, u128::from(u32::from(a))),
        IpAddr::V6(a) => (true, u128::from(a)),
    }
}

/// The first element of `v` (ascending) that is at least `pos`.
fn first_at_or_after(v: &[u32], pos: u32) -> Option<u32> {
    let i = v.partition_point(|&p| p < pos);
    v.get(i).copied()
}

impl ChainIndex {
    /// Builds the index of a chain.
    pub fn build(chain: &Chain) -> ChainIndex {
        // Count rules per (family, mask) among plain (not negated) destination tests.
        let mut counts: FxHashMap<(bool, u128), usize> = FxHashMap::default();
        for r in &chain.rules {
            if let Some(d) = &r.ip.dst
                && !d.negated
            {
                let (v6, mask, _) = split_mask(&d.value);
                *counts.entry((v6, mask)).or_default() += 1;
            }
        }
        let mut by_count: Vec<((bool, u128), usize)> = counts.into_iter().collect();
        // Most rules first; ties by mask so the layout does not depend on hash order.
        by_count.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        let mut classes: Vec<MaskClass> = by_count
            .into_iter()
            .filter(|(_, n)| *n >= MIN_CLASS_RULES)
            .take(MAX_CLASSES)
            .map(|((v6, mask), _)| MaskClass {
                v6,
                mask,
                buckets: FxHashMap::default(),
            })
            .collect();
        let mut wildcard = Vec::new();
        for (pos, r) in chain.rules.iter().enumerate() {
            let Ok(pos32) = u32::try_from(pos) else {
                break;
            };
            let class = r.ip.dst.as_ref().filter(|d| !d.negated).and_then(|d| {
                let (v6, mask, addr) = split_mask(&d.value);
                classes
                    .iter_mut()
                    .find(|c| c.v6 == v6 && c.mask == mask)
                    .map(|c| (c, addr))
            });
            match class {
                Some((c, addr)) => match c.buckets.get_mut(&addr) {
                    Some(v) => v.push(pos32),
                    None => {
                        c.buckets.insert(addr, Positions::One(pos32));
                    }
                },
                None => wildcard.push(pos32),
            }
        }
        ChainIndex {
            wildcard,
            classes,
            len: chain.rules.len(),
        }
    }

    /// The position of the first rule at or after `pos` whose destination test can hold for a
    /// packet to `dst`; the chain's length when there is none.
    pub fn next(&self, pos: usize, dst: IpAddr) -> usize {
        let Ok(pos32) = u32::try_from(pos) else {
            return pos;
        };
        let (v6, key) = key_of(dst);
        let mut best = first_at_or_after(&self.wildcard, pos32);
        for c in &self.classes {
            if c.v6 != v6 {
                // A rule of the other family never matches the packet.
                continue;
            }
            if let Some(v) = c.buckets.get(&(key & c.mask))
                && let Some(p) = v.first_at_or_after(pos32)
            {
                best = Some(best.map_or(p, |b| b.min(p)));
            }
        }
        best.map_or(self.len, |p| p as usize)
    }

    /// How many rules the mask classes hold (the rest are wildcards).
    pub fn classified(&self) -> usize {
        self.len - self.wildcard.len()
    }
}

impl RulesetIndex {
    /// Indexes every chain of the ruleset with at least [`MIN_INDEXED_RULES`] rules.
    pub fn build(ruleset: &Ruleset) -> RulesetIndex {
        RulesetIndex {
            tables: ruleset
                .tables
                .iter()
                .map(|t| {
                    let chains = t
                        .chains
                        .iter()
                        .map(|c| {
                            let n = c.rules.len();
                            (n >= MIN_INDEXED_RULES && u32::try_from(n).is_ok())
                                .then(|| ChainIndex::build(c))
                        })
                        .collect();
                    (t.name, chains)
                })
                .collect(),
            names: ruleset
                .tables
                .iter()
                .map(|t| {
                    let mut m = FxHashMap::default();
                    for (i, c) in t.chains.iter().enumerate() {
                        m.entry(c.name.clone()).or_insert(i);
                    }
                    m
                })
                .collect(),
        }
    }

    /// The position of the chain named `name` in `table`, through the name map.
    pub fn chain_position(&self, table: &Table, name: &str) -> Option<usize> {
        let t = self.tables.iter().position(|(n, _)| *n == table.name)?;
        self.names.get(t)?.get(name).copied()
    }

    /// The chain indexes of `table` (by chain position), for a walk over it.
    pub fn table(&self, table: TableName) -> Option<&[Option<ChainIndex>]> {
        self.tables
            .iter()
            .find(|(n, _)| *n == table)
            .map(|(_, cs)| cs.as_slice())
    }

    /// The chain indexes of the table at position `p` of the ruleset.
    pub fn table_at(&self, p: usize) -> Option<&[Option<ChainIndex>]> {
        self.tables.get(p).map(|(_, cs)| cs.as_slice())
    }

    /// The index of a chain, when it has one.
    pub fn chain(&self, table: TableName, chain: usize) -> Option<&ChainIndex> {
        self.tables
            .iter()
            .find(|(n, _)| *n == table)
            .and_then(|(_, cs)| cs.get(chain))
            .and_then(Option::as_ref)
    }

    /// The next position the walk has to evaluate in `chain` of `table`, starting at `pos`,
    /// for a packet to `dst`: `pos` itself for chains without an index.
    pub fn next(&self, table: TableName, chain: usize, pos: usize, dst: IpAddr) -> usize {
        match self.chain(table, chain) {
            Some(ix) => ix.next(pos, dst),
            None => pos,
        }
    }
}

/// A shared, immutable ruleset index.
pub type SharedIndex = Arc<RulesetIndex>;

impl<'a> crate::eval::Simulator<'a> {
    /// A simulator that walks every rule of every chain, as the kernel does: the reference
    /// the indexed walk of [`Simulator::new`](crate::eval::Simulator::new) is checked against.
    pub fn reference(ruleset: &'a Ruleset, host: &'a crate::host::Host) -> Self {
        Self::with_index(ruleset, host, false)
    }

    /// The position of the chain a jump or goto names: through the index's name map when
    /// the simulator has one (the table must be the ruleset's own), else by scanning the table.
    pub(super) fn chain_position(&self, table: &Table, name: &str) -> Option<usize> {
        match &self.index {
            Some(ix) => ix.chain_position(table, name),
            None => table.chain_index(name),
        }
    }

    /// Whether the simulator skips rules through chain indexes.
    pub fn is_indexed(&self) -> bool {
        self.index.is_some()
    }
}
