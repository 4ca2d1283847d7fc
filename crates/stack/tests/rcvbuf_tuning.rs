//! Receive-buffer auto-tuning (`TcpConfig::recv_buffer_auto`, Linux's
//! `tcp_moderate_rcvbuf`): the buffer starts at 128 KiB and, once per
//! round trip, grows with what the application read, up to 6 MiB; a slow
//! reader keeps it small; SO_RCVBUF fixes it.
//!
//! The peer here is scripted: a sender 20 ms away that sends, once per
//! round trip, as many full segments as its congestion window (doubling
//! every round, as in slow start) and our advertised window allow.
mod scripted;

use scripted::*;
use ustack::wire::tcp::TcpOptions;
use ustack::SocketHandle;

const MSS: u32 = 1460;
const RTT_MS: u64 = 20;
/// The window scale the scripted peer offers.
const PEER_WS: u8 = 7;
const INITIAL: usize = 128 << 10;
const MAX: usize = 6 << 20;

/// The scripted sender's state.
struct Peer {
    h: Harness,
    c: Conn,
    timestamps: bool,
    /// The window scale the stack offered.
    ws: u8,
    /// Next offset to send (from the first data byte).
    next: u32,
    /// Right edge of the window we advertised, as an offset.
    edge: u32,
    /// The peer's clock and the last TSval it saw from us.
    ts: u32,
    echo: u32,
    /// Bytes the application has read.
    read: usize,
}

impl Peer {
    /// A passive open on a stack configured by `f` (timestamps and window
    /// scaling from `Config::default()`), `setup` run on the listener
    /// before the SYN arrives; the handshake takes a round trip.
    fn open(
        timestamps: bool,
        f: impl FnOnce(&mut ustack::Config),
        setup: impl FnOnce(&mut Harness, SocketHandle),
    ) -> (Peer, Seg) {
        let mut h = Harness::with_defaults(|c| {
            c.tcp.timestamps = timestamps;
            f(c);
        });
        let l = h.listen(8);
        setup(&mut h, l);
        let opts = TcpOptions {
            mss: Some(MSS as u16),
            window_scale: Some(PEER_WS),
            timestamp: timestamps.then_some((1, 0)),
            ..TcpOptions::default()
        };
        let sa = h.peer_syn(65535, opts);
        let echo = sa.options.timestamp.map_or(0, |(v, _)| v);
        h.advance_ms(RTT_MS);
        let ts = 1 + RTT_MS as u32;
        let o = if timestamps {
            ts_opt(ts, echo)
        } else {
            no_opts()
        };
        h.inject(PEER_ISS + 1, sa.seq.wrapping_add(1), ACK, 1000, o, &[]);
        let (s, _) = h.stack.tcp_accept(l).expect("accept");
        let c = Conn {
            h: s,
            iss: sa.seq,
            irs: PEER_ISS,
        };
        let edge = u32::from(sa.window);
        let p = Peer {
            h,
            c,
            timestamps,
            ws: sa.options.window_scale.unwrap_or(0),
            next: 0,
            edge,
            ts,
            echo,
            read: 0,
        };
        (p, sa)
    }

    /// One round trip: up to `segments` full segments (fewer if our window
    /// is smaller), then the application reads at most `read` bytes, then
    /// our ACKs are taken in and the clock moves one RTT. Returns the
    /// segments sent.
    fn round(&mut self, segments: u32, read: usize) -> u32 {
        let room = self.edge.wrapping_sub(self.next) / MSS;
        let n = segments.min(room);
        let payload = vec![0x5a; MSS as usize];
        for _ in 0..n {
            let o = if self.timestamps {
                ts_opt(self.ts, self.echo)
            } else {
                no_opts()
            };
            let seq = self.c.p(self.next);
            let ack = self.c.s(0);
            self.h.inject(seq, ack, ACK, 1000, o, &payload);
            self.next += MSS;
            self.take_acks();
        }
        let mut buf = vec![0u8; 64 << 10];
        let mut left = read;
        while left > 0 {
            let want = left.min(buf.len());
            match self.h.stack.tcp_recv(self.c.h, &mut buf[..want]) {
                Ok(0) | Err(_) => break,
                Ok(k) => {
                    self.read += k;
                    left -= k;
                }
            }
        }
        self.take_acks();
        self.h.advance_ms(RTT_MS);
        self.take_acks();
        self.ts += RTT_MS as u32;
        n
    }

