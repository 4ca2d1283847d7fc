//! The Linux TUN device against the real kernel.
//!
//! Needs root and /dev/net/tun; without them the tests print "skipping: ..."
//! and pass, unless `USTACK_REQUIRE_TUN=1` is set, which makes them fail.
//!
//! Only addresses from 198.18.0.0/15 (benchmarking range, RFC 2544) are used,
//! and packets go only to the test's own TUN interface, which is deleted at
//! the end even if the test fails.
use std::io::ErrorKind;
use std::net::Ipv4Addr;
use std::os::fd::RawFd;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use ustack_devices::{Device, TunDevice};
use ustack_wire::icmpv4::Icmpv4Repr;
use ustack_wire::ipv4::{Ipv4Packet, Ipv4Repr, PROTO_ICMP};

fn require_tun() -> bool {
    std::env::var("USTACK_REQUIRE_TUN").is_ok_and(|v| v == "1")
}

/// Skips the test (returns) or, with USTACK_REQUIRE_TUN=1, fails it.
fn skip(reason: &str) {
    assert!(!require_tun(), "USTACK_REQUIRE_TUN=1 but {reason}");
    eprintln!("skipping: {reason}");
}

/// Why TUN tests cannot run here, if they cannot.
fn unavailable() -> Option<String> {
    // SAFETY: geteuid has no preconditions and cannot fail.
    if unsafe { libc::geteuid() } != 0 {
        return Some("TUN tests need root (not running as root)".into());
    }
    if !Path::new("/dev/net/tun").exists() {
        return Some("/dev/net/tun does not exist".into());
    }
    let ip_works = Command::new("ip")
        .arg("-V")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !ip_works {
        return Some("the `ip` command (iproute2) is not available".into());
    }
    None
}

/// Opens a TUN, or returns None after skipping when TUN is unusable here.
fn open_or_skip(name: &str, mtu: Option<usize>) -> Option<TunDevice> {
    if let Some(reason) = unavailable() {
        skip(&reason);
        return None;
    }
    match TunDevice::open(name, mtu) {
        Ok(dev) => Some(dev),
        Err(e) if matches!(e.kind(), ErrorKind::PermissionDenied | ErrorKind::NotFound) => {
            skip(&format!("cannot use TUN: {e}"));
            None
        }
        Err(e) => panic!("TunDevice::open({name:?}): {e}"),
    }
}

/// Runs `ip ARGS`, panicking with its stderr on failure.
fn ip(args: &[&str]) {
    let out = Command::new("ip").args(args).output().expect("run ip");
    assert!(
        out.status.success(),
        "ip {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr).trim()
    );
}

/// Deletes the interface when dropped (also when the test panics).
struct LinkGuard(String);

impl Drop for LinkGuard {
    fn drop(&mut self) {
        // A non-persistent TUN is already gone once its fd is closed.
        let _ = Command::new("ip")
            .args(["link", "del", &self.0])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}

fn sysfs(name: &str, attr: &str) -> String {
    let path = format!("/sys/class/net/{name}/{attr}");
    std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("read {path}: {e}"))
        .trim()
        .to_string()
}

fn link_exists(name: &str) -> bool {
    Path::new(&format!("/sys/class/net/{name}")).exists()
}

fn is_up(name: &str) -> bool {
    let flags = sysfs(name, "flags");
    let flags = u32::from_str_radix(flags.trim_start_matches("0x"), 16).expect("hex flags");
    flags & libc::IFF_UP as u32 != 0
}

fn poll_readable(fd: RawFd, timeout: Duration) -> bool {
    let mut pfd = libc::pollfd {
        fd,
        events: libc::POLLIN,
        revents: 0,
    };
    let ms = i32::try_from(timeout.as_millis()).unwrap_or(i32::MAX);
    // SAFETY: one valid pollfd, count 1.
    let rc = unsafe { libc::poll(&mut pfd, 1, ms) };
    assert!(rc >= 0, "poll: {}", std::io::Error::last_os_error());
    rc == 1
}

fn echo_request(src: Ipv4Addr, dst: Ipv4Addr, ident: u16, seq_no: u16, data: &[u8]) -> Vec<u8> {
    let icmp = Icmpv4Repr::EchoRequest {
        ident,
        seq_no,
        data,
    };
    let ip = Ipv4Repr {
        src,
        dst,
        protocol: PROTO_ICMP,
        payload_len: icmp.buffer_len(),
        ttl: 64,
        ident: 0x5eed,
        dont_frag: true,
        more_frags: false,
        frag_offset: 0,
        dscp_ecn: 0,
    };
    let mut pkt = vec![0u8; ip.total_len()];
    ip.emit(&mut pkt);
    icmp.emit(&mut pkt[ip.header_len()..]);
    pkt
}

