//! UDP header (RFC 768).
use crate::{Result, WireError};
use std::net::IpAddr;

pub const HEADER_LEN: usize = 8;

/// Zero-copy view of a UDP datagram.
#[derive(Debug, Clone)]
pub struct UdpPacket<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> UdpPacket<T> {
    pub fn new_unchecked(buffer: T) -> Self { UdpPacket { buffer } }
    /// Validates: len >= 8 (Truncated); 8 <= length field <= len (BadLength).
    pub fn new_checked(buffer: T) -> Result<Self> { let _ = (buffer, WireError::BadLength); todo!() }
    pub fn src_port(&self) -> u16 { todo!() }
    pub fn dst_port(&self) -> u16 { todo!() }
    pub fn len(&self) -> usize { todo!() }
    pub fn is_empty(&self) -> bool { self.len() <= HEADER_LEN }
    pub fn checksum(&self) -> u16 { todo!() }
    /// Bytes 8..length.
    pub fn payload(&self) -> &[u8] { todo!() }
    /// True if checksum is 0 (none sent) or verifies over the pseudo-header
    /// and bytes 0..length.
    pub fn verify_checksum(&self, src: IpAddr, dst: IpAddr) -> bool { let _ = (src, dst); todo!() }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UdpRepr {
    pub src_port: u16,
    pub dst_port: u16,
}

impl UdpRepr {
    /// Writes header + payload into `buf[..8 + payload.len()]` and the
    /// checksum (a computed 0 is sent as 0xFFFF). Returns bytes written.
    pub fn emit(&self, buf: &mut [u8], payload: &[u8], src: IpAddr, dst: IpAddr) -> usize {
        let _ = (buf, payload, src, dst);
        todo!()
    }
}
