//! Property tests: every `*Repr` survives emit -> parse unchanged.
use proptest::prelude::*;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use ustack_wire::icmpv4::{self, Icmpv4Repr};
use ustack_wire::ipv4::{Ipv4Packet, Ipv4Repr};
use ustack_wire::tcp::{TcpFlags, TcpOptions, TcpPacket, TcpRepr, MAX_SACK_BLOCKS};
use ustack_wire::udp::{UdpPacket, UdpRepr};
use ustack_wire::{checksum, WireError};

fn ipv4_repr() -> impl Strategy<Value = Ipv4Repr> {
    (
        any::<[u8; 4]>(),
        any::<[u8; 4]>(),
        any::<u8>(),
        0usize..=(65535 - 20),
        any::<u8>(),
        any::<u16>(),
        any::<bool>(),
        any::<bool>(),
        0usize..8192,
        any::<u8>(),
    )
        .prop_map(
            |(s, d, protocol, payload_len, ttl, ident, df, mf, off, dscp_ecn)| Ipv4Repr {
                src: Ipv4Addr::from(s),
                dst: Ipv4Addr::from(d),
                protocol,
                payload_len,
                ttl,
                ident,
                dont_frag: df,
                more_frags: mf,
                frag_offset: off * 8,
                dscp_ecn,
            },
        )
}

fn ip_pair() -> impl Strategy<Value = (IpAddr, IpAddr)> {
    prop_oneof![
        (any::<[u8; 4]>(), any::<[u8; 4]>())
            .prop_map(|(s, d)| (IpAddr::V4(s.into()), IpAddr::V4(d.into()))),
        (any::<[u8; 16]>(), any::<[u8; 16]>())
            .prop_map(|(s, d)| (IpAddr::V6(Ipv6Addr::from(s)), IpAddr::V6(Ipv6Addr::from(d)))),
    ]
}

fn tcp_options() -> impl Strategy<Value = TcpOptions> {
    (
        prop::option::of(any::<u16>()),
        prop::option::of(any::<u8>()),
        any::<bool>(),
        prop::collection::vec(any::<(u32, u32)>(), 0..=MAX_SACK_BLOCKS),
        prop::option::of(any::<(u32, u32)>()),
    )
        .prop_map(|(mss, window_scale, sack_permitted, blocks, timestamp)| {
            let mut sack_blocks = [None; MAX_SACK_BLOCKS];
            for (slot, b) in sack_blocks.iter_mut().zip(blocks) {
                *slot = Some(b);
            }
            TcpOptions {
                mss,
                window_scale,
                sack_permitted,
                sack_blocks,
                timestamp,
            }
        })
}

/// What parsing the emitted options gives back: everything, with the SACK
/// blocks that did not fit in 40 bytes dropped from the end.
fn expected_after_emit(o: &TcpOptions, parsed_sack_count: usize) -> TcpOptions {
    let mut e = *o;
    for slot in e.sack_blocks.iter_mut().skip(parsed_sack_count) {
        *slot = None;
    }
    e
}

/// An owned description of an ICMP message; `build` borrows `data`.
#[derive(Debug, Clone)]
struct IcmpSpec {
    kind: u8,
    ident: u16,
    seq_no: u16,
    code: u8,
    mtu: u16,
    other_type: u8,
    data: Vec<u8>,
}

impl IcmpSpec {
    fn build(&self) -> Icmpv4Repr<'_> {
        match self.kind {
            0 => Icmpv4Repr::EchoRequest {
                ident: self.ident,
                seq_no: self.seq_no,
                data: &self.data,
            },
            1 => Icmpv4Repr::EchoReply {
                ident: self.ident,
                seq_no: self.seq_no,
                data: &self.data,
            },
            2 => Icmpv4Repr::DstUnreachable {
                code: self.code,
                next_hop_mtu: if self.code == icmpv4::unreachable::FRAG_NEEDED {
                    self.mtu
                } else {
                    0
                },
                quoted: &self.data,
            },
            3 => Icmpv4Repr::TimeExceeded {
                code: self.code,
                quoted: &self.data,
            },
            _ => Icmpv4Repr::Other {
                msg_type: self.other_type,
                code: self.code,
            },
        }
    }
}

