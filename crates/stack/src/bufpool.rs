//! Packet-sized buffers kept for reuse: the stack's queued packets and
//! the datagrams in UDP receive queues take them and give them back, so a
//! steady flow allocates nothing (a bounded number, each at most the
//! MTU: a burst of large datagrams is not kept).
#[derive(Debug)]
pub(crate) struct BufPool {
    bufs: Vec<Vec<u8>>,
    max_bufs: usize,
    max_bytes: usize,
}

impl BufPool {
    pub fn new(max_bufs: usize, max_bytes: usize) -> BufPool {
        BufPool {
            bufs: Vec::new(),
            max_bufs,
            max_bytes,
        }
    }

    /// An empty buffer, reused if one is spare.
    pub fn take(&mut self) -> Vec<u8> {
        let mut b = self.bufs.pop().unwrap_or_default();
        b.clear();
        b
    }

    /// A zeroed buffer of `len` bytes.
    pub fn take_zeroed(&mut self, len: usize) -> Vec<u8> {
        let mut b = self.take();
        b.resize(len, 0);
        b
    }

    pub fn put(&mut self, b: Vec<u8>) {
        if self.bufs.len() < self.max_bufs && b.capacity() <= self.max_bytes {
            self.bufs.push(b);
        }
    }

    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.bufs.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_a_bounded_number_of_small_buffers() {
        let mut p = BufPool::new(2, 1500);
        let a = p.take_zeroed(1500);
        assert!(a.iter().all(|b| *b == 0) && a.len() == 1500);
        let big = p.take_zeroed(9000);
        p.put(big);
        assert_eq!(p.len(), 0, "larger than a packet: dropped");
        let (mut b, c) = (p.take_zeroed(10), p.take_zeroed(10));
        b.fill(7);
        let kept = b.as_ptr();
        for x in [a, b, c] {
            p.put(x);
        }
        assert_eq!(p.len(), 2, "at most two kept");
        let d = p.take_zeroed(5);
        assert_eq!(d.as_ptr(), kept, "the last one kept is reused");
        assert_eq!(d, vec![0; 5], "and comes back zeroed");
        assert!(p.take().is_empty());
    }
}
