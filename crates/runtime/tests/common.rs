#![allow(dead_code)]
use ustack::{Cidr, Config};
use ustack_runtime::Netstack;

/// Two stacks joined by an in-process pair link: (client 198.18.0.1 and
/// 2001:2::1, server 198.18.0.2 and 2001:2::2).
pub fn two_stacks() -> (Netstack, Netstack) {
    let (da, db) = ustack_devices::pair(1500).expect("pair");
    let mk = |addrs: [&str; 2], seed: u64| {
        let mut c = Config::default();
        for a in addrs {
            c.addresses.push(a.parse::<Cidr>().expect("cidr"));
        }
        c.seed = seed;
        c
    };
    let a = Netstack::new(mk(["198.18.0.1/24", "2001:2::1/64"], 1), da).expect("stack a");
    let b = Netstack::new(mk(["198.18.0.2/24", "2001:2::2/64"], 2), db).expect("stack b");
    (a, b)
}
