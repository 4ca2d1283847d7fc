//! Path MTU discovery (RFC 1191, RFC 1122 §4.2.3.9): an ICMP
//! "fragmentation needed" about a segment in flight lowers the
//! connection's MSS, what was too big is resent at once in pieces without
//! a congestion reaction, the estimate serves new connections to that
//! destination for ten minutes, and it is never raised by a message nor
//! taken below 552 bytes (then DF is cleared instead). And black-hole
//! detection (RFC 4821 §3, RFC 2923 §2.1) for paths that send no ICMP.
mod common;
mod scripted;

use scripted::*;
use std::net::Ipv4Addr;
use std::time::Duration;
use ustack::wire::icmpv4::{unreachable, Icmpv4Repr};
use ustack::wire::ipv4::{self, Ipv4Packet, Ipv4Repr};
use ustack::wire::tcp::TcpPacket;
use ustack::DropReason;

/// A router between the stack and its peer.
const ROUTER_IP: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 254);

/// One packet the stack sent, as the path sees it.
#[derive(Debug, Clone)]
struct Out {
    bytes: Vec<u8>,
    seq: u32,
    payload: usize,
    df: bool,
}

/// Everything the stack sends now.
fn sent(h: &mut Harness) -> Vec<Out> {
    let mut out = Vec::new();
    let mut buf = vec![0u8; 65536];
    while let Some(n) = h.stack.poll_transmit(h.now, &mut buf) {
        let bytes = buf[..n].to_vec();
        let ip = Ipv4Packet::new_checked(&bytes[..]).expect("valid IPv4");
        let df = Ipv4Repr::parse(&ip).expect("IPv4 repr").dont_frag;
        let tcp = TcpPacket::new_checked(ip.payload()).expect("TCP");
        let (seq, payload) = (tcp.seq(), tcp.payload().len());
        out.push(Out {
            bytes,
            seq,
            payload,
            df,
        });
        assert!(out.len() < 10_000, "poll_transmit never ends");
    }
    out
}

/// What a router on a link of `mtu` bytes answers to `refused` (RFC 792:
/// the IP header and the first 8 bytes of the datagram; RFC 1191 §4: the
/// next hop's MTU in the unused field, 0 from an old router).
fn frag_needed(refused: &[u8], mtu: u16) -> Vec<u8> {
    let msg = Icmpv4Repr::DstUnreachable {
        code: unreachable::FRAG_NEEDED,
        next_hop_mtu: mtu,
        quoted: &refused[..28],
    };
    let mut icmp = vec![0u8; msg.buffer_len()];
    msg.emit(&mut icmp);
    let ip = Ipv4Repr {
        src: ROUTER_IP,
        dst: STACK_IP,
        protocol: ipv4::PROTO_ICMP,
        payload_len: icmp.len(),
        ttl: 64,
        ident: 1,
        dont_frag: false,
        more_frags: false,
        frag_offset: 0,
        dscp_ecn: 0,
    };
    let mut pkt = vec![0u8; ipv4::HEADER_LEN + icmp.len()];
    ip.emit(&mut pkt[..ipv4::HEADER_LEN]);
    pkt[ipv4::HEADER_LEN..].copy_from_slice(&icmp);
    pkt
}

fn feed(h: &mut Harness, pkt: &[u8]) {
    h.stack.receive(h.now, pkt);
}

/// An established connection (MSS 1460, Nagle off) that has just sent
/// `n` full segments, as the path saw them.
fn in_flight(n: usize) -> (Harness, Conn, Vec<Out>) {
    let mut h = Harness::new();
    let c = h.active_open_rtt(Duration::from_millis(20));
    h.stack.tcp_set_nodelay(c.h, true).unwrap();
    let data: Vec<u8> = (0..n * 1460).map(|i| (i % 251) as u8).collect();
    assert_eq!(h.stack.tcp_send(c.h, &data).unwrap(), data.len());
    let out = sent(&mut h);
    assert_eq!(out.len(), n);
    for o in &out {
        assert_eq!(
            (o.bytes.len(), o.payload, o.df),
            (1500, 1460, true),
            "{o:?}"
        );
    }
    (h, c, out)
}

