//! Segment-level scripted tests of the TCP engine: the test plays the peer
//! by hand and checks every segment the stack emits against RFC 9293,
//! RFC 5961, RFC 6298, RFC 1337, RFC 5681 and RFC 7323.
mod scripted;

use scripted::*;
use std::io::ErrorKind;
use std::net::{Shutdown, SocketAddr};
use std::time::Duration;
use ustack::wire::tcp::{TcpFlags, TcpOptions};
use ustack::{DropReason, SocketHandle, TcpState};

const MS: fn(u64) -> Duration = Duration::from_millis;
const SECS: fn(u64) -> Duration = Duration::from_secs;

// ======================================================================
// Opening
// ======================================================================

#[test]
fn passive_open_syn_synack_ack() {
    let mut h = Harness::new();
    let l = h.listen(8);
    h.inject(PEER_ISS, 0, SYN, 65535, mss_opt(1460), &[]);
    let sa = h.expect_segment();
    sa.check_empty(SYN | ACK, sa.seq, PEER_ISS + 1);
    assert_eq!(sa.options.mss, Some(STACK_MSS), "SYN-ACK carries our MSS");
    assert_eq!(sa.options.window_scale, None, "scaling disabled in config");
    assert_eq!(sa.options.timestamp, None, "timestamps disabled in config");
    assert_eq!(sa.window, 65535);
    h.expect_nothing();
    // Not accepted before the handshake completes.
    assert_eq!(
        h.stack.tcp_accept(l).unwrap_err().kind(),
        ErrorKind::WouldBlock
    );
    h.inject(
        PEER_ISS + 1,
        sa.seq.wrapping_add(1),
        ACK,
        65535,
        no_opts(),
        &[],
    );
    h.expect_nothing();
    let (c, remote) = h.stack.tcp_accept(l).expect("accept");
    assert_eq!(remote, h.peer_addr());
    assert_eq!(h.state(c), TcpState::Established);
    assert_eq!(h.state(l), TcpState::Listen);
    let info = h.stack.tcp_info(c).unwrap();
    assert_eq!(info.mss, 1460);
    assert_eq!(info.snd_wnd, 65535);
}

#[test]
fn active_open_syn_synack_ack() {
    let mut h = Harness::new();
    let c = h
        .stack
        .tcp_connect(h.peer_addr(), Some(h.stack_addr()))
        .unwrap();
    assert_eq!(h.state(c), TcpState::SynSent);
    let syn = h.expect_segment();
    assert_eq!(syn.flags_np(), SYN);
    assert!(syn.payload.is_empty());
    assert_eq!(syn.options.mss, Some(STACK_MSS));
    h.expect_nothing();
    let iss = syn.seq;
    h.advance_ms(10);
    h.inject(
        PEER_ISS,
        iss.wrapping_add(1),
        SYN | ACK,
        30000,
        mss_opt(1000),
        &[],
    );
    h.expect_segment()
        .check_empty(ACK, iss.wrapping_add(1), PEER_ISS + 1);
    h.expect_nothing();
    assert_eq!(h.state(c), TcpState::Established);
    let info = h.stack.tcp_info(c).unwrap();
    assert_eq!(info.mss, 1000, "send MSS from the peer's option");
    assert_eq!(info.snd_wnd, 30000);
}

#[test]
fn simultaneous_open_syn_crossing() {
    let mut h = Harness::new();
    let c = h
        .stack
        .tcp_connect(h.peer_addr(), Some(h.stack_addr()))
        .unwrap();
    let syn = h.expect_segment();
    assert_eq!(syn.flags_np(), SYN);
    let iss = syn.seq;
    // The peer's own SYN crosses ours.
    h.inject(PEER_ISS, 0, SYN, 65535, mss_opt(1460), &[]);
    assert_eq!(h.state(c), TcpState::SynReceived);
    // RFC 9293 §3.10.7.3: <SEQ=ISS><ACK=RCV.NXT><CTL=SYN,ACK>.
    let sa = h.expect_segment();
    sa.check_empty(SYN | ACK, iss, PEER_ISS + 1);
    assert_eq!(sa.options.mss, Some(STACK_MSS));
    h.expect_nothing();
    // The peer's ACK of our SYN.
    h.inject(
        PEER_ISS + 1,
        iss.wrapping_add(1),
        ACK,
        65535,
        no_opts(),
        &[],
    );
    assert_eq!(h.state(c), TcpState::Established);
    h.expect_nothing();
}

#[test]
fn simultaneous_open_peer_synack_establishes() {
    let mut h = Harness::new();
    let c = h
        .stack
        .tcp_connect(h.peer_addr(), Some(h.stack_addr()))
        .unwrap();
    let iss = h.expect_segment().seq;
    h.inject(PEER_ISS, 0, SYN, 65535, mss_opt(1460), &[]);
    h.expect_segment().check_empty(SYN | ACK, iss, PEER_ISS + 1);
    // RFC 9293 figure 8, line 6: the peer's SYN,ACK completes the open.
    h.inject(
        PEER_ISS,
        iss.wrapping_add(1),
        SYN | ACK,
        65535,
        mss_opt(1460),
        &[],
    );
    assert_eq!(h.state(c), TcpState::Established);
    h.expect_segment()
        .check_empty(ACK, iss.wrapping_add(1), PEER_ISS + 1);
}

// ======================================================================
// Closing
// ======================================================================

#[test]
fn active_close_fin_wait_to_time_wait_to_closed() {
    let mut h = Harness::new();
    let (_l, c) = h.passive_open();
    h.stack.tcp_shutdown(c.h, Shutdown::Write).unwrap();
    assert_eq!(h.state(c.h), TcpState::FinWait1);
    h.expect_segment().check_empty(FIN | ACK, c.s(0), c.p(0));
    h.expect_nothing();
    // ACK of our FIN → FIN-WAIT-2, nothing to send.
    h.inject(c.p(0), c.s(1), ACK, 65535, no_opts(), &[]);
    assert_eq!(h.state(c.h), TcpState::FinWait2);
    h.expect_nothing();
    // Peer's FIN → TIME-WAIT, ACK it.
    h.advance_ms(5);
    h.inject(c.p(0), c.s(1), FIN | ACK, 65535, no_opts(), &[]);
    assert_eq!(h.state(c.h), TcpState::TimeWait);
    h.expect_segment().check_empty(ACK, c.s(1), c.p(1));
    h.expect_nothing();
    let entered = h.now;
    // Walk the stack's wake-ups (stale earlier ones are allowed): it must
    // ask to be woken at exactly 2·MSL = 60 s, and stay in TIME-WAIT.
    loop {
        let at = h.poll_at().expect("TIME-WAIT timer armed");
        assert!(at <= entered + SECS(60), "wake-up {at:?} after 2·MSL");
        if at == entered + SECS(60) {
            break;
        }
        h.advance_to(at);
        h.expect_nothing();
        assert_eq!(h.state(c.h), TcpState::TimeWait);
    }
    h.advance_to(entered + SECS(60) - MS(1));
    assert_eq!(h.state(c.h), TcpState::TimeWait, "not before 2·MSL");
    h.expect_nothing();
    h.advance_to(entered + SECS(60));
    assert_eq!(h.state(c.h), TcpState::Closed);
    h.expect_nothing();
    assert_eq!(h.stack.tcp_recv(c.h, &mut [0u8; 16]).unwrap(), 0);
}

#[test]
fn passive_close_close_wait_last_ack_closed() {
    let mut h = Harness::new();
    let (_l, c) = h.passive_open();
    h.inject(c.p(0), c.s(0), FIN | ACK, 65535, no_opts(), &[]);
    assert_eq!(h.state(c.h), TcpState::CloseWait);
    h.expect_segment().check_empty(ACK, c.s(0), c.p(1));
    h.expect_nothing();
    assert_eq!(h.stack.tcp_recv(c.h, &mut [0u8; 16]).unwrap(), 0, "EOF");
    h.stack.tcp_shutdown(c.h, Shutdown::Write).unwrap();
    assert_eq!(h.state(c.h), TcpState::LastAck);
    h.expect_segment().check_empty(FIN | ACK, c.s(0), c.p(1));
    h.expect_nothing();
    h.inject(c.p(1), c.s(1), ACK, 65535, no_opts(), &[]);
    assert_eq!(h.state(c.h), TcpState::Closed);
    h.expect_nothing();
}

#[test]
fn passive_close_with_tcp_close_frees_socket() {
    let mut h = Harness::new();
    let (l, c) = h.passive_open();
    h.inject(c.p(0), c.s(0), FIN | ACK, 65535, no_opts(), &[]);
    h.expect_segment().check_empty(ACK, c.s(0), c.p(1));
    h.stack.tcp_close(c.h);
    h.expect_segment().check_empty(FIN | ACK, c.s(0), c.p(1));
    assert_eq!(h.stack.socket_count(), 2);
    h.inject(c.p(1), c.s(1), ACK, 65535, no_opts(), &[]);
    h.expect_nothing();
    assert_eq!(h.stack.socket_count(), 1, "only the listener is left");
    assert_eq!(h.state(l), TcpState::Listen);
}

#[test]
fn simultaneous_close_closing_to_time_wait() {
    let mut h = Harness::new();
    let (_l, c) = h.passive_open();
    h.stack.tcp_shutdown(c.h, Shutdown::Write).unwrap();
    h.expect_segment().check_empty(FIN | ACK, c.s(0), c.p(0));
    // The peer's FIN crosses ours: it does not acknowledge our FIN.
    h.inject(c.p(0), c.s(0), FIN | ACK, 65535, no_opts(), &[]);
    assert_eq!(h.state(c.h), TcpState::Closing);
    h.expect_segment().check_empty(ACK, c.s(1), c.p(1));
    h.expect_nothing();
    h.inject(c.p(1), c.s(1), ACK, 65535, no_opts(), &[]);
    assert_eq!(h.state(c.h), TcpState::TimeWait);
    h.expect_nothing();
    let t = h.now;
    h.advance_to(t + SECS(60));
    assert_eq!(h.state(c.h), TcpState::Closed);
}

#[test]
fn fin_ack_in_fin_wait_1_goes_to_time_wait() {
    let mut h = Harness::new();
    let (_l, c) = h.passive_open();
    h.stack.tcp_shutdown(c.h, Shutdown::Write).unwrap();
    h.expect_segment().check_empty(FIN | ACK, c.s(0), c.p(0));
    assert_eq!(h.state(c.h), TcpState::FinWait1);
    // FIN that also acknowledges our FIN.
    h.inject(c.p(0), c.s(1), FIN | ACK, 65535, no_opts(), &[]);
    assert_eq!(h.state(c.h), TcpState::TimeWait);
    h.expect_segment().check_empty(ACK, c.s(1), c.p(1));
    h.expect_nothing();
}

#[test]
fn half_close_stack_sends_in_close_wait() {
    let mut h = Harness::new();
    let (_l, c) = h.passive_open();
    h.inject(c.p(0), c.s(0), FIN | ACK, 65535, no_opts(), &[]);
    assert_eq!(h.state(c.h), TcpState::CloseWait);
    h.expect_segment().check_empty(ACK, c.s(0), c.p(1));
    assert_eq!(h.stack.tcp_send(c.h, b"still talking").unwrap(), 13);
    let d = h.expect_segment();
    d.check(ACK, c.s(0), c.p(1));
    assert_eq!(d.payload, b"still talking");
    h.inject(c.p(1), c.s(13), ACK, 65535, no_opts(), &[]);
    h.expect_nothing();
    assert_eq!(h.stack.tcp_info(c.h).unwrap().bytes_in_flight, 0);
    h.stack.tcp_shutdown(c.h, Shutdown::Write).unwrap();
    h.expect_segment().check_empty(FIN | ACK, c.s(13), c.p(1));
    h.inject(c.p(1), c.s(14), ACK, 65535, no_opts(), &[]);
    assert_eq!(h.state(c.h), TcpState::Closed);
}

#[test]
fn half_close_stack_receives_in_fin_wait_2() {
    let mut h = Harness::new();
    let (_l, c) = h.passive_open();
    h.stack.tcp_shutdown(c.h, Shutdown::Write).unwrap();
    h.expect_segment().check_empty(FIN | ACK, c.s(0), c.p(0));
    h.inject(c.p(0), c.s(1), ACK, 65535, no_opts(), &[]);
    assert_eq!(h.state(c.h), TcpState::FinWait2);
    h.inject(c.p(0), c.s(1), PSH | ACK, 65535, no_opts(), b"late data");
    assert_eq!(h.read_all(c.h).unwrap(), b"late data");
    let deadline = h.now + MS(40);
    h.expect_segment_by(deadline)
        .check_empty(ACK, c.s(1), c.p(9));
    assert_eq!(h.state(c.h), TcpState::FinWait2);
    h.inject(c.p(9), c.s(1), FIN | ACK, 65535, no_opts(), &[]);
    assert_eq!(h.state(c.h), TcpState::TimeWait);
    h.expect_segment().check_empty(ACK, c.s(1), c.p(10));
    assert_eq!(h.stack.tcp_recv(c.h, &mut [0u8; 8]).unwrap(), 0, "EOF");
}

// ======================================================================
// RST processing
// ======================================================================

