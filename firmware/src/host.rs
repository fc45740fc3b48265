//! The host profile: `carillon-box` on embedded Linux, memory is plentiful.

/// The host profile's capacities (see the [crate docs](crate#capacity-profiles)).
mod profile {
    pub const MAX_TRANSACTIONS: usize = 48;
    pub const COMPLETED_TRANSACTIONS: usize = 64;
    pub const COMPLETED_RESPONSE_LEN: usize = 1536;
    pub const MAX_SIP_LEN: usize = 3072;
    pub const MAX_CONTEXTS: usize = 24;
    pub const MAX_CALLS: usize = 32;
    pub const MAX_BINDINGS: usize = 128;
    pub const MAX_EXTENSIONS: usize = carillon_protocol::control::MAX_SITE_EXTENSIONS as usize;
    pub const MAX_RING_GROUPS: usize = carillon_protocol::control::MAX_SITE_RING_GROUPS as usize;
    pub const CONFIG_IMAGE_LEN: usize = 80 * 1024;
    pub const STAGING_LEN: usize = CONFIG_IMAGE_LEN;
    pub const OUT_QUEUE_LEN: usize = 16;
    pub const EVENT_QUEUE_LEN: usize = 32;
    pub const UPLINK_BUFFER_LEN: usize = 8192;
    pub const MAX_LAN_STREAMS: usize = 16;
}
#[path = "gateway/mod.rs"]
pub mod gateway;
