//! ustack's in-memory workloads: two sans-IO stacks in one thread, joined
//! by the packet queues of [`crate::link`], driven by a real clock.
use crate::link::{check_pattern, source_at, Ring};
use crate::sys;
use crate::{Bulk, ConnRun, IdleRun, APP_CHUNK};
use std::collections::HashMap;
use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;
use ustack::{Cidr, Config, Instant, SocketHandle, Stack};

pub const ADDR_A: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 1);
pub const ADDR_B: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 2);

pub fn config(addr: Ipv4Addr, mtu: usize, buffer: usize, seed: u64) -> Config {
    let mut c = Config::default();
    c.addresses.push(
        format!("{addr}/24")
            .parse::<Cidr>()
            .expect("valid CIDR literal"),
    );
    c.mtu = mtu;
    c.seed = seed;
    c.tcp.send_buffer = buffer;
    c.tcp.recv_buffer = buffer;
    // The anchors' buffers are fixed: so are ours (no auto-tuning).
    c.tcp.send_buffer_auto = false;
    c.tcp.recv_buffer_auto = false;
    c
}

/// Two stacks (A = client side, B = server side) and the link between.
pub struct UPair {
    pub a: Stack,
    pub b: Stack,
    ab: Ring,
    ba: Ring,
    epoch: std::time::Instant,
    next_port: u16,
}

/// Moves everything `from` has to send into `ring`, then delivers it.
fn xfer(from: &mut Stack, to: &mut Stack, ring: &mut Ring, now: Instant) -> usize {
    let mut moved = 0;
    loop {
        while !ring.is_full() {
            match from.poll_transmit(now, ring.tail()) {
                Some(n) => ring.push(n),
                None => break,
            }
        }
        if ring.is_empty() {
            return moved;
        }
        let full = ring.is_full();
        while let Some(p) = ring.front() {
            to.receive(now, p);
            ring.pop();
            moved += 1;
        }
        if !full {
            return moved;
        }
    }
}

impl UPair {
    pub fn new(mtu: usize, buffer: usize) -> io::Result<UPair> {
        Ok(UPair {
            a: Stack::new(config(ADDR_A, mtu, buffer, 1))?,
            b: Stack::new(config(ADDR_B, mtu, buffer, 2))?,
            ab: Ring::new(mtu),
            ba: Ring::new(mtu),
            epoch: std::time::Instant::now(),
            next_port: 5000,
        })
    }

    pub fn now(&self) -> Instant {
        Instant::from_micros(self.epoch.elapsed().as_micros() as u64 + 1_000_000)
    }

    /// One round: A's output to B, B's output to A, due timers.
    /// Returns the packets moved.
    pub fn pump(&mut self, now: Instant) -> usize {
        let mut moved = xfer(&mut self.a, &mut self.b, &mut self.ab, now);
        moved += xfer(&mut self.b, &mut self.a, &mut self.ba, now);
        if self.a.poll_at().is_some_and(|t| t <= now) {
            self.a.handle_timeout(now);
        }
        if self.b.poll_at().is_some_and(|t| t <= now) {
            self.b.handle_timeout(now);
        }
        moved
    }

    /// Pumps until nothing moves and no timer is due within `settle`.
    pub fn settle(&mut self, settle: Duration) {
        let until = std::time::Instant::now() + settle;
        loop {
            let now = self.now();
            let moved = self.pump(now);
            if moved == 0 && std::time::Instant::now() >= until {
                return;
            }
            if moved == 0 {
                std::thread::sleep(Duration::from_millis(1));
            }
        }
    }

    fn fresh_port(&mut self) -> u16 {
        self.next_port = self.next_port.wrapping_add(1).max(5000);
        self.next_port
    }

    /// A connected pair of handles (client on A, server on B).
    pub fn connect(&mut self) -> io::Result<(SocketHandle, SocketHandle)> {
        let port = self.fresh_port();
        let server = SocketAddr::new(IpAddr::V4(ADDR_B), port);
        let l = self.b.tcp_listen(server, 16)?;
        let c = self.a.tcp_connect(server, None)?;
        let start = std::time::Instant::now();
        let s = loop {
            let now = self.now();
            self.pump(now);
            match self.b.tcp_accept(l) {
                Ok((s, _)) => break s,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) => return Err(e),
            }
            if start.elapsed() > Duration::from_secs(10) {
                return Err(io::Error::new(io::ErrorKind::TimedOut, "handshake"));
            }
        };
        self.b.tcp_close(l);
        Ok((c, s))
    }

    /// Graceful close of both ends; pumps until the FIN exchange is done.
    pub fn close(&mut self, c: SocketHandle, s: SocketHandle) {
        self.a.tcp_close(c);
        self.b.tcp_close(s);
        for _ in 0..1000 {
            let now = self.now();
            if self.pump(now) == 0 {
                break;
            }
        }
    }
}

