//! Shared pieces of the fuzz targets: checks on everything a stack emits
//! (IPv4 and IPv6), and a dual-stack fixture with live connections in
//! interesting states.
use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use ustack::wire::checksum;
use ustack::wire::icmpv4::Icmpv4Repr;
use ustack::wire::icmpv6::{self, Icmpv6Repr};
use ustack::wire::ipv4::{self, Ipv4Packet, Ipv4Repr};
use ustack::wire::ipv6::{self, Ipv6Packet, Ipv6Repr};
use ustack::wire::tcp::{TcpFlags, TcpOptions, TcpPacket, TcpRepr};
use ustack::wire::udp::UdpPacket;
use ustack::{Cidr, Config, Instant, SocketHandle, Stack};

pub const US: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 1);
pub const PEER: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 2);
/// The fixture's IPv6 address (2001:2::/64: RFC 5180's benchmarking range)
/// and its peer's.
pub const US6: Ipv6Addr = Ipv6Addr::new(0x2001, 2, 0, 0, 0, 0, 0, 1);
pub const PEER6: Ipv6Addr = Ipv6Addr::new(0x2001, 2, 0, 0, 0, 0, 0, 2);
pub const MTU: usize = 1500;
/// The fixture's IPv6 listener (on `[::]`, so dual-stack) and UDP port (on
/// US6).
pub const PORT6: u16 = 8080;
pub const UDP_PORT: u16 = 53;
/// The peer's ISN on the fixture's passive connection.
pub const PEER_ISS: u32 = 1_000_000;

pub fn config(addr: Ipv4Addr, seed: u64) -> Config {
    let mut c = Config::default();
    c.addresses.push(Cidr {
        addr: IpAddr::V4(addr),
        prefix_len: 24,
    });
    c.seed = seed;
    c
}

/// `config` with an IPv6 address (/64) too.
pub fn config_dual(addr: Ipv4Addr, addr6: Ipv6Addr, seed: u64) -> Config {
    let mut c = config(addr, seed);
    c.addresses.push(Cidr {
        addr: IpAddr::V6(addr6),
        prefix_len: 64,
    });
    c
}

/// The addresses a stack under test sends from: its IPv4 one and, if it
/// has one, its IPv6 one (an IPv4-only stack must never emit IPv6).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Us {
    pub v4: Ipv4Addr,
    pub v6: Option<Ipv6Addr>,
}

impl From<Ipv4Addr> for Us {
    fn from(v4: Ipv4Addr) -> Us {
        Us { v4, v6: None }
    }
}

impl From<(Ipv4Addr, Ipv6Addr)> for Us {
    fn from((v4, v6): (Ipv4Addr, Ipv6Addr)) -> Us {
        Us { v4, v6: Some(v6) }
    }
}

/// Checks one packet a stack emitted: a well-formed IPv4 packet from `us`
/// to a unicast address that is not ours, within the MTU, with valid
/// header and (for whole datagrams) transport checksums. Panics otherwise.
pub fn check_emitted(pkt: &[u8], us: Ipv4Addr, mtu: usize) {
    let p = Ipv4Packet::new_checked(pkt).expect("emitted packet parses as IPv4");
    let r = Ipv4Repr::parse(&p).expect("emitted IPv4 header checksum");
    assert_eq!(p.total_len(), pkt.len(), "total length matches");
    assert!(
        pkt.len() <= mtu,
        "packet of {} bytes > MTU {mtu}",
        pkt.len()
    );
    assert_eq!(r.src, us, "source is our address");
    let d = r.dst;
    // Only UDP may broadcast (a socket with SO_BROADCAST asked for it).
    let broadcast_ok = d.is_broadcast() && r.protocol == ustack::wire::ipv4::PROTO_UDP;
    assert!(
        broadcast_ok || !(d.is_broadcast() || d.is_multicast() || d.is_unspecified() || d == us),
        "emitted to non-unicast or own address {d}"
    );
    assert!(r.frag_offset + r.payload_len <= 65535 - 20);
    if r.more_frags || r.frag_offset != 0 {
        return;
    }
    let payload = p.payload();
    let (src, dst) = (IpAddr::V4(r.src), IpAddr::V4(r.dst));
    match r.protocol {
        ipv4::PROTO_TCP => check_tcp(payload, src, dst),
        ipv4::PROTO_UDP => check_udp(payload, src, dst),
        ipv4::PROTO_ICMP => {
            Icmpv4Repr::parse(payload).expect("emitted ICMP parses");
        }
        other => panic!("emitted unexpected protocol {other}"),
    }
}

