//! Two stacks (A at 198.18.0.1, B at 198.18.0.2) on an in-memory wire with
//! a virtual clock: fixed delay plus seeded loss, jitter (reordering) and
//! duplication, a kill switch (the peer "vanishes"), and `inject` for
//! forged traffic that bypasses the wire.
use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::net::Ipv4Addr;
use ustack::rng::Rng;
use ustack::{Cidr, Config, Duration, Instant, Stack};

pub const A_IP: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 1);
pub const B_IP: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 2);

pub fn config(addr: Ipv4Addr, seed: u64) -> Config {
    let mut c = Config::default();
    c.addresses
        .push(format!("{addr}/24").parse::<Cidr>().expect("cidr"));
    c.seed = seed;
    c
}

/// Link impairments (same both ways).
#[derive(Debug, Clone, Copy)]
pub struct Impair {
    pub delay: Duration,
    /// Uniform extra delay in [0, jitter): reorders packets.
    pub jitter: Duration,
    pub loss: f64,
    pub duplicate: f64,
}

impl Default for Impair {
    fn default() -> Self {
        Impair {
            delay: Duration::from_millis(5),
            jitter: Duration::ZERO,
            loss: 0.0,
            duplicate: 0.0,
        }
    }
}

/// A packet in flight: (deliver at, order, to_b, bytes).
type InFlight = Reverse<(Instant, u64, bool, Vec<u8>)>;

pub struct Wire {
    pub a: Stack,
    pub b: Stack,
    pub now: Instant,
    pub impair: Impair,
    /// While set, packets leaving A (resp. B) are lost: that side vanished.
    pub a_dead: bool,
    pub b_dead: bool,
    rng: Rng,
    inflight: BinaryHeap<InFlight>,
    order: u64,
    /// Every packet each stack put on the wire (before impairments).
    pub sent_by_a: u64,
    pub sent_by_b: u64,
    /// Last packet each side emitted (what an observer of the path sees).
    pub last_from_a: Option<Vec<u8>>,
    pub last_from_b: Option<Vec<u8>>,
    buf: Vec<u8>,
}

impl Wire {
    pub fn new(seed: u64, impair: Impair) -> Wire {
        Wire::with(
            Stack::new(config(A_IP, seed)).expect("stack a"),
            Stack::new(config(B_IP, seed.wrapping_add(1000))).expect("stack b"),
            seed,
            impair,
        )
    }

    pub fn with(a: Stack, b: Stack, seed: u64, impair: Impair) -> Wire {
        Wire {
            a,
            b,
            now: Instant::from_secs(1),
            impair,
            a_dead: false,
            b_dead: false,
            rng: Rng::new(seed ^ 0x5eed_0f7e_5757),
            inflight: BinaryHeap::new(),
            order: 0,
            sent_by_a: 0,
            sent_by_b: 0,
            last_from_a: None,
            last_from_b: None,
            buf: vec![0u8; 65536],
        }
    }

    fn put(&mut self, to_b: bool, p: Vec<u8>) {
        let dead = if to_b { self.a_dead } else { self.b_dead };
        if dead || self.rng.chance(self.impair.loss) {
            return;
        }
        let copies = if self.rng.chance(self.impair.duplicate) {
            2
        } else {
            1
        };
        for _ in 0..copies {
            let jitter = self.impair.jitter.as_micros() as u64;
            let extra = Duration::from_micros(self.rng.range(0, jitter.max(1)));
            let at = self.now + self.impair.delay + extra;
            self.order += 1;
            self.inflight
                .push(Reverse((at, self.order, to_b, p.clone())));
        }
    }

    /// Moves every packet the stacks want to send onto the wire.
    pub fn flush(&mut self) {
        loop {
            let mut any = false;
            while let Some(n) = self.a.poll_transmit(self.now, &mut self.buf) {
                any = true;
                let p = self.buf[..n].to_vec();
                self.sent_by_a += 1;
                self.last_from_a = Some(p.clone());
                self.put(true, p);
            }
            while let Some(n) = self.b.poll_transmit(self.now, &mut self.buf) {
                any = true;
                let p = self.buf[..n].to_vec();
                self.sent_by_b += 1;
                self.last_from_b = Some(p.clone());
                self.put(false, p);
            }
            if !any {
                return;
            }
        }
    }

    /// The next event time (delivery or timer), if any.
    pub fn next_event(&self) -> Option<Instant> {
        let pkt = self.inflight.peek().map(|Reverse((t, ..))| *t);
        [pkt, self.a.poll_at(), self.b.poll_at()]
            .into_iter()
            .flatten()
            .min()
    }

    /// Advances to the next event and processes it; false when idle.
    pub fn step(&mut self) -> bool {
        self.flush();
        let Some(next) = self.next_event() else {
            return false;
        };
        self.now = self.now.max(next);
        self.process();
        true
    }

    /// Advances the clock to `t` (at most) processing events on the way.
    pub fn run_to(&mut self, t: Instant) {
        loop {
            self.flush();
            match self.next_event() {
                Some(n) if n <= t => {
                    self.now = self.now.max(n);
                    self.process();
                }
                _ => break,
            }
        }
        self.now = self.now.max(t);
        self.process();
    }

    fn process(&mut self) {
        while self
            .inflight
            .peek()
            .is_some_and(|Reverse((t, ..))| *t <= self.now)
        {
            let Some(Reverse((_, _, to_b, p))) = self.inflight.pop() else {
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
    }

    /// Hands a forged packet straight to B (`to_b`) or A, now.
    pub fn inject(&mut self, to_b: bool, pkt: &[u8]) {
        if to_b {
            self.b.receive(self.now, pkt);
        } else {
            self.a.receive(self.now, pkt);
        }
    }

    /// Steps until `done` returns true or `limit` of virtual time passed
    /// (or nothing is left to do). Returns `done`'s last answer.
    pub fn run_until(&mut self, limit: Duration, mut done: impl FnMut(&mut Wire) -> bool) -> bool {
        let end = self.now + limit;
        let mut steps = 0u64;
        loop {
            if done(self) {
                return true;
            }
            if self.now > end || steps > 20_000_000 || !self.step() {
                return done(self);
            }
            steps += 1;
        }
    }

    pub fn in_flight(&self) -> usize {
        self.inflight.len()
    }
}
