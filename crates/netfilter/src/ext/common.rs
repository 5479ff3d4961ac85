//! Small parsing and printing helpers shared by the extensions.

use std::net::IpAddr;

use crate::model::{AddrMask, Family};
use crate::syntax::args::{Opt, parse_u32};
use crate::syntax::error::ParseError;
use crate::syntax::token::Token;

/// Writes ` !` when `negated`.
pub(crate) fn push_neg(out: &mut String, negated: bool) {
    if negated {
        out.push_str(" !");
    }
}

/// Parses a whole number in `lo..=hi` (decimal, or `0x` hex), naming the option in the error.
pub(crate) fn number(tok: &Token, opt: &str, lo: u32, hi: u32) -> Result<u32, ParseError> {
    parse_u32(&tok.text)
        .filter(|n| (lo..=hi).contains(n))
        .ok_or_else(|| {
            ParseError::new(
                tok.span,
                format!(
                    "`{opt}` takes a number from {lo} to {hi}, not `{}`",
                    tok.text
                ),
            )
        })
}

/// Parses `N`, `N:M`, `N:` or `:M` into an inclusive range within `0..=max`; iptables prints
/// such ranges as `N` when both ends are equal and `N:M` otherwise.
pub(crate) fn range(tok: &Token, opt: &str, max: u32) -> Result<(u32, u32), ParseError> {
    let bad = || {
        ParseError::new(
            tok.span,
            format!(
                "`{opt}` takes N or N:M with numbers up to {max}, not `{}`",
                tok.text
            ),
        )
    };
    let num = |s: &str, default: u32| -> Result<u32, ParseError> {
        if s.is_empty() {
            return Ok(default);
        }
        parse_u32(s).filter(|n| *n <= max).ok_or_else(bad)
    };
    match tok.text.split_once(':') {
        Some((a, b)) => {
            if a.is_empty() && b.is_empty() {
                return Err(bad());
            }
            Ok((num(a, 0)?, num(b, max)?))
        }
        None => {
            let n = num(&tok.text, 0)?;
            if tok.text.is_empty() {
                return Err(bad());
            }
            Ok((n, n))
        }
    }
}

/// Writes a range as iptables does: `N` when both ends are equal, else `N:M`.
pub(crate) fn push_range(out: &mut String, (lo, hi): (u32, u32)) {
    if lo == hi {
        out.push_str(&lo.to_string());
    } else {
        out.push_str(&format!("{lo}:{hi}"));
    }
}

/// Parses an address with optional prefix of the ruleset's family.
pub(crate) fn addr_of_family(tok: &Token, family: Family) -> Result<AddrMask, ParseError> {
    let a = AddrMask::parse(&tok.text)
        .map_err(|e| ParseError::new(tok.span, format!("invalid address `{}`: {e}", tok.text)))?;
    if a.family() != family {
        return Err(ParseError::new(
            tok.span,
            format!("`{}` is not an address of this ruleset's family", tok.text),
        ));
    }
    Ok(a)
}

/// Parses a plain IP address (no prefix) of the ruleset's family.
pub(crate) fn ip_of_family(tok: &Token, text: &str, family: Family) -> Result<IpAddr, ParseError> {
    let ip: IpAddr = text
        .parse()
        .map_err(|_| ParseError::new(tok.span, format!("invalid address `{text}`")))?;
    if ip.is_ipv4() != (family == Family::Ipv4) {
        return Err(ParseError::new(
            tok.span,
            format!("`{text}` is not an address of this ruleset's family"),
        ));
    }
    Ok(ip)
}

/// Writes an address as the conntrack and policy matches print it: a full-length prefix
/// without `/LEN`, anything else as `ADDR/LEN`.
pub(crate) fn push_addr_host(out: &mut String, a: &AddrMask) {
    let full = match a.family() {
        Family::Ipv4 => 32,
        Family::Ipv6 => 128,
    };
    if a.prefix_len() == Some(full) {
        out.push_str(&a.addr().to_string());
    } else {
        out.push_str(&a.to_string());
    }
}

/// An error for an option that cannot be negated.
pub(crate) fn no_negation(opt: &Opt<'_>) -> Result<(), ParseError> {
    if opt.negated {
        return Err(opt.error(format!("`{}` cannot be negated", opt.name)));
    }
    Ok(())
}

/// An error for a required protocol: `what` needs `-p proto`.
pub(crate) fn require_proto(
    args: &crate::syntax::args::Args<'_>,
    at: crate::model::Span,
    what: &str,
    protos: &[crate::model::Protocol],
    names: &str,
) -> Result<(), ParseError> {
    if args.proto_inverted {
        return Ok(());
    }
    match args.proto {
        Some(p) if protos.contains(&p) => Ok(()),
        _ => Err(ParseError::new(
            at,
            format!("match `{what}` requires `-p {names}` before it"),
        )
        .with_help("iptables refuses a protocol match without the protocol")),
    }
}
