//! Echo, upper-case echo, discard, "Hello, NAME", and UDP echo, over
//! ustack and std::net.
mod common;
use common::Net;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::Shutdown;
use std::thread;
use std::time::Duration;
use ustack_apps::echo::{udp_echo_loop, udp_request, Discard, Echo, HelloName, UpperEcho};
use ustack_apps::pairnet::{two_stacks, CLIENT_IP, SERVER_IP};
use ustack_apps::transport::{Connection, DatagramSocket, Listener, Shutdown as _};
use ustack_apps::{ShutdownHandle, ThreadedServer};

fn echo_and_upper<N: Net>(net: &N) {
    for upper in [false, true] {
        let l = net.listen();
        let addr = l.local_addr().unwrap();
        let srv = if upper {
            ThreadedServer::new(l, UpperEcho).spawn().unwrap()
        } else {
            ThreadedServer::new(l, Echo).spawn().unwrap()
        };
        let mut c = net.connect(addr).unwrap();
        let data: Vec<u8> = common::pattern(500_000, 3)
            .into_iter()
            .map(|b| b"abcXYZ 0\xe9"[(b % 9) as usize])
            .collect();
        let mut r = c.try_clone().unwrap();
        let reader = thread::spawn(move || {
            let mut v = Vec::new();
            r.read_to_end(&mut v).unwrap();
            v
        });
        c.write_all(&data).unwrap();
        c.shutdown(Shutdown::Write).unwrap();
        let got = reader.join().unwrap();
        let want = if upper {
            data.to_ascii_uppercase()
        } else {
            data
        };
        assert!(got == want, "{} upper={upper}: echo differs", net.label());
        srv.shutdown().unwrap();
    }
}

fn hello_name<N: Net>(net: &N) {
    let l = net.listen();
    let addr = l.local_addr().unwrap();
    let srv = ThreadedServer::new(l, HelloName).spawn().unwrap();
    let c = net.connect(addr).unwrap();
    let mut w = c.try_clone().unwrap();
    let mut r = BufReader::new(c);
    let mut line = String::new();
    for name in ["Alice", "Bob Smith"] {
        w.write_all(format!("{name}\r\n").as_bytes()).unwrap();
        line.clear();
        r.read_line(&mut line).unwrap();
        assert_eq!(line, format!("Hello, {name}\n"));
    }
    w.write_all(&[b'x'; 300]).unwrap();
    w.write_all(b"\n").unwrap();
    line.clear();
    r.read_line(&mut line).unwrap();
    assert_eq!(line, "ERROR name too long\n");
    srv.shutdown().unwrap();
}

fn discard<N: Net>(net: &N) {
    let l = net.listen();
    let addr = l.local_addr().unwrap();
    let srv = ThreadedServer::new(l, Discard).spawn().unwrap();
    let mut c = net.connect(addr).unwrap();
    c.write_all(&vec![1u8; 1_000_000]).unwrap();
    c.shutdown(Shutdown::Write).unwrap();
    let mut v = Vec::new();
    c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    c.read_to_end(&mut v).unwrap();
    assert!(v.is_empty());
    let rep = srv.shutdown().unwrap();
    assert_eq!((rep.accepted, rep.failed), (1, 0));
}

fn udp_round_trip<S: DatagramSocket>(server: S, client: S, upper: bool) {
    let to = server.local_addr().unwrap();
    let stop = ShutdownHandle::new();
    let st = stop.clone();
    let t = thread::spawn(move || udp_echo_loop(&server, upper, &st).unwrap());
    for msg in [&b"ping"[..], &[0x61u8; 1400][..], b""] {
        let got = udp_request(&client, msg, to, Duration::from_secs(5)).unwrap();
        let want = if upper {
            msg.to_ascii_uppercase()
        } else {
            msg.to_vec()
        };
        assert_eq!(got, want);
    }
    stop.shutdown();
    assert_eq!(t.join().unwrap(), 3);
}

#[test]
fn udp_echo_on_ustack() {
    let (a, b) = two_stacks().unwrap();
    for (port, upper) in [(7, false), (7007, true)] {
        let s = ustack_runtime::net::UdpSocket::bind(&b, (SERVER_IP, port)).unwrap();
        let c = ustack_runtime::net::UdpSocket::bind(&a, (CLIENT_IP, 40000 + port)).unwrap();
        udp_round_trip(s, c, upper);
    }
}

#[test]
fn udp_echo_on_std() {
    for upper in [false, true] {
        let s = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let c = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        udp_round_trip(s, c, upper);
    }
}

#[test]
fn udp_request_times_out() {
    let c = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let silent = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let e = udp_request(
        &c,
        b"x",
        silent.local_addr().unwrap(),
        Duration::from_millis(200),
    )
    .unwrap_err();
    assert_eq!(e.kind(), std::io::ErrorKind::TimedOut);
}

both_nets!(echo_and_upper, hello_name, discard);
