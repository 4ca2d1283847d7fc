//! The Internet checksum (RFC 1071), computed word-at-a-time, plus the
//! incremental update of RFC 1624.
//!
//! Representation of the running sum: a `u64` holding an *unfolded*
//! one's-complement sum of big-endian 16-bit words. Any value congruent
//! modulo 0xFFFF (and non-zero iff some summed word was non-zero) is a valid
//! running sum; [`fold`] reduces it with end-around carry.
use std::net::{IpAddr, Ipv6Addr};

/// Adds `data` to a running (unfolded) one's-complement sum. Pieces must be
/// fed in order and every piece but the last must have even length.
/// Fast: sums 64-bit words (or wider) at a time.
pub fn accumulate(acc: u64, data: &[u8]) -> u64 {
    // The one's-complement sum is independent of byte order (RFC 1071 §2(B)):
    // summing native-endian words and byte-swapping the folded result gives
    // the big-endian sum. We sum native-endian u64 words with end-around
    // carry, using two independent accumulators to shorten dependency chains.
    let mut s0: u64 = 0;
    let mut s1: u64 = 0;
    let mut c0: u64 = 0;
    let mut c1: u64 = 0;

    let mut chunks = data.chunks_exact(16);
    for chunk in &mut chunks {
        let (a, b) = chunk.split_at(8);
        let a = u64::from_ne_bytes(a.try_into().unwrap());
        let b = u64::from_ne_bytes(b.try_into().unwrap());
        let (r0, o0) = s0.overflowing_add(a);
        let (r1, o1) = s1.overflowing_add(b);
        s0 = r0;
        s1 = r1;
        c0 += o0 as u64;
        c1 += o1 as u64;
    }
    let mut rest = chunks.remainder();
    if rest.len() >= 8 {
        let a = u64::from_ne_bytes(rest[..8].try_into().unwrap());
        let (r0, o0) = s0.overflowing_add(a);
        s0 = r0;
        c0 += o0 as u64;
        rest = &rest[8..];
    }

    // Reduce the wide accumulators (each a sum mod 2^64 plus carry counts,
    // where 2^64 ≡ 1 mod 0xFFFF) into a u64 of native 32-bit halves.
    let mut sum: u64 = (s0 >> 32) + (s0 & 0xFFFF_FFFF) + (s1 >> 32) + (s1 & 0xFFFF_FFFF) + c0 + c1;

    // Tail: < 8 bytes, starting at an even offset.
    if rest.len() >= 4 {
        sum += u64::from(u32::from_ne_bytes(rest[..4].try_into().unwrap()));
        rest = &rest[4..];
    }
    if rest.len() >= 2 {
        sum += u64::from(u16::from_ne_bytes([rest[0], rest[1]]));
        rest = &rest[2..];
    }
    if let Some(&last) = rest.first() {
        // Odd trailing byte: padded with a zero byte after it, i.e. it is
        // the high byte of a big-endian word.
        sum += u64::from(u16::from_ne_bytes([last, 0]));
    }

    // Fold the native-endian partial sum to 16 bits and convert to the
    // big-endian interpretation. Folding never turns a non-zero sum into 0,
    // so "all-zero data" stays distinguishable, matching `naive`.
    let native = fold(sum);
    let be = u16::from_be(native);
    // Keep the running sum from ever overflowing: reduce `acc` first
    // (32-bit halves fold is congruent mod 0xFFFF and preserves non-zero).
    let acc = (acc >> 32) + (acc & 0xFFFF_FFFF);
    acc + u64::from(be)
}

/// Folds a running sum to 16 bits (not complemented).
pub fn fold(acc: u64) -> u16 {
    let mut s = (acc >> 32) + (acc & 0xFFFF_FFFF); // <= 2^33
    s = (s >> 16) + (s & 0xFFFF); // <= 2^17 + 2^16
    s = (s >> 16) + (s & 0xFFFF); // <= 0x1_0001
    s = (s >> 16) + (s & 0xFFFF); // <= 0xFFFF
    s as u16
}

/// Folds and complements: the value that goes into a header.
pub fn finish(acc: u64) -> u16 {
    !fold(acc)
}

/// Checksum of one buffer (what goes into a header).
pub fn checksum(data: &[u8]) -> u16 {
    finish(accumulate(0, data))
}

