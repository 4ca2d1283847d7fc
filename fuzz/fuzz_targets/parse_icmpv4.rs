//! ICMPv4 parser, the quoted-header parser used for ICMP errors (RFC 5927
//! checks), and emit → parse round trip.
#![no_main]
use libfuzzer_sys::fuzz_target;
use ustack::icmp::parse_quoted;
use ustack::wire::icmpv4::Icmpv4Repr;

fuzz_target!(|data: &[u8]| {
    let _ = parse_quoted(data);
    let Ok(r) = Icmpv4Repr::parse(data) else {
        return;
    };
    if let Icmpv4Repr::DstUnreachable { quoted, .. } | Icmpv4Repr::TimeExceeded { quoted, .. } = r {
        let _ = parse_quoted(quoted);
    }
    if let Icmpv4Repr::Other { .. } = r {
        return; // not re-encodable with its body
    }
    let mut buf = vec![0u8; r.buffer_len()];
    assert_eq!(r.emit(&mut buf), buf.len());
    let r2 = Icmpv4Repr::parse(&buf).expect("emitted message parses");
    assert_eq!(r2, r);
});
