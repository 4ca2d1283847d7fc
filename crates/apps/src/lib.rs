//! Applications on ustack — and, unchanged, on `std::net` / `tokio::net`.
//!
//! - [`transport`]: the small traits every app is written against
//!   ([`Listener`](transport::Listener), [`Connection`](transport::Connection),
//!   [`AsyncListener`](transport::AsyncListener),
//!   [`DatagramSocket`](transport::DatagramSocket)).
//! - [`server`]: a `socketserver`-like framework: [`ThreadedServer`]
//!   (thread per connection) and [`AsyncServer`] (task per connection),
//!   with a connection limit and graceful shutdown.
//! - [`framing`]: length-prefixed frames (blocking functions and a
//!   `tokio_util` codec).
//! - [`auth`]: HMAC-SHA256 challenge-response client authentication.
//! - [`filexfer`]: file download with SHA-256 check, resume, and path
//!   traversal protection.
//! - [`echo`]: echo, upper-case echo, discard, "Hello, NAME", UDP echo.
//! - [`http`]: a tiny HTTP/1.1 static file server and GET client.
//! - [`cli`]: the `ustack serve` / `ustack connect` commands.
//! - [`pairnet`]: two stacks joined in-process, for examples and tests.
pub mod auth;
pub mod cli;
pub mod echo;
pub mod filexfer;
pub mod framing;
pub mod http;
pub mod pairnet;
pub mod server;
pub mod transport;

pub use server::{
    AsyncHandler, AsyncServer, Handler, Overflow, ServeReport, ServerConfig, ShutdownHandle,
    ThreadedServer,
};
pub use transport::{AsyncListener, Connection, DatagramSocket, Listener, Shutdown};
