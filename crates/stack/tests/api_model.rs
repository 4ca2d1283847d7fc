//! Model-based test of the socket API (proptest): random sequences of API
//! calls on stack A, against a simple model of what each call must return.
//! A's peer, stack B, is an automaton on a perfect wire: a TCP echo server
//! and a UDP echo server on port 9, and on request a client that connects
//! to one of A's listeners, sends a pattern and shuts down.
//!
//! After every call the wire runs for 100 ms of virtual time, so the model
//! knows exactly what has arrived. Checked: return values and error kinds
//! (limits, address in use, bad or closed handles, writing after
//! shutdown), every byte read equals the model's stream (no loss, no
//! duplication, EOF exactly at the end), UDP boundaries and order, peeks
//! that show what the next read returns and consume nothing, options set
//! on a listener reaching exactly the connections whose SYN came after,
//! and at the end both stacks return to zero sockets, timers and buffers.
//! Each case runs over IPv4 or, with every address IPv6, over IPv6 (UDP
//! datagrams above the MTU then leave in Fragment headers).
mod hostile_kit;

use hostile_kit::app::pattern;
use hostile_kit::wire::{config, Impair, Wire, A_IP, B_IP};
use proptest::prelude::*;
use std::collections::{HashMap, VecDeque};
use std::io::ErrorKind;
use std::net::{IpAddr, Ipv6Addr, Shutdown, SocketAddr};
use std::time::Duration;
use ustack::Cidr;
use ustack::{SocketHandle, Stack};

const MAX_SOCKETS: usize = 6;
const BACKLOG: usize = 2;
const ECHO: u16 = 9;

#[derive(Debug, Clone)]
enum Op {
    UdpBind(u16),
    UdpSend(usize, usize),
    UdpRecv(usize),
    UdpClose(usize),
    Listen(u16),
    Accept(usize),
    CloseListener(usize),
    /// B connects to A's port and sends this many bytes, then shuts down.
    PeerConnect(u16, usize),
    Connect,
    Send(usize, usize),
    Recv(usize, usize),
    ShutdownWrite(usize),
    Close(usize),
    Abort(usize),
    Wait(u64),
    /// MSG_PEEK on a connection / a UDP socket.
    Peek(usize, usize),
    UdpPeek(usize),
    /// On a listener: TCP_NODELAY, SO_RCVBUF (an index into
    /// `RECV_BUFFERS`), IP_TTL, SO_LINGER (an index into `LINGERS`).
    ListenerOpts(usize, bool, usize, u32, usize),
    /// IP_TTL on a connection (0 and 256 are refused).
    SetTtl(usize, u32),
}

/// The stack's defaults (`Config::default()`, which `config` keeps).
const DEFAULTS: Inherited = Inherited {
    nodelay: false,
    recv_buffer: 128 << 10,
    ttl: 64,
    linger: None,
};

/// SO_LINGER: off, zero (close aborts) or a time (close is graceful).
const LINGERS: [Option<Duration>; 3] = [None, Some(Duration::ZERO), Some(Duration::from_secs(5))];

const RECV_BUFFERS: [usize; 3] = [64 << 10, 1 << 20, 4 << 20];

/// The options a listener passes on, as the model expects them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Inherited {
    nodelay: bool,
    recv_buffer: usize,
    ttl: u32,
    linger: Option<Duration>,
}

