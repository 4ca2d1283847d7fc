//! The transfer scenario: one TCP connection over a simulated link, bytes
//! both ways, verified end to end.
//!
//! Host A (client, 198.18.0.1/24) connects to host B (server,
//! 198.18.0.2/24) port 5001. The client writes `bytes` and the server
//! `reverse_bytes` of pseudo-random content (from the seed) concurrently;
//! each side, once everything is written, shuts down its write half and
//! reads until end of stream. The run ends when both connections are in
//! CLOSED or TIME-WAIT; both handles are then closed. What each side wrote
//! and what the other read are hashed (128-bit SipHash) and compared.
//!
//! The run is bounded by simulated time, by a step count, and by a
//! livelock detector (too many steps without the clock moving); any
//! unexpected error from a socket call ends it too. All of these make the
//! report say `intact: false` with an `error`.
use super::link::LinkConfig;
use super::{CapturePoint, HostId, Network, StepError};
use serde::Serialize;
use siphasher::sip128::{Hasher128, SipHasher13};
use std::collections::BTreeMap;
use std::hash::Hasher;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, Shutdown, SocketAddr};
use std::path::PathBuf;
use ustack::rng::Rng;
use ustack::{
    Cidr, Config, Duration, Instant, MtuProbing, SocketHandle, Stack, TcpConfig, TcpState,
};

/// Client address.
pub const CLIENT_ADDR: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 1);
/// Server address.
pub const SERVER_ADDR: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 2);
/// Client address over IPv6 (2001:2::/48 is IPv6's benchmarking range,
/// RFC 5180).
pub const CLIENT_ADDR6: Ipv6Addr = Ipv6Addr::new(0x2001, 2, 0, 0, 0, 0, 0, 1);
/// Server address over IPv6.
pub const SERVER_ADDR6: Ipv6Addr = Ipv6Addr::new(0x2001, 2, 0, 0, 0, 0, 0, 2);
/// Server port.
pub const SERVER_PORT: u16 = 5001;
/// The smallest MTU of an IPv6 link (RFC 8200 §5).
pub const MIN_MTU_V6: usize = 1280;
/// Listen backlog.
pub const BACKLOG: usize = 16;
/// Steps in a row at one instant after which the run counts as livelocked.
pub const LIVELOCK_STEPS: u64 = 100_000;

/// What to run.
#[derive(Debug, Clone)]
pub struct TransferConfig {
    /// Bytes client → server.
    pub bytes: u64,
    /// Bytes server → client.
    pub reverse_bytes: u64,
    /// Impairments, applied to both directions (each with its own random
    /// stream). A `link.mtu` of `None` means the stacks' `mtu`.
    pub link: LinkConfig,
    /// IP MTU of both stacks.
    pub mtu: usize,
    /// Run over IPv6 ([`CLIENT_ADDR6`], [`SERVER_ADDR6`]; the MTUs must
    /// be at least 1280) instead of IPv4.
    pub ipv6: bool,
    pub seed: u64,
    /// TCP_NODELAY on both sides.
    pub nodelay: bool,
    /// Write a pcap of every transmitted packet here.
    pub pcap: Option<PathBuf>,
    /// TCP configuration of both stacks (default: `TcpConfig::default()`);
    /// its `nodelay` is replaced by the field above.
    pub tcp: Option<TcpConfig>,
    /// Give up when simulated time exceeds this.
    pub time_limit: Duration,
    /// Give up after this many simulation steps.
    pub max_steps: u64,
    /// After the run, close the listener, let 2·MSL + 1 s pass and require
    /// that neither stack holds any socket.
    pub check_no_state_left: bool,
}

impl Default for TransferConfig {
    fn default() -> Self {
        TransferConfig {
            bytes: 10_000_000,
            reverse_bytes: 0,
            link: LinkConfig::default(),
            mtu: 1500,
            ipv6: false,
            seed: 1,
            nodelay: false,
            pcap: None,
            tcp: None,
            time_limit: Duration::from_secs(600),
            max_steps: 50_000_000,
            check_no_state_left: false,
        }
    }
}

