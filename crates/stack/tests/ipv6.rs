//! IPv6 (RFC 8200) and ICMPv6 (RFC 4443): TCP and UDP end to end between
//! two stacks, fragments, extension headers, Packet Too Big, loopback and
//! dual-stack sockets. Addresses from 2001:2::/48 (RFC 5180, the IPv6
//! benchmarking range).
mod common;
use common::*;
use std::io::ErrorKind;
use std::net::{IpAddr, Ipv6Addr, SocketAddr};
use ustack::wire::checksum;
use ustack::wire::icmpv6::{self, Icmpv6Repr};
use ustack::wire::ipv6::{self, FragmentHeader, Ipv6Packet, Ipv6Repr};
use ustack::wire::tcp::TcpPacket;
use ustack::wire::udp::UdpRepr;
use ustack::{BindOptions, Cidr, Config, DropReason, Instant, SocketHandle, Stack, TcpState};

const A6: &str = "2001:2::1";
const B6: &str = "2001:2::2";

fn ip6(s: &str) -> Ipv6Addr {
    s.parse().expect("IPv6 address")
}

fn sa(s: &str, port: u16) -> SocketAddr {
    SocketAddr::new(s.parse::<IpAddr>().expect("address"), port)
}

/// A stack with an IPv4 and an IPv6 address.
fn stack6(v4: &str, v6: &str, seed: u64, f: impl FnOnce(&mut Config)) -> Stack {
    let mut c = Config::default();
    c.addresses
        .push(format!("{v4}/24").parse::<Cidr>().expect("cidr"));
    c.addresses
        .push(format!("{v6}/64").parse::<Cidr>().expect("cidr"));
    c.seed = seed;
    f(&mut c);
    Stack::new(c).expect("stack")
}

fn pair6(seed: u64) -> Pair {
    Pair::with(
        stack6(A, A6, seed, |_| {}),
        stack6(B, B6, seed + 1000, |_| {}),
    )
}

/// Runs until everything sent has arrived (answers included).
fn settle(p: &mut Pair) {
    p.flush();
    assert!(p.run_until(1, |p| p.inflight.is_empty()));
}

fn now0() -> Instant {
    Instant::from_secs(1)
}

/// Everything `s` has to send now.
fn drain(s: &mut Stack, now: Instant) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let mut buf = vec![0u8; 65536];
    while let Some(n) = s.poll_transmit(now, &mut buf) {
        out.push(buf[..n].to_vec());
    }
    out
}

/// An IPv6 packet with hop limit 64.
fn packet6(src: Ipv6Addr, dst: Ipv6Addr, next_header: u8, payload: &[u8]) -> Vec<u8> {
    let mut v = vec![0u8; 40 + payload.len()];
    Ipv6Repr {
        src,
        dst,
        next_header,
        payload_len: payload.len(),
        hop_limit: 64,
        traffic_class: 0,
        flow_label: 0,
    }
    .emit(&mut v[..40]);
    v[40..].copy_from_slice(payload);
    v
}

fn udp6(src: Ipv6Addr, dst: Ipv6Addr, sport: u16, dport: u16, data: &[u8]) -> Vec<u8> {
    let mut v = vec![0u8; 8 + data.len()];
    UdpRepr {
        src_port: sport,
        dst_port: dport,
    }
    .emit(&mut v, data, src.into(), dst.into());
    v
}

fn icmp6(src: Ipv6Addr, dst: Ipv6Addr, msg: &Icmpv6Repr<'_>) -> Vec<u8> {
    let mut v = vec![0u8; msg.buffer_len()];
    msg.emit(&mut v, src, dst);
    packet6(src, dst, ipv6::PROTO_ICMPV6, &v)
}

/// Parses an ICMPv6 packet `s` sent.
fn parse_icmp6(p: &[u8]) -> (Ipv6Repr, Icmpv6Repr<'_>) {
    let ip = Ipv6Packet::new_checked(p).expect("IPv6");
    let repr = Ipv6Repr::parse(&ip).expect("IPv6 header");
    assert_eq!(repr.next_header, ipv6::PROTO_ICMPV6, "not ICMPv6: {p:02x?}");
    let msg = Icmpv6Repr::parse(&p[40..40 + repr.payload_len], repr.src, repr.dst)
        .expect("a valid ICMPv6 message");
    (repr, msg)
}

fn drops(s: &Stack) -> Vec<(DropReason, u64)> {
    s.counters().drop_list()
}

/// A connects to `server`; B accepts it on `l`: (client, server side,
/// the peer address accept reported).
fn connect_accepted(
    p: &mut Pair,
    server: SocketAddr,
    l: SocketHandle,
) -> (SocketHandle, SocketHandle, SocketAddr) {
    let c = p.a.tcp_connect(server, None).expect("connect");
    let mut s = None;
    assert!(p.run_until(5, |p| {
        if let Ok(x) = p.b.tcp_accept(l) {
            s = Some(x);
        }
        s.is_some()
    }));
    let (s, peer) = s.expect("accepted");
    (c, s, peer)
}

#[test]
fn tcp_over_ipv6_handshake_transfer_close() {
    let mut p = pair6(61);
    let server = sa(B6, 80);
    let l = p.b.tcp_listen(server, 8).expect("listen");
    let (c, s, peer) = connect_accepted(&mut p, server, l);
    assert_eq!(peer.ip(), ip6(A6));
    assert_eq!(p.a.tcp_local_addr(c).expect("local").ip(), ip6(A6));
    // RFC 8200 §3: 40 bytes of IPv6 header, so the MSS is 1500 - 60, less
    // the timestamps option.
    let info = p.a.tcp_info(c).expect("info");
    assert_eq!(info.mss, 1440 - 12);
    let data: Vec<u8> = (0..300_000u32).map(|i| (i * 7 % 251) as u8).collect();
    let got = transfer(&mut p, c, s, &data);
    assert!(got == data, "the data arrived changed");
    // Every packet was IPv6 with TCP right after the fixed header, at most
    // the MTU, its checksum right; the SYN offered MSS 1440.
    let mut full = 0;
    for (_, _, pkt, _) in &p.log {
        let ip = Ipv6Packet::new_checked(&pkt[..]).expect("IPv6 packet");
        assert_eq!(ip.next_header(), ipv6::PROTO_TCP);
        assert!(pkt.len() <= 1500, "{} bytes", pkt.len());
        let seg = TcpPacket::new_checked(ip.payload()).expect("TCP");
        assert!(seg.verify_checksum(ip.src_addr().into(), ip.dst_addr().into()));
        if seg.flags().syn() {
            // MSS option: kind 2, length 4.
            let o = seg.options();
            let at = o
                .windows(2)
                .position(|w| w == [2, 4])
                .expect("an MSS option");
            assert_eq!(u16::from_be_bytes([o[at + 2], o[at + 3]]), 1440);
        }
        full += usize::from(pkt.len() == 1500);
    }
    assert!(full > 100, "full-sized packets: {full}");
    assert!(drops(&p.a).is_empty() && drops(&p.b).is_empty());
    // TIME-WAIT and its end, as over IPv4.
    p.a.tcp_close(c);
    p.b.tcp_close(s);
    p.b.tcp_close(l);
    assert_eq!(p.a.socket_count(), 1, "TIME-WAIT remains");
    assert!(p.run_until(120, |p| p.a.socket_count() == 0));
}

