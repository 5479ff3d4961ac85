//! Reads `iptables-save` / `ip6tables-save` output (and restore files people keep by hand).
//!
//! Accepted: any number of `*table` … `COMMIT` sections; `#` comment lines and blank lines
//! anywhere; `:CHAIN POLICY [packets:bytes]` declarations; rules `-A CHAIN …` (also `-I`, `-N`,
//! `-X`, `-F`, `-P`, `-D`, `-R`, which iptables-restore accepts too), optionally prefixed by
//! `[packets:bytes]` counters; CRLF line ends; trailing blanks. Every problem is reported with
//! its line and column, and parsing goes on with the next line, so one bad rule does not hide
//! the rest of the file.

use crate::model::{Counters, Family, Policy, Ruleset, Span, TableName};
use crate::syntax::build::{Builder, Command, RuleRef};
use crate::syntax::error::{Diagnostic, ParseError};
use crate::syntax::rule::parse_rule;
use crate::syntax::token::{Token, TokenError, tokenize};

/// A ruleset and everything worth saying about the text it came from.
#[derive(Debug)]
pub struct Parsed {
    /// The ruleset, with every line that could be read.
    pub ruleset: Ruleset,
    /// Errors and warnings, in input order.
    pub diagnostics: Vec<Diagnostic>,
}

impl Parsed {
    /// Whether any diagnostic is an error.
    pub fn has_errors(&self) -> bool {
        self.diagnostics
            .iter()
            .any(|d| d.severity == crate::syntax::error::Severity::Error)
    }
}

/// Parses `iptables-save` text. The family comes from the header when there is one, else from
/// `family`, else from the addresses in the rules (IPv4 when none says otherwise).
pub fn parse_save(text: &str, family: Option<Family>) -> Parsed {
    let family = detect_family(text)
        .or(family)
        .unwrap_or_else(|| guess_family(text));
    let mut b = Builder::new(family);
    let mut offset = 0usize;
    let mut open: Option<(TableName, Span)> = None;
    // After an unknown `*table`, its lines up to COMMIT are skipped without further errors;
    // after a line outside any table, so are the lines that follow it up to the next `*table`.
    let mut skipping = false;
    for (idx, raw_line) in text.split('\n').enumerate() {
        let line_no = u32::try_from(idx + 1).unwrap_or(u32::MAX);
        let line = raw_line.strip_suffix('\r').unwrap_or(raw_line);
        let line_offset = offset;
        offset += raw_line.len() + 1;
        let trimmed = line.trim_start();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        let lead = line.len() - trimmed.len();
        let at = |from: usize, to: usize| Span {
            line: line_no,
            col: crate::syntax::token::col_of(line, from),
            start: line_offset + from,
            end: line_offset + to,
        };
        let whole = at(lead, line.trim_end().len().max(lead + 1));
        if let Some(name) = trimmed.strip_prefix('*') {
            let name = name.trim_end();
            if let Some((t, sp)) = open {
                b.error(
                    ParseError::new(
                        whole,
                        format!("table `{}` (line {}) is not closed by COMMIT", t, sp.line),
                    )
                    .with_help("add a `COMMIT` line before the next `*table`"),
                );
            }
            match TableName::from_name(name) {
                Some(t) => {
                    b.select_table(t, whole);
                    open = Some((t, whole));
                    skipping = false;
                }
                None => {
                    let help = match crate::syntax::error::suggest(
                        name,
                        TableName::ALL.iter().map(|t| t.as_str()),
                    ) {
                        Some(s) => format!("did you mean `{s}`?"),
                        None => "the tables are raw, mangle, nat, filter and security".to_string(),
                    };
                    b.error(
                        ParseError::new(whole, format!("unknown table `{name}`")).with_help(help),
                    );
                    open = None;
                    skipping = true;
                }
            }
            continue;
        }
        if skipping && open.is_none() {
            if trimmed.trim_end() == "COMMIT" {
                skipping = false;
            }
            continue;
        }
        if trimmed.trim_end() == "COMMIT" {
            if open.take().is_none() {
                b.error(ParseError::new(
                    whole,
                    "`COMMIT` without a `*table` line before it",
                ));
            }
            continue;
        }
        let toks = match tokenize(line, line_no, line_offset) {
            Ok(t) => t,
            Err(TokenError::UnbalancedQuote(sp)) => {
                b.error(ParseError::new(
                    sp,
                    "unbalanced double quote: this quote is never closed",
                ));
                continue;
            }
            Err(TokenError::TooLong(sp)) => {
                b.error(ParseError::new(
                    sp,
                    "argument longer than iptables-restore accepts (1023 bytes)",
                ));
                continue;
            }
        };
        if open.is_none() {
            b.error(
                ParseError::new(whole, "this line is outside a table")
                    .with_help("start a table with a line like `*filter`"),
            );
            skipping = true;
            continue;
        }
        if let Some(decl) = trimmed.strip_prefix(':') {
            declare_chain(&mut b, decl, &toks, whole);
            continue;
        }
        let end = at(line.len(), line.len());
        if let Err(e) = rule_line(&mut b, &toks, end) {
            b.error(e);
        }
    }
    if let Some((t, sp)) = open {
        b.error(
            ParseError::new(
                sp,
                format!("table `{t}` is not closed: the input ends before its COMMIT"),
            )
            .with_help(
                "the input may be truncated; iptables-restore applies nothing of an unclosed table",
            ),
        );
    }
    b.finish()
}

