//! Path MTU discovery (RFC 1191, RFC 1122 §4.2.3.9): an ICMP
//! "fragmentation needed" about a segment in flight lowers the
//! connection's MSS, what was too big is resent at once in pieces without
//! a congestion reaction, the estimate serves new connections to that
//! destination for ten minutes, and it is never raised by a message nor
//! taken below 552 bytes (then DF is cleared instead). And black-hole
//! detection (RFC 4821 §3, RFC 2923 §2.1) for paths that send no ICMP,
//! and the probes that search for the path's MTU (RFC 4821 §7).
mod common;
mod scripted;

use scripted::*;
use std::cell::Cell;
use std::net::Ipv4Addr;
use std::rc::Rc;
use std::time::Duration;
use ustack::wire::icmpv4::{unreachable, Icmpv4Repr};
use ustack::wire::ipv4::{self, Ipv4Packet, Ipv4Repr};
use ustack::wire::tcp::TcpPacket;
use ustack::DropReason;
use ustack::MtuProbing;

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
/// (a Path MTU black hole: no ICMP), A with `mode` of MTU probing; a
/// connection A → B. Returns the pair and the handles.
fn black_hole(
    limit: usize,
    mode: MtuProbing,
) -> (common::Pair, ustack::SocketHandle, ustack::SocketHandle) {
    let limit = Rc::new(Cell::new(limit));
    black_hole_with(limit, mode)
}

