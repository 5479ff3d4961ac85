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
use crate::syntax::rule::parse_rule_in;
use crate::syntax::token::{Token, TokenError, to_u32, tokenize_into};

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
    let mut p = SaveParser::with_family(family);
    for raw_line in text.split('\n') {
        p.line(raw_line);
    }
    p.finish()
}

/// Reads `iptables-save` text a line at a time, so that a caller reading a file need not hold
/// the whole text: [`SaveParser::line`] for each line, then [`SaveParser::finish`]. The result
/// is the same as [`parse_save`] on the whole text, diagnostics and spans included.
///
/// When the family is neither given nor named by a header comment, it is guessed from the
/// first `-s`/`-d` address, as [`parse_save`] does: lines are held until one is seen.
#[derive(Debug)]
pub struct SaveParser {
    /// The builder, once the family is known.
    b: Option<Builder>,
    /// The family given by the caller (a header takes precedence).
    given: Option<Family>,
    /// Still in the leading comment and blank lines, where a header may name the family.
    in_header: bool,
    /// The header named a family.
    header: Option<Family>,
    /// The previous word was `-s`/`-d` (for guessing the family).
    after_addr_opt: bool,
    /// The family of the first `-s`/`-d` address.
    guess: Option<Family>,
    /// Lines held while the family is unknown.
    held: Vec<String>,
    line_no: u32,
    offset: usize,
    open: Option<(TableName, Span)>,
    // After an unknown `*table`, its lines up to COMMIT are skipped without further errors;
    // after a line outside any table, so are the lines that follow it up to the next `*table`.
    skipping: bool,
    toks: Vec<Token<'static>>,
}

impl SaveParser {
    /// A parser that finds the family as [`parse_save`] does (header, then `family`, then the
    /// first address).
    pub fn new(family: Option<Family>) -> SaveParser {
        SaveParser {
            b: None,
            given: family,
            in_header: true,
            header: None,
            after_addr_opt: false,
            guess: None,
            held: Vec::new(),
            line_no: 0,
            offset: 0,
            open: None,
            skipping: false,
            toks: Vec::new(),
        }
    }

    /// A parser for a known family (headers are not consulted).
    pub fn with_family(family: Family) -> SaveParser {
        let mut p = SaveParser::new(Some(family));
        p.in_header = false;
        p.b = Some(Builder::new(family));
        p
    }

    /// Reads one line, without its `\n` (a trailing `\r` is allowed).
    pub fn line(&mut self, raw_line: &str) {
        if self.b.is_none() {
            self.learn_family(raw_line);
            match self.b.is_some() {
                true => {
                    for l in std::mem::take(&mut self.held) {
                        self.parse_line(&l);
                    }
                }
                false => {
                    self.held.push(raw_line.to_string());
                    return;
                }
            }
        }
        self.parse_line(raw_line);
    }

    /// Looks for the family in a line read before it is known, and starts the builder once it
    /// is.
    fn learn_family(&mut self, raw_line: &str) {
        if self.in_header {
            if raw_line.starts_with('#') || raw_line.trim().is_empty() {
                if self.header.is_none() {
                    self.header = family_in_header(raw_line);
                }
            } else {
                self.in_header = false;
            }
        }
        if self.guess.is_none() && self.header.is_none() && self.given.is_none() {
            for w in raw_line.split_whitespace() {
                if std::mem::take(&mut self.after_addr_opt) {
                    self.guess = Some(if w.contains(':') {
                        Family::Ipv6
                    } else {
                        Family::Ipv4
                    });
                    break;
                }
                self.after_addr_opt = is_addr_opt(w);
            }
        }
        let family = match self.header {
            Some(h) => Some(h),
            None if self.in_header => None,
            None => self.given.or(self.guess),
        };
        if let Some(f) = family {
            self.b = Some(Builder::new(f));
        }
    }