/// An emitted TCP segment: parses, checksum right over either IP
/// version's pseudo-header, ports set, never SYN with RST.
fn check_tcp(seg: &[u8], src: IpAddr, dst: IpAddr) {
    let t = TcpPacket::new_checked(seg).expect("emitted TCP parses");
    assert!(
        t.verify_checksum(src, dst),
        "emitted TCP checksum ({src} → {dst})"
    );
    let repr = TcpRepr::parse(&t).expect("emitted TCP options parse");
    assert!(repr.src_port != 0 && repr.dst_port != 0);
    assert!(
        !(repr.flags.syn() && repr.flags.rst()),
        "SYN+RST emitted: {repr:?}"
    );
}

/// An emitted UDP datagram: its length, and a checksum, always (we always
/// send one; over IPv6 it is mandatory, RFC 8200 §8.1).
fn check_udp(seg: &[u8], src: IpAddr, dst: IpAddr) {
    let u = UdpPacket::new_checked(seg).expect("emitted UDP parses");
    assert_eq!(u.len(), seg.len());
    assert!(u.checksum() != 0, "UDP without a checksum ({src} → {dst})");
    assert!(
        u.verify_checksum(src, dst),
        "emitted UDP checksum ({src} → {dst})"
    );
}

/// A fragment of a datagram the stack emitted (see `check_emitted_v6`).
#[derive(Debug)]
pub struct EmittedFragment {
    pub src: Ipv6Addr,
    pub dst: Ipv6Addr,
    pub header: ipv6::FragmentHeader,
    pub data: Vec<u8>,
}

/// Checks one packet a stack emitted: a well-formed IPv6 packet from `us`
/// (never from ::1: that traffic stays in the host) to a unicast address
/// that is not ours nor ::1, within the MTU, with valid transport checksums
/// (over the IPv6 pseudo-header) and ICMPv6 errors within the minimum MTU.
/// Panics otherwise. A fragment is checked as far as it goes and returned:
/// `Reassembly` checks the whole datagram.
pub fn check_emitted_v6(pkt: &[u8], us: Ipv6Addr, mtu: usize) -> Option<EmittedFragment> {
    let p = Ipv6Packet::new_checked(pkt).expect("emitted packet parses as IPv6");
    let r = Ipv6Repr::parse(&p).expect("emitted IPv6 header");
    assert_eq!(p.total_len(), pkt.len(), "payload length matches");
    assert!(
        pkt.len() <= mtu,
        "packet of {} bytes > MTU {mtu}",
        pkt.len()
    );
    assert!(
        r.src != Ipv6Addr::LOCALHOST,
        "a packet from ::1 left the host: {r:?}"
    );
    assert_eq!(r.src, us, "source is our address: {r:?}");
    let d = r.dst;
    assert!(
        !(d.is_multicast() || d.is_unspecified() || d.is_loopback() || d == us),
        "emitted to non-unicast, loopback or own address {d}"
    );
    assert!(r.hop_limit > 0, "hop limit 0");
    let payload = p.payload();
    let ext = ipv6::walk_extensions(r.next_header, payload)
        .unwrap_or_else(|e| panic!("emitted extension headers do not walk: {e:?}"));
    let upper = &payload[ext.offset..];
    if let Some(f) = ext.fragment {
        assert!(!upper.is_empty(), "empty fragment {f:?}");
        assert!(
            !f.more || upper.len().is_multiple_of(8),
            "non-last fragment of {} bytes",
            upper.len()
        );
        assert!(
            f.offset + upper.len() <= 65535,
            "fragment past 64 KiB: {f:?}"
        );
        return Some(EmittedFragment {
            src: r.src,
            dst: r.dst,
            header: f,
            data: upper.to_vec(),
        });
    }
    check_upper_v6(ext.protocol, upper, r.src, r.dst);
    None
}

