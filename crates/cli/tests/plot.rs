//! `ustack plot` on captures of every supported kind, and on garbage.
mod demo_support;

use demo_support::{check_svg, tshark};
use std::path::Path;
use std::process::{Command, Output};

fn plot(file: &Path, out: &Path, extra: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ustack"))
        .arg("plot")
        .arg(file)
        .arg("--out")
        .arg(out)
        .args(extra)
        .output()
        .expect("run ustack plot")
}

/// An IPv4/TCP packet from `src` to `dst`.
fn tcp(
    src: ([u8; 4], u16),
    dst: ([u8; 4], u16),
    flags: u8,
    seq: u32,
    ack: u32,
    len: usize,
    wscale: Option<u8>,
) -> Vec<u8> {
    let opts: Vec<u8> = wscale.map_or(Vec::new(), |w| vec![1, 3, 3, w]);
    let total = 20 + 20 + opts.len() + len;
    let mut p = vec![0u8; total];
    p[0] = 0x45;
    p[2..4].copy_from_slice(&(total as u16).to_be_bytes());
    p[8] = 64;
    p[9] = 6;
    p[12..16].copy_from_slice(&src.0);
    p[16..20].copy_from_slice(&dst.0);
    let t = &mut p[20..];
    t[0..2].copy_from_slice(&src.1.to_be_bytes());
    t[2..4].copy_from_slice(&dst.1.to_be_bytes());
    t[4..8].copy_from_slice(&seq.to_be_bytes());
    t[8..12].copy_from_slice(&ack.to_be_bytes());
    t[12] = (((20 + opts.len()) / 4) as u8) << 4;
    t[13] = flags;
    t[14..16].copy_from_slice(&512u16.to_be_bytes());
    t[20..20 + opts.len()].copy_from_slice(&opts);
    p
}

/// A download of 40 segments server → client with one loss, plus a small
/// unrelated connection; (time µs, IP packet).
fn flow() -> Vec<(u64, Vec<u8>)> {
    const SYN: u8 = 0x02;
    const ACK: u8 = 0x10;
    const FIN: u8 = 0x01;
    let c = ([192, 168, 1, 10], 50000);
    let s = ([93, 184, 216, 34], 443);
    let (ci, si) = (1000u32, 4_000_000_000u32);
    let mut v = vec![
        (0, tcp(c, s, SYN, ci, 0, 0, Some(7))),
        (20_000, tcp(s, c, SYN | ACK, si, ci + 1, 0, Some(7))),
        (20_100, tcp(c, s, ACK, ci + 1, si + 1, 0, None)),
    ];
    let mut t = 21_000;
    for i in 0..40u32 {
        let seq = si + 1 + i * 1000;
        if i != 5 {
            v.push((t, tcp(s, c, ACK, seq, ci + 1, 1000, None)));
        }
        let acked = if i < 5 { seq + 1000 } else { si + 1 + 5000 };
        v.push((t + 50, tcp(c, s, ACK, ci + 1, acked, 0, None)));
        t += 500;
    }
    // The retransmission of segment 5, and the cumulative ACK it releases.
    v.push((t, tcp(s, c, ACK, si + 1 + 5000, ci + 1, 1000, None)));
    v.push((t + 50, tcp(c, s, ACK, ci + 1, si + 1 + 40_000, 0, None)));
    v.push((
        t + 100,
        tcp(c, s, FIN | ACK, ci + 1, si + 1 + 40_000, 0, None),
    ));
    // Another, smaller connection.
    let o = ([10, 0, 0, 1], 1234);
    let p = ([10, 0, 0, 2], 80);
    v.push((t + 200, tcp(o, p, ACK, 7, 9, 300, None)));
    v
}

/// A classic little-endian pcap of `frames` with `linktype`, each packet
/// behind `link_header`.
fn pcap(linktype: u32, link_header: &[u8], frames: &[(u64, Vec<u8>)]) -> Vec<u8> {
    let mut b = Vec::new();
    b.extend_from_slice(&0xa1b2_c3d4u32.to_le_bytes());
    b.extend_from_slice(&2u16.to_le_bytes());
    b.extend_from_slice(&4u16.to_le_bytes());
    b.extend_from_slice(&[0; 8]);
    b.extend_from_slice(&65535u32.to_le_bytes());
    b.extend_from_slice(&linktype.to_le_bytes());
    for (us, ip) in frames {
        let len = (link_header.len() + ip.len()) as u32;
        b.extend_from_slice(&((1_700_000_000 + us / 1_000_000) as u32).to_le_bytes());
        b.extend_from_slice(&((us % 1_000_000) as u32).to_le_bytes());
        b.extend_from_slice(&len.to_le_bytes());
        b.extend_from_slice(&len.to_le_bytes());
        b.extend_from_slice(link_header);
        b.extend_from_slice(ip);
    }
    b
}

