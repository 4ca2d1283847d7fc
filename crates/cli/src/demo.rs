//! `ustack demo`: two ustack instances in one process, joined by an
//! emulated network path (rate, delay, loss), showing TCP at work: the
//! handshake, an echo conversation, sticky packets and framing,
//! authentication, a file download with its loss recoveries, the close,
//! and graphs of it all. No root needed.
//!
//! How it sees inside: the engine emits `tracing` events for state
//! changes, segments sent and loss recoveries; a custom layer
//! ([`capture::CaptureLayer`]) records them with timestamps, and a device
//! tap ([`capture::Tap`]) records the segments each stack receives, into
//! one ordered log. The diagrams and graphs are drawn from that log, and
//! `TcpStream::info()` is sampled for cwnd and ssthresh.
mod capture;
mod diagram;
mod term;

use crate::viz::tcpflow::{time_sequence, TimedSegment};
use crate::viz::{cwnd_chart, time_sequence_chart, CwndSample, Recovery};
use capture::{CaptureLayer, Event, Kind, Log, Tap};
use clap::Args;
use std::io::{self, IsTerminal, Read, Write};
use std::net::{IpAddr, Shutdown, SocketAddr};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};
use term::{pad, thousands, Paint};
use ustack_apps::echo::UpperEcho;
use ustack_apps::pairnet::{config, CLIENT_IP, CLIENT_IP6, SERVER_IP, SERVER_IP6};
use ustack_apps::{auth, filexfer, framing, Handler};
use ustack_devices::sim::link::{duration_from_ms, LinkConfig};
use ustack_devices::{emulated_pair, Capture, EmulatedDevice};
use ustack_runtime::net::{TcpListener, TcpStream};
use ustack_runtime::Netstack;

const ECHO_PORT: u16 = 7;
const STICKY_PORT: u16 = 9000;
const FILE_PORT: u16 = 9001;
const KEY: &[u8] = b"ustack demo shared secret";
const WRONG_KEY: &[u8] = b"an impostor's guess";
const FILE_NAME: &str = "demo.bin";
/// How often the sender's congestion state is sampled.
const SAMPLE_EVERY: Duration = Duration::from_millis(5);
/// The most a demo step may wait for the network.
const STEP_TIMEOUT: Duration = Duration::from_secs(30);

#[derive(Args, Debug)]
pub struct DemoArgs {
    /// Bottleneck rate of each direction, in Mbit/s.
    #[arg(long, value_name = "MBIT", default_value = "100", value_parser = parse_rate, allow_negative_numbers = true)]
    pub rate: f64,
    /// One-way delay in milliseconds (the round trip is twice this).
    #[arg(long, value_name = "MS", default_value = "10", value_parser = parse_delay, allow_negative_numbers = true)]
    pub delay: f64,
    /// Packet loss probability of each direction (0.01 = 1 %).
    #[arg(long, value_name = "P", default_value = "0.01", value_parser = parse_loss, allow_negative_numbers = true)]
    pub loss: f64,
    /// Seed of the stacks' and the links' random choices.
    #[arg(long, value_name = "N", default_value_t = 1)]
    pub seed: u64,
    /// Directory for demo.pcap, time-sequence.svg and cwnd.svg.
    #[arg(long, value_name = "DIR", default_value = "./ustack-demo")]
    pub out: PathBuf,
    /// Size of the downloaded file in bytes.
    #[arg(long, value_name = "BYTES", default_value = "2000000", value_parser = parse_size)]
    pub file_size: u64,
    /// No colours, even on a terminal.
    #[arg(long)]
    pub no_color: bool,
    /// Run over IPv6 (client 2001:2::1, server 2001:2::2) instead of IPv4.
    #[arg(long)]
    pub ipv6: bool,
}

impl DemoArgs {
    /// The (client, server) addresses and their prefix length.
    fn addresses(&self) -> (IpAddr, IpAddr, u8) {
        if self.ipv6 {
            (CLIENT_IP6, SERVER_IP6, 64)
        } else {
            (CLIENT_IP, SERVER_IP, 24)
        }
    }

    fn server_ip(&self) -> IpAddr {
        self.addresses().1
    }
}

fn parse_number(s: &str, what: &str) -> Result<f64, String> {
    let v: f64 = s
        .trim()
        .parse()
        .map_err(|_| format!("'{s}' is not a number ({what})"))?;
    if !v.is_finite() {
        return Err(format!("'{s}' is not a finite number ({what})"));
    }
    Ok(v)
}

fn parse_rate(s: &str) -> Result<f64, String> {
    let r = parse_number(s, "a rate in Mbit/s")?;
    if r <= 0.0 {
        return Err(format!("the rate must be positive, got {s} Mbit/s"));
    }
    if !(0.1..=10_000.0).contains(&r) {
        return Err(format!(
            "a rate of {s} Mbit/s is outside what the demo supports (0.1 to 10000)"
        ));
    }
    Ok(r)
}

