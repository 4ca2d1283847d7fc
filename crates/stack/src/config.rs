//! Stack configuration. Defaults follow Linux.
use crate::ip::reassembly::ReassemblyLimits;
use crate::ip::route::Cidr;
use crate::tcp::cc::CongestionKind;
use crate::time::Duration;
use std::net::IpAddr;

/// Packetization-layer path MTU discovery for TCP (RFC 4821), as Linux's
/// `net.ipv4.tcp_mtu_probing` (0, 1, 2). It finds the path's MTU without
/// ICMP, for paths that drop large packets and say nothing (a "black
/// hole", RFC 2923 §2.1: tunnels behind filters that drop ICMP).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum MtuProbing {
    /// Off (Linux's 0, the default): the path MTU comes from the interface
    /// and from ICMP "fragmentation needed" / Packet Too Big only.
    #[default]
    Off,
    /// Black-hole detection (Linux's 1): a connection's third consecutive
    /// retransmission timeout lowers its MSS to 1 024 bytes (Linux's
    /// `tcp_base_mss`), each further one halves it, down to the 552-byte
    /// IPv4 floor (DF then cleared) or IPv6's 1 280-byte minimum MTU. Then
    /// probes (RFC 4821 §7: one segment larger than the MSS, sent with DF;
    /// its loss is not a congestion signal) search back up by halving the
    /// interval between the largest size that got through and the
    /// smallest that did not, to within 8 bytes; the search starts again
    /// after 10 minutes (Linux's `tcp_probe_interval`).
    BlackHole,
    /// Always (Linux's 2): every connection starts at the 1 024-byte MSS
    /// and probes up from the start, as well as detecting black holes.
    Always,
}

/// TCP keepalive (RFC 9293 §3.8.4, RFC 1122 §4.2.3.6): after `idle`
/// without hearing from the peer, and with nothing in flight, send a probe
/// every `interval`; after `retries` unanswered probes the connection is
/// reset and fails with TimedOut. Linux's SO_KEEPALIVE with TCP_KEEPIDLE,
/// TCP_KEEPINTVL and TCP_KEEPCNT; the default is Linux's (2 h, 75 s, 9).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Keepalive {
    pub idle: Duration,
    pub interval: Duration,
    pub retries: u32,
}

impl Default for Keepalive {
    fn default() -> Self {
        Keepalive {
            idle: Duration::from_secs(7200),
            interval: Duration::from_secs(75),
            retries: 9,
        }
    }
}

impl Keepalive {
    /// Linux's bounds: 1 s to 32767 s for the times, 1 to 127 probes.
    pub fn check(&self) -> Result<(), &'static str> {
        let times = Duration::from_secs(1)..=Duration::from_secs(32_767);
        if !times.contains(&self.idle) {
            return Err("keepalive idle time must be between 1 s and 32767 s");
        }
        if !times.contains(&self.interval) {
            return Err("keepalive interval must be between 1 s and 32767 s");
        }
        if !(1..=127).contains(&self.retries) {
            return Err("keepalive retries must be in 1..=127");
        }
        Ok(())
    }
}

/// The largest TCP send or receive buffer, 1 GiB: the largest window a
/// scaled advertisement can carry (65535 << 14, RFC 7323 §2.3). Larger
/// per-socket requests are clamped to it, as Linux clamps SO_RCVBUF.
pub const MAX_SOCKET_BUFFER: usize = 1 << 30;

