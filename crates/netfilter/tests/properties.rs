//! Property tests: the restore tokenizer reads back what `push_restore_arg` writes; printing a
//! parsed rule and parsing the print again changes nothing (print → parse → print is a fixed
//! point); and a rule written as an `iptables` command parses to the same ruleset as the same
//! rule in `iptables-save` form.

#![allow(clippy::unwrap_used)]

use chainwalk_netfilter::syntax::command::split_script;
use chainwalk_netfilter::syntax::token::{push_restore_arg, tokenize};
use chainwalk_netfilter::syntax::{Parsed, parse_commands, parse_save, print_save};
use proptest::prelude::*;

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn tokenizer_round_trip(args in prop::collection::vec(".{0,40}", 0..8)) {
        let mut line = String::new();
        for a in &args {
            line.push(' ');
            push_restore_arg(&mut line, a);
        }
        let toks = tokenize(&line, 1, 0).unwrap();
        let back: Vec<String> = toks.into_iter().map(|t| t.text.into_owned()).collect();
        prop_assert_eq!(back, args);
    }

    #[test]
    fn shell_splitting_reads_back_shell_quoting(
        lines in prop::collection::vec(prop::collection::vec("[^\\x00\\r]{0,12}", 1..6), 1..4)
    ) {
        let mut script = String::new();
        for words in &lines {
            let quoted: Vec<String> = words
                .iter()
                .map(|w| shlex::try_quote(w).unwrap().into_owned())
                .collect();
            script.push_str(&quoted.join(" \\\n  "));
            script.push_str("  # comment\n\n");
        }
        let (cmds, errors) = split_script(&script);
        prop_assert!(errors.is_empty(), "{:?}", errors);
        let back: Vec<Vec<String>> = cmds
            .iter()
            .map(|c| c.iter().map(|w| w.text.clone()).collect())
            .collect();
        prop_assert_eq!(&back, &lines);
        // Every span covers exactly the word as written.
        for w in cmds.iter().flatten() {
            let raw = &script[w.span.range()];
            prop_assert_eq!(shlex::split(raw), Some(vec![w.text.clone()]));
        }
    }

    #[test]
    fn print_parse_print_is_a_fixed_point(rule in rule()) {
        let text = format!(
            "*filter\n:INPUT ACCEPT [0:0]\n:FORWARD DROP [0:0]\n:USER-CHAIN - [0:0]\n-A INPUT {rule}\nCOMMIT\n"
        );
        let first = no_errors(parse_save(&text, None), &text)?;
        let printed = print_save(&first.ruleset);
        let second = no_errors(parse_save(&printed, None), &printed)?;
        prop_assert_eq!(print_save(&second.ruleset), printed);
    }

    #[test]
    fn command_and_save_forms_agree(rule in rule()) {
        let save = format!("*filter\n:INPUT ACCEPT [0:0]\n:USER-CHAIN - [0:0]\n-A INPUT {rule}\nCOMMIT\n");
        let from_save = no_errors(parse_save(&save, None), &save)?;
        // The same arguments, quoted for the shell.
        let toks = tokenize(&rule, 1, 0).unwrap();
        let words: Vec<String> = toks.iter().map(|t| shlex::try_quote(&t.text).unwrap().into_owned()).collect();
        let script = format!("iptables -N USER-CHAIN\niptables -A INPUT {}\n", words.join(" "));
        let from_script = no_errors(parse_commands(&script, None), &script)?;
        prop_assert_eq!(print_save(&from_script.ruleset), print_save(&from_save.ruleset));
    }
}

fn no_errors(p: Parsed, text: &str) -> Result<Parsed, TestCaseError> {
    let rendered: String = p
        .diagnostics
        .iter()
        .map(|d| d.render("gen", text))
        .collect();
    prop_assert!(!p.has_errors(), "{}", rendered);
    Ok(p)
}

/// A quoted save-format string (`--comment` values).
fn save_quoted(value: &str) -> String {
    let mut s = String::new();
    push_restore_arg(&mut s, value);
    s
}

fn ipv4() -> impl Strategy<Value = String> {
    (any::<[u8; 4]>(), prop::option::of(0u8..=32)).prop_map(|(a, len)| {
        let addr = format!("{}.{}.{}.{}", a[0], a[1], a[2], a[3]);
        match len {
            Some(l) => format!("{addr}/{l}"),
            None => addr,
        }
    })
}

fn neg() -> impl Strategy<Value = &'static str> {
    prop_oneof![Just(""), Just("! ")]
}

fn iface() -> impl Strategy<Value = String> {
    "[a-z][a-z0-9]{0,8}\\+?"
}

fn port() -> impl Strategy<Value = String> {
    prop_oneof![
        (0u32..=65535).prop_map(|p| p.to_string()),
        (0u32..=65535, 0u32..=65535).prop_map(|(a, b)| format!("{}:{}", a.min(b), a.max(b))),
    ]
}

/// The options of one filter-table rule in save form, drawn from the modelled options.
fn rule() -> impl Strategy<Value = String> {
    let src = prop::option::of((neg(), ipv4()).prop_map(|(n, a)| format!("{n}-s {a}")));
    let dst = prop::option::of((neg(), ipv4()).prop_map(|(n, a)| format!("{n}-d {a}")));
    let inif = prop::option::of((neg(), iface()).prop_map(|(n, i)| format!("{n}-i {i}")));
    let proto = prop::option::of(prop_oneof![
        (neg(), port(), neg(), port()).prop_map(|(n1, p1, n2, p2)| {
            format!("-p tcp -m tcp {n1}--sport {p1} {n2}--dport {p2}")
        }),
        (neg(), port()).prop_map(|(n, p)| format!("-p udp -m udp {n}--dport {p}")),
        Just("-p icmp".to_string()),
    ]);
    let comment = prop::option::of(
        "[^\\x00\\n\\r]{1,60}".prop_map(|c| format!("-m comment --comment {}", save_quoted(&c))),
    );
    let mark = prop::option::of(
        (neg(), any::<u32>(), any::<u32>())
            .prop_map(|(n, v, m)| format!("-m mark {n}--mark {v:#x}/{m:#x}")),
    );
    let statistic = prop::option::of((0u32..=1_000_000u32).prop_map(|p| {
        format!(
            "-m statistic --mode random --probability {:.11}",
            f64::from(p) / 1e6
        )
    }));
    let target = prop::option::of(prop_oneof![
        Just("-j ACCEPT".to_string()),
        Just("-j DROP".to_string()),
        Just("-j RETURN".to_string()),
        Just("-j USER-CHAIN".to_string()),
        Just("-g USER-CHAIN".to_string()),
        (any::<u32>(), any::<u32>())
            .prop_map(|(v, m)| format!("-j MARK --set-xmark {v:#x}/{m:#x}")),
    ]);
    (src, dst, inif, proto, comment, mark, statistic, target).prop_map(
        |(s, d, i, p, c, m, st, t)| {
            [s, d, i, p, c, m, st, t]
                .into_iter()
                .flatten()
                .collect::<Vec<_>>()
                .join(" ")
        },
    )
}
