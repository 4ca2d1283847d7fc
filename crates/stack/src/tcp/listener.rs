//! A listening socket: SYN queue and accept queue (backlog).
use super::conn::ConnOpts;
use crate::stack::SocketHandle;
use std::collections::VecDeque;
use std::net::SocketAddr;

#[derive(Debug)]
pub(crate) struct Listener {
    pub local: SocketAddr,
    pub backlog: usize,
    /// Children in SYN-RECEIVED.
    pub syn_queue: usize,
    /// Established children waiting for `accept`.
    pub accept_queue: VecDeque<SocketHandle>,
    /// SO_REUSEADDR as set at bind time.
    #[allow(dead_code)]
    pub reuse_addr: bool,
    /// IPV6_V6ONLY: bound to `[::]`, it takes no IPv4 SYNs.
    pub only_v6: bool,
    /// Options the accepted connections inherit (set on the listener).
    pub opts: ConnOpts,
}

impl Listener {
    pub fn new(local: SocketAddr, backlog: usize, reuse_addr: bool, opts: ConnOpts) -> Listener {
        Listener {
            local,
            backlog: backlog.max(1),
            syn_queue: 0,
            accept_queue: VecDeque::new(),
            reuse_addr,
            only_v6: false,
            opts,
        }
    }
    /// A full queue drops SYNs (it does not reset): Linux semantics.
    pub fn syn_queue_full(&self) -> bool {
        self.syn_queue >= self.backlog
    }
    pub fn accept_queue_full(&self) -> bool {
        self.accept_queue.len() >= self.backlog
    }
}
