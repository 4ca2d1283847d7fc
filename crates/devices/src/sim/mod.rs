//! A deterministic simulated network: hosts (each a sans-IO
//! [`ustack::Stack`]) joined by simulated [`Link`]s, driven by a virtual
//! clock that jumps from event to event.
//!
//! ```text
//!   loop {
//!       net.step()?;          // advance the clock, deliver, fire timers, transmit
//!       /* application logic: tcp_send / tcp_recv on net.stack_mut(h) */
//!   }
//! ```
//!
//! Each [`Network::step`] moves the clock to the next event — the earliest
//! pending delivery on any link or the earliest `poll_at()` of any stack —
//! then, in a fixed order: delivers every packet due (links in the order
//! they were added, packets by (time, sequence)), calls `handle_timeout` on
//! every stack whose deadline has come (hosts in order), and drains
//! `poll_transmit` of every stack into its links. Application calls made
//! between steps happen at [`Network::now`]; a stack that then has output
//! pending reports `poll_at() <= now`, so the next step transmits it
//! without moving the clock.
//!
//! Nothing reads the wall clock, nothing iterates a hash map and all
//! randomness is seeded, so the same seed gives a byte-identical packet
//! trace; [`Network::trace_hash`] digests it for determinism tests.
pub mod campaign;
pub mod link;
pub mod transfer;

pub use link::{Link, LinkConfig, LinkCounters, LinkVerdict};

use crate::pcap::PcapWriter;
use siphasher::sip::SipHasher13;
use std::hash::Hasher;
use std::io::{self, Write};
use std::net::{IpAddr, Ipv4Addr};
use ustack::rng::Rng;
use ustack::{Instant, Stack};

/// Size of the buffer handed to `poll_transmit`.
pub const TX_BUF_LEN: usize = 65536;

/// Index of a host in a [`Network`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct HostId(pub usize);

/// Index of a link (one direction) in a [`Network`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct LinkId(pub usize);

/// Where packets are recorded to the pcap.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CapturePoint {
    /// As the sending stack emits them (before loss, corruption, ...).
    #[default]
    Transmit,
    /// As they are handed to the receiving stack (after impairments).
    Deliver,
    /// Both (every delivered packet appears twice).
    Both,
}

struct Host {
    name: String,
    stack: Stack,
    addrs: Vec<IpAddr>,
    packets_out: u64,
    packets_in: u64,
    unroutable: u64,
}

struct LinkEntry {
    from: usize,
    to: usize,
    link: Link,
}

/// Why a step could not proceed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StepError {
    /// No packet in flight and no timer armed: nothing will ever happen.
    Idle,
    /// Writing the pcap failed.
    Pcap(String),
}

impl core::fmt::Display for StepError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            StepError::Idle => f.write_str("network idle: no packet in flight and no timer armed"),
            StepError::Pcap(e) => write!(f, "writing pcap: {e}"),
        }
    }
}

impl std::error::Error for StepError {}

/// Hosts, links, a virtual clock, an optional capture and a trace digest.
pub struct Network {
    now: Instant,
    hosts: Vec<Host>,
    links: Vec<LinkEntry>,
    pcap: Option<PcapWriter<Box<dyn Write + Send>>>,
    capture: CapturePoint,
    trace: SipHasher13,
    trace_packets: u64,
    steps: u64,
    buf: Vec<u8>,
}

const DIR_TX: u8 = 0;
const DIR_RX: u8 = 1;

impl Default for Network {
    fn default() -> Self {
        Network::new()
    }
}

impl Network {
    /// An empty network at time zero.
    pub fn new() -> Network {
        Network::starting_at(Instant::ZERO)
    }

    /// An empty network whose clock starts at `start`.
    pub fn starting_at(start: Instant) -> Network {
        Network {
            now: start,
            hosts: Vec::new(),
            links: Vec::new(),
            pcap: None,
            capture: CapturePoint::default(),
            trace: SipHasher13::new_with_keys(0x7573_7461_636b, 0x0074_7261_6365),
            trace_packets: 0,
            steps: 0,
            buf: vec![0; TX_BUF_LEN],
        }
    }

