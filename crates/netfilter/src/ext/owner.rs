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
    /// Evaluates the owner tests as xt_owner does. A packet that came in on an interface,
    /// or was sent from no socket, matches only when every test is negated
    /// (`--suppl-groups` counts as a test that is not negated). A kernel socket exists but
    /// has no owner: `--socket-exists` holds, a user or group test holds only when negated.
    /// A process's socket is tested by its owner's ids; a local packet whose socket is not
    /// known, or a test of an id that is not known, is uncertain.
    pub fn eval(&self, cx: &Cx<'_>) -> Truth {
        use crate::packet::Sender;
        let negated = |n: Option<bool>| n.is_none_or(|n| n);
        let no_socket = || {
            Truth::of(
                negated(self.socket_exists.as_ref().map(|s| s.negated))
                    && negated(self.uid.as_ref().map(|u| u.negated))
                    && negated(self.gid.as_ref().map(|g| g.negated))
                    && !self.suppl_groups,
            )
        };
        if cx.pkt.in_iface.is_some() {
            return no_socket();
        }
        let (uid, gid, groups) = match &cx.pkt.sender {
            None => {
                return Truth::Unknown(
                    "owner: the sending socket is not known (give --uid and --gid, or --socket)"
                        .into(),
                );
            }
            Some(Sender::NoSocket) => return no_socket(),
            Some(s) => {
                if self.socket_exists.as_ref().is_some_and(|s| s.negated) {
                    return Truth::No;
                }
                match s {
                    Sender::Process { uid, gid, groups } => (uid, gid, groups),
                    _ => {
                        return Truth::of(
                            negated(self.uid.as_ref().map(|u| u.negated))
                                && negated(self.gid.as_ref().map(|g| g.negated)),
                        );
                    }
                }
            }
        };
        let within = |id: u32, (lo, hi): (u32, u32)| lo <= id && id <= hi;
        let uid_test = || match (&self.uid, uid) {
            (None, _) => Truth::Yes,
            (Some(_), None) => {
                Truth::Unknown("owner: the sending process's user id is not known".into())
            }
            (Some(r), Some(u)) => Truth::of(within(*u, r.value) != r.negated),
        };
        let gid_test = || match (&self.gid, gid) {
            (None, _) => Truth::Yes,
            (Some(_), None) => {
                Truth::Unknown("owner: the sending process's group id is not known".into())
            }
            (Some(r), Some(g)) => {
                let primary = within(*g, r.value);
                if primary || !self.suppl_groups {
                    return Truth::of(primary != r.negated);
                }
                match groups {
                    None => Truth::Unknown(
                        "owner: the sending process's supplementary groups are not known".into(),
                    ),
                    Some(gs) => Truth::of(gs.iter().any(|x| within(*x, r.value)) != r.negated),
                }
            }
        };
        uid_test().and(gid_test)
    }
}

#[cfg(test)]
mod tests {
    use crate::eval::Truth;
    use crate::eval::testkit::{Fixture, match4_in, packet};
    use crate::ext::Match;
    use crate::model::Protocol;
    use crate::packet::Sender;

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

    fn local(sender: Sender) -> Fixture {
        let mut pkt = packet(Protocol::TCP, "192.168.49.2", "192.168.49.7");
        pkt.in_iface = None;
        pkt.sender = Some(sender);
        Fixture::new(pkt)
    }

    fn process(uid: Option<u32>, gid: Option<u32>, groups: Option<Vec<u32>>) -> Fixture {
        local(Sender::Process { uid, gid, groups })
    }

    #[test]
    fn a_process_socket_is_tested_by_its_owner() {
        let fix = process(Some(104), Some(50), Some(vec![7, 9]));
        let eval = |rule: &str| owner(rule).eval(&fix.cx());
        assert_eq!(eval("-m owner --uid-owner 104"), Truth::Yes);
        assert_eq!(eval("-m owner --uid-owner 100-110"), Truth::Yes);
        assert_eq!(eval("-m owner --uid-owner 0"), Truth::No);
        assert_eq!(eval("-m owner ! --uid-owner 0"), Truth::Yes);
        assert_eq!(eval("-m owner --socket-exists"), Truth::Yes);
        assert_eq!(eval("-m owner ! --socket-exists"), Truth::No);
        assert_eq!(eval("-m owner --gid-owner 50"), Truth::Yes);
        assert_eq!(eval("-m owner --gid-owner 9"), Truth::No);
        assert_eq!(eval("-m owner --gid-owner 9 --suppl-groups"), Truth::Yes);
        assert_eq!(eval("-m owner ! --gid-owner 9 --suppl-groups"), Truth::No);
        assert_eq!(eval("-m owner --uid-owner 104 ! --gid-owner 50"), Truth::No);
    }

    #[test]
    fn ids_that_are_not_known_are_uncertain() {
        let fix = process(Some(0), None, None);
        let eval = |rule: &str| owner(rule).eval(&fix.cx());
        assert_eq!(eval("-m owner --uid-owner 0"), Truth::Yes);
        assert!(matches!(eval("-m owner --gid-owner 0"), Truth::Unknown(_)));
        // A failing test decides whatever the other one is.
        assert_eq!(eval("-m owner --uid-owner 5 --gid-owner 0"), Truth::No);
        let fix = process(Some(0), Some(0), None);
        assert_eq!(
            owner("-m owner --gid-owner 0 --suppl-groups").eval(&fix.cx()),
            Truth::Yes
        );
        assert!(matches!(
            owner("-m owner --gid-owner 5 --suppl-groups").eval(&fix.cx()),
            Truth::Unknown(_)
        ));
    }

    #[test]
    fn kernel_sockets_and_packets_without_a_socket() {
        let fix = local(Sender::Kernel);
        let eval = |rule: &str| owner(rule).eval(&fix.cx());
        assert_eq!(eval("-m owner --socket-exists"), Truth::Yes);
        assert_eq!(eval("-m owner ! --socket-exists"), Truth::No);
        assert_eq!(eval("-m owner --uid-owner 0"), Truth::No);
        assert_eq!(eval("-m owner ! --uid-owner 0"), Truth::Yes);
        assert_eq!(eval("-m owner ! --uid-owner 0 --gid-owner 0"), Truth::No);
        let fix = local(Sender::NoSocket);
        let eval = |rule: &str| owner(rule).eval(&fix.cx());
        assert_eq!(eval("-m owner --socket-exists"), Truth::No);
        assert_eq!(eval("-m owner ! --socket-exists"), Truth::Yes);
        assert_eq!(eval("-m owner --uid-owner 0"), Truth::No);
        assert_eq!(eval("-m owner ! --uid-owner 0"), Truth::Yes);
    }
}
