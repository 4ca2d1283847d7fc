//! ICMPv4 (RFC 792): echo, destination unreachable, time exceeded.
use crate::{Result, WireError};

pub const TYPE_ECHO_REPLY: u8 = 0;
pub const TYPE_DST_UNREACHABLE: u8 = 3;
pub const TYPE_ECHO_REQUEST: u8 = 8;
pub const TYPE_TIME_EXCEEDED: u8 = 11;

/// Destination-unreachable codes.
pub mod unreachable {
    pub const NET: u8 = 0;
    pub const HOST: u8 = 1;
    pub const PROTOCOL: u8 = 2;
    pub const PORT: u8 = 3;
    pub const FRAG_NEEDED: u8 = 4;
    pub const ADMIN_PROHIBITED: u8 = 13;
}

/// High-level ICMPv4 message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Icmpv4Repr<'a> {
    EchoRequest { ident: u16, seq_no: u16, data: &'a [u8] },
    EchoReply { ident: u16, seq_no: u16, data: &'a [u8] },
    /// `quoted`: the offending packet's IP header + at least 8 bytes.
    DstUnreachable { code: u8, next_hop_mtu: u16, quoted: &'a [u8] },
    TimeExceeded { code: u8, quoted: &'a [u8] },
    /// Any other type: accepted, not interpreted.
    Other { msg_type: u8, code: u8 },
}

impl<'a> Icmpv4Repr<'a> {
    /// Parses a whole ICMP message: len >= 8 (Truncated), checksum
    /// (BadChecksum).
    pub fn parse(buf: &'a [u8]) -> Result<Icmpv4Repr<'a>> { let _ = (buf, WireError::Truncated); todo!() }
    /// 8 + data/quoted length (Other: 8).
    pub fn buffer_len(&self) -> usize { todo!() }
    /// Writes the message and its checksum into `buf[..buffer_len()]`.
    pub fn emit(&self, buf: &mut [u8]) -> usize { let _ = buf; todo!() }
}
