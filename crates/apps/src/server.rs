//! A server framework in the spirit of Python's `socketserver`: the server
//! owns the accept loop, a [`Handler`] owns one connection's conversation.
//!
//! - [`ThreadedServer`]: one thread per connection (like
//!   `socketserver.ThreadingTCPServer`), at most
//!   [`ServerConfig::max_connections`] at once.
//! - [`AsyncServer`]: one tokio task per connection, the same limit
//!   enforced with a semaphore.
//!
//! # The connection limit
//!
//! What happens to connections beyond the limit is [`Overflow`]:
//! - [`Overflow::Wait`] (the default): the server stops accepting while at
//!   the limit. New connections complete their handshake and wait in the
//!   listen backlog (the client's `connect` succeeds, its first read
//!   waits) until a handler finishes. The server logs one `info!` line each
//!   time it reaches the limit.
//! - [`Overflow::Refuse`]: the server accepts and closes at once, logging a
//!   `warn!` line that names the peer; the client reads EOF.
//!
//! # Graceful shutdown
//!
//! [`ShutdownHandle::shutdown`] (from any thread, a signal handler thread,
//! or async code) makes the server stop accepting and close its listening
//! socket; it then waits up to [`ServerConfig::shutdown_timeout`] for the
//! running handlers to finish. Connections still open after that are cut
//! off (`shutdown(Both)` on a second handle for threads — their blocked
//! reads return; tasks are aborted, which drops their streams), and the
//! [`ServeReport`] says how many. `serve` always returns within about
//! `shutdown_timeout + 1 s` of the request.
use crate::transport::{AsyncListener, Connection, Listener, Shutdown as _};
use std::collections::HashMap;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread;
use std::time::{Duration, Instant};
use tokio::sync::{Notify, Semaphore};
use tokio::task::JoinSet;

/// One connection's conversation, run on its own thread.
///
/// Closures `Fn(S, SocketAddr) -> io::Result<()>` are handlers too.
pub trait Handler<S>: Send + Sync + 'static {
    /// Talks to `peer` over `stream`; dropping the stream closes it.
    fn handle(&self, stream: S, peer: SocketAddr) -> io::Result<()>;
}

impl<S, F> Handler<S> for F
where
    F: Fn(S, SocketAddr) -> io::Result<()> + Send + Sync + 'static,
{
    fn handle(&self, stream: S, peer: SocketAddr) -> io::Result<()> {
        self(stream, peer)
    }
}

/// One connection's conversation, run as its own tokio task.
///
/// Closures `Fn(S, SocketAddr) -> impl Future<Output = io::Result<()>>`
/// are handlers too.
pub trait AsyncHandler<S>: Send + Sync + 'static {
    /// Talks to `peer` over `stream`.
    fn handle(&self, stream: S, peer: SocketAddr) -> impl Future<Output = io::Result<()>> + Send;
}

impl<S, F, Fut> AsyncHandler<S> for F
where
    F: Fn(S, SocketAddr) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = io::Result<()>> + Send,
{
    fn handle(&self, stream: S, peer: SocketAddr) -> impl Future<Output = io::Result<()>> + Send {
        self(stream, peer)
    }
}

/// What the server does with a connection beyond the limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Overflow {
    /// Stop accepting while at the limit: new connections wait in the
    /// listen backlog until a handler finishes.
    #[default]
    Wait,
    /// Accept and close at once, with a `warn!` line naming the peer.
    Refuse,
}

/// Server settings.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Name used in log lines and thread names.
    pub name: String,
    /// Most connections handled at once (at least 1).
    pub max_connections: usize,
    /// What happens beyond `max_connections`.
    pub overflow: Overflow,
    /// How long a shutdown waits for running handlers before cutting their
    /// connections off.
    pub shutdown_timeout: Duration,
    /// Longest sleep between two polls of the listening socket (the
    /// blocking server polls a non-blocking listener so it notices a
    /// shutdown request).
    pub poll_interval: Duration,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            name: "server".into(),
            max_connections: 64,
            overflow: Overflow::Wait,
            shutdown_timeout: Duration::from_secs(5),
            poll_interval: Duration::from_millis(100),
        }
    }
}

/// How long cut-off handlers get to return before they are abandoned.
const FORCE_GRACE: Duration = Duration::from_secs(1);

