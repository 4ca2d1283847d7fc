//! Command-line value parsers shared by the subcommands that describe a
//! link (`sim`, `impair`): probabilities, milliseconds, rates; and TCP's
//! path MTU probing mode.
use std::time::Duration;
use ustack_devices::sim::link::duration_from_ms;

/// A probability as a fraction in [0, 1] (0.01 = 1 %).
pub(crate) fn parse_prob(s: &str) -> Result<f64, String> {
    let p: f64 = s
        .trim()
        .parse()
        .map_err(|_| format!("'{s}' is not a number; expected a probability such as 0.01"))?;
    if !(0.0..=1.0).contains(&p) {
        return Err(format!(
            "{s} is not a probability: expected a fraction in [0, 1] (0.01 = 1 %)"
        ));
    }
    Ok(p)
}

/// Milliseconds, fractions allowed.
pub(crate) fn parse_ms(s: &str) -> Result<Duration, String> {
    let ms: f64 = s
        .trim()
        .parse()
        .map_err(|_| format!("'{s}' is not a number of milliseconds"))?;
    duration_from_ms(ms)
}

/// A positive rate in Mbit/s.
pub(crate) fn parse_rate(s: &str) -> Result<f64, String> {
    let r: f64 = s
        .trim()
        .parse()
        .map_err(|_| format!("'{s}' is not a rate in Mbit/s"))?;
    if !r.is_finite() || r <= 0.0 {
        return Err(format!(
            "{s} is not a valid rate: expected a positive number of Mbit/s"
        ));
    }
    Ok(r)
}

/// A `TcpConfig::mtu_probing` mode: off, black-hole or always (Linux's
/// `net.ipv4.tcp_mtu_probing` 0, 1, 2, which are accepted too).
pub(crate) fn parse_mtu_probing(s: &str) -> Result<ustack::MtuProbing, String> {
    use ustack::MtuProbing;
    match s.trim() {
        "off" | "0" => Ok(MtuProbing::Off),
        "black-hole" | "1" => Ok(MtuProbing::BlackHole),
        "always" | "2" => Ok(MtuProbing::Always),
        _ => Err(format!(
            "'{s}' is not a probing mode: expected off, black-hole or always (0, 1, 2 as Linux's tcp_mtu_probing)"
        )),
    }
}
