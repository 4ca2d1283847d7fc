//! What a `TcpSocket` (blocking or tokio) holds before it connects or
//! listens: the address to bind and the options to apply, as a real
//! socket holds them between `socket()` and `connect()`/`listen()`.
use std::io;
use std::net::SocketAddr;
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;
use ustack::{BindOptions, CongestionKind, Keepalive, SocketHandle, Stack, MAX_SOCKET_BUFFER};

#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct Opts {
    pub bind: Option<SocketAddr>,
    pub reuse_addr: bool,
    pub nodelay: Option<bool>,
    pub keepalive: Option<Option<Keepalive>>,
    pub send_buffer: Option<usize>,
    pub recv_buffer: Option<usize>,
    pub congestion: Option<CongestionKind>,
    pub ttl: Option<u8>,
    pub tos: Option<u8>,
    pub linger: Option<Option<Duration>>,
    pub user_timeout: Option<Option<Duration>>,
    pub only_v6: Option<bool>,
}

/// The options of one socket, shared by its setters (`&self`, as on
/// tokio's `TcpSocket`).
#[derive(Debug, Default)]
pub(crate) struct PreSocket(Mutex<Opts>);

impl PreSocket {
    pub fn lock(&self) -> MutexGuard<'_, Opts> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn bind(&self, addr: SocketAddr) -> io::Result<()> {
        self.lock().bind = Some(addr);
        Ok(())
    }

    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.lock()
            .bind
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "socket is not bound"))
    }

    pub fn set_reuseaddr(&self, reuse: bool) -> io::Result<()> {
        self.lock().reuse_addr = reuse;
        Ok(())
    }

    pub fn reuseaddr(&self) -> io::Result<bool> {
        Ok(self.lock().reuse_addr)
    }

    pub fn set_only_v6(&self, only_v6: bool) -> io::Result<()> {
        self.lock().only_v6 = Some(only_v6);
        Ok(())
    }

    /// IPV6_V6ONLY as set, or the stack's default (`Config::ipv6_only`).
    pub fn only_v6(&self, s: &Stack) -> bool {
        self.lock().only_v6.unwrap_or(s.config().ipv6_only)
    }

    pub fn set_nodelay(&self, nodelay: bool) -> io::Result<()> {
        self.lock().nodelay = Some(nodelay);
        Ok(())
    }

    pub fn set_congestion(&self, kind: CongestionKind) -> io::Result<()> {
        self.lock().congestion = Some(kind);
        Ok(())
    }

    pub fn set_keepalive(&self, keepalive: Option<Keepalive>) -> io::Result<()> {
        if let Some(ka) = &keepalive {
            ka.check()
                .map_err(|m| io::Error::new(io::ErrorKind::InvalidInput, m))?;
        }
        self.lock().keepalive = Some(keepalive);
        Ok(())
    }

    /// IP_TTL, 1–255 (checked here, as Linux checks it at setsockopt).
    pub fn set_ttl(&self, ttl: u32) -> io::Result<()> {
        let ttl = u8::try_from(ttl).ok().filter(|t| *t > 0).ok_or_else(|| {
            io::Error::new(io::ErrorKind::InvalidInput, "TTL must be between 1 and 255")
        })?;
        self.lock().ttl = Some(ttl);
        Ok(())
    }

    pub fn set_linger(&self, linger: Option<Duration>) -> io::Result<()> {
        self.lock().linger = Some(linger);
        Ok(())
    }

    /// SO_LINGER as set (off by default: Linux has no system-wide one).
    pub fn linger(&self) -> Option<Duration> {
        self.lock().linger.flatten()
    }

    pub fn set_user_timeout(&self, t: Option<Duration>) -> io::Result<()> {
        // Zero is off, as on Linux.
        self.lock().user_timeout = Some(t.filter(|t| !t.is_zero()));
        Ok(())
    }

    /// TCP_USER_TIMEOUT as set (off by default, as on Linux).
    pub fn user_timeout(&self) -> Option<Duration> {
        self.lock().user_timeout.flatten()
    }

    /// IP_TOS, 0–255; the ECN bits are TCP's and stay clear (as the
    /// stack keeps them).
    pub fn set_tos(&self, tos: u32) -> io::Result<()> {
        let tos = u8::try_from(tos).map_err(|_| {
            io::Error::new(io::ErrorKind::InvalidInput, "TOS must be between 0 and 255")
        })?;
        self.lock().tos = Some(tos & !0x03);
        Ok(())
    }

    pub fn tos(&self) -> u32 {
        u32::from(self.lock().tos.unwrap_or(0))
    }

    pub fn ttl(&self, s: &Stack) -> u32 {
        u32::from(self.lock().ttl.unwrap_or(s.config().ttl))
    }

    pub fn set_send_buffer(&self, bytes: usize) {
        self.lock().send_buffer = Some(bytes.clamp(1, MAX_SOCKET_BUFFER));
    }

    pub fn set_recv_buffer(&self, bytes: usize) {
        self.lock().recv_buffer = Some(bytes.clamp(1, MAX_SOCKET_BUFFER));
    }

    /// The option as set, or the stack's default for new connections.
    pub fn nodelay(&self, s: &Stack) -> bool {
        self.lock().nodelay.unwrap_or(s.config().tcp.nodelay)
    }

    pub fn keepalive(&self, s: &Stack) -> Option<Keepalive> {
        self.lock().keepalive.unwrap_or(s.config().tcp.keepalive)
    }

    pub fn send_buffer(&self, s: &Stack) -> usize {
        self.lock()
            .send_buffer
            .unwrap_or(s.config().tcp.send_buffer)
    }

    pub fn recv_buffer(&self, s: &Stack) -> usize {
        self.lock()
            .recv_buffer
            .unwrap_or(s.config().tcp.recv_buffer)
    }

    pub fn congestion(&self, s: &Stack) -> CongestionKind {
        self.lock().congestion.unwrap_or(s.config().tcp.congestion)
    }

    /// Opens the listener with the options for what it will accept.
    pub fn listen(&self, s: &mut Stack, backlog: usize) -> io::Result<SocketHandle> {
        let o = *self.lock();
        let addr = o.bind.ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                "bind the socket to an address before listening",
            )
        })?;
        let bind = BindOptions {
            reuse_addr: o.reuse_addr,
            only_v6: o.only_v6,
        };
        let h = s.tcp_listen_with(addr, backlog, bind)?;
        if let Err(e) = apply(&o, s, h) {
            s.tcp_close(h);
            return Err(e);
        }
        Ok(h)
    }

    /// Starts the connection with the options applied before its SYN
    /// leaves (the receive buffer sets the window scale it offers); the
    /// caller's flush sends it.
    pub fn connect(&self, s: &mut Stack, remote: SocketAddr) -> io::Result<SocketHandle> {
        let o = *self.lock();
        let h = s.tcp_connect_with(remote, o.bind, o.only_v6)?;
        if let Err(e) = apply(&o, s, h) {
            s.tcp_abort(h);
            return Err(e);
        }
        Ok(h)
    }
}

