//! ThreadedServer: the connection limit (wait and refuse), graceful
//! shutdown (handlers finish; stuck ones are cut off in bounded time),
//! panicking handlers, over ustack and std::net.
mod common;
use common::Net;
use std::io::{self, Read, Write};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};
use ustack_apps::transport::{Connection, Listener, Shutdown as _};
use ustack_apps::{Overflow, ThreadedServer};

fn wait_until(what: &str, timeout: Duration, mut f: impl FnMut() -> bool) {
    let t0 = Instant::now();
    while !f() {
        assert!(t0.elapsed() < timeout, "timed out waiting for {what}");
        thread::sleep(Duration::from_millis(5));
    }
}

/// A handler that counts its starts, then waits for one byte (or EOF)
/// and answers "bye".
fn waiter<S: Connection>(
    started: Arc<AtomicUsize>,
) -> impl Fn(S, SocketAddr) -> io::Result<()> + Send + Sync + 'static {
    move |mut s: S, _| {
        started.fetch_add(1, Ordering::SeqCst);
        let mut b = [0u8; 1];
        let _ = s.read(&mut b)?;
        s.write_all(b"bye")?;
        Ok(())
    }
}

fn read_all<S: Read>(s: &mut S) -> Vec<u8> {
    let mut v = Vec::new();
    let _ = s.read_to_end(&mut v);
    v
}

fn limit_waits<N: Net>(net: &N) {
    common::init_log();
    let l = net.listen();
    let addr = l.local_addr().unwrap();
    let started = Arc::new(AtomicUsize::new(0));
    let srv = ThreadedServer::new(l, waiter(started.clone()))
        .max_connections(2)
        .spawn()
        .unwrap();
    let mut c1 = net.connect(addr).unwrap();
    let mut c2 = net.connect(addr).unwrap();
    // The third completes its handshake (backlog) but is not served yet.
    let mut c3 = net.connect(addr).unwrap();
    wait_until("two handlers", Duration::from_secs(5), || {
        started.load(Ordering::SeqCst) == 2
    });
    thread::sleep(Duration::from_millis(300));
    assert_eq!(
        started.load(Ordering::SeqCst),
        2,
        "{}: limit exceeded",
        net.label()
    );
    assert_eq!(srv.stats().active(), 2);
    // Finishing one lets the third in.
    c1.write_all(b"x").unwrap();
    assert_eq!(read_all(&mut c1), b"bye");
    wait_until("third handler", Duration::from_secs(5), || {
        started.load(Ordering::SeqCst) == 3
    });
    c2.write_all(b"x").unwrap();
    c3.write_all(b"x").unwrap();
    assert_eq!(read_all(&mut c2), b"bye");
    assert_eq!(read_all(&mut c3), b"bye");
    let rep = srv.shutdown().unwrap();
    assert_eq!((rep.accepted, rep.refused, rep.forced), (3, 0, 0));
}

fn limit_refuses<N: Net>(net: &N) {
    common::init_log();
    let l = net.listen();
    let addr = l.local_addr().unwrap();
    let started = Arc::new(AtomicUsize::new(0));
    let srv = ThreadedServer::new(l, waiter(started.clone()))
        .max_connections(1)
        .overflow(Overflow::Refuse)
        .spawn()
        .unwrap();
    let mut c1 = net.connect(addr).unwrap();
    wait_until("first handler", Duration::from_secs(5), || {
        started.load(Ordering::SeqCst) == 1
    });
    let mut c2 = net.connect(addr).unwrap();
    c2.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    // Refused: closed at once without a handler.
    let t0 = Instant::now();
    assert_eq!(read_all(&mut c2), b"");
    assert!(t0.elapsed() < Duration::from_secs(4));
    assert_eq!(srv.stats().refused(), 1);
    assert_eq!(started.load(Ordering::SeqCst), 1);
    c1.write_all(b"x").unwrap();
    assert_eq!(read_all(&mut c1), b"bye");
    // Below the limit again: served.
    wait_until("slot free", Duration::from_secs(5), || {
        srv.stats().active() == 0
    });
    let mut c3 = net.connect(addr).unwrap();
    c3.write_all(b"x").unwrap();
    assert_eq!(read_all(&mut c3), b"bye");
    let rep = srv.shutdown().unwrap();
    assert_eq!((rep.accepted, rep.refused), (2, 1));
}

