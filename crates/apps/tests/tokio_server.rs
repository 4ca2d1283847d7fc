//! AsyncServer with the LengthPrefixCodec: frame echo, sticky frames, the
//! semaphore limit, graceful shutdown; over tokio::net and ustack's
//! tokio_net.
use futures::{SinkExt, StreamExt};
use std::io;
use std::net::SocketAddr;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_util::codec::Framed;
use ustack_apps::echo::frame_echo;
use ustack_apps::framing::{encode_frame, LengthPrefixCodec};
use ustack_apps::pairnet::{two_stacks, SERVER_IP};
use ustack_apps::transport::{AsyncConnection, AsyncListener};
use ustack_apps::{AsyncServer, Overflow, ShutdownHandle};
use ustack_runtime::Netstack;

/// A client connector for either network.
#[derive(Clone)]
enum Dialer {
    Tokio,
    Ustack(Netstack),
}

impl Dialer {
    async fn dial(&self, addr: SocketAddr) -> io::Result<Box<dyn AsyncConnectionBox>> {
        Ok(match self {
            Dialer::Tokio => Box::new(tokio::net::TcpStream::connect(addr).await?),
            Dialer::Ustack(ns) => {
                Box::new(ustack_runtime::tokio_net::TcpStream::connect(ns, addr).await?)
            }
        })
    }
}

trait AsyncConnectionBox: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send {}
impl<T: AsyncConnection> AsyncConnectionBox for T {}

const MAX: usize = 1024;

async fn echo_server<L: AsyncListener>(
    l: L,
    overflow: Overflow,
    max_conn: usize,
    timeout: Duration,
) -> (
    SocketAddr,
    ShutdownHandle,
    std::sync::Arc<ustack_apps::server::ServerStats>,
    tokio::task::JoinHandle<io::Result<ustack_apps::ServeReport>>,
) {
    let addr = l.local_addr().unwrap();
    let srv = AsyncServer::new(l, |s: L::Stream, peer| frame_echo(s, peer, MAX, true))
        .name("frame-echo")
        .max_connections(max_conn)
        .overflow(overflow)
        .shutdown_timeout(timeout);
    let handle = srv.shutdown_handle();
    let stats = srv.stats();
    (addr, handle, stats, tokio::spawn(srv.serve()))
}

async fn frames_echoed(dialer: Dialer, addr: SocketAddr) {
    let c = dialer.dial(addr).await.unwrap();
    let mut f = Framed::new(c, LengthPrefixCodec::new(MAX));
    f.send(&b"hello"[..]).await.unwrap();
    f.send(b"world".to_vec()).await.unwrap();
    assert_eq!(&f.next().await.unwrap().unwrap()[..], b"HELLO");
    assert_eq!(&f.next().await.unwrap().unwrap()[..], b"WORLD");
    // Two frames in one raw write (sticky) come back as two frames.
    let mut raw = encode_frame(b"one").unwrap().to_vec();
    raw.extend_from_slice(&encode_frame(b"two").unwrap());
    f.get_mut().write_all(&raw).await.unwrap();
    assert_eq!(&f.next().await.unwrap().unwrap()[..], b"ONE");
    assert_eq!(&f.next().await.unwrap().unwrap()[..], b"TWO");
    // An oversize frame: the client's encoder refuses it...
    let e = f.send(vec![0u8; MAX + 1]).await.unwrap_err();
    assert_eq!(e.kind(), io::ErrorKind::InvalidData);
    // ...and the server, sent one anyway, drops the connection.
    f.get_mut()
        .write_all(&((MAX + 1) as u32).to_be_bytes())
        .await
        .unwrap();
    assert!(f.next().await.is_none_or(|r| r.is_err()));
}

