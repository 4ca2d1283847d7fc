//! `ustack impair`: a user-space impairment forwarder between two TUN
//! devices, for machines without netem. Every packet the kernel routes
//! into one TUN device goes through the simulator's link model (rate,
//! drop-tail queue, delay, jitter, loss, reordering, duplication, an MTU
//! answered with ICMP or, with `--black-hole`, not answered; see
//! `ustack_devices::sim::link`) and comes out of the other one, in wall
//! clock time. Both directions get the same impairments, each with its own
//! random stream derived from `--seed`.
//!
//! Typical use: two network namespaces, each owning one of the TUN
//! devices, routed to each other through them (see docs/loss-recovery.md):
//!
//! ```text
//! ip netns add A; ip netns add B
//! ip tuntap add ta mode tun; ip tuntap add tb mode tun
//! ustack impair --tun-a ta --tun-b tb --rate 100 --delay 20 --loss 0.01 &
//! ip link set ta netns A; ip link set tb netns B
//! ip -n A addr add 198.18.1.1/24 dev ta; ip -n A link set ta up
//! ip -n A route add 198.18.2.0/24 dev ta
//! ip -n B addr add 198.18.2.1/24 dev tb; ip -n B link set tb up
//! ip -n B route add 198.18.1.0/24 dev tb
//! ```
//!
//! The forwarder runs until SIGINT or SIGTERM and prints what each
//! direction did.
use crate::args::{parse_ms, parse_prob, parse_rate};
use clap::Args;
use std::process::ExitCode;
use std::sync::mpsc;
use ustack::Duration;
use ustack_devices::sim::link::{LinkConfig, LinkCounters};
use ustack_devices::{Forwarder, TunDevice};

#[derive(Args, Debug)]
pub struct ImpairArgs {
    /// First TUN device (created if missing; it must not be in use).
    #[arg(long, value_name = "NAME")]
    pub tun_a: String,
    /// Second TUN device.
    #[arg(long, value_name = "NAME")]
    pub tun_b: String,
    /// Bottleneck rate in Mbit/s, each direction [default: unlimited].
    #[arg(long, value_name = "MBIT", value_parser = parse_rate, allow_negative_numbers = true)]
    pub rate: Option<f64>,
    /// One-way delay in milliseconds, each direction (RTT = 2 × delay).
    #[arg(long, value_name = "MS", default_value = "0", value_parser = parse_ms, allow_negative_numbers = true)]
    pub delay: Duration,
    /// Uniform jitter ± MS on each packet's delay (never reorders by itself).
    #[arg(long, value_name = "MS", default_value = "0", value_parser = parse_ms, allow_negative_numbers = true)]
    pub jitter: Duration,
    /// Independent loss probability per packet (0.01 = 1 %).
    #[arg(long, value_name = "P", default_value = "0", value_parser = parse_prob, allow_negative_numbers = true)]
    pub loss: f64,
    /// Probability that a packet is held back and overtaken by later ones.
    #[arg(long, value_name = "P", default_value = "0", value_parser = parse_prob, allow_negative_numbers = true)]
    pub reorder: f64,
    /// Probability that a packet is delivered twice.
    #[arg(long, value_name = "P", default_value = "0", value_parser = parse_prob, allow_negative_numbers = true)]
    pub duplicate: f64,
    /// Drop-tail queue at the bottleneck, in packets.
    #[arg(long, value_name = "PKTS", default_value_t = 1000, value_parser = clap::value_parser!(u32).range(1..))]
    pub queue: u32,
    /// Largest packet forwarded, each direction: a larger one is dropped,
    /// and if it has DF set, answered with ICMP "fragmentation needed"
    /// (as a router on a narrower link would), to exercise path MTU
    /// discovery [default: no limit].
    #[arg(long, value_name = "BYTES", value_parser = clap::value_parser!(u16).range(68..))]
    pub mtu: Option<u16>,
    /// Make the --mtu limit a Path MTU black hole: what is too big is
    /// dropped without the ICMP answer (as behind a firewall that filters
    /// ICMP), so that only TCP's black-hole detection and probing get
    /// through (Linux: net.ipv4.tcp_mtu_probing).
    #[arg(long)]
    pub black_hole: bool,
    /// Seed of the impairments' random streams.
    #[arg(long, value_name = "N", default_value_t = 1)]
    pub seed: u64,
}

