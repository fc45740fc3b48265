//! Helpers shared by the journal scenarios.
#![allow(dead_code, clippy::unwrap_used, missing_docs)]

use carillon_firmware::journal::{Journal, RamError, RamStorage, Storage};
use carillon_protocol::control::*;

/// Four sectors of 512 bytes: about seven records a sector.
pub type Ram = RamStorage<2048>;

pub fn ram() -> Ram {
    RamStorage::new(512, 1)
}

pub fn open<S: Storage>(storage: S) -> Journal<S>
where
    S::Error: core::fmt::Debug,
{
    Journal::open(storage).unwrap()
}

/// Simulates a reboot: the journal is dropped and its storage opened again.
pub fn reopen<S: Storage>(journal: Journal<S>) -> Journal<S> {
    Journal::open(journal.into_storage()).unwrap()
}

/// A call record whose contents depend on `n` (and whose size varies with it).
pub fn record(n: u64) -> CallRecord {
    let caller = format!("{}", 100 + n % 50);
    let callee = "0".repeat(3 + (n % 13) as usize);
    CallRecord {
        box_id: BoxId(42),
        seq: 0,
        caller: bounded(&caller).unwrap(),
        callee: bounded(&callee).unwrap(),
        start: UnixTime { secs: 1_767_261_600 + n * 60, millis: (n % 1000) as u16 },
        answer: if n % 3 == 0 { None } else { Some(UnixTime { secs: 1_767_261_605 + n * 60, millis: 0 }) },
        end: UnixTime { secs: 1_767_261_640 + n * 60, millis: 1 },
        outcome: if n % 3 == 0 { CallOutcome::NoAnswer } else { CallOutcome::Answered },
        duration_ms: n * 1000,
        mode: Mode::Survival,
    }
}

/// `record(n)` as the journal stores it, with sequence number `seq`.
pub fn stored(n: u64, seq: u64) -> CallRecord {
    CallRecord { seq, ..record(n) }
}

/// Appends `record(n)` for each `n`, expecting success; returns the sequence numbers.
pub fn append_all<S: Storage>(j: &mut Journal<S>, ns: impl IntoIterator<Item = u64>) -> Vec<u64>
where
    S::Error: core::fmt::Debug,
{
    ns.into_iter().map(|n| j.append(record(n)).unwrap()).collect()
}

/// The sequence numbers of the first pending batch.
pub fn pending_seqs<S: Storage>(j: &mut Journal<S>, max: usize) -> Vec<u64>
where
    S::Error: core::fmt::Debug,
{
    match j.pending(max).unwrap() {
        Some(batch) => {
            batch.validate().unwrap();
            batch.records.iter().map(|r| r.seq).collect()
        }
        None => vec![],
    }
}

/// Uploads everything as a cloud would (batch, ack, repeat) and returns what it received.
pub fn upload_all<S: Storage>(j: &mut Journal<S>) -> Vec<CallRecord>
where
    S::Error: core::fmt::Debug,
{
    let mut got = vec![];
    while let Some(batch) = j.pending(CALL_RECORDS_PER_BATCH).unwrap() {
        batch.validate().unwrap();
        got.extend(batch.records.iter().cloned());
        j.ack(batch.last_seq).unwrap();
    }
    got
}

/// Every unacknowledged record, read from a copy of the storage so `j` is left as it was.
pub fn unacked_records<const N: usize>(j: &Journal<RamStorage<N>>) -> Vec<CallRecord> {
    let mut copy = Journal::open(j.storage().clone()).unwrap();
    // Bring the copy to the same ack, in case the ack was held in memory only.
    if j.acked_up_to() > copy.acked_up_to() {
        copy.ack(j.acked_up_to()).unwrap();
    }
    upload_all(&mut copy)
}

pub fn is_power_cut<T: core::fmt::Debug>(r: Result<T, carillon_firmware::journal::JournalError<RamError>>) -> bool {
    matches!(r, Err(carillon_firmware::journal::JournalError::Storage(RamError::PowerCut)))
}
