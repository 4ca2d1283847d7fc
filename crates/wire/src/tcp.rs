//! TCP header and options (RFC 9293 §3.1, RFC 7323, RFC 2018): view and repr.
use crate::{checksum, Result, WireError};
use std::net::IpAddr;

/// Minimum header length.
pub const HEADER_LEN: usize = 20;
/// Maximum number of SACK blocks carried in one segment.
pub const MAX_SACK_BLOCKS: usize = 4;

/// TCP control bits.
#[derive(Clone, Copy, PartialEq, Eq, Default, Hash)]
pub struct TcpFlags(pub u8);

impl TcpFlags {
    pub const FIN: TcpFlags = TcpFlags(0x01);
    pub const SYN: TcpFlags = TcpFlags(0x02);
    pub const RST: TcpFlags = TcpFlags(0x04);
    pub const PSH: TcpFlags = TcpFlags(0x08);
    pub const ACK: TcpFlags = TcpFlags(0x10);
    pub const URG: TcpFlags = TcpFlags(0x20);
    pub const ECE: TcpFlags = TcpFlags(0x40);
    pub const CWR: TcpFlags = TcpFlags(0x80);
    pub fn empty() -> Self {
        TcpFlags(0)
    }
    pub fn contains(self, other: TcpFlags) -> bool {
        self.0 & other.0 == other.0
    }
    pub fn fin(self) -> bool {
        self.contains(Self::FIN)
    }
    pub fn syn(self) -> bool {
        self.contains(Self::SYN)
    }
    pub fn rst(self) -> bool {
        self.contains(Self::RST)
    }
    pub fn psh(self) -> bool {
        self.contains(Self::PSH)
    }
    pub fn ack(self) -> bool {
        self.contains(Self::ACK)
    }
    pub fn urg(self) -> bool {
        self.contains(Self::URG)
    }
}

impl core::ops::BitOr for TcpFlags {
    type Output = TcpFlags;
    fn bitor(self, rhs: TcpFlags) -> TcpFlags {
        TcpFlags(self.0 | rhs.0)
    }
}
impl core::ops::BitOrAssign for TcpFlags {
    fn bitor_assign(&mut self, rhs: TcpFlags) {
        self.0 |= rhs.0
    }
}

/// Debug prints like `SYN|ACK` (empty: `none`).
impl core::fmt::Debug for TcpFlags {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        const NAMES: [(TcpFlags, &str); 8] = [
            (TcpFlags::FIN, "FIN"),
            (TcpFlags::SYN, "SYN"),
            (TcpFlags::RST, "RST"),
            (TcpFlags::PSH, "PSH"),
            (TcpFlags::ACK, "ACK"),
            (TcpFlags::URG, "URG"),
            (TcpFlags::ECE, "ECE"),
            (TcpFlags::CWR, "CWR"),
        ];
        if self.0 == 0 {
            return f.write_str("none");
        }
        let mut first = true;
        for (flag, name) in NAMES {
            if self.contains(flag) {
                if !first {
                    f.write_str("|")?;
                }
                f.write_str(name)?;
                first = false;
            }
        }
        Ok(())
    }
}
impl core::fmt::Display for TcpFlags {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        core::fmt::Debug::fmt(self, f)
    }
}

/// Parsed TCP options. `Copy`, no allocation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TcpOptions {
    /// Kind 2.
    pub mss: Option<u16>,
    /// Kind 3, the raw shift count (the engine clamps values > 14).
    pub window_scale: Option<u8>,
    /// Kind 4.
    pub sack_permitted: bool,
    /// Kind 5: up to 4 (left, right) blocks, filled from index 0.
    pub sack_blocks: [Option<(u32, u32)>; MAX_SACK_BLOCKS],
    /// Kind 8: (TSval, TSecr).
    pub timestamp: Option<(u32, u32)>,
}

impl TcpOptions {
    /// Parses the options area. EOL ends parsing; NOP is skipped; unknown
    /// kinds with a valid length are skipped. A length byte < 2, an option
    /// running past the area, or a known option with the wrong length
    /// (MSS 4, WS 3, SACK-perm 2, SACK 2+8n with n in 1..=4, TS 10) →
    /// `WireError::BadOption`.
    pub fn parse(options: &[u8]) -> Result<TcpOptions> {
        let mut opts = TcpOptions::default();
        opts.parse_into(options)?;
        Ok(opts)
    }

