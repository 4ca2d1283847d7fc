//! UDP header parser: length and checksum checks, emit → parse round trip.
#![no_main]
use libfuzzer_sys::fuzz_target;
use std::net::{IpAddr, Ipv4Addr};
use ustack::wire::udp::{UdpPacket, UdpRepr};

fuzz_target!(|data: &[u8]| {
    let (a, b) = (
        IpAddr::V4(Ipv4Addr::new(198, 18, 0, 2)),
        IpAddr::V4(Ipv4Addr::new(198, 18, 0, 1)),
    );
    let unchecked = UdpPacket::new_unchecked(data);
    let _ = unchecked.payload();
    let _ = unchecked.verify_checksum(a, b);
    let Ok(p) = UdpPacket::new_checked(data) else {
        return;
    };
    assert!(p.len() >= 8 && p.len() <= data.len());
    assert_eq!(p.payload().len(), p.len() - 8);
    let _ = p.verify_checksum(a, b);
    let repr = UdpRepr {
        src_port: p.src_port(),
        dst_port: p.dst_port(),
    };
    let mut buf = vec![0u8; 8 + p.payload().len()];
    repr.emit(&mut buf, p.payload(), a, b);
    let q = UdpPacket::new_checked(&buf[..]).expect("emitted datagram is valid");
    assert!(q.checksum() != 0 && q.verify_checksum(a, b));
    assert_eq!(q.payload(), p.payload());
    assert_eq!((q.src_port(), q.dst_port()), (p.src_port(), p.dst_port()));
});
