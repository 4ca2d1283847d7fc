//! Devices for ustack: the deterministic simulated network ([`sim`]) and a
//! pcap writer ([`pcap`]).
//!
//! The simulator joins sans-IO [`ustack::Stack`]s with impaired links under
//! a virtual clock; with the same seed a run is reproducible bit for bit.

pub mod capture;
pub mod device;
pub mod emulated;
pub mod pair;
pub mod pcap;
pub mod sim;
pub mod tun;

pub use capture::Capture;
pub use device::Device;
pub use emulated::{emulated_pair, EmulatedDevice, EmulatedStats, Forwarder, ForwarderStats};
pub use pair::{pair, PairDevice};
pub use pcap::PcapWriter;
pub use sim::campaign::{run_campaign, CampaignProfile, CampaignSummary};
pub use sim::transfer::{run_transfer, TransferConfig, TransferReport};
pub use sim::{HostId, LinkConfig, Network};
pub use tun::TunDevice;
