//! Traffic to the stack's own address or to 127.0.0.0/8 stays inside the
//! host (RFC 1122 §3.2.1.3 (g)), as Linux's `lo`: `poll_transmit`
//! delivers it to the stack itself and nothing reaches the device. The
//! whole TCP life (handshake, data both ways, close, TIME-WAIT), refusals
//! (RST, ICMP port unreachable), UDP with fragments, and TCP's textbook
//! self-connect (a simultaneous open with itself) all run on one stack.
mod ipkit;

use ipkit::*;
use std::io::ErrorKind;
use std::net::{Ipv4Addr, Shutdown, SocketAddr};
use ustack::{DropReason, Duration, Instant, SocketHandle, Stack, TcpState};

fn sa(ip: Ipv4Addr, port: u16) -> SocketAddr {
    SocketAddr::new(v4(ip), port)
}

const LOCALHOST: Ipv4Addr = Ipv4Addr::LOCALHOST;

/// One stack and its clock; `escaped` is what reached the device.
struct Host {
    s: Stack,
    now: Instant,
    buf: Vec<u8>,
    escaped: Vec<Vec<u8>>,
}

impl Host {
    fn new() -> Host {
        Host {
            s: new_stack(|_| {}),
            now: Instant::from_secs(1),
            buf: vec![0u8; 65536],
            escaped: Vec::new(),
        }
    }

    /// Runs everything due now (timers, looped packets) until the stack
    /// has nothing left to do at this instant.
    fn pump(&mut self) {
        for _ in 0..100_000 {
            while let Some(n) = self.s.poll_transmit(self.now, &mut self.buf) {
                self.escaped.push(self.buf[..n].to_vec());
            }
            match self.s.poll_at() {
                Some(t) if t <= self.now => self.s.handle_timeout(self.now),
                _ => return,
            }
        }
        panic!("the stack never settles");
    }

    /// Moves the clock to the next deadline (at most `max` ahead) and
    /// runs it; false when nothing is armed.
    fn step(&mut self, max: Duration) -> bool {
        self.pump();
        let Some(t) = self.s.poll_at() else {
            return false;
        };
        self.now = t.min(self.now + max).max(self.now);
        self.pump();
        true
    }

    /// Steps until `done` holds (bounded in steps and virtual time).
    fn until(&mut self, what: &str, mut done: impl FnMut(&mut Stack) -> bool) {
        let start = self.now;
        for _ in 0..1_000_000 {
            self.pump();
            if done(&mut self.s) {
                return;
            }
            assert!(
                self.now - start < Duration::from_secs(600),
                "{what}: not reached in 600 s of virtual time"
            );
            if !self.step(Duration::from_millis(10)) {
                self.now += Duration::from_millis(10);
            }
        }
        panic!("{what}: not reached");
    }

    fn connect(&mut self, remote: SocketAddr, local: Option<SocketAddr>) -> SocketHandle {
        let c = self.s.tcp_connect(remote, local).expect("connect");
        self.until("handshake", |s| {
            s.tcp_state(c).ok() == Some(TcpState::Established)
        });
        c
    }

    fn accept(&mut self, l: SocketHandle) -> (SocketHandle, SocketAddr) {
        let mut got = None;
        self.until("accept", |s| {
            got = s.tcp_accept(l).ok();
            got.is_some()
        });
        got.expect("accepted")
    }

    fn assert_nothing_escaped(&self) {
        assert!(
            self.escaped.is_empty(),
            "{} packets reached the device, first {:02x?}",
            self.escaped.len(),
            self.escaped.first().map(|p| &p[..p.len().min(40)])
        );
    }
}

fn pattern(len: usize, salt: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u32).wrapping_mul(2_654_435_761).to_be_bytes()[0] ^ salt)
        .collect()
}

