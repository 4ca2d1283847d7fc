//! Bidirectional transfers over a lossy in-memory wire, many seeds.
mod common;
use common::*;
use std::net::{Shutdown, SocketAddr};
use ustack::rng::Rng;
use ustack::TcpState;

struct Side {
    h: Option<ustack::SocketHandle>,
    data: Vec<u8>,
    sent: usize,
    got: Vec<u8>,
    eof: bool,
    shut: bool,
    errors: Vec<String>,
}

fn run(seed: u64, loss: f64, a_bytes: usize, b_bytes: usize) -> Result<(), String> {
    let mut p = Pair::new(seed);
    let mut rng = Rng::new(seed);
    let mut frng = rng.fork();
    p.filter = Box::new(move |_, _, _| !frng.chance(loss));
    let server: SocketAddr = format!("{B}:80").parse().unwrap();
    let l = p.b.tcp_listen(server, 8).unwrap();
    let c = p.a.tcp_connect(server, None).unwrap();
    let mk = |n: usize, rng: &mut Rng| {
        let mut v = vec![0u8; n];
        rng.fill(&mut v);
        v
    };
    let mut sa = Side {
        h: Some(c),
        data: mk(a_bytes, &mut rng),
        sent: 0,
        got: vec![],
        eof: false,
        shut: false,
        errors: vec![],
    };
    let mut sb = Side {
        h: None,
        data: mk(b_bytes, &mut rng),
        sent: 0,
        got: vec![],
        eof: false,
        shut: false,
        errors: vec![],
    };
    let mut buf = vec![0u8; 65536];
    let ok = p.run_until(3600, |p| {
        if sb.h.is_none() {
            if let Ok((h, _)) = p.b.tcp_accept(l) {
                sb.h = Some(h);
            }
        }
        for (st, side) in [(&mut p.a, &mut sa), (&mut p.b, &mut sb)] {
            let Some(h) = side.h else { continue };
            while side.sent < side.data.len() {
                match st.tcp_send(h, &side.data[side.sent..]) {
                    Ok(n) => side.sent += n,
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                    Err(e) => {
                        side.errors.push(format!("send: {e}"));
                        break;
                    }
                }
            }
            if side.sent == side.data.len()
                && !side.shut
                && st.tcp_shutdown(h, Shutdown::Write).is_ok()
            {
                side.shut = true;
            }
            loop {
                match st.tcp_recv(h, &mut buf) {
                    Ok(0) => {
                        side.eof = true;
                        break;
                    }
                    Ok(n) => side.got.extend_from_slice(&buf[..n]),
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                    Err(e) => {
                        side.errors.push(format!("recv: {e}"));
                        break;
                    }
                }
            }
        }
        let fin = |st: &ustack::Stack, s: &Side| {
            s.eof
                && s.h.is_some_and(|h| {
                    matches!(st.tcp_state(h), Ok(TcpState::TimeWait | TcpState::Closed))
                })
        };
        fin(&p.a, &sa) && fin(&p.b, &sb)
    });
    if !ok {
        if let Ok(i) = p.a.tcp_info(c) {
            eprintln!("a info {i:?}");
        }
        if let Some(Ok(i)) = sb.h.map(|h| p.b.tcp_info(h)) {
            eprintln!("b info {i:?}");
        }
        eprintln!(
            "now {:?} a poll_at {:?} b poll_at {:?}",
            p.now,
            p.a.poll_at(),
            p.b.poll_at()
        );
        return Err(format!(
            "seed {seed}: not finished: a state {:?} sent {}/{} got {}/{} ; b state {:?} sent {}/{} got {}/{}",
            p.a.tcp_state(c),
            sa.sent,
            sa.data.len(),
            sa.got.len(),
            sb.data.len(),
            sb.h.map(|h| p.b.tcp_state(h)),
            sb.sent,
            sb.data.len(),
            sb.got.len(),
            sa.data.len()
        ));
    }
    if std::env::var("TRACE").is_ok() {
        let n = p.log.len();
        eprintln!("{}", describe(&p.log[n.saturating_sub(80)..]));
    }
    if !sa.errors.is_empty() || !sb.errors.is_empty() {
        return Err(format!(
            "seed {seed}: errors a {:?} b {:?}",
            sa.errors, sb.errors
        ));
    }
    for (name, got, want) in [("a<-b", &sa.got, &sb.data), ("b<-a", &sb.got, &sa.data)] {
        if got != want {
            let first = got.iter().zip(want.iter()).position(|(x, y)| x != y);
            return Err(format!(
                "seed {seed}: data mismatch {name}: got {} want {} first diff at {:?}",
                got.len(),
                want.len(),
                first
            ));
        }
    }
    Ok(())
}

#[test]
fn lossy_seeds() {
    let mut fails = vec![];
    let only: Option<u64> = std::env::var("SEED").ok().and_then(|s| s.parse().ok());
    let n: u64 = std::env::var("SEEDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(200);
    for seed in 0..n {
        if only.is_some_and(|o| o != seed) {
            continue;
        }
        let loss = [0.0, 0.01, 0.05, 0.1, 0.2, 0.3][(seed % 6) as usize];
        let a = (seed as usize * 7919) % 150_000;
        let b = (seed as usize * 104_729) % 120_000;
        if let Err(e) = run(seed, loss, a, b) {
            fails.push(format!("loss {loss}: {e}"));
        }
    }
    assert!(
        fails.is_empty(),
        "{} failures:\n{}",
        fails.len(),
        fails.join("\n")
    );
}
