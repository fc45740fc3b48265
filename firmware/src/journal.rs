//! The call-record journal: an append-only log of [`CallRecord`]s that survives power loss,
//! from which records are uploaded to the cloud and forgotten once the cloud acknowledges them.
//!
//! # Layout
//!
//! The region of a [`Storage`] is a ring of sectors. Each sector in use starts with a sector
//! header frame and continues with record and ack frames:
//!
//! ```text
//! frame = len: u16 LE | payload: postcard(Entry), len bytes | crc32(len | payload): u32 LE | 0xFF padding to the write size
//! Entry = Sector { format, generation, acked, next_seq } | Record(CallRecord) | Ack(up_to)
//! ```
//!
//! Sectors are used in ring order; each new one gets the next `generation`, and its header
//! carries the acknowledged sequence number and the next sequence number at that moment, so that
//! they survive when older sectors are erased. The newest sector (the head) takes the appends.
//!
//! # Recovery
//!
//! [`Journal::open`] finds the head (the valid header with the highest generation), walks back
//! to the oldest sector still in use (the tail) and scans every sector from its header. A sector's
//! scan stops at the first frame that is erased, torn or corrupt (length out of range, CRC
//! mismatch, undecodable): every record before it is kept. Only the last frame written can be
//! torn by a power cut, so a torn write loses at most the record being written, which was never
//! acknowledged to anyone. Its sequence number is used again by the next append.
//!
//! Flash cannot be rewritten without erasing, so a torn tail is not overwritten: if anything
//! other than erased bytes follows the last good frame of the head, the head is sealed and the
//! next append starts a new sector. (A sector's worth of space is lost until it is reclaimed.)
//!
//! # Reclaiming space
//!
//! When the head is full, the next sector in the ring is erased and becomes the head. If that
//! sector is still in use (the ring is full), it is the oldest one, and it is reclaimed only
//! when every record in it is acknowledged; otherwise the append fails with
//! [`JournalError::Full`] and nothing is overwritten. Space is reclaimed a sector at a time.
//!
//! # Acknowledgements
//!
//! [`Journal::ack`] records the cloud's `CallRecordsAck` as an ack frame; after a reboot only
//! records above it are offered by [`Journal::pending`].
//!
//! # Sequence numbers
//!
//! Records are numbered 1, 2, 3… without gaps: a failed append does not use up its number. The
//! numbers keep increasing across reclaiming and reboots, because every sector header carries
//! the next one.

mod storage;

use core::fmt;

use carillon_protocol::control::{CallRecord, CallRecordBatch, CALL_RECORDS_PER_BATCH};
use crc::{Crc, CRC_32_ISO_HDLC};
use serde::{Deserialize, Serialize};

pub use storage::{Geometry, RamError, RamStorage, Storage, ERASED, MAX_WRITE_SIZE};

/// Layout version written in every sector header.
pub const FORMAT: u8 = 1;
/// Largest postcard payload of a journal frame. A call record at full capacity takes 142
/// bytes; a test checks that it fits.
pub const MAX_ENTRY_LEN: usize = 160;
/// Smallest sector the journal accepts: a header, the largest record and an ack, each padded to
/// the largest write size, fit with room to spare.
pub const MIN_SECTOR_SIZE: u32 = 512;

const LEN_LEN: usize = 2;
const CRC_LEN: usize = 4;
const FRAME_OVERHEAD: usize = LEN_LEN + CRC_LEN;
const FRAME_BUF_LEN: usize = FRAME_OVERHEAD + MAX_ENTRY_LEN + MAX_WRITE_SIZE as usize;
/// Room left in each sector after the last record, so that an ack can always be written.
const ACK_RESERVE: u32 = 32;

const CRC32: Crc<u32> = Crc::<u32>::new(&CRC_32_ISO_HDLC);

/// Why a storage region cannot hold a journal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum GeometryError {
    /// The write size is 0, not a power of two, or over [`MAX_WRITE_SIZE`].
    BadWriteSize,
    /// The sector size is under [`MIN_SECTOR_SIZE`] or not a multiple of the write size.
    BadSectorSize,
    /// The capacity is not a multiple of the sector size, or holds fewer than 2 sectors.
    BadCapacity,
}

