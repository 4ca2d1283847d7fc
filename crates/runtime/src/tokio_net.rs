//! Async sockets that mirror `tokio::net`: [`TcpListener`], [`TcpStream`]
//! (`AsyncRead + AsyncWrite`, so `tokio::io::copy`, `tokio_util::codec`
//! and hyper work), [`UdpSocket`]. Each socket has separate read and write
//! wakers; registration happens under the stack lock, so no wake-up is
//! lost.
use crate::net::wait_established;
use crate::sockopt::PreSocket;
use crate::{Interest, Netstack};
use std::future::poll_fn;
use std::io;
use std::net::{Shutdown, SocketAddr};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use ustack::SocketHandle;

fn ready<T>(r: io::Result<T>) -> Poll<io::Result<T>> {
    match r {
        Err(e) if e.kind() == io::ErrorKind::WouldBlock => Poll::Pending,
        other => Poll::Ready(other),
    }
}

/// An async TCP listener.
#[derive(Debug)]
pub struct TcpListener {
    ns: Netstack,
    h: SocketHandle,
}

impl TcpListener {
    /// Binds with SO_REUSEADDR (as tokio does) and a backlog of 1024.
    pub async fn bind(ns: &Netstack, addr: SocketAddr) -> io::Result<TcpListener> {
        let h = ns.shared.with(|s| s.tcp_listen_reuse(addr, 1024, true))?;
        Ok(TcpListener { ns: ns.clone(), h })
    }

    pub async fn accept(&self) -> io::Result<(TcpStream, SocketAddr)> {
        poll_fn(|cx| self.poll_accept(cx)).await
    }

    pub fn poll_accept(&self, cx: &mut Context<'_>) -> Poll<io::Result<(TcpStream, SocketAddr)>> {
        let h = self.h;
        let r = self
            .ns
            .shared
            .try_or_register(h, Interest::Read, cx.waker(), |s| s.tcp_accept(h));
        ready(r).map_ok(|(c, peer)| (TcpStream::from_handle(&self.ns, c), peer))
    }

    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.ns.shared.with(|s| s.tcp_local_addr(self.h))
    }

    crate::sockopt::listener_option_methods!();
}

impl Drop for TcpListener {
    fn drop(&mut self) {
        let h = self.h;
        self.ns.shared.release(h, |s| s.tcp_close(h));
    }
}

/// An async TCP socket not yet connected or listening, to set options
/// before the handshake, like `tokio::net::TcpSocket`. A listener made
/// from it passes its buffer sizes, TCP_NODELAY, congestion control,
/// keepalive, IP_TTL, IP_TOS, SO_LINGER and TCP_USER_TIMEOUT on to the
/// connections it accepts, as Linux does; a
/// connection gets them before its SYN leaves (the receive buffer sets
/// the window scale it offers).
#[derive(Debug)]
pub struct TcpSocket {
    ns: Netstack,
    pre: PreSocket,
}

impl TcpSocket {
    crate::sockopt::pre_socket_methods!();

    /// SO_SNDBUF (clamped to 1 byte .. 1 GiB); as on Linux, turns
    /// send-buffer auto-tuning off for the socket.
    pub fn set_send_buffer_size(&self, bytes: u32) -> io::Result<()> {
        self.pre.set_send_buffer(bytes as usize);
        Ok(())
    }

    pub fn send_buffer_size(&self) -> io::Result<u32> {
        let n = self.ns.shared.with(|s| self.pre.send_buffer(s));
        Ok(u32::try_from(n).unwrap_or(u32::MAX))
    }

    /// SO_RCVBUF (clamped to 1 byte .. 1 GiB): bounds the window, sets the
    /// window scale offered in the handshake and, as on Linux, turns
    /// receive-buffer auto-tuning off for the socket.
    pub fn set_recv_buffer_size(&self, bytes: u32) -> io::Result<()> {
        self.pre.set_recv_buffer(bytes as usize);
        Ok(())
    }

    pub fn recv_buffer_size(&self) -> io::Result<u32> {
        let n = self.ns.shared.with(|s| self.pre.recv_buffer(s));
        Ok(u32::try_from(n).unwrap_or(u32::MAX))
    }

    /// Connects with the options set.
    pub async fn connect(self, addr: SocketAddr) -> io::Result<TcpStream> {
        let pre = &self.pre;
        TcpStream::connect_with(&self.ns, |s| pre.connect(s, addr)).await
    }

    /// Listens on the bound address; accepted connections inherit the
    /// options.
    pub fn listen(self, backlog: u32) -> io::Result<TcpListener> {
        let h = self
            .ns
            .shared
            .with(|s| self.pre.listen(s, backlog as usize))?;
        Ok(TcpListener { ns: self.ns, h })
    }
}

