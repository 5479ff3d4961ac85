//! Parses the options of one rule (everything after `-A CHAIN`) into a [`Rule`], the way
//! iptables reads them: generic options, `-m` matches with their options, implicit protocol
//! matches (`-p tcp --dport 22`), and the target with its options.

use std::sync::Arc;

use rustc_hash::FxHashMap;

use crate::ext::{self, Match, Opaque};
use crate::model::{AddrMask, Family, Iface, IpMatch, Neg, Protocol, Rule, Span};
use crate::syntax::args::Args;
use crate::syntax::error::{Diagnostic, ParseError, suggest};
use crate::syntax::token::Token;
use crate::target::{self, Target};

/// Generic options, for suggestions.
const GENERIC: &[&str] = &[
    "-s",
    "-d",
    "-i",
    "-o",
    "-p",
    "-f",
    "-m",
    "-j",
    "-g",
    "-c",
    "--source",
    "--destination",
    "--in-interface",
    "--out-interface",
    "--protocol",
    "--fragment",
    "--match",
    "--jump",
    "--goto",
];

/// The most rules one line may expand into through `-s`/`-d` address lists (iptables makes one
/// rule per source × destination pair); a bound so that no input can exhaust memory.
pub const MAX_EXPANSION: usize = 4096;

/// The result of parsing one rule's options: the rules it stands for (more than one when `-s` or
/// `-d` list several addresses, as iptables expands them) and warnings.
#[derive(Debug)]
pub struct ParsedRule {
    /// The rules, in the order iptables would append them.
    pub rules: Vec<Rule>,
    /// Warnings (unmodelled extensions kept verbatim).
    pub warnings: Vec<Diagnostic>,
}

/// Parses `toks` (the options after `-A CHAIN`) into rules. `end` is where to point when
/// something is missing at the end of the line.
pub fn parse_rule(toks: &[Token], family: Family, end: Span) -> Result<ParsedRule, ParseError> {
    parse_rule_in(toks, family, end, None)
}

