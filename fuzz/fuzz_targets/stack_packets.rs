//! The whole stack fed arbitrary packet sequences and time steps.
//!
//! The stack is dual-stack (see `Fixture`): on each of IPv4 and IPv6 it
//! starts with a listener, a UDP socket, an ESTABLISHED connection (data
//! queued both ways) and a connection in SYN-SENT. The fuzzer sends raw
//! bytes, payloads behind a valid IPv4 header, TCP segments on the known
//! flows with sequence numbers relative to the live connection (so it
//! reaches the state machine), fragments, ICMP errors quoting the flows;
//! over IPv6, packets from any source to US6, all-nodes, ::1 or elsewhere
//! with a chain of extension headers (hop-by-hop and destination options
//! of arbitrary options, routing, fragment headers) before raw bytes, TCP
//! on the IPv6 flows, UDP or ICMPv6 (echo, errors quoting the flows) with
//! valid checksums, whole or cut into fragments (reordered, overlapping,
//! duplicated, missing); time steps and application calls on either
//! version (loopback and own-address traffic included). Checked after every
//! action: no panic, every emitted packet is valid IPv4 from US or IPv6
//! from US6 (never from ::1) to a unicast peer with valid checksums, ICMPv6
//! errors within 1280 bytes, the stack never busy-loops, and state stays
//! bounded.
#![no_main]
use libfuzzer_sys::arbitrary::{self, Arbitrary};
use libfuzzer_sys::fuzz_target;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, Shutdown, SocketAddr};
use ustack::wire::icmpv4::Icmpv4Repr;
use ustack::wire::icmpv6::Icmpv6Repr;
use ustack::wire::ipv4::{PROTO_ICMP, PROTO_TCP, PROTO_UDP};
use ustack::wire::ipv6::{self, FragmentHeader};
use ustack::wire::tcp::{TcpFlags, TcpOptions};
use ustack::wire::udp::UdpRepr;
use ustack::{Duration, SocketHandle};
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
    /// A connection to one of our own addresses (`own`) or to the
    /// loopback one (127.0.0.1, ::1): never leaves the host.
    ConnectLocal {
        own: bool,
        port: LocalPort,
    },
    /// A datagram from the UDP socket to an own or loopback address.
    UdpSendLocal {
        own: bool,
        port: LocalPort,
        len: u16,
    },
}

#[derive(Arbitrary, Debug)]
enum LocalPort {
    /// The IPv4 listener's port (80).
    Listener,
    /// The `[::]` listener's (8080).
    Listener6,
    /// The UDP sockets' (53).
    Udp,
    Any(u16),
}

impl LocalPort {
    fn number(&self) -> u16 {
        match self {
            LocalPort::Listener => 80,
            LocalPort::Listener6 => PORT6,
            LocalPort::Udp => UDP_PORT,
            LocalPort::Any(p) => (*p).max(1),
        }
    }
}

/// Sources of IPv6 packets: the peer, others on our /64 or link-local,
/// any address, and the ones the stack must refuse from the wire (::1,
/// its own, multicast).
#[derive(Arbitrary, Debug)]
enum Src6 {
    Peer,
    Subnet(u16),
    LinkLocal(u16),
    Raw([u8; 16]),
    Loopback,
    Us,
    AllNodes,
}

impl Src6 {
    fn addr(&self) -> Ipv6Addr {
        match self {
            Src6::Peer => PEER6,
            Src6::Subnet(x) => Ipv6Addr::new(0x2001, 2, 0, 0, 0, 0, 0, *x),
            Src6::LinkLocal(x) => Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, *x),
            Src6::Raw(o) => Ipv6Addr::from(*o),
            Src6::Loopback => Ipv6Addr::LOCALHOST,
            Src6::Us => US6,
            Src6::AllNodes => ALL_NODES,
        }
    }
}

const ALL_NODES: Ipv6Addr = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 1);

/// Destinations of IPv6 packets: ours, the all-nodes groups (taken as
/// broadcast), ::1 (never from the wire), others.
#[derive(Arbitrary, Debug)]
enum Dst6 {
    Us,
    AllNodes,
    InterfaceLocalAllNodes,
    Loopback,
    Subnet(u16),
    Raw([u8; 16]),
}

