//! Throughput of the checksum kernels (not a pass/fail test):
//!
//! ```sh
//! cargo test --release -p ustack-wire --test checksum_throughput -- --ignored --nocapture
//! ```
use std::hint::black_box;
use std::time::Instant;
use ustack_wire::checksum::{accumulate, copy_and_accumulate};

/// The previous portable implementation (64-bit words), for comparison.
fn scalar_u64(data: &[u8]) -> u64 {
    let (mut s0, mut s1, mut c0, mut c1) = (0u64, 0u64, 0u64, 0u64);
    let mut chunks = data.chunks_exact(16);
    for chunk in &mut chunks {
        let (a, b) = chunk.split_at(8);
        let (r0, o0) = s0.overflowing_add(u64::from_ne_bytes(a.try_into().unwrap()));
        let (r1, o1) = s1.overflowing_add(u64::from_ne_bytes(b.try_into().unwrap()));
        (s0, s1) = (r0, r1);
        c0 += o0 as u64;
        c1 += o1 as u64;
    }
    (s0 >> 32) + (s0 & 0xFFFF_FFFF) + (s1 >> 32) + (s1 & 0xFFFF_FFFF) + c0 + c1
}

/// Nanoseconds per call of `f`, best of several rounds.
fn time(mut f: impl FnMut()) -> f64 {
    let mut best = f64::MAX;
    for _ in 0..7 {
        let iters = 20_000;
        let t = Instant::now();
        for _ in 0..iters {
            f();
        }
        best = best.min(t.elapsed().as_nanos() as f64 / iters as f64);
    }
    best
}

#[test]
#[ignore = "benchmark; run with --ignored --nocapture in release"]
fn checksum_throughput() {
    for len in [64usize, 576, 1460, 8960, 65_495] {
        let src: Vec<u8> = (0..len + 1).map(|i| (i * 131 + 7) as u8).collect();
        let mut dst = vec![0u8; len + 1];
        let src = &src[..len];
        let old = time(|| {
            black_box(scalar_u64(black_box(src)));
        });
        let acc = time(|| {
            black_box(accumulate(0, black_box(src)));
        });
        let copy = time(|| {
            dst[..len].copy_from_slice(black_box(src));
            black_box(&dst);
        });
        let copy_then_sum = time(|| {
            dst[..len].copy_from_slice(black_box(src));
            black_box(accumulate(0, black_box(&dst[..len])));
        });
        let fused = time(|| {
            black_box(copy_and_accumulate(0, &mut dst[..len], black_box(src)));
        });
        let fused_odd = time(|| {
            black_box(copy_and_accumulate(0, &mut dst[1..len + 1], black_box(src)));
        });
        let gbs = |ns: f64| len as f64 / ns;
        println!(
            "len {len:>6}: old scalar {old:7.1} ns ({:5.1} GB/s) | accumulate {acc:7.1} ns ({:5.1} GB/s) | \
             memcpy {copy:7.1} | memcpy+accumulate {copy_then_sum:7.1} | copy_and_accumulate {fused:7.1} ({:5.1} GB/s), misaligned dst {fused_odd:7.1}",
            gbs(old),
            gbs(acc),
            gbs(fused)
        );
    }
}
