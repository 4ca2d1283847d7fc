//! The stack object: demultiplexing, timers, and the socket API of the
//! sans-IO engine. Feed it packets with `receive`, drain packets with
//! `poll_transmit`, and call `handle_timeout` at `poll_at`.
//!
//! Connection lookup is one hash probe (SipHash keyed from the seed);
//! timers live in a binary heap with lazy deletion, so firing them never
//! scans all sockets; sockets with output pending sit in a FIFO.
use crate::bufpool::BufPool;
use crate::config::{BindOptions, Config, Keepalive, MAX_SOCKET_BUFFER};
use crate::counters::{Counters, DropReason, TcpCounters};
use crate::icmp;
use crate::ip::fragment;
use crate::ip::reassembly::{FragKey, FragOutcome, Reassembler};
use crate::ip::route::{self, Routes};
use crate::rng::Rng;
use crate::tcp::cc::CongestionKind;
use crate::tcp::conn::{
    wscale_for, ConnOpts, ConnParams, CookieOptions, Outcome, PathMtu, Tcb, TimeWait,
};
use crate::tcp::listener::Listener;
use crate::tcp::TcpState;
use crate::time::{Duration, Instant};
use crate::udp::{self, Delivery, UdpSocket};
use siphasher::sip::{SipHasher13, SipHasher24};
use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, VecDeque};
use std::hash::{BuildHasher, Hash, Hasher};
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, Shutdown, SocketAddr};
use ustack_wire::icmpv4::{self, Icmpv4Repr};
use ustack_wire::icmpv6::{self, Icmpv6Repr};
use ustack_wire::ipv4::{self, Ipv4Packet, Ipv4Repr};
use ustack_wire::ipv6::{self, ExtError, FragmentHeader, Ipv6Packet, Ipv6Repr};
use ustack_wire::tcp::{self as wtcp, TcpFlags, TcpOptions, TcpPacket, TcpRepr};
use ustack_wire::udp::{UdpPacket, UdpRepr};
use ustack_wire::WireError;

/// Identifies a socket inside one `Stack`. Stale handles are detected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SocketHandle {
    pub(crate) index: u32,
    pub(crate) generation: u32,
}

/// A snapshot of a TCP connection's internals (like Linux `TCP_INFO`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TcpInfo {
    pub state: TcpState,
    pub local: SocketAddr,
    pub remote: SocketAddr,
    /// Effective send MSS (payload bytes per full segment).
    pub mss: usize,
    pub cwnd: u32,
    pub ssthresh: u32,
    pub srtt: Option<Duration>,
    pub rttvar: Option<Duration>,
    pub rto: Duration,
    pub snd_wnd: u32,
    pub rcv_wnd: u32,
    /// Window scale shifts in use (RFC 7323 §2): the peer's, applied to
    /// the windows it advertises, and ours; 0 when not negotiated (Linux's
    /// `tcpi_snd_wscale`, `tcpi_rcv_wscale`).
    pub snd_wscale: u8,
    pub rcv_wscale: u8,
    /// The congestion controller (TCP_CONGESTION).
    pub congestion: CongestionKind,
    pub bytes_in_flight: u32,
    pub in_recovery: bool,
    /// Receive-buffer auto-tuning (`TcpConfig::recv_buffer_auto`): bytes
    /// the application read in the last measured round trip, and the
    /// receiver's RTT estimate (Linux's `tcpi_rcv_space`, `tcpi_rcv_rtt`;
    /// measured until the buffer reaches its ceiling).
    pub rcv_space: u32,
    pub rcv_rtt: Option<Duration>,
    pub counters: TcpCounters,
}

/// Result of a UDP receive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UdpRecv {
    /// Bytes copied into the caller's buffer.
    pub len: usize,
    /// Sender.
    pub from: SocketAddr,
    /// The datagram was longer than the buffer; the rest was discarded.
    pub truncated: bool,
    /// The datagram's full length.
    pub datagram_len: usize,
}

/// SipHash with keys from the stack's seed: deterministic in simulation,
/// unpredictable to peers when seeded from the OS.
#[derive(Clone, Debug)]
struct KeyedHash(u64, u64);

impl BuildHasher for KeyedHash {
    type Hasher = SipHasher13;
    fn build_hasher(&self) -> SipHasher13 {
        SipHasher13::new_with_keys(self.0, self.1)
    }
}

type Map<K, V> = HashMap<K, V, KeyedHash>;

/// RFC 1191 §6.3: a path MTU estimate is forgotten after ten minutes, so
/// that a path whose MTU grew is used fully again.
const PMTU_EXPIRES: Duration = Duration::from_secs(600);
/// Destinations whose path MTU is remembered, at most (spoofed ICMP cannot
/// grow the table without bound).
const PMTU_CACHE_MAX: usize = 1024;

struct TcpSock {
    tcb: Box<Tcb>,
    /// The listener that created this connection, while it is queued there.
    parent: Option<SocketHandle>,
    /// Handed to the application (active open, or accepted).
    app_holds: bool,
    /// Registered in the 4-tuple map.
    in_map: bool,
    /// Buffer bytes last accounted in `Stack::buffer_total`.
    buf_bytes: usize,
}

/// A TCP connection's part is 32 bytes (its `Tcb` is boxed); listeners
/// (88 bytes) and UDP sockets (120), fewer, are boxed too, so that a socket
/// slot is 56 bytes instead of 160: the slots that segments and timers
/// look up at random take a third of the cache.
enum Socket {
    Listener(Box<Listener>),
    Tcp(TcpSock),
    Udp(Box<UdpSocket>),
}

/// What a 4-tuple of the connection map stands for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Conn {
    /// A connection with its `Tcb`, in a socket slot.
    Socket(SocketHandle),
    /// A connection in TIME-WAIT that the application let go of, kept as
    /// the compact record instead of its `Tcb` (see `tcp::conn::TimeWait`):
    /// its index in `Stack::tw_records`. It holds no socket slot (as
    /// Linux's `tcp_timewait_sock` is no socket), so the slots of a busy
    /// server do not grow with its TIME-WAIT connections.
    TimeWait(u32),
}

/// The connection map's key: (local, remote). Its hash feeds the keyed
/// hasher two or three whole words; the derived `Hash` of two `SocketAddr`s
/// fed it ten small pieces, a quarter of the cost of a segment's lookup.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct FlowKey(SocketAddr, SocketAddr);

impl Hash for FlowKey {
    fn hash<H: Hasher>(&self, h: &mut H) {
        let ports = (u64::from(self.0.port()) << 16) | u64::from(self.1.port());
        match (self.0.ip(), self.1.ip()) {
            (IpAddr::V4(a), IpAddr::V4(b)) => {
                h.write_u64((u64::from(u32::from(a)) << 32) | u64::from(u32::from(b)));
                h.write_u64(ports);
            }
            (a, b) => {
                let bits = |ip: IpAddr| match ip {
                    IpAddr::V4(v4) => v4.to_ipv6_mapped().to_bits(),
                    IpAddr::V6(v6) => v6.to_bits(),
                };
                h.write_u128(bits(a));
                h.write_u128(bits(b));
                h.write_u64(ports | 1 << 32);
            }
        }
    }
}

/// The connection map's key for an IPv4 4-tuple, which is what it mostly
/// holds: local address, remote address, ports (local << 16 | remote) in
/// 12 bytes, so that a bucket is 24 bytes instead of 80 with two
/// `SocketAddr`s. A busy server's map holds every TIME-WAIT connection of
/// the last minute: a third of the bytes keeps far more of it in cache.
/// Hashed as `FlowKey` hashes the same tuple.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct FlowKey4([u32; 3]);

impl Hash for FlowKey4 {
    fn hash<H: Hasher>(&self, h: &mut H) {
        h.write_u64((u64::from(self.0[0]) << 32) | u64::from(self.0[1]));
        h.write_u64(u64::from(self.0[2]));
    }
}

impl FlowKey {
    fn v4(&self) -> Option<FlowKey4> {
        match (self.0, self.1) {
            (SocketAddr::V4(l), SocketAddr::V4(r)) => Some(FlowKey4([
                u32::from(*l.ip()),
                u32::from(*r.ip()),
                (u32::from(l.port()) << 16) | u32::from(r.port()),
            ])),
            _ => None,
        }
    }
}

/// The connection map: IPv4 tuples under their compact key, others (IPv6,
/// mixed) under the whole pair.
struct ConnMap {
    v4: Map<FlowKey4, Conn>,
    other: Map<FlowKey, Conn>,
}

impl ConnMap {
    fn new(hk: &KeyedHash) -> ConnMap {
        ConnMap {
            v4: HashMap::with_hasher(hk.clone()),
            other: HashMap::with_hasher(hk.clone()),
        }
    }

    fn get(&self, key: &FlowKey) -> Option<Conn> {
        match key.v4() {
            Some(k) => self.v4.get(&k).copied(),
            None => self.other.get(key).copied(),
        }
    }

    fn contains(&self, key: &FlowKey) -> bool {
        self.get(key).is_some()
    }

    fn insert(&mut self, key: FlowKey, conn: Conn) {
        match key.v4() {
            Some(k) => {
                self.v4.insert(k, conn);
            }
            None => {
                self.other.insert(key, conn);
            }
        }
    }

    fn remove(&mut self, key: &FlowKey) {
        match key.v4() {
            Some(k) => {
                self.v4.remove(&k);
            }
            None => {
                self.other.remove(key);
            }
        }
    }

    fn values(&self) -> impl Iterator<Item = &Conn> {
        self.v4.values().chain(self.other.values())
    }
}

/// A due timer entry.
#[derive(Debug, Clone, Copy)]
enum Due {
    /// A socket slot's: (deadline, index, generation).
    Slot(Instant, u32, u32),
    /// A TIME-WAIT record's: (index, generation).
    Record(u32, u32),
}

/// Whose TIME-WAIT expiry an entry of `Stack::tw_timers` is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TwOf {
    /// A socket slot's (its `Tcb` is in TIME-WAIT).
    Slot,
    /// A record's.
    Record,
}

/// A compact TIME-WAIT record in the slab, and the generation that tells
/// a timer entry of a record from one of a later record in the same place.
struct TwSlot {
    generation: u32,
    record: TimeWait,
}

struct Slot {
    generation: u32,
    socket: Option<Socket>,
    dirty: bool,
    /// Queued in `events` (readiness may have changed).
    event: bool,
    /// Earliest timer entry this slot has in the heap.
    timer_at: SlotTime,
    /// The socket's deadline when `schedule` last looked (every change
    /// that moves it earlier is followed by `schedule`; one that moves it
    /// later may not be, which costs at most an early wake-up).
    deadline: SlotTime,
}

/// An `Option<Instant>` in 8 bytes instead of 16, so that a socket slot
/// fits in a cache line's 64 bytes: `u64::MAX` µs stands for None. A deadline
/// that late (584 000 years; only a saturated sum gives it) is kept one
/// µs earlier, in the slot and in its timer entry alike.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct SlotTime(u64);

impl SlotTime {
    const NONE: SlotTime = SlotTime(u64::MAX);

    fn at(t: Instant) -> SlotTime {
        SlotTime(t.total_micros().min(u64::MAX - 1))
    }

    fn new(t: Option<Instant>) -> SlotTime {
        t.map_or(SlotTime::NONE, SlotTime::at)
    }

    fn get(self) -> Option<Instant> {
        (self != SlotTime::NONE).then_some(Instant::from_micros(self.0))
    }
}

#[derive(Debug, Default, Clone, Copy)]
struct PortUse {
    users: u32,
    listeners: u32,
}

/// A RST answering a segment that has no connection (or a bad one), or a
/// stateless SYN-ACK carrying a SYN cookie.
#[derive(Debug, Clone, Copy)]
struct RstReply {
    local: SocketAddr,
    remote: SocketAddr,
    seq: u32,
    ack: Option<u32>,
    /// Some: a SYN-ACK (window, options, the listener's TTL and TOS)
    /// instead of a RST (sent with the stack's TTL, TOS 0).
    synack: Option<(u16, TcpOptions, u8, u8)>,
}

/// A token bucket: `rate` per second, bursts of `burst`.
#[derive(Debug, Clone)]
struct RateLimit {
    tokens: u64,
    last: Instant,
    rate: u64,
    burst: u64,
}

impl RateLimit {
    fn new(rate: u32, burst: u32) -> RateLimit {
        RateLimit {
            tokens: u64::from(burst),
            last: Instant::ZERO,
            rate: u64::from(rate),
            burst: u64::from(burst),
        }
    }
    /// Takes a token if one is available (rate 0 = unlimited).
    fn take(&mut self, now: Instant) -> bool {
        if self.rate == 0 {
            return true;
        }
        let elapsed = now.saturating_since(self.last).as_micros() as u64;
        let refill = elapsed.saturating_mul(self.rate) / 1_000_000;
        if refill > 0 {
            self.tokens = (self.tokens + refill).min(self.burst);
            // Advance by the time those tokens stand for, keeping the
            // fraction of the next one (a full bucket restarts the clock).
            self.last = if self.tokens == self.burst {
                now
            } else {
                self.last + Duration::from_micros(refill * 1_000_000 / self.rate)
            };
        }
        if self.tokens > 0 {
            self.tokens -= 1;
            true
        } else {
            false
        }
    }
}

/// MSS values a SYN cookie can carry (3 bits).
const COOKIE_MSS: [u16; 8] = [216, 536, 1024, 1220, 1300, 1440, 1460, 8960];
/// A cookie's time slot (RFC 4987 §3.6: a slowly incrementing counter).
const COOKIE_SLOT_US: u64 = 64_000_000;

/// Bound on prebuilt packets (UDP, ICMP) waiting for `poll_transmit`.
const OUT_QUEUE_BYTES: usize = 4 << 20;
/// Packet buffers kept for reuse (each at most the MTU: ~190 KB at 1500).
const SPARE_PKTS_MAX: usize = 128;
/// Looped-back packets delivered per `poll_transmit` call, so that one
/// call stays short (a bulk transfer to ourselves would otherwise run
/// until a window fills).
const LOOPBACK_BUDGET: usize = 256;
/// Bound on queued RST replies.
const RST_QUEUE_MAX: usize = 1024;
/// Freed `Tcb` allocations kept for reuse.
const TCB_POOL_MAX: usize = 256;

pub struct Stack {
    config: Config,
    routes: Routes,
    /// Own IPv4 addresses as integers: `poll_transmit` checks every packet
    /// against them (loopback) without walking the routing table.
    local_v4: Vec<u32>,
    now: Instant,
    rng: Rng,
    isn_key: (u64, u64),
    /// RFC 6056 Algorithm 3 counter.
    next_ephemeral: u32,
    cookie_key: (u64, u64),
    /// Key of the IPv6 flow labels (`flow_label`).
    flow_key: (u64, u64),
    icmp_limit: RateLimit,
    slots: Vec<Slot>,
    free_slots: Vec<u32>,
    live: usize,
    tcp_conns: ConnMap,
    /// The last segment's lookup in `tcp_conns` (BSD's one-behind cache):
    /// a bulk transfer's segments come in runs for one connection. Cleared
    /// whenever the map changes.
    last_conn: Option<(FlowKey, Conn)>,
    tcp_listeners: Map<SocketAddr, SocketHandle>,
    tcp_ports: Map<u16, PortUse>,
    udp_binds: Map<SocketAddr, SocketHandle>,
    /// Path MTU discovery's estimates per destination (RFC 1191 §6.3),
    /// with when each is forgotten.
    pmtu: Map<IpAddr, (PathMtu, Instant)>,
    /// Socket timers: (deadline, slot index, slot generation).
    timers: BinaryHeap<Reverse<(Instant, u32, u32)>>,
    /// TIME-WAIT expiries, of records and of connections in TIME-WAIT
    /// that still have their `Tcb`: (expiry, index, generation, whose).
    /// Each is the last FIN's time + 2·MSL, so they come almost in time
    /// order and a sorted FIFO holds them (an entry is inserted from the
    /// back). On a busy server they are most of the timers; the heap then
    /// stays small (and is not left with a stale entry per connection
    /// when its `Tcb` becomes a record).
    tw_timers: VecDeque<(Instant, u32, u32, TwOf)>,
    dirty: VecDeque<SocketHandle>,
    events: VecDeque<SocketHandle>,
    out_queue: VecDeque<Vec<u8>>,
    out_queue_bytes: usize,
    /// Copies of our own broadcasts for this host's sockets (Linux loops
    /// them back); bounded as `out_queue` is, each having a twin there.
    broadcast_loop: VecDeque<Vec<u8>>,
    /// Buffers of packets `out_queue` sent and of datagrams read, for
    /// the next ones.
    pool: BufPool,
    rst_queue: VecDeque<RstReply>,
    reassembler: Reassembler,
    ip_ident: u16,
    /// The counter of IPv6 Fragment header identifications (RFC 7739).
    ip6_ident: u32,
    counters: Counters,
    /// Bytes of TCP buffers allocated, all connections.
    buffer_total: usize,
    /// TCP counters of connections already freed.
    retired_tcp: TcpCounters,
    /// Compact TIME-WAIT records (`Conn::TimeWait` indexes them), and
    /// the free entries: a slab, so that they cost no allocation each.
    tw_records: Vec<TwSlot>,
    tw_free: Vec<u32>,
    /// `Tcb` allocations of freed connections, for the next ones (at most
    /// `TCB_POOL_MAX`): at a steady connection rate none is allocated.
    /// Boxed on purpose: the boxes are what is reused.
    #[allow(clippy::vec_box)]
    tcb_pool: Vec<Box<Tcb>>,
}

/// A TTL an application may set: 1–255 (EINVAL otherwise, as Linux's
/// IP_TTL).
/// The ECN field: the low two bits of the DS field (RFC 3168 §5).
const ECN_MASK: u8 = 0x03;

/// IP_TOS: one byte.
fn checked_tos(tos: u32) -> io::Result<u8> {
    u8::try_from(tos).map_err(|_| err(io::ErrorKind::InvalidInput, "TOS must be between 0 and 255"))
}

fn checked_ttl(ttl: u32) -> io::Result<u8> {
    match u8::try_from(ttl) {
        Ok(t) if t > 0 => Ok(t),
        _ => Err(err(
            io::ErrorKind::InvalidInput,
            "TTL must be between 1 and 255",
        )),
    }
}

fn err(kind: io::ErrorKind, msg: &'static str) -> io::Error {
    io::Error::new(kind, msg)
}

/// The IP header in front of our TCP segments to `dst` (no options).
#[inline(always)]
fn ip_header_len(dst: IpAddr) -> usize {
    match dst {
        IpAddr::V4(_) => ipv4::HEADER_LEN,
        IpAddr::V6(_) => ipv6::HEADER_LEN,
    }
}

/// The wildcard address of `ip`'s family.
fn unspecified(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
        IpAddr::V6(_) => IpAddr::V6(Ipv6Addr::UNSPECIFIED),
    }
}

