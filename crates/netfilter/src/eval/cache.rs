//! What a trace records about the ruleset's chains and rules, made once and shared by every
//! event: the chain names, each rule's chain, target name and text (as `iptables-save`
//! prints it), and the chain a jump or goto leads to. They are made the first time a walk
//! needs them, so building a simulator costs nothing per rule, and recording an event copies
//! no text: the event's strings point into the rule's one shared record.

use std::sync::{Arc, OnceLock};

use crate::model::{Hook, Rule, Ruleset, Table, TableName};
use crate::trace::SharedStr;

/// What the events of one rule carry, in one allocation.
#[derive(Debug)]
pub(crate) struct RuleInfo {
    /// The name of the rule's chain.
    pub(crate) chain: Box<str>,
    /// The target's name (empty for a rule without target).
    pub(crate) target: Box<str>,
    /// The rule as `iptables-save` prints it (after `-A CHAIN`).
    pub(crate) text: Box<str>,
    /// For `-j CHAIN` / `-g CHAIN`: the position of the chain in the table, once looked up
    /// (`None` inside: no such chain).
    pub(crate) jump: OnceLock<Option<usize>>,
    /// The chain's name when it is a built-in one (shared without counting references).
    chain_static: Option<&'static str>,
    /// The target's name when it is a common one.
    target_static: Option<&'static str>,
}

/// Which string of a [`RuleInfo`] a [`SharedStr`] stands for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum RuleField {
    /// The chain's name.
    Chain,
    /// The target's name.
    Target,
    /// The rule's text.
    Text,
}

impl RuleInfo {
    /// One of the strings as a static one, when it is one of the common names.
    pub(crate) fn static_field(&self, f: RuleField) -> Option<&'static str> {
        match f {
            RuleField::Chain => self.chain_static,
            RuleField::Target => self.target_static,
            RuleField::Text => None,
        }
    }

    /// One of the strings.
    pub(crate) fn field(&self, f: RuleField) -> &str {
        match f {
            RuleField::Chain => &self.chain,
            RuleField::Target => &self.target,
            RuleField::Text => &self.text,
        }
    }
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
    rules: Vec<OnceLock<Arc<RuleInfo>>>,
    /// The position of each hook's built-in chain (the first chain of its name), by
    /// [`hook_slot`].
    hooks: [Option<usize>; 5],
}

/// A hook's place in [`TableStrings::hooks`].
fn hook_slot(hook: Hook) -> usize {
    match hook {
        Hook::Prerouting => 0,
        Hook::Input => 1,
        Hook::Forward => 2,
        Hook::Output => 3,
        Hook::Postrouting => 4,
    }
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
                    let mut hooks = [None; 5];
                    for h in [
                        Hook::Prerouting,
                        Hook::Input,
                        Hook::Forward,
                        Hook::Output,
                        Hook::Postrouting,
                    ] {
                        if let Some(slot) = hooks.get_mut(hook_slot(h)) {
                            *slot = t.chain_index(h.chain_name());
                        }
                    }
                    TableStrings {
                        hooks,
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

    /// The position of `hook`'s built-in chain in `table`, as
    /// [`Table::chain_index`] finds it.
    pub(crate) fn builtin(&self, slot: Option<usize>, table: &Table, hook: Hook) -> Option<usize> {
        match slot.and_then(|s| self.tables.get(s)) {
            Some(t) => t.hooks.get(hook_slot(hook)).copied().flatten(),
            None => table.chain_index(hook.chain_name()),
        }
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

    /// The strings of rule `pos` (0-based) of chain `chain` of `table`, made on first use;
    /// made afresh for a table the cache does not know.
    pub(crate) fn rule(
        &self,
        slot: Option<usize>,
        table: &Table,
        chain: usize,
        pos: usize,
        rule: &Rule,
    ) -> Arc<RuleInfo> {
        let make = || {
            let chain = table
                .chains
                .get(chain)
                .map(|c| c.name.as_str())
                .unwrap_or_default();
            let target = rule.target.as_ref().map(|t| t.name()).unwrap_or("");
            Arc::new(RuleInfo {
                chain: chain.into(),
                target: target.into(),
                text: crate::syntax::rule_to_string(rule).into_boxed_str(),
                jump: OnceLock::new(),
                chain_static: static_name(chain),
                target_static: static_name(target),
            })
        };
        let cell = slot.and_then(|s| self.tables.get(s)).and_then(|t| {
            let at = t.offsets.get(chain)?.checked_add(pos)?;
            let end = t.offsets.get(chain + 1).copied().unwrap_or(t.rules.len());
            if at < end { t.rules.get(at) } else { None }
        });
        match cell {
            Some(cell) => cell.get_or_init(make).clone(),
            None => make(),
        }
    }
}

/// Built-in chain names and common target names, shared without allocation.
const STATIC_NAMES: &[&str] = &[
    "PREROUTING",
    "INPUT",
    "FORWARD",
    "OUTPUT",
    "POSTROUTING",
    "",
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

/// The static copy of a common name.
fn static_name(name: &str) -> Option<&'static str> {
    STATIC_NAMES.iter().find(|s| **s == name).copied()
}

/// A chain name as a [`SharedStr`]: a static one for the built-in chains.
fn builtin_or_shared(name: &str) -> SharedStr {
    match static_name(name) {
        Some(s) => SharedStr::from_static(s),
        None => SharedStr::from(name),
    }
}
