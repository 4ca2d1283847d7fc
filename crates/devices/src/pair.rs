//! Two in-process devices joined back to back: what one sends, the other
//! receives. Used by tests and benchmarks that run two ustack stacks in one
//! process.
//!
//! Each direction is a bounded byte ring in memory (4 MiB): `send` copies
//! the packet in, `recv` copies it out, packet boundaries are kept and no
//! system call is made per packet. When the ring is full `send` drops the
//! packet, counts it in [`PairDevice::dropped`] and returns Ok, as a NIC
//! would; so does sending to an end that has been dropped.
//!
//! Readiness: the receiving end owns two eventfds. A sender that puts a
//! packet into an empty ring signals one of them: the *poller* descriptor
//! ([`Device::poller_fd`]) while an application thread has claimed the
//! receive side with [`Device::set_poller`], the ordinary
//! [`Device::readable_fd`] otherwise. So a runtime whose application thread
//! waits for the device itself is woken directly, and its driver thread is
//! not woken for the same packet. `recv` clears both descriptors when it
//! finds the ring empty (then looks once more), so no signal is lost; a
//! descriptor may poll readable spuriously until then.
//!
//! Busy-polling: [`Device::rx_pending`] reads the queue's packet count
//! without a system call, and while the poller says it is spinning
//! ([`Device::set_spinning`]) a sender does not signal it at all; the
//! spinner looks at the count once more after it stops (both sides
//! sequentially consistent: either the sender sees it spinning, or the
//! spinner sees the packet).
use crate::device::Device;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

/// Bytes of queued packets (plus a 4-byte length each) one direction holds.
pub const PAIR_BUFFER_BYTES: usize = 4 << 20;

/// Length prefix of each queued packet.
const LEN_BYTES: usize = 4;

/// One end of a [`pair`].
#[derive(Debug)]
pub struct PairDevice {
    /// Packets to this end.
    rx: Arc<Direction>,
    /// Packets from this end (the peer's `rx`).
    tx: Arc<Direction>,
    mtu: usize,
    dropped: AtomicU64,
}

/// One direction: the ring and the receiver's two wake-up descriptors.
#[derive(Debug)]
struct Direction {
    ring: Mutex<Ring>,
    /// Signalled when no application thread polls the receiving end.
    readable: OwnedFd,
    /// Signalled while one does.
    poller: OwnedFd,
    poller_active: AtomicBool,
    /// The poller busy-polls `queued` instead of sleeping on `poller`.
    poller_spinning: AtomicBool,
    /// Packets in the ring (its `packets`, readable without the lock).
    queued: AtomicUsize,
    /// Per descriptor: it is readable, or a sender is about to make it so
    /// (set before the write, so each signalled period has one write).
    readable_signalled: AtomicBool,
    poller_signalled: AtomicBool,
    /// The receiving end has been dropped.
    closed: AtomicBool,
}

/// A FIFO of length-prefixed packets in a fixed byte ring (allocated on the
/// first packet, so an idle pair costs no ring memory).
#[derive(Debug, Default)]
struct Ring {
    buf: Vec<u8>,
    head: usize,
    len: usize,
    packets: usize,
}

impl Ring {
    fn push(&mut self, packet: &[u8]) -> bool {
        let need = LEN_BYTES + packet.len();
        if self.buf.is_empty() {
            self.buf = vec![0u8; PAIR_BUFFER_BYTES];
        }
        if self.buf.len() - self.len < need {
            return false;
        }
        let tail = (self.head + self.len) % self.buf.len();
        let len = (packet.len() as u32).to_ne_bytes();
        let tail = self.put(tail, &len);
        self.put(tail, packet);
        self.len += need;
        self.packets += 1;
        true
    }

    /// Pops the next packet into `dst` (which must hold it); its length.
    fn pop(&mut self, dst: &mut [u8]) -> Option<usize> {
        if self.packets == 0 {
            return None;
        }
        let mut len = [0u8; LEN_BYTES];
        let pos = self.get(self.head, &mut len);
        let n = u32::from_ne_bytes(len) as usize;
        self.get(pos, &mut dst[..n]);
        self.head = (self.head + LEN_BYTES + n) % self.buf.len();
        self.len -= LEN_BYTES + n;
        self.packets -= 1;
        if self.packets == 0 {
            self.head = 0;
        }
        Some(n)
    }

