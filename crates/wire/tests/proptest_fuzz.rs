//! Property tests: no parser panics on arbitrary bytes, and whatever a
//! parser accepts satisfies its documented invariants.
use proptest::prelude::*;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use ustack_wire::checksum;
use ustack_wire::icmpv4::Icmpv4Repr;
use ustack_wire::ipv4::{Ipv4Packet, Ipv4Repr};
use ustack_wire::tcp::{TcpOptions, TcpPacket, TcpRepr};
use ustack_wire::udp::UdpPacket;
use ustack_wire::WireError;

const V4A: IpAddr = IpAddr::V4(Ipv4Addr::new(10, 1, 2, 3));
const V4B: IpAddr = IpAddr::V4(Ipv4Addr::new(10, 4, 5, 6));
const V6A: IpAddr = IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1));

fn bytes(max: usize) -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(any::<u8>(), 0..max)
}

/// Random bytes that look somewhat like an IPv4 header: version 4 and a
/// plausible IHL/total length often enough to get past the first checks.
fn ipv4ish() -> impl Strategy<Value = Vec<u8>> {
    (bytes(120), 0u8..16, any::<u8>(), any::<bool>()).prop_map(|(mut v, ihl, tl, fix)| {
        if v.len() >= 4 {
            v[0] = 0x40 | ihl;
            v[2] = 0;
            v[3] = tl;
        }
        if fix && v.len() >= 20 {
            // Give it a valid checksum over whatever IHL claims (clamped).
            let hl = (usize::from(ihl) * 4).clamp(20, v.len());
            v[10] = 0;
            v[11] = 0;
            let c = checksum::checksum(&v[..hl]);
            v[10..12].copy_from_slice(&c.to_be_bytes());
        }
        v
    })
}

fn exercise_ipv4(buf: &[u8]) -> Result<(), TestCaseError> {
    // Views made without checks must not make parse/payload panic either.
    let unchecked = Ipv4Packet::new_unchecked(buf);
    let _ = unchecked.payload();
    let _ = unchecked.header();
    let _ = unchecked.verify_checksum();
    let unchecked_parse = Ipv4Repr::parse(&unchecked);
    match Ipv4Packet::new_checked(buf) {
        Ok(p) => {
            prop_assert!(buf.len() >= 20);
            prop_assert_eq!(p.version(), 4);
            prop_assert!(p.header_len() >= 20 && p.header_len() <= buf.len());
            prop_assert!(p.total_len() >= p.header_len() && p.total_len() <= buf.len());
            prop_assert_eq!(p.header().len(), p.header_len());
            prop_assert_eq!(p.payload().len(), p.total_len() - p.header_len());
            let _ = (
                p.dscp_ecn(),
                p.ident(),
                p.dont_frag(),
                p.more_frags(),
                p.frag_offset(),
            );
            let _ = (
                p.ttl(),
                p.protocol(),
                p.checksum(),
                p.src_addr(),
                p.dst_addr(),
            );
            let parsed = Ipv4Repr::parse(&p);
            prop_assert_eq!(parsed, unchecked_parse);
            match parsed {
                Ok(r) => {
                    prop_assert!(p.verify_checksum());
                    prop_assert_eq!(r.payload_len, p.payload().len());
                }
                Err(e) => prop_assert_eq!(e, WireError::BadChecksum),
            }
        }
        Err(e) => {
            prop_assert!(unchecked_parse == Err(e));
            let expected = if buf.len() < 20 {
                WireError::Truncated
            } else if buf[0] >> 4 != 4 {
                WireError::BadVersion
            } else if usize::from(buf[0] & 0xF) * 4 < 20
                || usize::from(buf[0] & 0xF) * 4 > buf.len()
            {
                WireError::BadHeaderLen
            } else {
                WireError::BadTotalLen
            };
            prop_assert_eq!(e, expected);
        }
    }
    Ok(())
}

fn exercise_tcp(buf: &[u8]) -> Result<(), TestCaseError> {
    let unchecked = TcpPacket::new_unchecked(buf);
    let _ = unchecked.options();
    let _ = unchecked.payload();
    let _ = unchecked.verify_checksum(V4A, V4B);
    let unchecked_parse = TcpRepr::parse(&unchecked);
    match TcpPacket::new_checked(buf) {
        Ok(p) => {
            prop_assert!(p.header_len() >= 20 && p.header_len() <= buf.len());
            prop_assert_eq!(p.options().len(), p.header_len() - 20);
            prop_assert_eq!(p.payload().len(), buf.len() - p.header_len());
            let _ = (
                p.src_port(),
                p.dst_port(),
                p.seq(),
                p.ack(),
                p.flags(),
                p.window(),
            );
            let _ = (p.checksum(), p.urgent(), format!("{:?}", p.flags()));
            let _ = p.verify_checksum(V4A, V4B);
            let _ = p.verify_checksum(V6A, V4B);
            let parsed = TcpRepr::parse(&p);
            prop_assert_eq!(parsed, unchecked_parse);
            match parsed {
                Ok(r) => {
                    prop_assert_eq!(r.payload, p.payload());
                    prop_assert!(r.options.emit_len() <= 40);
                }
                Err(e) => prop_assert_eq!(e, WireError::BadOption),
            }
        }
        Err(e) => {
            prop_assert_eq!(unchecked_parse, Err(e));
            let expected = if buf.len() < 20 {
                WireError::Truncated
            } else {
                WireError::BadDataOffset
            };
            prop_assert_eq!(e, expected);
        }
    }
    Ok(())
}