/// Moves `a_data` from a to b and `b_data` from b to a at once, byte for
/// byte, then closes both ways (a first).
fn exchange(h: &mut Host, a: SocketHandle, b: SocketHandle, a_data: &[u8], b_data: &[u8]) {
    let (mut a_sent, mut b_sent) = (0, 0);
    let (mut at_b, mut at_a) = (Vec::new(), Vec::new());
    let mut chunk = vec![0u8; 65536];
    h.until("exchange", |s| {
        if a_sent < a_data.len() {
            a_sent += s.tcp_send(a, &a_data[a_sent..]).unwrap_or(0);
        }
        if b_sent < b_data.len() {
            b_sent += s.tcp_send(b, &b_data[b_sent..]).unwrap_or(0);
        }
        for (sock, into) in [(b, &mut at_b), (a, &mut at_a)] {
            while let Ok(n) = s.tcp_recv(sock, &mut chunk) {
                if n == 0 {
                    break;
                }
                into.extend_from_slice(&chunk[..n]);
            }
        }
        at_b.len() == a_data.len() && at_a.len() == b_data.len()
    });
    assert!(at_b == a_data, "a → b: bytes differ");
    assert!(at_a == b_data, "b → a: bytes differ");
}

#[test]
fn tcp_to_own_address_never_leaves_the_host() {
    let mut h = Host::new();
    let l = h.s.tcp_listen(sa(US, 80), 8).unwrap();
    let c = h.connect(sa(US, 80), None);
    let (a, peer) = h.accept(l);
    let local = h.s.tcp_local_addr(c).unwrap();
    assert_eq!(local.ip(), v4(US), "source = the destination (own address)");
    assert_eq!(peer, local);
    let (up, down) = (pattern(3 << 20, 1), pattern(1 << 20, 2));
    exchange(&mut h, c, a, &up, &down);

    // Four-way close: the active closer ends in TIME-WAIT, which runs
    // out after 2·MSL; the passive closer is gone at once.
    h.s.tcp_shutdown(c, Shutdown::Write).unwrap();
    h.until("FIN seen", |s| s.tcp_recv(a, &mut [0u8; 8]).ok() == Some(0));
    h.s.tcp_close(a);
    h.until("TIME-WAIT", |s| {
        s.tcp_state(c).ok() == Some(TcpState::TimeWait)
    });
    let entered = h.now;
    h.s.tcp_close(c);
    h.s.tcp_close(l);
    h.until("TIME-WAIT over", |s| {
        s.time_wait_records() == 0 && s.socket_count() == 0
    });
    let waited = h.now - entered;
    assert!(
        waited >= Duration::from_secs(59) && waited <= Duration::from_secs(61),
        "TIME-WAIT lasted {waited:?}, want 2·MSL = 60 s"
    );
    assert_eq!(h.s.socket_count(), 0);

    h.assert_nothing_escaped();
    let k = h.s.counters();
    // At least one packet per full-sized segment of the 4 MiB.
    assert!(k.ip_looped > (4 << 20) / 1460, "looped {}", k.ip_looped);
    assert_eq!(k.ip_out, k.ip_looped, "every packet sent was looped");
    assert_eq!(k.ip_in, k.ip_looped, "every packet looped was received");
    assert_eq!(k.drop_list(), vec![], "nothing dropped");
    assert_eq!(k.tcp.retransmits, 0, "a loopback loses nothing");
}

#[test]
fn tcp_to_127_8_reaches_a_wildcard_listener() {
    let mut h = Host::new();
    let l = h.s.tcp_listen(sa(Ipv4Addr::UNSPECIFIED, 8080), 8).unwrap();
    for dst in [LOCALHOST, Ipv4Addr::new(127, 1, 2, 3), US] {
        let c = h.connect(sa(dst, 8080), None);
        let (a, peer) = h.accept(l);
        let local = h.s.tcp_local_addr(c).unwrap();
        // Linux: `ip route get 127.1.2.3` → "src 127.0.0.1".
        let want_src = if dst == US { US } else { LOCALHOST };
        assert_eq!(local.ip(), v4(want_src), "source toward {dst}");
        assert_eq!(peer, local);
        assert_eq!(h.s.tcp_local_addr(a).unwrap(), sa(dst, 8080));
        exchange(&mut h, c, a, b"ping", b"PONG");
        h.s.tcp_close(c);
        h.s.tcp_close(a);
    }
    h.assert_nothing_escaped();
}

