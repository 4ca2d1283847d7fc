//! Blocking sockets that mirror `std::net`: [`TcpListener`], [`TcpStream`],
//! [`UdpSocket`]. Errors are `std::io::Error` with the kinds a Linux user
//! expects (ConnectionRefused, ConnectionReset, TimedOut, AddrInUse,
//! BrokenPipe, WouldBlock with non-blocking mode...).
use crate::sockopt::PreSocket;
use crate::{Interest, Netstack, Shared};
use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, ToSocketAddrs};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Wake, Waker};
use std::thread::{self, Thread};
use std::time::{Duration, Instant};
use ustack::{SocketHandle, Stack, TcpState};

/// Default listen backlog (Linux's default somaxconn is 4096; std uses 128).
pub const DEFAULT_BACKLOG: usize = 128;

/// Wakes a thread blocked in a socket call: unparks it, and signals its
/// eventfd in case it waits for the device in `ppoll` instead of parking
/// (see `Shared::wait_as_poller`).
struct ThreadWaker {
    thread: Thread,
    /// The thread's eventfd (None if it could not be created: the thread
    /// then only ever parks).
    fd: Option<OwnedFd>,
    /// Set after the eventfd is written; the owner clears the eventfd only
    /// when set (it also clears it whenever `ppoll` finds it readable).
    signalled: AtomicBool,
}

impl Wake for ThreadWaker {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }
    fn wake_by_ref(self: &Arc<Self>) {
        if thread::current().id() == self.thread.id() {
            // Woken by its own call (it handled the packets itself): it is
            // not waiting and retries before it waits again.
            return;
        }
        if let Some(fd) = &self.fd {
            let one: u64 = 1;
            // SAFETY: writes 8 bytes from a live u64 to an eventfd we own.
            unsafe {
                libc::write(fd.as_raw_fd(), (&one as *const u64).cast(), 8);
            }
            self.signalled.store(true, Ordering::SeqCst);
        }
        self.thread.unpark();
    }
}

/// The calling thread's waker and its eventfd.
struct BlockingWaker {
    waker: Waker,
    inner: Arc<ThreadWaker>,
    fd: Option<RawFd>,
}

impl BlockingWaker {
    /// Clears the eventfd if a wake-up was signalled on it.
    fn clear(&self) {
        if let Some(fd) = self.fd {
            if self.inner.signalled.swap(false, Ordering::SeqCst) {
                clear_eventfd(fd);
            }
        }
    }
}

fn new_blocking_waker() -> BlockingWaker {
    // SAFETY: plain syscall; the result is checked.
    let raw = unsafe { libc::eventfd(0, libc::EFD_NONBLOCK | libc::EFD_CLOEXEC) };
    // SAFETY: a new descriptor nothing else owns.
    let fd = (raw >= 0).then(|| unsafe { OwnedFd::from_raw_fd(raw) });
    let raw = fd.as_ref().map(|f| f.as_raw_fd());
    let inner = Arc::new(ThreadWaker {
        thread: thread::current(),
        fd,
        signalled: AtomicBool::new(false),
    });
    BlockingWaker {
        waker: Waker::from(inner.clone()),
        inner,
        fd: raw,
    }
}

thread_local! {
    static THREAD_WAKER: BlockingWaker = new_blocking_waker();
}

pub(crate) fn clear_eventfd(fd: RawFd) {
    let mut v: u64 = 0;
    // SAFETY: reads 8 bytes into a live u64 from a non-blocking eventfd
    // owned by this thread's waker (EAGAIN when already clear).
    unsafe {
        libc::read(fd, (&mut v as *mut u64).cast(), 8);
    }
}

fn would_block(e: &io::Error) -> bool {
    e.kind() == io::ErrorKind::WouldBlock
}

/// Retries `f` until it does not return WouldBlock, parking in between;
/// `timeout` None waits forever. Non-blocking sockets return at once.
fn block_on<T>(
    shared: &Shared,
    h: SocketHandle,
    interest: Interest,
    timeout: Option<Duration>,
    nonblocking: bool,
    mut f: impl FnMut(&mut Stack) -> io::Result<T>,
) -> io::Result<T> {
    if nonblocking {
        return shared.with(f);
    }
    let deadline = timeout.map(|t| Instant::now() + t);
    THREAD_WAKER.with(|tw| loop {
        // Cleared before the attempt: a wake-up after the registration
        // below leaves it readable, so the wait returns at once.
        tw.clear();
        match shared.try_or_register_woken(h, interest, &tw.waker, &mut f) {
            // Made ready by this very call (loopback): try again at once.
            (Err(e), true) if would_block(&e) => continue,
            (Err(e), false) if would_block(&e) => {}
            (other, _) => return other,
        }
        let left = match deadline {
            Some(d) => {
                let now = Instant::now();
                if now >= d {
                    return Err(io::Error::new(
                        io::ErrorKind::TimedOut,
                        "operation timed out",
                    ));
                }
                Some(d - now)
            }
            None => None,
        };
        // Wait for the device ourselves if we may (one wake-up instead of
        // device → driver → us); otherwise park until our waker runs.
        if tw
            .fd
            .is_some_and(|fd| shared.wait_as_poller(fd, &tw.inner.signalled, left))
        {
            continue;
        }
        match left {
            Some(t) => thread::park_timeout(t),
            None => thread::park(),
        }
    })
}