/// Running sum of the TCP/UDP pseudo-header for IPv4 or IPv6 (RFC 793 /
/// RFC 8200 §8.1). `len` is the transport length (header + payload).
/// Mixed address families are a caller bug; treat as IPv4-mapped is fine.
pub fn pseudo_header(src: IpAddr, dst: IpAddr, protocol: u8, len: u32) -> u64 {
    match (src, dst) {
        (IpAddr::V4(s), IpAddr::V4(d)) => {
            // src (4) | dst (4) | zero | protocol | 16-bit length
            let mut acc = accumulate(0, &s.octets());
            acc = accumulate(acc, &d.octets());
            acc += u64::from(protocol);
            // A length that does not fit 16 bits is a caller bug; adding both
            // halves keeps the sum well defined.
            acc + u64::from(len >> 16) + u64::from(len & 0xFFFF)
        }
        _ => {
            let s = to_v6(src);
            let d = to_v6(dst);
            // src (16) | dst (16) | 32-bit length | 3 zero bytes | next header
            let mut acc = accumulate(0, &s.octets());
            acc = accumulate(acc, &d.octets());
            acc += u64::from(len >> 16) + u64::from(len & 0xFFFF);
            acc + u64::from(protocol)
        }
    }
}

fn to_v6(addr: IpAddr) -> Ipv6Addr {
    match addr {
        IpAddr::V4(a) => a.to_ipv6_mapped(),
        IpAddr::V6(a) => a,
    }
}

/// RFC 1624 eqn. 3: new checksum after one 16-bit word of the covered data
/// changes from `old_word` to `new_word`.
///
/// Equal to recomputing the checksum from scratch, except when the new data
/// is entirely zero: then recomputation gives 0xFFFF and this gives 0x0000
/// (the two one's-complement zeros).
pub fn update(old_checksum: u16, old_word: u16, new_word: u16) -> u16 {
    let sum = u64::from(!old_checksum) + u64::from(!old_word) + u64::from(new_word);
    !fold(sum)
}