/// What happened.
#[derive(Debug, Clone, Default, Serialize)]
pub struct TransferReport {
    pub seed: u64,
    /// Both directions delivered completely and byte-exactly, the run
    /// ended normally (and no state was left, when checked).
    pub intact: bool,
    /// Why the run failed, if it did.
    pub error: Option<String>,
    /// Bytes the client was to send / the server application read.
    pub bytes: u64,
    pub bytes_delivered: u64,
    /// Bytes the server was to send / the client application read.
    pub reverse_bytes: u64,
    pub reverse_bytes_delivered: u64,
    /// Content hashes matched in each direction.
    pub forward_hash_ok: bool,
    pub reverse_hash_ok: bool,
    /// Simulated time from the start to the end of the run.
    pub sim_seconds: f64,
    /// When the client called connect (its first SYN).
    pub first_syn_seconds: f64,
    /// When the server application read the last client byte.
    pub last_byte_seconds: Option<f64>,
    /// Client → server payload bits / (last byte − first SYN), in Mbit/s.
    pub goodput_mbps: f64,
    /// TCP counters summed over client and server.
    pub retransmits: u64,
    pub fast_retransmits: u64,
    pub timeouts: u64,
    pub dup_acks: u64,
    pub ooo_segments: u64,
    pub rsts: u64,
    /// Reductions undone as spurious: fast recoveries (D-SACK or Eifel)
    /// and timeouts (Eifel); D-SACK blocks received.
    pub spurious_recoveries: u64,
    pub spurious_rtos: u64,
    pub dsacks_received: u64,
    /// Path MTU reductions (`TcpCounters::pmtu_reductions`): from ICMP
    /// "fragmentation needed" or Packet Too Big (RFC 1191, RFC 8201) only;
    /// black-hole detection's are `black_hole_reductions`.
    pub pmtu_reductions: u64,
    /// MSS reductions by Path MTU black-hole detection, Path MTU probes
    /// sent and those that got through (RFC 4821; `TcpConfig::mtu_probing`).
    pub black_hole_reductions: u64,
    pub mtu_probes: u64,
    pub mtu_probe_successes: u64,
    /// Each side's effective send MSS (payload bytes per full segment) as
    /// last seen while its connection was open; the client sends `bytes`.
    pub client_final_mss: Option<usize>,
    pub server_final_mss: Option<usize>,
    /// Receive-buffer auto-tuning (`TcpConfig::recv_buffer_auto`): whether
    /// it was on, the growths of both sides, and the server's receive
    /// buffer (it receives `bytes`) as last seen while open.
    pub recv_buffer_auto: bool,
    pub recv_buffer_grows: u64,
    pub server_final_recv_buffer: Option<usize>,
    /// Send-buffer auto-tuning (`TcpConfig::send_buffer_auto`): whether it
    /// was on, the growths of both sides, and the client's send buffer
    /// (it sends `bytes`) as last seen while open.
    pub send_buffer_auto: bool,
    pub send_buffer_grows: u64,
    pub client_final_send_buffer: Option<usize>,
    /// Segments both sides took by header prediction
    /// (`TcpConfig::header_prediction`): in-order data
    /// (`TcpCounters::predicted`) and pure ACKs (`predicted_acks`).
    pub predicted: u64,
    pub predicted_acks: u64,
    /// TCP mechanisms in effect: congestion control and timestamps.
    pub congestion_control: String,
    pub timestamps: bool,
    pub sack: bool,
    pub rack: bool,
    pub hystart: bool,
    /// HyStart's ACK-train exit (`TcpConfig::hystart_ack_train`).
    pub hystart_ack_train: bool,
    /// Packetization-layer path MTU discovery (`TcpConfig::mtu_probing`):
    /// "off", "black-hole" or "always".
    pub mtu_probing: String,
    /// The link is a Path MTU black hole (`LinkConfig::black_hole`): what
    /// is too big for it is dropped without an ICMP answer.
    pub black_hole: bool,
    pub client_final_state: String,
    pub server_final_state: String,
    /// Packets offered to the links (both directions).
    pub packets_sent: u64,
    pub packets_delivered: u64,
    pub packets_dropped_by_link: u64,
    pub dropped_loss: u64,
    pub dropped_queue: u64,
    pub dropped_mtu: u64,
    /// Of `dropped_mtu`, those a black-hole link dropped without the ICMP
    /// answer a router would have sent.
    pub black_holed: u64,
    pub duplicated: u64,
    pub reordered: u64,
    pub corrupted: u64,
    /// Checksum failures counted by both stacks.
    pub checksum_drops: u64,
    /// Every non-zero stack drop counter, summed over both hosts.
    pub stack_drops: BTreeMap<String, u64>,
    /// Some(true) if sockets were still held after TIME-WAIT (when checked).
    pub state_left: Option<bool>,
    /// Simulation steps taken.
    pub steps: u64,
    /// Digest of the packet trace (hex).
    pub trace_hash: String,
    /// Wall-clock duration of the run.
    pub wall_ms: f64,
}

