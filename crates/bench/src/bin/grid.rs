//! `grid`: the loss-recovery goodput grid of issue 7 (see `src/grid.rs`).
//!
//! ```text
//! grid [--rtt 10,40,160] [--loss 0,0.001,0.01,0.05] [--reorder 0,0.02]
//!      [--rate 100] [--queue PKTS] [--bytes N] [--cap SECS] [--seeds N]
//!      [--contenders ustack-newreno,ustack-sack-cubic-rack,smoltcp-reno,smoltcp-cubic]
//!      [--threads N] [--json FILE] [--quiet]
//! grid --linux [--rtt 10,40] [--loss 0,0.01] [--reorder 0] [--rate 100]
//!      [--queue PKTS] [--bytes N] [--cap SECS] [--seeds N] [--json FILE]
//!      [--pcap DIR]
//! ```
//!
//! `--linux` (root) runs the wall-clock comparison against the kernel
//! through the impairment forwarder instead (see `src/grid_linux.rs`);
//! `--pcap DIR` records each run's packets at the receiver's side of the
//! forwarder, one file per run in DIR.
//!
//! Prints a markdown table on stdout; `--json` writes every run.
#[path = "../grid.rs"]
mod grid;
#[path = "../grid_linux.rs"]
mod grid_linux;

use grid::{run_grid, Contender, GridConfig};
use std::process::ExitCode;

fn list<T>(s: &str, f: impl Fn(&str) -> Option<T>) -> Result<Vec<T>, String> {
    s.split(',')
        .map(|x| f(x.trim()).ok_or_else(|| format!("invalid list item {x:?}")))
        .collect()
}

fn num(s: &str) -> Option<f64> {
    s.parse::<f64>().ok().filter(|v| v.is_finite() && *v >= 0.0)
}

struct Opts {
    cfg: GridConfig,
    json: Option<String>,
    quiet: bool,
    linux: bool,
    pcap: Option<std::path::PathBuf>,
}

fn parse() -> Result<Opts, String> {
    let mut cfg = GridConfig::default();
    let mut json = None;
    let mut quiet = false;
    let mut linux = false;
    let mut pcap = None;
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    if let Some(i) = args.iter().position(|a| a == "--linux") {
        args.remove(i);
        linux = true;
        // The Linux defaults: a subset, fewer bytes, wall-clock cap.
        cfg.rtts_ms = vec![10.0, 40.0];
        cfg.losses = vec![0.0, 0.01];
        cfg.reorders = vec![0.0];
        cfg.bytes = 25_000_000;
        cfg.cap_secs = 8.0;
        cfg.seeds = 1;
    }
    let mut args = args.into_iter();
    while let Some(a) = args.next() {
        if a == "--quiet" {
            quiet = true;
            continue;
        }
        if a == "-h" || a == "--help" {
            return Err(String::new());
        }
        let v = args.next().ok_or_else(|| format!("{a} needs a value"))?;
        match a.as_str() {
            "--rtt" => cfg.rtts_ms = list(&v, num)?,
            "--loss" => cfg.losses = list(&v, |x| num(x).filter(|p| *p <= 1.0))?,
            "--reorder" => cfg.reorders = list(&v, |x| num(x).filter(|p| *p <= 1.0))?,
            "--rate" => cfg.rate_mbps = num(&v).filter(|r| *r > 0.0).ok_or("bad --rate")?,
            "--queue" => cfg.queue_pkts = Some(v.parse().map_err(|_| "bad --queue")?),
            "--bytes" => cfg.bytes = v.parse().map_err(|_| "bad --bytes")?,
            "--cap" => cfg.cap_secs = num(&v).filter(|c| *c > 0.0).ok_or("bad --cap")?,
            "--seeds" => cfg.seeds = v.parse().map_err(|_| "bad --seeds")?,
            "--threads" => cfg.threads = v.parse().map_err(|_| "bad --threads")?,
            "--contenders" => cfg.contenders = list(&v, Contender::parse)?,
            "--json" => json = Some(v),
            "--pcap" if !linux => return Err("--pcap needs --linux".into()),
            "--pcap" => pcap = Some(std::path::PathBuf::from(v)),
            _ => return Err(format!("unknown option {a}")),
        }
    }
    if let Some(c) = cfg.contenders.iter().find(|c| !c.available()) {
        return Err(format!(
            "{} is not available in this build: build with RUSTFLAGS='--cfg feature=\"socket-tcp-reno\"'",
            c.name()
        ));
    }
    Ok(Opts {
        cfg,
        json,
        quiet,
        linux,
        pcap,
    })
}