/// Checks a whole upper-layer message we emitted over IPv6 (as sent, or
/// reassembled from our fragments).
fn check_upper_v6(protocol: u8, seg: &[u8], src: Ipv6Addr, dst: Ipv6Addr) {
    let (s, d) = (IpAddr::V6(src), IpAddr::V6(dst));
    match protocol {
        ipv6::PROTO_TCP => check_tcp(seg, s, d),
        ipv6::PROTO_UDP => check_udp(seg, s, d),
        ipv6::PROTO_ICMPV6 => {
            let m = Icmpv6Repr::parse(seg, src, dst)
                .unwrap_or_else(|e| panic!("emitted ICMPv6 does not parse: {e:?}"));
            if icmpv6::is_error(seg[0]) {
                check_icmpv6_error(&m, seg, dst);
            }
        }
        other => panic!("emitted unexpected IPv6 next header {other}"),
    }
}

/// An ICMPv6 error we sent to `to` (RFC 4443 §2.4): within the minimum
/// MTU, about a packet that came from `to`, never about an ICMPv6 error,
/// about a multicast packet only for an unrecognized option (e.3).
fn check_icmpv6_error(m: &Icmpv6Repr<'_>, msg: &[u8], to: Ipv6Addr) {
    assert!(
        ipv6::HEADER_LEN + msg.len() <= ipv6::MIN_MTU,
        "ICMPv6 error of {} bytes > {}: {m:?}",
        ipv6::HEADER_LEN + msg.len(),
        ipv6::MIN_MTU
    );
    let quoted = &msg[icmpv6::HEADER_LEN..];
    if quoted.len() < ipv6::HEADER_LEN || quoted[0] >> 4 != 6 {
        return;
    }
    let q = Ipv6Packet::new_unchecked(quoted);
    assert_eq!(
        q.src_addr(),
        to,
        "ICMPv6 error not sent to the source of the packet it quotes: {m:?}"
    );
    if q.dst_addr().is_multicast() {
        assert!(
            matches!(
                m,
                Icmpv6Repr::ParamProblem {
                    code: icmpv6::param_problem::UNRECOGNIZED_OPTION,
                    ..
                }
            ),
            "ICMPv6 error about a multicast packet (RFC 4443 §2.4 (e)): {m:?}"
        );
    }
    // The quote may be cut short: look only as far as it goes.
    let body = &quoted[ipv6::HEADER_LEN..];
    let body = &body[..body.len().min(q.payload_len())];
    if let Ok(ext) = ipv6::walk_extensions(q.next_header(), body) {
        let first_part = ext.fragment.is_none_or(|f| f.offset == 0);
        if first_part && ext.protocol == ipv6::PROTO_ICMPV6 {
            if let Some(&t) = body.get(ext.offset) {
                assert!(
                    !icmpv6::is_error(t),
                    "ICMPv6 error about an ICMPv6 error (type {t}), RFC 4443 §2.4 (e.1): {m:?}"
                );
            }
        }
    }
}

/// Reassembles the IPv6 datagrams a stack fragments (all of a datagram's
/// fragments leave in one drain) and checks each whole one.
#[derive(Default)]
pub struct Reassembly {
    pending: HashMap<(Ipv6Addr, Ipv6Addr, u32), Vec<EmittedFragment>>,
}