    fn take_acks(&mut self) {
        for s in self.h.drain() {
            assert!(s.flags.ack() && s.payload.is_empty(), "{s:?}");
            let acked = s.ack.wrapping_sub(self.c.p(0));
            let edge = acked.wrapping_add(u32::from(s.window) << self.ws);
            if (edge.wrapping_sub(self.edge) as i32) > 0 {
                self.edge = edge;
            }
            if let Some((v, _)) = s.options.timestamp {
                self.echo = v;
            }
        }
    }

    fn recv_buffer(&self) -> usize {
        self.h.stack.tcp_buffer_sizes(self.c.h).unwrap().1
    }
}

/// A reader that keeps up with a sender doubling its rate every round
/// trip: the window stays ahead of the sender (each round's segments all
/// fit, to 2 560 segments, 3.7 MB, per round trip), grows once per round
/// trip, and ends at the 6 MiB ceiling, offered with window scale 7 from
/// the SYN-ACK on. With timestamps (RFC 7323 §4.1: the receiver's RTT
/// from TSecr) and without (the time one window takes to arrive).
#[test]
fn a_reader_that_keeps_up_never_holds_a_doubling_sender_back() {
    for timestamps in [true, false] {
        let (mut p, sa) = Peer::open(timestamps, |_| {}, |_, _| {});
        assert_eq!(sa.options.window_scale, Some(7), "chosen for 6 MiB");
        assert_eq!(p.recv_buffer(), INITIAL);
        let mut cwnd = 10;
        let mut sizes = vec![p.recv_buffer()];
        for round in 0..14 {
            let sent = p.round(cwnd, usize::MAX);
            if cwnd * MSS <= 4_000_000 {
                assert_eq!(
                    sent, cwnd,
                    "ts {timestamps}, round {round}: the window ({} bytes) held the sender back; buffer sizes {sizes:?}",
                    p.edge.wrapping_sub(p.next - sent * MSS)
                );
            }
            cwnd *= 2;
            sizes.push(p.recv_buffer());
        }
        let info = p.h.stack.tcp_info(p.c.h).unwrap();
        eprintln!(
            "timestamps {timestamps}: buffer sizes {sizes:?}; rcv_rtt {:?}",
            info.rcv_rtt
        );
        assert_eq!(p.recv_buffer(), MAX, "ts {timestamps}: {sizes:?}");
        assert!(
            sizes.windows(2).all(|w| w[0] <= w[1]),
            "never shrinks: {sizes:?}"
        );
        // One growth per round trip at most.
        let grows = info.counters.recv_buffer_grows;
        let changes = sizes.windows(2).filter(|w| w[0] != w[1]).count() as u64;
        assert_eq!(grows, changes, "{sizes:?}");
        assert!((3..=14).contains(&grows), "{grows} growths: {sizes:?}");
        let rtt = info.rcv_rtt.expect("an RTT estimate");
        assert!(
            rtt >= std::time::Duration::from_millis(RTT_MS)
                && rtt <= std::time::Duration::from_millis(2 * RTT_MS),
            "ts {timestamps}: receiver RTT {rtt:?}"
        );
    }
}

/// A reader slower than the network (8 KiB per round trip, the sender
/// always filling the window): the buffer stays at its initial 128 KiB,
/// so no more than that waits unread (with the fixed 4 MiB buffer of
/// before, 4 MiB would have).
#[test]
fn a_slow_reader_keeps_the_buffer_small() {
    let (mut p, _) = Peer::open(true, |_| {}, |_, _| {});
    for _ in 0..200 {
        p.round(10_000, 8 << 10);
    }
    assert_eq!(p.read, 200 * (8 << 10));
    assert_eq!(p.recv_buffer(), INITIAL);
    let unread = p.next as usize - p.read;
    assert!(unread <= INITIAL, "{unread} bytes unread");
    let info = p.h.stack.tcp_info(p.c.h).unwrap();
    assert_eq!(info.counters.recv_buffer_grows, 0);
    // What was read per round trip never passed the first estimate, an
    // initial window of ten segments.
    assert_eq!(info.rcv_space, 10 * MSS);
}

