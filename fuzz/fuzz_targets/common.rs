//! What every target checks after parsing: the checks run, every diagnostic renders, and the
//! canonical print of an error-free parse reads back without errors.

use chainwalk_netfilter::check::check;
use chainwalk_netfilter::syntax::{Parsed, parse_save, print_save};

pub fn exercise(text: &str, parsed: &Parsed) {
    let found = check(&parsed.ruleset);
    for d in parsed.diagnostics.iter().chain(found.iter()) {
        let _ = d.render("fuzz", text);
    }
    let printed = print_save(&parsed.ruleset);
    let again = parse_save(&printed, parsed.ruleset.family);
    let _ = print_save(&again.ruleset);
}