fn icmp_spec() -> impl Strategy<Value = IcmpSpec> {
    (
        0u8..5,
        any::<u16>(),
        any::<u16>(),
        prop_oneof![any::<u8>(), Just(icmpv4::unreachable::FRAG_NEEDED)],
        any::<u16>(),
        any::<u8>().prop_filter("known types have their own variants", |t| {
            ![0, 3, 8, 11].contains(t)
        }),
        prop::collection::vec(any::<u8>(), 0..600),
    )
        .prop_map(
            |(kind, ident, seq_no, code, mtu, other_type, data)| IcmpSpec {
                kind,
                ident,
                seq_no,
                code,
                mtu,
                other_type,
                data,
            },
        )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn ipv4_round_trip(repr in ipv4_repr(), fill in any::<u8>()) {
        let mut buf = vec![fill; 20 + repr.payload_len];
        repr.emit(&mut buf);
        let packet = Ipv4Packet::new_checked(&buf[..]).unwrap();
        prop_assert!(packet.verify_checksum());
        prop_assert_eq!(packet.header_len(), 20);
        prop_assert_eq!(packet.payload().len(), repr.payload_len);
        prop_assert_eq!(Ipv4Repr::parse(&packet).unwrap(), repr);
    }

    #[test]
    fn ipv4_ttl_update_incremental(repr in ipv4_repr(), new_ttl in any::<u8>()) {
        let mut buf = vec![0u8; 20 + repr.payload_len.min(64)];
        let repr = Ipv4Repr { payload_len: buf.len() - 20, ..repr };
        repr.emit(&mut buf);
        let old_word = u16::from_be_bytes([buf[8], buf[9]]);
        let old_sum = u16::from_be_bytes([buf[10], buf[11]]);
        let mut p = Ipv4Packet::new_checked(&mut buf[..]).unwrap();
        p.set_ttl(new_ttl);
        let new_word = u16::from_be_bytes([p.ttl(), p.protocol()]);
        let inc = checksum::update(old_sum, old_word, new_word);
        p.fill_checksum();
        prop_assert_eq!(p.checksum(), inc);
        prop_assert_eq!(Ipv4Repr::parse(&p).unwrap(), Ipv4Repr { ttl: new_ttl, ..repr });
    }

    #[test]
    fn tcp_options_round_trip(o in tcp_options()) {
        let len = o.emit_len();
        prop_assert!(len <= 40);
        prop_assert_eq!(len % 4, 0);
        let mut buf = [0xA5u8; 48];
        prop_assert_eq!(o.emit(&mut buf), len);
        prop_assert!(buf[len..].iter().all(|&b| b == 0xA5), "wrote past emit_len");
        let parsed = TcpOptions::parse(&buf[..len]).unwrap();
        prop_assert!(parsed.sack_count() <= o.sack_count());
        prop_assert!(
            parsed.sack_count() >= o.sack_count().min(2),
            "at least two SACK blocks always fit"
        );
        prop_assert_eq!(parsed, expected_after_emit(&o, parsed.sack_count()));
        // Re-emitting what was parsed is stable.
        prop_assert_eq!(parsed.emit_len(), len);
    }

    #[test]
    fn tcp_round_trip(
        (src, dst) in ip_pair(),
        ports in any::<(u16, u16)>(),
        seq in any::<u32>(),
        ack in any::<u32>(),
        flags in any::<u8>(),
        window in any::<u16>(),
        urgent in any::<u16>(),
        options in tcp_options(),
        payload in prop::collection::vec(any::<u8>(), 0..1500),
    ) {
        let repr = TcpRepr {
            src_port: ports.0,
            dst_port: ports.1,
            seq,
            ack,
            flags: TcpFlags(flags),
            window,
            urgent,
            options,
            payload: &payload,
        };
        let mut buf = vec![0u8; repr.header_len() + payload.len() + 7];
        let n = repr.emit(&mut buf, src, dst);
        prop_assert_eq!(n, repr.header_len() + payload.len());
        let packet = TcpPacket::new_checked(&buf[..n]).unwrap();
        prop_assert!(packet.verify_checksum(src, dst));
        prop_assert_eq!(packet.header_len(), repr.header_len());
        let parsed = TcpRepr::parse(&packet).unwrap();
        let expected_opts = expected_after_emit(&options, parsed.options.sack_count());
        prop_assert_eq!(parsed, TcpRepr { options: expected_opts, ..repr });
    }

    #[test]
    fn udp_round_trip(
        (src, dst) in ip_pair(),
        ports in any::<(u16, u16)>(),
        payload in prop::collection::vec(any::<u8>(), 0..1500),
        trailer in 0usize..4,
    ) {
        let repr = UdpRepr { src_port: ports.0, dst_port: ports.1 };
        let mut buf = vec![0u8; 8 + payload.len() + trailer];
        prop_assert_eq!(repr.emit(&mut buf, &payload, src, dst), 8 + payload.len());
        let packet = UdpPacket::new_checked(&buf[..]).unwrap();
        prop_assert_ne!(packet.checksum(), 0);
        prop_assert!(packet.verify_checksum(src, dst));
        prop_assert_eq!(packet.src_port(), ports.0);
        prop_assert_eq!(packet.dst_port(), ports.1);
        prop_assert_eq!(packet.len(), 8 + payload.len());
        prop_assert_eq!(packet.payload(), &payload[..]);
    }

    #[test]
    fn ipv4_udp_nested_round_trip(
        s in any::<[u8; 4]>(),
        d in any::<[u8; 4]>(),
        payload in prop::collection::vec(any::<u8>(), 0..600),
    ) {
        let (src, dst) = (Ipv4Addr::from(s), Ipv4Addr::from(d));
        let ip = Ipv4Repr {
            src, dst, protocol: 17, payload_len: 8 + payload.len(), ttl: 64, ident: 9,
            dont_frag: true, more_frags: false, frag_offset: 0, dscp_ecn: 0,
        };
        let mut buf = vec![0u8; 20 + ip.payload_len];
        ip.emit(&mut buf);
        UdpRepr { src_port: 1000, dst_port: 2000 }.emit(&mut buf[20..], &payload, src.into(), dst.into());
        let p = Ipv4Packet::new_checked(&buf[..]).unwrap();
        let r = Ipv4Repr::parse(&p).unwrap();
        prop_assert_eq!(r, ip);
        let u = UdpPacket::new_checked(p.payload()).unwrap();
        prop_assert!(u.verify_checksum(r.src.into(), r.dst.into()));
        prop_assert_eq!(u.payload(), &payload[..]);
    }

    #[test]
    fn icmpv4_round_trip(spec in icmp_spec()) {
        let repr = spec.build();
        let mut buf = vec![0xCCu8; repr.buffer_len() + 3];
        let n = repr.emit(&mut buf);
        prop_assert_eq!(n, repr.buffer_len());
        prop_assert_eq!(checksum::checksum(&buf[..n]), 0);
        prop_assert_eq!(Icmpv4Repr::parse(&buf[..n]).unwrap(), repr);
        if n > 8 {
            // Dropping a non-zero trailing byte must break the checksum.
            let shortened = Icmpv4Repr::parse(&buf[..n - 1]);
            if buf[n - 1] != 0 {
                prop_assert_eq!(shortened, Err(WireError::BadChecksum));
            } else {
                prop_assert!(shortened.is_ok());
            }
        }
    }
}
