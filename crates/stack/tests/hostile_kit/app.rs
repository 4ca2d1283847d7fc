//! A stream application for tests: sends its bytes, optionally shuts down
//! writing when done, reads everything, and records how the stream ended
//! (EOF, or which error) so tests can check that no byte was lost and that
//! a lost connection is never reported as a clean EOF.
use std::io::ErrorKind;
use std::net::Shutdown;
use ustack::{SocketHandle, Stack};

/// Deterministic payload: byte `i` of stream `id`.
pub fn pattern(id: u64, len: usize) -> Vec<u8> {
    let mut x = id.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

#[derive(Debug, Default)]
pub struct Endpoint {
    pub h: Option<SocketHandle>,
    pub data: Vec<u8>,
    pub sent: usize,
    pub got: Vec<u8>,
    /// `tcp_recv` returned Ok(0).
    pub eof: bool,
    /// shutdown(Write) after all data was queued.
    pub shut_when_done: bool,
    pub shut: bool,
    /// Errors returned by send/recv (kind and which call).
    pub errors: Vec<(ErrorKind, &'static str)>,
}

impl Endpoint {
    pub fn new(data: Vec<u8>, shut_when_done: bool) -> Endpoint {
        Endpoint {
            data,
            shut_when_done,
            ..Endpoint::default()
        }
    }

    /// Queues what fits, shuts down when done, reads what is there.
    pub fn pump(&mut self, s: &mut Stack, buf: &mut [u8]) {
        let Some(h) = self.h else { return };
        if self.errors.is_empty() {
            while self.sent < self.data.len() {
                match s.tcp_send(h, &self.data[self.sent..]) {
                    Ok(n) => self.sent += n,
                    Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                    Err(e) => {
                        self.errors.push((e.kind(), "send"));
                        break;
                    }
                }
            }
            if self.shut_when_done && !self.shut && self.sent == self.data.len() {
                match s.tcp_shutdown(h, Shutdown::Write) {
                    Ok(()) => self.shut = true,
                    Err(e) => self.errors.push((e.kind(), "shutdown")),
                }
            }
        }
        self.read(s, buf);
    }

    /// Reads until WouldBlock, EOF or an error.
    pub fn read(&mut self, s: &mut Stack, buf: &mut [u8]) {
        let Some(h) = self.h else { return };
        // After EOF or an error the stream is over: a later Ok(0) (the
        // error was already reported once, like SO_ERROR) is not news.
        if self.eof || !self.errors.is_empty() {
            return;
        }
        loop {
            match s.tcp_recv(h, buf) {
                Ok(0) => {
                    self.eof = true;
                    return;
                }
                Ok(n) => self.got.extend_from_slice(&buf[..n]),
                Err(e) if e.kind() == ErrorKind::WouldBlock => return,
                Err(e) => {
                    self.errors.push((e.kind(), "recv"));
                    return;
                }
            }
        }
    }

    /// The first error seen, if any.
    pub fn first_error(&self) -> Option<ErrorKind> {
        self.errors.first().map(|e| e.0)
    }
}
