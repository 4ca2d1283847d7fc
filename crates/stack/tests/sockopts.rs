//! Socket options on listeners and before the handshake, as on Linux:
//! a listener's SO_SNDBUF, SO_RCVBUF, TCP_NODELAY, TCP_CONGESTION,
//! SO_KEEPALIVE (with its timers), IP_TTL, IP_TOS, SO_LINGER and
//! TCP_USER_TIMEOUT pass to the connections it accepts, including those
//! made from a SYN cookie; what SO_LINGER and TCP_USER_TIMEOUT do; the receive buffer set on a listener or on a
//! connecting socket before its SYN leaves sizes the window scale offered
//! in the handshake (RFC 7323 §2.2). Buffer sizes are clamped to 1 GiB.
mod scripted;

use scripted::*;
use std::io::ErrorKind;
use std::time::Duration;
use ustack::wire::tcp::TcpOptions;
use ustack::{Config, Instant, Keepalive, Stack, MAX_SOCKET_BUFFER};

const KA: Keepalive = Keepalive {
    idle: Duration::from_secs(30),
    interval: Duration::from_secs(5),
    retries: 2,
};

fn ws_opts(ws: u8) -> TcpOptions {
    TcpOptions {
        mss: Some(1460),
        window_scale: Some(ws),
        ..TcpOptions::default()
    }
}

/// With the listener's one-slot SYN queue filled by a SYN from peer port
/// `port`, a SYN from `port + 1` is answered by a cookie SYN-ACK, and one
/// to a port nobody listens on (from `port + 2`) by a RST: both returned.
#[track_caller]
fn cookie_synack_and_rst(h: &mut Harness, port: u16) -> (Seg, Seg) {
    h.peer_port = port;
    h.peer_syn(65535, mss_opt(1460));
    h.peer_port = port + 1;
    h.inject(7000, 0, SYN, 65535, mss_opt(1460), &[]);
    let sa = h.expect_segment();
    assert_eq!(h.stack.counters().syn_cookies_sent, 1);
    h.inject_ports(port + 2, 9, 1, 0, SYN, 65535, no_opts(), &[]);
    let rst = h.expect_any_segment();
    assert!(rst.flags.rst());
    (sa, rst)
}

