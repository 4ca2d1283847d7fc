//! The ustack runtime: owns a sans-IO [`ustack::Stack`] and a [`Device`],
//! runs a driver thread that moves packets between them and fires timers,
//! and offers sockets with the `std::net` API ([`net`]) and, with the
//! `tokio` feature, the `tokio::net` API ([`tokio_net`]).
//!
//! Design:
//! - One mutex guards the stack. Application threads call into the stack
//!   directly under the lock and flush the packets their call produced to
//!   the device themselves, so a write costs no thread switch.
//! - The driver thread sleeps in `ppoll` on the device's descriptor, an
//!   eventfd and a timerfd armed for the stack's next deadline: an idle
//!   stack burns no CPU. Application calls that move the deadline earlier
//!   re-arm the timerfd (a system call, no thread switch).
//! - A blocked application thread waits for the device itself when the
//!   device allows it ([`Device::poller_fd`], e.g. the in-process pair):
//!   one thread at a time takes the device's wake-ups from the driver and
//!   handles the packets it is woken for, so the packet that unblocks it
//!   costs one thread wake-up, not two (device → driver → application).
//! - Before it sleeps, that thread busy-polls the device for a short while
//!   ([`Netstack::set_busy_poll`], 50 µs by default; as Linux's
//!   `SO_BUSY_POLL`) when the device can say without a system call that a
//!   packet is waiting ([`Device::rx_pending`], e.g. the in-process pair).
//!   A reply that comes within that time costs no wake-up and no system
//!   call on either side.
//! - Readiness: the stack reports sockets whose readiness may have changed
//!   (`Stack::poll_event`); the runtime wakes the read and write wakers
//!   registered on them. Blocking calls register a waker that unparks their
//!   thread, tokio calls register the task's waker. Registration happens
//!   under the same lock as the failed attempt, so no wake-up is lost.
use std::collections::HashMap;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::Waker;
use std::thread;
use std::time::Duration;
use ustack::{Config, SocketHandle, Stack};
use ustack_devices::Device;

pub mod net;
mod sockopt;
#[cfg(feature = "tokio")]
pub mod tokio_net;

pub use ustack;
pub use ustack_devices;

/// What a waiter waits for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Interest {
    Read,
    Write,
}

#[derive(Default)]
struct Wakers {
    read: Vec<Waker>,
    write: Vec<Waker>,
}

fn add_waker(list: &mut Vec<Waker>, w: &Waker) {
    if !list.iter().any(|x| x.will_wake(w)) {
        list.push(w.clone());
    }
}

pub(crate) struct Inner {
    pub stack: Stack,
    wakers: HashMap<SocketHandle, Wakers>,
    /// When the driver thread plans to wake up next.
    driver_deadline: Option<ustack::Instant>,
    tx_buf: Vec<u8>,
    /// Receive buffer of whoever reads the device under the lock.
    rx_buf: Vec<u8>,
}

pub(crate) struct Shared {
    inner: Mutex<Inner>,
    device: Box<dyn Device>,
    wake_fd: RawFd,
    /// The thread driver's timer (None with the tokio driver, which pokes
    /// `wake_fd` and sleeps on a tokio timer instead).
    timer_fd: Option<OwnedFd>,
    /// An application thread is waiting on the device's poller descriptor.
    poller_taken: AtomicBool,
    /// How long that thread busy-polls before it sleeps, in nanoseconds.
    busy_poll_ns: AtomicU64,
    epoch: std::time::Instant,
    shutdown: AtomicBool,
}

impl Drop for Shared {
    fn drop(&mut self) {
        // SAFETY: wake_fd is an eventfd this struct created and owns.
        unsafe {
            libc::close(self.wake_fd);
        }
    }
}

