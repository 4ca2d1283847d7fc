//! Seed campaigns: many transfers, each under a random impairment profile
//! drawn from its seed, checked for intact data and no leftover state.
//!
//! A failing seed is reproduced exactly by [`profile_for_seed`] +
//! [`transfer_config`] (or `ustack sim --campaign 1 --seed N`).
use super::link::LinkConfig;
use super::transfer::{run_transfer, TransferConfig, TransferReport, MIN_MTU_V6};
use serde::{Deserialize, Serialize};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use ustack::rng::Rng;
use ustack::{Duration, TcpConfig};

/// MTUs a profile picks from.
pub const MTUS: [usize; 5] = [296, 576, 1280, 1500, 9000];

/// Everything a campaign run varies.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CampaignProfile {
    pub link: LinkConfig,
    pub mtu: usize,
    pub bytes: u64,
    pub reverse_bytes: u64,
    pub nodelay: bool,
    /// Run with [`persistent_tcp`] instead of the default TCP settings
    /// (drawn for harsh profiles, where the defaults may legitimately give
    /// up: see [`profile_for_seed`]).
    pub persistent_tcp: bool,
    /// TCP mechanisms of both ends, drawn from the seed too, so that a
    /// sweep covers their combinations: congestion control ("newreno" or
    /// "cubic"), SACK, RACK-TLP, timestamps, CUBIC's slow-start exits.
    pub cc: String,
    pub sack: bool,
    pub rack: bool,
    pub timestamps: bool,
    pub hystart: bool,
    /// HyStart's ACK-train exit on top (drawn when `hystart` is).
    pub ack_train: bool,
    /// Over IPv6 (a quarter of the profiles whose MTU allows it; their
    /// narrower hop, if any, is at least 1280).
    #[serde(default)]
    pub ipv6: bool,
}

/// Simulated-time limit of a campaign run.
pub const CAMPAIGN_TIME_LIMIT: Duration = Duration::from_secs(3600);

/// TCP settings for harsh profiles: more retries and a lower RTO ceiling,
/// so that a connection does not give up (or take hours) because the
/// channel lost a dozen packets in a row, which at 30 % loss each way — or
/// inside a Gilbert–Elliott burst, which lasts a number of *packets*, so
/// spans a long time when traffic is sparse — is a matter of luck, not a
/// bug. Backoff and its clamp are still exercised.
pub fn persistent_tcp() -> TcpConfig {
    TcpConfig {
        syn_retries: 20,
        max_retries: 30,
        rto_max: Duration::from_secs(30),
        ..TcpConfig::default()
    }
}

