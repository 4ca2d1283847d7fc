//! The compact TIME-WAIT record (as Linux's `tcp_timewait_sock`).
//!
//! A connection spends 2·MSL in TIME-WAIT (RFC 9293 §3.10.7.4), usually
//! long after the application let go of it. All it needs then is what
//! answers a segment (an ACK for a retransmitted FIN, the PAWS and window
//! checks, a new SYN that may reopen it) and its expiry: about 200 bytes
//! instead of a whole `Tcb` with its congestion, RACK and timer state. On
//! a busy server these connections are most of the stack's memory.
//!
//! The record is never a second implementation of TIME-WAIT: a segment
//! that arrives for it turns it back into a `Tcb` (`Tcb::from_time_wait`),
//! which processes the segment by the same code as before, and the stack
//! compacts it again once it is quiet.

use super::{ConnParams, Tcb};
use crate::config::TcpConfig;
use crate::tcp::seq::Seq;
use crate::tcp::TcpState;
use crate::time::Instant;
use std::net::SocketAddr;

/// A connection in TIME-WAIT without its buffers and queues.
#[derive(Debug, Clone)]
pub(crate) struct TimeWait {
    pub local: SocketAddr,
    pub remote: SocketAddr,
    /// When TIME-WAIT ends (2·MSL after it began or after the last
    /// retransmitted FIN).
    pub expiry: Instant,
    ts_recent_age: Instant,
    challenge_window: Instant,
    iss: Seq,
    snd_una: Seq,
    snd_nxt: Seq,
    snd_max: Seq,
    snd_wl1: Seq,
    snd_wl2: Seq,
    irs: Seq,
    rcv_nxt: Seq,
    rcv_adv: Seq,
    last_ack_sent: Seq,
    fin_seq: Option<Seq>,
    remote_fin: Option<Seq>,
    snd_wnd: u32,
    max_snd_wnd: u32,
    ts_offset: u32,
    ts_recent: u32,
    challenge_count: u32,
    rx_capacity: u32,
    tx_capacity: u32,
    mtu: u32,
    smss: u32,
    rcv_mss: u32,
    peer_mss: u16,
    snd_wscale: u8,
    rcv_wscale: u8,
    passive: bool,
    fin_queued: bool,
    fin_received: bool,
    rd_shut: bool,
    ts_enabled: bool,
    sack_permitted: bool,
    peer_offered_ws: bool,
    nodelay: bool,
}

impl TimeWait {
    /// RCV.NXT: a SYN above it may reopen the 4-tuple (RFC 6191).
    pub fn rcv_nxt(&self) -> Seq {
        self.rcv_nxt
    }
}

impl Tcb {
    /// The compact record of this connection, if it is in TIME-WAIT, the
    /// application has released it, and nothing but the TIME-WAIT timer is
    /// pending: no buffered bytes, no ACK or RST to send, no other timer.
    /// Its counters are not carried over (the caller retires them).
    pub fn to_time_wait(&self) -> Option<TimeWait> {
        let quiet = self.state == TcpState::TimeWait
            && self.orphaned
            && self.error.is_none()
            && self.buffer_bytes() == 0
            && self.tx.is_empty()
            && self.rx.is_empty()
            && self.ooo.is_empty()
            && self.spill.is_empty()
            && self.rtxq.is_empty()
            && self.prefilled == 0
            && !self.ack_now
            && !self.rst_pending
            && !self.probe_pending
            && !self.force_send
            && self.dsack.is_none()
            && self.pending_drop.is_none()
            && self.rtx_deadline.is_none()
            && self.persist_deadline.is_none()
            && self.delack_deadline.is_none()
            && self.finwait2_deadline.is_none()
            && self.rack_deadline.is_none()
            && self.tlp_deadline.is_none()
            && self.shrink_deadline.is_none();
        if !quiet {
            return None;
        }
        Some(TimeWait {
            local: self.local,
            remote: self.remote,
            expiry: self.timewait_deadline?,
            ts_recent_age: self.ts_recent_age,
            challenge_window: self.challenge_window,
            iss: self.iss,
            snd_una: self.snd_una,
            snd_nxt: self.snd_nxt,
            snd_max: self.snd_max,
            snd_wl1: self.snd_wl1,
            snd_wl2: self.snd_wl2,
            irs: self.irs,
            rcv_nxt: self.rcv_nxt,
            rcv_adv: self.rcv_adv,
            last_ack_sent: self.last_ack_sent,
            fin_seq: self.fin_seq,
            remote_fin: self.remote_fin,
            snd_wnd: self.snd_wnd,
            max_snd_wnd: self.max_snd_wnd,
            ts_offset: self.ts_offset,
            ts_recent: self.ts_recent,
            challenge_count: self.challenge_count,
            rx_capacity: u32::try_from(self.rx.capacity()).ok()?,
            tx_capacity: u32::try_from(self.tx.capacity()).ok()?,
            mtu: u32::try_from(self.link_mss + super::tcp_ip_headers(&self.local)).ok()?,
            smss: u32::try_from(self.smss).ok()?,
            rcv_mss: u32::try_from(self.rcv_mss).ok()?,
            peer_mss: self.peer_mss,
            snd_wscale: self.snd_wscale,
            rcv_wscale: self.rcv_wscale,
            passive: self.passive,
            fin_queued: self.fin_queued,
            fin_received: self.fin_received,
            rd_shut: self.rd_shut,
            ts_enabled: self.ts_enabled,
            sack_permitted: self.sack_permitted,
            peer_offered_ws: self.peer_offered_ws,
            nodelay: self.nodelay,
        })
    }

