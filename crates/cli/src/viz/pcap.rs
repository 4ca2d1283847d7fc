//! Reads capture files: classic pcap (either byte order, micro- or
//! nanosecond timestamps) and pcapng, with the link types tcpdump and
//! Wireshark produce for IP traffic: raw IP (101, 228, 229), Ethernet (1,
//! with 802.1Q tags), Linux cooked capture v1 (113) and v2 (276) and BSD
//! loopback (0). Each frame is reduced to its IP packet.

/// One captured IP packet.
#[derive(Debug, Clone)]
pub struct Frame {
    /// Capture time in seconds (absolute, as recorded).
    pub t: f64,
    /// The IP packet (link-layer header removed; possibly truncated).
    pub ip: Vec<u8>,
}

/// The frames of a capture that carry IP, and how many did not.
#[derive(Debug, Default)]
pub struct Capture {
    pub frames: Vec<Frame>,
    pub non_ip: usize,
    /// Link types seen (pcapng may mix interfaces).
    pub linktypes: Vec<u32>,
}

const LINKTYPE_NULL: u32 = 0;
const LINKTYPE_ETHERNET: u32 = 1;
const LINKTYPE_RAW: u32 = 101;
const LINKTYPE_LINUX_SLL: u32 = 113;
const LINKTYPE_IPV4: u32 = 228;
const LINKTYPE_IPV6: u32 = 229;
const LINKTYPE_LINUX_SLL2: u32 = 276;

fn supported(linktype: u32) -> Result<(), String> {
    match linktype {
        LINKTYPE_NULL | LINKTYPE_ETHERNET | LINKTYPE_RAW | LINKTYPE_LINUX_SLL | LINKTYPE_IPV4
        | LINKTYPE_IPV6 | LINKTYPE_LINUX_SLL2 => Ok(()),
        other => Err(format!(
            "unsupported link type {other} (supported: raw IP 101/228/229, Ethernet 1, \
             Linux cooked 113/276, BSD loopback 0)"
        )),
    }
}

/// Strips the link-layer header; `None` if the frame does not carry IP.
fn ip_payload(linktype: u32, d: &[u8]) -> Option<&[u8]> {
    let ethertype_ip = |et: u16| et == 0x0800 || et == 0x86dd;
    let p = match linktype {
        LINKTYPE_RAW | LINKTYPE_IPV4 | LINKTYPE_IPV6 => d,
        LINKTYPE_ETHERNET => {
            let mut at = 12;
            let mut et = u16::from_be_bytes([*d.get(at)?, *d.get(at + 1)?]);
            // 802.1Q / 802.1ad tags.
            while et == 0x8100 || et == 0x88a8 {
                at += 4;
                et = u16::from_be_bytes([*d.get(at)?, *d.get(at + 1)?]);
            }
            if !ethertype_ip(et) {
                return None;
            }
            d.get(at + 2..)?
        }
        LINKTYPE_LINUX_SLL => {
            let et = u16::from_be_bytes([*d.get(14)?, *d.get(15)?]);
            if !ethertype_ip(et) {
                return None;
            }
            d.get(16..)?
        }
        LINKTYPE_LINUX_SLL2 => {
            let et = u16::from_be_bytes([*d.first()?, *d.get(1)?]);
            if !ethertype_ip(et) {
                return None;
            }
            d.get(20..)?
        }
        LINKTYPE_NULL => d.get(4..)?,
        _ => return None,
    };
    matches!(p.first()? >> 4, 4 | 6).then_some(p)
}

/// Reads a capture file's bytes (classic pcap or pcapng).
pub fn read_capture(bytes: &[u8]) -> Result<Capture, String> {
    if bytes.len() < 4 {
        return Err(format!(
            "not a capture file: only {} bytes long",
            bytes.len()
        ));
    }
    let magic = [bytes[0], bytes[1], bytes[2], bytes[3]];
    match magic {
        [0x0a, 0x0d, 0x0d, 0x0a] => read_pcapng(bytes),
        _ => read_classic(bytes),
    }
}

