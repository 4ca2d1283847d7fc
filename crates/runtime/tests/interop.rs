//! Interop with the Linux kernel's TCP/IP stack over a TUN interface.
//!
//! Each test builds its own network namespace `ustk-<test>-<pid>` holding
//! the kernel end of a TUN (198.18.X.1/24, a distinct X per test) while
//! ustack drives the other end from this process (198.18.X.2/24). Kernel
//! peers are real programs run in the namespace (`curl`, `python3`,
//! `ping`) or std sockets opened on a thread that entered the namespace.
//!
//! Needs root, /dev/net/tun and `ip` (iproute2); without them a test
//! prints "skipping: ..." and passes, unless `USTACK_REQUIRE_TUN=1`, which
//! turns skips into failures. Other knobs:
//! - `USTACK_INTEROP_BULK_MB`: size of each direction of the bulk test
//!   (default 1024 MiB).
//! - `USTACK_INTEROP_PCAP=DIR`: write ustack's traffic to `DIR/<test>.pcap`.
mod interop_support;

use interop_support::{
    gbps, hash_to_eof, http_header, ip, kernel_accept, kernel_counters, kernel_tcp_delta,
    read_http_head, send_generated, sha256_hex, tun_tx_stats, Env, Gen, KillOnDrop, Netns, TempDir,
    TimedBarrier,
};
use std::io::{self, ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};
use ustack_runtime::net::{TcpListener, TcpStream, UdpSocket};

const T5: Duration = Duration::from_secs(5);
const T30: Duration = Duration::from_secs(30);

/// 20 MiB: the HTTP download size.
const HTTP_FILE_LEN: usize = 20 << 20;

// ---------------------------------------------------------------------
// 1. curl downloads from ustack
// ---------------------------------------------------------------------

#[test]
fn interop_curl_downloads_20mb_from_ustack() {
    let Some(env) = Env::setup("curl-get", 101, &["curl"]) else {
        return;
    };
    // ustack's own HTTP server (ustack_apps::http) serves a directory.
    let body = Gen::new(101).bytes(HTTP_FILE_LEN);
    let want = sha256_hex(&body);
    let www = TempDir::new("ustk-curl-www").unwrap();
    std::fs::write(www.path().join("20mb.bin"), &body).unwrap();
    let listener = TcpListener::bind(&env.stack, env.ustack_addr(8080)).unwrap();
    let http = ustack_apps::http::HttpServer::new(www.path()).unwrap();
    let server = thread::spawn(move || {
        let (stream, peer) = listener.accept()?;
        http.serve_connection(stream, peer)
    });

    let dir = TempDir::new("ustk-curl-get").unwrap();
    let file = dir.path().join("20mb.bin");
    let url = format!("http://{}:8080/20mb.bin", env.ustack_ip());
    let t0 = Instant::now();
    let out = env.exec(
        "curl",
        &[
            "-sS",
            "--fail",
            "--max-time",
            "60",
            "-o",
            file.to_str().unwrap(),
            "-w",
            "%{http_code} %{size_download}",
            &url,
        ],
        Duration::from_secs(90),
    );
    let dt = t0.elapsed();
    assert!(
        out.status.success(),
        "curl failed: {} {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    server.join().unwrap().expect("ustack HTTP server");
    let w = String::from_utf8_lossy(&out.stdout);
    assert_eq!(w, format!("200 {HTTP_FILE_LEN}"));
    let got = std::fs::read(&file).unwrap();
    assert_eq!(got.len(), HTTP_FILE_LEN);
    assert_eq!(sha256_hex(&got), want, "downloaded file differs");
    eprintln!(
        "[curl-get] curl fetched {} MiB from ustack in {dt:?} ({:.2} Gbit/s incl. process start)",
        HTTP_FILE_LEN >> 20,
        gbps(HTTP_FILE_LEN as u64, dt)
    );
    env.finish();
}

// ---------------------------------------------------------------------
// 2. ustack downloads from python3 -m http.server
// ---------------------------------------------------------------------

/// Connects from ustack, retrying while the kernel refuses (the server
/// is still starting), up to `limit`.
fn connect_retry(env: &Env, addr: SocketAddr, limit: Duration) -> TcpStream {
    let deadline = Instant::now() + limit;
    loop {
        match TcpStream::connect_timeout(&env.stack, &addr, T5) {
            Ok(s) => return s,
            Err(e) if e.kind() == ErrorKind::ConnectionRefused && Instant::now() < deadline => {
                thread::sleep(Duration::from_millis(50));
            }
            Err(e) => panic!("ustack cannot connect to {addr}: {e}"),
        }
    }
}

/// A minimal HTTP GET over a ustack connection: (status line, body).
fn http_get(mut s: TcpStream, host: SocketAddr, path: &str) -> io::Result<(String, Vec<u8>)> {
    s.set_read_timeout(Some(T30))?;
    s.set_write_timeout(Some(T30))?;
    let req = format!("GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n");
    s.write_all(req.as_bytes())?;
    let (head, mut body) = read_http_head(&mut s)?;
    let status = head.lines().next().unwrap_or_default().to_string();
    let len: usize = http_header(&head, "content-length")
        .ok_or_else(|| io::Error::new(ErrorKind::InvalidData, format!("no length: {head}")))?
        .parse()
        .map_err(|e| io::Error::new(ErrorKind::InvalidData, format!("bad length: {e}")))?;
    if body.len() > len {
        return Err(io::Error::new(ErrorKind::InvalidData, "body too long"));
    }
    let start = body.len();
    body.resize(len, 0);
    s.read_exact(&mut body[start..])?;
    // The server closes after the response (HTTP/1.0 or Connection: close).
    let mut extra = [0u8; 16];
    let n = s.read(&mut extra)?;
    if n != 0 {
        return Err(io::Error::new(
            ErrorKind::InvalidData,
            "data after the body",
        ));
    }
    Ok((status, body))
}

#[test]
fn interop_ustack_downloads_20mb_from_python_http_server() {
    let Some(env) = Env::setup("py-http", 102, &["python3"]) else {
        return;
    };
    let dir = TempDir::new("ustk-py-http").unwrap();
    let body = Gen::new(102).bytes(HTTP_FILE_LEN);
    let want = sha256_hex(&body);
    std::fs::write(dir.path().join("20mb.bin"), &body).unwrap();
    drop(body);
    let log = std::fs::File::create(dir.path().join("server.log")).unwrap();
    let kernel_ip = env.kernel_ip().to_string();
    let _server = KillOnDrop(
        env.ns
            .command("python3")
            .args(["-m", "http.server", "8000", "--bind", &kernel_ip])
            .arg("--directory")
            .arg(dir.path())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("start python3 -m http.server"),
    );
    let addr = env.kernel_addr(8000);
    let t0 = Instant::now();
    let s = connect_retry(&env, addr, Duration::from_secs(15));
    let t1 = Instant::now();
    let r = http_get(s, addr, "/20mb.bin");
    let dt = t1.elapsed();
    let (status, got) = r.unwrap_or_else(|e| {
        let log = std::fs::read_to_string(dir.path().join("server.log")).unwrap_or_default();
        panic!("GET failed: {e}; server log:\n{log}")
    });
    assert!(status.ends_with(" 200 OK"), "status: {status}");
    assert_eq!(got.len(), HTTP_FILE_LEN);
    assert_eq!(sha256_hex(&got), want, "downloaded file differs");
    eprintln!(
        "[py-http] server up after {:?}; ustack fetched {} MiB in {dt:?} ({:.2} Gbit/s)",
        t1 - t0,
        HTTP_FILE_LEN >> 20,
        gbps(HTTP_FILE_LEN as u64, dt)
    );
    env.finish();
}

// ---------------------------------------------------------------------
// 3. Bulk transfer both ways
// ---------------------------------------------------------------------

fn bulk_bytes() -> u64 {
    let mb: u64 = std::env::var("USTACK_INTEROP_BULK_MB")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1024);
    mb << 20
}

const BULK_CHUNK: usize = 256 * 1024;

/// Kernel → ustack: `total` generated bytes from a kernel socket to a
/// ustack listener on `port`, hashes compared; the time it took.
fn bulk_kernel_to_ustack(env: &Env, port: u16, seed: u64, total: u64) -> Duration {
    let listener = TcpListener::bind(&env.stack, env.ustack_addr(port)).unwrap();
    let dst = env.ustack_addr(port);
    let t0 = Instant::now();
    let sender = env
        .ns
        .spawn("kernel-sender", move || -> io::Result<String> {
            let s = std::net::TcpStream::connect_timeout(&dst, T5)?;
            s.set_write_timeout(Some(T30))?;
            let h = send_generated(&s, seed, total, BULK_CHUNK)?;
            s.shutdown(Shutdown::Write)?;
            Ok(h)
        });
    let (s, _) = match listener.accept_timeout(T30) {
        Ok(a) => a,
        Err(e) => panic!(
            "no connection from the kernel: {e}; sender: {:?}",
            sender.join()
        ),
    };
    s.set_read_timeout(Some(T30)).unwrap();
    let (n, got) = hash_to_eof(&s, BULK_CHUNK).expect("ustack receive");
    let dt = t0.elapsed();
    let sent = sender.join().unwrap().expect("kernel send");
    drop(s);
    assert_eq!(n, total, "ustack received a wrong byte count");
    assert_eq!(got, sent, "kernel → ustack: hashes differ");
    dt
}

