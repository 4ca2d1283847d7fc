//! A socket-API operation sequence on two stacks joined by a wire the
//! fuzzer also controls (deliver, drop, duplicate, reorder, time steps).
//! Checked: no panic, every emitted packet valid, no busy loop, and stream
//! integrity: whatever a connection reads (or peeks at) is a prefix of
//! what its peer wrote (on the same connection), never more, never
//! altered. Options (buffers, TCP_NODELAY, IP_TTL) are set on
//! connections and listeners, UDP sockets broadcast.
#![no_main]
use libfuzzer_sys::arbitrary::{self, Arbitrary};
use libfuzzer_sys::fuzz_target;
use std::collections::{HashMap, VecDeque};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, Shutdown, SocketAddr};
use ustack::{BindOptions, Duration, Instant, SocketHandle, Stack};
use ustack_fuzz::*;

#[derive(Arbitrary, Debug)]
enum Op {
    Listen {
        side: bool,
        port: u8,
        backlog: u8,
        /// The address bound: see `bind_addr`.
        bind: u8,
    },
    Connect {
        side: bool,
        port: u8,
    },
    Accept {
        side: bool,
        idx: u8,
    },
    Send {
        side: bool,
        idx: u8,
        len: u16,
        /// MSG_OOB: urgent data (inline in the stream all the same).
        urgent: bool,
    },
    Recv {
        side: bool,
        idx: u8,
        len: u16,
    },
    Shutdown {
        side: bool,
        idx: u8,
        how: u8,
    },
    Close {
        side: bool,
        idx: u8,
    },
    Abort {
        side: bool,
        idx: u8,
    },
    SetBuffers {
        side: bool,
        idx: u8,
        snd: u16,
        rcv: u16,
    },
    Nodelay {
        side: bool,
        idx: u8,
        on: bool,
    },
    UdpBind {
        side: bool,
        port: u8,
        bind: u8,
    },
    UdpSend {
        side: bool,
        idx: u8,
        len: u16,
        port: u8,
    },
    UdpRecv {
        side: bool,
        idx: u8,
    },
    UdpClose {
        side: bool,
        idx: u8,
    },
    Peek {
        side: bool,
        idx: u8,
        len: u16,
    },
    UdpPeek {
        side: bool,
        idx: u8,
    },
    /// Options a listener passes on to what it accepts.
    ListenerOpts {
        side: bool,
        idx: u8,
        nodelay: bool,
        rcv: u16,
        ttl: u16,
    },
    /// IP_TTL (0 and >255 refused) and IP_TOS (>255 refused) on a
    /// connection and a UDP socket.
    Ttl {
        side: bool,
        idx: u8,
        ttl: u16,
    },
    /// SO_BROADCAST on (or off), then a datagram to the subnet's or the
    /// limited broadcast address.
    UdpBroadcast {
        side: bool,
        idx: u8,
        on: bool,
        limited: bool,
        len: u16,
    },
    /// SO_LINGER on a connection or a listener (zero: close aborts).
    Linger {
        side: bool,
        idx: u8,
        secs: Option<u8>,
    },
    /// TCP_USER_TIMEOUT on a connection or a listener (0: off).
    UserTimeout {
        side: bool,
        idx: u8,
        ms: u16,
    },
    /// Deliver the next `n` packets in flight.
    Deliver(u8),
    DropNext,
    DuplicateNext,
    /// Move the packet at `i` to the back of the queue.
    Reorder(u8),
    /// Time passes (ms), firing timers and delivering everything due.
    Advance(u16),
}

struct Side {
    s: Stack,
    ip: Ipv4Addr,
    tcp: Vec<SocketHandle>,
    listeners: Vec<SocketHandle>,
    udp: Vec<SocketHandle>,
}

/// Bytes written and read per connection, keyed by (stack, handle).
#[derive(Default)]
struct Streams {
    written: HashMap<(bool, SocketHandle), Vec<u8>>,
    read: HashMap<(bool, SocketHandle), Vec<u8>>,
    /// The peer of a connection, once both ends are known.
    peer: HashMap<(bool, SocketHandle), (bool, SocketHandle)>,
}

struct World {
    a: Side,
    b: Side,
    now: Instant,
    /// (to_b, packet)
    wire: VecDeque<(bool, Vec<u8>)>,
    streams: Streams,
    counter: u8,
}