    /// Adds a host; `addrs` are the addresses it owns (used to pick a link
    /// when it has several).
    pub fn add_host(
        &mut self,
        name: impl Into<String>,
        stack: Stack,
        addrs: Vec<IpAddr>,
    ) -> HostId {
        self.hosts.push(Host {
            name: name.into(),
            stack,
            addrs,
            packets_out: 0,
            packets_in: 0,
            unroutable: 0,
        });
        HostId(self.hosts.len() - 1)
    }

    /// Adds a one-way link `from → to`. Panics on an unknown host id (a
    /// programming error, not input).
    pub fn add_link(&mut self, from: HostId, to: HostId, cfg: LinkConfig, rng: Rng) -> LinkId {
        assert!(
            from.0 < self.hosts.len() && to.0 < self.hosts.len(),
            "unknown host"
        );
        self.links.push(LinkEntry {
            from: from.0,
            to: to.0,
            link: Link::new(cfg, rng),
        });
        LinkId(self.links.len() - 1)
    }

    /// Adds links both ways with the same configuration, each with its own
    /// random stream forked from `rng`. Returns (a→b, b→a).
    pub fn connect(
        &mut self,
        a: HostId,
        b: HostId,
        cfg: LinkConfig,
        rng: &mut Rng,
    ) -> (LinkId, LinkId) {
        let ab = self.add_link(a, b, cfg.clone(), rng.fork());
        let ba = self.add_link(b, a, cfg, rng.fork());
        (ab, ba)
    }

    /// Records packets to `out` as a pcap stream.
    pub fn set_pcap(
        &mut self,
        out: Box<dyn Write + Send>,
        capture: CapturePoint,
    ) -> io::Result<()> {
        self.pcap = Some(PcapWriter::new(out)?);
        self.capture = capture;
        Ok(())
    }

    /// Flushes the pcap stream, if any.
    pub fn flush_pcap(&mut self) -> io::Result<()> {
        match &mut self.pcap {
            Some(p) => p.flush(),
            None => Ok(()),
        }
    }

    /// Stops recording, flushing and returning the pcap stream.
    pub fn take_pcap(&mut self) -> io::Result<Option<Box<dyn Write + Send>>> {
        match self.pcap.take() {
            Some(p) => p.into_inner().map(Some),
            None => Ok(None),
        }
    }

    pub fn now(&self) -> Instant {
        self.now
    }

    pub fn stack(&self, h: HostId) -> &Stack {
        &self.hosts[h.0].stack
    }

    pub fn stack_mut(&mut self, h: HostId) -> &mut Stack {
        &mut self.hosts[h.0].stack
    }

    pub fn host_name(&self, h: HostId) -> &str {
        &self.hosts[h.0].name
    }

    pub fn hosts(&self) -> usize {
        self.hosts.len()
    }

    pub fn link(&self, l: LinkId) -> &Link {
        &self.links[l.0].link
    }

    /// Counters summed over every link.
    pub fn link_counters(&self) -> LinkCounters {
        let mut c = LinkCounters::default();
        for l in &self.links {
            c.add(&l.link.counters());
        }
        c
    }

    /// Packets a host emitted, received, and could not route.
    pub fn host_packets(&self, h: HostId) -> (u64, u64, u64) {
        let host = &self.hosts[h.0];
        (host.packets_out, host.packets_in, host.unroutable)
    }

    /// Steps taken so far.
    pub fn steps(&self) -> u64 {
        self.steps
    }

    /// Digest of every packet transmitted and delivered so far, with its
    /// time, direction and endpoint.
    pub fn trace_hash(&self) -> u64 {
        self.trace.finish()
    }

    /// Packets folded into the trace hash.
    pub fn trace_packets(&self) -> u64 {
        self.trace_packets
    }

