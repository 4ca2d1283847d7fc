//! IP fragment reassembly (IPv4: RFC 791 §3.2; IPv6: RFC 8200 §4.5; RFC
//! 815 hole tracking) with a global memory bound and a per-datagram
//! timeout.
use crate::time::{Duration, Instant};
use std::collections::BTreeMap;
use std::net::IpAddr;

/// Key of a datagram being reassembled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct FragKey {
    pub src: IpAddr,
    pub dst: IpAddr,
    /// IPv4's protocol; for IPv6 the fragment header's next header (RFC
    /// 8200 §4.5 keys on addresses and identification only: one protocol
    /// per identification, so including it changes nothing).
    pub protocol: u8,
    /// 16 bits in IPv4, 32 in IPv6.
    pub ident: u32,
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
        ReassemblyLimits {
            max_bytes: 256 * 1024,
            max_datagrams: 64,
            timeout: Duration::from_secs(30),
        }
    }
}

/// Largest reassembled payload accepted: an IPv4 datagram is at most
/// 65535 bytes including its (at least 20-byte) header (RFC 791). A
/// fragment whose data would end past this offset is refused with
/// [`FragOutcome::NoMemory`] (the datagram it belongs to is kept).
pub const MAX_PAYLOAD: usize = 65535 - 20;

/// Datagram key as an ordered tuple (src, dst, protocol, ident).
type Key = (IpAddr, IpAddr, u8, u32);

fn key_of(k: &FragKey) -> Key {
    (k.src, k.dst, k.protocol, k.ident)
}

/// An incomplete datagram.
#[derive(Debug)]
struct Datagram {
    /// Arrival time of its first fragment.
    first: Instant,
    /// Creation order, to break ties between equal arrival times.
    seq: u64,
    /// Received data: start offset → bytes. Pieces are disjoint and sorted
    /// (they may be adjacent). The gaps between them are the holes.
    pieces: BTreeMap<usize, Vec<u8>>,
    /// Sum of the piece lengths.
    bytes: usize,
    /// Payload length, known once the last fragment (MF = 0) arrived.
    total: Option<usize>,
    /// Fragment zero's IP header and first payload bytes, for ICMP Time
    /// Exceeded (set by the caller with `note_first_fragment`).
    head: Option<Box<[u8]>>,
}

impl Datagram {
    /// End of the highest received byte (0 if none).
    fn max_end(&self) -> usize {
        self.pieces.last_key_value().map_or(0, |(s, v)| s + v.len())
    }

    /// Compares `data` (at `offset`) with what is already stored. Returns
    /// the sub-ranges of `[offset, offset + data.len())` not yet received,
    /// or None if an overlap carries different bytes.
    fn novel_ranges(&self, offset: usize, data: &[u8]) -> Option<Vec<(usize, usize)>> {
        let end = offset + data.len();
        let mut novel = Vec::new();
        let mut cursor = offset;
        let from = self
            .pieces
            .range(..=offset)
            .next_back()
            .map_or(offset, |(s, _)| *s);
        for (&ps, pv) in self.pieces.range(from..end) {
            let pe = ps + pv.len();
            if pe <= cursor {
                continue;
            }
            if ps > cursor {
                novel.push((cursor, ps));
            }
            let os = ps.max(cursor);
            let oe = pe.min(end);
            if data.get(os - offset..oe - offset)? != pv.get(os - ps..oe - ps)? {
                return None;
            }
            cursor = oe;
        }
        if cursor < end {
            novel.push((cursor, end));
        }
        Some(novel)
    }

    /// Stores bytes for a range known to be free. Appends to an adjacent
    /// predecessor piece when there is one, and pulls in an adjacent
    /// successor if it is not larger than the piece it joins (so every
    /// byte is copied O(log n) times at most).
    fn insert(&mut self, start: usize, bytes: &[u8]) {
        if bytes.is_empty() {
            return;
        }
        let end = start + bytes.len();
        let mut key = start;
        match self.pieces.range_mut(..start).next_back() {
            Some((&ps, pv)) if ps + pv.len() == start => {
                pv.extend_from_slice(bytes);
                key = ps;
            }
            _ => {
                self.pieces.insert(start, bytes.to_vec());
            }
        }
        let merged_len = end - key;
        if self
            .pieces
            .get(&end)
            .is_some_and(|succ| succ.len() <= merged_len)
        {
            if let Some(succ) = self.pieces.remove(&end) {
                if let Some(piece) = self.pieces.get_mut(&key) {
                    piece.extend_from_slice(&succ);
                }
            }
        }
        self.bytes += bytes.len();
    }

