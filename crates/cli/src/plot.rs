//! `ustack plot`: the time-sequence and congestion-window graphs of a TCP
//! connection, from any capture file (ustack's own, tcpdump's, Wireshark's).
use crate::viz::packet::parse_ip_tcp;
use crate::viz::pcap::read_capture;
use crate::viz::tcpflow::{flows, time_sequence, FlowSummary, TimedSegment};
use crate::viz::{flight_chart, time_sequence_chart};
use clap::Args;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

#[derive(Args, Debug)]
pub struct PlotArgs {
    /// Capture file (pcap or pcapng; raw IP, Ethernet or Linux cooked).
    #[arg(value_name = "FILE.pcap")]
    pub file: PathBuf,
    /// Directory for time-sequence.svg and cwnd.svg (created if needed).
    #[arg(long, value_name = "DIR", default_value = ".")]
    pub out: PathBuf,
    /// The direction to plot, as SENDER-RECEIVER (e.g.
    /// 10.0.0.2:80-10.0.0.1:40000 or [::1]:80-[::1]:5000) [default: the
    /// direction that carried the most data].
    #[arg(long, value_name = "A:P-B:P", value_parser = parse_flow)]
    pub flow: Option<(SocketAddr, SocketAddr)>,
}

/// Parses `A:P-B:P` (IPv6 addresses in brackets).
pub fn parse_flow(s: &str) -> Result<(SocketAddr, SocketAddr), String> {
    for (i, _) in s.match_indices('-') {
        if let (Ok(a), Ok(b)) = (s[..i].trim().parse(), s[i + 1..].trim().parse()) {
            return Ok((a, b));
        }
    }
    Err(format!(
        "'{s}' is not a flow: expected SENDER-RECEIVER like 10.0.0.2:80-10.0.0.1:40000"
    ))
}

/// What [`plot_file`] wrote.
#[derive(Debug)]
pub struct PlotReport {
    pub flow: FlowSummary,
    pub retransmits: usize,
    pub time_sequence: PathBuf,
    pub cwnd: PathBuf,
}

/// Reads `file`, picks the flow and writes both SVGs into `out`.
pub fn plot_file(
    file: &Path,
    out: &Path,
    flow: Option<(SocketAddr, SocketAddr)>,
) -> Result<PlotReport, String> {
    let bytes = std::fs::read(file).map_err(|e| format!("cannot read {}: {e}", file.display()))?;
    let cap = read_capture(&bytes).map_err(|e| format!("{}: {e}", file.display()))?;
    let segs: Vec<TimedSegment> = cap
        .frames
        .iter()
        .filter_map(|f| parse_ip_tcp(&f.ip).map(|seg| TimedSegment { t: f.t, seg }))
        .collect();
    if segs.is_empty() {
        return Err(format!(
            "{}: no TCP segments found ({} IP packets, {} other frames)",
            file.display(),
            cap.frames.len(),
            cap.non_ip
        ));
    }
    let all = flows(&segs);
    let chosen = match flow {
        Some((a, b)) => all
            .iter()
            .find(|f| f.sender == a && f.receiver == b)
            .cloned()
            .ok_or_else(|| {
                let list: Vec<String> = all
                    .iter()
                    .take(10)
                    .map(|f| format!("  {}-{} ({} bytes)", f.sender, f.receiver, f.payload_bytes))
                    .collect();
                format!(
                    "{}: no segments from {a} to {b}; directions seen:\n{}",
                    file.display(),
                    list.join("\n")
                )
            })?,
        None => all[0].clone(),
    };
    let ts = time_sequence(&segs, chosen.sender, chosen.receiver);
    std::fs::create_dir_all(out).map_err(|e| format!("cannot create {}: {e}", out.display()))?;
    let name = file
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let flow_text = format!(
        "{} → {}: {} payload bytes, {} retransmitted segments ({name})",
        chosen.sender,
        chosen.receiver,
        ts.payload_bytes,
        ts.retransmits.len()
    );
    let tsq = time_sequence_chart(&ts, "TCP time-sequence graph", Some(flow_text.clone()), &[]);
    let how = match ts.sender_rtt {
        Some(r) => format!(
            "ACKs counted {:.1} ms late: the round trip from the capture point to the sender, from the handshake",
            r * 1000.0
        ),
        None => "handshake not captured: assuming the capture was taken at the sender".to_string(),
    };
    let cw = flight_chart(
        &ts,
        "Congestion window estimate from the capture: bytes in flight",
        Some(format!("{flow_text}\n{how}")),
    );
    let tpath = out.join("time-sequence.svg");
    let cpath = out.join("cwnd.svg");
    for (p, c) in [(&tpath, &tsq), (&cpath, &cw)] {
        std::fs::write(p, c.to_svg()).map_err(|e| format!("cannot write {}: {e}", p.display()))?;
    }
    Ok(PlotReport {
        flow: chosen,
        retransmits: ts.retransmits.len(),
        time_sequence: tpath,
        cwnd: cpath,
    })
}

pub fn run(args: PlotArgs) -> ExitCode {
    match plot_file(&args.file, &args.out, args.flow) {
        Ok(r) => {
            println!(
                "flow {} → {}: {} payload bytes (retransmissions included) in {} segments, {} retransmitted",
                r.flow.sender, r.flow.receiver, r.flow.payload_bytes, r.flow.segments, r.retransmits
            );
            println!("wrote {}", r.time_sequence.display());
            println!("wrote {}", r.cwnd.display());
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("ustack plot: {e}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flows_parse() {
        let (a, b) = parse_flow("10.0.0.2:80-10.0.0.1:40000").expect("v4");
        assert_eq!(a.port(), 80);
        assert_eq!(b.port(), 40000);
        let (a, _) = parse_flow("[fe80::1]:80-[::1]:5").expect("v6");
        assert!(a.is_ipv6());
        assert!(parse_flow("10.0.0.2:80").is_err());
    }
}
