//! One direction of a simulated link: a drop-tail queue in front of a
//! serializer of fixed rate, then a propagation delay with impairments.
//!
//! # Model
//!
//! A packet offered at `now` goes through, in order:
//!
//! 1. **MTU**: a packet longer than `mtu` is dropped (`dropped_mtu`).
//!    Whoever drives the link (a simulated [`Network`](super::Network),
//!    the emulated [`Forwarder`](crate::Forwarder)) then answers it as a
//!    router would, with ICMP "fragmentation needed" (DF IPv4) or ICMPv6
//!    Packet Too Big, unless the link is a Path MTU black hole
//!    (`black_hole`): it then says nothing ([`Link::answer_too_big`],
//!    counted in `black_holed`). A too-big IPv4 packet without DF is
//!    dropped silently either way (the link never fragments).
//! 2. **Queue**: occupancy is the number of accepted packets whose
//!    serialization has not finished at `now`. If it is `queue_pkts` or more
//!    the packet is dropped (`dropped_queue`, drop-tail).
//! 3. **Serialization**: the packet leaves the queue at
//!    `max(now, link_free) + size·8 / rate` and the link is busy until then
//!    (`rate_mbps: None` means infinitely fast).
//! 4. **Loss** (`dropped_loss`), decided per packet after serialization (a
//!    lost packet still used the bottleneck):
//!    - independent loss with probability `loss`;
//!    - a Gilbert–Elliott channel: in the *good* state nothing extra is
//!      lost and the channel enters the *bad* state with probability
//!      `burst_loss` per packet; in the *bad* state each packet is lost with
//!      probability [`GE_BAD_LOSS`] (0.5) and the channel returns to good
//!      with probability [`GE_LEAVE_BAD`] (0.3) per packet, so a bad period
//!      lasts 1/0.3 ≈ 3.3 packets on average. The state transition is drawn
//!      before the loss decision for each packet.
//! 5. **Corruption** with probability `corrupt`: 1–3 bits are flipped at
//!    random places in the packet (header or payload). The bits are chosen
//!    at distinct positions modulo 16, so that the Internet checksum is
//!    guaranteed to catch the damage (two flips at the same position of two
//!    16-bit words in opposite directions cancel in a ones'-complement sum;
//!    with distinct positions the sum always changes).
//! 6. **Delay**: delivery at `departure + delay + U(-jitter, +jitter)`
//!    (never before departure). Jitter alone never reorders: the delivery
//!    time is clamped to be no earlier than the previous in-order delivery.
//! 7. **Reordering** with probability `reorder`: the packet gets an extra
//!    delay of 1–3 packet-times plus 1–4 ms, and does not hold back later
//!    packets, so these overtake it.
//! 8. **Duplication** with probability `duplicate`: a second copy is
//!    delivered at the same time, right after the original.
//!
//! All randomness comes from one seeded [`Rng`]; pending deliveries sit in
//! a binary heap keyed by (time, sequence number), so ties are resolved in
//! the order packets were sent and a run is reproducible bit for bit.
use serde::{Deserialize, Serialize};
use std::cmp::{Ordering, Reverse};
use std::collections::{BinaryHeap, VecDeque};
use std::net::Ipv4Addr;
use ustack::rng::Rng;
use ustack::{Duration, Instant};

/// Gilbert–Elliott: loss probability while in the bad state.
pub const GE_BAD_LOSS: f64 = 0.5;
/// Gilbert–Elliott: probability per packet of leaving the bad state.
pub const GE_LEAVE_BAD: f64 = 0.3;

/// Serde helper: a `Duration` as fractional milliseconds.
pub(crate) mod serde_ms {
    use serde::{Deserialize, Deserializer, Serializer};
    use std::time::Duration;

    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_f64(d.as_secs_f64() * 1000.0)
    }
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        let ms = f64::deserialize(d)?;
        super::duration_from_ms(ms).map_err(serde::de::Error::custom)
    }
}

/// Converts fractional milliseconds to a `Duration` (µs resolution),
/// rejecting negative, NaN and absurdly large values.
pub fn duration_from_ms(ms: f64) -> Result<Duration, String> {
    if !ms.is_finite() || ms < 0.0 {
        return Err(format!(
            "invalid duration {ms} ms: must be a finite number >= 0"
        ));
    }
    if ms > 1e9 {
        return Err(format!("invalid duration {ms} ms: too large"));
    }
    Ok(Duration::from_micros((ms * 1000.0).round() as u64))
}

