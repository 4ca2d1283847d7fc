//! Scripted-peer harness: one `Stack` under test at 198.18.0.1/24; the test
//! plays the peer at 198.18.0.2 by hand, crafting every IPv4+TCP segment
//! and checking every segment the stack emits. Time is virtual: the test
//! moves `now` forward and fires timers explicitly.
#![allow(dead_code)]

use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;
use ustack::wire::ipv4::{self, Ipv4Packet, Ipv4Repr};
use ustack::wire::tcp::{TcpFlags, TcpOptions, TcpPacket, TcpRepr};
use ustack::{Cidr, Config, DropReason, Instant, SocketHandle, Stack, TcpState};

/// Address of the stack under test.
pub const STACK_IP: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 1);
/// Address the test (the scripted peer) sends from.
pub const PEER_IP: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 2);
/// Port the stack listens on (passive open) or connects from (active open).
pub const STACK_PORT: u16 = 80;
/// Port of the scripted peer.
pub const PEER_PORT: u16 = 40000;
/// The peer's initial sequence number.
pub const PEER_ISS: u32 = 1_000_000;
/// MSS the stack announces: MTU 1500 - 40.
pub const STACK_MSS: u16 = 1460;

pub const SYN: TcpFlags = TcpFlags::SYN;
pub const ACK: TcpFlags = TcpFlags::ACK;
pub const FIN: TcpFlags = TcpFlags::FIN;
pub const RST: TcpFlags = TcpFlags::RST;
pub const PSH: TcpFlags = TcpFlags::PSH;

pub fn flags(parts: &[TcpFlags]) -> TcpFlags {
    parts.iter().fold(TcpFlags::empty(), |a, b| a | *b)
}

pub fn no_opts() -> TcpOptions {
    TcpOptions::default()
}

pub fn mss_opt(mss: u16) -> TcpOptions {
    TcpOptions {
        mss: Some(mss),
        ..TcpOptions::default()
    }
}

pub fn ts_opt(tsval: u32, tsecr: u32) -> TcpOptions {
    TcpOptions {
        timestamp: Some((tsval, tsecr)),
        ..TcpOptions::default()
    }
}

/// A segment the stack emitted, parsed (checksums already verified).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Seg {
    pub src_port: u16,
    pub dst_port: u16,
    pub seq: u32,
    pub ack: u32,
    pub flags: TcpFlags,
    pub window: u16,
    pub options: TcpOptions,
    pub payload: Vec<u8>,
    /// The IP header's time to live.
    pub ttl: u8,
    /// The urgent pointer field.
    pub urgent: u16,
    /// The IP header's DS field (IP_TOS).
    pub tos: u8,
}

impl Seg {
    /// Flags without PSH (PSH is advisory; tests ignore it).
    pub fn flags_np(&self) -> TcpFlags {
        TcpFlags(self.flags.0 & !TcpFlags::PSH.0)
    }
    /// Sequence space the segment occupies (SYN + data + FIN).
    pub fn seg_len(&self) -> u32 {
        self.payload.len() as u32 + u32::from(self.flags.syn()) + u32::from(self.flags.fin())
    }
    /// Asserts flags (PSH ignored), SEQ and ACK. The ACK field is only
    /// compared when the ACK flag is expected.
    #[track_caller]
    pub fn check(&self, flags: TcpFlags, seq: u32, ack: u32) -> &Self {
        assert_eq!(
            self.flags_np(),
            flags,
            "flags (PSH ignored) of {self:?}: expected {flags:?}"
        );
        assert_eq!(self.seq, seq, "SEQ of {self:?}");
        if flags.ack() {
            assert_eq!(self.ack, ack, "ACK field of {self:?}");
        }
        self
    }
    /// `check` plus: no payload.
    #[track_caller]
    pub fn check_empty(&self, flags: TcpFlags, seq: u32, ack: u32) -> &Self {
        self.check(flags, seq, ack);
        assert!(self.payload.is_empty(), "unexpected payload in {self:?}");
        self
    }
}

/// The stack under test plus a virtual clock.
pub struct Harness {
    pub stack: Stack,
    pub now: Instant,
    /// Stack-side port used by `inject`/`expect_segment` checks.
    pub stack_port: u16,
    /// Peer-side port used by `inject`.
    pub peer_port: u16,
    /// The urgent pointer field of the next injected segment (then 0).
    pub next_urgent: u16,
    buf: Vec<u8>,
}

/// A connection as both ends see it.
#[derive(Debug, Clone, Copy)]
pub struct Conn {
    pub h: SocketHandle,
    /// The stack's ISS.
    pub iss: u32,
    /// The peer's ISS (the stack's IRS).
    pub irs: u32,
}

