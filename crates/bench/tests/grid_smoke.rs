//! A 2×2 mini loss-recovery grid (RTT 10/40 ms × loss 0/1 %): the runs
//! finish, deliver intact data, and the table and JSON are well-formed.
//! No timing assertions (virtual time; goodput is only checked positive).
#[path = "../src/grid.rs"]
#[allow(dead_code)]
mod grid;

use grid::{run_grid, Contender, GridConfig};

#[test]
fn mini_grid_is_well_formed_and_intact() {
    let cfg = GridConfig {
        rtts_ms: vec![10.0, 40.0],
        losses: vec![0.0, 0.01],
        reorders: vec![0.0],
        bytes: 300_000,
        cap_secs: 120.0,
        seeds: 1,
        contenders: vec![
            Contender::UstackNewReno,
            Contender::UstackSackCubicRack,
            Contender::SmolCubic,
        ],
        threads: 2,
        ..GridConfig::default()
    };
    let report = run_grid(&cfg, &|_| {});
    assert_eq!(report.cells.len(), 4 * 3);
    for cell in &report.cells {
        assert_eq!(cell.runs.len(), 1);
        for r in &cell.runs {
            assert!(
                r.completed && r.intact && r.error.is_none(),
                "{:?} at {:?}: {r:?}",
                r.contender,
                r.point
            );
            assert_eq!(r.bytes_delivered, cfg.bytes);
            assert!(r.goodput_mbps > 0.0 && r.goodput_mbps.is_finite());
        }
    }
    // Deterministic: the same grid gives the same goodputs.
    let again = run_grid(&cfg, &|_| {});
    for (a, b) in report.cells.iter().zip(&again.cells) {
        assert_eq!(a.goodput_mbps, b.goodput_mbps, "{:?}", a.contender);
    }

    let md = report.markdown();
    let lines: Vec<&str> = md.lines().collect();
    assert_eq!(lines.len(), 2 + 4, "{md}");
    let cols = lines[0].matches('|').count();
    assert!(lines.iter().all(|l| l.matches('|').count() == cols), "{md}");
    assert!(lines[0].contains("ustack-sack-cubic-rack") && lines[0].contains("smoltcp-cubic"));

    let json: serde_json::Value = serde_json::from_str(&report.to_json()).expect("valid JSON");
    let cells = json["cells"].as_array().expect("cells");
    assert_eq!(cells.len(), 12);
    assert!(cells.iter().all(|c| c["goodput_mbps"].is_number()));
    assert_eq!(json["rate_mbps"], 100.0);
}