    /// The connection back from its record, in TIME-WAIT and orphaned,
    /// with `cfg` the configuration it was made with. Counters start from
    /// zero.
    pub fn from_time_wait(tw: &TimeWait, cfg: &TcpConfig, ttl: u8) -> Tcb {
        let p = ConnParams {
            cfg,
            opts: super::ConnOpts::from_config(cfg, ttl),
            local: tw.local,
            remote: tw.remote,
            iss: tw.iss.0,
            ts_offset: tw.ts_offset,
            mtu: tw.mtu as usize,
            path: super::PathMtu::link(tw.mtu as usize),
            now: tw.ts_recent_age,
        };
        let mut t = Tcb::new(&p, TcpState::TimeWait);
        t.orphaned = true;
        t.timewait_deadline = Some(tw.expiry);
        t.ts_recent_age = tw.ts_recent_age;
        t.challenge_window = tw.challenge_window;
        t.snd_una = tw.snd_una;
        t.snd_nxt = tw.snd_nxt;
        t.snd_max = tw.snd_max;
        t.snd_wl1 = tw.snd_wl1;
        t.snd_wl2 = tw.snd_wl2;
        t.irs = tw.irs;
        t.rcv_nxt = tw.rcv_nxt;
        t.rcv_adv = tw.rcv_adv;
        t.last_ack_sent = tw.last_ack_sent;
        t.fin_seq = tw.fin_seq;
        t.remote_fin = tw.remote_fin;
        t.snd_wnd = tw.snd_wnd;
        t.max_snd_wnd = tw.max_snd_wnd;
        t.ts_recent = tw.ts_recent;
        t.challenge_count = tw.challenge_count;
        t.rx.set_capacity(tw.rx_capacity as usize);
        t.tx.set_capacity(tw.tx_capacity as usize);
        t.smss = tw.smss as usize;
        t.rcv_mss = tw.rcv_mss as usize;
        t.peer_mss = tw.peer_mss;
        t.snd_wscale = tw.snd_wscale;
        t.rcv_wscale = tw.rcv_wscale;
        t.passive = tw.passive;
        t.fin_queued = tw.fin_queued;
        t.fin_received = tw.fin_received;
        t.rd_shut = tw.rd_shut;
        t.ts_enabled = tw.ts_enabled;
        t.sack_permitted = tw.sack_permitted;
        t.peer_offered_ws = tw.peer_offered_ws;
        t.nodelay = tw.nodelay;
        t
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The point of the record: a small fraction of a connection.
    #[test]
    fn record_is_a_fraction_of_a_connection() {
        let (tw, tcb) = (std::mem::size_of::<TimeWait>(), std::mem::size_of::<Tcb>());
        assert!(tw <= 200 && tw * 5 <= tcb, "TimeWait {tw} bytes, Tcb {tcb}");
    }
}
