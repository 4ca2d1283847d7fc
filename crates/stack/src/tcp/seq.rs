//! Sequence-number arithmetic modulo 2^32 (RFC 9293 §3.4).
use core::ops::{Add, AddAssign, Sub};

/// A TCP sequence number. Comparisons are modulo 2^32, valid for numbers
/// less than 2^31 apart, as RFC 9293 §3.4 requires.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Seq(pub u32);

impl Seq {
    /// Signed distance `self - other`.
    #[inline]
    pub fn diff(self, other: Seq) -> i32 {
        self.0.wrapping_sub(other.0) as i32
    }
    /// `self - other` when self >= other, else 0.
    #[inline]
    pub fn since(self, other: Seq) -> u32 {
        let d = self.diff(other);
        if d > 0 {
            d as u32
        } else {
            0
        }
    }
    #[inline]
    pub fn lt(self, o: Seq) -> bool {
        self.diff(o) < 0
    }
    #[inline]
    pub fn le(self, o: Seq) -> bool {
        self.diff(o) <= 0
    }
    #[inline]
    pub fn gt(self, o: Seq) -> bool {
        self.diff(o) > 0
    }
    #[inline]
    pub fn ge(self, o: Seq) -> bool {
        self.diff(o) >= 0
    }
    #[inline]
    pub fn max(self, o: Seq) -> Seq {
        if self.ge(o) {
            self
        } else {
            o
        }
    }
    #[inline]
    pub fn min(self, o: Seq) -> Seq {
        if self.le(o) {
            self
        } else {
            o
        }
    }
    /// True if lo <= self < hi.
    #[inline]
    pub fn in_range(self, lo: Seq, hi: Seq) -> bool {
        self.ge(lo) && self.lt(hi)
    }
}

impl Add<u32> for Seq {
    type Output = Seq;
    #[inline]
    fn add(self, n: u32) -> Seq {
        Seq(self.0.wrapping_add(n))
    }
}
impl Add<usize> for Seq {
    type Output = Seq;
    #[inline]
    fn add(self, n: usize) -> Seq {
        Seq(self.0.wrapping_add(n as u32))
    }
}
impl AddAssign<u32> for Seq {
    #[inline]
    fn add_assign(&mut self, n: u32) {
        self.0 = self.0.wrapping_add(n)
    }
}
impl AddAssign<usize> for Seq {
    #[inline]
    fn add_assign(&mut self, n: usize) {
        self.0 = self.0.wrapping_add(n as u32)
    }
}
impl Sub<u32> for Seq {
    type Output = Seq;
    #[inline]
    fn sub(self, n: u32) -> Seq {
        Seq(self.0.wrapping_sub(n))
    }
}

impl core::fmt::Debug for Seq {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "{}", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn wraps() {
        let a = Seq(u32::MAX - 5);
        let b = a + 10u32;
        assert_eq!(b.0, 4);
        assert!(a.lt(b));
        assert!(b.gt(a));
        assert_eq!(b.diff(a), 10);
        assert_eq!(b.since(a), 10);
        assert_eq!(a.since(b), 0);
        assert!((a + 3u32).in_range(a, b));
        assert!(!b.in_range(a, b));
        assert_eq!(a.max(b), b);
        assert_eq!(a.min(b), a);
    }
}
