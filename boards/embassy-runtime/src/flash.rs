//! The journal and the configuration on NOR flash.
//!
//! A board has one flash device (or, on QEMU, a RAM region with flash rules: [`RamFlash`]). It
//! is cut into [`Partition`]s that share it through a [`RefCell`] (one executor thread, no
//! interrupt touches flash): one for the call-record journal ([`FlashJournal`], the core's
//! [`Storage`]), one for the configuration ([`SlotConfigStore`], the core's [`ConfigStore`]).
//!
//! # Configuration slots
//!
//! The configuration partition holds two slots of equal size (each a whole number of erase
//! units). A save erases the older slot, writes the image after the header, then the header
//! last; a load takes the valid slot with the highest generation. A power cut during a save
//! leaves the new slot without a valid header (or with a CRC that fails), so the previous
//! image is read back whole: the atomicity [`ConfigStore::save`] asks for. The store also
//! [streams](ConfigStore::streams) (what the microcontroller profile of the core needs, having
//! no staging buffer): the same steps, the image written as it comes, the header last.
//!
//! ```text
//! slot   = header | image | 0xFF…
//! header = magic "CCFG" | generation: u32 LE | len: u32 LE | crc32(image): u32 LE  (16 bytes,
//!          padded with 0xFF to the write size)
//! ```
//!
//! [`encode_slot`] writes a slot into a buffer: what a host tool uses to put the first
//! configuration of a box into its flash image.

use core::cell::RefCell;

use carillon_firmware::config_store::ConfigStore;
use carillon_firmware::journal::{Geometry, Storage, ERASED};
use crc::{Crc, CRC_32_ISO_HDLC};
use embedded_storage::nor_flash::{ErrorType, NorFlash, NorFlashError, NorFlashErrorKind, ReadNorFlash};

static CRC32: Crc<u32> = Crc::<u32>::new(&CRC_32_ISO_HDLC);

/// Magic of a configuration slot header.
pub const SLOT_MAGIC: [u8; 4] = *b"CCFG";
/// Bytes of a slot header before padding.
pub const SLOT_HEADER_LEN: usize = 16;
/// Largest write unit a slot header is padded to (the STM32H7's 32-byte flash word).
const MAX_WRITE: usize = 32;

/// A RAM region that obeys NOR-flash rules (erase to `0xFF` by units of `ERASE`, write only
/// erased bytes, aligned to `WRITE`): the flash of a board that has none (QEMU's mps2 keeps
/// its code in SSRAM). A journal bug shows up here as an error, as on real flash.
pub struct RamFlash<const WRITE: usize, const ERASE: usize> {
    bytes: &'static mut [u8],
}

impl<const WRITE: usize, const ERASE: usize> RamFlash<WRITE, ERASE> {
    /// Flash over `bytes` (a `NOLOAD` linker section keeps it across a reset, and lets a
    /// loader put a configuration there before boot). Its length should be a multiple of
    /// `ERASE`; the tail beyond the last whole unit is not used.
    pub fn new(bytes: &'static mut [u8]) -> Self {
        let whole = bytes.len() / ERASE * ERASE;
        let (used, _) = bytes.split_at_mut(whole);
        RamFlash { bytes: used }
    }
}

/// What [`RamFlash`] refuses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RamFlashError {
    /// Past the end of the region.
    OutOfBounds,
    /// Not aligned to the write or erase size.
    NotAligned,
    /// A write to a byte that is not erased.
    NotErased,
}

impl NorFlashError for RamFlashError {
    fn kind(&self) -> NorFlashErrorKind {
        match self {
            RamFlashError::OutOfBounds => NorFlashErrorKind::OutOfBounds,
            RamFlashError::NotAligned => NorFlashErrorKind::NotAligned,
            RamFlashError::NotErased => NorFlashErrorKind::Other,
        }
    }
}

impl<const WRITE: usize, const ERASE: usize> ErrorType for RamFlash<WRITE, ERASE> {
    type Error = RamFlashError;
}

impl<const WRITE: usize, const ERASE: usize> ReadNorFlash for RamFlash<WRITE, ERASE> {
    const READ_SIZE: usize = 1;

    fn read(&mut self, offset: u32, bytes: &mut [u8]) -> Result<(), RamFlashError> {
        let start = offset as usize;
        let src = start
            .checked_add(bytes.len())
            .and_then(|end| self.bytes.get(start..end))
            .ok_or(RamFlashError::OutOfBounds)?;
        bytes.copy_from_slice(src);
        Ok(())
    }

