//! Header prediction (`TcpConfig::header_prediction`) is a shortcut, not
//! a behaviour: every campaign profile must give the same packet trace,
//! byte for byte, with it and without it, and it must actually be taken.
//!
//! `USTACK_PREDICTION_SEEDS` (default 3000) sets the number of campaign
//! seeds, `USTACK_PREDICTION_START` (default 1) the first. A differing
//! seed is printed with both reports and captured both ways to
//! `<target>/prediction-failures/seed-N-{on,off}.pcap`.
use std::path::{Path, PathBuf};
use ustack::Duration;
use ustack_devices::sim::campaign::{profile_for_seed, transfer_config};
use ustack_devices::sim::link::LinkConfig;
use ustack_devices::sim::transfer::{run_transfer, TransferConfig, TransferReport};

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
    tmp.parent().unwrap_or(tmp).join("prediction-failures")
}

fn with_prediction(cfg: &TransferConfig, on: bool) -> TransferConfig {
    let mut cfg = cfg.clone();
    let mut tcp = cfg.tcp.clone().unwrap_or_default();
    tcp.header_prediction = on;
    cfg.tcp = Some(tcp);
    cfg
}

/// The report without what may differ: wall time and the count of
/// predicted segments itself.
fn comparable(r: &TransferReport) -> String {
    let mut r = r.clone();
    r.wall_ms = 0.0;
    r.predicted = 0;
    r.predicted_acks = 0;
    serde_json::to_string(&r).unwrap_or_default()
}

/// Runs `cfg` both ways; on a difference captures both and returns why.
fn compare(name: &str, cfg: &TransferConfig) -> Result<TransferReport, String> {
    let on = run_transfer(&with_prediction(cfg, true));
    let off = run_transfer(&with_prediction(cfg, false));
    if off.predicted != 0 {
        return Err(format!(
            "{name}: {} predicted with prediction off",
            off.predicted
        ));
    }
    if on.trace_hash == off.trace_hash && comparable(&on) == comparable(&off) {
        return Ok(on);
    }
    let dir = failure_dir();
    let _ = std::fs::create_dir_all(&dir);
    for (tag, flag) in [("on", true), ("off", false)] {
        let mut c = with_prediction(cfg, flag);
        c.pcap = Some(dir.join(format!("{name}-{tag}.pcap")));
        let _ = run_transfer(&c);
    }
    Err(format!(
        "{name}: traces differ (pcaps in {})\n  on:  {}\n  off: {}",
        dir.display(),
        serde_json::to_string(&on).unwrap_or_default(),
        serde_json::to_string(&off).unwrap_or_default()
    ))
}

#[test]
fn campaign_traces_are_identical_with_and_without_prediction() {
    let count = env_u64("USTACK_PREDICTION_SEEDS", 3000);
    let start = env_u64("USTACK_PREDICTION_START", 1);
    let (mut predicted, mut predicted_acks) = (0u64, 0u64);
    let (mut segments_runs, mut ack_runs) = (0u64, 0u64);
    let mut failures = Vec::new();
    for seed in start..start + count {
        let profile = profile_for_seed(seed);
        let cfg = transfer_config(&profile, seed);
        match compare(&format!("seed-{seed}"), &cfg) {
            Ok(r) => {
                predicted += r.predicted;
                predicted_acks += r.predicted_acks;
                segments_runs += u64::from(r.predicted > 0);
                ack_runs += u64::from(r.predicted_acks > 0);
            }
            Err(e) => {
                eprintln!(
                    "FAILED {e}\n  profile: {}",
                    serde_json::to_string(&profile).unwrap_or_default()
                );
                failures.push(seed);
            }
        }
    }
    eprintln!(
        "prediction: seeds {start}..{}: {predicted} segments predicted in {segments_runs} runs, {predicted_acks} ACKs in {ack_runs}, {} differing",
        start + count,
        failures.len()
    );
    assert!(
        failures.is_empty(),
        "seeds whose traces differ: {failures:?}"
    );
    // The shortcut must be exercised, or the comparison proves nothing.
    assert!(
        segments_runs * 2 > count && ack_runs * 2 > count,
        "data predicted in only {segments_runs} and ACKs in {ack_runs} of {count} runs"
    );
}

/// A clean bulk transfer: nearly every data segment and most ACKs are
/// predicted, and a lossy one still matches segment for segment.
#[test]
fn bulk_transfers_are_predicted_and_identical() {
    let clean = TransferConfig {
        bytes: 2_000_000,
        link: LinkConfig {
            rate_mbps: Some(100.0),
            delay: Duration::from_millis(5),
            queue_pkts: 1000,
            ..LinkConfig::default()
        },
        seed: 3,
        check_no_state_left: true,
        ..TransferConfig::default()
    };
    let r = compare("clean", &clean).unwrap_or_else(|e| panic!("{e}"));
    assert!(r.intact, "{r:?}");
    let segments = 2_000_000u64.div_ceil(1448);
    assert!(
        r.predicted * 100 >= segments * 95,
        "only {} of ~{segments} data segments predicted",
        r.predicted
    );
    // The sender's ACKs: one per two segments at most (delayed ACK), all
    // but those of the handshake, of slow start's first rounds (the
    // window grows, no) and of the close predicted.
    assert!(
        r.predicted_acks * 100 >= (segments / 2) * 80,
        "only {} of ~{} ACKs predicted",
        r.predicted_acks,
        segments / 2
    );
    let lossy = TransferConfig {
        reverse_bytes: 300_000,
        link: LinkConfig {
            loss: 0.02,
            reorder: 0.02,
            duplicate: 0.01,
            ..clean.link.clone()
        },
        ..clean
    };
    let r = compare("lossy", &lossy).unwrap_or_else(|e| panic!("{e}"));
    assert!(r.intact && r.retransmits > 0, "{r:?}");
    assert!(r.predicted > 0, "{r:?}");
}