fn apply(o: &Opts, s: &mut Stack, h: SocketHandle) -> io::Result<()> {
    if let Some(n) = o.recv_buffer {
        s.tcp_set_recv_buffer(h, n)?;
    }
    if let Some(n) = o.send_buffer {
        s.tcp_set_send_buffer(h, n)?;
    }
    if let Some(nd) = o.nodelay {
        s.tcp_set_nodelay(h, nd)?;
    }
    if let Some(ka) = o.keepalive {
        s.tcp_set_keepalive(h, ka)?;
    }
    if let Some(cc) = o.congestion {
        s.tcp_set_congestion(h, cc)?;
    }
    if let Some(ttl) = o.ttl {
        s.tcp_set_ttl(h, u32::from(ttl))?;
    }
    if let Some(tos) = o.tos {
        s.tcp_set_tos(h, u32::from(tos))?;
    }
    if let Some(linger) = o.linger {
        s.tcp_set_linger(h, linger)?;
    }
    if let Some(t) = o.user_timeout {
        s.tcp_set_user_timeout(h, t)?;
    }
    Ok(())
}

/// The `TcpSocket` methods the blocking and the tokio type share (each
/// holds `ns: Netstack` and `pre: PreSocket`).
macro_rules! pre_socket_methods {
    () => {
        /// A socket on `ns` with the stack's defaults (`TcpConfig`), not
        /// bound, SO_REUSEADDR off (as tokio's).
        pub fn new(ns: &Netstack) -> TcpSocket {
            TcpSocket {
                ns: ns.clone(),
                pre: PreSocket::default(),
            }
        }

        /// The local address to listen on or connect from (port 0: an
        /// ephemeral port). It is checked when the socket listens or
        /// connects.
        pub fn bind(&self, addr: SocketAddr) -> io::Result<()> {
            self.pre.bind(addr)
        }

        /// The address given to `bind`.
        pub fn local_addr(&self) -> io::Result<SocketAddr> {
            self.pre.local_addr()
        }

        /// SO_REUSEADDR: listen while connections on the port linger in
        /// TIME-WAIT.
        pub fn set_reuseaddr(&self, reuse: bool) -> io::Result<()> {
            self.pre.set_reuseaddr(reuse)
        }

        pub fn reuseaddr(&self) -> io::Result<bool> {
            self.pre.reuseaddr()
        }

        /// IPV6_V6ONLY: bound to `[::]`, the socket takes (or connects
        /// to) IPv6 only, and `0.0.0.0` may listen on the same port
        /// beside it. Off by default (`Config::ipv6_only`), as Linux's.
        pub fn set_only_v6(&self, only_v6: bool) -> io::Result<()> {
            self.pre.set_only_v6(only_v6)
        }

        pub fn only_v6(&self) -> io::Result<bool> {
            Ok(self.ns.shared.with(|s| self.pre.only_v6(s)))
        }

        pub fn set_nodelay(&self, nodelay: bool) -> io::Result<()> {
            self.pre.set_nodelay(nodelay)
        }

        pub fn nodelay(&self) -> io::Result<bool> {
            Ok(self.ns.shared.with(|s| self.pre.nodelay(s)))
        }

        /// SO_KEEPALIVE with its times (see `TcpStream::set_keepalive`).
        pub fn set_keepalive(&self, keepalive: Option<ustack::Keepalive>) -> io::Result<()> {
            self.pre.set_keepalive(keepalive)
        }

        pub fn keepalive(&self) -> io::Result<Option<ustack::Keepalive>> {
            Ok(self.ns.shared.with(|s| self.pre.keepalive(s)))
        }

        /// TCP_CONGESTION: the congestion controller (CUBIC by default).
        pub fn set_congestion(&self, kind: ustack::CongestionKind) -> io::Result<()> {
            self.pre.set_congestion(kind)
        }

        pub fn congestion(&self) -> io::Result<ustack::CongestionKind> {
            Ok(self.ns.shared.with(|s| self.pre.congestion(s)))
        }

        /// IP_TTL of every packet the connection sends, the SYN or the
        /// SYN-ACKs included (1–255; the stack's default is 64).
        pub fn set_ttl(&self, ttl: u32) -> io::Result<()> {
            self.pre.set_ttl(ttl)
        }

        pub fn ttl(&self) -> io::Result<u32> {
            Ok(self.ns.shared.with(|s| self.pre.ttl(s)))
        }

        /// IP_TOS (the DSCP; see `TcpStream::set_tos`), the SYN or the
        /// SYN-ACKs included.
        pub fn set_tos(&self, tos: u32) -> io::Result<()> {
            self.pre.set_tos(tos)
        }

        pub fn tos(&self) -> io::Result<u32> {
            Ok(self.pre.tos())
        }

        /// SO_LINGER of the connection, or of every connection a listener
        /// accepts (see `TcpStream::set_linger`).
        pub fn set_linger(&self, linger: Option<std::time::Duration>) -> io::Result<()> {
            self.pre.set_linger(linger)
        }

        pub fn linger(&self) -> io::Result<Option<std::time::Duration>> {
            Ok(self.pre.linger())
        }

        /// TCP_USER_TIMEOUT of the connection, or of every connection a
        /// listener accepts (see `TcpStream::set_user_timeout`).
        pub fn set_user_timeout(&self, t: Option<std::time::Duration>) -> io::Result<()> {
            self.pre.set_user_timeout(t)
        }

        pub fn user_timeout(&self) -> io::Result<Option<std::time::Duration>> {
            Ok(self.pre.user_timeout())
        }
    };
}
pub(crate) use pre_socket_methods;

