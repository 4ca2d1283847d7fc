//! D-SACK undo of a fast recovery (issue 7): only a D-SACK of data inside
//! the current recovery's range may count towards undoing its window
//! reduction (RFC 2883 §4 / RFC 8985 §6.2.4; Linux's tcp_check_dsack keeps
//! the same bound with its undo_marker). A late D-SACK for data of an
//! earlier episode must not undo a reduction made for a genuine loss.
mod scripted;

use scripted::*;
use ustack::wire::tcp::TcpOptions;

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

fn open_with_sack(h: &mut Harness) -> Conn {
    let l = h.listen(4);
    let sa = h.peer_syn(65535, sack_opts());
    assert!(sa.options.sack_permitted, "SYN-ACK grants SACK: {sa:?}");
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
