//! Data safety: what the application is promised about its bytes.
//!
//! - A graceful close delivers everything queued, even with a full send
//!   buffer, closed at once, over a lossy and reordering path.
//! - An abort (SO_LINGER 0) sends a RST and the peer sees ConnectionReset.
//! - The application always learns of a lost connection: a vanished peer
//!   gives TimedOut, a RST mid-stream gives ConnectionReset; never a
//!   silent Ok(0) EOF that would pass for a complete stream.
mod hostile_kit;
mod scripted;

use hostile_kit::app::{pattern, Endpoint};
use hostile_kit::wire::{config, Impair, Wire, A_IP, B_IP};
use std::io::ErrorKind;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;
use ustack::{SocketHandle, Stack, TcpState};

const SECS: fn(u64) -> Duration = Duration::from_secs;

fn server_addr() -> SocketAddr {
    SocketAddr::new(IpAddr::V4(B_IP), 80)
}

/// Connects A to a listener on B; returns (listener, client, server).
fn connect(w: &mut Wire) -> (SocketHandle, SocketHandle, SocketHandle) {
    let l = w.b.tcp_listen(server_addr(), 8).unwrap();
    let c = w.a.tcp_connect(server_addr(), None).unwrap();
    let mut srv = None;
    assert!(
        w.run_until(SECS(120), |w| {
            if srv.is_none() {
                srv = w.b.tcp_accept(l).ok().map(|x| x.0);
            }
            srv.is_some() && w.a.tcp_state(c).ok() == Some(TcpState::Established)
        }),
        "handshake"
    );
    (l, c, srv.unwrap())
}

/// Runs until both stacks hold no socket and no timer (after TIME-WAIT);
/// panics if that does not happen within `limit`.
#[track_caller]
fn assert_drains_to_nothing(w: &mut Wire, limit: Duration) {
    let ok = w.run_until(limit, |w| {
        w.a.socket_count() == 0 && w.b.socket_count() == 0 && w.in_flight() == 0
    });
    assert!(
        ok,
        "leak: sockets a {} b {}, poll_at a {:?} b {:?}",
        w.a.socket_count(),
        w.b.socket_count(),
        w.a.poll_at(),
        w.b.poll_at()
    );
    assert_eq!(w.a.poll_at(), None, "timer left on A");
    assert_eq!(w.b.poll_at(), None, "timer left on B");
    assert_eq!(w.a.buffer_bytes() + w.b.buffer_bytes(), 0);
}

// ======================================================================
// Graceful close
// ======================================================================

/// A fills a 256 KiB send buffer and closes at once (before anything is
/// acknowledged); B must read every byte, then EOF.
fn graceful_close_case(seed: u64, impair: Impair) -> Result<(), String> {
    let mut w = Wire::new(seed, impair);
    let (l, c, s) = connect(&mut w);
    w.a.tcp_set_send_buffer(c, 256 * 1024).unwrap();
    let data = pattern(seed, 256 * 1024 + 1000);
    let mut queued = 0;
    while let Ok(n) = w.a.tcp_send(c, &data[queued..]) {
        queued += n;
    }
    if queued < 256 * 1024 {
        return Err(format!("only {queued} bytes queued"));
    }
    w.a.tcp_close(c);
    let mut rx = Endpoint::new(Vec::new(), false);
    rx.h = Some(s);
    let mut buf = vec![0u8; 65536];
    w.run_until(SECS(3600), |w| {
        rx.read(&mut w.b, &mut buf);
        rx.eof || !rx.errors.is_empty()
    });
    if !rx.errors.is_empty() {
        return Err(format!("reader error {:?}", rx.errors));
    }
    if !rx.eof {
        return Err(format!("no EOF; got {}/{queued}", rx.got.len()));
    }
    if rx.got[..] != data[..queued] {
        let first = rx.got.iter().zip(&data).position(|(a, b)| a != b);
        return Err(format!(
            "got {} of {queued} bytes, first difference at {first:?}",
            rx.got.len()
        ));
    }
    w.b.tcp_close(s);
    w.b.tcp_close(l);
    assert_drains_to_nothing(&mut w, SECS(3600));
    Ok(())
}

