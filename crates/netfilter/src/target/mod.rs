//! Targets (`-j NAME …` / `-g CHAIN`): verdicts, jumps, and target extensions, one module each.
//! Each module also computes what its target does to the packet or connection on the typed
//! fields (`MARK`, `CONNMARK`, the NAT targets, `REDIRECT`); the chain walk applies it.
//!
//! Adding a target extension: write `target/NAME.rs` with a type implementing [`TargetExt`],
//! add one line to the registry below, and give the chain walk an arm for its effect (targets
//! without one are reported as not modelled).

pub mod checksum;
pub mod classify;
pub mod connmark;
pub mod ct;
pub mod dnat;
pub mod dscp;
pub mod log;
pub mod mark;
pub mod masquerade;
pub mod nflog;
pub mod nfqueue;
pub mod redirect;
pub mod reject;
pub mod set;
pub mod tcpmss;
pub mod tos;
pub mod tproxy;
pub mod trace;
pub mod ttl;

use std::sync::Arc;

use crate::ext::Opaque;
use crate::model::Span;
use crate::syntax::args::{Args, Opt};
use crate::syntax::error::ParseError;

/// What every target extension provides to the parser and the printer.
pub trait TargetExt: Sized {
    /// Every long option the target takes.
    const OPTIONS: &'static [&'static str];

    /// A fresh instance, before any option is applied.
    fn new() -> Self;

    /// Applies one option (already recognised as one of [`TargetExt::OPTIONS`]).
    fn option(&mut self, opt: Opt<'_>, args: &mut Args<'_>) -> Result<(), ParseError>;

    /// Checks the finished target. `at` is the `-j NAME` argument.
    fn finish(&mut self, _args: &Args<'_>, _at: Span) -> Result<(), ParseError> {
        Ok(())
    }

    /// Writes the options as `iptables-save` prints them, each preceded by a space.
    fn print(&self, out: &mut String);
}