/// TCP settings (per stack; some can be changed per socket).
#[derive(Debug, Clone)]
pub struct TcpConfig {
    /// Send buffer size in bytes (allocated lazily), 1..=`MAX_SOCKET_BUFFER`;
    /// bounds the data queued and unacknowledged. With `send_buffer_auto`
    /// the size a connection starts with (Linux's `tcp_wmem[1]`, 16 KiB),
    /// else its fixed size.
    pub send_buffer: usize,
    /// Send-buffer auto-tuning (Linux's `tcp_sndbuf_expand`, always on
    /// there): once the handshake completes a connection's buffer holds
    /// twice the initial window, and whenever a writer waits for room
    /// that the buffer rather than the network withholds, it grows to
    /// twice the congestion window (in Linux's per-segment memory, so
    /// the sizes are Linux's), up to `send_buffer_max`. A writer faster
    /// than its path then queues about two windows, not megabytes.
    /// SO_SNDBUF (`Stack::tcp_set_send_buffer`) fixes a socket's buffer.
    pub send_buffer_auto: bool,
    /// The most auto-tuning grows a send buffer to (Linux's
    /// `tcp_wmem[2]`, 4 MiB), 1..=`MAX_SOCKET_BUFFER`.
    pub send_buffer_max: usize,
    /// Receive buffer size in bytes (allocated lazily), 1..=`MAX_SOCKET_BUFFER`;
    /// bounds the window. With `recv_buffer_auto` the size a connection
    /// starts with (Linux's `tcp_rmem[1]`, 128 KiB), else its fixed size.
    pub recv_buffer: usize,
    /// Receive-buffer auto-tuning (Linux's `net.ipv4.tcp_moderate_rcvbuf`,
    /// on by default as there): once per round trip a connection's buffer
    /// grows to about twice what the application read in the last round
    /// trip, and more while that doubles, up to `recv_buffer_max`; a slow
    /// reader keeps it small. SO_RCVBUF (`Stack::tcp_set_recv_buffer`)
    /// fixes a socket's buffer, as on Linux.
    pub recv_buffer_auto: bool,
    /// The most auto-tuning grows a receive buffer to (Linux's
    /// `tcp_rmem[2]`, 6 MiB), 1..=`MAX_SOCKET_BUFFER`. The window scale
    /// offered in the handshake is chosen for it (RFC 7323 §2.2).
    pub recv_buffer_max: usize,
    /// RFC 6298 (2.1): initial RTO, 1 s.
    pub rto_initial: Duration,
    /// RFC 6298 (2.4) allows 1 s; Linux uses 200 ms.
    pub rto_min: Duration,
    /// RFC 6298 (2.5): at least 60 s; Linux uses 120 s.
    pub rto_max: Duration,
    /// Retransmissions of data before giving up (Linux tcp_retries2 = 15).
    pub max_retries: u32,
    /// SYN / SYN-ACK retransmissions before giving up (Linux 6 / 5).
    pub syn_retries: u32,
    /// Packetization-layer path MTU discovery (RFC 4821; Linux's
    /// `net.ipv4.tcp_mtu_probing`, off by default as there). See
    /// `MtuProbing`.
    pub mtu_probing: MtuProbing,
    /// Maximum segment lifetime; TIME_WAIT lasts 2·MSL (default 30 s → 60 s).
    pub msl: Duration,
    /// Delayed-ACK timeout (RFC 9293 §3.8.6.3; Linux 40 ms). Zero disables.
    pub delayed_ack: Duration,
    /// Disable Nagle's algorithm for new sockets (TCP_NODELAY).
    pub nodelay: bool,
    /// Keepalive for new sockets (SO_KEEPALIVE); off (None) by default,
    /// as on Linux. Per socket: `Stack::tcp_set_keepalive`.
    pub keepalive: Option<Keepalive>,
    /// Offer window scaling (RFC 7323).
    pub window_scaling: bool,
    /// Offer timestamps (RFC 7323).
    pub timestamps: bool,
    /// Offer SACK (RFC 2018): blocks and D-SACK (RFC 2883) as a receiver,
    /// a scoreboard with RFC 6675 recovery as a sender.
    pub sack: bool,
    /// RACK-TLP loss detection (RFC 8985) when SACK is negotiated; off:
    /// the DupThresh rules of RFC 6675 alone.
    pub rack: bool,
    /// Tail loss probes (RFC 8985 §7), with SACK.
    pub tlp: bool,
    /// Congestion controller for new connections.
    pub congestion: CongestionKind,
    /// CUBIC's slow-start exit before a loss: HyStart++'s delay test (RFC
    /// 9406). Off: slow start ends at the first loss.
    pub hystart: bool,
    /// With `hystart`, also HyStart's ACK-train test (Linux's CUBIC runs
    /// it): leaves slow start near one BDP, before a one-BDP queue
    /// overflows on a clean path; off by default because with random loss
    /// CUBIC then regrows slowly (40 ms / 0.1 %: 38.1 → 27.5 Mbit/s in the
    /// simulator, 25 MB, mean of 16 seeds). `ustack sim --ack-train`.
    /// Off, the test still applies once cwnd is within a doubling of the
    /// send buffer (of its ceiling, `send_buffer_max`, when auto-tuned),
    /// where little growth is left and a loss stalls a round trip.
    pub hystart_ack_train: bool,
    /// Initial window in segments (RFC 6928: 10).
    pub initial_window: u32,
    /// RFC 5681 §4.1: after more than an RTO without sending, cwnd
    /// restarts from at most the initial window (halved once per RTO of
    /// idleness, as Linux's `net.ipv4.tcp_slow_start_after_idle`, on by
    /// default as there). Off: a connection keeps its cwnd through idle
    /// periods.
    pub slow_start_after_idle: bool,
    /// Out-of-order ranges kept per connection (bounds reassembly state).
    /// Drop-tail overflow in slow start can leave a hole every other
    /// segment across a whole window (a 4 MiB window holds ~2900
    /// segments, auto-tuning's 6 MiB ceiling ~4300); data that would need
    /// one more range is dropped.
    pub max_ooo_ranges: usize,
    /// How long an orphaned connection may sit in FIN_WAIT_2 (Linux 60 s).
    pub fin_timeout: Duration,
    /// Maximum listen backlog accepted (Linux somaxconn 4096).
    pub max_backlog: usize,
    /// Answer SYNs with SYN cookies (RFC 4987) when a listener's SYN queue
    /// is full (Linux tcp_syncookies = 1).
    pub syn_cookies: bool,
    /// RFC 5961 §7: challenge ACKs per second and connection (a
    /// per-connection budget, like Linux's per-socket limit, avoids the
    /// CVE-2016-5696 side channel of a stack-wide one). 0 = unlimited.
    pub challenge_ack_limit: u32,
    /// Header prediction (Jacobson's fast path, described in RFC 1323's
    /// appendix; Linux's `tcp_rcv_established` fast path): the next
    /// in-order data segment of a pure receiver (it acknowledges nothing
    /// new) and a pure ACK of new data for a pure sender, both without
    /// SACK blocks, skip the general segment-arrival steps. It has
    /// exactly their effect (the simulator's traces are identical either
    /// way, checked by tests), so turning it off only costs time; counted
    /// in `TcpCounters::{predicted, predicted_acks}`.
    pub header_prediction: bool,
}

