//! IPv6 header, extension-header walk and ICMPv6: checked views, repr
//! parse → emit → parse round trips, the walk's offsets within the
//! packet. Unchecked views' clamped accessors must not panic either.
#![no_main]
use libfuzzer_sys::fuzz_target;
use std::net::Ipv6Addr;
use ustack::wire::icmpv6::{self, Icmpv6Repr};
use ustack::wire::ipv6::{
    self, walk_extensions, ExtError, Extensions, FragmentHeader, Ipv6Packet, Ipv6Repr,
};

/// Checks what `walk_extensions(first, payload)` returns lies within the
/// packet whose payload (after the 40-byte header) is `payload`.
fn check_walk(first: u8, payload: &[u8]) -> Option<Extensions> {
    match walk_extensions(first, payload) {
        Ok(ext) => {
            assert!(ext.offset <= payload.len(), "{ext:?}");
            assert!(ext.frag_header_at <= ext.offset, "{ext:?}");
            assert!(
                (ext.next_header_at as usize) < ipv6::HEADER_LEN + payload.len(),
                "{ext:?} beyond a payload of {}",
                payload.len()
            );
            if ext.offset == 0 {
                assert_eq!(ext.next_header_at, 6, "{ext:?}");
                assert_eq!(ext.protocol, first, "{ext:?}");
            } else {
                // Byte 0 of an extension header within the payload.
                assert!(ext.next_header_at as usize >= ipv6::HEADER_LEN, "{ext:?}");
                let at = ext.next_header_at as usize - ipv6::HEADER_LEN;
                assert!(at < ext.offset, "{ext:?}");
                assert_eq!(payload[at], ext.protocol, "{ext:?}");
            }
            match ext.fragment {
                Some(f) => {
                    assert_eq!(
                        ext.frag_header_at + ipv6::FRAG_HEADER_LEN,
                        ext.offset,
                        "{ext:?}"
                    );
                    assert_eq!(ext.protocol, f.next_header, "{ext:?}");
                    assert!(f.offset.is_multiple_of(8), "{ext:?}");
                    assert!(f.offset <= 0xFFF8);
                    assert_eq!(
                        ext.next_header_at as usize,
                        ipv6::HEADER_LEN + ext.frag_header_at
                    );
                    let raw = &payload[ext.frag_header_at..ext.offset];
                    assert_eq!(FragmentHeader::parse(raw), Ok(f));
                    // Emit (reserved fields zeroed) and parse again.
                    let mut b = [0u8; ipv6::FRAG_HEADER_LEN];
                    f.emit(&mut b);
                    assert_eq!(FragmentHeader::parse(&b), Ok(f));
                    assert_eq!((b[0], &b[4..]), (raw[0], &raw[4..]));
                }
                None => assert_eq!(ext.frag_header_at, 0, "{ext:?}"),
            }
            Some(ext)
        }
        Err(ExtError::ParamProblem { code, pointer, .. }) => {
            assert!(
                (pointer as usize) < ipv6::HEADER_LEN + payload.len(),
                "pointer {pointer} beyond a payload of {}",
                payload.len()
            );
            assert!(pointer as usize >= ipv6::HEADER_LEN || pointer == 6);
            assert!(code <= icmpv6::param_problem::UNRECOGNIZED_OPTION);
            None
        }
        Err(ExtError::Truncated | ExtError::Discard) => None,
    }
}

/// Parses `msg` as an ICMPv6 message from `src` to `dst`; on success it
/// must re-emit to a message that parses the same.
fn check_icmpv6(msg: &[u8], src: Ipv6Addr, dst: Ipv6Addr) {
    let Ok(repr) = Icmpv6Repr::parse(msg, src, dst) else {
        return;
    };
    assert!(msg.len() >= icmpv6::HEADER_LEN);
    let len = repr.buffer_len();
    match repr {
        Icmpv6Repr::Other { msg_type, .. } => {
            assert_eq!(len, icmpv6::HEADER_LEN);
            assert_eq!(msg_type, msg[0]);
        }
        Icmpv6Repr::EchoRequest { .. } | Icmpv6Repr::EchoReply { .. } => {
            assert_eq!(len, msg.len());
            assert!(!icmpv6::is_error(msg[0]));
        }
        _ => {
            assert_eq!(len, msg.len());
            assert!(icmpv6::is_error(msg[0]));
        }
    }
    let mut buf = vec![0xA5u8; len + 3];
    assert_eq!(repr.emit(&mut buf, src, dst), len);
    assert_eq!(&buf[len..], &[0xA5; 3], "emit wrote past buffer_len()");
    let again = Icmpv6Repr::parse(&buf[..len], src, dst).expect("emitted ICMPv6 parses (checksum)");
    assert_eq!(again, repr);
    if !matches!(repr, Icmpv6Repr::Other { .. }) {
        // Type and body as received; bytes 4..8 where they are a field;
        // the code where it is kept (echo and Packet Too Big send 0).
        assert_eq!(buf[0], msg[0]);
        assert_eq!(&buf[icmpv6::HEADER_LEN..len], &msg[icmpv6::HEADER_LEN..]);
        if matches!(
            repr,
            Icmpv6Repr::EchoRequest { .. }
                | Icmpv6Repr::EchoReply { .. }
                | Icmpv6Repr::PacketTooBig { .. }
                | Icmpv6Repr::ParamProblem { .. }
        ) {
            assert_eq!(&buf[4..8], &msg[4..8], "{repr:?}");
        } else {
            assert_eq!(&buf[4..8], &[0; 4], "{repr:?}");
        }
        if matches!(
            repr,
            Icmpv6Repr::DstUnreachable { .. }
                | Icmpv6Repr::TimeExceeded { .. }
                | Icmpv6Repr::ParamProblem { .. }
        ) {
            assert_eq!(buf[1], msg[1], "{repr:?}");
        }
    }
}

