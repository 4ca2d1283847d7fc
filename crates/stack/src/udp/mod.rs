//! UDP sockets (RFC 768): message boundaries kept, a short receive buffer
//! truncates the datagram and says so.
use std::collections::VecDeque;
use std::io;
use std::net::SocketAddr;

use crate::bufpool::BufPool;

/// Largest UDP payload over IPv4 (65535 - 20 - 8).
pub const MAX_PAYLOAD: usize = 65507;

/// A bound UDP socket's state.
#[derive(Debug)]
pub(crate) struct UdpSocket {
    pub local: SocketAddr,
    /// Set by `connect`: datagrams from elsewhere are dropped, ICMP errors
    /// about this peer are reported.
    pub connected: Option<SocketAddr>,
    queue: VecDeque<(SocketAddr, Vec<u8>)>,
    queued_bytes: usize,
    capacity: usize,
    pub error: Option<io::ErrorKind>,
    /// IP_TTL of the datagrams it sends.
    pub ttl: u8,
    /// IP_TOS: the DS field (DSCP and ECN bits) of the datagrams it sends.
    pub tos: u8,
    /// SO_BROADCAST: may send to a broadcast address.
    pub broadcast: bool,
    /// IPV6_V6ONLY: bound to `[::]`, it neither takes nor sends IPv4.
    pub only_v6: bool,
}

/// What `UdpSocket::deliver` did.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Delivery {
    Queued,
    /// Queue full (counted, dropped).
    Full,
    /// Connected to another peer (silently dropped, as Linux).
    Filtered,
}

impl UdpSocket {
    pub fn new(local: SocketAddr, capacity: usize) -> UdpSocket {
        UdpSocket {
            local,
            connected: None,
            queue: VecDeque::new(),
            queued_bytes: 0,
            capacity,
            error: None,
            ttl: 64,
            tos: 0,
            broadcast: false,
            only_v6: false,
        }
    }

    /// Queues a datagram in a buffer from `pool`.
    pub fn deliver(&mut self, from: SocketAddr, data: &[u8], pool: &mut BufPool) -> Delivery {
        if let Some(peer) = self.connected {
            if peer != from {
                return Delivery::Filtered;
            }
        }
        // Like Linux, count a datagram at least a little so that a flood of
        // empty datagrams is bounded too.
        let cost = data.len().max(64);
        if self.queued_bytes + cost > self.capacity {
            return Delivery::Full;
        }
        self.queued_bytes += cost;
        let mut buf = pool.take();
        buf.extend_from_slice(data);
        self.queue.push_back((from, buf));
        Delivery::Queued
    }

    /// Pops one datagram into `buf`: (copied, from, truncated, full
    /// length); its buffer goes back to `pool`.
    pub fn recv(
        &mut self,
        buf: &mut [u8],
        pool: &mut BufPool,
    ) -> io::Result<(usize, SocketAddr, bool, usize)> {
        if let Some((from, data)) = self.queue.pop_front() {
            self.queued_bytes -= data.len().max(64);
            let (n, len) = (data.len().min(buf.len()), data.len());
            buf[..n].copy_from_slice(&data[..n]);
            pool.put(data);
            return Ok((n, from, n < len, len));
        }
        if let Some(e) = self.error.take() {
            return Err(e.into());
        }
        Err(io::ErrorKind::WouldBlock.into())
    }

    /// Copies the next datagram into `buf` without popping it (MSG_PEEK).
    pub fn peek(&mut self, buf: &mut [u8]) -> io::Result<(usize, SocketAddr, bool, usize)> {
        if let Some((from, data)) = self.queue.front() {
            let n = data.len().min(buf.len());
            buf[..n].copy_from_slice(&data[..n]);
            return Ok((n, *from, n < data.len(), data.len()));
        }
        if let Some(e) = self.error.take() {
            return Err(e.into());
        }
        Err(io::ErrorKind::WouldBlock.into())
    }

    pub fn available(&self) -> usize {
        self.queue.front().map_or(0, |(_, d)| d.len())
    }

    pub fn has_datagram(&self) -> bool {
        !self.queue.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn truncation_and_boundaries() {
        let a: SocketAddr = "198.18.0.1:9".parse().unwrap_or_else(|_| unreachable!());
        let mut s = UdpSocket::new(a, 4096);
        let mut pool = BufPool::new(4, 1500);
        assert_eq!(s.deliver(a, b"hello world", &mut pool), Delivery::Queued);
        assert_eq!(s.deliver(a, b"x", &mut pool), Delivery::Queued);
        let mut buf = [0u8; 5];
        let (n, from, trunc, full) = s
            .recv(&mut buf, &mut pool)
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!((n, from, trunc, full), (5, a, true, 11));
        assert_eq!(&buf, b"hello");
        let (n, _, trunc, _) = s
            .recv(&mut buf, &mut pool)
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!((n, trunc), (1, false));
        assert_eq!(
            s.recv(&mut buf, &mut pool).map_err(|e| e.kind()).err(),
            Some(io::ErrorKind::WouldBlock)
        );
    }
    #[test]
    fn bounded_queue() {
        let a: SocketAddr = "198.18.0.1:9".parse().unwrap_or_else(|_| unreachable!());
        let mut s = UdpSocket::new(a, 1000);
        let mut pool = BufPool::new(4, 1500);
        let big = vec![0u8; 600];
        assert_eq!(s.deliver(a, &big, &mut pool), Delivery::Queued);
        assert_eq!(s.deliver(a, &big, &mut pool), Delivery::Full);
    }
}
