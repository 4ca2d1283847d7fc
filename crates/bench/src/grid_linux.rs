//! The Linux comparison of the loss-recovery grid (issue 7), in wall-clock
//! time through the user-space impairment forwarder (the engine of
//! `ustack impair`): needs root.
//!
//! ```text
//!  netns A (kernel, CUBIC)                              netns B
//!  198.18.1.1 ─ TUN a ══ Forwarder (Link a→b, b→a) ══╦═ TUN b ─ 198.18.2.1 kernel  (linux-linux)
//!                                                    ╚═ pair ─ ustack 198.18.2.1    (linux-ustack, ustack-linux)
//! ```
//!
//! Both TUN devices are created in this process's namespace and moved
//! into two fresh named namespaces (`ip netns add`), which are deleted by
//! a guard on drop. For the ustack runs the forwarder's B end is one end
//! of an in-process packet pair whose other end carries a
//! `ustack_runtime::Netstack` (same link model, same seed; only the last
//! hop differs: no kernel). Kernel sockets are made on threads that
//! `setns` into their namespace. The kernel uses CUBIC (`TCP_CONGESTION` on
//! each kernel socket) with its default buffer autotuning; ustack its defaults
//! (SACK, CUBIC, RACK-TLP, 4 MiB buffers).
//!
//! Every sender's data crosses the forwarder's a→b direction (for
//! ustack→linux the forwarder is spawned with the pair end first), so all
//! pairings see the same seeded loss and reordering draws on their data:
//! the two directions draw from separate streams, and which packets of the
//! first window are lost decides much of a short run.
//!
//! A run sends up to `bytes` for at most `cap` seconds, then closes.
//! Goodput: a transfer completed within `cap` counts its bytes over
//! connect → last byte; one cut by the cap counts the bytes that arrived by
//! the cap over the cap (what the senders' buffers still hold drains at
//! speeds that depend on the buffer sizes, not on the path). Measurements
//! share the machine with everything else: noisy.
use serde::Serialize;
use std::io::{self, Read, Write};
use std::net::{Ipv4Addr, Shutdown, SocketAddr};
use std::os::fd::AsRawFd;
use std::path::Path;
use std::process::Command;
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};
use ustack_devices::sim::link::LinkConfig;
use ustack_devices::{pair, Capture, Device, Forwarder, TunDevice};

const A_IP: Ipv4Addr = Ipv4Addr::new(198, 18, 1, 1);
const B_IP: Ipv4Addr = Ipv4Addr::new(198, 18, 2, 1);
const PORT: u16 = 5001;

/// Who talks to whom (sender → receiver).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Pairing {
    /// Kernel in A sends to the kernel in B.
    LinuxToLinux,
    /// Kernel in A sends to ustack.
    LinuxToUstack,
    /// ustack sends to the kernel in A.
    UstackToLinux,
}

impl Pairing {
    pub const ALL: [Pairing; 3] = [
        Pairing::LinuxToLinux,
        Pairing::LinuxToUstack,
        Pairing::UstackToLinux,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Pairing::LinuxToLinux => "linux→linux",
            Pairing::LinuxToUstack => "linux→ustack",
            Pairing::UstackToLinux => "ustack→linux",
        }
    }

    /// The name in ASCII, for file names.
    pub fn slug(self) -> &'static str {
        match self {
            Pairing::LinuxToLinux => "linux-linux",
            Pairing::LinuxToUstack => "linux-ustack",
            Pairing::UstackToLinux => "ustack-linux",
        }
    }
}