/// What went wrong in a journal operation. `E` is the storage's error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum JournalError<E> {
    /// JournalFull: every sector holds records the cloud has not acknowledged. The record was
    /// not written; the caller counts it as dropped. Earlier records are untouched.
    Full,
    /// The storage failed. The journal's state is unchanged except that the head is sealed.
    Storage(E),
    /// The storage region cannot hold a journal.
    Geometry(GeometryError),
    /// An ack beyond the last record appended (the peer is wrong); nothing changed.
    AckBeyondEnd {
        /// The ack received.
        up_to: u64,
        /// The last sequence number appended.
        last: u64,
    },
    /// A record did not encode within [`MAX_ENTRY_LEN`] (a bug: capacities make it fit).
    Encode,
}

impl<E: fmt::Debug> fmt::Display for JournalError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Full => f.write_str("call-record journal full of unacknowledged records"),
            Self::Storage(e) => write!(f, "journal storage failed: {e:?}"),
            Self::Geometry(e) => write!(f, "storage region cannot hold a journal: {e:?}"),
            Self::AckBeyondEnd { up_to, last } => {
                write!(f, "ack of record {up_to} but the last record is {last}")
            }
            Self::Encode => f.write_str("call record too large for a journal frame"),
        }
    }
}

/// What an [`ack`](Journal::ack) did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AckOutcome {
    /// The ack moved forward and is persisted.
    Advanced,
    /// The ack moved forward in memory, but the region is full, so it is persisted only with
    /// the next sector header. Until then a reboot offers these records again, which the
    /// cloud's idempotent ingestion absorbs.
    AdvancedInMemory,
    /// Not above the current ack (repeated or out of order): nothing changed.
    Stale,
}

/// What [`Journal::open`] found.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Recovery {
    /// Sectors in use.
    pub sectors_in_use: u32,
    /// Records found (acknowledged or not).
    pub records: u64,
    /// The head ended in a torn or corrupt frame (a write cut by power loss); it was sealed.
    pub torn_tail: bool,
    /// Older sectors whose scan stopped at a corrupt frame (media damage): records after it in
    /// that sector are lost.
    pub corrupt_sectors: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
struct SectorHeader {
    format: u8,
    generation: u32,
    acked: u64,
    next_seq: u64,
}

/// A frame's contents as written (borrowing the record).
#[derive(Serialize)]
enum EntryRef<'a> {
    Sector(SectorHeader),
    Record(&'a CallRecord),
    Ack(u64),
}

/// A frame's contents as read; variants in the order of [`EntryRef`].
#[derive(Deserialize)]
enum Entry {
    Sector(SectorHeader),
    Record(CallRecord),
    Ack(u64),
}

/// A place in the ring. The offset may equal the sector size (the end of a full sector), which
/// as an absolute offset would be confused with the start of the next sector.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Pos {
    sector: u32,
    offset: u32,
}

enum Scan {
    /// A good frame, and the offset of the next one.
    Frame(Entry, u32),
    /// Erased bytes, or the end of the sector.
    End,
    /// A torn or damaged frame.
    Corrupt,
}

/// The call-record journal over a storage region (see the module docs).
#[derive(Debug)]
pub struct Journal<S: Storage> {
    storage: S,
    sector_size: u32,
    write_size: u32,
    sectors: u32,
    /// Sectors in use, from `tail` to `head` in ring order; 0 before the first write.
    live: u32,
    tail: u32,
    head: u32,
    head_generation: u32,
    /// Where the next frame goes in the head.
    write_at: u32,
    /// The head must not be written again (torn tail, failed write).
    head_sealed: bool,
    next_seq: u64,
    acked: u64,
    /// `acked` is above what the storage holds.
    ack_unpersisted: bool,
    /// No record with a sequence number above `acked` lies before this place.
    cursor: Pos,
    recovery: Recovery,
}

impl<S: Storage> Journal<S> {
    /// Opens the journal in `storage`, recovering what a previous run left (see the module
    /// docs). A blank or never-used region gives an empty journal; nothing is written until the
    /// first append.
    pub fn open(storage: S) -> Result<Self, JournalError<S::Error>> {
        let g = storage.geometry();
        check_geometry(g).map_err(JournalError::Geometry)?;
        let mut j = Journal {
            storage,
            sector_size: g.sector_size,
            write_size: g.write_size,
            sectors: g.capacity / g.sector_size,
            live: 0,
            tail: 0,
            head: 0,
            head_generation: 0,
            write_at: 0,
            head_sealed: false,
            next_seq: 1,
            acked: 0,
            ack_unpersisted: false,
            cursor: Pos { sector: 0, offset: 0 },
            recovery: Recovery::default(),
        };
        j.recover()?;
        Ok(j)
    }

