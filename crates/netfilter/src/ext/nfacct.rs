//! `-m nfacct --nfacct-name NAME`: counts the packet in a named extended-accounting object
//! (which must exist in the kernel); always matches.

use crate::ext::MatchExt;
use crate::model::Span;
use crate::syntax::args::{Args, Opt};
use crate::syntax::error::ParseError;
use crate::syntax::token::push_save_string;

/// The `nfacct` match.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Nfacct {
    /// `--nfacct-name`.
    pub name: String,
}

impl MatchExt for Nfacct {
    const OPTIONS: &'static [&'static str] = &["--nfacct-name"];

    fn new() -> Self {
        Nfacct::default()
    }

    fn option(&mut self, opt: Opt<'_>, args: &mut Args<'_>) -> Result<(), ParseError> {
        crate::ext::common::no_negation(&opt)?;
        let v = args.value(&opt)?;
        if v.text.is_empty() || v.text.len() > 31 {
            return Err(ParseError::new(
                v.span,
                "an nfacct name is 1 to 31 characters",
            ));
        }
        self.name = v.text.to_string();
        Ok(())
    }

    fn finish(&mut self, _args: &Args<'_>, at: Span) -> Result<(), ParseError> {
        if self.name.is_empty() {
            return Err(ParseError::new(
                at,
                "match `nfacct` requires `--nfacct-name`",
            ));
        }
        Ok(())
    }

    fn print(&self, out: &mut String) {
        // iptables 1.8.9 prints two blanks here.
        out.push_str(" --nfacct-name  ");
        push_save_string(out, &self.name);
    }
}

impl Nfacct {
    /// Not decidable from what a trace knows: always uncertain, saying why.
    pub fn eval(&self, _cx: &crate::eval::Cx<'_>) -> crate::eval::Truth {
        crate::eval::Truth::Unknown(
            "match `-m nfacct`: it depends on the accounting object's counters and quota".into(),
        )
    }
}
