//! Seed sweep: many transfers under random impairments must all deliver
//! their data intact and leave no state behind.
//!
//! `USTACK_SWEEP_SEEDS` (default 500) sets the number of seeds,
//! `USTACK_SWEEP_START` (default 1) the first one, `USTACK_SWEEP_THREADS`
//! (default 2) the workers. A failing seed is printed with its profile and
//! re-run with a capture written to `<target>/sweep-failures/seed-N.pcap`.
use std::path::{Path, PathBuf};
use ustack_devices::sim::campaign::{run_campaign, transfer_config};
use ustack_devices::sim::transfer::run_transfer;

fn env_u64(name: &str, default: u64) -> u64 {
    match std::env::var(name) {
        Ok(v) => v
            .trim()
            .parse()
            .unwrap_or_else(|_| panic!("{name}={v:?} is not a number")),
        Err(_) => default,
    }
}

fn failure_dir() -> PathBuf {
    let tmp = Path::new(env!("CARGO_TARGET_TMPDIR"));
    tmp.parent().unwrap_or(tmp).join("sweep-failures")
}

#[test]
fn seed_sweep() {
    let count = env_u64("USTACK_SWEEP_SEEDS", 500);
    let start = env_u64("USTACK_SWEEP_START", 1);
    let threads = env_u64("USTACK_SWEEP_THREADS", 2) as usize;
    let summary = run_campaign(start, count, threads);
    eprintln!(
        "sweep: seeds {start}..{}: {} runs, {} failures, {:.1} s simulated, {} retransmits, {:.2} s wall (slowest seed {:?}: {:.0} ms)",
        start + count,
        summary.runs,
        summary.failures,
        summary.sim_seconds,
        summary.retransmits,
        summary.wall_seconds,
        summary.slowest_seed,
        summary.slowest_wall_ms
    );
    if summary.failures > 0 {
        let dir = failure_dir();
        let _ = std::fs::create_dir_all(&dir);
        for f in &summary.failing {
            eprintln!(
                "FAILED seed {}: {}",
                f.seed,
                f.report.error.as_deref().unwrap_or("not intact")
            );
            eprintln!(
                "  profile: {}",
                serde_json::to_string(&f.profile).unwrap_or_default()
            );
            eprintln!(
                "  report:  {}",
                serde_json::to_string(&f.report).unwrap_or_default()
            );
            let mut cfg = transfer_config(&f.profile, f.seed);
            let path = dir.join(format!("seed-{}.pcap", f.seed));
            cfg.pcap = Some(path.clone());
            let again = run_transfer(&cfg);
            eprintln!(
                "  re-run with capture: intact {}, trace {} (first run {}), pcap {}",
                again.intact,
                again.trace_hash,
                f.report.trace_hash,
                path.display()
            );
            eprintln!("  reproduce: ustack sim --campaign 1 --seed {}", f.seed);
        }
    }
    assert_eq!(summary.runs, count);
    assert_eq!(
        summary.failures,
        0,
        "failing seeds: {:?}",
        summary.failing.iter().map(|f| f.seed).collect::<Vec<_>>()
    );
}
