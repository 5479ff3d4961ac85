//! Fuzzes the command-script parser (and format detection). A script read without errors must
//! also print to `iptables-save` text that reads back without errors and prints the same.
#![no_main]

use chainwalk_netfilter::syntax::{parse_any, parse_commands, parse_save, print_save};
use libfuzzer_sys::fuzz_target;

mod common;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let parsed = parse_commands(&text, None);
    common::exercise(&text, &parsed);
    if !parsed.has_errors() {
        let printed = print_save(&parsed.ruleset);
        let again = parse_save(&printed, parsed.ruleset.family);
        assert!(!again.has_errors(), "the print does not read back");
        assert_eq!(print_save(&again.ruleset), printed);
    }
    let _ = parse_any(&text, None);
});
