//! Addresses with prefixes and the routing table (on-link subnets, default
//! gateway), for IPv4 and IPv6 alike.
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// An interface address with its prefix, e.g. `198.18.0.1/24`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Cidr {
    pub addr: IpAddr,
    pub prefix_len: u8,
}

/// Error parsing or validating a `Cidr`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CidrError(pub String);

impl core::fmt::Display for CidrError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for CidrError {}

/// 127.0.0.0/8, the IPv4 loopback network (RFC 1122 §3.2.1.3 (g)), and
/// IPv6's `::1` (RFC 4291 §2.5.3).
pub fn is_loopback(ip: IpAddr) -> bool {
    ip.is_loopback()
}

fn max_prefix(addr: IpAddr) -> u8 {
    match addr {
        IpAddr::V4(_) => 32,
        IpAddr::V6(_) => 128,
    }
}

fn mask_v4(prefix_len: u8) -> u32 {
    match prefix_len {
        0 => 0,
        p => u32::MAX << (32 - u32::from(p.min(32))),
    }
}

fn mask_v6(prefix_len: u8) -> u128 {
    match prefix_len {
        0 => 0,
        p => u128::MAX << (128 - u32::from(p.min(128))),
    }
}

impl Cidr {
    /// Fails if prefix_len > 32 (v4) / 128 (v6).
    pub fn new(addr: IpAddr, prefix_len: u8) -> Result<Cidr, CidrError> {
        let max = max_prefix(addr);
        if prefix_len > max {
            return Err(CidrError(format!(
                "invalid prefix length {prefix_len} for {addr} (max {max})"
            )));
        }
        Ok(Cidr { addr, prefix_len })
    }
    /// True if `ip` is inside this prefix (same family only).
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.addr, ip) {
            (IpAddr::V4(a), IpAddr::V4(b)) => {
                let m = mask_v4(self.prefix_len);
                u32::from(a) & m == u32::from(b) & m
            }
            (IpAddr::V6(a), IpAddr::V6(b)) => {
                let m = mask_v6(self.prefix_len);
                u128::from(a) & m == u128::from(b) & m
            }
            _ => false,
        }
    }
    /// The network address (host bits zero).
    pub fn network(&self) -> IpAddr {
        match self.addr {
            IpAddr::V4(a) => IpAddr::V4(Ipv4Addr::from(u32::from(a) & mask_v4(self.prefix_len))),
            IpAddr::V6(a) => IpAddr::V6(Ipv6Addr::from(u128::from(a) & mask_v6(self.prefix_len))),
        }
    }
    /// IPv4 directed broadcast of this subnet (None for v6 or /31, /32).
    pub fn broadcast(&self) -> Option<IpAddr> {
        match self.addr {
            IpAddr::V4(a) if self.prefix_len <= 30 => {
                let m = mask_v4(self.prefix_len);
                Some(IpAddr::V4(Ipv4Addr::from(u32::from(a) | !m)))
            }
            _ => None,
        }
    }
}

/// Parses "a.b.c.d/n" (and v6 "x::y/n"); a bare address means /32 (/128).
/// Errors carry a clear message naming the bad input. Surrounding
/// whitespace is ignored; host bits are kept (it is an interface address).
impl core::str::FromStr for Cidr {
    type Err = CidrError;
    fn from_str(s: &str) -> Result<Cidr, CidrError> {
        let t = s.trim();
        if t.is_empty() {
            return Err(CidrError(
                "empty address: expected e.g. '198.18.0.1/24'".into(),
            ));
        }
        let (addr_s, prefix_s) = match t.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (t, None),
        };
        let addr: IpAddr = addr_s
            .parse()
            .map_err(|_| CidrError(format!("invalid IP address '{addr_s}' in '{t}'")))?;
        let max = max_prefix(addr);
        let prefix_len = match prefix_s {
            None => max,
            Some(p) => {
                if p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit()) {
                    return Err(CidrError(format!(
                        "invalid prefix length '{p}' in '{t}' (expected a number 0..={max})"
                    )));
                }
                match p.parse::<u8>() {
                    Ok(n) if n <= max => n,
                    _ => {
                        return Err(CidrError(format!(
                            "invalid prefix length {p} in '{t}' (max {max})"
                        )))
                    }
                }
            }
        };
        Cidr::new(addr, prefix_len)
    }
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
///
/// Tie-breaking (deterministic): on equal prefix length an on-link subnet
/// beats an explicit route, and earlier-added entries beat later ones. The
/// source address is the interface address with the longest prefix whose
/// subnet contains the next hop, the first added on ties.
#[derive(Debug, Clone, Default)]
pub struct Routes {
    addresses: Vec<Cidr>,
    /// Explicit routes `(destination, gateway)`, in insertion order.
    routes: Vec<(Cidr, IpAddr)>,
    /// Default gateways, at most one per family.
    default_v4: Option<IpAddr>,
    default_v6: Option<IpAddr>,
}