fn resolve(addr: impl ToSocketAddrs) -> io::Result<Vec<SocketAddr>> {
    let v: Vec<SocketAddr> = addr.to_socket_addrs()?.collect();
    if v.is_empty() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "could not resolve to any addresses",
        ));
    }
    Ok(v)
}

// ---------------------------------------------------------------------
// TCP listener
// ---------------------------------------------------------------------

/// Closes a listener or a UDP socket when the last of its handles
/// (`try_clone`) goes.
#[derive(Debug)]
struct Owner {
    ns: Netstack,
    h: SocketHandle,
    udp: bool,
}

impl Owner {
    fn new(ns: &Netstack, h: SocketHandle, udp: bool) -> Arc<Owner> {
        Arc::new(Owner {
            ns: ns.clone(),
            h,
            udp,
        })
    }
}

impl Drop for Owner {
    fn drop(&mut self) {
        let h = self.h;
        if self.udp {
            self.ns.shared.release(h, |s| s.udp_close(h));
        } else {
            self.ns.shared.release(h, |s| s.tcp_close(h));
        }
    }
}

/// A TCP socket server, listening for connections (like
/// `std::net::TcpListener`). The listener closes when the last of its
/// handles (`try_clone`) goes.
#[derive(Debug)]
pub struct TcpListener {
    ns: Netstack,
    h: SocketHandle,
    /// Shared by the clones, as O_NONBLOCK by duplicated descriptors.
    nonblocking: Arc<AtomicBool>,
    _owner: Arc<Owner>,
}

impl TcpListener {
    fn new(ns: &Netstack, h: SocketHandle) -> TcpListener {
        TcpListener {
            ns: ns.clone(),
            h,
            nonblocking: Arc::default(),
            _owner: Owner::new(ns, h, false),
        }
    }

    /// A new handle to the same listener (like std's: options and
    /// non-blocking mode are shared; it closes when all handles are gone).
    pub fn try_clone(&self) -> io::Result<TcpListener> {
        Ok(TcpListener {
            ns: self.ns.clone(),
            h: self.h,
            nonblocking: self.nonblocking.clone(),
            _owner: self._owner.clone(),
        })
    }
    /// Binds and listens with the default backlog (128).
    pub fn bind(ns: &Netstack, addr: impl ToSocketAddrs) -> io::Result<TcpListener> {
        Self::bind_with(ns, addr, DEFAULT_BACKLOG, true)
    }

    /// Binds and listens with an explicit backlog and SO_REUSEADDR choice
    /// (std sets SO_REUSEADDR on Unix, so `bind` does too).
    pub fn bind_with(
        ns: &Netstack,
        addr: impl ToSocketAddrs,
        backlog: usize,
        reuse_addr: bool,
    ) -> io::Result<TcpListener> {
        let mut last = None;
        for a in resolve(addr)? {
            match ns
                .shared
                .with(|s| s.tcp_listen_reuse(a, backlog, reuse_addr))
            {
                Ok(h) => return Ok(TcpListener::new(ns, h)),
                Err(e) => last = Some(e),
            }
        }
        Err(last.unwrap_or_else(|| io::Error::from(io::ErrorKind::InvalidInput)))
    }

    /// Waits for a connection.
    pub fn accept(&self) -> io::Result<(TcpStream, SocketAddr)> {
        let nb = self.nonblocking.load(Ordering::Relaxed);
        let (h, peer) = block_on(&self.ns.shared, self.h, Interest::Read, None, nb, |s| {
            s.tcp_accept(self.h)
        })?;
        Ok((TcpStream::from_handle(&self.ns, h), peer))
    }

    /// Like `accept`, giving up with `TimedOut` after `timeout`.
    pub fn accept_timeout(&self, timeout: Duration) -> io::Result<(TcpStream, SocketAddr)> {
        let (h, peer) = block_on(
            &self.ns.shared,
            self.h,
            Interest::Read,
            Some(timeout),
            false,
            |s| s.tcp_accept(self.h),
        )?;
        Ok((TcpStream::from_handle(&self.ns, h), peer))
    }