/// ustack → kernel: `total` generated bytes from a ustack socket to a
/// kernel listener on `port`, hashes compared; the time it took.
fn bulk_ustack_to_kernel(env: &Env, port: u16, seed: u64, total: u64) -> Duration {
    let kaddr = env.kernel_addr(port);
    let kl = env
        .ns
        .run(|| std::net::TcpListener::bind(kaddr))
        .expect("kernel listener");
    let receiver = thread::spawn(move || -> io::Result<(u64, String)> {
        let (s, _) = kernel_accept(&kl, T30)?;
        s.set_read_timeout(Some(T30))?;
        hash_to_eof(&s, BULK_CHUNK)
    });
    let t0 = Instant::now();
    let c = TcpStream::connect_timeout(&env.stack, &kaddr, T5).unwrap();
    c.set_write_timeout(Some(T30)).unwrap();
    let sent = send_generated(&c, seed, total, BULK_CHUNK).expect("ustack send");
    c.shutdown(Shutdown::Write).unwrap();
    let (n, got) = receiver.join().unwrap().expect("kernel receive");
    let dt = t0.elapsed();
    drop(c);
    assert_eq!(n, total, "kernel received a wrong byte count");
    assert_eq!(got, sent, "ustack → kernel: hashes differ");
    dt
}

#[test]
fn interop_bulk_each_direction() {
    let Some(env) = Env::setup_exclusive("bulk", 103, &[]) else {
        return;
    };
    let total = bulk_bytes();
    let mib = total >> 20;

    let before = env.stack.counters();
    let k_before = kernel_counters(&env.ns);
    let tun_before = tun_tx_stats(&env);
    let dt_in = bulk_kernel_to_ustack(&env, 5001, 0x5eed_0001, total);
    let mid = env.stack.counters();
    let k_mid = kernel_counters(&env.ns);
    let tun_mid = tun_tx_stats(&env);
    eprintln!(
        "[bulk] kernel → ustack: {mib} MiB in {dt_in:?}: {:.2} Gbit/s\n\
         [bulk]   ustack: segs in {} out {}, out-of-order segs {}, duplicate segs {}\n\
         [bulk]   kernel: {}; TUN queue to ustack: {} packets, {} dropped",
        gbps(total, dt_in),
        mid.tcp.segments_in - before.tcp.segments_in,
        mid.tcp.segments_out - before.tcp.segments_out,
        mid.tcp.ooo_segments - before.tcp.ooo_segments,
        mid.tcp.dup_segments - before.tcp.dup_segments,
        kernel_tcp_delta(&k_before, &k_mid),
        tun_mid.0 - tun_before.0,
        tun_mid.1 - tun_before.1,
    );

    let dt_out = bulk_ustack_to_kernel(&env, 5002, 0x5eed_0002, total);
    let end = env.stack.counters();
    let k_end = kernel_counters(&env.ns);
    eprintln!(
        "[bulk] ustack → kernel: {mib} MiB in {dt_out:?}: {:.2} Gbit/s\n\
         [bulk]   ustack: segs out {} in {}, retransmits {} (fast {}, timeouts {}), dup ACKs in {}\n\
         [bulk]   kernel: {}",
        gbps(total, dt_out),
        end.tcp.segments_out - mid.tcp.segments_out,
        end.tcp.segments_in - mid.tcp.segments_in,
        end.tcp.retransmits - mid.tcp.retransmits,
        end.tcp.fast_retransmits - mid.tcp.fast_retransmits,
        end.tcp.timeouts - mid.tcp.timeouts,
        end.tcp.dup_acks - mid.tcp.dup_acks,
        kernel_tcp_delta(&k_mid, &k_end),
    );
    env.finish();
}

/// Both directions over a TUN with the kernel's offloads on: the kernel
/// hands ustack TCP segments of up to 64 KiB with checksums left to
/// complete, ustack's segments go out joined into TSO packets, and every
/// byte still arrives.
#[test]
fn interop_bulk_over_offloaded_tun() {
    let Some(env) = Env::setup_offload("bulk_offload", 113, &[]) else {
        return;
    };
    let total = (bulk_bytes() / 4).max(1 << 20);

    let before = env.stack.counters();
    let dt_in = bulk_kernel_to_ustack(&env, 5001, 0x5eed_0011, total);
    let mid = env.stack.counters();
    let segs_in = mid.tcp.segments_in - before.tcp.segments_in;
    eprintln!(
        "[bulk_offload] kernel → ustack: {} MiB in {dt_in:?}: {:.2} Gbit/s, {segs_in} segments in \
         ({:.0} bytes each on average)",
        total >> 20,
        gbps(total, dt_in),
        total as f64 / segs_in.max(1) as f64,
    );
    // 1448-byte segments would need total / 1448 of them.
    assert!(
        segs_in < total / 1448 / 2,
        "no large segments: {segs_in} segments for {total} bytes"
    );

    let dt_out = bulk_ustack_to_kernel(&env, 5002, 0x5eed_0012, total);
    eprintln!(
        "[bulk_offload] ustack → kernel: {} MiB in {dt_out:?}: {:.2} Gbit/s",
        total >> 20,
        gbps(total, dt_out),
    );

    // UDP both ways: the kernel may leave a datagram's checksum to be
    // completed too, and ustack's datagrams are never joined.
    let u = UdpSocket::bind(&env.stack, env.ustack_addr(7)).unwrap();
    u.set_read_timeout(Some(T5)).unwrap();
    let kaddr = env.kernel_addr(7007);
    let k = env
        .ns
        .run(|| std::net::UdpSocket::bind(kaddr))
        .expect("kernel UDP socket");
    k.set_read_timeout(Some(T5)).unwrap();
    let mut buf = vec![0u8; 65536];
    // One unfragmented, one in fragments.
    for len in [100u32, 3000] {
        let msg: Vec<u8> = (0..len).map(|i| (i % 251) as u8).collect();
        k.send_to(&msg, env.ustack_addr(7)).expect("kernel send");
        let (n, from) = u.recv_from(&mut buf).expect("ustack receives the datagram");
        assert_eq!((&buf[..n], from), (&msg[..], kaddr), "{len} B to ustack");
        u.send_to(&buf[..n], from).expect("ustack send");
        let (n, from) = k.recv_from(&mut buf).expect("kernel receives the reply");
        let back = (&buf[..n], from);
        assert_eq!(
            back,
            (&msg[..], env.ustack_addr(7)),
            "{len} B to the kernel"
        );
    }
    env.finish();
}

// ---------------------------------------------------------------------
// 4. Many concurrent kernel clients against a ustack echo server
// ---------------------------------------------------------------------

const CLIENTS: usize = 200;
const ROUNDS: usize = 3;

#[test]
fn interop_200_kernel_clients_echo() {
    use tokio::io::AsyncWriteExt;
    let Some(env) = Env::setup("echo200", 104, &[]) else {
        return;
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let addr = env.ustack_addr(7);
    let listener = rt
        .block_on(ustack_runtime::tokio_net::TcpListener::bind(
            &env.stack, addr,
        ))
        .unwrap();
    let server = rt.spawn(async move {
        let mut conns = tokio::task::JoinSet::new();
        for _ in 0..CLIENTS {
            let (s, _) = tokio::time::timeout(T30, listener.accept())
                .await
                .map_err(|_| io::Error::new(ErrorKind::TimedOut, "accept"))??;
            conns.spawn(async move {
                let (mut r, mut w) = s.into_split();
                let n = tokio::io::copy(&mut r, &mut w).await?;
                w.shutdown().await?;
                io::Result::Ok(n)
            });
        }
        let mut total = 0u64;
        while let Some(r) = conns.join_next().await {
            total += r.expect("echo task")?;
        }
        io::Result::Ok(total)
    });

    let start = Arc::new(TimedBarrier::new(CLIENTS));
    let all_open = Arc::new(TimedBarrier::new(CLIENTS));
    let t0 = Instant::now();
    let clients: Vec<_> = (0..CLIENTS)
        .map(|id| {
            let start = start.clone();
            let all_open = all_open.clone();
            env.ns
                .spawn(&format!("client-{id}"), move || -> Result<u64, String> {
                    let fail = |what: &str, e: io::Error| format!("client {id}: {what}: {e}");
                    start.wait(T30);
                    let mut s =
                        std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(10))
                            .map_err(|e| fail("connect", e))?;
                    s.set_read_timeout(Some(T30)).unwrap();
                    s.set_write_timeout(Some(T30)).unwrap();
                    let mut g = Gen::new(1000 + id as u64);
                    let mut bytes = 0u64;
                    for round in 0..ROUNDS {
                        let len = match (id, round) {
                            (0, 0) => 1,
                            (1, 0) => 65536,
                            _ => g.range(1, 65536),
                        };
                        let msg = g.bytes(len);
                        s.write_all(&msg).map_err(|e| fail("write", e))?;
                        let mut back = vec![0u8; len];
                        s.read_exact(&mut back).map_err(|e| fail("read", e))?;
                        if back != msg {
                            return Err(format!(
                                "client {id}: round {round}: echo of {len} B differs"
                            ));
                        }
                        bytes += len as u64;
                        if round == 0 && !all_open.wait(T30) {
                            return Err(format!(
                                "client {id}: the others never got their first echo"
                            ));
                        }
                    }
                    s.shutdown(Shutdown::Write)
                        .map_err(|e| fail("shutdown", e))?;
                    let mut rest = Vec::new();
                    s.read_to_end(&mut rest)
                        .map_err(|e| fail("read to EOF", e))?;
                    if !rest.is_empty() {
                        return Err(format!("client {id}: {} unexpected bytes", rest.len()));
                    }
                    Ok(bytes)
                })
        })
        .collect();
    let mut errors = Vec::new();
    let mut sent = 0u64;
    for c in clients {
        match c.join().unwrap() {
            Ok(n) => sent += n,
            Err(e) => errors.push(e),
        }
    }
    let dt = t0.elapsed();
    assert!(
        errors.is_empty(),
        "{} of {CLIENTS} clients failed: {:#?}",
        errors.len(),
        &errors[..errors.len().min(10)]
    );
    let echoed = rt
        .block_on(async { tokio::time::timeout(T30, server).await })
        .expect("server finishes")
        .unwrap()
        .expect("ustack echo server");
    assert_eq!(echoed, sent);
    eprintln!(
        "[echo200] {CLIENTS} concurrent kernel clients × {ROUNDS} messages, {:.1} MiB echoed in {dt:?}",
        sent as f64 / (1 << 20) as f64
    );
    let c = env.stack.counters();
    assert!(c.tcp_connections_accepted >= CLIENTS as u64);
    drop(rt);
    env.finish();
}

