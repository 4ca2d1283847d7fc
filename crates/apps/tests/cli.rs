//! The `serve` / `connect` command logic on two in-process stacks (the
//! TUN part is only argument handling and error text).
use clap::Parser;
use std::fs;
use std::io::{self, Cursor};
use std::thread;
use std::time::Duration;
use ustack_apps::cli::{
    connect_on, serve_on, tun_error, ConnectArgs, ServeArgs, ServeOptions, Service,
};
use ustack_apps::echo::udp_request;
use ustack_apps::pairnet::{two_stacks, CLIENT_IP, SERVER_IP};
use ustack_apps::{ServeReport, ShutdownHandle};
use ustack_runtime::Netstack;

#[derive(Parser)]
struct ServeCmd {
    #[command(flatten)]
    args: ServeArgs,
}

#[derive(Parser)]
struct ConnectCmd {
    #[command(flatten)]
    args: ConnectArgs,
}

fn connect_args(extra: &[&str]) -> ConnectArgs {
    let mut v = vec!["connect"];
    v.extend_from_slice(extra);
    v.extend_from_slice(&["--tun", "unused0", "--addr", "198.18.0.1/24"]);
    ConnectCmd::try_parse_from(v).unwrap().args
}

struct Running {
    stop: ShutdownHandle,
    thread: thread::JoinHandle<Result<ServeReport, String>>,
}

impl Running {
    fn stop(self) -> ServeReport {
        self.stop.shutdown();
        self.thread.join().unwrap().unwrap()
    }
}

fn serve(ns: &Netstack, argv: &[&str]) -> Running {
    let mut v = vec!["serve"];
    v.extend_from_slice(argv);
    v.extend_from_slice(&["--tun", "unused0", "--addr", "198.18.0.2/24"]);
    let opts: ServeOptions = ServeCmd::try_parse_from(v).unwrap().args.options().unwrap();
    let stop = ShutdownHandle::new();
    let (ns, st) = (ns.clone(), stop.clone());
    let thread = thread::spawn(move || serve_on(&ns, &opts, st).map_err(|e| e.to_string()));
    // Let it bind.
    thread::sleep(Duration::from_millis(100));
    Running { stop, thread }
}

fn run(ns: &Netstack, args: &ConnectArgs, input: &[u8]) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    connect_on(
        ns,
        args,
        Box::new(Cursor::new(input.to_vec())),
        &mut out,
        None,
    )
    .map_err(|e| e.to_string())?;
    Ok(out)
}

#[test]
fn echo_and_upper_tcp_and_udp() {
    let (a, b) = two_stacks().unwrap();
    let echo = serve(&b, &["echo"]);
    let upper = serve(&b, &["upper", "--port", "7007"]);
    let out = run(
        &a,
        &connect_args(&["echo", "--to", "198.18.0.2:7"]),
        b"hello\n",
    )
    .unwrap();
    assert_eq!(out, b"hello\n");
    let out = run(
        &a,
        &connect_args(&["echo", "--to", "198.18.0.2:7007"]),
        b"hello\n",
    )
    .unwrap();
    assert_eq!(out, b"HELLO\n");
    let udp = ustack_runtime::net::UdpSocket::bind(&a, (CLIENT_IP, 5555)).unwrap();
    let got = udp_request(
        &udp,
        b"dgram",
        (SERVER_IP, 7007).into(),
        Duration::from_secs(5),
    )
    .unwrap();
    assert_eq!(got, b"DGRAM");
    assert_eq!(echo.stop().accepted, 1);
    assert_eq!(upper.stop().accepted, 1);
}

#[test]
fn http_get_and_errors() {
    let (a, b) = two_stacks().unwrap();
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join("hello.txt"), b"hi there\n").unwrap();
    let d = dir.path().to_str().unwrap();
    let srv = serve(&b, &["http", "--port", "8080", "--dir", d]);
    let out = run(
        &a,
        &connect_args(&["get", "http://198.18.0.2:8080/hello.txt"]),
        b"",
    )
    .unwrap();
    assert_eq!(out, b"hi there\n");
    let saved = dir.path().join("saved.txt");
    let out = run(
        &a,
        &connect_args(&[
            "get",
            "http://198.18.0.2:8080/hello.txt",
            "--out",
            saved.to_str().unwrap(),
        ]),
        b"",
    )
    .unwrap();
    assert!(out.is_empty());
    assert_eq!(fs::read(&saved).unwrap(), b"hi there\n");
    let e = run(
        &a,
        &connect_args(&["get", "http://198.18.0.2:8080/missing"]),
        b"",
    )
    .unwrap_err();
    assert!(e.contains("404"), "{e}");
    let e = run(&a, &connect_args(&["get", "http://example.com/"]), b"").unwrap_err();
    assert!(e.contains("no DNS"), "{e}");
    let e = run(&a, &connect_args(&["get"]), b"").unwrap_err();
    assert!(e.contains("needs a URL"), "{e}");
    // Nothing listens on 81: refused, said clearly.
    let e = run(&a, &connect_args(&["get", "http://198.18.0.2:81/"]), b"").unwrap_err();
    assert!(e.contains("cannot connect to 198.18.0.2:81"), "{e}");
    srv.stop();
}

