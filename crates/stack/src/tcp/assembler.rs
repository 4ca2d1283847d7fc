//! Out-of-order bookkeeping: which byte ranges beyond a moving base have
//! arrived. Memory is bounded by a fixed maximum number of ranges.

/// Error: the segment would need more separate ranges than allowed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TooManyHoles;

/// Set of received ranges `[start, end)` as offsets relative to the base
/// (offset 0 = the next byte expected in order). Ranges are kept sorted,
/// non-overlapping, non-adjacent (merged). At most `max_ranges` of them.
#[derive(Debug, Clone)]
pub struct Assembler {
    _private: (),
}

impl Assembler {
    pub fn new(max_ranges: usize) -> Assembler { let _ = max_ranges; todo!() }
    pub fn is_empty(&self) -> bool { todo!() }
    /// Records `[offset, offset+len)`; merges with neighbours. If recording
    /// needs a new range and `max_ranges` are in use, nothing changes and
    /// `TooManyHoles` is returned. len == 0 is a no-op.
    pub fn add(&mut self, offset: usize, len: usize) -> Result<(), TooManyHoles> { let _ = (offset, len); todo!() }
    /// If a range starts at offset 0, removes it, shifts every remaining
    /// range down by its length, and returns that length; else 0.
    pub fn remove_front(&mut self) -> usize { todo!() }
    /// Shifts the base forward by `n` bytes (data consumed in order):
    /// ranges below `n` are cut away, the rest shifted down.
    pub fn advance(&mut self, n: usize) { let _ = n; todo!() }
    /// The ranges, lowest first, as (start, end) offsets.
    pub fn ranges(&self) -> impl Iterator<Item = (usize, usize)> + '_ { core::iter::empty() }
    /// End of the highest range (0 if empty).
    pub fn highest(&self) -> usize { todo!() }
    pub fn clear(&mut self) { todo!() }
}