fn parse_delay(s: &str) -> Result<f64, String> {
    let d = parse_number(s, "a one-way delay in milliseconds")?;
    if d < 0.0 {
        return Err(format!("the delay cannot be negative, got {s} ms"));
    }
    if d > 1000.0 {
        return Err(format!(
            "a one-way delay of {s} ms is too long for a demo (at most 1000 ms)"
        ));
    }
    Ok(d)
}

fn parse_loss(s: &str) -> Result<f64, String> {
    let p = parse_number(s, "a loss probability such as 0.01")?;
    if !(0.0..=1.0).contains(&p) {
        return Err(format!(
            "{s} is not a probability: the loss must be a fraction in [0, 1] (0.01 = 1 %)"
        ));
    }
    if p > 0.2 {
        return Err(format!(
            "a loss of {s} is too high for the demo to finish in reasonable time (at most 0.2)"
        ));
    }
    Ok(p)
}

fn parse_size(s: &str) -> Result<u64, String> {
    let n: u64 = s
        .trim()
        .parse()
        .map_err(|_| format!("'{s}' is not a whole number of bytes"))?;
    if n == 0 {
        return Err("the file size must be at least 1 byte".into());
    }
    if n > 1 << 30 {
        return Err(format!(
            "{s} bytes is too large for the demo (at most 1 GiB)"
        ));
    }
    Ok(n)
}

/// Installs the capture layer (and, with `--trace`, a log on stderr) as
/// the process's subscriber.
fn install_tracing(log: Arc<Log>, trace: bool) -> Result<(), String> {
    use tracing_subscriber::filter::{filter_fn, EnvFilter};
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::Layer;
    let capture =
        CaptureLayer::new(log).with_filter(filter_fn(|m| capture::is_engine_target(m.target())));
    let fmt = trace.then(|| {
        let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("debug"));
        tracing_subscriber::fmt::layer()
            .with_writer(io::stderr)
            .with_ansi(io::stderr().is_terminal())
            .with_filter(filter)
    });
    let subscriber = tracing_subscriber::registry().with(capture).with(fmt);
    tracing::subscriber::set_global_default(subscriber)
        .map_err(|e| format!("cannot install the tracing subscriber: {e}"))
}

/// Removes the served file's temporary directory when dropped.
struct TempDir(PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// What the server threads report to the narrator.
#[derive(Debug)]
enum Note {
    StickyRead(Vec<u8>),
    FramedRead(Vec<Vec<u8>>),
    AuthRejected(String),
    Failed(String),
}

/// What the sampler learned about the download's sender.
#[derive(Debug, Default)]
struct SenderStats {
    samples: Vec<(f64, ustack::TcpInfo)>,
    last: Option<ustack::TcpInfo>,
}

type ClientDevice = Tap<Capture<EmulatedDevice>>;

struct Demo {
    args: DemoArgs,
    p: Paint,
    log: Arc<Log>,
    client: Netstack,
    server: Netstack,
    client_dev: Arc<ClientDevice>,
    notes: mpsc::Receiver<Note>,
    go: Vec<mpsc::Sender<()>>,
    stats: Arc<Mutex<SenderStats>>,
    servers: Vec<thread::JoinHandle<()>>,
    pcap: PathBuf,
    served: TempDir,
    /// Time origin of the diagrams (the log's clock).
    t0: f64,
}

pub fn run(args: DemoArgs, trace: bool) -> ExitCode {
    let color = !args.no_color && io::stdout().is_terminal();
    let p = Paint { on: color };
    match run_demo(args, trace, p) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("ustack demo: {e}");
            ExitCode::FAILURE
        }
    }
}

fn link_config(args: &DemoArgs) -> Result<LinkConfig, String> {
    // A drop-tail queue of about one bandwidth-delay product.
    let bdp_pkts = args.rate * 1e6 / 8.0 * (2.0 * args.delay / 1000.0) / 1500.0;
    Ok(LinkConfig {
        rate_mbps: Some(args.rate),
        delay: duration_from_ms(args.delay)?,
        loss: args.loss,
        queue_pkts: (bdp_pkts.ceil() as usize).clamp(32, 10_000),
        ..Default::default()
    })
}