    /// As [`TcpOptions::parse`], overwriting `self`: no copy of the parsed
    /// struct. A struct just written field by field and then copied whole
    /// is read back at another width than it was written, which stalls
    /// the CPU's store forwarding on the hot path.
    #[inline]
    pub fn parse_into(&mut self, options: &[u8]) -> Result<()> {
        *self = TcpOptions::default();
        let opts = self;
        // The usual options of an established connection (RFC 7323
        // Appendix A's layout): NOP NOP TS, parsed at once.
        if options.len() == 12
            && options[..4] == [opt::NOP, opt::NOP, opt::TIMESTAMP, opt::TIMESTAMP_LEN as u8]
        {
            opts.timestamp = Some((be32(options, 4), be32(options, 8)));
            return Ok(());
        }
        let mut i = 0;
        while i < options.len() {
            let kind = options[i];
            match kind {
                opt::EOL => break,
                opt::NOP => {
                    i += 1;
                    continue;
                }
                _ => {}
            }
            // Every other option has a length byte counting kind + length.
            let len = match options.get(i + 1) {
                Some(&l) => usize::from(l),
                None => return Err(WireError::BadOption),
            };
            if len < 2 || len > options.len() - i {
                return Err(WireError::BadOption);
            }
            let body = &options[i + 2..i + len];
            match kind {
                opt::MSS => {
                    if len != opt::MSS_LEN {
                        return Err(WireError::BadOption);
                    }
                    opts.mss = Some(u16::from_be_bytes([body[0], body[1]]));
                }
                opt::WINDOW_SCALE => {
                    if len != opt::WINDOW_SCALE_LEN {
                        return Err(WireError::BadOption);
                    }
                    opts.window_scale = Some(body[0]);
                }
                opt::SACK_PERMITTED => {
                    if len != opt::SACK_PERMITTED_LEN {
                        return Err(WireError::BadOption);
                    }
                    opts.sack_permitted = true;
                }
                opt::SACK => {
                    let n = body.len() / 8;
                    if body.len() & 7 != 0 || n == 0 || n > MAX_SACK_BLOCKS {
                        return Err(WireError::BadOption);
                    }
                    opts.sack_blocks = [None; MAX_SACK_BLOCKS];
                    for (slot, block) in opts.sack_blocks.iter_mut().zip(body.chunks_exact(8)) {
                        *slot = Some((be32(block, 0), be32(block, 4)));
                    }
                }
                opt::TIMESTAMP => {
                    if len != opt::TIMESTAMP_LEN {
                        return Err(WireError::BadOption);
                    }
                    opts.timestamp = Some((be32(body, 0), be32(body, 4)));
                }
                _ => {} // unknown kind with a valid length: skipped
            }
            i += len;
        }
        Ok(())
    }
    /// Bytes `emit` writes: the options padded with NOP/EOL to a multiple of 4.
    /// Must never exceed 40.
    pub fn emit_len(&self) -> usize {
        let base = self.base_len();
        let n = self.emitted_sack_blocks(base);
        if n == 0 {
            base
        } else {
            base + 4 + 8 * n
        }
    }
    /// Writes the options (in the order MSS, SACK-perm, TS, WS, SACK, padded
    /// to a multiple of 4) into `buf[..emit_len()]`; returns emit_len().
    ///
    /// Layout (every piece is 4-byte aligned, so no trailing padding is
    /// ever needed): `MSS` | `SACKOK TS` or `NOP NOP SACKOK` or `NOP NOP TS`
    /// | `NOP WS` | `NOP NOP SACK`. If all SACK blocks do not fit in the 40
    /// byte option space, the first ones (most recent, RFC 2018) are kept.
    pub fn emit(&self, buf: &mut [u8]) -> usize {
        self.emit_sum(buf).0
    }
    /// As [`TcpOptions::emit`], and returns with the length the running
    /// one's complement sum (unfolded) of the 16-bit words written, taken
    /// from the values as they are written rather than read back (a wide
    /// load of bytes just stored narrowly stalls store forwarding).
    #[inline]
    pub fn emit_sum(&self, buf: &mut [u8]) -> (usize, u64) {
        let total = self.emit_len();
        let mut w = Words::new(&mut buf[..total]);
        if let Some(mss) = self.mss {
            w.bytes(opt::MSS, opt::MSS_LEN as u8);
            w.u16(mss);
        }
        match (self.sack_permitted, self.timestamp) {
            (true, Some(_)) => w.bytes(opt::SACK_PERMITTED, opt::SACK_PERMITTED_LEN as u8),
            (true, None) => {
                w.bytes(opt::NOP, opt::NOP);
                w.bytes(opt::SACK_PERMITTED, opt::SACK_PERMITTED_LEN as u8);
            }
            (false, Some(_)) => w.bytes(opt::NOP, opt::NOP),
            (false, None) => {}
        }
        if let Some((tsval, tsecr)) = self.timestamp {
            w.bytes(opt::TIMESTAMP, opt::TIMESTAMP_LEN as u8);
            w.u32(tsval);
            w.u32(tsecr);
        }
        if let Some(ws) = self.window_scale {
            w.bytes(opt::NOP, opt::WINDOW_SCALE);
            w.bytes(opt::WINDOW_SCALE_LEN as u8, ws);
        }
        let n = self.emitted_sack_blocks(w.at);
        if n > 0 {
            w.bytes(opt::NOP, opt::NOP);
            w.bytes(opt::SACK, (2 + 8 * n) as u8);
            for &(left, right) in self.sack_blocks.iter().flatten().take(n) {
                w.u32(left);
                w.u32(right);
            }
        }
        debug_assert_eq!(w.at, total);
        debug_assert!(total & 3 == 0 && total <= MAX_OPTIONS_LEN);
        (total, w.acc)
    }
    /// Length of everything but the SACK blocks (a multiple of 4, <= 20).
    fn base_len(&self) -> usize {
        let mut len = 0;
        if self.mss.is_some() {
            len += 4;
        }
        len += match (self.sack_permitted, self.timestamp.is_some()) {
            (true, true) | (false, true) => 12,
            (true, false) => 4,
            (false, false) => 0,
        };
        if self.window_scale.is_some() {
            len += 4;
        }
        len
    }
    /// How many SACK blocks fit after `base` bytes of other options.
    fn emitted_sack_blocks(&self, base: usize) -> usize {
        let count = self.sack_count();
        if count == 0 {
            return 0;
        }
        let room = MAX_OPTIONS_LEN.saturating_sub(base + 4) / 8;
        count.min(room)
    }
    /// Number of SACK blocks present.
    pub fn sack_count(&self) -> usize {
        self.sack_blocks.iter().filter(|b| b.is_some()).count()
    }
}

