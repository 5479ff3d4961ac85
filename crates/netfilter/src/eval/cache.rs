//! What a trace records about the ruleset's chains and rules, made once and shared by every
//! event: the chain names, each rule's chain, target name and text (as `iptables-save`
//! prints it), and the chain a jump or goto leads to. They are made the first time a walk
//! needs them, so building a simulator costs nothing per rule; an event holds the shared
//! cache and the rule's number, so recording it copies no text and touches one slot.

use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, OnceLock};

use crate::model::{Hook, Rule, Ruleset, Table};
use crate::trace::{EventNames, SharedStr};

/// What the events of one rule carry, in one allocation.
#[derive(Debug)]
struct RuleInfo {
    /// The name of the rule's chain.
    chain: Box<str>,
    /// The target's name (empty for a rule without target).
    target: Box<str>,
    /// The rule as `iptables-save` prints it (after `-A CHAIN`).
    text: Box<str>,
}

/// What a rule's slot holds once the rule had its first event: its strings, and which of
/// them events carry as static copies (so that later events read the slot only).
#[derive(Debug)]
struct Made {
    info: Box<RuleInfo>,
    /// The chain's name in [`STATIC_NAMES`], for a built-in chain ([`NOT_STATIC`] else).
    chain: u8,
    /// The target's name in [`STATIC_NAMES`], for a common target that is not a jump or
    /// goto ([`NOT_STATIC`] else).
    target: u8,
}

/// `Made::chain` / `Made::target` for a name that is not static.
const NOT_STATIC: u8 = u8::MAX;

impl Made {
    fn new(table: &Table, chain: usize, rule: &Rule) -> Made {
        let c = table.chains.get(chain);
        let index = |n: Option<&str>| n.and_then(static_index).unwrap_or(NOT_STATIC);
        Made {
            info: Box::new(RuleInfo::new(table, chain, rule)),
            chain: index(c.and_then(|c| c.hook).map(|h| h.chain_name())),
            target: index(match &rule.target {
                Some(crate::target::Target::Jump(_) | crate::target::Target::Goto(_)) => None,
                Some(t) => Some(t.name()),
                None => Some(""),
            }),
        }
    }

    /// The static copy of a field, when it has one.
    fn fixed(&self, f: RuleField) -> Option<&'static str> {
        let i = match f {
            RuleField::Chain => self.chain,
            RuleField::Target => self.target,
            RuleField::Text => NOT_STATIC,
        };
        STATIC_NAMES.get(usize::from(i)).copied()
    }

    /// A field as an event carries it: the static copy when there is one, else the shared
    /// string of the rule at `k`.
    fn shared(&self, strings: &Arc<RulesetStrings>, k: RuleKey, f: RuleField) -> SharedStr {
        match self.fixed(f) {
            Some(s) => SharedStr::from_static(s),
            None => SharedStr::of_rule(strings, k, f),
        }
    }
}

/// Which string of a rule a [`SharedStr`] stands for.
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
    fn new(table: &Table, chain: usize, rule: &Rule) -> RuleInfo {
        let c = table.chains.get(chain);
        RuleInfo {
            chain: c.map(|c| c.name.as_str()).unwrap_or_default().into(),
            target: rule
                .target
                .as_ref()
                .map(|t| t.name())
                .unwrap_or_default()
                .into(),
            text: crate::syntax::rule_to_string(rule).into_boxed_str(),
        }
    }

    fn field(&self, f: RuleField) -> &str {
        match f {
            RuleField::Chain => &self.chain,
            RuleField::Target => &self.target,
            RuleField::Text => &self.text,
        }
    }
}

/// `RuleSlot::jump` before the lookup.
const JUMP_UNKNOWN: u32 = u32::MAX;
/// `RuleSlot::jump` when the chain does not exist.
const JUMP_NONE: u32 = u32::MAX - 1;

/// The cache of one rule.
#[derive(Debug)]
struct RuleSlot {
    info: OnceLock<Made>,
    /// For `-j CHAIN` / `-g CHAIN`: the chain's position once looked up ([`JUMP_UNKNOWN`],
    /// [`JUMP_NONE`]).
    jump: AtomicU32,
}

/// The cache of one table.
#[derive(Debug, Default)]
struct TableStrings {
    /// Per chain, its name.
    chains: Vec<OnceLock<SharedStr>>,
    /// Where each chain's rules start in `rules`.
    offsets: Vec<u32>,
    /// Per rule of every chain, in chain order.
    rules: Vec<RuleSlot>,
    /// Per rule, in the same order, its head (empty when the cache was made without).
    heads: Vec<RuleHead>,
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

/// Where a rule's slot is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct RuleKey {
    table: u32,
    rule: u32,
}