fn op() -> impl Strategy<Value = Op> {
    let idx = 0usize..8;
    let li = 0usize..3;
    prop_oneof![
        2 => (5000u16..5003).prop_map(Op::UdpBind),
        2 => (idx.clone(), 0usize..3000).prop_map(|(i, n)| Op::UdpSend(i, n)),
        2 => idx.clone().prop_map(Op::UdpRecv),
        1 => idx.clone().prop_map(Op::UdpClose),
        3 => (80u16..82).prop_map(Op::Listen),
        4 => li.clone().prop_map(Op::Accept),
        1 => li.clone().prop_map(Op::CloseListener),
        4 => (80u16..82, 0usize..40_000).prop_map(|(p, n)| Op::PeerConnect(p, n)),
        3 => Just(Op::Connect),
        4 => (idx.clone(), 0usize..20_000).prop_map(|(i, n)| Op::Send(i, n)),
        4 => (idx.clone(), 1usize..70_000).prop_map(|(i, n)| Op::Recv(i, n)),
        2 => idx.clone().prop_map(Op::ShutdownWrite),
        2 => idx.clone().prop_map(Op::Close),
        1 => idx.clone().prop_map(Op::Abort),
        1 => (0u64..3000).prop_map(Op::Wait),
        2 => (idx.clone(), 1usize..70_000).prop_map(|(i, n)| Op::Peek(i, n)),
        1 => idx.clone().prop_map(Op::UdpPeek),
        2 => (li, any::<bool>(), 0..RECV_BUFFERS.len(), 1u32..256, 0..LINGERS.len())
            .prop_map(|(i, nd, rb, ttl, lg)| Op::ListenerOpts(i, nd, rb, ttl, lg)),
        1 => (idx.clone(), 0u32..257).prop_map(|(i, t)| Op::SetTtl(i, t)),
    ]
}

struct UdpModel {
    h: SocketHandle,
    port: u16,
    open: bool,
    /// Datagrams echoed back and not read yet.
    queue: VecDeque<Vec<u8>>,
}

struct ListenerModel {
    h: SocketHandle,
    port: u16,
    open: bool,
    /// Established connections waiting: the bytes each will carry and
    /// the options they were made with.
    pending: VecDeque<(Vec<u8>, Inherited)>,
    /// What the next connection will inherit.
    opts: Inherited,
}

struct ConnModel {
    h: SocketHandle,
    /// The application still holds the handle.
    open: bool,
    /// Every byte this connection will ever deliver to A (for echo
    /// connections: what A sent; for accepted ones: B's pattern).
    expect: Vec<u8>,
    read: usize,
    /// The stream ends after `expect` (peer shut down / will shut down).
    finite: bool,
    echo: bool,
    shut_wr: bool,
    eof: bool,
    ttl: u32,
}

/// B's automaton.
#[derive(Default)]
struct Peer {
    /// Echo connections: (handle, bytes to echo back, EOF seen).
    echo: HashMap<SocketHandle, (Vec<u8>, bool)>,
    /// Client connections to A: (handle, bytes left to send, shut).
    clients: HashMap<SocketHandle, (Vec<u8>, bool)>,
    listener: Option<SocketHandle>,
    udp: Option<SocketHandle>,
}

impl Peer {
    fn pump(&mut self, b: &mut Stack) {
        let mut buf = vec![0u8; 65536];
        if let Some(l) = self.listener {
            while let Ok((h, _)) = b.tcp_accept(l) {
                self.echo.insert(h, (Vec::new(), false));
            }
        }
        if let Some(u) = self.udp {
            while let Ok(r) = b.udp_recv_from(u, &mut buf) {
                b.udp_send_to(u, &buf[..r.len], r.from).unwrap();
            }
        }
        let mut gone = Vec::new();
        for (h, (pending, eof)) in self.echo.iter_mut() {
            let mut failed = false;
            loop {
                match b.tcp_recv(*h, &mut buf) {
                    Ok(0) => {
                        *eof = true;
                        break;
                    }
                    Ok(n) => pending.extend_from_slice(&buf[..n]),
                    Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                    Err(_) => {
                        failed = true;
                        break;
                    }
                }
            }
            while !failed && !pending.is_empty() {
                match b.tcp_send(*h, pending) {
                    Ok(n) => {
                        pending.drain(..n);
                    }
                    Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                    Err(_) => failed = true,
                }
            }
            if failed {
                b.tcp_abort(*h);
                gone.push(*h);
            } else if *eof && pending.is_empty() {
                b.tcp_close(*h);
                gone.push(*h);
            }
        }
        for h in gone {
            self.echo.remove(&h);
        }
        let mut gone = Vec::new();
        for (h, (left, shut)) in self.clients.iter_mut() {
            let mut failed = false;
            while !left.is_empty() {
                match b.tcp_send(*h, left) {
                    Ok(n) => {
                        left.drain(..n);
                    }
                    Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                    Err(_) => {
                        failed = true;
                        break;
                    }
                }
            }
            if !failed && left.is_empty() && !*shut {
                failed = b.tcp_shutdown(*h, Shutdown::Write).is_err();
                *shut = true;
            }
            let mut eof = false;
            loop {
                match b.tcp_recv(*h, &mut buf) {
                    Ok(0) => {
                        eof = true;
                        break;
                    }
                    Ok(_) => {}
                    Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                    Err(_) => {
                        failed = true;
                        break;
                    }
                }
            }
            if failed {
                b.tcp_abort(*h);
                gone.push(*h);
            } else if eof && *shut && left.is_empty() {
                b.tcp_close(*h);
                gone.push(*h);
            }
        }
        for h in gone {
            self.clients.remove(&h);
        }
    }
}

