//! Two in-process devices joined back to back: what one sends, the other
//! receives. Used by tests and benchmarks that run two ustack stacks in one
//! process.
//!
//! The devices are the two ends of a Unix datagram socket pair, so packet
//! boundaries are kept and each end has a descriptor to poll. Both ends are
//! non-blocking with large (4 MiB) socket buffers; when the queue is full a
//! `send` drops the packet, counts it in [`PairDevice::dropped`] and returns
//! Ok, as a NIC would.
use crate::device::Device;
use std::io;
use std::os::fd::{AsRawFd, RawFd};
use std::os::unix::net::UnixDatagram;
use std::sync::atomic::{AtomicU64, Ordering};

/// Requested send and receive buffer size of each end, in bytes.
///
/// Root (`CAP_NET_ADMIN`) gets it in full (`SO_SNDBUFFORCE`); otherwise the
/// kernel caps it at `net.core.wmem_max` / `rmem_max`.
pub const PAIR_BUFFER_BYTES: usize = 4 << 20;

/// One end of a [`pair`].
#[derive(Debug)]
pub struct PairDevice {
    sock: UnixDatagram,
    mtu: usize,
    dropped: AtomicU64,
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
    let (a, b) = UnixDatagram::pair()?;
    Ok((PairDevice::new(a, mtu)?, PairDevice::new(b, mtu)?))
}

impl PairDevice {
    fn new(sock: UnixDatagram, mtu: usize) -> io::Result<PairDevice> {
        sock.set_nonblocking(true)?;
        set_buffer(&sock, BufferKind::Send)?;
        set_buffer(&sock, BufferKind::Recv)?;
        Ok(PairDevice {
            sock,
            mtu,
            dropped: AtomicU64::new(0),
        })
    }

    /// Packets `send` dropped: the queue to the peer was full, or the peer
    /// is gone (like an unplugged cable).
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }
}

impl Device for PairDevice {
    fn mtu(&self) -> usize {
        self.mtu
    }

    fn recv(&self, buf: &mut [u8]) -> io::Result<Option<usize>> {
        loop {
            match self.sock.recv(buf) {
                Ok(n) => return Ok(Some(n)),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(None),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
        }
    }

    /// Sends one packet to the peer. A packet longer than the MTU is an
    /// `InvalidInput` error (the peer's `recv` buffer is only guaranteed to
    /// hold `mtu` bytes, and a datagram socket would truncate silently).
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
        loop {
            match self.sock.send(packet) {
                Ok(_) => return Ok(()),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e)
                    if e.kind() == io::ErrorKind::WouldBlock
                        || matches!(
                            e.raw_os_error(),
                            Some(
                                libc::ENOBUFS
                                    | libc::ECONNREFUSED
                                    | libc::ENOTCONN
                                    | libc::EPIPE
                                    | libc::ECONNRESET
                            )
                        ) =>
                {
                    self.dropped.fetch_add(1, Ordering::Relaxed);
                    return Ok(());
                }
                Err(e) => return Err(e),
            }
        }
    }

    fn readable_fd(&self) -> RawFd {
        self.sock.as_raw_fd()
    }
}

#[derive(Clone, Copy)]
enum BufferKind {
    Send,
    Recv,
}

/// Sets the socket's send or receive buffer to [`PAIR_BUFFER_BYTES`]:
/// beyond the sysctl cap when privileged, up to it otherwise.
fn set_buffer(sock: &UnixDatagram, kind: BufferKind) -> io::Result<()> {
    let bytes = PAIR_BUFFER_BYTES as libc::c_int;
    #[cfg(any(target_os = "linux", target_os = "android"))]
    {
        let force = match kind {
            BufferKind::Send => libc::SO_SNDBUFFORCE,
            BufferKind::Recv => libc::SO_RCVBUFFORCE,
        };
        // Fails with EPERM without CAP_NET_ADMIN: fall back below.
        if setsockopt_int(sock, force, bytes).is_ok() {
            return Ok(());
        }
    }
    let opt = match kind {
        BufferKind::Send => libc::SO_SNDBUF,
        BufferKind::Recv => libc::SO_RCVBUF,
    };
    setsockopt_int(sock, opt, bytes)
}

fn setsockopt_int(sock: &UnixDatagram, opt: libc::c_int, value: libc::c_int) -> io::Result<()> {
    // SAFETY: `value` is a live c_int and the length passed is exactly its
    // size, so the kernel reads only valid memory; the descriptor is owned
    // by `sock`, which outlives the call.
    let rc = unsafe {
        libc::setsockopt(
            sock.as_raw_fd(),
            libc::SOL_SOCKET,
            opt,
            (&value as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if rc < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}
