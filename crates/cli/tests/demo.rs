//! `ustack demo` end to end: runs the built binary once (shared by the
//! tests below) and checks what it prints and the files it writes.
mod demo_support;

use demo_support::{check_svg, run_tshark, tshark};
use std::path::PathBuf;
use std::process::Command;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

fn ustack() -> Command {
    Command::new(env!("CARGO_BIN_EXE_ustack"))
}

struct Run {
    _dir: tempfile::TempDir,
    out: PathBuf,
    stdout: String,
    elapsed: Duration,
}

/// The demo, run once with defaults and seed 1.
fn demo() -> &'static Run {
    static RUN: OnceLock<Run> = OnceLock::new();
    RUN.get_or_init(|| {
        let dir = tempfile::tempdir().expect("tempdir");
        let out = dir.path().join("out");
        let t = Instant::now();
        let o = ustack()
            .args(["demo", "--seed", "1", "--no-color", "--out"])
            .arg(&out)
            .output()
            .expect("run ustack demo");
        let elapsed = t.elapsed();
        let stdout = String::from_utf8_lossy(&o.stdout).into_owned();
        assert!(
            o.status.success(),
            "status {:?}\nstdout:\n{stdout}\nstderr:\n{}",
            o.status,
            String::from_utf8_lossy(&o.stderr)
        );
        Run {
            _dir: dir,
            out,
            stdout,
            elapsed,
        }
    })
}

/// Asserts `needle` is in the demo's output.
fn shows(needle: &str) {
    let r = demo();
    assert!(
        r.stdout.contains(needle),
        "missing {needle:?} in:\n{}",
        r.stdout
    );
}

/// The line of a sequence diagram that carries `flags` (`── FLAGS seq=`).
fn diagram_line(section: &str, flags: &str) -> String {
    let r = demo();
    let start = r
        .stdout
        .find(section)
        .unwrap_or_else(|| panic!("no section {section:?}"));
    let text = &r.stdout[start..];
    let right = format!("── {flags} seq=");
    let left = format!("◀── {flags} seq=");
    text.lines()
        .find(|l| l.contains(&left) || (l.contains(&right) && !l.contains('◀')))
        .unwrap_or_else(|| panic!("no {flags} segment in {section}:\n{}", r.stdout))
        .to_string()
}

#[test]
fn handshake_diagram_shows_flags_and_states() {
    let syn = diagram_line("1. The three-way handshake", "SYN");
    assert!(
        syn.contains("SYN-SENT") && syn.contains("SYN-RECEIVED"),
        "{syn}"
    );
    let synack = diagram_line("1. The three-way handshake", "SYN|ACK");
    assert!(synack.contains("ack=1"), "{synack}");
    assert!(synack.contains("ESTABLISHED"), "{synack}");
    let ack = diagram_line("1. The three-way handshake", "ACK");
    assert!(ack.matches("ESTABLISHED").count() == 2, "{ack}");
    shows("Initial sequence numbers");
}

#[test]
fn echo_sticky_packets_and_framing() {
    shows("\"HELLO, USTACK\\n\"");
    shows("write(\"Hello\")  write(\"World\")");
    shows("read() → 10 bytes \"HelloWorld\"");
    shows("glued together");
    shows("ONE read() got BOTH messages");
    shows("read_frame() → \"Hello\"");
    shows("read_frame() → \"World\"");
    shows("message boundaries kept");
}

#[test]
fn authentication_and_intact_download() {
    shows("impostor (wrong key):  rejected");
    shows("authenticated");
    shows("download intact");
    shows("bytes downloaded           2,000,000");
}

#[test]
fn four_way_close_passes_every_state() {
    let r = demo();
    let close = &r.stdout[r
        .stdout
        .find("4. The four-way close")
        .expect("close section")..];
    let close = &close[..close.find("5. Summary").expect("summary")];
    for state in [
        "FIN-WAIT-1",
        "FIN-WAIT-2",
        "CLOSE-WAIT",
        "LAST-ACK",
        "TIME-WAIT",
        "CLOSED",
    ] {
        assert!(close.contains(state), "no {state} in:\n{close}");
    }
    assert!(close.matches("FIN|ACK").count() >= 2, "{close}");
}

#[test]
fn summary_and_timing() {
    for key in [
        "goodput",
        "smoothed RTT",
        "retransmitted segments",
        "fast retransmits",
        "retransmission timeouts",
        "cwnd max",
        "demo.pcap",
        "time-sequence.svg",
        "cwnd.svg",
    ] {
        shows(key);
    }
    let r = demo();
    assert!(
        !r.stdout.contains('\x1b'),
        "colour codes despite --no-color"
    );
    assert!(
        r.elapsed < Duration::from_secs(20),
        "the demo took {:?}",
        r.elapsed
    );
}

#[test]
fn svgs_are_well_formed_graphs() {
    let r = demo();
    check_svg(
        &r.out.join("time-sequence.svg"),
        &[
            "data segment",
            "cumulative ACK",
            "receive window (ACK + advertised window)",
        ],
    );
    check_svg(&r.out.join("cwnd.svg"), &["cwnd", "ssthresh"]);
}

fn pcap(r: &Run) -> String {
    r.out.join("demo.pcap").to_string_lossy().into_owned()
}

