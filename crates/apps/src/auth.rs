//! HMAC-SHA256 challenge-response authentication of a client by a shared
//! key, over [frames](crate::framing).
//!
//! ```text
//! server → client   frame: nonce (32 random bytes from the OS)
//! client → server   frame: HMAC-SHA256(key, "ustack-auth-v1" || nonce)
//! server → client   frame: "OK" or "FAIL"
//! ```
//!
//! The server compares the answer in constant time (`Mac::verify_slice`);
//! an answer of the wrong length simply fails. The key never crosses the
//! wire and a recorded answer is useless against a new nonce. This
//! authenticates the client only; it does not encrypt anything.
//!
//! A peer that fails is sent `FAIL`, logged with a `warn!` line naming it,
//! and the server side returns a `PermissionDenied` error, so a handler
//! using `?` drops (cuts off) the connection. [`AuthHandler`] wraps any
//! [`Handler`] that way, with a time limit for the answer.
use crate::framing::{expect_frame, read_frame_async, write_frame, write_frame_async};
use crate::server::Handler;
use crate::transport::{is_timeout, Connection};
use hmac::{Hmac, Mac};
use sha2::Sha256;
use std::io::{self, Read, Write};
use std::net::SocketAddr;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite};

type HmacSha256 = Hmac<Sha256>;

/// Bytes of the server's nonce.
pub const NONCE_LEN: usize = 32;
/// Bytes of the client's answer (an HMAC-SHA256 tag).
pub const TAG_LEN: usize = 32;
/// Largest answer the server reads (anything longer is garbage).
const MAX_ANSWER: usize = 256;
/// Domain separation: the tag covers this label and the nonce.
const LABEL: &[u8] = b"ustack-auth-v1";
const OK: &[u8] = b"OK";
const FAIL: &[u8] = b"FAIL";

/// Fills `buf` with OS randomness (`getrandom(2)`).
pub fn random_bytes(buf: &mut [u8]) -> io::Result<()> {
    getrandom::getrandom(buf)
        .map_err(|e| io::Error::other(format!("cannot get random bytes from the OS: {e}")))
}

fn mac(key: &[u8]) -> io::Result<HmacSha256> {
    if key.is_empty() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "the authentication key is empty",
        ));
    }
    let mut m = <HmacSha256 as Mac>::new_from_slice(key)
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e.to_string()))?;
    m.update(LABEL);
    Ok(m)
}

/// The answer to `nonce` under `key`.
pub fn answer(key: &[u8], nonce: &[u8]) -> io::Result<[u8; TAG_LEN]> {
    let mut m = mac(key)?;
    m.update(nonce);
    Ok(m.finalize().into_bytes().into())
}

/// Checks an answer in constant time.
pub fn verify(key: &[u8], nonce: &[u8], answer: &[u8]) -> io::Result<bool> {
    let mut m = mac(key)?;
    m.update(nonce);
    Ok(m.verify_slice(answer).is_ok())
}

/// Why a server rejected a peer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rejection {
    /// The answer had the right size but the wrong value (wrong key).
    WrongKey,
    /// The answer was not a 32-byte tag.
    Malformed(usize),
    /// The peer sent no (complete) answer: closed, timed out, oversize.
    NoAnswer(String),
}

impl std::fmt::Display for Rejection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Rejection::WrongKey => f.write_str("wrong key"),
            Rejection::Malformed(n) => {
                write!(f, "malformed answer ({n} bytes, expected {TAG_LEN})")
            }
            Rejection::NoAnswer(e) => write!(f, "no valid answer: {e}"),
        }
    }
}

fn rejected(peer: SocketAddr, why: &Rejection) -> io::Error {
    tracing::warn!("auth: rejecting {peer}: {why}; closing the connection");
    io::Error::new(
        io::ErrorKind::PermissionDenied,
        format!("peer {peer} failed authentication: {why}"),
    )
}

fn judge(key: &[u8], nonce: &[u8], got: io::Result<Vec<u8>>) -> io::Result<Result<(), Rejection>> {
    Ok(match got {
        Ok(a) if a.len() != TAG_LEN => Err(Rejection::Malformed(a.len())),
        Ok(a) => {
            if verify(key, nonce, &a)? {
                Ok(())
            } else {
                Err(Rejection::WrongKey)
            }
        }
        Err(e) if is_timeout(&e) => Err(Rejection::NoAnswer("timed out".into())),
        Err(e) => Err(Rejection::NoAnswer(e.to_string())),
    })
}