/// Zero-copy view of a TCP segment.
#[derive(Debug, Clone)]
pub struct TcpPacket<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> TcpPacket<T> {
    pub fn new_unchecked(buffer: T) -> Self {
        TcpPacket { buffer }
    }
    /// Validates: len >= 20 (Truncated); 20 <= data offset*4 <= len
    /// (BadDataOffset). Does not verify the checksum or parse options.
    pub fn new_checked(buffer: T) -> Result<Self> {
        let packet = TcpPacket { buffer };
        packet.check()?;
        Ok(packet)
    }
    /// The checks of `new_checked`, on an existing view.
    pub fn check(&self) -> Result<()> {
        let len = self.buffer.as_ref().len();
        if len < HEADER_LEN {
            return Err(WireError::Truncated);
        }
        let header_len = self.header_len();
        if header_len < HEADER_LEN || header_len > len {
            return Err(WireError::BadDataOffset);
        }
        Ok(())
    }
    pub fn into_inner(self) -> T {
        self.buffer
    }
    pub fn src_port(&self) -> u16 {
        be16(self.buffer.as_ref(), field::SRC_PORT)
    }
    pub fn dst_port(&self) -> u16 {
        be16(self.buffer.as_ref(), field::DST_PORT)
    }
    pub fn seq(&self) -> u32 {
        be32(self.buffer.as_ref(), field::SEQ)
    }
    pub fn ack(&self) -> u32 {
        be32(self.buffer.as_ref(), field::ACK)
    }
    /// Header length in bytes (data offset * 4).
    pub fn header_len(&self) -> usize {
        usize::from(self.buffer.as_ref()[field::DATA_OFF] >> 4) * 4
    }
    pub fn flags(&self) -> TcpFlags {
        TcpFlags(self.buffer.as_ref()[field::FLAGS])
    }
    pub fn window(&self) -> u16 {
        be16(self.buffer.as_ref(), field::WINDOW)
    }
    pub fn checksum(&self) -> u16 {
        be16(self.buffer.as_ref(), field::CHECKSUM)
    }
    pub fn urgent(&self) -> u16 {
        be16(self.buffer.as_ref(), field::URGENT)
    }
    /// Options area: bytes 20..header_len.
    pub fn options(&self) -> &[u8] {
        let data = self.buffer.as_ref();
        if data.len() < HEADER_LEN {
            return &[];
        }
        let end = self.header_len().clamp(HEADER_LEN, data.len());
        &data[HEADER_LEN..end]
    }
    pub fn payload(&self) -> &[u8] {
        let data = self.buffer.as_ref();
        if data.len() < HEADER_LEN {
            return &[];
        }
        &data[self.header_len().clamp(HEADER_LEN, data.len())..]
    }
    /// Verifies the checksum over pseudo-header + whole buffer.
    pub fn verify_checksum(&self, src: IpAddr, dst: IpAddr) -> bool {
        let data = self.buffer.as_ref();
        let Ok(len) = u32::try_from(data.len()) else {
            return false;
        };
        let acc = checksum::pseudo_header(src, dst, PROTO_TCP, len);
        checksum::finish(checksum::accumulate(acc, data)) == 0
    }
}

/// High-level TCP segment. `payload` borrows the packet when parsed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TcpRepr<'a> {
    pub src_port: u16,
    pub dst_port: u16,
    pub seq: u32,
    pub ack: u32,
    pub flags: TcpFlags,
    pub window: u16,
    pub urgent: u16,
    pub options: TcpOptions,
    pub payload: &'a [u8],
}

