//! Reading and writing rulesets: the restore tokenizer, the `iptables-save` and command-script
//! parsers, the canonical printer, and located diagnostics.

pub mod args;
pub mod build;
pub mod command;
pub mod error;
pub mod print;
pub mod rule;
pub mod save;
pub mod token;

pub use command::{Format, detect_format, parse_any, parse_commands};
pub use error::{Diagnostic, ParseError, Severity};
pub use print::{print_rule, print_save, rule_to_string};
pub use save::{Parsed, SaveParser, parse_save};
