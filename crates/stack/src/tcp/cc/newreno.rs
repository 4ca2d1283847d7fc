//! NewReno window control (RFC 5681 §3.1, RFC 6582 §3.2).
use super::CongestionControl;
use crate::time::{Duration, Instant};

#[derive(Debug, Clone)]
pub struct NewReno {
    mss: u32,
    cwnd: u32,
    ssthresh: u32,
    /// Bytes acknowledged since cwnd last grew in congestion avoidance.
    acked_accum: u32,
    initial_window: u32,
}

/// RFC 6928 §2: IW = min(10*MSS, max(2*MSS, 14600)) for IW10;
/// generalised to `segments`.
pub(super) fn initial_window(mss: u32, segments: u32) -> u32 {
    NewReno::iw(mss, segments)
}

impl NewReno {
    pub fn new(mss: u32, initial_window: u32) -> NewReno {
        let mss = mss.max(1);
        NewReno {
            mss,
            cwnd: Self::iw(mss, initial_window),
            // RFC 5681 §3.1: initial ssthresh arbitrarily high.
            ssthresh: u32::MAX,
            acked_accum: 0,
            initial_window,
        }
    }
    /// RFC 6928 §2: IW = min(10*MSS, max(2*MSS, 14600)) for IW10;
    /// generalised to `segments`.
    fn iw(mss: u32, segments: u32) -> u32 {
        if segments >= 10 {
            (segments * mss).min((2 * mss).max(14600 * segments / 10))
        } else {
            segments.max(1) * mss
        }
    }
}

