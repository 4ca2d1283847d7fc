//! Capturing what the stacks do: a `tracing` layer that records the
//! engine's TCP events (state changes, segments sent, loss recoveries) and
//! a device tap that records the segments each stack receives, both into
//! one time-ordered [`Log`].
use crate::viz::packet::{parse_ip_tcp, TcpSegment};
use std::io;
use std::net::SocketAddr;
use std::os::fd::RawFd;
use std::sync::{Arc, Mutex, MutexGuard};
use tracing::field::{Field, Visit};
use tracing::Subscriber;
use tracing_subscriber::layer::Context;
use tracing_subscriber::Layer;
use ustack_devices::Device;

/// What happened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kind {
    /// `tcp state`: a connection changed state.
    State { from: String, to: String },
    /// `tcp out`: the engine built a segment.
    Out {
        seq: u32,
        ack: u32,
        flags: String,
        len: u32,
    },
    /// The tap saw a segment arrive at a stack (local = its destination).
    In(TcpSegment),
    /// The tap saw a segment leave a stack (local = its source).
    Sent(TcpSegment),
    /// `fast retransmit`, with the first unacknowledged sequence number.
    FastRetransmit { una: Option<u32> },
    /// `retransmission timeout`, with the backed-off RTO as logged.
    Timeout { rto: String },
    /// `tcp timed out`: the connection gave up.
    GaveUp,
}

/// One recorded event.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    /// Seconds since the log started.
    pub t: f64,
    pub local: SocketAddr,
    pub remote: SocketAddr,
    pub kind: Kind,
}

/// A shared, append-only, time-ordered event log.
#[derive(Debug)]
pub struct Log {
    start: std::time::Instant,
    events: Mutex<Vec<Event>>,
}

impl Log {
    pub fn new() -> Arc<Log> {
        Arc::new(Log {
            start: std::time::Instant::now(),
            events: Mutex::new(Vec::new()),
        })
    }

    fn lock(&self) -> MutexGuard<'_, Vec<Event>> {
        self.events.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Seconds since the log started.
    pub fn now(&self) -> f64 {
        self.start.elapsed().as_secs_f64()
    }

    /// Appends an event stamped now (under the lock, so times are ordered).
    pub fn push(&self, local: SocketAddr, remote: SocketAddr, kind: Kind) {
        let mut ev = self.lock();
        let t = self.now();
        ev.push(Event {
            t,
            local,
            remote,
            kind,
        });
    }

    /// Events recorded so far.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// A copy of the events from index `from` on.
    pub fn since(&self, from: usize) -> Vec<Event> {
        let ev = self.lock();
        ev.get(from..).map(<[Event]>::to_vec).unwrap_or_default()
    }

    /// A copy of all events.
    pub fn all(&self) -> Vec<Event> {
        self.since(0)
    }
}

/// Collects the fields of one tracing event.
#[derive(Default)]
struct Fields {
    message: String,
    local: Option<SocketAddr>,
    remote: Option<SocketAddr>,
    from: String,
    to: String,
    flags: String,
    rto: String,
    seq: Option<u64>,
    ack: Option<u64>,
    len: Option<u64>,
    una: Option<u64>,
}

impl Fields {
    fn set_str(&mut self, name: &str, v: String) {
        match name {
            "message" => self.message = v,
            "local" => self.local = v.parse().ok(),
            "remote" => self.remote = v.parse().ok(),
            "from" => self.from = v,
            "to" => self.to = v,
            "flags" => self.flags = v,
            "rto" => self.rto = v,
            _ => {}
        }
    }
}

impl Visit for Fields {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.set_str(field.name(), format!("{value:?}"));
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        self.set_str(field.name(), value.to_string());
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        match field.name() {
            "seq" => self.seq = Some(value),
            "ack" => self.ack = Some(value),
            "len" => self.len = Some(value),
            "una" => self.una = Some(value),
            _ => self.set_str(field.name(), value.to_string()),
        }
    }
    fn record_i64(&mut self, field: &Field, value: i64) {
        if let Ok(v) = u64::try_from(value) {
            self.record_u64(field, v);
        }
    }
}

/// True for the engine's events (target `ustack` or `ustack::…`).
pub fn is_engine_target(target: &str) -> bool {
    target == "ustack" || target.starts_with("ustack::")
}

/// A `tracing_subscriber` layer recording the engine's TCP events.
pub struct CaptureLayer {
    log: Arc<Log>,
}

impl CaptureLayer {
    pub fn new(log: Arc<Log>) -> CaptureLayer {
        CaptureLayer { log }
    }
}

impl<S: Subscriber> Layer<S> for CaptureLayer {
    fn on_event(&self, event: &tracing::Event<'_>, _ctx: Context<'_, S>) {
        if !is_engine_target(event.metadata().target()) {
            return;
        }
        let mut f = Fields::default();
        event.record(&mut f);
        let (Some(local), Some(remote)) = (f.local, f.remote) else {
            return;
        };
        let u32_of = |v: Option<u64>| v.and_then(|v| u32::try_from(v).ok());
        let kind = match f.message.as_str() {
            "tcp state" => Kind::State {
                from: f.from,
                to: f.to,
            },
            "tcp out" => Kind::Out {
                seq: u32_of(f.seq).unwrap_or(0),
                ack: u32_of(f.ack).unwrap_or(0),
                flags: f.flags,
                len: u32_of(f.len).unwrap_or(0),
            },
            "fast retransmit" => Kind::FastRetransmit { una: u32_of(f.una) },
            "retransmission timeout" => Kind::Timeout { rto: f.rto },
            "tcp timed out" => Kind::GaveUp,
            _ => return,
        };
        self.log.push(local, remote, kind);
    }
}

/// A device wrapper recording every TCP segment received (and, if asked,
/// sent) into the log.
pub struct Tap<D: Device> {
    inner: D,
    log: Arc<Log>,
    record_sent: bool,
}

impl<D: Device> Tap<D> {
    pub fn new(inner: D, log: Arc<Log>, record_sent: bool) -> Tap<D> {
        Tap {
            inner,
            log,
            record_sent,
        }
    }

    pub fn inner(&self) -> &D {
        &self.inner
    }
}

impl<D: Device> Device for Tap<D> {
    fn mtu(&self) -> usize {
        self.inner.mtu()
    }

    fn recv(&self, buf: &mut [u8]) -> io::Result<Option<usize>> {
        let got = self.inner.recv(buf)?;
        if let Some(n) = got {
            if let Some(seg) = parse_ip_tcp(&buf[..n]) {
                self.log.push(seg.dst, seg.src, Kind::In(seg));
            }
        }
        Ok(got)
    }

    fn send(&self, packet: &[u8]) -> io::Result<()> {
        if self.record_sent {
            if let Some(seg) = parse_ip_tcp(packet) {
                self.log.push(seg.src, seg.dst, Kind::Sent(seg));
            }
        }
        self.inner.send(packet)
    }

    fn flush(&self) -> io::Result<()> {
        self.inner.flush()
    }
    fn readable_fd(&self) -> RawFd {
        self.inner.readable_fd()
    }
    fn rx_buffer_len(&self) -> usize {
        self.inner.rx_buffer_len()
    }
    fn poller_fd(&self) -> Option<RawFd> {
        self.inner.poller_fd()
    }
    fn set_poller(&self, active: bool) {
        self.inner.set_poller(active)
    }
    fn rx_pending(&self) -> Option<bool> {
        self.inner.rx_pending()
    }
    fn set_spinning(&self, on: bool) {
        self.inner.set_spinning(on)
    }
}
