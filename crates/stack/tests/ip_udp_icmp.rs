//! IPv4, ICMP and UDP behaviour of the engine, driven with hand-built
//! packets (see `ipkit`) and, for end-to-end cases, two stacks on a wire
//! (`common::Pair`). Every test checks the exact output and the counters.
mod ipkit;

use ipkit::pair::Pair;
use ipkit::*;
use proptest::prelude::*;
use std::io::ErrorKind;
use std::net::{Ipv4Addr, SocketAddr};
use ustack::wire::icmpv4::{self, unreachable, Icmpv4Repr};
use ustack::wire::ipv4::{Ipv4Packet, PROTO_ICMP, PROTO_TCP, PROTO_UDP};
use ustack::wire::tcp::{TcpFlags, TcpOptions, TcpPacket, TcpRepr};
use ustack::{DropReason, Duration, Instant, Stack, TcpState};

fn sa(ip: Ipv4Addr, port: u16) -> SocketAddr {
    SocketAddr::new(v4(ip), port)
}

fn now0() -> Instant {
    Instant::from_secs(1)
}

/// Feeds `pkt` to a fresh stack and checks it is dropped for `reason`,
/// with nothing emitted and no timer armed.
fn assert_dropped(pkt: &[u8], reason: DropReason) {
    let mut s = new_stack(|_| {});
    let u = s.udp_bind(sa(US, 7)).unwrap();
    s.receive(now0(), pkt);
    let c = s.counters();
    assert_eq!(c.ip_in, 1);
    assert_eq!(drops(&s), vec![(reason, 1)], "packet {pkt:02x?}");
    assert_eq!(c.icmp_in + c.udp_in + c.icmp_out + c.ip_out, 0);
    assert!(drain(&mut s, now0()).is_empty(), "nothing may be emitted");
    assert_eq!(s.poll_at(), None);
    assert_eq!(
        s.udp_recv_from(u, &mut [0u8; 64]).unwrap_err().kind(),
        ErrorKind::WouldBlock
    );
}

/// Feeds a packet, returns (emitted packets).
fn feed(s: &mut Stack, pkt: &[u8]) -> Vec<Vec<u8>> {
    s.receive(now0(), pkt);
    drain(s, now0())
}

/// Checks `out` is exactly one ICMP destination unreachable (code) from
/// `from` to `to`, quoting `orig` (at least its IP header and 8 bytes, at
/// most 576 bytes in all); returns the quote.
fn assert_unreachable(out: &[Vec<u8>], code: u8, from: Ipv4Addr, to: Ipv4Addr, orig: &[u8]) {
    assert_eq!(out.len(), 1, "expected exactly one ICMP error");
    let repr = check_emitted(&out[0], MTU).unwrap();
    assert_eq!((repr.src, repr.dst, repr.protocol), (from, to, PROTO_ICMP));
    assert!(!repr.more_frags && repr.frag_offset == 0);
    let msg = &out[0][20..];
    assert!(
        out[0].len() <= 576,
        "ICMP error of {} bytes exceeds 576 (RFC 1812 4.3.2.3)",
        out[0].len()
    );
    let ihl = usize::from(orig[0] & 0x0f) * 4;
    let qlen = msg.len() - 8;
    assert!(qlen >= ihl + 8, "quote must hold the IP header and 8 bytes");
    assert!(qlen <= orig.len(), "quote longer than the datagram");
    assert_eq!(
        msg,
        &dst_unreachable(code, &orig[..qlen])[..],
        "type 3 code {code}, unused word zero, quoting the datagram"
    );
}

// ====================================================================
// IPv4 validation
// ====================================================================

#[test]
fn ipv4_valid_echo_is_answered_baseline() {
    // The base packet the malformed cases below start from is answered.
    let mut s = new_stack(|_| {});
    let out = feed(&mut s, &ping(US, 1, 1, b"abcdefgh"));
    assert_eq!(out.len(), 1);
    assert!(drops(&s).is_empty());
}

#[test]
fn ipv4_bad_header_checksum_dropped() {
    let mut p = ping(US, 1, 1, b"abcdefgh");
    p[10] ^= 0x01;
    assert_dropped(&p, DropReason::IpChecksum);
    let mut p = ping(US, 1, 1, b"abcdefgh");
    p[8] = 1; // TTL changed, checksum not updated
    assert_dropped(&p, DropReason::IpChecksum);
}

#[test]
fn ipv4_ihl_below_five_dropped() {
    for ihl in 0..5u8 {
        let mut p = ping(US, 1, 1, b"abcdefgh");
        p[0] = 0x40 | ihl;
        refresh_ip_checksum(&mut p);
        assert_dropped(&p, DropReason::IpMalformed);
    }
}

#[test]
fn ipv4_ihl_beyond_packet_dropped() {
    let mut p = ping(US, 1, 1, b"");
    p[0] = 0x4f; // 60-byte header in a 28-byte packet
    refresh_ip_checksum(&mut p);
    assert_dropped(&p, DropReason::IpMalformed);
}

#[test]
fn ipv4_total_length_beyond_packet_dropped() {
    let mut p = ping(US, 1, 1, b"abcdefgh");
    let bad = (p.len() + 1) as u16;
    p[2..4].copy_from_slice(&bad.to_be_bytes());
    refresh_ip_checksum(&mut p);
    assert_dropped(&p, DropReason::IpMalformed);
    p[2..4].copy_from_slice(&0xffffu16.to_be_bytes());
    refresh_ip_checksum(&mut p);
    assert_dropped(&p, DropReason::IpMalformed);
}

#[test]
fn ipv4_total_length_below_header_dropped() {
    for total in [0u16, 1, 19] {
        let mut p = ping(US, 1, 1, b"abcdefgh");
        p[2..4].copy_from_slice(&total.to_be_bytes());
        refresh_ip_checksum(&mut p);
        assert_dropped(&p, DropReason::IpMalformed);
    }
}

#[test]
fn ipv4_version_6_dropped() {
    let mut p = ping(US, 1, 1, b"abcdefgh");
    p[0] = 0x65;
    refresh_ip_checksum(&mut p);
    assert_dropped(&p, DropReason::IpMalformed);
    p[0] = 0x05; // version 0
    refresh_ip_checksum(&mut p);
    assert_dropped(&p, DropReason::IpMalformed);
}

#[test]
fn ipv4_truncated_dropped() {
    let p = ping(US, 1, 1, b"abcdefgh");
    for len in 0..p.len() {
        assert_dropped(&p[..len], DropReason::IpMalformed);
    }
}

#[test]
fn ipv4_not_for_us_dropped() {
    for dst in [
        Ipv4Addr::new(198, 18, 0, 3),
        Ipv4Addr::new(10, 0, 0, 1),
        Ipv4Addr::new(198, 18, 1, 1),
    ] {
        assert_dropped(&ping(dst, 1, 1, b"x"), DropReason::IpNotForUs);
    }
}

#[test]
fn ipv4_bad_source_dropped() {
    for src in [
        Ipv4Addr::BROADCAST,
        SUBNET_BCAST,
        Ipv4Addr::new(224, 0, 0, 1),
        Ipv4Addr::new(239, 1, 2, 3),
        US, // land attack
        Ipv4Addr::UNSPECIFIED,
    ] {
        let p = ip(src, US, PROTO_ICMP, &echo_request(1, 1, b"abc"));
        assert_dropped(&p, DropReason::IpBadSource);
        // A UDP to a closed port from such a source must not draw an ICMP
        // error either.
        assert_dropped(&udp_ip(src, US, 9, 9999, b"x"), DropReason::IpBadSource);
    }
}

#[test]
fn ipv4_trailing_link_padding_ignored() {
    let pad = [0xAAu8; 30];
    let mut s = new_stack(|_| {});
    let u = s.udp_bind(sa(US, 7)).unwrap();

    // UDP to a bound socket: data delivered without the padding.
    let mut p = udp_ip(PEER, US, 1234, 7, b"hi");
    p.extend_from_slice(&pad);
    assert!(feed(&mut s, &p).is_empty());
    let mut buf = [0u8; 100];
    let r = s.udp_recv_from(u, &mut buf).unwrap();
    assert_eq!(
        (r.len, r.from, r.truncated, r.datagram_len),
        (2, sa(PEER, 1234), false, 2)
    );
    assert_eq!(&buf[..2], b"hi");

    // Echo request: reply carries the data only.
    let mut p = ping(US, 9, 10, b"ping!");
    p.extend_from_slice(&pad);
    let out = feed(&mut s, &p);
    assert_eq!(out.len(), 1);
    check_emitted(&out[0], MTU).unwrap();
    assert_eq!(&out[0][20..], &echo_reply(9, 10, b"ping!")[..]);

    // Port unreachable quotes the datagram, not the padding.
    let orig = udp_ip(PEER, US, 1234, 9999, b"abcd");
    let mut p = orig.clone();
    p.extend_from_slice(&pad);
    let out = feed(&mut s, &p);
    assert_unreachable(&out, unreachable::PORT, US, PEER, &orig);

    let c = s.counters();
    assert_eq!((c.ip_in, c.udp_in, c.icmp_in, c.icmp_out), (3, 2, 1, 2));
    assert_eq!(drops(&s), vec![(DropReason::UdpNoSocket, 1)]);
}

#[test]
fn ipv4_header_options_skipped() {
    // IHL 6 with a 4-byte NOP/EOL option: the payload starts after it.
    let icmp_msg = echo_request(3, 4, b"opts");
    let mut p = ip(PEER, US, PROTO_ICMP, &icmp_msg);
    p.splice(20..20, [1u8, 1, 1, 0]);
    p[0] = 0x46;
    let total = p.len() as u16;
    p[2..4].copy_from_slice(&total.to_be_bytes());
    refresh_ip_checksum(&mut p);
    let mut s = new_stack(|_| {});
    let out = feed(&mut s, &p);
    assert_eq!(out.len(), 1);
    let r = check_emitted(&out[0], MTU).unwrap();
    assert_eq!((r.src, r.dst), (US, PEER));
    assert_eq!(&out[0][20..], &echo_reply(3, 4, b"opts")[..]);
    assert!(drops(&s).is_empty());
}

// ====================================================================
// ICMP echo
// ====================================================================