fn check_plot(file: &Path, expect_retx: &str) {
    let out = tempfile::tempdir().expect("tempdir");
    let o = plot(file, out.path(), &[]);
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(
        o.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(
        stdout.contains("flow 93.184.216.34:443 → 192.168.1.10:50000"),
        "{stdout}"
    );
    assert!(stdout.contains(expect_retx), "{stdout}");
    check_svg(
        &out.path().join("time-sequence.svg"),
        &[
            "data segment",
            "retransmitted segment",
            "cumulative ACK",
            "receive window (ACK + advertised window)",
        ],
    );
    check_svg(
        &out.path().join("cwnd.svg"),
        &["bytes in flight (highest seq sent − highest ACK the sender had seen)"],
    );
    let cwnd = std::fs::read_to_string(out.path().join("cwnd.svg")).expect("read");
    assert!(
        cwnd.contains("estimate"),
        "the cwnd plot must say it is an estimate"
    );
}

#[test]
fn raw_ethernet_and_linux_cooked_captures() {
    let dir = tempfile::tempdir().expect("tempdir");
    let f = flow();
    let mut eth = vec![0u8; 12];
    eth.extend_from_slice(&[0x08, 0x00]);
    let mut sll = vec![0u8; 14];
    sll.extend_from_slice(&[0x08, 0x00]);
    for (name, lt, hdr) in [
        ("raw.pcap", 101, Vec::new()),
        ("eth.pcap", 1, eth),
        ("sll.pcap", 113, sll),
    ] {
        let path = dir.path().join(name);
        std::fs::write(&path, pcap(lt, &hdr, &f)).expect("write");
        check_plot(&path, "1 retransmitted");
    }
}

#[test]
fn pcapng_from_tshark() {
    let Some(ts) = tshark() else { return };
    let dir = tempfile::tempdir().expect("tempdir");
    let mut eth = vec![0u8; 12];
    eth.extend_from_slice(&[0x08, 0x00]);
    let classic = dir.path().join("eth.pcap");
    std::fs::write(&classic, pcap(1, &eth, &flow())).expect("write");
    let ng = dir.path().join("eth.pcapng");
    let o = Command::new(ts)
        .arg("-r")
        .arg(&classic)
        .args(["-F", "pcapng", "-w"])
        .arg(&ng)
        .output()
        .expect("tshark");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    check_plot(&ng, "1 retransmitted");
}

#[test]
fn choosing_a_flow() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("raw.pcap");
    std::fs::write(&path, pcap(101, &[], &flow())).expect("write");
    let out = dir.path().join("out");
    let o = plot(&path, &out, &["--flow", "10.0.0.1:1234-10.0.0.2:80"]);
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(
        stdout.contains("flow 10.0.0.1:1234 → 10.0.0.2:80: 300 payload bytes"),
        "{stdout}"
    );
    let o = plot(&path, &out, &["--flow", "10.9.9.9:1-10.9.9.8:2"]);
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("no segments from 10.9.9.9:1 to 10.9.9.8:2")
            && err.contains("93.184.216.34:443"),
        "{err}"
    );
    let o = plot(&path, &out, &["--flow", "nonsense"]);
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("is not a flow"));
}

#[test]
fn garbage_is_a_clear_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("out");
    let cases: [(&str, Vec<u8>, &str); 4] = [
        (
            "text.pcap",
            b"this is not a capture file at all\n".to_vec(),
            "not a pcap or pcapng file",
        ),
        ("short.pcap", vec![0xd4, 0xc3], "not a capture file"),
        ("empty.pcap", pcap(101, &[], &[]), "no TCP segments found"),
        (
            "wifi.pcap",
            pcap(105, &[], &[]),
            "unsupported link type 105",
        ),
    ];
    for (name, bytes, needle) in cases {
        let path = dir.path().join(name);
        std::fs::write(&path, bytes).expect("write");
        let o = plot(&path, &out, &[]);
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(!o.status.success(), "{name} accepted");
        assert!(err.contains(needle), "{name}: {err}");
        assert!(err.starts_with("ustack plot: "), "{name}: {err}");
    }
    let o = plot(&dir.path().join("missing.pcap"), &out, &[]);
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("cannot read"));
    assert!(
        !out.join("time-sequence.svg").exists(),
        "no SVG from a failed plot"
    );
}