fn ip(args: &[&str]) -> io::Result<()> {
    let out = Command::new("ip").args(args).output()?;
    if !out.status.success() {
        return Err(io::Error::other(format!(
            "ip {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    Ok(())
}

/// A named network namespace, deleted on drop.
pub struct Netns(String);

impl Netns {
    pub fn create(name: &str) -> io::Result<Netns> {
        // A leftover from an interrupted run is removed first.
        let _ = ip(&["netns", "del", name]);
        ip(&["netns", "add", name])?;
        let ns = Netns(name.to_string());
        ip(&["-n", name, "link", "set", "lo", "up"])?;
        Ok(ns)
    }

    /// Moves `dev` here and gives it `addr/24` and a route to `peer/24`.
    fn adopt(&self, dev: &str, addr: Ipv4Addr, peer: Ipv4Addr) -> io::Result<()> {
        ip(&["link", "set", dev, "netns", &self.0])?;
        ip(&[
            "-n",
            &self.0,
            "addr",
            "add",
            &format!("{addr}/24"),
            "dev",
            dev,
        ])?;
        ip(&["-n", &self.0, "link", "set", dev, "up"])?;
        let o = peer.octets();
        ip(&[
            "-n",
            &self.0,
            "route",
            "add",
            &format!("{}.{}.{}.0/24", o[0], o[1], o[2]),
            "dev",
            dev,
        ])
    }

    /// Runs `f` on a thread inside this namespace.
    fn spawn<T: Send + 'static>(
        &self,
        f: impl FnOnce() -> io::Result<T> + Send + 'static,
    ) -> io::Result<thread::JoinHandle<io::Result<T>>> {
        let path = format!("/run/netns/{}", self.0);
        let file = std::fs::File::open(&path)?;
        thread::Builder::new().name("netns".into()).spawn(move || {
            // SAFETY: setns on a descriptor we hold, for this thread only
            // (a thread of a multi-threaded process may change its own
            // network namespace).
            if unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) } != 0 {
                return Err(io::Error::last_os_error());
            }
            f()
        })
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = ip(&["netns", "del", &self.0]);
    }
}

/// One Linux-comparison run.
#[derive(Debug, Clone, Serialize)]
pub struct LinuxRun {
    pub pairing: Pairing,
    pub rtt_ms: f64,
    pub loss: f64,
    pub reorder: f64,
    pub rate_mbps: f64,
    pub queue_pkts: usize,
    pub seed: u64,
    pub bytes_delivered: u64,
    /// Bytes the goodput counts: all of them for a transfer completed
    /// within the sending period, else those that arrived by its end.
    pub bytes_counted: u64,
    pub intact: bool,
    pub completed: bool,
    pub seconds: f64,
    pub goodput_mbps: f64,
    pub packets_dropped: u64,
    pub error: Option<String>,
}

fn byte(i: u64) -> u8 {
    let x = i.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 29;
    (x as u8) ^ ((i % 251) as u8)
}

/// Writes up to `bytes` of the pattern until `deadline`, then closes.
fn send_all(s: &mut dyn Write, bytes: u64, deadline: Instant) -> io::Result<u64> {
    let mut buf = vec![0u8; 64 * 1024];
    let mut off = 0u64;
    while off < bytes && Instant::now() < deadline {
        let n = (bytes - off).min(buf.len() as u64) as usize;
        for (k, b) in buf[..n].iter_mut().enumerate() {
            *b = byte(off + k as u64);
        }
        match s.write(&buf[..n]) {
            Ok(0) => break,
            Ok(m) => off += m as u64,
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock
                        | io::ErrorKind::TimedOut
                        | io::ErrorKind::Interrupted
                ) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(off)
}

/// What a receiver saw: bytes (all, and by the sending cap), whether they
/// were the pattern, and when the last one came.
struct Received {
    bytes: u64,
    by_cap: u64,
    intact: bool,
    last: Instant,
}

/// Reads to end of stream (or `deadline`), noting how much had arrived by
/// `cap_at` (the end of the sending period).
fn recv_all(s: &mut dyn Read, cap_at: Instant, deadline: Instant) -> io::Result<Received> {
    let mut buf = vec![0u8; 64 * 1024];
    let (mut got, mut ok, mut last) = (0u64, true, Instant::now());
    let mut by_cap = 0u64;
    while Instant::now() < deadline {
        match s.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                if ok
                    && !buf[..n]
                        .iter()
                        .enumerate()
                        .all(|(k, &b)| b == byte(got + k as u64))
                {
                    ok = false;
                }
                got += n as u64;
                last = Instant::now();
                if last <= cap_at {
                    by_cap = got;
                }
            }
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock
                        | io::ErrorKind::TimedOut
                        | io::ErrorKind::Interrupted
                ) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(Received {
        bytes: got,
        by_cap,
        intact: ok,
        last,
    })
}

/// Selects CUBIC on a kernel socket (the namespaces' default may be
/// another one, e.g. BBR; their sysctl may be read-only).
fn set_cubic(fd: &impl AsRawFd) -> io::Result<()> {
    let name = b"cubic";
    // SAFETY: setsockopt with a valid descriptor and a live buffer of the
    // given length.
    let rc = unsafe {
        libc::setsockopt(
            fd.as_raw_fd(),
            libc::IPPROTO_TCP,
            libc::TCP_CONGESTION,
            name.as_ptr().cast(),
            name.len() as libc::socklen_t,
        )
    };
    if rc != 0 {
        return Err(io::Error::other(format!(
            "cannot select CUBIC: {}",
            io::Error::last_os_error()
        )));
    }
    Ok(())
}

fn kernel_listener(addr: Ipv4Addr) -> io::Result<std::net::TcpListener> {
    let l = std::net::TcpListener::bind(SocketAddr::from((addr, PORT)))?;
    set_cubic(&l)?;
    Ok(l)
}

/// A kernel client socket with CUBIC selected *before* it connects.
///
/// Selecting it after `connect` is not the same: the congestion control
/// the connection was established with (the namespace's default, BBR on
/// this machine) has already run its init, and BBR's marks the socket as
/// needing the kernel's internal pacing (`sk_pacing_status`), which the
/// switch to CUBIC does not undo. Such a sender is a paced CUBIC, not the
/// Linux CUBIC a default socket is (unpaced without the fq qdisc).
fn kernel_client(to: Ipv4Addr) -> io::Result<std::net::TcpStream> {
    use std::os::fd::FromRawFd;
    // SAFETY: plain syscall, result checked.
    let fd = unsafe { libc::socket(libc::AF_INET, libc::SOCK_STREAM | libc::SOCK_CLOEXEC, 0) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `fd` is a fresh descriptor we own; the stream closes it.
    let s = unsafe { std::net::TcpStream::from_raw_fd(fd) };
    set_cubic(&s)?;
    // A blocking connect honours SO_SNDTIMEO (connect(2)).
    s.set_write_timeout(Some(Duration::from_secs(5)))?;
    let sa = ustack_bench::sys::sockaddr_in(to, PORT);
    // SAFETY: a valid AF_INET address and its size.
    let rc = unsafe {
        libc::connect(
            s.as_raw_fd(),
            &sa,
            std::mem::size_of::<libc::sockaddr>() as libc::socklen_t,
        )
    };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    s.set_write_timeout(Some(Duration::from_millis(200)))?;
    Ok(s)
}

/// Starts the forwarder between `a` and `b` (every pairing's receiver is
/// `b`); with `pcap`, the packets crossing `b` are recorded as the
/// forwarder hands them over and picks them up: the receiver's ACK
/// turnaround, its wake-ups included. The packets crossing `a` go to a
/// second file, `<name>_sender.pcap`.
fn forward<A: Device, B: Device>(
    a: A,
    b: B,
    link: &LinkConfig,
    seed: u64,
    pcap: Option<&Path>,
) -> io::Result<Forwarder> {
    let (ab, ba) = (link.clone(), link.clone());
    match pcap {
        None => Forwarder::spawn(a, b, ab, ba, seed),
        Some(p) => {
            // The sender's side too: what the forwarder's queue and loss
            // took is what is in this file and not in the other.
            let sender = p.with_file_name(format!(
                "{}_sender.pcap",
                p.file_stem().and_then(|s| s.to_str()).unwrap_or("run")
            ));
            Forwarder::spawn(Capture::new(a, &sender)?, Capture::new(b, p)?, ab, ba, seed)
        }
    }
}

/// One run of `pairing` on the given link, up to `bytes` or `cap`. With
/// `pcap`, the receiver's side of the forwarder is captured to that file.
pub fn run_linux(
    pairing: Pairing,
    link: &LinkConfig,
    bytes: u64,
    cap: Duration,
    seed: u64,
    pcap: Option<&Path>,
) -> io::Result<LinuxRun> {
    let tag = std::process::id() % 10000;
    let (na, nb) = (format!("ugrA{tag}"), format!("ugrB{tag}"));
    let (ta_name, tb_name) = (format!("ugta{tag}"), format!("ugtb{tag}"));
    let ns_a = Netns::create(&na)?;
    let ta = TunDevice::open(&ta_name, Some(1500))?;
    // The kernel end of a TUN survives the move; our descriptor stays.
    ns_a.adopt(&ta_name, A_IP, B_IP)?;
    let grace = Duration::from_secs(3);
    let t0;
    let result: io::Result<Received>;
    let fwd;
    let _ns_b;
    match pairing {
        Pairing::LinuxToLinux => {
            let ns_b = Netns::create(&nb)?;
            let tb = TunDevice::open(&tb_name, Some(1500))?;
            ns_b.adopt(&tb_name, B_IP, A_IP)?;
            fwd = forward(ta, tb, link, seed, pcap)?;
            let (ltx, lrx) = mpsc::channel();
            let (t0tx, t0rx) = mpsc::channel::<Instant>();
            let server = ns_b.spawn(move || {
                let l = kernel_listener(B_IP)?;
                let _ = ltx.send(());
                let (mut s, _) = l.accept()?;
                s.set_read_timeout(Some(Duration::from_millis(200)))?;
                let t0 = t0rx.recv().map_err(|_| io::Error::other("no start time"))?;
                recv_all(&mut s, t0 + cap, t0 + cap + grace * 2)
            })?;
            lrx.recv_timeout(Duration::from_secs(5))
                .map_err(|_| io::Error::other("kernel server did not start"))?;
            t0 = Instant::now();
            let _ = t0tx.send(t0);
            let client = ns_a.spawn(move || {
                let mut s = kernel_client(B_IP)?;
                let n = send_all(&mut s, bytes, Instant::now() + cap)?;
                s.shutdown(Shutdown::Write)?;
                Ok(n)
            })?;
            let c = client
                .join()
                .map_err(|_| io::Error::other("client panicked"))?;
            result = server
                .join()
                .map_err(|_| io::Error::other("server panicked"))?;
            c?;
            _ns_b = Some(ns_b);
        }
        Pairing::LinuxToUstack | Pairing::UstackToLinux => {
            let (pa, pb) = pair(1500)?;
            // The sender's data always crosses the forwarder's a→b
            // direction, so every pairing's data meets the same seeded loss
            // and reordering draws (the two directions draw separately).
            fwd = if pairing == Pairing::UstackToLinux {
                forward(pa, ta, link, seed, pcap)?
            } else {
                forward(ta, pa, link, seed, pcap)?
            };
            let mut cfg = ustack::Config::default();
            cfg.addresses.push(
                format!("{B_IP}/15")
                    .parse()
                    .map_err(|_| io::Error::other("bad CIDR"))?,
            );
            cfg.seed = seed;
            let ns = ustack_runtime::Netstack::new(cfg, pb)?;
            if pairing == Pairing::LinuxToUstack {
                let l = ustack_runtime::net::TcpListener::bind(&ns, (B_IP, PORT))?;
                t0 = Instant::now();
                let client = ns_a.spawn(move || {
                    let mut s = kernel_client(B_IP)?;
                    let n = send_all(&mut s, bytes, Instant::now() + cap)?;
                    s.shutdown(Shutdown::Write)?;
                    Ok(n)
                })?;
                let (mut s, _) = l.accept_timeout(Duration::from_secs(10))?;
                s.set_read_timeout(Some(Duration::from_millis(200)))?;
                result = recv_all(&mut s, t0 + cap, t0 + cap + grace * 2);
                client
                    .join()
                    .map_err(|_| io::Error::other("client panicked"))??;
            } else {
                let (ltx, lrx) = mpsc::channel();
                let (t0tx, t0rx) = mpsc::channel::<Instant>();
                let server = ns_a.spawn(move || {
                    let l = kernel_listener(A_IP)?;
                    let _ = ltx.send(());
                    let (mut s, _) = l.accept()?;
                    s.set_read_timeout(Some(Duration::from_millis(200)))?;
                    let t0 = t0rx.recv().map_err(|_| io::Error::other("no start time"))?;
                    recv_all(&mut s, t0 + cap, t0 + cap + grace * 2)
                })?;
                lrx.recv_timeout(Duration::from_secs(5))
                    .map_err(|_| io::Error::other("kernel server did not start"))?;
                t0 = Instant::now();
                let _ = t0tx.send(t0);
                let mut s = ustack_runtime::net::TcpStream::connect_timeout(
                    &ns,
                    &SocketAddr::from((A_IP, PORT)),
                    Duration::from_secs(5),
                )?;
                s.set_write_timeout(Some(Duration::from_millis(200)))?;
                send_all(&mut s, bytes, t0 + cap)?;
                s.shutdown(Shutdown::Write)?;
                result = server
                    .join()
                    .map_err(|_| io::Error::other("server panicked"))?;
                drop(s);
            }
            _ns_b = None;
        }
    }
    let stats = fwd.stop();
    let r = result?;
    let (got, intact) = (r.bytes, r.intact);
    // Goodput: a transfer done within the sending period counts to its last
    // byte; one cut by the cap counts the bytes that arrived by the cap
    // (the senders' queued data drains afterwards at different speeds:
    // their buffers differ, so the drain says nothing about the path).
    let completed = got == bytes && r.last <= t0 + cap;
    let (counted, seconds) = if completed {
        (got, r.last.saturating_duration_since(t0).as_secs_f64())
    } else {
        (r.by_cap, cap.as_secs_f64())
    };
    Ok(LinuxRun {
        pairing,
        rtt_ms: link.delay.as_secs_f64() * 2e3,
        loss: link.loss,
        reorder: link.reorder,
        rate_mbps: link.rate_mbps.unwrap_or(0.0),
        queue_pkts: link.queue_pkts,
        seed,
        bytes_delivered: got,
        bytes_counted: counted,
        intact,
        completed: got == bytes,
        seconds,
        goodput_mbps: if seconds > 0.0 {
            counted as f64 * 8.0 / seconds / 1e6
        } else {
            0.0
        },
        packets_dropped: stats.a_to_b.dropped() + stats.b_to_a.dropped(),
        error: None,
    })
}

/// A markdown table of Linux runs: one row per point, one column per
/// pairing (mean over repetitions, min–max in brackets).
pub fn linux_markdown(runs: &[LinuxRun]) -> String {
    let mut points: Vec<(f64, f64, f64)> = Vec::new();
    for r in runs {
        let p = (r.rtt_ms, r.loss, r.reorder);
        if !points.contains(&p) {
            points.push(p);
        }
    }
    let mut out = String::from("| RTT ms | loss | reorder |");
    for p in Pairing::ALL {
        out.push_str(&format!(" {} Mbit/s |", p.name()));
    }
    out.push_str(
        " ustack recv / linux | ustack send / linux |\n|---:|---:|---:|---:|---:|---:|---:|---:|\n",
    );
    for (rtt, loss, reorder) in points {
        out.push_str(&format!(
            "| {rtt} | {} % | {} % |",
            loss * 100.0,
            reorder * 100.0
        ));
        let mut means = [0.0f64; 3];
        for (k, p) in Pairing::ALL.into_iter().enumerate() {
            let v: Vec<&LinuxRun> = runs
                .iter()
                .filter(|r| {
                    r.pairing == p && r.rtt_ms == rtt && r.loss == loss && r.reorder == reorder
                })
                .collect();
            if v.is_empty() {
                out.push_str(" – |");
                continue;
            }
            let g: Vec<f64> = v.iter().map(|r| r.goodput_mbps).collect();
            let mean = g.iter().sum::<f64>() / g.len() as f64;
            means[k] = mean;
            let (lo, hi) = (
                g.iter().cloned().fold(f64::INFINITY, f64::min),
                g.iter().cloned().fold(0.0, f64::max),
            );
            let bad = v.iter().any(|r| !r.intact || r.error.is_some());
            out.push_str(&format!(
                " {mean:.2} [{lo:.1}–{hi:.1}]{} |",
                if bad { " !" } else { "" }
            ));
        }
        for k in [1, 2] {
            if means[0] > 0.0 && means[k] > 0.0 {
                out.push_str(&format!(" {:.2}× |", means[k] / means[0]));
            } else {
                out.push_str(" – |");
            }
        }
        out.push('\n');
    }
    out
}
