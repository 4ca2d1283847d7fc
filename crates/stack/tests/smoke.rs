mod common;
use common::*;
use std::net::{Shutdown, SocketAddr};
use ustack::TcpState;

#[test]
fn handshake_transfer_close() {
    let mut p = Pair::new(1);
    let server: SocketAddr = format!("{B}:80").parse().unwrap();
    let l = p.b.tcp_listen(server, 8).unwrap();
    let c = p.a.tcp_connect(server, None).unwrap();
    assert!(p.run_until(5, |p| p.a.tcp_state(c).unwrap() == TcpState::Established));
    let mut s = None;
    assert!(p.run_until(5, |p| {
        if let Ok((h, _)) = p.b.tcp_accept(l) {
            s = Some(h);
        }
        s.is_some()
    }));
    let s = s.unwrap();
    let data: Vec<u8> = (0..300_000u32).map(|i| (i * 7 % 251) as u8).collect();
    let mut sent = 0;
    let mut got = Vec::new();
    let mut buf = vec![0u8; 65536];
    assert!(p.run_until(60, |p| {
        if sent < data.len() {
            if let Ok(n) = p.a.tcp_send(c, &data[sent..]) {
                sent += n;
                if sent == data.len() {
                    p.a.tcp_shutdown(c, Shutdown::Write).unwrap();
                }
            }
        }
        loop {
            match p.b.tcp_recv(s, &mut buf) {
                Ok(0) => return true,
                Ok(n) => got.extend_from_slice(&buf[..n]),
                Err(_) => return false,
            }
        }
    }));
    assert_eq!(got.len(), data.len());
    assert!(got == data);
    p.b.tcp_shutdown(s, Shutdown::Write).unwrap();
    assert!(
        p.run_until(10, |p| p.a.tcp_state(c).unwrap() == TcpState::TimeWait
            && p.b.tcp_state(s).unwrap() == TcpState::Closed)
    );
    p.a.tcp_close(c);
    p.b.tcp_close(s);
    p.b.tcp_close(l);
    assert_eq!(p.b.socket_count(), 0);
    assert_eq!(p.a.socket_count(), 1, "TIME_WAIT remains");
    assert!(p.run_until(120, |p| p.a.socket_count() == 0));
}
