//! The Internet checksum (RFC 1071), computed word-at-a-time, plus the
//! incremental update of RFC 1624.
use std::net::IpAddr;

/// Adds `data` to a running (unfolded) one's-complement sum. Pieces must be
/// fed in order and every piece but the last must have even length.
/// Fast: sums 64-bit words (or wider) at a time.
pub fn accumulate(acc: u64, data: &[u8]) -> u64 {
    let _ = (acc, data);
    todo!()
}

/// Folds a running sum to 16 bits (not complemented).
pub fn fold(acc: u64) -> u16 {
    let _ = acc;
    todo!()
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
    let _ = (src, dst, protocol, len);
    todo!()
}

/// RFC 1624 eqn. 3: new checksum after one 16-bit word of the covered data
/// changes from `old_word` to `new_word`.
pub fn update(old_checksum: u16, old_word: u16, new_word: u16) -> u16 {
    let _ = (old_checksum, old_word, new_word);
    todo!()
}

/// Byte-pair-at-a-time reference implementation (for tests and docs).
pub fn naive(data: &[u8]) -> u16 {
    let _ = data;
    todo!()
}
