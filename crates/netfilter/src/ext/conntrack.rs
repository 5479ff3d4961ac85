//! `-m conntrack`: the connection tracking state and the tuples of the packet's connection.

use crate::ext::MatchExt;
use crate::ext::port::PortRange;
use crate::model::{AddrMask, Neg, Protocol, Span};
use crate::syntax::args::{Args, Opt};
use crate::syntax::error::ParseError;
use crate::syntax::token::Token;

/// Conntrack states as `--ctstate` names them, in the order iptables prints them.
pub const CTSTATE_NAMES: [(&str, u8); 7] = [
    ("INVALID", CtState::INVALID),
    ("NEW", CtState::NEW),
    ("RELATED", CtState::RELATED),
    ("ESTABLISHED", CtState::ESTABLISHED),
    ("UNTRACKED", CtState::UNTRACKED),
    ("SNAT", CtState::SNAT),
    ("DNAT", CtState::DNAT),
];

/// A set of conntrack states (`--ctstate NEW,ESTABLISHED`, `--state …`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct CtState(pub u8);

impl CtState {
    /// The packet is not part of a valid connection.
    pub const INVALID: u8 = 1 << 0;
    /// The first packet of a connection.
    pub const NEW: u8 = 1 << 1;
    /// A new connection expected by another one (FTP data, ICMP errors).
    pub const RELATED: u8 = 1 << 2;
    /// A packet of a connection seen in both directions (or a later packet of it).
    pub const ESTABLISHED: u8 = 1 << 3;
    /// The packet is not tracked (NOTRACK / CT --notrack).
    pub const UNTRACKED: u8 = 1 << 4;
    /// The connection's source was translated (virtual state).
    pub const SNAT: u8 = 1 << 5;
    /// The connection's destination was translated (virtual state).
    pub const DNAT: u8 = 1 << 6;

    /// Parses a comma-separated list of state names.
    pub fn parse(tok: &Token, allow_nat: bool) -> Result<CtState, ParseError> {
        let mut bits = 0;
        for part in tok.text.split(',') {
            let bit = CTSTATE_NAMES
                .iter()
                .filter(|(_, b)| allow_nat || (*b != Self::SNAT && *b != Self::DNAT))
                .find(|(n, _)| *n == part)
                .map(|(_, b)| *b)
                .ok_or_else(|| {
                    ParseError::new(tok.span, format!("unknown conntrack state `{part}`"))
                        .with_help(
                            "states are INVALID, NEW, RELATED, ESTABLISHED, UNTRACKED, SNAT, DNAT",
                        )
                })?;
            bits |= bit;
        }
        Ok(CtState(bits))
    }

    /// Writes the states as a comma-separated list in iptables' order.
    pub fn push(&self, out: &mut String) {
        let mut first = true;
        for (name, bit) in CTSTATE_NAMES {
            if self.0 & bit != 0 {
                if !first {
                    out.push(',');
                }
                out.push_str(name);
                first = false;
            }
        }
    }
}

/// `--ctstatus` bits, in the order iptables prints them.
pub const CTSTATUS_NAMES: [(&str, u16); 5] = [
    ("EXPECTED", 1 << 0),
    ("SEEN_REPLY", 1 << 1),
    ("ASSURED", 1 << 2),
    ("CONFIRMED", 1 << 3),
    ("NONE", 0),
];

/// Direction of the packet within its connection (`--ctdir`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CtDir {
    /// Packets in the direction of the first packet.
    Original,
    /// Packets in the reply direction.
    Reply,
}

/// The `conntrack` match.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Conntrack {
    /// `--ctstate`.
    pub state: Option<Neg<CtState>>,
    /// `--ctproto`.
    pub proto: Option<Neg<Protocol>>,
    /// `--ctorigsrc`.
    pub orig_src: Option<Neg<AddrMask>>,
    /// `--ctorigdst`.
    pub orig_dst: Option<Neg<AddrMask>>,
    /// `--ctreplsrc`.
    pub repl_src: Option<Neg<AddrMask>>,
    /// `--ctrepldst`.
    pub repl_dst: Option<Neg<AddrMask>>,
    /// `--ctorigsrcport`.
    pub orig_src_port: Option<Neg<PortRange>>,
    /// `--ctorigdstport`.
    pub orig_dst_port: Option<Neg<PortRange>>,
    /// `--ctreplsrcport`.
    pub repl_src_port: Option<Neg<PortRange>>,
    /// `--ctrepldstport`.
    pub repl_dst_port: Option<Neg<PortRange>>,
    /// `--ctstatus` bits.
    pub status: Option<Neg<u16>>,
    /// `--ctexpire` range in seconds.
    pub expire: Option<Neg<(u32, u32)>>,
    /// `--ctdir`.
    pub dir: Option<CtDir>,
}

