//! HMAC challenge-response: good key, wrong key, garbage answers, over
//! ustack and std::net, behind a ThreadedServer with AuthHandler.
mod common;
use common::Net;
use std::io::{self, Read, Write};
use std::net::SocketAddr;
use std::time::Duration;
use ustack_apps::auth::{self, client_handshake, AuthHandler, NONCE_LEN};
use ustack_apps::framing::{expect_frame, write_frame};
use ustack_apps::transport::{Connection, Listener};
use ustack_apps::ThreadedServer;

const KEY: &[u8] = b"correct horse battery staple";

/// A server that says WELCOME to authenticated clients.
fn start<N: Net>(net: &N) -> (ustack_apps::server::RunningServer, SocketAddr) {
    common::init_log();
    let l = net.listen();
    let addr = l.local_addr().unwrap();
    let welcome = |mut s: <N::L as Listener>::Stream, _peer: SocketAddr| -> io::Result<()> {
        s.write_all(b"WELCOME")?;
        Ok(())
    };
    let srv = ThreadedServer::new(
        l,
        AuthHandler::new(KEY, welcome).timeout(Duration::from_secs(2)),
    )
    .name("auth-test")
    .spawn()
    .unwrap();
    (srv, addr)
}

/// The rest of the stream up to EOF (or an error).
fn rest<S: Read>(mut s: S) -> Vec<u8> {
    let mut v = Vec::new();
    let _ = s.read_to_end(&mut v);
    v
}

fn good_key<N: Net>(net: &N) {
    let (srv, addr) = start(net);
    let mut c = net.connect(addr).unwrap();
    client_handshake(&mut c, KEY).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    assert_eq!(rest(c), b"WELCOME");
    let rep = srv.shutdown().unwrap();
    assert_eq!((rep.accepted, rep.failed), (1, 0));
}

fn wrong_key<N: Net>(net: &N) {
    let (srv, addr) = start(net);
    let mut c = net.connect(addr).unwrap();
    let e = client_handshake(&mut c, b"wrong key").unwrap_err();
    assert_eq!(e.kind(), io::ErrorKind::PermissionDenied, "{e}");
    assert!(e.to_string().contains("rejected"), "{e}");
    // Cut off: nothing but EOF follows, never the WELCOME.
    c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    assert_eq!(rest(c), b"");
    let rep = srv.shutdown().unwrap();
    assert_eq!((rep.accepted, rep.failed), (1, 1));
}

/// Answers of the wrong length, a right-length random answer, and no
/// answer at all (the peer closes).
fn garbage_answers<N: Net>(net: &N) {
    let (srv, addr) = start(net);
    let answers: [&[u8]; 4] = [b"", b"garbage", &[0x41; 33], &[7u8; 32]];
    for a in answers {
        let mut c = net.connect(addr).unwrap();
        c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let nonce = expect_frame(&mut c, 64).unwrap();
        assert_eq!(nonce.len(), NONCE_LEN);
        write_frame(&mut c, a).unwrap();
        assert_eq!(expect_frame(&mut c, 64).unwrap(), b"FAIL", "answer {a:?}");
        assert_eq!(rest(c), b"");
    }
    // An oversize "answer" frame: rejected without reading it.
    let mut c = net.connect(addr).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    expect_frame(&mut c, 64).unwrap();
    c.write_all(&1_000_000u32.to_be_bytes()).unwrap();
    assert_eq!(expect_frame(&mut c, 64).unwrap(), b"FAIL");
    drop(c);
    // Silence: the server's answer timeout (2 s) cuts the client off.
    let mut c = net.connect(addr).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    expect_frame(&mut c, 64).unwrap();
    assert_eq!(expect_frame(&mut c, 64).unwrap(), b"FAIL");
    let rep = srv.shutdown().unwrap();
    assert_eq!((rep.accepted, rep.failed), (6, 6));
}

