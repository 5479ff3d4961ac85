//! Extensions chainwalk does not model yet, kept verbatim so that nothing is lost.

use crate::model::Span;
use crate::syntax::args::Args;
use crate::syntax::token::{Token, push_restore_arg};

/// An unmodelled match or target: its name and its arguments exactly as given.
#[derive(Clone, Debug, PartialEq)]
pub struct Opaque {
    /// The extension name (`-m NAME` / `-j NAME`).
    pub name: String,
    /// The arguments that followed, unquoted.
    pub args: Vec<String>,
    /// Where the name stood.
    pub span: Span,
}

impl Opaque {
    /// Takes every argument up to the next generic rule option (`-s`, `-m`, `-j`, …).
    pub fn collect(name: &Token, args: &mut Args<'_>) -> Opaque {
        let mut taken = Vec::new();
        while let Some(t) = args.peek() {
            let next_is_generic = |t: &Token| !t.quoted && is_generic_option(&t.text);
            if next_is_generic(t) {
                break;
            }
            if t.text == "!" && !t.quoted && args.peek2().is_some_and(next_is_generic) {
                break;
            }
            taken.push(t.text.to_string());
            args.bump();
        }
        Opaque {
            name: name.text.to_string(),
            args: taken,
            span: name.span,
        }
    }

    /// Writes the arguments back, quoted only where they would not read back as one argument.
    pub fn print(&self, out: &mut String) {
        for a in &self.args {
            out.push(' ');
            push_restore_arg(out, a);
        }
    }
}

/// Whether `text` is one of the rule options that are not an extension's.
pub(crate) fn is_generic_option(text: &str) -> bool {
    matches!(
        text,
        "-s" | "--source"
            | "--src"
            | "-d"
            | "--destination"
            | "--dst"
            | "-i"
            | "--in-interface"
            | "-o"
            | "--out-interface"
            | "-p"
            | "--protocol"
            | "-f"
            | "--fragment"
            | "-m"
            | "--match"
            | "-j"
            | "--jump"
            | "-g"
            | "--goto"
            | "-c"
            | "--set-counters"
    )
}
