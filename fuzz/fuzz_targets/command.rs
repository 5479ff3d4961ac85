//! Fuzzes the command-script parser (and format detection).
#![no_main]

use libfuzzer_sys::fuzz_target;

mod common;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let parsed = chainwalk_netfilter::syntax::parse_commands(&text, None);
    common::exercise(&text, &parsed);
    let _ = chainwalk_netfilter::syntax::parse_any(&text, None);
});