impl Shared {
    pub(crate) fn now(&self) -> ustack::Instant {
        ustack::Instant::from_micros(self.epoch.elapsed().as_micros() as u64)
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic while holding the lock leaves the stack in whatever state
        // the engine left it; the engine never panics on input, so go on.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Makes the driver wake up by `deadline`: re-arms its timerfd, or
    /// (tokio driver) pokes it to recompute its sleep.
    fn poke_driver(&self, deadline: ustack::Instant, now: ustack::Instant) {
        match &self.timer_fd {
            Some(fd) => arm_timer(fd, Some(deadline.saturating_since(now))),
            None => self.wake_driver(),
        }
    }

    fn wake_driver(&self) {
        let one: u64 = 1;
        // SAFETY: writing 8 bytes from a valid u64 to our own eventfd.
        unsafe {
            libc::write(self.wake_fd, (&one as *const u64).cast(), 8);
        }
    }

    /// Sends what the stack has queued.
    fn send_pending(&self, g: &mut Inner, now: ustack::Instant) {
        let Inner { stack, tx_buf, .. } = g;
        while let Some(n) = stack.poll_transmit(now, tx_buf) {
            if let Err(e) = self.device.send(&tx_buf[..n]) {
                tracing::warn!("device send failed: {e}");
            }
        }
        if let Err(e) = self.device.flush() {
            tracing::warn!("device flush failed: {e}");
        }
    }

    /// Sends what the stack has queued, wakes waiters of sockets whose
    /// readiness changed, and pokes the driver if the next deadline moved
    /// earlier than it planned.
    fn flush(&self, g: &mut Inner, now: ustack::Instant, poke: bool) {
        let Inner {
            stack,
            tx_buf,
            wakers,
            driver_deadline,
            ..
        } = g;
        while let Some(n) = stack.poll_transmit(now, tx_buf) {
            if let Err(e) = self.device.send(&tx_buf[..n]) {
                tracing::warn!("device send failed: {e}");
            }
        }
        if let Err(e) = self.device.flush() {
            tracing::warn!("device flush failed: {e}");
        }
        while let Some(h) = stack.poll_event() {
            if let Some(w) = wakers.get_mut(&h) {
                for w in w.read.drain(..).chain(w.write.drain(..)) {
                    w.wake();
                }
            }
        }
        if !poke {
            return;
        }
        if let Some(d) = stack.poll_at() {
            if driver_deadline.is_none_or(|planned| d < planned) {
                *driver_deadline = Some(d);
                self.poke_driver(d, now);
            }
        }
    }

    /// Feeds the stack what the device has (up to 512 packets), answering
    /// each packet before the next: one duplicate ACK per out-of-order
    /// segment, an ACK per two in-order segments (RFC 5681 §4.2), no
    /// stretch ACKs. True when the device was drained.
    fn pump_device(&self, g: &mut Inner, now: ustack::Instant) -> bool {
        for _ in 0..512 {
            let Inner { stack, rx_buf, .. } = &mut *g;
            match self.device.recv(rx_buf) {
                Ok(Some(n)) => {
                    stack.receive(now, &rx_buf[..n]);
                    self.send_pending(g, now);
                }
                Ok(None) => return true,
                Err(e) => {
                    tracing::warn!("device receive failed: {e}");
                    return true;
                }
            }
        }
        false
    }

    /// Waits for the device in place of the driver, up to `timeout` (None:
    /// until woken), handling what arrives; `wake_fd` is the calling
    /// thread's own wake-up eventfd (its waker signals it). False (at once)
    /// if the device has no poller descriptor or another thread is the
    /// poller: then the caller parks as usual.
    pub(crate) fn wait_as_poller(
        &self,
        wake_fd: RawFd,
        woken: &AtomicBool,
        timeout: Option<Duration>,
    ) -> bool {
        let Some(pfd) = self.device.poller_fd() else {
            return false;
        };
        if self.poller_taken.swap(true, Ordering::AcqRel) {
            return false;
        }
        self.device.set_poller(true);
        if self.busy_poll(woken, timeout) {
            self.device.set_poller(false);
            self.poller_taken.store(false, Ordering::Release);
            return true;
        }
        let mut fds = [
            libc::pollfd {
                fd: pfd,
                events: libc::POLLIN,
                revents: 0,
            },
            libc::pollfd {
                fd: wake_fd,
                events: libc::POLLIN,
                revents: 0,
            },
        ];
        let ts = timeout.map(timespec);
        let tsp = ts
            .as_ref()
            .map_or(std::ptr::null(), |t| t as *const libc::timespec);
        // SAFETY: fds points to two valid pollfd structs; tsp is null or
        // points to a timespec that lives across the call.
        unsafe {
            libc::ppoll(fds.as_mut_ptr(), 2, tsp, std::ptr::null());
        }
        if fds[1].revents != 0 {
            // Possibly a stale signal (see `ThreadWaker`): clear it here so
            // it cannot make every later wait return at once.
            net::clear_eventfd(wake_fd);
        }
        if fds[0].revents != 0 {
            self.handle_device();
        }
        // Back to the driver (it is signalled if packets are still queued).
        self.device.set_poller(false);
        self.poller_taken.store(false, Ordering::Release);
        true
    }

    /// Handles what the device has, as the driver would.
    fn handle_device(&self) {
        let mut g = self.lock();
        let now = self.now();
        g.stack.advance_clock(now);
        self.pump_device(&mut g, now);
        self.flush(&mut g, now, true);
    }

    /// The poller's busy-poll before it sleeps: spins on
    /// [`Device::rx_pending`] and on its own waker's flag (`woken`) for up
    /// to the busy-poll time (and `timeout`). True if it handled packets or
    /// was woken (the caller retries its call), false if it should sleep.
    fn busy_poll(&self, woken: &AtomicBool, timeout: Option<Duration>) -> bool {
        let ns = self.busy_poll_ns.load(Ordering::Relaxed);
        if ns == 0 || self.device.rx_pending().is_none() {
            return false;
        }
        let limit = timeout.map_or(Duration::from_nanos(ns), |t| {
            t.min(Duration::from_nanos(ns))
        });
        let start = std::time::Instant::now();
        self.device.set_spinning(true);
        let mut ready = false;
        loop {
            if self.device.rx_pending() == Some(true) {
                ready = true;
                break;
            }
            if woken.load(Ordering::SeqCst) || start.elapsed() >= limit {
                break;
            }
            for _ in 0..32 {
                std::hint::spin_loop();
            }
        }
        self.device.set_spinning(false);
        // A packet sent while we were spinning was not signalled: look
        // once more now that senders see us as not spinning.
        if ready || self.device.rx_pending() == Some(true) {
            self.handle_device();
            return true;
        }
        woken.load(Ordering::SeqCst)
    }

    /// Runs one socket call under the lock and flushes its effects.
    pub(crate) fn with<T>(&self, f: impl FnOnce(&mut Stack) -> T) -> T {
        let mut g = self.lock();
        let now = self.now();
        g.stack.advance_clock(now);
        let r = f(&mut g.stack);
        self.flush(&mut g, now, true);
        r
    }

    /// Tries `f`; on WouldBlock registers `waker` for `interest` on `h`
    /// under the same lock (so a readiness change cannot slip between).
    pub(crate) fn try_or_register<T>(
        &self,
        h: SocketHandle,
        interest: Interest,
        waker: &Waker,
        f: impl FnOnce(&mut Stack) -> io::Result<T>,
    ) -> io::Result<T> {
        self.try_or_register_woken(h, interest, waker, f).0
    }

    /// `try_or_register`, also telling whether the call's own flush
    /// already woke `waker`: a packet looped back to this stack can make
    /// the socket ready within the call, and a blocking thread's waker
    /// ignores wake-ups from its own thread, so it must retry instead of
    /// waiting.
    pub(crate) fn try_or_register_woken<T>(
        &self,
        h: SocketHandle,
        interest: Interest,
        waker: &Waker,
        f: impl FnOnce(&mut Stack) -> io::Result<T>,
    ) -> (io::Result<T>, bool) {
        let mut g = self.lock();
        let now = self.now();
        g.stack.advance_clock(now);
        let r = f(&mut g.stack);
        let blocked = matches!(&r, Err(e) if e.kind() == io::ErrorKind::WouldBlock);
        if blocked {
            let w = g.wakers.entry(h).or_default();
            match interest {
                Interest::Read => add_waker(&mut w.read, waker),
                Interest::Write => add_waker(&mut w.write, waker),
            }
        }
        self.flush(&mut g, now, true);
        let woken = blocked
            && !g.wakers.get(&h).is_some_and(|w| {
                let list = match interest {
                    Interest::Read => &w.read,
                    Interest::Write => &w.write,
                };
                list.iter().any(|x| x.will_wake(waker))
            });
        (r, woken)
    }

    /// Forgets the wakers of a socket that is being closed.
    pub(crate) fn forget(&self, g: &mut Inner, h: SocketHandle) {
        if let Some(w) = g.wakers.remove(&h) {
            for w in w.read.into_iter().chain(w.write) {
                w.wake();
            }
        }
    }

    /// Closes/releases a socket (`f` does the stack call) and forgets its
    /// wakers.
    pub(crate) fn release(&self, h: SocketHandle, f: impl FnOnce(&mut Stack)) {
        let mut g = self.lock();
        let now = self.now();
        g.stack.advance_clock(now);
        f(&mut g.stack);
        self.forget(&mut g, h);
        self.flush(&mut g, now, true);
    }
}

/// How long a blocked application thread busy-polls a device that
/// supports it before it sleeps (see [`Netstack::set_busy_poll`]).
pub const DEFAULT_BUSY_POLL: Duration = Duration::from_micros(50);

/// How long a dropped [`Netstack`] keeps running so that closed
/// connections can still deliver their queued data.
const LINGER: Duration = Duration::from_secs(5);

/// Keeps the driver alive; when the last handle goes, the driver lingers
/// while connections still have data to deliver, then stops.
struct DriverGuard {
    shared: Arc<Shared>,
    thread: Mutex<Option<thread::JoinHandle<()>>>,
}

impl Drop for DriverGuard {
    fn drop(&mut self) {
        self.shared.shutdown.store(true, Ordering::SeqCst);
        self.shared.wake_driver();
        let t = self.thread.lock().ok().and_then(|mut t| t.take());
        if let Some(t) = t {
            let _ = t.join();
        }
    }
}

/// A running ustack instance: the stack, its device and its driver thread.
/// Cheap to clone; sockets hold a clone. When the last clone is dropped the
/// driver lets closing connections finish (up to 5 s) and stops.
#[derive(Clone)]
pub struct Netstack {
    pub(crate) shared: Arc<Shared>,
    _guard: Arc<DriverGuard>,
}

impl std::fmt::Debug for Netstack {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Netstack").finish_non_exhaustive()
    }
}

