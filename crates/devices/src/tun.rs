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
//!
//! [`TunDevice::open_offload`] also turns on the kernel's offloads for the
//! interface (`IFF_VNET_HDR`, `TUNSETOFFLOAD` with checksum and TSO): the
//! host's TCP then hands over segments of up to 64 KiB at once (TSO/GSO)
//! and may leave their checksum for the receiver to complete, which saves
//! a system call and a pass through the host's stack per 1500-byte packet.
//! `recv` completes the checksum, so the stack sees ordinary, if large,
//! IPv4 packets (TCP accepts segments of any size within the window). Its
//! buffer must then hold 65 535 bytes ([`Device::rx_buffer_len`]).
//! The other way, `send` joins consecutive full-sized segments of one TCP
//! flow into one TSO packet of up to 64 KiB (as Linux's GRO would on a
//! receiving NIC) whose checksum it leaves to the kernel; it may hold a
//! segment until the next `send` or [`Device::flush`].
use crate::device::Device;
use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::{AsRawFd, RawFd};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

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
    /// Every read and write carries a `virtio_net_hdr` (offloads on).
    vnet: bool,
    /// Segments being joined into one TSO packet (offloads on).
    batch: Mutex<vnet::TxBatch>,
    dropped: AtomicU64,
    rx_dropped: AtomicU64,
}

impl TunDevice {
    /// Opens (or creates) the TUN interface `name` and brings it up.
    ///
    /// `mtu`: `Some` sets the interface MTU, `None` keeps and reports the
    /// current one. An empty `name` lets the kernel choose (`tun0`...); so
    /// does a pattern such as `"ustack%d"`. See [`TunDevice::name`].
    pub fn open(name: &str, mtu: Option<usize>) -> io::Result<TunDevice> {
        sys::open(name, mtu, false)
    }

    /// As [`TunDevice::open`], with the kernel's checksum and TSO offloads
    /// on (see the module documentation): the host's TCP sends segments of
    /// up to 64 KiB through the interface. Not for a device that forwards
    /// packets onto a link with the interface's MTU (as `ustack impair`
    /// does): those segments are larger than that.
    pub fn open_offload(name: &str, mtu: Option<usize>) -> io::Result<TunDevice> {
        sys::open(name, mtu, true)
    }

    /// Whether the offloads are on.
    pub fn offload(&self) -> bool {
        self.vnet
    }

    /// The interface name as the kernel knows it.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Packets dropped by `send` because the kernel queue was full.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    /// Packets `recv` dropped: with offloads, a malformed or unsupported
    /// offload header, or a packet larger than the buffer.
    pub fn rx_dropped(&self) -> u64 {
        self.rx_dropped.load(Ordering::Relaxed)
    }

    fn recv_vnet(&self, buf: &mut [u8]) -> io::Result<Option<usize>> {
        loop {
            let mut hdr = [0u8; vnet::HEADER_LEN];
            let iov = [
                libc::iovec {
                    iov_base: hdr.as_mut_ptr().cast(),
                    iov_len: hdr.len(),
                },
                libc::iovec {
                    iov_base: buf.as_mut_ptr().cast(),
                    iov_len: buf.len(),
                },
            ];
            // SAFETY: both iovecs describe live, exclusively borrowed
            // buffers of the given lengths for the duration of the call.
            let n = unsafe { libc::readv(self.file.as_raw_fd(), iov.as_ptr(), 2) };
            if n < 0 {
                let e = io::Error::last_os_error();
                match e.kind() {
                    io::ErrorKind::WouldBlock => return Ok(None),
                    io::ErrorKind::Interrupted => continue,
                    _ => return Err(e),
                }
            }
            let n = n as usize;
            let Some(len) = n.checked_sub(vnet::HEADER_LEN) else {
                self.rx_dropped.fetch_add(1, Ordering::Relaxed);
                continue;
            };
            match vnet::complete_rx(&hdr, &mut buf[..len]) {
                Ok(()) => return Ok(Some(len)),
                Err(why) => {
                    tracing::debug!("tun: dropped a received packet: {why}");
                    self.rx_dropped.fetch_add(1, Ordering::Relaxed);
                }
            }
        }
    }

