//! Targets (`-j NAME …` / `-g CHAIN`): verdicts, jumps, and target extensions, one module each.
//!
//! Adding a target extension: write `target/NAME.rs` with a type implementing [`TargetExt`],
//! and add one line to the registry below.

pub mod dnat;
pub mod mark;
pub mod masquerade;
pub mod reject;

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

macro_rules! target_registry {
    ($( $(#[$doc:meta])* $variant:ident($ty:ty) = $name:literal ),* $(,)?) => {
        /// What a rule does when all its matches hold.
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
            /// `-j CHAIN`: continue in a user chain, and come back after it.
            Jump(String),
            /// `-g CHAIN`: continue in a user chain without coming back here.
            Goto(String),
            $( $(#[$doc])* $variant($ty), )*
            /// A target extension not modelled: kept verbatim and reported.
            Opaque(Opaque),
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
    /// `-j DNAT`: rewrite the destination (nat PREROUTING/OUTPUT).
    Dnat(dnat::Nat) = "DNAT",
    /// `-j MARK`: set, and, or, xor the packet mark.
    Mark(mark::MarkTarget) = "MARK",
    /// `-j MASQUERADE`: rewrite the source to the output interface's address.
    Masquerade(masquerade::Masquerade) = "MASQUERADE",
    /// `-j REJECT`: drop and answer with an ICMP error or TCP reset.
    Reject(reject::Reject) = "REJECT",
    /// `-j SNAT`: rewrite the source (nat POSTROUTING/INPUT).
    Snat(dnat::Nat) = "SNAT",
}

/// Target extensions iptables knows but chainwalk does not model yet: kept verbatim.
pub const KNOWN_UNMODELLED: &[&str] = &[
    "AUDIT",
    "CHECKSUM",
    "CLASSIFY",
    "CLUSTERIP",
    "CONNMARK",
    "CONNSECMARK",
    "CT",
    "DNPT",
    "DSCP",
    "ECN",
    "HL",
    "HMARK",
    "IDLETIMER",
    "LED",
    "LOG",
    "NETMAP",
    "NFLOG",
    "NFQUEUE",
    "NOTRACK",
    "RATEEST",
    "REDIRECT",
    "SECMARK",
    "SET",
    "SNPT",
    "SYNPROXY",
    "TCPMSS",
    "TCPOPTSTRIP",
    "TEE",
    "TOS",
    "TPROXY",
    "TRACE",
    "TTL",
    "ULOG",
];