#[test]
fn icmp_echo_request_gets_reply() {
    let mut s = new_stack(|_| {});
    let data: Vec<u8> = (0..56u8).collect();
    let out = feed(&mut s, &ping(US, 0xbeef, 0x0102, &data));
    assert_eq!(out.len(), 1);
    let r = check_emitted(&out[0], MTU).unwrap();
    assert_eq!((r.src, r.dst, r.protocol), (US, PEER, PROTO_ICMP));
    assert_eq!(r.ttl, 64);
    assert!(!r.more_frags && r.frag_offset == 0);
    assert_eq!(r.payload_len, 8 + data.len());
    let msg = &out[0][20..];
    assert_eq!(msg, &echo_reply(0xbeef, 0x0102, &data)[..]);
    assert_eq!(
        Icmpv4Repr::parse(msg).unwrap(),
        Icmpv4Repr::EchoReply {
            ident: 0xbeef,
            seq_no: 0x0102,
            data: &data
        }
    );
    let c = s.counters();
    assert_eq!((c.ip_in, c.icmp_in, c.icmp_out, c.ip_out), (1, 1, 1, 1));
    assert!(drops(&s).is_empty());
    assert_eq!(s.poll_at(), None);

    // Empty data and a second request work too.
    let out = feed(&mut s, &ping(US, 1, 2, b""));
    assert_eq!(out.len(), 1);
    assert_eq!(&out[0][20..], &echo_reply(1, 2, b"")[..]);
}

#[test]
fn icmp_echo_to_broadcast_ignored() {
    for dst in [
        Ipv4Addr::BROADCAST,
        SUBNET_BCAST,
        Ipv4Addr::new(224, 0, 0, 1),
    ] {
        let mut s = new_stack(|_| {});
        assert!(feed(&mut s, &ping(dst, 1, 1, b"smurf")).is_empty(), "{dst}");
        let c = s.counters();
        assert_eq!((c.ip_in, c.icmp_out, c.ip_out), (1, 0, 0));
        assert_eq!(s.poll_at(), None);
    }
}

#[test]
fn icmp_bad_checksum_dropped() {
    let mut msg = echo_request(1, 1, b"abcdefgh");
    msg[9] ^= 0x40;
    assert_dropped(&ip(PEER, US, PROTO_ICMP, &msg), DropReason::IcmpChecksum);
    let mut msg = echo_request(1, 1, b"abcdefgh");
    msg[2] ^= 0xff;
    assert_dropped(&ip(PEER, US, PROTO_ICMP, &msg), DropReason::IcmpChecksum);
}

#[test]
fn icmp_truncated_dropped() {
    let msg = echo_request(1, 1, b"");
    assert_dropped(
        &ip(PEER, US, PROTO_ICMP, &msg[..7]),
        DropReason::IcmpMalformed,
    );
    assert_dropped(&ip(PEER, US, PROTO_ICMP, &[]), DropReason::IcmpMalformed);
}

#[test]
fn icmp_large_ping_reassembled_and_reply_fragmented() {
    let data: Vec<u8> = (0..3000u32).map(|i| (i * 7 + 3) as u8).collect();
    let req = echo_request(0x1111, 42, &data);
    let frags = fragment(PEER, US, PROTO_ICMP, 0x7777, &req, MTU);
    assert_eq!(frags.len(), 3);
    let mut s = new_stack(|_| {});
    // Deliver out of order: last, first, middle.
    for i in [2, 0] {
        assert!(feed(&mut s, &frags[i]).is_empty());
    }
    let out = feed(&mut s, &frags[1]);
    assert_eq!(out.len(), 3, "3008-byte ICMP message at MTU 1500");
    let mut offsets = Vec::new();
    let mut ident = None;
    for p in &out {
        let r = check_emitted(p, MTU).unwrap();
        assert_eq!((r.src, r.dst, r.protocol), (US, PEER, PROTO_ICMP));
        assert!(!r.dont_frag);
        assert_eq!(*ident.get_or_insert(r.ident), r.ident, "one ident");
        offsets.push((r.frag_offset, r.payload_len, r.more_frags));
    }
    assert_eq!(
        offsets,
        vec![(0, 1480, true), (1480, 1480, true), (2960, 48, false)]
    );
    let dgrams = reassemble(&out);
    assert_eq!(dgrams.len(), 1);
    assert_eq!(dgrams[0].1, echo_reply(0x1111, 42, &data));
    let c = s.counters();
    assert_eq!(c.ip_fragments_in, 3);
    assert_eq!(c.ip_reassembled, 1);
    assert_eq!(c.ip_fragments_out, 3);
    assert_eq!((c.icmp_in, c.icmp_out, c.ip_out), (1, 1, 3));
    assert!(drops(&s).is_empty());
    assert_eq!(s.poll_at(), None, "reassembly state released");
}

#[test]
fn oversized_reassembled_datagram_is_dropped_not_answered() {
    // "Ping of death": fragments whose reassembly exceeds 65535 bytes (the
    // last one ends at payload offset 65535, i.e. a 65555-byte datagram).
    // RFC 791 caps a datagram at 65535 bytes; Linux drops it ("Oversized IP
    // packet"). It must not be answered with an equally oversized reply.
    let data = vec![0x5au8; 65535 - 8];
    let req = echo_request(1, 1, &data);
    assert_eq!(req.len(), 65535);
    let frags = fragment(PEER, US, PROTO_ICMP, 0x0bad, &req, MTU);
    let mut s = new_stack(|_| {});
    let mut out = Vec::new();
    for f in &frags {
        out.extend(feed(&mut s, f));
    }
    assert!(
        out.is_empty(),
        "the stack answered an oversized datagram with {} packets",
        out.len()
    );
    let d = s.counters();
    assert!(
        d.drops(DropReason::FragNoMemory)
            + d.drops(DropReason::FragInvalid)
            + d.drops(DropReason::IpMalformed)
            >= 1,
        "drop not counted: {:?}",
        drops(&s)
    );
}

// ====================================================================
// UDP
// ====================================================================

fn settle(p: &mut Pair) {
    p.settle();
}

#[test]
fn udp_pair_keeps_message_boundaries() {
    let mut p = Pair::new(3);
    let ua = p.a.udp_bind(sa(A_IP, 5000)).unwrap();
    let ub = p.b.udp_bind(sa(B_IP, 6000)).unwrap();
    let msgs: [&[u8]; 4] = [b"one", b"two two", b"", b"three three three"];
    for m in msgs {
        assert_eq!(p.a.udp_send_to(ua, m, sa(B_IP, 6000)).unwrap(), m.len());
    }
    settle(&mut p);
    let mut buf = [0u8; 1000];
    for m in msgs {
        let r = p.b.udp_recv_from(ub, &mut buf).unwrap();
        assert_eq!(r.from, sa(A_IP, 5000));
        assert_eq!(
            (r.len, r.truncated, r.datagram_len),
            (m.len(), false, m.len())
        );
        assert_eq!(&buf[..r.len], m);
    }
    assert_eq!(
        p.b.udp_recv_from(ub, &mut buf).unwrap_err().kind(),
        ErrorKind::WouldBlock
    );
    // And back.
    p.b.udp_send_to(ub, b"reply", sa(A_IP, 5000)).unwrap();
    settle(&mut p);
    let r = p.a.udp_recv_from(ua, &mut buf).unwrap();
    assert_eq!((r.len, r.from), (5, sa(B_IP, 6000)));
    assert_eq!(&buf[..5], b"reply");
    let (ca, cb) = (p.a.counters(), p.b.counters());
    assert_eq!((ca.udp_out, ca.udp_in, ca.ip_out), (4, 1, 4));
    assert_eq!((cb.udp_out, cb.udp_in, cb.ip_in), (1, 4, 4));
    assert!(drops(&p.a).is_empty() && drops(&p.b).is_empty());
    // Every packet on the wire was a well-formed single datagram.
    for sent in &p.log {
        let r = check_emitted(&sent.bytes, MTU).unwrap();
        assert_eq!(r.protocol, PROTO_UDP);
    }
}

#[test]
fn udp_datagram_larger_than_buffer_is_truncated() {
    let mut s = new_stack(|_| {});
    let u = s.udp_bind(sa(US, 7)).unwrap();
    let data: Vec<u8> = (0..100u8).collect();
    feed(&mut s, &udp_ip(PEER, US, 99, 7, &data));
    feed(&mut s, &udp_ip(PEER, US, 99, 7, b"next"));
    let mut buf = [0u8; 10];
    let r = s.udp_recv_from(u, &mut buf).unwrap();
    assert_eq!((r.len, r.truncated, r.datagram_len), (10, true, 100));
    assert_eq!(r.from, sa(PEER, 99));
    assert_eq!(&buf[..], &data[..10]);
    // The rest was discarded: the next receive is the next datagram.
    let r = s.udp_recv_from(u, &mut buf).unwrap();
    assert_eq!((r.len, r.truncated, r.datagram_len), (4, false, 4));
    assert_eq!(&buf[..4], b"next");
    // Exact fit is not truncation.
    feed(&mut s, &udp_ip(PEER, US, 99, 7, &data[..10]));
    let r = s.udp_recv_from(u, &mut buf).unwrap();
    assert_eq!((r.len, r.truncated, r.datagram_len), (10, false, 10));
    assert_eq!(
        s.udp_recv_from(u, &mut buf).unwrap_err().kind(),
        ErrorKind::WouldBlock
    );
}

#[test]
fn udp_peek_leaves_the_datagram_and_connect_sets_the_peer() {
    let mut s = new_stack(|_| {});
    let u = s.udp_bind(sa(US, 7)).unwrap();
    let mut buf = [0u8; 10];
    assert_eq!(
        s.udp_peek_from(u, &mut buf).unwrap_err().kind(),
        ErrorKind::WouldBlock
    );
    let data: Vec<u8> = (0..100u8).collect();
    feed(&mut s, &udp_ip(PEER, US, 99, 7, &data));
    feed(&mut s, &udp_ip(PEER, US, 99, 7, b"next"));
    // MSG_PEEK: the same datagram twice, truncation reported, still there.
    for _ in 0..2 {
        let r = s.udp_peek_from(u, &mut buf).unwrap();
        assert_eq!((r.len, r.truncated, r.datagram_len), (10, true, 100));
        assert_eq!(r.from, sa(PEER, 99));
        assert_eq!(&buf[..], &data[..10]);
    }
    let mut big = [0u8; 200];
    let r = s.udp_recv_from(u, &mut big).unwrap();
    assert_eq!((r.len, r.truncated), (100, false));
    assert_eq!(&big[..100], &data[..]);
    let r = s.udp_peek_from(u, &mut big).unwrap();
    assert_eq!(&big[..r.len], b"next");
    assert_eq!(s.udp_recv_from(u, &mut big).unwrap().len, 4);
    // The peer: none until connect.
    assert_eq!(
        s.udp_peer_addr(u).unwrap_err().kind(),
        ErrorKind::NotConnected
    );
    s.udp_connect(u, sa(PEER, 99)).unwrap();
    assert_eq!(s.udp_peer_addr(u).unwrap(), sa(PEER, 99));
}