#[test]
fn rst_in_syn_sent_with_acceptable_ack_refuses() {
    let mut h = Harness::new();
    let c = h
        .stack
        .tcp_connect(h.peer_addr(), Some(h.stack_addr()))
        .unwrap();
    let iss = h.expect_segment().seq;
    h.inject(0, iss.wrapping_add(1), RST | ACK, 0, no_opts(), &[]);
    assert_eq!(h.state(c), TcpState::Closed);
    h.expect_nothing();
    assert_eq!(h.recv_error(c), ErrorKind::ConnectionRefused);
}

#[test]
fn rst_in_syn_sent_reported_by_send() {
    let mut h = Harness::new();
    let c = h
        .stack
        .tcp_connect(h.peer_addr(), Some(h.stack_addr()))
        .unwrap();
    let iss = h.expect_segment().seq;
    h.inject(0, iss.wrapping_add(1), RST | ACK, 0, no_opts(), &[]);
    assert_eq!(
        h.stack.tcp_send(c, b"x").unwrap_err().kind(),
        ErrorKind::ConnectionRefused
    );
}

#[test]
fn rst_in_syn_sent_without_ack_is_ignored() {
    let mut h = Harness::new();
    let c = h
        .stack
        .tcp_connect(h.peer_addr(), Some(h.stack_addr()))
        .unwrap();
    let iss = h.expect_segment().seq;
    let before = h.drops(DropReason::TcpInvalid);
    h.inject(iss.wrapping_add(1), 0, RST, 0, no_opts(), &[]);
    assert_eq!(h.state(c), TcpState::SynSent);
    h.expect_nothing();
    assert_eq!(h.drops(DropReason::TcpInvalid), before + 1);
    // The handshake still completes.
    h.inject(
        PEER_ISS,
        iss.wrapping_add(1),
        SYN | ACK,
        65535,
        mss_opt(1460),
        &[],
    );
    assert_eq!(h.state(c), TcpState::Established);
}

#[test]
fn rst_in_syn_sent_with_bad_ack_is_ignored() {
    let mut h = Harness::new();
    let c = h
        .stack
        .tcp_connect(h.peer_addr(), Some(h.stack_addr()))
        .unwrap();
    let iss = h.expect_segment().seq;
    h.inject(0, iss.wrapping_add(500), RST | ACK, 0, no_opts(), &[]);
    assert_eq!(h.state(c), TcpState::SynSent);
    h.expect_nothing();
}

#[test]
fn synack_with_bad_ack_in_syn_sent_gets_rst() {
    let mut h = Harness::new();
    let c = h
        .stack
        .tcp_connect(h.peer_addr(), Some(h.stack_addr()))
        .unwrap();
    let iss = h.expect_segment().seq;
    let bad = iss.wrapping_add(1000);
    h.inject(PEER_ISS, bad, SYN | ACK, 65535, mss_opt(1460), &[]);
    // RFC 9293 §3.10.7.3: <SEQ=SEG.ACK><CTL=RST>, state unchanged.
    h.expect_segment().check_empty(RST, bad, 0);
    h.expect_nothing();
    assert_eq!(h.state(c), TcpState::SynSent);
}

#[test]
fn rst_in_syn_received_removes_child_listener_stays() {
    let mut h = Harness::new();
    let l = h.listen(8);
    let sa = h.peer_syn(65535, mss_opt(1460));
    assert_eq!(h.stack.socket_count(), 2);
    h.inject(PEER_ISS + 1, 0, RST, 0, no_opts(), &[]);
    h.expect_nothing();
    assert_eq!(h.stack.socket_count(), 1, "child removed");
    assert_eq!(h.state(l), TcpState::Listen);
    assert_eq!(
        h.stack.tcp_accept(l).unwrap_err().kind(),
        ErrorKind::WouldBlock
    );
    // A late ACK for the removed child: no connection → RST <SEQ=SEG.ACK>
    // from the listener.
    h.inject(
        PEER_ISS + 1,
        sa.seq.wrapping_add(1),
        ACK,
        65535,
        no_opts(),
        &[],
    );
    h.expect_segment()
        .check_empty(RST, sa.seq.wrapping_add(1), 0);
    // The listener still accepts a new connection.
    h.peer_syn(65535, mss_opt(1460));
}

fn rst_closes_with_reset(h: &mut Harness, c: &Conn, rst_seq: u32) {
    h.inject(rst_seq, 0, RST, 0, no_opts(), &[]);
    assert_eq!(h.state(c.h), TcpState::Closed);
    h.expect_nothing();
    assert_eq!(h.recv_error(c.h), ErrorKind::ConnectionReset);
}

#[test]
fn rst_in_established_resets() {
    let mut h = Harness::new();
    let (_l, c) = h.passive_open();
    let before = h.stack.counters().tcp.rsts_in;
    rst_closes_with_reset(&mut h, &c, c.p(0));
    assert_eq!(h.stack.counters().tcp.rsts_in, before + 1);
}

#[test]
fn rst_in_established_reported_by_send() {
    let mut h = Harness::new();
    let (_l, c) = h.passive_open();
    h.inject(c.p(0), 0, RST, 0, no_opts(), &[]);
    assert_eq!(
        h.stack.tcp_send(c.h, b"x").unwrap_err().kind(),
        ErrorKind::ConnectionReset
    );
}

#[test]
fn rst_in_fin_wait_1_resets() {
    let mut h = Harness::new();
    let (_l, c) = h.passive_open();
    h.stack.tcp_shutdown(c.h, Shutdown::Write).unwrap();
    h.expect_segment().check_empty(FIN | ACK, c.s(0), c.p(0));
    assert_eq!(h.state(c.h), TcpState::FinWait1);
    rst_closes_with_reset(&mut h, &c, c.p(0));
}

#[test]
fn rst_in_fin_wait_2_resets() {
    let mut h = Harness::new();
    let (_l, c) = h.passive_open();
    h.stack.tcp_shutdown(c.h, Shutdown::Write).unwrap();
    h.expect_segment().check_empty(FIN | ACK, c.s(0), c.p(0));
    h.inject(c.p(0), c.s(1), ACK, 65535, no_opts(), &[]);
    assert_eq!(h.state(c.h), TcpState::FinWait2);
    rst_closes_with_reset(&mut h, &c, c.p(0));
}

#[test]
fn rst_in_close_wait_resets() {
    let mut h = Harness::new();
    let (_l, c) = h.passive_open();
    h.inject(c.p(0), c.s(0), FIN | ACK, 65535, no_opts(), &[]);
    h.expect_segment().check_empty(ACK, c.s(0), c.p(1));
    assert_eq!(h.state(c.h), TcpState::CloseWait);
    rst_closes_with_reset(&mut h, &c, c.p(1));
}

#[test]
fn rst_in_closing_closes() {
    let mut h = Harness::new();
    let (_l, c) = h.passive_open();
    h.stack.tcp_shutdown(c.h, Shutdown::Write).unwrap();
    h.expect_segment().check_empty(FIN | ACK, c.s(0), c.p(0));
    h.inject(c.p(0), c.s(0), FIN | ACK, 65535, no_opts(), &[]);
    h.expect_segment().check_empty(ACK, c.s(1), c.p(1));
    assert_eq!(h.state(c.h), TcpState::Closing);
    h.inject(c.p(1), 0, RST, 0, no_opts(), &[]);
    assert_eq!(h.state(c.h), TcpState::Closed);
    h.expect_nothing();
}

#[test]
fn rst_in_last_ack_closes() {
    let mut h = Harness::new();
    let (_l, c) = h.passive_open();
    h.inject(c.p(0), c.s(0), FIN | ACK, 65535, no_opts(), &[]);
    h.expect_segment().check_empty(ACK, c.s(0), c.p(1));
    h.stack.tcp_shutdown(c.h, Shutdown::Write).unwrap();
    h.expect_segment().check_empty(FIN | ACK, c.s(0), c.p(1));
    assert_eq!(h.state(c.h), TcpState::LastAck);
    h.inject(c.p(1), 0, RST, 0, no_opts(), &[]);
    assert_eq!(h.state(c.h), TcpState::Closed);
    h.expect_nothing();
}

#[test]
fn rst_in_time_wait_is_ignored_rfc1337() {
    let mut h = Harness::new();
    let (_l, c) = h.passive_open();
    h.stack.tcp_shutdown(c.h, Shutdown::Write).unwrap();
    h.expect_segment().check_empty(FIN | ACK, c.s(0), c.p(0));
    h.inject(c.p(0), c.s(1), FIN | ACK, 65535, no_opts(), &[]);
    h.expect_segment().check_empty(ACK, c.s(1), c.p(1));
    assert_eq!(h.state(c.h), TcpState::TimeWait);
    let entered = h.now;
    h.advance_ms(100);
    h.inject(c.p(1), 0, RST, 0, no_opts(), &[]);
    assert_eq!(h.state(c.h), TcpState::TimeWait, "RFC 1337: RST ignored");
    h.expect_nothing();
    // TIME-WAIT still ends on schedule.
    h.advance_to(entered + SECS(60) - MS(1));
    assert_eq!(h.state(c.h), TcpState::TimeWait);
    h.advance_to(entered + SECS(60));
    assert_eq!(h.state(c.h), TcpState::Closed);
}

#[test]
fn rst_in_window_not_exact_gets_challenge_ack() {
    let mut h = Harness::new();
    let (_l, c) = h.passive_open();
    let before = h.drops(DropReason::TcpInvalid);
    h.inject(c.p(1000), 0, RST, 0, no_opts(), &[]);
    // RFC 5961 §3.2: <SEQ=SND.NXT><ACK=RCV.NXT><CTL=ACK>, no reset.
    h.expect_segment().check_empty(ACK, c.s(0), c.p(0));
    h.expect_nothing();
    assert_eq!(h.state(c.h), TcpState::Established);
    assert_eq!(h.drops(DropReason::TcpInvalid), before + 1);
    // The exact RST still works afterwards.
    rst_closes_with_reset(&mut h, &c, c.p(0));
}

#[test]
fn rst_out_of_window_is_dropped_silently() {
    let mut h = Harness::new();
    let (_l, c) = h.passive_open();
    let before = h.drops(DropReason::TcpOutOfWindow);
    // Beyond RCV.NXT + RCV.WND (window 65535).
    h.inject(c.p(100_000), 0, RST, 0, no_opts(), &[]);
    h.expect_nothing();
    // Before RCV.NXT.
    h.inject(c.p(0).wrapping_sub(1), 0, RST, 0, no_opts(), &[]);
    h.expect_nothing();
    assert_eq!(h.state(c.h), TcpState::Established);
    assert_eq!(h.drops(DropReason::TcpOutOfWindow), before + 2);
}

// ======================================================================
// RFC 5961 and segment acceptability
// ======================================================================

#[test]
fn syn_in_established_gets_challenge_ack() {
    let mut h = Harness::new();
    let (_l, c) = h.passive_open();
    let before = h.drops(DropReason::TcpInvalid);
    // In-window SYN.
    h.inject(c.p(0), 0, SYN, 65535, mss_opt(1460), &[]);
    h.expect_segment().check_empty(ACK, c.s(0), c.p(0));
    h.expect_nothing();
    assert_eq!(h.state(c.h), TcpState::Established);
    assert_eq!(h.drops(DropReason::TcpInvalid), before + 1);
    // RFC 5961 §4.2: irrespective of the sequence number.
    h.inject(c.p(5000), 0, SYN, 65535, mss_opt(1460), &[]);
    h.expect_segment().check_empty(ACK, c.s(0), c.p(0));
    h.expect_nothing();
    assert_eq!(h.state(c.h), TcpState::Established);
    // The connection still carries data.
    h.inject(c.p(0), c.s(0), PSH | ACK, 65535, no_opts(), b"ok");
    assert_eq!(h.read_all(c.h).unwrap(), b"ok");
}

#[test]
fn ack_of_unsent_data_is_acked_and_dropped() {
    let mut h = Harness::new();
    let (_l, c) = h.passive_open();
    let before = h.drops(DropReason::TcpInvalid);
    h.inject(c.p(0), c.s(1000), PSH | ACK, 65535, no_opts(), b"bogus");
    h.expect_segment().check_empty(ACK, c.s(0), c.p(0));
    h.expect_nothing();
    assert_eq!(h.stack.tcp_recv_available(c.h).unwrap(), 0, "text dropped");
    assert_eq!(h.drops(DropReason::TcpInvalid), before + 1);
    assert_eq!(h.state(c.h), TcpState::Established);
    // The same data with a valid ACK is accepted.
    h.inject(c.p(0), c.s(0), PSH | ACK, 65535, no_opts(), b"bogus");
    assert_eq!(h.read_all(c.h).unwrap(), b"bogus");
}

#[test]
fn data_beyond_window_is_trimmed() {
    let mut h = Harness::with(|c| c.tcp.recv_buffer = 4096);
    let l = h.listen(8);
    let sa = h.peer_syn(65535, mss_opt(1460));
    assert_eq!(sa.window, 4096);
    let c = Conn {
        h: {
            h.inject(
                PEER_ISS + 1,
                sa.seq.wrapping_add(1),
                ACK,
                65535,
                no_opts(),
                &[],
            );
            h.stack.tcp_accept(l).unwrap().0
        },
        iss: sa.seq,
        irs: PEER_ISS,
    };
    let data: Vec<u8> = (0..3000u32).map(|i| i as u8).collect();
    h.inject(c.p(0), c.s(0), ACK, 65535, no_opts(), &data[..1460]);
    h.inject(c.p(1460), c.s(0), ACK, 65535, no_opts(), &data[1460..2920]);
    let a = h.expect_segment();
    a.check_empty(ACK, c.s(0), c.p(2920));
    assert_eq!(a.window, 4096 - 2920);
    // 1460 bytes offered, 1176 fit: the rest is trimmed.
    let big: Vec<u8> = (0..1460u32).map(|i| (i + 2920) as u8).collect();
    h.inject(c.p(2920), c.s(0), ACK, 65535, no_opts(), &big);
    let deadline = h.now + MS(40);
    let a = h.expect_segment_by(deadline);
    a.check_empty(ACK, c.s(0), c.p(4096));
    assert_eq!(a.window, 0);
    let got = h.read_all(c.h).unwrap();
    assert_eq!(got.len(), 4096);
    assert_eq!(&got[..2920], &data[..2920]);
    assert_eq!(&got[2920..], &big[..1176]);
}

