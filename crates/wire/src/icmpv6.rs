//! ICMPv6 (RFC 4443): echo and the error messages. Neighbor discovery and
//! the other informational types parse as `Other`.
use crate::{checksum, ipv6, Result, WireError};
use std::net::{IpAddr, Ipv6Addr};

/// Error messages (RFC 4443 §3).
pub const TYPE_DST_UNREACHABLE: u8 = 1;
pub const TYPE_PACKET_TOO_BIG: u8 = 2;
pub const TYPE_TIME_EXCEEDED: u8 = 3;
pub const TYPE_PARAM_PROBLEM: u8 = 4;
/// Informational messages (RFC 4443 §4).
pub const TYPE_ECHO_REQUEST: u8 = 128;
pub const TYPE_ECHO_REPLY: u8 = 129;

/// Length of the fixed ICMPv6 header (type, code, checksum, 4 bytes).
pub const HEADER_LEN: usize = 8;

/// Largest error message: with the IPv6 header it must not exceed the
/// minimum MTU (RFC 4443 §2.4 (c)).
pub const MAX_ERROR_LEN: usize = ipv6::MIN_MTU - ipv6::HEADER_LEN;

/// Destination Unreachable codes (RFC 4443 §3.1).
pub mod unreachable {
    pub const NO_ROUTE: u8 = 0;
    pub const ADMIN_PROHIBITED: u8 = 1;
    pub const BEYOND_SCOPE: u8 = 2;
    pub const ADDRESS: u8 = 3;
    pub const PORT: u8 = 4;
}

/// Parameter Problem codes (RFC 4443 §3.4).
pub mod param_problem {
    pub const ERRONEOUS_HEADER: u8 = 0;
    pub const UNRECOGNIZED_NEXT_HEADER: u8 = 1;
    pub const UNRECOGNIZED_OPTION: u8 = 2;
}

/// True for error messages, false for informational ones (RFC 4443 §2.1:
/// the high bit of the type).
pub fn is_error(msg_type: u8) -> bool {
    msg_type < 128
}

/// High-level ICMPv6 message. `quoted`: as much of the offending packet as
/// fits (RFC 4443 §3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Icmpv6Repr<'a> {
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
    DstUnreachable {
        code: u8,
        quoted: &'a [u8],
    },
    /// The code is sent as 0 and ignored on receipt (RFC 4443 §3.2).
    PacketTooBig {
        mtu: u32,
        quoted: &'a [u8],
    },
    TimeExceeded {
        code: u8,
        quoted: &'a [u8],
    },
    /// `pointer`: offset of the error within the quoted packet.
    ParamProblem {
        code: u8,
        pointer: u32,
        quoted: &'a [u8],
    },
    /// Any other type: accepted, not interpreted.
    Other {
        msg_type: u8,
        code: u8,
    },
}

/// Running sum of the message's pseudo-header (RFC 8200 §8.1).
fn pseudo_header(src: Ipv6Addr, dst: Ipv6Addr, len: u32) -> u64 {
    checksum::pseudo_header(IpAddr::V6(src), IpAddr::V6(dst), ipv6::PROTO_ICMPV6, len)
}