#[test]
fn file_download_send_and_auth() {
    let (a, b) = two_stacks().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let data: Vec<u8> = (0..200_000u32).map(|i| (i * 7 % 251) as u8).collect();
    fs::write(dir.path().join("data.bin"), &data).unwrap();
    let d = dir.path().to_str().unwrap();
    let file = serve(&b, &["file", "--dir", d, "--key", "s3cret"]);
    let out = dir.path().join("copy.bin");
    let o = out.to_str().unwrap();
    run(
        &a,
        &connect_args(&[
            "download",
            "data.bin",
            "--to",
            "198.18.0.2:7070",
            "--out",
            o,
            "--key",
            "s3cret",
        ]),
        b"",
    )
    .unwrap();
    assert!(fs::read(&out).unwrap() == data);
    // Resume from a partial copy.
    fs::write(&out, &data[..1000]).unwrap();
    run(
        &a,
        &connect_args(&[
            "download",
            "data.bin",
            "--to",
            "198.18.0.2:7070",
            "--out",
            o,
            "--key",
            "s3cret",
            "--resume",
        ]),
        b"",
    )
    .unwrap();
    assert!(fs::read(&out).unwrap() == data);
    let e = run(
        &a,
        &connect_args(&[
            "download",
            "data.bin",
            "--to",
            "198.18.0.2:7070",
            "--out",
            o,
            "--key",
            "wrong",
        ]),
        b"",
    )
    .unwrap_err();
    assert!(e.contains("rejected our key"), "{e}");
    let e = run(
        &a,
        &connect_args(&[
            "download",
            "nope",
            "--to",
            "198.18.0.2:7070",
            "--out",
            o,
            "--key",
            "s3cret",
        ]),
        b"",
    )
    .unwrap_err();
    assert!(e.contains("no such file: nope"), "{e}");
    let rep = file.stop();
    assert_eq!(rep.accepted, 4);

    let discard = serve(&b, &["discard"]);
    let src = dir.path().join("data.bin");
    run(
        &a,
        &connect_args(&["send", src.to_str().unwrap(), "--to", "198.18.0.2:9"]),
        b"",
    )
    .unwrap();
    let e = run(
        &a,
        &connect_args(&["send", "/nonexistent/file", "--to", "198.18.0.2:9"]),
        b"",
    )
    .unwrap_err();
    assert!(e.contains("cannot open /nonexistent/file"), "{e}");
    let rep = discard.stop();
    assert_eq!((rep.accepted, rep.failed), (1, 0));
}

#[test]
fn argument_errors() {
    let args = ServeCmd::try_parse_from([
        "serve",
        "echo",
        "--tun",
        "t",
        "--addr",
        "198.18.0.2/24",
        "--dir",
        "/tmp",
    ])
    .unwrap()
    .args;
    let e = args.options().unwrap_err().to_string();
    assert!(e.contains("--dir applies only"), "{e}");
    assert!(
        ServeCmd::try_parse_from(["serve", "gopher", "--tun", "t", "--addr", "1.2.3.4/24"])
            .is_err()
    );
    assert!(
        ServeCmd::try_parse_from(["serve", "echo", "--tun", "t", "--addr", "1.2.3.4/99"]).is_err()
    );
    let args = ServeCmd::try_parse_from([
        "serve",
        "http",
        "--tun",
        "t",
        "--addr",
        "198.18.0.2/24",
        "--dir",
        "/tmp",
    ])
    .unwrap()
    .args;
    let o = args.options().unwrap();
    assert_eq!((o.service, o.port), (Service::Http, 80));
    let echo = ["echo", "--to", "198.18.0.2:7"];
    assert!(!connect_args(&echo).net.offload, "offloads are opt-in");
    assert!(
        connect_args(&["echo", "--to", "198.18.0.2:7", "--offload"])
            .net
            .offload
    );
    let e = tun_error("ustack0", &io::Error::from(io::ErrorKind::PermissionDenied));
    assert!(
        e.contains("run as root") && e.contains("ip tuntap add ustack0 mode tun user $USER"),
        "{e}"
    );
}
