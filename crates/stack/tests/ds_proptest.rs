//! Property tests for ustack's data structures against simple models:
//! RingBuffer vs VecDeque, Assembler vs a bitmap, Reassembler vs the
//! original payloads.
use proptest::prelude::*;
use std::collections::VecDeque;
use std::net::Ipv4Addr;
use ustack::ip::fragment::fragments;
use ustack::ip::reassembly::{FragKey, FragOutcome, Reassembler, ReassemblyLimits};
use ustack::tcp::assembler::{Assembler, TooManyHoles};
use ustack::tcp::buffer::RingBuffer;
use ustack::{Duration, Instant};

// ---------------------------------------------------------------- RingBuffer

#[derive(Debug, Clone)]
enum RbOp {
    Enqueue(Vec<u8>),
    Dequeue(usize),
    ReadAt(usize, usize),
    Discard(usize),
    WriteUnreadable(usize, Vec<u8>),
    /// Commit up to this many of the contiguous written bytes at the end.
    Commit(usize),
    Shrink,
    SetCapacity(usize),
}

fn bytes(max: usize) -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(any::<u8>(), 0..max)
}

fn rb_op(cap: usize) -> impl Strategy<Value = RbOp> {
    // Sizes scale with the capacity so small buffers wrap a lot and large
    // ones still grow several times.
    let big = (cap / 3).clamp(4, 6000);
    prop_oneof![
        4 => bytes(big).prop_map(RbOp::Enqueue),
        3 => (0..big).prop_map(RbOp::Dequeue),
        2 => (0..big, 0..big).prop_map(|(o, n)| RbOp::ReadAt(o, n)),
        1 => (0..big).prop_map(RbOp::Discard),
        3 => (0..cap + 2, bytes(big)).prop_map(|(o, d)| RbOp::WriteUnreadable(o, d)),
        2 => (0..big * 2).prop_map(RbOp::Commit),
        1 => Just(RbOp::Shrink),
        1 => (0..cap * 2 + 2).prop_map(RbOp::SetCapacity),
    ]
}

fn rb_case() -> impl Strategy<Value = (usize, Vec<RbOp>)> {
    prop_oneof![1usize..70, 70usize..5000, 5000usize..20_000]
        .prop_flat_map(|cap| (Just(cap), prop::collection::vec(rb_op(cap), 1..120)))
}

/// The model: readable bytes plus the uncommitted bytes past the end.
struct RbModel {
    cap: usize,
    data: VecDeque<u8>,
    pending: Vec<Option<u8>>,
    /// The documented conservative high-water mark of unreadable writes:
    /// furthest offset + len written, reduced by enqueue/commit, clamped
    /// by set_capacity. `shrink_if_empty` must free iff len == 0 and this
    /// is 0.
    hw: usize,
}

impl RbModel {
    fn free(&self) -> usize {
        self.cap - self.data.len()
    }
}

fn contents(rb: &RingBuffer) -> Vec<u8> {
    let (a, b) = rb.as_slices();
    let mut v = a.to_vec();
    v.extend_from_slice(b);
    v
}