impl MatchExt for Conntrack {
    const OPTIONS: &'static [&'static str] = &[
        "--ctstate",
        "--ctproto",
        "--ctorigsrc",
        "--ctorigdst",
        "--ctreplsrc",
        "--ctrepldst",
        "--ctorigsrcport",
        "--ctorigdstport",
        "--ctreplsrcport",
        "--ctrepldstport",
        "--ctstatus",
        "--ctexpire",
        "--ctdir",
    ];

    fn new() -> Self {
        Conntrack::default()
    }

    fn option(&mut self, mut opt: Opt<'_>, args: &mut Args<'_>) -> Result<(), ParseError> {
        let v = args.value_negatable(&mut opt)?;
        let negated = opt.negated;
        let addr = |v: &Token| {
            let a = AddrMask::parse(&v.text).map_err(|e| ParseError::new(v.span, e.to_string()))?;
            if a.family() != args.family {
                return Err(ParseError::new(
                    v.span,
                    format!("`{}` is not an address of this ruleset's family", v.text),
                ));
            }
            Ok(Neg { negated, value: a })
        };
        let port = |v: &Token| {
            Ok::<_, ParseError>(Neg {
                negated,
                value: PortRange::parse(v, &v.text)?,
            })
        };
        match opt.name {
            "--ctstate" => {
                self.state = Some(Neg {
                    negated,
                    value: CtState::parse(v, true)?,
                })
            }
            "--ctproto" => {
                let p = Protocol::parse(&v.text).ok_or_else(|| {
                    ParseError::new(v.span, format!("unknown protocol `{}`", v.text))
                })?;
                self.proto = Some(Neg { negated, value: p });
            }
            "--ctorigsrc" => self.orig_src = Some(addr(v)?),
            "--ctorigdst" => self.orig_dst = Some(addr(v)?),
            "--ctreplsrc" => self.repl_src = Some(addr(v)?),
            "--ctrepldst" => self.repl_dst = Some(addr(v)?),
            "--ctorigsrcport" => self.orig_src_port = Some(port(v)?),
            "--ctorigdstport" => self.orig_dst_port = Some(port(v)?),
            "--ctreplsrcport" => self.repl_src_port = Some(port(v)?),
            "--ctrepldstport" => self.repl_dst_port = Some(port(v)?),
            "--ctstatus" => {
                let mut bits = 0u16;
                for part in v.text.split(',') {
                    bits |= CTSTATUS_NAMES
                        .iter()
                        .find(|(n, _)| *n == part)
                        .map(|(_, b)| *b)
                        .ok_or_else(|| {
                            ParseError::new(v.span, format!("unknown conntrack status `{part}`"))
                        })?;
                }
                self.status = Some(Neg {
                    negated,
                    value: bits,
                });
            }
            "--ctexpire" => {
                let parse = |s: &str| {
                    s.parse::<u32>().map_err(|_| {
                        ParseError::new(v.span, format!("invalid expiry `{}`", v.text))
                    })
                };
                let (lo, hi) = match v.text.split_once(':') {
                    Some((a, b)) => (parse(a)?, parse(b)?),
                    None => {
                        let n = parse(&v.text)?;
                        (n, n)
                    }
                };
                self.expire = Some(Neg {
                    negated,
                    value: (lo, hi),
                });
            }
            _ => {
                self.dir = Some(match v.as_str() {
                    "ORIGINAL" => CtDir::Original,
                    "REPLY" => CtDir::Reply,
                    other => {
                        return Err(ParseError::new(
                            v.span,
                            format!("`--ctdir` is ORIGINAL or REPLY, not `{other}`"),
                        ));
                    }
                })
            }
        }
        Ok(())
    }

    fn finish(&mut self, _args: &Args<'_>, at: Span) -> Result<(), ParseError> {
        if *self == Conntrack::default() {
            return Err(ParseError::new(
                at,
                "match `conntrack` needs at least one option",
            ));
        }
        Ok(())
    }

    fn print(&self, out: &mut String) {
        fn neg(out: &mut String, n: bool) {
            if n {
                out.push_str(" !");
            }
        }
        if let Some(s) = &self.state {
            neg(out, s.negated);
            out.push_str(" --ctstate ");
            s.value.push(out);
        }
        if let Some(p) = &self.proto {
            neg(out, p.negated);
            out.push_str(&format!(" --ctproto {}", p.value.0));
        }
        for (name, a) in [
            ("--ctorigsrc", &self.orig_src),
            ("--ctorigdst", &self.orig_dst),
            ("--ctreplsrc", &self.repl_src),
            ("--ctrepldst", &self.repl_dst),
        ] {
            if let Some(a) = a {
                neg(out, a.negated);
                out.push_str(&format!(" {name} "));
                crate::ext::common::push_addr_host(out, &a.value);
            }
        }
        for (name, p) in [
            ("--ctorigsrcport", &self.orig_src_port),
            ("--ctorigdstport", &self.orig_dst_port),
            ("--ctreplsrcport", &self.repl_src_port),
            ("--ctrepldstport", &self.repl_dst_port),
        ] {
            if let Some(p) = p {
                neg(out, p.negated);
                out.push_str(&format!(" {name} {}", p.value));
            }
        }
        if let Some(s) = &self.status {
            neg(out, s.negated);
            out.push_str(" --ctstatus ");
            let names: Vec<&str> = CTSTATUS_NAMES
                .iter()
                .filter(|(_, b)| *b != 0 && s.value & b != 0)
                .map(|(n, _)| *n)
                .collect();
            out.push_str(if names.is_empty() { "NONE" } else { "" });
            out.push_str(&names.join(","));
        }
        if let Some(e) = &self.expire {
            neg(out, e.negated);
            let (lo, hi) = e.value;
            if lo == hi {
                out.push_str(&format!(" --ctexpire {lo}"));
            } else {
                out.push_str(&format!(" --ctexpire {lo}:{hi}"));
            }
        }
        if let Some(d) = self.dir {
            out.push_str(match d {
                CtDir::Original => " --ctdir ORIGINAL",
                CtDir::Reply => " --ctdir REPLY",
            });
        }
    }
}

