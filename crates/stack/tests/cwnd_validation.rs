//! Congestion-window validation: cwnd grows only while the sender fills it
//! (RFC 9438 §5.8; Linux's `tcp_is_cwnd_limited`), and after an idle
//! period longer than the RTO it restarts from the initial window (RFC
//! 5681 §4.1; Linux's `tcp_slow_start_after_idle`).
mod scripted;

use scripted::*;
use std::time::Duration;
use ustack::CongestionKind;

const MSS: u32 = 1460;
const IW: u32 = 10 * MSS;

/// A connection (Nagle off, so that small writes go at once) on a stack
/// configured by `f`; the peer offers a 65 535-byte window. The send
/// buffer is a fixed 4 MiB, so that every write is taken whole and only
/// cwnd decides what goes out (auto-tuning: `sndbuf_tuning.rs`).
fn open(f: impl FnOnce(&mut ustack::Config)) -> (Harness, Conn) {
    let mut h = Harness::with(|cfg| {
        cfg.tcp.send_buffer = 4 << 20;
        cfg.tcp.send_buffer_auto = false;
        f(cfg);
    });
    let (_, c) = h.passive_open();
    h.stack.tcp_set_nodelay(c.h, true).unwrap();
    (h, c)
}

/// The peer's side of one round trip: the application writes `bytes`,
/// the stack sends what cwnd allows, 20 ms later the peer acknowledges
/// everything sent so far. Returns the segments sent.
fn round(h: &mut Harness, c: &Conn, acked: &mut u32, bytes: usize) -> usize {
    if bytes > 0 {
        let n = h.stack.tcp_send(c.h, &vec![5u8; bytes]).unwrap();
        assert_eq!(n, bytes, "the send buffer took it all");
    }
    let sent = h.drain();
    for s in &sent {
        *acked = (*acked).max(s.seq.wrapping_sub(c.s(0)) + s.payload.len() as u32);
    }
    h.advance_ms(20);
    h.inject(c.p(0), c.s(*acked), ACK, 65535, no_opts(), &[]);
    sent.iter().filter(|s| !s.payload.is_empty()).count()
}

fn cwnd(h: &Harness, c: &Conn) -> u32 {
    h.stack.tcp_info(c.h).unwrap().cwnd
}

/// A sender that writes two segments per round trip never fills its
/// initial window of ten: a hundred such rounds leave cwnd at IW (before
/// the rule, slow start added every acknowledged byte: IW + 200 MSS).
/// Then the application writes more than cwnd allows, and the window
/// doubles in the next round trip.
#[test]
fn an_application_limited_sender_keeps_its_window() {
    for kind in [CongestionKind::Cubic, CongestionKind::NewReno] {
        let (mut h, c) = open(|cfg| cfg.tcp.congestion = kind);
        let mut acked = 0;
        for _ in 0..100 {
            assert_eq!(round(&mut h, &c, &mut acked, 2 * MSS as usize), 2);
        }
        assert_eq!(cwnd(&h, &c), IW, "{kind:?} grew while application-limited");
        assert_eq!(round(&mut h, &c, &mut acked, 40 * MSS as usize), 10);
        assert_eq!(cwnd(&h, &c), 2 * IW, "{kind:?}: a full window doubles");
        assert_eq!(round(&mut h, &c, &mut acked, 0), 20);
        assert_eq!(cwnd(&h, &c), 4 * IW, "{kind:?}");
    }
}

/// In slow start a flight of more than half of cwnd still counts (slow
/// start doubles per round trip, so twice the largest flight is what the
/// next round could use): eight segments per round trip grow cwnd from
/// ten by one round's ACKs to eighteen, and no further (within an RTO,
/// before the unused part starts to decay).
#[test]
fn slow_start_grows_to_twice_the_largest_flight() {
    let (mut h, c) = open(|_| {});
    let mut acked = 0;
    for _ in 0..5 {
        assert_eq!(round(&mut h, &c, &mut acked, 8 * MSS as usize), 8);
    }
    assert_eq!(cwnd(&h, &c), 18 * MSS);
}

