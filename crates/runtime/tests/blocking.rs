mod common;
use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr};
use std::thread;
use std::time::{Duration, Instant};
use ustack_runtime::net::{TcpListener, TcpStream, UdpSocket};

fn server_addr() -> SocketAddr {
    "198.18.0.2:7000".parse().unwrap()
}

#[test]
fn echo_and_bulk() {
    let (a, b) = common::two_stacks();
    let listener = TcpListener::bind(&b, server_addr()).unwrap();
    let srv = thread::spawn(move || {
        let (mut s, _) = listener.accept().unwrap();
        let mut buf = vec![0u8; 65536];
        let mut total = 0u64;
        loop {
            let n = s.read(&mut buf).unwrap();
            if n == 0 {
                break;
            }
            total += n as u64;
            s.write_all(&buf[..n]).unwrap();
        }
        s.shutdown(Shutdown::Write).unwrap();
        total
    });
    let mut c = TcpStream::connect(&a, server_addr()).unwrap();
    let reader = c.try_clone().unwrap();
    const N: usize = 20 << 20;
    let rd = thread::spawn(move || {
        let mut r = reader;
        let mut got = Vec::with_capacity(N);
        r.read_to_end(&mut got).unwrap();
        got
    });
    let data: Vec<u8> = (0..N).map(|i| (i % 253) as u8).collect();
    let t0 = Instant::now();
    c.write_all(&data).unwrap();
    c.shutdown(Shutdown::Write).unwrap();
    let got = rd.join().unwrap();
    let dt = t0.elapsed();
    assert_eq!(srv.join().unwrap(), N as u64);
    assert!(got == data, "echoed data differs");
    eprintln!(
        "echoed {} MiB in {:?}: {:.2} Gbit/s each way",
        N >> 20,
        dt,
        N as f64 * 8.0 / dt.as_secs_f64() / 1e9
    );
}

#[test]
fn refused_and_timeouts() {
    let (a, _b) = common::two_stacks();
    let e = TcpStream::connect(&a, "198.18.0.2:9".parse::<SocketAddr>().unwrap()).unwrap_err();
    assert_eq!(e.kind(), std::io::ErrorKind::ConnectionRefused);
    // No host at .3: connect_timeout gives up.
    let e = TcpStream::connect_timeout(
        &a,
        &"198.18.0.3:9".parse().unwrap(),
        Duration::from_millis(300),
    )
    .unwrap_err();
    assert_eq!(e.kind(), std::io::ErrorKind::TimedOut);
}

#[test]
fn read_timeout_and_reset() {
    let (a, b) = common::two_stacks();
    let l = TcpListener::bind(&b, "198.18.0.2:7001").unwrap();
    let mut c = TcpStream::connect(&a, "198.18.0.2:7001").unwrap();
    let (s, _) = l.accept().unwrap();
    c.set_read_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    let mut buf = [0u8; 16];
    let e = c.read(&mut buf).unwrap_err();
    assert_eq!(e.kind(), std::io::ErrorKind::WouldBlock);
    // The server aborts: the client sees ConnectionReset.
    s.abort();
    c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let e = c.read(&mut buf).unwrap_err();
    assert_eq!(e.kind(), std::io::ErrorKind::ConnectionReset);
}

#[test]
fn close_delivers_queued_data() {
    let (a, b) = common::two_stacks();
    let l = TcpListener::bind(&b, "198.18.0.2:7002").unwrap();
    let data: Vec<u8> = (0..3_000_000u32).map(|i| (i % 7) as u8).collect();
    let d2 = data.clone();
    let t = thread::spawn(move || {
        let mut c = TcpStream::connect(&a, "198.18.0.2:7002").unwrap();
        c.write_all(&d2).unwrap();
        drop(c); // graceful: the rest still goes out
        a
    });
    let (mut s, _) = l.accept().unwrap();
    let mut got = Vec::new();
    s.read_to_end(&mut got).unwrap();
    assert_eq!(got.len(), data.len());
    assert!(got == data);
    let a = t.join().unwrap();
    // Close the server end while the client stack still runs (its ACK of
    // our FIN ends the connection), then stop both stacks.
    drop(s);
    drop(a);
}

