//! Smoke test: every in-memory workload at a tiny size. Checks only that
//! figures are positive and the data arrived intact (never timings).
use std::sync::Arc;
use ustack_bench::{api, kernel, link, smol_mem, ustack_mem, Options, Sizes};

#[test]
fn bulk_ustack_and_smoltcp_both_mtus_intact() {
    let src = link::pattern_buffer();
    for mtu in [1500, 65535] {
        let u = ustack_mem::bulk(mtu, 256 << 10, 3 << 20, true, &src).expect("ustack bulk");
        assert!(u.intact, "ustack bulk at MTU {mtu} lost or corrupted data");
        assert_eq!(u.bytes, 3 << 20);
        assert!(u.gbps() > 0.0 && u.gbit_per_cpu_s() > 0.0);
        let s = smol_mem::bulk(mtu, 256 << 10, 3 << 20, true, &src).expect("smoltcp bulk");
        assert!(s.intact, "smoltcp bulk at MTU {mtu} lost or corrupted data");
        assert!(s.gbps() > 0.0);
    }
}

#[test]
fn kernel_loopback_bulk_intact() {
    let src = Arc::new(link::pattern_buffer());
    let (b, _) = kernel::bulk(None, 2 << 20, true, src).expect("kernel bulk");
    assert!(b.intact);
    assert!(b.gbps() > 0.0);
}

#[test]
fn connection_rates_complete_every_connection() {
    for par in [1, 50] {
        let u = ustack_mem::conn(64 << 10, 200, par).expect("ustack conn");
        assert_eq!((u.done, u.failed), (200, 0));
        assert!(u.rate() > 0.0);
        let s = smol_mem::conn(64 << 10, 200, par).expect("smoltcp conn");
        assert_eq!((s.done, s.failed), (200, 0));
        assert!(s.rate() > 0.0);
        let k = kernel::conn(200, par).expect("kernel conn");
        assert_eq!((k.done, k.failed), (200, 0));
        assert!(k.rate() > 0.0);
    }
}

#[test]
fn blocking_api_bulk_and_echo() {
    let src = Arc::new(link::pattern_buffer());
    let b = api::bulk(256 << 10, 2 << 20, true, src).expect("api bulk");
    assert!(b.intact);
    assert!(b.gbps() > 0.0);
    let e = api::echo(64 << 10, 50).expect("api echo");
    assert!(e.intact);
    assert!(e.median_us > 0.0);
    let k = kernel::echo(50).expect("kernel echo");
    assert!(k.intact && k.median_us > 0.0);
}

#[test]
fn idle_connections_measured() {
    let src = link::pattern_buffer();
    let i = ustack_mem::idle(300, 256 << 10, 1 << 20, true, &src).expect("idle");
    assert!(i.alone.intact && i.with_idle.intact);
    assert!(i.with_idle.gbps() > 0.0 && i.alone.gbps() > 0.0);
    assert!(i.bytes_per_conn_end >= 0.0);
}

#[test]
fn run_reports_every_in_memory_workload() {
    let mut opts = Options::new(true);
    opts.sizes = Sizes {
        bulk_bytes: 1 << 20,
        buffer: 256 << 10,
        conn_buffer: 64 << 10,
        conn_serial: 50,
        conn_parallel: 100,
        parallel: 20,
        api_bytes: 1 << 20,
        echo_rounds: 20,
        idle_conns: 100,
        idle_bulk_bytes: 1 << 20,
        tun_bytes: 1 << 20,
        rounds: 2,
    };
    opts.verify = true;
    opts.tun = false;
    let r = ustack_bench::run(&opts);
    assert!(r.errors.is_empty(), "errors: {:?}", r.errors);
    let names: Vec<&str> = r.workloads.iter().map(|w| w.name.as_str()).collect();
    for n in [
        "bulk_mtu1500",
        "bulk_mtu65535",
        "conn_serial",
        "conn_parallel",
        "api_bulk",
        "api_echo_rtt",
        "idle_conn_bytes",
        "active_with_idle_ratio",
        "tun_rx",
        "tun_tx",
    ] {
        assert!(names.contains(&n), "missing workload {n}");
    }
    for w in &r.workloads {
        if w.name.starts_with("tun_") {
            continue;
        }
        assert!(
            w.ustack.is_some_and(|v| v >= 0.0),
            "{}: no ustack figure",
            w.name
        );
    }
    // Two rounds: each in-memory figure is the median of its rounds, which
    // lies within the rounds' extremes given in the details.
    for w in r
        .workloads
        .iter()
        .filter(|w| w.name.starts_with("bulk_") || w.name.starts_with("conn_"))
    {
        for (who, v) in [("ustack", w.ustack), ("smoltcp", w.smoltcp)] {
            let (lo, hi) = (
                w.detail[&format!("{who}_min")],
                w.detail[&format!("{who}_max")],
            );
            let v = v.expect("a figure");
            assert!(lo <= v && v <= hi, "{} {who}: {lo} <= {v} <= {hi}", w.name);
        }
    }
    let json: serde_json::Value = serde_json::from_str(&r.to_json()).expect("valid JSON");
    assert!(json["machine"]["cores"].as_u64().is_some());
    let first = &json["workloads"][0];
    for k in ["name", "unit", "ustack", "smoltcp", "kernel"] {
        assert!(first.get(k).is_some(), "JSON workload lacks {k}");
    }
    assert!(!r.table().is_empty());
}
