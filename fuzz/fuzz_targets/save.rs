//! Fuzzes the `iptables-save` parser.
#![no_main]

use libfuzzer_sys::fuzz_target;

mod common;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let parsed = chainwalk_netfilter::syntax::parse_save(&text, None);
    common::exercise(&text, &parsed);
});
