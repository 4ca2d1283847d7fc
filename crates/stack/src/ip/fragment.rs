//! IPv4 fragmentation of outgoing datagrams that exceed the MTU.

/// IPv4 header length assumed by `fragments` (no options).
const HEADER_LEN: usize = 20;
/// Smallest MTU honoured (RFC 791: every module must forward 68-byte
/// datagrams; 28 = header + one 8-byte fragment unit).
const MIN_MTU: usize = HEADER_LEN + 8;

/// Splits a payload of `payload_len` bytes into fragments for an MTU of
/// `mtu` (including a 20-byte header). Returns (offset, len, more_frags)
/// for each fragment, in order; every offset is a multiple of 8 and every
/// fragment but the last carries a multiple of 8 bytes. Empty payload gives
/// one fragment (0, 0, false). `mtu` below 28 is treated as 28.
///
/// Non-final fragments carry the largest multiple of 8 that fits
/// (`(mtu - 20) / 8 * 8`); the final fragment may use the whole
/// `mtu - 20`, so a payload that fits the MTU yields a single fragment.
pub fn fragments(payload_len: usize, mtu: usize) -> impl Iterator<Item = (usize, usize, bool)> {
    let room = mtu.max(MIN_MTU) - HEADER_LEN;
    Fragments {
        offset: 0,
        payload_len,
        room,
        step: room / 8 * 8,
        done: false,
    }
}

/// Iterator behind [`fragments`].
#[derive(Debug, Clone)]
struct Fragments {
    offset: usize,
    payload_len: usize,
    /// Payload bytes that fit in one packet.
    room: usize,
    /// Payload bytes per non-final fragment (multiple of 8, >= 8).
    step: usize,
    done: bool,
}

impl Iterator for Fragments {
    type Item = (usize, usize, bool);

    fn next(&mut self) -> Option<(usize, usize, bool)> {
        if self.done {
            return None;
        }
        let remaining = self.payload_len - self.offset;
        let offset = self.offset;
        if remaining <= self.room {
            self.done = true;
            self.offset = self.payload_len;
            return Some((offset, remaining, false));
        }
        self.offset += self.step;
        Some((offset, self.step, true))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let n = if self.done {
            0
        } else {
            let remaining = self.payload_len - self.offset;
            if remaining <= self.room {
                1
            } else {
                // Non-final fragments until the rest fits in `room`.
                (remaining - self.room).div_ceil(self.step) + 1
            }
        };
        (n, Some(n))
    }
}

impl ExactSizeIterator for Fragments {}
impl core::iter::FusedIterator for Fragments {}

#[cfg(test)]
mod tests {
    use super::*;

    fn all(len: usize, mtu: usize) -> Vec<(usize, usize, bool)> {
        fragments(len, mtu).collect()
    }

    fn check(len: usize, mtu: usize) {
        let frags = all(len, mtu);
        let it = fragments(len, mtu);
        assert_eq!(
            it.size_hint(),
            (frags.len(), Some(frags.len())),
            "len {len} mtu {mtu}"
        );
        let mtu = mtu.max(28);
        let mut next = 0;
        for (i, &(off, n, more)) in frags.iter().enumerate() {
            let last = i + 1 == frags.len();
            assert_eq!(off, next);
            assert_eq!(off % 8, 0);
            assert!(n + 20 <= mtu, "fragment too big: {n} for mtu {mtu}");
            assert_eq!(more, !last);
            if !last {
                assert_eq!(n % 8, 0);
                assert!(n > 0);
            }
            next += n;
        }
        assert_eq!(next, len);
    }

    #[test]
    fn empty_payload() {
        assert_eq!(all(0, 1500), vec![(0, 0, false)]);
        assert_eq!(all(0, 0), vec![(0, 0, false)]);
    }

    #[test]
    fn fits_in_one() {
        assert_eq!(all(1480, 1500), vec![(0, 1480, false)]);
        assert_eq!(all(1479, 1499), vec![(0, 1479, false)]);
    }

    #[test]
    fn classic_split() {
        assert_eq!(
            all(4000, 1500),
            vec![(0, 1480, true), (1480, 1480, true), (2960, 1040, false)]
        );
        assert_eq!(all(2960, 1500), vec![(0, 1480, true), (1480, 1480, false)]);
        // 1499 - 20 = 1479 → 1472 per non-final fragment.
        assert_eq!(
            all(3000, 1499),
            vec![(0, 1472, true), (1472, 1472, true), (2944, 56, false)]
        );
    }

    #[test]
    fn tiny_mtu_clamped() {
        assert_eq!(all(20, 0), vec![(0, 8, true), (8, 8, true), (16, 4, false)]);
        assert_eq!(all(20, 27), all(20, 28));
    }

    #[test]
    fn invariants_many() {
        for len in [0, 1, 7, 8, 9, 100, 1480, 1481, 9000, 65515, 65535] {
            for mtu in [
                0,
                28,
                29,
                35,
                36,
                68,
                576,
                1280,
                1499,
                1500,
                9000,
                65535,
                usize::MAX,
            ] {
                check(len, mtu);
            }
        }
    }
}