struct World {
    w: Wire,
    peer: Peer,
    udp: Vec<UdpModel>,
    listeners: Vec<ListenerModel>,
    conns: Vec<ConnModel>,
    /// Ports of A that accepted connections used (a later listen may meet
    /// them in TIME-WAIT: either outcome is allowed).
    used_ports: Vec<u16>,
    /// Every address of the case is IPv6 (the stacks have both).
    v6: bool,
}

/// IPv6 addresses of A and B, for the cases run over IPv6.
const A_IP6: Ipv6Addr = Ipv6Addr::new(0x2001, 2, 0, 0, 0, 0, 0, 1);
const B_IP6: Ipv6Addr = Ipv6Addr::new(0x2001, 2, 0, 0, 0, 0, 0, 2);

/// Listener `i`, counting round: few exist, so every index hits one.
fn pick(ls: &mut [ListenerModel], i: usize) -> Option<&mut ListenerModel> {
    let n = ls.len();
    ls.get_mut(i.checked_rem(n)?)
}

fn kind(r: &std::io::Result<impl std::fmt::Debug>) -> Option<ErrorKind> {
    r.as_ref().err().map(|e| e.kind())
}

impl World {
    fn a_ip(&self) -> IpAddr {
        if self.v6 {
            A_IP6.into()
        } else {
            A_IP.into()
        }
    }

    fn b_ip(&self) -> IpAddr {
        if self.v6 {
            B_IP6.into()
        } else {
            B_IP.into()
        }
    }

    fn a_addr(&self, port: u16) -> SocketAddr {
        SocketAddr::new(self.a_ip(), port)
    }

    fn b_addr(&self, port: u16) -> SocketAddr {
        SocketAddr::new(self.b_ip(), port)
    }

    fn new(seed: u64, v6: bool) -> World {
        let mut ca = config(A_IP, seed);
        ca.max_sockets = MAX_SOCKETS;
        let mut cb = config(B_IP, seed + 1);
        for (c, ip) in [(&mut ca, A_IP6), (&mut cb, B_IP6)] {
            c.addresses.push(Cidr {
                addr: ip.into(),
                prefix_len: 64,
            });
        }
        let impair = Impair {
            delay: Duration::from_millis(1),
            ..Impair::default()
        };
        let w = Wire::with(
            Stack::new(ca).unwrap(),
            Stack::new(cb).unwrap(),
            seed,
            impair,
        );
        let mut world = World {
            w,
            peer: Peer::default(),
            udp: Vec::new(),
            listeners: Vec::new(),
            conns: Vec::new(),
            used_ports: Vec::new(),
            v6,
        };
        let echo = world.b_addr(ECHO);
        world.peer.listener = Some(world.w.b.tcp_listen(echo, 64).unwrap());
        world.peer.udp = Some(world.w.b.udp_bind(echo).unwrap());
        world
    }

    /// 100 ms of virtual time with B's automaton running.
    fn settle(&mut self) {
        for _ in 0..20 {
            self.peer.pump(&mut self.w.b);
            let t = self.w.now + Duration::from_millis(5);
            self.w.run_to(t);
        }
        self.peer.pump(&mut self.w.b);
    }

