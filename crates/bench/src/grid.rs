//! The loss-recovery grid (issue 7): goodput of one bulk TCP transfer over
//! the simulator's link model (`ustack_devices::sim::link::Link`), in
//! virtual time, for
//!
//! - ustack NewReno without SACK and RACK (`--cc newreno --no-sack --no-rack`),
//! - ustack SACK + CUBIC + RACK-TLP (the defaults),
//! - smoltcp 0.14 with CUBIC (its default with feature `socket-tcp-cubic`),
//! - smoltcp 0.14 with Reno, when smoltcp is built with `socket-tcp-reno`
//!   (see [`SMOL_RENO_AVAILABLE`]).
//!
//! Every run is deterministic: ustack runs in `run_transfer` (the engine of
//! `ustack sim`); smoltcp's two interfaces are driven here by an event loop
//! over two `Link`s (one per direction) with the same configuration, the
//! same seeds, a virtual clock, 1 MiB socket buffers on both ends (ustack's
//! defaults) and smoltcp's default TCP settings otherwise (Nagle, 10 ms
//! delayed ACK, no timestamps).
//!
//! Goodput is the payload delivered to the receiving application divided
//! by the time from the client's connect to the last byte read. A run that
//! reaches the simulated time cap first reports the bytes it delivered by
//! then over the cap (`completed: false`).
//!
//! This file is self-contained (it is included with `#[path]` by the `grid`
//! binary and the smoke test) and uses only the crates `ustack-bench`
//! depends on.
use serde::Serialize;
use smoltcp::iface::{Config as SmolConfig, Interface, SocketSet};
use smoltcp::phy::{self, DeviceCapabilities, Medium};
use smoltcp::socket::tcp;
use smoltcp::wire::{HardwareAddress, IpAddress, IpCidr};
use std::collections::VecDeque;
use std::sync::Mutex;
use ustack::rng::Rng;
use ustack::Instant as UInstant;
use ustack_devices::sim::link::{Link, LinkConfig};
use ustack_devices::{run_transfer, TransferConfig};

/// Socket buffers of both ends, both stacks.
pub const BUFFER: usize = 1 << 20;
/// IP MTU.
pub const MTU: usize = 1500;

/// Whether this build of smoltcp has its Reno controller. Cargo features
/// of a dependency cannot be tested directly: build with
/// `RUSTFLAGS='--cfg feature="socket-tcp-reno"'` (or add the feature to the
/// workspace's smoltcp dependency and this crate's cfg) to get it.
#[allow(unexpected_cfgs)]
pub const SMOL_RENO_AVAILABLE: bool = cfg!(feature = "socket-tcp-reno");

/// The stacks compared.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Contender {
    /// ustack, `--cc newreno --no-sack --no-rack`.
    UstackNewReno,
    /// ustack defaults: SACK, CUBIC, RACK-TLP, timestamps.
    UstackSackCubicRack,
    /// smoltcp 0.14 with its Reno controller.
    SmolReno,
    /// smoltcp 0.14 with its CUBIC controller.
    SmolCubic,
}

impl Contender {
    pub const ALL: [Contender; 4] = [
        Contender::UstackNewReno,
        Contender::UstackSackCubicRack,
        Contender::SmolReno,
        Contender::SmolCubic,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Contender::UstackNewReno => "ustack-newreno",
            Contender::UstackSackCubicRack => "ustack-sack-cubic-rack",
            Contender::SmolReno => "smoltcp-reno",
            Contender::SmolCubic => "smoltcp-cubic",
        }
    }

    pub fn parse(s: &str) -> Option<Contender> {
        Contender::ALL.into_iter().find(|c| c.name() == s)
    }

    /// Whether this build can run it.
    pub fn available(self) -> bool {
        self != Contender::SmolReno || SMOL_RENO_AVAILABLE
    }
}

/// One grid point.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Point {
    pub rate_mbps: f64,
    pub rtt_ms: f64,
    pub loss: f64,
    pub reorder: f64,
    /// Drop-tail queue at the bottleneck, packets.
    pub queue_pkts: usize,
}

impl Point {
    /// The link configuration of each direction (`--delay` = RTT / 2).
    pub fn link(&self) -> LinkConfig {
        LinkConfig {
            rate_mbps: Some(self.rate_mbps),
            delay: ustack::Duration::from_micros((self.rtt_ms * 500.0).round() as u64),
            queue_pkts: self.queue_pkts,
            loss: self.loss,
            reorder: self.reorder,
            ..LinkConfig::default()
        }
    }
}

