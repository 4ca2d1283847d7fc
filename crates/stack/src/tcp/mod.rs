//! TCP (RFC 9293) with RFC 6298 retransmission timing, RFC 7323 window
//! scaling and timestamps, RFC 5681/6582 congestion control.
pub mod assembler;
pub mod buffer;
pub mod cc;
pub(crate) mod conn;
pub(crate) mod listener;
pub(crate) mod rcvbuf;
pub mod rtt;
pub mod rtx_queue;
pub mod seq;
pub(crate) mod sndbuf;
mod state;

pub use state::TcpState;