#[test]
fn graceful_close_delivers_full_send_buffer_under_loss() {
    let mut fails = Vec::new();
    for seed in 0..12u64 {
        let impair = Impair {
            delay: Duration::from_millis(1 + seed % 20),
            jitter: Duration::from_millis(seed % 4),
            loss: [0.0, 0.02, 0.05, 0.1, 0.2, 0.3][(seed % 6) as usize],
            duplicate: if seed % 3 == 0 { 0.02 } else { 0.0 },
        };
        if let Err(e) = graceful_close_case(seed, impair) {
            fails.push(format!("seed {seed} {impair:?}: {e}"));
        }
    }
    assert!(fails.is_empty(), "{}", fails.join("\n"));
}

// ======================================================================
// Abort
// ======================================================================

#[test]
fn abort_sends_rst_and_peer_sees_connection_reset() {
    let mut w = Wire::new(3, Impair::default());
    let (_l, c, s) = connect(&mut w);
    let data = pattern(1, 50_000);
    w.a.tcp_send(c, &data).unwrap();
    // Let some of it arrive, unread.
    w.run_to(w.now + Duration::from_millis(30));
    assert!(w.b.tcp_recv_available(s).unwrap() > 0);
    let rsts_before = w.a.counters().tcp.rsts_out;
    w.a.tcp_abort(c);
    w.flush();
    assert_eq!(
        w.a.counters().tcp.rsts_out,
        rsts_before + 1,
        "a RST is sent"
    );
    assert_eq!(w.a.socket_count(), 0, "aborted connection freed at once");
    w.run_to(w.now + Duration::from_millis(50));
    let mut rx = Endpoint::new(Vec::new(), false);
    rx.h = Some(s);
    let mut buf = vec![0u8; 65536];
    rx.read(&mut w.b, &mut buf);
    assert!(!rx.eof, "a reset must not look like a clean EOF");
    assert_eq!(rx.first_error(), Some(ErrorKind::ConnectionReset));
    assert!(data.starts_with(&rx.got), "what was read is a prefix");
    assert_eq!(w.b.tcp_state(s).unwrap(), TcpState::Closed);
}

#[test]
fn abort_under_loss_peer_sending_learns_reset() {
    // The RST may be lost; the peer, still sending, then gets a RST from
    // the closed port for its next segment. Either way: ConnectionReset.
    for seed in 0..8u64 {
        let impair = Impair {
            loss: 0.3,
            ..Impair::default()
        };
        let mut w = Wire::new(100 + seed, impair);
        let (_l, c, s) = connect(&mut w);
        let mut tx = Endpoint::new(pattern(seed, 2_000_000), false);
        tx.h = Some(s);
        let mut buf = vec![0u8; 65536];
        w.run_until(SECS(1), |w| {
            tx.pump(&mut w.b, &mut buf);
            false
        });
        w.a.tcp_abort(c);
        let ok = w.run_until(SECS(600), |w| {
            tx.pump(&mut w.b, &mut buf);
            !tx.errors.is_empty()
        });
        assert!(ok, "seed {seed}: the sender never learned of the reset");
        assert_eq!(
            tx.first_error(),
            Some(ErrorKind::ConnectionReset),
            "seed {seed}: {:?}",
            tx.errors
        );
        assert!(!tx.eof, "seed {seed}: EOF instead of reset");
    }
}

#[test]
fn close_with_unread_data_resets_peer() {
    // Linux semantics (RFC 9293 §3.10.4 allows it): closing with unread
    // received data sends RST, so the sender learns its data was not
    // consumed instead of believing it was delivered.
    let mut w = Wire::new(4, Impair::default());
    let (_l, c, s) = connect(&mut w);
    w.a.tcp_send(c, b"request that will never be read").unwrap();
    w.run_to(w.now + Duration::from_millis(30));
    assert!(w.b.tcp_recv_available(s).unwrap() > 0);
    w.b.tcp_close(s);
    w.run_to(w.now + Duration::from_millis(30));
    let mut buf = [0u8; 64];
    let e = w.a.tcp_recv(c, &mut buf).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::ConnectionReset);
}

#[test]
fn rst_mid_stream_is_reset_not_eof() {
    // The reader drains what arrived before the RST, then gets the error:
    // the stream never ends with Ok(0).
    let mut w = Wire::new(5, Impair::default());
    let (_l, c, s) = connect(&mut w);
    let data = pattern(2, 200_000);
    let mut tx = Endpoint::new(data.clone(), false);
    tx.h = Some(c);
    let mut rx = Endpoint::new(Vec::new(), false);
    rx.h = Some(s);
    let mut buf = vec![0u8; 1000];
    // The reader is slow: 1000 bytes per step.
    let mut steps = 0;
    w.run_until(SECS(10), |w| {
        tx.pump(&mut w.a, &mut buf);
        if let Ok(n) = w.b.tcp_recv(s, &mut buf) {
            rx.got.extend_from_slice(&buf[..n]);
        }
        steps += 1;
        steps > 50
    });
    assert!(rx.got.len() < data.len(), "still mid-stream");
    w.a.tcp_abort(c);
    w.run_to(w.now + Duration::from_millis(50));
    let mut big = vec![0u8; 65536];
    rx.read(&mut w.b, &mut big);
    assert_eq!(rx.first_error(), Some(ErrorKind::ConnectionReset));
    assert!(!rx.eof);
    assert!(data.starts_with(&rx.got), "no corruption before the reset");
    // Writing after the reset fails too (the error was reported once; the
    // stream is closed).
    assert!(w.b.tcp_send(s, b"x").is_err());
}

