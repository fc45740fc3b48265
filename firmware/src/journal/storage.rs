//! The storage under the journal: a region with the rules of NOR flash.

use core::fmt;

/// The value of an erased byte (NOR flash erases to all ones).
pub const ERASED: u8 = 0xFF;
/// Largest write unit the journal supports, in bytes (STM32H7 flash words are 32 bytes).
pub const MAX_WRITE_SIZE: u32 = 32;

/// The shape of a storage region.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Geometry {
    /// Size of the region in bytes; a multiple of `sector_size`.
    pub capacity: u32,
    /// Size of an erase unit in bytes; a multiple of `write_size`.
    pub sector_size: u32,
    /// Write unit in bytes, a power of two: every write starts at a multiple of it and has a
    /// length that is a multiple of it.
    pub write_size: u32,
}

/// A region the journal keeps its frames in, with the rules of NOR flash, which a file or RAM
/// obeys just as well:
///
/// - it is divided into sectors of [`Geometry::sector_size`]; erasing a sector sets all its
///   bytes to [`ERASED`];
/// - a byte is written at most once between two erases of its sector, and writes are aligned
///   to [`Geometry::write_size`] (the journal pads its frames with `ERASED` bytes);
/// - a write that returned `Ok` is durable (a file implementation syncs before returning); a
///   write cut by power loss may leave any prefix of its bytes written.
///
/// The journal only appends: it writes at the end of what it wrote before and never rewrites.
/// A file-backed implementation (Linux runtime) and a flash one (boards) map these calls one to
/// one onto `pread`/`pwrite`+`fdatasync` and onto the flash driver.
pub trait Storage {
    /// What can go wrong in the device.
    type Error: fmt::Debug;

    /// The region's shape. Must not change while a journal uses the storage.
    fn geometry(&self) -> Geometry;

    /// Fills `buf` from `offset`.
    fn read(&mut self, offset: u32, buf: &mut [u8]) -> Result<(), Self::Error>;

    /// Writes `data` at `offset`, into erased bytes only, aligned to the write size.
    fn write(&mut self, offset: u32, data: &[u8]) -> Result<(), Self::Error>;

    /// Erases sector number `sector` (bytes `sector * sector_size ..`).
    fn erase_sector(&mut self, sector: u32) -> Result<(), Self::Error>;
}

/// What a [`RamStorage`] refuses (each is a misuse the journal must not commit, or an injected
/// power cut).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum RamError {
    /// The access runs past the end of the region.
    OutOfBounds,
    /// A write not aligned to the write size.
    Misaligned,
    /// A write to a byte that is not erased.
    NotErased,
    /// Power was cut (see [`RamStorage::cut_power_after`]); part of the write may have landed.
    PowerCut,
}

/// A region of `N` bytes in memory, for tests and simulations. It enforces the flash rules of
/// [`Storage`] (so a journal bug shows up as an error) and can cut power in the middle of a
/// write.
#[derive(Clone)]
pub struct RamStorage<const N: usize> {
    bytes: [u8; N],
    geometry: Geometry,
    power_budget: Option<usize>,
    erases: u32,
}

impl<const N: usize> fmt::Debug for RamStorage<N> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RamStorage")
            .field("geometry", &self.geometry)
            .field("power_budget", &self.power_budget)
            .field("erases", &self.erases)
            .finish_non_exhaustive()
    }
}

impl<const N: usize> RamStorage<N> {
    /// An erased region of `N` bytes. The geometry is checked when a journal opens it.
    pub const fn new(sector_size: u32, write_size: u32) -> Self {
        Self {
            bytes: [ERASED; N],
            // A region over 4 GiB is not addressable; the journal then refuses the geometry.
            geometry: Geometry { capacity: if N > u32::MAX as usize { 0 } else { N as u32 }, sector_size, write_size },
            power_budget: None,
            erases: 0,
        }
    }

    /// The region's bytes, to inspect.
    pub fn image(&self) -> &[u8] {
        &self.bytes
    }

    /// The region's bytes, to damage on purpose (a torn write, a flipped bit).
    pub fn image_mut(&mut self) -> &mut [u8] {
        &mut self.bytes
    }

    /// After `bytes` more bytes are written, power fails: the write in progress keeps only its
    /// first bytes up to the budget and returns [`RamError::PowerCut`], as does every later
    /// write or erase until [`restore_power`](Self::restore_power).
    pub fn cut_power_after(&mut self, bytes: usize) {
        self.power_budget = Some(bytes);
    }

    /// Ends a power cut.
    pub fn restore_power(&mut self) {
        self.power_budget = None;
    }

    /// Sectors erased so far.
    pub fn erase_count(&self) -> u32 {
        self.erases
    }
}

impl<const N: usize> Storage for RamStorage<N> {
    type Error = RamError;

    fn geometry(&self) -> Geometry {
        self.geometry
    }

    fn read(&mut self, offset: u32, buf: &mut [u8]) -> Result<(), RamError> {
        let start = offset as usize;
        let end = start.checked_add(buf.len()).ok_or(RamError::OutOfBounds)?;
        let src = self.bytes.get(start..end).ok_or(RamError::OutOfBounds)?;
        buf.copy_from_slice(src);
        Ok(())
    }

    fn write(&mut self, offset: u32, data: &[u8]) -> Result<(), RamError> {
        let ws = self.geometry.write_size.max(1) as usize;
        let start = offset as usize;
        if start % ws != 0 || data.len() % ws != 0 {
            return Err(RamError::Misaligned);
        }
        let end = start.checked_add(data.len()).ok_or(RamError::OutOfBounds)?;
        let target = self.bytes.get_mut(start..end).ok_or(RamError::OutOfBounds)?;
        if target.iter().any(|&b| b != ERASED) {
            return Err(RamError::NotErased);
        }
        let landed = match self.power_budget {
            Some(budget) => budget.min(data.len()),
            None => data.len(),
        };
        for (t, d) in target.iter_mut().zip(data.iter()).take(landed) {
            *t = *d;
        }
        match self.power_budget.as_mut() {
            Some(budget) => {
                *budget -= landed;
                if landed < data.len() {
                    Err(RamError::PowerCut)
                } else {
                    Ok(())
                }
            }
            None => Ok(()),
        }
    }

    fn erase_sector(&mut self, sector: u32) -> Result<(), RamError> {
        if self.power_budget == Some(0) {
            return Err(RamError::PowerCut);
        }
        let size = self.geometry.sector_size as usize;
        let start = (sector as usize).checked_mul(size).ok_or(RamError::OutOfBounds)?;
        let end = start.checked_add(size).ok_or(RamError::OutOfBounds)?;
        let region = self.bytes.get_mut(start..end).ok_or(RamError::OutOfBounds)?;
        region.fill(ERASED);
        self.erases = self.erases.saturating_add(1);
        Ok(())
    }
}