#[test]
fn udp_20000_byte_datagram_fragmented_and_reassembled() {
    let mut p = Pair::new(5);
    let ua = p.a.udp_bind(sa(A_IP, 5000)).unwrap();
    let ub = p.b.udp_bind(sa(B_IP, 6000)).unwrap();
    let data: Vec<u8> = (0..20_000u32).map(|i| (i % 251) as u8).collect();
    assert_eq!(p.a.udp_send_to(ua, &data, sa(B_IP, 6000)).unwrap(), 20_000);
    settle(&mut p);
    // 20008 bytes of UDP = 13 x 1480 + 768.
    assert_eq!(p.log.len(), 14);
    let mut sizes = Vec::new();
    for sent in &p.log {
        assert!(sent.to_b);
        check_emitted(&sent.bytes, MTU).unwrap();
        sizes.push(sent.bytes.len());
    }
    let mut expect = vec![1500; 13];
    expect.push(788);
    assert_eq!(sizes, expect);
    let d = reassemble(&p.sent(true));
    assert_eq!(d.len(), 1);
    let mut buf = vec![0u8; 65536];
    let r = p.b.udp_recv_from(ub, &mut buf).unwrap();
    assert_eq!(
        (r.len, r.truncated, r.datagram_len),
        (20_000, false, 20_000)
    );
    assert!(buf[..20_000] == data[..]);
    let (ca, cb) = (p.a.counters(), p.b.counters());
    assert_eq!((ca.udp_out, ca.ip_fragments_out, ca.ip_out), (1, 14, 14));
    assert_eq!(
        (cb.udp_in, cb.ip_fragments_in, cb.ip_reassembled),
        (1, 14, 1)
    );
    assert!(drops(&p.b).is_empty());
}

#[test]
fn udp_largest_datagram_and_emsgsize() {
    let mut p = Pair::new(6);
    let ua = p.a.udp_bind(sa(A_IP, 5000)).unwrap();
    let ub = p.b.udp_bind(sa(B_IP, 6000)).unwrap();
    let big = vec![0x33u8; 65_508];
    assert_eq!(
        p.a.udp_send_to(ua, &big, sa(B_IP, 6000))
            .unwrap_err()
            .kind(),
        ErrorKind::InvalidInput
    );
    assert_eq!(
        p.a.udp_send_to(ua, &big[..65_507], sa(B_IP, 6000)).unwrap(),
        65_507
    );
    settle(&mut p);
    let mut buf = vec![0u8; 70_000];
    let r = p.b.udp_recv_from(ub, &mut buf).unwrap();
    assert_eq!((r.len, r.truncated), (65_507, false));
    assert!(buf[..65_507].iter().all(|b| *b == 0x33));
    assert_eq!(reassemble(&p.sent(true))[0].1.len(), 65_515);
    assert_eq!(p.a.counters().udp_out, 1);
}

#[test]
fn udp_closed_port_gets_port_unreachable() {
    let mut s = new_stack(|_| {});
    let orig = udp_ip(PEER, US, 40000, 9999, b"hello?");
    let out = feed(&mut s, &orig);
    assert_unreachable(&out, unreachable::PORT, US, PEER, &orig);
    let c = s.counters();
    assert_eq!((c.udp_in, c.icmp_out, c.ip_out), (1, 1, 1));
    assert_eq!(drops(&s), vec![(DropReason::UdpNoSocket, 1)]);

    // A large datagram: the error still fits in 576 bytes.
    let orig = udp_ip(PEER, US, 40000, 9999, &[7u8; 1400]);
    let out = feed(&mut s, &orig);
    assert_unreachable(&out, unreachable::PORT, US, PEER, &orig);
}

#[test]
fn udp_closed_port_fragmented_datagram_gets_one_error() {
    // RFC 1122 3.2.2: no error about a non-first fragment; the reassembled
    // datagram draws one error whose quote identifies it.
    let mut s = new_stack(|_| {});
    let dgram = udp(PEER, US, 40000, 9999, &[1u8; 3000]);
    let frags = fragment(PEER, US, PROTO_UDP, 0x5151, &dgram, MTU);
    let mut out = Vec::new();
    for f in frags.iter().rev() {
        out.extend(feed(&mut s, f));
    }
    assert_eq!(out.len(), 1);
    let r = check_emitted(&out[0], MTU).unwrap();
    assert_eq!((r.src, r.dst, r.protocol), (US, PEER, PROTO_ICMP));
    let msg = &out[0][20..];
    assert_eq!(
        &msg[..2],
        &[icmpv4::TYPE_DST_UNREACHABLE, unreachable::PORT]
    );
    let quote = &msg[8..];
    assert!(quote.len() >= 28);
    let q = Ipv4Packet::new_unchecked(quote);
    assert_eq!(q.version(), 4);
    assert_eq!(
        (q.src_addr(), q.dst_addr(), q.protocol()),
        (PEER, US, PROTO_UDP)
    );
    assert_eq!(q.ident(), 0x5151);
    assert_eq!(&quote[q.header_len()..q.header_len() + 8], &dgram[..8]);
    assert_eq!(drops(&s), vec![(DropReason::UdpNoSocket, 1)]);
}

#[test]
fn udp_to_broadcast_closed_port_no_icmp() {
    for dst in [
        Ipv4Addr::BROADCAST,
        SUBNET_BCAST,
        Ipv4Addr::new(224, 0, 0, 251),
    ] {
        let mut s = new_stack(|_| {});
        assert!(
            feed(&mut s, &udp_ip(PEER, dst, 68, 67, b"dhcp?")).is_empty(),
            "{dst}"
        );
        let c = s.counters();
        assert_eq!((c.udp_in, c.icmp_out, c.ip_out), (1, 0, 0));
        assert_eq!(drops(&s), vec![(DropReason::UdpNoSocket, 1)]);
    }
}

#[test]
fn udp_to_broadcast_bound_port_delivered() {
    let mut s = new_stack(|_| {});
    let u = s.udp_bind(sa(Ipv4Addr::UNSPECIFIED, 67)).unwrap();
    assert!(feed(
        &mut s,
        &udp_ip(PEER, Ipv4Addr::BROADCAST, 68, 67, b"discover")
    )
    .is_empty());
    let mut buf = [0u8; 32];
    let r = s.udp_recv_from(u, &mut buf).unwrap();
    assert_eq!((r.len, r.from), (8, sa(PEER, 68)));
}

#[test]
fn udp_bad_checksum_dropped() {
    // Bound port: not delivered.
    let mut p = udp_ip(PEER, US, 1, 7, b"payload");
    p[20 + 8] ^= 0x01;
    assert_dropped(&p, DropReason::UdpChecksum);
    // Closed port: dropped before the port lookup, no ICMP error.
    let mut p = udp_ip(PEER, US, 1, 9999, b"payload");
    p[20 + 6] ^= 0x10;
    assert_dropped(&p, DropReason::UdpChecksum);
    // A checksum computed with another destination address.
    let d = udp(PEER, Ipv4Addr::new(198, 18, 0, 9), 1, 7, b"payload");
    assert_dropped(&ip(PEER, US, PROTO_UDP, &d), DropReason::UdpChecksum);
}

#[test]
fn udp_zero_checksum_accepted() {
    let mut s = new_stack(|_| {});
    let u = s.udp_bind(sa(US, 7)).unwrap();
    let mut d = udp(PEER, US, 1, 7, b"no checksum");
    d[6] = 0;
    d[7] = 0;
    assert!(feed(&mut s, &ip(PEER, US, PROTO_UDP, &d)).is_empty());
    let mut buf = [0u8; 64];
    let r = s.udp_recv_from(u, &mut buf).unwrap();
    assert_eq!((r.len, r.from), (11, sa(PEER, 1)));
    assert_eq!(&buf[..11], b"no checksum");
    assert!(drops(&s).is_empty());
    assert_eq!(s.counters().udp_in, 1);
}

#[test]
fn udp_length_field_inconsistent_dropped() {
    // Length larger than the IP payload.
    let mut d = udp(PEER, US, 1, 7, b"payload");
    let too_long = d.len() as u16 + 1;
    d[4..6].copy_from_slice(&too_long.to_be_bytes());
    d[6] = 0;
    d[7] = 0; // no checksum: only the length is wrong
    assert_dropped(&ip(PEER, US, PROTO_UDP, &d), DropReason::UdpMalformed);
    // Closed port: still no ICMP error.
    let mut d = udp(PEER, US, 1, 9999, b"payload");
    d[4..6].copy_from_slice(&1000u16.to_be_bytes());
    assert_dropped(&ip(PEER, US, PROTO_UDP, &d), DropReason::UdpMalformed);
    // Length below the header size.
    for l in [0u16, 7] {
        let mut d = udp(PEER, US, 1, 7, b"payload");
        d[4..6].copy_from_slice(&l.to_be_bytes());
        d[6] = 0;
        d[7] = 0;
        assert_dropped(&ip(PEER, US, PROTO_UDP, &d), DropReason::UdpMalformed);
    }
    // Shorter than a UDP header.
    assert_dropped(
        &ip(PEER, US, PROTO_UDP, &[0, 1, 0, 7]),
        DropReason::UdpMalformed,
    );
}

