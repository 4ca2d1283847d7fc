//! One TCP connection: the transmission control block and its state
//! machine (RFC 9293 §3.10), sans-IO. The stack feeds it parsed segments
//! (`on_segment`), timer expiries (`on_timer`) and application calls; it
//! produces segments on demand (`poll_segment`).
use super::assembler::Assembler;
use super::buffer::RingBuffer;
use super::cc::{CongestionControl, CongestionKind, Controller};
use super::rcvbuf::RcvTuner;
use super::rtt::RttEstimator;
use super::rtx_queue::{Delivered, RtxQueue};
use super::seq::Seq;
use super::sndbuf;
use super::TcpState;
use crate::config::{Keepalive, MtuProbing, TcpConfig, MAX_SOCKET_BUFFER};
use crate::counters::{DropReason, TcpCounters};
use crate::time::{Duration, Instant};
use std::io;
use std::net::SocketAddr;
use ustack_wire::tcp::{TcpFlags, TcpOptions, TcpRepr};

mod mtu_probe;
mod time_wait;
use mtu_probe::{MtuSearch, ProbePlan};
pub(crate) use time_wait::TimeWait;

/// Bytes of a timestamps option as sent (NOP NOP TS).
const TS_OPTION_LEN: usize = 12;
/// RFC 9293 §3.7.1: default send MSS when the peer sends no MSS option.
const DEFAULT_MSS: u16 = 536;
/// Floor for a peer-announced MSS (Linux TCP_MIN_MSS).
const MIN_MSS: u16 = 88;
/// The smallest path MTU believed from an ICMP "fragmentation needed"
/// (Linux's `ip_rt_min_pmtu`). A smaller report sets the path MTU to this
/// and clears DF, so a router on a smaller link fragments instead.
pub(crate) const MIN_PMTU: usize = 552;
/// IPv6's minimum link MTU (RFC 8200 §5): a Packet Too Big below it is
/// raised to it (RFC 8201 §4), and DF has no meaning in IPv6.
pub(crate) const MIN_PMTU_V6: usize = 1280;
/// Consecutive timeouts that suggest a Path MTU black hole (Linux's
/// tcp_retries1, RFC 1122 §4.2.3.5's R1).
const BLACK_HOLE_TIMEOUTS: u32 = 3;
/// The MSS a suspected black hole first falls to (Linux's tcp_base_mss).
const BASE_MSS: usize = 1024;

/// IP and TCP headers without options in front of a segment's data: 40
/// bytes over IPv4, 60 over IPv6 (RFC 8200 §3).
pub(crate) fn tcp_ip_headers(addr: &SocketAddr) -> usize {
    if addr.is_ipv6() {
        60
    } else {
        40
    }
}
/// RFC 7323 §2.3: shift counts above 14 are treated as 14.
const MAX_WSCALE: u8 = 14;
/// Buffers up to this size are freed as soon as they drain.
const SMALL_BUFFER: usize = 4096;
/// How long larger empty buffers stay allocated before being freed.
const BUFFER_IDLE: Duration = Duration::from_secs(2);
/// Memory charged per spilled out-of-order segment beyond its bytes.
const SPILL_OVERHEAD: usize = 64;
/// Spilled out-of-order segments kept at most per connection.
const MAX_SPILL_SEGMENTS: usize = 4096;
/// PAWS tolerance in timestamp ticks (Linux's TCP_PAWS_WINDOW).
const PAWS_WINDOW: i32 = 1;
/// Bytes received below which no sequence number can have wrapped, so
/// PAWS need not drop new data (half the sequence space)...
const PAWS_UNWRAPPED_BYTES: u64 = 1 << 31;
/// ... as long as its TSval is at most this many ticks behind TS.Recent:
/// a segment reordered behind a retransmission trails it by less than its
/// extra delay in the network (100 ms at Linux's and ustack's 1 ms tick).
const PAWS_REORDER_TICKS: u32 = 100;
/// In-order segments ACKed at once after out-of-order data (Linux's
/// TCP_MAX_QUICKACKS).
const QUICKACKS: u8 = 16;
/// Longest interval between zero-window probes.
const PERSIST_MAX: Duration = Duration::from_secs(60);

/// What the stack must do after a segment was processed, besides polling
/// the connection for output.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Outcome {
    Ok,
    /// The segment was dropped for this reason (an ACK may still be due).
    Drop(DropReason),
    /// Answer with a RST outside the connection's stream:
    /// `<SEQ=seq><CTL=RST>` (RFC 9293 §3.10.7.3/§3.10.7.4 bad ACKs).
    ResetReply {
        seq: Seq,
    },
    /// A passive open completed (SYN-RECEIVED → ESTABLISHED).
    Established,
    /// RFC 5961 challenge ACK due (segment dropped): the stack sends it
    /// unless the stack-wide challenge-ACK budget (§7) is spent.
    Challenge,
}

/// RACK state (RFC 8985 §6.1): the most recently sent segment that was
/// delivered, its RTT, the minimum RTT, and whether reordering was seen.
#[derive(Debug, Clone, Copy, Default)]
struct Rack {
    xmit_ts: Option<Instant>,
    end: Seq,
    rtt: Duration,
    min_rtt: Option<Duration>,
    reordering: bool,
}

impl Rack {
    /// RFC 8985 §6.2 steps 1-2 for one delivered segment.
    fn update(&mut self, d: Delivered, now: Instant) {
        let rtt = now.saturating_since(d.sent_at);
        if d.xmits > 1 && self.min_rtt.is_some_and(|m| rtt < m) {
            // Step 2: an ACK that may be for the original transmission of
            // a retransmitted segment says nothing.
            return;
        }
        self.min_rtt = Some(self.min_rtt.map_or(rtt, |m| m.min(rtt)));
        let newer = match self.xmit_ts {
            None => true,
            Some(ts) => d.sent_at > ts || (d.sent_at == ts && d.end.gt(self.end)),
        };
        if newer {
            self.xmit_ts = Some(d.sent_at);
            self.end = d.end;
            self.rtt = rtt;
        } else if d.end.lt(self.end) && d.xmits == 1 {
            // §6.2 step 3: delivered out of order: reordering observed.
            self.reordering = true;
        }
    }
}

/// Options recovered from a SYN cookie.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct CookieOptions {
    pub mss: u16,
    pub window_scale: Option<u8>,
    pub sack: bool,
    pub timestamps: bool,
}

/// Parameters fixed when the connection is created.
pub(crate) struct ConnParams<'a> {
    pub cfg: &'a TcpConfig,
    /// The socket options the connection starts with: the configuration's,
    /// or its listener's (which it inherits, as on Linux).
    pub opts: ConnOpts,
    pub local: SocketAddr,
    pub remote: SocketAddr,
    pub iss: u32,
    /// Offset added to our millisecond clock for TSval (RFC 7323 §5.4).
    pub ts_offset: u32,
    pub mtu: usize,
    /// What Path MTU discovery knows of the route to `remote`.
    pub path: PathMtu,
    pub now: Instant,
}

/// What header prediction (`Tcb::predict`) makes of a segment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Prediction {
    /// The general segment-arrival steps.
    No,
    /// The next in-order data of a pure receiver.
    Data,
    /// A pure ACK of new data for a pure sender.
    Ack,
}

/// Socket options a connection starts with and a listener passes on to
/// the connections it accepts (Linux copies SO_SNDBUF, SO_RCVBUF,
/// TCP_NODELAY, TCP_CONGESTION, SO_KEEPALIVE with its timers, IP_TTL,
/// IP_TOS, SO_LINGER and TCP_USER_TIMEOUT from the listening socket).
/// The receive buffer matters before the handshake: it sets the window
/// scale offered in the SYN or SYN-ACK (RFC 7323 §2.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ConnOpts {
    pub send_buffer: usize,
    /// What send-buffer auto-tuning may grow `send_buffer` to; 0 when the
    /// buffer is fixed (auto-tuning off, or SO_SNDBUF set).
    pub send_buffer_max: usize,
    pub recv_buffer: usize,
    /// What receive-buffer auto-tuning may grow `recv_buffer` to; 0 when
    /// the buffer is fixed (auto-tuning off, or SO_RCVBUF set).
    pub recv_buffer_max: usize,
    pub nodelay: bool,
    pub keepalive: Option<Keepalive>,
    pub congestion: CongestionKind,
    /// IP_TTL of every packet the connection sends (RFC 1122 §3.2.1.7:
    /// settable by the transport layer).
    pub ttl: u8,
    /// IP_TOS: the DSCP of every packet it sends (RFC 9293 §3.9.1.9,
    /// MUST-48: the application can set the Differentiated Services
    /// field); the ECN bits stay clear (they are TCP's, RFC 3168).
    pub tos: u8,
    /// SO_LINGER: None off (close is graceful and returns at once); zero:
    /// close aborts (RFC 9293 §3.10.5 ABORT); else how long a blocking
    /// close waits for the FIN's acknowledgment (the caller waits: the
    /// stack never blocks).
    pub linger: Option<Duration>,
    /// TCP_USER_TIMEOUT (RFC 9293 §3.10.8 USER TIMEOUT, RFC 5482), in
    /// milliseconds as Linux keeps it; 0: off.
    pub user_timeout_ms: u32,
}

impl ConnOpts {
    /// The stack's defaults: its TCP configuration and IP TTL.
    pub fn from_config(cfg: &TcpConfig, ttl: u8) -> ConnOpts {
        ConnOpts {
            send_buffer: cfg.send_buffer.max(1),
            send_buffer_max: if cfg.send_buffer_auto {
                cfg.send_buffer_max.max(cfg.send_buffer).max(1)
            } else {
                0
            },
            recv_buffer: cfg.recv_buffer.max(1),
            recv_buffer_max: if cfg.recv_buffer_auto {
                cfg.recv_buffer_max.max(cfg.recv_buffer).max(1)
            } else {
                0
            },
            nodelay: cfg.nodelay,
            keepalive: cfg.keepalive,
            congestion: cfg.congestion,
            ttl: ttl.max(1),
            tos: 0,
            linger: None,
            user_timeout_ms: 0,
        }
    }

    /// The buffer size the window scale is chosen for (RFC 7323 §2.2: the
    /// shift is fixed at the handshake): the most the buffer may become.
    pub fn wscale_basis(&self) -> usize {
        self.recv_buffer.max(self.recv_buffer_max)
    }
}

/// TCP_USER_TIMEOUT as Linux keeps it: whole milliseconds (a part of
/// one counts as one), 0 for off.
pub(crate) fn user_timeout_ms(t: Option<Duration>) -> u32 {
    t.map_or(0, |t| {
        let ms = t.as_micros().div_ceil(1000);
        u32::try_from(ms).unwrap_or(u32::MAX)
    })
}

/// Path MTU discovery's estimate for a destination (RFC 1191): the
/// largest datagram believed to cross the path, and whether to set DF.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct PathMtu {
    /// An IPv4 datagram is at most 65 535 bytes.
    mtu: u16,
    pub df: bool,
}

impl PathMtu {
    pub fn new(mtu: usize, df: bool) -> PathMtu {
        PathMtu {
            mtu: u16::try_from(mtu).unwrap_or(u16::MAX),
            df,
        }
    }
    /// Nothing learnt yet: the interface MTU, DF set (RFC 1191 §3).
    pub fn link(mtu: usize) -> PathMtu {
        PathMtu::new(mtu, true)
    }
    pub fn mtu(&self) -> usize {
        usize::from(self.mtu)
    }
}

/// The transmission control block.
pub(crate) struct Tcb {
    pub state: TcpState,
    pub local: SocketAddr,
    pub remote: SocketAddr,
    /// True for connections created by a listener (passive open).
    pub passive: bool,

    // ---- send sequence space (RFC 9293 §3.3.1) ----
    iss: Seq,
    snd_una: Seq,
    snd_nxt: Seq,
    /// Highest sequence number sent + 1 (snd_nxt rewinds on RTO).
    snd_max: Seq,
    snd_wnd: u32,
    snd_wl1: Seq,
    snd_wl2: Seq,
    max_snd_wnd: u32,
    /// Peer's window shift (applied to windows it sends us).
    snd_wscale: u8,
    tx: RingBuffer,
    /// What send-buffer auto-tuning may grow `tx` to (see `sndbuf`); 0
    /// when the size is fixed.
    snd_buf_max: u32,
    /// A write found the send buffer full and the writer has not been
    /// given room since (Linux's SOCK_NOSPACE): what lets the buffer grow.
    snd_nospace: bool,
    /// The application shut down writing: FIN goes after the queued data.
    fin_queued: bool,
    /// Sequence number of our FIN once its position is fixed.
    fin_seq: Option<Seq>,

    // ---- receive sequence space ----
    irs: Seq,
    rcv_nxt: Seq,
    /// Right edge of the window we last advertised (never moves left).
    rcv_adv: Seq,
    /// Our window shift.
    rcv_wscale: u8,
    rx: RingBuffer,
    /// Receive-buffer auto-tuning (see `rcvbuf`).
    rcv_tune: RcvTuner,
    ooo: Assembler,
    /// Out-of-order segments beyond the receive ring's reach (see
    /// `receive_data`), with their first sequence number; and the memory
    /// they are charged (bytes plus a per-segment overhead).
    spill: Vec<(Seq, Vec<u8>)>,
    spill_bytes: usize,
    /// Sequence number of the peer's FIN, once seen (possibly out of order).
    remote_fin: Option<Seq>,
    fin_received: bool,
    rd_shut: bool,
    /// Largest segment payload received (receiver MSS estimate).
    rcv_mss: usize,
    /// Bytes received in order since we last sent an ACK.
    unacked_bytes: usize,

    // ---- options ----
    /// The interface MTU less the IP and TCP headers: the MSS we offer
    /// (RFC 9293 §3.7.1) and the largest segment the link carries.
    link_mss: usize,
    /// The send direction's path MTU (≤ `mtu`) and DF (RFC 1191).
    path: PathMtu,
    peer_mss: u16,
    /// Payload bytes per full-sized segment we send.
    smss: usize,
    ts_enabled: bool,
    ts_offset: u32,
    ts_recent: u32,
    /// When TS.Recent was last updated.
    ts_recent_age: Instant,
    /// rcv_nxt carried by the last ACK we sent (RFC 7323 Last.ACK.sent).
    last_ack_sent: Seq,
    sack_permitted: bool,
    peer_offered_ws: bool,
    offer_wscale: bool,
    offer_ts: bool,
    offer_sack: bool,

    // ---- timers ----
    rtx_deadline: Option<Instant>,
    persist_deadline: Option<Instant>,
    persist_backoff: u32,
    /// Zero-window or keepalive probes sent since the peer last sent
    /// anything (Linux's `icsk_probes_out`, shared by both).
    probes_unanswered: u32,
    /// SO_KEEPALIVE (RFC 9293 §3.8.4); None: off.
    keepalive: Option<Keepalive>,
    /// When to look at the connection's idleness again (lazy: a segment
    /// only updates `last_heard`, the timer re-arms itself when it finds
    /// the peer was heard since).
    keepalive_deadline: Option<Instant>,
    /// When the last segment from the peer arrived.
    last_heard: Instant,
    /// RFC 5961 §7 challenge ACKs, per connection: the current one-second
    /// window and how many were sent in it.
    challenge_window: Instant,
    challenge_count: u32,
    delack_deadline: Option<Instant>,
    timewait_deadline: Option<Instant>,
    finwait2_deadline: Option<Instant>,
    rtt: RttEstimator,
    /// Karn-safe timed segment: (sequence that must be acked, send time).
    rtt_sample: Option<(Seq, Instant)>,
    /// TSval at the last RTO: echoes older than this are ambiguous (Karn's
    /// rule applied to timestamps) and give no RTT sample.
    ts_rto_floor: Option<u32>,
    /// (cwnd, ssthresh) before the last RTO, kept until the first ACK
    /// after it tells whether the timeout was spurious (RFC 3522/4015).
    /// Also the TSval of the first retransmission (Eifel's reference).
    rto_undo: Option<(u32, u32, u32)>,
    /// (cwnd, ssthresh) before the current/last fast recovery, and its
    /// retransmissions not yet D-SACKed (undo when it reaches 0).
    recovery_undo: Option<(u32, u32)>,
    undo_retrans: u32,
    /// SND.UNA when that recovery began: only D-SACKs of data above it
    /// can show one of its retransmissions needless (RFC 2883 §4).
    undo_marker: Seq,
    /// TSval of the first retransmission of the current fast recovery
    /// (RFC 3522's reference for detecting a spurious one).
    recovery_rtx_tsval: Option<u32>,
    /// RFC 9406 §4.2 round tracking (windowEnd): a round ends when an ACK
    /// covers what had been sent when it began.
    round_end: Option<Seq>,
    /// RFC 8985 §6.2.4 reordering window multiplier and its persistence.
    reo_wnd_mult: u32,
    reo_wnd_persist: u32,
    retries: u32,
    syn_sent_at: Option<Instant>,

    // ---- congestion control and loss recovery ----
    cc: Controller,
    dupacks: u32,
    in_recovery: bool,
    /// RFC 6582 `recover` (stored as one past the highest byte sent).
    recover: Seq,
    /// Segments in flight: the SACK scoreboard and loss marks.
    rtxq: RtxQueue,
    /// RACK state (RFC 8985 §6.1).
    rack: Rack,
    rack_deadline: Option<Instant>,
    /// Tail loss probe (RFC 8985 §7).
    tlp_deadline: Option<Instant>,
    /// When to give idle buffer memory back.
    shrink_deadline: Option<Instant>,
    /// Bytes of the segment being processed that `prefill_in_order`
    /// already placed right after the readable data (0: none).
    prefilled: usize,
    tlp_outstanding: bool,
    tlp_fire: bool,
    /// PRR (RFC 6937 §3): data delivered and sent during recovery, the
    /// flight at its start, and what may be sent now.
    prr_delivered: u32,
    prr_out: u32,
    recover_fs: u32,
    prr_allow: u32,
    cfg_rack: bool,
    cfg_tlp: bool,
    /// `TcpConfig::header_prediction`.
    cfg_predict: bool,
    force_send: bool,
    /// Congestion-window validation (Linux's `tcp_cwnd_validate`): the
    /// flight filled cwnd at some send in the current window of data,
    /// the largest flight in it, and the sequence number that ends it.
    cwnd_limited: bool,
    max_flight: u32,
    cwnd_usage_end: Seq,
    /// RFC 2861 §3 (Linux's `snd_cwnd_used`, `snd_cwnd_stamp`): the
    /// largest flight since cwnd was last full or decayed, and when; and
    /// an RTO after that, once a send has left cwnd unfilled.
    cwnd_used: u32,
    cwnd_stamp: Instant,
    cwnd_check_at: Option<Instant>,
    /// When data was last sent, and `TcpConfig::slow_start_after_idle`
    /// (RFC 5681 §4.1).
    last_data_sent: Instant,
    cfg_ss_after_idle: bool,