impl Conntrack {
    /// Evaluates the match against what conntrack knows. Without a connection (raw table,
    /// INVALID, UNTRACKED) only `--ctstate` can hold, as in the kernel. `--ctexpire` and an
    /// `ASSURED` status test cannot be decided.
    pub fn eval(&self, cx: &crate::eval::Cx<'_>) -> crate::eval::Truth {
        use crate::conntrack::{CtInfo, Direction};
        use crate::eval::Truth;
        let bits = cx.ct.state_bits();
        if let Some(s) = &self.state
            && !s.apply(bits & s.value.0 != 0)
        {
            return Truth::No;
        }
        let CtInfo::Conn {
            entry,
            dir,
            index,
            related,
            ..
        } = cx.ct
        else {
            return Truth::of(self.state.is_some());
        };
        let addr = |m: &Option<Neg<AddrMask>>, ip| {
            m.as_ref().is_none_or(|m| m.apply(m.value.contains(ip)))
        };
        let port = |m: &Option<Neg<PortRange>>, p: u16| {
            m.as_ref().is_none_or(|m| m.apply(m.value.contains(p)))
        };
        let ok = self
            .proto
            .as_ref()
            .is_none_or(|p| p.apply(p.value == entry.orig.proto))
            && addr(&self.orig_src, entry.orig.src)
            && addr(&self.orig_dst, entry.orig.dst)
            && addr(&self.repl_src, entry.reply.src)
            && addr(&self.repl_dst, entry.reply.dst)
            && port(&self.orig_src_port, entry.orig.sport)
            && port(&self.orig_dst_port, entry.orig.dport)
            && port(&self.repl_src_port, entry.reply.sport)
            && port(&self.repl_dst_port, entry.reply.dport)
            && self
                .dir
                .is_none_or(|d| (d == CtDir::Original) == (*dir == Direction::Original));
        if !ok {
            return Truth::No;
        }
        if let Some(e) = &self.expire {
            return Truth::Unknown(format!(
                "`{}--ctexpire {}:{}`: connection timers are not modelled",
                if e.negated { "! " } else { "" },
                e.value.0,
                e.value.1
            ));
        }
        if let Some(s) = &self.status {
            const SEEN_REPLY: u16 = 1 << 1;
            const ASSURED: u16 = 1 << 2;
            const CONFIRMED: u16 = 1 << 3;
            let mut have = 0u16;
            if entry.seen_reply || (*dir == Direction::Reply && !*related) {
                have |= SEEN_REPLY;
            }
            if index.is_some() {
                have |= CONFIRMED;
            }
            if have & s.value != 0 {
                return Truth::of(s.apply(true));
            }
            if s.value & ASSURED != 0 {
                return Truth::Unknown(
                    "`--ctstatus ASSURED`: conntrack's assured bit is not modelled".into(),
                );
            }
            return Truth::of(s.apply(false));
        }
        Truth::Yes
    }
}
