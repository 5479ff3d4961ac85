//! Whole-ruleset checks: what iptables-restore or the kernel would refuse even though every line
//! reads well on its own — jumps to missing chains, jump loops, and targets used in a table or
//! hook where the kernel does not allow them.

use std::collections::BTreeSet;

use std::hash::BuildHasher;

use hashbrown::HashTable;
use rustc_hash::FxBuildHasher;

use crate::ext::Match;
use crate::ext::policy::PolicyDir;
use crate::model::{Chain, Hook, Rule, Ruleset, Table, TableName};
use crate::syntax::error::{Diagnostic, ParseError, SUGGEST_BUDGET, suggest_within};
use crate::target::Target;

/// Runs every check over the ruleset and returns what it found, in input order.
pub fn check(ruleset: &Ruleset) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    let mut budget = SUGGEST_BUDGET;
    for t in &ruleset.tables {
        let jumps = missing_chains(t, &mut out, &mut budget);
        loops(t, &jumps, &mut out);
        placement(t, &jumps, &mut out);
    }
    out.sort_by_key(|d| (d.error.span.line, d.error.span.col));
    out
}

fn jump_target(r: &Rule) -> Option<&str> {
    match &r.target {
        Some(Target::Jump(c) | Target::Goto(c)) => Some(c),
        _ => None,
    }
}

/// The jumps of a table between chains that exist: for chain `c`, the pairs (chain jumped to,
/// position of the jumping rule) are `edges[start[c]..start[c + 1]]`.
struct Jumps {
    start: Vec<u32>,
    edges: Vec<(u32, u32)>,
}

impl Jumps {
    fn of(&self, chain: usize) -> &[(u32, u32)] {
        match (self.start.get(chain), self.start.get(chain + 1)) {
            (Some(&a), Some(&b)) => self.edges.get(a as usize..b as usize).unwrap_or(&[]),
            _ => &[],
        }
    }
}

/// Reports jumps to missing and to built-in chains; returns the jumps between chains.
fn missing_chains(t: &Table, out: &mut Vec<Diagnostic>, budget: &mut usize) -> Jumps {
    let by_name = ChainIndex::new(t);
    let mut jumps = Jumps {
        start: Vec::with_capacity(t.chains.len() + 1),
        edges: Vec::new(),
    };
    // Rules jumping to the same chain often share its name: the last lookup is kept by
    // address.
    let mut last: Option<((*const u8, usize), usize)> = None;
    for c in &t.chains {
        jumps.start.push(to_u32(jumps.edges.len()));
        for (ri, r) in c.rules.iter().enumerate() {
            let Some(name) = jump_target(r) else { continue };
            let key = (name.as_ptr(), name.len());
            let found = match last {
                Some((k, i)) if k == key => Some(i),
                _ => {
                    let found = by_name.get(name);
                    if let Some(i) = found {
                        last = Some((key, i));
                    }
                    found
                }
            };
            match found {
                None => {
                    let mut e = ParseError::new(
                        r.target_span,
                        format!(
                            "jump to chain `{name}`, which does not exist in table `{}`",
                            t.name
                        ),
                    );
                    // A misspelt target (`-j ACCPET`) reads as a jump to a chain of that name.
                    let targets = ["ACCEPT", "DROP", "RETURN", "QUEUE"]
                        .into_iter()
                        .chain(crate::target::MODELLED.iter().copied())
                        .chain(crate::target::KNOWN_UNMODELLED.iter().copied());
                    let chains = t.chains.iter().map(|c| c.name.as_str());
                    if let Some(s) = suggest_within(name, targets.chain(chains), budget) {
                        e = e.with_help(format!("did you mean `{s}`?"));
                    } else {
                        e = e.with_help(format!("declare it with `:{name} - [0:0]`"));
                    }
                    out.push(Diagnostic::error(e));
                }
                Some(to) => {
                    if t.chains.get(to).is_some_and(Chain::is_builtin) {
                        out.push(Diagnostic::error(ParseError::new(
                            r.target_span,
                            format!(
                                "jump to built-in chain `{name}`: only user chains can be jumped to"
                            ),
                        )));
                    }
                    jumps.edges.push((
                        u32::try_from(to).unwrap_or(u32::MAX),
                        u32::try_from(ri).unwrap_or(u32::MAX),
                    ));
                }
            }
        }
    }
    jumps.start.push(to_u32(jumps.edges.len()));
    jumps
}

