//! Test harness: two stacks joined by a perfect in-memory wire, with a
//! virtual clock and an optional packet filter (to drop or inspect).
#![allow(dead_code)]
use std::collections::VecDeque;
use std::net::Shutdown;
use ustack::{Cidr, Config, Instant, SocketHandle, Stack, TcpState};

pub const A: &str = "198.18.0.1";
pub const B: &str = "198.18.0.2";

pub fn stack(addr: &str, seed: u64) -> Stack {
    let mut c = Config::default();
    c.addresses
        .push(format!("{addr}/24").parse::<Cidr>().expect("cidr"));
    c.seed = seed;
    Stack::new(c).expect("stack")
}

pub fn stack_with(addr: &str, seed: u64, f: impl FnOnce(&mut Config)) -> Stack {
    let mut c = Config::default();
    c.addresses
        .push(format!("{addr}/24").parse::<Cidr>().expect("cidr"));
    c.seed = seed;
    f(&mut c);
    Stack::new(c).expect("stack")
}

/// Decides whether a packet passes: (to_b, bytes, index) → deliver?
pub type Filter = Box<dyn FnMut(bool, &[u8], u64) -> bool>;

/// A logged packet: (time, to_b, bytes, passed the filter).
pub type LogEntry = (Instant, bool, Vec<u8>, bool);

/// Two stacks, a clock and in-flight packets (a→b and b→a) with a delay.
pub struct Pair {
    pub a: Stack,
    pub b: Stack,
    pub now: Instant,
    pub delay_us: u64,
    /// (deliver_at, to_b, bytes)
    pub inflight: VecDeque<(Instant, bool, Vec<u8>)>,
    /// Return false to drop a packet: (to_b, bytes, index).
    pub filter: Filter,
    pub sent: u64,
    pub log: Vec<LogEntry>,
}

impl Pair {
    pub fn new(seed: u64) -> Pair {
        Pair::with(stack(A, seed), stack(B, seed + 1000))
    }
    pub fn with(a: Stack, b: Stack) -> Pair {
        Pair {
            a,
            b,
            now: Instant::from_secs(1),
            delay_us: 5_000,
            inflight: VecDeque::new(),
            filter: Box::new(|_, _, _| true),
            sent: 0,
            log: Vec::new(),
        }
    }
    /// Moves all output into the wire.
    pub fn flush(&mut self) {
        let mut buf = vec![0u8; 65536];
        loop {
            let mut any = false;
            while let Some(n) = self.a.poll_transmit(self.now, &mut buf) {
                any = true;
                self.push(true, buf[..n].to_vec());
            }
            while let Some(n) = self.b.poll_transmit(self.now, &mut buf) {
                any = true;
                self.push(false, buf[..n].to_vec());
            }
            if !any {
                break;
            }
        }
    }
    fn push(&mut self, to_b: bool, p: Vec<u8>) {
        let idx = self.sent;
        self.sent += 1;
        let pass = (self.filter)(to_b, &p, idx);
        self.log.push((self.now, to_b, p.clone(), pass));
        if pass {
            let at = self.now + std::time::Duration::from_micros(self.delay_us);
            self.inflight.push_back((at, to_b, p));
        }
    }
    /// Advances to the next event; false when nothing is left to do.
    pub fn step(&mut self) -> bool {
        self.flush();
        let next_pkt = self.inflight.front().map(|x| x.0);
        let cands = [next_pkt, self.a.poll_at(), self.b.poll_at()];
        let Some(next) = cands.into_iter().flatten().min() else {
            return false;
        };
        if next > self.now {
            self.now = next;
        }
        while let Some((t, _, _)) = self.inflight.front() {
            if *t > self.now {
                break;
            }
            let Some((_, to_b, p)) = self.inflight.pop_front() else {
                break;
            };
            if to_b {
                self.b.receive(self.now, &p);
            } else {
                self.a.receive(self.now, &p);
            }
        }
        self.a.handle_timeout(self.now);
        self.b.handle_timeout(self.now);
        self.flush();
        true
    }
    /// Steps until `done` or the clock passes `limit_s` more seconds.
    pub fn run_until(&mut self, limit_s: u64, mut done: impl FnMut(&mut Pair) -> bool) -> bool {
        let end = self.now + std::time::Duration::from_secs(limit_s);
        let mut steps = 0u64;
        loop {
            if done(self) {
                return true;
            }
            if self.now > end || steps > 5_000_000 || !self.step() {
                return done(self);
            }
            steps += 1;
        }
    }
}

/// One line per packet: time, direction, flags, seq, ack, len, dropped.
pub fn describe(log: &[LogEntry]) -> String {
    use ustack::wire::ipv4::Ipv4Packet;
    use ustack::wire::tcp::{TcpPacket, TcpRepr};
    let mut out = String::new();
    for (t, to_b, p, pass) in log {
        let dir = if *to_b { "A->B" } else { "B->A" };
        let Ok(ip) = Ipv4Packet::new_checked(&p[..]) else {
            continue;
        };
        let Ok(tp) = TcpPacket::new_checked(ip.payload()) else {
            continue;
        };
        let Ok(r) = TcpRepr::parse(&tp) else { continue };
        out += &format!(
            "{t:?} {dir} {:?} seq={} ack={} win={} len={} ts={:?}{}\n",
            r.flags,
            r.seq,
            r.ack,
            r.window,
            r.payload.len(),
            r.options.timestamp,
            if *pass { "" } else { "  DROPPED" }
        );
    }
    out
}

/// Sends `data` from `c` (A) to `s` (B), then closes both ways; returns
/// what B read.
pub fn transfer(p: &mut Pair, c: SocketHandle, s: SocketHandle, data: &[u8]) -> Vec<u8> {
    let mut sent = 0;
    let mut got = Vec::new();
    let mut buf = vec![0u8; 65536];
    assert!(p.run_until(60, |p| {
        if sent < data.len() {
            if let Ok(n) = p.a.tcp_send(c, &data[sent..]) {
                sent += n;
                if sent == data.len() {
                    p.a.tcp_shutdown(c, Shutdown::Write).expect("shutdown");
                }
            }
        }
        loop {
            match p.b.tcp_recv(s, &mut buf) {
                Ok(0) => return true,
                Ok(n) => got.extend_from_slice(&buf[..n]),
                Err(_) => return false,
            }
        }
    }));
    p.b.tcp_shutdown(s, Shutdown::Write).expect("shutdown");
    assert!(
        p.run_until(10, |p| p.a.tcp_state(c).ok() == Some(TcpState::TimeWait)
            && p.b.tcp_state(s).ok() == Some(TcpState::Closed))
    );
    got
}
