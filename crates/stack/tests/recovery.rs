//! Scripted tests of modern loss recovery: SACK generation (RFC 2018) and
//! D-SACK (RFC 2883), the sender's scoreboard (RFC 6675), RACK's
//! reordering timer and tail loss probes (RFC 8985), and the undo of a
//! spurious retransmission timeout (RFC 3522 / RFC 4015).
mod scripted;

use scripted::*;
use std::time::Duration;
use ustack::wire::tcp::TcpOptions;
use ustack::TcpState;

fn sack_opts() -> TcpOptions {
    TcpOptions {
        mss: Some(1460),
        sack_permitted: true,
        ..TcpOptions::default()
    }
}

fn sack(blocks: &[(u32, u32)]) -> TcpOptions {
    let mut o = TcpOptions::default();
    for (i, b) in blocks.iter().enumerate() {
        o.sack_blocks[i] = Some(*b);
    }
    o
}

/// Passive open where the peer offers SACK (no timestamps, no scaling).
fn open_with_sack(h: &mut Harness) -> Conn {
    let l = h.listen(4);
    let sa = h.peer_syn(65535, sack_opts());
    assert!(sa.options.sack_permitted, "SYN-ACK grants SACK: {sa:?}");
    // A realistic round trip for the handshake (it is the first RTT sample).
    h.advance_ms(20);
    h.inject(
        PEER_ISS + 1,
        sa.seq.wrapping_add(1),
        ACK,
        65535,
        no_opts(),
        &[],
    );
    h.expect_nothing();
    let (c, _) = h.stack.tcp_accept(l).expect("accepted");
    Conn {
        h: c,
        iss: sa.seq,
        irs: PEER_ISS,
    }
}

const MSS: u32 = 1460;

/// A SACK connection (Nagle off) that has just sent `n` full segments of
/// `byte`.
fn sent_segments(n: u32, byte: u8) -> (Harness, Conn) {
    let mut h = Harness::new();
    let c = open_with_sack(&mut h);
    h.stack.tcp_set_nodelay(c.h, true).unwrap();
    h.stack
        .tcp_send(c.h, &vec![byte; (n * MSS) as usize])
        .unwrap();
    assert_eq!(h.drain().len(), n as usize);
    (h, c)
}

fn blocks(s: &Seg) -> Vec<(u32, u32)> {
    s.options.sack_blocks.iter().flatten().copied().collect()
}

#[test]
fn sack_blocks_most_recent_first_and_dsack() {
    let mut h = Harness::new();
    let c = open_with_sack(&mut h);
    let data = [7u8; 100];
    // Hole at 0..100; segment 100..200 arrives: the dup ACK reports it.
    h.inject(c.p(100), c.s(0), ACK, 65535, no_opts(), &data);
    let a = h.expect_segment();
    a.check_empty(ACK, c.s(0), c.p(0));
    assert_eq!(blocks(&a), vec![(c.p(100), c.p(200))]);
    // 300..400 next: its block comes first (RFC 2018 §4), then the older.
    h.inject(c.p(300), c.s(0), ACK, 65535, no_opts(), &data);
    let a = h.expect_segment();
    assert_eq!(blocks(&a), vec![(c.p(300), c.p(400)), (c.p(100), c.p(200))]);
    // The hole fills: cumulative ACK to 200, one block left.
    h.inject(c.p(0), c.s(0), ACK, 65535, no_opts(), &data);
    let a = h.expect_segment();
    a.check_empty(ACK, c.s(0), c.p(200));
    assert_eq!(blocks(&a), vec![(c.p(300), c.p(400))]);
    // A duplicate of 0..100: reported as a D-SACK block first (RFC 2883).
    h.inject(c.p(0), c.s(0), ACK, 65535, no_opts(), &data);
    let a = h.expect_segment();
    a.check_empty(ACK, c.s(0), c.p(200));
    assert_eq!(blocks(&a), vec![(c.p(0), c.p(100)), (c.p(300), c.p(400))]);
    // A duplicate of data held out of order (300..400 again): D-SACK
    // block, then the SACK block containing it (RFC 2883 §4.2).
    h.inject(c.p(300), c.s(0), ACK, 65535, no_opts(), &data);
    let a = h.expect_segment();
    a.check_empty(ACK, c.s(0), c.p(200));
    assert_eq!(blocks(&a), vec![(c.p(300), c.p(400)), (c.p(300), c.p(400))]);
    // 150..250 overlaps old data (150..200) and new (200..250): the old
    // part is D-SACKed (RFC 2883 §4.1), the new part accepted in order.
    h.inject(c.p(150), c.s(0), ACK, 65535, no_opts(), &data);
    let a = h.expect_segment();
    a.check_empty(ACK, c.s(0), c.p(250));
    assert_eq!(blocks(&a), vec![(c.p(150), c.p(200)), (c.p(300), c.p(400))]);
    assert_eq!(h.stack.counters().tcp.dup_segments, 3);
}

