//! Regenerates the seed corpora in fuzz/corpus/<target>/ from valid
//! packets captured between two stacks (handshake with options, data,
//! close, UDP, ping, ICMP errors, fragments), plus a few deterministic
//! random inputs for the structured targets. Run it by hand:
//!
//!     cargo test --manifest-path fuzz/Cargo.toml --test gen_corpus -- --ignored
use std::fs;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use ustack::rng::Rng;
use ustack::wire::ipv4::{Ipv4Packet, PROTO_ICMP, PROTO_TCP, PROTO_UDP};
use ustack::{Duration, Instant, Stack};
use ustack_fuzz::{config, ip_packet, PEER, US};

fn pump(a: &mut Stack, b: &mut Stack, now: Instant, log: &mut Vec<Vec<u8>>) {
    let mut buf = vec![0u8; 65536];
    for _ in 0..1000 {
        let mut any = false;
        while let Some(n) = a.poll_transmit(now, &mut buf) {
            log.push(buf[..n].to_vec());
            b.receive(now, &buf[..n]);
            any = true;
        }
        while let Some(n) = b.poll_transmit(now, &mut buf) {
            log.push(buf[..n].to_vec());
            a.receive(now, &buf[..n]);
            any = true;
        }
        if !any {
            return;
        }
    }
}

fn capture() -> Vec<Vec<u8>> {
    let mut a = Stack::new(config(US, 1)).unwrap();
    let mut b = Stack::new(config(PEER, 2)).unwrap();
    let mut now = Instant::from_secs(1);
    let mut log = Vec::new();
    let srv = SocketAddr::new(IpAddr::V4(PEER), 80);
    let l = b.tcp_listen(srv, 8).unwrap();
    let c = a.tcp_connect(srv, None).unwrap();
    pump(&mut a, &mut b, now, &mut log);
    let (s, _) = b.tcp_accept(l).unwrap();
    a.tcp_send(c, b"GET / HTTP/1.0\r\n\r\n").unwrap();
    b.tcp_send(s, &[0x61; 4000]).unwrap();
    pump(&mut a, &mut b, now, &mut log);
    let mut buf = vec![0u8; 65536];
    let _ = a.tcp_recv(c, &mut buf);
    let _ = b.tcp_recv(s, &mut buf);
    now += Duration::from_millis(50);
    a.handle_timeout(now);
    b.handle_timeout(now);
    pump(&mut a, &mut b, now, &mut log);
    a.tcp_close(c);
    b.tcp_close(s);
    pump(&mut a, &mut b, now, &mut log);
    // UDP both ways, one fragmented; a datagram to a closed port.
    let ua = a.udp_bind(SocketAddr::new(IpAddr::V4(US), 5353)).unwrap();
    let ub = b.udp_bind(SocketAddr::new(IpAddr::V4(PEER), 53)).unwrap();
    a.udp_send_to(ua, b"query", SocketAddr::new(IpAddr::V4(PEER), 53))
        .unwrap();
    a.udp_send_to(ua, &[7u8; 3000], SocketAddr::new(IpAddr::V4(PEER), 53))
        .unwrap();
    a.udp_send_to(ua, b"nobody", SocketAddr::new(IpAddr::V4(PEER), 54))
        .unwrap();
    pump(&mut a, &mut b, now, &mut log);
    let _ = b.udp_recv_from(ub, &mut buf);
    // A SYN to a closed port (RST) and a ping.
    let _ = a.tcp_connect(SocketAddr::new(IpAddr::V4(PEER), 81), None);
    pump(&mut a, &mut b, now, &mut log);
    let echo = {
        let r = ustack::wire::icmpv4::Icmpv4Repr::EchoRequest {
            ident: 1,
            seq_no: 1,
            data: b"ping",
        };
        let mut m = vec![0u8; r.buffer_len()];
        r.emit(&mut m);
        ip_packet(US, PEER, PROTO_ICMP, 3, false, 0, &m)
    };
    b.receive(now, &echo);
    log.push(echo);
    pump(&mut a, &mut b, now, &mut log);
    log
}

fn write(target: &str, name: &str, bytes: &[u8]) {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("corpus")
        .join(target);
    fs::create_dir_all(&dir).unwrap();
    fs::write(dir.join(name), bytes).unwrap();
}

#[test]
#[ignore = "writes fuzz/corpus; run by hand"]
fn generate_seed_corpora() {
    let log = capture();
    let mut n = [0usize; 4];
    for (i, pkt) in log.iter().enumerate() {
        // Keep distinct shapes only (a few of each), the corpora small.
        let Ok(p) = Ipv4Packet::new_checked(&pkt[..]) else {
            continue;
        };
        let proto = p.protocol();
        let frag = p.more_frags() || p.frag_offset() > 0;
        if n[0] < 24 {
            write(
                "parse_ipv4",
                &format!("pkt{i:03}"),
                &pkt[..pkt.len().min(600)],
            );
            n[0] += 1;
        }
        let payload = p.payload();
        match proto {
            PROTO_TCP if !frag && n[1] < 24 => {
                write(
                    "parse_tcp",
                    &format!("seg{i:03}"),
                    &payload[..payload.len().min(600)],
                );
                n[1] += 1;
            }
            PROTO_UDP if !frag && n[2] < 8 => {
                write("parse_udp", &format!("dgram{i:03}"), payload);
                n[2] += 1;
            }
            PROTO_ICMP if !frag && n[3] < 8 => {
                write("parse_icmpv4", &format!("icmp{i:03}"), payload);
                n[3] += 1;
            }
            _ => {}
        }
    }
    // Options areas on their own (also valid TCP-option parser input).
    write(
        "parse_tcp",
        "options_all",
        &[
            0x45, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xa0, 0x02, 0xff, 0xff, 0, 0, 0, 0, 2, 4, 5,
            0xb4, 4, 2, 8, 10, 0, 0, 0, 1, 0, 0, 0, 0, 1, 3, 3, 7,
        ],
    );
    // Structured targets: deterministic random inputs of a few sizes.
    let mut rng = Rng::new(2024);
    for target in ["stack_packets", "socket_api"] {
        for (k, len) in [32usize, 64, 128, 256, 512, 1024, 2048].iter().enumerate() {
            let mut v = vec![0u8; *len];
            rng.fill(&mut v);
            write(target, &format!("random{k}"), &v);
        }
    }
    // Raw captured packets are also good raw input for the stack target.
    for (i, pkt) in log.iter().take(8).enumerate() {
        let mut v = vec![0u8]; // enum tag 0: Action::Raw
        v.extend_from_slice(pkt);
        write("stack_packets", &format!("raw{i}"), &v);
    }
    assert!(n.iter().all(|c| *c > 0), "{n:?}");
}