fn linux_main(
    cfg: &GridConfig,
    json: Option<String>,
    quiet: bool,
    pcap: Option<&std::path::Path>,
) -> ExitCode {
    let mut runs = Vec::new();
    let mut failures = 0;
    for p in cfg.points() {
        for seed in 1..=cfg.seeds.max(1) {
            for pairing in grid_linux::Pairing::ALL {
                let link = p.link();
                let cap = std::time::Duration::from_secs_f64(cfg.cap_secs);
                let file = pcap.map(|d| {
                    d.join(format!(
                        "{}_rtt{}_loss{}_reorder{}_seed{}.pcap",
                        pairing.slug(),
                        p.rtt_ms,
                        p.loss,
                        p.reorder,
                        seed
                    ))
                });
                match grid_linux::run_linux(pairing, &link, cfg.bytes, cap, seed, file.as_deref()) {
                    Ok(r) => {
                        if !quiet {
                            eprintln!(
                                "{:<14} rtt {:>5} ms loss {:<6} reorder {:<5} seed {} → {:8.3} Mbit/s ({} bytes in {:.2} s, {} delivered{})",
                                pairing.name(),
                                p.rtt_ms,
                                p.loss,
                                p.reorder,
                                seed,
                                r.goodput_mbps,
                                r.bytes_counted,
                                r.seconds,
                                r.bytes_delivered,
                                if r.intact { "" } else { ", CORRUPTED" }
                            );
                        }
                        if !r.intact {
                            failures += 1;
                        }
                        runs.push(r);
                    }
                    Err(e) => {
                        failures += 1;
                        eprintln!(
                            "grid: {} at rtt {} ms loss {}: {e}",
                            pairing.name(),
                            p.rtt_ms,
                            p.loss
                        );
                    }
                }
            }
        }
    }
    println!(
        "Linux comparison: rate {} Mbit/s, up to {} bytes or {} s per run, {} repetition(s) (mean [min–max]), wall clock through the forwarder\n",
        cfg.rate_mbps, cfg.bytes, cfg.cap_secs, cfg.seeds
    );
    print!("{}", grid_linux::linux_markdown(&runs));
    if let Some(path) = json {
        let text = serde_json::to_string_pretty(&runs).unwrap_or_default();
        if let Err(e) = std::fs::write(&path, text) {
            eprintln!("grid: cannot write {path}: {e}");
            return ExitCode::FAILURE;
        }
    }
    if failures > 0 {
        eprintln!("grid: {failures} run(s) failed or delivered corrupted data");
        return ExitCode::FAILURE;
    }
    ExitCode::SUCCESS
}

fn main() -> ExitCode {
    let Opts {
        cfg,
        json,
        quiet,
        linux,
        pcap,
    } = match parse() {
        Ok(x) => x,
        Err(e) => {
            if !e.is_empty() {
                eprintln!("grid: {e}");
            }
            eprintln!("usage: grid [--rtt MS,..] [--loss P,..] [--reorder P,..] [--rate MBIT] [--queue PKTS] [--bytes N] [--cap SECS] [--seeds N] [--contenders NAME,..] [--threads N] [--json FILE] [--quiet]\n       grid --linux [same options] [--pcap DIR]");
            return ExitCode::from(2);
        }
    };
    if linux {
        return linux_main(&cfg, json, quiet, pcap.as_deref());
    }
    let progress = |r: &grid::Run| {
        if !quiet {
            eprintln!(
                "{:<24} rtt {:>5} ms loss {:<6} reorder {:<5} seed {} → {:8.3} Mbit/s{}{} ({:.0} ms)",
                r.contender.name(),
                r.point.rtt_ms,
                r.point.loss,
                r.point.reorder,
                r.seed,
                r.goodput_mbps,
                if r.completed { "" } else { " [capped]" },
                r.error.as_deref().map(|e| format!(" error: {e}")).unwrap_or_default(),
                r.wall_ms
            );
        }
    };
    let report = run_grid(&cfg, &progress);
    println!(
        "rate {} Mbit/s, {} bytes per run (cap {} s simulated, `*` = some run capped), mean of {} seed(s), {} B socket buffers, wall {:.1} s\n",
        report.rate_mbps, report.bytes, report.cap_secs, report.seeds, report.buffer_bytes, report.wall_secs
    );
    print!("{}", report.markdown());
    if let Some(path) = json {
        if let Err(e) = std::fs::write(&path, report.to_json()) {
            eprintln!("grid: cannot write {path}: {e}");
            return ExitCode::FAILURE;
        }
    }
    let bad = report
        .cells
        .iter()
        .flat_map(|c| &c.runs)
        .filter(|r| !r.intact && r.completed)
        .count();
    if bad > 0 {
        eprintln!("grid: {bad} run(s) delivered corrupted data");
        return ExitCode::FAILURE;
    }
    ExitCode::SUCCESS
}
