//! `ustack-bench [--json] [--quick] [--verify] [--no-tun] [--only NAME]... [--stack NAME]...`
use std::process::ExitCode;

const USAGE: &str = "usage: ustack-bench [--json] [--quick] [--verify] [--no-tun] [--only NAME]... [--stack NAME]...

Measures ustack against smoltcp 0.14 and the Linux kernel (std::net over
loopback) on the same workloads, in one run, and prints each figure with
the anchors' figures and the ratios. The in-memory workloads (bulk,
connection rate) run three rounds with ustack and smoltcp alternating;
each figure is the median of its rounds.

  --json      print one JSON object instead of the table
  --quick     small sizes and one round (under a minute on 2 cores; CI smoke use)
  --verify    compare every received byte with what was sent
  --no-tun    skip the TUN workloads (they need root)
  --only S    run only workloads whose name contains S (repeatable)
  --stack S   run only stack S: ustack, smoltcp or kernel (repeatable;
              for profiling one of them)";

fn main() -> ExitCode {
    let mut json = false;
    let mut quick = false;
    let mut verify = false;
    let mut tun = true;
    let mut only = Vec::new();
    let mut stacks = Vec::new();
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--json" => json = true,
            "--quick" => quick = true,
            "--verify" => verify = true,
            "--no-tun" => tun = false,
            "--stack" => match args.next() {
                Some(s) => stacks.push(s),
                None => {
                    eprintln!("--stack needs ustack, smoltcp or kernel\n{USAGE}");
                    return ExitCode::from(2);
                }
            },
            "--only" => match args.next() {
                Some(s) => only.push(s),
                None => {
                    eprintln!("--only needs a workload name\n{USAGE}");
                    return ExitCode::from(2);
                }
            },
            "-h" | "--help" => {
                println!("{USAGE}");
                return ExitCode::SUCCESS;
            }
            other => {
                eprintln!("unknown argument {other}\n{USAGE}");
                return ExitCode::from(2);
            }
        }
    }
    let mut opts = ustack_bench::Options::new(quick);
    opts.verify = verify;
    opts.tun = tun;
    opts.only = only;
    opts.stacks = stacks;
    opts.progress = true;
    let t0 = std::time::Instant::now();
    let report = ustack_bench::run(&opts);
    if json {
        println!("{}", report.to_json());
    } else {
        print!("{}", report.table());
        println!("\ntotal time: {:.1} s", t0.elapsed().as_secs_f64());
    }
    if report.errors.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
