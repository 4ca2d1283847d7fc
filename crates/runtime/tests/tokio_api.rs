mod common;
use std::net::SocketAddr;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use ustack_runtime::tokio_net::{TcpListener, TcpStream, UdpSocket};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokio_echo_many_clients() {
    let (a, b) = common::two_stacks();
    let addr: SocketAddr = "198.18.0.2:7100".parse().unwrap();
    let listener = TcpListener::bind(&b, addr).await.unwrap();
    let server = tokio::spawn(async move {
        for _ in 0..50 {
            let (s, _) = listener.accept().await.unwrap();
            tokio::spawn(async move {
                let (mut r, mut w) = s.into_split();
                tokio::io::copy(&mut r, &mut w).await.unwrap();
                w.shutdown().await.unwrap();
            });
        }
    });
    let mut tasks = Vec::new();
    for i in 0..50usize {
        let a = a.clone();
        tasks.push(tokio::spawn(async move {
            let mut s = TcpStream::connect(&a, addr).await.unwrap();
            let msg: Vec<u8> = (0..(i * 997 + 1)).map(|j| (i + j) as u8).collect();
            s.write_all(&msg).await.unwrap();
            s.shutdown().await.unwrap();
            let mut back = Vec::new();
            s.read_to_end(&mut back).await.unwrap();
            assert!(back == msg, "client {i}: echo differs");
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    server.await.unwrap();
}

#[tokio::test(flavor = "current_thread")]
async fn tokio_udp_and_refused() {
    let (a, b) = common::two_stacks();
    let ua = UdpSocket::bind(&a, "198.18.0.1:6000".parse().unwrap())
        .await
        .unwrap();
    let ub = UdpSocket::bind(&b, "198.18.0.2:6000".parse().unwrap())
        .await
        .unwrap();
    ua.send_to(&[9u8; 2000], "198.18.0.2:6000".parse().unwrap())
        .await
        .unwrap();
    let mut buf = [0u8; 512];
    let r = ub.recv_from_full(&mut buf).await.unwrap();
    assert!(r.truncated);
    assert_eq!(r.datagram_len, 2000);
    let e = TcpStream::connect(&a, "198.18.0.2:1".parse().unwrap())
        .await
        .unwrap_err();
    assert_eq!(e.kind(), std::io::ErrorKind::ConnectionRefused);
}

/// The driver as a tokio task (`Netstack::new_tokio`): same sockets, the
/// stack driven by the runtime's reactor and timers.
#[tokio::test(flavor = "current_thread")]
async fn driver_as_a_tokio_task() {
    let (da, db) = ustack_devices::pair(1500).expect("pair");
    let mk = |addr: &str, seed: u64| {
        let mut c = ustack::Config::default();
        c.addresses
            .push(addr.parse::<ustack::Cidr>().expect("cidr"));
        c.seed = seed;
        c
    };
    let a = ustack_runtime::Netstack::new_tokio(mk("198.18.0.1/24", 1), da).unwrap();
    let b = ustack_runtime::Netstack::new_tokio(mk("198.18.0.2/24", 2), db).unwrap();
    let addr: SocketAddr = "198.18.0.2:7200".parse().unwrap();
    let l = TcpListener::bind(&b, addr).await.unwrap();
    let server = tokio::spawn(async move {
        let (s, _) = l.accept().await.unwrap();
        let (mut r, mut w) = s.into_split();
        tokio::io::copy(&mut r, &mut w).await.unwrap();
        w.shutdown().await.unwrap();
    });
    let c = TcpStream::connect(&a, addr).await.unwrap();
    let msg: Vec<u8> = (0..3_000_000u32).map(|i| (i % 199) as u8).collect();
    let (mut r, mut w) = c.into_split();
    let m2 = msg.clone();
    let writer = tokio::spawn(async move {
        w.write_all(&m2).await.unwrap();
        w.shutdown().await.unwrap();
    });
    let mut back = Vec::new();
    r.read_to_end(&mut back).await.unwrap();
    writer.await.unwrap();
    server.await.unwrap();
    assert!(back == msg, "echo over task-driven stacks differs");
}

/// A tokio server and client on one stack, at 127.0.0.1.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokio_loopback_on_one_stack() {
    let (a, _b) = common::two_stacks();
    let addr: SocketAddr = "127.0.0.1:7400".parse().unwrap();
    let listener = TcpListener::bind(&a, addr).await.unwrap();
    let server = tokio::spawn(async move {
        let (s, peer) = listener.accept().await.unwrap();
        let (mut r, mut w) = s.into_split();
        tokio::io::copy(&mut r, &mut w).await.unwrap();
        w.shutdown().await.unwrap();
        peer
    });
    let mut s = TcpStream::connect(&a, addr).await.unwrap();
    let local = s.local_addr().unwrap();
    let msg: Vec<u8> = (0..3_000_000u32).map(|j| (j % 249) as u8).collect();
    // Borrowed halves, both driven at once.
    let (mut r, mut w) = s.split();
    let write = async {
        w.write_all(&msg).await.unwrap();
        w.shutdown().await.unwrap();
    };
    let mut back = Vec::new();
    let read = r.read_to_end(&mut back);
    let (_, n) = tokio::join!(write, read);
    n.unwrap();
    assert!(back == msg, "echo differs");
    assert_eq!(server.await.unwrap(), local);
    let k = a.counters();
    assert_eq!(k.ip_out, k.ip_looped, "a packet reached the device");
}

#[tokio::test(flavor = "current_thread")]
async fn tokio_tcp_socket_options_before_listen_and_connect() {
    use ustack_runtime::tokio_net::TcpSocket;
    let (a, b) = common::two_stacks();
    let addr: SocketAddr = "198.18.0.2:7301".parse().unwrap();
    let ls = TcpSocket::new(&b);
    ls.set_reuseaddr(true).unwrap();
    ls.set_recv_buffer_size(1 << 20).unwrap();
    ls.set_nodelay(true).unwrap();
    ls.set_congestion(ustack::CongestionKind::NewReno).unwrap();
    ls.set_ttl(12).unwrap();
    ls.bind(addr).unwrap();
    let listener = ls.listen(64).unwrap();
    let cs = TcpSocket::new(&a);
    cs.set_recv_buffer_size(128 << 10).unwrap();
    assert_eq!(cs.recv_buffer_size().unwrap(), 128 << 10);
    let (c, accepted) = tokio::join!(cs.connect(addr), listener.accept());
    let mut c = c.unwrap();
    let (mut s, _) = accepted.unwrap();
    // 1 MiB: shift 5; 128 KiB: shift 2.
    let (si, ci) = (s.info().unwrap(), c.info().unwrap());
    assert_eq!((si.rcv_wscale, si.snd_wscale), (5, 2));
    assert_eq!((ci.rcv_wscale, ci.snd_wscale), (2, 5));
    assert!(s.nodelay().unwrap());
    assert_eq!(s.congestion().unwrap(), ustack::CongestionKind::NewReno);
    assert_eq!((listener.ttl().unwrap(), s.ttl().unwrap()), (12, 12));
    s.set_ttl(13).unwrap();
    assert_eq!((s.ttl().unwrap(), c.ttl().unwrap()), (13, 64));
    c.set_congestion(ustack::CongestionKind::NewReno).unwrap();
    assert_eq!(
        c.info().unwrap().congestion,
        ustack::CongestionKind::NewReno
    );
    c.write_all(b"hello").await.unwrap();
    let mut buf = [0u8; 5];
    s.read_exact(&mut buf).await.unwrap();
    assert_eq!(&buf, b"hello");
}

#[tokio::test(flavor = "current_thread")]
async fn tokio_connected_udp_and_peek() {
    let (a, b) = common::two_stacks();
    let ua = UdpSocket::bind(&a, "198.18.0.1:6400".parse().unwrap())
        .await
        .unwrap();
    let ub = UdpSocket::bind(&b, "198.18.0.2:6400".parse().unwrap())
        .await
        .unwrap();
    assert_eq!(
        ua.send(b"x").await.unwrap_err().kind(),
        std::io::ErrorKind::NotConnected
    );
    ua.connect("198.18.0.2:6400".parse().unwrap())
        .await
        .unwrap();
    ub.connect("198.18.0.1:6400".parse().unwrap())
        .await
        .unwrap();
    assert_eq!(ua.peer_addr().unwrap(), "198.18.0.2:6400".parse().unwrap());
    ua.send(b"hello").await.unwrap();
    let mut buf = [0u8; 16];
    let (n, from) = ub.peek_from(&mut buf).await.unwrap();
    assert_eq!((&buf[..n], from), (&b"hello"[..], ua.local_addr().unwrap()));
    assert_eq!(ub.recv(&mut buf).await.unwrap(), 5);
    ub.send(b"back").await.unwrap();
    assert_eq!(ua.recv(&mut buf).await.unwrap(), 4);
    assert_eq!(&buf[..4], b"back");
    // IP_TTL and SO_BROADCAST.
    assert_eq!((ua.ttl().unwrap(), ua.broadcast().unwrap()), (64, false));
    ua.set_ttl(3).unwrap();
    assert_eq!(ua.ttl().unwrap(), 3);
    let all: SocketAddr = "255.255.255.255:6401".parse().unwrap();
    let e = ua.send_to(b"all", all).await.unwrap_err();
    assert_eq!(e.kind(), std::io::ErrorKind::PermissionDenied);
    ua.set_broadcast(true).unwrap();
    let uc = UdpSocket::bind(&b, "0.0.0.0:6401".parse().unwrap())
        .await
        .unwrap();
    ua.send_to(b"all", all).await.unwrap();
    let (n, from) = uc.recv_from(&mut buf).await.unwrap();
    assert_eq!((&buf[..n], from), (&b"all"[..], ua.local_addr().unwrap()));

    let addr: SocketAddr = "198.18.0.2:7401".parse().unwrap();
    let listener = TcpListener::bind(&b, addr).await.unwrap();
    let (c, s) = tokio::join!(TcpStream::connect(&a, addr), listener.accept());
    let (mut c, (s, _)) = (c.unwrap(), s.unwrap());
    let peek = async {
        let mut p = [0u8; 3];
        let n = s.peek(&mut p).await.unwrap();
        (n, p)
    };
    let (peeked, ()) = tokio::join!(peek, async { c.write_all(b"abcdef").await.unwrap() });
    assert_eq!(peeked, (3, *b"abc"));
    let mut s = s;
    let mut all = [0u8; 6];
    s.read_exact(&mut all).await.unwrap();
    assert_eq!(&all, b"abcdef");
}

/// SO_LINGER: a listener's passes to what it accepts; zero resets the
/// peer on drop; a nonzero one never blocks the drop here (the data
/// still arrives, then the end of stream).
#[tokio::test(flavor = "current_thread")]
async fn tokio_linger() {
    use std::time::Duration;
    use ustack_runtime::tokio_net::TcpSocket;
    let (a, b) = common::two_stacks();
    let addr: SocketAddr = "198.18.0.2:7302".parse().unwrap();
    let ls = TcpSocket::new(&b);
    assert_eq!(ls.linger().unwrap(), None);
    ls.set_linger(Some(Duration::ZERO)).unwrap();
    // The reader below reads only after the drop: accepted streams get a
    // send buffer that takes the whole megabyte (fixed; an auto-tuned one
    // holds a waiting writer near twice cwnd, as Linux's would).
    ls.set_send_buffer_size(4 << 20).unwrap();
    ls.bind(addr).unwrap();
    let listener = ls.listen(8).unwrap();
    let (c, accepted) = tokio::join!(TcpStream::connect(&a, addr), listener.accept());
    let mut c = c.unwrap();
    let (mut s, _) = accepted.unwrap();
    assert_eq!(s.linger().unwrap(), Some(Duration::ZERO), "inherited");
    assert_eq!(c.linger().unwrap(), None);
    s.write_all(b"abc").await.unwrap();
    drop(s);
    let mut buf = [0u8; 8];
    let e = loop {
        match c.read(&mut buf).await {
            Ok(0) => panic!("end of stream instead of a reset"),
            Ok(_) => {}
            Err(e) => break e,
        }
    };
    assert_eq!(e.kind(), std::io::ErrorKind::ConnectionReset);

    let (c, accepted) = tokio::join!(TcpStream::connect(&a, addr), listener.accept());
    let mut c = c.unwrap();
    let (mut s, _) = accepted.unwrap();
    s.set_linger(Some(Duration::from_secs(30))).unwrap();
    s.set_user_timeout(Some(Duration::from_secs(9))).unwrap();
    assert_eq!(s.user_timeout().unwrap(), Some(Duration::from_secs(9)));
    assert_eq!(s.linger().unwrap(), Some(Duration::from_secs(30)));
    let data: Vec<u8> = (0..1_000_000u32).map(|i| (i % 239) as u8).collect();
    s.write_all(&data).await.unwrap();
    drop(s);
    let mut got = Vec::new();
    c.read_to_end(&mut got).await.unwrap();
    assert!(got == data, "{} of {} bytes", got.len(), data.len());
}

/// The tokio API over IPv6: TCP echo through a `[::]` listener (which
/// takes IPv4 too), UDP with a fragmented datagram, and a refusal.
#[tokio::test(flavor = "current_thread")]
async fn tokio_over_ipv6() {
    let (a, b) = common::two_stacks();
    let listener = TcpListener::bind(&b, "[::]:7200".parse().unwrap())
        .await
        .unwrap();
    let server = tokio::spawn(async move {
        let mut peers = Vec::new();
        for _ in 0..2 {
            let (s, peer) = listener.accept().await.unwrap();
            peers.push(peer);
            let (mut r, mut w) = s.into_split();
            tokio::io::copy(&mut r, &mut w).await.unwrap();
            w.shutdown().await.unwrap();
        }
        peers
    });
    for to in ["[2001:2::2]:7200", "198.18.0.2:7200"] {
        let mut s = TcpStream::connect(&a, to.parse().unwrap()).await.unwrap();
        let msg: Vec<u8> = (0..100_000u32).map(|j| (j % 251) as u8).collect();
        s.write_all(&msg).await.unwrap();
        s.shutdown().await.unwrap();
        let mut back = Vec::new();
        s.read_to_end(&mut back).await.unwrap();
        assert!(back == msg, "echo over {to} differs");
    }
    let peers = server.await.unwrap();
    assert_eq!(
        peers[0].ip(),
        "2001:2::1".parse::<std::net::IpAddr>().unwrap()
    );
    assert_eq!(
        peers[1].ip(),
        "198.18.0.1".parse::<std::net::IpAddr>().unwrap()
    );

    let ua = UdpSocket::bind(&a, "[2001:2::1]:6100".parse().unwrap())
        .await
        .unwrap();
    let ub = UdpSocket::bind(&b, "[::]:6100".parse().unwrap())
        .await
        .unwrap();
    let big = vec![7u8; 5000];
    ua.send_to(&big, "[2001:2::2]:6100".parse().unwrap())
        .await
        .unwrap();
    let mut buf = [0u8; 8192];
    let r = ub.recv_from_full(&mut buf).await.unwrap();
    assert_eq!((r.len, r.truncated), (5000, false));
    assert_eq!(r.from, "[2001:2::1]:6100".parse().unwrap());
    let e = TcpStream::connect(&a, "[2001:2::2]:1".parse().unwrap())
        .await
        .unwrap_err();
    assert_eq!(e.kind(), std::io::ErrorKind::ConnectionRefused);
}

/// IPV6_V6ONLY through the tokio API: the IPv6-only `[::]` listener and a
/// `0.0.0.0` one share a port and each accepts its family; UDP alike.
#[tokio::test]
async fn tokio_ipv6_only_sockets_share_ports_with_ipv4() {
    use ustack_runtime::tokio_net::TcpSocket;
    let (a, b) = common::two_stacks();
    let s6 = TcpSocket::new(&b);
    s6.set_only_v6(true).unwrap();
    s6.bind("[::]:7500".parse().unwrap()).unwrap();
    let l6 = s6.listen(8).unwrap();
    assert!(l6.only_v6().unwrap());
    let l4 = TcpListener::bind(&b, "0.0.0.0:7500".parse().unwrap())
        .await
        .expect("0.0.0.0 beside [::]");
    for (to, l, v6) in [
        ("[2001:2::2]:7500", &l6, true),
        ("198.18.0.2:7500", &l4, false),
    ] {
        let _c = TcpStream::connect(&a, to.parse().unwrap()).await.unwrap();
        let (_s, peer) = l.accept().await.unwrap();
        assert_eq!(peer.is_ipv6(), v6, "{to} accepted by the wrong listener");
    }
    let u6 = UdpSocket::bind_with(&b, "[::]:6700".parse().unwrap(), Some(true))
        .await
        .unwrap();
    assert!(u6.only_v6().unwrap());
    let u4 = UdpSocket::bind(&b, "0.0.0.0:6700".parse().unwrap())
        .await
        .expect("0.0.0.0 beside [::]");
    let ua = UdpSocket::bind(&a, "[::]:0".parse().unwrap())
        .await
        .unwrap();
    ua.send_to(b"4", "198.18.0.2:6700".parse().unwrap())
        .await
        .unwrap();
    ua.send_to(b"6", "[2001:2::2]:6700".parse().unwrap())
        .await
        .unwrap();
    let mut buf = [0u8; 4];
    let (n, from) = u4.recv_from(&mut buf).await.unwrap();
    assert_eq!((&buf[..n], from.is_ipv4()), (&b"4"[..], true));
    let (n, from) = u6.recv_from(&mut buf).await.unwrap();
    assert_eq!((&buf[..n], from.is_ipv6()), (&b"6"[..], true));
}