impl Default for TcpConfig {
    fn default() -> Self {
        TcpConfig {
            send_buffer: 16 << 10,
            send_buffer_auto: true,
            send_buffer_max: 4 << 20,
            recv_buffer: 128 << 10,
            recv_buffer_auto: true,
            recv_buffer_max: 6 << 20,
            rto_initial: Duration::from_secs(1),
            rto_min: Duration::from_millis(200),
            rto_max: Duration::from_secs(120),
            max_retries: 15,
            mtu_probing: MtuProbing::Off,
            syn_retries: 6,
            msl: Duration::from_secs(30),
            delayed_ack: Duration::from_millis(40),
            nodelay: false,
            keepalive: None,
            window_scaling: true,
            timestamps: true,
            sack: true,
            rack: true,
            tlp: true,
            hystart: true,
            hystart_ack_train: false,
            congestion: CongestionKind::Cubic,
            initial_window: 10,
            slow_start_after_idle: true,
            max_ooo_ranges: 2048,
            fin_timeout: Duration::from_secs(60),
            max_backlog: 4096,
            syn_cookies: true,
            challenge_ack_limit: 10,
            header_prediction: true,
        }
    }
}

/// Whole-stack configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// Interface addresses with prefixes (their subnets are on-link).
    pub addresses: Vec<Cidr>,
    /// Default gateway, if any.
    pub gateway: Option<IpAddr>,
    /// Link MTU (IP packet size), default 1500.
    pub mtu: usize,
    /// Seed for every random choice the stack makes (ISN secret, ephemeral
    /// ports, IP ident). Real devices pass OS randomness here.
    pub seed: u64,
    /// TTL of packets we originate.
    pub ttl: u8,
    pub tcp: TcpConfig,
    pub reassembly: ReassemblyLimits,
    /// Ephemeral port range, inclusive (Linux 32768..=60999).
    pub ephemeral_ports: (u16, u16),
    /// Maximum sockets of all kinds (EMFILE-like error beyond).
    pub max_sockets: usize,
    /// Default UDP receive buffer (bytes of queued datagrams).
    pub udp_recv_buffer: usize,
    /// Total bytes of TCP send/receive buffers the stack may allocate
    /// (Linux tcp_mem spirit). At the limit `tcp_send` fails with
    /// OutOfMemory (ENOBUFS) and data needing more memory is dropped
    /// (counted; the peer retransmits). 0 = unlimited. Default 1 GiB.
    pub max_buffer_bytes: usize,
    /// ICMP errors per second we may send, with bursts of up to 50
    /// (Linux icmp_ratelimit/icmp_msgs_per_sec spirit). 0 = unlimited.
    pub icmp_error_rate: u32,
    /// IPV6_V6ONLY for sockets that do not choose (Linux's
    /// `net.ipv6.bindv6only`, off by default): when set, a socket bound
    /// to `[::]` takes IPv6 only, and `0.0.0.0` may be bound beside it.
    pub ipv6_only: bool,
    /// RFC 6437 flow labels on the IPv6 packets we send (Linux's
    /// `net.ipv6.auto_flowlabels`, on by default): every packet of a flow
    /// carries the same non-zero label, a keyed hash of its addresses,
    /// ports and protocol, and a TCP retransmission timeout moves the
    /// connection to another (Linux's `net.core.txrehash`). Off: 0.
    pub ipv6_flow_labels: bool,
}

/// How a socket binds (`Stack::tcp_listen_with`, `Stack::udp_bind_with`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BindOptions {
    /// SO_REUSEADDR: a listener may bind while connections on its port
    /// linger (TIME-WAIT). TCP only: UDP refuses it (Unsupported).
    pub reuse_addr: bool,
    /// IPV6_V6ONLY for a socket bound to `[::]`; `None` takes
    /// `Config::ipv6_only`. Ignored for other addresses.
    pub only_v6: Option<bool>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            addresses: Vec::new(),
            gateway: None,
            mtu: 1500,
            seed: 0,
            ttl: 64,
            tcp: TcpConfig::default(),
            reassembly: ReassemblyLimits::default(),
            ephemeral_ports: (32768, 60999),
            max_sockets: 1 << 20,
            udp_recv_buffer: 256 * 1024,
            max_buffer_bytes: 1 << 30,
            icmp_error_rate: 1000,
            ipv6_only: false,
            ipv6_flow_labels: true,
        }
    }
}
