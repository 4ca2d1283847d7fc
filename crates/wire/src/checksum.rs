//! The Internet checksum (RFC 1071), computed word-at-a-time, plus the
//! incremental update of RFC 1624.
//!
//! Representation of the running sum: a `u64` holding an *unfolded*
//! one's-complement sum of big-endian 16-bit words. Any value congruent
//! modulo 0xFFFF (and non-zero iff some summed word was non-zero) is a valid
//! running sum; [`fold`] reduces it with end-around carry.
use std::net::{IpAddr, Ipv6Addr};

/// Adds `data` to a running (unfolded) one's-complement sum. Pieces must be
/// fed in order and every piece but the last must have even length.
/// Fast: sums 16 to 64 bytes at a time with SIMD where the CPU has it
/// (x86_64: AVX-512, AVX2 or SSE2, chosen at run time), else 16 bytes at a
/// time with 64-bit words.
pub fn accumulate(acc: u64, data: &[u8]) -> u64 {
    add_native(acc, sum_native(data))
}

/// Copies `src` into `dst` and returns `accumulate(acc, src)`, reading
/// `src` once (the sum is taken from the registers the copy goes through).
///
/// Panics if the lengths differ (like `copy_from_slice`; a caller bug).
pub fn copy_and_accumulate(acc: u64, dst: &mut [u8], src: &[u8]) -> u64 {
    assert_eq!(
        dst.len(),
        src.len(),
        "copy_and_accumulate: destination and source lengths differ"
    );
    add_native(acc, copy_sum_native(dst, src))
}

/// Adds a native-endian partial sum (see [`sum_native`]) to a running
/// big-endian sum.
fn add_native(acc: u64, native: u64) -> u64 {
    // Fold the native-endian partial sum to 16 bits and convert to the
    // big-endian interpretation. Folding never turns a non-zero sum into 0,
    // so "all-zero data" stays distinguishable, matching `naive`.
    let be = u16::from_be(fold(native));
    // Keep the running sum from ever overflowing: reduce `acc` first
    // (32-bit halves fold is congruent mod 0xFFFF and preserves non-zero).
    let acc = (acc >> 32) + (acc & 0xFFFF_FFFF);
    acc + u64::from(be)
}

// The one's-complement sum is independent of byte order (RFC 1071 §2(B)):
// summing native-endian 16-bit words and byte-swapping the folded result
// gives the big-endian sum. Every kernel below computes that native-endian
// sum, unfolded, as a u64: congruent mod 0xFFFF to the sum of the words
// (an odd last byte padded with a zero byte after it) and zero only if every
// word is zero. Inputs shorter than `SIMD_MIN` are not worth a dispatch.
const SIMD_MIN: usize = 128;

/// Native-endian partial sum of `data` (see above), fastest available way.
fn sum_native(data: &[u8]) -> u64 {
    #[cfg(target_arch = "x86_64")]
    if data.len() >= SIMD_MIN {
        return x86::sum(data);
    }
    sum_scalar(data)
}

/// Copies `src` to `dst` (equal lengths) and returns `sum_native(src)`.
fn copy_sum_native(dst: &mut [u8], src: &[u8]) -> u64 {
    #[cfg(target_arch = "x86_64")]
    if src.len() >= SIMD_MIN {
        return x86::copy_sum(dst, src);
    }
    dst.copy_from_slice(src);
    sum_scalar(dst)
}

