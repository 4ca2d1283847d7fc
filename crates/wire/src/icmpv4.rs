//! ICMPv4 (RFC 792): echo, destination unreachable, time exceeded.
use crate::{checksum, Result, WireError};

pub const TYPE_ECHO_REPLY: u8 = 0;
pub const TYPE_DST_UNREACHABLE: u8 = 3;
pub const TYPE_ECHO_REQUEST: u8 = 8;
pub const TYPE_TIME_EXCEEDED: u8 = 11;

/// True for the ICMP error types (RFC 792, RFC 1122 §3.2.2): destination
/// unreachable, source quench, redirect, time exceeded, parameter problem.
/// No ICMP error is ever sent about one of these.
pub fn is_error(msg_type: u8) -> bool {
    matches!(msg_type, 3 | 4 | 5 | 11 | 12)
}

/// Length of the fixed ICMP header (type, code, checksum, 4 bytes).
pub const HEADER_LEN: usize = 8;

/// Destination-unreachable codes.
pub mod unreachable {
    pub const NET: u8 = 0;
    pub const HOST: u8 = 1;
    pub const PROTOCOL: u8 = 2;
    pub const PORT: u8 = 3;
    pub const FRAG_NEEDED: u8 = 4;
    pub const ADMIN_PROHIBITED: u8 = 13;
}

/// High-level ICMPv4 message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Icmpv4Repr<'a> {
    EchoRequest {
        ident: u16,
        seq_no: u16,
        data: &'a [u8],
    },
    EchoReply {
        ident: u16,
        seq_no: u16,
        data: &'a [u8],
    },
    /// `quoted`: the offending packet's IP header + at least 8 bytes.
    DstUnreachable {
        code: u8,
        next_hop_mtu: u16,
        quoted: &'a [u8],
    },
    TimeExceeded {
        code: u8,
        quoted: &'a [u8],
    },
    /// Any other type: accepted, not interpreted.
    Other {
        msg_type: u8,
        code: u8,
    },
}

