//! One in-memory bulk transfer, for profilers (perf, callgrind):
//! `profile_bulk [ustack|smoltcp] [MTU] [BYTES]`.
use ustack_bench::{link, smol_mem, ustack_mem};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let which = args.get(1).map(String::as_str).unwrap_or("ustack");
    let mtu: usize = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(1500);
    let bytes: u64 = args.get(3).and_then(|s| s.parse().ok()).unwrap_or(64 << 20);
    let src = link::pattern_buffer();
    let b = match which {
        "smoltcp" => smol_mem::bulk(mtu, 1 << 20, bytes, false, &src),
        _ => ustack_mem::bulk(mtu, 1 << 20, bytes, false, &src),
    }
    .expect("bulk transfer");
    println!(
        "{which} mtu {mtu}: {} bytes, {:.3} Gbit/s, {:.3} Gbit per CPU-s, {} packets, intact {}",
        b.bytes,
        b.gbps(),
        b.gbit_per_cpu_s(),
        b.packets,
        b.intact
    );
}