/// One side's application.
struct App {
    name: &'static str,
    host: HostId,
    handle: Option<SocketHandle>,
    to_send: u64,
    sent: u64,
    content: Rng,
    chunk: Vec<u8>,
    chunk_off: usize,
    sent_hash: SipHasher13,
    recv_hash: SipHasher13,
    received: u64,
    shut: bool,
    eof: bool,
    state: Option<TcpState>,
    /// The connection's send MSS and buffer sizes, last seen.
    mss: Option<usize>,
    send_buffer: Option<usize>,
    recv_buffer: Option<usize>,
}

const CHUNK: usize = 16 * 1024;

impl App {
    fn new(name: &'static str, host: HostId, to_send: u64, content: Rng) -> App {
        App {
            name,
            host,
            handle: None,
            to_send,
            sent: 0,
            content,
            chunk: Vec::new(),
            chunk_off: 0,
            sent_hash: SipHasher13::new_with_keys(1, 2),
            recv_hash: SipHasher13::new_with_keys(1, 2),
            received: 0,
            shut: false,
            eof: false,
            state: None,
            mss: None,
            send_buffer: None,
            recv_buffer: None,
        }
    }

    fn done(&self) -> bool {
        self.shut && self.eof && matches!(self.state, Some(TcpState::Closed | TcpState::TimeWait))
    }

    fn state_name(&self) -> String {
        match self.state {
            Some(s) => s.as_str().to_string(),
            None if self.handle.is_none() => "NONE".to_string(),
            None => "UNKNOWN".to_string(),
        }
    }

    /// Runs the application once: write what fits, shut down when all is
    /// written, read what is there. Returns the bytes read this time.
    fn pump(&mut self, stack: &mut Stack, rbuf: &mut [u8]) -> Result<u64, String> {
        let Some(h) = self.handle else { return Ok(0) };
        let name = self.name;
        let err = |what: &str, e: io::Error| format!("{name}: {what} failed: {e} ({:?})", e.kind());
        let state = stack.tcp_state(h).map_err(|e| err("tcp_state", e))?;
        self.state = Some(state);
        if matches!(
            state,
            TcpState::SynSent | TcpState::SynReceived | TcpState::Listen
        ) {
            return Ok(0);
        }
        if let Ok(info) = stack.tcp_info(h) {
            self.mss = Some(info.mss);
        }
        if let Ok((s, r)) = stack.tcp_buffer_sizes(h) {
            self.send_buffer = Some(s);
            self.recv_buffer = Some(r);
        }
        // Write.
        while self.sent < self.to_send && !self.shut {
            if self.chunk_off == self.chunk.len() {
                let n = (self.to_send - self.sent).min(CHUNK as u64) as usize;
                self.chunk.resize(n, 0);
                self.content.fill(&mut self.chunk);
                self.chunk_off = 0;
            }
            match stack.tcp_send(h, &self.chunk[self.chunk_off..]) {
                Ok(0) => break,
                Ok(n) => {
                    let n = n.min(self.chunk.len() - self.chunk_off);
                    self.sent_hash
                        .write(&self.chunk[self.chunk_off..self.chunk_off + n]);
                    self.chunk_off += n;
                    self.sent += n as u64;
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) => return Err(err("tcp_send", e)),
            }
        }
        if self.sent == self.to_send && !self.shut {
            stack
                .tcp_shutdown(h, Shutdown::Write)
                .map_err(|e| err("tcp_shutdown(Write)", e))?;
            self.shut = true;
        }
        // Read.
        let mut got = 0;
        while !self.eof {
            match stack.tcp_recv(h, rbuf) {
                Ok(0) => self.eof = true,
                Ok(n) => {
                    let n = n.min(rbuf.len());
                    self.recv_hash.write(&rbuf[..n]);
                    self.received += n as u64;
                    got += n as u64;
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) => return Err(err("tcp_recv", e)),
            }
        }
        self.state = Some(stack.tcp_state(h).map_err(|e| err("tcp_state", e))?);
        Ok(got)
    }
}