impl Conn {
    /// The stack's sequence number `off` bytes after its SYN.
    pub fn s(&self, off: u32) -> u32 {
        self.iss.wrapping_add(1).wrapping_add(off)
    }
    /// The peer's sequence number `off` bytes after its SYN.
    pub fn p(&self, off: u32) -> u32 {
        self.irs.wrapping_add(1).wrapping_add(off)
    }
}

/// Config with timestamps and window scaling off (plain segments).
pub fn simple_config() -> Config {
    let mut c = Config::default();
    c.addresses.push(
        format!("{STACK_IP}/24")
            .parse::<Cidr>()
            .expect("valid cidr"),
    );
    c.seed = 7;
    c.tcp.timestamps = false;
    c.tcp.window_scaling = false;
    c
}

impl Default for Harness {
    fn default() -> Self {
        Harness::new()
    }
}

impl Harness {
    /// Simple config: no timestamps, no window scaling.
    pub fn new() -> Harness {
        Harness::from_config(simple_config())
    }

    /// Simple config, adjusted by `f`.
    pub fn with(f: impl FnOnce(&mut Config)) -> Harness {
        let mut c = simple_config();
        f(&mut c);
        Harness::from_config(c)
    }

    /// Default stack config (timestamps and window scaling on), adjusted by `f`.
    pub fn with_defaults(f: impl FnOnce(&mut Config)) -> Harness {
        let mut c = simple_config();
        let d = Config::default();
        c.tcp.timestamps = d.tcp.timestamps;
        c.tcp.window_scaling = d.tcp.window_scaling;
        f(&mut c);
        Harness::from_config(c)
    }

    pub fn from_config(c: Config) -> Harness {
        Harness {
            stack: Stack::new(c).expect("stack"),
            now: Instant::from_secs(100),
            stack_port: STACK_PORT,
            peer_port: PEER_PORT,
            next_urgent: 0,
            buf: vec![0u8; 65536],
        }
    }

    pub fn stack_addr(&self) -> SocketAddr {
        SocketAddr::new(IpAddr::V4(STACK_IP), self.stack_port)
    }

    pub fn peer_addr(&self) -> SocketAddr {
        SocketAddr::new(IpAddr::V4(PEER_IP), self.peer_port)
    }

    // ------------------------------------------------------------------
    // Time
    // ------------------------------------------------------------------

    /// Moves the clock forward by `d` and fires due timers.
    pub fn advance(&mut self, d: Duration) {
        let t = self.now + d;
        self.advance_to(t);
    }

    pub fn advance_ms(&mut self, ms: u64) {
        self.advance(Duration::from_millis(ms));
    }

    /// Moves the clock to `t` (not backwards) and fires due timers.
    pub fn advance_to(&mut self, t: Instant) {
        assert!(t >= self.now, "time goes forward only");
        self.now = t;
        self.stack.handle_timeout(t);
    }

    /// The stack's next deadline.
    pub fn poll_at(&self) -> Option<Instant> {
        self.stack.poll_at()
    }

    // ------------------------------------------------------------------
    // Input
    // ------------------------------------------------------------------

    /// Sends one segment from the peer (PEER_IP:peer_port) to the stack
    /// (STACK_IP:stack_port) at the current time.
    pub fn inject(
        &mut self,
        seq: u32,
        ack: u32,
        flags: TcpFlags,
        window: u16,
        options: TcpOptions,
        payload: &[u8],
    ) {
        let (sp, dp) = (self.peer_port, self.stack_port);
        self.inject_ports(sp, dp, seq, ack, flags, window, options, payload);
    }

    /// Like `inject` with explicit ports.
    #[allow(clippy::too_many_arguments)]
    pub fn inject_ports(
        &mut self,
        src_port: u16,
        dst_port: u16,
        seq: u32,
        ack: u32,
        flags: TcpFlags,
        window: u16,
        options: TcpOptions,
        payload: &[u8],
    ) {
        let repr = TcpRepr {
            src_port,
            dst_port,
            seq,
            ack,
            flags,
            window,
            urgent: std::mem::take(&mut self.next_urgent),
            options,
            payload,
        };
        let tcp_len = repr.header_len() + payload.len();
        let mut pkt = vec![0u8; ipv4::HEADER_LEN + tcp_len];
        Ipv4Repr {
            src: PEER_IP,
            dst: STACK_IP,
            protocol: ipv4::PROTO_TCP,
            payload_len: tcp_len,
            ttl: 64,
            ident: 1,
            dont_frag: true,
            more_frags: false,
            frag_offset: 0,
            dscp_ecn: 0,
        }
        .emit(&mut pkt[..ipv4::HEADER_LEN]);
        let n = repr.emit(
            &mut pkt[ipv4::HEADER_LEN..],
            IpAddr::V4(PEER_IP),
            IpAddr::V4(STACK_IP),
        );
        assert_eq!(n, tcp_len);
        self.stack.receive(self.now, &pkt);
    }