#[test]
fn udp_length_shorter_than_ip_payload_uses_udp_length() {
    // RFC 768: the length field delimits the datagram; extra IP payload
    // bytes are not data.
    let mut s = new_stack(|_| {});
    let u = s.udp_bind(sa(US, 7)).unwrap();
    let mut d = udp(PEER, US, 1, 7, b"abc");
    d.extend_from_slice(b"JUNK");
    assert!(feed(&mut s, &ip(PEER, US, PROTO_UDP, &d)).is_empty());
    let mut buf = [0u8; 64];
    let r = s.udp_recv_from(u, &mut buf).unwrap();
    assert_eq!((r.len, r.datagram_len), (3, 3));
    assert_eq!(&buf[..3], b"abc");
    assert!(drops(&s).is_empty());
}

#[test]
fn udp_connected_socket_gets_connection_refused() {
    let mut p = Pair::new(9);
    let ua = p.a.udp_bind(sa(A_IP, 5000)).unwrap();
    p.a.udp_connect(ua, sa(B_IP, 7777)).unwrap();
    p.a.udp_send_to(ua, b"anyone?", sa(B_IP, 7777)).unwrap();
    settle(&mut p);
    // B answered with a port unreachable.
    assert_eq!(p.log.len(), 2);
    assert!(p.log[0].to_b && !p.log[1].to_b);
    assert_unreachable(
        &p.sent(false),
        unreachable::PORT,
        B_IP,
        A_IP,
        &p.log[0].bytes,
    );
    assert_eq!(drops(&p.b), vec![(DropReason::UdpNoSocket, 1)]);
    let mut buf = [0u8; 64];
    assert_eq!(
        p.a.udp_recv_from(ua, &mut buf).unwrap_err().kind(),
        ErrorKind::ConnectionRefused
    );
    // Reported once.
    assert_eq!(
        p.a.udp_recv_from(ua, &mut buf).unwrap_err().kind(),
        ErrorKind::WouldBlock
    );
    // Or taken with SO_ERROR, and then not by a read.
    assert!(p.a.udp_take_error(ua).unwrap().is_none());
    p.a.udp_send_to(ua, b"again?", sa(B_IP, 7777)).unwrap();
    settle(&mut p);
    let e = p.a.udp_take_error(ua).unwrap().expect("the second refusal");
    assert_eq!(e.kind(), ErrorKind::ConnectionRefused);
    assert!(p.a.udp_take_error(ua).unwrap().is_none());
    assert_eq!(
        p.a.udp_recv_from(ua, &mut buf).unwrap_err().kind(),
        ErrorKind::WouldBlock
    );
    let ca = p.a.counters();
    assert_eq!(ca.icmp_in, 2);
    assert!(drops(&p.a).is_empty(), "{:?}", drops(&p.a));
}

#[test]
fn udp_unconnected_socket_ignores_port_unreachable() {
    let mut p = Pair::new(10);
    let ua = p.a.udp_bind(sa(A_IP, 5000)).unwrap();
    p.a.udp_send_to(ua, b"anyone?", sa(B_IP, 7777)).unwrap();
    settle(&mut p);
    assert_eq!(p.log.len(), 2);
    let mut buf = [0u8; 64];
    assert_eq!(
        p.a.udp_recv_from(ua, &mut buf).unwrap_err().kind(),
        ErrorKind::WouldBlock
    );
    assert_eq!(drops(&p.a), vec![(DropReason::IcmpUnmatched, 1)]);
}

#[test]
fn udp_connected_socket_error_only_for_its_peer() {
    // An ICMP error about another peer is not this socket's error.
    let mut s = new_stack(|_| {});
    let u = s.udp_bind(sa(US, 5000)).unwrap();
    s.udp_connect(u, sa(PEER, 7777)).unwrap();
    let sent = udp_ip(US, PEER, 5000, 7778, b"x");
    let err = ip(
        PEER,
        US,
        PROTO_ICMP,
        &dst_unreachable(unreachable::PORT, &sent[..28]),
    );
    assert!(feed(&mut s, &err).is_empty());
    assert_eq!(
        s.udp_recv_from(u, &mut [0u8; 8]).unwrap_err().kind(),
        ErrorKind::WouldBlock
    );
    assert_eq!(drops(&s), vec![(DropReason::IcmpUnmatched, 1)]);
    // About its peer: reported.
    let sent = udp_ip(US, PEER, 5000, 7777, b"x");
    let err = ip(
        PEER,
        US,
        PROTO_ICMP,
        &dst_unreachable(unreachable::PORT, &sent[..28]),
    );
    assert!(feed(&mut s, &err).is_empty());
    assert_eq!(
        s.udp_recv_from(u, &mut [0u8; 8]).unwrap_err().kind(),
        ErrorKind::ConnectionRefused
    );
    assert_eq!(drops(&s), vec![(DropReason::IcmpUnmatched, 1)]);
}

#[test]
fn udp_bind_twice_addr_in_use() {
    let mut s = new_stack(|_| {});
    let h = s.udp_bind(sa(US, 5000)).unwrap();
    assert_eq!(
        s.udp_bind(sa(US, 5000)).unwrap_err().kind(),
        ErrorKind::AddrInUse
    );
    assert_eq!(
        s.udp_bind(sa(Ipv4Addr::UNSPECIFIED, 5000))
            .unwrap_err()
            .kind(),
        ErrorKind::AddrInUse
    );
    s.udp_bind(sa(Ipv4Addr::UNSPECIFIED, 6000)).unwrap();
    assert_eq!(
        s.udp_bind(sa(US, 6000)).unwrap_err().kind(),
        ErrorKind::AddrInUse
    );
    // Another port is fine; after close the port is free again.
    s.udp_bind(sa(US, 5001)).unwrap();
    s.udp_close(h);
    s.udp_bind(sa(US, 5000)).unwrap();
    // An address we do not own.
    assert_eq!(
        s.udp_bind(sa(Ipv4Addr::new(10, 9, 9, 9), 1))
            .unwrap_err()
            .kind(),
        ErrorKind::AddrNotAvailable
    );
}

#[test]
fn udp_bind_port_zero_is_ephemeral() {
    let mut s = new_stack(|_| {});
    let h1 = s.udp_bind(sa(US, 0)).unwrap();
    let h2 = s.udp_bind(sa(Ipv4Addr::UNSPECIFIED, 0)).unwrap();
    let p1 = s.udp_local_addr(h1).unwrap();
    let p2 = s.udp_local_addr(h2).unwrap();
    assert_eq!(p1.ip(), v4(US));
    for p in [p1.port(), p2.port()] {
        assert!((32768..=60999).contains(&p), "port {p}");
    }
    assert_ne!(p1.port(), p2.port());
    // The datagram leaves from that port, and replies reach the socket.
    s.udp_send_to(h1, b"q", sa(PEER, 53)).unwrap();
    let out = drain(&mut s, now0());
    assert_eq!(out.len(), 1);
    check_emitted(&out[0], MTU).unwrap();
    assert_eq!(&out[0][20..22], &p1.port().to_be_bytes());
    assert!(feed(&mut s, &udp_ip(PEER, US, 53, p1.port(), b"a")).is_empty());
    let r = s.udp_recv_from(h1, &mut [0u8; 8]).unwrap();
    assert_eq!((r.len, r.from), (1, sa(PEER, 53)));
}

#[test]
fn udp_send_unroutable_network_unreachable() {
    let mut s = new_stack(|_| {});
    let h = s.udp_bind(sa(US, 5000)).unwrap();
    assert_eq!(
        s.udp_send_to(h, b"x", sa(Ipv4Addr::new(10, 1, 2, 3), 53))
            .unwrap_err()
            .kind(),
        ErrorKind::NetworkUnreachable
    );
    assert!(drain(&mut s, now0()).is_empty());
    assert_eq!(s.counters().udp_out, 0);
    // On-link works.
    s.udp_send_to(h, b"x", sa(PEER, 53)).unwrap();
    assert_eq!(drain(&mut s, now0()).len(), 1);
}

#[test]
fn udp_send_via_gateway_keeps_destination() {
    let mut s = new_stack(|c| c.gateway = Some("198.18.0.254".parse().unwrap()));
    let h = s.udp_bind(sa(Ipv4Addr::UNSPECIFIED, 5000)).unwrap();
    let dst = Ipv4Addr::new(8, 8, 8, 8);
    assert_eq!(s.udp_send_to(h, b"query", sa(dst, 53)).unwrap(), 5);
    let out = drain(&mut s, now0());
    assert_eq!(out.len(), 1);
    let r = check_emitted(&out[0], MTU).unwrap();
    assert_eq!((r.src, r.dst, r.protocol), (US, dst, PROTO_UDP));
    assert_eq!(&out[0][20..], &udp(US, dst, 5000, 53, b"query")[..]);
    assert_eq!((s.counters().udp_out, s.counters().ip_out), (1, 1));
}

// ====================================================================
// Unknown protocol
// ====================================================================

#[test]
fn unknown_protocol_gets_protocol_unreachable() {
    let mut s = new_stack(|_| {});
    let orig = ip(PEER, US, 253, b"experimental payload");
    let out = feed(&mut s, &orig);
    assert_unreachable(&out, unreachable::PROTOCOL, US, PEER, &orig);
    let c = s.counters();
    assert_eq!((c.icmp_out, c.ip_out), (1, 1));
    assert_eq!(drops(&s), vec![(DropReason::UnknownProtocol, 1)]);
}

#[test]
fn unknown_protocol_to_broadcast_no_icmp() {
    let mut s = new_stack(|_| {});
    assert!(feed(&mut s, &ip(PEER, SUBNET_BCAST, 253, b"x")).is_empty());
    assert_eq!(s.counters().icmp_out, 0);
    assert_eq!(drops(&s), vec![(DropReason::UnknownProtocol, 1)]);
}

// ====================================================================
// ICMP errors reaching TCP
// ====================================================================

/// A stack in SYN-SENT towards PEER:80: (stack, handle, the SYN packet).
fn syn_sent() -> (Stack, ustack::SocketHandle, Vec<u8>) {
    let mut s = new_stack(|_| {});
    let h = s.tcp_connect(sa(PEER, 80), None).unwrap();
    let out = drain(&mut s, now0());
    assert_eq!(out.len(), 1);
    let r = check_emitted(&out[0], MTU).unwrap();
    assert_eq!(r.protocol, PROTO_TCP);
    let tcp = TcpPacket::new_checked(&out[0][20..]).unwrap();
    assert!(tcp.flags().syn() && !tcp.flags().ack());
    assert_eq!(s.tcp_state(h).unwrap(), TcpState::SynSent);
    (s, h, out[0].clone())
}

