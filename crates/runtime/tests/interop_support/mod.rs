//! Support for the Linux interop tests (`tests/interop.rs`).
//!
//! Every test gets its own network namespace `ustk-<test>-<pid>` holding
//! the kernel side of a TUN interface (198.18.X.1/24); ustack drives the
//! TUN descriptor from the test process with 198.18.X.2/24. No traffic
//! leaves the namespace: the TUN is created by a thread that entered the
//! namespace with `setns(2)`, so the interface never appears in the
//! caller's namespace. Dropping [`Env`] stops the stack (closing the TUN,
//! which removes the interface) and deletes the namespace.
//!
//! Kernel peers run either as programs (`ip netns exec`) or in-process:
//! [`Netns::run`] and [`Netns::spawn`] run a closure on a thread that
//! `setns(2)`-ed into the namespace; std sockets created there belong to
//! the namespace and can then be used from any thread.
#![allow(dead_code)]

use sha2::{Digest, Sha256};
use std::fs::File;
use std::io::{self, Read};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4};
use std::os::fd::AsRawFd;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::{RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::thread;
use std::time::{Duration, Instant};
use ustack::{Cidr, Config};
use ustack_devices::{Capture, TunDevice};
use ustack_runtime::Netstack;

/// Set to 1 to turn every skip into a failure (CI).
pub const REQUIRE_ENV: &str = "USTACK_REQUIRE_TUN";
/// A directory: each test writes `<dir>/<test>.pcap` of ustack's traffic.
pub const PCAP_ENV: &str = "USTACK_INTEROP_PCAP";

/// Tests that measure throughput take this exclusively; the others share it.
static GATE: RwLock<()> = RwLock::new(());

pub enum Gate {
    Shared(#[allow(dead_code)] RwLockReadGuard<'static, ()>),
    Exclusive(#[allow(dead_code)] RwLockWriteGuard<'static, ()>),
}

/// The Debian package that provides `program`.
fn package_of(program: &str) -> &'static str {
    match program {
        "ip" | "ss" => "iproute2",
        "curl" => "curl",
        "ping" => "iputils-ping",
        "python3" => "python3",
        "socat" => "socat",
        "iptables" => "iptables",
        _ => "?",
    }
}

/// How `Env::setup_gated` sets a test up: alone (no other interop test at
/// once), on an offloaded TUN, with the kernel end as ustack's gateway,
/// with IPv6.
#[derive(Default)]
struct Setup {
    exclusive: bool,
    offload: bool,
    routed: bool,
    v6: bool,
}

/// `program` found in PATH (an executable file).
pub fn find_program(program: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join(program))
        .find(|p| {
            std::fs::metadata(p)
                .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
                .unwrap_or(false)
        })
}

/// Why this test cannot run here, if it cannot.
fn missing_prerequisite(programs: &[&str]) -> Option<String> {
    // SAFETY: geteuid has no preconditions and cannot fail.
    if unsafe { libc::geteuid() } != 0 {
        return Some("not root (need root for TUN and network namespaces)".into());
    }
    if !Path::new(ustack_devices::tun::TUN_PATH).exists() {
        return Some(format!("{} is missing", ustack_devices::tun::TUN_PATH));
    }
    let missing: Vec<String> = std::iter::once(&"ip")
        .chain(programs)
        .filter(|p| find_program(p).is_none())
        .map(|p| format!("{p} (Debian package {})", package_of(p)))
        .collect();
    if !missing.is_empty() {
        return Some(format!("missing programs: {}", missing.join(", ")));
    }
    None
}

/// Prints "skipping: reason" and returns None, or panics when
/// `USTACK_REQUIRE_TUN=1`.
fn skip<T>(test: &str, reason: &str) -> Option<T> {
    if std::env::var(REQUIRE_ENV).as_deref() == Ok("1") {
        panic!("{test}: cannot run ({REQUIRE_ENV}=1): {reason}");
    }
    eprintln!("skipping: {reason} [{test}]");
    None
}

/// Runs `ip ARGS...`; an error carries ip's stderr.
pub fn ip(args: &[&str]) -> io::Result<()> {
    let out = Command::new("ip")
        .args(args)
        .stdin(Stdio::null())
        .output()?;
    if out.status.success() {
        Ok(())
    } else {
        Err(io::Error::other(format!(
            "ip {}: {} {}",
            args.join(" "),
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        )))
    }
}

/// A network namespace this process created; dropping it deletes it.
pub struct Netns {
    name: String,
    file: File,
}

impl Netns {
    /// `ip netns add NAME` and opens its handle.
    pub fn create(name: &str) -> io::Result<Netns> {
        // A namespace left behind by a killed run with the same pid.
        let _ = ip(&["netns", "del", name]);
        ip(&["netns", "add", name])?;
        match File::open(format!("/var/run/netns/{name}")) {
            Ok(file) => Ok(Netns {
                name: name.to_string(),
                file,
            }),
            Err(e) => {
                let _ = ip(&["netns", "del", name]);
                Err(e)
            }
        }
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// Moves the calling thread into the namespace (network only).
    pub fn enter(&self) -> io::Result<()> {
        setns(&self.file)
    }

    /// Runs `f` on a thread inside the namespace and returns its result
    /// (a panic in `f` is propagated).
    pub fn run<T: Send>(&self, f: impl FnOnce() -> T + Send) -> T {
        thread::scope(|s| {
            let h = s.spawn(|| {
                self.enter().expect("setns into the test namespace");
                f()
            });
            match h.join() {
                Ok(v) => v,
                Err(p) => std::panic::resume_unwind(p),
            }
        })
    }

    /// Spawns a thread inside the namespace.
    pub fn spawn<T: Send + 'static>(
        &self,
        name: &str,
        f: impl FnOnce() -> T + Send + 'static,
    ) -> thread::JoinHandle<T> {
        let file = self.file.try_clone().expect("dup netns handle");
        thread::Builder::new()
            .name(name.to_string())
            .stack_size(256 * 1024)
            .spawn(move || {
                setns(&file).expect("setns into the test namespace");
                drop(file);
                f()
            })
            .expect("spawn thread")
    }

    /// `ip netns exec NAME program`.
    pub fn command(&self, program: &str) -> Command {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", &self.name, program]);
        c.stdin(Stdio::null());
        c
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        // Deleting the namespace destroys the TUN interface inside it.
        for attempt in 0..5 {
            match ip(&["netns", "del", &self.name]) {
                Ok(()) => return,
                Err(e) if attempt == 4 => eprintln!("warning: cannot delete namespace: {e}"),
                Err(_) => thread::sleep(Duration::from_millis(100)),
            }
        }
    }
}

fn setns(file: &File) -> io::Result<()> {
    // SAFETY: plain syscall on a descriptor we own; CLONE_NEWNET only
    // changes the calling thread's network namespace.
    if unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// A child process killed (and reaped) on drop.
pub struct KillOnDrop(pub Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A scratch directory removed on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(name: &str) -> io::Result<TempDir> {
        let p = std::env::temp_dir().join(format!("{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p)?;
        Ok(TempDir(p))
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// One test's world: a namespace with the kernel end of a TUN at
/// 198.18.X.1/24 and a ustack on the other end at 198.18.X.2/24.
///
/// Fields drop in order: the stack stops (closing the TUN), then the
/// namespace is deleted, then the gate is released.
pub struct Env {
    pub stack: Netstack,
    pub ns: Netns,
    pub x: u8,
    pub test: String,
    pub tun: String,
    started: Instant,
    _gate: Gate,
}

impl Env {
    /// Sets up the namespace, the TUN and the stack, or returns None after
    /// printing "skipping: ..." (a panic under `USTACK_REQUIRE_TUN=1`).
    /// `programs` are the kernel-side programs the test runs.
    pub fn setup(test: &str, x: u8, programs: &[&str]) -> Option<Env> {
        Self::setup_gated(test, x, programs, Setup::default(), &|_| {})
    }

    /// As [`Env::setup`], with IPv6 too: the kernel end also has
    /// 2001:2:0:X::1/64 and ustack 2001:2:0:X::2/64 (2001:2::/48 is IPv6's
    /// benchmarking range, RFC 5180).
    pub fn setup_v6(test: &str, x: u8, programs: &[&str]) -> Option<Env> {
        Self::setup_gated(
            test,
            x,
            programs,
            Setup {
                v6: true,
                ..Setup::default()
            },
            &|_| {},
        )
    }

    /// As [`Env::setup`], with the kernel end (198.18.X.1) as ustack's
    /// default gateway, for tests that route through the namespace.
    pub fn setup_routed(test: &str, x: u8, programs: &[&str]) -> Option<Env> {
        Self::setup_gated(
            test,
            x,
            programs,
            Setup {
                routed: true,
                ..Setup::default()
            },
            &|_| {},
        )
    }

    /// As [`Env::setup_routed`], with `tune` applied to the stack's
    /// configuration.
    pub fn setup_routed_with(
        test: &str,
        x: u8,
        programs: &[&str],
        tune: &dyn Fn(&mut Config),
    ) -> Option<Env> {
        Self::setup_gated(
            test,
            x,
            programs,
            Setup {
                routed: true,
                ..Setup::default()
            },
            tune,
        )
    }

    /// As [`Env::setup`], running alone (no other interop test at once):
    /// for throughput measurements.
    pub fn setup_exclusive(test: &str, x: u8, programs: &[&str]) -> Option<Env> {
        Self::setup_gated(
            test,
            x,
            programs,
            Setup {
                exclusive: true,
                ..Setup::default()
            },
            &|_| {},
        )
    }

    /// As [`Env::setup_exclusive`], on a TUN with the kernel's checksum
    /// and TSO offloads on (`TunDevice::open_offload`).
    pub fn setup_offload(test: &str, x: u8, programs: &[&str]) -> Option<Env> {
        Self::setup_gated(
            test,
            x,
            programs,
            Setup {
                exclusive: true,
                offload: true,
                ..Setup::default()
            },
            &|_| {},
        )
    }

    fn setup_gated(
        test: &str,
        x: u8,
        programs: &[&str],
        setup: Setup,
        tune: &dyn Fn(&mut Config),
    ) -> Option<Env> {
        let Setup {
            exclusive,
            offload,
            routed,
            v6,
        } = setup;
        if let Some(reason) = missing_prerequisite(programs) {
            return skip(test, &reason);
        }
        let gate = if exclusive {
            Gate::Exclusive(GATE.write().unwrap_or_else(|e| e.into_inner()))
        } else {
            Gate::Shared(GATE.read().unwrap_or_else(|e| e.into_inner()))
        };
        let started = Instant::now();
        let pid = std::process::id();
        let ns = match Netns::create(&format!("ustk-{test}-{pid}")) {
            Ok(ns) => ns,
            Err(e) => return skip(test, &format!("cannot create a network namespace: {e}")),
        };
        // The TUN is created from a thread inside the namespace, so the
        // interface never exists in the caller's namespace. IPv6 is turned
        // off there first, unless the test speaks it: then no router
        // solicitations (the kernel's MLD reports still come, and ustack
        // drops them: it joins no groups).
        let tun_name = format!("ut{x}p{pid}");
        let tun = ns.run(|| {
            for conf in ["all", "default"] {
                let d = format!("/proc/sys/net/ipv6/conf/{conf}");
                let _ = std::fs::write(format!("{d}/disable_ipv6"), if v6 { "0" } else { "1" });
                if v6 {
                    let _ = std::fs::write(format!("{d}/router_solicitations"), "0");
                }
            }
            if offload {
                TunDevice::open_offload(&tun_name, Some(1500))
            } else {
                TunDevice::open(&tun_name, Some(1500))
            }
        });
        let tun = match tun {
            Ok(t) => t,
            Err(e) => return skip(test, &format!("cannot open TUN: {e}")),
        };
        let tun_name = tun.name().to_string();
        let kernel_cidr = format!("198.18.{x}.1/24");
        // From here on a failure is not the environment's fault.
        let n = ns.name().to_string();
        ip(&["-n", &n, "addr", "add", &kernel_cidr, "dev", &tun_name]).expect("address");
        if v6 {
            // No duplicate address detection: the address is usable at
            // once (ustack does not speak neighbour discovery; a TUN has
            // no link-layer addresses to resolve).
            let cidr6 = format!("2001:2:0:{x:x}::1/64");
            ip(&["-n", &n, "addr", "add", &cidr6, "dev", &tun_name, "nodad"]).expect("address");
        }
        ip(&["-n", &n, "link", "set", &tun_name, "up"]).expect("link up");
        ip(&["-n", &n, "link", "set", "lo", "up"]).expect("lo up");

        let seed = seed();
        let config = Config {
            addresses: std::iter::once(format!("198.18.{x}.2/24"))
                .chain(v6.then(|| format!("2001:2:0:{x:x}::2/64")))
                .map(|a| a.parse::<Cidr>().expect("cidr"))
                .collect(),
            mtu: 1500,
            seed,
            gateway: routed.then(|| IpAddr::V4(Ipv4Addr::new(198, 18, x, 1))),
            ..Default::default()
        };
        let mut config = config;
        tune(&mut config);
        let stack = match std::env::var_os(PCAP_ENV) {
            Some(dir) => {
                let path = PathBuf::from(dir).join(format!("{test}.pcap"));
                eprintln!("[{test}] capturing to {}", path.display());
                let dev = Capture::new(tun, &path).expect("pcap file");
                Netstack::new(config, dev)
            }
            None => Netstack::new(config, tun),
        }
        .expect("start the stack");
        eprintln!(
            "[{test}] namespace {n}, {tun_name}: kernel 198.18.{x}.1, ustack 198.18.{x}.2 \
             (seed {seed:#x}), setup {:?}",
            started.elapsed()
        );
        Some(Env {
            stack,
            ns,
            x,
            test: test.to_string(),
            tun: tun_name,
            started,
            _gate: gate,
        })
    }

    /// 198.18.X.1 (the kernel).
    pub fn kernel_ip(&self) -> Ipv4Addr {
        Ipv4Addr::new(198, 18, self.x, 1)
    }

    /// 198.18.X.2 (ustack).
    pub fn ustack_ip(&self) -> Ipv4Addr {
        Ipv4Addr::new(198, 18, self.x, 2)
    }

    /// 2001:2:0:X::1 (the kernel, with `setup_v6`).
    pub fn kernel_ip6(&self) -> Ipv6Addr {
        Ipv6Addr::new(0x2001, 2, 0, u16::from(self.x), 0, 0, 0, 1)
    }

    /// 2001:2:0:X::2 (ustack, with `setup_v6`).
    pub fn ustack_ip6(&self) -> Ipv6Addr {
        Ipv6Addr::new(0x2001, 2, 0, u16::from(self.x), 0, 0, 0, 2)
    }

    pub fn kernel_addr(&self, port: u16) -> SocketAddr {
        SocketAddr::V4(SocketAddrV4::new(self.kernel_ip(), port))
    }

    pub fn ustack_addr(&self, port: u16) -> SocketAddr {
        SocketAddr::V4(SocketAddrV4::new(self.ustack_ip(), port))
    }

    /// Runs a kernel-side program to completion, with a time limit.
    pub fn exec(&self, program: &str, args: &[&str], limit: Duration) -> Output {
        let mut c = self.ns.command(program);
        c.args(args).stdout(Stdio::piped()).stderr(Stdio::piped());
        run_with_limit(c, limit)
    }

    /// Prints the elapsed time and ustack's counters; checks that no packet
    /// from the kernel was dropped for a bad checksum or malformed header.
    pub fn finish(&self) {
        let c = self.stack.counters();
        eprintln!(
            "[{}] done in {:?}; ustack ip in/out {}/{}, frags in/out {}/{}, tcp segs in/out {}/{}, \
             retransmits {}, drops {:?}",
            self.test,
            self.started.elapsed(),
            c.ip_in,
            c.ip_out,
            c.ip_fragments_in,
            c.ip_fragments_out,
            c.tcp.segments_in,
            c.tcp.segments_out,
            c.tcp.retransmits,
            c.drop_list()
        );
        assert_eq!(
            c.checksum_drops(),
            0,
            "ustack dropped kernel packets for bad checksums"
        );
        for r in [
            ustack::DropReason::IpMalformed,
            ustack::DropReason::TcpMalformed,
            ustack::DropReason::UdpMalformed,
            ustack::DropReason::IcmpMalformed,
        ] {
            assert_eq!(
                c.drops(r),
                0,
                "ustack found kernel packets malformed: {r:?}"
            );
        }
    }
}

/// Runs `cmd`, killing it after `limit`; returns its output.
pub fn run_with_limit(mut cmd: Command, limit: Duration) -> Output {
    let child = cmd.spawn().expect("spawn kernel-side program");
    let pid = child.id();
    let (tx, rx) = std::sync::mpsc::channel();
    let waiter = thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    let out = match rx.recv_timeout(limit) {
        Ok(r) => r.expect("wait for kernel-side program"),
        Err(_) => {
            // SAFETY: kill on the pid of our own unreaped child.
            unsafe {
                libc::kill(pid as libc::pid_t, libc::SIGKILL);
            }
            let _ = waiter.join();
            panic!("{cmd:?} did not finish within {limit:?}");
        }
    };
    let _ = waiter.join();
    out
}

fn seed() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u32(std::process::id());
    h.finish()
}

/// Deterministic pseudo-random bytes (splitmix64): fast enough to feed
/// gigabytes without dominating the measurement.
#[derive(Clone)]
pub struct Gen(u64);

impl Gen {
    pub fn new(seed: u64) -> Gen {
        Gen(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform-ish in `lo..=hi`.
    pub fn range(&mut self, lo: usize, hi: usize) -> usize {
        lo + (self.next_u64() % (hi - lo + 1) as u64) as usize
    }

    pub fn fill(&mut self, buf: &mut [u8]) {
        let mut chunks = buf.chunks_exact_mut(8);
        for c in &mut chunks {
            c.copy_from_slice(&self.next_u64().to_le_bytes());
        }
        let rest = chunks.into_remainder();
        let last = self.next_u64().to_le_bytes();
        let n = rest.len();
        rest.copy_from_slice(&last[..n]);
    }

    pub fn bytes(&mut self, n: usize) -> Vec<u8> {
        let mut v = vec![0u8; n];
        self.fill(&mut v);
        v
    }
}

pub fn sha256_hex(data: &[u8]) -> String {
    hex(&Sha256::digest(data))
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Reads to EOF, hashing: (bytes, sha256 hex).
pub fn hash_to_eof(mut r: impl Read, bufsize: usize) -> io::Result<(u64, String)> {
    let mut h = Sha256::new();
    let mut buf = vec![0u8; bufsize];
    let mut total = 0u64;
    loop {
        let n = r.read(&mut buf)?;
        if n == 0 {
            return Ok((total, hex(&h.finalize())));
        }
        h.update(&buf[..n]);
        total += n as u64;
    }
}

/// Writes `total` pseudo-random bytes from `seed` in chunks of `chunk`,
/// hashing them: (sha256 hex).
pub fn send_generated(
    mut w: impl io::Write,
    seed: u64,
    total: u64,
    chunk: usize,
) -> io::Result<String> {
    let mut g = Gen::new(seed);
    let mut h = Sha256::new();
    let mut buf = vec![0u8; chunk];
    let mut left = total;
    while left > 0 {
        let n = (left as usize).min(chunk);
        g.fill(&mut buf[..n]);
        h.update(&buf[..n]);
        w.write_all(&buf[..n])?;
        left -= n as u64;
    }
    Ok(hex(&h.finalize()))
}

/// Gbit/s for `bytes` in `dt`.
pub fn gbps(bytes: u64, dt: Duration) -> f64 {
    bytes as f64 * 8.0 / dt.as_secs_f64() / 1e9
}

/// A barrier whose wait gives up after a timeout (so one failed thread
/// cannot hang the others forever).
pub struct TimedBarrier {
    n: usize,
    count: std::sync::Mutex<usize>,
    cv: std::sync::Condvar,
}

impl TimedBarrier {
    pub fn new(n: usize) -> TimedBarrier {
        TimedBarrier {
            n,
            count: std::sync::Mutex::new(0),
            cv: std::sync::Condvar::new(),
        }
    }

    /// True once all `n` arrived; false on timeout.
    pub fn wait(&self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        let mut g = self.count.lock().unwrap_or_else(|e| e.into_inner());
        *g += 1;
        if *g >= self.n {
            self.cv.notify_all();
            return true;
        }
        while *g < self.n {
            let now = Instant::now();
            if now >= deadline {
                return false;
            }
            g = self
                .cv
                .wait_timeout(g, deadline - now)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
        true
    }
}

/// Accepts one connection on a kernel listener, giving up after `limit`.
pub fn kernel_accept(
    l: &std::net::TcpListener,
    limit: Duration,
) -> io::Result<(std::net::TcpStream, SocketAddr)> {
    l.set_nonblocking(true)?;
    let deadline = Instant::now() + limit;
    loop {
        match l.accept() {
            Ok((s, a)) => {
                s.set_nonblocking(false)?;
                return Ok((s, a));
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                if Instant::now() >= deadline {
                    return Err(io::Error::new(
                        io::ErrorKind::TimedOut,
                        "no connection to the kernel listener",
                    ));
                }
                thread::sleep(Duration::from_millis(5));
            }
            Err(e) => return Err(e),
        }
    }
}

/// Reads an HTTP header block (up to the blank line, at most 64 KiB):
/// (header text, bytes read past it).
pub fn read_http_head(mut r: impl Read) -> io::Result<(String, Vec<u8>)> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let rest = buf.split_off(i + 4);
            return Ok((String::from_utf8_lossy(&buf).into_owned(), rest));
        }
        if buf.len() > 64 * 1024 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "HTTP header too long",
            ));
        }
        let n = r.read(&mut chunk)?;
        if n == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                format!("EOF inside the HTTP header after {} bytes", buf.len()),
            ));
        }
        buf.extend_from_slice(&chunk[..n]);
    }
}

