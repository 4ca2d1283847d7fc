//! One direction of a TCP connection, reconstructed from segments seen at
//! one point (a capture, or a stack's interface): what the Stevens /
//! tcptrace time-sequence graph shows, and the bytes in flight.
use super::packet::{TcpSegment, ACK, SYN};
use std::collections::HashMap;
use std::net::SocketAddr;

/// A segment with its capture time in seconds.
#[derive(Debug, Clone)]
pub struct TimedSegment {
    pub t: f64,
    pub seg: TcpSegment,
}

/// Payload carried in one direction of a connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlowSummary {
    pub sender: SocketAddr,
    pub receiver: SocketAddr,
    pub payload_bytes: u64,
    pub segments: u64,
}

/// Every direction seen, the one with most payload first.
pub fn flows(segs: &[TimedSegment]) -> Vec<FlowSummary> {
    let mut map: HashMap<(SocketAddr, SocketAddr), FlowSummary> = HashMap::new();
    let mut order = Vec::new();
    for s in segs {
        let key = (s.seg.src, s.seg.dst);
        let e = map.entry(key).or_insert_with(|| {
            order.push(key);
            FlowSummary {
                sender: key.0,
                receiver: key.1,
                payload_bytes: 0,
                segments: 0,
            }
        });
        e.payload_bytes += u64::from(s.seg.len);
        e.segments += 1;
    }
    let mut v: Vec<FlowSummary> = order.into_iter().filter_map(|k| map.remove(&k)).collect();
    // Stable: ties keep first-seen order.
    v.sort_by_key(|f| std::cmp::Reverse(f.payload_bytes));
    v
}

/// Maps 32-bit sequence numbers to 64-bit offsets from a base, following
/// wrap-around (each value must be within 2 GiB of the previous one).
#[derive(Debug, Clone, Copy)]
struct Unwrap {
    base: u32,
    last: i64,
}

impl Unwrap {
    fn new(base: u32) -> Unwrap {
        Unwrap { base, last: 0 }
    }
    fn rel(&mut self, x: u32) -> i64 {
        let last_abs = self.base.wrapping_add(self.last as u32);
        let r = self.last + i64::from(x.wrapping_sub(last_abs) as i32);
        self.last = r;
        r
    }
}

/// The time-sequence view of the sender → receiver direction.
#[derive(Debug, Clone, Default)]
pub struct TimeSeq {
    /// Time origin (seconds, absolute): the first segment of the connection.
    pub t0: f64,
    /// Data (and SYN/FIN) segments sent for the first time:
    /// (time, first relative seq, end).
    pub data: Vec<(f64, i64, i64)>,
    /// Segments covering sequence space sent before: (time, start, end).
    pub retransmits: Vec<(f64, i64, i64)>,
    /// Cumulative ACKs from the receiver: (time, relative ack).
    pub acks: Vec<(f64, i64)>,
    /// The receiver's window edge: (time, ack + advertised window).
    pub window: Vec<(f64, i64)>,
    /// Bytes in flight at the sender, estimated: highest seq seen sent
    /// minus the highest ACK the sender had received by then (ACKs
    /// delayed by [`TimeSeq::sender_rtt`]).
    pub in_flight: Vec<(f64, i64)>,
    /// Round trip between the capture point and the sender, from the
    /// handshake (≈ 0 for a capture taken at the sender); `None` if the
    /// handshake was not captured.
    pub sender_rtt: Option<f64>,
    /// Both SYNs were seen, so the window scale is known.
    pub wscale_known: bool,
    /// The sender's SYN was seen (relative seq 0 is its ISN).
    pub isn_seen: bool,
    pub payload_bytes: u64,
}