/// Draws the impairment profile of a seed. The profile comes from its own
/// generator, independent of the randomness the run itself uses.
///
/// Harsh profiles (loss above 5 % or any burst loss) use
/// [`persistent_tcp`]; heavy loss (above 10 %) also gets small transfers
/// (at most 20 kB each way) and no burst loss. With the stack's default
/// settings about one such run in a thousand legitimately times out.
pub fn profile_for_seed(seed: u64) -> CampaignProfile {
    let mut r = Rng::new(seed ^ 0x5EED_CA4B_A16E_0001);
    let u = |r: &mut Rng, lo: f64, hi: f64| lo + (hi - lo) * r.next_f64();
    let ms = |r: &mut Rng, hi_ms: u64| Duration::from_micros(r.range(0, hi_ms * 1000 + 1));

    // Loss: half the runs at most 2 %, most of the rest up to 10 %, a few
    // up to 30 %.
    let loss = match r.range(0, 100) {
        0..=49 => u(&mut r, 0.0, 0.02),
        50..=84 => u(&mut r, 0.02, 0.10),
        _ => u(&mut r, 0.10, 0.30),
    };
    let heavy = loss > 0.10;
    let burst_loss = if !heavy && r.chance(0.3) {
        u(&mut r, 0.0, 0.03)
    } else {
        0.0
    };
    let duplicate = if r.chance(0.3) {
        u(&mut r, 0.0, 0.05)
    } else {
        0.0
    };
    let reorder = if r.chance(0.4) {
        u(&mut r, 0.0, 0.10)
    } else {
        0.0
    };
    let corrupt = if r.chance(0.3) {
        u(&mut r, 0.0, 0.03)
    } else {
        0.0
    };
    let jitter = if r.chance(0.4) {
        ms(&mut r, 20)
    } else {
        Duration::ZERO
    };
    let delay = ms(&mut r, 50);
    let rate_mbps = if r.chance(0.4) {
        Some((u(&mut r, 1.0, 100.0) * 10.0).round() / 10.0)
    } else {
        None
    };
    let mtu = MTUS[r.range(0, MTUS.len() as u64) as usize];
    let queue_pkts = r.range(8, 1001) as usize;
    // Sizes: some runs one-directional; heavy loss gets smaller transfers.
    let max = if heavy { 20_000 } else { 200_000 };
    let (mut bytes, mut reverse_bytes) = (r.range(0, max + 1), r.range(0, max + 1));
    match r.range(0, 10) {
        0..=1 => reverse_bytes = 0,
        2 => bytes = 0,
        _ => {}
    }
    let nodelay = r.chance(0.5);
    let persistent_tcp = loss > 0.05 || burst_loss > 0.0;
    // Drawn last so the impairments above stay those of earlier versions.
    let cc = if r.chance(0.5) { "cubic" } else { "newreno" }.to_string();
    let sack = r.chance(0.75);
    let rack = r.chance(0.75);
    let timestamps = r.chance(0.75);
    let hystart = r.chance(0.75);
    let ack_train = hystart && r.chance(0.5);
    // A hop with a smaller MTU than the hosts' (it answers DF packets too
    // big for it with ICMP "fragmentation needed"): Path MTU discovery.
    let mut link_mtu = if mtu > 552 && r.chance(0.15) {
        Some(r.range(552, mtu as u64) as usize)
    } else {
        None
    };
    // Drawn after everything else, so the IPv4 profiles stay as they were.
    let ipv6 = mtu >= MIN_MTU_V6 && r.chance(0.25);
    if ipv6 {
        link_mtu = link_mtu.map(|m| m.max(MIN_MTU_V6)).filter(|m| *m < mtu);
    }
    CampaignProfile {
        link: LinkConfig {
            rate_mbps,
            delay,
            jitter,
            queue_pkts,
            loss,
            burst_loss,
            duplicate,
            reorder,
            corrupt,
            mtu: link_mtu,
            // Not drawn: every seed keeps the profile it always had.
            black_hole: false,
        },
        mtu,
        bytes,
        reverse_bytes,
        nodelay,
        persistent_tcp,
        cc,
        sack,
        rack,
        timestamps,
        hystart,
        ack_train,
        ipv6,
    }
}

/// The transfer a campaign runs for `seed` under `profile`.
pub fn transfer_config(profile: &CampaignProfile, seed: u64) -> TransferConfig {
    TransferConfig {
        bytes: profile.bytes,
        reverse_bytes: profile.reverse_bytes,
        link: profile.link.clone(),
        mtu: profile.mtu,
        ipv6: profile.ipv6,
        seed,
        nodelay: profile.nodelay,
        tcp: Some({
            let mut tcp = if profile.persistent_tcp {
                persistent_tcp()
            } else {
                TcpConfig::default()
            };
            tcp.congestion = profile.cc.parse().unwrap_or_default();
            tcp.sack = profile.sack;
            tcp.rack = profile.rack;
            tcp.tlp = profile.rack;
            tcp.timestamps = profile.timestamps;
            tcp.hystart = profile.hystart;
            tcp.hystart_ack_train = profile.ack_train;
            tcp
        }),
        time_limit: CAMPAIGN_TIME_LIMIT,
        check_no_state_left: true,
        ..TransferConfig::default()
    }
}

/// A failed campaign run.
#[derive(Debug, Clone, Serialize)]
pub struct CampaignFailure {
    pub seed: u64,
    pub profile: CampaignProfile,
    pub report: TransferReport,
}

/// Campaign results.
#[derive(Debug, Clone, Serialize)]
pub struct CampaignSummary {
    pub seed_start: u64,
    pub runs: u64,
    pub failures: u64,
    /// Failing runs, in seed order.
    pub failing: Vec<CampaignFailure>,
    /// Sums over all runs.
    pub sim_seconds: f64,
    pub retransmits: u64,
    pub timeouts: u64,
    pub packets_sent: u64,
    /// The slowest run by wall-clock time (seed, ms).
    pub slowest_seed: Option<u64>,
    pub slowest_wall_ms: f64,
    pub wall_seconds: f64,
}