fn side_mut(w: &mut World, b: bool) -> &mut Side {
    if b {
        &mut w.b
    } else {
        &mut w.a
    }
}

/// The address a socket binds: the side's own, `0.0.0.0`, a dual-stack
/// `[::]` or an IPv6-only one (IPv4 traffic reaches the first three).
fn bind_addr(own: Ipv4Addr, choice: u8) -> (IpAddr, BindOptions) {
    let only_v6 = |on| BindOptions {
        reuse_addr: false,
        only_v6: Some(on),
    };
    match choice % 4 {
        0 => (IpAddr::V4(own), BindOptions::default()),
        1 => (IpAddr::V4(Ipv4Addr::UNSPECIFIED), BindOptions::default()),
        2 => (IpAddr::V6(Ipv6Addr::UNSPECIFIED), only_v6(false)),
        _ => (IpAddr::V6(Ipv6Addr::UNSPECIFIED), only_v6(true)),
    }
}

fn pick<T: Copy>(v: &[T], i: u8) -> Option<T> {
    (!v.is_empty()).then(|| v[usize::from(i) % v.len()])
}

impl World {
    fn new() -> World {
        let mk = |ip, seed| Side {
            s: Stack::new(config(ip, seed)).expect("stack"),
            ip,
            tcp: Vec::new(),
            listeners: Vec::new(),
            udp: Vec::new(),
        };
        World {
            a: mk(US, 1),
            b: mk(PEER, 2),
            now: Instant::from_secs(10),
            wire: VecDeque::new(),
            streams: Streams::default(),
            counter: 0,
        }
    }

    fn collect(&mut self) {
        for to_b in [true, false] {
            let now = self.now;
            let side = if to_b { &mut self.a } else { &mut self.b };
            let ip = side.ip;
            for p in settle(&mut side.s, now, ip) {
                if self.wire.len() < 10_000 {
                    self.wire.push_back((to_b, p));
                }
            }
        }
    }

    fn deliver_one(&mut self) {
        if let Some((to_b, p)) = self.wire.pop_front() {
            let now = self.now;
            side_mut(self, to_b).s.receive(now, &p);
        }
    }

    /// Pairs connections by 4-tuple once both ends exist.
    fn pair(&mut self, side: bool, h: SocketHandle) {
        let (me, other) = if side {
            (&self.b, &self.a)
        } else {
            (&self.a, &self.b)
        };
        let (Ok(local), Ok(remote)) = (me.s.tcp_local_addr(h), me.s.tcp_peer_addr(h)) else {
            return;
        };
        for &oh in other.tcp.iter().rev() {
            if other.s.tcp_local_addr(oh).ok() == Some(remote)
                && other.s.tcp_peer_addr(oh).ok() == Some(local)
                && !self.streams.peer.contains_key(&(!side, oh))
            {
                self.streams.peer.insert((side, h), (!side, oh));
                self.streams.peer.insert((!side, oh), (side, h));
                return;
            }
        }
    }

    fn check_read(&self, key: (bool, SocketHandle)) {
        let Some(peer) = self.streams.peer.get(&key) else {
            return;
        };
        let read = self.streams.read.get(&key).map_or(&[][..], |v| &v[..]);
        let written = self.streams.written.get(peer).map_or(&[][..], |v| &v[..]);
        assert!(
            written.starts_with(read),
            "read {} bytes that the peer did not write (peer wrote {})",
            read.len(),
            written.len()
        );
    }

    /// `peeked` follows what `key` has read in its peer's stream.
    fn check_peek(&self, key: (bool, SocketHandle), peeked: &[u8]) {
        let Some(peer) = self.streams.peer.get(&key) else {
            return;
        };
        let read = self.streams.read.get(&key).map_or(0, |v| v.len());
        let written = self.streams.written.get(peer).map_or(&[][..], |v| &v[..]);
        assert!(
            written.get(read..).is_some_and(|w| w.starts_with(peeked)),
            "peeked {} bytes that do not follow the {read} read",
            peeked.len()
        );
    }

    fn data(&mut self, len: usize) -> Vec<u8> {
        self.counter = self.counter.wrapping_add(1);
        let c = self.counter;
        (0..len).map(|i| (i as u8).wrapping_mul(31) ^ c).collect()
    }

