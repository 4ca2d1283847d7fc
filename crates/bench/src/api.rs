//! ustack's blocking API across threads: two `Netstack`s (each with its
//! driver thread) joined by `ustack_devices::pair`, application threads
//! using `ustack_runtime::net::{TcpListener, TcpStream}`.
use crate::link::{check_pattern, source_at};
use crate::sys;
use crate::ustack_mem::{config, ADDR_A, ADDR_B};
use crate::{Bulk, Echo, APP_CHUNK};
use std::io::{self, Read, Write};
use std::net::{IpAddr, Shutdown, SocketAddr};
use std::sync::Arc;
use std::thread;
use std::time::Instant;
use ustack_runtime::net::{TcpListener, TcpStream};
use ustack_runtime::Netstack;

/// MTU of the pair link (the kernel's loopback carries 64 KiB too).
pub const API_MTU: usize = 65535;

fn netstacks(buffer: usize) -> io::Result<(Netstack, Netstack)> {
    let (da, db) = ustack_devices::pair(API_MTU)?;
    let na = Netstack::new(config(ADDR_A, API_MTU, buffer, 11), da)?;
    let nb = Netstack::new(config(ADDR_B, API_MTU, buffer, 12), db)?;
    Ok((na, nb))
}

pub fn bulk(buffer: usize, total: u64, verify: bool, src: Arc<Vec<u8>>) -> io::Result<Bulk> {
    let (na, nb) = netstacks(buffer)?;
    let server = SocketAddr::new(IpAddr::V4(ADDR_B), 5001);
    let l = TcpListener::bind(&nb, server)?;
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
    let mut c = TcpStream::connect(&na, server)?;
    let t0 = Instant::now();
    let cpu0 = sys::process_cpu();
    let mut sent = 0u64;
    while sent < total {
        let chunk = source_at(&src, sent, APP_CHUNK.min((total - sent) as usize));
        c.write_all(chunk)?;
        sent += chunk.len() as u64;
    }
    c.shutdown(Shutdown::Write)?;
    let (got, intact) = rx
        .join()
        .map_err(|_| io::Error::other("receiver panicked"))??;
    let wall = t0.elapsed();
    let cpu = sys::process_cpu() - cpu0;
    drop(c);
    Ok(Bulk {
        bytes: got,
        wall,
        cpu,
        intact: intact && got == total,
        packets: 0,
    })
}

pub fn echo(buffer: usize, rounds: usize) -> io::Result<Echo> {
    let (na, nb) = netstacks(buffer)?;
    let server = SocketAddr::new(IpAddr::V4(ADDR_B), 5002);
    let l = TcpListener::bind(&nb, server)?;
    let srv = thread::spawn(move || -> io::Result<()> {
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
    let mut c = TcpStream::connect(&na, server)?;
    c.set_nodelay(true)?;
    let r = crate::echo_rounds(rounds, |msg, reply| {
        c.write_all(msg)?;
        c.read_exact(reply)
    });
    drop(c);
    let _ = srv.join();
    r
}
