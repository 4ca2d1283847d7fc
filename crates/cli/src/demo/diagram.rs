//! Sequence diagrams of a TCP connection from the captured events: one row
//! per segment, with the arrow's direction, flags, relative seq/ack, and
//! the state of each side after it (the sender's when it sent it, the
//! receiver's after processing it).
use super::capture::{Event, Kind};
use super::term::{pad, rpad, Paint};
use std::net::SocketAddr;

/// One segment of the diagram.
#[derive(Debug, Clone)]
pub struct Row {
    /// Index of the `tcp out` event in the log.
    pub idx: usize,
    /// Seconds since the log started.
    pub t: f64,
    pub from_client: bool,
    pub seq: u32,
    pub ack: u32,
    pub flags: String,
    pub len: u32,
    pub sender_state: String,
    /// The receiver's state after processing it; `None` if it never
    /// arrived (lost on the link).
    pub receiver_state: Option<String>,
}

/// The segments of one connection.
#[derive(Debug, Clone)]
pub struct Timeline {
    pub client: SocketAddr,
    pub server: SocketAddr,
    pub rows: Vec<Row>,
    pub client_isn: Option<u32>,
    pub server_isn: Option<u32>,
}

/// Which side an event belongs to: `Some(true)` client, `Some(false)`
/// server, `None` another connection.
fn side(ev: &Event, client: SocketAddr, server: SocketAddr) -> Option<bool> {
    if ev.local == client && ev.remote == server {
        Some(true)
    } else if ev.local == server && ev.remote == client {
        Some(false)
    } else {
        None
    }
}

/// States a new connection enters without a `tcp state` event: the engine
/// creates the client's TCB in SYN-SENT when it sends the first SYN, and
/// the server's in SYN-RECEIVED when a SYN reaches a listener.
fn implied_state(state: &str, ev: &Event) -> Option<&'static str> {
    match &ev.kind {
        Kind::Out { flags, .. } if state == "CLOSED" && flags == "SYN" => Some("SYN-SENT"),
        Kind::In(seg) if state == "LISTEN" && seg.flags_str() == "SYN" => Some("SYN-RECEIVED"),
        _ => None,
    }
}

/// The states of (client, server) just before event `idx` (client starts
/// CLOSED, the server LISTEN).
pub fn states_before(
    events: &[Event],
    client: SocketAddr,
    server: SocketAddr,
    idx: usize,
) -> (String, String) {
    let mut st = ["CLOSED".to_string(), "LISTEN".to_string()];
    for ev in events.iter().take(idx) {
        let Some(c) = side(ev, client, server) else {
            continue;
        };
        let me = usize::from(!c);
        if let Some(s) = implied_state(&st[me], ev) {
            st[me] = s.to_string();
        }
        if let Kind::State { to, .. } = &ev.kind {
            st[me] = to.clone();
        }
    }
    let [c, s] = st;
    (c, s)
}

/// Builds the timeline of the connection `client` ↔ `server`.
pub fn timeline(events: &[Event], client: SocketAddr, server: SocketAddr) -> Timeline {
    let mut tl = Timeline {
        client,
        server,
        rows: Vec::new(),
        client_isn: None,
        server_isn: None,
    };
    // Index 0: client, 1: server.
    let mut state = ["CLOSED".to_string(), "LISTEN".to_string()];
    let mut open_rx: [Option<usize>; 2] = [None, None];
    let mut arrived: Vec<bool> = Vec::new();
    for (i, ev) in events.iter().enumerate() {
        let Some(is_client) = side(ev, client, server) else {
            continue;
        };
        let me = usize::from(!is_client);
        if let Some(st) = implied_state(&state[me], ev) {
            state[me] = st.to_string();
        }
        match &ev.kind {
            Kind::State { to, .. } => {
                state[me] = to.clone();
                if let Some(r) = open_rx[me] {
                    tl.rows[r].receiver_state = Some(to.clone());
                }
            }
            Kind::Out {
                seq,
                ack,
                flags,
                len,
            } => {
                open_rx[me] = None;
                if flags.contains("SYN") {
                    let isn = if is_client {
                        &mut tl.client_isn
                    } else {
                        &mut tl.server_isn
                    };
                    isn.get_or_insert(*seq);
                }
                tl.rows.push(Row {
                    idx: i,
                    t: ev.t,
                    from_client: is_client,
                    seq: *seq,
                    ack: *ack,
                    flags: flags.clone(),
                    len: *len,
                    sender_state: state[me].clone(),
                    receiver_state: None,
                });
                arrived.push(false);
            }
            Kind::In(seg) => {
                open_rx[me] = None;
                let flags = seg.flags_str();
                // The latest matching segment from the peer not yet seen
                // arriving (a retransmission matches its own copy).
                let found = (0..tl.rows.len()).rev().find(|&r| {
                    let row = &tl.rows[r];
                    !arrived[r]
                        && row.from_client != is_client
                        && row.seq == seg.seq
                        && row.ack == seg.ack
                        && row.len == seg.len
                        && row.flags == flags
                });
                if let Some(r) = found {
                    arrived[r] = true;
                    tl.rows[r].receiver_state = Some(state[me].clone());
                    open_rx[me] = Some(r);
                }
            }
            _ => {}
        }
    }
    tl
}