fn exercise_udp(buf: &[u8]) -> Result<(), TestCaseError> {
    let unchecked = UdpPacket::new_unchecked(buf);
    let _ = unchecked.payload();
    let _ = unchecked.verify_checksum(V4A, V4B);
    match UdpPacket::new_checked(buf) {
        Ok(p) => {
            prop_assert!(p.len() >= 8 && p.len() <= buf.len());
            prop_assert_eq!(p.payload().len(), p.len() - 8);
            let _ = (p.src_port(), p.dst_port(), p.checksum(), p.is_empty());
            let _ = p.verify_checksum(V4A, V4B);
            let _ = p.verify_checksum(V6A, V6A);
        }
        Err(e) => {
            let expected = if buf.len() < 8 {
                WireError::Truncated
            } else {
                WireError::BadLength
            };
            prop_assert_eq!(e, expected);
        }
    }
    Ok(())
}

fn exercise_icmp(buf: &[u8]) -> Result<(), TestCaseError> {
    match Icmpv4Repr::parse(buf) {
        Ok(r) => {
            prop_assert_eq!(checksum::checksum(buf), 0);
            prop_assert_eq!(
                r.buffer_len(),
                match r {
                    Icmpv4Repr::Other { .. } => 8,
                    _ => buf.len(),
                }
            );
        }
        Err(WireError::Truncated) => prop_assert!(buf.len() < 8),
        Err(e) => prop_assert_eq!(e, WireError::BadChecksum),
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn ipv4_never_panics(buf in bytes(200)) {
        exercise_ipv4(&buf)?;
    }

    #[test]
    fn ipv4_structured_never_panics(buf in ipv4ish()) {
        exercise_ipv4(&buf)?;
    }

    #[test]
    fn tcp_never_panics(buf in bytes(200)) {
        exercise_tcp(&buf)?;
    }

    #[test]
    fn tcp_structured_never_panics(
        mut buf in bytes(120),
        off in 0u8..16,
    ) {
        if buf.len() > 12 {
            buf[12] = (off << 4) | (buf[12] & 0x0F);
        }
        exercise_tcp(&buf)?;
    }

    #[test]
    fn tcp_options_never_panic(
        opts in prop::collection::vec(
            prop_oneof![
                3 => any::<u8>(),
                1 => 0u8..=12,     // kinds and lengths that matter
                1 => Just(1u8),
                1 => Just(34u8),
            ],
            0..60,
        )
    ) {
        if let Ok(o) = TcpOptions::parse(&opts) {
            prop_assert!(o.sack_count() <= 4);
            let len = o.emit_len();
            prop_assert!(len <= 40 && len % 4 == 0);
            let mut out = [0u8; 40];
            prop_assert_eq!(o.emit(&mut out), len);
            let again = TcpOptions::parse(&out[..len]).unwrap();
            prop_assert_eq!(again.mss, o.mss);
            prop_assert_eq!(again.timestamp, o.timestamp);
            prop_assert_eq!(again.window_scale, o.window_scale);
            prop_assert_eq!(again.sack_permitted, o.sack_permitted);
        } else {
            prop_assert_eq!(TcpOptions::parse(&opts), Err(WireError::BadOption));
        }
    }

    #[test]
    fn udp_never_panics(buf in bytes(200)) {
        exercise_udp(&buf)?;
    }

    #[test]
    fn icmp_never_panics(buf in bytes(200)) {
        exercise_icmp(&buf)?;
    }

    #[test]
    fn icmp_with_valid_checksum_never_panics(mut buf in bytes(200), t in prop_oneof![0u8..16, any::<u8>()]) {
        // Most random bytes fail the checksum; fix it so the type dispatch
        // is reached.
        if buf.len() >= 8 {
            buf[0] = t;
            buf[2] = 0;
            buf[3] = 0;
            let c = checksum::checksum(&buf);
            buf[2..4].copy_from_slice(&c.to_be_bytes());
            prop_assert!(Icmpv4Repr::parse(&buf).is_ok());
        }
        exercise_icmp(&buf)?;
    }
}