// ---------------------------------------------------------------------
// 5. UDP both ways, truncation, fragmentation
// ---------------------------------------------------------------------

/// Datagram sizes: tiny, the largest unfragmented at MTU 1500 (1472),
/// the smallest fragmented (1473), and larger ones up to the IPv4 maximum.
const UDP_SIZES: [usize; 8] = [1, 100, 1472, 1473, 3000, 8000, 30000, 65507];

/// Sends `msg` and waits for its echo with `send`/`recv` closures,
/// retrying (UDP may lose) up to 3 times; returns the attempts used.
fn udp_exchange(
    msg: &[u8],
    from: SocketAddr,
    mut send: impl FnMut(&[u8]) -> io::Result<usize>,
    mut recv: impl FnMut(&mut [u8]) -> io::Result<(usize, SocketAddr)>,
) -> Result<usize, String> {
    let mut buf = vec![0u8; 65536];
    for attempt in 1..=3 {
        let n = send(msg).map_err(|e| format!("send {} B: {e}", msg.len()))?;
        if n != msg.len() {
            return Err(format!("sent {n} of {} B", msg.len()));
        }
        loop {
            match recv(&mut buf) {
                Ok((n, a)) if n == msg.len() && buf[..n] == *msg => {
                    if a != from {
                        return Err(format!("echo from {a}, expected {from}"));
                    }
                    return Ok(attempt);
                }
                Ok(_) => continue, // a late echo of an earlier message
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => break,
                Err(e) => return Err(format!("recv: {e}")),
            }
        }
    }
    Err(format!("no echo of {} B after 3 attempts", msg.len()))
}

#[test]
fn interop_udp_echo_both_ways() {
    let Some(env) = Env::setup("udp", 105, &[]) else {
        return;
    };
    let quit = b"quit".as_slice();

    // Kernel client → ustack echo server.
    let srv = UdpSocket::bind(&env.stack, env.ustack_addr(7)).unwrap();
    srv.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let ustack_echo = thread::spawn(move || -> io::Result<usize> {
        let mut buf = vec![0u8; 65536];
        let mut served = 0;
        loop {
            let r = srv.recv_from_full(&mut buf)?;
            if r.truncated {
                return Err(io::Error::other(format!(
                    "a {} B datagram was truncated",
                    r.datagram_len
                )));
            }
            if &buf[..r.len] == quit {
                return Ok(served);
            }
            srv.send_to(&buf[..r.len], r.from)?;
            served += 1;
        }
    });
    let uaddr = env.ustack_addr(7);
    let kip = env.kernel_ip();
    let attempts = env.ns.run(move || -> Result<Vec<usize>, String> {
        let s = std::net::UdpSocket::bind((kip, 0)).map_err(|e| e.to_string())?;
        s.set_read_timeout(Some(Duration::from_secs(1))).unwrap();
        let mut g = Gen::new(105);
        let mut attempts = Vec::new();
        for len in UDP_SIZES {
            let msg = g.bytes(len);
            let a = udp_exchange(&msg, uaddr, |m| s.send_to(m, uaddr), |b| s.recv_from(b))
                .map_err(|e| format!("kernel → ustack echo: {e}"))?;
            attempts.push(a);
        }
        s.send_to(quit, uaddr).map_err(|e| e.to_string())?;
        Ok(attempts)
    });
    let attempts = attempts.unwrap();
    let served = ustack_echo.join().unwrap().expect("ustack echo server");
    assert!(served >= UDP_SIZES.len());
    eprintln!("[udp] kernel → ustack echo: sizes {UDP_SIZES:?} ok, attempts {attempts:?}");

    // ustack client → kernel echo server.
    let kaddr = env.kernel_addr(7);
    let ks = env
        .ns
        .run(|| std::net::UdpSocket::bind(kaddr))
        .expect("kernel UDP socket");
    ks.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let kernel_echo = thread::spawn(move || -> io::Result<usize> {
        let mut buf = vec![0u8; 65536];
        let mut served = 0;
        loop {
            let (n, from) = ks.recv_from(&mut buf)?;
            if &buf[..n] == quit {
                return Ok(served);
            }
            ks.send_to(&buf[..n], from)?;
            served += 1;
        }
    });
    let c = UdpSocket::bind(&env.stack, env.ustack_addr(0)).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(1))).unwrap();
    let mut g = Gen::new(1105);
    let mut attempts = Vec::new();
    for len in UDP_SIZES {
        let msg = g.bytes(len);
        let a = udp_exchange(&msg, kaddr, |m| c.send_to(m, kaddr), |b| c.recv_from(b))
            .unwrap_or_else(|e| panic!("ustack → kernel echo: {e}"));
        attempts.push(a);
    }
    eprintln!("[udp] ustack → kernel echo: sizes {UDP_SIZES:?} ok, attempts {attempts:?}");

    // Truncation: a 3000 B echo read into a 1000 B buffer.
    let msg = g.bytes(3000);
    let mut small = [0u8; 1000];
    let mut seen = None;
    for _ in 0..3 {
        c.send_to(&msg, kaddr).unwrap();
        match c.recv_from_full(&mut small) {
            Ok(r) => {
                seen = Some(r);
                break;
            }
            Err(e) if e.kind() == ErrorKind::WouldBlock => continue,
            Err(e) => panic!("recv_from_full: {e}"),
        }
    }
    let r = seen.expect("no echo of the 3000 B datagram");
    assert!(
        r.truncated,
        "3000 B datagram into 1000 B: not reported truncated"
    );
    assert_eq!((r.len, r.datagram_len, r.from), (1000, 3000, kaddr));
    assert_eq!(&small[..], &msg[..1000]);
    c.send_to(quit, kaddr).unwrap();
    let served = kernel_echo.join().unwrap().expect("kernel echo server");
    assert!(served > UDP_SIZES.len());

    let cn = env.stack.counters();
    assert!(
        cn.ip_reassembled > 0,
        "no datagram was reassembled by ustack"
    );
    assert!(cn.ip_fragments_out > 0, "ustack sent no fragments");
    eprintln!(
        "[udp] truncation reported (1000 of 3000 B); ustack fragments in {}, out {}, reassembled {}",
        cn.ip_fragments_in, cn.ip_fragments_out, cn.ip_reassembled
    );
    env.finish();
}

// ---------------------------------------------------------------------
// 6. ping
// ---------------------------------------------------------------------

#[test]
fn interop_ping() {
    let Some(env) = Env::setup("ping", 106, &["ping"]) else {
        return;
    };
    let target = env.ustack_ip().to_string();
    for size in [None, Some("3000")] {
        let mut args = vec!["-c", "3", "-W", "2", "-i", "0.2"];
        if let Some(s) = size {
            args.extend(["-s", s]);
        }
        args.push(&target);
        let t0 = Instant::now();
        let out = env.exec("ping", &args, Duration::from_secs(20));
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "ping {args:?}: {}\n{text}\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(text.contains(" 3 received"), "ping {args:?}:\n{text}");
        let reply = format!(
            "{} bytes from {target}",
            size.map_or(56, |s| s.parse().unwrap()) + 8
        );
        assert_eq!(text.matches(&reply).count(), 3, "ping {args:?}:\n{text}");
        let summary = text.lines().last().unwrap_or_default();
        eprintln!(
            "[ping] {args:?}: 3/3 replies in {:?}; {summary}",
            t0.elapsed()
        );
    }
    let c = env.stack.counters();
    assert!(
        c.ip_reassembled >= 3 && c.ip_fragments_out >= 6,
        "large pings not fragmented?"
    );
    env.finish();
}

// ---------------------------------------------------------------------
// 7. Connection refused both ways
// ---------------------------------------------------------------------