#[test]
fn accepted_connections_inherit_the_listeners_options() {
    let mut h = Harness::with_defaults(|c| c.tcp.timestamps = false);
    let l = h.listen(16);
    // The defaults: a 16 KiB send buffer and a 128 KiB receive buffer,
    // which auto-tuning may grow to 4 and 6 MiB (window scale 7), Nagle
    // on, no keepalive.
    assert_eq!(h.stack.tcp_buffer_sizes(l).unwrap(), (16 << 10, 128 << 10));
    assert!(!h.stack.tcp_nodelay(l).unwrap());
    assert_eq!(h.stack.tcp_keepalive(l).unwrap(), None);
    let sa = h.peer_syn(65535, ws_opts(2));
    assert_eq!(sa.options.window_scale, Some(7));
    let before = h.complete_passive(l, &sa, 65535);

    h.stack.tcp_set_send_buffer(l, 64 << 10).unwrap();
    h.stack.tcp_set_recv_buffer(l, 16 << 20).unwrap();
    h.stack.tcp_set_nodelay(l, true).unwrap();
    h.stack.tcp_set_keepalive(l, Some(KA)).unwrap();
    assert_eq!(h.stack.tcp_buffer_sizes(l).unwrap(), (64 << 10, 16 << 20));
    assert!(h.stack.tcp_nodelay(l).unwrap());
    assert_eq!(h.stack.tcp_keepalive(l).unwrap(), Some(KA));
    // A connection accepted before keeps what it was made with: its send
    // buffer sized at the handshake for twice the initial window, as
    // Linux's (46 080 bytes at this MSS).
    assert_eq!(
        h.stack.tcp_buffer_sizes(before.h).unwrap(),
        (46_080, 128 << 10)
    );
    assert!(!h.stack.tcp_nodelay(before.h).unwrap());
    assert_eq!(h.stack.tcp_keepalive(before.h).unwrap(), None);

    // The next SYN-ACK offers the scale of a 16 MiB buffer: 16 MiB >> 8
    // is still above 65535, so 9.
    h.peer_port = PEER_PORT + 1;
    let sa = h.peer_syn(65535, ws_opts(2));
    assert_eq!(sa.options.window_scale, Some(9));
    assert_eq!(sa.window, 65535, "a SYN-ACK's window is never scaled");
    let c = h.complete_passive(l, &sa, 65535);
    assert_eq!(h.stack.tcp_buffer_sizes(c.h).unwrap(), (64 << 10, 16 << 20));
    assert!(h.stack.tcp_nodelay(c.h).unwrap());
    assert_eq!(h.stack.tcp_keepalive(c.h).unwrap(), Some(KA));
    // The first ACK advertises the whole 16 MiB, scaled by 9.
    h.inject(c.p(0), c.s(0), ACK | PSH, 1024, no_opts(), b"x");
    let ack = h.expect_segment_by(h.now + Duration::from_millis(100));
    let wnd = u32::from(ack.window) << 9;
    assert!(
        wnd > (16 << 20) - 4096 && wnd <= 16 << 20,
        "advertised {wnd} bytes"
    );

    // The options act: without Nagle a second small write goes out while
    // the first is unacknowledged.
    h.stack.tcp_send(c.h, b"one").unwrap();
    let first = h.expect_segment();
    assert_eq!(first.payload, b"one");
    h.stack.tcp_send(c.h, b"two").unwrap();
    let second = h.expect_segment();
    assert_eq!(second.payload, b"two", "TCP_NODELAY inherited");
    h.inject(c.p(1), c.s(6), ACK, 1024, no_opts(), &[]);
    // ... and keepalive probes the idle peer after 30 s.
    let t0 = h.now;
    let probe = h.expect_segment_at(t0 + Duration::from_secs(30));
    probe.check_empty(ACK, c.s(6).wrapping_sub(1), c.p(1));
    // The earlier connection is not probed: the next event is the
    // second probe of the new one, 5 s later.
    let next = h.expect_segment_at(t0 + Duration::from_secs(35));
    assert_eq!(next.dst_port, PEER_PORT + 1);
    assert_eq!(h.stack.counters().tcp.keepalive_probes, 2);
}

#[test]
fn a_syn_cookie_connection_inherits_the_listeners_options() {
    let mut h = Harness::with_defaults(|_| {});
    let l = h.listen(1);
    h.stack.tcp_set_recv_buffer(l, 256 << 10).unwrap();
    h.stack.tcp_set_send_buffer(l, 32 << 10).unwrap();
    h.stack.tcp_set_nodelay(l, true).unwrap();
    h.stack.tcp_set_keepalive(l, Some(KA)).unwrap();
    let opts = TcpOptions {
        mss: Some(1460),
        window_scale: Some(7),
        timestamp: Some((1000, 0)),
        ..TcpOptions::default()
    };
    // The first SYN fills the SYN queue; the second is answered with a cookie.
    h.peer_syn(65535, opts);
    h.peer_port = PEER_PORT + 1;
    h.inject(7000, 0, SYN, 65535, opts, &[]);
    let sa = h.expect_segment();
    assert_eq!(h.stack.counters().syn_cookies_sent, 1);
    // 256 KiB needs a scale of 3 (256 KiB >> 2 = 65536 > 65535).
    assert_eq!(sa.options.window_scale, Some(3));
    assert_eq!(sa.window, 65535);
    let (tsval, _) = sa.options.timestamp.expect("timestamps");
    let ack_opts = TcpOptions {
        timestamp: Some((1001, tsval)),
        ..TcpOptions::default()
    };
    h.inject(7001, sa.seq.wrapping_add(1), ACK, 100, ack_opts, b"hi");
    assert_eq!(h.stack.counters().syn_cookies_accepted, 1);
    let (c, _) = h.stack.tcp_accept(l).expect("cookie connection");
    assert_eq!(h.stack.tcp_buffer_sizes(c).unwrap(), (32 << 10, 256 << 10));
    assert!(h.stack.tcp_nodelay(c).unwrap());
    assert_eq!(h.stack.tcp_keepalive(c).unwrap(), Some(KA));
    // Its ACK of "hi" advertises the 256 KiB buffer with the cookie's scale.
    let ack = h.expect_segment_by(h.now + Duration::from_millis(100));
    let wnd = u32::from(ack.window) << 3;
    assert!(
        wnd > (256 << 10) - 4096 && wnd <= 256 << 10,
        "advertised {wnd} bytes"
    );
}