/// A running handler finishes its work during the shutdown; the
/// listener is closed at once.
fn shutdown_waits_for_handlers<N: Net>(net: &N) {
    common::init_log();
    let l = net.listen();
    let addr = l.local_addr().unwrap();
    let started = Arc::new(AtomicUsize::new(0));
    let st = started.clone();
    let srv = ThreadedServer::new(l, move |mut s: <N::L as Listener>::Stream, _| {
        st.fetch_add(1, Ordering::SeqCst);
        thread::sleep(Duration::from_millis(400));
        s.write_all(b"done")
    })
    .shutdown_timeout(Duration::from_secs(5))
    .spawn()
    .unwrap();
    let mut c = net.connect(addr).unwrap();
    wait_until("handler", Duration::from_secs(5), || {
        started.load(Ordering::SeqCst) == 1
    });
    let t0 = Instant::now();
    let handle = srv.shutdown_handle();
    let joiner = thread::spawn(move || srv.join());
    handle.shutdown();
    assert_eq!(read_all(&mut c), b"done");
    let rep = joiner.join().unwrap().unwrap();
    assert!(t0.elapsed() < Duration::from_secs(4));
    assert_eq!((rep.accepted, rep.forced, rep.abandoned), (1, 0, 0));
    // No longer listening.
    let e = net.connect(addr).map(|_| ()).unwrap_err();
    assert_eq!(
        e.kind(),
        io::ErrorKind::ConnectionRefused,
        "{}: {e}",
        net.label()
    );
}

/// A handler blocked on an idle client is cut off after the timeout.
fn shutdown_cuts_off_stuck_handlers<N: Net>(net: &N) {
    common::init_log();
    let l = net.listen();
    let addr = l.local_addr().unwrap();
    let started = Arc::new(AtomicUsize::new(0));
    let srv = ThreadedServer::new(l, waiter(started.clone()))
        .shutdown_timeout(Duration::from_millis(300))
        .spawn()
        .unwrap();
    let mut idle = net.connect(addr).unwrap();
    wait_until("handler", Duration::from_secs(5), || {
        started.load(Ordering::SeqCst) == 1
    });
    let t0 = Instant::now();
    let rep = srv.shutdown().unwrap();
    let took = t0.elapsed();
    assert!(took >= Duration::from_millis(300), "{took:?}");
    assert!(
        took < Duration::from_secs(2),
        "{}: shutdown took {took:?}",
        net.label()
    );
    assert_eq!(
        (rep.accepted, rep.forced, rep.abandoned),
        (1, 1, 0),
        "{}",
        net.label()
    );
    // The client sees the connection end (the cut-off handler's "bye" may
    // or may not make it, depending on the stack).
    idle.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut buf = [0u8; 16];
    let r = idle.read(&mut buf);
    assert!(
        !matches!(&r, Err(e) if e.kind() == io::ErrorKind::WouldBlock),
        "{r:?}"
    );
    let _ = idle.shutdown(std::net::Shutdown::Both);
}

fn panicking_handler_frees_its_slot<N: Net>(net: &N) {
    let l = net.listen();
    let addr = l.local_addr().unwrap();
    let calls = Arc::new(AtomicUsize::new(0));
    let c2 = calls.clone();
    let srv = ThreadedServer::new(l, move |mut s: <N::L as Listener>::Stream, _| {
        if c2.fetch_add(1, Ordering::SeqCst) == 0 {
            panic!("handler panic (expected by the test)");
        }
        s.write_all(b"ok")
    })
    .max_connections(1)
    .spawn()
    .unwrap();
    let mut a = net.connect(addr).unwrap();
    a.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let _ = read_all(&mut a);
    let mut b = net.connect(addr).unwrap();
    b.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    assert_eq!(read_all(&mut b), b"ok");
    srv.shutdown().unwrap();
}

both_nets!(
    limit_waits,
    limit_refuses,
    shutdown_waits_for_handlers,
    shutdown_cuts_off_stuck_handlers,
    panicking_handler_frees_its_slot
);