#[test]
fn interop_connection_refused() {
    let Some(env) = Env::setup("refused", 107, &["curl"]) else {
        return;
    };
    let quick = Duration::from_secs(1);

    // Kernel → closed ustack port: RST at once.
    let closed = env.ustack_addr(9);
    let (r, dt) = env.ns.run(move || {
        let t0 = Instant::now();
        let r = std::net::TcpStream::connect_timeout(&closed, T5);
        (r.map(drop), t0.elapsed())
    });
    let e = r.expect_err("connected to a closed port");
    assert_eq!(
        e.kind(),
        ErrorKind::ConnectionRefused,
        "kernel connect: {e}"
    );
    assert!(dt < quick, "kernel saw the refusal after {dt:?}");
    eprintln!("[refused] kernel connect to closed ustack port: refused in {dt:?}");

    // curl: exit code 7 (couldn't connect), timed by curl itself so that
    // process start-up does not count.
    let url = format!("http://{closed}/");
    let t0 = Instant::now();
    let out = env.exec(
        "curl",
        &["-sS", "--max-time", "5", "-w", "%{time_total}", &url],
        T5 * 2,
    );
    let wall = t0.elapsed();
    assert_eq!(
        out.status.code(),
        Some(7),
        "curl: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let curl_time: f64 = String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .expect("curl -w time_total");
    assert!(curl_time < 1.0, "curl gave up after {curl_time} s");
    eprintln!(
        "[refused] curl to closed ustack port: exit 7 after {curl_time} s ({wall:?} with start-up)"
    );

    // ustack → closed kernel port.
    let t0 = Instant::now();
    let e = TcpStream::connect_timeout(&env.stack, &env.kernel_addr(9), T5)
        .expect_err("ustack connected to a closed kernel port");
    let dt = t0.elapsed();
    assert_eq!(
        e.kind(),
        ErrorKind::ConnectionRefused,
        "ustack connect: {e}"
    );
    assert!(dt < quick, "ustack saw the refusal after {dt:?}");
    eprintln!("[refused] ustack connect to closed kernel port: refused in {dt:?}");

    // UDP to a closed ustack port: ICMP port unreachable → ECONNREFUSED.
    let r = env.ns.run(move || -> io::Result<()> {
        let s = std::net::UdpSocket::bind("0.0.0.0:0")?;
        s.connect(closed)?;
        s.set_read_timeout(Some(Duration::from_secs(2)))?;
        s.send(b"anyone?")?;
        let mut b = [0u8; 16];
        s.recv(&mut b).map(drop)
    });
    let e = r.expect_err("UDP reply from a closed port");
    assert_eq!(e.kind(), ErrorKind::ConnectionRefused, "kernel UDP: {e}");
    eprintln!("[refused] kernel UDP to closed ustack port: ICMP port unreachable seen");
    env.finish();
}

// ---------------------------------------------------------------------
// 8. Half-close
// ---------------------------------------------------------------------

fn reply_for(n: u64, hash: &str) -> String {
    format!("received {n} bytes, sha256 {hash}\n")
}

#[test]
fn interop_half_close() {
    let Some(env) = Env::setup("halfclose", 108, &[]) else {
        return;
    };
    const LEN: u64 = 1 << 20;

    // Kernel client sends, shuts down writing, reads ustack's reply.
    let listener = TcpListener::bind(&env.stack, env.ustack_addr(7)).unwrap();
    let server = thread::spawn(move || -> io::Result<()> {
        let (mut s, _) = listener.accept()?;
        s.set_read_timeout(Some(T30))?;
        let (n, hash) = hash_to_eof(&s, 65536)?;
        s.write_all(reply_for(n, &hash).as_bytes())?;
        Ok(()) // drop: FIN after the reply
    });
    let dst = env.ustack_addr(7);
    let (sent, reply) = env
        .ns
        .run(move || -> io::Result<(String, String)> {
            let mut s = std::net::TcpStream::connect_timeout(&dst, T5)?;
            s.set_read_timeout(Some(T30))?;
            s.set_write_timeout(Some(T30))?;
            let h = send_generated(&s, 108, LEN, 65536)?;
            s.shutdown(Shutdown::Write)?;
            let mut reply = String::new();
            s.read_to_string(&mut reply)?;
            Ok((h, reply))
        })
        .expect("kernel client");
    server.join().unwrap().expect("ustack server");
    assert_eq!(reply, reply_for(LEN, &sent));
    eprintln!(
        "[halfclose] kernel half-closed, then read ustack's reply: {}",
        reply.trim()
    );

    // ustack client sends, shuts down writing, reads the kernel's reply.
    let kaddr = env.kernel_addr(7);
    let kl = env
        .ns
        .run(|| std::net::TcpListener::bind(kaddr))
        .expect("kernel listener");
    let kserver = thread::spawn(move || -> io::Result<()> {
        let (mut s, _) = kernel_accept(&kl, T30)?;
        s.set_read_timeout(Some(T30))?;
        let (n, hash) = hash_to_eof(&s, 65536)?;
        s.write_all(reply_for(n, &hash).as_bytes())?;
        Ok(())
    });
    let mut c = TcpStream::connect_timeout(&env.stack, &kaddr, T5).unwrap();
    c.set_read_timeout(Some(T30)).unwrap();
    c.set_write_timeout(Some(T30)).unwrap();
    let sent = send_generated(&c, 1108, LEN, 65536).unwrap();
    c.shutdown(Shutdown::Write).unwrap();
    let mut reply = String::new();
    c.read_to_string(&mut reply)
        .expect("ustack reads after half-close");
    kserver.join().unwrap().expect("kernel server");
    assert_eq!(reply, reply_for(LEN, &sent));
    eprintln!(
        "[halfclose] ustack half-closed, then read the kernel's reply: {}",
        reply.trim()
    );
    drop(c);
    env.finish();
}

// ---------------------------------------------------------------------
// 9. hyper on ustack's tokio API, curl as the client
// ---------------------------------------------------------------------

#[test]
fn interop_hyper_server_answers_curl() {
    use bytes::Bytes;
    use http_body_util::{BodyExt, Full};
    use hyper::body::Incoming;
    use hyper::service::service_fn;
    use hyper::{Request, Response};
    use hyper_util::rt::TokioIo;

    let Some(env) = Env::setup("hyper", 109, &["curl"]) else {
        return;
    };
    let big = Bytes::from(Gen::new(109).bytes(1 << 20));
    let big_hash = sha256_hex(&big);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let listener = rt
        .block_on(ustack_runtime::tokio_net::TcpListener::bind(
            &env.stack,
            env.ustack_addr(8080),
        ))
        .unwrap();
    let b2 = big.clone();
    let server = rt.spawn(async move {
        loop {
            let (stream, _) = match listener.accept().await {
                Ok(c) => c,
                Err(e) => {
                    eprintln!("[hyper] accept: {e}");
                    return;
                }
            };
            let big = b2.clone();
            tokio::spawn(async move {
                let svc = service_fn(move |req: Request<Incoming>| {
                    let big = big.clone();
                    async move {
                        let path = req.uri().path().to_string();
                        let method = req.method().to_string();
                        let body = match path.as_str() {
                            "/big" => big,
                            "/sha256" => {
                                let data = req.into_body().collect().await?.to_bytes();
                                Bytes::from(format!("{} {}\n", data.len(), sha256_hex(&data)))
                            }
                            _ => Bytes::from(format!(
                                "hello from hyper on ustack: {method} {path}\n"
                            )),
                        };
                        Ok::<_, hyper::Error>(Response::new(Full::new(body)))
                    }
                });
                if let Err(e) = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), svc)
                    .await
                {
                    eprintln!("[hyper] connection: {e}");
                }
            });
        }
    });

    let base = format!("http://{}:8080", env.ustack_ip());
    let curl = |args: &[&str]| {
        let mut a = vec!["-sS", "--fail", "--max-time", "20"];
        a.extend_from_slice(args);
        let out = env.exec("curl", &a, T30);
        assert!(
            out.status.success(),
            "curl {args:?}: {} {}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
        out.stdout
    };

    // Two requests on one connection: the second reuses it.
    let t0 = Instant::now();
    let (u1, u2) = (format!("{base}/hello"), format!("{base}/again"));
    let out = curl(&["-w", "%{num_connects}\\n", &u1, &u2]);
    assert_eq!(
        String::from_utf8_lossy(&out),
        "hello from hyper on ustack: GET /hello\n1\nhello from hyper on ustack: GET /again\n0\n"
    );

    // 1 MiB response body.
    let out = curl(&[&format!("{base}/big")]);
    assert_eq!(out.len(), big.len());
    assert_eq!(sha256_hex(&out), big_hash, "/big body differs");

    // 1 MiB request body (kernel → ustack).
    let dir = TempDir::new("ustk-hyper").unwrap();
    let upload = dir.path().join("upload.bin");
    let data = Gen::new(1109).bytes(1 << 20);
    std::fs::write(&upload, &data).unwrap();
    let at = format!("@{}", upload.display());
    let out = curl(&["--data-binary", &at, &format!("{base}/sha256")]);
    assert_eq!(
        String::from_utf8_lossy(&out),
        format!("{} {}\n", data.len(), sha256_hex(&data))
    );
    eprintln!(
        "[hyper] keep-alive GETs, 1 MiB GET and 1 MiB POST answered in {:?}",
        t0.elapsed()
    );
    server.abort();
    rt.shutdown_timeout(Duration::from_secs(2));
    env.finish();
}

// ---------------------------------------------------------------------
// 10. Path MTU discovery through a Linux router
// ---------------------------------------------------------------------

/// A far host behind the test namespace, which routes to it: namespace
/// `ustk-<tag>-far-<pid>`, 198.18.`net`.2/24 on a veth whose other end
/// (198.18.`net`.1) is in the test namespace, optionally with a smaller
/// MTU on the router's route to it. Forwarding is turned on.
fn far_host(env: &Env, tag: &str, net: u8, mtu: Option<u16>) -> Netns {
    let pid = std::process::id();
    let far = Netns::create(&format!("ustk-{tag}-far-{pid}")).expect("far namespace");
    let (router, fns) = (env.ns.name().to_string(), far.name().to_string());
    let (va, vb) = (format!("{tag}a{pid}"), format!("{tag}b{pid}"));
    let (ra, fa) = (format!("198.18.{net}.1/24"), format!("198.18.{net}.2/24"));
    let (ours, via) = (format!("198.18.{}.0/24", env.x), format!("198.18.{net}.1"));
    let far_net = format!("198.18.{net}.0/24");
    for args in [
        vec![
            "-n", &router, "link", "add", &va, "type", "veth", "peer", "name", &vb, "netns", &fns,
        ],
        vec!["-n", &router, "addr", "add", &ra, "dev", &va],
        vec!["-n", &router, "link", "set", &va, "up"],
        vec!["-n", &fns, "addr", "add", &fa, "dev", &vb],
        vec!["-n", &fns, "link", "set", &vb, "up"],
        vec!["-n", &fns, "link", "set", "lo", "up"],
        vec!["-n", &fns, "route", "add", &ours, "via", &via],
    ] {
        ip(&args).expect("router set-up");
    }
    if let Some(mtu) = mtu {
        let mtu = mtu.to_string();
        ip(&[
            "-n", &router, "route", "replace", &far_net, "dev", &va, "mtu", &mtu,
        ])
        .expect("route MTU");
    }
    env.ns
        .run(|| std::fs::write("/proc/sys/net/ipv4/ip_forward", "1"))
        .expect("forwarding on in the router");
    far
}

