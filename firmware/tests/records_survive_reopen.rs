//! Records appended before a reboot are all there after it, in order, and numbering continues.
#![allow(clippy::unwrap_used, missing_docs)]

mod common;

use carillon_firmware::journal::*;
use carillon_protocol::control::*;
use common::*;

#[test]
fn records_survive_a_reopen() {
    for write_size in [1, 8, 32] {
        let mut j = open(RamStorage::<4096>::new(1024, write_size));
        assert_eq!(append_all(&mut j, 0..20), (1..=20).collect::<Vec<_>>());
        let mut j = reopen(j);
        assert_eq!(j.recovery().records, 20);
        assert!(!j.recovery().torn_tail);
        assert_eq!(j.next_seq(), 21);
        assert_eq!(j.unacked(), 20);
        let expected: Vec<_> = (0..20).map(|n| stored(n, n + 1)).collect();
        assert_eq!(unacked_records(&j), expected, "write size {write_size}");

        // Numbering continues after the reboot, and again after another.
        assert_eq!(j.append(record(20)).unwrap(), 21);
        let j = reopen(reopen(j));
        assert_eq!(j.next_seq(), 22);
        assert_eq!(unacked_records(&j).last(), Some(&stored(20, 21)));
    }
}

#[test]
fn a_blank_region_is_an_empty_journal_and_writes_nothing_on_open() {
    let mut j = open(ram());
    assert_eq!((j.next_seq(), j.acked_up_to(), j.unacked()), (1, 0, 0));
    assert_eq!(j.pending(8).unwrap(), None);
    assert!(j.storage().image().iter().all(|&b| b == ERASED));
    assert_eq!(j.ack(1), Err(JournalError::AckBeyondEnd { up_to: 1, last: 0 }));
    assert_eq!(j.append(record(0)).unwrap(), 1);
}

#[test]
fn a_region_of_garbage_is_an_empty_journal() {
    let mut storage = ram();
    let mut seed = 0x2545_F491u32;
    for b in storage.image_mut() {
        seed ^= seed << 13;
        seed ^= seed >> 17;
        seed ^= seed << 5;
        *b = seed as u8;
    }
    let mut j = open(storage);
    assert_eq!(j.next_seq(), 1);
    append_all(&mut j, 0..3);
    let mut j = reopen(j);
    assert_eq!(upload_all(&mut j), vec![stored(0, 1), stored(1, 2), stored(2, 3)]);
}

#[test]
fn a_record_at_full_capacity_fits_a_frame() {
    let full = |c: char, n: usize| bounded::<MAX_NUMBER_LEN>(&c.to_string().repeat(n)).unwrap();
    let t = UnixTime { secs: u64::MAX, millis: u16::MAX };
    let big = CallRecord {
        box_id: BoxId(u64::MAX),
        seq: 0,
        caller: full('1', MAX_NUMBER_LEN),
        callee: full('2', MAX_NUMBER_LEN),
        start: t,
        answer: Some(t),
        end: t,
        outcome: CallOutcome::Failed { status: u16::MAX },
        duration_ms: u64::MAX,
        mode: Mode::Recovering,
    };
    let mut j = open(RamStorage::<1024>::new(MIN_SECTOR_SIZE, MAX_WRITE_SIZE));
    // The largest record, padded, still fits a minimal sector with its header and an ack.
    for _ in 0..2 {
        j.append(big.clone()).unwrap();
    }
    let mut j = reopen(j);
    let got = upload_all(&mut j);
    assert_eq!(got, vec![CallRecord { seq: 1, ..big.clone() }, CallRecord { seq: 2, ..big }]);
}

#[test]
fn unusable_geometries_are_refused() {
    let refused = |s: RamStorage<2048>| match Journal::open(s) {
        Err(JournalError::Geometry(e)) => e,
        other => panic!("expected a geometry error, got {other:?}"),
    };
    assert_eq!(refused(RamStorage::new(512, 0)), GeometryError::BadWriteSize);
    assert_eq!(refused(RamStorage::new(512, 3)), GeometryError::BadWriteSize);
    assert_eq!(refused(RamStorage::new(512, 64)), GeometryError::BadWriteSize);
    assert_eq!(refused(RamStorage::new(256, 1)), GeometryError::BadSectorSize);
    assert_eq!(refused(RamStorage::new(600, 16)), GeometryError::BadSectorSize);
    assert_eq!(refused(RamStorage::new(1536, 1)), GeometryError::BadCapacity);
    assert_eq!(refused(RamStorage::new(2048, 1)), GeometryError::BadCapacity);
}