/// Portable kernel: native-endian u64 words with end-around carry, two
/// independent accumulators to shorten dependency chains.
fn sum_scalar(data: &[u8]) -> u64 {
    let mut s0: u64 = 0;
    let mut s1: u64 = 0;
    let mut c0: u64 = 0;
    let mut c1: u64 = 0;

    let mut chunks = data.chunks_exact(16);
    for chunk in &mut chunks {
        let (a, b) = chunk.split_at(8);
        let a = u64::from_ne_bytes(a.try_into().unwrap());
        let b = u64::from_ne_bytes(b.try_into().unwrap());
        let (r0, o0) = s0.overflowing_add(a);
        let (r1, o1) = s1.overflowing_add(b);
        s0 = r0;
        s1 = r1;
        c0 += o0 as u64;
        c1 += o1 as u64;
    }
    let mut rest = chunks.remainder();
    if rest.len() >= 8 {
        let a = u64::from_ne_bytes(rest[..8].try_into().unwrap());
        let (r0, o0) = s0.overflowing_add(a);
        s0 = r0;
        c0 += o0 as u64;
        rest = &rest[8..];
    }

    // Reduce the wide accumulators (each a sum mod 2^64 plus carry counts,
    // where 2^64 ≡ 1 mod 0xFFFF) into a u64 of native 32-bit halves.
    let mut sum: u64 = (s0 >> 32) + (s0 & 0xFFFF_FFFF) + (s1 >> 32) + (s1 & 0xFFFF_FFFF) + c0 + c1;

    // Tail: < 8 bytes, starting at an even offset.
    if rest.len() >= 4 {
        sum += u64::from(u32::from_ne_bytes(rest[..4].try_into().unwrap()));
        rest = &rest[4..];
    }
    if rest.len() >= 2 {
        sum += u64::from(u16::from_ne_bytes([rest[0], rest[1]]));
        rest = &rest[2..];
    }
    if let Some(&last) = rest.first() {
        // Odd trailing byte: padded with a zero byte after it, i.e. it is
        // the high byte of a big-endian word.
        sum += u64::from(u16::from_ne_bytes([last, 0]));
    }
    sum
}

/// SIMD kernels for x86_64. Each vector is summed as 32-bit lanes: the low
/// and the high 16-bit word of every lane are added into a 32-bit lane
/// accumulator (`add_words`). Per vector a lane grows by less than 2^17, so
/// `BLOCK` bytes (at most 2^12 vectors per accumulator) cannot overflow it;
/// after each block the lanes are widened to u64. A block's tail shorter than
/// one vector goes to `sum_scalar` (it starts at an even offset, so the word
/// pairing is unchanged).
#[cfg(target_arch = "x86_64")]
mod x86 {
    use super::sum_scalar;
    use std::arch::x86_64::*;

    /// Bytes per block (a multiple of every kernel's step).
    const BLOCK: usize = 1 << 16;

    /// The best kernel this CPU runs.
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    pub(super) enum Level {
        Sse2,
        Avx2,
        Avx512,
    }

    pub(super) fn level() -> Level {
        // `is_x86_feature_detected!` caches its answer: one load per call.
        if is_x86_feature_detected!("avx512f") {
            Level::Avx512
        } else if is_x86_feature_detected!("avx2") {
            Level::Avx2
        } else {
            Level::Sse2
        }
    }

    /// Levels this CPU can run (for tests).
    #[cfg(test)]
    pub(super) fn levels() -> Vec<Level> {
        let mut v = vec![Level::Sse2];
        if is_x86_feature_detected!("avx2") {
            v.push(Level::Avx2);
        }
        if is_x86_feature_detected!("avx512f") {
            v.push(Level::Avx512);
        }
        v
    }

    pub(super) fn sum(data: &[u8]) -> u64 {
        sum_at(level(), data)
    }

    pub(super) fn copy_sum(dst: &mut [u8], src: &[u8]) -> u64 {
        copy_sum_at(level(), dst, src)
    }

    /// `level` must be one the CPU runs (`level()` or one of `levels()`).
    pub(super) fn sum_at(level: Level, data: &[u8]) -> u64 {
        match level {
            // SAFETY: SSE2 is part of the x86_64 baseline.
            Level::Sse2 => unsafe { sum_sse2(data) },
            // SAFETY: `level` is only Avx2 if the CPU has AVX2 (detected above).
            Level::Avx2 => unsafe { sum_avx2(data) },
            // SAFETY: `level` is only Avx512 if the CPU has AVX-512F.
            Level::Avx512 => unsafe { sum_avx512(data) },
        }
    }

    /// As `sum_at`, copying `src` to `dst` (equal lengths) on the way.
    pub(super) fn copy_sum_at(level: Level, dst: &mut [u8], src: &[u8]) -> u64 {
        match level {
            // SAFETY: SSE2 is part of the x86_64 baseline.
            Level::Sse2 => unsafe { copy_sum_sse2(dst, src) },
            // SAFETY: `level` is only Avx2 if the CPU has AVX2 (detected above).
            Level::Avx2 => unsafe { copy_sum_avx2(dst, src) },
            // SAFETY: `level` is only Avx512 if the CPU has AVX-512F.
            Level::Avx512 => unsafe { copy_sum_avx512(dst, src) },
        }
    }

    // ---- SSE2: part of the x86_64 baseline, so always available. ----

