//! The school's configuration as the box holds it: received in chunks over the control link,
//! staged, applied atomically at `ConfigEnd`, persisted through a [`ConfigStore`] so that a box
//! rebooted during an outage still knows its phones.
//!
//! The persisted image is `postcard(SiteConfig) | crc32 LE` (CRC-32/ISO-HDLC over the postcard
//! bytes): a torn or foreign image fails the CRC and is ignored at boot, never half-applied.

use carillon_protocol::control::{
    ConfigBegin, ConfigExtensions, ConfigRejectReason, ConfigRingGroups, DialPlan, Extension, FallbackTrunk, Number,
    RingGroup, SiteCode, MAX_EMERGENCY_NUMBERS,
};
use crc::{Crc, CRC_32_ISO_HDLC};
use heapless::Vec;
use serde::{Deserialize, Serialize};

pub use crate::config_store::ConfigStore;

/// Largest persisted configuration image, in bytes: a configuration at every capacity of the
/// profile encodes within it (the host's 256 extensions, 32 full ring groups, 8 emergency
/// numbers and a trunk to about 77 KiB with postcard, the microcontroller's 128 and 16 to about
/// half); a test checks that it fits. Also the size of the staging image a transfer is encoded
/// into as it arrives.
pub const CONFIG_IMAGE_LEN: usize = super::profile::CONFIG_IMAGE_LEN;
/// Extensions a configuration may have (a larger one is refused with `TooManyExtensions`).
pub const MAX_EXTENSIONS: usize = super::profile::MAX_EXTENSIONS;
/// Ring groups a configuration may have (a larger one is refused with `TooManyRingGroups`).
pub const MAX_RING_GROUPS: usize = super::profile::MAX_RING_GROUPS;

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
    pub extensions: Vec<Extension, MAX_EXTENSIONS>,
    /// Ring groups.
    pub ring_groups: Vec<RingGroup, MAX_RING_GROUPS>,
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

/// A configuration being received, kept as the image it will be persisted as: each item is
/// encoded (postcard) into the image as it arrives, in the layout of `postcard(SiteConfig)`
/// (the item counts are known from `ConfigBegin`, so each sequence's length prefix is written
/// before its items). No second [`SiteConfig`] is held: at `ConfigEnd` the image is saved, then
/// decoded into the configuration in force, in place ([`decode_into`]).
pub(crate) struct Staging {
    pub(crate) transfer: carillon_protocol::control::ConfigTransfer,
    /// The image being built; also the buffer the persisted image is loaded into at boot.
    pub(crate) image: [u8; CONFIG_IMAGE_LEN],
    pub(crate) len: usize,
    /// Whether the ring groups' length prefix is written (after the last extension).
    ring_groups_started: bool,
    ring_group_count: u16,
}

impl Staging {
    pub(crate) const fn new() -> Self {
        Staging {
            transfer: carillon_protocol::control::ConfigTransfer::new(),
            image: [0; CONFIG_IMAGE_LEN],
            len: 0,
            ring_groups_started: false,
            ring_group_count: 0,
        }
    }

    /// Appends `value`'s encoding; `false` if the image is full.
    fn put<T: Serialize + ?Sized>(&mut self, value: &T) -> bool {
        let Some(rest) = self.image.get_mut(self.len..) else { return false };
        match postcard::to_slice(value, rest) {
            Ok(written) => {
                self.len += written.len();
                true
            }
            Err(_) => false,
        }
    }

    /// `ConfigBegin`: starts over with the new version's header.
    pub(crate) fn begin(&mut self, msg: &ConfigBegin, current: Option<u32>) -> Result<(), ConfigRejectReason> {
        self.transfer.begin(msg, current)?;
        // The protocol's limits are checked by the transfer; this profile's here.
        let fail = if usize::from(msg.extension_count) > MAX_EXTENSIONS {
            Some(ConfigRejectReason::TooManyExtensions)
        } else if usize::from(msg.ring_group_count) > MAX_RING_GROUPS {
            Some(ConfigRejectReason::TooManyRingGroups)
        } else {
            None
        };
        if let Some(reason) = fail {
            self.transfer.abort();
            return Err(reason);
        }
        self.len = 0;
        self.ring_groups_started = false;
        self.ring_group_count = msg.ring_group_count;
        // `SiteConfig`'s fields in order; a sequence is its length, then its items.
        let header = (
            msg.version,
            &msg.site_code,
            &msg.dial_plan,
            &msg.emergency_numbers,
            &msg.fallback_trunk,
            u32::from(msg.extension_count),
        );
        if !self.put(&header) {
            self.transfer.abort();
            return Err(ConfigRejectReason::TooManyExtensions);
        }
        Ok(())
    }