#[test]
fn the_receive_buffer_set_before_the_syn_sizes_the_window_scale() {
    let mut h = Harness::with_defaults(|_| {});
    let (r, l) = (h.peer_addr(), h.stack_addr());
    let c = h.stack.tcp_connect(r, Some(l)).unwrap();
    h.stack.tcp_set_recv_buffer(c, 64 << 20).unwrap();
    let syn = h.expect_segment();
    // 64 MiB >> 10 = 65536 > 65535, so 11.
    assert_eq!(syn.options.window_scale, Some(11));
    // Once the SYN is out, the buffer can only grow within that scale.
    h.stack.tcp_set_recv_buffer(c, 1 << 10).unwrap();
    assert_eq!(h.stack.tcp_buffer_sizes(c).unwrap().1, 64 << 20);
    // Without it, the configuration's 4 MiB: scale 7.
    let mut h = Harness::with_defaults(|_| {});
    let (r, l) = (h.peer_addr(), h.stack_addr());
    h.stack.tcp_connect(r, Some(l)).unwrap();
    assert_eq!(h.expect_segment().options.window_scale, Some(7));
}

#[test]
fn buffer_sizes_are_clamped_and_checked() {
    let mut h = Harness::with_defaults(|_| {});
    let l = h.listen(4);
    h.stack.tcp_set_recv_buffer(l, usize::MAX).unwrap();
    h.stack.tcp_set_send_buffer(l, 0).unwrap();
    assert_eq!(h.stack.tcp_buffer_sizes(l).unwrap(), (1, MAX_SOCKET_BUFFER));
    let sa = h.peer_syn(65535, ws_opts(0));
    assert_eq!(sa.options.window_scale, Some(14), "RFC 7323's largest");
    let c = h.stack.tcp_connect(h.peer_addr(), None).unwrap();
    h.stack.tcp_set_recv_buffer(c, usize::MAX).unwrap();
    h.stack.tcp_set_send_buffer(c, usize::MAX).unwrap();
    assert_eq!(
        h.stack.tcp_buffer_sizes(c).unwrap(),
        (MAX_SOCKET_BUFFER, MAX_SOCKET_BUFFER)
    );

    for (send, recv) in [(0, 4096), (4096, 0), (MAX_SOCKET_BUFFER + 1, 4096)] {
        let mut cfg = Config::default();
        cfg.addresses.push("198.18.0.1/24".parse().unwrap());
        cfg.tcp.send_buffer = send;
        cfg.tcp.recv_buffer = recv;
        let e = Stack::new(cfg).err().expect("refused");
        assert_eq!(e.kind(), ErrorKind::InvalidInput, "{e}");
    }
}