/// Like [`parse_rule`]; jumps to the chains of `names` share the chain's name.
pub(crate) fn parse_rule_in<'t>(
    toks: &'t [Token<'t>],
    family: Family,
    end: Span,
    names: Option<&'t FxHashMap<Arc<str>, usize>>,
) -> Result<ParsedRule, ParseError> {
    let mut args = Args::new(toks, family, end);
    args.share_names(names);
    let mut ip = IpMatch::default();
    let mut srcs: Vec<AddrMask> = Vec::new();
    let mut dsts: Vec<AddrMask> = Vec::new();
    let mut list_span: Option<Span> = None;
    let mut src_neg = false;
    let mut dst_neg = false;
    let mut matches: Vec<(Match, Span)> = Vec::new();
    let mut target: Option<(Target, Span)> = None;
    let mut counters = None;
    let mut warnings = Vec::new();

    while let Some(tok) = args.peek() {
        // Options of the target, then of the matches already loaded (latest first), as
        // iptables dispatches every option to whichever loaded extension owns it.
        if let Some((t, _)) = target.as_mut()
            && let Some(opt) = args.option(t.options())
        {
            t.option(opt, &mut args)?;
            continue;
        }
        if let Some(i) = (0..matches.len()).rev().find(|i| {
            let (m, _) = &matches[*i];
            option_name(&args).is_some_and(|n| m.options().iter().any(|o| o.starts_with(n)))
        }) {
            let (m, _) = &mut matches[i];
            if let Some(opt) = args.option(m.options()) {
                m.option(opt, &mut args)?;
                continue;
            }
        }
        let (negated, tok) = if tok.text == "!" && !tok.quoted {
            match args.peek2() {
                Some(next) => (true, next),
                None => return Err(ParseError::new(tok.span, "`!` at the end of the rule")),
            }
        } else {
            (false, tok)
        };
        let opt_span = tok.span;
        match tok.as_str() {
            "-s" | "--source" | "--src" | "-d" | "--destination" | "--dst" => {
                skip(&mut args, negated);
                let is_src = matches!(tok.as_str(), "-s" | "--source" | "--src");
                let (neg2, v) = value_with_neg(&mut args, tok)?;
                let list = parse_addr_list(v, family)?;
                if list.len() > 1 {
                    list_span = Some(v.span);
                }
                if is_src {
                    srcs = list;
                    src_neg = negated || neg2;
                } else {
                    dsts = list;
                    dst_neg = negated || neg2;
                }
            }
            "-i" | "--in-interface" | "-o" | "--out-interface" => {
                skip(&mut args, negated);
                let (neg2, v) = value_with_neg(&mut args, tok)?;
                let iface = Iface::new(&v.text).ok_or_else(|| {
                    ParseError::new(v.span, format!("invalid interface name `{}`", v.text))
                        .with_help("interface names are 1 to 15 characters, `+` at the end matches any suffix")
                })?;
                let val = Some(Neg {
                    negated: negated || neg2,
                    value: iface,
                });
                let ifaces = ip.ifaces.get_or_insert_default();
                if tok.text.starts_with("-i") || tok.text == "--in-interface" {
                    ifaces.input = val;
                } else {
                    ifaces.output = val;
                }
            }
            "-p" | "--protocol" => {
                skip(&mut args, negated);
                let (neg2, v) = value_with_neg(&mut args, tok)?;
                let p = Protocol::parse(&v.text).ok_or_else(|| {
                    ParseError::new(v.span, format!("unknown protocol `{}`", v.text))
                })?;
                let negated = negated || neg2;
                if !p.is_any() || negated {
                    ip.proto = Some(Neg { negated, value: p });
                    args.proto = (!negated).then_some(p);
                    args.proto_inverted = negated;
                }
            }
            "-f" | "--fragment" => {
                skip(&mut args, negated);
                args.bump();
                if family == Family::Ipv6 {
                    return Err(ParseError::new(
                        opt_span,
                        "`-f` is IPv4 only; use `-m frag`",
                    ));
                }
                ip.fragment = Some(Neg { negated, value: () });
            }
            "-m" | "--match" => {
                if negated {
                    return Err(ParseError::new(opt_span, "`!` cannot negate `-m`"));
                }
                args.bump();
                let name = args
                    .bump()
                    .ok_or_else(|| ParseError::new(opt_span, "`-m` requires a match name"))?;
                let m = load_match(name, &mut args, &mut warnings)?;
                matches.push((m, name.span));
            }
            "-j" | "--jump" | "-g" | "--goto" => {
                if negated {
                    return Err(ParseError::new(opt_span, "`!` cannot negate a target"));
                }
                args.bump();
                let name = args.bump().ok_or_else(|| {
                    ParseError::new(opt_span, format!("`{}` requires a target name", tok.text))
                })?;
                if let Some((_, first)) = &target {
                    return Err(ParseError::new(name.span, "a rule has only one target")
                        .with_help(format!("the first target is at column {}", first.col)));
                }
                let goto = matches!(tok.as_str(), "-g" | "--goto");
                let t = load_target(name, goto, &mut args, &mut warnings)?;
                target = Some((t, name.span));
            }
            "-c" | "--set-counters" => {
                skip(&mut args, negated);
                args.bump();
                let p = args.bump();
                let b = args.bump();
                let (Some(p), Some(b)) = (p, b) else {
                    return Err(ParseError::new(
                        opt_span,
                        "`-c` requires packet and byte counts",
                    ));
                };
                let num = |t: &Token| {
                    t.text.parse::<u64>().map_err(|_| {
                        ParseError::new(t.span, format!("invalid counter `{}`", t.text))
                    })
                };
                counters = Some(Box::new(crate::model::Counters {
                    packets: num(p)?,
                    bytes: num(b)?,
                }));
            }
            text if text.starts_with("--") => {
                // An option no loaded extension owns: the protocol's own match is loaded
                // implicitly, as iptables does for `-p tcp --dport 22` — once, and only for an
                // option it resolves (else the option would never be consumed).
                if let Some(m) = implicit_match(&args)
                    && !matches.iter().any(|(x, _)| x.name() == m.name())
                    && crate::syntax::args::resolve(text, m.options()).is_some()
                {
                    matches.push((m, opt_span));
                    continue;
                }
                let implicit = implicit_match(&args);
                return Err(unknown_option(
                    text,
                    opt_span,
                    &matches,
                    target.as_ref(),
                    implicit.as_ref(),
                ));
            }
            text => {
                let mut e = ParseError::new(opt_span, format!("unexpected argument `{text}`"));
                if text.starts_with('-') {
                    e.message = format!("unknown option `{text}`");
                    if let Some(s) = suggest(text, GENERIC.iter().copied()) {
                        e = e.with_help(format!("did you mean `{s}`?"));
                    }
                }
                return Err(e);
            }
        }
    }

    for (m, at) in &mut matches {
        m.finish(&args, *at)?;
    }
    ext::merge::merge_transport(&mut matches);
    if let Some((t, at)) = target.as_mut() {
        t.finish(&args, *at)?;
    }

    // Allocated at its size: collecting in place would shrink the list's block, and a
    // shrunk block leaves a fragment for the allocator to merge later.
    let mut exact = Vec::with_capacity(matches.len());
    exact.extend(matches.into_iter().map(|(m, _)| m));
    let matches: Box<[Match]> = exact.into_boxed_slice();
    let target_span = target.as_ref().map(|(_, s)| *s).unwrap_or_default();
    let target = target.map(|(t, _)| t);
    let expanded = srcs.len().max(1).saturating_mul(dsts.len().max(1));
    if expanded > MAX_EXPANSION {
        return Err(ParseError::new(
            list_span.unwrap_or(args.end),
            format!(
                "these address lists expand into {expanded} rules; at most {MAX_EXPANSION} are read from one line"
            ),
        )
        .with_help("split the lists over several rules, or use an ipset"));
    }
    // One rule per source x destination pair; the last one takes the parts the others copy.
    let keep = |list: &[AddrMask], i: usize, negated: bool| {
        list.get(i)
            .map(|a| Neg { negated, value: *a })
            .filter(|a| a.negated || !a.value.is_any())
            .map(Box::new)
    };
    let (n_src, n_dst) = (srcs.len().max(1), dsts.len().max(1));
    let mut rules = Vec::with_capacity(n_src * n_dst);
    let mut ip = Some(ip);
    let mut matches = Some(matches);
    let mut target = Some(target);
    let mut counters = Some(counters);
    for si in 0..n_src {
        for di in 0..n_dst {
            let last = si + 1 == n_src && di + 1 == n_dst;
            let (Some(mut ip), Some(matches), Some(target), Some(counters)) = (
                take_or_clone(&mut ip, last),
                take_or_clone(&mut matches, last),
                take_or_clone(&mut target, last),
                take_or_clone(&mut counters, last),
            ) else {
                continue;
            };
            ip.src = keep(&srcs, si, src_neg);
            ip.dst = keep(&dsts, di, dst_neg);
            rules.push(Rule {
                ip,
                matches,
                target,
                counters,
                span: Span::default(),
                target_span,
            });
        }
    }
    Ok(ParsedRule { rules, warnings })
}