impl<'a> TcpRepr<'a> {
    /// Parses a checked segment and its options (BadOption). Does not verify
    /// the checksum (use `TcpPacket::verify_checksum`).
    pub fn parse(packet: &TcpPacket<&'a [u8]>) -> Result<TcpRepr<'a>> {
        let mut repr = TcpRepr::default();
        repr.parse_into(packet)?;
        Ok(repr)
    }

    /// As [`TcpRepr::parse`], overwriting `self` (on error its fields are
    /// unspecified), so the parsed header is not copied (see
    /// [`TcpOptions::parse_into`]).
    #[inline]
    pub fn parse_into(&mut self, packet: &TcpPacket<&'a [u8]>) -> Result<()> {
        // Re-validate so a view made with `new_unchecked` cannot panic here.
        packet.check()?;
        let data: &'a [u8] = packet.buffer;
        let header_len = packet.header_len();
        self.options.parse_into(&data[HEADER_LEN..header_len])?;
        self.src_port = packet.src_port();
        self.dst_port = packet.dst_port();
        self.seq = packet.seq();
        self.ack = packet.ack();
        self.flags = packet.flags();
        self.window = packet.window();
        self.urgent = packet.urgent();
        self.payload = &data[header_len..];
        Ok(())
    }
    /// 20 + options.emit_len().
    pub fn header_len(&self) -> usize {
        HEADER_LEN + self.options.emit_len()
    }
    /// Writes header + options into `buf[..header_len()]` with checksum 0
    /// and data offset = header_len()/4. Ignores `payload`. Returns header_len().
    #[inline(always)]
    pub fn emit_header(&self, buf: &mut [u8]) -> usize {
        self.emit_header_sum(buf).0
    }
    /// As [`TcpRepr::emit_header`], and returns the running sum of the
    /// header's 16-bit words (checksum field zero) with it, taken from the
    /// fields as they are written (see [`TcpOptions::emit_sum`]): for
    /// [`finish_checksum`].
    #[inline(always)]
    pub fn emit_header_sum(&self, buf: &mut [u8]) -> (usize, u64) {
        let header_len = self.header_len();
        let (hdr, options) = buf[..header_len].split_at_mut(HEADER_LEN);
        let mut w = Words::new(hdr);
        w.u16(self.src_port);
        w.u16(self.dst_port);
        w.u32(self.seq);
        w.u32(self.ack);
        w.bytes(((header_len / 4) as u8) << 4, self.flags.0);
        w.u16(self.window);
        w.u16(0); // checksum
        w.u16(self.urgent);
        debug_assert_eq!(w.at, field::URGENT + 2);
        let (_, options_sum) = self.options.emit_sum(options);
        (header_len, w.acc + options_sum)
    }
    /// Writes header, copies `payload`, fills the checksum. `buf.len()` must
    /// be at least header_len() + payload.len(); returns bytes written.
    pub fn emit(&self, buf: &mut [u8], src: IpAddr, dst: IpAddr) -> usize {
        let header_len = self.emit_header(buf);
        let total = header_len + self.payload.len();
        buf[header_len..total].copy_from_slice(self.payload);
        fill_checksum(&mut buf[..total], src, dst);
        total
    }
}

/// Sets URG and the urgent pointer in a header written by
/// [`TcpRepr::emit_header_sum`] with neither, and returns what to add to
/// its running sum (the flags word grows by URG's bit, the pointer word
/// from zero): urgent data, rare, costs nothing to the other segments.
#[cold]
pub fn set_urgent(header: &mut [u8], pointer: u16) -> u64 {
    debug_assert!(header[field::FLAGS] & TcpFlags::URG.0 == 0);
    debug_assert!(header[field::URGENT..field::URGENT + 2] == [0, 0]);
    header[field::FLAGS] |= TcpFlags::URG.0;
    header[field::URGENT..field::URGENT + 2].copy_from_slice(&pointer.to_be_bytes());
    u64::from(TcpFlags::URG.0) + u64::from(pointer)
}

/// Computes and stores the checksum of a complete segment in `segment`
/// (header + payload), given the IP addresses for the pseudo-header.
/// Panics if `segment` is shorter than the 20-byte header (caller bug).
pub fn fill_checksum(segment: &mut [u8], src: IpAddr, dst: IpAddr) {
    segment[field::CHECKSUM..field::CHECKSUM + 2].copy_from_slice(&[0, 0]);
    let acc = checksum::pseudo_header(src, dst, PROTO_TCP, segment.len() as u32);
    let sum = checksum::finish(checksum::accumulate(acc, segment));
    segment[field::CHECKSUM..field::CHECKSUM + 2].copy_from_slice(&sum.to_be_bytes());
}

/// Stores the checksum of `segment` (header + payload, checksum field
/// zero) from running sums taken elsewhere: `header_sum` of the header
/// (e.g. [`TcpRepr::emit_header_sum`]) and `payload_sum` of the payload
/// (e.g. `checksum::copy_and_accumulate`). Reads nothing of `segment`.
/// Panics if `segment` is shorter than the 20-byte header (caller bug).
#[inline]
pub fn finish_checksum(
    segment: &mut [u8],
    header_sum: u64,
    payload_sum: u64,
    src: IpAddr,
    dst: IpAddr,
) {
    let acc = checksum::pseudo_header(src, dst, PROTO_TCP, segment.len() as u32);
    // Each running sum is below 2^34: their total cannot overflow, and the
    // fold keeps it congruent (and non-zero iff any is non-zero).
    let sum = checksum::finish(acc + header_sum + payload_sum);
    segment[field::CHECKSUM..field::CHECKSUM + 2].copy_from_slice(&sum.to_be_bytes());
}

const PROTO_TCP: u8 = 6;
/// Maximum length of the options area (data offset 15).
const MAX_OPTIONS_LEN: usize = 40;

mod field {
    pub const SRC_PORT: usize = 0;
    pub const DST_PORT: usize = 2;
    pub const SEQ: usize = 4;
    pub const ACK: usize = 8;
    pub const DATA_OFF: usize = 12;
    pub const FLAGS: usize = 13;
    pub const WINDOW: usize = 14;
    pub const CHECKSUM: usize = 16;
    pub const URGENT: usize = 18;
}

/// Option kinds and fixed lengths.
mod opt {
    pub const EOL: u8 = 0;
    pub const NOP: u8 = 1;
    pub const MSS: u8 = 2;
    pub const WINDOW_SCALE: u8 = 3;
    pub const SACK_PERMITTED: u8 = 4;
    pub const SACK: u8 = 5;
    pub const TIMESTAMP: u8 = 8;
    pub const MSS_LEN: usize = 4;
    pub const WINDOW_SCALE_LEN: usize = 3;
    pub const SACK_PERMITTED_LEN: usize = 2;
    pub const TIMESTAMP_LEN: usize = 10;
}

#[inline]
fn be16(b: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([b[at], b[at + 1]])
}

/// Writes big-endian 16-bit words (or pairs of them) in order and keeps
/// their running one's complement sum (RFC 1071), from the values written.
struct Words<'a> {
    buf: &'a mut [u8],
    at: usize,
    acc: u64,
}