#[test]
fn a_listeners_keepalive_is_checked_and_can_be_turned_off() {
    let mut h = Harness::new();
    let l = h.listen(4);
    let bad = Keepalive {
        idle: Duration::ZERO,
        ..KA
    };
    assert_eq!(
        h.stack.tcp_set_keepalive(l, Some(bad)).unwrap_err().kind(),
        ErrorKind::InvalidInput
    );
    h.stack.tcp_set_keepalive(l, Some(KA)).unwrap();
    h.stack.tcp_set_keepalive(l, None).unwrap();
    let (_, c) = {
        // passive_open makes its own listener; use this one instead.
        let sa = h.peer_syn(65535, mss_opt(1460));
        let c = h.complete_passive(l, &sa, 65535);
        (l, c)
    };
    assert_eq!(h.stack.tcp_keepalive(c.h).unwrap(), None);
    let t0 = h.now;
    while let Some(at) = h.poll_at() {
        if at > t0 + Duration::from_secs(3 * 3600) {
            break;
        }
        h.advance_to(at);
        assert!(h.drain().is_empty(), "nothing sent on an idle connection");
    }
    assert_eq!(h.stack.counters().tcp.keepalive_probes, 0);
}

/// Sends five full segments on `c`, then has the peer report the first
/// lost with three duplicate ACKs; returns ssthresh after the fast
/// retransmit.
#[track_caller]
fn ssthresh_after_fast_retransmit(h: &mut Harness, c: &Conn) -> u32 {
    h.stack.tcp_send(c.h, &[7u8; 5 * 1460]).unwrap();
    for i in 0..5u32 {
        let s = h.expect_segment();
        s.check(ACK, c.s(i * 1460), c.p(0));
    }
    h.advance_ms(50);
    for _ in 0..3 {
        h.inject(c.p(0), c.s(0), ACK, 65535, no_opts(), &[]);
    }
    let r = h.expect_segment();
    r.check(ACK, c.s(0), c.p(0));
    let info = h.stack.tcp_info(c.h).unwrap();
    assert!(info.in_recovery);
    info.ssthresh
}

#[test]
fn the_congestion_controller_per_connection_and_from_the_listener() {
    use ustack::CongestionKind::{Cubic, NewReno};
    let mut h = Harness::new();
    let l = h.listen(16);
    assert_eq!(h.stack.tcp_congestion(l).unwrap(), Cubic, "the default");
    h.stack.tcp_set_congestion(l, NewReno).unwrap();
    assert_eq!(h.stack.tcp_congestion(l).unwrap(), NewReno);
    let sa = h.peer_syn(65535, mss_opt(1460));
    let reno = h.complete_passive(l, &sa, 65535);
    assert_eq!(h.stack.tcp_congestion(reno.h).unwrap(), NewReno);
    assert_eq!(h.stack.tcp_info(reno.h).unwrap().congestion, NewReno);
    // RFC 5681 eq. (4): ssthresh = max(FlightSize / 2, 2 * SMSS).
    assert_eq!(ssthresh_after_fast_retransmit(&mut h, &reno), 5 * 1460 / 2);

    // The same loss on a connection switched back to CUBIC before it
    // sent.
    h.peer_port = PEER_PORT + 1;
    let sa = h.peer_syn(65535, mss_opt(1460));
    let cubic = h.complete_passive(l, &sa, 65535);
    h.stack.tcp_set_congestion(cubic.h, Cubic).unwrap();
    assert_eq!(h.stack.tcp_info(cubic.h).unwrap().congestion, Cubic);
    // RFC 9438 §4.6: ssthresh = cwnd (IW10) × β_cubic.
    let st = ssthresh_after_fast_retransmit(&mut h, &cubic);
    assert_eq!(st, 10 * 1460 * 7 / 10);

    // Switching in the middle keeps the window and threshold (Linux's
    // tcp_reinit_congestion_control).
    let before = h.stack.tcp_info(reno.h).unwrap();
    h.stack.tcp_set_congestion(reno.h, Cubic).unwrap();
    let after = h.stack.tcp_info(reno.h).unwrap();
    assert_eq!(after.congestion, Cubic);
    assert_eq!((after.cwnd, after.ssthresh), (before.cwnd, before.ssthresh));
    // The recovery goes on: a full ACK ends it.
    h.peer_port = PEER_PORT;
    h.inject(reno.p(0), reno.s(5 * 1460), ACK, 65535, no_opts(), &[]);
    assert!(!h.stack.tcp_info(reno.h).unwrap().in_recovery);
}