    /// The time of the next event, if any: the earliest pending delivery or
    /// stack deadline. May be `<= now` (work to do at once).
    pub fn next_event(&self) -> Option<Instant> {
        let links = self.links.iter().filter_map(|l| l.link.next_delivery());
        let stacks = self.hosts.iter().filter_map(|h| h.stack.poll_at());
        links.chain(stacks).min()
    }

    /// Advances the clock to the next event and processes everything due
    /// then. Returns the new time.
    pub fn step(&mut self) -> Result<Instant, StepError> {
        let t = self.next_event().ok_or(StepError::Idle)?;
        self.now = self.now.max(t);
        self.process()?;
        Ok(self.now)
    }

    /// Processes events until the next one is later than `until`, then sets
    /// the clock to `until`; `max_steps` bounds the work (returns false if
    /// it ran out).
    pub fn run_until(&mut self, until: Instant, max_steps: u64) -> Result<bool, StepError> {
        let mut n = 0;
        while let Some(t) = self.next_event() {
            if t > until {
                break;
            }
            if n >= max_steps {
                return Ok(false);
            }
            self.step()?;
            n += 1;
        }
        self.now = self.now.max(until);
        Ok(true)
    }

    /// Delivers, fires timers and transmits at the current time without
    /// moving the clock (what `step` does after advancing it).
    pub fn process(&mut self) -> Result<(), StepError> {
        self.steps += 1;
        let now = self.now;
        // 1. Deliveries, link by link, in (time, sequence) order.
        for li in 0..self.links.len() {
            while let Some((_, pkt)) = self.links[li].link.pop_due(now) {
                let to = self.links[li].to;
                self.record(
                    DIR_RX,
                    li,
                    &pkt,
                    matches!(self.capture, CapturePoint::Deliver | CapturePoint::Both),
                )?;
                let host = &mut self.hosts[to];
                host.packets_in += 1;
                host.stack.receive(now, &pkt);
            }
        }
        // 2. Timers.
        for host in &mut self.hosts {
            if host.stack.poll_at().is_some_and(|t| t <= now) {
                host.stack.handle_timeout(now);
            }
        }
        // 3. Transmissions.
        self.transmit_all()
    }