#[test]
fn udp_boundaries_and_truncation() {
    let (a, b) = common::two_stacks();
    let sa = UdpSocket::bind(&a, "198.18.0.1:5000").unwrap();
    let sb = UdpSocket::bind(&b, "198.18.0.2:5000").unwrap();
    sa.send_to(b"first", "198.18.0.2:5000").unwrap();
    sa.send_to(&vec![7u8; 3000], "198.18.0.2:5000").unwrap();
    let mut buf = [0u8; 100];
    let (n, from) = sb.recv_from(&mut buf).unwrap();
    assert_eq!(
        (&buf[..n], from),
        (&b"first"[..], "198.18.0.1:5000".parse().unwrap())
    );
    let r = sb.recv_from_full(&mut buf).unwrap();
    assert!(r.truncated);
    assert_eq!((r.len, r.datagram_len), (100, 3000));
}

#[test]
fn udp_ttl_and_broadcast() {
    let (a, b) = common::two_stacks();
    let sa = UdpSocket::bind(&a, "198.18.0.1:0").unwrap();
    let sb = UdpSocket::bind(&b, "0.0.0.0:5002").unwrap();
    assert_eq!((sa.ttl().unwrap(), sa.broadcast().unwrap()), (64, false));
    assert_eq!(
        sa.set_ttl(300).unwrap_err().kind(),
        std::io::ErrorKind::InvalidInput
    );
    sa.set_ttl(5).unwrap();
    assert_eq!(sa.ttl().unwrap(), 5);
    sa.set_tos(0xb9).unwrap();
    assert_eq!(sa.tos().unwrap(), 0xb9, "UDP keeps the ECN bits");
    let e = sa.send_to(b"all", "198.18.0.255:5002").unwrap_err();
    assert_eq!(e.kind(), std::io::ErrorKind::PermissionDenied);
    sa.set_broadcast(true).unwrap();
    assert!(sa.broadcast().unwrap());
    sa.send_to(b"all", "198.18.0.255:5002").unwrap();
    let mut buf = [0u8; 8];
    let (n, from) = sb.recv_from(&mut buf).unwrap();
    assert_eq!((&buf[..n], from), (&b"all"[..], sa.local_addr().unwrap()));
}

/// Many threads blocked on one stack at once: one of them at a time waits
/// for the device itself (the poller), the others park; every hand-off
/// between them and the driver must keep every conversation going.
#[test]
fn many_threads_blocked_on_one_stack() {
    let (a, b) = common::two_stacks();
    let addr: SocketAddr = "198.18.0.2:7100".parse().unwrap();
    let listener = TcpListener::bind(&b, addr).unwrap();
    const CLIENTS: usize = 8;
    const ROUNDS: usize = 300;
    let srv = thread::spawn(move || {
        let mut workers = Vec::new();
        for _ in 0..CLIENTS {
            let (mut s, _) = listener.accept().unwrap();
            s.set_nodelay(true).unwrap();
            workers.push(thread::spawn(move || {
                let mut b = [0u8; 16];
                while s.read_exact(&mut b).is_ok() {
                    s.write_all(&b).unwrap();
                }
            }));
        }
        for w in workers {
            w.join().unwrap();
        }
    });
    let start = Instant::now();
    let clients: Vec<_> = (0..CLIENTS)
        .map(|i| {
            let a = a.clone();
            thread::spawn(move || {
                let mut c = TcpStream::connect(&a, addr).unwrap();
                c.set_nodelay(true).unwrap();
                c.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
                let mut reply = [0u8; 16];
                for r in 0..ROUNDS {
                    let msg = [(i * 31 + r) as u8; 16];
                    c.write_all(&msg).unwrap();
                    c.read_exact(&mut reply).unwrap();
                    assert_eq!(reply, msg, "client {i} round {r}");
                }
            })
        })
        .collect();
    for c in clients {
        c.join().expect("client failed");
    }
    srv.join().unwrap();
    eprintln!(
        "{} echo rounds over {CLIENTS} concurrent connections in {:?}",
        CLIENTS * ROUNDS,
        start.elapsed()
    );
}

