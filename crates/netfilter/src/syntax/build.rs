//! Builds a [`Ruleset`] from commands, as iptables-restore and the iptables command apply them,
//! checking each against the ruleset built so far.

use std::sync::Arc;

use rustc_hash::FxHashMap;

use crate::model::{Chain, Counters, Family, Hook, Policy, Rule, Ruleset, Span, TableName};
use crate::syntax::error::{Diagnostic, ParseError, SUGGEST_BUDGET, suggest_within};
use crate::syntax::save::Parsed;
use crate::target::Target;

/// The longest chain name iptables accepts.
pub const MAX_CHAIN_NAME: usize = 28;

/// Which rule a `-D` means.
#[derive(Debug)]
pub enum RuleRef {
    /// By 1-based position.
    Index(usize),
    /// By its specification.
    Spec(Box<Rule>),
}

/// One change to the current table; chain names borrow from the line.
#[derive(Debug)]
pub enum Command<'a> {
    /// `:NAME POLICY [p:b]` or `-N NAME`.
    Declare {
        /// Chain name.
        chain: &'a str,
        /// Policy (`None` for `-`).
        policy: Option<Policy>,
        /// Chain counters.
        counters: Counters,
        /// Where the name is.
        span: Span,
        /// Where the policy is.
        policy_span: Span,
    },
    /// `-A CHAIN rule`.
    Append {
        /// Chain name.
        chain: &'a str,
        /// The rules (several when addresses were listed).
        rules: Vec<Rule>,
        /// Where the chain name is.
        span: Span,
    },
    /// `-I CHAIN [N] rule`.
    Insert {
        /// Chain name.
        chain: &'a str,
        /// 1-based position.
        index: usize,
        /// The rules.
        rules: Vec<Rule>,
        /// Where the chain name is.
        span: Span,
    },
    /// `-R CHAIN N rule`.
    Replace {
        /// Chain name.
        chain: &'a str,
        /// 1-based position.
        index: usize,
        /// The rules (exactly one is expected).
        rules: Vec<Rule>,
        /// Where the chain name is.
        span: Span,
    },
    /// `-D CHAIN rule|N`.
    Delete {
        /// Chain name.
        chain: &'a str,
        /// Which rule.
        what: RuleRef,
        /// Where the chain name is.
        span: Span,
    },
    /// `-X [CHAIN]`.
    DeleteChain {
        /// Chain name, or every user chain.
        chain: Option<&'a str>,
        /// Where.
        span: Span,
    },
    /// `-F [CHAIN]`.
    Flush {
        /// Chain name, or every chain.
        chain: Option<&'a str>,
        /// Where.
        span: Span,
    },
    /// `-P CHAIN POLICY`.
    SetPolicy {
        /// Chain name.
        chain: &'a str,
        /// New policy.
        policy: Policy,
        /// Where.
        span: Span,
    },
}

/// Applies commands to a ruleset, collecting diagnostics.
#[derive(Debug)]
pub struct Builder {
    ruleset: Ruleset,
    current: Option<TableName>,
    diagnostics: Vec<Diagnostic>,
    /// Rules inserted at the head of a chain (`-I CHAIN`, the usual form), by table and chain
    /// position, in reverse order, so that such an insertion costs the same as an append; the
    /// chain's own rules follow them. They join the chain when another command needs positions,
    /// and in [`Builder::finish`].
    front: FxHashMap<(TableName, usize), Vec<Rule>>,
    /// What is left of [`SUGGEST_BUDGET`] for chain-name suggestions.
    budget: usize,
    /// Each table's chains by name (position in `Table::chains`), so that finding the chain of
    /// a rule line costs the same however many chains there are.
    index: [FxHashMap<Arc<str>, usize>; 5],
    /// The position of the chain the last command named (checked by name before use).
    last: usize,
    /// Rules appended one after another to one chain (table, position), not yet in it:
    /// iptables-save lists a chain's rules together, and the run joins its chain at one
    /// allocation of the right size (growing the chain's list at every rule would reallocate
    /// it each time). Any other command, and [`Builder::finish`], join it first.
    run: Vec<Rule>,
    run_at: Option<(TableName, usize)>,
}

fn slot(t: TableName) -> usize {
    match t {
        TableName::Raw => 0,
        TableName::Mangle => 1,
        TableName::Nat => 2,
        TableName::Filter => 3,
        TableName::Security => 4,
    }
}

/// Appends rules to a chain's vector, growing small vectors one slot at a time: most chains
/// hold a few rules, and doubling would leave as much room unused as is used.
fn append(to: &mut Vec<Rule>, rules: Vec<Rule>) {
    if to.len() + rules.len() <= 8 {
        to.reserve_exact(rules.len());
    }
    to.extend(rules);
}

