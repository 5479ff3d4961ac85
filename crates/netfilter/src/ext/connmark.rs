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
