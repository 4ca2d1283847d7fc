//! Send-buffer auto-tuning, as Linux's `tcp_sndbuf_expand`: a connection's
//! send buffer starts small (`TcpConfig::send_buffer`, Linux's
//! `tcp_wmem[1]`), is sized for twice the initial window once the
//! handshake completes, and grows to twice the congestion window whenever
//! a writer waits for room that the buffer, not the network, withholds,
//! up to `TcpConfig::send_buffer_max` (`tcp_wmem[2]`, 4 MiB). It never
//! shrinks. SO_SNDBUF fixes it (Linux's `SOCK_SNDBUF_LOCK`).
//!
//! The factor 2 is Linux's: fast recovery (RFC 5681 §3.2) keeps up to
//! about 1.7 windows unacknowledged, plus a cushion for an application
//! slow to refill. Linux counts the buffer in memory charged per segment
//! (`truesize`), not in payload; ustack's ring holds payload only, so it
//! uses the same per-segment charge and thereby offers an application the
//! room it would have on Linux: `SO_SNDBUF` reads the same figures
//! (measured on Linux 6.18 with CUBIC: 46 080 bytes after the handshake
//! at MSS 536 and 1 460, 92 160 once cwnd is 20 segments, 2 626 560 at
//! loopback's MSS 65 483).

/// RFC 6928's initial window in segments (Linux's `TCP_INIT_CWND`): the
/// least the buffer is sized for.
const INIT_CWND: usize = 10;

/// Headroom Linux reserves with each segment's payload: the largest
/// protocol headers (`MAX_TCP_HEADER`) and the aligned
/// `skb_shared_info` (256 + 320 bytes on x86-64 Linux 6.18 as measured;
/// kernels built with larger link-layer headers reserve up to 640).
const SEGMENT_HEADROOM: usize = 576;

/// The aligned `struct sk_buff` that each segment also costs.
const SKB_OVERHEAD: usize = 256;

/// Linux's per-segment memory for a sender whose segments carry up to
/// `mss` bytes: the worst case without segmentation offload, one
/// power-of-two allocation per segment.
pub(crate) fn per_segment(mss: usize) -> usize {
    (mss + SEGMENT_HEADROOM).next_power_of_two() + SKB_OVERHEAD
}

/// The send buffer Linux's `tcp_sndbuf_expand` asks for: twice the
/// larger of the initial window and `cwnd_segments`, at `per_segment`
/// bytes each. (Linux also counts its reordering degree + 1, a third
/// bound that the initial window's 10 already covers at its default of 3.)
pub(crate) fn target(mss: usize, cwnd_segments: usize) -> usize {
    2usize
        .saturating_mul(cwnd_segments.max(INIT_CWND))
        .saturating_mul(per_segment(mss))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_match_linux_figures() {
        // SO_SNDBUF of fresh CUBIC connections on Linux 6.18 (python3,
        // TCP_MAXSEG 536 and 1460, and loopback's MSS 65483).
        assert_eq!(target(536, 10), 46_080);
        assert_eq!(target(1460, 10), 46_080);
        assert_eq!(target(65_483, 10), 2_626_560);
        // After a bulk transfer whose cwnd reached 20 segments.
        assert_eq!(target(1460, 20), 92_160);
    }

    #[test]
    fn initial_window_is_the_floor_and_growth_is_linear() {
        assert_eq!(target(1460, 0), target(1460, 10));
        assert_eq!(target(1460, 3), target(1460, 10));
        assert_eq!(target(1460, 100), 10 * target(1460, 10));
        assert_eq!(per_segment(1448), 2304);
        assert_eq!(per_segment(1473), 4352);
        // Absurd windows saturate instead of wrapping.
        assert_eq!(target(1460, usize::MAX), usize::MAX);
    }
}
