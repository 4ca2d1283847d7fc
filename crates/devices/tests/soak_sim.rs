//! Soak: one hour of simulated time on lossy, reordering, duplicating,
//! corrupting links. Two client hosts keep opening connections to a
//! server, each a request/response exchange with verified payloads, some
//! closed by the client as soon as the request is queued (orphans that
//! must still deliver). At the end: every byte verified, no connection
//! failed, and after TIME-WAIT every stack is back to zero sockets, no
//! timer armed and no buffer memory.
//!
//! Knobs: USTACK_SOAK_SECS (simulated seconds of arrivals, default 3600),
//! USTACK_SOAK_SEED.
use std::collections::HashMap;
use std::io::ErrorKind;
use std::net::{IpAddr, Ipv4Addr, Shutdown, SocketAddr};
use ustack::rng::Rng;
use ustack::{Cidr, Config, Duration, Instant, SocketHandle, Stack};
use ustack_devices::sim::{HostId, LinkConfig, Network, StepError};

const SERVER_IP: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 2);
const HEADER: usize = 16;

/// Endless deterministic byte stream for a connection id.
struct Gen(u64);

impl Gen {
    fn new(id: u64) -> Gen {
        Gen(id.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }
    fn next(&mut self) -> u8 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 >> 32) as u8
    }
}

/// Sends `total` bytes of a stream (after an optional header) through
/// `tcp_send`, generating them as the send buffer takes them.
struct Sender {
    gen: Gen,
    left: usize,
    pending: Vec<u8>,
}

impl Sender {
    fn new(header: Vec<u8>, gen: Gen, total: usize) -> Sender {
        Sender {
            gen,
            left: total,
            pending: header,
        }
    }
    fn done(&self) -> bool {
        self.left == 0 && self.pending.is_empty()
    }
    /// Queues what fits; Err on a socket error.
    fn pump(&mut self, s: &mut Stack, h: SocketHandle) -> Result<(), String> {
        loop {
            if self.pending.len() < 16 * 1024 && self.left > 0 {
                let n = self.left.min(64 * 1024);
                self.pending.extend((0..n).map(|_| self.gen.next()));
                self.left -= n;
            }
            if self.pending.is_empty() {
                return Ok(());
            }
            match s.tcp_send(h, &self.pending) {
                Ok(n) => {
                    self.pending.drain(..n);
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => return Ok(()),
                Err(e) => return Err(format!("send: {e}")),
            }
        }
    }
}

/// Verifies received bytes against a stream.
struct Checker {
    gen: Gen,
    got: usize,
}

impl Checker {
    fn check(&mut self, data: &[u8]) -> Result<(), String> {
        for (i, b) in data.iter().enumerate() {
            if *b != self.gen.next() {
                return Err(format!("byte {} corrupted", self.got + i));
            }
        }
        self.got += data.len();
        Ok(())
    }
}

/// Reads until WouldBlock; Ok(true) at EOF.
fn read_some(
    s: &mut Stack,
    h: SocketHandle,
    buf: &mut [u8],
    mut f: impl FnMut(&[u8]) -> Result<(), String>,
) -> Result<bool, String> {
    loop {
        match s.tcp_recv(h, buf) {
            Ok(0) => return Ok(true),
            Ok(n) => f(&buf[..n])?,
            Err(e) if e.kind() == ErrorKind::WouldBlock => return Ok(false),
            Err(e) => return Err(format!("recv: {e}")),
        }
    }
}

struct ClientConn {
    id: u64,
    host: usize,
    h: SocketHandle,
    req: Sender,
    /// Close right after the request is queued (no response expected).
    orphan: bool,
    shut: bool,
    resp: Checker,
    resp_len: usize,
}

struct ServerConn {
    h: SocketHandle,
    header: Vec<u8>,
    id: u64,
    req_len: usize,
    resp_len: usize,
    req: Option<Checker>,
    resp: Option<Sender>,
}

#[derive(Default, Debug)]
struct Totals {
    opened: u64,
    client_done: u64,
    server_done: u64,
    orphans: u64,
    bytes_verified: u64,
    failures: Vec<String>,
}

fn stack(ip: Ipv4Addr, seed: u64) -> Stack {
    Stack::new(Config {
        addresses: vec![Cidr {
            addr: IpAddr::V4(ip),
            prefix_len: 24,
        }],
        seed,
        ..Config::default()
    })
    .expect("stack")
}

fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

struct Soak {
    net: Network,
    clients: Vec<HostId>,
    server: HostId,
    listener: Option<SocketHandle>,
    cconns: Vec<HashMap<SocketHandle, ClientConn>>,
    sconns: HashMap<SocketHandle, ServerConn>,
    t: Totals,
    buf: Vec<u8>,
    peak_sockets: usize,
    peak_buffer: usize,
}

impl Soak {
    fn open(&mut self, ci: usize, rng: &mut Rng) {
        let id = self.t.opened;
        self.t.opened += 1;
        let orphan = rng.chance(0.15);
        let req_len = if rng.chance(0.1) {
            rng.range(0, 400_000)
        } else {
            rng.range(0, 20_000)
        } as usize;
        let resp_len = if orphan {
            0
        } else if rng.chance(0.1) {
            rng.range(0, 600_000) as usize
        } else {
            rng.range(0, 50_000) as usize
        };
        let mut header = Vec::with_capacity(HEADER);
        header.extend_from_slice(&id.to_le_bytes());
        header.extend_from_slice(&(req_len as u32).to_le_bytes());
        header.extend_from_slice(&(resp_len as u32).to_le_bytes());
        let host = self.clients[ci];
        let server = SocketAddr::new(IpAddr::V4(SERVER_IP), 80);
        let s = self.net.stack_mut(host);
        let h = match s.tcp_connect(server, None) {
            Ok(h) => h,
            Err(e) => {
                self.t.failures.push(format!("conn {id}: connect: {e}"));
                return;
            }
        };
        let mut c = ClientConn {
            id,
            host: ci,
            h,
            req: Sender::new(header, Gen::new(id), req_len),
            orphan,
            shut: false,
            resp: Checker {
                gen: Gen::new(id ^ 0xfeed),
                got: 0,
            },
            resp_len,
        };
        if let Err(e) = self.client_step(&mut c) {
            self.t.failures.push(format!("conn {id}: {e}"));
            return;
        }
        if !(c.orphan && c.shut) {
            self.cconns[ci].insert(h, c);
        }
    }