/// Asserts `out` covers [from, to) in order without gaps, each packet at
/// most `mtu` bytes.
#[track_caller]
fn covers(out: &[Out], from: u32, to: u32, mtu: usize) {
    let mut at = from;
    for o in out {
        assert_eq!(o.seq, at, "contiguous, in order: {out:?}");
        assert!(
            o.bytes.len() <= mtu,
            "{} bytes over a {mtu}-byte path",
            o.bytes.len()
        );
        at = at.wrapping_add(o.payload as u32);
    }
    assert_eq!(at, to, "everything covered");
}

#[test]
fn frag_needed_lowers_the_mss_and_resends_what_was_too_big() {
    let (mut h, c, out) = in_flight(4);
    let before = h.stack.tcp_info(c.h).unwrap();
    // The router drops the second segment and says its link has 1280.
    feed(&mut h, &frag_needed(&out[1].bytes, 1280));
    let info = h.stack.tcp_info(c.h).unwrap();
    assert_eq!(info.mss, 1240, "1280 − 40 bytes of headers");
    assert_eq!(info.counters.pmtu_reductions, 1);
    // Not congestion (Linux's tcp_simple_retransmit): no recovery, no
    // new ssthresh; the initial window is still ten segments, now of the
    // new size (it is counted in segments, as Linux's).
    assert_eq!(info.ssthresh, before.ssthresh);
    assert!(!info.in_recovery);
    assert_eq!((before.cwnd, info.cwnd), (10 * 1460, 10 * 1240));
    // Every segment too big for the path is resent at once, in pieces
    // (each original split at the new MSS, as Linux's tcp_fragment).
    let re = sent(&mut h);
    covers(&re, c.s(0), c.s(4 * 1460), 1280);
    assert_eq!(
        re.iter().map(|o| o.payload).collect::<Vec<_>>(),
        [1240, 220, 1240, 220, 1240, 220, 1240, 220]
    );
    assert!(re.iter().all(|o| o.df), "DF stays set");
    assert_eq!(h.stack.tcp_info(c.h).unwrap().counters.retransmits, 8);
    // The peer acknowledges it all; new data goes out at the new size.
    h.advance_ms(20);
    h.inject(c.p(0), c.s(4 * 1460), ACK, 65535, no_opts(), &[]);
    h.stack.tcp_send(c.h, &[7u8; 3000]).unwrap();
    let new = sent(&mut h);
    covers(&new, c.s(4 * 1460), c.s(4 * 1460 + 3000), 1280);
    assert_eq!(
        new.iter().map(|o| o.payload).collect::<Vec<_>>(),
        [1240, 1240, 520]
    );
    // RFC 1191 §3: a "fragmentation needed" never raises the estimate.
    feed(&mut h, &frag_needed(&new[0].bytes, 1400));
    assert_eq!(h.stack.tcp_info(c.h).unwrap().mss, 1240);
    assert!(sent(&mut h).is_empty(), "nothing resent");
    // RFC 5927 §4.1: one quoting a sequence number not in flight is
    // ignored (and counted), whatever MTU it claims.
    let unmatched = h.drops(DropReason::IcmpUnmatched);
    feed(&mut h, &frag_needed(&out[0].bytes, 600));
    assert_eq!(h.drops(DropReason::IcmpUnmatched), unmatched + 1);
    let info = h.stack.tcp_info(c.h).unwrap();
    assert_eq!((info.mss, info.counters.pmtu_reductions), (1240, 1));
}

