//! The Linux kernel anchors: std::net over loopback.
use crate::link::{check_pattern, source_at};
use crate::sys;
use crate::{Bulk, ConnRun, Echo, APP_CHUNK};
use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

/// Bulk transfer over loopback: a sender and a receiver thread, 64 KiB
/// writes and reads. With `mtu` and root, runs in a fresh network
/// namespace whose loopback has that MTU; otherwise on the host's
/// loopback (MTU 65536). Returns the run and a note on the set-up.
pub fn bulk(
    mtu: Option<usize>,
    total: u64,
    verify: bool,
    src: Arc<Vec<u8>>,
) -> io::Result<(Bulk, String)> {
    thread::Builder::new()
        .name("kernel-bulk".into())
        .spawn(move || {
            let mut note = "host loopback (MTU 65536)".to_string();
            if let Some(m) = mtu {
                if sys::tun_prerequisite().is_ok() {
                    sys::unshare_netns()?;
                    sys::configure_iface("lo", Some(m), None)?;
                    note = format!("loopback MTU {m} in a private network namespace");
                }
            }
            let (bulk, _) = stream_bulk(total, verify, &src)?;
            Ok((bulk, note))
        })?
        .join()
        .map_err(|_| io::Error::other("kernel bulk thread panicked"))?
}

/// Loopback bulk in the calling thread's namespace.
pub fn stream_bulk(total: u64, verify: bool, src: &Arc<Vec<u8>>) -> io::Result<(Bulk, u64)> {
    let l = TcpListener::bind("127.0.0.1:0")?;
    let addr = l.local_addr()?;
    let src2 = src.clone();
    let rx = thread::spawn(move || -> io::Result<(u64, bool)> {
        let (mut s, _) = l.accept()?;
        let mut buf = vec![0u8; APP_CHUNK];
        let (mut got, mut intact) = (0u64, true);
        loop {
            let n = s.read(&mut buf)?;
            if n == 0 {
                break;
            }
            if verify && !check_pattern(&src2, got, &buf[..n]) {
                intact = false;
            }
            got += n as u64;
        }
        Ok((got, intact))
    });
    let mut c = TcpStream::connect(addr)?;
    let t0 = Instant::now();
    let cpu0 = sys::process_cpu();
    let mut sent = 0u64;
    while sent < total {
        let chunk = source_at(src, sent, APP_CHUNK.min((total - sent) as usize));
        c.write_all(chunk)?;
        sent += chunk.len() as u64;
    }
    c.shutdown(Shutdown::Write)?;
    let (got, intact) = rx
        .join()
        .map_err(|_| io::Error::other("receiver panicked"))??;
    let wall = t0.elapsed();
    let cpu = sys::process_cpu() - cpu0;
    Ok((
        Bulk {
            bytes: got,
            wall,
            cpu,
            intact: intact && got == total,
            packets: 0,
        },
        sent,
    ))
}

fn set_backlog(l: &TcpListener, backlog: i32) {
    // SAFETY: listen() again on a listening socket only updates the backlog.
    unsafe {
        libc::listen(l.as_raw_fd(), backlog);
    }
}

/// Connection rate over loopback: connect, 1 byte each way, close; the
/// server thread answers and closes first. With `parallel` > 1 the client
/// opens waves of `parallel` connections before exchanging on them.
pub fn conn(total: usize, parallel: usize) -> io::Result<ConnRun> {
    sys::raise_nofile(4 * parallel as u64 + 1024);
    let l = TcpListener::bind("127.0.0.1:0")?;
    set_backlog(&l, 4096);
    let addr = l.local_addr()?;
    let server = thread::spawn(move || -> io::Result<()> {
        let mut b = [0u8; 1];
        for _ in 0..total {
            let (mut s, _) = l.accept()?;
            if s.read_exact(&mut b).is_ok() {
                let _ = s.write_all(b"r");
            }
        }
        Ok(())
    });
    let t0 = Instant::now();
    let cpu0 = sys::process_cpu();
    let (mut done, mut failed) = (0usize, 0usize);
    let mut b = [0u8; 1];
    let mut one = |s: &mut TcpStream| -> bool { s.read_exact(&mut b).is_ok() };
    while done + failed < total {
        let k = parallel.min(total - done - failed);
        let mut wave = Vec::with_capacity(k);
        for _ in 0..k {
            let mut s = TcpStream::connect(addr)?;
            s.write_all(b"q")?;
            wave.push(s);
        }
        for mut s in wave {
            if one(&mut s) {
                done += 1;
            } else {
                failed += 1;
            }
        }
    }
    let wall = t0.elapsed();
    let cpu = sys::process_cpu() - cpu0;
    server
        .join()
        .map_err(|_| io::Error::other("server panicked"))??;
    Ok(ConnRun {
        done,
        failed,
        wall,
        cpu,
    })
}

/// 32-byte echo round trips over loopback (TCP_NODELAY both ends).
pub fn echo(rounds: usize) -> io::Result<Echo> {
    let l = TcpListener::bind("127.0.0.1:0")?;
    let addr: SocketAddr = l.local_addr()?;
    let server = thread::spawn(move || -> io::Result<()> {
        let (mut s, _) = l.accept()?;
        s.set_nodelay(true)?;
        let mut b = [0u8; 32];
        loop {
            match s.read_exact(&mut b) {
                Ok(()) => s.write_all(&b)?,
                Err(_) => return Ok(()),
            }
        }
    });
    let mut c = TcpStream::connect(addr)?;
    c.set_nodelay(true)?;
    let r = crate::echo_rounds(rounds, |msg, reply| {
        c.write_all(msg)?;
        c.read_exact(reply)
    });
    drop(c);
    let _ = server.join();
    r
}

/// Gives the kernel a moment between workloads (TIME-WAIT sockets of the
/// connection workloads linger; nothing to do but not measure them).
pub fn pause() {
    thread::sleep(Duration::from_millis(50));
}
