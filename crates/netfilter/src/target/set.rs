//! `-j SET`: adds the packet's addresses/ports to an ipset, or deletes them from one.

use crate::ext::common::number;
use crate::ext::set::SetRef;
use crate::model::Span;
use crate::syntax::args::{Args, Opt};
use crate::syntax::error::ParseError;
use crate::target::TargetExt;

/// The `SET` target.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SetTarget {
    /// `--add-set NAME DIRS`.
    pub add: Option<SetRef>,
    /// `--del-set NAME DIRS`.
    pub del: Option<SetRef>,
    /// `--exist`: refresh an existing entry instead of failing.
    pub exist: bool,
    /// `--timeout` for added entries, in seconds.
    pub timeout: Option<u32>,
}

impl TargetExt for SetTarget {
    const OPTIONS: &'static [&'static str] = &["--add-set", "--del-set", "--exist", "--timeout"];

    fn new() -> Self {
        SetTarget::default()
    }

    fn option(&mut self, opt: Opt<'_>, args: &mut Args<'_>) -> Result<(), ParseError> {
        match opt.name {
            "--add-set" | "--del-set" => {
                let name = args.value(&opt)?;
                let dirs = args.value(&opt)?;
                let r = Some(SetRef::parse(name, dirs)?);
                if opt.name == "--add-set" {
                    self.add = r;
                } else {
                    self.del = r;
                }
            }
            "--exist" => self.exist = true,
            _ => self.timeout = Some(number(args.value(&opt)?, opt.name, 0, u32::MAX)?),
        }
        Ok(())
    }

    fn finish(&mut self, _args: &Args<'_>, at: Span) -> Result<(), ParseError> {
        if self.add.is_none() && self.del.is_none() {
            return Err(ParseError::new(
                at,
                "target `SET` needs `--add-set` or `--del-set`",
            ));
        }
        Ok(())
    }

    fn print(&self, out: &mut String) {
        if let Some(a) = &self.add {
            out.push_str(" --add-set ");
            a.push(out);
        }
        if let Some(d) = &self.del {
            out.push_str(" --del-set ");
            d.push(out);
        }
        if self.exist {
            out.push_str(" --exist");
        }
        if let Some(t) = self.timeout {
            out.push_str(&format!(" --timeout {t}"));
        }
    }
}