    /// What [`open`](Self::open) found.
    pub fn recovery(&self) -> &Recovery {
        &self.recovery
    }

    /// The sequence number the next record gets.
    pub fn next_seq(&self) -> u64 {
        self.next_seq
    }

    /// The highest sequence number the cloud acknowledged (0: none).
    pub fn acked_up_to(&self) -> u64 {
        self.acked
    }

    /// Records appended and not yet acknowledged.
    pub fn unacked(&self) -> u64 {
        self.next_seq.saturating_sub(1).saturating_sub(self.acked)
    }

    /// The storage, to inspect.
    pub fn storage(&self) -> &S {
        &self.storage
    }

    /// The storage, e.g. to inject a fault in a simulation.
    pub fn storage_mut(&mut self) -> &mut S {
        &mut self.storage
    }

    /// Gives the storage back (to reopen it, as after a reboot).
    pub fn into_storage(self) -> S {
        self.storage
    }

    /// Appends `record` with the next sequence number (its `seq` field is overwritten) and
    /// returns that number. On `Err` nothing was appended and the number is not used up.
    pub fn append(&mut self, mut record: CallRecord) -> Result<u64, JournalError<S::Error>> {
        let seq = self.next_seq;
        record.seq = seq;
        self.write_entry(&EntryRef::Record(&record), ACK_RESERVE)?;
        self.next_seq = seq.saturating_add(1);
        Ok(seq)
    }

    /// The oldest unacknowledged records, at most `max` (and at most
    /// [`CALL_RECORDS_PER_BATCH`]), contiguous, as a batch to upload; `None` when every record
    /// is acknowledged. Calling it again without an ack gives the same batch.
    pub fn pending(&mut self, max: usize) -> Result<Option<CallRecordBatch>, JournalError<S::Error>> {
        let max = max.min(CALL_RECORDS_PER_BATCH);
        let mut batch = CallRecordBatch::new();
        if max == 0 || self.live == 0 {
            return Ok(None);
        }
        let mut pos = self.cursor;
        let mut last = self.acked;
        while batch.records.len() < max {
            let Some((record, next)) = self.next_record(pos)? else { break };
            let seq = record.seq;
            if seq <= last {
                // Acknowledged (or a duplicate left by a failed write): skip; the cursor may
                // move past it as long as nothing unacknowledged lies before.
                if batch.records.is_empty() {
                    self.cursor = next;
                }
            } else if batch.push(record).is_err() {
                // A gap (a record lost to media damage): the batch ends before it.
                break;
            } else {
                last = seq;
            }
            pos = next;
        }
        Ok(if batch.records.is_empty() { None } else { Some(batch) })
    }

    /// The cloud holds every record up to `up_to`: they are not offered again, here or after a
    /// reboot, and their space can be reclaimed. A repeated or older ack is
    /// [`AckOutcome::Stale`] and changes nothing. On a storage error the ack still holds in
    /// memory.
    pub fn ack(&mut self, up_to: u64) -> Result<AckOutcome, JournalError<S::Error>> {
        if up_to <= self.acked {
            return Ok(AckOutcome::Stale);
        }
        let last = self.next_seq.saturating_sub(1);
        if up_to > last {
            return Err(JournalError::AckBeyondEnd { up_to, last });
        }
        self.acked = up_to;
        self.ack_unpersisted = true;
        match self.write_entry(&EntryRef::Ack(up_to), 0) {
            Ok(()) => {
                self.ack_unpersisted = false;
                Ok(AckOutcome::Advanced)
            }
            Err(JournalError::Full) => Ok(AckOutcome::AdvancedInMemory),
            Err(e) => Err(e),
        }
    }

    /// Aligns the journal with the cloud after authentication
    /// ([`Authenticated::records_stored_up_to`](carillon_protocol::control::Authenticated)):
    /// an ordinary ack if the cloud is behind the journal; if the cloud has records beyond the
    /// journal's end (the journal was lost or replaced), numbering continues above them so that
    /// new records are not taken for duplicates.
    pub fn resync(&mut self, cloud_stored_up_to: u64) -> Result<AckOutcome, JournalError<S::Error>> {
        if cloud_stored_up_to >= self.next_seq {
            self.next_seq = cloud_stored_up_to.saturating_add(1);
        }
        self.ack(cloud_stored_up_to)
    }

