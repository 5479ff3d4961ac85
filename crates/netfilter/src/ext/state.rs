//! `-m state --state LIST`: the older spelling of the conntrack state test. iptables keeps it as
//! its own match and prints it back as `-m state`, so it is modelled separately from
//! `conntrack`, sharing its state set.

use crate::eval::{Cx, Truth};
use crate::ext::MatchExt;
use crate::ext::conntrack::{CTSTATE_NAMES, CtState};
use crate::model::{Neg, Span};
use crate::syntax::args::{Args, Opt};
use crate::syntax::error::ParseError;

/// The `state` match.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct State {
    /// `--state`: the states, any of which matches.
    pub state: Option<Neg<CtState>>,
}

impl MatchExt for State {
    const OPTIONS: &'static [&'static str] = &["--state"];

    fn new() -> Self {
        State::default()
    }

    fn option(&mut self, mut opt: Opt<'_>, args: &mut Args<'_>) -> Result<(), ParseError> {
        let v = args.value_negatable(&mut opt)?;
        let mut bits = 0;
        for part in v.text.split(',') {
            // `state` knows the five real states; SNAT and DNAT are conntrack's alone.
            bits |= CTSTATE_NAMES
                .iter()
                .filter(|(_, b)| *b != CtState::SNAT && *b != CtState::DNAT)
                .find(|(n, _)| n.eq_ignore_ascii_case(part))
                .map(|(_, b)| *b)
                .ok_or_else(|| {
                    ParseError::new(v.span, format!("unknown state `{part}`")).with_help(
                        "`-m state` knows INVALID, NEW, RELATED, ESTABLISHED and UNTRACKED",
                    )
                })?;
        }
        self.state = Some(Neg {
            negated: opt.negated,
            value: CtState(bits),
        });
        Ok(())
    }

    fn finish(&mut self, _args: &Args<'_>, at: Span) -> Result<(), ParseError> {
        if self.state.is_none() {
            return Err(ParseError::new(at, "match `state` requires `--state`"));
        }
        Ok(())
    }

    fn print(&self, out: &mut String) {
        if let Some(s) = &self.state {
            crate::ext::common::push_neg(out, s.negated);
            out.push_str(" --state ");
            s.value.push(out);
        }
    }
}

impl State {
    /// Evaluates `--state`: whether the packet's conntrack state is one of the listed ones.
    pub fn eval(&self, cx: &Cx<'_>) -> Truth {
        Truth::of(
            self.state
                .as_ref()
                .is_none_or(|s| s.apply(cx.ct.state_bits() & s.value.0 != 0)),
        )
    }
}

#[cfg(test)]
mod tests {
    use crate::eval::Truth;
    use crate::eval::testkit::{Fixture, match4, packet};
    use crate::ext::Match;
    use crate::model::Protocol;

    fn state(rule: &str) -> super::State {
        match match4(rule) {
            Match::State(m) => m,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn state_of_the_connection() {
        let pkt = packet(Protocol::TCP, "192.168.49.7", "192.168.49.2");
        let new = Fixture::new(pkt.clone()).conn(0);
        let reply = Fixture::new(pkt.clone()).reply();
        let untracked = Fixture::new(pkt);
        let m = state("-m state --state NEW,RELATED");
        assert_eq!(m.eval(&new.cx()), Truth::Yes);
        assert_eq!(m.eval(&reply.cx()), Truth::No);
        let not_new = state("-m state ! --state NEW");
        assert_eq!(not_new.eval(&new.cx()), Truth::No);
        assert_eq!(not_new.eval(&reply.cx()), Truth::Yes);
        // Before conntrack has looked at it, a packet is INVALID.
        assert_eq!(
            state("-m state --state INVALID").eval(&untracked.cx()),
            Truth::Yes
        );
        assert_eq!(
            state("-m state --state ESTABLISHED").eval(&reply.cx()),
            Truth::Yes
        );
    }
}