/// Six segments in flight; the peer SACKs 1-2 and 4-5: only segments 0
/// and 3 are retransmitted (RFC 6675 + RACK), never a SACKed one.
#[test]
fn sender_retransmits_only_the_holes() {
    let mut h = Harness::new();
    let c = open_with_sack(&mut h);
    h.stack.tcp_set_nodelay(c.h, true).unwrap();
    let mss = 1460u32;
    let data: Vec<u8> = (0..6 * mss).map(|i| (i % 251) as u8).collect();
    h.stack.tcp_send(c.h, &data).unwrap();
    let sent = h.drain();
    assert_eq!(sent.len(), 6);
    let seg = |i: u32| c.s(i * mss);
    h.advance_ms(20);
    // Three dup ACKs carrying SACK information.
    let dup = |h: &mut Harness, b: &[(u32, u32)]| {
        h.inject(c.p(0), c.s(0), ACK, 65535, sack(b), &[]);
        h.drain()
    };
    let mut rtx = Vec::new();
    rtx.extend(dup(&mut h, &[(seg(1), seg(2))]));
    rtx.extend(dup(&mut h, &[(seg(1), seg(3))]));
    rtx.extend(dup(&mut h, &[(seg(4), seg(5)), (seg(1), seg(3))]));
    rtx.extend(dup(&mut h, &[(seg(4), seg(6)), (seg(1), seg(3))]));
    h.advance_ms(5);
    rtx.extend(dup(&mut h, &[(seg(4), seg(6)), (seg(1), seg(3))]));
    let resent: Vec<u32> = rtx
        .iter()
        .filter(|s| !s.payload.is_empty())
        .map(|s| s.seq)
        .collect();
    assert!(resent.contains(&seg(0)), "hole 0 resent: {resent:?}");
    assert!(resent.contains(&seg(3)), "hole 3 resent: {resent:?}");
    for s in &resent {
        assert!(
            *s == seg(0) || *s == seg(3),
            "a SACKed segment was resent: {resent:?}"
        );
    }
    assert!(h.stack.counters().tcp.fast_retransmits >= 1);
    // The holes arrive: everything acknowledged, recovery over.
    h.inject(c.p(0), c.s(6 * mss), ACK, 65535, no_opts(), &[]);
    let info = h.stack.tcp_info(c.h).unwrap();
    assert_eq!(info.bytes_in_flight, 0);
    assert!(!info.in_recovery);
}

/// RACK (RFC 8985 §6.2): with one SACKed segment (below DupThresh) the
/// earlier ones are declared lost only after RTT + reo_wnd, when the
/// reordering timer fires.
#[test]
fn rack_reordering_timer() {
    let mut h = Harness::new();
    let c = open_with_sack(&mut h);
    h.stack.tcp_set_nodelay(c.h, true).unwrap();
    let mss = 1460u32;
    // One RTT sample of 40 ms first.
    h.stack.tcp_send(c.h, &[1u8; 100]).unwrap();
    h.drain();
    h.advance_ms(40);
    h.inject(c.p(0), c.s(100), ACK, 65535, no_opts(), &[]);
    h.drain();
    let base = 100u32;
    let seg = |i: u32| c.s(base + i * mss);
    h.stack.tcp_send(c.h, &vec![2u8; 3 * mss as usize]).unwrap();
    assert_eq!(h.drain().len(), 3);
    h.advance_ms(40);
    // Segment 2 SACKed: 0 and 1 were sent before it, but may be reordered.
    h.inject(
        c.p(0),
        c.s(base),
        ACK,
        65535,
        sack(&[(seg(2), seg(3))]),
        &[],
    );
    let now_out: Vec<Seg> = h
        .drain()
        .into_iter()
        .filter(|s| !s.payload.is_empty())
        .collect();
    assert!(
        now_out.is_empty(),
        "no retransmission inside the reordering window: {now_out:?}"
    );
    // min_RTT/4 = 10 ms later the timer fires and both are resent.
    h.advance_ms(11);
    h.stack.handle_timeout(h.now);
    let resent: Vec<u32> = h
        .drain()
        .into_iter()
        .filter(|s| !s.payload.is_empty())
        .map(|s| s.seq)
        .collect();
    assert!(resent.contains(&seg(0)), "{resent:?}");
    assert!(
        !resent.contains(&seg(2)),
        "the SACKed segment is not resent: {resent:?}"
    );
}

/// TLP (RFC 8985 §7): a lost tail is probed after ~2·SRTT, long before the
/// RTO would fire.
#[test]
fn tail_loss_probe_fires_before_rto() {
    let mut h = Harness::new();
    let c = open_with_sack(&mut h);
    h.stack.tcp_set_nodelay(c.h, true).unwrap();
    // RTT 30 ms measured on a first exchange.
    h.stack.tcp_send(c.h, &[1u8; 100]).unwrap();
    h.drain();
    h.advance_ms(30);
    h.inject(c.p(0), c.s(100), ACK, 65535, no_opts(), &[]);
    h.drain();
    // Two segments; the ACK never comes (tail loss).
    h.stack.tcp_send(c.h, &[2u8; 2920]).unwrap();
    let t0 = h.now;
    assert_eq!(h.drain().len(), 2);
    let info = h.stack.tcp_info(c.h).unwrap();
    let srtt = info.srtt.expect("an RTT sample");
    let probe_at = h.stack.poll_at().expect("a timer");
    let wait = probe_at.saturating_since(t0);
    assert!(
        wait < info.rto,
        "probe timer {wait:?} before the RTO {:?}",
        info.rto
    );
    let pto = (srtt * 2).max(Duration::from_millis(10));
    assert!(
        wait.abs_diff(pto) <= Duration::from_millis(1),
        "PTO {wait:?} ≈ 2·SRTT = {pto:?}"
    );
    h.advance_to(probe_at);
    h.stack.handle_timeout(h.now);
    let probe = h.drain();
    assert_eq!(probe.len(), 1, "one probe: {probe:?}");
    assert_eq!(probe[0].seq, c.s(100 + 1460), "the last segment is probed");
    assert_eq!(h.stack.counters().tcp.tail_loss_probes, 1);
    assert_eq!(h.stack.counters().tcp.timeouts, 0);
}

