//! Counters per stack and per connection.

/// Why a received packet was dropped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum DropReason {
    /// IP header malformed (version, IHL, total length, truncated).
    IpMalformed,
    IpChecksum,
    /// Not addressed to us.
    IpNotForUs,
    /// Source address is broadcast/multicast/unspecified/our own (land).
    IpBadSource,
    /// IPv6 extension headers we refuse (RFC 8200 §4: a hop-by-hop header
    /// not first, an option whose type says discard, a routing header
    /// with segments left, a chain too long).
    Ipv6ExtHeader,
    /// Fragment rejected (overlap with different data, bounds).
    FragInvalid,
    /// Reassembly memory exhausted.
    FragNoMemory,
    /// Fragment timed out before completion.
    FragTimeout,
    TcpMalformed,
    TcpBadOption,
    TcpChecksum,
    /// Segment for no socket (answered with RST when appropriate).
    TcpNoSocket,
    /// Listener's SYN/accept queue full.
    TcpListenOverflow,
    /// Segment not acceptable (outside the window).
    TcpOutOfWindow,
    /// Out-of-order data that did not fit the reassembly bounds.
    TcpOooLimit,
    /// Invalid in the current state (bad flags, bad ACK, ...).
    TcpInvalid,
    /// Old duplicate rejected by PAWS (RFC 7323 §5).
    TcpPaws,
    /// Data that would need buffer memory beyond `max_buffer_bytes`.
    TcpMemoryLimit,
    UdpMalformed,
    UdpChecksum,
    /// No socket on the port (ICMP port unreachable sent).
    UdpNoSocket,
    /// Receive queue full.
    UdpQueueFull,
    IcmpMalformed,
    IcmpChecksum,
    /// ICMP error quoting no known connection, or failing RFC 5927 checks.
    IcmpUnmatched,
    /// Protocol we do not speak (ICMP protocol unreachable sent).
    UnknownProtocol,
}

impl DropReason {
    pub const ALL: [DropReason; 26] = [
        DropReason::IpMalformed,
        DropReason::IpChecksum,
        DropReason::IpNotForUs,
        DropReason::IpBadSource,
        DropReason::Ipv6ExtHeader,
        DropReason::FragInvalid,
        DropReason::FragNoMemory,
        DropReason::FragTimeout,
        DropReason::TcpMalformed,
        DropReason::TcpBadOption,
        DropReason::TcpChecksum,
        DropReason::TcpNoSocket,
        DropReason::TcpListenOverflow,
        DropReason::TcpOutOfWindow,
        DropReason::TcpOooLimit,
        DropReason::TcpInvalid,
        DropReason::TcpPaws,
        DropReason::TcpMemoryLimit,
        DropReason::UdpMalformed,
        DropReason::UdpChecksum,
        DropReason::UdpNoSocket,
        DropReason::UdpQueueFull,
        DropReason::IcmpMalformed,
        DropReason::IcmpChecksum,
        DropReason::IcmpUnmatched,
        DropReason::UnknownProtocol,
    ];
    pub fn as_str(self) -> &'static str {
        match self {
            DropReason::IpMalformed => "ip_malformed",
            DropReason::IpChecksum => "ip_checksum",
            DropReason::IpNotForUs => "ip_not_for_us",
            DropReason::IpBadSource => "ip_bad_source",
            DropReason::Ipv6ExtHeader => "ipv6_ext_header",
            DropReason::FragInvalid => "frag_invalid",
            DropReason::FragNoMemory => "frag_no_memory",
            DropReason::FragTimeout => "frag_timeout",
            DropReason::TcpMalformed => "tcp_malformed",
            DropReason::TcpBadOption => "tcp_bad_option",
            DropReason::TcpChecksum => "tcp_checksum",
            DropReason::TcpNoSocket => "tcp_no_socket",
            DropReason::TcpListenOverflow => "tcp_listen_overflow",
            DropReason::TcpOutOfWindow => "tcp_out_of_window",
            DropReason::TcpOooLimit => "tcp_ooo_limit",
            DropReason::TcpInvalid => "tcp_invalid",
            DropReason::TcpPaws => "tcp_paws",
            DropReason::TcpMemoryLimit => "tcp_memory_limit",
            DropReason::UdpMalformed => "udp_malformed",
            DropReason::UdpChecksum => "udp_checksum",
            DropReason::UdpNoSocket => "udp_no_socket",
            DropReason::UdpQueueFull => "udp_queue_full",
            DropReason::IcmpMalformed => "icmp_malformed",
            DropReason::IcmpChecksum => "icmp_checksum",
            DropReason::IcmpUnmatched => "icmp_unmatched",
            DropReason::UnknownProtocol => "unknown_protocol",
        }
    }
}