impl Netstack {
    /// Starts a stack with `config` on `device`, driven by a new thread.
    /// A `config.seed` of 0 (the default) is replaced by OS randomness.
    pub fn new(config: Config, device: impl Device) -> io::Result<Netstack> {
        let shared = Self::shared(config, device, true)?;
        let s2 = shared.clone();
        let handle = thread::Builder::new()
            .name("ustack-driver".into())
            .spawn(move || driver(s2))?;
        let guard = Arc::new(DriverGuard {
            shared: shared.clone(),
            thread: Mutex::new(Some(handle)),
        });
        Ok(Netstack {
            shared,
            _guard: guard,
        })
    }

    /// Starts a stack whose driver is a task on the current tokio runtime
    /// (call from within one): it waits on the device and the stack's
    /// deadline through tokio's reactor and timers. Sockets of both APIs
    /// work on it; blocking calls must not run on the runtime's own worker
    /// threads (use `spawn_blocking`), as with any blocking I/O.
    #[cfg(feature = "tokio")]
    pub fn new_tokio(config: Config, device: impl Device) -> io::Result<Netstack> {
        let shared = Self::shared(config, device, false)?;
        let handle = tokio::runtime::Handle::try_current().map_err(|e| {
            io::Error::other(format!("Netstack::new_tokio needs a tokio runtime: {e}"))
        })?;
        handle.spawn(driver_task(shared.clone()));
        let guard = Arc::new(DriverGuard {
            shared: shared.clone(),
            thread: Mutex::new(None),
        });
        Ok(Netstack {
            shared,
            _guard: guard,
        })
    }