#[test]
fn a_listener_on_the_ipv6_wildcard_takes_both_families() {
    let mut p = pair6(62);
    let l = p.b.tcp_listen(sa("::", 8080), 8).expect("listen");
    // A specific IPv4 listener on the same port is refused: a dual-stack
    // `[::]` holds the IPv4 addresses of its port too, as on Linux.
    assert_eq!(
        p.b.tcp_listen(sa(B, 8080), 8).unwrap_err().kind(),
        ErrorKind::AddrInUse
    );
    let (c6, s6, peer6) = connect_accepted(&mut p, sa(B6, 8080), l);
    assert_eq!(peer6, p.a.tcp_local_addr(c6).expect("local"));
    let (c4, s4, peer4) = connect_accepted(&mut p, sa(B, 8080), l);
    assert!(peer4.is_ipv4(), "an IPv4 connection reads as IPv4: {peer4}");
    assert_eq!(peer4, p.a.tcp_local_addr(c4).expect("local"));
    assert_eq!(b"v4".to_vec(), transfer(&mut p, c4, s4, b"v4"));
    assert_eq!(b"v6".to_vec(), transfer(&mut p, c6, s6, b"v6"));
    // An IPv4-only wildcard listener does not take IPv6.
    let l4 = p.b.tcp_listen(sa("0.0.0.0", 9090), 8).expect("listen");
    let c = p.a.tcp_connect(sa(B6, 9090), None).expect("connect");
    assert!(p.run_until(5, |p| p.a.tcp_state(c).ok() == Some(TcpState::Closed)));
    assert_eq!(
        p.a.tcp_take_error(c).expect("error").map(|e| e.kind()),
        Some(ErrorKind::ConnectionRefused)
    );
    assert_eq!(p.b.tcp_accept_ready(l4).expect("listener"), 0);
}

const V6ONLY: BindOptions = BindOptions {
    reuse_addr: false,
    only_v6: Some(true),
};

/// A connection attempt from A to `to` ends refused (a RST came back).
fn refused(p: &mut Pair, to: SocketAddr) -> bool {
    let c = p.a.tcp_connect(to, None).expect("connect");
    p.run_until(5, |p| p.a.tcp_state(c).ok() == Some(TcpState::Closed))
        && p.a.tcp_take_error(c).ok().flatten().map(|e| e.kind())
            == Some(ErrorKind::ConnectionRefused)
}

/// IPV6_V6ONLY (RFC 3493 §5.3, Linux's semantics): a listener on `[::]`
/// with it takes IPv6 only, so `0.0.0.0` may listen on the same port and
/// gets the IPv4 connections; alone, it leaves IPv4 SYNs to be reset.
#[test]
fn an_ipv6_only_listener_leaves_ipv4_to_a_listener_beside_it() {
    let mut p = pair6(70);
    let l6 =
        p.b.tcp_listen_with(sa("::", 8080), 8, V6ONLY)
            .expect("listen [::]");
    assert!(p.b.only_v6(l6).expect("listener"));
    let l4 =
        p.b.tcp_listen(sa("0.0.0.0", 8080), 8)
            .expect("listen 0.0.0.0 beside it");
    assert!(!p.b.only_v6(l4).expect("listener"));
    // Still one listener per address: a second `[::]` overlaps.
    for only_v6 in [Some(true), Some(false)] {
        let opts = BindOptions {
            reuse_addr: true,
            only_v6,
        };
        assert_eq!(
            p.b.tcp_listen_with(sa("::", 8080), 8, opts)
                .unwrap_err()
                .kind(),
            ErrorKind::AddrInUse
        );
    }
    let (c6, s6, peer6) = connect_accepted(&mut p, sa(B6, 8080), l6);
    assert!(peer6.is_ipv6());
    let (c4, s4, peer4) = connect_accepted(&mut p, sa(B, 8080), l4);
    assert!(peer4.is_ipv4());
    assert_eq!(
        p.b.tcp_accept_ready(l6).expect("l6"),
        0,
        "the IPv4 SYN went to 0.0.0.0"
    );
    assert_eq!(b"six".to_vec(), transfer(&mut p, c6, s6, b"six"));
    assert_eq!(b"four".to_vec(), transfer(&mut p, c4, s4, b"four"));
    // Without the IPv4 listener, IPv4 is refused and IPv6 still taken.
    p.b.tcp_close(l4);
    assert!(
        refused(&mut p, sa(B, 8080)),
        "an IPv4 SYN reached the IPv6-only listener"
    );
    let (_, _, peer) = connect_accepted(&mut p, sa(B6, 8080), l6);
    assert!(peer.is_ipv6());
    // A dual-stack `[::]` (the default) and `0.0.0.0` overlap, either way
    // round, as on Linux.
    let d = p.b.tcp_listen(sa("::", 8081), 8).expect("listen");
    assert!(!p.b.only_v6(d).expect("listener"));
    assert_eq!(
        p.b.tcp_listen(sa("0.0.0.0", 8081), 8).unwrap_err().kind(),
        ErrorKind::AddrInUse
    );
    p.b.tcp_listen(sa(B, 8082), 8).expect("listen");
    assert_eq!(
        p.b.tcp_listen(sa("::", 8082), 8).unwrap_err().kind(),
        ErrorKind::AddrInUse
    );
    p.b.tcp_listen_with(sa("::", 8082), 8, V6ONLY)
        .expect("an IPv6-only [::] beside a specific IPv4 address");
}

