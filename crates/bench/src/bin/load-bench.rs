//! Loads an `iptables-save` file the way chainwalk does (parse, then whole-ruleset
//! check) and prints the timings as `key=value` pairs:
//!
//! `load-bench [--whole] FILE [RUNS] [BUDGET_S]` (default 5 runs; with a budget, no
//! further run starts once the runs so far took that many seconds). Each run reads the
//! file a line at a time ([`SaveParser`], as a tool loading a file does), checks the
//! ruleset and drops it; reading is part of the timed load. With `--whole`, the file is
//! read once, outside the timed region, and each run parses the text with `parse_save`.
//! `peak_rss` is the peak resident set (`VmHWM`) once the first load is done: one loaded
//! ruleset (plus the text with `--whole`); `peak_rss_all` is the peak over all runs (later
//! runs may add heap fragmentation), and `base_rss` the RSS before the first load.

use chainwalk_bench::{median, peak_rss_bytes, rss_bytes};
use chainwalk_netfilter::check::check;
use chainwalk_netfilter::syntax::error::Severity;
use chainwalk_netfilter::syntax::parse_save;
use chainwalk_netfilter::syntax::save::{Parsed, SaveParser};
use std::io::BufRead;
use std::time::Instant;

/// Parses the file a line at a time.
fn parse_file(path: &str) -> std::io::Result<(Parsed, usize)> {
    let file = std::fs::File::open(path)?;
    let mut reader = std::io::BufReader::with_capacity(1 << 18, file);
    let mut p = SaveParser::new(None);
    let mut buf = Vec::new();
    let mut bytes = 0;
    loop {
        buf.clear();
        let n = reader.read_until(b'\n', &mut buf)?;
        if n == 0 {
            break;
        }
        bytes += n;
        if buf.last() == Some(&b'\n') {
            buf.pop();
        }
        match std::str::from_utf8(&buf) {
            Ok(line) => p.line(line),
            Err(_) => p.line(&String::from_utf8_lossy(&buf)),
        }
    }
    Ok((p.finish(), bytes))
}

fn main() {
    let all: Vec<String> = std::env::args().skip(1).collect();
    let whole = all.iter().any(|a| a == "--whole");
    let mut args = all.into_iter().filter(|a| a != "--whole");
    let Some(path) = args.next() else {
        eprintln!("usage: load-bench [--whole] FILE [RUNS] [BUDGET_S]");
        std::process::exit(2);
    };
    let runs: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(5).max(1);
    let budget: f64 = args
        .next()
        .and_then(|a| a.parse().ok())
        .unwrap_or(f64::INFINITY);
    let started = Instant::now();
    let text = if whole {
        match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) => {
                eprintln!("load-bench: cannot read {path}: {e}");
                std::process::exit(1);
            }
        }
    } else {
        String::new()
    };
    let mut size = text.len();
    let base_rss = rss_bytes().unwrap_or(0);
    let mut parse_t = Vec::new();
    let mut check_t = Vec::new();
    let mut total_t = Vec::new();
    let mut first_peak = None;
    let mut rules = 0usize;
    let mut chains = 0usize;
    let mut errors = 0usize;
    let mut warnings = 0usize;
    for _ in 0..runs {
        if !parse_t.is_empty() && started.elapsed().as_secs_f64() > budget {
            break;
        }
        let t0 = Instant::now();
        let parsed = if whole {
            parse_save(&text, None)
        } else {
            match parse_file(&path) {
                Ok((p, n)) => {
                    size = n;
                    p
                }
                Err(e) => {
                    eprintln!("load-bench: cannot read {path}: {e}");
                    std::process::exit(1);
                }
            }
        };
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
        if first_peak.is_none() {
            first_peak = peak_rss_bytes();
        }
        parse_t.push(t1 - t0);
        check_t.push(t2 - t1);
        total_t.push(t3 - t0);
    }
    let total = median(&total_t);
    let mb = size as f64 / 1e6;
    println!(
        "file={path} bytes={} rules={rules} chains={chains} errors={errors} warnings={warnings} runs={} \
         parse_ms={:.1} check_ms={:.1} load_ms={:.1} mb_per_s={:.1} base_rss={} peak_rss={} peak_rss_all={}",
        size,
        total_t.len(),
        median(&parse_t).as_secs_f64() * 1e3,
        median(&check_t).as_secs_f64() * 1e3,
        total.as_secs_f64() * 1e3,
        mb / total.as_secs_f64().max(1e-9),
        base_rss,
        first_peak.unwrap_or(0),
        peak_rss_bytes().unwrap_or(0),
    );
}