    // ---- output flags ----
    ack_now: bool,
    /// Further duplicate ACKs owed: RFC 5681 §4.2 wants one per
    /// out-of-order segment even when several arrive between two polls.
    extra_acks: u8,
    /// In-order segments still to be ACKed at once (quick-ACK mode after
    /// out-of-order data, as Linux's receiver: TCP_MAX_QUICKACKS = 16).
    quickacks: u8,
    /// The last in-order segment looked like the end of a write (PSH, or
    /// shorter than a full segment): when the application then drains the
    /// receive buffer, a pending delayed ACK goes at once (Linux's
    /// `ICSK_ACK_PUSHED` in `tcp_cleanup_rbuf`).
    ack_pushed: bool,
    /// Interactive ("ping-pong") use: we sent data within the delayed-ACK
    /// time of receiving some, so the ACK of the next request can ride on
    /// the reply and a drained buffer does not force it out. Left when a
    /// delayed ACK has to fire (Linux's pingpong mode).
    pingpong: bool,
    /// When in-order data (or the handshake's last segment) last arrived,
    /// for `pingpong`.
    last_data_in: Instant,
    /// RFC 2883 D-SACK block to report in the next ACK.
    dsack: Option<(Seq, Seq)>,
    /// A sequence number inside the most recently received out-of-order
    /// segment (RFC 2018 §4: its block is reported first).
    last_ooo: Option<Seq>,
    rst_pending: bool,
    probe_pending: bool,
    keepalive_probe_pending: bool,

    // ---- application ----
    pub nodelay: bool,
    /// IP_TTL of the packets it sends.
    pub ttl: u8,
    /// IP_TOS (see `ConnOpts::tos`).
    pub tos: u8,
    /// The IPv6 flow label of its packets (RFC 6437; 0 for IPv4, or with
    /// `Config::ipv6_flow_labels` off). The stack sets it when the
    /// connection is made; a retransmission timeout moves it to another.
    pub flow_label: u32,
    /// SO_LINGER (see `ConnOpts::linger`).
    pub linger: Option<Duration>,
    /// TCP_USER_TIMEOUT in milliseconds (0: off; see `set_user_timeout`).
    user_timeout_ms: u32,
    /// RFC 9293 §3.8.5 urgent pointers: RCV.UP, the sequence number after
    /// the peer's urgent data (None once read past), and SND.UP, after
    /// ours (None once acknowledged).
    rcv_up: Option<Seq>,
    snd_up: Option<Seq>,
    /// When the sender's current stall began: the (last) transmission of
    /// the oldest unacknowledged segment at the first RTO since progress
    /// (valid while `retries` > 0), and the first probe of the current
    /// zero window (valid while `persist_backoff` > 0).
    rto_since: Instant,
    zero_window_since: Instant,
    /// The application released its handle.
    pub orphaned: bool,
    /// Set by the stack when total buffer memory is at its limit: data that
    /// would grow a buffer is dropped.
    pub memory_pressure: bool,
    error: Option<io::ErrorKind>,
    /// ICMP soft error, reported if the connection later times out.
    soft_error: Option<io::ErrorKind>,
    /// Drop reason noted while processing the current segment.
    pending_drop: Option<DropReason>,
    /// An error was reported; later calls see a closed stream.
    error_reported: bool,
    pub counters: TcpCounters,
    cfg_syn_retries: u32,
    cfg_max_retries: u32,
    /// `TcpConfig::mtu_probing`.
    cfg_mtu_probing: MtuProbing,
    /// Packetization-layer PMTUD's search (RFC 4821 §7), once begun.
    mtu_search: Option<Box<MtuSearch>>,
    cfg_msl: Duration,
    cfg_delayed_ack: Duration,
    cfg_fin_timeout: Duration,
}

/// Another 20-bit flow label after `label`: never 0, never `label`.
pub(crate) fn next_flow_label(label: u32) -> u32 {
    const MASK: u32 = 0xF_FFFF;
    // A bijection of the 20-bit values (odd multiplier, xor-shift, add).
    let mut x = (label & MASK).wrapping_mul(0x9_E3B5) & MASK;
    x ^= x >> 11;
    x = x.wrapping_add(0x5_A5A5) & MASK;
    if x == 0 || x == label {
        x = label % MASK + 1;
    }
    x
}

pub(crate) fn wscale_for(buffer: usize) -> u8 {
    let mut s = 0u8;
    while s < MAX_WSCALE && (buffer >> s) > 65535 {
        s += 1;
    }
    s
}

impl Tcb {
    fn new(p: &ConnParams<'_>, state: TcpState) -> Tcb {
        let cfg = p.cfg;
        let iss = Seq(p.iss);
        let smss = (p.mtu.saturating_sub(tcp_ip_headers(&p.local))).max(MIN_MSS as usize);
        let mut t = Tcb {
            state,
            local: p.local,
            remote: p.remote,
            passive: false,
            iss,
            snd_una: iss,
            snd_nxt: iss,
            snd_max: iss,
            snd_wnd: 0,
            snd_wl1: Seq(0),
            snd_wl2: iss,
            max_snd_wnd: 0,
            snd_wscale: 0,
            tx: RingBuffer::new(p.opts.send_buffer),
            snd_buf_max: u32::try_from(p.opts.send_buffer_max).unwrap_or(u32::MAX),
            snd_nospace: false,
            fin_queued: false,
            fin_seq: None,
            irs: Seq(0),
            rcv_nxt: Seq(0),
            rcv_adv: Seq(0),
            rcv_wscale: 0,
            rx: RingBuffer::new(p.opts.recv_buffer),
            rcv_tune: RcvTuner::new(p.opts.recv_buffer_max),
            ooo: Assembler::new(cfg.max_ooo_ranges.max(1)),
            spill: Vec::new(),
            spill_bytes: 0,
            remote_fin: None,
            fin_received: false,
            rd_shut: false,
            rcv_mss: DEFAULT_MSS as usize,
            unacked_bytes: 0,
            link_mss: p.mtu.saturating_sub(tcp_ip_headers(&p.local)),
            path: PathMtu::new(p.path.mtu().min(p.mtu), p.path.df),
            peer_mss: DEFAULT_MSS,
            smss,
            ts_enabled: false,
            ts_offset: p.ts_offset,
            ts_recent: 0,
            ts_recent_age: Instant::ZERO,
            last_ack_sent: Seq(0),
            sack_permitted: false,
            peer_offered_ws: false,
            offer_wscale: cfg.window_scaling,
            offer_ts: cfg.timestamps,
            offer_sack: cfg.sack,
            rtx_deadline: None,
            persist_deadline: None,
            persist_backoff: 0,
            probes_unanswered: 0,
            keepalive: p.opts.keepalive,
            keepalive_deadline: None,
            last_heard: p.now,
            challenge_window: Instant::ZERO,
            challenge_count: 0,
            delack_deadline: None,
            timewait_deadline: None,
            finwait2_deadline: None,
            rtt: RttEstimator::new(cfg.rto_initial, cfg.rto_min, cfg.rto_max),
            rtt_sample: None,
            ts_rto_floor: None,
            rto_undo: None,
            recovery_undo: None,
            undo_retrans: 0,
            undo_marker: Seq(0),
            recovery_rtx_tsval: None,
            round_end: None,
            reo_wnd_mult: 1,
            reo_wnd_persist: 0,
            retries: 0,
            syn_sent_at: None,
            cc: Controller::new(
                p.opts.congestion,
                smss as u32,
                cfg.initial_window,
                cfg.hystart,
                cfg.hystart_ack_train,
            ),
            dupacks: 0,
            in_recovery: false,
            recover: iss,
            rtxq: RtxQueue::default(),
            rack: Rack::default(),
            rack_deadline: None,
            tlp_deadline: None,
            shrink_deadline: None,
            prefilled: 0,
            tlp_outstanding: false,
            tlp_fire: false,
            prr_delivered: 0,
            prr_out: 0,
            recover_fs: 0,
            prr_allow: 0,
            cfg_rack: cfg.rack,
            cfg_tlp: cfg.tlp,
            cfg_predict: cfg.header_prediction,
            force_send: false,
            cwnd_limited: false,
            max_flight: 0,
            cwnd_usage_end: iss,
            cwnd_used: 0,
            cwnd_stamp: p.now,
            cwnd_check_at: None,
            last_data_sent: p.now,
            cfg_ss_after_idle: cfg.slow_start_after_idle,
            ack_now: false,
            extra_acks: 0,
            quickacks: 0,
            ack_pushed: false,
            pingpong: false,
            last_data_in: Instant::ZERO,
            dsack: None,
            last_ooo: None,
            rst_pending: false,
            probe_pending: false,
            keepalive_probe_pending: false,
            nodelay: p.opts.nodelay,
            ttl: p.opts.ttl,
            tos: p.opts.tos,
            flow_label: 0,
            linger: p.opts.linger,
            user_timeout_ms: p.opts.user_timeout_ms,
            rcv_up: None,
            snd_up: None,
            rto_since: Instant::ZERO,
            zero_window_since: Instant::ZERO,
            orphaned: false,
            memory_pressure: false,
            error: None,
            soft_error: None,
            pending_drop: None,
            error_reported: false,
            counters: TcpCounters::default(),
            cfg_syn_retries: cfg.syn_retries,
            cfg_max_retries: cfg.max_retries,
            cfg_mtu_probing: cfg.mtu_probing,
            mtu_search: None,
            cfg_msl: cfg.msl,
            cfg_delayed_ack: cfg.delayed_ack,
            cfg_fin_timeout: cfg.fin_timeout,
        };
        // The send buffer bounds the flight (CUBIC's slow-start exit).
        let bytes = t.send_buffer_ceiling();
        t.cc.set_send_buffer(bytes);
        t
    }

    /// Active open (RFC 9293 §3.10.1): SYN-SENT, SYN queued for sending.
    pub fn new_active(p: &ConnParams<'_>) -> Tcb {
        let mut t = Tcb::new(p, TcpState::SynSent);
        tracing::debug!(local = %p.local, remote = %p.remote, from = %TcpState::Closed, to = %TcpState::SynSent, "tcp state");
        if t.offer_wscale {
            t.rcv_wscale = wscale_for(p.opts.wscale_basis());
        }
        t
    }

    /// Passive open from a listener that received `syn`
    /// (RFC 9293 §3.10.7.2): SYN-RECEIVED, SYN-ACK queued for sending.
    pub fn new_passive(p: &ConnParams<'_>, syn: &TcpRepr<'_>) -> Tcb {
        let mut t = Tcb::new(p, TcpState::SynReceived);
        tracing::debug!(local = %p.local, remote = %p.remote, from = %TcpState::Listen, to = %TcpState::SynReceived, "tcp state");
        t.passive = true;
        t.accept_syn(p.now, syn);
        t
    }

    /// A connection validated by a SYN cookie (RFC 4987 §3.6): the ACK
    /// `seg` completes a handshake whose SYN-ACK we sent without state.
    /// `iss` (in `p`) is SEG.ACK - 1; the options come from the cookie.
    pub fn new_from_cookie(p: &ConnParams<'_>, seg: &TcpRepr<'_>, c: CookieOptions) -> Tcb {
        let mut t = Tcb::new(p, TcpState::Established);
        t.arm_keepalive(p.now);
        tracing::debug!(local = %p.local, remote = %p.remote, from = %TcpState::Listen, to = %TcpState::Established, "tcp state");
        t.passive = true;
        t.irs = Seq(seg.seq.wrapping_sub(1));
        t.rcv_nxt = t.irs + 1u32;
        t.last_ack_sent = t.rcv_nxt;
        t.peer_mss = c.mss.max(MIN_MSS);
        t.peer_offered_ws = c.window_scale.is_some();
        match c.window_scale {
            Some(ws) if t.offer_wscale => {
                t.snd_wscale = ws.min(MAX_WSCALE);
                t.rcv_wscale = wscale_for(t.rcv_wscale_basis());
            }
            _ => {
                t.snd_wscale = 0;
                t.rcv_wscale = 0;
            }
        }
        // The SYN-ACK advertised an unscaled window of at most 64 KiB.
        t.rcv_adv = t.rcv_nxt + (t.rx.capacity().min(65535) as u32);
        if let (Some((tsval, _)), true) = (seg.options.timestamp, c.timestamps && t.offer_ts) {
            t.ts_enabled = true;
            t.ts_recent = tsval;
            t.ts_recent_age = p.now;
        }
        t.sack_permitted = c.sack && t.offer_sack;
        t.snd_una = t.iss + 1u32;
        t.snd_nxt = t.snd_una;
        t.snd_max = t.snd_una;
        t.snd_wnd = u32::from(seg.window) << t.snd_wscale;
        t.max_snd_wnd = t.snd_wnd;
        t.snd_wl1 = Seq(seg.seq);
        t.snd_wl2 = Seq(seg.ack);
        t.update_smss();
        t.mtu_probing_start();
        t.start_rcv_tuning(p.now);
        t.expand_send_buffer();
        t
    }

    /// RFC 5961 §7: a challenge ACK, at most `limit` per second for this
    /// connection. A per-connection budget (as Linux's per-socket limit)
    /// does not leak, as a stack-wide one would, whether another
    /// connection was hit (CVE-2016-5696). Returns whether it was sent.
    pub fn challenge_ack(&mut self, now: Instant, limit: u32) -> bool {
        if now.saturating_since(self.challenge_window) >= Duration::from_secs(1) {
            self.challenge_window = now;
            self.challenge_count = 0;
        }
        if limit > 0 && self.challenge_count >= limit {
            return false;
        }
        self.challenge_count += 1;
        self.ack_now = true;
        true
    }

    /// Records the peer's SYN: IRS, RCV.NXT and option negotiation.
    fn accept_syn(&mut self, now: Instant, syn: &TcpRepr<'_>) {
        self.irs = Seq(syn.seq);
        self.rcv_nxt = self.irs + 1u32;
        self.rcv_adv = self.rcv_nxt;
        self.last_ack_sent = self.rcv_nxt;
        let o = &syn.options;
        // RFC 9293 §3.7.1 / RFC 6691: send MSS from the peer's option.
        self.peer_mss = o.mss.unwrap_or(DEFAULT_MSS).max(MIN_MSS);
        // RFC 7323 §2.2: scaling only if both sides sent the option.
        self.peer_offered_ws = o.window_scale.is_some();
        match o.window_scale {
            Some(ws) if self.offer_wscale => {
                self.snd_wscale = ws.min(MAX_WSCALE);
                self.rcv_wscale = wscale_for(self.rcv_wscale_basis());
            }
            _ => {
                self.snd_wscale = 0;
                self.rcv_wscale = 0;
            }
        }
        // RFC 7323 §3.2: timestamps only if both sides sent them.
        if let (Some((tsval, _)), true) = (o.timestamp, self.offer_ts) {
            self.ts_enabled = true;
            self.ts_recent = tsval;
            self.ts_recent_age = now;
        } else {
            self.ts_enabled = false;
        }
        self.sack_permitted = o.sack_permitted && self.offer_sack;
        // RFC 7323 §2.2: the window in a SYN is never scaled.
        self.snd_wnd = u32::from(syn.window);
        self.max_snd_wnd = self.snd_wnd;
        self.snd_wl1 = self.irs;
        self.update_smss();
    }

    fn update_smss(&mut self) {
        let mut mss = usize::from(self.peer_mss)
            .min(self.path.mtu().saturating_sub(tcp_ip_headers(&self.local)));
        if self.ts_enabled {
            mss = mss.saturating_sub(TS_OPTION_LEN);
        }
        self.smss = mss.max(1);
        self.cc.set_mss(self.smss as u32);
    }

    // ------------------------------------------------------------------
    // Introspection
    // ------------------------------------------------------------------

    pub fn smss(&self) -> usize {
        self.smss
    }
    /// The path MTU our segments are cut to, and whether they carry DF
    /// (Path MTU discovery, RFC 1191).
    pub fn path(&self) -> PathMtu {
        self.path
    }
    /// The largest IP packet `poll_segment` may write: the path MTU, or
    /// while Packetization-layer PMTUD searches (RFC 4821 §7), the largest
    /// size it may probe.
    #[inline]
    pub fn out_mtu(&self) -> usize {
        match &self.mtu_search {
            None => self.path.mtu(),
            Some(s) => self.path.mtu().max(s.high()),
        }
    }
    pub fn cwnd(&self) -> u32 {
        self.cc.cwnd()
    }
    pub fn ssthresh(&self) -> u32 {
        self.cc.ssthresh()
    }
    pub fn rtt(&self) -> &RttEstimator {
        &self.rtt
    }
    pub fn snd_wnd(&self) -> u32 {
        self.snd_wnd
    }
    pub fn rcv_wnd(&self) -> u32 {
        self.rcv_adv.since(self.rcv_nxt)
    }
    pub fn bytes_in_flight(&self) -> u32 {
        self.snd_max.since(self.snd_una)
    }
    pub fn in_recovery(&self) -> bool {
        self.in_recovery
    }
    /// Unsent or unacknowledged data, SYN or FIN (closing connections with
    /// nothing left to deliver do not count).
    pub fn has_data_to_deliver(&self) -> bool {
        !matches!(
            self.state,
            TcpState::Closed | TcpState::TimeWait | TcpState::Listen
        ) && (self.snd_una != self.snd_max
            || !self.tx.is_empty()
            || (self.fin_queued && self.fin_seq.is_none()))
    }

    /// Whether queuing `n` more bytes would grow the send buffer.
    pub fn send_needs_memory(&self, n: usize) -> bool {
        self.tx.len() + n.min(self.tx.free()) > self.tx.allocated()
    }

    pub fn send_capacity(&self) -> usize {
        if self.fin_queued {
            0
        } else {
            self.tx.free()
        }
    }
    pub fn recv_available(&self) -> usize {
        self.rx.len()
    }

