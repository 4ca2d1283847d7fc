//! A classic libpcap file writer (the format read by tcpdump and Wireshark).
//!
//! Files are written little-endian with magic `0xa1b2c3d4` (microsecond
//! timestamps), version 2.4, snaplen 65535 and link type `LINKTYPE_RAW`
//! (101): every record is a bare IP packet, no link-layer header.
//!
//! Timestamps come from the caller's [`Instant`] (virtual time in the
//! simulator), so a capture of a deterministic run is itself byte-identical.
use std::io::{self, Write};
use ustack::Instant;

/// The classic pcap magic number (microsecond resolution).
pub const PCAP_MAGIC: u32 = 0xa1b2_c3d4;
/// Format version written (2.4).
pub const PCAP_VERSION: (u16, u16) = (2, 4);
/// Records longer than this are truncated (the original length is kept).
pub const PCAP_SNAPLEN: u32 = 65535;
/// `LINKTYPE_RAW`: the packet begins with an IPv4 or IPv6 header.
pub const LINKTYPE_RAW: u32 = 101;
/// Size of the file header.
pub const GLOBAL_HEADER_LEN: usize = 24;
/// Size of each record header.
pub const RECORD_HEADER_LEN: usize = 16;

/// Writes a pcap stream to any `Write`.
pub struct PcapWriter<W: Write> {
    out: W,
    packets: u64,
}

impl<W: Write> PcapWriter<W> {
    /// Writes the global header and returns the writer.
    pub fn new(mut out: W) -> io::Result<PcapWriter<W>> {
        let mut h = [0u8; GLOBAL_HEADER_LEN];
        h[0..4].copy_from_slice(&PCAP_MAGIC.to_le_bytes());
        h[4..6].copy_from_slice(&PCAP_VERSION.0.to_le_bytes());
        h[6..8].copy_from_slice(&PCAP_VERSION.1.to_le_bytes());
        // thiszone (i32) = 0 and sigfigs (u32) = 0: bytes 8..16 stay zero.
        h[16..20].copy_from_slice(&PCAP_SNAPLEN.to_le_bytes());
        h[20..24].copy_from_slice(&LINKTYPE_RAW.to_le_bytes());
        out.write_all(&h)?;
        Ok(PcapWriter { out, packets: 0 })
    }

    /// Appends one packet captured at `at`.
    pub fn write_packet(&mut self, at: Instant, packet: &[u8]) -> io::Result<()> {
        let micros = at.total_micros();
        // Classic pcap has 32-bit seconds; saturate rather than wrap.
        let secs = u32::try_from(micros / 1_000_000).unwrap_or(u32::MAX);
        let usecs = (micros % 1_000_000) as u32;
        let orig_len = u32::try_from(packet.len()).unwrap_or(u32::MAX);
        let incl_len = orig_len.min(PCAP_SNAPLEN);
        let mut h = [0u8; RECORD_HEADER_LEN];
        h[0..4].copy_from_slice(&secs.to_le_bytes());
        h[4..8].copy_from_slice(&usecs.to_le_bytes());
        h[8..12].copy_from_slice(&incl_len.to_le_bytes());
        h[12..16].copy_from_slice(&orig_len.to_le_bytes());
        self.out.write_all(&h)?;
        self.out.write_all(&packet[..incl_len as usize])?;
        self.packets += 1;
        Ok(())
    }

    /// Packets written so far.
    pub fn packets(&self) -> u64 {
        self.packets
    }

    /// Flushes the underlying writer.
    pub fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }

    /// Borrows the underlying writer.
    pub fn get_ref(&self) -> &W {
        &self.out
    }

    /// Flushes and returns the underlying writer.
    pub fn into_inner(mut self) -> io::Result<W> {
        self.out.flush()?;
        Ok(self.out)
    }
}

/// One record parsed back from a pcap stream (used by tests and tools).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PcapRecord {
    pub ts_sec: u32,
    pub ts_usec: u32,
    pub orig_len: u32,
    pub data: Vec<u8>,
}