fn take_or_clone<T: Clone>(x: &mut Option<T>, take: bool) -> Option<T> {
    if take { x.take() } else { x.clone() }
}

fn skip(args: &mut Args<'_>, negated: bool) {
    if negated {
        args.bump();
    }
}

/// The name of the next option (after an optional `!`), if the next argument is an option.
fn option_name<'t>(args: &Args<'t>) -> Option<&'t str> {
    let t = match args.peek() {
        Some(t) if t.text == "!" && !t.quoted => args.peek2()?,
        Some(t) => t,
        None => return None,
    };
    (!t.quoted && t.text.starts_with("--")).then_some(t.as_str())
}

/// Consumes a generic option and its value, accepting the old `-s ! ADDR` negation form.
fn value_with_neg<'t>(
    args: &mut Args<'t>,
    opt: &Token,
) -> Result<(bool, &'t Token<'t>), ParseError> {
    args.bump();
    let mut negated = false;
    if let Some(t) = args.peek()
        && t.text == "!"
        && !t.quoted
        && args.peek2().is_some()
    {
        negated = true;
        args.bump();
    }
    let v = args.bump().ok_or_else(|| {
        ParseError::new(opt.span, format!("option `{}` requires a value", opt.text))
    })?;
    Ok((negated, v))
}

