//! TCP segment and options parser: checked view, options, repr parse, and
//! emit → parse round trip (options re-encoded: same values; SACK blocks
//! may be cut to what fits the 40-byte option space).
#![no_main]
use libfuzzer_sys::fuzz_target;
use std::net::{IpAddr, Ipv4Addr};
use ustack::wire::tcp::{TcpOptions, TcpPacket, TcpRepr};

fn strip(mut x: TcpRepr<'_>) -> TcpRepr<'_> {
    x.options.sack_blocks = Default::default();
    x
}

fuzz_target!(|data: &[u8]| {
    // The options parser alone, on any bytes.
    let _ = TcpOptions::parse(data);
    let Ok(p) = TcpPacket::new_checked(data) else {
        return;
    };
    assert!(p.header_len() >= 20 && p.header_len() <= data.len());
    assert_eq!(p.options().len() + p.payload().len() + 20, data.len());
    let (a, b) = (
        IpAddr::V4(Ipv4Addr::new(198, 18, 0, 2)),
        IpAddr::V4(Ipv4Addr::new(198, 18, 0, 1)),
    );
    let _ = p.verify_checksum(a, b);
    let Ok(r) = TcpRepr::parse(&p) else {
        return;
    };
    assert_eq!(r.payload, p.payload());
    assert!(r.options.emit_len() <= 40 && r.options.emit_len() % 4 == 0);
    let mut buf = vec![0u8; r.header_len() + r.payload.len()];
    let n = r.emit(&mut buf, a, b);
    assert_eq!(n, buf.len());
    let q = TcpPacket::new_checked(&buf[..]).expect("emitted segment is valid");
    assert!(q.verify_checksum(a, b), "emitted checksum");
    let r2 = TcpRepr::parse(&q).expect("emitted options parse");
    assert_eq!(strip(r2), strip(r));
    let kept = r2.options.sack_count();
    assert!(kept <= r.options.sack_count());
    assert_eq!(
        r2.options.sack_blocks[..kept],
        r.options.sack_blocks[..kept],
        "SACK blocks kept in order"
    );
});
