//! smoltcp 0.14's in-memory workloads, structured like ustack's: two
//! interfaces in one thread joined by the same packet queues, same MTU
//! and buffer sizes, checksums computed and verified (smoltcp's default
//! `ChecksumCapabilities`), smoltcp's default TCP settings otherwise
//! (CUBIC, Nagle, 10 ms delayed ACK, no timestamps).
use crate::link::{check_pattern, source_at, Ring, SmolEnd};
use crate::sys;
use crate::{Bulk, ConnRun, APP_CHUNK};
use smoltcp::iface::{Config, Interface, SocketHandle, SocketSet};
use smoltcp::socket::tcp;
use smoltcp::time::Instant;
use smoltcp::wire::{HardwareAddress, IpAddress, IpCidr};
use std::io;
use std::time::Duration;

const A: IpAddress = IpAddress::v4(198, 18, 0, 1);
const B: IpAddress = IpAddress::v4(198, 18, 0, 2);

pub struct SPair {
    ia: Interface,
    ib: Interface,
    pub sa: SocketSet<'static>,
    pub sb: SocketSet<'static>,
    ab: Ring,
    ba: Ring,
    epoch: std::time::Instant,
}

fn iface(addr: IpAddress, seed: u64, rx: &mut Ring, tx: &mut Ring) -> Interface {
    let mut cfg = Config::new(HardwareAddress::Ip);
    cfg.random_seed = seed;
    let mut dev = SmolEnd { rx, tx };
    let mut i = Interface::new(cfg, &mut dev, Instant::from_secs(1));
    i.update_ip_addrs(|a| {
        let _ = a.push(IpCidr::new(addr, 24));
    });
    i
}

pub fn socket(buffer: usize) -> tcp::Socket<'static> {
    tcp::Socket::new(
        tcp::SocketBuffer::new(vec![0u8; buffer]),
        tcp::SocketBuffer::new(vec![0u8; buffer]),
    )
}

impl SPair {
    pub fn new(mtu: usize) -> SPair {
        let mut ab = Ring::new(mtu);
        let mut ba = Ring::new(mtu);
        let ia = iface(A, 1, &mut ba, &mut ab);
        let ib = iface(B, 2, &mut ab, &mut ba);
        SPair {
            ia,
            ib,
            sa: SocketSet::new(vec![]),
            sb: SocketSet::new(vec![]),
            ab,
            ba,
            epoch: std::time::Instant::now(),
        }
    }

    pub fn now(&self) -> Instant {
        Instant::from_micros(self.epoch.elapsed().as_micros() as i64 + 1_000_000)
    }

    /// One round: A polls (ingress from B, egress to B), then B.
    pub fn pump(&mut self) {
        let now = self.now();
        let mut da = SmolEnd {
            rx: &mut self.ba,
            tx: &mut self.ab,
        };
        self.ia.poll(now, &mut da, &mut self.sa);
        let mut db = SmolEnd {
            rx: &mut self.ab,
            tx: &mut self.ba,
        };
        self.ib.poll(now, &mut db, &mut self.sb);
    }

    fn connect_pair(
        &mut self,
        buffer: usize,
        port: u16,
    ) -> io::Result<(SocketHandle, SocketHandle)> {
        let mut s = socket(buffer);
        s.listen(port).map_err(io::Error::other)?;
        let hs = self.sb.add(s);
        let mut c = socket(buffer);
        c.connect(self.ia.context(), (B, port), 49152)
            .map_err(io::Error::other)?;
        let hc = self.sa.add(c);
        let t0 = std::time::Instant::now();
        while !(self.sa.get::<tcp::Socket>(hc).may_send()
            && self.sb.get::<tcp::Socket>(hs).may_recv())
        {
            self.pump();
            if t0.elapsed() > Duration::from_secs(10) {
                return Err(io::Error::new(io::ErrorKind::TimedOut, "handshake"));
            }
        }
        Ok((hc, hs))
    }
}

