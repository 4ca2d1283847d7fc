//! ICMPv4 handling (RFC 792, RFC 1122 §3.2.2): which errors we send, and
//! what a received error quotes.
use std::io;
use std::net::Ipv4Addr;
use ustack_wire::icmpv4::unreachable;
use ustack_wire::ipv4::Ipv4Packet;

/// RFC 1812 §4.3.2.3: quote as much of the offending datagram as fits in
/// 576 bytes (IP header 20 + ICMP header 8 + quote).
pub const MAX_QUOTE: usize = 576 - 28;

/// The part of an offending datagram quoted in an ICMP error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quoted {
    pub protocol: u8,
    /// Source of the offending datagram (that is: us).
    pub src: Ipv4Addr,
    pub dst: Ipv4Addr,
    pub src_port: u16,
    pub dst_port: u16,
    /// TCP sequence number (bytes 4..8 of the transport header).
    pub tcp_seq: u32,
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
        src: ip.src_addr(),
        dst: ip.dst_addr(),
        src_port: u16::from_be_bytes([t[0], t[1]]),
        dst_port: u16::from_be_bytes([t[2], t[3]]),
        tcp_seq: u32::from_be_bytes([t[4], t[5], t[6], t[7]]),
    })
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