/// One stack talking to itself: at 127.0.0.1 and at its own address,
/// nothing reaches the device (the pair's other end stays silent).
#[test]
fn loopback_on_one_stack() {
    let (a, _b) = common::two_stacks();
    for server in ["127.0.0.1:7300", "198.18.0.1:7301"] {
        let server: SocketAddr = server.parse().unwrap();
        let listener = TcpListener::bind(&a, server).unwrap();
        let srv = thread::spawn(move || {
            let (mut s, peer) = listener.accept().unwrap();
            // A lost wake-up fails the test instead of hanging it.
            s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
            let mut got = Vec::new();
            s.read_to_end(&mut got).unwrap();
            s.write_all(&got[..1 << 20]).unwrap();
            (got, peer)
        });
        let t0 = Instant::now();
        let mut c = TcpStream::connect(&a, server).unwrap();
        c.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
        c.set_write_timeout(Some(Duration::from_secs(30))).unwrap();
        const N: usize = 8 << 20;
        let data: Vec<u8> = (0..N).map(|i| (i % 251) as u8).collect();
        c.write_all(&data).unwrap();
        c.shutdown(Shutdown::Write).unwrap();
        let mut back = Vec::new();
        c.read_to_end(&mut back).unwrap();
        let (got, peer) = srv.join().unwrap();
        // A wake-up lost to the call's own flush (its thread ignores its
        // own wake-ups) shows as a wait that only the 30 s read timeout
        // ends; the exchange itself takes milliseconds.
        assert!(
            t0.elapsed() < Duration::from_secs(20),
            "{server}: a blocked call slept through its wake-up ({:?})",
            t0.elapsed()
        );
        assert!(got == data, "{server}: bytes differ");
        assert!(back == data[..1 << 20], "{server}: reply differs");
        assert_eq!(peer, c.local_addr().unwrap());
        assert_eq!(peer.ip(), server.ip(), "source = destination's side");
    }
    let u1 = UdpSocket::bind(&a, "127.0.0.1:7302").unwrap();
    let u2 = UdpSocket::bind(&a, "0.0.0.0:0").unwrap();
    u2.send_to(b"datagram", "127.0.0.1:7302").unwrap();
    let mut buf = [0u8; 64];
    u1.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let (n, from) = u1.recv_from(&mut buf).unwrap();
    assert_eq!(&buf[..n], b"datagram");
    assert_eq!(from.ip().to_string(), "127.0.0.1");
    let k = a.counters();
    assert!(k.ip_looped > (9 << 20) / 1460, "looped {}", k.ip_looped);
    assert_eq!(k.ip_out, k.ip_looped, "a packet reached the device");
}

