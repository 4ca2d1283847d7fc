//! UDP header (RFC 768).
use crate::{checksum, Result, WireError};
use std::net::IpAddr;

pub const HEADER_LEN: usize = 8;

/// Zero-copy view of a UDP datagram.
#[derive(Debug, Clone)]
pub struct UdpPacket<T: AsRef<[u8]>> {
    buffer: T,
}

const PROTO_UDP: u8 = 17;

mod field {
    pub const SRC_PORT: usize = 0;
    pub const DST_PORT: usize = 2;
    pub const LENGTH: usize = 4;
    pub const CHECKSUM: usize = 6;
}

#[inline]
fn be16(b: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([b[at], b[at + 1]])
}

impl<T: AsRef<[u8]>> UdpPacket<T> {
    pub fn new_unchecked(buffer: T) -> Self {
        UdpPacket { buffer }
    }
    /// Validates: len >= 8 (Truncated); 8 <= length field <= len (BadLength).
    pub fn new_checked(buffer: T) -> Result<Self> {
        let packet = UdpPacket { buffer };
        packet.check()?;
        Ok(packet)
    }
    /// The checks of `new_checked`, on an existing view.
    pub fn check(&self) -> Result<()> {
        let len = self.buffer.as_ref().len();
        if len < HEADER_LEN {
            return Err(WireError::Truncated);
        }
        let field_len = self.len();
        if field_len < HEADER_LEN || field_len > len {
            return Err(WireError::BadLength);
        }
        Ok(())
    }
    pub fn into_inner(self) -> T {
        self.buffer
    }
    pub fn src_port(&self) -> u16 {
        be16(self.buffer.as_ref(), field::SRC_PORT)
    }
    pub fn dst_port(&self) -> u16 {
        be16(self.buffer.as_ref(), field::DST_PORT)
    }
    /// The length field (header + payload).
    pub fn len(&self) -> usize {
        usize::from(be16(self.buffer.as_ref(), field::LENGTH))
    }
    pub fn is_empty(&self) -> bool {
        self.len() <= HEADER_LEN
    }
    pub fn checksum(&self) -> u16 {
        be16(self.buffer.as_ref(), field::CHECKSUM)
    }
    /// Bytes 8..length.
    pub fn payload(&self) -> &[u8] {
        let data = self.buffer.as_ref();
        if data.len() < HEADER_LEN {
            return &[];
        }
        let end = self.len().clamp(HEADER_LEN, data.len());
        &data[HEADER_LEN..end]
    }
    /// True if checksum is 0 (none sent) or verifies over the pseudo-header
    /// and bytes 0..length.
    pub fn verify_checksum(&self, src: IpAddr, dst: IpAddr) -> bool {
        let data = self.buffer.as_ref();
        if data.len() < HEADER_LEN {
            return false;
        }
        if self.checksum() == 0 {
            return true;
        }
        let len = self.len();
        if len < HEADER_LEN || len > data.len() {
            return false;
        }
        let acc = checksum::pseudo_header(src, dst, PROTO_UDP, len as u32);
        checksum::finish(checksum::accumulate(acc, &data[..len])) == 0
    }
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
        let total = HEADER_LEN + payload.len();
        debug_assert!(total <= usize::from(u16::MAX));
        let buf = &mut buf[..total];
        buf[field::SRC_PORT..field::SRC_PORT + 2].copy_from_slice(&self.src_port.to_be_bytes());
        buf[field::DST_PORT..field::DST_PORT + 2].copy_from_slice(&self.dst_port.to_be_bytes());
        buf[field::LENGTH..field::LENGTH + 2].copy_from_slice(&(total as u16).to_be_bytes());
        buf[field::CHECKSUM..field::CHECKSUM + 2].copy_from_slice(&[0, 0]);
        let acc = checksum::pseudo_header(src, dst, PROTO_UDP, total as u32);
        let acc = checksum::accumulate(acc, &buf[..HEADER_LEN]);
        // The payload is summed while it is copied in (one pass over it).
        let (_, data) = buf.split_at_mut(HEADER_LEN);
        let acc = checksum::copy_and_accumulate(acc, data, payload);
        let sum = match checksum::finish(acc) {
            0 => 0xFFFF,
            s => s,
        };
        buf[field::CHECKSUM..field::CHECKSUM + 2].copy_from_slice(&sum.to_be_bytes());
        total
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checksum;
    use std::net::{Ipv4Addr, Ipv6Addr};