/// The queue used when none is given: one bandwidth-delay product of
/// 1500-byte packets, at least 100.
pub fn bdp_queue(rate_mbps: f64, rtt_ms: f64) -> usize {
    ((rate_mbps * 1e6 * rtt_ms / 1e3 / 8.0 / MTU as f64).ceil() as usize).max(100)
}

/// What to run.
#[derive(Debug, Clone)]
pub struct GridConfig {
    pub rate_mbps: f64,
    pub rtts_ms: Vec<f64>,
    pub losses: Vec<f64>,
    pub reorders: Vec<f64>,
    /// None: [`bdp_queue`].
    pub queue_pkts: Option<usize>,
    /// Bytes to transfer per run.
    pub bytes: u64,
    /// Simulated time cap per run, seconds.
    pub cap_secs: f64,
    /// Runs per (point, contender), seeds 1..=seeds; goodput is averaged.
    pub seeds: u64,
    pub contenders: Vec<Contender>,
    pub threads: usize,
}

impl Default for GridConfig {
    fn default() -> Self {
        GridConfig {
            rate_mbps: 100.0,
            rtts_ms: vec![10.0, 40.0, 160.0],
            losses: vec![0.0, 0.001, 0.01, 0.05],
            reorders: vec![0.0, 0.02],
            queue_pkts: None,
            bytes: 50_000_000,
            cap_secs: 60.0,
            seeds: 3,
            contenders: Contender::ALL
                .into_iter()
                .filter(|c| c.available())
                .collect(),
            threads: 2,
        }
    }
}

impl GridConfig {
    pub fn points(&self) -> Vec<Point> {
        let mut v = Vec::new();
        for &rtt in &self.rtts_ms {
            for &loss in &self.losses {
                for &reorder in &self.reorders {
                    v.push(Point {
                        rate_mbps: self.rate_mbps,
                        rtt_ms: rtt,
                        loss,
                        reorder,
                        queue_pkts: self
                            .queue_pkts
                            .unwrap_or_else(|| bdp_queue(self.rate_mbps, rtt)),
                    });
                }
            }
        }
        v
    }
}

/// One run.
#[derive(Debug, Clone, Serialize)]
pub struct Run {
    pub contender: Contender,
    pub point: Point,
    pub seed: u64,
    pub bytes: u64,
    pub bytes_delivered: u64,
    /// Delivered bytes matched what was sent, in order.
    pub intact: bool,
    /// All bytes delivered before the cap.
    pub completed: bool,
    /// Connect → last byte (or → cap), simulated seconds.
    pub seconds: f64,
    pub goodput_mbps: f64,
    pub retransmits: Option<u64>,
    pub packets_sent: u64,
    pub packets_dropped: u64,
    pub error: Option<String>,
    pub wall_ms: f64,
}

/// Runs one contender on one point.
pub fn run_one(c: Contender, p: &Point, bytes: u64, cap_secs: f64, seed: u64) -> Run {
    match c {
        Contender::UstackNewReno | Contender::UstackSackCubicRack => {
            run_ustack(c, p, bytes, cap_secs, seed)
        }
        Contender::SmolReno | Contender::SmolCubic => run_smol(c, p, bytes, cap_secs, seed),
    }
}

