//! The microcontroller profile: the gateway core at the capacities of a mid-range Cortex-M7
//! (issue 7: 128 phones and 32 concurrent calls in under 192 KiB of RAM with the board's
//! network buffers). Same source and API as [`gateway`]; use
//! `carillon_firmware::mcu::gateway::Gateway` instead of `carillon_firmware::gateway::Gateway`.

/// The microcontroller profile's capacities (see the [crate docs](crate#capacity-profiles)).
mod profile {
    pub const MAX_TRANSACTIONS: usize = 18;
    pub const COMPLETED_TRANSACTIONS: usize = 32;
    pub const COMPLETED_RESPONSE_LEN: usize = 768;
    pub const MAX_SIP_LEN: usize = 2048;
    pub const MAX_CONTEXTS: usize = 12;
    pub const MAX_CALLS: usize = 32;
    pub const MAX_BINDINGS: usize = 128;
    pub const MAX_EXTENSIONS: usize = 128;
    pub const MAX_RING_GROUPS: usize = 16;
    pub const CONFIG_IMAGE_LEN: usize = 40 * 1024;
    pub const STAGING_LEN: usize = 0;
    pub const OUT_QUEUE_LEN: usize = 6;
    pub const EVENT_QUEUE_LEN: usize = 16;
    pub const UPLINK_BUFFER_LEN: usize = 4096;
    pub const MAX_LAN_STREAMS: usize = 4;
}
#[path = "gateway/mod.rs"]
pub mod gateway;