    /// Waits up to `timeout` until a connection is ready to be accepted
    /// (without taking it); true when one is.
    pub fn wait_acceptable(&self, timeout: Duration) -> io::Result<bool> {
        let r = block_on(
            &self.ns.shared,
            self.h,
            Interest::Read,
            Some(timeout),
            false,
            |s| {
                if s.tcp_accept_ready(self.h)? > 0 {
                    Ok(())
                } else {
                    Err(io::ErrorKind::WouldBlock.into())
                }
            },
        );
        match r {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == io::ErrorKind::TimedOut => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// An iterator over incoming connections (never returns None).
    pub fn incoming(&self) -> Incoming<'_> {
        Incoming { listener: self }
    }

    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.ns.shared.with(|s| s.tcp_local_addr(self.h))
    }

    crate::sockopt::listener_option_methods!();

    pub fn set_nonblocking(&self, nonblocking: bool) -> io::Result<()> {
        self.nonblocking.store(nonblocking, Ordering::Relaxed);
        Ok(())
    }

    /// The stack this listener lives on.
    pub fn netstack(&self) -> &Netstack {
        &self.ns
    }
}

// ---------------------------------------------------------------------
// TCP socket (options before connect or listen)
// ---------------------------------------------------------------------

/// A TCP socket not yet connected or listening, to set options that must
/// be in place before the handshake (like tokio's `TcpSocket` or
/// socket2's `Socket`). A listener made from it passes its buffer sizes,
/// TCP_NODELAY, congestion control, keepalive, IP_TTL, IP_TOS, SO_LINGER
/// and TCP_USER_TIMEOUT on to every connection it accepts, as Linux does; a connection gets them before its SYN
/// leaves, so the receive buffer sizes the window scale it offers
/// (RFC 7323 §2.2).
///
/// ```no_run
/// # fn f(ns: &ustack_runtime::Netstack) -> std::io::Result<()> {
/// use ustack_runtime::net::TcpSocket;
/// let socket = TcpSocket::new(ns);
/// socket.set_reuseaddr(true)?;
/// socket.set_recv_buffer_size(16 << 20)?; // offered as window scale 9
/// socket.set_nodelay(true)?;
/// socket.bind("198.18.0.2:8080".parse().unwrap())?;
/// let listener = socket.listen(1024)?;
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct TcpSocket {
    ns: Netstack,
    pre: PreSocket,
}

impl TcpSocket {
    crate::sockopt::pre_socket_methods!();

    /// SO_SNDBUF (clamped to 1 byte .. 1 GiB); as on Linux, turns
    /// send-buffer auto-tuning off for the socket.
    pub fn set_send_buffer_size(&self, bytes: usize) -> io::Result<()> {
        self.pre.set_send_buffer(bytes);
        Ok(())
    }

    pub fn send_buffer_size(&self) -> io::Result<usize> {
        Ok(self.ns.shared.with(|s| self.pre.send_buffer(s)))
    }

    /// SO_RCVBUF (clamped to 1 byte .. 1 GiB); it bounds the window, sets
    /// the window scale offered in the handshake and, as on Linux, turns
    /// receive-buffer auto-tuning off for the socket.
    pub fn set_recv_buffer_size(&self, bytes: usize) -> io::Result<()> {
        self.pre.set_recv_buffer(bytes);
        Ok(())
    }

    pub fn recv_buffer_size(&self) -> io::Result<usize> {
        Ok(self.ns.shared.with(|s| self.pre.recv_buffer(s)))
    }

    /// Connects with the options set; waits for the handshake.
    pub fn connect(self, addr: SocketAddr) -> io::Result<TcpStream> {
        TcpStream::connect_with(&self.ns, None, |s| self.pre.connect(s, addr))
    }

    /// Like `connect`, giving up with `TimedOut` after `timeout`.
    pub fn connect_timeout(self, addr: SocketAddr, timeout: Duration) -> io::Result<TcpStream> {
        check_timeout(Some(timeout))?;
        TcpStream::connect_with(&self.ns, Some(timeout), |s| self.pre.connect(s, addr))
    }

    /// Listens on the bound address; the accepted connections inherit
    /// the options.
    pub fn listen(self, backlog: usize) -> io::Result<TcpListener> {
        let h = self.ns.shared.with(|s| self.pre.listen(s, backlog))?;
        Ok(TcpListener::new(&self.ns, h))
    }
}

/// Iterator returned by [`TcpListener::incoming`].
pub struct Incoming<'a> {
    listener: &'a TcpListener,
}

