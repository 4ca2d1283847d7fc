//! TUN workloads: a stack in this process drives a TUN device whose
//! kernel side lives in a private network namespace (198.18.0.1/24 on the
//! kernel side, 198.18.0.2 for the stack), against a Linux socket in that
//! namespace, both directions. Nothing is routed out of the namespace.
//!
//! The namespace is made by `unshare(CLONE_NEWNET)` on a dedicated
//! thread: the TUN device is created there, and the kernel peer threads
//! it spawns inherit it. It vanishes with its last thread and socket.
//! Both engines run the same single-threaded loop: read every waiting
//! packet, fire timers, application step, write output, `ppoll` when
//! idle. ustack uses `ustack_devices::TunDevice`; smoltcp its own
//! `phy::TunTapInterface` (feature `phy-tuntap_interface`).
use crate::link::{check_pattern, source_at};
use crate::sys;
use crate::ustack_mem::config;
use crate::{Bulk, APP_CHUNK};
use std::io::{self, Read, Write};
use std::net::{IpAddr, Ipv4Addr, Shutdown, SocketAddr, TcpListener};
use std::os::fd::AsRawFd;
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

const KERNEL_IP: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 1);
const STACK_IP: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 2);
const IFNAME: &str = "ubench0";
pub const TUN_MTU: usize = 1500;

/// rx: kernel sends, the stack receives; tx: the stack sends.
pub struct TunRun {
    pub rx: Bulk,
    pub tx: Bulk,
}

trait Engine {
    fn connect(&mut self, port: u16) -> io::Result<()>;
    fn established(&mut self) -> bool;
    /// Bytes taken (0 when the send buffer is full).
    fn send(&mut self, data: &[u8]) -> io::Result<usize>;
    /// None: nothing to read now; Some(0): end of stream.
    fn recv(&mut self, buf: &mut [u8]) -> io::Result<Option<usize>>;
    fn close(&mut self);
    /// Device input, timers, output. True if a packet moved.
    fn poll(&mut self) -> io::Result<bool>;
    /// Sleeps until a packet or a timer (at most `max`).
    fn wait(&mut self, max: Duration);
}

fn wait_established(e: &mut dyn Engine) -> io::Result<()> {
    let t0 = Instant::now();
    while !e.established() {
        if !e.poll()? {
            e.wait(Duration::from_millis(5));
        }
        if t0.elapsed() > Duration::from_secs(10) {
            return Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "TUN handshake timed out",
            ));
        }
    }
    Ok(())
}

/// Keeps the engine running (ACKs, FINs) until `h` finishes (max 5 s).
fn drain_until<T>(e: &mut dyn Engine, h: &thread::JoinHandle<T>) -> io::Result<()> {
    let t0 = Instant::now();
    while !h.is_finished() && t0.elapsed() < Duration::from_secs(5) {
        if !e.poll()? {
            e.wait(Duration::from_millis(1));
        }
    }
    Ok(())
}

fn run_rx(
    e: &mut dyn Engine,
    l: TcpListener,
    total: u64,
    verify: bool,
    src: &Arc<Vec<u8>>,
) -> io::Result<Bulk> {
    let src2 = src.clone();
    let peer = thread::spawn(move || -> io::Result<()> {
        let (mut s, _) = l.accept()?;
        let mut sent = 0u64;
        while sent < total {
            let chunk = source_at(&src2, sent, APP_CHUNK.min((total - sent) as usize));
            s.write_all(chunk)?;
            sent += chunk.len() as u64;
        }
        s.shutdown(Shutdown::Write)?;
        let mut b = [0u8; 64];
        while s.read(&mut b)? > 0 {}
        Ok(())
    });
    e.connect(5201)?;
    wait_established(e)?;
    let t0 = Instant::now();
    let cpu0 = sys::process_cpu();
    let mut buf = vec![0u8; APP_CHUNK];
    let (mut got, mut intact) = (0u64, true);
    let deadline = t0 + Duration::from_secs(300);
    while got < total {
        let mut progress = e.poll()?;
        while let Some(n) = e.recv(&mut buf)? {
            if n == 0 {
                break;
            }
            if verify && !check_pattern(src, got, &buf[..n]) {
                intact = false;
            }
            got += n as u64;
            progress = true;
        }
        if !progress {
            e.wait(Duration::from_millis(10));
        }
        if Instant::now() > deadline {
            return Err(io::Error::new(io::ErrorKind::TimedOut, "TUN rx stalled"));
        }
    }
    let wall = t0.elapsed();
    let cpu = sys::process_cpu() - cpu0;
    e.close();
    drain_until(e, &peer)?;
    Ok(Bulk {
        bytes: got,
        wall,
        cpu,
        intact: intact && got == total,
        packets: 0,
    })
}

