//! Runs the built `ustack` binary.
use std::process::Command;

fn ustack() -> Command {
    Command::new(env!("CARGO_BIN_EXE_ustack"))
}

#[test]
fn sim_json_with_loss() {
    let out = ustack()
        .args([
            "sim", "--bytes", "200000", "--loss", "0.02", "--json", "--seed", "3",
        ])
        .output()
        .expect("run ustack");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "status {:?}\nstdout {stdout}\nstderr {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        stdout.trim().lines().count(),
        1,
        "exactly one JSON line expected: {stdout}"
    );
    let v: serde_json::Value = serde_json::from_str(stdout.trim()).expect("valid JSON");
    assert_eq!(v["intact"], serde_json::Value::Bool(true), "{v}");
    assert_eq!(v["seed"], 3);
    assert_eq!(v["bytes_delivered"], 200_000);
    for key in [
        "sim_seconds",
        "goodput_mbps",
        "retransmits",
        "fast_retransmits",
        "timeouts",
        "client_final_state",
        "server_final_state",
        "packets_dropped_by_link",
        "checksum_drops",
        "trace_hash",
        "wall_ms",
    ] {
        assert!(v.get(key).is_some(), "missing key {key}: {v}");
    }
    assert!(
        v["packets_dropped_by_link"].as_u64().is_some_and(|n| n > 0),
        "{v}"
    );
}

#[test]
fn sim_human_output() {
    let out = ustack()
        .args(["sim", "--bytes", "100000", "--seed", "2"])
        .output()
        .expect("run ustack");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}");
    assert!(stdout.contains("intact:          yes"), "{stdout}");
    assert!(stdout.contains("goodput"), "{stdout}");
}

#[test]
fn bad_probability_is_rejected_clearly() {
    let out = ustack()
        .args(["sim", "--loss", "2"])
        .output()
        .expect("run ustack");
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("--loss") && stderr.contains("[0, 1]"),
        "{stderr}"
    );
    assert!(out.stdout.is_empty());
}

#[test]
fn bad_numbers_are_rejected_clearly() {
    for args in [
        ["sim", "--delay", "-3"],
        ["sim", "--mtu", "20"],
        ["sim", "--rate", "zero"],
    ] {
        let out = ustack().args(args).output().expect("run ustack");
        assert!(!out.status.success(), "{args:?}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains("invalid value"), "{args:?}: {stderr}");
    }
}

#[test]
fn small_campaign_json() {
    let out = ustack()
        .args(["sim", "--campaign", "4", "--seed", "10", "--json"])
        .output()
        .expect("run ustack");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let v: serde_json::Value = serde_json::from_str(stdout.trim()).expect("valid JSON");
    assert_eq!(v["runs"], 4, "{v}");
    assert_eq!(v["failures"], 0, "{v}");
    assert!(out.status.success());
}

/// The mechanisms in effect are reported, `--ack-train` included, with the
/// reductions undone as spurious; `--ack-train` and `--no-hystart` conflict.
#[test]
fn sim_reports_mechanisms_and_undos() {
    let run = |extra: &[&str]| {
        let mut args: Vec<&str> =
            "sim --bytes 2000000 --rate 100 --delay 40 --reorder 0.05 --json --seed 5"
                .split(' ')
                .collect();
        args.extend_from_slice(extra);
        let out = ustack().args(&args).output().expect("run ustack");
        assert!(out.status.success(), "{out:?}");
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("valid JSON");
        v
    };
    let plain = run(&[]);
    assert_eq!(plain["hystart"], true, "{plain}");
    assert_eq!(plain["hystart_ack_train"], false, "{plain}");
    for key in ["spurious_recoveries", "spurious_rtos", "dsacks_received"] {
        assert!(plain[key].as_u64().is_some(), "missing {key}: {plain}");
    }
    // 5 % reordering in slow start, before any was seen: a needless fast
    // recovery, found out and undone.
    assert!(plain["spurious_recoveries"].as_u64() >= Some(1), "{plain}");
    let train = run(&["--ack-train"]);
    assert_eq!(train["hystart_ack_train"], true, "{train}");
    let out = ustack()
        .args(["sim", "--ack-train", "--no-hystart"])
        .output()
        .expect("run ustack");
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("cannot be used with"),
        "{out:?}"
    );
}

/// A clean 160 ms path whose capacity (BDP + one-BDP queue, 4.0 MB) is
/// about the 4 MiB windows and send buffer: slow start ends by the
/// ACK-train test near the send buffer's size instead of overflowing the
/// queue at that limit (which cost a stalled round trip and two loss
/// episodes), without `--ack-train`.
#[test]
fn sim_slow_start_ends_before_the_window_limit_on_a_long_path() {
    let out = ustack()
        .args(
            "sim --json --bytes 25000000 --rate 100 --delay 80 --queue 1334 --seed 1 --time-limit 8"
                .split(' '),
        )
        .output()
        .expect("run ustack");
    assert!(out.status.success(), "{out:?}");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("valid JSON");
    assert_eq!(v["intact"], true, "{v}");
    assert_eq!(v["retransmits"], 0, "{v}");
    assert!(v["goodput_mbps"].as_f64() > Some(60.0), "{v}");
}

