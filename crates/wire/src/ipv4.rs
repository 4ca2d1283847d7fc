//! IPv4 header (RFC 791): view and repr.
use crate::{checksum, Result, WireError};
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

mod field {
    pub const VER_IHL: usize = 0;
    pub const DSCP_ECN: usize = 1;
    pub const LENGTH: usize = 2;
    pub const IDENT: usize = 4;
    pub const FLG_OFF: usize = 6;
    pub const TTL: usize = 8;
    pub const PROTOCOL: usize = 9;
    pub const CHECKSUM: usize = 10;
    pub const SRC: usize = 12;
    pub const DST: usize = 16;
}

const FLAG_DF: u16 = 0x4000;
const FLAG_MF: u16 = 0x2000;
const OFFSET_MASK: u16 = 0x1FFF;

#[inline]
fn be16(b: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([b[at], b[at + 1]])
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
        let packet = Ipv4Packet { buffer };
        packet.check()?;
        Ok(packet)
    }
    /// The checks of `new_checked`, on an existing view.
    pub fn check(&self) -> Result<()> {
        let data = self.buffer.as_ref();
        let len = data.len();
        if len < HEADER_LEN {
            return Err(WireError::Truncated);
        }
        if self.version() != 4 {
            return Err(WireError::BadVersion);
        }
        let header_len = self.header_len();
        if header_len < HEADER_LEN || header_len > len {
            return Err(WireError::BadHeaderLen);
        }
        let total_len = self.total_len();
        if total_len < header_len || total_len > len {
            return Err(WireError::BadTotalLen);
        }
        Ok(())
    }
    pub fn into_inner(self) -> T {
        self.buffer
    }
    pub fn version(&self) -> u8 {
        self.buffer.as_ref()[field::VER_IHL] >> 4
    }
    /// Header length in bytes (IHL * 4).
    pub fn header_len(&self) -> usize {
        usize::from(self.buffer.as_ref()[field::VER_IHL] & 0x0F) * 4
    }
    pub fn dscp_ecn(&self) -> u8 {
        self.buffer.as_ref()[field::DSCP_ECN]
    }
    pub fn total_len(&self) -> usize {
        usize::from(be16(self.buffer.as_ref(), field::LENGTH))
    }
    pub fn ident(&self) -> u16 {
        be16(self.buffer.as_ref(), field::IDENT)
    }
    pub fn dont_frag(&self) -> bool {
        be16(self.buffer.as_ref(), field::FLG_OFF) & FLAG_DF != 0
    }
    pub fn more_frags(&self) -> bool {
        be16(self.buffer.as_ref(), field::FLG_OFF) & FLAG_MF != 0
    }
    /// Fragment offset in bytes (field * 8).
    pub fn frag_offset(&self) -> usize {
        usize::from(be16(self.buffer.as_ref(), field::FLG_OFF) & OFFSET_MASK) * 8
    }
    pub fn ttl(&self) -> u8 {
        self.buffer.as_ref()[field::TTL]
    }
    pub fn protocol(&self) -> u8 {
        self.buffer.as_ref()[field::PROTOCOL]
    }
    pub fn checksum(&self) -> u16 {
        be16(self.buffer.as_ref(), field::CHECKSUM)
    }
    pub fn src_addr(&self) -> Ipv4Addr {
        let b = self.buffer.as_ref();
        Ipv4Addr::new(
            b[field::SRC],
            b[field::SRC + 1],
            b[field::SRC + 2],
            b[field::SRC + 3],
        )
    }
    pub fn dst_addr(&self) -> Ipv4Addr {
        let b = self.buffer.as_ref();
        Ipv4Addr::new(
            b[field::DST],
            b[field::DST + 1],
            b[field::DST + 2],
            b[field::DST + 3],
        )
    }
    /// True when the header checksum verifies.
    pub fn verify_checksum(&self) -> bool {
        let header = self.header();
        header.len() >= HEADER_LEN && checksum::checksum(header) == 0
    }
    /// The header bytes (including options).
    pub fn header(&self) -> &[u8] {
        let (header_end, _) = self.clamped_bounds();
        &self.buffer.as_ref()[..header_end]
    }
    /// Bytes header_len..total_len (trailing link padding excluded).
    pub fn payload(&self) -> &[u8] {
        let (start, end) = self.clamped_bounds();
        &self.buffer.as_ref()[start..end]
    }
    /// (header_len, total_len) clamped to the buffer, so that `header` and
    /// `payload` never panic even on a view made with `new_unchecked`.
    fn clamped_bounds(&self) -> (usize, usize) {
        let len = self.buffer.as_ref().len();
        if len < HEADER_LEN {
            return (0, 0);
        }
        let end = self.total_len().min(len);
        (self.header_len().min(end), end)
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Ipv4Packet<T> {
    pub fn set_ttl(&mut self, ttl: u8) {
        self.buffer.as_mut()[field::TTL] = ttl;
    }
    /// Recomputes and stores the header checksum.
    pub fn fill_checksum(&mut self) {
        let header_len = self.header_len().min(self.buffer.as_ref().len());
        let data = self.buffer.as_mut();
        data[field::CHECKSUM..field::CHECKSUM + 2].copy_from_slice(&[0, 0]);
        let sum = checksum::checksum(&data[..header_len]);
        data[field::CHECKSUM..field::CHECKSUM + 2].copy_from_slice(&sum.to_be_bytes());
    }
    pub fn payload_mut(&mut self) -> &mut [u8] {
        let (start, end) = self.clamped_bounds();
        &mut self.buffer.as_mut()[start..end]
    }
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
        // Re-validate so a view made with `new_unchecked` cannot panic here.
        packet.check()?;
        if !packet.verify_checksum() {
            return Err(WireError::BadChecksum);
        }
        Ok(Ipv4Repr {
            src: packet.src_addr(),
            dst: packet.dst_addr(),
            protocol: packet.protocol(),
            payload_len: packet.total_len() - packet.header_len(),
            ttl: packet.ttl(),
            ident: packet.ident(),
            dont_frag: packet.dont_frag(),
            more_frags: packet.more_frags(),
            frag_offset: packet.frag_offset(),
            dscp_ecn: packet.dscp_ecn(),
        })
    }
    /// Length of the header `emit` writes (always 20).
    pub fn header_len(&self) -> usize {
        HEADER_LEN
    }
    /// Total length of the packet: 20 + payload_len.
    pub fn total_len(&self) -> usize {
        HEADER_LEN + self.payload_len
    }
    /// Writes the 20-byte header (IHL 5) with its checksum into
    /// `buf[..20]`. Panics only if `buf.len() < 20` (caller bug).
    pub fn emit(&self, buf: &mut [u8]) {
        let hdr = &mut buf[..HEADER_LEN];
        debug_assert!(self.payload_len <= usize::from(u16::MAX) - HEADER_LEN);
        debug_assert!(self.frag_offset & 7 == 0);
        hdr[field::VER_IHL] = 0x45;
        hdr[field::DSCP_ECN] = self.dscp_ecn;
        let total = (HEADER_LEN + self.payload_len) as u16;
        hdr[field::LENGTH..field::LENGTH + 2].copy_from_slice(&total.to_be_bytes());
        hdr[field::IDENT..field::IDENT + 2].copy_from_slice(&self.ident.to_be_bytes());
        let mut flg_off = ((self.frag_offset / 8) as u16) & OFFSET_MASK;
        if self.dont_frag {
            flg_off |= FLAG_DF;
        }
        if self.more_frags {
            flg_off |= FLAG_MF;
        }
        hdr[field::FLG_OFF..field::FLG_OFF + 2].copy_from_slice(&flg_off.to_be_bytes());
        hdr[field::TTL] = self.ttl;
        hdr[field::PROTOCOL] = self.protocol;
        hdr[field::SRC..field::SRC + 4].copy_from_slice(&self.src.octets());
        hdr[field::DST..field::DST + 4].copy_from_slice(&self.dst.octets());
        // RFC 791 §3.1: the one's complement sum of the header's 16-bit
        // words, taken from the fields, not read back from `hdr`: wide
        // loads of bytes just stored narrowly stall store forwarding.
        let (src, dst) = (u32::from(self.src), u32::from(self.dst));
        let acc = (0x4500 | u64::from(self.dscp_ecn))
            + u64::from(total)
            + u64::from(self.ident)
            + u64::from(flg_off)
            + (u64::from(self.ttl) << 8 | u64::from(self.protocol))
            + u64::from(src >> 16)
            + u64::from(src & 0xFFFF)
            + u64::from(dst >> 16)
            + u64::from(dst & 0xFFFF);
        let sum = checksum::finish(acc);
        hdr[field::CHECKSUM..field::CHECKSUM + 2].copy_from_slice(&sum.to_be_bytes());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A real captured header (UDP, 192.168.0.1 -> 192.168.0.199).
    const CAPTURED: [u8; 20] = [
        0x45, 0x00, 0x00, 0x73, 0x00, 0x00, 0x40, 0x00, 0x40, 0x11, 0xb8, 0x61, 0xc0, 0xa8, 0x00,
        0x01, 0xc0, 0xa8, 0x00, 0xc7,
    ];

    fn captured_packet() -> Vec<u8> {
        let mut v = CAPTURED.to_vec();
        v.extend((0..0x73 - 20).map(|i| i as u8));
        v
    }

    #[test]
    fn parse_captured() {
        let buf = captured_packet();
        let p = Ipv4Packet::new_checked(&buf[..]).unwrap();
        assert_eq!(p.version(), 4);
        assert_eq!(p.header_len(), 20);
        assert_eq!(p.total_len(), 0x73);
        assert_eq!(p.ident(), 0);
        assert!(p.dont_frag());
        assert!(!p.more_frags());
        assert_eq!(p.frag_offset(), 0);
        assert_eq!(p.ttl(), 64);
        assert_eq!(p.protocol(), PROTO_UDP);
        assert_eq!(p.checksum(), 0xb861);
        assert_eq!(p.src_addr(), Ipv4Addr::new(192, 168, 0, 1));
        assert_eq!(p.dst_addr(), Ipv4Addr::new(192, 168, 0, 199));
        assert!(p.verify_checksum());
        assert_eq!(p.header(), &CAPTURED[..]);
        assert_eq!(p.payload().len(), 0x73 - 20);
        assert_eq!(p.payload()[0..3], [0, 1, 2]);

        let repr = Ipv4Repr::parse(&p).unwrap();
        assert_eq!(
            repr,
            Ipv4Repr {
                src: Ipv4Addr::new(192, 168, 0, 1),
                dst: Ipv4Addr::new(192, 168, 0, 199),
                protocol: PROTO_UDP,
                payload_len: 0x73 - 20,
                ttl: 64,
                ident: 0,
                dont_frag: true,
                more_frags: false,
                frag_offset: 0,
                dscp_ecn: 0,
            }
        );
        // Emitting the parsed repr reproduces the captured header exactly.
        let mut out = [0u8; 20];
        repr.emit(&mut out);
        assert_eq!(out, CAPTURED);
    }

    #[test]
    fn emit_fields() {
        let repr = Ipv4Repr {
            src: Ipv4Addr::new(10, 0, 0, 1),
            dst: Ipv4Addr::new(10, 0, 0, 2),
            protocol: PROTO_TCP,
            payload_len: 100,
            ttl: 17,
            ident: 0xbeef,
            dont_frag: false,
            more_frags: true,
            frag_offset: 1480,
            dscp_ecn: 0xb8,
        };
        let mut buf = [0xAAu8; 24];
        repr.emit(&mut buf);
        assert_eq!(buf[0], 0x45);
        assert_eq!(buf[1], 0xb8);
        assert_eq!(&buf[2..4], &120u16.to_be_bytes());
        assert_eq!(&buf[4..6], &[0xbe, 0xef]);
        assert_eq!(u16::from_be_bytes([buf[6], buf[7]]), 0x2000 | 185);
        assert_eq!(buf[8], 17);
        assert_eq!(buf[9], 6);
        assert_eq!(&buf[12..16], &[10, 0, 0, 1]);
        assert_eq!(&buf[16..20], &[10, 0, 0, 2]);
        assert_eq!(crate::checksum::checksum(&buf[..20]), 0);
        assert_eq!(&buf[20..], &[0xAA; 4], "emit wrote past the header");

        let mut full = vec![0u8; 120];
        repr.emit(&mut full);
        let p = Ipv4Packet::new_checked(&full[..]).unwrap();
        assert_eq!(Ipv4Repr::parse(&p).unwrap(), repr);
        assert_eq!(repr.total_len(), 120);
    }

    /// The checksum `emit` computes from the fields is the one over the
    /// bytes it wrote, whatever the fields.
    #[test]
    fn emitted_checksum_matches_the_bytes() {
        let mut next = crate::test_rng(0x9e37_79b9_7f4a_7c15);
        for _ in 0..2000 {
            let r = next();
            let repr = Ipv4Repr {
                src: Ipv4Addr::from(r as u32),
                dst: Ipv4Addr::from((r >> 32) as u32),
                protocol: next() as u8,
                payload_len: (next() % 65_000) as usize,
                ttl: next() as u8,
                ident: next() as u16,
                dont_frag: next() & 1 == 1,
                more_frags: next() & 1 == 1,
                frag_offset: ((next() % 8000) * 8) as usize,
                dscp_ecn: next() as u8,
            };
            let mut buf = [0u8; 20];
            repr.emit(&mut buf);
            assert_eq!(crate::checksum::checksum(&buf), 0, "{repr:?}");
        }
    }

    #[test]
    fn df_flag_and_zero_offset() {
        let repr = Ipv4Repr {
            src: Ipv4Addr::new(1, 2, 3, 4),
            dst: Ipv4Addr::new(5, 6, 7, 8),
            protocol: PROTO_ICMP,
            payload_len: 0,
            ttl: 255,
            ident: 1,
            dont_frag: true,
            more_frags: false,
            frag_offset: 0,
            dscp_ecn: 0,
        };
        let mut buf = [0u8; 20];
        repr.emit(&mut buf);
        assert_eq!(&buf[6..8], &[0x40, 0x00]);
        let p = Ipv4Packet::new_checked(&buf[..]).unwrap();
        assert!(p.payload().is_empty());
        assert_eq!(Ipv4Repr::parse(&p).unwrap(), repr);
    }

    #[test]
    fn options_skipped_by_payload() {
        // IHL 6: one 4-byte option word (NOPs + EOL).
        let mut buf = [0u8; 30];
        buf[..20].copy_from_slice(&CAPTURED);
        buf[0] = 0x46;
        buf[2..4].copy_from_slice(&28u16.to_be_bytes());
        buf[20..24].copy_from_slice(&[1, 1, 1, 0]);
        buf[24..28].copy_from_slice(&[9, 8, 7, 6]);
        // trailing link padding: 2 bytes beyond total_len
        buf[28..30].copy_from_slice(&[0xEE, 0xEE]);
        let mut p = Ipv4Packet::new_checked(&mut buf[..]).unwrap();
        assert!(!p.verify_checksum());
        p.fill_checksum();
        assert!(p.verify_checksum());
        assert_eq!(p.header_len(), 24);
        assert_eq!(p.header().len(), 24);
        assert_eq!(p.payload(), &[9, 8, 7, 6]);
        p.payload_mut()[0] = 0x42;
        let repr = Ipv4Repr::parse(&p).unwrap();
        assert_eq!(repr.payload_len, 4);
        assert_eq!(buf[24], 0x42);
    }

    #[test]
    fn set_ttl_and_fill_checksum() {
        let mut full = captured_packet();
        let mut pk = Ipv4Packet::new_checked(&mut full[..]).unwrap();
        pk.set_ttl(63);
        assert!(!pk.verify_checksum());
        pk.fill_checksum();
        assert!(pk.verify_checksum());
        assert_eq!(pk.ttl(), 63);
        assert_eq!(pk.checksum(), 0xb961);
        assert_eq!(pk.into_inner()[8], 63);
    }

    #[test]
    fn bad_checksum_rejected() {
        let mut buf = captured_packet();
        buf[11] ^= 1;
        let p = Ipv4Packet::new_checked(&buf[..]).unwrap();
        assert!(!p.verify_checksum());
        assert_eq!(Ipv4Repr::parse(&p), Err(WireError::BadChecksum));
    }

    #[test]
    fn truncated() {
        let buf = captured_packet();
        for len in 0..20 {
            assert_eq!(
                Ipv4Packet::new_checked(&buf[..len]).unwrap_err(),
                WireError::Truncated,
                "len {len}"
            );
        }
    }

    #[test]
    fn bad_version() {
        let mut buf = captured_packet();
        buf[0] = 0x65;
        assert_eq!(
            Ipv4Packet::new_checked(&buf[..]).unwrap_err(),
            WireError::BadVersion
        );
        buf[0] = 0x05;
        assert_eq!(
            Ipv4Packet::new_checked(&buf[..]).unwrap_err(),
            WireError::BadVersion
        );
    }

    #[test]
    fn bad_header_len() {
        let mut buf = captured_packet();
        for ihl in 0..5u8 {
            buf[0] = 0x40 | ihl;
            assert_eq!(
                Ipv4Packet::new_checked(&buf[..]).unwrap_err(),
                WireError::BadHeaderLen,
                "ihl {ihl}"
            );
        }
        // IHL 15 = 60 bytes, buffer only 40 bytes.
        let mut short = CAPTURED.to_vec();
        short.extend([0u8; 20]);
        short[0] = 0x4F;
        short[2..4].copy_from_slice(&40u16.to_be_bytes());
        assert_eq!(
            Ipv4Packet::new_checked(&short[..]).unwrap_err(),
            WireError::BadHeaderLen
        );
    }

    #[test]
    fn bad_total_len() {
        let mut buf = captured_packet();
        // total_len < header_len
        buf[2..4].copy_from_slice(&19u16.to_be_bytes());
        assert_eq!(
            Ipv4Packet::new_checked(&buf[..]).unwrap_err(),
            WireError::BadTotalLen
        );
        buf[2..4].copy_from_slice(&0u16.to_be_bytes());
        assert_eq!(
            Ipv4Packet::new_checked(&buf[..]).unwrap_err(),
            WireError::BadTotalLen
        );
        // total_len > buffer
        buf[2..4].copy_from_slice(&(0x74u16).to_be_bytes());
        assert_eq!(
            Ipv4Packet::new_checked(&buf[..]).unwrap_err(),
            WireError::BadTotalLen
        );
        // options: header 24 with total 22
        let mut opt = captured_packet();
        opt[0] = 0x46;
        opt[2..4].copy_from_slice(&22u16.to_be_bytes());
        assert_eq!(
            Ipv4Packet::new_checked(&opt[..]).unwrap_err(),
            WireError::BadTotalLen
        );
        // total_len == header_len is fine
        buf[2..4].copy_from_slice(&20u16.to_be_bytes());
        assert!(Ipv4Packet::new_checked(&buf[..]).is_ok());
    }

    #[test]
    fn parse_of_unchecked_view_does_not_panic() {
        let buf = [0x45u8, 0, 0];
        let p = Ipv4Packet::new_unchecked(&buf[..]);
        assert_eq!(Ipv4Repr::parse(&p), Err(WireError::Truncated));
        assert!(!p.verify_checksum());
        assert!(p.payload().is_empty());
    }
}