impl Builder {
    /// An empty ruleset of `family`.
    pub fn new(family: Family) -> Builder {
        Builder {
            ruleset: Ruleset {
                family: Some(family),
                tables: Vec::new(),
            },
            current: None,
            diagnostics: Vec::new(),
            front: FxHashMap::default(),
            budget: SUGGEST_BUDGET,
            index: Default::default(),
            last: 0,
            run: Vec::new(),
            run_at: None,
        }
    }

    /// The family being built.
    pub fn family(&self) -> Family {
        self.ruleset.family.unwrap_or(Family::Ipv4)
    }

    /// Makes `table` the one later commands apply to, creating it when new.
    pub fn select_table(&mut self, table: TableName, span: Span) {
        let t = self.ruleset.table_or_insert(table);
        if t.span == Span::default() {
            t.span = span;
        }
        self.current = Some(table);
    }

    /// Records an error.
    pub fn error(&mut self, e: ParseError) {
        self.diagnostics.push(Diagnostic::error(e));
    }

    /// Records a diagnostic.
    pub fn diagnostic(&mut self, d: Diagnostic) {
        self.diagnostics.push(d);
    }

    /// The current table's chains by name, whose names jumps share.
    pub(crate) fn names(&self) -> Option<&FxHashMap<Arc<str>, usize>> {
        self.current.and_then(|t| self.index.get(slot(t)))
    }

    /// Applies one command to the current table, reporting what iptables would refuse.
    pub fn apply(&mut self, cmd: Command<'_>) {
        if let Err(e) = self.try_apply(cmd) {
            self.error(e);
        }
    }

    /// The rules of chain `ci` of table `t` as one vector (head insertions joined).
    fn held(&mut self, t: TableName, ci: usize) -> Option<&mut Vec<Rule>> {
        let pos = self.ruleset.tables.iter().position(|x| x.name == t)?;
        let chain = self.ruleset.tables.get_mut(pos)?.chains.get_mut(ci)?;
        if let Some(mut front) = self.front.remove(&(t, ci)) {
            front.reverse();
            front.append(&mut chain.rules);
            chain.rules = front;
        }
        Some(&mut chain.rules)
    }

    /// Joins every head insertion of table `t` into its chain.
    fn join_fronts(&mut self, t: TableName) {
        let keys: Vec<(TableName, usize)> = self
            .front
            .keys()
            .filter(|(x, _)| *x == t)
            .copied()
            .collect();
        for (t, ci) in keys {
            self.held(t, ci);
        }
    }

    /// Moves the pending run of appended rules into its chain.
    fn join_run(&mut self) {
        let Some((t, ci)) = self.run_at.take() else {
            return;
        };
        let chain = self
            .ruleset
            .tables
            .iter_mut()
            .find(|x| x.name == t)
            .and_then(|x| x.chains.get_mut(ci));
        match chain {
            Some(c) if c.rules.is_empty() => {
                let mut exact = Vec::with_capacity(self.run.len());
                exact.append(&mut self.run);
                c.rules = exact;
            }
            Some(c) => append(&mut c.rules, std::mem::take(&mut self.run)),
            None => self.run.clear(),
        }
    }