#[test]
fn sim_over_ipv6() {
    let out = ustack()
        .args([
            "sim",
            "--ipv6",
            "--bytes",
            "200000",
            "--loss",
            "0.01",
            "--link-mtu",
            "1400",
        ])
        .output()
        .expect("run ustack");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}");
    assert!(stdout.contains("(2001:2::1 → 2001:2::2)"), "{stdout}");
    assert!(stdout.contains("by ICMP (Packet Too Big)"), "{stdout}");
    assert!(stdout.contains("intact:          yes"), "{stdout}");
    for args in [["--mtu", "1000"], ["--link-mtu", "1200"]] {
        let out = ustack()
            .args(["sim", "--ipv6"])
            .args(args)
            .output()
            .expect("run ustack");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(
            stderr.contains(args[0]) && stderr.contains("1280"),
            "{args:?}: {stderr}"
        );
    }
}

/// Runs `ustack sim` with `args` (split at spaces) and parses its JSON.
fn sim_json(args: &str) -> (std::process::Output, serde_json::Value) {
    let out = ustack()
        .arg("sim")
        .args(args.split(' '))
        .arg("--json")
        .output()
        .expect("run ustack");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        stdout.trim().lines().count(),
        1,
        "exactly one JSON line expected: {out:?}"
    );
    let v = serde_json::from_str(stdout.trim()).expect("valid JSON");
    (out, v)
}

/// A 1 100-byte hop that drops bigger packets without an ICMP answer:
/// black-hole detection lowers the MSS after three timeouts in a row, then
/// probes search back up; the transfer completes at an MSS that fits.
#[test]
fn sim_through_a_black_hole_with_mtu_probing() {
    let (out, v) =
        sim_json("--link-mtu 1100 --black-hole --mtu-probing black-hole --bytes 2000000 --seed 1");
    assert!(out.status.success(), "{out:?}");
    assert_eq!(v["intact"], true, "{v}");
    assert_eq!(v["bytes_delivered"], 2_000_000, "{v}");
    assert_eq!(v["forward_hash_ok"], true, "{v}");
    // The settings in effect.
    assert_eq!(v["black_hole"], true, "{v}");
    assert_eq!(v["mtu_probing"], "black-hole", "{v}");
    // The hole swallowed the full-size segments and answered none.
    assert!(v["black_holed"].as_u64() >= Some(1), "{v}");
    assert_eq!(v["black_holed"], v["dropped_mtu"], "{v}");
    assert!(v["black_hole_reductions"].as_u64() >= Some(1), "{v}");
    assert!(v["mtu_probes"].as_u64() >= Some(1), "{v}");
    // The sender's final segments fit the hop: MSS + 20 (IP) + 20 (TCP)
    // + 12 (timestamps).
    let mss = v["client_final_mss"].as_u64().expect("client MSS");
    assert!(mss + 40 + 12 <= 1100, "{v}");
    if v["mtu_probe_successes"].as_u64() > Some(0) {
        assert!(mss > 1024, "a probe got through, the MSS rose: {v}");
    }
    // The human-readable summary says what happened.
    let out = ustack()
        .args(
            "sim --link-mtu 1100 --black-hole --mtu-probing black-hole --bytes 300000 --seed 1"
                .split(' '),
        )
        .output()
        .expect("run ustack");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}");
    assert!(stdout.contains("black hole (no ICMP)"), "{stdout}");
    assert!(
        stdout.contains("mtu probing:     black-hole;")
            && stdout.contains("by black-hole detection"),
        "{stdout}"
    );
}

/// Without probing, the same black hole stalls the connection: every
/// full-size segment vanishes and nothing says why. The run fails at its
/// time limit, and the CLI suggests --mtu-probing.
#[test]
fn sim_black_hole_without_mtu_probing_stalls() {
    let (out, v) = sim_json("--link-mtu 1100 --black-hole --bytes 200000 --time-limit 30");
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert_eq!(v["intact"], false, "{v}");
    assert_eq!(v["mtu_probing"], "off", "{v}");
    assert!(
        v["error"]
            .as_str()
            .is_some_and(|e| e.contains("time limit")),
        "{v}"
    );
    assert_eq!(v["bytes_delivered"], 0, "{v}");
    assert_eq!(v["black_hole_reductions"], 0, "{v}");
    assert!(v["black_holed"].as_u64() >= Some(3), "{v}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("--mtu-probing black-hole"), "{stderr}");
}

#[test]
fn black_hole_needs_a_narrow_link() {
    let out = ustack()
        .args(["sim", "--black-hole"])
        .output()
        .expect("run ustack");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("--black-hole needs --link-mtu"), "{stderr}");
    assert!(out.stdout.is_empty());
    // The same for the TUN forwarder (checked before any device is opened).
    let out = ustack()
        .args([
            "impair",
            "--tun-a",
            "ustk-x",
            "--tun-b",
            "ustk-y",
            "--black-hole",
        ])
        .output()
        .expect("run ustack");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(stderr.contains("--black-hole needs --mtu"), "{stderr}");
    // A mode that does not exist is refused clearly.
    let out = ustack()
        .args(["sim", "--mtu-probing", "on"])
        .output()
        .expect("run ustack");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.contains("invalid value") && stderr.contains("black-hole"),
        "{stderr}"
    );
    // Neither belongs with a campaign, which draws each seed's profile.
    let out = ustack()
        .args(["sim", "--campaign", "1", "--mtu-probing", "always"])
        .output()
        .expect("run ustack");
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("cannot be used with"),
        "{out:?}"
    );
}