/// The options of a listener that both APIs offer (each holds `ns:
/// Netstack` and `h: SocketHandle`).
macro_rules! listener_option_methods {
    () => {
        /// IP_TTL of what the connections it accepts from now on send,
        /// their SYN-ACK included (1–255).
        pub fn set_ttl(&self, ttl: u32) -> io::Result<()> {
            self.ns.shared.with(|s| s.tcp_set_ttl(self.h, ttl))
        }

        pub fn ttl(&self) -> io::Result<u32> {
            self.ns.shared.with(|s| s.tcp_ttl(self.h))
        }

        /// IP_TOS of what the connections it accepts from now on send,
        /// their SYN-ACK included (the DSCP; ECN bits stay clear).
        pub fn set_tos(&self, tos: u32) -> io::Result<()> {
            self.ns.shared.with(|s| s.tcp_set_tos(self.h, tos))
        }

        pub fn tos(&self) -> io::Result<u32> {
            self.ns.shared.with(|s| s.tcp_tos(self.h))
        }

        /// IPV6_V6ONLY as the listener was bound (`TcpSocket::set_only_v6`).
        pub fn only_v6(&self) -> io::Result<bool> {
            self.ns.shared.with(|s| s.only_v6(self.h))
        }
    };
}
pub(crate) use listener_option_methods;