    /// Client side; Ok(true) when finished (socket released).
    fn client_step(&mut self, c: &mut ClientConn) -> Result<bool, String> {
        let host = self.clients[c.host];
        let s = self.net.stack_mut(host);
        c.req.pump(s, c.h)?;
        // (An orphan close waits for the handshake: tcp_close in SYN-SENT
        // discards queued data, see data_safety.rs.)
        let connecting = s.tcp_state(c.h).ok() == Some(ustack::TcpState::SynSent);
        if c.req.done() && !c.shut && !(c.orphan && connecting) {
            c.shut = true;
            if c.orphan {
                // Closed with the request still queued: the stack must
                // deliver it on its own.
                s.tcp_close(c.h);
                self.t.orphans += 1;
                self.t.client_done += 1;
                return Ok(true);
            }
            s.tcp_shutdown(c.h, Shutdown::Write)
                .map_err(|e| format!("shutdown: {e}"))?;
        }
        let resp = &mut c.resp;
        let eof = read_some(s, c.h, &mut self.buf, |d| resp.check(d))?;
        if eof {
            if c.resp.got != c.resp_len {
                return Err(format!(
                    "response truncated: {} of {} bytes",
                    c.resp.got, c.resp_len
                ));
            }
            s.tcp_close(c.h);
            self.t.client_done += 1;
            self.t.bytes_verified += c.resp_len as u64;
            return Ok(true);
        }
        Ok(false)
    }

    /// Server side; Ok(true) when finished.
    fn server_step(&mut self, c: &mut ServerConn) -> Result<bool, String> {
        let s = self.net.stack_mut(self.server);
        if let Some(resp) = &mut c.resp {
            resp.pump(s, c.h)?;
            if resp.done() {
                s.tcp_close(c.h);
                self.t.server_done += 1;
                return Ok(true);
            }
            return Ok(false);
        }
        let header = &mut c.header;
        let (id, req_len, resp_len, req) = (&mut c.id, &mut c.req_len, &mut c.resp_len, &mut c.req);
        let eof = read_some(s, c.h, &mut self.buf, |mut d| {
            if header.len() < HEADER {
                let k = (HEADER - header.len()).min(d.len());
                header.extend_from_slice(&d[..k]);
                d = &d[k..];
                if header.len() == HEADER {
                    *id = u64::from_le_bytes(header[..8].try_into().unwrap());
                    *req_len = u32::from_le_bytes(header[8..12].try_into().unwrap()) as usize;
                    *resp_len = u32::from_le_bytes(header[12..16].try_into().unwrap()) as usize;
                    *req = Some(Checker {
                        gen: Gen::new(*id),
                        got: 0,
                    });
                }
            }
            match req {
                Some(r) => r.check(d),
                None => Ok(()),
            }
        })?;
        if eof {
            let got = c.req.as_ref().map_or(0, |r| r.got);
            if c.header.len() < HEADER || got != c.req_len {
                return Err(format!(
                    "request of conn {} truncated: {got} of {} bytes",
                    c.id, c.req_len
                ));
            }
            self.t.bytes_verified += c.req_len as u64;
            c.resp = Some(Sender::new(Vec::new(), Gen::new(c.id ^ 0xfeed), c.resp_len));
            return self.server_step(c);
        }
        Ok(false)
    }