fn run_tx(
    e: &mut dyn Engine,
    l: TcpListener,
    total: u64,
    verify: bool,
    src: &Arc<Vec<u8>>,
) -> io::Result<Bulk> {
    let src2 = src.clone();
    let peer = thread::spawn(move || -> io::Result<(u64, bool, Instant)> {
        let (mut s, _) = l.accept()?;
        let mut buf = vec![0u8; APP_CHUNK];
        let (mut got, mut intact) = (0u64, true);
        let mut end = Instant::now();
        loop {
            let n = s.read(&mut buf)?;
            if n == 0 {
                break;
            }
            if verify && !check_pattern(&src2, got, &buf[..n]) {
                intact = false;
            }
            got += n as u64;
            if got >= total {
                end = Instant::now();
            }
        }
        Ok((got, intact, end))
    });
    e.connect(5202)?;
    wait_established(e)?;
    let t0 = Instant::now();
    let cpu0 = sys::process_cpu();
    let mut sent = 0u64;
    let mut closed = false;
    let deadline = t0 + Duration::from_secs(300);
    while !peer.is_finished() {
        let mut progress = e.poll()?;
        while sent < total {
            let chunk = source_at(src, sent, APP_CHUNK.min((total - sent) as usize));
            let n = e.send(chunk)?;
            if n == 0 {
                break;
            }
            sent += n as u64;
            progress = true;
        }
        if sent >= total && !closed {
            e.close();
            closed = true;
        }
        if !progress {
            e.wait(Duration::from_millis(10));
        }
        if Instant::now() > deadline {
            return Err(io::Error::new(io::ErrorKind::TimedOut, "TUN tx stalled"));
        }
    }
    let cpu = sys::process_cpu() - cpu0;
    let (got, intact, end) = peer
        .join()
        .map_err(|_| io::Error::other("kernel reader panicked"))??;
    Ok(Bulk {
        bytes: got,
        wall: end.saturating_duration_since(t0),
        cpu,
        intact: intact && got == total,
        packets: 0,
    })
}

/// Runs `f` on a thread in a fresh network namespace.
fn in_netns<T: Send + 'static>(
    f: impl FnOnce() -> io::Result<T> + Send + 'static,
) -> io::Result<T> {
    sys::tun_prerequisite().map_err(|e| io::Error::new(io::ErrorKind::PermissionDenied, e))?;
    thread::Builder::new()
        .name("tun-netns".into())
        .spawn(move || {
            sys::unshare_netns()?;
            sys::configure_iface("lo", None, None)?;
            f()
        })?
        .join()
        .map_err(|_| io::Error::other("TUN workload panicked"))?
}

fn listeners() -> io::Result<(TcpListener, TcpListener)> {
    Ok((
        TcpListener::bind((KERNEL_IP, 5201))?,
        TcpListener::bind((KERNEL_IP, 5202))?,
    ))
}

// ---------------------------------------------------------------------
// ustack
// ---------------------------------------------------------------------

struct UEngine {
    dev: ustack_devices::TunDevice,
    stack: ustack::Stack,
    h: Option<ustack::SocketHandle>,
    rx: Vec<u8>,
    tx: Vec<u8>,
    epoch: Instant,
}