impl Dst6 {
    fn addr(&self) -> Ipv6Addr {
        match self {
            Dst6::Us => US6,
            Dst6::AllNodes => ALL_NODES,
            Dst6::InterfaceLocalAllNodes => Ipv6Addr::new(0xff01, 0, 0, 0, 0, 0, 0, 1),
            Dst6::Loopback => Ipv6Addr::LOCALHOST,
            Dst6::Subnet(x) => Ipv6Addr::new(0x2001, 2, 0, 0, 0, 0, 0, *x),
            Dst6::Raw(o) => Ipv6Addr::from(*o),
        }
    }
}

/// An option of a hop-by-hop or destination options header: Pad1 for
/// type 0, else type, length (`len`, or the data's) and data.
#[derive(Arbitrary, Debug)]
struct Opt6 {
    kind: u8,
    len: Option<u8>,
    data: Vec<u8>,
}

/// One extension header (RFC 8200 §4). `len8`: a length field other than
/// the one that fits.
#[derive(Arbitrary, Debug)]
enum Ext6 {
    HopByHop {
        opts: Vec<Opt6>,
        len8: Option<u8>,
    },
    DestOpts {
        opts: Vec<Opt6>,
        len8: Option<u8>,
    },
    Routing {
        routing_type: u8,
        segments_left: u8,
        len8: u8,
    },
    Fragment {
        offset_units: u16,
        more: bool,
        ident: u8,
    },
    /// Named `header_type` by the header before; its bytes as given (byte
    /// 0 names the next one).
    Raw {
        header_type: u8,
        bytes: Vec<u8>,
    },
}

impl Ext6 {
    fn header_type(&self) -> u8 {
        match self {
            Ext6::HopByHop { .. } => ipv6::HOP_BY_HOP,
            Ext6::DestOpts { .. } => ipv6::DEST_OPTS,
            Ext6::Routing { .. } => ipv6::ROUTING,
            Ext6::Fragment { .. } => ipv6::FRAGMENT,
            Ext6::Raw { header_type, .. } => *header_type,
        }
    }

    fn emit(&self, next: u8, out: &mut Vec<u8>) {
        match self {
            Ext6::HopByHop { opts, len8 } | Ext6::DestOpts { opts, len8 } => {
                let start = out.len();
                out.extend_from_slice(&[next, 0]);
                for o in opts.iter().take(32) {
                    if o.kind == 0 {
                        out.push(0);
                        continue;
                    }
                    let data = &o.data[..o.data.len().min(255)];
                    out.extend_from_slice(&[o.kind, o.len.unwrap_or(data.len() as u8)]);
                    out.extend_from_slice(data);
                }
                // Padded to a multiple of 8 (Pad1, or PadN).
                match (8 - (out.len() - start) % 8) % 8 {
                    0 => {}
                    1 => out.push(0),
                    r => {
                        out.extend_from_slice(&[1, r as u8 - 2]);
                        out.resize(out.len() + r - 2, 0);
                    }
                }
                let units = (out.len() - start) / 8 - 1;
                out[start + 1] = len8.unwrap_or(units.min(255) as u8);
            }
            Ext6::Routing {
                routing_type,
                segments_left,
                len8,
            } => {
                let len8 = len8 % 32;
                out.extend_from_slice(&[next, len8, *routing_type, *segments_left, 0, 0, 0, 0]);
                out.resize(out.len() + 8 * usize::from(len8), 0);
            }
            Ext6::Fragment {
                offset_units,
                more,
                ident,
            } => {
                let at = out.len();
                out.resize(at + ipv6::FRAG_HEADER_LEN, 0);
                FragmentHeader {
                    next_header: next,
                    offset: usize::from(offset_units % 8192) * 8,
                    more: *more,
                    ident: u32::from(*ident),
                }
                .emit(&mut out[at..]);
            }
            Ext6::Raw { bytes, .. } => {
                if !bytes.is_empty() {
                    out.push(next);
                    out.extend_from_slice(&bytes[1..]);
                }
            }
        }
    }
}

/// A chain of extension headers (at most 20: more than the stack walks)
/// before a header of type `last`: (the type of the first, the bytes).
fn ext_chain(exts: &[Ext6], last: u8) -> (u8, Vec<u8>) {
    let exts = &exts[..exts.len().min(20)];
    let mut bytes = Vec::new();
    for (i, e) in exts.iter().enumerate() {
        let next = exts.get(i + 1).map_or(last, Ext6::header_type);
        e.emit(next, &mut bytes);
    }
    (exts.first().map_or(last, Ext6::header_type), bytes)
}