fn check_rb(rb: &RingBuffer, m: &RbModel, max_cap: usize) -> Result<(), TestCaseError> {
    prop_assert_eq!(rb.len(), m.data.len());
    prop_assert_eq!(rb.capacity(), m.cap);
    prop_assert_eq!(rb.free(), m.free());
    prop_assert_eq!(rb.is_empty(), m.data.is_empty());
    prop_assert_eq!(contents(rb), m.data.iter().copied().collect::<Vec<u8>>());
    let extent = m
        .pending
        .iter()
        .rposition(|b| b.is_some())
        .map_or(0, |i| i + 1);
    prop_assert!(rb.allocated() <= max_cap.max(rb.len() + extent));
    if rb.len() + extent > 0 {
        prop_assert!(rb.allocated() >= rb.len() + extent);
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, ..ProptestConfig::default() })]

    #[test]
    fn ring_buffer_matches_vecdeque((cap, ops) in rb_case()) {
        let mut rb = RingBuffer::new(cap);
        prop_assert_eq!(rb.allocated(), 0);
        let mut m = RbModel { cap, data: VecDeque::new(), pending: Vec::new(), hw: 0 };
        let mut max_cap = cap;
        for op in ops {
            match op {
                RbOp::Enqueue(d) => {
                    let n = rb.enqueue(&d);
                    prop_assert_eq!(n, d.len().min(m.free()));
                    m.data.extend(&d[..n]);
                    m.pending.drain(..n.min(m.pending.len()));
                    m.hw = m.hw.saturating_sub(n);
                }
                RbOp::Dequeue(k) => {
                    let mut dst = vec![0u8; k];
                    let n = rb.dequeue(&mut dst);
                    prop_assert_eq!(n, k.min(m.data.len()));
                    let want: Vec<u8> = m.data.drain(..n).collect();
                    prop_assert_eq!(&dst[..n], &want[..]);
                }
                RbOp::ReadAt(off, k) => {
                    let mut dst = vec![0u8; k];
                    let n = rb.read_at(off, &mut dst);
                    let want: Vec<u8> = m.data.iter().skip(off).take(k).copied().collect();
                    prop_assert_eq!(&dst[..n], &want[..]);
                }
                RbOp::Discard(k) => {
                    let n = rb.discard(k);
                    prop_assert_eq!(n, k.min(m.data.len()));
                    m.data.drain(..n);
                }
                RbOp::WriteUnreadable(off, d) => {
                    let n = rb.write_unreadable(off, &d);
                    let want = if off >= m.free() { 0 } else { d.len().min(m.free() - off) };
                    prop_assert_eq!(n, want);
                    if n > 0 {
                        if m.pending.len() < off + n {
                            m.pending.resize(off + n, None);
                        }
                        for (i, b) in d[..n].iter().enumerate() {
                            m.pending[off + i] = Some(*b);
                        }
                        m.hw = m.hw.max(off + n);
                    }
                }
                RbOp::Commit(k) => {
                    // Only commit bytes that were actually written.
                    let written = m.pending.iter().take_while(|b| b.is_some()).count();
                    let n = k.min(written);
                    rb.commit(n);
                    m.data.extend(m.pending.drain(..n).flatten());
                    m.hw = m.hw.saturating_sub(n);
                }
                RbOp::Shrink => {
                    rb.shrink_if_empty();
                    let pending = m.pending.iter().any(|b| b.is_some());
                    prop_assert!(!pending || m.hw > 0);
                    if m.data.is_empty() && m.hw == 0 {
                        prop_assert_eq!(rb.allocated(), 0);
                    } else {
                        prop_assert!(rb.allocated() > 0);
                    }
                }
                RbOp::SetCapacity(c) => {
                    rb.set_capacity(c);
                    m.cap = c.max(m.data.len());
                    max_cap = max_cap.max(m.cap);
                    let free = m.free();
                    m.pending.truncate(free);
                    m.hw = m.hw.min(free);
                }
            }
            check_rb(&rb, &m, max_cap)?;
        }
    }
}

// ----------------------------------------------------------------- Assembler

const BITS: usize = 600;

#[derive(Debug, Clone)]
enum AsmOp {
    Add(usize, usize),
    RemoveFront,
    Advance(usize),
}

fn asm_op() -> impl Strategy<Value = AsmOp> {
    prop_oneof![
        6 => (0usize..200, 0usize..40).prop_map(|(o, l)| AsmOp::Add(o, l)),
        1 => Just(AsmOp::RemoveFront),
        1 => (0usize..60).prop_map(AsmOp::Advance),
    ]
}

fn bitmap_ranges(bits: &[bool]) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < bits.len() {
        if bits[i] {
            let s = i;
            while i < bits.len() && bits[i] {
                i += 1;
            }
            out.push((s, i));
        } else {
            i += 1;
        }
    }
    out
}