/// Eifel (RFC 3522/4015): the ACK after an RTO echoes the original
/// transmission's timestamp: the timeout was spurious and is undone.
#[test]
fn spurious_rto_is_undone() {
    let mut h = Harness::with_defaults(|c| c.tcp.window_scaling = false);
    let conn = open_timestamped(&mut h);
    let c = conn.h;
    h.stack.tcp_set_nodelay(c, true).unwrap();
    h.stack.tcp_send(c, &[3u8; 1000]).unwrap();
    let first = h.drain();
    assert_eq!(first.len(), 1);
    let (orig_tsval, _) = first[0].options.timestamp.unwrap();
    let cwnd_before = h.stack.tcp_info(c).unwrap().cwnd;
    // The ACK is delayed past the RTO: the segment is retransmitted.
    let rto_at = h.stack.poll_at().unwrap();
    h.advance_to(rto_at);
    h.stack.handle_timeout(h.now);
    let rtx = h.drain();
    assert_eq!(rtx.len(), 1);
    assert!(rtx[0].options.timestamp.unwrap().0 > orig_tsval);
    assert_eq!(h.stack.counters().tcp.timeouts, 1);
    assert!(
        h.stack.tcp_info(c).unwrap().cwnd < cwnd_before,
        "RTO cut cwnd"
    );
    // Now the late ACK of the ORIGINAL arrives (TSecr = its TSval).
    let late = TcpOptions {
        timestamp: Some((502, orig_tsval)),
        ..TcpOptions::default()
    };
    h.inject(conn.p(0), conn.s(1000), ACK, 65535, late, &[]);
    let k = h.stack.counters().tcp;
    assert_eq!(k.spurious_rtos, 1);
    // Restored (and then grown by this very ACK, as any ACK of new data).
    let cwnd = h.stack.tcp_info(c).unwrap().cwnd;
    assert!(
        cwnd >= cwnd_before,
        "cwnd restored: {cwnd} vs {cwnd_before}"
    );
    assert_eq!(h.state(c), TcpState::Established);
}

/// A genuine RTO (the ACK echoes the retransmission) is not undone.
#[test]
fn genuine_rto_is_kept() {
    let mut h = Harness::with_defaults(|c| c.tcp.window_scaling = false);
    let conn = open_timestamped(&mut h);
    let c = conn.h;
    h.stack.tcp_send(c, &[3u8; 1000]).unwrap();
    h.drain();
    let cwnd_before = h.stack.tcp_info(c).unwrap().cwnd;
    let rto_at = h.stack.poll_at().unwrap();
    h.advance_to(rto_at);
    h.stack.handle_timeout(h.now);
    let rtx = h.drain();
    let (rtx_ts, _) = rtx[0].options.timestamp.unwrap();
    h.inject(
        conn.p(0),
        conn.s(1000),
        ACK,
        65535,
        TcpOptions {
            timestamp: Some((502, rtx_ts)),
            ..TcpOptions::default()
        },
        &[],
    );
    assert_eq!(h.stack.counters().tcp.spurious_rtos, 0);
    assert!(h.stack.tcp_info(c).unwrap().cwnd < cwnd_before);
}

/// D-SACK (RFC 2883) shows the fast retransmit was needless (the original
/// was only reordered): the recovery's window reduction is undone and the
/// reordering window grows (RFC 8985 §6.2.4).
/// Drains the output and keeps the data segments starting at `seq`.
fn data_segments_at(h: &mut Harness, seq: u32) -> Vec<Seg> {
    h.drain()
        .into_iter()
        .filter(|s| s.seq == seq && !s.payload.is_empty())
        .collect()
}

#[test]
fn dsack_undoes_a_spurious_fast_recovery() {
    let (mut h, c) = sent_segments(6, 5);
    let mss = MSS;
    let cwnd_before = h.stack.tcp_info(c.h).unwrap().cwnd;
    let seg = |i: u32| c.s(i * mss);
    h.advance_ms(20);
    // Segment 0 is late: three segments SACKed above it → fast retransmit.
    for end in [2, 3, 4] {
        h.inject(c.p(0), c.s(0), ACK, 65535, sack(&[(seg(1), seg(end))]), &[]);
    }
    let rtx = data_segments_at(&mut h, seg(0));
    assert_eq!(rtx.len(), 1, "segment 0 retransmitted once");
    assert!(
        h.stack.tcp_info(c.h).unwrap().cwnd < cwnd_before,
        "recovery cut cwnd"
    );
    // The original arrives after all: everything is acknowledged, and the
    // retransmission is reported as a duplicate (D-SACK below the ACK).
    h.advance_ms(1);
    h.inject(
        c.p(0),
        c.s(6 * mss),
        ACK,
        65535,
        sack(&[(seg(0), seg(1))]),
        &[],
    );
    let k = h.stack.counters().tcp;
    assert_eq!(k.dsacks_received, 1);
    assert_eq!(k.spurious_recoveries, 1);
    assert!(
        h.stack.tcp_info(c.h).unwrap().cwnd >= cwnd_before,
        "reduction undone"
    );
}

// D-SACK undo of a fast recovery (issue 7): only a D-SACK of data inside
// the current recovery's range may count towards undoing its window
// reduction (RFC 2883 §4 / RFC 8985 §6.2.4; Linux's tcp_check_dsack keeps
// the same bound with its undo_marker). A late D-SACK for data of an
// earlier episode must not undo a reduction made for a genuine loss.

