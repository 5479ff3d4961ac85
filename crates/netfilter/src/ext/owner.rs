//! `-m owner`: the local socket owner of locally generated packets (OUTPUT and POSTROUTING).

use crate::eval::{Cx, Truth};
use crate::ext::MatchExt;
use crate::ext::common::push_neg;
use crate::model::{Neg, Span};
use crate::syntax::args::{Args, Opt};
use crate::syntax::error::ParseError;
use crate::syntax::token::Token;

/// The `owner` match.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Owner {
    /// `--socket-exists`.
    pub socket_exists: Option<Neg<()>>,
    /// `--uid-owner FROM[-TO]`.
    pub uid: Option<Neg<(u32, u32)>>,
    /// `--gid-owner FROM[-TO]`.
    pub gid: Option<Neg<(u32, u32)>>,
    /// `--suppl-groups`: `--gid-owner` also tests supplementary groups.
    pub suppl_groups: bool,
}

/// Parses an id or id range. Names other than `root` would need the host's user database,
/// which the core does not read; they are refused with a hint.
fn id_range(tok: &Token, what: &str) -> Result<(u32, u32), ParseError> {
    if tok.text == "root" {
        return Ok((0, 0));
    }
    let num = |s: &str| s.parse::<u32>().ok().filter(|n| *n != u32::MAX);
    let (a, b) = tok.text.split_once('-').unwrap_or((&tok.text, &tok.text));
    match (num(a), num(b)) {
        (Some(a), Some(b)) if a <= b => Ok((a, b)),
        _ => Err(
            ParseError::new(tok.span, format!("invalid {what} `{}`", tok.text)).with_help(format!(
                "give a numeric {what} or range; names are resolved on the host"
            )),
        ),
    }
}

impl MatchExt for Owner {
    const OPTIONS: &'static [&'static str] = &[
        "--uid-owner",
        "--gid-owner",
        "--socket-exists",
        "--suppl-groups",
    ];

    fn new() -> Self {
        Owner::default()
    }

    fn option(&mut self, mut opt: Opt<'_>, args: &mut Args<'_>) -> Result<(), ParseError> {
        match opt.name {
            "--uid-owner" | "--gid-owner" => {
                let v = args.value_negatable(&mut opt)?;
                let is_uid = opt.name == "--uid-owner";
                let r = id_range(v, if is_uid { "user id" } else { "group id" })?;
                let val = Some(Neg {
                    negated: opt.negated,
                    value: r,
                });
                if is_uid {
                    self.uid = val;
                } else {
                    self.gid = val;
                }
            }
            "--socket-exists" => {
                self.socket_exists = Some(Neg {
                    negated: opt.negated,
                    value: (),
                })
            }
            _ => {
                crate::ext::common::no_negation(&opt)?;
                self.suppl_groups = true;
            }
        }
        Ok(())
    }

    fn finish(&mut self, _args: &Args<'_>, at: Span) -> Result<(), ParseError> {
        if self.suppl_groups && self.gid.is_none() {
            return Err(ParseError::new(
                at,
                "`--suppl-groups` requires `--gid-owner`",
            ));
        }
        if *self == Owner::default() {
            return Err(ParseError::new(
                at,
                "match `owner` needs at least one option",
            ));
        }
        Ok(())
    }

    fn print(&self, out: &mut String) {
        if let Some(s) = &self.socket_exists {
            push_neg(out, s.negated);
            out.push_str(" --socket-exists");
        }
        for (name, r) in [("--uid-owner", &self.uid), ("--gid-owner", &self.gid)] {
            if let Some(r) = r {
                push_neg(out, r.negated);
                let (a, b) = r.value;
                if a == b {
                    out.push_str(&format!(" {name} {a}"));
                } else {
                    out.push_str(&format!(" {name} {a}-{b}"));
                }
            }
        }
        if self.suppl_groups {
            out.push_str(" --suppl-groups");
        }
    }
}

impl Owner {
    /// Evaluates the owner tests. Packets from local sockets cannot be decided (the socket's
    /// owner is not modelled); a packet without a socket (one that came in) matches only when
    /// every test is negated, as the kernel answers for a missing socket (`--suppl-groups`
    /// counts as a test that is not negated).
    pub fn eval(&self, cx: &Cx<'_>) -> Truth {
        if cx.pkt.in_iface.is_none() {
            return Truth::Unknown("owner: the sending socket's owner is not modelled".into());
        }
        let negated = |n: Option<bool>| n.is_none_or(|n| n);
        Truth::of(
            negated(self.socket_exists.as_ref().map(|s| s.negated))
                && negated(self.uid.as_ref().map(|u| u.negated))
                && negated(self.gid.as_ref().map(|g| g.negated))
                && !self.suppl_groups,
        )
    }
}

#[cfg(test)]
mod tests {
    use crate::eval::Truth;
    use crate::eval::testkit::{Fixture, match4_in, packet};
    use crate::ext::Match;
    use crate::model::Protocol;

    fn owner(rule: &str) -> super::Owner {
        match match4_in("filter", "OUTPUT", rule) {
            Match::Owner(m) => *m,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn packets_without_a_socket() {
        let fix = Fixture::new(packet(Protocol::TCP, "192.168.49.7", "192.168.49.2"));
        assert_eq!(owner("-m owner --uid-owner 0").eval(&fix.cx()), Truth::No);
        assert_eq!(
            owner("-m owner ! --uid-owner 0").eval(&fix.cx()),
            Truth::Yes
        );
        assert_eq!(owner("-m owner --socket-exists").eval(&fix.cx()), Truth::No);
        assert_eq!(
            owner("-m owner ! --socket-exists ! --gid-owner 5").eval(&fix.cx()),
            Truth::Yes
        );
        assert_eq!(
            owner("-m owner ! --socket-exists --gid-owner 5").eval(&fix.cx()),
            Truth::No
        );
        // `--suppl-groups` is a test of its own that is never negated.
        assert_eq!(
            owner("-m owner ! --gid-owner 5 --suppl-groups").eval(&fix.cx()),
            Truth::No
        );
    }

    #[test]
    fn local_sockets_are_uncertain() {
        let mut pkt = packet(Protocol::TCP, "192.168.49.2", "192.168.49.7");
        pkt.in_iface = None;
        let fix = Fixture::new(pkt);
        assert!(matches!(
            owner("-m owner --uid-owner 0").eval(&fix.cx()),
            Truth::Unknown(_)
        ));
    }
}