/// Parses a little-endian classic pcap stream as written by [`PcapWriter`]:
/// returns (link type, records), or an error message naming what is wrong.
pub fn parse_pcap(bytes: &[u8]) -> Result<(u32, Vec<PcapRecord>), String> {
    let rd32 = |b: &[u8], at: usize| -> Result<u32, String> {
        b.get(at..at + 4)
            .map(|s| u32::from_le_bytes([s[0], s[1], s[2], s[3]]))
            .ok_or_else(|| format!("pcap truncated at offset {at}"))
    };
    if bytes.len() < GLOBAL_HEADER_LEN {
        return Err(format!(
            "pcap too short for a header: {} bytes",
            bytes.len()
        ));
    }
    let magic = rd32(bytes, 0)?;
    if magic != PCAP_MAGIC {
        return Err(format!("bad pcap magic {magic:#010x}"));
    }
    let major = u16::from_le_bytes([bytes[4], bytes[5]]);
    let minor = u16::from_le_bytes([bytes[6], bytes[7]]);
    if (major, minor) != PCAP_VERSION {
        return Err(format!("unsupported pcap version {major}.{minor}"));
    }
    let linktype = rd32(bytes, 20)?;
    let mut records = Vec::new();
    let mut at = GLOBAL_HEADER_LEN;
    while at < bytes.len() {
        let ts_sec = rd32(bytes, at)?;
        let ts_usec = rd32(bytes, at + 4)?;
        let incl = rd32(bytes, at + 8)? as usize;
        let orig_len = rd32(bytes, at + 12)?;
        let start = at + RECORD_HEADER_LEN;
        let data = bytes
            .get(start..start + incl)
            .ok_or_else(|| format!("pcap record at offset {at} truncated"))?
            .to_vec();
        records.push(PcapRecord {
            ts_sec,
            ts_usec,
            orig_len,
            data,
        });
        at = start + incl;
    }
    Ok((linktype, records))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_and_records_are_byte_exact() {
        let mut w = PcapWriter::new(Vec::new()).expect("header");
        let p1: Vec<u8> = (0..40u8).collect();
        let p2 = vec![0xAB; 3];
        w.write_packet(Instant::from_micros(1_500_042), &p1)
            .expect("write");
        w.write_packet(Instant::from_micros(7), &p2).expect("write");
        assert_eq!(w.packets(), 2);
        let bytes = w.into_inner().expect("inner");

        let mut expect = vec![
            0xd4, 0xc3, 0xb2, 0xa1, // magic
            2, 0, 4, 0, // version 2.4
            0, 0, 0, 0, // thiszone
            0, 0, 0, 0, // sigfigs
            0xff, 0xff, 0, 0, // snaplen 65535
            101, 0, 0, 0, // LINKTYPE_RAW
        ];
        expect.extend_from_slice(&1u32.to_le_bytes());
        expect.extend_from_slice(&500_042u32.to_le_bytes());
        expect.extend_from_slice(&40u32.to_le_bytes());
        expect.extend_from_slice(&40u32.to_le_bytes());
        expect.extend_from_slice(&p1);
        expect.extend_from_slice(&0u32.to_le_bytes());
        expect.extend_from_slice(&7u32.to_le_bytes());
        expect.extend_from_slice(&3u32.to_le_bytes());
        expect.extend_from_slice(&3u32.to_le_bytes());
        expect.extend_from_slice(&p2);
        assert_eq!(bytes, expect);

        let (lt, recs) = parse_pcap(&bytes).expect("parse");
        assert_eq!(lt, LINKTYPE_RAW);
        assert_eq!(recs.len(), 2);
        assert_eq!(
            recs[0],
            PcapRecord {
                ts_sec: 1,
                ts_usec: 500_042,
                orig_len: 40,
                data: p1
            }
        );
        assert_eq!(
            recs[1],
            PcapRecord {
                ts_sec: 0,
                ts_usec: 7,
                orig_len: 3,
                data: p2
            }
        );
    }

    #[test]
    fn oversized_packets_are_truncated_to_snaplen() {
        let mut w = PcapWriter::new(Vec::new()).expect("header");
        let big = vec![1u8; 70_000];
        w.write_packet(Instant::ZERO, &big).expect("write");
        let bytes = w.into_inner().expect("inner");
        assert_eq!(bytes.len(), GLOBAL_HEADER_LEN + RECORD_HEADER_LEN + 65535);
        let (_, recs) = parse_pcap(&bytes).expect("parse");
        assert_eq!(recs[0].orig_len, 70_000);
        assert_eq!(recs[0].data.len(), 65535);
    }

    #[test]
    fn parse_rejects_garbage() {
        assert!(parse_pcap(&[1, 2, 3]).is_err());
        assert!(parse_pcap(&[0u8; 24]).is_err());
        let mut w = PcapWriter::new(Vec::new()).expect("header");
        w.write_packet(Instant::ZERO, &[1, 2, 3, 4]).expect("write");
        let mut bytes = w.into_inner().expect("inner");
        bytes.pop();
        assert!(parse_pcap(&bytes).is_err());
    }
}
