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
/// Bytes of the gateway's own staging buffer, where a configuration transfer is put together
/// when the [`ConfigStore`] does not [stream](ConfigStore::streams) (and where its image is
/// loaded at boot): [`CONFIG_IMAGE_LEN`] in the host profile; none in the microcontroller's,
/// whose store must stream.
pub const STAGING_LEN: usize = super::profile::STAGING_LEN;

static CRC32: Crc<u32> = Crc::<u32>::new(&CRC_32_ISO_HDLC);

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
/// encoded (postcard) as it arrives, in the layout of `postcard(SiteConfig)` (the item counts
/// are known from `ConfigBegin`, so each sequence's length prefix is written before its items),
/// and goes either straight into the store (a store that [streams](ConfigStore::streams): no
/// copy of the configuration in RAM but the one in force) or into the staging buffer of
/// [`STAGING_LEN`] bytes. No second [`SiteConfig`] is held: at `ConfigEnd` the image is
/// committed, then decoded into the configuration in force, in place ([`decode_into`]).
pub(crate) struct Staging {
    pub(crate) transfer: carillon_protocol::control::ConfigTransfer,
    /// The image being built when the store does not stream; also the buffer such a store's
    /// image is loaded into at boot.
    pub(crate) image: [u8; STAGING_LEN],
    /// Bytes of the image written so far.
    pub(crate) len: usize,
    /// Whether this transfer goes to the store as it arrives.
    streaming: bool,
    /// CRC of the bytes written so far.
    crc: crc::Digest<'static, u32>,
    /// Whether the ring groups' length prefix is written (after the last extension).
    ring_groups_started: bool,
    ring_group_count: u16,
}

/// Why an item could not be staged.
enum Put {
    /// The image outgrew its room.
    Full,
    /// The store failed.
    Storage,
}

impl Staging {
    pub(crate) const fn new() -> Self {
        Staging {
            transfer: carillon_protocol::control::ConfigTransfer::new(),
            image: [0; STAGING_LEN],
            len: 0,
            streaming: false,
            crc: CRC32.digest(),
            ring_groups_started: false,
            ring_group_count: 0,
        }
    }

    /// Appends `value`'s encoding.
    fn put<T: Serialize + ?Sized, C: ConfigStore>(&mut self, store: &mut C, value: &T) -> Result<(), Put> {
        let mut piece = [0u8; ITEM_LEN];
        let bytes = postcard::to_slice(value, &mut piece).map_err(|_| Put::Full)?;
        self.put_bytes(store, bytes)
    }

    fn put_bytes<C: ConfigStore>(&mut self, store: &mut C, bytes: &[u8]) -> Result<(), Put> {
        if self.len + bytes.len() > CONFIG_IMAGE_LEN {
            return Err(Put::Full);
        }
        if self.streaming {
            store.write_image(bytes).map_err(|_| Put::Storage)?;
        } else {
            let dst = self.image.get_mut(self.len..self.len + bytes.len()).ok_or(Put::Full)?;
            dst.copy_from_slice(bytes);
        }
        self.crc.update(bytes);
        self.len += bytes.len();
        Ok(())
    }

    /// Ends the transfer after a refusal.
    fn refuse(&mut self, reason: ConfigRejectReason, e: Put) -> ConfigRejectReason {
        self.transfer.abort();
        match e {
            Put::Full => reason,
            Put::Storage => ConfigRejectReason::StorageFailed,
        }
    }

    /// `ConfigBegin`: starts over with the new version's header.
    pub(crate) fn begin<C: ConfigStore>(
        &mut self,
        store: &mut C,
        msg: &ConfigBegin,
        current: Option<u32>,
    ) -> Result<(), ConfigRejectReason> {
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
        self.crc = CRC32.digest();
        self.ring_groups_started = false;
        self.ring_group_count = msg.ring_group_count;
        self.streaming = store.streams();
        if !self.streaming && STAGING_LEN == 0 {
            // This profile keeps no staging buffer: its store must stream.
            self.transfer.abort();
            return Err(ConfigRejectReason::StorageFailed);
        }
        if self.streaming && store.begin_image().is_err() {
            return Err(self.refuse(ConfigRejectReason::StorageFailed, Put::Storage));
        }
        // `SiteConfig`'s fields in order; a sequence is its length, then its items.
        let header = (
            msg.version,
            &msg.site_code,
            &msg.dial_plan,
            &msg.emergency_numbers,
            &msg.fallback_trunk,
            u32::from(msg.extension_count),
        );
        self.put(store, &header).map_err(|e| self.refuse(ConfigRejectReason::TooManyExtensions, e))
    }

