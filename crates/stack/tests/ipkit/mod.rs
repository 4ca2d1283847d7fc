//! Packet kit for the IP/ICMP/UDP tests: builds IPv4 packets (whole or
//! fragmented) independently of the engine, drains a stack, checks what it
//! emits (header and transport checksums) and reassembles emitted fragments.
#![allow(dead_code)]
use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr};
use ustack::wire::checksum;
use ustack::wire::icmpv4::Icmpv4Repr;
use ustack::wire::ipv4::{Ipv4Packet, Ipv4Repr, PROTO_ICMP, PROTO_TCP, PROTO_UDP};
use ustack::wire::tcp::TcpPacket;
use ustack::wire::udp::{UdpPacket, UdpRepr};
use ustack::{Cidr, Config, DropReason, Instant, Stack};

/// The stack under test (198.18.0.1/24).
pub const US: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 1);
/// A host on our subnet.
pub const PEER: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 2);
/// Our subnet's directed broadcast.
pub const SUBNET_BCAST: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 255);
pub const MTU: usize = 1500;
/// The two stacks of a `Pair`.
pub const A_IP: Ipv4Addr = US;
pub const B_IP: Ipv4Addr = PEER;

pub mod pair;

pub fn t_ms(ms: u64) -> Instant {
    Instant::from_millis(ms)
}

pub fn v4(ip: Ipv4Addr) -> IpAddr {
    IpAddr::V4(ip)
}

/// A stack at 198.18.0.1/24 with defaults, adjusted by `f`.
pub fn new_stack(f: impl FnOnce(&mut Config)) -> Stack {
    let mut c = Config::default();
    c.addresses
        .push("198.18.0.1/24".parse::<Cidr>().expect("cidr"));
    c.seed = 7;
    f(&mut c);
    Stack::new(c).expect("stack")
}

/// One IPv4 packet (20-byte header, TTL 64, DF clear).
pub fn ipv4(
    src: Ipv4Addr,
    dst: Ipv4Addr,
    protocol: u8,
    ident: u16,
    more_frags: bool,
    frag_offset: usize,
    payload: &[u8],
) -> Vec<u8> {
    let repr = Ipv4Repr {
        src,
        dst,
        protocol,
        payload_len: payload.len(),
        ttl: 64,
        ident,
        dont_frag: false,
        more_frags,
        frag_offset,
        dscp_ecn: 0,
    };
    let mut v = vec![0u8; 20 + payload.len()];
    repr.emit(&mut v[..20]);
    v[20..].copy_from_slice(payload);
    v
}

/// An unfragmented IPv4 packet with ident 0x4242.
pub fn ip(src: Ipv4Addr, dst: Ipv4Addr, protocol: u8, payload: &[u8]) -> Vec<u8> {
    ipv4(src, dst, protocol, 0x4242, false, 0, payload)
}

/// Splits `payload` into IPv4 fragments for `mtu` (in order).
pub fn fragment(
    src: Ipv4Addr,
    dst: Ipv4Addr,
    protocol: u8,
    ident: u16,
    payload: &[u8],
    mtu: usize,
) -> Vec<Vec<u8>> {
    let room = mtu - 20;
    let step = room / 8 * 8;
    let mut out = Vec::new();
    let mut off = 0;
    loop {
        let rest = payload.len() - off;
        if rest <= room {
            out.push(ipv4(src, dst, protocol, ident, false, off, &payload[off..]));
            return out;
        }
        out.push(ipv4(
            src,
            dst,
            protocol,
            ident,
            true,
            off,
            &payload[off..off + step],
        ));
        off += step;
    }
}

/// Recomputes the IPv4 header checksum in place (header length from IHL).
pub fn refresh_ip_checksum(pkt: &mut [u8]) {
    if pkt.len() < 20 {
        return;
    }
    let ihl = usize::from(pkt[0] & 0x0f) * 4;
    if ihl < 20 || ihl > pkt.len() {
        return;
    }
    pkt[10] = 0;
    pkt[11] = 0;
    let c = checksum::checksum(&pkt[..ihl]);
    pkt[10..12].copy_from_slice(&c.to_be_bytes());
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

/// A whole IPv4/UDP packet.
pub fn udp_ip(src: Ipv4Addr, dst: Ipv4Addr, sport: u16, dport: u16, data: &[u8]) -> Vec<u8> {
    ip(src, dst, PROTO_UDP, &udp(src, dst, sport, dport, data))
}

pub fn icmp(repr: Icmpv4Repr<'_>) -> Vec<u8> {
    let mut v = vec![0u8; repr.buffer_len()];
    repr.emit(&mut v);
    v
}

pub fn echo_request(ident: u16, seq_no: u16, data: &[u8]) -> Vec<u8> {
    icmp(Icmpv4Repr::EchoRequest {
        ident,
        seq_no,
        data,
    })
}

pub fn echo_reply(ident: u16, seq_no: u16, data: &[u8]) -> Vec<u8> {
    icmp(Icmpv4Repr::EchoReply {
        ident,
        seq_no,
        data,
    })
}

pub fn dst_unreachable(code: u8, quoted: &[u8]) -> Vec<u8> {
    icmp(Icmpv4Repr::DstUnreachable {
        code,
        next_hop_mtu: 0,
        quoted,
    })
}

/// A whole IPv4 echo request from PEER to `dst`.
pub fn ping(dst: Ipv4Addr, ident: u16, seq: u16, data: &[u8]) -> Vec<u8> {
    ip(PEER, dst, PROTO_ICMP, &echo_request(ident, seq, data))
}

/// Everything the stack wants to send now.
pub fn drain(s: &mut Stack, now: Instant) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let mut buf = vec![0u8; 65536];
    while let Some(n) = s.poll_transmit(now, &mut buf) {
        out.push(buf[..n].to_vec());
        assert!(out.len() < 100_000, "poll_transmit never returns None");
    }
    out
}

