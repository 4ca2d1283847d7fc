//! CUBIC congestion control (RFC 9438), in integer arithmetic.
//!
//! Units: windows in bytes, time in milliseconds. C = 0.4, β = 0.7.
//! W_cubic(t) = C·(t − K)³ + W_max (in segments), K = ∛(W_max·(1−β)/C).
use super::CongestionControl;
use crate::time::{Duration, Instant};

/// β_cubic = 7/10 (RFC 9438 §4.6).
const BETA_NUM: u64 = 7;
const BETA_DEN: u64 = 10;
/// RFC 9406 §4.3: growth in Conservative Slow Start is 1/CSS_GROWTH_DIVISOR
/// of slow start's, for at most CSS_ROUNDS rounds.
const CSS_GROWTH_DIVISOR: u32 = 4;
const CSS_ROUNDS: u32 = 5;
/// RFC 9406 §4.2: N_RTT_SAMPLE, RTT samples per round before a test.
const N_RTT_SAMPLE: u32 = 8;

/// What one ACK told the slow-start exit tests.
#[derive(Debug, Default, Clone, Copy)]
struct HystartStep {
    /// The RTT-increase test fired (→ CSS).
    exit: bool,
    /// The ACK-train test fired (→ congestion avoidance).
    train: bool,
    /// In CSS: this round's minimum RTT fell below the baseline.
    rtt_fell: bool,
    /// The round ended with this ACK.
    round_ended: bool,
    /// This round's minimum RTT so far (cssBaselineMinRtt at an exit).
    baseline_us: u64,
}

/// Conservative Slow Start (RFC 9406 §4.3), entered when an exit test
/// fires in the initial slow start.
#[derive(Debug, Clone, Copy)]
struct Css {
    /// cssBaselineMinRtt in µs: the round's minimum RTT at the exit.
    baseline_us: u64,
    /// CSS rounds completed.
    rounds: u32,
    /// Acked bytes not yet turned into growth (growth is acked / 4).
    carry: u32,
}

#[derive(Debug, Clone)]
pub struct Cubic {
    mss: u32,
    cwnd: u32,
    ssthresh: u32,
    /// W_max in bytes: the window before the last reduction.
    w_max: u64,
    /// W_max before that, for fast convergence (§4.7).
    w_last_max: u64,
    /// Start of the current congestion-avoidance epoch.
    epoch_start: Option<Instant>,
    /// K in milliseconds.
    k_ms: u64,
    /// Reno-friendly estimate W_est in bytes (§4.3), scaled by 1000.
    w_est_milli: u64,
    /// Smoothed RTT in ms (for W_cubic(t + RTT)).
    srtt_ms: u64,
    /// HyStart++ (RFC 9406) round tracking in slow start: bytes left in the
    /// current round (≈ one window of ACKs), this round's minimum RTT and
    /// sample count, and the previous round's minimum.
    hs_round_left: u32,
    hs_cur_min_us: u64,
    hs_samples: u32,
    hs_last_min_us: u64,
    /// ACK-train slow-start exit (HyStart, Ha & Rhee 2011, as in Linux's
    /// CUBIC): smallest RTT seen, first ACK of the round, last ACK of the
    /// current train.
    hs_min_rtt_us: u64,
    hs_round_start: Option<Instant>,
    hs_last_ack: Option<Instant>,
    ack_train: bool,
    /// The sender's buffer size: the flight never exceeds it.
    send_buffer: u32,
    /// Both slow-start exit tests (`TcpConfig::hystart`).
    hystart_on: bool,
    /// In Conservative Slow Start (RFC 9406 §4.3).
    css: Option<Css>,
    /// Rounds come from the sender (`on_round_start`, by sequence as RFC
    /// 9406 §4.2's windowEnd); until it calls, one window of acked bytes
    /// stands for a round. `round_pending`: a round starts with the next ACK.
    seq_rounds: bool,
    round_pending: bool,
    initial_window: u32,
    /// cwnd_prior in bytes (RFC 9438 §4.6): the window when ssthresh was
    /// last set (before the last reduction, or at the slow-start exit).
    cwnd_prior: u64,
    /// RFC 9438 §4.3: raise α_cubic to 1 once W_est ≥ cwnd_prior.
    reno_alpha_one: bool,
    /// When the epoch's clock last ran: the last ACK, or the end of an
    /// idle period (§5.8 keeps application-limited time out of t).
    last_ack: Option<Instant>,
}

/// Integer cube root (floor) of `x`.
fn icbrt(x: u128) -> u64 {
    if x == 0 {
        return 0;
    }
    // Newton iteration from an upper bound.
    let bits = 128 - x.leading_zeros();
    let mut y: u128 = 1u128 << bits.div_ceil(3);
    loop {
        let next = (2 * y + x / (y * y)) / 3;
        if next >= y {
            break;
        }
        y = next;
    }
    while y * y * y > x {
        y -= 1;
    }
    while (y + 1) * (y + 1) * (y + 1) <= x {
        y += 1;
    }
    y as u64
}

