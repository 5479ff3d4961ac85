//! Reads scripts of `iptables` / `ip6tables` commands, as people keep them in shell scripts and
//! articles:
//!
//! ```text
//! # comments and blank lines are skipped
//! iptables -t nat -N KUBE-SERVICES
//! sudo iptables -t nat -A PREROUTING -m comment --comment "service portals" \
//!     -j KUBE-SERVICES
//! ```
//!
//! Words are split as a POSIX shell splits them (single and double quotes, backslash escapes,
//! backslash-newline continuations, `#` comments); every word keeps its byte span so errors point
//! at `file:line:col`. Each command may start with `sudo`, then names the program (`iptables`,
//! `ip6tables`, and their `-nft` / `-legacy` variants, with or without a directory), which also
//! gives the address family. `-t TABLE` may stand anywhere in the command; `-w` / `--wait` (with
//! an optional number of seconds) and `-W` / `--wait-interval` are accepted and ignored. The
//! commands understood are those that change a ruleset: `-A`, `-I`, `-D`, `-R`, `-N`, `-X`,
//! `-F`, `-P`. Shell syntax beyond plain words (variables, pipes, `;`, redirections) is refused
//! with a located error rather than guessed at.
//!
//! The commands are applied with the same [`Builder`] and rule parser as `iptables-save` input,
//! so both formats produce the same [`Parsed`] for the same ruleset.

use crate::model::{Family, Span, TableName};
use crate::syntax::build::Builder;
use crate::syntax::error::{ParseError, suggest};
use crate::syntax::save::{Parsed, parse_save, rule_line};
use crate::syntax::token::{MAX_ARG_LEN, Token};

/// The two input formats chainwalk reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// `iptables-save` output (`*table`, `:CHAIN`, `-A …`, `COMMIT`).
    Save,
    /// A script of `iptables …` commands.
    Commands,
}

/// The programs a command may name, with the family each works on.
const PROGRAMS: &[(&str, Family)] = &[
    ("iptables", Family::Ipv4),
    ("iptables-nft", Family::Ipv4),
    ("iptables-legacy", Family::Ipv4),
    ("ip6tables", Family::Ipv6),
    ("ip6tables-nft", Family::Ipv6),
    ("ip6tables-legacy", Family::Ipv6),
];

/// Commands that change a ruleset, in short and long spelling.
const COMMANDS: &[(&str, &str)] = &[
    ("-A", "--append"),
    ("-I", "--insert"),
    ("-D", "--delete"),
    ("-R", "--replace"),
    ("-N", "--new-chain"),
    ("-X", "--delete-chain"),
    ("-F", "--flush"),
    ("-P", "--policy"),
];

/// iptables commands that only read or are otherwise out of place in a script.
const OTHER_COMMANDS: &[&str] = &[
    "-L",
    "--list",
    "-S",
    "--list-rules",
    "-Z",
    "--zero",
    "-C",
    "--check",
    "-E",
    "--rename-chain",
    "-h",
    "--help",
    "-V",
    "--version",
];

/// Options whose value is free text, so a value such as `-A` after them is not a command.
const FREE_TEXT: &[&str] = &[
    "--comment",
    "--log-prefix",
    "--nflog-prefix",
    "--string",
    "--hex-string",
    "--name",
];

/// One shell word: its text after unquoting and where it stands (quotes included).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Word {
    /// The word after quote removal, as the program receives it in `argv`.
    pub text: String,
    /// Where the word stands in the input.
    pub span: Span,
}

