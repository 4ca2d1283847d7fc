//! Busy-polling: a blocked application thread that waits for the device
//! itself spins on it for the busy-poll time before it sleeps, and only
//! for that long.
use std::io::{Read, Write};
use std::os::fd::RawFd;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::Duration;
use ustack::{Cidr, Config};
use ustack_devices::{Device, PairDevice};
use ustack_runtime::net::{TcpListener, TcpStream};
use ustack_runtime::Netstack;

/// A pair end that counts how often a waiter started spinning on it.
struct Counting {
    inner: PairDevice,
    spins: Arc<AtomicUsize>,
}

impl Device for Counting {
    fn mtu(&self) -> usize {
        self.inner.mtu()
    }
    fn recv(&self, buf: &mut [u8]) -> std::io::Result<Option<usize>> {
        self.inner.recv(buf)
    }
    fn send(&self, packet: &[u8]) -> std::io::Result<()> {
        self.inner.send(packet)
    }
    fn readable_fd(&self) -> RawFd {
        self.inner.readable_fd()
    }
    fn poller_fd(&self) -> Option<RawFd> {
        self.inner.poller_fd()
    }
    fn set_poller(&self, active: bool) {
        self.inner.set_poller(active)
    }
    fn rx_pending(&self) -> Option<bool> {
        self.inner.rx_pending()
    }
    fn set_spinning(&self, on: bool) {
        if on {
            self.spins.fetch_add(1, Ordering::SeqCst);
        }
        self.inner.set_spinning(on)
    }
}

fn config(addr: &str, seed: u64) -> Config {
    let mut c = Config::default();
    c.addresses.push(addr.parse::<Cidr>().expect("cidr"));
    c.seed = seed;
    c
}

/// Two stacks over counting pair ends, with the given busy-poll time;
/// the spin counters of the client and server ends.
fn stacks(busy: Duration) -> (Netstack, Netstack, Arc<AtomicUsize>, Arc<AtomicUsize>) {
    let (da, db) = ustack_devices::pair(1500).expect("pair");
    let (sa, sb) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let a = Netstack::new(
        config("198.18.0.1/24", 1),
        Counting {
            inner: da,
            spins: sa.clone(),
        },
    )
    .expect("stack a");
    let b = Netstack::new(
        config("198.18.0.2/24", 2),
        Counting {
            inner: db,
            spins: sb.clone(),
        },
    )
    .expect("stack b");
    a.set_busy_poll(busy);
    b.set_busy_poll(busy);
    assert_eq!(a.busy_poll(), busy);
    (a, b, sa, sb)
}

/// 32-byte echo, `rounds` times; checks every reply.
fn echo(a: &Netstack, b: &Netstack, rounds: u32) {
    let l = TcpListener::bind(b, "198.18.0.2:7100").expect("bind");
    let srv = thread::spawn(move || {
        let (mut s, _) = l.accept().expect("accept");
        s.set_nodelay(true).expect("nodelay");
        let mut m = [0u8; 32];
        while s.read_exact(&mut m).is_ok() {
            s.write_all(&m).expect("reply");
        }
    });
    let mut c = TcpStream::connect(a, "198.18.0.2:7100").expect("connect");
    c.set_nodelay(true).expect("nodelay");
    for i in 0..rounds {
        let msg = [(i % 251) as u8; 32];
        c.write_all(&msg).expect("send");
        let mut reply = [0u8; 32];
        c.read_exact(&mut reply).expect("reply");
        assert_eq!(reply, msg, "round {i}");
    }
    drop(c);
    srv.join().expect("server");
}

#[test]
fn blocked_readers_busy_poll_the_pair() {
    let (a, b, sa, sb) = stacks(ustack_runtime::DEFAULT_BUSY_POLL);
    echo(&a, &b, 200);
    let (ca, cb) = (sa.load(Ordering::SeqCst), sb.load(Ordering::SeqCst));
    eprintln!("spins: client end {ca}, server end {cb}");
    assert!(ca > 0 && cb > 0, "no busy-poll: client {ca}, server {cb}");
}

#[test]
fn zero_busy_poll_never_spins() {
    let (a, b, sa, sb) = stacks(Duration::ZERO);
    echo(&a, &b, 200);
    assert_eq!(sa.load(Ordering::SeqCst), 0);
    assert_eq!(sb.load(Ordering::SeqCst), 0);
}

fn process_cpu_time() -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: valid pointer to a timespec.
    unsafe {
        libc::clock_gettime(libc::CLOCK_PROCESS_CPUTIME_ID, &mut ts);
    }
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

#[test]
fn a_reader_waiting_for_nothing_stops_spinning() {
    // 20 ms of busy-poll, then a read that waits 1 s for data that never
    // comes: the reader spins once, then sleeps.
    let (a, b, sa, _) = stacks(Duration::from_millis(20));
    let l = TcpListener::bind(&b, "198.18.0.2:7101").expect("bind");
    let mut c = TcpStream::connect(&a, "198.18.0.2:7101").expect("connect");
    let _s = l.accept().expect("accept");
    c.set_read_timeout(Some(Duration::from_secs(1)))
        .expect("timeout");
    let spins0 = sa.load(Ordering::SeqCst);
    let before = process_cpu_time();
    let mut buf = [0u8; 16];
    let r = c.read(&mut buf);
    let used = process_cpu_time() - before;
    let spins = sa.load(Ordering::SeqCst) - spins0;
    eprintln!("read: {r:?}; CPU over the 1 s wait: {used:?}; spins: {spins}");
    assert!(r.is_err(), "read returned {r:?} with nothing sent");
    assert!(spins >= 1, "the reader did not busy-poll");
    assert!(
        used < Duration::from_millis(300),
        "a 1 s wait used {used:?} of CPU (20 ms busy-poll)"
    );
}