// ======================================================================
// The peer vanishes
// ======================================================================

#[test]
fn peer_vanishes_reader_gets_timed_out() {
    // A has queued data and only reads afterwards; the path dies. Its
    // retransmissions give up (max_retries) and the read reports
    // TimedOut, never EOF.
    let mut w = Wire::new(6, Impair::default());
    let (_l, c, _s) = connect(&mut w);
    w.a.tcp_send(c, &pattern(3, 100_000)).unwrap();
    w.run_to(w.now + Duration::from_millis(12));
    w.a_dead = true;
    w.b_dead = true;
    let start = w.now;
    let mut rx = Endpoint::new(Vec::new(), false);
    rx.h = Some(c);
    let mut buf = vec![0u8; 65536];
    let ok = w.run_until(SECS(4 * 3600), |w| {
        rx.read(&mut w.a, &mut buf);
        rx.eof || !rx.errors.is_empty()
    });
    assert!(ok, "the application never learned the peer is gone");
    assert!(!rx.eof, "a dead peer must not look like EOF");
    assert_eq!(rx.first_error(), Some(ErrorKind::TimedOut));
    let took = w.now - start;
    eprintln!("dead peer detected after {took:?} of retransmissions");
    assert!(took < SECS(3600), "took {took:?}");
    assert_eq!(w.a.tcp_state(c).unwrap(), TcpState::Closed);
    assert!(w.a.tcp_send(c, b"x").is_err());
}

#[test]
fn peer_vanishes_writer_gets_timed_out() {
    let mut w = Wire::new(7, Impair::default());
    let (_l, c, _s) = connect(&mut w);
    w.a_dead = true;
    w.b_dead = true;
    let mut tx = Endpoint::new(pattern(4, 10_000_000), false);
    tx.h = Some(c);
    let mut buf = vec![0u8; 65536];
    let ok = w.run_until(SECS(4 * 3600), |w| {
        tx.pump(&mut w.a, &mut buf);
        !tx.errors.is_empty()
    });
    assert!(ok);
    assert_eq!(
        tx.first_error(),
        Some(ErrorKind::TimedOut),
        "{:?}",
        tx.errors
    );
}

#[test]
fn peer_vanishes_during_handshake_connect_times_out() {
    let mut w = Wire::new(8, Impair::default());
    w.a_dead = true;
    let c = w.a.tcp_connect(server_addr(), None).unwrap();
    let start = w.now;
    let ok = w.run_until(SECS(3600), |w| {
        w.a.tcp_state(c).ok() == Some(TcpState::Closed)
    });
    assert!(ok, "SYN retransmissions never gave up");
    let mut buf = [0u8; 16];
    assert_eq!(
        w.a.tcp_recv(c, &mut buf).unwrap_err().kind(),
        ErrorKind::TimedOut
    );
    eprintln!("connect gave up after {:?}", w.now - start);
}

#[test]
fn orphan_with_vanished_peer_is_freed() {
    // Closed by the application with data still queued; the peer is gone:
    // the orphan retransmits, gives up, and leaves nothing behind.
    let mut w = Wire::new(9, Impair::default());
    let (l, c, s) = connect(&mut w);
    w.a.tcp_send(c, &pattern(5, 300_000)).unwrap();
    w.run_to(w.now + Duration::from_millis(12));
    w.a_dead = true;
    w.b_dead = true;
    w.a.tcp_close(c);
    w.b.tcp_abort(s);
    w.b.tcp_close(l);
    assert_drains_to_nothing(&mut w, SECS(4 * 3600));
}