impl Cubic {
    pub fn new(mss: u32, initial_window: u32) -> Cubic {
        let mss = mss.max(1);
        Cubic {
            mss,
            cwnd: super::newreno::initial_window(mss, initial_window),
            ssthresh: u32::MAX,
            w_max: 0,
            w_last_max: 0,
            epoch_start: None,
            k_ms: 0,
            w_est_milli: 0,
            srtt_ms: 100,
            hs_round_left: 0,
            hs_cur_min_us: u64::MAX,
            hs_samples: 0,
            hs_last_min_us: u64::MAX,
            hs_min_rtt_us: u64::MAX,
            hs_round_start: None,
            hs_last_ack: None,
            ack_train: false,
            send_buffer: u32::MAX,
            hystart_on: true,
            css: None,
            seq_rounds: false,
            round_pending: false,
            initial_window,
            cwnd_prior: 0,
            reno_alpha_one: true,
            last_ack: None,
        }
    }

    /// Switches the RFC 9438 §4.3 rule "α_cubic = 1 once W_est has reached
    /// cwnd_prior" (a SHOULD; on by default; Linux's CUBIC keeps α fixed).
    pub fn set_reno_alpha_one(&mut self, on: bool) {
        self.reno_alpha_one = on;
    }

    /// Switches the ACK-train slow-start exit on for every slow start (off
    /// by default: it ends slow start at about one BDP, which avoids
    /// overflowing a one-BDP queue on a clean path, but with random loss
    /// CUBIC then grows back so slowly that goodput falls, e.g. 38.1 →
    /// 27.5 Mbit/s at 40 ms / 0.1 % in the simulator, 25 MB, mean of 16
    /// seeds). Off, it still applies once cwnd is within a doubling of the
    /// send buffer (`set_send_buffer`).
    pub fn set_ack_train(&mut self, on: bool) {
        self.ack_train = on;
    }

    /// Switches both slow-start exit tests, delay and ACK train (on by
    /// default); off, slow start ends at the first loss.
    pub fn set_hystart(&mut self, on: bool) {
        self.hystart_on = on;
    }

    /// W_cubic(t) in bytes, t in ms since the epoch start (RFC 9438 eq. 1).
    fn w_cubic(&self, t_ms: u64) -> u64 {
        let d = (t_ms as i128 - self.k_ms as i128).clamp(-1_000_000, 1_000_000);
        // C·d³ segments with d in ms: 0.4·d³/1e9 segments.
        let seg_delta = 4 * d * d * d * i128::from(self.mss) / 10_000_000_000;
        (self.w_max as i128 + seg_delta).clamp(0, i128::from(u32::MAX)) as u64
    }

    /// The slow-start exit tests for one ACK, and the round tracking.
    /// RFC 9406 §4.2 (delay-increase test, `exit`): this round's minimum
    /// RTT (over at least N_RTT_SAMPLE = 8 samples) exceeds the previous
    /// round's by η = clamp(lastRoundMinRTT/8, 4 ms, 16 ms).
    ///
    /// Plus the ACK-train test of the original HyStart (Ha & Rhee, "Taming
    /// the elephants", 2011; Linux's CUBIC runs it too): once the ACKs of
    /// one round, arriving back to back (≤ 2 ms apart), span more than half
    /// the minimum RTT, the window already fills half the path's
    /// bandwidth-delay product, and the next doubling would overflow a
    /// queue of one BDP. The delay test alone is too late there: within the
    /// round that fills the queue, the round's minimum RTT is still that of
    /// its first (unqueued) packets.
    fn hystart(&mut self, now: Instant, acked: u32, rtt: Option<Duration>) -> HystartStep {
        let mut step = HystartStep::default();
        if self.round_pending {
            self.round_pending = false;
            self.new_round(now);
            step.round_ended = true;
        }
        if let Some(r) = rtt {
            let us = r.as_micros() as u64;
            self.hs_cur_min_us = self.hs_cur_min_us.min(us);
            self.hs_min_rtt_us = self.hs_min_rtt_us.min(us);
            self.hs_samples += 1;
        }
        if self.css.is_none() {
            step.train = self.ack_train(now);
            if self.hs_samples >= N_RTT_SAMPLE
                && self.hs_last_min_us != u64::MAX
                && self.hs_cur_min_us != u64::MAX
            {
                let eta = (self.hs_last_min_us / 8).clamp(4_000, 16_000);
                step.exit |= self.hs_cur_min_us >= self.hs_last_min_us + eta;
            }
        }
        // §4.3: in CSS, a round's minimum RTT back below the baseline means
        // the exit was spurious.
        step.rtt_fell = self.hs_samples >= N_RTT_SAMPLE
            && self.css.is_some_and(|c| self.hs_cur_min_us < c.baseline_us);
        step.baseline_us = self.hs_cur_min_us;
        // Without the sender's rounds, a round is about one window's worth
        // of acknowledged bytes.
        if !self.seq_rounds {
            if acked >= self.hs_round_left {
                step.round_ended = true;
                self.new_round(now);
            } else {
                self.hs_round_left -= acked;
            }
        }
        step
    }