fn shift(bits: &mut Vec<bool>, n: usize) {
    bits.drain(..n.min(bits.len()));
    bits.resize(BITS, false);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, ..ProptestConfig::default() })]

    #[test]
    fn assembler_matches_bitmap(
        max_ranges in 0usize..6,
        ops in prop::collection::vec(asm_op(), 1..150),
    ) {
        let mut a = Assembler::new(max_ranges);
        let mut bits = vec![false; BITS];
        for op in ops {
            match op {
                AsmOp::Add(o, l) => {
                    let mut next = bits.clone();
                    for b in &mut next[o..o + l] {
                        *b = true;
                    }
                    // A new separate range is needed iff the count grows.
                    let before = bitmap_ranges(&bits).len();
                    let after = bitmap_ranges(&next).len();
                    let fits = after <= before || after <= max_ranges;
                    let res = a.add(o, l);
                    if fits {
                        prop_assert_eq!(res, Ok(()));
                        bits = next;
                    } else {
                        prop_assert_eq!(res, Err(TooManyHoles));
                    }
                }
                AsmOp::RemoveFront => {
                    let n = bits.iter().take_while(|b| **b).count();
                    prop_assert_eq!(a.remove_front(), n);
                    shift(&mut bits, n);
                }
                AsmOp::Advance(n) => {
                    a.advance(n);
                    shift(&mut bits, n);
                }
            }
            let want = bitmap_ranges(&bits);
            prop_assert_eq!(a.ranges().collect::<Vec<_>>(), want.clone());
            prop_assert!(want.len() <= max_ranges);
            prop_assert_eq!(a.is_empty(), want.is_empty());
            prop_assert_eq!(a.highest(), want.last().map_or(0, |r| r.1));
        }
    }
}

// --------------------------------------------------------------- Reassembler

fn key(ident: u16) -> FragKey {
    FragKey {
        src: Ipv4Addr::new(192, 0, 2, 1).into(),
        dst: Ipv4Addr::new(192, 0, 2, 2).into(),
        protocol: 17,
        ident: u32::from(ident),
    }
}

/// A fragment: (offset, more, data).
type Frag = (usize, bool, Vec<u8>);