    fn try_apply(&mut self, cmd: Command<'_>) -> Result<(), ParseError> {
        let Some(tname) = self.current else {
            return Err(ParseError::new(Span::default(), "no table selected"));
        };
        if !matches!(cmd, Command::Append { .. }) {
            self.join_run();
        }
        let table = self.ruleset.table_or_insert(tname);
        let Some(idx) = self.index.get_mut(slot(tname)) else {
            return Err(ParseError::new(Span::default(), "no table selected"));
        };
        match cmd {
            Command::Declare {
                chain,
                policy,
                counters,
                span,
                policy_span,
            } => {
                let hook = Hook::from_chain_name(chain).filter(|h| tname.hooks().contains(h));
                match (hook, policy) {
                    (Some(h), policy) => {
                        // `-` on a built-in chain keeps its policy, as iptables-restore does.
                        if let Some(c) = idx.get(chain).and_then(|i| table.chains.get_mut(*i)) {
                            if c.span != Span::default() {
                                return Err(ParseError::new(
                                    span,
                                    format!("chain `{chain}` is declared twice in table `{tname}`"),
                                )
                                .with_help(format!(
                                    "the first declaration is on line {}",
                                    c.span.line
                                )));
                            }
                            if policy.is_some() {
                                c.policy = policy;
                            }
                            c.counters = counters;
                            c.span = span;
                        } else {
                            let mut c = Chain::builtin(h, policy.unwrap_or(Policy::Accept));
                            c.counters = counters;
                            c.span = span;
                            push_chain(table, idx, c);
                        }
                    }
                    (None, Some(_)) => {
                        if Hook::from_chain_name(chain).is_some() {
                            return Err(ParseError::new(
                                span,
                                format!("table `{tname}` has no built-in chain `{chain}`"),
                            ));
                        }
                        // Declared all the same, so later rules and jumps do not fail too.
                        if check_chain_name(chain, span).is_ok() && !idx.contains_key(chain) {
                            let mut c = Chain::user(chain);
                            c.counters = counters;
                            c.span = span;
                            push_chain(table, idx, c);
                        }
                        return Err(ParseError::new(
                            policy_span,
                            format!("user chain `{chain}` cannot have a policy"),
                        )
                        .with_help(
                            "only built-in chains have policies; write `-` for a user chain",
                        ));
                    }
                    (None, None) => {
                        check_chain_name(chain, span)?;
                        if let Some(c) = idx.get(chain).and_then(|i| table.chains.get(*i)) {
                            let mut e = ParseError::new(
                                span,
                                format!("chain `{chain}` already exists in table `{tname}`"),
                            );
                            if c.span.line > 0 {
                                e = e.with_help(format!("it was declared on line {}", c.span.line));
                            }
                            return Err(e);
                        }
                        let mut c = Chain::user(chain);
                        c.counters = counters;
                        c.span = span;
                        push_chain(table, idx, c);
                    }
                }
            }
            Command::Append { chain, rules, span } => {
                let ci = find_chain(table, idx, chain, span, &mut self.budget, &mut self.last)?;
                if self.run_at != Some((tname, ci)) {
                    self.join_run();
                    self.run_at = Some((tname, ci));
                }
                self.run.extend(rules);
            }
            Command::Insert {
                chain,
                index,
                rules,
                span,
            } => {
                let ci = find_chain(table, idx, chain, span, &mut self.budget, &mut self.last)?;
                let len = table.chains.get(ci).map_or(0, |c| c.rules.len())
                    + self.front.get(&(tname, ci)).map_or(0, Vec::len);
                if index == 0 || index > len + 1 {
                    return Err(ParseError::new(
                        span,
                        format!("index {index} is past the end of chain `{chain}` ({len} rules)"),
                    ));
                }
                if index == 1 {
                    let front = self.front.entry((tname, ci)).or_default();
                    front.extend(rules.into_iter().rev());
                } else if let Some(held) = self.held(tname, ci) {
                    for (i, r) in rules.into_iter().enumerate() {
                        held.insert(index - 1 + i, r);
                    }
                }
            }
            Command::Replace {
                chain,
                index,
                rules,
                span,
            } => {
                let ci = find_chain(table, idx, chain, span, &mut self.budget, &mut self.last)?;
                let [rule] = <[Rule; 1]>::try_from(rules).map_err(|_| {
                    ParseError::new(
                        span,
                        "`-R` replaces one rule; the addresses given make several",
                    )
                })?;
                let slot = self
                    .held(tname, ci)
                    .and_then(|held| held.get_mut(index.wrapping_sub(1)))
                    .ok_or_else(|| {
                        ParseError::new(span, format!("chain `{chain}` has no rule {index}"))
                    })?;
                *slot = rule;
            }
            Command::Delete { chain, what, span } => {
                let ci = find_chain(table, idx, chain, span, &mut self.budget, &mut self.last)?;
                let Some(held) = self.held(tname, ci) else {
                    return Err(ParseError::new(
                        span,
                        format!("no such rule in chain `{chain}`"),
                    ));
                };
                let pos = match what {
                    RuleRef::Index(i) => (i >= 1 && i <= held.len()).then(|| i - 1),
                    RuleRef::Spec(r) => held.iter().position(|x| same_rule(x, &r)),
                };
                let pos = pos.ok_or_else(|| {
                    ParseError::new(span, format!("no such rule in chain `{chain}`"))
                })?;
                held.remove(pos);
            }
            Command::DeleteChain { chain, span } => match chain {
                Some(name) => {
                    let i = idx
                        .get(name)
                        .copied()
                        .ok_or_else(|| missing_chain(table, name, span, &mut self.budget))?;
                    if table.chains.get(i).is_some_and(Chain::is_builtin) {
                        return Err(ParseError::new(
                            span,
                            format!("built-in chain `{name}` cannot be deleted"),
                        ));
                    }
                    let jumps_to = |r: &Rule| matches!(&r.target, Some(Target::Jump(t) | Target::Goto(t)) if &**t == name);
                    let used = table.chains.iter().flat_map(|c| &c.rules).any(jumps_to)
                        || self
                            .front
                            .iter()
                            .filter(|((t, _), _)| *t == tname)
                            .flat_map(|(_, rules)| rules)
                            .any(jumps_to);
                    if used {
                        return Err(ParseError::new(
                            span,
                            format!("chain `{name}` is still referenced by a rule"),
                        ));
                    }
                    self.join_fronts(tname);
                    let table = self.ruleset.table_or_insert(tname);
                    table.chains.remove(i);
                    if let Some(idx) = self.index.get_mut(slot(tname)) {
                        reindex(table, idx);
                    }
                }
                None => {
                    self.join_fronts(tname);
                    let table = self.ruleset.table_or_insert(tname);
                    table.chains.retain(Chain::is_builtin);
                    if let Some(idx) = self.index.get_mut(slot(tname)) {
                        reindex(table, idx);
                    }
                }
            },
            Command::Flush { chain, span } => match chain {
                Some(name) => {
                    let ci = find_chain(table, idx, name, span, &mut self.budget, &mut self.last)?;
                    if let Some(c) = table.chains.get_mut(ci) {
                        c.rules = Vec::new();
                    }
                    self.front.remove(&(tname, ci));
                }
                None => {
                    for c in &mut table.chains {
                        c.rules = Vec::new();
                    }
                    self.front.retain(|(t, _), _| *t != tname);
                }
            },
            Command::SetPolicy {
                chain,
                policy,
                span,
            } => {
                let ci = find_chain(table, idx, chain, span, &mut self.budget, &mut self.last)?;
                let Some(c) = table.chains.get_mut(ci) else {
                    return Err(ParseError::new(
                        span,
                        format!("chain `{chain}` does not exist"),
                    ));
                };
                if !c.is_builtin() {
                    return Err(ParseError::new(
                        span,
                        format!("user chain `{chain}` cannot have a policy"),
                    ));
                }
                c.policy = Some(policy);
            }
        }
        Ok(())
    }