/// Listeners on one port with different addresses coexist (Linux's bind
/// conflicts are per address, not per port); the wildcard of a family
/// overlaps each of its addresses.
#[test]
fn listeners_on_one_port_coexist_on_different_addresses() {
    let mut p = pair6(71);
    let lo = p.b.tcp_listen(sa("127.0.0.1", 90), 8).expect("127.0.0.1");
    let lb = p.b.tcp_listen(sa(B, 90), 8).expect("B beside 127.0.0.1");
    let l6 = p.b.tcp_listen(sa(B6, 90), 8).expect("B6");
    for any in ["0.0.0.0", "::"] {
        assert_eq!(
            p.b.tcp_listen(sa(any, 90), 8).unwrap_err().kind(),
            ErrorKind::AddrInUse,
            "{any} overlaps the addresses bound"
        );
    }
    assert_eq!(
        p.b.tcp_listen(sa(B, 90), 8).unwrap_err().kind(),
        ErrorKind::AddrInUse
    );
    let (_, _, _) = connect_accepted(&mut p, sa(B, 90), lb);
    let (_, _, _) = connect_accepted(&mut p, sa(B6, 90), l6);
    assert_eq!(p.b.tcp_accept_ready(lo).expect("lo"), 0);
    // Closing one leaves the others; its address refuses again.
    p.b.tcp_close(lb);
    assert!(refused(&mut p, sa(B, 90)));
    let (_, _, _) = connect_accepted(&mut p, sa(B6, 90), l6);
}

/// `Config::ipv6_only` (Linux's `net.ipv6.bindv6only`) is the default
/// for sockets that do not choose; a socket's own choice wins.
#[test]
fn the_stack_wide_ipv6_only_default_and_a_sockets_choice() {
    let mut s = stack6(B, B6, 72, |c| c.ipv6_only = true);
    let l = s.tcp_listen(sa("::", 80), 8).expect("listen");
    assert!(s.only_v6(l).expect("listener"));
    s.tcp_listen(sa("0.0.0.0", 80), 8)
        .expect("beside an IPv6-only [::]");
    let dual = BindOptions {
        reuse_addr: false,
        only_v6: Some(false),
    };
    let d = s.tcp_listen_with(sa("::", 81), 8, dual).expect("listen");
    assert!(!s.only_v6(d).expect("listener"));
    assert_eq!(
        s.tcp_listen(sa("0.0.0.0", 81), 8).unwrap_err().kind(),
        ErrorKind::AddrInUse
    );
    let u = s.udp_bind(sa("::", 53)).expect("bind");
    assert!(s.only_v6(u).expect("udp"));
    // Only `[::]` keeps the flag; IPv4 sockets and connections have none.
    let u4 = s.udp_bind(sa("0.0.0.0", 53)).expect("bind beside");
    assert!(!s.only_v6(u4).expect("udp"));
    let c = s.tcp_connect(sa(A6, 80), None).expect("connect");
    assert_eq!(s.only_v6(c).unwrap_err().kind(), ErrorKind::InvalidInput);
    // A connection from `[::]` follows the default too, unless it chooses.
    assert_eq!(
        s.tcp_connect(sa(A, 80), Some(sa("::", 0)))
            .unwrap_err()
            .kind(),
        ErrorKind::InvalidInput
    );
    s.tcp_connect_with(sa(A, 80), Some(sa("::", 0)), Some(false))
        .expect("a dual-stack socket reaches IPv4");
}

/// IPV6_V6ONLY on UDP: `[::]` and `0.0.0.0` share the port, each takes
/// its family's datagrams; the IPv6-only socket neither sends to nor
/// connects to IPv4; with no IPv4 socket, IPv4 gets port unreachable.
#[test]
fn ipv6_only_udp_sockets_share_a_port_with_ipv4() {
    let mut p = pair6(73);
    let u6 = p.b.udp_bind_with(sa("::", 53), V6ONLY).expect("bind [::]");
    let u4 =
        p.b.udp_bind(sa("0.0.0.0", 53))
            .expect("bind 0.0.0.0 beside it");
    assert_eq!(
        p.b.udp_bind_with(sa("::", 53), V6ONLY).unwrap_err().kind(),
        ErrorKind::AddrInUse
    );
    let a4 = p.a.udp_bind(sa(A, 0)).expect("bind");
    let a6 = p.a.udp_bind(sa(A6, 0)).expect("bind");
    p.a.udp_send_to(a4, b"to four", sa(B, 53)).expect("send");
    p.a.udp_send_to(a6, b"to six", sa(B6, 53)).expect("send");
    settle(&mut p);
    let mut buf = [0u8; 32];
    let r = p.b.udp_recv_from(u4, &mut buf).expect("IPv4 datagram");
    assert_eq!((&buf[..r.len], r.from.is_ipv4()), (&b"to four"[..], true));
    let r = p.b.udp_recv_from(u6, &mut buf).expect("IPv6 datagram");
    assert_eq!((&buf[..r.len], r.from.is_ipv6()), (&b"to six"[..], true));
    for sock in [u4, u6] {
        assert_eq!(
            p.b.udp_recv_from(sock, &mut buf).unwrap_err().kind(),
            ErrorKind::WouldBlock
        );
    }
    assert_eq!(
        p.b.udp_send_to(u6, b"x", sa(A, 9)).unwrap_err().kind(),
        ErrorKind::InvalidInput
    );
    assert_eq!(
        p.b.udp_connect(u6, sa(A, 9)).unwrap_err().kind(),
        ErrorKind::InvalidInput
    );
    // A dual-stack socket and an IPv4 one on the same port overlap.
    p.b.udp_bind(sa("::", 54)).expect("bind");
    assert_eq!(
        p.b.udp_bind(sa(B, 54)).unwrap_err().kind(),
        ErrorKind::AddrInUse
    );
    // SO_REUSEADDR is not offered for UDP.
    let reuse = BindOptions {
        reuse_addr: true,
        only_v6: None,
    };
    assert_eq!(
        p.b.udp_bind_with(sa(B, 55), reuse).unwrap_err().kind(),
        ErrorKind::Unsupported
    );
    // The IPv6-only socket alone: IPv4 datagrams find no taker.
    p.b.udp_close(u4);
    p.a.udp_connect(a4, sa(B, 53)).expect("connect");
    p.a.udp_send_to(a4, b"anyone?", sa(B, 53)).expect("send");
    settle(&mut p);
    assert_eq!(
        p.a.udp_recv_from(a4, &mut buf).unwrap_err().kind(),
        ErrorKind::ConnectionRefused
    );
    assert_eq!(
        p.b.udp_recv_from(u6, &mut buf).unwrap_err().kind(),
        ErrorKind::WouldBlock
    );
}