    #[target_feature(enable = "sse2")]
    fn load128(b: &[u8; 16]) -> __m128i {
        // SAFETY: `b` is 16 readable bytes; `loadu` needs no alignment.
        unsafe { _mm_loadu_si128(b.as_ptr().cast()) }
    }

    #[target_feature(enable = "sse2")]
    fn store128(b: &mut [u8; 16], v: __m128i) {
        // SAFETY: `b` is 16 writable bytes; `storeu` needs no alignment.
        unsafe { _mm_storeu_si128(b.as_mut_ptr().cast(), v) }
    }

    #[target_feature(enable = "sse2")]
    fn add_words128(acc: __m128i, v: __m128i) -> __m128i {
        let lo = _mm_and_si128(v, _mm_set1_epi32(0xFFFF));
        let hi = _mm_srli_epi32::<16>(v);
        _mm_add_epi32(acc, _mm_add_epi32(lo, hi))
    }

    #[target_feature(enable = "sse2")]
    fn widen128(acc: __m128i) -> u64 {
        let lo = _mm_and_si128(acc, _mm_set1_epi64x(0xFFFF_FFFF));
        let s = _mm_add_epi64(lo, _mm_srli_epi64::<32>(acc));
        _mm_cvtsi128_si64(s) as u64 + _mm_cvtsi128_si64(_mm_unpackhi_epi64(s, s)) as u64
    }

    // ---- AVX2 ----

    #[target_feature(enable = "avx2")]
    fn load256(b: &[u8; 32]) -> __m256i {
        // SAFETY: `b` is 32 readable bytes; `loadu` needs no alignment.
        unsafe { _mm256_loadu_si256(b.as_ptr().cast()) }
    }

    #[target_feature(enable = "avx2")]
    fn store256(b: &mut [u8; 32], v: __m256i) {
        // SAFETY: `b` is 32 writable bytes; `storeu` needs no alignment.
        unsafe { _mm256_storeu_si256(b.as_mut_ptr().cast(), v) }
    }

    #[target_feature(enable = "avx2")]
    fn add_words256(acc: __m256i, v: __m256i) -> __m256i {
        let lo = _mm256_and_si256(v, _mm256_set1_epi32(0xFFFF));
        let hi = _mm256_srli_epi32::<16>(v);
        _mm256_add_epi32(acc, _mm256_add_epi32(lo, hi))
    }

    #[target_feature(enable = "avx2")]
    fn widen256(acc: __m256i) -> u64 {
        let lo = _mm256_and_si256(acc, _mm256_set1_epi64x(0xFFFF_FFFF));
        let s = _mm256_add_epi64(lo, _mm256_srli_epi64::<32>(acc));
        let s = _mm_add_epi64(_mm256_castsi256_si128(s), _mm256_extracti128_si256::<1>(s));
        _mm_cvtsi128_si64(s) as u64 + _mm_cvtsi128_si64(_mm_unpackhi_epi64(s, s)) as u64
    }

    // ---- AVX-512 (F suffices: 32- and 64-bit lane operations only) ----

    #[target_feature(enable = "avx512f")]
    fn load512(b: &[u8; 64]) -> __m512i {
        // SAFETY: `b` is 64 readable bytes; `loadu` needs no alignment.
        unsafe { _mm512_loadu_si512(b.as_ptr().cast()) }
    }

    #[target_feature(enable = "avx512f")]
    fn store512(b: &mut [u8; 64], v: __m512i) {
        // SAFETY: `b` is 64 writable bytes; `storeu` needs no alignment.
        unsafe { _mm512_storeu_si512(b.as_mut_ptr().cast(), v) }
    }

    #[target_feature(enable = "avx512f")]
    fn add_words512(acc: __m512i, v: __m512i) -> __m512i {
        let lo = _mm512_and_si512(v, _mm512_set1_epi32(0xFFFF));
        let hi = _mm512_srli_epi32::<16>(v);
        _mm512_add_epi32(acc, _mm512_add_epi32(lo, hi))
    }

    #[target_feature(enable = "avx512f")]
    fn widen512(acc: __m512i) -> u64 {
        let lo = _mm512_and_si512(acc, _mm512_set1_epi64(0xFFFF_FFFF));
        let s = _mm512_add_epi64(lo, _mm512_srli_epi64::<32>(acc));
        _mm512_reduce_add_epi64(s) as u64
    }