    /// The ACK-train test for one ACK that delivered data (cumulatively or
    /// by SACK: a reordering hole must not break the train, as Linux runs
    /// HyStart on every ACK that delivers).
    fn ack_train(&mut self, now: Instant) -> bool {
        // Within a doubling of the send buffer the test applies even when
        // not switched on: slow start can gain little more, and a loss at
        // that limit stalls a round trip (the lost segment holds SND.UNA,
        // and the full buffer lets nothing new out). Not the peer's
        // window: an autotuning receiver opens it only a step ahead of
        // the sender, so it is "near" all through slow start.
        let near_limit = u64::from(self.cwnd) * 2 >= u64::from(self.send_buffer);
        if !(self.ack_train || near_limit) || self.cwnd < 16 * self.mss {
            return false;
        }
        let (Some(start), Some(last)) = (self.hs_round_start, self.hs_last_ack) else {
            return false;
        };
        self.hs_last_ack = Some(now);
        if now.saturating_since(last) > Duration::from_millis(2) {
            // A gap: the train measured is the current run of back-to-back
            // ACKs (a round that began at the tail of a burst, as after a
            // recovery, would otherwise never see one).
            self.hs_round_start = Some(now);
            return false;
        }
        let half_rtt = Duration::from_micros(self.hs_min_rtt_us / 2);
        self.hs_min_rtt_us != u64::MAX && now.saturating_since(start) > half_rtt
    }

    /// §4.2, at the start of each round: lastRoundMinRTT =
    /// currentRoundMinRTT, a fresh minimum and sample count; the ACK train
    /// starts with this ACK.
    fn new_round(&mut self, now: Instant) {
        self.hs_last_min_us = self.hs_cur_min_us;
        self.hs_cur_min_us = u64::MAX;
        self.hs_samples = 0;
        self.hs_round_left = self.cwnd;
        self.hs_round_start = Some(now);
        self.hs_last_ack = Some(now);
    }

    /// Slow start with HyStart++ (RFC 9406): returns the bytes of `acked`
    /// left over for congestion avoidance (when slow start ended).
    fn slow_start(&mut self, now: Instant, acked: u32, rtt: Option<Duration>) -> u32 {
        // §4.2: HyStart++ runs in the initial slow start only (ssthresh
        // still "arbitrarily high"); later slow starts end at ssthresh.
        if self.hystart_on && self.ssthresh == u32::MAX {
            let step = self.hystart(now, acked, rtt);
            match self.css.as_mut() {
                None if step.train => {
                    // The ACK train ends slow start at about one BDP,
                    // past where CSS would help: straight to congestion
                    // avoidance, as Linux's HyStart.
                    self.ssthresh = self.cwnd;
                    self.cwnd_prior = u64::from(self.cwnd);
                    return acked;
                }
                None if step.exit => {
                    // §4.2: exit slow start into CSS, remembering the RTT.
                    self.css = Some(Css {
                        baseline_us: step.baseline_us,
                        rounds: 0,
                        carry: 0,
                    });
                }
                None => {}
                Some(_) if step.rtt_fell => {
                    // §4.3: spurious exit: back to slow start.
                    self.css = None;
                }
                Some(css) => {
                    if step.round_ended {
                        css.rounds += 1;
                    }
                    if css.rounds >= CSS_ROUNDS {
                        // §4.3: CSS_ROUNDS done: congestion avoidance.
                        self.css = None;
                        self.ssthresh = self.cwnd;
                        // RFC 9438 §4.6 (cwnd_prior): also set at the
                        // slow-start exit.
                        self.cwnd_prior = u64::from(self.cwnd);
                        return acked;
                    }
                }
            }
        }
        if let Some(css) = self.css.as_mut() {
            // §4.3: cwnd grows by acked / CSS_GROWTH_DIVISOR.
            let total = css.carry + acked;
            css.carry = total % CSS_GROWTH_DIVISOR;
            self.cwnd = self.cwnd.saturating_add(total / CSS_GROWTH_DIVISOR);
            return 0;
        }
        // Slow start as in RFC 5681 (§4.10), counting all acked bytes.
        let grow = acked.min(self.ssthresh - self.cwnd);
        self.cwnd = self.cwnd.saturating_add(grow);
        acked - grow
    }

    /// Starts a new congestion-avoidance epoch (§4.2).
    fn start_epoch(&mut self, now: Instant) {
        self.epoch_start = Some(now);
        if u64::from(self.cwnd) < self.w_max {
            // K = ∛(W_max·(1−β)/C) seconds, computed from the bytes still
            // to regain: ∛((W_max − cwnd)/C) in segments (RFC 9438 eq. 2
            // with cwnd the reduced window).
            let gap_seg_milli = (self.w_max - u64::from(self.cwnd)) * 1000 / u64::from(self.mss);
            // K³ [s³] = gap / 0.4 → in ms³: gap_seg * 2.5e9.
            let k3_ms = u128::from(gap_seg_milli) * 2_500_000_000 / 1000;
            self.k_ms = icbrt(k3_ms);
        } else {
            self.k_ms = 0;
            self.w_max = u64::from(self.cwnd);
        }
        self.w_est_milli = u64::from(self.cwnd) * 1000;
    }