impl Iterator for Incoming<'_> {
    type Item = io::Result<TcpStream>;
    fn next(&mut self) -> Option<io::Result<TcpStream>> {
        Some(self.listener.accept().map(|(s, _)| s))
    }
}

// ---------------------------------------------------------------------
// TCP stream
// ---------------------------------------------------------------------

/// Shared by clones of one stream; the connection closes when the last
/// clone goes.
#[derive(Debug)]
struct StreamInner {
    ns: Netstack,
    h: SocketHandle,
    read_timeout: Mutex<Option<Duration>>,
    write_timeout: Mutex<Option<Duration>>,
    nonblocking: AtomicBool,
}

impl Drop for StreamInner {
    fn drop(&mut self) {
        let h = self.h;
        self.linger();
        // Graceful close: queued data is still delivered, then FIN; with
        // unread received data the stack sends RST (Linux behaviour), and
        // with a zero SO_LINGER it aborts.
        self.ns.shared.release(h, |s| s.tcp_close(h));
    }
}

impl StreamInner {
    /// SO_LINGER with a time, as Linux's close (`sk_stream_wait_close`):
    /// the FIN goes after the queued data, and the close waits until it
    /// is acknowledged, the connection fails, or the time is up (then the
    /// data is still delivered in the background, as on Linux). Nothing to
    /// wait for with unread data (the close resets), before the handshake
    /// completes, or once the FIN is acknowledged.
    fn linger(&self) {
        let h = self.h;
        let limit = self.ns.shared.with(|s| {
            let t = s.tcp_linger(h).ok().flatten().filter(|t| !t.is_zero())?;
            if s.tcp_recv_available(h).ok()? > 0 {
                return None;
            }
            match s.tcp_state(h).ok()? {
                TcpState::Established | TcpState::CloseWait => {
                    s.tcp_shutdown(h, Shutdown::Write).ok()?;
                }
                TcpState::FinWait1 | TcpState::Closing | TcpState::LastAck => {}
                _ => return None,
            }
            Some(t)
        });
        let Some(limit) = limit else {
            return;
        };
        // The outcome does not matter: the close that follows is the same.
        let _ = block_on(
            &self.ns.shared,
            h,
            Interest::Write,
            Some(limit),
            false,
            |s| match s.tcp_state(h) {
                Ok(TcpState::FinWait1 | TcpState::Closing | TcpState::LastAck) => Err(
                    io::Error::new(io::ErrorKind::WouldBlock, "FIN not acknowledged yet"),
                ),
                _ => Ok(()),
            },
        );
    }
}

/// A TCP connection (like `std::net::TcpStream`). Dropping the last clone
/// closes it gracefully.
#[derive(Debug, Clone)]
pub struct TcpStream {
    inner: Arc<StreamInner>,
}

impl TcpStream {
    fn from_handle(ns: &Netstack, h: SocketHandle) -> TcpStream {
        TcpStream {
            inner: Arc::new(StreamInner {
                ns: ns.clone(),
                h,
                read_timeout: Mutex::new(None),
                write_timeout: Mutex::new(None),
                nonblocking: AtomicBool::new(false),
            }),
        }
    }

    /// Opens a connection; waits for the handshake. A RST answer is
    /// `ConnectionRefused`; no answer after the SYN retries is `TimedOut`.
    pub fn connect(ns: &Netstack, addr: impl ToSocketAddrs) -> io::Result<TcpStream> {
        let mut last = None;
        for a in resolve(addr)? {
            match Self::connect_one(ns, a, None) {
                Ok(s) => return Ok(s),
                Err(e) => last = Some(e),
            }
        }
        Err(last.unwrap_or_else(|| io::Error::from(io::ErrorKind::InvalidInput)))
    }

