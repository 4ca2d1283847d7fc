//! The capture wrapper: traffic passes through unchanged and lands in a
//! classic pcap file.
use std::path::PathBuf;
use std::time::{SystemTime, UNIX_EPOCH};
use ustack_devices::pcap::{parse_pcap, LINKTYPE_RAW};
use ustack_devices::{pair, Capture, Device};

/// A fresh path in the temp directory, removed on drop.
struct TempPath(PathBuf);

impl TempPath {
    fn new(tag: &str) -> TempPath {
        let p = std::env::temp_dir().join(format!("ustack-dev-{tag}-{}.pcap", std::process::id()));
        let _ = std::fs::remove_file(&p);
        TempPath(p)
    }
}

impl Drop for TempPath {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970")
        .as_secs()
}

fn packet(tag: u8, len: usize) -> Vec<u8> {
    let mut p: Vec<u8> = (0..len).map(|i| (i as u8).wrapping_mul(7) ^ tag).collect();
    p[0] = 0x45; // looks like IPv4 to a pcap reader
    p
}

#[test]
fn records_sent_and_received_packets() {
    let tmp = TempPath::new("capture");
    let (a, b) = pair(1500).expect("pair");
    let start = now_secs();
    let cap = Capture::new(a, &tmp.0).expect("capture");
    assert_eq!(cap.mtu(), 1500);
    assert_eq!(cap.readable_fd(), cap.inner().readable_fd());

    let out: Vec<Vec<u8>> = vec![packet(1, 60), packet(2, 1500), packet(3, 20)];
    let back: Vec<Vec<u8>> = vec![packet(4, 40), packet(5, 576)];
    let mut buf = vec![0u8; 1500];

    // Nothing waiting: nothing recorded.
    assert_eq!(cap.recv(&mut buf).expect("recv"), None);
    for p in &out {
        cap.send(p).expect("send");
    }
    for p in &out {
        let n = b.recv(&mut buf).expect("recv").expect("packet");
        assert_eq!(&buf[..n], &p[..], "passed through unchanged");
    }
    for p in &back {
        b.send(p).expect("send");
    }
    for p in &back {
        let n = cap.recv(&mut buf).expect("recv").expect("packet");
        assert_eq!(&buf[..n], &p[..], "passed through unchanged");
    }
    assert_eq!(cap.recv(&mut buf).expect("recv"), None);
    assert_eq!(cap.packets(), 5);

    // flush() makes the records visible without dropping the device.
    cap.flush().expect("flush");
    let flushed = std::fs::read(&tmp.0).expect("read pcap");
    drop(cap);
    let end = now_secs();
    let bytes = std::fs::read(&tmp.0).expect("read pcap");
    assert_eq!(flushed, bytes, "drop wrote nothing more after flush");

    // Global header, byte by byte.
    assert_eq!(
        &bytes[..24],
        &[
            0xd4, 0xc3, 0xb2, 0xa1, // magic 0xa1b2c3d4, little-endian
            2, 0, 4, 0, // version 2.4
            0, 0, 0, 0, // thiszone
            0, 0, 0, 0, // sigfigs
            0xff, 0xff, 0, 0, // snaplen 65535
            101, 0, 0, 0, // LINKTYPE_RAW
        ]
    );

    // Records, walked by hand: sent packets first, then received ones.
    let expected: Vec<&Vec<u8>> = out.iter().chain(back.iter()).collect();
    let mut at = 24;
    let rd32 = |at: usize| u32::from_le_bytes(bytes[at..at + 4].try_into().expect("4 bytes"));
    for p in &expected {
        let (sec, usec, incl, orig) = (rd32(at), rd32(at + 4), rd32(at + 8), rd32(at + 12));
        assert!(
            (start..=end).contains(&u64::from(sec)),
            "timestamp {sec} outside [{start}, {end}]"
        );
        assert!(usec < 1_000_000);
        assert_eq!(incl as usize, p.len());
        assert_eq!(orig as usize, p.len());
        assert_eq!(&bytes[at + 16..at + 16 + p.len()], &p[..]);
        at += 16 + p.len();
    }
    assert_eq!(at, bytes.len(), "no trailing bytes");

    // And through the crate's own parser, timestamps in order.
    let (linktype, records) = parse_pcap(&bytes).expect("parse");
    assert_eq!(linktype, LINKTYPE_RAW);
    assert_eq!(records.len(), expected.len());
    for (r, p) in records.iter().zip(&expected) {
        assert_eq!(&r.data, *p);
    }
    let stamps: Vec<(u32, u32)> = records.iter().map(|r| (r.ts_sec, r.ts_usec)).collect();
    assert!(stamps.windows(2).all(|w| w[0] <= w[1]), "{stamps:?}");
}

#[test]
fn a_packet_the_inner_device_drops_is_still_recorded() {
    let tmp = TempPath::new("capture-drop");
    let (a, b) = pair(1500).expect("pair");
    drop(b); // peer gone: the pair drops everything
    let cap = Capture::new(a, &tmp.0).expect("capture");
    cap.send(&packet(9, 100)).expect("send");
    assert_eq!(cap.inner().dropped(), 1);
    drop(cap);
    let (_, records) = parse_pcap(&std::fs::read(&tmp.0).expect("read")).expect("parse");
    assert_eq!(records.len(), 1);
    assert_eq!(records[0].data, packet(9, 100));
}

#[test]
fn an_unwritable_path_is_a_clear_error() {
    let (a, _b) = pair(1500).expect("pair");
    let path = std::env::temp_dir()
        .join("ustack-no-such-dir-for-capture")
        .join("x.pcap");
    let err = Capture::new(a, &path).expect_err("missing directory");
    assert_eq!(err.kind(), std::io::ErrorKind::NotFound);
    let msg = err.to_string();
    assert!(
        msg.contains("cannot create pcap file") && msg.contains("x.pcap"),
        "{msg}"
    );
}

#[test]
fn capture_works_behind_an_arc_from_several_threads() {
    let tmp = TempPath::new("capture-threads");
    let (a, b) = pair(1500).expect("pair");
    let cap = std::sync::Arc::new(Capture::new(a, &tmp.0).expect("capture"));
    let threads: Vec<_> = (0..4u8)
        .map(|t| {
            let cap = std::sync::Arc::clone(&cap);
            std::thread::spawn(move || {
                for i in 0..50u8 {
                    cap.send(&packet(
                        t.wrapping_mul(50).wrapping_add(i),
                        64 + usize::from(t),
                    ))
                    .expect("send");
                }
            })
        })
        .collect();
    for t in threads {
        t.join().expect("thread");
    }
    let mut buf = vec![0u8; 1500];
    let mut delivered = 0;
    while b.recv(&mut buf).expect("recv").is_some() {
        delivered += 1;
    }
    assert_eq!(delivered, 200);
    drop(cap);
    let (_, records) = parse_pcap(&std::fs::read(&tmp.0).expect("read")).expect("parse");
    assert_eq!(records.len(), 200, "every record whole");
    for t in 0..4usize {
        assert_eq!(
            records.iter().filter(|r| r.data.len() == 64 + t).count(),
            50
        );
    }
}
