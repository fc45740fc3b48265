//! The journal of `carillon-box` in its real file (`FileStorage`, the geometry the box uses):
//! records are appended, then the file is damaged as a power cut leaves it in the middle of the
//! last record — its tail never written (erased bytes), the file cut short in the record, or
//! garbage in place of the record's last bytes. On reopen every earlier record is intact, the
//! torn one is lost, and appends continue (and survive the next reopen).
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use carillon_box::state::{FileStorage, JOURNAL_SECTOR, JOURNAL_SECTORS};
use carillon_firmware::journal::{Journal, ERASED};
use carillon_protocol::control::{BoxId, CallOutcome, CallRecord, Mode, UnixTime, CALL_RECORDS_PER_BATCH};

fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("carillon-box-torn-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d.join("journal.bin")
}

fn record(n: u64) -> CallRecord {
    CallRecord {
        box_id: BoxId(7),
        seq: 0,
        caller: heapless::String::try_from(format!("{}", 100 + n).as_str()).unwrap(),
        callee: heapless::String::try_from("102").unwrap(),
        start: UnixTime { secs: 1_700_000_000 + n * 60, millis: 0 },
        answer: Some(UnixTime { secs: 1_700_000_005 + n * 60, millis: 0 }),
        end: UnixTime { secs: 1_700_000_030 + n * 60, millis: 0 },
        outcome: CallOutcome::Answered,
        duration_ms: 25_000 + n,
        mode: Mode::Survival,
    }
}

fn open(path: &Path) -> Journal<FileStorage> {
    Journal::open(FileStorage::open(path, JOURNAL_SECTOR, JOURNAL_SECTORS).unwrap()).unwrap()
}

/// Offset just past the last byte that is not erased.
fn written_end(path: &Path) -> u64 {
    let bytes = std::fs::read(path).unwrap();
    bytes.iter().rposition(|&b| b != ERASED).map_or(0, |p| p as u64 + 1)
}

/// Every unacknowledged record, read by uploading a copy of the file (the original stays as
/// it is).
fn records_in(path: &Path) -> Vec<CallRecord> {
    let copy = path.with_extension("copy");
    std::fs::copy(path, &copy).unwrap();
    let mut j = open(&copy);
    let mut got = vec![];
    while let Some(batch) = j.pending(CALL_RECORDS_PER_BATCH).unwrap() {
        batch.validate().unwrap();
        got.extend(batch.records.iter().cloned());
        j.ack(batch.last_seq).unwrap();
    }
    drop(j);
    std::fs::remove_file(&copy).unwrap();
    got
}

/// Appends records 1..=5 and returns where the last one starts and ends in the file.
fn five_records(path: &Path) -> (u64, u64) {
    let mut j = open(path);
    let mut start = 0;
    for n in 1..=5 {
        start = written_end(path);
        assert_eq!(j.append(record(n)).unwrap(), n);
    }
    let end = written_end(path);
    assert!(end > start + 8, "the last record spans {start}..{end}");
    (start, end)
}

fn check_after_damage(path: &Path) {
    let mut j = open(path);
    assert!(j.recovery().torn_tail, "{:?}", j.recovery());
    assert_eq!(j.unacked(), 4, "records 1-4 kept, the torn 5th lost");
    let got = records_in(path);
    let want: Vec<CallRecord> = (1..=4).map(|n| CallRecord { seq: n, ..record(n) }).collect();
    assert_eq!(got, want, "every earlier record intact");
    // Appends continue: the torn record's sequence number is used again.
    assert_eq!(j.append(record(50)).unwrap(), 5);
    assert_eq!(j.append(record(51)).unwrap(), 6);
    drop(j);
    let j = open(path);
    assert_eq!(j.unacked(), 6);
    let got = records_in(path);
    assert_eq!(got.len(), 6);
    assert_eq!(&got[..4], &want[..]);
    assert_eq!(got[4], CallRecord { seq: 5, ..record(50) });
    assert_eq!(got[5], CallRecord { seq: 6, ..record(51) });
}

#[test]
fn the_tail_of_the_last_record_never_written() {
    let path = tmp("erased-tail");
    let (start, end) = five_records(&path);
    let mid = (start + end) / 2;
    let f = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
    f.write_all_at(&vec![ERASED; (end - mid) as usize], mid).unwrap();
    drop(f);
    check_after_damage(&path);
}

#[test]
fn the_file_cut_short_inside_the_last_record() {
    let path = tmp("truncated");
    let (start, end) = five_records(&path);
    let f = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
    f.set_len((start + end) / 2).unwrap();
    drop(f);
    check_after_damage(&path);
    assert_eq!(std::fs::metadata(&path).unwrap().len(), u64::from(JOURNAL_SECTOR * JOURNAL_SECTORS));
}

#[test]
fn garbage_in_place_of_the_last_records_end() {
    let path = tmp("garbage");
    let (start, end) = five_records(&path);
    let mid = (start + end) / 2;
    let f = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
    let junk: Vec<u8> = (0..end - mid).map(|i| (i as u8).wrapping_mul(37) ^ 0x5a).collect();
    f.write_all_at(&junk, mid).unwrap();
    drop(f);
    check_after_damage(&path);
}