    fn capacity(&self) -> usize {
        self.bytes.len()
    }
}

impl<const WRITE: usize, const ERASE: usize> NorFlash for RamFlash<WRITE, ERASE> {
    const WRITE_SIZE: usize = WRITE;
    const ERASE_SIZE: usize = ERASE;

    fn erase(&mut self, from: u32, to: u32) -> Result<(), RamFlashError> {
        let (from, to) = (from as usize, to as usize);
        if from % ERASE != 0 || to % ERASE != 0 || from > to {
            return Err(RamFlashError::NotAligned);
        }
        self.bytes.get_mut(from..to).ok_or(RamFlashError::OutOfBounds)?.fill(ERASED);
        Ok(())
    }

    fn write(&mut self, offset: u32, bytes: &[u8]) -> Result<(), RamFlashError> {
        let start = offset as usize;
        if start % WRITE != 0 || bytes.len() % WRITE != 0 {
            return Err(RamFlashError::NotAligned);
        }
        let dst = start
            .checked_add(bytes.len())
            .and_then(|end| self.bytes.get_mut(start..end))
            .ok_or(RamFlashError::OutOfBounds)?;
        if dst.iter().any(|&b| b != ERASED) {
            return Err(RamFlashError::NotErased);
        }
        dst.copy_from_slice(bytes);
        Ok(())
    }
}

/// What a [`Partition`] refuses, or its flash's error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PartitionError<E> {
    /// Past the end of the partition.
    OutOfBounds,
    /// The flash is in use by another partition's operation (a bug: operations don't nest).
    Busy,
    /// The flash failed.
    Flash(E),
}

/// A window `[base, base + len)` of a flash shared with other partitions.
pub struct Partition<'a, F> {
    flash: &'a RefCell<F>,
    base: u32,
    len: u32,
}

impl<'a, F: NorFlash> Partition<'a, F> {
    /// The window `[base, base + len)` of `flash`; both should be multiples of the erase size
    /// (the journal and the slots check their geometry against it).
    pub fn new(flash: &'a RefCell<F>, base: u32, len: u32) -> Self {
        Partition { flash, base, len }
    }

    /// Size of the partition in bytes.
    pub fn len(&self) -> u32 {
        self.len
    }

    /// Whether the partition has no bytes.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    fn at(&self, offset: u32, n: usize) -> Result<u32, PartitionError<F::Error>> {
        let n = u32::try_from(n).map_err(|_| PartitionError::OutOfBounds)?;
        match offset.checked_add(n) {
            Some(end) if end <= self.len => Ok(self.base + offset),
            _ => Err(PartitionError::OutOfBounds),
        }
    }

    /// Reads `buf.len()` bytes at `offset`.
    pub fn read(&mut self, offset: u32, buf: &mut [u8]) -> Result<(), PartitionError<F::Error>> {
        let at = self.at(offset, buf.len())?;
        let mut flash = self.flash.try_borrow_mut().map_err(|_| PartitionError::Busy)?;
        flash.read(at, buf).map_err(PartitionError::Flash)
    }

    /// Writes `data` at `offset` (erased bytes, write-size aligned).
    pub fn write(&mut self, offset: u32, data: &[u8]) -> Result<(), PartitionError<F::Error>> {
        let at = self.at(offset, data.len())?;
        let mut flash = self.flash.try_borrow_mut().map_err(|_| PartitionError::Busy)?;
        flash.write(at, data).map_err(PartitionError::Flash)
    }

    /// Erases `[offset, offset + len)` (erase-size aligned).
    pub fn erase(&mut self, offset: u32, len: u32) -> Result<(), PartitionError<F::Error>> {
        let at = self.at(offset, len as usize)?;
        let mut flash = self.flash.try_borrow_mut().map_err(|_| PartitionError::Busy)?;
        flash.erase(at, at + len).map_err(PartitionError::Flash)
    }
}

/// The call-record journal's [`Storage`] on a flash partition: sectors are the flash's erase
/// units, writes its write units.
pub struct FlashJournal<'a, F>(pub Partition<'a, F>);

