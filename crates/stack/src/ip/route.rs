//! Addresses with prefixes and the routing table (on-link subnets, default
//! gateway). Version-generic types; only IPv4 is routed today.
use std::net::IpAddr;

/// An interface address with its prefix, e.g. `198.18.0.1/24`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Cidr {
    pub addr: IpAddr,
    pub prefix_len: u8,
}

/// Error parsing or validating a `Cidr`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CidrError(pub String);

impl Cidr {
    /// Fails if prefix_len > 32 (v4) / 128 (v6).
    pub fn new(addr: IpAddr, prefix_len: u8) -> Result<Cidr, CidrError> { let _ = (addr, prefix_len); todo!() }
    /// True if `ip` is inside this prefix (same family only).
    pub fn contains(&self, ip: IpAddr) -> bool { let _ = ip; todo!() }
    /// The network address (host bits zero).
    pub fn network(&self) -> IpAddr { todo!() }
    /// IPv4 directed broadcast of this subnet (None for v6 or /31, /32).
    pub fn broadcast(&self) -> Option<IpAddr> { todo!() }
}

/// Parses "a.b.c.d/n" (and v6 "x::y/n"); a bare address means /32 (/128).
/// Errors carry a clear message naming the bad input.
impl core::str::FromStr for Cidr {
    type Err = CidrError;
    fn from_str(s: &str) -> Result<Cidr, CidrError> { let _ = s; todo!() }
}

impl core::fmt::Display for Cidr {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix_len)
    }
}

/// Where a packet to some destination goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Route {
    /// Source address to use (the interface address of the chosen route).
    pub src: IpAddr,
    /// Next hop: the destination itself when on-link, else the gateway.
    pub next_hop: IpAddr,
}

/// A routing table: longest-prefix match over on-link subnets (one per
/// interface address) and explicit routes, then the default gateway.
#[derive(Debug, Clone, Default)]
pub struct Routes {
    _private: (),
}

impl Routes {
    pub fn new() -> Routes { todo!() }
    /// Adds an interface address; its subnet becomes on-link.
    pub fn add_address(&mut self, cidr: Cidr) { let _ = cidr; todo!() }
    /// Sets the default gateway (must be on-link of some address, else Err
    /// with a clear message).
    pub fn set_default_gateway(&mut self, gw: IpAddr) -> Result<(), CidrError> { let _ = gw; todo!() }
    /// Adds a route for `dst` via `gw` (gw must be on-link).
    pub fn add_route(&mut self, dst: Cidr, gw: IpAddr) -> Result<(), CidrError> { let _ = (dst, gw); todo!() }
    /// Interface addresses.
    pub fn addresses(&self) -> &[Cidr] { todo!() }
    /// True if `ip` is one of our addresses.
    pub fn is_local(&self, ip: IpAddr) -> bool { let _ = ip; todo!() }
    /// True if `ip` is a broadcast address for us (255.255.255.255 or a
    /// directed broadcast of one of our subnets).
    pub fn is_broadcast(&self, ip: IpAddr) -> bool { let _ = ip; todo!() }
    /// Route to `dst`, or None (unreachable). Loopback of own address:
    /// Route { src: dst, next_hop: dst }.
    pub fn lookup(&self, dst: IpAddr) -> Option<Route> { let _ = dst; todo!() }
}
