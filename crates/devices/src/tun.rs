//! Linux TUN device (`IFF_TUN | IFF_NO_PI`): every `read` and `write` on
//! the descriptor is one bare IP packet, with no link-layer header and no
//! packet-information prefix.
//!
//! [`TunDevice::open`] attaches to an existing persistent TUN interface
//! (made with `ip tuntap add NAME mode tun`) or creates a new one that
//! disappears when the device is dropped. It sets (or reads) the MTU and
//! brings the interface up; everything else on the host side (its address,
//! routes, forwarding, NAT, firewall) is the host's business, for example:
//!
//! ```text
//! ip addr add 198.18.0.1/24 dev ustack0   # host side; ustack uses 198.18.0.2
//! ```
//!
//! Creating interfaces, setting the MTU and bringing interfaces up need root
//! or `CAP_NET_ADMIN`. An unprivileged user can still attach to a persistent
//! device made for them (`ip tuntap add NAME mode tun user USER`, then
//! `ip link set NAME up`) if `mtu` is `None`.
use crate::device::Device;
use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::{AsRawFd, RawFd};
use std::sync::atomic::{AtomicU64, Ordering};

/// The TUN clone device.
pub const TUN_PATH: &str = "/dev/net/tun";

/// A Linux TUN interface carrying bare IP packets.
///
/// The descriptor is non-blocking and close-on-exec; it is closed when the
/// device is dropped (which also deletes a non-persistent interface).
#[derive(Debug)]
pub struct TunDevice {
    file: File,
    name: String,
    mtu: usize,
    dropped: AtomicU64,
}

impl TunDevice {
    /// Opens (or creates) the TUN interface `name` and brings it up.
    ///
    /// `mtu`: `Some` sets the interface MTU, `None` keeps and reports the
    /// current one. An empty `name` lets the kernel choose (`tun0`...); so
    /// does a pattern such as `"ustack%d"`. See [`TunDevice::name`].
    pub fn open(name: &str, mtu: Option<usize>) -> io::Result<TunDevice> {
        sys::open(name, mtu)
    }

    /// The interface name as the kernel knows it.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Packets dropped by `send` because the kernel queue was full.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }
}

impl Device for TunDevice {
    fn mtu(&self) -> usize {
        self.mtu
    }

