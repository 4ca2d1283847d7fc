//! Small traits so that every application in this crate runs over both
//! ustack ([`ustack_runtime::net`], [`ustack_runtime::tokio_net`]) and the
//! host's stack (`std::net`, `tokio::net`).
//!
//! Blocking side:
//! - [`Listener`]: `accept` → (stream, peer), `local_addr`,
//!   `set_nonblocking` (the servers poll a non-blocking listener so that a
//!   shutdown request is noticed without a wake-up connection).
//! - [`Connection`]: what a server hands a handler: `Read + Write + Send +
//!   'static` plus [`Shutdown`], timeouts, peer address and a second handle
//!   (`try_clone`) the server keeps to cut a connection off at shutdown.
//!
//! Async side: any `AsyncRead + AsyncWrite + Unpin + Send` stream
//! ([`AsyncConnection`] is the blanket alias) and [`AsyncListener`].
//!
//! Datagrams: [`DatagramSocket`] for `std::net::UdpSocket` and
//! [`ustack_runtime::net::UdpSocket`].
use std::future::Future;
use std::io::{self, Read, Write};
use std::net::SocketAddr;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite};

/// Half- or full-close of a stream (`std::net::TcpStream::shutdown`).
pub trait Shutdown {
    /// Shuts down reading, writing or both; `Write` sends a FIN.
    fn shutdown(&self, how: std::net::Shutdown) -> io::Result<()>;
}

/// A blocking byte stream as the servers hand it to handlers.
pub trait Connection: Read + Write + Shutdown + Send + 'static {
    /// The remote address.
    fn peer_addr(&self) -> io::Result<SocketAddr>;
    /// The local address.
    fn local_addr(&self) -> io::Result<SocketAddr>;
    /// Read timeout (`None` waits forever). An expired timeout is an error
    /// of kind `WouldBlock` or `TimedOut`, as with std on Linux.
    fn set_read_timeout(&self, dur: Option<Duration>) -> io::Result<()>;
    /// Write timeout.
    fn set_write_timeout(&self, dur: Option<Duration>) -> io::Result<()>;
    /// Blocking (`false`) or non-blocking mode.
    fn set_nonblocking(&self, nonblocking: bool) -> io::Result<()>;
    /// TCP_NODELAY.
    fn set_nodelay(&self, nodelay: bool) -> io::Result<()>;
    /// A second handle to the same connection.
    fn try_clone(&self) -> io::Result<Self>
    where
        Self: Sized;
}

/// A blocking listening socket.
pub trait Listener: Send + Sync + 'static {
    /// The connections it accepts.
    type Stream: Connection;
    /// Waits for (or, non-blocking, polls for) a connection.
    fn accept(&self) -> io::Result<(Self::Stream, SocketAddr)>;
    /// The bound address (with the real port when bound to port 0).
    fn local_addr(&self) -> io::Result<SocketAddr>;
    /// Non-blocking mode: `accept` returns `WouldBlock` when nobody waits.
    fn set_nonblocking(&self, nonblocking: bool) -> io::Result<()>;
    /// Waits up to `timeout` for a connection to become acceptable. The
    /// default just sleeps `timeout` (the caller polls); `std` listeners
    /// wait in `poll(2)` and return as soon as a connection arrives.
    fn wait_acceptable(&self, timeout: Duration) {
        std::thread::sleep(timeout);
    }
}

/// True for the error kinds an expired socket timeout produces.
pub fn is_timeout(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
    )
}

macro_rules! impl_connection {
    ($t:ty) => {
        impl Shutdown for $t {
            fn shutdown(&self, how: std::net::Shutdown) -> io::Result<()> {
                <$t>::shutdown(self, how)
            }
        }

        impl Connection for $t {
            fn peer_addr(&self) -> io::Result<SocketAddr> {
                <$t>::peer_addr(self)
            }
            fn local_addr(&self) -> io::Result<SocketAddr> {
                <$t>::local_addr(self)
            }
            fn set_read_timeout(&self, dur: Option<Duration>) -> io::Result<()> {
                <$t>::set_read_timeout(self, dur)
            }
            fn set_write_timeout(&self, dur: Option<Duration>) -> io::Result<()> {
                <$t>::set_write_timeout(self, dur)
            }
            fn set_nonblocking(&self, nonblocking: bool) -> io::Result<()> {
                <$t>::set_nonblocking(self, nonblocking)
            }
            fn set_nodelay(&self, nodelay: bool) -> io::Result<()> {
                <$t>::set_nodelay(self, nodelay)
            }
            fn try_clone(&self) -> io::Result<Self> {
                <$t>::try_clone(self)
            }
        }
    };
}

impl_connection!(std::net::TcpStream);
impl_connection!(ustack_runtime::net::TcpStream);