/// ustack sends to a host behind a Linux router whose next hop carries
/// only 1280 bytes. Both hosts have 1500-byte links and announce MSS 1460,
/// so only the router knows: it answers each too-big DF packet with ICMP
/// "fragmentation needed" (RFC 1191), and ustack must shrink its segments
/// and resend what was dropped, or the transfer stalls for good.
#[test]
fn interop_path_mtu_discovery_through_a_linux_router() {
    let Some(env) = Env::setup_routed("pmtu", 110, &[]) else {
        return;
    };
    const LEN: u64 = 4 << 20;
    // The router's way to the far host crosses a 1280-byte hop.
    let far = far_host(&env, "pmtu", 210, Some(1280));
    let kaddr: SocketAddr = "198.18.210.2:9".parse().unwrap();
    let kl = far
        .run(|| std::net::TcpListener::bind(kaddr))
        .expect("kernel listener");
    let kserver = thread::spawn(move || -> io::Result<Vec<String>> {
        let mut replies = Vec::new();
        for _ in 0..2 {
            let (mut s, _) = kernel_accept(&kl, T30)?;
            s.set_read_timeout(Some(T30))?;
            let (n, hash) = hash_to_eof(&s, 65536)?;
            s.write_all(reply_for(n, &hash).as_bytes())?;
            replies.push(hash);
        }
        Ok(replies)
    });
    let transfer = |seed: u64| {
        let mut c = TcpStream::connect_timeout(&env.stack, &kaddr, T5).expect("connect");
        c.set_read_timeout(Some(T30)).unwrap();
        c.set_write_timeout(Some(T30)).unwrap();
        let sent = send_generated(&c, seed, LEN, 65536).expect("send through the router");
        c.shutdown(Shutdown::Write).unwrap();
        let mut reply = String::new();
        c.read_to_string(&mut reply).expect("the far host's reply");
        assert_eq!(reply, reply_for(LEN, &sent));
    };
    let t0 = Instant::now();
    transfer(110);
    let first = env.stack.counters();
    eprintln!(
        "[pmtu] {} MiB through the 1280-byte hop in {:?}: path MTU lowered {} time(s), \
         {} ICMP message(s) in, {} retransmits",
        LEN >> 20,
        t0.elapsed(),
        first.tcp.pmtu_reductions,
        first.icmp_in,
        first.tcp.retransmits
    );
    assert!(first.icmp_in >= 1, "the router's ICMP reached ustack");
    assert_eq!(first.tcp.pmtu_reductions, 1, "lowered once, to 1280");
    // A second connection starts at the learnt path MTU (RFC 1191 §6.3):
    // nothing more is refused.
    transfer(1110);
    let second = env.stack.counters();
    assert_eq!(second.tcp.pmtu_reductions, 1);
    assert_eq!(
        second.icmp_in, first.icmp_in,
        "no new ICMP: nothing too big"
    );
    assert_eq!(kserver.join().unwrap().expect("kernel server").len(), 2);
    env.finish();
    drop(far);
}

/// The same path with the router's ICMP filtered out (a Path MTU black
/// hole, RFC 2923 §2.1: iptables drops its "fragmentation needed"), so
/// that only Packetization-layer PMTUD (RFC 4821) gets ustack through:
/// black-hole detection lowers the MSS after three timeouts, then probes
/// search up to what the 1280-byte hop carries.
#[test]
fn interop_path_mtu_black_hole_through_a_linux_router() {
    let tune = |c: &mut ustack::Config| c.tcp.mtu_probing = ustack::MtuProbing::BlackHole;
    let Some(env) = Env::setup_routed_with("pmtubh", 116, &["iptables"], &tune) else {
        return;
    };
    const LEN: u64 = 4 << 20;
    let far = far_host(&env, "pmtubh", 216, Some(1280));
    let ns = env.ns.name().to_string();
    let filter = std::process::Command::new("ip")
        .args([
            "netns", "exec", &ns, "iptables", "-A", "OUTPUT", "-p", "icmp",
        ])
        .args(["--icmp-type", "fragmentation-needed", "-j", "DROP"])
        .status()
        .expect("iptables");
    assert!(filter.success(), "iptables rule in the router");
    let kaddr: SocketAddr = "198.18.216.2:9".parse().unwrap();
    let kl = far
        .run(|| std::net::TcpListener::bind(kaddr))
        .expect("kernel listener");
    let kserver = thread::spawn(move || -> io::Result<String> {
        let (mut s, _) = kernel_accept(&kl, T30)?;
        s.set_read_timeout(Some(T30))?;
        let (n, hash) = hash_to_eof(&s, 65536)?;
        s.write_all(reply_for(n, &hash).as_bytes())?;
        Ok(hash)
    });
    let t0 = Instant::now();
    let mut c = TcpStream::connect_timeout(&env.stack, &kaddr, T5).expect("connect");
    c.set_read_timeout(Some(T30)).unwrap();
    c.set_write_timeout(Some(T30)).unwrap();
    let sent = send_generated(&c, 116, LEN, 65536).expect("send through the black hole");
    c.shutdown(Shutdown::Write).unwrap();
    let mut reply = String::new();
    c.read_to_string(&mut reply).expect("the far host's reply");
    assert_eq!(reply, reply_for(LEN, &sent));
    let n = env.stack.counters();
    eprintln!(
        "[pmtubh] {} MiB through the silent 1280-byte hop in {:?}: {} black-hole \
         reduction(s), {} probe(s), {} got through, {} ICMP in, {} timeouts",
        LEN >> 20,
        t0.elapsed(),
        n.tcp.black_hole_reductions,
        n.tcp.mtu_probes,
        n.tcp.mtu_probe_successes,
        n.icmp_in,
        n.tcp.timeouts
    );
    assert_eq!(n.icmp_in, 0, "the router's ICMP was filtered");
    assert_eq!(n.tcp.pmtu_reductions, 0);
    assert!(n.tcp.black_hole_reductions >= 1, "{:?}", n.tcp);
    // The first probe (1 288 bytes) is too big for the hop and lost.
    assert!(n.tcp.mtu_probe_successes >= 1, "{:?}", n.tcp);
    assert!(n.tcp.mtu_probes > n.tcp.mtu_probe_successes, "{:?}", n.tcp);
    assert_eq!(kserver.join().unwrap().expect("kernel server"), sent);
    env.finish();
    drop(far);
}

// ---------------------------------------------------------------------
// Keepalive (RFC 9293 §3.8.4) against Linux's
// ---------------------------------------------------------------------

/// Linux's SO_KEEPALIVE with TCP_KEEPIDLE/KEEPINTVL/KEEPCNT on `s`.
fn kernel_keepalive(s: &std::net::TcpStream, idle: i32, intvl: i32, cnt: i32) {
    use std::os::fd::AsRawFd;
    let fd = s.as_raw_fd();
    for (level, name, v) in [
        (libc::SOL_SOCKET, libc::SO_KEEPALIVE, 1),
        (libc::IPPROTO_TCP, libc::TCP_KEEPIDLE, idle),
        (libc::IPPROTO_TCP, libc::TCP_KEEPINTVL, intvl),
        (libc::IPPROTO_TCP, libc::TCP_KEEPCNT, cnt),
    ] {
        // SAFETY: a live socket, a pointer to an i32 and its size.
        let r = unsafe {
            libc::setsockopt(
                fd,
                level,
                name,
                (&v as *const i32).cast(),
                std::mem::size_of::<i32>() as libc::socklen_t,
            )
        };
        assert_eq!(r, 0, "setsockopt {name}: {}", io::Error::last_os_error());
    }
}

/// One byte each way: the connection still works.
fn ping_pong(u: &mut TcpStream, k: &mut std::net::TcpStream, what: &str) {
    u.write_all(b"?").unwrap();
    let mut b = [0u8; 1];
    k.read_exact(&mut b)
        .unwrap_or_else(|e| panic!("{what}: kernel read: {e}"));
    k.write_all(b"!").unwrap();
    u.read_exact(&mut b)
        .unwrap_or_else(|e| panic!("{what}: ustack read: {e}"));
    assert_eq!(&b, b"!");
}