/// What a router answers, from `from`, to `pkt` that has DF set and is
/// too big for a link of `mtu` bytes (RFC 1191 §4, RFC 1812 §5.2.7.1): ICMP
/// "fragmentation needed" (type 3 code 4) with the link's MTU, quoting the
/// original IP header and 8 bytes of its payload (RFC 792). None unless
/// `pkt` is an IPv4 datagram with DF set, or when it is itself an ICMP
/// error (RFC 1122 §3.2.2: never an error about an error).
pub fn frag_needed_reply(pkt: &[u8], mtu: usize, from: Ipv4Addr) -> Option<Vec<u8>> {
    use ustack::wire::icmpv4::{unreachable, Icmpv4Repr};
    use ustack::wire::ipv4::{self, Ipv4Packet, Ipv4Repr};
    let ip = Ipv4Packet::new_checked(pkt).ok()?;
    if !ip.dont_frag() {
        return None;
    }
    let hl = ip.header_len();
    if ip.protocol() == ipv4::PROTO_ICMP
        && pkt
            .get(hl)
            .is_some_and(|&t| ustack::wire::icmpv4::is_error(t))
    {
        return None;
    }
    let msg = Icmpv4Repr::DstUnreachable {
        code: unreachable::FRAG_NEEDED,
        next_hop_mtu: u16::try_from(mtu).unwrap_or(u16::MAX),
        quoted: &pkt[..pkt.len().min(hl + 8)],
    };
    let len = ipv4::HEADER_LEN + msg.buffer_len();
    let mut out = vec![0u8; len];
    Ipv4Repr {
        src: from,
        dst: ip.src_addr(),
        protocol: ipv4::PROTO_ICMP,
        payload_len: msg.buffer_len(),
        ttl: 64,
        ident: 0,
        dont_frag: false,
        more_frags: false,
        frag_offset: 0,
        dscp_ecn: 0,
    }
    .emit(&mut out[..ipv4::HEADER_LEN]);
    msg.emit(&mut out[ipv4::HEADER_LEN..]);
    Some(out)
}

/// IPv6's answer to a packet too big for a link of `mtu` bytes (RFC 8201
/// §4, RFC 4443 §3.2): ICMPv6 Packet Too Big from `from` with the link's
/// MTU, quoting as much of the packet as fits in 1280 bytes. IPv6 routers
/// never fragment, so every packet too big is answered; None unless `pkt`
/// is IPv6, or when it is itself an ICMPv6 error (RFC 4443 §2.4 (e.1)).
pub fn packet_too_big_reply(pkt: &[u8], mtu: usize, from: std::net::Ipv6Addr) -> Option<Vec<u8>> {
    use ustack::wire::icmpv6::{self, Icmpv6Repr};
    use ustack::wire::ipv6::{self, Ipv6Packet, Ipv6Repr};
    let ip = Ipv6Packet::new_checked(pkt).ok()?;
    if ip.next_header() == ipv6::PROTO_ICMPV6
        && ip.payload().first().is_some_and(|&t| icmpv6::is_error(t))
    {
        return None;
    }
    let msg = Icmpv6Repr::PacketTooBig {
        mtu: u32::try_from(mtu).unwrap_or(u32::MAX),
        quoted: &pkt[..pkt.len().min(icmpv6::MAX_ERROR_LEN - icmpv6::HEADER_LEN)],
    };
    let mut out = vec![0u8; ipv6::HEADER_LEN + msg.buffer_len()];
    Ipv6Repr {
        src: from,
        dst: ip.src_addr(),
        next_header: ipv6::PROTO_ICMPV6,
        payload_len: msg.buffer_len(),
        hop_limit: 64,
        traffic_class: 0,
        flow_label: 0,
    }
    .emit(&mut out[..ipv6::HEADER_LEN]);
    msg.emit(&mut out[ipv6::HEADER_LEN..], from, ip.src_addr());
    Some(out)
}