impl Timeline {
    /// Index of the row that completes the handshake: the client's first
    /// segment with ACK and without SYN.
    pub fn handshake_end(&self) -> Option<usize> {
        self.rows
            .iter()
            .position(|r| r.from_client && r.flags.contains("ACK") && !r.flags.contains("SYN"))
    }

    /// Relative (seq, ack) of a row.
    fn relative(&self, r: &Row) -> (u32, u32) {
        let (own, peer) = if r.from_client {
            (self.client_isn, self.server_isn)
        } else {
            (self.server_isn, self.client_isn)
        };
        (
            own.map_or(r.seq, |i| r.seq.wrapping_sub(i)),
            peer.map_or(r.ack, |i| r.ack.wrapping_sub(i)),
        )
    }
}

const TIME_W: usize = 9;
const STATE_W: usize = 13;
const ARROW_W: usize = 44;

/// Renders `rows` (a slice of the timeline's) as a sequence diagram;
/// `initial` are the states shown above the first row, `t0` the time
/// origin (seconds on the log's clock).
pub fn render(tl: &Timeline, rows: &[Row], initial: (&str, &str), t0: f64, p: Paint) -> String {
    let mut o = String::new();
    let indent = " ".repeat(TIME_W + 3);
    let client = format!("client {}", tl.client);
    let server = format!("server {}", tl.server);
    o.push_str(&format!(
        "{}   {}{}\n",
        p.dim(&rpad("t (ms)", TIME_W)),
        p.bold(&pad(&client, STATE_W + 1 + ARROW_W + 2)),
        p.bold(&server)
    ));
    o.push_str(&format!(
        "{indent}{}{}{}\n",
        p.green(&pad(initial.0, STATE_W)),
        " ".repeat(ARROW_W + 3),
        p.green(initial.1)
    ));
    for r in rows {
        let (seq, ack) = tl.relative(r);
        let mut label = format!("{} seq={seq}", r.flags);
        if r.flags.contains("ACK") {
            label.push_str(&format!(" ack={ack}"));
        }
        if r.len > 0 {
            label.push_str(&format!(" len={}", r.len));
        }
        let arrow = if r.from_client {
            let head = format!("── {label} ");
            let fill = ARROW_W.saturating_sub(head.chars().count() + 1);
            p.cyan(&format!("{head}{}▶", "─".repeat(fill)))
        } else {
            let head = format!("◀── {label} ");
            let fill = ARROW_W.saturating_sub(head.chars().count());
            p.magenta(&format!("{head}{}", "─".repeat(fill)))
        };
        let rx = match &r.receiver_state {
            Some(s) => p.green(s),
            None => p.red("✗ lost"),
        };
        let tx = p.green(&r.sender_state);
        let (left, right) = if r.from_client { (tx, rx) } else { (rx, tx) };
        // Padding is computed on the plain text (colour codes take no room).
        let left_plain = if r.from_client {
            r.sender_state.clone()
        } else {
            r.receiver_state.clone().unwrap_or_else(|| "✗ lost".into())
        };
        let left_pad = " ".repeat(STATE_W.saturating_sub(left_plain.chars().count()));
        o.push_str(&format!(
            "{}   {left}{left_pad} {arrow}  {right}\n",
            p.dim(&rpad(&format!("{:.1}", (r.t - t0) * 1000.0), TIME_W)),
        ));
    }
    o
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::viz::packet::TcpSegment;

    fn ev(t: f64, client_side: bool, kind: Kind) -> Event {
        let c: SocketAddr = "10.0.0.1:5000".parse().unwrap();
        let s: SocketAddr = "10.0.0.2:7".parse().unwrap();
        let (local, remote) = if client_side { (c, s) } else { (s, c) };
        Event {
            t,
            local,
            remote,
            kind,
        }
    }

    fn state(t: f64, c: bool, from: &str, to: &str) -> Event {
        ev(
            t,
            c,
            Kind::State {
                from: from.into(),
                to: to.into(),
            },
        )
    }

    fn out(t: f64, c: bool, flags: &str, seq: u32, ack: u32) -> Event {
        ev(
            t,
            c,
            Kind::Out {
                seq,
                ack,
                flags: flags.into(),
                len: 0,
            },
        )
    }

    fn inn(t: f64, c: bool, flags: u8, seq: u32, ack: u32) -> Event {
        let (src, dst) = if c {
            ("10.0.0.2:7", "10.0.0.1:5000")
        } else {
            ("10.0.0.1:5000", "10.0.0.2:7")
        };
        ev(
            t,
            c,
            Kind::In(TcpSegment {
                src: src.parse().unwrap(),
                dst: dst.parse().unwrap(),
                seq,
                ack,
                flags,
                window: 0,
                wscale: None,
                len: 0,
            }),
        )
    }

    #[test]
    fn handshake_rows_carry_both_states() {
        let events = vec![
            out(0.0, true, "SYN", 100, 0),
            // The first SYN is lost; the retransmission arrives.
            out(1.0, true, "SYN", 100, 0),
            inn(1.01, false, 0x02, 100, 0),
            out(1.01, false, "SYN|ACK", 500, 101),
            inn(1.02, true, 0x12, 500, 101),
            state(1.02, true, "SYN-SENT", "ESTABLISHED"),
            out(1.02, true, "ACK", 101, 501),
            inn(1.03, false, 0x10, 101, 501),
            state(1.03, false, "SYN-RECEIVED", "ESTABLISHED"),
        ];
        let c: SocketAddr = "10.0.0.1:5000".parse().unwrap();
        let s: SocketAddr = "10.0.0.2:7".parse().unwrap();
        let tl = timeline(&events, c, s);
        assert_eq!(tl.rows.len(), 4);
        assert_eq!(tl.rows[0].receiver_state, None);
        assert_eq!(tl.rows[0].sender_state, "SYN-SENT");
        assert_eq!(tl.rows[1].receiver_state.as_deref(), Some("SYN-RECEIVED"));
        assert_eq!(tl.rows[2].sender_state, "SYN-RECEIVED");
        assert_eq!(tl.rows[2].receiver_state.as_deref(), Some("ESTABLISHED"));
        assert_eq!(tl.rows[3].receiver_state.as_deref(), Some("ESTABLISHED"));
        assert_eq!(tl.handshake_end(), Some(3));
        let text = render(
            &tl,
            &tl.rows,
            ("CLOSED", "LISTEN"),
            0.0,
            Paint { on: false },
        );
        assert!(text.contains("── SYN seq=0 "), "{text}");
        assert!(text.contains("◀── SYN|ACK seq=0 ack=1 "), "{text}");
        assert!(text.contains("✗ lost"), "{text}");
        assert!(text.contains("ACK seq=1 ack=1"), "{text}");
        assert_eq!(
            states_before(&events, c, s, 4),
            ("SYN-SENT".into(), "SYN-RECEIVED".into())
        );
        assert_eq!(
            states_before(&events, c, s, 100),
            ("ESTABLISHED".into(), "ESTABLISHED".into())
        );
    }
}