    /// Copies `src` in at physical `pos` (wrapping); the position after it.
    fn put(&mut self, pos: usize, src: &[u8]) -> usize {
        let size = self.buf.len();
        let first = src.len().min(size - pos);
        self.buf[pos..pos + first].copy_from_slice(&src[..first]);
        self.buf[..src.len() - first].copy_from_slice(&src[first..]);
        (pos + src.len()) % size
    }

    /// Copies out from physical `pos` (wrapping); the position after it.
    fn get(&self, pos: usize, dst: &mut [u8]) -> usize {
        let size = self.buf.len();
        let first = dst.len().min(size - pos);
        let n = dst.len();
        dst[..first].copy_from_slice(&self.buf[pos..pos + first]);
        dst[first..].copy_from_slice(&self.buf[..n - first]);
        (pos + n) % size
    }
}

fn eventfd() -> io::Result<OwnedFd> {
    // SAFETY: plain syscall; the result is checked before use.
    let fd = unsafe { libc::eventfd(0, libc::EFD_NONBLOCK | libc::EFD_CLOEXEC) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `fd` is a new descriptor that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

fn signal(fd: &OwnedFd) {
    let one: u64 = 1;
    // SAFETY: writes 8 bytes from a live u64 to an eventfd we own. It can
    // only fail if the counter would overflow, which leaves it readable.
    unsafe {
        libc::write(fd.as_raw_fd(), (&one as *const u64).cast(), 8);
    }
}

/// Resets the eventfd's counter; true if it was set.
fn clear(fd: &OwnedFd) -> bool {
    let mut v: u64 = 0;
    // SAFETY: reads 8 bytes into a live u64 from a non-blocking eventfd we
    // own (EAGAIN when already clear).
    let n = unsafe { libc::read(fd.as_raw_fd(), (&mut v as *mut u64).cast(), 8) };
    n == 8
}

impl Direction {
    fn new() -> io::Result<Direction> {
        Ok(Direction {
            ring: Mutex::new(Ring::default()),
            readable: eventfd()?,
            poller: eventfd()?,
            poller_active: AtomicBool::new(false),
            poller_spinning: AtomicBool::new(false),
            queued: AtomicUsize::new(0),
            readable_signalled: AtomicBool::new(false),
            poller_signalled: AtomicBool::new(false),
            closed: AtomicBool::new(false),
        })
    }

    /// Pops the next packet into `dst`, keeping `queued` in step.
    fn pop(&self, dst: &mut [u8]) -> Option<usize> {
        let mut ring = self.ring();
        let n = ring.pop(dst);
        self.queued.store(ring.packets, Ordering::SeqCst);
        n
    }

    fn ring(&self) -> MutexGuard<'_, Ring> {
        // The ring's invariants hold between statements that can panic
        // (none can with checked lengths), so a poisoned lock is usable.
        self.ring.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Wakes whoever waits on the receiving end (after a packet went into
    /// an empty ring; called without the ring's lock, so the woken thread
    /// does not find it taken).
    fn wake(&self) {
        let (fd, flag) = if self.poller_active.load(Ordering::SeqCst) {
            if self.poller_spinning.load(Ordering::SeqCst) {
                // It looks at `queued` before it sleeps (see the module
                // documentation).
                return;
            }
            (&self.poller, &self.poller_signalled)
        } else {
            (&self.readable, &self.readable_signalled)
        };
        if !flag.swap(true, Ordering::SeqCst) {
            signal(fd);
        }
    }

    /// Clears the signalled descriptors. A flag whose write has not landed
    /// yet (the read finds nothing) stays set: the write will make the
    /// descriptor readable, and the next empty `recv` clears it then. So a
    /// descriptor is never left readable with its flag down (which would
    /// make its waiter spin), and clearing takes no lock a woken receiver
    /// could find held by the sender that woke it.
    fn unwake(&self) {
        for (fd, flag) in [
            (&self.readable, &self.readable_signalled),
            (&self.poller, &self.poller_signalled),
        ] {
            if flag.load(Ordering::SeqCst) && clear(fd) {
                flag.store(false, Ordering::SeqCst);
            }
        }
    }
}

/// Creates two devices joined back to back, each carrying packets of at most
/// `mtu` bytes.
pub fn pair(mtu: usize) -> io::Result<(PairDevice, PairDevice)> {
    if mtu == 0 {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "pair MTU must be positive",
        ));
    }
    let a_to_b = Arc::new(Direction::new()?);
    let b_to_a = Arc::new(Direction::new()?);
    let a = PairDevice {
        rx: b_to_a.clone(),
        tx: a_to_b.clone(),
        mtu,
        dropped: AtomicU64::new(0),
    };
    let b = PairDevice {
        rx: a_to_b,
        tx: b_to_a,
        mtu,
        dropped: AtomicU64::new(0),
    };
    Ok((a, b))
}

impl PairDevice {
    /// Packets `send` dropped: the queue to the peer was full, or the peer
    /// is gone (like an unplugged cable).
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }
}