/// A large target is held in a box, so that [`Target`] stays small; it parses and prints as the
/// target itself.
impl<T: TargetExt> TargetExt for Box<T> {
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

macro_rules! target_registry {
    ($( $(#[$doc:meta])* $variant:ident($ty:ty) = $name:literal ),* $(,)?) => {
        /// What a rule does when all its matches hold. Targets larger than two words are boxed,
        /// so that a target takes three words.
        #[derive(Clone, Debug, PartialEq)]
        #[non_exhaustive]
        pub enum Target {
            /// `-j ACCEPT`: ends this table's traversal of the hook; the packet goes on.
            Accept,
            /// `-j DROP`: the packet is discarded.
            Drop,
            /// `-j RETURN`: back to the calling chain (or the policy of a built-in chain).
            Return,
            /// `-j QUEUE`: hands the packet to userspace queue 0.
            Queue,
            /// `-j CHAIN`: continue in a user chain, and come back after it. The name is shared
            /// with the other rules jumping there.
            Jump(Arc<str>),
            /// `-g CHAIN`: continue in a user chain without coming back here.
            Goto(Arc<str>),
            $( $(#[$doc])* $variant($ty), )*
            /// A target extension not modelled: kept verbatim and reported.
            Opaque(Box<Opaque>),
        }

        impl Target {
            /// A fresh modelled target extension for `-j NAME`, or `None`.
            pub fn new_extension(name: &str) -> Option<Target> {
                match name {
                    $( $name => Some(Target::$variant(<$ty as TargetExt>::new())), )*
                    _ => None,
                }
            }

            /// The options this target takes.
            pub fn options(&self) -> &'static [&'static str] {
                match self {
                    $( Target::$variant(_) => <$ty as TargetExt>::OPTIONS, )*
                    _ => &[],
                }
            }

            /// Applies one recognised option.
            pub fn option(&mut self, opt: Opt<'_>, args: &mut Args<'_>) -> Result<(), ParseError> {
                match self {
                    $( Target::$variant(t) => t.option(opt, args), )*
                    _ => Ok(()),
                }
            }

            /// Checks the finished target.
            pub fn finish(&mut self, args: &Args<'_>, at: Span) -> Result<(), ParseError> {
                match self {
                    $( Target::$variant(t) => t.finish(args, at), )*
                    _ => Ok(()),
                }
            }

            /// The name after `-j`/`-g`.
            pub fn name(&self) -> &str {
                match self {
                    Target::Accept => "ACCEPT",
                    Target::Drop => "DROP",
                    Target::Return => "RETURN",
                    Target::Queue => "QUEUE",
                    Target::Jump(c) | Target::Goto(c) => c,
                    $( Target::$variant(_) => $name, )*
                    Target::Opaque(o) => &o.name,
                }
            }

            /// Writes ` -j NAME …` or ` -g CHAIN`, as `iptables-save` prints it.
            pub fn print(&self, out: &mut String) {
                out.push_str(if matches!(self, Target::Goto(_)) { " -g " } else { " -j " });
                out.push_str(self.name());
                match self {
                    $( Target::$variant(t) => t.print(out), )*
                    Target::Opaque(o) => o.print(out),
                    _ => {}
                }
            }
        }

        /// Every modelled target extension name.
        pub const MODELLED: &[&str] = &[$( $name, )*];
    };
}

target_registry! {
    /// `-j CHECKSUM`: fill in a missing checksum (mangle).
    Checksum(checksum::Checksum) = "CHECKSUM",
    /// `-j CLASSIFY`: set the traffic-control class.
    Classify(classify::Classify) = "CLASSIFY",
    /// `-j CONNMARK`: set or copy the connection mark.
    Connmark(Box<connmark::ConnmarkTarget>) = "CONNMARK",
    /// `-j CT`: conntrack setup (raw).
    Ct(Box<ct::Ct>) = "CT",
    /// `-j DNAT`: rewrite the destination (nat PREROUTING/OUTPUT).
    Dnat(Box<dnat::Nat>) = "DNAT",
    /// `-j DSCP`: set the DSCP field (mangle).
    Dscp(dscp::DscpTarget) = "DSCP",
    /// `-j HL`: set or change the IPv6 hop limit (mangle).
    Hl(ttl::HlTarget) = "HL",
    /// `-j LOG`: kernel log line; non-terminating.
    Log(Box<log::Log>) = "LOG",
    /// `-j MARK`: set, and, or, xor the packet mark.
    Mark(mark::MarkTarget) = "MARK",
    /// `-j MASQUERADE`: rewrite the source to the output interface's address.
    Masquerade(masquerade::Masquerade) = "MASQUERADE",
    /// `-j NFLOG`: netlink log; non-terminating.
    Nflog(Box<nflog::Nflog>) = "NFLOG",
    /// `-j NFQUEUE`: hand to a userspace queue.
    Nfqueue(nfqueue::Nfqueue) = "NFQUEUE",
    /// `-j NOTRACK`: do not track (raw); old spelling of `CT --notrack`.
    Notrack(ct::Notrack) = "NOTRACK",
    /// `-j REDIRECT`: NAT to the local host (nat PREROUTING/OUTPUT).
    Redirect(redirect::Redirect) = "REDIRECT",
    /// `-j REJECT`: drop and answer with an ICMP error or TCP reset.
    Reject(reject::Reject) = "REJECT",
    /// `-j SET`: add to or delete from an ipset.
    Set(Box<set::SetTarget>) = "SET",
    /// `-j SNAT`: rewrite the source (nat POSTROUTING/INPUT).
    Snat(Box<dnat::Nat>) = "SNAT",
    /// `-j TCPMSS`: rewrite the MSS of TCP SYNs.
    Tcpmss(tcpmss::TcpmssTarget) = "TCPMSS",
    /// `-j TOS`: rewrite the TOS byte (mangle).
    Tos(tos::TosTarget) = "TOS",
    /// `-j TPROXY`: transparent proxying (mangle PREROUTING).
    Tproxy(Box<tproxy::Tproxy>) = "TPROXY",
    /// `-j TRACE`: mark for rule tracing; non-terminating.
    Trace(trace::Trace) = "TRACE",
    /// `-j TTL`: set or change the IPv4 TTL (mangle).
    Ttl(ttl::TtlTarget) = "TTL",
}

/// Target extensions iptables knows but chainwalk does not model yet: kept verbatim.
pub const KNOWN_UNMODELLED: &[&str] = &[
    "AUDIT",
    "CLUSTERIP",
    "CONNSECMARK",
    "DNPT",
    "ECN",
    "HMARK",
    "IDLETIMER",
    "LED",
    "NETMAP",
    "RATEEST",
    "SECMARK",
    "SNPT",
    "SYNPROXY",
    "TCPOPTSTRIP",
    "TEE",
    "ULOG",
];

/// The check iptables makes for NAT targets given ports (`--to-ports`, `ADDR:PORT`): the rule
/// must name a protocol (any, as the kernel then checks the rest).
pub(crate) fn require_proto_for_ports(
    args: &Args<'_>,
    at: Span,
    has_ports: bool,
) -> Result<(), ParseError> {
    if has_ports && args.proto.is_none() && !args.proto_inverted {
        return Err(ParseError::new(
            at,
            "a port mapping needs `-p tcp`, `-p udp`, `-p sctp` or `-p dccp`",
        )
        .with_help("iptables refuses ports in a rule that does not name a protocol"));
    }
    Ok(())
}
