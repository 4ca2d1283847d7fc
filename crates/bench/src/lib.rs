//! ustack's benchmark: ustack against smoltcp 0.14 and the Linux kernel
//! (std::net over loopback), on the same workloads, in one process run.
//!
//! [`run`] measures everything and returns a [`Report`]; [`Report::table`]
//! renders it for people (each figure with the anchors' figures from the
//! same run and the ratios), [`Report::to_json`] as one JSON object
//! `{"machine": {...}, "workloads": [{"name", "unit", "ustack", "smoltcp",
//! "kernel"}, ...]}` (null where an anchor does not apply or a run failed).
//!
//! Workloads (see the README for details):
//! 1. `bulk_mtu1500`, `bulk_mtu65535`: bulk transfer in memory, one thread,
//!    two stacks joined by packet queues, 64 KiB application copies in and
//!    out, checksums computed and verified. Gbit/s per CPU-second (wall
//!    Gbit/s in the details). Kernel: two threads over loopback.
//! 2. `conn_serial`, `conn_parallel`: connect, 1 byte each way, close; in
//!    series and with 1 000 in flight. Connections per second.
//! 3. `api_bulk`, `api_echo_rtt`: ustack's blocking API (two `Netstack`s
//!    over `ustack_devices::pair`) vs std::net over loopback.
//! 4. `idle_conn_bytes`, `active_with_idle_ratio`: N established idle
//!    connections in one stack pair: RSS delta per connection end, and
//!    the throughput of one more connection with them present ÷ alone.
//! 5. `tun_rx`, `tun_tx`: over a TUN device in a private network
//!    namespace against a Linux socket (needs root; null otherwise).
//!
//! No thresholds are asserted anywhere: figures are noisy on shared
//! machines. Targets are printed for information.
use serde::Serialize;
use std::collections::BTreeMap;
use std::io;
use std::sync::Arc;
use std::time::Duration;

pub mod api;
pub mod kernel;
pub mod link;
pub mod smol_mem;
pub mod sys;
pub mod tun;
pub mod ustack_mem;

/// Application read/write size for the bulk workloads.
pub const APP_CHUNK: usize = 64 * 1024;

/// Sizes of every workload.
#[derive(Debug, Clone)]
pub struct Sizes {
    /// Bytes per in-memory bulk transfer.
    pub bulk_bytes: u64,
    /// Socket buffer (send and receive) for bulk, API, scale and TUN.
    pub buffer: usize,
    /// Socket buffers for the connection-rate workloads.
    pub conn_buffer: usize,
    pub conn_serial: usize,
    pub conn_parallel: usize,
    /// Connections in flight for `conn_parallel`.
    pub parallel: usize,
    pub api_bytes: u64,
    pub echo_rounds: usize,
    pub idle_conns: usize,
    /// Bytes of the active transfer in the scale workload.
    pub idle_bulk_bytes: u64,
    pub tun_bytes: u64,
    /// Rounds of the in-memory workloads (bulk, connection rate): ustack
    /// and smoltcp alternate, and each figure is the median of its rounds
    /// (min and max in the details), so that a shared machine's slow
    /// moments fall on both engines.
    pub rounds: usize,
}

impl Sizes {
    pub fn full() -> Sizes {
        Sizes {
            bulk_bytes: 1 << 30,
            buffer: 1 << 20,
            conn_buffer: 64 << 10,
            conn_serial: 50_000,
            conn_parallel: 200_000,
            parallel: 1000,
            api_bytes: 1 << 30,
            echo_rounds: 20_000,
            idle_conns: 100_000,
            idle_bulk_bytes: 512 << 20,
            tun_bytes: 1 << 30,
            rounds: 3,
        }
    }
    pub fn quick() -> Sizes {
        Sizes {
            bulk_bytes: 256 << 20,
            buffer: 1 << 20,
            conn_buffer: 64 << 10,
            conn_serial: 10_000,
            conn_parallel: 30_000,
            parallel: 1000,
            api_bytes: 256 << 20,
            echo_rounds: 5_000,
            idle_conns: 10_000,
            idle_bulk_bytes: 128 << 20,
            tun_bytes: 128 << 20,
            rounds: 1,
        }
    }
}

