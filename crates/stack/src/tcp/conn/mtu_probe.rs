//! Packetization-layer path MTU discovery (RFC 4821; Linux's
//! `tcp_mtu_probing`): black-hole detection lowers a connection's MSS
//! after repeated timeouts, and probes (one segment larger than the MSS)
//! search for the largest size the path carries, without relying on ICMP.
use super::{tcp_ip_headers, PathMtu, Tcb, BASE_MSS, MIN_PMTU_V6, TS_OPTION_LEN};
use crate::config::MtuProbing;
use crate::tcp::cc::CongestionControl;
use crate::tcp::seq::Seq;
use crate::time::{Duration, Instant};

/// The search ends when the interval between the largest MTU that got
/// through and the smallest that did not is narrower (Linux's
/// `tcp_probe_threshold`, RFC 4821 §7.7's "within a few bytes").
const PROBE_THRESHOLD: usize = 8;
/// A finished search starts again after this (Linux's
/// `tcp_probe_interval`; RFC 4821 §7.7 suggests 10 minutes).
const REPROBE_INTERVAL: Duration = Duration::from_secs(600);
/// Probe only with a congestion window of at least this many segments
/// (Linux's `tcp_mtu_probe`: a probe is not worth it in a small window).
const PROBE_MIN_CWND: usize = 11;
/// Full-sized segments queued behind a probe, so that its loss is found
/// from the ACKs of what follows rather than by a timeout (RFC 4821
/// §7.6.2; Linux sends the probe with reordering + 1 = 4 behind it).
const PROBE_TRAILING_SEGMENTS: usize = 4;

/// The search's state (Linux's `icsk_mtup`): only connections that probe
/// have one, boxed. The path MTU in use (`Tcb::path`) is the low end of
/// the search (RFC 4821's search_low).
#[derive(Debug)]
pub(in crate::tcp) struct MtuSearch {
    /// The smallest MTU not yet known to fail (RFC 4821 §7.2 search_high).
    high: u16,
    /// The largest MTU the connection could use: the interface's, or the
    /// peer's MSS, whichever is smaller.
    ceiling: u16,
    /// The probe in flight: its sequence range and the MTU it tests.
    probe: Option<(Seq, Seq, u16)>,
    /// A finished search starts again at this time.
    reprobe_at: Option<Instant>,
}

/// What `Tcb::probe_plan` decides for the next new data.
pub(super) enum ProbePlan {
    /// Send an ordinary segment.
    No,
    /// A probe is due but the window has no room for it yet: send
    /// nothing until ACKs make room (as Linux's `tcp_mtu_probe`).
    Wait,
    /// Send `len` bytes of data as a probe testing `mtu`.
    Send { len: usize, mtu: usize },
}

impl MtuSearch {
    pub(super) fn high(&self) -> usize {
        usize::from(self.high)
    }
}

fn to_u16(n: usize) -> u16 {
    u16::try_from(n).unwrap_or(u16::MAX)
}

impl Tcb {
    /// The path MTU at which segments carry `mss` bytes of data.
    fn mtu_for_mss(&self, mss: usize) -> usize {
        let ts = if self.ts_enabled { TS_OPTION_LEN } else { 0 };
        mss + tcp_ip_headers(&self.local) + ts
    }

    #[cold]
    #[inline(never)]
    fn start_mtu_search(&mut self) {
        if self.mtu_search.is_none() {
            // Beyond this a larger path MTU would not enlarge our segments.
            let ceiling =
                usize::from(self.peer_mss).min(self.link_mss) + tcp_ip_headers(&self.local);
            self.mtu_search = Some(Box::new(MtuSearch {
                high: to_u16(ceiling),
                ceiling: to_u16(ceiling),
                probe: None,
                reprobe_at: None,
            }));
        }
    }

    /// Called when the connection is established: with
    /// `MtuProbing::Always` (Linux's `tcp_mtu_probing = 2`), it starts at
    /// the 1 024-byte base MSS and searches up from there.
    #[inline]
    pub(super) fn mtu_probing_start(&mut self) {
        if self.cfg_mtu_probing == MtuProbing::Always {
            self.probe_from_base();
        }
    }