    fn full(&self) -> bool {
        self.w.a.socket_count() >= MAX_SOCKETS
    }

    fn apply(&mut self, op: &Op) -> Result<(), TestCaseError> {
        let full = self.full();
        let (echo, b_ip, a_ip) = (self.b_addr(ECHO), self.b_ip(), self.a_ip());
        prop_assert!(self.w.a.socket_count() <= MAX_SOCKETS);
        match *op {
            Op::UdpBind(port) => {
                let taken = self.udp.iter().any(|u| u.open && u.port == port);
                let r = self.w.a.udp_bind(self.a_addr(port));
                if taken {
                    prop_assert_eq!(kind(&r), Some(ErrorKind::AddrInUse));
                } else if full {
                    prop_assert_eq!(kind(&r), Some(ErrorKind::OutOfMemory));
                } else {
                    let h = r.map_err(|e| TestCaseError::fail(format!("udp_bind: {e}")))?;
                    self.udp.push(UdpModel {
                        h,
                        port,
                        open: true,
                        queue: VecDeque::new(),
                    });
                }
            }
            Op::UdpSend(i, n) => {
                let data = pattern(i as u64 * 7 + n as u64, n);
                let Some(u) = self.udp.get_mut(i) else {
                    return Ok(());
                };
                let r = self.w.a.udp_send_to(u.h, &data, echo);
                if u.open {
                    prop_assert_eq!(r.ok(), Some(n));
                    u.queue.push_back(data);
                } else {
                    prop_assert_eq!(kind(&r), Some(ErrorKind::NotFound));
                }
            }
            Op::UdpRecv(i) | Op::UdpPeek(i) => {
                let peek = matches!(op, Op::UdpPeek(_));
                let Some(u) = self.udp.get_mut(i) else {
                    return Ok(());
                };
                let mut buf = vec![0u8; 4000];
                let r = if peek {
                    self.w.a.udp_peek_from(u.h, &mut buf)
                } else {
                    self.w.a.udp_recv_from(u.h, &mut buf)
                };
                let want = if peek {
                    u.queue.front().cloned()
                } else {
                    u.queue.pop_front()
                };
                if !u.open {
                    prop_assert_eq!(kind(&r), Some(ErrorKind::NotFound));
                } else if let Some(want) = want {
                    let got = r.map_err(|e| TestCaseError::fail(format!("udp recv: {e}")))?;
                    prop_assert_eq!(got.from, echo);
                    prop_assert_eq!(&buf[..got.len], &want[..], "datagram content/order");
                } else {
                    prop_assert_eq!(kind(&r), Some(ErrorKind::WouldBlock));
                }
            }
            Op::UdpClose(i) => {
                if let Some(u) = self.udp.get_mut(i) {
                    self.w.a.udp_close(u.h);
                    u.open = false;
                }
            }
            Op::Listen(port) => {
                let listening = self.listeners.iter().any(|l| l.open && l.port == port);
                let r = self.w.a.tcp_listen(self.a_addr(port), BACKLOG);
                if listening {
                    prop_assert_eq!(kind(&r), Some(ErrorKind::AddrInUse));
                } else if self.used_ports.contains(&port) {
                    // A connection on the port may still exist (TIME-WAIT).
                    prop_assert!(
                        matches!(
                            kind(&r),
                            None | Some(ErrorKind::AddrInUse) | Some(ErrorKind::OutOfMemory)
                        ),
                        "{:?}",
                        r
                    );
                    if full {
                        prop_assert!(r.is_err());
                    }
                    if let Ok(h) = r {
                        self.listeners.push(ListenerModel {
                            h,
                            port,
                            open: true,
                            pending: VecDeque::new(),
                            opts: DEFAULTS,
                        });
                    }
                } else if full {
                    prop_assert_eq!(kind(&r), Some(ErrorKind::OutOfMemory));
                } else {
                    let h = r.map_err(|e| TestCaseError::fail(format!("listen: {e}")))?;
                    self.listeners.push(ListenerModel {
                        h,
                        port,
                        open: true,
                        pending: VecDeque::new(),
                        opts: DEFAULTS,
                    });
                }
            }
            Op::Accept(i) => {
                let Some(l) = pick(&mut self.listeners, i) else {
                    return Ok(());
                };
                let r = self.w.a.tcp_accept(l.h);
                if !l.open {
                    prop_assert_eq!(kind(&r), Some(ErrorKind::NotFound));
                } else if let Some((expect, opts)) = l.pending.pop_front() {
                    let (h, from) = r.map_err(|e| TestCaseError::fail(format!("accept: {e}")))?;
                    prop_assert_eq!(from.ip(), b_ip);
                    let a = &self.w.a;
                    let got = Inherited {
                        nodelay: a.tcp_nodelay(h).unwrap_or(!opts.nodelay),
                        recv_buffer: a.tcp_buffer_sizes(h).map_or(0, |(_, r)| r),
                        ttl: a.tcp_ttl(h).unwrap_or(0),
                        linger: a.tcp_linger(h).unwrap_or(Some(Duration::MAX)),
                    };
                    prop_assert_eq!(got, opts, "options inherited from the listener");
                    self.conns.push(ConnModel {
                        h,
                        open: true,
                        expect,
                        read: 0,
                        finite: true,
                        echo: false,
                        shut_wr: false,
                        eof: false,
                        ttl: opts.ttl,
                    });
                } else {
                    prop_assert_eq!(kind(&r), Some(ErrorKind::WouldBlock));
                }
            }
            Op::CloseListener(i) => {
                if let Some(l) = pick(&mut self.listeners, i) {
                    self.w.a.tcp_close(l.h);
                    l.open = false;
                    l.pending.clear();
                }
            }
            Op::PeerConnect(port, n) => {
                let target = self.listeners.iter_mut().find(|l| l.open && l.port == port);
                let data = pattern(0xb0b + n as u64, n);
                let h = self
                    .w
                    .b
                    .tcp_connect(SocketAddr::new(a_ip, port), None)
                    .unwrap();
                self.peer.clients.insert(h, (data.clone(), false));
                match target {
                    Some(l) if !full && l.pending.len() < BACKLOG => {
                        l.pending.push_back((data, l.opts));
                        if !self.used_ports.contains(&port) {
                            self.used_ports.push(port);
                        }
                    }
                    _ => {
                        // Refused (RST) or dropped (limit, full backlog):
                        // B gives up at once so nothing lands later.
                        self.settle();
                        if self.peer.clients.remove(&h).is_some() {
                            self.w.b.tcp_abort(h);
                        }
                        self.used_ports.push(port);
                    }
                }
            }
            Op::Connect => {
                let r = self.w.a.tcp_connect(self.b_addr(ECHO), None);
                if full {
                    prop_assert_eq!(kind(&r), Some(ErrorKind::OutOfMemory));
                } else {
                    let h = r.map_err(|e| TestCaseError::fail(format!("connect: {e}")))?;
                    self.conns.push(ConnModel {
                        h,
                        open: true,
                        expect: Vec::new(),
                        read: 0,
                        finite: false,
                        echo: true,
                        shut_wr: false,
                        eof: false,
                        ttl: DEFAULTS.ttl,
                    });
                }
            }
            Op::Send(i, n) => {
                let Some(c) = self.conns.get_mut(i) else {
                    return Ok(());
                };
                let data = pattern(c.expect.len() as u64 + i as u64, n);
                let r = self.w.a.tcp_send(c.h, &data);
                if !c.open {
                    prop_assert!(r.is_err(), "send on a closed handle: {:?}", r);
                } else if c.shut_wr {
                    prop_assert_eq!(kind(&r), Some(ErrorKind::BrokenPipe));
                } else {
                    let sent = r.map_err(|e| TestCaseError::fail(format!("send: {e}")))?;
                    prop_assert_eq!(sent, n, "1 MiB send buffer takes it all");
                    if c.echo {
                        c.expect.extend_from_slice(&data);
                    }
                }
            }
            Op::Recv(i, max) | Op::Peek(i, max) => {
                let peek = matches!(op, Op::Peek(..));
                let Some(c) = self.conns.get_mut(i) else {
                    return Ok(());
                };
                let mut buf = vec![0u8; max];
                let r = if peek {
                    self.w.a.tcp_peek(c.h, &mut buf)
                } else {
                    self.w.a.tcp_recv(c.h, &mut buf)
                };
                if !c.open {
                    // Closed handles: see `handle_is_released_by_close`.
                    return Ok(());
                }
                let avail = c.expect.len() - c.read;
                let ends = c.finite || (c.echo && c.shut_wr);
                match r {
                    Ok(0) => {
                        prop_assert!(
                            ends && avail == 0,
                            "EOF with {} bytes still owed (finite {}, peek {})",
                            avail,
                            ends,
                            peek
                        );
                        c.eof |= !peek;
                    }
                    Ok(n) => {
                        prop_assert_eq!(n, avail.min(max), "everything sent has arrived");
                        prop_assert_eq!(&buf[..n], &c.expect[c.read..c.read + n]);
                        // A peek consumes nothing: the next read is
                        // checked against the same bytes.
                        if !peek {
                            c.read += n;
                        }
                    }
                    Err(e) => {
                        prop_assert_eq!(e.kind(), ErrorKind::WouldBlock, "{}", e);
                        prop_assert!(avail == 0 && !ends, "{} bytes owed, ends {}", avail, ends);
                    }
                }
            }
            Op::ShutdownWrite(i) => {
                let Some(c) = self.conns.get_mut(i) else {
                    return Ok(());
                };
                let r = self.w.a.tcp_shutdown(c.h, Shutdown::Write);
                if c.open && c.shut_wr {
                    // Again: Ok, or NotConnected once the connection is over.
                    prop_assert!(
                        matches!(kind(&r), None | Some(ErrorKind::NotConnected)),
                        "{:?}",
                        r
                    );
                } else if c.open {
                    prop_assert!(r.is_ok(), "{:?}", r);
                    c.shut_wr = true;
                }
                // Closed handles: see `handle_is_released_by_close`.
            }
            Op::Close(i) | Op::Abort(i) => {
                let Some(c) = self.conns.get_mut(i) else {
                    return Ok(());
                };
                if matches!(op, Op::Close(_)) {
                    self.w.a.tcp_close(c.h);
                } else {
                    self.w.a.tcp_abort(c.h);
                }
                c.open = false;
            }
            Op::Wait(ms) => {
                let t = self.w.now + Duration::from_millis(ms);
                self.w.run_to(t);
            }
            Op::ListenerOpts(i, nodelay, rb, ttl, lg) => {
                let Some(l) = pick(&mut self.listeners, i) else {
                    return Ok(());
                };
                let a = &mut self.w.a;
                let r = a
                    .tcp_set_nodelay(l.h, nodelay)
                    .and_then(|()| a.tcp_set_recv_buffer(l.h, RECV_BUFFERS[rb]))
                    .and_then(|()| a.tcp_set_ttl(l.h, ttl))
                    .and_then(|()| a.tcp_set_linger(l.h, LINGERS[lg]));
                if l.open {
                    prop_assert!(r.is_ok(), "{:?}", r);
                    l.opts = Inherited {
                        nodelay,
                        recv_buffer: RECV_BUFFERS[rb],
                        ttl,
                        linger: LINGERS[lg],
                    };
                } else {
                    prop_assert_eq!(kind(&r), Some(ErrorKind::NotFound));
                }
            }
            Op::SetTtl(i, ttl) => {
                let Some(c) = self.conns.get_mut(i) else {
                    return Ok(());
                };
                let r = self.w.a.tcp_set_ttl(c.h, ttl);
                if !c.open {
                    prop_assert_eq!(kind(&r), Some(ErrorKind::NotFound));
                } else if (1..=255).contains(&ttl) {
                    prop_assert!(r.is_ok(), "{:?}", r);
                    c.ttl = ttl;
                } else {
                    prop_assert_eq!(kind(&r), Some(ErrorKind::InvalidInput));
                }
                if c.open {
                    prop_assert_eq!(self.w.a.tcp_ttl(c.h).ok(), Some(c.ttl));
                }
            }
        }
        self.settle();
        Ok(())
    }

