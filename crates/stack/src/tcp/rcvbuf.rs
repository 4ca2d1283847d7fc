//! Receive-buffer auto-tuning ("dynamic right-sizing", as Linux's
//! `tcp_rcv_space_adjust` with `net.ipv4.tcp_moderate_rcvbuf`).
//!
//! RFC 9293 §3.8.6 leaves the size of the offered window to the receiver,
//! and RFC 7323 §2.3 lets it exceed 64 KiB. A fixed buffer is either too
//! small for a long fat path or, for a reader slower than the network,
//! lets a whole large buffer of data pile up in memory. So the buffer
//! starts small (`TcpConfig::recv_buffer`) and, once per round trip, grows
//! to what the application actually read in the last round trip, with room
//! for a loss and for a sender still doubling its rate in slow start, up to
//! `TcpConfig::recv_buffer_max`. A reader that falls behind stops the
//! growth. Setting SO_RCVBUF fixes the buffer (Linux's SOCK_RCVBUF_LOCK).
//!
//! The receiver's RTT is measured two ways, as on Linux: the time for one
//! window of data to arrive (never less than a round trip, so only lower
//! samples are taken) and, with timestamps, our clock minus the TSecr of
//! full-sized segments (RFC 7323 §4.1 lets either end measure with them).
use super::seq::Seq;
use crate::time::{Duration, Instant};

/// Growth state of one connection's receive buffer.
#[derive(Debug, Clone)]
pub(crate) struct RcvTuner {
    /// The size the buffer may grow to; 0: fixed (auto-tuning off, the
    /// application set SO_RCVBUF, or the ceiling was reached).
    max: u32,
    /// Bytes the application read in the last measured round trip
    /// (Linux's `rcvq_space.space`, `tcpi_rcv_space`).
    space: u32,
    /// Read sequence number and time at the start of the current
    /// measurement, and when it ends (one receiver RTT later).
    seq: Seq,
    start: Instant,
    due: Instant,
    /// The receiver's RTT estimate in microseconds; 0 before a sample.
    rtt_us: u32,
    /// Window measurement: when the data at `rtt_seq` arrives, a window of
    /// data has come in since `rtt_time` (None: none started).
    rtt_seq: Seq,
    rtt_time: Option<Instant>,
    /// TSecr of the last timestamp sample (one sample per echoed value).
    last_tsecr: u32,
}

/// Initial window in segments (RFC 6928): the first round trip's data.
const INITIAL_SEGMENTS: u32 = 10;
/// Segments of cushion added to the growth target (Linux's 16 × advmss):
/// small variations in the reading rate must not hold the sender back.
const CUSHION_SEGMENTS: u64 = 16;

impl RcvTuner {
    /// `max`: the ceiling, 0 for a fixed buffer.
    pub fn new(max: usize) -> RcvTuner {
        RcvTuner {
            max: u32::try_from(max).unwrap_or(u32::MAX),
            space: 0,
            seq: Seq(0),
            start: Instant::ZERO,
            due: Instant::MAX,
            rtt_us: 0,
            rtt_seq: Seq(0),
            rtt_time: None,
            last_tsecr: 0,
        }
    }

    #[inline]
    pub fn is_on(&self) -> bool {
        self.max != 0
    }

    /// The buffer is fixed from now on.
    pub fn stop(&mut self) {
        self.max = 0;
    }

    /// The ceiling the buffer may grow to (0: fixed).
    pub fn max(&self) -> usize {
        self.max as usize
    }

    /// Bytes read in the last measured round trip.
    pub fn space(&self) -> u32 {
        self.space
    }

    /// The receiver's RTT estimate.
    pub fn rtt(&self) -> Option<Duration> {
        (self.rtt_us != 0).then(|| Duration::from_micros(u64::from(self.rtt_us)))
    }

    /// At ESTABLISHED: the first measurement starts at the next byte to
    /// read. Before any growth the buffer is taken to be used by one
    /// initial window per round trip (Linux: min(window, 10 × MSS)).
    pub fn start(&mut self, now: Instant, read_seq: Seq, capacity: usize, mss: usize) {
        let iw = (mss as u64 * u64::from(INITIAL_SEGMENTS)).min(capacity as u64);
        self.space = iw.max(1) as u32;
        self.seq = read_seq;
        self.start = now;
        self.due = Instant::MAX;
        self.rtt_seq = read_seq;
        self.rtt_time = None;
    }

