//! Shared pieces of the fuzz targets: checks on everything a stack emits,
//! and a stack fixture with live connections in interesting states.
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use ustack::wire::icmpv4::Icmpv4Repr;
use ustack::wire::ipv4::{self, Ipv4Packet, Ipv4Repr};
use ustack::wire::tcp::{TcpFlags, TcpOptions, TcpPacket, TcpRepr};
use ustack::wire::udp::UdpPacket;
use ustack::{Cidr, Config, Instant, SocketHandle, Stack};

pub const US: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 1);
pub const PEER: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 2);
pub const MTU: usize = 1500;
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
        ipv4::PROTO_TCP => {
            let t = TcpPacket::new_checked(payload).expect("emitted TCP parses");
            assert!(t.verify_checksum(src, dst), "emitted TCP checksum");
            let repr = TcpRepr::parse(&t).expect("emitted TCP options parse");
            assert!(repr.src_port != 0 && repr.dst_port != 0);
            assert!(
                !(repr.flags.syn() && repr.flags.rst()),
                "SYN+RST emitted: {repr:?}"
            );
        }
        ipv4::PROTO_UDP => {
            let u = UdpPacket::new_checked(payload).expect("emitted UDP parses");
            assert_eq!(u.len(), payload.len());
            assert!(u.checksum() != 0 && u.verify_checksum(src, dst));
        }
        ipv4::PROTO_ICMP => {
            Icmpv4Repr::parse(payload).expect("emitted ICMP parses");
        }
        other => panic!("emitted unexpected protocol {other}"),
    }
}

/// Drains a stack, checking every packet; returns them.
pub fn drain(s: &mut Stack, now: Instant, us: Ipv4Addr) -> Vec<Vec<u8>> {
    thread_local! {
        static BUF: std::cell::RefCell<Vec<u8>> = std::cell::RefCell::new(vec![0u8; 65536]);
    }
    BUF.with(|b| {
        let mut buf = b.borrow_mut();
        let mut out = Vec::new();
        while let Some(n) = s.poll_transmit(now, &mut buf) {
            check_emitted(&buf[..n], us, MTU);
            out.push(buf[..n].to_vec());
            assert!(out.len() < 100_000, "poll_transmit never returns None");
        }
        out
    })
}

/// Fires due timers and drains until the stack has nothing to do now; then
/// its next deadline must be in the future (no busy loop).
pub fn settle(s: &mut Stack, now: Instant, us: Ipv4Addr) -> Vec<Vec<u8>> {
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

/// A TCP segment from the peer as a whole IPv4 packet.
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
    let (IpAddr::V4(s), IpAddr::V4(d)) = (src.ip(), dst.ip()) else {
        unreachable!("IPv4 only")
    };
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
    let tcp_len = repr.header_len() + payload.len();
    let mut pkt = vec![0u8; 20 + tcp_len];
    Ipv4Repr {
        src: s,
        dst: d,
        protocol: ipv4::PROTO_TCP,
        payload_len: tcp_len,
        ttl: 64,
        ident: 1,
        dont_frag: true,
        more_frags: false,
        frag_offset: 0,
        dscp_ecn: 0,
    }
    .emit(&mut pkt[..20]);
    repr.emit(&mut pkt[20..], src.ip(), dst.ip());
    pkt
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
    use ustack::wire::checksum;
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

/// The stack under test with: a listener on :80 (backlog 4), a UDP socket
/// on :53, an accepted ESTABLISHED connection from PEER:40000 with data
/// queued both ways, and an active open to PEER:443 in SYN-SENT.
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
}

impl Fixture {
    pub fn new() -> Fixture {
        let mut s = Stack::new(config(US, 7)).expect("stack");
        let now = Instant::from_secs(100);
        s.advance_clock(now);
        let us80 = SocketAddr::new(IpAddr::V4(US), 80);
        let peer = SocketAddr::new(IpAddr::V4(PEER), 40000);
        let listener = s.tcp_listen(us80, 4).expect("listen");
        let udp = s
            .udp_bind(SocketAddr::new(IpAddr::V4(US), 53))
            .expect("udp");
        let opts = TcpOptions {
            mss: Some(1460),
            window_scale: Some(7),
            timestamp: Some((5000, 0)),
            sack_permitted: true,
            ..TcpOptions::default()
        };
        let syn = tcp_packet(peer, us80, PEER_ISS, 0, TcpFlags::SYN, 65535, 0, opts, &[]);
        s.receive(now, &syn);
        let out = drain(&mut s, now, US);
        let sa = out.last().expect("SYN-ACK");
        let t = TcpPacket::new_checked(&sa[20..]).expect("tcp");
        let est_iss = t.seq();
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
            us80,
            PEER_ISS + 1,
            est_iss.wrapping_add(1),
            TcpFlags::ACK,
            1000,
            0,
            ack_opts,
            b"hello",
        );
        s.receive(now, &ack);
        let (est, _) = s.tcp_accept(listener).expect("accept");
        s.tcp_send(est, &[0x5a; 3000]).expect("send");
        drain(&mut s, now, US);
        let remote = SocketAddr::new(IpAddr::V4(PEER), 443);
        let syn_sent = s.tcp_connect(remote, None).expect("connect");
        let syn_sent_port = s.tcp_local_addr(syn_sent).expect("addr").port();
        let out = drain(&mut s, now, US);
        let syn = out.last().expect("SYN");
        let syn_sent_iss = TcpPacket::new_checked(&syn[20..]).expect("tcp").seq();
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
        }
    }
}

impl Default for Fixture {
    fn default() -> Self {
        Fixture::new()
    }
}