    #[cold]
    #[inline(never)]
    fn probe_from_base(&mut self) {
        self.start_mtu_search();
        let mut base = self.mtu_for_mss(BASE_MSS);
        if self.local.is_ipv6() {
            base = base.max(MIN_PMTU_V6);
        }
        if base < self.path.mtu() {
            self.path = PathMtu::new(base, self.path.df);
            self.update_smss();
        }
    }

    /// RFC 4821 §3 / RFC 2923 §2.1 (Linux's `tcp_mtu_probing`): repeated
    /// timeouts may mean a path that drops our large segments and tells
    /// us nothing. The first time, the MSS falls to `BASE_MSS`; each time
    /// after, to half. `lower_path_mtu` keeps the floors (552 bytes for
    /// IPv4, with DF then cleared; 1 280 for IPv6). The search for a larger
    /// size starts (or goes on) from there.
    #[cold]
    #[inline(never)]
    pub(super) fn black_hole_step(&mut self) {
        let target = if self.smss > BASE_MSS {
            BASE_MSS
        } else {
            self.smss / 2
        };
        let mtu = self.mtu_for_mss(target);
        if self.lower_path_mtu(mtu).is_some() {
            self.counters.black_hole_reductions += 1;
            tracing::debug!(local = %self.local, remote = %self.remote, mss = self.smss, "tcp pmtu black hole: mss lowered");
        }
        self.start_mtu_search();
    }

    /// RFC 4821 §7.5-7.6: whether the next new data goes out as a probe.
    /// `unsent`: bytes queued and not yet sent; `wnd_room`: the peer's
    /// window left; `flight`: bytes in flight; `room`: the largest TCP
    /// segment the caller's buffer holds.
    #[inline(never)]
    pub(super) fn probe_plan(
        &mut self,
        now: Instant,
        unsent: usize,
        wnd_room: usize,
        flight: u32,
        room: usize,
    ) -> ProbePlan {
        let low = self.path.mtu();
        let smss = self.smss;
        let settled = !self.in_recovery
            && self.retries == 0
            && self.dupacks == 0
            && !self.tlp_fire
            && self.snd_nxt == self.snd_max;
        let headers = tcp_ip_headers(&self.local);
        let ts = if self.ts_enabled { TS_OPTION_LEN } else { 0 };
        let allowance = self.send_allowance();
        let cwnd = self.cc.cwnd() as usize;
        let snd_wnd = self.snd_wnd as usize;
        let Some(s) = self.mtu_search.as_deref_mut() else {
            return ProbePlan::No;
        };
        if s.probe.is_some() || !settled {
            return ProbePlan::No;
        }
        if let Some(at) = s.reprobe_at {
            if now < at {
                return ProbePlan::No;
            }
            // RFC 4821 §7.7: the path may have changed; search again.
            s.reprobe_at = None;
            s.high = s.ceiling;
        }
        let (high, ceiling) = (usize::from(s.high), usize::from(s.ceiling));
        // RFC 4821 §7.3: halve the interval between what got through and
        // what did not. Once it is narrow, and nothing larger has been
        // lost, the ceiling itself is tried last, so that a clean path
        // ends at its full size rather than a few bytes short of it.
        let mut mtu = (low + high) / 2;
        if high < low + PROBE_THRESHOLD && high == ceiling {
            mtu = ceiling;
        }
        let len = mtu.saturating_sub(headers + ts);
        if (high < low + PROBE_THRESHOLD && mtu != ceiling) || len <= smss {
            // Done: this is as close as the search gets.
            s.reprobe_at = Some(now + REPROBE_INTERVAL);
            return ProbePlan::No;
        }
        // The TCP segment (IP header off) must fit the caller's buffer.
        if mtu - (headers - 20) > room || cwnd < PROBE_MIN_CWND * smss {
            return ProbePlan::No;
        }
        // Enough data and window for the probe and the segments after it.
        let needed = len + PROBE_TRAILING_SEGMENTS * smss;
        if unsent < needed || snd_wnd < needed {
            return ProbePlan::No;
        }
        if wnd_room < needed || allowance < len {
            // Wait for ACKs to make room, unless none can come.
            return if flight > 0 {
                ProbePlan::Wait
            } else {
                ProbePlan::No
            };
        }
        ProbePlan::Send { len, mtu }
    }