#[test]
fn ttl_per_connection_and_from_the_listener() {
    let mut h = Harness::with_defaults(|_| {});
    let l = h.listen(1);
    // The stack's TTL (64) until a socket says otherwise.
    assert_eq!(h.stack.tcp_ttl(l).unwrap(), 64);
    let sa = h.peer_syn(65535, mss_opt(1460));
    assert_eq!(sa.ttl, 64);
    let before = h.complete_passive(l, &sa, 65535);

    // Linux's IP_TTL range: 1–255.
    for bad in [0, 256, u32::MAX] {
        let e = h.stack.tcp_set_ttl(l, bad).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidInput, "{bad}: {e}");
    }
    h.stack.tcp_set_ttl(l, 7).unwrap();
    assert_eq!(h.stack.tcp_ttl(l).unwrap(), 7);
    assert_eq!(h.stack.tcp_ttl(before.h).unwrap(), 64, "accepted before");

    // The next SYN-ACK and the connection's data carry the listener's.
    h.peer_port = PEER_PORT + 1;
    let sa = h.peer_syn(65535, mss_opt(1460));
    assert_eq!(sa.ttl, 7);
    let c = h.complete_passive(l, &sa, 65535);
    assert_eq!(h.stack.tcp_ttl(c.h).unwrap(), 7);
    h.stack.tcp_send(c.h, b"seven").unwrap();
    let d = h.expect_segment();
    assert_eq!((d.payload.as_slice(), d.ttl), (&b"seven"[..], 7));

    // Changed on the connection: the next packet carries it.
    h.stack.tcp_set_nodelay(c.h, true).unwrap();
    h.stack.tcp_set_ttl(c.h, 255).unwrap();
    h.stack.tcp_send(c.h, b"more").unwrap();
    assert_eq!(h.expect_segment().ttl, 255);

    // A SYN cookie's SYN-ACK too; a RST for a port nobody listens on
    // has the stack's TTL.
    let (sa, rst) = cookie_synack_and_rst(&mut h, PEER_PORT + 2);
    assert_eq!(sa.ttl, 7, "the cookie's SYN-ACK");
    assert_eq!(rst.ttl, 64);

    // And a stack configured without any TTL is refused.
    let mut cfg = Config::default();
    cfg.addresses.push("198.18.0.1/24".parse().unwrap());
    cfg.ttl = 0;
    assert_eq!(
        Stack::new(cfg).err().expect("refused").kind(),
        ErrorKind::InvalidInput
    );
}

