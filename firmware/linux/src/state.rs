//! The state directory: what the box must not lose across a crash, a `kill -9` or a power cut.
//!
//! ```text
//! <state_dir>/journal.bin    the call-record journal: a fixed-size file with flash rules
//! <state_dir>/config.img     the school's configuration image (postcard + CRC, see the core)
//! <state_dir>/identity.toml  box_id and credential, written at enrollment
//! ```
//!
//! Every write that the core is told succeeded is on disk: journal writes are followed by
//! `fdatasync`, and whole-file replacements go through a temporary file that is synced, renamed
//! over the old one, and whose directory is synced. The calls block the loop for the time of an
//! fsync; they happen once per call record and once per configuration, not per SIP message.

use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use carillon_firmware::gateway::ConfigStore;
use carillon_firmware::journal::{Geometry, Storage, ERASED};

use crate::config::{credential_hex, parse_credential, Identity};

/// Erase unit of the journal file (the page size of most Linux file systems).
pub const JOURNAL_SECTOR: u32 = 4096;
/// Sectors of the journal file: 1 MiB, several thousand call records.
pub const JOURNAL_SECTORS: u32 = 256;
/// The journal's write unit. A file has none; 1 keeps frames unpadded.
pub const JOURNAL_WRITE_SIZE: u32 = 1;

/// Why the state directory cannot be used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StateError {
    /// A file could not be opened, read, written or synced.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// A file is there but not what the box wrote.
    #[error("{path}: {reason}")]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> StateError + '_ {
    move |source| StateError::Io { path: path.to_owned(), source }
}

/// Creates the state directory if it is missing.
pub fn ensure_dir(dir: &Path) -> Result<(), StateError> {
    std::fs::create_dir_all(dir).map_err(io(dir))
}

/// Replaces `path` with `bytes` atomically: temporary file, fsync, rename, fsync of the
/// directory. After a crash either the old or the new contents are there.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), StateError> {
    let tmp = path.with_extension("tmp");
    let mut f = File::create(&tmp).map_err(io(&tmp))?;
    f.write_all(bytes).map_err(io(&tmp))?;
    f.sync_all().map_err(io(&tmp))?;
    drop(f);
    std::fs::rename(&tmp, path).map_err(io(path))?;
    if let Some(dir) = path.parent() {
        File::open(dir).and_then(|d| d.sync_all()).map_err(io(dir))?;
    }
    Ok(())
}

/// The journal's storage: a file of `sectors × sector_size` bytes with the rules of NOR flash
/// (see [`Storage`]). Created erased (all `0xFF`) when missing, and completed with erased
/// bytes when shorter (see [`FileStorage::open`]); a larger file is refused rather than
/// reinterpreted.
#[derive(Debug)]
pub struct FileStorage {
    file: File,
    path: PathBuf,
    geometry: Geometry,
}

impl FileStorage {
    /// Opens (or creates, erased) the journal file. A file shorter than the geometry is
    /// completed with erased bytes: what is missing was never durably written.
    pub fn open(path: &Path, sector_size: u32, sectors: u32) -> Result<FileStorage, StateError> {
        let capacity = sector_size.checked_mul(sectors).ok_or_else(|| StateError::Corrupt {
            path: path.to_owned(),
            reason: "journal geometry overflows".into(),
        })?;
        let geometry = Geometry { capacity, sector_size, write_size: JOURNAL_WRITE_SIZE };
        let file =
            OpenOptions::new().read(true).write(true).create(true).truncate(false).open(path).map_err(io(path))?;
        let len = file.metadata().map_err(io(path))?.len();
        if len < u64::from(capacity) {
            // Missing, or shorter than its geometry: a creation cut by power loss, or a file
            // system that lost the tail of the last write. Bytes that are not there were never
            // durably written: they are erased space, and a record cut by the end of the file
            // is a torn frame, which the journal's recovery drops (keeping every record before
            // it).
            let erased = vec![ERASED; sector_size as usize];
            let mut at = len;
            while at < u64::from(capacity) {
                let n = (u64::from(capacity) - at).min(u64::from(sector_size)) as usize;
                file.write_all_at(erased.get(..n).unwrap_or(&[]), at).map_err(io(path))?;
                at += n as u64;
            }
            file.sync_all().map_err(io(path))?;
        } else if len != u64::from(capacity) {
            return Err(StateError::Corrupt {
                path: path.to_owned(),
                reason: format!("journal file is {len} bytes, expected {capacity}"),
            });
        }
        Ok(FileStorage { file, path: path.to_owned(), geometry })
    }