    /// The payload if complete.
    fn assemble(mut self) -> Option<Vec<u8>> {
        let total = self.total?;
        if self.pieces.len() == 1 {
            let (start, v) = self.pieces.pop_first()?;
            return (start == 0 && v.len() == total).then_some(v);
        }
        let mut out = Vec::with_capacity(total);
        for (start, v) in &self.pieces {
            if *start != out.len() {
                return None;
            }
            out.extend_from_slice(v);
        }
        (out.len() == total).then_some(out)
    }
}

/// Holds incomplete datagrams. Deterministic (no HashMap iteration order
/// dependence).
///
/// Memory accounting counts the payload bytes stored (overlapping
/// duplicates are stored once). Eviction order is the arrival order of a
/// datagram's first fragment.
#[derive(Debug)]
pub struct Reassembler {
    limits: ReassemblyLimits,
    datagrams: BTreeMap<Key, Datagram>,
    /// (first arrival, seq) → key: oldest first, for eviction and expiry.
    by_age: BTreeMap<(Instant, u64), Key>,
    bytes: usize,
    evicted: u64,
    next_seq: u64,
}

impl Reassembler {
    pub fn new(limits: ReassemblyLimits) -> Reassembler {
        Reassembler {
            limits,
            datagrams: BTreeMap::new(),
            by_age: BTreeMap::new(),
            bytes: 0,
            evicted: 0,
            next_seq: 0,
        }
    }
    /// Adds one fragment: `offset` in bytes, `more` = MF flag, `data` its
    /// payload. When memory is short, the oldest incomplete datagrams are
    /// evicted first (counted in `evicted()`). Overlaps that carry the same
    /// bytes are accepted; differing overlaps → Invalid and the whole
    /// datagram is dropped (RFC 5722 spirit).
    ///
    /// Details:
    /// - A fragment ending past [`MAX_PAYLOAD`] → `NoMemory` (only that
    ///   fragment is dropped).
    /// - Inconsistent lengths (data past a known end, a second last
    ///   fragment with a different end, a last fragment ending before data
    ///   already received) → `Invalid`, whole datagram dropped.
    /// - A fragment that cannot be stored within `max_bytes` even after
    ///   evicting every other datagram → `NoMemory`; its datagram (which
    ///   could then never complete) is dropped too and counted as evicted.
    ///   A fragment that completes its datagram is always accepted.
    /// - A fragment for a datagram that has already timed out (see
    ///   `expire`) discards the stale state and starts a new datagram.
    /// - An unfragmented packet (offset 0, MF = 0) with no pending state is
    ///   returned as `Complete` at once.
    /// - An empty fragment with MF = 1 and no pending state is ignored
    ///   (`Pending`, nothing stored).
    pub fn add(
        &mut self,
        now: Instant,
        key: FragKey,
        offset: usize,
        more: bool,
        data: &[u8],
    ) -> FragOutcome {
        let end = match offset.checked_add(data.len()) {
            Some(end) if end <= MAX_PAYLOAD => end,
            _ => return FragOutcome::NoMemory,
        };
        let k = key_of(&key);
        let stale = self
            .datagrams
            .get(&k)
            .is_some_and(|d| self.is_expired(d, now));
        if stale {
            self.remove(k);
        }
        let Some(d) = self.datagrams.get(&k) else {
            return self.add_new(now, k, offset, more, data, end);
        };

        let inconsistent = match (more, d.total) {
            (true, Some(total)) => end > total,
            (true, None) => false,
            (false, Some(total)) => end != total,
            (false, None) => d.max_end() > end,
        };
        if inconsistent {
            self.remove(k);
            return FragOutcome::Invalid;
        }
        let Some(novel) = d.novel_ranges(offset, data) else {
            self.remove(k);
            return FragOutcome::Invalid;
        };
        let novel_bytes: usize = novel.iter().map(|(s, e)| e - s).sum();
        let total = if more { d.total } else { Some(end) };
        let completes = total.is_some_and(|t| d.bytes + novel_bytes == t);
        if !completes && novel_bytes > 0 {
            if d.bytes + novel_bytes > self.limits.max_bytes {
                self.remove(k);
                self.evicted += 1;
                return FragOutcome::NoMemory;
            }
            while self.bytes + novel_bytes > self.limits.max_bytes {
                if !self.evict_oldest(Some(k)) {
                    return FragOutcome::NoMemory;
                }
            }
        }

        let Some(d) = self.datagrams.get_mut(&k) else {
            return FragOutcome::NoMemory;
        };
        d.total = total;
        for (s, e) in novel {
            if let Some(bytes) = data.get(s - offset..e - offset) {
                d.insert(s, bytes);
            }
        }
        self.bytes += novel_bytes;
        if completes {
            return match self.remove(k).and_then(Datagram::assemble) {
                Some(payload) => FragOutcome::Complete(payload),
                None => FragOutcome::Invalid,
            };
        }
        FragOutcome::Pending
    }