    fn send_vnet(&self, packet: &[u8]) -> io::Result<()> {
        let mut b = self.batch.lock().unwrap_or_else(|e| e.into_inner());
        if b.append(packet) {
            if b.is_closed() {
                self.write_batch(&mut b)?;
            }
            return Ok(());
        }
        self.write_batch(&mut b)?;
        if b.start(packet) {
            return Ok(());
        }
        // Not a segment to join: on its own, behind an empty header.
        b.single(packet);
        self.write_batch(&mut b)
    }

    /// Writes what the batch holds (if anything) and empties it.
    fn write_batch(&self, b: &mut vnet::TxBatch) -> io::Result<()> {
        let Some(frame) = b.finish() else {
            return Ok(());
        };
        let r = self.write_frame(frame);
        b.clear();
        r
    }

    /// One write() injects exactly one packet (behind its offload header
    /// when offloads are on) into the host stack. A full kernel queue
    /// drops it (counted), as a NIC would.
    fn write_frame(&self, frame: &[u8]) -> io::Result<()> {
        loop {
            match (&self.file).write(frame) {
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
}

/// The `virtio_net_hdr` that precedes every packet with `IFF_VNET_HDR`
/// (include/uapi/linux/virtio_net.h; native byte order, the legacy
/// layout the TUN driver uses unless told otherwise).
pub mod vnet {
    use ustack_wire::checksum;

    /// Its length (no `num_buffers`).
    pub const HEADER_LEN: usize = 10;
    /// flags: the checksum from `csum_start` on is left to the receiver.
    pub const F_NEEDS_CSUM: u8 = 1;
    /// gso_type: not a GSO packet.
    pub const GSO_NONE: u8 = 0;
    /// gso_type: a TCP/IPv4 segment of up to 64 KiB.
    pub const GSO_TCPV4: u8 = 1;
    /// gso_type: a TCP/IPv6 segment of up to 64 KiB.
    pub const GSO_TCPV6: u8 = 4;
    /// gso_type flag: the segment had CE marks (ECN).
    pub const GSO_ECN: u8 = 0x80;

    /// Consecutive segments of one TCP/IPv4 flow joined into one TSO packet
    /// behind its `virtio_net_hdr`, as a receiving NIC's GRO would: same
    /// addresses, ports, TOS, TTL, flags (ACK; PSH only on the last),
    /// acknowledgment, window and options, each following the previous
    /// one in sequence, all but the last as long as the first. The kernel
    /// delivers the result as one segment (its TCP handles such packets
    /// from GRO) or, if it forwards it, cuts it back into the original
    /// segments (`gso_size`). Its checksum is left to the kernel
    /// (`NEEDS_CSUM`, the field holding the pseudo-header's sum).
    #[derive(Debug, Default)]
    pub struct TxBatch {
        /// Header space, then the packet.
        buf: Vec<u8>,
        /// Packet bytes in `buf` after the header (0: empty).
        len: usize,
        segs: usize,
        /// Payload length of the first segment (TSO's segment size).
        gso_size: usize,
        /// TCP header length (the IP header is 20 bytes: no options).
        tcp_hl: usize,
        next_seq: u32,
        closed: bool,
    }

    const IP_HL: usize = 20;
    const MAX_PACKET: usize = 65_535;
    const TCP_ACK: u8 = 0x10;
    const TCP_PSH: u8 = 0x08;

    /// The TCP header length of an IPv4 (no options, unfragmented) TCP
    /// segment with payload whose flags are ACK or ACK|PSH, if `p` is one.
    fn joinable(p: &[u8]) -> Option<usize> {
        if p.len() < IP_HL + 20 || p[0] != 0x45 || p[9] != 6 {
            return None;
        }
        let total = usize::from(u16::from_be_bytes([p[2], p[3]]));
        let frag = u16::from_be_bytes([p[6], p[7]]);
        // MF set or a fragment offset: a fragment (DF alone is fine).
        if total != p.len() || frag & 0x3fff != 0 {
            return None;
        }
        let tcp_hl = usize::from(p[IP_HL + 12] >> 4) * 4;
        let flags = p[IP_HL + 13];
        if tcp_hl < 20
            || IP_HL + tcp_hl >= p.len()
            || (flags != TCP_ACK && flags != TCP_ACK | TCP_PSH)
        {
            return None;
        }
        Some(tcp_hl)
    }

    fn seq_of(p: &[u8]) -> u32 {
        u32::from_be_bytes([p[IP_HL + 4], p[IP_HL + 5], p[IP_HL + 6], p[IP_HL + 7]])
    }

    impl TxBatch {
        fn packet(&self) -> &[u8] {
            &self.buf[HEADER_LEN..HEADER_LEN + self.len]
        }

        /// Whether nothing more may join (the last segment was short or
        /// had PSH): write it now.
        pub fn is_closed(&self) -> bool {
            self.len > 0 && self.closed
        }

        /// Starts a batch with `p` if it is a segment others may join
        /// (flags ACK only, payload). False, untouched, otherwise.
        pub fn start(&mut self, p: &[u8]) -> bool {
            debug_assert_eq!(self.len, 0);
            let Some(tcp_hl) = joinable(p) else {
                return false;
            };
            if p[IP_HL + 13] != TCP_ACK {
                return false;
            }
            self.put_first(p);
            self.tcp_hl = tcp_hl;
            self.gso_size = p.len() - IP_HL - tcp_hl;
            self.next_seq = seq_of(p).wrapping_add(self.gso_size as u32);
            true
        }

        /// Holds `p` alone (it is written as it is).
        pub fn single(&mut self, p: &[u8]) {
            debug_assert_eq!(self.len, 0);
            self.put_first(p);
            self.closed = true;
        }

        fn put_first(&mut self, p: &[u8]) {
            let need = HEADER_LEN + MAX_PACKET.max(p.len());
            if self.buf.len() < need {
                self.buf.resize(need, 0);
            }
            self.buf[HEADER_LEN..HEADER_LEN + p.len()].copy_from_slice(p);
            self.len = p.len();
            self.segs = 1;
            self.closed = false;
        }

        /// Joins `p` to the batch if it continues it; false otherwise.
        pub fn append(&mut self, p: &[u8]) -> bool {
            if self.len == 0 || self.closed || self.segs == 0 || self.gso_size == 0 {
                return false;
            }
            let Some(tcp_hl) = joinable(p) else {
                return false;
            };
            let payload = p.len() - IP_HL - tcp_hl;
            let first = self.packet();
            let same = tcp_hl == self.tcp_hl
                && payload <= self.gso_size
                && self.len + payload <= MAX_PACKET
                // TOS, DF, TTL, protocol; addresses.
                && p[1] == first[1]
                && p[6] & 0x40 == first[6] & 0x40
                && p[8..10] == first[8..10]
                && p[12..20] == first[12..20]
                // Ports; acknowledgment; data offset; window; urgent
                // pointer and options (not the flags, not the checksum).
                && p[IP_HL..IP_HL + 4] == first[IP_HL..IP_HL + 4]
                && p[IP_HL + 8..IP_HL + 13] == first[IP_HL + 8..IP_HL + 13]
                && p[IP_HL + 14..IP_HL + 16] == first[IP_HL + 14..IP_HL + 16]
                && p[IP_HL + 18..IP_HL + tcp_hl] == first[IP_HL + 18..IP_HL + tcp_hl]
                && seq_of(p) == self.next_seq;
            if !same {
                return false;
            }
            let at = HEADER_LEN + self.len;
            self.buf[at..at + payload].copy_from_slice(&p[IP_HL + tcp_hl..]);
            self.len += payload;
            self.segs += 1;
            self.next_seq = self.next_seq.wrapping_add(payload as u32);
            let psh = p[IP_HL + 13] & TCP_PSH != 0;
            if psh {
                self.buf[HEADER_LEN + IP_HL + 13] |= TCP_PSH;
            }
            if psh || payload < self.gso_size || self.len + self.gso_size > MAX_PACKET {
                self.closed = true;
            }
            true
        }

        /// The frame to write (header and packet), or None if empty. A
        /// single segment keeps its own checksum behind an empty header;
        /// joined ones get their lengths and IP checksum fixed and their
        /// TCP checksum left to the kernel.
        pub fn finish(&mut self) -> Option<&[u8]> {
            if self.len == 0 {
                return None;
            }
            let mut hdr = [0u8; HEADER_LEN];
            if self.segs > 1 {
                let len = self.len;
                let tcp_len = len - IP_HL;
                let pkt = &mut self.buf[HEADER_LEN..HEADER_LEN + len];
                pkt[2..4].copy_from_slice(&(len as u16).to_be_bytes());
                pkt[10..12].copy_from_slice(&[0, 0]);
                let ip_sum = checksum::checksum(&pkt[..IP_HL]);
                pkt[10..12].copy_from_slice(&ip_sum.to_be_bytes());
                let src = std::net::Ipv4Addr::new(pkt[12], pkt[13], pkt[14], pkt[15]);
                let dst = std::net::Ipv4Addr::new(pkt[16], pkt[17], pkt[18], pkt[19]);
                let pseudo = checksum::pseudo_header(src.into(), dst.into(), 6, tcp_len as u32);
                pkt[IP_HL + 16..IP_HL + 18].copy_from_slice(&checksum::fold(pseudo).to_be_bytes());
                hdr[0] = F_NEEDS_CSUM;
                hdr[1] = GSO_TCPV4;
                let put = |h: &mut [u8; HEADER_LEN], i: usize, v: usize| {
                    h[i..i + 2].copy_from_slice(&(v as u16).to_ne_bytes());
                };
                put(&mut hdr, 2, IP_HL + self.tcp_hl);
                put(&mut hdr, 4, self.gso_size);
                put(&mut hdr, 6, IP_HL);
                put(&mut hdr, 8, 16);
            }
            self.buf[..HEADER_LEN].copy_from_slice(&hdr);
            Some(&self.buf[..HEADER_LEN + self.len])
        }

        /// Empties the batch (after `finish`).
        pub fn clear(&mut self) {
            self.len = 0;
            self.segs = 0;
            self.closed = false;
        }

        /// Segments in the batch.
        pub fn segments(&self) -> usize {
            self.segs
        }
    }

    /// Checks a received packet's header and completes a partial checksum
    /// in place: the field at `csum_start + csum_offset` holds the
    /// pseudo-header's sum, so the one's-complement sum from `csum_start`
    /// to the end, complemented, is the checksum (virtio 1.x §5.1.6.4).
    /// A TSO/GSO packet (gso_type TCPv4/v6) is a whole TCP segment of up
    /// to 64 KiB with a complete IP header, delivered as it is. Errors
    /// (the packet is to be dropped) name what was wrong.
    pub fn complete_rx(hdr: &[u8; HEADER_LEN], packet: &mut [u8]) -> Result<(), &'static str> {
        let flags = hdr[0];
        let gso = hdr[1] & !GSO_ECN;
        let field = |i: usize| usize::from(u16::from_ne_bytes([hdr[i], hdr[i + 1]]));
        let (csum_start, csum_offset) = (field(6), field(8));
        if !matches!(gso, GSO_NONE | GSO_TCPV4 | GSO_TCPV6) {
            return Err("unsupported GSO type");
        }
        // A packet cut short by a buffer smaller than it: its IPv4 total
        // length says more than arrived.
        if packet.len() >= 4 && packet[0] >> 4 == 4 {
            let total = usize::from(u16::from_be_bytes([packet[2], packet[3]]));
            if total > packet.len() {
                return Err("packet larger than the receive buffer");
            }
        }
        if flags & F_NEEDS_CSUM != 0 {
            let at = csum_start
                .checked_add(csum_offset)
                .filter(|&at| at + 2 <= packet.len() && csum_start < packet.len())
                .ok_or("checksum position outside the packet")?;
            let sum = checksum::finish(checksum::accumulate(0, &packet[csum_start..]));
            packet[at..at + 2].copy_from_slice(&sum.to_be_bytes());
        }
        Ok(())
    }
}

impl Drop for TunDevice {
    fn drop(&mut self) {
        // A segment still held for joining goes out before the descriptor
        // closes (callers flush after each burst, so this is a safety net).
        if let Err(e) = Device::flush(self) {
            tracing::debug!("tun: flush on drop failed: {e}");
        }
    }
}

impl Device for TunDevice {
    fn mtu(&self) -> usize {
        self.mtu
    }

    fn recv(&self, buf: &mut [u8]) -> io::Result<Option<usize>> {
        if self.vnet {
            return self.recv_vnet(buf);
        }
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
        if self.vnet {
            return self.send_vnet(packet);
        }
        self.write_frame(packet)
    }

    fn readable_fd(&self) -> RawFd {
        self.file.as_raw_fd()
    }

    fn flush(&self) -> io::Result<()> {
        if !self.vnet {
            return Ok(());
        }
        let mut b = self.batch.lock().unwrap_or_else(|e| e.into_inner());
        self.write_batch(&mut b)
    }

    fn rx_buffer_len(&self) -> usize {
        if self.vnet {
            usize::from(u16::MAX).max(self.mtu)
        } else {
            self.mtu
        }
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

    pub(super) fn open(name: &str, mtu: Option<usize>, offload: bool) -> io::Result<TunDevice> {
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

        let vnet = if offload { libc::IFF_VNET_HDR } else { 0 };
        req.ifr_ifru.ifru_flags = (libc::IFF_TUN | libc::IFF_NO_PI | vnet) as c_short;
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
        if offload {
            let features = libc::TUN_F_CSUM | libc::TUN_F_TSO4 | libc::TUN_F_TSO6;
            // SAFETY: TUNSETOFFLOAD takes its argument by value (an
            // unsigned int of feature bits); no memory is passed.
            let rc = unsafe {
                libc::ioctl(
                    file.as_raw_fd(),
                    libc::TUNSETOFFLOAD,
                    features as libc::c_ulong,
                )
            };
            if rc < 0 {
                let e = io::Error::last_os_error();
                return Err(annotate(
                    e,
                    &format!("TUNSETOFFLOAD on '{name}' failed"),
                    None,
                ));
            }
        }

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
            vnet: offload,
            batch: std::sync::Mutex::new(super::vnet::TxBatch::default()),
            dropped: AtomicU64::new(0),
            rx_dropped: AtomicU64::new(0),
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

    pub(super) fn open(_name: &str, _mtu: Option<usize>, _offload: bool) -> io::Result<TunDevice> {
        Err(io::Error::new(
            io::ErrorKind::Unsupported,
            "TUN devices are only supported on Linux",
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::vnet::{self, complete_rx, HEADER_LEN};
    use std::net::{IpAddr, Ipv4Addr};
    use ustack_wire::checksum;
    use ustack_wire::ipv4::{Ipv4Packet, Ipv4Repr};
    use ustack_wire::tcp::{TcpFlags, TcpOptions, TcpPacket, TcpRepr};

    const SRC: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 1);
    const DST: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 2);

    /// An IPv4 packet from `src` to `dst` carrying `tcp`, checksums complete.
    fn ip_tcp(src: Ipv4Addr, dst: Ipv4Addr, ident: u16, tcp: &TcpRepr<'_>) -> Vec<u8> {
        let tcp_len = tcp.header_len() + tcp.payload.len();
        let ip = Ipv4Repr {
            src,
            dst,
            protocol: 6,
            payload_len: tcp_len,
            ttl: 64,
            ident,
            dont_frag: true,
            more_frags: false,
            frag_offset: 0,
            dscp_ecn: 0,
        };
        let mut p = vec![0u8; 20 + tcp_len];
        ip.emit(&mut p);
        tcp.emit(&mut p[20..], IpAddr::V4(src), IpAddr::V4(dst));
        p
    }

    /// An IPv4/TCP packet with `payload_len` bytes, its TCP checksum as a
    /// host that leaves it to the receiver writes it: the pseudo-header's
    /// folded sum (not complemented).
    fn partial_packet(payload_len: usize) -> Vec<u8> {
        let payload: Vec<u8> = (0..payload_len).map(|i| (i * 7 + 3) as u8).collect();
        let tcp = TcpRepr {
            src_port: 5201,
            dst_port: 40000,
            seq: 1000,
            ack: 2000,
            flags: TcpFlags::ACK | TcpFlags::PSH,
            window: 512,
            urgent: 0,
            options: TcpOptions::default(),
            payload: &payload,
        };
        let mut p = ip_tcp(SRC, DST, 1, &tcp);
        let tcp_len = (p.len() - 20) as u32;
        let pseudo = checksum::pseudo_header(IpAddr::V4(SRC), IpAddr::V4(DST), 6, tcp_len);
        p[36..38].copy_from_slice(&checksum::fold(pseudo).to_be_bytes());
        p
    }

    fn header(flags: u8, gso: u8, csum_start: u16, csum_offset: u16) -> [u8; HEADER_LEN] {
        let mut h = [0u8; HEADER_LEN];
        h[0] = flags;
        h[1] = gso;
        h[4..6].copy_from_slice(&1448u16.to_ne_bytes());
        h[6..8].copy_from_slice(&csum_start.to_ne_bytes());
        h[8..10].copy_from_slice(&csum_offset.to_ne_bytes());
        h
    }

    fn tcp_checksum_ok(p: &[u8]) -> bool {
        TcpPacket::new_checked(&p[20..])
            .is_ok_and(|t| t.verify_checksum(IpAddr::V4(SRC), IpAddr::V4(DST)))
    }

    /// A complete IPv4/TCP segment from the stack's side.
    fn segment(seq: u32, len: usize, flags: TcpFlags, ack: u32) -> Vec<u8> {
        let payload: Vec<u8> = (0..len).map(|i| (seq as usize + i) as u8).collect();
        let tcp = TcpRepr {
            src_port: 40000,
            dst_port: 5201,
            seq,
            ack,
            flags,
            window: 512,
            urgent: 0,
            options: TcpOptions {
                timestamp: Some((77, 66)),
                ..TcpOptions::default()
            },
            payload: &payload,
        };
        ip_tcp(DST, SRC, seq as u16, &tcp)
    }

    /// The frame's header and packet, the packet's checksum completed as
    /// the kernel would.
    fn written(b: &mut vnet::TxBatch) -> ([u8; HEADER_LEN], Vec<u8>) {
        let frame = b.finish().expect("a frame").to_vec();
        b.clear();
        let mut hdr = [0u8; HEADER_LEN];
        hdr.copy_from_slice(&frame[..HEADER_LEN]);
        let mut packet = frame[HEADER_LEN..].to_vec();
        complete_rx(&hdr, &mut packet).expect("a valid header");
        (hdr, packet)
    }

    fn reply_checksum_ok(p: &[u8]) -> bool {
        TcpPacket::new_checked(&p[20..])
            .is_ok_and(|t| t.verify_checksum(IpAddr::V4(DST), IpAddr::V4(SRC)))
            && Ipv4Packet::new_checked(p).is_ok_and(|ip| ip.verify_checksum())
    }

    #[test]
    fn consecutive_segments_are_joined_into_one_tso_packet() {
        let mut b = vnet::TxBatch::default();
        let segs = [
            segment(1000, 1448, TcpFlags::ACK, 9),
            segment(2448, 1448, TcpFlags::ACK, 9),
            segment(3896, 1448, TcpFlags::ACK, 9),
            segment(5344, 300, TcpFlags::ACK | TcpFlags::PSH, 9),
        ];
        assert!(b.start(&segs[0]));
        for s in &segs[1..] {
            assert!(b.append(s), "segment at {} not joined", 1000);
        }
        assert!(b.is_closed(), "a short PSH segment ends the batch");
        assert_eq!(b.segments(), 4);
        let (hdr, p) = written(&mut b);
        assert_eq!(hdr[0], vnet::F_NEEDS_CSUM);
        assert_eq!(hdr[1], vnet::GSO_TCPV4);
        let hl = 20 + 32;
        assert_eq!(u16::from_ne_bytes([hdr[2], hdr[3]]), hl as u16, "hdr_len");
        assert_eq!(u16::from_ne_bytes([hdr[4], hdr[5]]), 1448, "gso_size");
        assert_eq!(p.len(), hl + 3 * 1448 + 300);
        assert!(reply_checksum_ok(&p), "joined packet's checksums");
        let tcp = TcpPacket::new_checked(&p[20..]).expect("tcp");
        let repr = TcpRepr::parse(&tcp).expect("parse");
        assert_eq!(repr.seq, 1000);
        assert_eq!(repr.flags, TcpFlags::ACK | TcpFlags::PSH);
        let want: Vec<u8> = segs.iter().flat_map(|s| s[hl..].to_vec()).collect();
        assert_eq!(repr.payload, &want[..], "payloads in order");
    }

    #[test]
    fn a_lone_segment_is_written_as_it_is() {
        let mut b = vnet::TxBatch::default();
        let s = segment(1000, 1448, TcpFlags::ACK, 9);
        assert!(b.start(&s));
        let (hdr, p) = written(&mut b);
        assert_eq!(hdr, [0u8; HEADER_LEN]);
        assert_eq!(p, s);
        // Not joinable at all: a pure ACK, a SYN, a PSH first segment.
        for s in [
            segment(1000, 0, TcpFlags::ACK, 9),
            segment(1000, 10, TcpFlags::SYN, 0),
            segment(1000, 10, TcpFlags::ACK | TcpFlags::PSH, 9),
            segment(1000, 10, TcpFlags::ACK | TcpFlags::FIN, 9),
        ] {
            assert!(!b.start(&s));
            b.single(&s);
            let (hdr, p) = written(&mut b);
            assert_eq!(hdr, [0u8; HEADER_LEN]);
            assert_eq!(p, s);
        }
    }

    #[test]
    fn segments_that_do_not_continue_the_batch_are_not_joined() {
        let first = segment(1000, 1448, TcpFlags::ACK, 9);
        let gap = segment(2448 + 1, 1448, TcpFlags::ACK, 9);
        let other_ack = segment(2448, 1448, TcpFlags::ACK, 10);
        let longer = segment(2448, 1449, TcpFlags::ACK, 9);
        let fin = segment(2448, 100, TcpFlags::ACK | TcpFlags::FIN, 9);
        let mut other_port = segment(2448, 1448, TcpFlags::ACK, 9);
        other_port[20] ^= 1;
        let mut fragment = segment(2448, 1448, TcpFlags::ACK, 9);
        fragment[6] |= 0x20; // MF
        let mut tos = segment(2448, 1448, TcpFlags::ACK, 9);
        tos[1] = 2;
        let mut ts = segment(2448, 1448, TcpFlags::ACK, 9);
        ts[20 + 25] ^= 1; // TSval
        for (name, q) in [
            ("gap", &gap),
            ("ack", &other_ack),
            ("longer", &longer),
            ("fin", &fin),
            ("port", &other_port),
            ("fragment", &fragment),
            ("tos", &tos),
            ("timestamp", &ts),
        ] {
            let mut b = vnet::TxBatch::default();
            assert!(b.start(&first));
            assert!(!b.append(q), "{name}: joined");
            assert_eq!(b.segments(), 1);
        }
    }

    #[test]
    fn a_batch_never_exceeds_64_kib() {
        let mut b = vnet::TxBatch::default();
        let mut seq = 0u32;
        let mut joined = 0;
        assert!(b.start(&segment(seq, 1448, TcpFlags::ACK, 9)));
        seq += 1448;
        while b.append(&segment(seq, 1448, TcpFlags::ACK, 9)) {
            seq += 1448;
            joined += 1;
            if b.is_closed() {
                break;
            }
        }
        let (_, p) = written(&mut b);
        assert!(p.len() <= 65_535, "{} bytes", p.len());
        assert!(
            p.len() + 1448 > 65_535,
            "stopped early at {} bytes",
            p.len()
        );
        assert!(reply_checksum_ok(&p));
        assert_eq!(joined + 1, (p.len() - 52) / 1448);
    }

    #[test]
    fn partial_checksums_are_completed() {
        for (len, gso) in [
            (0, vnet::GSO_NONE),
            (1, vnet::GSO_NONE),
            (1448, vnet::GSO_NONE),
        ]
        .into_iter()
        .chain([
            (65_000, vnet::GSO_TCPV4),
            (2896, vnet::GSO_TCPV4 | vnet::GSO_ECN),
        ]) {
            let mut p = partial_packet(len);
            assert!(
                !tcp_checksum_ok(&p),
                "len {len}: partial sum passed as complete"
            );
            complete_rx(&header(vnet::F_NEEDS_CSUM, gso, 20, 16), &mut p).expect("complete");
            assert!(tcp_checksum_ok(&p), "len {len}: checksum not completed");
            assert!(Ipv4Packet::new_checked(&p[..]).is_ok_and(|ip| ip.verify_checksum()));
        }
    }

    #[test]
    fn complete_packets_are_left_alone() {
        let mut p = partial_packet(100);
        complete_rx(&header(vnet::F_NEEDS_CSUM, vnet::GSO_NONE, 20, 16), &mut p).expect("ok");
        let before = p.clone();
        complete_rx(&header(0, vnet::GSO_NONE, 0, 0), &mut p).expect("ok");
        assert_eq!(p, before);
    }

    #[test]
    fn bad_headers_are_refused_without_touching_memory_outside() {
        let mut p = partial_packet(10);
        let n = p.len() as u16;
        // Checksum field past the end, start past the end, offsets that
        // overflow.
        for (start, off) in [(n - 1, 0), (n, 0), (20, n), (u16::MAX, u16::MAX)] {
            let r = complete_rx(
                &header(vnet::F_NEEDS_CSUM, vnet::GSO_NONE, start, off),
                &mut p,
            );
            assert!(r.is_err(), "start {start} offset {off} accepted");
        }
        // UDP fragmentation offload and unknown types were never asked for.
        for gso in [3u8, 5, 0x7f] {
            assert!(
                complete_rx(&header(0, gso, 0, 0), &mut p).is_err(),
                "gso {gso}"
            );
        }
        // A packet cut short by the buffer (total length above what came).
        let full = partial_packet(1000);
        let mut cut = full[..600].to_vec();
        assert!(complete_rx(&header(0, vnet::GSO_NONE, 0, 0), &mut cut).is_err());
    }
}