impl Routes {
    pub fn new() -> Routes {
        Routes::default()
    }
    /// Adds an interface address; its subnet becomes on-link. Adding the
    /// same address/prefix twice is a no-op.
    pub fn add_address(&mut self, cidr: Cidr) {
        if !self.addresses.contains(&cidr) {
            self.addresses.push(cidr);
        }
    }
    /// Sets the default gateway (must be on-link of some address, else Err
    /// with a clear message). One default gateway is kept per family;
    /// setting it again replaces it.
    pub fn set_default_gateway(&mut self, gw: IpAddr) -> Result<(), CidrError> {
        self.check_on_link(gw, "default gateway")?;
        match gw {
            IpAddr::V4(_) => self.default_v4 = Some(gw),
            IpAddr::V6(_) => self.default_v6 = Some(gw),
        }
        Ok(())
    }
    /// Adds a route for `dst` via `gw` (gw must be on-link). A route for
    /// the same prefix (same network and length) is replaced.
    pub fn add_route(&mut self, dst: Cidr, gw: IpAddr) -> Result<(), CidrError> {
        let dst = Cidr::new(dst.addr, dst.prefix_len)?;
        if dst.addr.is_ipv4() != gw.is_ipv4() {
            return Err(CidrError(format!(
                "gateway {gw} for route {dst} is of a different address family"
            )));
        }
        self.check_on_link(gw, &format!("gateway for route {dst}"))?;
        let net = dst.network();
        match self
            .routes
            .iter_mut()
            .find(|(c, _)| c.prefix_len == dst.prefix_len && c.network() == net)
        {
            Some(slot) => *slot = (dst, gw),
            None => self.routes.push((dst, gw)),
        }
        Ok(())
    }
    /// Interface addresses.
    pub fn addresses(&self) -> &[Cidr] {
        &self.addresses
    }
    /// True if `ip` is one of our addresses.
    pub fn is_local(&self, ip: IpAddr) -> bool {
        self.addresses.iter().any(|c| c.addr == ip)
    }
    /// True if a datagram to `ip` never leaves the host: one of our
    /// addresses, or the loopback network 127.0.0.0/8 (RFC 1122
    /// §3.2.1.3 (g): "MUST NOT appear outside a host"), as Linux's `lo`.
    pub fn is_local_delivery(&self, ip: IpAddr) -> bool {
        is_loopback(ip) || self.is_local(ip)
    }
    /// True if `ip` is a broadcast address for us (255.255.255.255 or a
    /// directed broadcast of one of our subnets).
    pub fn is_broadcast(&self, ip: IpAddr) -> bool {
        match ip {
            IpAddr::V4(v4) if v4 == Ipv4Addr::BROADCAST => true,
            IpAddr::V4(_) => self.addresses.iter().any(|c| c.broadcast() == Some(ip)),
            IpAddr::V6(_) => false,
        }
    }
    /// Route for a broadcast to `dst` (see `is_broadcast`): out on the
    /// link, from the address whose subnet it is, or for 255.255.255.255
    /// from the first IPv4 address. None if `dst` is no broadcast of ours.
    pub fn broadcast_route(&self, dst: IpAddr) -> Option<Route> {
        let IpAddr::V4(v4) = dst else {
            return None;
        };
        let from = self.addresses.iter().find(|c| {
            c.addr.is_ipv4() && (v4 == Ipv4Addr::BROADCAST || c.broadcast() == Some(dst))
        })?;
        Some(Route {
            src: from.addr,
            next_hop: dst,
        })
    }
    /// Route to `dst`, or None (unreachable). Datagrams to an own address
    /// loop back inside the host: Route { src: dst, next_hop: dst }; to
    /// 127.0.0.0/8 likewise, from 127.0.0.1 (as Linux's `lo`).
    pub fn lookup(&self, dst: IpAddr) -> Option<Route> {
        if self.is_local(dst) {
            return Some(Route {
                src: dst,
                next_hop: dst,
            });
        }
        if is_loopback(dst) {
            let src = match dst {
                IpAddr::V4(_) => IpAddr::V4(Ipv4Addr::LOCALHOST),
                IpAddr::V6(_) => IpAddr::V6(Ipv6Addr::LOCALHOST),
            };
            return Some(Route { src, next_hop: dst });
        }
        // Longest prefix match; strict `>` keeps the first candidate on
        // ties, and on-link subnets are considered first.
        let mut best: Option<(u8, IpAddr)> = None;
        let candidates = self
            .addresses
            .iter()
            .map(|c| (*c, dst))
            .chain(self.routes.iter().copied());
        for (cidr, next_hop) in candidates {
            if cidr.contains(dst) && best.is_none_or(|(len, _)| cidr.prefix_len > len) {
                best = Some((cidr.prefix_len, next_hop));
            }
        }
        let next_hop = match best {
            Some((_, hop)) => hop,
            None => match dst {
                IpAddr::V4(_) => self.default_v4?,
                IpAddr::V6(_) => self.default_v6?,
            },
        };
        let src = self.source_for(next_hop)?;
        Some(Route { src, next_hop })
    }