    // ------------------------------------------------------------------
    // Output
    // ------------------------------------------------------------------

    /// The next packet the stack emits now, parsed; None if none.
    pub fn poll_segment(&mut self) -> Option<Seg> {
        let n = self.stack.poll_transmit(self.now, &mut self.buf)?;
        let data = &self.buf[..n];
        let ip = Ipv4Packet::new_checked(data).expect("stack emitted a valid IPv4 packet");
        assert!(ip.verify_checksum(), "IPv4 header checksum");
        assert_eq!(ip.src_addr(), STACK_IP, "IP source");
        assert_eq!(ip.dst_addr(), PEER_IP, "IP destination");
        assert_eq!(ip.protocol(), ipv4::PROTO_TCP, "IP protocol");
        let ip_repr = Ipv4Repr::parse(&ip).expect("IPv4 repr");
        assert!(
            !ip_repr.more_frags && ip_repr.frag_offset == 0,
            "not fragmented"
        );
        let tcp = TcpPacket::new_checked(ip.payload()).expect("valid TCP segment");
        assert!(
            tcp.verify_checksum(IpAddr::V4(STACK_IP), IpAddr::V4(PEER_IP)),
            "TCP checksum"
        );
        let r = TcpRepr::parse(&tcp).expect("TCP repr");
        Some(Seg {
            src_port: r.src_port,
            dst_port: r.dst_port,
            seq: r.seq,
            ack: r.ack,
            flags: r.flags,
            window: r.window,
            options: r.options,
            payload: r.payload.to_vec(),
            ttl: ip_repr.ttl,
            urgent: r.urgent,
            tos: ip_repr.dscp_ecn,
        })
    }

    /// The next segment the stack emits now; panics if there is none, or
    /// if it is not between the connection's ports.
    #[track_caller]
    pub fn expect_segment(&mut self) -> Seg {
        let s = self
            .poll_segment()
            .unwrap_or_else(|| panic!("expected a segment at {:?}, stack sent nothing", self.now));
        assert_eq!(
            (s.src_port, s.dst_port),
            (self.stack_port, self.peer_port),
            "ports of {s:?}"
        );
        s
    }

    /// Like `expect_segment` without the port check.
    #[track_caller]
    pub fn expect_any_segment(&mut self) -> Seg {
        self.poll_segment()
            .unwrap_or_else(|| panic!("expected a segment at {:?}, stack sent nothing", self.now))
    }

    /// Asserts the stack has nothing to send now.
    #[track_caller]
    pub fn expect_nothing(&mut self) {
        if let Some(s) = self.poll_segment() {
            panic!("expected no segment at {:?}, stack sent {s:?}", self.now);
        }
    }

    /// Advances through the stack's timers (never past `deadline`) until it
    /// emits a segment; panics if nothing is emitted by `deadline`.
    #[track_caller]
    pub fn expect_segment_by(&mut self, deadline: Instant) -> Seg {
        loop {
            if let Some(s) = self.poll_segment() {
                assert_eq!(
                    (s.src_port, s.dst_port),
                    (self.stack_port, self.peer_port),
                    "ports of {s:?}"
                );
                return s;
            }
            match self.poll_at() {
                Some(t) if t > self.now && t <= deadline => self.advance_to(t),
                _ => panic!(
                    "expected a segment by {deadline:?}; nothing by {:?} (poll_at {:?})",
                    self.now,
                    self.poll_at()
                ),
            }
        }
    }

    /// Walks the stack's wake-ups up to `t` (stale early wake-ups are
    /// allowed) asserting nothing is sent before `t`, then asserts a
    /// segment is sent exactly at `t` and returns it. Fails if the stack
    /// asks to be woken later than `t`.
    #[track_caller]
    pub fn expect_segment_at(&mut self, t: Instant) -> Seg {
        loop {
            self.expect_nothing();
            let at = self
                .poll_at()
                .unwrap_or_else(|| panic!("no timer armed; expected a segment at {t:?}"));
            assert!(at > self.now, "poll_at {at:?} not after now {:?}", self.now);
            assert!(
                at <= t,
                "next wake-up {at:?} is later than the expected segment at {t:?}"
            );
            self.advance_to(at);
            if at == t {
                return self.expect_segment();
            }
        }
    }

    /// Drains everything the stack wants to send now.
    pub fn drain(&mut self) -> Vec<Seg> {
        let mut v = Vec::new();
        while let Some(s) = self.poll_segment() {
            v.push(s);
        }
        v
    }