struct Reader<'a> {
    b: &'a [u8],
    le: bool,
}

impl Reader<'_> {
    fn u16(&self, at: usize) -> Option<u16> {
        let s = self.b.get(at..at + 2)?;
        let a = [s[0], s[1]];
        Some(if self.le {
            u16::from_le_bytes(a)
        } else {
            u16::from_be_bytes(a)
        })
    }
    fn u32(&self, at: usize) -> Option<u32> {
        let s = self.b.get(at..at + 4)?;
        let a = [s[0], s[1], s[2], s[3]];
        Some(if self.le {
            u32::from_le_bytes(a)
        } else {
            u32::from_be_bytes(a)
        })
    }
}

fn read_classic(bytes: &[u8]) -> Result<Capture, String> {
    let raw = u32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]);
    let (le, nanos) = match raw {
        0xa1b2_c3d4 => (true, false),
        0xa1b2_3c4d => (true, true),
        0xd4c3_b2a1 => (false, false),
        0x4d3c_b2a1 => (false, true),
        other => {
            return Err(format!(
                "not a pcap or pcapng file (magic number {other:#010x})"
            ))
        }
    };
    let r = Reader { b: bytes, le };
    if bytes.len() < 24 {
        return Err("pcap file truncated inside its header".into());
    }
    let linktype = r.u32(20).unwrap_or(0) & 0x0fff_ffff;
    supported(linktype)?;
    let mut cap = Capture {
        linktypes: vec![linktype],
        ..Default::default()
    };
    let mut at = 24;
    while at < bytes.len() {
        let (Some(sec), Some(frac), Some(incl)) = (r.u32(at), r.u32(at + 4), r.u32(at + 8)) else {
            return Err(format!(
                "pcap file truncated in a record header at offset {at}"
            ));
        };
        let start = at + 16;
        let end = start
            .checked_add(incl as usize)
            .filter(|&e| e <= bytes.len())
            .ok_or_else(|| format!("pcap file truncated in a record at offset {at}"))?;
        let t = f64::from(sec) + f64::from(frac) / if nanos { 1e9 } else { 1e6 };
        push(&mut cap, linktype, t, &bytes[start..end]);
        at = end;
    }
    Ok(cap)
}

fn push(cap: &mut Capture, linktype: u32, t: f64, data: &[u8]) {
    match ip_payload(linktype, data) {
        Some(ip) => cap.frames.push(Frame { t, ip: ip.to_vec() }),
        None => cap.non_ip += 1,
    }
}

