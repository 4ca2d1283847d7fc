//! An authenticated client: HMAC-SHA256 challenge-response before the
//! conversation, on ustack.
//!
//! ```text
//! cargo run -p ustack-apps --example auth_client
//! ```
//!
//! The server wraps a "Hello, NAME" handler in `AuthHandler`: it sends a
//! random nonce, the client answers HMAC(key, nonce), the server checks it
//! in constant time. A client with the right key gets its greeting; one
//! with a wrong key is told FAIL and cut off (see the `WARN` log line
//! naming it).
use std::io::{BufRead, BufReader, Write};
use std::net::SocketAddr;
use ustack_apps::auth::{client_handshake, AuthHandler};
use ustack_apps::echo::HelloName;
use ustack_apps::pairnet::{two_stacks, SERVER_IP};
use ustack_apps::ThreadedServer;
use ustack_runtime::net::{TcpListener, TcpStream};

const SHARED_KEY: &[u8] = b"a shared secret";

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .try_init();
    let (client_ns, server_ns) = two_stacks()?;
    let addr = SocketAddr::new(SERVER_IP, 4000);
    let handler = AuthHandler::new(SHARED_KEY, HelloName);
    let server = ThreadedServer::new(TcpListener::bind(&server_ns, addr)?, handler)
        .name("auth-hello")
        .spawn()?;

    for (who, key) in [("alice", SHARED_KEY), ("mallory", &b"a guessed secret"[..])] {
        let mut stream = TcpStream::connect(&client_ns, addr)?;
        match client_handshake(&mut stream, key) {
            Ok(()) => {
                stream.write_all(format!("{who}\n").as_bytes())?;
                let mut reply = String::new();
                BufReader::new(stream).read_line(&mut reply)?;
                println!("{who}: authenticated; server says {:?}", reply.trim_end());
            }
            Err(e) => println!("{who}: {e}"),
        }
    }
    let report = server.shutdown()?;
    println!(
        "server: {} connections, {} rejected",
        report.accepted, report.failed
    );
    Ok(())
}