/// Options set on a `TcpSocket` before it listens pass to every accepted
/// connection; set before it connects, they are in place for the SYN
/// (the receive buffer shows as the window scale each side uses).
#[test]
fn tcp_socket_options_before_listen_and_connect() {
    use ustack::Keepalive;
    use ustack_runtime::net::TcpSocket;
    let (a, b) = common::two_stacks();
    let ka = Keepalive {
        idle: Duration::from_secs(600),
        interval: Duration::from_secs(30),
        retries: 4,
    };
    let ls = TcpSocket::new(&b);
    // Before anything is set: the stack's defaults (the receive buffer's
    // initial size: auto-tuning grows it).
    assert_eq!(ls.recv_buffer_size().unwrap(), 128 << 10);
    assert!(!ls.nodelay().unwrap());
    assert!(ls.local_addr().is_err());
    assert_eq!(
        ls.listen(16).unwrap_err().kind(),
        std::io::ErrorKind::InvalidInput,
        "listen needs an address"
    );
    let ls = TcpSocket::new(&b);
    ls.set_reuseaddr(true).unwrap();
    ls.set_recv_buffer_size(16 << 20).unwrap();
    ls.set_send_buffer_size(256 << 10).unwrap();
    ls.set_nodelay(true).unwrap();
    ls.set_keepalive(Some(ka)).unwrap();
    ls.set_congestion(ustack::CongestionKind::NewReno).unwrap();
    assert_eq!(ls.ttl().unwrap(), 64);
    assert_eq!(
        ls.set_ttl(0).unwrap_err().kind(),
        std::io::ErrorKind::InvalidInput
    );
    ls.set_ttl(33).unwrap();
    // IP_TOS: AF41 asked with an ECN bit, which TCP keeps clear.
    ls.set_tos(0x88 | 0x01).unwrap();
    assert_eq!(ls.tos().unwrap(), 0x88);
    assert_eq!(
        ls.set_tos(256).unwrap_err().kind(),
        std::io::ErrorKind::InvalidInput
    );
    ls.bind("198.18.0.2:7300".parse().unwrap()).unwrap();
    assert_eq!(ls.recv_buffer_size().unwrap(), 16 << 20);
    let listener = ls.listen(16).unwrap();
    assert_eq!(
        listener.local_addr().unwrap(),
        "198.18.0.2:7300".parse().unwrap()
    );

    let cs = TcpSocket::new(&a);
    cs.set_recv_buffer_size(64 << 20).unwrap();
    cs.bind("198.18.0.1:0".parse().unwrap()).unwrap();
    let mut c = cs
        .connect_timeout("198.18.0.2:7300".parse().unwrap(), Duration::from_secs(10))
        .unwrap();
    let (mut s, peer) = listener.accept().unwrap();
    assert_eq!(peer, c.local_addr().unwrap());
    assert_eq!(s.recv_buffer_size().unwrap(), 16 << 20);
    assert_eq!(s.send_buffer_size().unwrap(), 256 << 10);
    assert!(s.nodelay().unwrap());
    assert_eq!(s.keepalive().unwrap(), Some(ka));
    assert_eq!(s.congestion().unwrap(), ustack::CongestionKind::NewReno);
    assert_eq!(c.congestion().unwrap(), ustack::CongestionKind::Cubic);
    assert_eq!((listener.ttl().unwrap(), s.ttl().unwrap()), (33, 33));
    assert_eq!(c.ttl().unwrap(), 64);
    c.set_ttl(255).unwrap();
    assert_eq!(c.ttl().unwrap(), 255);
    listener.set_ttl(9).unwrap();
    assert_eq!((listener.ttl().unwrap(), s.ttl().unwrap()), (9, 33));
    assert_eq!((listener.tos().unwrap(), s.tos().unwrap()), (0x88, 0x88));
    assert_eq!(c.tos().unwrap(), 0);
    c.set_tos(0xb8).unwrap();
    listener.set_tos(0).unwrap();
    assert_eq!((c.tos().unwrap(), listener.tos().unwrap()), (0xb8, 0));
    assert_eq!(c.recv_buffer_size().unwrap(), 64 << 20);
    assert!(!c.nodelay().unwrap());
    // 16 MiB needs a shift of 9, 64 MiB one of 11; each side scales the
    // other's windows by what the other offered.
    let (si, ci) = (s.info().unwrap(), c.info().unwrap());
    assert_eq!((si.rcv_wscale, si.snd_wscale), (9, 11));
    assert_eq!((ci.rcv_wscale, ci.snd_wscale), (11, 9));
    // And the connection works.
    c.write_all(b"ping").unwrap();
    let mut buf = [0u8; 4];
    s.read_exact(&mut buf).unwrap();
    s.write_all(&buf).unwrap();
    c.read_exact(&mut buf).unwrap();
    assert_eq!(&buf, b"ping");
    // A bad keepalive is refused at once.
    let bad = Keepalive {
        retries: 0,
        ..Keepalive::default()
    };
    assert_eq!(
        TcpSocket::new(&a)
            .set_keepalive(Some(bad))
            .unwrap_err()
            .kind(),
        std::io::ErrorKind::InvalidInput
    );
}

