//! Power lost in the middle of an append loses that record only: every earlier record is kept,
//! the torn bytes are never written over, and numbering continues after the last good record.
#![allow(clippy::unwrap_used, missing_docs)]

mod common;

use carillon_firmware::journal::*;
use common::*;

/// A journal with records 1..=4, and the storage images before and after appending record 5.
fn before_and_after() -> (Ram, Ram, std::ops::Range<usize>) {
    let mut j = open(ram());
    append_all(&mut j, 0..4);
    let before = j.storage().clone();
    j.append(record(4)).unwrap();
    let after = j.into_storage();
    let differ: Vec<usize> = (0..before.image().len()).filter(|&i| before.image()[i] != after.image()[i]).collect();
    let frame = *differ.first().unwrap()..*differ.last().unwrap() + 1;
    (before, after, frame)
}

/// After recovery: records 1..=4 intact, record 5 gone, and the journal goes on working.
fn check_recovered(mut j: Journal<Ram>, what: &str) {
    let expected: Vec<_> = (0..4).map(|n| stored(n, n + 1)).collect();
    assert_eq!(unacked_records(&j), expected, "{what}");
    assert_eq!(j.next_seq(), 5, "{what}");
    // The next append reuses number 5 and lands after the damage, never on it.
    assert_eq!(j.append(record(99)).unwrap(), 5, "{what}");
    assert_eq!(j.append(record(100)).unwrap(), 6, "{what}");
    let j = reopen(j);
    let mut expected = expected;
    expected.extend([stored(99, 5), stored(100, 6)]);
    assert_eq!(unacked_records(&j), expected, "{what}");
}

#[test]
fn truncated_at_every_byte_of_the_last_frame() {
    let (before, after, frame) = before_and_after();
    assert!(frame.len() > 40, "a record frame is {} bytes", frame.len());
    for cut in frame.clone() {
        let mut storage = after.clone();
        storage.image_mut()[cut..frame.end].fill(ERASED);
        if cut == frame.start {
            assert_eq!(storage.image(), before.image());
        }
        let j = open(storage);
        assert_eq!(j.recovery().torn_tail, cut > frame.start, "cut at {cut}");
        check_recovered(j, &format!("cut at {cut}"));
    }
}

#[test]
fn a_flipped_byte_in_the_last_frame() {
    let (_, after, frame) = before_and_after();
    for at in frame {
        for flip in [0x01, 0x55, 0xFF] {
            let mut storage = after.clone();
            storage.image_mut()[at] ^= flip;
            let j = open(storage);
            assert!(j.recovery().torn_tail, "flip at {at}");
            check_recovered(j, &format!("flip {flip:#x} at {at}"));
        }
    }
}

#[test]
fn power_cut_during_the_write_at_every_byte() {
    let (_, _, frame) = before_and_after();
    for budget in 0..frame.len() {
        let mut j = open(ram());
        append_all(&mut j, 0..4);
        j.storage_mut().cut_power_after(budget);
        assert!(is_power_cut(j.append(record(4))), "budget {budget}");
        let mut storage = j.into_storage();
        storage.restore_power();
        check_recovered(open(storage), &format!("power cut after {budget} bytes"));
    }
}

#[test]
fn a_failed_write_seals_the_sector_without_a_reboot() {
    let mut j = open(ram());
    append_all(&mut j, 0..4);
    j.storage_mut().cut_power_after(10);
    assert!(is_power_cut(j.append(record(4))));
    j.storage_mut().restore_power();
    // Same run, no reopen: the number was not used up, and the torn bytes are not written over
    // (RamStorage would refuse a write to bytes that are not erased).
    assert_eq!(j.append(record(5)).unwrap(), 5);
    let expected: Vec<_> = (0..4).map(|n| stored(n, n + 1)).chain([stored(5, 5)]).collect();
    assert_eq!(unacked_records(&j), expected);
}

#[test]
fn a_torn_sector_header_is_ignored() {
    // Fill the first sector so that the next append starts sector 1, and cut power while its
    // header is written.
    let mut j = open(ram());
    let mut n = 0;
    while j.storage().image()[512..].iter().all(|&b| b == ERASED) {
        let before = j.storage().clone();
        j.append(record(n)).unwrap();
        if j.storage().image()[512..].iter().any(|&b| b != ERASED) {
            // That append started sector 1: redo it with a cut inside the header.
            let mut torn = before;
            torn.cut_power_after(5);
            let mut j2 = open(torn);
            assert!(is_power_cut(j2.append(record(n))));
            let mut storage = j2.into_storage();
            storage.restore_power();
            let j3 = open(storage);
            assert_eq!(j3.recovery().sectors_in_use, 1);
            assert_eq!(j3.next_seq(), n + 1);
            let expected: Vec<_> = (0..n).map(|m| stored(m, m + 1)).collect();
            assert_eq!(unacked_records(&j3), expected);
            let mut j3 = j3;
            assert_eq!(j3.append(record(n)).unwrap(), n + 1);
            break;
        }
        n += 1;
    }
    assert!(n > 3);
}