#[test]
fn data_wholly_outside_window_gets_duplicate_ack() {
    let mut h = Harness::new();
    let (_l, c) = h.passive_open();
    let before = h.drops(DropReason::TcpOutOfWindow);
    h.inject(c.p(70_000), c.s(0), ACK, 65535, no_opts(), b"far future");
    h.expect_segment().check_empty(ACK, c.s(0), c.p(0));
    h.expect_nothing();
    assert_eq!(h.stack.tcp_recv_available(c.h).unwrap(), 0);
    assert_eq!(h.drops(DropReason::TcpOutOfWindow), before + 1);
    assert_eq!(h.state(c.h), TcpState::Established);
}

#[test]
fn duplicate_data_is_acked_and_counted() {
    let mut h = Harness::new();
    let (_l, c) = h.passive_open();
    h.inject(c.p(0), c.s(0), PSH | ACK, 65535, no_opts(), b"0123456789");
    let deadline = h.now + MS(40);
    h.expect_segment_by(deadline)
        .check_empty(ACK, c.s(0), c.p(10));
    let dup_before = h.stack.counters().tcp.dup_segments;
    let oow_before = h.drops(DropReason::TcpOutOfWindow);
    // The same segment again (its ACK was "lost"): ACK at once.
    h.inject(c.p(0), c.s(0), PSH | ACK, 65535, no_opts(), b"0123456789");
    h.expect_segment().check_empty(ACK, c.s(0), c.p(10));
    h.expect_nothing();
    assert_eq!(h.stack.counters().tcp.dup_segments, dup_before + 1);
    assert_eq!(h.drops(DropReason::TcpOutOfWindow), oow_before + 1);
    assert_eq!(h.read_all(c.h).unwrap(), b"0123456789", "delivered once");
}

// ======================================================================
// No connection / LISTEN
// ======================================================================

#[test]
fn segment_to_closed_port_gets_rst() {
    let mut h = Harness::new();
    h.stack_port = 81;
    // No ACK: <SEQ=0><ACK=SEG.SEQ+SEG.LEN><CTL=RST,ACK>.
    h.inject(5000, 0, SYN, 65535, mss_opt(1460), &[]);
    h.expect_segment().check_empty(RST | ACK, 0, 5001);
    h.inject(6000, 0, FIN, 65535, no_opts(), b"abc");
    h.expect_segment().check_empty(RST | ACK, 0, 6004);
    // ACK: <SEQ=SEG.ACK><CTL=RST>.
    h.inject(5001, 777_777, ACK, 65535, no_opts(), b"data");
    h.expect_segment().check_empty(RST, 777_777, 0);
    // A RST is never answered.
    h.inject(5001, 777_777, RST | ACK, 0, no_opts(), &[]);
    h.inject(5001, 0, RST, 0, no_opts(), &[]);
    h.expect_nothing();
    assert_eq!(h.drops(DropReason::TcpNoSocket), 5);
}

#[test]
fn ack_to_listener_gets_rst_seq_seg_ack() {
    let mut h = Harness::new();
    let l = h.listen(8);
    h.inject(5000, 123_456, ACK, 65535, no_opts(), &[]);
    h.expect_segment().check_empty(RST, 123_456, 0);
    h.expect_nothing();
    assert_eq!(h.state(l), TcpState::Listen);
    assert_eq!(h.stack.socket_count(), 1);
}

#[test]
fn rst_to_listener_is_ignored() {
    let mut h = Harness::new();
    let l = h.listen(8);
    h.inject(5000, 0, RST, 0, no_opts(), &[]);
    h.inject(5000, 99, RST | ACK, 0, no_opts(), &[]);
    h.expect_nothing();
    assert_eq!(h.state(l), TcpState::Listen);
    assert_eq!(h.stack.socket_count(), 1);
}

#[test]
fn full_backlog_drops_syn_silently() {
    let mut h = Harness::new();
    let l = h.listen(1);
    // One connection completes and waits in the accept queue.
    let sa = h.peer_syn(65535, mss_opt(1460));
    h.inject(
        PEER_ISS + 1,
        sa.seq.wrapping_add(1),
        ACK,
        65535,
        no_opts(),
        &[],
    );
    h.expect_nothing();
    assert_eq!(h.stack.tcp_accept_ready(l).unwrap(), 1);
    // A second client's SYN: queue full → dropped, no RST, no SYN-ACK.
    h.peer_port = PEER_PORT + 1;
    h.inject(7000, 0, SYN, 65535, mss_opt(1460), &[]);
    h.expect_nothing();
    assert_eq!(h.drops(DropReason::TcpListenOverflow), 1);
    assert_eq!(h.stack.socket_count(), 2);
    // Once accepted, there is room again.
    h.stack.tcp_accept(l).unwrap();
    h.inject(7000, 0, SYN, 65535, mss_opt(1460), &[]);
    let sa2 = h.expect_segment();
    sa2.check_empty(SYN | ACK, sa2.seq, 7001);
}

#[test]
fn full_syn_queue_drops_syn_silently() {
    // Without SYN cookies a full SYN queue drops (no RST, Linux).
    let mut h = Harness::with(|c| c.tcp.syn_cookies = false);
    let _l = h.listen(1);
    h.peer_syn(65535, mss_opt(1460));
    h.peer_port = PEER_PORT + 1;
    h.inject(7000, 0, SYN, 65535, mss_opt(1460), &[]);
    h.expect_nothing();
    assert_eq!(h.drops(DropReason::TcpListenOverflow), 1);
}

// ======================================================================
// Receiving: reordering, delayed ACK, windows
// ======================================================================

#[test]
fn out_of_order_dup_ack_then_cumulative_ack() {
    let mut h = Harness::new();
    let (_l, c) = h.passive_open();
    let seg = |i: u32| -> Vec<u8> { (0..100u32).map(|j| (i * 100 + j) as u8).collect() };
    // Segment 2 first: immediate duplicate ACK for RCV.NXT.
    h.inject(c.p(100), c.s(0), ACK, 65535, no_opts(), &seg(1));
    h.expect_segment().check_empty(ACK, c.s(0), c.p(0));
    h.expect_nothing();
    // Segment 3: another duplicate ACK.
    h.inject(c.p(200), c.s(0), ACK, 65535, no_opts(), &seg(2));
    h.expect_segment().check_empty(ACK, c.s(0), c.p(0));
    h.expect_nothing();
    assert_eq!(h.stack.tcp_recv_available(c.h).unwrap(), 0);
    // Segment 1 fills the hole: immediate cumulative ACK.
    h.inject(c.p(0), c.s(0), ACK, 65535, no_opts(), &seg(0));
    h.expect_segment().check_empty(ACK, c.s(0), c.p(300));
    h.expect_nothing();
    let all: Vec<u8> = (0..3).flat_map(seg).collect();
    assert_eq!(h.read_all(c.h).unwrap(), all);
    assert_eq!(h.stack.counters().tcp.ooo_segments, 2);
}

/// After out-of-order data the receiver ACKs the following in-order
/// segments at once (quick-ACK mode, as Linux: 16 segments), so a sender in
/// recovery with a small window is not held up by delayed ACKs; then it
/// delays again.
#[test]
fn quick_acks_after_out_of_order_data() {
    let mut h = Harness::new();
    let (_l, c) = h.passive_open();
    let d = vec![0x5au8; 1000];
    // Before any reordering: a lone segment's ACK is delayed.
    h.inject(c.p(0), c.s(0), ACK, 65535, no_opts(), &d);
    h.expect_nothing();
    // A hole, then its repair.
    h.inject(c.p(2000), c.s(0), ACK, 65535, no_opts(), &d);
    h.expect_segment().check_empty(ACK, c.s(0), c.p(1000));
    h.inject(c.p(1000), c.s(0), ACK, 65535, no_opts(), &d);
    h.expect_segment().check_empty(ACK, c.s(0), c.p(3000));
    h.expect_nothing();
    // Each of the next 16 segments is ACKed at once...
    let mut at = 3000u32;
    for _ in 0..16 {
        h.inject(c.p(at), c.s(0), ACK, 65535, no_opts(), &d);
        at += 1000;
        h.expect_segment().check_empty(ACK, c.s(0), c.p(at));
        h.expect_nothing();
    }
    // ... then delayed ACKs again: one per two segments.
    h.inject(c.p(at), c.s(0), ACK, 65535, no_opts(), &d);
    h.expect_nothing();
    h.inject(c.p(at + 1000), c.s(0), ACK, 65535, no_opts(), &d);
    h.expect_segment().check_empty(ACK, c.s(0), c.p(at + 2000));
}

#[test]
fn delayed_ack_single_small_segment() {
    let mut h = Harness::new();
    let (_l, c) = h.passive_open();
    h.advance_ms(1000);
    let t = h.now;
    h.inject(c.p(0), c.s(0), PSH | ACK, 65535, no_opts(), b"hello");
    h.expect_nothing();
    assert_eq!(h.poll_at(), Some(t + MS(40)));
    h.advance_to(t + MS(39));
    h.expect_nothing();
    h.advance_to(t + MS(40));
    h.expect_segment().check_empty(ACK, c.s(0), c.p(5));
    h.expect_nothing();
    assert_eq!(h.read_all(c.h).unwrap(), b"hello");
}

#[test]
fn two_full_segments_are_acked_at_once() {
    let mut h = Harness::new();
    let (_l, c) = h.passive_open();
    let d = vec![0x5au8; 1460];
    h.inject(c.p(0), c.s(0), ACK, 65535, no_opts(), &d);
    h.expect_nothing();
    h.inject(c.p(1460), c.s(0), ACK, 65535, no_opts(), &d);
    h.expect_segment().check_empty(ACK, c.s(0), c.p(2920));
    h.expect_nothing();
}

/// Interactive use: the first request's ACK goes when the reader drains it
/// (nothing says yet that a reply will follow); once data answers data
/// within the delayed-ACK time, the ACK of the next request rides on the
/// reply (Linux's ping-pong mode), until a delayed ACK has to fire.
#[test]
fn delayed_ack_piggybacks_on_data() {
    let mut h = Harness::new();
    let (_l, c) = h.passive_open();
    h.inject(c.p(0), c.s(0), PSH | ACK, 65535, no_opts(), b"ping");
    h.expect_nothing();
    assert_eq!(h.read_all(c.h).unwrap(), b"ping");
    h.expect_segment().check_empty(ACK, c.s(0), c.p(4));
    h.advance_ms(5);
    h.stack.tcp_send(c.h, b"pong").unwrap();
    let s = h.expect_segment();
    s.check(ACK, c.s(0), c.p(4));
    assert_eq!(s.payload, b"pong");
    // Second request: interactive now, so reading it sends nothing ...
    h.inject(c.p(4), c.s(4), PSH | ACK, 65535, no_opts(), b"ping");
    assert_eq!(h.read_all(c.h).unwrap(), b"ping");
    h.expect_nothing();
    h.advance_ms(5);
    // ... and the reply carries the ACK.
    h.stack.tcp_send(c.h, b"pong").unwrap();
    let s = h.expect_segment();
    s.check(ACK, c.s(4), c.p(8));
    assert_eq!(s.payload, b"pong");
    h.advance_ms(100);
    h.expect_nothing();
    // A request left unanswered: its delayed ACK fires, which ends the
    // interactive mode; the next drained request is ACKed at once again.
    h.inject(c.p(8), c.s(8), PSH | ACK, 65535, no_opts(), b"ping");
    assert_eq!(h.read_all(c.h).unwrap(), b"ping");
    h.expect_nothing();
    h.advance_ms(40);
    h.expect_segment().check_empty(ACK, c.s(8), c.p(12));
    h.inject(c.p(12), c.s(8), PSH | ACK, 65535, no_opts(), b"ping");
    assert_eq!(h.read_all(c.h).unwrap(), b"ping");
    h.expect_segment().check_empty(ACK, c.s(8), c.p(16));
}