/// MSG_PEEK on both kinds of socket: a blocked peek wakes on data and
/// leaves it for the next read.
#[test]
fn peek_waits_for_data_and_leaves_it() {
    let (a, b) = common::two_stacks();
    let listener = TcpListener::bind(&b, "198.18.0.2:7400").unwrap();
    let mut c = TcpStream::connect(&a, "198.18.0.2:7400").unwrap();
    let (mut s, _) = listener.accept().unwrap();
    let writer = thread::spawn(move || {
        // The peek below is blocked by then, or finds the data at once.
        c.write_all(b"peekaboo").unwrap();
        c
    });
    let mut buf = [0u8; 4];
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    assert_eq!(s.peek(&mut buf).unwrap(), 4);
    assert_eq!(&buf, b"peek");
    let mut all = [0u8; 8];
    s.read_exact(&mut all).unwrap();
    assert_eq!(&all, b"peekaboo");
    let c = writer.join().unwrap();
    c.shutdown(Shutdown::Write).unwrap();
    assert_eq!(s.peek(&mut buf).unwrap(), 0, "end of stream");

    let ua = UdpSocket::bind(&a, "198.18.0.1:5400").unwrap();
    let ub = UdpSocket::bind(&b, "198.18.0.2:5400").unwrap();
    assert_eq!(
        ub.peek(&mut buf).unwrap_err().kind(),
        std::io::ErrorKind::NotConnected
    );
    ub.connect("198.18.0.1:5400").unwrap();
    ua.send_to(b"datagram", "198.18.0.2:5400").unwrap();
    let (n, from) = ub.peek_from(&mut buf).unwrap();
    assert_eq!((n, &buf[..n]), (4, &b"data"[..]));
    assert_eq!(from, "198.18.0.1:5400".parse().unwrap());
    assert_eq!(ub.peek(&mut all).unwrap(), 8);
    assert_eq!(ub.recv(&mut all).unwrap(), 8);
    assert_eq!(&all, b"datagram");
}

/// Reads until end of stream or an error, without blocking: Ok with the
/// bytes at end of stream, or the error and what came before it.
fn read_nonblocking(s: &mut TcpStream) -> Result<Vec<u8>, (std::io::Error, usize)> {
    s.set_nonblocking(true).unwrap();
    let mut got = Vec::new();
    let mut buf = vec![0u8; 65536];
    loop {
        match s.read(&mut buf) {
            Ok(0) => return Ok(got),
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e) => return Err((e, got.len())),
        }
    }
}

/// SO_LINGER as on Linux: zero resets the peer (never an end of stream);
/// a time makes the drop wait until the peer has acknowledged the FIN,
/// so it has every byte by then; a peer that reads nothing holds the
/// drop for the time, and the data still arrives after it.
#[test]
fn linger_zero_resets_and_a_linger_time_waits_for_delivery() {
    use ustack_runtime::net::TcpSocket;
    let (a, b) = common::two_stacks();
    // A fixed 4 MiB receive buffer: the 2 MiB below must fit without the
    // reader (auto-tuning grows a buffer only for data that is read).
    let ls = ustack_runtime::net::TcpSocket::new(&b);
    ls.set_recv_buffer_size(4 << 20).unwrap();
    ls.bind("198.18.0.2:7010".parse().unwrap()).unwrap();
    let l = ls.listen(16).unwrap();

    let mut c = TcpStream::connect(&a, "198.18.0.2:7010").unwrap();
    let (mut s, _) = l.accept().unwrap();
    assert_eq!(c.linger().unwrap(), None);
    c.write_all(b"hello").unwrap();
    c.set_linger(Some(Duration::ZERO)).unwrap();
    assert_eq!(c.linger().unwrap(), Some(Duration::ZERO));
    drop(c);
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut buf = [0u8; 64];
    let e = loop {
        match s.read(&mut buf) {
            Ok(0) => panic!("end of stream instead of a reset"),
            Ok(_) => {}
            Err(e) => break e,
        }
    };
    assert_eq!(e.kind(), std::io::ErrorKind::ConnectionReset);

    // 2 MiB queued (the send buffer takes it at once), the peer not
    // reading yet: when the drop returns, the peer holds it all and the
    // FIN, readable without waiting.
    let mut c = TcpStream::connect(&a, "198.18.0.2:7010").unwrap();
    c.set_send_buffer_size(4 << 20).unwrap();
    let (mut s, _) = l.accept().unwrap();
    let data: Vec<u8> = (0..2u32 << 20).map(|i| (i % 251) as u8).collect();
    c.write_all(&data).unwrap();
    c.set_linger(Some(Duration::from_secs(20))).unwrap();
    let t0 = Instant::now();
    drop(c);
    let waited = t0.elapsed();
    match read_nonblocking(&mut s) {
        Ok(got) => assert!(got == data, "data differs"),
        Err((e, n)) => panic!("after the drop ({waited:?}): {e} with {n} bytes read"),
    }
    assert!(waited < Duration::from_secs(20), "{waited:?}");

    // A peer whose window is full holds the drop for the linger time;
    // then the data is still delivered in the background.
    let ls = TcpSocket::new(&b);
    ls.set_recv_buffer_size(16 << 10).unwrap();
    // TCP_USER_TIMEOUT passes to the accepted stream too (zero is off).
    ls.set_user_timeout(Some(Duration::ZERO)).unwrap();
    assert_eq!(ls.user_timeout().unwrap(), None);
    ls.set_user_timeout(Some(Duration::from_secs(7))).unwrap();
    ls.bind("198.18.0.2:7011".parse().unwrap()).unwrap();
    let small = ls.listen(4).unwrap();
    let mut c = TcpStream::connect(&a, "198.18.0.2:7011").unwrap();
    let (mut s, _) = small.accept().unwrap();
    assert_eq!(s.user_timeout().unwrap(), Some(Duration::from_secs(7)));
    assert_eq!(c.user_timeout().unwrap(), None);
    c.set_user_timeout(Some(Duration::from_micros(1500)))
        .unwrap();
    assert_eq!(
        c.user_timeout().unwrap(),
        Some(Duration::from_millis(2)),
        "whole milliseconds, as Linux"
    );
    c.set_user_timeout(None).unwrap();
    // A send buffer that takes the 100 000 bytes at once (fixed: the
    // auto-tuned one would hold the writer at 46 080 bytes).
    c.set_send_buffer_size(1 << 20).unwrap();
    let data: Vec<u8> = (0..100_000u32).map(|i| (i % 241) as u8).collect();
    c.write_all(&data).unwrap();
    let linger = Duration::from_millis(300);
    c.set_linger(Some(linger)).unwrap();
    let t0 = Instant::now();
    drop(c);
    let waited = t0.elapsed();
    assert!(
        waited >= linger && waited < Duration::from_secs(5),
        "{waited:?}"
    );
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut got = Vec::new();
    s.read_to_end(&mut got).unwrap();
    assert!(got == data, "{} of {} bytes", got.len(), data.len());
}