#[test]
fn interop_keepalive() {
    let Some(env) = Env::setup("keepalive", 111, &[]) else {
        return;
    };
    let ka = ustack::Keepalive {
        idle: Duration::from_secs(1),
        interval: Duration::from_secs(1),
        retries: 2,
    };
    let port = 7500;
    let addr = env.kernel_addr(port);
    let listener = env
        .ns
        .run(move || std::net::TcpListener::bind(addr))
        .expect("kernel listen");
    let connect = |env: &Env| {
        let u = TcpStream::connect_timeout(&env.stack, &addr, T5).expect("connect");
        let (k, _) = kernel_accept(&listener, T5).expect("kernel accept");
        k.set_read_timeout(Some(T5)).unwrap();
        u.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        (u, k)
    };

    // 1. Linux probes an idle ustack connection (1 s idle, 1 s apart, 2
    // unanswered → Linux resets): ustack must answer every probe.
    let (mut u, mut k) = connect(&env);
    kernel_keepalive(&k, 1, 1, 2);
    let before = kernel_counters(&env.ns);
    thread::sleep(Duration::from_secs(5));
    let after = kernel_counters(&env.ns);
    let sent = after["TcpExt.TCPKeepAlive"] - before["TcpExt.TCPKeepAlive"];
    assert!(sent >= 3, "Linux sent {sent} keepalive probes in 5 s");
    ping_pong(&mut u, &mut k, "after Linux's probes");
    eprintln!("[keepalive] Linux probed ustack {sent} times; ustack answered each");
    drop((u, k));

    // 2. ustack probes an idle Linux connection: Linux answers, and the
    // connection lives on through more than idle + retries × interval.
    let (mut u, mut k) = connect(&env);
    u.set_keepalive(Some(ka)).unwrap();
    assert_eq!(u.keepalive().unwrap(), Some(ka));
    thread::sleep(Duration::from_secs(5));
    let probes = u.info().unwrap().counters.keepalive_probes;
    assert!(probes >= 3, "ustack sent {probes} keepalive probes in 5 s");
    ping_pong(&mut u, &mut k, "after ustack's probes");
    eprintln!("[keepalive] ustack probed Linux {probes} times; Linux answered each");

    // 3. The peer vanishes (the kernel end of the TUN goes down): ustack's
    // probes go unanswered and the connection fails with TimedOut after
    // idle + retries × interval (3 s), well before the read timeout. A
    // second connection whose data goes unacknowledged fails after its
    // TCP_USER_TIMEOUT (1.5 s), before that.
    let (mut u2, k2) = connect(&env);
    u2.set_user_timeout(Some(Duration::from_millis(1500)))
        .unwrap();
    let t0 = Instant::now();
    ip(&["-n", env.ns.name(), "link", "set", &env.tun, "down"]).expect("link down");
    u2.write_all(b"lost").unwrap();
    let mut b = [0u8; 1];
    let e = u2.read(&mut b).expect_err("read after the user timeout");
    let dt2 = t0.elapsed();
    assert_eq!(e.kind(), ErrorKind::TimedOut, "{e}");
    assert!(
        dt2 >= Duration::from_millis(1500) && dt2 < Duration::from_millis(2900),
        "user timeout after {dt2:?}"
    );
    eprintln!("[keepalive] unacknowledged data given up by TCP_USER_TIMEOUT after {dt2:?}");
    let e = u.read(&mut b).expect_err("read on a dead connection");
    let dt = t0.elapsed();
    assert_eq!(e.kind(), ErrorKind::TimedOut, "{e}");
    assert!(
        dt < Duration::from_secs(8),
        "the dead peer was noticed after {dt:?} (keepalive: 3 s)"
    );
    assert_eq!(u.info().unwrap().state, ustack::TcpState::Closed);
    eprintln!("[keepalive] dead peer noticed by keepalive after {dt:?}");
    drop((k, k2));
    env.finish();
}

// ---------------------------------------------------------------------
// Socket options set before the handshake, as Linux sees them
// ---------------------------------------------------------------------

/// The window scales of the kernel's connection to ustack's `port`, from
/// `ss -ti` in the namespace: (the one ustack offered, the kernel's own).
fn kernel_wscale(env: &Env, port: u16) -> (u8, u8) {
    let dst = format!("dst {}:{port}", env.ustack_ip());
    let out = env.exec("ss", &["-tinH", &dst], T5);
    let text = String::from_utf8_lossy(&out.stdout);
    let field = text
        .split_whitespace()
        .find_map(|w| w.strip_prefix("wscale:"))
        .unwrap_or_else(|| panic!("no wscale in `ss -tin {dst}`: {text}"));
    let (snd, rcv) = field.split_once(',').expect("wscale:A,B");
    (
        snd.parse().expect("snd_wscale"),
        rcv.parse().expect("rcv_wscale"),
    )
}

#[test]
fn interop_socket_options() {
    use ustack_runtime::net::TcpSocket;
    let Some(env) = Env::setup("sockopts", 112, &["ss"]) else {
        return;
    };
    let uaddr = env.ustack_addr(7600);
    // 1. A ustack listener with a 16 MiB receive buffer offers scale 9 to
    // every Linux client, and the accepted stream has the listener's
    // options.
    let ls = TcpSocket::new(&env.stack);
    ls.set_recv_buffer_size(16 << 20).unwrap();
    ls.set_nodelay(true).unwrap();
    ls.bind(uaddr).unwrap();
    let listener = ls.listen(8).unwrap();
    let k = env
        .ns
        .run(move || std::net::TcpStream::connect_timeout(&uaddr, T5))
        .expect("kernel connect");
    let (u, _) = listener.accept_timeout(T5).expect("accept");
    assert!(u.nodelay().unwrap());
    assert_eq!(u.recv_buffer_size().unwrap(), 16 << 20);
    let (offered, kernels) = kernel_wscale(&env, 7600);
    let ui = u.info().unwrap();
    assert_eq!(
        (offered, ui.rcv_wscale),
        (9, 9),
        "Linux applies ustack's scale"
    );
    assert_eq!(ui.snd_wscale, kernels, "ustack applies Linux's scale");
    // 12 MiB from Linux through the scaled window, intact.
    const N: u64 = 12 << 20;
    let sender = thread::spawn(move || {
        let mut k = k;
        let h = send_generated(&mut k, 112, N, 1 << 16).expect("kernel send");
        k.shutdown(Shutdown::Write).unwrap();
        h
    });
    u.set_read_timeout(Some(T30)).unwrap();
    let (n, got) = hash_to_eof(&u, 1 << 16).expect("ustack read");
    let sent = sender.join().unwrap();
    assert_eq!((n, got), (N, sent));
    eprintln!(
        "[sockopts] listener: ustack offered wscale {offered}, Linux {kernels}; 12 MiB intact"
    );
    drop(u);

    // 2. A ustack client with a 60 000-byte buffer needs no scale: it
    // offers 0, and Linux's data fits the unscaled window.
    let kaddr = env.kernel_addr(7601);
    let kl = env
        .ns
        .run(move || std::net::TcpListener::bind(kaddr))
        .expect("kernel listen");
    let cs = TcpSocket::new(&env.stack);
    cs.set_recv_buffer_size(60_000).unwrap();
    let c = cs.connect_timeout(kaddr, T5).expect("connect");
    let (k, peer) = kernel_accept(&kl, T5).expect("kernel accept");
    let out = env.exec(
        "ss",
        &["-tinH", &format!("src {kaddr}"), &format!("dst {peer}")],
        T5,
    );
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        text.split_whitespace().any(|w| w.starts_with("wscale:0,")),
        "Linux sees scale 0 from ustack: {text}"
    );
    assert_eq!(c.info().unwrap().rcv_wscale, 0);
    let sender = thread::spawn(move || {
        let mut k = k;
        let h = send_generated(&mut k, 113, 1 << 20, 1 << 14).expect("kernel send");
        k.shutdown(Shutdown::Write).unwrap();
        h
    });
    c.set_read_timeout(Some(T30)).unwrap();
    let (n, got) = hash_to_eof(&c, 4096).expect("ustack read");
    assert_eq!((n, got), (1 << 20, sender.join().unwrap()));
    assert!(c.info().unwrap().rcv_wnd <= 60_000);
    drop(c);

    // 3. SO_LINGER both ways.
    linger_with_linux(&env, &listener, &kl);
    // 4. Urgent data both ways.
    urgent_with_linux(&env, &listener);
    env.finish();
}

/// Urgent data (RFC 9293 §3.8.5) between ustack and Linux: Linux reads
/// the last byte of ustack's urgent data out of band (its pointer is
/// right), and ustack reports Linux's urgent bytes before reading them
/// inline.
fn urgent_with_linux(env: &Env, ustack_listener: &ustack_runtime::net::TcpListener) {
    use std::os::fd::AsRawFd;
    let uaddr = ustack_listener.local_addr().unwrap();
    let mut k = env
        .ns
        .run(move || std::net::TcpStream::connect_timeout(&uaddr, T5))
        .expect("kernel connect");
    let (mut u, _) = ustack_listener.accept_timeout(T5).expect("accept");
    k.set_read_timeout(Some(T5)).unwrap();
    u.set_read_timeout(Some(T5)).unwrap();

    u.write_all(b"abc").unwrap();
    assert_eq!(u.send_urgent(b"!").unwrap(), 1);
    let mut b = [0u8; 3];
    k.read_exact(&mut b).unwrap();
    assert_eq!(&b, b"abc");
    let mut oob = [0u8; 1];
    let mut got = 0;
    wait_for("Linux's recv(MSG_OOB)", T5, || {
        // SAFETY: a live socket and a one-byte buffer.
        got = unsafe { libc::recv(k.as_raw_fd(), oob.as_mut_ptr().cast(), 1, libc::MSG_OOB) };
        got == 1
    });
    assert_eq!(&oob, b"!", "the byte before ustack's urgent pointer");

    k.write_all(b"xyz").unwrap();
    // SAFETY: a live socket and a one-byte buffer.
    let sent = unsafe { libc::send(k.as_raw_fd(), b"!".as_ptr().cast(), 1, libc::MSG_OOB) };
    assert_eq!(sent, 1, "send(MSG_OOB): {}", io::Error::last_os_error());
    wait_for("ustack's urgent_pending", T5, || {
        u.urgent_pending().unwrap() == 4
    });
    let mut b = [0u8; 4];
    u.read_exact(&mut b).unwrap();
    assert_eq!(&b, b"xyz!");
    assert_eq!(u.urgent_pending().unwrap(), 0);
    eprintln!("[sockopts] urgent data: Linux took ustack's urgent byte out of band; ustack saw Linux's pointer");
}

/// Linux's SO_LINGER on a kernel socket.
fn kernel_linger(s: &std::net::TcpStream, secs: i32) {
    use std::os::fd::AsRawFd;
    let l = libc::linger {
        l_onoff: 1,
        l_linger: secs,
    };
    // SAFETY: a live socket, a pointer to a linger struct and its size.
    let r = unsafe {
        libc::setsockopt(
            s.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_LINGER,
            (&l as *const libc::linger).cast(),
            std::mem::size_of::<libc::linger>() as libc::socklen_t,
        )
    };
    assert_eq!(r, 0, "SO_LINGER: {}", io::Error::last_os_error());
}

