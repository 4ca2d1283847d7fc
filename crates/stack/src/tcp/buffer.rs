//! Byte ring buffer used for TCP send and receive queues.
//!
//! Storage is allocated lazily and grows (doubling, at least 1 KiB) only as
//! data needs it, up to `capacity`; an idle connection holds no buffer
//! memory. `shrink_if_empty` gives memory back.
//!
//! Layout: a physical ring of `storage.len()` bytes. The readable bytes are
//! the `len` bytes starting at physical index `head` (wrapping). Bytes
//! written by `write_unreadable` live in the free space right after them,
//! at logical positions `len .. len + unread_hw`; growing the storage copies
//! the logical range `0 .. len + unread_hw`, so such bytes survive
//! relocation. `dequeue`/`discard` move `head` forward and shrink `len`
//! together, so the physical end of the readable data (and with it every
//! unreadable byte) stays put.

/// Smallest backing allocation.
const MIN_ALLOC: usize = 1024;

/// Spare smallest allocations, per thread: a connection that sends or
/// receives a little and goes idle frees its rings at once (an idle
/// connection holds no buffer memory), so a request/response exchange
/// would otherwise allocate, zero and free four of them. Like an
/// allocator's cache, it changes no behaviour. At most `SPARE_MAX` are
/// kept (1 MiB: enough for a burst of 1 000 such connections in flight;
/// fewer spares left most of `conn_parallel`'s allocations uncached).
/// The bytes a spare still holds are never read: a ring reads only what
/// was written into it.
mod spare {
    use super::MIN_ALLOC;
    use std::cell::RefCell;

    const SPARE_MAX: usize = 1024;

    thread_local! {
        static SPARE: RefCell<Vec<Vec<u8>>> = const { RefCell::new(Vec::new()) };
    }

    /// A `MIN_ALLOC`-byte storage: a spare one, or a fresh one.
    pub(super) fn take() -> Vec<u8> {
        SPARE
            .try_with(|s| s.borrow_mut().pop())
            .ok()
            .flatten()
            .unwrap_or_else(|| vec![0u8; MIN_ALLOC])
    }

    /// Keeps `v` as a spare if it is a smallest allocation and there is room;
    /// else frees it.
    pub(super) fn give(v: Vec<u8>) {
        if v.len() == MIN_ALLOC {
            let _ = SPARE.try_with(|s| {
                let mut s = s.borrow_mut();
                if s.len() < SPARE_MAX {
                    s.push(v);
                }
            });
        }
    }
}

/// A FIFO of bytes with a fixed logical capacity, lazily backed.
#[derive(Debug, Default)]
pub struct RingBuffer {
    /// Physical ring; empty until data needs it.
    storage: Vec<u8>,
    /// Physical index of the first readable byte (< storage.len(), or 0).
    head: usize,
    /// Readable bytes.
    len: usize,
    /// Logical capacity.
    capacity: usize,
    /// High-water mark of `write_unreadable`: bytes past the readable end
    /// that may hold uncommitted data (offset + length of the furthest
    /// write). Invariant: `len + unread_hw <= storage.len()` whenever
    /// either is non-zero, and `len + unread_hw <= max(capacity, len)`.
    unread_hw: usize,
}

impl Drop for RingBuffer {
    fn drop(&mut self) {
        spare::give(std::mem::take(&mut self.storage));
    }
}