    fn check(&self, offset: u32, len: usize) -> Result<(), StorageError> {
        let end = u64::from(offset) + len as u64;
        if end > u64::from(self.geometry.capacity) {
            return Err(StorageError::OutOfBounds);
        }
        Ok(())
    }
}

/// What the journal file refuses.
#[derive(Debug)]
#[non_exhaustive]
pub enum StorageError {
    /// The access runs past the end of the file.
    OutOfBounds,
    /// A write over bytes that are not erased (a journal bug; nothing was written).
    NotErased,
    /// The file system failed.
    Io(std::io::Error),
}

impl Storage for FileStorage {
    type Error = StorageError;

    fn geometry(&self) -> Geometry {
        self.geometry
    }

    fn read(&mut self, offset: u32, buf: &mut [u8]) -> Result<(), StorageError> {
        self.check(offset, buf.len())?;
        self.file.read_exact_at(buf, u64::from(offset)).map_err(StorageError::Io)
    }

    fn write(&mut self, offset: u32, data: &[u8]) -> Result<(), StorageError> {
        self.check(offset, data.len())?;
        // Flash cannot be rewritten without an erase; refusing here keeps the file honest.
        let mut old = vec![0u8; data.len()];
        self.file.read_exact_at(&mut old, u64::from(offset)).map_err(StorageError::Io)?;
        if old.iter().any(|&b| b != ERASED) {
            return Err(StorageError::NotErased);
        }
        self.file.write_all_at(data, u64::from(offset)).map_err(StorageError::Io)?;
        // `Ok` means durable (the trait's contract).
        self.file.sync_data().map_err(StorageError::Io)
    }

    fn erase_sector(&mut self, sector: u32) -> Result<(), StorageError> {
        let size = self.geometry.sector_size;
        let offset = sector.checked_mul(size).ok_or(StorageError::OutOfBounds)?;
        self.check(offset, size as usize)?;
        self.file.write_all_at(&vec![ERASED; size as usize], u64::from(offset)).map_err(StorageError::Io)?;
        self.file.sync_data().map_err(StorageError::Io)
    }
}

impl FileStorage {
    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// The configuration image in a file, replaced atomically (see [`write_atomic`]).
#[derive(Debug, Clone)]
pub struct FileConfigStore {
    path: PathBuf,
}

impl FileConfigStore {
    /// The store at `path` (the file may not exist yet).
    pub fn new(path: PathBuf) -> FileConfigStore {
        FileConfigStore { path }
    }
}

impl ConfigStore for FileConfigStore {
    type Error = StateError;

    fn save(&mut self, image: &[u8]) -> Result<(), StateError> {
        write_atomic(&self.path, image)
    }

    fn load(&mut self, buf: &mut [u8]) -> Result<usize, StateError> {
        let mut f = match File::open(&self.path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(0),
            Err(e) => return Err(StateError::Io { path: self.path.clone(), source: e }),
        };
        let mut image = Vec::new();
        f.read_to_end(&mut image).map_err(io(&self.path))?;
        let dst = buf.get_mut(..image.len()).ok_or_else(|| StateError::Corrupt {
            path: self.path.clone(),
            reason: format!("configuration image of {} bytes is over the limit", image.len()),
        })?;
        dst.copy_from_slice(&image);
        Ok(image.len())
    }
}

/// The layout of a state directory.
#[derive(Debug, Clone)]
pub struct StateDir {
    dir: PathBuf,
}

impl StateDir {
    /// The directory (created if missing).
    pub fn open(dir: &Path) -> Result<StateDir, StateError> {
        ensure_dir(dir)?;
        Ok(StateDir { dir: dir.to_owned() })
    }

    /// The journal file.
    pub fn journal_path(&self) -> PathBuf {
        self.dir.join("journal.bin")
    }

    /// The configuration image.
    pub fn config_path(&self) -> PathBuf {
        self.dir.join("config.img")
    }