/// The socket of `binds` that traffic to `local` goes to: the one bound
/// to that address, or to the wildcard of its family, or, for IPv4, to
/// `[::]` when `dual` says that socket is dual-stack (Linux's default,
/// IPV6_V6ONLY off).
fn bound_to(
    binds: &Map<SocketAddr, SocketHandle>,
    local: SocketAddr,
    dual: impl Fn(SocketHandle) -> bool,
) -> Option<SocketHandle> {
    let any = |ip: IpAddr| SocketAddr::new(ip, local.port());
    binds
        .get(&local)
        .or_else(|| binds.get(&any(unspecified(local.ip()))))
        .copied()
        .or_else(|| {
            local
                .is_ipv4()
                .then(|| binds.get(&any(Ipv6Addr::UNSPECIFIED.into())))
                .flatten()
                .copied()
                .filter(|h| dual(*h))
        })
}

/// Whether sockets bound to `a` and `b` (on one port) would take some of
/// the same traffic, so that binding both conflicts: the same address, a
/// wildcard and an address of its family, or a dual-stack `[::]` (not
/// IPV6_V6ONLY) and any IPv4 address (Linux's `inet_bind_conflict`).
fn binds_overlap(a: IpAddr, a_only_v6: bool, b: IpAddr, b_only_v6: bool) -> bool {
    match (a, b) {
        (IpAddr::V4(_), IpAddr::V4(_)) | (IpAddr::V6(_), IpAddr::V6(_)) => {
            a == b || a.is_unspecified() || b.is_unspecified()
        }
        (IpAddr::V6(v6), IpAddr::V4(_)) => v6.is_unspecified() && !a_only_v6,
        (IpAddr::V4(_), IpAddr::V6(v6)) => v6.is_unspecified() && !b_only_v6,
    }
}

/// Whether the start of an IPv6 packet's fragmentable part, `data`, whose
/// first header is `first`, holds the whole header chain: every extension
/// header and the upper layer's header (RFC 7112 §5; for protocols we do
/// not know, the extension headers only).
fn whole_header_chain(first: u8, data: &[u8]) -> bool {
    match ipv6::walk_extensions(first, data) {
        Ok(ext) if ext.fragment.is_none() => {
            let upper = match ext.protocol {
                ipv6::PROTO_TCP => wtcp::HEADER_LEN,
                ipv6::PROTO_UDP => ustack_wire::udp::HEADER_LEN,
                ipv6::PROTO_ICMPV6 => icmpv6::HEADER_LEN,
                _ => 0,
            };
            data.len() >= ext.offset + upper
        }
        // A second Fragment header is dropped after reassembly anyway;
        // only a cut chain is this check's business.
        Ok(_) => true,
        Err(ExtError::Truncated) => false,
        Err(_) => true,
    }
}

/// A destination-unreachable we send about a datagram that found no
/// taker.
#[derive(Clone, Copy)]
enum Unreachable {
    Port,
    Protocol,
}

/// A socket bound to an address of one family cannot talk to the other,
/// except a `[::]` one (dual-stack, as Linux's default): EAFNOSUPPORT
/// and EINVAL there.
fn check_family(local: IpAddr, remote: IpAddr) -> io::Result<()> {
    match (local, remote) {
        (IpAddr::V4(_), IpAddr::V4(_)) | (IpAddr::V6(_), IpAddr::V6(_)) => Ok(()),
        (IpAddr::V6(l), IpAddr::V4(_)) if l.is_unspecified() => Ok(()),
        _ => Err(err(
            io::ErrorKind::InvalidInput,
            "the socket's address and the destination are of different IP versions",
        )),
    }
}

/// `check_family` for a socket that may have IPV6_V6ONLY set.
fn check_family_v6only(local: IpAddr, only_v6: bool, remote: IpAddr) -> io::Result<()> {
    if only_v6 && local.is_ipv6() && remote.is_ipv4() {
        return Err(err(
            io::ErrorKind::InvalidInput,
            "the socket is IPv6-only (IPV6_V6ONLY) and the destination is IPv4",
        ));
    }
    check_family(local, remote)
}

fn bad_handle() -> io::Error {
    err(io::ErrorKind::NotFound, "invalid or closed socket handle")
}