/// Asks a server to stop. Cheap to clone; usable from threads and tasks.
#[derive(Clone, Debug, Default)]
pub struct ShutdownHandle {
    inner: Arc<ShutdownInner>,
}

#[derive(Debug, Default)]
struct ShutdownInner {
    stop: AtomicBool,
    notify: Notify,
}

impl ShutdownHandle {
    /// A handle nobody has triggered yet.
    pub fn new() -> ShutdownHandle {
        ShutdownHandle::default()
    }

    /// Requests the shutdown (idempotent, returns at once).
    pub fn shutdown(&self) {
        self.inner.stop.store(true, Ordering::SeqCst);
        self.inner.notify.notify_waiters();
    }

    /// Whether a shutdown was requested.
    pub fn is_shutdown(&self) -> bool {
        self.inner.stop.load(Ordering::SeqCst)
    }

    /// Resolves once a shutdown is requested.
    pub async fn wait(&self) {
        loop {
            let notified = self.inner.notify.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if self.is_shutdown() {
                return;
            }
            notified.await;
        }
    }
}

/// Live counters of a server.
#[derive(Debug, Default)]
pub struct ServerStats {
    accepted: AtomicU64,
    refused: AtomicU64,
    failed: AtomicU64,
    active: AtomicUsize,
}

impl ServerStats {
    /// Connections handed to a handler so far.
    pub fn accepted(&self) -> u64 {
        self.accepted.load(Ordering::SeqCst)
    }
    /// Connections refused because of the limit ([`Overflow::Refuse`]).
    pub fn refused(&self) -> u64 {
        self.refused.load(Ordering::SeqCst)
    }
    /// Handlers that returned an error.
    pub fn failed(&self) -> u64 {
        self.failed.load(Ordering::SeqCst)
    }
    /// Handlers running now.
    pub fn active(&self) -> usize {
        self.active.load(Ordering::SeqCst)
    }
}

/// What a server did, returned when it stops.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ServeReport {
    /// Connections handed to a handler.
    pub accepted: u64,
    /// Connections refused because of the limit.
    pub refused: u64,
    /// Handlers that returned an error.
    pub failed: u64,
    /// Connections still open when the shutdown timeout expired, which
    /// the server cut off.
    pub forced: usize,
    /// Handlers still running after being cut off (threads left detached).
    pub abandoned: usize,
}

/// Errors a handler returns when the peer simply went away.
fn benign(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::UnexpectedEof
            | io::ErrorKind::ConnectionReset
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::BrokenPipe
            | io::ErrorKind::NotConnected
    )
}

fn log_result(name: &str, peer: SocketAddr, r: &io::Result<()>, stats: &ServerStats) {
    match r {
        Ok(()) => tracing::debug!("{name}: connection from {peer} done"),
        Err(e) => {
            stats.failed.fetch_add(1, Ordering::SeqCst);
            if benign(e) {
                tracing::debug!("{name}: connection from {peer} ended: {e}");
            } else if e.kind() == io::ErrorKind::PermissionDenied {
                // Refused by the handler (e.g. authentication), which
                // logged why.
                tracing::info!("{name}: connection from {peer} closed: {e}");
            } else {
                tracing::warn!("{name}: connection from {peer} failed: {e}");
            }
        }
    }
}

/// Accept errors that concern one connection, not the listener.
fn transient_accept_error(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::Interrupted
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
            | io::ErrorKind::ConnectionRefused
            | io::ErrorKind::TimedOut
    )
}

// ---------------------------------------------------------------------
// Threaded server
// ---------------------------------------------------------------------

/// The live connections of a threaded server: a second handle of each, to
/// cut it off at shutdown.
struct Registry<S> {
    conns: Mutex<Conns<S>>,
    changed: Condvar,
}

struct Conns<S> {
    next_id: u64,
    live: HashMap<u64, Option<S>>,
}