    /// Like `connect`, giving up after `timeout`.
    pub fn connect_timeout(
        ns: &Netstack,
        addr: &SocketAddr,
        timeout: Duration,
    ) -> io::Result<TcpStream> {
        if timeout.is_zero() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "cannot set a 0 duration timeout",
            ));
        }
        Self::connect_one(ns, *addr, Some(timeout))
    }

    fn connect_one(
        ns: &Netstack,
        addr: SocketAddr,
        timeout: Option<Duration>,
    ) -> io::Result<TcpStream> {
        Self::connect_with(ns, timeout, |s| s.tcp_connect(addr, None))
    }

    /// Waits for the handshake of the connection `open` starts.
    fn connect_with(
        ns: &Netstack,
        timeout: Option<Duration>,
        open: impl FnOnce(&mut Stack) -> io::Result<SocketHandle>,
    ) -> io::Result<TcpStream> {
        let h = ns.shared.with(open)?;
        // The stream owns the handle from here (its drop releases it).
        let stream = TcpStream::from_handle(ns, h);
        block_on(&ns.shared, h, Interest::Write, timeout, false, |s| {
            wait_established(s, h)
        })?;
        Ok(stream)
    }

    fn h(&self) -> SocketHandle {
        self.inner.h
    }

    fn shared(&self) -> &Shared {
        &self.inner.ns.shared
    }

    fn nb(&self) -> bool {
        self.inner.nonblocking.load(Ordering::Relaxed)
    }

    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        let h = self.h();
        self.shared().with(|s| s.tcp_peer_addr(h))
    }

    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        let h = self.h();
        self.shared().with(|s| s.tcp_local_addr(h))
    }

    /// Shuts down reading, writing or both (FIN is sent for writing).
    pub fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        let h = self.h();
        self.shared().with(|s| s.tcp_shutdown(h, how))
    }

    /// A new handle to the same connection.
    pub fn try_clone(&self) -> io::Result<TcpStream> {
        Ok(self.clone())
    }

    pub fn set_nodelay(&self, nodelay: bool) -> io::Result<()> {
        let h = self.h();
        self.shared().with(|s| s.tcp_set_nodelay(h, nodelay))
    }

    pub fn nodelay(&self) -> io::Result<bool> {
        let h = self.h();
        self.shared().with(|s| s.tcp_nodelay(h))
    }

    /// SO_KEEPALIVE with its times (`ustack::Keepalive::default()` is
    /// Linux's: 2 h idle, 75 s between probes, 9 probes); None turns it
    /// off. A peer that stays silent through the probes makes reads and
    /// writes fail with TimedOut.
    pub fn set_keepalive(&self, keepalive: Option<ustack::Keepalive>) -> io::Result<()> {
        let h = self.h();
        self.shared().with(|s| s.tcp_set_keepalive(h, keepalive))
    }

    pub fn keepalive(&self) -> io::Result<Option<ustack::Keepalive>> {
        let h = self.h();
        self.shared().with(|s| s.tcp_keepalive(h))
    }

    /// IP_TOS: the Differentiated Services field of the packets it sends
    /// from now on (RFC 9293 §3.9.1.9), 0–255; the two ECN bits are TCP's
    /// and stay clear, as on Linux.
    pub fn set_tos(&self, tos: u32) -> io::Result<()> {
        let h = self.h();
        self.shared().with(|s| s.tcp_set_tos(h, tos))
    }

    pub fn tos(&self) -> io::Result<u32> {
        let h = self.h();
        self.shared().with(|s| s.tcp_tos(h))
    }

    /// IP_TTL of the packets it sends from now on (1–255).
    pub fn set_ttl(&self, ttl: u32) -> io::Result<()> {
        let h = self.h();
        self.shared().with(|s| s.tcp_set_ttl(h, ttl))
    }

    /// SO_LINGER, for when the last handle is dropped. None (the
    /// default): the drop returns at once and the queued data is still
    /// delivered, then the FIN. `Some(Duration::ZERO)`: the drop aborts
    /// the connection: queued data is discarded, the peer gets a RST
    /// (its reads fail with ConnectionReset) and there is no TIME-WAIT.
    /// `Some(t)`: the drop sends the FIN after the queued data and blocks
    /// until the peer has acknowledged it, or for at most `t` (after that
    /// the data is still delivered in the background, as on Linux).
    /// Unlike Linux, which keeps whole seconds, the time is kept as given.
    pub fn set_linger(&self, linger: Option<Duration>) -> io::Result<()> {
        let h = self.h();
        self.shared().with(|s| s.tcp_set_linger(h, linger))
    }

    pub fn linger(&self) -> io::Result<Option<Duration>> {
        let h = self.h();
        self.shared().with(|s| s.tcp_linger(h))
    }

    /// send() with MSG_OOB: writes `buf` (what fits, as `write`) as
    /// urgent data (RFC 9293 §3.8.5): it stays in the stream, and the
    /// segments up to it carry URG with the urgent pointer after its last
    /// byte. A Linux peer without SO_OOBINLINE reads the last byte out of
    /// band (`recv(MSG_OOB)`), a ustack peer sees it in `urgent_pending`.
    pub fn send_urgent(&self, buf: &[u8]) -> io::Result<usize> {
        self.send_with(buf, true)
    }

    /// How many bytes of the peer's urgent data are not read yet (0:
    /// none): they come inline, in order, ending with the last urgent
    /// byte (ioctl SIOCATMARK is true when this is 0 after urgent data).
    pub fn urgent_pending(&self) -> io::Result<usize> {
        let h = self.h();
        self.shared().with(|s| s.tcp_urgent_pending(h))
    }

    /// TCP_USER_TIMEOUT (RFC 5482; RFC 9293's USER TIMEOUT): how long sent
    /// data may stay unacknowledged, or queued data unsent behind a zero
    /// window, before the connection fails and reads and writes return
    /// TimedOut (Linux's default gives up after 15 retransmissions, some
    /// 15 minutes). With keepalive on, a peer silent that long after a
    /// probe is given up too. Whole milliseconds; None or zero: off.
    pub fn set_user_timeout(&self, t: Option<Duration>) -> io::Result<()> {
        let h = self.h();
        self.shared().with(|s| s.tcp_set_user_timeout(h, t))
    }

    pub fn user_timeout(&self) -> io::Result<Option<Duration>> {
        let h = self.h();
        self.shared().with(|s| s.tcp_user_timeout(h))
    }

    pub fn ttl(&self) -> io::Result<u32> {
        let h = self.h();
        self.shared().with(|s| s.tcp_ttl(h))
    }

    /// TCP_CONGESTION: switches the congestion controller; the window
    /// carries over, as on Linux.
    pub fn set_congestion(&self, kind: ustack::CongestionKind) -> io::Result<()> {
        let h = self.h();
        self.shared().with(|s| s.tcp_set_congestion(h, kind))
    }

    pub fn congestion(&self) -> io::Result<ustack::CongestionKind> {
        let h = self.h();
        self.shared().with(|s| s.tcp_congestion(h))
    }

    pub fn set_read_timeout(&self, dur: Option<Duration>) -> io::Result<()> {
        check_timeout(dur)?;
        *self
            .inner
            .read_timeout
            .lock()
            .unwrap_or_else(|e| e.into_inner()) = dur;
        Ok(())
    }

    pub fn set_write_timeout(&self, dur: Option<Duration>) -> io::Result<()> {
        check_timeout(dur)?;
        *self
            .inner
            .write_timeout
            .lock()
            .unwrap_or_else(|e| e.into_inner()) = dur;
        Ok(())
    }

    pub fn read_timeout(&self) -> io::Result<Option<Duration>> {
        Ok(*self
            .inner
            .read_timeout
            .lock()
            .unwrap_or_else(|e| e.into_inner()))
    }

    pub fn write_timeout(&self) -> io::Result<Option<Duration>> {
        Ok(*self
            .inner
            .write_timeout
            .lock()
            .unwrap_or_else(|e| e.into_inner()))
    }

    pub fn set_nonblocking(&self, nonblocking: bool) -> io::Result<()> {
        self.inner.nonblocking.store(nonblocking, Ordering::Relaxed);
        Ok(())
    }

    /// SO_SNDBUF (never below what is queued). The buffer is then fixed:
    /// no more auto-tuning, as on Linux.
    pub fn set_send_buffer_size(&self, bytes: usize) -> io::Result<()> {
        let h = self.h();
        self.shared().with(|s| s.tcp_set_send_buffer(h, bytes))
    }

    /// SO_RCVBUF (grows the buffer; the window scale was fixed at connect).
    /// The buffer is then fixed: no more auto-tuning, as on Linux.
    pub fn set_recv_buffer_size(&self, bytes: usize) -> io::Result<()> {
        let h = self.h();
        self.shared().with(|s| s.tcp_set_recv_buffer(h, bytes))
    }

    pub fn send_buffer_size(&self) -> io::Result<usize> {
        let h = self.h();
        self.shared().with(|s| s.tcp_buffer_sizes(h)).map(|b| b.0)
    }

    pub fn recv_buffer_size(&self) -> io::Result<usize> {
        let h = self.h();
        self.shared().with(|s| s.tcp_buffer_sizes(h)).map(|b| b.1)
    }

    /// SO_ERROR: takes the pending error, if any.
    pub fn take_error(&self) -> io::Result<Option<io::Error>> {
        let h = self.h();
        self.shared().with(|s| s.tcp_take_error(h))
    }

    /// TCP_INFO-like snapshot (state, cwnd, RTT, counters).
    pub fn info(&self) -> io::Result<ustack::TcpInfo> {
        let h = self.h();
        self.shared().with(|s| s.tcp_info(h))
    }

    /// Closes with RST at once (SO_LINGER 0): the peer sees
    /// ConnectionReset; queued data is discarded.
    pub fn abort(self) {
        let h = self.h();
        self.shared().with(|s| s.tcp_abort(h));
    }

    fn read_inner(&self, buf: &mut [u8]) -> io::Result<usize> {
        self.read_with(buf, Stack::tcp_recv)
    }

    /// Like `read`, leaving the data queued (MSG_PEEK): waits for data as
    /// `read` does; 0 at the end of the stream.
    pub fn peek(&self, buf: &mut [u8]) -> io::Result<usize> {
        self.read_with(buf, Stack::tcp_peek)
    }

    /// A blocking read (`op`: receive or peek) with the read timeout.
    fn read_with(
        &self,
        buf: &mut [u8],
        op: fn(&mut Stack, SocketHandle, &mut [u8]) -> io::Result<usize>,
    ) -> io::Result<usize> {
        let h = self.h();
        let timeout = *self
            .inner
            .read_timeout
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        block_on(self.shared(), h, Interest::Read, timeout, self.nb(), |s| {
            op(s, h, buf)
        })
        .map_err(fix_timeout_kind)
    }

    fn write_inner(&self, buf: &[u8]) -> io::Result<usize> {
        self.send_with(buf, false)
    }

    fn send_with(&self, buf: &[u8], urgent: bool) -> io::Result<usize> {
        let h = self.h();
        let timeout = *self
            .inner
            .write_timeout
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        block_on(self.shared(), h, Interest::Write, timeout, self.nb(), |s| {
            if urgent {
                s.tcp_send_urgent(h, buf)
            } else {
                s.tcp_send(h, buf)
            }
        })
        .map_err(fix_timeout_kind)
    }
}