impl Stack {
    /// Creates a stack. Invalid configuration (no address, MTU < 68) is an
    /// `InvalidInput` error.
    pub fn new(config: Config) -> io::Result<Stack> {
        if config.addresses.is_empty() {
            return Err(err(
                io::ErrorKind::InvalidInput,
                "the stack needs at least one address",
            ));
        }
        if let Some(ka) = &config.tcp.keepalive {
            ka.check()
                .map_err(|m| err(io::ErrorKind::InvalidInput, m))?;
        }
        for (b, what) in [
            (config.tcp.send_buffer, "tcp.send_buffer"),
            (config.tcp.send_buffer_max, "tcp.send_buffer_max"),
            (config.tcp.recv_buffer, "tcp.recv_buffer"),
            (config.tcp.recv_buffer_max, "tcp.recv_buffer_max"),
        ] {
            if b == 0 || b > MAX_SOCKET_BUFFER {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!("{what} must be between 1 byte and 1 GiB"),
                ));
            }
        }
        if config.ttl == 0 {
            return Err(err(io::ErrorKind::InvalidInput, "TTL must be at least 1"));
        }
        if config.mtu < 68 || config.mtu > 65535 {
            return Err(err(
                io::ErrorKind::InvalidInput,
                "MTU must be between 68 and 65535",
            ));
        }
        if config.mtu < ipv6::MIN_MTU && config.addresses.iter().any(|c| c.addr.is_ipv6()) {
            // RFC 8200 §5.
            return Err(err(
                io::ErrorKind::InvalidInput,
                "IPv6 needs an MTU of at least 1280",
            ));
        }
        if config.ephemeral_ports.0 == 0 || config.ephemeral_ports.0 > config.ephemeral_ports.1 {
            return Err(err(io::ErrorKind::InvalidInput, "bad ephemeral port range"));
        }
        let mut routes = Routes::new();
        for a in &config.addresses {
            routes.add_address(*a);
        }
        if let Some(gw) = config.gateway {
            routes
                .set_default_gateway(gw)
                .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e.0))?;
        }
        let mut rng = Rng::new(config.seed);
        let hk = KeyedHash(rng.next_u64(), rng.next_u64());
        let isn_key = (rng.next_u64(), rng.next_u64());
        let cookie_key = (rng.next_u64(), rng.next_u64());
        // Derived rather than drawn, so that a seed's other draws stay as
        // they were.
        let flow_key = {
            let mut h = SipHasher24::new_with_keys(isn_key.1, cookie_key.1);
            h.write(b"ipv6 flow label");
            let a = h.finish();
            h.write_u8(1);
            (a, h.finish())
        };
        let icmp_limit = RateLimit::new(config.icmp_error_rate, 50);
        let ip_ident = rng.next_u32() as u16;
        Ok(Stack {
            local_v4: routes
                .addresses()
                .iter()
                .filter_map(|c| match c.addr {
                    IpAddr::V4(a) => Some(u32::from(a)),
                    IpAddr::V6(_) => None,
                })
                .collect(),
            routes,
            now: Instant::ZERO,
            rng,
            isn_key,
            next_ephemeral: 0,
            cookie_key,
            flow_key,
            icmp_limit,
            slots: Vec::new(),
            free_slots: Vec::new(),
            live: 0,
            tcp_conns: ConnMap::new(&hk),
            last_conn: None,
            tcp_listeners: HashMap::with_hasher(hk.clone()),
            tcp_ports: HashMap::with_hasher(hk.clone()),
            pmtu: HashMap::with_hasher(hk.clone()),
            udp_binds: HashMap::with_hasher(hk),
            timers: BinaryHeap::new(),
            tw_timers: VecDeque::new(),
            dirty: VecDeque::new(),
            events: VecDeque::new(),
            out_queue: VecDeque::new(),
            out_queue_bytes: 0,
            broadcast_loop: VecDeque::new(),
            pool: BufPool::new(SPARE_PKTS_MAX, config.mtu),
            rst_queue: VecDeque::new(),
            reassembler: Reassembler::new(config.reassembly),
            ip_ident,
            // From a key rather than a draw: the seeded sequence of draws
            // (and so every simulated trace) stays as it was.
            ip6_ident: (isn_key.0 >> 32) as u32,
            counters: Counters::default(),
            buffer_total: 0,
            retired_tcp: TcpCounters::default(),
            tw_records: Vec::new(),
            tw_free: Vec::new(),
            tcb_pool: Vec::new(),
            config,
        })
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    fn tick(&mut self, now: Instant) {
        if now > self.now {
            self.now = now;
        }
    }

    // ------------------------------------------------------------------
    // Slots
    // ------------------------------------------------------------------

    fn alloc(&mut self, socket: Socket) -> io::Result<SocketHandle> {
        if self.live >= self.config.max_sockets {
            return Err(err(
                io::ErrorKind::OutOfMemory,
                "socket limit reached (max_sockets)",
            ));
        }
        self.live += 1;
        Ok(self.alloc_slot(socket))
    }

    /// A slot for `socket`, not counted in `live` (the caller does).
    fn alloc_slot(&mut self, socket: Socket) -> SocketHandle {
        if let Some(index) = self.free_slots.pop() {
            let slot = &mut self.slots[index as usize];
            slot.socket = Some(socket);
            slot.dirty = false;
            slot.event = false;
            slot.timer_at = SlotTime::NONE;
            slot.deadline = SlotTime::NONE;
            return SocketHandle {
                index,
                generation: slot.generation,
            };
        }
        let index = self.slots.len() as u32;
        self.slots.push(Slot {
            generation: 0,
            socket: Some(socket),
            dirty: false,
            event: false,
            timer_at: SlotTime::NONE,
            deadline: SlotTime::NONE,
        });
        SocketHandle {
            index,
            generation: 0,
        }
    }

    fn free(&mut self, h: SocketHandle) {
        let Some(slot) = self.slots.get_mut(h.index as usize) else {
            return;
        };
        if slot.generation != h.generation || slot.socket.is_none() {
            return;
        }
        if let Some(Socket::Tcp(t)) = slot.socket.take() {
            self.retired_tcp.add(&t.tcb.counters);
            self.counters.tcp_connections_closed += 1;
            self.buffer_total -= t.buf_bytes;
            if self.tcb_pool.len() < TCB_POOL_MAX && t.tcb.buffer_bytes() == 0 {
                self.tcb_pool.push(t.tcb);
            }
        }
        self.live -= 1;
        self.release_slot(h.index);
    }

    /// Makes slot `index` free (its socket already taken): its handles and
    /// queue and timer entries go stale.
    fn release_slot(&mut self, index: u32) {
        if let Some(slot) = self.slots.get_mut(index as usize) {
            slot.socket = None;
            slot.generation = slot.generation.wrapping_add(1);
            slot.dirty = false;
            slot.timer_at = SlotTime::NONE;
            slot.deadline = SlotTime::NONE;
            self.free_slots.push(index);
        }
    }

    fn slot(&self, h: SocketHandle) -> Option<&Socket> {
        let slot = self.slots.get(h.index as usize)?;
        if slot.generation != h.generation {
            return None;
        }
        slot.socket.as_ref()
    }

    fn slot_mut(&mut self, h: SocketHandle) -> Option<&mut Socket> {
        let slot = self.slots.get_mut(h.index as usize)?;
        if slot.generation != h.generation {
            return None;
        }
        slot.socket.as_mut()
    }

    fn tcp_mut(&mut self, h: SocketHandle) -> Option<&mut TcpSock> {
        match self.slot_mut(h) {
            Some(Socket::Tcp(t)) => Some(t),
            _ => None,
        }
    }

    /// A connection the application holds.
    fn app_tcb(&self, h: SocketHandle) -> io::Result<&Tcb> {
        match self.slot(h) {
            Some(Socket::Tcp(t)) if t.app_holds && !t.tcb.orphaned => Ok(&t.tcb),
            Some(Socket::Tcp(_)) => Err(bad_handle()),
            Some(_) => Err(err(io::ErrorKind::InvalidInput, "not a TCP stream socket")),
            None => Err(bad_handle()),
        }
    }

    fn app_tcb_mut(&mut self, h: SocketHandle) -> io::Result<&mut Tcb> {
        match self.slot_mut(h) {
            Some(Socket::Tcp(t)) if t.app_holds && !t.tcb.orphaned => Ok(&mut t.tcb),
            Some(Socket::Tcp(_)) => Err(bad_handle()),
            Some(_) => Err(err(io::ErrorKind::InvalidInput, "not a TCP stream socket")),
            None => Err(bad_handle()),
        }
    }

    /// The options a listener's new connections start with.
    fn listener_opts(&self, lh: SocketHandle) -> ConnOpts {
        match self.slot(lh) {
            Some(Socket::Listener(l)) => l.opts,
            _ => ConnOpts::from_config(&self.config.tcp, self.config.ttl),
        }
    }

    /// A listener's inherited options, for setting them.
    fn listener_opts_mut(&mut self, h: SocketHandle) -> Option<&mut ConnOpts> {
        match self.slot_mut(h) {
            Some(Socket::Listener(l)) => Some(&mut l.opts),
            _ => None,
        }
    }

    fn mark_dirty(&mut self, h: SocketHandle) {
        if let Some(slot) = self.slots.get_mut(h.index as usize) {
            if slot.generation == h.generation && !slot.dirty && slot.socket.is_some() {
                slot.dirty = true;
                self.dirty.push_back(h);
            }
        }
        self.mark_event(h);
    }

    /// Records that `h`'s readiness may have changed.
    fn mark_event(&mut self, h: SocketHandle) {
        if let Some(slot) = self.slots.get_mut(h.index as usize) {
            if slot.generation == h.generation && !slot.event && slot.socket.is_some() {
                slot.event = true;
                self.events.push_back(h);
            }
        }
    }

    /// Next socket whose readiness (readable, writable, accept, error) may
    /// have changed since it was last returned. A runtime wakes the tasks
    /// waiting on it; a caller that never asks loses nothing.
    pub fn poll_event(&mut self) -> Option<SocketHandle> {
        while let Some(h) = self.events.pop_front() {
            if let Some(slot) = self.slots.get_mut(h.index as usize) {
                if slot.generation == h.generation && slot.event {
                    slot.event = false;
                    return Some(h);
                }
            }
        }
        None
    }

    /// Re-arms the socket's heap entry if its deadline moved earlier.
    fn schedule(&mut self, h: SocketHandle) {
        let Some(slot) = self.slots.get_mut(h.index as usize) else {
            return;
        };
        if slot.generation != h.generation {
            return;
        }
        let (deadline, time_wait) = match &slot.socket {
            Some(Socket::Tcp(t)) => {
                let d = t.tcb.next_deadline();
                (d, d.is_some() && d == t.tcb.time_wait_expiry())
            }
            _ => (None, false),
        };
        slot.deadline = SlotTime::new(deadline);
        if let Some(d) = slot.deadline.get() {
            if slot.timer_at.get().is_none_or(|t| d < t) {
                slot.timer_at = SlotTime::at(d);
                if time_wait {
                    self.file_time_wait((d, h.index, h.generation, TwOf::Slot));
                } else {
                    self.timers.push(Reverse((d, h.index, h.generation)));
                }
            }
        }
    }

    /// Files a TIME-WAIT expiry in the FIFO, in time order (almost always
    /// at the back).
    fn file_time_wait(&mut self, entry: (Instant, u32, u32, TwOf)) {
        let mut at = self.tw_timers.len();
        while at > 0 && self.tw_timers[at - 1].0 > entry.0 {
            at -= 1;
        }
        self.tw_timers.insert(at, entry);
    }

    /// Files the expiry of TIME-WAIT record `index` in the FIFO, in time
    /// order (almost always at the back).
    fn schedule_time_wait(&mut self, index: u32) {
        let Some(tw) = self.tw_records.get(index as usize) else {
            return;
        };
        let entry = (tw.record.expiry, index, tw.generation, TwOf::Record);
        self.file_time_wait(entry);
    }

    /// Bookkeeping after anything touched a TCP connection: timers, and
    /// clean-up once it is CLOSED.
    fn after_tcp(&mut self, h: SocketHandle) {
        let Some(Socket::Tcp(t)) = self.slot_mut(h) else {
            return;
        };
        // Total buffer memory accounting (Config::max_buffer_bytes).
        let now_bytes = t.tcb.buffer_bytes();
        let before = std::mem::replace(&mut t.buf_bytes, now_bytes);
        let closed = t.tcb.is_closed();
        let time_wait = t.tcb.state == TcpState::TimeWait;
        let (in_map, key, parent) = (t.in_map, (t.tcb.local, t.tcb.remote), t.parent);
        let let_go = !t.app_holds || t.tcb.orphaned;
        self.buffer_total = self.buffer_total + now_bytes - before;
        if !closed {
            if time_wait && in_map && parent.is_none() && let_go {
                self.compact_time_wait(h);
            }
            // A socket queued for `poll_transmit` is scheduled there, after
            // its last segment of the round (`poll_at` says "now" while the
            // queue is not empty): one deadline computation per burst
            // instead of one per segment.
            if !self.slots.get(h.index as usize).is_some_and(|s| s.dirty) {
                self.schedule(h);
            }
            return;
        }
        if in_map {
            self.conn_remove(FlowKey(key.0, key.1));
            self.release_port(key.0.port(), false);
            if let Some(t) = self.tcp_mut(h) {
                t.in_map = false;
            }
        }
        if let Some(p) = parent {
            // Closed before accept: take it off the listener's queues.
            if let Some(Socket::Listener(l)) = self.slot_mut(p) {
                if let Some(pos) = l.accept_queue.iter().position(|c| *c == h) {
                    l.accept_queue.remove(pos);
                } else {
                    l.syn_queue = l.syn_queue.saturating_sub(1);
                }
            }
            if let Some(t) = self.tcp_mut(h) {
                t.parent = None;
            }
        }
        if let_go {
            self.free(h);
        }
    }

    /// A connection the application let go of that is quiet in TIME-WAIT
    /// becomes the compact record for the rest of its 2·MSL (as Linux's
    /// `tcp_timewait_sock`); its timer entry stays valid (same deadline).
    fn compact_time_wait(&mut self, h: SocketHandle) {
        let Some(slot) = self.slots.get_mut(h.index as usize) else {
            return;
        };
        if slot.generation != h.generation {
            return;
        }
        let Some(Socket::Tcp(t)) = &slot.socket else {
            return;
        };
        let Some(record) = t.tcb.to_time_wait() else {
            return;
        };
        let Some(Socket::Tcp(t)) = slot.socket.take() else {
            return;
        };
        let key = FlowKey(record.local, record.remote);
        let index = match self.tw_free.pop() {
            Some(i) => {
                self.tw_records[i as usize].record = record;
                i
            }
            None => {
                self.tw_records.push(TwSlot {
                    generation: 0,
                    record,
                });
                (self.tw_records.len() - 1) as u32
            }
        };
        // The record takes the connection's place in the map and in
        // `live`; its slot is free for the next socket.
        self.conn_insert(key, Conn::TimeWait(index));
        self.release_slot(h.index);
        self.schedule_time_wait(index);
        self.retired_tcp.add(&t.tcb.counters);
        self.buffer_total -= t.buf_bytes;
        if self.tcb_pool.len() < TCB_POOL_MAX {
            self.tcb_pool.push(t.tcb);
        }
    }

    /// Frees TIME-WAIT record `index`: its timer entry goes stale.
    fn release_time_wait(&mut self, index: u32) {
        if let Some(tw) = self.tw_records.get_mut(index as usize) {
            tw.generation = tw.generation.wrapping_add(1);
            self.tw_free.push(index);
        }
    }

    /// `tcb` in an allocation of the pool if there is one.
    /// A connection's box (from the pool when one is free), with the flow
    /// label of its 4-tuple (every connection is made through here).
    fn boxed_tcb(&mut self, mut tcb: Tcb) -> Box<Tcb> {
        tcb.flow_label = self.tcp_flow_label(tcb.local, tcb.remote);
        match self.tcb_pool.pop() {
            Some(mut b) => {
                *b = tcb;
                b
            }
            None => Box::new(tcb),
        }
    }

    /// A segment for a compacted TIME-WAIT connection: its `Tcb` comes back
    /// (in a slot, in the record's place) and answers it as before (RFC
    /// 9293 §3.10.7.4); `after_tcp` compacts it again once it is quiet.
    fn expand_time_wait(&mut self, index: u32) -> Option<SocketHandle> {
        let tw = self.tw_records.get(index as usize)?;
        let key = FlowKey(tw.record.local, tw.record.remote);
        let tcb = Tcb::from_time_wait(&tw.record, &self.config.tcp, self.config.ttl);
        self.release_time_wait(index);
        let tcb = self.boxed_tcb(tcb);
        // Already counted in `live` as the record.
        let h = self.alloc_slot(Socket::Tcp(TcpSock {
            tcb,
            parent: None,
            app_holds: false,
            in_map: true,
            buf_bytes: 0,
        }));
        self.conn_insert(key, Conn::Socket(h));
        Some(h)
    }

    /// A compacted TIME-WAIT connection ends (RFC 9293 §3.10.8: its
    /// timeout; or a new SYN reopens the 4-tuple): CLOSED, and its 4-tuple
    /// and port are free again.
    fn close_time_wait(&mut self, index: u32) {
        let Some(tw) = self.tw_records.get(index as usize) else {
            return;
        };
        let (local, remote) = (tw.record.local, tw.record.remote);
        tracing::debug!(local = %local, remote = %remote, from = %TcpState::TimeWait, to = %TcpState::Closed, "tcp state");
        if self.tcp_conns.get(&FlowKey(local, remote)) == Some(Conn::TimeWait(index)) {
            self.conn_remove(FlowKey(local, remote));
        }
        self.release_port(local.port(), false);
        self.release_time_wait(index);
        // Its counters were retired when it was compacted.
        self.counters.tcp_connections_closed += 1;
        self.live -= 1;
    }

    fn conn_insert(&mut self, key: FlowKey, conn: Conn) {
        self.last_conn = None;
        self.tcp_conns.insert(key, conn);
    }

    fn conn_remove(&mut self, key: FlowKey) {
        self.last_conn = None;
        self.tcp_conns.remove(&key);
    }

    /// The connection a segment with this 4-tuple is for.
    fn conn_lookup(&mut self, key: FlowKey) -> Option<Conn> {
        if let Some((k, c)) = self.last_conn {
            if k == key {
                return Some(c);
            }
        }
        let conn = self.tcp_conns.get(&key);
        if let Some(c) = conn {
            self.last_conn = Some((key, c));
        }
        conn
    }

    fn use_port(&mut self, port: u16, listener: bool) {
        let u = self.tcp_ports.entry(port).or_default();
        u.users += 1;
        if listener {
            u.listeners += 1;
        }
    }

    fn release_port(&mut self, port: u16, listener: bool) {
        if let Some(u) = self.tcp_ports.get_mut(&port) {
            u.users = u.users.saturating_sub(1);
            if listener {
                u.listeners = u.listeners.saturating_sub(1);
            }
            if u.users == 0 {
                self.tcp_ports.remove(&port);
            }
        }
    }

    /// RFC 6528: ISN = M + F(localip, localport, remoteip, remoteport,
    /// secretkey), M a 4 µs clock, F SipHash-2-4 keyed with a secret.
    fn isn(&self, local: SocketAddr, remote: SocketAddr) -> u32 {
        let mut h = SipHasher24::new_with_keys(self.isn_key.0, self.isn_key.1);
        FlowKey(local, remote).hash(&mut h);
        let f = h.finish() as u32;
        let m = (self.now.total_micros() / 4) as u32;
        m.wrapping_add(f)
    }

    /// RFC 6437 §3: the flow label of the packets from `src` to `dst`, a
    /// keyed hash of the addresses, protocol and ports (as Linux's
    /// automatic labels: the same for every packet of a flow, not
    /// guessable from outside), never 0. 0 for IPv4, or with
    /// `Config::ipv6_flow_labels` off.
    #[inline]
    fn flow_label(&self, src: IpAddr, dst: IpAddr, protocol: u8, ports: (u16, u16)) -> u32 {
        match (src, dst) {
            (IpAddr::V6(s), IpAddr::V6(d)) if self.config.ipv6_flow_labels => {
                self.flow_label_v6(s, d, protocol, ports)
            }
            _ => 0,
        }
    }

    /// `flow_label` for IPv6 (out of line: IPv4 only tests the family).
    #[inline(never)]
    fn flow_label_v6(&self, s: Ipv6Addr, d: Ipv6Addr, protocol: u8, ports: (u16, u16)) -> u32 {
        let mut h = SipHasher13::new_with_keys(self.flow_key.0, self.flow_key.1);
        h.write(&s.octets());
        h.write(&d.octets());
        h.write_u64(u64::from(protocol) << 32 | u64::from(ports.0) << 16 | u64::from(ports.1));
        let x = h.finish();
        match ((x ^ (x >> 20) ^ (x >> 40)) as u32) & 0xF_FFFF {
            0 => 1,
            l => l,
        }
    }

    /// The flow label of a TCP connection's packets (`flow_label`).
    #[inline]
    fn tcp_flow_label(&self, local: SocketAddr, remote: SocketAddr) -> u32 {
        match (local, remote) {
            (SocketAddr::V6(l), SocketAddr::V6(r)) if self.config.ipv6_flow_labels => {
                let ports = (l.port(), r.port());
                self.flow_label_v6(*l.ip(), *r.ip(), ipv6::PROTO_TCP, ports)
            }
            _ => 0,
        }
    }

    fn conn_params(&mut self, local: SocketAddr, remote: SocketAddr) -> (u32, u32) {
        let iss = self.isn(local, remote);
        let ts_offset = self.rng.next_u32();
        (iss, ts_offset)
    }

    fn next_ident(&mut self) -> u16 {
        self.ip_ident = self.ip_ident.wrapping_add(1);
        self.ip_ident
    }

    // ------------------------------------------------------------------
    // Input
    // ------------------------------------------------------------------

    /// Feeds one received IP packet. Malformed input is dropped and counted.
    pub fn receive(&mut self, now: Instant, packet: &[u8]) {
        self.receive_inner(now, packet, false);
        self.settle_timers();
    }

    /// `looped`: the packet is one of ours to an own address or
    /// 127.0.0.0/8 (`poll_transmit` delivers those here), not one from
    /// the device.
    // Inlined into `receive` (the device's path): 0.2 % fewer instructions
    // in the bulk benchmark than one call shared with the loopback.
    #[inline(always)]
    fn receive_inner(&mut self, now: Instant, packet: &[u8], looped: bool) {
        self.tick(now);
        self.counters.ip_in += 1;
        let pkt = match Ipv4Packet::new_checked(packet) {
            Ok(p) => p,
            Err(WireError::BadVersion) if packet[0] >> 4 == 6 => {
                return self.receive_v6(now, packet, looped)
            }
            Err(_) => return self.counters.drop(DropReason::IpMalformed),
        };
        if !pkt.verify_checksum() {
            return self.counters.drop(DropReason::IpChecksum);
        }
        let src = pkt.src_addr();
        let dst = pkt.dst_addr();
        let dst_ip = IpAddr::V4(dst);
        let broadcast = self.routes.is_broadcast(dst_ip) || dst.is_multicast();
        // 127.0.0.0/8 only ever arrives looped (RFC 1122 §3.2.1.3 (g)).
        let ours = if looped {
            self.routes.is_local_delivery(dst_ip)
        } else {
            self.routes.is_local(dst_ip)
        };
        if !broadcast && !ours {
            return self.counters.drop(DropReason::IpNotForUs);
        }
        // RFC 1122 §3.2.1.3: drop packets whose source is not a unicast
        // address, and, from the device, "land" packets claiming our own
        // address or 127.0.0.0/8 (only our own loopback may).
        let src_ip = IpAddr::V4(src);
        if src.is_broadcast()
            || src.is_multicast()
            || src.is_unspecified()
            || self.routes.is_broadcast(src_ip)
            || (!looped && self.routes.is_local_delivery(src_ip))
        {
            return self.counters.drop(DropReason::IpBadSource);
        }
        let protocol = pkt.protocol();
        if pkt.more_frags() || pkt.frag_offset() > 0 {
            self.counters.ip_fragments_in += 1;
            let key = FragKey {
                src: src_ip,
                dst: dst_ip,
                protocol,
                ident: u32::from(pkt.ident()),
            };
            let evicted = self.reassembler.evicted();
            let outcome =
                self.reassembler
                    .add(now, key, pkt.frag_offset(), pkt.more_frags(), pkt.payload());
            // Datagrams evicted to make room are lost: count them.
            for _ in evicted..self.reassembler.evicted() {
                self.counters.drop(DropReason::FragNoMemory);
            }
            match outcome {
                FragOutcome::Pending => {
                    // Kept for a Time Exceeded, which is never about an
                    // ICMP error (RFC 1122 §3.2.2).
                    let icmp_error = protocol == ipv4::PROTO_ICMP
                        && pkt.payload().first().is_some_and(|&t| icmpv4::is_error(t));
                    if pkt.frag_offset() == 0 && !icmp_error {
                        let q = (pkt.header_len() + 8).min(pkt.total_len());
                        self.reassembler.note_first_fragment(key, &packet[..q]);
                    }
                }
                FragOutcome::Complete(data) => {
                    self.counters.ip_reassembled += 1;
                    // Quote for ICMP errors: a header as if unfragmented.
                    let mut quote = [0u8; 28];
                    let repr = Ipv4Repr {
                        src,
                        dst,
                        protocol,
                        payload_len: data.len(),
                        ttl: pkt.ttl(),
                        ident: pkt.ident(),
                        dont_frag: false,
                        more_frags: false,
                        frag_offset: 0,
                        dscp_ecn: 0,
                    };
                    repr.emit(&mut quote[..20]);
                    let q = data.len().min(8);
                    quote[20..20 + q].copy_from_slice(&data[..q]);
                    self.transport_input(
                        src_ip,
                        dst_ip,
                        protocol,
                        &data,
                        &quote[..20 + q],
                        broadcast,
                    );
                }
                FragOutcome::Invalid => self.counters.drop(DropReason::FragInvalid),
                FragOutcome::NoMemory => self.counters.drop(DropReason::FragNoMemory),
            }
            return;
        }
        let total = pkt.total_len();
        self.transport_input(
            src_ip,
            dst_ip,
            protocol,
            pkt.payload(),
            &packet[..total],
            broadcast,
        );
    }

    /// An IPv6 packet (RFC 8200). Out of line: the IPv4 path stays as
    /// it was.
    #[inline(never)]
    fn receive_v6(&mut self, now: Instant, packet: &[u8], looped: bool) {
        let pkt = match Ipv6Packet::new_checked(packet) {
            Ok(p) => p,
            Err(_) => return self.counters.drop(DropReason::IpMalformed),
        };
        let (src, dst) = (pkt.src_addr(), pkt.dst_addr());
        let (src_ip, dst_ip) = (IpAddr::V6(src), IpAddr::V6(dst));
        // Of multicast we take only the all-nodes groups every node is in
        // (RFC 4291 §2.8), and treat them as IPv4's broadcast.
        let all_nodes = matches!(dst.segments(), [0xff01 | 0xff02, 0, 0, 0, 0, 0, 0, 1]);
        // ::1 only ever arrives looped (RFC 4291 §2.5.3).
        let ours = if looped {
            self.routes.is_local_delivery(dst_ip)
        } else {
            self.routes.is_local(dst_ip)
        };
        if !ours && !all_nodes {
            return self.counters.drop(DropReason::IpNotForUs);
        }
        // RFC 4291 §2.7: never a multicast source; the unspecified one
        // only in neighbour discovery, which we do not speak; from the
        // device, not ours nor ::1 (as for IPv4).
        if src.is_multicast()
            || src.is_unspecified()
            || (!looped && self.routes.is_local_delivery(src_ip))
        {
            return self.counters.drop(DropReason::IpBadSource);
        }
        let total = pkt.total_len();
        let payload = pkt.payload();
        let ext = match ipv6::walk_extensions(pkt.next_header(), payload) {
            Ok(e) => e,
            Err(ExtError::Truncated) => return self.counters.drop(DropReason::IpMalformed),
            Err(ExtError::Discard) => return self.counters.drop(DropReason::Ipv6ExtHeader),
            Err(ExtError::ParamProblem {
                code,
                pointer,
                unless_multicast,
            }) => {
                self.counters.drop(DropReason::Ipv6ExtHeader);
                // RFC 4443 §2.4 (e.3).
                if !(all_nodes && unless_multicast) {
                    let msg = Icmpv6Repr::ParamProblem {
                        code,
                        pointer,
                        quoted: &packet[..total],
                    };
                    self.send_icmpv6_error(src, dst, msg);
                }
                return;
            }
        };
        let Some(frag) = ext.fragment else {
            return self.upper_v6(src, dst, ext, payload, &packet[..total], all_nodes);
        };
        self.counters.ip_fragments_in += 1;
        let data = &payload[ext.offset..];
        if frag.offset == 0 && !frag.more {
            // An atomic fragment (RFC 8200 §4.5, RFC 6946): no
            // reassembly, its own identification space.
            return self.fragmentable_v6(
                src,
                dst,
                frag.next_header,
                data,
                &packet[..total],
                all_nodes,
            );
        }
        if frag.offset == 0 && !whole_header_chain(frag.next_header, data) {
            // RFC 7112 §5: a first fragment must hold every header up to
            // and including the upper layer's; else drop it, answering
            // with a parameter problem, code 3; only when TCP or UDP
            // follows the Fragment header, so never about what could be
            // an ICMPv6 error (RFC 4443 §2.4 (e.1)).
            self.counters.drop(DropReason::Ipv6ExtHeader);
            let transport = matches!(frag.next_header, ipv6::PROTO_TCP | ipv6::PROTO_UDP);
            if !all_nodes && transport {
                let msg = Icmpv6Repr::ParamProblem {
                    code: 3,
                    pointer: 0,
                    quoted: &packet[..total],
                };
                self.send_icmpv6_error(src, dst, msg);
            }
            return;
        }
        let key = FragKey {
            src: src_ip,
            dst: dst_ip,
            protocol: frag.next_header,
            ident: frag.ident,
        };
        let evicted = self.reassembler.evicted();
        let outcome = self.reassembler.add(now, key, frag.offset, frag.more, data);
        for _ in evicted..self.reassembler.evicted() {
            self.counters.drop(DropReason::FragNoMemory);
        }
        match outcome {
            FragOutcome::Pending => {
                // Kept for a Time Exceeded, which is never about an ICMPv6
                // error (RFC 4443 §2.4 (e.1)).
                let icmp_error = frag.next_header == ipv6::PROTO_ICMPV6
                    && data.first().is_some_and(|&t| icmpv6::is_error(t));
                if frag.offset == 0 && !icmp_error {
                    let q = (ipv6::HEADER_LEN + ext.offset + 8).min(total);
                    self.reassembler.note_first_fragment(key, &packet[..q]);
                }
            }
            FragOutcome::Complete(data) => {
                self.counters.ip_reassembled += 1;
                // Quote for errors: the packet as if it had not been
                // fragmented (fixed header and the reassembled data).
                let q = data.len().min(icmpv6::MAX_ERROR_LEN - 48);
                let mut quote = Vec::with_capacity(ipv6::HEADER_LEN + q);
                quote.extend_from_slice(&packet[..ipv6::HEADER_LEN]);
                quote[6] = frag.next_header;
                let plen = u16::try_from(data.len()).unwrap_or(u16::MAX);
                quote[4..6].copy_from_slice(&plen.to_be_bytes());
                quote.extend_from_slice(&data[..q]);
                self.fragmentable_v6(src, dst, frag.next_header, &data, &quote, all_nodes);
            }
            FragOutcome::Invalid => self.counters.drop(DropReason::FragInvalid),
            FragOutcome::NoMemory => self.counters.drop(DropReason::FragNoMemory),
        }
    }

    /// The fragmentable part of a reassembled (or atomic) IPv6 packet:
    /// it may still begin with destination options (RFC 8200 §4.5).
    fn fragmentable_v6(
        &mut self,
        src: Ipv6Addr,
        dst: Ipv6Addr,
        first: u8,
        data: &[u8],
        quote: &[u8],
        multicast: bool,
    ) {
        match ipv6::walk_extensions(first, data) {
            // A second Fragment header, or hop-by-hop options here, are
            // not what a sender builds: drop (no error; the pointers
            // would not point into the packet as received).
            Ok(ext) if ext.fragment.is_none() => {
                self.upper_v6(src, dst, ext, data, quote, multicast)
            }
            Ok(_) | Err(ExtError::Discard | ExtError::ParamProblem { .. }) => {
                self.counters.drop(DropReason::Ipv6ExtHeader)
            }
            Err(ExtError::Truncated) => self.counters.drop(DropReason::IpMalformed),
        }
    }

    /// Hands the upper-layer data of an IPv6 packet to its protocol; an
    /// unknown one gets a parameter problem, code 1, pointing at the
    /// next-header field that names it (RFC 8200 §4, RFC 4443 §3.4).
    fn upper_v6(
        &mut self,
        src: Ipv6Addr,
        dst: Ipv6Addr,
        ext: ipv6::Extensions,
        data: &[u8],
        quote: &[u8],
        multicast: bool,
    ) {
        let upper = &data[ext.offset..];
        match ext.protocol {
            ipv6::PROTO_TCP | ipv6::PROTO_UDP | ipv6::PROTO_ICMPV6 => self.transport_input(
                src.into(),
                dst.into(),
                ext.protocol,
                upper,
                quote,
                multicast,
            ),
            // RFC 8200 §4.7: nothing follows.
            ipv6::NO_NEXT => {}
            _ => {
                self.counters.drop(DropReason::UnknownProtocol);
                if !multicast {
                    let msg = Icmpv6Repr::ParamProblem {
                        code: icmpv6::param_problem::UNRECOGNIZED_NEXT_HEADER,
                        pointer: ext.next_header_at,
                        quoted: quote,
                    };
                    self.send_icmpv6_error(src, dst, msg);
                }
            }
        }
    }

    /// `broadcast`: sent to a broadcast or multicast address (then no
    /// ICMP error answers it, RFC 1122 §3.2.2, RFC 4443 §2.4 (e)).
    fn transport_input(
        &mut self,
        src: IpAddr,
        dst: IpAddr,
        protocol: u8,
        payload: &[u8],
        quote: &[u8],
        broadcast: bool,
    ) {
        match protocol {
            ipv4::PROTO_TCP => self.tcp_input(src, dst, payload, broadcast),
            ipv4::PROTO_UDP => self.udp_input(src, dst, payload, quote, broadcast),
            ipv4::PROTO_ICMP | ipv6::PROTO_ICMPV6 => match (protocol, src, dst) {
                (ipv4::PROTO_ICMP, IpAddr::V4(s), IpAddr::V4(d)) => {
                    self.icmp_input(s, d, payload, quote, broadcast)
                }
                (ipv6::PROTO_ICMPV6, IpAddr::V6(s), IpAddr::V6(d)) => {
                    self.icmpv6_input(s, d, payload, broadcast)
                }
                _ => self.counters.drop(DropReason::UnknownProtocol),
            },
            _ => {
                // IPv6's unknown next headers are answered in
                // `receive_v6`, which knows where the field is.
                self.counters.drop(DropReason::UnknownProtocol);
                if !broadcast {
                    self.send_unreachable(src, dst, Unreachable::Protocol, quote);
                }
            }
        }
    }

    fn tcp_input(&mut self, src_ip: IpAddr, dst_ip: IpAddr, data: &[u8], broadcast: bool) {
        if broadcast {
            // RFC 9293 §3.9.1 (via RFC 1122 §4.2.3.10): TCP is unicast only.
            return self.counters.drop(DropReason::TcpInvalid);
        }
        let pkt = match TcpPacket::new_checked(data) {
            Ok(p) => p,
            Err(_) => return self.counters.drop(DropReason::TcpMalformed),
        };
        let mut seg = TcpRepr::default();
        match seg.parse_into(&pkt) {
            Ok(()) => {}
            // A checksum failure is reported as such, before what the bad
            // bytes parse as.
            Err(_) if !pkt.verify_checksum(src_ip, dst_ip) => {
                return self.counters.drop(DropReason::TcpChecksum)
            }
            Err(WireError::BadOption) => return self.counters.drop(DropReason::TcpBadOption),
            Err(_) => return self.counters.drop(DropReason::TcpMalformed),
        };
        let local = SocketAddr::new(dst_ip, seg.dst_port);
        let remote = SocketAddr::new(src_ip, seg.src_port);
        let conn = self.conn_lookup(FlowKey(local, remote));
        // Checksum (RFC 9293 §3.1) before anything acts on the segment. For
        // the next in-order data of an established connection the payload
        // is summed while it is copied into the receive ring (not yet
        // readable), so it is read once; otherwise in one pass here.
        let mut prefilled = None;
        if let Some(Conn::Socket(h)) = conn.filter(|_| !seg.payload.is_empty()) {
            if let Some(Socket::Tcp(t)) = self.slot_mut(h) {
                let len = data.len() as u32;
                let header = &data[..data.len() - seg.payload.len()];
                let acc = ustack_wire::checksum::accumulate(
                    ustack_wire::checksum::pseudo_header(src_ip, dst_ip, ipv4::PROTO_TCP, len),
                    header,
                );
                if let Some(sum) = t.tcb.prefill_in_order(seg.seq, seg.payload, acc) {
                    if ustack_wire::checksum::finish(sum) != 0 {
                        t.tcb.forget_prefill();
                        return self.counters.drop(DropReason::TcpChecksum);
                    }
                    prefilled = Some(h);
                }
            }
        }
        if prefilled.is_none() && !pkt.verify_checksum(src_ip, dst_ip) {
            return self.counters.drop(DropReason::TcpChecksum);
        }
        if seg.src_port == 0 || seg.dst_port == 0 {
            if let Some(t) = prefilled.and_then(|h| self.tcp_mut(h)) {
                t.tcb.forget_prefill();
            }
            return self.counters.drop(DropReason::TcpMalformed);
        }

        if let Some(conn) = conn {
            let syn_only = seg.flags.syn() && !seg.flags.ack() && !seg.flags.rst();
            let above = |rcv_nxt: crate::tcp::seq::Seq| crate::tcp::seq::Seq(seg.seq).gt(rcv_nxt);
            let reuse = match conn {
                Conn::Socket(h) => match self.slot(h) {
                    Some(Socket::Tcp(t)) => {
                        t.tcb.state == TcpState::TimeWait && syn_only && above(t.tcb.rcv_nxt())
                    }
                    _ => false,
                },
                Conn::TimeWait(i) => self
                    .tw_records
                    .get(i as usize)
                    .is_some_and(|tw| syn_only && above(tw.record.rcv_nxt())),
            };
            if reuse && self.find_listener(local).is_some() {
                // RFC 9293 §3.10.7.4 / RFC 6191: a new SYN with a higher
                // sequence number may reopen a connection in TIME-WAIT.
                match conn {
                    Conn::Socket(h) => {
                        if let Some(t) = self.tcp_mut(h) {
                            t.tcb.orphaned = true;
                            t.tcb.on_timer(Instant::MAX);
                            self.after_tcp(h);
                        }
                    }
                    Conn::TimeWait(i) => self.close_time_wait(i),
                }
            } else {
                let h = match conn {
                    Conn::Socket(h) => h,
                    Conn::TimeWait(i) => match self.expand_time_wait(i) {
                        Some(h) => h,
                        None => return,
                    },
                };
                let now = self.now;
                let pressure = self.memory_pressure();
                let outcome = match self.tcp_mut(h) {
                    Some(t) => {
                        t.tcb.memory_pressure = pressure;
                        let outcome = t.tcb.on_segment(now, &seg);
                        // Placed bytes the segment did not deliver (it was
                        // dropped or trimmed) must not stand in for the next.
                        t.tcb.forget_prefill();
                        outcome
                    }
                    None => return,
                };
                self.handle_outcome(h, local, remote, outcome);
                self.mark_dirty(h);
                self.after_tcp(h);
                return;
            }
        }

        if let Some(lh) = self.find_listener(local) {
            return self.listener_input(lh, local, remote, &seg);
        }

        // RFC 9293 §3.10.7.1: CLOSED — answer anything but a RST with a RST.
        self.counters.drop(DropReason::TcpNoSocket);
        if !seg.flags.rst() {
            self.queue_rst_for(local, remote, &seg);
        }
    }

    /// RST for a segment with no connection (RFC 9293 §3.10.7.1): if ACK,
    /// <SEQ=SEG.ACK><CTL=RST>, else <SEQ=0><ACK=SEG.SEQ+SEG.LEN><CTL=RST,ACK>.
    fn queue_rst_for(&mut self, local: SocketAddr, remote: SocketAddr, seg: &TcpRepr<'_>) {
        let reply = if seg.flags.ack() {
            RstReply {
                local,
                remote,
                seq: seg.ack,
                ack: None,
                synack: None,
            }
        } else {
            let len =
                seg.payload.len() as u32 + u32::from(seg.flags.syn()) + u32::from(seg.flags.fin());
            RstReply {
                local,
                remote,
                seq: 0,
                ack: Some(seg.seq.wrapping_add(len)),
                synack: None,
            }
        };
        if self.rst_queue.len() < RST_QUEUE_MAX {
            self.rst_queue.push_back(reply);
        }
    }

    /// The listener for a SYN to `local`: bound to that address, or to
    /// the wildcard of its family, or, for IPv4, to `[::]` (a dual-stack
    /// listener, Linux's default with IPV6_V6ONLY off).
    fn find_listener(&self, local: SocketAddr) -> Option<SocketHandle> {
        bound_to(
            &self.tcp_listeners,
            local,
            |h| matches!(self.slot(h), Some(Socket::Listener(l)) if !l.only_v6),
        )
    }

    /// RFC 9293 §3.10.7.2: LISTEN.
    fn listener_input(
        &mut self,
        lh: SocketHandle,
        local: SocketAddr,
        remote: SocketAddr,
        seg: &TcpRepr<'_>,
    ) {
        let flags = seg.flags;
        if flags.rst() {
            // First, an incoming RST is ignored.
            return self.counters.drop(DropReason::TcpInvalid);
        }
        if flags.ack() && !flags.syn() && self.config.tcp.syn_cookies {
            // RFC 4987 §3.6: an ACK may complete a SYN-cookie handshake.
            if let Some(c) = self.check_cookie(local, remote, seg) {
                return self.cookie_connection(lh, local, remote, seg, c);
            }
        }
        if flags.ack() {
            // Second, any ACK is bad: <SEQ=SEG.ACK><CTL=RST>.
            self.counters.drop(DropReason::TcpInvalid);
            if self.rst_queue.len() < RST_QUEUE_MAX {
                self.rst_queue.push_back(RstReply {
                    local,
                    remote,
                    seq: seg.ack,
                    ack: None,
                    synack: None,
                });
            }
            return;
        }
        if !flags.syn() || flags.fin() {
            return self.counters.drop(DropReason::TcpInvalid);
        }
        // Third, a SYN: queue a child in SYN-RECEIVED, unless the queues
        // are full (then drop: the client retries; Linux does not reset).
        let (syn_full, accept_full) = match self.slot(lh) {
            Some(Socket::Listener(l)) => (l.syn_queue_full(), l.accept_queue_full()),
            _ => (true, true),
        };
        if syn_full && !accept_full && self.config.tcp.syn_cookies {
            // RFC 4987 §3.6: answer statelessly with a SYN cookie.
            let opts = self.listener_opts(lh);
            return self.send_cookie(local, remote, seg, &opts);
        }
        if syn_full || accept_full || self.live >= self.config.max_sockets {
            return self.counters.drop(DropReason::TcpListenOverflow);
        }
        self.tick(self.now);
        let (iss, ts_offset) = self.conn_params(local, remote);
        let params = ConnParams {
            cfg: &self.config.tcp,
            opts: self.listener_opts(lh),
            local,
            remote,
            iss,
            ts_offset,
            mtu: self.config.mtu,
            path: self.path_to(remote.ip()),
            now: self.now,
        };
        let tcb = Tcb::new_passive(&params, seg);
        let sock = TcpSock {
            tcb: self.boxed_tcb(tcb),
            parent: Some(lh),
            app_holds: false,
            in_map: true,
            buf_bytes: 0,
        };
        let Ok(h) = self.alloc(Socket::Tcp(sock)) else {
            return self.counters.drop(DropReason::TcpListenOverflow);
        };
        if let Some(Socket::Listener(l)) = self.slot_mut(lh) {
            l.syn_queue += 1;
        }
        self.conn_insert(FlowKey(local, remote), Conn::Socket(h));
        self.use_port(local.port(), false);
        self.mark_dirty(h);
        self.after_tcp(h);
    }

    fn cookie_slot(&self) -> u32 {
        (self.now.total_micros() / COOKIE_SLOT_US) as u32
    }

    /// RFC 4987 §3.6 cookie: 5 bits of time slot, 3 bits of MSS index, 24
    /// bits of a keyed SipHash over the 4-tuple, the client ISN, slot and
    /// MSS index.
    fn syn_cookie(
        &self,
        local: SocketAddr,
        remote: SocketAddr,
        irs: u32,
        slot: u32,
        mss_idx: u32,
    ) -> u32 {
        let mut h = SipHasher24::new_with_keys(self.cookie_key.0, self.cookie_key.1);
        FlowKey(local, remote).hash(&mut h);
        irs.hash(&mut h);
        slot.hash(&mut h);
        mss_idx.hash(&mut h);
        ((slot & 0x1f) << 27) | ((mss_idx & 7) << 24) | (h.finish() as u32 & 0x00ff_ffff)
    }

    /// Per-flow offset of the TSval clock for cookie connections (the
    /// connection created later must continue the SYN-ACK's clock).
    fn cookie_ts_offset(&self, local: SocketAddr, remote: SocketAddr) -> u32 {
        let mut h = SipHasher24::new_with_keys(self.cookie_key.1, self.cookie_key.0);
        FlowKey(local, remote).hash(&mut h);
        h.finish() as u32
    }

    /// `opts`: the listener's, whose receive buffer sets our window and
    /// window scale (the connection made from the cookie's ACK gets the
    /// same buffer).
    fn send_cookie(
        &mut self,
        local: SocketAddr,
        remote: SocketAddr,
        seg: &TcpRepr<'_>,
        opts: &ConnOpts,
    ) {
        let (recv_buffer, ttl, tos) = (opts.recv_buffer, opts.ttl, opts.tos);
        let peer_mss = seg.options.mss.unwrap_or(536);
        let mss_idx = COOKIE_MSS.iter().rposition(|m| *m <= peer_mss).unwrap_or(0) as u32;
        let cookie = self.syn_cookie(local, remote, seg.seq, self.cookie_slot(), mss_idx);
        let cfg = &self.config.tcp;
        let mut options = TcpOptions {
            mss: Some(
                self.config
                    .mtu
                    .saturating_sub(crate::tcp::conn::tcp_ip_headers(&local))
                    .min(65535) as u16,
            ),
            ..TcpOptions::default()
        };
        if let Some((tsval, _)) = seg.options.timestamp.filter(|_| cfg.timestamps) {
            // Like Linux, the options the cookie cannot hold ride in the
            // low 5 bits of our TSval, echoed back in the ACK's TSecr:
            // bits 0-3 the peer's window scale (15 = none), bit 4 SACK
            // permitted. Our own shift follows from the configuration.
            let ws = match seg.options.window_scale {
                Some(peer) if cfg.window_scaling => {
                    options.window_scale = Some(wscale_for(opts.wscale_basis()));
                    u32::from(peer.min(14))
                }
                _ => 15,
            };
            let sack = seg.options.sack_permitted && cfg.sack;
            options.sack_permitted = sack;
            let clock =
                (self.now.total_millis() as u32).wrapping_add(self.cookie_ts_offset(local, remote));
            let ours = (clock & !0x1f) | ws | (u32::from(sack) << 4);
            options.timestamp = Some((ours, tsval));
        }
        let window = recv_buffer.min(65535) as u16;
        self.counters.syn_cookies_sent += 1;
        if self.rst_queue.len() < RST_QUEUE_MAX {
            self.rst_queue.push_back(RstReply {
                local,
                remote,
                seq: cookie,
                ack: Some(seg.seq.wrapping_add(1)),
                synack: Some((window, options, ttl, tos)),
            });
        }
    }

    /// Validates the cookie in an ACK to a listener (current or previous
    /// time slot); returns the options it carries.
    fn check_cookie(
        &mut self,
        local: SocketAddr,
        remote: SocketAddr,
        seg: &TcpRepr<'_>,
    ) -> Option<CookieOptions> {
        let cookie = seg.ack.wrapping_sub(1);
        let irs = seg.seq.wrapping_sub(1);
        let now_slot = self.cookie_slot();
        let mss_idx = (cookie >> 24) & 7;
        let valid = [now_slot, now_slot.wrapping_sub(1)]
            .into_iter()
            .any(|slot| {
                (slot & 0x1f) == cookie >> 27
                    && self.syn_cookie(local, remote, irs, slot, mss_idx) == cookie
            });
        if !valid {
            self.counters.syn_cookies_rejected += 1;
            return None;
        }
        let (window_scale, sack, timestamps) = match seg.options.timestamp {
            Some((_, tsecr)) => {
                let ws = (tsecr & 0xf) as u8;
                (
                    if ws == 15 { None } else { Some(ws) },
                    tsecr & 0x10 != 0,
                    true,
                )
            }
            None => (None, false, false),
        };
        Some(CookieOptions {
            mss: COOKIE_MSS[mss_idx as usize],
            window_scale,
            sack,
            timestamps,
        })
    }

    /// Creates the ESTABLISHED connection a valid cookie stands for.
    fn cookie_connection(
        &mut self,
        lh: SocketHandle,
        local: SocketAddr,
        remote: SocketAddr,
        seg: &TcpRepr<'_>,
        c: CookieOptions,
    ) {
        let accept_full = match self.slot(lh) {
            Some(Socket::Listener(l)) => l.accept_queue_full(),
            _ => true,
        };
        if accept_full || self.live >= self.config.max_sockets {
            return self.counters.drop(DropReason::TcpListenOverflow);
        }
        let params = ConnParams {
            cfg: &self.config.tcp,
            opts: self.listener_opts(lh),
            local,
            remote,
            iss: seg.ack.wrapping_sub(1),
            ts_offset: self.cookie_ts_offset(local, remote),
            mtu: self.config.mtu,
            path: self.path_to(remote.ip()),
            now: self.now,
        };
        let tcb = Tcb::new_from_cookie(&params, seg, c);
        let sock = TcpSock {
            tcb: self.boxed_tcb(tcb),
            parent: Some(lh),
            app_holds: false,
            in_map: true,
            buf_bytes: 0,
        };
        let Ok(h) = self.alloc(Socket::Tcp(sock)) else {
            return self.counters.drop(DropReason::TcpListenOverflow);
        };
        self.counters.syn_cookies_accepted += 1;
        self.conn_insert(FlowKey(local, remote), Conn::Socket(h));
        self.use_port(local.port(), false);
        if let Some(Socket::Listener(l)) = self.slot_mut(lh) {
            l.accept_queue.push_back(h);
        }
        self.mark_event(lh);
        // The ACK may carry data: let the new connection process it.
        let now = self.now;
        let outcome = match self.tcp_mut(h) {
            Some(t) => t.tcb.on_segment(now, seg),
            None => return,
        };
        self.handle_outcome(h, local, remote, outcome);
        self.mark_dirty(h);
        self.after_tcp(h);
    }

    fn handle_outcome(
        &mut self,
        h: SocketHandle,
        local: SocketAddr,
        remote: SocketAddr,
        outcome: Outcome,
    ) {
        match outcome {
            Outcome::Ok => {}
            Outcome::Drop(r) => self.counters.drop(r),
            Outcome::Challenge => {
                // RFC 5961 §7: challenge ACKs are throttled stack-wide.
                self.counters.drop(DropReason::TcpInvalid);
                let now = self.now;
                let limit = self.config.tcp.challenge_ack_limit;
                let sent = self
                    .tcp_mut(h)
                    .is_some_and(|t| t.tcb.challenge_ack(now, limit));
                if sent {
                    self.counters.tcp_challenge_acks += 1;
                } else {
                    self.counters.tcp_challenge_acks_limited += 1;
                }
            }
            Outcome::ResetReply { seq } => {
                self.counters.drop(DropReason::TcpInvalid);
                if self.rst_queue.len() < RST_QUEUE_MAX {
                    self.rst_queue.push_back(RstReply {
                        local,
                        remote,
                        seq: seq.0,
                        ack: None,
                        synack: None,
                    });
                }
            }
            Outcome::Established => {
                let parent = self.tcp_mut(h).and_then(|t| t.parent);
                if let Some(p) = parent {
                    if let Some(Socket::Listener(l)) = self.slot_mut(p) {
                        l.syn_queue = l.syn_queue.saturating_sub(1);
                        l.accept_queue.push_back(h);
                    }
                    self.mark_event(p);
                }
            }
        }
    }

    fn udp_input(
        &mut self,
        src_ip: IpAddr,
        dst_ip: IpAddr,
        data: &[u8],
        quote: &[u8],
        broadcast: bool,
    ) {
        let pkt = match UdpPacket::new_checked(data) {
            Ok(p) => p,
            Err(_) => return self.counters.drop(DropReason::UdpMalformed),
        };
        // RFC 8200 §8.1: over IPv6 a zero checksum is not "none": drop.
        if !pkt.verify_checksum(src_ip, dst_ip) || (src_ip.is_ipv6() && pkt.checksum() == 0) {
            return self.counters.drop(DropReason::UdpChecksum);
        }
        self.counters.udp_in += 1;
        let local = SocketAddr::new(dst_ip, pkt.dst_port());
        let from = SocketAddr::new(src_ip, pkt.src_port());
        let h = self.udp_socket_for(local);
        let Some(h) = h else {
            self.counters.drop(DropReason::UdpNoSocket);
            if !broadcast {
                // RFC 1122 §4.1.3.1, RFC 4443 §3.1: port unreachable.
                self.send_unreachable(src_ip, dst_ip, Unreachable::Port, quote);
            }
            return;
        };
        if let Ok((u, pool)) = self.udp_and_pool(h) {
            match u.deliver(from, pkt.payload(), pool) {
                Delivery::Queued => self.mark_event(h),
                Delivery::Full => self.counters.drop(DropReason::UdpQueueFull),
                Delivery::Filtered => self.counters.drop(DropReason::UdpNoSocket),
            }
        }
    }

    fn icmp_input(
        &mut self,
        src: Ipv4Addr,
        dst: Ipv4Addr,
        data: &[u8],
        _quote: &[u8],
        broadcast: bool,
    ) {
        let repr = match Icmpv4Repr::parse(data) {
            Ok(r) => r,
            Err(WireError::BadChecksum) => return self.counters.drop(DropReason::IcmpChecksum),
            Err(_) => return self.counters.drop(DropReason::IcmpMalformed),
        };
        self.counters.icmp_in += 1;
        match repr {
            Icmpv4Repr::EchoRequest {
                ident,
                seq_no,
                data,
            } => {
                // Linux ignores broadcast echo (icmp_echo_ignore_broadcasts).
                if broadcast {
                    return;
                }
                let reply = Icmpv4Repr::EchoReply {
                    ident,
                    seq_no,
                    data,
                };
                self.queue_icmp(dst, src, &reply);
                self.counters.icmp_out += 1;
            }
            Icmpv4Repr::DstUnreachable {
                code,
                next_hop_mtu,
                quoted,
            } => {
                let Some(q) = icmp::parse_quoted(quoted) else {
                    return self.counters.drop(DropReason::IcmpMalformed);
                };
                let (kind, hard) = icmp::unreachable_error(code);
                // RFC 1191: Path MTU discovery.
                let mtu = (code == icmpv4::unreachable::FRAG_NEEDED)
                    .then(|| icmp::frag_needed_mtu(next_hop_mtu, q.total_len));
                self.icmp_error_input(q, kind, hard, mtu)
            }
            _ => {}
        }
    }

    /// ICMPv6 (RFC 4443) for us: echo answered, errors reported to the
    /// socket they concern. Neighbour discovery (RFC 4861) is not spoken:
    /// the links ustack runs on (TUN, the simulated one) have no link
    /// layer addresses to resolve.
    fn icmpv6_input(&mut self, src: Ipv6Addr, dst: Ipv6Addr, data: &[u8], multicast: bool) {
        let repr = match Icmpv6Repr::parse(data, src, dst) {
            Ok(r) => r,
            Err(WireError::BadChecksum) => return self.counters.drop(DropReason::IcmpChecksum),
            Err(_) => return self.counters.drop(DropReason::IcmpMalformed),
        };
        self.counters.icmp_in += 1;
        match repr {
            Icmpv6Repr::EchoRequest {
                ident,
                seq_no,
                data,
            } => {
                // RFC 4443 §4.2: a reply to an echo sent to a multicast
                // address comes from one of our unicast addresses.
                let from = if multicast {
                    match self.routes.lookup(IpAddr::V6(src)).map(|r| r.src) {
                        Some(IpAddr::V6(a)) => a,
                        _ => return,
                    }
                } else {
                    dst
                };
                let reply = Icmpv6Repr::EchoReply {
                    ident,
                    seq_no,
                    data,
                };
                if self.queue_icmpv6(from, src, &reply) {
                    self.counters.icmp_out += 1;
                }
            }
            Icmpv6Repr::DstUnreachable { code, quoted } => {
                let Some(q) = icmp::parse_quoted_v6(quoted) else {
                    return self.counters.drop(DropReason::IcmpMalformed);
                };
                let (kind, hard) = icmp::unreachable_error_v6(code);
                self.icmp_error_input(q, kind, hard, None)
            }
            Icmpv6Repr::PacketTooBig { mtu, quoted } => {
                let Some(q) = icmp::parse_quoted_v6(quoted) else {
                    return self.counters.drop(DropReason::IcmpMalformed);
                };
                // RFC 8201 §4 (the connection keeps it at least 1280).
                let mtu = usize::try_from(mtu).unwrap_or(usize::MAX).min(65535);
                self.icmp_error_input(q, io::ErrorKind::Other, false, Some(mtu))
            }
            _ => {}
        }
    }

    /// An ICMP error about a datagram we sent reached us: find the socket
    /// it concerns (RFC 5927 §4 checks), and report it there; `pmtu`: a
    /// "fragmentation needed" or IPv6 "packet too big" with this MTU.
    fn icmp_error_input(
        &mut self,
        q: icmp::Quoted,
        kind: io::ErrorKind,
        hard: bool,
        pmtu: Option<usize>,
    ) {
        if !self.routes.is_local_delivery(q.src) {
            return self.counters.drop(DropReason::IcmpUnmatched);
        }
        let local = SocketAddr::new(q.src, q.src_port);
        let remote = SocketAddr::new(q.dst, q.dst_port);
        let matched = match q.protocol {
            ipv4::PROTO_TCP => {
                if let Some(mtu) = pmtu {
                    self.tcp_frag_needed(local, remote, mtu, q.tcp_seq)
                } else if let Some(Conn::Socket(h)) = self.tcp_conns.get(&FlowKey(local, remote)) {
                    let ok = match self.tcp_mut(h) {
                        Some(t) => t.tcb.on_icmp_unreachable(hard, kind, q.tcp_seq),
                        None => false,
                    };
                    self.mark_dirty(h);
                    self.after_tcp(h);
                    ok
                } else {
                    false
                }
            }
            ipv4::PROTO_UDP if pmtu.is_none() => {
                let h = self.udp_socket_for(local);
                let hit = match h.and_then(|h| self.slot_mut(h)) {
                    Some(Socket::Udp(u)) if u.connected == Some(remote) => {
                        u.error = Some(kind);
                        true
                    }
                    _ => false,
                };
                if let (true, Some(h)) = (hit, h) {
                    self.mark_event(h);
                }
                hit
            }
            _ => false,
        };
        if !matched {
            self.counters.drop(DropReason::IcmpUnmatched);
        }
    }

    /// An ICMP "fragmentation needed" about a TCP segment we sent: the
    /// connection checks it and lowers its path MTU (RFC 1191 §6.1), and
    /// the estimate is kept for new connections to that destination.
    /// Returns whether it concerned a segment in flight.
    fn tcp_frag_needed(
        &mut self,
        local: SocketAddr,
        remote: SocketAddr,
        mtu: usize,
        seq: u32,
    ) -> bool {
        let Some(Conn::Socket(h)) = self.tcp_conns.get(&FlowKey(local, remote)) else {
            return false;
        };
        let Some(t) = self.tcp_mut(h) else {
            return false;
        };
        let Some(lowered) = t.tcb.on_icmp_frag_needed(mtu, seq) else {
            return false;
        };
        if let Some(path) = lowered {
            self.remember_path(remote.ip(), path);
        }
        // What was refused is resent at once (a path MTU probe too, when
        // the estimate did not fall).
        self.mark_dirty(h);
        self.after_tcp(h);
        true
    }

    /// What Path MTU discovery knows of the way to `dst`.
    fn path_to(&self, dst: IpAddr) -> PathMtu {
        if !self.pmtu.is_empty() {
            if let Some(&(path, until)) = self.pmtu.get(&dst) {
                if until > self.now {
                    return path;
                }
            }
        }
        PathMtu::link(self.config.mtu)
    }

    fn remember_path(&mut self, dst: IpAddr, path: PathMtu) {
        // Another connection may know a smaller MTU already: the estimate
        // only falls (RFC 1191 §3).
        let known = self.path_to(dst);
        let path = if known.mtu() < path.mtu() || (known.mtu() == path.mtu() && !known.df) {
            known
        } else {
            path
        };
        if self.pmtu.len() >= PMTU_CACHE_MAX && !self.pmtu.contains_key(&dst) {
            let now = self.now;
            self.pmtu.retain(|_, (_, until)| *until > now);
            if self.pmtu.len() >= PMTU_CACHE_MAX {
                return;
            }
        }
        self.pmtu.insert(dst, (path, self.now + PMTU_EXPIRES));
    }

    // ------------------------------------------------------------------
    // Output
    // ------------------------------------------------------------------

    /// Queues an ICMP message we originate, built in place.
    fn queue_icmp(&mut self, src: Ipv4Addr, dst: Ipv4Addr, msg: &Icmpv4Repr<'_>) -> bool {
        let ttl = self.config.ttl;
        self.queue_ip_with(
            src.into(),
            dst.into(),
            ipv4::PROTO_ICMP,
            msg.buffer_len(),
            ((ttl, 0), (0, 0)),
            |b| {
                msg.emit(b);
            },
        )
    }

    /// Queues an ICMPv6 message we originate, built in place.
    fn queue_icmpv6(&mut self, src: Ipv6Addr, dst: Ipv6Addr, msg: &Icmpv6Repr<'_>) -> bool {
        let ttl = self.config.ttl;
        self.queue_ip_with(
            src.into(),
            dst.into(),
            ipv6::PROTO_ICMPV6,
            msg.buffer_len(),
            ((ttl, 0), (0, 0)),
            |b| {
                msg.emit(b, src, dst);
            },
        )
    }

    /// Builds IP packet(s) for `len` payload bytes we originate, which
    /// `fill` writes: in place in the packet when it fits the MTU, else
    /// into a scratch buffer cut into fragments; queues them. Buffers come
    /// from `pool`, so a steady flow allocates nothing. `ports` (source,
    /// destination; 0 for ICMP) pick the IPv6 flow label.
    fn queue_ip_with(
        &mut self,
        src: IpAddr,
        dst: IpAddr,
        protocol: u8,
        len: usize,
        ((ttl, tos), ports): ((u8, u8), (u16, u16)),
        fill: impl FnOnce(&mut [u8]),
    ) -> bool {
        if self.out_queue_bytes + len > OUT_QUEUE_BYTES {
            return false;
        }
        let (src, dst) = match (src, dst) {
            (IpAddr::V4(s), IpAddr::V4(d)) => (s, d),
            (IpAddr::V6(s), IpAddr::V6(d)) => {
                let label = self.flow_label(src, dst, protocol, ports);
                return self.queue_ip6_with(s, d, protocol, len, ((ttl, tos), label), fill);
            }
            // Callers pick the source from the destination's family.
            _ => return false,
        };
        let mut repr = Ipv4Repr {
            src,
            dst,
            protocol,
            payload_len: len,
            ttl,
            ident: self.next_ident(),
            dont_frag: false,
            more_frags: false,
            frag_offset: 0,
            dscp_ecn: tos,
        };
        let mtu = self.config.mtu;
        if len + ipv4::HEADER_LEN <= mtu {
            let mut pkt = self.pool.take_zeroed(ipv4::HEADER_LEN + len);
            fill(&mut pkt[ipv4::HEADER_LEN..]);
            self.push_packet(pkt, &repr);
            return true;
        }
        let mut whole = self.pool.take_zeroed(len);
        fill(&mut whole);
        for (offset, flen, more) in fragment::fragments(len, mtu) {
            let mut pkt = self.pool.take_zeroed(ipv4::HEADER_LEN + flen);
            pkt[ipv4::HEADER_LEN..].copy_from_slice(&whole[offset..offset + flen]);
            (repr.payload_len, repr.more_frags, repr.frag_offset) = (flen, more, offset);
            self.push_packet(pkt, &repr);
            self.counters.ip_fragments_out += 1;
        }
        self.pool.put(whole);
        true
    }

    /// `queue_ip_with` for IPv6: fragments (RFC 8200 §4.5) carry a
    /// Fragment header, each at most the link MTU.
    fn queue_ip6_with(
        &mut self,
        src: Ipv6Addr,
        dst: Ipv6Addr,
        protocol: u8,
        len: usize,
        ((hop_limit, traffic_class), flow_label): ((u8, u8), u32),
        fill: impl FnOnce(&mut [u8]),
    ) -> bool {
        // RFC 6437 §3: every fragment carries the packet's label.
        let mut repr = Ipv6Repr {
            src,
            dst,
            next_header: protocol,
            payload_len: len,
            hop_limit,
            traffic_class,
            flow_label,
        };
        const HL: usize = ipv6::HEADER_LEN;
        let mtu = self.config.mtu;
        if len + HL <= mtu {
            let mut pkt = self.pool.take_zeroed(HL + len);
            fill(&mut pkt[HL..]);
            repr.emit(&mut pkt[..HL]);
            self.out_queue_bytes += pkt.len();
            self.out_queue.push_back(pkt);
            return true;
        }
        let mut whole = self.pool.take_zeroed(len);
        fill(&mut whole);
        // Every fragment but the last carries a multiple of 8 bytes.
        let room = (mtu.max(ipv6::MIN_MTU) - HL - ipv6::FRAG_HEADER_LEN) & !7;
        // RFC 7739 §5.3.2: a keyed hash of the destination plus a shared
        // counter, so that what one peer sees tells nothing of another's
        // identifications (an off-path attacker cannot predict them to
        // inject fragments).
        self.ip6_ident = self.ip6_ident.wrapping_add(1);
        let mut h = SipHasher13::new_with_keys(self.isn_key.1, self.cookie_key.0);
        dst.hash(&mut h);
        let mut frag = FragmentHeader {
            next_header: protocol,
            offset: 0,
            more: true,
            ident: (h.finish() as u32).wrapping_add(self.ip6_ident),
        };
        repr.next_header = ipv6::FRAGMENT;
        while frag.offset < len {
            let flen = room.min(len - frag.offset);
            frag.more = frag.offset + flen < len;
            repr.payload_len = ipv6::FRAG_HEADER_LEN + flen;
            let mut pkt = self.pool.take_zeroed(HL + repr.payload_len);
            repr.emit(&mut pkt[..HL]);
            frag.emit(&mut pkt[HL..]);
            pkt[HL + ipv6::FRAG_HEADER_LEN..]
                .copy_from_slice(&whole[frag.offset..frag.offset + flen]);
            self.out_queue_bytes += pkt.len();
            self.out_queue.push_back(pkt);
            self.counters.ip_fragments_out += 1;
            frag.offset += flen;
        }
        self.pool.put(whole);
        true
    }

    /// Writes `repr` as `pkt`'s IPv4 header and queues it.
    fn push_packet(&mut self, mut pkt: Vec<u8>, repr: &Ipv4Repr) {
        repr.emit(&mut pkt[..ipv4::HEADER_LEN]);
        self.out_queue_bytes += pkt.len();
        self.out_queue.push_back(pkt);
    }

    /// A destination unreachable (port or protocol) about a datagram we
    /// received: ICMPv4 or ICMPv6 as the datagram was.
    fn send_unreachable(&mut self, to: IpAddr, from: IpAddr, what: Unreachable, quote: &[u8]) {
        match (to, from, what) {
            (IpAddr::V4(to), IpAddr::V4(from), Unreachable::Port) => {
                self.send_icmp_error(to, from, icmpv4::unreachable::PORT, quote)
            }
            (IpAddr::V4(to), IpAddr::V4(from), Unreachable::Protocol) => {
                self.send_icmp_error(to, from, icmpv4::unreachable::PROTOCOL, quote)
            }
            (IpAddr::V6(to), IpAddr::V6(from), Unreachable::Port) => {
                let msg = Icmpv6Repr::DstUnreachable {
                    code: icmpv6::unreachable::PORT,
                    quoted: quote,
                };
                self.send_icmpv6_error(to, from, msg)
            }
            // IPv6 answers an unknown next header with a parameter
            // problem (`receive_v6`).
            _ => {}
        }
    }

    /// An ICMPv6 error about a packet we received (RFC 4443 §2.4: rate
    /// limited; the quote cut so the error fits the minimum MTU, (c)).
    /// Callers never answer an ICMPv6 error, nor a multicast packet but
    /// where §2.4 (e) allows.
    fn send_icmpv6_error(&mut self, to: Ipv6Addr, from: Ipv6Addr, msg: Icmpv6Repr<'_>) {
        // About a packet to a multicast group: from one of our unicast
        // addresses (RFC 4443 §2.2 (b)).
        let from = if from.is_multicast() {
            match self.routes.lookup(IpAddr::V6(to)).map(|r| r.src) {
                Some(IpAddr::V6(a)) => a,
                _ => return,
            }
        } else {
            from
        };
        if !self.icmp_limit.take(self.now) {
            self.counters.icmp_errors_limited += 1;
            return;
        }
        let max = icmpv6::MAX_ERROR_LEN - icmpv6::HEADER_LEN;
        let cut = |q: &[u8]| -> usize { q.len().min(max) };
        let msg = match msg {
            Icmpv6Repr::DstUnreachable { code, quoted } => Icmpv6Repr::DstUnreachable {
                code,
                quoted: &quoted[..cut(quoted)],
            },
            Icmpv6Repr::TimeExceeded { code, quoted } => Icmpv6Repr::TimeExceeded {
                code,
                quoted: &quoted[..cut(quoted)],
            },
            Icmpv6Repr::ParamProblem {
                code,
                pointer,
                quoted,
            } => Icmpv6Repr::ParamProblem {
                code,
                pointer,
                quoted: &quoted[..cut(quoted)],
            },
            other => other,
        };
        if self.queue_icmpv6(from, to, &msg) {
            self.counters.icmp_out += 1;
        }
    }

    /// ICMP destination unreachable about a datagram we received (RFC 792;
    /// never about ICMP errors or non-first fragments, RFC 1122 §3.2.2).
    fn send_icmp_error(&mut self, to: Ipv4Addr, from: Ipv4Addr, code: u8, quote: &[u8]) {
        if !self.icmp_limit.take(self.now) {
            self.counters.icmp_errors_limited += 1;
            return;
        }
        let q = &quote[..quote.len().min(icmp::MAX_QUOTE)];
        let msg = Icmpv4Repr::DstUnreachable {
            code,
            next_hop_mtu: 0,
            quoted: q,
        };
        if self.queue_icmp(from, to, &msg) {
            self.counters.icmp_out += 1;
        }
    }

    /// Writes the next packet to transmit into `buf` and returns its
    /// length, or None when there is nothing to send now. Call repeatedly
    /// until None. `buf` must hold at least one MTU.
    ///
    /// Packets to an own address or to 127.0.0.0/8 never reach the device:
    /// they are delivered to this stack here, as Linux's `lo` does (at
    /// most `LOOPBACK_BUDGET` per call; `poll_at` then says "at once").
    /// Our UDP broadcasts go to the device, and a copy to this stack.
    pub fn poll_transmit(&mut self, now: Instant, buf: &mut [u8]) -> Option<usize> {
        if !self.broadcast_loop.is_empty() {
            self.loop_broadcasts(now);
        }
        for _ in 0..LOOPBACK_BUDGET {
            let (n, stays) = self.transmit_next(now, buf)?;
            if !stays {
                return Some(n);
            }
            self.counters.ip_looped += 1;
            self.receive_inner(now, &buf[..n], true);
        }
        self.settle_timers();
        None
    }

    /// Delivers the copies of our own broadcasts to this host.
    #[cold]
    fn loop_broadcasts(&mut self, now: Instant) {
        while let Some(p) = self.broadcast_loop.pop_front() {
            self.counters.ip_looped += 1;
            self.receive_inner(now, &p, true);
        }
    }

    /// 127.0.0.0/8 or an own address (`Routes::is_local_delivery`, on
    /// integers).
    #[inline(always)]
    fn stays_in_host(&self, dst: u32) -> bool {
        dst >> 24 == 127 || self.local_v4.contains(&dst)
    }

    /// `stays_in_host` for any address: ::1 or an own IPv6 address too.
    #[inline(always)]
    fn stays_in_host_ip(&self, dst: IpAddr) -> bool {
        match dst {
            IpAddr::V4(a) => self.stays_in_host(u32::from(a)),
            IpAddr::V6(a) => self.stays_in_host_v6(a),
        }
    }

    #[inline(never)]
    fn stays_in_host_v6(&self, dst: Ipv6Addr) -> bool {
        self.routes.is_local_delivery(IpAddr::V6(dst))
    }

    /// The next packet for the device in `buf`: (its length, whether it
    /// stays in this host).
    #[inline(always)]
    fn transmit_next(&mut self, now: Instant, buf: &mut [u8]) -> Option<(usize, bool)> {
        self.tick(now);
        let mtu = self.config.mtu;
        assert!(
            buf.len() >= mtu,
            "poll_transmit needs a buffer of at least the MTU ({mtu} bytes)"
        );
        if let Some(p) = self.out_queue.pop_front() {
            self.out_queue_bytes -= p.len();
            let n = p.len();
            buf[..n].copy_from_slice(&p);
            self.counters.ip_out += 1;
            let stays = if p[0] >> 4 == 6 {
                let d: [u8; 16] = p[24..40].try_into().unwrap_or([0; 16]);
                self.stays_in_host_ip(IpAddr::V6(Ipv6Addr::from(d)))
            } else {
                let dst = p
                    .get(16..20)
                    .map_or(0, |d| u32::from_be_bytes([d[0], d[1], d[2], d[3]]));
                self.stays_in_host(dst)
            };
            self.pool.put(p);
            return Some((n, stays));
        }
        if let Some(r) = self.rst_queue.pop_front() {
            let ip = (self.config.ttl, 0);
            let (flags, window, options, ip) = match r.synack {
                Some((window, options, ttl, tos)) => {
                    (TcpFlags::SYN | TcpFlags::ACK, window, options, (ttl, tos))
                }
                None if r.ack.is_some() => {
                    (TcpFlags::RST | TcpFlags::ACK, 0, TcpOptions::default(), ip)
                }
                None => (TcpFlags::RST, 0, TcpOptions::default(), ip),
            };
            let repr = TcpRepr {
                src_port: r.local.port(),
                dst_port: r.remote.port(),
                seq: r.seq,
                ack: r.ack.unwrap_or(0),
                flags,
                window,
                urgent: 0,
                options,
                payload: &[],
            };
            let hl = ip_header_len(r.remote.ip());
            let n = repr.emit(&mut buf[hl..], r.local.ip(), r.remote.ip());
            if r.synack.is_none() {
                self.counters.tcp.rsts_out += 1;
            }
            self.counters.tcp.segments_out += 1;
            let label = self.tcp_flow_label(r.local, r.remote);
            let n = self.finish_ip(buf, r.local.ip(), r.remote.ip(), n, true, (ip, label));
            return Some((n, self.stays_in_host_ip(r.remote.ip())));
        }
        while let Some(h) = self.dirty.pop_front() {
            let Some(slot) = self.slots.get_mut(h.index as usize) else {
                continue;
            };
            if slot.generation != h.generation {
                continue;
            }
            slot.dirty = false;
            let Some(Socket::Tcp(t)) = &mut slot.socket else {
                continue;
            };
            let (src, remote, path, ip) = (
                t.tcb.local.ip(),
                t.tcb.remote,
                t.tcb.path(),
                ((t.tcb.ttl, t.tcb.tos), t.tcb.flow_label),
            );
            let dst = remote.ip();
            // Cut to the path MTU (never above the MTU): SACK blocks ride
            // in what room is left. A path MTU probe may be larger.
            let end = t.tcb.out_mtu().min(buf.len());
            let hl = match remote {
                SocketAddr::V4(_) => ipv4::HEADER_LEN,
                SocketAddr::V6(_) => ipv6::HEADER_LEN,
            };
            let out = t.tcb.poll_segment(now, &mut buf[hl..end]);
            match out {
                Some(n) => {
                    // `Tcb::emit` filled the checksum (payload summed while
                    // it was copied in).
                    debug_assert!(
                        wtcp::TcpPacket::new_unchecked(&buf[hl..hl + n]).verify_checksum(src, dst),
                        "Tcb::emit left a bad TCP checksum"
                    );
                    // Round robin: it may have more to send after the others.
                    slot.dirty = true;
                    self.dirty.push_back(h);
                    self.after_tcp(h);
                    // A probe larger than the path MTU always carries DF
                    // (RFC 4821 §7.5), even where the path's is cleared.
                    let df = path.df || hl + n > path.mtu();
                    let n = self.finish_ip(buf, src, dst, n, df, ip);
                    let stays = match remote {
                        SocketAddr::V4(a) => self.stays_in_host(u32::from(*a.ip())),
                        SocketAddr::V6(a) => self.stays_in_host_v6(*a.ip()),
                    };
                    return Some((n, stays));
                }
                None => self.after_tcp(h),
            }
        }
        self.settle_timers();
        None
    }

    /// Writes the IPv4 header in front of `len` bytes of TCP.
    #[inline(always)]
    fn finish_ip(
        &mut self,
        buf: &mut [u8],
        src: IpAddr,
        dst: IpAddr,
        len: usize,
        df: bool,
        ((ttl, tos), flow_label): ((u8, u8), u32),
    ) -> usize {
        let (IpAddr::V4(src), IpAddr::V4(dst)) = (src, dst) else {
            return self.finish_ip6(buf, src, dst, len, (ttl, tos), flow_label);
        };
        let repr = Ipv4Repr {
            src,
            dst,
            protocol: ipv4::PROTO_TCP,
            payload_len: len,
            ttl,
            ident: self.next_ident(),
            dont_frag: df,
            more_frags: false,
            frag_offset: 0,
            dscp_ecn: tos,
        };
        repr.emit(&mut buf[..ipv4::HEADER_LEN]);
        self.counters.ip_out += 1;
        ipv4::HEADER_LEN + len
    }

    /// `finish_ip` for IPv6 (out of line: the IPv4 path stays as it was).
    #[inline(never)]
    fn finish_ip6(
        &mut self,
        buf: &mut [u8],
        src: IpAddr,
        dst: IpAddr,
        len: usize,
        (hop_limit, traffic_class): (u8, u8),
        flow_label: u32,
    ) -> usize {
        // A connection's addresses are of one family.
        let (IpAddr::V6(src), IpAddr::V6(dst)) = (src, dst) else {
            return 0;
        };
        Ipv6Repr {
            src,
            dst,
            next_header: ipv6::PROTO_TCP,
            payload_len: len,
            hop_limit,
            traffic_class,
            flow_label,
        }
        .emit(&mut buf[..ipv6::HEADER_LEN]);
        self.counters.ip_out += 1;
        ipv6::HEADER_LEN + len
    }

    /// Makes the heap's top entry a real deadline: drops stale entries and
    /// re-files sockets whose deadline moved later, so `poll_at` is exact.
    fn settle_timers(&mut self) {
        while let Some(Reverse(entry)) = self.timers.peek().copied() {
            if self.settled(entry) {
                break;
            }
            self.timers.pop();
            self.refile(entry);
        }
        // A record's expiry never moves: its entry is stale only once the
        // record is gone.
        while let Some(&(t, index, generation, of)) = self.tw_timers.front() {
            let settled = match of {
                TwOf::Slot => self.settled((t, index, generation)),
                TwOf::Record => self.record_live(index, generation),
            };
            if settled {
                break;
            }
            self.tw_timers.pop_front();
            if of == TwOf::Slot {
                self.refile((t, index, generation));
            }
        }
    }

    fn record_live(&self, index: u32, generation: u32) -> bool {
        self.tw_records
            .get(index as usize)
            .is_some_and(|tw| tw.generation == generation)
    }

    /// A timer entry is due for its socket as filed (not stale, not moved
    /// later).
    fn settled(&self, (t, index, generation): (Instant, u32, u32)) -> bool {
        let Some(slot) = self.slots.get(index as usize) else {
            return false;
        };
        slot.generation == generation
            && slot.timer_at == SlotTime::at(t)
            && slot.deadline.get().is_some_and(|a| a <= t)
    }

    /// After a popped entry that was not settled: a live one whose
    /// deadline moved later is filed again.
    fn refile(&mut self, (t, index, generation): (Instant, u32, u32)) {
        let Some(slot) = self.slots.get_mut(index as usize) else {
            return;
        };
        if slot.generation != generation || slot.timer_at != SlotTime::at(t) {
            return; // stale
        }
        slot.timer_at = SlotTime::NONE;
        self.schedule(SocketHandle { index, generation });
    }

    /// The earliest timer entry of the heap and the TIME-WAIT FIFO, if it
    /// is due at `now`; removed.
    fn pop_due(&mut self, now: Instant) -> Option<Due> {
        let heap = self.timers.peek().map(|Reverse(e)| *e);
        let fifo = self.tw_timers.front().copied();
        let record = |(t, i, g, of): (Instant, u32, u32, TwOf)| match of {
            TwOf::Slot => Due::Slot(t, i, g),
            TwOf::Record => Due::Record(i, g),
        };
        match (heap, fifo) {
            (Some(a), Some(b)) if b.0 < a.0 => (b.0 <= now)
                .then(|| self.tw_timers.pop_front().map(record))
                .flatten(),
            (Some(a), _) => (a.0 <= now)
                .then(|| {
                    self.timers
                        .pop()
                        .map(|Reverse((t, i, g))| Due::Slot(t, i, g))
                })
                .flatten(),
            (None, Some(b)) => (b.0 <= now)
                .then(|| self.tw_timers.pop_front().map(record))
                .flatten(),
            (None, None) => None,
        }
    }

    /// When `handle_timeout` (or `poll_transmit`) must next be called
    /// (None: nothing armed). A time <= the last `now` means "at once".
    pub fn poll_at(&self) -> Option<Instant> {
        if !self.out_queue.is_empty() || !self.rst_queue.is_empty() || !self.dirty.is_empty() {
            return Some(self.now);
        }
        let heap = self.timers.peek().map(|Reverse((t, _, _))| *t);
        let fifo = self.tw_timers.front().map(|e| e.0);
        let t = match (heap, fifo) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        match (t, self.reassembler.next_expiry()) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Fires every timer due at `now`.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.tick(now);
        while let Some(due) = self.pop_due(now) {
            let (t, index, generation) = match due {
                Due::Slot(t, index, generation) => (t, index, generation),
                Due::Record(index, generation) => {
                    // RFC 9293 §3.10.8: the TIME-WAIT timeout.
                    if self.record_live(index, generation) {
                        self.close_time_wait(index);
                    }
                    continue;
                }
            };
            let h = SocketHandle { index, generation };
            let Some(slot) = self.slots.get_mut(index as usize) else {
                continue;
            };
            if slot.generation != generation || slot.timer_at != SlotTime::at(t) {
                continue; // stale entry
            }
            slot.timer_at = SlotTime::NONE;
            if let Some(Socket::Tcp(tcp)) = &mut slot.socket {
                tcp.tcb.on_timer(now);
                self.mark_dirty(h);
                self.after_tcp(h);
            }
        }
        let mut timed_out: Vec<(FragKey, Vec<u8>)> = Vec::new();
        let expired = self.reassembler.expire_with(now, |key, head| {
            // RFC 1122 §3.3.2: if fragment zero arrived, send ICMP Time
            // Exceeded (code 1) quoting it.
            if let Some(head) = head {
                timed_out.push((key, head.to_vec()));
            }
        });
        for _ in 0..expired {
            self.counters.drop(DropReason::FragTimeout);
        }
        self.settle_timers();
        for (key, quote) in timed_out {
            // Never about broadcast/multicast datagrams (RFC 1122 §3.2.2).
            if !self.routes.is_local(key.dst) {
                continue;
            }
            match (key.src, key.dst) {
                (IpAddr::V4(src), IpAddr::V4(dst)) => {
                    if !self.icmp_limit.take(now) {
                        self.counters.icmp_errors_limited += 1;
                        continue;
                    }
                    let msg = Icmpv4Repr::TimeExceeded {
                        code: 1,
                        quoted: &quote,
                    };
                    if self.queue_icmp(dst, src, &msg) {
                        self.counters.icmp_out += 1;
                    }
                }
                // RFC 8200 §4.5: "fragment reassembly time exceeded".
                (IpAddr::V6(src), IpAddr::V6(dst)) => {
                    let msg = Icmpv6Repr::TimeExceeded {
                        code: 1,
                        quoted: &quote,
                    };
                    self.send_icmpv6_error(src, dst, msg);
                }
                _ => {}
            }
        }
    }

    /// Stack counters, including the sums over live TCP connections.
    pub fn counters(&self) -> Counters {
        let mut c = self.counters.clone();
        c.tcp.add(&self.retired_tcp);
        for slot in &self.slots {
            if let Some(Socket::Tcp(t)) = &slot.socket {
                c.tcp.add(&t.tcb.counters);
            }
        }
        c
    }

    /// Number of sockets that still hold state (any kind, including
    /// orphaned connections and TIME_WAIT).
    pub fn socket_count(&self) -> usize {
        self.live
    }

    /// Of those, connections in TIME-WAIT kept as the compact record (the
    /// application closed them and they are quiet): about 200 bytes each
    /// instead of a whole connection.
    pub fn time_wait_records(&self) -> usize {
        self.tw_records.len() - self.tw_free.len()
    }

    /// Slots of the socket table, used and free: what its memory grows
    /// with. TIME-WAIT records hold none.
    pub fn socket_slots(&self) -> usize {
        self.slots.len()
    }

    /// True when TCP buffers use `Config::max_buffer_bytes` or more.
    fn memory_pressure(&self) -> bool {
        self.config.max_buffer_bytes > 0 && self.buffer_total >= self.config.max_buffer_bytes
    }

    /// Bytes of packet buffers held by all TCP connections.
    pub fn buffer_bytes(&self) -> usize {
        self.slots
            .iter()
            .map(|s| match &s.socket {
                Some(Socket::Tcp(t)) => t.tcb.buffer_bytes(),
                _ => 0,
            })
            .sum()
    }

    // ------------------------------------------------------------------
    // TCP API
    // ------------------------------------------------------------------

    fn check_local_ip(&self, ip: IpAddr) -> io::Result<()> {
        match ip {
            _ if ip.is_unspecified() => Ok(()),
            _ if self.routes.is_local_delivery(ip) => Ok(()),
            _ => Err(err(
                io::ErrorKind::AddrNotAvailable,
                "address is not assigned to this stack",
            )),
        }
    }

    /// A socket bound to 127.0.0.0/8 reaches only this host (RFC 1122
    /// §3.2.1.3 (g)); Linux refuses with EINVAL.
    fn check_stays_in_host(&self, src: IpAddr, dst: IpAddr) -> io::Result<()> {
        if route::is_loopback(src) && !self.routes.is_local_delivery(dst) {
            return Err(err(
                io::ErrorKind::InvalidInput,
                "a socket bound to 127.0.0.0/8 can only reach this host",
            ));
        }
        Ok(())
    }

    fn free_listen_port(&mut self) -> io::Result<u16> {
        let (lo, hi) = self.config.ephemeral_ports;
        let range = u32::from(hi - lo) + 1;
        let start = self.rng.range(0, u64::from(range)) as u32;
        for i in 0..range {
            let p = lo + ((start + i) % range) as u16;
            if !self.tcp_ports.contains_key(&p) {
                return Ok(p);
            }
        }
        Err(err(io::ErrorKind::AddrInUse, "no free ephemeral port"))
    }

    /// Opens a listening socket. Port 0 picks an ephemeral port.
    pub fn tcp_listen(&mut self, local: SocketAddr, backlog: usize) -> io::Result<SocketHandle> {
        self.tcp_listen_reuse(local, backlog, false)
    }

    /// Like `tcp_listen`, with SO_REUSEADDR set: binding succeeds while
    /// other (non-listening) connections, e.g. in TIME_WAIT, use the port.
    pub fn tcp_listen_reuse(
        &mut self,
        local: SocketAddr,
        backlog: usize,
        reuse_addr: bool,
    ) -> io::Result<SocketHandle> {
        let opts = BindOptions {
            reuse_addr,
            only_v6: None,
        };
        self.tcp_listen_with(local, backlog, opts)
    }

    /// Opens a listening socket with SO_REUSEADDR and IPV6_V6ONLY as
    /// `opts` says. Listeners on one port may coexist when their
    /// addresses do not overlap (`binds_overlap`: e.g. 127.0.0.1 and
    /// 198.18.0.2, or an IPv6-only `[::]` and `0.0.0.0`), as on Linux.
    pub fn tcp_listen_with(
        &mut self,
        local: SocketAddr,
        backlog: usize,
        opts: BindOptions,
    ) -> io::Result<SocketHandle> {
        self.check_local_ip(local.ip())?;
        let only_v6 = opts.only_v6.unwrap_or(self.config.ipv6_only);
        let mut local = local;
        if local.port() == 0 {
            local.set_port(self.free_listen_port()?);
        }
        let usage = self
            .tcp_ports
            .get(&local.port())
            .copied()
            .unwrap_or_default();
        if usage.listeners > 0 && self.listener_overlaps(local, only_v6) {
            return Err(err(
                io::ErrorKind::AddrInUse,
                "a socket is already listening on this address and port",
            ));
        }
        // Connections are counted per port, not per address: one on the
        // port refuses a listener without SO_REUSEADDR even where Linux
        // would find their addresses apart (stricter, never looser).
        if usage.users > usage.listeners && !opts.reuse_addr {
            return Err(err(
                io::ErrorKind::AddrInUse,
                "address in use (set SO_REUSEADDR to bind over TIME_WAIT)",
            ));
        }
        let backlog = backlog.clamp(1, self.config.tcp.max_backlog.max(1));
        let conn_opts = ConnOpts::from_config(&self.config.tcp, self.config.ttl);
        let mut l = Listener::new(local, backlog, opts.reuse_addr, conn_opts);
        l.only_v6 = only_v6 && local.is_ipv6();
        let h = self.alloc(Socket::Listener(Box::new(l)))?;
        self.tcp_listeners.insert(local, h);
        self.use_port(local.port(), true);
        Ok(h)
    }

    /// Whether a listener bound to `local` would overlap one there is.
    fn listener_overlaps(&self, local: SocketAddr, only_v6: bool) -> bool {
        self.tcp_listeners.iter().any(|(a, h)| {
            a.port() == local.port()
                && matches!(self.slot(*h), Some(Socket::Listener(l))
                    if binds_overlap(local.ip(), only_v6, a.ip(), l.only_v6))
        })
    }

    /// IPV6_V6ONLY of a listener or UDP socket (false for one not bound
    /// to an IPv6 address).
    pub fn only_v6(&self, h: SocketHandle) -> io::Result<bool> {
        match self.slot(h) {
            Some(Socket::Listener(l)) => Ok(l.only_v6),
            Some(Socket::Udp(u)) => Ok(u.only_v6),
            Some(_) => Err(err(
                io::ErrorKind::InvalidInput,
                "IPV6_V6ONLY is kept by listeners and UDP sockets",
            )),
            None => Err(bad_handle()),
        }
    }

    /// Takes an established connection off the accept queue.
    pub fn tcp_accept(&mut self, listener: SocketHandle) -> io::Result<(SocketHandle, SocketAddr)> {
        let h = match self.slot_mut(listener) {
            Some(Socket::Listener(l)) => l.accept_queue.pop_front(),
            Some(_) => return Err(err(io::ErrorKind::InvalidInput, "not a listening socket")),
            None => return Err(bad_handle()),
        };
        let Some(h) = h else {
            return Err(io::ErrorKind::WouldBlock.into());
        };
        let t = self.tcp_mut(h).ok_or_else(bad_handle)?;
        t.parent = None;
        t.app_holds = true;
        let remote = t.tcb.remote;
        self.counters.tcp_connections_accepted += 1;
        Ok((h, remote))
    }

    /// Connections waiting in the accept queue.
    pub fn tcp_accept_ready(&self, listener: SocketHandle) -> io::Result<usize> {
        match self.slot(listener) {
            Some(Socket::Listener(l)) => Ok(l.accept_queue.len()),
            Some(_) => Err(err(io::ErrorKind::InvalidInput, "not a listening socket")),
            None => Err(bad_handle()),
        }
    }

    /// Starts an active open. `local` None: our address and an ephemeral port.
    pub fn tcp_connect(
        &mut self,
        remote: SocketAddr,
        local: Option<SocketAddr>,
    ) -> io::Result<SocketHandle> {
        self.tcp_connect_with(remote, local, None)
    }

    /// Like `tcp_connect`, with IPV6_V6ONLY for a `local` of `[::]`
    /// (`None`: `Config::ipv6_only`): an IPv6-only socket does not reach
    /// IPv4 (InvalidInput).
    pub fn tcp_connect_with(
        &mut self,
        remote: SocketAddr,
        local: Option<SocketAddr>,
        only_v6: Option<bool>,
    ) -> io::Result<SocketHandle> {
        if remote.port() == 0 {
            return Err(err(io::ErrorKind::InvalidInput, "cannot connect to port 0"));
        }
        let rip = remote.ip();
        if rip.is_unspecified()
            || rip.is_multicast()
            || matches!(rip, IpAddr::V4(a) if a.is_broadcast())
            || self.routes.is_broadcast(rip)
        {
            return Err(err(
                io::ErrorKind::InvalidInput,
                "cannot connect to a non-unicast address",
            ));
        }
        let route = self.routes.lookup(remote.ip()).ok_or_else(|| {
            err(
                io::ErrorKind::NetworkUnreachable,
                "no route to the destination",
            )
        })?;
        let mut local = local.unwrap_or(SocketAddr::new(route.src, 0));
        self.check_local_ip(local.ip())?;
        let only_v6 = only_v6.unwrap_or(self.config.ipv6_only);
        check_family_v6only(local.ip(), only_v6, rip)?;
        if local.ip().is_unspecified() {
            local.set_ip(route.src);
        }
        self.check_stays_in_host(local.ip(), remote.ip())?;
        if local.port() == 0 {
            // RFC 6056 §3.3.3 (Algorithm 3, "simple hash-based"): a keyed
            // hash of the endpoints picks the starting point, a counter moves
            // it on for each connection, so one destination does not see the
            // same port again until the range has been used up (a port
            // reused at once could hit the peer's TIME-WAIT).
            let (lo, hi) = self.config.ephemeral_ports;
            let range = u32::from(hi - lo) + 1;
            let mut h = SipHasher24::new_with_keys(self.isn_key.1, self.isn_key.0);
            local.ip().hash(&mut h);
            remote.hash(&mut h);
            let offset = h.finish() as u32;
            let mut found = None;
            for _ in 0..range {
                let p = lo + (offset.wrapping_add(self.next_ephemeral) % range) as u16;
                self.next_ephemeral = self.next_ephemeral.wrapping_add(1);
                let usage = self.tcp_ports.get(&p).copied().unwrap_or_default();
                let cand = SocketAddr::new(local.ip(), p);
                if usage.listeners == 0 && !self.tcp_conns.contains(&FlowKey(cand, remote)) {
                    found = Some(p);
                    break;
                }
            }
            local.set_port(
                found.ok_or_else(|| {
                    err(io::ErrorKind::AddrNotAvailable, "no free ephemeral port")
                })?,
            );
        } else if self.tcp_conns.contains(&FlowKey(local, remote)) {
            return Err(err(
                io::ErrorKind::AddrInUse,
                "connection already exists for this address pair",
            ));
        }
        let (iss, ts_offset) = self.conn_params(local, remote);
        let params = ConnParams {
            cfg: &self.config.tcp,
            opts: ConnOpts::from_config(&self.config.tcp, self.config.ttl),
            local,
            remote,
            iss,
            ts_offset,
            mtu: self.config.mtu,
            path: self.path_to(remote.ip()),
            now: self.now,
        };
        let tcb = Tcb::new_active(&params);
        let sock = TcpSock {
            tcb: self.boxed_tcb(tcb),
            parent: None,
            app_holds: true,
            in_map: true,
            buf_bytes: 0,
        };
        let h = self.alloc(Socket::Tcp(sock))?;
        self.conn_insert(FlowKey(local, remote), Conn::Socket(h));
        self.use_port(local.port(), false);
        self.counters.tcp_connections_opened += 1;
        self.mark_dirty(h);
        Ok(h)
    }

    /// Queues data; returns bytes taken (WouldBlock when the buffer is full).
    pub fn tcp_send(&mut self, h: SocketHandle, data: &[u8]) -> io::Result<usize> {
        let limit = self.config.max_buffer_bytes;
        if limit > 0 && self.buffer_total >= limit && !data.is_empty() {
            let tcb = self.app_tcb(h)?;
            if tcb.send_needs_memory(data.len()) {
                return Err(io::Error::new(
                    io::ErrorKind::OutOfMemory,
                    "stack buffer memory limit reached (ENOBUFS): Config::max_buffer_bytes",
                ));
            }
        }
        let r = self.app_tcb_mut(h)?.send(data);
        if matches!(r, Ok(n) if n > 0) {
            self.mark_dirty(h);
        }
        self.after_tcp(h);
        r
    }

    /// send() with MSG_OOB, RFC 9293 §3.8.5 urgent data: the bytes go in
    /// the stream like any (the peer reads them inline, or, on Linux
    /// without SO_OOBINLINE, the last one out of band), and the segments
    /// up to them carry URG with the urgent pointer after their last byte;
    /// Nagle does not hold them. RFC 6093 advises new applications not to
    /// rely on it; it is here for the ones that do (telnet, FTP's ABOR).
    pub fn tcp_send_urgent(&mut self, h: SocketHandle, data: &[u8]) -> io::Result<usize> {
        let n = self.tcp_send(h, data)?;
        if n > 0 {
            self.app_tcb_mut(h)?.mark_urgent_sent();
        }
        Ok(n)
    }

    /// How much of the peer's urgent data is not read yet (RFC 9293
    /// §3.8.5 MUST-33): the bytes from the next one `tcp_recv` returns up
    /// to the peer's urgent pointer (0: none). When the pointer arrives or
    /// advances, the socket's readiness event fires (MUST-32).
    pub fn tcp_urgent_pending(&self, h: SocketHandle) -> io::Result<usize> {
        Ok(self.app_tcb(h)?.urgent_pending())
    }

    /// Reads in-order data; Ok(0) = end of stream; WouldBlock when none yet.
    pub fn tcp_recv(&mut self, h: SocketHandle, buf: &mut [u8]) -> io::Result<usize> {
        let r = self.app_tcb_mut(h)?.recv(buf);
        if matches!(r, Ok(n) if n > 0) {
            // The window may have opened: poll decides if an update is due.
            self.mark_dirty(h);
        }
        r
    }

    /// Like `tcp_recv` (MSG_PEEK), leaving the data queued.
    pub fn tcp_peek(&mut self, h: SocketHandle, buf: &mut [u8]) -> io::Result<usize> {
        self.app_tcb_mut(h)?.peek(buf)
    }

    pub fn tcp_shutdown(&mut self, h: SocketHandle, how: Shutdown) -> io::Result<()> {
        let tcb = self.app_tcb_mut(h)?;
        match tcb.state {
            TcpState::Closed | TcpState::Listen => {
                return Err(err(io::ErrorKind::NotConnected, "socket is not connected"));
            }
            _ => {}
        }
        if matches!(how, Shutdown::Read | Shutdown::Both) {
            tcb.shutdown_read();
        }
        if matches!(how, Shutdown::Write | Shutdown::Both) {
            tcb.shutdown_write();
        }
        self.mark_dirty(h);
        self.after_tcp(h);
        Ok(())
    }

    /// Releases the handle. Graceful: queued data is still delivered and a
    /// FIN sent; with unread received data a RST is sent instead (Linux).
    /// Closing a listener resets the connections still in its queues.
    pub fn tcp_close(&mut self, h: SocketHandle) {
        let now = self.now;
        match self.slot_mut(h) {
            Some(Socket::Listener(_)) => self.close_listener(h),
            Some(Socket::Tcp(t)) if t.app_holds && !t.tcb.orphaned => {
                t.tcb.close(now);
                self.mark_dirty(h);
                self.after_tcp(h);
            }
            _ => {}
        }
    }

    fn close_listener(&mut self, h: SocketHandle) {
        let Some(Socket::Listener(l)) = self.slot_mut(h) else {
            return;
        };
        let local = l.local;
        let queued: Vec<SocketHandle> = l.accept_queue.drain(..).collect();
        l.syn_queue = 0;
        self.tcp_listeners.remove(&local);
        self.release_port(local.port(), true);
        // Children still in SYN-RECEIVED point at this listener too.
        let children: Vec<SocketHandle> = self
            .tcp_conns
            .values()
            .filter_map(|c| match c {
                Conn::Socket(c) => Some(*c),
                Conn::TimeWait(_) => None,
            })
            .filter(|c| matches!(self.slot(*c), Some(Socket::Tcp(t)) if t.parent == Some(h)))
            .collect();
        for c in queued.into_iter().chain(children) {
            if let Some(t) = self.tcp_mut(c) {
                t.parent = None;
                t.tcb.orphaned = true;
                t.tcb.abort();
            }
            self.mark_dirty(c);
            self.after_tcp(c);
        }
        self.free(h);
    }

    /// Sends RST and releases the handle (SO_LINGER 0).
    pub fn tcp_abort(&mut self, h: SocketHandle) {
        match self.slot_mut(h) {
            Some(Socket::Listener(_)) => self.close_listener(h),
            Some(Socket::Tcp(t)) if t.app_holds && !t.tcb.orphaned => {
                t.tcb.orphaned = true;
                t.tcb.abort();
                self.mark_dirty(h);
                self.after_tcp(h);
            }
            _ => {}
        }
    }

    pub fn tcp_state(&self, h: SocketHandle) -> io::Result<TcpState> {
        match self.slot(h) {
            Some(Socket::Listener(_)) => Ok(TcpState::Listen),
            _ => Ok(self.app_tcb(h)?.state),
        }
    }

    pub fn tcp_info(&self, h: SocketHandle) -> io::Result<TcpInfo> {
        let t = self.app_tcb(h)?;
        let (rcv_space, rcv_rtt) = t.rcv_tuning();
        Ok(TcpInfo {
            state: t.state,
            local: t.local,
            remote: t.remote,
            mss: t.smss(),
            cwnd: t.cwnd(),
            ssthresh: t.ssthresh(),
            srtt: t.rtt().srtt(),
            rttvar: t.rtt().rttvar(),
            rto: t.rtt().rto(),
            snd_wnd: t.snd_wnd(),
            rcv_wnd: t.rcv_wnd(),
            snd_wscale: t.wscales().0,
            rcv_wscale: t.wscales().1,
            congestion: t.congestion(),
            bytes_in_flight: t.bytes_in_flight(),
            in_recovery: t.in_recovery(),
            rcv_space,
            rcv_rtt,
            counters: t.counters,
        })
    }

    /// TCP_NODELAY. On a listener: for the connections it accepts from
    /// now on (each of the per-connection setters below works so, as
    /// setsockopt on a listening socket does on Linux).
    pub fn tcp_set_nodelay(&mut self, h: SocketHandle, nodelay: bool) -> io::Result<()> {
        if let Some(o) = self.listener_opts_mut(h) {
            o.nodelay = nodelay;
            return Ok(());
        }
        self.app_tcb_mut(h)?.nodelay = nodelay;
        self.mark_dirty(h);
        Ok(())
    }

    /// IP_TTL: the time to live of the packets a connection sends from now
    /// on, or that a listener's connections (SYN-ACK included) will send.
    /// 1–255, as Linux accepts (RFC 1122 §3.2.1.7: never 0).
    pub fn tcp_set_ttl(&mut self, h: SocketHandle, ttl: u32) -> io::Result<()> {
        // The handle is checked before the value (EBADF before EINVAL).
        if let Some(o) = self.listener_opts_mut(h) {
            o.ttl = checked_ttl(ttl)?;
            return Ok(());
        }
        let t = self.app_tcb_mut(h)?;
        t.ttl = checked_ttl(ttl)?;
        Ok(())
    }

    /// IP_TOS: the Differentiated Services field of the packets a
    /// connection sends from now on, or that a listener's connections
    /// (SYN-ACK included) will send (RFC 9293 §3.9.1.9, MUST-48). 0–255;
    /// the two ECN bits are TCP's (RFC 3168) and stay clear, as Linux
    /// keeps them out of IP_TOS for TCP.
    pub fn tcp_set_tos(&mut self, h: SocketHandle, tos: u32) -> io::Result<()> {
        // The handle is checked before the value (EBADF before EINVAL).
        if let Some(o) = self.listener_opts_mut(h) {
            o.tos = checked_tos(tos)? & !ECN_MASK;
            return Ok(());
        }
        let t = self.app_tcb_mut(h)?;
        t.tos = checked_tos(tos)? & !ECN_MASK;
        Ok(())
    }

    pub fn tcp_tos(&self, h: SocketHandle) -> io::Result<u32> {
        if let Some(Socket::Listener(l)) = self.slot(h) {
            return Ok(u32::from(l.opts.tos));
        }
        Ok(u32::from(self.app_tcb(h)?.tos))
    }

    pub fn tcp_ttl(&self, h: SocketHandle) -> io::Result<u32> {
        if let Some(Socket::Listener(l)) = self.slot(h) {
            return Ok(u32::from(l.opts.ttl));
        }
        Ok(u32::from(self.app_tcb(h)?.ttl))
    }

    /// Turns keepalive on (Some) or off for a connection (SO_KEEPALIVE with
    /// TCP_KEEPIDLE/KEEPINTVL/KEEPCNT); the idle time counts from the
    /// last segment heard or from now, whichever is later. A peer silent
    /// through all the probes resets the connection: reads and writes
    /// then fail with TimedOut.
    pub fn tcp_set_keepalive(
        &mut self,
        h: SocketHandle,
        keepalive: Option<Keepalive>,
    ) -> io::Result<()> {
        if let Some(ka) = &keepalive {
            ka.check()
                .map_err(|m| err(io::ErrorKind::InvalidInput, m))?;
        }
        if let Some(o) = self.listener_opts_mut(h) {
            o.keepalive = keepalive;
            return Ok(());
        }
        let now = self.now;
        self.app_tcb_mut(h)?.set_keepalive(now, keepalive);
        self.after_tcp(h);
        Ok(())
    }

    /// The connection's keepalive setting (None: off).
    pub fn tcp_keepalive(&self, h: SocketHandle) -> io::Result<Option<Keepalive>> {
        if let Some(Socket::Listener(l)) = self.slot(h) {
            return Ok(l.opts.keepalive);
        }
        Ok(self.app_tcb(h)?.keepalive())
    }

    /// SO_LINGER for a connection, or for what a listener accepts from
    /// now on (Linux passes it on). `Some(Duration::ZERO)`: `tcp_close`
    /// aborts: the queued data is discarded, a RST is sent if the
    /// connection is synchronized, and there is no TIME-WAIT (RFC 9293
    /// §3.10.5 ABORT, Linux's close with a zero linger). `Some(t)`: a
    /// blocking close waits up to `t` for the FIN's acknowledgment; the
    /// stack never blocks, so that wait is the caller's (the runtime's
    /// blocking `TcpStream` does it on drop). None (the default): close
    /// returns at once and the data is delivered in the background.
    pub fn tcp_set_linger(&mut self, h: SocketHandle, linger: Option<Duration>) -> io::Result<()> {
        if let Some(o) = self.listener_opts_mut(h) {
            o.linger = linger;
            return Ok(());
        }
        self.app_tcb_mut(h)?.linger = linger;
        Ok(())
    }

    pub fn tcp_linger(&self, h: SocketHandle) -> io::Result<Option<Duration>> {
        if let Some(Socket::Listener(l)) = self.slot(h) {
            return Ok(l.opts.linger);
        }
        Ok(self.app_tcb(h)?.linger)
    }

    /// TCP_USER_TIMEOUT (RFC 9293 §3.10.8 USER TIMEOUT, RFC 5482) for a
    /// connection, or for what a listener accepts from now on: how long
    /// sent data may stay unacknowledged, or queued data unsent behind a
    /// zero window, before the connection fails with TimedOut (no RST:
    /// the peer is presumed unreachable). It replaces the retry count and,
    /// with keepalive, the probe count (Linux); the handshake keeps its
    /// own limit. Whole milliseconds, as Linux; None or zero: off.
    pub fn tcp_set_user_timeout(&mut self, h: SocketHandle, t: Option<Duration>) -> io::Result<()> {
        if let Some(o) = self.listener_opts_mut(h) {
            o.user_timeout_ms = crate::tcp::conn::user_timeout_ms(t);
            return Ok(());
        }
        self.app_tcb_mut(h)?.set_user_timeout(t);
        Ok(())
    }

    pub fn tcp_user_timeout(&self, h: SocketHandle) -> io::Result<Option<Duration>> {
        if let Some(Socket::Listener(l)) = self.slot(h) {
            let ms = l.opts.user_timeout_ms;
            return Ok((ms > 0).then(|| Duration::from_millis(u64::from(ms))));
        }
        Ok(self.app_tcb(h)?.user_timeout())
    }

    /// Bytes that `tcp_send` would accept now.
    pub fn tcp_send_capacity(&self, h: SocketHandle) -> io::Result<usize> {
        Ok(self.app_tcb(h)?.send_capacity())
    }

    /// Bytes readable now.
    pub fn tcp_recv_available(&self, h: SocketHandle) -> io::Result<usize> {
        Ok(self.app_tcb(h)?.recv_available())
    }

    pub fn tcp_local_addr(&self, h: SocketHandle) -> io::Result<SocketAddr> {
        match self.slot(h) {
            Some(Socket::Listener(l)) => Ok(l.local),
            _ => Ok(self.app_tcb(h)?.local),
        }
    }

    /// SO_ERROR: takes the connection's pending error (refused, reset,
    /// timed out...), if any.
    pub fn tcp_take_error(&mut self, h: SocketHandle) -> io::Result<Option<io::Error>> {
        Ok(self.app_tcb_mut(h)?.take_error_pub())
    }

    /// SO_SNDBUF. It fixes the buffer (no auto-tuning from then on, as
    /// Linux's SOCK_SNDBUF_LOCK), never below what is queued.
    pub fn tcp_set_send_buffer(&mut self, h: SocketHandle, bytes: usize) -> io::Result<()> {
        let bytes = bytes.clamp(1, MAX_SOCKET_BUFFER);
        if let Some(o) = self.listener_opts_mut(h) {
            o.send_buffer = bytes;
            // Fixed, as on Linux (SOCK_SNDBUF_LOCK): no auto-tuning.
            o.send_buffer_max = 0;
            return Ok(());
        }
        self.app_tcb_mut(h)?.set_send_buffer(bytes);
        self.mark_event(h);
        Ok(())
    }

    /// SO_RCVBUF. It fixes the buffer (no auto-tuning from then on, as
    /// Linux's SOCK_RCVBUF_LOCK) and sizes the window scale offered in the
    /// handshake (RFC 7323 §2.2), so set it before: on a connection before
    /// its SYN goes out (right after `tcp_connect`), on a listener for the
    /// connections it will accept. Afterwards it can only grow the buffer,
    /// within what the negotiated scale can advertise.
    pub fn tcp_set_recv_buffer(&mut self, h: SocketHandle, bytes: usize) -> io::Result<()> {
        let bytes = bytes.clamp(1, MAX_SOCKET_BUFFER);
        if let Some(o) = self.listener_opts_mut(h) {
            o.recv_buffer = bytes;
            // Fixed, as on Linux (SOCK_RCVBUF_LOCK): no auto-tuning.
            o.recv_buffer_max = 0;
            return Ok(());
        }
        self.app_tcb_mut(h)?.set_recv_buffer(bytes);
        self.mark_dirty(h);
        Ok(())
    }

    /// TCP_CONGESTION: the congestion controller, for a connection (the
    /// window carries over, as on Linux) or for what a listener accepts.
    pub fn tcp_set_congestion(&mut self, h: SocketHandle, kind: CongestionKind) -> io::Result<()> {
        if let Some(o) = self.listener_opts_mut(h) {
            o.congestion = kind;
            return Ok(());
        }
        let cfg = self.config.tcp.clone();
        self.app_tcb_mut(h)?.set_congestion(kind, &cfg);
        Ok(())
    }

    pub fn tcp_congestion(&self, h: SocketHandle) -> io::Result<CongestionKind> {
        if let Some(Socket::Listener(l)) = self.slot(h) {
            return Ok(l.opts.congestion);
        }
        Ok(self.app_tcb(h)?.congestion())
    }

    /// (send buffer, receive buffer) sizes.
    pub fn tcp_buffer_sizes(&self, h: SocketHandle) -> io::Result<(usize, usize)> {
        if let Some(Socket::Listener(l)) = self.slot(h) {
            return Ok((l.opts.send_buffer, l.opts.recv_buffer));
        }
        let t = self.app_tcb(h)?;
        Ok((t.send_buffer(), t.recv_buffer()))
    }

    pub fn tcp_nodelay(&self, h: SocketHandle) -> io::Result<bool> {
        if let Some(Socket::Listener(l)) = self.slot(h) {
            return Ok(l.opts.nodelay);
        }
        Ok(self.app_tcb(h)?.nodelay)
    }

    /// Connections that still have data or a FIN to deliver (unsent or
    /// unacknowledged): a runtime that shuts down waits for these.
    pub fn tcp_busy_count(&self) -> usize {
        self.slots
            .iter()
            .filter(|s| match &s.socket {
                Some(Socket::Tcp(t)) => t.tcb.has_data_to_deliver(),
                _ => false,
            })
            .count()
    }

    /// Moves the stack's notion of "now" forward (never back). Runtimes
    /// call it before socket calls so that new connections and timers
    /// start from the current time.
    pub fn advance_clock(&mut self, now: Instant) {
        self.tick(now);
    }

    pub fn tcp_peer_addr(&self, h: SocketHandle) -> io::Result<SocketAddr> {
        Ok(self.app_tcb(h)?.remote)
    }

    // ------------------------------------------------------------------
    // UDP API
    // ------------------------------------------------------------------

    pub fn udp_bind(&mut self, local: SocketAddr) -> io::Result<SocketHandle> {
        self.udp_bind_with(local, BindOptions::default())
    }

    /// Binds a UDP socket with IPV6_V6ONLY as `opts` says (SO_REUSEADDR
    /// is refused: two UDP sockets on one address are not supported).
    pub fn udp_bind_with(
        &mut self,
        local: SocketAddr,
        opts: BindOptions,
    ) -> io::Result<SocketHandle> {
        if opts.reuse_addr {
            return Err(err(
                io::ErrorKind::Unsupported,
                "SO_REUSEADDR is not supported for UDP sockets",
            ));
        }
        self.check_local_ip(local.ip())?;
        let only_v6 = opts.only_v6.unwrap_or(self.config.ipv6_only) && local.is_ipv6();
        let mut local = local;
        if local.port() == 0 {
            let (lo, hi) = self.config.ephemeral_ports;
            let range = u32::from(hi - lo) + 1;
            let start = self.rng.range(0, u64::from(range)) as u32;
            let mut found = None;
            for i in 0..range {
                let p = lo + ((start + i) % range) as u16;
                if !self.udp_port_taken(SocketAddr::new(local.ip(), p), only_v6) {
                    found = Some(p);
                    break;
                }
            }
            local.set_port(
                found.ok_or_else(|| err(io::ErrorKind::AddrInUse, "no free ephemeral port"))?,
            );
        } else if self.udp_port_taken(local, only_v6) {
            return Err(err(io::ErrorKind::AddrInUse, "UDP address already in use"));
        }
        let mut sock = UdpSocket::new(local, self.config.udp_recv_buffer);
        sock.ttl = self.config.ttl;
        sock.only_v6 = only_v6;
        let h = self.alloc(Socket::Udp(Box::new(sock)))?;
        self.udp_binds.insert(local, h);
        Ok(h)
    }

    /// The UDP socket a datagram to `local` goes to (see `bound_to`).
    fn udp_socket_for(&self, local: SocketAddr) -> Option<SocketHandle> {
        bound_to(
            &self.udp_binds,
            local,
            |h| matches!(self.slot(h), Some(Socket::Udp(u)) if !u.only_v6),
        )
    }

    /// Whether a UDP socket bound to `local` would overlap one there is
    /// (`binds_overlap`).
    fn udp_port_taken(&self, local: SocketAddr, only_v6: bool) -> bool {
        if self.udp_binds.contains_key(&local) {
            return true;
        }
        let overlaps = |a: &SocketAddr, h: &SocketHandle| {
            a.port() == local.port()
                && matches!(self.slot(*h), Some(Socket::Udp(u))
                    if binds_overlap(local.ip(), only_v6, a.ip(), u.only_v6))
        };
        // A wildcard of either family, or (binding a wildcard) any
        // address on the port. Otherwise two lookups, not a scan.
        if local.ip().is_unspecified() {
            return self.udp_binds.iter().any(|(a, h)| overlaps(a, h));
        }
        [Ipv4Addr::UNSPECIFIED.into(), Ipv6Addr::UNSPECIFIED.into()]
            .into_iter()
            .map(|any: IpAddr| SocketAddr::new(any, local.port()))
            .any(|a| self.udp_binds.get(&a).is_some_and(|h| overlaps(&a, h)))
    }

    /// A UDP socket and the buffer pool its datagrams use.
    fn udp_and_pool(&mut self, h: SocketHandle) -> io::Result<(&mut UdpSocket, &mut BufPool)> {
        let slot = self.slots.get_mut(h.index as usize);
        match slot.filter(|s| s.generation == h.generation) {
            Some(Slot {
                socket: Some(Socket::Udp(u)),
                ..
            }) => Ok((u, &mut self.pool)),
            Some(Slot {
                socket: Some(_), ..
            }) => Err(err(io::ErrorKind::InvalidInput, "not a UDP socket")),
            _ => Err(bad_handle()),
        }
    }

    fn udp_sock(&mut self, h: SocketHandle) -> io::Result<&mut UdpSocket> {
        self.udp_and_pool(h).map(|(u, _)| u)
    }

    /// Sends one datagram (fragmented if larger than the MTU).
    pub fn udp_send_to(
        &mut self,
        h: SocketHandle,
        data: &[u8],
        to: SocketAddr,
    ) -> io::Result<usize> {
        if data.len() > udp::MAX_PAYLOAD {
            return Err(err(
                io::ErrorKind::InvalidInput,
                "datagram too large (EMSGSIZE)",
            ));
        }
        if to.port() == 0 {
            return Err(err(io::ErrorKind::InvalidInput, "cannot send to port 0"));
        }
        let (local, ip, may_broadcast, only_v6) = {
            let u = self.udp_sock(h)?;
            (u.local, (u.ttl, u.tos), u.broadcast, u.only_v6)
        };
        check_family_v6only(local.ip(), only_v6, to.ip())?;
        if to.ip().is_ipv6() && (to.ip().is_multicast() || to.ip().is_unspecified()) {
            return Err(err(
                io::ErrorKind::InvalidInput,
                "IPv6 multicast is not supported",
            ));
        }
        let broadcast = matches!(to.ip(), IpAddr::V4(a) if a.is_broadcast())
            || self.routes.is_broadcast(to.ip());
        let route = if broadcast {
            // EACCES without SO_BROADCAST, as Linux (RFC 1122 §3.3.6:
            // broadcasts go out only when the application asks).
            if !may_broadcast {
                return Err(err(
                    io::ErrorKind::PermissionDenied,
                    "broadcast is not enabled on this socket (set_broadcast)",
                ));
            }
            self.routes.broadcast_route(to.ip())
        } else {
            self.routes.lookup(to.ip())
        };
        let route = route.ok_or_else(|| {
            err(
                io::ErrorKind::NetworkUnreachable,
                "no route to the destination",
            )
        })?;
        let src_ip = if local.ip().is_unspecified() {
            route.src
        } else {
            local.ip()
        };
        self.check_stays_in_host(src_ip, to.ip())?;
        let udp = UdpRepr {
            src_port: local.port(),
            dst_port: to.port(),
        };
        let len = ustack_wire::udp::HEADER_LEN + data.len();
        let before = self.out_queue.len();
        let ports = (local.port(), to.port());
        let queued = self.queue_ip_with(src_ip, to.ip(), ipv4::PROTO_UDP, len, (ip, ports), |b| {
            udp.emit(b, data, src_ip, to.ip());
        });
        if !queued {
            return Err(io::ErrorKind::WouldBlock.into());
        }
        if broadcast {
            // A broadcast reaches this host too (RFC 1122 §3.3.6 leaves
            // it open; Linux loops a copy back): `poll_transmit` delivers
            // copies of its packets (fragments included) to our sockets.
            let copies: Vec<Vec<u8>> = self.out_queue.range(before..).cloned().collect();
            self.broadcast_loop.extend(copies);
        }
        self.counters.udp_out += 1;
        Ok(data.len())
    }

    /// Receives one datagram; a short buffer truncates it (`truncated`).
    pub fn udp_recv_from(&mut self, h: SocketHandle, buf: &mut [u8]) -> io::Result<UdpRecv> {
        let (u, pool) = self.udp_and_pool(h)?;
        let (len, from, truncated, datagram_len) = u.recv(buf, pool)?;
        Ok(UdpRecv {
            len,
            from,
            truncated,
            datagram_len,
        })
    }

    /// Restricts the socket to one peer (filtering input, reporting ICMP
    /// errors about it as the next receive's error).
    /// Sets the peer: datagrams from others are dropped, and errors about
    /// this peer are reported. A peer of the other IP version is
    /// refused (InvalidInput), as `udp_send_to` refuses it.
    pub fn udp_connect(&mut self, h: SocketHandle, peer: SocketAddr) -> io::Result<()> {
        let u = self.udp_sock(h)?;
        check_family_v6only(u.local.ip(), u.only_v6, peer.ip())?;
        u.connected = Some(peer);
        Ok(())
    }

    /// Like `udp_recv_from` (MSG_PEEK), leaving the datagram queued.
    pub fn udp_peek_from(&mut self, h: SocketHandle, buf: &mut [u8]) -> io::Result<UdpRecv> {
        let (len, from, truncated, datagram_len) = self.udp_sock(h)?.peek(buf)?;
        Ok(UdpRecv {
            len,
            from,
            truncated,
            datagram_len,
        })
    }

    /// The peer set by `udp_connect`.
    pub fn udp_peer_addr(&mut self, h: SocketHandle) -> io::Result<SocketAddr> {
        self.udp_sock(h)?
            .connected
            .ok_or_else(|| err(io::ErrorKind::NotConnected, "not connected"))
    }

    /// Length of the next datagram, if one is queued.
    pub fn udp_peek_len(&mut self, h: SocketHandle) -> io::Result<Option<usize>> {
        let u = self.udp_sock(h)?;
        Ok(u.has_datagram().then(|| u.available()))
    }

    pub fn udp_close(&mut self, h: SocketHandle) {
        let local = match self.slot(h) {
            Some(Socket::Udp(u)) => u.local,
            _ => return,
        };
        self.udp_binds.remove(&local);
        self.free(h);
    }

    /// SO_ERROR: the pending ICMP error of a connected socket (e.g.
    /// ConnectionRefused after a port unreachable), cleared; a later
    /// `udp_recv_from` no longer reports it.
    pub fn udp_take_error(&mut self, h: SocketHandle) -> io::Result<Option<io::Error>> {
        Ok(self.udp_sock(h)?.error.take().map(io::Error::from))
    }

    /// IP_TTL of the datagrams the socket sends from now on (1–255).
    pub fn udp_set_ttl(&mut self, h: SocketHandle, ttl: u32) -> io::Result<()> {
        let u = self.udp_sock(h)?;
        u.ttl = checked_ttl(ttl)?;
        Ok(())
    }

    pub fn udp_ttl(&mut self, h: SocketHandle) -> io::Result<u32> {
        Ok(u32::from(self.udp_sock(h)?.ttl))
    }

    /// IP_TOS of the datagrams the socket sends from now on: the whole
    /// Differentiated Services field, ECN bits included (0–255).
    pub fn udp_set_tos(&mut self, h: SocketHandle, tos: u32) -> io::Result<()> {
        let u = self.udp_sock(h)?;
        u.tos = checked_tos(tos)?;
        Ok(())
    }

    pub fn udp_tos(&mut self, h: SocketHandle) -> io::Result<u32> {
        Ok(u32::from(self.udp_sock(h)?.tos))
    }

    /// SO_BROADCAST: lets the socket send to 255.255.255.255 and to the
    /// directed broadcast of an on-link subnet (off by default: such a
    /// send fails with PermissionDenied, as Linux's EACCES). A broadcast
    /// goes out on the link, and a copy reaches this stack's own sockets
    /// bound to the wildcard address on its port, as on Linux.
    pub fn udp_set_broadcast(&mut self, h: SocketHandle, on: bool) -> io::Result<()> {
        self.udp_sock(h)?.broadcast = on;
        Ok(())
    }

    pub fn udp_broadcast(&mut self, h: SocketHandle) -> io::Result<bool> {
        Ok(self.udp_sock(h)?.broadcast)
    }

    pub fn udp_local_addr(&self, h: SocketHandle) -> io::Result<SocketAddr> {
        match self.slot(h) {
            Some(Socket::Udp(u)) => Ok(u.local),
            Some(_) => Err(err(io::ErrorKind::InvalidInput, "not a UDP socket")),
            None => Err(bad_handle()),
        }
    }
}

#[cfg(test)]
mod slot_tests {
    use super::*;

    /// Segments and timers look slots up at random: one stays within a
    /// cache line's size (it was 160 bytes with the larger sockets inline
    /// and 16-byte optional instants).
    #[test]
    fn a_slot_fits_in_a_cache_line() {
        let n = std::mem::size_of::<Slot>();
        assert!(n <= 64, "Slot is {n} bytes");
    }

    #[test]
    fn slot_time_keeps_every_instant_but_the_last() {
        for us in [0, 1, 40_000, u64::MAX - 2, u64::MAX - 1] {
            let t = Instant::from_micros(us);
            assert_eq!(SlotTime::new(Some(t)).get(), Some(t));
        }
        assert_eq!(SlotTime::new(None).get(), None);
        // The one instant it cannot hold comes back a microsecond early,
        // not as None.
        let last = Instant::from_micros(u64::MAX);
        assert_eq!(
            SlotTime::new(Some(last)).get(),
            Some(Instant::from_micros(u64::MAX - 1))
        );
    }
}