fn run_ustack(c: Contender, p: &Point, bytes: u64, cap_secs: f64, seed: u64) -> Run {
    // The same socket buffers as smoltcp's, fixed as smoltcp's are (no
    // buffer auto-tuning).
    let base = ustack::TcpConfig {
        send_buffer: BUFFER,
        send_buffer_auto: false,
        recv_buffer: BUFFER,
        recv_buffer_auto: false,
        ..ustack::TcpConfig::default()
    };
    let tcp = if c == Contender::UstackNewReno {
        ustack::TcpConfig {
            congestion: ustack::tcp::cc::CongestionKind::NewReno,
            sack: false,
            rack: false,
            tlp: false,
            ..base
        }
    } else {
        base
    };
    let cfg = TransferConfig {
        bytes,
        link: p.link(),
        mtu: MTU,
        seed,
        tcp: Some(tcp),
        time_limit: ustack::Duration::from_micros((cap_secs * 1e6) as u64),
        ..TransferConfig::default()
    };
    let r = run_transfer(&cfg);
    let completed = r.last_byte_seconds.is_some();
    let seconds = match r.last_byte_seconds {
        Some(t) => t - r.first_syn_seconds,
        None => r.sim_seconds - r.first_syn_seconds,
    };
    let goodput = if completed {
        r.goodput_mbps
    } else if seconds > 0.0 {
        r.bytes_delivered as f64 * 8.0 / seconds / 1e6
    } else {
        0.0
    };
    // A capped run ends with a "time limit" error; its bytes were still
    // checked by hash only at the end, so it cannot claim integrity.
    let capped = r.error.as_deref().is_some_and(|e| e.contains("time limit"));
    Run {
        contender: c,
        point: *p,
        seed,
        bytes,
        bytes_delivered: r.bytes_delivered,
        intact: r.intact,
        completed,
        seconds,
        goodput_mbps: goodput,
        retransmits: Some(r.retransmits),
        packets_sent: r.packets_sent,
        packets_dropped: r.packets_dropped_by_link,
        error: if capped && !completed { None } else { r.error },
        wall_ms: r.wall_ms,
    }
}

/// The byte at stream offset `i` of the test content.
fn content(i: u64) -> u8 {
    let x = i.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 29;
    (x as u8) ^ ((i % 251) as u8)
}

fn micros(t: UInstant) -> i64 {
    t.total_micros() as i64
}

/// One end of the simulated wire as a smoltcp device: receives packets the
/// link delivered, sends into the link at the current virtual time.
struct SimEnd<'a> {
    rx: &'a mut VecDeque<Vec<u8>>,
    tx: &'a mut Link,
    now: UInstant,
}

struct SimRx(Vec<u8>);

struct SimTx<'a> {
    link: &'a mut Link,
    now: UInstant,
}

impl phy::RxToken for SimRx {
    fn consume<R, F>(self, f: F) -> R
    where
        F: FnOnce(&[u8]) -> R,
    {
        f(&self.0)
    }
}

impl phy::TxToken for SimTx<'_> {
    fn consume<R, F>(self, len: usize, f: F) -> R
    where
        F: FnOnce(&mut [u8]) -> R,
    {
        let mut buf = vec![0u8; len];
        let r = f(&mut buf);
        self.link.send(self.now, &buf);
        r
    }
}

impl phy::Device for SimEnd<'_> {
    type RxToken<'b>
        = SimRx
    where
        Self: 'b;
    type TxToken<'b>
        = SimTx<'b>
    where
        Self: 'b;

    fn receive(
        &mut self,
        _t: smoltcp::time::Instant,
    ) -> Option<(Self::RxToken<'_>, Self::TxToken<'_>)> {
        let p = self.rx.pop_front()?;
        Some((
            SimRx(p),
            SimTx {
                link: self.tx,
                now: self.now,
            },
        ))
    }

    fn transmit(&mut self, _t: smoltcp::time::Instant) -> Option<Self::TxToken<'_>> {
        Some(SimTx {
            link: self.tx,
            now: self.now,
        })
    }

    fn capabilities(&self) -> DeviceCapabilities {
        let mut caps = DeviceCapabilities::default();
        caps.medium = Medium::Ip;
        caps.max_transmission_unit = MTU;
        caps
    }
}

#[allow(unexpected_cfgs)]
fn smol_socket(c: Contender) -> tcp::Socket<'static> {
    #[allow(unused_mut)]
    let mut s = tcp::Socket::new(
        tcp::SocketBuffer::new(vec![0u8; BUFFER]),
        tcp::SocketBuffer::new(vec![0u8; BUFFER]),
    );
    match c {
        #[cfg(feature = "socket-tcp-reno")]
        Contender::SmolReno => s.set_congestion_control(tcp::CongestionControl::Reno),
        _ => s.set_congestion_control(tcp::CongestionControl::Cubic),
    }
    s
}