/// The non-zero drop counters.
pub fn drops(s: &Stack) -> Vec<(DropReason, u64)> {
    s.counters().drop_list()
}

/// Transport checksum / structure check of a complete datagram payload.
pub fn check_transport(
    src: Ipv4Addr,
    dst: Ipv4Addr,
    protocol: u8,
    payload: &[u8],
) -> Result<(), String> {
    match protocol {
        PROTO_TCP => {
            let p = TcpPacket::new_checked(payload).map_err(|e| format!("tcp: {e:?}"))?;
            if !p.verify_checksum(v4(src), v4(dst)) {
                return Err("tcp checksum".into());
            }
        }
        PROTO_UDP => {
            let p = UdpPacket::new_checked(payload).map_err(|e| format!("udp: {e:?}"))?;
            if p.len() != payload.len() {
                return Err(format!(
                    "udp length field {} != ip payload {}",
                    p.len(),
                    payload.len()
                ));
            }
            if p.checksum() == 0 || !p.verify_checksum(v4(src), v4(dst)) {
                return Err("udp checksum".into());
            }
        }
        PROTO_ICMP => {
            Icmpv4Repr::parse(payload).map_err(|e| format!("icmp: {e:?}"))?;
        }
        other => return Err(format!("unexpected protocol {other}")),
    }
    Ok(())
}

/// Checks one emitted packet: well-formed IPv4 (no options), correct header
/// checksum, exact length, within `mtu`; a whole (unfragmented) datagram
/// also has a valid transport checksum. Returns its header.
pub fn check_emitted(pkt: &[u8], mtu: usize) -> Result<Ipv4Repr, String> {
    let p = Ipv4Packet::new_checked(pkt).map_err(|e| format!("ipv4: {e:?}"))?;
    let repr = Ipv4Repr::parse(&p).map_err(|e| format!("ipv4: {e:?}"))?;
    if p.header_len() != 20 {
        return Err(format!("unexpected header length {}", p.header_len()));
    }
    if p.total_len() != pkt.len() {
        return Err(format!(
            "total length {} != packet {}",
            p.total_len(),
            pkt.len()
        ));
    }
    if pkt.len() > mtu {
        return Err(format!(
            "packet of {} bytes exceeds the MTU {mtu}",
            pkt.len()
        ));
    }
    if repr.ttl == 0 {
        return Err("ttl 0".into());
    }
    if repr.frag_offset + repr.payload_len > 65535 - 20 {
        return Err("fragment ends beyond the largest IPv4 datagram".into());
    }
    if !repr.more_frags && repr.frag_offset == 0 {
        check_transport(repr.src, repr.dst, repr.protocol, p.payload())?;
    }
    Ok(repr)
}

type FragKey = (Ipv4Addr, Ipv4Addr, u8, u16);

/// Reassembles emitted packets (test side, strict: no overlaps, no gaps).
#[derive(Default)]
pub struct Reasm {
    pending: BTreeMap<FragKey, Vec<(Ipv4Repr, Vec<u8>)>>,
}

impl Reasm {
    /// Adds a checked packet; returns the complete datagram (header of the
    /// first fragment, full payload) when this packet completes one.
    pub fn add(&mut self, pkt: &[u8]) -> Result<Option<(Ipv4Repr, Vec<u8>)>, String> {
        let repr = check_emitted(pkt, usize::MAX)?;
        let payload = pkt[20..].to_vec();
        if !repr.more_frags && repr.frag_offset == 0 {
            return Ok(Some((repr, payload)));
        }
        if repr.more_frags && payload.len() & 7 != 0 {
            return Err(format!(
                "non-final fragment of {} bytes (not a multiple of 8)",
                payload.len()
            ));
        }
        let key = (repr.src, repr.dst, repr.protocol, repr.ident);
        let list = self.pending.entry(key).or_default();
        list.push((repr, payload));
        list.sort_by_key(|(r, _)| r.frag_offset);
        let mut next = 0;
        let mut done = false;
        for (i, (r, d)) in list.iter().enumerate() {
            if r.frag_offset < next {
                return Err(format!("overlapping fragment at {}", r.frag_offset));
            }
            if r.frag_offset > next {
                return Ok(None);
            }
            next += d.len();
            if !r.more_frags {
                if i + 1 != list.len() {
                    return Err("data after the last fragment".into());
                }
                done = true;
            }
        }
        if !done {
            return Ok(None);
        }
        let list = self.pending.remove(&key).unwrap_or_default();
        let mut first = list[0].0;
        let data: Vec<u8> = list.into_iter().flat_map(|(_, d)| d).collect();
        if data.len() > 65535 - 20 {
            return Err(format!("reassembled datagram of {} bytes", data.len() + 20));
        }
        first.payload_len = data.len();
        first.more_frags = false;
        check_transport(first.src, first.dst, first.protocol, &data)?;
        Ok(Some((first, data)))
    }

    pub fn incomplete(&self) -> usize {
        self.pending.len()
    }
}

/// Reassembles a list of emitted packets into whole datagrams (panics on
/// any malformed or incomplete output).
pub fn reassemble(pkts: &[Vec<u8>]) -> Vec<(Ipv4Repr, Vec<u8>)> {
    let mut r = Reasm::default();
    let mut out = Vec::new();
    for p in pkts {
        match r.add(p) {
            Ok(Some(d)) => out.push(d),
            Ok(None) => {}
            Err(e) => panic!("bad emitted packet: {e}"),
        }
    }
    assert_eq!(r.incomplete(), 0, "incomplete fragmented output");
    out
}