    /// Closes everything and checks that nothing is left.
    fn teardown(&mut self) -> Result<(), TestCaseError> {
        for u in &self.udp {
            self.w.a.udp_close(u.h);
        }
        for l in &self.listeners {
            self.w.a.tcp_close(l.h);
        }
        for c in &self.conns {
            self.w.a.tcp_abort(c.h);
        }
        // Connections accepted but never taken are reset with the listener.
        if let Some(l) = self.peer.listener.take() {
            self.w.b.tcp_close(l);
        }
        if let Some(u) = self.peer.udp.take() {
            self.w.b.udp_close(u);
        }
        for h in self.peer.echo.keys().chain(self.peer.clients.keys()) {
            self.w.b.tcp_abort(*h);
        }
        let end = self.w.now + Duration::from_secs(900);
        self.w.run_to(end);
        for (name, s) in [("A", &self.w.a), ("B", &self.w.b)] {
            prop_assert_eq!(s.socket_count(), 0, "{}: sockets left", name);
            prop_assert_eq!(s.poll_at(), None, "{}: timer left", name);
            prop_assert_eq!(s.buffer_bytes(), 0, "{}: buffers left", name);
        }
        Ok(())
    }
}

proptest! {
    #![proptest_config(ProptestConfig {
        // PROPTEST_CASES overrides (e.g. 5000 for a longer run).
        cases: std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(256),
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn socket_api_matches_model(
        seed in any::<u64>(),
        v6 in any::<bool>(),
        ops in prop::collection::vec(op(), 1..40),
    ) {
        let mut world = World::new(seed, v6);
        for op in &ops {
            world.apply(op)?;
        }
        world.teardown()?;
    }
}