/// A window-bound sender waits for the ACK of the end of its write; a
/// reader that drains that end sends the delayed ACK at once (Linux's
/// `ICSK_ACK_PUSHED`), so the ACKs stay in step with the sender's bursts.
/// Data that is not an end (no PSH, full-sized) or not drained keeps the
/// delay.
#[test]
fn drained_end_of_write_is_acked_at_once() {
    let mut h = Harness::new();
    let (_l, c) = h.passive_open();
    let d = vec![0x5au8; 1460];
    // A full segment without PSH, read out: the ACK stays delayed.
    h.inject(c.p(0), c.s(0), ACK, 65535, no_opts(), &d);
    assert_eq!(h.read_all(c.h).unwrap().len(), 1460);
    h.expect_nothing();
    h.advance_ms(40);
    h.expect_segment().check_empty(ACK, c.s(0), c.p(1460));
    // A full segment with PSH, read only in part: still delayed ...
    h.inject(c.p(1460), c.s(0), PSH | ACK, 65535, no_opts(), &d);
    let mut buf = [0u8; 1000];
    assert_eq!(h.stack.tcp_recv(c.h, &mut buf).unwrap(), 1000);
    h.expect_nothing();
    // ... until the reader drains it: then the ACK goes at once.
    assert_eq!(h.read_all(c.h).unwrap().len(), 460);
    h.expect_segment().check_empty(ACK, c.s(0), c.p(2920));
    h.expect_nothing();
    // A short segment (no PSH) ends a write too.
    h.inject(c.p(2920), c.s(0), ACK, 65535, no_opts(), &d[..700]);
    h.expect_nothing();
    assert_eq!(h.read_all(c.h).unwrap().len(), 700);
    h.expect_segment().check_empty(ACK, c.s(0), c.p(3620));
    h.expect_nothing();
}

fn fill_4k(h: &mut Harness) -> Conn {
    let l = h.listen(8);
    let sa = h.peer_syn(65535, mss_opt(1460));
    assert_eq!(sa.window, 4096);
    h.inject(
        PEER_ISS + 1,
        sa.seq.wrapping_add(1),
        ACK,
        65535,
        no_opts(),
        &[],
    );
    let c = Conn {
        h: h.stack.tcp_accept(l).unwrap().0,
        iss: sa.seq,
        irs: PEER_ISS,
    };
    let d = vec![7u8; 1460];
    h.inject(c.p(0), c.s(0), ACK, 65535, no_opts(), &d);
    h.inject(c.p(1460), c.s(0), ACK, 65535, no_opts(), &d);
    let a = h.expect_segment();
    a.check_empty(ACK, c.s(0), c.p(2920));
    assert_eq!(a.window, 1176);
    h.inject(c.p(2920), c.s(0), ACK, 65535, no_opts(), &d[..1176]);
    let deadline = h.now + MS(40);
    let a = h.expect_segment_by(deadline);
    a.check_empty(ACK, c.s(0), c.p(4096));
    assert_eq!(a.window, 0, "buffer full: window 0");
    c
}

#[test]
fn zero_receive_window_refuses_data_and_updates_after_read() {
    let mut h = Harness::with(|c| c.tcp.recv_buffer = 4096);
    let c = fill_4k(&mut h);
    // Data into the zero window: ACK with window 0, data not accepted.
    h.inject(c.p(4096), c.s(0), PSH | ACK, 65535, no_opts(), b"more");
    let a = h.expect_segment();
    a.check_empty(ACK, c.s(0), c.p(4096));
    assert_eq!(a.window, 0);
    h.expect_nothing();
    assert_eq!(h.stack.tcp_recv_available(c.h).unwrap(), 4096);
    // A Linux-style probe (SEQ = RCV.NXT - 1, no data) is answered too.
    h.inject(c.p(4095), c.s(0), ACK, 65535, no_opts(), &[]);
    let a = h.expect_segment();
    a.check_empty(ACK, c.s(0), c.p(4096));
    assert_eq!(a.window, 0);
    h.expect_nothing();
    // A small read does not open the window by a useful amount (SWS).
    let mut buf = vec![0u8; 4096];
    assert_eq!(h.stack.tcp_recv(c.h, &mut buf[..100]).unwrap(), 100);
    h.expect_nothing();
    // Reading the rest: window update.
    assert_eq!(h.stack.tcp_recv(c.h, &mut buf).unwrap(), 3996);
    let u = h.expect_segment();
    u.check_empty(ACK, c.s(0), c.p(4096));
    assert_eq!(u.window, 4096);
    h.expect_nothing();
    // And the data is now accepted.
    h.inject(c.p(4096), c.s(0), PSH | ACK, 65535, no_opts(), b"more");
    assert_eq!(h.read_all(c.h).unwrap(), b"more");
}

// ======================================================================
// Sending: zero window, retransmission, fast retransmit, Nagle, MSS
// ======================================================================

#[test]
fn peer_zero_window_persist_probes_with_backoff() {
    let mut h = Harness::new();
    let (_l, c) = h.passive_open_window(0);
    assert_eq!(h.stack.tcp_info(c.h).unwrap().snd_wnd, 0);
    let t0 = h.now;
    assert_eq!(h.stack.tcp_send(c.h, b"blocked data").unwrap(), 12);
    h.expect_nothing();
    let first = h.poll_at().expect("persist timer armed");
    assert!(
        first > t0 && first <= t0 + SECS(1),
        "persist timer at {first:?} (t0 {t0:?})"
    );
    // Probes, each answered with window 0, at growing intervals.
    let mut times = Vec::new();
    let mut prev = t0;
    for _ in 0..4 {
        let at = h.poll_at().expect("persist timer");
        h.advance_to(at - MS(1));
        h.expect_nothing();
        h.advance_to(at);
        let p = h.expect_segment();
        assert_eq!(p.flags_np(), ACK);
        assert_eq!(p.ack, c.p(0));
        // Either a 1-byte probe at SND.UNA or an empty probe at SND.UNA - 1.
        let ok = (p.seq == c.s(0) && p.payload == b"b")
            || (p.seq == c.s(0).wrapping_sub(1) && p.payload.is_empty());
        assert!(ok, "zero-window probe {p:?}");
        h.expect_nothing();
        times.push(at - prev);
        prev = at;
        h.inject(c.p(0), c.s(0), ACK, 0, no_opts(), &[]);
        h.expect_nothing();
    }
    for w in times.windows(2).skip(1) {
        assert_eq!(w[1], w[0] * 2, "exponential backoff: {times:?}");
    }
    assert!(h.stack.counters().tcp.zero_window_probes >= 4);
    // The window opens: the data flows.
    h.inject(c.p(0), c.s(0), ACK, 65535, no_opts(), &[]);
    let d = h.expect_segment();
    d.check(ACK, c.s(0), c.p(0));
    assert_eq!(d.payload, b"blocked data");
}

#[test]
fn syn_retransmission_backoff_and_give_up() {
    let mut h = Harness::new();
    let t0 = h.now;
    let c = h
        .stack
        .tcp_connect(h.peer_addr(), Some(h.stack_addr()))
        .unwrap();
    let syn = h.expect_segment();
    let iss = syn.seq;
    h.expect_nothing();
    // RFC 6298 (2.1) initial RTO 1 s, (5.5) doubled each time: the SYN is
    // sent at 0, 1, 3, 7, 15, 31, 63 s (six retransmissions).
    let mut at = t0;
    let mut rto = SECS(1);
    for _ in 0..6 {
        at += rto;
        assert_eq!(h.poll_at(), Some(at));
        h.advance_to(at - MS(1));
        h.expect_nothing();
        h.advance_to(at);
        let s = h.expect_segment();
        assert_eq!(s.flags_np(), SYN);
        assert_eq!(s.seq, iss, "same ISS on retransmission");
        assert_eq!(s.options.mss, Some(STACK_MSS));
        h.expect_nothing();
        assert_eq!(h.state(c), TcpState::SynSent);
        rto *= 2;
    }
    // syn_retries = 6: the next expiry gives up.
    at += rto;
    assert_eq!(at, t0 + SECS(127));
    h.advance_to(at - MS(1));
    assert_eq!(h.state(c), TcpState::SynSent);
    h.advance_to(at);
    assert_eq!(h.state(c), TcpState::Closed);
    h.expect_nothing();
    assert_eq!(h.recv_error(c), ErrorKind::TimedOut);
}

#[test]
fn data_rto_after_rtt_sample_backoff_and_give_up() {
    let mut h = Harness::with(|c| c.tcp.max_retries = 3);
    // SYN-ACK after 100 ms: SRTT 100, RTTVAR 50 → RTO = 100 + 4·50 = 300 ms.
    let c = h.active_open_rtt(MS(100));
    assert_eq!(h.stack.tcp_info(c.h).unwrap().rto, MS(300));
    h.advance_ms(1000);
    let t1 = h.now;
    h.stack.tcp_send(c.h, b"lost data").unwrap();
    let d = h.expect_segment();
    d.check(ACK, c.s(0), c.p(0));
    assert_eq!(d.payload, b"lost data");
    h.expect_nothing();
    // Retransmissions after 300, 600, 1200 ms (doubling), same SEQ.
    let mut at = t1;
    let mut rto = MS(300);
    for _ in 0..3 {
        at += rto;
        assert_eq!(h.poll_at(), Some(at));
        h.advance_to(at - MS(1));
        h.expect_nothing();
        h.advance_to(at);
        let r = h.expect_segment();
        r.check(ACK, c.s(0), c.p(0));
        assert_eq!(r.payload, b"lost data");
        h.expect_nothing();
        rto *= 2;
    }
    // max_retries = 3: the fourth expiry (2400 ms later) closes.
    at += rto;
    h.advance_to(at - MS(1));
    assert_eq!(h.state(c.h), TcpState::Established);
    h.advance_to(at);
    assert_eq!(h.state(c.h), TcpState::Closed);
    assert_eq!(h.recv_error(c.h), ErrorKind::TimedOut);
    assert_eq!(h.stack.counters().tcp.timeouts, 3);
}

/// Sends 3 bytes (RTO 300 ms after a 100 ms RTT sample), loses them
/// once, and has the retransmission acknowledged 50 ms after it was sent.
fn retransmitted_then_acked(h: &mut Harness) -> Conn {
    let c = h.active_open_rtt(MS(100));
    assert_eq!(h.stack.tcp_info(c.h).unwrap().srtt, Some(MS(100)));
    h.advance_ms(1000);
    h.stack.tcp_send(c.h, b"abc").unwrap();
    h.expect_segment().check(ACK, c.s(0), c.p(0));
    let t = h.now;
    let r = h.expect_segment_at(t + MS(300));
    r.check(ACK, c.s(0), c.p(0));
    assert_eq!(r.payload, b"abc");
    assert_eq!(h.stack.tcp_info(c.h).unwrap().rto, MS(600), "backed off");
    h.advance_ms(50);
    h.inject(c.p(0), c.s(3), ACK, 65535, no_opts(), &[]);
    h.expect_nothing();
    c
}

#[test]
fn karn_no_rtt_sample_from_retransmitted_segment() {
    let mut h = Harness::new();
    let c = retransmitted_then_acked(&mut h);
    // RFC 6298 §3 (Karn): the ACK of a retransmitted segment is ambiguous
    // (350 ms from the original, 50 ms from the copy): no sample.
    let info = h.stack.tcp_info(c.h).unwrap();
    assert_eq!(info.srtt, Some(MS(100)));
    assert_eq!(info.rttvar, Some(MS(50)));
}

#[test]
fn backed_off_rto_kept_until_valid_rtt_sample() {
    let mut h = Harness::new();
    let c = retransmitted_then_acked(&mut h);
    // RFC 6298 §5 (note after 5.7) with Karn's algorithm: without a new
    // RTT measurement the backed-off RTO (600 ms) is kept ...
    assert_eq!(h.stack.tcp_info(c.h).unwrap().rto, MS(600), "backoff kept");
    let t2 = h.now;
    h.stack.tcp_send(c.h, b"def").unwrap();
    h.expect_segment().check(ACK, c.s(3), c.p(0));
    let r = h.expect_segment_at(t2 + MS(600));
    r.check(ACK, c.s(3), c.p(0));
    assert_eq!(r.payload, b"def");
}

#[test]
fn rto_collapses_after_valid_rtt_sample() {
    let mut h = Harness::new();
    let c = retransmitted_then_acked(&mut h);
    // New data, sent once and acked after 100 ms, gives a valid sample:
    // RTO = SRTT + 4·RTTVAR = 100 + 4·37.5 = 250 ms.
    h.stack.tcp_send(c.h, b"def").unwrap();
    h.expect_segment().check(ACK, c.s(3), c.p(0));
    h.advance_ms(100);
    h.inject(c.p(0), c.s(6), ACK, 65535, no_opts(), &[]);
    h.expect_nothing();
    assert_eq!(h.stack.tcp_info(c.h).unwrap().rto, MS(250));
    let t3 = h.now;
    h.stack.tcp_send(c.h, b"ghi").unwrap();
    h.expect_segment().check(ACK, c.s(6), c.p(0));
    let r = h.expect_segment_at(t3 + MS(250));
    r.check(ACK, c.s(6), c.p(0));
    assert_eq!(r.payload, b"ghi");
}

#[test]
fn rto_3s_after_syn_retransmission() {
    let mut h = Harness::new();
    let c = h
        .stack
        .tcp_connect(h.peer_addr(), Some(h.stack_addr()))
        .unwrap();
    let iss = h.expect_segment().seq;
    // The first SYN is lost; the retransmission is answered.
    let t0 = h.now;
    assert_eq!(h.expect_segment_at(t0 + SECS(1)).seq, iss);
    h.advance_ms(100);
    h.inject(
        PEER_ISS,
        iss.wrapping_add(1),
        SYN | ACK,
        65535,
        mss_opt(1460),
        &[],
    );
    h.expect_segment()
        .check_empty(ACK, iss.wrapping_add(1), PEER_ISS + 1);
    assert_eq!(h.state(c), TcpState::Established);
    // RFC 6298 (5.7): the SYN timed out and RTO (1 s) < 3 s, so RTO MUST
    // be re-initialized to 3 s when data transmission begins.
    assert_eq!(h.stack.tcp_info(c).unwrap().rto, SECS(3));
    let t = h.now;
    h.stack.tcp_send(c, b"data").unwrap();
    h.expect_segment()
        .check(ACK, iss.wrapping_add(1), PEER_ISS + 1);
    let r = h.expect_segment_at(t + SECS(3));
    r.check(ACK, iss.wrapping_add(1), PEER_ISS + 1);
    assert_eq!(r.payload, b"data");
}