    pub(crate) fn extensions<C: ConfigStore>(
        &mut self,
        store: &mut C,
        msg: &ConfigExtensions,
    ) -> Result<(), ConfigRejectReason> {
        self.transfer.extensions(msg)?;
        for e in &msg.extensions {
            self.put(store, e).map_err(|e| self.refuse(ConfigRejectReason::TooManyExtensions, e))?;
        }
        Ok(())
    }

    pub(crate) fn ring_groups<C: ConfigStore>(
        &mut self,
        store: &mut C,
        msg: &ConfigRingGroups,
    ) -> Result<(), ConfigRejectReason> {
        self.transfer.ring_groups(msg)?;
        self.start_ring_groups(store).map_err(|e| self.refuse(ConfigRejectReason::TooManyRingGroups, e))?;
        for g in &msg.ring_groups {
            self.put(store, g).map_err(|e| self.refuse(ConfigRejectReason::TooManyRingGroups, e))?;
        }
        Ok(())
    }

    fn start_ring_groups<C: ConfigStore>(&mut self, store: &mut C) -> Result<(), Put> {
        if self.ring_groups_started {
            return Ok(());
        }
        self.ring_groups_started = true;
        self.put(store, &u32::from(self.ring_group_count))
    }

    /// `ConfigEnd` of a complete transfer: closes the image (the ring groups' length if none
    /// came, then the CRC), checks that it decodes, and persists it (commits the streamed
    /// image, or saves the staged one). `false` if any of it failed: the stored image, and
    /// the configuration in force, are then unchanged.
    pub(crate) fn finish<C: ConfigStore>(&mut self, store: &mut C) -> bool {
        if self.start_ring_groups(store).is_err() {
            return false;
        }
        let crc = core::mem::replace(&mut self.crc, CRC32.digest()).finalize();
        if self.put_bytes(store, &crc.to_le_bytes()).is_err() {
            return false;
        }
        if self.streaming {
            // Encoded from checked items; read back and checked again before it is applied.
            store.commit_image().is_ok()
        } else {
            let Some(img) = self.image.get(..self.len) else { return false };
            decode_into(&mut SliceSource(img), None) && store.save(img).is_ok()
        }
    }

    /// Decodes the image just finished (from the staging buffer, or from the store) into
    /// `into`, after checking it decodes: `false`, and `into` untouched, if not. See
    /// [`decode_into`].
    pub(crate) fn apply<C: ConfigStore>(&mut self, store: &mut C, into: &mut SiteConfig) -> bool {
        let ok = if self.streaming {
            decode_into(&mut StoreSource(store), None) && decode_into(&mut StoreSource(store), Some(into))
        } else {
            // Checked by `finish`.
            let img = self.image.get(..self.len).unwrap_or(&[]);
            decode_into(&mut SliceSource(img), Some(into))
        };
        self.len = 0;
        ok
    }

    /// Loads the persisted configuration at boot into `into`, in place: read in pieces from a
    /// store that streams, else loaded into the staging buffer. `false` if there is none or it
    /// does not decode (`into` is then to be ignored).
    pub(crate) fn load<C: ConfigStore>(&mut self, store: &mut C, into: &mut SiteConfig) -> bool {
        if store.streams() {
            return decode_into(&mut StoreSource(store), None) && decode_into(&mut StoreSource(store), Some(into));
        }
        let n = store.load(&mut self.image).unwrap_or_default();
        let ok = n > 0
            && self.image.get(..n).is_some_and(|img| {
                decode_into(&mut SliceSource(img), None) && decode_into(&mut SliceSource(img), Some(into))
            });
        self.len = 0;
        ok
    }
}

/// Where an image is read from, in pieces.
pub(crate) trait ImageSource {
    /// Copies bytes from `offset` into `buf`; how many (0 at the end); `None` on a failure.
    fn read(&mut self, offset: usize, buf: &mut [u8]) -> Option<usize>;
}

/// An image in memory.
pub(crate) struct SliceSource<'a>(pub(crate) &'a [u8]);

impl ImageSource for SliceSource<'_> {
    fn read(&mut self, offset: usize, buf: &mut [u8]) -> Option<usize> {
        let src = self.0.get(offset..).unwrap_or(&[]);
        let n = src.len().min(buf.len());
        buf.get_mut(..n)?.copy_from_slice(src.get(..n)?);
        Some(n)
    }
}