macro_rules! impl_listener {
    ($t:ty, $s:ty, poll) => {
        impl_listener!($t, $s, {
            fn wait_acceptable(&self, timeout: Duration) {
                poll_listener(self, timeout)
            }
        });
    };
    ($t:ty, $s:ty) => {
        impl_listener!($t, $s, {});
    };
    ($t:ty, $s:ty, { $($extra:tt)* }) => {
        impl Listener for $t {
            type Stream = $s;
            fn accept(&self) -> io::Result<($s, SocketAddr)> {
                <$t>::accept(self)
            }
            fn local_addr(&self) -> io::Result<SocketAddr> {
                <$t>::local_addr(self)
            }
            fn set_nonblocking(&self, nonblocking: bool) -> io::Result<()> {
                <$t>::set_nonblocking(self, nonblocking)
            }
            $($extra)*
        }
    };
}

impl_listener!(std::net::TcpListener, std::net::TcpStream, poll);
impl_listener!(
    ustack_runtime::net::TcpListener,
    ustack_runtime::net::TcpStream,
    {
        fn wait_acceptable(&self, timeout: Duration) {
            // Blocks on the stack's readiness events: returns as soon as a
            // connection is queued.
            let _ = ustack_runtime::net::TcpListener::wait_acceptable(self, timeout);
        }
    }
);

/// `poll(2)` on a listening descriptor for up to `timeout`.
fn poll_listener(l: &std::net::TcpListener, timeout: Duration) {
    use std::os::fd::AsRawFd;
    let mut fd = libc::pollfd {
        fd: l.as_raw_fd(),
        events: libc::POLLIN,
        revents: 0,
    };
    let ms = timeout.as_millis().clamp(1, i32::MAX as u128) as libc::c_int;
    // SAFETY: one valid pollfd whose descriptor `l` keeps open for the call.
    unsafe {
        libc::poll(&mut fd, 1, ms);
    }
}

/// Any async byte stream the async applications accept.
pub trait AsyncConnection: AsyncRead + AsyncWrite + Unpin + Send + 'static {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send + 'static> AsyncConnection for T {}

/// An async listening socket.
pub trait AsyncListener: Send + Sync + 'static {
    /// The connections it accepts.
    type Stream: AsyncConnection;
    /// Waits for a connection.
    fn accept(&self) -> impl Future<Output = io::Result<(Self::Stream, SocketAddr)>> + Send;
    /// The bound address.
    fn local_addr(&self) -> io::Result<SocketAddr>;
}

impl AsyncListener for tokio::net::TcpListener {
    type Stream = tokio::net::TcpStream;
    fn accept(&self) -> impl Future<Output = io::Result<(Self::Stream, SocketAddr)>> + Send {
        tokio::net::TcpListener::accept(self)
    }
    fn local_addr(&self) -> io::Result<SocketAddr> {
        tokio::net::TcpListener::local_addr(self)
    }
}

impl AsyncListener for ustack_runtime::tokio_net::TcpListener {
    type Stream = ustack_runtime::tokio_net::TcpStream;
    fn accept(&self) -> impl Future<Output = io::Result<(Self::Stream, SocketAddr)>> + Send {
        ustack_runtime::tokio_net::TcpListener::accept(self)
    }
    fn local_addr(&self) -> io::Result<SocketAddr> {
        ustack_runtime::tokio_net::TcpListener::local_addr(self)
    }
}

/// A datagram socket (UDP), blocking.
pub trait DatagramSocket: Send + Sync + 'static {
    /// One datagram: (bytes copied, sender). Longer datagrams are truncated.
    fn recv_from(&self, buf: &mut [u8]) -> io::Result<(usize, SocketAddr)>;
    /// Sends one datagram.
    fn send_to(&self, buf: &[u8], to: SocketAddr) -> io::Result<usize>;
    /// Read timeout for `recv_from`.
    fn set_read_timeout(&self, dur: Option<Duration>) -> io::Result<()>;
    /// The bound address.
    fn local_addr(&self) -> io::Result<SocketAddr>;
}

impl DatagramSocket for std::net::UdpSocket {
    fn recv_from(&self, buf: &mut [u8]) -> io::Result<(usize, SocketAddr)> {
        std::net::UdpSocket::recv_from(self, buf)
    }
    fn send_to(&self, buf: &[u8], to: SocketAddr) -> io::Result<usize> {
        std::net::UdpSocket::send_to(self, buf, to)
    }
    fn set_read_timeout(&self, dur: Option<Duration>) -> io::Result<()> {
        std::net::UdpSocket::set_read_timeout(self, dur)
    }
    fn local_addr(&self) -> io::Result<SocketAddr> {
        std::net::UdpSocket::local_addr(self)
    }
}

impl DatagramSocket for ustack_runtime::net::UdpSocket {
    fn recv_from(&self, buf: &mut [u8]) -> io::Result<(usize, SocketAddr)> {
        ustack_runtime::net::UdpSocket::recv_from(self, buf)
    }
    fn send_to(&self, buf: &[u8], to: SocketAddr) -> io::Result<usize> {
        ustack_runtime::net::UdpSocket::send_to(self, buf, to)
    }
    fn set_read_timeout(&self, dur: Option<Duration>) -> io::Result<()> {
        ustack_runtime::net::UdpSocket::set_read_timeout(self, dur)
    }
    fn local_addr(&self) -> io::Result<SocketAddr> {
        ustack_runtime::net::UdpSocket::local_addr(self)
    }
}