/// std reports an expired socket timeout as WouldBlock on Unix.
fn fix_timeout_kind(e: io::Error) -> io::Error {
    if e.kind() == io::ErrorKind::TimedOut && e.to_string() == "operation timed out" {
        io::Error::new(io::ErrorKind::WouldBlock, "socket timeout expired")
    } else {
        e
    }
}

fn check_timeout(dur: Option<Duration>) -> io::Result<()> {
    if dur == Some(Duration::ZERO) {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "cannot set a 0 duration timeout",
        ));
    }
    Ok(())
}

/// Connect completion: Ok once synchronized, the pending error if the
/// attempt failed, WouldBlock while the handshake runs.
pub(crate) fn wait_established(s: &mut Stack, h: SocketHandle) -> io::Result<()> {
    match s.tcp_state(h)? {
        TcpState::SynSent | TcpState::SynReceived => Err(io::ErrorKind::WouldBlock.into()),
        TcpState::Closed => Err(s.tcp_take_error(h)?.unwrap_or_else(|| {
            io::Error::new(io::ErrorKind::ConnectionRefused, "connection refused")
        })),
        _ => Ok(()),
    }
}

impl Read for TcpStream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.read_inner(buf)
    }
}

impl Read for &TcpStream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.read_inner(buf)
    }
}

