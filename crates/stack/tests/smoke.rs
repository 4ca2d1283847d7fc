mod common;
use common::*;
use std::net::{Shutdown, SocketAddr};
use ustack::{SocketHandle, TcpState};

/// A connects to `server`; B accepts it on listener `l`: (client, server).
fn connect_accepted(
    p: &mut Pair,
    server: SocketAddr,
    l: SocketHandle,
) -> (SocketHandle, SocketHandle) {
    let c = p.a.tcp_connect(server, None).unwrap();
    let mut s = None;
    assert!(p.run_until(5, |p| {
        if let Ok((h, _)) = p.b.tcp_accept(l) {
            s = Some(h);
        }
        s.is_some()
    }));
    (c, s.unwrap())
}

#[test]
fn handshake_transfer_close() {
    let mut p = Pair::new(1);
    let server: SocketAddr = format!("{B}:80").parse().unwrap();
    let l = p.b.tcp_listen(server, 8).unwrap();
    let (c, s) = connect_accepted(&mut p, server, l);
    assert_eq!(p.a.tcp_state(c).unwrap(), TcpState::Established);
    let data: Vec<u8> = (0..300_000u32).map(|i| (i * 7 % 251) as u8).collect();
    // Closes both ways: A in TIME-WAIT, B closed.
    let got = transfer(&mut p, c, s, &data);
    assert_eq!(got.len(), data.len());
    assert!(got == data);
    // TIME-WAIT keeps no buffer memory (all sent data acknowledged, all
    // received data read), long before the 2 s idle shrink.
    assert_eq!(p.a.buffer_bytes(), 0, "buffers held in TIME_WAIT");
    p.a.tcp_close(c);
    p.b.tcp_close(s);
    p.b.tcp_close(l);
    assert_eq!(p.b.socket_count(), 0);
    assert_eq!(p.a.socket_count(), 1, "TIME_WAIT remains");
    assert!(p.run_until(120, |p| p.a.socket_count() == 0));
}

/// SO_REUSEADDR (Linux semantics): a port held by a TIME_WAIT connection
/// can be listened on only with SO_REUSEADDR; a port with a listener never.
#[test]
fn reuseaddr_and_time_wait() {
    let mut p = Pair::new(7);
    let server: SocketAddr = format!("{B}:8080").parse().unwrap();
    let l = p.b.tcp_listen(server, 8).unwrap();
    assert_eq!(
        p.b.tcp_listen(server, 8).unwrap_err().kind(),
        std::io::ErrorKind::AddrInUse,
        "second listener on the same port"
    );
    let (c, s) = connect_accepted(&mut p, server, l);
    // The server closes first: it ends in TIME_WAIT on port 8080.
    p.b.tcp_shutdown(s, Shutdown::Write).unwrap();
    assert!(p.run_until(5, |p| p.a.tcp_recv(c, &mut [0u8; 8]).ok() == Some(0)));
    p.a.tcp_close(c);
    assert!(p.run_until(5, |p| p.b.tcp_state(s).unwrap() == TcpState::TimeWait));
    p.b.tcp_close(s);
    p.b.tcp_close(l);
    assert_eq!(
        p.b.socket_count(),
        1,
        "only the TIME_WAIT connection is left"
    );
    assert_eq!(
        p.b.tcp_listen(server, 8).unwrap_err().kind(),
        std::io::ErrorKind::AddrInUse,
        "TIME_WAIT holds the port without SO_REUSEADDR"
    );
    let l2 = p.b.tcp_listen_reuse(server, 8, true).unwrap();
    assert_eq!(p.b.tcp_state(l2).unwrap(), TcpState::Listen);
    // After 2*MSL the TIME_WAIT is gone and a plain bind works again.
    p.b.tcp_close(l2);
    assert!(p.run_until(70, |p| p.b.socket_count() == 0));
    let l3 = p.b.tcp_listen(server, 8).unwrap();
    p.b.tcp_close(l3);
}