/// Three SACKs above `hole` (segments hole+1 .. hole+4): a fast retransmit
/// of `hole`; returns how many times it was resent.
fn fast_retransmit(h: &mut Harness, c: &Conn, mss: u32, hole: u32) -> usize {
    let seg = |i: u32| c.s(i * mss);
    for end in [hole + 2, hole + 3, hole + 4] {
        h.inject(
            c.p(0),
            seg(hole),
            ACK,
            65535,
            sack(&[(seg(hole + 1), seg(end))]),
            &[],
        );
    }
    h.drain()
        .into_iter()
        .filter(|s| s.seq == seg(hole) && !s.payload.is_empty())
        .count()
}

#[test]
fn late_dsack_of_an_earlier_episode_does_not_undo_a_real_recovery() {
    let mut h = Harness::new();
    let c = open_with_sack(&mut h);
    h.stack.tcp_set_nodelay(c.h, true).unwrap();
    let mss = 1460u32;
    let seg = |i: u32| c.s(i * mss);

    // Episode 1: segment 0 is lost for real; its retransmission repairs it.
    h.stack
        .tcp_send(c.h, &vec![1u8; 10 * mss as usize])
        .unwrap();
    assert_eq!(h.drain().len(), 10);
    h.advance_ms(20);
    assert_eq!(fast_retransmit(&mut h, &c, mss, 0), 1);
    h.advance_ms(20);
    h.inject(c.p(0), seg(10), ACK, 65535, no_opts(), &[]);
    let after_first = h.stack.tcp_info(c.h).unwrap().cwnd;

    // Episode 2: segment 10 is lost for real.
    h.stack.tcp_send(c.h, &vec![2u8; 6 * mss as usize]).unwrap();
    assert_eq!(h.drain().len(), 6);
    h.advance_ms(20);
    assert_eq!(fast_retransmit(&mut h, &c, mss, 10), 1);
    let reduced = h.stack.tcp_info(c.h).unwrap().cwnd;
    assert!(reduced < after_first, "second recovery cut cwnd");

    // A very late duplicate of segment 0 reaches the peer: it reports a
    // D-SACK for it — data of episode 1, below episode 2's start.
    h.advance_ms(1);
    h.inject(
        c.p(0),
        seg(10),
        ACK,
        65535,
        sack(&[(seg(0), seg(1)), (seg(11), seg(14))]),
        &[],
    );
    let k = h.stack.counters().tcp;
    assert_eq!(k.dsacks_received, 1);
    assert_eq!(
        k.spurious_recoveries, 0,
        "a D-SACK of an earlier episode's data undid a real recovery"
    );
    assert!(
        h.stack.tcp_info(c.h).unwrap().cwnd <= reduced,
        "the reduction for the genuine loss of segment 10 stands"
    );
}

// With RACK on, DupThresh is part of RACK's reordering window (RFC 8985
// §6.2.4): once reordering has been seen, a hole with more than three
// segments SACKed above it is not resent until min_RTT/4 has passed.
// (A fixed three-segment rule made every reordering deeper than three
// segments a spurious fast recovery: 2 % reordering at 10 ms RTT ran at
// 28–56 Mbit/s instead of 95 in the simulator.)
#[test]
fn deep_reordering_after_dsack_waits_for_the_rack_window() {
    // A spurious fast recovery first, so that reordering has been seen.
    let (mut h, c) = sent_segments(6, 1);
    let mss = MSS;
    let seg = |i: u32| c.s(i * mss);
    h.advance_ms(20);
    assert_eq!(fast_retransmit(&mut h, &c, mss, 0), 1);
    h.advance_ms(1);
    h.inject(c.p(0), seg(6), ACK, 65535, sack(&[(seg(0), seg(1))]), &[]);
    let k = h.stack.counters().tcp;
    assert_eq!(k.spurious_recoveries, 1, "{k:?}");
    h.drain();

    // Segment 6 is late: eight segments are SACKed above it.
    h.stack
        .tcp_send(c.h, &vec![2u8; 10 * mss as usize])
        .unwrap();
    assert_eq!(h.drain().len(), 10);
    h.advance_ms(20);
    for end in 8..=15 {
        h.inject(c.p(0), seg(6), ACK, 65535, sack(&[(seg(7), seg(end))]), &[]);
    }
    let early = h
        .drain()
        .into_iter()
        .filter(|s| s.seq == seg(6) && !s.payload.is_empty())
        .count();
    assert_eq!(
        early, 0,
        "eight SACKed segments above a hole are not a loss once reordering was seen"
    );
    assert_eq!(h.stack.counters().tcp.fast_retransmits, 1);

    // It never comes: RACK declares it lost when its window has passed.
    h.advance_ms(25);
    h.stack.handle_timeout(h.now);
    let resent = h
        .drain()
        .into_iter()
        .filter(|s| s.seq == seg(6) && !s.payload.is_empty())
        .count();
    assert_eq!(resent, 1, "resent once RACK's reordering window passed");
}

