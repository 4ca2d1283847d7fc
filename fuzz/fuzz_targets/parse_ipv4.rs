//! IPv4 header parser: checked views, repr parse, and emit → parse round
//! trip. Unchecked views' clamped accessors must not panic either.
#![no_main]
use libfuzzer_sys::fuzz_target;
use ustack::wire::ipv4::{Ipv4Packet, Ipv4Repr};

fuzz_target!(|data: &[u8]| {
    let unchecked = Ipv4Packet::new_unchecked(data);
    let _ = unchecked.header();
    let _ = unchecked.payload();
    let _ = unchecked.verify_checksum();
    let _ = Ipv4Repr::parse(&unchecked);
    let Ok(p) = Ipv4Packet::new_checked(data) else {
        return;
    };
    assert!(p.header_len() >= 20 && p.header_len() <= p.total_len());
    assert!(p.total_len() <= data.len());
    assert_eq!(p.payload().len(), p.total_len() - p.header_len());
    let ok = p.verify_checksum();
    match Ipv4Repr::parse(&p) {
        Ok(r) => {
            assert!(ok);
            assert_eq!(r.payload_len, p.total_len() - p.header_len());
            // Emit (options are dropped) and parse again: same header.
            let mut buf = vec![0u8; r.total_len()];
            r.emit(&mut buf[..20]);
            let q = Ipv4Packet::new_checked(&buf[..]).expect("emitted header is valid");
            assert!(q.verify_checksum());
            assert_eq!(Ipv4Repr::parse(&q).expect("reparse"), r);
        }
        Err(_) => assert!(!ok),
    }
});