    /// Defines `$sum(data) -> u64` and `$copy_sum(dst, src) -> u64` for one
    /// vector width: two vectors per step into two accumulators, then at
    /// most one more vector, then the scalar tail.
    macro_rules! kernels {
        ($feature:literal, $n:literal, $sum:ident, $copy_sum:ident,
         $zero:ident, $load:ident, $store:ident, $add:ident, $widen:ident) => {
            #[target_feature(enable = $feature)]
            fn $sum(data: &[u8]) -> u64 {
                let mut total = 0;
                for block in data.chunks(BLOCK) {
                    let (mut a, mut b) = ($zero(), $zero());
                    let mut pairs = block.chunks_exact(2 * $n);
                    for p in &mut pairs {
                        let (x, y) = p.split_at($n);
                        a = $add(a, $load(x.try_into().unwrap()));
                        b = $add(b, $load(y.try_into().unwrap()));
                    }
                    let mut rest = pairs.remainder();
                    if rest.len() >= $n {
                        a = $add(a, $load(rest[..$n].try_into().unwrap()));
                        rest = &rest[$n..];
                    }
                    total += $widen(a) + $widen(b) + sum_scalar(rest);
                }
                total
            }

            #[target_feature(enable = $feature)]
            fn $copy_sum(dst: &mut [u8], src: &[u8]) -> u64 {
                let mut total = 0;
                for (dst, src) in dst.chunks_mut(BLOCK).zip(src.chunks(BLOCK)) {
                    let (mut a, mut b) = ($zero(), $zero());
                    let mut dpairs = dst.chunks_exact_mut(2 * $n);
                    let mut spairs = src.chunks_exact(2 * $n);
                    for (d, s) in (&mut dpairs).zip(&mut spairs) {
                        let (dx, dy) = d.split_at_mut($n);
                        let (sx, sy) = s.split_at($n);
                        let x = $load(sx.try_into().unwrap());
                        let y = $load(sy.try_into().unwrap());
                        $store(dx.try_into().unwrap(), x);
                        $store(dy.try_into().unwrap(), y);
                        a = $add(a, x);
                        b = $add(b, y);
                    }
                    let mut drest = dpairs.into_remainder();
                    let mut srest = spairs.remainder();
                    if srest.len() >= $n {
                        let x = $load(srest[..$n].try_into().unwrap());
                        $store((&mut drest[..$n]).try_into().unwrap(), x);
                        a = $add(a, x);
                        drest = &mut drest[$n..];
                        srest = &srest[$n..];
                    }
                    drest.copy_from_slice(srest);
                    total += $widen(a) + $widen(b) + sum_scalar(srest);
                }
                total
            }
        };
    }

    kernels!(
        "sse2",
        16,
        sum_sse2,
        copy_sum_sse2,
        _mm_setzero_si128,
        load128,
        store128,
        add_words128,
        widen128
    );
    kernels!(
        "avx2",
        32,
        sum_avx2,
        copy_sum_avx2,
        _mm256_setzero_si256,
        load256,
        store256,
        add_words256,
        widen256
    );
    kernels!(
        "avx512f",
        64,
        sum_avx512,
        copy_sum_avx512,
        _mm512_setzero_si512,
        load512,
        store512,
        add_words512,
        widen512
    );
}

/// Folds a running sum to 16 bits (not complemented).
pub fn fold(acc: u64) -> u16 {
    let mut s = (acc >> 32) + (acc & 0xFFFF_FFFF); // <= 2^33
    s = (s >> 16) + (s & 0xFFFF); // <= 2^17 + 2^16
    s = (s >> 16) + (s & 0xFFFF); // <= 0x1_0001
    s = (s >> 16) + (s & 0xFFFF); // <= 0xFFFF
    s as u16
}

/// Folds and complements: the value that goes into a header.
pub fn finish(acc: u64) -> u16 {
    !fold(acc)
}

/// Checksum of one buffer (what goes into a header).
pub fn checksum(data: &[u8]) -> u16 {
    finish(accumulate(0, data))
}