    /// First fragment of a datagram not held yet.
    fn add_new(
        &mut self,
        now: Instant,
        k: Key,
        offset: usize,
        more: bool,
        data: &[u8],
        end: usize,
    ) -> FragOutcome {
        if !more && offset == 0 {
            return FragOutcome::Complete(data.to_vec());
        }
        if more && data.is_empty() {
            return FragOutcome::Pending;
        }
        let n = data.len();
        if n > self.limits.max_bytes || self.limits.max_datagrams == 0 {
            return FragOutcome::NoMemory;
        }
        while self.datagrams.len() >= self.limits.max_datagrams
            || self.bytes + n > self.limits.max_bytes
        {
            if !self.evict_oldest(None) {
                return FragOutcome::NoMemory;
            }
        }
        let seq = self.next_seq;
        self.next_seq += 1;
        let mut d = Datagram {
            first: now,
            seq,
            pieces: BTreeMap::new(),
            bytes: 0,
            total: if more { None } else { Some(end) },
            head: None,
        };
        d.insert(offset, data);
        self.bytes += n;
        self.by_age.insert((now, seq), k);
        self.datagrams.insert(k, d);
        FragOutcome::Pending
    }

    fn is_expired(&self, d: &Datagram, now: Instant) -> bool {
        d.first + self.limits.timeout <= now
    }

    /// Removes a datagram and its accounting.
    fn remove(&mut self, k: Key) -> Option<Datagram> {
        let d = self.datagrams.remove(&k)?;
        self.by_age.remove(&(d.first, d.seq));
        self.bytes = self.bytes.saturating_sub(d.bytes);
        Some(d)
    }

    /// Evicts the oldest datagram other than `except`; false if none.
    fn evict_oldest(&mut self, except: Option<Key>) -> bool {
        let victim = self.by_age.values().copied().find(|k| Some(*k) != except);
        match victim {
            Some(k) => {
                self.remove(k);
                self.evicted += 1;
                true
            }
            None => false,
        }
    }

    /// Drops datagrams older than the timeout; returns how many were dropped.
    /// A datagram is dropped once `now >= first fragment arrival + timeout`.
    pub fn expire(&mut self, now: Instant) -> usize {
        self.expire_with(now, |_, _| {})
    }

    /// Remembers fragment zero's header and first payload bytes (what an
    /// ICMP Time Exceeded quotes) for a datagram still being reassembled.
    pub fn note_first_fragment(&mut self, key: FragKey, quote: &[u8]) {
        if let Some(d) = self.datagrams.get_mut(&key_of(&key)) {
            if d.head.is_none() {
                d.head = Some(quote[..quote.len().min(68)].into());
            }
        }
    }

