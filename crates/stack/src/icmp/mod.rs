//! ICMP handling (ICMPv4: RFC 792, RFC 1122 §3.2.2; ICMPv6: RFC 4443):
//! which errors we send, and what a received error quotes.
use std::io;
use std::net::IpAddr;
use ustack_wire::icmpv4::unreachable;
use ustack_wire::icmpv6;
use ustack_wire::ipv4::Ipv4Packet;
use ustack_wire::ipv6::{self, Ipv6Packet};

/// RFC 1812 §4.3.2.3: quote as much of the offending datagram as fits in
/// 576 bytes (IP header 20 + ICMP header 8 + quote).
pub const MAX_QUOTE: usize = 576 - 28;

/// The part of an offending datagram quoted in an ICMP error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quoted {
    pub protocol: u8,
    /// Source of the offending datagram (that is: us).
    pub src: IpAddr,
    pub dst: IpAddr,
    pub src_port: u16,
    pub dst_port: u16,
    /// TCP sequence number (bytes 4..8 of the transport header).
    pub tcp_seq: u32,
    /// The offending datagram's total length (its IP header's).
    pub total_len: usize,
}

/// Parses the quoted IP header and first 8 transport bytes; None when too
/// short or malformed.
pub fn parse_quoted(quoted: &[u8]) -> Option<Quoted> {
    if quoted.len() < 20 || quoted[0] >> 4 != 4 {
        return None;
    }
    let ihl = usize::from(quoted[0] & 0x0f) * 4;
    if ihl < 20 || quoted.len() < ihl + 8 {
        return None;
    }
    let ip = Ipv4Packet::new_unchecked(quoted);
    let t = &quoted[ihl..ihl + 8];
    Some(Quoted {
        protocol: ip.protocol(),
        src: ip.src_addr().into(),
        dst: ip.dst_addr().into(),
        src_port: u16::from_be_bytes([t[0], t[1]]),
        dst_port: u16::from_be_bytes([t[2], t[3]]),
        tcp_seq: u32::from_be_bytes([t[4], t[5], t[6], t[7]]),
        total_len: ip.total_len(),
    })
}

/// Parses a quoted IPv6 header, its extension headers and the first 8
/// transport bytes (RFC 4443 §2.4 (c) quotes as much of the packet as
/// fits); None when too short, malformed, or a non-first fragment.
pub fn parse_quoted_v6(quoted: &[u8]) -> Option<Quoted> {
    if quoted.len() < ipv6::HEADER_LEN || quoted[0] >> 4 != 6 {
        return None;
    }
    let ip = Ipv6Packet::new_unchecked(quoted);
    // The quote may be cut short: walk what is there.
    let rest = &quoted[ipv6::HEADER_LEN..];
    let ext = ipv6::walk_extensions(ip.next_header(), rest).ok()?;
    let (protocol, at) = match ext.fragment {
        Some(f) if f.offset == 0 => (f.next_header, ext.offset),
        Some(_) => return None,
        None => (ext.protocol, ext.offset),
    };
    let t = rest.get(at..at + 8)?;
    Some(Quoted {
        protocol,
        src: ip.src_addr().into(),
        dst: ip.dst_addr().into(),
        src_port: u16::from_be_bytes([t[0], t[1]]),
        dst_port: u16::from_be_bytes([t[2], t[3]]),
        tcp_seq: u32::from_be_bytes([t[4], t[5], t[6], t[7]]),
        total_len: ipv6::HEADER_LEN + ip.payload_len(),
    })
}

/// Error an ICMPv6 destination-unreachable code maps to, and whether it
/// is hard (RFC 4443 §3.1; port unreachable is hard as in IPv4, RFC 1122
/// §4.2.3.9; the others soft for TCP, as Linux's `icmpv6_err_convert`).
pub fn unreachable_error_v6(code: u8) -> (io::ErrorKind, bool) {
    match code {
        icmpv6::unreachable::PORT => (io::ErrorKind::ConnectionRefused, true),
        icmpv6::unreachable::NO_ROUTE => (io::ErrorKind::NetworkUnreachable, false),
        icmpv6::unreachable::ADMIN_PROHIBITED => (io::ErrorKind::PermissionDenied, false),
        _ => (io::ErrorKind::HostUnreachable, false),
    }
}

/// The next-hop MTU to believe from a "fragmentation needed": the one
/// reported, or, from an old router that reports none (a zero field,
/// RFC 1191 §5), the plateau (§7) just below the refused datagram's
/// length.
pub fn frag_needed_mtu(reported: u16, total_len: usize) -> usize {
    if reported != 0 {
        return usize::from(reported);
    }
    const PLATEAUS: [u16; 10] = [32000, 17914, 8166, 4352, 2002, 1492, 1006, 508, 296, 68];
    usize::from(
        PLATEAUS
            .into_iter()
            .find(|&p| usize::from(p) < total_len)
            .unwrap_or(68),
    )
}

/// Error a destination-unreachable code maps to, and whether it is a hard
/// error (RFC 1122 §4.2.3.9: protocol and port unreachable are hard).
pub fn unreachable_error(code: u8) -> (io::ErrorKind, bool) {
    match code {
        unreachable::PORT | unreachable::PROTOCOL => (io::ErrorKind::ConnectionRefused, true),
        unreachable::NET => (io::ErrorKind::NetworkUnreachable, false),
        unreachable::ADMIN_PROHIBITED => (io::ErrorKind::PermissionDenied, false),
        _ => (io::ErrorKind::HostUnreachable, false),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frag_needed_mtu_is_the_report_or_the_plateau_below() {
        assert_eq!(frag_needed_mtu(1280, 1500), 1280);
        assert_eq!(frag_needed_mtu(100, 1500), 100);
        // Larger than the datagram: passed on (the connection ignores an
        // estimate that does not fall, as BSD and Linux do).
        assert_eq!(frag_needed_mtu(9000, 1492), 9000);
        // RFC 1191 §5: no report (an old router): the plateau below the
        // datagram's length.
        assert_eq!(frag_needed_mtu(0, 1500), 1492);
        assert_eq!(frag_needed_mtu(0, 1492), 1006);
        assert_eq!(frag_needed_mtu(0, 65535), 32000);
        assert_eq!(frag_needed_mtu(0, 296), 68);
        assert_eq!(frag_needed_mtu(0, 20), 68);
    }
}