impl<'a> Icmpv6Repr<'a> {
    /// Parses a whole ICMPv6 message sent from `src` to `dst`: len >= 8
    /// (Truncated), checksum over the pseudo-header and the message
    /// (BadChecksum, RFC 4443 §2.3).
    pub fn parse(buf: &'a [u8], src: Ipv6Addr, dst: Ipv6Addr) -> Result<Icmpv6Repr<'a>> {
        if buf.len() < HEADER_LEN {
            return Err(WireError::Truncated);
        }
        let len = u32::try_from(buf.len()).map_err(|_| WireError::BadLength)?;
        let acc = checksum::accumulate(pseudo_header(src, dst, len), buf);
        if checksum::finish(acc) != 0 {
            return Err(WireError::BadChecksum);
        }
        let msg_type = buf[0];
        let code = buf[1];
        let word_a = u16::from_be_bytes([buf[4], buf[5]]);
        let word_b = u16::from_be_bytes([buf[6], buf[7]]);
        let word = u32::from_be_bytes([buf[4], buf[5], buf[6], buf[7]]);
        let rest = &buf[HEADER_LEN..];
        Ok(match msg_type {
            TYPE_ECHO_REQUEST => Icmpv6Repr::EchoRequest {
                ident: word_a,
                seq_no: word_b,
                data: rest,
            },
            TYPE_ECHO_REPLY => Icmpv6Repr::EchoReply {
                ident: word_a,
                seq_no: word_b,
                data: rest,
            },
            TYPE_DST_UNREACHABLE => Icmpv6Repr::DstUnreachable { code, quoted: rest },
            TYPE_PACKET_TOO_BIG => Icmpv6Repr::PacketTooBig {
                mtu: word,
                quoted: rest,
            },
            TYPE_TIME_EXCEEDED => Icmpv6Repr::TimeExceeded { code, quoted: rest },
            TYPE_PARAM_PROBLEM => Icmpv6Repr::ParamProblem {
                code,
                pointer: word,
                quoted: rest,
            },
            _ => Icmpv6Repr::Other { msg_type, code },
        })
    }
    /// 8 + data/quoted length (Other: 8).
    pub fn buffer_len(&self) -> usize {
        HEADER_LEN
            + match self {
                Icmpv6Repr::EchoRequest { data, .. } | Icmpv6Repr::EchoReply { data, .. } => {
                    data.len()
                }
                Icmpv6Repr::DstUnreachable { quoted, .. }
                | Icmpv6Repr::PacketTooBig { quoted, .. }
                | Icmpv6Repr::TimeExceeded { quoted, .. }
                | Icmpv6Repr::ParamProblem { quoted, .. } => quoted.len(),
                Icmpv6Repr::Other { .. } => 0,
            }
    }
    /// Writes the message from `src` to `dst` and its checksum into
    /// `buf[..buffer_len()]`; returns `buffer_len()`. Panics only if `buf`
    /// is shorter (caller bug). `quoted` is written as given: the caller
    /// keeps it within `MAX_ERROR_LEN - 8`.
    pub fn emit(&self, buf: &mut [u8], src: Ipv6Addr, dst: Ipv6Addr) -> usize {
        let total = self.buffer_len();
        let buf = &mut buf[..total];
        // Bytes 4..8 as one big-endian word.
        let (msg_type, code, word, body): (u8, u8, u32, &[u8]) = match *self {
            Icmpv6Repr::EchoRequest {
                ident,
                seq_no,
                data,
            } => (
                TYPE_ECHO_REQUEST,
                0,
                u32::from(ident) << 16 | u32::from(seq_no),
                data,
            ),
            Icmpv6Repr::EchoReply {
                ident,
                seq_no,
                data,
            } => (
                TYPE_ECHO_REPLY,
                0,
                u32::from(ident) << 16 | u32::from(seq_no),
                data,
            ),
            Icmpv6Repr::DstUnreachable { code, quoted } => (TYPE_DST_UNREACHABLE, code, 0, quoted),
            Icmpv6Repr::PacketTooBig { mtu, quoted } => (TYPE_PACKET_TOO_BIG, 0, mtu, quoted),
            Icmpv6Repr::TimeExceeded { code, quoted } => (TYPE_TIME_EXCEEDED, code, 0, quoted),
            Icmpv6Repr::ParamProblem {
                code,
                pointer,
                quoted,
            } => (TYPE_PARAM_PROBLEM, code, pointer, quoted),
            Icmpv6Repr::Other { msg_type, code } => (msg_type, code, 0, &[]),
        };
        buf[0] = msg_type;
        buf[1] = code;
        buf[2..4].copy_from_slice(&[0, 0]);
        buf[4..8].copy_from_slice(&word.to_be_bytes());
        // The header's words are summed from the fields (not read back from
        // `buf`), the body while it is copied in (one pass over it).
        let len = u32::try_from(total).unwrap_or(u32::MAX);
        let acc = pseudo_header(src, dst, len)
            + (u64::from(msg_type) << 8 | u64::from(code))
            + u64::from(word >> 16)
            + u64::from(word & 0xFFFF);
        let acc = checksum::copy_and_accumulate(acc, &mut buf[HEADER_LEN..], body);
        let sum = checksum::finish(acc);
        buf[2..4].copy_from_slice(&sum.to_be_bytes());
        total
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn src() -> Ipv6Addr {
        "fe80::1".parse().unwrap()
    }
    fn dst() -> Ipv6Addr {
        "fe80::2".parse().unwrap()
    }

    /// Fills the checksum of `msg` (from `src()` to `dst()`) with the
    /// reference implementation over an explicit pseudo-header.
    fn with_checksum(mut msg: Vec<u8>) -> Vec<u8> {
        msg[2] = 0;
        msg[3] = 0;
        let mut bytes = Vec::new();
        bytes.extend_from_slice(&src().octets());
        bytes.extend_from_slice(&dst().octets());
        bytes.extend_from_slice(&(msg.len() as u32).to_be_bytes());
        bytes.extend_from_slice(&[0, 0, 0, 58]);
        bytes.extend_from_slice(&msg);
        let c = checksum::naive(&bytes);
        msg[2..4].copy_from_slice(&c.to_be_bytes());
        msg
    }

    fn round_trip(repr: Icmpv6Repr<'_>) {
        let mut buf = vec![0xAAu8; repr.buffer_len() + 4];
        assert_eq!(repr.emit(&mut buf, src(), dst()), repr.buffer_len());
        assert_eq!(&buf[repr.buffer_len()..], &[0xAA; 4], "wrote past the end");
        let msg = &buf[..repr.buffer_len()];
        // The emitted checksum is the reference one.
        assert_eq!(with_checksum(msg.to_vec()), msg, "{repr:?}");
        assert_eq!(Icmpv6Repr::parse(msg, src(), dst()).unwrap(), repr);
    }

    #[test]
    fn echo_request_known_answer() {
        // Echo request fe80::1 -> fe80::2, ident 0x1234, seq 1, data "abcd".
        let msg = [
            0x80, 0x00, 0x00, 0x00, 0x12, 0x34, 0x00, 0x01, b'a', b'b', b'c', b'd',
        ];
        let expected = with_checksum(msg.to_vec());
        // Hand-computed: fe80 + 0001 + fe80 + 0002 + 000c (length) + 003a
        // (next header) + 8000 + 1234 + 0001 + 6162 + 6364 = 0x3_5444,
        // folded 0x5447 -> checksum !0x5447 = 0xabb8.
        assert_eq!(&expected[2..4], &[0xab, 0xb8]);
        let repr = Icmpv6Repr::EchoRequest {
            ident: 0x1234,
            seq_no: 1,
            data: b"abcd",
        };
        assert_eq!(repr.buffer_len(), 12);
        let mut buf = [0u8; 12];
        assert_eq!(repr.emit(&mut buf, src(), dst()), 12);
        assert_eq!(&buf[..], &expected[..]);
        assert_eq!(Icmpv6Repr::parse(&expected, src(), dst()).unwrap(), repr);
    }

    #[test]
    fn round_trip_every_variant() {
        let quoted = [0x60u8, 0, 0, 0, 0, 8, 17, 64, 1, 2, 3, 4, 5];
        round_trip(Icmpv6Repr::EchoRequest {
            ident: 0xFFFF,
            seq_no: 0,
            data: &[],
        });
        round_trip(Icmpv6Repr::EchoReply {
            ident: 7,
            seq_no: 0xBEEF,
            data: b"odd",
        });
        for code in [
            unreachable::NO_ROUTE,
            unreachable::ADMIN_PROHIBITED,
            unreachable::BEYOND_SCOPE,
            unreachable::ADDRESS,
            unreachable::PORT,
        ] {
            round_trip(Icmpv6Repr::DstUnreachable {
                code,
                quoted: &quoted,
            });
        }
        round_trip(Icmpv6Repr::PacketTooBig {
            mtu: 1280,
            quoted: &quoted,
        });
        round_trip(Icmpv6Repr::PacketTooBig {
            mtu: 0xDEAD_BEEF,
            quoted: &[],
        });
        round_trip(Icmpv6Repr::TimeExceeded {
            code: 1,
            quoted: &quoted,
        });
        for code in [
            param_problem::ERRONEOUS_HEADER,
            param_problem::UNRECOGNIZED_NEXT_HEADER,
            param_problem::UNRECOGNIZED_OPTION,
        ] {
            round_trip(Icmpv6Repr::ParamProblem {
                code,
                pointer: 0x0001_0028,
                quoted: &quoted,
            });
        }
        // Neighbor solicitation (135): not interpreted.
        round_trip(Icmpv6Repr::Other {
            msg_type: 135,
            code: 0,
        });
        // Big: summed by the SIMD kernels.
        let big = [0x5Au8; MAX_ERROR_LEN - HEADER_LEN];
        round_trip(Icmpv6Repr::ParamProblem {
            code: 0,
            pointer: 6,
            quoted: &big,
        });
    }

    #[test]
    fn fields_on_the_wire() {
        let repr = Icmpv6Repr::PacketTooBig {
            mtu: 1400,
            quoted: &[1, 2],
        };
        let mut buf = [0u8; 10];
        repr.emit(&mut buf, src(), dst());
        assert_eq!(&buf[..2], &[2, 0]);
        assert_eq!(&buf[4..8], &1400u32.to_be_bytes());
        let repr = Icmpv6Repr::ParamProblem {
            code: 1,
            pointer: 40,
            quoted: &[1, 2],
        };
        repr.emit(&mut buf, src(), dst());
        assert_eq!(&buf[..2], &[4, 1]);
        assert_eq!(&buf[4..8], &[0, 0, 0, 40]);
        let repr = Icmpv6Repr::DstUnreachable {
            code: unreachable::PORT,
            quoted: &[1, 2],
        };
        buf[4..8].copy_from_slice(&[9, 9, 9, 9]);
        repr.emit(&mut buf, src(), dst());
        assert_eq!(&buf[..2], &[1, 4]);
        assert_eq!(&buf[4..8], &[0, 0, 0, 0]);
    }

    #[test]
    fn unused_fields_ignored_on_receipt() {
        // Unused bytes 4..8 of a Destination Unreachable, and the code of a
        // Packet Too Big (RFC 4443 §3.1, §3.2).
        let raw = with_checksum(vec![1, 3, 0, 0, 1, 2, 3, 4, 0x60]);
        assert_eq!(
            Icmpv6Repr::parse(&raw, src(), dst()).unwrap(),
            Icmpv6Repr::DstUnreachable {
                code: 3,
                quoted: &[0x60]
            }
        );
        let raw = with_checksum(vec![2, 9, 0, 0, 0, 0, 5, 0]);
        assert_eq!(
            Icmpv6Repr::parse(&raw, src(), dst()).unwrap(),
            Icmpv6Repr::PacketTooBig {
                mtu: 1280,
                quoted: &[]
            }
        );
        let raw = with_checksum(vec![136, 0, 0, 0, 0x60, 0, 0, 0, 1, 2, 3, 4]);
        assert_eq!(
            Icmpv6Repr::parse(&raw, src(), dst()).unwrap(),
            Icmpv6Repr::Other {
                msg_type: 136,
                code: 0
            }
        );
    }

    #[test]
    fn is_error_by_type() {
        for t in [
            TYPE_DST_UNREACHABLE,
            TYPE_PACKET_TOO_BIG,
            TYPE_TIME_EXCEEDED,
            TYPE_PARAM_PROBLEM,
            127,
        ] {
            assert!(is_error(t), "{t}");
        }
        for t in [TYPE_ECHO_REQUEST, TYPE_ECHO_REPLY, 133, 135, 255] {
            assert!(!is_error(t), "{t}");
        }
        assert_eq!(MAX_ERROR_LEN, 1240);
    }

    #[test]
    fn bad_checksum() {
        let good = with_checksum(vec![
            0x80, 0, 0, 0, 0x12, 0x34, 0, 1, b'a', b'b', b'c', b'd', b'e',
        ]);
        assert!(Icmpv6Repr::parse(&good, src(), dst()).is_ok());
        for i in 0..good.len() {
            for bit in 0..8 {
                let mut bad = good.clone();
                bad[i] ^= 1 << bit;
                assert_eq!(
                    Icmpv6Repr::parse(&bad, src(), dst()),
                    Err(WireError::BadChecksum),
                    "byte {i} bit {bit}"
                );
            }
        }
        // The pseudo-header is covered: other addresses, other sum.
        let other: Ipv6Addr = "fe80::3".parse().unwrap();
        assert_eq!(
            Icmpv6Repr::parse(&good, other, dst()),
            Err(WireError::BadChecksum)
        );
        assert_eq!(
            Icmpv6Repr::parse(&good, src(), other),
            Err(WireError::BadChecksum)
        );
        // And so is the length: a trailing zero byte changes it.
        let mut longer = good.clone();
        longer.push(0);
        assert_eq!(
            Icmpv6Repr::parse(&longer, src(), dst()),
            Err(WireError::BadChecksum)
        );
    }

    #[test]
    fn truncated() {
        let good = with_checksum(vec![0x80, 0, 0, 0, 0x12, 0x34, 0, 1, b'a', b'b']);
        for len in 0..HEADER_LEN {
            assert_eq!(
                Icmpv6Repr::parse(&good[..len], src(), dst()),
                Err(WireError::Truncated),
                "len {len}"
            );
        }
        // Shortening the data breaks the checksum.
        assert_eq!(
            Icmpv6Repr::parse(&good[..9], src(), dst()),
            Err(WireError::BadChecksum)
        );
    }

    #[test]
    fn random_bytes_do_not_panic() {
        let mut next = crate::test_rng(0x1234_5678_9abc_def1);
        let mut parsed = 0;
        for i in 0..5000 {
            let len = (next() % 80) as usize;
            let mut msg: Vec<u8> = (0..len).map(|_| next() as u8).collect();
            if let Some(t) = msg.first_mut() {
                // Favour the types the parser interprets.
                if i % 3 == 0 {
                    *t = [1, 2, 3, 4, 128, 129][(next() % 6) as usize];
                }
            }
            if len >= HEADER_LEN && i % 2 == 0 {
                msg = with_checksum(msg);
            }
            let Ok(repr) = Icmpv6Repr::parse(&msg, src(), dst()) else {
                continue;
            };
            parsed += 1;
            assert!(repr.buffer_len() <= msg.len());
            // What parsed re-emits to something that parses the same.
            let mut out = vec![0u8; repr.buffer_len()];
            repr.emit(&mut out, src(), dst());
            assert_eq!(Icmpv6Repr::parse(&out, src(), dst()).unwrap(), repr);
        }
        assert!(parsed > 1000, "only {parsed} parsed");
    }
}