/// What follows the extension headers of an IPv6 packet.
#[derive(Arbitrary, Debug)]
enum Upper6 {
    /// Any next header and bytes (the checksum filled if it is TCP, UDP or
    /// ICMPv6 and `fix_checksum`).
    Raw {
        next_header: u8,
        bytes: Vec<u8>,
        fix_checksum: bool,
    },
    /// A segment on an IPv6 flow (as `Action::Tcp`; `from`: another
    /// source than the peer's).
    Tcp {
        flow: u8,
        from: Option<Src6>,
        flags: u8,
        seq_delta: i32,
        ack_delta: i32,
        window: u16,
        urgent: u16,
        opts: Option<Opts>,
        payload_len: u16,
    },
    /// A datagram to the bound port (53) or another; `pad` more bytes of
    /// data; `mangle` 1: a zero checksum (dropped over IPv6), 2: a wrong
    /// one.
    Udp {
        to_bound: bool,
        dst_port: u16,
        src_port: u16,
        data: Vec<u8>,
        pad: Option<u16>,
        mangle: u8,
    },
    Icmp(Icmp6),
}

#[derive(Arbitrary, Debug)]
enum Icmp6 {
    EchoRequest {
        ident: u16,
        seq_no: u16,
        data: Vec<u8>,
        pad: Option<u16>,
    },
    DstUnreachable {
        code: u8,
        quote: Quote6,
    },
    PacketTooBig {
        mtu: u32,
        quote: Quote6,
    },
    TimeExceeded {
        code: u8,
        quote: Quote6,
    },
    ParamProblem {
        code: u8,
        pointer: u32,
        quote: Quote6,
    },
    Other {
        msg_type: u8,
        code: u8,
        body: Vec<u8>,
    },
}

/// A packet we sent on an IPv6 flow, as an ICMPv6 error quotes it: TCP
/// (sequence number relative to ours) or, if `udp`, a datagram from the
/// UDP socket; `cut` to that many bytes.
#[derive(Arbitrary, Debug)]
struct Quote6 {
    flow: u8,
    udp: bool,
    seq_delta: i16,
    cut: Option<u16>,
}

/// Cuts an IPv6 packet's fragmentable part (`inner` extension headers and
/// the upper layer) into fragments at `cuts` (multiples of 8), sent in
/// order or reversed, one of them left out, one sent twice, one
/// overlapping the next by 8 bytes.
#[derive(Arbitrary, Debug)]
struct Split6 {
    inner: Vec<Ext6>,
    cuts: Vec<u16>,
    ident: u8,
    reverse: bool,
    skip: Option<u8>,
    dup: Option<u8>,
    overlap: Option<u8>,
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
    /// port, 4: a new client to the dual-stack `[::]` listener), SEQ/ACK
    /// relative to the live connection.
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
    /// A plain IPv6 packet: the upper layer right after the fixed header.
    Ip6 {
        src: Src6,
        dst: Dst6,
        upper: Upper6,
    },
    /// An IPv6 packet: extension headers before an upper layer, whole or
    /// (`split`) cut into fragments after them.
    Ip6Ext {
        src: Src6,
        dst: Dst6,
        hop_limit: u8,
        exts: Vec<Ext6>,
        upper: Upper6,
        split: Option<Split6>,
    },
    /// Time passes (microseconds, up to ~67 s).
    Advance(u32),
    App(App),
    /// The same calls on the IPv6 sockets.
    App6(App),
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
        3 => (peer(40002), us(81), 9_000, 0),
        // The dual-stack `[::]` listener.
        _ => (peer(40003), us(PORT6), 6_000_000, 0),
    }
}