#[test]
fn rto_restarts_on_partial_ack() {
    let mut h = Harness::new();
    let c = h.active_open_rtt(MS(100));
    h.advance_ms(1000);
    h.stack.tcp_send(c.h, &[4u8; 2920]).unwrap();
    h.expect_segment().check(ACK, c.s(0), c.p(0));
    h.expect_segment().check(ACK, c.s(1460), c.p(0));
    h.expect_nothing();
    // First segment acked after 100 ms: sample 100 ms → RTO 250 ms, and
    // RFC 6298 (5.3) restarts the timer from now (not t1 + 300 ms).
    h.advance_ms(100);
    h.inject(c.p(0), c.s(1460), ACK, 65535, no_opts(), &[]);
    h.expect_nothing();
    let t2 = h.now;
    assert_eq!(h.stack.tcp_info(c.h).unwrap().rto, MS(250));
    let r = h.expect_segment_at(t2 + MS(250));
    r.check(ACK, c.s(1460), c.p(0));
    assert_eq!(r.payload.len(), 1460);
}

#[test]
fn fast_retransmit_after_three_dup_acks() {
    let mut h = Harness::new();
    let (_l, c) = h.passive_open();
    let data: Vec<u8> = (0..5 * 1460u32).map(|i| (i % 251) as u8).collect();
    assert_eq!(h.stack.tcp_send(c.h, &data).unwrap(), data.len());
    for i in 0..5u32 {
        let s = h.expect_segment();
        s.check(ACK, c.s(i * 1460), c.p(0));
        assert_eq!(s.payload.len(), 1460);
    }
    h.expect_nothing();
    let rto_at = h.poll_at().unwrap();
    h.advance_ms(50);
    // First segment lost: three duplicate ACKs.
    for _ in 0..2 {
        h.inject(c.p(0), c.s(0), ACK, 65535, no_opts(), &[]);
        h.expect_nothing();
    }
    h.inject(c.p(0), c.s(0), ACK, 65535, no_opts(), &[]);
    assert!(h.now < rto_at);
    let r = h.expect_segment();
    r.check(ACK, c.s(0), c.p(0));
    assert_eq!(r.payload, &data[..1460]);
    h.expect_nothing();
    let k = h.stack.counters().tcp;
    assert_eq!(k.fast_retransmits, 1);
    assert_eq!(k.dup_acks, 3);
    assert!(h.stack.tcp_info(c.h).unwrap().in_recovery);
    // Full ACK ends recovery.
    h.inject(c.p(0), c.s(5 * 1460), ACK, 65535, no_opts(), &[]);
    h.expect_nothing();
    assert!(!h.stack.tcp_info(c.h).unwrap().in_recovery);
}

#[test]
fn peek_copies_without_consuming_or_opening_the_window() {
    let mut h = Harness::new();
    let (_l, c) = h.passive_open();
    let mut buf = [0u8; 5];
    assert_eq!(
        h.stack.tcp_peek(c.h, &mut buf).unwrap_err().kind(),
        ErrorKind::WouldBlock
    );
    h.inject(c.p(0), c.s(0), ACK | PSH, 65535, no_opts(), b"hello world");
    let a = h.expect_segment_by(h.now + Duration::from_millis(200));
    a.check_empty(ACK, c.s(0), c.p(11));
    for _ in 0..2 {
        assert_eq!(h.stack.tcp_peek(c.h, &mut buf).unwrap(), 5);
        assert_eq!(&buf, b"hello");
        assert_eq!(h.stack.tcp_recv_available(c.h).unwrap(), 11);
    }
    h.expect_nothing();
    let mut all = [0u8; 32];
    assert_eq!(h.stack.tcp_recv(c.h, &mut all).unwrap(), 11);
    assert_eq!(&all[..11], b"hello world");
    // At the end of the stream a peek returns 0, as a read does.
    h.inject(c.p(11), c.s(0), flags(&[ACK, FIN]), 65535, no_opts(), &[]);
    assert_eq!(h.stack.tcp_peek(c.h, &mut buf).unwrap(), 0);
}

#[test]
fn nagle_holds_small_segment_until_ack() {
    let mut h = Harness::new();
    let (_l, c) = h.passive_open();
    h.stack.tcp_send(c.h, b"first").unwrap();
    let s = h.expect_segment();
    s.check(ACK, c.s(0), c.p(0));
    assert_eq!(s.payload, b"first");
    h.stack.tcp_send(c.h, b"second").unwrap();
    h.expect_nothing();
    h.advance_ms(20);
    h.expect_nothing();
    h.inject(c.p(0), c.s(5), ACK, 65535, no_opts(), &[]);
    let s = h.expect_segment();
    s.check(ACK, c.s(5), c.p(0));
    assert_eq!(s.payload, b"second");
}

#[test]
fn nodelay_sends_small_segments_at_once() {
    let mut h = Harness::new();
    let (_l, c) = h.passive_open();
    h.stack.tcp_set_nodelay(c.h, true).unwrap();
    h.stack.tcp_send(c.h, b"first").unwrap();
    let s = h.expect_segment();
    s.check(ACK, c.s(0), c.p(0));
    assert_eq!(s.payload, b"first");
    h.stack.tcp_send(c.h, b"second").unwrap();
    let s = h.expect_segment();
    s.check(ACK, c.s(5), c.p(0));
    assert_eq!(s.payload, b"second");
}

#[test]
fn send_mss_follows_peer_mss() {
    let mut h = Harness::new();
    let l = h.listen(8);
    let sa = h.peer_syn(65535, mss_opt(536));
    h.inject(
        PEER_ISS + 1,
        sa.seq.wrapping_add(1),
        ACK,
        65535,
        no_opts(),
        &[],
    );
    let c = Conn {
        h: h.stack.tcp_accept(l).unwrap().0,
        iss: sa.seq,
        irs: PEER_ISS,
    };
    assert_eq!(h.stack.tcp_info(c.h).unwrap().mss, 536);
    // Nagle off: the short tail goes out too.
    h.stack.tcp_set_nodelay(c.h, true).unwrap();
    let data = vec![1u8; 2000];
    h.stack.tcp_send(c.h, &data).unwrap();
    let segs = h.drain();
    let lens: Vec<usize> = segs.iter().map(|s| s.payload.len()).collect();
    assert_eq!(lens, vec![536, 536, 536, 392]);
    let mut off = 0u32;
    for s in &segs {
        s.check(ACK, c.s(off), c.p(0));
        off += s.payload.len() as u32;
    }
}

#[test]
fn send_mss_accounts_for_timestamp_option() {
    let mut h = Harness::with_defaults(|_| {});
    let l = h.listen(8);
    let opts = ustack::wire::tcp::TcpOptions {
        mss: Some(536),
        timestamp: Some((5000, 0)),
        ..no_opts()
    };
    let sa = h.peer_syn(65535, opts);
    let (our_ts, ecr) = sa.options.timestamp.expect("timestamps negotiated");
    assert_eq!(ecr, 5000);
    h.inject(
        PEER_ISS + 1,
        sa.seq.wrapping_add(1),
        ACK,
        65535,
        ts_opt(5001, our_ts),
        &[],
    );
    let c = h.stack.tcp_accept(l).unwrap().0;
    h.stack.tcp_set_nodelay(c, true).unwrap();
    h.stack.tcp_send(c, &[2u8; 1000]).unwrap();
    let segs = h.drain();
    let lens: Vec<usize> = segs.iter().map(|s| s.payload.len()).collect();
    assert_eq!(lens, vec![524, 476], "536 - 12 bytes of timestamp option");
    for s in &segs {
        assert!(s.options.timestamp.is_some());
    }
}

#[test]
fn default_mss_536_without_option() {
    let mut h = Harness::new();
    let l = h.listen(8);
    let sa = h.peer_syn(65535, no_opts());
    h.inject(
        PEER_ISS + 1,
        sa.seq.wrapping_add(1),
        ACK,
        65535,
        no_opts(),
        &[],
    );
    let c = h.stack.tcp_accept(l).unwrap().0;
    assert_eq!(h.stack.tcp_info(c).unwrap().mss, 536);
    h.stack.tcp_set_nodelay(c, true).unwrap();
    h.stack.tcp_send(c, &[3u8; 600]).unwrap();
    let lens: Vec<usize> = h.drain().iter().map(|s| s.payload.len()).collect();
    assert_eq!(lens, vec![536, 64]);
}

#[test]
fn old_ack_below_window_is_challenged_and_dropped() {
    let mut h = Harness::new();
    let (_l, c) = h.passive_open();
    let before = h.drops(DropReason::TcpInvalid);
    // RFC 5961 §5.2: SEG.ACK < SND.UNA - MAX.SND.WND → ACK, drop.
    let too_old = c.s(0).wrapping_sub(100_000);
    h.inject(c.p(0), too_old, PSH | ACK, 65535, no_opts(), b"blind");
    h.expect_segment().check_empty(ACK, c.s(0), c.p(0));
    h.expect_nothing();
    assert_eq!(h.stack.tcp_recv_available(c.h).unwrap(), 0);
    assert_eq!(h.drops(DropReason::TcpInvalid), before + 1);
    // An old ACK inside [SND.UNA - MAX.SND.WND, SND.UNA] is ignored but
    // the text is processed (RFC 9293 §3.10.7.4, fifth step).
    h.inject(
        c.p(0),
        c.s(0).wrapping_sub(10),
        PSH | ACK,
        65535,
        no_opts(),
        b"fine",
    );
    assert_eq!(h.read_all(c.h).unwrap(), b"fine");
}

#[test]
fn handshake_ack_carrying_data() {
    let mut h = Harness::new();
    let l = h.listen(8);
    let sa = h.peer_syn(65535, mss_opt(1460));
    h.inject(
        PEER_ISS + 1,
        sa.seq.wrapping_add(1),
        PSH | ACK,
        65535,
        no_opts(),
        b"early",
    );
    let (c, _) = h.stack.tcp_accept(l).unwrap();
    assert_eq!(h.state(c), TcpState::Established);
    assert_eq!(h.read_all(c).unwrap(), b"early");
    let deadline = h.now + MS(40);
    h.expect_segment_by(deadline)
        .check_empty(ACK, sa.seq.wrapping_add(1), PEER_ISS + 6);
}

#[test]
fn bad_ack_in_syn_received_gets_rst() {
    let mut h = Harness::new();
    let l = h.listen(8);
    let sa = h.peer_syn(65535, mss_opt(1460));
    // RFC 9293 §3.10.7.4 (fifth, SYN-RECEIVED): unacceptable ACK →
    // <SEQ=SEG.ACK><CTL=RST>.
    let bad = sa.seq.wrapping_add(100);
    h.inject(PEER_ISS + 1, bad, ACK, 65535, no_opts(), &[]);
    h.expect_segment().check_empty(RST, bad, 0);
    h.expect_nothing();
    assert_eq!(h.stack.tcp_accept_ready(l).unwrap(), 0);
    // The right ACK still completes the handshake.
    h.inject(
        PEER_ISS + 1,
        sa.seq.wrapping_add(1),
        ACK,
        65535,
        no_opts(),
        &[],
    );
    h.expect_nothing();
    assert_eq!(h.stack.tcp_accept_ready(l).unwrap(), 1);
}

#[test]
fn rst_in_syn_received_of_active_open_refuses() {
    let mut h = Harness::new();
    let c = h
        .stack
        .tcp_connect(h.peer_addr(), Some(h.stack_addr()))
        .unwrap();
    let iss = h.expect_segment().seq;
    h.inject(PEER_ISS, 0, SYN, 65535, mss_opt(1460), &[]);
    h.expect_segment().check_empty(SYN | ACK, iss, PEER_ISS + 1);
    assert_eq!(h.state(c), TcpState::SynReceived);
    h.inject(PEER_ISS + 1, 0, RST, 0, no_opts(), &[]);
    assert_eq!(h.state(c), TcpState::Closed);
    h.expect_nothing();
    assert_eq!(h.recv_error(c), ErrorKind::ConnectionRefused);
}

#[test]
fn data_with_fin_in_one_segment() {
    let mut h = Harness::new();
    let (_l, c) = h.passive_open();
    h.inject(c.p(0), c.s(0), FIN | PSH | ACK, 65535, no_opts(), b"bye");
    assert_eq!(h.state(c.h), TcpState::CloseWait);
    // The FIN is acknowledged at once, together with the data.
    h.expect_segment().check_empty(ACK, c.s(0), c.p(4));
    h.expect_nothing();
    assert_eq!(h.read_all(c.h).unwrap(), b"bye");
    assert_eq!(h.stack.tcp_recv(c.h, &mut [0u8; 8]).unwrap(), 0);
}