/// `black_hole` with a limit the test may change as it goes.
fn black_hole_with(
    limit: Rc<Cell<usize>>,
    mode: MtuProbing,
) -> (common::Pair, ustack::SocketHandle, ustack::SocketHandle) {
    use common::*;
    let mut p = Pair::with(
        stack_with(A, 81, |c| c.tcp.mtu_probing = mode),
        stack(B, 1081),
    );
    p.filter = Box::new(move |_, pkt, _| pkt.len() <= limit.get());
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

fn pattern(n: u32) -> Vec<u8> {
    (0..n).map(|i| (i % 251) as u8).collect()
}

/// A's packets to B: (length, passed), in order.
fn a_to_b(p: &common::Pair) -> Vec<(usize, bool)> {
    p.log
        .iter()
        .filter(|e| e.1)
        .map(|e| (e.2.len(), e.3))
        .collect()
}

/// Checks that probing ended within the search's 8-byte threshold below
/// `limit`: A's MSS fills a packet (with timestamps, 52 bytes of
/// headers) of more than `limit` - 8 bytes and at most `limit`; after
/// the last loss, every packet got through.
fn settled_below(p: &common::Pair, c: ustack::SocketHandle, limit: usize) {
    let info = p.a.tcp_info(c).expect("info");
    let mtu = info.mss + 52;
    assert!(
        mtu <= limit && mtu > limit - 8,
        "mss {} for a {limit}-byte path: {:?}",
        info.mss,
        info.counters
    );
    let log = a_to_b(p);
    let last_lost = log.iter().rposition(|e| !e.1).expect("losses");
    let after = &log[last_lost + 1..];
    assert!(
        after.len() > 100 && after.iter().any(|e| e.0 == mtu),
        "{} packets after the last loss",
        after.len()
    );
}

#[test]
fn a_black_hole_lowers_the_mss_to_1024_then_probes_find_the_path_mtu() {
    let data = pattern(4_000_000);
    // 1 100 bytes pass: the first step (MSS 1 024, 1 076-byte packets
    // with timestamps) is enough; then probes search between 1 076 and
    // 1 500 bytes.
    let (mut p, c, s) = black_hole(1100, MtuProbing::BlackHole);
    assert_eq!(common::transfer(&mut p, c, s, &data), data);
    let info = p.a.tcp_info(c).expect("info");
    let n = info.counters;
    assert_eq!(n.black_hole_reductions, 1);
    assert_eq!(n.pmtu_reductions, 0, "no ICMP came: {n:?}");
    assert!(n.timeouts >= 3, "{n:?}");
    assert!(n.mtu_probes >= 4 && n.mtu_probe_successes >= 1, "{n:?}");
    assert!(n.mtu_probes > n.mtu_probe_successes, "some are lost: {n:?}");
    // RFC 4821 §7.6.2: a lost probe is not a congestion signal.
    assert_eq!(n.fast_retransmits, 0, "{n:?}");
    settled_below(&p, c, 1100);
    // 600 bytes: two steps (1 024, then 512), then the search.
    let (mut p, c, s) = black_hole(600, MtuProbing::BlackHole);
    assert_eq!(common::transfer(&mut p, c, s, &data), data);
    let n = p.a.tcp_info(c).expect("info").counters;
    assert_eq!(n.black_hole_reductions, 2, "{n:?}");
    assert!(n.mtu_probe_successes >= 1, "{n:?}");
    settled_below(&p, c, 600);
    // 560 bytes: three steps, the last to the 552-byte floor, where DF is
    // cleared; the probes above it still carry DF (RFC 4821 §7.5), and
    // the size they find has it again.
    let (mut p, c, s) = black_hole(560, MtuProbing::BlackHole);
    assert_eq!(common::transfer(&mut p, c, s, &data), data);
    let n = p.a.tcp_info(c).expect("info").counters;
    assert_eq!(n.black_hole_reductions, 3, "{n:?}");
    settled_below(&p, c, 560);
    let df = |pkt: &[u8]| pkt[6] & 0x40 != 0;
    let to_b: Vec<&common::LogEntry> = p.log.iter().filter(|e| e.1).collect();
    assert!(
        to_b.iter().any(|e| e.2.len() == 552 && !df(&e.2)),
        "DF cleared at the floor"
    );
    assert!(
        to_b.iter().filter(|e| e.2.len() > 552).all(|e| df(&e.2)),
        "probes carry DF"
    );
    assert!(
        df(&to_b.last().expect("packets").2),
        "the path found is sent with DF"
    );
}

#[test]
fn always_probing_climbs_to_the_full_mss_on_a_clean_path() {
    let data = pattern(4_000_000);
    let (mut p, c, s) = black_hole(1500, MtuProbing::Always);
    // Linux's tcp_mtu_probing = 2: it starts at the base MSS.
    assert_eq!(p.a.tcp_info(c).expect("info").mss, 1024);
    assert_eq!(common::transfer(&mut p, c, s, &data), data);
    let info = p.a.tcp_info(c).expect("info");
    // Up to the interface's 1 500 bytes exactly (the ceiling is tried last).
    assert_eq!(info.mss, 1448, "{:?}", info.counters);
    let n = info.counters;
    assert_eq!(n.mtu_probes, n.mtu_probe_successes, "{n:?}");
    assert!(n.mtu_probes >= 2, "{n:?}");
    assert_eq!(n.retransmits, 0, "{n:?}");
}

#[test]
fn always_probing_finds_a_black_hole_without_a_timeout() {
    let data = pattern(4_000_000);
    let (mut p, c, s) = black_hole(1100, MtuProbing::Always);
    assert_eq!(common::transfer(&mut p, c, s, &data), data);
    let n = p.a.tcp_info(c).expect("info").counters;
    // Only probes were lost, each found from the ACKs of the segments
    // after it, without a timeout or a window reduction.
    assert_eq!(
        (n.timeouts, n.fast_retransmits, n.black_hole_reductions),
        (0, 0, 0),
        "{n:?}"
    );
    assert!(n.mtu_probes > n.mtu_probe_successes, "{n:?}");
    let lost = a_to_b(&p).iter().filter(|e| !e.1).count() as u64;
    assert_eq!(
        lost,
        n.mtu_probes - n.mtu_probe_successes,
        "only probes were lost"
    );
    settled_below(&p, c, 1100);
}

#[test]
fn the_search_starts_again_after_ten_minutes() {
    // RFC 4821 §7.7 (Linux's tcp_probe_interval): a path that got wider
    // is found by the next search.
    let limit = Rc::new(Cell::new(1100));
    let (mut p, c, s) = black_hole_with(limit.clone(), MtuProbing::Always);
    let mut buf = vec![0u8; 65536];
    let mut push = |p: &mut common::Pair, data: &[u8]| {
        let (mut sent, mut got) = (0, 0);
        let done = p.run_until(60, |p| {
            sent += p.a.tcp_send(c, &data[sent..]).unwrap_or(0);
            while let Ok(n @ 1..) = p.b.tcp_recv(s, &mut buf) {
                got += n;
            }
            // All of it acknowledged, before the clock jumps.
            got == data.len() && p.a.tcp_info(c).is_ok_and(|i| i.bytes_in_flight == 0)
        });
        assert!(done, "{sent} sent, {got} received: {:?}", p.a.tcp_info(c));
    };
    let data = pattern(4_000_000);
    push(&mut p, &data);
    let mss = p.a.tcp_info(c).expect("info").mss;
    assert!(mss + 52 <= 1100 && mss + 52 > 1092, "{mss}");
    limit.set(1500);
    // Within ten minutes nothing is probed.
    p.now += Duration::from_secs(300);
    push(&mut p, &data);
    assert_eq!(p.a.tcp_info(c).expect("info").mss, mss);
    p.now += Duration::from_secs(301);
    // One probe per round trip at most: here, where nothing limits the
    // rate, a window is soon the whole 4 MB.
    for _ in 0..8 {
        push(&mut p, &data);
    }
    let n = p.a.tcp_info(c).expect("info");
    assert_eq!(n.mss, 1448, "{:?}", n.counters);
    assert_eq!(n.counters.timeouts, 0, "{:?}", n.counters);
}

#[test]
fn a_probe_refused_with_fragmentation_needed_bounds_the_search() {
    // A router on a 1 300-byte link answers what it cannot carry (RFC
    // 1191). A probe it refuses is not lowered below (the path MTU in use
    // is already smaller), but the search keeps under the reported MTU
    // and the probe's data is resent at once, so only one probe is lost.
    let refused = Rc::new(std::cell::RefCell::new(Vec::new()));
    let (mut p, c, s) = black_hole(1500, MtuProbing::Always);
    let r = refused.clone();
    p.filter = Box::new(move |_, pkt, _| {
        let pass = pkt.len() <= 1300;
        if !pass {
            r.borrow_mut().push(pkt.to_vec());
        }
        pass
    });
    let data = pattern(4_000_000);
    let (mut sent, mut got) = (0, 0);
    let mut buf = vec![0u8; 65536];
    assert!(p.run_until(60, |p| {
        for pkt in refused.borrow_mut().drain(..) {
            p.a.receive(p.now, &frag_needed(&pkt, 1300));
        }
        sent += p.a.tcp_send(c, &data[sent..]).unwrap_or(0);
        while let Ok(n @ 1..) = p.b.tcp_recv(s, &mut buf) {
            got += n;
        }
        got == data.len()
    }));
    let info = p.a.tcp_info(c).expect("info");
    let n = info.counters;
    assert_eq!(a_to_b(&p).iter().filter(|e| !e.1).count(), 1, "{n:?}");
    // The refused probe's data went again at the moment of the ICMP.
    let seq = |pkt: &[u8]| u32::from_be_bytes([pkt[24], pkt[25], pkt[26], pkt[27]]);
    let to_b: Vec<&common::LogEntry> = p.log.iter().filter(|e| e.1).collect();
    let lost = to_b.iter().position(|e| !e.3).expect("the refused probe");
    let again = to_b[lost + 1..]
        .iter()
        .find(|e| seq(&e.2) == seq(&to_b[lost].2))
        .expect("resent");
    assert_eq!(again.0, to_b[lost].0, "resent at once");
    assert_eq!(
        (n.timeouts, n.fast_retransmits, n.pmtu_reductions),
        (0, 0, 0),
        "{n:?}"
    );
    assert!(
        info.mss + 52 <= 1300 && info.mss + 52 > 1292,
        "{}",
        info.mss
    );
}

#[test]
fn without_probing_a_black_hole_stalls_the_connection() {
    let (mut p, c, s) = black_hole(1100, MtuProbing::Off);
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
    assert_eq!(info.counters.mtu_probes, 0);
    assert_eq!(info.mss, 1448);
}