    fn transmit_all(&mut self) -> Result<(), StepError> {
        let now = self.now;
        let mut buf = std::mem::take(&mut self.buf);
        let mut result = Ok(());
        'hosts: for hi in 0..self.hosts.len() {
            while let Some(n) = self.hosts[hi].stack.poll_transmit(now, &mut buf) {
                let pkt = &buf[..n.min(buf.len())];
                self.hosts[hi].packets_out += 1;
                let Some(li) = self.route(hi, pkt) else {
                    self.hosts[hi].unroutable += 1;
                    tracing::debug!(host = %self.hosts[hi].name, len = pkt.len(), "sim: unroutable packet dropped");
                    continue;
                };
                let capture = matches!(self.capture, CapturePoint::Transmit | CapturePoint::Both);
                if let Err(e) = self.record(DIR_TX, li, pkt, capture) {
                    result = Err(e);
                    break 'hosts;
                }
                let verdict = self.links[li].link.send(now, pkt);
                tracing::trace!(link = li, len = pkt.len(), ?verdict, "sim: packet sent");
                if verdict == LinkVerdict::DroppedMtu {
                    if let Err(e) = self.refuse_too_big(li, now, pkt, capture) {
                        result = Err(e);
                        break 'hosts;
                    }
                }
            }
        }
        self.buf = buf;
        result
    }

    /// A packet too big for link `li` with DF set is answered as a router
    /// would (RFC 1191 §4, RFC 1812 §5.2.7.1): ICMP
    /// "fragmentation needed" with the link's MTU, from [`ROUTER_ADDR`],
    /// sent back over the reverse link (if there is one). That is what
    /// Path MTU discovery needs from the path. A black-hole link
    /// ([`LinkConfig::black_hole`]) sends nothing and counts the packet in
    /// [`LinkCounters::black_holed`]. (A too-big IPv4 packet without DF is
    /// dropped silently in both cases: the link does not fragment.)
    fn refuse_too_big(
        &mut self,
        li: usize,
        now: Instant,
        pkt: &[u8],
        capture: bool,
    ) -> Result<(), StepError> {
        let Some(mtu) = self.links[li].link.config().mtu else {
            return Ok(());
        };
        let reply = link::frag_needed_reply(pkt, mtu, ROUTER_ADDR)
            .or_else(|| link::packet_too_big_reply(pkt, mtu, ROUTER_ADDR_V6));
        let Some(reply) = reply else {
            return Ok(());
        };
        if !self.links[li].link.answer_too_big() {
            tracing::debug!(link = li, mtu, "sim: too big, black hole: no answer");
            return Ok(());
        }
        let (from, to) = (self.links[li].from, self.links[li].to);
        let Some(back) = self.links.iter().position(|l| l.from == to && l.to == from) else {
            return Ok(());
        };
        self.record(DIR_TX, back, &reply, capture)?;
        let verdict = self.links[back].link.send(now, &reply);
        tracing::debug!(
            link = li,
            mtu,
            ?verdict,
            "sim: fragmentation needed sent back"
        );
        Ok(())
    }

    /// Picks the outgoing link of host `from` for `pkt`: the link to the
    /// host owning the IP destination, else the host's only link.
    fn route(&self, from: usize, pkt: &[u8]) -> Option<usize> {
        let dst = ip_dst(pkt);
        let mut only = None;
        let mut count = 0;
        for (i, l) in self.links.iter().enumerate() {
            if l.from != from {
                continue;
            }
            if let Some(d) = dst {
                if self.hosts[l.to].addrs.contains(&d) {
                    return Some(i);
                }
            }
            count += 1;
            only = Some(i);
        }
        if count == 1 {
            only
        } else {
            None
        }
    }

    fn record(&mut self, dir: u8, link: usize, pkt: &[u8], capture: bool) -> Result<(), StepError> {
        // Fixed byte order, so the digest is the same on every platform.
        self.trace.write(&self.now.total_micros().to_le_bytes());
        self.trace.write(&[dir]);
        self.trace.write(&(link as u64).to_le_bytes());
        self.trace.write(&(pkt.len() as u64).to_le_bytes());
        self.trace.write(pkt);
        self.trace_packets += 1;
        if capture {
            if let Some(p) = &mut self.pcap {
                p.write_packet(self.now, pkt)
                    .map_err(|e| StepError::Pcap(e.to_string()))?;
            }
        }
        Ok(())
    }
}

/// The address the links answer from when they refuse a packet (a router
/// between the hosts).
pub const ROUTER_ADDR: Ipv4Addr = Ipv4Addr::new(198, 18, 255, 254);
/// Its IPv6 address (in 2001:2::/48, IPv6's benchmarking range).
pub const ROUTER_ADDR_V6: std::net::Ipv6Addr =
    std::net::Ipv6Addr::new(0x2001, 2, 0, 0xffff, 0, 0, 0, 0xfffe);

