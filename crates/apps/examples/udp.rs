//! UDP client and server on ustack: an echo server loop and a client
//! that sends datagrams and waits for each reply.
//!
//! ```text
//! cargo run -p ustack-apps --example udp
//! ```
//!
//! Datagrams keep their boundaries (unlike TCP's byte stream): each
//! `send_to` arrives as one `recv_from`. The server runs `udp_echo_loop`
//! until its `ShutdownHandle` fires.
use std::thread;
use std::time::Duration;
use ustack_apps::echo::{udp_echo_loop, udp_request};
use ustack_apps::pairnet::{two_stacks, CLIENT_IP, SERVER_IP};
use ustack_apps::ShutdownHandle;
use ustack_runtime::net::UdpSocket;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let (client_ns, server_ns) = two_stacks()?;
    let server_sock = UdpSocket::bind(&server_ns, (SERVER_IP, 7))?;
    let server_addr = server_sock.local_addr()?;
    let stop = ShutdownHandle::new();
    let st = stop.clone();
    let server = thread::spawn(move || udp_echo_loop(&server_sock, false, &st));

    let client = UdpSocket::bind(&client_ns, (CLIENT_IP, 40000))?;
    for msg in ["first datagram", "second", "third and last"] {
        let reply = udp_request(&client, msg.as_bytes(), server_addr, Duration::from_secs(2))?;
        println!(
            "client: sent {msg:?}, got {:?}",
            String::from_utf8_lossy(&reply)
        );
    }
    stop.shutdown();
    let echoed = server.join().map_err(|_| "server thread panicked")??;
    println!("server: echoed {echoed} datagrams");
    Ok(())
}