fn declare_chain(b: &mut Builder, _decl: &str, toks: &[Token], whole: Span) {
    let Some(first) = toks.first() else { return };
    let name = first.text.trim_start_matches(':');
    let name_span = Span {
        col: first.span.col + 1,
        start: first.span.start + 1,
        ..first.span
    };
    let policy_tok = toks.get(1);
    let counters = match toks.get(2) {
        Some(t) => match parse_counters(&t.text) {
            Some(c) => c,
            None => {
                b.error(
                    ParseError::new(t.span, format!("invalid counters `{}`", t.text))
                        .with_help("counters look like [packets:bytes]"),
                );
                Counters::default()
            }
        },
        None => Counters::default(),
    };
    let policy = match policy_tok.map(|t| t.text.as_str()) {
        Some("-") => None,
        Some("ACCEPT") => Some(Policy::Accept),
        Some("DROP") => Some(Policy::Drop),
        Some(other) => {
            let sp = policy_tok.map(|t| t.span).unwrap_or(whole);
            b.error(
                ParseError::new(sp, format!("invalid policy `{other}`")).with_help(
                    "a policy is ACCEPT or DROP for a built-in chain, `-` for a user chain",
                ),
            );
            return;
        }
        None => {
            b.error(
                ParseError::new(
                    whole,
                    format!("chain `{name}` is declared without a policy"),
                )
                .with_help("write `:NAME - [0:0]` for a user chain"),
            );
            return;
        }
    };
    b.apply(Command::Declare {
        chain: name.to_string(),
        policy,
        counters,
        span: name_span,
        policy_span: policy_tok.map(|t| t.span).unwrap_or(whole),
    });
}