/// Byte-pair-at-a-time reference implementation (for tests and docs).
pub fn naive(data: &[u8]) -> u16 {
    let mut sum: u32 = 0;
    let mut pairs = data.chunks_exact(2);
    for p in &mut pairs {
        sum += u32::from(u16::from_be_bytes([p[0], p[1]]));
        // Fold eagerly so the u32 never overflows.
        sum = (sum & 0xFFFF) + (sum >> 16);
    }
    if let Some(&last) = pairs.remainder().first() {
        sum += u32::from(last) << 8;
        sum = (sum & 0xFFFF) + (sum >> 16);
    }
    while sum >> 16 != 0 {
        sum = (sum & 0xFFFF) + (sum >> 16);
    }
    !(sum as u16)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{Ipv4Addr, Ipv6Addr};

    #[test]
    fn rfc1071_example() {
        // RFC 1071 §3: bytes 00 01 f2 03 f4 f5 f6 f7 sum to ddf2 (folded).
        let data = [0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7];
        assert_eq!(fold(accumulate(0, &data)), 0xddf2);
        assert_eq!(checksum(&data), !0xddf2);
        assert_eq!(naive(&data), !0xddf2);
    }

    #[test]
    fn captured_ipv4_header() {
        let mut hdr = [
            0x45, 0x00, 0x00, 0x73, 0x00, 0x00, 0x40, 0x00, 0x40, 0x11, 0xb8, 0x61, 0xc0, 0xa8,
            0x00, 0x01, 0xc0, 0xa8, 0x00, 0xc7,
        ];
        // A header with its checksum in place verifies to 0.
        assert_eq!(checksum(&hdr), 0);
        assert_eq!(naive(&hdr), 0);
        hdr[10] = 0;
        hdr[11] = 0;
        assert_eq!(checksum(&hdr), 0xb861);
        assert_eq!(naive(&hdr), 0xb861);
    }

    #[test]
    fn empty_and_zero() {
        assert_eq!(checksum(&[]), 0xFFFF);
        assert_eq!(naive(&[]), 0xFFFF);
        assert_eq!(checksum(&[0; 37]), 0xFFFF);
        assert_eq!(naive(&[0; 37]), 0xFFFF);
        // Non-zero data summing to one's-complement zero gives checksum 0.
        assert_eq!(checksum(&[0xff, 0xff]), 0x0000);
        assert_eq!(naive(&[0xff, 0xff]), 0x0000);
        assert_eq!(
            checksum(&[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]),
            0x00ff
        );
    }

    #[test]
    fn odd_byte_is_high_byte() {
        assert_eq!(checksum(&[0x12]), !0x1200);
        assert_eq!(naive(&[0x12]), !0x1200);
        assert_eq!(checksum(&[0x00, 0x01, 0x12]), !0x1201);
    }

    #[test]
    fn matches_naive_all_lengths() {
        let data: Vec<u8> = (0..600u32)
            .map(|i| (i.wrapping_mul(2654435761) >> 13) as u8)
            .collect();
        for len in 0..data.len() {
            for start in 0..3 {
                if start <= len {
                    let d = &data[start..len];
                    assert_eq!(checksum(d), naive(d), "len {} start {}", len, start);
                }
            }
        }
        let ff = vec![0xffu8; 4099];
        for len in 0..ff.len() {
            assert_eq!(checksum(&ff[..len]), naive(&ff[..len]), "ff len {len}");
        }
    }

    #[test]
    fn accumulate_in_pieces() {
        let data: Vec<u8> = (0..255u8).collect();
        let whole = checksum(&data);
        for split in (0..data.len()).step_by(2) {
            let acc = accumulate(0, &data[..split]);
            let acc = accumulate(acc, &data[split..]);
            assert_eq!(finish(acc), whole, "split {split}");
        }
    }

    #[test]
    fn accumulate_never_overflows() {
        let mut acc = u64::MAX - 3;
        for _ in 0..1000 {
            acc = accumulate(acc, &[0xff; 64]);
        }
        // u64::MAX - 3 ≡ 0xFFFF - 3 (mod 0xFFFF); all-ones words add 0.
        assert_eq!(fold(acc), fold(u64::MAX - 3));
    }

    #[test]
    fn fold_values() {
        assert_eq!(fold(0), 0);
        assert_eq!(fold(0xFFFF), 0xFFFF);
        assert_eq!(fold(0x1_0000), 1);
        assert_eq!(fold(0x1_FFFE), 0xFFFF);
        assert_eq!(fold(u64::MAX), 0xFFFF);
        assert_eq!(fold(0x1234_5678), 0x68ac);
        assert_eq!(finish(0x1234_5678), !0x68ac);
    }

    #[test]
    fn update_rfc1624_example() {
        // RFC 1624 §4: HC = 0xdd2f, m = 0x5555 -> m' = 0x3285, HC' = 0x0000.
        assert_eq!(update(0xdd2f, 0x5555, 0x3285), 0x0000);
    }

    #[test]
    fn update_ttl_decrement_matches_recompute() {
        let mut hdr = [
            0x45, 0x00, 0x00, 0x73, 0x00, 0x00, 0x40, 0x00, 0x40, 0x11, 0xb8, 0x61, 0xc0, 0xa8,
            0x00, 0x01, 0xc0, 0xa8, 0x00, 0xc7,
        ];
        let old_word = u16::from_be_bytes([hdr[8], hdr[9]]);
        hdr[8] -= 1;
        let new_word = u16::from_be_bytes([hdr[8], hdr[9]]);
        let inc = update(0xb861, old_word, new_word);
        hdr[10] = 0;
        hdr[11] = 0;
        assert_eq!(inc, checksum(&hdr));
        assert_eq!(inc, 0xb961);
    }

    #[test]
    fn pseudo_header_v4() {
        let src = IpAddr::V4(Ipv4Addr::new(192, 168, 0, 1));
        let dst = IpAddr::V4(Ipv4Addr::new(192, 168, 0, 199));
        let mut buf = [0u8; 12];
        buf[0..4].copy_from_slice(&[192, 168, 0, 1]);
        buf[4..8].copy_from_slice(&[192, 168, 0, 199]);
        buf[9] = 17;
        buf[10..12].copy_from_slice(&95u16.to_be_bytes());
        assert_eq!(
            fold(pseudo_header(src, dst, 17, 95)),
            fold(accumulate(0, &buf))
        );
        assert_eq!(!fold(pseudo_header(src, dst, 17, 95)), naive(&buf));
    }

    #[test]
    fn pseudo_header_v6() {
        let s: Ipv6Addr = "2001:db8::1".parse().unwrap();
        let d: Ipv6Addr = "fe80::1234:5678:9abc:def0".parse().unwrap();
        let mut buf = [0u8; 40];
        buf[0..16].copy_from_slice(&s.octets());
        buf[16..32].copy_from_slice(&d.octets());
        buf[32..36].copy_from_slice(&0x0001_2345u32.to_be_bytes());
        buf[39] = 6;
        let ph = pseudo_header(IpAddr::V6(s), IpAddr::V6(d), 6, 0x0001_2345);
        assert_eq!(!fold(ph), naive(&buf));
    }

    #[test]
    fn pseudo_header_mixed_is_v4_mapped() {
        let s = Ipv4Addr::new(10, 0, 0, 1);
        let d: Ipv6Addr = "2001:db8::2".parse().unwrap();
        let mixed = pseudo_header(IpAddr::V4(s), IpAddr::V6(d), 17, 8);
        let mapped = pseudo_header(IpAddr::V6(s.to_ipv6_mapped()), IpAddr::V6(d), 17, 8);
        assert_eq!(fold(mixed), fold(mapped));
    }
}