/// `flow` for IPv6: 0 the ESTABLISHED connection, 1 the SYN-SENT one, 2 a
/// new client to the `[::]` listener, 3 a closed port.
fn flow6(f: &Fixture, flow: u8) -> (SocketAddr, SocketAddr, u32, u32) {
    let us = |p| SocketAddr::new(IpAddr::V6(US6), p);
    let peer = |p| SocketAddr::new(IpAddr::V6(PEER6), p);
    match flow % 4 {
        0 => (
            peer(40000),
            us(PORT6),
            PEER_ISS + 6,
            f.est6_iss.wrapping_add(1),
        ),
        1 => (
            peer(443),
            us(f.syn_sent6_port),
            777_000,
            f.syn_sent6_iss.wrapping_add(1),
        ),
        2 => (peer(40001), us(PORT6), 5_000_000, 0),
        _ => (peer(40002), us(81), 9_000, 0),
    }
}

fn tcp_options(opts: Option<Opts>) -> TcpOptions {
    opts.map_or(TcpOptions::default(), |o| TcpOptions {
        mss: o.mss,
        window_scale: o.window_scale,
        sack_permitted: o.sack_permitted,
        timestamp: o.timestamp,
        ..TcpOptions::default()
    })
}

/// A packet we sent (see `Quote6`), whole or cut.
fn quote6(f: &Fixture, q: &Quote6) -> Vec<u8> {
    let (peer, us, _, ours) = flow6(f, q.flow);
    let (IpAddr::V6(peer_ip), IpAddr::V6(us_ip)) = (peer.ip(), us.ip()) else {
        unreachable!("IPv6 flows")
    };
    let mut pkt = if q.udp {
        let data = [0x11u8; 12];
        let mut seg = vec![0u8; 8 + data.len()];
        UdpRepr {
            src_port: UDP_PORT,
            dst_port: UDP_PORT,
        }
        .emit(&mut seg, &data, us.ip(), peer.ip());
        ip6_packet(us_ip, peer_ip, ipv6::PROTO_UDP, 64, &seg)
    } else {
        let seg = tcp_segment(
            us,
            peer,
            ours.wrapping_add(i32::from(q.seq_delta) as u32),
            0,
            TcpFlags::ACK,
            0,
            0,
            TcpOptions::default(),
            &[],
        );
        ip6_packet(us_ip, peer_ip, ipv6::PROTO_TCP, 64, &seg)
    };
    if let Some(cut) = q.cut {
        pkt.truncate(usize::from(cut));
    }
    pkt
}

/// Builds the upper layer of an IPv6 packet: (its protocol, its bytes);
/// TCP takes the flow's addresses.
fn upper6(f: &Fixture, src: &mut Ipv6Addr, dst: &mut Ipv6Addr, upper: Upper6) -> (u8, Vec<u8>) {
    match upper {
        Upper6::Raw {
            next_header,
            mut bytes,
            fix_checksum,
        } => {
            if fix_checksum {
                fill_checksum_v6(next_header, &mut bytes, *src, *dst);
            }
            (next_header, bytes)
        }
        Upper6::Tcp {
            flow,
            from,
            flags,
            seq_delta,
            ack_delta,
            window,
            urgent,
            opts,
            payload_len,
        } => {
            let (mut peer, us, seq0, ack0) = flow6(f, flow);
            if let Some(from) = from {
                peer.set_ip(IpAddr::V6(from.addr()));
            }
            let (IpAddr::V6(p), IpAddr::V6(u)) = (peer.ip(), us.ip()) else {
                unreachable!("IPv6 flows")
            };
            (*src, *dst) = (p, u);
            let payload = vec![0x42u8; usize::from(payload_len) % 3000];
            let seg = tcp_segment(
                peer,
                us,
                seq0.wrapping_add(seq_delta as u32),
                ack0.wrapping_add(ack_delta as u32),
                TcpFlags(flags),
                window,
                urgent,
                tcp_options(opts),
                &payload,
            );
            (ipv6::PROTO_TCP, seg)
        }
        Upper6::Udp {
            to_bound,
            dst_port,
            src_port,
            mut data,
            pad,
            mangle,
        } => {
            data.resize(data.len() + usize::from(pad.unwrap_or(0)) % 9000, 0x33);
            data.truncate(65535 - 8);
            let mut seg = vec![0u8; 8 + data.len()];
            UdpRepr {
                src_port,
                dst_port: if to_bound { UDP_PORT } else { dst_port },
            }
            .emit(&mut seg, &data, (*src).into(), (*dst).into());
            match mangle {
                1 => seg[6..8].copy_from_slice(&[0, 0]),
                2 => seg[6] ^= 0x10,
                _ => {}
            }
            (ipv6::PROTO_UDP, seg)
        }
        Upper6::Icmp(m) => {
            let (s, d) = (*src, *dst);
            let emit = |repr: Icmpv6Repr<'_>| {
                let mut v = vec![0u8; repr.buffer_len()];
                repr.emit(&mut v, s, d);
                v
            };
            let msg = match m {
                Icmp6::EchoRequest {
                    ident,
                    seq_no,
                    mut data,
                    pad,
                } => {
                    data.resize(data.len() + usize::from(pad.unwrap_or(0)) % 9000, 0x44);
                    data.truncate(65535 - 8);
                    emit(Icmpv6Repr::EchoRequest {
                        ident,
                        seq_no,
                        data: &data,
                    })
                }
                Icmp6::DstUnreachable { code, quote } => emit(Icmpv6Repr::DstUnreachable {
                    code: code % 8,
                    quoted: &quote6(f, &quote),
                }),
                Icmp6::PacketTooBig { mtu, quote } => emit(Icmpv6Repr::PacketTooBig {
                    mtu,
                    quoted: &quote6(f, &quote),
                }),
                Icmp6::TimeExceeded { code, quote } => emit(Icmpv6Repr::TimeExceeded {
                    code,
                    quoted: &quote6(f, &quote),
                }),
                Icmp6::ParamProblem {
                    code,
                    pointer,
                    quote,
                } => emit(Icmpv6Repr::ParamProblem {
                    code,
                    pointer,
                    quoted: &quote6(f, &quote),
                }),
                Icmp6::Other {
                    msg_type,
                    code,
                    body,
                } => {
                    let mut v = vec![msg_type, code, 0, 0];
                    v.extend_from_slice(&body);
                    fill_checksum_v6(ipv6::PROTO_ICMPV6, &mut v, s, d);
                    v
                }
            };
            (ipv6::PROTO_ICMPV6, msg)
        }
    }
}

