//! TCP keepalive (RFC 9293 §3.8.4, RFC 1122 §4.2.3.6), as Linux's
//! SO_KEEPALIVE: after `idle` without a segment from the peer, and with
//! nothing in flight, a probe (SEG.SEQ = SND.NXT-1, no data) every
//! `interval`; any segment from the peer restarts the idle time; after
//! `retries` unanswered probes the connection is reset and fails with
//! TimedOut. Off by default.
mod scripted;

use scripted::*;
use std::io::ErrorKind;
use std::time::Duration;
use ustack::{Config, Keepalive, Stack, TcpState};

const KA: Keepalive = Keepalive {
    idle: Duration::from_secs(60),
    interval: Duration::from_secs(10),
    retries: 3,
};

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

/// Checks `p` is a keepalive probe of connection `c` (nothing sent yet).
#[track_caller]
fn assert_probe(p: &Seg, c: &Conn) {
    p.check_empty(ACK, c.s(0).wrapping_sub(1), c.p(0));
}

#[test]
fn unanswered_probes_reset_the_connection_with_timed_out() {
    let mut h = Harness::new();
    let (_l, c) = h.passive_open();
    let t0 = h.now;
    h.stack.tcp_set_keepalive(c.h, Some(KA)).unwrap();
    assert_eq!(h.stack.tcp_keepalive(c.h).unwrap(), Some(KA));
    // Silence until idle, then one probe per interval, nothing between.
    for k in 0..3 {
        let p = h.expect_segment_at(t0 + secs(60 + 10 * k));
        assert_probe(&p, &c);
        h.expect_nothing();
    }
    assert_eq!(h.state(c.h), TcpState::Established);
    // The third probe went unanswered too: reset (as Linux), TimedOut.
    let rst = h.expect_segment_at(t0 + secs(90));
    rst.check_empty(flags(&[RST, ACK]), c.s(0), c.p(0));
    assert_eq!(h.state(c.h), TcpState::Closed);
    assert_eq!(h.recv_error(c.h), ErrorKind::TimedOut);
    assert_eq!(h.stack.counters().tcp.keepalive_probes, 3);
    h.expect_nothing();
}

#[test]
fn any_segment_from_the_peer_restarts_the_idle_time() {
    let mut h = Harness::new();
    let (_l, c) = h.passive_open();
    let t0 = h.now;
    h.stack.tcp_set_keepalive(c.h, Some(KA)).unwrap();
    assert_probe(&h.expect_segment_at(t0 + secs(60)), &c);
    assert_probe(&h.expect_segment_at(t0 + secs(70)), &c);
    // The peer answers the second probe: idle again from here, and the
    // count of unanswered probes starts over.
    h.advance_to(t0 + secs(71));
    h.inject(c.p(0), c.s(0), ACK, 65535, no_opts(), &[]);
    h.expect_nothing();
    let t1 = h.now;
    for k in 0..3 {
        assert_probe(&h.expect_segment_at(t1 + secs(60 + 10 * k)), &c);
    }
    let rst = h.expect_segment_at(t1 + secs(90));
    assert!(rst.flags.rst());

    // Data from the peer counts as well.
    let mut h = Harness::new();
    let (_l, c) = h.passive_open();
    let t0 = h.now;
    h.stack.tcp_set_keepalive(c.h, Some(KA)).unwrap();
    h.advance_to(t0 + secs(30));
    h.inject(c.p(0), c.s(0), flags(&[ACK, PSH]), 65535, no_opts(), b"hi");
    let ack = h.expect_segment_by(t0 + secs(31));
    ack.check_empty(ACK, c.s(0), c.p(2));
    let p = h.expect_segment_at(t0 + secs(90));
    p.check_empty(ACK, c.s(0).wrapping_sub(1), c.p(2));
}

#[test]
fn no_probe_while_data_is_in_flight() {
    // Unacknowledged data is the retransmission timer's business: it
    // retransmits (data), it does not probe.
    let mut h = Harness::with(|c| c.tcp.max_retries = 20);
    let (_l, c) = h.passive_open();
    h.stack.tcp_set_keepalive(c.h, Some(KA)).unwrap();
    let t0 = h.now;
    h.stack.tcp_send(c.h, b"unanswered").unwrap();
    let first = h.expect_segment();
    assert_eq!(first.payload, b"unanswered");
    while h.now < t0 + secs(200) {
        let at = h.poll_at().expect("a timer");
        h.advance_to(at);
        for s in h.drain() {
            assert_eq!(s.payload, b"unanswered", "only retransmissions: {s:?}");
        }
    }
    assert_eq!(h.stack.counters().tcp.keepalive_probes, 0);
    assert!(h.stack.counters().tcp.retransmits >= 5);
    // Acknowledged at last: quiet until idle, then probes.
    h.inject(c.p(0), c.s(10), ACK, 65535, no_opts(), &[]);
    let t1 = h.now;
    let p = h.expect_segment_by(t1 + secs(60 + 60));
    p.check_empty(ACK, c.s(10).wrapping_sub(1), c.p(0));
    assert!(
        h.now >= t1 + secs(60),
        "probe at {:?}, only {:?} after the last segment",
        h.now,
        h.now - t1
    );
}