    // --- Recovery ---------------------------------------------------------------------------

    fn recover(&mut self) -> Result<(), JournalError<S::Error>> {
        // The head: the valid header with the highest generation.
        let mut head: Option<(u32, SectorHeader)> = None;
        for sector in 0..self.sectors {
            if let Some((h, _)) = self.read_header(sector)? {
                if head.is_none_or(|(_, best)| h.generation > best.generation) {
                    head = Some((sector, h));
                }
            }
        }
        let Some((head, head_header)) = head else {
            return Ok(()); // Blank or foreign: an empty journal.
        };
        // The tail: walk back while the generations keep decreasing.
        let mut tail = head;
        let mut generation = head_header.generation;
        let mut live = 1;
        while live < self.sectors {
            let prev = self.ring_prev(tail);
            match self.read_header(prev)? {
                Some((h, _)) if h.generation < generation => {
                    tail = prev;
                    generation = h.generation;
                    live += 1;
                }
                _ => break,
            }
        }
        self.head = head;
        self.tail = tail;
        self.live = live;
        self.head_generation = head_header.generation;
        self.cursor = Pos { sector: tail, offset: 0 };
        self.recovery.sectors_in_use = live;

        // Scan every sector in use, oldest first.
        let mut last_seq = 0u64;
        let mut sector = tail;
        for _ in 0..live {
            let Some((h, mut pos)) = self.read_header(sector)? else { break };
            self.acked = self.acked.max(h.acked);
            self.next_seq = self.next_seq.max(h.next_seq);
            let end = self.sector_end(sector);
            let corrupt = loop {
                match self.read_frame(pos, end)? {
                    Scan::Frame(Entry::Record(r), next) => {
                        if r.seq > last_seq {
                            last_seq = r.seq;
                            self.recovery.records = self.recovery.records.saturating_add(1);
                        }
                        pos = next;
                    }
                    Scan::Frame(Entry::Ack(up_to), next) => {
                        self.acked = self.acked.max(up_to);
                        pos = next;
                    }
                    // A header inside a sector is damage like any other.
                    Scan::Frame(Entry::Sector(_), _) | Scan::Corrupt => break true,
                    Scan::End => break false,
                }
            };
            if sector == head {
                self.write_at = pos;
                if !self.is_erased(pos, end)? {
                    self.head_sealed = true;
                    self.recovery.torn_tail = true;
                }
            } else if corrupt {
                self.recovery.corrupt_sectors = self.recovery.corrupt_sectors.saturating_add(1);
            }
            sector = self.ring_next(sector);
        }
        self.next_seq = self.next_seq.max(last_seq.saturating_add(1)).max(self.acked.saturating_add(1));
        Ok(())
    }

    // --- Writing ----------------------------------------------------------------------------

    /// Writes one frame in the head, leaving `reserve` bytes free after it, starting a new
    /// sector first if needed.
    fn write_entry(&mut self, entry: &EntryRef<'_>, reserve: u32) -> Result<(), JournalError<S::Error>> {
        let (buf, len) = self.encode(entry)?;
        let fits = |j: &Self| j.write_at.saturating_add(len).saturating_add(reserve) <= j.sector_end(j.head);
        if self.live == 0 || self.head_sealed || !fits(self) {
            self.start_sector()?;
            if !fits(self) {
                return Err(JournalError::Full); // Unreachable with MIN_SECTOR_SIZE.
            }
        }
        let frame = buf.get(..len as usize).ok_or(JournalError::Encode)?;
        if let Err(e) = self.storage.write(self.write_at, frame) {
            // A write reported as failed may still have landed whole (e.g. cut just before
            // bytes that equal the erased value). Recovery would find such a frame, so it
            // counts as written; otherwise its sequence number would be given out twice.
            if !self.landed(self.write_at, frame) {
                // Part of it may be there: never write over it.
                self.head_sealed = true;
                return Err(JournalError::Storage(e));
            }
        }
        self.write_at = self.write_at.saturating_add(len);
        Ok(())
    }