/// In congestion avoidance only a window the sender filled grows: after
/// a timeout has set ssthresh, twenty round trips of one segment each
/// leave cwnd as it was; round trips that fill it add a segment each
/// (RFC 5681 §3.1).
#[test]
fn congestion_avoidance_grows_only_a_filled_window() {
    let (mut h, c) = open(|cfg| cfg.tcp.congestion = CongestionKind::NewReno);
    h.stack
        .tcp_send(c.h, &vec![1u8; 10 * MSS as usize])
        .unwrap();
    assert_eq!(h.drain().len(), 10);
    h.advance_ms(300);
    let rtx = h.drain();
    assert_eq!((rtx.len(), rtx[0].seq), (1, c.s(0)), "the RTO resends");
    let mut acked = 10 * MSS;
    h.inject(c.p(0), c.s(acked), ACK, 65535, no_opts(), &[]);
    h.drain();
    let info = h.stack.tcp_info(c.h).unwrap();
    assert_eq!(info.ssthresh, 5 * MSS, "{info:?}");
    let start = info.cwnd;
    assert!(start >= info.ssthresh, "in congestion avoidance: {info:?}");
    for _ in 0..20 {
        assert_eq!(round(&mut h, &c, &mut acked, MSS as usize), 1);
    }
    assert_eq!(cwnd(&h, &c), start, "grew while application-limited");
    h.stack
        .tcp_send(c.h, &vec![2u8; 60 * MSS as usize])
        .unwrap();
    for _ in 0..4 {
        round(&mut h, &c, &mut acked, 0);
    }
    assert_eq!(cwnd(&h, &c), start + 4 * MSS);
}

/// CUBIC's curve leaves idle time out of t (RFC 9438 §5.8): a connection
/// in congestion avoidance that pauses for 30 s (restart off) grows after
/// the pause exactly as one that did not pause. Without it, t would be
/// 30 s past K and each round trip would grow cwnd by half.
#[test]
fn cubic_leaves_idle_time_out_of_its_curve() {
    let run = |pause: Duration| {
        let (mut h, c) = open(|cfg| cfg.tcp.slow_start_after_idle = false);
        h.stack
            .tcp_send(c.h, &vec![1u8; 10 * MSS as usize])
            .unwrap();
        assert_eq!(h.drain().len(), 10);
        h.advance_ms(300);
        assert_eq!(h.drain().len(), 1, "the RTO resends");
        let mut acked = 10 * MSS;
        h.inject(c.p(0), c.s(acked), ACK, 65535, no_opts(), &[]);
        for _ in 0..6 {
            round(&mut h, &c, &mut acked, 20 * MSS as usize);
            round(&mut h, &c, &mut acked, 0);
        }
        assert_eq!(h.stack.tcp_info(c.h).unwrap().bytes_in_flight, 0);
        h.advance(pause);
        let mut grown = vec![];
        for _ in 0..4 {
            round(&mut h, &c, &mut acked, 40 * MSS as usize);
            grown.push(cwnd(&h, &c));
        }
        grown
    };
    let paused = run(Duration::from_secs(30));
    assert_eq!(paused, run(Duration::ZERO));
    assert!(paused[3] < paused[0] * 3 / 2, "{paused:?}");
}

/// RFC 2861 §3 (Linux's `tcp_cwnd_application_limited`): a window left
/// partly unused for an RTO falls halfway to what was used, at least the
/// initial window. Grown to 40 segments, then two segments per 20 ms
/// round trip: after a second (five RTOs) cwnd is back near ten. With
/// `slow_start_after_idle` off (Linux ties both to it) it stays at 40.
#[test]
fn an_unused_window_decays_toward_what_is_used() {
    for restart in [true, false] {
        let (mut h, c, mut acked) = grown_then_idle(|cfg| cfg.tcp.slow_start_after_idle = restart);
        let mut seen = vec![];
        for _ in 0..50 {
            assert_eq!(round(&mut h, &c, &mut acked, 2 * MSS as usize), 2);
            seen.push(cwnd(&h, &c) / MSS);
        }
        if restart {
            // Halving the excess once per RTO: 40 → 25 → 17 → 13 → 11 → 10.
            assert!(seen[9] < 40 && seen[49] <= 11 && seen[49] >= 10, "{seen:?}");
            assert!(seen.windows(2).all(|w| w[1] <= w[0]), "{seen:?}");
        } else {
            assert!(seen.iter().all(|&w| w == 40), "{seen:?}");
        }
    }
}

/// A window held back by a full send buffer is not left unused by the
/// application: no decay (Linux checks SOCK_NOSPACE). The buffer shrinks
/// to 20 segments and the application keeps it full for a second.
#[test]
fn a_full_send_buffer_does_not_decay_the_window() {
    let (mut h, c, mut acked) = grown_then_idle(|_| {});
    let buffer = 20 * MSS as usize;
    h.stack.tcp_set_send_buffer(c.h, buffer).unwrap();
    for _ in 0..50 {
        while h.stack.tcp_send(c.h, &[3u8; 4096]).is_ok_and(|n| n > 0) {}
        assert_eq!(round(&mut h, &c, &mut acked, 0), 20);
    }
    assert_eq!(cwnd(&h, &c), 40 * MSS);
}