#[test]
fn a_listener_on_127_0_0_1_is_not_reachable_at_the_own_address() {
    let mut h = Host::new();
    let l = h.s.tcp_listen(sa(LOCALHOST, 8081), 8).unwrap();
    // Bound to 127.0.0.1 only: a SYN to 198.18.0.1 finds no listener and
    // the RST that answers it loops back too.
    let c = h.s.tcp_connect(sa(US, 8081), None).unwrap();
    h.until("refused", |s| s.tcp_state(c).ok() == Some(TcpState::Closed));
    let e = h.s.tcp_take_error(c).unwrap().expect("an error");
    assert_eq!(e.kind(), ErrorKind::ConnectionRefused);
    let c2 = h.connect(sa(LOCALHOST, 8081), None);
    let (a, _) = h.accept(l);
    exchange(&mut h, c2, a, b"x", b"y");
    assert!(h.s.counters().tcp.rsts_out >= 1);
    h.assert_nothing_escaped();
}

#[test]
fn udp_to_self_keeps_boundaries_and_fragments_reassemble() {
    let mut h = Host::new();
    let server = h.s.udp_bind(sa(LOCALHOST, 5000)).unwrap();
    let client = h.s.udp_bind(sa(Ipv4Addr::UNSPECIFIED, 0)).unwrap();
    let big = pattern(4000, 9); // three fragments at MTU 1500
    for msg in [&b"one"[..], &b"two two"[..], &big[..]] {
        h.s.udp_send_to(client, msg, sa(LOCALHOST, 5000)).unwrap();
    }
    h.pump();
    let client_port = h.s.udp_local_addr(client).unwrap().port();
    let mut buf = vec![0u8; 8192];
    for msg in [&b"one"[..], &b"two two"[..], &big[..]] {
        let r = h.s.udp_recv_from(server, &mut buf).unwrap();
        assert_eq!(&buf[..r.len], msg);
        assert!(!r.truncated);
        assert_eq!(r.from, sa(LOCALHOST, client_port));
    }
    // Back to the wildcard-bound client at the own address: 127.0.0.1
    // may reach it, the own address being inside the host too.
    h.s.udp_send_to(server, b"back", sa(US, client_port))
        .unwrap();
    h.pump();
    let r = h.s.udp_recv_from(client, &mut buf).unwrap();
    assert_eq!(&buf[..r.len], b"back");
    assert_eq!(r.from, sa(LOCALHOST, 5000));
    let k = h.s.counters();
    assert_eq!(k.ip_fragments_out, 3);
    assert_eq!(k.ip_reassembled, 1);
    h.assert_nothing_escaped();
}

#[test]
fn closed_ports_refuse_through_the_loopback() {
    let mut h = Host::new();
    // UDP: the ICMP port unreachable loops back to the connected socket.
    let u = h.s.udp_bind(sa(Ipv4Addr::UNSPECIFIED, 0)).unwrap();
    h.s.udp_connect(u, sa(LOCALHOST, 9)).unwrap();
    h.s.udp_send_to(u, b"anyone?", sa(LOCALHOST, 9)).unwrap();
    h.pump();
    let e = h.s.udp_recv_from(u, &mut [0u8; 16]).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::ConnectionRefused);
    // TCP: the RST loops back.
    let c = h.s.tcp_connect(sa(US, 9), None).unwrap();
    h.until("refused", |s| s.tcp_state(c).ok() == Some(TcpState::Closed));
    let e = h.s.tcp_take_error(c).unwrap().expect("an error");
    assert_eq!(e.kind(), ErrorKind::ConnectionRefused);
    let k = h.s.counters();
    assert_eq!((k.icmp_out, k.icmp_in), (1, 1));
    h.assert_nothing_escaped();
}