// A recovery that began in slow start (ssthresh still "infinite") and is
// then undone by a D-SACK while it is still open must end with a sane
// window. It used to stay open after the undo, and its end set cwnd to the
// restored ssthresh — u32::MAX — so the sender blasted its whole buffer
// into the path (69 509 retransmissions for 50 MB at 40 ms, 1 % loss,
// 2 % reordering, seed 8).
#[test]
fn dsack_undo_of_a_recovery_begun_in_slow_start_keeps_a_sane_window() {
    let (mut h, c) = sent_segments(8, 3);
    let mss = MSS;
    let seg = |i: u32| c.s(i * mss);
    let before = h.stack.tcp_info(c.h).unwrap();
    assert!(
        before.ssthresh >= 1 << 30,
        "still in slow start: {before:?}"
    );
    h.advance_ms(20);
    assert_eq!(fast_retransmit(&mut h, &c, mss, 0), 1);
    // The original of segment 0 arrives, then its retransmission: the peer
    // ACKs up to segment 6 and D-SACKs segment 0; segment 6 and 7 are
    // still in flight, so the recovery point is not yet reached.
    h.advance_ms(1);
    h.inject(c.p(0), seg(6), ACK, 65535, sack(&[(seg(0), seg(1))]), &[]);
    assert_eq!(h.stack.counters().tcp.spurious_recoveries, 1);
    h.drain();
    h.advance_ms(1);
    h.inject(c.p(0), seg(8), ACK, 65535, no_opts(), &[]);
    h.drain();
    let after = h.stack.tcp_info(c.h).unwrap();
    // Slow start may have grown the window by what was acknowledged, no more.
    assert!(
        after.cwnd <= before.cwnd + 8 * mss,
        "cwnd {} after the undone recovery (was {}): {after:?}",
        after.cwnd,
        before.cwnd
    );
    assert!(after.cwnd >= before.cwnd, "reduction undone: {after:?}");
}

/// Passive open: the peer's SYN carries `syn`, its ACK of our SYN-ACK
/// carries `ack(SYN-ACK)`.
fn passive_open_with(
    h: &mut Harness,
    syn: TcpOptions,
    ack: impl FnOnce(&Seg) -> TcpOptions,
) -> (Conn, Seg) {
    let l = h.listen(8);
    let sa = h.peer_syn(65535, syn);
    let ack_opts = ack(&sa);
    h.inject(
        PEER_ISS + 1,
        sa.seq.wrapping_add(1),
        ACK,
        65535,
        ack_opts,
        &[],
    );
    let (c, _) = h.stack.tcp_accept(l).expect("accepted");
    let conn = Conn {
        h: c,
        iss: sa.seq,
        irs: PEER_ISS,
    };
    (conn, sa)
}

/// Passive open with timestamps (TSval 500, then 501), no SACK.
fn open_timestamped(h: &mut Harness) -> Conn {
    let syn = TcpOptions {
        mss: Some(1460),
        timestamp: Some((500, 0)),
        ..TcpOptions::default()
    };
    let (conn, _) = passive_open_with(h, syn, |sa| {
        let (our_ts, _) = sa.options.timestamp.expect("timestamps negotiated");
        TcpOptions {
            timestamp: Some((501, our_ts)),
            ..TcpOptions::default()
        }
    });
    conn
}

/// Passive open with SACK and window scaling (and timestamps if `ts`);
/// the receive window then covers the whole (default) buffer.
fn open_scaled(h: &mut Harness, ts: bool) -> Conn {
    let syn = TcpOptions {
        mss: Some(1460),
        window_scale: Some(7),
        sack_permitted: true,
        timestamp: ts.then_some((1000, 0)),
        ..TcpOptions::default()
    };
    let (conn, sa) = passive_open_with(h, syn, |sa| TcpOptions {
        timestamp: ts.then(|| (1001, sa.options.timestamp.map_or(0, |t| t.0))),
        ..TcpOptions::default()
    });
    assert!(sa.options.sack_permitted && sa.options.window_scale.is_some());
    conn
}

// A large loss (say a drop-tail queue overflowing in slow start) leaves a
// hole of hundreds of kilobytes; the data after it is inside the
// advertised window and must be kept and SACKed. It used to be refused
// (counted as tcp_ooo_limit) whenever it lay beyond twice the receive
// ring's current allocation: the sender then had to resend a whole window
// (in the simulator at 160 ms: 2 532 drops, an RTO and 3 152
// retransmissions; 34.6 → 51.1 Mbit/s).
#[test]
fn data_after_a_large_hole_is_kept_and_sacked() {
    let mut h = Harness::with_defaults(|c| {
        c.tcp.timestamps = false;
        c.tcp.recv_buffer = 4 << 20;
        c.tcp.recv_buffer_auto = false;
    });
    let c = open_scaled(&mut h, false);
    let hole = 600_000usize;
    let rcvbuf = h.stack.config().tcp.recv_buffer;
    assert!(rcvbuf > hole + 40 * 1460, "receive buffer {rcvbuf}");
    let data: Vec<u8> = (0..hole + 30 * 1460)
        .map(|i| (i * 7 + i / 251) as u8)
        .collect();
    // The peer's full-sized segment at `off`; our answer.
    let segment_at = |h: &mut Harness, off: usize| {
        let payload = &data[off..off + 1460];
        h.inject(c.p(off as u32), c.s(0), ACK, 65535, no_opts(), payload);
        h.expect_segment()
    };
    let before = h.stack.buffer_bytes();
    // 30 segments after the hole, in order among themselves.
    for i in 0..30 {
        let off = hole + i * 1460;
        let a = segment_at(&mut h, off);
        a.check_empty(ACK, c.s(0), c.p(0));
        assert_eq!(
            blocks(&a)[0],
            (c.p(hole as u32), c.p((off + 1460) as u32)),
            "segment {i} after the hole is SACKed"
        );
    }
    assert_eq!(h.stack.counters().drop_list(), vec![], "nothing refused");
    let held = h.stack.buffer_bytes() - before;
    assert!(
        held < 30 * (1460 + 128) + 64 * 1024,
        "{held} bytes held for 30 segments after a {hole}-byte hole"
    );
    // A duplicate of one of them is reported (RFC 2883 §4.2).
    let off = hole + 5 * 1460;
    let a = segment_at(&mut h, off);
    assert_eq!(blocks(&a)[0], (c.p(off as u32), c.p((off + 1460) as u32)));
    // The hole is repaired in order: every byte arrives exactly once.
    for (i, chunk) in data[..hole].chunks(1460).enumerate() {
        h.inject(c.p((i * 1460) as u32), c.s(0), ACK, 65535, no_opts(), chunk);
    }
    h.drain();
    assert!(
        h.read_all(c.h).unwrap() == data,
        "stream intact after the hole"
    );
    assert_eq!(h.stack.counters().drop_list(), vec![], "nothing refused");
}