pub fn bulk(mtu: usize, buffer: usize, total: u64, verify: bool, src: &[u8]) -> io::Result<Bulk> {
    let mut p = SPair::new(mtu);
    let (hc, hs) = p.connect_pair(buffer, 5001)?;
    let mut dst = vec![0u8; APP_CHUNK];
    let (mut sent, mut recvd) = (0u64, 0u64);
    let mut intact = true;
    let t0 = std::time::Instant::now();
    let cpu0 = sys::process_cpu();
    let deadline = t0 + Duration::from_secs(600);
    while recvd < total {
        {
            let c = p.sa.get_mut::<tcp::Socket>(hc);
            while sent < total {
                let chunk = source_at(src, sent, APP_CHUNK.min((total - sent) as usize));
                match c.send_slice(chunk) {
                    Ok(n) if n > 0 => sent += n as u64,
                    Ok(_) => break,
                    Err(e) => return Err(io::Error::other(e)),
                }
            }
        }
        p.pump();
        {
            let s = p.sb.get_mut::<tcp::Socket>(hs);
            loop {
                match s.recv_slice(&mut dst) {
                    Ok(0) => break,
                    Ok(n) => {
                        if verify && !check_pattern(src, recvd, &dst[..n]) {
                            intact = false;
                        }
                        recvd += n as u64;
                    }
                    Err(e) => return Err(io::Error::other(e)),
                }
            }
        }
        if std::time::Instant::now() > deadline {
            return Err(io::Error::new(io::ErrorKind::TimedOut, "bulk stalled"));
        }
    }
    let wall = t0.elapsed();
    let cpu = sys::process_cpu() - cpu0;
    Ok(Bulk {
        bytes: recvd,
        wall,
        cpu,
        intact: intact && recvd == total && p.ab.dropped + p.ba.dropped == 0,
        packets: p.ab.carried + p.ba.carried,
    })
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Client {
    Idle,
    /// Connecting; the request byte is sent once established.
    Start,
    Waiting,
    /// Closed by us; reusable once CLOSED (or TIME-WAIT).
    Closing,
}

/// Connection rate with `parallel` client sockets and `parallel + 64`
/// listening server sockets on one port (smoltcp has no backlog: each
/// connection needs its own socket). Sockets are reused: a server socket
/// in TIME-WAIT is aborted and listens again (no RST is sent: the client
/// is already gone), a client socket is reused once CLOSED.
pub fn conn(buffer: usize, total: usize, parallel: usize) -> io::Result<ConnRun> {
    let mut p = SPair::new(1500);
    let port = 80;
    let mut servers = Vec::new();
    for _ in 0..parallel + 64 {
        let mut s = socket(buffer);
        s.listen(port).map_err(io::Error::other)?;
        servers.push(p.sb.add(s));
    }
    let mut clients: Vec<(SocketHandle, Client)> = (0..parallel)
        .map(|_| (p.sa.add(socket(buffer)), Client::Idle))
        .collect();
    let (mut started, mut done, mut failed) = (0usize, 0usize, 0usize);
    let mut next_port: u16 = 32768;
    let mut byte = [0u8; 1];
    let t0 = std::time::Instant::now();
    let cpu0 = sys::process_cpu();
    let deadline = t0 + Duration::from_secs(300);
    while done + failed < total {
        for (h, st) in clients.iter_mut() {
            let s = p.sa.get_mut::<tcp::Socket>(*h);
            if *st == Client::Closing {
                match s.state() {
                    tcp::State::Closed => *st = Client::Idle,
                    tcp::State::TimeWait => {
                        s.abort();
                        *st = Client::Idle;
                    }
                    _ => {}
                }
            }
            if *st == Client::Idle && started < total {
                let lp = next_port;
                next_port = if next_port >= 60999 {
                    32768
                } else {
                    next_port + 1
                };
                s.connect(p.ia.context(), (B, port), lp)
                    .map_err(io::Error::other)?;
                started += 1;
                *st = Client::Start;
            }
            if *st == Client::Start {
                if s.may_send() {
                    let _ = s.send_slice(b"q");
                    *st = Client::Waiting;
                } else if !s.is_open() {
                    failed += 1;
                    *st = Client::Idle;
                }
            }
            if *st == Client::Waiting {
                if s.can_recv() {
                    let _ = s.recv_slice(&mut byte);
                    s.close();
                    done += 1;
                    *st = Client::Closing;
                } else if !s.is_open() {
                    failed += 1;
                    *st = Client::Idle;
                }
            }
        }
        p.pump();
        for &h in &servers {
            let s = p.sb.get_mut::<tcp::Socket>(h);
            match s.state() {
                tcp::State::Established | tcp::State::CloseWait if s.can_recv() => {
                    let _ = s.recv_slice(&mut byte);
                    let _ = s.send_slice(b"r");
                    s.close();
                }
                tcp::State::TimeWait | tcp::State::Closed => {
                    s.abort();
                    s.listen(port).map_err(io::Error::other)?;
                }
                _ => {}
            }
        }
        if std::time::Instant::now() > deadline {
            return Err(io::Error::new(io::ErrorKind::TimedOut, "conn stalled"));
        }
    }
    let wall = t0.elapsed();
    let cpu = sys::process_cpu() - cpu0;
    Ok(ConnRun {
        done,
        failed,
        wall,
        cpu,
    })
}