    fn apply(&mut self, op: Op) {
        let now = self.now;
        match op {
            Op::Listen {
                side,
                port,
                backlog,
                bind,
            } => {
                let sd = side_mut(self, side);
                let (ip, opts) = bind_addr(sd.ip, bind);
                let addr = SocketAddr::new(ip, 80 + u16::from(port % 4));
                sd.s.advance_clock(now);
                if let Ok(l) = sd.s.tcp_listen_with(addr, usize::from(backlog % 8), opts) {
                    sd.listeners.push(l);
                }
            }
            Op::Connect { side, port } => {
                let peer_ip = if side { US } else { PEER };
                let sd = side_mut(self, side);
                sd.s.advance_clock(now);
                let to = SocketAddr::new(IpAddr::V4(peer_ip), 80 + u16::from(port % 5));
                if let Ok(h) = sd.s.tcp_connect(to, None) {
                    sd.tcp.push(h);
                }
            }
            Op::Accept { side, idx } => {
                let sd = side_mut(self, side);
                if let Some(l) = pick(&sd.listeners, idx) {
                    if let Ok((h, _)) = sd.s.tcp_accept(l) {
                        sd.tcp.push(h);
                        self.pair(side, h);
                    }
                }
            }
            Op::Send {
                side,
                idx,
                len,
                urgent,
            } => {
                let data = self.data(usize::from(len) % 20_000);
                let sd = side_mut(self, side);
                if let Some(h) = pick(&sd.tcp, idx) {
                    let sent = if urgent {
                        sd.s.tcp_send_urgent(h, &data)
                    } else {
                        sd.s.tcp_send(h, &data)
                    };
                    if let Ok(n) = sent {
                        assert!(n <= data.len());
                        self.streams
                            .written
                            .entry((side, h))
                            .or_default()
                            .extend_from_slice(&data[..n]);
                        self.pair(side, h);
                    }
                }
            }
            Op::Recv { side, idx, len } => {
                let mut buf = vec![0u8; usize::from(len) % 70_000 + 1];
                let sd = side_mut(self, side);
                if let Some(h) = pick(&sd.tcp, idx) {
                    if let Ok(up) = sd.s.tcp_urgent_pending(h) {
                        // Within a window and 65 535 of the reader: never a
                        // sequence number that wrapped.
                        assert!(up < 1 << 31, "urgent pending {up}");
                    }
                    if let Ok(n) = sd.s.tcp_recv(h, &mut buf) {
                        assert!(n <= buf.len());
                        self.streams
                            .read
                            .entry((side, h))
                            .or_default()
                            .extend_from_slice(&buf[..n]);
                        self.pair(side, h);
                        self.check_read((side, h));
                    }
                }
            }
            Op::Shutdown { side, idx, how } => {
                let sd = side_mut(self, side);
                if let Some(h) = pick(&sd.tcp, idx) {
                    let how =
                        [Shutdown::Read, Shutdown::Write, Shutdown::Both][usize::from(how % 3)];
                    let _ = sd.s.tcp_shutdown(h, how);
                }
            }
            Op::Close { side, idx } => {
                let sd = side_mut(self, side);
                if let Some(h) = pick(&sd.tcp, idx) {
                    sd.s.tcp_close(h);
                } else if let Some(l) = pick(&sd.listeners, idx) {
                    sd.s.tcp_close(l);
                }
            }
            Op::Abort { side, idx } => {
                let sd = side_mut(self, side);
                if let Some(h) = pick(&sd.tcp, idx) {
                    sd.s.tcp_abort(h);
                }
            }
            Op::SetBuffers {
                side,
                idx,
                snd,
                rcv,
            } => {
                let sd = side_mut(self, side);
                if let Some(h) = pick(&sd.tcp, idx) {
                    let _ = sd.s.tcp_set_send_buffer(h, usize::from(snd) * 16);
                    let _ = sd.s.tcp_set_recv_buffer(h, usize::from(rcv) * 16);
                }
            }
            Op::Nodelay { side, idx, on } => {
                let sd = side_mut(self, side);
                if let Some(h) = pick(&sd.tcp, idx) {
                    let _ = sd.s.tcp_set_nodelay(h, on);
                }
            }
            Op::UdpBind { side, port, bind } => {
                let sd = side_mut(self, side);
                let (ip, opts) = bind_addr(sd.ip, bind);
                let addr = SocketAddr::new(ip, 5000 + u16::from(port % 4));
                if let Ok(u) = sd.s.udp_bind_with(addr, opts) {
                    sd.udp.push(u);
                }
            }
            Op::UdpSend {
                side,
                idx,
                len,
                port,
            } => {
                let data = self.data(usize::from(len) % 70_000);
                let peer_ip = if side { US } else { PEER };
                let sd = side_mut(self, side);
                if let Some(u) = pick(&sd.udp, idx) {
                    let to = SocketAddr::new(IpAddr::V4(peer_ip), 5000 + u16::from(port % 5));
                    let _ = sd.s.udp_send_to(u, &data, to);
                }
            }
            Op::UdpRecv { side, idx } => {
                let sd = side_mut(self, side);
                if let Some(u) = pick(&sd.udp, idx) {
                    let mut buf = vec![0u8; 2000];
                    if let Ok(r) = sd.s.udp_recv_from(u, &mut buf) {
                        assert!(r.len <= buf.len() && r.len <= r.datagram_len);
                        assert_eq!(r.truncated, r.datagram_len > buf.len());
                    }
                }
            }
            Op::UdpClose { side, idx } => {
                let sd = side_mut(self, side);
                if let Some(u) = pick(&sd.udp, idx) {
                    sd.s.udp_close(u);
                }
            }
            Op::Peek { side, idx, len } => {
                let mut buf = vec![0u8; usize::from(len) % 70_000 + 1];
                let sd = side_mut(self, side);
                if let Some(h) = pick(&sd.tcp, idx) {
                    if let Ok(n) = sd.s.tcp_peek(h, &mut buf) {
                        assert!(n <= buf.len());
                        let mut again = vec![0u8; n];
                        let m = sd.s.tcp_peek(h, &mut again).expect("peek again");
                        assert_eq!(&again[..m.min(n)], &buf[..m.min(n)], "peek changed");
                        assert!(m >= n, "a peek consumed data");
                        self.pair(side, h);
                        self.check_peek((side, h), &buf[..n]);
                    }
                }
            }
            Op::UdpPeek { side, idx } => {
                let sd = side_mut(self, side);
                if let Some(u) = pick(&sd.udp, idx) {
                    let (mut p, mut r) = (vec![0u8; 2000], vec![0u8; 2000]);
                    if let Ok(peeked) = sd.s.udp_peek_from(u, &mut p) {
                        let got = sd.s.udp_recv_from(u, &mut r).expect("peeked, so readable");
                        assert_eq!((peeked.len, peeked.from), (got.len, got.from));
                        assert_eq!(&p[..peeked.len], &r[..got.len]);
                    }
                }
            }
            Op::ListenerOpts {
                side,
                idx,
                nodelay,
                rcv,
                ttl,
            } => {
                let sd = side_mut(self, side);
                if let Some(l) = pick(&sd.listeners, idx) {
                    let _ = sd.s.tcp_set_nodelay(l, nodelay);
                    let _ = sd.s.tcp_set_recv_buffer(l, usize::from(rcv) * 16);
                    let ok = sd.s.tcp_set_ttl(l, u32::from(ttl)).is_ok();
                    assert!(!ok || (1..=255).contains(&ttl), "TTL {ttl} taken");
                }
            }
            Op::Linger { side, idx, secs } => {
                let linger = secs.map(|s| std::time::Duration::from_secs(u64::from(s % 3)));
                let sd = side_mut(self, side);
                if let Some(h) = pick(&sd.tcp, idx) {
                    if sd.s.tcp_set_linger(h, linger).is_ok() {
                        assert_eq!(sd.s.tcp_linger(h).ok(), Some(linger));
                    }
                } else if let Some(l) = pick(&sd.listeners, idx) {
                    // Ok while it listens (it may have been closed).
                    if sd.s.tcp_set_linger(l, linger).is_ok() {
                        assert_eq!(sd.s.tcp_linger(l).ok(), Some(linger));
                    }
                }
            }
            Op::UserTimeout { side, idx, ms } => {
                let t = Some(std::time::Duration::from_millis(u64::from(ms)));
                let want = t.filter(|t| !t.is_zero());
                let sd = side_mut(self, side);
                if let Some(h) = pick(&sd.tcp, idx) {
                    if sd.s.tcp_set_user_timeout(h, t).is_ok() {
                        assert_eq!(sd.s.tcp_user_timeout(h).ok(), Some(want));
                    }
                } else if let Some(l) = pick(&sd.listeners, idx) {
                    if sd.s.tcp_set_user_timeout(l, t).is_ok() {
                        assert_eq!(sd.s.tcp_user_timeout(l).ok(), Some(want));
                    }
                }
            }
            Op::Ttl { side, idx, ttl } => {
                let sd = side_mut(self, side);
                if let Some(h) = pick(&sd.tcp, idx) {
                    if sd.s.tcp_set_ttl(h, u32::from(ttl)).is_ok() {
                        assert_eq!(sd.s.tcp_ttl(h).ok(), Some(u32::from(ttl)));
                    }
                    // IP_TOS from the same number: TCP keeps the ECN bits clear.
                    if sd.s.tcp_set_tos(h, u32::from(ttl)).is_ok() {
                        assert_eq!(sd.s.tcp_tos(h).ok(), Some(u32::from(ttl & 0xfc)));
                    }
                }
                if let Some(u) = pick(&sd.udp, idx) {
                    let ok = sd.s.udp_set_ttl(u, u32::from(ttl)).is_ok();
                    assert!(!ok || (1..=255).contains(&ttl), "TTL {ttl} taken");
                    // Ok only in range (and while the socket is open).
                    let ok = sd.s.udp_set_tos(u, u32::from(ttl)).is_ok();
                    assert!(!ok || ttl <= 255, "TOS {ttl} taken");
                }
            }
            Op::UdpBroadcast {
                side,
                idx,
                on,
                limited,
                len,
            } => {
                let data = self.data(usize::from(len) % 4000);
                let sd = side_mut(self, side);
                if let Some(u) = pick(&sd.udp, idx) {
                    let _ = sd.s.udp_set_broadcast(u, on);
                    let dst = if limited {
                        Ipv4Addr::BROADCAST
                    } else {
                        Ipv4Addr::new(198, 18, 0, 255)
                    };
                    let r = sd.s.udp_send_to(u, &data, SocketAddr::new(IpAddr::V4(dst), 5000));
                    if !on {
                        assert!(r.is_err(), "a broadcast without SO_BROADCAST");
                    }
                }
            }
            Op::Deliver(n) => {
                for _ in 0..=n % 32 {
                    self.deliver_one();
                }
            }
            Op::DropNext => {
                self.wire.pop_front();
            }
            Op::DuplicateNext => {
                if let Some(p) = self.wire.front().cloned() {
                    self.wire.push_back(p);
                }
            }
            Op::Reorder(i) => {
                if !self.wire.is_empty() {
                    let i = usize::from(i) % self.wire.len();
                    if let Some(p) = self.wire.remove(i) {
                        self.wire.push_back(p);
                    }
                }
            }
            Op::Advance(ms) => {
                // Deliver what is in flight (one-way delay 1 ms) and let
                // timers fire, in 1 ms steps.
                let end = self.now + Duration::from_millis(u64::from(ms) % 5000);
                while self.now < end {
                    let before = self.wire.len();
                    for _ in 0..before {
                        self.deliver_one();
                    }
                    self.now += Duration::from_millis(1).max((end - self.now) / 64);
                    let now = self.now;
                    self.a.s.handle_timeout(now);
                    self.b.s.handle_timeout(now);
                    self.collect();
                }
            }
        }
        self.collect();
    }
}

fuzz_target!(|ops: Vec<Op>| {
    let mut w = World::new();
    for op in ops.into_iter().take(300) {
        w.apply(op);
    }
    // Everything in flight arrives; reading what is left keeps integrity.
    for _ in 0..5 {
        w.apply(Op::Advance(400));
        for side in [false, true] {
            let hs = side_mut(&mut w, side).tcp.clone();
            for (i, _) in hs.iter().enumerate() {
                w.apply(Op::Recv {
                    side,
                    idx: i as u8,
                    len: 65535,
                });
            }
        }
    }
});