fn with_seq(syn: &[u8], seq: u32) -> Vec<u8> {
    let mut q = syn[..28].to_vec();
    q[24..28].copy_from_slice(&seq.to_be_bytes());
    q
}

#[test]
fn icmp_port_unreachable_refuses_syn_sent() {
    let (mut s, h, syn) = syn_sent();
    let err = ip(
        PEER,
        US,
        PROTO_ICMP,
        &dst_unreachable(unreachable::PORT, &syn[..28]),
    );
    assert!(feed(&mut s, &err).is_empty());
    assert_eq!(s.tcp_state(h).unwrap(), TcpState::Closed);
    assert_eq!(
        s.tcp_recv(h, &mut [0u8; 16]).unwrap_err().kind(),
        ErrorKind::ConnectionRefused
    );
    assert_eq!(s.counters().icmp_in, 1);
    assert!(drops(&s).is_empty(), "{:?}", drops(&s));
    // No more SYN retransmissions.
    s.handle_timeout(Instant::from_secs(10));
    assert!(drain(&mut s, Instant::from_secs(10)).is_empty());
    assert_eq!(s.poll_at(), None);
}

#[test]
fn icmp_protocol_unreachable_quoting_whole_syn_refuses() {
    // A longer quote (the whole SYN) works the same.
    let (mut s, h, syn) = syn_sent();
    let err = ip(
        PEER,
        US,
        PROTO_ICMP,
        &dst_unreachable(unreachable::PROTOCOL, &syn),
    );
    assert!(feed(&mut s, &err).is_empty());
    assert_eq!(s.tcp_state(h).unwrap(), TcpState::Closed);
    assert_eq!(
        s.tcp_send(h, b"x").unwrap_err().kind(),
        ErrorKind::ConnectionRefused
    );
}

#[test]
fn icmp_port_unreachable_wrong_seq_ignored() {
    let (mut s, h, syn) = syn_sent();
    let iss = TcpPacket::new_unchecked(&syn[20..]).seq();
    let bad = [
        iss.wrapping_add(1),
        iss.wrapping_sub(1),
        iss.wrapping_add(100_000),
        iss ^ 0x8000_0000,
    ];
    for (i, seq) in bad.iter().enumerate() {
        let q = with_seq(&syn, *seq);
        let err = ip(
            PEER,
            US,
            PROTO_ICMP,
            &dst_unreachable(unreachable::PORT, &q),
        );
        assert!(feed(&mut s, &err).is_empty());
        assert_eq!(s.tcp_state(h).unwrap(), TcpState::SynSent, "seq {seq}");
        assert_eq!(drops(&s), vec![(DropReason::IcmpUnmatched, i as u64 + 1)]);
    }
    assert_eq!(
        s.tcp_recv(h, &mut [0u8; 16]).unwrap_err().kind(),
        ErrorKind::WouldBlock
    );
    // The SYN is still retransmitted on time.
    let at = s.poll_at().unwrap();
    assert!(at > now0() && at <= now0() + Duration::from_secs(1));
    s.handle_timeout(at);
    let out = drain(&mut s, at);
    assert_eq!(out.len(), 1);
    let tcp = TcpPacket::new_checked(&out[0][20..]).unwrap();
    assert!(tcp.flags().syn());
    assert_eq!(tcp.seq(), iss);
}

#[test]
fn icmp_error_for_unknown_connection_unmatched() {
    let (mut s, h, syn) = syn_sent();
    // Another destination port.
    let mut q = syn[..28].to_vec();
    q[22..24].copy_from_slice(&81u16.to_be_bytes());
    let err = ip(
        PEER,
        US,
        PROTO_ICMP,
        &dst_unreachable(unreachable::PORT, &q),
    );
    assert!(feed(&mut s, &err).is_empty());
    // Another remote host.
    let mut q = syn[..28].to_vec();
    q[16..20].copy_from_slice(&[198, 18, 0, 3]);
    let err = ip(
        PEER,
        US,
        PROTO_ICMP,
        &dst_unreachable(unreachable::PORT, &q),
    );
    assert!(feed(&mut s, &err).is_empty());
    // A quoted source that is not us.
    let mut q = syn[..28].to_vec();
    q[12..16].copy_from_slice(&[198, 18, 0, 50]);
    let err = ip(
        PEER,
        US,
        PROTO_ICMP,
        &dst_unreachable(unreachable::PORT, &q),
    );
    assert!(feed(&mut s, &err).is_empty());
    assert_eq!(s.tcp_state(h).unwrap(), TcpState::SynSent);
    assert_eq!(drops(&s), vec![(DropReason::IcmpUnmatched, 3)]);
    // No ICMP error about an ICMP error.
    assert_eq!(s.counters().icmp_out, 0);
}

#[test]
fn icmp_error_with_short_quote_malformed() {
    // Fewer than the IP header and 8 bytes: nothing to match (RFC 792).
    let (mut s, h, syn) = syn_sent();
    for n in [0, 20, 27] {
        let err = ip(
            PEER,
            US,
            PROTO_ICMP,
            &dst_unreachable(unreachable::PORT, &syn[..n]),
        );
        assert!(feed(&mut s, &err).is_empty());
    }
    assert_eq!(s.tcp_state(h).unwrap(), TcpState::SynSent);
    assert_eq!(drops(&s), vec![(DropReason::IcmpMalformed, 3)]);
}

#[test]
fn icmp_host_unreachable_is_soft_in_syn_sent() {
    // RFC 1122 4.2.3.9: host/net unreachable are soft errors; they must not
    // abort the connection.
    let (mut s, h, syn) = syn_sent();
    for code in [unreachable::NET, unreachable::HOST] {
        let err = ip(PEER, US, PROTO_ICMP, &dst_unreachable(code, &syn[..28]));
        assert!(feed(&mut s, &err).is_empty());
        assert_eq!(s.tcp_state(h).unwrap(), TcpState::SynSent);
    }
    assert!(drops(&s).is_empty());
}

// ====================================================================
// Fragment reassembly
// ====================================================================

/// UDP datagram (to US:7 from PEER:1234) split for `mtu`.
fn udp_frags(ident: u16, data: &[u8], mtu: usize) -> Vec<Vec<u8>> {
    let d = udp(PEER, US, 1234, 7, data);
    fragment(PEER, US, PROTO_UDP, ident, &d, mtu)
}

fn recv_all(s: &mut Stack, h: ustack::SocketHandle) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let mut buf = vec![0u8; 70_000];
    while let Ok(r) = s.udp_recv_from(h, &mut buf) {
        out.push(buf[..r.len].to_vec());
    }
    out
}

#[test]
fn frag_out_of_order_reassembles() {
    let data: Vec<u8> = (0..4000u32).map(|i| (i * 13 % 256) as u8).collect();
    let frags = udp_frags(0x0101, &data, 576);
    assert_eq!(frags.len(), 8);
    let mut s = new_stack(|_| {});
    let u = s.udp_bind(sa(US, 7)).unwrap();
    let order = [3, 0, 7, 5, 1, 6, 2, 4];
    for (n, i) in order.iter().enumerate() {
        assert!(feed(&mut s, &frags[*i]).is_empty());
        let expect = usize::from(n + 1 == order.len());
        assert_eq!(
            recv_all(&mut s, u).len(),
            expect,
            "after {} fragments",
            n + 1
        );
        if n + 1 < order.len() {
            assert!(s.poll_at().is_some(), "reassembly timer armed");
        }
    }
    // Check delivered content (re-send, now in reverse order).
    let frags = udp_frags(0x0102, &data, 576);
    for f in frags.iter().rev() {
        feed(&mut s, f);
    }
    let got = recv_all(&mut s, u);
    assert_eq!(got, vec![data.clone()]);
    let c = s.counters();
    assert_eq!((c.ip_fragments_in, c.ip_reassembled, c.udp_in), (16, 2, 2));
    assert!(drops(&s).is_empty());
    assert_eq!(s.poll_at(), None);
}

#[test]
fn frag_duplicates_and_identical_overlap_accepted() {
    let data: Vec<u8> = (0..2000u32).map(|i| (i % 199) as u8).collect();
    let dgram = udp(PEER, US, 1234, 7, &data);
    let frags = fragment(PEER, US, PROTO_UDP, 0x0202, &dgram, 576);
    let mut s = new_stack(|_| {});
    let u = s.udp_bind(sa(US, 7)).unwrap();
    // A big fragment overlapping the first two, with the same bytes.
    let big = ipv4(PEER, US, PROTO_UDP, 0x0202, true, 0, &dgram[..1104]);
    feed(&mut s, &big);
    feed(&mut s, &frags[0]);
    feed(&mut s, &frags[1]); // exact duplicate of data already held
    for f in &frags[1..] {
        feed(&mut s, f);
    }
    assert_eq!(recv_all(&mut s, u), vec![data]);
    assert!(drops(&s).is_empty(), "{:?}", drops(&s));
    assert_eq!(s.counters().ip_reassembled, 1);
}

#[test]
fn frag_overlap_with_different_data_dropped() {
    let data: Vec<u8> = (0..2000u32).map(|i| (i % 199) as u8).collect();
    let dgram = udp(PEER, US, 1234, 7, &data);
    let frags = fragment(PEER, US, PROTO_UDP, 0x0303, &dgram, 576);
    let mut s = new_stack(|_| {});
    let u = s.udp_bind(sa(US, 7)).unwrap();
    feed(&mut s, &frags[0]);
    // Overlaps [8, 560) with one byte changed.
    let mut evil = dgram[8..560].to_vec();
    evil[100] ^= 0xff;
    feed(&mut s, &ipv4(PEER, US, PROTO_UDP, 0x0303, true, 8, &evil));
    assert_eq!(drops(&s), vec![(DropReason::FragInvalid, 1)]);
    // The datagram is gone: the rest never completes it.
    for f in &frags[1..] {
        assert!(feed(&mut s, f).is_empty());
    }
    assert!(recv_all(&mut s, u).is_empty());
    assert_eq!(s.counters().ip_reassembled, 0);
    assert_eq!(s.counters().drops(DropReason::FragInvalid), 1);
}