#[test]
fn udp_over_ipv6_fragments_and_reassembles_large_datagrams() {
    let mut p = pair6(63);
    let ua = p.a.udp_bind(sa("::", 0)).expect("bind");
    let ub = p.b.udp_bind(sa(B6, 5353)).expect("bind");
    let big: Vec<u8> = (0..4000u32).map(|i| (i % 253) as u8).collect();
    p.a.udp_send_to(ua, b"hello", sa(B6, 5353)).expect("send");
    p.a.udp_send_to(ua, &big, sa(B6, 5353)).expect("send");
    p.flush();
    // RFC 8200 §4.5: 1 + 3 packets, the fragments with a Fragment header,
    // each at most the MTU, offsets in 8-byte units, one identification.
    let sent: Vec<Vec<u8>> = p.inflight.iter().map(|x| x.2.clone()).collect();
    assert_eq!(sent.len(), 4);
    let mut idents = Vec::new();
    let mut next_off = 0;
    for (i, pkt) in sent[1..].iter().enumerate() {
        assert!(pkt.len() <= 1500);
        let ip = Ipv6Packet::new_checked(&pkt[..]).expect("IPv6");
        assert_eq!(ip.next_header(), ipv6::FRAGMENT);
        let f = FragmentHeader::parse(ip.payload()).expect("fragment header");
        assert_eq!(f.next_header, ipv6::PROTO_UDP);
        assert_eq!(f.offset, next_off);
        assert_eq!(f.more, i < 2);
        next_off += ip.payload().len() - 8;
        idents.push(f.ident);
    }
    assert_eq!(next_off, 8 + big.len());
    assert!(idents.iter().all(|&x| x == idents[0]));
    settle(&mut p);
    let mut buf = [0u8; 8192];
    let r = p.b.udp_recv_from(ub, &mut buf).expect("small datagram");
    assert_eq!(&buf[..r.len], b"hello");
    assert_eq!(
        r.from,
        p.a.udp_local_addr(ua)
            .map(|a| SocketAddr::new(ip6(A6).into(), a.port()))
            .expect("local")
    );
    let r = p.b.udp_recv_from(ub, &mut buf).expect("large datagram");
    assert!(buf[..r.len] == big[..] && !r.truncated);
    assert_eq!(p.b.counters().ip_reassembled, 1);
    // The reply goes back over IPv6 to the `[::]` socket.
    p.b.udp_send_to(ub, b"back", r.from).expect("reply");
    settle(&mut p);
    let r = p.a.udp_recv_from(ua, &mut buf).expect("reply");
    assert_eq!((&buf[..r.len], r.from), (&b"back"[..], sa(B6, 5353)));
    // The same `[::]` socket sends to and receives from IPv4 too.
    p.a.udp_send_to(ua, b"four", sa(B, 5353))
        .expect("IPv4 from [::]");
    let ub4 = p.b.udp_bind(sa(B, 5353)).expect("IPv4 bind on the port");
    settle(&mut p);
    let r = p.b.udp_recv_from(ub4, &mut buf).expect("IPv4 datagram");
    assert_eq!(&buf[..r.len], b"four");
    assert!(r.from.is_ipv4());
    // An address of one family cannot send to the other.
    assert_eq!(
        p.b.udp_send_to(ub, b"x", sa(A, 9)).unwrap_err().kind(),
        ErrorKind::InvalidInput
    );
    assert_eq!(
        p.b.udp_send_to(ub4, b"x", sa(A6, 9)).unwrap_err().kind(),
        ErrorKind::InvalidInput
    );
}

#[test]
fn echo_is_answered_and_closed_ports_get_icmpv6_port_unreachable() {
    let mut s = stack6(B, B6, 5, |_| {});
    let (a, b) = (ip6(A6), ip6(B6));
    // Echo (RFC 4443 §4.2): the reply has the request's data.
    let req = Icmpv6Repr::EchoRequest {
        ident: 0x1234,
        seq_no: 7,
        data: b"ping6 payload",
    };
    s.receive(now0(), &icmp6(a, b, &req));
    let out = drain(&mut s, now0());
    assert_eq!(out.len(), 1);
    let (ip, msg) = parse_icmp6(&out[0]);
    assert_eq!((ip.src, ip.dst), (b, a));
    assert_eq!(
        msg,
        Icmpv6Repr::EchoReply {
            ident: 0x1234,
            seq_no: 7,
            data: b"ping6 payload"
        }
    );
    // To the all-nodes group: answered from our unicast address.
    let all_nodes = ip6("ff02::1");
    s.receive(now0(), &icmp6(a, all_nodes, &req));
    let out = drain(&mut s, now0());
    assert_eq!(out.len(), 1);
    assert_eq!(parse_icmp6(&out[0]).0.src, b);
    // UDP to a closed port: destination unreachable, code 4, quoting the
    // datagram from its IPv6 header on (§3.1).
    let dgram = packet6(a, b, ipv6::PROTO_UDP, &udp6(a, b, 4000, 9999, b"anyone?"));
    s.receive(now0(), &dgram);
    let out = drain(&mut s, now0());
    assert_eq!(out.len(), 1);
    let (_, msg) = parse_icmp6(&out[0]);
    assert_eq!(
        msg,
        Icmpv6Repr::DstUnreachable {
            code: icmpv6::unreachable::PORT,
            quoted: &dgram
        }
    );
    // ... but not to one sent to a multicast group (§2.4 (e)).
    s.receive(
        now0(),
        &packet6(
            a,
            all_nodes,
            ipv6::PROTO_UDP,
            &udp6(a, all_nodes, 4000, 9999, b"x"),
        ),
    );
    assert!(drain(&mut s, now0()).is_empty());
    // A bad ICMPv6 checksum is dropped and counted.
    let mut bad = icmp6(a, b, &req);
    bad[45] ^= 1;
    s.receive(now0(), &bad);
    assert!(drain(&mut s, now0()).is_empty());
    assert_eq!(
        drops(&s),
        vec![(DropReason::UdpNoSocket, 2), (DropReason::IcmpChecksum, 1)]
    );
}

#[test]
fn a_connected_udp_socket_learns_of_port_unreachable_over_ipv6() {
    let mut p = pair6(64);
    let u = p.a.udp_bind(sa(A6, 0)).expect("bind");
    p.a.udp_connect(u, sa(B6, 9)).expect("connect");
    p.a.udp_send_to(u, b"hello?", sa(B6, 9)).expect("send");
    settle(&mut p);
    assert_eq!(
        p.a.udp_recv_from(u, &mut [0u8; 16]).unwrap_err().kind(),
        ErrorKind::ConnectionRefused
    );
}

#[test]
fn tcp_to_a_closed_ipv6_port_is_reset() {
    let mut p = pair6(65);
    let c = p.a.tcp_connect(sa(B6, 4444), None).expect("connect");
    assert!(p.run_until(5, |p| p.a.tcp_state(c).ok() == Some(TcpState::Closed)));
    assert_eq!(
        p.a.tcp_take_error(c).expect("error").map(|e| e.kind()),
        Some(ErrorKind::ConnectionRefused)
    );
    assert_eq!(p.b.counters().tcp.rsts_out, 1);
}