fn tcp_config(cfg: &TransferConfig) -> TcpConfig {
    let mut tcp = cfg.tcp.clone().unwrap_or_default();
    tcp.nodelay = cfg.nodelay;
    tcp
}

/// The (client, server) addresses of a run.
pub fn addresses(cfg: &TransferConfig) -> (IpAddr, IpAddr) {
    if cfg.ipv6 {
        (CLIENT_ADDR6.into(), SERVER_ADDR6.into())
    } else {
        (CLIENT_ADDR.into(), SERVER_ADDR.into())
    }
}

fn make_stack(addr: IpAddr, cfg: &TransferConfig, seed: u64) -> io::Result<Stack> {
    Stack::new(Config {
        addresses: vec![Cidr {
            addr,
            prefix_len: if addr.is_ipv6() { 64 } else { 24 },
        }],
        mtu: cfg.mtu,
        seed,
        tcp: tcp_config(cfg),
        ..Config::default()
    })
}

/// The name of an `MtuProbing` mode, as `ustack sim --mtu-probing` takes it.
pub fn mtu_probing_name(m: MtuProbing) -> &'static str {
    match m {
        MtuProbing::Off => "off",
        MtuProbing::BlackHole => "black-hole",
        MtuProbing::Always => "always",
    }
}

fn hex(x: u64) -> String {
    format!("{x:016x}")
}

/// Runs the transfer scenario.
pub fn run_transfer(cfg: &TransferConfig) -> TransferReport {
    let wall = std::time::Instant::now();
    let mut report = TransferReport {
        seed: cfg.seed,
        bytes: cfg.bytes,
        reverse_bytes: cfg.reverse_bytes,
        ..Default::default()
    };
    let result = Run::setup(cfg).and_then(|mut run| {
        let r = run.go(cfg, &mut report);
        run.fill(cfg, &mut report);
        r
    });
    if let Err(e) = result {
        report.intact = false;
        report.error = Some(e);
    }
    report.wall_ms = wall.elapsed().as_secs_f64() * 1000.0;
    report
}

struct Run {
    net: Network,
    client: App,
    server: App,
    listener: Option<SocketHandle>,
    start: Instant,
    first_syn: Instant,
    last_byte: Option<Instant>,
    end: Instant,
    tcp_counters: ustack::TcpCounters,
    counted: bool,
}

impl Run {
    fn setup(cfg: &TransferConfig) -> Result<Run, String> {
        cfg.link
            .validate()
            .map_err(|e| format!("invalid link: {e}"))?;
        if cfg.ipv6 && cfg.link.mtu.is_some_and(|m| m < MIN_MTU_V6) {
            return Err(format!(
                "invalid link: an IPv6 link's MTU must be at least {MIN_MTU_V6} (RFC 8200 §5)"
            ));
        }
        let mut rng = Rng::new(cfg.seed);
        let (client_ip, server_ip) = addresses(cfg);
        let client_stack =
            make_stack(client_ip, cfg, rng.next_u64()).map_err(|e| format!("client stack: {e}"))?;
        let server_stack =
            make_stack(server_ip, cfg, rng.next_u64()).map_err(|e| format!("server stack: {e}"))?;
        let mut net = Network::new();
        let a = net.add_host("client", client_stack, vec![client_ip]);
        let b = net.add_host("server", server_stack, vec![server_ip]);
        let mut link = cfg.link.clone();
        link.mtu = Some(link.mtu.unwrap_or(cfg.mtu));
        let mut link_rng = rng.fork();
        net.connect(a, b, link, &mut link_rng);
        let client = App::new("client", a, cfg.bytes, rng.fork());
        let server = App::new("server", b, cfg.reverse_bytes, rng.fork());
        if let Some(path) = &cfg.pcap {
            let f = std::fs::File::create(path)
                .map_err(|e| format!("cannot create pcap {}: {e}", path.display()))?;
            net.set_pcap(Box::new(io::BufWriter::new(f)), CapturePoint::Transmit)
                .map_err(|e| format!("writing pcap {}: {e}", path.display()))?;
        }
        let start = net.now();
        Ok(Run {
            net,
            client,
            server,
            listener: None,
            start,
            first_syn: start,
            last_byte: None,
            end: start,
            tcp_counters: Default::default(),
            counted: false,
        })
    }

