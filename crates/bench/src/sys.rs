//! Small OS helpers: CPU clocks, resident memory, machine description and
//! the network-namespace / interface set-up for the TUN and kernel
//! workloads (raw ioctls, so no `ip` program is needed).
use std::io;
use std::time::Duration;

fn clock(id: libc::clockid_t) -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec; the clock id is a
    // constant the kernel knows.
    unsafe {
        libc::clock_gettime(id, &mut ts);
    }
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

/// CPU time (user + system) used so far by all threads of this process.
pub fn process_cpu() -> Duration {
    clock(libc::CLOCK_PROCESS_CPUTIME_ID)
}

/// CPU time used so far by the calling thread.
pub fn thread_cpu() -> Duration {
    clock(libc::CLOCK_THREAD_CPUTIME_ID)
}

/// Resident set size of this process in bytes (`/proc/self/statm`).
pub fn rss_bytes() -> u64 {
    let s = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: u64 = s
        .split_whitespace()
        .nth(1)
        .and_then(|x| x.parse().ok())
        .unwrap_or(0);
    // SAFETY: sysconf has no preconditions.
    let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    pages * page.max(1) as u64
}

/// Gives freed heap memory back to the OS so that RSS deltas measure what
/// is live (glibc keeps freed chunks otherwise).
pub fn trim_heap() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only walks glibc's own heap.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// CPU model, logical cores, kernel release.
pub fn machine() -> (String, usize, String) {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, v)| v.trim().to_string())
        })
        .unwrap_or_else(|| "unknown".into());
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|_| "unknown".into());
    (cpu, cores, kernel)
}

/// Whether we may create network namespaces and TUN devices.
pub fn tun_prerequisite() -> Result<(), String> {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        return Err("not root (TUN devices and network namespaces need root)".into());
    }
    if !std::path::Path::new("/dev/net/tun").exists() {
        return Err("/dev/net/tun is missing".into());
    }
    Ok(())
}

/// Moves the calling thread (only) into a new, empty network namespace.
/// Threads it spawns afterwards inherit it; the namespace disappears once
/// no thread, socket or device refers to it. Needs root.
pub fn unshare_netns() -> io::Result<()> {
    // SAFETY: plain syscall; CLONE_NEWNET affects only the calling thread.
    if unsafe { libc::unshare(libc::CLONE_NEWNET) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

fn ifreq(name: &str) -> io::Result<libc::ifreq> {
    // SAFETY: ifreq is plain old data; all-zero is a valid value.
    let mut ifr: libc::ifreq = unsafe { std::mem::zeroed() };
    let bytes = name.as_bytes();
    if bytes.len() >= ifr.ifr_name.len() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "interface name too long",
        ));
    }
    for (d, s) in ifr.ifr_name.iter_mut().zip(bytes) {
        *d = *s as libc::c_char;
    }
    Ok(ifr)
}

struct Fd(libc::c_int);

impl Drop for Fd {
    fn drop(&mut self) {
        // SAFETY: we own the descriptor.
        unsafe {
            libc::close(self.0);
        }
    }
}

fn inet_socket() -> io::Result<Fd> {
    // SAFETY: plain syscall, result checked.
    let fd = unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(Fd(fd))
}

fn ioctl(fd: &Fd, req: libc::c_ulong, ifr: &mut libc::ifreq, what: &str) -> io::Result<()> {
    // SAFETY: `ifr` is a valid ifreq for these SIOC* requests.
    if unsafe { libc::ioctl(fd.0, req as _, ifr as *mut libc::ifreq) } < 0 {
        let e = io::Error::last_os_error();
        return Err(io::Error::new(e.kind(), format!("{what}: {e}")));
    }
    Ok(())
}

/// An IPv4 socket address (port in host order) as the kernel takes it.
pub fn sockaddr_in(addr: std::net::Ipv4Addr, port: u16) -> libc::sockaddr {
    let sin = libc::sockaddr_in {
        sin_family: libc::AF_INET as libc::sa_family_t,
        sin_port: port.to_be(),
        sin_addr: libc::in_addr {
            s_addr: u32::from_ne_bytes(addr.octets()),
        },
        sin_zero: [0; 8],
    };
    // SAFETY: sockaddr_in and sockaddr have the same size; the kernel
    // reads it back as sockaddr_in because sa_family is AF_INET.
    unsafe { std::mem::transmute::<libc::sockaddr_in, libc::sockaddr>(sin) }
}

/// Sets an interface's MTU (if given), brings it up, and (if given)
/// assigns an IPv4 address with a prefix, in the calling thread's
/// namespace.
pub fn configure_iface(
    name: &str,
    mtu: Option<usize>,
    addr: Option<(std::net::Ipv4Addr, u8)>,
) -> io::Result<()> {
    let fd = inet_socket()?;
    if let Some(mtu) = mtu {
        let mut ifr = ifreq(name)?;
        ifr.ifr_ifru.ifru_mtu = mtu as libc::c_int;
        ioctl(&fd, libc::SIOCSIFMTU, &mut ifr, "set MTU")?;
    }
    if let Some((ip, prefix)) = addr {
        let mut ifr = ifreq(name)?;
        ifr.ifr_ifru.ifru_addr = sockaddr_in(ip, 0);
        ioctl(&fd, libc::SIOCSIFADDR, &mut ifr, "set address")?;
        let mask = if prefix == 0 {
            0
        } else {
            u32::MAX << (32 - u32::from(prefix))
        };
        let mut ifr = ifreq(name)?;
        ifr.ifr_ifru.ifru_netmask = sockaddr_in(std::net::Ipv4Addr::from(mask), 0);
        ioctl(&fd, libc::SIOCSIFNETMASK, &mut ifr, "set netmask")?;
    }
    let mut ifr = ifreq(name)?;
    ioctl(&fd, libc::SIOCGIFFLAGS, &mut ifr, "get flags")?;
    // SAFETY: SIOCGIFFLAGS filled the flags member of the union.
    let flags = unsafe { ifr.ifr_ifru.ifru_flags };
    ifr.ifr_ifru.ifru_flags = flags | (libc::IFF_UP | libc::IFF_RUNNING) as libc::c_short;
    ioctl(&fd, libc::SIOCSIFFLAGS, &mut ifr, "set flags")?;
    Ok(())
}

/// Raises the open-files limit as far as allowed (many kernel sockets).
pub fn raise_nofile(want: u64) {
    let mut r = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: valid rlimit pointer.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut r) == 0 && r.rlim_cur < want {
            r.rlim_cur = want.min(r.rlim_max);
            libc::setrlimit(libc::RLIMIT_NOFILE, &r);
        }
    }
}

/// Waits up to `timeout` for `fd` to become readable.
pub fn wait_readable(fd: libc::c_int, timeout: Duration) {
    let mut pfd = libc::pollfd {
        fd,
        events: libc::POLLIN,
        revents: 0,
    };
    let ts = libc::timespec {
        tv_sec: timeout.as_secs() as libc::time_t,
        tv_nsec: timeout.subsec_nanos() as libc::c_long,
    };
    // SAFETY: one valid pollfd; ts lives across the call.
    unsafe {
        libc::ppoll(&mut pfd, 1, &ts, std::ptr::null());
    }
}