#[test]
fn packet_too_big_lowers_the_path_mtu_never_below_1280() {
    let mut p = pair6(66);
    let server = sa(B6, 80);
    let l = p.b.tcp_listen(server, 8).expect("listen");
    let (c, s, _) = connect_accepted(&mut p, server, l);
    // A router with a 1400-byte link: A's packets above that die there
    // and the router answers each with Packet Too Big (RFC 8201 §4).
    let ptbs = std::rc::Rc::new(std::cell::RefCell::new(Vec::new()));
    let found = ptbs.clone();
    let router = ip6("2001:2::fe");
    p.filter = Box::new(move |to_b, pkt, _| {
        if to_b && pkt.len() > 1400 {
            let msg = Icmpv6Repr::PacketTooBig {
                mtu: 1400,
                quoted: pkt,
            };
            found.borrow_mut().push(icmp6(router, ip6(A6), &msg));
            return false;
        }
        true
    });
    let data: Vec<u8> = (0..100_000u32).map(|i| (i % 241) as u8).collect();
    let mut sent = 0;
    let mut got = Vec::new();
    let mut buf = vec![0u8; 65536];
    assert!(p.run_until(30, |p| {
        for pkt in ptbs.borrow_mut().drain(..) {
            p.a.receive(p.now, &pkt);
        }
        if sent < data.len() {
            if let Ok(n) = p.a.tcp_send(c, &data[sent..]) {
                sent += n;
            }
        }
        while let Ok(n) = p.b.tcp_recv(s, &mut buf) {
            if n == 0 {
                break;
            }
            got.extend_from_slice(&buf[..n]);
        }
        got.len() == data.len()
    }));
    assert!(got == data);
    let info = p.a.tcp_info(c).expect("info");
    assert_eq!(info.mss, 1400 - 60 - 12);
    assert!(info.counters.pmtu_reductions >= 1);
    // A report below IPv6's minimum MTU sets 1280 (RFC 8201 §4). It must
    // quote a segment in flight (RFC 5927): put one there.
    p.filter = Box::new(|_, _, _| false);
    p.a.tcp_send(c, &[1u8; 3000]).expect("send");
    p.flush();
    let inflight_seg = p
        .log
        .iter()
        .rev()
        .find(|x| x.1 && x.2.len() > 100)
        .map(|x| x.2.clone())
        .expect("a new segment");
    let low_now = Icmpv6Repr::PacketTooBig {
        mtu: 600,
        quoted: &inflight_seg,
    };
    p.a.receive(p.now, &icmp6(router, ip6(A6), &low_now));
    assert_eq!(p.a.tcp_info(c).expect("info").mss, 1280 - 60 - 12);
}

#[test]
fn ipv6_loopback_stays_in_the_host() {
    let mut s = stack6(A, A6, 9, |_| {});
    let l = s.tcp_listen(sa("::", 7), 4).expect("listen");
    let c = s.tcp_connect(sa("::1", 7), None).expect("connect");
    assert_eq!(s.tcp_local_addr(c).expect("local").ip(), ip6("::1"));
    let c2 = s
        .tcp_connect(sa(A6, 7), None)
        .expect("connect to our own address");
    let mut t = now0();
    let mut device = 0;
    let mut accepted = Vec::new();
    for _ in 0..50 {
        device += drain(&mut s, t).len();
        while let Ok((h, peer)) = s.tcp_accept(l) {
            accepted.push((h, peer));
        }
        t += std::time::Duration::from_millis(1);
        s.handle_timeout(t);
    }
    assert_eq!(device, 0, "nothing may reach the device");
    assert_eq!(accepted.len(), 2);
    assert_eq!(s.tcp_state(c).expect("state"), TcpState::Established);
    assert_eq!(s.tcp_state(c2).expect("state"), TcpState::Established);
    s.tcp_send(c, b"over ::1").expect("send");
    for _ in 0..5 {
        assert!(drain(&mut s, t).is_empty());
    }
    let mut buf = [0u8; 16];
    let n = s.tcp_recv(accepted[0].0, &mut buf).expect("recv");
    assert_eq!(&buf[..n], b"over ::1");
    // ::1 from the device is dropped (RFC 4291 §2.5.3).
    let spoof = packet6(
        ip6("::1"),
        ip6(A6),
        ipv6::PROTO_UDP,
        &udp6(ip6("::1"), ip6(A6), 1, 7, b"x"),
    );
    s.receive(t, &spoof);
    assert_eq!(drops(&s), vec![(DropReason::IpBadSource, 1)]);
}

