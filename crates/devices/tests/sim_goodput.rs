//! Throughput on clean links.
use ustack::Duration;
use ustack_devices::sim::link::LinkConfig;
use ustack_devices::sim::transfer::{run_transfer, TransferConfig};

#[test]
fn clean_100mbit_20ms_rtt_reaches_90mbit() {
    let cfg = TransferConfig {
        bytes: 50_000_000,
        link: LinkConfig {
            rate_mbps: Some(100.0),
            delay: Duration::from_millis(10),
            ..LinkConfig::default()
        },
        seed: 1,
        ..TransferConfig::default()
    };
    let r = run_transfer(&cfg);
    eprintln!(
        "50 MB over 100 Mbit/s, 20 ms RTT: {:.2} Mbit/s, {:.3} s simulated, {:.0} ms wall, {} retransmits, {} queue drops",
        r.goodput_mbps, r.sim_seconds, r.wall_ms, r.retransmits, r.dropped_queue
    );
    assert!(r.intact, "{r:?}");
    assert_eq!(r.bytes_delivered, 50_000_000);
    assert!(
        r.goodput_mbps >= 90.0,
        "goodput {:.2} Mbit/s < 90: {r:?}",
        r.goodput_mbps
    );
    assert!(r.goodput_mbps <= 100.0, "faster than the link: {r:?}");
}

#[test]
fn ten_megabytes_on_a_clean_unlimited_link() {
    // The `ustack sim` defaults: unlimited rate, 10 ms one-way delay.
    let link = LinkConfig {
        delay: Duration::from_millis(10),
        ..LinkConfig::default()
    };
    let cfg = TransferConfig {
        bytes: 10_000_000,
        link,
        seed: 1,
        ..TransferConfig::default()
    };
    let r = run_transfer(&cfg);
    eprintln!(
        "10 MB unlimited, 10 ms delay: {:.1} Mbit/s, {:.3} s simulated, {:.0} ms wall, states {} / {}",
        r.goodput_mbps, r.sim_seconds, r.wall_ms, r.client_final_state, r.server_final_state
    );
    assert!(r.intact, "{r:?}");
    assert_eq!(r.bytes_delivered, 10_000_000);
    assert_eq!(r.retransmits, 0, "{r:?}");
    assert_eq!(r.packets_dropped_by_link, 0, "{r:?}");
    for s in [&r.client_final_state, &r.server_final_state] {
        assert!(s == "CLOSED" || s == "TIME-WAIT", "{r:?}");
    }
}

#[test]
fn ten_megabytes_with_zero_delay_both_ways() {
    // Everything happens at t = 0: many steps without the clock moving.
    let cfg = TransferConfig {
        bytes: 10_000_000,
        reverse_bytes: 10_000_000,
        seed: 2,
        ..TransferConfig::default()
    };
    let r = run_transfer(&cfg);
    eprintln!(
        "10 MB each way, zero delay: {:.6} s simulated, {} steps, {:.0} ms wall",
        r.sim_seconds, r.steps, r.wall_ms
    );
    assert!(r.intact, "{r:?}");
    assert_eq!(
        (r.bytes_delivered, r.reverse_bytes_delivered),
        (10_000_000, 10_000_000)
    );
}

/// Receive-buffer auto-tuning on a long fat path (100 Mbit/s, 160 ms RTT:
/// a 2 MB bandwidth-delay product): the buffer that starts at 128 KiB
/// grows past the BDP and the transfer runs as fast as with a fixed 6 MiB
/// buffer; a fixed 128 KiB buffer holds it to one window per round trip.
#[test]
fn auto_tuning_fills_a_long_fat_path_as_a_large_fixed_buffer_does() {
    let run = |fixed: Option<usize>| {
        let tcp = ustack::TcpConfig {
            recv_buffer: fixed.unwrap_or(128 << 10),
            recv_buffer_auto: fixed.is_none(),
            ..ustack::TcpConfig::default()
        };
        let cfg = TransferConfig {
            bytes: 20_000_000,
            link: LinkConfig {
                rate_mbps: Some(100.0),
                delay: Duration::from_millis(80),
                ..LinkConfig::default()
            },
            tcp: Some(tcp),
            seed: 3,
            ..TransferConfig::default()
        };
        let r = run_transfer(&cfg);
        assert!(r.intact, "{r:?}");
        eprintln!(
            "receive buffer {fixed:?}: {:.2} Mbit/s, final {:?} bytes, {} growths",
            r.goodput_mbps, r.server_final_recv_buffer, r.recv_buffer_grows
        );
        r
    };
    let auto = run(None);
    let small = run(Some(128 << 10));
    let large = run(Some(6 << 20));
    assert!(auto.recv_buffer_auto && !small.recv_buffer_auto);
    assert!(
        auto.goodput_mbps >= 0.97 * large.goodput_mbps,
        "auto-tuned {:.2} vs fixed 6 MiB {:.2} Mbit/s",
        auto.goodput_mbps,
        large.goodput_mbps
    );
    assert!(
        auto.goodput_mbps >= 4.0 * small.goodput_mbps,
        "auto-tuned {:.2} vs fixed 128 KiB {:.2} Mbit/s",
        auto.goodput_mbps,
        small.goodput_mbps
    );
    let grown = auto.server_final_recv_buffer.expect("seen");
    assert!(grown >= 2_000_000, "grew to {grown} bytes only");
    assert!(auto.recv_buffer_grows > 0);
    assert_eq!((small.recv_buffer_grows, large.recv_buffer_grows), (0, 0));
}

