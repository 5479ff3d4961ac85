//! Reading rulesets from files or standard input, shared by the subcommands.

use std::io::Read as _;

use anyhow::{Context as _, bail};
use chainwalk_netfilter::model::{Family, Span};
use chainwalk_netfilter::syntax::{Diagnostic, ParseError, Parsed, parse_any};

/// The address family of input that does not say (no `iptables-save` header, no program name).
#[derive(Clone, Copy, Debug, clap::ValueEnum)]
pub(crate) enum FamilyArg {
    /// IPv4 (`iptables`).
    Ipv4,
    /// IPv6 (`ip6tables`).
    Ipv6,
}

impl From<FamilyArg> for Family {
    fn from(f: FamilyArg) -> Family {
        match f {
            FamilyArg::Ipv4 => Family::Ipv4,
            FamilyArg::Ipv6 => Family::Ipv6,
        }
    }
}

/// One input, read and parsed.
pub(crate) struct Input {
    /// The name to show in messages (`<stdin>` for `-`).
    pub(crate) name: String,
    /// The text.
    pub(crate) text: String,
    /// The parse.
    pub(crate) parsed: Parsed,
    /// Warnings about the text itself rather than the ruleset (invalid UTF-8).
    pub(crate) notes: Vec<Diagnostic>,
}

/// Reads `path` (`-` = standard input) and parses it in whichever format it is.
pub(crate) fn read(path: &str, family: Option<FamilyArg>) -> anyhow::Result<Input> {
    let (name, bytes) = if path == "-" {
        let mut buf = Vec::new();
        std::io::stdin()
            .read_to_end(&mut buf)
            .context("cannot read standard input")?;
        ("<stdin>".to_string(), buf)
    } else {
        let bytes = std::fs::read(path).with_context(|| format!("cannot read `{path}`"))?;
        (path.to_string(), bytes)
    };
    let (text, invalid_at) = match String::from_utf8(bytes) {
        Ok(text) => (text, None),
        Err(e) => {
            let at = e.utf8_error().valid_up_to();
            (String::from_utf8_lossy(e.as_bytes()).into_owned(), Some(at))
        }
    };
    let parsed = parse_any(&text, family.map(Family::from));
    let notes = invalid_at
        .map(|at| not_utf8(&text, at))
        .into_iter()
        .collect();
    Ok(Input {
        name,
        text,
        parsed,
        notes,
    })
}

/// A warning at the first byte that is not UTF-8 (offset `at`, which the lossy text shares).
fn not_utf8(text: &str, at: usize) -> Diagnostic {
    let before = text.get(..at).unwrap_or("");
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let span = Span {
        line: u32::try_from(before.matches('\n').count() + 1).unwrap_or(u32::MAX),
        col: u32::try_from(before.get(line_start..).unwrap_or("").chars().count() + 1)
            .unwrap_or(u32::MAX),
        start: u32::try_from(at).unwrap_or(u32::MAX),
        end: u32::try_from(at + '\u{fffd}'.len_utf8()).unwrap_or(u32::MAX),
    };
    Diagnostic::warning(
        ParseError::new(span, "the input is not valid UTF-8")
            .with_help("each invalid byte was read as U+FFFD (�)"),
    )
}

/// Refuses `-` given more than once (standard input can be read only once).
pub(crate) fn check_stdin_once(paths: &[String]) -> anyhow::Result<()> {
    if paths.iter().filter(|p| *p == "-").count() > 1 {
        bail!("`-` (standard input) is given more than once");
    }
    Ok(())
}