fn run_demo(args: DemoArgs, trace: bool, p: Paint) -> Result<(), String> {
    let started = Instant::now();
    std::fs::create_dir_all(&args.out).map_err(|e| {
        format!(
            "cannot create the output directory {}: {e}",
            args.out.display()
        )
    })?;
    let log = Log::new();
    install_tracing(log.clone(), trace)?;

    // The file to serve.
    let served = TempDir(std::env::temp_dir().join(format!("ustack-demo-{}", std::process::id())));
    std::fs::create_dir_all(&served.0)
        .map_err(|e| format!("cannot create {}: {e}", served.0.display()))?;
    let mut content = vec![0u8; usize::try_from(args.file_size).unwrap_or(usize::MAX)];
    ustack::rng::Rng::new(args.seed ^ 0x5eed).fill(&mut content);
    std::fs::write(served.0.join(FILE_NAME), &content)
        .map_err(|e| format!("cannot write the demo file: {e}"))?;
    drop(content);

    // Two stacks joined by the emulated path; the client's side captured.
    let cfg = link_config(&args)?;
    let (dev_c, dev_s) = emulated_pair(cfg.clone(), cfg, args.seed, 1500)
        .map_err(|e| format!("cannot create the emulated link: {e}"))?;
    let pcap = args.out.join("demo.pcap");
    let captured = Capture::new(dev_c, &pcap).map_err(|e| e.to_string())?;
    let client_dev = Arc::new(Tap::new(captured, log.clone(), false));
    let server_dev = Tap::new(dev_s, log.clone(), true);
    let seed = args.seed.wrapping_mul(2);
    let (client_ip, server_ip, prefix) = args.addresses();
    let client = Netstack::new(
        config(client_ip, prefix, seed.wrapping_add(1)),
        client_dev.clone(),
    )
    .map_err(|e| format!("cannot start the client stack: {e}"))?;
    let server = Netstack::new(config(server_ip, prefix, seed.wrapping_add(2)), server_dev)
        .map_err(|e| format!("cannot start the server stack: {e}"))?;

    let (note_tx, notes) = mpsc::channel();
    let stats = Arc::new(Mutex::new(SenderStats::default()));
    let mut demo = Demo {
        p,
        log,
        client,
        server,
        client_dev,
        notes,
        go: Vec::new(),
        stats,
        servers: Vec::new(),
        pcap,
        served,
        t0: 0.0,
        args,
    };
    demo.start_servers(note_tx)?;

    println!(
        "{}",
        p.bold(&format!(
            "ustack demo: two ustack stacks in this process, client {client_ip} and server {server_ip},"
        ))
    );
    println!(
        "{}",
        p.bold(&format!(
            "joined by an emulated path: {} Mbit/s, {} ms one-way delay (RTT {} ms), {} % loss each way, seed {}",
            demo.args.rate,
            demo.args.delay,
            2.0 * demo.args.delay,
            demo.args.loss * 100.0,
            demo.args.seed
        ))
    );
    println!();

    demo.handshake_and_echo()?;
    demo.sticky()?;
    let dl = demo.auth_and_download()?;
    demo.close(&dl)?;
    demo.summary(&dl, started)?;
    Ok(())
}

/// Waits until `pred` holds for some event from index `from` on.
fn wait_event(log: &Log, from: usize, timeout: Duration, pred: impl Fn(&Event) -> bool) -> bool {
    let until = Instant::now() + timeout;
    loop {
        if log.since(from).iter().any(&pred) {
            return true;
        }
        if Instant::now() >= until {
            return false;
        }
        thread::sleep(Duration::from_millis(2));
    }
}

fn is_state(ev: &Event, local: SocketAddr, remote: SocketAddr, to_state: &str) -> bool {
    ev.local == local
        && ev.remote == remote
        && matches!(&ev.kind, Kind::State { to, .. } if to == to_state)
}

/// Waits until everything written on `s` is acknowledged.
fn wait_acked(s: &TcpStream) -> Result<(), String> {
    let until = Instant::now() + STEP_TIMEOUT;
    loop {
        let i = s.info().map_err(|e| format!("tcp info: {e}"))?;
        if i.bytes_in_flight == 0 {
            return Ok(());
        }
        if Instant::now() >= until {
            return Err("timed out waiting for the data to be acknowledged".into());
        }
        thread::sleep(Duration::from_millis(1));
    }
}