impl<S> Registry<S> {
    fn lock(&self) -> MutexGuard<'_, Conns<S>> {
        self.conns.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Unregisters a connection when its handler thread ends (also on panic).
struct ConnGuard<S> {
    registry: Arc<Registry<S>>,
    stats: Arc<ServerStats>,
    id: u64,
}

impl<S> Drop for ConnGuard<S> {
    fn drop(&mut self) {
        let mut g = self.registry.lock();
        g.live.remove(&self.id);
        self.stats.active.store(g.live.len(), Ordering::SeqCst);
        drop(g);
        self.registry.changed.notify_all();
    }
}

/// The builder setters and accessors shared by [`ThreadedServer`] and
/// [`AsyncServer`] (both hold `listener`, `config`, `shutdown`, `stats`).
macro_rules! server_setters {
    () => {
        /// Sets the name used in logs.
        pub fn name(mut self, name: &str) -> Self {
            self.config.name = name.to_string();
            self
        }

        /// Sets the connection limit (at least 1).
        pub fn max_connections(mut self, n: usize) -> Self {
            self.config.max_connections = n.max(1);
            self
        }

        /// Sets what happens beyond the limit.
        pub fn overflow(mut self, overflow: Overflow) -> Self {
            self.config.overflow = overflow;
            self
        }

        /// Sets how long a shutdown waits for handlers.
        pub fn shutdown_timeout(mut self, t: Duration) -> Self {
            self.config.shutdown_timeout = t;
            self
        }

        /// Uses `handle` (e.g. one shared by several servers) to stop.
        pub fn with_shutdown(mut self, handle: ShutdownHandle) -> Self {
            self.shutdown = handle;
            self
        }

        /// A handle that stops this server.
        pub fn shutdown_handle(&self) -> ShutdownHandle {
            self.shutdown.clone()
        }

        /// Live counters.
        pub fn stats(&self) -> Arc<ServerStats> {
            self.stats.clone()
        }

        /// The listening address.
        pub fn local_addr(&self) -> io::Result<SocketAddr> {
            self.listener.local_addr()
        }
    };
}

/// A thread-per-connection server. See the [module docs](self).
pub struct ThreadedServer<L: Listener, H> {
    listener: L,
    handler: Arc<H>,
    config: ServerConfig,
    shutdown: ShutdownHandle,
    stats: Arc<ServerStats>,
}

impl<L: Listener, H: Handler<L::Stream>> ThreadedServer<L, H> {
    /// A server with the default [`ServerConfig`].
    pub fn new(listener: L, handler: H) -> Self {
        Self::with_config(listener, handler, ServerConfig::default())
    }

    /// A server with `config`.
    pub fn with_config(listener: L, handler: H, config: ServerConfig) -> Self {
        ThreadedServer {
            listener,
            handler: Arc::new(handler),
            config,
            shutdown: ShutdownHandle::new(),
            stats: Arc::new(ServerStats::default()),
        }
    }

    server_setters!();

    /// Runs the server on a new thread.
    pub fn spawn(self) -> io::Result<RunningServer> {
        let local_addr = self.listener.local_addr()?;
        let handle = self.shutdown.clone();
        let stats = self.stats.clone();
        let thread = thread::Builder::new()
            .name(format!("{}-accept", self.config.name))
            .spawn(move || self.serve())?;
        Ok(RunningServer {
            local_addr,
            handle,
            stats,
            thread,
        })
    }