    /// The sequence number of the next byte the application reads.
    fn read_seq(&self) -> Seq {
        self.rcv_nxt - (self.rx.len() as u32 + u32::from(self.fin_received))
    }

    #[cold]
    fn on_urgent(&mut self, up: Seq) {
        if self.rcv_up.is_none_or(|u| u.lt(up)) && self.read_seq().lt(up) {
            self.rcv_up = Some(up);
        }
    }

    /// Urgent data not yet read (RFC 9293 §3.8.5 MUST-33): the bytes
    /// from the next one to read up to the peer's urgent pointer, some
    /// perhaps still on their way; 0 when none.
    pub fn urgent_pending(&self) -> usize {
        match self.rcv_up {
            Some(up) if self.read_seq().lt(up) => up.since(self.read_seq()) as usize,
            _ => 0,
        }
    }

    /// After a send() with MSG_OOB: what is queued up to here is urgent
    /// (RFC 9293 §3.8.5): the segments before its end carry URG, the
    /// urgent pointer after its last byte (MUST-30), and Nagle does not
    /// hold them (Linux).
    pub fn mark_urgent_sent(&mut self) {
        self.snd_up = Some(self.tx_base() + self.tx.len());
    }
    /// Memory held by buffers.
    pub fn buffer_bytes(&self) -> usize {
        self.tx.allocated() + self.rx.allocated() + self.spill_bytes
    }
    /// When TIME-WAIT ends (None outside TIME-WAIT).
    pub fn time_wait_expiry(&self) -> Option<Instant> {
        self.timewait_deadline
    }
    pub fn is_closed(&self) -> bool {
        self.state == TcpState::Closed
    }

    /// Earliest armed timer (including the idle-buffer release).
    pub fn next_deadline(&self) -> Option<Instant> {
        // This runs several times per segment: a branch-free min over the
        // times, an unarmed timer counting as u64::MAX.
        #[inline(always)]
        fn t(d: Option<Instant>) -> u64 {
            d.map_or(u64::MAX, Instant::total_micros)
        }
        let m = t(self.rtx_deadline)
            .min(t(self.persist_deadline))
            .min(t(self.delack_deadline))
            .min(t(self.timewait_deadline))
            .min(t(self.finwait2_deadline))
            .min(t(self.rack_deadline))
            .min(t(self.tlp_deadline))
            .min(t(self.shrink_deadline))
            .min(t(self.keepalive_deadline));
        if m != u64::MAX {
            return Some(Instant::from_micros(m));
        }
        // Nothing armed, or only timers at the end of time.
        [
            self.rtx_deadline,
            self.persist_deadline,
            self.delack_deadline,
            self.timewait_deadline,
            self.finwait2_deadline,
            self.rack_deadline,
            self.tlp_deadline,
            self.shrink_deadline,
            self.keepalive_deadline,
        ]
        .into_iter()
        .flatten()
        .min()
    }

    /// Buffers are kept while a connection is busy (freeing and regrowing
    /// them per drain costs more than the data path); once both have been
    /// empty for `BUFFER_IDLE`, their memory is given back.
    fn arm_buffer_shrink(&mut self, now: Instant) {
        if self.shrink_deadline.is_none()
            && ((self.tx.is_empty() && self.tx.allocated() > 0)
                || (self.rx.is_empty() && self.ooo.is_empty() && self.rx.allocated() > 0))
        {
            self.shrink_deadline = Some(now + BUFFER_IDLE);
        }
    }

    fn set_state(&mut self, new: TcpState) {
        if self.state != new {
            tracing::debug!(local = %self.local, remote = %self.remote, from = %self.state, to = %new, "tcp state");
            self.state = new;
        }
    }

    /// Enters CLOSED, dropping all timers.
    fn close_now(&mut self, error: Option<io::ErrorKind>) {
        if error.is_some() && self.error.is_none() {
            self.error = error;
        }
        self.set_state(TcpState::Closed);
        self.rtx_deadline = None;
        self.persist_deadline = None;
        self.delack_deadline = None;
        self.timewait_deadline = None;
        self.finwait2_deadline = None;
        self.ack_now = false;
        self.probe_pending = false;
        self.rack_deadline = None;
        self.tlp_deadline = None;
        self.shrink_deadline = None;
        self.keepalive_deadline = None;
        self.keepalive_probe_pending = false;
        self.rtxq.clear();
        self.tx.discard(self.tx.len());
        self.tx.shrink_if_empty();
    }

    fn enter_time_wait(&mut self, now: Instant) {
        self.set_state(TcpState::TimeWait);
        self.rtx_deadline = None;
        self.persist_deadline = None;
        self.finwait2_deadline = None;
        self.keepalive_deadline = None;
        // RFC 9293 §3.10.7.4: TIME-WAIT lasts 2·MSL.
        self.timewait_deadline = Some(now + self.cfg_msl * 2);
        // Nothing is left to send or retransmit (our FIN is acknowledged):
        // give the memory back now rather than for the whole 2·MSL.
        self.rtxq.clear();
        self.tx.shrink_if_empty();
        if self.rx.is_empty() && self.ooo.is_empty() {
            self.rx.shrink_if_empty();
        }
    }

    fn ts_now(&self, now: Instant) -> u32 {
        (now.total_millis() as u32).wrapping_add(self.ts_offset)
    }

    /// Receive window we can accept into right now.
    fn rcv_space(&self) -> u32 {
        let cap = 65535u32 << self.rcv_wscale;
        (self.rx.free() as u32).min(cap)
    }

    /// The receive space offered in window advertisements: `rcv_space`
    /// less a little headroom for rounding. A scaled window is a multiple
    /// of 2^shift past RCV.NXT, and rather than shrink the window (RFC
    /// 9293 §3.8.6.2.2, SHLD-14) the offer is rounded up (as Linux), which
    /// must still fit in the buffer: every byte inside an advertised
    /// window is accepted (the sequence test uses the buffer's space).
    fn rcv_offer(&self) -> u32 {
        Self::offer_of(self.rcv_space(), self.rcv_wscale)
    }

    /// `space` less the rounding headroom for a window shift of `shift`.
    fn offer_of(space: u32, shift: u8) -> u32 {
        let headroom = if shift == 0 { 0 } else { (4u32 << shift) - 1 };
        space.saturating_sub(headroom)
    }

    /// Sequence number of the first byte in `tx`.
    fn tx_base(&self) -> Seq {
        if self.snd_una == self.iss {
            self.iss + 1u32
        } else {
            self.snd_una
        }
    }

    // ------------------------------------------------------------------
    // Segment arrival (RFC 9293 §3.10.7)
    // ------------------------------------------------------------------

    pub fn on_segment(&mut self, now: Instant, seg: &TcpRepr<'_>) -> Outcome {
        self.counters.segments_in += 1;
        self.probes_unanswered = 0;
        self.last_heard = now;
        tracing::trace!(local = %self.local, remote = %self.remote, seq = seg.seq, ack = seg.ack, flags = %seg.flags, len = seg.payload.len(), window = seg.window, "tcp in");
        if self.cfg_predict {
            match self.predict(seg) {
                Prediction::Data => return self.on_predicted(now, seg),
                Prediction::Ack => return self.on_predicted_ack(now, seg),
                Prediction::No => {}
            }
        }
        if seg.flags.rst() {
            self.counters.rsts_in += 1;
        }
        match self.state {
            TcpState::Closed | TcpState::Listen => Outcome::Drop(DropReason::TcpNoSocket),
            TcpState::SynSent => self.on_segment_syn_sent(now, seg),
            _ => self.on_segment_other(now, seg),
        }
    }

    /// RFC 9293 §3.10.7.3: SYN-SENT.
    fn on_segment_syn_sent(&mut self, now: Instant, seg: &TcpRepr<'_>) -> Outcome {
        let ack = Seq(seg.ack);
        let flags = seg.flags;
        // First, check the ACK bit.
        let ack_ok = if flags.ack() {
            if ack.le(self.iss) || ack.gt(self.snd_max) {
                // Unacceptable ACK: <SEQ=SEG.ACK><CTL=RST> unless RST.
                if flags.rst() {
                    return Outcome::Drop(DropReason::TcpInvalid);
                }
                return Outcome::ResetReply { seq: ack };
            }
            true
        } else {
            false
        };
        // Second, the RST bit.
        if flags.rst() {
            if ack_ok {
                // "error: connection reset" — to the user of connect() this
                // is ECONNREFUSED.
                self.close_now(Some(io::ErrorKind::ConnectionRefused));
                return Outcome::Ok;
            }
            return Outcome::Drop(DropReason::TcpInvalid);
        }
        // Fourth, the SYN bit.
        if !flags.syn() {
            return Outcome::Drop(DropReason::TcpInvalid);
        }
        if flags.fin() {
            // SYN+FIN is never valid (Linux drops it too).
            return Outcome::Drop(DropReason::TcpInvalid);
        }
        self.accept_syn(now, seg);
        if ack_ok {
            // Our SYN is acknowledged: ESTABLISHED.
            if self.retries == 0 {
                if let Some(t) = self.syn_sent_at {
                    // RFC 6298 §2 / Karn: the SYN was sent once; time it.
                    self.rtt.sample(now.saturating_since(t));
                }
            }
            self.snd_una = ack;
            self.snd_nxt = self.snd_nxt.max(ack);
            self.snd_wl2 = ack;
            self.rtx_deadline = None;
            if self.retries > 0 {
                self.rtt.syn_fallback();
            }
            // The SYN was timed above (syn_sent_at); free the sampler.
            self.rtt_sample = None;
            self.retries = 0;
            self.rtt.reset_backoff();
            self.establish(now);
            self.ack_now = true;
            // Data or FIN in the SYN-ACK: continue at "sixth, check URG".
            self.process_text(now, seg, Seq(seg.seq) + 1u32, seg.payload, flags.fin());
            Outcome::Ok
        } else {
            // Simultaneous open: SYN-RECEIVED, send SYN,ACK
            // <SEQ=ISS><ACK=RCV.NXT>.
            self.set_state(TcpState::SynReceived);
            self.snd_nxt = self.iss;
            self.rtx_deadline = None;
            Outcome::Ok
        }
    }

    fn establish(&mut self, now: Instant) {
        self.set_state(TcpState::Established);
        self.arm_keepalive(now);
        self.mtu_probing_start();
        self.start_rcv_tuning(now);
        // Linux's `tcp_init_buffer_space`: room for twice the initial
        // window from the start.
        self.expand_send_buffer();
        // The handshake counts as received (Linux's `lrcvtime`): a client
        // that sends its request at once is interactive from the start.
        self.last_data_in = now;
        if self.fin_queued {
            // The application shut down writing before the handshake
            // finished: CLOSE in ESTABLISHED → FIN-WAIT-1.
            self.set_state(TcpState::FinWait1);
        }
    }

    /// Header prediction (Jacobson's fast path, described in RFC 1323's
    /// appendix; Linux's `tcp_rcv_established`): is `seg` one of the two
    /// common cases for which the steps of RFC 9293 §3.10.7.4 reduce to
    /// little? Both: SEG.SEQ = RCV.NXT; no SACK block; with timestamps, a TSval not older than TS.Recent (PAWS
    /// passes); no recovery. Then either
    /// - `Data`, the next data of a pure receiver: ESTABLISHED or
    ///   FIN-WAIT-2 (whose FIN processing has nothing left to do); ACK
    ///   (and PSH) only; SEG.ACK = SND.UNA = SND.MAX (nothing of ours in
    ///   flight, so nothing to acknowledge, no duplicate ACK); room for
    ///   all of it in the window; nothing held out of order, no FIN seen,
    ///   a reader to deliver to; or
    /// - `Ack`, a pure ACK of new data for a pure sender: a state that
    ///   sends data (ESTABLISHED, FIN-WAIT-1, CLOSE-WAIT, LAST-ACK,
    ///   CLOSING), the ACK short of our FIN if one was sent (so the state
    ///   stays); ACK only, no text; SND.UNA < SEG.ACK =< SND.MAX; no FIN
    ///   of the peer's waiting beyond RCV.NXT.
    #[inline]
    fn predict(&self, seg: &TcpRepr<'_>) -> Prediction {
        // Cheapest and most selective first: ACK (and PSH) only, at
        // RCV.NXT (handshakes, FINs and RSTs fail here).
        if seg.flags.0 & !TcpFlags::PSH.0 != TcpFlags::ACK.0 || Seq(seg.seq) != self.rcv_nxt {
            return Prediction::No;
        }
        let ts_ok = !self.ts_enabled
            || seg
                .options
                .timestamp
                .is_some_and(|(tsval, _)| (tsval.wrapping_sub(self.ts_recent) as i32) >= 0);
        let common = ts_ok && seg.options.sack_blocks[0].is_none() && !self.in_recovery;
        if !common {
            return Prediction::No;
        }
        let ack = Seq(seg.ack);
        if seg.payload.is_empty() {
            // Any state that sends data, as long as this ACK does not
            // acknowledge our FIN (which would change the state).
            let state_ok = matches!(
                self.state,
                TcpState::Established
                    | TcpState::FinWait1
                    | TcpState::CloseWait
                    | TcpState::LastAck
                    | TcpState::Closing
            ) && self.fin_seq.is_none_or(|f| ack.le(f));
            let new_ack = state_ok
                && (self.remote_fin.is_none() || self.fin_received)
                && seg.flags == TcpFlags::ACK
                && ack.gt(self.snd_una)
                && ack.le(self.snd_max);
            return if new_ack {
                Prediction::Ack
            } else {
                Prediction::No
            };
        }
        let state_ok = match self.state {
            TcpState::Established => self.fin_seq.is_none(),
            TcpState::FinWait2 => true,
            _ => false,
        };
        let data = state_ok
            && self.remote_fin.is_none()
            && ack == self.snd_una
            && self.snd_una == self.snd_max
            && seg.payload.len() <= self.rcv_space() as usize
            && self.ooo.is_empty()
            && self.spill.is_empty()
            && !self.orphaned
            && !self.rd_shut
            && !self.memory_pressure;
        if data {
            Prediction::Data
        } else {
            Prediction::No
        }
    }

    /// The steps of RFC 9293 §3.10.7.4 for a pure ACK `predict` accepts,
    /// with their effects: the sequence test passes (an empty segment at
    /// RCV.NXT); fifth, the ACK field as `process_ack` takes it without
    /// SACK blocks (not a duplicate: it acknowledges new data); the
    /// window-update rule; TS.Recent (RFC 7323 §4.3); no text, no FIN.
    #[inline(never)]
    fn on_predicted_ack(&mut self, now: Instant, seg: &TcpRepr<'_>) -> Outcome {
        self.counters.predicted_acks += 1;
        let (seq, ack) = (Seq(seg.seq), Seq(seg.ack));
        let prior_una = self.snd_una;
        let prior_sacked = self.rtxq.sacked_bytes();
        let new_ack = Some(self.on_new_ack(now, seg, ack));
        let delivered =
            self.snd_una.since(prior_una) + self.rtxq.sacked_bytes().saturating_sub(prior_sacked);
        self.detect_losses(now);
        self.eifel_undo(seg, prior_una);
        self.on_ack_recovery(now, prior_una, delivered, new_ack);
        if self.snd_nospace {
            self.on_send_space();
        }
        self.update_send_window(seq, ack, u32::from(seg.window) << self.snd_wscale);
        self.note_ts_recent(now, seg, seq);
        Outcome::Ok
    }

    /// The steps of RFC 9293 §3.10.7.4 for data `predict` accepts,
    /// with their effects: the sequence test passes (it starts at RCV.NXT
    /// and fits); the ACK field acknowledges nothing and leaves loss
    /// detection and the tail-loss probe with nothing in flight; the
    /// window-update rule; TS.Recent (RFC 7323 §4.3); the text.
    fn on_predicted(&mut self, now: Instant, seg: &TcpRepr<'_>) -> Outcome {
        self.counters.predicted += 1;
        let (seq, ack) = (Seq(seg.seq), Seq(seg.ack));
        // Fifth, the ACK field (`process_ack` with nothing in flight: both
        // calls find nothing to do and clear their timers).
        self.detect_losses(now);
        self.arm_tlp(now);
        self.update_send_window(seq, ack, u32::from(seg.window) << self.snd_wscale);
        self.note_ts_recent(now, seg, seq);
        // Seventh, the text (`process_text` with nothing to trim).
        let before = self.rcv_nxt;
        self.receive_data(now, 0, seg.payload);
        if self.rcv_nxt != before {
            self.ack_pushed = seg.flags.psh() || seg.payload.len() < self.rcv_mss;
            self.last_data_in = now;
            if self.rcv_tune.is_on() {
                self.tune_receive_buffer(now, seg, seg.payload.len());
            }
        }
        match self.pending_drop.take() {
            Some(r) => Outcome::Drop(r),
            None => Outcome::Ok,
        }
    }

    /// RFC 7323 §4.3: remember the peer's timestamp when the segment
    /// covers Last.ACK.sent (and is not older than TS.Recent).
    #[inline]
    fn note_ts_recent(&mut self, now: Instant, seg: &TcpRepr<'_>, seq: Seq) {
        if self.ts_enabled {
            if let Some((tsval, _)) = seg.options.timestamp {
                if seq.le(self.last_ack_sent) && (tsval.wrapping_sub(self.ts_recent) as i32) >= 0 {
                    self.ts_recent = tsval;
                    self.ts_recent_age = now;
                }
            }
        }
    }

    /// RFC 9293 §3.10.7.4: window update if SND.WL1 < SEG.SEQ, or
    /// SND.WL1 = SEG.SEQ and SND.WL2 =< SEG.ACK.
    #[inline]
    fn update_send_window(&mut self, seq: Seq, ack: Seq, window: u32) {
        if self.snd_una.le(ack)
            && (self.snd_wl1.lt(seq) || (self.snd_wl1 == seq && self.snd_wl2.le(ack)))
        {
            self.snd_wnd = window;
            self.snd_wl1 = seq;
            self.snd_wl2 = ack;
            self.max_snd_wnd = self.max_snd_wnd.max(window);
            if window > 0 {
                self.persist_deadline = None;
                self.persist_backoff = 0;
            }
        }
    }