/// Options and headers a host must act on (RFC 8200 §4).
#[test]
fn extension_headers_are_walked_and_refused_as_rfc_8200_says() {
    let mut s = stack6(B, B6, 5, |_| {});
    let (a, b) = (ip6(A6), ip6(B6));
    let u = s.udp_bind(sa(B6, 7)).expect("bind");
    let dgram = udp6(a, b, 1000, 7, b"through the options");
    // Hop-by-hop options (a PadN) and destination options, then UDP:
    // delivered.
    let mut payload = vec![ipv6::DEST_OPTS, 0, 1, 4, 0, 0, 0, 0];
    payload.extend_from_slice(&[ipv6::PROTO_UDP, 0, 1, 4, 0, 0, 0, 0]);
    payload.extend_from_slice(&dgram);
    s.receive(now0(), &packet6(a, b, ipv6::HOP_BY_HOP, &payload));
    let mut buf = [0u8; 64];
    let r = s.udp_recv_from(u, &mut buf).expect("delivered");
    assert_eq!(&buf[..r.len], b"through the options");
    // An unknown option whose type starts with bits 10: parameter problem
    // code 2 pointing at the option type (packet offset 40 + 2).
    let mut payload = vec![ipv6::PROTO_UDP, 0, 0x80, 4, 0, 0, 0, 0];
    payload.extend_from_slice(&dgram);
    let pkt = packet6(a, b, ipv6::DEST_OPTS, &payload);
    s.receive(now0(), &pkt);
    let out = drain(&mut s, now0());
    assert_eq!(out.len(), 1);
    assert_eq!(
        parse_icmp6(&out[0]).1,
        Icmpv6Repr::ParamProblem {
            code: icmpv6::param_problem::UNRECOGNIZED_OPTION,
            pointer: 42,
            quoted: &pkt
        }
    );
    // The same to the all-nodes group: code 2 may answer a multicast
    // packet (RFC 4443 §2.4 (e.3)), from our unicast address (§2.2).
    let to_all = packet6(a, ip6("ff02::1"), ipv6::DEST_OPTS, &payload);
    s.receive(now0(), &to_all);
    let out = drain(&mut s, now0());
    assert_eq!(out.len(), 1);
    let (ip, msg) = parse_icmp6(&out[0]);
    assert_eq!((ip.src, ip.dst), (b, a));
    assert!(matches!(
        msg,
        Icmpv6Repr::ParamProblem {
            code: 2,
            pointer: 42,
            ..
        }
    ));
    // A routing header with segments left: code 0 at the routing type.
    let mut payload = vec![ipv6::PROTO_UDP, 0, 4, 1, 0, 0, 0, 0];
    payload.extend_from_slice(&dgram);
    s.receive(now0(), &packet6(a, b, ipv6::ROUTING, &payload));
    let out = drain(&mut s, now0());
    assert!(matches!(
        parse_icmp6(&out[0]).1,
        Icmpv6Repr::ParamProblem {
            code: 0,
            pointer: 42,
            ..
        }
    ));
    // An unknown upper layer: code 1 at the next-header field that names
    // it (byte 6 of the fixed header, or byte 0 of the last extension).
    s.receive(now0(), &packet6(a, b, 253, b"what is this"));
    let out = drain(&mut s, now0());
    assert!(matches!(
        parse_icmp6(&out[0]).1,
        Icmpv6Repr::ParamProblem {
            code: 1,
            pointer: 6,
            ..
        }
    ));
    s.receive(
        now0(),
        &packet6(a, b, ipv6::DEST_OPTS, &[253, 0, 1, 4, 0, 0, 0, 0]),
    );
    let out = drain(&mut s, now0());
    assert!(matches!(
        parse_icmp6(&out[0]).1,
        Icmpv6Repr::ParamProblem {
            code: 1,
            pointer: 40,
            ..
        }
    ));
    // No next header: dropped in silence.
    s.receive(now0(), &packet6(a, b, ipv6::NO_NEXT, &[]));
    assert!(drain(&mut s, now0()).is_empty());
    // An option of type 01xxxxxx: dropped in silence.
    let mut payload = vec![ipv6::PROTO_UDP, 0, 0x40, 4, 0, 0, 0, 0];
    payload.extend_from_slice(&dgram);
    s.receive(now0(), &packet6(a, b, ipv6::DEST_OPTS, &payload));
    assert!(drain(&mut s, now0()).is_empty());
    // Not for us, and a zero UDP checksum (RFC 8200 §8.1): dropped.
    s.receive(
        now0(),
        &packet6(a, ip6("2001:2::99"), ipv6::PROTO_UDP, &dgram),
    );
    let mut zero = dgram.clone();
    zero[6..8].copy_from_slice(&[0, 0]);
    s.receive(now0(), &packet6(a, b, ipv6::PROTO_UDP, &zero));
    assert!(drain(&mut s, now0()).is_empty());
    assert_eq!(
        drops(&s),
        vec![
            (DropReason::IpNotForUs, 1),
            (DropReason::Ipv6ExtHeader, 4),
            (DropReason::UdpChecksum, 1),
            (DropReason::UnknownProtocol, 2),
        ]
    );
}

/// RFC 8200 §4.5: fragments reassembled whatever their order; an
/// incomplete datagram times out with Time Exceeded code 1 when its first
/// fragment came.
#[test]
fn ipv6_fragments_reassemble_and_time_out() {
    let mut s = stack6(B, B6, 5, |_| {});
    let (a, b) = (ip6(A6), ip6(B6));
    let u = s.udp_bind(sa(B6, 7)).expect("bind");
    let data: Vec<u8> = (0..2000u32).map(|i| (i * 3) as u8).collect();
    let dgram = udp6(a, b, 1000, 7, &data);
    let frag = |ident: u32, off: usize, end: usize| {
        let mut v = vec![0u8; 8];
        FragmentHeader {
            next_header: ipv6::PROTO_UDP,
            offset: off,
            more: end < dgram.len(),
            ident,
        }
        .emit(&mut v);
        v.extend_from_slice(&dgram[off..end]);
        packet6(a, b, ipv6::FRAGMENT, &v)
    };
    // Last first, then the first.
    s.receive(now0(), &frag(77, 1000, dgram.len()));
    s.receive(now0(), &frag(77, 0, 1000));
    let mut buf = [0u8; 4096];
    let r = s.udp_recv_from(u, &mut buf).expect("reassembled");
    assert!(buf[..r.len] == data[..]);
    // RFC 7112: a first fragment that stops inside the UDP header is
    // dropped with a parameter problem, code 3 (no reassembly starts).
    let mut v = vec![0u8; 8];
    FragmentHeader {
        next_header: ipv6::PROTO_UDP,
        offset: 0,
        more: true,
        ident: 76,
    }
    .emit(&mut v);
    v.extend_from_slice(&dgram[..4]);
    s.receive(now0(), &packet6(a, b, ipv6::FRAGMENT, &v));
    let out = drain(&mut s, now0());
    assert_eq!(out.len(), 1);
    assert!(matches!(
        parse_icmp6(&out[0]).1,
        Icmpv6Repr::ParamProblem {
            code: 3,
            pointer: 0,
            ..
        }
    ));
    // An atomic fragment (offset 0, no more): delivered at once.
    s.receive(now0(), &frag(78, 0, dgram.len()));
    assert_eq!(
        s.udp_recv_from(u, &mut buf).expect("atomic").len,
        data.len()
    );
    // Only the first half: 30 s later, Time Exceeded code 1; but none
    // about a fragmented ICMPv6 error (RFC 4443 §2.4 (e.1)).
    let first = frag(79, 0, 1000);
    s.receive(now0(), &first);
    let error = Icmpv6Repr::DstUnreachable {
        code: 4,
        quoted: &[0x60; 1500],
    };
    let mut error_bytes = vec![0u8; error.buffer_len()];
    error.emit(&mut error_bytes, a, b);
    let mut v = vec![0u8; 8];
    FragmentHeader {
        next_header: ipv6::PROTO_ICMPV6,
        offset: 0,
        more: true,
        ident: 80,
    }
    .emit(&mut v);
    v.extend_from_slice(&error_bytes[..1000]);
    s.receive(now0(), &packet6(a, b, ipv6::FRAGMENT, &v));
    assert!(drain(&mut s, now0()).is_empty());
    let later = now0() + std::time::Duration::from_secs(30);
    s.handle_timeout(later);
    let out = drain(&mut s, later);
    assert_eq!(out.len(), 1);
    let (ip, msg) = parse_icmp6(&out[0]);
    assert_eq!(ip.dst, a);
    assert!(
        matches!(msg, Icmpv6Repr::TimeExceeded { code: 1, quoted } if first.starts_with(quoted))
    );
    assert_eq!(
        drops(&s),
        vec![(DropReason::Ipv6ExtHeader, 1), (DropReason::FragTimeout, 2)]
    );
}