    fn recv(&self, buf: &mut [u8]) -> io::Result<Option<usize>> {
        loop {
            // One read() returns exactly one packet (IFF_NO_PI: no prefix).
            match (&self.file).read(buf) {
                Ok(n) => return Ok(Some(n)),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(None),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
        }
    }

    fn send(&self, packet: &[u8]) -> io::Result<()> {
        loop {
            // One write() injects exactly one packet into the host stack.
            match (&self.file).write(packet) {
                Ok(_) => return Ok(()),
                Err(e)
                    if e.kind() == io::ErrorKind::WouldBlock
                        || e.raw_os_error() == Some(libc::ENOBUFS) =>
                {
                    self.dropped.fetch_add(1, Ordering::Relaxed);
                    return Ok(());
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
        }
    }

    fn readable_fd(&self) -> RawFd {
        self.file.as_raw_fd()
    }
}

#[cfg(target_os = "linux")]
mod sys {
    use super::{TunDevice, TUN_PATH};
    use libc::{c_int, c_short};
    use std::fs::OpenOptions;
    use std::io;
    use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
    use std::os::unix::fs::OpenOptionsExt;
    use std::sync::atomic::AtomicU64;

    const NEED_ADMIN: &str = "need root or CAP_NET_ADMIN";

    /// Wraps `err` as "`context`: `err` (`hint`)", keeping its kind.
    fn annotate(err: io::Error, context: &str, hint: Option<&str>) -> io::Error {
        let msg = match hint {
            Some(h) => format!("{context}: {err} ({h})"),
            None => format!("{context}: {err}"),
        };
        io::Error::new(err.kind(), msg)
    }

    pub(super) fn open(name: &str, mtu: Option<usize>) -> io::Result<TunDevice> {
        let mut req = new_ifreq(name)?;
        let mtu_c = match mtu {
            Some(m) => Some(c_int::try_from(m).ok().filter(|&m| m > 0).ok_or_else(|| {
                io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!("invalid MTU {m} for TUN '{name}'"),
                )
            })?),
            None => None,
        };

        // std opens with O_CLOEXEC already; it is repeated here for clarity.
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .custom_flags(libc::O_NONBLOCK | libc::O_CLOEXEC)
            .open(TUN_PATH)
            .map_err(|e| {
                let hint = match e.raw_os_error() {
                    Some(libc::EACCES | libc::EPERM) => Some(NEED_ADMIN),
                    Some(libc::ENOENT | libc::ENODEV | libc::ENXIO) => {
                        Some("no TUN support: load the tun module (modprobe tun)")
                    }
                    _ => None,
                };
                annotate(e, &format!("cannot open {TUN_PATH}"), hint)
            })?;

        req.ifr_ifru.ifru_flags = (libc::IFF_TUN | libc::IFF_NO_PI) as c_short;
        // SAFETY: TUNSETIFF reads and writes one `struct ifreq`; `req` is a
        // live, properly sized and aligned `libc::ifreq` whose name is
        // NUL-terminated (checked by `new_ifreq`), and the descriptor is open
        // for the duration of the call.
        let rc = unsafe {
            libc::ioctl(
                file.as_raw_fd(),
                libc::TUNSETIFF,
                &mut req as *mut libc::ifreq,
            )
        };
        if rc < 0 {
            let e = io::Error::last_os_error();
            let hint = match e.raw_os_error() {
                Some(libc::EPERM | libc::EACCES) => Some(
                    "need root or CAP_NET_ADMIN, or a persistent device owned by this \
                     user: ip tuntap add NAME mode tun user USER",
                ),
                Some(libc::EBUSY) => Some("the device is already attached to another process"),
                Some(libc::EINVAL) => {
                    Some("an interface of that name may exist and not be a TUN device")
                }
                _ => None,
            };
            return Err(annotate(e, &format!("TUNSETIFF on '{name}' failed"), hint));
        }
        // The kernel wrote back the actual name (it matters for "" or "%d").
        let name = ifreq_name(&req);

        let ctl = control_socket()?;
        let mtu = match mtu_c {
            Some(m) => {
                let mut r = new_ifreq(&name)?;
                r.ifr_ifru.ifru_mtu = m;
                ifreq_ioctl(&ctl, libc::SIOCSIFMTU as _, &mut r).map_err(|e| {
                    let hint = match e.raw_os_error() {
                        Some(libc::EINVAL) => Some("MTU out of range for this device"),
                        Some(libc::EPERM | libc::EACCES) => Some(NEED_ADMIN),
                        _ => None,
                    };
                    annotate(e, &format!("SIOCSIFMTU ({m}) on '{name}' failed"), hint)
                })?;
                m
            }
            None => {
                let mut r = new_ifreq(&name)?;
                ifreq_ioctl(&ctl, libc::SIOCGIFMTU as _, &mut r)
                    .map_err(|e| annotate(e, &format!("SIOCGIFMTU on '{name}' failed"), None))?;
                // SAFETY: SIOCGIFMTU succeeded, so the kernel stored the MTU
                // in `ifru_mtu`; any bit pattern is a valid c_int anyway.
                unsafe { r.ifr_ifru.ifru_mtu }
            }
        };
        let mtu = usize::try_from(mtu).map_err(|_| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!("TUN '{name}' reports a negative MTU {mtu}"),
            )
        })?;

        bring_up(&ctl, &name)?;

        Ok(TunDevice {
            file,
            name,
            mtu,
            dropped: AtomicU64::new(0),
        })
    }