    /// RFC 9293 §3.10.7.4: all other states.
    fn on_segment_other(&mut self, now: Instant, seg: &TcpRepr<'_>) -> Outcome {
        let flags = seg.flags;
        let seq = Seq(seg.seq);
        let seg_len = seg.payload.len() as u32 + u32::from(flags.syn()) + u32::from(flags.fin());
        // What a D-SACK block reports of a duplicate: its data and its FIN,
        // which occupies a sequence number (RFC 9293 §3.4) and without
        // which a sender matching whole segments (Linux) finds no match.
        let text_len = seg.payload.len() + usize::from(flags.fin());

        // SYN-RECEIVED special cases (before the acceptability test):
        if self.state == TcpState::SynReceived && flags.syn() && seq == self.irs && !flags.rst() {
            if flags.ack() {
                // Simultaneous open: the peer's SYN,ACK acknowledges our SYN.
                let ack = Seq(seg.ack);
                if self.snd_una.lt(ack) && ack.le(self.snd_max) {
                    self.snd_una = ack;
                    self.snd_nxt = self.snd_nxt.max(ack);
                    self.snd_wl1 = seq;
                    self.snd_wl2 = ack;
                    self.rtx_deadline = None;
                    self.retries = 0;
                    self.establish(now);
                    self.ack_now = true;
                    return if self.passive {
                        Outcome::Established
                    } else {
                        Outcome::Ok
                    };
                }
                return Outcome::ResetReply { seq: ack };
            }
            // A retransmitted SYN: our SYN,ACK was lost; send it again.
            self.snd_nxt = self.iss;
            return Outcome::Ok;
        }

        // RFC 7323 §5.3 R1 (PAWS): a segment whose TSval is older than
        // TS.Recent is an old duplicate: ACK and drop (RSTs are exempt).
        // TS.Recent is void after 24 days of idleness (§5.5). Like Linux
        // (TCP_PAWS_WINDOW), a TSval one tick (1 ms) behind passes: a
        // segment reordered behind the retransmission that set TS.Recent
        // is new data, not an old duplicate.
        //
        // PAWS exists for duplicates whose sequence numbers have wrapped
        // (§5.1). Until the connection has received 2 GiB no sequence
        // number can have wrapped, so a segment bringing data not yet
        // received (beyond RCV.NXT) with a TSval at most 100 ticks behind
        // is new data reordered behind the retransmission that set
        // TS.Recent: it is kept (a strict drop forces a retransmission the
        // sender must read as a loss). Old data still gets R1's drop.
        if self.ts_enabled && !flags.rst() {
            if let Some((tsval, _)) = seg.options.timestamp {
                let valid =
                    now.saturating_since(self.ts_recent_age) < Duration::from_secs(24 * 86_400);
                let new_data = !seg.payload.is_empty()
                    && (seq + seg.payload.len()).gt(self.rcv_nxt)
                    && self.counters.bytes_in < PAWS_UNWRAPPED_BYTES
                    && self.ts_recent.wrapping_sub(tsval) <= PAWS_REORDER_TICKS;
                if valid && (tsval.wrapping_sub(self.ts_recent) as i32) < -PAWS_WINDOW && !new_data
                {
                    self.ack_now = true;
                    if seg_len > 0 && seq.lt(self.rcv_nxt) && self.sack_permitted {
                        // As Linux (tcp_send_dupack): report the old part
                        // as a D-SACK (RFC 2883), so that the sender learns
                        // its retransmission was needless.
                        let end = (seq + text_len).min(self.rcv_nxt);
                        if seq.lt(end) {
                            self.dsack = Some((seq, end));
                        }
                    }
                    return Outcome::Drop(DropReason::TcpPaws);
                }
            }
        }

        // First, check sequence number (RFC 9293 §3.10.7.4, four cases).
        let wnd = self.rcv_space();
        let acceptable = if seg_len == 0 {
            if wnd == 0 {
                seq == self.rcv_nxt
            } else {
                seq.in_range(self.rcv_nxt, self.rcv_nxt + wnd)
            }
        } else if wnd == 0 {
            false
        } else {
            let last = seq + (seg_len - 1);
            seq.in_range(self.rcv_nxt, self.rcv_nxt + wnd)
                || last.in_range(self.rcv_nxt, self.rcv_nxt + wnd)
        };
        // RFC 5961 §4.2: a SYN in a synchronized state gets a challenge ACK
        // "irrespective of the sequence number" (SYN-RECEIVED's own cases
        // were handled above).
        if flags.syn() && !flags.rst() {
            return Outcome::Challenge;
        }
        // RFC 9293 §3.10.7.4 note: with a zero window, still process valid
        // ACKs and RSTs of a segment starting at RCV.NXT (text is dropped).
        let zero_window_ack = !acceptable && wnd == 0 && seq == self.rcv_nxt;
        if !acceptable && !zero_window_ack {
            if flags.rst() {
                return Outcome::Drop(DropReason::TcpOutOfWindow);
            }
            if self.state == TcpState::TimeWait
                && flags.fin()
                && seq + seg.payload.len() + 1u32 == self.rcv_nxt
            {
                // RFC 9293 §3.10.7.4 (eighth, TIME-WAIT): a retransmitted FIN;
                // acknowledge it and restart the 2·MSL timeout.
                self.timewait_deadline = Some(now + self.cfg_msl * 2);
            }
            if seg_len > 0 && seq.lt(self.rcv_nxt) {
                self.counters.dup_segments += 1;
                if self.sack_permitted && text_len > 0 {
                    // RFC 2883: report the duplicate as the first block.
                    let end = (seq + text_len).min(self.rcv_nxt);
                    self.dsack = Some((seq, end));
                }
            }
            self.ack_now = true;
            return Outcome::Drop(DropReason::TcpOutOfWindow);
        }

        // Second, check the RST bit (RFC 5961 §3.2).
        if flags.rst() {
            if seq != self.rcv_nxt {
                // In window but not exact: challenge ACK.
                return Outcome::Challenge;
            }
            match self.state {
                TcpState::SynReceived => {
                    // Passive: back to LISTEN (the listener is untouched);
                    // active (simultaneous open): connection refused.
                    let err = if self.passive {
                        None
                    } else {
                        Some(io::ErrorKind::ConnectionRefused)
                    };
                    self.close_now(err);
                }
                TcpState::Established
                | TcpState::FinWait1
                | TcpState::FinWait2
                | TcpState::CloseWait => {
                    self.close_now(Some(io::ErrorKind::ConnectionReset));
                }
                TcpState::Closing | TcpState::LastAck => self.close_now(None),
                // RFC 1337: ignore RST in TIME-WAIT (TIME-WAIT assassination).
                TcpState::TimeWait => return Outcome::Drop(DropReason::TcpInvalid),
                _ => {}
            }
            return Outcome::Ok;
        }

        // Fourth, check the SYN bit: RFC 5961 §4.2 challenge ACK in any
        // synchronized state (and SYN-RECEIVED of an active open).
        if flags.syn() {
            return Outcome::Challenge;
        }

        // Fifth, check the ACK field.
        if !flags.ack() {
            return Outcome::Drop(DropReason::TcpInvalid);
        }
        let mut outcome = Outcome::Ok;
        if self.state == TcpState::SynReceived {
            let ack = Seq(seg.ack);
            if self.snd_una.lt(ack) && ack.le(self.snd_max) {
                if self.retries > 0 {
                    // RFC 6298 (5.7); the Karn-timed SYN-ACK sample below
                    // is void after a retransmission.
                    self.rtt.syn_fallback();
                }
                self.establish(now);
                // The window comes from this segment (RFC 9293 §3.10.7.4).
                self.snd_wnd = u32::from(seg.window) << self.snd_wscale;
                self.max_snd_wnd = self.max_snd_wnd.max(self.snd_wnd);
                self.snd_wl1 = seq;
                self.snd_wl2 = ack;
                if self.passive {
                    outcome = Outcome::Established;
                }
            } else {
                return Outcome::ResetReply { seq: ack };
            }
        }
        if let Err(o) = self.process_ack(now, seg) {
            return o;
        }
        if self.state == TcpState::Closed {
            return outcome;
        }
        if zero_window_ack {
            // Text of a segment that did not fit a zero window is dropped,
            // but the ACK above was processed; tell the peer our window.
            if !seg.payload.is_empty() || flags.fin() {
                self.ack_now = true;
                if outcome == Outcome::Ok && !seg.payload.is_empty() {
                    return Outcome::Drop(DropReason::TcpOutOfWindow);
                }
            }
            return outcome;
        }

        self.note_ts_recent(now, seg, seq);

        // Sixth, check the URG bit (RFC 9293 §3.10.7.4): RCV.UP <-
        // max(RCV.UP, SEG.UP) while the peer can still send; the data
        // stays inline (RFC 6093 §6) and the socket's event tells the
        // application (MUST-32), `urgent_pending` how much (MUST-33).
        if flags.urg()
            && matches!(
                self.state,
                TcpState::Established | TcpState::FinWait1 | TcpState::FinWait2
            )
        {
            self.on_urgent(seq + u32::from(seg.urgent));
        }
        // Seventh, process the segment text; eighth, the FIN bit.
        self.process_text(now, seg, seq, seg.payload, flags.fin());
        if let Some(r) = self.pending_drop.take() {
            if outcome == Outcome::Ok {
                return Outcome::Drop(r);
            }
        }
        outcome
    }

    /// Fifth step for synchronized states. Err means "drop the segment".
    fn process_ack(&mut self, now: Instant, seg: &TcpRepr<'_>) -> Result<(), Outcome> {
        let ack = Seq(seg.ack);
        let seq = Seq(seg.seq);
        // RFC 9293 §3.10.7.4: an ACK of something not yet sent: send an
        // ACK, drop the segment. RFC 5961 §5.2: likewise for an ACK older
        // than SND.UNA - MAX.SND.WND.
        if ack.gt(self.snd_max) {
            self.ack_now = true;
            return Err(Outcome::Drop(DropReason::TcpInvalid));
        }
        let max_wnd = self.max_snd_wnd.max(65535);
        if ack.lt(self.snd_una - max_wnd) {
            return Err(Outcome::Challenge);
        }
        let window = u32::from(seg.window) << self.snd_wscale;
        let prior_una = self.snd_una;
        let prior_sacked = self.rtxq.sacked_bytes();

        let mut new_ack = None;
        if ack.gt(self.snd_una) {
            new_ack = Some(self.on_new_ack(now, seg, ack));
        }
        if self.sack_permitted {
            // RFC 2883 §4: a first block below the cumulative ACK, or inside
            // the second block, reports a duplicate: D-SACK.
            if let Some((l, r)) = seg.options.sack_blocks[0] {
                let (l, r) = (Seq(l), Seq(r));
                let in_second = seg.options.sack_blocks[1]
                    .is_some_and(|(l2, r2)| l.ge(Seq(l2)) && r.le(Seq(r2)));
                if r.le(ack) || in_second {
                    self.on_dsack(now, r);
                }
            }
            // RFC 2018 §5 / RFC 6675 §5: record SACKed segments.
            let rack = &mut self.rack;
            for (l, r) in seg.options.sack_blocks.iter().flatten() {
                let (l, r) = (Seq(*l), Seq(*r));
                if l.ge(self.snd_una) && r.le(self.snd_max) {
                    self.rtxq.sack(l, r, |d| rack.update(d, now));
                }
            }
            if self.rtxq.sacked_bytes() > prior_sacked {
                self.tlp_outstanding = false;
            }
        }
        if ack == prior_una
            && self.snd_max.gt(self.snd_una)
            && seg.payload.is_empty()
            && !seg.flags.syn()
            && !seg.flags.fin()
            && window == self.snd_wnd
        {
            // RFC 5681 §2: a duplicate ACK.
            self.dupacks += 1;
            self.counters.dup_acks += 1;
        }
        // Bytes this ACK newly delivered (RFC 6937 DeliveredData).
        let delivered =
            self.snd_una.since(prior_una) + self.rtxq.sacked_bytes().saturating_sub(prior_sacked);
        self.detect_losses(now);
        self.eifel_undo(seg, prior_una);
        self.on_ack_recovery(now, prior_una, delivered, new_ack);
        if self.snd_nospace && new_ack.is_some() {
            self.on_send_space();
        }

        self.update_send_window(seq, ack, window);

        // Our FIN acknowledged?
        if let Some(fin) = self.fin_seq {
            if self.snd_una.gt(fin) {
                match self.state {
                    TcpState::FinWait1 => {
                        self.set_state(TcpState::FinWait2);
                        if self.orphaned {
                            // Linux tcp_fin_timeout for orphaned FIN-WAIT-2.
                            self.finwait2_deadline = Some(now + self.cfg_fin_timeout);
                        }
                    }
                    TcpState::Closing => self.enter_time_wait(now),
                    TcpState::LastAck => {
                        self.close_now(None);
                        return Err(Outcome::Ok);
                    }
                    _ => {}
                }
            }
        }
        Ok(())
    }

    /// SND.UNA advances: free acknowledged data and records, measure the
    /// RTT, restart the timer. Returns (bytes acknowledged, RTT sample).
    #[inline(always)]
    fn on_new_ack(&mut self, now: Instant, seg: &TcpRepr<'_>, ack: Seq) -> (u32, Option<Duration>) {
        let acked = ack.since(self.snd_una);
        let mut data_acked = acked;
        if self.snd_una == self.iss {
            data_acked -= 1; // our SYN
        }
        if let Some(fin) = self.fin_seq {
            if ack.gt(fin) && self.snd_una.le(fin) {
                data_acked = data_acked.saturating_sub(1); // our FIN
            }
        }
        let removed = self.tx.discard(data_acked as usize);
        debug_assert_eq!(removed, data_acked as usize);
        self.snd_una = ack;
        if self.snd_nxt.lt(ack) {
            self.snd_nxt = ack;
        }
        if self.tx.is_empty() && self.tx.allocated() <= SMALL_BUFFER {
            // A small buffer is cheap to allocate again: free it now (idle
            // request/response connections hold no memory). Large ones wait
            // for the idle timer.
            self.tx.shrink_if_empty();
        }
        // RFC 3522 (Eifel detection) / RFC 4015 (response): if the first
        // ACK after an RTO echoes a timestamp older than the retransmission,
        // the original segment arrived: the timeout was spurious; undo the
        // window reduction and the loss marks.
        if let Some((cwnd, ssthresh, floor)) = self.rto_undo.take() {
            if let Some((_, tsecr)) = seg.options.timestamp {
                if tsecr != 0 && (tsecr.wrapping_sub(floor) as i32) < 0 {
                    self.cc.restore(cwnd, ssthresh);
                    self.rtxq.unmark_lost();
                    self.counters.spurious_rtos += 1;
                    tracing::debug!(local = %self.local, remote = %self.remote, una = self.snd_una.0, cwnd, "spurious timeout undone");
                }
            }
        }
        let rack = &mut self.rack;
        self.rtxq.ack(ack, |d| rack.update(d, now));
        self.tlp_outstanding = false;
        if self.mtu_search.is_some() {
            self.probe_check_acked();
        }

        // RTT measurement: RFC 7323 §4.1 (TSecr) or RFC 6298 §3 (Karn).
        let mut sample = None;
        if self.ts_enabled {
            if let Some((_, tsecr)) = seg.options.timestamp {
                let elapsed = self.ts_now(now).wrapping_sub(tsecr);
                let fresh = self
                    .ts_rto_floor
                    .is_none_or(|f| (tsecr.wrapping_sub(f) as i32) >= 0);
                if tsecr != 0 && fresh && (elapsed as i32) >= 0 && elapsed < 600_000 {
                    sample = Some(Duration::from_millis(u64::from(elapsed)));
                }
            }
        }
        if let Some((end, t)) = self.rtt_sample {
            if ack.ge(end) {
                if sample.is_none() {
                    sample = Some(now.saturating_since(t));
                }
                self.rtt_sample = None;
            }
        }
        if let Some(r) = sample {
            // RFC 6298 (5.7 note) / Karn: the backed-off RTO is kept until
            // a valid sample; `sample` resets the backoff.
            self.rtt.sample(r);
        }
        self.retries = 0;

        // RFC 6298 §5.2/5.3: stop the timer when all is acknowledged,
        // else restart it.
        if self.snd_una == self.snd_max {
            self.rtx_deadline = None;
        } else {
            self.rtx_deadline = Some(now + self.rtt.rto());
        }
        (acked, sample)
    }

    /// Marks lost segments: RACK (RFC 8985 §6.2) when SACK is in use,
    /// and the DupThresh rule (RFC 5681 §3.2, RFC 6675 §5) — three
    /// duplicate ACKs, or three SACKed segments above a hole.
    fn detect_losses(&mut self, now: Instant) {
        if self.rtxq.is_empty() {
            self.rack_deadline = None;
            return;
        }
        let mut marked = 0;
        // RACK can only find a loss when something sent later was delivered
        // out of order (a SACKed segment) or a retransmission is outstanding;
        // otherwise the cumulative ACK left no candidates (O(1) fast path).
        let candidates = self.rtxq.sacked_segments() > 0 || self.rack_deadline.is_some();
        if self.sack_permitted && self.cfg_rack && candidates {
            if let Some(ts) = self.rack.xmit_ts {
                // RFC 8985 §6.2.4: reo_wnd = min_RTT/4 once reordering was
                // seen, else 0 in recovery or past DupThresh, bounded by SRTT.
                let min_rtt = self.rack.min_rtt.unwrap_or(self.rack.rtt);
                let reo = if !self.rack.reordering
                    && (self.in_recovery || self.rtxq.sacked_segments() >= 3)
                {
                    Duration::ZERO
                } else {
                    // §6.2.4: reo_wnd_mult · min_RTT/4, bounded by SRTT.
                    (min_rtt / 4 * self.reo_wnd_mult.max(1)).min(self.rtt.srtt().unwrap_or(min_rtt))
                };
                let (n, timer) = self
                    .rtxq
                    .rack_detect(now, ts, self.rack.end, self.rack.rtt, reo);
                if n > 0 {
                    tracing::debug!(local = %self.local, remote = %self.remote, una = self.snd_una.0, segments = n, "rack loss");
                }
                marked += n;
                self.rack_deadline = timer;
            }
        }
        // With RACK on, DupThresh lives inside RACK's reordering window
        // (RFC 8985 §6.2.4: reo_wnd = 0 past DupThresh until reordering is
        // seen); a fixed count would misread every reordering deeper than
        // three segments as a loss (RFC 8985 §3.4 / §9 replace it).
        let rack_on = self.sack_permitted && self.cfg_rack;
        if !self.in_recovery
            && !rack_on
            && (self.dupacks >= 3 || (self.sack_permitted && self.rtxq.sacked_segments() >= 3))
            && self.rtxq.get(0).is_some_and(|r| !r.sacked && r.xmits == 1)
            && self.rtxq.mark_lost(0)
        {
            marked += 1;
        }
        if marked > 0 {
            if self.mtu_search.is_some() && self.probe_loss_only(marked) {
                // RFC 4821 §7.6.2: a lost probe is not congestion.
                return;
            }
            self.enter_recovery(now);
        }
    }

