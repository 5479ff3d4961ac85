//! Errors and warnings about input text, each tied to a span, and their rendering for people.

use std::fmt::Write as _;

use crate::model::Span;

/// A problem with one place of the input.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct ParseError {
    /// What is wrong, in one sentence.
    pub message: String,
    /// Where.
    pub span: Span,
    /// A hint on how to fix it ("did you mean `--dport`?").
    pub help: Option<String>,
}

impl ParseError {
    /// An error at `span`.
    pub fn new(span: Span, message: impl Into<String>) -> ParseError {
        ParseError {
            message: message.into(),
            span,
            help: None,
        }
    }

    /// Adds a hint.
    pub fn with_help(mut self, help: impl Into<String>) -> ParseError {
        self.help = Some(help.into());
        self
    }
}

/// How bad a diagnostic is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Severity {
    /// Something worth knowing that does not make the input wrong (an extension kept verbatim).
    Warning,
    /// The input is wrong: the kernel or iptables-restore would refuse it.
    Error,
}

/// A located message about the input.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Diagnostic {
    /// Error or warning.
    pub severity: Severity,
    /// The message, span and hint.
    pub error: ParseError,
}

impl Diagnostic {
    /// An error diagnostic.
    pub fn error(error: ParseError) -> Diagnostic {
        Diagnostic {
            severity: Severity::Error,
            error,
        }
    }

    /// A warning diagnostic.
    pub fn warning(error: ParseError) -> Diagnostic {
        Diagnostic {
            severity: Severity::Warning,
            error,
        }
    }

    /// Renders the diagnostic the way compilers do: `file:line:col: error: message`, the source
    /// line, a caret line under the offending text, and the hint.
    pub fn render(&self, file: &str, source: &str) -> String {
        let span = self.error.span;
        let kind = match self.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        let mut out = format!(
            "{file}:{}:{}: {kind}: {}\n",
            span.line, span.col, self.error.message
        );
        if let Some(text) = source.split('\n').nth(span.line.saturating_sub(1) as usize) {
            let text = text.strip_suffix('\r').unwrap_or(text);
            let gutter = span.line.to_string();
            let pad = " ".repeat(gutter.len());
            let _ = writeln!(out, "{pad} |");
            let _ = writeln!(out, "{gutter} | {text}");
            let width = source
                .get(span.range())
                .map(|s| s.chars().count())
                .unwrap_or(1)
                .max(1);
            let indent = " ".repeat(span.col.saturating_sub(1) as usize);
            let _ = writeln!(out, "{pad} | {indent}{}", "^".repeat(width));
        }
        if let Some(help) = &self.error.help {
            let _ = writeln!(out, "  = help: {help}");
        }
        out
    }
}

/// The closest candidate to `word` by edit distance, when it is close enough to suggest.
pub fn suggest<'a>(word: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let mut unlimited = usize::MAX;
    suggest_within(word, candidates, &mut unlimited)
}

/// How much work suggestions over a ruleset's own names (its chains, which can be thousands)
/// may take for one input, in character comparisons; past it, errors come without a "did you
/// mean" rather than taking time quadratic in the input.
pub const SUGGEST_BUDGET: usize = 4_000_000;

/// Like [`suggest`], but spends at most `budget` character comparisons (deducted from it) and
/// gives no suggestion once it is spent.
pub fn suggest_within<'a>(
    word: &str,
    candidates: impl IntoIterator<Item = &'a str>,
    budget: &mut usize,
) -> Option<&'a str> {
    let mut best: Option<(usize, &'a str)> = None;
    for c in candidates {
        let limit = (c.len().max(word.len()) / 3).max(1);
        if word.len().abs_diff(c.len()) > limit {
            continue;
        }
        let cost = word.len().max(1).saturating_mul(c.len().max(1));
        if *budget < cost {
            *budget = 0;
            return None;
        }
        *budget -= cost;
        let d = edit_distance(word, c);
        if d <= limit && best.is_none_or(|(bd, _)| d < bd) {
            best = Some((d, c));
        }
    }
    best.map(|(_, c)| c)
}

/// Edit distance counting insertions, deletions, substitutions and swaps of two neighbouring
/// characters (optimal string alignment), so `tpc` is one edit from `tcp`.
fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let mut prev2: Vec<usize> = Vec::new();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.iter().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != cb);
            let mut best = (prev[j] + cost).min(prev[j + 1] + 1).min(cur[j] + 1);
            if i > 0
                && j > 0
                && a.get(i - 1) == Some(cb)
                && b.get(j - 1) == Some(ca)
                && let Some(d) = prev2.get(j - 1)
            {
                best = best.min(d + 1);
            }
            cur[j + 1] = best;
        }
        prev2 = std::mem::replace(&mut prev, cur);
    }
    prev.last().copied().unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_caret_under_token() {
        let src = "*filter\n-A INPUT -p tcp --dprot 22 -j ACCEPT\n";
        let d = Diagnostic::error(
            ParseError::new(
                Span {
                    line: 2,
                    col: 16,
                    start: 23,
                    end: 30,
                },
                "unknown option `--dprot` for match `tcp`",
            )
            .with_help("did you mean `--dport`?"),
        );
        let text = d.render("f.rules", src);
        assert!(text.starts_with("f.rules:2:16: error: unknown option `--dprot`"));
        assert!(text.contains("2 | -A INPUT -p tcp --dprot 22 -j ACCEPT\n"));
        assert!(text.contains("  |                ^^^^^^^\n"), "{text}");
        assert!(text.contains("help: did you mean `--dport`?"));
    }

    #[test]
    fn suggestions() {
        assert_eq!(
            suggest("--dprot", ["--sport", "--dport", "--dports"]),
            Some("--dport")
        );
        assert_eq!(suggest("--zzzzzz", ["--sport", "--dport"]), None);
        assert_eq!(suggest("tpc", ["udp", "tcp", "icmp"]), Some("tcp"));
        assert_eq!(edit_distance("nta", "nat"), 1);
        assert_eq!(edit_distance("abc", ""), 3);
        let mut budget = 10;
        assert_eq!(suggest_within("--dprot", ["--dport"], &mut budget), None);
        assert_eq!(budget, 0);
    }
}
