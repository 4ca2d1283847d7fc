//! `ustack sim`: a TCP transfer over a simulated link, or a campaign.
use crate::args::{parse_ms, parse_mtu_probing, parse_prob, parse_rate};
use clap::Args;
use std::path::PathBuf;
use std::process::ExitCode;
use ustack::Duration;
use ustack_devices::sim::campaign::{
    profile_for_seed, run_campaign, transfer_config, CampaignSummary,
};
use ustack_devices::sim::link::LinkConfig;
use ustack_devices::sim::transfer::{
    addresses, run_transfer, TransferConfig, TransferReport, MIN_MTU_V6,
};

/// Options that describe a single run (rejected together with --campaign,
/// which draws them per seed).
const SINGLE_RUN_OPTIONS: [&str; 17] = [
    "bytes",
    "reverse_bytes",
    "rate",
    "delay",
    "jitter",
    "loss",
    "burst_loss",
    "duplicate",
    "reorder",
    "corrupt",
    "mtu",
    "link_mtu",
    "black_hole",
    "mtu_probing",
    "queue",
    "nodelay",
    "ipv6",
];

#[derive(Args, Debug)]
pub struct SimArgs {
    /// Bytes sent client → server.
    #[arg(long, value_name = "N", default_value_t = 10_000_000)]
    pub bytes: u64,
    /// Bytes sent server → client (concurrently).
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub reverse_bytes: u64,
    /// Bottleneck rate in Mbit/s, both directions [default: unlimited].
    #[arg(long, value_name = "MBIT", value_parser = parse_rate, allow_negative_numbers = true)]
    pub rate: Option<f64>,
    /// One-way delay in milliseconds (fractions allowed).
    #[arg(long, value_name = "MS", default_value = "10", value_parser = parse_ms, allow_negative_numbers = true)]
    pub delay: Duration,
    /// Uniform delay jitter ± milliseconds (never reorders by itself).
    #[arg(long, value_name = "MS", default_value = "0", value_parser = parse_ms, allow_negative_numbers = true)]
    pub jitter: Duration,
    /// Independent packet loss probability (0.01 = 1 %).
    #[arg(long, value_name = "P", default_value = "0", value_parser = parse_prob, allow_negative_numbers = true)]
    pub loss: f64,
    /// Probability per packet of entering a loss burst (Gilbert–Elliott:
    /// 50 % loss while in a burst, which ends with probability 0.3 per packet).
    #[arg(long, value_name = "P", default_value = "0", value_parser = parse_prob, allow_negative_numbers = true)]
    pub burst_loss: f64,
    /// Packet duplication probability.
    #[arg(long, value_name = "P", default_value = "0", value_parser = parse_prob, allow_negative_numbers = true)]
    pub duplicate: f64,
    /// Packet reordering probability.
    #[arg(long, value_name = "P", default_value = "0", value_parser = parse_prob, allow_negative_numbers = true)]
    pub reorder: f64,
    /// Probability of flipping 1–3 bits of a packet.
    #[arg(long, value_name = "P", default_value = "0", value_parser = parse_prob, allow_negative_numbers = true)]
    pub corrupt: f64,
    /// IP MTU of both stacks and the link (68–65535).
    #[arg(long, value_name = "N", default_value_t = 1500, value_parser = clap::value_parser!(u16).range(68..))]
    pub mtu: u16,
    /// MTU of the path between the hosts, when smaller than theirs: the
    /// link drops larger packets and answers those with DF set with ICMP
    /// "fragmentation needed", as a router would, so TCP has to find the
    /// path MTU (RFC 1191) [default: the hosts' MTU]. At least 552: below
    /// that TCP clears DF and relies on routers to fragment (as Linux
    /// does), which the simulated link does not.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(552..))]
    pub link_mtu: Option<u16>,
    /// Make the --link-mtu hop a Path MTU black hole (RFC 2923 §2.1): it
    /// drops what is too big for it without the ICMP answer, as behind a
    /// firewall that filters ICMP, so that only --mtu-probing gets TCP
    /// through.
    #[arg(long)]
    pub black_hole: bool,
    /// Packetization-layer path MTU discovery of both sides (RFC 4821;
    /// Linux's net.ipv4.tcp_mtu_probing 0/1/2): off; black-hole (the third
    /// timeout in a row lowers the MSS to 1024, then probes search back
    /// up); always (start at 1024 and probe up from the beginning).
    #[arg(long, value_name = "MODE", default_value = "off", value_parser = parse_mtu_probing)]
    pub mtu_probing: ustack::MtuProbing,
    /// Run over IPv6 (client 2001:2::1, server 2001:2::2) instead of
    /// IPv4; --mtu and --link-mtu must then be at least 1280 (RFC 8200
    /// §5), and a narrower hop answers with ICMPv6 Packet Too Big.
    #[arg(long)]
    pub ipv6: bool,
    /// Bottleneck queue limit in packets (drop-tail).
    #[arg(long, value_name = "PKTS", default_value_t = 1000, value_parser = clap::value_parser!(u32).range(1..))]
    pub queue: u32,
    /// Seed of every random choice (the first seed of a campaign).
    #[arg(long, value_name = "N", default_value_t = 1)]
    pub seed: u64,
    /// Disable Nagle's algorithm on both sides.
    #[arg(long)]
    pub nodelay: bool,
    /// Congestion control of both sides: cubic or newreno.
    #[arg(long, value_name = "ALGO", default_value = "cubic")]
    pub cc: ustack::tcp::cc::CongestionKind,
    /// Do not negotiate TCP timestamps (RFC 7323).
    #[arg(long)]
    pub no_timestamps: bool,
    /// Do not negotiate SACK (RFC 2018): recovery is NewReno's.
    #[arg(long)]
    pub no_sack: bool,
    /// Disable RACK-TLP (RFC 8985): loss detection by duplicate ACKs only.
    #[arg(long)]
    pub no_rack: bool,
    /// Disable CUBIC's slow-start exit tests (HyStart++ delay, HyStart ACK
    /// train): slow start then ends at the first loss.
    #[arg(long)]
    pub no_hystart: bool,
    /// Also end slow start by HyStart's ACK-train test (as Linux): at about
    /// one BDP, before a one-BDP queue overflows (off by default: with
    /// random loss CUBIC then regrows slowly; without it the test still
    /// applies once cwnd is within a doubling of the send buffer).
    #[arg(long, conflicts_with = "no_hystart")]
    pub ack_train: bool,
    /// A fixed receive buffer of this many bytes on both sides, as SO_RCVBUF
    /// sets it (no auto-tuning). Default: 128 KiB, grown by auto-tuning
    /// up to 6 MiB as the reader keeps up (as Linux).
    #[arg(long, value_name = "BYTES", value_parser = clap::value_parser!(u32).range(1..=(1 << 30)))]
    pub rcvbuf: Option<u32>,
    /// A fixed send buffer of this many bytes on both sides, as SO_SNDBUF
    /// sets it (no auto-tuning). Default: 16 KiB, sized for twice the
    /// initial window at the handshake and grown by auto-tuning to twice
    /// the congestion window, up to 4 MiB (as Linux).
    #[arg(long, value_name = "BYTES", value_parser = clap::value_parser!(u32).range(1..=(1 << 30)))]
    pub sndbuf: Option<u32>,
    /// Write every transmitted packet to this pcap file (with --campaign:
    /// only for a campaign of 1, which then reports that run in full).
    #[arg(long, value_name = "FILE")]
    pub pcap: Option<PathBuf>,
    /// After the transfer, wait out TIME-WAIT and check no socket is left.
    #[arg(long)]
    pub check_state: bool,
    /// Give up after this much simulated time, in seconds.
    #[arg(long, value_name = "SECS", default_value_t = 600, value_parser = clap::value_parser!(u64).range(1..))]
    pub time_limit: u64,
    /// Print exactly one JSON object instead of the summary.
    #[arg(long)]
    pub json: bool,
    /// Run K transfers (seeds S, S+1, ...) each with random impairments
    /// drawn from its seed; fails if any run fails.
    #[arg(long, value_name = "K", conflicts_with_all = SINGLE_RUN_OPTIONS, value_parser = clap::value_parser!(u64).range(1..))]
    pub campaign: Option<u64>,
    /// Worker threads of a campaign.
    #[arg(long, value_name = "N", default_value_t = 2, value_parser = clap::value_parser!(u16).range(1..))]
    pub threads: u16,
}