    // ------------------------------------------------------------------
    // Introspection
    // ------------------------------------------------------------------

    pub fn drops(&self, r: DropReason) -> u64 {
        self.stack.counters().drops(r)
    }

    #[track_caller]
    pub fn state(&self, h: SocketHandle) -> TcpState {
        self.stack.tcp_state(h).expect("tcp_state")
    }

    /// Reads everything readable now.
    pub fn read_all(&mut self, h: SocketHandle) -> io::Result<Vec<u8>> {
        let mut out = Vec::new();
        let mut buf = [0u8; 8192];
        loop {
            match self.stack.tcp_recv(h, &mut buf) {
                Ok(0) => return Ok(out),
                Ok(n) => out.extend_from_slice(&buf[..n]),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(out),
                Err(e) => return Err(e),
            }
        }
    }

    /// The error kind `tcp_recv` reports now (panics on Ok).
    #[track_caller]
    pub fn recv_error(&mut self, h: SocketHandle) -> io::ErrorKind {
        let mut buf = [0u8; 64];
        match self.stack.tcp_recv(h, &mut buf) {
            Ok(n) => panic!("expected an error from tcp_recv, got Ok({n})"),
            Err(e) => e.kind(),
        }
    }

    // ------------------------------------------------------------------
    // Scripted openings
    // ------------------------------------------------------------------

    pub fn listen(&mut self, backlog: usize) -> SocketHandle {
        let a = self.stack_addr();
        self.stack.tcp_listen(a, backlog).expect("tcp_listen")
    }

    /// Peer SYN (MSS 1460, given window) to a listener; returns the stack's
    /// SYN-ACK after checking it.
    #[track_caller]
    pub fn peer_syn(&mut self, window: u16, options: TcpOptions) -> Seg {
        self.inject(PEER_ISS, 0, SYN, window, options, &[]);
        let sa = self.expect_segment();
        sa.check_empty(SYN | ACK, sa.seq, PEER_ISS.wrapping_add(1));
        sa
    }

    /// Passive open on a fresh listener: SYN → SYN-ACK → ACK, accept.
    /// The peer announces MSS 1460 and `window` (in the SYN and the ACK).
    #[track_caller]
    pub fn passive_open_window(&mut self, window: u16) -> (SocketHandle, Conn) {
        self.passive_open_with(window, mss_opt(1460))
    }

    /// Passive open as [`Harness::passive_open_window`], the peer's SYN
    /// carrying `options`.
    #[track_caller]
    pub fn passive_open_with(&mut self, window: u16, options: TcpOptions) -> (SocketHandle, Conn) {
        let l = self.listen(16);
        let sa = self.peer_syn(window, options);
        let c = self.complete_passive(l, &sa, window);
        (l, c)
    }

    /// Completes the passive open whose SYN-ACK was `sa`: the peer's ACK
    /// (announcing `window`, no options), then the listener `l` accepts.
    #[track_caller]
    pub fn complete_passive(&mut self, l: SocketHandle, sa: &Seg, window: u16) -> Conn {
        self.inject(
            PEER_ISS + 1,
            sa.seq.wrapping_add(1),
            ACK,
            window,
            no_opts(),
            &[],
        );
        self.expect_nothing();
        let (h, remote) = self.stack.tcp_accept(l).expect("accept after handshake");
        assert_eq!(remote, self.peer_addr());
        assert_eq!(self.state(h), TcpState::Established);
        Conn {
            h,
            iss: sa.seq,
            irs: PEER_ISS,
        }
    }

    /// Passive open with a 65535-byte peer window.
    #[track_caller]
    pub fn passive_open(&mut self) -> (SocketHandle, Conn) {
        self.passive_open_window(65535)
    }

    /// Active open from STACK_IP:STACK_PORT to the peer; the peer answers
    /// the SYN after `rtt`. Returns once ESTABLISHED (the stack's ACK of
    /// the SYN-ACK is checked and consumed).
    #[track_caller]
    pub fn active_open_rtt(&mut self, rtt: Duration) -> Conn {
        let (r, l) = (self.peer_addr(), self.stack_addr());
        let h = self.stack.tcp_connect(r, Some(l)).expect("tcp_connect");
        let syn = self.expect_segment();
        assert_eq!(syn.flags_np(), SYN);
        let iss = syn.seq;
        self.advance(rtt);
        self.inject(
            PEER_ISS,
            iss.wrapping_add(1),
            SYN | ACK,
            65535,
            mss_opt(1460),
            &[],
        );
        let a = self.expect_segment();
        a.check_empty(ACK, iss.wrapping_add(1), PEER_ISS + 1);
        assert_eq!(self.state(h), TcpState::Established);
        Conn {
            h,
            iss,
            irs: PEER_ISS,
        }
    }
}
