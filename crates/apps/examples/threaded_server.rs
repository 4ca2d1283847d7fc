//! A threaded "Hello, NAME" server with several concurrent clients, a
//! connection limit and a graceful shutdown, on ustack.
//!
//! ```text
//! cargo run -p ustack-apps --example threaded_server
//! ```
//!
//! The server handles each connection on its own thread (`HelloName`:
//! one name per line in, `Hello, NAME` out), at most 3 at once: with 6
//! clients arriving together, the others wait in the listen backlog until
//! a slot frees (the log says when the limit is reached). Then the server
//! is shut down gracefully.
use std::io::{BufRead, BufReader, Write};
use std::net::SocketAddr;
use std::thread;
use std::time::Duration;
use ustack_apps::echo::HelloName;
use ustack_apps::pairnet::{two_stacks, SERVER_IP};
use ustack_apps::ThreadedServer;
use ustack_runtime::net::{TcpListener, TcpStream};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .try_init();
    let (client_ns, server_ns) = two_stacks()?;
    let addr = SocketAddr::new(SERVER_IP, 8000);
    let server = ThreadedServer::new(TcpListener::bind(&server_ns, addr)?, HelloName)
        .name("hello")
        .max_connections(3)
        .shutdown_timeout(Duration::from_secs(2))
        .spawn()?;

    let names = ["Ada", "Grace", "Linus", "Barbara", "Dennis", "Radia"];
    let clients: Vec<_> = names
        .iter()
        .map(|name| {
            let ns = client_ns.clone();
            let name = name.to_string();
            thread::spawn(move || -> std::io::Result<String> {
                let stream = TcpStream::connect(&ns, addr)?;
                let mut w = stream.clone();
                // Stay a moment so that the limit shows.
                thread::sleep(Duration::from_millis(200));
                w.write_all(format!("{name}\n").as_bytes())?;
                let mut reply = String::new();
                BufReader::new(stream).read_line(&mut reply)?;
                Ok(reply.trim_end().to_string())
            })
        })
        .collect();
    for c in clients {
        match c.join() {
            Ok(Ok(reply)) => println!("client got: {reply}"),
            Ok(Err(e)) => println!("client failed: {e}"),
            Err(_) => println!("client thread panicked"),
        }
    }
    let report = server.shutdown()?;
    println!(
        "server: {} connections served, {} cut off at shutdown",
        report.accepted, report.forced
    );
    Ok(())
}
