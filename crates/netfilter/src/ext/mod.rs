//! Match extensions (`-m NAME …`): one module per extension, each owning its options, its
//! parsing, its canonical `iptables-save` printing, and its evaluation (an `eval` method on
//! the typed fields, returning [`Truth`](crate::eval::Truth)).
//!
//! Adding an extension: write `ext/NAME.rs` with a type implementing [`MatchExt`] and an
//! `eval` method, add one line to the registry below, and one arm to the dispatch in
//! [`eval::matches`](crate::eval::matches).

pub mod addrtype;
pub mod ah;
pub mod comment;
pub(crate) mod common;
pub mod connlimit;
pub mod connmark;
pub mod conntrack;
pub mod dscp;
pub mod esp;
pub mod frag;
pub mod hashlimit;
pub mod helper;
pub mod hl;
pub mod icmp;
pub mod icmp6;
pub mod iprange;
pub mod length;
pub mod limit;
pub mod mac;
pub mod mark;
pub(crate) mod merge;
pub mod multiport;
pub mod nfacct;
pub mod opaque;
pub mod owner;
pub mod physdev;
pub mod pkttype;
pub mod policy;
pub mod port;
pub mod recent;
pub mod rpfilter;
pub mod rt;
pub mod sctp;
pub mod set;
pub mod state;
pub mod statistic;
pub mod tcp;
pub mod tcpmss;
pub mod tos;
pub mod ttl;
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

/// A large extension is held in a box, so that [`Match`] stays small; it parses and prints as
/// the extension itself.
impl<T: MatchExt> MatchExt for Box<T> {
    const OPTIONS: &'static [&'static str] = T::OPTIONS;

    fn new() -> Self {
        Box::new(T::new())
    }

    fn option(&mut self, opt: Opt<'_>, args: &mut Args<'_>) -> Result<(), ParseError> {
        (**self).option(opt, args)
    }

    fn finish(&mut self, args: &Args<'_>, at: Span) -> Result<(), ParseError> {
        (**self).finish(args, at)
    }

    fn print(&self, out: &mut String) {
        (**self).print(out)
    }
}

macro_rules! match_registry {
    ($( $(#[$doc:meta])* $variant:ident($ty:ty) = $name:literal $(| $alias:literal)* ),* $(,)?) => {
        /// One extension match of a rule, typed; unmodelled ones are kept verbatim as `Opaque`.
        /// Extensions larger than a few words are boxed, so that a match takes three words.
        #[derive(Clone, Debug, PartialEq)]
        #[non_exhaustive]
        pub enum Match {
            $( $(#[$doc])* $variant($ty), )*
            /// An extension not modelled: kept verbatim, printed back as it came, reported.
            Opaque(Box<Opaque>),
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
    /// `-m ah`: IPsec AH SPI (and IPv6 header fields).
    Ah(Box<ah::Ah>) = "ah",
    /// `-m comment`: a comment, matches everything.
    Comment(comment::Comment) = "comment",
    /// `-m connlimit`: number of connections per address block.
    Connlimit(connlimit::Connlimit) = "connlimit",
    /// `-m connmark`: the connection mark.
    Connmark(connmark::Connmark) = "connmark",
    /// `-m conntrack`: connection tracking state and tuple.
    Conntrack(Box<conntrack::Conntrack>) = "conntrack",
    /// `-m dscp`: the DSCP field.
    Dscp(dscp::Dscp) = "dscp",
    /// `-m esp`: IPsec ESP SPI.
    Esp(esp::Esp) = "esp",
    /// `-m frag`: the IPv6 fragment header.
    Frag(Box<frag::Frag>) = "frag",
    /// `-m hashlimit`: per-group token buckets.
    Hashlimit(Box<hashlimit::Hashlimit>) = "hashlimit",
    /// `-m helper`: the connection's conntrack helper.
    Helper(Box<helper::Helper>) = "helper",
    /// `-m hl`: the IPv6 hop limit.
    Hl(hl::Hl) = "hl",
    /// `-m icmp`: ICMP type and code.
    Icmp(icmp::Icmp) = "icmp",
    /// `-m icmp6`: ICMPv6 type and code.
    Icmp6(icmp6::Icmp6) = "icmp6",
    /// `-m iprange`: address ranges.
    Iprange(Box<iprange::Iprange>) = "iprange",
    /// `-m length`: packet length.
    Length(length::Length) = "length",
    /// `-m limit`: a token bucket.
    Limit(limit::Limit) = "limit",
    /// `-m mac`: Ethernet source address.
    Mac(mac::Mac) = "mac",
    /// `-m mark`: the packet mark.
    Mark(mark::MarkMatch) = "mark",
    /// `-m multiport`: lists of ports.
    Multiport(Box<multiport::Multiport>) = "multiport",
    /// `-m nfacct`: extended accounting.
    Nfacct(Box<nfacct::Nfacct>) = "nfacct",
    /// `-m owner`: the local socket owner.
    Owner(Box<owner::Owner>) = "owner",
    /// `-m physdev`: bridge ports.
    Physdev(Box<physdev::Physdev>) = "physdev",
    /// `-m pkttype`: link-layer packet type.
    Pkttype(pkttype::Pkttype) = "pkttype",
    /// `-m policy`: IPsec policy.
    Policy(Box<policy::Policy>) = "policy",
    /// `-m recent`: lists of recently seen addresses.
    Recent(Box<recent::Recent>) = "recent",
    /// `-m rpfilter`: reverse-path filter.
    Rpfilter(rpfilter::Rpfilter) = "rpfilter",
    /// `-m rt`: the IPv6 routing header.
    Rt(Box<rt::Rt>) = "rt",
    /// `-m sctp`: SCTP ports and chunks.
    Sctp(Box<sctp::Sctp>) = "sctp",
    /// `-m set`: ipset membership.
    Set(Box<set::SetMatch>) = "set",
    /// `-m state`: conntrack state (older spelling, printed as `state`).
    State(state::State) = "state",
    /// `-m statistic`: random or every-nth matching.
    Statistic(statistic::Statistic) = "statistic",
    /// `-m tcp`: TCP ports and flags.
    Tcp(tcp::Tcp) = "tcp",
    /// `-m tcpmss`: the MSS option of TCP SYNs.
    Tcpmss(tcpmss::TcpmssMatch) = "tcpmss",
    /// `-m tos`: the TOS byte.
    Tos(tos::Tos) = "tos",
    /// `-m ttl`: the IPv4 TTL.
    Ttl(ttl::Ttl) = "ttl",
    /// `-m udp`: UDP ports.
    Udp(udp::Udp) = "udp",
}

/// Match extensions that iptables knows but chainwalk does not model yet: they are kept verbatim.
pub const KNOWN_UNMODELLED: &[&str] = &[
    "bpf",
    "cgroup",
    "cluster",
    "connbytes",
    "connlabel",
    "cpu",
    "dccp",
    "devgroup",
    "dst",
    "ecn",
    "eui64",
    "hbh",
    "ipcomp",
    "ipv6header",
    "ipvs",
    "mh",
    "osf",
    "quota",
    "rateest",
    "realm",
    "socket",
    "srh",
    "string",
    "time",
    "u32",
    "udplite",
];