/// Runs seeds `seed_start .. seed_start + count` on `threads` workers.
/// Output is in seed order whatever the scheduling.
pub fn run_campaign(seed_start: u64, count: u64, threads: usize) -> CampaignSummary {
    let wall = std::time::Instant::now();
    let threads = threads.max(1);
    let next = AtomicU64::new(0);
    let results: Mutex<Vec<Option<(CampaignProfile, TransferReport)>>> =
        Mutex::new((0..count).map(|_| None).collect());
    std::thread::scope(|s| {
        for _ in 0..threads {
            s.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= count {
                    break;
                }
                let seed = seed_start.wrapping_add(i);
                let profile = profile_for_seed(seed);
                let report = run_transfer(&transfer_config(&profile, seed));
                if !report.intact {
                    tracing::warn!(seed, error = ?report.error, "campaign: run failed");
                }
                let mut r = match results.lock() {
                    Ok(g) => g,
                    Err(p) => p.into_inner(),
                };
                r[i as usize] = Some((profile, report));
            });
        }
    });
    let results = match results.into_inner() {
        Ok(v) => v,
        Err(p) => p.into_inner(),
    };
    let mut summary = CampaignSummary {
        seed_start,
        runs: 0,
        failures: 0,
        failing: Vec::new(),
        sim_seconds: 0.0,
        retransmits: 0,
        timeouts: 0,
        packets_sent: 0,
        slowest_seed: None,
        slowest_wall_ms: 0.0,
        wall_seconds: 0.0,
    };
    for (i, r) in results.into_iter().enumerate() {
        let seed = seed_start.wrapping_add(i as u64);
        let Some((profile, report)) = r else {
            // A worker panicked before storing its result.
            summary.runs += 1;
            summary.failures += 1;
            let report = TransferReport {
                seed,
                error: Some("run panicked".to_string()),
                ..TransferReport::default()
            };
            summary.failing.push(CampaignFailure {
                seed,
                profile: profile_for_seed(seed),
                report,
            });
            continue;
        };
        summary.runs += 1;
        summary.sim_seconds += report.sim_seconds;
        summary.retransmits += report.retransmits;
        summary.timeouts += report.timeouts;
        summary.packets_sent += report.packets_sent;
        if report.wall_ms > summary.slowest_wall_ms {
            summary.slowest_wall_ms = report.wall_ms;
            summary.slowest_seed = Some(seed);
        }
        if !report.intact {
            summary.failures += 1;
            summary.failing.push(CampaignFailure {
                seed,
                profile,
                report,
            });
        }
    }
    summary.wall_seconds = wall.elapsed().as_secs_f64();
    summary
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn profiles_are_deterministic_and_in_range() {
        let mut low = 0;
        let mut one_way = 0;
        let mut narrow = 0;
        let mut v6 = 0;
        for seed in 0..2000 {
            let p = profile_for_seed(seed);
            assert_eq!(p, profile_for_seed(seed));
            assert!(p.link.validate().is_ok(), "{p:?}");
            let l = &p.link;
            assert!((0.0..=0.30).contains(&l.loss));
            assert!(l.duplicate <= 0.05 && l.reorder <= 0.10 && l.corrupt <= 0.03);
            assert!(l.jitter <= Duration::from_millis(20) && l.delay <= Duration::from_millis(50));
            assert!(l.rate_mbps.is_none_or(|r| (1.0..=100.0).contains(&r)));
            assert!(MTUS.contains(&p.mtu));
            assert!((8..=1000).contains(&l.queue_pkts));
            assert!(p.bytes <= 200_000 && p.reverse_bytes <= 200_000);
            if l.loss <= 0.02 {
                low += 1;
            }
            if p.bytes == 0 || p.reverse_bytes == 0 {
                one_way += 1;
            }
            if let Some(m) = l.mtu {
                assert!((552..p.mtu).contains(&m), "{p:?}");
                narrow += 1;
            }
            if p.ipv6 {
                // RFC 8200 §5: every IPv6 link carries 1280 bytes.
                assert!(p.mtu >= MIN_MTU_V6, "{p:?}");
                assert!(l.mtu.is_none_or(|m| m >= MIN_MTU_V6), "{p:?}");
                v6 += 1;
            }
        }
        // A quarter of the profiles with an MTU of 1280 or more (three of
        // five).
        assert!((220..380).contains(&v6), "{v6}");
        // 15 % of the profiles with an MTU above 552 (three of five).
        assert!((120..250).contains(&narrow), "{narrow}");
        assert!((900..1100).contains(&low), "{low}");
        assert!(one_way > 300, "{one_way}");
        assert_ne!(profile_for_seed(1), profile_for_seed(2));
    }
}
