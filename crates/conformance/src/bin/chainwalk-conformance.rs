//! `chainwalk-conformance --seed S --cases N [--flows F] [--out DIR] [--engine chainwalk|kernel]
//! [--only I,J,...]`: runs `N` random cases and `F` flow cases of seed `S` on the kernel and
//! on the engine (with `--only`, just the random cases numbered `I`, `J`, ...),
//! prints `agree A / disagree D` and writes a reproducer folder for each disagreement
//! into `DIR` (default `conformance-failures`), shrunk to fewer packets and rules with at
//! most `TRIES` reruns (`--shrink`, default 60; 0 keeps cases whole). Needs root.
//!
//! Engines: `chainwalk` (the default: chainwalk's engine) and `kernel` (the kernel against
//! itself: shows that the cases are deterministic).

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use chainwalk_conformance::{ChainwalkEngine, Engine, KernelEngine, Outcome, generate, run_all};

struct Args {
    seed: u64,
    cases: u64,
    flows: u64,
    out: PathBuf,
    engine: String,
    shrink: usize,
    only: Option<Vec<u64>>,
}

const USAGE: &str = "usage: chainwalk-conformance --seed S --cases N [--flows F] [--out DIR] [--engine chainwalk|kernel] [--shrink TRIES] [--only I,J,...]";

fn parse_args() -> Result<Args, String> {
    let mut a = Args {
        seed: 1,
        cases: 100,
        flows: 0,
        out: PathBuf::from("conformance-failures"),
        engine: "chainwalk".into(),
        shrink: 60,
        only: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        if flag == "-h" || flag == "--help" {
            return Err(USAGE.into());
        }
        let value = it
            .next()
            .ok_or_else(|| format!("{flag} needs a value\n{USAGE}"))?;
        let num = || {
            value
                .parse::<u64>()
                .map_err(|_| format!("{flag}: not a number: {value}"))
        };
        match flag.as_str() {
            "--seed" => a.seed = num()?,
            "--cases" => a.cases = num()?,
            "--flows" => a.flows = num()?,
            "--out" => a.out = PathBuf::from(&value),
            "--engine" => a.engine = value.clone(),
            "--shrink" => a.shrink = num()? as usize,
            "--only" => {
                let list = value
                    .split(',')
                    .filter(|x| !x.trim().is_empty())
                    .map(|x| x.trim().parse::<u64>())
                    .collect::<Result<Vec<u64>, _>>()
                    .map_err(|_| format!("{flag}: not a list of case numbers: {value}"))?;
                a.only = Some(list);
            }
            other => return Err(format!("unknown option {other}\n{USAGE}")),
        }
    }
    Ok(a)
}

fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    let engine: Box<dyn Engine> = match args.engine.as_str() {
        "chainwalk" => Box::new(ChainwalkEngine),
        "kernel" => Box::new(KernelEngine),
        other => {
            eprintln!("unknown engine {other}; available: chainwalk, kernel");
            return ExitCode::from(2);
        }
    };
    let mut cases = match &args.only {
        Some(list) => list
            .iter()
            .map(|&i| generate::random_case(args.seed, i))
            .collect(),
        None => generate::random_cases(args.seed, args.cases),
    };
    cases.extend((0..args.flows).map(|i| generate::flow_case(args.seed, i)));
    let start = Instant::now();
    let total = cases.len();
    let mut done = 0usize;
    let result = run_all(
        &cases,
        engine.as_ref(),
        &args.out,
        args.shrink,
        |case, outcome| {
            done += 1;
            if let Outcome::Disagree(d) = outcome {
                eprintln!("[{done}/{total}] {}: {} differences", case.name, d.len());
            } else if done.is_multiple_of(50) {
                eprintln!("[{done}/{total}] {:?}", start.elapsed());
            }
        },
    );
    match result {
        Ok(s) => {
            println!(
                "agree {} / disagree {} (seed {}, engine {}, {:?})",
                s.agree,
                s.disagree,
                args.seed,
                engine.name(),
                start.elapsed()
            );
            for r in &s.reproducers {
                println!("reproducer: {}", r.display());
            }
            if s.disagree == 0 {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            }
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(2)
        }
    }
}
