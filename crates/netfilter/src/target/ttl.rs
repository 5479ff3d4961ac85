//! `-j TTL` (IPv4) and `-j HL` (IPv6): set, increment or decrement the TTL / hop limit.

use crate::ext::common::number;
use crate::model::{Family, Span};
use crate::syntax::args::{Args, Opt};
use crate::syntax::error::ParseError;
use crate::target::TargetExt;

/// What to do with the field.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum HopOp {
    /// Set to the value.
    Set(u8),
    /// Increment by the value (1–255).
    Inc(u8),
    /// Decrement by the value (1–255).
    Dec(u8),
}

fn parse_op(
    slot: &mut Option<HopOp>,
    opt: &Opt<'_>,
    args: &mut Args<'_>,
) -> Result<(), ParseError> {
    let v = args.value(opt)?;
    *slot = Some(if opt.name.ends_with("-set") {
        HopOp::Set(number(v, opt.name, 0, 255)? as u8)
    } else if opt.name.ends_with("-inc") {
        HopOp::Inc(number(v, opt.name, 1, 255)? as u8)
    } else {
        HopOp::Dec(number(v, opt.name, 1, 255)? as u8)
    });
    Ok(())
}

fn finish_op(
    slot: &Option<HopOp>,
    args: &Args<'_>,
    at: Span,
    name: &str,
    family: Family,
    other: &str,
) -> Result<(), ParseError> {
    if args.family != family {
        return Err(ParseError::new(
            at,
            format!("target `{name}` does not exist for this family; use `-j {other}`"),
        ));
    }
    if slot.is_none() {
        return Err(ParseError::new(
            at,
            format!("target `{name}` needs an action"),
        ));
    }
    Ok(())
}

fn push_op(out: &mut String, op: &Option<HopOp>, prefix: &str) {
    match op {
        Some(HopOp::Set(n)) => out.push_str(&format!(" --{prefix}-set {n}")),
        Some(HopOp::Inc(n)) => out.push_str(&format!(" --{prefix}-inc {n}")),
        Some(HopOp::Dec(n)) => out.push_str(&format!(" --{prefix}-dec {n}")),
        None => {}
    }
}

/// The `TTL` target (IPv4).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct TtlTarget {
    /// The action.
    pub op: Option<HopOp>,
}

impl TargetExt for TtlTarget {
    const OPTIONS: &'static [&'static str] = &["--ttl-set", "--ttl-inc", "--ttl-dec"];

    fn new() -> Self {
        TtlTarget::default()
    }

    fn option(&mut self, opt: Opt<'_>, args: &mut Args<'_>) -> Result<(), ParseError> {
        parse_op(&mut self.op, &opt, args)
    }

    fn finish(&mut self, args: &Args<'_>, at: Span) -> Result<(), ParseError> {
        finish_op(&self.op, args, at, "TTL", Family::Ipv4, "HL")
    }

    fn print(&self, out: &mut String) {
        push_op(out, &self.op, "ttl");
    }
}

/// The `HL` target (IPv6).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct HlTarget {
    /// The action.
    pub op: Option<HopOp>,
}

impl TargetExt for HlTarget {
    const OPTIONS: &'static [&'static str] = &["--hl-set", "--hl-inc", "--hl-dec"];

    fn new() -> Self {
        HlTarget::default()
    }

    fn option(&mut self, opt: Opt<'_>, args: &mut Args<'_>) -> Result<(), ParseError> {
        parse_op(&mut self.op, &opt, args)
    }

    fn finish(&mut self, args: &Args<'_>, at: Span) -> Result<(), ParseError> {
        finish_op(&self.op, args, at, "HL", Family::Ipv6, "TTL")
    }

    fn print(&self, out: &mut String) {
        push_op(out, &self.op, "hl");
    }
}
