//! Upper-case echo with tokio on ustack: an `AsyncServer` (one task per
//! connection, semaphore-limited) speaking length-prefixed frames through
//! `LengthPrefixCodec`.
//!
//! ```text
//! cargo run -p ustack-apps --example upper
//! ```
//!
//! The client sends each message as one frame and gets it back upper-
//! cased. Two frames written in one go come back as two frames: the
//! length prefix solves TCP's "sticky packet" problem.
use futures::{SinkExt, StreamExt};
use std::net::SocketAddr;
use tokio::io::AsyncWriteExt;
use tokio_util::codec::Framed;
use ustack_apps::echo::frame_echo;
use ustack_apps::framing::{encode_frame, LengthPrefixCodec};
use ustack_apps::pairnet::{two_stacks, SERVER_IP};
use ustack_apps::AsyncServer;
use ustack_runtime::tokio_net::{TcpListener, TcpStream};

const MAX_FRAME: usize = 64 * 1024;

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let (client_ns, server_ns) = two_stacks()?;
    let addr = SocketAddr::new(SERVER_IP, 7007);
    let listener = TcpListener::bind(&server_ns, addr).await?;
    let server = AsyncServer::new(listener, |s: TcpStream, peer| {
        frame_echo(s, peer, MAX_FRAME, true)
    })
    .name("upper")
    .max_connections(16);
    let stop = server.shutdown_handle();
    let server = tokio::spawn(server.serve());

    let stream = TcpStream::connect(&client_ns, addr).await?;
    let mut framed = Framed::new(stream, LengthPrefixCodec::new(MAX_FRAME));
    for msg in ["hello, ustack", "frames keep their boundaries"] {
        framed.send(msg.as_bytes()).await?;
        if let Some(reply) = framed.next().await {
            println!("sent {msg:?}, got {:?}", String::from_utf8_lossy(&reply?));
        }
    }
    // Two frames in one write: still two replies.
    let mut two = encode_frame(b"sticky")?.to_vec();
    two.extend_from_slice(&encode_frame(b"packets")?);
    framed.get_mut().write_all(&two).await?;
    for _ in 0..2 {
        if let Some(reply) = framed.next().await {
            println!("got {:?}", String::from_utf8_lossy(&reply?));
        }
    }
    drop(framed);
    stop.shutdown();
    let report = server.await??;
    println!("server: {} connection(s)", report.accepted);
    Ok(())
}
