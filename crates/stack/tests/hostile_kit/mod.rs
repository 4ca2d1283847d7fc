//! Kit for the hostile-input, resource-limit and data-safety tests: raw
//! packet builders that can produce *wrong* packets (bad lengths, bad
//! checksums, forged addresses), a counter snapshot that checks exactly
//! which drop reasons moved, and (in `wire`) two stacks on an impaired
//! wire with an injection point for forged traffic.
#![allow(dead_code)]

pub mod app;
pub mod wire;

use std::net::{IpAddr, Ipv4Addr};
use ustack::wire::checksum;
use ustack::wire::icmpv4::Icmpv4Repr;
use ustack::wire::ipv4::{self, Ipv4Repr};
use ustack::wire::tcp::{TcpFlags, TcpOptions, TcpRepr};
use ustack::wire::udp::UdpRepr;
use ustack::{Counters, DropReason, Stack};

pub fn v4(ip: Ipv4Addr) -> IpAddr {
    IpAddr::V4(ip)
}

/// An IPv4 packet (20-byte header, TTL 64, DF set) around `payload`.
pub fn ip(src: Ipv4Addr, dst: Ipv4Addr, protocol: u8, payload: &[u8]) -> Vec<u8> {
    ip_frag(src, dst, protocol, 0x4242, false, 0, payload)
}

/// One IPv4 fragment (DF clear).
pub fn ip_frag(
    src: Ipv4Addr,
    dst: Ipv4Addr,
    protocol: u8,
    ident: u16,
    more_frags: bool,
    frag_offset: usize,
    payload: &[u8],
) -> Vec<u8> {
    let unfragmented = !more_frags && frag_offset == 0;
    let mut v = vec![0u8; ipv4::HEADER_LEN + payload.len()];
    Ipv4Repr {
        src,
        dst,
        protocol,
        payload_len: payload.len(),
        ttl: 64,
        ident,
        dont_frag: unfragmented,
        more_frags,
        frag_offset,
        dscp_ecn: 0,
    }
    .emit(&mut v[..ipv4::HEADER_LEN]);
    v[ipv4::HEADER_LEN..].copy_from_slice(payload);
    v
}

/// Recomputes the IPv4 header checksum over IHL words (when sane).
pub fn fix_ip_checksum(pkt: &mut [u8]) {
    let ihl = usize::from(pkt[0] & 0x0f) * 4;
    if ihl < 20 || ihl > pkt.len() {
        return;
    }
    pkt[10] = 0;
    pkt[11] = 0;
    let c = checksum::checksum(&pkt[..ihl]);
    pkt[10..12].copy_from_slice(&c.to_be_bytes());
}

/// A TCP segment description with the usual defaults (window 65535, no
/// options, no payload).
#[derive(Debug, Clone)]
pub struct Tcp {
    pub src_port: u16,
    pub dst_port: u16,
    pub seq: u32,
    pub ack: u32,
    pub flags: TcpFlags,
    pub window: u16,
    pub urgent: u16,
    pub options: TcpOptions,
    pub payload: Vec<u8>,
}

impl Tcp {
    pub fn new(src_port: u16, dst_port: u16, flags: TcpFlags) -> Tcp {
        Tcp {
            src_port,
            dst_port,
            seq: 0,
            ack: 0,
            flags,
            window: 65535,
            urgent: 0,
            options: TcpOptions::default(),
            payload: Vec::new(),
        }
    }
    pub fn seq(mut self, s: u32) -> Tcp {
        self.seq = s;
        self
    }
    pub fn ack(mut self, a: u32) -> Tcp {
        self.ack = a;
        self
    }
    pub fn window(mut self, w: u16) -> Tcp {
        self.window = w;
        self
    }
    pub fn urgent(mut self, u: u16) -> Tcp {
        self.urgent = u;
        self
    }
    pub fn mss(mut self, m: u16) -> Tcp {
        self.options.mss = Some(m);
        self
    }
    pub fn wscale(mut self, w: u8) -> Tcp {
        self.options.window_scale = Some(w);
        self
    }
    pub fn payload(mut self, p: &[u8]) -> Tcp {
        self.payload = p.to_vec();
        self
    }
    /// The TCP segment bytes with a correct checksum for (src, dst).
    pub fn segment(&self, src: Ipv4Addr, dst: Ipv4Addr) -> Vec<u8> {
        let repr = TcpRepr {
            src_port: self.src_port,
            dst_port: self.dst_port,
            seq: self.seq,
            ack: self.ack,
            flags: self.flags,
            window: self.window,
            urgent: self.urgent,
            options: self.options,
            payload: &self.payload,
        };
        let mut v = vec![0u8; repr.header_len() + self.payload.len()];
        repr.emit(&mut v, v4(src), v4(dst));
        v
    }
    /// The whole IPv4 packet.
    pub fn packet(&self, src: Ipv4Addr, dst: Ipv4Addr) -> Vec<u8> {
        ip(src, dst, ipv4::PROTO_TCP, &self.segment(src, dst))
    }
    /// The whole IPv4 packet with `options_raw` as the options area
    /// (padded to a multiple of 4 with EOL), the data offset set to match,
    /// and a correct checksum: for malformed-option cases.
    pub fn packet_raw_options(&self, src: Ipv4Addr, dst: Ipv4Addr, options_raw: &[u8]) -> Vec<u8> {
        let mut plain = self.clone();
        plain.options = TcpOptions::default();
        let base = plain.segment(src, dst);
        let mut opts = options_raw.to_vec();
        while !opts.len().is_multiple_of(4) {
            opts.push(0);
        }
        let mut seg = Vec::new();
        seg.extend_from_slice(&base[..20]);
        seg.extend_from_slice(&opts);
        seg.extend_from_slice(&self.payload);
        seg[12] = (((20 + opts.len()) / 4) as u8) << 4;
        ustack::wire::tcp::fill_checksum(&mut seg, v4(src), v4(dst));
        ip(src, dst, ipv4::PROTO_TCP, &seg)
    }
}

