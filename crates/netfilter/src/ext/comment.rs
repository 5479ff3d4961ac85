//! `-m comment --comment TEXT`: a note attached to a rule; always matches.

use crate::ext::MatchExt;
use crate::model::Span;
use crate::syntax::args::{Args, Opt};
use crate::syntax::error::ParseError;
use crate::syntax::token::push_save_string;

/// The longest comment the kernel stores, in bytes.
pub const MAX_LEN: usize = 255;

/// The `comment` match.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Comment {
    /// The comment text.
    pub text: Box<str>,
}

impl MatchExt for Comment {
    const OPTIONS: &'static [&'static str] = &["--comment"];

    fn new() -> Self {
        Comment::default()
    }

    fn option(&mut self, opt: Opt<'_>, args: &mut Args<'_>) -> Result<(), ParseError> {
        if opt.negated {
            return Err(opt.error("`--comment` cannot be negated"));
        }
        let v = args.value(&opt)?;
        if v.text.len() > MAX_LEN {
            return Err(ParseError::new(
                v.span,
                format!(
                    "comment is {} bytes long; at most {MAX_LEN} are allowed",
                    v.text.len()
                ),
            ));
        }
        self.text = v.as_str().into();
        Ok(())
    }

    fn finish(&mut self, _args: &Args<'_>, _at: Span) -> Result<(), ParseError> {
        Ok(())
    }

    fn print(&self, out: &mut String) {
        out.push_str(" --comment ");
        push_save_string(out, &self.text);
    }
}

impl Comment {
    /// A comment matches every packet.
    pub fn eval(&self, _cx: &crate::eval::Cx<'_>) -> crate::eval::Truth {
        crate::eval::Truth::Yes
    }
}