#[test]
fn ipv6_needs_an_mtu_of_1280_and_sockets_keep_to_their_family() {
    let mut c = Config::default();
    c.addresses
        .push(format!("{A6}/64").parse::<Cidr>().expect("cidr"));
    c.mtu = 1279;
    assert_eq!(
        Stack::new(c).err().map(|e| e.kind()),
        Some(ErrorKind::InvalidInput)
    );
    let mut s = stack6(A, A6, 1, |_| {});
    // An IPv4 socket does not reach IPv6, nor an IPv6 address IPv4.
    assert_eq!(
        s.tcp_connect(sa(B6, 80), Some(sa(A, 0)))
            .unwrap_err()
            .kind(),
        ErrorKind::InvalidInput
    );
    assert_eq!(
        s.tcp_connect(sa(B, 80), Some(sa(A6, 0)))
            .unwrap_err()
            .kind(),
        ErrorKind::InvalidInput
    );
    let u = s.udp_bind(sa("0.0.0.0", 0)).expect("bind");
    assert_eq!(
        s.udp_send_to(u, b"x", sa(B6, 9)).unwrap_err().kind(),
        ErrorKind::InvalidInput
    );
    // Addresses not ours, and no route: refused.
    assert_eq!(
        s.udp_bind(sa("2001:2::77", 0)).unwrap_err().kind(),
        ErrorKind::AddrNotAvailable
    );
    assert_eq!(
        s.tcp_connect(sa("2001:db8::1", 80), None)
            .unwrap_err()
            .kind(),
        ErrorKind::NetworkUnreachable
    );
    // Sums straight from the addresses give the pseudo-header of RFC
    // 8200 §8.1 (a check of the helper this file's packets rely on).
    let (x, y) = (ip6(A6), ip6(B6));
    let mut pseudo = Vec::new();
    pseudo.extend_from_slice(&x.octets());
    pseudo.extend_from_slice(&y.octets());
    pseudo.extend_from_slice(&[0, 0, 0, 8, 0, 0, 0, 17]);
    assert_eq!(
        checksum::fold(checksum::pseudo_header(x.into(), y.into(), 17, 8)),
        checksum::fold(checksum::accumulate(0, &pseudo))
    );
}

/// SYN cookies (RFC 4987) over IPv6: with the SYN queue full, the
/// listener answers statelessly, and the cookie's ACK makes the
/// connection (the MSS offered is the IPv6 one).
#[test]
fn syn_cookies_work_over_ipv6() {
    let mut p = pair6(67);
    let l = p.b.tcp_listen(sa(B6, 443), 1).expect("listen");
    let clients: Vec<SocketHandle> = (0..3)
        .map(|_| p.a.tcp_connect(sa(B6, 443), None).expect("connect"))
        .collect();
    // Each client speaks first: a cookie ACK that found the accept queue
    // full (dropped, as Linux does) is repaired by the data's ACK.
    for c in &clients {
        p.a.tcp_send(*c, b"hello").expect("queued");
    }
    let mut accepted = Vec::new();
    assert!(p.run_until(10, |p| {
        while let Ok((h, peer)) = p.b.tcp_accept(l) {
            accepted.push((h, peer));
        }
        accepted.len() == 3
    }));
    assert!(p.b.counters().syn_cookies_sent >= 1, "{:?}", p.b.counters());
    for c in &clients {
        assert_eq!(p.a.tcp_state(*c).expect("state"), TcpState::Established);
        assert_eq!(p.a.tcp_info(*c).expect("info").mss, 1440 - 12);
    }
    let mut peers: Vec<SocketAddr> = accepted.iter().map(|x| x.1).collect();
    let mut locals: Vec<SocketAddr> = clients
        .iter()
        .map(|c| p.a.tcp_local_addr(*c).expect("local"))
        .collect();
    peers.sort();
    locals.sort();
    assert_eq!(peers, locals);
    // The cookie SYN-ACK (sent with no connection to hold a label) has
    // the label of the connection the cookie made.
    for l in locals {
        let labels = labels_of(&flows(&p.log, false), 443, l.port());
        assert_eq!(labels.len(), 1, "{labels:x?}");
    }
}

/// RFC 7739 §5.3.2: Fragment identifications are a keyed hash of the
/// destination plus a shared counter: consecutive to one destination,
/// unrelated between destinations.
#[test]
fn fragment_identifications_differ_per_destination() {
    let mut s = stack6(B, B6, 5, |_| {});
    let u = s.udp_bind(sa("::", 5000)).expect("bind");
    let big = [0u8; 3000];
    let ident_to = |s: &mut Stack, to: &str| {
        s.udp_send_to(u, &big, sa(to, 9)).expect("send");
        let out = drain(s, now0());
        let ip = Ipv6Packet::new_checked(&out[0][..]).expect("IPv6");
        FragmentHeader::parse(ip.payload())
            .expect("a fragment")
            .ident
    };
    let x1 = ident_to(&mut s, A6);
    let y = ident_to(&mut s, "2001:2::3");
    let x2 = ident_to(&mut s, A6);
    assert_eq!(x2, x1.wrapping_add(2), "one shared counter");
    assert_ne!(
        y,
        x1.wrapping_add(1),
        "another destination's offset differs"
    );
}

/// (source port, destination port, flow label, payload length) of every
/// IPv6 TCP or UDP packet in the log sent towards B (`to_b`) or A.
fn flows(log: &[LogEntry], to_b: bool) -> Vec<(u16, u16, u32, usize)> {
    log.iter()
        .filter(|e| e.1 == to_b)
        .filter_map(|e| {
            let ip = Ipv6Packet::new_checked(&e.2[..]).ok()?;
            let repr = Ipv6Repr::parse(&ip).ok()?;
            let t = &e.2[40..];
            let ports = (
                u16::from_be_bytes([t[0], t[1]]),
                u16::from_be_bytes([t[2], t[3]]),
            );
            let len = match repr.next_header {
                ipv6::PROTO_TCP => TcpPacket::new_checked(t).ok()?.payload().len(),
                _ => t.len(),
            };
            Some((ports.0, ports.1, repr.flow_label, len))
        })
        .collect()
}

/// The distinct labels of the packets from `sport` to `dport`, in order.
fn labels_of(f: &[(u16, u16, u32, usize)], sport: u16, dport: u16) -> Vec<u32> {
    let mut v: Vec<u32> = Vec::new();
    for &(s, d, l, _) in f {
        if (s, d) == (sport, dport) && v.last() != Some(&l) {
            v.push(l);
        }
    }
    v
}