/// TCP counters, kept per connection and summed per stack.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TcpCounters {
    pub segments_in: u64,
    pub segments_out: u64,
    pub bytes_in: u64,
    pub bytes_out: u64,
    /// Segments retransmitted (any cause).
    pub retransmits: u64,
    /// Fast retransmits (3 duplicate ACKs).
    pub fast_retransmits: u64,
    /// Retransmission timeouts that fired.
    pub timeouts: u64,
    pub dup_acks: u64,
    /// Out-of-order segments received.
    pub ooo_segments: u64,
    /// Duplicate (already received) data segments.
    pub dup_segments: u64,
    pub zero_window_probes: u64,
    /// Tail loss probes sent (RFC 8985 §7).
    pub tail_loss_probes: u64,
    /// MSS reductions by Path MTU black-hole detection
    /// (`TcpConfig::mtu_probing`).
    pub black_hole_reductions: u64,
    /// Path MTU probes sent (RFC 4821 §7), and those that got through and
    /// raised the MSS (Linux's TCPMTUPSuccess; the others failed or are in
    /// flight).
    pub mtu_probes: u64,
    pub mtu_probe_successes: u64,
    /// Congestion windows restarted after an idle period longer than the
    /// RTO (RFC 5681 §4.1, `TcpConfig::slow_start_after_idle`).
    pub idle_restarts: u64,
    /// Receive-buffer growths by auto-tuning (`TcpConfig::recv_buffer_auto`).
    pub recv_buffer_grows: u64,
    /// Send-buffer growths by auto-tuning (`TcpConfig::send_buffer_auto`).
    pub send_buffer_grows: u64,
    /// Retransmission timeouts found spurious and undone (RFC 3522/4015).
    pub spurious_rtos: u64,
    /// D-SACK blocks received (RFC 2883), and fast recoveries undone
    /// because every retransmission was D-SACKed.
    pub dsacks_received: u64,
    pub spurious_recoveries: u64,
    pub rsts_in: u64,
    pub rsts_out: u64,
    /// Path MTU reductions taken from ICMP "fragmentation needed" (RFC
    /// 1191) or Packet Too Big (RFC 8201); black-hole detection's are
    /// `black_hole_reductions`.
    pub pmtu_reductions: u64,
    /// Keepalive probes sent (RFC 9293 §3.8.4).
    pub keepalive_probes: u64,
    /// Segments taken by header prediction (`TcpConfig::header_prediction`):
    /// in-order data of a pure receiver (Linux's TCPHPHits) and pure ACKs
    /// of new data for a pure sender (Linux's TCPHPAcks).
    pub predicted: u64,
    pub predicted_acks: u64,
}

impl TcpCounters {
    pub fn add(&mut self, o: &TcpCounters) {
        self.segments_in += o.segments_in;
        self.segments_out += o.segments_out;
        self.bytes_in += o.bytes_in;
        self.bytes_out += o.bytes_out;
        self.retransmits += o.retransmits;
        self.fast_retransmits += o.fast_retransmits;
        self.timeouts += o.timeouts;
        self.dup_acks += o.dup_acks;
        self.ooo_segments += o.ooo_segments;
        self.dup_segments += o.dup_segments;
        self.zero_window_probes += o.zero_window_probes;
        self.tail_loss_probes += o.tail_loss_probes;
        self.black_hole_reductions += o.black_hole_reductions;
        self.mtu_probes += o.mtu_probes;
        self.mtu_probe_successes += o.mtu_probe_successes;
        self.idle_restarts += o.idle_restarts;
        self.recv_buffer_grows += o.recv_buffer_grows;
        self.send_buffer_grows += o.send_buffer_grows;
        self.spurious_rtos += o.spurious_rtos;
        self.dsacks_received += o.dsacks_received;
        self.spurious_recoveries += o.spurious_recoveries;
        self.rsts_in += o.rsts_in;
        self.rsts_out += o.rsts_out;
        self.pmtu_reductions += o.pmtu_reductions;
        self.keepalive_probes += o.keepalive_probes;
        self.predicted += o.predicted;
        self.predicted_acks += o.predicted_acks;
    }
}

/// Stack-wide counters.
#[derive(Debug, Clone, Default)]
pub struct Counters {
    pub ip_in: u64,
    pub ip_out: u64,
    /// Datagrams to an own address or 127.0.0.0/8, delivered inside the
    /// host instead of sent (each also counts once in `ip_out` and once
    /// in `ip_in`).
    pub ip_looped: u64,
    pub ip_fragments_in: u64,
    pub ip_fragments_out: u64,
    pub ip_reassembled: u64,
    pub icmp_in: u64,
    pub icmp_out: u64,
    pub udp_in: u64,
    pub udp_out: u64,
    /// TCP counters: live connections are added in by `Stack::counters`.
    pub tcp: TcpCounters,
    pub tcp_connections_opened: u64,
    pub tcp_connections_accepted: u64,
    pub tcp_connections_closed: u64,
    /// RFC 5961 challenge ACKs sent, and suppressed by the rate limit.
    pub tcp_challenge_acks: u64,
    pub tcp_challenge_acks_limited: u64,
    /// SYN cookies sent, accepted (connection created) and rejected.
    pub syn_cookies_sent: u64,
    pub syn_cookies_accepted: u64,
    pub syn_cookies_rejected: u64,
    /// ICMP errors not sent because of the rate limit.
    pub icmp_errors_limited: u64,
    drops: [u64; DropReason::ALL.len()],
}

impl Counters {
    pub fn drop(&mut self, reason: DropReason) {
        self.drops[reason as usize] += 1;
    }
    pub fn drops(&self, reason: DropReason) -> u64 {
        self.drops[reason as usize]
    }
    pub fn total_drops(&self) -> u64 {
        self.drops.iter().sum()
    }
    /// Checksum failures at any layer.
    pub fn checksum_drops(&self) -> u64 {
        self.drops(DropReason::IpChecksum)
            + self.drops(DropReason::TcpChecksum)
            + self.drops(DropReason::UdpChecksum)
            + self.drops(DropReason::IcmpChecksum)
    }
    /// (reason, count) for every non-zero drop counter.
    pub fn drop_list(&self) -> Vec<(DropReason, u64)> {
        DropReason::ALL
            .iter()
            .map(|r| (*r, self.drops(*r)))
            .filter(|(_, n)| *n > 0)
            .collect()
    }
}
