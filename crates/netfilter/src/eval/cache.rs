//! What a trace records about the ruleset's chains and rules, made once and shared by every
//! event: the chain names, each rule's target name and text (as `iptables-save` prints it),
//! and the chain a jump or goto leads to. Chain names and rule strings are made the first
//! time a walk needs them, so building a simulator costs nothing per rule, and recording an
//! event copies no text.

use std::borrow::Cow;
use std::sync::OnceLock;

use crate::model::{Rule, Ruleset, Table, TableName};
use crate::trace::SharedStr;

/// What a rule's events carry.
#[derive(Clone, Debug)]
pub(crate) struct RuleStrings {
    /// The target's name (empty for a rule without target).
    pub(crate) target: SharedStr,
    /// The rule as `iptables-save` prints it (after `-A CHAIN`).
    pub(crate) text: SharedStr,
    /// For `-j CHAIN` / `-g CHAIN`: the position of the chain in the table, once looked up
    /// (`None` inside: no such chain).
    pub(crate) jump: OnceLock<Option<usize>>,
}

/// The cache of one table.
#[derive(Debug, Default)]
struct TableStrings {
    name: Option<TableName>,
    /// Per chain, its name.
    chains: Vec<OnceLock<SharedStr>>,
    /// Where each chain's rules start in `rules`.
    offsets: Vec<usize>,
    /// Per rule of every chain, in chain order.
    rules: Vec<OnceLock<RuleStrings>>,
}

/// The strings of a ruleset's events.
#[derive(Debug, Default)]
pub(crate) struct RulesetStrings {
    tables: Vec<TableStrings>,
}

impl RulesetStrings {
    /// Empty slots for every table, chain and rule of `ruleset`.
    pub(crate) fn new(ruleset: &Ruleset) -> RulesetStrings {
        RulesetStrings {
            tables: ruleset
                .tables
                .iter()
                .map(|t| {
                    let mut offsets = Vec::with_capacity(t.chains.len());
                    let mut n = 0;
                    for c in &t.chains {
                        offsets.push(n);
                        n += c.rules.len();
                    }
                    TableStrings {
                        name: Some(t.name),
                        chains: t.chains.iter().map(|_| OnceLock::new()).collect(),
                        offsets,
                        rules: (0..n).map(|_| OnceLock::new()).collect(),
                    }
                })
                .collect(),
        }
    }

    /// The position of `table` among the cached tables (by name: a ruleset has each table
    /// once).
    pub(crate) fn table_slot(&self, table: TableName) -> Option<usize> {
        self.tables.iter().position(|t| t.name == Some(table))
    }

    /// The name of chain `chain` (its position) of `table`.
    pub(crate) fn chain_name(&self, slot: Option<usize>, table: &Table, chain: usize) -> SharedStr {
        let name = || {
            table
                .chains
                .get(chain)
                .map(|c| builtin_or_shared(&c.name))
                .unwrap_or_default()
        };
        match slot
            .and_then(|s| self.tables.get(s))
            .and_then(|t| t.chains.get(chain))
        {
            Some(cell) => cell.get_or_init(name).clone(),
            None => name(),
        }
    }

    /// The strings of rule `pos` (0-based) of chain `chain`, made on first use; made afresh
    /// for a table the cache does not know.
    pub(crate) fn rule(
        &self,
        slot: Option<usize>,
        chain: usize,
        pos: usize,
        rule: &Rule,
    ) -> Cow<'_, RuleStrings> {
        let cell = slot.and_then(|s| self.tables.get(s)).and_then(|t| {
            let at = t.offsets.get(chain)?.checked_add(pos)?;
            let end = t.offsets.get(chain + 1).copied().unwrap_or(t.rules.len());
            if at < end { t.rules.get(at) } else { None }
        });
        match cell {
            Some(cell) => Cow::Borrowed(cell.get_or_init(|| rule_strings(rule))),
            None => Cow::Owned(rule_strings(rule)),
        }
    }
}

fn rule_strings(rule: &Rule) -> RuleStrings {
    RuleStrings {
        target: rule
            .target
            .as_ref()
            .map(|t| builtin_or_shared(t.name()))
            .unwrap_or_default(),
        text: SharedStr::from(crate::syntax::rule_to_string(rule)),
        jump: OnceLock::new(),
    }
}

/// Names every ruleset uses, shared without allocation.
const STATIC_NAMES: &[&str] = &[
    "PREROUTING",
    "INPUT",
    "FORWARD",
    "OUTPUT",
    "POSTROUTING",
    "ACCEPT",
    "DROP",
    "RETURN",
    "REJECT",
    "MARK",
    "DNAT",
    "SNAT",
    "MASQUERADE",
    "REDIRECT",
    "LOG",
    "CONNMARK",
    "NOTRACK",
    "CT",
    "QUEUE",
    "NFQUEUE",
];

/// A name as a [`SharedStr`]: a static one for the built-in chains and common targets.
pub(crate) fn builtin_or_shared(name: &str) -> SharedStr {
    match STATIC_NAMES.iter().find(|s| **s == name) {
        Some(s) => SharedStr::from_static(s),
        None => SharedStr::from(name),
    }
}