impl Drop for PairDevice {
    fn drop(&mut self) {
        self.rx.closed.store(true, Ordering::SeqCst);
        // Queued packets will never be read: free the ring.
        *self.rx.ring() = Ring::default();
        self.rx.queued.store(0, Ordering::SeqCst);
    }
}

impl Device for PairDevice {
    fn mtu(&self) -> usize {
        self.mtu
    }

    fn recv(&self, buf: &mut [u8]) -> io::Result<Option<usize>> {
        if let Some(n) = self.rx.pop(buf) {
            return Ok(Some(n));
        }
        // Empty: clear the wake-ups, then look again, so that a packet
        // pushed in between (whose signal the clearing may have eaten) is
        // not left unannounced.
        self.rx.unwake();
        Ok(self.rx.pop(buf))
    }

    /// Sends one packet to the peer. A packet longer than the MTU is an
    /// `InvalidInput` error (the peer's `recv` buffer is only guaranteed to
    /// hold `mtu` bytes).
    fn send(&self, packet: &[u8]) -> io::Result<()> {
        if packet.len() > self.mtu {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "packet of {} bytes exceeds the pair MTU of {}",
                    packet.len(),
                    self.mtu
                ),
            ));
        }
        let was_empty = {
            let mut ring = self.tx.ring();
            let was_empty = ring.packets == 0;
            // Checked under the lock: the receiver's drop sets `closed`
            // before it empties the ring under the same lock.
            if self.tx.closed.load(Ordering::SeqCst) || !ring.push(packet) {
                drop(ring);
                self.dropped.fetch_add(1, Ordering::Relaxed);
                return Ok(());
            }
            self.tx.queued.store(ring.packets, Ordering::SeqCst);
            was_empty
        };
        if was_empty {
            self.tx.wake();
        }
        Ok(())
    }

    fn readable_fd(&self) -> RawFd {
        self.rx.readable.as_raw_fd()
    }

    fn poller_fd(&self) -> Option<RawFd> {
        Some(self.rx.poller.as_raw_fd())
    }

    fn rx_pending(&self) -> Option<bool> {
        Some(self.rx.queued.load(Ordering::SeqCst) > 0)
    }

    fn set_spinning(&self, on: bool) {
        self.rx.poller_spinning.store(on, Ordering::SeqCst);
    }

    fn set_poller(&self, active: bool) {
        self.rx.poller_active.store(active, Ordering::SeqCst);
        if self.rx.ring().packets > 0 {
            // Packets may have been announced to the other waiter: announce
            // them to the new one too. (A sender that saw the old flag
            // signalled the old descriptor after its push; SeqCst on both
            // sides: either it sees the new flag or this sees its packet.)
            self.rx.wake();
        }
    }
}