/// Grows cwnd to 40 segments with data that fills it, then lets the
/// connection go idle with nothing in flight. Returns the harness, the
/// connection and the bytes acknowledged.
fn grown_then_idle(f: impl FnOnce(&mut ustack::Config)) -> (Harness, Conn, u32) {
    let (mut h, c) = open(f);
    let mut acked = 0;
    assert_eq!(round(&mut h, &c, &mut acked, 30 * MSS as usize), 10);
    assert_eq!(round(&mut h, &c, &mut acked, 0), 20);
    assert_eq!(cwnd(&h, &c), 40 * MSS);
    assert_eq!(h.stack.tcp_info(c.h).unwrap().bytes_in_flight, 0);
    (h, c, acked)
}

/// The burst an application's write gets after `idle`.
fn burst_after(h: &mut Harness, c: &Conn, idle: Duration) -> usize {
    h.advance(idle);
    h.stack
        .tcp_send(c.h, &vec![6u8; 60 * MSS as usize])
        .unwrap();
    h.drain().iter().filter(|s| !s.payload.is_empty()).count()
}

/// Two seconds of idleness (ten RTOs): the next write goes out as an
/// initial window, not as the 40 segments cwnd had reached. ssthresh is
/// kept at least ¾ of the old window; here it was never set, so slow
/// start climbs back as it began (HyStart on).
#[test]
fn cwnd_restarts_after_an_idle_period() {
    let (mut h, c, _) = grown_then_idle(|_| {});
    assert_eq!(burst_after(&mut h, &c, Duration::from_secs(2)), 10);
    let info = h.stack.tcp_info(c.h).unwrap();
    assert_eq!((info.cwnd, info.ssthresh), (IW, u32::MAX));
    assert_eq!(info.counters.idle_restarts, 1);
}

/// Linux's decay: idle between one and two RTOs halves cwnd once; less
/// than one RTO leaves it alone.
#[test]
fn a_shorter_idle_period_halves_or_keeps_the_window() {
    let (mut h, c, _) = grown_then_idle(|_| {});
    let rto = h.stack.tcp_info(c.h).unwrap().rto;
    assert_eq!(burst_after(&mut h, &c, rto * 3 / 2), 20);
    assert_eq!(cwnd(&h, &c), 20 * MSS);

    let (mut h, c, _) = grown_then_idle(|_| {});
    let rto = h.stack.tcp_info(c.h).unwrap().rto;
    assert_eq!(burst_after(&mut h, &c, rto / 2), 40);
    assert_eq!(h.stack.tcp_info(c.h).unwrap().counters.idle_restarts, 0);
}

/// `TcpConfig::slow_start_after_idle = false` keeps the window.
#[test]
fn the_restart_can_be_switched_off() {
    let (mut h, c, _) = grown_then_idle(|cfg| cfg.tcp.slow_start_after_idle = false);
    assert_eq!(burst_after(&mut h, &c, Duration::from_secs(2)), 40);
    assert_eq!(cwnd(&h, &c), 40 * MSS);
}

mod common;

/// Two stacks over a 10 ms round trip with no rate limit: the receiver's
/// 64 KiB window, not cwnd, bounds the flight all through an 8 MB
/// transfer. cwnd stops once it is twice that flight (the most slow start
/// could use in its next round trip), plus what the ACK that got it there
/// acknowledged (at most a window), instead of growing by every byte
/// acknowledged, to megabytes no path has shown it can carry.
#[test]
fn a_window_limited_transfer_keeps_cwnd_near_the_window() {
    const WINDOW: usize = 64 << 10;
    let a = common::stack(common::A, 3);
    let b = common::stack_with(common::B, 4, |c| {
        c.tcp.recv_buffer = WINDOW;
        c.tcp.recv_buffer_auto = false;
    });
    let mut p = common::Pair::with(a, b);
    let server: std::net::SocketAddr = format!("{}:80", common::B).parse().unwrap();
    let l = p.b.tcp_listen(server, 8).unwrap();
    let c = p.a.tcp_connect(server, None).unwrap();
    let data: Vec<u8> = (0..8_000_000u32).map(|i| (i % 251) as u8).collect();
    let (mut sent, mut got, mut s) = (0, 0, None);
    let mut max_cwnd = 0;
    let mut buf = vec![0u8; 65536];
    assert!(p.run_until(60, |p| {
        if s.is_none() {
            s = p.b.tcp_accept(l).ok().map(|(h, _)| h);
        }
        if let Ok(n) = p.a.tcp_send(c, &data[sent..]) {
            sent += n;
        }
        if let Ok(info) = p.a.tcp_info(c) {
            max_cwnd = max_cwnd.max(info.cwnd);
        }
        if let Some(s) = s {
            while let Ok(n) = p.b.tcp_recv(s, &mut buf) {
                if n == 0 {
                    break;
                }
                assert_eq!(&buf[..n], &data[got..got + n]);
                got += n;
            }
        }
        got == data.len()
    }));
    let window = WINDOW as u32;
    assert!(
        max_cwnd > window && max_cwnd <= 3 * window,
        "cwnd reached {max_cwnd} with a {window}-byte window"
    );
}
