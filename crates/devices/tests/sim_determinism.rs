//! Same seed ⇒ byte-identical run; different seed ⇒ different run.
use std::path::PathBuf;
use ustack::Duration;
use ustack_devices::pcap::{parse_pcap, LINKTYPE_RAW};
use ustack_devices::sim::campaign::run_campaign;
use ustack_devices::sim::link::LinkConfig;
use ustack_devices::sim::transfer::{run_transfer, TransferConfig, TransferReport};

fn impaired(seed: u64, pcap: Option<PathBuf>) -> TransferConfig {
    TransferConfig {
        bytes: 300_000,
        reverse_bytes: 120_000,
        link: LinkConfig {
            rate_mbps: Some(20.0),
            delay: Duration::from_millis(5),
            jitter: Duration::from_millis(2),
            queue_pkts: 64,
            loss: 0.02,
            burst_loss: 0.005,
            duplicate: 0.01,
            reorder: 0.03,
            corrupt: 0.01,
            mtu: None,
        },
        mtu: 1500,
        seed,
        pcap,
        check_no_state_left: true,
        ..TransferConfig::default()
    }
}

fn tmp(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(name)
}

fn strip_wall(r: &TransferReport) -> String {
    let mut r = r.clone();
    r.wall_ms = 0.0;
    serde_json::to_string(&r).unwrap_or_default()
}

#[test]
fn same_seed_same_trace_and_pcap() {
    let (pa, pb) = (tmp("determinism-a.pcap"), tmp("determinism-b.pcap"));
    let a = run_transfer(&impaired(7, Some(pa.clone())));
    let b = run_transfer(&impaired(7, Some(pb.clone())));
    assert!(a.intact, "{a:?}");
    assert!(
        a.packets_dropped_by_link > 0 && a.retransmits > 0,
        "impairments had no effect: {a:?}"
    );
    assert_eq!(a.trace_hash, b.trace_hash);
    assert_eq!(strip_wall(&a), strip_wall(&b));
    let (ba, bb) = (
        std::fs::read(&pa).expect("pcap a"),
        std::fs::read(&pb).expect("pcap b"),
    );
    assert!(ba == bb, "pcap files differ");
    let (lt, recs) = parse_pcap(&ba).expect("valid pcap");
    assert_eq!(lt, LINKTYPE_RAW);
    assert_eq!(recs.len() as u64, a.packets_sent);
    assert!(recs
        .iter()
        .all(|r| r.data.first().is_some_and(|b| b >> 4 == 4)));
    // Capturing does not change the run.
    let c = run_transfer(&impaired(7, None));
    assert_eq!(c.trace_hash, a.trace_hash);
}

#[test]
fn different_seed_different_trace() {
    let a = run_transfer(&impaired(7, None));
    let b = run_transfer(&impaired(8, None));
    assert!(a.intact && b.intact, "{a:?} {b:?}");
    assert_ne!(a.trace_hash, b.trace_hash);
}

#[test]
fn campaign_results_do_not_depend_on_thread_count() {
    let one = run_campaign(40, 30, 1);
    let three = run_campaign(40, 30, 3);
    assert_eq!((one.runs, one.failures), (30, 0));
    assert_eq!((three.runs, three.failures), (30, 0));
    assert_eq!(one.packets_sent, three.packets_sent);
    assert_eq!(one.retransmits, three.retransmits);
    assert_eq!(one.sim_seconds, three.sim_seconds);
}