/// Configuration of one direction of a link.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct LinkConfig {
    /// Bottleneck rate in Mbit/s; `None` = unlimited.
    pub rate_mbps: Option<f64>,
    /// One-way propagation delay.
    #[serde(rename = "delay_ms", with = "serde_ms")]
    pub delay: Duration,
    /// Uniform jitter: each packet's delay varies by up to ± this much.
    #[serde(rename = "jitter_ms", with = "serde_ms")]
    pub jitter: Duration,
    /// Drop-tail queue limit at the bottleneck, in packets.
    pub queue_pkts: usize,
    /// Independent loss probability per packet.
    pub loss: f64,
    /// Gilbert–Elliott: probability per packet of entering the bad state.
    pub burst_loss: f64,
    /// Probability a packet is delivered twice.
    pub duplicate: f64,
    /// Probability a packet is held back so that later ones overtake it.
    pub reorder: f64,
    /// Probability a packet gets 1–3 bits flipped.
    pub corrupt: f64,
    /// Largest packet carried; larger ones are dropped. `None` = no limit.
    /// In a simulated [`Network`](super::Network) the link then answers
    /// one with DF set as a router would: ICMP "fragmentation needed"
    /// (unless it is a `black_hole`).
    pub mtu: Option<usize>,
    /// A Path MTU black hole (RFC 2923 §2.1, RFC 4821 §1): packets too big
    /// for `mtu` are dropped without the ICMP "fragmentation needed" /
    /// Packet Too Big a router would send, as behind a firewall that
    /// filters ICMP. Only TCP's black-hole detection and probing
    /// (`TcpConfig::mtu_probing`) get a connection through. Needs `mtu`.
    pub black_hole: bool,
}

impl Default for LinkConfig {
    fn default() -> Self {
        LinkConfig {
            rate_mbps: None,
            delay: Duration::ZERO,
            jitter: Duration::ZERO,
            queue_pkts: 1000,
            loss: 0.0,
            burst_loss: 0.0,
            duplicate: 0.0,
            reorder: 0.0,
            corrupt: 0.0,
            mtu: None,
            black_hole: false,
        }
    }
}

impl LinkConfig {
    /// Checks ranges: probabilities in [0, 1], a positive finite rate, a
    /// queue of at least one packet.
    pub fn validate(&self) -> Result<(), String> {
        for (name, p) in [
            ("loss", self.loss),
            ("burst_loss", self.burst_loss),
            ("duplicate", self.duplicate),
            ("reorder", self.reorder),
            ("corrupt", self.corrupt),
        ] {
            if !(0.0..=1.0).contains(&p) {
                return Err(format!("{name} must be a probability in [0, 1], got {p}"));
            }
        }
        if let Some(r) = self.rate_mbps {
            if !r.is_finite() || r <= 0.0 {
                return Err(format!("rate must be a positive number of Mbit/s, got {r}"));
            }
        }
        if self.queue_pkts == 0 {
            return Err("queue must hold at least 1 packet".to_string());
        }
        if self.mtu == Some(0) {
            return Err("link mtu must be positive".to_string());
        }
        if self.black_hole && self.mtu.is_none() {
            return Err(
                "a black hole needs a link mtu (it drops what is too big for it)".to_string(),
            );
        }
        Ok(())
    }
}

/// What happened to the packets offered to a link.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LinkCounters {
    /// Packets offered to the link.
    pub sent: u64,
    /// Packets handed to the receiver (duplicates included).
    pub delivered: u64,
    pub dropped_loss: u64,
    pub dropped_queue: u64,
    pub dropped_mtu: u64,
    /// Of `dropped_mtu`, the packets a router would have answered (DF
    /// IPv4, IPv6; not ICMP errors) that a black-hole link
    /// ([`LinkConfig::black_hole`]) dropped without a word.
    #[serde(default)]
    pub black_holed: u64,
    pub duplicated: u64,
    pub reordered: u64,
    pub corrupted: u64,
}

impl LinkCounters {
    /// Packets the link dropped for any reason.
    pub fn dropped(&self) -> u64 {
        self.dropped_loss + self.dropped_queue + self.dropped_mtu
    }
    pub fn add(&mut self, o: &LinkCounters) {
        self.sent += o.sent;
        self.delivered += o.delivered;
        self.dropped_loss += o.dropped_loss;
        self.dropped_queue += o.dropped_queue;
        self.dropped_mtu += o.dropped_mtu;
        self.black_holed += o.black_holed;
        self.duplicated += o.duplicated;
        self.reordered += o.reordered;
        self.corrupted += o.corrupted;
    }
}