#[derive(Debug)]
struct Owned {
    ns: Netstack,
    h: SocketHandle,
}

impl Drop for Owned {
    fn drop(&mut self) {
        let h = self.h;
        self.ns.shared.release(h, |s| s.tcp_close(h));
    }
}

/// An async TCP connection. Dropping it closes gracefully (RST if unread
/// data remains, as Linux).
#[derive(Debug)]
pub struct TcpStream {
    inner: Arc<Owned>,
}

impl TcpStream {
    fn from_handle(ns: &Netstack, h: SocketHandle) -> TcpStream {
        TcpStream {
            inner: Arc::new(Owned { ns: ns.clone(), h }),
        }
    }

    pub async fn connect(ns: &Netstack, addr: SocketAddr) -> io::Result<TcpStream> {
        Self::connect_with(ns, |s| s.tcp_connect(addr, None)).await
    }

    /// Waits for the handshake of the connection `open` starts.
    async fn connect_with(
        ns: &Netstack,
        open: impl FnOnce(&mut ustack::Stack) -> io::Result<SocketHandle>,
    ) -> io::Result<TcpStream> {
        let h = ns.shared.with(open)?;
        let stream = TcpStream::from_handle(ns, h);
        poll_fn(|cx| {
            ready(
                ns.shared
                    .try_or_register(h, Interest::Write, cx.waker(), |s| wait_established(s, h)),
            )
        })
        .await?;
        Ok(stream)
    }

    fn h(&self) -> SocketHandle {
        self.inner.h
    }

    /// Like a read, leaving the data queued (MSG_PEEK); 0 at the end of
    /// the stream.
    pub async fn peek(&self, buf: &mut [u8]) -> io::Result<usize> {
        let h = self.h();
        let shared = &self.inner.ns.shared;
        poll_fn(|cx| {
            ready(shared.try_or_register(h, Interest::Read, cx.waker(), |s| s.tcp_peek(h, buf)))
        })
        .await
    }

    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        let h = self.h();
        self.inner.ns.shared.with(|s| s.tcp_peer_addr(h))
    }

    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        let h = self.h();
        self.inner.ns.shared.with(|s| s.tcp_local_addr(h))
    }

    pub fn set_nodelay(&self, nodelay: bool) -> io::Result<()> {
        let h = self.h();
        self.inner.ns.shared.with(|s| s.tcp_set_nodelay(h, nodelay))
    }

    pub fn nodelay(&self) -> io::Result<bool> {
        let h = self.h();
        self.inner.ns.shared.with(|s| s.tcp_nodelay(h))
    }

    /// IP_TTL of the packets it sends from now on (1–255).
    pub fn set_ttl(&self, ttl: u32) -> io::Result<()> {
        let h = self.h();
        self.inner.ns.shared.with(|s| s.tcp_set_ttl(h, ttl))
    }

    pub fn ttl(&self) -> io::Result<u32> {
        let h = self.h();
        self.inner.ns.shared.with(|s| s.tcp_ttl(h))
    }

    /// IP_TOS (see the blocking `TcpStream::set_tos`).
    pub fn set_tos(&self, tos: u32) -> io::Result<()> {
        let h = self.h();
        self.inner.ns.shared.with(|s| s.tcp_set_tos(h, tos))
    }

    pub fn tos(&self) -> io::Result<u32> {
        let h = self.h();
        self.inner.ns.shared.with(|s| s.tcp_tos(h))
    }

    /// TCP_CONGESTION (see the blocking `TcpStream::set_congestion`).
    pub fn set_congestion(&self, kind: ustack::CongestionKind) -> io::Result<()> {
        let h = self.h();
        self.inner.ns.shared.with(|s| s.tcp_set_congestion(h, kind))
    }

    pub fn congestion(&self) -> io::Result<ustack::CongestionKind> {
        let h = self.h();
        self.inner.ns.shared.with(|s| s.tcp_congestion(h))
    }

    /// SO_KEEPALIVE (see the blocking `TcpStream::set_keepalive`).
    pub fn set_keepalive(&self, keepalive: Option<ustack::Keepalive>) -> io::Result<()> {
        let h = self.h();
        self.inner
            .ns
            .shared
            .with(|s| s.tcp_set_keepalive(h, keepalive))
    }

    pub fn keepalive(&self) -> io::Result<Option<ustack::Keepalive>> {
        let h = self.h();
        self.inner.ns.shared.with(|s| s.tcp_keepalive(h))
    }

    /// SO_LINGER. `Some(Duration::ZERO)`: dropping the stream aborts the
    /// connection (queued data discarded, RST, no TIME-WAIT). A nonzero
    /// time is kept (and reported by `linger`) but a drop never blocks
    /// here, unlike tokio's, which blocks the thread in the kernel's
    /// close (the reason tokio deprecated its `set_linger`): the queued
    /// data is delivered in the background, as without the option. To
    /// wait for delivery, `shutdown().await` and read until the peer's
    /// end of stream.
    pub fn set_linger(&self, linger: Option<std::time::Duration>) -> io::Result<()> {
        let h = self.h();
        self.inner.ns.shared.with(|s| s.tcp_set_linger(h, linger))
    }

    pub fn linger(&self) -> io::Result<Option<std::time::Duration>> {
        let h = self.h();
        self.inner.ns.shared.with(|s| s.tcp_linger(h))
    }

    /// Writes urgent data (see the blocking `TcpStream::send_urgent`).
    pub async fn send_urgent(&self, buf: &[u8]) -> io::Result<usize> {
        let h = self.h();
        poll_fn(|cx| {
            ready(
                self.inner
                    .ns
                    .shared
                    .try_or_register(h, Interest::Write, cx.waker(), |s| {
                        s.tcp_send_urgent(h, buf)
                    }),
            )
        })
        .await
    }

    /// Unread bytes of the peer's urgent data (see the blocking
    /// `TcpStream::urgent_pending`).
    pub fn urgent_pending(&self) -> io::Result<usize> {
        let h = self.h();
        self.inner.ns.shared.with(|s| s.tcp_urgent_pending(h))
    }

    /// TCP_USER_TIMEOUT (see the blocking `TcpStream::set_user_timeout`).
    pub fn set_user_timeout(&self, t: Option<std::time::Duration>) -> io::Result<()> {
        let h = self.h();
        self.inner.ns.shared.with(|s| s.tcp_set_user_timeout(h, t))
    }

    pub fn user_timeout(&self) -> io::Result<Option<std::time::Duration>> {
        let h = self.h();
        self.inner.ns.shared.with(|s| s.tcp_user_timeout(h))
    }

    pub fn info(&self) -> io::Result<ustack::TcpInfo> {
        let h = self.h();
        self.inner.ns.shared.with(|s| s.tcp_info(h))
    }

    /// Splits into borrowed read and write halves, usable at once (e.g.
    /// in `tokio::join!`), as `tokio::net::TcpStream::split`.
    pub fn split(&mut self) -> (ReadHalf<'_>, WriteHalf<'_>) {
        (
            ReadHalf { inner: &self.inner },
            WriteHalf { inner: &self.inner },
        )
    }

    /// Splits into owned read and write halves (the connection closes when
    /// both are dropped).
    pub fn into_split(self) -> (OwnedReadHalf, OwnedWriteHalf) {
        (
            OwnedReadHalf {
                inner: self.inner.clone(),
            },
            OwnedWriteHalf { inner: self.inner },
        )
    }
}