    const SRC: IpAddr = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1));
    const DST: IpAddr = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2));

    fn datagram(payload: &[u8]) -> Vec<u8> {
        let mut buf = vec![0u8; HEADER_LEN + payload.len()];
        let repr = UdpRepr {
            src_port: 5353,
            dst_port: 53,
        };
        assert_eq!(repr.emit(&mut buf, payload, SRC, DST), buf.len());
        buf
    }

    #[test]
    fn emit_and_parse() {
        let buf = datagram(b"query");
        assert_eq!(&buf[0..2], &5353u16.to_be_bytes());
        assert_eq!(&buf[2..4], &53u16.to_be_bytes());
        assert_eq!(&buf[4..6], &13u16.to_be_bytes());
        let p = UdpPacket::new_checked(&buf[..]).unwrap();
        assert_eq!(p.src_port(), 5353);
        assert_eq!(p.dst_port(), 53);
        assert_eq!(p.len(), 13);
        assert!(!p.is_empty());
        assert_eq!(p.payload(), b"query");
        assert!(p.verify_checksum(SRC, DST));
        // (Swapping src and dst gives the same sum; use another address.)
        assert!(!p.verify_checksum(SRC, IpAddr::V4(Ipv4Addr::new(10, 0, 0, 3))));
    }

    #[test]
    fn checksum_known_answer_with_explicit_pseudo_header() {
        let buf = datagram(b"abcdefg");
        let mut v = vec![10, 0, 0, 1, 10, 0, 0, 2, 0, 17, 0, 15];
        let mut zeroed = buf.clone();
        zeroed[6] = 0;
        zeroed[7] = 0;
        v.extend_from_slice(&zeroed);
        assert_eq!(u16::from_be_bytes([buf[6], buf[7]]), checksum::naive(&v));
    }

    #[test]
    fn corrupt_payload_detected() {
        let mut buf = datagram(b"hello");
        buf[10] ^= 0x01;
        let p = UdpPacket::new_checked(&buf[..]).unwrap();
        assert!(!p.verify_checksum(SRC, DST));
    }

    #[test]
    fn zero_checksum_means_none() {
        let mut buf = datagram(b"hello");
        buf[6] = 0;
        buf[7] = 0;
        buf[9] ^= 0xFF; // corrupt: still accepted, no checksum sent
        let p = UdpPacket::new_checked(&buf[..]).unwrap();
        assert!(p.verify_checksum(SRC, DST));
    }

    #[test]
    fn computed_zero_sent_as_ffff() {
        // Find a payload whose checksum computes to 0: choose the last two
        // bytes so the one's-complement sum is 0xFFFF.
        let mut payload = [0u8; 4];
        let mut tmp = [0u8; 12];
        UdpRepr {
            src_port: 1,
            dst_port: 2,
        }
        .emit(&mut tmp, &payload, SRC, DST);
        // tmp's checksum c satisfies sum_without + c == 0xFFFF (folded);
        // putting c into the payload instead makes the computed sum 0xFFFF,
        // i.e. a computed checksum of 0.
        let c = u16::from_be_bytes([tmp[6], tmp[7]]);
        payload[2..4].copy_from_slice(&c.to_be_bytes());
        let mut buf = [0u8; 12];
        UdpRepr {
            src_port: 1,
            dst_port: 2,
        }
        .emit(&mut buf, &payload, SRC, DST);
        assert_eq!(&buf[6..8], &[0xFF, 0xFF]);
        let p = UdpPacket::new_checked(&buf[..]).unwrap();
        assert!(p.verify_checksum(SRC, DST));
    }

    #[test]
    fn ipv6_checksum() {
        let s = IpAddr::V6("fe80::1".parse::<Ipv6Addr>().unwrap());
        let d = IpAddr::V6("ff02::fb".parse::<Ipv6Addr>().unwrap());
        let mut buf = [0u8; 11];
        UdpRepr {
            src_port: 5353,
            dst_port: 5353,
        }
        .emit(&mut buf, b"mdn", s, d);
        let p = UdpPacket::new_checked(&buf[..]).unwrap();
        assert!(p.verify_checksum(s, d));
        assert!(!p.verify_checksum(s, IpAddr::V6("ff02::fc".parse::<Ipv6Addr>().unwrap())));
        assert!(!p.verify_checksum(SRC, DST));
    }

    #[test]
    fn trailing_bytes_beyond_length_ignored() {
        let mut buf = datagram(b"hi");
        buf.extend_from_slice(&[0xEE; 6]);
        let p = UdpPacket::new_checked(&buf[..]).unwrap();
        assert_eq!(p.payload(), b"hi");
        assert!(p.verify_checksum(SRC, DST));
    }

    #[test]
    fn errors() {
        let buf = datagram(b"hello");
        for len in 0..8 {
            assert_eq!(
                UdpPacket::new_checked(&buf[..len]).unwrap_err(),
                WireError::Truncated
            );
        }
        // length field > buffer
        assert_eq!(
            UdpPacket::new_checked(&buf[..12]).unwrap_err(),
            WireError::BadLength
        );
        // length field < 8
        for l in 0..8u16 {
            let mut b = buf.clone();
            b[4..6].copy_from_slice(&l.to_be_bytes());
            assert_eq!(
                UdpPacket::new_checked(&b[..]).unwrap_err(),
                WireError::BadLength
            );
        }
        // length 8: empty payload is valid
        let mut b = buf.clone();
        b[4..6].copy_from_slice(&8u16.to_be_bytes());
        let p = UdpPacket::new_checked(&b[..]).unwrap();
        assert!(p.is_empty());
        assert!(p.payload().is_empty());
    }

    #[test]
    fn unchecked_short_view_does_not_panic() {
        let b = [0u8; 3];
        let p = UdpPacket::new_unchecked(&b[..]);
        assert!(p.payload().is_empty());
        assert!(!p.verify_checksum(SRC, DST));
    }
}