#[test]
fn frag_timeout_after_30s() {
    let mut s = new_stack(|_| {});
    let u = s.udp_bind(sa(US, 7)).unwrap();
    let data = vec![9u8; 3000];
    let frags = udp_frags(0x0404, &data, MTU);
    let t0 = now0();
    s.receive(t0, &frags[0]);
    assert_eq!(s.poll_at(), Some(t0 + Duration::from_secs(30)));
    // A second incomplete datagram 5 s later.
    let t1 = t0 + Duration::from_secs(5);
    let frags2 = udp_frags(0x0405, &data, MTU);
    s.receive(t1, &frags2[1]);
    assert_eq!(s.poll_at(), Some(t0 + Duration::from_secs(30)));

    let almost = t0 + Duration::from_secs(30) - Duration::from_micros(1);
    s.handle_timeout(almost);
    assert_eq!(s.counters().drops(DropReason::FragTimeout), 0);
    let deadline = t0 + Duration::from_secs(30);
    s.handle_timeout(deadline);
    assert_eq!(s.counters().drops(DropReason::FragTimeout), 1);
    // Fragment zero had arrived: an ICMP Time Exceeded is queued first.
    let out = drain(&mut s, deadline);
    assert_eq!(out.len(), 1);
    assert_eq!(s.poll_at(), Some(t1 + Duration::from_secs(30)));
    // The late fragments do not complete the expired datagram.
    s.receive(deadline, &frags[1]);
    s.receive(deadline, &frags[2]);
    assert!(recv_all(&mut s, u).is_empty());
    s.handle_timeout(t1 + Duration::from_secs(30));
    assert_eq!(s.counters().drops(DropReason::FragTimeout), 2);
    // The late fragments form their own datagram, which expires too.
    assert_eq!(s.poll_at(), Some(deadline + Duration::from_secs(30)));
    s.handle_timeout(deadline + Duration::from_secs(30));
    assert_eq!(s.counters().drops(DropReason::FragTimeout), 3);
    assert_eq!(s.poll_at(), None);
    assert_eq!(s.counters().ip_reassembled, 0);
}

#[test]
fn frag_timeout_combined_with_tcp_timer_in_poll_at() {
    let (mut s, _h, _syn) = syn_sent();
    let tcp_at = s.poll_at().unwrap();
    assert!(tcp_at <= now0() + Duration::from_secs(1));
    let frags = udp_frags(0x0406, &[1u8; 3000], MTU);
    s.receive(now0(), &frags[0]);
    assert_eq!(s.poll_at(), Some(tcp_at), "earliest of the two");
    // A stack whose only timer is the reassembly deadline.
    let mut s = new_stack(|c| c.reassembly.timeout = Duration::from_secs(7));
    s.receive(now0(), &frags[0]);
    assert_eq!(s.poll_at(), Some(now0() + Duration::from_secs(7)));
    s.handle_timeout(now0() + Duration::from_secs(7));
    assert_eq!(drops(&s), vec![(DropReason::FragTimeout, 1)]);
}

#[test]
fn frag_timeout_sends_time_exceeded_when_fragment_zero_arrived() {
    // RFC 1122 3.3.2: "If the timer runs out, the partially-reassembled
    // datagram MUST be discarded and an ICMP Time Exceeded message sent to
    // the source host (if fragment zero has been received)." (RFC 792:
    // type 11, code 1 "fragment reassembly time exceeded".)
    let mut s = new_stack(|_| {});
    let frags = udp_frags(0x0407, &[1u8; 3000], MTU);
    let other = udp_frags(0x0408, &[2u8; 3000], MTU);
    s.receive(now0(), &frags[0]);
    s.receive(now0(), &frags[1]);
    s.receive(now0(), &other[1]); // fragment zero never arrives
    let at = now0() + Duration::from_secs(30);
    s.handle_timeout(at);
    assert_eq!(s.counters().drops(DropReason::FragTimeout), 2);
    let out = drain(&mut s, at);
    assert_eq!(
        out.len(),
        1,
        "expected one ICMP time exceeded (only for the datagram whose fragment zero arrived)"
    );
    let r = check_emitted(&out[0], MTU).unwrap();
    assert_eq!((r.src, r.dst, r.protocol), (US, PEER, PROTO_ICMP));
    let msg = &out[0][20..];
    assert_eq!(&msg[..2], &[icmpv4::TYPE_TIME_EXCEEDED, 1]);
    assert_eq!(&msg[8..36], &frags[0][..28], "quotes fragment zero");
}

/// RFC 1122 §3.2.2: no ICMP error about an ICMP error, so a lost
/// fragmented ICMP error times out in silence (an echo does not).
#[test]
fn frag_timeout_of_an_icmp_error_sends_nothing() {
    let mut s = new_stack(|_| {});
    let big_error = dst_unreachable(unreachable::PORT, &[0x45; 3000]);
    let big_echo = echo_request(1, 1, &[0u8; 3000]);
    for (ident, msg) in [(0x0501, &big_error), (0x0502, &big_echo)] {
        let frags = fragment(PEER, US, PROTO_ICMP, ident, msg, MTU);
        s.receive(now0(), &frags[0]);
    }
    let at = now0() + Duration::from_secs(30);
    s.handle_timeout(at);
    assert_eq!(s.counters().drops(DropReason::FragTimeout), 2);
    let out = drain(&mut s, at);
    assert_eq!(out.len(), 1, "one Time Exceeded, about the echo");
    assert_eq!(&out[0][20..22], &[icmpv4::TYPE_TIME_EXCEEDED, 1]);
    assert_eq!(
        &out[0][48..50],
        &[icmpv4::TYPE_ECHO_REQUEST, 0],
        "quotes the echo"
    );
}

/// Sends the first fragment of `n` 2000-byte datagrams (1480 bytes held
/// each), then the last fragments newest first; returns how many complete.
fn flood_incomplete(s: &mut Stack, n: u16) -> Vec<Vec<u8>> {
    let u = s.udp_bind(sa(US, 7)).unwrap();
    let all: Vec<Vec<Vec<u8>>> = (0..n)
        .map(|i| udp_frags(0x1000 + i, &vec![i as u8; 2000], MTU))
        .collect();
    for (i, f) in all.iter().enumerate() {
        assert_eq!(f.len(), 2);
        s.receive(now0() + Duration::from_millis(i as u64), &f[0]);
    }
    let later = now0() + Duration::from_secs(1);
    for f in all.iter().rev() {
        s.receive(later, &f[1]);
    }
    assert!(drain(s, later).is_empty());
    recv_all(s, u)
}

#[test]
fn frag_memory_bound_bytes() {
    // 8 KiB holds five 1480-byte first fragments, not six.
    let mut s = new_stack(|c| {
        c.reassembly.max_bytes = 8192;
        c.reassembly.max_datagrams = 1000;
    });
    let got = flood_incomplete(&mut s, 50);
    assert_eq!(got.len(), 5, "datagrams completed");
    for d in &got {
        assert_eq!(d.len(), 2000);
        assert!(d.iter().all(|b| *b == d[0]), "intact datagram");
    }
    assert_eq!(s.counters().ip_reassembled, 5);
}

#[test]
fn frag_memory_bound_datagrams() {
    let mut s = new_stack(|c| c.reassembly.max_datagrams = 4);
    let got = flood_incomplete(&mut s, 50);
    assert_eq!(got.len(), 4, "datagrams completed");
    assert_eq!(s.counters().ip_reassembled, 4);
}

#[test]
fn frag_datagram_larger_than_budget_no_memory() {
    let mut s = new_stack(|c| c.reassembly.max_bytes = 4096);
    let u = s.udp_bind(sa(US, 7)).unwrap();
    for f in udp_frags(0x2000, &[5u8; 20_000], MTU) {
        s.receive(now0(), &f);
    }
    assert!(recv_all(&mut s, u).is_empty());
    assert!(
        s.counters().drops(DropReason::FragNoMemory) >= 1,
        "{:?}",
        drops(&s)
    );
    assert_eq!(s.counters().ip_reassembled, 0);
    // A datagram that fits still gets through.
    for f in udp_frags(0x2001, &[6u8; 2000], MTU) {
        s.receive(now0(), &f);
    }
    assert_eq!(recv_all(&mut s, u), vec![vec![6u8; 2000]]);
}

// ====================================================================
// Fuzz-ish: nothing panics, everything emitted is valid IPv4
// ====================================================================

/// The stack fuzzed (B of a pair, with an established connection from A,
/// a listener on 80 and a UDP socket on 53) and a corpus of valid packets
/// addressed to it.
struct Fixture {
    s: Stack,
    now: Instant,
    corpus: Vec<Vec<u8>>,
}