impl UEngine {
    fn now(&self) -> ustack::Instant {
        ustack::Instant::from_micros(self.epoch.elapsed().as_micros() as u64 + 1_000_000)
    }
}

impl Engine for UEngine {
    fn connect(&mut self, port: u16) -> io::Result<()> {
        let now = self.now();
        self.stack.advance_clock(now);
        let h = self
            .stack
            .tcp_connect(SocketAddr::new(IpAddr::V4(KERNEL_IP), port), None)?;
        self.h = Some(h);
        Ok(())
    }
    fn established(&mut self) -> bool {
        self.h
            .is_some_and(|h| self.stack.tcp_state(h).ok() == Some(ustack::TcpState::Established))
    }
    fn send(&mut self, data: &[u8]) -> io::Result<usize> {
        let Some(h) = self.h else { return Ok(0) };
        match self.stack.tcp_send(h, data) {
            Ok(n) => Ok(n),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(0),
            Err(e) => Err(e),
        }
    }
    fn recv(&mut self, buf: &mut [u8]) -> io::Result<Option<usize>> {
        let Some(h) = self.h else { return Ok(None) };
        match self.stack.tcp_recv(h, buf) {
            Ok(n) => Ok(Some(n)),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(None),
            Err(e) => Err(e),
        }
    }
    fn close(&mut self) {
        if let Some(h) = self.h.take() {
            self.stack.tcp_close(h);
        }
    }
    fn poll(&mut self) -> io::Result<bool> {
        use ustack_devices::Device;
        let now = self.now();
        let mut moved = false;
        for _ in 0..256 {
            match self.dev.recv(&mut self.rx)? {
                Some(n) => {
                    self.stack.receive(now, &self.rx[..n]);
                    moved = true;
                }
                None => break,
            }
        }
        if self.stack.poll_at().is_some_and(|t| t <= now) {
            self.stack.handle_timeout(now);
        }
        while let Some(n) = self.stack.poll_transmit(now, &mut self.tx) {
            self.dev.send(&self.tx[..n])?;
            moved = true;
        }
        self.dev.flush()?;
        Ok(moved)
    }
    fn wait(&mut self, max: Duration) {
        use ustack_devices::Device;
        let now = self.now();
        let d = match self.stack.poll_at() {
            Some(t) => t.saturating_since(now).min(max),
            None => max,
        };
        if !d.is_zero() {
            sys::wait_readable(self.dev.readable_fd(), d);
        }
    }
}

/// ustack over the TUN; `offload`: with the kernel's checksum and TSO
/// offloads (`TunDevice::open_offload`).
pub fn ustack(
    buffer: usize,
    total: u64,
    verify: bool,
    src: Arc<Vec<u8>>,
    offload: bool,
) -> io::Result<TunRun> {
    in_netns(move || {
        let dev = if offload {
            ustack_devices::TunDevice::open_offload(IFNAME, Some(TUN_MTU))?
        } else {
            ustack_devices::TunDevice::open(IFNAME, Some(TUN_MTU))?
        };
        sys::configure_iface(dev.name(), None, Some((KERNEL_IP, 24)))?;
        let (l_rx, l_tx) = listeners()?;
        let mut e = UEngine {
            dev,
            stack: ustack::Stack::new(config(STACK_IP, TUN_MTU, buffer, 21))?,
            h: None,
            rx: vec![0u8; 65536],
            tx: vec![0u8; 65536],
            epoch: Instant::now(),
        };
        let rx = run_rx(&mut e, l_rx, total, verify, &src)?;
        let tx = run_tx(&mut e, l_tx, total, verify, &src)?;
        Ok(TunRun { rx, tx })
    })
}

// ---------------------------------------------------------------------
// smoltcp
// ---------------------------------------------------------------------

struct SEngine {
    dev: smoltcp::phy::TunTapInterface,
    iface: smoltcp::iface::Interface,
    sockets: smoltcp::iface::SocketSet<'static>,
    h: Option<smoltcp::iface::SocketHandle>,
    buffer: usize,
    epoch: Instant,
    port: u16,
}