    #[inline]
    pub fn has_rtt(&self) -> bool {
        self.rtt_us != 0
    }

    /// A first estimate from the connection's own RTT samples (the
    /// handshake's, RFC 6298 §2 with Karn's rule): without timestamps the
    /// window measurement needs a whole window to arrive, some round trips
    /// into slow start, which growth cannot wait for.
    pub fn seed_rtt(&mut self, rtt: Duration) {
        let us = u32::try_from(rtt.as_micros()).unwrap_or(u32::MAX);
        self.set_rtt(us.max(1));
    }

    /// In-order data arrived and RCV.NXT is now `rcv_nxt`; `window` is
    /// what the next advertisement will offer.
    #[inline]
    pub fn on_data(&mut self, now: Instant, rcv_nxt: Seq, window: u32) {
        if rcv_nxt.lt(self.rtt_seq) {
            return;
        }
        if let Some(t) = self.rtt_time {
            // A whole window took at least one round trip (the data at its
            // right edge could only be sent once our ACK offering it got
            // there): a sample is an upper bound, only a lower one counts.
            let us = now.saturating_since(t).as_micros().max(1);
            let us = u32::try_from(us).unwrap_or(u32::MAX);
            if self.rtt_us == 0 || us < self.rtt_us {
                self.set_rtt(us);
            }
        }
        self.rtt_seq = rcv_nxt + window.max(1);
        self.rtt_time = Some(now);
    }

    /// RFC 7323 §4.1: a full-sized segment echoing `tsecr`, our clock
    /// (milliseconds) reading `ts_now`.
    #[inline]
    pub fn on_tsecr(&mut self, tsecr: u32, ts_now: u32) {
        if tsecr == self.last_tsecr || tsecr == 0 {
            return;
        }
        self.last_tsecr = tsecr;
        let ms = ts_now.wrapping_sub(tsecr);
        // Below the clock's 1 ms resolution (or a clock gone backwards, or
        // a stale echo): the window measurement covers it.
        if ms == 0 || ms >= 600_000 {
            return;
        }
        let us = ms * 1000;
        // An average, 1/8 weight per sample (RFC 6298's gain for SRTT).
        let rtt = if self.rtt_us == 0 {
            us
        } else {
            let old = u64::from(self.rtt_us);
            ((old * 7 + u64::from(us)) / 8) as u32
        };
        self.set_rtt(rtt.max(1));
    }

    fn set_rtt(&mut self, us: u32) {
        self.rtt_us = us;
        self.due = self.start + Duration::from_micros(u64::from(us));
    }

    /// Is a round trip's measurement complete?
    #[inline]
    pub fn due(&self, now: Instant) -> bool {
        now >= self.due
    }