fn fixture() -> Fixture {
    let mut p = Pair::new(21);
    let l = p.b.tcp_listen(sa(B_IP, 80), 8).unwrap();
    let ub = p.b.udp_bind(sa(B_IP, 53)).unwrap();
    let c = p.a.tcp_connect(sa(B_IP, 80), None).unwrap();
    let mut srv = None;
    assert!(p.run_until(Duration::from_secs(5), |p| {
        if let Ok((h, _)) = p.b.tcp_accept(l) {
            srv = Some(h);
        }
        srv.is_some() && p.a.tcp_state(c).unwrap() == TcpState::Established
    }));
    let srv = srv.unwrap();
    p.a.tcp_send(c, &[0x42; 3000]).unwrap();
    p.b.tcp_send(srv, &[0x24; 2000]).unwrap();
    let ua = p.a.udp_bind(sa(A_IP, 5353)).unwrap();
    p.a.udp_send_to(ua, b"dns query", sa(B_IP, 53)).unwrap();
    p.a.udp_send_to(ua, &[1u8; 3000], sa(B_IP, 53)).unwrap();
    let mut buf = vec![0u8; 10_000];
    p.run_until(Duration::from_secs(2), |p| {
        while p.b.tcp_recv(srv, &mut buf).is_ok() {}
        while p.a.tcp_recv(c, &mut buf).is_ok() {}
        while p.b.udp_recv_from(ub, &mut buf).is_ok() {}
        false
    });
    let mut corpus = p.sent(true);
    let from_b = p.sent(false);
    // Crafted packets from A (a valid source for B).
    corpus.push(udp_ip(A_IP, B_IP, 1000, 53, b"to bound port"));
    corpus.push(udp_ip(A_IP, B_IP, 1000, 54, b"to closed port"));
    corpus.push(ip(A_IP, B_IP, PROTO_ICMP, &echo_request(1, 2, b"ping")));
    let big = echo_request(3, 4, &[0x77; 3000]);
    corpus.extend(fragment(A_IP, B_IP, PROTO_ICMP, 0x3333, &big, MTU));
    corpus.push(ip(A_IP, B_IP, 253, b"unknown protocol"));
    for pkt in from_b.iter().take(3) {
        let n = pkt.len().min(28 + 20);
        corpus.push(ip(
            A_IP,
            B_IP,
            PROTO_ICMP,
            &dst_unreachable(unreachable::PORT, &pkt[..n]),
        ));
    }
    let syn = TcpRepr {
        src_port: 40000,
        dst_port: 80,
        seq: 12345,
        ack: 0,
        flags: TcpFlags::SYN,
        window: 1000,
        urgent: 0,
        options: TcpOptions {
            mss: Some(1460),
            ..TcpOptions::default()
        },
        payload: &[],
    };
    let mut seg = vec![0u8; syn.header_len()];
    syn.emit(&mut seg, v4(A_IP), v4(B_IP));
    corpus.push(ip(A_IP, B_IP, PROTO_TCP, &seg));
    let mut closed = seg.clone();
    closed[2..4].copy_from_slice(&81u16.to_be_bytes());
    ustack::wire::tcp::fill_checksum(&mut closed, v4(A_IP), v4(B_IP));
    corpus.push(ip(A_IP, B_IP, PROTO_TCP, &closed));
    let now = p.now;
    let Pair { b, .. } = p;
    Fixture { s: b, now, corpus }
}

#[derive(Debug, Clone)]
enum Mutation {
    Flip(usize, u8),
    Set(usize, u8),
    Truncate(usize),
    Extend(Vec<u8>),
    TotalLen(u16),
    Ihl(u8),
    Frag(u16),
    Protocol(u8),
    Src([u8; 4]),
    Dst([u8; 4]),
    TransportWord(usize, u16),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        4 => (any::<usize>(), 1..=255u8).prop_map(|(i, b)| Mutation::Flip(i, b)),
        3 => (any::<usize>(), any::<u8>()).prop_map(|(i, b)| Mutation::Set(i, b)),
        1 => any::<usize>().prop_map(Mutation::Truncate),
        1 => prop::collection::vec(any::<u8>(), 1..64).prop_map(Mutation::Extend),
        1 => any::<u16>().prop_map(Mutation::TotalLen),
        1 => (0..16u8).prop_map(Mutation::Ihl),
        2 => any::<u16>().prop_map(Mutation::Frag),
        1 => prop_oneof![Just(1u8), Just(6), Just(17), any::<u8>()].prop_map(Mutation::Protocol),
        1 => any::<[u8; 4]>().prop_map(Mutation::Src),
        1 => prop_oneof![
            Just([198u8, 18, 0, 2]),
            Just([198u8, 18, 0, 255]),
            Just([255u8; 4]),
            any::<[u8; 4]>()
        ]
        .prop_map(Mutation::Dst),
        3 => (0..40usize, any::<u16>()).prop_map(|(i, w)| Mutation::TransportWord(i, w)),
    ]
}

fn apply(pkt: &mut Vec<u8>, m: &Mutation) {
    let n = pkt.len();
    let ihl = if n > 0 {
        usize::from(pkt[0] & 0x0f) * 4
    } else {
        0
    };
    match m {
        Mutation::Flip(i, b) if n > 0 => pkt[i % n] ^= b,
        Mutation::Set(i, b) if n > 0 => pkt[i % n] = *b,
        Mutation::Truncate(i) => pkt.truncate(i % (n + 1)),
        Mutation::Extend(v) => pkt.extend_from_slice(v),
        Mutation::TotalLen(l) if n >= 4 => pkt[2..4].copy_from_slice(&l.to_be_bytes()),
        Mutation::Ihl(v) if n > 0 => pkt[0] = (pkt[0] & 0xf0) | v,
        Mutation::Frag(f) if n >= 8 => pkt[6..8].copy_from_slice(&f.to_be_bytes()),
        Mutation::Protocol(p) if n >= 10 => pkt[9] = *p,
        Mutation::Src(a) if n >= 16 => pkt[12..16].copy_from_slice(a),
        Mutation::Dst(a) if n >= 20 => pkt[16..20].copy_from_slice(a),
        Mutation::TransportWord(i, w) if ihl >= 20 && ihl + i + 2 <= n => {
            pkt[ihl + i..ihl + i + 2].copy_from_slice(&w.to_be_bytes())
        }
        _ => {}
    }
}

/// Makes the transport checksum right again (so mutations reach the
/// transport parsers), for unfragmented packets with a sane header.
fn fix_transport_checksum(pkt: &mut [u8]) {
    let Ok(p) = Ipv4Packet::new_checked(&pkt[..]) else {
        return;
    };
    if p.more_frags() || p.frag_offset() != 0 {
        return;
    }
    let (src, dst, proto) = (p.src_addr(), p.dst_addr(), p.protocol());
    let (start, end) = (p.header_len(), p.total_len());
    let seg = &mut pkt[start..end];
    match proto {
        PROTO_TCP if seg.len() >= 20 => ustack::wire::tcp::fill_checksum(seg, v4(src), v4(dst)),
        PROTO_UDP if seg.len() >= 8 => {
            let len = usize::from(u16::from_be_bytes([seg[4], seg[5]]));
            if (8..=seg.len()).contains(&len) {
                seg[6] = 0;
                seg[7] = 0;
                let acc =
                    ustack::wire::checksum::pseudo_header(v4(src), v4(dst), PROTO_UDP, len as u32);
                let c = ustack::wire::checksum::finish(ustack::wire::checksum::accumulate(
                    acc,
                    &seg[..len],
                ));
                let c = if c == 0 { 0xffff } else { c };
                seg[6..8].copy_from_slice(&c.to_be_bytes());
            }
        }
        PROTO_ICMP if seg.len() >= 8 => {
            seg[2] = 0;
            seg[3] = 0;
            let c = ustack::wire::checksum::checksum(seg);
            seg[2..4].copy_from_slice(&c.to_be_bytes());
        }
        _ => {}
    }
}

/// Drains the stack and checks every packet; feeds fragments into `reasm`.
fn drain_checked(s: &mut Stack, now: Instant, reasm: &mut Reasm) -> Result<(), TestCaseError> {
    let us = Ipv4Addr::new(198, 18, 0, 2);
    for pkt in drain(s, now) {
        let r = check_emitted(&pkt, MTU)
            .map_err(|e| TestCaseError::fail(format!("{e}: {pkt:02x?}")))?;
        prop_assert_eq!(r.src, us, "source is our address");
        prop_assert!(
            !(r.dst.is_broadcast()
                || r.dst.is_multicast()
                || r.dst.is_unspecified()
                || r.dst == Ipv4Addr::new(198, 18, 0, 255)
                || r.dst == us),
            "emitted to a non-unicast or own address: {}",
            r.dst
        );
        reasm
            .add(&pkt)
            .map_err(|e| TestCaseError::fail(format!("emitted fragments: {e}")))?;
    }
    Ok(())
}

/// Feeds packets, firing timers in between, checking all output.
fn run_fuzz(f: &mut Fixture, pkts: &[(Vec<u8>, u64)]) -> Result<(), TestCaseError> {
    let mut reasm = Reasm::default();
    drain_checked(&mut f.s, f.now, &mut reasm)?;
    for (pkt, advance_us) in pkts {
        f.now += Duration::from_micros(*advance_us);
        f.s.receive(f.now, pkt);
        drain_checked(&mut f.s, f.now, &mut reasm)?;
        if let Some(at) = f.s.poll_at() {
            if at <= f.now {
                f.s.handle_timeout(f.now);
                drain_checked(&mut f.s, f.now, &mut reasm)?;
            }
        }
    }
    // Let every timer run out (retransmissions, reassembly, TIME-WAIT...).
    for _ in 0..200 {
        let Some(at) = f.s.poll_at() else { break };
        f.now = f.now.max(at);
        f.s.handle_timeout(f.now);
        drain_checked(&mut f.s, f.now, &mut reasm)?;
        f.now += Duration::from_millis(1);
    }
    let _ = f.s.counters();
    Ok(())
}

