//! Test networks: every app test runs over ustack (two stacks joined by
//! an in-process pair) and over std::net on 127.0.0.1.
#![allow(dead_code)]
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU16, Ordering};
use ustack_apps::pairnet::{two_stacks, SERVER_IP};
use ustack_apps::transport::Listener;
use ustack_runtime::Netstack;

/// A place to run a client and a server.
pub trait Net: Send + Sync + 'static {
    type L: Listener;
    /// A listener on a fresh port.
    fn listen(&self) -> Self::L;
    /// A client connection to `addr`.
    fn connect(&self, addr: SocketAddr) -> io::Result<<Self::L as Listener>::Stream>;
    fn label(&self) -> &'static str;
}

pub struct Ustack {
    pub client: Netstack,
    pub server: Netstack,
    port: AtomicU16,
}

impl Ustack {
    pub fn new() -> Ustack {
        let (client, server) = two_stacks().expect("two stacks");
        Ustack {
            client,
            server,
            port: AtomicU16::new(8000),
        }
    }
}

impl Net for Ustack {
    type L = ustack_runtime::net::TcpListener;
    fn listen(&self) -> Self::L {
        let port = self.port.fetch_add(1, Ordering::SeqCst);
        ustack_runtime::net::TcpListener::bind(&self.server, SocketAddr::new(SERVER_IP, port))
            .expect("bind")
    }
    fn connect(&self, addr: SocketAddr) -> io::Result<ustack_runtime::net::TcpStream> {
        ustack_runtime::net::TcpStream::connect(&self.client, addr)
    }
    fn label(&self) -> &'static str {
        "ustack"
    }
}

pub struct Std;

impl Net for Std {
    type L = std::net::TcpListener;
    fn listen(&self) -> Self::L {
        std::net::TcpListener::bind("127.0.0.1:0").expect("bind")
    }
    fn connect(&self, addr: SocketAddr) -> io::Result<std::net::TcpStream> {
        std::net::TcpStream::connect(addr)
    }
    fn label(&self) -> &'static str {
        "std"
    }
}

/// Runs a generic check over both networks as two tests.
#[macro_export]
macro_rules! both_nets {
    ($($check:ident),* $(,)?) => {
        mod on_ustack {
            $(
                #[test]
                fn $check() {
                    super::$check(&super::common::Ustack::new());
                }
            )*
        }
        mod on_std {
            $(
                #[test]
                fn $check() {
                    super::$check(&super::common::Std);
                }
            )*
        }
    };
}

/// Logs to the test output when RUST_LOG is set.
pub fn init_log() {
    if std::env::var_os("RUST_LOG").is_some() {
        let _ = tracing_subscriber::fmt()
            .with_test_writer()
            .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
            .try_init();
    }
}

/// Deterministic pseudo-random bytes.
pub fn pattern(n: usize, seed: u32) -> Vec<u8> {
    let mut x = seed.wrapping_mul(2_654_435_761).wrapping_add(1);
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            (x >> 24) as u8
        })
        .collect()
}