impl RingBuffer {
    /// A buffer that may hold up to `capacity` bytes. Allocates nothing.
    pub fn new(capacity: usize) -> RingBuffer {
        RingBuffer {
            storage: Vec::new(),
            head: 0,
            len: 0,
            capacity,
            unread_hw: 0,
        }
    }
    /// The logical capacity (the most it will ever hold).
    pub fn capacity(&self) -> usize {
        self.capacity
    }
    /// Changes the logical capacity; never below `len()`. Uncommitted
    /// out-of-order bytes beyond the new capacity are forgotten. Already
    /// allocated storage is kept (it is freed by `shrink_if_empty`).
    pub fn set_capacity(&mut self, capacity: usize) {
        self.capacity = capacity.max(self.len);
        self.unread_hw = self.unread_hw.min(self.capacity - self.len);
    }
    /// Bytes currently readable.
    pub fn len(&self) -> usize {
        self.len
    }
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// capacity() - len().
    pub fn free(&self) -> usize {
        self.capacity.saturating_sub(self.len)
    }
    /// Bytes of backing storage currently allocated (for memory accounting).
    pub fn allocated(&self) -> usize {
        self.storage.len()
    }
    /// Appends as much of `data` as fits; returns how much was taken.
    ///
    /// Appended bytes overwrite the first uncommitted out-of-order bytes
    /// (if any): they occupy the same sequence space.
    pub fn enqueue(&mut self, data: &[u8]) -> usize {
        let n = data.len().min(self.free());
        if n == 0 {
            return 0;
        }
        self.ensure(self.len + n);
        self.write_logical(self.len, &data[..n]);
        self.len += n;
        self.unread_hw = self.unread_hw.saturating_sub(n);
        n
    }
    /// Removes up to `dst.len()` bytes from the front into `dst`.
    pub fn dequeue(&mut self, dst: &mut [u8]) -> usize {
        let n = self.read_at(0, dst);
        self.discard(n)
    }
    /// Copies bytes starting `offset` bytes after the front into `dst`
    /// without removing them; returns bytes copied (0 if offset >= len()).
    pub fn read_at(&self, offset: usize, dst: &mut [u8]) -> usize {
        if offset >= self.len {
            return 0;
        }
        let n = dst.len().min(self.len - offset);
        self.read_logical(offset, &mut dst[..n]);
        n
    }
    /// As `read_at`, also adding the copied bytes to the running Internet
    /// checksum sum `acc` (see `ustack_wire::checksum::accumulate`) in the
    /// same pass. Returns (bytes copied, new sum).
    pub fn read_at_accumulate(&self, offset: usize, dst: &mut [u8], acc: u64) -> (usize, u64) {
        use ustack_wire::checksum::{accumulate, copy_and_accumulate};
        if offset >= self.len {
            return (0, acc);
        }
        let n = dst.len().min(self.len - offset);
        let dst = &mut dst[..n];
        // len > 0 implies storage is allocated (size >= len > 0).
        let size = self.storage.len();
        let start = wrap(self.head + offset, size);
        let first = n.min(size - start);
        let (a, b) = dst.split_at_mut(first);
        if b.is_empty() || first.is_multiple_of(2) {
            let acc = copy_and_accumulate(acc, a, &self.storage[start..start + first]);
            let acc = copy_and_accumulate(acc, b, &self.storage[..b.len()]);
            (n, acc)
        } else {
            // Wrapped at an odd length: a 16-bit word straddles the two
            // pieces, so sum the (contiguous) copy instead. Once per lap.
            a.copy_from_slice(&self.storage[start..start + first]);
            b.copy_from_slice(&self.storage[..b.len()]);
            (n, accumulate(acc, dst))
        }
    }
    /// Copies `data` into the free space right after the readable bytes
    /// (where an in-order segment goes) and returns its checksum sum added
    /// to `acc`, taken during the copy; nothing becomes readable (`commit`
    /// does that) and no bookkeeping changes, so an unverified segment can
    /// be placed and then forgotten. None, copying nothing, unless `data`
    /// fits in the storage already allocated and in `free()`.
    pub fn prefill_accumulate(&mut self, data: &[u8], acc: u64) -> Option<u64> {
        use ustack_wire::checksum::{accumulate, copy_and_accumulate};
        let n = data.len();
        let size = self.storage.len();
        if n == 0 || n > self.free() || self.len + n > size {
            return None;
        }
        let start = wrap(self.head + self.len, size);
        let first = n.min(size - start);
        let (a, b) = data.split_at(first);
        if b.is_empty() || first.is_multiple_of(2) {
            let acc = copy_and_accumulate(acc, &mut self.storage[start..start + first], a);
            Some(copy_and_accumulate(acc, &mut self.storage[..b.len()], b))
        } else {
            // Wrapped at an odd length: sum the (contiguous) source.
            self.storage[start..start + first].copy_from_slice(a);
            self.storage[..b.len()].copy_from_slice(b);
            Some(accumulate(acc, data))
        }
    }
    /// Drops up to `n` bytes from the front; returns how many were dropped.
    pub fn discard(&mut self, n: usize) -> usize {
        let n = n.min(self.len);
        if n == 0 {
            return 0;
        }
        let size = self.storage.len();
        // len > 0 implies storage is allocated (size >= len > 0).
        self.head = if size == 0 {
            0
        } else {
            wrap(self.head + n, size)
        };
        self.len -= n;
        if self.len == 0 && self.unread_hw == 0 {
            // Nothing to preserve: restart at the beginning so the next
            // data is contiguous.
            self.head = 0;
        }
        n
    }
    /// Writes `data` at `offset` bytes past the END of the readable data
    /// (i.e. into free space) without making it readable; truncated to what
    /// fits in `free()`. Returns bytes written. Used for out-of-order data.
    pub fn write_unreadable(&mut self, offset: usize, data: &[u8]) -> usize {
        let free = self.free();
        if offset >= free {
            return 0;
        }
        let n = data.len().min(free - offset);
        if n == 0 {
            return 0;
        }
        self.ensure(self.len + offset + n);
        self.write_logical(self.len + offset, &data[..n]);
        self.unread_hw = self.unread_hw.max(offset + n);
        n
    }
    /// Makes `n` bytes previously written by `write_unreadable` at the end
    /// readable (n <= free(); larger values are clamped to `free()`).
    /// Committing bytes that were never written exposes unspecified (but
    /// initialised) contents.
    pub fn commit(&mut self, n: usize) {
        let n = n.min(self.free());
        if n == 0 {
            return;
        }
        self.ensure(self.len + n);
        self.len += n;
        self.unread_hw = self.unread_hw.saturating_sub(n);
    }
    /// Frees the backing storage if empty and nothing uncommitted is
    /// pending. "Pending" is tracked internally: any `write_unreadable`
    /// past the readable end that has not since been covered by `commit`
    /// or `enqueue` keeps the storage alive.
    pub fn shrink_if_empty(&mut self) {
        if self.len == 0 && self.unread_hw == 0 {
            spare::give(std::mem::take(&mut self.storage));
            self.head = 0;
        }
    }
    /// The readable bytes as up to two slices (front first).
    pub fn as_slices(&self) -> (&[u8], &[u8]) {
        let size = self.storage.len();
        if self.len == 0 || size == 0 {
            return (&[], &[]);
        }
        let end = self.head + self.len;
        if end <= size {
            (&self.storage[self.head..end], &[])
        } else {
            (&self.storage[self.head..], &self.storage[..end - size])
        }
    }