/// The packets of an `Action::Ip6`.
fn ip6_packets(
    f: &Fixture,
    src: Src6,
    dst: Dst6,
    hop_limit: u8,
    exts: &[Ext6],
    upper: Upper6,
    split: Option<Split6>,
) -> Vec<Vec<u8>> {
    let (mut src, mut dst) = (src.addr(), dst.addr());
    let (protocol, upper) = upper6(f, &mut src, &mut dst, upper);
    let Some(split) = split else {
        let (first, mut payload) = ext_chain(exts, protocol);
        payload.extend_from_slice(&upper);
        return vec![ip6_packet(src, dst, first, hop_limit, &payload)];
    };
    // Unfragmentable headers, a Fragment header, the fragmentable part.
    let (first, unfragmentable) = ext_chain(exts, ipv6::FRAGMENT);
    let (frag_next, mut part) = ext_chain(&split.inner, protocol);
    part.extend_from_slice(&upper);
    part.truncate(65528);
    let len = part.len();
    let mut cuts: Vec<usize> = split
        .cuts
        .iter()
        .take(15)
        .map(|&c| (usize::from(c) % len.max(1)) & !7)
        .filter(|&c| c > 0 && c < len)
        .collect();
    cuts.sort_unstable();
    cuts.dedup();
    let mut bounds = vec![0];
    bounds.extend(cuts);
    bounds.push(len);
    let mut pieces: Vec<(usize, usize, bool)> = bounds
        .windows(2)
        .enumerate()
        .map(|(i, w)| (w[0], w[1], i + 2 < bounds.len()))
        .collect();
    let n = pieces.len();
    if let Some(k) = split.overlap {
        let k = usize::from(k) % n;
        if pieces[k].2 {
            pieces[k].1 = (pieces[k].1 + 8).min(len);
        }
    }
    let mut order: Vec<usize> = (0..n).collect();
    if split.reverse {
        order.reverse();
    }
    if let Some(k) = split.dup {
        order.push(usize::from(k) % n);
    }
    if let Some(k) = split.skip {
        let k = usize::from(k) % n;
        order.retain(|&i| i != k);
    }
    order
        .into_iter()
        .map(|i| {
            let (start, end, more) = pieces[i];
            let mut payload = unfragmentable.clone();
            let at = payload.len();
            payload.resize(at + ipv6::FRAG_HEADER_LEN, 0);
            FragmentHeader {
                next_header: frag_next,
                offset: start,
                more,
                ident: u32::from(split.ident),
            }
            .emit(&mut payload[at..]);
            payload.extend_from_slice(&part[start..end]);
            ip6_packet(src, dst, first, hop_limit, &payload)
        })
        .collect()
}