/// SO_LINGER between ustack and Linux: a zero linger resets the other
/// side (no end of stream), whichever closes; a linger time makes
/// ustack's drop return once Linux has every byte and the FIN.
fn linger_with_linux(
    env: &Env,
    ustack_listener: &ustack_runtime::net::TcpListener,
    kernel_listener: &std::net::TcpListener,
) {
    let uaddr = ustack_listener.local_addr().unwrap();
    let kaddr = kernel_listener.local_addr().unwrap();
    // ustack closes with a zero linger: Linux's read fails ECONNRESET.
    let mut u = TcpStream::connect_timeout(&env.stack, &kaddr, T5).expect("connect");
    let (mut k, _) = kernel_accept(kernel_listener, T5).expect("kernel accept");
    k.set_read_timeout(Some(T5)).unwrap();
    u.write_all(b"x").unwrap();
    let mut b = [0u8; 1];
    k.read_exact(&mut b).unwrap();
    u.set_linger(Some(Duration::ZERO)).unwrap();
    drop(u);
    let e = k.read(&mut b).expect_err("Linux read after ustack's abort");
    assert_eq!(e.kind(), ErrorKind::ConnectionReset, "{e}");

    // Linux closes with a zero linger: ustack's read fails, and Linux keeps
    // no TIME-WAIT for it.
    let k = env
        .ns
        .run(move || std::net::TcpStream::connect_timeout(&uaddr, T5))
        .expect("kernel connect");
    let kport = k.local_addr().unwrap().port();
    let (mut u, _) = ustack_listener.accept_timeout(T5).expect("accept");
    u.set_read_timeout(Some(T5)).unwrap();
    kernel_linger(&k, 0);
    (&k).write_all(b"y").unwrap();
    u.read_exact(&mut b).unwrap();
    drop(k);
    let e = u.read(&mut b).expect_err("ustack read after Linux's abort");
    assert_eq!(e.kind(), ErrorKind::ConnectionReset, "{e}");
    let out = env.exec("ss", &["-tanH", "state", "time-wait"], T5);
    let tw = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        !tw.contains(&format!(":{kport} ")),
        "Linux kept a TIME-WAIT: {tw}"
    );

    // ustack lingers: 48 KiB (within Linux's first window) and the FIN are
    // all at Linux when the drop returns, long before the 20 s limit.
    let mut u = TcpStream::connect_timeout(&env.stack, &kaddr, T5).expect("connect");
    let (mut k, _) = kernel_accept(kernel_listener, T5).expect("kernel accept");
    let data: Vec<u8> = (0..48u32 << 10).map(|i| (i % 233) as u8).collect();
    u.write_all(&data).unwrap();
    u.set_linger(Some(Duration::from_secs(20))).unwrap();
    let t0 = Instant::now();
    drop(u);
    let waited = t0.elapsed();
    assert!(waited < T5, "the drop waited {waited:?}");
    k.set_nonblocking(true).unwrap();
    let mut got = Vec::new();
    let mut buf = vec![0u8; 1 << 16];
    loop {
        match k.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e) => panic!(
                "Linux after the drop ({waited:?}): {e}, {} bytes",
                got.len()
            ),
        }
    }
    assert!(got == data, "{} of {} bytes", got.len(), data.len());
    eprintln!("[sockopts] SO_LINGER: resets both ways; ustack's linger waited {waited:?}");
}

// ---------------------------------------------------------------------
// IP_TTL through a Linux router, and SO_BROADCAST
// ---------------------------------------------------------------------

/// Waits (bounded) until `cond` holds: for what ustack counts but no
/// socket reports, such as an ICMP time exceeded.
fn wait_for(what: &str, limit: Duration, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !cond() {
        assert!(Instant::now() < deadline, "{what}: not within {limit:?}");
        thread::sleep(Duration::from_millis(2));
    }
}

/// One datagram on a kernel socket with the TTL and the TOS byte it
/// arrived with (IP_RECVTTL, IP_RECVTOS), within the socket's read
/// timeout.
fn kernel_recv_with_ip(s: &std::net::UdpSocket) -> io::Result<(Vec<u8>, u8, u8)> {
    use std::os::fd::AsRawFd;
    let fd = s.as_raw_fd();
    let on: libc::c_int = 1;
    for opt in [libc::IP_RECVTTL, libc::IP_RECVTOS] {
        // SAFETY: a live socket, a pointer to an int and its size.
        let r = unsafe {
            libc::setsockopt(
                fd,
                libc::IPPROTO_IP,
                opt,
                (&on as *const libc::c_int).cast(),
                std::mem::size_of::<libc::c_int>() as libc::socklen_t,
            )
        };
        if r != 0 {
            return Err(io::Error::last_os_error());
        }
    }
    let mut data = vec![0u8; 2048];
    let mut control = [0u64; 16];
    let mut iov = libc::iovec {
        iov_base: data.as_mut_ptr().cast(),
        iov_len: data.len(),
    };
    // SAFETY: zero is a valid msghdr (null pointers, zero lengths).
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control.as_mut_ptr().cast();
    msg.msg_controllen = std::mem::size_of_val(&control) as _;
    // SAFETY: msg points at live buffers of the lengths it states.
    let n = unsafe { libc::recvmsg(fd, &mut msg, 0) };
    if n < 0 {
        return Err(io::Error::last_os_error());
    }
    data.truncate(n as usize);
    // SAFETY: the kernel filled `control` with `msg_controllen` bytes of
    // well-formed cmsg headers; the CMSG_* walk stays inside them.
    let (ttl, tos) = unsafe {
        let mut c = libc::CMSG_FIRSTHDR(&msg);
        let (mut ttl, mut tos) = (None, None);
        while !c.is_null() {
            if (*c).cmsg_level == libc::IPPROTO_IP && (*c).cmsg_type == libc::IP_TTL {
                ttl = Some(std::ptr::read_unaligned(
                    libc::CMSG_DATA(c).cast::<libc::c_int>(),
                ));
            }
            if (*c).cmsg_level == libc::IPPROTO_IP && (*c).cmsg_type == libc::IP_TOS {
                tos = Some(*libc::CMSG_DATA(c));
            }
            c = libc::CMSG_NXTHDR(&msg, c);
        }
        (ttl, tos)
    };
    let ttl = ttl.ok_or_else(|| io::Error::other("no IP_TTL control message"))?;
    let tos = tos.ok_or_else(|| io::Error::other("no IP_TOS control message"))?;
    Ok((data, ttl as u8, tos))
}

/// IP_TTL as a router sees it: a ustack datagram or segment sent with
/// TTL 1 dies at the Linux router in between (which answers ICMP time
/// exceeded, RFC 1812 §5.3.1), one with TTL 2 reaches the far host with
/// 1 left. Then SO_BROADCAST: refused without it, and with it Linux
/// receives ustack's broadcasts, limited and directed.
#[test]
fn interop_ttl_through_a_linux_router_and_broadcast() {
    use ustack_runtime::net::TcpSocket;
    let Some(env) = Env::setup_routed("ttl", 114, &[]) else {
        return;
    };
    let far = far_host(&env, "ttl", 214, None);
    let time_exceeded = || kernel_counters(&env.ns)["Icmp.OutTimeExcds"];

    // 1. UDP: the TTL each datagram arrives with, one hop down.
    let faddr: SocketAddr = "198.18.214.2:7700".parse().unwrap();
    let fs = far
        .run(|| std::net::UdpSocket::bind(faddr))
        .expect("far socket");
    fs.set_read_timeout(Some(T5)).unwrap();
    let u = UdpSocket::bind(&env.stack, "0.0.0.0:0").unwrap();
    assert_eq!(u.ttl().unwrap(), 64);
    u.send_to(b"ttl 64", faddr).unwrap();
    assert_eq!(
        kernel_recv_with_ip(&fs).unwrap(),
        (b"ttl 64".to_vec(), 63, 0)
    );
    let (te0, icmp0) = (time_exceeded(), env.stack.counters().icmp_in);
    u.set_ttl(1).unwrap();
    u.send_to(b"ttl 1", faddr).unwrap();
    u.set_ttl(2).unwrap();
    // IP_TOS too: EF with ECT(1), through the router unchanged.
    u.set_tos(0xb9).unwrap();
    u.send_to(b"ttl 2", faddr).unwrap();
    // The TTL-1 datagram never arrives: the next one is the TTL-2 one.
    assert_eq!(
        kernel_recv_with_ip(&fs).unwrap(),
        (b"ttl 2".to_vec(), 1, 0xb9)
    );
    assert_eq!(time_exceeded() - te0, 1, "the router dropped one");
    wait_for("the router's time exceeded at ustack", T5, || {
        env.stack.counters().icmp_in > icmp0
    });

    // 2. TCP: SYNs with TTL 1 die at the router, so connect times out;
    // with TTL 2 it connects, and a change of TTL on the open
    // connection applies to its next segment.
    let kaddr: SocketAddr = "198.18.214.2:7701".parse().unwrap();
    let kl = far
        .run(|| std::net::TcpListener::bind(kaddr))
        .expect("far listener");
    let te0 = time_exceeded();
    let s = TcpSocket::new(&env.stack);
    s.set_ttl(1).unwrap();
    let e = s
        .connect_timeout(kaddr, Duration::from_millis(1500))
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::TimedOut, "{e}");
    let dead_syns = time_exceeded() - te0;
    assert!(dead_syns >= 1, "the SYNs died at the router");
    let s = TcpSocket::new(&env.stack);
    s.set_ttl(2).unwrap();
    assert_eq!(s.ttl().unwrap(), 2);
    let mut c = s.connect_timeout(kaddr, T5).expect("connect with TTL 2");
    assert_eq!(c.ttl().unwrap(), 2);
    let (mut k, _) = kernel_accept(&kl, T5).expect("far accept");
    k.set_read_timeout(Some(T30)).unwrap();
    c.set_nodelay(true).unwrap();
    c.write_all(b"two hops").unwrap();
    let mut buf = [0u8; 8];
    k.read_exact(&mut buf).unwrap();
    assert_eq!(&buf, b"two hops");
    let te0 = time_exceeded();
    c.set_ttl(1).unwrap();
    c.write_all(b"!").unwrap();
    wait_for("the segment with TTL 1 dying at the router", T5, || {
        time_exceeded() > te0
    });
    c.set_ttl(64).unwrap();
    // Its retransmission, with TTL 64, gets through.
    k.read_exact(&mut buf[..1]).unwrap();
    assert_eq!(&buf[..1], b"!");
    eprintln!(
        "[ttl] UDP TTL 64/1/2 arrived with 63/-/1; {dead_syns} SYN(s) with TTL 1 dropped by \
         the router; TCP TTL 2 connected, TTL 1 data resent with 64"
    );
    drop((c, k));

    // 3. Broadcast: Linux receives it on a socket bound to the wildcard.
    let port = 7702;
    let ks = env
        .ns
        .run(|| std::net::UdpSocket::bind(("0.0.0.0", port)))
        .expect("kernel socket");
    ks.set_read_timeout(Some(T5)).unwrap();
    let b = UdpSocket::bind(&env.stack, "0.0.0.0:0").unwrap();
    let targets: [SocketAddr; 2] = [
        format!("198.18.{}.255:{port}", env.x).parse().unwrap(),
        format!("255.255.255.255:{port}").parse().unwrap(),
    ];
    for to in targets {
        let e = b.send_to(b"x", to).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::PermissionDenied, "{to}: {e}");
    }
    b.set_broadcast(true).unwrap();
    for to in targets {
        b.send_to(format!("to {to}").as_bytes(), to).unwrap();
        let mut buf = [0u8; 64];
        let (n, from) = ks.recv_from(&mut buf).expect("Linux got the broadcast");
        assert_eq!(&buf[..n], format!("to {to}").as_bytes());
        assert_eq!(from.ip(), env.ustack_ip());
    }
    env.finish();
    drop(far);
}