impl Reassembly {
    pub fn add(&mut self, f: EmittedFragment) {
        let key = (f.src, f.dst, f.header.ident);
        let frags = self.pending.entry(key).or_default();
        frags.push(f);
        frags.sort_by_key(|f| f.header.offset);
        // Complete when the pieces run from 0 to a last fragment.
        let mut end = 0;
        for f in frags.iter() {
            if f.header.offset != end {
                return;
            }
            end += f.data.len();
            if !f.header.more {
                break;
            }
        }
        let Some(last) = frags.last() else { return };
        if last.header.more {
            return;
        }
        let frags = self.pending.remove(&key).unwrap_or_default();
        let mut whole = Vec::with_capacity(end);
        for f in &frags {
            assert_eq!(
                f.header.next_header, frags[0].header.next_header,
                "fragments of one datagram disagree on the next header"
            );
            whole.extend_from_slice(&f.data);
        }
        assert_eq!(
            whole.len(),
            end,
            "overlapping or duplicate fragments emitted"
        );
        // (An ICMPv6 error, at most that, is never fragmented.)
        assert!(
            ipv6::HEADER_LEN + whole.len() > ipv6::MIN_MTU,
            "fragmented a datagram of {} bytes that fits the minimum MTU",
            whole.len()
        );
        check_upper_v6(frags[0].header.next_header, &whole, key.0, key.1);
    }

    /// Every fragmented datagram came out whole.
    pub fn finish(&self) {
        assert!(
            self.pending.is_empty(),
            "incomplete fragmented datagrams emitted: {:?}",
            self.pending.keys().collect::<Vec<_>>()
        );
    }
}

/// Checks an emitted packet of either version (see `check_emitted`,
/// `check_emitted_v6`); fragments of IPv6 datagrams go to `frags`.
pub fn check_emitted_any(pkt: &[u8], us: Us, mtu: usize, frags: &mut Reassembly) {
    match pkt.first().map(|b| b >> 4) {
        Some(6) => {
            let us6 = us
                .v6
                .unwrap_or_else(|| panic!("an IPv4-only stack emitted IPv6: {pkt:02x?}"));
            if let Some(f) = check_emitted_v6(pkt, us6, mtu) {
                frags.add(f);
            }
        }
        _ => check_emitted(pkt, us.v4, mtu),
    }
}

/// Drains a stack, checking every packet; returns them.
pub fn drain(s: &mut Stack, now: Instant, us: impl Into<Us>) -> Vec<Vec<u8>> {
    thread_local! {
        static BUF: std::cell::RefCell<Vec<u8>> = std::cell::RefCell::new(vec![0u8; 65536]);
    }
    let us = us.into();
    BUF.with(|b| {
        let mut buf = b.borrow_mut();
        let mut out = Vec::new();
        let mut frags = Reassembly::default();
        while let Some(n) = s.poll_transmit(now, &mut buf) {
            check_emitted_any(&buf[..n], us, MTU, &mut frags);
            out.push(buf[..n].to_vec());
            assert!(out.len() < 100_000, "poll_transmit never returns None");
        }
        frags.finish();
        out
    })
}

/// Fires due timers and drains until the stack has nothing to do now; then
/// its next deadline must be in the future (no busy loop).
pub fn settle(s: &mut Stack, now: Instant, us: impl Into<Us>) -> Vec<Vec<u8>> {
    let us = us.into();
    let mut out = drain(s, now, us);
    for _ in 0..100 {
        match s.poll_at() {
            Some(t) if t <= now => {
                s.handle_timeout(now);
                out.extend(drain(s, now, us));
            }
            _ => return out,
        }
    }
    panic!(
        "poll_at stays at or before now: busy loop ({:?})",
        s.poll_at()
    );
}

/// A TCP segment from `src` to `dst` (either version), checksum filled.
#[allow(clippy::too_many_arguments)]
pub fn tcp_segment(
    src: SocketAddr,
    dst: SocketAddr,
    seq: u32,
    ack: u32,
    flags: TcpFlags,
    window: u16,
    urgent: u16,
    options: TcpOptions,
    payload: &[u8],
) -> Vec<u8> {
    let repr = TcpRepr {
        src_port: src.port(),
        dst_port: dst.port(),
        seq,
        ack,
        flags,
        window,
        urgent,
        options,
        payload,
    };
    let mut seg = vec![0u8; repr.header_len() + payload.len()];
    repr.emit(&mut seg, src.ip(), dst.ip());
    seg
}