/// The sockets application calls act on: IPv4's or IPv6's.
struct Side {
    conn: SocketHandle,
    listener: SocketHandle,
    udp: SocketHandle,
    peer: IpAddr,
    own: IpAddr,
    loopback: IpAddr,
}

fn app(f: &mut Fixture, side: &Side, op: App, extra: &mut Vec<SocketHandle>, buf: &mut [u8]) {
    let h = side.conn;
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
            if let Ok((c, _)) = f.s.tcp_accept(side.listener) {
                extra.push(c);
            }
        }
        App::CloseListener => f.s.tcp_close(side.listener),
        App::Connect(port) => {
            let to = SocketAddr::new(side.peer, port.max(1));
            if let Ok(c) = f.s.tcp_connect(to, None) {
                extra.push(c);
            }
        }
        App::UdpSend(n) => {
            let to = SocketAddr::new(side.peer, UDP_PORT);
            let _ = f.s.udp_send_to(side.udp, &vec![1u8; usize::from(n)], to);
        }
        App::UdpRecv => {
            let _ = f.s.udp_recv_from(side.udp, buf);
        }
        App::SetRecvBuffer(n) => {
            let _ = f.s.tcp_set_recv_buffer(h, n as usize % (4 << 20));
        }
        App::SetSendBuffer(n) => {
            let _ = f.s.tcp_set_send_buffer(h, n as usize % (4 << 20));
        }
        App::ConnectLocal { own, port } => {
            let ip = if own { side.own } else { side.loopback };
            if let Ok(c) = f.s.tcp_connect(SocketAddr::new(ip, port.number()), None) {
                extra.push(c);
            }
        }
        App::UdpSendLocal { own, port, len } => {
            let ip = if own { side.own } else { side.loopback };
            let to = SocketAddr::new(ip, port.number());
            let _ = f.s.udp_send_to(side.udp, &vec![2u8; usize::from(len)], to);
        }
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
                let options = tcp_options(opts);
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
            Action::Ip6 { src, dst, upper } => {
                for p in ip6_packets(&f, src, dst, 64, &[], upper, None) {
                    f.s.receive(f.now, &p);
                }
            }
            Action::Ip6Ext {
                src,
                dst,
                hop_limit,
                exts,
                upper,
                split,
            } => {
                for p in ip6_packets(&f, src, dst, hop_limit, &exts, upper, split) {
                    f.s.receive(f.now, &p);
                }
            }
            Action::App(op) => {
                let side = Side {
                    conn: f.est,
                    listener: f.listener,
                    udp: f.udp,
                    peer: IpAddr::V4(PEER),
                    own: IpAddr::V4(US),
                    loopback: IpAddr::V4(Ipv4Addr::LOCALHOST),
                };
                app(&mut f, &side, op, &mut extra, &mut buf);
            }
            Action::App6(op) => {
                let side = Side {
                    conn: f.est6,
                    listener: f.listener6,
                    udp: f.udp6,
                    peer: IpAddr::V6(PEER6),
                    own: IpAddr::V6(US6),
                    loopback: IpAddr::V6(Ipv6Addr::LOCALHOST),
                };
                app(&mut f, &side, op, &mut extra, &mut buf);
            }
        }
        settle(&mut f.s, f.now, (US, US6));
        // Bounded state: at most the fixture's sockets, each listener's
        // backlog's worth of children, and the connections the actions
        // opened.
        assert!(
            f.s.socket_count()
                <= FIXTURE_SOCKETS + 2 * FIXTURE_BACKLOG * FIXTURE_LISTENERS + extra.len(),
            "{} sockets",
            f.s.socket_count()
        );
        let _ = f.s.counters();
        let _ = f.s.tcp_info(f.est);
        let _ = f.s.tcp_info(f.est6);
    }
    // Let everything run out: all timers must end (no leak).
    for _ in 0..500 {
        let Some(t) = f.s.poll_at() else { break };
        f.now = f.now.max(t);
        f.s.handle_timeout(f.now);
        settle(&mut f.s, f.now, (US, US6));
    }
});