#[test]
fn out_of_order_fin_is_held_until_the_hole_fills() {
    let mut h = Harness::new();
    let (_l, c) = h.passive_open();
    h.inject(c.p(5), c.s(0), FIN | ACK, 65535, no_opts(), b"world");
    h.expect_segment().check_empty(ACK, c.s(0), c.p(0));
    assert_eq!(h.state(c.h), TcpState::Established);
    h.inject(c.p(0), c.s(0), ACK, 65535, no_opts(), b"hello");
    assert_eq!(h.state(c.h), TcpState::CloseWait);
    h.expect_segment().check_empty(ACK, c.s(0), c.p(11));
    h.expect_nothing();
    assert_eq!(h.read_all(c.h).unwrap(), b"helloworld");
    assert_eq!(h.stack.tcp_recv(c.h, &mut [0u8; 8]).unwrap(), 0);
}

// ======================================================================
// Close / abort with RST
// ======================================================================

#[track_caller]
fn check_abort_rst(s: &Seg, c: &Conn, rcv_off: u32) {
    // RFC 9293 §3.10.4/5: <SEQ=SND.NXT><CTL=RST> (ACK optional, then it
    // must carry RCV.NXT).
    assert!(s.flags.rst(), "RST expected: {s:?}");
    assert!(!s.flags.syn() && !s.flags.fin(), "{s:?}");
    assert_eq!(s.seq, c.s(0));
    assert!(s.payload.is_empty());
    if s.flags.ack() {
        assert_eq!(s.ack, c.p(rcv_off));
    }
}

#[test]
fn close_with_unread_data_sends_rst() {
    let mut h = Harness::new();
    let (l, c) = h.passive_open();
    h.inject(c.p(0), c.s(0), PSH | ACK, 65535, no_opts(), b"unread");
    h.stack.tcp_close(c.h);
    let s = h.expect_segment();
    check_abort_rst(&s, &c, 6);
    h.expect_nothing();
    assert_eq!(h.stack.socket_count(), 1, "connection freed");
    assert_eq!(h.state(l), TcpState::Listen);
    // The peer's next segment finds no connection: RST <SEQ=SEG.ACK>.
    h.inject(c.p(6), c.s(0), ACK, 65535, no_opts(), b"x");
    h.expect_segment().check_empty(RST, c.s(0), 0);
}

#[test]
fn abort_sends_rst() {
    let mut h = Harness::new();
    let (_l, c) = h.passive_open();
    h.stack.tcp_abort(c.h);
    let s = h.expect_segment();
    check_abort_rst(&s, &c, 0);
    h.expect_nothing();
    assert_eq!(h.stack.socket_count(), 1);
}

#[test]
fn abort_in_syn_sent_sends_nothing() {
    let mut h = Harness::new();
    let c = h
        .stack
        .tcp_connect(h.peer_addr(), Some(h.stack_addr()))
        .unwrap();
    h.expect_segment();
    h.stack.tcp_abort(c);
    h.expect_nothing();
    assert_eq!(h.stack.socket_count(), 0);
}

// ======================================================================
// TIME-WAIT
// ======================================================================

#[test]
fn time_wait_reacks_retransmitted_fin_and_restarts_timer() {
    let mut h = Harness::new();
    let (_l, c) = h.passive_open();
    h.stack.tcp_shutdown(c.h, Shutdown::Write).unwrap();
    h.expect_segment().check_empty(FIN | ACK, c.s(0), c.p(0));
    h.inject(c.p(0), c.s(1), FIN | ACK, 65535, no_opts(), &[]);
    h.expect_segment().check_empty(ACK, c.s(1), c.p(1));
    assert_eq!(h.state(c.h), TcpState::TimeWait);
    let entered = h.now;
    // Our ACK was lost: the peer retransmits its FIN 30 s later.
    h.advance_to(entered + SECS(30));
    h.inject(c.p(0), c.s(1), FIN | ACK, 65535, no_opts(), &[]);
    h.expect_segment().check_empty(ACK, c.s(1), c.p(1));
    h.expect_nothing();
    let restarted = h.now;
    // The original deadline passes: still TIME-WAIT.
    h.advance_to(entered + SECS(60));
    assert_eq!(h.state(c.h), TcpState::TimeWait);
    h.expect_nothing();
    h.advance_to(restarted + SECS(60) - MS(1));
    assert_eq!(h.state(c.h), TcpState::TimeWait);
    h.advance_to(restarted + SECS(60));
    assert_eq!(h.state(c.h), TcpState::Closed);
}

/// A passive connection the application closed, in TIME-WAIT after the
/// four-way close (our FIN first): (harness, listener, connection).
fn closed_into_time_wait() -> (Harness, SocketHandle, Conn) {
    let mut h = Harness::new();
    let (l, c) = h.passive_open();
    h.stack.tcp_close(c.h);
    h.expect_segment().check_empty(FIN | ACK, c.s(0), c.p(0));
    h.inject(c.p(0), c.s(1), FIN | ACK, 65535, no_opts(), &[]);
    h.expect_segment().check_empty(ACK, c.s(1), c.p(1));
    (h, l, c)
}

#[test]
fn time_wait_orphan_is_freed_after_2msl() {
    let (mut h, l, _) = closed_into_time_wait();
    let entered = h.now;
    assert_eq!(h.stack.socket_count(), 2, "TIME-WAIT keeps state");
    h.advance_to(entered + SECS(60) - MS(1));
    assert_eq!(h.stack.socket_count(), 2);
    h.advance_to(entered + SECS(60));
    assert_eq!(h.stack.socket_count(), 1);
    assert_eq!(h.state(l), TcpState::Listen);
}

/// What the stack sends for a script of segments to a connection in
/// TIME-WAIT (timestamps, SACK and window scaling on), which the
/// application either closed (`close`: kept as the compact record) or
/// still holds after `shutdown(Write)` (kept as a whole connection). Each
/// step's output, and the compact record count after it.
fn time_wait_script(close: bool) -> Vec<(Vec<Seg>, usize)> {
    let mut h = Harness::with_defaults(|c| c.tcp.sack = true);
    let l = h.listen(16);
    let syn_opts = TcpOptions {
        mss: Some(1460),
        window_scale: Some(7),
        sack_permitted: true,
        timestamp: Some((1000, 0)),
        ..TcpOptions::default()
    };
    let sa = h.peer_syn(65535, syn_opts);
    let (iss, tsv) = (sa.seq, sa.options.timestamp.map_or(0, |t| t.0));
    let (s, p) = (
        |o: u32| iss.wrapping_add(o),
        |o: u32| PEER_ISS.wrapping_add(o),
    );
    h.inject(p(1), s(1), ACK, 512, ts_opt(1001, tsv), &[]);
    let (c, _) = h.stack.tcp_accept(l).expect("accept");
    h.inject(p(1), s(1), ACK, 512, ts_opt(1002, tsv), b"hello");
    assert_eq!(h.read_all(c).expect("read"), b"hello");
    let mut out = Vec::new();
    let step = |h: &mut Harness, out: &mut Vec<(Vec<Seg>, usize)>| {
        let segs = h.drain();
        out.push((segs, h.stack.time_wait_records()));
    };
    if close {
        h.stack.tcp_close(c);
    } else {
        h.stack.tcp_shutdown(c, Shutdown::Write).expect("shutdown");
    }
    step(&mut h, &mut out); // our FIN
    h.advance(MS(10));
    h.inject(p(6), s(2), FIN | ACK, 512, ts_opt(1003, tsv), &[]);
    step(&mut h, &mut out); // ACK of the FIN: TIME-WAIT
                            // A retransmitted FIN 10 s later: ACKed, 2·MSL restarts.
    h.advance(SECS(10));
    h.inject(p(6), s(2), FIN | ACK, 512, ts_opt(1004, tsv), &[]);
    step(&mut h, &mut out);
    // An old duplicate of the data: ACK with a D-SACK block.
    h.advance(MS(5));
    h.inject(p(1), s(2), ACK, 512, ts_opt(1005, tsv), b"hello");
    step(&mut h, &mut out);
    // An older timestamp: PAWS drops it and ACKs (RFC 7323 §5.3 R1).
    h.advance(MS(5));
    h.inject(p(7), s(2), ACK, 512, ts_opt(900, tsv), b"x");
    step(&mut h, &mut out);
    // A RST in the window: ignored (RFC 1337).
    h.inject(p(7), 0, RST, 0, no_opts(), &[]);
    step(&mut h, &mut out);
    // A SYN at a lower sequence number: challenge ACK (RFC 5961 §4).
    h.advance(SECS(1));
    h.inject(p(0), 0, SYN, 65535, ts_opt(1006, 0), &[]);
    step(&mut h, &mut out);
    out
}

#[test]
fn time_wait_record_answers_like_the_whole_connection() {
    let record = time_wait_script(true);
    let whole = time_wait_script(false);
    assert_eq!(record.len(), whole.len());
    for (i, ((a, n), (b, m))) in record.iter().zip(&whole).enumerate() {
        assert_eq!(
            a, b,
            "step {i}: what the record sent vs the whole connection"
        );
        assert_eq!(
            *m, 0,
            "step {i}: a connection the application holds stays whole"
        );
        // From TIME-WAIT on (step 1), the closed one is a record again
        // after every answer.
        assert_eq!(*n, usize::from(i >= 1), "step {i}: records");
    }
    // Every probe was answered as RFC 9293 / 7323 / 5961 say.
    let flags: Vec<Vec<TcpFlags>> = record
        .iter()
        .map(|(segs, _)| segs.iter().map(|s| s.flags_np()).collect())
        .collect();
    assert_eq!(
        flags,
        vec![
            vec![FIN | ACK],
            vec![ACK],
            vec![ACK],
            vec![ACK],
            vec![ACK],
            vec![],
            vec![ACK]
        ]
    );
    let dsack = record[3].0[0].options.sack_blocks[0];
    assert_eq!(
        dsack,
        Some((PEER_ISS + 1, PEER_ISS + 6)),
        "D-SACK of the duplicate"
    );
}

#[test]
fn time_wait_record_expires_after_2msl_from_the_last_fin() {
    let (mut h, l, c) = closed_into_time_wait();
    assert_eq!(h.stack.time_wait_records(), 1, "compacted once quiet");
    assert!(
        h.stack.tcp_state(c.h).is_err(),
        "the closed handle is stale"
    );
    let entered = h.now;
    h.advance_to(entered + SECS(30));
    h.inject(c.p(0), c.s(1), FIN | ACK, 65535, no_opts(), &[]);
    h.expect_segment().check_empty(ACK, c.s(1), c.p(1));
    let restarted = h.now;
    assert_eq!(h.stack.time_wait_records(), 1);
    h.advance_to(entered + SECS(60));
    assert_eq!(h.stack.socket_count(), 2, "the FIN restarted 2·MSL");
    h.advance_to(restarted + SECS(60) - MS(1));
    assert_eq!(h.stack.socket_count(), 2);
    h.advance_to(restarted + SECS(60));
    assert_eq!(h.stack.socket_count(), 1, "listener only");
    assert_eq!(h.stack.time_wait_records(), 0);
    assert_eq!(h.state(l), TcpState::Listen);
    assert_eq!(h.stack.counters().tcp_connections_closed, 1);
    // The 4-tuple is free: the same peer port connects again.
    let sa = h.peer_syn(65535, mss_opt(1460));
    assert_eq!(sa.ack, PEER_ISS + 1);
}

#[test]
fn time_wait_record_reopened_by_a_higher_syn() {
    // RFC 9293 §3.10.7.4 / RFC 6191, from the compact record.
    let (mut h, _l, c) = closed_into_time_wait();
    assert_eq!(h.stack.time_wait_records(), 1);
    let new_isn = c.p(1).wrapping_add(100_000);
    h.inject(new_isn, 0, SYN, 65535, mss_opt(1460), &[]);
    let sa = h.expect_segment();
    sa.check_empty(SYN | ACK, sa.seq, new_isn.wrapping_add(1));
    h.expect_nothing();
    assert_eq!(h.stack.time_wait_records(), 0);
    assert_eq!(
        h.stack.socket_count(),
        2,
        "listener and the new SYN-RECEIVED"
    );
}

// ======================================================================
// Options: window scaling, timestamps
// ======================================================================

#[test]
fn window_scale_not_used_when_peer_does_not_offer_it() {
    let mut h = Harness::with_defaults(|c| c.tcp.timestamps = false);
    let l = h.listen(8);
    let sa = h.peer_syn(65535, mss_opt(1460));
    assert_eq!(sa.options.window_scale, None, "no WS in SYN-ACK");
    h.inject(
        PEER_ISS + 1,
        sa.seq.wrapping_add(1),
        ACK,
        1000,
        no_opts(),
        &[],
    );
    let c = Conn {
        h: h.stack.tcp_accept(l).unwrap().0,
        iss: sa.seq,
        irs: PEER_ISS,
    };
    assert_eq!(h.stack.tcp_info(c.h).unwrap().snd_wnd, 1000, "unscaled");
    h.inject(c.p(0), c.s(0), ACK, 1000, no_opts(), &[9u8; 1460]);
    h.inject(c.p(1460), c.s(0), ACK, 1000, no_opts(), &[9u8; 1460]);
    let a = h.expect_segment();
    a.check_empty(ACK, c.s(0), c.p(2920));
    assert_eq!(a.window, 65535, "unscaled window field, capped at 65535");
}