impl SimArgs {
    fn transfer_config(&self) -> TransferConfig {
        TransferConfig {
            bytes: self.bytes,
            reverse_bytes: self.reverse_bytes,
            link: LinkConfig {
                rate_mbps: self.rate,
                delay: self.delay,
                jitter: self.jitter,
                queue_pkts: self.queue as usize,
                loss: self.loss,
                burst_loss: self.burst_loss,
                duplicate: self.duplicate,
                reorder: self.reorder,
                corrupt: self.corrupt,
                mtu: self.link_mtu.map(usize::from),
                black_hole: self.black_hole,
            },
            mtu: usize::from(self.mtu),
            ipv6: self.ipv6,
            seed: self.seed,
            nodelay: self.nodelay,
            pcap: self.pcap.clone(),
            tcp: Some(ustack::TcpConfig {
                congestion: self.cc,
                timestamps: !self.no_timestamps,
                sack: !self.no_sack,
                rack: !self.no_rack,
                tlp: !self.no_rack,
                hystart: !self.no_hystart,
                hystart_ack_train: self.ack_train,
                mtu_probing: self.mtu_probing,
                recv_buffer: self.rcvbuf.map_or(128 << 10, |b| b as usize),
                recv_buffer_auto: self.rcvbuf.is_none(),
                send_buffer: self.sndbuf.map_or(16 << 10, |b| b as usize),
                send_buffer_auto: self.sndbuf.is_none(),
                ..ustack::TcpConfig::default()
            }),
            time_limit: Duration::from_secs(self.time_limit),
            check_no_state_left: self.check_state,
            ..TransferConfig::default()
        }
    }
}