    /// Like `expire`, calling `f` for each dropped datagram with its key
    /// and, when fragment zero had arrived and was noted with
    /// `note_first_fragment`, its quote, so that ICMP Time Exceeded can be
    /// sent (RFC 1122 §3.3.2).
    pub fn expire_with(
        &mut self,
        now: Instant,
        mut f: impl FnMut(FragKey, Option<&[u8]>),
    ) -> usize {
        let mut dropped = 0;
        while let Some((&(first, _), &k)) = self.by_age.first_key_value() {
            if first + self.limits.timeout > now {
                break;
            }
            if let Some(d) = self.remove(k) {
                let key = FragKey {
                    src: k.0,
                    dst: k.1,
                    protocol: k.2,
                    ident: k.3,
                };
                f(key, d.head.as_deref());
            }
            dropped += 1;
        }
        dropped
    }
    /// Earliest time at which `expire` would drop something.
    pub fn next_expiry(&self) -> Option<Instant> {
        self.by_age
            .first_key_value()
            .map(|(&(first, _), _)| first + self.limits.timeout)
    }
    /// Bytes currently held.
    pub fn bytes_held(&self) -> usize {
        self.bytes
    }
    /// Datagrams currently held.
    pub fn len(&self) -> usize {
        self.datagrams.len()
    }
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// Total datagrams evicted for memory since creation.
    pub fn evicted(&self) -> u64 {
        self.evicted
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(ident: u16) -> FragKey {
        FragKey {
            src: std::net::Ipv4Addr::new(10, 0, 0, 1).into(),
            dst: std::net::Ipv4Addr::new(10, 0, 0, 2).into(),
            protocol: 17,
            ident: u32::from(ident),
        }
    }
    fn t(secs: u64) -> Instant {
        Instant::from_secs(secs)
    }
    fn payload(n: usize) -> Vec<u8> {
        (0..n).map(|i| (i * 31 + 7) as u8).collect()
    }
    fn limits(max_bytes: usize, max_datagrams: usize) -> ReassemblyLimits {
        ReassemblyLimits {
            max_bytes,
            max_datagrams,
            timeout: Duration::from_secs(30),
        }
    }

    #[test]
    fn in_order_and_reverse() {
        let p = payload(100);
        let mut r = Reassembler::new(ReassemblyLimits::default());
        assert_eq!(r.add(t(0), key(1), 0, true, &p[..40]), FragOutcome::Pending);
        assert_eq!(
            r.add(t(0), key(1), 40, true, &p[40..80]),
            FragOutcome::Pending
        );
        assert_eq!(r.bytes_held(), 80);
        assert_eq!(
            r.add(t(0), key(1), 80, false, &p[80..]),
            FragOutcome::Complete(p.clone())
        );
        assert!(r.is_empty());
        assert_eq!(r.bytes_held(), 0);

        assert_eq!(
            r.add(t(0), key(2), 80, false, &p[80..]),
            FragOutcome::Pending
        );
        assert_eq!(
            r.add(t(0), key(2), 40, true, &p[40..80]),
            FragOutcome::Pending
        );
        assert_eq!(
            r.add(t(0), key(2), 0, true, &p[..40]),
            FragOutcome::Complete(p.clone())
        );
        assert!(r.is_empty());
    }

    #[test]
    fn unfragmented_passes_through() {
        let mut r = Reassembler::new(ReassemblyLimits::default());
        assert_eq!(
            r.add(t(0), key(1), 0, false, b"hi"),
            FragOutcome::Complete(b"hi".to_vec())
        );
        assert_eq!(r.add(t(0), key(1), 0, true, b""), FragOutcome::Pending);
        assert!(r.is_empty());
    }

    #[test]
    fn keys_are_separate() {
        let p = payload(16);
        let mut r = Reassembler::new(ReassemblyLimits::default());
        r.add(t(0), key(1), 0, true, &p[..8]);
        let mut other = key(1);
        other.protocol = 6;
        assert_eq!(r.add(t(0), other, 8, false, &p[8..]), FragOutcome::Pending);
        assert_eq!(r.len(), 2);
        assert_eq!(
            r.add(t(0), key(1), 8, false, &p[8..]),
            FragOutcome::Complete(p)
        );
        assert_eq!(r.len(), 1);
    }

    #[test]
    fn identical_overlap_accepted() {
        let p = payload(64);
        let mut r = Reassembler::new(ReassemblyLimits::default());
        assert_eq!(
            r.add(t(0), key(1), 8, true, &p[8..40]),
            FragOutcome::Pending
        );
        assert_eq!(
            r.add(t(0), key(1), 16, true, &p[16..24]),
            FragOutcome::Pending
        );
        assert_eq!(
            r.add(t(0), key(1), 0, true, &p[0..48]),
            FragOutcome::Pending
        );
        assert_eq!(r.bytes_held(), 48);
        assert_eq!(
            r.add(t(0), key(1), 56, false, &p[56..]),
            FragOutcome::Pending
        );
        assert_eq!(
            r.add(t(0), key(1), 56, false, &p[56..]),
            FragOutcome::Pending
        );
        assert_eq!(r.bytes_held(), 56);
        assert_eq!(
            r.add(t(0), key(1), 40, true, &p[40..64]),
            FragOutcome::Complete(p)
        );
    }

    #[test]
    fn differing_overlap_drops_datagram() {
        let p = payload(64);
        let mut r = Reassembler::new(ReassemblyLimits::default());
        r.add(t(0), key(1), 0, true, &p[..32]);
        r.add(t(0), key(1), 48, false, &p[48..]);
        let mut evil = p[24..48].to_vec();
        evil[3] ^= 1;
        assert_eq!(r.add(t(0), key(1), 24, true, &evil), FragOutcome::Invalid);
        assert!(r.is_empty());
        assert_eq!(r.bytes_held(), 0);
        // The rest of the original now starts a new datagram.
        assert_eq!(
            r.add(t(0), key(1), 32, true, &p[32..48]),
            FragOutcome::Pending
        );
    }

    #[test]
    fn inconsistent_lengths() {
        let p = payload(64);
        let mut r = Reassembler::new(ReassemblyLimits::default());
        // Two different ends.
        r.add(t(0), key(1), 32, false, &p[32..]);
        assert_eq!(
            r.add(t(0), key(1), 32, false, &p[32..56]),
            FragOutcome::Invalid
        );
        assert!(r.is_empty());
        // Data past the known end.
        r.add(t(0), key(2), 32, false, &p[32..48]);
        assert_eq!(
            r.add(t(0), key(2), 40, true, &p[40..56]),
            FragOutcome::Invalid
        );
        assert!(r.is_empty());
        // Last fragment ending before data already received.
        r.add(t(0), key(3), 40, true, &p[40..56]);
        assert_eq!(
            r.add(t(0), key(3), 32, false, &p[32..48]),
            FragOutcome::Invalid
        );
        assert!(r.is_empty());
    }

    #[test]
    fn too_large_is_no_memory() {
        let mut r = Reassembler::new(ReassemblyLimits::default());
        assert_eq!(
            r.add(t(0), key(1), 65504, true, &[0; 16]),
            FragOutcome::NoMemory
        );
        assert_eq!(
            r.add(t(0), key(1), usize::MAX, true, &[0; 16]),
            FragOutcome::NoMemory
        );
        assert_eq!(
            r.add(t(0), key(1), 65504, false, &[0; 11]),
            FragOutcome::Pending
        );
        assert!(r.bytes_held() == 11);
    }

    #[test]
    fn memory_bound_evicts_oldest() {
        let mut r = Reassembler::new(limits(100, 64));
        assert_eq!(r.add(t(0), key(1), 0, true, &[1; 40]), FragOutcome::Pending);
        assert_eq!(r.add(t(1), key(2), 0, true, &[2; 40]), FragOutcome::Pending);
        assert_eq!(r.add(t(2), key(3), 0, true, &[3; 40]), FragOutcome::Pending);
        assert_eq!(r.evicted(), 1);
        assert_eq!(r.len(), 2);
        assert!(r.bytes_held() <= 100);
        // key(1) was the oldest and is gone: its next fragment starts anew.
        assert_eq!(
            r.add(t(3), key(1), 40, false, &[1; 8]),
            FragOutcome::Pending
        );
        assert_eq!(r.bytes_held(), 88);
        // Larger than the whole budget.
        assert_eq!(
            r.add(t(3), key(9), 0, true, &[0; 101]),
            FragOutcome::NoMemory
        );
        assert_eq!(r.len(), 3);
    }

    #[test]
    fn datagram_exceeding_budget_is_dropped() {
        let mut r = Reassembler::new(limits(64, 64));
        r.add(t(0), key(1), 0, true, &[1; 16]);
        r.add(t(0), key(2), 0, true, &[2; 40]);
        assert_eq!(
            r.add(t(0), key(2), 40, true, &[2; 40]),
            FragOutcome::NoMemory
        );
        assert_eq!(
            r.len(),
            1,
            "key(2) can never fit and is dropped, key(1) is kept"
        );
        assert_eq!(r.bytes_held(), 16);
        // A fragment that completes its datagram is accepted even if the
        // datagram is larger than the budget for a moment.
        let p = payload(100);
        r.add(t(0), key(3), 0, true, &p[..48]);
        assert_eq!(
            r.add(t(0), key(3), 48, false, &p[48..]),
            FragOutcome::Complete(p)
        );
    }

    #[test]
    fn datagram_count_bound() {
        let mut r = Reassembler::new(limits(1 << 20, 2));
        r.add(t(0), key(1), 0, true, &[0; 8]);
        r.add(t(1), key(2), 0, true, &[0; 8]);
        r.add(t(2), key(3), 0, true, &[0; 8]);
        assert_eq!(r.len(), 2);
        assert_eq!(r.evicted(), 1);
        let mut r = Reassembler::new(limits(1 << 20, 0));
        assert_eq!(r.add(t(0), key(1), 0, true, &[0; 8]), FragOutcome::NoMemory);
    }

    #[test]
    fn expiry_from_first_fragment() {
        let mut r = Reassembler::new(limits(1 << 20, 64));
        assert_eq!(r.next_expiry(), None);
        r.add(t(10), key(1), 0, true, &[0; 8]);
        r.add(t(20), key(2), 0, true, &[0; 8]);
        r.add(t(35), key(1), 8, true, &[0; 8]); // does not refresh the age
        assert_eq!(r.next_expiry(), Some(t(40)));
        assert_eq!(r.expire(t(39)), 0);
        assert_eq!(r.expire(t(40)), 1);
        assert_eq!(r.next_expiry(), Some(t(50)));
        assert_eq!(r.expire(t(100)), 1);
        assert!(r.is_empty());
        assert_eq!(r.bytes_held(), 0);
        assert_eq!(r.evicted(), 0);
    }

    #[test]
    fn stale_state_is_replaced() {
        let p = payload(16);
        let mut r = Reassembler::new(limits(1 << 20, 64));
        r.add(t(0), key(1), 0, true, &[9; 8]);
        // 30 s later the ident is reused; the old first half must not mix in.
        assert_eq!(
            r.add(t(30), key(1), 8, false, &p[8..]),
            FragOutcome::Pending
        );
        assert_eq!(
            r.add(t(30), key(1), 0, true, &p[..8]),
            FragOutcome::Complete(p)
        );
    }

    #[test]
    fn empty_last_fragment_completes() {
        let p = payload(16);
        let mut r = Reassembler::new(ReassemblyLimits::default());
        r.add(t(0), key(1), 0, true, &p);
        assert_eq!(
            r.add(t(0), key(1), 16, false, &[]),
            FragOutcome::Complete(p)
        );
    }

    #[test]
    fn many_tiny_fragments_reverse_and_forward() {
        let p = payload(8 * 1000);
        let mut r = Reassembler::new(ReassemblyLimits::default());
        for i in (1..1000).rev() {
            let more = i != 999;
            assert_eq!(
                r.add(t(0), key(1), i * 8, more, &p[i * 8..i * 8 + 8]),
                FragOutcome::Pending
            );
        }
        assert_eq!(
            r.add(t(0), key(1), 0, true, &p[..8]),
            FragOutcome::Complete(p.clone())
        );
        for i in 0..1000 {
            let out = r.add(t(0), key(2), i * 8, i != 999, &p[i * 8..i * 8 + 8]);
            if i == 999 {
                assert_eq!(out, FragOutcome::Complete(p.clone()));
            } else {
                assert_eq!(out, FragOutcome::Pending);
            }
        }
    }
}
