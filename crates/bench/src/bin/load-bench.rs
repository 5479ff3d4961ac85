//! Loads an `iptables-save` file the way chainwalk does (parse, then whole-ruleset
//! check) and prints the timings as `key=value` pairs:
//!
//! `load-bench FILE [RUNS] [BUDGET_S]` (default 5 runs; with a budget, no further run
//! starts once the runs so far took that many seconds). The file is read once,
//! outside the timed region; each run parses and checks it from the text and drops
//! the result.
//! Peak RSS (`VmHWM`) covers the text plus one loaded ruleset; the RSS before the
//! first load (binary plus text) is printed too.

use chainwalk_bench::{median, peak_rss_bytes, rss_bytes};
use chainwalk_netfilter::check::check;
use chainwalk_netfilter::syntax::error::Severity;
use chainwalk_netfilter::syntax::parse_save;
use std::time::Instant;

fn main() {
    let mut args = std::env::args().skip(1);
    let Some(path) = args.next() else {
        eprintln!("usage: load-bench FILE [RUNS]");
        std::process::exit(2);
    };
    let runs: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(5).max(1);
    let budget: f64 = args
        .next()
        .and_then(|a| a.parse().ok())
        .unwrap_or(f64::INFINITY);
    let started = Instant::now();
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("load-bench: cannot read {path}: {e}");
            std::process::exit(1);
        }
    };
    let base_rss = rss_bytes().unwrap_or(0);
    let mut parse_t = Vec::new();
    let mut check_t = Vec::new();
    let mut total_t = Vec::new();
    let mut rules = 0usize;
    let mut chains = 0usize;
    let mut errors = 0usize;
    let mut warnings = 0usize;
    for _ in 0..runs {
        if !parse_t.is_empty() && started.elapsed().as_secs_f64() > budget {
            break;
        }
        let t0 = Instant::now();
        let parsed = parse_save(&text, None);
        let t1 = Instant::now();
        let diags = check(&parsed.ruleset);
        let t2 = Instant::now();
        rules = parsed
            .ruleset
            .tables
            .iter()
            .flat_map(|t| &t.chains)
            .map(|c| c.rules.len())
            .sum();
        chains = parsed.ruleset.tables.iter().map(|t| t.chains.len()).sum();
        let all = parsed.diagnostics.iter().chain(&diags);
        errors = all
            .clone()
            .filter(|d| d.severity == Severity::Error)
            .count();
        warnings = all.count() - errors;
        drop(diags);
        drop(parsed);
        let t3 = Instant::now();
        parse_t.push(t1 - t0);
        check_t.push(t2 - t1);
        total_t.push(t3 - t0);
    }
    let total = median(&total_t);
    let mb = text.len() as f64 / 1e6;
    println!(
        "file={path} bytes={} rules={rules} chains={chains} errors={errors} warnings={warnings} runs={} \
         parse_ms={:.1} check_ms={:.1} load_ms={:.1} mb_per_s={:.1} base_rss={} peak_rss={}",
        text.len(),
        total_t.len(),
        median(&parse_t).as_secs_f64() * 1e3,
        median(&check_t).as_secs_f64() * 1e3,
        total.as_secs_f64() * 1e3,
        mb / total.as_secs_f64().max(1e-9),
        base_rss,
        peak_rss_bytes().unwrap_or(0),
    );
}
