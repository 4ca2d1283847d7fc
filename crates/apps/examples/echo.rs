//! Echo client and server (the first program of every socket tutorial),
//! on two ustack instances joined in-process.
//!
//! ```text
//! cargo run -p ustack-apps --example echo
//! ```
//!
//! The server (198.18.0.2:7) is a `ThreadedServer` running the `Echo`
//! handler; the client connects from 198.18.0.1, sends a few lines, reads
//! each echo back, then closes its sending side and waits for the server
//! to close too. `RUST_LOG=debug` shows the server's log lines.
use std::io::{BufRead, BufReader, Write};
use std::net::{Shutdown, SocketAddr};
use ustack_apps::echo::Echo;
use ustack_apps::pairnet::{two_stacks, SERVER_IP};
use ustack_apps::ThreadedServer;
use ustack_runtime::net::{TcpListener, TcpStream};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    init_log();
    let (client_ns, server_ns) = two_stacks()?;
    let addr = SocketAddr::new(SERVER_IP, 7);
    let server = ThreadedServer::new(TcpListener::bind(&server_ns, addr)?, Echo)
        .name("echo")
        .spawn()?;

    let stream = TcpStream::connect(&client_ns, addr)?;
    println!(
        "client: connected {} -> {}",
        stream.local_addr()?,
        stream.peer_addr()?
    );
    let mut writer = stream.clone();
    let mut reader = BufReader::new(stream);
    for line in ["hello", "user-space TCP", "bye"] {
        writer.write_all(format!("{line}\n").as_bytes())?;
        let mut reply = String::new();
        reader.read_line(&mut reply)?;
        println!("client: sent {line:?}, got back {:?}", reply.trim_end());
    }
    writer.shutdown(Shutdown::Write)?;
    let mut rest = String::new();
    reader.read_line(&mut rest)?; // 0 bytes: the server closed too
    println!("client: server closed the connection");

    let report = server.shutdown()?;
    println!("server: stopped after {} connection(s)", report.accepted);
    Ok(())
}

fn init_log() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .try_init();
}