    /// The ruleset and diagnostics (in input order).
    pub fn finish(mut self) -> Parsed {
        self.join_run();
        let keys: Vec<(TableName, usize)> = self.front.keys().copied().collect();
        for (t, ci) in keys {
            self.held(t, ci);
        }
        self.diagnostics
            .sort_by_key(|d| (d.error.span.line, d.error.span.col));
        Parsed {
            ruleset: self.ruleset,
            diagnostics: self.diagnostics,
        }
    }
}

fn same_rule(a: &Rule, b: &Rule) -> bool {
    a.ip == b.ip && a.matches == b.matches && a.target == b.target
}

fn check_chain_name(name: &str, span: Span) -> Result<(), ParseError> {
    if name.len() > MAX_CHAIN_NAME {
        return Err(ParseError::new(
            span,
            format!(
                "chain name `{name}` is {} characters long; at most {MAX_CHAIN_NAME} are allowed",
                name.len()
            ),
        ));
    }
    if name.is_empty()
        || name.starts_with('-')
        || name.starts_with('!')
        || (if name.is_ascii() {
            // `char::is_whitespace` on ASCII, a byte at a time.
            name.bytes()
                .any(|b| matches!(b, b' ' | b'\t' | b'\n' | b'\x0B' | b'\x0C' | b'\r'))
        } else {
            name.contains(char::is_whitespace)
        })
    {
        return Err(ParseError::new(
            span,
            format!("invalid chain name `{name}`"),
        ));
    }
    if matches!(name, "ACCEPT" | "DROP" | "RETURN" | "QUEUE")
        || Target::new_extension(name).is_some()
    {
        return Err(ParseError::new(
            span,
            format!("`{name}` is a target name and cannot name a chain"),
        ));
    }
    Ok(())
}

/// Finds a chain for a rule command (its position in the table); built-in chains of the table
/// exist even when undeclared.
/// `last` is the position found last time: consecutive lines mostly name the same chain.
fn find_chain(
    table: &mut crate::model::Table,
    idx: &mut FxHashMap<Arc<str>, usize>,
    name: &str,
    span: Span,
    budget: &mut usize,
    last: &mut usize,
) -> Result<usize, ParseError> {
    if table.chains.get(*last).is_some_and(|c| c.name == name) {
        return Ok(*last);
    }
    // iptables-save lists rules chain by chain in the order it declared them: the next
    // chain with rules is mostly one of the next few declared.
    for next in last.saturating_add(1)..last.saturating_add(4) {
        if table.chains.get(next).is_some_and(|c| c.name == name) {
            *last = next;
            return Ok(next);
        }
    }
    if let Some(i) = idx.get(name) {
        *last = *i;
        return Ok(*i);
    }
    match Hook::from_chain_name(name).filter(|h| table.name.hooks().contains(h)) {
        Some(h) => {
            let mut c = Chain::builtin(h, Policy::Accept);
            c.span = Span::default();
            Ok(push_chain(table, idx, c))
        }
        None => Err(missing_chain(table, name, span, budget)),
    }
}

