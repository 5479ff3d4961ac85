//! Match extensions (`-m NAME …`): one module per extension, each owning its options, its
//! parsing, its canonical `iptables-save` printing, and (in the engine) its evaluation.
//!
//! Adding an extension: write `ext/NAME.rs` with a type implementing [`MatchExt`], and add one
//! line to the registry below.

pub mod addrtype;
pub mod comment;
pub mod conntrack;
pub mod mark;
pub mod multiport;
pub mod opaque;
pub mod port;
pub mod statistic;
pub mod tcp;
pub mod udp;

pub use opaque::Opaque;

use crate::model::Span;
use crate::syntax::args::{Args, Opt};
use crate::syntax::error::ParseError;

/// What every match extension provides to the parser and the printer.
pub trait MatchExt: Sized {
    /// Every long option the extension takes, e.g. `["--sport", "--dport"]`.
    const OPTIONS: &'static [&'static str];

    /// A fresh instance, before any option is applied.
    fn new() -> Self;

    /// Applies one option (already recognised as one of [`MatchExt::OPTIONS`]), taking its
    /// values from `args`.
    fn option(&mut self, opt: Opt<'_>, args: &mut Args<'_>) -> Result<(), ParseError>;

    /// Checks the finished instance (required options present, option combinations valid).
    /// `at` is the `-m NAME` argument.
    fn finish(&mut self, _args: &Args<'_>, _at: Span) -> Result<(), ParseError> {
        Ok(())
    }

    /// Writes the options as `iptables-save` prints them: each preceded by a space.
    fn print(&self, out: &mut String);
}

macro_rules! match_registry {
    ($( $(#[$doc:meta])* $variant:ident($ty:ty) = $name:literal $(| $alias:literal)* ),* $(,)?) => {
        /// One extension match of a rule, typed; unmodelled ones are kept verbatim as `Opaque`.
        #[allow(clippy::large_enum_variant)]
        #[derive(Clone, Debug, PartialEq)]
        #[non_exhaustive]
        pub enum Match {
            $( $(#[$doc])* $variant($ty), )*
            /// An extension not modelled: kept verbatim, printed back as it came, reported.
            Opaque(Opaque),
        }

        impl Match {
            /// A fresh modelled match for `-m NAME`, or `None` when the name is not modelled.
            pub fn new_by_name(name: &str) -> Option<Match> {
                match name {
                    $( $name $(| $alias)* => Some(Match::$variant(<$ty as MatchExt>::new())), )*
                    _ => None,
                }
            }

            /// The module name as `iptables-save` prints it after `-m`.
            pub fn name(&self) -> &str {
                match self {
                    $( Match::$variant(_) => $name, )*
                    Match::Opaque(o) => &o.name,
                }
            }

            /// The options this match takes.
            pub fn options(&self) -> &'static [&'static str] {
                match self {
                    $( Match::$variant(_) => <$ty as MatchExt>::OPTIONS, )*
                    Match::Opaque(_) => &[],
                }
            }

            /// Applies one recognised option.
            pub fn option(&mut self, opt: Opt<'_>, args: &mut Args<'_>) -> Result<(), ParseError> {
                match self {
                    $( Match::$variant(m) => m.option(opt, args), )*
                    Match::Opaque(_) => Ok(()),
                }
            }

            /// Checks the finished match.
            pub fn finish(&mut self, args: &Args<'_>, at: Span) -> Result<(), ParseError> {
                match self {
                    $( Match::$variant(m) => m.finish(args, at), )*
                    Match::Opaque(_) => Ok(()),
                }
            }

            /// Writes ` -m NAME` and the options, as `iptables-save` prints them.
            pub fn print(&self, out: &mut String) {
                out.push_str(" -m ");
                out.push_str(self.name());
                match self {
                    $( Match::$variant(m) => m.print(out), )*
                    Match::Opaque(o) => o.print(out),
                }
            }
        }

        /// Every modelled match name (aliases included).
        pub const MODELLED: &[&str] = &[$( $name, $($alias,)* )*];
    };
}

match_registry! {
    /// `-m addrtype`: address types of source and destination.
    Addrtype(addrtype::Addrtype) = "addrtype",
    /// `-m comment`: a comment, matches everything.
    Comment(comment::Comment) = "comment",
    /// `-m conntrack`: connection tracking state and tuple.
    Conntrack(conntrack::Conntrack) = "conntrack",
    /// `-m mark`: the packet mark.
    Mark(mark::MarkMatch) = "mark",
    /// `-m multiport`: lists of ports.
    Multiport(multiport::Multiport) = "multiport",
    /// `-m statistic`: random or every-nth matching.
    Statistic(statistic::Statistic) = "statistic",
    /// `-m tcp`: TCP ports and flags.
    Tcp(tcp::Tcp) = "tcp",
    /// `-m udp`: UDP ports.
    Udp(udp::Udp) = "udp",
}

/// Match extensions that iptables knows but chainwalk does not model yet: they are kept verbatim.
pub const KNOWN_UNMODELLED: &[&str] = &[
    "ah",
    "bpf",
    "cgroup",
    "cluster",
    "connbytes",
    "connlabel",
    "connlimit",
    "connmark",
    "cpu",
    "dccp",
    "devgroup",
    "dscp",
    "dst",
    "ecn",
    "esp",
    "eui64",
    "frag",
    "hashlimit",
    "hbh",
    "helper",
    "hl",
    "icmp",
    "icmp6",
    "ipcomp",
    "iprange",
    "ipv6header",
    "ipvs",
    "length",
    "limit",
    "mac",
    "mh",
    "nfacct",
    "osf",
    "owner",
    "physdev",
    "pkttype",
    "policy",
    "quota",
    "rateest",
    "realm",
    "recent",
    "rpfilter",
    "rt",
    "sctp",
    "set",
    "socket",
    "srh",
    "state",
    "string",
    "tcpmss",
    "time",
    "tos",
    "ttl",
    "u32",
    "udplite",
];