/// RFC 6437 §3: every packet of a flow carries one non-zero label (a keyed
/// hash of its addresses, ports and protocol, as Linux's automatic
/// labels); other flows get others; a retransmission timeout moves the
/// connection to a new label (Linux's txrehash).
#[test]
fn flow_labels_are_per_flow_and_change_on_a_timeout() {
    let mut p = pair6(71);
    let l = p.b.tcp_listen(sa(B6, 80), 8).expect("listen");
    let (c, s, _) = connect_accepted(&mut p, sa(B6, 80), l);
    let (c2, s2, _) = connect_accepted(&mut p, sa(B6, 80), l);
    let port = p.a.tcp_local_addr(c).expect("local").port();
    let port2 = p.a.tcp_local_addr(c2).expect("local").port();
    // A's first data segments are lost, the probe and the retransmissions
    // after timeouts with them.
    let mut lost = 0;
    p.filter = Box::new(move |to_b, pkt, _| {
        let data = to_b && pkt.len() > 40 + 20 + 12;
        if data && lost < 6 {
            lost += 1;
            return false;
        }
        true
    });
    let got = transfer(&mut p, c, s, &[7u8; 3000]);
    assert_eq!(got.len(), 3000);
    let timeouts = p.a.tcp_info(c).expect("info").counters.timeouts;
    assert!(timeouts >= 1, "no timeout fired");
    let f = flows(&p.log, true);
    let a_labels = labels_of(&f, port, 80);
    assert_eq!(a_labels.len() as u64, 1 + timeouts, "{a_labels:x?}");
    assert!(a_labels.iter().all(|&l| l != 0 && l <= 0xF_FFFF));
    // B's side had no timeout: one label, its own.
    let b_labels = labels_of(&flows(&p.log, false), 80, port);
    assert_eq!(b_labels.len(), 1, "{b_labels:x?}");
    assert_ne!(b_labels[0], 0);
    assert_ne!(b_labels[0], a_labels[0]);
    // The second connection: labels of its own, unchanged.
    let a2 = labels_of(&f, port2, 80);
    assert_eq!(a2.len(), 1);
    assert!(a2[0] != 0 && !a_labels.contains(&a2[0]));
    let _ = (s2, c2);
}

#[test]
fn udp_flow_labels_and_switching_them_off() {
    let mut p = pair6(72);
    let a = p.a.udp_bind(sa(A6, 5000)).expect("bind");
    let _b7 = p.b.udp_bind(sa(B6, 7)).expect("bind");
    let _b8 = p.b.udp_bind(sa(B6, 8)).expect("bind");
    for (to, len) in [(7, 100), (7, 5000), (8, 100)] {
        p.a.udp_send_to(a, &vec![1u8; len], sa(B6, to))
            .expect("sent");
    }
    settle(&mut p);
    // A Fragment header (44) follows the IPv6 header in the fragments.
    let f: Vec<u32> = p
        .log
        .iter()
        .filter(|e| e.1)
        .map(|e| {
            Ipv6Repr::parse(&Ipv6Packet::new_checked(&e.2[..]).expect("IPv6"))
                .expect("header")
                .flow_label
        })
        .collect();
    assert!(f.len() >= 5, "{f:x?}");
    let (to7, to8) = (&f[..f.len() - 1], f[f.len() - 1]);
    assert!(to7.iter().all(|&l| l == to7[0] && l != 0), "{f:x?}");
    assert!(to8 != 0 && to8 != to7[0], "{f:x?}");

    let mut p = Pair::with(
        stack6(A, A6, 73, |c| c.ipv6_flow_labels = false),
        stack6(B, B6, 1073, |c| c.ipv6_flow_labels = false),
    );
    let l = p.b.tcp_listen(sa(B6, 80), 8).expect("listen");
    let (c, s, _) = connect_accepted(&mut p, sa(B6, 80), l);
    assert_eq!(transfer(&mut p, c, s, b"hello").len(), 5);
    let a = p.a.udp_bind(sa(A6, 5000)).expect("bind");
    p.a.udp_send_to(a, b"x", sa(B6, 9)).expect("sent");
    settle(&mut p);
    let all: Vec<&LogEntry> = p.log.iter().collect();
    assert!(all.len() > 8);
    for e in all {
        let repr =
            Ipv6Repr::parse(&Ipv6Packet::new_checked(&e.2[..]).expect("IPv6")).expect("header");
        assert_eq!(repr.flow_label, 0);
    }
}

/// A → B over IPv6 through a path that silently drops packets above
/// `limit` bytes, A probing as `mode` says; 4 MB sent, checked intact.
/// Returns A's connection info.
fn probe_v6_black_hole(limit: usize, mode: ustack::MtuProbing) -> ustack::TcpInfo {
    let mut p = Pair::with(
        stack6(A, A6, 71, |c| c.tcp.mtu_probing = mode),
        stack6(B, B6, 1071, |_| {}),
    );
    p.filter = Box::new(move |_, pkt, _| pkt.len() <= limit);
    let server = sa(B6, 80);
    let l = p.b.tcp_listen(server, 8).expect("listen");
    let (c, s, _) = connect_accepted(&mut p, server, l);
    if mode == ustack::MtuProbing::Always {
        // RFC 8200 §5: never below 1 280 bytes (1 208 with timestamps).
        assert_eq!(p.a.tcp_info(c).expect("info").mss, 1208);
    }
    let data: Vec<u8> = (0..4_000_000u32).map(|i| (i % 253) as u8).collect();
    assert_eq!(transfer(&mut p, c, s, &data), data);
    p.a.tcp_info(c).expect("info")
}

#[test]
fn mtu_probing_over_ipv6_keeps_to_1280_and_finds_the_path() {
    // IPv6 headers: 40 + 20 + 12 (timestamps).
    let info = probe_v6_black_hole(1400, ustack::MtuProbing::Always);
    let n = info.counters;
    assert!(
        info.mss + 72 <= 1400 && info.mss + 72 > 1392,
        "{} {n:?}",
        info.mss
    );
    assert_eq!((n.timeouts, n.fast_retransmits), (0, 0), "{n:?}");
    // Black-hole detection falls to IPv6's minimum, not to 1 024 bytes.
    let info = probe_v6_black_hole(1300, ustack::MtuProbing::BlackHole);
    let n = info.counters;
    assert_eq!(n.black_hole_reductions, 1, "{n:?}");
    assert!(
        info.mss + 72 <= 1300 && info.mss + 72 > 1292,
        "{} {n:?}",
        info.mss
    );
}