#[test]
fn off_by_default_and_when_turned_off() {
    let mut h = Harness::new();
    let (_l, c) = h.passive_open();
    assert_eq!(h.stack.tcp_keepalive(c.h).unwrap(), None);
    let t0 = h.now;
    h.stack.tcp_set_keepalive(c.h, Some(KA)).unwrap();
    h.stack.tcp_set_keepalive(c.h, None).unwrap();
    // Three hours of silence: nothing sent, the connection stays.
    while let Some(at) = h.poll_at().filter(|&t| t < t0 + secs(3 * 3600)) {
        h.advance_to(at.max(h.now));
        h.expect_nothing();
    }
    h.advance_to(t0 + secs(3 * 3600));
    h.expect_nothing();
    assert_eq!(h.state(c.h), TcpState::Established);
    assert_eq!(h.stack.counters().tcp.keepalive_probes, 0);
}

#[test]
fn config_default_applies_to_new_connections() {
    let mut h = Harness::with(|c| c.tcp.keepalive = Some(KA));
    let (_l, c) = h.passive_open();
    let t0 = h.now;
    assert_eq!(h.stack.tcp_keepalive(c.h).unwrap(), Some(KA));
    assert_probe(&h.expect_segment_at(t0 + secs(60)), &c);
    // Linux's defaults: 2 h, 75 s, 9 probes.
    assert_eq!(
        Keepalive::default(),
        Keepalive {
            idle: secs(7200),
            interval: secs(75),
            retries: 9
        }
    );
}

#[test]
fn a_half_closed_connection_is_probed_too() {
    // CLOSE-WAIT: the peer sent its FIN, we keep the connection open.
    let mut h = Harness::new();
    let (_l, c) = h.passive_open();
    h.stack.tcp_set_keepalive(c.h, Some(KA)).unwrap();
    h.inject(c.p(0), c.s(0), flags(&[FIN, ACK]), 65535, no_opts(), &[]);
    let t0 = h.now;
    h.expect_segment().check_empty(ACK, c.s(0), c.p(1));
    assert_eq!(h.state(c.h), TcpState::CloseWait);
    let p = h.expect_segment_at(t0 + secs(60));
    p.check_empty(ACK, c.s(0).wrapping_sub(1), c.p(1));
}

#[test]
fn the_stack_answers_a_peers_probe() {
    // The peer's probe carries SEG.SEQ = RCV.NXT-1 (old): we must ACK it.
    let mut h = Harness::new();
    let (_l, c) = h.passive_open();
    h.advance_to(h.now + secs(7200));
    h.inject(c.p(0).wrapping_sub(1), c.s(0), ACK, 65535, no_opts(), &[]);
    h.expect_segment().check_empty(ACK, c.s(0), c.p(0));
    h.expect_nothing();
    // With one byte of garbage (RFC 1122 §4.2.3.6 allows it) as well.
    h.inject(c.p(0).wrapping_sub(1), c.s(0), ACK, 65535, no_opts(), b"x");
    h.expect_segment().check_empty(ACK, c.s(0), c.p(0));
    assert_eq!(h.stack.tcp_recv_available(c.h).unwrap(), 0);
}

#[test]
fn bad_settings_are_refused() {
    let mut h = Harness::new();
    let (_l, c) = h.passive_open();
    for bad in [
        Keepalive {
            idle: Duration::ZERO,
            ..KA
        },
        Keepalive {
            interval: Duration::from_millis(500),
            ..KA
        },
        Keepalive {
            idle: secs(40_000),
            ..KA
        },
        Keepalive { retries: 0, ..KA },
        Keepalive { retries: 128, ..KA },
    ] {
        let e = h.stack.tcp_set_keepalive(c.h, Some(bad)).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidInput, "{bad:?}");
        assert!(e.to_string().contains("keepalive"), "{e}");
    }
    assert_eq!(h.stack.tcp_keepalive(c.h).unwrap(), None);
    let mut cfg: Config = simple_config();
    cfg.tcp.keepalive = Some(Keepalive { retries: 0, ..KA });
    let e = Stack::new(cfg)
        .err()
        .expect("a bad keepalive config is refused");
    assert_eq!(e.kind(), ErrorKind::InvalidInput);
}