#[test]
fn self_connect_is_a_simultaneous_open() {
    // RFC 9293 §3.5 figure 8: a SYN meeting a SYN. Connecting a port to
    // itself is the one-socket case (Linux allows it): the SYN arrives at
    // the connection that sent it, which answers SYN-ACK, then both
    // halves are the same socket.
    let mut h = Host::new();
    let me = sa(US, 5555);
    let c = h.s.tcp_connect(me, Some(me)).unwrap();
    h.until("established", |s| {
        s.tcp_state(c).ok() == Some(TcpState::Established)
    });
    assert_eq!(h.s.tcp_peer_addr(c).unwrap(), me);
    let data = pattern(100_000, 5);
    let mut back = Vec::new();
    let mut sent = 0;
    let mut chunk = vec![0u8; 8192];
    h.until("echo to self", |s| {
        sent += s.tcp_send(c, &data[sent..]).unwrap_or(0);
        while let Ok(n) = s.tcp_recv(c, &mut chunk) {
            if n == 0 {
                break;
            }
            back.extend_from_slice(&chunk[..n]);
        }
        back.len() == data.len()
    });
    assert!(back == data);
    // Closing: our FIN is also the peer's FIN (simultaneous close).
    h.s.tcp_shutdown(c, Shutdown::Write).unwrap();
    h.until("EOF", |s| s.tcp_recv(c, &mut [0u8; 4]).ok() == Some(0));
    h.s.tcp_close(c);
    h.until("gone", |s| {
        s.socket_count() == 0 && s.time_wait_records() == 0
    });
    h.assert_nothing_escaped();
}

#[test]
fn one_poll_transmit_call_loops_a_bounded_number_of_packets() {
    let mut h = Host::new();
    let l = h.s.tcp_listen(sa(US, 80), 8).unwrap();
    // Room for what is sent below without reading it.
    h.s.tcp_set_recv_buffer(l, 4 << 20).unwrap();
    let c = h.connect(sa(US, 80), None);
    let (_a, _) = h.accept(l);
    // And to queue it all at once (SO_SNDBUF: no auto-tuning).
    h.s.tcp_set_send_buffer(c, 4 << 20).unwrap();
    let before = h.s.counters().ip_looped;
    let data = pattern(2 << 20, 3);
    let mut sent = 0;
    while sent < data.len() {
        match h.s.tcp_send(c, &data[sent..]) {
            Ok(n) => sent += n,
            Err(_) => break,
        }
    }
    // The ACK clock runs inside the call: without a bound it would go on
    // until the receive buffer filled.
    assert_eq!(h.s.poll_transmit(h.now, &mut h.buf), None);
    assert_eq!(h.s.counters().ip_looped - before, 256);
    assert_eq!(h.s.poll_at(), Some(h.now), "the rest is due at once");
    h.pump();
    assert!(h.s.counters().ip_looped - before > 512);
    h.assert_nothing_escaped();
}

#[test]
fn bound_to_127_reaches_only_this_host() {
    let mut s = new_stack(|_| {});
    let u = s.udp_bind(sa(LOCALHOST, 0)).unwrap();
    let e = s.udp_send_to(u, b"out", sa(PEER, 7)).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidInput);
    let e = s
        .tcp_connect(sa(PEER, 80), Some(sa(LOCALHOST, 0)))
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidInput);
    assert!(drain(&mut s, Instant::from_secs(1)).is_empty());
    // Any 127.0.0.0/8 address can be bound, as on Linux.
    s.tcp_listen(sa(Ipv4Addr::new(127, 9, 9, 9), 80), 1)
        .unwrap();
}

#[test]
fn from_the_device_127_8_and_own_sources_are_martians() {
    // RFC 1122 §3.2.1.3 (g): 127.0.0.0/8 never appears on a wire.
    let mut s = new_stack(|_| {});
    s.udp_bind(sa(Ipv4Addr::UNSPECIFIED, 7)).unwrap();
    let t = Instant::from_secs(1);
    s.receive(t, &udp_ip(PEER, LOCALHOST, 1000, 7, b"x"));
    s.receive(t, &udp_ip(LOCALHOST, US, 1000, 7, b"x"));
    s.receive(t, &udp_ip(Ipv4Addr::new(127, 3, 3, 3), US, 1000, 7, b"x"));
    s.receive(t, &udp_ip(US, US, 1000, 7, b"x"));
    assert_eq!(
        drops(&s),
        vec![(DropReason::IpNotForUs, 1), (DropReason::IpBadSource, 3)]
    );
    assert!(drain(&mut s, t).is_empty());
    assert_eq!(s.counters().ip_looped, 0);
}
