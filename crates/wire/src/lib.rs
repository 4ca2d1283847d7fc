//! Wire formats for ustack: zero-copy views over packet buffers plus
//! high-level `*Repr` parse/emit for IPv4, IPv6 (with its extension
//! headers: [`ipv6::walk_extensions`]), TCP, UDP, ICMPv4 and ICMPv6, and the
//! Internet checksum.
//!
//! Views (`Ipv4Packet`, `Ipv6Packet`, `TcpPacket`, `UdpPacket`) borrow the
//! buffer; nothing here allocates. Every parser validates lengths before
//! touching a field, so malformed input yields a [`WireError`] (or, for the
//! IPv6 extension headers, an [`ipv6::ExtError`]), never a panic.

pub mod checksum;
mod error;
pub mod icmpv4;
pub mod icmpv6;
pub mod ipv4;
pub mod ipv6;
pub mod tcp;
pub mod udp;

pub use error::WireError;

/// Result type of the wire parsers.
pub type Result<T> = core::result::Result<T, WireError>;

/// A xorshift64 generator for the tests' random fields (deterministic:
/// a failure reproduces).
#[cfg(test)]
pub(crate) fn test_rng(seed: u64) -> impl FnMut() -> u64 {
    let mut x = seed;
    move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    }
}
