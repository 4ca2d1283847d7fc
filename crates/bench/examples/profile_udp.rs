//! UDP datagrams between two in-memory ustack stacks, for profilers and
//! for the allocation count of the UDP path:
//! `profile_udp [PAYLOAD_BYTES] [DATAGRAMS]` (defaults 1400 and 1 000 000).
//!
//! Stack A sends bursts of 32 datagrams to stack B, the packets cross an
//! in-process hand-off (`poll_transmit` → `receive`), B's application
//! reads each one and checks its bytes. Printed: datagrams per second of
//! CPU time and heap allocations per datagram (all of it: both stacks,
//! the link and the application, counted by a wrapping global allocator).
use std::alloc::{GlobalAlloc, Layout, System};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use ustack::{Config, Instant, Stack};

struct Counting;

static ALLOCS: AtomicU64 = AtomicU64::new(0);

// SAFETY: forwards to the system allocator unchanged; only counts.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: the caller's contract is passed on as is.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: as above.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: as above.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn stack(addr: &str, seed: u64) -> Stack {
    let mut c = Config::default();
    c.addresses.push(addr.parse().expect("cidr"));
    c.seed = seed;
    Stack::new(c).expect("stack")
}

fn cpu_seconds() -> f64 {
    // SAFETY: getrusage fills the struct it is given.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: a valid pointer to a rusage.
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut ru) };
    let tv = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    tv(ru.ru_utime) + tv(ru.ru_stime)
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let size: usize = args.get(1).and_then(|s| s.parse().ok()).unwrap_or(1400);
    let count: u64 = args
        .get(2)
        .and_then(|s| s.parse().ok())
        .unwrap_or(1_000_000);
    let mut a = stack("198.18.0.1/24", 1);
    let mut b = stack("198.18.0.2/24", 2);
    let (aa, ba): (SocketAddr, SocketAddr) = (
        "198.18.0.1:5000".parse().unwrap(),
        "198.18.0.2:6000".parse().unwrap(),
    );
    let ua = a.udp_bind(aa).expect("bind a");
    let ub = b.udp_bind(ba).expect("bind b");
    let payload: Vec<u8> = (0..size).map(|i| (i * 7) as u8).collect();
    let mut frame = vec![0u8; 65536];
    let mut got = vec![0u8; 65536];
    let now = Instant::from_secs(1);
    let (mut sent, mut received) = (0u64, 0u64);
    // Warm-up round outside the counts.
    let step = |a: &mut Stack, b: &mut Stack, frame: &mut [u8], got: &mut [u8], n: u64| {
        let mut r = 0u64;
        for _ in 0..n {
            a.udp_send_to(ua, &payload, ba).expect("send");
        }
        while let Some(len) = a.poll_transmit(now, frame) {
            b.receive(now, &frame[..len]);
        }
        while let Ok(d) = b.udp_recv_from(ub, got) {
            assert_eq!(&got[..d.len], &payload[..], "datagram intact");
            r += 1;
        }
        r
    };
    step(&mut a, &mut b, &mut frame, &mut got, 32);
    let (allocs0, cpu0) = (ALLOCS.load(Ordering::Relaxed), cpu_seconds());
    while sent < count {
        let n = 32.min(count - sent);
        received += step(&mut a, &mut b, &mut frame, &mut got, n);
        sent += n;
    }
    let (allocs, cpu) = (
        ALLOCS.load(Ordering::Relaxed) - allocs0,
        cpu_seconds() - cpu0,
    );
    assert_eq!(received, sent, "every datagram arrived");
    println!(
        "udp {size}-byte payloads: {received} datagrams, {:.0} datagrams per CPU-s, \
         {:.2} Gbit/s of payload per CPU-s, {:.3} heap allocations per datagram",
        received as f64 / cpu,
        received as f64 * size as f64 * 8.0 / cpu / 1e9,
        allocs as f64 / received as f64
    );
}
