//! `-m sctp`: SCTP ports and chunk types.

use crate::ext::MatchExt;
use crate::ext::port::PortRange;
use crate::ext::tcp::print_ports;
use crate::model::{Neg, Protocol, Span};
use crate::syntax::args::{Args, Opt};
use crate::syntax::error::ParseError;

/// SCTP chunk type names and numbers, in the order iptables prints them.
pub const CHUNK_TYPES: &[(&str, u8)] = &[
    ("DATA", 0),
    ("INIT", 1),
    ("INIT_ACK", 2),
    ("SACK", 3),
    ("HEARTBEAT", 4),
    ("HEARTBEAT_ACK", 5),
    ("ABORT", 6),
    ("SHUTDOWN", 7),
    ("SHUTDOWN_ACK", 8),
    ("ERROR", 9),
    ("COOKIE_ECHO", 10),
    ("COOKIE_ACK", 11),
    ("ECN_ECNE", 12),
    ("ECN_CWR", 13),
    ("SHUTDOWN_COMPLETE", 14),
    ("I_DATA", 64),
    ("RE_CONFIG", 130),
    ("PAD", 132),
    ("ASCONF_ACK", 128),
    ("FORWARD_TSN", 192),
    ("ASCONF", 193),
    ("I_FORWARD_TSN", 194),
];

/// How the listed chunk types must appear (`--chunk-types any|all|only`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ChunkMatch {
    /// At least one of the listed chunks is present.
    Any,
    /// All listed chunks are present.
    All,
    /// Only listed chunks are present.
    Only,
}

/// `--chunk-types`: the match kind and the chunks, each with its flag letters (e.g. `Be`).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Chunks {
    /// any, all or only.
    pub kind: ChunkMatch,
    /// Chunk numbers with their flag text, sorted as iptables prints them.
    pub chunks: Vec<(u8, String)>,
}

/// The `sctp` match.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Sctp {
    /// `--sport`.
    pub sport: Option<Neg<PortRange>>,
    /// `--dport`.
    pub dport: Option<Neg<PortRange>>,
    /// `--chunk-types`.
    pub chunks: Option<Neg<Chunks>>,
}

impl MatchExt for Sctp {
    const OPTIONS: &'static [&'static str] = &[
        "--sport",
        "--source-port",
        "--dport",
        "--destination-port",
        "--chunk-types",
    ];

    fn new() -> Self {
        Sctp::default()
    }

    fn option(&mut self, mut opt: Opt<'_>, args: &mut Args<'_>) -> Result<(), ParseError> {
        if opt.name == "--chunk-types" {
            let kind_tok = args.value(&opt)?;
            let kind = match kind_tok.text.to_ascii_lowercase().as_str() {
                "any" => ChunkMatch::Any,
                "all" => ChunkMatch::All,
                "only" => ChunkMatch::Only,
                _ => {
                    return Err(ParseError::new(
                        kind_tok.span,
                        "the chunk match type is `any`, `all` or `only`",
                    ));
                }
            };
            let list = args.value(&opt)?;
            let mut chunks = Vec::new();
            for part in list.text.split(',') {
                let (name, flags) = part.split_once(':').unwrap_or((part, ""));
                let n = CHUNK_TYPES
                    .iter()
                    .find(|(c, _)| c.eq_ignore_ascii_case(name))
                    .map(|(_, n)| *n)
                    .ok_or_else(|| {
                        ParseError::new(list.span, format!("unknown SCTP chunk type `{name}`"))
                    })?;
                chunks.push((n, flags.to_string()));
            }
            chunks.sort_by_key(|(n, _)| {
                CHUNK_TYPES
                    .iter()
                    .position(|(_, m)| m == n)
                    .unwrap_or(usize::MAX)
            });
            chunks.dedup_by_key(|(n, _)| *n);
            self.chunks = Some(Neg {
                negated: opt.negated,
                value: Chunks { kind, chunks },
            });
            return Ok(());
        }
        let v = args.value_negatable(&mut opt)?;
        let range = Some(Neg {
            negated: opt.negated,
            value: PortRange::parse(v, &v.text)?,
        });
        if opt.name.starts_with("--s") {
            self.sport = range;
        } else {
            self.dport = range;
        }
        Ok(())
    }

    fn finish(&mut self, args: &Args<'_>, at: Span) -> Result<(), ParseError> {
        crate::ext::common::require_proto(args, at, "sctp", &[Protocol::SCTP], "sctp")
    }

    fn print(&self, out: &mut String) {
        print_ports(out, self.sport.as_ref(), self.dport.as_ref());
        if let Some(c) = &self.chunks {
            crate::ext::common::push_neg(out, c.negated);
            out.push_str(match c.value.kind {
                ChunkMatch::Any => " --chunk-types any ",
                ChunkMatch::All => " --chunk-types all ",
                ChunkMatch::Only => " --chunk-types only ",
            });
            let names: Vec<String> = c
                .value
                .chunks
                .iter()
                .map(|(n, flags)| {
                    let name = CHUNK_TYPES
                        .iter()
                        .find(|(_, m)| m == n)
                        .map(|(s, _)| *s)
                        .unwrap_or("?");
                    if flags.is_empty() {
                        name.to_string()
                    } else {
                        format!("{name}:{flags}")
                    }
                })
                .collect();
            out.push_str(&names.join(","));
        }
    }
}

impl Sctp {
    /// Not decidable from what a trace knows: always uncertain, saying why.
    pub fn eval(&self, _cx: &crate::eval::Cx<'_>) -> crate::eval::Truth {
        crate::eval::Truth::Unknown(
            "match `-m sctp`: SCTP packets and their chunks are not modelled".into(),
        )
    }
}