/// A client talking to something that is not an auth server.
fn not_an_auth_server<N: Net>(net: &N) {
    let l = net.listen();
    let addr = l.local_addr().unwrap();
    let t = std::thread::spawn(move || {
        let (mut s, _) = l.accept().unwrap();
        write_frame(&mut s, b"hello there").unwrap();
        let mut v = Vec::new();
        let _ = s.read_to_end(&mut v);
    });
    let mut c = net.connect(addr).unwrap();
    let e = client_handshake(&mut c, KEY).unwrap_err();
    assert_eq!(e.kind(), io::ErrorKind::InvalidData, "{e}");
    drop(c);
    t.join().unwrap();
}

#[test]
fn answer_is_hmac_of_the_nonce() {
    let nonce = [9u8; 32];
    let a = auth::answer(KEY, &nonce).unwrap();
    assert!(auth::verify(KEY, &nonce, &a).unwrap());
    assert!(!auth::verify(b"other", &nonce, &a).unwrap());
    assert!(!auth::verify(KEY, &[8u8; 32], &a).unwrap());
    assert!(!auth::verify(KEY, &nonce, &a[..31]).unwrap());
    assert_eq!(
        auth::answer(b"", &nonce).unwrap_err().kind(),
        io::ErrorKind::InvalidInput
    );
}

#[test]
fn async_handshake_over_a_duplex_pipe() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let peer: SocketAddr = "192.0.2.1:1".parse().unwrap();
        for (key, ok) in [(KEY, true), (&b"nope"[..], false)] {
            let (mut a, mut b) = tokio::io::duplex(1024);
            let srv = tokio::spawn(async move {
                auth::server_handshake_async(&mut b, KEY, peer, Duration::from_secs(2)).await
            });
            let c = auth::client_handshake_async(&mut a, key).await;
            let s = srv.await.unwrap();
            assert_eq!(c.is_ok(), ok);
            assert_eq!(s.is_ok(), ok);
            if !ok {
                assert_eq!(s.unwrap_err().kind(), io::ErrorKind::PermissionDenied);
            }
        }
    });
}

both_nets!(good_key, wrong_key, garbage_answers, not_an_auth_server);

/// A writer the log lines go to.
#[derive(Clone, Default)]
struct LogBuf(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl Write for LogBuf {
    fn write(&mut self, b: &[u8]) -> io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// The log of this test binary: a global subscriber, set once. (A
/// thread-scoped one, `with_default`, can miss the event: another test
/// thread that reaches the same `warn!` first, before the scoped
/// subscriber exists, may leave the call site's cached interest at
/// "never".)
fn logs() -> &'static LogBuf {
    static LOGS: std::sync::OnceLock<LogBuf> = std::sync::OnceLock::new();
    LOGS.get_or_init(|| {
        let logs = LogBuf::default();
        let l2 = logs.clone();
        let sub = tracing_subscriber::fmt()
            .with_writer(move || l2.clone())
            .with_ansi(false)
            .finish();
        tracing::subscriber::set_global_default(sub).expect("one global subscriber");
        logs
    })
}

#[test]
fn rejection_is_a_warning_naming_the_peer() {
    let logs = logs();
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    let client = std::thread::spawn(move || {
        let mut c = std::net::TcpStream::connect(addr).unwrap();
        client_handshake(&mut c, b"bad key").unwrap_err()
    });
    let (mut s, peer) = l.accept().unwrap();
    let r = auth::server_handshake(&mut s, KEY, peer);
    assert_eq!(r.unwrap_err().kind(), io::ErrorKind::PermissionDenied);
    drop(s);
    assert_eq!(
        client.join().unwrap().kind(),
        io::ErrorKind::PermissionDenied
    );
    let text = String::from_utf8(logs.0.lock().unwrap().clone()).unwrap();
    let peer = peer.to_string();
    assert!(
        text.lines()
            .any(|l| l.contains("WARN") && l.contains(&peer) && l.contains("wrong key")),
        "{text}"
    );
}