fn run_smol(c: Contender, p: &Point, bytes: u64, cap_secs: f64, seed: u64) -> Run {
    let wall = std::time::Instant::now();
    let mut run = Run {
        contender: c,
        point: *p,
        seed,
        bytes,
        bytes_delivered: 0,
        intact: false,
        completed: false,
        seconds: 0.0,
        goodput_mbps: 0.0,
        retransmits: None,
        packets_sent: 0,
        packets_dropped: 0,
        error: None,
        wall_ms: 0.0,
    };
    if !c.available() {
        run.error = Some("smoltcp was built without socket-tcp-reno".into());
        return run;
    }
    // The same seed derivation for the two directions as the simulator's
    // network is not needed: what matters is that every contender sees
    // links of the same configuration seeded by `seed`.
    let mut seeds = Rng::new(seed);
    let mut ab = Link::new(p.link(), Rng::new(seeds.next_u64()));
    let mut ba = Link::new(p.link(), Rng::new(seeds.next_u64()));
    let (mut rx_a, mut rx_b) = (VecDeque::new(), VecDeque::new());
    let a_ip = IpAddress::v4(198, 18, 0, 1);
    let b_ip = IpAddress::v4(198, 18, 0, 2);
    let start = UInstant::from_micros(1_000_000);
    let mut now = start;
    let smol_now = |t: UInstant| smoltcp::time::Instant::from_micros(micros(t));
    let mk_iface = |ip: IpAddress, s: u64, rx: &mut VecDeque<Vec<u8>>, tx: &mut Link| {
        let mut cfg = SmolConfig::new(HardwareAddress::Ip);
        cfg.random_seed = s;
        let mut dev = SimEnd { rx, tx, now: start };
        let mut i = Interface::new(cfg, &mut dev, smol_now(start));
        i.update_ip_addrs(|a| {
            let _ = a.push(IpCidr::new(ip, 24));
        });
        i
    };
    let mut ia = mk_iface(a_ip, seed.wrapping_mul(2) + 1, &mut rx_a, &mut ab);
    let mut ib = mk_iface(b_ip, seed.wrapping_mul(2) + 2, &mut rx_b, &mut ba);
    let mut sa = SocketSet::new(vec![]);
    let mut sb = SocketSet::new(vec![]);
    let mut server = smol_socket(c);
    if let Err(e) = server.listen(5001) {
        run.error = Some(format!("listen: {e}"));
        return run;
    }
    let hs = sb.add(server);
    let mut client = smol_socket(c);
    if let Err(e) = client.connect(ia.context(), (b_ip, 5001), 49152) {
        run.error = Some(format!("connect: {e}"));
        return run;
    }
    let hc = sa.add(client);
    let cap = start + ustack::Duration::from_micros((cap_secs * 1e6) as u64);
    let (mut sent, mut recvd) = (0u64, 0u64);
    let mut intact = true;
    let mut chunk = vec![0u8; 64 * 1024];
    let mut same_instant = 0u32;
    let mut end = None;
    loop {
        while let Some((_, pkt)) = ab.pop_due(now) {
            rx_b.push_back(pkt);
        }
        while let Some((_, pkt)) = ba.pop_due(now) {
            rx_a.push_back(pkt);
        }
        // Sender application: fill the send buffer.
        {
            let s = sa.get_mut::<tcp::Socket>(hc);
            while sent < bytes && s.can_send() {
                let n = (bytes - sent).min(chunk.len() as u64) as usize;
                for (k, b) in chunk[..n].iter_mut().enumerate() {
                    *b = content(sent + k as u64);
                }
                match s.send_slice(&chunk[..n]) {
                    Ok(0) | Err(_) => break,
                    Ok(m) => sent += m as u64,
                }
            }
        }
        let mut da = SimEnd {
            rx: &mut rx_a,
            tx: &mut ab,
            now,
        };
        ia.poll(smol_now(now), &mut da, &mut sa);
        let mut db = SimEnd {
            rx: &mut rx_b,
            tx: &mut ba,
            now,
        };
        ib.poll(smol_now(now), &mut db, &mut sb);
        // Receiver application: read everything.
        {
            let s = sb.get_mut::<tcp::Socket>(hs);
            while s.can_recv() {
                match s.recv_slice(&mut chunk) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => {
                        if intact
                            && !chunk[..n]
                                .iter()
                                .enumerate()
                                .all(|(k, &b)| b == content(recvd + k as u64))
                        {
                            intact = false;
                        }
                        recvd += n as u64;
                    }
                }
            }
        }
        if recvd >= bytes {
            end = Some(now);
            break;
        }
        if now >= cap {
            break;
        }
        // Next event.
        let next = [
            ab.next_delivery(),
            ba.next_delivery(),
            ia.poll_at(smol_now(now), &sa)
                .map(|t| UInstant::from_micros(t.total_micros().max(0) as u64)),
            ib.poll_at(smol_now(now), &sb)
                .map(|t| UInstant::from_micros(t.total_micros().max(0) as u64)),
        ]
        .into_iter()
        .flatten()
        .min();
        match next {
            Some(t) if t > now => {
                now = t.min(cap);
                same_instant = 0;
            }
            Some(_) => {
                // Something is due now: poll again, but never spin.
                same_instant += 1;
                if same_instant > 16 {
                    now += ustack::Duration::from_micros(1);
                    same_instant = 0;
                }
            }
            None => {
                run.error = Some(format!(
                    "stalled at t={:.3} s: nothing in flight, no timer",
                    (now - start).as_secs_f64()
                ));
                break;
            }
        }
    }
    let (ca, cb) = (ab.counters(), ba.counters());
    run.bytes_delivered = recvd;
    run.completed = end.is_some();
    run.intact = intact && run.completed;
    run.seconds = (end.unwrap_or(now) - start).as_secs_f64();
    if run.seconds > 0.0 {
        run.goodput_mbps = recvd as f64 * 8.0 / run.seconds / 1e6;
    }
    run.packets_sent = ca.sent + cb.sent;
    run.packets_dropped = ca.dropped() + cb.dropped();
    if !intact {
        run.error = Some("received bytes differ from those sent".into());
    }
    run.wall_ms = wall.elapsed().as_secs_f64() * 1e3;
    run
}