/// `try_clone` on a listener and a UDP socket, as std's: the clones share
/// the socket (its peer, timeout and non-blocking mode), and it closes
/// when the last one goes.
#[test]
fn try_clone_listener_and_udp() {
    let (a, b) = common::two_stacks();
    let l = TcpListener::bind(&b, "198.18.0.2:7020").unwrap();
    let l2 = l.try_clone().unwrap();
    assert_eq!(l2.local_addr().unwrap(), l.local_addr().unwrap());
    l2.set_nonblocking(true).unwrap();
    let e = l.accept().unwrap_err();
    assert_eq!(e.kind(), std::io::ErrorKind::WouldBlock, "shared mode");
    l.set_nonblocking(false).unwrap();
    drop(l);
    // The clone still listens.
    let acceptor = thread::spawn(move || {
        let (s, _) = l2.accept().unwrap();
        drop(s);
        l2
    });
    let c = TcpStream::connect(&a, "198.18.0.2:7020").unwrap();
    let l2 = acceptor.join().unwrap();
    drop(c);
    drop(l2);
    let e = TcpStream::connect(&a, "198.18.0.2:7020").unwrap_err();
    assert_eq!(e.kind(), std::io::ErrorKind::ConnectionRefused, "closed");

    let ua = UdpSocket::bind(&a, "198.18.0.1:6500").unwrap();
    let ub = UdpSocket::bind(&b, "198.18.0.2:6500").unwrap();
    let ua2 = ua.try_clone().unwrap();
    ua.connect("198.18.0.2:6500").unwrap();
    assert_eq!(ua2.peer_addr().unwrap(), "198.18.0.2:6500".parse().unwrap());
    ua2.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    assert_eq!(ua.read_timeout().unwrap(), Some(Duration::from_secs(5)));
    // A reader thread on the clone, the writer on the original.
    let reader = thread::spawn(move || {
        let mut buf = [0u8; 16];
        let n = ua2.recv(&mut buf).unwrap();
        (buf[..n].to_vec(), ua2)
    });
    ua.send(b"ping").unwrap();
    let mut buf = [0u8; 16];
    let (n, from) = ub.recv_from(&mut buf).unwrap();
    ub.send_to(b"pong", from).unwrap();
    assert_eq!(&buf[..n], b"ping");
    let (got, ua2) = reader.join().unwrap();
    assert_eq!(got, b"pong");
    drop(ua);
    ub.send_to(b"still", "198.18.0.1:6500").unwrap();
    assert_eq!(ua2.recv(&mut buf).unwrap(), 5, "open while a clone is");
    let e = UdpSocket::bind(&a, "198.18.0.1:6500").unwrap_err();
    assert_eq!(e.kind(), std::io::ErrorKind::AddrInUse);
    drop(ua2);
    UdpSocket::bind(&a, "198.18.0.1:6500").expect("free once all are gone");
}

