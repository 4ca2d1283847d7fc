//! Seeing TCP work: capture reading, segment parsing, connection analysis
//! and the SVG graphs shared by `ustack demo` and `ustack plot`.
pub mod packet;
pub mod pcap;
pub mod svg;
pub mod tcpflow;

use svg::{Chart, Series, Style, Unit};
use tcpflow::TimeSeq;

pub const COLOR_DATA: &str = "#1f4fd8";
pub const COLOR_RETX: &str = "#d62728";
pub const COLOR_ACK: &str = "#2ca02c";
pub const COLOR_WINDOW: &str = "#e08a00";
pub const COLOR_CWND: &str = "#1f4fd8";
pub const COLOR_SSTHRESH: &str = "#d62728";
pub const COLOR_FLIGHT: &str = "#7f7f7f";
pub const COLOR_FAST_RTX: &str = "#ff7f0e";
pub const COLOR_RTO: &str = "#9467bd";

/// A loss-recovery event to mark on a graph.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Recovery {
    FastRetransmit,
    Timeout,
}

/// Adds vertical event lines for recoveries (one series per kind).
fn recovery_series(events: &[(f64, Recovery)]) -> Vec<Series> {
    let mut fast = Series::new("fast retransmit", COLOR_FAST_RTX, Style::Events)
        .width(1.0)
        .dash("4 3");
    let mut rto = Series::new("retransmission timeout", COLOR_RTO, Style::Events)
        .width(1.0)
        .dash("2 2");
    for &(t, kind) in events {
        match kind {
            Recovery::FastRetransmit => fast.push(t, 0.0),
            Recovery::Timeout => rto.push(t, 0.0),
        }
    }
    [fast, rto]
        .into_iter()
        .filter(|s| !s.points.is_empty())
        .collect()
}

/// The Stevens-style time-sequence graph: each data segment a vertical bar
/// at (time, sequence range), retransmissions in red, the cumulative ACK as
/// a step line and the receive window's right edge above it.
pub fn time_sequence_chart(
    ts: &TimeSeq,
    title: &str,
    subtitle: Option<String>,
    events: &[(f64, Recovery)],
) -> Chart {
    let mut c = Chart::new(title, "time (s)", "relative sequence number (bytes)");
    c.subtitle = subtitle;
    c.y_unit = Unit::Bytes;
    let mut data = Series::new("data segment", COLOR_DATA, Style::Bars).width(1.2);
    for &(t, a, b) in &ts.data {
        data.push_bar(t, a as f64, b as f64);
    }
    let mut retx = Series::new("retransmitted segment", COLOR_RETX, Style::Bars)
        .width(1.5)
        .marker();
    for &(t, a, b) in &ts.retransmits {
        retx.push_bar(t, a as f64, b as f64);
    }
    let mut ack = Series::new("cumulative ACK", COLOR_ACK, Style::Step).width(1.2);
    for &(t, a) in &ts.acks {
        ack.push(t, a as f64);
    }
    let win_name = if ts.wscale_known {
        "receive window (ACK + advertised window)"
    } else {
        "receive window (ACK + window; scale unknown, unscaled)"
    };
    let mut win = Series::new(win_name, COLOR_WINDOW, Style::Step).width(1.0);
    for &(t, w) in &ts.window {
        win.push(t, w as f64);
    }
    c.series = vec![data, retx, ack, win];
    c.series.extend(recovery_series(events));
    c
}

/// One sample of the sender's congestion state.
#[derive(Debug, Clone, Copy)]
pub struct CwndSample {
    /// Seconds from the connection's start.
    pub t: f64,
    pub cwnd: u32,
    pub ssthresh: u32,
    pub in_flight: u32,
}

/// cwnd and ssthresh over time (ssthresh is left out while it is still
/// "infinite", i.e. above anything cwnd reached).
pub fn cwnd_chart(
    samples: &[CwndSample],
    title: &str,
    subtitle: Option<String>,
    events: &[(f64, Recovery)],
) -> Chart {
    let mut c = Chart::new(title, "time (s)", "bytes");
    c.subtitle = subtitle;
    c.y_unit = Unit::Bytes;
    let max_cwnd = samples.iter().map(|s| s.cwnd).max().unwrap_or(0);
    let mut cwnd = Series::new("cwnd", COLOR_CWND, Style::Step).width(2.0);
    let mut ss = Series::new("ssthresh", COLOR_SSTHRESH, Style::Step)
        .width(1.5)
        .dash("6 3");
    let mut flight = Series::new("bytes in flight", COLOR_FLIGHT, Style::Step).width(0.8);
    for s in samples {
        cwnd.push(s.t, f64::from(s.cwnd));
        flight.push(s.t, f64::from(s.in_flight));
        if u64::from(s.ssthresh) <= 2 * u64::from(max_cwnd).max(1) {
            ss.push(s.t, f64::from(s.ssthresh));
        }
    }
    c.series = vec![cwnd, ss, flight];
    c.series.extend(recovery_series(events));
    c
}

/// The bytes-in-flight estimate of the congestion window, from a capture.
pub fn flight_chart(ts: &TimeSeq, title: &str, subtitle: Option<String>) -> Chart {
    let mut c = Chart::new(title, "time (s)", "bytes");
    c.subtitle = subtitle;
    c.y_unit = Unit::Bytes;
    let mut f = Series::new(
        "bytes in flight (highest seq sent − highest ACK the sender had seen)",
        COLOR_CWND,
        Style::Step,
    )
    .width(1.5);
    for &(t, v) in &ts.in_flight {
        f.push(t, v as f64);
    }
    c.series = vec![f];
    c
}