/// The fate of one packet offered with [`Link::send`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkVerdict {
    /// Scheduled for delivery (possibly corrupted, reordered, duplicated).
    Scheduled {
        at: Instant,
    },
    DroppedMtu,
    DroppedQueue,
    DroppedLoss,
}

struct Pending {
    at: Instant,
    seq: u64,
    data: Vec<u8>,
}

impl PartialEq for Pending {
    fn eq(&self, o: &Self) -> bool {
        (self.at, self.seq) == (o.at, o.seq)
    }
}
impl Eq for Pending {}
impl PartialOrd for Pending {
    fn partial_cmp(&self, o: &Self) -> Option<Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for Pending {
    fn cmp(&self, o: &Self) -> Ordering {
        (self.at, self.seq).cmp(&(o.at, o.seq))
    }
}

/// One direction of a simulated link.
pub struct Link {
    cfg: LinkConfig,
    rng: Rng,
    /// When the serializer is next free, in nanoseconds.
    link_free_ns: u64,
    /// Serialization end times (ns) of accepted packets, oldest first.
    queue: VecDeque<u64>,
    /// Latest in-order delivery time (jitter never reorders past it).
    last_delivery: Instant,
    ge_bad: bool,
    seq: u64,
    pending: BinaryHeap<Reverse<Pending>>,
    counters: LinkCounters,
}

impl Link {
    /// A link with the given impairments, drawing randomness from `rng`.
    pub fn new(cfg: LinkConfig, rng: Rng) -> Link {
        Link {
            cfg,
            rng,
            link_free_ns: 0,
            queue: VecDeque::new(),
            last_delivery: Instant::ZERO,
            ge_bad: false,
            seq: 0,
            pending: BinaryHeap::new(),
            counters: LinkCounters::default(),
        }
    }

    pub fn config(&self) -> &LinkConfig {
        &self.cfg
    }

    pub fn counters(&self) -> LinkCounters {
        self.counters
    }

    /// Serialization time of `len` bytes in nanoseconds (0 if unlimited).
    fn tx_ns(&self, len: usize) -> u64 {
        match self.cfg.rate_mbps {
            // bits / (Mbit/s) = µs; ×1000 for ns.
            Some(r) if r > 0.0 => ((len as f64 * 8.0 * 1000.0) / r).ceil() as u64,
            _ => 0,
        }
    }

    /// Packets accepted and not yet serialized at `now`.
    pub fn queue_len(&mut self, now: Instant) -> usize {
        let now_ns = now.total_micros().saturating_mul(1000);
        while self.queue.front().is_some_and(|&t| t <= now_ns) {
            self.queue.pop_front();
        }
        self.queue.len()
    }

    /// Packets scheduled and not yet delivered.
    pub fn in_flight(&self) -> usize {
        self.pending.len()
    }