/// Splits a whole script into commands (one per logical line) of shell words, and the errors
/// of the lines that could not be split.
///
/// A line with unsupported shell syntax is reported and skipped; an unclosed quote ends the
/// splitting, since the rest of the input is inside the quote, as it would be for the shell.
pub fn split_script(text: &str) -> (Vec<Vec<Word>>, Vec<ParseError>) {
    let lines = LineIndex::new(text);
    let mut errors = Vec::new();
    let bytes = text.as_bytes();
    let mut commands = Vec::new();
    let mut cur: Vec<Word> = Vec::new();
    let mut i = 0usize;
    while let Some(&b) = bytes.get(i) {
        match b {
            b' ' | b'\t' | b'\r' => i += 1,
            b'\n' => {
                if !cur.is_empty() {
                    commands.push(std::mem::take(&mut cur));
                }
                i += 1;
            }
            b'#' => {
                while bytes.get(i).is_some_and(|&c| c != b'\n') {
                    i += 1;
                }
            }
            b'\\' if continuation_len(bytes, i + 1).is_some() => {
                i += 1 + continuation_len(bytes, i + 1).unwrap_or(0);
            }
            _ => {
                let (end, word) = match word_end(text, i, &lines) {
                    Ok(end) => {
                        let raw = text.get(i..end).unwrap_or("");
                        let span = lines.span(i, end);
                        let word = unquote(raw).map(|text| Word { text, span }).ok_or(Stop {
                            error: ParseError::new(
                                span,
                                "this word cannot be split as a shell word",
                            ),
                            fatal: false,
                        });
                        (end, word)
                    }
                    Err(stop) => (i, Err(stop)),
                };
                match word {
                    Ok(w) => {
                        cur.push(w);
                        i = end;
                    }
                    Err(Stop { error, fatal }) => {
                        errors.push(error);
                        cur.clear();
                        if fatal {
                            return (commands, errors);
                        }
                        i = skip_line(bytes, i);
                    }
                }
            }
        }
    }
    if !cur.is_empty() {
        commands.push(cur);
    }
    (commands, errors)
}

/// Why a word could not be split, and whether splitting can go on with the next line.
struct Stop {
    error: ParseError,
    fatal: bool,
}

/// The offset of the newline that ends the logical line containing `at` (continuations
/// followed), or the end of the input.
fn skip_line(bytes: &[u8], mut at: usize) -> usize {
    while let Some(&b) = bytes.get(at) {
        match b {
            b'\\' => at += 1 + continuation_len(bytes, at + 1).unwrap_or(1),
            b'\n' => break,
            _ => at += 1,
        }
    }
    at
}

/// The length of a line end (`\n` or `\r\n`) at `at`, if there is one.
fn continuation_len(bytes: &[u8], at: usize) -> Option<usize> {
    match (bytes.get(at), bytes.get(at + 1)) {
        (Some(b'\n'), _) => Some(1),
        (Some(b'\r'), Some(b'\n')) => Some(2),
        _ => None,
    }
}

/// Where the word starting at `start` ends, or why it is not a plain shell word.
fn word_end(text: &str, start: usize, lines: &LineIndex) -> Result<usize, Stop> {
    let fatal = |error: ParseError| Stop { error, fatal: true };
    let bytes = text.as_bytes();
    let mut i = start;
    while let Some(&b) = bytes.get(i) {
        match b {
            b' ' | b'\t' | b'\r' | b'\n' => break,
            b'\\' => {
                if bytes.get(i + 1).is_none() {
                    return Err(fatal(ParseError::new(
                        lines.span(i, i + 1),
                        "backslash at the end of the input",
                    )
                    .with_help("a backslash continues the command on the next line; add that line or remove the backslash")));
                }
                i += 1 + continuation_len(bytes, i + 1).unwrap_or(1);
            }
            b'\'' => {
                let close = bytes
                    .get(i + 1..)
                    .and_then(|rest| rest.iter().position(|&c| c == b'\''));
                match close {
                    Some(n) => i += n + 2,
                    None => {
                        return Err(fatal(ParseError::new(
                            lines.span(i, i + 1),
                            "unbalanced single quote: this quote is never closed",
                        )));
                    }
                }
            }
            b'"' => {
                let mut j = i + 1;
                loop {
                    match bytes.get(j) {
                        None => {
                            return Err(fatal(ParseError::new(
                                lines.span(i, i + 1),
                                "unbalanced double quote: this quote is never closed",
                            )));
                        }
                        Some(b'\\') => j += 2,
                        Some(b'"') => break,
                        Some(b'$' | b'`') => {
                            return Err(Stop {
                                error: shell_syntax(lines.span(j, j + 1), bytes.get(j)),
                                fatal: false,
                            });
                        }
                        Some(_) => j += 1,
                    }
                }
                i = j + 1;
            }
            b';' | b'|' | b'&' | b'<' | b'>' | b'(' | b')' | b'$' | b'`' => {
                return Err(Stop {
                    error: shell_syntax(lines.span(i, i + 1), Some(&b)),
                    fatal: false,
                });
            }
            _ => i += 1,
        }
    }
    Ok(i)
}