// ---------------------------------------------------------------------
// IPv6 (RFC 8200, RFC 4443) with Linux
// ---------------------------------------------------------------------

/// Over IPv6 with the kernel: ping6 (a 3000-byte one fragmented both
/// ways), TCP both directions with a `[::]` listener that takes the
/// kernel's IPv4 connection too, UDP with fragments both ways, and the
/// refusals: a RST for TCP and ICMPv6 port unreachable for UDP.
#[test]
fn interop_ipv6() {
    let Some(env) = Env::setup_v6("ipv6", 115, &["ping"]) else {
        return;
    };
    let (k6, u6) = (env.kernel_ip6(), env.ustack_ip6());

    // ping6: the kernel fragments the 3000-byte request, ustack the reply.
    let target = u6.to_string();
    for size in ["56", "3000"] {
        let args = ["-6", "-c", "3", "-W", "2", "-i", "0.2", "-s", size, &target];
        let out = env.exec("ping", &args, Duration::from_secs(20));
        let text = String::from_utf8_lossy(&out.stdout);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            out.status.success(),
            "ping {args:?}: {}\n{text}\n{err}",
            out.status
        );
        let reply = format!("{} bytes from {target}", size.parse::<usize>().unwrap() + 8);
        assert_eq!(text.matches(&reply).count(), 3, "ping {args:?}:\n{text}");
    }
    let c = env.stack.counters();
    assert!(c.ip_reassembled >= 3 && c.ip_fragments_out >= 6, "{c:?}");
    eprintln!("[ipv6] ping -6: 3/3 replies, small and fragmented");

    // TCP, kernel → ustack and back, through a `[::]` listener.
    let l = TcpListener::bind(&env.stack, "[::]:8000").unwrap();
    const TOTAL: u64 = 8 << 20;
    let served = thread::spawn(move || -> io::Result<Vec<SocketAddr>> {
        let mut peers = Vec::new();
        for _ in 0..2 {
            let (mut s, peer) = l.accept_timeout(T30)?;
            s.set_read_timeout(Some(T30))?;
            let (n, hash) = hash_to_eof(&mut s, 65536)?;
            let back = send_generated(&mut s, n, TOTAL, 65536)?;
            s.write_all(format!("{n} {hash} {back}\n").as_bytes())?;
            s.shutdown(Shutdown::Write)?;
            peers.push(peer);
        }
        Ok(peers)
    });
    for server in [SocketAddr::new(u6.into(), 8000), env.ustack_addr(8000)] {
        let r = env.ns.run(move || -> io::Result<(String, String, String)> {
            let mut s = std::net::TcpStream::connect_timeout(&server, T5)?;
            s.set_read_timeout(Some(T30))?;
            let sent = send_generated(&mut s, 115, TOTAL, 65536)?;
            s.shutdown(Shutdown::Write)?;
            let mut body = vec![0u8; TOTAL as usize];
            s.read_exact(&mut body)?;
            let mut line = String::new();
            s.read_to_string(&mut line)?;
            Ok((sent, sha256_hex(&body), line))
        });
        let (sent, got, line) = r.unwrap_or_else(|e| panic!("kernel client of {server}: {e}"));
        assert_eq!(line, format!("{TOTAL} {sent} {got}\n"), "to {server}");
    }
    let peers = served.join().unwrap().expect("ustack server");
    assert_eq!(peers[0].ip(), std::net::IpAddr::V6(k6));
    assert_eq!(peers[1].ip(), std::net::IpAddr::V4(env.kernel_ip()));
    eprintln!("[ipv6] TCP 8 MiB each way over IPv6, and over IPv4 to the same [::] listener");

    // TCP, ustack → kernel.
    let kaddr = SocketAddr::new(k6.into(), 8001);
    let kl = env
        .ns
        .run(|| std::net::TcpListener::bind(kaddr))
        .expect("kernel listener");
    let kernel_side = thread::spawn(move || -> io::Result<(SocketAddr, String)> {
        let (mut s, peer) = kernel_accept(&kl, T30)?;
        let (_, hash) = hash_to_eof(&mut s, 65536)?;
        Ok((peer, hash))
    });
    let mut s = TcpStream::connect_timeout(&env.stack, &kaddr, T5).unwrap();
    assert_eq!(s.local_addr().unwrap().ip(), std::net::IpAddr::V6(u6));
    let sent = send_generated(&mut s, 1150, TOTAL, 65536).unwrap();
    s.shutdown(Shutdown::Write).unwrap();
    let (peer, got) = kernel_side.join().unwrap().expect("kernel reader");
    assert_eq!((peer.ip(), got), (std::net::IpAddr::V6(u6), sent));
    drop(s);

    // UDP echo with fragments both ways, ustack's `[::]` socket.
    let uaddr = SocketAddr::new(u6.into(), 7);
    let srv = UdpSocket::bind(&env.stack, "[::]:7").unwrap();
    srv.set_read_timeout(Some(T30)).unwrap();
    let echo = thread::spawn(move || -> io::Result<usize> {
        let mut buf = vec![0u8; 65536];
        let mut served = 0;
        loop {
            let r = srv.recv_from_full(&mut buf)?;
            if &buf[..r.len] == b"quit" {
                return Ok(served);
            }
            srv.send_to(&buf[..r.len], r.from)?;
            served += 1;
        }
    });
    let attempts = env.ns.run(move || -> Result<Vec<usize>, String> {
        let s = std::net::UdpSocket::bind((k6, 0)).map_err(|e| e.to_string())?;
        s.set_read_timeout(Some(Duration::from_secs(1))).unwrap();
        let mut g = Gen::new(1151);
        let mut attempts = Vec::new();
        for len in [1, 1232, 1452, 1453, 3000, 30000, 65000] {
            let msg = g.bytes(len);
            attempts.push(udp_exchange(
                &msg,
                uaddr,
                |m| s.send_to(m, uaddr),
                |b| s.recv_from(b),
            )?);
        }
        s.send_to(b"quit", uaddr).map_err(|e| e.to_string())?;
        Ok(attempts)
    });
    let attempts = attempts.unwrap();
    assert!(echo.join().unwrap().expect("ustack echo") >= 7);
    eprintln!("[ipv6] UDP echo 1..65000 B over IPv6: attempts {attempts:?}");

    // Refusals: TCP to a closed port gets a RST, UDP an ICMPv6 port
    // unreachable that the kernel's connected socket reports.
    let closed = SocketAddr::new(u6.into(), 9);
    let (tcp, udp) = env.ns.run(move || {
        let tcp = std::net::TcpStream::connect_timeout(&closed, T5).map(drop);
        let udp = (|| -> io::Result<()> {
            let s = std::net::UdpSocket::bind("[::]:0")?;
            s.connect(closed)?;
            s.set_read_timeout(Some(Duration::from_secs(2)))?;
            s.send(b"anyone?")?;
            s.recv(&mut [0u8; 16]).map(drop)
        })();
        (tcp, udp)
    });
    assert_eq!(tcp.unwrap_err().kind(), ErrorKind::ConnectionRefused);
    assert_eq!(udp.unwrap_err().kind(), ErrorKind::ConnectionRefused);
    eprintln!("[ipv6] refused: TCP RST and ICMPv6 port unreachable reach the kernel's sockets");
    env.finish();
}
