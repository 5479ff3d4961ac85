//! Every corpus file the kernel accepts (`testdata/corpus/kernel-save/`), on a host model
//! that fits it, with packets generated from its own rules, through the real kernel.
//! Needs root and the tools from `.ci/install-deps.sh`; without them it fails (never
//! skipped).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Instant;

use chainwalk_conformance::{At, corpus::corpus_case, run_kernel};
use chainwalk_host::kernel::check_environment;

#[test]
fn corpus_rulesets_run_on_the_kernel() {
    if let Err(e) = check_environment() {
        panic!(
            "kernel tests need root and the kernel tools (run .ci/install-deps.sh as root): {e}"
        );
    }
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata/corpus/kernel-save");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "rules"))
        .collect();
    files.sort();
    assert!(files.len() >= 30, "{} files", files.len());
    let start = Instant::now();
    let (mut packets, mut matching) = (0, 0);
    let mut fates: BTreeMap<String, usize> = BTreeMap::new();
    for f in &files {
        let name = f.file_stem().unwrap().to_string_lossy().to_string();
        let rules = std::fs::read_to_string(f).unwrap();
        let case = corpus_case(&name, &rules, 12);
        assert!(!case.packets.is_empty(), "{name}: no packet from its rules");
        let t = Instant::now();
        let run = run_kernel(&case).unwrap_or_else(|e| {
            panic!("{name}: {e}\n{}\n{}", case.host_yaml(), case.packets_text())
        });
        let mut hit = 0;
        for r in &run.records {
            *fates.entry(format!("{:?}", r.fate)).or_default() += 1;
            if r.steps.iter().any(|s| matches!(s.at, At::Rule(_))) {
                hit += 1;
            }
        }
        println!(
            "{name}: {} packets, {hit} matched a rule, {:?}",
            run.records.len(),
            t.elapsed()
        );
        packets += run.records.len();
        matching += hit;
    }
    println!(
        "{} corpus files, {packets} packets in {:?}; fates {fates:?}; {matching} packets matched a rule",
        files.len(),
        start.elapsed()
    );
    assert!(matching * 2 > packets, "{matching} of {packets}");
}
