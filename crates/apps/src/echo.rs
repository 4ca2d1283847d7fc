//! The classic small services as [`Handler`]s: plain echo (RFC 862),
//! upper-case echo, discard (RFC 863), "Hello, NAME"; and a UDP echo loop
//! over any [`DatagramSocket`].
use crate::server::{Handler, ShutdownHandle};
use crate::transport::{is_timeout, Connection, DatagramSocket};
use std::io::{self, BufRead, BufReader, Read};
use std::net::SocketAddr;
use std::time::Duration;

const CHUNK: usize = 16 * 1024;

/// Copies `r` to `w`, transforming each chunk, until EOF; then shuts down
/// the write side so the peer sees EOF too. Returns the bytes copied.
fn pump<S: Connection>(mut stream: S, map: impl Fn(&mut [u8])) -> io::Result<u64> {
    let mut buf = vec![0u8; CHUNK];
    let mut total = 0u64;
    loop {
        let n = match stream.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        map(&mut buf[..n]);
        stream.write_all(&buf[..n])?;
        total += n as u64;
    }
    stream.shutdown(std::net::Shutdown::Write)?;
    Ok(total)
}

/// Sends back everything it receives (RFC 862).
#[derive(Debug, Clone, Copy, Default)]
pub struct Echo;

impl<S: Connection> Handler<S> for Echo {
    fn handle(&self, stream: S, peer: SocketAddr) -> io::Result<()> {
        let _ = stream.set_nodelay(true);
        let n = pump(stream, |_| {})?;
        tracing::debug!("echo: {n} bytes echoed to {peer}");
        Ok(())
    }
}

/// Sends back everything it receives in ASCII upper case (byte by byte,
/// so segment boundaries do not matter; non-ASCII bytes pass unchanged).
#[derive(Debug, Clone, Copy, Default)]
pub struct UpperEcho;

impl<S: Connection> Handler<S> for UpperEcho {
    fn handle(&self, stream: S, peer: SocketAddr) -> io::Result<()> {
        let _ = stream.set_nodelay(true);
        let n = pump(stream, |b| b.make_ascii_uppercase())?;
        tracing::debug!("upper: {n} bytes echoed to {peer}");
        Ok(())
    }
}

/// Reads and throws away everything (RFC 863).
#[derive(Debug, Clone, Copy, Default)]
pub struct Discard;

impl<S: Connection> Handler<S> for Discard {
    fn handle(&self, mut stream: S, peer: SocketAddr) -> io::Result<()> {
        let n = io::copy(&mut stream, &mut io::sink())?;
        tracing::info!("discard: received {n} bytes from {peer}");
        Ok(())
    }
}

/// Longest name [`HelloName`] accepts.
pub const MAX_NAME: usize = 256;

/// Reads names, one per line, and answers each with `Hello, NAME\n`
/// (the classic threaded-server exercise). A line longer than
/// [`MAX_NAME`] bytes gets `ERROR name too long\n` and the connection is
/// closed.
#[derive(Debug, Clone, Copy, Default)]
pub struct HelloName;

impl<S: Connection> Handler<S> for HelloName {
    fn handle(&self, stream: S, peer: SocketAddr) -> io::Result<()> {
        let _ = stream.set_nodelay(true);
        let mut out = stream.try_clone()?;
        let mut lines = BufReader::new(stream);
        let mut line = Vec::new();
        loop {
            line.clear();
            let n = (&mut lines)
                .take(MAX_NAME as u64 + 2)
                .read_until(b'\n', &mut line)?;
            if n == 0 {
                break;
            }
            if !line.ends_with(b"\n") && n > MAX_NAME {
                out.write_all(b"ERROR name too long\n")?;
                tracing::warn!("hello: {peer} sent a name longer than {MAX_NAME} bytes");
                break;
            }
            let name = String::from_utf8_lossy(&line);
            let name = name.trim();
            tracing::debug!("hello: {peer} says its name is {name:?}");
            out.write_all(format!("Hello, {name}\n").as_bytes())?;
        }
        out.shutdown(std::net::Shutdown::Write)?;
        Ok(())
    }
}

/// Answers each datagram on `socket` with the same bytes (upper-cased if
/// `upper`) until `shutdown` is requested; returns the datagrams echoed.
/// The socket's read timeout is set to 100 ms to notice the shutdown.
pub fn udp_echo_loop<U: DatagramSocket + ?Sized>(
    socket: &U,
    upper: bool,
    shutdown: &ShutdownHandle,
) -> io::Result<u64> {
    socket.set_read_timeout(Some(Duration::from_millis(100)))?;
    let mut buf = vec![0u8; 65536];
    let mut count = 0u64;
    while !shutdown.is_shutdown() {
        let (n, from) = match socket.recv_from(&mut buf) {
            Ok(x) => x,
            Err(e) if is_timeout(&e) || e.kind() == io::ErrorKind::Interrupted => continue,
            // ICMP errors from earlier sends surface here on Linux.
            Err(e) if e.kind() == io::ErrorKind::ConnectionRefused => continue,
            Err(e) => return Err(e),
        };
        if upper {
            buf[..n].make_ascii_uppercase();
        }
        if let Err(e) = socket.send_to(&buf[..n], from) {
            tracing::warn!("udp echo: cannot answer {from}: {e}");
            continue;
        }
        count += 1;
    }
    Ok(count)
}

/// Sends `msg` to `to` and waits up to `timeout` for one reply datagram
/// from that address (a UDP client's request/response step).
pub fn udp_request<U: DatagramSocket + ?Sized>(
    socket: &U,
    msg: &[u8],
    to: SocketAddr,
    timeout: Duration,
) -> io::Result<Vec<u8>> {
    socket.set_read_timeout(Some(timeout))?;
    socket.send_to(msg, to)?;
    let mut buf = vec![0u8; 65536];
    let deadline = std::time::Instant::now() + timeout;
    loop {
        match socket.recv_from(&mut buf) {
            Ok((n, from)) if from == to => return Ok(buf[..n].to_vec()),
            Ok(_) => {}
            Err(e) if is_timeout(&e) => {
                return Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    format!("no reply from {to} within {timeout:?}"),
                ))
            }
            Err(e) => return Err(e),
        }
        if std::time::Instant::now() >= deadline {
            return Err(io::Error::new(
                io::ErrorKind::TimedOut,
                format!("no reply from {to} within {timeout:?}"),
            ));
        }
    }
}

/// Async handler: echoes each [frame](crate::framing) back (payload upper-
/// cased if `upper`), using [`LengthPrefixCodec`](crate::framing::LengthPrefixCodec)
/// with frames of at most `max` bytes; returns at the peer's EOF.
pub async fn frame_echo<S: crate::transport::AsyncConnection>(
    stream: S,
    peer: SocketAddr,
    max: usize,
    upper: bool,
) -> io::Result<()> {
    use futures::{SinkExt, StreamExt};
    let mut framed =
        tokio_util::codec::Framed::new(stream, crate::framing::LengthPrefixCodec::new(max));
    let mut n = 0u64;
    while let Some(frame) = framed.next().await {
        let mut frame = frame?;
        if upper {
            frame.make_ascii_uppercase();
        }
        framed.send(frame.freeze()).await?;
        n += 1;
    }
    tokio::io::AsyncWriteExt::shutdown(framed.get_mut()).await?;
    tracing::debug!("frame echo: {n} frames echoed to {peer}");
    Ok(())
}