fuzz_target!(|data: &[u8]| {
    // Unchecked: the clamped accessors never panic, the field ones only
    // need the fixed header.
    let unchecked = Ipv6Packet::new_unchecked(data);
    let _ = unchecked.header();
    let _ = unchecked.payload();
    let _ = unchecked.check();
    let _ = Ipv6Repr::parse(&unchecked);
    if data.len() >= ipv6::HEADER_LEN {
        let _ = (
            unchecked.version(),
            unchecked.traffic_class(),
            unchecked.flow_label(),
            unchecked.payload_len(),
            unchecked.next_header(),
            unchecked.hop_limit(),
            unchecked.src_addr(),
            unchecked.dst_addr(),
            unchecked.total_len(),
        );
        assert!(unchecked.payload().len() <= data.len() - ipv6::HEADER_LEN);
        let mut copy = data.to_vec();
        let mut m = Ipv6Packet::new_unchecked(&mut copy[..]);
        let _ = m.payload_mut();
        m.set_hop_limit(7);
        assert_eq!(m.hop_limit(), 7);
    } else {
        let mut copy = data.to_vec();
        let _ = Ipv6Packet::new_unchecked(&mut copy[..]).payload_mut();
    }
    // The walk over arbitrary bytes (first byte as the first header).
    if let Some((&first, rest)) = data.split_first() {
        check_walk(first, rest);
    }

    let p = match Ipv6Packet::new_checked(data) {
        Ok(p) => p,
        Err(e) => {
            assert_eq!(Ipv6Repr::parse(&unchecked), Err(e));
            return;
        }
    };
    assert_eq!(p.version(), 6);
    assert_eq!(p.header().len(), ipv6::HEADER_LEN);
    assert!(p.total_len() <= data.len());
    assert_eq!(p.total_len(), ipv6::HEADER_LEN + p.payload_len());
    assert_eq!(p.payload().len(), p.payload_len());
    assert!(!(p.payload_len() == 0 && p.next_header() == ipv6::HOP_BY_HOP));
    assert!(p.flow_label() <= 0xF_FFFF);

    // Repr: parse, emit, parse again: the same header, byte for byte (every
    // field of the fixed header is in the repr).
    let r = Ipv6Repr::parse(&p).expect("a checked packet parses");
    assert_eq!(r.header_len(), ipv6::HEADER_LEN);
    assert_eq!(r.total_len(), p.total_len());
    assert_eq!((r.src, r.dst), (p.src_addr(), p.dst_addr()));
    let mut buf = vec![0u8; r.total_len()];
    r.emit(&mut buf[..ipv6::HEADER_LEN]);
    assert_eq!(&buf[..ipv6::HEADER_LEN], &data[..ipv6::HEADER_LEN]);
    buf[ipv6::HEADER_LEN..].copy_from_slice(p.payload());
    let q = Ipv6Packet::new_checked(&buf[..]).expect("emitted packet is valid");
    assert_eq!(Ipv6Repr::parse(&q).expect("reparse"), r);
    assert_eq!(q.payload(), p.payload());

    // Extension headers, then the upper layer as ICMPv6.
    let payload = p.payload();
    let (src, dst) = (r.src, r.dst);
    check_icmpv6(payload, src, dst);
    if let Some(ext) = check_walk(r.next_header, payload) {
        if ext.fragment.is_none() && ext.protocol == ipv6::PROTO_ICMPV6 && ext.offset > 0 {
            check_icmpv6(&payload[ext.offset..], src, dst);
        }
    }
});
