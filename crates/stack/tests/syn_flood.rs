//! SYN flood (RFC 4987): 100 000 spoofed SYNs in one simulated second into
//! a listener with backlog 128, while 200 real clients connect. With SYN
//! cookies, at least 99 % of the real clients get through, and the
//! listener's state stays bounded.
mod common;
use common::*;
use std::net::{Ipv4Addr, SocketAddr};
use ustack::rng::Rng;
use ustack::wire::ipv4::{Ipv4Repr, PROTO_TCP};
use ustack::wire::tcp::{TcpFlags, TcpOptions, TcpRepr};
use ustack::TcpState;

fn spoofed_syn(rng: &mut Rng, dst: Ipv4Addr, port: u16) -> Vec<u8> {
    let src = Ipv4Addr::new(198, 19, rng.range(0, 256) as u8, rng.range(1, 255) as u8);
    let tcp = TcpRepr {
        src_port: rng.range(1024, 65535) as u16,
        dst_port: port,
        seq: rng.next_u32(),
        ack: 0,
        flags: TcpFlags::SYN,
        window: 65535,
        urgent: 0,
        options: TcpOptions {
            mss: Some(1460),
            ..TcpOptions::default()
        },
        payload: &[],
    };
    let mut pkt = vec![0u8; 20 + tcp.header_len()];
    Ipv4Repr {
        src,
        dst,
        protocol: PROTO_TCP,
        payload_len: tcp.header_len(),
        ttl: 64,
        ident: 0,
        dont_frag: true,
        more_frags: false,
        frag_offset: 0,
        dscp_ecn: 0,
    }
    .emit(&mut pkt[..20]);
    tcp.emit(&mut pkt[20..], src.into(), dst.into());
    pkt
}

#[test]
fn syn_flood_with_cookies_lets_real_clients_through() {
    let mut p = Pair::new(42);
    let server: SocketAddr = format!("{B}:80").parse().unwrap();
    let l = p.b.tcp_listen(server, 128).unwrap();
    let dst: Ipv4Addr = B.parse().unwrap();
    let mut rng = Rng::new(7);
    const FLOOD: u64 = 100_000;
    const CLIENTS: usize = 200;
    let start = p.now;
    let mut injected = 0u64;
    let mut clients = Vec::new();
    let mut accepted = 0usize;
    let mut max_sockets = 0usize;
    let mut next_client_at = start;
    // Advance in 100 µs ticks for one second: 10 spoofed SYNs per tick,
    // a new real client every 5 ms.
    for tick in 0..10_000u64 {
        let now = start + std::time::Duration::from_micros(tick * 100);
        p.now = now;
        for _ in 0..FLOOD / 10_000 {
            let syn = spoofed_syn(&mut rng, dst, 80);
            p.b.receive(now, &syn);
            injected += 1;
        }
        if now >= next_client_at && clients.len() < CLIENTS {
            clients.push(p.a.tcp_connect(server, None).unwrap());
            next_client_at = now + std::time::Duration::from_millis(5);
        }
        // Deliver whatever is due, fire timers, flush both stacks.
        while p.inflight.front().is_some_and(|(t, _, _)| *t <= now) {
            p.step();
        }
        p.a.handle_timeout(now);
        p.b.handle_timeout(now);
        p.flush();
        while p.b.tcp_accept(l).is_ok() {
            accepted += 1;
        }
        max_sockets = max_sockets.max(p.b.socket_count());
    }
    assert_eq!(injected, FLOOD);
    // Let the handshakes in flight finish (no more flood).
    let ok = p.run_until(30, |p| {
        while p.b.tcp_accept(l).is_ok() {
            accepted += 1;
        }
        let settled = clients
            .iter()
            .all(|c| p.a.tcp_state(*c).is_ok_and(|s| s != TcpState::SynSent));
        let established = clients
            .iter()
            .filter(|c| p.a.tcp_state(**c).is_ok_and(|s| s == TcpState::Established))
            .count();
        settled && accepted >= established
    });
    assert!(ok, "handshakes settle");
    let established = clients
        .iter()
        .filter(|c| p.a.tcp_state(**c).is_ok_and(|s| s == TcpState::Established))
        .count();
    let c = p.b.counters();
    eprintln!(
        "flood {FLOOD} SYNs in {:?}: {established}/{CLIENTS} clients established, {accepted} accepted; cookies sent {} accepted {}; max sockets on server {max_sockets}",
        p.now.saturating_since(start).min(std::time::Duration::from_secs(1)),
        c.syn_cookies_sent,
        c.syn_cookies_accepted
    );
    assert!(
        established * 100 >= CLIENTS * 99,
        "only {established}/{CLIENTS} clients got through"
    );
    assert!(accepted >= established);
    // Bounded state: the SYN queue (128) + accept queue (128) + listener
    // + the real connections the test accepted and holds.
    assert!(
        max_sockets <= 128 + 128 + 1 + CLIENTS,
        "server held {max_sockets} sockets"
    );
}