    /// §4.6 multiplicative decrease at a congestion event, with `flight`
    /// bytes outstanding and the peer's window `peer_window`.
    fn reduce(&mut self, flight: u32, peer_window: u32) {
        // §4.6 reduces from cwnd (as Linux), which requires that cwnd does
        // not grow beyond what is sent. Slow start held at the peer's
        // receive window (or at our send buffer) still grows cwnd to twice
        // the flight (the sender's cwnd validation allows that much), and
        // 0.7 of that overshoots the path a second time: the window the
        // loss happened at is at most that
        // limit (or what was in flight, if the peer shrank its window
        // since), so W_max, cwnd_prior and ssthresh come from it.
        let used = self.cwnd.min(peer_window.max(flight).max(self.mss));
        let cwnd = u64::from(used);
        // §4.6: cwnd_prior = cwnd before the reduction.
        self.cwnd_prior = cwnd;
        // §4.7 fast convergence.
        if cwnd < self.w_last_max {
            self.w_last_max = cwnd;
            self.w_max = cwnd * (BETA_DEN + BETA_NUM) / (2 * BETA_DEN);
        } else {
            self.w_last_max = cwnd;
            self.w_max = cwnd;
        }
        // §4.6: ssthresh = cwnd·β (at least 2 segments).
        let reduced = (cwnd * BETA_NUM / BETA_DEN).max(2 * u64::from(self.mss));
        self.ssthresh = reduced.min(u64::from(u32::MAX)) as u32;
        self.epoch_start = None;
        self.css = None;
    }
}