    fn shared(config: Config, device: impl Device, with_timer: bool) -> io::Result<Arc<Shared>> {
        let mut config = config;
        if config.seed == 0 {
            // Seed 0 is the deterministic default of simulations; a stack on
            // a real device needs unpredictable secrets (RFC 6528 ISN key,
            // SYN-cookie key, port offsets): take them from the OS.
            config.seed = os_random_u64()?;
        }
        if config.mtu > device.mtu() {
            config.mtu = device.mtu();
        }
        let mtu = config.mtu;
        let stack = Stack::new(config)?;
        // SAFETY: plain syscall; the result is checked.
        let wake_fd = unsafe { libc::eventfd(0, libc::EFD_NONBLOCK | libc::EFD_CLOEXEC) };
        if wake_fd < 0 {
            return Err(io::Error::last_os_error());
        }
        let timer_fd = if with_timer {
            // SAFETY: plain syscall; the result is checked.
            let fd = unsafe {
                libc::timerfd_create(
                    libc::CLOCK_MONOTONIC,
                    libc::TFD_NONBLOCK | libc::TFD_CLOEXEC,
                )
            };
            if fd < 0 {
                let e = io::Error::last_os_error();
                // SAFETY: closing the eventfd created above, owned here.
                unsafe { libc::close(wake_fd) };
                return Err(e);
            }
            // SAFETY: a new descriptor nothing else owns.
            Some(unsafe { OwnedFd::from_raw_fd(fd) })
        } else {
            None
        };
        let rx_len = device.rx_buffer_len().max(device.mtu()).max(65536);
        Ok(Arc::new(Shared {
            inner: Mutex::new(Inner {
                stack,
                wakers: HashMap::new(),
                driver_deadline: None,
                tx_buf: vec![0u8; mtu.max(65536)],
                rx_buf: vec![0u8; rx_len],
            }),
            device: Box::new(device),
            wake_fd,
            timer_fd,
            poller_taken: AtomicBool::new(false),
            busy_poll_ns: AtomicU64::new(DEFAULT_BUSY_POLL.as_nanos() as u64),
            epoch: std::time::Instant::now(),
            shutdown: AtomicBool::new(false),
        }))
    }

