//! The sender's record of segments in flight: one entry per transmitted
//! segment between SND.UNA and SND.NXT, with its send time and whether it
//! was selectively acknowledged (RFC 2018 / RFC 6675 scoreboard) or judged
//! lost (RFC 6675 §4, RFC 8985 RACK, or an RTO). Retransmissions reuse the
//! original boundaries, so SACK blocks (built by the receiver from our own
//! segments) line up with records.
//!
//! `pipe` (RFC 6675 §4) is kept incrementally: outstanding bytes minus
//! SACKed bytes minus bytes marked lost and not yet retransmitted.
use super::seq::Seq;
use crate::time::{Duration, Instant};
use std::collections::VecDeque;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TxRecord {
    pub start: Seq,
    /// One past the last sequence number (a FIN counts).
    pub end: Seq,
    /// Last (re)transmission time.
    pub sent_at: Instant,
    /// Transmissions so far (1 = never retransmitted).
    pub xmits: u16,
    pub sacked: bool,
    /// Judged lost and not retransmitted since.
    pub lost: bool,
}

impl TxRecord {
    pub fn len(&self) -> u32 {
        self.end.since(self.start)
    }
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// A record that an ACK delivered (acknowledged or SACKed).
#[derive(Debug, Clone, Copy)]
pub struct Delivered {
    pub end: Seq,
    pub sent_at: Instant,
    pub xmits: u16,
}

#[derive(Debug, Default)]
pub struct RtxQueue {
    q: VecDeque<TxRecord>,
    sacked_bytes: u32,
    sacked_count: usize,
    lost_bytes: u32,
    /// Records retransmitted and neither acknowledged nor SACKed since
    /// (Linux's retrans_out).
    retrans_out: usize,
}

impl RtxQueue {
    pub fn is_empty(&self) -> bool {
        self.q.is_empty()
    }
    pub fn len(&self) -> usize {
        self.q.len()
    }
    pub fn clear(&mut self) {
        self.q = VecDeque::new();
        self.sacked_bytes = 0;
        self.sacked_count = 0;
        self.lost_bytes = 0;
        self.retrans_out = 0;
    }
    /// Retransmitted records neither acknowledged nor SACKed since.
    pub fn retrans_out(&self) -> usize {
        self.retrans_out
    }
    pub fn sacked_bytes(&self) -> u32 {
        self.sacked_bytes
    }
    pub fn lost_bytes(&self) -> u32 {
        self.lost_bytes
    }
    pub fn get(&self, i: usize) -> Option<&TxRecord> {
        self.q.get(i)
    }
    pub fn last(&self) -> Option<&TxRecord> {
        self.q.back()
    }
    pub fn iter(&self) -> impl Iterator<Item = &TxRecord> {
        self.q.iter()
    }

    /// RFC 6675 §4 pipe, given the outstanding bytes SND.NXT − SND.UNA.
    pub fn pipe(&self, outstanding: u32) -> u32 {
        outstanding.saturating_sub(self.sacked_bytes + self.lost_bytes)
    }

    /// Records a newly sent segment [start, end).
    pub fn push(&mut self, start: Seq, end: Seq, now: Instant) {
        if end.le(start) {
            return;
        }
        if self.q.is_empty() {
            // Reserve a little so a window's worth does not reallocate often.
            self.q.reserve(16);
        }
        self.q.push_back(TxRecord {
            start,
            end,
            sent_at: now,
            xmits: 1,
            sacked: false,
            lost: false,
        });
    }

