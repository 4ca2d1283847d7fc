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
            black_hole: false,
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

/// The same impaired transfer over IPv6: intact, deterministic, every
/// captured packet IPv6 between the two IPv6 addresses, no state left;
/// a hop narrower than the hosts makes TCP learn the path MTU from
/// ICMPv6 Packet Too Big; a link below 1280 bytes is refused.
#[test]
fn an_impaired_transfer_over_ipv6() {
    use ustack_devices::sim::transfer::{CLIENT_ADDR6, SERVER_ADDR6};
    let v6 = |seed, pcap| TransferConfig {
        ipv6: true,
        ..impaired(seed, pcap)
    };
    let (pa, pb) = (tmp("ipv6-a.pcap"), tmp("ipv6-b.pcap"));
    let a = run_transfer(&v6(7, Some(pa.clone())));
    let b = run_transfer(&v6(7, Some(pb.clone())));
    assert!(a.intact, "{a:?}");
    assert_eq!(a.state_left, Some(false), "{a:?}");
    assert!(a.retransmits > 0 && a.packets_dropped_by_link > 0, "{a:?}");
    assert_eq!(strip_wall(&a), strip_wall(&b));
    let bytes = std::fs::read(&pa).expect("pcap");
    assert!(
        bytes == std::fs::read(&pb).expect("pcap"),
        "pcap files differ"
    );
    let (_, recs) = parse_pcap(&bytes).expect("valid pcap");
    assert_eq!(recs.len() as u64, a.packets_sent);
    let (c, s) = (CLIENT_ADDR6.octets(), SERVER_ADDR6.octets());
    for r in &recs {
        let d = &r.data;
        assert!(
            d.len() >= 40 && d[0] >> 4 == 6,
            "not IPv6: {:02x?}",
            &d[..d.len().min(20)]
        );
        let (src, dst) = (&d[8..24], &d[24..40]);
        assert!(
            (src == c && dst == s) || (src == s && dst == c),
            "addresses {src:02x?} → {dst:02x?}"
        );
    }
    // An IPv6 run differs from the IPv4 one with the same seed.
    assert_ne!(a.trace_hash, run_transfer(&impaired(7, None)).trace_hash);

    let mut narrow = v6(9, None);
    narrow.link.mtu = Some(1400);
    narrow.link.loss = 0.0;
    narrow.link.corrupt = 0.0;
    let r = run_transfer(&narrow);
    assert!(r.intact, "{r:?}");
    assert!(r.pmtu_reductions >= 1 && r.dropped_mtu > 0, "{r:?}");
    narrow.link.mtu = Some(1279);
    let r = run_transfer(&narrow);
    assert!(!r.intact);
    assert!(
        r.error.as_deref().is_some_and(|e| e.contains("1280")),
        "{r:?}"
    );
}