    /// How long an application thread blocked in a socket call busy-polls
    /// the device before it sleeps ([`DEFAULT_BUSY_POLL`]; zero: never).
    /// Only devices that report waiting packets without a system call are
    /// polled ([`Device::rx_pending`]: the in-process pair, not TUN), and
    /// only by the one thread that waits for the device itself. Polling
    /// spends CPU time for lower latency, as Linux's `SO_BUSY_POLL` does.
    pub fn set_busy_poll(&self, d: Duration) {
        let ns = u64::try_from(d.as_nanos()).unwrap_or(u64::MAX);
        self.shared.busy_poll_ns.store(ns, Ordering::Relaxed);
    }

    /// The busy-poll time set by [`Netstack::set_busy_poll`].
    pub fn busy_poll(&self) -> Duration {
        Duration::from_nanos(self.shared.busy_poll_ns.load(Ordering::Relaxed))
    }

    /// Runs `f` on the stack under the lock (counters, tcp_info, ...).
    pub fn with_stack<T>(&self, f: impl FnOnce(&mut Stack) -> T) -> T {
        self.shared.with(f)
    }

    /// Stack counters.
    pub fn counters(&self) -> ustack::Counters {
        self.shared.with(|s| s.counters())
    }
}

/// 64 random bits from the OS (getrandom(2)).
fn os_random_u64() -> io::Result<u64> {
    let mut v = [0u8; 8];
    let mut got = 0usize;
    while got < v.len() {
        // SAFETY: writes at most the remaining bytes of `v`.
        let n = unsafe { libc::getrandom(v[got..].as_mut_ptr().cast(), v.len() - got, 0) };
        if n < 0 {
            let e = io::Error::last_os_error();
            if e.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return Err(e);
        }
        got += n as usize;
    }
    Ok(u64::from_le_bytes(v))
}

/// What one driver iteration leaves to do.
enum Step {
    /// Sleep at most this long (None: until woken), or not at all when
    /// the device still had packets waiting (`drained` false).
    Wait {
        timeout: Option<Duration>,
        drained: bool,
    },
    /// Shut down.
    Stop,
}

/// One driver iteration: device → stack (answering each packet before the
/// next), timers, stack → device, readiness wake-ups.
fn drive_once(shared: &Shared, linger_until: &mut Option<std::time::Instant>) -> Step {
    let mut g = shared.lock();
    let now = shared.now();
    g.stack.advance_clock(now);
    let drained = shared.pump_device(&mut g, now);
    g.stack.handle_timeout(now);
    shared.flush(&mut g, now, false);
    let deadline = g.stack.poll_at();
    g.driver_deadline = deadline;
    if shared.shutdown.load(Ordering::SeqCst) {
        let until = *linger_until.get_or_insert_with(|| std::time::Instant::now() + LINGER);
        if g.stack.tcp_busy_count() == 0 || std::time::Instant::now() >= until {
            return Step::Stop;
        }
    }
    let mut timeout = deadline.map(|d| d.saturating_since(now));
    if linger_until.is_some() {
        timeout = Some(
            timeout
                .unwrap_or(Duration::from_millis(50))
                .min(Duration::from_millis(50)),
        );
    }
    if let Some(fd) = &shared.timer_fd {
        // Armed under the lock, so an application thread's earlier poke
        // cannot be overwritten by this (later) deadline.
        arm_timer(fd, timeout);
    }
    Step::Wait { timeout, drained }
}

fn timespec(t: Duration) -> libc::timespec {
    libc::timespec {
        tv_sec: t.as_secs().min(i32::MAX as u64) as libc::time_t,
        tv_nsec: t.subsec_nanos() as libc::c_long,
    }
}