/// Server side: challenges the client on `stream` and checks its answer.
///
/// `Ok(())`: authenticated (the client was sent `OK`). Otherwise the client
/// was sent `FAIL` (if still reachable), a `warn!` line names `peer`, and
/// the error is `PermissionDenied`. Set a read timeout on the stream
/// beforehand to bound the wait for the answer.
pub fn server_handshake<S: Read + Write + ?Sized>(
    stream: &mut S,
    key: &[u8],
    peer: SocketAddr,
) -> io::Result<()> {
    mac(key)?;
    let mut nonce = [0u8; NONCE_LEN];
    random_bytes(&mut nonce)?;
    write_frame(stream, &nonce)?;
    let got = expect_frame(stream, MAX_ANSWER);
    match judge(key, &nonce, got)? {
        Ok(()) => {
            write_frame(stream, OK)?;
            tracing::debug!("auth: {peer} authenticated");
            Ok(())
        }
        Err(why) => {
            let _ = write_frame(stream, FAIL);
            Err(rejected(peer, &why))
        }
    }
}

fn client_answer(key: &[u8], nonce: io::Result<Vec<u8>>) -> io::Result<[u8; TAG_LEN]> {
    let nonce = nonce?;
    if nonce.len() != NONCE_LEN {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!(
                "not an authentication challenge ({} bytes, expected {NONCE_LEN})",
                nonce.len()
            ),
        ));
    }
    answer(key, &nonce)
}

fn client_verdict(v: io::Result<Vec<u8>>) -> io::Result<()> {
    match v?.as_slice() {
        OK => Ok(()),
        FAIL => Err(io::Error::new(
            io::ErrorKind::PermissionDenied,
            "authentication failed: the server rejected our key",
        )),
        other => Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("unexpected authentication verdict ({} bytes)", other.len()),
        )),
    }
}

/// Client side: answers the server's challenge with `key`.
///
/// `PermissionDenied` if the server rejects the key; `InvalidData` if the
/// server does not speak this protocol.
pub fn client_handshake<S: Read + Write + ?Sized>(stream: &mut S, key: &[u8]) -> io::Result<()> {
    mac(key)?;
    let tag = client_answer(key, expect_frame(stream, MAX_ANSWER))?;
    write_frame(stream, &tag)?;
    client_verdict(expect_frame(stream, MAX_ANSWER))
}

async fn expect_frame_async<S: AsyncRead + Unpin + ?Sized>(
    s: &mut S,
    max: usize,
) -> io::Result<Vec<u8>> {
    read_frame_async(s, max).await?.ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::UnexpectedEof,
            "connection closed while a frame was expected",
        )
    })
}

/// Async [`server_handshake`]; `timeout` bounds the wait for the answer.
pub async fn server_handshake_async<S: AsyncRead + AsyncWrite + Unpin + ?Sized>(
    stream: &mut S,
    key: &[u8],
    peer: SocketAddr,
    timeout: Duration,
) -> io::Result<()> {
    mac(key)?;
    let mut nonce = [0u8; NONCE_LEN];
    random_bytes(&mut nonce)?;
    write_frame_async(stream, &nonce, MAX_ANSWER).await?;
    let got = match tokio::time::timeout(timeout, expect_frame_async(stream, MAX_ANSWER)).await {
        Ok(r) => r,
        Err(_) => Err(io::Error::new(io::ErrorKind::TimedOut, "timed out")),
    };
    match judge(key, &nonce, got)? {
        Ok(()) => {
            write_frame_async(stream, OK, MAX_ANSWER).await?;
            tracing::debug!("auth: {peer} authenticated");
            Ok(())
        }
        Err(why) => {
            let _ = write_frame_async(stream, FAIL, MAX_ANSWER).await;
            Err(rejected(peer, &why))
        }
    }
}

/// Async [`client_handshake`].
pub async fn client_handshake_async<S: AsyncRead + AsyncWrite + Unpin + ?Sized>(
    stream: &mut S,
    key: &[u8],
) -> io::Result<()> {
    mac(key)?;
    let tag = client_answer(key, expect_frame_async(stream, MAX_ANSWER).await)?;
    write_frame_async(stream, &tag, MAX_ANSWER).await?;
    client_verdict(expect_frame_async(stream, MAX_ANSWER).await)
}

/// Wraps a handler: authenticates each client first and cuts off those
/// that fail (or do not answer within the time limit).
pub struct AuthHandler<H> {
    key: Vec<u8>,
    timeout: Duration,
    inner: H,
}

impl<H> AuthHandler<H> {
    /// Requires `key` before handing connections to `inner`; the client
    /// gets 10 s to answer.
    pub fn new(key: &[u8], inner: H) -> Self {
        AuthHandler {
            key: key.to_vec(),
            timeout: Duration::from_secs(10),
            inner,
        }
    }

    /// Sets the time the client has to answer.
    pub fn timeout(mut self, t: Duration) -> Self {
        self.timeout = t;
        self
    }
}

impl<S: Connection, H: Handler<S>> Handler<S> for AuthHandler<H> {
    fn handle(&self, mut stream: S, peer: SocketAddr) -> io::Result<()> {
        stream.set_read_timeout(Some(self.timeout))?;
        server_handshake(&mut stream, &self.key, peer)?;
        stream.set_read_timeout(None)?;
        self.inner.handle(stream, peer)
    }
}
