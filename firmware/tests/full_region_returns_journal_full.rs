//! When every sector holds unacknowledged records, an append fails with `JournalError::Full`,
//! writes nothing, and every earlier record is kept.
#![allow(clippy::unwrap_used, missing_docs)]

mod common;

use carillon_firmware::journal::*;
use common::*;

fn fill(j: &mut Journal<Ram>) -> u64 {
    let mut n = 0;
    loop {
        match j.append(record(n)) {
            Ok(seq) => assert_eq!(seq, n + 1),
            Err(JournalError::Full) => return n,
            Err(e) => panic!("unexpected {e:?}"),
        }
        n += 1;
    }
}

#[test]
fn a_full_region_gives_journal_full_and_keeps_every_record() {
    let mut j = open(ram());
    let stored_count = fill(&mut j);
    assert!(stored_count >= 20, "4 sectors of 512 bytes hold {stored_count} records");

    let image = j.storage().image().to_vec();
    for n in 0..5 {
        assert_eq!(j.append(record(1000 + n)), Err(JournalError::Full));
    }
    assert_eq!(j.storage().image(), &image[..], "a refused append writes nothing");
    assert_eq!(j.next_seq(), stored_count + 1, "a refused append uses no number");

    let expected: Vec<_> = (0..stored_count).map(|n| stored(n, n + 1)).collect();
    assert_eq!(unacked_records(&j), expected);
    let mut j = reopen(j);
    assert_eq!(j.recovery().records, stored_count);
    assert_eq!(j.append(record(0)), Err(JournalError::Full));
    assert_eq!(unacked_records(&j), expected);
}

#[test]
fn an_ack_is_persisted_even_when_full() {
    let mut j = open(ram());
    let count = fill(&mut j);
    // One record acked: not a whole sector, so still full, but the ack itself is written
    // (each sector keeps room for one).
    assert_eq!(j.ack(1).unwrap(), AckOutcome::Advanced);
    assert_eq!(j.append(record(0)), Err(JournalError::Full));
    let mut j = reopen(j);
    assert_eq!(j.acked_up_to(), 1);
    assert_eq!(pending_seqs(&mut j, 1), vec![2]);
    assert_eq!(j.unacked(), count - 1);
}

#[test]
fn space_comes_back_once_the_oldest_sector_is_acked() {
    let mut j = open(ram());
    let count = fill(&mut j);
    // Ack everything: appends work again, numbered on.
    assert_eq!(j.ack(count).unwrap(), AckOutcome::Advanced);
    assert_eq!(j.append(record(500)).unwrap(), count + 1);
    let mut j = reopen(j);
    assert_eq!(upload_all(&mut j), vec![stored(500, count + 1)]);
}

#[test]
fn larger_write_units_fill_and_refuse_the_same_way() {
    let mut j = open(RamStorage::<2048>::new(512, 32));
    let mut n = 0;
    while j.append(record(n)).is_ok() {
        n += 1;
    }
    assert_eq!(j.append(record(n)), Err(JournalError::Full));
    let j = reopen(j);
    assert_eq!(unacked_records(&j).len() as u64, n);
}
