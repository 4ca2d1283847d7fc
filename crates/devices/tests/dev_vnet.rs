//! The TUN offload header code never panics on what the kernel hands it,
//! and joins only what it may.
use proptest::prelude::*;
use ustack_devices::tun::vnet::{complete_rx, TxBatch, HEADER_LEN};

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    /// Any header with any packet: an answer, never a panic, and the
    /// packet keeps its length.
    #[test]
    fn complete_rx_never_panics(
        hdr in proptest::array::uniform10(any::<u8>()),
        packet in proptest::collection::vec(any::<u8>(), 0..2000),
    ) {
        let mut p = packet.clone();
        let _ = complete_rx(&hdr, &mut p);
        prop_assert_eq!(p.len(), packet.len());
    }

    /// Any packets offered to a batch: never a panic, and every frame it
    /// writes is an offload header and at most 64 KiB of packet.
    #[test]
    fn batches_never_panic_or_overflow(
        packets in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..1600), 1..40),
        seed in any::<u8>(),
    ) {
        let mut b = TxBatch::default();
        for mut p in packets {
            // Make some of them look like IPv4/TCP so the joining paths run.
            if seed & 1 == 0 && p.len() >= 40 {
                p[0] = 0x45;
                p[9] = 6;
                let len = p.len() as u16;
                p[2..4].copy_from_slice(&len.to_be_bytes());
                p[6] = 0x40;
                p[7] = 0;
                p[32] = 0x50;
                p[33] = 0x10;
            }
            if b.append(&p) {
                continue;
            }
            if let Some(f) = b.finish() {
                prop_assert!(f.len() >= HEADER_LEN && f.len() <= HEADER_LEN + 65_535);
            }
            b.clear();
            if !b.start(&p) {
                b.single(&p);
            }
        }
        if let Some(f) = b.finish() {
            prop_assert!(f.len() <= HEADER_LEN + 65_535);
        }
    }
}

#[test]
fn an_oversized_packet_is_held_alone_without_panicking() {
    let mut b = TxBatch::default();
    let big = vec![0x45u8; 70_000];
    assert!(!b.start(&big));
    b.single(&big);
    assert_eq!(b.finish().map(<[u8]>::len), Some(HEADER_LEN + 70_000));
}