/// Send-buffer auto-tuning: a writer with more to send than the path
/// carries. On a slow path (2 Mbit/s, 40 ms RTT, a 100-packet queue) the
/// buffer stays at twice cwnd (which the queue lets reach ~100 segments:
/// 2 × 94 × 2 304 = 433 152 bytes, what Linux would hold) instead of
/// 4 MiB, 17 s of this path's time, at the same goodput as a fixed 4 MiB;
/// on a long fat path (100 Mbit/s, 160 ms RTT, a 1 000-packet queue:
/// a 2 MB bandwidth-delay product) it grows to the 4 MiB
/// ceiling and runs as fast as the fixed 4 MiB, where the initial size
/// fixed (46 080 bytes, SO_SNDBUF) holds it to that much per round trip.
#[test]
fn send_buffer_auto_tuning_queues_little_on_slow_paths_and_fills_fast_ones() {
    let run = |rate: f64, delay_ms: u64, queue: usize, bytes: u64, fixed: Option<usize>| {
        let tcp = ustack::TcpConfig {
            send_buffer: fixed.unwrap_or(16 << 10),
            send_buffer_auto: fixed.is_none(),
            ..ustack::TcpConfig::default()
        };
        let cfg = TransferConfig {
            bytes,
            link: LinkConfig {
                rate_mbps: Some(rate),
                delay: Duration::from_millis(delay_ms),
                queue_pkts: queue,
                ..LinkConfig::default()
            },
            tcp: Some(tcp),
            seed: 5,
            ..TransferConfig::default()
        };
        let r = run_transfer(&cfg);
        assert!(r.intact, "{r:?}");
        eprintln!(
            "{rate} Mbit/s, {delay_ms} ms, send buffer {fixed:?}: {:.2} Mbit/s, final {:?} bytes, {} growths",
            r.goodput_mbps, r.client_final_send_buffer, r.send_buffer_grows
        );
        r
    };
    let auto = run(2.0, 20, 100, 2_000_000, None);
    let large = run(2.0, 20, 100, 2_000_000, Some(4 << 20));
    assert!(auto.send_buffer_auto && !large.send_buffer_auto);
    let held = auto.client_final_send_buffer.expect("seen");
    // At most twice the ~107 segments path and queue hold, in Linux's
    // 2 304 bytes per segment: under an eighth of the fixed 4 MiB.
    assert!(held <= 2 * 107 * 2304, "auto-tuned to {held} bytes");
    assert!(auto.send_buffer_grows > 0 && large.send_buffer_grows == 0);
    assert!(
        auto.goodput_mbps >= 0.97 * large.goodput_mbps,
        "auto-tuned {:.2} vs fixed 4 MiB {:.2} Mbit/s",
        auto.goodput_mbps,
        large.goodput_mbps
    );

    let auto = run(100.0, 80, 1000, 20_000_000, None);
    let large = run(100.0, 80, 1000, 20_000_000, Some(4 << 20));
    let small = run(100.0, 80, 1000, 20_000_000, Some(46_080));
    assert_eq!(auto.client_final_send_buffer, Some(4 << 20));
    assert!(
        auto.goodput_mbps >= 0.97 * large.goodput_mbps,
        "auto-tuned {:.2} vs fixed 4 MiB {:.2} Mbit/s",
        auto.goodput_mbps,
        large.goodput_mbps
    );
    assert!(
        auto.goodput_mbps >= 4.0 * small.goodput_mbps,
        "auto-tuned {:.2} vs fixed 46 080 bytes {:.2} Mbit/s",
        auto.goodput_mbps,
        small.goodput_mbps
    );
}