/// The growth stays near what the reader takes: a sender in slow start
/// that levels off at 45 segments (64 KiB) per round trip gets a buffer
/// of a few round trips of that (what its doubling needed), far below
/// the ceiling.
#[test]
fn a_steady_reader_gets_a_few_round_trips_of_buffer() {
    let (mut p, _) = Peer::open(true, |_| {}, |_, _| {});
    let mut sizes = Vec::new();
    for round in 0..100 {
        p.round((10 << round.min(3)).min(45), usize::MAX);
        sizes.push(p.recv_buffer());
    }
    let size = p.recv_buffer();
    let per_rtt = 45 * MSS as usize;
    assert!(
        size > 2 * per_rtt && size <= 8 * per_rtt,
        "{size} bytes for {per_rtt} per round trip: {sizes:?}"
    );
    let info = p.h.stack.tcp_info(p.c.h).unwrap();
    assert_eq!(info.rcv_space, per_rtt as u32);
    assert!(info.counters.recv_buffer_grows <= 2);
}

/// SO_RCVBUF fixes the buffer, as on Linux (SOCK_RCVBUF_LOCK): set on the
/// listener (its window scale follows the set size), on the connection,
/// or for the stack with `recv_buffer_auto` off.
#[test]
fn a_set_buffer_is_never_tuned() {
    let fixed = 256 << 10;
    type Setup = Box<dyn FnOnce(&mut Harness, SocketHandle)>;
    let cases: [(&str, bool, Setup, u8); 3] = [
        (
            "listener",
            true,
            Box::new(move |h: &mut Harness, l| h.stack.tcp_set_recv_buffer(l, fixed).unwrap()),
            3,
        ),
        ("config", false, Box::new(|_: &mut Harness, _| {}), 2),
        ("connection", true, Box::new(|_: &mut Harness, _| {}), 7),
    ];
    for (what, auto, setup, ws) in cases {
        let (mut p, sa) = Peer::open(true, |c| c.tcp.recv_buffer_auto = auto, setup);
        assert_eq!(sa.options.window_scale, Some(ws), "{what}");
        if what == "connection" {
            p.h.stack.tcp_set_recv_buffer(p.c.h, fixed).unwrap();
        }
        let start = p.recv_buffer();
        let mut cwnd = 10;
        for _ in 0..12 {
            p.round(cwnd, usize::MAX);
            cwnd *= 2;
        }
        assert_eq!(p.recv_buffer(), start, "{what}");
        let info = p.h.stack.tcp_info(p.c.h).unwrap();
        assert_eq!(info.counters.recv_buffer_grows, 0, "{what}");
    }
}

/// Without window scaling the window cannot pass 65 535 bytes: the buffer
/// grows no further than that.
#[test]
fn without_window_scaling_the_buffer_stops_at_64_kib() {
    let mut h = Harness::with_defaults(|c| c.tcp.recv_buffer = 32 << 10);
    let (_, c) = h.passive_open_with(65535, mss_opt(1460));
    let payload = vec![1u8; MSS as usize];
    let mut off = 0u32;
    let mut buf = vec![0u8; 64 << 10];
    for _ in 0..50 {
        for _ in 0..20 {
            h.inject(c.p(off), c.s(0), ACK, 65535, no_opts(), &payload);
            off += MSS;
            while h.stack.tcp_recv(c.h, &mut buf).unwrap_or(0) > 0 {}
        }
        h.drain();
        h.advance_ms(RTT_MS);
        h.drain();
    }
    let size = h.stack.tcp_buffer_sizes(c.h).unwrap().1;
    assert_eq!(size, 65535);
}
