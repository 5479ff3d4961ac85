//! Writes a synthetic node ruleset in `iptables-save` form:
//! `gen-node --services N --endpoints M [--seed S] [--calico W] [--docker D] --out FILE`
//! (`--out -` or no `--out` writes to standard output).

use chainwalk_kubeproxy::{NodeOptions, synthetic_node};
use std::io::Write;

fn main() {
    let mut opts = NodeOptions::default();
    let mut out = String::from("-");
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut num = |what: &str| -> usize {
            match args.next().and_then(|v| v.parse().ok()) {
                Some(v) => v,
                None => {
                    eprintln!("gen-node: {what} needs a number");
                    std::process::exit(2);
                }
            }
        };
        match a.as_str() {
            "--services" => opts.services = num("--services"),
            "--endpoints" => opts.endpoints = num("--endpoints"),
            "--seed" => opts.seed = num("--seed") as u64,
            "--calico" => opts.calico_workloads = num("--calico"),
            "--docker" => opts.docker_containers = num("--docker"),
            "--out" => out = args.next().unwrap_or_else(|| "-".into()),
            _ => {
                eprintln!(
                    "usage: gen-node --services N --endpoints M [--seed S] [--calico W] [--docker D] [--out FILE]"
                );
                std::process::exit(2);
            }
        }
    }
    let text = match synthetic_node(&opts) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("gen-node: {e}");
            std::process::exit(1);
        }
    };
    let res = if out == "-" {
        std::io::stdout().write_all(text.as_bytes())
    } else {
        std::fs::write(&out, text.as_bytes())
    };
    if let Err(e) = res {
        eprintln!("gen-node: cannot write {out}: {e}");
        std::process::exit(1);
    }
}