impl Write for TcpStream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.write_inner(buf)
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Write for &TcpStream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.write_inner(buf)
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

// ---------------------------------------------------------------------
// UDP
// ---------------------------------------------------------------------

/// A UDP socket (like `std::net::UdpSocket`). Message boundaries are
/// kept; [`UdpSocket::recv_from_full`] also says whether a datagram was
/// truncated by a short buffer. The socket closes when the last of its
/// handles (`try_clone`) goes.
#[derive(Debug)]
pub struct UdpSocket {
    ns: Netstack,
    h: SocketHandle,
    /// Shared by the clones, as the socket's state is by duplicated
    /// descriptors.
    peer: Arc<Mutex<Option<SocketAddr>>>,
    read_timeout: Arc<Mutex<Option<Duration>>>,
    nonblocking: Arc<AtomicBool>,
    _owner: Arc<Owner>,
}

impl UdpSocket {
    pub fn bind(ns: &Netstack, addr: impl ToSocketAddrs) -> io::Result<UdpSocket> {
        Self::bind_with(ns, addr, None)
    }

    /// Binds with IPV6_V6ONLY chosen (`None`: the stack's default,
    /// `Config::ipv6_only`); it matters for `[::]` only, where `true`
    /// leaves IPv4 to a socket on `0.0.0.0`.
    pub fn bind_with(
        ns: &Netstack,
        addr: impl ToSocketAddrs,
        only_v6: Option<bool>,
    ) -> io::Result<UdpSocket> {
        let opts = ustack::BindOptions {
            reuse_addr: false,
            only_v6,
        };
        let mut last = None;
        for a in resolve(addr)? {
            match ns.shared.with(|s| s.udp_bind_with(a, opts)) {
                Ok(h) => {
                    return Ok(UdpSocket {
                        ns: ns.clone(),
                        h,
                        peer: Arc::default(),
                        read_timeout: Arc::default(),
                        nonblocking: Arc::default(),
                        _owner: Owner::new(ns, h, true),
                    })
                }
                Err(e) => last = Some(e),
            }
        }
        Err(last.unwrap_or_else(|| io::Error::from(io::ErrorKind::InvalidInput)))
    }

