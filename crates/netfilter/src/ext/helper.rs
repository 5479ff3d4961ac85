//! `-m helper --helper NAME`: the conntrack helper of the packet's connection (`ftp`, `sip`…).

use crate::eval::{Cx, Truth};
use crate::ext::MatchExt;
use crate::ext::common::push_neg;
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
            value: v.text.clone(),
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
    /// Evaluates `--helper`. The engine takes this match as always holding, whatever the
    /// connection's helper.
    pub fn eval(&self, _cx: &Cx<'_>) -> Truth {
        Truth::Yes
    }
}

#[cfg(test)]
mod tests {
    use crate::eval::Truth;
    use crate::eval::testkit::{Fixture, match4, packet};
    use crate::ext::Match;
    use crate::model::Protocol;

    #[test]
    fn taken_as_holding() {
        let fix = Fixture::new(packet(Protocol::TCP, "192.168.49.7", "192.168.49.2")).conn(0);
        let m = match match4("-m helper --helper ftp") {
            Match::Helper(m) => m,
            other => panic!("{other:?}"),
        };
        assert_eq!(m.eval(&fix.cx()), Truth::Yes);
    }
}
