//! The whole stack fed arbitrary packet sequences and time steps.
//!
//! The stack starts with a listener, a UDP socket, an ESTABLISHED
//! connection (data queued both ways) and a connection in SYN-SENT; the
//! fuzzer sends raw bytes, payloads behind a valid IPv4 header, TCP
//! segments on the known flows with sequence numbers relative to the live
//! connection (so it reaches the state machine), fragments, ICMP errors
//! quoting the flows, time steps and application calls. Checked after every
//! action: no panic, every emitted packet is valid IPv4 from us to a
//! unicast peer, the stack never busy-loops, and state stays bounded.
#![no_main]
use libfuzzer_sys::arbitrary::{self, Arbitrary};
use libfuzzer_sys::fuzz_target;
use std::net::{IpAddr, Ipv4Addr, Shutdown, SocketAddr};
use ustack::wire::icmpv4::Icmpv4Repr;
use ustack::wire::ipv4::{PROTO_ICMP, PROTO_TCP, PROTO_UDP};
use ustack::wire::tcp::{TcpFlags, TcpOptions};
use ustack::Duration;
use ustack_fuzz::*;

#[derive(Arbitrary, Debug)]
enum Proto {
    Tcp,
    Udp,
    Icmp,
    Other(u8),
}

impl Proto {
    fn number(&self) -> u8 {
        match self {
            Proto::Tcp => PROTO_TCP,
            Proto::Udp => PROTO_UDP,
            Proto::Icmp => PROTO_ICMP,
            Proto::Other(p) => *p,
        }
    }
}

#[derive(Arbitrary, Debug)]
enum Src {
    Peer,
    Other(u8),
    Raw([u8; 4]),
}

impl Src {
    fn addr(&self) -> Ipv4Addr {
        match self {
            Src::Peer => PEER,
            Src::Other(x) => Ipv4Addr::new(198, 18, 0, *x),
            Src::Raw(o) => Ipv4Addr::from(*o),
        }
    }
}

#[derive(Arbitrary, Debug)]
struct Opts {
    mss: Option<u16>,
    window_scale: Option<u8>,
    sack_permitted: bool,
    timestamp: Option<(u32, u32)>,
}

#[derive(Arbitrary, Debug)]
enum App {
    Send(u16),
    Recv(u16),
    ShutdownWrite,
    ShutdownRead,
    Close,
    Abort,
    Accept,
    CloseListener,
    Connect(u16),
    UdpSend(u16),
    UdpRecv,
    SetRecvBuffer(u32),
    SetSendBuffer(u32),
}

#[derive(Arbitrary, Debug)]
enum Action {
    /// Any bytes as a received packet.
    Raw(Vec<u8>),
    /// Bytes behind a valid IPv4 header.
    Ip {
        src: Src,
        proto: Proto,
        payload: Vec<u8>,
        fix_checksum: bool,
    },
    /// A TCP segment on a known flow (0: the ESTABLISHED connection,
    /// 1: the SYN-SENT one, 2: a new client to the listener, 3: a closed
    /// port), SEQ/ACK relative to the live connection.
    Tcp {
        flow: u8,
        flags: u8,
        seq_delta: i32,
        ack_delta: i32,
        window: u16,
        urgent: u16,
        opts: Option<Opts>,
        payload_len: u16,
    },
    /// One fragment.
    Frag {
        src: Src,
        proto: Proto,
        ident: u8,
        offset_units: u16,
        more: bool,
        payload: Vec<u8>,
    },
    /// ICMP destination unreachable quoting a flow.
    IcmpError {
        code: u8,
        flow: u8,
        seq_delta: i32,
        frag_needed_mtu: u16,
    },
    /// Time passes (microseconds, up to ~67 s).
    Advance(u32),
    App(App),
}

fn flow(f: &Fixture, flow: u8) -> (SocketAddr, SocketAddr, u32, u32) {
    let us = |p| SocketAddr::new(IpAddr::V4(US), p);
    let peer = |p| SocketAddr::new(IpAddr::V4(PEER), p);
    match flow % 4 {
        // (peer side, our side, peer's next seq base, our seq base)
        0 => (peer(40000), us(80), PEER_ISS + 6, f.est_iss.wrapping_add(1)),
        1 => (
            peer(443),
            us(f.syn_sent_port),
            777_000,
            f.syn_sent_iss.wrapping_add(1),
        ),
        2 => (peer(40001), us(80), 5_000_000, 0),
        _ => (peer(40002), us(81), 9_000, 0),
    }
}

