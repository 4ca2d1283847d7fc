//! ustack's protocol engine: IPv4, ICMP, UDP and TCP, sans-IO.
//!
//! No threads, no syscalls, no clock, no global RNG: packets in, packets
//! out, `now` passed in, next deadline out, randomness from a seed.
//!
//! Layers: [`ustack_wire`] (formats) → [`ip`] → [`tcp`] / [`udp`] /
//! [`icmp`] → [`stack`] (demux, timers, socket API).

mod bufpool;
pub mod config;
pub mod counters;
pub mod icmp;
pub mod ip;
pub mod rng;
pub mod stack;
pub mod tcp;
pub mod time;
pub mod udp;

pub use config::{BindOptions, Config, Keepalive, MtuProbing, TcpConfig, MAX_SOCKET_BUFFER};
pub use counters::{Counters, DropReason, TcpCounters};
pub use ip::route::Cidr;
pub use stack::{SocketHandle, Stack, TcpInfo, UdpRecv};
pub use tcp::cc::CongestionKind;
pub use tcp::TcpState;
pub use time::{Duration, Instant};
pub use ustack_wire as wire;