impl<F: NorFlash> Storage for FlashJournal<'_, F> {
    type Error = PartitionError<F::Error>;

    fn geometry(&self) -> Geometry {
        Geometry { capacity: self.0.len, sector_size: F::ERASE_SIZE as u32, write_size: F::WRITE_SIZE as u32 }
    }

    fn read(&mut self, offset: u32, buf: &mut [u8]) -> Result<(), Self::Error> {
        self.0.read(offset, buf)
    }

    fn write(&mut self, offset: u32, data: &[u8]) -> Result<(), Self::Error> {
        self.0.write(offset, data)
    }

    fn erase_sector(&mut self, sector: u32) -> Result<(), Self::Error> {
        let size = F::ERASE_SIZE as u32;
        let offset = sector.checked_mul(size).ok_or(PartitionError::OutOfBounds)?;
        self.0.erase(offset, size)
    }
}

/// Why a slot could not be saved or loaded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SlotError<E> {
    /// The image does not fit a slot (or the caller's buffer, on load).
    TooLarge,
    /// The partition cannot hold two slots of whole erase units.
    BadGeometry,
    /// `write_image` or `commit_image` without a `begin_image` before it.
    NotBegun,
    /// The flash failed.
    Flash(PartitionError<E>),
}

/// A valid slot header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SlotHeader {
    /// Higher is newer.
    pub generation: u32,
    /// Bytes of the image.
    pub len: u32,
    /// CRC-32/ISO-HDLC of the image.
    pub crc: u32,
}

impl SlotHeader {
    /// The header's bytes.
    pub fn to_bytes(&self) -> [u8; SLOT_HEADER_LEN] {
        let mut h = [0u8; SLOT_HEADER_LEN];
        let (magic, rest) = h.split_at_mut(4);
        magic.copy_from_slice(&SLOT_MAGIC);
        let (generation, rest) = rest.split_at_mut(4);
        generation.copy_from_slice(&self.generation.to_le_bytes());
        let (len, crc) = rest.split_at_mut(4);
        len.copy_from_slice(&self.len.to_le_bytes());
        crc.copy_from_slice(&self.crc.to_le_bytes());
        h
    }

    /// A header read back; `None` unless the magic is there (erased or foreign bytes).
    pub fn parse(bytes: &[u8; SLOT_HEADER_LEN]) -> Option<SlotHeader> {
        let word = |i: usize| -> Option<u32> { Some(u32::from_le_bytes(bytes.get(i..i + 4)?.try_into().ok()?)) };
        if bytes.get(..4)? != SLOT_MAGIC {
            return None;
        }
        Some(SlotHeader { generation: word(4)?, len: word(8)?, crc: word(12)? })
    }
}

/// Writes a whole slot (header padded to `write_size`, then the image) into `out`, for a host
/// tool that prepares a flash image; returns the bytes used. `None` if `out` is too short or
/// `write_size` is over 32 or not a power of two.
pub fn encode_slot(generation: u32, image: &[u8], write_size: usize, out: &mut [u8]) -> Option<usize> {
    if write_size == 0 || !write_size.is_power_of_two() || write_size > MAX_WRITE {
        return None;
    }
    let data_at = header_span(write_size);
    let header =
        SlotHeader { generation, len: u32::try_from(image.len()).ok()?, crc: CRC32.checksum(image) }.to_bytes();
    let end = data_at.checked_add(image.len())?;
    out.get_mut(..data_at)?.fill(ERASED);
    out.get_mut(..SLOT_HEADER_LEN)?.copy_from_slice(&header);
    out.get_mut(data_at..end)?.copy_from_slice(image);
    Some(end)
}

/// Bytes the header takes in a slot: 16, rounded up to the write size.
const fn header_span(write_size: usize) -> usize {
    SLOT_HEADER_LEN.div_ceil(write_size) * write_size
}

/// The core's [`ConfigStore`] in two A/B slots of a flash partition (see the [module
/// docs](self) for the layout and why a save is atomic).
///
/// It [streams](ConfigStore::streams): an image is written into the older slot as it comes
/// ([`ConfigStore::begin_image`] erases that slot, [`ConfigStore::write_image`] writes whole
/// write units and keeps the CRC running, [`ConfigStore::commit_image`] pads the last unit
/// with `0xFF` and writes the header last), so no copy of the image is kept in RAM; a power
/// cut before the header leaves the previous image in force, as with [`ConfigStore::save`].
pub struct SlotConfigStore<'a, F> {
    part: Partition<'a, F>,
    /// The image being written, between `begin_image` and `commit_image`.
    pending: Option<Pending>,
    /// The newest valid slot, once looked for (only this store writes the partition).
    newest: Option<Option<(u32, SlotHeader)>>,
}