    /// Sets IFF_UP (and asks for IFF_RUNNING, which the kernel manages
    /// itself) unless the interface is already up, so an unprivileged user
    /// can attach to a persistent device an administrator brought up.
    fn bring_up(ctl: &OwnedFd, name: &str) -> io::Result<()> {
        let mut r = new_ifreq(name)?;
        ifreq_ioctl(ctl, libc::SIOCGIFFLAGS as _, &mut r)
            .map_err(|e| annotate(e, &format!("SIOCGIFFLAGS on '{name}' failed"), None))?;
        // SAFETY: SIOCGIFFLAGS succeeded, so the kernel stored the flags in
        // `ifru_flags`; any bit pattern is a valid c_short anyway.
        let flags = unsafe { r.ifr_ifru.ifru_flags };
        let up = (libc::IFF_UP | libc::IFF_RUNNING) as c_short;
        if flags & libc::IFF_UP as c_short != 0 {
            return Ok(());
        }
        r.ifr_ifru.ifru_flags = flags | up;
        ifreq_ioctl(ctl, libc::SIOCSIFFLAGS as _, &mut r).map_err(|e| {
            let hint = match e.raw_os_error() {
                Some(libc::EPERM | libc::EACCES) => Some(
                    "need root or CAP_NET_ADMIN to bring it up, \
                     or bring it up beforehand: ip link set NAME up",
                ),
                _ => None,
            };
            annotate(e, &format!("SIOCSIFFLAGS (up) on '{name}' failed"), hint)
        })
    }

    /// An AF_INET datagram socket: the handle for interface ioctls.
    fn control_socket() -> io::Result<OwnedFd> {
        // SAFETY: plain system call with constant arguments; no memory is
        // passed.
        let fd = unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) };
        if fd < 0 {
            let e = io::Error::last_os_error();
            return Err(annotate(e, "cannot create a control socket", None));
        }
        // SAFETY: `fd` was just returned by socket(), is valid and is owned
        // by nobody else, so OwnedFd may take ownership and close it.
        Ok(unsafe { OwnedFd::from_raw_fd(fd) })
    }

    /// Runs an interface ioctl that takes a `struct ifreq`.
    fn ifreq_ioctl(ctl: &OwnedFd, request: libc::Ioctl, req: &mut libc::ifreq) -> io::Result<()> {
        // SAFETY: every request passed here (SIOC[GS]IFMTU, SIOC[GS]IFFLAGS)
        // reads and/or writes exactly one `struct ifreq`; `req` is a live,
        // exclusive, properly sized and aligned `libc::ifreq` with a
        // NUL-terminated name, and `ctl` is an open socket.
        let rc = unsafe { libc::ioctl(ctl.as_raw_fd(), request, req as *mut libc::ifreq) };
        if rc < 0 {
            Err(io::Error::last_os_error())
        } else {
            Ok(())
        }
    }

    /// A zeroed `ifreq` holding `name`, which must fit with its NUL.
    fn new_ifreq(name: &str) -> io::Result<libc::ifreq> {
        if name.len() >= libc::IFNAMSIZ {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "interface name '{name}' is too long: {} bytes, at most {} allowed",
                    name.len(),
                    libc::IFNAMSIZ - 1
                ),
            ));
        }
        if name
            .bytes()
            .any(|b| b == 0 || b == b'/' || b == b':' || b.is_ascii_whitespace())
        {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("interface name {name:?} contains NUL, '/', ':' or whitespace"),
            ));
        }
        // SAFETY: `ifreq` is plain C data (a byte array and a union of
        // integers, sockaddrs, byte arrays and a raw pointer), for which the
        // all-zero bit pattern is valid (a null pointer).
        let mut req: libc::ifreq = unsafe { std::mem::zeroed() };
        for (dst, src) in req.ifr_name.iter_mut().zip(name.bytes()) {
            *dst = src as libc::c_char;
        }
        Ok(req)
    }

    /// The NUL-terminated name in an `ifreq`.
    fn ifreq_name(req: &libc::ifreq) -> String {
        let bytes: Vec<u8> = req
            .ifr_name
            .iter()
            .take_while(|&&c| c != 0)
            .map(|&c| c as u8)
            .collect();
        String::from_utf8_lossy(&bytes).into_owned()
    }
}

#[cfg(not(target_os = "linux"))]
mod sys {
    use super::TunDevice;
    use std::io;

    pub(super) fn open(_name: &str, _mtu: Option<usize>) -> io::Result<TunDevice> {
        Err(io::Error::new(
            io::ErrorKind::Unsupported,
            "TUN devices are only supported on Linux",
        ))
    }
}