fn shell_syntax(span: Span, b: Option<&u8>) -> ParseError {
    let c = b.map(|&b| char::from(b)).unwrap_or('?');
    let what = match c {
        '$' => "shell variables and substitutions are not expanded",
        '`' => "command substitution is not supported",
        ';' | '&' | '|' => "only one command per line is supported",
        _ => "redirections and subshells are not supported",
    };
    ParseError::new(span, format!("unsupported shell syntax `{c}`: {what}"))
        .with_help("write each iptables command on its own line with literal arguments; quote the character if it is part of an argument")
}

/// Removes quotes and escapes from one raw word, as the shell does.
fn unquote(raw: &str) -> Option<String> {
    let normalised;
    let raw = if raw.contains('\r') {
        normalised = raw.replace("\r\n", "\n");
        normalised.as_str()
    } else {
        raw
    };
    let mut words = shlex::split(raw)?;
    match words.len() {
        1 => words.pop(),
        _ => None,
    }
}

/// Maps byte offsets to lines and columns.
struct LineIndex<'a> {
    text: &'a str,
    starts: Vec<usize>,
}

impl<'a> LineIndex<'a> {
    fn new(text: &'a str) -> LineIndex<'a> {
        let mut starts = vec![0];
        starts.extend(
            text.bytes()
                .enumerate()
                .filter(|(_, b)| *b == b'\n')
                .map(|(i, _)| i + 1),
        );
        LineIndex { text, starts }
    }

    fn span(&self, start: usize, end: usize) -> Span {
        let idx = self.starts.partition_point(|&s| s <= start).max(1) - 1;
        let line_start = self.starts.get(idx).copied().unwrap_or(0);
        let col = self
            .text
            .get(line_start..start)
            .map(|s| s.chars().count())
            .unwrap_or(0);
        Span {
            line: u32::try_from(idx + 1).unwrap_or(u32::MAX),
            col: u32::try_from(col + 1).unwrap_or(u32::MAX),
            start: crate::syntax::token::to_u32(start),
            end: crate::syntax::token::to_u32(end.min(self.text.len())),
        }
    }
}

/// The family a program name works on, when it is one of the iptables programs.
fn program_family(word: &str) -> Option<Family> {
    let base = word.rsplit('/').next().unwrap_or(word);
    PROGRAMS
        .iter()
        .find(|(name, _)| *name == base)
        .map(|(_, f)| *f)
}

/// Parses a script of iptables commands. The family comes from the first command's program
/// (`iptables` or `ip6tables`), else from `family`, else IPv4; every command must name a program
/// of that family.
pub fn parse_commands(text: &str, family: Option<Family>) -> Parsed {
    let (commands, errors) = split_script(text);
    let first = commands.iter().find_map(|words| {
        let prog = words.iter().find(|w| w.text != "sudo")?;
        program_family(&prog.text)
    });
    let family = first.or(family).unwrap_or(Family::Ipv4);
    let mut b = Builder::new(family);
    for e in errors {
        b.error(e);
    }
    for words in &commands {
        if let Err(e) = command(&mut b, text, words, family) {
            b.error(e);
        }
    }
    b.finish()
}

/// Applies one command (its words, program included) to the builder.
fn command(b: &mut Builder, text: &str, words: &[Word], family: Family) -> Result<(), ParseError> {
    let mut words = words;
    if let Some(w) = words.first()
        && w.text == "sudo"
    {
        words = words.get(1..).unwrap_or(&[]);
        if let Some(opt) = words.first().filter(|w| w.text.starts_with('-')) {
            return Err(ParseError::new(
                opt.span,
                format!("`sudo` options such as `{}` are not supported", opt.text),
            ));
        }
    }
    let Some(prog) = words.first() else {
        return Ok(());
    };
    let Some(prog_family) = program_family(&prog.text) else {
        let mut e = ParseError::new(
            prog.span,
            format!("expected an iptables command, found `{}`", prog.text),
        );
        let base = prog.text.rsplit('/').next().unwrap_or(&prog.text);
        e = match suggest(base, PROGRAMS.iter().map(|(n, _)| *n)) {
            Some(s) => e.with_help(format!("did you mean `{s}`?")),
            None => {
                e.with_help("each line must run iptables or ip6tables (optionally after `sudo`)")
            }
        };
        return Err(e);
    };
    if prog_family != family {
        let (want, got) = match family {
            Family::Ipv4 => ("iptables", "ip6tables"),
            Family::Ipv6 => ("ip6tables", "iptables"),
        };
        return Err(ParseError::new(
            prog.span,
            format!("`{got}` command in a script of `{want}` commands"),
        )
        .with_help(
            "one ruleset has one address family; keep IPv4 and IPv6 commands in separate files",
        ));
    }

    check_words(words)?;
    let mut table: Option<(TableName, Span)> = None;
    let mut cmd: Option<&Word> = None;
    let mut after: Vec<Token> = Vec::new();
    let mut before: Vec<Token> = Vec::new();
    let mut i = 1usize;
    let mut prev_free_text = false;
    while let Some(w) = words.get(i) {
        i += 1;
        if std::mem::take(&mut prev_free_text) {
            push(&mut before, &mut after, cmd.is_some(), w);
            continue;
        }
        let t = w.text.as_str();
        let table_value = if t == "-t" || t == "--table" {
            let v = words
                .get(i)
                .ok_or_else(|| ParseError::new(w.span, format!("`{t}` requires a table name")))?;
            i += 1;
            Some((v.text.as_str(), v.span))
        } else {
            t.strip_prefix("--table=")
                .or_else(|| t.strip_prefix("-t").filter(|v| !v.is_empty()))
                .map(|v| (v, w.span))
        };
        if let Some((name, span)) = table_value {
            if let Some((_, first)) = table {
                return Err(
                    ParseError::new(span, "the table is given twice in one command")
                        .with_help(format!("the first `-t` is at column {}", first.col)),
                );
            }
            let t = TableName::from_name(name).ok_or_else(|| {
                let mut e = ParseError::new(span, format!("unknown table `{name}`"));
                e = match suggest(name, TableName::ALL.iter().map(|t| t.as_str())) {
                    Some(s) => e.with_help(format!("did you mean `{s}`?")),
                    None => e.with_help("the tables are raw, mangle, nat, filter and security"),
                };
                e
            })?;
            table = Some((t, span));
            continue;
        }
        match t {
            "-w" | "--wait" => {
                if words
                    .get(i)
                    .is_some_and(|v| v.text.parse::<f64>().is_ok_and(f64::is_finite))
                {
                    i += 1;
                }
                continue;
            }
            "-W" | "--wait-interval" => {
                i += 1;
                continue;
            }
            _ => {}
        }
        if t.strip_prefix("-w")
            .is_some_and(|n| n.parse::<u32>().is_ok())
            || t.starts_with("--wait=")
            || t.starts_with("--wait-interval=")
        {
            continue;
        }
        if COMMANDS.iter().any(|(s, l)| *s == t || *l == t) {
            if let Some(first) = cmd {
                return Err(ParseError::new(
                    w.span,
                    format!("a second command `{t}` in one iptables call"),
                )
                .with_help(format!(
                    "`{}` at column {} is already this line's command; put each on its own line",
                    first.text, first.span.col
                )));
            }
            cmd = Some(w);
            continue;
        }
        if OTHER_COMMANDS.contains(&t) {
            return Err(ParseError::new(
                w.span,
                format!("`{t}` does not change the ruleset and is not supported in a script"),
            )
            .with_help("the commands understood are -A, -I, -D, -R, -N, -X, -F and -P"));
        }
        prev_free_text = FREE_TEXT.contains(&t);
        push(&mut before, &mut after, cmd.is_some(), w);
    }
    let table_span = table.map(|(_, s)| s).unwrap_or(prog.span);
    b.select_table(
        table.map(|(t, _)| t).unwrap_or(TableName::Filter),
        table_span,
    );
    let Some(cmd) = cmd else {
        return Err(
            ParseError::new(prog.span, format!("`{}` without a command", prog.text))
                .with_help("give one of -A, -I, -D, -R, -N, -X, -F, -P"),
        );
    };
    let mut toks = Vec::with_capacity(after.len() + before.len() + 1);
    toks.push(token(cmd));
    toks.extend(after);
    toks.extend(before);
    let last = words.last().map(|w| w.span).unwrap_or(cmd.span);
    let end = Span {
        col: last.col
            + text
                .get(last.range())
                .map(|w| u32::try_from(w.chars().count()).unwrap_or(0))
                .unwrap_or(0),
        start: last.end,
        end: last.end,
        ..last
    };
    rule_line(b, &toks, end)
}

/// Refuses arguments that the `iptables-save` form cannot hold: line breaks, and (except for
/// address lists, which are split into one rule per address) more than [`MAX_ARG_LEN`] bytes.
fn check_words(words: &[Word]) -> Result<(), ParseError> {
    for (k, w) in words.iter().enumerate().skip(1) {
        if w.text.contains(['\n', '\r']) {
            return Err(ParseError::new(w.span, "an argument with a line break in it")
                .with_help("iptables-save cannot write such an argument back; remove the line break from inside the quotes"));
        }
        let after_address_option = k
            .checked_sub(1)
            .and_then(|p| words.get(p))
            .is_some_and(|p| ADDRESS_OPTIONS.contains(&p.text.as_str()));
        if w.text.len() > MAX_ARG_LEN && !after_address_option {
            return Err(ParseError::new(
                w.span,
                format!(
                    "argument of {} bytes; iptables-restore reads at most {MAX_ARG_LEN}",
                    w.text.len()
                ),
            ));
        }
    }
    Ok(())
}

/// Options whose value may be a comma-separated address list.
const ADDRESS_OPTIONS: &[&str] = &["-s", "--source", "--src", "-d", "--destination", "--dst"];

fn push<'w>(before: &mut Vec<Token<'w>>, after: &mut Vec<Token<'w>>, seen_cmd: bool, w: &'w Word) {
    if seen_cmd {
        after.push(token(w));
    } else {
        before.push(token(w));
    }
}