/// Ephemeral ports come from the configured range, differ per connection,
/// and port 0 listeners get one too.
#[test]
fn ephemeral_ports() {
    let mut p = Pair::new(9);
    let server: SocketAddr = format!("{B}:80").parse().unwrap();
    let _l = p.b.tcp_listen(server, 64).unwrap();
    let mut ports = std::collections::BTreeSet::new();
    for _ in 0..50 {
        let c = p.a.tcp_connect(server, None).unwrap();
        let port = p.a.tcp_local_addr(c).unwrap().port();
        assert!((32768..=60999).contains(&port), "{port}");
        ports.insert(port);
    }
    assert_eq!(ports.len(), 50, "distinct ports");
    let any: SocketAddr = "0.0.0.0:0".parse().unwrap();
    let l = p.a.tcp_listen(any, 4).unwrap();
    let lp = p.a.tcp_local_addr(l).unwrap().port();
    assert!((32768..=60999).contains(&lp));
    assert!(!ports.contains(&lp));
}

/// Config::max_buffer_bytes: at the limit tcp_send fails with OutOfMemory
/// (ENOBUFS), and it works again once buffers are released.
#[test]
fn total_buffer_memory_limit() {
    let a = stack_with(A, 21, |c| c.max_buffer_bytes = 64 * 1024);
    let b = stack(B, 22);
    let mut p = Pair::with(a, b);
    let server: SocketAddr = format!("{B}:80").parse().unwrap();
    let l = p.b.tcp_listen(server, 8).unwrap();
    let c1 = p.a.tcp_connect(server, None).unwrap();
    let c2 = p.a.tcp_connect(server, None).unwrap();
    assert!(p.run_until(5, |p| p.a.tcp_state(c2).unwrap() == TcpState::Established));
    // Queue until the stack's buffers reach the limit (the peer does not
    // read, so data stays queued).
    let chunk = vec![1u8; 16 * 1024];
    let mut queued = 0usize;
    let mut err = None;
    for _ in 0..64 {
        for c in [c1, c2] {
            match p.a.tcp_send(c, &chunk) {
                Ok(n) => queued += n,
                Err(e) => {
                    err = Some(e);
                    break;
                }
            }
        }
        if err.is_some() {
            break;
        }
    }
    let e = err.expect("the limit is reached");
    assert_eq!(e.kind(), std::io::ErrorKind::OutOfMemory, "{e}");
    assert!(e.to_string().contains("max_buffer_bytes"), "{e}");
    assert!(
        (48 * 1024..=160 * 1024).contains(&queued),
        "queued {queued}"
    );
    // The server reads everything: buffers drain and are freed.
    let mut accepted = Vec::new();
    let mut buf = vec![0u8; 65536];
    let mut got = 0usize;
    assert!(p.run_until(30, |p| {
        while let Ok((h, _)) = p.b.tcp_accept(l) {
            accepted.push(h);
        }
        for h in &accepted {
            while let Ok(n) = p.b.tcp_recv(*h, &mut buf) {
                if n == 0 {
                    break;
                }
                got += n;
            }
        }
        got == queued
    }));
    assert!(
        p.run_until(10, |p| p.a.tcp_send(c1, b"again").is_ok()),
        "sending works again"
    );
}

/// A busy client's TIME-WAIT connections are compact records outside the
/// socket table: 50 connections closed one after the other leave 50
/// records (counted as sockets until 2·MSL) but the table does not grow,
/// and the records end at their 2·MSL.
#[test]
fn time_wait_records_hold_no_socket_slot() {
    let mut p = Pair::new(7);
    let server: SocketAddr = format!("{B}:80").parse().unwrap();
    let l = p.b.tcp_listen(server, 8).unwrap();
    let mut buf = [0u8; 16];
    for i in 0..50 {
        let (c, s) = connect_accepted(&mut p, server, l);
        // The client closes first (TIME-WAIT is its), then the server.
        p.a.tcp_close(c);
        assert!(p.run_until(5, |p| matches!(p.b.tcp_recv(s, &mut buf), Ok(0))));
        p.b.tcp_close(s);
        assert!(
            p.run_until(5, |p| p.a.time_wait_records() == i + 1),
            "connection {i} did not become a TIME-WAIT record"
        );
    }
    assert_eq!(p.a.time_wait_records(), 50);
    assert_eq!(p.a.socket_count(), 50, "TIME-WAIT still counts as a socket");
    assert!(
        p.a.socket_slots() <= 2,
        "the socket table grew with TIME-WAIT: {} slots",
        p.a.socket_slots()
    );
    assert!(p.run_until(70, |p| p.a.socket_count() == 0));
    assert_eq!(p.a.time_wait_records(), 0);
    assert_eq!(p.b.socket_count(), 1, "only the listener is left");
}