/// Running sum of the TCP/UDP pseudo-header for IPv4 or IPv6 (RFC 793 /
/// RFC 8200 §8.1). `len` is the transport length (header + payload).
/// Mixed address families are a caller bug; treat as IPv4-mapped is fine.
pub fn pseudo_header(src: IpAddr, dst: IpAddr, protocol: u8, len: u32) -> u64 {
    // Sums of the big-endian 16-bit words, taken straight from the
    // addresses' integer values (same running sum as `accumulate` over the
    // pseudo-header bytes, without a pass over a buffer).
    fn words32(x: u32) -> u64 {
        u64::from(x >> 16) + u64::from(x & 0xFFFF)
    }
    fn words128(x: u128) -> u64 {
        (0..8).map(|i| ((x >> (16 * i)) & 0xFFFF) as u64).sum()
    }
    // A length that does not fit 16 bits is a caller bug for IPv4; adding
    // both halves keeps the sum well defined (and is the IPv6 rule).
    let rest = words32(len) + u64::from(protocol);
    match (src, dst) {
        // src (4) | dst (4) | zero | protocol | 16-bit length
        (IpAddr::V4(s), IpAddr::V4(d)) => words32(s.into()) + words32(d.into()) + rest,
        // src (16) | dst (16) | 32-bit length | 3 zero bytes | next header
        _ => words128(to_v6(src).into()) + words128(to_v6(dst).into()) + rest,
    }
}

fn to_v6(addr: IpAddr) -> Ipv6Addr {
    match addr {
        IpAddr::V4(a) => a.to_ipv6_mapped(),
        IpAddr::V6(a) => a,
    }
}

/// RFC 1624 eqn. 3: new checksum after one 16-bit word of the covered data
/// changes from `old_word` to `new_word`.
///
/// Equal to recomputing the checksum from scratch, except when the new data
/// is entirely zero: then recomputation gives 0xFFFF and this gives 0x0000
/// (the two one's-complement zeros).
pub fn update(old_checksum: u16, old_word: u16, new_word: u16) -> u16 {
    let sum = u64::from(!old_checksum) + u64::from(!old_word) + u64::from(new_word);
    !fold(sum)
}