#[test]
fn graceful_close_both_ways_then_nothing_left() {
    // Both sides send, shut down, read to EOF, close: every byte arrives
    // and both stacks return to zero sockets, zero timers, zero buffers.
    let impair = Impair {
        loss: 0.05,
        jitter: Duration::from_millis(3),
        ..Impair::default()
    };
    let mut w = Wire::with(
        Stack::new(config(A_IP, 10)).unwrap(),
        Stack::new(config(B_IP, 11)).unwrap(),
        10,
        impair,
    );
    let (l, c, s) = connect(&mut w);
    let mut ea = Endpoint::new(pattern(6, 300_000), true);
    let mut eb = Endpoint::new(pattern(7, 200_000), true);
    ea.h = Some(c);
    eb.h = Some(s);
    let mut buf = vec![0u8; 65536];
    assert!(w.run_until(SECS(600), |w| {
        ea.pump(&mut w.a, &mut buf);
        eb.pump(&mut w.b, &mut buf);
        ea.eof && eb.eof
    }));
    assert!(ea.errors.is_empty() && eb.errors.is_empty());
    assert!(ea.got == eb.data && eb.got == ea.data, "bytes intact");
    w.a.tcp_close(c);
    w.b.tcp_close(s);
    w.b.tcp_close(l);
    assert_drains_to_nothing(&mut w, SECS(600));
}

#[test]
fn close_in_syn_sent_delivers_queued_data() {
    // `tcp_send` accepts data before the handshake completes (Ok(n)), and
    // `tcp_close` is documented as graceful ("queued data is still
    // delivered and a FIN sent"). Closing right after queuing, while still
    // in SYN-SENT, must therefore not lose the bytes silently: either they
    // are delivered, or the application is told (RFC 9293 §3.10.4 answers
    // queued SENDs with "error: closing"; here close returns nothing, so
    // delivery is the only way the application is not misled).
    let mut w = Wire::new(12, Impair::default());
    let l = w.b.tcp_listen(server_addr(), 8).unwrap();
    let c = w.a.tcp_connect(server_addr(), None).unwrap();
    let data = pattern(8, 5000);
    assert_eq!(w.a.tcp_send(c, &data).unwrap(), data.len());
    w.a.tcp_close(c);
    let mut rx = Endpoint::new(Vec::new(), false);
    let mut buf = vec![0u8; 65536];
    w.run_until(SECS(60), |w| {
        if rx.h.is_none() {
            rx.h = w.b.tcp_accept(l).ok().map(|x| x.0);
        }
        rx.read(&mut w.b, &mut buf);
        rx.eof || !rx.errors.is_empty()
    });
    assert!(
        rx.eof && rx.got == data,
        "closing in SYN-SENT lost {} queued bytes without an error \
         (peer accepted: {}, got {} bytes, errors {:?})",
        data.len(),
        rx.h.is_some(),
        rx.got.len(),
        rx.errors
    );
}

#[test]
fn peer_vanishes_behind_zero_window_times_out() {
    // The peer acknowledges everything with a zero window, then vanishes.
    // The stack probes the zero window; the probes go unanswered. RFC 1122
    // §4.2.2.17 only requires probing to go on while the receiver keeps
    // acknowledging the probes; unanswered probes must end in an error
    // (Linux counts them against tcp_retries2: ETIMEDOUT), otherwise the
    // connection, its buffers and the application wait forever.
    use scripted::*;
    let mut h = Harness::new();
    let (_l, c) = h.passive_open();
    h.stack.tcp_set_nodelay(c.h, true).unwrap();
    h.stack.tcp_send(c.h, &pattern(9, 1000)).unwrap();
    let s = h.expect_segment();
    assert_eq!(s.payload.len(), 1000);
    h.stack.tcp_send(c.h, &pattern(10, 5000)).unwrap();
    // Everything so far acknowledged, window zero: persist mode.
    h.inject(c.p(0), c.s(1000), ACK, 0, no_opts(), &[]);
    h.expect_nothing();
    let start = h.now;
    let limit = start + SECS(6 * 3600);
    let mut probes = 0;
    while h.stack.tcp_state(c.h).unwrap() != TcpState::Closed {
        let Some(t) = h.poll_at() else { break };
        if t > limit {
            break;
        }
        h.advance_to(t.max(h.now));
        probes += h.drain().len();
    }
    let state = h.stack.tcp_state(c.h).unwrap();
    assert!(
        state == TcpState::Closed,
        "after {:?} and {probes} unanswered zero-window probes the connection is \
         still {state:?} (next wake-up {:?}): the application never learns the peer is gone",
        h.now - start,
        h.poll_at()
    );
    assert_eq!(h.recv_error(c.h), ErrorKind::TimedOut);
}
