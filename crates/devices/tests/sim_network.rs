//! Driving `Network` directly: application logic between steps, routing
//! between several hosts, idleness and `run_until`.
use std::io::ErrorKind;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use ustack::rng::Rng;
use ustack::{Cidr, Config, Duration, Instant, Stack, TcpState};
use ustack_devices::sim::{HostId, LinkConfig, Network, StepError};

fn ip(last: u8) -> Ipv4Addr {
    Ipv4Addr::new(198, 18, 0, last)
}

fn host(net: &mut Network, last: u8, seed: u64) -> HostId {
    let stack = Stack::new(Config {
        addresses: vec![Cidr {
            addr: IpAddr::V4(ip(last)),
            prefix_len: 24,
        }],
        seed,
        ..Config::default()
    })
    .expect("stack");
    net.add_host(format!("h{last}"), stack, vec![IpAddr::V4(ip(last))])
}

/// Steps until `done` holds (checked between steps), at most `max` steps.
fn step_until(net: &mut Network, max: u32, mut done: impl FnMut(&mut Network) -> bool) {
    for _ in 0..max {
        if done(net) {
            return;
        }
        net.step().expect("step");
    }
    panic!("condition not reached after {max} steps at t={}", net.now());
}

#[test]
fn request_response_between_steps() {
    let mut net = Network::new();
    let mut rng = Rng::new(5);
    let (a, b) = (host(&mut net, 1, 1), host(&mut net, 2, 2));
    let link = LinkConfig {
        delay: Duration::from_millis(5),
        ..LinkConfig::default()
    };
    net.connect(a, b, link, &mut rng);
    let ep = SocketAddr::new(IpAddr::V4(ip(2)), 80);
    let l = net.stack_mut(b).tcp_listen(ep, 4).expect("listen");
    let c = net.stack_mut(a).tcp_connect(ep, None).expect("connect");
    assert_eq!(net.next_event(), Some(Instant::ZERO), "SYN pending at once");

    let mut server = None;
    step_until(&mut net, 100, |net| {
        if server.is_none() {
            match net.stack_mut(b).tcp_accept(l) {
                Ok((h, _)) => server = Some(h),
                Err(e) => assert_eq!(e.kind(), ErrorKind::WouldBlock),
            }
        }
        server.is_some() && net.stack(a).tcp_state(c).ok() == Some(TcpState::Established)
    });
    // Handshake: one RTT (10 ms) for the client.
    assert!(net.now() >= Instant::from_millis(10), "{}", net.now());
    let s = server.expect("accepted");

    assert_eq!(net.stack_mut(a).tcp_send(c, b"ping").expect("send"), 4);
    let mut buf = [0u8; 16];
    let mut got = Vec::new();
    step_until(&mut net, 100, |net| {
        match net.stack_mut(b).tcp_recv(s, &mut buf) {
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e) => assert_eq!(e.kind(), ErrorKind::WouldBlock),
        }
        got == b"ping"
    });
    net.stack_mut(b).tcp_send(s, b"pong").expect("send");
    let mut back = Vec::new();
    step_until(&mut net, 100, |net| {
        match net.stack_mut(a).tcp_recv(c, &mut buf) {
            Ok(n) => back.extend_from_slice(&buf[..n]),
            Err(e) => assert_eq!(e.kind(), ErrorKind::WouldBlock),
        }
        back == b"pong"
    });

    // Close both ends, wait out TIME-WAIT: nothing is left and the network
    // goes idle.
    net.stack_mut(a).tcp_close(c);
    net.stack_mut(b).tcp_close(s);
    net.stack_mut(b).tcp_close(l);
    let until = net.now() + Duration::from_secs(61);
    assert!(net.run_until(until, 10_000).expect("run"));
    assert_eq!(net.now(), until);
    assert_eq!(net.stack(a).socket_count(), 0);
    assert_eq!(net.stack(b).socket_count(), 0);
    assert_eq!(net.step(), Err(StepError::Idle));
    let lc = net.link_counters();
    assert_eq!(lc.sent, lc.delivered);
    assert!(net.trace_packets() >= 2 * lc.sent);
}

#[test]
fn packets_are_routed_by_destination() {
    // A star: h1 linked to h2 and to h3, each both ways.
    let mut net = Network::new();
    let mut rng = Rng::new(9);
    let (h1, h2, h3) = (
        host(&mut net, 1, 1),
        host(&mut net, 2, 2),
        host(&mut net, 3, 3),
    );
    let (to2, _) = net.connect(h1, h2, LinkConfig::default(), &mut rng);
    let (to3, _) = net.connect(h1, h3, LinkConfig::default(), &mut rng);
    let mut conns = Vec::new();
    for (h, last) in [(h2, 2u8), (h3, 3u8)] {
        let ep = SocketAddr::new(IpAddr::V4(ip(last)), 7);
        net.stack_mut(h).tcp_listen(ep, 1).expect("listen");
        let c = net.stack_mut(h1).tcp_connect(ep, None).expect("connect");
        conns.push((h, c));
    }
    step_until(&mut net, 100, |net| {
        conns.iter().all(|&(h, c)| {
            net.stack(h1).tcp_state(c).ok() == Some(TcpState::Established)
                && net.stack(h).socket_count() >= 2
        })
    });
    let (p2, p3) = (net.link(to2).counters().sent, net.link(to3).counters().sent);
    assert!(p2 >= 2 && p3 >= 2, "{p2} {p3}");
    assert_eq!(net.host_packets(h1).2, 0, "nothing unroutable");
}