    /// Snapshot of the TCP counters of both stacks (taken while the
    /// connections are still live).
    fn count(&mut self) {
        let mut t = self.net.stack(self.client.host).counters().tcp;
        t.add(&self.net.stack(self.server.host).counters().tcp);
        self.tcp_counters = t;
        self.counted = true;
    }

    fn go(&mut self, cfg: &TransferConfig, report: &mut TransferReport) -> Result<(), String> {
        let server_ep = SocketAddr::new(addresses(cfg).1, SERVER_PORT);
        let (a, b) = (self.client.host, self.server.host);
        let listener = self
            .net
            .stack_mut(b)
            .tcp_listen(server_ep, BACKLOG)
            .map_err(|e| format!("server: tcp_listen failed: {e}"))?;
        self.listener = Some(listener);
        self.first_syn = self.net.now();
        let h = self
            .net
            .stack_mut(a)
            .tcp_connect(server_ep, None)
            .map_err(|e| format!("client: tcp_connect failed: {e}"))?;
        self.client.handle = Some(h);

        let mut rbuf = vec![0u8; 64 * 1024];
        let limit = self.start + cfg.time_limit;
        let mut same_time_steps = 0u64;
        let mut last_now = self.net.now();
        loop {
            // Applications.
            if self.server.handle.is_none() {
                match self.net.stack_mut(b).tcp_accept(listener) {
                    Ok((h, _peer)) => self.server.handle = Some(h),
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                    Err(e) => {
                        return Err(format!("server: tcp_accept failed: {e} ({:?})", e.kind()))
                    }
                }
            }
            self.client.pump(self.net.stack_mut(a), &mut rbuf)?;
            self.server.pump(self.net.stack_mut(b), &mut rbuf)?;
            if self.last_byte.is_none()
                && self.server.received >= cfg.bytes
                && self.server.handle.is_some()
            {
                self.last_byte = Some(self.net.now());
            }
            if self.client.done() && self.server.done() {
                break;
            }
            // Bounds.
            let now = self.net.now();
            if now > limit {
                return Err(format!(
                    "simulated time limit of {} s exceeded (client {}, server {})",
                    cfg.time_limit.as_secs_f64(),
                    self.client.state_name(),
                    self.server.state_name()
                ));
            }
            if self.net.steps() >= cfg.max_steps {
                return Err(format!(
                    "step limit of {} reached at t={now}",
                    cfg.max_steps
                ));
            }
            if now == last_now {
                same_time_steps += 1;
                if same_time_steps > LIVELOCK_STEPS {
                    return Err(format!(
                        "livelock: {LIVELOCK_STEPS} steps without time advancing at t={now}"
                    ));
                }
            } else {
                same_time_steps = 0;
                last_now = now;
            }
            match self.net.step() {
                Ok(_) => {}
                Err(StepError::Idle) => {
                    return Err(format!(
                        "stalled at t={now}: nothing in flight and no timer armed (client {}, server {})",
                        self.client.state_name(),
                        self.server.state_name()
                    ))
                }
                Err(e) => return Err(e.to_string()),
            }
        }
        self.count();
        self.end = self.net.now();
        for app in [&mut self.client, &mut self.server] {
            if let Some(h) = app.handle.take() {
                self.net.stack_mut(app.host).tcp_close(h);
            }
        }
        // Data check.
        report.forward_hash_ok =
            self.client.sent_hash.finish128() == self.server.recv_hash.finish128();
        report.reverse_hash_ok =
            self.server.sent_hash.finish128() == self.client.recv_hash.finish128();
        let complete =
            self.server.received == cfg.bytes && self.client.received == cfg.reverse_bytes;
        report.intact = complete && report.forward_hash_ok && report.reverse_hash_ok;
        if !report.intact {
            return Err(format!(
                "data mismatch: client→server {}/{} bytes (hash ok: {}), server→client {}/{} bytes (hash ok: {})",
                self.server.received,
                cfg.bytes,
                report.forward_hash_ok,
                self.client.received,
                cfg.reverse_bytes,
                report.reverse_hash_ok
            ));
        }

        if cfg.check_no_state_left {
            if let Some(l) = self.listener.take() {
                self.net.stack_mut(b).tcp_close(l);
            }
            let msl = tcp_config(cfg).msl;
            let until = self.net.now() + msl * 2 + Duration::from_secs(1);
            let ok = self
                .net
                .run_until(until, cfg.max_steps)
                .map_err(|e| e.to_string())?;
            if !ok {
                return Err("step limit reached while waiting out TIME-WAIT".to_string());
            }
            let (nc, ns) = (
                self.net.stack(a).socket_count(),
                self.net.stack(b).socket_count(),
            );
            report.state_left = Some(nc != 0 || ns != 0);
            if nc != 0 || ns != 0 {
                report.intact = false;
                return Err(format!(
                    "state left after 2·MSL + 1 s: client holds {nc} socket(s), server holds {ns} socket(s)"
                ));
            }
        }
        Ok(())
    }