/// An image being streamed into a slot.
struct Pending {
    slot: u32,
    generation: u32,
    /// Image bytes taken so far (whole write units written, plus `tail`).
    len: u32,
    /// Bytes of the last, unfinished write unit.
    tail: [u8; MAX_WRITE],
    crc: crc::Digest<'static, u32>,
}

impl<'a, F: NorFlash> SlotConfigStore<'a, F> {
    /// The store over `part`, which must hold two slots of at least one erase unit each.
    pub fn new(part: Partition<'a, F>) -> Self {
        SlotConfigStore { part, pending: None, newest: None }
    }

    /// The newest valid slot (index and header), from the cache or the flash.
    fn newest(&mut self, slot: u32) -> Result<Option<(u32, SlotHeader)>, PartitionError<F::Error>> {
        if let Some(n) = self.newest {
            return Ok(n);
        }
        let [a, b] = self.headers(slot)?;
        let n = match (a, b) {
            (Some(a), Some(b)) if b.generation > a.generation => Some((1, b)),
            (Some(a), _) => Some((0, a)),
            (None, Some(b)) => Some((1, b)),
            (None, None) => None,
        };
        self.newest = Some(n);
        Ok(n)
    }

    /// The slot a new image goes to (the older or the invalid one) and its generation.
    fn target(&mut self, slot: u32) -> Result<(u32, u32), PartitionError<F::Error>> {
        let [a, b] = self.headers(slot)?;
        Ok(match (a, b) {
            (Some(a), Some(b)) if a.generation >= b.generation => (1, a.generation.wrapping_add(1)),
            (Some(a), None) => (1, a.generation.wrapping_add(1)),
            (_, Some(b)) => (0, b.generation.wrapping_add(1)),
            (None, None) => (0, 1),
        })
    }

    fn slot_size(&self) -> Option<u32> {
        let erase = F::ERASE_SIZE as u32;
        let size = self.part.len / 2 / erase * erase;
        (size > 0 && F::WRITE_SIZE <= MAX_WRITE).then_some(size)
    }

    /// The header of slot `i` if it is valid and its image passes the CRC.
    fn valid(&mut self, i: u32, slot: u32) -> Result<Option<SlotHeader>, PartitionError<F::Error>> {
        let mut raw = [0u8; SLOT_HEADER_LEN];
        self.part.read(i * slot, &mut raw)?;
        let Some(h) = SlotHeader::parse(&raw) else { return Ok(None) };
        let data_at = header_span(F::WRITE_SIZE) as u32;
        if h.len > slot.saturating_sub(data_at) {
            return Ok(None);
        }
        // CRC the image in pieces: no buffer of a slot's size on the stack.
        let mut digest = CRC32.digest();
        let mut chunk = [0u8; 256];
        let mut done = 0u32;
        while done < h.len {
            let n = (h.len - done).min(chunk.len() as u32) as usize;
            let piece = chunk.get_mut(..n).unwrap_or(&mut []);
            self.part.read(i * slot + data_at + done, piece)?;
            digest.update(piece);
            done += n as u32;
        }
        Ok((digest.finalize() == h.crc).then_some(h))
    }

    /// Both slots' valid headers.
    fn headers(&mut self, slot: u32) -> Result<[Option<SlotHeader>; 2], PartitionError<F::Error>> {
        Ok([self.valid(0, slot)?, self.valid(1, slot)?])
    }
}