    /// A D-SACK arrived: one of our retransmissions was needless (the
    /// original got there: reordering or an ACK loss). RFC 8985 §6.2.4:
    /// note reordering and widen RACK's reordering window; and when every
    /// retransmission of the last recovery has been D-SACKed, undo its
    /// window reduction (as Linux's D-SACK undo).
    ///
    /// Only a D-SACK of data above the recovery's start (`undo_marker`)
    /// counts towards the undo (as Linux's tcp_check_dsack and
    /// tcp_sacktag_one): a late D-SACK for an earlier episode's data must
    /// not undo a reduction made for a real loss.
    fn on_dsack(&mut self, now: Instant, right: Seq) {
        let _ = now;
        self.counters.dsacks_received += 1;
        self.rack.reordering = true;
        self.reo_wnd_mult = (self.reo_wnd_mult + 1).min(16);
        self.reo_wnd_persist = 16;
        let in_episode = right.gt(self.undo_marker);
        if self.undo_retrans > 0 && in_episode {
            self.undo_retrans -= 1;
            if self.undo_retrans == 0 {
                self.undo_recovery("D-SACK");
            }
        }
    }

    /// Undoes the last fast recovery's window reduction, found needless.
    fn undo_recovery(&mut self, why: &'static str) {
        if let Some((cwnd, ssthresh)) = self.recovery_undo.take() {
            self.cc
                .restore(cwnd.max(self.cc.cwnd()), ssthresh.max(self.cc.ssthresh()));
            if self.in_recovery {
                // The recovery was needless: leave it now (as Linux's
                // tcp_try_keep_open after tcp_try_undo_dsack), or its
                // end would set cwnd to the restored ssthresh, which
                // is "infinite" when it began in slow start. A real
                // loss in this window starts a recovery of its own.
                self.in_recovery = false;
                self.recover = self.snd_una;
                self.dupacks = 0;
            }
            self.counters.spurious_recoveries += 1;
            tracing::debug!(local = %self.local, remote = %self.remote, cwnd, why, "spurious fast recovery undone");
        }
    }

    /// RFC 3522 (Eifel detection) for a fast retransmit, as Linux's
    /// tcp_try_undo_partial / tcp_try_undo_recovery: an ACK that moves
    /// SND.UNA in recovery and echoes a timestamp older than the first
    /// retransmission was sent for the original segment, which arrived late
    /// (reordering). Once no retransmission is outstanding (all of them
    /// acknowledged), the reduction was needless: undo it (RFC 4015).
    fn eifel_undo(&mut self, seg: &TcpRepr<'_>, prior_una: Seq) {
        if !self.in_recovery || !self.snd_una.gt(prior_una) || self.rtxq.retrans_out() > 0 {
            return;
        }
        let (Some((_, tsecr)), Some(rtx)) = (seg.options.timestamp, self.recovery_rtx_tsval) else {
            return;
        };
        if tsecr != 0 && (tsecr.wrapping_sub(rtx) as i32) < 0 {
            // The hole was filled by a delayed original: reordering.
            self.rack.reordering = true;
            self.undo_recovery("Eifel");
        }
    }

    /// Fast recovery starts (RFC 6675 §5 / RFC 6582 §3.2): reduce once per
    /// window of data, and set up PRR (RFC 6937 §3).
    fn enter_recovery(&mut self, now: Instant) {
        if self.in_recovery || self.snd_una.lt(self.recover) {
            // Losses of a window already reduced for (or of data sent
            // before an RTO) are repaired without a second reduction.
            return;
        }
        let flight = self.snd_max.since(self.snd_una);
        self.recover = self.snd_max;
        self.in_recovery = true;
        // For a D-SACK undo (all retransmissions found needless).
        self.recovery_undo = Some((self.cc.cwnd(), self.cc.ssthresh()));
        self.undo_retrans = 0;
        self.undo_marker = self.snd_una;
        self.recovery_rtx_tsval = None;
        // RFC 8985 §6.2.4: after 16 recoveries without D-SACK, reset the
        // reordering window multiplier.
        self.reo_wnd_persist = self.reo_wnd_persist.saturating_sub(1);
        if self.reo_wnd_persist == 0 {
            self.reo_wnd_mult = 1;
        }
        self.cc.on_congestion_event(now, flight, self.send_limit());
        self.prr_delivered = 0;
        self.prr_out = 0;
        self.recover_fs = flight.max(1);
        // The first retransmission goes at once (RFC 6937 §3.1 note).
        self.prr_allow = self.smss as u32;
        self.tlp_deadline = None;
        self.counters.fast_retransmits += 1;
        tracing::debug!(
            local = %self.local,
            remote = %self.remote,
            una = self.snd_una.0,
            cwnd = self.cc.cwnd(),
            ssthresh = self.cc.ssthresh(),
            sack = self.sack_permitted,
            "fast retransmit"
        );
    }

    /// Per-ACK congestion control and recovery bookkeeping.
    #[inline(always)]
    fn on_ack_recovery(
        &mut self,
        now: Instant,
        prior_una: Seq,
        delivered: u32,
        new_ack: Option<(u32, Option<Duration>)>,
    ) {
        if self.in_recovery {
            if self.snd_una.ge(self.recover) {
                // RFC 6582 §3.2 step 3 / RFC 6675 §5: full acknowledgment.
                self.in_recovery = false;
                self.dupacks = 0;
                let pipe = self.pipe();
                self.cc.on_recovery_exit(now, pipe);
            } else {
                if !self.sack_permitted && self.snd_una.gt(prior_una) {
                    // RFC 6582 §3.2 step 3: a partial ACK means the next
                    // segment was lost too.
                    if self.rtxq.get(0).is_some_and(|r| r.xmits == 1) {
                        self.rtxq.mark_lost(0);
                    }
                }
                // RFC 6937 §3.1: proportional rate reduction.
                self.prr_delivered += delivered;
                let pipe = self.pipe();
                let ssthresh = self.cc.ssthresh();
                let mss = self.smss as u32;
                let sndcnt = if pipe > ssthresh {
                    let target = (u64::from(self.prr_delivered) * u64::from(ssthresh))
                        .div_ceil(u64::from(self.recover_fs));
                    (target as u32).saturating_sub(self.prr_out)
                } else {
                    // PRR-SSRB.
                    let limit =
                        (self.prr_delivered.saturating_sub(self.prr_out)).max(delivered) + mss;
                    (ssthresh - pipe).min(limit)
                };
                // The fast retransmit itself always goes (as Linux:
                // sndcnt = max(sndcnt, prr_out ? 0 : 1 segment)).
                self.prr_allow = if self.prr_out == 0 {
                    sndcnt.max(mss)
                } else {
                    sndcnt
                };
            }
        } else if let Some((acked, sample)) = new_ack {
            self.dupacks = 0;
            // RFC 9406 §4.2: a new round once SND.UNA passes windowEnd
            // (the SND.NXT of the round's start).
            if self.round_end.is_none_or(|end| self.snd_una.gt(end)) {
                self.round_end = Some(self.snd_max);
                self.cc.on_round_start(now);
            }
            let limited = self.is_cwnd_limited();
            self.cc.on_ack(now, acked, limited, sample);
        } else if delivered > 0 {
            self.cc.on_sack_delivery(now);
        }
        self.arm_tlp(now);
    }

    /// The most that could be in flight whatever cwnd says: the peer's
    /// receive window, or our send buffer (it holds every unacknowledged
    /// byte) if smaller. A reduction starts from no more than this.
    fn send_limit(&self) -> u32 {
        self.snd_wnd.min(self.send_buffer_bytes())
    }

    /// The send buffer's size: it holds every unacknowledged byte.
    fn send_buffer_bytes(&self) -> u32 {
        u32::try_from(self.tx.capacity()).unwrap_or(u32::MAX)
    }

    /// The most the send buffer may become: its size, or auto-tuning's
    /// ceiling. CUBIC's slow-start exit looks at this bound.
    fn send_buffer_ceiling(&self) -> u32 {
        self.send_buffer_bytes().max(self.snd_buf_max)
    }

    /// Send-buffer auto-tuning (Linux's `tcp_sndbuf_expand`): room for
    /// twice the larger of the initial window and cwnd, in Linux's
    /// per-segment memory, up to the ceiling. Never shrinks.
    fn expand_send_buffer(&mut self) {
        if self.snd_buf_max == 0 {
            return;
        }
        // Linux sizes segments by the larger of the MSS clamp (the peer's
        // option) and the current MSS.
        let mss = usize::from(self.peer_mss).max(self.smss);
        let segs = (self.cc.cwnd() as usize).div_ceil(self.smss.max(1));
        let want = sndbuf::target(mss, segs).min(self.snd_buf_max as usize);
        if want > self.tx.capacity() {
            self.tx.set_capacity(want);
            self.counters.send_buffer_grows += 1;
        }
    }

    /// An ACK freed send-buffer room while a writer waited
    /// (Linux's `tcp_new_space`): if what is queued can no longer fill
    /// cwnd, the buffer, not the network, is what holds the writer back,
    /// so it grows (`tcp_should_expand_sndbuf`). The writer counts as
    /// given room once half as much is free as is queued
    /// (`sk_stream_write_space`).
    fn on_send_space(&mut self) {
        if (self.tx.len() as u64) < u64::from(self.cc.cwnd()) {
            self.expand_send_buffer();
        }
        if self.tx.free() >= self.tx.len() / 2 {
            self.snd_nospace = false;
        }
    }

    /// RFC 6675 §4 pipe: bytes believed in the network.
    fn pipe(&self) -> u32 {
        self.rtxq.pipe(self.snd_max.since(self.snd_una))
    }

    /// Records how much of cwnd a send used (Linux's `tcp_cwnd_validate`):
    /// a window of data that once filled cwnd counts as cwnd-limited until
    /// it is acknowledged; otherwise its largest flight is kept.
    fn note_cwnd_use(&mut self, now: Instant, limited: bool) {
        let flight = self.snd_max.since(self.snd_una);
        if self.snd_una.ge(self.cwnd_usage_end)
            || limited
            || (!self.cwnd_limited && flight > self.max_flight)
        {
            self.cwnd_limited = limited;
            self.max_flight = flight;
            self.cwnd_usage_end = self.snd_max;
        }
        if self.cwnd_limited {
            self.cwnd_used = 0;
            self.cwnd_stamp = now;
            self.cwnd_check_at = None;
            return;
        }
        self.cwnd_used = self.cwnd_used.max(flight);
        match self.cwnd_check_at {
            Some(at) if now < at => {}
            Some(_) => self.decay_unused_cwnd(now),
            None => self.cwnd_check_at = Some(self.cwnd_stamp + self.rtt.rto()),
        }
    }

    /// RFC 2861 §3, as Linux's `tcp_cwnd_application_limited`: a window
    /// left partly unused for an RTO falls halfway to what was used (at
    /// least the initial window), ssthresh kept at least ¾ of it; not in
    /// recovery, nor when a full send buffer, not the application, held
    /// the data back.
    #[cold]
    #[inline(never)]
    fn decay_unused_cwnd(&mut self, now: Instant) {
        if self.is_cwnd_limited() {
            // Slow start using more than half of cwnd counts as full.
            self.cwnd_used = 0;
        } else if self.cfg_ss_after_idle && !self.in_recovery && self.tx.len() < self.tx.capacity()
        {
            let cwnd = self.cc.cwnd();
            let used = self.cwnd_used.max(self.cc.initial_window());
            if used < cwnd {
                let ssthresh = self.cc.ssthresh().max(cwnd / 2 + cwnd / 4);
                self.cc.restore(cwnd - (cwnd - used) / 2, ssthresh);
            }
            self.cwnd_used = 0;
        }
        self.cwnd_stamp = now;
        self.cwnd_check_at = Some(now + self.rtt.rto());
    }

    /// Whether an ACK may grow cwnd: RFC 9438 §5.8 and Linux's
    /// `tcp_is_cwnd_limited` (for Reno too): the data was sent
    /// cwnd-limited, or in slow start cwnd is below twice the largest
    /// flight (a doubling per round trip is what slow start would give).
    fn is_cwnd_limited(&self) -> bool {
        if self.cwnd_limited {
            return true;
        }
        let cwnd = self.cc.cwnd();
        cwnd / 2 < self.max_flight && cwnd < self.cc.ssthresh()
    }

    /// New data is about to go with nothing in flight. RFC 5681 §4.1:
    /// after more than an RTO without sending, cwnd restarts from no more
    /// than the restart window min(IW, cwnd); as Linux's
    /// `tcp_cwnd_restart` (net.ipv4.tcp_slow_start_after_idle), halved
    /// once per further RTO of idleness down to it, ssthresh kept at
    /// least ¾ of the old cwnd.
    fn restart_after_idle(&mut self, now: Instant) {
        self.cc.on_tx_start(now);
        let cwnd = self.cc.cwnd();
        let restart = self.cc.initial_window();
        if !self.cfg_ss_after_idle || cwnd <= restart || self.in_recovery {
            return;
        }
        let idle = now.saturating_since(self.last_data_sent);
        let rto = self.rtt.rto();
        if idle <= rto {
            return;
        }
        let mut new = cwnd;
        let mut left = idle;
        while left > rto && new > restart {
            left -= rto;
            new >>= 1;
        }
        // cwnd > restart here, so the new window is always smaller.
        let ssthresh = self.cc.ssthresh().max(cwnd / 2 + cwnd / 4);
        self.cc.restore(new.max(restart), ssthresh);
        self.counters.idle_restarts += 1;
        self.last_data_sent = now;
        self.cwnd_stamp = now;
        self.cwnd_check_at = None;
        self.cwnd_used = 0;
    }

    /// RFC 8985 §7.2: arm the probe timeout after new data was sent or
    /// acknowledged, unless in recovery or a probe is out.
    fn arm_tlp(&mut self, now: Instant) {
        self.tlp_deadline = None;
        if !self.sack_permitted
            || !self.cfg_tlp
            || self.in_recovery
            || self.tlp_outstanding
            || self.snd_una == self.snd_max
            || !self.state.is_synchronized()
        {
            return;
        }
        let Some(srtt) = self.rtt.srtt() else { return };
        let mut pto = srtt * 2;
        if self.snd_max.since(self.snd_una) as usize <= self.smss {
            // One segment in flight: allow for a delayed ACK (WCDelAckT).
            pto += Duration::from_millis(200);
        }
        let pto = pto.max(Duration::from_millis(10));
        let at = now + pto;
        if self.rtx_deadline.is_none_or(|r| at < r) {
            self.tlp_deadline = Some(at);
        }
    }

    /// Seventh and eighth steps: segment text and FIN.
    fn process_text(
        &mut self,
        now: Instant,
        seg: &TcpRepr<'_>,
        seq: Seq,
        payload: &[u8],
        fin: bool,
    ) {
        let mut seq = seq;
        let mut payload = payload;
        let mut fin = fin;
        // Trim the front (already received) ...
        if seq.lt(self.rcv_nxt) {
            let skip = self.rcv_nxt.since(seq) as usize;
            if self.sack_permitted && !payload.is_empty() {
                // RFC 2883 §4.1: the part received before is reported as a
                // D-SACK block (the sender learns its retransmission was
                // needless, also when it overlapped new data). A wholly
                // old segment, FIN included, never gets here: it is not
                // acceptable (on_segment_other).
                self.dsack = Some((seq, seq + skip.min(payload.len())));
                self.counters.dup_segments += 1;
            }
            if skip > payload.len() {
                // Even the FIN is old.
                payload = &[];
                fin = false;
            } else {
                payload = &payload[skip..];
            }
            seq = self.rcv_nxt;
        }
        // ... and the back (beyond the window, or beyond a known FIN).
        let mut limit = self.rcv_space() as usize;
        if let Some(rf) = self.remote_fin {
            limit = limit.min(rf.since(self.rcv_nxt) as usize);
        }
        let offset = seq.since(self.rcv_nxt) as usize;
        if offset + payload.len() > limit {
            let keep = limit.saturating_sub(offset);
            payload = &payload[..keep.min(payload.len())];
            fin = false;
            // Text beyond the window (or the peer's FIN) is discarded.
            self.pending_drop = Some(DropReason::TcpOutOfWindow);
        }

        if !payload.is_empty() {
            match self.state {
                TcpState::Established | TcpState::FinWait1 | TcpState::FinWait2 => {
                    if self.orphaned {
                        // Data for a socket the application closed: Linux
                        // answers with RST (RFC 9293 §3.10.7.4, "abort").
                        self.rst_pending = true;
                        self.error = Some(io::ErrorKind::ConnectionAborted);
                        return;
                    }
                    let before = self.rcv_nxt;
                    self.receive_data(now, offset, payload);
                    if self.rcv_nxt != before {
                        // In-order data: does it end a write (RFC 9293
                        // §3.9 PUSH; a short segment ends one too)?
                        self.ack_pushed = seg.flags.psh() || payload.len() < self.rcv_mss;
                        self.last_data_in = now;
                        if self.rcv_tune.is_on() {
                            self.tune_receive_buffer(now, seg, payload.len());
                        }
                    }
                }
                // CLOSE-WAIT, CLOSING, LAST-ACK, TIME-WAIT: the peer sent
                // its FIN already; ignore the text.
                _ => {}
            }
        }

        if fin && self.remote_fin.is_none() {
            self.remote_fin = Some(seq + payload.len());
            if offset > 0 {
                self.ack_now = true;
                if payload.is_empty() {
                    // A FIN alone, out of order: its SACK block comes first.
                    self.last_ooo = Some(seq);
                }
            }
        }
        self.consume_fin(now);
    }

    /// The shift is fixed at the handshake (RFC 7323 §2.2), so it is
    /// chosen for the largest size the receive buffer may reach.
    fn rcv_wscale_basis(&self) -> usize {
        self.rx.capacity().max(self.rcv_tune.max())
    }

