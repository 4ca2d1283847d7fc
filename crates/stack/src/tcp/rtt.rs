//! Retransmission timer computation, RFC 6298.
use crate::time::Duration;

/// SRTT/RTTVAR estimator with exponential backoff.
#[derive(Debug, Clone)]
pub struct RttEstimator {
    srtt_us: Option<u64>,
    rttvar_us: u64,
    rto: Duration,
    backoff: u32,
    min: Duration,
    max: Duration,
}

/// Clock granularity G (RFC 6298 §2): our timers have 1 ms resolution.
const GRANULARITY_US: u64 = 1_000;

impl RttEstimator {
    /// RFC 6298 (2.1): before any sample, RTO = initial (1 s).
    pub fn new(initial: Duration, min: Duration, max: Duration) -> RttEstimator {
        RttEstimator {
            srtt_us: None,
            rttvar_us: 0,
            rto: initial.clamp(min, max),
            backoff: 0,
            min,
            max,
        }
    }

    /// Feeds one RTT measurement R.
    pub fn sample(&mut self, r: Duration) {
        let r = u64::try_from(r.as_micros()).unwrap_or(u64::MAX).max(1);
        match self.srtt_us {
            // RFC 6298 (2.2): first measurement.
            None => {
                self.srtt_us = Some(r);
                self.rttvar_us = r / 2;
            }
            // RFC 6298 (2.3): RTTVAR <- 3/4 RTTVAR + 1/4 |SRTT-R'|,
            // SRTT <- 7/8 SRTT + 1/8 R'.
            Some(srtt) => {
                let delta = srtt.abs_diff(r);
                self.rttvar_us = (3 * self.rttvar_us + delta) / 4;
                self.srtt_us = Some((7 * srtt + r) / 8);
            }
        }
        let srtt = self.srtt_us.unwrap_or(r);
        // RFC 6298 (2.3): RTO <- SRTT + max(G, K*RTTVAR), K = 4;
        // (2.4)/(2.5): clamp to [min, max].
        let rto = Duration::from_micros(srtt + GRANULARITY_US.max(4 * self.rttvar_us));
        self.rto = rto.clamp(self.min, self.max);
        // RFC 6298 (5.7): a new sample after backoff resets the backed-off RTO.
        self.backoff = 0;
    }

    /// RFC 6298 (5.7): when the SYN (or SYN-ACK) had to be retransmitted
    /// and no RTT sample exists once the connection is established, the
    /// RTO is re-initialised to 3 seconds.
    pub fn syn_fallback(&mut self) {
        if self.srtt_us.is_none() {
            self.rto = Duration::from_secs(3).clamp(self.min, self.max);
        }
        self.backoff = 0;
    }

    /// RFC 6298 (5.5): double the RTO on expiry (bounded by max).
    pub fn back_off(&mut self) {
        self.backoff = (self.backoff + 1).min(16);
    }

    /// Forgets the backoff (new data acknowledged).
    pub fn reset_backoff(&mut self) {
        self.backoff = 0;
    }

    pub fn backoff(&self) -> u32 {
        self.backoff
    }

    /// Current timeout including backoff.
    pub fn rto(&self) -> Duration {
        let factor = 1u32 << self.backoff.min(16);
        self.rto.saturating_mul(factor).min(self.max)
    }

    /// The timeout before backoff.
    pub fn base_rto(&self) -> Duration {
        self.rto
    }

    pub fn srtt(&self) -> Option<Duration> {
        self.srtt_us.map(Duration::from_micros)
    }

    pub fn rttvar(&self) -> Option<Duration> {
        self.srtt_us.map(|_| Duration::from_micros(self.rttvar_us))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    fn est() -> RttEstimator {
        RttEstimator::new(
            Duration::from_secs(1),
            Duration::from_millis(200),
            Duration::from_secs(120),
        )
    }
    #[test]
    fn initial_and_first_sample() {
        let mut e = est();
        assert_eq!(e.rto(), Duration::from_secs(1));
        e.sample(Duration::from_millis(100));
        // SRTT 100, RTTVAR 50 → RTO = 100 + 200 = 300 ms.
        assert_eq!(e.srtt(), Some(Duration::from_millis(100)));
        assert_eq!(e.rto(), Duration::from_millis(300));
        e.sample(Duration::from_millis(100));
        // RTTVAR = 3/4*50 + 0 = 37.5 → RTO = 100 + 150 = 250 ms.
        assert_eq!(e.rto(), Duration::from_micros(250_000));
    }
    #[test]
    fn min_max_and_backoff() {
        let mut e = est();
        e.sample(Duration::from_millis(1));
        assert_eq!(e.rto(), Duration::from_millis(200));
        e.back_off();
        assert_eq!(e.rto(), Duration::from_millis(400));
        for _ in 0..20 {
            e.back_off();
        }
        assert_eq!(e.rto(), Duration::from_secs(120));
        e.sample(Duration::from_millis(1));
        assert_eq!(e.rto(), Duration::from_millis(200));
    }
}
