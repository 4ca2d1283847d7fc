//! IPv6 header (RFC 8200 §3): view and repr, plus the walk of the
//! extension headers a host processes (RFC 8200 §4).
use crate::icmpv6::param_problem;
use crate::{Result, WireError};
use std::net::Ipv6Addr;

/// Length of the fixed header (RFC 8200 §3).
pub const HEADER_LEN: usize = 40;
/// Every link carries packets of this size unfragmented (RFC 8200 §5).
pub const MIN_MTU: usize = 1280;

/// Next-header values (RFC 8200 §4.1, IANA protocol numbers).
pub const HOP_BY_HOP: u8 = 0;
pub const PROTO_TCP: u8 = 6;
pub const PROTO_UDP: u8 = 17;
pub const ROUTING: u8 = 43;
pub const FRAGMENT: u8 = 44;
pub const PROTO_ICMPV6: u8 = 58;
pub const NO_NEXT: u8 = 59;
pub const DEST_OPTS: u8 = 60;

/// Length of a Fragment header (RFC 8200 §4.5).
pub const FRAG_HEADER_LEN: usize = 8;
/// `walk_extensions` gives up (Discard) on a chain longer than this, so a
/// hostile chain costs bounded time.
pub const MAX_EXTENSION_HEADERS: usize = 16;

/// Zero-copy view of an IPv6 packet.
#[derive(Debug, Clone)]
pub struct Ipv6Packet<T: AsRef<[u8]>> {
    buffer: T,
}

mod field {
    /// Version (4 bits), traffic class (8), flow label (20).
    pub const VER_TC_FLOW: usize = 0;
    pub const LENGTH: usize = 4;
    pub const NEXT_HEADER: usize = 6;
    pub const HOP_LIMIT: usize = 7;
    pub const SRC: usize = 8;
    pub const DST: usize = 24;
}

#[inline]
fn be16(b: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([b[at], b[at + 1]])
}

#[inline]
fn addr(b: &[u8], at: usize) -> Ipv6Addr {
    let mut octets = [0u8; 16];
    octets.copy_from_slice(&b[at..at + 16]);
    Ipv6Addr::from(octets)
}

