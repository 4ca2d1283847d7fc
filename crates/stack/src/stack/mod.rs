//! The stack object: demultiplexing, timers, and the socket API of the
//! sans-IO engine. Feed it packets with `receive`, drain packets with
//! `poll_transmit`, and call `handle_timeout` at `poll_at`.
use crate::config::Config;
use crate::counters::{Counters, TcpCounters};
use crate::tcp::TcpState;
use crate::time::{Duration, Instant};
use std::io;
use std::net::{Shutdown, SocketAddr};

/// Identifies a socket inside one `Stack`. Stale handles are detected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SocketHandle {
    pub(crate) index: u32,
    pub(crate) generation: u32,
}

/// A snapshot of a TCP connection's internals (like Linux `TCP_INFO`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TcpInfo {
    pub state: TcpState,
    pub local: SocketAddr,
    pub remote: SocketAddr,
    /// Effective send MSS (payload bytes per full segment).
    pub mss: usize,
    pub cwnd: u32,
    pub ssthresh: u32,
    pub srtt: Option<Duration>,
    pub rttvar: Option<Duration>,
    pub rto: Duration,
    pub snd_wnd: u32,
    pub rcv_wnd: u32,
    pub bytes_in_flight: u32,
    pub in_recovery: bool,
    pub counters: TcpCounters,
}

/// Result of a UDP receive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UdpRecv {
    /// Bytes copied into the caller's buffer.
    pub len: usize,
    /// Sender.
    pub from: SocketAddr,
    /// The datagram was longer than the buffer; the rest was discarded.
    pub truncated: bool,
    /// The datagram's full length.
    pub datagram_len: usize,
}

pub struct Stack {
    _config: Config,
}

impl Stack {
    /// Creates a stack. Invalid configuration (no address, MTU < 68) is an
    /// `InvalidInput` error.
    pub fn new(config: Config) -> io::Result<Stack> { let _ = config; todo!() }

    /// Feeds one received IP packet. Malformed input is dropped and counted.
    pub fn receive(&mut self, now: Instant, packet: &[u8]) { let _ = (now, packet); todo!() }

    /// Writes the next packet to transmit into `buf` (at least MTU bytes)
    /// and returns its length, or None when there is nothing to send now.
    /// Call repeatedly until None.
    pub fn poll_transmit(&mut self, now: Instant, buf: &mut [u8]) -> Option<usize> { let _ = (now, buf); todo!() }

    /// When `handle_timeout` must next be called (None: no timer armed).
    /// Returns a time <= the last `now` seen if there is output pending.
    pub fn poll_at(&self) -> Option<Instant> { todo!() }

    /// Fires every timer due at `now`.
    pub fn handle_timeout(&mut self, now: Instant) { let _ = now; todo!() }

    /// Stack counters, including the sums over live TCP connections.
    pub fn counters(&self) -> Counters { todo!() }

    /// Number of sockets that still hold state (any kind, including
    /// orphaned connections and TIME_WAIT).
    pub fn socket_count(&self) -> usize { todo!() }

    // ---- TCP ----

    /// Opens a listening socket. Port 0 picks an ephemeral port.
    pub fn tcp_listen(&mut self, local: SocketAddr, backlog: usize) -> io::Result<SocketHandle> { let _ = (local, backlog); todo!() }
    /// Like `tcp_listen`, with SO_REUSEADDR set.
    pub fn tcp_listen_reuse(&mut self, local: SocketAddr, backlog: usize, reuse_addr: bool) -> io::Result<SocketHandle> { let _ = (local, backlog, reuse_addr); todo!() }
    /// Takes an established connection off the accept queue (WouldBlock if none).
    pub fn tcp_accept(&mut self, listener: SocketHandle) -> io::Result<(SocketHandle, SocketAddr)> { let _ = listener; todo!() }
    /// Starts an active open. `local` None: our address and an ephemeral port.
    pub fn tcp_connect(&mut self, remote: SocketAddr, local: Option<SocketAddr>) -> io::Result<SocketHandle> { let _ = (remote, local); todo!() }
    /// Queues data; returns bytes taken (WouldBlock when the buffer is full,
    /// NotConnected before the handshake completes is allowed to queue).
    pub fn tcp_send(&mut self, h: SocketHandle, data: &[u8]) -> io::Result<usize> { let _ = (h, data); todo!() }
    /// Reads in-order data; Ok(0) = end of stream; WouldBlock when none yet.
    pub fn tcp_recv(&mut self, h: SocketHandle, buf: &mut [u8]) -> io::Result<usize> { let _ = (h, buf); todo!() }
    pub fn tcp_shutdown(&mut self, h: SocketHandle, how: Shutdown) -> io::Result<()> { let _ = (h, how); todo!() }
    /// Releases the handle. Graceful: queued data is still delivered and a
    /// FIN sent; with unread received data a RST is sent instead (Linux).
    pub fn tcp_close(&mut self, h: SocketHandle) { let _ = h; todo!() }
    /// Sends RST and releases the handle (SO_LINGER 0).
    pub fn tcp_abort(&mut self, h: SocketHandle) { let _ = h; todo!() }
    pub fn tcp_state(&self, h: SocketHandle) -> io::Result<TcpState> { let _ = h; todo!() }
    pub fn tcp_info(&self, h: SocketHandle) -> io::Result<TcpInfo> { let _ = h; todo!() }
    pub fn tcp_set_nodelay(&mut self, h: SocketHandle, nodelay: bool) -> io::Result<()> { let _ = (h, nodelay); todo!() }
    /// Bytes that `tcp_send` would accept now.
    pub fn tcp_send_capacity(&self, h: SocketHandle) -> io::Result<usize> { let _ = h; todo!() }
    /// Bytes readable now.
    pub fn tcp_recv_available(&self, h: SocketHandle) -> io::Result<usize> { let _ = h; todo!() }
    pub fn tcp_local_addr(&self, h: SocketHandle) -> io::Result<SocketAddr> { let _ = h; todo!() }

    // ---- UDP ----

    pub fn udp_bind(&mut self, local: SocketAddr) -> io::Result<SocketHandle> { let _ = local; todo!() }
    pub fn udp_send_to(&mut self, h: SocketHandle, data: &[u8], to: SocketAddr) -> io::Result<usize> { let _ = (h, data, to); todo!() }
    pub fn udp_recv_from(&mut self, h: SocketHandle, buf: &mut [u8]) -> io::Result<UdpRecv> { let _ = (h, buf); todo!() }
    pub fn udp_close(&mut self, h: SocketHandle) { let _ = h; todo!() }
    pub fn udp_local_addr(&self, h: SocketHandle) -> io::Result<SocketAddr> { let _ = h; todo!() }
}