/// Runs the subcommand; the exit status is non-zero unless every transfer
/// delivered its data intact.
pub fn run(args: SimArgs) -> ExitCode {
    if let Some(count) = args.campaign {
        if let Some(path) = &args.pcap {
            if count != 1 {
                eprintln!("error: --pcap with --campaign needs --campaign 1 (one seed to capture)");
                return ExitCode::from(2);
            }
            // Re-run one campaign seed in full, with its capture.
            let profile = profile_for_seed(args.seed);
            let mut cfg = transfer_config(&profile, args.seed);
            cfg.pcap = Some(path.clone());
            let report = run_transfer(&cfg);
            if args.json {
                print_json(&report);
            } else {
                print_report(&cfg, &report);
            }
            return if report.intact {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            };
        }
        let summary = run_campaign(args.seed, count, usize::from(args.threads));
        if args.json {
            print_json(&summary);
        } else {
            print_campaign(&summary);
        }
        return if summary.failures == 0 {
            ExitCode::SUCCESS
        } else {
            ExitCode::FAILURE
        };
    }
    if args.black_hole && args.link_mtu.is_none() {
        eprintln!(
            "error: --black-hole needs --link-mtu (the hop that drops what is too big for it)"
        );
        return ExitCode::from(2);
    }
    if args.ipv6 {
        let too_small = [("--mtu", Some(args.mtu)), ("--link-mtu", args.link_mtu)]
            .into_iter()
            .find(|(_, m)| m.is_some_and(|m| usize::from(m) < MIN_MTU_V6));
        if let Some((flag, Some(m))) = too_small {
            eprintln!(
                "error: {flag} {m} is below IPv6's minimum link MTU of {MIN_MTU_V6} (RFC 8200 §5)"
            );
            return ExitCode::from(2);
        }
    }
    let cfg = args.transfer_config();
    let report = run_transfer(&cfg);
    if args.json {
        print_json(&report);
    } else {
        print_report(&cfg, &report);
    }
    if !report.intact && cfg.link.black_hole && args.mtu_probing == ustack::MtuProbing::Off {
        eprintln!(
            "hint: the --black-hole hop drops packets too big for it without telling the sender; \
             try --mtu-probing black-hole"
        );
    }
    if report.intact {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

fn print_json<T: serde::Serialize>(v: &T) {
    match serde_json::to_string(v) {
        Ok(s) => println!("{s}"),
        Err(e) => eprintln!("ustack sim: cannot encode JSON: {e}"),
    }
}

fn ms(d: Duration) -> String {
    let s = format!("{:.3}", d.as_secs_f64() * 1000.0);
    format!("{} ms", s.trim_end_matches('0').trim_end_matches('.'))
}

fn pct(p: f64) -> String {
    format!("{}%", (p * 1e6).round() / 1e4)
}

fn describe_link(l: &LinkConfig) -> String {
    let mut parts = vec![
        match l.rate_mbps {
            Some(r) => format!("{r} Mbit/s"),
            None => "unlimited rate".to_string(),
        },
        format!("delay {}", ms(l.delay)),
    ];
    if !l.jitter.is_zero() {
        parts.push(format!("jitter ±{}", ms(l.jitter)));
    }
    for (name, p) in [
        ("loss", l.loss),
        ("burst-loss", l.burst_loss),
        ("duplicate", l.duplicate),
        ("reorder", l.reorder),
        ("corrupt", l.corrupt),
    ] {
        if p > 0.0 {
            parts.push(format!("{name} {}", pct(p)));
        }
    }
    parts.push(format!("queue {} pkts", l.queue_pkts));
    if let Some(m) = l.mtu {
        parts.push(format!("path mtu {m}"));
        if l.black_hole {
            parts.push("black hole (no ICMP)".to_string());
        }
    }
    parts.join(", ")
}

/// The path MTU probing mode and what happened, if anything: packets the
/// black hole swallowed, black-hole reductions, probes, the final MSS.
fn describe_probing(r: &TransferReport) -> String {
    let mut parts = Vec::new();
    if r.black_holed > 0 {
        parts.push(format!(
            "{} packet(s) dropped unanswered by the black hole",
            r.black_holed
        ));
    }
    if r.black_hole_reductions > 0 {
        parts.push(format!(
            "MSS lowered {} time(s) by black-hole detection",
            r.black_hole_reductions
        ));
    }
    if r.mtu_probes > 0 {
        parts.push(format!(
            "{} probe(s) sent, {} got through",
            r.mtu_probes, r.mtu_probe_successes
        ));
    }
    if parts.is_empty() {
        return r.mtu_probing.clone();
    }
    let mss = |m: Option<usize>| m.map_or("-".to_string(), |m| m.to_string());
    format!(
        "{}; {}; final MSS {} →, {} ←",
        r.mtu_probing,
        parts.join(", "),
        mss(r.client_final_mss),
        mss(r.server_final_mss)
    )
}

fn print_report(cfg: &TransferConfig, r: &TransferReport) {
    let (client, server) = addresses(cfg);
    println!(
        "ustack sim: {} bytes client→server ({client} → {server}), {} bytes server→client, seed {}",
        cfg.bytes, cfg.reverse_bytes, cfg.seed
    );
    println!(
        "  link (each way): {}, mtu {}{}",
        describe_link(&cfg.link),
        cfg.mtu,
        if cfg.nodelay { ", nodelay" } else { "" }
    );
    println!("  intact:          {}", if r.intact { "yes" } else { "NO" });
    if let Some(e) = &r.error {
        println!("  error:           {e}");
    }
    println!(
        "  delivered:       {} / {} bytes →, {} / {} bytes ←",
        r.bytes_delivered, r.bytes, r.reverse_bytes_delivered, r.reverse_bytes
    );
    if let Some(last) = r.last_byte_seconds {
        if r.bytes > 0 {
            println!(
                "  goodput:         {:.2} Mbit/s (first SYN at {:.6} s, last byte at {:.6} s)",
                r.goodput_mbps, r.first_syn_seconds, last
            );
        }
    }
    println!(
        "  final states:    client {}, server {}",
        r.client_final_state, r.server_final_state
    );
    println!(
        "  retransmits:     {} (fast {}, timeouts {}), dup acks {}, out-of-order segments {}",
        r.retransmits, r.fast_retransmits, r.timeouts, r.dup_acks, r.ooo_segments
    );
    println!(
        "  undone:          {} fast recoveries, {} timeouts (spurious; {} D-SACKs received)",
        r.spurious_recoveries, r.spurious_rtos, r.dsacks_received
    );
    if r.pmtu_reductions > 0 {
        let icmp = if cfg.ipv6 {
            "Packet Too Big"
        } else {
            "fragmentation needed"
        };
        let how = format!("by ICMP ({icmp})");
        println!(
            "  path MTU:        lowered {} time(s) {how}",
            r.pmtu_reductions
        );
    }
    if r.mtu_probing != "off" || r.black_holed > 0 {
        println!("  mtu probing:     {}", describe_probing(r));
    }
    let rcvbuf = r
        .server_final_recv_buffer
        .map_or("-".to_string(), |b| format!("{b} bytes"));
    if r.recv_buffer_auto {
        println!(
            "  receive buffer:  server's {rcvbuf} (auto-tuned from 128 KiB, {} growth(s))",
            r.recv_buffer_grows
        );
    } else {
        println!("  receive buffer:  server's {rcvbuf} (fixed)");
    }
    let sndbuf = r
        .client_final_send_buffer
        .map_or("-".to_string(), |b| format!("{b} bytes"));
    if r.send_buffer_auto {
        println!(
            "  send buffer:     client's {sndbuf} (auto-tuned from 16 KiB, {} growth(s))",
            r.send_buffer_grows
        );
    } else {
        println!("  send buffer:     client's {sndbuf} (fixed)");
    }
    println!(
        "  link packets:    {} sent, {} delivered, {} dropped (loss {}, queue {}, mtu {}), {} duplicated, {} reordered, {} corrupted",
        r.packets_sent,
        r.packets_delivered,
        r.packets_dropped_by_link,
        r.dropped_loss,
        r.dropped_queue,
        r.dropped_mtu,
        r.duplicated,
        r.reordered,
        r.corrupted
    );
    if !r.stack_drops.is_empty() {
        let drops: Vec<String> = r
            .stack_drops
            .iter()
            .map(|(k, v)| format!("{k} {v}"))
            .collect();
        println!(
            "  stack drops:     {} (checksum {})",
            drops.join(", "),
            r.checksum_drops
        );
    }
    if let Some(left) = r.state_left {
        println!("  state left:      {}", if left { "YES" } else { "none" });
    }
    println!(
        "  sim time:        {:.6} s in {} steps, wall {:.1} ms",
        r.sim_seconds, r.steps, r.wall_ms
    );
    println!("  trace hash:      {}", r.trace_hash);
    if let Some(p) = &cfg.pcap {
        println!("  pcap:            {}", p.display());
    }
}

fn print_campaign(s: &CampaignSummary) {
    println!(
        "ustack sim campaign: seeds {}..{}: {} runs, {} failures, wall {:.2} s",
        s.seed_start,
        s.seed_start.saturating_add(s.runs),
        s.runs,
        s.failures,
        s.wall_seconds
    );
    println!(
        "  totals: {:.1} s simulated, {} packets, {} retransmits, {} timeouts",
        s.sim_seconds, s.packets_sent, s.retransmits, s.timeouts
    );
    if let Some(seed) = s.slowest_seed {
        println!("  slowest run: seed {seed}, {:.1} ms", s.slowest_wall_ms);
    }
    for f in &s.failing {
        println!(
            "  FAILED seed {}: {}",
            f.seed,
            f.report.error.as_deref().unwrap_or("not intact")
        );
        println!(
            "    profile: {} bytes →, {} bytes ←, mtu {}{}, {}",
            f.profile.bytes,
            f.profile.reverse_bytes,
            f.profile.mtu,
            if f.profile.nodelay { ", nodelay" } else { "" },
            describe_link(&f.profile.link)
        );
        println!(
            "    states: client {}, server {}; reproduce: ustack sim --campaign 1 --seed {} --pcap seed-{}.pcap",
            f.report.client_final_state, f.report.server_final_state, f.seed, f.seed
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn probabilities_are_validated() {
        assert_eq!(parse_prob("0.01"), Ok(0.01));
        assert_eq!(parse_prob("1"), Ok(1.0));
        assert!(parse_prob("2").is_err_and(|e| e.contains("[0, 1]")));
        assert!(parse_prob("-0.1").is_err());
        assert!(parse_prob("NaN").is_err());
        assert!(parse_prob("1%").is_err_and(|e| e.contains("not a number")));
    }

    #[test]
    fn durations_and_rates() {
        assert_eq!(parse_ms("10"), Ok(Duration::from_millis(10)));
        assert_eq!(parse_ms("0.25"), Ok(Duration::from_micros(250)));
        assert!(parse_ms("-1").is_err());
        assert!(parse_ms("inf").is_err());
        assert_eq!(parse_rate("100"), Ok(100.0));
        assert!(parse_rate("0").is_err());
        assert!(parse_rate("fast").is_err());
    }

    #[test]
    fn mtu_probing_modes_round_trip() {
        use ustack::MtuProbing;
        use ustack_devices::sim::transfer::mtu_probing_name;
        for m in [MtuProbing::Off, MtuProbing::BlackHole, MtuProbing::Always] {
            assert_eq!(parse_mtu_probing(mtu_probing_name(m)), Ok(m));
        }
        assert_eq!(parse_mtu_probing("1"), Ok(MtuProbing::BlackHole));
        assert!(parse_mtu_probing("on").is_err_and(|e| e.contains("black-hole")));
    }

    #[test]
    fn percentages_print_cleanly() {
        assert_eq!(pct(0.01), "1%");
        assert_eq!(pct(0.025), "2.5%");
        assert_eq!(ms(Duration::from_micros(12_500)), "12.5 ms");
    }
}