/// A passive connection with timestamps, SACK and window scaling.
fn timestamped_receiver() -> (Harness, Conn) {
    let mut h = Harness::with_defaults(|_| {});
    let c = open_scaled(&mut h, true);
    (h, c)
}

/// A timestamp option with TSval `v` (TSecr 0).
fn ts(v: u32) -> TcpOptions {
    TcpOptions {
        timestamp: Some((v, 0)),
        ..TcpOptions::default()
    }
}

// PAWS (RFC 7323 §5.3) with Linux's one-tick tolerance (TCP_PAWS_WINDOW):
// new data reordered behind the segment that set TS.Recent, one tick
// older, is accepted; an old duplicate further back is dropped and
// counted, and answered with a D-SACK (as Linux's tcp_send_dupack) so
// that the sender can undo a needless retransmission.
#[test]
fn paws_tolerates_one_tick_and_dsacks_old_duplicates() {
    let (mut h, c) = timestamped_receiver();
    let data = [9u8; 100];
    h.inject(c.p(0), c.s(0), ACK, 65535, ts(2000), &data);
    // One tick older: reordered new data, accepted.
    h.inject(c.p(100), c.s(0), ACK, 65535, ts(1999), &data);
    h.drain();
    assert_eq!(
        h.read_all(c.h).unwrap().len(),
        200,
        "both segments accepted"
    );
    assert_eq!(h.stack.counters().drop_list(), vec![]);
    // An old duplicate with an older timestamp: PAWS drop, D-SACK.
    h.inject(c.p(0), c.s(0), ACK, 65535, ts(1990), &data);
    let a = h.expect_segment();
    a.check_empty(ACK, c.s(0), c.p(200));
    assert_eq!(
        blocks(&a),
        vec![(c.p(0), c.p(100))],
        "D-SACK of the duplicate"
    );
    assert_eq!(
        h.stack.counters().drop_list(),
        vec![(ustack::DropReason::TcpPaws, 1)]
    );
}

/// RFC 7323 §5.3 guards against old duplicates whose sequence numbers
/// have wrapped. New data reordered behind a retransmission that set
/// TS.Recent carries an older TSval than TS.Recent, yet it cannot be such
/// a duplicate while the connection has not yet carried 2 GiB: it is
/// kept. A strict check drops it, and the sender must retransmit it and
/// take it for a loss.
#[test]
fn paws_keeps_new_data_reordered_behind_a_retransmission() {
    let (mut h, c) = timestamped_receiver();
    let data = [7u8; 100];
    h.inject(c.p(0), c.s(0), ACK, 65535, ts(2000), &data);
    h.drain();
    // 100..200 lost, 400..500 delayed; the rest arrives.
    for off in [200u32, 300, 500] {
        h.inject(c.p(off), c.s(0), ACK, 65535, ts(2001), &data);
        h.drain(); // each out-of-order segment is ACKed at once
    }
    // The retransmission of 100..200 fills the left edge: TS.Recent 2010.
    h.inject(c.p(100), c.s(0), ACK, 65535, ts(2010), &data);
    h.drain();
    assert_eq!(h.read_all(c.h).unwrap().len(), 400);
    // The delayed original of 400..500, nine ticks older: new data.
    h.inject(c.p(400), c.s(0), ACK, 65535, ts(2001), &data);
    let a = h.expect_segment();
    a.check_empty(ACK, c.s(0), c.p(600));
    assert_eq!(h.read_all(c.h).unwrap().len(), 200, "the hole was filled");
    assert_eq!(h.stack.counters().drop_list(), vec![]);
    // An old duplicate of it, as old: still a PAWS drop.
    h.inject(c.p(400), c.s(0), ACK, 65535, ts(2001), &data);
    h.drain();
    assert_eq!(
        h.stack.counters().drop_list(),
        vec![(ustack::DropReason::TcpPaws, 1)]
    );
}