    fn parse_line(&mut self, raw_line: &str) {
        let Some(b) = self.b.as_mut() else { return };
        self.line_no = self.line_no.saturating_add(1);
        let line_no = self.line_no;
        let line = raw_line.strip_suffix('\r').unwrap_or(raw_line);
        let line_offset = self.offset;
        self.offset += raw_line.len() + 1;
        let trimmed = line.trim_start();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            return;
        }
        let lead = line.len() - trimmed.len();
        let at = |from: usize, to: usize| Span {
            line: line_no,
            col: crate::syntax::token::col_of(line, from),
            start: to_u32(line_offset + from),
            end: to_u32(line_offset + to),
        };
        let whole = at(lead, line.trim_end().len().max(lead + 1));
        if let Some(name) = trimmed.strip_prefix('*') {
            let name = name.trim_end();
            if let Some((t, sp)) = self.open {
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
                    self.open = Some((t, whole));
                    self.skipping = false;
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
                    self.open = None;
                    self.skipping = true;
                }
            }
            return;
        }
        if self.skipping && self.open.is_none() {
            if trimmed.trim_end() == "COMMIT" {
                self.skipping = false;
            }
            return;
        }
        if trimmed.trim_end() == "COMMIT" {
            if self.open.take().is_none() {
                b.error(ParseError::new(
                    whole,
                    "`COMMIT` without a `*table` line before it",
                ));
            }
            return;
        }
        // One token vector serves every line: it is empty between lines, so no token
        // outlives its line.
        let mut toks = reuse(std::mem::take(&mut self.toks));
        match tokenize_into(line, line_no, line_offset, &mut toks) {
            Ok(()) => {}
            Err(TokenError::UnbalancedQuote(sp)) => {
                b.error(ParseError::new(
                    sp,
                    "unbalanced double quote: this quote is never closed",
                ));
                self.toks = reuse(toks);
                return;
            }
            Err(TokenError::TooLong(sp)) => {
                b.error(ParseError::new(
                    sp,
                    "argument longer than iptables-restore accepts (1023 bytes)",
                ));
                self.toks = reuse(toks);
                return;
            }
        }
        if self.open.is_none() {
            b.error(
                ParseError::new(whole, "this line is outside a table")
                    .with_help("start a table with a line like `*filter`"),
            );
            self.skipping = true;
        } else if trimmed.starts_with(':') {
            declare_chain(b, &toks, whole);
        } else {
            let end = at(line.len(), line.len());
            if let Err(e) = rule_line(b, &toks, end) {
                b.error(e);
            }
        }
        self.toks = reuse(toks);
    }

    /// Ends the input: reports an unclosed table and returns the ruleset.
    pub fn finish(mut self) -> Parsed {
        if self.b.is_none() {
            let family = self
                .header
                .or(self.given)
                .or(self.guess)
                .unwrap_or(Family::Ipv4);
            self.b = Some(Builder::new(family));
            for l in std::mem::take(&mut self.held) {
                self.parse_line(&l);
            }
        }
        let Some(mut b) = self.b else {
            return Builder::new(Family::Ipv4).finish();
        };
        if let Some((t, sp)) = self.open {
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
}

/// An empty token vector of any lifetime, keeping the allocation.
fn reuse<'a, 'b>(mut v: Vec<Token<'a>>) -> Vec<Token<'b>> {
    v.clear();
    v.into_iter()
        .map(|t| -> Token<'b> { t.into_owned() })
        .collect()
}

fn declare_chain(b: &mut Builder, toks: &[Token<'_>], whole: Span) {
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
    let policy = match policy_tok.map(|t| t.as_str()) {
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
        chain: name,
        policy,
        counters,
        span: name_span,
        policy_span: policy_tok.map(|t| t.span).unwrap_or(whole),
    });
}

/// Applies one rule command (`toks` starts with `-A`, `-I`, …) to the builder; `end` is where
/// the line ends, for errors about missing arguments.
pub(crate) fn rule_line(b: &mut Builder, toks: &[Token<'_>], end: Span) -> Result<(), ParseError> {
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
    match cmd.as_str() {
        "-A" | "--append" | "-I" | "--insert" | "-D" | "--delete" | "-R" | "--replace" => {
            let chain = need_chain()?;
            let mut rest = toks.get(2..).unwrap_or(&[]);
            let mut index = None;
            let takes_index = matches!(
                cmd.as_str(),
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
            if matches!(cmd.as_str(), "-D" | "--delete") && index.is_some() {
                b.apply(Command::Delete {
                    chain: chain.as_str(),
                    what: RuleRef::Index(index.unwrap_or(1)),
                    span: chain.span,
                });
                return Ok(());
            }
            let parsed = parse_rule_in(rest, b.family(), end, b.names())?;
            for w in parsed.warnings {
                b.diagnostic(w);
            }
            let mut rules = parsed.rules;
            for r in &mut rules {
                r.span = line_span;
                if let Some(c) = counters {
                    r.counters = Some(Box::new(c));
                }
            }
            let chain_name = chain.as_str();
            match cmd.as_str() {
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
                            chain: chain_name,
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
                chain: chain.as_str(),
                policy: None,
                counters: Counters::default(),
                span: chain.span,
                policy_span: chain.span,
            });
        }
        "-X" | "--delete-chain" => b.apply(Command::DeleteChain {
            chain: chain_tok.map(|t| t.as_str()),
            span: chain_tok.map(|t| t.span).unwrap_or(cmd.span),
        }),
        "-F" | "--flush" => b.apply(Command::Flush {
            chain: chain_tok.map(|t| t.as_str()),
            span: chain_tok.map(|t| t.span).unwrap_or(cmd.span),
        }),
        "-P" | "--policy" => {
            let chain = need_chain()?;
            let p = toks
                .get(2)
                .ok_or_else(|| ParseError::new(chain.span, "`-P` requires a policy"))?;
            let policy = match p.as_str() {
                "ACCEPT" => Policy::Accept,
                "DROP" => Policy::Drop,
                other => {
                    return Err(ParseError::new(p.span, format!("invalid policy `{other}`"))
                        .with_help("a policy is ACCEPT or DROP"));
                }
            };
            b.apply(Command::SetPolicy {
                chain: chain.as_str(),
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
    text.lines()
        .take_while(|l| l.starts_with('#') || l.trim().is_empty())
        .find_map(family_in_header)
}

/// The family one header line names, if any.
fn family_in_header(line: &str) -> Option<Family> {
    if line.contains("ip6tables-save") || line.contains("ip6tables-restore") {
        return Some(Family::Ipv6);
    }
    if line.contains("iptables-save") || line.contains("iptables-restore") {
        return Some(Family::Ipv4);
    }
    None
}

fn is_addr_opt(w: &str) -> bool {
    matches!(w, "-s" | "-d" | "--source" | "--destination")
}

/// Guesses the family from the first address given to `-s`/`-d`.
fn guess_family(text: &str) -> Family {
    let mut words = text.split_whitespace();
    while let Some(w) = words.next() {
        if is_addr_opt(w)
            && let Some(val) = words.clone().next()
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

#[cfg(test)]
mod tests {
    use super::*;

    fn by_lines(text: &str, family: Option<Family>) -> Parsed {
        let mut p = SaveParser::new(family);
        for line in text.split('\n') {
            p.line(line);
        }
        p.finish()
    }

    /// The family comes from the same place whether the text is read whole or a line at a
    /// time: a header, else the caller, else the first `-s`/`-d` (even in a comment).
    #[test]
    fn family_as_when_read_whole() {
        let rules =
            "*filter\n:INPUT ACCEPT [0:0]\n-A INPUT -j ACCEPT\n-A INPUT -s ::1 -j DROP\nCOMMIT\n";
        let texts = [
            rules.to_string(),
            format!("# Generated by ip6tables-save v1.8.9\n{rules}"),
            format!("# Generated by iptables-save v1.8.9\n{rules}"),
            format!("# note -s ::2\n\n# Generated by iptables-save\n{rules}"),
            format!("# note -s ::2\n{rules}"),
            format!("# note -s\n10.0.0.1 x\n{rules}"),
            "# only a comment -d".to_string(),
            "*filter\n-A INPUT -d 10.0.0.0/8 -s ::1 -j DROP\nCOMMIT".to_string(),
            String::new(),
        ];
        for text in &texts {
            for family in [None, Some(Family::Ipv4), Some(Family::Ipv6)] {
                let whole = parse_save(text, family);
                let lines = by_lines(text, family);
                assert_eq!(lines.ruleset, whole.ruleset, "{text:?} {family:?}");
                assert_eq!(lines.diagnostics, whole.diagnostics, "{text:?} {family:?}");
            }
        }
    }
}