impl CongestionControl for Cubic {
    fn cwnd(&self) -> u32 {
        self.cwnd
    }
    fn ssthresh(&self) -> u32 {
        self.ssthresh
    }
    fn on_ack(&mut self, now: Instant, acked: u32, cwnd_limited: bool, rtt: Option<Duration>) {
        if let Some(r) = rtt {
            let r = r.as_millis().max(1) as u64;
            self.srtt_ms = (7 * self.srtt_ms + r) / 8;
        }
        let last = self.last_ack.replace(now);
        // RFC 9438 §5.8: no growth while application-limited (the
        // slow-start exit tests still see the ACK, as Linux's HyStart).
        let mut acked = if cwnd_limited { acked } else { 0 };
        if self.cwnd < self.ssthresh {
            acked = self.slow_start(now, acked, rtt);
            if acked == 0 {
                return;
            }
        }
        if !cwnd_limited {
            // §5.8: t MUST NOT include the time the flow was
            // application-limited: the epoch moves with it.
            if let (Some(start), Some(last)) = (self.epoch_start, last) {
                self.epoch_start = Some((start + now.saturating_since(last)).min(now));
            }
            return;
        }
        let start = match self.epoch_start {
            Some(s) => s,
            None => {
                self.start_epoch(now);
                now
            }
        };
        let cwnd = u64::from(self.cwnd);
        let t = now.saturating_since(start).as_millis() as u64;
        // §4.4: target = W_cubic(t + RTT), bounded to [cwnd, 1.5·cwnd].
        let target = self.w_cubic(t + self.srtt_ms).clamp(cwnd, cwnd * 3 / 2);
        // cwnd += (target − cwnd)/cwnd per acked segment (in bytes).
        let inc = (target - cwnd) * u64::from(acked) / cwnd.max(1);
        // §4.3 Reno-friendly region: W_est += α·acked/cwnd, α = 3(1−β)/(1+β),
        // and α = 1 (Reno's increase) once W_est ≥ cwnd_prior (a SHOULD).
        let alpha_milli = if self.reno_alpha_one && self.w_est_milli >= self.cwnd_prior * 1000 {
            1000
        } else {
            3000 * (BETA_DEN - BETA_NUM) / (BETA_DEN + BETA_NUM)
        };
        self.w_est_milli += alpha_milli * u64::from(acked) * u64::from(self.mss) / cwnd.max(1);
        let mut new = cwnd + inc;
        let w_est = self.w_est_milli / 1000;
        if w_est > new {
            new = w_est;
        }
        self.cwnd = new.min(u64::from(u32::MAX)) as u32;
    }
    fn set_send_buffer(&mut self, bytes: u32) {
        self.send_buffer = bytes;
    }
    fn on_tx_start(&mut self, now: Instant) {
        // §5.8: the idle time since the last ACK is not part of t (as
        // Linux's cubictcp_cwnd_event shifts epoch_start on TX_START).
        if let (Some(start), Some(last)) = (self.epoch_start, self.last_ack) {
            self.epoch_start = Some((start + now.saturating_since(last)).min(now));
        }
        self.last_ack = Some(now);
    }
    fn initial_window(&self) -> u32 {
        super::newreno::initial_window(self.mss, self.initial_window)
    }
    fn on_sack_delivery(&mut self, now: Instant) {
        // Only the ACK-train test (RTT samples and growth come with the
        // cumulative ACK).
        if self.cwnd < self.ssthresh
            && self.hystart_on
            && self.ssthresh == u32::MAX
            && self.css.is_none()
            && self.ack_train(now)
        {
            self.ssthresh = self.cwnd;
            self.cwnd_prior = u64::from(self.cwnd);
        }
    }
    fn on_round_start(&mut self, _now: Instant) {
        self.seq_rounds = true;
        self.round_pending = true;
    }
    fn on_congestion_event(&mut self, _now: Instant, flight: u32, peer_window: u32) {
        self.reduce(flight, peer_window);
        self.cwnd = self.ssthresh;
    }
    fn on_recovery_exit(&mut self, _now: Instant, _flight: u32) {
        self.cwnd = self.ssthresh;
        self.epoch_start = None;
    }
    fn on_rto(&mut self, _now: Instant, flight: u32, peer_window: u32) {
        // §4.8: as a congestion event, then cwnd = 1 segment.
        self.reduce(flight, peer_window);
        self.cwnd = self.mss;
    }
    fn restore(&mut self, cwnd: u32, ssthresh: u32) {
        self.cwnd = cwnd;
        self.ssthresh = ssthresh;
        // Continue the curve from where it was: W_max back to the larger
        // of its value and the restored window.
        self.w_max = self.w_max.max(u64::from(cwnd));
        self.epoch_start = None;
        self.css = None;
    }
    fn set_mss(&mut self, mss: u32) {
        let mss = mss.max(1);
        if self.cwnd == super::newreno::initial_window(self.mss, self.initial_window) {
            self.cwnd = super::newreno::initial_window(mss, self.initial_window);
        }
        self.mss = mss;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cube_root() {
        for x in [
            0u128,
            1,
            7,
            8,
            9,
            26,
            27,
            28,
            1_000_000,
            999_999_999,
            12_345_678_901_234,
        ] {
            let r = icbrt(x) as u128;
            assert!(r * r * r <= x && (r + 1) * (r + 1) * (r + 1) > x, "{x}");
        }
    }

    #[test]
    fn reduction_is_beta() {
        let t = Instant::ZERO;
        let mut c = Cubic::new(1000, 10);
        c.ssthresh = 0; // skip slow start
        c.cwnd = 100_000;
        c.on_congestion_event(t, 100_000, u32::MAX);
        assert_eq!(c.cwnd(), 70_000);
        assert_eq!(c.ssthresh(), 70_000);
        assert_eq!(c.w_max, 100_000);
    }

    /// A slow start held at the peer's receive window doubles a cwnd the
    /// network never sees; the reduction comes from the window that was
    /// usable (the peer's, or the flight if larger), not from 0.7·cwnd,
    /// which would overshoot the path a second time.
    #[test]
    fn reduction_is_from_the_usable_window() {
        let t = Instant::ZERO;
        let mut c = Cubic::new(1000, 10);
        c.cwnd = 200_000; // grown in slow start, the peer's window 100 000
        c.on_congestion_event(t, 100_000, 100_000);
        assert_eq!(c.ssthresh(), 70_000);
        assert_eq!(c.cwnd(), 70_000);
        assert_eq!(c.w_max, 100_000);
        // An application-limited flight below a large peer window: from
        // cwnd, as §4.6.
        let mut c = Cubic::new(1000, 10);
        c.cwnd = 200_000;
        c.on_congestion_event(t, 50_000, 1 << 20);
        assert_eq!(c.ssthresh(), 140_000);
        // An RTO likewise (§4.8), then cwnd = 1 segment; a peer that shrank
        // its window since sending: the flight counts.
        let mut c = Cubic::new(1000, 10);
        c.cwnd = 200_000;
        c.on_rto(t, 50_000, 20_000);
        assert_eq!(c.ssthresh(), 35_000);
        assert_eq!(c.cwnd(), 1000);
        // Never above cwnd·β.
        let mut c = Cubic::new(1000, 10);
        c.cwnd = 100_000;
        c.on_congestion_event(t, 300_000, 300_000);
        assert_eq!(c.ssthresh(), 70_000);
    }

    /// Window growth follows W_cubic(t) = C(t−K)³ + W_max: after a loss at
    /// W_max = 100 segments, K = ∛(100·0.3/0.4) ≈ 4.217 s; the window
    /// returns to W_max at t ≈ K and grows cubically beyond.
    #[test]
    fn growth_follows_the_cubic_formula() {
        let mss = 1000u32;
        let mut c = Cubic::new(mss, 10);
        c.ssthresh = 0;
        c.cwnd = 100 * mss;
        let t0 = Instant::from_secs(10);
        c.on_congestion_event(t0, c.cwnd, u32::MAX);
        c.on_recovery_exit(t0, 0);
        let rtt = Duration::from_millis(100);
        let mut now = t0;
        let mut samples = Vec::new();
        // One ACK per segment, one RTT per window.
        for _round in 0..120 {
            let acks = c.cwnd() / mss;
            for _ in 0..acks {
                c.on_ack(now, mss, true, Some(rtt));
            }
            now += rtt;
            samples.push((
                now.saturating_since(t0).as_secs_f64(),
                f64::from(c.cwnd()) / f64::from(mss),
            ));
        }
        let k = (100.0f64 * 0.3 / 0.4).cbrt();
        assert!(
            (c.k_ms as f64 / 1000.0 - k).abs() < 0.01,
            "K {} vs {k}",
            c.k_ms
        );
        // Compare with W_cubic(t) (evaluated one RTT ahead, as the window
        // aims at W_cubic(t + RTT)); allow a few segments of slack for
        // per-ACK discreteness and the Reno-friendly floor.
        for (t, w) in samples.iter().filter(|(t, _)| *t > 1.0 && *t < 9.0) {
            let expect = 0.4 * (t - k).powi(3) + 100.0;
            assert!(
                (w - expect).abs() < 6.0 + expect * 0.05,
                "t={t:.1}s w={w:.1} expected {expect:.1}"
            );
        }
        // Plateau near W_max around t = K.
        let near_k = samples
            .iter()
            .find(|(t, _)| (*t - k).abs() < 0.1)
            .map(|s| s.1)
            .unwrap_or(0.0);
        assert!((near_k - 100.0).abs() < 6.0, "at K: {near_k}");
    }
}

#[cfg(test)]
mod reno_friendly_tests {
    use super::*;