/// A fast retransmit on a timestamps + SACK connection; then the ACK that
/// moves SND.UNA past the hole echoes `echo(original, retransmission)`
/// (the TSvals of segment 0's two transmissions). Returns (cwnd before the
/// recovery, cwnd after that ACK, spurious recoveries counted).
fn eifel_case(echo: impl Fn(u32, u32) -> u32) -> (u32, u32, u64) {
    let mut h = Harness::with_defaults(|_| {});
    let c = open_scaled(&mut h, true);
    h.stack.tcp_set_nodelay(c.h, true).unwrap();
    let mss = MSS - 12; // the timestamp option takes 12 bytes
    h.stack.tcp_send(c.h, &vec![4u8; 6 * mss as usize]).unwrap();
    let sent = h.drain();
    assert_eq!(sent.len(), 6);
    let tsval = |s: &Seg| s.options.timestamp.expect("timestamps").0;
    let t_orig = tsval(&sent[0]);
    let cwnd_before = h.stack.tcp_info(c.h).unwrap().cwnd;
    let seg = |i: u32| c.s(i * mss);
    let opts = |tsecr: u32, blocks: &[(u32, u32)]| {
        let mut o = sack(blocks);
        o.timestamp = Some((1002, tsecr));
        o
    };
    h.advance_ms(20);
    // Segment 0 is late: SACKs above it (echoing TS.Recent, the handshake's).
    let recent = t_orig;
    for end in [2, 3, 4] {
        h.inject(
            c.p(0),
            seg(0),
            ACK,
            512,
            opts(recent, &[(seg(1), seg(end))]),
            &[],
        );
    }
    let rtx = data_segments_at(&mut h, seg(0));
    assert_eq!(rtx.len(), 1, "segment 0 retransmitted once");
    let t_rtx = tsval(&rtx[0]);
    assert!(t_rtx > t_orig, "{t_rtx} vs {t_orig}");
    assert!(h.stack.tcp_info(c.h).unwrap().cwnd < cwnd_before);
    // The hole is filled; the ACK covers everything, no D-SACK.
    h.advance_ms(1);
    h.inject(
        c.p(0),
        seg(6),
        ACK,
        512,
        opts(echo(t_orig, t_rtx), &[]),
        &[],
    );
    let after = h.stack.tcp_info(c.h).unwrap().cwnd;
    (
        cwnd_before,
        after,
        h.stack.counters().tcp.spurious_recoveries,
    )
}

/// RFC 3522 (Eifel) for a fast retransmit, as Linux's
/// tcp_try_undo_partial: the ACK that fills the hole echoes the original's
/// timestamp, older than the retransmission's, so the original arrived
/// (reordering) and the reduction is undone at once, a round trip before
/// any D-SACK could tell. Echoing the retransmission's timestamp, it is
/// kept.
#[test]
fn eifel_undoes_a_fast_recovery_the_original_made_needless() {
    let (before, after, spurious) = eifel_case(|orig, _| orig);
    assert_eq!(spurious, 1);
    assert!(after >= before, "reduction undone: {after} vs {before}");
    let (before, after, spurious) = eifel_case(|_, rtx| rtx);
    assert_eq!(spurious, 0);
    assert!(
        after < before,
        "a real loss keeps its reduction: {after} vs {before}"
    );
}

/// A slow start held at the peer's receive window (65 535 bytes, no
/// scaling) or at our own send buffer grows cwnd up to twice what it can
/// send, and no further (congestion-window validation: in slow start,
/// cwnd grows while below twice the largest flight, as Linux's
/// `tcp_is_cwnd_limited`); the loss that ends it reduces from that limit
/// (RFC 9438 §4.6 reduces cwnd, which presumes cwnd was used): 0.7·cwnd
/// would overshoot the path again. HyStart off, so that slow start runs
/// until the loss (its ACK-train test would end it near the limit).
/// Returns (cwnd before, largest flight, ssthresh after).
fn slow_start_held(send_buffer: Option<usize>) -> (u32, u32, u32) {
    let mut h = Harness::with(|c| c.tcp.hystart = false);
    let c = open_with_sack(&mut h);
    h.stack.tcp_set_nodelay(c.h, true).unwrap();
    if let Some(b) = send_buffer {
        h.stack.tcp_set_send_buffer(c.h, b).unwrap();
    }
    let mut queued = 0;
    // One ACK per segment: slow start adds a segment each time, the window
    // lets one or two more out.
    for i in 1..=100 {
        queued += h
            .stack
            .tcp_send(c.h, &vec![7u8; 200 * MSS as usize - queued])
            .unwrap();
        h.drain();
        h.advance_ms(1);
        h.inject(c.p(0), c.s(i * MSS), ACK, 65535, no_opts(), &[]);
    }
    queued += h
        .stack
        .tcp_send(c.h, &vec![7u8; 200 * MSS as usize - queued])
        .unwrap();
    h.drain();
    let before = h.stack.tcp_info(c.h).unwrap();
    assert!(
        queued > 110 * MSS as usize,
        "the application kept the buffer full"
    );
    assert!(
        before.bytes_in_flight <= 65535 && before.bytes_in_flight < before.cwnd,
        "cwnd grew past what could be sent: {before:?}"
    );
    assert_eq!(fast_retransmit(&mut h, &c, MSS, 100), 1);
    let after = h.stack.tcp_info(c.h).unwrap();
    assert!(after.in_recovery);
    (before.cwnd, before.bytes_in_flight, after.ssthresh)
}

#[test]
fn slow_start_held_at_the_peer_window_reduces_from_that_window() {
    let (cwnd, flight, ssthresh) = slow_start_held(None);
    assert!(cwnd > 65535, "slow start went past the window: {cwnd}");
    assert!(
        cwnd <= 2 * (flight + MSS),
        "but not past twice the flight: {cwnd} (flight {flight})"
    );
    assert_eq!(ssthresh, 65535 * 7 / 10, "β times the peer window");
}

