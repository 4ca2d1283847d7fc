//! Two ustack instances joined back to back in one process (an in-process
//! [`ustack_devices::pair`] link): what the examples and tests run on.
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use ustack::{Cidr, Config};
use ustack_runtime::Netstack;

/// The client stack's address.
pub const CLIENT_IP: IpAddr = IpAddr::V4(Ipv4Addr::new(198, 18, 0, 1));
/// The server stack's address.
pub const SERVER_IP: IpAddr = IpAddr::V4(Ipv4Addr::new(198, 18, 0, 2));
/// The client stack's IPv6 address (2001:2::/48: IPv6's benchmarking
/// range, RFC 5180).
pub const CLIENT_IP6: IpAddr = IpAddr::V6(Ipv6Addr::new(0x2001, 2, 0, 0, 0, 0, 0, 1));
/// The server stack's IPv6 address.
pub const SERVER_IP6: IpAddr = IpAddr::V6(Ipv6Addr::new(0x2001, 2, 0, 0, 0, 0, 0, 2));

/// A stack configuration with one address (`prefix` bits on-link).
pub fn config(ip: IpAddr, prefix_len: u8, seed: u64) -> Config {
    let mut c = Config::default();
    c.addresses.push(Cidr {
        addr: ip,
        prefix_len,
    });
    c.seed = seed;
    c
}

/// Two stacks on 198.18.0.0/24: (client at .1, server at .2).
pub fn two_stacks() -> io::Result<(Netstack, Netstack)> {
    let (da, db) = ustack_devices::pair(1500)?;
    let a = Netstack::new(config(CLIENT_IP, 24, 1), da)?;
    let b = Netstack::new(config(SERVER_IP, 24, 2), db)?;
    Ok((a, b))
}
