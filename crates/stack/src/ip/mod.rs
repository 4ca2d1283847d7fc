//! The IP layer: routing, fragmentation and reassembly.
pub mod fragment;
pub mod reassembly;
pub mod route;