#[test]
fn kernel_answers_a_ping_through_the_tun() {
    let name = format!("ustk-t{}", std::process::id());
    let _guard = LinkGuard(name.clone()); // dropped last: after the device
    let Some(tun) = open_or_skip(&name, Some(1400)) else {
        return;
    };
    assert_eq!(tun.name(), name);
    assert_eq!(tun.mtu(), 1400);
    assert_eq!(sysfs(&name, "mtu"), "1400");
    assert!(is_up(&name), "interface not up");

    // A second attachment to a single-queue TUN is refused, clearly.
    let err = TunDevice::open(&name, None).expect_err("second attach");
    let msg = err.to_string();
    assert!(
        msg.contains(&format!("TUNSETIFF on '{name}' failed")) && msg.contains("already attached"),
        "{msg}"
    );

    // Host side 198.18.200.1; we play 198.18.200.2 on the same /30.
    ip(&["addr", "add", "198.18.200.1/30", "dev", &name]);
    let host = Ipv4Addr::new(198, 18, 200, 1);
    let me = Ipv4Addr::new(198, 18, 200, 2);
    let ident = std::process::id() as u16;
    let data = b"ustack dev_tun echo payload 0123456789";
    tun.send(&echo_request(me, host, ident, 1, data))
        .expect("send");

    // Expect the kernel's echo reply; skip anything else it sends (IPv6
    // router solicitations and the like).
    let deadline = Instant::now() + Duration::from_secs(2);
    let mut buf = vec![0u8; tun.mtu()];
    let mut others = 0;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        assert!(
            !left.is_zero(),
            "no echo reply within 2 s ({others} other packets seen)"
        );
        if !poll_readable(tun.readable_fd(), left) {
            continue;
        }
        let Some(n) = tun.recv(&mut buf).expect("recv") else {
            continue;
        };
        let Ok(pkt) = Ipv4Packet::new_checked(&buf[..n]) else {
            others += 1;
            continue;
        };
        let Ok(repr) = Ipv4Repr::parse(&pkt) else {
            others += 1;
            continue;
        };
        if repr.protocol != PROTO_ICMP || repr.src != host || repr.dst != me {
            others += 1;
            continue;
        }
        match Icmpv4Repr::parse(pkt.payload()).expect("valid ICMP from the kernel") {
            Icmpv4Repr::EchoReply {
                ident: i,
                seq_no,
                data: d,
            } => {
                assert_eq!((i, seq_no), (ident, 1));
                assert_eq!(d, &data[..]);
                break;
            }
            other => panic!("unexpected ICMP from the kernel: {other:?}"),
        }
    }
    assert_eq!(tun.dropped(), 0);
}

#[test]
fn attaches_to_an_existing_persistent_device() {
    let name = format!("ustk-p{}", std::process::id());
    if let Some(reason) = unavailable() {
        skip(&reason);
        return;
    }
    let guard = LinkGuard(name.clone());
    ip(&["tuntap", "add", &name, "mode", "tun"]);
    assert!(!is_up(&name));
    let default_mtu: usize = sysfs(&name, "mtu").parse().expect("mtu");

    let Some(tun) = open_or_skip(&name, None) else {
        return;
    };
    assert_eq!(tun.name(), name);
    assert_eq!(tun.mtu(), default_mtu, "mtu read back from the interface");
    assert!(is_up(&name));
    drop(tun);
    assert!(link_exists(&name), "persistent device vanished on close");

    // Attach again, this time setting the MTU.
    let tun = TunDevice::open(&name, Some(1280)).expect("reattach");
    assert_eq!(tun.mtu(), 1280);
    assert_eq!(sysfs(&name, "mtu"), "1280");
    drop(tun);
    drop(guard);
    assert!(!link_exists(&name), "guard did not delete {name}");
}

#[test]
fn a_new_device_goes_away_on_drop_and_the_kernel_can_pick_the_name() {
    let Some(tun) = open_or_skip("ustk-k%d", None) else {
        return;
    };
    let name = tun.name().to_string();
    let _guard = LinkGuard(name.clone());
    assert!(
        name.starts_with("ustk-k") && name[6..].parse::<u32>().is_ok(),
        "kernel-chosen name {name:?}"
    );
    assert!(link_exists(&name));
    assert_eq!(
        tun.mtu(),
        sysfs(&name, "mtu").parse::<usize>().expect("mtu")
    );
    drop(tun);
    // Other test threads fork `ip` children, which hold a copy of our
    // (close-on-exec) descriptor until they exec: allow a moment.
    let deadline = Instant::now() + Duration::from_secs(2);
    while link_exists(&name) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    assert!(!link_exists(&name), "non-persistent {name} outlived its fd");
}

#[test]
fn an_existing_non_tun_interface_is_a_clear_error() {
    if let Some(reason) = unavailable() {
        skip(&reason);
        return;
    }
    let err = TunDevice::open("lo", None).expect_err("lo is not a TUN");
    let msg = err.to_string();
    assert!(msg.contains("TUNSETIFF on 'lo' failed"), "{msg}");
    assert!(msg.contains("not be a TUN device"), "{msg}");
}

#[test]
fn bad_names_are_rejected_before_touching_the_kernel() {
    // Runs everywhere: validation happens before /dev/net/tun is opened.
    let err = TunDevice::open("ustack-name-far-too-long", None).expect_err("too long");
    assert_eq!(err.kind(), ErrorKind::InvalidInput);
    let msg = err.to_string();
    assert!(
        msg.contains("'ustack-name-far-too-long' is too long") && msg.contains("at most 15"),
        "{msg}"
    );
    // 16 bytes: one too many for IFNAMSIZ with its NUL.
    let err = TunDevice::open("abcdefghijklmnop", None).expect_err("16 bytes");
    assert_eq!(err.kind(), ErrorKind::InvalidInput);
    for bad in ["a/b", "a b", "nul\0x", "a:1"] {
        let err = TunDevice::open(bad, None).expect_err(bad);
        assert_eq!(err.kind(), ErrorKind::InvalidInput, "{bad:?}: {err}");
    }
    let err = TunDevice::open("ustk-x", Some(0)).expect_err("zero MTU");
    assert_eq!(err.kind(), ErrorKind::InvalidInput);
}