fuzz_target!(|actions: Vec<Action>| {
    let mut f = Fixture::new();
    let mut extra = Vec::new();
    let mut buf = vec![0u8; 70_000];
    for action in actions.into_iter().take(200) {
        match action {
            Action::Raw(bytes) => f.s.receive(f.now, &bytes),
            Action::Ip {
                src,
                proto,
                payload,
                fix_checksum,
            } => {
                let mut p = ip_packet(src.addr(), US, proto.number(), 0x77, false, 0, &payload);
                if fix_checksum {
                    fix_transport_checksum(&mut p);
                }
                f.s.receive(f.now, &p);
            }
            Action::Tcp {
                flow: fl,
                flags,
                seq_delta,
                ack_delta,
                window,
                urgent,
                opts,
                payload_len,
            } => {
                let (from, to, seq0, ack0) = flow(&f, fl);
                let options = opts.map_or(TcpOptions::default(), |o| TcpOptions {
                    mss: o.mss,
                    window_scale: o.window_scale,
                    sack_permitted: o.sack_permitted,
                    timestamp: o.timestamp,
                    ..TcpOptions::default()
                });
                let payload = vec![0x42u8; usize::from(payload_len) % 3000];
                let pkt = tcp_packet(
                    from,
                    to,
                    seq0.wrapping_add(seq_delta as u32),
                    ack0.wrapping_add(ack_delta as u32),
                    TcpFlags(flags),
                    window,
                    urgent,
                    options,
                    &payload,
                );
                f.s.receive(f.now, &pkt);
            }
            Action::Frag {
                src,
                proto,
                ident,
                offset_units,
                more,
                payload,
            } => {
                let p = ip_packet(
                    src.addr(),
                    US,
                    proto.number(),
                    u16::from(ident),
                    more,
                    usize::from(offset_units % 8192) * 8,
                    &payload,
                );
                f.s.receive(f.now, &p);
            }
            Action::IcmpError {
                code,
                flow: fl,
                seq_delta,
                frag_needed_mtu,
            } => {
                let (peer, us, _, ours) = flow(&f, fl);
                let seg = tcp_packet(
                    us,
                    peer,
                    ours.wrapping_add(seq_delta as u32),
                    0,
                    TcpFlags::ACK,
                    0,
                    0,
                    TcpOptions::default(),
                    &[],
                );
                let msg = Icmpv4Repr::DstUnreachable {
                    code: code % 16,
                    next_hop_mtu: frag_needed_mtu,
                    quoted: &seg[..28],
                };
                let mut m = vec![0u8; msg.buffer_len()];
                msg.emit(&mut m);
                let p = ip_packet(PEER, US, PROTO_ICMP, 9, false, 0, &m);
                f.s.receive(f.now, &p);
            }
            Action::Advance(us) => {
                f.now += Duration::from_micros(u64::from(us) % 67_000_000);
                f.s.handle_timeout(f.now);
            }
            Action::App(op) => {
                let h = f.est;
                match op {
                    App::Send(n) => {
                        let _ = f.s.tcp_send(h, &vec![7u8; usize::from(n)]);
                    }
                    App::Recv(n) => {
                        let n = usize::from(n).min(buf.len());
                        let _ = f.s.tcp_recv(h, &mut buf[..n]);
                    }
                    App::ShutdownWrite => {
                        let _ = f.s.tcp_shutdown(h, Shutdown::Write);
                    }
                    App::ShutdownRead => {
                        let _ = f.s.tcp_shutdown(h, Shutdown::Read);
                    }
                    App::Close => f.s.tcp_close(h),
                    App::Abort => f.s.tcp_abort(h),
                    App::Accept => {
                        if let Ok((c, _)) = f.s.tcp_accept(f.listener) {
                            extra.push(c);
                        }
                    }
                    App::CloseListener => f.s.tcp_close(f.listener),
                    App::Connect(port) => {
                        let to = SocketAddr::new(IpAddr::V4(PEER), port.max(1));
                        if let Ok(c) = f.s.tcp_connect(to, None) {
                            extra.push(c);
                        }
                    }
                    App::UdpSend(n) => {
                        let to = SocketAddr::new(IpAddr::V4(PEER), 53);
                        let _ = f.s.udp_send_to(f.udp, &vec![1u8; usize::from(n)], to);
                    }
                    App::UdpRecv => {
                        let _ = f.s.udp_recv_from(f.udp, &mut buf);
                    }
                    App::SetRecvBuffer(n) => {
                        let _ = f.s.tcp_set_recv_buffer(h, n as usize % (4 << 20));
                    }
                    App::SetSendBuffer(n) => {
                        let _ = f.s.tcp_set_send_buffer(h, n as usize % (4 << 20));
                    }
                }
            }
        }
        settle(&mut f.s, f.now, US);
        // Bounded state: at most the fixture's sockets, the backlog's
        // worth of children, and the connections the actions opened.
        assert!(
            f.s.socket_count() <= 4 + 2 * 4 + extra.len(),
            "{} sockets",
            f.s.socket_count()
        );
        let _ = f.s.counters();
        let _ = f.s.tcp_info(f.est);
    }
    // Let everything run out: all timers must end (no leak).
    for _ in 0..500 {
        let Some(t) = f.s.poll_at() else { break };
        f.now = f.now.max(t);
        f.s.handle_timeout(f.now);
        settle(&mut f.s, f.now, US);
    }
});