/// The standard fragments of `payload` for `mtu`, plus `extra` arbitrary
/// correct (identical-data) overlapping pieces, shuffled by `order`.
fn scramble(payload: &[u8], mtu: usize, extra: &[(usize, usize)], order: &[usize]) -> Vec<Frag> {
    let mut frags: Vec<Frag> = fragments(payload.len(), mtu)
        .map(|(o, n, more)| (o, more, payload[o..o + n].to_vec()))
        .collect();
    for &(a, b) in extra {
        if payload.is_empty() {
            break;
        }
        let s = a % payload.len();
        let e = (s + 1 + b % payload.len()).min(payload.len());
        frags.push((s, e < payload.len(), payload[s..e].to_vec()));
    }
    // Deterministic shuffle driven by `order`.
    for (i, &r) in order.iter().enumerate() {
        let len = frags.len();
        if len > 1 {
            frags.swap(i % len, r % len);
        }
    }
    frags
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

    /// Permuted and duplicated fragments (plus overlapping pieces with the
    /// same bytes) reassemble exactly, and `Complete` comes exactly when
    /// the last hole is filled.
    #[test]
    fn reassembles_permutations_exactly(
        payload in prop::collection::vec(any::<u8>(), 1..4000),
        unit in 1usize..80,
        extra in prop::collection::vec((any::<usize>(), any::<usize>()), 0..8),
        order in prop::collection::vec(any::<usize>(), 0..64),
        dups in prop::collection::vec(any::<usize>(), 0..8),
    ) {
        let mtu = 20 + unit * 8;
        let mut frags = scramble(&payload, mtu, &extra, &order);
        // Duplicates of random fragments appended at random places.
        for d in dups {
            let f = frags[d % frags.len()].clone();
            let at = (d / 7) % (frags.len() + 1);
            frags.insert(at, f);
        }
        let mut r = Reassembler::new(ReassemblyLimits::default());
        let mut have = vec![false; payload.len()];
        let mut total_known = false;
        let mut completions = 0;
        for (off, more, data) in frags {
            let out = r.add(Instant::ZERO, key(7), off, more, &data);
            for b in &mut have[off..off + data.len()] {
                *b = true;
            }
            total_known |= !more;
            if total_known && have.iter().all(|b| *b) {
                prop_assert_eq!(out, FragOutcome::Complete(payload.clone()));
                completions += 1;
                have.iter_mut().for_each(|b| *b = false);
                total_known = false;
                prop_assert!(r.is_empty());
                prop_assert_eq!(r.bytes_held(), 0);
            } else {
                prop_assert_eq!(out, FragOutcome::Pending);
                let held = have.iter().filter(|b| **b).count();
                prop_assert_eq!(r.bytes_held(), held);
            }
        }
        prop_assert!(completions >= 1);
    }

    /// An overlap carrying different bytes is rejected and the whole
    /// datagram dropped.
    #[test]
    fn differing_overlap_is_invalid(
        payload in prop::collection::vec(any::<u8>(), 2..2000),
        a in (any::<usize>(), any::<usize>()),
        b in (any::<usize>(), any::<usize>()),
        flip in any::<usize>(),
        xor in 1u8..=255,
    ) {
        let n = payload.len();
        // First fragment [a0, a1): never the whole payload.
        let a0 = a.0 % n;
        let a1 = (a0 + 1 + a.1 % (n - a0)).min(n);
        let (a0, a1) = if a0 == 0 && a1 == n { (0, n - 1) } else { (a0, a1) };
        // Second fragment [b0, b1) overlapping [a0, a1).
        let b0 = b.0 % a1;
        let b1 = (a0.max(b0) + 1 + b.1 % (n - a0.max(b0))).min(n);
        prop_assume!(b0 < a1 && b1 > a0);
        let ov0 = a0.max(b0);
        let ov1 = a1.min(b1);
        let mut evil = payload[b0..b1].to_vec();
        evil[ov0 - b0 + flip % (ov1 - ov0)] ^= xor;

        let mut r = Reassembler::new(ReassemblyLimits::default());
        let first = r.add(Instant::ZERO, key(1), a0, a1 < n, &payload[a0..a1]);
        prop_assert_eq!(first, FragOutcome::Pending);
        let second = r.add(Instant::ZERO, key(1), b0, b1 < n, &evil);
        prop_assert_eq!(second, FragOutcome::Invalid);
        prop_assert!(r.is_empty());
        prop_assert_eq!(r.bytes_held(), 0);
    }

    /// Interleaved datagrams under tight limits: memory and count bounds
    /// always hold, every completion is exactly right, nothing is Invalid.
    #[test]
    fn bounded_memory_interleaved(
        payloads in prop::collection::vec(prop::collection::vec(any::<u8>(), 1..1500), 1..8),
        unit in 1usize..40,
        max_bytes in 0usize..4000,
        max_datagrams in 0usize..5,
        order in prop::collection::vec(any::<usize>(), 0..200),
        step_ms in 0u64..3000,
    ) {
        let mtu = 20 + unit * 8;
        let limits = ReassemblyLimits { max_bytes, max_datagrams, timeout: Duration::from_secs(30) };
        let mut r = Reassembler::new(limits);
        let mut all: Vec<(u16, Frag)> = Vec::new();
        for (i, p) in payloads.iter().enumerate() {
            for f in scramble(p, mtu, &[], &[]) {
                all.push((i as u16, f));
            }
        }
        for (i, &o) in order.iter().enumerate() {
            let len = all.len();
            all.swap(i % len, o % len);
        }
        let mut now = Instant::ZERO;
        for (id, (off, more, data)) in all {
            now += Duration::from_millis(step_ms);
            r.expire(now);
            match r.add(now, key(id), off, more, &data) {
                FragOutcome::Complete(v) => prop_assert_eq!(&v, &payloads[id as usize]),
                FragOutcome::Invalid => prop_assert!(false, "consistent data rejected"),
                FragOutcome::Pending | FragOutcome::NoMemory => {}
            }
            prop_assert!(r.bytes_held() <= max_bytes, "{} > {}", r.bytes_held(), max_bytes);
            prop_assert!(r.len() <= max_datagrams);
            if let Some(t) = r.next_expiry() {
                prop_assert!(t > now);
            }
        }
    }
}