    /// Fills the report from the run's state (also after a failure).
    fn fill(&mut self, cfg: &TransferConfig, report: &mut TransferReport) {
        if !self.counted {
            self.count();
            self.end = self.net.now();
        }
        let _ = self.net.flush_pcap();
        report.bytes_delivered = self.server.received;
        report.reverse_bytes_delivered = self.client.received;
        report.sim_seconds = (self.end - self.start).as_secs_f64();
        report.first_syn_seconds = (self.first_syn - self.start).as_secs_f64();
        report.last_byte_seconds = self.last_byte.map(|t| (t - self.start).as_secs_f64());
        if let Some(t) = self.last_byte {
            let secs = (t - self.first_syn).as_secs_f64();
            if secs > 0.0 {
                report.goodput_mbps = self.server.received as f64 * 8.0 / secs / 1e6;
            }
        }
        let t = self.tcp_counters;
        report.retransmits = t.retransmits;
        report.fast_retransmits = t.fast_retransmits;
        report.timeouts = t.timeouts;
        report.dup_acks = t.dup_acks;
        report.spurious_recoveries = t.spurious_recoveries;
        report.spurious_rtos = t.spurious_rtos;
        report.dsacks_received = t.dsacks_received;
        report.pmtu_reductions = t.pmtu_reductions;
        report.black_hole_reductions = t.black_hole_reductions;
        report.mtu_probes = t.mtu_probes;
        report.mtu_probe_successes = t.mtu_probe_successes;
        report.client_final_mss = self.client.mss;
        report.server_final_mss = self.server.mss;
        report.recv_buffer_grows = t.recv_buffer_grows;
        report.server_final_recv_buffer = self.server.recv_buffer;
        report.send_buffer_grows = t.send_buffer_grows;
        report.predicted = t.predicted;
        report.predicted_acks = t.predicted_acks;
        report.client_final_send_buffer = self.client.send_buffer;
        report.ooo_segments = t.ooo_segments;
        report.rsts = t.rsts_in + t.rsts_out;
        let tcp = tcp_config(cfg);
        report.congestion_control = tcp.congestion.as_str().to_string();
        report.timestamps = tcp.timestamps;
        report.sack = tcp.sack;
        report.rack = tcp.sack && tcp.rack;
        report.hystart = tcp.hystart && tcp.congestion == ustack::tcp::cc::CongestionKind::Cubic;
        report.hystart_ack_train = report.hystart && tcp.hystart_ack_train;
        report.mtu_probing = mtu_probing_name(tcp.mtu_probing).to_string();
        report.recv_buffer_auto = tcp.recv_buffer_auto;
        report.send_buffer_auto = tcp.send_buffer_auto;
        report.black_hole = cfg.link.black_hole;
        report.client_final_state = self.client.state_name();
        report.server_final_state = self.server.state_name();
        let l = self.net.link_counters();
        report.packets_sent = l.sent;
        report.packets_delivered = l.delivered;
        report.packets_dropped_by_link = l.dropped();
        report.dropped_loss = l.dropped_loss;
        report.dropped_queue = l.dropped_queue;
        report.dropped_mtu = l.dropped_mtu;
        report.black_holed = l.black_holed;
        report.duplicated = l.duplicated;
        report.reordered = l.reordered;
        report.corrupted = l.corrupted;
        let mut drops = BTreeMap::new();
        let mut checksum = 0;
        for h in [self.client.host, self.server.host] {
            let c = self.net.stack(h).counters();
            checksum += c.checksum_drops();
            for (r, n) in c.drop_list() {
                *drops.entry(r.as_str().to_string()).or_insert(0) += n;
            }
        }
        report.checksum_drops = checksum;
        report.stack_drops = drops;
        report.steps = self.net.steps();
        report.trace_hash = hex(self.net.trace_hash());
    }
}