    /// The interface address whose subnet contains `hop`: longest prefix,
    /// first added on ties.
    fn source_for(&self, hop: IpAddr) -> Option<IpAddr> {
        let mut best: Option<&Cidr> = None;
        for c in &self.addresses {
            if c.contains(hop) && best.is_none_or(|b| c.prefix_len > b.prefix_len) {
                best = Some(c);
            }
        }
        best.map(|c| c.addr)
    }

    fn check_on_link(&self, gw: IpAddr, what: &str) -> Result<(), CidrError> {
        if self.addresses.iter().any(|c| c.contains(gw)) {
            return Ok(());
        }
        let ours: Vec<String> = self.addresses.iter().map(|c| c.to_string()).collect();
        let ours = if ours.is_empty() {
            "none configured".to_string()
        } else {
            ours.join(", ")
        };
        Err(CidrError(format!(
            "{what} {gw} is not on-link: not inside any interface subnet ({ours})"
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }
    fn cidr(s: &str) -> Cidr {
        s.parse().unwrap()
    }

    #[test]
    fn parse_ok() {
        assert_eq!(
            cidr("198.18.0.1/24"),
            Cidr {
                addr: ip("198.18.0.1"),
                prefix_len: 24
            }
        );
        assert_eq!(
            cidr("10.0.0.1"),
            Cidr {
                addr: ip("10.0.0.1"),
                prefix_len: 32
            }
        );
        assert_eq!(
            cidr("fd00::1/64"),
            Cidr {
                addr: ip("fd00::1"),
                prefix_len: 64
            }
        );
        assert_eq!(cidr("::1").prefix_len, 128);
        assert_eq!(cidr(" 0.0.0.0/0 ").prefix_len, 0);
        assert_eq!(cidr("198.18.0.1/24").to_string(), "198.18.0.1/24");
    }

    #[test]
    fn parse_errors_are_clear() {
        let e = "1.2.3.4/33".parse::<Cidr>().unwrap_err();
        assert_eq!(e.0, "invalid prefix length 33 in '1.2.3.4/33' (max 32)");
        let e = "fd00::/129".parse::<Cidr>().unwrap_err();
        assert_eq!(e.0, "invalid prefix length 129 in 'fd00::/129' (max 128)");
        let e = "1.2.3.4/99999999999999999999999"
            .parse::<Cidr>()
            .unwrap_err();
        assert!(e.0.contains("(max 32)"), "{e}");
        let e = "1.2.3/8".parse::<Cidr>().unwrap_err();
        assert_eq!(e.0, "invalid IP address '1.2.3' in '1.2.3/8'");
        let e = "1.2.3.4/x".parse::<Cidr>().unwrap_err();
        assert!(e.0.contains("'x'") && e.0.contains("1.2.3.4/x"), "{e}");
        for bad in [
            "",
            "/",
            "1.2.3.4/",
            "1.2.3.4/-1",
            "1.2.3.4/+8",
            "1.2.3.4/8/8",
            "/8",
        ] {
            assert!(bad.parse::<Cidr>().is_err(), "{bad:?} should fail");
        }
        assert!(Cidr::new(ip("1.2.3.4"), 33).is_err());
        assert!(Cidr::new(ip("::"), 128).is_ok());
    }

    #[test]
    fn prefix_math() {
        let c = cidr("198.18.5.77/20");
        assert_eq!(c.network(), ip("198.18.0.0"));
        assert_eq!(c.broadcast(), Some(ip("198.18.15.255")));
        assert!(c.contains(ip("198.18.15.1")));
        assert!(!c.contains(ip("198.18.16.1")));
        assert!(!c.contains(ip("::1")));
        assert_eq!(cidr("10.0.0.0/31").broadcast(), None);
        assert_eq!(cidr("10.0.0.1/32").broadcast(), None);
        assert_eq!(cidr("10.0.0.1/30").broadcast(), Some(ip("10.0.0.3")));
        assert_eq!(cidr("10.1.2.3/0").broadcast(), Some(ip("255.255.255.255")));
        assert!(cidr("10.1.2.3/0").contains(ip("1.1.1.1")));
        assert!(cidr("10.1.2.3/32").contains(ip("10.1.2.3")));
        assert!(!cidr("10.1.2.3/32").contains(ip("10.1.2.4")));
        let v6 = cidr("fd00:1:2:3:4::9/64");
        assert_eq!(v6.network(), ip("fd00:1:2:3::"));
        assert!(v6.contains(ip("fd00:1:2:3:ffff::1")));
        assert!(!v6.contains(ip("fd00:1:2:4::1")));
        assert!(!v6.contains(ip("10.0.0.1")));
        assert_eq!(v6.broadcast(), None);
        assert!(cidr("::/0").contains(ip("2001:db8::1")));
        assert!(!cidr("::/0").contains(ip("1.2.3.4")));
    }

    #[test]
    fn lookup_on_link_gateway_and_local() {
        let mut r = Routes::new();
        assert_eq!(r.lookup(ip("10.0.0.1")), None);
        assert!(r.set_default_gateway(ip("10.0.0.254")).is_err());
        r.add_address(cidr("10.0.0.1/24"));
        r.add_address(cidr("192.168.1.5/16"));
        assert_eq!(r.addresses().len(), 2);
        assert_eq!(
            r.lookup(ip("10.0.0.1")),
            Some(Route {
                src: ip("10.0.0.1"),
                next_hop: ip("10.0.0.1")
            })
        );
        assert_eq!(
            r.lookup(ip("10.0.0.7")),
            Some(Route {
                src: ip("10.0.0.1"),
                next_hop: ip("10.0.0.7")
            })
        );
        assert_eq!(
            r.lookup(ip("192.168.200.1")),
            Some(Route {
                src: ip("192.168.1.5"),
                next_hop: ip("192.168.200.1")
            })
        );
        assert_eq!(r.lookup(ip("8.8.8.8")), None);
        let e = r.set_default_gateway(ip("172.16.0.1")).unwrap_err();
        assert!(
            e.0.contains("172.16.0.1") && e.0.contains("not on-link"),
            "{e}"
        );
        r.set_default_gateway(ip("192.168.0.1")).unwrap();
        assert_eq!(
            r.lookup(ip("8.8.8.8")),
            Some(Route {
                src: ip("192.168.1.5"),
                next_hop: ip("192.168.0.1")
            })
        );
        // No v6 address or gateway: v6 is unreachable.
        assert_eq!(r.lookup(ip("2001:db8::1")), None);
        assert!(r.is_local(ip("192.168.1.5")));
        assert!(!r.is_local(ip("192.168.1.6")));
    }

    #[test]
    fn own_addresses_and_127_8_stay_in_the_host() {
        let mut r = Routes::new();
        r.add_address(cidr("198.18.0.1/24"));
        r.set_default_gateway(ip("198.18.0.254")).unwrap();
        // Not via the default gateway: delivered inside the host.
        assert_eq!(
            r.lookup(ip("127.0.0.1")),
            Some(Route {
                src: ip("127.0.0.1"),
                next_hop: ip("127.0.0.1")
            })
        );
        assert_eq!(
            r.lookup(ip("127.1.2.3")),
            Some(Route {
                src: ip("127.0.0.1"),
                next_hop: ip("127.1.2.3")
            })
        );
        assert_eq!(
            r.lookup(ip("198.18.0.1")),
            Some(Route {
                src: ip("198.18.0.1"),
                next_hop: ip("198.18.0.1")
            })
        );
        for a in ["127.0.0.1", "127.255.255.254", "198.18.0.1", "::1"] {
            assert!(r.is_local_delivery(ip(a)), "{a}");
        }
        assert_eq!(
            r.lookup(ip("::1")),
            Some(Route {
                src: ip("::1"),
                next_hop: ip("::1")
            })
        );
        for a in ["198.18.0.2", "128.0.0.1", "126.255.255.255", "::2"] {
            assert!(!r.is_local_delivery(ip(a)), "{a}");
        }
        assert!(!r.is_local(ip("127.0.0.1")), "not an interface address");
    }

    #[test]
    fn longest_prefix_wins() {
        let mut r = Routes::new();
        r.add_address(cidr("10.0.0.1/8"));
        r.add_address(cidr("10.1.0.1/16"));
        r.set_default_gateway(ip("10.0.0.254")).unwrap();
        // Explicit /24 inside the on-link /16 goes via a router.
        r.add_route(cidr("10.1.5.0/24"), ip("10.1.0.254")).unwrap();
        r.add_route(cidr("172.16.0.0/12"), ip("10.2.0.1")).unwrap();
        assert!(r.add_route(cidr("172.16.0.0/12"), ip("11.0.0.1")).is_err());
        assert!(r.add_route(cidr("172.16.0.0/12"), ip("::1")).is_err());
        assert_eq!(
            r.lookup(ip("10.1.5.9")),
            Some(Route {
                src: ip("10.1.0.1"),
                next_hop: ip("10.1.0.254")
            })
        );
        assert_eq!(
            r.lookup(ip("10.1.6.9")),
            Some(Route {
                src: ip("10.1.0.1"),
                next_hop: ip("10.1.6.9")
            })
        );
        assert_eq!(
            r.lookup(ip("10.9.6.9")),
            Some(Route {
                src: ip("10.0.0.1"),
                next_hop: ip("10.9.6.9")
            })
        );
        assert_eq!(
            r.lookup(ip("172.20.0.1")),
            Some(Route {
                src: ip("10.0.0.1"),
                next_hop: ip("10.2.0.1")
            })
        );
        assert_eq!(
            r.lookup(ip("1.1.1.1")),
            Some(Route {
                src: ip("10.0.0.1"),
                next_hop: ip("10.0.0.254")
            })
        );
        // Replacing a route with the same prefix.
        r.add_route(cidr("172.16.9.9/12"), ip("10.1.0.77")).unwrap();
        assert_eq!(
            r.lookup(ip("172.20.0.1")),
            Some(Route {
                src: ip("10.1.0.1"),
                next_hop: ip("10.1.0.77")
            })
        );
    }

    #[test]
    fn first_added_address_wins_ties() {
        let mut r = Routes::new();
        r.add_address(cidr("10.0.0.1/24"));
        r.add_address(cidr("10.0.0.2/24"));
        r.add_address(cidr("10.0.0.1/24"));
        assert_eq!(r.addresses().len(), 2);
        assert_eq!(
            r.lookup(ip("10.0.0.9")).map(|x| x.src),
            Some(ip("10.0.0.1"))
        );
        assert_eq!(
            r.lookup(ip("10.0.0.2")).map(|x| x.src),
            Some(ip("10.0.0.2"))
        );
    }

    #[test]
    fn broadcast_detection() {
        let mut r = Routes::new();
        r.add_address(cidr("10.0.0.1/24"));
        r.add_address(cidr("10.9.0.1/31"));
        assert!(r.is_broadcast(ip("255.255.255.255")));
        assert!(r.is_broadcast(ip("10.0.0.255")));
        assert!(!r.is_broadcast(ip("10.0.1.255")));
        assert!(!r.is_broadcast(ip("10.9.0.1")));
        assert!(!r.is_broadcast(ip("10.0.0.7")));
        assert!(!r.is_broadcast(ip("ff02::1")));
    }

    #[test]
    fn ipv6_routing() {
        let mut r = Routes::new();
        r.add_address(cidr("fd00::1/64"));
        r.set_default_gateway(ip("fd00::fe")).unwrap();
        assert_eq!(
            r.lookup(ip("fd00::77")),
            Some(Route {
                src: ip("fd00::1"),
                next_hop: ip("fd00::77")
            })
        );
        assert_eq!(
            r.lookup(ip("2001:db8::1")),
            Some(Route {
                src: ip("fd00::1"),
                next_hop: ip("fd00::fe")
            })
        );
        assert_eq!(r.lookup(ip("8.8.8.8")), None);
    }
}