/// A TCP segment from the peer as a whole IPv4 or IPv6 packet (by the
/// addresses' version).
#[allow(clippy::too_many_arguments)]
pub fn tcp_packet(
    src: SocketAddr,
    dst: SocketAddr,
    seq: u32,
    ack: u32,
    flags: TcpFlags,
    window: u16,
    urgent: u16,
    options: TcpOptions,
    payload: &[u8],
) -> Vec<u8> {
    let seg = tcp_segment(src, dst, seq, ack, flags, window, urgent, options, payload);
    match (src.ip(), dst.ip()) {
        (IpAddr::V4(s), IpAddr::V4(d)) => {
            let mut pkt = vec![0u8; 20 + seg.len()];
            Ipv4Repr {
                src: s,
                dst: d,
                protocol: ipv4::PROTO_TCP,
                payload_len: seg.len(),
                ttl: 64,
                ident: 1,
                dont_frag: true,
                more_frags: false,
                frag_offset: 0,
                dscp_ecn: 0,
            }
            .emit(&mut pkt[..20]);
            pkt[20..].copy_from_slice(&seg);
            pkt
        }
        (IpAddr::V6(s), IpAddr::V6(d)) => ip6_packet(s, d, ipv6::PROTO_TCP, 64, &seg),
        _ => unreachable!("one IP version per segment"),
    }
}

/// An IPv6 packet around `payload` (extension headers included), cut to
/// 65535 bytes of payload.
pub fn ip6_packet(
    src: Ipv6Addr,
    dst: Ipv6Addr,
    next_header: u8,
    hop_limit: u8,
    payload: &[u8],
) -> Vec<u8> {
    let payload = &payload[..payload.len().min(65535)];
    let mut v = vec![0u8; ipv6::HEADER_LEN + payload.len()];
    Ipv6Repr {
        src,
        dst,
        next_header,
        payload_len: payload.len(),
        hop_limit,
        traffic_class: 0,
        flow_label: 0,
    }
    .emit(&mut v[..ipv6::HEADER_LEN]);
    v[ipv6::HEADER_LEN..].copy_from_slice(payload);
    v
}

/// Fills the checksum of a TCP, UDP or ICMPv6 message (`protocol`) from
/// `src` to `dst` over the IPv6 pseudo-header; other protocols, or
/// messages too short to hold the field, are left as they are.
pub fn fill_checksum_v6(protocol: u8, msg: &mut [u8], src: Ipv6Addr, dst: Ipv6Addr) {
    let (s, d) = (IpAddr::V6(src), IpAddr::V6(dst));
    let at = match protocol {
        ipv6::PROTO_TCP if msg.len() >= 20 => {
            ustack::wire::tcp::fill_checksum(msg, s, d);
            return;
        }
        ipv6::PROTO_UDP if msg.len() >= 8 => 6,
        ipv6::PROTO_ICMPV6 if msg.len() >= 4 => 2,
        _ => return,
    };
    msg[at] = 0;
    msg[at + 1] = 0;
    let Ok(len) = u32::try_from(msg.len()) else {
        return;
    };
    let acc = checksum::pseudo_header(s, d, protocol, len);
    let c = checksum::finish(checksum::accumulate(acc, msg));
    // UDP sends a computed 0 as 0xFFFF (0 would be "no checksum").
    let c = if c == 0 && protocol == ipv6::PROTO_UDP {
        0xFFFF
    } else {
        c
    };
    msg[at..at + 2].copy_from_slice(&c.to_be_bytes());
}

/// An IPv4 packet (or fragment) around `payload`.
pub fn ip_packet(
    src: Ipv4Addr,
    dst: Ipv4Addr,
    protocol: u8,
    ident: u16,
    more_frags: bool,
    frag_offset: usize,
    payload: &[u8],
) -> Vec<u8> {
    let payload = &payload[..payload.len().min(65535 - 20)];
    let mut v = vec![0u8; 20 + payload.len()];
    Ipv4Repr {
        src,
        dst,
        protocol,
        payload_len: payload.len(),
        ttl: 64,
        ident,
        dont_frag: false,
        more_frags,
        frag_offset: frag_offset & !7 & 0xffff,
        dscp_ecn: 0,
    }
    .emit(&mut v[..20]);
    v[20..].copy_from_slice(payload);
    v
}

