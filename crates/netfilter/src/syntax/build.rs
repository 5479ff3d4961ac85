//! Builds a [`Ruleset`] from commands, as iptables-restore and the iptables command apply them,
//! checking each against the ruleset built so far.

use std::collections::{HashMap, HashSet, VecDeque};

use crate::model::{Chain, Counters, Family, Hook, Policy, Rule, Ruleset, Span, TableName};
use crate::syntax::error::{Diagnostic, ParseError, suggest};
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

/// One change to the current table.
#[derive(Debug)]
pub enum Command {
    /// `:NAME POLICY [p:b]` or `-N NAME`.
    Declare {
        /// Chain name.
        chain: String,
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
        chain: String,
        /// The rules (several when addresses were listed).
        rules: Vec<Rule>,
        /// Where the chain name is.
        span: Span,
    },
    /// `-I CHAIN [N] rule`.
    Insert {
        /// Chain name.
        chain: String,
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
        chain: String,
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
        chain: String,
        /// Which rule.
        what: RuleRef,
        /// Where the chain name is.
        span: Span,
    },
    /// `-X [CHAIN]`.
    DeleteChain {
        /// Chain name, or every user chain.
        chain: Option<String>,
        /// Where.
        span: Span,
    },
    /// `-F [CHAIN]`.
    Flush {
        /// Chain name, or every chain.
        chain: Option<String>,
        /// Where.
        span: Span,
    },
    /// `-P CHAIN POLICY`.
    SetPolicy {
        /// Chain name.
        chain: String,
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
    /// The rules of each chain while building, by table and chain name: a deque, so that
    /// inserting at the head (`-I CHAIN`, the usual form) costs the same as appending. They move
    /// into the chains in [`Builder::finish`].
    rules: HashMap<(TableName, String), VecDeque<Rule>>,
    /// The names of the chains each table has, kept with the tables' chain lists so that
    /// commands find their chain without scanning every chain (a large node has 100,000).
    names: HashMap<TableName, HashSet<String>>,
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
            rules: HashMap::new(),
            names: HashMap::new(),
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

    /// Applies one command to the current table, reporting what iptables would refuse.
    pub fn apply(&mut self, cmd: Command) {
        if let Err(e) = self.try_apply(cmd) {
            self.error(e);
        }
    }

    fn try_apply(&mut self, cmd: Command) -> Result<(), ParseError> {
        let Some(tname) = self.current else {
            return Err(ParseError::new(Span::default(), "no table selected"));
        };
        let table = self.ruleset.table_or_insert(tname);
        match cmd {
            Command::Declare {
                chain,
                policy,
                counters,
                span,
                policy_span,
            } => {
                let hook = Hook::from_chain_name(&chain).filter(|h| tname.hooks().contains(h));
                match (hook, policy) {
                    (Some(h), policy) => {
                        // `-` on a built-in chain keeps its policy, as iptables-restore does.
                        if let Some(c) = table.chain_mut(&chain) {
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
                            self.names.entry(tname).or_default().insert(c.name.clone());
                            table.chains.push(c);
                        }
                    }
                    (None, Some(_)) => {
                        if Hook::from_chain_name(&chain).is_some() {
                            return Err(ParseError::new(
                                span,
                                format!("table `{tname}` has no built-in chain `{chain}`"),
                            ));
                        }
                        // Declared all the same, so later rules and jumps do not fail too.
                        if check_chain_name(&chain, span).is_ok()
                            && !has_chain(&self.names, tname, &chain)
                        {
                            let mut c = Chain::user(chain.clone());
                            c.counters = counters;
                            c.span = span;
                            self.names.entry(tname).or_default().insert(chain.clone());
                            table.chains.push(c);
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
                        check_chain_name(&chain, span)?;
                        if let Some(c) = has_chain(&self.names, tname, &chain)
                            .then(|| table.chain(&chain))
                            .flatten()
                        {
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
                        self.names.entry(tname).or_default().insert(c.name.clone());
                        table.chains.push(c);
                    }
                }
            }
            Command::Append { chain, rules, span } => {
                if !has_chain(&self.names, tname, &chain) {
                    find_chain(table, &chain, span)?;
                    self.names.entry(tname).or_default().insert(chain.clone());
                }
                self.rules.entry((tname, chain)).or_default().extend(rules);
            }
            Command::Insert {
                chain,
                index,
                rules,
                span,
            } => {
                find_chain(table, &chain, span)?;
                let held = self.rules.entry((tname, chain.clone())).or_default();
                if index == 0 || index > held.len() + 1 {
                    return Err(ParseError::new(
                        span,
                        format!(
                            "index {index} is past the end of chain `{chain}` ({} rules)",
                            held.len()
                        ),
                    ));
                }
                if index == 1 {
                    for r in rules.into_iter().rev() {
                        held.push_front(r);
                    }
                } else {
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
                find_chain(table, &chain, span)?;
                let held = self.rules.entry((tname, chain.clone())).or_default();
                let [rule] = <[Rule; 1]>::try_from(rules).map_err(|_| {
                    ParseError::new(
                        span,
                        "`-R` replaces one rule; the addresses given make several",
                    )
                })?;
                let slot = held.get_mut(index.wrapping_sub(1)).ok_or_else(|| {
                    ParseError::new(span, format!("chain `{chain}` has no rule {index}"))
                })?;
                *slot = rule;
            }
            Command::Delete { chain, what, span } => {
                find_chain(table, &chain, span)?;
                let held = self.rules.entry((tname, chain.clone())).or_default();
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
                    let i = table
                        .chain_index(&name)
                        .ok_or_else(|| missing_chain(table, &name, span))?;
                    if table.chains.get(i).is_some_and(Chain::is_builtin) {
                        return Err(ParseError::new(
                            span,
                            format!("built-in chain `{name}` cannot be deleted"),
                        ));
                    }
                    let used = self
                        .rules
                        .iter()
                        .filter(|((t, _), _)| *t == tname)
                        .flat_map(|(_, rules)| rules)
                        .any(|r| {
                            matches!(&r.target, Some(Target::Jump(t) | Target::Goto(t)) if *t == name)
                        });
                    if used {
                        return Err(ParseError::new(
                            span,
                            format!("chain `{name}` is still referenced by a rule"),
                        ));
                    }
                    table.chains.remove(i);
                    if let Some(set) = self.names.get_mut(&tname) {
                        set.remove(&name);
                    }
                    self.rules.remove(&(tname, name));
                }
                None => {
                    table.chains.retain(Chain::is_builtin);
                    self.names
                        .insert(tname, table.chains.iter().map(|c| c.name.clone()).collect());
                    let kept: Vec<&str> = table.chains.iter().map(|c| c.name.as_str()).collect();
                    self.rules
                        .retain(|(t, c), _| *t != tname || kept.contains(&c.as_str()));
                }
            },
            Command::Flush { chain, span } => match chain {
                Some(name) => {
                    find_chain(table, &name, span)?;
                    self.rules.remove(&(tname, name));
                }
                None => self.rules.retain(|(t, _), _| *t != tname),
            },
            Command::SetPolicy {
                chain,
                policy,
                span,
            } => {
                let c = find_chain(table, &chain, span)?;
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
        for table in &mut self.ruleset.tables {
            for chain in &mut table.chains {
                if let Some(rules) = self.rules.remove(&(table.name, chain.name.clone())) {
                    chain.rules.extend(rules);
                }
            }
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
        || name.contains(char::is_whitespace)
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

/// Finds a chain for a rule command; built-in chains of the table exist even when undeclared.
/// Whether `table` has a chain `name`, by the builder's name sets.
fn has_chain(names: &HashMap<TableName, HashSet<String>>, table: TableName, name: &str) -> bool {
    names.get(&table).is_some_and(|s| s.contains(name))
}

fn find_chain<'a>(
    table: &'a mut crate::model::Table,
    name: &str,
    span: Span,
) -> Result<&'a mut Chain, ParseError> {
    if table.chain(name).is_none() {
        match Hook::from_chain_name(name).filter(|h| table.name.hooks().contains(h)) {
            Some(h) => {
                let mut c = Chain::builtin(h, Policy::Accept);
                c.span = Span::default();
                table.chains.push(c);
            }
            None => return Err(missing_chain(table, name, span)),
        }
    }
    table
        .chain_mut(name)
        .ok_or_else(|| ParseError::new(span, format!("chain `{name}` does not exist")))
}

fn missing_chain(table: &crate::model::Table, name: &str, span: Span) -> ParseError {
    let mut e = ParseError::new(
        span,
        format!("chain `{name}` does not exist in table `{}`", table.name),
    );
    if let Some(s) = suggest(name, table.chains.iter().map(|c| c.name.as_str())) {
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