fn to_u32(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

/// A table's chains by name: positions in `Table::chains`, hashed by the chains' own names, so
/// that the index takes four bytes a chain.
struct ChainIndex<'t> {
    chains: &'t [Chain],
    table: HashTable<u32>,
}

impl<'t> ChainIndex<'t> {
    fn new(t: &'t Table) -> ChainIndex<'t> {
        let chains = t.chains.as_slice();
        let hash_of = |i: u32| {
            chains
                .get(i as usize)
                .map_or(0, |c| FxBuildHasher.hash_one(c.name.as_str()))
        };
        let mut table = HashTable::with_capacity(chains.len());
        for (i, c) in chains.iter().enumerate() {
            let h = FxBuildHasher.hash_one(c.name.as_str());
            let eq = |j: &u32| chains.get(*j as usize).is_some_and(|x| x.name == c.name);
            // A later chain of the same name wins, as it would in a map.
            match table.find_mut(h, eq) {
                Some(slot) => *slot = to_u32(i),
                None => {
                    table.insert_unique(h, to_u32(i), |j: &u32| hash_of(*j));
                }
            }
        }
        ChainIndex { chains, table }
    }

    fn get(&self, name: &str) -> Option<usize> {
        let h = FxBuildHasher.hash_one(name);
        self.table
            .find(h, |j| {
                self.chains.get(*j as usize).is_some_and(|c| c.name == name)
            })
            .map(|j| *j as usize)
    }
}

fn loops(t: &Table, jumps: &Jumps, out: &mut Vec<Diagnostic>) {
    // Iterative depth-first search over jump edges; a back edge closes a loop.
    let n = t.chains.len();
    let mut state = vec![0u8; n]; // 0 new, 1 on stack, 2 done
    let mut reported = BTreeSet::new();
    let mut stack: Vec<(usize, usize)> = Vec::new();
    for start in 0..n {
        if state.get(start) != Some(&0) {
            continue;
        }
        stack.clear();
        stack.push((start, 0));
        if let Some(s) = state.get_mut(start) {
            *s = 1;
        }
        while let Some((node, next)) = stack.last().copied() {
            if let Some(&(to, ri)) = jumps.of(node).get(next) {
                let to = to as usize;
                if let Some(top) = stack.last_mut() {
                    top.1 += 1;
                }
                // The jumping rule's span, read only for a loop's report.
                let span = || {
                    t.chains
                        .get(node)
                        .and_then(|c| c.rules.get(ri as usize))
                        .map(|r| r.target_span)
                        .unwrap_or_default()
                };
                match state.get(to).copied() {
                    Some(0) => {
                        if let Some(s) = state.get_mut(to) {
                            *s = 1;
                        }
                        stack.push((to, 0));
                    }
                    Some(1) if reported.insert((span().line, span().col)) => {
                        let span = span();
                        let name = |i: usize| t.chains.get(i).map_or("", |c| c.name.as_str());
                        let path: Vec<&str> = stack
                            .iter()
                            .skip_while(|(n, _)| *n != to)
                            .map(|(n, _)| name(*n))
                            .chain(std::iter::once(name(to)))
                            .collect();
                        out.push(Diagnostic::error(
                            ParseError::new(span, format!("jump loop: {}", path.join(" -> ")))
                                .with_help("the kernel refuses rulesets whose jumps form a cycle"),
                        ));
                    }
                    _ => {}
                }
            } else {
                if let Some(s) = state.get_mut(node) {
                    *s = 2;
                }
                stack.pop();
            }
        }
    }
}

/// Where the kernel allows a target: its table (if restricted) and hooks (if restricted).
/// Each fact was checked against the kernel (`testdata/print-cases.txt` records them). The
/// hooks hold for the target's rule wherever it is reached from, except for those targets
/// [`checked_in_base_chain_only`] names.
fn allowed(target: &Target) -> Option<(Option<TableName>, &'static [Hook])> {
    use Hook::*;
    const ALL: &[Hook] = &[Prerouting, Input, Forward, Output, Postrouting];
    match target {
        Target::Reject(_) => Some((Some(TableName::Filter), &[Input, Forward, Output])),
        Target::Dnat(_) => Some((Some(TableName::Nat), &[Prerouting, Output])),
        Target::Snat(_) => Some((Some(TableName::Nat), &[Postrouting, Input])),
        Target::Masquerade(_) => Some((Some(TableName::Nat), &[Postrouting])),
        Target::Redirect(_) => Some((Some(TableName::Nat), &[Prerouting, Output])),
        Target::Drop => Some((None, ALL)),
        Target::Ct(_) | Target::Notrack(_) => Some((Some(TableName::Raw), &[Prerouting, Output])),
        Target::Checksum(_) | Target::Tos(_) | Target::Ttl(_) | Target::Hl(_) | Target::Dscp(_) => {
            Some((Some(TableName::Mangle), ALL))
        }
        Target::Tproxy(_) => Some((Some(TableName::Mangle), &[Prerouting])),
        Target::Tcpmss(_) | Target::Classify(_) => Some((None, &[Forward, Output, Postrouting])),
        Target::Opaque(o) => match o.name.as_str() {
            "SECMARK" | "CONNSECMARK" => Some((Some(TableName::Mangle), ALL)),
            _ => None,
        },
        _ => None,
    }
}

/// Targets and matches whose hook restriction the kernel checks only when the rule sits in a
/// built-in chain: their own validation sees no hook for a rule in a user chain (with
/// iptables-nft, TCPMSS in a user chain jumped to from INPUT is accepted; in INPUT itself it
/// is not).
fn checked_in_base_chain_only(name: &str) -> bool {
    matches!(name, "TCPMSS" | "policy --dir in" | "policy --dir out")
}

/// The hooks from which the kernel allows a match, when it restricts them.
fn match_hooks(m: &Match) -> Option<(&'static str, &'static [Hook])> {
    use Hook::*;
    match m {
        Match::Owner(_) => Some(("owner", &[Output, Postrouting])),
        Match::Rpfilter(_) => Some(("rpfilter", &[Prerouting])),
        Match::Mac(_) => Some(("mac", &[Prerouting, Input, Forward])),
        Match::Policy(p) => match p.dir {
            Some(PolicyDir::In) => Some(("policy --dir in", &[Prerouting, Input, Forward])),
            Some(PolicyDir::Out) => Some(("policy --dir out", &[Forward, Output, Postrouting])),
            None => None,
        },
        _ => None,
    }
}

/// A set of hooks, one bit each, iterated in the order of [`Hook`].
#[derive(Clone, Copy, Default)]
struct Hooks(u8);

const HOOKS: [Hook; 5] = [
    Hook::Prerouting,
    Hook::Input,
    Hook::Forward,
    Hook::Output,
    Hook::Postrouting,
];

impl Hooks {
    fn bit(h: Hook) -> u8 {
        1 << (h as u8)
    }