    /// Cumulative ACK: drops records below `ack` (trimming one that is
    /// partly acknowledged) and reports each delivered record.
    pub fn ack(&mut self, ack: Seq, mut delivered: impl FnMut(Delivered)) {
        while let Some(r) = self.q.front_mut() {
            if r.end.le(ack) {
                let r = *r;
                self.q.pop_front();
                if r.sacked {
                    self.sacked_bytes -= r.len();
                    self.sacked_count -= 1;
                } else {
                    if r.lost {
                        self.lost_bytes -= r.len();
                    }
                    if r.xmits > 1 {
                        self.retrans_out -= 1;
                    }
                    delivered(Delivered {
                        end: r.end,
                        sent_at: r.sent_at,
                        xmits: r.xmits,
                    });
                }
            } else if r.start.lt(ack) {
                // Partly acknowledged (a peer may ACK inside a segment).
                let cut = ack.since(r.start);
                if r.sacked {
                    self.sacked_bytes -= cut;
                } else if r.lost {
                    self.lost_bytes -= cut;
                }
                r.start = ack;
                break;
            } else {
                break;
            }
        }
        if self.q.is_empty() && self.q.capacity() > 1024 {
            self.q = VecDeque::new();
        }
    }

    /// Marks the records wholly inside the SACK block [left, right) as
    /// SACKed, reporting each newly SACKed one.
    pub fn sack(&mut self, left: Seq, right: Seq, mut delivered: impl FnMut(Delivered)) {
        if right.le(left) {
            return;
        }
        // Records are in sequence order: binary search the first candidate.
        let first = self.q.partition_point(|r| r.end.le(left));
        for r in self.q.iter_mut().skip(first) {
            if r.start.ge(right) {
                break;
            }
            if r.sacked || r.start.lt(left) || r.end.gt(right) {
                continue;
            }
            r.sacked = true;
            self.sacked_bytes += r.len();
            self.sacked_count += 1;
            if r.xmits > 1 {
                self.retrans_out -= 1;
            }
            if r.lost {
                r.lost = false;
                self.lost_bytes -= r.len();
            }
            delivered(Delivered {
                end: r.end,
                sent_at: r.sent_at,
                xmits: r.xmits,
            });
        }
    }

    /// Marks record `i` lost (no-op when SACKed or already lost).
    pub fn mark_lost(&mut self, i: usize) -> bool {
        let Some(r) = self.q.get_mut(i) else {
            return false;
        };
        if r.sacked || r.lost {
            return false;
        }
        r.lost = true;
        self.lost_bytes += r.len();
        true
    }

    /// RTO (RFC 6675 §5.1, RFC 8985 §6.3): everything not SACKed is lost.
    pub fn mark_all_lost(&mut self) -> u32 {
        let mut n = 0;
        for i in 0..self.q.len() {
            if self.mark_lost(i) {
                n += 1;
            }
        }
        n
    }

    /// Clears every loss mark (a spurious RTO was undone); returns how many.
    pub fn unmark_lost(&mut self) -> usize {
        let mut n = 0;
        for r in self.q.iter_mut() {
            if r.lost {
                r.lost = false;
                n += 1;
            }
        }
        self.lost_bytes = 0;
        n
    }

    /// The first record waiting for retransmission.
    pub fn first_lost(&self) -> Option<usize> {
        if self.lost_bytes == 0 {
            return None;
        }
        self.q.iter().position(|r| r.lost)
    }

    /// The first record neither SACKed nor already lost.
    pub fn first_unsacked(&self) -> Option<usize> {
        self.q.iter().position(|r| !r.sacked && !r.lost)
    }

    /// Splits record `i` at `at` into two with the same marks and send
    /// time: a segment retransmitted after the path MTU fell goes out in
    /// smaller pieces (RFC 1191 §6.4: TCP repacketizes), and the records
    /// follow, so SACK blocks still line up with them. No-op unless `at`
    /// falls strictly inside the record.
    pub fn split(&mut self, i: usize, at: Seq) {
        let Some(r) = self.q.get_mut(i) else {
            return;
        };
        if !(at.gt(r.start) && at.lt(r.end)) {
            return;
        }
        let mut tail = *r;
        r.end = at;
        tail.start = at;
        let r = *r;
        if r.sacked {
            self.sacked_count += 1;
        } else if r.xmits > 1 {
            self.retrans_out += 1;
        }
        self.q.insert(i + 1, tail);
    }