#[test]
fn sacked_pieces_of_a_split_segment_are_not_resent() {
    // SACK on: the peer's blocks describe the pieces sent after the MTU
    // fell, and the scoreboard follows them.
    let mut h = Harness::new();
    let opts = ustack::wire::tcp::TcpOptions {
        mss: Some(1460),
        sack_permitted: true,
        ..Default::default()
    };
    let (_l, c) = h.passive_open_with(65535, opts);
    h.stack.tcp_set_nodelay(c.h, true).unwrap();
    h.stack.tcp_send(c.h, &[1u8; 2 * 1460]).unwrap();
    let out = sent(&mut h);
    assert_eq!(out.len(), 2);
    feed(&mut h, &frag_needed(&out[0].bytes, 1000));
    let re = sent(&mut h);
    covers(&re, c.s(0), c.s(2 * 1460), 1000);
    assert_eq!(
        re.iter().map(|o| o.payload).collect::<Vec<_>>(),
        [960, 500, 960, 500]
    );
    // The first piece is lost again; the rest arrive and are SACKed.
    h.advance_ms(20);
    let mut o = ustack::wire::tcp::TcpOptions::default();
    o.sack_blocks[0] = Some((c.s(960), c.s(2 * 1460)));
    for _ in 0..3 {
        h.inject(c.p(0), c.s(0), ACK, 65535, o, &[]);
    }
    // Recovery resends the hole only, once RACK or the RTO judges it lost.
    let deadline = h.now + Duration::from_secs(3);
    let mut resent = Vec::new();
    while resent.is_empty() && h.now < deadline {
        resent = sent(&mut h);
        if resent.is_empty() {
            let next = h.poll_at().expect("a timer is armed");
            h.advance_to(next);
        }
    }
    assert_eq!(
        resent
            .iter()
            .map(|o| (o.seq, o.payload))
            .collect::<Vec<_>>(),
        [(c.s(0), 960)],
        "only the hole, never a SACKed piece"
    );
}

#[test]
fn the_estimate_serves_new_connections_for_ten_minutes() {
    let (mut h, c, out) = in_flight(2);
    feed(&mut h, &frag_needed(&out[0].bytes, 1400));
    assert_eq!(h.stack.tcp_info(c.h).unwrap().mss, 1360);
    assert_eq!(sent(&mut h).len(), 4, "both resent in two pieces each");
    // A second connection to the same host (the peer offers MSS 1460).
    h.stack_port = STACK_PORT + 1;
    let c2 = h.active_open_rtt(Duration::from_millis(20));
    assert_eq!(h.stack.tcp_info(c2.h).unwrap().mss, 1360);
    // The second connection learns 1300; then the first hears 1340 about
    // a segment of its own: it goes down to 1340, and the destination
    // keeps the smaller estimate for the next connection.
    h.stack.tcp_send(c2.h, &[5u8; 1360]).unwrap();
    let o2 = sent(&mut h);
    assert_eq!(o2.len(), 1);
    feed(&mut h, &frag_needed(&o2[0].bytes, 1300));
    assert_eq!(h.stack.tcp_info(c2.h).unwrap().mss, 1260);
    sent(&mut h);
    h.stack.tcp_send(c.h, &[6u8; 1360]).unwrap();
    let o1 = sent(&mut h);
    assert_eq!((o1.len(), o1[0].bytes.len()), (1, 1400));
    feed(&mut h, &frag_needed(&o1[0].bytes, 1340));
    assert_eq!(h.stack.tcp_info(c.h).unwrap().mss, 1300);
    sent(&mut h);
    h.stack_port = STACK_PORT + 3;
    h.peer_port = PEER_PORT + 3;
    let c4 = h.active_open_rtt(Duration::from_millis(20));
    assert_eq!(h.stack.tcp_info(c4.h).unwrap().mss, 1260);
    // RFC 1191 §6.3: forgotten after ten minutes.
    h.advance(Duration::from_secs(601));
    sent(&mut h); // the first connection's retransmissions
    h.stack_port = STACK_PORT + 2;
    h.peer_port = PEER_PORT + 2;
    let c3 = h.active_open_rtt(Duration::from_millis(20));
    assert_eq!(h.stack.tcp_info(c3.h).unwrap().mss, 1460);
}

#[test]
fn an_old_router_reporting_no_mtu_gets_the_plateau_below() {
    // RFC 1191 §7: next-hop MTU 0 about a 1500-byte datagram: 1492.
    let (mut h, c, out) = in_flight(1);
    feed(&mut h, &frag_needed(&out[0].bytes, 0));
    assert_eq!(h.stack.tcp_info(c.h).unwrap().mss, 1452);
    let re = sent(&mut h);
    covers(&re, c.s(0), c.s(1460), 1492);
}