/// The destination of a packet, if it looks like IPv4 or IPv6.
fn ip_dst(pkt: &[u8]) -> Option<IpAddr> {
    match pkt.first()? >> 4 {
        4 if pkt.len() >= 20 => Some(Ipv4Addr::new(pkt[16], pkt[17], pkt[18], pkt[19]).into()),
        6 => {
            let d: [u8; 16] = pkt.get(24..40)?.try_into().ok()?;
            Some(std::net::Ipv6Addr::from(d).into())
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_destination_is_parsed_safely() {
        assert_eq!(ip_dst(&[]), None);
        assert_eq!(ip_dst(&[0x45; 19]), None);
        assert_eq!(ip_dst(&[0x60; 39]), None);
        let mut p = [0u8; 20];
        p[0] = 0x45;
        p[16..20].copy_from_slice(&[198, 18, 0, 2]);
        assert_eq!(ip_dst(&p), Some(Ipv4Addr::new(198, 18, 0, 2).into()));
        let mut p = [0u8; 40];
        p[0] = 0x60;
        p[39] = 2;
        assert_eq!(ip_dst(&p), Some("::2".parse().unwrap()));
    }

    fn datagram(protocol: u8, df: bool, payload: &[u8]) -> Vec<u8> {
        use ustack::wire::ipv4::{self, Ipv4Repr};
        let mut p = vec![0u8; ipv4::HEADER_LEN + payload.len()];
        Ipv4Repr {
            src: Ipv4Addr::new(198, 18, 0, 1),
            dst: Ipv4Addr::new(198, 18, 0, 2),
            protocol,
            payload_len: payload.len(),
            ttl: 64,
            ident: 7,
            dont_frag: df,
            more_frags: false,
            frag_offset: 0,
            dscp_ecn: 0,
        }
        .emit(&mut p[..ipv4::HEADER_LEN]);
        p[ipv4::HEADER_LEN..].copy_from_slice(payload);
        p
    }

    #[test]
    fn a_too_big_df_datagram_is_answered_with_fragmentation_needed() {
        use ustack::wire::icmpv4::{unreachable, Icmpv4Repr};
        use ustack::wire::ipv4::{Ipv4Packet, PROTO_ICMP, PROTO_TCP};
        let pkt = datagram(PROTO_TCP, true, &[0xab; 1480]);
        let reply = link::frag_needed_reply(&pkt, 1280, ROUTER_ADDR).expect("an answer");
        let ip = Ipv4Packet::new_checked(&reply[..]).expect("IPv4");
        assert!(ip.verify_checksum());
        assert_eq!(
            (ip.src_addr(), ip.dst_addr()),
            (ROUTER_ADDR, Ipv4Addr::new(198, 18, 0, 1))
        );
        assert_eq!(ip.protocol(), PROTO_ICMP);
        match Icmpv4Repr::parse(ip.payload()).expect("valid ICMP") {
            Icmpv4Repr::DstUnreachable {
                code,
                next_hop_mtu,
                quoted,
            } => {
                assert_eq!((code, next_hop_mtu), (unreachable::FRAG_NEEDED, 1280));
                assert_eq!(quoted, &pkt[..28], "IP header + 8 bytes");
            }
            other => panic!("not fragmentation needed: {other:?}"),
        }
        // Without DF a router would fragment: no answer (the link drops).
        assert!(link::frag_needed_reply(
            &datagram(PROTO_TCP, false, &[0; 1480]),
            1280,
            ROUTER_ADDR
        )
        .is_none());
        // Never an error about an ICMP error; an echo request is answered.
        assert!(link::frag_needed_reply(
            &datagram(PROTO_ICMP, true, &[3; 1480]),
            1280,
            ROUTER_ADDR
        )
        .is_none());
        assert!(link::frag_needed_reply(
            &datagram(PROTO_ICMP, true, &[8; 1480]),
            1280,
            ROUTER_ADDR
        )
        .is_some());
        // Not IPv4: nothing.
        assert!(link::frag_needed_reply(&[0x60; 1500], 1280, ROUTER_ADDR).is_none());
    }

    #[test]
    fn a_too_big_ipv6_packet_is_answered_with_packet_too_big() {
        use ustack::wire::icmpv6::Icmpv6Repr;
        use ustack::wire::ipv6::{Ipv6Packet, PROTO_ICMPV6, PROTO_TCP};
        // From 2001:2::1 (a) to 2001:2::2.
        let a: std::net::Ipv6Addr = "2001:2::1".parse().unwrap();
        let packet = ipv6_packet;
        let pkt = packet(PROTO_TCP, &[0xab; 1460]);
        let reply = link::packet_too_big_reply(&pkt, 1400, ROUTER_ADDR_V6).expect("an answer");
        let ip = Ipv6Packet::new_checked(&reply[..]).expect("IPv6");
        assert_eq!((ip.src_addr(), ip.dst_addr()), (ROUTER_ADDR_V6, a));
        assert_eq!(ip.next_header(), PROTO_ICMPV6);
        assert!(reply.len() <= 1280);
        match Icmpv6Repr::parse(ip.payload(), ROUTER_ADDR_V6, a).expect("valid ICMPv6") {
            Icmpv6Repr::PacketTooBig { mtu, quoted } => {
                assert_eq!(mtu, 1400);
                assert_eq!(quoted, &pkt[..1280 - 48], "as much as fits in 1280");
            }
            other => panic!("not packet too big: {other:?}"),
        }
        // Never about an ICMPv6 error; an echo request is answered; IPv4
        // is not its business.
        assert!(link::packet_too_big_reply(
            &packet(PROTO_ICMPV6, &[1; 1460]),
            1400,
            ROUTER_ADDR_V6
        )
        .is_none());
        assert!(link::packet_too_big_reply(
            &packet(PROTO_ICMPV6, &[128; 1460]),
            1400,
            ROUTER_ADDR_V6
        )
        .is_some());
        assert!(link::packet_too_big_reply(
            &datagram(ustack::wire::ipv4::PROTO_TCP, true, &[0; 1480]),
            1280,
            ROUTER_ADDR_V6
        )
        .is_none());
    }

    /// Two hosts joined both ways by links of `cfg`; returns the network
    /// and the index of the a → b link (b → a is the other one).
    fn two_hosts(cfg: LinkConfig) -> (Network, usize) {
        let mut net = Network::new();
        let mut host = |name: &str, addr: &str| {
            let addr: IpAddr = addr.parse().expect("address");
            let stack = Stack::new(ustack::Config {
                addresses: vec![ustack::Cidr {
                    addr,
                    prefix_len: 24,
                }],
                ..ustack::Config::default()
            })
            .expect("stack");
            net.add_host(name, stack, vec![addr])
        };
        let (a, b) = (host("a", "198.18.0.1"), host("b", "198.18.0.2"));
        let (ab, _) = net.connect(a, b, cfg, &mut Rng::new(1));
        (net, ab.0)
    }

    fn ipv6_packet(next_header: u8, body: &[u8]) -> Vec<u8> {
        let mut p = vec![0u8; 40 + body.len()];
        ustack::wire::ipv6::Ipv6Repr {
            src: "2001:2::1".parse().expect("address"),
            dst: "2001:2::2".parse().expect("address"),
            next_header,
            payload_len: body.len(),
            hop_limit: 64,
            traffic_class: 0,
            flow_label: 0,
        }
        .emit(&mut p[..40]);
        p[40..].copy_from_slice(body);
        p
    }

    /// Offers `pkt` to link `li` as a host's transmission would be; returns
    /// the packets then waiting on the reverse link (the answers).
    fn offer(net: &mut Network, li: usize, pkt: &[u8]) -> usize {
        let now = net.now();
        if net.links[li].link.send(now, pkt) == LinkVerdict::DroppedMtu {
            net.refuse_too_big(li, now, pkt, false).expect("no pcap");
        }
        net.links[1 - li].link.in_flight()
    }

    #[test]
    fn a_black_hole_drops_what_is_too_big_without_a_word() {
        use ustack::wire::ipv4::PROTO_TCP;
        let v4 = datagram(PROTO_TCP, true, &[0xab; 1480]);
        let v6 = ipv6_packet(ustack::wire::ipv6::PROTO_TCP, &[0xab; 1460]);
        let narrow = LinkConfig {
            mtu: Some(1280),
            ..LinkConfig::default()
        };
        // A router's link answers both (what Path MTU discovery needs).
        let (mut net, ab) = two_hosts(narrow.clone());
        assert_eq!(offer(&mut net, ab, &v4), 1);
        assert_eq!(offer(&mut net, ab, &v6), 2);
        let c = net.links[ab].link.counters();
        assert_eq!((c.dropped_mtu, c.black_holed), (2, 0));
        // A black hole answers neither, and counts them.
        let (mut net, ab) = two_hosts(LinkConfig {
            black_hole: true,
            ..narrow
        });
        assert_eq!(offer(&mut net, ab, &v4), 0);
        assert_eq!(offer(&mut net, ab, &v6), 0);
        // Without DF: dropped silently by both kinds of link, and not
        // counted as black-holed (no answer was due).
        assert_eq!(
            offer(&mut net, ab, &datagram(PROTO_TCP, false, &[0; 1480])),
            0
        );
        // What fits goes through.
        assert_eq!(
            offer(&mut net, ab, &datagram(PROTO_TCP, true, &[0; 1000])),
            0
        );
        assert_eq!(net.links[ab].link.in_flight(), 1);
        let c = net.links[ab].link.counters();
        assert_eq!((c.sent, c.dropped_mtu, c.black_holed), (4, 3, 2));
        assert_eq!(net.link_counters().black_holed, 2);
    }

    /// A 1 100-byte hop that drops what is bigger without a word: TCP gets
    /// through only by black-hole detection (RFC 4821 §3), at an MSS whose
    /// packets fit; without it the connection stalls.
    #[test]
    fn tcp_gets_through_a_black_hole_only_with_mtu_probing() {
        use super::transfer::{run_transfer, TransferConfig};
        let cfg = |mtu_probing| TransferConfig {
            bytes: 300_000,
            reverse_bytes: 100_000,
            link: LinkConfig {
                delay: ustack::Duration::from_millis(5),
                mtu: Some(1100),
                black_hole: true,
                ..LinkConfig::default()
            },
            mtu: 1500,
            seed: 3,
            tcp: Some(ustack::TcpConfig {
                mtu_probing,
                ..ustack::TcpConfig::default()
            }),
            time_limit: ustack::Duration::from_secs(120),
            ..TransferConfig::default()
        };
        let r = run_transfer(&cfg(ustack::MtuProbing::BlackHole));
        assert!(r.intact, "{r:?}");
        assert!(r.black_hole && r.mtu_probing == "black-hole", "{r:?}");
        // Both directions ran into the hole and found their way through.
        assert!(r.black_hole_reductions >= 2, "{r:?}");
        // Every packet the hop refused went unanswered.
        assert!(
            r.black_holed >= 2 && r.black_holed == r.dropped_mtu,
            "{r:?}"
        );
        for mss in [r.client_final_mss, r.server_final_mss] {
            // 20 + 20 bytes of headers, 12 of timestamps.
            assert!(mss.is_some_and(|m| m + 52 <= 1100), "{r:?}");
        }
        let r = run_transfer(&cfg(ustack::MtuProbing::Off));
        assert!(!r.intact, "{r:?}");
        assert!(
            r.error.as_deref().is_some_and(|e| e.contains("time limit")),
            "{r:?}"
        );
        assert_eq!(r.black_hole_reductions, 0, "{r:?}");
        assert_eq!(
            r.bytes_delivered, 0,
            "no full-size segment got through: {r:?}"
        );
    }

    #[test]
    fn tcp_finds_the_path_mtu_of_a_narrower_link() {
        use super::transfer::{run_transfer, TransferConfig};
        let cfg = TransferConfig {
            bytes: 300_000,
            reverse_bytes: 200_000,
            link: LinkConfig {
                delay: ustack::Duration::from_millis(5),
                mtu: Some(1000),
                ..LinkConfig::default()
            },
            mtu: 1500,
            seed: 3,
            ..TransferConfig::default()
        };
        let r = run_transfer(&cfg);
        assert!(r.intact, "{r:?}");
        // Each direction's first window was refused once, then fitted.
        assert_eq!(r.pmtu_reductions, 2, "{r:?}");
        assert!(r.dropped_mtu >= 2 && r.dropped_mtu <= 40, "{r:?}");
    }
}
