//! TCP header and options (RFC 9293 §3.1, RFC 7323, RFC 2018): view and repr.
use crate::{Result, WireError};
use std::net::IpAddr;

/// Minimum header length.
pub const HEADER_LEN: usize = 20;
/// Maximum number of SACK blocks carried in one segment.
pub const MAX_SACK_BLOCKS: usize = 4;

/// TCP control bits.
#[derive(Clone, Copy, PartialEq, Eq, Default, Hash)]
pub struct TcpFlags(pub u8);

impl TcpFlags {
    pub const FIN: TcpFlags = TcpFlags(0x01);
    pub const SYN: TcpFlags = TcpFlags(0x02);
    pub const RST: TcpFlags = TcpFlags(0x04);
    pub const PSH: TcpFlags = TcpFlags(0x08);
    pub const ACK: TcpFlags = TcpFlags(0x10);
    pub const URG: TcpFlags = TcpFlags(0x20);
    pub const ECE: TcpFlags = TcpFlags(0x40);
    pub const CWR: TcpFlags = TcpFlags(0x80);
    pub fn empty() -> Self { TcpFlags(0) }
    pub fn contains(self, other: TcpFlags) -> bool { self.0 & other.0 == other.0 }
    pub fn fin(self) -> bool { self.contains(Self::FIN) }
    pub fn syn(self) -> bool { self.contains(Self::SYN) }
    pub fn rst(self) -> bool { self.contains(Self::RST) }
    pub fn psh(self) -> bool { self.contains(Self::PSH) }
    pub fn ack(self) -> bool { self.contains(Self::ACK) }
    pub fn urg(self) -> bool { self.contains(Self::URG) }
}

impl core::ops::BitOr for TcpFlags {
    type Output = TcpFlags;
    fn bitor(self, rhs: TcpFlags) -> TcpFlags { TcpFlags(self.0 | rhs.0) }
}
impl core::ops::BitOrAssign for TcpFlags {
    fn bitor_assign(&mut self, rhs: TcpFlags) { self.0 |= rhs.0 }
}

/// Debug prints like `SYN|ACK` (empty: `none`).
impl core::fmt::Debug for TcpFlags {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let _ = f;
        todo!()
    }
}
impl core::fmt::Display for TcpFlags {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        core::fmt::Debug::fmt(self, f)
    }
}

/// Parsed TCP options. `Copy`, no allocation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TcpOptions {
    /// Kind 2.
    pub mss: Option<u16>,
    /// Kind 3, the raw shift count (the engine clamps values > 14).
    pub window_scale: Option<u8>,
    /// Kind 4.
    pub sack_permitted: bool,
    /// Kind 5: up to 4 (left, right) blocks, filled from index 0.
    pub sack_blocks: [Option<(u32, u32)>; MAX_SACK_BLOCKS],
    /// Kind 8: (TSval, TSecr).
    pub timestamp: Option<(u32, u32)>,
}

impl TcpOptions {
    /// Parses the options area. EOL ends parsing; NOP is skipped; unknown
    /// kinds with a valid length are skipped. A length byte < 2, an option
    /// running past the area, or a known option with the wrong length
    /// (MSS 4, WS 3, SACK-perm 2, SACK 2+8n with n in 1..=4, TS 10) →
    /// `WireError::BadOption`.
    pub fn parse(options: &[u8]) -> Result<TcpOptions> {
        let _ = (options, WireError::BadOption);
        todo!()
    }
    /// Bytes `emit` writes: the options padded with NOP/EOL to a multiple of 4.
    /// Must never exceed 40.
    pub fn emit_len(&self) -> usize { todo!() }
    /// Writes the options (in the order MSS, SACK-perm, TS, WS, SACK, padded
    /// to a multiple of 4) into `buf[..emit_len()]`; returns emit_len().
    pub fn emit(&self, buf: &mut [u8]) -> usize { let _ = buf; todo!() }
    /// Number of SACK blocks present.
    pub fn sack_count(&self) -> usize { self.sack_blocks.iter().filter(|b| b.is_some()).count() }
}

/// Zero-copy view of a TCP segment.
#[derive(Debug, Clone)]
pub struct TcpPacket<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> TcpPacket<T> {
    pub fn new_unchecked(buffer: T) -> Self { TcpPacket { buffer } }
    /// Validates: len >= 20 (Truncated); 20 <= data offset*4 <= len
    /// (BadDataOffset). Does not verify the checksum or parse options.
    pub fn new_checked(buffer: T) -> Result<Self> { let _ = buffer; todo!() }
    pub fn into_inner(self) -> T { self.buffer }
    pub fn src_port(&self) -> u16 { todo!() }
    pub fn dst_port(&self) -> u16 { todo!() }
    pub fn seq(&self) -> u32 { todo!() }
    pub fn ack(&self) -> u32 { todo!() }
    /// Header length in bytes (data offset * 4).
    pub fn header_len(&self) -> usize { todo!() }
    pub fn flags(&self) -> TcpFlags { todo!() }
    pub fn window(&self) -> u16 { todo!() }
    pub fn checksum(&self) -> u16 { todo!() }
    pub fn urgent(&self) -> u16 { todo!() }
    /// Options area: bytes 20..header_len.
    pub fn options(&self) -> &[u8] { todo!() }
    pub fn payload(&self) -> &[u8] { todo!() }
    /// Verifies the checksum over pseudo-header + whole buffer.
    pub fn verify_checksum(&self, src: IpAddr, dst: IpAddr) -> bool { let _ = (src, dst); todo!() }
}

/// High-level TCP segment. `payload` borrows the packet when parsed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TcpRepr<'a> {
    pub src_port: u16,
    pub dst_port: u16,
    pub seq: u32,
    pub ack: u32,
    pub flags: TcpFlags,
    pub window: u16,
    pub urgent: u16,
    pub options: TcpOptions,
    pub payload: &'a [u8],
}

impl<'a> TcpRepr<'a> {
    /// Parses a checked segment and its options (BadOption). Does not verify
    /// the checksum (use `TcpPacket::verify_checksum`).
    pub fn parse(packet: &TcpPacket<&'a [u8]>) -> Result<TcpRepr<'a>> { let _ = packet; todo!() }
    /// 20 + options.emit_len().
    pub fn header_len(&self) -> usize { HEADER_LEN + self.options.emit_len() }
    /// Writes header + options into `buf[..header_len()]` with checksum 0
    /// and data offset = header_len()/4. Ignores `payload`. Returns header_len().
    pub fn emit_header(&self, buf: &mut [u8]) -> usize { let _ = buf; todo!() }
    /// Writes header, copies `payload`, fills the checksum. `buf.len()` must
    /// be at least header_len() + payload.len(); returns bytes written.
    pub fn emit(&self, buf: &mut [u8], src: IpAddr, dst: IpAddr) -> usize { let _ = (buf, src, dst); todo!() }
}

/// Computes and stores the checksum of a complete segment in `segment`
/// (header + payload), given the IP addresses for the pseudo-header.
pub fn fill_checksum(segment: &mut [u8], src: IpAddr, dst: IpAddr) { let _ = (segment, src, dst); todo!() }
