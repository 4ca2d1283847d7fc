//! The in-process link used by the in-memory workloads: one bounded FIFO
//! of packets per direction, with preallocated MTU-sized slots (no
//! allocation per packet). Both engines use the same queue: ustack writes
//! straight into a slot with `poll_transmit` and reads it with `receive`;
//! smoltcp gets it through its `phy::Device` trait.
use smoltcp::phy::{self, DeviceCapabilities, Medium};

/// A bounded FIFO of packets of at most `mtu` bytes.
pub struct Ring {
    slots: Vec<Vec<u8>>,
    lens: Vec<usize>,
    head: usize,
    count: usize,
    mtu: usize,
    /// Packets offered while the ring was full (dropped, as a NIC would).
    pub dropped: u64,
    /// Packets carried.
    pub carried: u64,
}

impl Ring {
    /// Capacity: about 4 MiB of slots (at least 64, at most 4096 packets),
    /// more than the 1 MiB windows in flight.
    pub fn new(mtu: usize) -> Ring {
        let cap = ((4usize << 20) / mtu).clamp(64, 4096);
        Ring {
            slots: (0..cap).map(|_| vec![0u8; mtu]).collect(),
            lens: vec![0; cap],
            head: 0,
            count: 0,
            mtu,
            dropped: 0,
            carried: 0,
        }
    }

    pub fn is_full(&self) -> bool {
        self.count == self.slots.len()
    }

    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    pub fn len(&self) -> usize {
        self.count
    }

    /// The free slot at the tail (MTU bytes), to be committed with `push`.
    /// Call only when not full.
    pub fn tail(&mut self) -> &mut [u8] {
        let i = (self.head + self.count) % self.slots.len();
        &mut self.slots[i][..]
    }

    /// Commits `len` bytes written into `tail()`.
    pub fn push(&mut self, len: usize) {
        let i = (self.head + self.count) % self.slots.len();
        self.lens[i] = len;
        self.count += 1;
        self.carried += 1;
    }

    /// The packet at the head.
    pub fn front(&self) -> Option<&[u8]> {
        if self.count == 0 {
            return None;
        }
        Some(&self.slots[self.head][..self.lens[self.head]])
    }

    pub fn pop(&mut self) {
        if self.count > 0 {
            self.head = (self.head + 1) % self.slots.len();
            self.count -= 1;
        }
    }
}

/// One end of a link as a smoltcp device: receives from `rx`, sends to `tx`.
pub struct SmolEnd<'a> {
    pub rx: &'a mut Ring,
    pub tx: &'a mut Ring,
}

pub struct SmolRx<'a> {
    ring: &'a mut Ring,
}

pub struct SmolTx<'a> {
    ring: &'a mut Ring,
}

impl phy::RxToken for SmolRx<'_> {
    fn consume<R, F>(self, f: F) -> R
    where
        F: FnOnce(&[u8]) -> R,
    {
        let r = f(self.ring.front().unwrap_or(&[]));
        self.ring.pop();
        r
    }
}

impl phy::TxToken for SmolTx<'_> {
    fn consume<R, F>(self, len: usize, f: F) -> R
    where
        F: FnOnce(&mut [u8]) -> R,
    {
        if self.ring.is_full() || len > self.ring.mtu {
            // Full queue: the packet is built and dropped (a NIC would).
            self.ring.dropped += 1;
            let mut scratch = vec![0u8; len];
            return f(&mut scratch);
        }
        let r = f(&mut self.ring.tail()[..len]);
        self.ring.push(len);
        r
    }
}

impl phy::Device for SmolEnd<'_> {
    type RxToken<'b>
        = SmolRx<'b>
    where
        Self: 'b;
    type TxToken<'b>
        = SmolTx<'b>
    where
        Self: 'b;

    fn receive(
        &mut self,
        _timestamp: smoltcp::time::Instant,
    ) -> Option<(Self::RxToken<'_>, Self::TxToken<'_>)> {
        if self.rx.is_empty() {
            return None;
        }
        Some((SmolRx { ring: self.rx }, SmolTx { ring: self.tx }))
    }

    fn transmit(&mut self, _timestamp: smoltcp::time::Instant) -> Option<Self::TxToken<'_>> {
        if self.tx.is_full() {
            return None;
        }
        Some(SmolTx { ring: self.tx })
    }

    fn capabilities(&self) -> DeviceCapabilities {
        let mut caps = DeviceCapabilities::default();
        caps.medium = Medium::Ip;
        caps.max_transmission_unit = self.tx.mtu;
        // Checksums computed on transmit and verified on receive (the
        // default, spelled out).
        caps.checksum = smoltcp::phy::ChecksumCapabilities::default();
        caps
    }
}

/// The byte at stream offset `i` of the test pattern (not periodic at any
/// power of two, so misplaced segments are caught).
pub fn pattern_byte(i: u64) -> u8 {
    let x = i.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 29;
    (x as u8) ^ ((i % 251) as u8)
}

/// Application source buffer: PATTERN_LEN bytes of the pattern; stream
/// offset `o` holds `src[o % PATTERN_LEN]`.
pub const PATTERN_LEN: usize = (1 << 20) + 4093;

pub fn pattern_buffer() -> Vec<u8> {
    (0..PATTERN_LEN as u64).map(pattern_byte).collect()
}

/// Checks `data` received at stream offset `off` against the pattern.
pub fn check_pattern(src: &[u8], off: u64, data: &[u8]) -> bool {
    let mut o = (off % PATTERN_LEN as u64) as usize;
    let mut d = data;
    while !d.is_empty() {
        let n = d.len().min(PATTERN_LEN - o);
        if d[..n] != src[o..o + n] {
            return false;
        }
        d = &d[n..];
        o = 0;
    }
    true
}

/// The slice of the pattern to send at stream offset `off` (up to `max`).
pub fn source_at(src: &[u8], off: u64, max: usize) -> &[u8] {
    let o = (off % PATTERN_LEN as u64) as usize;
    let n = max.min(PATTERN_LEN - o);
    &src[o..o + n]
}