/// Byte-pair-at-a-time reference implementation (for tests and docs).
pub fn naive(data: &[u8]) -> u16 {
    let mut sum: u32 = 0;
    let mut pairs = data.chunks_exact(2);
    for p in &mut pairs {
        sum += u32::from(u16::from_be_bytes([p[0], p[1]]));
        // Fold eagerly so the u32 never overflows.
        sum = (sum & 0xFFFF) + (sum >> 16);
    }
    if let Some(&last) = pairs.remainder().first() {
        sum += u32::from(last) << 8;
        sum = (sum & 0xFFFF) + (sum >> 16);
    }
    while sum >> 16 != 0 {
        sum = (sum & 0xFFFF) + (sum >> 16);
    }
    !(sum as u16)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{Ipv4Addr, Ipv6Addr};

    #[test]
    fn rfc1071_example() {
        // RFC 1071 §3: bytes 00 01 f2 03 f4 f5 f6 f7 sum to ddf2 (folded).
        let data = [0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7];
        assert_eq!(fold(accumulate(0, &data)), 0xddf2);
        assert_eq!(checksum(&data), !0xddf2);
        assert_eq!(naive(&data), !0xddf2);
    }

    #[test]
    fn captured_ipv4_header() {
        let mut hdr = [
            0x45, 0x00, 0x00, 0x73, 0x00, 0x00, 0x40, 0x00, 0x40, 0x11, 0xb8, 0x61, 0xc0, 0xa8,
            0x00, 0x01, 0xc0, 0xa8, 0x00, 0xc7,
        ];
        // A header with its checksum in place verifies to 0.
        assert_eq!(checksum(&hdr), 0);
        assert_eq!(naive(&hdr), 0);
        hdr[10] = 0;
        hdr[11] = 0;
        assert_eq!(checksum(&hdr), 0xb861);
        assert_eq!(naive(&hdr), 0xb861);
    }

    #[test]
    fn empty_and_zero() {
        assert_eq!(checksum(&[]), 0xFFFF);
        assert_eq!(naive(&[]), 0xFFFF);
        assert_eq!(checksum(&[0; 37]), 0xFFFF);
        assert_eq!(naive(&[0; 37]), 0xFFFF);
        // Non-zero data summing to one's-complement zero gives checksum 0.
        assert_eq!(checksum(&[0xff, 0xff]), 0x0000);
        assert_eq!(naive(&[0xff, 0xff]), 0x0000);
        assert_eq!(
            checksum(&[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]),
            0x00ff
        );
    }

    #[test]
    fn odd_byte_is_high_byte() {
        assert_eq!(checksum(&[0x12]), !0x1200);
        assert_eq!(naive(&[0x12]), !0x1200);
        assert_eq!(checksum(&[0x00, 0x01, 0x12]), !0x1201);
    }

    #[test]
    fn matches_naive_all_lengths() {
        let data: Vec<u8> = (0..600u32)
            .map(|i| (i.wrapping_mul(2654435761) >> 13) as u8)
            .collect();
        for len in 0..data.len() {
            for start in 0..3 {
                if start <= len {
                    let d = &data[start..len];
                    assert_eq!(checksum(d), naive(d), "len {} start {}", len, start);
                }
            }
        }
        let ff = vec![0xffu8; 4099];
        for len in 0..ff.len() {
            assert_eq!(checksum(&ff[..len]), naive(&ff[..len]), "ff len {len}");
        }
    }

    /// Deterministic pseudo-random bytes (xorshift64*).
    fn noise(len: usize, seed: u64) -> Vec<u8> {
        let mut x = seed | 1;
        (0..len)
            .map(|_| {
                x ^= x >> 12;
                x ^= x << 25;
                x ^= x >> 27;
                (x.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 56) as u8
            })
            .collect()
    }

    type Sum = fn(&[u8]) -> u64;

    /// Every native-sum kernel this CPU runs, by name.
    fn kernels() -> Vec<(String, Sum)> {
        let mut v: Vec<(String, Sum)> = vec![("scalar".into(), sum_scalar)];
        #[cfg(target_arch = "x86_64")]
        for level in x86::levels() {
            let f: Sum = match level {
                x86::Level::Sse2 => |d| x86::sum_at(x86::Level::Sse2, d),
                x86::Level::Avx2 => |d| x86::sum_at(x86::Level::Avx2, d),
                x86::Level::Avx512 => |d| x86::sum_at(x86::Level::Avx512, d),
            };
            v.push((format!("{level:?}"), f));
        }
        v
    }

    type CopySum = fn(&mut [u8], &[u8]) -> u64;

    /// Every fused copy-and-sum kernel this CPU runs, by name.
    fn copy_kernels() -> Vec<(String, CopySum)> {
        let mut v: Vec<(String, CopySum)> = vec![("dispatch".into(), copy_sum_native)];
        #[cfg(target_arch = "x86_64")]
        for level in x86::levels() {
            let f: CopySum = match level {
                x86::Level::Sse2 => |d, s| x86::copy_sum_at(x86::Level::Sse2, d, s),
                x86::Level::Avx2 => |d, s| x86::copy_sum_at(x86::Level::Avx2, d, s),
                x86::Level::Avx512 => |d, s| x86::copy_sum_at(x86::Level::Avx512, d, s),
            };
            v.push((format!("{level:?}"), f));
        }
        v
    }

    #[cfg(target_arch = "x86_64")]
    #[test]
    fn detects_the_vector_units() {
        // Not an assertion about the machine: shows what the tests cover.
        eprintln!("checksum kernels tested: {:?}", x86::levels());
        assert!(x86::levels().contains(&x86::level()));
    }

    /// Checks one kernel's native sum against the reference on `d`,
    /// including "zero iff every byte is zero".
    fn check_native(name: &str, native: u64, d: &[u8]) {
        assert_eq!(
            !fold(add_native(0, native)),
            naive(d),
            "{name} len {}",
            d.len()
        );
        assert_eq!(
            native == 0,
            d.iter().all(|&b| b == 0),
            "{name} len {}",
            d.len()
        );
    }

    #[test]
    fn every_kernel_matches_naive_all_lengths_and_alignments() {
        let buf = noise(2048 + 64, 7);
        let ff = vec![0xffu8; 2048 + 64];
        let zero = vec![0u8; 2048 + 64];
        for (name, sum) in kernels() {
            for len in 0..=2048 {
                // Every alignment mod 8, plus a few odd ones mod 64.
                for off in (0..8).chain([13, 31, 33, 63]) {
                    let d = &buf[off..off + len];
                    check_native(&name, sum(d), d);
                }
                for off in [0, 1, 3] {
                    check_native(&name, sum(&ff[off..off + len]), &ff[off..off + len]);
                    check_native(&name, sum(&zero[off..off + len]), &zero[off..off + len]);
                }
            }
        }
    }

    #[test]
    fn every_kernel_keeps_a_lone_nonzero_byte() {
        // Non-zero preservation at every position relative to the vectors.
        for (name, sum) in kernels() {
            for len in [1, 63, 64, 65, 200, 1500] {
                for pos in 0..len {
                    let mut d = vec![0u8; len];
                    d[pos] = 0x80;
                    check_native(&name, sum(&d), &d);
                }
            }
        }
    }

    #[test]
    fn every_kernel_matches_naive_on_big_buffers() {
        // Past the 64 KiB blocks of the SIMD kernels, with all-ones data
        // (the most lane growth) and noise, odd and even sizes.
        let lens = [65_535, 65_536, 65_537, 3 * 65_536 + 17, 1 << 20];
        let ff = vec![0xffu8; (1 << 20) + 8];
        let buf = noise((1 << 20) + 8, 99);
        for (name, sum) in kernels() {
            for &len in &lens {
                for off in [0, 1, 6] {
                    check_native(&name, sum(&ff[off..off + len]), &ff[off..off + len]);
                    check_native(&name, sum(&buf[off..off + len]), &buf[off..off + len]);
                }
            }
        }
    }

    #[test]
    fn every_copy_kernel_copies_and_matches_naive() {
        let src = noise(2048 + 64, 3);
        for (name, copy_sum) in copy_kernels() {
            let mut dst = vec![0xA5u8; 2048 + 128];
            for len in 0..=2048 {
                for (soff, doff) in [(0, 0), (1, 0), (0, 1), (3, 7), (8, 40), (33, 2)] {
                    dst.fill(0xA5);
                    let s = &src[soff..soff + len];
                    let native = copy_sum(&mut dst[doff..doff + len], s);
                    check_native(&name, native, s);
                    assert_eq!(&dst[doff..doff + len], s, "{name} len {len}");
                    assert!(
                        dst[..doff].iter().all(|&b| b == 0xA5),
                        "{name} wrote before"
                    );
                    assert!(
                        dst[doff + len..].iter().all(|&b| b == 0xA5),
                        "{name} wrote after"
                    );
                }
            }
            for len in [65_535, 65_536 + 3, 3 * 65_536 + 17] {
                let big = noise(len + 1, len as u64);
                let ff = vec![0xffu8; len];
                let mut out = vec![0u8; len + 1];
                let native = copy_sum(&mut out[1..], &big[..len]);
                check_native(&name, native, &big[..len]);
                assert_eq!(&out[1..], &big[..len]);
                let native = copy_sum(&mut out[..len], &ff);
                check_native(&name, native, &ff);
                assert_eq!(&out[..len], &ff[..]);
            }
        }
    }

    #[test]
    fn copy_and_accumulate_is_accumulate() {
        let src = noise(3000, 11);
        for split in [0, 2, 64, 1000, 2998] {
            let mut dst = vec![0u8; src.len()];
            let acc = copy_and_accumulate(0x1_2345_6789, &mut dst[..split], &src[..split]);
            let acc = copy_and_accumulate(acc, &mut dst[split..], &src[split..]);
            assert_eq!(dst, src);
            let want = accumulate(accumulate(0x1_2345_6789, &src[..split]), &src[split..]);
            assert_eq!(acc, want, "split {split}");
        }
    }

    #[test]
    #[should_panic(expected = "lengths differ")]
    fn copy_and_accumulate_rejects_length_mismatch() {
        copy_and_accumulate(0, &mut [0u8; 4], &[1, 2, 3]);
    }

    /// Per-kernel timings (not a pass/fail test): `cargo test --release -p
    /// ustack-wire --lib kernel_throughput -- --ignored --nocapture`.
    #[test]
    #[ignore = "benchmark"]
    fn kernel_throughput() {
        use std::hint::black_box;
        use std::time::Instant;
        fn best_ns(mut f: impl FnMut()) -> f64 {
            (0..7)
                .map(|_| {
                    let t = Instant::now();
                    for _ in 0..20_000 {
                        f();
                    }
                    t.elapsed().as_nanos() as f64 / 20_000.0
                })
                .fold(f64::MAX, f64::min)
        }
        for len in [64usize, 256, 1460, 8960, 65_495] {
            let src = noise(len, 5);
            let mut dst = vec![0u8; len];
            let mut line = format!("len {len:>6}:");
            for (name, sum) in kernels() {
                let ns = best_ns(|| {
                    black_box(sum(black_box(&src)));
                });
                line += &format!(" {name} {ns:.1}");
            }
            line += " | copy:";
            for (name, copy_sum) in copy_kernels() {
                let ns = best_ns(|| {
                    black_box(copy_sum(&mut dst, black_box(&src)));
                });
                line += &format!(" {name} {ns:.1}");
            }
            println!("{line} ns");
        }
    }

    #[test]
    fn accumulate_in_pieces() {
        let data: Vec<u8> = (0..255u8).collect();
        let whole = checksum(&data);
        for split in (0..data.len()).step_by(2) {
            let acc = accumulate(0, &data[..split]);
            let acc = accumulate(acc, &data[split..]);
            assert_eq!(finish(acc), whole, "split {split}");
        }
    }

    #[test]
    fn accumulate_never_overflows() {
        let mut acc = u64::MAX - 3;
        for _ in 0..1000 {
            acc = accumulate(acc, &[0xff; 64]);
        }
        // u64::MAX - 3 ≡ 0xFFFF - 3 (mod 0xFFFF); all-ones words add 0.
        assert_eq!(fold(acc), fold(u64::MAX - 3));
    }

    #[test]
    fn fold_values() {
        assert_eq!(fold(0), 0);
        assert_eq!(fold(0xFFFF), 0xFFFF);
        assert_eq!(fold(0x1_0000), 1);
        assert_eq!(fold(0x1_FFFE), 0xFFFF);
        assert_eq!(fold(u64::MAX), 0xFFFF);
        assert_eq!(fold(0x1234_5678), 0x68ac);
        assert_eq!(finish(0x1234_5678), !0x68ac);
    }

    #[test]
    fn update_rfc1624_example() {
        // RFC 1624 §4: HC = 0xdd2f, m = 0x5555 -> m' = 0x3285, HC' = 0x0000.
        assert_eq!(update(0xdd2f, 0x5555, 0x3285), 0x0000);
    }

    #[test]
    fn update_ttl_decrement_matches_recompute() {
        let mut hdr = [
            0x45, 0x00, 0x00, 0x73, 0x00, 0x00, 0x40, 0x00, 0x40, 0x11, 0xb8, 0x61, 0xc0, 0xa8,
            0x00, 0x01, 0xc0, 0xa8, 0x00, 0xc7,
        ];
        let old_word = u16::from_be_bytes([hdr[8], hdr[9]]);
        hdr[8] -= 1;
        let new_word = u16::from_be_bytes([hdr[8], hdr[9]]);
        let inc = update(0xb861, old_word, new_word);
        hdr[10] = 0;
        hdr[11] = 0;
        assert_eq!(inc, checksum(&hdr));
        assert_eq!(inc, 0xb961);
    }

    #[test]
    fn pseudo_header_v4() {
        let src = IpAddr::V4(Ipv4Addr::new(192, 168, 0, 1));
        let dst = IpAddr::V4(Ipv4Addr::new(192, 168, 0, 199));
        let mut buf = [0u8; 12];
        buf[0..4].copy_from_slice(&[192, 168, 0, 1]);
        buf[4..8].copy_from_slice(&[192, 168, 0, 199]);
        buf[9] = 17;
        buf[10..12].copy_from_slice(&95u16.to_be_bytes());
        assert_eq!(
            fold(pseudo_header(src, dst, 17, 95)),
            fold(accumulate(0, &buf))
        );
        assert_eq!(!fold(pseudo_header(src, dst, 17, 95)), naive(&buf));
    }

    #[test]
    fn pseudo_header_v6() {
        let s: Ipv6Addr = "2001:db8::1".parse().unwrap();
        let d: Ipv6Addr = "fe80::1234:5678:9abc:def0".parse().unwrap();
        let mut buf = [0u8; 40];
        buf[0..16].copy_from_slice(&s.octets());
        buf[16..32].copy_from_slice(&d.octets());
        buf[32..36].copy_from_slice(&0x0001_2345u32.to_be_bytes());
        buf[39] = 6;
        let ph = pseudo_header(IpAddr::V6(s), IpAddr::V6(d), 6, 0x0001_2345);
        assert_eq!(!fold(ph), naive(&buf));
    }

    #[test]
    fn pseudo_header_mixed_is_v4_mapped() {
        let s = Ipv4Addr::new(10, 0, 0, 1);
        let d: Ipv6Addr = "2001:db8::2".parse().unwrap();
        let mixed = pseudo_header(IpAddr::V4(s), IpAddr::V6(d), 17, 8);
        let mapped = pseudo_header(IpAddr::V6(s.to_ipv6_mapped()), IpAddr::V6(d), 17, 8);
        assert_eq!(fold(mixed), fold(mapped));
    }
}
