//! Regenerates the seed corpora in fuzz/corpus/<target>/ from valid
//! packets captured between two stacks (handshake with options, data,
//! close, UDP, ping, ICMP errors, fragments), plus a few deterministic
//! random inputs for the structured targets; and the IPv6 seeds
//! (parse_ipv6, and IPv6 packets for stack_packets), built packet by
//! packet. Run it by hand (both, or one by name):
//!
//!     cargo test --manifest-path fuzz/Cargo.toml --test gen_corpus -- --ignored
//!     cargo test --manifest-path fuzz/Cargo.toml --test gen_corpus -- --ignored ipv6
use std::fs;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use ustack::rng::Rng;
use ustack::wire::icmpv6::Icmpv6Repr;
use ustack::wire::ipv4::{Ipv4Packet, PROTO_ICMP, PROTO_TCP, PROTO_UDP};
use ustack::wire::ipv6::{self, FragmentHeader};
use ustack::wire::tcp::{TcpFlags, TcpOptions};
use ustack::wire::udp::UdpRepr;
use ustack::{Duration, Instant, Stack};
use ustack_fuzz::{
    config, ip6_packet, ip_packet, tcp_packet, PEER, PEER6, PORT6, UDP_PORT, US, US6,
};

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

/// A UDP datagram from PEER6 to US6:53.
fn udp6(data: &[u8]) -> Vec<u8> {
    let mut seg = vec![0u8; 8 + data.len()];
    UdpRepr {
        src_port: 5353,
        dst_port: UDP_PORT,
    }
    .emit(&mut seg, data, PEER6.into(), US6.into());
    seg
}

/// The IPv6 seeds: whole packets from PEER6 to US6.
fn ipv6_seeds() -> Vec<(&'static str, Vec<u8>)> {
    let mut seeds = Vec::new();
    // Plain UDP.
    let udp = udp6(b"query");
    seeds.push(("udp", ip6_packet(PEER6, US6, ipv6::PROTO_UDP, 64, &udp)));
    // Hop-by-hop (Router Alert, PadN) then destination options (an
    // option to skip, type 0x1e, and a Pad1) before the same UDP.
    let mut payload = vec![ipv6::DEST_OPTS, 0, 5, 2, 0, 0, 1, 0];
    payload.extend_from_slice(&[ipv6::PROTO_UDP, 0, 0x1e, 3, 7, 7, 7, 0]);
    payload.extend_from_slice(&udp);
    seeds.push((
        "hbh_dest_udp",
        ip6_packet(PEER6, US6, ipv6::HOP_BY_HOP, 64, &payload),
    ));
    // A 1400-byte UDP datagram in two fragments (first at 0, the rest at
    // 1232), and the first one alone (what parse_ipv6 gets).
    let big = udp6(&[0x61; 1392]);
    for (name, offset, more, data) in [
        ("frag_first", 0, true, &big[..1232]),
        ("frag_last", 1232, false, &big[1232..]),
    ] {
        let mut payload = vec![0u8; 8];
        FragmentHeader {
            next_header: ipv6::PROTO_UDP,
            offset,
            more,
            ident: 0x1234_5678,
        }
        .emit(&mut payload);
        payload.extend_from_slice(data);
        seeds.push((name, ip6_packet(PEER6, US6, ipv6::FRAGMENT, 64, &payload)));
    }
    // ICMPv6 echo request.
    let echo = Icmpv6Repr::EchoRequest {
        ident: 0x4242,
        seq_no: 1,
        data: b"ping6",
    };
    let mut m = vec![0u8; echo.buffer_len()];
    echo.emit(&mut m, PEER6, US6);
    seeds.push((
        "icmp_echo",
        ip6_packet(PEER6, US6, ipv6::PROTO_ICMPV6, 64, &m),
    ));
    // A SYN to the fixture's `[::]` listener.
    let syn = tcp_packet(
        SocketAddr::new(PEER6.into(), 40100),
        SocketAddr::new(US6.into(), PORT6),
        1,
        0,
        TcpFlags::SYN,
        65535,
        0,
        TcpOptions {
            mss: Some(1440),
            window_scale: Some(7),
            sack_permitted: true,
            timestamp: Some((1, 0)),
            ..TcpOptions::default()
        },
        &[],
    );
    seeds.push(("tcp_syn", syn));
    seeds
}

/// One `Action::Raw(bytes)` of stack_packets as `arbitrary` reads a
/// `Vec<Action>`: the "one more action" flag, the variant index (a u32,
/// 0), then each byte behind a "one more byte" flag, then the end flag.
fn raw_action(bytes: &[u8]) -> Vec<u8> {
    let mut v = vec![1, 0, 0, 0, 0];
    for b in bytes {
        v.extend_from_slice(&[1, *b]);
    }
    v.push(0);
    v
}

#[test]
#[ignore = "writes fuzz/corpus; run by hand"]
fn generate_ipv6_seed_corpora() {
    let seeds = ipv6_seeds();
    for (name, pkt) in &seeds {
        let p = ipv6::Ipv6Packet::new_checked(&pkt[..]).expect("valid seed");
        assert_eq!(p.total_len(), pkt.len());
        write("parse_ipv6", name, pkt);
    }
    // Raw packets for the stack target; the two fragments in one input.
    for (name, pkt) in &seeds {
        if *name == "frag_last" {
            continue;
        }
        let mut v = raw_action(pkt);
        if *name == "frag_first" {
            let (_, last) = seeds.iter().find(|(n, _)| *n == "frag_last").expect("last");
            v.extend(raw_action(last));
        }
        write("stack_packets", &format!("raw6_{name}"), &v);
    }
}