    /// Ends a measurement: `read_seq` is the next byte the application
    /// will read. Returns the buffer's new size if it is to grow from
    /// `capacity`, at most `limit` (what the window scale can offer).
    pub fn adjust(
        &mut self,
        now: Instant,
        read_seq: Seq,
        capacity: usize,
        mss: usize,
        limit: usize,
    ) -> Option<usize> {
        let copied = read_seq.since(self.seq);
        let mut grow = None;
        if copied > self.space {
            // A window of twice what was read in one round trip absorbs a
            // loss's round trip of repair; the sender may have doubled its
            // rate since (slow start), and the window offered now is used
            // a round trip later: the growth rate is added twice more.
            let space = u64::from(self.space.max(1));
            let copied64 = u64::from(copied);
            let mut win = 2 * copied64 + CUSHION_SEGMENTS * mss as u64;
            win += 2 * win * (copied64 - space) / space;
            let ceiling = (self.max as usize).min(limit);
            let new = usize::try_from(win).unwrap_or(usize::MAX).min(ceiling);
            if new > capacity {
                grow = Some(new);
            }
            if new.max(capacity) >= ceiling {
                // Nothing left to grow: stop measuring.
                self.max = 0;
            }
            self.space = copied;
        }
        self.seq = read_seq;
        self.start = now;
        self.due = if self.rtt_us == 0 {
            Instant::MAX
        } else {
            now + Duration::from_micros(u64::from(self.rtt_us))
        };
        grow
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MSS: usize = 1000;

    fn ms(n: u64) -> Instant {
        Instant::from_millis(n)
    }

    #[test]
    fn the_window_measurement_takes_only_lower_samples() {
        let mut t = RcvTuner::new(1 << 20);
        t.start(ms(0), Seq(1), 64 << 10, MSS);
        t.on_data(ms(0), Seq(1000), 10_000);
        assert_eq!(t.rtt(), None, "the first arrival starts a measurement");
        t.on_data(ms(30), Seq(10_999), 10_000);
        assert_eq!(t.rtt(), None, "right edge not yet reached");
        t.on_data(ms(50), Seq(11_000), 20_000);
        assert_eq!(t.rtt(), Some(Duration::from_millis(50)));
        t.on_data(ms(120), Seq(31_000), 20_000);
        assert_eq!(t.rtt(), Some(Duration::from_millis(50)), "70 ms is higher");
        t.on_data(ms(160), Seq(51_000), 20_000);
        assert_eq!(t.rtt(), Some(Duration::from_millis(40)));
    }

    #[test]
    fn timestamp_samples_are_averaged_and_sub_millisecond_ones_skipped() {
        let mut t = RcvTuner::new(1 << 20);
        t.start(ms(0), Seq(1), 64 << 10, MSS);
        t.on_tsecr(100, 100);
        assert_eq!(t.rtt(), None);
        t.on_tsecr(200, 240);
        assert_eq!(t.rtt(), Some(Duration::from_millis(40)));
        t.on_tsecr(200, 400);
        assert_eq!(t.rtt(), Some(Duration::from_millis(40)), "same echo");
        t.on_tsecr(300, 380);
        // (40 × 7 + 80) / 8 = 45 ms.
        assert_eq!(t.rtt(), Some(Duration::from_millis(45)));
    }

    #[test]
    fn no_growth_before_an_rtt_estimate_nor_when_the_reader_reads_less() {
        let mut t = RcvTuner::new(1 << 20);
        t.start(ms(0), Seq(1), 64 << 10, MSS);
        assert!(!t.due(ms(10_000)), "no estimate: no measurement ends");
        t.on_tsecr(1, 11);
        assert!(!t.due(ms(9)));
        assert!(t.due(ms(10)));
        // 10 segments read: no more than the initial window.
        assert_eq!(t.adjust(ms(10), Seq(10_001), 64 << 10, MSS, 1 << 30), None);
        assert_eq!(t.space(), 10_000);
        assert!(!t.due(ms(19)));
        assert!(t.due(ms(20)));
    }

    #[test]
    fn growth_follows_the_reading_rate_with_room_for_its_doubling() {
        let mut t = RcvTuner::new(4 << 20);
        t.start(ms(0), Seq(1), 64 << 10, MSS);
        t.on_tsecr(1, 11);
        // 20 000 bytes read where 10 000 were before: 2 × 20 000 + 16
        // segments = 56 000, plus twice that times the growth (1×).
        assert_eq!(
            t.adjust(ms(10), Seq(20_001), 64 << 10, MSS, 1 << 30),
            Some(168_000)
        );
        assert_eq!(t.space(), 20_000);
        // Steady reading at 20 000 per RTT: no further growth.
        assert_eq!(t.adjust(ms(20), Seq(40_001), 168_000, MSS, 1 << 30), None);
        // 30 000: 76 000 + 2 × 76 000 × 0.5 = 152 000 < 168 000: kept.
        assert_eq!(t.adjust(ms(30), Seq(70_001), 168_000, MSS, 1 << 30), None);
        assert_eq!(t.space(), 30_000);
        assert!(t.is_on());
    }

    #[test]
    fn growth_stops_at_the_ceiling_and_at_the_window_scale_limit() {
        let mut t = RcvTuner::new(100_000);
        t.start(ms(0), Seq(1), 64 << 10, MSS);
        t.on_tsecr(1, 11);
        assert_eq!(
            t.adjust(ms(10), Seq(50_001), 64 << 10, MSS, 1 << 30),
            Some(100_000)
        );
        assert!(!t.is_on(), "the ceiling is reached: tuning ends");

        let mut t = RcvTuner::new(1 << 20);
        t.start(ms(0), Seq(1), 60_000, MSS);
        t.on_tsecr(1, 11);
        assert_eq!(
            t.adjust(ms(10), Seq(50_001), 60_000, MSS, 65_535),
            Some(65_535)
        );
        assert!(!t.is_on());
    }
}