/// Recomputes the transport checksum of an unfragmented packet made by
/// `ip_packet` (so mutated payloads reach the transport parsers).
pub fn fix_transport_checksum(pkt: &mut [u8]) {
    if pkt.len() < 20 {
        return;
    }
    let src = IpAddr::V4(Ipv4Addr::new(pkt[12], pkt[13], pkt[14], pkt[15]));
    let dst = IpAddr::V4(Ipv4Addr::new(pkt[16], pkt[17], pkt[18], pkt[19]));
    let proto = pkt[9];
    let seg = &mut pkt[20..];
    match proto {
        ipv4::PROTO_TCP if seg.len() >= 20 => ustack::wire::tcp::fill_checksum(seg, src, dst),
        ipv4::PROTO_UDP if seg.len() >= 8 => {
            seg[6] = 0;
            seg[7] = 0;
            let acc = checksum::pseudo_header(src, dst, ipv4::PROTO_UDP, seg.len() as u32);
            let c = checksum::finish(checksum::accumulate(acc, seg));
            let c = if c == 0 { 0xffff } else { c };
            seg[6..8].copy_from_slice(&c.to_be_bytes());
        }
        ipv4::PROTO_ICMP if seg.len() >= 8 => {
            seg[2] = 0;
            seg[3] = 0;
            let c = checksum::checksum(seg);
            seg[2..4].copy_from_slice(&c.to_be_bytes());
        }
        _ => {}
    }
}

/// The stack under test, dual-stack (US/24 and US6/64), with:
/// - IPv4: a listener on US:80 (backlog 4), a UDP socket on US:53, an
///   accepted ESTABLISHED connection from PEER:40000 with data queued both
///   ways, and an active open to PEER:443 in SYN-SENT;
/// - IPv6: a listener on `[::]:8080` (backlog 4; dual-stack, so IPv4 SYNs
///   to US:8080 reach it too), a UDP socket on [US6]:53, an accepted
///   ESTABLISHED connection from [PEER6]:40000 with data queued both ways,
///   and an active open to [PEER6]:443 in SYN-SENT.
pub struct Fixture {
    pub s: Stack,
    pub now: Instant,
    pub listener: SocketHandle,
    pub udp: SocketHandle,
    pub est: SocketHandle,
    /// The stack's ISS on `est` (its first data byte is iss + 1).
    pub est_iss: u32,
    pub syn_sent: SocketHandle,
    pub syn_sent_iss: u32,
    pub syn_sent_port: u16,
    pub listener6: SocketHandle,
    pub udp6: SocketHandle,
    pub est6: SocketHandle,
    pub est6_iss: u32,
    pub syn_sent6: SocketHandle,
    pub syn_sent6_iss: u32,
    pub syn_sent6_port: u16,
}

/// Sockets the fixture starts with.
pub const FIXTURE_SOCKETS: usize = 8;
/// Listeners of the fixture, and their backlog.
pub const FIXTURE_LISTENERS: usize = 2;
pub const FIXTURE_BACKLOG: usize = 4;

/// The transport part of a packet of either version we emitted (no
/// extension headers).
fn transport(pkt: &[u8]) -> &[u8] {
    if pkt[0] >> 4 == 6 {
        &pkt[ipv6::HEADER_LEN..]
    } else {
        &pkt[ipv4::HEADER_LEN..]
    }
}