/// A shell word as the rule parser sees it. Quoting is gone by the time iptables reads `argv`,
/// so a quoted `"!"` negates just as a bare one does.
fn token(w: &Word) -> Token<'_> {
    Token {
        text: std::borrow::Cow::Borrowed(&w.text),
        span: w.span,
        quoted: false,
    }
}

/// Tells which format `text` is in: `iptables-save` when its first line that is not blank or a
/// comment starts like a restore line (`*`, `:`, `-`, `[` or `COMMIT`), otherwise a command
/// script.
pub fn detect_format(text: &str) -> Format {
    let first = text
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty() && !l.starts_with('#'));
    match first {
        None => Format::Save,
        Some(l) if l.starts_with(['*', ':', '-', '[']) || l == "COMMIT" => Format::Save,
        Some(_) => Format::Commands,
    }
}

/// Parses either format, telling them apart with [`detect_format`].
pub fn parse_any(text: &str, family: Option<Family>) -> Parsed {
    match detect_format(text) {
        Format::Save => parse_save(text, family),
        Format::Commands => parse_commands(text, family),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::syntax::print_save;

    fn words(text: &str) -> Vec<Vec<String>> {
        let (cmds, errors) = split_script(text);
        assert!(errors.is_empty(), "{errors:?}");
        cmds.into_iter()
            .map(|c| c.into_iter().map(|w| w.text).collect())
            .collect()
    }

    #[test]
    fn splits_like_a_shell() {
        assert_eq!(
            words("a 'b c' \"d \\\" e\" f\\ g # comment\n\n  # only comment\nh"),
            vec![vec!["a", "b c", "d \" e", "f g"], vec!["h"]]
        );
        assert_eq!(
            words("a \\\n  b\\\r\n c\r\nd"),
            vec![vec!["a", "b", "c"], vec!["d"]]
        );
        assert_eq!(words("x#y ''"), vec![vec!["x#y", ""]]);
    }

    #[test]
    fn word_spans() {
        let (cmds, _) = split_script("# c\n  iptables -A 'X Y' \\\n   -j  ACCEPT\n");
        let ws = &cmds[0];
        assert_eq!(ws[2].text, "X Y");
        assert_eq!(
            (
                ws[2].span.line,
                ws[2].span.col,
                ws[2].span.start,
                ws[2].span.end
            ),
            (2, 15, 18, 23)
        );
        assert_eq!((ws[4].span.line, ws[4].span.col), (3, 8));
    }

    #[test]
    fn shell_errors_are_located() {
        let one = |text: &str| {
            let (_, mut errors) = split_script(text);
            assert_eq!(errors.len(), 1, "{errors:?}");
            errors.remove(0)
        };
        let e = one("iptables -A X\niptables -A 'oops\niptables -A \"x\n");
        assert_eq!((e.span.line, e.span.col), (2, 13));
        let e = one("iptables -A $CHAIN");
        assert_eq!((e.span.line, e.span.col), (1, 13));
        assert!(e.message.contains("not expanded"), "{}", e.message);
        let e = one("iptables -F; iptables -X");
        assert_eq!(e.span.col, 12);
        // A line with shell syntax is skipped (continuations included); the next lines are read.
        let (cmds, errors) = split_script("iptables -F \\\n  | x ; y\niptables -X\n");
        assert_eq!((errors.len(), errors[0].span.line), (1, 2));
        assert_eq!(cmds.len(), 1);
        assert_eq!(cmds[0][1].text, "-X");
    }

    #[test]
    fn table_anywhere_and_family_from_program() {
        let p = parse_commands(
            "sudo /usr/sbin/ip6tables -w -A INPUT -t mangle -s ::1 -j ACCEPT\n\
             ip6tables-nft -P FORWARD DROP --wait 3",
            None,
        );
        assert!(!p.has_errors(), "{:?}", p.diagnostics);
        assert_eq!(p.ruleset.family, Some(Family::Ipv6));
        let text = print_save(&p.ruleset);
        assert!(text.contains("*mangle\n"), "{text}");
        assert!(text.contains("-A INPUT -s ::1/128 -j ACCEPT"), "{text}");
        assert!(text.contains(":FORWARD DROP"), "{text}");
    }

    #[test]
    fn same_parsed_as_save() {
        let script = "iptables -N X\niptables -I INPUT -p tcp --dport 22 -j X\n\
                      iptables -I INPUT 1 -j DROP\niptables -A X -j RETURN\n";
        let save = "*filter\n:INPUT ACCEPT [0:0]\n:X - [0:0]\n-A INPUT -j DROP\n\
                    -A INPUT -p tcp -m tcp --dport 22 -j X\n-A X -j RETURN\nCOMMIT\n";
        let a = parse_commands(script, None);
        let b = parse_save(save, None);
        assert!(!a.has_errors() && !b.has_errors(), "{:?}", a.diagnostics);
        assert_eq!(print_save(&a.ruleset), print_save(&b.ruleset));
    }

    #[test]
    fn command_errors() {
        let one = |text: &str| {
            let p = parse_commands(text, None);
            assert_eq!(p.diagnostics.len(), 1, "{text}: {:?}", p.diagnostics);
            p.diagnostics[0].error.clone()
        };
        let e = one("iptable -A INPUT -j ACCEPT");
        assert_eq!(e.help.as_deref(), Some("did you mean `iptables`?"));
        let e = one("iptables -A INPUT -j ACCEPT -D INPUT 1");
        assert_eq!(e.span.col, 29);
        let e = one("iptables -L");
        assert_eq!(e.span.col, 10);
        let e = one("iptables -t filer -A INPUT");
        assert_eq!(
            (e.span.col, e.help.as_deref()),
            (13, Some("did you mean `filter`?"))
        );
        let e = one("iptables -A INPUT -j ACCEPT\nip6tables -A INPUT -j ACCEPT");
        assert_eq!((e.span.line, e.span.col), (2, 1));
        let e = one("iptables -t nat");
        assert!(e.message.contains("without a command"));
        let e = one("iptables -A INPUT -p tcp --dprot 22");
        assert_eq!(e.span.col, 26);
        let p = parse_commands("iptables -A INPUT -m comment --comment -A -j ACCEPT", None);
        assert!(p.diagnostics.is_empty(), "{:?}", p.diagnostics);
    }

    #[test]
    fn formats() {
        assert_eq!(detect_format("# x\n*filter\nCOMMIT\n"), Format::Save);
        assert_eq!(detect_format("-A INPUT -j ACCEPT"), Format::Save);
        assert_eq!(detect_format(""), Format::Save);
        assert_eq!(detect_format("#!/bin/sh\niptables -F\n"), Format::Commands);
    }
}