/// Bulk transfer of `total` bytes A → B over a fresh connection on `p`:
/// the application copies 64 KiB chunks from a pattern buffer into the
/// socket and reads into a 64 KiB buffer.
pub fn bulk_on(p: &mut UPair, total: u64, verify: bool, src: &[u8]) -> io::Result<Bulk> {
    let (c, s) = p.connect()?;
    let mut dst = vec![0u8; APP_CHUNK];
    let mut sent = 0u64;
    let mut recvd = 0u64;
    let mut intact = true;
    let packets0 = p.ab.carried + p.ba.carried;
    let t0 = std::time::Instant::now();
    let cpu0 = sys::process_cpu();
    let deadline = t0 + Duration::from_secs(600);
    while recvd < total {
        let now = p.now();
        while sent < total {
            let chunk = source_at(src, sent, APP_CHUNK.min((total - sent) as usize));
            match p.a.tcp_send(c, chunk) {
                Ok(n) if n > 0 => sent += n as u64,
                Ok(_) => break,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) => return Err(e),
            }
        }
        p.pump(now);
        loop {
            match p.b.tcp_recv(s, &mut dst) {
                Ok(0) => break,
                Ok(n) => {
                    if verify && !check_pattern(src, recvd, &dst[..n]) {
                        intact = false;
                    }
                    recvd += n as u64;
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) => return Err(e),
            }
        }
        if std::time::Instant::now() > deadline {
            return Err(io::Error::new(io::ErrorKind::TimedOut, "bulk stalled"));
        }
    }
    let wall = t0.elapsed();
    let cpu = sys::process_cpu() - cpu0;
    let packets = p.ab.carried + p.ba.carried - packets0;
    p.close(c, s);
    Ok(Bulk {
        bytes: recvd,
        wall,
        cpu,
        intact: intact && recvd == total && p.ab.dropped + p.ba.dropped == 0,
        packets,
    })
}