    fn start_rcv_tuning(&mut self, now: Instant) {
        if self.rcv_tune.is_on() {
            let read = self.read_seq();
            self.rcv_tune
                .start(now, read, self.rx.capacity(), self.link_mss);
        }
    }

    /// Receive-buffer auto-tuning (`rcvbuf`), after in-order data of `len`
    /// bytes: the receiver's RTT samples, then once per RTT the growth.
    #[inline]
    fn tune_receive_buffer(&mut self, now: Instant, seg: &TcpRepr<'_>, len: usize) {
        if !self.rcv_tune.has_rtt() {
            if let Some(rtt) = self.rtt.srtt() {
                self.rcv_tune.seed_rtt(rtt);
            }
        }
        let window = self.rcv_offer();
        self.rcv_tune.on_data(now, self.rcv_nxt, window);
        if self.ts_enabled && len >= self.rcv_mss {
            if let Some((_, tsecr)) = seg.options.timestamp {
                let ts = self.ts_now(now);
                self.rcv_tune.on_tsecr(tsecr, ts);
            }
        }
        if self.rcv_tune.due(now) {
            self.adjust_receive_buffer(now);
        }
    }

    #[inline(never)]
    fn adjust_receive_buffer(&mut self, now: Instant) {
        // The window field can offer at most 65 535 << shift bytes.
        let limit = (65535usize << self.rcv_wscale).min(MAX_SOCKET_BUFFER);
        let read = self.read_seq();
        let cap = self.rx.capacity();
        if let Some(n) = self.rcv_tune.adjust(now, read, cap, self.link_mss, limit) {
            self.rx.set_capacity(n);
            self.counters.recv_buffer_grows += 1;
        }
    }

    /// Receive fast path: copies the payload of a segment that will most
    /// likely be accepted as the next in-order data (ESTABLISHED, at
    /// RCV.NXT, nothing out of order, room in the allocated ring) into the
    /// receive ring without making it readable, and returns its checksum
    /// sum (plus `acc`), so the stack verifies the checksum without a
    /// separate pass. The caller must then either process the segment
    /// (`on_segment` commits the placed bytes instead of copying them) or
    /// call `forget_prefill`. None: not applicable, nothing copied.
    pub fn prefill_in_order(&mut self, seq: u32, payload: &[u8], acc: u64) -> Option<u64> {
        if self.state != TcpState::Established
            || self.orphaned
            || self.rd_shut
            || Seq(seq) != self.rcv_nxt
            || !self.ooo.is_empty()
            || self.remote_fin.is_some()
        {
            return None;
        }
        let sum = self.rx.prefill_accumulate(payload, acc)?;
        self.prefilled = payload.len();
        Some(sum)
    }

    /// Drops what `prefill_in_order` placed (the bytes stay in free space,
    /// unreadable, and are overwritten by the next data).
    pub fn forget_prefill(&mut self) {
        self.prefilled = 0;
    }

    fn receive_data(&mut self, now: Instant, offset: usize, payload: &[u8]) {
        self.counters.bytes_in += payload.len() as u64;
        // RFC 1122 §4.2.3.2's "full-sized segment" is at most the MSS we
        // offered: a larger one comes from receive offload (a TUN device
        // handing over the host's TSO segments whole) and must not stretch
        // the ACK-every-second-segment rule to 128 KiB (as Linux, which
        // takes GRO packets' segment size).
        let full = payload.len().min(self.link_mss);
        self.rcv_mss = self.rcv_mss.max(full);
        if self.rd_shut {
            // Reading was shut down: accept and discard (window stays open).
            if offset == 0 {
                self.rcv_nxt += payload.len();
                self.ooo.clear();
                self.spill = Vec::new();
                self.spill_bytes = 0;
                self.schedule_ack(now, payload.len());
            }
            return;
        }
        if self.memory_pressure && self.rx.len() + offset + payload.len() > self.rx.allocated() {
            // Total buffer memory is at its limit: no growth (the peer
            // will retransmit once memory is available).
            self.pending_drop = Some(DropReason::TcpMemoryLimit);
            self.ack_now = true;
            return;
        }
        let mut spilled = false;
        if offset > 0 {
            // Out-of-order data may grow the ring at most to twice its
            // allocation (64 KiB at least): a lone byte far ahead in a large
            // window cannot pin the whole window's memory. Data beyond that
            // (after a large loss, say) is in the window and is kept, but
            // as a copy charged by its size (as Linux charges out-of-order
            // skbs by truesize), until the ring reaches it.
            // Ring and spill together stay within the receive buffer.
            let reach = self.rx.allocated().max(32 * 1024) * 2;
            let grown = self
                .rx
                .allocation_for(self.rx.len() + offset + payload.len());
            if offset + payload.len() > reach.max(self.rx.len() + 64 * 1024)
                || grown + self.spill_bytes > self.rx.capacity()
            {
                let cost = payload.len() + SPILL_OVERHEAD;
                if self.spill.len() >= MAX_SPILL_SEGMENTS
                    || self.rx.allocated() + self.spill_bytes + cost > self.rx.capacity()
                {
                    self.pending_drop = Some(DropReason::TcpOooLimit);
                    self.ack_now = true;
                    return;
                }
                spilled = true;
            }
        }
        let placed = std::mem::take(&mut self.prefilled);
        let written = if offset == 0 && placed >= payload.len() {
            // Already copied there while the checksum was verified (the
            // payload may since have been trimmed at the back only).
            payload.len()
        } else if spilled {
            payload.len()
        } else {
            self.rx.write_unreadable(offset, payload)
        };
        if offset == 0 {
            let had_ooo = !self.ooo.is_empty();
            self.rx.commit(written);
            self.rcv_nxt += written;
            self.ooo.advance(written);
            let more = self.ooo.remove_front();
            if more > 0 {
                self.unspill(more);
                self.rx.commit(more);
                self.rcv_nxt += more;
            }
            if had_ooo {
                // RFC 5681 §4.2: ACK at once when a segment fills a gap.
                self.ack_now = true;
                self.extra_acks = 0;
                if self.ooo.is_empty() {
                    self.last_ooo = None;
                }
            } else {
                self.schedule_ack(now, written);
            }
        } else {
            self.counters.ooo_segments += 1;
            let duplicate = self
                .ooo
                .ranges()
                .any(|(s, e)| s <= offset && offset + written <= e);
            if duplicate && self.sack_permitted {
                // RFC 2883 §4.2: a duplicate of data held out of order is
                // reported as a D-SACK block, followed by the SACK block
                // that contains it (`last_ooo` below).
                let start = self.rcv_nxt + offset;
                self.dsack = Some((start, start + written));
                self.counters.dup_segments += 1;
            }
            if spilled && !duplicate && self.ooo.add(offset, written).is_ok() {
                self.spill.push((self.rcv_nxt + offset, payload.to_vec()));
                self.spill_bytes += written + SPILL_OVERHEAD;
            } else if spilled {
                if !duplicate {
                    // Too many holes: the data is not kept.
                    self.pending_drop = Some(DropReason::TcpOooLimit);
                }
            } else if self.ooo.add(offset, written).is_err() {
                // Too many holes: the data is not kept (bounded memory).
                self.pending_drop = Some(DropReason::TcpOooLimit);
            }
            // RFC 5681 §4.2: out-of-order data → an immediate duplicate
            // ACK per segment; and the segments that follow the repair
            // are ACKed at once too (§4.2 allows more ACKs than one per two
            // segments): the sender is in recovery, its window is small,
            // and a delayed ACK would stall it (Linux's quick-ACK mode).
            self.quickacks = QUICKACKS;
            if self.ack_now {
                self.extra_acks = self.extra_acks.saturating_add(1).min(16);
            }
            self.ack_now = true;
            self.last_ooo = Some(self.rcv_nxt + offset);
        }
    }

    /// Moves spilled out-of-order segments that the in-order data now
    /// reaches (the first `upto` bytes past RCV.NXT are contiguous) into
    /// the receive ring.
    fn unspill(&mut self, upto: usize) {
        if self.spill.is_empty() {
            return;
        }
        let base = self.rcv_nxt;
        let mut i = 0;
        while i < self.spill.len() {
            let start = self.spill[i].0;
            let len = self.spill[i].1.len();
            let end = start + len;
            if end.le(base) || start.lt(base + upto) {
                let (start, data) = self.spill.swap_remove(i);
                self.spill_bytes = self.spill_bytes.saturating_sub(len + SPILL_OVERHEAD);
                if end.gt(base) {
                    // Inside the contiguous range (a received range holds
                    // whole segments): copy it to its place in the ring.
                    let skip = if start.lt(base) {
                        base.since(start) as usize
                    } else {
                        0
                    };
                    let off = if start.lt(base) {
                        0
                    } else {
                        start.since(base) as usize
                    };
                    self.rx.write_unreadable(off, &data[skip..]);
                }
            } else {
                i += 1;
            }
        }
        // What now fits in the ring as allocated goes there too.
        let room = self.rx.allocated().saturating_sub(self.rx.len() + upto);
        let mut i = 0;
        while i < self.spill.len() {
            let off = self.spill[i].0.since(base) as usize;
            let len = self.spill[i].1.len();
            if off >= upto && off + len <= upto + room {
                let (_, data) = self.spill.swap_remove(i);
                self.spill_bytes = self.spill_bytes.saturating_sub(len + SPILL_OVERHEAD);
                self.rx.write_unreadable(off, &data);
            } else {
                i += 1;
            }
        }
        if self.spill.is_empty() {
            self.spill = Vec::new();
        }
    }

    /// Delayed ACK (RFC 9293 §3.8.6.3, RFC 1122 §4.2.3.2): ACK at least
    /// every second full-sized segment, else within `delayed_ack`.
    fn schedule_ack(&mut self, now: Instant, bytes: usize) {
        self.unacked_bytes += bytes;
        if self.quickacks > 0 {
            self.quickacks -= 1;
            self.ack_now = true;
        } else if self.cfg_delayed_ack.is_zero() || self.unacked_bytes >= 2 * self.rcv_mss {
            self.ack_now = true;
        } else if self.delack_deadline.is_none() {
            self.delack_deadline = Some(now + self.cfg_delayed_ack);
        }
    }

    /// Eighth step: the FIN, once everything before it has arrived.
    fn consume_fin(&mut self, now: Instant) {
        let Some(rf) = self.remote_fin else { return };
        if self.fin_received || rf != self.rcv_nxt {
            return;
        }
        self.fin_received = true;
        self.rcv_nxt += 1u32;
        self.ack_now = true;
        match self.state {
            TcpState::SynReceived | TcpState::Established => self.set_state(TcpState::CloseWait),
            TcpState::FinWait1 => {
                // Our FIN not yet acknowledged (else we'd be in FIN-WAIT-2).
                self.set_state(TcpState::Closing);
            }
            TcpState::FinWait2 => self.enter_time_wait(now),
            _ => {}
        }
    }

    // ------------------------------------------------------------------
    // Timers
    // ------------------------------------------------------------------

    pub fn on_timer(&mut self, now: Instant) {
        if self.timewait_deadline.is_some_and(|t| t <= now) {
            // RFC 9293 §3.10.8: TIME-WAIT timeout → CLOSED.
            self.close_now(None);
            return;
        }
        if self.finwait2_deadline.is_some_and(|t| t <= now) {
            self.close_now(None);
            return;
        }
        if self.rtx_deadline.is_some_and(|t| t <= now) {
            self.rtx_deadline = None;
            self.on_rto(now);
            if self.state == TcpState::Closed {
                return;
            }
        }
        if self.rack_deadline.is_some_and(|t| t <= now) {
            // RFC 8985 §6.2 step 6: the reordering window has passed.
            self.rack_deadline = None;
            self.detect_losses(now);
        }
        if self.tlp_deadline.is_some_and(|t| t <= now) {
            // RFC 8985 §7.3: send a probe: new data if the windows allow,
            // else the last segment again.
            self.tlp_deadline = None;
            if self.snd_una != self.snd_max && !self.in_recovery {
                let base = self.tx_base();
                let unsent = (base + self.tx.len()).since(self.snd_nxt);
                let wnd_room = (self.snd_una + self.snd_wnd).since(self.snd_nxt);
                if unsent == 0 || wnd_room == 0 {
                    let last = self.rtxq.len().saturating_sub(1);
                    self.rtxq.mark_lost(last);
                }
                self.tlp_fire = true;
                self.tlp_outstanding = true;
                self.counters.tail_loss_probes += 1;
                tracing::debug!(local = %self.local, remote = %self.remote, una = self.snd_una.0, nxt = self.snd_nxt.0, "tail loss probe");
            }
        }
        if self.persist_deadline.is_some_and(|t| t <= now) {
            self.persist_deadline = None;
            if self.snd_wnd == 0 {
                // RFC 9293 §3.8.6.1: probe the zero window. Like Linux, the
                // probe carries SEQ = SND.UNA - 1 and no data, which forces
                // the peer to answer with its current window.
                // Like Linux (tcp_probe_timer), give up when the peer has
                // not answered max_retries probes: it is gone.
                self.probes_unanswered += 1;
                if self.persist_backoff == 0 {
                    self.zero_window_since = now;
                }
                // With TCP_USER_TIMEOUT, a window closed that long ends
                // the connection even if the peer answers (Linux).
                let gone = match self.user_timeout() {
                    Some(ut) => now.saturating_since(self.zero_window_since) >= ut,
                    None => self.probes_unanswered > self.cfg_max_retries,
                };
                if gone {
                    let err = self.soft_error.unwrap_or(io::ErrorKind::TimedOut);
                    self.close_now(Some(err));
                    return;
                }
                self.probe_pending = true;
                self.counters.zero_window_probes += 1;
                self.persist_backoff = (self.persist_backoff + 1).min(16);
            } else {
                // RFC 9293 §3.8.6.2.1: SWS override timeout — send anyway.
                self.force_send = true;
            }
        }
        if self.delack_deadline.is_some_and(|t| t <= now) {
            self.delack_deadline = None;
            self.ack_now = true;
            // The reply did not come in time: not interactive (any more).
            self.pingpong = false;
        }
        if self.keepalive_deadline.is_some_and(|t| t <= now) {
            self.keepalive_deadline = None;
            self.on_keepalive(now);
        }
        if self.shrink_deadline.is_some_and(|t| t <= now) {
            self.shrink_deadline = None;
            if self.tx.is_empty() {
                self.tx.shrink_if_empty();
            }
            if self.rx.is_empty() && self.ooo.is_empty() {
                self.rx.shrink_if_empty();
            }
        }
    }

    /// Keepalive (RFC 9293 §3.8.4, RFC 1122 §4.2.3.6; Linux's
    /// `tcp_keepalive_timer`): after `idle` without a segment from the
    /// peer, probe every `interval`; after `retries` unanswered probes,
    /// reset the connection (Linux sends the RST too) and fail TimedOut.
    fn on_keepalive(&mut self, now: Instant) {
        let Some(ka) = self.keepalive else {
            return;
        };
        if !self.keepalive_state() {
            return;
        }
        // Data or a FIN in flight or queued: the retransmission and
        // persist timers watch the peer then (Linux does the same).
        if self.has_data_to_deliver() {
            self.keepalive_deadline = Some(now + ka.idle);
            return;
        }
        let quiet = now.saturating_since(self.last_heard);
        if quiet < ka.idle {
            self.keepalive_deadline = Some(self.last_heard + ka.idle);
            return;
        }
        // TCP_USER_TIMEOUT overrides the probe count (Linux): gone once
        // a probe went unanswered and the peer was silent that long.
        let gone = match self.user_timeout() {
            Some(ut) => self.probes_unanswered > 0 && quiet >= ut,
            None => self.probes_unanswered >= ka.retries,
        };
        if gone {
            tracing::debug!(local = %self.local, remote = %self.remote, "keepalive: peer gone");
            if self.error.is_none() {
                self.error = Some(self.soft_error.unwrap_or(io::ErrorKind::TimedOut));
            }
            self.rst_pending = true;
            return;
        }
        self.probes_unanswered += 1;
        self.keepalive_probe_pending = true;
        self.counters.keepalive_probes += 1;
        self.keepalive_deadline = Some(now + ka.interval);
    }

    /// Turns keepalive on (Some) or off for this connection; the idle
    /// time counts from now or from the last segment heard, whichever is
    /// later (as Linux's TCP_KEEPIDLE on a live socket).
    pub fn set_keepalive(&mut self, now: Instant, ka: Option<Keepalive>) {
        self.keepalive = ka;
        self.keepalive_deadline = None;
        self.arm_keepalive(now);
    }

    pub fn keepalive(&self) -> Option<Keepalive> {
        self.keepalive
    }

    /// TCP_USER_TIMEOUT (RFC 9293 §3.10.8 USER TIMEOUT; RFC 5482): how
    /// long sent data may stay unacknowledged, or queued data unsent
    /// behind a zero window, before the connection fails with TimedOut.
    /// It replaces the retry count (`max_retries`) and, with keepalive,
    /// the probe count, as on Linux; the handshake keeps its own limit.
    /// None or zero: off.
    pub fn set_user_timeout(&mut self, t: Option<Duration>) {
        self.user_timeout_ms = user_timeout_ms(t);
    }

    pub fn user_timeout(&self) -> Option<Duration> {
        (self.user_timeout_ms > 0).then(|| Duration::from_millis(u64::from(self.user_timeout_ms)))
    }

    /// The states keepalive watches: synchronized, but not TIME-WAIT
    /// (Linux: all but CLOSE, SYN-SENT and its time-wait sockets).
    fn keepalive_state(&self) -> bool {
        matches!(
            self.state,
            TcpState::Established
                | TcpState::CloseWait
                | TcpState::FinWait1
                | TcpState::FinWait2
                | TcpState::Closing
                | TcpState::LastAck
        )
    }

    fn arm_keepalive(&mut self, now: Instant) {
        if let Some(ka) = self.keepalive {
            if self.keepalive_deadline.is_none() && self.keepalive_state() {
                self.keepalive_deadline = Some(now.max(self.last_heard) + ka.idle);
            }
        }
    }