    /// A probe of `mtu` bytes went out as [start, end).
    #[cold]
    #[inline(never)]
    pub(super) fn probe_sent(&mut self, start: Seq, end: Seq, mtu: usize) {
        if let Some(s) = self.mtu_search.as_deref_mut() {
            s.probe = Some((start, end, to_u16(mtu)));
            self.counters.mtu_probes += 1;
            tracing::debug!(local = %self.local, remote = %self.remote, mtu, "tcp pmtu probe sent");
        }
    }

    /// SND.UNA advanced: a probe cumulatively acknowledged got through
    /// (RFC 4821 §7.6.1), and its size becomes the path MTU.
    #[cold]
    #[inline(never)]
    pub(super) fn probe_check_acked(&mut self) {
        let Some(s) = self.mtu_search.as_deref_mut() else {
            return;
        };
        let Some((_, end, mtu)) = s.probe else {
            return;
        };
        if self.snd_una.lt(end) {
            return;
        }
        s.probe = None;
        // A probe carries DF (and only a probe that got through raises the
        // estimate), so DF is set again.
        self.path = PathMtu::link(usize::from(mtu));
        self.update_smss();
        self.counters.mtu_probe_successes += 1;
        tracing::debug!(local = %self.local, remote = %self.remote, mtu, mss = self.smss, "tcp pmtu probe acknowledged: mss raised");
    }

    /// The probe was lost (RFC 4821 §7.6.2): the path's MTU is below its
    /// size. Its data is resent in pieces of the current MSS (`send_data`
    /// splits it). Returns whether a probe was in flight.
    #[cold]
    #[inline(never)]
    pub(super) fn probe_failed(&mut self, why: &'static str) -> bool {
        let Some(s) = self.mtu_search.as_deref_mut() else {
            return false;
        };
        let Some((_, _, mtu)) = s.probe.take() else {
            return false;
        };
        s.high = s.high.min(mtu - 1);
        tracing::debug!(local = %self.local, remote = %self.remote, mtu, why, "tcp pmtu probe lost");
        true
    }

    /// Loss detection marked `marked` segments lost. If the only one is
    /// the probe, at SND.UNA, the loss says the probe was too big, not
    /// that the network is congested (RFC 4821 §7.6.2, as Linux's
    /// `tcp_mtup_probe_failed` path: no window reduction). Returns whether
    /// the congestion response is to be skipped.
    #[cold]
    #[inline(never)]
    pub(super) fn probe_loss_only(&mut self, marked: u32) -> bool {
        let Some((start, _, _)) = self.mtu_search.as_deref().and_then(|s| s.probe) else {
            return false;
        };
        let lost_at_una =
            self.snd_una == start && self.rtxq.get(0).is_some_and(|r| r.start == start && r.lost);
        if !lost_at_una {
            return false;
        }
        self.probe_failed("loss detected");
        marked == 1
    }

    /// An ICMP "fragmentation needed" / Packet Too Big reporting `mtu`
    /// (already checked to quote data in flight): the search keeps below
    /// it, and a probe larger than it was dropped and is resent at once.
    #[cold]
    #[inline(never)]
    pub(super) fn probe_on_too_big(&mut self, mtu: usize) {
        let Some(s) = self.mtu_search.as_deref_mut() else {
            return;
        };
        s.high = s.high.min(to_u16(mtu));
        let Some((start, _, probe_mtu)) = s.probe else {
            return;
        };
        if usize::from(probe_mtu) > mtu {
            self.probe_failed("ICMP too big");
            let at = self.rtxq.iter().position(|r| r.start == start);
            if let Some(i) = at {
                self.rtxq.mark_lost(i);
            }
        }
    }
}