/// What to run.
#[derive(Debug, Clone)]
pub struct Options {
    pub quick: bool,
    /// Check every received byte against the pattern (costs CPU in the
    /// timed section, the same for every stack; off by default).
    pub verify: bool,
    pub sizes: Sizes,
    /// Run the TUN workloads (need root).
    pub tun: bool,
    /// Only the workloads whose names contain one of these (empty: all).
    pub only: Vec<String>,
    /// Progress lines on stderr.
    pub progress: bool,
    /// Only these stacks ("ustack", "smoltcp", "kernel"; empty: all), e.g.
    /// to profile one of them.
    pub stacks: Vec<String>,
}

impl Options {
    pub fn new(quick: bool) -> Options {
        Options {
            quick,
            verify: false,
            sizes: if quick { Sizes::quick() } else { Sizes::full() },
            tun: true,
            only: Vec::new(),
            progress: false,
            stacks: Vec::new(),
        }
    }
    fn wants(&self, name: &str) -> bool {
        self.only.is_empty() || self.only.iter().any(|o| name.contains(o.as_str()))
    }
    fn stack(&self, name: &str) -> bool {
        self.stacks.is_empty() || self.stacks.iter().any(|s| s == name)
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Machine {
    pub cpu: String,
    pub cores: usize,
    pub kernel: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct Workload {
    pub name: String,
    pub unit: String,
    pub ustack: Option<f64>,
    pub smoltcp: Option<f64>,
    pub kernel: Option<f64>,
    /// Secondary figures (wall-clock rates, CPU seconds, counts...).
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub detail: BTreeMap<String, f64>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub machine: Machine,
    pub quick: bool,
    pub workloads: Vec<Workload>,
    /// Set-up notes (why an anchor is null, how a figure was taken).
    pub notes: Vec<String>,
    /// Failures (a workload that errored, or data that came out wrong).
    pub errors: Vec<String>,
}

/// One bulk transfer.
#[derive(Debug, Clone, Copy)]
pub struct Bulk {
    pub bytes: u64,
    pub wall: Duration,
    /// Process CPU time (all threads, user + system) during the transfer.
    pub cpu: Duration,
    /// Every byte arrived (and matched, when verifying); nothing dropped.
    pub intact: bool,
    /// Packets carried by the in-memory link (0 where not counted).
    pub packets: u64,
}

impl Bulk {
    pub fn gbps(&self) -> f64 {
        self.bytes as f64 * 8.0 / self.wall.as_secs_f64().max(1e-9) / 1e9
    }
    /// Gbit per CPU-second.
    pub fn gbit_per_cpu_s(&self) -> f64 {
        self.bytes as f64 * 8.0 / self.cpu.as_secs_f64().max(1e-9) / 1e9
    }
}

/// One connection-rate run.
#[derive(Debug, Clone, Copy)]
pub struct ConnRun {
    pub done: usize,
    pub failed: usize,
    pub wall: Duration,
    pub cpu: Duration,
}

impl ConnRun {
    pub fn rate(&self) -> f64 {
        self.done as f64 / self.wall.as_secs_f64().max(1e-9)
    }
}

/// Echo round trips.
#[derive(Debug, Clone, Copy)]
pub struct Echo {
    pub rounds: usize,
    pub median_us: f64,
    pub mean_us: f64,
    pub p99_us: f64,
    pub intact: bool,
}

/// The scale workload.
#[derive(Debug, Clone, Copy)]
pub struct IdleRun {
    pub connections: usize,
    pub bytes_per_conn_end: f64,
    pub rss_delta: u64,
    pub alone: Bulk,
    pub with_idle: Bulk,
}

/// Times `rounds` 32-byte round trips (after 100 warm-up rounds).
pub(crate) fn echo_rounds(
    rounds: usize,
    mut f: impl FnMut(&[u8], &mut [u8]) -> io::Result<()>,
) -> io::Result<Echo> {
    let mut msg = [0u8; 32];
    let mut reply = [0u8; 32];
    let mut intact = true;
    let mut times = Vec::with_capacity(rounds);
    for i in 0..rounds + 100 {
        for (j, b) in msg.iter_mut().enumerate() {
            *b = link::pattern_byte((i * 32 + j) as u64);
        }
        let t = std::time::Instant::now();
        f(&msg, &mut reply)?;
        let dt = t.elapsed();
        intact &= reply == msg;
        if i >= 100 {
            times.push(dt.as_secs_f64() * 1e6);
        }
    }
    if times.is_empty() {
        return Ok(Echo {
            rounds: 0,
            median_us: 0.0,
            mean_us: 0.0,
            p99_us: 0.0,
            intact,
        });
    }
    let mean = times.iter().sum::<f64>() / times.len() as f64;
    times.sort_by(f64::total_cmp);
    let median = times[times.len() / 2];
    let p99 = times[(times.len() * 99 / 100).min(times.len() - 1)];
    Ok(Echo {
        rounds,
        median_us: median,
        mean_us: mean,
        p99_us: p99,
        intact,
    })
}

struct Runner<'a> {
    opts: &'a Options,
    report: Report,
}

impl Runner<'_> {
    fn progress(&self, msg: &str) {
        if self.opts.progress {
            eprintln!("[ustack-bench] {msg}");
        }
    }
    /// Unwraps a measurement, recording a failure (or corrupted data).
    fn take<T>(&mut self, what: &str, r: io::Result<T>, ok: impl Fn(&T) -> bool) -> Option<T> {
        match r {
            Ok(v) if ok(&v) => Some(v),
            Ok(v) => {
                self.report
                    .errors
                    .push(format!("{what}: data not intact (lost or corrupted bytes)"));
                Some(v)
            }
            Err(e) => {
                self.report.errors.push(format!("{what}: {e}"));
                None
            }
        }
    }
    /// `rounds` rounds in which ustack's and smoltcp's runs alternate (each
    /// engine only if selected): each engine's results, ustack's first.
    fn alternate<T>(
        &mut self,
        name: &str,
        rounds: usize,
        ok: impl Fn(&T) -> bool,
        mut ustack: impl FnMut() -> io::Result<T>,
        mut smoltcp: impl FnMut() -> io::Result<T>,
    ) -> [(&'static str, Vec<T>); 2] {
        let (mut us, mut ss) = (Vec::new(), Vec::new());
        for round in 1..=rounds {
            if self.opts.stack("ustack") {
                self.progress(&format!("{name}: ustack (round {round})"));
                let u = ustack();
                us.extend(self.take(&format!("{name} ustack"), u, &ok));
            }
            if self.opts.stack("smoltcp") {
                self.progress(&format!("{name}: smoltcp (round {round})"));
                let s = smoltcp();
                ss.extend(self.take(&format!("{name} smoltcp"), s, &ok));
            }
        }
        [("ustack", us), ("smoltcp", ss)]
    }
    fn push(&mut self, w: Workload) {
        self.report.workloads.push(w);
    }
}

fn workload(name: &str, unit: &str) -> Workload {
    Workload {
        name: name.into(),
        unit: unit.into(),
        ustack: None,
        smoltcp: None,
        kernel: None,
        detail: BTreeMap::new(),
    }
}

fn bulk_detail(w: &mut Workload, who: &str, b: &Bulk) {
    w.detail.insert(format!("{who}_gbps"), b.gbps());
    w.detail.insert(format!("{who}_cpu_s"), b.cpu.as_secs_f64());
    w.detail
        .insert(format!("{who}_wall_s"), b.wall.as_secs_f64());
    if b.packets > 0 {
        w.detail.insert(
            format!("{who}_ns_cpu_per_packet"),
            b.cpu.as_secs_f64() * 1e9 / b.packets as f64,
        );
    }
}

/// Runs the benchmark.
pub fn run(opts: &Options) -> Report {
    let (cpu, cores, kernel) = sys::machine();
    let mut r = Runner {
        opts,
        report: Report {
            machine: Machine { cpu, cores, kernel },
            quick: opts.quick,
            workloads: Vec::new(),
            notes: Vec::new(),
            errors: Vec::new(),
        },
    };
    let z = &opts.sizes;
    let src = Arc::new(link::pattern_buffer());
    let verify = opts.verify;

    // 1. Bulk in memory.
    for mtu in [1500usize, 65535] {
        let name = format!("bulk_mtu{mtu}");
        if !opts.wants(&name) {
            continue;
        }
        let mut w = workload(&name, "Gbit/s per CPU-second");
        let runs = r.alternate(
            &name,
            z.rounds,
            |b: &Bulk| b.intact,
            || ustack_mem::bulk(mtu, z.buffer, z.bulk_bytes, verify, &src),
            || smol_mem::bulk(mtu, z.buffer, z.bulk_bytes, verify, &src),
        );
        for (who, runs) in runs {
            if let Some((b, lo, hi)) = median_run(runs, Bulk::gbit_per_cpu_s) {
                set_figure(&mut w, who, b.gbit_per_cpu_s(), lo, hi, z.rounds);
                bulk_detail(&mut w, who, &b);
            }
        }
        if opts.stack("kernel") {
            r.progress(&format!("{name}: kernel"));
            let k = kernel::bulk(Some(mtu), z.bulk_bytes, verify, src.clone());
            if let Some((b, note)) = r.take(&format!("{name} kernel"), k, |b| b.0.intact) {
                w.kernel = Some(b.gbit_per_cpu_s());
                bulk_detail(&mut w, "kernel", &b);
                r.report.notes.push(format!("{name} kernel: {note}"));
            }
        }
        r.push(w);
    }

    // 2. Connection rate.
    for (name, total, par) in [
        ("conn_serial", z.conn_serial, 1usize),
        ("conn_parallel", z.conn_parallel, z.parallel),
    ] {
        if !opts.wants(name) {
            continue;
        }
        let mut w = workload(name, "conn/s");
        let runs = r.alternate(
            name,
            z.rounds,
            |c: &ConnRun| c.failed == 0,
            || ustack_mem::conn(z.conn_buffer, total, par),
            || smol_mem::conn(z.conn_buffer, total, par),
        );
        for (who, runs) in runs {
            if let Some((c, lo, hi)) = median_run(runs, ConnRun::rate) {
                set_figure(&mut w, who, c.rate(), lo, hi, z.rounds);
                w.detail
                    .insert(format!("{who}_cpu_us_per_conn"), cpu_us_per(c));
            }
        }
        if opts.stack("kernel") {
            r.progress(&format!("{name}: kernel"));
            let k = kernel::conn(total, par);
            if let Some(c) = r.take(&format!("{name} kernel"), k, |c| c.failed == 0) {
                w.kernel = Some(c.rate());
                w.detail
                    .insert("kernel_cpu_us_per_conn".into(), cpu_us_per(c));
            }
            kernel::pause();
        }
        r.push(w);
    }

    // 3. Blocking API across threads.
    if opts.wants("api_bulk") {
        let mut w = workload("api_bulk", "Gbit/s");
        if opts.stack("ustack") {
            r.progress("api_bulk: ustack");
            let u = api::bulk(z.buffer, z.api_bytes, verify, src.clone());
            if let Some(b) = r.take("api_bulk ustack", u, |b| b.intact) {
                w.ustack = Some(b.gbps());
                bulk_detail(&mut w, "ustack", &b);
            }
        }
        if opts.stack("kernel") {
            r.progress("api_bulk: kernel");
            let k = kernel::stream_bulk(z.api_bytes, verify, &src).map(|x| x.0);
            if let Some(b) = r.take("api_bulk kernel", k, |b| b.intact) {
                w.kernel = Some(b.gbps());
                bulk_detail(&mut w, "kernel", &b);
            }
        }
        r.push(w);
    }
    if opts.wants("api_echo_rtt") {
        let mut w = workload("api_echo_rtt", "µs");
        if opts.stack("ustack") {
            r.progress("api_echo_rtt: ustack");
            let u = api::echo(z.buffer, z.echo_rounds);
            if let Some(e) = r.take("api_echo_rtt ustack", u, |e| e.intact) {
                w.ustack = Some(e.median_us);
                w.detail.insert("ustack_mean_us".into(), e.mean_us);
                w.detail.insert("ustack_p99_us".into(), e.p99_us);
            }
        }
        if opts.stack("kernel") {
            r.progress("api_echo_rtt: kernel");
            let k = kernel::echo(z.echo_rounds);
            if let Some(e) = r.take("api_echo_rtt kernel", k, |e| e.intact) {
                w.kernel = Some(e.median_us);
                w.detail.insert("kernel_mean_us".into(), e.mean_us);
                w.detail.insert("kernel_p99_us".into(), e.p99_us);
            }
        }
        r.push(w);
    }

    // 4. Scale.
    if (opts.wants("idle_conn_bytes") || opts.wants("active_with_idle_ratio"))
        && opts.stack("ustack")
    {
        r.progress(&format!(
            "idle_conn_bytes / active_with_idle_ratio: ustack, {} connections",
            z.idle_conns
        ));
        let i = ustack_mem::idle(z.idle_conns, z.buffer, z.idle_bulk_bytes, verify, &src);
        let mut wb = workload("idle_conn_bytes", "bytes");
        let mut wr = workload("active_with_idle_ratio", "ratio");
        if let Some(i) = r.take("idle ustack", i, |i| i.alone.intact && i.with_idle.intact) {
            wb.ustack = Some(i.bytes_per_conn_end);
            wb.detail.insert("connections".into(), i.connections as f64);
            wb.detail
                .insert("rss_delta_bytes".into(), i.rss_delta as f64);
            // CPU-normalised (one thread: equal to Gbit/s on an idle
            // machine, robust to CPU steal on a shared one).
            wr.ustack = Some(i.with_idle.gbit_per_cpu_s() / i.alone.gbit_per_cpu_s().max(1e-12));
            wr.detail.insert(
                "wall_ratio".into(),
                i.with_idle.gbps() / i.alone.gbps().max(1e-12),
            );
            wr.detail.insert("alone_gbps".into(), i.alone.gbps());
            wr.detail
                .insert("with_idle_gbps".into(), i.with_idle.gbps());
            wr.detail
                .insert("alone_gbit_per_cpu_s".into(), i.alone.gbit_per_cpu_s());
            wr.detail.insert(
                "with_idle_gbit_per_cpu_s".into(),
                i.with_idle.gbit_per_cpu_s(),
            );
        }
        r.report.notes.push(format!(
            "idle_conn_bytes: RSS delta / connection ends ({} connections = {} ends, both \
             stacks in this process, each end has carried 1 byte each way); smoltcp null \
             (it preallocates both buffers per socket: 2 x {} bytes by construction); \
             kernel null (socket memory is not in the process RSS)",
            z.idle_conns,
            2 * z.idle_conns,
            z.buffer
        ));
        r.report.notes.push(
            "active_with_idle_ratio: Gbit per CPU-second of one bulk connection (MTU 1500) \
             with the idle connections present / on a fresh stack pair (wall-clock ratio in \
             the details)"
                .into(),
        );
        r.push(wb);
        r.push(wr);
    }

    // 5. TUN.
    if opts.wants("tun_rx") || opts.wants("tun_tx") {
        let mut wrx = workload("tun_rx", "Gbit/s");
        let mut wtx = workload("tun_tx", "Gbit/s");
        let why = if !opts.tun {
            Some("TUN workloads disabled".to_string())
        } else {
            sys::tun_prerequisite().err()
        };
        match why {
            Some(why) => r.report.notes.push(format!("tun_rx/tun_tx null: {why}")),
            None => {
                if opts.stack("ustack") {
                    // Without offloads first (the set-up smoltcp has), then
                    // with them (`TunDevice::open_offload`: TSO both ways),
                    // which is the ustack figure.
                    r.progress("tun_rx/tun_tx: ustack without offloads");
                    let u = tun::ustack(z.buffer, z.tun_bytes, verify, src.clone(), false);
                    if let Some(t) = r.take("tun ustack plain", u, |t| t.rx.intact && t.tx.intact) {
                        bulk_detail(&mut wrx, "ustack_plain", &t.rx);
                        bulk_detail(&mut wtx, "ustack_plain", &t.tx);
                    }
                    r.progress("tun_rx/tun_tx: ustack with offloads");
                    let u = tun::ustack(z.buffer, z.tun_bytes, verify, src.clone(), true);
                    if let Some(t) = r.take("tun ustack", u, |t| t.rx.intact && t.tx.intact) {
                        wrx.ustack = Some(t.rx.gbps());
                        wtx.ustack = Some(t.tx.gbps());
                        bulk_detail(&mut wrx, "ustack", &t.rx);
                        bulk_detail(&mut wtx, "ustack", &t.tx);
                    }
                }
                if opts.stack("smoltcp") {
                    r.progress("tun_rx/tun_tx: smoltcp");
                    let s = tun::smoltcp(z.buffer, z.tun_bytes, verify, src.clone());
                    if let Some(t) = r.take("tun smoltcp", s, |t| t.rx.intact && t.tx.intact) {
                        wrx.smoltcp = Some(t.rx.gbps());
                        wtx.smoltcp = Some(t.tx.gbps());
                        bulk_detail(&mut wrx, "smoltcp", &t.rx);
                        bulk_detail(&mut wtx, "smoltcp", &t.tx);
                    }
                }
                r.report.notes.push(format!(
                    "tun: MTU {}, private network namespace, kernel peer = std::net socket; \
                     kernel column null (it is the peer); CPU figures include the kernel peer; \
                     ustack = its TUN device with the kernel's checksum/TSO offloads \
                     (IFF_VNET_HDR: 64 KiB segments both ways), ustack_plain_* = without \
                     them (smoltcp's TUN has none)",
                    tun::TUN_MTU
                ));
            }
        }
        r.push(wrx);
        r.push(wtx);
    }
    r.report.notes.push(format!(
        "buffers: {} bytes send/recv for bulk, API, scale and TUN; {} bytes for the \
         connection workloads; same for ustack and smoltcp{}",
        z.buffer,
        z.conn_buffer,
        if verify {
            "; every byte verified"
        } else {
            "; byte counts checked (run with --verify to compare every byte)"
        }
    ));
    r.report
}

/// The median run by `key` (the upper one of an even count), with the
/// smallest and largest key; None if there is no run.
fn median_run<T>(mut runs: Vec<T>, key: impl Fn(&T) -> f64) -> Option<(T, f64, f64)> {
    runs.sort_by(|a, b| key(a).total_cmp(&key(b)));
    let lo = key(runs.first()?);
    let hi = runs.last().map(&key).unwrap_or(lo);
    let mid = runs.len() / 2;
    Some((runs.swap_remove(mid), lo, hi))
}

/// Sets `who`'s (ustack's or smoltcp's) figure, and the min and max of
/// its rounds when there was more than one.
fn set_figure(w: &mut Workload, who: &str, v: f64, lo: f64, hi: f64, rounds: usize) {
    if who == "ustack" {
        w.ustack = Some(v);
    } else {
        w.smoltcp = Some(v);
    }
    if rounds > 1 {
        w.detail.insert(format!("{who}_min"), lo);
        w.detail.insert(format!("{who}_max"), hi);
    }
}

fn cpu_us_per(c: ConnRun) -> f64 {
    c.cpu.as_secs_f64() * 1e6 / c.done.max(1) as f64
}

/// What the issue asks of each workload, as (description, met?).
fn target(w: &Workload) -> Option<(String, bool)> {
    let u = w.ustack?;
    let vs_s = w.smoltcp.map(|s| u / s);
    let vs_k = w.kernel.map(|k| u / k);
    match w.name.as_str() {
        "bulk_mtu1500" | "bulk_mtu65535" => vs_s.map(|x| ("≥ 2.5× smoltcp".to_string(), x >= 2.5)),
        "conn_serial" | "conn_parallel" => {
            // Judged only with both anchors measured in the same run.
            let (s, k) = (vs_s?, vs_k?);
            Some((
                "≥ 2× smoltcp, ≥ 10× kernel".to_string(),
                s >= 2.0 && k >= 10.0,
            ))
        }
        "api_bulk" => vs_k.map(|x| ("≥ kernel".to_string(), x >= 1.0)),
        "api_echo_rtt" => vs_k.map(|x| ("≤ kernel".to_string(), x <= 1.0)),
        "idle_conn_bytes" => Some(("≤ 4096 B".to_string(), u <= 4096.0)),
        "active_with_idle_ratio" => Some(("≥ 0.90".to_string(), u >= 0.9)),
        "tun_rx" | "tun_tx" => vs_s.map(|x| ("≥ smoltcp".to_string(), x >= 1.0)),
        _ => None,
    }
}

fn fmt_val(v: Option<f64>) -> String {
    match v {
        None => "null".into(),
        Some(x) if x.abs() >= 1000.0 => format!("{x:.0}"),
        Some(x) if x.abs() >= 10.0 => format!("{x:.1}"),
        Some(x) => format!("{x:.3}"),
    }
}

fn ratio(a: Option<f64>, b: Option<f64>) -> String {
    match (a, b) {
        (Some(a), Some(b)) if b != 0.0 => format!("{:.2}×", a / b),
        _ => "-".into(),
    }
}

impl Report {
    /// The human-readable table.
    pub fn table(&self) -> String {
        let mut out = String::new();
        out += &format!(
            "machine: {} ({} cores), Linux {}{}\n\n",
            self.machine.cpu,
            self.machine.cores,
            self.machine.kernel,
            if self.quick { ", --quick sizes" } else { "" }
        );
        out += &format!(
            "{:<24} {:<22} {:>10} {:>10} {:>10} {:>9} {:>9}  {}\n",
            "workload", "unit", "ustack", "smoltcp", "kernel", "u/smol", "u/kern", "target"
        );
        out += &format!("{}\n", "-".repeat(130));
        for w in &self.workloads {
            let t = match target(w) {
                Some((d, true)) => format!("{d}: met"),
                Some((d, false)) => format!("{d}: MISSED"),
                None => String::new(),
            };
            out += &format!(
                "{:<24} {:<22} {:>10} {:>10} {:>10} {:>9} {:>9}  {}\n",
                w.name,
                w.unit,
                fmt_val(w.ustack),
                fmt_val(w.smoltcp),
                fmt_val(w.kernel),
                ratio(w.ustack, w.smoltcp),
                ratio(w.ustack, w.kernel),
                t
            );
            if !w.detail.is_empty() {
                let d: Vec<String> = w
                    .detail
                    .iter()
                    .map(|(k, v)| format!("{k}={}", fmt_val(Some(*v))))
                    .collect();
                out += &format!("    {}\n", d.join(" "));
            }
        }
        if !self.notes.is_empty() {
            out += "\nnotes:\n";
            for n in &self.notes {
                out += &format!("  - {n}\n");
            }
        }
        if !self.errors.is_empty() {
            out += "\nerrors:\n";
            for e in &self.errors {
                out += &format!("  - {e}\n");
            }
        }
        out
    }

    /// The JSON object.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"))
    }
}

#[cfg(test)]
mod tests {
    use super::median_run;

    #[test]
    fn median_run_picks_the_middle_and_the_extremes() {
        assert_eq!(median_run(Vec::<f64>::new(), |x| *x), None);
        assert_eq!(median_run(vec![7.0], |x| *x), Some((7.0, 7.0, 7.0)));
        assert_eq!(
            median_run(vec![3.0, 1.0, 2.0], |x| *x),
            Some((2.0, 1.0, 3.0))
        );
        // Even count: the upper middle.
        assert_eq!(
            median_run(vec![4.0, 1.0, 3.0, 2.0], |x| *x),
            Some((3.0, 1.0, 4.0))
        );
    }
}