/// `tcp_close` / `tcp_abort` are documented to release the handle: later
/// calls with it must fail like a closed descriptor (NotFound, "invalid or
/// closed socket handle"), whatever the connection is still doing in the
/// background (FIN-WAIT, TIME-WAIT).
#[test]
fn handle_is_released_by_close() {
    let mut world = World::new(1, false);
    let mut bad = Vec::new();
    for abort in [false, true] {
        let h = world.w.a.tcp_connect(world.b_addr(ECHO), None).unwrap();
        world.settle();
        if abort {
            world.w.a.tcp_abort(h);
        } else {
            world.w.a.tcp_close(h);
        }
        world.settle();
        let what = if abort { "abort" } else { "close" };
        let mut buf = [0u8; 8];
        let calls: Vec<(&str, Option<ErrorKind>)> = vec![
            (
                "tcp_shutdown",
                kind(&world.w.a.tcp_shutdown(h, Shutdown::Write)),
            ),
            ("tcp_state", kind(&world.w.a.tcp_state(h))),
            ("tcp_info", kind(&world.w.a.tcp_info(h))),
            ("tcp_recv", kind(&world.w.a.tcp_recv(h, &mut buf))),
            ("tcp_send", kind(&world.w.a.tcp_send(h, b"x"))),
            ("tcp_set_nodelay", kind(&world.w.a.tcp_set_nodelay(h, true))),
            ("tcp_set_ttl", kind(&world.w.a.tcp_set_ttl(h, 9))),
            ("tcp_peek", kind(&world.w.a.tcp_peek(h, &mut buf))),
        ];
        for (call, k) in calls {
            if k != Some(ErrorKind::NotFound) {
                bad.push(format!("{call} after {what}: {k:?}"));
            }
        }
    }
    assert!(
        bad.is_empty(),
        "released handles still answer (socket_count {}): {bad:#?}",
        world.w.a.socket_count()
    );
}