    /// Makes sure the ring can hold logical positions `0..needed`, growing
    /// by doubling (from at least `MIN_ALLOC`) up to the capacity. Keeps
    /// readable and uncommitted bytes.
    /// The allocation `ensure(needed)` would leave (the current one if it
    /// is large enough).
    pub fn allocation_for(&self, needed: usize) -> usize {
        let old = self.storage.len();
        if needed <= old {
            return old;
        }
        let mut size = old.saturating_mul(2).max(MIN_ALLOC);
        while size < needed {
            size = size.saturating_mul(2);
        }
        // Never beyond the capacity, but always enough for `needed`.
        size.min(self.capacity.max(needed))
    }

    fn ensure(&mut self, needed: usize) {
        let old = self.storage.len();
        if needed <= old {
            return;
        }
        let size = self.allocation_for(needed);
        let keep = (self.len + self.unread_hw).min(old);
        let mut storage = if size == MIN_ALLOC {
            spare::take()
        } else {
            vec![0u8; size]
        };
        self.read_logical(0, &mut storage[..keep]);
        spare::give(std::mem::replace(&mut self.storage, storage));
        self.head = 0;
    }

    /// Copies logical bytes `offset..offset + dst.len()` (relative to the
    /// head) out of the ring; at most two memcpys. The range must lie in
    /// the allocated storage.
    fn read_logical(&self, offset: usize, dst: &mut [u8]) {
        let size = self.storage.len();
        if dst.is_empty() || size == 0 {
            return;
        }
        let start = wrap(self.head + offset, size);
        let first = dst.len().min(size - start);
        let (a, b) = dst.split_at_mut(first);
        a.copy_from_slice(&self.storage[start..start + first]);
        let rest = b.len().min(size);
        b[..rest].copy_from_slice(&self.storage[..rest]);
    }