/// The peer at `peer` opens a connection to the listener `listener` at
/// `local` (SYN with options, ACK with 5 bytes), the application accepts
/// it and queues 3000 bytes: (the connection, the stack's ISS).
fn passive_open(
    s: &mut Stack,
    now: Instant,
    listener: SocketHandle,
    peer: SocketAddr,
    local: SocketAddr,
) -> (SocketHandle, u32) {
    let us = (US, US6);
    let opts = TcpOptions {
        mss: Some(1460),
        window_scale: Some(7),
        timestamp: Some((5000, 0)),
        sack_permitted: true,
        ..TcpOptions::default()
    };
    let syn = tcp_packet(peer, local, PEER_ISS, 0, TcpFlags::SYN, 65535, 0, opts, &[]);
    s.receive(now, &syn);
    let out = drain(s, now, us);
    let sa = out.last().expect("SYN-ACK");
    let t = TcpPacket::new_checked(transport(sa)).expect("tcp");
    let iss = t.seq();
    let tsval = TcpRepr::parse(&t)
        .ok()
        .and_then(|r| r.options.timestamp)
        .map_or(0, |x| x.0);
    let ack_opts = TcpOptions {
        timestamp: Some((5001, tsval)),
        ..TcpOptions::default()
    };
    let ack = tcp_packet(
        peer,
        local,
        PEER_ISS + 1,
        iss.wrapping_add(1),
        TcpFlags::ACK,
        1000,
        0,
        ack_opts,
        b"hello",
    );
    s.receive(now, &ack);
    let (est, _) = s.tcp_accept(listener).expect("accept");
    s.tcp_send(est, &[0x5a; 3000]).expect("send");
    drain(s, now, us);
    (est, iss)
}

/// An active open to `remote`: (the connection, its local port, its ISS).
fn active_open(s: &mut Stack, now: Instant, remote: SocketAddr) -> (SocketHandle, u16, u32) {
    let c = s.tcp_connect(remote, None).expect("connect");
    let port = s.tcp_local_addr(c).expect("addr").port();
    let out = drain(s, now, (US, US6));
    let syn = out.last().expect("SYN");
    let iss = TcpPacket::new_checked(transport(syn)).expect("tcp").seq();
    (c, port, iss)
}

impl Fixture {
    pub fn new() -> Fixture {
        let mut s = Stack::new(config_dual(US, US6, 7)).expect("stack");
        let now = Instant::from_secs(100);
        s.advance_clock(now);
        let us80 = SocketAddr::new(IpAddr::V4(US), 80);
        let listener = s.tcp_listen(us80, FIXTURE_BACKLOG).expect("listen");
        let udp = s
            .udp_bind(SocketAddr::new(IpAddr::V4(US), UDP_PORT))
            .expect("udp");
        let peer = SocketAddr::new(IpAddr::V4(PEER), 40000);
        let (est, est_iss) = passive_open(&mut s, now, listener, peer, us80);
        let (syn_sent, syn_sent_port, syn_sent_iss) =
            active_open(&mut s, now, SocketAddr::new(IpAddr::V4(PEER), 443));
        // IPv6.
        let any6 = SocketAddr::new(IpAddr::V6(Ipv6Addr::UNSPECIFIED), PORT6);
        let listener6 = s.tcp_listen(any6, FIXTURE_BACKLOG).expect("listen [::]");
        let udp6 = s
            .udp_bind(SocketAddr::new(IpAddr::V6(US6), UDP_PORT))
            .expect("udp6");
        let peer6 = SocketAddr::new(IpAddr::V6(PEER6), 40000);
        let us6 = SocketAddr::new(IpAddr::V6(US6), PORT6);
        let (est6, est6_iss) = passive_open(&mut s, now, listener6, peer6, us6);
        let (syn_sent6, syn_sent6_port, syn_sent6_iss) =
            active_open(&mut s, now, SocketAddr::new(IpAddr::V6(PEER6), 443));
        assert_eq!(s.socket_count(), FIXTURE_SOCKETS);
        Fixture {
            s,
            now,
            listener,
            udp,
            est,
            est_iss,
            syn_sent,
            syn_sent_iss,
            syn_sent_port,
            listener6,
            udp6,
            est6,
            est6_iss,
            syn_sent6,
            syn_sent6_iss,
            syn_sent6_port,
        }
    }
}

impl Default for Fixture {
    fn default() -> Self {
        Fixture::new()
    }
}