/// SO_LINGER zero: close aborts (RFC 9293 §3.10.5 ABORT, Linux's close
/// with a zero linger): the queued data is discarded, a RST at SND.NXT
/// instead of a FIN, and no TIME-WAIT. A listener passes it on; a
/// nonzero linger leaves the close graceful (the wait is the caller's).
#[test]
fn a_zero_linger_close_aborts_and_skips_time_wait() {
    let mut h = Harness::new();
    let l = h.listen(4);
    assert_eq!(h.stack.tcp_linger(l).unwrap(), None, "off by default");
    h.stack.tcp_set_linger(l, Some(Duration::ZERO)).unwrap();
    assert_eq!(h.stack.tcp_linger(l).unwrap(), Some(Duration::ZERO));

    // Accepted with the listener's zero linger; 1000 bytes in flight, 10
    // more held back by Nagle.
    let sa = h.peer_syn(65535, mss_opt(1460));
    let c = h.complete_passive(l, &sa, 65535);
    assert_eq!(h.stack.tcp_linger(c.h).unwrap(), Some(Duration::ZERO));
    assert_eq!(h.stack.tcp_send(c.h, &[7; 1000]).unwrap(), 1000);
    assert_eq!(h.expect_segment().payload.len(), 1000);
    assert_eq!(h.stack.tcp_send(c.h, &[8; 10]).unwrap(), 10);
    h.expect_nothing();
    let rsts = h.stack.counters().tcp.rsts_out;
    h.stack.tcp_close(c.h);
    h.expect_segment().check_empty(RST | ACK, c.s(1000), c.p(0));
    h.expect_nothing();
    assert_eq!(h.stack.counters().tcp.rsts_out, rsts + 1);
    assert_eq!(h.stack.socket_count(), 1, "only the listener is left");
    // The peer's retransmission finds no connection: answered by a RST.
    h.inject(c.p(0), c.s(0), ACK, 100, no_opts(), b"late");
    h.expect_segment().check_empty(RST, c.s(0), 0);

    // Set on the connection itself, in TIME-WAIT (the application still
    // holds it after both FINs): closed at once, no TIME-WAIT record.
    h.stack.tcp_set_linger(l, None).unwrap();
    h.peer_port = PEER_PORT + 1;
    let sa = h.peer_syn(65535, mss_opt(1460));
    let c = h.complete_passive(l, &sa, 65535);
    assert_eq!(h.stack.tcp_linger(c.h).unwrap(), None, "accepted after");
    h.stack
        .tcp_shutdown(c.h, std::net::Shutdown::Write)
        .unwrap();
    h.expect_segment().check_empty(FIN | ACK, c.s(0), c.p(0));
    h.inject(c.p(0), c.s(1), FIN | ACK, 65535, no_opts(), &[]);
    h.expect_segment().check_empty(ACK, c.s(1), c.p(1));
    assert_eq!(h.state(c.h), ustack::TcpState::TimeWait);
    h.stack.tcp_set_linger(c.h, Some(Duration::ZERO)).unwrap();
    h.stack.tcp_close(c.h);
    h.expect_nothing();
    assert_eq!(h.stack.socket_count(), 1);
    assert_eq!(h.stack.time_wait_records(), 0);

    // A nonzero linger: the close is the graceful one (FIN after the data).
    h.peer_port = PEER_PORT + 2;
    let sa = h.peer_syn(65535, mss_opt(1460));
    let c = h.complete_passive(l, &sa, 65535);
    h.stack
        .tcp_set_linger(c.h, Some(Duration::from_secs(5)))
        .unwrap();
    assert_eq!(
        h.stack.tcp_linger(c.h).unwrap(),
        Some(Duration::from_secs(5))
    );
    h.stack.tcp_send(c.h, b"bye").unwrap();
    h.expect_segment();
    h.stack.tcp_close(c.h);
    h.expect_segment().check_empty(FIN | ACK, c.s(3), c.p(0));
    assert_eq!(h.stack.socket_count(), 2, "closing in the background");
}

/// A zero-linger close before the handshake completes: the queued data
/// is discarded and nothing is sent (RFC 9293 §3.10.5: no RST in
/// SYN-SENT); without the option that data would be delivered.
#[test]
fn a_zero_linger_close_in_syn_sent_sends_nothing() {
    let mut h = Harness::new();
    let (r, local) = (h.peer_addr(), h.stack_addr());
    let c = h.stack.tcp_connect(r, Some(local)).unwrap();
    let syn = h.expect_segment();
    assert_eq!(syn.flags_np(), SYN);
    h.stack.tcp_send(c, b"queued").unwrap();
    h.stack.tcp_set_linger(c, Some(Duration::ZERO)).unwrap();
    h.stack.tcp_close(c);
    h.expect_nothing();
    assert_eq!(h.stack.socket_count(), 0);
    // The SYN-ACK that follows finds nothing: RST (RFC 9293 §3.10.7.1).
    h.inject(
        PEER_ISS,
        syn.seq.wrapping_add(1),
        SYN | ACK,
        65535,
        mss_opt(1460),
        &[],
    );
    h.expect_segment()
        .check_empty(RST, syn.seq.wrapping_add(1), 0);
}

/// Walks the stack's wake-ups, answering nothing, until `c` is CLOSED or
/// `limit` passes; returns when it closed and the segments it sent.
#[track_caller]
fn run_until_closed(
    h: &mut Harness,
    c: ustack::SocketHandle,
    limit: Instant,
) -> (Instant, Vec<Seg>) {
    let mut sent = Vec::new();
    while h.state(c) != ustack::TcpState::Closed {
        let at = h.poll_at().expect("a timer is armed");
        assert!(at <= limit, "still {:?} at {at:?}", h.state(c));
        h.advance_to(at);
        sent.extend(h.drain());
    }
    (h.now, sent)
}