/// Applies one rule command (`toks` starts with `-A`, `-I`, …) to the builder; `end` is where
/// the line ends, for errors about missing arguments.
pub(crate) fn rule_line(b: &mut Builder, toks: &[Token], end: Span) -> Result<(), ParseError> {
    let mut toks = toks;
    let mut counters = None;
    if let Some(first) = toks.first()
        && first.text.starts_with('[')
    {
        counters = Some(parse_counters(&first.text).ok_or_else(|| {
            ParseError::new(first.span, format!("invalid counters `{}`", first.text))
        })?);
        toks = &toks[1..];
    }
    let Some(cmd) = toks.first() else {
        return Err(ParseError::new(end, "counters without a rule"));
    };
    let chain_tok = toks.get(1);
    let need_chain = || {
        chain_tok.ok_or_else(|| {
            ParseError::new(cmd.span, format!("`{}` requires a chain name", cmd.text))
        })
    };
    let line_span = Span {
        end: end.end,
        ..cmd.span
    };
    match cmd.text.as_str() {
        "-A" | "--append" | "-I" | "--insert" | "-D" | "--delete" | "-R" | "--replace" => {
            let chain = need_chain()?;
            let mut rest = toks.get(2..).unwrap_or(&[]);
            let mut index = None;
            let takes_index = matches!(
                cmd.text.as_str(),
                "-I" | "--insert" | "-R" | "--replace" | "-D" | "--delete"
            );
            if takes_index
                && let Some(n) = rest
                    .first()
                    .and_then(|t| t.text.parse::<usize>().ok().map(|n| (n, t)))
            {
                if n.0 == 0 {
                    return Err(ParseError::new(n.1.span, "rule numbers start at 1"));
                }
                index = Some(n.0);
                rest = &rest[1..];
            }
            if matches!(cmd.text.as_str(), "-D" | "--delete") && index.is_some() {
                b.apply(Command::Delete {
                    chain: chain.text.clone(),
                    what: RuleRef::Index(index.unwrap_or(1)),
                    span: chain.span,
                });
                return Ok(());
            }
            let parsed = parse_rule(rest, b.family(), end)?;
            for w in parsed.warnings {
                b.diagnostic(w);
            }
            let mut rules = parsed.rules;
            for r in &mut rules {
                r.span = line_span;
                if counters.is_some() {
                    r.counters = counters;
                }
            }
            let chain_name = chain.text.clone();
            match cmd.text.as_str() {
                "-A" | "--append" => b.apply(Command::Append {
                    chain: chain_name,
                    rules,
                    span: chain.span,
                }),
                "-I" | "--insert" => b.apply(Command::Insert {
                    chain: chain_name,
                    index: index.unwrap_or(1),
                    rules,
                    span: chain.span,
                }),
                "-R" | "--replace" => {
                    let Some(index) = index else {
                        return Err(ParseError::new(chain.span, "`-R` requires a rule number"));
                    };
                    b.apply(Command::Replace {
                        chain: chain_name,
                        index,
                        rules,
                        span: chain.span,
                    })
                }
                _ => {
                    for r in rules {
                        b.apply(Command::Delete {
                            chain: chain_name.clone(),
                            what: RuleRef::Spec(Box::new(r)),
                            span: chain.span,
                        });
                    }
                }
            }
        }
        "-N" | "--new-chain" => {
            let chain = need_chain()?;
            b.apply(Command::Declare {
                chain: chain.text.clone(),
                policy: None,
                counters: Counters::default(),
                span: chain.span,
                policy_span: chain.span,
            });
        }
        "-X" | "--delete-chain" => b.apply(Command::DeleteChain {
            chain: chain_tok.map(|t| t.text.clone()),
            span: chain_tok.map(|t| t.span).unwrap_or(cmd.span),
        }),
        "-F" | "--flush" => b.apply(Command::Flush {
            chain: chain_tok.map(|t| t.text.clone()),
            span: chain_tok.map(|t| t.span).unwrap_or(cmd.span),
        }),
        "-P" | "--policy" => {
            let chain = need_chain()?;
            let p = toks
                .get(2)
                .ok_or_else(|| ParseError::new(chain.span, "`-P` requires a policy"))?;
            let policy = match p.text.as_str() {
                "ACCEPT" => Policy::Accept,
                "DROP" => Policy::Drop,
                other => {
                    return Err(ParseError::new(p.span, format!("invalid policy `{other}`"))
                        .with_help("a policy is ACCEPT or DROP"));
                }
            };
            b.apply(Command::SetPolicy {
                chain: chain.text.clone(),
                policy,
                span: chain.span,
            });
        }
        other => {
            let mut e = ParseError::new(
                cmd.span,
                format!("expected a rule command such as `-A CHAIN`, found `{other}`"),
            );
            if let Some(s) = crate::syntax::error::suggest(
                other,
                ["-A", "-I", "-N", "-X", "-F", "-P", "-D", "-R", "COMMIT"],
            ) {
                e = e.with_help(format!("did you mean `{s}`?"));
            }
            return Err(e);
        }
    }
    Ok(())
}

/// Parses `[packets:bytes]`.
pub(crate) fn parse_counters(text: &str) -> Option<Counters> {
    let inner = text.strip_prefix('[')?.strip_suffix(']')?;
    let (p, b) = inner.split_once(':')?;
    Some(Counters {
        packets: p.parse().ok()?,
        bytes: b.parse().ok()?,
    })
}

/// The family named by an `iptables-save`/`ip6tables-save` header line, if any.
fn detect_family(text: &str) -> Option<Family> {
    for line in text
        .lines()
        .take_while(|l| l.starts_with('#') || l.trim().is_empty())
    {
        if line.contains("ip6tables-save") || line.contains("ip6tables-restore") {
            return Some(Family::Ipv6);
        }
        if line.contains("iptables-save") || line.contains("iptables-restore") {
            return Some(Family::Ipv4);
        }
    }
    None
}

/// Guesses the family from the first address given to `-s`/`-d`.
fn guess_family(text: &str) -> Family {
    for w in text.split_whitespace().collect::<Vec<_>>().windows(2) {
        if let [opt, val] = w
            && matches!(*opt, "-s" | "-d" | "--source" | "--destination")
        {
            return if val.contains(':') {
                Family::Ipv6
            } else {
                Family::Ipv4
            };
        }
    }
    Family::Ipv4
}