#[test]
fn pcap_opens_in_tshark_with_handshake_close_and_good_checksums() {
    let Some(ts) = tshark() else { return };
    let r = demo();
    let f = pcap(r);
    let all = run_tshark(ts, &["-r", &f]);
    assert!(
        all.lines().count() > 1000,
        "{} packets",
        all.lines().count()
    );
    let flags = run_tshark(ts, &["-r", &f, "-T", "fields", "-e", "tcp.flags.str"]);
    // tcp.flags.str looks like "··········S·" / "·······A··S·" / "·······A···F".
    let syn = flags.lines().filter(|l| l.ends_with("S·")).count();
    let synack = flags
        .lines()
        .filter(|l| l.contains('A') && l.ends_with("S·"))
        .count();
    let fin = flags.lines().filter(|l| l.ends_with('F')).count();
    assert!(
        syn >= 4 && synack >= 4 && fin >= 4,
        "SYN {syn} SYN/ACK {synack} FIN {fin}"
    );
    let checks = [
        "-o",
        "tcp.check_checksum:TRUE",
        "-o",
        "ip.check_checksum:TRUE",
    ];
    let mut args = vec!["-r", f.as_str()];
    args.extend(checks);
    args.extend(["-Y", "tcp.checksum.status == 0 || ip.checksum.status == 0"]);
    let bad = run_tshark(ts, &args);
    assert!(bad.trim().is_empty(), "checksum errors:\n{bad}");
    // And the checksums were really verified (status 1 = good).
    let mut args = vec!["-r", f.as_str()];
    args.extend(checks);
    args.extend([
        "-T",
        "fields",
        "-e",
        "tcp.checksum.status",
        "-e",
        "ip.checksum.status",
    ]);
    let statuses = run_tshark(ts, &args);
    assert!(
        statuses.lines().all(|l| l.split('\t').all(|s| s == "1")),
        "unverified checksums: {}",
        statuses
            .lines()
            .find(|l| l.split('\t').any(|s| s != "1"))
            .unwrap_or("")
    );
}

#[test]
fn plot_draws_the_demo_pcap() {
    let r = demo();
    let dir = tempfile::tempdir().expect("tempdir");
    let o = ustack()
        .arg("plot")
        .arg(r.out.join("demo.pcap"))
        .arg("--out")
        .arg(dir.path())
        .output()
        .expect("run ustack plot");
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(
        o.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(stdout.contains(":9001 → 198.18.0.1:"), "{stdout}");
    check_svg(
        &dir.path().join("time-sequence.svg"),
        &["data segment", "cumulative ACK"],
    );
    check_svg(
        &dir.path().join("cwnd.svg"),
        &["bytes in flight (highest seq sent − highest ACK the sender had seen)"],
    );
}

/// `ustack demo --ipv6`: the same story over IPv6 — the addresses in the
/// diagrams, an intact download, a capture of IPv6 packets only with good
/// TCP checksums that `ustack plot` reads.
#[test]
fn the_demo_runs_over_ipv6() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("out");
    let o = ustack()
        .args([
            "demo",
            "--ipv6",
            "--seed",
            "2",
            "--file-size",
            "300000",
            "--no-color",
        ])
        .arg("--out")
        .arg(&out)
        .output()
        .expect("run ustack demo");
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(
        o.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&o.stderr)
    );
    for needle in [
        "client 2001:2::1 and server 2001:2::2",
        "client [2001:2::1]:",
        "server [2001:2::2]:7",
        "download intact",
        "TIME-WAIT",
    ] {
        assert!(stdout.contains(needle), "missing {needle:?} in:\n{stdout}");
    }
    let f = out.join("demo.pcap");
    let plot = ustack()
        .arg("plot")
        .arg(&f)
        .arg("--out")
        .arg(dir.path().join("plot"))
        .output()
        .expect("run ustack plot");
    let text = String::from_utf8_lossy(&plot.stdout);
    assert!(plot.status.success(), "{text}");
    assert!(text.contains("[2001:2::2]:9001 → [2001:2::1]:"), "{text}");
    let Some(ts) = tshark() else { return };
    let f = f.to_string_lossy().into_owned();
    let not_v6 = run_tshark(ts, &["-r", &f, "-Y", "!ipv6"]);
    assert!(
        not_v6.trim().is_empty(),
        "packets other than IPv6:\n{not_v6}"
    );
    let args = [
        "-r",
        f.as_str(),
        "-o",
        "tcp.check_checksum:TRUE",
        "-T",
        "fields",
        "-e",
        "tcp.checksum.status",
        "-e",
        "tcp.flags.str",
    ];
    let rows = run_tshark(ts, &args);
    assert!(
        rows.lines().count() > 300,
        "{} packets",
        rows.lines().count()
    );
    assert!(
        rows.lines().all(|l| l.starts_with("1\t")),
        "a TCP checksum not verified good: {}",
        rows.lines().find(|l| !l.starts_with("1\t")).unwrap_or("")
    );
    let syns = rows.lines().filter(|l| l.ends_with("S·")).count();
    assert!(syns >= 4, "{syns} SYNs");
}

#[test]
fn bad_arguments_are_clear_errors() {
    for (args, needle) in [
        (&["--loss", "2"][..], "not a probability"),
        (&["--loss", "-0.1"], "not a probability"),
        (&["--rate", "0"], "must be positive"),
        (&["--delay", "-3"], "cannot be negative"),
        (&["--file-size", "zero"], "not a whole number"),
    ] {
        let o = ustack().arg("demo").args(args).output().expect("run");
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(!o.status.success(), "{args:?} accepted");
        assert!(err.contains(needle), "{args:?}: {err}");
    }
    // An output directory that cannot be created.
    let o = ustack()
        .args(["demo", "--out", "/proc/ustack-demo-cannot-exist"])
        .output()
        .expect("run");
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("cannot create the output directory"), "{err}");
}