impl<'a> Words<'a> {
    fn new(buf: &'a mut [u8]) -> Words<'a> {
        Words { buf, at: 0, acc: 0 }
    }
    #[inline(always)]
    fn u16(&mut self, v: u16) {
        self.buf[self.at..self.at + 2].copy_from_slice(&v.to_be_bytes());
        self.at += 2;
        self.acc += u64::from(v);
    }
    #[inline(always)]
    fn bytes(&mut self, hi: u8, lo: u8) {
        self.u16(u16::from_be_bytes([hi, lo]));
    }
    #[inline(always)]
    fn u32(&mut self, v: u32) {
        self.buf[self.at..self.at + 4].copy_from_slice(&v.to_be_bytes());
        self.at += 4;
        self.acc += u64::from(v >> 16) + u64::from(v & 0xFFFF);
    }
}

#[inline]
fn be32(b: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{Ipv4Addr, Ipv6Addr};

    const SRC: IpAddr = IpAddr::V4(Ipv4Addr::new(192, 168, 1, 10));
    const DST: IpAddr = IpAddr::V4(Ipv4Addr::new(93, 184, 216, 34));

    /// Options of a Linux SYN: MSS 1460, SACK-perm, TS, NOP, WS 7.
    const LINUX_SYN_OPTS: [u8; 20] = [
        0x02, 0x04, 0x05, 0xb4, 0x04, 0x02, 0x08, 0x0a, 0x00, 0x01, 0x02, 0x03, 0x00, 0x00, 0x00,
        0x00, 0x01, 0x03, 0x03, 0x07,
    ];

    fn linux_syn_options() -> TcpOptions {
        TcpOptions {
            mss: Some(1460),
            window_scale: Some(7),
            sack_permitted: true,
            sack_blocks: [None; 4],
            timestamp: Some((0x0001_0203, 0)),
        }
    }

    #[test]
    fn flags_debug() {
        assert_eq!(format!("{:?}", TcpFlags::SYN | TcpFlags::ACK), "SYN|ACK");
        assert_eq!(format!("{:?}", TcpFlags::empty()), "none");
        assert_eq!(format!("{}", TcpFlags::ACK | TcpFlags::FIN), "FIN|ACK");
        assert_eq!(
            format!("{:?}", TcpFlags(0xFF)),
            "FIN|SYN|RST|PSH|ACK|URG|ECE|CWR"
        );
        assert_eq!(format!("{:?}", TcpFlags::RST), "RST");
        let mut f = TcpFlags::PSH;
        f |= TcpFlags::CWR;
        assert_eq!(format!("{f:?}"), "PSH|CWR");
        assert!(f.psh() && !f.ack());
    }

    #[test]
    fn parse_linux_syn_options() {
        assert_eq!(
            TcpOptions::parse(&LINUX_SYN_OPTS).unwrap(),
            linux_syn_options()
        );
    }

    #[test]
    fn emit_linux_syn_options() {
        let o = linux_syn_options();
        assert_eq!(o.emit_len(), 20);
        let mut buf = [0xEEu8; 44];
        assert_eq!(o.emit(&mut buf), 20);
        assert_eq!(&buf[..20], &LINUX_SYN_OPTS);
        assert_eq!(&buf[20..], &[0xEE; 24]);
    }

    #[test]
    fn emit_layouts() {
        let mut buf = [0u8; 40];
        let ts = TcpOptions {
            timestamp: Some((1, 2)),
            ..Default::default()
        };
        assert_eq!(ts.emit(&mut buf), 12);
        assert_eq!(&buf[..12], &[1, 1, 8, 10, 0, 0, 0, 1, 0, 0, 0, 2]);

        let sp = TcpOptions {
            sack_permitted: true,
            ..Default::default()
        };
        assert_eq!(sp.emit(&mut buf), 4);
        assert_eq!(&buf[..4], &[1, 1, 4, 2]);

        let ws = TcpOptions {
            window_scale: Some(14),
            ..Default::default()
        };
        assert_eq!(ws.emit(&mut buf), 4);
        assert_eq!(&buf[..4], &[1, 3, 3, 14]);

        let mut sack = TcpOptions {
            timestamp: Some((5, 6)),
            ..Default::default()
        };
        sack.sack_blocks[0] = Some((100, 200));
        assert_eq!(sack.emit(&mut buf), 24);
        assert_eq!(
            &buf[..24],
            &[1, 1, 8, 10, 0, 0, 0, 5, 0, 0, 0, 6, 1, 1, 5, 10, 0, 0, 0, 100, 0, 0, 0, 200]
        );
        assert_eq!(TcpOptions::parse(&buf[..24]).unwrap(), sack);

        assert_eq!(TcpOptions::default().emit_len(), 0);
        assert_eq!(TcpOptions::default().emit(&mut buf), 0);
    }

    fn blocks(n: usize) -> [Option<(u32, u32)>; 4] {
        let mut b = [None; 4];
        for (i, slot) in b.iter_mut().enumerate().take(n) {
            *slot = Some((i as u32 * 1000, i as u32 * 1000 + 500));
        }
        b
    }

    #[test]
    fn sack_blocks_limited_to_40_bytes() {
        let mut buf = [0u8; 40];
        // No other options: all 4 blocks fit (4 + 32 = 36).
        let o = TcpOptions {
            sack_blocks: blocks(4),
            ..Default::default()
        };
        assert_eq!(o.emit_len(), 36);
        assert_eq!(o.emit(&mut buf), 36);
        assert_eq!(TcpOptions::parse(&buf[..36]).unwrap(), o);

        // With timestamps: 12 + 4 + 8n <= 40 -> 3 blocks (the first three).
        let o = TcpOptions {
            sack_blocks: blocks(4),
            timestamp: Some((7, 8)),
            ..Default::default()
        };
        assert_eq!(o.emit_len(), 40);
        assert_eq!(o.emit(&mut buf), 40);
        let parsed = TcpOptions::parse(&buf).unwrap();
        assert_eq!(parsed.sack_blocks, blocks(3));
        assert_eq!(parsed.timestamp, Some((7, 8)));

        // Everything: 20 + 4 + 8n <= 40 -> 2 blocks.
        let o = TcpOptions {
            sack_blocks: blocks(4),
            ..linux_syn_options()
        };
        assert_eq!(o.emit_len(), 40);
        assert_eq!(o.emit(&mut buf), 40);
        let parsed = TcpOptions::parse(&buf).unwrap();
        assert_eq!(parsed.sack_blocks, blocks(2));
        assert_eq!(parsed.mss, Some(1460));
        assert_eq!(parsed.window_scale, Some(7));
        assert!(parsed.sack_permitted);
    }

    #[test]
    fn emit_len_consistent_for_all_combinations() {
        for mask in 0..16u8 {
            for n in 0..=4 {
                let o = TcpOptions {
                    mss: (mask & 1 != 0).then_some(536),
                    window_scale: (mask & 2 != 0).then_some(3),
                    sack_permitted: mask & 4 != 0,
                    timestamp: (mask & 8 != 0).then_some((9, 10)),
                    sack_blocks: blocks(n),
                };
                let len = o.emit_len();
                assert!(len <= 40 && len & 3 == 0, "{o:?} -> {len}");
                let mut buf = [0u8; 40];
                assert_eq!(o.emit(&mut buf), len);
                let p = TcpOptions::parse(&buf[..len]).unwrap();
                assert_eq!(p.mss, o.mss);
                assert_eq!(p.window_scale, o.window_scale);
                assert_eq!(p.sack_permitted, o.sack_permitted);
                assert_eq!(p.timestamp, o.timestamp);
                let kept = p.sack_count();
                assert!(kept <= n);
                assert_eq!(&p.sack_blocks[..kept], &o.sack_blocks[..kept]);
                if n > 0 {
                    assert!(kept >= 1, "at least one SACK block always fits");
                }
            }
        }
    }

    #[test]
    fn emit_skips_none_holes_in_sack_blocks() {
        let o = TcpOptions {
            sack_blocks: [None, Some((1, 2)), None, Some((3, 4))],
            ..Default::default()
        };
        let mut buf = [0u8; 40];
        let len = o.emit(&mut buf);
        assert_eq!(len, 4 + 16);
        let p = TcpOptions::parse(&buf[..len]).unwrap();
        assert_eq!(p.sack_blocks, [Some((1, 2)), Some((3, 4)), None, None]);
    }

    #[test]
    fn parse_nop_eol_unknown() {
        // NOP, unknown kind 30 len 4, EOL, then garbage (ignored).
        let opts = [1, 30, 4, 0xAA, 0xBB, 2, 4, 0x02, 0x18, 0, 0xFF, 0x00];
        let p = TcpOptions::parse(&opts).unwrap();
        assert_eq!(p.mss, Some(536));
        assert_eq!(
            p,
            TcpOptions {
                mss: Some(536),
                ..Default::default()
            }
        );
        // Only padding.
        assert_eq!(
            TcpOptions::parse(&[0, 0, 0, 0]).unwrap(),
            TcpOptions::default()
        );
        assert_eq!(
            TcpOptions::parse(&[1, 1, 1, 1]).unwrap(),
            TcpOptions::default()
        );
        assert_eq!(TcpOptions::parse(&[]).unwrap(), TcpOptions::default());
        // Unknown kind with length 2 (no body).
        assert_eq!(
            TcpOptions::parse(&[99, 2, 1, 1]).unwrap(),
            TcpOptions::default()
        );
        // SACK with 1 and 4 blocks.
        let mut s = vec![5, 10];
        s.extend_from_slice(&[0, 0, 0, 1, 0, 0, 0, 2]);
        assert_eq!(
            TcpOptions::parse(&s).unwrap().sack_blocks,
            [Some((1, 2)), None, None, None]
        );
        let mut s = vec![5, 34];
        for i in 0..8u32 {
            s.extend_from_slice(&i.to_be_bytes());
        }
        assert_eq!(
            TcpOptions::parse(&s).unwrap().sack_blocks,
            [Some((0, 1)), Some((2, 3)), Some((4, 5)), Some((6, 7))]
        );
    }

    #[test]
    fn parse_bad_options() {
        let bad: &[&[u8]] = &[
            &[2, 0, 0, 0],                          // length 0
            &[30, 1, 1, 1],                         // length 1
            &[30, 0],                               // unknown with length 0
            &[2],                                   // kind with no length byte
            &[1, 1, 1, 8],                          // TS kind, length byte missing
            &[30, 6, 0, 0],                         // unknown running past the area
            &[2, 4, 5],                             // MSS running past the area
            &[2, 3, 5, 1],                          // MSS wrong length
            &[2, 5, 5, 180, 0, 1, 1, 1],            // MSS wrong length (5)
            &[3, 4, 7, 0],                          // WS wrong length
            &[3, 2, 1, 1],                          // WS wrong length
            &[4, 3, 0, 1],                          // SACK-perm wrong length
            &[8, 8, 0, 0, 0, 0, 0, 0],              // TS wrong length
            &[8, 12, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0], // TS wrong length
            &[5, 2, 1, 1],                          // SACK with no blocks
            &[5, 6, 0, 0, 0, 0],                    // SACK not 2+8n
            &[5, 11, 0, 0, 0, 0, 0, 0, 0, 0, 0],    // SACK not 2+8n
        ];
        for opts in bad {
            assert_eq!(
                TcpOptions::parse(opts),
                Err(WireError::BadOption),
                "{opts:?}"
            );
        }
        // SACK with 5 blocks (42 bytes) is malformed.
        let mut s = vec![5, 42];
        s.extend_from_slice(&[0; 40]);
        assert_eq!(TcpOptions::parse(&s), Err(WireError::BadOption));
    }

    fn segment(opts: &TcpOptions, payload: &[u8]) -> Vec<u8> {
        let repr = TcpRepr {
            src_port: 49152,
            dst_port: 80,
            seq: 0xdead_beef,
            ack: 0x0102_0304,
            flags: TcpFlags::SYN | TcpFlags::ACK,
            window: 64240,
            urgent: 0,
            options: *opts,
            payload,
        };
        let mut buf = vec![0u8; repr.header_len() + payload.len()];
        assert_eq!(repr.emit(&mut buf, SRC, DST), buf.len());
        buf
    }

    #[test]
    fn emit_header_fields() {
        let buf = segment(&linux_syn_options(), b"");
        assert_eq!(buf.len(), 40);
        assert_eq!(&buf[0..2], &49152u16.to_be_bytes());
        assert_eq!(&buf[2..4], &80u16.to_be_bytes());
        assert_eq!(&buf[4..8], &[0xde, 0xad, 0xbe, 0xef]);
        assert_eq!(&buf[8..12], &[1, 2, 3, 4]);
        assert_eq!(buf[12], 10 << 4);
        assert_eq!(buf[13], 0x12);
        assert_eq!(&buf[14..16], &64240u16.to_be_bytes());
        assert_eq!(&buf[18..20], &[0, 0]);
        assert_eq!(&buf[20..], &LINUX_SYN_OPTS);
    }

    #[test]
    fn checksum_matches_naive_with_explicit_pseudo_header() {
        let buf = segment(&linux_syn_options(), b"hello, world!");
        let mut ph = Vec::new();
        ph.extend_from_slice(&[192, 168, 1, 10, 93, 184, 216, 34, 0, 6]);
        ph.extend_from_slice(&(buf.len() as u16).to_be_bytes());
        let mut zeroed = buf.clone();
        zeroed[16] = 0;
        zeroed[17] = 0;
        ph.extend_from_slice(&zeroed);
        let expected = crate::checksum::naive(&ph);
        assert_eq!(u16::from_be_bytes([buf[16], buf[17]]), expected);
    }

    #[test]
    fn round_trip_and_verify() {
        let payload = b"GET / HTTP/1.1\r\n\r\n";
        let mut opts = TcpOptions {
            timestamp: Some((11, 22)),
            ..Default::default()
        };
        opts.sack_blocks = blocks(2);
        let buf = segment(&opts, payload);
        let p = TcpPacket::new_checked(&buf[..]).unwrap();
        assert!(p.verify_checksum(SRC, DST));
        assert!(!p.verify_checksum(DST, IpAddr::V4(Ipv4Addr::new(1, 1, 1, 1))));
        assert_eq!(p.header_len(), 20 + 12 + 4 + 16);
        assert_eq!(p.options().len(), 32);
        assert_eq!(p.payload(), payload);
        assert_eq!(p.flags(), TcpFlags::SYN | TcpFlags::ACK);
        let r = TcpRepr::parse(&p).unwrap();
        assert_eq!(r.src_port, 49152);
        assert_eq!(r.dst_port, 80);
        assert_eq!(r.seq, 0xdead_beef);
        assert_eq!(r.ack, 0x0102_0304);
        assert_eq!(r.window, 64240);
        assert_eq!(r.options, opts);
        assert_eq!(r.payload, payload);

        // Corrupting any byte breaks the checksum.
        for i in 0..buf.len() {
            let mut bad = buf.clone();
            bad[i] ^= 0x10;
            assert!(
                !TcpPacket::new_unchecked(&bad[..]).verify_checksum(SRC, DST),
                "byte {i}"
            );
        }
    }

    #[test]
    fn ipv6_checksum() {
        let s = IpAddr::V6("2001:db8::1".parse::<Ipv6Addr>().unwrap());
        let d = IpAddr::V6("2001:db8::2".parse::<Ipv6Addr>().unwrap());
        let repr = TcpRepr {
            src_port: 1,
            dst_port: 2,
            seq: 3,
            ack: 4,
            flags: TcpFlags::ACK,
            window: 5,
            urgent: 0,
            options: TcpOptions::default(),
            payload: b"abc",
        };
        let mut buf = [0u8; 23];
        repr.emit(&mut buf, s, d);
        let p = TcpPacket::new_checked(&buf[..]).unwrap();
        assert!(p.verify_checksum(s, d));
        assert!(!p.verify_checksum(SRC, DST));
        assert_eq!(TcpRepr::parse(&p).unwrap(), repr);
    }

    #[test]
    fn finish_checksum_matches_fill_checksum() {
        let s6: Ipv6Addr = "2001:db8::1".parse().unwrap();
        let d6: Ipv6Addr = "2001:db8::2".parse().unwrap();
        let addrs = [(SRC, DST), (IpAddr::V6(s6), IpAddr::V6(d6))];
        for (src, dst) in addrs {
            for header_len in [20usize, 32, 60] {
                for payload_len in [0usize, 1, 2, 3, 127, 128, 129, 1460, 8961] {
                    let mut seg: Vec<u8> = (0..header_len + payload_len)
                        .map(|i| (i * 37 + header_len) as u8)
                        .collect();
                    seg[12] = ((header_len / 4) as u8) << 4;
                    let mut want = seg.clone();
                    fill_checksum(&mut want, src, dst);
                    let payload: Vec<u8> = seg[header_len..].to_vec();
                    let sum =
                        crate::checksum::copy_and_accumulate(0, &mut seg[header_len..], &payload);
                    seg[16..18].copy_from_slice(&[0, 0]);
                    let header_sum = crate::checksum::accumulate(0, &seg[..header_len]);
                    finish_checksum(&mut seg, header_sum, sum, src, dst);
                    assert_eq!(seg, want, "hl {header_len} payload {payload_len}");
                    assert!(TcpPacket::new_unchecked(&seg[..]).verify_checksum(src, dst));
                }
            }
        }
    }

    /// The header sum `emit_header_sum` computes from the fields is the sum
    /// of the bytes `emit_header` wrote, for every combination of options
    /// (all four SACK block counts, which may not all fit), and
    /// `finish_checksum` then gives what `fill_checksum` gives.
    #[test]
    fn emitted_header_sum_matches_the_bytes() {
        let mut next = crate::test_rng(0x2545_f491_4f6c_dd1d);
        for case in 0..2000u32 {
            let bit = |b: u32| case & (1 << b) != 0;
            let mut options = TcpOptions {
                mss: bit(0).then(|| next() as u16),
                window_scale: bit(1).then(|| next() as u8),
                sack_permitted: bit(2),
                timestamp: bit(3).then(|| (next() as u32, next() as u32)),
                ..TcpOptions::default()
            };
            for slot in options
                .sack_blocks
                .iter_mut()
                .take((case >> 4) as usize % 5)
            {
                *slot = Some((next() as u32, next() as u32));
            }
            let payload: Vec<u8> = (0..(next() % 40) as usize).map(|_| next() as u8).collect();
            let repr = TcpRepr {
                src_port: next() as u16,
                dst_port: next() as u16,
                seq: next() as u32,
                ack: next() as u32,
                flags: TcpFlags(next() as u8),
                window: next() as u16,
                urgent: next() as u16,
                options,
                payload: &payload,
            };
            let mut buf = vec![0u8; 60 + payload.len()];
            let (hl, sum) = repr.emit_header_sum(&mut buf);
            assert_eq!(hl, repr.header_len());
            assert_eq!(
                crate::checksum::fold(sum),
                crate::checksum::fold(crate::checksum::accumulate(0, &buf[..hl])),
                "{repr:?}"
            );
            buf.truncate(hl + payload.len());
            buf[hl..].copy_from_slice(&payload);
            let mut want = buf.clone();
            fill_checksum(&mut want, SRC, DST);
            let payload_sum = crate::checksum::accumulate(0, &payload);
            finish_checksum(&mut buf, sum, payload_sum, SRC, DST);
            assert_eq!(buf, want, "{repr:?}");
        }
    }

    /// `parse_into` leaves nothing of what the repr held before.
    #[test]
    fn parse_into_overwrites_a_used_repr() {
        let opts = TcpOptions {
            mss: Some(1460),
            ..TcpOptions::default()
        };
        let buf = segment(&opts, b"xyz");
        let p = TcpPacket::new_checked(&buf[..]).unwrap();
        let mut used = TcpRepr {
            options: TcpOptions {
                window_scale: Some(7),
                sack_permitted: true,
                sack_blocks: [Some((1, 2)); MAX_SACK_BLOCKS],
                timestamp: Some((3, 4)),
                ..TcpOptions::default()
            },
            ..TcpRepr::default()
        };
        used.parse_into(&p).unwrap();
        assert_eq!(used, TcpRepr::parse(&p).unwrap());
        assert_eq!(used.options, opts);
    }

    #[test]
    fn fill_checksum_after_edit() {
        let mut buf = segment(&TcpOptions::default(), b"xyz");
        buf[20] = b'X';
        assert!(!TcpPacket::new_checked(&buf[..])
            .unwrap()
            .verify_checksum(SRC, DST));
        fill_checksum(&mut buf, SRC, DST);
        assert!(TcpPacket::new_checked(&buf[..])
            .unwrap()
            .verify_checksum(SRC, DST));
    }

    #[test]
    fn packet_errors() {
        let buf = segment(&linux_syn_options(), b"data");
        for len in 0..20 {
            assert_eq!(
                TcpPacket::new_checked(&buf[..len]).unwrap_err(),
                WireError::Truncated
            );
        }
        // Data offset 10 (40 bytes) but only 39 bytes.
        assert_eq!(
            TcpPacket::new_checked(&buf[..39]).unwrap_err(),
            WireError::BadDataOffset
        );
        assert!(TcpPacket::new_checked(&buf[..40]).is_ok());
        for off in 0..5u8 {
            let mut b = buf.clone();
            b[12] = off << 4;
            assert_eq!(
                TcpPacket::new_checked(&b[..]).unwrap_err(),
                WireError::BadDataOffset
            );
        }
        // Data offset 15 (60 bytes) beyond a 44-byte segment.
        let mut b = buf.clone();
        b[12] = 0xF0;
        assert_eq!(
            TcpPacket::new_checked(&b[..]).unwrap_err(),
            WireError::BadDataOffset
        );
        // Reserved/NS bits in the low nibble do not affect the data offset.
        let mut b = buf.clone();
        b[12] |= 0x0F;
        assert_eq!(TcpPacket::new_checked(&b[..]).unwrap().header_len(), 40);
    }

    #[test]
    fn repr_parse_bad_option() {
        let mut buf = segment(&linux_syn_options(), b"");
        // Make the MSS option length 0.
        buf[21] = 0;
        let p = TcpPacket::new_checked(&buf[..]).unwrap();
        assert_eq!(TcpRepr::parse(&p), Err(WireError::BadOption));
        // Make the WS option run past the header.
        let mut buf = segment(&linux_syn_options(), b"payload");
        buf[38] = 4;
        let p = TcpPacket::new_checked(&buf[..]).unwrap();
        assert_eq!(TcpRepr::parse(&p), Err(WireError::BadOption));
    }

    #[test]
    fn repr_parse_of_unchecked_view_does_not_panic() {
        let buf = [0u8; 25];
        let p = TcpPacket::new_unchecked(&buf[..]);
        assert_eq!(TcpRepr::parse(&p), Err(WireError::BadDataOffset));
        let p = TcpPacket::new_unchecked(&buf[..3]);
        assert_eq!(TcpRepr::parse(&p), Err(WireError::Truncated));
    }
}