fn poll_read_inner(o: &Owned, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
    let h = o.h;
    let dst = buf.initialize_unfilled();
    let r =
        o.ns.shared
            .try_or_register(h, Interest::Read, cx.waker(), |s| s.tcp_recv(h, dst));
    match ready(r) {
        Poll::Ready(Ok(n)) => {
            buf.advance(n);
            Poll::Ready(Ok(()))
        }
        Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
        Poll::Pending => Poll::Pending,
    }
}

fn poll_write_inner(o: &Owned, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
    let h = o.h;
    ready(
        o.ns.shared
            .try_or_register(h, Interest::Write, cx.waker(), |s| s.tcp_send(h, buf)),
    )
}

fn poll_shutdown_inner(o: &Owned) -> Poll<io::Result<()>> {
    let h = o.h;
    Poll::Ready(o.ns.shared.with(|s| s.tcp_shutdown(h, Shutdown::Write)))
}

/// `AsyncRead` for a type holding `inner: Arc<Owned>`.
macro_rules! impl_async_read {
    ($t:ty) => {
        impl AsyncRead for $t {
            fn poll_read(
                self: Pin<&mut Self>,
                cx: &mut Context<'_>,
                buf: &mut ReadBuf<'_>,
            ) -> Poll<io::Result<()>> {
                poll_read_inner(&self.inner, cx, buf)
            }
        }
    };
}

/// `AsyncWrite` for a type holding `inner: Arc<Owned>` (flush is a no-op:
/// data is handed to the stack on write; shutdown sends FIN).
macro_rules! impl_async_write {
    ($t:ty) => {
        impl AsyncWrite for $t {
            fn poll_write(
                self: Pin<&mut Self>,
                cx: &mut Context<'_>,
                buf: &[u8],
            ) -> Poll<io::Result<usize>> {
                poll_write_inner(&self.inner, cx, buf)
            }
            fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
                Poll::Ready(Ok(()))
            }
            fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
                poll_shutdown_inner(&self.inner)
            }
        }
    };
}