impl CongestionControl for NewReno {
    fn cwnd(&self) -> u32 {
        self.cwnd
    }
    fn ssthresh(&self) -> u32 {
        self.ssthresh
    }
    fn on_ack(&mut self, _now: Instant, acked: u32, cwnd_limited: bool, _rtt: Option<Duration>) {
        if !cwnd_limited {
            // A window the sender does not fill says nothing about the
            // path: no growth (Linux's tcp_is_cwnd_limited in
            // tcp_reno_cong_avoid).
            return;
        }
        let mut acked = acked;
        if self.cwnd < self.ssthresh {
            // RFC 5681 §3.1 slow start with RFC 3465 byte counting. Like
            // Linux (tcp_slow_start) we count every acknowledged byte
            // instead of capping at L = 2*SMSS per ACK: receivers that
            // coalesce (GRO, batched polling) send stretch ACKs, and a cap
            // would stall the exponential growth. The growth stops at
            // ssthresh; the rest of the ACK counts in avoidance.
            let room = self.ssthresh - self.cwnd;
            let grow = acked.min(room);
            self.cwnd = self.cwnd.saturating_add(grow);
            acked -= grow;
            if acked == 0 {
                return;
            }
        }
        {
            // RFC 5681 §3.1 congestion avoidance, byte counting: one SMSS
            // per cwnd of data acknowledged.
            self.acked_accum = self.acked_accum.saturating_add(acked);
            if self.acked_accum >= self.cwnd {
                self.acked_accum -= self.cwnd;
                self.cwnd = self.cwnd.saturating_add(self.mss);
            }
        }
    }
    fn on_congestion_event(&mut self, _now: Instant, flight: u32, _peer_window: u32) {
        // RFC 5681 eq. (4): ssthresh = max(FlightSize / 2, 2*SMSS);
        // RFC 6582 §3.2 step 2: cwnd = ssthresh (+3*SMSS inflation is kept by
        // the sender).
        self.ssthresh = (flight / 2).max(2 * self.mss);
        self.cwnd = self.ssthresh;
        self.acked_accum = 0;
    }
    fn on_recovery_exit(&mut self, _now: Instant, flight: u32) {
        // RFC 6582 §3.2 step 3 (full ACK), option (1):
        // cwnd = min(ssthresh, max(FlightSize, SMSS) + SMSS).
        self.cwnd = self.ssthresh.min(flight.max(self.mss) + self.mss);
        self.acked_accum = 0;
    }
    fn on_rto(&mut self, _now: Instant, flight: u32, _peer_window: u32) {
        // RFC 5681 §3.1: ssthresh per eq. (4), cwnd = loss window = 1 SMSS.
        self.ssthresh = (flight / 2).max(2 * self.mss);
        self.cwnd = self.mss;
        self.acked_accum = 0;
    }
    fn initial_window(&self) -> u32 {
        Self::iw(self.mss, self.initial_window)
    }
    fn restore(&mut self, cwnd: u32, ssthresh: u32) {
        self.cwnd = cwnd;
        self.ssthresh = ssthresh;
        self.acked_accum = 0;
    }
    fn set_mss(&mut self, mss: u32) {
        let mss = mss.max(1);
        if self.cwnd == Self::iw(self.mss, self.initial_window) {
            self.cwnd = Self::iw(mss, self.initial_window);
        }
        self.mss = mss;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn slow_start_then_avoidance() {
        let t = Instant::ZERO;
        let mut c = NewReno::new(1000, 10);
        assert_eq!(c.cwnd(), 10_000);
        c.on_ack(t, 1000, true, None);
        assert_eq!(c.cwnd(), 11_000);
        c.on_congestion_event(t, 20_000, u32::MAX);
        assert_eq!(c.ssthresh(), 10_000);
        assert_eq!(c.cwnd(), 10_000);
        // Avoidance: one MSS per cwnd acknowledged.
        for _ in 0..9 {
            c.on_ack(t, 1000, true, None);
        }
        assert_eq!(c.cwnd(), 10_000);
        c.on_ack(t, 1000, true, None);
        assert_eq!(c.cwnd(), 11_000);
        c.on_rto(t, 8_000, u32::MAX);
        assert_eq!(c.cwnd(), 1000);
        assert_eq!(c.ssthresh(), 4000);
        c.on_congestion_event(t, 1000, u32::MAX);
        assert_eq!(c.ssthresh(), 2000, "floor of 2*SMSS");
    }
    #[test]
    fn stretch_acks_grow_slow_start_up_to_ssthresh() {
        let t = Instant::ZERO;
        let mut c = NewReno::new(1000, 10);
        // One ACK covering 10 segments doubles the window.
        c.on_ack(t, 10_000, true, None);
        assert_eq!(c.cwnd(), 20_000);
        c.on_congestion_event(t, 20_000, u32::MAX);
        c.on_recovery_exit(t, 0);
        assert!(c.cwnd() <= c.ssthresh());
        let before = c.cwnd();
        c.on_ack(t, 100_000, true, None);
        assert!(c.cwnd() >= c.ssthresh(), "reaches ssthresh");
        assert!(
            c.cwnd() <= c.ssthresh() + 1000,
            "then grows by at most 1 MSS per cwnd in avoidance"
        );
        assert!(c.cwnd() > before);
    }

    /// An ACK of data not sent cwnd-limited grows nothing, in slow start
    /// or in avoidance.
    #[test]
    fn no_growth_when_application_limited() {
        let t = Instant::ZERO;
        let mut c = NewReno::new(1000, 10);
        c.on_ack(t, 5000, false, None);
        assert_eq!(c.cwnd(), 10_000);
        c.on_congestion_event(t, 20_000, u32::MAX);
        for _ in 0..50 {
            c.on_ack(t, 1000, false, None);
        }
        assert_eq!(c.cwnd(), 10_000);
        for _ in 0..10 {
            c.on_ack(t, 1000, true, None);
        }
        assert_eq!(c.cwnd(), 11_000);
    }

    #[test]
    fn iw_rfc6928() {
        assert_eq!(NewReno::iw(1460, 10), 14600);
        assert_eq!(NewReno::iw(536, 10), 5360);
        assert_eq!(NewReno::iw(8960, 10), 17920);
    }
}
