//! `-j MASQUERADE`: source NAT to the address the route picks on the output interface.

use crate::syntax::args::{Args, Opt};
use crate::syntax::error::ParseError;
use crate::target::TargetExt;

/// The `MASQUERADE` target.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Masquerade {
    /// `--to-ports LO[-HI]`.
    pub ports: Option<(u16, u16)>,
    /// `--random`.
    pub random: bool,
    /// `--random-fully`.
    pub random_fully: bool,
}

impl TargetExt for Masquerade {
    const OPTIONS: &'static [&'static str] = &["--to-ports", "--random", "--random-fully"];

    fn new() -> Self {
        Masquerade::default()
    }

    fn option(&mut self, opt: Opt<'_>, args: &mut Args<'_>) -> Result<(), ParseError> {
        match opt.name {
            "--to-ports" => {
                let v = args.value(&opt)?;
                self.ports = Some(parse_port_range(v)?);
            }
            "--random" => self.random = true,
            _ => self.random_fully = true,
        }
        Ok(())
    }

    fn finish(&mut self, args: &Args<'_>, at: crate::model::Span) -> Result<(), ParseError> {
        crate::target::require_proto_for_ports(args, at, self.ports.is_some())
    }

    fn print(&self, out: &mut String) {
        if let Some((lo, hi)) = self.ports {
            if lo == hi {
                out.push_str(&format!(" --to-ports {lo}"));
            } else {
                out.push_str(&format!(" --to-ports {lo}-{hi}"));
            }
        }
        if self.random {
            out.push_str(" --random");
        }
        if self.random_fully {
            out.push_str(" --random-fully");
        }
    }
}

/// Parses `LO` or `LO-HI` as `--to-ports` takes it.
pub(crate) fn parse_port_range(v: &crate::syntax::token::Token) -> Result<(u16, u16), ParseError> {
    let bad = || ParseError::new(v.span, format!("invalid port range `{}`", v.text));
    let (lo, hi) = match v.text.split_once('-') {
        Some((lo, hi)) => (lo, hi),
        None => (v.as_str(), v.as_str()),
    };
    let lo: u16 = lo.parse().map_err(|_| bad())?;
    let hi: u16 = hi.parse().map_err(|_| bad())?;
    if lo > hi {
        return Err(bad());
    }
    Ok((lo, hi))
}

impl Masquerade {
    /// The source port after masquerading: kept unless `--to-ports` excludes it (then the
    /// first port of the range, with a note that the kernel chooses). With `--random-fully` the
    /// kernel randomises it; the port returned is the original and the caller flags it.
    pub fn translate_port(&self, port: Option<u16>) -> (Option<u16>, Option<String>) {
        match (self.ports, port) {
            (Some((lo, hi)), Some(p)) if lo <= p && p <= hi => (Some(p), None),
            (Some((lo, hi)), Some(_)) => (
                Some(lo),
                (lo != hi).then(|| {
                    format!(
                        "MASQUERADE --to-ports {lo}-{hi}: the kernel picks the port; {lo} shown"
                    )
                }),
            ),
            (_, p) => (p, None),
        }
    }
}