    /// Runs the accept loop on this thread until a shutdown is requested,
    /// then shuts down gracefully (see the [module docs](self)).
    pub fn serve(self) -> io::Result<ServeReport> {
        let ThreadedServer {
            listener,
            handler,
            config,
            shutdown,
            stats,
        } = self;
        let name = config.name.as_str();
        let max = config.max_connections.max(1);
        listener.set_nonblocking(true)?;
        let local = listener.local_addr()?;
        tracing::info!("{name}: listening on {local} (at most {max} connections)");
        let registry: Arc<Registry<L::Stream>> = Arc::new(Registry {
            conns: Mutex::new(Conns {
                next_id: 0,
                live: HashMap::new(),
            }),
            changed: Condvar::new(),
        });
        let mut idle: u32 = 0;
        let mut at_limit = false;
        while !shutdown.is_shutdown() {
            if config.overflow == Overflow::Wait {
                let g = registry.lock();
                if g.live.len() >= max {
                    if !at_limit {
                        tracing::info!(
                            "{name}: {max} connections active (the limit); new connections wait in the backlog"
                        );
                        at_limit = true;
                    }
                    let _ = registry
                        .changed
                        .wait_timeout(g, config.poll_interval)
                        .unwrap_or_else(|e| e.into_inner());
                    continue;
                }
                at_limit = false;
            }
            let (stream, peer) = match listener.accept() {
                Ok(x) => {
                    idle = 0;
                    x
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    // Back off 1, 2, 4... ms up to the poll interval.
                    let wait = Duration::from_millis(1 << idle.min(10)).min(config.poll_interval);
                    idle = idle.saturating_add(1);
                    listener.wait_acceptable(wait);
                    continue;
                }
                Err(e) if transient_accept_error(&e) => continue,
                Err(e) => {
                    // Out of descriptors/sockets and the like: keep serving.
                    tracing::warn!("{name}: accept failed: {e}");
                    thread::sleep(config.poll_interval);
                    continue;
                }
            };
            if let Err(e) = stream.set_nonblocking(false) {
                tracing::warn!("{name}: dropping connection from {peer}: {e}");
                continue;
            }
            let mut g = registry.lock();
            if g.live.len() >= max {
                // Only reachable with Overflow::Refuse.
                let active = g.live.len();
                drop(g);
                tracing::warn!(
                    "{name}: refusing connection from {peer}: {active} connections active (limit {max})"
                );
                stats.refused.fetch_add(1, Ordering::SeqCst);
                let _ = stream.shutdown(std::net::Shutdown::Both);
                continue;
            }
            let id = g.next_id;
            g.next_id += 1;
            g.live.insert(id, stream.try_clone().ok());
            stats.active.store(g.live.len(), Ordering::SeqCst);
            drop(g);
            stats.accepted.fetch_add(1, Ordering::SeqCst);
            tracing::debug!("{name}: connection from {peer}");
            let guard = ConnGuard {
                registry: registry.clone(),
                stats: stats.clone(),
                id,
            };
            let h = handler.clone();
            let st = stats.clone();
            let tname = config.name.clone();
            let spawned = thread::Builder::new()
                .name(format!("{name}-conn-{id}"))
                .spawn(move || {
                    let _guard = guard;
                    let r = h.handle(stream, peer);
                    log_result(&tname, peer, &r, &st);
                });
            if let Err(e) = spawned {
                // The closure (and its guard) were dropped: unregistered.
                tracing::warn!("{name}: cannot start a thread for {peer}: {e}");
            }
        }
        // Stop accepting: close the listening socket.
        drop(listener);
        tracing::info!("{name}: shutting down: no longer accepting");
        let report = finish_threads(name, &registry, &stats, config.shutdown_timeout);
        tracing::info!("{name}: stopped: {report:?}");
        Ok(report)
    }
}

/// Waits for handler threads, cutting them off after `timeout`.
fn finish_threads<S: Connection>(
    name: &str,
    registry: &Registry<S>,
    stats: &ServerStats,
    timeout: Duration,
) -> ServeReport {
    let wait_empty = |until: Instant| -> usize {
        let mut g = registry.lock();
        loop {
            let now = Instant::now();
            if g.live.is_empty() || now >= until {
                return g.live.len();
            }
            g = registry
                .changed
                .wait_timeout(g, until - now)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
    };
    let mut forced = wait_empty(Instant::now() + timeout);
    let mut abandoned = 0;
    if forced > 0 {
        tracing::warn!("{name}: cutting off {forced} connection(s) still open after {timeout:?}");
        {
            let g = registry.lock();
            forced = g.live.len();
            for s in g.live.values().flatten() {
                let _ = s.shutdown(std::net::Shutdown::Both);
            }
        }
        abandoned = wait_empty(Instant::now() + FORCE_GRACE);
        if abandoned > 0 {
            tracing::warn!("{name}: {abandoned} handler(s) did not return; leaving them");
        }
    }
    ServeReport {
        accepted: stats.accepted(),
        refused: stats.refused(),
        failed: stats.failed(),
        forced,
        abandoned,
    }
}

/// A [`ThreadedServer`] running on its own thread.
#[derive(Debug)]
pub struct RunningServer {
    local_addr: SocketAddr,
    handle: ShutdownHandle,
    stats: Arc<ServerStats>,
    thread: thread::JoinHandle<io::Result<ServeReport>>,
}

impl RunningServer {
    /// The listening address.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// A handle that stops the server.
    pub fn shutdown_handle(&self) -> ShutdownHandle {
        self.handle.clone()
    }

    /// Live counters.
    pub fn stats(&self) -> &ServerStats {
        &self.stats
    }

    /// Stops the server gracefully and waits for it.
    pub fn shutdown(self) -> io::Result<ServeReport> {
        self.handle.shutdown();
        self.join()
    }

    /// Waits for the server to stop (after someone else requested it).
    pub fn join(self) -> io::Result<ServeReport> {
        self.thread
            .join()
            .map_err(|_| io::Error::other("the server thread panicked"))?
    }
}

// ---------------------------------------------------------------------
// Async server
// ---------------------------------------------------------------------

/// A task-per-connection tokio server. See the [module docs](self).
pub struct AsyncServer<L, H> {
    listener: L,
    handler: Arc<H>,
    config: ServerConfig,
    shutdown: ShutdownHandle,
    stats: Arc<ServerStats>,
}

impl<L: AsyncListener, H: AsyncHandler<L::Stream>> AsyncServer<L, H> {
    /// A server with the default [`ServerConfig`].
    pub fn new(listener: L, handler: H) -> Self {
        Self::with_config(listener, handler, ServerConfig::default())
    }

    /// A server with `config`.
    pub fn with_config(listener: L, handler: H, config: ServerConfig) -> Self {
        AsyncServer {
            listener,
            handler: Arc::new(handler),
            config,
            shutdown: ShutdownHandle::new(),
            stats: Arc::new(ServerStats::default()),
        }
    }

    server_setters!();

    /// Runs the accept loop until a shutdown is requested, then shuts down
    /// gracefully.
    pub async fn serve(self) -> io::Result<ServeReport> {
        let AsyncServer {
            listener,
            handler,
            config,
            shutdown,
            stats,
        } = self;
        let name: Arc<str> = Arc::from(config.name.as_str());
        let max = config.max_connections.max(1);
        let sem = Arc::new(Semaphore::new(max));
        let mut tasks = JoinSet::new();
        tracing::info!(
            "{name}: listening on {} (at most {max} connections)",
            listener.local_addr()?
        );
        loop {
            while tasks.try_join_next().is_some() {}
            let permit = if config.overflow == Overflow::Wait {
                if sem.available_permits() == 0 {
                    tracing::info!(
                        "{name}: {max} connections active (the limit); new connections wait in the backlog"
                    );
                }
                tokio::select! {
                    p = sem.clone().acquire_owned() => match p {
                        Ok(p) => Some(p),
                        Err(_) => break,
                    },
                    _ = shutdown.wait() => break,
                }
            } else {
                None
            };
            let (stream, peer) = tokio::select! {
                r = listener.accept() => match r {
                    Ok(x) => x,
                    Err(e) if transient_accept_error(&e) => continue,
                    Err(e) => {
                        tracing::warn!("{name}: accept failed: {e}");
                        tokio::time::sleep(config.poll_interval).await;
                        continue;
                    }
                },
                _ = shutdown.wait() => break,
            };
            let permit = match permit {
                Some(p) => p,
                None => match sem.clone().try_acquire_owned() {
                    Ok(p) => p,
                    Err(_) => {
                        tracing::warn!(
                            "{name}: refusing connection from {peer}: {max} connections active (limit {max})"
                        );
                        stats.refused.fetch_add(1, Ordering::SeqCst);
                        drop(stream);
                        continue;
                    }
                },
            };
            stats.accepted.fetch_add(1, Ordering::SeqCst);
            stats.active.fetch_add(1, Ordering::SeqCst);
            tracing::debug!("{name}: connection from {peer}");
            let h = handler.clone();
            let st = stats.clone();
            let n = name.clone();
            tasks.spawn(async move {
                let _permit = permit;
                let r = h.handle(stream, peer).await;
                log_result(&n, peer, &r, &st);
                st.active.fetch_sub(1, Ordering::SeqCst);
            });
        }
        drop(listener);
        tracing::info!("{name}: shutting down: no longer accepting");
        let drained = tokio::time::timeout(config.shutdown_timeout, async {
            while tasks.join_next().await.is_some() {}
        })
        .await;
        let mut forced = 0;
        if drained.is_err() {
            forced = tasks.len();
            tracing::warn!(
                "{name}: cutting off {forced} connection(s) still open after {:?}",
                config.shutdown_timeout
            );
            tasks.abort_all();
            while tasks.join_next().await.is_some() {}
            // Aborted tasks did not decrement.
            stats.active.store(0, Ordering::SeqCst);
        }
        let report = ServeReport {
            accepted: stats.accepted(),
            refused: stats.refused(),
            failed: stats.failed(),
            forced,
            abandoned: 0,
        };
        tracing::info!("{name}: stopped: {report:?}");
        Ok(report)
    }
}