#[test]
fn a_report_below_552_bytes_sets_552_and_clears_df() {
    // As Linux (min_pmtu): a forged or broken report cannot shrink the
    // segments below 512 bytes; DF is cleared so that a router on a
    // really smaller link fragments them.
    let (mut h, c, out) = in_flight(1);
    feed(&mut h, &frag_needed(&out[0].bytes, 300));
    assert_eq!(h.stack.tcp_info(c.h).unwrap().mss, 512);
    let re = sent(&mut h);
    covers(&re, c.s(0), c.s(1460), 552);
    assert!(re.iter().all(|o| !o.df), "DF cleared: {re:?}");
    // At the floor, a second report changes nothing.
    feed(&mut h, &frag_needed(&re[0].bytes, 100));
    assert_eq!(h.stack.tcp_info(c.h).unwrap().counters.pmtu_reductions, 1);
}

/// Two stacks whose path silently drops packets longer than `limit`
/// (a Path MTU black hole: no ICMP), A with black-hole detection
/// `detect`; a connection A → B. Returns the pair and the handles.
fn black_hole(
    limit: usize,
    detect: bool,
) -> (common::Pair, ustack::SocketHandle, ustack::SocketHandle) {
    use common::*;
    let mut p = Pair::with(
        stack_with(A, 81, |c| c.tcp.black_hole_detection = detect),
        stack(B, 1081),
    );
    p.filter = Box::new(move |_, pkt, _| pkt.len() <= limit);
    let server = std::net::SocketAddr::new(B.parse().expect("B"), 80);
    let l = p.b.tcp_listen(server, 8).expect("listen");
    let c = p.a.tcp_connect(server, None).expect("connect");
    let mut s = None;
    assert!(p.run_until(5, |p| {
        s = s.or(p.b.tcp_accept(l).ok().map(|x| x.0));
        s.is_some()
    }));
    (p, c, s.expect("accepted"))
}

#[test]
fn a_black_hole_lowers_the_mss_to_1024_then_halves_it() {
    let data: Vec<u8> = (0..60_000u32).map(|i| (i % 251) as u8).collect();
    // 1 100 bytes pass: the first step (MSS 1 024, 1 076-byte packets
    // with timestamps) is enough.
    let (mut p, c, s) = black_hole(1100, true);
    assert_eq!(common::transfer(&mut p, c, s, &data), data);
    let info = p.a.tcp_info(c).expect("info");
    assert_eq!(info.mss, 1024);
    assert_eq!(info.counters.black_hole_reductions, 1);
    assert!(info.counters.timeouts >= 3, "{:?}", info.counters);
    // 600 bytes: two steps (1 024, then 512), after which A's segments
    // are at most 512 + 52 bytes long and all arrive.
    let (mut p, c, s) = black_hole(600, true);
    assert_eq!(common::transfer(&mut p, c, s, &data), data);
    let info = p.a.tcp_info(c).expect("info");
    assert_eq!((info.mss, info.counters.black_hole_reductions), (512, 2));
    let to_b: Vec<&common::LogEntry> = p.log.iter().filter(|e| e.1).collect();
    let last_lost = to_b.iter().rposition(|e| !e.3).expect("losses");
    let after = &to_b[last_lost + 1..];
    assert!(after.len() > 100 && after.iter().all(|e| e.2.len() <= 564));
}

#[test]
fn without_detection_a_black_hole_stalls_the_connection() {
    let (mut p, c, s) = black_hole(1100, false);
    p.a.tcp_send(c, &[1u8; 5000]).expect("queued");
    // 30 s: five timeouts at least, every retransmission full-size.
    let mut got = 0;
    let mut buf = [0u8; 8192];
    assert!(!p.run_until(30, |p| {
        got += p.b.tcp_recv(s, &mut buf).unwrap_or(0);
        got == 5000
    }));
    let info = p.a.tcp_info(c).expect("info");
    assert!(info.counters.timeouts >= 5, "{:?}", info.counters);
    assert_eq!(info.counters.black_hole_reductions, 0);
    assert_eq!(info.mss, 1448);
}
