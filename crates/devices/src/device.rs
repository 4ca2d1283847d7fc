//! The device interface between a runtime and the wire: whole IP packets
//! in and out, plus a file descriptor to wait on.
use std::io;
use std::os::fd::RawFd;

/// A packet device (TUN, in-process pair, capture wrapper...). The runtime's
/// driver thread and application threads share it, so methods take `&self`
/// and implementations must be safe to call concurrently.
pub trait Device: Send + Sync + 'static {
    /// Largest IP packet the device carries.
    fn mtu(&self) -> usize;
    /// Receives one IP packet into `buf` without blocking; `Ok(None)` when
    /// nothing is waiting. `buf` holds at least `rx_buffer_len()` bytes.
    fn recv(&self, buf: &mut [u8]) -> io::Result<Option<usize>>;
    /// Sends one IP packet. A full device queue drops the packet (as a NIC
    /// would) and returns Ok; TCP recovers. Errors are for broken devices.
    fn send(&self, packet: &[u8]) -> io::Result<()>;
    /// Writes out what `send` may still hold. A device that joins
    /// packets (a TUN device with offloads) holds the last one until the
    /// next `send` or `flush`: call it after each burst of `send`s.
    fn flush(&self) -> io::Result<()> {
        Ok(())
    }
    /// A descriptor that polls readable when `recv` has a packet.
    fn readable_fd(&self) -> RawFd;
    /// How many bytes a `recv` buffer must hold: the MTU, unless the
    /// device can deliver larger packets (a TUN device with offloads hands
    /// over TCP segments of up to 64 KiB).
    fn rx_buffer_len(&self) -> usize {
        self.mtu()
    }
    /// A second descriptor for an application thread that waits for the
    /// device itself (instead of the runtime's driver thread), or None if
    /// the device has none. While [`Device::set_poller`] is on, arriving
    /// packets signal this descriptor instead of `readable_fd`.
    fn poller_fd(&self) -> Option<RawFd> {
        None
    }
    /// Switches wake-ups to [`Device::poller_fd`] (true) or back to
    /// `readable_fd` (false). Switching back signals `readable_fd` if
    /// packets are waiting, so none is left unannounced.
    fn set_poller(&self, _active: bool) {}
    /// Whether `recv` would find a packet, known without a system call
    /// (e.g. an in-memory queue's length), or None if the device cannot
    /// tell cheaply. Only devices that can tell are busy-polled by a
    /// waiting application thread.
    fn rx_pending(&self) -> Option<bool> {
        None
    }
    /// Tells the device that the poller (see [`Device::set_poller`]) is
    /// busy-polling [`Device::rx_pending`] instead of sleeping on
    /// `poller_fd`, so arriving packets need not signal it. Whoever turns
    /// it off must check `rx_pending` once more before sleeping: a packet
    /// sent while it was on may not have been signalled.
    fn set_spinning(&self, _on: bool) {}
}

impl<D: Device + ?Sized> Device for std::sync::Arc<D> {
    fn mtu(&self) -> usize {
        (**self).mtu()
    }
    fn recv(&self, buf: &mut [u8]) -> io::Result<Option<usize>> {
        (**self).recv(buf)
    }
    fn send(&self, packet: &[u8]) -> io::Result<()> {
        (**self).send(packet)
    }
    fn flush(&self) -> io::Result<()> {
        (**self).flush()
    }
    fn readable_fd(&self) -> RawFd {
        (**self).readable_fd()
    }
    fn rx_buffer_len(&self) -> usize {
        (**self).rx_buffer_len()
    }
    fn poller_fd(&self) -> Option<RawFd> {
        (**self).poller_fd()
    }
    fn set_poller(&self, active: bool) {
        (**self).set_poller(active)
    }
    fn rx_pending(&self) -> Option<bool> {
        (**self).rx_pending()
    }
    fn set_spinning(&self, on: bool) {
        (**self).set_spinning(on)
    }
}

impl Device for Box<dyn Device> {
    fn mtu(&self) -> usize {
        (**self).mtu()
    }
    fn recv(&self, buf: &mut [u8]) -> io::Result<Option<usize>> {
        (**self).recv(buf)
    }
    fn send(&self, packet: &[u8]) -> io::Result<()> {
        (**self).send(packet)
    }
    fn flush(&self) -> io::Result<()> {
        (**self).flush()
    }
    fn readable_fd(&self) -> RawFd {
        (**self).readable_fd()
    }
    fn rx_buffer_len(&self) -> usize {
        (**self).rx_buffer_len()
    }
    fn poller_fd(&self) -> Option<RawFd> {
        (**self).poller_fd()
    }
    fn set_poller(&self, active: bool) {
        (**self).set_poller(active)
    }
    fn rx_pending(&self) -> Option<bool> {
        (**self).rx_pending()
    }
    fn set_spinning(&self, on: bool) {
        (**self).set_spinning(on)
    }
}