    /// Whether `frame` reads back intact at `pos`.
    fn landed(&mut self, pos: u32, frame: &[u8]) -> bool {
        let mut back = [0u8; FRAME_BUF_LEN];
        match back.get_mut(..frame.len()) {
            Some(back) => self.storage.read(pos, back).is_ok() && back == frame,
            None => false,
        }
    }

    /// Erases the next sector of the ring and makes it the head, reclaiming the tail if the
    /// ring is full and the tail is entirely acknowledged.
    fn start_sector(&mut self) -> Result<(), JournalError<S::Error>> {
        let target = if self.live == 0 { 0 } else { self.ring_next(self.head) };
        if self.live == self.sectors {
            // `target` is the tail. Its records are all below the first sequence number of
            // the sector after it.
            let after = self.ring_next(self.tail);
            let first_after = match self.read_header(after)? {
                Some((h, _)) => h.next_seq,
                None => return Err(JournalError::Full),
            };
            if first_after > self.acked.saturating_add(1) {
                return Err(JournalError::Full);
            }
            if self.cursor.sector == self.tail {
                self.cursor = Pos { sector: after, offset: 0 };
            }
            self.tail = after;
            self.live -= 1;
        }
        self.storage.erase_sector(target).map_err(JournalError::Storage)?;
        let generation = self.head_generation.wrapping_add(1);
        let header = SectorHeader { format: FORMAT, generation, acked: self.acked, next_seq: self.next_seq };
        let (buf, len) = self.encode(&EntryRef::Sector(header))?;
        let start = self.sector_start(target);
        let frame = buf.get(..len as usize).ok_or(JournalError::Encode)?;
        self.storage.write(start, frame).map_err(JournalError::Storage)?;
        if self.live == 0 {
            self.tail = target;
            self.cursor = Pos { sector: target, offset: 0 };
        }
        self.live += 1;
        self.head = target;
        self.head_generation = generation;
        self.write_at = start.saturating_add(len);
        self.head_sealed = false;
        self.ack_unpersisted = false;
        Ok(())
    }

    /// Encodes a frame, padded to the write size; returns the buffer and the padded length.
    fn encode(&self, entry: &EntryRef<'_>) -> Result<([u8; FRAME_BUF_LEN], u32), JournalError<S::Error>> {
        let mut buf = [ERASED; FRAME_BUF_LEN];
        let payload_area = buf.get_mut(LEN_LEN..LEN_LEN + MAX_ENTRY_LEN).ok_or(JournalError::Encode)?;
        let payload_len = postcard::to_slice(entry, payload_area).map_err(|_| JournalError::Encode)?.len();
        let len_bytes = u16::try_from(payload_len).map_err(|_| JournalError::Encode)?.to_le_bytes();
        buf.get_mut(..LEN_LEN).ok_or(JournalError::Encode)?.copy_from_slice(&len_bytes);
        let body_len = LEN_LEN + payload_len;
        let crc = CRC32.checksum(buf.get(..body_len).ok_or(JournalError::Encode)?);
        buf.get_mut(body_len..body_len + CRC_LEN).ok_or(JournalError::Encode)?.copy_from_slice(&crc.to_le_bytes());
        let padded = self.align(body_len + CRC_LEN);
        if padded > buf.len() {
            return Err(JournalError::Encode);
        }
        Ok((buf, padded as u32))
    }

    // --- Reading ----------------------------------------------------------------------------

    /// The next record at or after `pos` in ring order up to the head's end, and the place
    /// after it.
    fn next_record(&mut self, mut pos: Pos) -> Result<Option<(CallRecord, Pos)>, JournalError<S::Error>> {
        // Each sector is crossed at most once.
        let mut crossings = 0;
        loop {
            let start = self.sector_start(pos.sector);
            let end = if pos.sector == self.head { self.write_at } else { self.sector_end(pos.sector) };
            match self.read_frame(start.saturating_add(pos.offset), end)? {
                Scan::Frame(Entry::Record(r), next) => {
                    return Ok(Some((r, Pos { sector: pos.sector, offset: next.saturating_sub(start) })));
                }
                Scan::Frame(_, next) => pos.offset = next.saturating_sub(start),
                Scan::End | Scan::Corrupt => {
                    if pos.sector == self.head || crossings >= self.live {
                        return Ok(None);
                    }
                    crossings += 1;
                    pos = Pos { sector: self.ring_next(pos.sector), offset: 0 };
                }
            }
        }
    }

