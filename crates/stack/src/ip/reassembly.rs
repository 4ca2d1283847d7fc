//! IPv4 fragment reassembly (RFC 791 §3.2, RFC 815 hole tracking) with a
//! global memory bound and a per-datagram timeout.
use crate::time::{Duration, Instant};
use std::net::Ipv4Addr;

/// Key of a datagram being reassembled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct FragKey {
    pub src: Ipv4Addr,
    pub dst: Ipv4Addr,
    pub protocol: u8,
    pub ident: u16,
}

/// What happened to a fragment handed to `Reassembler::add`.
#[derive(Debug, PartialEq, Eq)]
pub enum FragOutcome {
    /// Stored; the datagram is not complete yet.
    Pending,
    /// The datagram is complete: its payload (no IP header), in order.
    Complete(Vec<u8>),
    /// Dropped: overlapping fragment with different data, or inconsistent
    /// lengths (e.g. data past a known last fragment, two different ends).
    Invalid,
    /// Dropped: accepting it would exceed the memory bound even after
    /// evicting older datagrams, or the datagram would exceed 65535 bytes.
    NoMemory,
}

/// Reassembly limits.
#[derive(Debug, Clone, Copy)]
pub struct ReassemblyLimits {
    /// Total bytes held by all incomplete datagrams (default 256 KiB).
    pub max_bytes: usize,
    /// Maximum incomplete datagrams at once (default 64).
    pub max_datagrams: usize,
    /// Incomplete datagrams older than this are dropped (default 30 s).
    pub timeout: Duration,
}

impl Default for ReassemblyLimits {
    fn default() -> Self {
        ReassemblyLimits { max_bytes: 256 * 1024, max_datagrams: 64, timeout: Duration::from_secs(30) }
    }
}

/// Holds incomplete datagrams. Deterministic (no HashMap iteration order
/// dependence).
#[derive(Debug)]
pub struct Reassembler {
    _private: (),
}

impl Reassembler {
    pub fn new(limits: ReassemblyLimits) -> Reassembler { let _ = limits; todo!() }
    /// Adds one fragment: `offset` in bytes, `more` = MF flag, `data` its
    /// payload. When memory is short, the oldest incomplete datagrams are
    /// evicted first (counted in `evicted()`). Overlaps that carry the same
    /// bytes are accepted; differing overlaps → Invalid and the whole
    /// datagram is dropped (RFC 5722 spirit).
    pub fn add(&mut self, now: Instant, key: FragKey, offset: usize, more: bool, data: &[u8]) -> FragOutcome {
        let _ = (now, key, offset, more, data);
        todo!()
    }
    /// Drops datagrams older than the timeout; returns how many were dropped.
    pub fn expire(&mut self, now: Instant) -> usize { let _ = now; todo!() }
    /// Earliest time at which `expire` would drop something.
    pub fn next_expiry(&self) -> Option<Instant> { todo!() }
    /// Bytes currently held.
    pub fn bytes_held(&self) -> usize { todo!() }
    /// Datagrams currently held.
    pub fn len(&self) -> usize { todo!() }
    pub fn is_empty(&self) -> bool { self.len() == 0 }
    /// Total datagrams evicted for memory since creation.
    pub fn evicted(&self) -> u64 { todo!() }
}