    /// RFC 6298 §5.4-5.6 and RFC 5681 §3.1 on retransmission timeout.
    fn on_rto(&mut self, now: Instant) {
        let syn_state = matches!(self.state, TcpState::SynSent | TcpState::SynReceived);
        if !syn_state && self.snd_una == self.snd_max {
            return;
        }
        if self.retries == 0 {
            // The first timeout since the last progress: the stall began
            // when the oldest unacknowledged segment was (last) sent.
            self.rto_since = self.rtxq.get(0).map_or(now, |r| r.sent_at);
        }
        self.retries += 1;
        let user_timeout = self.user_timeout().filter(|_| !syn_state);
        let gave_up = match user_timeout {
            // RFC 9293 §3.10.8 USER TIMEOUT.
            Some(ut) => now.saturating_since(self.rto_since) >= ut,
            None if syn_state => self.retries > self.cfg_syn_retries,
            None => self.retries > self.cfg_max_retries,
        };
        if gave_up {
            tracing::debug!(local = %self.local, remote = %self.remote, "tcp timed out");
            let err = self.soft_error.unwrap_or(io::ErrorKind::TimedOut);
            self.close_now(Some(err));
            return;
        }
        self.counters.timeouts += 1;
        // RFC 6437 §3 leaves the choice of label to the source. As Linux
        // (net.core.txrehash), a timeout moves the flow to another label,
        // so that a router choosing among paths by the label (ECMP, RFC
        // 6438) may take it off a path that has stopped delivering.
        if self.flow_label != 0 {
            self.flow_label = next_flow_label(self.flow_label);
        }
        self.rtt.back_off();
        self.rtt_sample = None;
        self.ts_rto_floor = Some(self.ts_now(now));
        if syn_state {
            self.snd_nxt = self.iss;
        } else {
            let flight = self.snd_max.since(self.snd_una);
            if self.rto_undo.is_none() && self.ts_enabled {
                self.rto_undo = Some((self.cc.cwnd(), self.cc.ssthresh(), self.ts_now(now)));
            }
            self.cc.on_rto(now, flight, self.send_limit());
            self.in_recovery = false;
            self.dupacks = 0;
            self.tlp_deadline = None;
            self.tlp_outstanding = false;
            self.rack_deadline = None;
            // RFC 6582 §3.2 step 4 (after a timeout): recover = highest sent.
            self.recover = self.snd_max;
            // RFC 6675 §5.1 / RFC 8985 §6.3: everything not SACKed is lost
            // and is resent in order as the (reset) window allows.
            self.rtxq.mark_all_lost();
            // RFC 4821 §7.6.2: a probe outstanding at a timeout failed.
            self.probe_failed("timeout");
            if self.cfg_mtu_probing != MtuProbing::Off && self.retries >= BLACK_HOLE_TIMEOUTS {
                self.black_hole_step();
            }
            if let Some(ut) = user_timeout {
                // The next timeout comes no later than the user timeout
                // (Linux's tcp_clamp_rto_to_user_timeout); the
                // retransmission keeps this deadline.
                self.rtx_deadline = Some((now + self.rtt.rto()).min(self.rto_since + ut));
            }
        }
        tracing::debug!(
            local = %self.local,
            remote = %self.remote,
            una = self.snd_una.0,
            rto = ?self.rtt.rto(),
            cwnd = self.cc.cwnd(),
            ssthresh = self.cc.ssthresh(),
            "retransmission timeout"
        );
    }

    // ------------------------------------------------------------------
    // Output
    // ------------------------------------------------------------------

    /// Writes the next segment (TCP header + payload, checksum left zero)
    /// into `buf` and returns its length, or None.
    ///
    /// `buf` may be larger than the path MTU allows (see `out_mtu`): only
    /// a path MTU probe uses the room beyond it (segments without data
    /// fit any path; `send_data` cuts the others to the path MTU).
    pub fn poll_segment(&mut self, now: Instant, buf: &mut [u8]) -> Option<usize> {
        self.arm_buffer_shrink(now);
        if self.rst_pending {
            self.rst_pending = false;
            // RFC 9293 §3.10.4 ABORT: <SEQ=SND.NXT><CTL=RST> (snd_max is
            // RFC's SND.NXT; ours may have rewound).
            let n = self.emit(now, buf, self.snd_max, TcpFlags::RST | TcpFlags::ACK, 0, 0);
            self.counters.rsts_out += 1;
            let err = self.error;
            self.close_now(err);
            return Some(n);
        }
        match self.state {
            TcpState::Closed | TcpState::Listen => return None,
            TcpState::SynSent | TcpState::SynReceived => {
                if self.snd_nxt == self.iss {
                    let flags = if self.state == TcpState::SynSent {
                        TcpFlags::SYN
                    } else {
                        TcpFlags::SYN | TcpFlags::ACK
                    };
                    let n = self.emit(now, buf, self.iss, flags, 0, 0);
                    if self.retries > 0 {
                        self.counters.retransmits += 1;
                    }
                    self.snd_nxt = self.iss + 1u32;
                    self.snd_max = self.snd_max.max(self.snd_nxt);
                    self.syn_sent_at = Some(now);
                    // Karn: only a SYN-ACK sent once is timed.
                    self.rtt_sample = if self.retries == 0 {
                        Some((self.snd_nxt, now))
                    } else {
                        None
                    };
                    self.rtx_deadline = Some(now + self.rtt.rto());
                    return Some(n);
                }
                if self.ack_now && self.state == TcpState::SynReceived {
                    return Some(self.emit_ack(now, buf));
                }
                return None;
            }
            TcpState::TimeWait => {
                if self.ack_now {
                    return Some(self.emit_ack(now, buf));
                }
                return None;
            }
            _ => {}
        }
        if self.probe_pending {
            self.probe_pending = false;
            let n = self.emit(now, buf, self.snd_una - 1u32, TcpFlags::ACK, 0, 0);
            self.arm_persist(now);
            return Some(n);
        }
        if self.keepalive_probe_pending {
            // RFC 9293 §3.8.4: SEG.SEQ = SND.NXT-1, no data (RFC 1122
            // §4.2.3.6 allows either), which the peer must ACK.
            self.keepalive_probe_pending = false;
            return Some(self.emit(now, buf, self.snd_una - 1u32, TcpFlags::ACK, 0, 0));
        }
        if let Some(n) = self.send_data(now, buf) {
            return Some(n);
        }
        if self.ack_now || self.window_update_due() {
            return Some(self.emit_ack(now, buf));
        }
        if self.extra_acks > 0 {
            self.extra_acks -= 1;
            return Some(self.emit_ack(now, buf));
        }
        None
    }

    fn emit_ack(&mut self, now: Instant, buf: &mut [u8]) -> usize {
        // A segment without data carries the next *unsent* sequence number
        // (RFC 9293's SND.NXT, our snd_max): after an RTO rewind snd_nxt
        // points into already-sent data, and the peer would find an ACK at
        // that sequence unacceptable and ignore it (as 4.4BSD does).
        let seq = self.snd_max;
        self.emit(now, buf, seq, TcpFlags::ACK, 0, 0)
    }

    /// Bytes the congestion controller lets us send now: PRR's allowance
    /// in recovery, else cwnd − pipe (with RFC 3042 limited transmit).
    fn send_allowance(&self) -> usize {
        if self.in_recovery {
            return self.prr_allow as usize;
        }
        let limited_transmit = self.dupacks.min(2) * self.smss as u32;
        let cwnd = self.cc.cwnd().saturating_add(limited_transmit);
        cwnd.saturating_sub(self.pipe()) as usize
    }

    fn spend_allowance(&mut self, bytes: usize) {
        if self.in_recovery {
            self.prr_out += bytes as u32;
            self.prr_allow = self.prr_allow.saturating_sub(bytes as u32);
        }
    }

    /// Lost segments first (RFC 6675 NextSeg rule 1), then new data and
    /// the FIN.
    /// `buf` may hold more than the path MTU only while a path MTU search
    /// is on (RFC 4821 §7): probes use it, other segments are cut to the
    /// path MTU, so that SACK blocks do not make them larger.
    fn send_data(&mut self, now: Instant, buf: &mut [u8]) -> Option<usize> {
        if !matches!(
            self.state,
            TcpState::Established
                | TcpState::CloseWait
                | TcpState::FinWait1
                | TcpState::Closing
                | TcpState::LastAck
        ) {
            return None;
        }
        let normal = if self.mtu_search.is_none() {
            buf.len()
        } else {
            (self.path.mtu() + 20)
                .saturating_sub(tcp_ip_headers(&self.local))
                .min(buf.len())
        };
        let base = self.tx_base();
        if let Some(i) = self.rtxq.first_lost() {
            let mut r = *self.rtxq.get(i)?;
            let mut fin = self.fin_seq.is_some_and(|f| r.end == f + 1u32);
            if r.len() as usize - usize::from(fin) > self.smss {
                // Sent before the path MTU fell (RFC 1191 §6.4: TCP
                // repacketizes): resend it in pieces that fit.
                self.rtxq.split(i, r.start + self.smss);
                r = *self.rtxq.get(i)?;
                fin = false;
            }
            let len = r.len() as usize - usize::from(fin);
            let forced = std::mem::take(&mut self.tlp_fire);
            // Retransmissions stay inside the peer's window, except the
            // segment at SND.UNA (it was in the window when first sent).
            let in_window = i == 0 || r.end.le(self.snd_una + self.snd_wnd);
            if (forced || self.send_allowance() >= len.clamp(1, self.smss)) && in_window {
                let mut flags = TcpFlags::ACK;
                if fin {
                    flags |= TcpFlags::FIN;
                }
                let offset = r.start.since(base) as usize;
                let n = self.emit(now, &mut buf[..normal], r.start, flags, offset, len);
                self.rtxq.retransmitted(i, now);
                self.last_data_sent = now;
                if self.recovery_undo.is_some() {
                    self.undo_retrans += 1;
                }
                if self.in_recovery && self.ts_enabled && self.recovery_rtx_tsval.is_none() {
                    self.recovery_rtx_tsval = Some(self.ts_now(now));
                }
                self.counters.retransmits += 1;
                self.spend_allowance(len.max(1));
                if let Some((end, _)) = self.rtt_sample {
                    if end.le(r.end) {
                        self.rtt_sample = None; // Karn
                    }
                }
                if self.rtx_deadline.is_none() {
                    self.rtx_deadline = Some(now + self.rtt.rto());
                }
                return Some(n);
            }
            return None;
        }
        let data_end = base + self.tx.len();
        let unsent = data_end.since(self.snd_nxt) as usize;
        let offset = self.snd_nxt.since(base) as usize;
        // The FIN still has to be sent when SND.NXT has not passed it.
        let fin_pending = self.fin_queued && self.snd_nxt.le(data_end);
        let wnd_room = (self.snd_una + self.snd_wnd).since(self.snd_nxt) as usize;
        let flight = self.snd_max.since(self.snd_una);
        if flight == 0 && unsent > 0 {
            self.restart_after_idle(now);
        }
        let mut probe = None;
        if self.mtu_search.is_some() {
            match self.probe_plan(now, unsent, wnd_room, flight, buf.len()) {
                ProbePlan::No => {}
                ProbePlan::Wait => return None,
                ProbePlan::Send { len, mtu } => probe = Some((len, mtu)),
            }
        }
        let allowance = if self.tlp_fire {
            self.smss
        } else {
            self.send_allowance()
        };
        let len = match probe {
            Some((len, _)) => len,
            None => self.smss.min(unsent).min(allowance).min(wnd_room),
        };
        let tlp = self.tlp_fire;
        // A FIN alone needs no window; with data it rides on the last segment.
        let fin = fin_pending && len == unsent;
        if len == 0 && !fin {
            if unsent > 0 && flight == 0 {
                self.arm_persist(now);
            }
            return None;
        }
        if len < self.smss && !fin && !self.force_send {
            // RFC 9293 §3.7.4 Nagle: hold a small segment while data is
            // unacknowledged.
            if !self.nodelay && flight > 0 && self.snd_up.is_none() {
                return None;
            }
            // RFC 9293 §3.8.6.2.1 sender SWS avoidance: a window-limited
            // small segment waits unless it is at least half the largest
            // window the peer has offered.
            if len < unsent && (len as u32) < self.max_snd_wnd / 2 {
                if flight == 0 {
                    self.arm_persist(now);
                }
                return None;
            }
        }
        self.force_send = false;
        self.tlp_fire = false;
        let mut flags = TcpFlags::ACK;
        if fin {
            flags |= TcpFlags::FIN;
            self.fin_seq = Some(data_end);
        }
        if len > 0 && len == unsent {
            flags |= TcpFlags::PSH;
        }
        let seq = self.snd_nxt;
        if len > 0 && now.saturating_since(self.last_data_in) < self.cfg_delayed_ack {
            // Data answers data within the delayed-ACK time: interactive.
            self.pingpong = true;
        }
        let n = match probe {
            // RFC 4821 §7.5: the probe fills its MTU, so it gets no SACK
            // blocks the size was not planned for.
            Some((_, mtu)) => {
                let room = (mtu + 20).saturating_sub(tcp_ip_headers(&self.local));
                self.emit(now, &mut buf[..room], seq, flags, offset, len)
            }
            None => self.emit(now, &mut buf[..normal], seq, flags, offset, len),
        };
        let seg_end = seq + len + usize::from(fin);
        if let Some((_, mtu)) = probe {
            self.probe_sent(seq, seg_end, mtu);
        }
        if self.rtt_sample.is_none() && !self.ts_enabled {
            self.rtt_sample = Some((seg_end, now));
        }
        self.rtxq.push(seq, seg_end, now);
        self.spend_allowance(len.max(1));
        self.snd_nxt = seg_end;
        self.snd_max = self.snd_max.max(seg_end);
        self.last_data_sent = now;
        if !tlp {
            // Less than a segment of cwnd left: the network is fed fully
            // (Linux: in flight ≥ cwnd after tcp_write_xmit).
            self.note_cwnd_use(now, allowance.saturating_sub(len) < self.smss);
        }
        self.persist_deadline = None;
        // RFC 6298 §5.1: start the timer if it is not running.
        if self.rtx_deadline.is_none() {
            self.rtx_deadline = Some(now + self.rtt.rto());
        }
        if self.tlp_deadline.is_none() {
            self.arm_tlp(now);
        }
        Some(n)
    }

    fn arm_persist(&mut self, now: Instant) {
        if self.persist_deadline.is_none() && self.rtx_deadline.is_none() {
            let base = self.rtt.base_rto().max(Duration::from_millis(200));
            let d = base
                .saturating_mul(1u32 << self.persist_backoff.min(16))
                .min(PERSIST_MAX);
            let mut at = now + d;
            if let Some(ut) = self.user_timeout().filter(|_| self.persist_backoff > 0) {
                // No later than the user timeout (Linux's
                // tcp_clamp_probe0_to_user_timeout).
                at = at.min(self.zero_window_since + ut);
            }
            self.persist_deadline = Some(at);
        }
    }

    /// RFC 9293 §3.8.6.2.2 receiver SWS avoidance, seen from the reader:
    /// send a window update once the window can at least double and grow
    /// by min(buffer/2, MSS).
    fn window_update_due(&self) -> bool {
        if !matches!(
            self.state,
            TcpState::Established | TcpState::FinWait1 | TcpState::FinWait2
        ) || self.fin_received
        {
            return false;
        }
        if self.rcv_nxt == self.irs + 1u32 {
            // No data yet, so none read: what opens the window after the
            // handshake (the SYN-ACK's was unscaled, RFC 7323 §2.2) rides
            // on the ACK of the first data, as on Linux, not on a segment
            // of its own.
            return false;
        }
        let cur = self.rcv_adv.since(self.rcv_nxt);
        let offer = self.rcv_offer();
        let grow = offer.saturating_sub(cur);
        let threshold = ((self.rx.capacity() / 2).min(self.rcv_mss)) as u32;
        grow >= threshold.max(1) && grow >= cur
    }

    /// Window field to advertise (receiver SWS avoidance, never shrinking).
    fn advertise_window(&mut self, syn: bool) -> u16 {
        let space = self.rcv_space();
        if syn {
            // RFC 7323 §2.2: the SYN's window is not scaled.
            let w = space.min(65535);
            self.rcv_adv = self.rcv_nxt + w;
            return w as u16;
        }
        let cur = self.rcv_adv.since(self.rcv_nxt);
        let offer = Self::offer_of(space, self.rcv_wscale);
        let threshold = ((self.rx.capacity() / 2).min(self.rcv_mss)) as u32;
        // RFC 9293 §3.8.6.2.2: move the right edge only by a useful amount.
        let mut wnd = if offer.saturating_sub(cur) >= threshold.max(1) {
            offer
        } else {
            cur
        };
        wnd = wnd.max(cur);
        let shift = self.rcv_wscale;
        let mut field = (wnd >> shift).min(65535);
        if (field << shift) < cur {
            // Round up rather than shrink the offered window (SHLD-14; Linux
            // does too), if the buffer holds it: a window the buffer cannot
            // hold would make us drop text the peer was allowed to send.
            // Otherwise the edge moves back by less than 2^shift bytes,
            // which a sender must tolerate (RFC 9293 §3.8.6.2.1, MUST-35).
            let up = cur.div_ceil(1 << shift).min(65535);
            field = if (up << shift) <= space {
                up
            } else {
                (cur.min(space) >> shift).min(65535)
            };
        }
        let right = self.rcv_nxt + (field << shift);
        if right.gt(self.rcv_adv) {
            self.rcv_adv = right;
        }
        field as u16
    }