/// Recomputes the TCP checksum of an unfragmented packet with a 20-byte IP
/// header (whatever the TCP header says).
pub fn fix_tcp_checksum(pkt: &mut [u8]) {
    let src = Ipv4Addr::new(pkt[12], pkt[13], pkt[14], pkt[15]);
    let dst = Ipv4Addr::new(pkt[16], pkt[17], pkt[18], pkt[19]);
    let seg = &mut pkt[20..];
    seg[16] = 0;
    seg[17] = 0;
    let acc = checksum::pseudo_header(v4(src), v4(dst), ipv4::PROTO_TCP, seg.len() as u32);
    let c = checksum::finish(checksum::accumulate(acc, seg));
    seg[16..18].copy_from_slice(&c.to_be_bytes());
}

/// A UDP datagram (header + data) with a correct checksum.
pub fn udp(src: Ipv4Addr, dst: Ipv4Addr, sport: u16, dport: u16, data: &[u8]) -> Vec<u8> {
    let mut v = vec![0u8; 8 + data.len()];
    UdpRepr {
        src_port: sport,
        dst_port: dport,
    }
    .emit(&mut v, data, v4(src), v4(dst));
    v
}

pub fn udp_ip(src: Ipv4Addr, dst: Ipv4Addr, sport: u16, dport: u16, data: &[u8]) -> Vec<u8> {
    ip(
        src,
        dst,
        ipv4::PROTO_UDP,
        &udp(src, dst, sport, dport, data),
    )
}

pub fn icmp(repr: Icmpv4Repr<'_>) -> Vec<u8> {
    let mut v = vec![0u8; repr.buffer_len()];
    repr.emit(&mut v);
    v
}

/// ICMP destination unreachable (code) quoting `quoted`, as a whole IPv4
/// packet from `src` to `dst`.
pub fn icmp_unreachable_ip(src: Ipv4Addr, dst: Ipv4Addr, code: u8, quoted: &[u8]) -> Vec<u8> {
    let msg = icmp(Icmpv4Repr::DstUnreachable {
        code,
        next_hop_mtu: if code == 4 { 576 } else { 0 },
        quoted,
    });
    ip(src, dst, ipv4::PROTO_ICMP, &msg)
}

/// Counters and socket count before a hostile input, to check afterwards
/// exactly what moved.
pub struct Before {
    pub counters: Counters,
    pub sockets: usize,
    pub buffer_bytes: usize,
}

impl Before {
    pub fn of(s: &Stack) -> Before {
        Before {
            counters: s.counters(),
            sockets: s.socket_count(),
            buffer_bytes: s.buffer_bytes(),
        }
    }

    /// Drop reasons whose counters moved since the snapshot, with the delta.
    pub fn drops(&self, s: &Stack) -> Vec<(DropReason, u64)> {
        let now = s.counters();
        DropReason::ALL
            .iter()
            .map(|r| (*r, now.drops(*r) - self.counters.drops(*r)))
            .filter(|(_, n)| *n > 0)
            .collect()
    }

    /// Asserts that exactly these drop counters moved, by exactly these
    /// amounts.
    #[track_caller]
    pub fn assert_drops(&self, s: &Stack, expected: &[(DropReason, u64)]) {
        let mut want = expected.to_vec();
        want.sort();
        let mut got = self.drops(s);
        got.sort();
        assert_eq!(got, want, "drop counters that moved (reason, delta)");
    }

    /// How much a counter moved.
    pub fn delta(&self, s: &Stack, f: impl Fn(&Counters) -> u64) -> u64 {
        f(&s.counters()) - f(&self.counters)
    }

    /// No socket was created or freed.
    #[track_caller]
    pub fn assert_no_new_state(&self, s: &Stack) {
        assert_eq!(
            s.socket_count(),
            self.sockets,
            "socket_count changed: state was created or freed"
        );
    }
}
