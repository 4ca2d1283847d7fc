//! Just enough IPv4 / IPv6 / TCP parsing to plot TCP connections: the
//! addresses, ports, sequence and acknowledgment numbers, flags, window,
//! window-scale option and payload length of a segment.
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

/// TCP flag bits.
pub const FIN: u8 = 0x01;
pub const SYN: u8 = 0x02;
pub const ACK: u8 = 0x10;

/// One TCP segment as seen on the wire.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TcpSegment {
    pub src: SocketAddr,
    pub dst: SocketAddr,
    pub seq: u32,
    pub ack: u32,
    pub flags: u8,
    /// The raw (unscaled) window field.
    pub window: u16,
    /// The window-scale option, if present (SYN segments only).
    pub wscale: Option<u8>,
    /// Payload bytes. Taken from the IP length, so it is right even when
    /// the capture truncated the packet.
    pub len: u32,
}

impl TcpSegment {
    pub fn has(&self, flag: u8) -> bool {
        self.flags & flag != 0
    }

    /// Sequence space the segment occupies (payload, plus one for SYN and
    /// one for FIN).
    pub fn seq_len(&self) -> u32 {
        self.len + u32::from(self.has(SYN)) + u32::from(self.has(FIN))
    }

    /// Flags as `SYN|ACK` (the order the engine's traces use).
    pub fn flags_str(&self) -> String {
        format!("{:?}", ustack_wire::tcp::TcpFlags(self.flags))
    }
}

fn be16(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_be_bytes([*b.get(at)?, *b.get(at + 1)?]))
}

fn be32(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_be_bytes([
        *b.get(at)?,
        *b.get(at + 1)?,
        *b.get(at + 2)?,
        *b.get(at + 3)?,
    ]))
}

/// Parses an IP packet (v4 or v6, by its version nibble) carrying TCP.
/// `None` for anything else (other protocols, fragments after the first,
/// malformed headers).
pub fn parse_ip_tcp(p: &[u8]) -> Option<TcpSegment> {
    match p.first()? >> 4 {
        4 => parse_ipv4(p),
        6 => parse_ipv6(p),
        _ => None,
    }
}

fn parse_ipv4(p: &[u8]) -> Option<TcpSegment> {
    let ihl = usize::from(p[0] & 0x0f) * 4;
    if ihl < 20 || p.len() < ihl {
        return None;
    }
    let total = usize::from(be16(p, 2)?);
    let frag = be16(p, 6)?;
    // A non-first fragment carries no TCP header.
    if frag & 0x1fff != 0 || p[9] != 6 || total < ihl {
        return None;
    }
    let src = IpAddr::V4(Ipv4Addr::new(p[12], p[13], p[14], p[15]));
    let dst = IpAddr::V4(Ipv4Addr::new(p[16], p[17], p[18], p[19]));
    parse_tcp(&p[ihl..], total - ihl, src, dst)
}

fn parse_ipv6(p: &[u8]) -> Option<TcpSegment> {
    if p.len() < 40 {
        return None;
    }
    let payload_len = usize::from(be16(p, 4)?);
    let mut next = p[6];
    let mut src = [0u8; 16];
    let mut dst = [0u8; 16];
    src.copy_from_slice(&p[8..24]);
    dst.copy_from_slice(&p[24..40]);
    let mut at = 40;
    let mut left = payload_len;
    // Skip the common extension headers (hop-by-hop, routing, dest opts).
    while matches!(next, 0 | 43 | 60) {
        let hdr_len = (usize::from(*p.get(at + 1)?) + 1) * 8;
        next = *p.get(at)?;
        at += hdr_len;
        left = left.checked_sub(hdr_len)?;
    }
    if next != 6 || p.len() < at {
        return None;
    }
    parse_tcp(
        &p[at..],
        left,
        IpAddr::V6(Ipv6Addr::from(src)),
        IpAddr::V6(Ipv6Addr::from(dst)),
    )
}