    /// Processes readiness events of every host (and new connections).
    fn app(&mut self) {
        // Server: accept, then the sockets whose readiness changed.
        while let Some(l) = self.listener {
            let s = self.net.stack_mut(self.server);
            match s.tcp_accept(l) {
                Ok((h, _)) => {
                    self.sconns.insert(
                        h,
                        ServerConn {
                            h,
                            header: Vec::new(),
                            id: u64::MAX,
                            req_len: 0,
                            resp_len: 0,
                            req: None,
                            resp: None,
                        },
                    );
                    self.run_server(h);
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                Err(e) => {
                    self.t.failures.push(format!("accept: {e}"));
                    break;
                }
            }
        }
        while let Some(h) = self.net.stack_mut(self.server).poll_event() {
            self.run_server(h);
        }
        for ci in 0..self.clients.len() {
            let host = self.clients[ci];
            while let Some(h) = self.net.stack_mut(host).poll_event() {
                let Some(mut c) = self.cconns[ci].remove(&h) else {
                    continue;
                };
                match self.client_step(&mut c) {
                    Ok(true) => {}
                    Ok(false) => {
                        self.cconns[ci].insert(h, c);
                    }
                    Err(e) => {
                        let s = self.net.stack_mut(host);
                        s.tcp_abort(c.h);
                        self.t.failures.push(format!("client conn {}: {e}", c.id));
                    }
                }
            }
        }
        let mut sockets = 0;
        let mut buffer = 0;
        for h in self.clients.iter().chain([&self.server]) {
            sockets += self.net.stack(*h).socket_count();
            buffer += self.net.stack(*h).buffer_bytes();
        }
        self.peak_sockets = self.peak_sockets.max(sockets);
        self.peak_buffer = self.peak_buffer.max(buffer);
    }

    fn run_server(&mut self, h: SocketHandle) {
        let Some(mut c) = self.sconns.remove(&h) else {
            return;
        };
        match self.server_step(&mut c) {
            Ok(true) => {}
            Ok(false) => {
                self.sconns.insert(h, c);
            }
            Err(e) => {
                self.net.stack_mut(self.server).tcp_abort(h);
                self.t.failures.push(format!("server conn {}: {e}", c.id));
            }
        }
    }

    /// Processes every event up to `until` (application logic after each
    /// step), then moves the clock there.
    fn run_to(&mut self, until: Instant) {
        while let Some(t) = self.net.next_event() {
            if t > until {
                break;
            }
            match self.net.step() {
                Ok(_) => {}
                Err(StepError::Idle) => break,
                Err(e) => panic!("{e}"),
            }
            self.app();
        }
        self.net.run_until(until, 0).expect("advance");
        self.app();
    }
}

#[test]
fn soak_one_hour_lossy_reordering() {
    let wall = std::time::Instant::now();
    let secs = env_u64("USTACK_SOAK_SECS", 3600);
    let seed = env_u64("USTACK_SOAK_SEED", 2024);
    let mut rng = Rng::new(seed);
    let mut net = Network::new();
    let server = net.add_host(
        "server",
        stack(SERVER_IP, seed + 1),
        vec![IpAddr::V4(SERVER_IP)],
    );
    let link = LinkConfig {
        rate_mbps: Some(50.0),
        delay: Duration::from_millis(10),
        jitter: Duration::from_millis(2),
        queue_pkts: 200,
        loss: 0.01,
        burst_loss: 0.002,
        duplicate: 0.005,
        reorder: 0.01,
        corrupt: 0.002,
        mtu: None,
        black_hole: false,
    };
    // A third client sits behind a much worse path.
    let bad = LinkConfig {
        rate_mbps: Some(10.0),
        delay: Duration::from_millis(40),
        jitter: Duration::from_millis(10),
        loss: 0.05,
        burst_loss: 0.01,
        reorder: 0.05,
        ..link.clone()
    };
    let mut clients = Vec::new();
    for (i, (last, cfg)) in [(1u8, &link), (3, &link), (4, &bad)]
        .into_iter()
        .enumerate()
    {
        let ip = Ipv4Addr::new(198, 18, 0, last);
        let h = net.add_host(
            format!("client{i}"),
            stack(ip, seed + 10 + i as u64),
            vec![IpAddr::V4(ip)],
        );
        net.connect(h, server, cfg.clone(), &mut rng);
        clients.push(h);
    }
    let listener = net
        .stack_mut(server)
        .tcp_listen(SocketAddr::new(IpAddr::V4(SERVER_IP), 80), 128)
        .expect("listen");
    let nclients = clients.len();
    let mut soak = Soak {
        net,
        clients,
        server,
        listener: Some(listener),
        cconns: (0..nclients).map(|_| HashMap::new()).collect(),
        sconns: HashMap::new(),
        t: Totals::default(),
        buf: vec![0u8; 65536],
        peak_sockets: 0,
        peak_buffer: 0,
    };
    // Arrivals: each client opens a connection every 0-3 s (mean 1.5 s).
    let end = Instant::from_secs(secs);
    let mut next: Vec<Instant> = (0..nclients)
        .map(|_| Instant::from_micros(rng.range(0, 3_000_000)))
        .collect();
    loop {
        let (ci, at) = next
            .iter()
            .copied()
            .enumerate()
            .min_by_key(|(_, t)| *t)
            .expect("clients");
        if at >= end {
            break;
        }
        soak.run_to(at);
        soak.open(ci, &mut rng);
        next[ci] = at + Duration::from_micros(rng.range(0, 3_000_000));
    }
    // No more arrivals: let every exchange finish.
    let mut guard = 0;
    while !(soak.cconns.iter().all(HashMap::is_empty) && soak.sconns.is_empty()) {
        let t = soak.net.now() + Duration::from_secs(10);
        soak.run_to(t);
        guard += 1;
        assert!(
            guard < 1000,
            "exchanges never finished: {} client, {} server open; failures {:?}",
            soak.cconns.iter().map(HashMap::len).sum::<usize>(),
            soak.sconns.len(),
            soak.t.failures
        );
    }
    soak.net.stack_mut(server).tcp_close(listener);
    soak.listener = None;
    // TIME-WAIT (2 MSL = 60 s) and orphans finish on their own.
    let t = soak.net.now() + Duration::from_secs(600);
    soak.run_to(t);

    let t = &soak.t;
    let lc = soak.net.link_counters();
    let mut retransmits = 0;
    let mut challenge = 0;
    for h in soak.clients.iter().chain([&soak.server]) {
        let c = soak.net.stack(*h).counters();
        retransmits += c.tcp.retransmits;
        challenge += c.tcp_challenge_acks;
    }
    eprintln!(
        "soak: {secs} s simulated (ended at {}), wall {:.2?}; {} connections ({} orphan closes), \
         {} client / {} server exchanges done, {:.1} MB verified; link: {} sent, {} lost, {} corrupted, \
         {} reordered, {} duplicated; {retransmits} retransmits, {challenge} challenge ACKs; \
         peak {} sockets, {:.1} MB buffers; {} steps",
        soak.net.now(),
        wall.elapsed(),
        t.opened,
        t.orphans,
        t.client_done,
        t.server_done,
        t.bytes_verified as f64 / 1e6,
        lc.sent,
        lc.dropped(),
        lc.corrupted,
        lc.reordered,
        lc.duplicated,
        soak.peak_sockets,
        soak.peak_buffer as f64 / 1e6,
        soak.net.steps()
    );
    assert!(t.failures.is_empty(), "failures: {:#?}", t.failures);
    assert_eq!(t.client_done, t.opened, "every client finished");
    assert_eq!(t.server_done, t.opened, "every request served");
    assert!(t.opened >= secs / 3, "too few connections: {}", t.opened);
    for h in soak.clients.iter().chain([&soak.server]) {
        let name = soak.net.host_name(*h).to_string();
        let s = soak.net.stack(*h);
        assert_eq!(s.socket_count(), 0, "{name}: leaked sockets");
        assert_eq!(s.buffer_bytes(), 0, "{name}: buffer memory not returned");
        assert_eq!(s.poll_at(), None, "{name}: timer left armed");
        assert_eq!(s.tcp_busy_count(), 0, "{name}: busy connections");
    }
    assert_eq!(soak.net.next_event(), None, "network idle");
}