/// TCP_USER_TIMEOUT (RFC 9293 §3.10.8 USER TIMEOUT, RFC 5482): data
/// unacknowledged that long ends the connection with TimedOut, exactly
/// then (the retransmission timer is clamped to it) and without a RST;
/// progress restarts the clock; without it, the retries go on.
#[test]
fn user_timeout_ends_a_connection_whose_data_stays_unacknowledged() {
    use ustack::TcpState;
    let ut = Duration::from_secs(3);
    // Without the option: still retransmitting long after 3 s.
    let mut h = Harness::new();
    let (_l, c) = h.passive_open();
    assert_eq!(h.stack.tcp_user_timeout(c.h).unwrap(), None);
    h.stack.tcp_send(c.h, b"hello").unwrap();
    h.expect_segment();
    h.advance(Duration::from_secs(20));
    h.drain();
    assert_eq!(h.state(c.h), TcpState::Established);

    let mut h = Harness::new();
    let (l, c) = h.passive_open();
    h.stack.tcp_set_user_timeout(c.h, Some(ut)).unwrap();
    assert_eq!(h.stack.tcp_user_timeout(c.h).unwrap(), Some(ut));
    h.stack.tcp_send(c.h, b"hello").unwrap();
    let sent_at = h.now;
    h.expect_segment();
    let (closed, segs) = run_until_closed(&mut h, c.h, sent_at + Duration::from_secs(60));
    assert_eq!(closed, sent_at + ut, "closed at the user timeout");
    assert!(segs.len() >= 2, "retransmitted before: {segs:?}");
    assert!(
        segs.iter().all(|s| !s.flags.rst() && s.payload == b"hello"),
        "{segs:?}"
    );
    assert_eq!(h.recv_error(c.h), std::io::ErrorKind::TimedOut);

    // Progress restarts the clock: 2 000 bytes in two segments, the
    // first acknowledged at 2.5 s; the second, resent then, may stay
    // unacknowledged another 3 s.
    h.stack.tcp_set_user_timeout(l, Some(ut)).unwrap();
    assert_eq!(h.stack.tcp_user_timeout(l).unwrap(), Some(ut));
    h.peer_port = PEER_PORT + 1;
    let sa = h.peer_syn(65535, mss_opt(1460));
    let c = h.complete_passive(l, &sa, 65535);
    assert_eq!(
        h.stack.tcp_user_timeout(c.h).unwrap(),
        Some(ut),
        "inherited"
    );
    h.stack.tcp_set_nodelay(c.h, true).unwrap();
    h.stack.tcp_send(c.h, &[1; 2000]).unwrap();
    let sent_at = h.now;
    assert_eq!(h.drain().len(), 2);
    h.advance_to(sent_at + Duration::from_millis(2500));
    h.drain();
    h.inject(c.p(0), c.s(1460), ACK, 65535, no_opts(), &[]);
    let acked_at = h.now;
    let (closed, _) = run_until_closed(&mut h, c.h, acked_at + Duration::from_secs(60));
    assert_eq!(closed, acked_at + ut);
    assert_eq!(h.recv_error(c.h), std::io::ErrorKind::TimedOut);
}