    /// Congestion avoidance after a loss at `w0` segments, in the
    /// Reno-friendly region (short RTT, so W_cubic stays below W_est): the
    /// window after `rounds` round trips of one ACK per segment.
    fn window_after(alpha_one: bool, w0: u32, rounds: u32) -> f64 {
        let mss = 1000u32;
        let mut c = Cubic::new(mss, 10);
        c.set_reno_alpha_one(alpha_one);
        c.ssthresh = 0;
        c.cwnd = w0 * mss;
        let t0 = Instant::from_secs(10);
        c.on_congestion_event(t0, c.cwnd, u32::MAX);
        c.on_recovery_exit(t0, 0);
        let rtt = Duration::from_millis(10);
        let mut now = t0;
        for _ in 0..rounds {
            for _ in 0..c.cwnd() / mss {
                c.on_ack(now, mss, true, Some(rtt));
            }
            now += rtt;
        }
        f64::from(c.cwnd()) / f64::from(mss)
    }

    /// RFC 9438 §4.3: W_est grows by α = 3(1−β)/(1+β) ≈ 0.53 segment per
    /// RTT until it reaches cwnd_prior, then by 1 (Reno's rate).
    #[test]
    fn alpha_becomes_one_at_cwnd_prior() {
        // 0.7·20 = 14 → 20 takes 6/0.53 ≈ 11.3 rounds with α = 0.53.
        let before = window_after(true, 20, 10);
        assert!((before - (14.0 + 10.0 * 0.53)).abs() < 1.0, "{before}");
        // 30 rounds: ~11 at α = 0.53 (to 20), then ~19 at α = 1 (to ~39).
        let on = window_after(true, 20, 30);
        let off = window_after(false, 20, 30);
        assert!((off - (14.0 + 30.0 * 0.53)).abs() < 1.5, "α fixed: {off}");
        assert!(on > off + 3.0, "α = 1 past cwnd_prior: {on} vs {off}");
        assert!((on - 38.5).abs() < 2.0, "{on}");
    }
}

#[cfg(test)]
mod hystart_tests {
    use super::*;

    /// Drives slow start over a 100 ms path, one ACK per segment, one
    /// round per window; `rtt_of(round)` gives the RTT of every sample in
    /// that round. Returns the window at the start of each round and the
    /// round in which ssthresh was set (if it was).
    fn run_rounds(rounds: u32, rtt_of: impl Fn(u32) -> u64) -> (Vec<u32>, Option<u32>) {
        let mss = 1000u32;
        let mut c = Cubic::new(mss, 10);
        let mut t = Instant::from_secs(1);
        let mut windows = Vec::new();
        let mut exit = None;
        for round in 0..rounds {
            windows.push(c.cwnd() / mss);
            for _ in 0..c.cwnd() / mss {
                c.on_ack(t, mss, true, Some(Duration::from_millis(rtt_of(round))));
                if exit.is_none() && c.ssthresh() != u32::MAX {
                    exit = Some(round);
                }
            }
            t += Duration::from_millis(rtt_of(round));
        }
        (windows, exit)
    }

    /// RFC 9406 §4.2–4.3: when the per-round minimum RTT grows by more than
    /// η, slow start hands over to Conservative Slow Start: growth falls to
    /// a quarter (1.25× per round instead of 2×), and after CSS_ROUNDS
    /// rounds congestion avoidance begins (ssthresh = cwnd).
    #[test]
    fn delay_increase_enters_conservative_slow_start() {
        // From round 4 on, the queue grows: +20 ms per round.
        let (w, exit) = run_rounds(14, |r| {
            if r >= 4 {
                100 + 20 * u64::from(r - 3)
            } else {
                100
            }
        });
        // Doubling up to the round where the RTT rose (10·2⁴ = 160)...
        assert_eq!(&w[..5], &[10, 20, 40, 80, 160], "{w:?}");
        // ... the test fires within round 4 (after N_RTT_SAMPLE samples),
        // then each round grows by about a quarter.
        for pair in w[6..10].windows(2) {
            let g = f64::from(pair[1]) / f64::from(pair[0]);
            assert!((1.2..=1.3).contains(&g), "CSS growth {g:.2} in {w:?}");
        }
        // ssthresh is set CSS_ROUNDS rounds after the exit, not at it.
        let exit = exit.expect("CSS never ended");
        assert!((8..=10).contains(&exit), "CSS ended in round {exit}: {w:?}");
        // Past that, congestion avoidance: far slower than CSS.
        let last = w.len() - 1;
        let g = f64::from(w[last]) / f64::from(w[last - 1]);
        assert!(g < 1.1, "growth {g:.2} after CSS: {w:?}");
    }

