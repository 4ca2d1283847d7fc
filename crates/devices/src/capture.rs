//! A device wrapper that writes every packet in and out to a pcap file.
//!
//! [`Capture`] delegates to the device it wraps and records each packet it
//! receives and each packet it is asked to send, as a `LINKTYPE_RAW` record
//! (see [`crate::pcap`]), with a wall-clock timestamp. Open the file with
//! `tcpdump -r` or Wireshark.
//!
//! Output is buffered: call [`Capture::flush`] to see it on disk while the
//! device is in use; dropping the capture flushes too. A failure to write
//! the file never disturbs the traffic: capture stops, a warning is logged
//! once and [`Capture::flush`] reports the error.
use crate::device::Device;
use crate::pcap::PcapWriter;
use std::fs::File;
use std::io::{self, BufWriter};
use std::os::fd::RawFd;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};
use std::time::{SystemTime, UNIX_EPOCH};
use ustack::Instant;

/// A [`Device`] that records all its traffic to a pcap file.
pub struct Capture<D: Device> {
    inner: D,
    path: PathBuf,
    state: Mutex<State>,
}

struct State {
    writer: PcapWriter<BufWriter<File>>,
    /// The first write error; once set, nothing more is written.
    error: Option<io::Error>,
}

impl<D: Device> Capture<D> {
    /// Wraps `inner`, creating (or truncating) the pcap file at `path`.
    pub fn new(inner: D, path: &Path) -> io::Result<Capture<D>> {
        let context = |e: io::Error| {
            io::Error::new(
                e.kind(),
                format!("cannot create pcap file {}: {e}", path.display()),
            )
        };
        let file = File::create(path).map_err(context)?;
        let writer = PcapWriter::new(BufWriter::new(file)).map_err(context)?;
        Ok(Capture {
            inner,
            path: path.to_path_buf(),
            state: Mutex::new(State {
                writer,
                error: None,
            }),
        })
    }

    /// The wrapped device.
    pub fn inner(&self) -> &D {
        &self.inner
    }

    /// The pcap file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Packets recorded so far.
    pub fn packets(&self) -> u64 {
        self.lock().writer.packets()
    }

    /// Writes buffered records to the file; reports an earlier write error
    /// (after which capture stopped) if there was one.
    pub fn flush(&self) -> io::Result<()> {
        let mut st = self.lock();
        if let Some(e) = &st.error {
            return Err(io::Error::new(
                e.kind(),
                format!("capture to {} failed: {e}", self.path.display()),
            ));
        }
        st.writer.flush()
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic elsewhere while holding the lock leaves at worst a
        // half-written record; keep going rather than poison every caller.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn record(&self, packet: &[u8]) {
        let mut st = self.lock();
        if st.error.is_some() {
            return;
        }
        // Timestamp under the lock so records are in time order.
        if let Err(e) = st.writer.write_packet(wall_clock(), packet) {
            tracing::warn!(path = %self.path.display(), error = %e, "pcap capture failed; stopping capture");
            st.error = Some(e);
        }
    }
}

/// Microseconds since the Unix epoch, as pcap timestamps expect.
fn wall_clock() -> Instant {
    let micros = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_micros()).unwrap_or(u64::MAX))
        .unwrap_or(0);
    Instant::from_micros(micros)
}

impl<D: Device> Device for Capture<D> {
    fn mtu(&self) -> usize {
        self.inner.mtu()
    }

    fn recv(&self, buf: &mut [u8]) -> io::Result<Option<usize>> {
        let got = self.inner.recv(buf)?;
        if let Some(n) = got {
            self.record(&buf[..n]);
        }
        Ok(got)
    }

    /// Records the packet, then sends it: a packet the inner device drops
    /// (full queue) still appears in the capture, as with tcpdump.
    fn send(&self, packet: &[u8]) -> io::Result<()> {
        self.record(packet);
        self.inner.send(packet)
    }

    fn flush(&self) -> io::Result<()> {
        self.inner.flush()
    }

    fn readable_fd(&self) -> RawFd {
        self.inner.readable_fd()
    }

    fn rx_buffer_len(&self) -> usize {
        self.inner.rx_buffer_len()
    }

    // Packets still pass through `recv`, so a thread waiting for the inner
    // device itself (see `Device::set_poller`) is recorded as the driver is.
    fn poller_fd(&self) -> Option<RawFd> {
        self.inner.poller_fd()
    }

    fn set_poller(&self, active: bool) {
        self.inner.set_poller(active)
    }

    fn rx_pending(&self) -> Option<bool> {
        self.inner.rx_pending()
    }

    fn set_spinning(&self, on: bool) {
        self.inner.set_spinning(on)
    }
}

impl<D: Device> Drop for Capture<D> {
    fn drop(&mut self) {
        let st = self.state.get_mut().unwrap_or_else(|p| p.into_inner());
        if st.error.is_none() {
            if let Err(e) = st.writer.flush() {
                tracing::warn!(path = %self.path.display(), error = %e, "pcap flush failed");
            }
        }
    }
}

impl<D: Device + std::fmt::Debug> std::fmt::Debug for Capture<D> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Capture")
            .field("inner", &self.inner)
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}