    pub fn send_to(&self, buf: &[u8], addr: impl ToSocketAddrs) -> io::Result<usize> {
        let to = resolve(addr)?[0];
        let h = self.h;
        self.ns.shared.with(|s| s.udp_send_to(h, buf, to))
    }

    /// Receives one datagram; returns (bytes copied, sender). A datagram
    /// longer than `buf` is truncated (as std does).
    pub fn recv_from(&self, buf: &mut [u8]) -> io::Result<(usize, SocketAddr)> {
        self.recv_from_full(buf).map(|r| (r.len, r.from))
    }

    /// Receives one datagram, reporting truncation and the full length.
    pub fn recv_from_full(&self, buf: &mut [u8]) -> io::Result<ustack::UdpRecv> {
        let h = self.h;
        let timeout = *self.read_timeout.lock().unwrap_or_else(|e| e.into_inner());
        let nb = self.nonblocking.load(Ordering::Relaxed);
        block_on(&self.ns.shared, h, Interest::Read, timeout, nb, |s| {
            s.udp_recv_from(h, buf)
        })
        .map_err(fix_timeout_kind)
    }

    /// Like `recv_from`, leaving the datagram queued (MSG_PEEK).
    pub fn peek_from(&self, buf: &mut [u8]) -> io::Result<(usize, SocketAddr)> {
        let h = self.h;
        let timeout = *self.read_timeout.lock().unwrap_or_else(|e| e.into_inner());
        let nb = self.nonblocking.load(Ordering::Relaxed);
        block_on(&self.ns.shared, h, Interest::Read, timeout, nb, |s| {
            s.udp_peek_from(h, buf)
        })
        .map(|r| (r.len, r.from))
        .map_err(fix_timeout_kind)
    }

    /// Like `recv`, leaving the datagram queued.
    pub fn peek(&self, buf: &mut [u8]) -> io::Result<usize> {
        self.peer_addr()?;
        self.peek_from(buf).map(|(n, _)| n)
    }

    /// Sets the default peer for `send`/`recv` and filters input to it.
    pub fn connect(&self, addr: impl ToSocketAddrs) -> io::Result<()> {
        let peer = resolve(addr)?[0];
        let h = self.h;
        self.ns.shared.with(|s| s.udp_connect(h, peer))?;
        *self.peer.lock().unwrap_or_else(|e| e.into_inner()) = Some(peer);
        Ok(())
    }

    pub fn send(&self, buf: &[u8]) -> io::Result<usize> {
        let peer = (*self.peer.lock().unwrap_or_else(|e| e.into_inner()))
            .ok_or_else(|| io::Error::new(io::ErrorKind::NotConnected, "not connected"))?;
        self.send_to(buf, peer)
    }

    pub fn recv(&self, buf: &mut [u8]) -> io::Result<usize> {
        self.recv_from(buf).map(|(n, _)| n)
    }

    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        (*self.peer.lock().unwrap_or_else(|e| e.into_inner()))
            .ok_or_else(|| io::Error::new(io::ErrorKind::NotConnected, "not connected"))
    }

    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        let h = self.h;
        self.ns.shared.with(|s| s.udp_local_addr(h))
    }

    crate::sockopt::udp_option_methods!();

    pub fn set_read_timeout(&self, dur: Option<Duration>) -> io::Result<()> {
        check_timeout(dur)?;
        *self.read_timeout.lock().unwrap_or_else(|e| e.into_inner()) = dur;
        Ok(())
    }

    pub fn read_timeout(&self) -> io::Result<Option<Duration>> {
        Ok(*self.read_timeout.lock().unwrap_or_else(|e| e.into_inner()))
    }

    pub fn set_nonblocking(&self, nonblocking: bool) -> io::Result<()> {
        self.nonblocking.store(nonblocking, Ordering::Relaxed);
        Ok(())
    }
}

impl UdpSocket {
    /// A new handle to the same socket (like std's: a reader thread and a
    /// writer thread can each hold one; the connected peer, the read
    /// timeout and non-blocking mode are shared).
    pub fn try_clone(&self) -> io::Result<UdpSocket> {
        Ok(UdpSocket {
            ns: self.ns.clone(),
            h: self.h,
            peer: self.peer.clone(),
            read_timeout: self.read_timeout.clone(),
            nonblocking: self.nonblocking.clone(),
            _owner: self._owner.clone(),
        })
    }
}