impl<F: NorFlash> ConfigStore for SlotConfigStore<'_, F> {
    type Error = SlotError<F::Error>;

    fn save(&mut self, image: &[u8]) -> Result<(), Self::Error> {
        let slot = self.slot_size().ok_or(SlotError::BadGeometry)?;
        let write = F::WRITE_SIZE;
        let data_at = header_span(write);
        if image.len() > (slot as usize).saturating_sub(data_at) {
            return Err(SlotError::TooLarge);
        }
        // Write over the older (or the invalid) slot; the newer one stays whole meanwhile.
        let (target, generation) = self.target(slot).map_err(SlotError::Flash)?;
        self.pending = None;
        self.newest = None;
        let base = target * slot;
        self.part.erase(base, slot).map_err(SlotError::Flash)?;
        // The image in write-size pieces; the last one padded with erased bytes.
        let mut piece = [ERASED; MAX_WRITE];
        let piece = piece.get_mut(..write).ok_or(SlotError::BadGeometry)?;
        let mut at = base + data_at as u32;
        for chunk in image.chunks(write) {
            piece.fill(ERASED);
            piece.get_mut(..chunk.len()).ok_or(SlotError::BadGeometry)?.copy_from_slice(chunk);
            self.part.write(at, piece).map_err(SlotError::Flash)?;
            at += write as u32;
        }
        // The header last: until it lands, the slot is invalid and the older one is loaded.
        let header = SlotHeader { generation, len: image.len() as u32, crc: CRC32.checksum(image) }.to_bytes();
        let mut head = [ERASED; 2 * MAX_WRITE];
        let head = head.get_mut(..data_at).ok_or(SlotError::BadGeometry)?;
        head.get_mut(..SLOT_HEADER_LEN).ok_or(SlotError::BadGeometry)?.copy_from_slice(&header);
        self.part.write(base, head).map_err(SlotError::Flash)
    }

    fn load(&mut self, buf: &mut [u8]) -> Result<usize, Self::Error> {
        let slot = self.slot_size().ok_or(SlotError::BadGeometry)?;
        let Some((i, h)) = self.newest(slot).map_err(SlotError::Flash)? else { return Ok(0) };
        let dst = buf.get_mut(..h.len as usize).ok_or(SlotError::TooLarge)?;
        self.part.read(i * slot + header_span(F::WRITE_SIZE) as u32, dst).map_err(SlotError::Flash)?;
        Ok(h.len as usize)
    }

    fn streams(&self) -> bool {
        true
    }

    fn begin_image(&mut self) -> Result<(), Self::Error> {
        let slot = self.slot_size().ok_or(SlotError::BadGeometry)?;
        self.pending = None;
        // Before the erase: the newest image stays the one read until the commit.
        self.newest(slot).map_err(SlotError::Flash)?;
        let (target, generation) = self.target(slot).map_err(SlotError::Flash)?;
        self.part.erase(target * slot, slot).map_err(SlotError::Flash)?;
        self.pending =
            Some(Pending { slot: target, generation, len: 0, tail: [ERASED; MAX_WRITE], crc: CRC32.digest() });
        Ok(())
    }

    fn write_image(&mut self, mut bytes: &[u8]) -> Result<(), Self::Error> {
        let slot = self.slot_size().ok_or(SlotError::BadGeometry)?;
        let write = F::WRITE_SIZE;
        let data_at = header_span(write) as u32;
        let Some(p) = self.pending.as_mut() else { return Err(SlotError::NotBegun) };
        let room = slot.saturating_sub(data_at).saturating_sub(p.len);
        let n = u32::try_from(bytes.len()).map_err(|_| SlotError::TooLarge)?;
        if n > room {
            return Err(SlotError::TooLarge);
        }
        p.crc.update(bytes);
        while !bytes.is_empty() {
            let fill = p.len as usize % write;
            let n = (write - fill).min(bytes.len());
            let (now, rest) = bytes.split_at(n);
            p.tail.get_mut(fill..fill + n).ok_or(SlotError::BadGeometry)?.copy_from_slice(now);
            p.len += n as u32;
            bytes = rest;
            if fill + n == write {
                // A whole write unit: to flash, at the unit it fills.
                let at = p.slot * slot + data_at + (p.len - write as u32);
                let unit = p.tail.get(..write).ok_or(SlotError::BadGeometry)?;
                self.part.write(at, unit).map_err(SlotError::Flash)?;
                p.tail = [ERASED; MAX_WRITE];
            }
        }
        Ok(())
    }

    fn commit_image(&mut self) -> Result<(), Self::Error> {
        let slot = self.slot_size().ok_or(SlotError::BadGeometry)?;
        let write = F::WRITE_SIZE;
        let data_at = header_span(write);
        let Some(p) = self.pending.take() else { return Err(SlotError::NotBegun) };
        let base = p.slot * slot;
        let fill = p.len as usize % write;
        if fill > 0 {
            // The last unit, padded with erased bytes.
            let at = base + data_at as u32 + (p.len - fill as u32);
            let unit = p.tail.get(..write).ok_or(SlotError::BadGeometry)?;
            self.part.write(at, unit).map_err(SlotError::Flash)?;
        }
        // The header last: until it lands, the slot is invalid and the older one is read.
        let header = SlotHeader { generation: p.generation, len: p.len, crc: p.crc.finalize() };
        let mut head = [ERASED; 2 * MAX_WRITE];
        let head = head.get_mut(..data_at).ok_or(SlotError::BadGeometry)?;
        head.get_mut(..SLOT_HEADER_LEN).ok_or(SlotError::BadGeometry)?.copy_from_slice(&header.to_bytes());
        self.newest = None;
        self.part.write(base, head).map_err(SlotError::Flash)?;
        self.newest = Some(Some((p.slot, header)));
        Ok(())
    }

    fn read_image(&mut self, offset: usize, buf: &mut [u8]) -> Result<usize, Self::Error> {
        let slot = self.slot_size().ok_or(SlotError::BadGeometry)?;
        let Some((i, h)) = self.newest(slot).map_err(SlotError::Flash)? else { return Ok(0) };
        let len = h.len as usize;
        if offset >= len {
            return Ok(0);
        }
        let n = (len - offset).min(buf.len());
        let dst = buf.get_mut(..n).ok_or(SlotError::TooLarge)?;
        let at = i * slot + header_span(F::WRITE_SIZE) as u32 + offset as u32;
        self.part.read(at, dst).map_err(SlotError::Flash)?;
        Ok(n)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    extern crate std;
    use std::boxed::Box;
    use std::vec;

    use carillon_firmware::journal::Journal;

    use super::*;

    type Flash = RamFlash<4, 4096>;

    fn flash(len: usize) -> &'static RefCell<Flash> {
        let bytes: &'static mut [u8] = Box::leak(vec![0u8; len].into_boxed_slice());
        Box::leak(Box::new(RefCell::new(RamFlash::new(bytes))))
    }

    fn store(f: &'static RefCell<Flash>) -> SlotConfigStore<'static, Flash> {
        SlotConfigStore::new(Partition::new(f, 0, 16 * 1024))
    }

    fn load(s: &mut SlotConfigStore<'_, Flash>) -> std::vec::Vec<u8> {
        let mut buf = [0u8; 8192];
        let n = s.load(&mut buf).unwrap();
        buf[..n].to_vec()
    }

    #[test]
    fn an_empty_or_foreign_partition_loads_nothing() {
        let f = flash(16 * 1024);
        assert_eq!(load(&mut store(f)), b"");
    }

    #[test]
    fn saves_alternate_slots_and_the_newest_is_loaded_after_a_reboot() {
        let f = flash(16 * 1024);
        let mut s = store(f);
        s.save(b"first image").unwrap();
        s.save(b"second, longer image").unwrap();
        s.save(b"third").unwrap();
        // A new store over the same flash (a reboot) reads the last save.
        assert_eq!(load(&mut store(f)), b"third");
        // Both slots hold a valid image: the third save went over the first's slot.
        let mut raw = [0u8; SLOT_HEADER_LEN];
        f.borrow_mut().read(0, &mut raw).unwrap();
        assert_eq!(SlotHeader::parse(&raw).unwrap().generation, 3);
        f.borrow_mut().read(8192, &mut raw).unwrap();
        assert_eq!(SlotHeader::parse(&raw).unwrap().generation, 2);
    }

    #[test]
    fn a_save_cut_before_its_header_leaves_the_previous_image() {
        let f = flash(16 * 1024);
        let mut s = store(f);
        s.save(b"good").unwrap();
        // The next save erases slot 1 and writes its image; power fails before the header.
        f.borrow_mut().erase(8192, 16384).unwrap();
        f.borrow_mut().write(8192 + 16, b"half").unwrap();
        assert_eq!(load(&mut store(f)), b"good");
    }

    #[test]
    fn a_corrupt_newer_slot_falls_back_to_the_older_one() {
        let f = flash(16 * 1024);
        let mut s = store(f);
        s.save(b"older").unwrap();
        s.save(b"newer").unwrap();
        // Flip a bit of the newer image (slot 1): its CRC fails.
        f.borrow_mut().bytes[8192 + 16] ^= 1;
        assert_eq!(load(&mut store(f)), b"older");
    }

    #[test]
    fn an_image_larger_than_a_slot_is_refused_and_nothing_changes() {
        let f = flash(16 * 1024);
        let mut s = store(f);
        s.save(b"kept").unwrap();
        assert_eq!(s.save(&[7u8; 8192]), Err(SlotError::TooLarge));
        assert_eq!(load(&mut s), b"kept");
    }

    #[test]
    fn a_host_encoded_slot_is_what_the_store_loads() {
        let f = flash(16 * 1024);
        let mut slot = [0u8; 64];
        let n = encode_slot(1, b"from the provisioning tool", 4, &mut slot).unwrap();
        f.borrow_mut().erase(0, 16 * 1024).unwrap();
        f.borrow_mut().write(0, &slot[..n.div_ceil(4) * 4]).unwrap();
        assert_eq!(load(&mut store(f)), b"from the provisioning tool");
        // And a save after it goes to the other slot, newer.
        let mut s = store(f);
        s.save(b"from the cloud").unwrap();
        assert_eq!(load(&mut store(f)), b"from the cloud");
    }

    fn read_all(s: &mut SlotConfigStore<'_, Flash>, piece: usize) -> std::vec::Vec<u8> {
        let mut out = std::vec::Vec::new();
        let mut buf = vec![0u8; piece];
        loop {
            let n = s.read_image(out.len(), &mut buf).unwrap();
            if n == 0 {
                return out;
            }
            out.extend_from_slice(&buf[..n]);
        }
    }

    fn stream(s: &mut SlotConfigStore<'_, Flash>, image: &[u8], piece: usize) {
        s.begin_image().unwrap();
        for chunk in image.chunks(piece) {
            s.write_image(chunk).unwrap();
        }
        s.commit_image().unwrap();
    }

    #[test]
    fn a_streamed_image_in_odd_pieces_is_read_back_whole_after_a_reboot() {
        let f = flash(16 * 1024);
        let mut s = store(f);
        assert!(s.streams());
        assert_eq!(read_all(&mut s, 7), b"");
        let image: std::vec::Vec<u8> = (0..3001u32).map(|i| (i * 7 + i / 251) as u8).collect();
        // Pieces of 1, 3 and 5 bytes: none aligned to the 4-byte write unit.
        for piece in [1, 3, 5] {
            stream(&mut s, &image[..image.len() - piece], piece);
            assert_eq!(read_all(&mut s, 13), &image[..image.len() - piece]);
            assert_eq!(read_all(&mut store(f), 1000), &image[..image.len() - piece]);
            // `load` gives the same image.
            assert_eq!(load(&mut store(f)), &image[..image.len() - piece]);
        }
        // Past the end: nothing.
        let mut buf = [0u8; 8];
        assert_eq!(s.read_image(5000, &mut buf).unwrap(), 0);
    }

    #[test]
    fn a_stream_cut_before_its_header_keeps_the_old_image() {
        let f = flash(16 * 1024);
        let mut s = store(f);
        stream(&mut s, b"the old image", 4);
        // A new image, written but never committed (power cut before the header).
        s.begin_image().unwrap();
        s.write_image(b"the new image, longer than the old").unwrap();
        // Until the commit the old image is what is read, from this store and after a reboot.
        assert_eq!(read_all(&mut s, 64), b"the old image");
        assert_eq!(read_all(&mut store(f), 64), b"the old image");
        assert_eq!(load(&mut store(f)), b"the old image");
        // The commit makes it the stored one.
        s.commit_image().unwrap();
        assert_eq!(read_all(&mut store(f), 64), b"the new image, longer than the old");
    }

    #[test]
    fn a_stream_with_a_torn_unit_fails_its_crc_and_the_old_image_stays() {
        let f = flash(16 * 1024);
        let mut s = store(f);
        stream(&mut s, b"older", 4);
        stream(&mut s, b"newer image", 4);
        // The newer (slot 1) image's bytes damaged, as a write cut half-way could leave them.
        f.borrow_mut().bytes[8192 + 16 + 2] ^= 0x10;
        assert_eq!(read_all(&mut store(f), 64), b"older");
    }

    #[test]
    fn a_restarted_stream_drops_the_unfinished_one_and_keeps_the_slot_in_force() {
        let f = flash(16 * 1024);
        let mut s = store(f);
        stream(&mut s, b"first", 4);
        stream(&mut s, b"second", 4);
        s.begin_image().unwrap();
        s.write_image(b"abandoned").unwrap();
        // Begun again: the older slot (generation 1) is erased again, the newest stays.
        stream(&mut s, b"third", 2);
        assert_eq!(read_all(&mut store(f), 64), b"third");
        let mut raw = [0u8; SLOT_HEADER_LEN];
        f.borrow_mut().read(0, &mut raw).unwrap();
        assert_eq!(SlotHeader::parse(&raw).unwrap().generation, 3);
        f.borrow_mut().read(8192, &mut raw).unwrap();
        assert_eq!(SlotHeader::parse(&raw).unwrap().generation, 2);
    }

    #[test]
    fn a_stream_larger_than_a_slot_is_refused_and_the_old_image_stays() {
        let f = flash(16 * 1024);
        let mut s = store(f);
        stream(&mut s, b"kept", 4);
        s.begin_image().unwrap();
        s.write_image(&[1u8; 8000]).unwrap();
        // 8192 - 16 bytes of room: the next 200 do not fit, and nothing of them is written.
        assert_eq!(s.write_image(&[2u8; 200]), Err(SlotError::TooLarge));
        assert_eq!(read_all(&mut s, 64), b"kept");
        assert_eq!(read_all(&mut store(f), 64), b"kept");
        // Writes without a begin are refused.
        let mut fresh = store(f);
        assert_eq!(fresh.write_image(b"x"), Err(SlotError::NotBegun));
        assert_eq!(fresh.commit_image(), Err(SlotError::NotBegun));
    }

    #[test]
    fn streams_on_32_byte_flash_words() {
        type Wide = RamFlash<32, 4096>;
        let bytes: &'static mut [u8] = Box::leak(vec![0u8; 16 * 1024].into_boxed_slice());
        let f: &'static RefCell<Wide> = Box::leak(Box::new(RefCell::new(RamFlash::new(bytes))));
        let mut s = SlotConfigStore::new(Partition::new(f, 0, 16 * 1024));
        let image: std::vec::Vec<u8> = (0..1000u32).map(|i| i as u8).collect();
        s.begin_image().unwrap();
        for chunk in image.chunks(33) {
            s.write_image(chunk).unwrap();
        }
        s.commit_image().unwrap();
        let mut back = vec![0u8; 2000];
        let mut again = SlotConfigStore::new(Partition::new(f, 0, 16 * 1024));
        assert_eq!(again.read_image(0, &mut back).unwrap(), 1000);
        assert_eq!(&back[..1000], &image[..]);
    }

    #[test]
    fn ram_flash_enforces_flash_rules() {
        let f = flash(8192);
        let mut f = f.borrow_mut();
        f.erase(0, 4096).unwrap();
        f.write(0, b"abcd").unwrap();
        assert_eq!(f.write(0, b"abcd"), Err(RamFlashError::NotErased));
        assert_eq!(f.write(2, b"abcd"), Err(RamFlashError::NotAligned));
        assert_eq!(f.erase(0, 100), Err(RamFlashError::NotAligned));
        assert_eq!(f.write(8192, b"abcd"), Err(RamFlashError::OutOfBounds));
    }

    #[test]
    fn the_journal_keeps_its_records_across_a_reopen_on_a_partition() {
        let f = flash(64 * 1024);
        let part = || FlashJournal(Partition::new(f, 16 * 1024, 32 * 1024));
        // The region starts as zeros (QEMU's RAM), not erased: the journal copes.
        let mut j = Journal::open(part()).unwrap();
        assert_eq!(j.next_seq(), 1);
        use carillon_protocol::control::{bounded, BoxId, CallOutcome, CallRecord, Mode, UnixTime};
        let at = |secs| UnixTime { secs, millis: 0 };
        let record = CallRecord {
            box_id: BoxId(1),
            seq: 0,
            caller: bounded("101").unwrap(),
            callee: bounded("102").unwrap(),
            start: at(1),
            answer: None,
            end: at(2),
            outcome: CallOutcome::NoAnswer,
            duration_ms: 0,
            mode: Mode::Survival,
        };
        assert_eq!(j.append(record.clone()).unwrap(), 1);
        assert_eq!(j.append(record).unwrap(), 2);
        let _ = j.into_storage();
        let mut j = Journal::open(part()).unwrap();
        assert_eq!(j.unacked(), 2);
        assert_eq!(j.pending(10).unwrap().unwrap().records.len(), 2);
    }
}