fn parse_addr_list(v: &Token, family: Family) -> Result<Vec<AddrMask>, ParseError> {
    let mut out = Vec::new();
    for part in v.text.split(',') {
        let a = AddrMask::parse(part).map_err(|e| {
            let mut err = ParseError::new(v.span, format!("invalid address `{part}`: {e}"));
            if part.chars().any(|c| c.is_ascii_alphabetic()) && !part.contains(':') {
                err = err.with_help("host names are not resolved; give an address");
            }
            err
        })?;
        if a.family() != family {
            return Err(ParseError::new(
                v.span,
                format!(
                    "`{part}` is an {} address, but this is an {} ruleset",
                    fam(a.family()),
                    fam(family)
                ),
            ));
        }
        out.push(a);
    }
    Ok(out)
}

fn fam(f: Family) -> &'static str {
    match f {
        Family::Ipv4 => "IPv4",
        Family::Ipv6 => "IPv6",
    }
}

fn load_match(
    name: &Token,
    args: &mut Args<'_>,
    warnings: &mut Vec<Diagnostic>,
) -> Result<Match, ParseError> {
    if let Some(mut m) = Match::new_by_name(&name.text) {
        let start = args.position();
        let mut result = Ok(());
        while let Some(opt) = args.option(m.options()) {
            result = m.option(opt, args);
            if result.is_err() {
                break;
            }
        }
        let Err(e) = result else { return Ok(m) };
        args.rewind(start);
        let o = Opaque::collect(name, args);
        if name.text == "mac" && o.args.iter().any(|a| ext::mac::is_placeholder(a)) {
            warnings.push(Diagnostic::warning(
                ParseError::new(
                    name.span,
                    "redacted MAC address: match kept verbatim; the kernel would refuse this rule",
                )
                .with_help("put the real address back before restoring this ruleset"),
            ));
            return Ok(Match::Opaque(Box::new(o)));
        }
        return Err(e);
    }
    if ext::KNOWN_UNMODELLED.contains(&name.as_str()) {
        let o = Opaque::collect(name, args);
        warnings.push(Diagnostic::warning(ParseError::new(
            name.span,
            format!(
                "match `{}` is not modelled: kept verbatim, and traces treat it as unknown",
                name.text
            ),
        )));
        return Ok(Match::Opaque(Box::new(o)));
    }
    let all = ext::MODELLED
        .iter()
        .chain(ext::KNOWN_UNMODELLED.iter())
        .copied();
    let mut e = ParseError::new(name.span, format!("unknown match `{}`", name.text));
    if let Some(s) = suggest(&name.text, all) {
        e = e.with_help(format!("did you mean `{s}`?"));
    }
    Err(e)
}