impl ImpairArgs {
    /// The link configuration of each direction.
    pub fn link(&self) -> LinkConfig {
        LinkConfig {
            rate_mbps: self.rate,
            delay: self.delay,
            jitter: self.jitter,
            queue_pkts: self.queue as usize,
            loss: self.loss,
            reorder: self.reorder,
            duplicate: self.duplicate,
            mtu: self.mtu.map(usize::from),
            black_hole: self.black_hole,
            ..LinkConfig::default()
        }
    }
}

fn describe(cfg: &LinkConfig) -> String {
    let rate = cfg
        .rate_mbps
        .map_or("unlimited".to_string(), |r| format!("{r} Mbit/s"));
    let mtu = cfg.mtu.map_or(String::new(), |m| {
        let hole = if cfg.black_hole {
            " (black hole: no ICMP)"
        } else {
            ""
        };
        format!(", mtu {m}{hole}")
    });
    format!(
        "rate {rate}, delay {} ms ± {} ms, loss {}, reorder {}, duplicate {}, queue {} packets{mtu}",
        cfg.delay.as_secs_f64() * 1e3,
        cfg.jitter.as_secs_f64() * 1e3,
        cfg.loss,
        cfg.reorder,
        cfg.duplicate,
        cfg.queue_pkts
    )
}

fn counters_line(dir: &str, c: &LinkCounters, send_errors: u64) -> String {
    format!(
        "  {dir}: {} in, {} out, dropped {} (loss {}, queue {}, mtu {}{}), reordered {}, duplicated {}, send errors {}",
        c.sent,
        c.delivered,
        c.dropped(),
        c.dropped_loss,
        c.dropped_queue,
        c.dropped_mtu,
        if c.black_holed > 0 {
            format!(" of which {} unanswered", c.black_holed)
        } else {
            String::new()
        },
        c.reordered,
        c.duplicated,
        send_errors
    )
}

fn open(name: &str) -> Result<TunDevice, String> {
    TunDevice::open(name, None).map_err(|e| ustack_apps::cli::tun_error(name, &e))
}

/// Runs the forwarder until a signal; the error is a message for the user.
pub fn run(args: ImpairArgs) -> Result<(), String> {
    if args.tun_a == args.tun_b {
        return Err(format!(
            "--tun-a and --tun-b are both {}: the forwarder needs two different devices",
            args.tun_a
        ));
    }
    if args.black_hole && args.mtu.is_none() {
        return Err("--black-hole needs --mtu (the limit above which packets vanish)".to_string());
    }
    let cfg = args.link();
    cfg.validate()
        .map_err(|e| format!("invalid impairment: {e}"))?;
    let a = open(&args.tun_a)?;
    let b = open(&args.tun_b)?;
    let (name_a, name_b) = (a.name().to_string(), b.name().to_string());
    let (tx, rx) = mpsc::channel::<()>();
    let signals = ustack_apps::cli::on_signals(move || {
        let _ = tx.send(());
    })
    .map_err(|e| e.to_string())?;
    let fwd = Forwarder::spawn(a, b, cfg.clone(), cfg.clone(), args.seed)
        .map_err(|e| format!("cannot start the forwarder: {e}"))?;
    eprintln!(
        "ustack impair: forwarding {name_a} <-> {name_b} ({}, seed {}); Ctrl-C to stop",
        describe(&cfg),
        args.seed
    );
    // Returns on the first signal (or if the handler thread is gone).
    let _ = rx.recv();
    let stats = fwd.stop();
    signals.close();
    println!("ustack impair: stopped; counters:");
    println!(
        "{}",
        counters_line(
            &format!("{name_a} -> {name_b}"),
            &stats.a_to_b,
            stats.send_errors_to_b
        )
    );
    println!(
        "{}",
        counters_line(
            &format!("{name_b} -> {name_a}"),
            &stats.b_to_a,
            stats.send_errors_to_a
        )
    );
    Ok(())
}

pub fn main(args: ImpairArgs) -> ExitCode {
    match run(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("ustack impair: {e}");
            ExitCode::FAILURE
        }
    }
}
