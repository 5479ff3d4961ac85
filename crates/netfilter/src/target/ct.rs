//! `-j CT` (and the older `-j NOTRACK`): sets up the connection tracking of a packet before
//! conntrack sees it — no tracking, a zone, a helper, event masks. Raw table only.

use crate::ext::common::number;
use crate::model::Span;
use crate::syntax::args::{Args, Opt};
use crate::syntax::error::ParseError;
use crate::target::TargetExt;

/// Conntrack event names for `--ctevents`, in the order iptables prints them.
pub const CT_EVENTS: [&str; 10] = [
    "new",
    "related",
    "destroy",
    "reply",
    "assured",
    "protoinfo",
    "helper",
    "mark",
    "natseqinfo",
    "secmark",
];

/// A conntrack zone setting.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Zone {
    /// A fixed zone id.
    Id(u16),
    /// The zone is taken from the packet mark.
    Mark,
}

/// The `CT` target.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Ct {
    /// `--notrack`: the packet is not tracked.
    pub notrack: bool,
    /// `--helper`.
    pub helper: Option<String>,
    /// `--timeout`: a timeout policy name.
    pub timeout: Option<String>,
    /// `--ctevents` bits (see [`CT_EVENTS`]).
    pub ctevents: u16,
    /// `--expevents new`.
    pub expevents_new: bool,
    /// The zone, and for which direction: `None` both, `Some(true)` original, `Some(false)` reply.
    pub zone: Option<(Zone, Option<bool>)>,
}

impl TargetExt for Ct {
    const OPTIONS: &'static [&'static str] = &[
        "--notrack",
        "--helper",
        "--timeout",
        "--ctevents",
        "--expevents",
        "--zone",
        "--zone-orig",
        "--zone-reply",
    ];

    fn new() -> Self {
        Ct::default()
    }

    fn option(&mut self, opt: Opt<'_>, args: &mut Args<'_>) -> Result<(), ParseError> {
        if opt.name == "--notrack" {
            self.notrack = true;
            return Ok(());
        }
        let v = args.value(&opt)?;
        match opt.name {
            "--helper" => self.helper = Some(v.text.to_string()),
            "--timeout" => self.timeout = Some(v.text.to_string()),
            "--ctevents" => {
                let mut bits = 0;
                for part in v.text.split(',') {
                    let i = CT_EVENTS.iter().position(|e| *e == part).ok_or_else(|| {
                        ParseError::new(v.span, format!("unknown conntrack event `{part}`"))
                            .with_help(format!("events are {}", CT_EVENTS.join(", ")))
                    })?;
                    bits |= 1 << i;
                }
                self.ctevents = bits;
            }
            "--expevents" => {
                if v.text != "new" {
                    return Err(ParseError::new(
                        v.span,
                        "the only expectation event is `new`",
                    ));
                }
                self.expevents_new = true;
            }
            _ => {
                let zone = if v.text == "mark" {
                    Zone::Mark
                } else {
                    Zone::Id(number(v, opt.name, 0, 65535)? as u16)
                };
                let dir = match opt.name {
                    "--zone-orig" => Some(true),
                    "--zone-reply" => Some(false),
                    _ => None,
                };
                self.zone = Some((zone, dir));
            }
        }
        Ok(())
    }

    fn finish(&mut self, _args: &Args<'_>, _at: Span) -> Result<(), ParseError> {
        Ok(())
    }

    fn print(&self, out: &mut String) {
        if self.notrack {
            out.push_str(" --notrack");
        }
        if let Some(h) = &self.helper {
            out.push_str(&format!(" --helper {h}"));
        }
        if let Some(t) = &self.timeout {
            out.push_str(&format!(" --timeout {t}"));
        }
        if self.ctevents != 0 {
            let names: Vec<&str> = CT_EVENTS
                .iter()
                .enumerate()
                .filter(|(i, _)| self.ctevents & (1 << i) != 0)
                .map(|(_, n)| *n)
                .collect();
            out.push_str(&format!(" --ctevents {}", names.join(",")));
        }
        if self.expevents_new {
            out.push_str(" --expevents new");
        }
        if let Some((zone, dir)) = self.zone {
            let opt = match dir {
                None => "--zone",
                Some(true) => "--zone-orig",
                Some(false) => "--zone-reply",
            };
            match zone {
                Zone::Mark => out.push_str(&format!(" {opt} mark")),
                Zone::Id(0) => {}
                Zone::Id(n) => out.push_str(&format!(" {opt} {n}")),
            }
        }
    }
}

/// The `NOTRACK` target: the old spelling of `CT --notrack`, printed as `NOTRACK`.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Notrack;

impl TargetExt for Notrack {
    const OPTIONS: &'static [&'static str] = &[];

    fn new() -> Self {
        Notrack
    }

    fn option(&mut self, _opt: Opt<'_>, _args: &mut Args<'_>) -> Result<(), ParseError> {
        Ok(())
    }

    fn print(&self, _out: &mut String) {}
}