/// The options of a UDP socket that both APIs offer (each holds `ns:
/// Netstack` and `h: SocketHandle`).
macro_rules! udp_option_methods {
    () => {
        /// IP_TTL of the datagrams it sends from now on (1–255).
        pub fn set_ttl(&self, ttl: u32) -> io::Result<()> {
            self.ns.shared.with(|s| s.udp_set_ttl(self.h, ttl))
        }

        pub fn ttl(&self) -> io::Result<u32> {
            self.ns.shared.with(|s| s.udp_ttl(self.h))
        }

        /// IP_TOS of the datagrams it sends from now on: the whole DS
        /// field, ECN bits included (0–255).
        pub fn set_tos(&self, tos: u32) -> io::Result<()> {
            self.ns.shared.with(|s| s.udp_set_tos(self.h, tos))
        }

        pub fn tos(&self) -> io::Result<u32> {
            self.ns.shared.with(|s| s.udp_tos(self.h))
        }

        /// SO_BROADCAST: allows sending to 255.255.255.255 and to the
        /// directed broadcast of the stack's subnets; without it such a
        /// send fails with PermissionDenied.
        pub fn set_broadcast(&self, on: bool) -> io::Result<()> {
            self.ns.shared.with(|s| s.udp_set_broadcast(self.h, on))
        }

        pub fn broadcast(&self) -> io::Result<bool> {
            self.ns.shared.with(|s| s.udp_broadcast(self.h))
        }

        /// SO_ERROR: the pending ICMP error of a connected socket (such
        /// as ConnectionRefused after a port unreachable), cleared.
        pub fn take_error(&self) -> io::Result<Option<io::Error>> {
            self.ns.shared.with(|s| s.udp_take_error(self.h))
        }

        /// IPV6_V6ONLY as the socket was bound (`bind_with`).
        pub fn only_v6(&self) -> io::Result<bool> {
            self.ns.shared.with(|s| s.only_v6(self.h))
        }
    };
}
pub(crate) use udp_option_methods;