    /// Record `i` was retransmitted at `now`.
    pub fn retransmitted(&mut self, i: usize, now: Instant) {
        if let Some(r) = self.q.get_mut(i) {
            if r.lost {
                r.lost = false;
                self.lost_bytes -= r.len();
            }
            r.sent_at = now;
            if r.xmits == 1 && !r.sacked {
                self.retrans_out += 1;
            }
            r.xmits = r.xmits.saturating_add(1);
        }
    }

    /// Number of SACKed records above the first unSACKed one (RFC 6675
    /// DupThresh test).
    pub fn sacked_segments(&self) -> usize {
        self.sacked_count
    }

    /// RFC 8985 §6.2 step 5: marks lost every unSACKed record sent before
    /// the most recently delivered one (`xmit_ts`, `end`) and older than
    /// `rtt + reo_wnd`; returns how many were marked and, for those not yet
    /// old enough, when the earliest will be (the reordering timer).
    pub fn rack_detect(
        &mut self,
        now: Instant,
        xmit_ts: Instant,
        end: Seq,
        rtt: Duration,
        reo_wnd: Duration,
    ) -> (u32, Option<Instant>) {
        let mut marked = 0;
        let mut timer: Option<Instant> = None;
        for i in 0..self.q.len() {
            let r = self.q[i];
            if r.start.ge(end) && r.sent_at >= xmit_ts {
                // Sent after the delivered segment: nothing to infer. Records
                // beyond `end` can only qualify if retransmitted earlier,
                // which would make sent_at < xmit_ts; keep scanning only
                // while that can happen.
                if r.xmits == 1 {
                    break;
                }
                continue;
            }
            if r.sacked || r.lost {
                continue;
            }
            // RACK_sent_after(xmit_ts, end, r.sent_at, r.end)?
            let before = r.sent_at < xmit_ts || (r.sent_at == xmit_ts && r.end.lt(end));
            if !before {
                continue;
            }
            let deadline = r.sent_at + rtt + reo_wnd;
            if deadline <= now {
                if self.mark_lost(i) {
                    marked += 1;
                }
            } else {
                timer = Some(timer.map_or(deadline, |t| t.min(deadline)));
            }
        }
        (marked, timer)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(ms: u64) -> Instant {
        Instant::from_millis(ms)
    }

    fn queue(n: u32) -> RtxQueue {
        let mut q = RtxQueue::default();
        for i in 0..n {
            q.push(Seq(i * 100), Seq((i + 1) * 100), t(u64::from(i)));
        }
        q
    }

    #[test]
    fn ack_sack_pipe() {
        let mut q = queue(10);
        assert_eq!(q.pipe(1000), 1000);
        let mut got = Vec::new();
        q.sack(Seq(300), Seq(500), |d| got.push(d.end.0));
        assert_eq!(got, vec![400, 500]);
        assert_eq!(q.sacked_bytes(), 200);
        assert_eq!(q.pipe(1000), 800);
        // A block that splits a record SACKs only whole records.
        q.sack(Seq(650), Seq(800), |d| got.push(d.end.0));
        assert_eq!(got, vec![400, 500, 800]);
        assert_eq!(q.sacked_bytes(), 300);
        // Cumulative ACK up to 450: two unsacked delivered, one sacked gone,
        // the record 400..500 (sacked) trimmed.
        got.clear();
        q.ack(Seq(450), |d| got.push(d.end.0));
        assert_eq!(got, vec![100, 200, 300]);
        assert_eq!(q.sacked_bytes(), 50 + 100);
        assert_eq!(q.get(0).map(|r| r.start), Some(Seq(450)));
        assert_eq!(q.pipe(1000 - 450), 550 - 150);
    }

    #[test]
    fn lost_and_retransmitted() {
        let mut q = queue(5);
        assert!(q.mark_lost(1));
        assert!(!q.mark_lost(1));
        assert_eq!(q.lost_bytes(), 100);
        assert_eq!(q.pipe(500), 400);
        assert_eq!(q.first_lost(), Some(1));
        q.retransmitted(1, t(50));
        assert_eq!(q.lost_bytes(), 0);
        assert_eq!(q.get(1).map(|r| (r.xmits, r.sent_at)), Some((2, t(50))));
        assert_eq!(q.mark_all_lost(), 5);
        assert_eq!(q.pipe(500), 0);
        // A SACK of a lost record un-loses it.
        q.sack(Seq(0), Seq(100), |_| {});
        assert_eq!((q.lost_bytes(), q.sacked_bytes()), (400, 100));
    }

    #[test]
    fn split_keeps_marks_and_counts() {
        let mut q = RtxQueue::default();
        q.push(Seq(0), Seq(300), t(0));
        q.push(Seq(300), Seq(600), t(1));
        q.push(Seq(600), Seq(900), t(2));
        q.sack(Seq(300), Seq(600), |_| {});
        q.mark_lost(0);
        q.retransmitted(0, t(5));
        q.mark_lost(0);
        q.mark_lost(2);
        let before = (
            q.sacked_bytes(),
            q.lost_bytes(),
            q.retrans_out(),
            q.pipe(900),
        );
        q.split(0, Seq(100));
        q.split(2, Seq(400));
        q.split(4, Seq(700));
        // Outside or at an edge: nothing.
        q.split(0, Seq(0));
        q.split(0, Seq(100));
        q.split(9, Seq(5));
        let spans: Vec<_> = q
            .iter()
            .map(|r| (r.start.0, r.end.0, r.sacked, r.lost, r.xmits))
            .collect();
        assert_eq!(
            spans,
            vec![
                (0, 100, false, true, 2),
                (100, 300, false, true, 2),
                (300, 400, true, false, 1),
                (400, 600, true, false, 1),
                (600, 700, false, true, 1),
                (700, 900, false, true, 1),
            ]
        );
        assert_eq!(before, (300, 600, 1, 0));
        assert_eq!(
            (q.sacked_bytes(), q.lost_bytes(), q.pipe(900)),
            (300, 600, 0)
        );
        // Both halves count: SACKed segments for DupThresh, retransmitted
        // ones for retrans_out; acknowledging everything balances them.
        assert_eq!((q.sacked_segments(), q.retrans_out()), (2, 2));
        q.retransmitted(0, t(9));
        q.ack(Seq(900), |_| {});
        assert!(q.is_empty());
        assert_eq!(
            (
                q.sacked_bytes(),
                q.lost_bytes(),
                q.retrans_out(),
                q.sacked_segments()
            ),
            (0, 0, 0, 0)
        );
    }

    #[test]
    fn rack_marks_only_older_and_expired() {
        let mut q = queue(6); // sent at 0..5 ms
                              // Segment 4 (sent at 4 ms) delivered; RTT 10 ms, no reordering window.
        q.sack(Seq(400), Seq(500), |_| {});
        let (n, timer) = q.rack_detect(
            t(12),
            t(4),
            Seq(500),
            Duration::from_millis(10),
            Duration::ZERO,
        );
        // Records sent at 0, 1 and 2 ms are older than 12 − 10: lost; 3 ms
        // waits until 13 ms; record 5 was sent after: untouched.
        assert_eq!(n, 2 + 1);
        assert_eq!(timer, Some(t(13)));
        assert!(!q.get(3).is_some_and(|r| r.lost));
        assert!(!q.get(5).is_some_and(|r| r.lost));
        let (n, timer) = q.rack_detect(
            t(13),
            t(4),
            Seq(500),
            Duration::from_millis(10),
            Duration::ZERO,
        );
        assert_eq!((n, timer), (1, None));
    }
}