pub fn bulk(mtu: usize, buffer: usize, total: u64, verify: bool, src: &[u8]) -> io::Result<Bulk> {
    let mut p = UPair::new(mtu, buffer)?;
    bulk_on(&mut p, total, verify, src)
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Client {
    /// Request byte not yet queued.
    Start,
    /// Waiting for the reply byte.
    Waiting,
}

/// Connection rate: `total` connections, at most `parallel` in flight.
/// Each: connect, 1 byte each way, close (the server closes right after
/// replying; the client closes once it has read the reply).
pub fn conn(buffer: usize, total: usize, parallel: usize) -> io::Result<ConnRun> {
    let mut p = UPair::new(1500, buffer)?;
    let server = SocketAddr::new(IpAddr::V4(ADDR_B), 80);
    let l = p.b.tcp_listen(server, 4096)?;
    let mut clients: HashMap<SocketHandle, Client> = HashMap::with_capacity(parallel * 2);
    let mut servers: HashMap<SocketHandle, ()> = HashMap::with_capacity(parallel * 2);
    let (mut started, mut done, mut failed, mut inflight) = (0usize, 0usize, 0usize, 0usize);
    let mut byte = [0u8; 1];
    let t0 = std::time::Instant::now();
    let cpu0 = sys::process_cpu();
    let deadline = t0 + Duration::from_secs(300);
    let mut touched: Vec<SocketHandle> = Vec::new();
    let mut port = 32767u16;
    while done + failed < total {
        while inflight < parallel && started < total {
            // Local ports in sequence, as for smoltcp (see `next_local`).
            let h = loop {
                let local = SocketAddr::new(IpAddr::V4(ADDR_A), next_local(&mut port));
                match p.a.tcp_connect(server, Some(local)) {
                    Err(e) if e.kind() == io::ErrorKind::AddrInUse => continue,
                    r => break r?,
                }
            };
            started += 1;
            inflight += 1;
            // Queued in SYN-SENT, sent once established.
            let st = match p.a.tcp_send(h, b"q") {
                Ok(1) => Client::Waiting,
                _ => Client::Start,
            };
            clients.insert(h, st);
        }
        let now = p.now();
        p.pump(now);
        // Server side: accept, answer, close.
        touched.clear();
        while let Some(h) = p.b.poll_event() {
            touched.push(h);
        }
        for &h in &touched {
            if h == l {
                while let Ok((s, _)) = p.b.tcp_accept(l) {
                    servers.insert(s, ());
                    server_step(&mut p.b, s, &mut servers, &mut byte);
                }
            } else if servers.contains_key(&h) {
                server_step(&mut p.b, h, &mut servers, &mut byte);
            }
        }
        // Client side.
        touched.clear();
        while let Some(h) = p.a.poll_event() {
            touched.push(h);
        }
        for &h in &touched {
            let Some(st) = clients.get(&h).copied() else {
                continue;
            };
            let mut st = st;
            if st == Client::Start {
                match p.a.tcp_send(h, b"q") {
                    Ok(1) => st = Client::Waiting,
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                    _ => {
                        failed += 1;
                        inflight -= 1;
                        clients.remove(&h);
                        p.a.tcp_close(h);
                        continue;
                    }
                }
            }
            if st == Client::Waiting {
                match p.a.tcp_recv(h, &mut byte) {
                    Ok(1) => {
                        p.a.tcp_close(h);
                        clients.remove(&h);
                        done += 1;
                        inflight -= 1;
                        continue;
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                    _ => {
                        failed += 1;
                        inflight -= 1;
                        clients.remove(&h);
                        p.a.tcp_close(h);
                        continue;
                    }
                }
            }
            clients.insert(h, st);
        }
        if std::time::Instant::now() > deadline {
            return Err(io::Error::new(io::ErrorKind::TimedOut, "conn stalled"));
        }
    }
    let wall = t0.elapsed();
    let cpu = sys::process_cpu() - cpu0;
    if std::env::var_os("USTACK_BENCH_DEBUG").is_some() {
        eprintln!("client counters: {:?}", p.a.counters());
        eprintln!("server counters: {:?}", p.b.counters());
    }
    Ok(ConnRun {
        done,
        failed,
        wall,
        cpu,
    })
}

/// The next local port, cycling through 32768..=60999.
///
/// The connection workloads choose local ports in sequence instead of
/// letting `tcp_connect` pick a random one: with the stack's random pick a
/// port can be reused a few microseconds after its previous connection,
/// and the server's TIME-WAIT for that 4-tuple then rejects the new SYN
/// (ISN clock of 4 µs: the new ISN is not above the old RCV.NXT), which
/// stalls that connection for the whole TIME-WAIT (SYN back-off 1+2+...+32
/// s). See the benchmark README (engine findings).
fn next_local(port: &mut u16) -> u16 {
    *port = if *port >= 60999 { 32768 } else { *port + 1 };
    *port
}

fn server_step(
    b: &mut Stack,
    s: SocketHandle,
    servers: &mut HashMap<SocketHandle, ()>,
    byte: &mut [u8; 1],
) {
    match b.tcp_recv(s, byte) {
        Ok(1) => {
            let _ = b.tcp_send(s, b"r");
            b.tcp_close(s);
            servers.remove(&s);
        }
        Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
        _ => {
            b.tcp_close(s);
            servers.remove(&s);
        }
    }
}

/// `n` established connections (client ends on A, server ends on B), each
/// having carried 1 byte each way and gone idle; then RSS delta per
/// connection end, and bulk throughput of one more connection with them
/// present vs on a fresh pair.
pub fn idle(
    n: usize,
    buffer: usize,
    bulk_bytes: u64,
    verify: bool,
    src: &[u8],
) -> io::Result<IdleRun> {
    // Throughput alone first (same MTU and buffers, fresh pair).
    let alone = bulk(1500, buffer, bulk_bytes, verify, src)?;
    let mut p = UPair::new(1500, buffer)?;
    sys::trim_heap();
    let rss0 = sys::rss_bytes();
    // 20 000 connections per server port keeps ephemeral-port search short.
    let ports = n.div_ceil(20_000).max(1);
    let mut listeners = Vec::new();
    for i in 0..ports {
        let addr = SocketAddr::new(IpAddr::V4(ADDR_B), 9000 + i as u16);
        listeners.push((addr, p.b.tcp_listen(addr, 4096)?));
    }
    let mut conns: Vec<(SocketHandle, SocketHandle)> = Vec::with_capacity(n);
    let batch = 1000;
    let mut byte = [0u8; 1];
    let t0 = std::time::Instant::now();
    while conns.len() < n {
        let want = batch.min(n - conns.len());
        let mut cs = Vec::with_capacity(want);
        for i in 0..want {
            let (addr, _) = listeners[(conns.len() + i) % ports];
            let c = p.a.tcp_connect(addr, None)?;
            p.a.tcp_send(c, b"q")?;
            cs.push(c);
        }
        let mut ss = Vec::with_capacity(want);
        while ss.len() < want {
            let now = p.now();
            p.pump(now);
            for &(_, l) in &listeners {
                while let Ok((s, _)) = p.b.tcp_accept(l) {
                    ss.push(s);
                }
            }
            if t0.elapsed() > Duration::from_secs(300) {
                return Err(io::Error::new(io::ErrorKind::TimedOut, "idle set-up"));
            }
        }
        for &s in &ss {
            p.b.tcp_send(s, b"r")?;
        }
        let now = p.now();
        p.pump(now);
        for &s in &ss {
            while p.b.tcp_recv(s, &mut byte).is_ok_and(|k| k > 0) {}
        }
        for &c in &cs {
            while p.a.tcp_recv(c, &mut byte).is_ok_and(|k| k > 0) {}
        }
        // Pair up arbitrarily: only the counts matter.
        conns.extend(cs.into_iter().zip(ss));
    }
    // Let delayed ACKs fire so every connection is truly idle.
    p.settle(Duration::from_millis(120));
    sys::trim_heap();
    let rss1 = sys::rss_bytes();
    let established = p.a.socket_count() + p.b.socket_count() - ports;
    let with_idle = bulk_on(&mut p, bulk_bytes, verify, src)?;
    drop(conns);
    Ok(IdleRun {
        connections: n,
        bytes_per_conn_end: rss1.saturating_sub(rss0) as f64 / established.max(1) as f64,
        rss_delta: rss1.saturating_sub(rss0),
        alone,
        with_idle,
    })
}
