//! Length-prefix framing: the cure for TCP's "sticky packets".
//!
//! TCP carries a byte stream, not messages: two `write`s may arrive in one
//! `read`, and one `write` may arrive in several. A frame here is a 4-byte
//! big-endian length followed by that many payload bytes, so the reader
//! always knows where a message ends.
//!
//! ```text
//! +----------------+---------------------+
//! | length (u32 BE)| payload (length B)  |
//! +----------------+---------------------+
//! ```
//!
//! Every reader takes an explicit maximum frame size: a length above it is
//! rejected before anything is allocated (`InvalidData`, naming both
//! sizes). A stream that ends inside a frame is `UnexpectedEof`, saying how
//! far it got; a stream that ends cleanly between frames is `Ok(None)`.
//!
//! Blocking: [`write_frame`], [`read_frame`]. Async: [`write_frame_async`],
//! [`read_frame_async`], and [`LengthPrefixCodec`] for
//! `tokio_util::codec::{Framed, FramedRead, FramedWrite}`.
use bytes::{Buf, BufMut, Bytes, BytesMut};
use std::io::{self, Read, Write};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio_util::codec::{Decoder, Encoder};

/// Bytes of the length prefix.
pub const HEADER_LEN: usize = 4;

/// A sensible default maximum frame size: 16 MiB.
pub const DEFAULT_MAX_FRAME: usize = 16 << 20;

/// The error for a frame longer than allowed.
pub fn oversize(len: usize, max: usize) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        format!("frame of {len} bytes exceeds the maximum frame size of {max} bytes"),
    )
}

fn truncated_header(got: usize) -> io::Error {
    io::Error::new(
        io::ErrorKind::UnexpectedEof,
        format!("stream ended inside a frame header ({got} of {HEADER_LEN} length bytes)"),
    )
}

fn truncated_payload(got: usize, len: usize) -> io::Error {
    io::Error::new(
        io::ErrorKind::UnexpectedEof,
        format!("stream ended inside a frame ({got} of {len} payload bytes)"),
    )
}

fn check_len(len: usize, max: usize) -> io::Result<u32> {
    if len > max {
        return Err(oversize(len, max));
    }
    u32::try_from(len).map_err(|_| oversize(len, u32::MAX as usize))
}

/// Writes one frame (header and payload in one `write_all`, so a frame is
/// never split by Nagle into header-only segments). Payloads longer than
/// `u32::MAX` are `InvalidData`.
pub fn write_frame<W: Write + ?Sized>(w: &mut W, payload: &[u8]) -> io::Result<()> {
    write_frame_max(w, payload, u32::MAX as usize)
}

/// Writes one frame, refusing payloads longer than `max` (the limit the
/// peer reads with), so the error shows on the sending side.
pub fn write_frame_max<W: Write + ?Sized>(w: &mut W, payload: &[u8], max: usize) -> io::Result<()> {
    let len = check_len(payload.len(), max)?;
    if payload.len() <= 64 * 1024 {
        let mut buf = Vec::with_capacity(HEADER_LEN + payload.len());
        buf.extend_from_slice(&len.to_be_bytes());
        buf.extend_from_slice(payload);
        w.write_all(&buf)
    } else {
        w.write_all(&len.to_be_bytes())?;
        w.write_all(payload)
    }
}

/// Reads up to `buf.len()` bytes; returns how many before EOF.
fn read_full<R: Read + ?Sized>(r: &mut R, buf: &mut [u8]) -> io::Result<usize> {
    let mut got = 0;
    while got < buf.len() {
        match r.read(&mut buf[got..]) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(got)
}

/// Reads one frame of at most `max` payload bytes.
///
/// `Ok(None)`: the stream ended cleanly before a new frame.
/// `InvalidData`: the announced length exceeds `max` (nothing is read
/// past the header). `UnexpectedEof`: the stream ended inside a frame.
pub fn read_frame<R: Read + ?Sized>(r: &mut R, max: usize) -> io::Result<Option<Vec<u8>>> {
    let mut hdr = [0u8; HEADER_LEN];
    match read_full(r, &mut hdr)? {
        0 => return Ok(None),
        HEADER_LEN => {}
        n => return Err(truncated_header(n)),
    }
    let len = u32::from_be_bytes(hdr) as usize;
    if len > max {
        return Err(oversize(len, max));
    }
    // Grow as data arrives rather than trusting the length up front.
    let mut payload = Vec::with_capacity(len.min(64 * 1024));
    let got = r.take(len as u64).read_to_end(&mut payload)?;
    if got < len {
        return Err(truncated_payload(got, len));
    }
    Ok(Some(payload))
}

/// Like [`read_frame`], but a clean end of stream is an error too
/// (`UnexpectedEof`, "connection closed before a frame").
pub fn expect_frame<R: Read + ?Sized>(r: &mut R, max: usize) -> io::Result<Vec<u8>> {
    read_frame(r, max)?.ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::UnexpectedEof,
            "connection closed while a frame was expected",
        )
    })
}