async fn limit_refuses(dialer: Dialer, addr: SocketAddr, stats: &ustack_apps::server::ServerStats) {
    let c1 = dialer.dial(addr).await.unwrap();
    let mut f1 = Framed::new(c1, LengthPrefixCodec::new(MAX));
    f1.send(&b"a"[..]).await.unwrap();
    assert_eq!(&f1.next().await.unwrap().unwrap()[..], b"A");
    // At the limit (1): the next connection is closed at once.
    let mut c2 = dialer.dial(addr).await.unwrap();
    let mut buf = Vec::new();
    let n = tokio::time::timeout(Duration::from_secs(5), c2.read_to_end(&mut buf)).await;
    assert!(matches!(n, Ok(Ok(0)) | Ok(Err(_))), "{n:?}");
    assert_eq!(stats.refused(), 1);
    drop(f1);
}

async fn run_all<L: AsyncListener>(
    mk: impl Fn() -> futures::future::BoxFuture<'static, L>,
    dialer: Dialer,
) {
    // Echo and codec.
    let (addr, h, _st, j) =
        echo_server(mk().await, Overflow::Wait, 8, Duration::from_secs(5)).await;
    frames_echoed(dialer.clone(), addr).await;
    h.shutdown();
    let rep = j.await.unwrap().unwrap();
    assert_eq!((rep.accepted, rep.forced), (1, 0));

    // The semaphore limit, refusing.
    let (addr, h, st, j) =
        echo_server(mk().await, Overflow::Refuse, 1, Duration::from_secs(5)).await;
    limit_refuses(dialer.clone(), addr, &st).await;
    h.shutdown();
    let rep = j.await.unwrap().unwrap();
    assert_eq!((rep.accepted, rep.refused), (1, 1));

    // The semaphore limit, waiting: the second client is served once the
    // first leaves.
    let (addr, h, st, j) = echo_server(mk().await, Overflow::Wait, 1, Duration::from_secs(5)).await;
    let mut f1 = Framed::new(
        dialer.dial(addr).await.unwrap(),
        LengthPrefixCodec::new(MAX),
    );
    f1.send(&b"x"[..]).await.unwrap();
    assert_eq!(&f1.next().await.unwrap().unwrap()[..], b"X");
    let mut f2 = Framed::new(
        dialer.dial(addr).await.unwrap(),
        LengthPrefixCodec::new(MAX),
    );
    f2.send(&b"y"[..]).await.unwrap();
    let early = tokio::time::timeout(Duration::from_millis(300), f2.next()).await;
    assert!(early.is_err(), "second client served beyond the limit");
    assert_eq!(st.active(), 1);
    drop(f1);
    let y = tokio::time::timeout(Duration::from_secs(5), f2.next())
        .await
        .unwrap();
    assert_eq!(&y.unwrap().unwrap()[..], b"Y");
    drop(f2);
    h.shutdown();
    j.await.unwrap().unwrap();

    // Graceful shutdown with an idle client: cut off after the timeout.
    let (addr, h, _st, j) =
        echo_server(mk().await, Overflow::Wait, 8, Duration::from_millis(300)).await;
    let mut idle = Framed::new(
        dialer.dial(addr).await.unwrap(),
        LengthPrefixCodec::new(MAX),
    );
    idle.send(&b"z"[..]).await.unwrap();
    assert_eq!(&idle.next().await.unwrap().unwrap()[..], b"Z");
    let t0 = Instant::now();
    h.shutdown();
    let rep = j.await.unwrap().unwrap();
    assert!(t0.elapsed() < Duration::from_secs(2));
    assert_eq!(rep.forced, 1);
    let end = tokio::time::timeout(Duration::from_secs(5), idle.next())
        .await
        .unwrap();
    assert!(end.is_none_or(|r| r.is_err()));
    // Not listening any more.
    assert!(dialer.dial(addr).await.is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn async_server_on_tokio_net() {
    run_all(
        || Box::pin(async { tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap() }),
        Dialer::Tokio,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn async_server_on_ustack() {
    let (client, server) = two_stacks().unwrap();
    let port = std::sync::Arc::new(std::sync::atomic::AtomicU16::new(9000));
    run_all(
        move || {
            let server = server.clone();
            let port = port.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            Box::pin(async move {
                ustack_runtime::tokio_net::TcpListener::bind(
                    &server,
                    SocketAddr::new(SERVER_IP, port),
                )
                .await
                .unwrap()
            })
        },
        Dialer::Ustack(client),
    )
    .await;
}
