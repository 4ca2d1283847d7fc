//! Out-of-order bookkeeping: which byte ranges beyond a moving base have
//! arrived. Memory is bounded by a fixed maximum number of ranges.

/// Error: the segment would need more separate ranges than allowed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TooManyHoles;

/// Upper bound on the eager reservation made at the first insertion (the
/// vector still grows up to `max_ranges` if needed).
const MAX_RESERVE: usize = 64;

/// Set of received ranges `[start, end)` as offsets relative to the base
/// (offset 0 = the next byte expected in order). Ranges are kept sorted,
/// non-overlapping, non-adjacent (merged). At most `max_ranges` of them.
#[derive(Debug, Clone)]
pub struct Assembler {
    /// Sorted, merged `(start, end)` pairs; allocated on first use.
    ranges: Vec<(usize, usize)>,
    max_ranges: usize,
}

impl Assembler {
    pub fn new(max_ranges: usize) -> Assembler {
        Assembler {
            ranges: Vec::new(),
            max_ranges,
        }
    }
    pub fn is_empty(&self) -> bool {
        self.ranges.is_empty()
    }
    /// Records `[offset, offset+len)`; merges with neighbours. If recording
    /// needs a new range and `max_ranges` are in use, nothing changes and
    /// `TooManyHoles` is returned. len == 0 is a no-op.
    ///
    /// An end beyond `usize::MAX` saturates.
    pub fn add(&mut self, offset: usize, len: usize) -> Result<(), TooManyHoles> {
        if len == 0 {
            return Ok(());
        }
        let end = offset.saturating_add(len);
        // First range that overlaps or touches the new one (its end reaches
        // `offset`), and first range entirely after it (starts past `end`).
        let first = self.ranges.partition_point(|&(_, e)| e < offset);
        let last = first + self.ranges[first..].partition_point(|&(s, _)| s <= end);
        if first == last {
            if self.ranges.len() >= self.max_ranges {
                return Err(TooManyHoles);
            }
            if self.ranges.capacity() == 0 {
                self.ranges.reserve_exact(self.max_ranges.min(MAX_RESERVE));
            }
            self.ranges.insert(first, (offset, end));
            return Ok(());
        }
        let start = offset.min(self.ranges[first].0);
        let end = end.max(self.ranges[last - 1].1);
        self.ranges[first] = (start, end);
        self.ranges.drain(first + 1..last);
        Ok(())
    }
    /// If a range starts at offset 0, removes it, shifts every remaining
    /// range down by its length, and returns that length; else 0.
    pub fn remove_front(&mut self) -> usize {
        match self.ranges.first() {
            Some(&(0, len)) => {
                self.ranges.remove(0);
                for r in &mut self.ranges {
                    // Remaining ranges start after `len` (not adjacent).
                    r.0 = r.0.saturating_sub(len);
                    r.1 = r.1.saturating_sub(len);
                }
                len
            }
            _ => 0,
        }
    }
    /// Shifts the base forward by `n` bytes (data consumed in order):
    /// ranges below `n` are cut away, the rest shifted down.
    pub fn advance(&mut self, n: usize) {
        if n == 0 {
            return;
        }
        self.ranges.retain_mut(|r| {
            if r.1 <= n {
                return false;
            }
            r.0 = r.0.saturating_sub(n);
            r.1 -= n;
            true
        });
    }
    /// The ranges, lowest first, as (start, end) offsets.
    pub fn ranges(&self) -> impl Iterator<Item = (usize, usize)> + '_ {
        self.ranges.iter().copied()
    }
    /// End of the highest range (0 if empty).
    pub fn highest(&self) -> usize {
        self.ranges.last().map_or(0, |&(_, e)| e)
    }
    pub fn clear(&mut self) {
        self.ranges.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(a: &Assembler) -> Vec<(usize, usize)> {
        a.ranges().collect()
    }

    #[test]
    fn starts_empty_and_unallocated() {
        let a = Assembler::new(4);
        assert!(a.is_empty());
        assert_eq!(a.highest(), 0);
        assert_eq!(a.ranges.capacity(), 0);
        assert_eq!(r(&a), vec![]);
    }

    #[test]
    fn add_merges_overlap_and_adjacency() {
        let mut a = Assembler::new(8);
        a.add(10, 5).unwrap();
        a.add(20, 5).unwrap();
        assert_eq!(r(&a), vec![(10, 15), (20, 25)]);
        a.add(15, 5).unwrap(); // fills the gap exactly: adjacency on both sides
        assert_eq!(r(&a), vec![(10, 25)]);
        a.add(0, 3).unwrap();
        a.add(30, 2).unwrap();
        a.add(2, 29).unwrap(); // overlaps everything
        assert_eq!(r(&a), vec![(0, 32)]);
        a.add(5, 0).unwrap();
        a.add(100, 0).unwrap();
        assert_eq!(r(&a), vec![(0, 32)]);
        assert_eq!(a.highest(), 32);
    }

    #[test]
    fn too_many_holes_changes_nothing() {
        let mut a = Assembler::new(2);
        a.add(10, 1).unwrap();
        a.add(20, 1).unwrap();
        assert_eq!(a.add(30, 1), Err(TooManyHoles));
        assert_eq!(a.add(0, 1), Err(TooManyHoles));
        assert_eq!(r(&a), vec![(10, 11), (20, 21)]);
        // Extending an existing range is still fine.
        a.add(21, 5).unwrap();
        a.add(5, 5).unwrap();
        assert_eq!(r(&a), vec![(5, 11), (20, 26)]);
        let mut z = Assembler::new(0);
        assert_eq!(z.add(0, 1), Err(TooManyHoles));
    }

    #[test]
    fn remove_front_and_advance() {
        let mut a = Assembler::new(4);
        a.add(5, 5).unwrap();
        assert_eq!(a.remove_front(), 0);
        a.add(0, 3).unwrap();
        assert_eq!(a.remove_front(), 3);
        assert_eq!(r(&a), vec![(2, 7)]);
        a.advance(4);
        assert_eq!(r(&a), vec![(0, 3)]);
        a.add(10, 2).unwrap();
        a.advance(3);
        assert_eq!(r(&a), vec![(7, 9)]);
        a.advance(100);
        assert!(a.is_empty());
        a.add(1, 1).unwrap();
        a.clear();
        assert!(a.is_empty());
    }

    #[test]
    fn saturating_end() {
        let mut a = Assembler::new(2);
        a.add(usize::MAX - 1, 10).unwrap();
        assert_eq!(a.highest(), usize::MAX);
        a.add(0, usize::MAX).unwrap();
        assert_eq!(r(&a), vec![(0, usize::MAX)]);
    }
}
