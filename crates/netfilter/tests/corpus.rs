//! The ruleset corpus: one test per file. Each file must parse without errors, pass `check`,
//! and print exactly what the kernel's `iptables-save` printed after `iptables-restore` of the
//! same file (recorded in `testdata/corpus/kernel-save/`; `#` lines and counters ignored).

use std::path::{Path, PathBuf};

use chainwalk_netfilter::check::check;
use chainwalk_netfilter::syntax::{SaveParser, Severity, parse_save, print_save};
use libtest_mimic::{Arguments, Failed, Trial};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata/corpus")
}

/// Drops `#` lines and zeroes counters, so outputs compare on rules alone.
fn normalise(text: &str) -> String {
    let mut out = String::new();
    for line in text.lines() {
        if line.starts_with('#') {
            continue;
        }
        let line = if line.starts_with('[') {
            line.split_once("] ").map(|(_, r)| r).unwrap_or(line)
        } else {
            line
        };
        let line = if line.starts_with(':') {
            match line.rfind(" [") {
                Some(i) => format!("{} [0:0]", &line[..i]),
                None => line.to_string(),
            }
        } else {
            line.to_string()
        };
        out.push_str(&line);
        out.push('\n');
    }
    out
}

fn run(file: &Path) -> Result<(), Failed> {
    let text = std::fs::read_to_string(file).map_err(|e| format!("{}: {e}", file.display()))?;
    let parsed = parse_save(&text, None);
    let name = file.file_name().and_then(|n| n.to_str()).unwrap_or("?");
    let mut lines = SaveParser::new(None);
    for line in text.split('\n') {
        lines.line(line);
    }
    let lines = lines.finish();
    if lines.ruleset != parsed.ruleset || lines.diagnostics != parsed.diagnostics {
        return Err("read a line at a time, the file gives another ruleset".into());
    }
    let errors: Vec<String> = parsed
        .diagnostics
        .iter()
        .chain(check(&parsed.ruleset).iter())
        .filter(|d| d.severity == Severity::Error)
        .map(|d| d.render(name, &text))
        .collect();
    if !errors.is_empty() {
        return Err(format!("{} errors:\n{}", errors.len(), errors.join("")).into());
    }
    let kernel = root().join("kernel-save").join(name);
    let Ok(expected) = std::fs::read_to_string(&kernel) else {
        return Ok(()); // the kernel refuses this file; the kernel suite lists why
    };
    let ours = normalise(&print_save(&parsed.ruleset));
    let expected = normalise(&expected);
    if ours != expected {
        let diff: Vec<String> = ours
            .lines()
            .zip(expected.lines())
            .filter(|(a, b)| a != b)
            .take(5)
            .map(|(a, b)| format!("  ours:   {a}\n  kernel: {b}"))
            .collect();
        return Err(format!(
            "differs from the kernel's iptables-save ({} vs {} lines):\n{}",
            ours.lines().count(),
            expected.lines().count(),
            diff.join("\n")
        )
        .into());
    }
    Ok(())
}

fn main() {
    let args = Arguments::from_args();
    let mut files: Vec<PathBuf> = std::fs::read_dir(root().join("rulesets"))
        .map(|d| d.filter_map(|e| e.ok().map(|e| e.path())).collect())
        .unwrap_or_default();
    files.retain(|p| p.extension().is_some_and(|e| e == "rules"));
    files.sort();
    let trials = files
        .into_iter()
        .map(|p| {
            let name = p
                .file_stem()
                .and_then(|s| s.to_str())
                .unwrap_or("?")
                .to_string();
            Trial::test(name, move || run(&p))
        })
        .collect();
    libtest_mimic::run(&args, trials).exit();
}