/// The strings of a ruleset's events.
#[derive(Debug, Default)]
pub(crate) struct RulesetStrings {
    tables: Vec<TableStrings>,
}

impl RulesetStrings {
    /// Empty slots for every table, chain and rule of `ruleset`; with each rule's head when
    /// `heads`.
    pub(crate) fn new(ruleset: &Ruleset, heads: bool) -> RulesetStrings {
        RulesetStrings {
            tables: ruleset
                .tables
                .iter()
                .map(|t| {
                    let mut offsets = Vec::with_capacity(t.chains.len());
                    let mut n = 0usize;
                    for c in &t.chains {
                        offsets.push(u32::try_from(n).unwrap_or(u32::MAX));
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
                        chains: t.chains.iter().map(|_| OnceLock::new()).collect(),
                        offsets,
                        // Rules past u32 positions get no slot (made afresh).
                        rules: (0..n.min(JUMP_NONE as usize))
                            .map(|_| RuleSlot {
                                info: OnceLock::new(),
                                jump: AtomicU32::new(JUMP_UNKNOWN),
                            })
                            .collect(),
                        heads: if heads {
                            t.chains
                                .iter()
                                .flat_map(|c| c.rules.iter())
                                .take(n.min(JUMP_NONE as usize))
                                .map(|r| RuleHead {
                                    head: crate::eval::head::Head::of(r),
                                    made: AtomicBool::new(false),
                                    jump: AtomicU32::new(JUMP_UNKNOWN),
                                })
                                .collect()
                        } else {
                            Vec::new()
                        },
                        hooks,
                    }
                })
                .collect(),
        }
    }

    /// The position of `hook`'s built-in chain in `table`, as
    /// [`Table::chain_index`] finds it.
    pub(crate) fn builtin(&self, slot: usize, table: &Table, hook: Hook) -> Option<usize> {
        match self.tables.get(slot) {
            Some(t) => t.hooks.get(hook_slot(hook)).copied().flatten(),
            None => table.chain_index(hook.chain_name()),
        }
    }

    /// The name of chain `chain` (its position) of `table`.
    pub(crate) fn chain_name(&self, slot: usize, table: &Table, chain: usize) -> SharedStr {
        let name = || {
            table
                .chains
                .get(chain)
                .map(|c| builtin_or_shared(&c.name))
                .unwrap_or_default()
        };
        match self.tables.get(slot).and_then(|t| t.chains.get(chain)) {
            Some(cell) => cell.get_or_init(name).clone(),
            None => name(),
        }
    }

    /// The slots and heads of the table at `slot`, for a walk over it.
    pub(crate) fn view(&self, slot: usize) -> Option<TableView<'_>> {
        let t = self.tables.get(slot)?;
        Some(TableView {
            table: u32::try_from(slot).ok()?,
            offsets: &t.offsets,
            len: t.rules.len(),
            heads: &t.heads,
        })
    }

    fn slot(&self, k: RuleKey) -> Option<&RuleSlot> {
        self.tables
            .get(k.table as usize)
            .and_then(|t| t.rules.get(k.rule as usize))
    }

    /// A string of the rule at `k` (empty when the rule's strings were never made).
    pub(crate) fn field(&self, k: RuleKey, f: RuleField) -> &str {
        self.slot(k)
            .and_then(|s| s.info.get())
            .map_or("", |m| m.info.field(f))
    }
}

/// One table's part of the cache, looked up once per walk.
#[derive(Clone, Copy)]
pub(crate) struct TableView<'s> {
    table: u32,
    offsets: &'s [u32],
    len: usize,
    heads: &'s [RuleHead],
}

/// A rule's head with what the walk learns of the rule as it goes, kept together so that a
/// rule the walk has met before is followed from this one record.
#[derive(Debug)]
pub(crate) struct RuleHead {
    /// The head.
    pub(crate) head: crate::eval::head::Head,
    /// Whether the rule's slot holds its strings (it had an event).
    made: AtomicBool,
    /// The jump's chain once looked up, as [`RuleSlot::jump`].
    jump: AtomicU32,
}

