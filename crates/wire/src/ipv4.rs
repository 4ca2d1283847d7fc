//! IPv4 header (RFC 791): view and repr.
use crate::{Result, WireError};
use std::net::Ipv4Addr;

pub const PROTO_ICMP: u8 = 1;
pub const PROTO_TCP: u8 = 6;
pub const PROTO_UDP: u8 = 17;
/// Length of a header without options.
pub const HEADER_LEN: usize = 20;

/// Zero-copy view of an IPv4 packet.
#[derive(Debug, Clone)]
pub struct Ipv4Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Ipv4Packet<T> {
    pub fn new_unchecked(buffer: T) -> Self {
        Ipv4Packet { buffer }
    }
    /// Validates: len >= 20 (Truncated), version == 4 (BadVersion),
    /// IHL >= 5 and header_len <= len (BadHeaderLen), header_len <=
    /// total_len <= len (BadTotalLen). Does NOT verify the checksum.
    /// Options (IHL > 5) are accepted and skipped by `payload()`.
    pub fn new_checked(buffer: T) -> Result<Self> {
        let _ = WireError::Truncated;
        let _ = buffer;
        todo!()
    }
    pub fn into_inner(self) -> T {
        self.buffer
    }
    pub fn version(&self) -> u8 { todo!() }
    /// Header length in bytes (IHL * 4).
    pub fn header_len(&self) -> usize { todo!() }
    pub fn dscp_ecn(&self) -> u8 { todo!() }
    pub fn total_len(&self) -> usize { todo!() }
    pub fn ident(&self) -> u16 { todo!() }
    pub fn dont_frag(&self) -> bool { todo!() }
    pub fn more_frags(&self) -> bool { todo!() }
    /// Fragment offset in bytes (field * 8).
    pub fn frag_offset(&self) -> usize { todo!() }
    pub fn ttl(&self) -> u8 { todo!() }
    pub fn protocol(&self) -> u8 { todo!() }
    pub fn checksum(&self) -> u16 { todo!() }
    pub fn src_addr(&self) -> Ipv4Addr { todo!() }
    pub fn dst_addr(&self) -> Ipv4Addr { todo!() }
    /// True when the header checksum verifies.
    pub fn verify_checksum(&self) -> bool { todo!() }
    /// The header bytes (including options).
    pub fn header(&self) -> &[u8] { todo!() }
    /// Bytes header_len..total_len (trailing link padding excluded).
    pub fn payload(&self) -> &[u8] { todo!() }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Ipv4Packet<T> {
    pub fn set_ttl(&mut self, ttl: u8) { let _ = ttl; todo!() }
    /// Recomputes and stores the header checksum.
    pub fn fill_checksum(&mut self) { todo!() }
    pub fn payload_mut(&mut self) -> &mut [u8] { todo!() }
}

/// High-level IPv4 header (no options).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ipv4Repr {
    pub src: Ipv4Addr,
    pub dst: Ipv4Addr,
    pub protocol: u8,
    /// Length of what follows the header.
    pub payload_len: usize,
    pub ttl: u8,
    pub ident: u16,
    pub dont_frag: bool,
    pub more_frags: bool,
    /// In bytes; a multiple of 8.
    pub frag_offset: usize,
    pub dscp_ecn: u8,
}

impl Ipv4Repr {
    /// Parses a checked packet; verifies the header checksum (BadChecksum).
    pub fn parse<T: AsRef<[u8]>>(packet: &Ipv4Packet<T>) -> Result<Ipv4Repr> {
        let _ = packet;
        todo!()
    }
    /// Writes the 20-byte header (IHL 5) with its checksum into
    /// `buf[..20]`. Panics only if `buf.len() < 20` (caller bug).
    pub fn emit(&self, buf: &mut [u8]) {
        let _ = buf;
        todo!()
    }
}