    /// Offers a packet to the link at `now`.
    pub fn send(&mut self, now: Instant, packet: &[u8]) -> LinkVerdict {
        self.counters.sent += 1;
        if let Some(mtu) = self.cfg.mtu {
            if packet.len() > mtu {
                self.counters.dropped_mtu += 1;
                return LinkVerdict::DroppedMtu;
            }
        }
        if self.queue_len(now) >= self.cfg.queue_pkts {
            self.counters.dropped_queue += 1;
            return LinkVerdict::DroppedQueue;
        }
        let now_ns = now.total_micros().saturating_mul(1000);
        let tx_ns = self.tx_ns(packet.len());
        let depart_ns = now_ns.max(self.link_free_ns).saturating_add(tx_ns);
        self.link_free_ns = depart_ns;
        self.queue.push_back(depart_ns);
        let depart = Instant::from_micros(depart_ns.div_ceil(1000));

        // Loss: Gilbert–Elliott transition first, then the loss draws.
        if self.ge_bad {
            if self.rng.chance(GE_LEAVE_BAD) {
                self.ge_bad = false;
            }
        } else if self.rng.chance(self.cfg.burst_loss) {
            self.ge_bad = true;
        }
        let ge_lost = self.ge_bad && self.rng.chance(GE_BAD_LOSS);
        let iid_lost = self.rng.chance(self.cfg.loss);
        if ge_lost || iid_lost {
            self.counters.dropped_loss += 1;
            return LinkVerdict::DroppedLoss;
        }

        let mut data = packet.to_vec();
        if !data.is_empty() && self.rng.chance(self.cfg.corrupt) {
            corrupt(&mut self.rng, &mut data);
            self.counters.corrupted += 1;
        }

        let delay_us = dur_us(self.cfg.delay);
        let jitter_us = dur_us(self.cfg.jitter);
        let mut prop = delay_us as i128;
        if jitter_us > 0 {
            let j = self.rng.range(0, 2 * jitter_us + 1) as i128 - jitter_us as i128;
            prop += j;
        }
        let prop = prop.max(0) as u64;
        let base = Instant::from_micros(depart.total_micros().saturating_add(prop));
        let at = if self.rng.chance(self.cfg.reorder) {
            self.counters.reordered += 1;
            let pkt_us = tx_ns.div_ceil(1000);
            let extra = self.rng.range(1, 4) * pkt_us + self.rng.range(1000, 4001);
            Instant::from_micros(base.total_micros().saturating_add(extra))
        } else {
            let at = base.max(self.last_delivery);
            self.last_delivery = at;
            at
        };

        if self.rng.chance(self.cfg.duplicate) {
            self.counters.duplicated += 1;
            self.push(at, data.clone());
        }
        self.push(at, data);
        LinkVerdict::Scheduled { at }
    }

    /// For a packet [`send`](Link::send) dropped as too big
    /// ([`LinkVerdict::DroppedMtu`]) that a router would answer (ICMP
    /// "fragmentation needed" for DF IPv4, Packet Too Big for IPv6):
    /// whether the answer goes out. A black-hole link
    /// ([`LinkConfig::black_hole`]) keeps quiet and counts the packet in
    /// [`LinkCounters::black_holed`].
    pub fn answer_too_big(&mut self) -> bool {
        if self.cfg.black_hole {
            self.counters.black_holed += 1;
            false
        } else {
            true
        }
    }

    fn push(&mut self, at: Instant, data: Vec<u8>) {
        self.seq += 1;
        self.pending.push(Reverse(Pending {
            at,
            seq: self.seq,
            data,
        }));
    }

    /// The earliest pending delivery time.
    pub fn next_delivery(&self) -> Option<Instant> {
        self.pending.peek().map(|Reverse(p)| p.at)
    }

    /// Removes and returns the next packet due at or before `now`.
    pub fn pop_due(&mut self, now: Instant) -> Option<(Instant, Vec<u8>)> {
        if self.next_delivery()? > now {
            return None;
        }
        let Reverse(p) = self.pending.pop()?;
        self.counters.delivered += 1;
        Some((p.at, p.data))
    }
}

fn dur_us(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX / 4)
}