impl<'a> Icmpv4Repr<'a> {
    /// Parses a whole ICMP message: len >= 8 (Truncated), checksum
    /// (BadChecksum).
    pub fn parse(buf: &'a [u8]) -> Result<Icmpv4Repr<'a>> {
        if buf.len() < HEADER_LEN {
            return Err(WireError::Truncated);
        }
        if checksum::checksum(buf) != 0 {
            return Err(WireError::BadChecksum);
        }
        let msg_type = buf[0];
        let code = buf[1];
        let word_a = u16::from_be_bytes([buf[4], buf[5]]);
        let word_b = u16::from_be_bytes([buf[6], buf[7]]);
        let rest = &buf[HEADER_LEN..];
        Ok(match msg_type {
            TYPE_ECHO_REQUEST => Icmpv4Repr::EchoRequest {
                ident: word_a,
                seq_no: word_b,
                data: rest,
            },
            TYPE_ECHO_REPLY => Icmpv4Repr::EchoReply {
                ident: word_a,
                seq_no: word_b,
                data: rest,
            },
            TYPE_DST_UNREACHABLE => Icmpv4Repr::DstUnreachable {
                code,
                next_hop_mtu: if code == unreachable::FRAG_NEEDED {
                    word_b
                } else {
                    0
                },
                quoted: rest,
            },
            TYPE_TIME_EXCEEDED => Icmpv4Repr::TimeExceeded { code, quoted: rest },
            _ => Icmpv4Repr::Other { msg_type, code },
        })
    }
    /// 8 + data/quoted length (Other: 8).
    pub fn buffer_len(&self) -> usize {
        HEADER_LEN
            + match self {
                Icmpv4Repr::EchoRequest { data, .. } | Icmpv4Repr::EchoReply { data, .. } => {
                    data.len()
                }
                Icmpv4Repr::DstUnreachable { quoted, .. }
                | Icmpv4Repr::TimeExceeded { quoted, .. } => quoted.len(),
                Icmpv4Repr::Other { .. } => 0,
            }
    }
    /// Writes the message and its checksum into `buf[..buffer_len()]`.
    pub fn emit(&self, buf: &mut [u8]) -> usize {
        let total = self.buffer_len();
        let buf = &mut buf[..total];
        let (msg_type, code, word_a, word_b, body): (u8, u8, u16, u16, &[u8]) = match *self {
            Icmpv4Repr::EchoRequest {
                ident,
                seq_no,
                data,
            } => (TYPE_ECHO_REQUEST, 0, ident, seq_no, data),
            Icmpv4Repr::EchoReply {
                ident,
                seq_no,
                data,
            } => (TYPE_ECHO_REPLY, 0, ident, seq_no, data),
            Icmpv4Repr::DstUnreachable {
                code,
                next_hop_mtu,
                quoted,
            } => {
                let mtu = if code == unreachable::FRAG_NEEDED {
                    next_hop_mtu
                } else {
                    0
                };
                (TYPE_DST_UNREACHABLE, code, 0, mtu, quoted)
            }
            Icmpv4Repr::TimeExceeded { code, quoted } => (TYPE_TIME_EXCEEDED, code, 0, 0, quoted),
            Icmpv4Repr::Other { msg_type, code } => (msg_type, code, 0, 0, &[]),
        };
        buf[0] = msg_type;
        buf[1] = code;
        buf[2..4].copy_from_slice(&[0, 0]);
        buf[4..6].copy_from_slice(&word_a.to_be_bytes());
        buf[6..8].copy_from_slice(&word_b.to_be_bytes());
        buf[HEADER_LEN..].copy_from_slice(body);
        let sum = checksum::checksum(buf);
        buf[2..4].copy_from_slice(&sum.to_be_bytes());
        total
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `ping` echo request: ident 0x1234, seq 1, data "abcd".
    const ECHO: [u8; 12] = [
        0x08, 0x00, 0x00, 0x00, 0x12, 0x34, 0x00, 0x01, b'a', b'b', b'c', b'd',
    ];

    fn with_checksum(mut b: Vec<u8>) -> Vec<u8> {
        b[2] = 0;
        b[3] = 0;
        let c = checksum::naive(&b);
        b[2..4].copy_from_slice(&c.to_be_bytes());
        b
    }

    #[test]
    fn echo_request_known_answer() {
        let repr = Icmpv4Repr::EchoRequest {
            ident: 0x1234,
            seq_no: 1,
            data: b"abcd",
        };
        assert_eq!(repr.buffer_len(), 12);
        let mut buf = [0u8; 12];
        assert_eq!(repr.emit(&mut buf), 12);
        // Hand-computed: 0x0800 + 0x1234 + 0x0001 + 0x6162 + 0x6364 = 0xDEFB
        // -> checksum !0xDEFB = 0x2104.
        assert_eq!(&buf[2..4], &[0x21, 0x04]);
        let mut expected = ECHO;
        expected[2..4].copy_from_slice(&[0x21, 0x04]);
        assert_eq!(buf, expected);
        assert_eq!(Icmpv4Repr::parse(&buf).unwrap(), repr);
    }

    #[test]
    fn echo_reply_round_trip() {
        let repr = Icmpv4Repr::EchoReply {
            ident: 7,
            seq_no: 0xFFFF,
            data: &[],
        };
        let mut buf = [0u8; 8];
        assert_eq!(repr.emit(&mut buf), 8);
        assert_eq!(buf[0], TYPE_ECHO_REPLY);
        assert_eq!(Icmpv4Repr::parse(&buf).unwrap(), repr);
    }

    #[test]
    fn dst_unreachable() {
        let quoted = [0x45u8; 28];
        let repr = Icmpv4Repr::DstUnreachable {
            code: unreachable::FRAG_NEEDED,
            next_hop_mtu: 1400,
            quoted: &quoted,
        };
        let mut buf = [0u8; 36];
        assert_eq!(repr.emit(&mut buf), 36);
        assert_eq!(&buf[..2], &[3, 4]);
        assert_eq!(&buf[4..8], &[0, 0, 0x05, 0x78]);
        assert_eq!(Icmpv4Repr::parse(&buf).unwrap(), repr);

        // Port unreachable: bytes 4..8 are zero and next_hop_mtu parses as 0.
        let repr = Icmpv4Repr::DstUnreachable {
            code: unreachable::PORT,
            next_hop_mtu: 0,
            quoted: &quoted,
        };
        repr.emit(&mut buf);
        assert_eq!(&buf[4..8], &[0, 0, 0, 0]);
        assert_eq!(Icmpv4Repr::parse(&buf).unwrap(), repr);

        // A non-zero value in bytes 6..8 is ignored unless code is 4.
        let mut raw = buf.to_vec();
        raw[6] = 0x12;
        let raw = with_checksum(raw);
        assert_eq!(Icmpv4Repr::parse(&raw).unwrap(), repr);
    }

    #[test]
    fn time_exceeded() {
        let quoted = [1u8, 2, 3, 4, 5, 6, 7, 8, 9];
        let repr = Icmpv4Repr::TimeExceeded {
            code: 0,
            quoted: &quoted,
        };
        let mut buf = [0u8; 17];
        assert_eq!(repr.emit(&mut buf), 17);
        assert_eq!(buf[0], 11);
        assert_eq!(checksum::checksum(&buf), 0);
        assert_eq!(Icmpv4Repr::parse(&buf).unwrap(), repr);
    }

    #[test]
    fn other_types() {
        let raw = with_checksum(vec![13, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8]);
        assert_eq!(
            Icmpv4Repr::parse(&raw).unwrap(),
            Icmpv4Repr::Other {
                msg_type: 13,
                code: 0
            }
        );
        let repr = Icmpv4Repr::Other {
            msg_type: 42,
            code: 9,
        };
        assert_eq!(repr.buffer_len(), 8);
        let mut buf = [0xAAu8; 8];
        assert_eq!(repr.emit(&mut buf), 8);
        assert_eq!(&buf[4..8], &[0, 0, 0, 0]);
        assert_eq!(Icmpv4Repr::parse(&buf).unwrap(), repr);
    }

    #[test]
    fn errors() {
        let good = with_checksum(ECHO.to_vec());
        assert!(Icmpv4Repr::parse(&good).is_ok());
        for len in 0..8 {
            assert_eq!(Icmpv4Repr::parse(&good[..len]), Err(WireError::Truncated));
        }
        for i in 0..good.len() {
            let mut bad = good.clone();
            bad[i] ^= 0x80;
            assert_eq!(
                Icmpv4Repr::parse(&bad),
                Err(WireError::BadChecksum),
                "byte {i}"
            );
        }
        // Truncating the data changes the checksum.
        assert_eq!(Icmpv4Repr::parse(&good[..10]), Err(WireError::BadChecksum));
    }
}