/// The mean over seeds of one (point, contender).
#[derive(Debug, Clone, Serialize)]
pub struct Cell {
    pub contender: Contender,
    pub point: Point,
    pub goodput_mbps: f64,
    pub min_mbps: f64,
    pub max_mbps: f64,
    /// Every run delivered intact data (capped runs: what they delivered
    /// was checked by smoltcp's driver; ustack only checks at the end).
    pub all_completed: bool,
    pub runs: Vec<Run>,
}

/// The whole grid.
#[derive(Debug, Clone, Serialize)]
pub struct GridReport {
    pub rate_mbps: f64,
    pub bytes: u64,
    pub cap_secs: f64,
    pub seeds: u64,
    pub buffer_bytes: usize,
    pub smoltcp_reno_available: bool,
    pub cells: Vec<Cell>,
    pub wall_secs: f64,
}

/// Runs the grid on `cfg.threads` threads; `progress` is called after each
/// run.
pub fn run_grid(cfg: &GridConfig, progress: &(dyn Fn(&Run) + Sync)) -> GridReport {
    let wall = std::time::Instant::now();
    let points = cfg.points();
    let mut jobs = Vec::new();
    for (pi, p) in points.iter().enumerate() {
        for (ci, &c) in cfg.contenders.iter().enumerate() {
            for seed in 1..=cfg.seeds.max(1) {
                jobs.push((pi, ci, *p, c, seed));
            }
        }
    }
    // Slow jobs (long RTT) first, for a better balance.
    jobs.reverse();
    let queue = Mutex::new(jobs);
    let results = Mutex::new(Vec::new());
    std::thread::scope(|s| {
        for _ in 0..cfg.threads.max(1) {
            s.spawn(|| loop {
                let job = queue.lock().unwrap_or_else(|e| e.into_inner()).pop();
                let Some((pi, ci, p, c, seed)) = job else {
                    break;
                };
                let r = run_one(c, &p, cfg.bytes, cfg.cap_secs, seed);
                progress(&r);
                results
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .push((pi, ci, r));
            });
        }
    });
    let mut results = results.into_inner().unwrap_or_else(|e| e.into_inner());
    results.sort_by_key(|(pi, ci, r)| (*pi, *ci, r.seed));
    let mut cells: Vec<Cell> = Vec::new();
    for (pi, ci, r) in results {
        let same = cells
            .last()
            .is_some_and(|c| c.point == points[pi] && c.contender == cfg.contenders[ci]);
        if !same {
            cells.push(Cell {
                contender: cfg.contenders[ci],
                point: points[pi],
                goodput_mbps: 0.0,
                min_mbps: f64::INFINITY,
                max_mbps: 0.0,
                all_completed: true,
                runs: Vec::new(),
            });
        }
        if let Some(cell) = cells.last_mut() {
            cell.runs.push(r);
        }
    }
    for cell in &mut cells {
        let n = cell.runs.len().max(1) as f64;
        cell.goodput_mbps = cell.runs.iter().map(|r| r.goodput_mbps).sum::<f64>() / n;
        cell.min_mbps = cell
            .runs
            .iter()
            .map(|r| r.goodput_mbps)
            .fold(f64::INFINITY, f64::min);
        cell.max_mbps = cell.runs.iter().map(|r| r.goodput_mbps).fold(0.0, f64::max);
        cell.all_completed = cell.runs.iter().all(|r| r.completed && r.intact);
    }
    GridReport {
        rate_mbps: cfg.rate_mbps,
        bytes: cfg.bytes,
        cap_secs: cfg.cap_secs,
        seeds: cfg.seeds,
        buffer_bytes: BUFFER,
        smoltcp_reno_available: SMOL_RENO_AVAILABLE,
        cells,
        wall_secs: wall.elapsed().as_secs_f64(),
    }
}