    pub(crate) fn extensions(&mut self, msg: &ConfigExtensions) -> Result<(), ConfigRejectReason> {
        self.transfer.extensions(msg)?;
        for e in &msg.extensions {
            if !self.put(e) {
                self.transfer.abort();
                return Err(ConfigRejectReason::TooManyExtensions);
            }
        }
        Ok(())
    }

    pub(crate) fn ring_groups(&mut self, msg: &ConfigRingGroups) -> Result<(), ConfigRejectReason> {
        self.transfer.ring_groups(msg)?;
        if !self.start_ring_groups() {
            self.transfer.abort();
            return Err(ConfigRejectReason::TooManyRingGroups);
        }
        for g in &msg.ring_groups {
            if !self.put(g) {
                self.transfer.abort();
                return Err(ConfigRejectReason::TooManyRingGroups);
            }
        }
        Ok(())
    }

    fn start_ring_groups(&mut self) -> bool {
        if self.ring_groups_started {
            return true;
        }
        self.ring_groups_started = true;
        let count = u32::from(self.ring_group_count);
        self.put(&count)
    }

    /// `ConfigEnd` of a complete transfer: closes the image (the ring groups' length if none
    /// came, then the CRC) and returns it.
    pub(crate) fn finish(&mut self) -> Option<&[u8]> {
        if !self.start_ring_groups() {
            return None;
        }
        let crc = CRC32.checksum(self.image.get(..self.len)?);
        self.image.get_mut(self.len..self.len + 4)?.copy_from_slice(&crc.to_le_bytes());
        self.len += 4;
        self.image.get(..self.len)
    }
}

/// Decodes a persisted image (checked by its CRC) into `into`, in place: no `SiteConfig` is
/// built on the stack (on a microcontroller it is tens of KiB), only one item at a time. With
/// `into` `None` it only checks that the image decodes. `false` if it is torn, corrupt or of
/// another shape; `into` may then be half written (the caller checks first, or discards it).
pub(crate) fn decode_into(image: &[u8], mut into: Option<&mut SiteConfig>) -> bool {
    let Some(split) = image.len().checked_sub(4) else { return false };
    let (body, crc) = image.split_at(split);
    let Ok(crc) = <[u8; 4]>::try_from(crc) else { return false };
    if CRC32.checksum(body) != u32::from_le_bytes(crc) {
        return false;
    }
    type Header = (u32, SiteCode, DialPlan, Vec<Number, MAX_EMERGENCY_NUMBERS>, Option<FallbackTrunk>, u32);
    let Ok(((version, site_code, dial_plan, emergency_numbers, fallback_trunk, n_ext), mut rest)) =
        postcard::take_from_bytes::<Header>(body)
    else {
        return false;
    };
    if n_ext as usize > MAX_EXTENSIONS {
        return false;
    }
    if let Some(c) = into.as_deref_mut() {
        c.version = version;
        c.site_code = site_code;
        c.dial_plan = dial_plan;
        c.emergency_numbers = emergency_numbers;
        c.fallback_trunk = fallback_trunk;
        c.extensions.clear();
        c.ring_groups.clear();
    }
    for _ in 0..n_ext {
        let Ok((e, r)) = postcard::take_from_bytes::<Extension>(rest) else { return false };
        rest = r;
        if let Some(c) = into.as_deref_mut() {
            if c.extensions.push(e).is_err() {
                return false;
            }
        }
    }
    let Ok((n_rg, r)) = postcard::take_from_bytes::<u32>(rest) else { return false };
    rest = r;
    if n_rg as usize > MAX_RING_GROUPS {
        return false;
    }
    for _ in 0..n_rg {
        let Ok((g, r)) = postcard::take_from_bytes::<RingGroup>(rest) else { return false };
        rest = r;
        if let Some(c) = into.as_deref_mut() {
            if c.ring_groups.push(g).is_err() {
                return false;
            }
        }
    }
    rest.is_empty()
}

/// A configuration with nothing in it (the staging area's resting state).
pub(crate) const fn empty_config() -> SiteConfig {
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