    /// RFC 9406 §4.3: if a CSS round's minimum RTT falls back below the
    /// baseline taken at the exit, the exit was spurious and slow start
    /// resumes (doubling again).
    #[test]
    fn rtt_falling_back_in_css_resumes_slow_start() {
        // One round of +30 ms at round 4 (a transient), then back to 100.
        let (w, exit) = run_rounds(9, |r| if r == 4 { 130 } else { 100 });
        assert_eq!(exit, None, "slow start ended: {w:?}");
        // Round 4 switched to CSS after its first samples (far less than
        // doubling); round 5's low RTT resumed slow start: doubling again.
        assert!(w[5] < w[4] * 3 / 2, "no CSS after the rise: {w:?}");
        let g = f64::from(w[8]) / f64::from(w[7]);
        assert!(g > 1.9, "slow start did not resume: {w:?}");
    }

    /// RFC 9406 §4.2: HyStart++ runs in the initial slow start only; a
    /// slow start after a timeout (ssthresh set) runs up to ssthresh
    /// whatever the RTT does.
    #[test]
    fn hystart_only_in_the_initial_slow_start() {
        let mss = 1000u32;
        let mut c = Cubic::new(mss, 10);
        c.cwnd = 200 * mss;
        let t = Instant::from_secs(5);
        c.on_rto(t, 200 * mss, u32::MAX);
        assert_eq!((c.cwnd(), c.ssthresh()), (mss, 140 * mss));
        let mut rtt = 100u64;
        let mut now = t;
        while c.cwnd() < c.ssthresh() {
            for _ in 0..c.cwnd() / mss {
                c.on_ack(now, mss, true, Some(Duration::from_millis(rtt)));
            }
            rtt += 30; // a rising RTT every round
            now += Duration::from_millis(rtt);
            assert!(rtt < 1000, "slow start never reached ssthresh");
        }
        assert_eq!(c.ssthresh(), 140 * mss, "ssthresh moved: {}", c.ssthresh());
        assert!(c.css.is_none());
    }

    /// Slow start over a 100 ms path whose bottleneck spaces ACKs 1 ms
    /// apart, RTT constant (no queue signal): the ACK train of a round
    /// spans cwnd ms, so the train test ends slow start in the round whose
    /// train exceeds 50 ms (min RTT / 2); switched off, it does not.
    fn slow_start_exit(train: bool) -> Option<u32> {
        slow_start_exit_limited(train, u32::MAX)
    }

    /// As `slow_start_exit`, with a send buffer of `limit` bytes.
    fn slow_start_exit_limited(train: bool, limit: u32) -> Option<u32> {
        let mss = 1000u32;
        let mut c = Cubic::new(mss, 10);
        c.set_ack_train(train);
        c.set_send_buffer(limit);
        let mut t = Instant::from_secs(1);
        for _ in 0..8 {
            let acks = c.cwnd() / mss;
            for _ in 0..acks {
                c.on_ack(t, mss, true, Some(Duration::from_millis(100)));
                if c.ssthresh() != u32::MAX {
                    return Some(c.ssthresh() / mss);
                }
                t += Duration::from_millis(1);
            }
            // Idle until the next round's first ACK.
            t += Duration::from_millis(100);
        }
        None
    }

    /// A round that begins with a lone ACK at the tail of a burst (as after
    /// a recovery), and whose train is cut by reordering holes (SACK-only
    /// ACKs, `on_sack_delivery`): the train is the current run of
    /// back-to-back ACKs, and it still ends slow start.
    #[test]
    fn ack_train_survives_a_tail_start_and_sack_only_acks() {
        let mss = 1000u32;
        let mut c = Cubic::new(mss, 10);
        c.set_ack_train(true);
        c.cwnd = 60 * mss;
        let mut t = Instant::from_secs(1);
        // The first RTT sample sets the minimum (100 ms).
        c.on_round_start(t);
        c.on_ack(t, mss, true, Some(Duration::from_millis(100)));
        // A long idle gap, then back-to-back ACKs 1 ms apart, two in every
        // four SACK-only.
        t += Duration::from_millis(90);
        for i in 0..80 {
            if i % 4 >= 2 {
                c.on_sack_delivery(t);
            } else {
                c.on_ack(t, mss, true, Some(Duration::from_millis(100)));
            }
            if c.ssthresh() != u32::MAX {
                // Half the minimum RTT (50 ms) into the run.
                assert!((50..=53).contains(&i), "exit after {i} ACKs");
                return;
            }
            t += Duration::from_millis(1);
        }
        panic!("the train test never fired: cwnd {}", c.cwnd() / mss);
    }