/// Flips 1–3 bits at distinct positions modulo 16 (see the module docs).
fn corrupt(rng: &mut Rng, data: &mut [u8]) {
    let n = rng.range(1, 4) as usize;
    let mut classes: Vec<u64> = Vec::with_capacity(3);
    while classes.len() < n {
        let c = rng.range(0, 16);
        if !classes.contains(&c) {
            classes.push(c);
        }
    }
    let len = data.len() as u64;
    for c in classes {
        // Class c: byte parity c / 8 (0 = high byte of a 16-bit word),
        // bit c % 8 within that byte.
        let parity = c / 8;
        let pairs = (len + 1 - parity) / 2; // bytes with that parity
        if pairs == 0 {
            // A 1-byte packet has no odd bytes; flip in the even one.
            data[0] ^= 1 << (c % 8);
            continue;
        }
        let byte = rng.range(0, pairs) * 2 + parity;
        data[byte as usize] ^= 1 << (c % 8);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    fn drain(link: &mut Link) -> Vec<(Instant, Vec<u8>)> {
        let mut out = Vec::new();
        while let Some(p) = link.pop_due(Instant::MAX) {
            out.push(p);
        }
        out
    }

    #[test]
    fn clean_link_delays_and_serializes() {
        let cfg = LinkConfig {
            rate_mbps: Some(8.0),
            delay: ms(10),
            ..Default::default()
        };
        let mut l = Link::new(cfg, Rng::new(1));
        // 1000 bytes at 8 Mbit/s = 1 ms.
        for i in 0..3u8 {
            assert!(matches!(
                l.send(Instant::ZERO, &[i; 1000]),
                LinkVerdict::Scheduled { .. }
            ));
        }
        assert_eq!(l.queue_len(Instant::ZERO), 3);
        assert_eq!(l.queue_len(Instant::from_micros(1000)), 2);
        assert_eq!(l.next_delivery(), Some(Instant::from_micros(11_000)));
        assert!(l.pop_due(Instant::from_micros(10_999)).is_none());
        let got = drain(&mut l);
        let times: Vec<u64> = got.iter().map(|(t, _)| t.total_micros()).collect();
        assert_eq!(times, vec![11_000, 12_000, 13_000]);
        assert_eq!(got[2].1, vec![2u8; 1000]);
        let c = l.counters();
        assert_eq!((c.sent, c.delivered, c.dropped()), (3, 3, 0));
    }

    #[test]
    fn fractional_rates_do_not_accumulate_rounding() {
        // 1500 bytes at 7 Mbit/s = 1714.2857 µs each; 7000 packets = 12 s.
        let cfg = LinkConfig {
            rate_mbps: Some(7.0),
            queue_pkts: 10_000,
            ..Default::default()
        };
        let mut l = Link::new(cfg, Rng::new(1));
        for _ in 0..7000 {
            l.send(Instant::ZERO, &[0; 1500]);
        }
        let last = drain(&mut l).last().map(|p| p.0).expect("delivered");
        assert!(
            (12_000_000..=12_000_010).contains(&last.total_micros()),
            "{last:?}"
        );
    }

    #[test]
    fn drop_tail_queue_and_mtu() {
        let cfg = LinkConfig {
            rate_mbps: Some(1.0),
            queue_pkts: 4,
            mtu: Some(1500),
            ..Default::default()
        };
        let mut l = Link::new(cfg, Rng::new(1));
        let mut verdicts = Vec::new();
        for _ in 0..6 {
            verdicts.push(l.send(Instant::ZERO, &[0; 100]));
        }
        assert_eq!(verdicts[4], LinkVerdict::DroppedQueue);
        assert_eq!(verdicts[5], LinkVerdict::DroppedQueue);
        assert_eq!(l.send(Instant::ZERO, &[0; 1501]), LinkVerdict::DroppedMtu);
        // 100 bytes at 1 Mbit/s = 800 µs: after one packet-time there is room.
        assert!(matches!(
            l.send(Instant::from_micros(800), &[0; 100]),
            LinkVerdict::Scheduled { .. }
        ));
        let c = l.counters();
        assert_eq!((c.sent, c.dropped_queue, c.dropped_mtu), (8, 2, 1));
        assert_eq!(drain(&mut l).len(), 5);
    }

    #[test]
    fn unlimited_rate_never_queues() {
        let cfg = LinkConfig {
            queue_pkts: 1,
            ..Default::default()
        };
        let mut l = Link::new(cfg, Rng::new(1));
        for _ in 0..100 {
            assert!(matches!(
                l.send(Instant::ZERO, &[0; 100]),
                LinkVerdict::Scheduled { .. }
            ));
        }
        assert_eq!(drain(&mut l).len(), 100);
    }

    #[test]
    fn iid_loss_rate_is_close() {
        let cfg = LinkConfig {
            loss: 0.1,
            ..Default::default()
        };
        let mut l = Link::new(cfg, Rng::new(42));
        for _ in 0..20_000 {
            l.send(Instant::ZERO, &[0; 10]);
        }
        let c = l.counters();
        assert!((1_700..2_300).contains(&c.dropped_loss), "{c:?}");
        assert_eq!(
            c.delivered + drain(&mut l).len() as u64,
            20_000 - c.dropped_loss
        );
    }

    #[test]
    fn burst_loss_comes_in_bursts() {
        let cfg = LinkConfig {
            burst_loss: 0.02,
            ..Default::default()
        };
        let mut l = Link::new(cfg, Rng::new(9));
        let mut lost = Vec::new();
        for _ in 0..50_000 {
            lost.push(l.send(Instant::ZERO, &[0; 10]) == LinkVerdict::DroppedLoss);
        }
        // Stationary P(bad) = 0.02 / (0.02 + 0.3) ≈ 6.25 %; loss ≈ 3.1 %.
        let n = lost.iter().filter(|&&x| x).count();
        assert!((1_100..2_100).contains(&n), "{n}");
        // Losses cluster: P(loss | previous lost) far above the mean rate.
        let pairs = lost.windows(2).filter(|w| w[0] && w[1]).count();
        assert!(pairs as f64 / n as f64 > 0.2, "{pairs} / {n}");
    }

    #[test]
    fn jitter_alone_never_reorders() {
        let cfg = LinkConfig {
            delay: ms(10),
            jitter: ms(8),
            ..Default::default()
        };
        let mut l = Link::new(cfg, Rng::new(3));
        for i in 0..2000u32 {
            l.send(Instant::from_micros(u64::from(i) * 100), &i.to_be_bytes());
        }
        let got = drain(&mut l);
        assert_eq!(got.len(), 2000);
        for (i, (_, d)) in got.iter().enumerate() {
            assert_eq!(d.as_slice(), &(i as u32).to_be_bytes());
        }
        // ... but it does vary the delay.
        let min = got
            .iter()
            .zip(0u64..)
            .map(|((t, _), i)| t.total_micros() - i * 100)
            .min();
        assert!(min.is_some_and(|m| m < 9_000), "{min:?}");
    }

    #[test]
    fn reorder_lets_later_packets_overtake() {
        let cfg = LinkConfig {
            delay: ms(5),
            reorder: 0.1,
            ..Default::default()
        };
        let mut l = Link::new(cfg, Rng::new(5));
        for i in 0..1000u32 {
            l.send(Instant::from_micros(u64::from(i) * 200), &i.to_be_bytes());
        }
        let got = drain(&mut l);
        assert_eq!(got.len(), 1000);
        let order: Vec<u32> = got
            .iter()
            .map(|(_, d)| u32::from_be_bytes([d[0], d[1], d[2], d[3]]))
            .collect();
        let inversions = order.windows(2).filter(|w| w[0] > w[1]).count();
        let r = l.counters().reordered;
        assert!((50..150).contains(&r), "{r}");
        assert!(inversions > 0 && inversions as u64 <= r, "{inversions} {r}");
    }

    #[test]
    fn duplicates_are_delivered_twice() {
        let cfg = LinkConfig {
            duplicate: 0.5,
            ..Default::default()
        };
        let mut l = Link::new(cfg, Rng::new(11));
        for i in 0..100u8 {
            l.send(Instant::ZERO, &[i]);
        }
        let got = drain(&mut l);
        let d = l.counters().duplicated;
        assert!(d > 20, "{d}");
        assert_eq!(got.len() as u64, 100 + d);
        // Still in order, the copy right after the original.
        assert!(got.windows(2).all(|w| w[0].1[0] <= w[1].1[0]));
    }

    /// RFC 1071 ones'-complement sum, folded, with 0xFFFF normalized to 0
    /// (both encode zero).
    fn ones_sum(d: &[u8]) -> u16 {
        let mut s: u64 = 0;
        for c in d.chunks(2) {
            s += u64::from(u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)]));
        }
        while s > 0xFFFF {
            s = (s & 0xFFFF) + (s >> 16);
        }
        if s == 0xFFFF {
            0
        } else {
            s as u16
        }
    }

    #[test]
    fn corruption_flips_bits_the_checksum_detects() {
        let cfg = LinkConfig {
            corrupt: 1.0,
            ..Default::default()
        };
        let mut l = Link::new(cfg, Rng::new(17));
        let mut rng = Rng::new(99);
        for _ in 0..2000 {
            let len = rng.range(1, 200) as usize;
            let mut p = vec![0u8; len];
            rng.fill(&mut p);
            l.send(Instant::ZERO, &p);
            let (_, q) = l.pop_due(Instant::MAX).expect("delivered");
            let flipped: u32 = p.iter().zip(&q).map(|(a, b)| (a ^ b).count_ones()).sum();
            assert!((1..=3).contains(&flipped), "{flipped}");
            if len >= 2 {
                assert_ne!(ones_sum(&p), ones_sum(&q), "{p:?} {q:?}");
            }
        }
        assert_eq!(l.counters().corrupted, 2000);
    }

    #[test]
    fn same_seed_same_fate() {
        let cfg = LinkConfig {
            rate_mbps: Some(10.0),
            delay: ms(3),
            jitter: ms(2),
            queue_pkts: 20,
            loss: 0.05,
            burst_loss: 0.01,
            duplicate: 0.02,
            reorder: 0.05,
            corrupt: 0.02,
            mtu: Some(1000),
            black_hole: false,
        };
        let run = |seed| {
            let mut l = Link::new(cfg.clone(), Rng::new(seed));
            let mut rng = Rng::new(1);
            for i in 0..3000u64 {
                let len = rng.range(1, 1200) as usize;
                l.send(Instant::from_micros(i * 300), &vec![i as u8; len]);
            }
            (drain(&mut l), l.counters())
        };
        let (a, ca) = run(7);
        let (b, cb) = run(7);
        assert_eq!(ca, cb);
        assert!(a == b);
        let (c, _) = run(8);
        assert!(a != c);
    }

    #[test]
    fn config_validation_and_serde() {
        assert!(LinkConfig::default().validate().is_ok());
        assert!(LinkConfig {
            loss: 1.5,
            ..Default::default()
        }
        .validate()
        .is_err());
        assert!(LinkConfig {
            reorder: -0.1,
            ..Default::default()
        }
        .validate()
        .is_err());
        assert!(LinkConfig {
            rate_mbps: Some(0.0),
            ..Default::default()
        }
        .validate()
        .is_err());
        assert!(LinkConfig {
            queue_pkts: 0,
            ..Default::default()
        }
        .validate()
        .is_err());
        let cfg = LinkConfig {
            delay: Duration::from_micros(12_500),
            ..Default::default()
        };
        let json = serde_json::to_string(&cfg).expect("ser");
        assert!(json.contains("\"delay_ms\":12.5"), "{json}");
        let back: LinkConfig = serde_json::from_str(&json).expect("de");
        assert_eq!(back, cfg);
        let partial: LinkConfig = serde_json::from_str("{\"loss\":0.5}").expect("de");
        assert_eq!(partial.loss, 0.5);
        assert_eq!(partial.queue_pkts, 1000);
        assert!(serde_json::from_str::<LinkConfig>("{\"delay_ms\":-1}").is_err());
        assert!(!partial.black_hole);
    }

    #[test]
    fn a_black_hole_needs_an_mtu_and_withholds_the_answer() {
        let e = LinkConfig {
            black_hole: true,
            ..Default::default()
        }
        .validate()
        .expect_err("no mtu");
        assert!(e.contains("black hole") && e.contains("mtu"), "{e}");
        let cfg = LinkConfig {
            mtu: Some(1000),
            black_hole: true,
            ..Default::default()
        };
        assert!(cfg.validate().is_ok());
        let mut l = Link::new(cfg, Rng::new(1));
        assert_eq!(l.send(Instant::ZERO, &[0; 1001]), LinkVerdict::DroppedMtu);
        assert!(!l.answer_too_big());
        let c = l.counters();
        assert_eq!((c.dropped_mtu, c.black_holed, c.dropped()), (1, 1, 1));
        // An ordinary narrow link lets the answer go.
        let mut l = Link::new(
            LinkConfig {
                mtu: Some(1000),
                ..Default::default()
            },
            Rng::new(1),
        );
        assert_eq!(l.send(Instant::ZERO, &[0; 1001]), LinkVerdict::DroppedMtu);
        assert!(l.answer_too_big());
        assert_eq!(l.counters().black_holed, 0);
        // Counters from before the field existed still parse.
        let old = r#"{"sent":1,"delivered":1,"dropped_loss":0,"dropped_queue":0,"dropped_mtu":0,"duplicated":0,"reordered":0,"corrupted":0}"#;
        let c: LinkCounters = serde_json::from_str(old).expect("de");
        assert_eq!(c.black_holed, 0);
    }
}