/// The image of a store that streams.
pub(crate) struct StoreSource<'a, C>(pub(crate) &'a mut C);

impl<C: ConfigStore> ImageSource for StoreSource<'_, C> {
    fn read(&mut self, offset: usize, buf: &mut [u8]) -> Option<usize> {
        self.0.read_image(offset, buf).ok()
    }
}

/// The longest encoded item of an image (the header with 8 emergency numbers and a trunk with
/// credentials, an extension, a ring group of 16): the window a decoder reads through, and the
/// buffer an item is encoded into.
const ITEM_LEN: usize = 1024;

/// A window of [`ITEM_LEN`] bytes sliding over an image's body.
struct Window<'s, S> {
    src: &'s mut S,
    buf: [u8; ITEM_LEN],
    /// Offset in the image of `buf[0]`.
    at: usize,
    filled: usize,
    pos: usize,
    /// Length of the body (the image without its CRC).
    body: usize,
}

impl<S: ImageSource> Window<'_, S> {
    /// The next item.
    fn take<T: serde::de::DeserializeOwned>(&mut self) -> Option<T> {
        // Slide: what is left to the front, then fill up from the source.
        self.buf.copy_within(self.pos..self.filled, 0);
        self.at += self.pos;
        self.filled -= self.pos;
        self.pos = 0;
        while self.filled < ITEM_LEN {
            let n = self.src.read(self.at + self.filled, self.buf.get_mut(self.filled..)?)?;
            if n == 0 {
                break;
            }
            self.filled += n;
        }
        let usable = self.filled.min(self.body.checked_sub(self.at)?);
        let window = self.buf.get(..usable)?;
        let (value, rest) = postcard::take_from_bytes::<T>(window).ok()?;
        self.pos = usable - rest.len();
        Some(value)
    }

    /// Whether the whole body was read.
    fn done(&self) -> bool {
        self.at + self.pos == self.body
    }
}

/// Checks a persisted image's CRC, then decodes it into `into`, in place: no `SiteConfig` is
/// built on the stack (on a microcontroller it is tens of KiB), only one item at a time, read
/// through a window of [`ITEM_LEN`] bytes. With `into` `None` it only checks that the image
/// decodes. `false` if it is missing, torn, corrupt or of another shape; `into` may then be
/// half written (the caller checks first, or discards it).
pub(crate) fn decode_into<S: ImageSource>(src: &mut S, mut into: Option<&mut SiteConfig>) -> bool {
    // The length and the CRC, in pieces.
    let mut chunk = [0u8; 256];
    let mut total = 0usize;
    let mut digest = CRC32.digest();
    let mut tail = [0u8; 4];
    loop {
        let Some(n) = src.read(total, &mut chunk) else { return false };
        if n == 0 {
            break;
        }
        let Some(piece) = chunk.get(..n) else { return false };
        // Every byte but the last four is CRC'd: hold the last four back.
        for &b in piece {
            if total >= 4 {
                digest.update(&tail[..1]);
            }
            tail.rotate_left(1);
            tail[3] = b;
            total += 1;
        }
        if total > CONFIG_IMAGE_LEN {
            return false;
        }
    }
    if total < 4 || digest.finalize() != u32::from_le_bytes(tail) {
        return false;
    }
    let mut w = Window { src, buf: [0; ITEM_LEN], at: 0, filled: 0, pos: 0, body: total - 4 };
    type Header = (u32, SiteCode, DialPlan, Vec<Number, MAX_EMERGENCY_NUMBERS>, Option<FallbackTrunk>, u32);
    let Some((version, site_code, dial_plan, emergency_numbers, fallback_trunk, n_ext)) = w.take::<Header>() else {
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
        let Some(e) = w.take::<Extension>() else { return false };
        if let Some(c) = into.as_deref_mut() {
            if c.extensions.push(e).is_err() {
                return false;
            }
        }
    }
    let Some(n_rg) = w.take::<u32>() else { return false };
    if n_rg as usize > MAX_RING_GROUPS {
        return false;
    }
    for _ in 0..n_rg {
        let Some(g) = w.take::<RingGroup>() else { return false };
        if let Some(c) = into.as_deref_mut() {
            if c.ring_groups.push(g).is_err() {
                return false;
            }
        }
    }
    w.done()
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
