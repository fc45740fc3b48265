//! The school's configuration as the box holds it: received in chunks over the control link,
//! staged, applied atomically at `ConfigEnd`, persisted through a [`ConfigStore`] so that a box
//! rebooted during an outage still knows its phones.
//!
//! The persisted image is `postcard(SiteConfig) | crc32 LE` (CRC-32/ISO-HDLC over the postcard
//! bytes): a torn or foreign image fails the CRC and is ignored at boot, never half-applied.

use carillon_protocol::control::{
    ConfigBegin, ConfigExtensions, ConfigRejectReason, ConfigRingGroups, DialPlan, Extension, FallbackTrunk, Number,
    RingGroup, SiteCode, MAX_EMERGENCY_NUMBERS, MAX_SITE_EXTENSIONS, MAX_SITE_RING_GROUPS,
};
use crc::{Crc, CRC_32_ISO_HDLC};
use heapless::Vec;
use serde::{Deserialize, Serialize};

/// Largest persisted configuration image, in bytes: a configuration at every capacity of the
/// control protocol (256 extensions, 32 full ring groups, 8 emergency numbers, a trunk) encodes
/// to about 77 KiB with postcard; a test checks that it fits.
pub const CONFIG_IMAGE_LEN: usize = 80 * 1024;

const CRC32: Crc<u32> = Crc::<u32>::new(&CRC_32_ISO_HDLC);

/// Built-in emergency numbers, dialled in every school (EU 112; police 101 and fire 100 as the
/// numbering plan of the schools' country has them). The configuration may add more.
pub const BUILT_IN_EMERGENCY: [&str; 3] = ["112", "101", "100"];

/// One applied configuration of a school (the contents of a `ConfigBegin` … `ConfigEnd`
/// transfer). Capacities are those of the control protocol.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SiteConfig {
    /// Version; the cloud increases it on every change.
    pub version: u32,
    /// The school's site code.
    pub site_code: SiteCode,
    /// The numbering plan.
    pub dial_plan: DialPlan,
    /// Emergency numbers besides the built-in ones.
    pub emergency_numbers: Vec<Number, MAX_EMERGENCY_NUMBERS>,
    /// Local trunk for emergency calls in survival.
    pub fallback_trunk: Option<FallbackTrunk>,
    /// The school's extensions with their HA1 credentials.
    pub extensions: Vec<Extension, { MAX_SITE_EXTENSIONS as usize }>,
    /// Ring groups.
    pub ring_groups: Vec<RingGroup, { MAX_SITE_RING_GROUPS as usize }>,
}

impl SiteConfig {
    /// The extension with this number.
    pub fn extension(&self, number: &[u8]) -> Option<&Extension> {
        self.extensions.iter().find(|e| e.number.as_bytes() == number)
    }

    /// The extension whose digest username is `username`.
    pub fn by_username(&self, username: &[u8]) -> Option<&Extension> {
        self.extensions.iter().find(|e| e.username.as_bytes() == username)
    }

    /// The ring group with this number.
    pub fn ring_group(&self, number: &[u8]) -> Option<&RingGroup> {
        self.ring_groups.iter().find(|g| g.number.as_bytes() == number)
    }

    /// Whether `number` is an emergency number: built in, or listed by the configuration.
    pub fn is_emergency(&self, number: &[u8]) -> bool {
        BUILT_IN_EMERGENCY.iter().any(|n| n.as_bytes() == number)
            || self.emergency_numbers.iter().any(|n| n.as_bytes() == number)
    }
}

/// Whether `number` is a built-in emergency number (used before any configuration arrived).
pub fn is_built_in_emergency(number: &[u8]) -> bool {
    BUILT_IN_EMERGENCY.iter().any(|n| n.as_bytes() == number)
}

/// Where the applied configuration survives a reboot: a file on Linux (write a temporary file,
/// fsync, rename: the old image stays whole until the new one is), an A/B pair of flash sectors
/// on a board.
pub trait ConfigStore {
    /// What can go wrong in the device.
    type Error: core::fmt::Debug;

    /// Replaces the stored image with `image`, atomically: after a power cut either the old or
    /// the new image is read back, never a mix (a mix would fail the CRC and lose both).
    fn save(&mut self, image: &[u8]) -> Result<(), Self::Error>;

    /// Copies the stored image into `buf` and returns its length; `Ok(0)` when nothing was ever
    /// saved. An image longer than `buf` is an error of the store.
    fn load(&mut self, buf: &mut [u8]) -> Result<usize, Self::Error>;
}

/// A [`ConfigStore`] in RAM, for simulations and tests: it survives a simulated reboot when the
/// test keeps it and hands it to the next `Gateway`.
#[derive(Clone)]
pub struct RamConfigStore {
    image: [u8; CONFIG_IMAGE_LEN],
    len: usize,
    /// Number of saves so far.
    pub saves: u32,
    /// When set, the next saves fail (to test that a failed save is reported).
    pub fail_saves: bool,
}