    /// Copies `src` into logical bytes `offset..offset + src.len()`; at most
    /// two memcpys. The range must lie in the allocated storage.
    fn write_logical(&mut self, offset: usize, src: &[u8]) {
        let size = self.storage.len();
        if src.is_empty() || size == 0 {
            return;
        }
        let start = wrap(self.head + offset, size);
        let first = src.len().min(size - start);
        let (a, b) = src.split_at(first);
        self.storage[start..start + first].copy_from_slice(a);
        let rest = b.len().min(size);
        self.storage[..rest].copy_from_slice(&b[..rest]);
    }
}

/// `i % size` for the ring's index arithmetic, where `i` is an index in
/// the storage plus at most one storage length: a subtraction instead of
/// a division (which costs tens of cycles on the per-segment path).
#[inline]
fn wrap(i: usize, size: usize) -> usize {
    if i < size {
        i
    } else if i - size < size {
        i - size
    } else {
        i % size
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn contents(rb: &RingBuffer) -> Vec<u8> {
        let (a, b) = rb.as_slices();
        let mut v = a.to_vec();
        v.extend_from_slice(b);
        v
    }

    #[test]
    fn new_allocates_nothing() {
        let rb = RingBuffer::new(1 << 20);
        assert_eq!(rb.allocated(), 0);
        assert_eq!(rb.len(), 0);
        assert_eq!(rb.free(), 1 << 20);
        assert_eq!(rb.as_slices(), (&[][..], &[][..]));
    }

    /// A smallest storage freed by an emptied ring serves the next ring on
    /// the same thread, and the new ring shows only what it was given.
    #[test]
    fn freed_smallest_storage_is_reused_without_its_bytes() {
        let mut a = RingBuffer::new(1 << 20);
        assert_eq!(a.enqueue(&[0xAA; 600]), 600);
        let ptr = a.storage.as_ptr();
        let mut out = [0u8; 600];
        assert_eq!(a.dequeue(&mut out), 600);
        a.shrink_if_empty();
        assert_eq!(a.allocated(), 0);
        let mut b = RingBuffer::new(1 << 20);
        assert_eq!(b.enqueue(b"new"), 3);
        assert_eq!(b.storage.as_ptr(), ptr, "the spare was not reused");
        assert_eq!(b.allocated(), MIN_ALLOC);
        assert_eq!(contents(&b), b"new");
    }

    #[test]
    fn grows_by_doubling_from_1k_up_to_capacity() {
        let mut rb = RingBuffer::new(20_000);
        assert_eq!(rb.enqueue(&[1]), 1);
        assert_eq!(rb.allocated(), MIN_ALLOC);
        assert_eq!(MIN_ALLOC, 1024);
        rb.enqueue(&[2; 1023]);
        assert_eq!(rb.allocated(), 1024);
        rb.enqueue(&[2; 3072]);
        assert_eq!(rb.allocated(), 4096);
        rb.enqueue(&[3]);
        assert_eq!(rb.allocated(), 8192);
        rb.enqueue(&vec![4; 9000]);
        assert_eq!(rb.allocated(), 16_384);
        assert_eq!(rb.enqueue(&vec![5; 10_000]), 20_000 - 4097 - 9000);
        assert_eq!(rb.allocated(), 20_000);
        assert_eq!(rb.free(), 0);
        assert_eq!(rb.enqueue(&[6]), 0);
    }

    #[test]
    fn small_capacity_allocates_only_capacity() {
        let mut rb = RingBuffer::new(100);
        assert_eq!(rb.enqueue(&[7; 150]), 100);
        assert_eq!(rb.allocated(), 100);
    }

    #[test]
    fn zero_capacity_never_allocates() {
        let mut rb = RingBuffer::new(0);
        assert_eq!(rb.enqueue(&[1, 2, 3]), 0);
        assert_eq!(rb.write_unreadable(0, &[1]), 0);
        rb.commit(5);
        assert_eq!(rb.len(), 0);
        assert_eq!(rb.allocated(), 0);
        assert_eq!(rb.dequeue(&mut [0; 4]), 0);
    }

    #[test]
    fn wraps_and_relocates_on_growth() {
        let mut rb = RingBuffer::new(100_000);
        let data: Vec<u8> = (0..4096u32).map(|i| i as u8).collect();
        rb.enqueue(&data);
        let mut sink = [0u8; 3000];
        assert_eq!(rb.dequeue(&mut sink), 3000);
        assert_eq!(&sink[..], &data[..3000]);
        // Wrap around inside the 4 KiB ring.
        let more: Vec<u8> = (0..2000u32).map(|i| (i * 7) as u8).collect();
        rb.enqueue(&more);
        assert_eq!(rb.allocated(), 4096);
        let (a, b) = rb.as_slices();
        assert!(!b.is_empty(), "expected wrapped data");
        assert_eq!(a.len() + b.len(), 3096);
        // Grow while wrapped.
        rb.enqueue(&[0xAA; 5000]);
        assert_eq!(rb.allocated(), 8192);
        let mut expect = data[3000..].to_vec();
        expect.extend_from_slice(&more);
        expect.extend_from_slice(&[0xAA; 5000]);
        assert_eq!(contents(&rb), expect);
    }

    #[test]
    fn read_at_and_discard() {
        let mut rb = RingBuffer::new(10);
        rb.enqueue(b"0123456789");
        let mut dst = [0u8; 4];
        assert_eq!(rb.read_at(3, &mut dst), 4);
        assert_eq!(&dst, b"3456");
        assert_eq!(rb.read_at(8, &mut dst), 2);
        assert_eq!(&dst[..2], b"89");
        assert_eq!(rb.read_at(10, &mut dst), 0);
        assert_eq!(rb.discard(4), 4);
        rb.enqueue(b"abcd");
        assert_eq!(contents(&rb), b"456789abcd");
        assert_eq!(rb.discard(100), 10);
        assert!(rb.is_empty());
    }

    #[test]
    fn prefill_places_in_order_bytes_without_committing() {
        use ustack_wire::checksum::{accumulate, fold};
        let mut rb = RingBuffer::new(4096);
        // Nothing allocated yet: no prefill (it never grows the ring).
        assert_eq!(rb.prefill_accumulate(&[1, 2, 3], 0), None);
        rb.enqueue(&[9; 1000]);
        rb.discard(999);
        // Every wrap position, odd and even pieces.
        for n in [1usize, 2, 3, 24, 25, 1023] {
            let data: Vec<u8> = (0..n).map(|i| (i * 37 + n) as u8).collect();
            let before = contents(&rb);
            let sum = rb.prefill_accumulate(&data, 5).expect("fits");
            assert_eq!(fold(sum), fold(accumulate(5, &data)), "n={n}");
            assert_eq!(contents(&rb), before, "prefill made bytes readable");
            rb.commit(n);
            let after = contents(&rb);
            assert_eq!(&after[before.len()..], &data[..], "n={n}");
            rb.discard(after.len() - 1);
        }
        // Beyond the allocation or the free space: refused.
        let big = vec![0u8; rb.allocated()];
        assert_eq!(rb.prefill_accumulate(&big, 0), None);
    }

    #[test]
    fn read_at_accumulate_copies_and_sums_across_the_wrap() {
        use ustack_wire::checksum::{accumulate, finish, fold, naive};
        // Every head position and length in a small wrapping ring, so the
        // wrap falls at odd and even lengths, with a non-zero starting sum.
        let mut rb = RingBuffer::new(4096);
        let mut next = 0u32;
        let mut fill = |rb: &mut RingBuffer, n: usize| {
            let v: Vec<u8> = (0..n)
                .map(|_| {
                    next = next.wrapping_add(0x9E37_79B9);
                    (next >> 24) as u8
                })
                .collect();
            rb.enqueue(&v);
        };
        fill(&mut rb, 4096);
        for step in [1usize, 7, 500, 1459, 2048] {
            rb.discard(step);
            fill(&mut rb, step);
            let all = contents(&rb);
            for offset in [0usize, 1, 2, 3, 100, 4000, 4095, 4096] {
                for len in [0usize, 1, 2, 3, 64, 65, 1460, 4096] {
                    let mut dst = vec![0u8; len];
                    let (n, acc) = rb.read_at_accumulate(offset, &mut dst, 0x1234);
                    let want = &all[offset.min(all.len())..(offset + len).min(all.len())];
                    assert_eq!(n, want.len());
                    assert_eq!(&dst[..n], want);
                    // Running sums are equal as folded values (the
                    // unfolded representation depends on the pieces).
                    assert_eq!(
                        fold(acc),
                        fold(accumulate(0x1234, want)),
                        "offset {offset} len {len}"
                    );
                    if n > 0 {
                        assert_eq!(finish(accumulate(0, &dst[..n])), naive(want));
                    }
                }
            }
        }
        assert_eq!(
            RingBuffer::new(10).read_at_accumulate(0, &mut [0; 4], 7),
            (0, 7)
        );
    }

    #[test]
    fn unreadable_then_commit() {
        let mut rb = RingBuffer::new(64);
        rb.enqueue(b"abc");
        assert_eq!(rb.write_unreadable(3, b"ghi"), 3);
        assert_eq!(rb.len(), 3);
        assert_eq!(rb.enqueue(b"def"), 3);
        rb.commit(3);
        assert_eq!(contents(&rb), b"abcdefghi");
    }

    #[test]
    fn unreadable_truncated_to_free() {
        let mut rb = RingBuffer::new(8);
        rb.enqueue(b"abcd");
        assert_eq!(rb.write_unreadable(2, b"xyzw"), 2);
        assert_eq!(rb.write_unreadable(4, b"q"), 0);
        assert_eq!(rb.write_unreadable(usize::MAX, b"q"), 0);
    }

    #[test]
    fn unreadable_survives_growth_and_dequeue() {
        let mut rb = RingBuffer::new(1 << 16);
        rb.enqueue(&[1; 4000]);
        let mut sink = vec![0; 3900];
        rb.dequeue(&mut sink);
        // Readable: 100 bytes near the end of the 4 KiB ring. Write far
        // ahead, forcing growth while the data is wrapped.
        assert_eq!(rb.write_unreadable(10_000, b"later"), 5);
        assert!(rb.allocated() >= 10_105);
        assert_eq!(rb.write_unreadable(50, b"soon"), 4);
        rb.dequeue(&mut [0; 100]);
        assert_eq!(rb.len(), 0);
        rb.shrink_if_empty();
        assert!(rb.allocated() > 0, "pending unreadable data must be kept");
        rb.enqueue(&[9; 50]);
        rb.commit(4);
        rb.enqueue(&vec![8; 10_000 - 54]);
        rb.commit(5);
        let all = contents(&rb);
        assert_eq!(&all[50..54], b"soon");
        assert_eq!(&all[10_000..], b"later");
    }

    #[test]
    fn shrink_if_empty_frees() {
        let mut rb = RingBuffer::new(10_000);
        rb.enqueue(&[1; 100]);
        rb.shrink_if_empty();
        assert_eq!(rb.allocated(), MIN_ALLOC);
        rb.discard(100);
        rb.shrink_if_empty();
        assert_eq!(rb.allocated(), 0);
        rb.write_unreadable(5, b"x");
        rb.shrink_if_empty();
        assert_eq!(rb.allocated(), MIN_ALLOC);
        rb.commit(6);
        rb.discard(6);
        rb.shrink_if_empty();
        assert_eq!(rb.allocated(), 0);
    }

    #[test]
    fn set_capacity_never_below_len() {
        let mut rb = RingBuffer::new(100);
        rb.enqueue(&[0; 60]);
        rb.set_capacity(10);
        assert_eq!(rb.capacity(), 60);
        assert_eq!(rb.free(), 0);
        rb.set_capacity(10_000);
        assert_eq!(rb.enqueue(&[1; 9_000]), 9_000);
        assert_eq!(rb.len(), 9_060);
    }

    #[test]
    fn non_power_of_two_capacity_wraps() {
        let mut rb = RingBuffer::new(7);
        let mut model = std::collections::VecDeque::new();
        let mut next = 0u8;
        for round in 0..50 {
            let chunk: Vec<u8> = (0..(round % 5))
                .map(|_| {
                    next = next.wrapping_add(1);
                    next
                })
                .collect();
            let n = rb.enqueue(&chunk);
            model.extend(&chunk[..n]);
            let mut out = vec![0; round % 4];
            let m = rb.dequeue(&mut out);
            for b in &out[..m] {
                assert_eq!(Some(*b), model.pop_front());
            }
            assert_eq!(contents(&rb), model.iter().copied().collect::<Vec<_>>());
        }
    }
}