fn fuzz_config() -> ProptestConfig {
    ProptestConfig {
        cases: 200,
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

proptest! {
    #![proptest_config(fuzz_config())]

    #[test]
    fn fuzz_random_bytes_never_panic(
        pkts in prop::collection::vec(
            (any::<bool>(), prop::collection::vec(any::<u8>(), 0..1600), 0u8..4, 0u64..300_000),
            1..12,
        )
    ) {
        let mut f = fixture();
        let mut input = Vec::new();
        for (valid_header, mut bytes, proto, adv) in pkts {
            if valid_header && bytes.len() >= 20 {
                // A sound IPv4 header to B so the random rest reaches the
                // transport parsers.
                let protocol = [PROTO_TCP, PROTO_UDP, PROTO_ICMP, 253][usize::from(proto)];
                let hdr = ip(A_IP, B_IP, protocol, &vec![0u8; bytes.len() - 20]);
                bytes[..20].copy_from_slice(&hdr[..20]);
            }
            input.push((bytes, adv));
        }
        run_fuzz(&mut f, &input)?;
    }

    #[test]
    fn fuzz_mutated_valid_packets_never_panic(
        cases in prop::collection::vec(
            (
                any::<prop::sample::Index>(),
                prop::collection::vec(mutation(), 0..4),
                any::<bool>(),
                any::<bool>(),
                0u64..300_000,
            ),
            1..16,
        )
    ) {
        let mut f = fixture();
        let mut input = Vec::new();
        for (idx, muts, fix_transport, fix_ip, adv) in cases {
            let mut pkt = idx.get(&f.corpus).clone();
            for m in &muts {
                apply(&mut pkt, m);
            }
            if fix_transport {
                fix_transport_checksum(&mut pkt);
            }
            if fix_ip {
                refresh_ip_checksum(&mut pkt);
            }
            input.push((pkt, adv));
        }
        run_fuzz(&mut f, &input)?;
    }
}

/// A whole datagram to B of `len` bytes for `protocol` (valid ICMP echo or
/// UDP when the size allows, else patterned bytes).
fn datagram_for(protocol: u8, len: usize) -> Vec<u8> {
    let fill: Vec<u8> = (0..len.saturating_sub(8))
        .map(|i| (i % 241) as u8)
        .collect();
    match protocol {
        PROTO_ICMP if len >= 8 => echo_request(7, 7, &fill),
        PROTO_UDP if len >= 8 => udp(A_IP, B_IP, 1000, 53, &fill),
        _ => (0..len).map(|i| (i * 7 % 256) as u8).collect(),
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..fuzz_config() })]

    /// Whole datagrams of any size up to the 16-bit limits, cut into
    /// fragments for a random MTU, delivered in a random order with some
    /// duplicates: no panic, and all output valid.
    #[test]
    fn fuzz_fragment_streams_never_panic(
        dgrams in prop::collection::vec(
            (
                prop_oneof![Just(PROTO_ICMP), Just(PROTO_UDP), Just(PROTO_TCP), Just(253u8)],
                prop_oneof![0usize..3000, 65_000usize..=65_535],
                68usize..=1500,
                prop::collection::vec(any::<prop::sample::Index>(), 0..200),
            ),
            1..4,
        )
    ) {
        let mut f = fixture();
        let mut input = Vec::new();
        for (i, (protocol, len, mtu, swaps)) in dgrams.into_iter().enumerate() {
            let d = datagram_for(protocol, len);
            let mut frags = fragment(A_IP, B_IP, protocol, 0x6000 + i as u16, &d, mtu);
            for (k, sw) in swaps.iter().enumerate() {
                let n = frags.len();
                let (x, y) = (k % n, sw.index(n));
                if k % 7 == 6 {
                    let dup = frags[y].clone();
                    frags.push(dup);
                } else {
                    frags.swap(x, y);
                }
            }
            input.extend(frags.into_iter().map(|p| (p, 10)));
        }
        run_fuzz(&mut f, &input)?;
    }
}

#[test]
fn fuzz_fixture_corpus_is_valid_and_accepted() {
    // The corpus is made of packets the stack accepts (so mutations start
    // from valid input), and the run drives the checks without failures.
    let mut f = fixture();
    let corpus = f.corpus.clone();
    let before = f.s.counters();
    let pkts: Vec<(Vec<u8>, u64)> = corpus.iter().map(|p| (p.clone(), 1000)).collect();
    run_fuzz(&mut f, &pkts).unwrap();
    let after = f.s.counters();
    assert_eq!(after.checksum_drops(), before.checksum_drops());
    assert_eq!(
        after.drops(DropReason::IpMalformed),
        before.drops(DropReason::IpMalformed)
    );
    assert!(after.icmp_out > before.icmp_out, "echo and errors answered");
}

/// Sends `data` from `u` to `to` and returns the one packet it made.
#[track_caller]
fn udp_sent(s: &mut Stack, u: ustack::SocketHandle, data: &[u8], to: SocketAddr) -> Vec<u8> {
    assert_eq!(s.udp_send_to(u, data, to).unwrap(), data.len());
    let mut out = drain(s, now0());
    assert_eq!(out.len(), 1, "one datagram, one packet");
    out.remove(0)
}

/// Our broadcasts reach this host's own sockets too, as on Linux: those
/// bound to the wildcard address on the port, the sender included, but
/// not one bound to the unicast address; a large one is reassembled from
/// its looped fragments. The device still gets every packet.
#[test]
fn udp_broadcast_loops_back_to_this_hosts_sockets() {
    let mut s = new_stack(|_| {});
    let any = |port| sa(Ipv4Addr::UNSPECIFIED, port);
    let sender = s.udp_bind(any(5000)).unwrap();
    let listener = s.udp_bind(any(5001)).unwrap();
    let unicast = s.udp_bind(sa(US, 5002)).unwrap();
    s.udp_set_broadcast(sender, true).unwrap();
    let mut buf = [0u8; 8000];
    for dst in [Ipv4Addr::BROADCAST, SUBNET_BCAST] {
        let pkt = udp_sent(&mut s, sender, b"hello all", sa(dst, 5001));
        assert_eq!(check_emitted(&pkt, MTU).unwrap().dst, dst);
        let r = s.udp_recv_from(listener, &mut buf).unwrap();
        assert_eq!((&buf[..r.len], r.from), (&b"hello all"[..], sa(US, 5000)));
    }
    // To its own port: the sender gets its copy.
    udp_sent(&mut s, sender, b"me too", sa(SUBNET_BCAST, 5000));
    let r = s.udp_recv_from(sender, &mut buf).unwrap();
    assert_eq!(&buf[..r.len], b"me too");
    // A socket bound to the unicast address hears nothing, and no port
    // unreachable goes out for a broadcast nobody took.
    let before = s.counters().icmp_out;
    udp_sent(&mut s, sender, b"not you", sa(SUBNET_BCAST, 5002));
    let e = s.udp_recv_from(unicast, &mut buf).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::WouldBlock);
    assert_eq!(s.counters().icmp_out, before);
    // 4000 bytes: three fragments out, one datagram in.
    let big: Vec<u8> = (0..4000u32).map(|i| i as u8).collect();
    s.udp_send_to(sender, &big, sa(Ipv4Addr::BROADCAST, 5001))
        .unwrap();
    assert_eq!(drain(&mut s, now0()).len(), 3);
    let r = s.udp_recv_from(listener, &mut buf).unwrap();
    assert_eq!(&buf[..r.len], &big[..]);
    assert_eq!(s.counters().ip_looped, 2 + 1 + 1 + 3);
}

/// IP_TOS on UDP: the whole DS field, ECN bits included (Linux lets a
/// datagram socket set them), on every fragment; other sockets keep 0.
#[test]
fn udp_tos_per_socket() {
    let mut s = new_stack(|_| {});
    let u = s.udp_bind(sa(US, 5000)).unwrap();
    assert_eq!(s.udp_tos(u).unwrap(), 0);
    let e = s.udp_set_tos(u, 256).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidInput);
    s.udp_set_tos(u, 0xb9).unwrap();
    assert_eq!(s.udp_tos(u).unwrap(), 0xb9);
    let pkt = udp_sent(&mut s, u, b"voice", sa(PEER, 5004));
    assert_eq!(check_emitted(&pkt, MTU).unwrap().dscp_ecn, 0xb9);
    s.udp_send_to(u, &[7u8; 4000], sa(PEER, 9)).unwrap();
    let frags = drain(&mut s, now0());
    assert_eq!(frags.len(), 3);
    for f in &frags {
        assert_eq!(check_emitted(f, MTU).unwrap().dscp_ecn, 0xb9);
    }
    let v = s.udp_bind(sa(US, 5001)).unwrap();
    let pkt = udp_sent(&mut s, v, b"x", sa(PEER, 9));
    assert_eq!(check_emitted(&pkt, MTU).unwrap().dscp_ecn, 0);
}

#[test]
fn udp_ttl_per_socket() {
    let mut s = new_stack(|_| {});
    let u = s.udp_bind(sa(US, 5000)).unwrap();
    assert_eq!(s.udp_ttl(u).unwrap(), 64, "the stack's");
    let pkt = udp_sent(&mut s, u, b"hop", sa(PEER, 9));
    assert_eq!(check_emitted(&pkt, MTU).unwrap().ttl, 64);
    for bad in [0, 256] {
        let e = s.udp_set_ttl(u, bad).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidInput, "{bad}: {e}");
    }
    // A traceroute's first probe: TTL 1.
    s.udp_set_ttl(u, 1).unwrap();
    assert_eq!(s.udp_ttl(u).unwrap(), 1);
    let pkt = udp_sent(&mut s, u, b"hop", sa(PEER, 33434));
    let r = check_emitted(&pkt, MTU).unwrap();
    assert_eq!((r.ttl, r.dst, r.protocol), (1, PEER, PROTO_UDP));
    // Each fragment of a large datagram carries it.
    s.udp_set_ttl(u, 200).unwrap();
    s.udp_send_to(u, &[7u8; 4000], sa(PEER, 9)).unwrap();
    let frags = drain(&mut s, now0());
    assert_eq!(frags.len(), 3);
    for f in &frags {
        assert_eq!(check_emitted(f, MTU).unwrap().ttl, 200);
    }
    // Other sockets keep the stack's.
    let v = s.udp_bind(sa(US, 5001)).unwrap();
    let pkt = udp_sent(&mut s, v, b"x", sa(PEER, 9));
    assert_eq!(check_emitted(&pkt, MTU).unwrap().ttl, 64);
}

#[test]
fn udp_broadcast_only_when_the_socket_asks() {
    let mut s = new_stack(|_| {});
    let u = s.udp_bind(sa(Ipv4Addr::UNSPECIFIED, 68)).unwrap();
    assert!(!s.udp_broadcast(u).unwrap());
    // Without SO_BROADCAST: EACCES (PermissionDenied), nothing sent.
    for dst in [Ipv4Addr::BROADCAST, SUBNET_BCAST] {
        let e = s.udp_send_to(u, b"discover", sa(dst, 67)).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::PermissionDenied, "{dst}: {e}");
    }
    assert!(drain(&mut s, now0()).is_empty());
    s.udp_set_broadcast(u, true).unwrap();
    assert!(s.udp_broadcast(u).unwrap());
    for dst in [Ipv4Addr::BROADCAST, SUBNET_BCAST] {
        let pkt = udp_sent(&mut s, u, b"discover", sa(dst, 67));
        let r = check_emitted(&pkt, MTU).unwrap();
        assert_eq!((r.src, r.dst, r.protocol), (US, dst, PROTO_UDP), "{dst}");
        assert_eq!(&pkt[20..], &udp(US, dst, 68, 67, b"discover")[..]);
    }
    // Turned off again: refused again.
    s.udp_set_broadcast(u, false).unwrap();
    let e = s.udp_send_to(u, b"x", sa(SUBNET_BCAST, 67)).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::PermissionDenied);
    assert_eq!(s.counters().udp_out, 2);
}
