//! Fuzzes the printer against the parser: whatever `parse_save` reads without errors must print
//! to text that reads back without errors and prints identically (a fixed point).
#![no_main]

use chainwalk_netfilter::syntax::{parse_save, print_save};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let first = parse_save(&text, None);
    if first.has_errors() {
        return;
    }
    let printed = print_save(&first.ruleset);
    let second = parse_save(&printed, first.ruleset.family);
    let errors: Vec<String> = second
        .diagnostics
        .iter()
        .map(|d| d.render("printed", &printed))
        .collect();
    assert!(
        !second.has_errors(),
        "the print does not read back:\n{}",
        errors.join("")
    );
    assert_eq!(
        print_save(&second.ruleset),
        printed,
        "print is not a fixed point"
    );
});