/// Async [`write_frame_max`].
pub async fn write_frame_async<W: AsyncWrite + Unpin + ?Sized>(
    w: &mut W,
    payload: &[u8],
    max: usize,
) -> io::Result<()> {
    let len = check_len(payload.len(), max)?;
    let mut buf = Vec::with_capacity(HEADER_LEN + payload.len());
    buf.extend_from_slice(&len.to_be_bytes());
    buf.extend_from_slice(payload);
    w.write_all(&buf).await?;
    w.flush().await
}

/// Async [`read_frame`].
pub async fn read_frame_async<R: AsyncRead + Unpin + ?Sized>(
    r: &mut R,
    max: usize,
) -> io::Result<Option<Vec<u8>>> {
    let mut hdr = [0u8; HEADER_LEN];
    let mut got = 0;
    while got < HEADER_LEN {
        let n = r.read(&mut hdr[got..]).await?;
        if n == 0 {
            return if got == 0 {
                Ok(None)
            } else {
                Err(truncated_header(got))
            };
        }
        got += n;
    }
    let len = u32::from_be_bytes(hdr) as usize;
    if len > max {
        return Err(oversize(len, max));
    }
    let mut payload = Vec::with_capacity(len.min(64 * 1024));
    let got = (&mut *r).take(len as u64).read_to_end(&mut payload).await?;
    if got < len {
        return Err(truncated_payload(got, len));
    }
    Ok(Some(payload))
}

/// A `tokio_util::codec` codec for the same frames: decodes to `BytesMut`
/// payloads, encodes anything `AsRef<[u8]>` (`Bytes`, `Vec<u8>`, `&[u8]`,
/// `String`...).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LengthPrefixCodec {
    max: usize,
}

impl LengthPrefixCodec {
    /// A codec accepting (and sending) frames of at most `max` bytes.
    pub fn new(max: usize) -> Self {
        LengthPrefixCodec { max }
    }

    /// The maximum frame size.
    pub fn max_frame(&self) -> usize {
        self.max
    }
}

impl Default for LengthPrefixCodec {
    fn default() -> Self {
        LengthPrefixCodec::new(DEFAULT_MAX_FRAME)
    }
}

impl Decoder for LengthPrefixCodec {
    type Item = BytesMut;
    type Error = io::Error;

    fn decode(&mut self, src: &mut BytesMut) -> io::Result<Option<BytesMut>> {
        if src.len() < HEADER_LEN {
            src.reserve(HEADER_LEN - src.len());
            return Ok(None);
        }
        let mut hdr = [0u8; HEADER_LEN];
        hdr.copy_from_slice(&src[..HEADER_LEN]);
        let len = u32::from_be_bytes(hdr) as usize;
        if len > self.max {
            return Err(oversize(len, self.max));
        }
        if src.len() < HEADER_LEN + len {
            // Reserve what the frame needs (bounded by `max`).
            src.reserve(HEADER_LEN + len - src.len());
            return Ok(None);
        }
        src.advance(HEADER_LEN);
        Ok(Some(src.split_to(len)))
    }

    fn decode_eof(&mut self, src: &mut BytesMut) -> io::Result<Option<BytesMut>> {
        match self.decode(src)? {
            Some(frame) => Ok(Some(frame)),
            None if src.is_empty() => Ok(None),
            None if src.len() < HEADER_LEN => Err(truncated_header(src.len())),
            None => {
                let mut hdr = [0u8; HEADER_LEN];
                hdr.copy_from_slice(&src[..HEADER_LEN]);
                let len = u32::from_be_bytes(hdr) as usize;
                Err(truncated_payload(src.len() - HEADER_LEN, len))
            }
        }
    }
}

impl<T: AsRef<[u8]>> Encoder<T> for LengthPrefixCodec {
    type Error = io::Error;

    fn encode(&mut self, item: T, dst: &mut BytesMut) -> io::Result<()> {
        let payload = item.as_ref();
        let len = check_len(payload.len(), self.max)?;
        dst.reserve(HEADER_LEN + payload.len());
        dst.put_u32(len);
        dst.put_slice(payload);
        Ok(())
    }
}

/// Encodes one frame into a new buffer (handy for tests and raw writes).
pub fn encode_frame(payload: &[u8]) -> io::Result<Bytes> {
    let mut b = BytesMut::new();
    LengthPrefixCodec::new(u32::MAX as usize).encode(payload, &mut b)?;
    Ok(b.freeze())
}