    #[test]
    fn ack_train_ends_slow_start_at_half_the_bdp() {
        // BDP = 100 packets (1 ms each over 100 ms): the exit must come
        // after half of it and well before 2·BDP, where a queue of one BDP
        // would overflow (the delay test alone fires only after that).
        let at = slow_start_exit(true).expect("train test never fired");
        assert!((50..=150).contains(&at), "exit at cwnd {at}");
        assert_eq!(slow_start_exit(false), None, "exit without the test");
    }

    /// With the option off, the ACK train still ends slow start once cwnd
    /// is within a doubling of the send buffer (the flight's limit): there
    /// the remaining growth is small, and overshooting the path at the
    /// window limit stalls a round trip (the lost segment holds SND.UNA).
    #[test]
    fn ack_train_ends_slow_start_near_the_send_buffer() {
        // A buffer of 150 packets (1.5 BDP): the exit at ≥ 75 is allowed.
        let at = slow_start_exit_limited(false, 150_000).expect("no exit near the limit");
        assert!((75..=150).contains(&at), "exit at cwnd {at}");
        // A limit far beyond the path: no exit (random-loss paths keep
        // their slow start).
        assert_eq!(slow_start_exit_limited(false, 100_000_000), None);
    }

    /// A controller in congestion avoidance after a loss at 100 segments
    /// (W_max = 100, cwnd = 70, K ≈ 4.2 s), its epoch begun at `t`.
    fn after_loss(t: Instant) -> Cubic {
        let mss = 1000u32;
        let mut c = Cubic::new(mss, 10);
        c.cwnd = 100 * mss;
        c.on_congestion_event(t, 100 * mss, u32::MAX);
        c.on_recovery_exit(t, 70 * mss);
        c.on_ack(t, mss, true, Some(Duration::from_millis(100)));
        c
    }

    /// `acks` cwnd-limited ACKs of one segment, 10 ms apart from `t`.
    fn limited_acks(c: &mut Cubic, mut t: Instant, acks: u32) -> Instant {
        for _ in 0..acks {
            c.on_ack(t, 1000, true, Some(Duration::from_millis(100)));
            t += Duration::from_millis(10);
        }
        t
    }

    /// RFC 9438 §5.8: no growth while application-limited, and t leaves
    /// that time out: after 60 s of ACKs of a flow that does not fill its
    /// window, cwnd grows exactly as if those 60 s had not been. Without
    /// the rule, t − K would be ≈ 56 s and the window would leap by half
    /// of itself per round trip.
    #[test]
    fn application_limited_time_is_not_in_t() {
        let t0 = Instant::from_secs(10);
        let mut quiet = after_loss(t0);
        let base = quiet.cwnd();
        let mut t = t0 + Duration::from_millis(10);
        for _ in 0..600 {
            quiet.on_ack(t, 1000, false, Some(Duration::from_millis(100)));
            t += Duration::from_millis(100);
        }
        assert_eq!(quiet.cwnd(), base, "grew while application-limited");
        let mut busy = after_loss(t0);
        limited_acks(&mut busy, t0 + Duration::from_millis(10), 200);
        // The quiet flow's first limited ACK comes 10 ms after its last
        // quiet one, as the busy flow's first after its epoch began.
        limited_acks(&mut quiet, t - Duration::from_millis(90), 200);
        assert_eq!(quiet.cwnd(), busy.cwnd());
        // 2 s into the epoch, K ≈ 4.2 s: still below W_max.
        assert!(
            busy.cwnd() > 80_000 && busy.cwnd() < 100_000,
            "{}",
            busy.cwnd()
        );
    }

    /// §5.8 for idleness (Linux's CA_EVENT_TX_START): the time between the
    /// last ACK and the next transmission is not in t.
    #[test]
    fn idle_time_is_not_in_t() {
        let t0 = Instant::from_secs(10);
        let mut idle = after_loss(t0);
        let mut busy = after_loss(t0);
        idle.on_tx_start(t0 + Duration::from_secs(60));
        limited_acks(&mut idle, t0 + Duration::from_millis(60_010), 200);
        limited_acks(&mut busy, t0 + Duration::from_millis(10), 200);
        assert_eq!(idle.cwnd(), busy.cwnd());
        // Without the shift the curve is far past K: cwnd leaps.
        let mut leap = after_loss(t0);
        limited_acks(&mut leap, t0 + Duration::from_millis(60_010), 200);
        assert!(
            leap.cwnd() > busy.cwnd() * 3 / 2,
            "{} vs {}",
            leap.cwnd(),
            busy.cwnd()
        );
    }

    /// In slow start too, an application-limited ACK grows nothing (the
    /// sender decides, from its largest flight, what counts as limited).
    #[test]
    fn slow_start_grows_only_when_limited() {
        let mut c = Cubic::new(1000, 10);
        let t = Instant::from_secs(1);
        c.on_ack(t, 5000, false, Some(Duration::from_millis(100)));
        assert_eq!(c.cwnd(), 10_000);
        c.on_ack(t, 5000, true, Some(Duration::from_millis(100)));
        assert_eq!(c.cwnd(), 15_000);
    }
}