/// The value of header `name` (case-insensitive) in a header block.
pub fn http_header<'a>(head: &'a str, name: &str) -> Option<&'a str> {
    head.lines().skip(1).find_map(|l| {
        let (k, v) = l.split_once(':')?;
        k.trim().eq_ignore_ascii_case(name).then(|| v.trim())
    })
}

/// The namespace's kernel TCP/IP counters (`/proc/net/snmp` and
/// `/proc/net/netstat` as seen from inside it), e.g. "Tcp.RetransSegs",
/// "TcpExt.TCPTimeouts".
pub fn kernel_counters(ns: &Netns) -> std::collections::HashMap<String, u64> {
    ns.run(|| {
        let mut m = std::collections::HashMap::new();
        for f in ["snmp", "netstat"] {
            // thread-self: this thread's namespace, not the process's.
            let text =
                std::fs::read_to_string(format!("/proc/thread-self/net/{f}")).unwrap_or_default();
            let lines: Vec<&str> = text.lines().collect();
            for pair in lines.chunks(2) {
                let [names, values] = pair else { continue };
                let mut n = names.split_whitespace();
                let mut v = values.split_whitespace();
                let (Some(proto), Some(_)) = (n.next(), v.next()) else {
                    continue;
                };
                let proto = proto.trim_end_matches(':');
                for (k, val) in n.zip(v) {
                    if let Ok(val) = val.parse::<u64>() {
                        m.insert(format!("{proto}.{k}"), val);
                    }
                }
            }
        }
        m
    })
}