impl core::fmt::Debug for RamConfigStore {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "RamConfigStore({} bytes, {} saves)", self.len, self.saves)
    }
}

/// The [`RamConfigStore`] refused a save or load (injected failure, or an image too long).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RamConfigError;

impl RamConfigStore {
    /// An empty store.
    pub const fn new() -> Self {
        RamConfigStore { image: [0; CONFIG_IMAGE_LEN], len: 0, saves: 0, fail_saves: false }
    }

    /// The stored image (to corrupt it in a test).
    pub fn image_mut(&mut self) -> &mut [u8] {
        self.image.get_mut(..self.len).unwrap_or(&mut [])
    }
}

impl Default for RamConfigStore {
    fn default() -> Self {
        Self::new()
    }
}

impl ConfigStore for RamConfigStore {
    type Error = RamConfigError;

    fn save(&mut self, image: &[u8]) -> Result<(), RamConfigError> {
        if self.fail_saves {
            return Err(RamConfigError);
        }
        let dst = self.image.get_mut(..image.len()).ok_or(RamConfigError)?;
        dst.copy_from_slice(image);
        self.len = image.len();
        self.saves += 1;
        Ok(())
    }

    fn load(&mut self, buf: &mut [u8]) -> Result<usize, RamConfigError> {
        let src = self.image.get(..self.len).ok_or(RamConfigError)?;
        buf.get_mut(..self.len).ok_or(RamConfigError)?.copy_from_slice(src);
        Ok(self.len)
    }
}

/// Writes `config` as a persisted image (postcard, then the CRC) into `buf`; returns its length.
pub fn encode_image(config: &SiteConfig, buf: &mut [u8]) -> Option<usize> {
    let len = postcard::to_slice(config, buf).ok()?.len();
    let crc = CRC32.checksum(buf.get(..len)?);
    buf.get_mut(len..len + 4)?.copy_from_slice(&crc.to_le_bytes());
    Some(len + 4)
}

/// Reads a persisted image back; `None` if it is torn, corrupt or of another shape.
pub fn decode_image(image: &[u8]) -> Option<SiteConfig> {
    let split = image.len().checked_sub(4)?;
    let (body, crc) = image.split_at(split);
    let crc = u32::from_le_bytes(crc.try_into().ok()?);
    if CRC32.checksum(body) != crc {
        return None;
    }
    postcard::from_bytes(body).ok()
}

/// A configuration being received: the checks of [`ConfigTransfer`]
/// (carillon_protocol::control::ConfigTransfer) plus the items themselves.
pub(crate) struct Staging {
    pub(crate) transfer: carillon_protocol::control::ConfigTransfer,
    pub(crate) config: SiteConfig,
}

impl Staging {
    pub(crate) fn new() -> Self {
        Staging { transfer: carillon_protocol::control::ConfigTransfer::new(), config: empty_config() }
    }

    /// `ConfigBegin`: starts over with the new version's header.
    pub(crate) fn begin(&mut self, msg: &ConfigBegin, current: Option<u32>) -> Result<(), ConfigRejectReason> {
        self.transfer.begin(msg, current)?;
        let c = &mut self.config;
        c.version = msg.version;
        c.site_code = msg.site_code.clone();
        c.dial_plan = msg.dial_plan.clone();
        c.emergency_numbers = msg.emergency_numbers.clone();
        c.fallback_trunk = msg.fallback_trunk.clone();
        c.extensions.clear();
        c.ring_groups.clear();
        Ok(())
    }

    pub(crate) fn extensions(&mut self, msg: &ConfigExtensions) -> Result<(), ConfigRejectReason> {
        self.transfer.extensions(msg)?;
        for e in &msg.extensions {
            // ConfigTransfer bounds the count by MAX_SITE_EXTENSIONS, the capacity here.
            self.config.extensions.push(e.clone()).map_err(|_| ConfigRejectReason::TooManyExtensions)?;
        }
        Ok(())
    }

    pub(crate) fn ring_groups(&mut self, msg: &ConfigRingGroups) -> Result<(), ConfigRejectReason> {
        self.transfer.ring_groups(msg)?;
        for g in &msg.ring_groups {
            self.config.ring_groups.push(g.clone()).map_err(|_| ConfigRejectReason::TooManyRingGroups)?;
        }
        Ok(())
    }
}

/// A configuration with nothing in it (the staging area's resting state).
pub(crate) fn empty_config() -> SiteConfig {
    SiteConfig {
        version: 0,
        site_code: SiteCode::new(),
        dial_plan: DialPlan {
            extension_len: 3,
            on_net_prefix: carillon_protocol::control::Prefix::new(),
            outside_line_prefix: carillon_protocol::control::Prefix::new(),
        },
        emergency_numbers: Vec::new(),
        fallback_trunk: None,
        extensions: Vec::new(),
        ring_groups: Vec::new(),
    }
}
