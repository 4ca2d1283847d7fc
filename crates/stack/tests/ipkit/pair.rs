//! Two stacks on a perfect wire with a fixed delay and a virtual clock (the
//! pattern of `tests/common`, kept here so these tests own their harness).
use super::{A_IP, B_IP};
use std::collections::VecDeque;
use ustack::{Cidr, Config, Duration, Instant, Stack};

pub fn pair_stack(addr: std::net::Ipv4Addr, seed: u64) -> Stack {
    let mut c = Config::default();
    c.addresses
        .push(format!("{addr}/24").parse::<Cidr>().expect("cidr"));
    c.seed = seed;
    Stack::new(c).expect("stack")
}

/// One packet put on the wire.
#[derive(Debug, Clone)]
pub struct Sent {
    pub at: Instant,
    pub to_b: bool,
    pub bytes: Vec<u8>,
}

pub struct Pair {
    pub a: Stack,
    pub b: Stack,
    pub now: Instant,
    pub delay: Duration,
    inflight: VecDeque<(Instant, bool, Vec<u8>)>,
    pub log: Vec<Sent>,
}

impl Pair {
    /// A at 198.18.0.1/24, B at 198.18.0.2/24.
    pub fn new(seed: u64) -> Pair {
        Pair {
            a: pair_stack(A_IP, seed),
            b: pair_stack(B_IP, seed + 1000),
            now: Instant::from_secs(1),
            delay: Duration::from_millis(5),
            inflight: VecDeque::new(),
            log: Vec::new(),
        }
    }

    fn flush(&mut self) {
        let mut buf = vec![0u8; 65536];
        loop {
            let mut any = false;
            for to_b in [true, false] {
                loop {
                    let s = if to_b { &mut self.a } else { &mut self.b };
                    let Some(n) = s.poll_transmit(self.now, &mut buf) else {
                        break;
                    };
                    any = true;
                    let bytes = buf[..n].to_vec();
                    self.log.push(Sent {
                        at: self.now,
                        to_b,
                        bytes: bytes.clone(),
                    });
                    self.inflight
                        .push_back((self.now + self.delay, to_b, bytes));
                }
            }
            if !any {
                return;
            }
        }
    }

    /// Advances to the next event; false when nothing is left to do.
    pub fn step(&mut self) -> bool {
        self.flush();
        let next_pkt = self.inflight.front().map(|x| x.0);
        let Some(next) = [next_pkt, self.a.poll_at(), self.b.poll_at()]
            .into_iter()
            .flatten()
            .min()
        else {
            return false;
        };
        self.now = self.now.max(next);
        while self.inflight.front().is_some_and(|x| x.0 <= self.now) {
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

    /// Steps until nothing is left to do (no packet in flight, no timer).
    pub fn settle(&mut self) {
        for _ in 0..100_000 {
            if !self.step() {
                return;
            }
        }
        panic!("the pair never settles");
    }

    /// Steps until `done` or `limit` of virtual time has passed.
    pub fn run_until(&mut self, limit: Duration, mut done: impl FnMut(&mut Pair) -> bool) -> bool {
        let end = self.now + limit;
        for _ in 0..1_000_000 {
            if done(self) {
                return true;
            }
            if self.now > end || !self.step() {
                break;
            }
        }
        done(self)
    }

    /// Packets sent towards `to_b` (bytes only).
    pub fn sent(&self, to_b: bool) -> Vec<Vec<u8>> {
        self.log
            .iter()
            .filter(|s| s.to_b == to_b)
            .map(|s| s.bytes.clone())
            .collect()
    }
}