fn show(bytes: &[u8]) -> String {
    format!("{:?}", String::from_utf8_lossy(bytes))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// What the download step hands to the next ones.
struct Download {
    client: SocketAddr,
    server: SocketAddr,
    bytes: u64,
    seconds: f64,
    sha256: String,
    /// Log index when the download connection was opened.
    start_idx: usize,
}

impl Demo {
    fn note(&self) -> Result<Note, String> {
        match self.notes.recv_timeout(STEP_TIMEOUT) {
            Ok(Note::Failed(e)) => Err(format!("server: {e}")),
            Ok(n) => Ok(n),
            Err(_) => Err("the server did not answer in time".into()),
        }
    }

    fn start_servers(&mut self, notes: mpsc::Sender<Note>) -> Result<(), String> {
        let bind = |port| {
            TcpListener::bind(&self.server, SocketAddr::new(self.args.server_ip(), port))
                .map_err(|e| format!("cannot listen on port {port}: {e}"))
        };
        // Upper-case echo: one connection.
        let echo = bind(ECHO_PORT)?;
        let tx = notes.clone();
        self.servers.push(thread::spawn(move || {
            let r = echo
                .accept()
                .and_then(|(s, peer)| UpperEcho.handle(s, peer));
            if let Err(e) = r {
                let _ = tx.send(Note::Failed(format!("echo: {e}")));
            }
        }));

        // Sticky packets: read once when told to, then two frames.
        let sticky = bind(STICKY_PORT)?;
        let tx = notes.clone();
        let (go_tx, go) = mpsc::channel::<()>();
        self.go.push(go_tx);
        self.servers.push(thread::spawn(move || {
            let r = (|| -> io::Result<()> {
                let (mut s, _) = sticky.accept()?;
                let mut buf = [0u8; 1024];
                let _ = go.recv();
                let n = s.read(&mut buf)?;
                let _ = tx.send(Note::StickyRead(buf[..n].to_vec()));
                let _ = go.recv();
                let a = framing::expect_frame(&mut s, 1024)?;
                let b = framing::expect_frame(&mut s, 1024)?;
                let _ = tx.send(Note::FramedRead(vec![a, b]));
                io::copy(&mut s, &mut io::sink())?;
                Ok(())
            })();
            if let Err(e) = r {
                let _ = tx.send(Note::Failed(format!("sticky: {e}")));
            }
        }));

        // Authenticated file server: an impostor, then the real client.
        let files = bind(FILE_PORT)?;
        let fs = filexfer::FileServer::new(&self.served.0).map_err(|e| e.to_string())?;
        let tx = notes;
        let stats = self.stats.clone();
        let log = self.log.clone();
        let pause = Duration::from_secs_f64((4.0 * self.args.delay / 1000.0).max(0.05));
        self.servers.push(thread::spawn(move || {
            for _ in 0..2 {
                let r = (|| -> io::Result<()> {
                    let (mut s, peer) = files.accept()?;
                    s.set_read_timeout(Some(STEP_TIMEOUT))?;
                    if let Err(e) = auth::server_handshake(&mut s, KEY, peer) {
                        let _ = tx.send(Note::AuthRejected(e.to_string()));
                        return Ok(());
                    }
                    s.set_read_timeout(None)?;
                    let probe = s.try_clone()?;
                    let stop = AtomicBool::new(false);
                    let served = thread::scope(|sc| {
                        sc.spawn(|| {
                            while !stop.load(Ordering::Relaxed) {
                                if let Ok(i) = probe.info() {
                                    let mut st = stats.lock().unwrap_or_else(|p| p.into_inner());
                                    st.samples.push((log.now(), i));
                                    st.last = Some(i);
                                }
                                thread::sleep(SAMPLE_EVERY);
                            }
                        });
                        let r = fs.serve(&mut s, peer);
                        if let Ok(i) = probe.info() {
                            let mut st = stats.lock().unwrap_or_else(|p| p.into_inner());
                            st.samples.push((log.now(), i));
                            st.last = Some(i);
                        }
                        stop.store(true, Ordering::Relaxed);
                        r
                    });
                    drop(probe);
                    served?;
                    // Stay in CLOSE-WAIT a moment so that the ACK of the
                    // client's FIN and our own FIN are separate segments.
                    thread::sleep(pause);
                    drop(s);
                    Ok(())
                })();
                if let Err(e) = r {
                    let _ = tx.send(Note::Failed(format!("file server: {e}")));
                }
            }
        }));
        Ok(())
    }

    fn handshake_and_echo(&mut self) -> Result<(), String> {
        let p = self.p;
        println!("{}", p.heading("1. The three-way handshake"));
        let server = SocketAddr::new(self.args.server_ip(), ECHO_PORT);
        let from = self.log.len();
        self.t0 = self.log.now();
        let mut s = TcpStream::connect(&self.client, server)
            .map_err(|e| format!("connect to the echo server: {e}"))?;
        let client = s.local_addr().map_err(|e| e.to_string())?;
        // The server is ESTABLISHED once the client's ACK has crossed.
        wait_event(&self.log, from, STEP_TIMEOUT, |ev| {
            is_state(ev, server, client, "ESTABLISHED")
        });
        let events = self.log.all();
        let tl = diagram::timeline(&events, client, server);
        let end = tl.handshake_end().map_or(tl.rows.len(), |i| i + 1);
        print!(
            "{}",
            diagram::render(&tl, &tl.rows[..end], ("CLOSED", "LISTEN"), self.t0, p)
        );
        if let (Some(c), Some(sv)) = (tl.client_isn, tl.server_isn) {
            println!(
                "{}",
                p.dim(&format!(
                    "  Initial sequence numbers: client {c}, server {sv}; seq/ack above are relative to them."
                ))
            );
        }
        println!(
            "{}",
            p.dim("  SYN and FIN each take one sequence number: that is why the first data byte is seq=1.")
        );
        println!();

        println!(
            "{}",
            p.heading("2. Upper-case echo, sticky packets and framing")
        );
        s.set_nodelay(true).map_err(|e| e.to_string())?;
        for line in ["hello, ustack", "tcp is a reliable byte stream"] {
            let t = Instant::now();
            s.write_all(format!("{line}\n").as_bytes())
                .map_err(|e| format!("echo: {e}"))?;
            let mut got = Vec::new();
            let mut buf = [0u8; 256];
            while !got.ends_with(b"\n") {
                let n = s.read(&mut buf).map_err(|e| format!("echo: {e}"))?;
                if n == 0 {
                    return Err("echo: the server closed the connection early".into());
                }
                got.extend_from_slice(&buf[..n]);
            }
            println!(
                "  client → server  {}",
                p.cyan(&show(format!("{line}\n").as_bytes()))
            );
            println!(
                "  server → client  {}   {}",
                p.magenta(&show(&got)),
                p.dim(&format!(
                    "(round trip {:.1} ms)",
                    t.elapsed().as_secs_f64() * 1000.0
                ))
            );
        }
        s.shutdown(Shutdown::Write).map_err(|e| e.to_string())?;
        let mut rest = Vec::new();
        s.read_to_end(&mut rest).map_err(|e| format!("echo: {e}"))?;
        drop(s);
        Ok(())
    }

    fn sticky(&mut self) -> Result<(), String> {
        let p = self.p;
        let server = SocketAddr::new(self.args.server_ip(), STICKY_PORT);
        let mut s =
            TcpStream::connect(&self.client, server).map_err(|e| format!("connect: {e}"))?;
        let client = s.local_addr().map_err(|e| e.to_string())?;
        s.set_nodelay(true).map_err(|e| e.to_string())?;
        println!();
        println!(
            "  {} TCP carries a byte stream, not messages. The client calls write() twice:",
            p.bold("Sticky packets:")
        );
        let from = self.log.len();
        s.write_all(b"Hello").map_err(|e| e.to_string())?;
        s.write_all(b"World").map_err(|e| e.to_string())?;
        wait_acked(&s)?;
        let segs: Vec<u32> = self
            .log
            .since(from)
            .iter()
            .filter(|e| e.local == client && e.remote == server)
            .filter_map(|e| match &e.kind {
                Kind::Out { len, .. } if *len > 0 => Some(*len),
                _ => None,
            })
            .collect();
        println!(
            "    client: write(\"Hello\")  write(\"World\")   {}",
            p.dim(&format!(
                "→ {} segment(s) of {} bytes",
                segs.len(),
                segs.iter()
                    .map(u32::to_string)
                    .collect::<Vec<_>>()
                    .join(" + ")
            ))
        );
        self.go[0]
            .send(())
            .map_err(|_| "the sticky server is gone")?;
        let Note::StickyRead(got) = self.note()? else {
            return Err("unexpected server note".into());
        };
        let verdict = if got == b"HelloWorld" {
            p.yellow("← ONE read() got BOTH messages glued together")
        } else {
            p.yellow("← the bytes came apart differently; TCP keeps no boundaries")
        };
        println!(
            "    server: read() → {} bytes {}   {verdict}",
            got.len(),
            p.magenta(&show(&got))
        );
        println!(
            "  {} a 4-byte big-endian length, then the payload:",
            p.bold("Solved by length-prefix framing (ustack_apps::framing):")
        );
        let mut wire = Vec::new();
        for m in [&b"Hello"[..], b"World"] {
            framing::write_frame(&mut wire, m).map_err(|e| e.to_string())?;
            framing::write_frame(&mut s, m).map_err(|e| format!("write_frame: {e}"))?;
        }
        wait_acked(&s)?;
        println!(
            "    client: write_frame(\"Hello\")  write_frame(\"World\")   {}",
            p.dim(&format!("→ {} bytes: {}", wire.len(), hex(&wire)))
        );
        self.go[0]
            .send(())
            .map_err(|_| "the sticky server is gone")?;
        let Note::FramedRead(frames) = self.note()? else {
            return Err("unexpected server note".into());
        };
        for (i, f) in frames.iter().enumerate() {
            let tail = if i + 1 == frames.len() {
                format!("   {}", p.green("✓ message boundaries kept"))
            } else {
                String::new()
            };
            println!("    server: read_frame() → {}{tail}", p.magenta(&show(f)));
        }
        drop(s);
        println!();
        Ok(())
    }

    fn auth_and_download(&mut self) -> Result<Download, String> {
        let p = self.p;
        println!(
            "{}",
            p.heading("3. Authentication and a file download over the lossy path")
        );
        println!("  HMAC-SHA256 challenge-response (ustack_apps::auth): the server sends a random 32-byte");
        println!("  nonce, the client answers HMAC-SHA256(key, nonce), the server compares in constant time.");
        let server = SocketAddr::new(self.args.server_ip(), FILE_PORT);

        let mut impostor =
            TcpStream::connect(&self.client, server).map_err(|e| format!("connect: {e}"))?;
        let verdict = auth::client_handshake(&mut impostor, WRONG_KEY);
        drop(impostor);
        let server_says = match self.note()? {
            Note::AuthRejected(e) => e,
            _ => return Err("unexpected server note".into()),
        };
        match verdict {
            Ok(()) => return Err("the impostor was let in: authentication is broken".into()),
            Err(e) => {
                println!(
                    "    impostor (wrong key):  {}  {}",
                    p.red("rejected"),
                    p.dim(&format!("— client: {e}"))
                );
                println!(
                    "                           {}",
                    p.dim(&format!("— server: {server_says}"))
                );
            }
        }

        let start_idx = self.log.len();
        let mut s =
            TcpStream::connect(&self.client, server).map_err(|e| format!("connect: {e}"))?;
        let client = s.local_addr().map_err(|e| e.to_string())?;
        auth::client_handshake(&mut s, KEY).map_err(|e| format!("authentication failed: {e}"))?;
        println!("    client (right key):    {}", p.green("authenticated ✓"));
        println!();
        println!(
            "  Downloading {FILE_NAME} ({} bytes) with ustack_apps::filexfer (size + sha256 header, then the body).",
            thousands(self.args.file_size)
        );
        println!("  Loss recoveries of the sender are called out as they happen:");

        let tty = self.p.on || (io::stdout().is_terminal() && io::stderr().is_terminal());
        let bar = if tty && io::stderr().is_terminal() {
            let b = indicatif::ProgressBar::new(self.args.file_size);
            if let Ok(style) = indicatif::ProgressStyle::with_template(
                "    [{wide_bar}] {decimal_bytes}/{decimal_total_bytes} {decimal_bytes_per_sec}",
            ) {
                b.set_style(style.progress_chars("=> "));
            }
            b
        } else {
            indicatif::ProgressBar::hidden()
        };
        let done = Arc::new(AtomicBool::new(false));
        let narrator = {
            let log = self.log.clone();
            let bar = bar.clone();
            let done = done.clone();
            let p = self.p;
            let t_start = self.log.now();
            thread::spawn(move || narrate(&log, start_idx, client, server, t_start, &bar, &done, p))
        };
        let t = Instant::now();
        let bar2 = bar.clone();
        let progress = filexfer::Progress::Callback(Box::new(move |pos, _| bar2.set_position(pos)));
        let result = filexfer::download_to(&mut s, FILE_NAME, &mut io::sink(), progress);
        let seconds = t.elapsed().as_secs_f64();
        done.store(true, Ordering::SeqCst);
        let _ = narrator.join();
        bar.finish_and_clear();
        let report = result.map_err(|e| format!("download failed: {e}"))?;
        let local = filexfer::sha256_hex(
            std::fs::File::open(self.served.0.join(FILE_NAME)).map_err(|e| e.to_string())?,
        )
        .map_err(|e| e.to_string())?;
        if report.sha256 != local || report.bytes_written != self.args.file_size {
            return Err(format!(
                "the download is not intact: {} bytes, sha256 {} (expected {local})",
                report.bytes_written, report.sha256
            ));
        }
        println!(
            "    {} {} bytes in {seconds:.2} s ({:.1} Mbit/s), sha256 {}… matches: download intact",
            p.green("✓"),
            thousands(report.bytes_written),
            report.bytes_written as f64 * 8.0 / seconds / 1e6,
            &report.sha256[..16]
        );
        println!();
        // Closing: the client closes first (the active close).
        drop(s);
        Ok(Download {
            client,
            server,
            bytes: report.bytes_written,
            seconds,
            sha256: report.sha256,
            start_idx,
        })
    }

    fn close(&mut self, dl: &Download) -> Result<(), String> {
        let p = self.p;
        println!("{}", p.heading("4. The four-way close"));
        // Done when the server has left LAST-ACK (its FIN was acknowledged).
        let ok = wait_event(&self.log, dl.start_idx, STEP_TIMEOUT, |ev| {
            ev.local == dl.server
                && ev.remote == dl.client
                && matches!(&ev.kind, Kind::State { from, .. } if from == "LAST-ACK")
        });
        if !ok {
            println!("    (the close did not complete in time)");
        }
        let events = self.log.all();
        let tl = diagram::timeline(&events, dl.client, dl.server);
        // From the first state change of the close.
        let start = events
            .iter()
            .enumerate()
            .skip(dl.start_idx)
            .find(|(_, ev)| {
                ((ev.local == dl.client && ev.remote == dl.server) || (ev.local == dl.server && ev.remote == dl.client))
                    && matches!(&ev.kind, Kind::State { to, .. } if to == "FIN-WAIT-1" || to == "CLOSE-WAIT")
            })
            .map_or(events.len(), |(i, _)| i);
        let rows: Vec<diagram::Row> = tl.rows.iter().filter(|r| r.idx > start).cloned().collect();
        let (cs, ss) = diagram::states_before(&events, dl.client, dl.server, start);
        let t0 = rows.first().map_or(0.0, |r| r.t);
        print!("{}", diagram::render(&tl, &rows, (&cs, &ss), t0, p));
        println!(
            "{}",
            p.dim("  The client closed first (active close): FIN-WAIT-1 until its FIN is acknowledged, FIN-WAIT-2")
        );
        println!(
            "{}",
            p.dim("  until the server's FIN arrives; the server sat in CLOSE-WAIT until its application closed,")
        );
        println!(
            "{}",
            p.dim("  then LAST-ACK. The client stays in TIME-WAIT for 2·MSL (60 s) to absorb stray segments.")
        );
        println!();
        Ok(())
    }

    fn summary(&mut self, dl: &Download, started: Instant) -> Result<(), String> {
        let p = self.p;
        println!("{}", p.heading("5. Summary"));
        let events = self.log.all();
        // Segments seen at the server's interface, for the time-sequence graph.
        let segs: Vec<TimedSegment> = events
            .iter()
            .skip(dl.start_idx)
            .filter_map(|ev| match &ev.kind {
                Kind::Sent(seg) if ev.local == dl.server && ev.remote == dl.client => {
                    Some(TimedSegment {
                        t: ev.t,
                        seg: seg.clone(),
                    })
                }
                Kind::In(seg) if ev.local == dl.server && ev.remote == dl.client => {
                    Some(TimedSegment {
                        t: ev.t,
                        seg: seg.clone(),
                    })
                }
                _ => None,
            })
            .collect();
        let ts = time_sequence(&segs, dl.server, dl.client);
        let recoveries: Vec<(f64, Recovery)> = events
            .iter()
            .skip(dl.start_idx)
            .filter(|ev| ev.local == dl.server && ev.remote == dl.client)
            .filter_map(|ev| match ev.kind {
                Kind::FastRetransmit { .. } => Some((ev.t - ts.t0, Recovery::FastRetransmit)),
                Kind::Timeout { .. } => Some((ev.t - ts.t0, Recovery::Timeout)),
                _ => None,
            })
            .collect();
        let stats = std::mem::take(&mut *self.stats.lock().unwrap_or_else(|p| p.into_inner()));
        let samples: Vec<CwndSample> = stats
            .samples
            .iter()
            .map(|(t, i)| CwndSample {
                t: t - ts.t0,
                cwnd: i.cwnd,
                ssthresh: i.ssthresh,
                in_flight: i.bytes_in_flight,
            })
            .collect();
        let path = format!(
            "{} Mbit/s, RTT {} ms, loss {} % each way, seed {}",
            self.args.rate,
            2.0 * self.args.delay,
            self.args.loss * 100.0,
            self.args.seed
        );
        let last = stats.last;
        let c = last.as_ref().map(|i| i.counters).unwrap_or_default();
        let mss = last.as_ref().map_or(1448, |i| i.mss).max(1);
        let cwnd_max = samples.iter().map(|s| s.cwnd).max().unwrap_or(0);
        let srtts: Vec<f64> = stats
            .samples
            .iter()
            .filter_map(|(_, i)| i.srtt.map(|d| d.as_secs_f64() * 1000.0))
            .collect();
        let rtt = if srtts.is_empty() {
            "n/a".to_string()
        } else {
            let min = srtts.iter().cloned().fold(f64::INFINITY, f64::min);
            let max = srtts.iter().cloned().fold(0.0, f64::max);
            let avg = srtts.iter().sum::<f64>() / srtts.len() as f64;
            format!(
                "min {min:.1} / avg {avg:.1} / max {max:.1} ms (path RTT {} ms)",
                2.0 * self.args.delay
            )
        };
        let link = self.client_dev.inner().inner().forwarder_stats();
        let rows: Vec<(&str, String)> = vec![
            (
                "bytes downloaded",
                format!("{} (sha256 {}…)", thousands(dl.bytes), &dl.sha256[..16]),
            ),
            ("download time", format!("{:.2} s", dl.seconds)),
            (
                "goodput",
                format!(
                    "{:.2} Mbit/s  (bottleneck {} Mbit/s)",
                    dl.bytes as f64 * 8.0 / dl.seconds.max(1e-9) / 1e6,
                    self.args.rate
                ),
            ),
            ("smoothed RTT", rtt),
            ("segments sent (server)", thousands(c.segments_out)),
            ("retransmitted segments", thousands(c.retransmits)),
            ("fast retransmits", thousands(c.fast_retransmits)),
            ("retransmission timeouts", thousands(c.timeouts)),
            ("duplicate ACKs received", thousands(c.dup_acks)),
            (
                "cwnd max",
                format!(
                    "{} bytes ({} segments of {mss})",
                    thousands(u64::from(cwnd_max)),
                    cwnd_max as usize / mss
                ),
            ),
            (
                "packets lost on the path",
                format!(
                    "{} client→server, {} server→client (of {} and {}); {} queue drops",
                    link.a_to_b.dropped_loss,
                    link.b_to_a.dropped_loss,
                    thousands(link.a_to_b.sent),
                    thousands(link.b_to_a.sent),
                    link.a_to_b.dropped_queue + link.b_to_a.dropped_queue
                ),
            ),
        ];
        for (k, v) in &rows {
            println!("  {} {v}", p.bold(&pad(k, 26)));
        }

        // Files.
        let capture = self.client_dev.inner();
        capture.flush().map_err(|e| e.to_string())?;
        let tsq = time_sequence_chart(
            &ts,
            "TCP time-sequence graph of the download (server → client)",
            Some(format!(
                "{path}; {} retransmitted segments; seen at the server",
                ts.retransmits.len()
            )),
            &recoveries,
        );
        let cw = cwnd_chart(
            &samples,
            &format!(
                "Congestion window of the download's sender ({:?})",
                ustack::Config::default().tcp.congestion
            ),
            Some(format!(
                "{path}; {} fast retransmits, {} timeouts; sampled every {} ms with TcpStream::info()",
                c.fast_retransmits,
                c.timeouts,
                SAMPLE_EVERY.as_millis()
            )),
            &recoveries,
        );
        let tpath = self.args.out.join("time-sequence.svg");
        let cpath = self.args.out.join("cwnd.svg");
        for (path, chart) in [(&tpath, &tsq), (&cpath, &cw)] {
            std::fs::write(path, chart.to_svg())
                .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
        }
        println!();
        println!("  Files written:");
        println!(
            "    {}  {}",
            pad(&self.pcap.display().to_string(), 40),
            p.dim(&format!(
                "{} packets seen by the client (open with Wireshark or tcpdump -r)",
                capture.packets()
            ))
        );
        println!(
            "    {}  {}",
            pad(&tpath.display().to_string(), 40),
            p.dim("segments, ACKs, retransmits and the receive window over time")
        );
        println!(
            "    {}  {}",
            pad(&cpath.display().to_string(), 40),
            p.dim("cwnd and ssthresh over time")
        );
        println!(
            "  {}",
            p.dim(&format!(
                "Draw the same graphs from any capture: ustack plot {} --out DIR",
                self.pcap.display()
            ))
        );
        println!(
            "  {}",
            p.dim(&format!(
                "Done in {:.1} s.",
                started.elapsed().as_secs_f64()
            ))
        );
        for h in self.servers.drain(..) {
            let _ = h.join();
        }
        Ok(())
    }
}

/// Prints the sender's loss recoveries as they happen, until `done`.
#[allow(clippy::too_many_arguments)]
fn narrate(
    log: &Log,
    from: usize,
    client: SocketAddr,
    server: SocketAddr,
    t_start: f64,
    bar: &indicatif::ProgressBar,
    done: &AtomicBool,
    p: Paint,
) {
    let mut seen = from;
    let mut server_isn: Option<u32> = None;
    let say = |line: String| {
        if bar.is_hidden() {
            println!("{line}");
        } else {
            bar.println(line);
        }
    };
    loop {
        let finished = done.load(Ordering::SeqCst);
        let new = log.since(seen);
        seen += new.len();
        for ev in new {
            if ev.local != server || ev.remote != client {
                continue;
            }
            let t = ev.t - t_start;
            match ev.kind {
                Kind::Out { seq, ref flags, .. } if flags.contains("SYN") => {
                    server_isn.get_or_insert(seq);
                }
                Kind::FastRetransmit { una } => {
                    let rel = match (una, server_isn) {
                        (Some(u), Some(i)) => {
                            format!(" of seq {}", thousands(u64::from(u.wrapping_sub(i))))
                        }
                        (Some(u), None) => format!(" of seq {u}"),
                        _ => String::new(),
                    };
                    say(format!(
                        "    {}  {}{rel}  (duplicate ACKs showed a hole; cwnd cut)",
                        p.yellow(&format!("{t:7.3} s")),
                        p.yellow("fast retransmit")
                    ));
                }
                Kind::Timeout { ref rto } => {
                    say(format!(
                        "    {}  {}: resend from the oldest unACKed byte, cwnd = 1 MSS (RTO now {rto})",
                        p.red(&format!("{t:7.3} s")),
                        p.red("retransmission timeout")
                    ));
                }
                _ => {}
            }
        }
        if finished {
            return;
        }
        thread::sleep(Duration::from_millis(5));
    }
}