/// A passive open with window scaling both ways: a 1 MiB receive buffer
/// (our shift 5), the peer's shift 7 and window field 100; no timestamps.
fn scaled_passive_open(sack: bool) -> (Harness, Conn) {
    let mut h = Harness::with_defaults(|c| {
        c.tcp.timestamps = false;
        c.tcp.sack = sack;
        c.tcp.recv_buffer = 1 << 20;
        c.tcp.recv_buffer_auto = false;
    });
    let l = h.listen(8);
    let opts = ustack::wire::tcp::TcpOptions {
        mss: Some(1460),
        window_scale: Some(7),
        ..no_opts()
    };
    let sa = h.peer_syn(65535, opts);
    // 1 MiB receive buffer → shift 5 (2^20 >> 5 = 32768 ≤ 65535).
    assert_eq!(sa.options.window_scale, Some(5));
    assert_eq!(sa.window, 65535, "the SYN-ACK window is never scaled");
    h.inject(
        PEER_ISS + 1,
        sa.seq.wrapping_add(1),
        ACK,
        100,
        no_opts(),
        &[],
    );
    let c = Conn {
        h: h.stack.tcp_accept(l).unwrap().0,
        iss: sa.seq,
        irs: PEER_ISS,
    };
    (h, c)
}

#[test]
fn window_scale_negotiated_on_passive_open() {
    let (mut h, c) = scaled_passive_open(true);
    assert_eq!(h.stack.tcp_info(c.h).unwrap().snd_wnd, 100 << 7);
    h.inject(c.p(0), c.s(0), ACK, 100, no_opts(), &[9u8; 1460]);
    h.inject(c.p(1460), c.s(0), ACK, 100, no_opts(), &[9u8; 1460]);
    let a = h.expect_segment();
    a.check_empty(ACK, c.s(0), c.p(2920));
    // The free space less the rounding headroom (4·2^5 − 1 bytes), in
    // units of 2^5.
    assert_eq!(u32::from(a.window), ((1u32 << 20) - 2920 - 127) >> 5);
}

#[test]
fn the_scaled_window_opens_with_the_first_data_not_a_segment_of_its_own() {
    // The SYN-ACK offered 65535 bytes unscaled (RFC 7323 §2.2); the
    // 1 MiB behind it is advertised on the ACK of the first data, as on
    // Linux, not in a window update of its own right after the
    // handshake (an extra packet on every accepted connection).
    let (mut h, c) = scaled_passive_open(true);
    h.expect_nothing();
    h.advance(Duration::from_secs(1));
    h.expect_nothing();
    h.inject(c.p(0), c.s(0), ACK | PSH, 100, no_opts(), b"hello");
    let a = h.expect_segment_by(h.now + Duration::from_millis(40));
    a.check_empty(ACK, c.s(0), c.p(5));
    assert_eq!(u32::from(a.window), ((1u32 << 20) - 5 - 127) >> 5);
    // Reading the 5 bytes opens too little for an update (receiver SWS
    // avoidance, RFC 9293 §3.8.6.2.2).
    let mut buf = [0u8; 8];
    assert_eq!(h.stack.tcp_recv(c.h, &mut buf).unwrap(), 5);
    h.expect_nothing();
}

#[test]
fn a_segment_larger_than_our_mss_is_acknowledged_at_once() {
    // A TUN device with receive offload hands over the host's TSO segments
    // whole: one segment of six MSS is more than two full-sized segments,
    // and is acknowledged at once, not after the delayed-ACK timer.
    let mut h = Harness::with_defaults(|c| {
        c.tcp.timestamps = false;
    });
    let (_l, c) = h.passive_open();
    h.inject(c.p(0), c.s(0), ACK, 65535, no_opts(), &[5u8; 6 * 1460]);
    let a = h.expect_segment();
    a.check_empty(ACK, c.s(0), c.p(6 * 1460));
    // And the next one too (the rule's segment size stays the MSS).
    h.inject(
        c.p(6 * 1460),
        c.s(0),
        ACK,
        65535,
        no_opts(),
        &[5u8; 6 * 1460],
    );
    h.expect_segment().check_empty(ACK, c.s(0), c.p(12 * 1460));
}

#[test]
fn every_byte_inside_a_scaled_window_is_accepted() {
    // A scaled window is a multiple of 2^shift past RCV.NXT. Rounding it
    // up rather than shrinking it must not offer more than the buffer
    // holds: a peer that fills each advertised window exactly, in
    // segments that leave RCV.NXT unaligned, gets every byte
    // acknowledged, and the window closes at zero with the buffer full.
    let (mut h, c) = scaled_passive_open(false);
    // The right edge the peer knows of (from the SYN-ACK: unscaled).
    let mut edge = 65535u32;
    let mut sent = 0u32;
    let mut rounds = 0;
    while rounds < 10_000 {
        rounds += 1;
        // Up to 3 000 bytes a round, in 1 000-byte segments (1 000 mod 32
        // = 8), up to the right edge: every ACK re-offers a window whose
        // edge must be rounded.
        let round_end = edge.min(sent + 3000);
        while sent < round_end {
            let n = (round_end - sent).min(1000);
            h.inject(
                c.p(sent),
                c.s(0),
                ACK,
                100,
                no_opts(),
                &vec![7u8; n as usize],
            );
            sent += n;
        }
        // Let a delayed ACK fire.
        h.advance_ms(50);
        let acks = h.drain();
        let Some(last) = acks.last() else {
            continue;
        };
        assert_eq!(
            last.ack,
            c.p(sent),
            "bytes inside the advertised window were not accepted (round {rounds})"
        );
        assert_eq!(h.drops(DropReason::TcpOutOfWindow), 0, "round {rounds}");
        let new_edge = last.ack.wrapping_sub(c.p(0)) + (u32::from(last.window) << 5);
        if last.window == 0 {
            break;
        }
        edge = edge.max(new_edge);
    }
    let free_at_end = (1u32 << 20) - sent;
    eprintln!("{sent} bytes accepted in {rounds} rounds; {free_at_end} bytes left unoffered");
    assert!(rounds < 10_000, "the window never closed");
    // At most the rounding headroom and one unit of 2^5 stay unoffered.
    assert!(
        free_at_end < (4 << 5) + (1 << 5),
        "window closed early: {free_at_end} bytes unused"
    );
    assert_eq!(h.read_all(c.h).expect("read").len(), sent as usize);
}

#[test]
fn window_scale_offered_on_active_open_but_unused_without_reply() {
    // A 1 MiB receive buffer, so that the shift is 5.
    let mut h = Harness::with_defaults(|c| {
        c.tcp.timestamps = false;
        c.tcp.recv_buffer = 1 << 20;
        c.tcp.recv_buffer_auto = false;
    });
    let c = h
        .stack
        .tcp_connect(h.peer_addr(), Some(h.stack_addr()))
        .unwrap();
    let syn = h.expect_segment();
    assert_eq!(syn.options.window_scale, Some(5));
    assert_eq!(syn.window, 65535);
    let iss = syn.seq;
    h.inject(
        PEER_ISS,
        iss.wrapping_add(1),
        SYN | ACK,
        2000,
        mss_opt(1460),
        &[],
    );
    h.expect_segment()
        .check_empty(ACK, iss.wrapping_add(1), PEER_ISS + 1);
    let conn = Conn {
        h: c,
        iss,
        irs: PEER_ISS,
    };
    h.inject(conn.p(0), conn.s(0), ACK, 2000, no_opts(), &[]);
    assert_eq!(h.stack.tcp_info(c).unwrap().snd_wnd, 2000, "not scaled");
    h.inject(conn.p(0), conn.s(0), ACK, 2000, no_opts(), &[9u8; 1460]);
    h.inject(conn.p(1460), conn.s(0), ACK, 2000, no_opts(), &[9u8; 1460]);
    let a = h.expect_segment();
    a.check_empty(ACK, conn.s(0), conn.p(2920));
    assert_eq!(a.window, 65535, "our window field is not scaled either");
}

#[test]
fn window_scale_negotiated_on_active_open() {
    // A 1 MiB receive buffer, so that the shift is 5.
    let mut h = Harness::with_defaults(|c| {
        c.tcp.timestamps = false;
        c.tcp.recv_buffer = 1 << 20;
        c.tcp.recv_buffer_auto = false;
    });
    let c = h
        .stack
        .tcp_connect(h.peer_addr(), Some(h.stack_addr()))
        .unwrap();
    let syn = h.expect_segment();
    assert_eq!(syn.options.window_scale, Some(5));
    let iss = syn.seq;
    let opts = ustack::wire::tcp::TcpOptions {
        mss: Some(1460),
        window_scale: Some(2),
        ..no_opts()
    };
    h.inject(PEER_ISS, iss.wrapping_add(1), SYN | ACK, 2000, opts, &[]);
    h.expect_segment()
        .check_empty(ACK, iss.wrapping_add(1), PEER_ISS + 1);
    assert_eq!(
        h.stack.tcp_info(c).unwrap().snd_wnd,
        2000,
        "the SYN-ACK window is not scaled"
    );
    h.inject(PEER_ISS + 1, iss.wrapping_add(1), ACK, 2000, no_opts(), &[]);
    assert_eq!(h.stack.tcp_info(c).unwrap().snd_wnd, 8000);
}

#[test]
fn timestamps_negotiated_and_echoed() {
    let mut h = Harness::with_defaults(|c| c.tcp.window_scaling = false);
    let l = h.listen(8);
    let opts = ustack::wire::tcp::TcpOptions {
        mss: Some(1460),
        timestamp: Some((1000, 0)),
        ..no_opts()
    };
    let sa = h.peer_syn(65535, opts);
    let (ts_synack, ecr) = sa.options.timestamp.expect("TS in SYN-ACK");
    assert_eq!(ecr, 1000, "TSecr = peer's TSval");
    h.advance_ms(10);
    h.inject(
        PEER_ISS + 1,
        sa.seq.wrapping_add(1),
        ACK,
        65535,
        ts_opt(1001, ts_synack),
        &[],
    );
    let c = Conn {
        h: h.stack.tcp_accept(l).unwrap().0,
        iss: sa.seq,
        irs: PEER_ISS,
    };
    // Two data segments before our (delayed) ACK: RFC 7323 §4.3 echoes
    // the TSval of the first (the one covering Last.ACK.sent).
    h.advance_ms(10);
    h.inject(c.p(0), c.s(0), ACK, 65535, ts_opt(1002, ts_synack), b"aaaa");
    h.expect_nothing();
    h.inject(c.p(4), c.s(0), ACK, 65535, ts_opt(1003, ts_synack), b"bbbb");
    let deadline = h.now + MS(40);
    let a = h.expect_segment_by(deadline);
    a.check_empty(ACK, c.s(0), c.p(8));
    let (tsval, tsecr) = a.options.timestamp.expect("TS in every segment");
    assert_eq!(tsecr, 1002);
    assert!(
        tsval.wrapping_sub(ts_synack) as i32 >= 20,
        "TSval advances with the clock"
    );
    // Our data segment echoes the most recent in-order TSval too.
    h.inject(c.p(8), c.s(0), ACK, 65535, ts_opt(1004, tsval), b"cccc");
    h.stack.tcp_send(c.h, b"reply").unwrap();
    let d = h.expect_segment();
    d.check(ACK, c.s(0), c.p(12));
    assert_eq!(d.options.timestamp.map(|t| t.1), Some(1004));
}

#[test]
fn timestamps_not_used_when_peer_does_not_offer_them() {
    let mut h = Harness::with_defaults(|_| {});
    let l = h.listen(8);
    let sa = h.peer_syn(65535, mss_opt(1460));
    assert_eq!(sa.options.timestamp, None);
    assert_eq!(sa.options.window_scale, None);
    h.inject(
        PEER_ISS + 1,
        sa.seq.wrapping_add(1),
        ACK,
        65535,
        no_opts(),
        &[],
    );
    let c = h.stack.tcp_accept(l).unwrap().0;
    h.stack.tcp_send(c, b"hi").unwrap();
    let d = h.expect_segment();
    assert_eq!(d.options.timestamp, None);
    assert_eq!(h.stack.tcp_info(c).unwrap().mss, 1460);
}

#[test]
fn active_open_offers_timestamps_and_echoes_peer() {
    let mut h = Harness::with_defaults(|_| {});
    let c = h
        .stack
        .tcp_connect(h.peer_addr(), Some(h.stack_addr()))
        .unwrap();
    let syn = h.expect_segment();
    let (ts0, ecr0) = syn.options.timestamp.expect("TS offered in SYN");
    assert_eq!(ecr0, 0);
    let iss = syn.seq;
    let opts = ustack::wire::tcp::TcpOptions {
        mss: Some(1460),
        timestamp: Some((777, ts0)),
        ..no_opts()
    };
    h.inject(PEER_ISS, iss.wrapping_add(1), SYN | ACK, 65535, opts, &[]);
    let a = h.expect_segment();
    a.check_empty(ACK, iss.wrapping_add(1), PEER_ISS + 1);
    assert_eq!(a.options.timestamp.map(|t| t.1), Some(777));
    assert_eq!(h.stack.tcp_info(c).unwrap().mss, 1460 - 12);
}