/// TCP_USER_TIMEOUT with a zero window: the peer answers every probe,
/// which would keep the connection forever (RFC 9293 §3.8.6.1), but data
/// queued unsent that long ends it, at the user timeout after the first
/// probe (Linux).
#[test]
fn user_timeout_ends_a_zero_window_that_stays_closed() {
    let ut = Duration::from_secs(5);
    let mut h = Harness::new();
    let (_l, c) = h.passive_open_window(0);
    h.stack.tcp_set_user_timeout(c.h, Some(ut)).unwrap();
    h.stack.tcp_send(c.h, b"blocked").unwrap();
    h.expect_nothing();
    let mut first = None;
    while h.state(c.h) != ustack::TcpState::Closed {
        let at = h.poll_at().expect("persist timer");
        assert!(at <= h.now + Duration::from_secs(60));
        h.advance_to(at);
        if !h.drain().is_empty() {
            first.get_or_insert(at);
            // The peer is alive: its window stays 0.
            h.inject(c.p(0), c.s(0), ACK, 0, no_opts(), &[]);
        }
    }
    let first = first.expect("probed");
    assert_eq!(h.now, first + ut);
    assert!(h.stack.counters().tcp.zero_window_probes >= 3);
    assert_eq!(h.recv_error(c.h), std::io::ErrorKind::TimedOut);
}

/// TCP_USER_TIMEOUT with keepalive: once a probe goes unanswered, a peer
/// silent for the user timeout is given up, before the probe count runs
/// out (Linux).
#[test]
fn user_timeout_shortens_keepalive() {
    let ka = Keepalive {
        idle: Duration::from_secs(10),
        interval: Duration::from_secs(1),
        retries: 9,
    };
    let mut h = Harness::new();
    let (_l, c) = h.passive_open();
    let quiet_from = h.now;
    h.stack.tcp_set_keepalive(c.h, Some(ka)).unwrap();
    h.stack
        .tcp_set_user_timeout(c.h, Some(Duration::from_millis(12_500)))
        .unwrap();
    let (closed, segs) = run_until_closed(&mut h, c.h, quiet_from + Duration::from_secs(60));
    // Probes at 10, 11, 12 s; at 13 s the peer has been silent 13 s.
    assert_eq!(closed, quiet_from + Duration::from_secs(13));
    assert_eq!(h.stack.counters().tcp.keepalive_probes, 3);
    assert!(segs.last().is_some_and(|s| s.flags.rst()), "{segs:?}");
    assert_eq!(h.recv_error(c.h), std::io::ErrorKind::TimedOut);
}

/// IP_TOS (RFC 9293 §3.9.1.9, MUST-48: the application sets the DS
/// field): per connection and from the listener, SYN-ACK (a SYN cookie's
/// too) and data; the ECN bits stay clear for TCP (Linux); RSTs for no
/// socket carry 0; one byte only.
#[test]
fn tos_per_connection_and_from_the_listener() {
    let mut h = Harness::with_defaults(|_| {});
    let l = h.listen(1);
    assert_eq!(h.stack.tcp_tos(l).unwrap(), 0);
    let e = h.stack.tcp_set_tos(l, 256).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidInput);
    // EF (DSCP 46) with both ECN bits asked for: the ECN bits are dropped.
    h.stack.tcp_set_tos(l, 0xb8 | 0x03).unwrap();
    assert_eq!(h.stack.tcp_tos(l).unwrap(), 0xb8);
    let sa = h.peer_syn(65535, mss_opt(1460));
    assert_eq!(sa.tos, 0xb8, "SYN-ACK");
    let c = h.complete_passive(l, &sa, 65535);
    assert_eq!(h.stack.tcp_tos(c.h).unwrap(), 0xb8);
    h.stack.tcp_set_nodelay(c.h, true).unwrap();
    h.stack.tcp_send(c.h, b"ef").unwrap();
    assert_eq!(h.expect_segment().tos, 0xb8);
    // Changed on the connection (AF11): the next packet carries it.
    h.stack.tcp_set_tos(c.h, 0x28).unwrap();
    h.stack.tcp_send(c.h, b"af").unwrap();
    assert_eq!(h.expect_segment().tos, 0x28);
    // A SYN cookie's SYN-ACK; a RST for a port nobody listens on.
    let (sa, rst) = cookie_synack_and_rst(&mut h, PEER_PORT + 1);
    assert_eq!(sa.tos, 0xb8, "the cookie's SYN-ACK");
    assert_eq!(rst.tos, 0);
}