/// Arms the timerfd to fire once after `after` (at least 1 ns: zero would
/// disarm it), or disarms it (None).
fn arm_timer(fd: &OwnedFd, after: Option<Duration>) {
    let value = match after {
        Some(t) => timespec(t.max(Duration::from_nanos(1))),
        None => libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        },
    };
    let spec = libc::itimerspec {
        it_interval: libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        },
        it_value: value,
    };
    // SAFETY: `spec` is a valid itimerspec; the old value is not asked for.
    unsafe {
        libc::timerfd_settime(fd.as_raw_fd(), 0, &spec, std::ptr::null_mut());
    }
}

fn drain_eventfd(fd: RawFd) {
    let mut v: u64 = 0;
    // SAFETY: reading 8 bytes into a valid u64 from our own eventfd.
    unsafe {
        libc::read(fd, (&mut v as *mut u64).cast(), 8);
    }
}

/// The driver thread: iterate, then sleep in `ppoll` on the device, the
/// eventfd and the timerfd until a packet, a poke or the next deadline.
fn driver(shared: Arc<Shared>) {
    let mut linger_until: Option<std::time::Instant> = None;
    let Some(timer) = shared.timer_fd.as_ref().map(|t| t.as_raw_fd()) else {
        tracing::error!("ustack driver: no timer");
        return;
    };
    loop {
        match drive_once(&shared, &mut linger_until) {
            Step::Stop => return,
            Step::Wait { drained: false, .. } => continue,
            Step::Wait { .. } => {}
        }
        let mut fds = [
            libc::pollfd {
                fd: shared.device.readable_fd(),
                events: libc::POLLIN,
                revents: 0,
            },
            libc::pollfd {
                fd: shared.wake_fd,
                events: libc::POLLIN,
                revents: 0,
            },
            libc::pollfd {
                fd: timer,
                events: libc::POLLIN,
                revents: 0,
            },
        ];
        // SAFETY: fds points to three valid pollfd structs; no timeout.
        unsafe {
            libc::ppoll(fds.as_mut_ptr(), 3, std::ptr::null(), std::ptr::null());
        }
        if fds[1].revents != 0 {
            drain_eventfd(shared.wake_fd);
        }
        if fds[2].revents != 0 {
            // The expiration count (same read as an eventfd's counter).
            drain_eventfd(timer);
        }
    }
}

/// A raw descriptor for `AsyncFd` (owned elsewhere: never closed here).
#[cfg(feature = "tokio")]
struct BorrowedFd(RawFd);

#[cfg(feature = "tokio")]
impl std::os::fd::AsRawFd for BorrowedFd {
    fn as_raw_fd(&self) -> RawFd {
        self.0
    }
}

/// The driver as a tokio task: the same iteration, waiting on the device
/// and the eventfd through the reactor and on the deadline with a timer.
#[cfg(feature = "tokio")]
async fn driver_task(shared: Arc<Shared>) {
    use tokio::io::unix::AsyncFd;
    use tokio::io::Interest as TokioInterest;
    // SAFETY (both registrations): the descriptors belong to `shared`
    // (the device and our eventfd), which this task holds until after the
    // AsyncFds (locals declared after the parameter) are dropped; they stay
    // open and unchanged for the AsyncFds' whole lifetime.
    let dev = match unsafe {
        AsyncFd::register_with_interest(
            BorrowedFd(shared.device.readable_fd()),
            TokioInterest::READABLE,
        )
    } {
        Ok(fd) => fd,
        Err(e) => {
            tracing::error!("ustack driver: cannot register the device: {e}");
            return;
        }
    };
    let wake = match unsafe {
        AsyncFd::register_with_interest(BorrowedFd(shared.wake_fd), TokioInterest::READABLE)
    } {
        Ok(fd) => fd,
        Err(e) => {
            tracing::error!("ustack driver: cannot register the eventfd: {e}");
            return;
        }
    };
    let mut linger_until: Option<std::time::Instant> = None;
    loop {
        let timeout = match drive_once(&shared, &mut linger_until) {
            Step::Stop => return,
            Step::Wait { drained: false, .. } => {
                tokio::task::yield_now().await;
                continue;
            }
            Step::Wait { timeout, .. } => timeout,
        };
        let sleep = async {
            match timeout {
                Some(t) => tokio::time::sleep(t).await,
                None => std::future::pending::<()>().await,
            }
        };
        tokio::select! {
            r = dev.readable() => {
                // The iteration reads the device until it is empty.
                if let Ok(mut guard) = r {
                    guard.clear_ready();
                }
            }
            r = wake.readable() => {
                if let Ok(mut guard) = r {
                    drain_eventfd(shared.wake_fd);
                    guard.clear_ready();
                }
            }
            _ = sleep => {}
        }
    }
}