impl_async_read!(TcpStream);

impl_async_write!(TcpStream);

/// Read half of [`TcpStream::into_split`].
#[derive(Debug)]
pub struct OwnedReadHalf {
    inner: Arc<Owned>,
}

/// Write half of [`TcpStream::into_split`]; shutting it down sends FIN.
#[derive(Debug)]
pub struct OwnedWriteHalf {
    inner: Arc<Owned>,
}

impl_async_read!(OwnedReadHalf);

/// Read half of [`TcpStream::split`].
#[derive(Debug)]
pub struct ReadHalf<'a> {
    inner: &'a Arc<Owned>,
}

/// Write half of [`TcpStream::split`]; shutting it down sends FIN.
#[derive(Debug)]
pub struct WriteHalf<'a> {
    inner: &'a Arc<Owned>,
}

impl_async_read!(ReadHalf<'_>);

impl_async_write!(WriteHalf<'_>);

impl_async_write!(OwnedWriteHalf);

/// An async UDP socket.
#[derive(Debug)]
pub struct UdpSocket {
    ns: Netstack,
    h: SocketHandle,
}

impl UdpSocket {
    pub async fn bind(ns: &Netstack, addr: SocketAddr) -> io::Result<UdpSocket> {
        Self::bind_with(ns, addr, None).await
    }

    /// Binds with IPV6_V6ONLY chosen (`None`: the stack's default,
    /// `Config::ipv6_only`); it matters for `[::]` only.
    pub async fn bind_with(
        ns: &Netstack,
        addr: SocketAddr,
        only_v6: Option<bool>,
    ) -> io::Result<UdpSocket> {
        let opts = ustack::BindOptions {
            reuse_addr: false,
            only_v6,
        };
        let h = ns.shared.with(|s| s.udp_bind_with(addr, opts))?;
        Ok(UdpSocket { ns: ns.clone(), h })
    }

    pub async fn send_to(&self, buf: &[u8], to: SocketAddr) -> io::Result<usize> {
        let h = self.h;
        poll_fn(|cx| {
            ready(
                self.ns
                    .shared
                    .try_or_register(h, Interest::Write, cx.waker(), |s| {
                        s.udp_send_to(h, buf, to)
                    }),
            )
        })
        .await
    }

    /// One datagram: (bytes copied, sender). Truncates like tokio.
    pub async fn recv_from(&self, buf: &mut [u8]) -> io::Result<(usize, SocketAddr)> {
        self.recv_from_full(buf).await.map(|r| (r.len, r.from))
    }

    /// One datagram, with truncation reported.
    pub async fn recv_from_full(&self, buf: &mut [u8]) -> io::Result<ustack::UdpRecv> {
        let h = self.h;
        poll_fn(|cx| {
            ready(
                self.ns
                    .shared
                    .try_or_register(h, Interest::Read, cx.waker(), |s| s.udp_recv_from(h, buf)),
            )
        })
        .await
    }

    /// Like `recv_from`, leaving the datagram queued.
    pub async fn peek_from(&self, buf: &mut [u8]) -> io::Result<(usize, SocketAddr)> {
        let h = self.h;
        poll_fn(|cx| {
            ready(
                self.ns
                    .shared
                    .try_or_register(h, Interest::Read, cx.waker(), |s| s.udp_peek_from(h, buf)),
            )
        })
        .await
        .map(|r| (r.len, r.from))
    }

    /// Sets the default peer for `send`/`recv` and filters input to it.
    pub async fn connect(&self, addr: SocketAddr) -> io::Result<()> {
        self.ns.shared.with(|s| s.udp_connect(self.h, addr))
    }

    /// Sends to the connected peer.
    pub async fn send(&self, buf: &[u8]) -> io::Result<usize> {
        let peer = self.peer_addr()?;
        self.send_to(buf, peer).await
    }

    /// Receives one datagram from the connected peer (truncated like
    /// tokio's if `buf` is short).
    pub async fn recv(&self, buf: &mut [u8]) -> io::Result<usize> {
        self.peer_addr()?;
        self.recv_from(buf).await.map(|(n, _)| n)
    }

    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.ns.shared.with(|s| s.udp_peer_addr(self.h))
    }

    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.ns.shared.with(|s| s.udp_local_addr(self.h))
    }

    crate::sockopt::udp_option_methods!();
}

impl Drop for UdpSocket {
    fn drop(&mut self) {
        let h = self.h;
        self.ns.shared.release(h, |s| s.udp_close(h));
    }
}