    /// RFC 2018 §4 / RFC 2883: SACK blocks for an outgoing ACK: a D-SACK
    /// block first if one is pending, then the block holding the most
    /// recently received segment, then the others, highest first. Up to 3
    /// blocks fit beside timestamps, 4 without.
    fn fill_sack_blocks(&mut self, options: &mut TcpOptions) {
        let max = if options.timestamp.is_some() { 3 } else { 4 };
        let mut n = 0;
        if let Some((l, r)) = self.dsack.take() {
            options.sack_blocks[n] = Some((l.0, r.0));
            n += 1;
        }
        let base = self.rcv_nxt;
        // An out-of-order FIN is held too, and it occupies a sequence
        // number (RFC 9293 §3.4): the block that ends where it starts
        // covers it, and a FIN that came alone gets a block of its own.
        // A sender (Linux's, for one) counts a segment SACKed only when a
        // block covers all of it, FIN included; without this its last
        // segment never is, and a lost tail waits for the RTO instead of
        // being recovered from the probe's SACK (RFC 8985 §7).
        let fin = self
            .remote_fin
            .filter(|f| base.lt(*f))
            .map(|f| f.since(base) as usize);
        let edges = |(s, e): (usize, usize)| {
            let right = if Some(e) == fin { e + 1 } else { e };
            ((base + s).0, (base + right).0)
        };
        let fin_alone = fin.filter(|f| self.ooo.ranges().last().map(|r| r.1) != Some(*f));
        // RFC 2018 §4: the first block holds the segment that arrived last.
        let first = match self.last_ooo.map(|s| s.since(base) as usize) {
            None => None,
            Some(r) if Some(r) == fin => match fin_alone {
                Some(f) => Some((f, f)),
                None => self.ooo.ranges().last(),
            },
            Some(r) => self.ooo.ranges().find(|(s, e)| *s <= r && r < *e),
        };
        if let Some(b) = first {
            if n < max {
                options.sack_blocks[n] = Some(edges(b));
                n += 1;
            }
        }
        // The highest ranges after the first, without allocating: keep the
        // last `max` ranges seen (they come lowest first).
        let mut top = [(0usize, 0usize); 4];
        let mut count = 0usize;
        let ranges = self.ooo.ranges().filter(|r| Some(*r) != first);
        let fin_block = fin_alone.map(|f| (f, f)).filter(|b| Some(*b) != first);
        for r in ranges.chain(fin_block) {
            top[count % 4] = r;
            count += 1;
        }
        let take = count.min(4);
        for k in 0..take {
            if n >= max {
                break;
            }
            options.sack_blocks[n] = Some(edges(top[(count - 1 - k) % 4]));
            n += 1;
        }
    }

    /// Builds one segment into `buf`. Payload: `len` bytes of `tx` from
    /// `offset`.
    fn emit(
        &mut self,
        now: Instant,
        buf: &mut [u8],
        seq: Seq,
        flags: TcpFlags,
        offset: usize,
        len: usize,
    ) -> usize {
        let syn = flags.syn();
        let mut options = TcpOptions::default();
        if syn {
            options.mss = Some(self.link_mss.min(65535) as u16);
            let offer_ws = if self.state == TcpState::SynSent {
                self.offer_wscale
            } else {
                self.offer_wscale && self.peer_offered_ws
            };
            if offer_ws {
                options.window_scale = Some(self.rcv_wscale);
            }
            let offer_sack = if self.state == TcpState::SynSent {
                self.offer_sack
            } else {
                self.sack_permitted
            };
            options.sack_permitted = offer_sack;
            let offer_ts = if self.state == TcpState::SynSent {
                self.offer_ts
            } else {
                self.ts_enabled
            };
            if offer_ts {
                let ecr = if self.state == TcpState::SynSent {
                    0
                } else {
                    self.ts_recent
                };
                options.timestamp = Some((self.ts_now(now), ecr));
            }
        } else if self.ts_enabled && !flags.rst() {
            options.timestamp = Some((self.ts_now(now), self.ts_recent));
        }
        // Blocks come from a pending D-SACK, data held out of order, or a
        // FIN beyond RCV.NXT (`fill_sack_blocks`): with none of them, no
        // block and nothing to try.
        let sack_news = self.dsack.is_some()
            || !self.ooo.is_empty()
            || self.remote_fin.is_some_and(|f| self.rcv_nxt.lt(f));
        if self.sack_permitted && !syn && flags.ack() && !flags.rst() && sack_news {
            // SACK blocks ride where they fit: full-sized data segments
            // have no room, pure ACKs carry all of them.
            let room = buf.len().saturating_sub(20 + len).min(40);
            let mut with_sack = options;
            self.fill_sack_blocks(&mut with_sack);
            while with_sack.emit_len() > room && with_sack.sack_count() > 0 {
                let last = with_sack.sack_count() - 1;
                with_sack.sack_blocks[last] = None;
            }
            if with_sack.emit_len() <= room {
                options = with_sack;
            }
        }
        let with_ack = flags.ack();
        let window = if flags.rst() {
            0
        } else {
            self.advertise_window(syn)
        };
        let repr = TcpRepr {
            src_port: self.local.port(),
            dst_port: self.remote.port(),
            seq: seq.0,
            ack: if with_ack { self.rcv_nxt.0 } else { 0 },
            flags,
            window,
            urgent: 0,
            options,
            payload: &[],
        };
        // The checksum (RFC 9293 §3.1) comes from running sums: the
        // header's from its fields, the payload's taken while it is copied
        // in, so no byte of the segment is read back.
        let (hl, mut header_sum) = repr.emit_header_sum(buf);
        if let Some(up) = self.snd_up {
            // RFC 9293 §3.8.5: URG on the segments before SND.UP, the
            // pointer the offset of the octet after the urgent data
            // (beyond 65 535, the most it can say, as Linux). Urgent mode
            // ends once SND.UP is acknowledged.
            if seq.lt(up) {
                if !flags.syn() && !flags.rst() {
                    let ptr = up.since(seq).min(0xFFFF) as u16;
                    header_sum += ustack_wire::tcp::set_urgent(&mut buf[..hl], ptr);
                }
            } else if up.le(self.snd_una) {
                self.snd_up = None;
            }
        }
        let (copied, payload_sum) = if len == 0 {
            (0, 0)
        } else {
            self.tx
                .read_at_accumulate(offset, &mut buf[hl..hl + len], 0)
        };
        debug_assert_eq!(copied, len);
        let (src, dst) = (self.local.ip(), self.remote.ip());
        if copied == len {
            ustack_wire::tcp::finish_checksum(
                &mut buf[..hl + len],
                header_sum,
                payload_sum,
                src,
                dst,
            );
        } else {
            // Cannot happen (callers stay within `tx`); sum what is there.
            ustack_wire::tcp::fill_checksum(&mut buf[..hl + len], src, dst);
        }
        if with_ack {
            self.ack_now = false;
            self.delack_deadline = None;
            self.unacked_bytes = 0;
            self.ack_pushed = false;
            self.last_ack_sent = self.rcv_nxt;
        }
        self.counters.segments_out += 1;
        self.counters.bytes_out += len as u64;
        tracing::trace!(local = %self.local, remote = %self.remote, seq = seq.0, ack = repr.ack, %flags, len, "tcp out");
        hl + len
    }

    // ------------------------------------------------------------------
    // Application calls
    // ------------------------------------------------------------------

    /// SO_ERROR: the pending error, once.
    pub fn take_error_pub(&mut self) -> Option<io::Error> {
        self.take_error()
    }

    /// SO_SNDBUF: never below what is queued. The size is the
    /// application's from now on (Linux's SOCK_SNDBUF_LOCK): no
    /// auto-tuning.
    pub fn set_send_buffer(&mut self, n: usize) {
        self.snd_buf_max = 0;
        self.tx.set_capacity(n.max(self.tx.len()).max(1));
        let bytes = self.send_buffer_bytes();
        self.cc.set_send_buffer(bytes);
    }

    /// SO_RCVBUF: takes full effect before the handshake (window scale is
    /// chosen from it); afterwards it can grow the buffer only.
    pub fn set_recv_buffer(&mut self, n: usize) {
        let n = n.max(1);
        // The size is the application's from now on (Linux's
        // SOCK_RCVBUF_LOCK): no auto-tuning.
        self.rcv_tune.stop();
        if self.state == TcpState::SynSent && self.snd_nxt == self.iss {
            self.rx.set_capacity(n);
            if self.offer_wscale {
                self.rcv_wscale = wscale_for(n);
            }
        } else if n > self.rx.capacity() {
            // The window can only be scaled as negotiated.
            let cap = (65535usize << self.rcv_wscale).max(self.rx.capacity());
            self.rx.set_capacity(n.min(cap));
        }
    }

    /// TCP_CONGESTION: switches the controller. Like Linux
    /// (`tcp_reinit_congestion_control`), the window and threshold carry
    /// over once data has been sent; the new controller's own state
    /// (CUBIC's curve) starts afresh.
    pub fn set_congestion(&mut self, kind: CongestionKind, cfg: &TcpConfig) {
        if self.cc.kind() == kind {
            return;
        }
        let (cwnd, ssthresh) = (self.cc.cwnd(), self.cc.ssthresh());
        self.cc = Controller::new(
            kind,
            self.smss as u32,
            cfg.initial_window,
            cfg.hystart,
            cfg.hystart_ack_train,
        );
        if self.snd_max.since(self.iss) > 1 {
            self.cc.restore(cwnd, ssthresh);
        }
        let bytes = self.send_buffer_ceiling();
        self.cc.set_send_buffer(bytes);
    }

    pub fn congestion(&self) -> CongestionKind {
        self.cc.kind()
    }

    /// (snd_wscale, rcv_wscale).
    pub fn wscales(&self) -> (u8, u8) {
        (self.snd_wscale, self.rcv_wscale)
    }

    pub fn send_buffer(&self) -> usize {
        self.tx.capacity()
    }

    pub fn recv_buffer(&self) -> usize {
        self.rx.capacity()
    }

    /// Auto-tuning's last measured reading rate (bytes per round trip) and
    /// the receiver's RTT estimate.
    pub fn rcv_tuning(&self) -> (u32, Option<Duration>) {
        (self.rcv_tune.space(), self.rcv_tune.rtt())
    }

    fn take_error(&mut self) -> Option<io::Error> {
        if self.error_reported {
            return None;
        }
        let e = self.error?;
        self.error_reported = true;
        Some(io::Error::from(e))
    }

    pub fn send(&mut self, data: &[u8]) -> io::Result<usize> {
        if let Some(e) = self.take_error() {
            return Err(e);
        }
        if self.fin_queued {
            return Err(io::Error::new(
                io::ErrorKind::BrokenPipe,
                "socket is shut down for writing",
            ));
        }
        match self.state {
            TcpState::SynSent
            | TcpState::SynReceived
            | TcpState::Established
            | TcpState::CloseWait => {}
            _ => {
                return Err(io::Error::new(
                    io::ErrorKind::BrokenPipe,
                    "connection is closed",
                ))
            }
        }
        if data.is_empty() {
            return Ok(0);
        }
        let n = self.tx.enqueue(data);
        // A writer left waiting (Linux's SOCK_NOSPACE): ACKs that free
        // room check whether the buffer should grow (`on_send_space`).
        self.snd_nospace = n < data.len();
        if n == 0 {
            return Err(io::ErrorKind::WouldBlock.into());
        }
        Ok(n)
    }

    /// Returns Ok(n) with the bytes read.
    pub fn recv(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if !self.rx.is_empty() && !buf.is_empty() {
            let n = self.rx.dequeue(buf);
            if self.rcv_up.is_some() && self.urgent_pending() == 0 {
                self.rcv_up = None;
            }
            if self.rx.is_empty() {
                // RFC 1122 §4.2.3.2 lets an ACK go before the delay ends.
                // The reader drained the end of a write: the sender may be
                // waiting for this ACK (window-bound), and no more data is
                // due soon to trigger it; so it goes now, unless a reply
                // will carry it (interactive use). As Linux.
                if self.ack_pushed && self.delack_deadline.is_some() && !self.pingpong {
                    self.ack_now = true;
                }
                if self.ooo.is_empty() && self.rx.allocated() <= SMALL_BUFFER {
                    self.rx.shrink_if_empty();
                }
            }
            return Ok(n);
        }
        self.recv_nothing(buf.is_empty())
    }

    /// MSG_PEEK: copies what `recv` would return, leaving it queued.
    pub fn peek(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if !self.rx.is_empty() && !buf.is_empty() {
            return Ok(self.rx.read_at(0, buf));
        }
        self.recv_nothing(buf.is_empty())
    }

    /// What a read finds when no data is queued: end of stream, the
    /// pending error, or WouldBlock.
    fn recv_nothing(&mut self, empty_buf: bool) -> io::Result<usize> {
        if empty_buf {
            return Ok(0);
        }
        if let Some(e) = self.take_error() {
            return Err(e);
        }
        if self.fin_received || self.rd_shut {
            return Ok(0);
        }
        match self.state {
            TcpState::Closed
            | TcpState::TimeWait
            | TcpState::Closing
            | TcpState::LastAck
            | TcpState::CloseWait => Ok(0),
            _ => Err(io::ErrorKind::WouldBlock.into()),
        }
    }

    /// The application is done writing (shutdown(Write) / close): RFC 9293
    /// §3.10.4 CLOSE.
    pub fn shutdown_write(&mut self) {
        if self.fin_queued {
            return;
        }
        self.fin_queued = true;
        match self.state {
            TcpState::Established => self.set_state(TcpState::FinWait1),
            TcpState::CloseWait => self.set_state(TcpState::LastAck),
            // SYN-SENT / SYN-RECEIVED: queue until ESTABLISHED.
            _ => {}
        }
    }

    /// shutdown(Read): data already queued can still be read (as on
    /// Linux); data arriving later is acknowledged and discarded.
    pub fn shutdown_read(&mut self) {
        self.rd_shut = true;
    }

    /// close(): graceful unless unread data is pending (then RST, as Linux)
    /// or SO_LINGER is zero. Returns true if the connection can be freed
    /// at once.
    pub fn close(&mut self, now: Instant) -> bool {
        self.orphaned = true;
        if self.linger == Some(Duration::ZERO) {
            // SO_LINGER zero (Linux's tcp_close → tcp_disconnect): RFC 9293
            // §3.10.5 ABORT. Queued data is discarded, a synchronized peer
            // gets a RST, and there is no TIME-WAIT.
            self.abort();
            return self.state == TcpState::Closed;
        }
        match self.state {
            TcpState::Closed => true,
            TcpState::SynSent if self.tx.is_empty() => {
                self.close_now(None);
                true
            }
            // Data was queued before the handshake finished: deliver it
            // and close after (no byte is lost silently).
            TcpState::SynSent => {
                self.shutdown_write();
                false
            }
            TcpState::TimeWait => false,
            _ => {
                if !self.rx.is_empty() && self.state.is_synchronized() {
                    // Linux (tcp_close): unread data → send RST, not FIN.
                    self.abort();
                    return false;
                }
                self.shutdown_write();
                if self.state == TcpState::FinWait2 {
                    self.finwait2_deadline = Some(now + self.cfg_fin_timeout);
                }
                false
            }
        }
    }

    /// ABORT (RFC 9293 §3.10.5): RST if synchronized, then CLOSED.
    pub fn abort(&mut self) {
        match self.state {
            TcpState::SynReceived
            | TcpState::Established
            | TcpState::FinWait1
            | TcpState::FinWait2
            | TcpState::CloseWait => {
                self.rst_pending = true;
            }
            _ => self.close_now(None),
        }
    }

    /// ICMP destination unreachable for this connection (RFC 5927 checks
    /// done by the caller): hard error in SYN-SENT, else remembered.
    pub fn on_icmp_unreachable(
        &mut self,
        hard: bool,
        kind: io::ErrorKind,
        quoted_seq: u32,
    ) -> bool {
        if !self.quotes_in_flight(quoted_seq) {
            return false;
        }
        if hard && self.state == TcpState::SynSent {
            self.close_now(Some(kind));
        } else if self.error.is_none() && self.state == TcpState::SynSent {
            // Soft error: reported if the connection later times out.
            self.soft_error = Some(kind);
        }
        true
    }

    /// An ICMP "fragmentation needed and DF set" about one of our
    /// segments (RFC 1191 §6.4, RFC 1122 §4.2.3.9), reporting `mtu` as the
    /// next hop's MTU. None when the quoted segment is not in flight
    /// (RFC 5927 §4.1: ignored); else the new path MTU if the estimate
    /// fell.
    pub fn on_icmp_frag_needed(&mut self, mtu: usize, quoted_seq: u32) -> Option<Option<PathMtu>> {
        if !self.quotes_in_flight(quoted_seq) {
            return None;
        }
        self.probe_on_too_big(mtu);
        let lowered = self.lower_path_mtu(mtu);
        if lowered.is_some() {
            self.counters.pmtu_reductions += 1;
        }
        Some(lowered)
    }

    /// RFC 5927 §4.1: an ICMP error is believed only if the sequence
    /// number it quotes is in flight.
    fn quotes_in_flight(&self, quoted_seq: u32) -> bool {
        let s = Seq(quoted_seq);
        s.ge(self.snd_una) && s.lt(self.snd_max.max(self.snd_una + 1u32))
    }

    fn lower_path_mtu(&mut self, mtu: usize) -> Option<PathMtu> {
        let path = if self.local.is_ipv6() {
            // RFC 8201 §4: never below IPv6's minimum MTU; no DF to clear.
            PathMtu::link(mtu.max(MIN_PMTU_V6))
        } else if mtu < MIN_PMTU {
            PathMtu::new(MIN_PMTU, false)
        } else {
            PathMtu::link(mtu)
        };
        // RFC 1191 §3: a Datagram Too Big message never raises the
        // estimate. (At the floor, DF may still have to be cleared.)
        if path.mtu > self.path.mtu || (path.mtu == self.path.mtu && path.df >= self.path.df) {
            return None;
        }
        self.path = path;
        let old = self.smss;
        self.update_smss();
        if self.smss < old {
            // RFC 1191 §6.4, as Linux's tcp_simple_retransmit: the
            // segments too large for the path were dropped and are resent
            // at once, in pieces (send_data splits them). Not a congestion
            // signal: cwnd and ssthresh stay.
            for i in 0..self.rtxq.len() {
                let Some(r) = self.rtxq.get(i).copied() else {
                    break;
                };
                let fin = self.fin_seq.is_some_and(|f| r.end == f + 1u32);
                if r.len() as usize - usize::from(fin) > self.smss {
                    self.rtxq.mark_lost(i);
                }
            }
        }
        Some(path)
    }

    pub fn rcv_nxt(&self) -> Seq {
        self.rcv_nxt
    }
}

#[cfg(test)]
mod flow_label_tests {
    use super::next_flow_label;

    #[test]
    fn the_next_flow_label_is_another_non_zero_20_bit_value() {
        let mut seen = vec![false; 1 << 20];
        for l in 1..=0xF_FFFFu32 {
            let n = next_flow_label(l);
            assert!(n != 0 && n != l && n <= 0xF_FFFF, "{l:#x} -> {n:#x}");
            seen[n as usize] = true;
        }
        // Spread over the values, not stuck in a few.
        let hit = seen.iter().filter(|&&b| b).count();
        assert!(hit > 1 << 19, "{hit}");
    }
}
