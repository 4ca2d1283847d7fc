//! Congestion control behind a trait, so that NewReno, CUBIC and others can
//! be swapped per connection. Loss *detection* and recovery bookkeeping
//! (dup ACKs, recover point, window inflation) live in the sender; the
//! controller only owns cwnd and ssthresh.
mod cubic;
mod newreno;

pub use cubic::Cubic;
pub use newreno::NewReno;

use crate::time::{Duration, Instant};

/// Which controller a connection uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CongestionKind {
    /// RFC 5681 + RFC 6582.
    NewReno,
    /// RFC 9438 (the default, as on Linux).
    #[default]
    Cubic,
}

impl core::str::FromStr for CongestionKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.to_ascii_lowercase().as_str() {
            "newreno" | "reno" => Ok(CongestionKind::NewReno),
            "cubic" => Ok(CongestionKind::Cubic),
            other => Err(format!(
                "unknown congestion control '{other}' (expected newreno or cubic)"
            )),
        }
    }
}

impl CongestionKind {
    pub fn as_str(self) -> &'static str {
        match self {
            CongestionKind::NewReno => "newreno",
            CongestionKind::Cubic => "cubic",
        }
    }
}

/// Window control events from the sender.
pub trait CongestionControl {
    /// Congestion window in bytes.
    fn cwnd(&self) -> u32;
    /// Slow-start threshold in bytes.
    fn ssthresh(&self) -> u32;
    /// New data acknowledged outside recovery. `cwnd_limited`: the flight
    /// filled cwnd while this data was sent; if not, cwnd does not grow
    /// (RFC 9438 §5.8; Linux's `tcp_is_cwnd_limited`).
    fn on_ack(&mut self, now: Instant, acked: u32, cwnd_limited: bool, rtt: Option<Duration>);
    /// Loss detected by duplicate ACKs (or SACK/RACK later): reduce.
    /// `flight`: bytes outstanding; `peer_window`: the most that could
    /// have been in flight whatever cwnd says (the peer's receive window,
    /// or the sender's buffer if smaller).
    fn on_congestion_event(&mut self, now: Instant, flight: u32, peer_window: u32);
    /// A new round trip begins with the ACK about to be passed to
    /// `on_ack` (RFC 9406 §4.2: SND.UNA passed the round's windowEnd).
    fn on_round_start(&mut self, _now: Instant) {}
    /// The send buffer's size (it holds every unacknowledged byte, so the
    /// flight never exceeds it), before each ACK.
    fn set_send_buffer(&mut self, _bytes: u32) {}
    /// An ACK outside recovery newly SACKed data without moving SND.UNA
    /// (a reordering or loss hole): no growth, but a delivery signal.
    fn on_sack_delivery(&mut self, _now: Instant) {}
    /// New data is about to be sent with nothing in flight, after an idle
    /// period (Linux's `CA_EVENT_TX_START`).
    fn on_tx_start(&mut self, _now: Instant) {}
    /// The initial window in bytes (RFC 6928), the restart window's bound
    /// after idleness (RFC 5681 §4.1).
    fn initial_window(&self) -> u32;
    /// Fast recovery finished (full ACK); `flight` after the ACK.
    fn on_recovery_exit(&mut self, now: Instant, flight: u32);
    /// Retransmission timeout: loss window (arguments as for
    /// `on_congestion_event`).
    fn on_rto(&mut self, now: Instant, flight: u32, peer_window: u32);
    /// The sender MSS changed (negotiation).
    fn set_mss(&mut self, mss: u32);
    /// Undoes a reduction found to be spurious (RFC 4015): back to the
    /// window and threshold saved before it.
    fn restore(&mut self, cwnd: u32, ssthresh: u32);
}

/// Static dispatch over the available controllers (no allocation).
#[derive(Debug, Clone)]
pub enum Controller {
    NewReno(NewReno),
    Cubic(Cubic),
}

impl Controller {
    pub fn new(
        kind: CongestionKind,
        mss: u32,
        initial_window: u32,
        hystart: bool,
        ack_train: bool,
    ) -> Controller {
        match kind {
            CongestionKind::NewReno => Controller::NewReno(NewReno::new(mss, initial_window)),
            CongestionKind::Cubic => {
                let mut c = Cubic::new(mss, initial_window);
                c.set_hystart(hystart);
                c.set_ack_train(ack_train);
                Controller::Cubic(c)
            }
        }
    }
    /// Which controller this is.
    pub fn kind(&self) -> CongestionKind {
        match self {
            Controller::NewReno(_) => CongestionKind::NewReno,
            Controller::Cubic(_) => CongestionKind::Cubic,
        }
    }
    fn inner(&self) -> &dyn CongestionControl {
        match self {
            Controller::NewReno(c) => c,
            Controller::Cubic(c) => c,
        }
    }
    fn inner_mut(&mut self) -> &mut dyn CongestionControl {
        match self {
            Controller::NewReno(c) => c,
            Controller::Cubic(c) => c,
        }
    }
}

impl CongestionControl for Controller {
    fn cwnd(&self) -> u32 {
        self.inner().cwnd()
    }
    fn ssthresh(&self) -> u32 {
        self.inner().ssthresh()
    }
    fn on_ack(&mut self, now: Instant, acked: u32, cwnd_limited: bool, rtt: Option<Duration>) {
        self.inner_mut().on_ack(now, acked, cwnd_limited, rtt)
    }
    fn on_tx_start(&mut self, now: Instant) {
        self.inner_mut().on_tx_start(now)
    }
    fn initial_window(&self) -> u32 {
        self.inner().initial_window()
    }
    fn on_congestion_event(&mut self, now: Instant, flight: u32, peer_window: u32) {
        self.inner_mut()
            .on_congestion_event(now, flight, peer_window)
    }
    fn set_send_buffer(&mut self, bytes: u32) {
        self.inner_mut().set_send_buffer(bytes)
    }
    fn on_round_start(&mut self, now: Instant) {
        self.inner_mut().on_round_start(now)
    }
    fn on_sack_delivery(&mut self, now: Instant) {
        self.inner_mut().on_sack_delivery(now)
    }
    fn on_recovery_exit(&mut self, now: Instant, flight: u32) {
        self.inner_mut().on_recovery_exit(now, flight)
    }
    fn on_rto(&mut self, now: Instant, flight: u32, peer_window: u32) {
        self.inner_mut().on_rto(now, flight, peer_window)
    }
    fn set_mss(&mut self, mss: u32) {
        self.inner_mut().set_mss(mss)
    }
    fn restore(&mut self, cwnd: u32, ssthresh: u32) {
        self.inner_mut().restore(cwnd, ssthresh)
    }
}