/// `t` is the captured TCP part; `tcp_len` its length per the IP header.
fn parse_tcp(t: &[u8], tcp_len: usize, src: IpAddr, dst: IpAddr) -> Option<TcpSegment> {
    let sport = be16(t, 0)?;
    let dport = be16(t, 2)?;
    let seq = be32(t, 4)?;
    let ack = be32(t, 8)?;
    let off = usize::from(*t.get(12)? >> 4) * 4;
    let flags = *t.get(13)?;
    let window = be16(t, 14)?;
    if off < 20 || tcp_len < off {
        return None;
    }
    let mut wscale = None;
    if let Some(opts) = t.get(20..off) {
        let mut i = 0;
        while i < opts.len() {
            match opts[i] {
                0 => break,
                1 => i += 1,
                kind => {
                    let len = usize::from(*opts.get(i + 1)?);
                    if len < 2 {
                        break;
                    }
                    if kind == 3 && len == 3 {
                        wscale = Some((*opts.get(i + 2)?).min(14));
                    }
                    i += len;
                }
            }
        }
    }
    Some(TcpSegment {
        src: SocketAddr::new(src, sport),
        dst: SocketAddr::new(dst, dport),
        seq,
        ack,
        flags,
        window,
        wscale,
        len: u32::try_from(tcp_len - off).ok()?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A minimal IPv4/TCP packet.
    pub fn v4_tcp(flags: u8, seq: u32, ack: u32, payload: usize, opts: &[u8]) -> Vec<u8> {
        let tcp_len = 20 + opts.len() + payload;
        let total = 20 + tcp_len;
        let mut p = vec![0u8; total];
        p[0] = 0x45;
        p[2..4].copy_from_slice(&(total as u16).to_be_bytes());
        p[8] = 64;
        p[9] = 6;
        p[12..16].copy_from_slice(&[10, 0, 0, 1]);
        p[16..20].copy_from_slice(&[10, 0, 0, 2]);
        let t = &mut p[20..];
        t[0..2].copy_from_slice(&1234u16.to_be_bytes());
        t[2..4].copy_from_slice(&80u16.to_be_bytes());
        t[4..8].copy_from_slice(&seq.to_be_bytes());
        t[8..12].copy_from_slice(&ack.to_be_bytes());
        t[12] = (((20 + opts.len()) / 4) as u8) << 4;
        t[13] = flags;
        t[14..16].copy_from_slice(&1000u16.to_be_bytes());
        t[20..20 + opts.len()].copy_from_slice(opts);
        p
    }

    #[test]
    fn parses_v4_with_window_scale() {
        let p = v4_tcp(SYN, 7, 0, 0, &[2, 4, 5, 0xb4, 1, 3, 3, 7]);
        let s = parse_ip_tcp(&p).expect("tcp");
        assert_eq!(s.src, "10.0.0.1:1234".parse().unwrap());
        assert_eq!(s.dst, "10.0.0.2:80".parse().unwrap());
        assert_eq!(
            (s.seq, s.flags, s.window, s.wscale, s.len),
            (7, SYN, 1000, Some(7), 0)
        );
        assert_eq!(s.seq_len(), 1);
        assert_eq!(s.flags_str(), "SYN");
        let d = parse_ip_tcp(&v4_tcp(ACK | 0x08, 1, 2, 100, &[])).expect("tcp");
        assert_eq!(d.len, 100);
        assert_eq!(d.flags_str(), "PSH|ACK");
    }

    #[test]
    fn rejects_garbage_and_other_protocols() {
        assert!(parse_ip_tcp(&[]).is_none());
        assert!(parse_ip_tcp(&[0x45; 10]).is_none());
        let mut udp = v4_tcp(0, 0, 0, 0, &[]);
        udp[9] = 17;
        assert!(parse_ip_tcp(&udp).is_none());
    }

    #[test]
    fn parses_v6() {
        let mut p = vec![0u8; 40 + 20 + 5];
        p[0] = 0x60;
        p[4..6].copy_from_slice(&25u16.to_be_bytes());
        p[6] = 6;
        p[23] = 1;
        p[39] = 2;
        p[40 + 12] = 5 << 4;
        p[40 + 13] = ACK;
        let s = parse_ip_tcp(&p).expect("tcp");
        assert_eq!(s.len, 5);
        assert_eq!(s.src.ip(), "::1".parse::<IpAddr>().unwrap());
    }
}