/// IPV6_V6ONLY through the blocking API: an IPv6-only `[::]` listener and
/// a `0.0.0.0` one share a port, each accepting its family; the option
/// is readable on the socket and the listener; an IPv6-only socket does
/// not connect to IPv4; UDP's `bind_with` does the same for datagrams.
#[test]
fn ipv6_only_sockets_share_ports_with_ipv4() {
    use ustack_runtime::net::TcpSocket;
    let (a, b) = common::two_stacks();
    let s6 = TcpSocket::new(&b);
    assert!(!s6.only_v6().unwrap(), "off by default, as Linux's");
    s6.set_only_v6(true).unwrap();
    assert!(s6.only_v6().unwrap());
    s6.bind("[::]:7400".parse().unwrap()).unwrap();
    let l6 = s6.listen(8).unwrap();
    assert!(l6.only_v6().unwrap());
    let l4 = TcpListener::bind(&b, "0.0.0.0:7400").expect("0.0.0.0 beside [::]");
    assert!(!l4.only_v6().unwrap());
    let dual = TcpSocket::new(&b);
    dual.bind("[::]:7400".parse().unwrap()).unwrap();
    assert_eq!(
        dual.listen(8).unwrap_err().kind(),
        std::io::ErrorKind::AddrInUse
    );
    for (to, l, v6) in [
        ("[2001:2::2]:7400", &l6, true),
        ("198.18.0.2:7400", &l4, false),
    ] {
        let mut c = TcpStream::connect(&a, to).unwrap();
        c.write_all(b"hi").unwrap();
        let (mut s, peer) = l.accept().unwrap();
        assert_eq!(peer.is_ipv6(), v6, "{to} accepted by the wrong listener");
        let mut buf = [0u8; 2];
        s.read_exact(&mut buf).unwrap();
        assert_eq!(&buf, b"hi");
    }
    let c6 = TcpSocket::new(&a);
    c6.set_only_v6(true).unwrap();
    c6.bind("[::]:0".parse().unwrap()).unwrap();
    assert_eq!(
        c6.connect("198.18.0.2:7400".parse().unwrap())
            .unwrap_err()
            .kind(),
        std::io::ErrorKind::InvalidInput
    );

    let u6 = UdpSocket::bind_with(&b, "[::]:6600", Some(true)).unwrap();
    assert!(u6.only_v6().unwrap());
    let u4 = UdpSocket::bind(&b, "0.0.0.0:6600").expect("0.0.0.0 beside [::]");
    assert!(!u4.only_v6().unwrap());
    let ua = UdpSocket::bind(&a, "[::]:0").unwrap();
    ua.send_to(b"4", "198.18.0.2:6600").unwrap();
    ua.send_to(b"6", "[2001:2::2]:6600").unwrap();
    let mut buf = [0u8; 4];
    let (n, from) = u4.recv_from(&mut buf).unwrap();
    assert_eq!((&buf[..n], from.is_ipv4()), (&b"4"[..], true));
    let (n, from) = u6.recv_from(&mut buf).unwrap();
    assert_eq!((&buf[..n], from.is_ipv6()), (&b"6"[..], true));
    assert_eq!(
        u6.send_to(b"x", "198.18.0.1:9").unwrap_err().kind(),
        std::io::ErrorKind::InvalidInput
    );
}