impl SEngine {
    fn now(&self) -> smoltcp::time::Instant {
        smoltcp::time::Instant::from_micros(self.epoch.elapsed().as_micros() as i64 + 1_000_000)
    }
    fn sock(&mut self) -> Option<&mut smoltcp::socket::tcp::Socket<'static>> {
        let h = self.h?;
        Some(self.sockets.get_mut::<smoltcp::socket::tcp::Socket>(h))
    }
}

impl Engine for SEngine {
    fn connect(&mut self, port: u16) -> io::Result<()> {
        if let Some(h) = self.h.take() {
            self.sockets.remove(h);
        }
        let mut s = crate::smol_mem::socket(self.buffer);
        self.port += 1;
        s.connect(
            self.iface.context(),
            (smoltcp::wire::IpAddress::from(KERNEL_IP), port),
            self.port,
        )
        .map_err(io::Error::other)?;
        self.h = Some(self.sockets.add(s));
        Ok(())
    }
    fn established(&mut self) -> bool {
        self.sock()
            .is_some_and(|s| s.state() == smoltcp::socket::tcp::State::Established)
    }
    fn send(&mut self, data: &[u8]) -> io::Result<usize> {
        match self.sock() {
            Some(s) => s.send_slice(data).map_err(io::Error::other),
            None => Ok(0),
        }
    }
    fn recv(&mut self, buf: &mut [u8]) -> io::Result<Option<usize>> {
        match self.sock() {
            Some(s) => match s.recv_slice(buf) {
                Ok(0) => Ok(None),
                Ok(n) => Ok(Some(n)),
                Err(smoltcp::socket::tcp::RecvError::Finished) => Ok(Some(0)),
                Err(e) => Err(io::Error::other(e)),
            },
            None => Ok(None),
        }
    }
    fn close(&mut self) {
        if let Some(s) = self.sock() {
            s.close();
        }
    }
    fn poll(&mut self) -> io::Result<bool> {
        let now = self.now();
        let r = self.iface.poll(now, &mut self.dev, &mut self.sockets);
        Ok(r == smoltcp::iface::PollResult::SocketStateChanged)
    }
    fn wait(&mut self, max: Duration) {
        let now = self.now();
        let d = match self.iface.poll_delay(now, &self.sockets) {
            Some(d) => Duration::from_micros(d.total_micros()).min(max),
            None => max,
        };
        if !d.is_zero() {
            sys::wait_readable(self.dev.as_raw_fd(), d);
        }
    }
}

pub fn smoltcp(buffer: usize, total: u64, verify: bool, src: Arc<Vec<u8>>) -> io::Result<TunRun> {
    in_netns(move || {
        use smoltcp::phy::{Medium, TunTapInterface};
        let mut dev = TunTapInterface::new(IFNAME, Medium::Ip)?;
        sys::configure_iface(IFNAME, Some(TUN_MTU), Some((KERNEL_IP, 24)))?;
        let mut cfg = smoltcp::iface::Config::new(smoltcp::wire::HardwareAddress::Ip);
        cfg.random_seed = 22;
        let mut iface =
            smoltcp::iface::Interface::new(cfg, &mut dev, smoltcp::time::Instant::from_secs(1));
        iface.update_ip_addrs(|a| {
            let _ = a.push(smoltcp::wire::IpCidr::new(
                smoltcp::wire::IpAddress::from(STACK_IP),
                24,
            ));
        });
        let (l_rx, l_tx) = listeners()?;
        let mut e = SEngine {
            dev,
            iface,
            sockets: smoltcp::iface::SocketSet::new(vec![]),
            h: None,
            buffer,
            epoch: Instant::now(),
            port: 40000,
        };
        let rx = run_rx(&mut e, l_rx, total, verify, &src)?;
        let tx = run_tx(&mut e, l_tx, total, verify, &src)?;
        Ok(TunRun { rx, tx })
    })
}