    fn insert(&mut self, h: Hook) {
        self.0 |= Hooks::bit(h);
    }

    fn iter(self) -> impl Iterator<Item = Hook> {
        HOOKS
            .into_iter()
            .filter(move |h| self.0 & Hooks::bit(*h) != 0)
    }
}

/// Reports the matches of rule `r` (in chain `c`, reached from `reaching`) that the kernel
/// refuses where the rule is reached from.
fn match_placement(c: &Chain, reaching: Hooks, r: &Rule, out: &mut Vec<Diagnostic>) {
    for m in &r.matches {
        let Some((name, ok)) = match_hooks(m) else {
            continue;
        };
        if let Some(why) = refused_from(hooks_to_check(c, reaching, name), ok) {
            out.push(Diagnostic::error(ParseError::new(
                r.span,
                format!("match `{name}` {why}"),
            )));
        }
    }
}

/// "cannot be used from … (only from …)" when a hook of `reach` is not in `allowed`.
fn refused_from(reach: Hooks, allowed: &[Hook]) -> Option<String> {
    let bad: Vec<&str> = reach
        .iter()
        .filter(|h| !allowed.contains(h))
        .map(|h| h.chain_name())
        .collect();
    if bad.is_empty() {
        return None;
    }
    let ok: Vec<&str> = allowed.iter().map(|h| h.chain_name()).collect();
    Some(format!(
        "cannot be used from {} (only from {})",
        bad.join(", "),
        ok.join(", ")
    ))
}

/// Reports matches and targets used where the kernel refuses them, in one pass over the
/// rules.
fn placement(t: &Table, jumps: &Jumps, out: &mut Vec<Diagnostic>) {
    let hooks = hooks_reaching(t, jumps);
    for (ci, c) in t.chains.iter().enumerate() {
        let reaching = hooks.get(ci).copied().unwrap_or_default();
        for r in &c.rules {
            match_placement(c, reaching, r, out);
            let Some(target) = &r.target else { continue };
            if matches!(target, Target::Drop) && t.name == TableName::Nat {
                out.push(Diagnostic::error(ParseError::new(
                    r.target_span,
                    "DROP is not allowed in the nat table",
                ).with_help("filter packets in the filter table; nat sees only a connection's first packet")));
                continue;
            }
            let Some((table, allowed_hooks)) = allowed(target) else {
                continue;
            };
            if let Some(want) = table
                && want != t.name
            {
                out.push(Diagnostic::error(ParseError::new(
                    r.target_span,
                    format!(
                        "target `{}` is only valid in the {want} table, not in {}",
                        target.name(),
                        t.name
                    ),
                )));
                continue;
            }
            let reach = hooks_to_check(c, reaching, target.name());
            if let Some(why) = refused_from(reach, allowed_hooks) {
                out.push(Diagnostic::error(ParseError::new(
                    r.target_span,
                    format!("target `{}` {why}", target.name()),
                )));
            }
        }
    }
}

/// The hooks to hold a rule of chain `c` against: every hook reaching the chain, or only the
/// chain's own hook for restrictions the kernel checks in built-in chains alone.
fn hooks_to_check(c: &Chain, reaching: Hooks, name: &str) -> Hooks {
    if checked_in_base_chain_only(name) {
        let mut own = Hooks::default();
        if let Some(h) = c.hook {
            own.insert(h);
        }
        own
    } else {
        reaching
    }
}

/// For each chain, the hooks from which it can be reached.
fn hooks_reaching(t: &Table, jumps: &Jumps) -> Vec<Hooks> {
    let n = t.chains.len();
    let mut reach = vec![Hooks::default(); n];
    let mut seen = vec![false; n];
    let mut work = Vec::new();
    for (i, c) in t.chains.iter().enumerate() {
        let Some(h) = c.hook else { continue };
        seen.iter_mut().for_each(|s| *s = false);
        work.clear();
        work.push(i);
        while let Some(node) = work.pop() {
            match seen.get_mut(node) {
                Some(s) if !*s => *s = true,
                _ => continue,
            }
            if let Some(r) = reach.get_mut(node) {
                r.insert(h);
            }
            work.extend(jumps.of(node).iter().map(|(to, _)| *to as usize));
        }
    }
    reach
}