fn pct(p: f64) -> String {
    let s = format!("{}", p * 100.0);
    format!("{s} %")
}

impl GridReport {
    /// A markdown table: one row per point, one column per contender
    /// (mean goodput in Mbit/s; `*` marks a cell where some run hit the
    /// cap), then the ratios the targets are about.
    pub fn markdown(&self) -> String {
        let mut contenders: Vec<Contender> = Vec::new();
        let mut points: Vec<Point> = Vec::new();
        for c in &self.cells {
            if !contenders.contains(&c.contender) {
                contenders.push(c.contender);
            }
            if !points.contains(&c.point) {
                points.push(c.point);
            }
        }
        let get = |p: &Point, c: Contender| {
            self.cells
                .iter()
                .find(|x| x.point == *p && x.contender == c)
        };
        let mut out = String::new();
        out.push_str("| RTT ms | loss | reorder | queue |");
        for c in &contenders {
            out.push_str(&format!(" {} |", c.name()));
        }
        let best_smol = contenders
            .iter()
            .any(|c| matches!(c, Contender::SmolCubic | Contender::SmolReno));
        let both = contenders.contains(&Contender::UstackSackCubicRack);
        if both && best_smol {
            out.push_str(" ustack / best smoltcp |");
        }
        if both && contenders.contains(&Contender::UstackNewReno) {
            out.push_str(" SACK+CUBIC+RACK / NewReno |");
        }
        out.push('\n');
        out.push_str("|---:|---:|---:|---:|");
        for _ in &contenders {
            out.push_str("---:|");
        }
        if both && best_smol {
            out.push_str("---:|");
        }
        if both && contenders.contains(&Contender::UstackNewReno) {
            out.push_str("---:|");
        }
        out.push('\n');
        for p in &points {
            out.push_str(&format!(
                "| {} | {} | {} | {} |",
                p.rtt_ms,
                pct(p.loss),
                pct(p.reorder),
                p.queue_pkts
            ));
            for &c in &contenders {
                match get(p, c) {
                    Some(cell) => out.push_str(&format!(
                        " {:.2}{} |",
                        cell.goodput_mbps,
                        if cell.all_completed { "" } else { "*" }
                    )),
                    None => out.push_str(" – |"),
                }
            }
            let us = get(p, Contender::UstackSackCubicRack).map(|c| c.goodput_mbps);
            if both && best_smol {
                let smol = [Contender::SmolCubic, Contender::SmolReno]
                    .into_iter()
                    .filter_map(|c| get(p, c).map(|x| x.goodput_mbps))
                    .fold(0.0, f64::max);
                match us {
                    Some(u) if smol > 0.0 => out.push_str(&format!(" {:.2}× |", u / smol)),
                    _ => out.push_str(" – |"),
                }
            }
            if both && contenders.contains(&Contender::UstackNewReno) {
                let nr = get(p, Contender::UstackNewReno).map(|c| c.goodput_mbps);
                match (us, nr) {
                    (Some(u), Some(n)) if n > 0.0 => out.push_str(&format!(" {:.2}× |", u / n)),
                    _ => out.push_str(" – |"),
                }
            }
            out.push('\n');
        }
        out
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"))
    }
}