/// Kernel-side counter deltas worth printing for a TCP transfer.
pub fn kernel_tcp_delta(
    before: &std::collections::HashMap<String, u64>,
    after: &std::collections::HashMap<String, u64>,
) -> String {
    [
        "Tcp.OutSegs",
        "Tcp.InSegs",
        "Tcp.RetransSegs",
        "TcpExt.TCPTimeouts",
        "TcpExt.TCPLossProbes",
        "TcpExt.TCPFastRetrans",
        "TcpExt.TCPSlowStartRetrans",
        "TcpExt.TCPWantZeroWindowAdv",
        "TcpExt.TCPRcvQDrop",
        "TcpExt.TCPOFOQueue",
    ]
    .iter()
    .map(|k| {
        let d = after.get(*k).unwrap_or(&0) - before.get(*k).unwrap_or(&0);
        format!("{}={d}", k.split('.').nth(1).unwrap_or(k))
    })
    .collect::<Vec<_>>()
    .join(" ")
}

/// (TX packets, TX dropped) of the kernel's end of the TUN: drops mean
/// the kernel queued packets for ustack faster than ustack read them.
pub fn tun_tx_stats(env: &Env) -> (u64, u64) {
    let out = Command::new("ip")
        .args(["-n", env.ns.name(), "-s", "link", "show", "dev", &env.tun])
        .output()
        .expect("ip -s link");
    let text = String::from_utf8_lossy(&out.stdout);
    let mut lines = text.lines();
    while let Some(l) = lines.next() {
        if l.trim_start().starts_with("TX:") {
            let nums: Vec<u64> = lines
                .next()
                .unwrap_or_default()
                .split_whitespace()
                .filter_map(|x| x.parse().ok())
                .collect();
            if nums.len() >= 4 {
                return (nums[1], nums[3]);
            }
        }
    }
    (0, 0)
}
