//! Byte ring buffer used for TCP send and receive queues.
//!
//! Storage is allocated lazily and grows (doubling, at least 4 KiB) only as
//! data needs it, up to `capacity`; an idle connection holds no buffer
//! memory. `shrink_if_empty` gives memory back.

/// A FIFO of bytes with a fixed logical capacity, lazily backed.
#[derive(Debug, Default)]
pub struct RingBuffer {
    _private: (),
}

impl RingBuffer {
    /// A buffer that may hold up to `capacity` bytes. Allocates nothing.
    pub fn new(capacity: usize) -> RingBuffer { let _ = capacity; todo!() }
    /// The logical capacity (the most it will ever hold).
    pub fn capacity(&self) -> usize { todo!() }
    /// Changes the logical capacity; never below `len()`.
    pub fn set_capacity(&mut self, capacity: usize) { let _ = capacity; todo!() }
    /// Bytes currently readable.
    pub fn len(&self) -> usize { todo!() }
    pub fn is_empty(&self) -> bool { self.len() == 0 }
    /// capacity() - len().
    pub fn free(&self) -> usize { todo!() }
    /// Bytes of backing storage currently allocated (for memory accounting).
    pub fn allocated(&self) -> usize { todo!() }
    /// Appends as much of `data` as fits; returns how much was taken.
    pub fn enqueue(&mut self, data: &[u8]) -> usize { let _ = data; todo!() }
    /// Removes up to `dst.len()` bytes from the front into `dst`.
    pub fn dequeue(&mut self, dst: &mut [u8]) -> usize { let _ = dst; todo!() }
    /// Copies bytes starting `offset` bytes after the front into `dst`
    /// without removing them; returns bytes copied (0 if offset >= len()).
    pub fn read_at(&self, offset: usize, dst: &mut [u8]) -> usize { let _ = (offset, dst); todo!() }
    /// Drops up to `n` bytes from the front; returns how many were dropped.
    pub fn discard(&mut self, n: usize) -> usize { let _ = n; todo!() }
    /// Writes `data` at `offset` bytes past the END of the readable data
    /// (i.e. into free space) without making it readable; truncated to what
    /// fits in `free()`. Returns bytes written. Used for out-of-order data.
    pub fn write_unreadable(&mut self, offset: usize, data: &[u8]) -> usize { let _ = (offset, data); todo!() }
    /// Makes `n` bytes previously written by `write_unreadable` at the end
    /// readable (n <= free()).
    pub fn commit(&mut self, n: usize) { let _ = n; todo!() }
    /// Frees the backing storage if empty and nothing uncommitted is pending
    /// (the caller says so with `keep_pending = false`).
    pub fn shrink_if_empty(&mut self) { todo!() }
    /// The readable bytes as up to two slices (front first).
    pub fn as_slices(&self) -> (&[u8], &[u8]) { todo!() }
}