fn load_target(
    name: &Token,
    goto: bool,
    args: &mut Args<'_>,
    warnings: &mut Vec<Diagnostic>,
) -> Result<Target, ParseError> {
    let n = name.as_str();
    if goto {
        if matches!(n, "ACCEPT" | "DROP" | "RETURN" | "QUEUE") || Target::new_extension(n).is_some()
        {
            return Err(ParseError::new(
                name.span,
                format!("`-g` needs a user chain, not `{n}`"),
            ));
        }
        return Ok(Target::Goto(args.chain_name(n)));
    }
    match n {
        "ACCEPT" => return Ok(Target::Accept),
        "DROP" => return Ok(Target::Drop),
        "RETURN" => return Ok(Target::Return),
        "QUEUE" => return Ok(Target::Queue),
        _ => {}
    }
    if let Some(mut t) = Target::new_extension(n) {
        let start = args.position();
        let mut result = Ok(());
        while let Some(opt) = args.option(t.options()) {
            result = t.option(opt, args);
            if result.is_err() {
                break;
            }
        }
        match result {
            Ok(()) => return Ok(t),
            // Mismatched iptables binaries print broken NAT options (an empty
            // `--to-destination`, the option repeated); such a rule is kept verbatim with a
            // warning, so one garbled rule does not make a whole saved ruleset unreadable.
            Err(e) if matches!(n, "DNAT" | "SNAT") => {
                args.rewind(start);
                warnings.push(Diagnostic::warning(
                    ParseError::new(
                        name.span,
                        format!(
                            "malformed {n} target ({}): kept verbatim; iptables-restore and the \
                             kernel would refuse this rule",
                            e.message
                        ),
                    )
                    .with_help(
                        "this rendering comes from an iptables binary that does not match the \
                         kernel's ruleset (iptables-nft vs legacy); re-save it with the right one",
                    ),
                ));
                return Ok(Target::Opaque(Box::new(Opaque::collect(name, args))));
            }
            Err(e) => return Err(e),
        }
    }
    if target::KNOWN_UNMODELLED.contains(&n) {
        warnings.push(Diagnostic::warning(ParseError::new(
            name.span,
            format!("target `{n}` is not modelled: kept verbatim, and traces treat it as unknown"),
        )));
        return Ok(Target::Opaque(Box::new(Opaque::collect(name, args))));
    }
    if n.is_empty() || n.len() > 28 || n.starts_with('-') || n.starts_with('!') {
        return Err(ParseError::new(
            name.span,
            format!("invalid chain name `{n}`"),
        ));
    }
    Ok(Target::Jump(args.chain_name(n)))
}

fn implicit_match(args: &Args<'_>) -> Option<Match> {
    let name = match args.proto? {
        Protocol::TCP => "tcp",
        Protocol::UDP => "udp",
        Protocol::ICMP => "icmp",
        Protocol::ICMPV6 => "icmp6",
        Protocol::SCTP => "sctp",
        Protocol::DCCP => "dccp",
        Protocol::UDPLITE => "udplite",
        _ => return None,
    };
    Match::new_by_name(name)
}

fn unknown_option(
    text: &str,
    span: Span,
    matches: &[(Match, Span)],
    target: Option<&(Target, Span)>,
    implicit: Option<&Match>,
) -> ParseError {
    let owner = match (target, matches.last(), implicit) {
        (Some((t, _)), _, _) => Some((format!("target `{}`", t.name()), t.options())),
        (None, Some((m, _)), _) => Some((format!("match `{}`", m.name()), m.options())),
        (None, None, Some(m)) => Some((format!("match `{}`", m.name()), m.options())),
        _ => None,
    };
    match owner {
        Some((who, opts)) => {
            let mut e = ParseError::new(span, format!("unknown option `{text}` for {who}"));
            if let Some(s) = suggest(text, opts.iter().copied()) {
                e = e.with_help(format!("did you mean `{s}`?"));
            } else if !opts.is_empty() {
                e = e.with_help(format!("{who} takes {}", opts.join(", ")));
            }
            e
        }
        None => {
            let mut e = ParseError::new(span, format!("unknown option `{text}`"));
            if let Some(s) = suggest(text, GENERIC.iter().copied()) {
                e = e.with_help(format!("did you mean `{s}`?"));
            } else {
                e = e.with_help("options of an extension follow its `-m NAME` or `-p PROTO`");
            }
            e
        }
    }
}
