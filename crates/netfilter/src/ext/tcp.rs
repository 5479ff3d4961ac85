//! `-m tcp`: source and destination ports, flags and options of TCP segments.

use crate::ext::MatchExt;
use crate::ext::port::PortRange;
use crate::model::{Neg, Span};
use crate::syntax::args::{Args, Opt};
use crate::syntax::error::ParseError;

/// TCP header flags as iptables names them, in the order it prints them.
pub const FLAG_NAMES: [(&str, u8); 6] = [
    ("FIN", 0x01),
    ("SYN", 0x02),
    ("RST", 0x04),
    ("PSH", 0x08),
    ("ACK", 0x10),
    ("URG", 0x20),
];

/// `--tcp-flags MASK COMP`: the flags in MASK are examined and those in COMP must be set.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct TcpFlags {
    /// The flags examined.
    pub mask: u8,
    /// The flags that must be set (of those examined).
    pub comp: u8,
}

impl TcpFlags {
    /// What `--syn` stands for: SYN set, FIN, RST and ACK clear.
    pub const SYN: TcpFlags = TcpFlags {
        mask: 0x17,
        comp: 0x02,
    };

    /// Whether the packet's flags satisfy the test.
    pub fn holds(&self, flags: u8) -> bool {
        flags & self.mask == self.comp
    }
}

/// The `tcp` match.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Tcp {
    /// `--sport`.
    pub sport: Option<Neg<PortRange>>,
    /// `--dport`.
    pub dport: Option<Neg<PortRange>>,
    /// `--tcp-flags` (or `--syn`).
    pub flags: Option<Neg<TcpFlags>>,
    /// `--tcp-option N`: a TCP option kind that must be present.
    pub option: Option<Neg<u8>>,
}

impl MatchExt for Tcp {
    const OPTIONS: &'static [&'static str] = &[
        "--sport",
        "--source-port",
        "--dport",
        "--destination-port",
        "--tcp-flags",
        "--syn",
        "--tcp-option",
    ];

    fn new() -> Self {
        Tcp::default()
    }

    fn option(&mut self, mut opt: Opt<'_>, args: &mut Args<'_>) -> Result<(), ParseError> {
        match opt.name {
            "--sport" | "--source-port" | "--dport" | "--destination-port" => {
                let v = args.value_negatable(&mut opt)?;
                let range = PortRange::parse(v, &v.text)?;
                let slot = if opt.name.starts_with("--s") {
                    &mut self.sport
                } else {
                    &mut self.dport
                };
                *slot = Some(Neg {
                    negated: opt.negated,
                    value: range,
                });
            }
            "--tcp-flags" => {
                let mask_tok = args.value_negatable(&mut opt)?;
                let mask = parse_flags(mask_tok, &mask_tok.text)?;
                let comp_tok = args.value(&opt)?;
                let comp = parse_flags(comp_tok, &comp_tok.text)?;
                self.flags = Some(Neg {
                    negated: opt.negated,
                    value: TcpFlags { mask, comp },
                });
            }
            "--syn" => {
                self.flags = Some(Neg {
                    negated: opt.negated,
                    value: TcpFlags::SYN,
                });
            }
            _ => {
                let v = args.value_negatable(&mut opt)?;
                let kind = v
                    .text
                    .parse::<u8>()
                    .map_err(|_| ParseError::new(v.span, "TCP option kind must be 0-255"))?;
                self.option = Some(Neg {
                    negated: opt.negated,
                    value: kind,
                });
            }
        }
        Ok(())
    }

    fn finish(&mut self, args: &Args<'_>, at: Span) -> Result<(), ParseError> {
        crate::ext::common::require_proto(args, at, "tcp", &[crate::model::Protocol::TCP], "tcp")
    }

    fn print(&self, out: &mut String) {
        print_ports(out, self.sport.as_ref(), self.dport.as_ref());
        if let Some(f) = &self.flags {
            if f.negated {
                out.push_str(" !");
            }
            out.push_str(" --tcp-flags ");
            push_flags(out, f.value.mask);
            out.push(' ');
            push_flags(out, f.value.comp);
        }
        if let Some(o) = &self.option {
            if o.negated {
                out.push_str(" !");
            }
            out.push_str(&format!(" --tcp-option {}", o.value));
        }
    }
}

/// Writes `--sport`/`--dport` as `iptables-save` prints them for tcp, udp and similar matches.
pub(crate) fn print_ports(
    out: &mut String,
    sport: Option<&Neg<PortRange>>,
    dport: Option<&Neg<PortRange>>,
) {
    for (name, p) in [("--sport", sport), ("--dport", dport)] {
        if let Some(p) = p {
            if p.negated {
                out.push_str(" !");
            }
            out.push_str(&format!(" {name} {}", p.value));
        }
    }
}

fn parse_flags(tok: &crate::syntax::token::Token, text: &str) -> Result<u8, ParseError> {
    let mut bits = 0u8;
    for part in text.split(',') {
        bits |= match part {
            "ALL" => 0x3f,
            "NONE" => 0,
            _ => FLAG_NAMES
                .iter()
                .find(|(n, _)| *n == part)
                .map(|(_, b)| *b)
                .ok_or_else(|| {
                    ParseError::new(tok.span, format!("unknown TCP flag `{part}`"))
                        .with_help("flags are FIN, SYN, RST, PSH, ACK, URG, ALL and NONE")
                })?,
        };
    }
    Ok(bits)
}

fn push_flags(out: &mut String, bits: u8) {
    if bits == 0 {
        out.push_str("NONE");
        return;
    }
    let mut first = true;
    for (name, b) in FLAG_NAMES {
        if bits & b != 0 {
            if !first {
                out.push(',');
            }
            out.push_str(name);
            first = false;
        }
    }
}

impl Tcp {
    /// Evaluates the match: ports and flags exactly; `--tcp-option` cannot be decided (the
    /// packet's options are not modelled).
    pub fn eval(&self, cx: &crate::eval::Cx<'_>) -> crate::eval::Truth {
        use crate::eval::Truth;
        let p = cx.pkt;
        if p.proto != crate::model::Protocol::TCP {
            return Truth::No;
        }
        let port_ok = |r: &Option<Neg<PortRange>>, v: Option<u16>| {
            r.as_ref()
                .is_none_or(|r| r.apply(v.is_some_and(|v| r.value.contains(v))))
        };
        let ok = port_ok(&self.sport, p.sport)
            && port_ok(&self.dport, p.dport)
            && self
                .flags
                .as_ref()
                .is_none_or(|f| f.apply(f.value.holds(p.tcp_flags.unwrap_or(0))));
        if !ok {
            return Truth::No;
        }
        match &self.option {
            Some(o) => Truth::Unknown(format!(
                "`{}--tcp-option {}`: the packet's TCP options are not modelled",
                if o.negated { "! " } else { "" },
                o.value
            )),
            None => Truth::Yes,
        }
    }
}