impl<T: AsRef<[u8]>> Ipv6Packet<T> {
    pub fn new_unchecked(buffer: T) -> Self {
        Ipv6Packet { buffer }
    }
    /// Validates: len >= 40 (Truncated), version == 6 (BadVersion),
    /// 40 + payload_len <= len (BadTotalLen); a payload length of 0 with a
    /// hop-by-hop header next is a jumbogram (RFC 2675), not handled
    /// (Unsupported). Extension headers are not looked at: see
    /// [`walk_extensions`].
    pub fn new_checked(buffer: T) -> Result<Self> {
        let packet = Ipv6Packet { buffer };
        packet.check()?;
        Ok(packet)
    }
    /// The checks of `new_checked`, on an existing view.
    pub fn check(&self) -> Result<()> {
        let len = self.buffer.as_ref().len();
        if len < HEADER_LEN {
            return Err(WireError::Truncated);
        }
        if self.version() != 6 {
            return Err(WireError::BadVersion);
        }
        if self.payload_len() == 0 && self.next_header() == HOP_BY_HOP {
            return Err(WireError::Unsupported);
        }
        if self.total_len() > len {
            return Err(WireError::BadTotalLen);
        }
        Ok(())
    }
    pub fn into_inner(self) -> T {
        self.buffer
    }
    pub fn version(&self) -> u8 {
        self.buffer.as_ref()[field::VER_TC_FLOW] >> 4
    }
    /// DS field and ECN (RFC 8200 §7).
    pub fn traffic_class(&self) -> u8 {
        let b = self.buffer.as_ref();
        (b[field::VER_TC_FLOW] << 4) | (b[field::VER_TC_FLOW + 1] >> 4)
    }
    /// The 20-bit flow label (RFC 8200 §6).
    pub fn flow_label(&self) -> u32 {
        let b = self.buffer.as_ref();
        u32::from_be_bytes([
            0,
            b[field::VER_TC_FLOW + 1] & 0x0F,
            b[field::VER_TC_FLOW + 2],
            b[field::VER_TC_FLOW + 3],
        ])
    }
    /// Length of what follows the fixed header, extension headers included.
    pub fn payload_len(&self) -> usize {
        usize::from(be16(self.buffer.as_ref(), field::LENGTH))
    }
    pub fn next_header(&self) -> u8 {
        self.buffer.as_ref()[field::NEXT_HEADER]
    }
    pub fn hop_limit(&self) -> u8 {
        self.buffer.as_ref()[field::HOP_LIMIT]
    }
    pub fn src_addr(&self) -> Ipv6Addr {
        addr(self.buffer.as_ref(), field::SRC)
    }
    pub fn dst_addr(&self) -> Ipv6Addr {
        addr(self.buffer.as_ref(), field::DST)
    }
    /// 40 + payload_len.
    pub fn total_len(&self) -> usize {
        HEADER_LEN + self.payload_len()
    }
    /// The 40 bytes of the fixed header.
    pub fn header(&self) -> &[u8] {
        let (header_end, _) = self.clamped_bounds();
        &self.buffer.as_ref()[..header_end]
    }
    /// Bytes 40..40 + payload_len (trailing link padding excluded).
    pub fn payload(&self) -> &[u8] {
        let (start, end) = self.clamped_bounds();
        &self.buffer.as_ref()[start..end]
    }
    /// (40, total_len) clamped to the buffer, so that `header` and `payload`
    /// never panic even on a view made with `new_unchecked`.
    fn clamped_bounds(&self) -> (usize, usize) {
        let len = self.buffer.as_ref().len();
        if len < HEADER_LEN {
            return (0, 0);
        }
        (HEADER_LEN, self.total_len().min(len))
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Ipv6Packet<T> {
    pub fn set_hop_limit(&mut self, hop_limit: u8) {
        self.buffer.as_mut()[field::HOP_LIMIT] = hop_limit;
    }
    pub fn payload_mut(&mut self) -> &mut [u8] {
        let (start, end) = self.clamped_bounds();
        &mut self.buffer.as_mut()[start..end]
    }
}

/// High-level IPv6 fixed header (RFC 8200 §3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ipv6Repr {
    pub src: Ipv6Addr,
    pub dst: Ipv6Addr,
    /// The header that follows (an extension header or the upper layer).
    pub next_header: u8,
    /// Length of what follows the fixed header.
    pub payload_len: usize,
    pub hop_limit: u8,
    pub traffic_class: u8,
    /// 20 bits.
    pub flow_label: u32,
}

impl Ipv6Repr {
    /// Parses a packet (re-running the checks of `new_checked`, so a view
    /// made with `new_unchecked` cannot panic here).
    pub fn parse<T: AsRef<[u8]>>(packet: &Ipv6Packet<T>) -> Result<Ipv6Repr> {
        packet.check()?;
        Ok(Ipv6Repr {
            src: packet.src_addr(),
            dst: packet.dst_addr(),
            next_header: packet.next_header(),
            payload_len: packet.payload_len(),
            hop_limit: packet.hop_limit(),
            traffic_class: packet.traffic_class(),
            flow_label: packet.flow_label(),
        })
    }
    /// Length of the header `emit` writes (always 40).
    pub fn header_len(&self) -> usize {
        HEADER_LEN
    }
    /// Total length of the packet: 40 + payload_len.
    pub fn total_len(&self) -> usize {
        HEADER_LEN + self.payload_len
    }
    /// Writes the 40-byte fixed header into `buf[..40]`. Panics only if
    /// `buf.len() < 40` (caller bug). `payload_len` must fit 16 bits and
    /// `flow_label` 20 bits.
    pub fn emit(&self, buf: &mut [u8]) {
        let hdr = &mut buf[..HEADER_LEN];
        debug_assert!(self.payload_len <= usize::from(u16::MAX));
        debug_assert!(self.flow_label <= 0xF_FFFF);
        let first =
            (6u32 << 28) | (u32::from(self.traffic_class) << 20) | (self.flow_label & 0xF_FFFF);
        hdr[field::VER_TC_FLOW..field::VER_TC_FLOW + 4].copy_from_slice(&first.to_be_bytes());
        hdr[field::LENGTH..field::LENGTH + 2]
            .copy_from_slice(&(self.payload_len as u16).to_be_bytes());
        hdr[field::NEXT_HEADER] = self.next_header;
        hdr[field::HOP_LIMIT] = self.hop_limit;
        hdr[field::SRC..field::SRC + 16].copy_from_slice(&self.src.octets());
        hdr[field::DST..field::DST + 16].copy_from_slice(&self.dst.octets());
    }
}

/// Fragment header (RFC 8200 §4.5).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FragmentHeader {
    /// The header of the fragmentable part (known after reassembly).
    pub next_header: u8,
    /// Offset of this fragment's data in the fragmentable part, in bytes (a
    /// multiple of 8).
    pub offset: usize,
    /// The M flag: more fragments follow.
    pub more: bool,
    pub ident: u32,
}

impl FragmentHeader {
    /// Parses the first 8 bytes of `buf` (Truncated if shorter). The
    /// reserved fields are ignored (RFC 8200 §4.5).
    pub fn parse(buf: &[u8]) -> Result<FragmentHeader> {
        if buf.len() < FRAG_HEADER_LEN {
            return Err(WireError::Truncated);
        }
        let off_flags = be16(buf, 2);
        Ok(FragmentHeader {
            next_header: buf[0],
            offset: usize::from(off_flags & 0xFFF8),
            more: off_flags & 1 != 0,
            ident: u32::from_be_bytes([buf[4], buf[5], buf[6], buf[7]]),
        })
    }
    /// Writes the 8-byte header into `buf[..8]`, reserved fields zero.
    /// Panics only if `buf.len() < 8` (caller bug). `offset` must be a
    /// multiple of 8 below 65536.
    pub fn emit(&self, buf: &mut [u8]) {
        let hdr = &mut buf[..FRAG_HEADER_LEN];
        debug_assert!(self.offset & 7 == 0 && self.offset <= 0xFFF8);
        hdr[0] = self.next_header;
        hdr[1] = 0;
        let off_flags = (self.offset as u16 & 0xFFF8) | u16::from(self.more);
        hdr[2..4].copy_from_slice(&off_flags.to_be_bytes());
        hdr[4..8].copy_from_slice(&self.ident.to_be_bytes());
    }
}

