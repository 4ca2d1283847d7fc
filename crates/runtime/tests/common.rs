#![allow(dead_code)]
use ustack::{Cidr, Config};
use ustack_runtime::Netstack;

/// Two stacks joined by an in-process pair link: (client 198.18.0.1, server 198.18.0.2).
pub fn two_stacks() -> (Netstack, Netstack) {
    let (da, db) = ustack_devices::pair(1500).expect("pair");
    let mk = |addr: &str, seed: u64| {
        let mut c = Config::default();
        c.addresses.push(addr.parse::<Cidr>().expect("cidr"));
        c.seed = seed;
        c
    };
    let a = Netstack::new(mk("198.18.0.1/24", 1), da).expect("stack a");
    let b = Netstack::new(mk("198.18.0.2/24", 2), db).expect("stack b");
    (a, b)
}