    /// The identity written at enrollment.
    pub fn identity_path(&self) -> PathBuf {
        self.dir.join("identity.toml")
    }

    /// The enrolled identity stored here, if any.
    pub fn load_identity(&self) -> Result<Option<Identity>, StateError> {
        let path = self.identity_path();
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(StateError::Io { path, source: e }),
        };
        #[derive(serde::Deserialize)]
        struct Stored {
            box_id: u64,
            credential: String,
        }
        let corrupt = |reason: String| StateError::Corrupt { path: path.clone(), reason };
        let s: Stored = toml::from_str(&text).map_err(|e| corrupt(e.to_string()))?;
        let credential =
            parse_credential(&s.credential).ok_or_else(|| corrupt("credential is not 64 hex digits".into()))?;
        Ok(Some(Identity::Enrolled { box_id: s.box_id, credential }))
    }

    /// Stores the identity received at enrollment, durably, before it is used.
    pub fn store_identity(&self, box_id: u64, credential: &[u8]) -> Result<(), StateError> {
        let text = format!("box_id = {box_id}\ncredential = \"{}\"\n", credential_hex(credential));
        write_atomic(&self.identity_path(), text.as_bytes())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use carillon_firmware::journal::Journal;
    use carillon_protocol::control::{BoxId, CallOutcome, CallRecord, Mode, UnixTime};

    fn tmp(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("carillon-box-state-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    fn record(n: u8) -> CallRecord {
        CallRecord {
            box_id: BoxId(1),
            seq: 0,
            caller: heapless::String::try_from("101").unwrap(),
            callee: heapless::String::try_from("102").unwrap(),
            start: UnixTime { secs: 1_700_000_000 + u64::from(n), millis: 0 },
            answer: None,
            end: UnixTime { secs: 1_700_000_010 + u64::from(n), millis: 0 },
            outcome: CallOutcome::NoAnswer,
            duration_ms: 0,
            mode: Mode::Survival,
        }
    }

    #[test]
    fn the_journal_file_keeps_records_across_reopen_and_obeys_flash_rules() {
        let d = tmp("journal");
        let path = d.join("journal.bin");
        {
            let s = FileStorage::open(&path, 512, 4).unwrap();
            let mut j = Journal::open(s).unwrap();
            for n in 0..5 {
                j.append(record(n)).unwrap();
            }
        }
        assert_eq!(std::fs::metadata(&path).unwrap().len(), 2048);
        let mut s = FileStorage::open(&path, 512, 4).unwrap();
        assert!(matches!(s.write(0, &[1]), Err(StorageError::NotErased)));
        assert!(matches!(s.read(2047, &mut [0, 0]), Err(StorageError::OutOfBounds)));
        let mut j = Journal::open(s).unwrap();
        assert_eq!(j.unacked(), 5);
        assert_eq!(j.pending(8).unwrap().unwrap().records.len(), 5);
        assert!(matches!(FileStorage::open(&path, 512, 2), Err(StateError::Corrupt { .. })));
    }

    #[test]
    fn the_config_store_round_trips_and_reports_nothing_saved() {
        let d = tmp("config");
        let mut s = FileConfigStore::new(d.join("config.img"));
        let mut buf = [0u8; 16];
        assert_eq!(s.load(&mut buf).unwrap(), 0);
        s.save(b"image-1").unwrap();
        s.save(b"image-22").unwrap();
        assert_eq!(s.load(&mut buf).unwrap(), 8);
        assert_eq!(&buf[..8], b"image-22");
        assert!(!d.join("config.tmp").exists());
        s.save(&[0u8; 32]).unwrap();
        assert!(matches!(s.load(&mut buf), Err(StateError::Corrupt { .. })));
    }

    #[test]
    fn the_identity_is_stored_and_read_back() {
        let d = StateDir::open(&tmp("identity")).unwrap();
        assert_eq!(d.load_identity().unwrap(), None);
        d.store_identity(9, &[7u8; 32]).unwrap();
        assert_eq!(d.load_identity().unwrap(), Some(Identity::Enrolled { box_id: 9, credential: [7u8; 32] }));
        std::fs::write(d.identity_path(), "box_id = \"x\"").unwrap();
        assert!(d.load_identity().is_err());
    }
}