/// Where the extension headers of a packet end (see [`walk_extensions`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Extensions {
    /// The type of what starts at `offset`: the upper-layer protocol,
    /// NO_NEXT, or, after a Fragment header, its `next_header` (which may
    /// name an extension header of the fragmentable part).
    pub protocol: u8,
    /// Start of the upper-layer data (or of the fragment's data) within the
    /// payload.
    pub offset: usize,
    /// The Fragment header, when the walk stopped at one.
    pub fragment: Option<FragmentHeader>,
    /// Offset of the Fragment header within the payload, i.e. the length of
    /// the unfragmentable extension headers; 0 if there is none.
    pub frag_header_at: usize,
    /// Where the next-header field naming `protocol` is, from the start of
    /// the packet (6 in the fixed header, or byte 0 of the last extension
    /// header): what a Parameter Problem about an unrecognized next header
    /// points at (RFC 8200 §4, RFC 4443 §3.4).
    pub next_header_at: u32,
}

/// Why `walk_extensions` rejected a packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ExtError {
    /// An extension header runs past the payload.
    Truncated,
    /// Drop silently (an option of type 01xxxxxx, or a chain longer than
    /// `MAX_EXTENSION_HEADERS`).
    Discard,
    /// Drop and answer with an ICMPv6 Parameter Problem (RFC 4443 §3.4).
    /// `pointer` is an offset from the start of the IPv6 packet. If
    /// `unless_multicast`, send it only if the packet's destination was not
    /// a multicast address (RFC 4443 §2.4 (e.3): true for all but the
    /// code 2 of an option whose type's two high bits are 10).
    ParamProblem {
        code: u8,
        pointer: u32,
        unless_multicast: bool,
    },
}

const OPT_PAD1: u8 = 0;

/// Offset within the packet of the byte at `at` within the payload.
fn packet_offset(at: usize) -> u32 {
    u32::try_from(HEADER_LEN.saturating_add(at)).unwrap_or(u32::MAX)
}

/// Walks the extension headers of a packet whose fixed header's next
/// header is `first` and whose payload (exactly `payload_len` bytes) is
/// `payload`, as a host does (RFC 8200 §4):
/// - hop-by-hop options, only as the first header (later: Parameter Problem
///   code 1 pointing at the next-header field naming it, §4.1);
/// - hop-by-hop and destination options: processed (§4.2, see below);
/// - routing: ignored with Segments Left 0; else Parameter Problem code 0
///   pointing at the Routing Type (we do not forward, §4.4);
/// - stops at the first Fragment header (its fields, `frag_header_at`;
///   what follows is parsed after reassembly, §4.5: the checks of §4.5 on
///   the fragment's length are the reassembler's), at NO_NEXT (§4.7), or at
///   any other header, taken as the upper layer (`protocol`).
///
/// Options: Pad1 and PadN are skipped; any other option acts by the two
/// high bits of its type (§4.2): 00 skip, 01 Discard, 10 Parameter Problem
/// code 2 pointing at the type, 11 the same unless the destination was
/// multicast. An option overrunning its header: Parameter Problem code 0
/// pointing at its length byte (at its type if the length byte is missing).
///
/// A header running past `payload`: Truncated. More than
/// `MAX_EXTENSION_HEADERS` headers: Discard.
pub fn walk_extensions(first: u8, payload: &[u8]) -> core::result::Result<Extensions, ExtError> {
    let mut next = first;
    // Start of the current header within the payload.
    let mut at = 0usize;
    // Start of the header before it, whose byte 0 names it.
    let mut prev = 0usize;
    let mut seen = 0usize;
    loop {
        if !matches!(next, HOP_BY_HOP | DEST_OPTS | ROUTING | FRAGMENT) {
            return Ok(Extensions {
                protocol: next,
                offset: at,
                fragment: None,
                frag_header_at: 0,
                next_header_at: if at == 0 { 6 } else { packet_offset(prev) },
            });
        }
        if seen == MAX_EXTENSION_HEADERS {
            return Err(ExtError::Discard);
        }
        seen += 1;
        if next == HOP_BY_HOP && at != 0 {
            return Err(ExtError::ParamProblem {
                code: param_problem::UNRECOGNIZED_NEXT_HEADER,
                pointer: packet_offset(prev),
                unless_multicast: true,
            });
        }
        if next == FRAGMENT {
            let frag = payload
                .get(at..)
                .and_then(|rest| FragmentHeader::parse(rest).ok())
                .ok_or(ExtError::Truncated)?;
            return Ok(Extensions {
                protocol: frag.next_header,
                offset: at + FRAG_HEADER_LEN,
                fragment: Some(frag),
                frag_header_at: at,
                next_header_at: packet_offset(at),
            });
        }
        // Generic layout: next header, length in 8-byte units after the
        // first 8 (RFC 8200 §4.3, §4.4, §4.6).
        let (Some(&nh), Some(&len8)) = (payload.get(at), payload.get(at + 1)) else {
            return Err(ExtError::Truncated);
        };
        let end = at + (usize::from(len8) + 1) * 8;
        if end > payload.len() {
            return Err(ExtError::Truncated);
        }
        if next == ROUTING {
            // Routing type at +2, segments left at +3 (within the 8 bytes).
            if payload[at + 3] != 0 {
                return Err(ExtError::ParamProblem {
                    code: param_problem::ERRONEOUS_HEADER,
                    pointer: packet_offset(at + 2),
                    unless_multicast: true,
                });
            }
        } else {
            walk_options(&payload[..end], at + 2)?;
        }
        next = nh;
        prev = at;
        at = end;
    }
}