#[test]
fn paws_drops_segment_with_old_timestamp() {
    let mut h = Harness::with_defaults(|c| c.tcp.window_scaling = false);
    let l = h.listen(8);
    let opts = ustack::wire::tcp::TcpOptions {
        mss: Some(1460),
        timestamp: Some((1000, 0)),
        ..no_opts()
    };
    let sa = h.peer_syn(65535, opts);
    let (ours, _) = sa.options.timestamp.expect("TS negotiated");
    h.inject(
        PEER_ISS + 1,
        sa.seq.wrapping_add(1),
        ACK,
        65535,
        ts_opt(1001, ours),
        &[],
    );
    let c = Conn {
        h: h.stack.tcp_accept(l).unwrap().0,
        iss: sa.seq,
        irs: PEER_ISS,
    };
    h.inject(c.p(0), c.s(0), ACK, 65535, ts_opt(2000, ours), b"new!");
    let deadline = h.now + MS(40);
    let a = h.expect_segment_by(deadline);
    a.check_empty(ACK, c.s(0), c.p(4));
    assert_eq!(a.options.timestamp.map(|t| t.1), Some(2000));
    assert_eq!(h.read_all(c.h).unwrap(), b"new!");
    // RFC 7323 §5.3 R1: SEG.TSval (1500) < TS.Recent (2000) → not
    // acceptable: ACK and drop, although the sequence number is fine.
    h.inject(c.p(4), c.s(0), ACK, 65535, ts_opt(1500, ours), b"old!");
    assert_eq!(
        h.stack.tcp_recv_available(c.h).unwrap(),
        0,
        "PAWS: segment with an old TSval is dropped"
    );
    let a = h.expect_segment();
    a.check_empty(ACK, c.s(0), c.p(4));
    assert_eq!(a.options.timestamp.map(|t| t.1), Some(2000));
}

#[test]
fn synack_retransmission_and_give_up() {
    let mut h = Harness::with(|c| c.tcp.syn_retries = 2);
    let l = h.listen(8);
    let sa = h.peer_syn(65535, mss_opt(1460));
    let t0 = h.now;
    // RFC 6298: initial RTO 1 s, doubled: SYN-ACK again at 1 s and 3 s.
    for at in [t0 + SECS(1), t0 + SECS(3)] {
        let r = h.expect_segment_at(at);
        r.check_empty(SYN | ACK, sa.seq, PEER_ISS + 1);
        assert_eq!(r.options.mss, Some(STACK_MSS));
    }
    h.expect_nothing();
    assert_eq!(h.stack.socket_count(), 2);
    // The third expiry (4 s later) gives up: the child goes away.
    h.advance_to(t0 + SECS(7) - MS(1));
    assert_eq!(h.stack.socket_count(), 2);
    h.advance_to(t0 + SECS(7));
    assert_eq!(h.stack.socket_count(), 1);
    assert_eq!(h.state(l), TcpState::Listen);
    assert_eq!(h.stack.tcp_accept_ready(l).unwrap(), 0);
}

#[test]
fn retransmitted_syn_in_syn_received_resends_synack() {
    let mut h = Harness::new();
    let l = h.listen(8);
    let sa = h.peer_syn(65535, mss_opt(1460));
    h.advance_ms(500);
    // Our SYN-ACK was lost; the peer retransmits its SYN.
    h.inject(PEER_ISS, 0, SYN, 65535, mss_opt(1460), &[]);
    h.expect_segment()
        .check_empty(SYN | ACK, sa.seq, PEER_ISS + 1);
    h.expect_nothing();
    assert_eq!(h.stack.socket_count(), 2, "no second child");
    h.inject(
        PEER_ISS + 1,
        sa.seq.wrapping_add(1),
        ACK,
        65535,
        no_opts(),
        &[],
    );
    assert_eq!(h.stack.tcp_accept_ready(l).unwrap(), 1);
}

#[test]
fn fin_rides_on_last_data_segment() {
    let mut h = Harness::new();
    let (_l, c) = h.passive_open();
    h.stack.tcp_send(c.h, b"last words").unwrap();
    h.stack.tcp_shutdown(c.h, Shutdown::Write).unwrap();
    let s = h.expect_segment();
    s.check(FIN | ACK, c.s(0), c.p(0));
    assert_eq!(s.payload, b"last words");
    h.expect_nothing();
    h.inject(c.p(0), c.s(11), ACK, 65535, no_opts(), &[]);
    assert_eq!(h.state(c.h), TcpState::FinWait2);
}

/// Sanity: the harness sees exactly the ports it expects.
#[test]
fn harness_addresses() {
    let h = Harness::new();
    assert_eq!(
        h.stack_addr(),
        "198.18.0.1:80".parse::<SocketAddr>().unwrap()
    );
    assert_eq!(
        h.peer_addr(),
        "198.18.0.2:40000".parse::<SocketAddr>().unwrap()
    );
}

// ======================================================================
// SYN cookies (RFC 4987 §3.6)
// ======================================================================

#[test]
fn full_syn_queue_answers_with_syn_cookie_and_ack_completes() {
    let mut h = Harness::new();
    let l = h.listen(1);
    // One half-open connection fills the SYN queue (backlog 1).
    h.peer_syn(65535, mss_opt(1460));
    let sockets = h.stack.socket_count();
    // The next client gets a stateless SYN-ACK carrying a cookie.
    h.peer_port = PEER_PORT + 1;
    h.inject(7000, 0, SYN, 65535, mss_opt(1460), &[]);
    let synack = h.expect_segment();
    synack.check(SYN | ACK, synack.seq, 7001);
    assert_eq!(synack.options.mss, Some(1460));
    h.expect_nothing();
    assert_eq!(
        h.stack.socket_count(),
        sockets,
        "no state for the cookie SYN"
    );
    assert_eq!(h.stack.counters().syn_cookies_sent, 1);
    // The ACK (with data) completes the handshake from the cookie alone.
    h.inject(
        7001,
        synack.seq.wrapping_add(1),
        ACK,
        65535,
        no_opts(),
        b"hi",
    );
    let c = h.stack.counters();
    assert_eq!(c.syn_cookies_accepted, 1);
    let (conn, peer) = h.stack.tcp_accept(l).expect("cookie connection accepted");
    assert_eq!(peer.port(), PEER_PORT + 1);
    assert_eq!(h.stack.tcp_state(conn).unwrap(), TcpState::Established);
    let mut buf = [0u8; 8];
    assert_eq!(h.stack.tcp_recv(conn, &mut buf).unwrap(), 2);
    assert_eq!(&buf[..2], b"hi");
    // It sends with the MSS the cookie carried.
    h.stack.tcp_set_nodelay(conn, true).unwrap();
    h.stack.tcp_send(conn, &[1u8; 3000]).unwrap();
    let mut seen = 0;
    while let Some(seg) = h.poll_segment() {
        if !seg.payload.is_empty() {
            assert!(seg.payload.len() <= 1460);
            seen += seg.payload.len();
        }
    }
    assert!(seen >= 1460, "data flows on the cookie connection ({seen})");
}

#[test]
fn forged_cookie_ack_gets_rst() {
    let mut h = Harness::new();
    let _l = h.listen(1);
    h.peer_syn(65535, mss_opt(1460));
    h.peer_port = PEER_PORT + 1;
    h.inject(7000, 0, SYN, 65535, mss_opt(1460), &[]);
    let synack = h.expect_segment();
    // An ACK with a wrong cookie (off by one bit) is refused with a RST.
    let bad = synack.seq ^ 0x10;
    h.inject(7001, bad.wrapping_add(1), ACK, 65535, no_opts(), &[]);
    let rst = h.expect_segment();
    rst.check(RST, bad.wrapping_add(1), 0);
    let c = h.stack.counters();
    assert_eq!((c.syn_cookies_accepted, c.syn_cookies_rejected), (0, 1));
}

#[test]
fn syn_cookie_carries_window_scale_in_timestamps() {
    let mut h = Harness::with_defaults(|_| {});
    let l = h.listen(1);
    let ts_ws = TcpOptions {
        mss: Some(1460),
        window_scale: Some(7),
        timestamp: Some((1000, 0)),
        ..TcpOptions::default()
    };
    h.peer_syn(65535, ts_ws);
    h.peer_port = PEER_PORT + 1;
    h.inject(7000, 0, SYN, 65535, ts_ws, &[]);
    let synack = h.expect_segment();
    let (tsval, tsecr) = synack.options.timestamp.expect("timestamps echoed");
    assert_eq!(tsecr, 1000);
    assert!(synack.options.window_scale.is_some());
    let ack_opts = TcpOptions {
        timestamp: Some((1001, tsval)),
        ..TcpOptions::default()
    };
    // Window 100 scaled by 7 = 12800 bytes.
    h.inject(7001, synack.seq.wrapping_add(1), ACK, 100, ack_opts, &[]);
    let (conn, _) = h.stack.tcp_accept(l).expect("accepted");
    assert_eq!(h.stack.tcp_info(conn).unwrap().snd_wnd, 100 << 7);
}

// ======================================================================
// Urgent data (RFC 9293 §3.8.5, RFC 6093)
// ======================================================================

/// The peer sends `data` at `seq` with URG and urgent pointer `up`.
fn inject_urgent(h: &mut Harness, seq: u32, ack: u32, up: u16, data: &[u8]) {
    h.next_urgent = up;
    h.inject(seq, ack, ACK | TcpFlags::URG, 65535, no_opts(), data);
}

/// The peer's urgent data is read inline; `tcp_urgent_pending` says how
/// much of it is left (MUST-33) from SEG.SEQ + SEG.UP, the pointer only
/// advances, it may point past what has arrived, and URG after the
/// peer's FIN is ignored.
#[test]
fn urgent_data_arrives_inline_with_its_pointer_reported() {
    let mut h = Harness::new();
    let (_l, c) = h.passive_open();
    assert_eq!(h.stack.tcp_urgent_pending(c.h).unwrap(), 0);
    // "ab" then "cd!" with URG, pointer 3: urgent up to and with "!".
    h.inject(c.p(0), c.s(0), ACK, 65535, no_opts(), b"ab");
    inject_urgent(&mut h, c.p(2), c.s(0), 3, b"cd!");
    assert_eq!(h.stack.tcp_urgent_pending(c.h).unwrap(), 5);
    let mut buf = [0u8; 3];
    assert_eq!(h.stack.tcp_recv(c.h, &mut buf).unwrap(), 3);
    assert_eq!(&buf, b"abc");
    assert_eq!(h.stack.tcp_urgent_pending(c.h).unwrap(), 2);
    // An older pointer does not move it back ("cd!" again, with "e").
    inject_urgent(&mut h, c.p(2), c.s(0), 1, b"cd!e");
    assert_eq!(h.stack.tcp_urgent_pending(c.h).unwrap(), 2);
    assert_eq!(h.read_all(c.h).unwrap(), b"d!e");
    assert_eq!(h.stack.tcp_urgent_pending(c.h).unwrap(), 0);
    // A pointer 100 bytes past a segment that is not here yet.
    inject_urgent(&mut h, c.p(6), c.s(0), 101, b"f");
    assert_eq!(h.stack.tcp_urgent_pending(c.h).unwrap(), 101);
    assert_eq!(h.read_all(c.h).unwrap(), b"f");
    assert_eq!(h.stack.tcp_urgent_pending(c.h).unwrap(), 100);
    h.drain();

    // After the peer's FIN (CLOSE-WAIT) URG means nothing (RFC 9293
    // §3.10.7.4: ignore it).
    let mut h = Harness::new();
    let (_l, c) = h.passive_open();
    h.inject(c.p(0), c.s(0), FIN | ACK, 65535, no_opts(), &[]);
    assert_eq!(h.state(c.h), TcpState::CloseWait);
    inject_urgent(&mut h, c.p(1), c.s(0), 5, &[]);
    assert_eq!(h.stack.tcp_urgent_pending(c.h).unwrap(), 0);
}

/// Urgent data sent: the segments up to it carry URG with the pointer
/// after its last byte (MUST-30), Nagle does not hold it, and once it is
/// acknowledged URG is no longer set.
#[test]
fn urgent_data_sent_carries_urg_until_acknowledged() {
    let mut h = Harness::new();
    let (_l, c) = h.passive_open();
    h.stack.tcp_send(c.h, b"abc").unwrap();
    let a = h.expect_segment();
    assert!(!a.flags.urg());
    // Nagle would hold this small segment behind "abc"; urgent, it goes.
    assert_eq!(h.stack.tcp_send_urgent(c.h, b"!").unwrap(), 1);
    let u = h.expect_segment();
    assert_eq!((u.seq, u.payload.as_slice()), (c.s(3), &b"!"[..]));
    assert!(u.flags.urg());
    assert_eq!(u.urgent, 1, "points after the urgent byte");
    // More data behind it: no URG on segments past the pointer; an ACK
    // that does not cover the urgent byte keeps urgent mode.
    h.stack.tcp_set_nodelay(c.h, true).unwrap();
    h.inject(c.p(0), c.s(3), ACK, 65535, no_opts(), &[]);
    h.stack.tcp_send(c.h, b"more").unwrap();
    let m = h.expect_segment();
    assert_eq!(m.seq, c.s(4));
    assert!(!m.flags.urg());
    // The retransmission of the urgent byte carries it again.
    let rtx = h.expect_segment_by(h.now + SECS(5));
    assert_eq!(rtx.seq, c.s(3));
    assert!(rtx.flags.urg() && rtx.urgent == 1, "{rtx:?}");
    h.inject(c.p(0), c.s(8), ACK, 65535, no_opts(), &[]);
    h.stack.tcp_send(c.h, b"x").unwrap();
    let x = h.expect_segment();
    assert!(!x.flags.urg(), "{x:?}");
}