/// Adds a chain to a table and to its name index; returns its position.
fn push_chain(
    table: &mut crate::model::Table,
    idx: &mut FxHashMap<Arc<str>, usize>,
    c: Chain,
) -> usize {
    let at = table.chains.len();
    idx.insert(c.name.as_str().into(), at);
    table.chains.push(c);
    at
}

/// Rebuilds a table's name index after chains were removed.
fn reindex(table: &crate::model::Table, idx: &mut FxHashMap<Arc<str>, usize>) {
    idx.clear();
    idx.extend(
        table
            .chains
            .iter()
            .enumerate()
            .map(|(i, c)| (c.name.as_str().into(), i)),
    );
}

fn missing_chain(
    table: &crate::model::Table,
    name: &str,
    span: Span,
    budget: &mut usize,
) -> ParseError {
    let mut e = ParseError::new(
        span,
        format!("chain `{name}` does not exist in table `{}`", table.name),
    );
    if let Some(s) = suggest_within(name, table.chains.iter().map(|c| c.name.as_str()), budget) {
        e = e.with_help(format!("did you mean `{s}`?"));
    } else if Hook::from_chain_name(name).is_some() {
        e = e.with_help(format!("table `{}` has no `{name}` chain", table.name));
    } else {
        e = e.with_help(format!(
            "declare it first with `:{name} - [0:0]` (or `-N {name}`)"
        ));
    }
    e
}

#[cfg(test)]
mod tests {
    use crate::syntax::{parse_commands, parse_save};

    fn rules_of(parsed: &crate::syntax::save::Parsed, chain: &str) -> Vec<String> {
        let t = &parsed.ruleset.tables[0];
        let c = t.chains.iter().find(|c| c.name == chain).unwrap();
        c.rules.iter().map(crate::syntax::rule_to_string).collect()
    }

    /// Appends gathered per chain keep iptables-restore's order when chains alternate and
    /// when other commands come between them.
    #[test]
    fn appends_keep_their_order_across_chains_and_commands() {
        let save = "*filter\n:INPUT ACCEPT [0:0]\n:X - [0:0]\n:Y - [0:0]\n\
                    -A X -s 10.0.0.1/32 -j ACCEPT\n-A Y -s 10.0.0.2/32 -j ACCEPT\n\
                    -A X -s 10.0.0.3/32 -j ACCEPT\n-A X -s 10.0.0.4/32 -j ACCEPT\n\
                    -A Y -s 10.0.0.5/32 -j ACCEPT\nCOMMIT\n";
        let p = parse_save(save, None);
        assert!(!p.has_errors(), "{:?}", p.diagnostics);
        assert_eq!(
            rules_of(&p, "X"),
            [
                "-s 10.0.0.1/32 -j ACCEPT",
                "-s 10.0.0.3/32 -j ACCEPT",
                "-s 10.0.0.4/32 -j ACCEPT"
            ]
        );
        assert_eq!(
            rules_of(&p, "Y"),
            ["-s 10.0.0.2/32 -j ACCEPT", "-s 10.0.0.5/32 -j ACCEPT"]
        );
        let script = "iptables -N X\n\
                      iptables -A X -s 10.0.0.1/32 -j ACCEPT\n\
                      iptables -A X -s 10.0.0.2/32 -j ACCEPT\n\
                      iptables -I X 1 -s 10.0.0.3/32 -j ACCEPT\n\
                      iptables -A X -s 10.0.0.4/32 -j ACCEPT\n\
                      iptables -D X 2\n\
                      iptables -A X -s 10.0.0.5/32 -j ACCEPT\n";
        let p = parse_commands(script, None);
        assert!(!p.has_errors(), "{:?}", p.diagnostics);
        assert_eq!(
            rules_of(&p, "X"),
            [
                "-s 10.0.0.3/32 -j ACCEPT",
                "-s 10.0.0.2/32 -j ACCEPT",
                "-s 10.0.0.4/32 -j ACCEPT",
                "-s 10.0.0.5/32 -j ACCEPT"
            ]
        );
    }
}