impl<'s> TableView<'s> {
    /// The key of rule `pos` (0-based) of chain `chain`: `None` past the chain's end.
    pub(crate) fn key(&self, chain: usize, pos: usize) -> Option<RuleKey> {
        let start = *self.offsets.get(chain)? as usize;
        let end = self
            .offsets
            .get(chain + 1)
            .map_or(self.len, |o| *o as usize)
            .min(self.len);
        let at = start.checked_add(pos).filter(|a| *a < end)?;
        Some(RuleKey {
            table: self.table,
            rule: u32::try_from(at).ok()?,
        })
    }

    /// The head of the rule at `k` (a key of this table), when the cache has heads.
    pub(crate) fn head(&self, k: RuleKey) -> Option<&'s RuleHead> {
        self.heads.get(k.rule as usize)
    }
}

/// A rule being recorded: what its events need from the cache.
pub(crate) struct RuleAt<'s> {
    /// The cache.
    pub(crate) strings: &'s Arc<RulesetStrings>,
    /// The rule's slot, when the cache has one.
    pub(crate) key: Option<RuleKey>,
    /// The table.
    pub(crate) table: &'s Table,
    /// The chain's position.
    pub(crate) chain: usize,
    /// The rule.
    pub(crate) rule: &'s Rule,
    /// The rule's head, when the cache has heads.
    pub(crate) head: Option<&'s RuleHead>,
}

impl RuleAt<'_> {
    /// One of the rule's strings: a static one for a built-in chain or a common target,
    /// else the cached one (made now when it is the rule's first event).
    pub(crate) fn string(&self, f: RuleField) -> SharedStr {
        match self.made() {
            Some((k, made)) => made.shared(self.strings, k, f),
            None => {
                let made = Made::new(self.table, self.chain, self.rule);
                match made.fixed(f) {
                    Some(s) => SharedStr::from_static(s),
                    None => SharedStr::from(made.info.field(f)),
                }
            }
        }
    }

    /// The names a rule event carries: the rule's shared record (made now when this is
    /// the rule's first event).
    pub(crate) fn event_names(&self) -> EventNames {
        if let (Some(k), Some(h)) = (self.key, self.head)
            && h.made.load(Ordering::Relaxed)
        {
            return EventNames::of_rule(self.strings, k);
        }
        match self.made() {
            Some((k, _)) => EventNames::of_rule(self.strings, k),
            None => EventNames::new(
                self.string(RuleField::Chain),
                self.string(RuleField::Target),
                Some(self.string(RuleField::Text)),
            ),
        }
    }

    /// The rule's cached strings, made now when this is the rule's first event; `None`
    /// when the cache has no slot for it.
    fn made(&self) -> Option<(RuleKey, &Made)> {
        let k = self.key?;
        let slot = self.strings.slot(k)?;
        let made = slot
            .info
            .get_or_init(|| Made::new(self.table, self.chain, self.rule));
        if let Some(h) = self.head {
            h.made.store(true, Ordering::Relaxed);
        }
        Some((k, made))
    }

    /// The position of the chain the rule jumps to, when an earlier event of the rule
    /// looked it up and found it.
    pub(crate) fn known_jump(&self) -> Option<usize> {
        let code = match self.head {
            Some(h) => h.jump.load(Ordering::Relaxed),
            None => {
                let slot = self.key.and_then(|k| self.strings.slot(k))?;
                slot.jump.load(Ordering::Relaxed)
            }
        };
        match code {
            JUMP_UNKNOWN | JUMP_NONE => None,
            c => Some(c as usize),
        }
    }

    /// The position of the chain the rule jumps to, looked up by `find` the first time.
    pub(crate) fn jump(&self, find: impl FnOnce() -> Option<usize>) -> Option<usize> {
        let Some(slot) = self.key.and_then(|k| self.strings.slot(k)) else {
            return find();
        };
        match slot.jump.load(Ordering::Relaxed) {
            JUMP_UNKNOWN => {
                let found = find();
                let code = match found.map(u32::try_from) {
                    Some(Ok(c)) if c < JUMP_NONE => c,
                    Some(_) => return found,
                    None => JUMP_NONE,
                };
                slot.jump.store(code, Ordering::Relaxed);
                if let Some(h) = self.head {
                    h.jump.store(code, Ordering::Relaxed);
                }
                found
            }
            JUMP_NONE => None,
            c => Some(c as usize),
        }
    }
}

/// Common names (built-in chains, common targets) that events carry without allocation.
const STATIC_NAMES: [&str; 21] = [
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

/// The position of `name` in [`STATIC_NAMES`].
fn static_index(name: &str) -> Option<u8> {
    STATIC_NAMES
        .iter()
        .position(|s| *s == name)
        .and_then(|i| u8::try_from(i).ok())
}

/// The static copy of a common name, shared without allocation.
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
