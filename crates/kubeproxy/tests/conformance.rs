//! Every conformance case in `testdata/kube-proxy`: the first sync and every step's
//! sync must render exactly the case's `expected.rules` (compared in the canonical
//! order the case README defines).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use chainwalk_kubeproxy::{Case, Proxier, canonical_order};
use libtest_mimic::{Arguments, Failed, Trial};
use std::path::{Path, PathBuf};

fn cases_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata/kube-proxy")
}

fn diff(expected: &str, actual: &str) -> String {
    let mut out = String::new();
    let e: Vec<&str> = expected.lines().collect();
    let a: Vec<&str> = actual.lines().collect();
    for l in &e {
        if !a.contains(l) {
            out.push_str(&format!("- {l}\n"));
        }
    }
    for l in &a {
        if !e.contains(l) {
            out.push_str(&format!("+ {l}\n"));
        }
    }
    if out.is_empty() {
        out.push_str("(same lines, different order)\n");
        out.push_str(actual);
    }
    out
}

fn run_case(dir: &Path) -> Result<(), Failed> {
    let input = std::fs::read_to_string(dir.join("input.yaml"))?;
    let (case, mut cluster, mut warnings) = Case::load(&input)?;
    if !warnings.is_empty() {
        return Err(format!("unexpected warnings: {warnings:?}").into());
    }
    let mut proxier = Proxier::new(case.proxy_config());
    let check = |label: &str, restore: &str, file: PathBuf| -> Result<(), Failed> {
        let expected = std::fs::read_to_string(&file)?;
        let actual = canonical_order(restore);
        if actual != expected {
            return Err(format!(
                "{label}: output differs from {}:\n{}",
                file.display(),
                diff(&expected, &actual)
            )
            .into());
        }
        Ok(())
    };
    let out = proxier.sync(&cluster);
    check("first sync", &out.restore, dir.join("expected.rules"))?;
    for i in 0..case.steps.len() {
        if case.apply_step(i, &mut cluster, &mut warnings) {
            proxier.request_full_sync();
        }
        let out = proxier.sync(&cluster);
        let step = format!("step-{}", i + 1);
        check(&step, &out.restore, dir.join(&step).join("expected.rules"))?;
    }
    Ok(())
}

fn main() {
    let args = Arguments::from_args();
    let mut trials = Vec::new();
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(cases_dir())
        .expect("conformance dir")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.join("input.yaml").is_file())
        .collect();
    dirs.sort();
    for dir in dirs {
        let name = dir
            .file_name()
            .unwrap_or_default()
            .to_string_lossy()
            .to_string();
        let input = std::fs::read_to_string(dir.join("input.yaml")).unwrap_or_default();
        // Tracer-only cases (`KubeProxyTraceCase`) render nothing; the packet engine checks them.
        if input.contains("kind: KubeProxyTraceCase") {
            continue;
        }
        trials.push(Trial::test(name, move || run_case(&dir)));
    }
    libtest_mimic::run(&args, trials).exit();
}
