//! `-m connmark --mark VALUE[/MASK]`: the connection's mark, masked.

use crate::conntrack::CtInfo;
use crate::eval::{Cx, Truth};
use crate::ext::MatchExt;
use crate::ext::common::push_neg;
use crate::ext::mark::MarkMask;
use crate::model::{Neg, Span};
use crate::syntax::args::{Args, Opt};
use crate::syntax::error::ParseError;

/// The `connmark` match.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Connmark {
    /// `--mark`.
    pub mark: Option<Neg<MarkMask>>,
}

impl MatchExt for Connmark {
    const OPTIONS: &'static [&'static str] = &["--mark"];

    fn new() -> Self {
        Connmark::default()
    }

    fn option(&mut self, mut opt: Opt<'_>, args: &mut Args<'_>) -> Result<(), ParseError> {
        let v = args.value_negatable(&mut opt)?;
        self.mark = Some(Neg {
            negated: opt.negated,
            value: MarkMask::parse(v)?,
        });
        Ok(())
    }

    fn finish(&mut self, _args: &Args<'_>, at: Span) -> Result<(), ParseError> {
        if self.mark.is_none() {
            return Err(ParseError::new(at, "match `connmark` requires `--mark`"));
        }
        Ok(())
    }

    fn print(&self, out: &mut String) {
        if let Some(m) = &self.mark {
            push_neg(out, m.negated);
            out.push_str(" --mark ");
            m.value.push(out);
        }
    }
}

impl Connmark {
    /// Evaluates `--mark` against the connection's mark. Without a connection the match fails,
    /// negated or not, as in the kernel.
    pub fn eval(&self, cx: &Cx<'_>) -> Truth {
        let Some(m) = &self.mark else {
            return Truth::Yes;
        };
        match cx.ct {
            CtInfo::Conn { entry, .. } => {
                Truth::of(m.apply(entry.mark & m.value.mask == m.value.value))
            }
            _ => Truth::No,
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::eval::Truth;
    use crate::eval::testkit::{Fixture, match4, packet};
    use crate::ext::Match;
    use crate::model::Protocol;

    fn connmark(rule: &str) -> super::Connmark {
        match match4(rule) {
            Match::Connmark(m) => m,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn masked_connection_mark() {
        let pkt = packet(Protocol::TCP, "192.168.49.7", "192.168.49.2");
        let marked = Fixture::new(pkt.clone()).conn(0x5);
        assert_eq!(
            connmark("-m connmark --mark 0x1/0x1").eval(&marked.cx()),
            Truth::Yes
        );
        assert_eq!(
            connmark("-m connmark --mark 0x2/0x2").eval(&marked.cx()),
            Truth::No
        );
        assert_eq!(
            connmark("-m connmark --mark 0x5").eval(&marked.cx()),
            Truth::Yes
        );
        assert_eq!(
            connmark("-m connmark ! --mark 0x2/0x2").eval(&marked.cx()),
            Truth::Yes
        );
        assert_eq!(
            connmark("-m connmark ! --mark 0x1/0x1").eval(&marked.cx()),
            Truth::No
        );
        // Without a connection neither the test nor its negation holds.
        let none = Fixture::new(pkt);
        assert_eq!(
            connmark("-m connmark ! --mark 0x2/0x2").eval(&none.cx()),
            Truth::No
        );
        assert_eq!(
            connmark("-m connmark --mark 0x0").eval(&none.cx()),
            Truth::No
        );
    }
}