/// Processes the options of a hop-by-hop or destination options header
/// that ends at `hdr.len()`, starting at `i` (RFC 8200 §4.2).
fn walk_options(hdr: &[u8], mut i: usize) -> core::result::Result<(), ExtError> {
    while let Some(&opt_type) = hdr.get(i) {
        if opt_type == OPT_PAD1 {
            i += 1;
            continue;
        }
        let Some(&len) = hdr.get(i + 1) else {
            return Err(ExtError::ParamProblem {
                code: param_problem::ERRONEOUS_HEADER,
                pointer: packet_offset(i),
                unless_multicast: true,
            });
        };
        let opt_end = i + 2 + usize::from(len);
        if opt_end > hdr.len() {
            return Err(ExtError::ParamProblem {
                code: param_problem::ERRONEOUS_HEADER,
                pointer: packet_offset(i + 1),
                unless_multicast: true,
            });
        }
        // PadN (1) and Router Alert (5) have high bits 00: skipped.
        match opt_type >> 6 {
            0b00 => {}
            0b01 => return Err(ExtError::Discard),
            high => {
                return Err(ExtError::ParamProblem {
                    code: param_problem::UNRECOGNIZED_OPTION,
                    pointer: packet_offset(i),
                    unless_multicast: high == 0b11,
                })
            }
        }
        i = opt_end;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn src() -> Ipv6Addr {
        "2001:db8::1".parse().unwrap()
    }
    fn dst() -> Ipv6Addr {
        "2001:db8:0:1::abcd".parse().unwrap()
    }

    /// A header: version 6, traffic class 0xab, flow label 0xcdef1,
    /// payload 8 bytes, UDP, hop limit 64, 2001:db8::1 -> 2001:db8:0:1::abcd.
    fn header() -> [u8; 40] {
        let mut h = [0u8; 40];
        h[..8].copy_from_slice(&[0x6a, 0xbc, 0xde, 0xf1, 0x00, 0x08, 17, 64]);
        h[8..24].copy_from_slice(&src().octets());
        h[24..40].copy_from_slice(&dst().octets());
        h
    }

    fn packet(payload: &[u8]) -> Vec<u8> {
        let mut v = header().to_vec();
        v[4..6].copy_from_slice(&(payload.len() as u16).to_be_bytes());
        v.extend_from_slice(payload);
        v
    }

    #[test]
    fn parse_fields() {
        let mut buf = packet(&[1, 2, 3, 4, 5, 6, 7, 8]);
        // Trailing link padding, not part of the payload.
        buf.extend_from_slice(&[0xEE; 6]);
        let p = Ipv6Packet::new_checked(&buf[..]).unwrap();
        assert_eq!(p.version(), 6);
        assert_eq!(p.traffic_class(), 0xab);
        assert_eq!(p.flow_label(), 0xc_def1);
        assert_eq!(p.payload_len(), 8);
        assert_eq!(p.total_len(), 48);
        assert_eq!(p.next_header(), PROTO_UDP);
        assert_eq!(p.hop_limit(), 64);
        assert_eq!(p.src_addr(), src());
        assert_eq!(p.dst_addr(), dst());
        assert_eq!(p.header(), &header()[..]);
        assert_eq!(p.payload(), &[1, 2, 3, 4, 5, 6, 7, 8]);
        let repr = Ipv6Repr::parse(&p).unwrap();
        assert_eq!(
            repr,
            Ipv6Repr {
                src: src(),
                dst: dst(),
                next_header: PROTO_UDP,
                payload_len: 8,
                hop_limit: 64,
                traffic_class: 0xab,
                flow_label: 0xc_def1,
            }
        );
        assert_eq!(repr.header_len(), 40);
        assert_eq!(repr.total_len(), 48);
        // Emitting the parsed repr reproduces the header exactly.
        let mut out = [0x55u8; 44];
        repr.emit(&mut out);
        assert_eq!(&out[..40], &header()[..]);
        assert_eq!(&out[40..], &[0x55; 4], "emit wrote past the header");
    }

    #[test]
    fn emit_parse_random_fields() {
        let mut next = crate::test_rng(0x5eed_1234_abcd_0001);
        for _ in 0..2000 {
            let repr = Ipv6Repr {
                src: Ipv6Addr::from(u128::from(next()) << 64 | u128::from(next())),
                dst: Ipv6Addr::from(u128::from(next()) << 64 | u128::from(next())),
                next_header: next() as u8 | 1, // never a jumbogram
                payload_len: (next() % 1500) as usize,
                hop_limit: next() as u8,
                traffic_class: next() as u8,
                flow_label: next() as u32 & 0xF_FFFF,
            };
            let mut buf = vec![0u8; repr.total_len()];
            repr.emit(&mut buf);
            let p = Ipv6Packet::new_checked(&buf[..]).unwrap();
            assert_eq!(Ipv6Repr::parse(&p).unwrap(), repr);
            assert_eq!(p.payload().len(), repr.payload_len);
        }
    }

    #[test]
    fn truncated() {
        let buf = packet(&[0; 8]);
        for len in 0..HEADER_LEN {
            assert_eq!(
                Ipv6Packet::new_checked(&buf[..len]).unwrap_err(),
                WireError::Truncated,
                "len {len}"
            );
        }
    }

    #[test]
    fn bad_version() {
        let mut buf = packet(&[]);
        for b0 in [0x4a, 0x0a, 0x7a, 0xfa] {
            buf[0] = b0;
            assert_eq!(
                Ipv6Packet::new_checked(&buf[..]).unwrap_err(),
                WireError::BadVersion
            );
        }
    }

    #[test]
    fn bad_total_len() {
        let buf = packet(&[0; 8]);
        assert_eq!(
            Ipv6Packet::new_checked(&buf[..47]).unwrap_err(),
            WireError::BadTotalLen
        );
        let mut big = buf.clone();
        big[4..6].copy_from_slice(&0xFFFFu16.to_be_bytes());
        assert_eq!(
            Ipv6Packet::new_checked(&big[..]).unwrap_err(),
            WireError::BadTotalLen
        );
        // Payload length 0, UDP next: fine, empty payload.
        let mut empty = buf.clone();
        empty[4..6].copy_from_slice(&[0, 0]);
        let p = Ipv6Packet::new_checked(&empty[..]).unwrap();
        assert!(p.payload().is_empty());
        assert_eq!(p.total_len(), 40);
    }

    #[test]
    fn jumbogram_unsupported() {
        let mut buf = packet(&[0; 16]);
        buf[4..6].copy_from_slice(&[0, 0]);
        buf[6] = HOP_BY_HOP;
        assert_eq!(
            Ipv6Packet::new_checked(&buf[..]).unwrap_err(),
            WireError::Unsupported
        );
        // A hop-by-hop header with a real length is fine.
        buf[4..6].copy_from_slice(&16u16.to_be_bytes());
        assert!(Ipv6Packet::new_checked(&buf[..]).is_ok());
    }

    #[test]
    fn set_hop_limit_and_payload_mut() {
        let mut buf = packet(&[1, 2, 3, 4]);
        buf.push(0xEE);
        let mut p = Ipv6Packet::new_checked(&mut buf[..]).unwrap();
        p.set_hop_limit(1);
        assert_eq!(p.hop_limit(), 1);
        assert_eq!(p.payload_mut().len(), 4);
        p.payload_mut()[0] = 0x42;
        let inner = p.into_inner();
        assert_eq!(inner[7], 1);
        assert_eq!(inner[40], 0x42);
        assert_eq!(inner[44], 0xEE);
    }

    #[test]
    fn parse_of_unchecked_view_does_not_panic() {
        let buf = [0x60u8, 0, 0];
        let p = Ipv6Packet::new_unchecked(&buf[..]);
        assert_eq!(Ipv6Repr::parse(&p), Err(WireError::Truncated));
        assert!(p.header().is_empty());
        assert!(p.payload().is_empty());
        // Payload length past the buffer: clamped.
        let mut long = packet(&[1, 2]);
        long[4..6].copy_from_slice(&100u16.to_be_bytes());
        let p = Ipv6Packet::new_unchecked(&long[..]);
        assert_eq!(p.payload(), &[1, 2]);
        assert_eq!(Ipv6Repr::parse(&p), Err(WireError::BadTotalLen));
    }

    #[test]
    fn fragment_header_bytes() {
        let frag = FragmentHeader {
            next_header: PROTO_UDP,
            offset: 1448,
            more: true,
            ident: 0xdead_beef,
        };
        let mut buf = [0xFFu8; 10];
        frag.emit(&mut buf);
        // 1448 / 8 = 181 = 0xb5 -> 0xb5 << 3 | M = 0x05a9.
        assert_eq!(&buf[..8], &[17, 0, 0x05, 0xa9, 0xde, 0xad, 0xbe, 0xef]);
        assert_eq!(&buf[8..], &[0xFF, 0xFF], "emit wrote past the header");
        assert_eq!(FragmentHeader::parse(&buf).unwrap(), frag);
        // Reserved bits are ignored on receipt.
        let raw = [6, 0xAA, 0xFF, 0xFE, 0, 0, 0, 1];
        assert_eq!(
            FragmentHeader::parse(&raw).unwrap(),
            FragmentHeader {
                next_header: 6,
                offset: 0xFFF8,
                more: false,
                ident: 1
            }
        );
        for len in 0..FRAG_HEADER_LEN {
            assert_eq!(
                FragmentHeader::parse(&buf[..len]),
                Err(WireError::Truncated)
            );
        }
    }

    /// An options or routing header: `next`, the length byte, then `body`
    /// (6 + 8n bytes).
    fn ext(next: u8, body: &[u8]) -> Vec<u8> {
        assert_eq!((body.len() + 2) % 8, 0, "bad test header");
        let mut v = vec![next, ((body.len() + 2) / 8 - 1) as u8];
        v.extend_from_slice(body);
        v
    }

    fn frag(next: u8, offset: usize, more: bool, ident: u32) -> Vec<u8> {
        let mut v = vec![0u8; 8];
        FragmentHeader {
            next_header: next,
            offset,
            more,
            ident,
        }
        .emit(&mut v);
        v
    }

    fn pp(code: u8, pointer: u32, unless_multicast: bool) -> ExtError {
        ExtError::ParamProblem {
            code,
            pointer,
            unless_multicast,
        }
    }

    /// `naming`: where the field naming `protocol` is in the packet.
    fn upper(protocol: u8, offset: usize, naming: u32) -> Extensions {
        Extensions {
            protocol,
            offset,
            fragment: None,
            frag_header_at: 0,
            next_header_at: naming,
        }
    }

    #[test]
    fn no_extension_headers() {
        assert_eq!(walk_extensions(PROTO_TCP, &[1, 2, 3]), Ok(upper(6, 0, 6)));
        assert_eq!(walk_extensions(PROTO_UDP, &[]), Ok(upper(17, 0, 6)));
        // Unknown protocols are the caller's to answer.
        assert_eq!(walk_extensions(253, &[]), Ok(upper(253, 0, 6)));
    }

    #[test]
    fn hop_by_hop_padding_and_router_alert() {
        // Router Alert (MLD), PadN of 0 bytes: 2 + 4 + 2 = 8.
        let mut payload = ext(PROTO_ICMPV6, &[5, 2, 0, 0, 1, 0]);
        payload.extend_from_slice(&[0x80, 0, 0, 0]);
        assert_eq!(walk_extensions(HOP_BY_HOP, &payload), Ok(upper(58, 8, 40)));
        // Pad1s and a PadN of 4 over 16 bytes, then destination options.
        let mut payload = ext(DEST_OPTS, &[0, 0, 1, 4, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0]);
        payload.extend(ext(PROTO_TCP, &[1, 4, 0, 0, 0, 0]));
        assert_eq!(walk_extensions(HOP_BY_HOP, &payload), Ok(upper(6, 24, 56)));
    }

    #[test]
    fn hop_by_hop_only_first() {
        // dest opts (at 0) -> routing (at 8) -> hop-by-hop: named by the
        // routing header's next-header field, packet offset 40 + 8.
        let mut payload = ext(ROUTING, &[1, 0, 0, 0, 0, 0]);
        payload.extend(ext(HOP_BY_HOP, &[0, 0, 0, 0, 0, 0]));
        payload.extend(ext(PROTO_TCP, &[1, 4, 0, 0, 0, 0]));
        assert_eq!(
            walk_extensions(DEST_OPTS, &payload),
            Err(pp(param_problem::UNRECOGNIZED_NEXT_HEADER, 48, true))
        );
        // Right after the first hop-by-hop.
        let mut payload = ext(HOP_BY_HOP, &[1, 4, 0, 0, 0, 0]);
        payload.extend(ext(PROTO_TCP, &[1, 4, 0, 0, 0, 0]));
        assert_eq!(
            walk_extensions(HOP_BY_HOP, &payload),
            Err(pp(param_problem::UNRECOGNIZED_NEXT_HEADER, 40, true))
        );
    }

    #[test]
    fn option_actions_by_high_bits() {
        // The option sits at payload offset 4 (after a PadN of 0): packet
        // offset 44.
        let with = |opt_type: u8| {
            ext(
                PROTO_UDP,
                &[1, 0, opt_type, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0],
            )
        };
        for first in [HOP_BY_HOP, DEST_OPTS] {
            // 00: skipped.
            assert_eq!(walk_extensions(first, &with(0x1e)), Ok(upper(17, 16, 40)));
            assert_eq!(walk_extensions(first, &with(0x3f)), Ok(upper(17, 16, 40)));
            // 01: discarded silently.
            assert_eq!(walk_extensions(first, &with(0x5e)), Err(ExtError::Discard));
            // 10: parameter problem code 2 at the type, even to multicast.
            assert_eq!(
                walk_extensions(first, &with(0x9e)),
                Err(pp(param_problem::UNRECOGNIZED_OPTION, 44, false))
            );
            // 11: the same, unless the destination was multicast.
            assert_eq!(
                walk_extensions(first, &with(0xde)),
                Err(pp(param_problem::UNRECOGNIZED_OPTION, 44, true))
            );
        }
        // The first unknown option decides: a skipped one before a
        // discarded one.
        let payload = ext(PROTO_UDP, &[0x1e, 0, 0x7f, 0, 0x80, 0]);
        assert_eq!(walk_extensions(DEST_OPTS, &payload), Err(ExtError::Discard));
        // Options of a later destination options header: packet offsets
        // count from the IPv6 header.
        let mut payload = ext(DEST_OPTS, &[1, 4, 0, 0, 0, 0]);
        payload.extend(ext(PROTO_UDP, &[1, 0, 0xc2, 0, 1, 0]));
        assert_eq!(
            walk_extensions(HOP_BY_HOP, &payload),
            Err(pp(param_problem::UNRECOGNIZED_OPTION, 52, true))
        );
    }

    #[test]
    fn option_overrunning_its_header() {
        // Pad1, then a PadN (type at 3) claiming 5 bytes where 3 remain:
        // length byte at payload offset 4.
        let payload = ext(PROTO_TCP, &[0, 1, 5, 0, 0, 0]);
        assert_eq!(
            walk_extensions(HOP_BY_HOP, &payload),
            Err(pp(param_problem::ERRONEOUS_HEADER, 44, true))
        );
        // An option at 6 claiming 1 byte where 0 remain, even if the bytes
        // past the header exist in the payload: length byte at 7.
        let mut payload = ext(PROTO_TCP, &[1, 2, 0, 0, 0x1e, 1]);
        payload.extend_from_slice(&[0; 8]);
        assert_eq!(
            walk_extensions(DEST_OPTS, &payload),
            Err(pp(param_problem::ERRONEOUS_HEADER, 47, true))
        );
        // The last byte of the header is an option type with no length
        // byte: pointer at the type (7).
        let mut payload = ext(PROTO_TCP, &[1, 3, 0, 0, 0, 0x1e]);
        payload.extend_from_slice(&[0; 8]);
        assert_eq!(
            walk_extensions(DEST_OPTS, &payload),
            Err(pp(param_problem::ERRONEOUS_HEADER, 47, true))
        );
        // A Pad1 there is fine.
        payload[7] = 0;
        assert_eq!(walk_extensions(DEST_OPTS, &payload), Ok(upper(6, 8, 40)));
    }

    #[test]
    fn routing_header() {
        // Segments left 0: ignored.
        let mut payload = ext(PROTO_UDP, &[2, 0, 0, 0, 0, 0]);
        payload.extend_from_slice(&[9; 8]);
        assert_eq!(walk_extensions(ROUTING, &payload), Ok(upper(17, 8, 40)));
        // Segments left 1: we do not forward; pointer at the routing type.
        let mut payload = ext(ROUTING, &[1, 0, 0, 0, 0, 0]);
        payload.extend(ext(PROTO_UDP, &[4, 1, 0, 0, 0, 0]));
        assert_eq!(
            walk_extensions(DEST_OPTS, &payload),
            Err(pp(param_problem::ERRONEOUS_HEADER, 50, true))
        );
    }

    #[test]
    fn no_next_header() {
        let mut payload = ext(NO_NEXT, &[1, 4, 0, 0, 0, 0]);
        payload.extend_from_slice(&[1, 2, 3]);
        assert_eq!(walk_extensions(DEST_OPTS, &payload), Ok(upper(59, 8, 40)));
        assert_eq!(walk_extensions(NO_NEXT, &[1, 2]), Ok(upper(59, 0, 6)));
    }

    #[test]
    fn stops_at_the_fragment_header() {
        // hop-by-hop, routing (segments left 0), fragment, then a
        // destination options header that belongs to the fragmentable part
        // and is not looked at (it would be discarded).
        let mut payload = ext(ROUTING, &[1, 4, 0, 0, 0, 0]);
        payload.extend(ext(FRAGMENT, &[0, 0, 0, 0, 0, 0]));
        payload.extend(frag(DEST_OPTS, 2896, true, 0x0102_0304));
        payload.extend(ext(PROTO_UDP, &[0x7f, 0, 0, 0, 0, 0]));
        let fragment = FragmentHeader {
            next_header: DEST_OPTS,
            offset: 2896,
            more: true,
            ident: 0x0102_0304,
        };
        assert_eq!(
            walk_extensions(HOP_BY_HOP, &payload),
            Ok(Extensions {
                protocol: DEST_OPTS,
                offset: 24,
                fragment: Some(fragment),
                frag_header_at: 16,
                next_header_at: 56,
            })
        );
        // First header.
        let payload = frag(PROTO_TCP, 0, false, 7);
        assert_eq!(
            walk_extensions(FRAGMENT, &payload),
            Ok(Extensions {
                protocol: PROTO_TCP,
                offset: 8,
                fragment: Some(FragmentHeader {
                    next_header: PROTO_TCP,
                    offset: 0,
                    more: false,
                    ident: 7
                }),
                frag_header_at: 0,
                next_header_at: 40,
            })
        );
    }

    #[test]
    fn truncated_anywhere() {
        let mut payload = ext(DEST_OPTS, &[1, 4, 0, 0, 0, 0]);
        payload.extend(ext(ROUTING, &[1, 12, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]));
        payload.extend(ext(FRAGMENT, &[0, 0, 0, 0, 0, 0]));
        payload.extend(frag(PROTO_TCP, 0, true, 1));
        assert_eq!(payload.len(), 40);
        assert!(walk_extensions(HOP_BY_HOP, &payload).is_ok());
        for len in 0..payload.len() {
            assert_eq!(
                walk_extensions(HOP_BY_HOP, &payload[..len]),
                Err(ExtError::Truncated),
                "len {len}"
            );
        }
    }

    #[test]
    fn chain_length_is_bounded() {
        let chain = |n: usize| {
            let mut v = Vec::new();
            for i in 0..n {
                let next = if i + 1 == n { PROTO_TCP } else { DEST_OPTS };
                v.extend(ext(next, &[1, 4, 0, 0, 0, 0]));
            }
            v
        };
        let ok = chain(MAX_EXTENSION_HEADERS);
        assert_eq!(
            walk_extensions(DEST_OPTS, &ok),
            Ok(upper(
                PROTO_TCP,
                8 * MAX_EXTENSION_HEADERS,
                40 + 8 * (MAX_EXTENSION_HEADERS as u32 - 1)
            ))
        );
        let long = chain(MAX_EXTENSION_HEADERS + 1);
        assert_eq!(walk_extensions(DEST_OPTS, &long), Err(ExtError::Discard));
        // A fragment header counts too.
        let mut v = chain(MAX_EXTENSION_HEADERS);
        let last = v.len() - 8;
        v[last] = FRAGMENT;
        v.extend(frag(PROTO_TCP, 0, false, 1));
        assert_eq!(walk_extensions(DEST_OPTS, &v), Err(ExtError::Discard));
    }

    /// Checks what `walk_extensions` returns for `payload` is within it;
    /// counts the outcomes (upper layer, fragment, truncated, discard,
    /// parameter problem).
    fn check_walk(first: u8, payload: &[u8], seen: &mut [usize; 5]) {
        let result = walk_extensions(first, payload);
        seen[match result {
            Ok(Extensions { fragment: None, .. }) => 0,
            Ok(_) => 1,
            Err(ExtError::Truncated) => 2,
            Err(ExtError::Discard) => 3,
            Err(ExtError::ParamProblem { .. }) => 4,
        }] += 1;
        match result {
            Ok(ext) => {
                assert!(ext.offset <= payload.len(), "{ext:?}");
                assert!(ext.frag_header_at <= ext.offset, "{ext:?}");
                if let Some(f) = ext.fragment {
                    assert_eq!(ext.offset, ext.frag_header_at + FRAG_HEADER_LEN);
                    assert_eq!(ext.protocol, f.next_header);
                    assert_eq!(f.offset % 8, 0);
                } else {
                    assert_eq!(ext.frag_header_at, 0);
                }
            }
            Err(ExtError::ParamProblem { pointer, .. }) => {
                assert!((pointer as usize) < HEADER_LEN + payload.len());
            }
            Err(ExtError::Truncated | ExtError::Discard) => {}
        }
    }

    #[test]
    fn random_bytes_do_not_panic() {
        let mut next = crate::test_rng(0xdead_beef_cafe_f00d);
        const NEXT: [u8; 9] = [0, 6, 17, 43, 44, 58, 59, 60, 0xfd];
        let mut seen = [0usize; 5];
        for i in 0..5000 {
            let len = (next() % 200) as usize;
            let mut buf: Vec<u8> = (0..len).map(|_| next() as u8).collect();
            if i % 2 == 0 && len >= HEADER_LEN {
                // Mostly valid fixed header.
                buf[0] = 0x60 | (buf[0] & 0x0F);
                let plen = (next() as usize) % (len - HEADER_LEN + 2);
                buf[4..6].copy_from_slice(&(plen as u16).to_be_bytes());
                buf[6] = NEXT[(next() % 9) as usize];
            }
            if i % 4 == 0 {
                // A chain of extension headers with small lengths and
                // options drawn from the interesting types.
                let mut at = HEADER_LEN;
                while at + 2 < buf.len() {
                    buf[at] = NEXT[(next() % 9) as usize];
                    buf[at + 1] = (next() % 3) as u8;
                    for b in buf.iter_mut().skip(at + 2).take(6) {
                        if next() & 1 == 0 {
                            *b = [0, 1, 2, 5, 0x1e, 0x5e, 0x9e, 0xde][(next() % 8) as usize];
                        }
                    }
                    at += (usize::from(buf[at + 1]) + 1) * 8;
                }
            }
            if let Ok(p) = Ipv6Packet::new_checked(&buf[..]) {
                assert_eq!(p.payload().len(), p.payload_len());
                assert!(Ipv6Repr::parse(&p).is_ok());
                check_walk(p.next_header(), p.payload(), &mut seen);
            }
            // The walk on its own, over arbitrary bytes and first headers.
            let first = NEXT[(next() % 9) as usize];
            check_walk(first, &buf, &mut seen);
            check_walk(first, buf.get(HEADER_LEN..).unwrap_or(&[]), &mut seen);
        }
        // Every outcome was reached.
        assert!(seen.iter().all(|&n| n > 0), "{seen:?}");
    }
}
