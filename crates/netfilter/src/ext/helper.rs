//! `-m helper --helper NAME`: the conntrack helper of the packet's connection (`ftp`, `sip`…).

use crate::eval::{Cx, Truth};
use crate::ext::MatchExt;
use crate::ext::common::push_neg;
use crate::ext::conntrack::CtState;
use crate::model::{Neg, Span};
use crate::syntax::args::{Args, Opt};
use crate::syntax::error::ParseError;
use crate::syntax::token::push_save_string;

/// The `helper` match.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Helper {
    /// `--helper`: the helper name, optionally with `-PORT`.
    pub name: Option<Neg<String>>,
}

impl MatchExt for Helper {
    const OPTIONS: &'static [&'static str] = &["--helper"];

    fn new() -> Self {
        Helper::default()
    }

    fn option(&mut self, mut opt: Opt<'_>, args: &mut Args<'_>) -> Result<(), ParseError> {
        let v = args.value_negatable(&mut opt)?;
        if v.text.len() > 29 {
            return Err(ParseError::new(
                v.span,
                "a helper name is at most 29 characters",
            ));
        }
        self.name = Some(Neg {
            negated: opt.negated,
            value: v.text.to_string(),
        });
        Ok(())
    }

    fn finish(&mut self, _args: &Args<'_>, at: Span) -> Result<(), ParseError> {
        if self.name.is_none() {
            return Err(ParseError::new(at, "match `helper` requires `--helper`"));
        }
        Ok(())
    }

    fn print(&self, out: &mut String) {
        if let Some(n) = &self.name {
            push_neg(out, n.negated);
            out.push_str(" --helper ");
            push_save_string(out, &n.value);
        }
    }
}

impl Helper {
    /// Evaluates `--helper`. The kernel tests the helper of the connection's master, so only
    /// a RELATED connection (an expected one) can match; for any other packet the answer is
    /// the negation flag alone: `--helper NAME` fails and `! --helper NAME` holds.
    pub fn eval(&self, cx: &Cx<'_>) -> Truth {
        let Some(name) = &self.name else {
            return Truth::Yes;
        };
        if cx.ct.state_bits() & CtState::RELATED != 0 {
            return Truth::Unknown(
                "helper: the helper of the master connection is not modelled".into(),
            );
        }
        Truth::of(name.negated)
    }
}

#[cfg(test)]
mod tests {
    use crate::eval::Truth;
    use crate::eval::testkit::{Fixture, match4, packet};
    use crate::ext::Match;
    use crate::model::Protocol;

    /// Checked against the kernel (iptables 1.8.9, nf_tables): on a fresh UDP connection over
    /// lo, `-m helper --helper ftp` counted 0 packets and `-m helper ! --helper ftp` 1.
    #[test]
    fn only_related_connections_have_a_helper() {
        let pkt = packet(Protocol::UDP, "192.168.49.7", "192.168.49.2");
        let eval = |fix: &Fixture, rule: &str| match match4(rule) {
            Match::Helper(m) => m.eval(&fix.cx()),
            other => panic!("{other:?}"),
        };
        for fix in [
            Fixture::new(pkt.clone()).conn(0),
            Fixture::new(pkt.clone()).reply(),
            Fixture::new(pkt),
        ] {
            assert_eq!(eval(&fix, "-m helper --helper ftp"), Truth::No);
            assert_eq!(eval(&fix, "-m helper ! --helper ftp"), Truth::Yes);
        }
    }
}