    /// Reads a sector's header; `None` if it has no valid one.
    fn read_header(&mut self, sector: u32) -> Result<Option<(SectorHeader, u32)>, JournalError<S::Error>> {
        let start = self.sector_start(sector);
        let end = self.sector_end(sector);
        Ok(match self.read_frame(start, end)? {
            Scan::Frame(Entry::Sector(h), next) if h.format == FORMAT => Some((h, next)),
            _ => None,
        })
    }

    /// Reads the frame at `pos`, which must end by `limit`.
    fn read_frame(&mut self, pos: u32, limit: u32) -> Result<Scan, JournalError<S::Error>> {
        if pos.saturating_add(LEN_LEN as u32) > limit {
            return Ok(Scan::End);
        }
        let mut len_bytes = [0u8; LEN_LEN];
        self.storage.read(pos, &mut len_bytes).map_err(JournalError::Storage)?;
        if len_bytes == [ERASED; LEN_LEN] {
            return Ok(Scan::End);
        }
        let payload_len = usize::from(u16::from_le_bytes(len_bytes));
        if payload_len == 0 || payload_len > MAX_ENTRY_LEN {
            return Ok(Scan::Corrupt);
        }
        let total = FRAME_OVERHEAD + payload_len;
        if pos.saturating_add(total as u32) > limit {
            return Ok(Scan::Corrupt);
        }
        let mut buf = [0u8; FRAME_OVERHEAD + MAX_ENTRY_LEN];
        let frame = buf.get_mut(..total).ok_or(JournalError::Encode)?;
        self.storage.read(pos, frame).map_err(JournalError::Storage)?;
        let (body, crc) = frame.split_at(LEN_LEN + payload_len);
        let mut crc_bytes = [0u8; CRC_LEN];
        crc_bytes.copy_from_slice(crc);
        if CRC32.checksum(body) != u32::from_le_bytes(crc_bytes) {
            return Ok(Scan::Corrupt);
        }
        let payload = body.get(LEN_LEN..).unwrap_or(&[]);
        match postcard::take_from_bytes::<Entry>(payload) {
            Ok((entry, [])) => Ok(Scan::Frame(entry, pos.saturating_add(self.align(total) as u32))),
            _ => Ok(Scan::Corrupt),
        }
    }

    /// Whether `from..to` is all erased.
    fn is_erased(&mut self, mut from: u32, to: u32) -> Result<bool, JournalError<S::Error>> {
        let mut chunk = [0u8; 64];
        while from < to {
            let n = (to - from).min(chunk.len() as u32);
            let part = chunk.get_mut(..n as usize).ok_or(JournalError::Encode)?;
            self.storage.read(from, part).map_err(JournalError::Storage)?;
            if part.iter().any(|&b| b != ERASED) {
                return Ok(false);
            }
            from += n;
        }
        Ok(true)
    }

    // --- Geometry helpers -------------------------------------------------------------------

    fn align(&self, len: usize) -> usize {
        let ws = self.write_size as usize;
        len.div_ceil(ws) * ws
    }

    fn sector_start(&self, sector: u32) -> u32 {
        sector.saturating_mul(self.sector_size)
    }

    fn sector_end(&self, sector: u32) -> u32 {
        self.sector_start(sector).saturating_add(self.sector_size)
    }

    fn ring_next(&self, sector: u32) -> u32 {
        if sector.saturating_add(1) >= self.sectors {
            0
        } else {
            sector + 1
        }
    }

    fn ring_prev(&self, sector: u32) -> u32 {
        if sector == 0 {
            self.sectors.saturating_sub(1)
        } else {
            sector - 1
        }
    }
}

fn check_geometry(g: Geometry) -> Result<(), GeometryError> {
    if g.write_size == 0 || !g.write_size.is_power_of_two() || g.write_size > MAX_WRITE_SIZE {
        return Err(GeometryError::BadWriteSize);
    }
    if g.sector_size < MIN_SECTOR_SIZE || g.sector_size % g.write_size != 0 {
        return Err(GeometryError::BadSectorSize);
    }
    if g.capacity % g.sector_size != 0 || g.capacity / g.sector_size < 2 {
        return Err(GeometryError::BadCapacity);
    }
    Ok(())
}