#[test]
fn slow_start_held_at_the_send_buffer_reduces_from_the_buffer() {
    let (cwnd, flight, ssthresh) = slow_start_held(Some(40_000));
    assert!(cwnd > 40_000, "slow start went past the buffer: {cwnd}");
    assert!(
        cwnd <= 2 * (flight + MSS),
        "but not past twice the flight: {cwnd} (flight {flight})"
    );
    assert_eq!(ssthresh, 40_000 * 7 / 10, "β times the send buffer");
}

/// An out-of-order FIN is inside the SACK block of its segment (it
/// occupies a sequence number, RFC 9293 §3.4). A sender such as Linux's
/// counts a segment SACKed only when a block covers all of it, FIN
/// included: without the FIN in the block, a lost tail is never recovered
/// from the probe's SACK and waits for the retransmission timeout.
#[test]
fn an_out_of_order_fin_is_inside_its_sack_block() {
    let mut h = Harness::new();
    let c = open_with_sack(&mut h);
    let data = [7u8; 100];
    // 0..100 is lost; the last segment, 100..200 with the FIN, arrives.
    h.inject(c.p(100), c.s(0), ACK | FIN, 65535, no_opts(), &data);
    let a = h.expect_segment();
    a.check_empty(ACK, c.s(0), c.p(0));
    assert_eq!(blocks(&a), vec![(c.p(100), c.p(201))]);
    // The hole fills: everything, the FIN too, is acknowledged.
    h.inject(c.p(0), c.s(0), ACK, 65535, no_opts(), &data);
    let a = h.expect_segment();
    a.check_empty(ACK, c.s(0), c.p(201));
    assert_eq!(blocks(&a), vec![]);
    assert_eq!(h.stack.tcp_state(c.h).ok(), Some(TcpState::CloseWait));
}

/// A FIN that arrives alone and out of order gets a block of its own,
/// first as the most recent (RFC 2018 §4); when it is next to data held
/// out of order, that data's block grows to cover it.
#[test]
fn a_fin_alone_out_of_order_is_sacked() {
    let mut h = Harness::new();
    let c = open_with_sack(&mut h);
    let data = [7u8; 100];
    // 0..100 lost, 100..200 held, 200..300 lost, the FIN at 300.
    h.inject(c.p(100), c.s(0), ACK, 65535, no_opts(), &data);
    assert_eq!(blocks(&h.expect_segment()), vec![(c.p(100), c.p(200))]);
    h.inject(c.p(300), c.s(0), ACK | FIN, 65535, no_opts(), &[]);
    let a = h.expect_segment();
    a.check_empty(ACK, c.s(0), c.p(0));
    assert_eq!(blocks(&a), vec![(c.p(300), c.p(301)), (c.p(100), c.p(200))]);
    // 200..300 arrives: one block from 100 to past the FIN.
    h.inject(c.p(200), c.s(0), ACK, 65535, no_opts(), &data);
    let a = h.expect_segment();
    assert_eq!(blocks(&a), vec![(c.p(100), c.p(301))]);
    h.inject(c.p(0), c.s(0), ACK, 65535, no_opts(), &data);
    let a = h.expect_segment();
    a.check_empty(ACK, c.s(0), c.p(301));
    assert_eq!(h.stack.tcp_state(c.h).ok(), Some(TcpState::CloseWait));
}

/// A FIN alone beyond a hole, with no data held out of order, still gets
/// its block: the ACK must not take "nothing held" for "nothing to SACK".
#[test]
fn a_lone_fin_beyond_a_hole_is_sacked() {
    let mut h = Harness::new();
    let c = open_with_sack(&mut h);
    let data = [7u8; 100];
    // 0..100 lost, the FIN at 100.
    h.inject(c.p(100), c.s(0), ACK | FIN, 65535, no_opts(), &[]);
    let a = h.expect_segment();
    a.check_empty(ACK, c.s(0), c.p(0));
    assert_eq!(blocks(&a), vec![(c.p(100), c.p(101))]);
    h.inject(c.p(0), c.s(0), ACK, 65535, no_opts(), &data);
    let a = h.expect_segment();
    a.check_empty(ACK, c.s(0), c.p(101));
    assert_eq!(blocks(&a), vec![]);
    assert_eq!(h.stack.tcp_state(c.h).ok(), Some(TcpState::CloseWait));
}

/// A duplicate of a segment that carried the FIN is D-SACKed with its FIN
/// (RFC 2883 §4; the FIN occupies a sequence number), and so is a
/// duplicate FIN alone.
#[test]
fn a_duplicate_fin_is_inside_its_dsack_block() {
    let mut h = Harness::new();
    let c = open_with_sack(&mut h);
    let data = [7u8; 100];
    h.inject(c.p(0), c.s(0), ACK | FIN, 65535, no_opts(), &data);
    let a = h.expect_segment();
    a.check_empty(ACK, c.s(0), c.p(101));
    assert_eq!(blocks(&a), vec![]);
    // The sender's probe resends it: all of it, FIN included, is old.
    h.inject(c.p(0), c.s(0), ACK | FIN, 65535, no_opts(), &data);
    let a = h.expect_segment();
    a.check_empty(ACK, c.s(0), c.p(101));
    assert_eq!(blocks(&a), vec![(c.p(0), c.p(101))]);
    // The FIN alone again.
    h.inject(c.p(100), c.s(0), ACK | FIN, 65535, no_opts(), &[]);
    let a = h.expect_segment();
    a.check_empty(ACK, c.s(0), c.p(101));
    assert_eq!(blocks(&a), vec![(c.p(100), c.p(101))]);
    assert_eq!(h.stack.counters().tcp.dup_segments, 2);
}