/// Builds the [`TimeSeq`] of `sender → receiver` from all segments of the
/// capture (other connections are ignored). Times become relative to the
/// connection's first segment.
pub fn time_sequence(segs: &[TimedSegment], sender: SocketAddr, receiver: SocketAddr) -> TimeSeq {
    let conn: Vec<&TimedSegment> = segs
        .iter()
        .filter(|s| {
            (s.seg.src == sender && s.seg.dst == receiver)
                || (s.seg.src == receiver && s.seg.dst == sender)
        })
        .collect();
    let mut ts = TimeSeq {
        t0: conn.first().map_or(0.0, |s| s.t),
        ..Default::default()
    };
    let fwd = |s: &TimedSegment| s.seg.src == sender;
    // Base: the sender's SYN if seen, else the first sequence number sent,
    // else the first ack received.
    let syn = conn.iter().find(|s| fwd(s) && s.seg.has(SYN));
    let base = match syn {
        Some(s) => {
            ts.isn_seen = true;
            s.seg.seq
        }
        None => match conn.iter().find(|s| fwd(s)) {
            Some(s) => s.seg.seq,
            None => conn
                .iter()
                .find(|s| s.seg.has(ACK))
                .map_or(0, |s| s.seg.ack),
        },
    };
    // Window scaling is in effect only if both SYNs carried the option.
    let snd_ws = syn.and_then(|s| s.seg.wscale);
    let rcv_syn = conn.iter().find(|s| !fwd(s) && s.seg.has(SYN));
    let rcv_ws = rcv_syn.and_then(|s| s.seg.wscale);
    ts.wscale_known = syn.is_some() && rcv_syn.is_some();
    let shift = match (snd_ws, rcv_ws) {
        (Some(_), Some(r)) => u32::from(r),
        _ => 0,
    };

    // Round trip between the capture point and the sender: the sender is
    // the responder (SYN → SYN|ACK) or the initiator (SYN|ACK → ACK).
    let first = |pred: &dyn Fn(&TimedSegment) -> bool| conn.iter().find(|s| pred(s)).map(|s| s.t);
    ts.sender_rtt = match syn.map(|s| s.seg.has(ACK)) {
        Some(true) => first(&|s| !fwd(s) && s.seg.has(SYN)).zip(syn.map(|s| s.t)),
        Some(false) => syn
            .map(|s| s.t)
            .zip(first(&|s| fwd(s) && !s.seg.has(SYN) && s.seg.has(ACK))),
        None => None,
    }
    .map(|(a, b)| (b - a).max(0.0));

    let mut seq_u = Unwrap::new(base);
    let mut ack_u = Unwrap::new(base);
    let mut high_end: Option<i64> = None;
    // Every cumulative ACK, for the delayed view the sender has of them.
    let mut ack_times: Vec<(f64, i64)> = Vec::new();
    let mut samples: Vec<(f64, i64)> = Vec::new();
    for s in conn {
        let t = s.t - ts.t0;
        let g = &s.seg;
        if fwd(s) {
            let start = seq_u.rel(g.seq);
            let end = start + i64::from(g.seq_len());
            if g.seq_len() > 0 {
                if high_end.is_some_and(|h| start < h) {
                    ts.retransmits.push((t, start, end));
                } else {
                    ts.data.push((t, start, end));
                }
                ts.payload_bytes += u64::from(g.len);
                high_end = Some(high_end.map_or(end, |h| h.max(end)));
            }
        } else if g.has(ACK) {
            let a = ack_u.rel(g.ack);
            ts.acks.push((t, a));
            let win = if g.has(SYN) {
                i64::from(g.window)
            } else {
                i64::from(g.window) << shift
            };
            ts.window.push((t, a + win));
            ack_times.push((t, a));
        }
        if let Some(h) = high_end {
            samples.push((t, h));
        }
    }
    // In flight at time t: H(t) − A(t − rtt), never negative.
    let rtt = ts.sender_rtt.unwrap_or(0.0);
    let floor = ts.data.first().map_or(0, |d| d.1);
    let mut k = 0;
    let mut acked: Option<i64> = None;
    for (t, h) in samples {
        while k < ack_times.len() && ack_times[k].0 <= t - rtt + 1e-9 {
            acked = Some(acked.map_or(ack_times[k].1, |a| a.max(ack_times[k].1)));
            k += 1;
        }
        ts.in_flight
            .push((t, (h - acked.unwrap_or(floor).max(floor)).max(0)));
    }
    ts
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::viz::packet::TcpSegment;

    fn seg(t: f64, fwd: bool, flags: u8, seq: u32, ack: u32, len: u32, win: u16) -> TimedSegment {
        let a: SocketAddr = "10.0.0.2:80".parse().unwrap();
        let b: SocketAddr = "10.0.0.1:5000".parse().unwrap();
        let (src, dst) = if fwd { (a, b) } else { (b, a) };
        TimedSegment {
            t,
            seg: TcpSegment {
                src,
                dst,
                seq,
                ack,
                flags,
                window: win,
                wscale: if flags & SYN != 0 { Some(2) } else { None },
                len,
            },
        }
    }

    #[test]
    fn retransmits_acks_window_and_wrap() {
        let isn = u32::MAX - 100; // wraps during the transfer
        let segs = vec![
            seg(10.0, false, SYN, 5, 0, 0, 1000),
            seg(10.01, true, SYN | ACK, isn, 6, 0, 1000),
            seg(10.02, false, ACK, 6, isn.wrapping_add(1), 0, 100),
            seg(10.03, true, ACK, isn.wrapping_add(1), 6, 1000, 100),
            seg(10.03, true, ACK, isn.wrapping_add(1001), 6, 1000, 100),
            seg(10.05, false, ACK, 6, isn.wrapping_add(1001), 0, 100),
            seg(10.30, true, ACK, isn.wrapping_add(1001), 6, 1000, 100),
        ];
        let a: SocketAddr = "10.0.0.2:80".parse().unwrap();
        let b: SocketAddr = "10.0.0.1:5000".parse().unwrap();
        let f = flows(&segs);
        assert_eq!((f[0].sender, f[0].payload_bytes), (a, 3000));
        let ts = time_sequence(&segs, a, b);
        assert!(ts.isn_seen && ts.wscale_known);
        assert_eq!(ts.data.len(), 3); // SYN + 2 data
        assert_eq!(ts.data[1].1, 1);
        assert_eq!(ts.data[2].2, 2001);
        assert_eq!(ts.retransmits.len(), 1);
        assert_eq!(ts.retransmits[0].1, 1001);
        assert_eq!(ts.acks.last().map(|a| a.1), Some(1001));
        // Window 100 << 2 on a non-SYN segment.
        assert_eq!(ts.window.last().map(|w| w.1), Some(1001 + 400));
        assert!((ts.data[0].0 - 0.01).abs() < 1e-9);
        // The SYN|ACK passed 10 ms after the SYN: the capture point is a
        // 10 ms round trip away from the sender.
        assert!((ts.sender_rtt.expect("rtt") - 0.01).abs() < 1e-9);
        assert_eq!(ts.in_flight.last().map(|f| f.1), Some(1000));
    }
}