/// pcapng: section header, interface descriptions (link type, timestamp
/// resolution), enhanced and simple packet blocks; others are skipped.
fn read_pcapng(bytes: &[u8]) -> Result<Capture, String> {
    let mut cap = Capture::default();
    // Per interface: (link type, ticks per second).
    let mut ifaces: Vec<(u32, f64)> = Vec::new();
    let mut at = 0;
    let mut r = Reader { b: bytes, le: true };
    while at < bytes.len() {
        let trunc = || format!("pcapng file truncated in a block at offset {at}");
        if at + 12 > bytes.len() {
            return Err(trunc());
        }
        let kind_raw = u32::from_le_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]]);
        if kind_raw == 0x0a0d_0d0a {
            // Section header: the byte-order magic decides endianness.
            let bom = &bytes[at + 8..at + 12];
            r.le = match bom {
                [0x4d, 0x3c, 0x2b, 0x1a] => true,
                [0x1a, 0x2b, 0x3c, 0x4d] => false,
                _ => return Err("pcapng section header with a bad byte-order magic".into()),
            };
            ifaces.clear();
        }
        let kind = r.u32(at).ok_or_else(trunc)?;
        let len = r.u32(at + 4).ok_or_else(trunc)? as usize;
        if len < 12 || len & 3 != 0 || at + len > bytes.len() {
            return Err(format!(
                "pcapng block at offset {at} has a bad length {len}"
            ));
        }
        let body = at + 8;
        match kind {
            1 => {
                // Interface description: linktype u16, reserved, snaplen, options.
                let linktype = u32::from(r.u16(body).ok_or_else(trunc)?);
                supported(linktype)?;
                let mut tps = 1e6;
                let mut o = body + 8;
                while o + 4 <= at + len - 4 {
                    let code = r.u16(o).unwrap_or(0);
                    let olen = usize::from(r.u16(o + 2).unwrap_or(0));
                    if code == 0 {
                        break;
                    }
                    if code == 9 && olen >= 1 {
                        let v = bytes[o + 4];
                        tps = if v & 0x80 != 0 {
                            2f64.powi(i32::from(v & 0x7f))
                        } else {
                            10f64.powi(i32::from(v))
                        };
                    }
                    o += 4 + olen.div_ceil(4) * 4;
                }
                ifaces.push((linktype, tps));
                if !cap.linktypes.contains(&linktype) {
                    cap.linktypes.push(linktype);
                }
            }
            6 => {
                // Enhanced packet: iface, ts high, ts low, caplen, origlen, data.
                let iface = r.u32(body).ok_or_else(trunc)? as usize;
                let hi = u64::from(r.u32(body + 4).ok_or_else(trunc)?);
                let lo = u64::from(r.u32(body + 8).ok_or_else(trunc)?);
                let caplen = r.u32(body + 12).ok_or_else(trunc)? as usize;
                let &(linktype, tps) = ifaces
                    .get(iface)
                    .ok_or_else(|| format!("pcapng packet for undeclared interface {iface}"))?;
                let data = bytes
                    .get(body + 20..body + 20 + caplen)
                    .filter(|_| body + 20 + caplen <= at + len)
                    .ok_or_else(trunc)?;
                push(&mut cap, linktype, ((hi << 32) | lo) as f64 / tps, data);
            }
            3 => {
                // Simple packet: no timestamp; use the previous one.
                let &(linktype, _) = ifaces
                    .first()
                    .ok_or_else(|| "pcapng packet before any interface".to_string())?;
                let orig = r.u32(body).ok_or_else(trunc)? as usize;
                let caplen = orig.min(len - 16);
                let t = cap.frames.last().map_or(0.0, |f| f.t);
                let data = bytes.get(body + 4..body + 4 + caplen).ok_or_else(trunc)?;
                push(&mut cap, linktype, t, data);
            }
            _ => {}
        }
        at += len;
    }
    Ok(cap)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn classic(linktype: u32, records: &[(u32, u32, &[u8])], be: bool) -> Vec<u8> {
        let w32 = |v: u32| if be { v.to_be_bytes() } else { v.to_le_bytes() };
        let w16 = |v: u16| if be { v.to_be_bytes() } else { v.to_le_bytes() };
        let mut b = Vec::new();
        b.extend_from_slice(&w32(0xa1b2_c3d4));
        b.extend_from_slice(&w16(2));
        b.extend_from_slice(&w16(4));
        b.extend_from_slice(&[0; 8]);
        b.extend_from_slice(&w32(65535));
        b.extend_from_slice(&w32(linktype));
        for (s, us, d) in records {
            b.extend_from_slice(&w32(*s));
            b.extend_from_slice(&w32(*us));
            b.extend_from_slice(&w32(d.len() as u32));
            b.extend_from_slice(&w32(d.len() as u32));
            b.extend_from_slice(d);
        }
        b
    }

    #[test]
    fn classic_raw_both_byte_orders() {
        let ip = [0x45u8, 0, 0, 20];
        for be in [false, true] {
            let c = read_capture(&classic(101, &[(1, 500_000, &ip)], be)).expect("pcap");
            assert_eq!(c.frames.len(), 1);
            assert!((c.frames[0].t - 1.5).abs() < 1e-9);
            assert_eq!(c.frames[0].ip, ip);
        }
    }

    #[test]
    fn ethernet_and_sll_are_stripped() {
        let mut eth = vec![0u8; 12];
        eth.extend_from_slice(&[0x08, 0x00, 0x45, 1, 2]);
        let mut arp = vec![0u8; 12];
        arp.extend_from_slice(&[0x08, 0x06, 0, 1]);
        let c = read_capture(&classic(1, &[(0, 0, &eth), (0, 0, &arp)], false)).expect("pcap");
        assert_eq!(c.frames[0].ip, [0x45, 1, 2]);
        assert_eq!(c.non_ip, 1);
        let mut sll = vec![0u8; 14];
        sll.extend_from_slice(&[0x86, 0xdd, 0x60, 9]);
        let c = read_capture(&classic(113, &[(0, 0, &sll)], false)).expect("pcap");
        assert_eq!(c.frames[0].ip, [0x60, 9]);
    }

    #[test]
    fn pcapng_enhanced_packets() {
        let mut b = Vec::new();
        // SHB
        b.extend_from_slice(&0x0a0d_0d0au32.to_le_bytes());
        b.extend_from_slice(&28u32.to_le_bytes());
        b.extend_from_slice(&0x1a2b_3c4du32.to_le_bytes());
        b.extend_from_slice(&1u16.to_le_bytes());
        b.extend_from_slice(&0u16.to_le_bytes());
        b.extend_from_slice(&(-1i64).to_le_bytes());
        b.extend_from_slice(&28u32.to_le_bytes());
        // IDB, linktype 101, tsresol 9 (ns)
        b.extend_from_slice(&1u32.to_le_bytes());
        b.extend_from_slice(&28u32.to_le_bytes());
        b.extend_from_slice(&101u16.to_le_bytes());
        b.extend_from_slice(&0u16.to_le_bytes());
        b.extend_from_slice(&0u32.to_le_bytes());
        b.extend_from_slice(&9u16.to_le_bytes());
        b.extend_from_slice(&1u16.to_le_bytes());
        b.extend_from_slice(&[9, 0, 0, 0]);
        b.extend_from_slice(&28u32.to_le_bytes());
        // EPB with 3 bytes of data (padded to 4)
        let ts: u64 = 2_250_000_000;
        b.extend_from_slice(&6u32.to_le_bytes());
        b.extend_from_slice(&36u32.to_le_bytes());
        b.extend_from_slice(&0u32.to_le_bytes());
        b.extend_from_slice(&((ts >> 32) as u32).to_le_bytes());
        b.extend_from_slice(&(ts as u32).to_le_bytes());
        b.extend_from_slice(&3u32.to_le_bytes());
        b.extend_from_slice(&3u32.to_le_bytes());
        b.extend_from_slice(&[0x45, 7, 7, 0]);
        b.extend_from_slice(&36u32.to_le_bytes());
        let c = read_capture(&b).expect("pcapng");
        assert_eq!(c.frames.len(), 1);
        assert_eq!(c.frames[0].ip, [0x45, 7, 7]);
        assert!((c.frames[0].t - 2.25).abs() < 1e-9);
    }

    #[test]
    fn garbage_is_a_clear_error() {
        let e = read_capture(b"hello world, not a capture").expect_err("garbage");
        assert!(e.contains("not a pcap"), "{e}");
        let e = read_capture(b"ab").expect_err("short");
        assert!(e.contains("not a capture file"), "{e}");
        let mut trunc = classic(101, &[(1, 0, &[0x45, 0, 0, 20])], false);
        trunc.truncate(trunc.len() - 2);
        assert!(read_capture(&trunc)
            .expect_err("truncated")
            .contains("truncated"));
        let e = read_capture(&classic(105, &[], false)).expect_err("wifi");
        assert!(e.contains("unsupported link type 105"), "{e}");
    }
}
