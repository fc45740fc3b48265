//! The cloud's ack is persisted in the journal: after a reboot only records above it are
//! offered for upload.
#![allow(clippy::unwrap_used, missing_docs)]

mod common;

use carillon_firmware::journal::*;
use common::*;

#[test]
fn acked_records_are_not_offered_again_after_reopen() {
    let mut j = open(ram());
    append_all(&mut j, 0..12);
    assert_eq!(pending_seqs(&mut j, 8), (1..=8).collect::<Vec<_>>());
    assert_eq!(j.ack(8).unwrap(), AckOutcome::Advanced);
    assert_eq!(pending_seqs(&mut j, 8), (9..=12).collect::<Vec<_>>());

    let mut j = reopen(j);
    assert_eq!(j.acked_up_to(), 8);
    assert_eq!(j.unacked(), 4);
    assert_eq!(pending_seqs(&mut j, 8), (9..=12).collect::<Vec<_>>());
    assert_eq!(j.pending(8).unwrap().unwrap().records[0], stored(8, 9));

    assert_eq!(j.ack(12).unwrap(), AckOutcome::Advanced);
    let mut j = reopen(j);
    assert_eq!(j.pending(8).unwrap(), None);
    assert_eq!(j.unacked(), 0);

    // New records after everything was acknowledged are offered, numbered on.
    assert_eq!(j.append(record(12)).unwrap(), 13);
    let mut j = reopen(j);
    assert_eq!(pending_seqs(&mut j, 8), vec![13]);
}

#[test]
fn an_ack_inside_a_batch_and_smaller_batches() {
    let mut j = open(ram());
    append_all(&mut j, 0..10);
    assert_eq!(pending_seqs(&mut j, 3), vec![1, 2, 3]);
    assert_eq!(pending_seqs(&mut j, 3), vec![1, 2, 3], "no ack, same batch");
    assert_eq!(pending_seqs(&mut j, 0), Vec::<u64>::new());
    assert_eq!(pending_seqs(&mut j, 100).len(), 8, "capped at a protocol batch");
    j.ack(5).unwrap();
    let mut j = reopen(j);
    assert_eq!(pending_seqs(&mut j, 3), vec![6, 7, 8]);
}

#[test]
fn uploading_after_each_reboot_delivers_each_record_once() {
    // A flapping link: each time, part of the journal is uploaded and acked, then a reboot.
    let mut j = open(ram());
    let mut delivered = vec![];
    let mut n = 0;
    for round in 0..6 {
        for _ in 0..5 {
            j.append(record(n)).unwrap();
            n += 1;
        }
        if let Some(batch) = j.pending(round % 4 + 1).unwrap() {
            delivered.extend(batch.records.iter().map(|r| r.seq));
            j.ack(batch.last_seq).unwrap();
        }
        j = reopen(j);
    }
    delivered.extend(upload_all(&mut j).iter().map(|r| r.seq));
    assert_eq!(delivered, (1..=30).collect::<Vec<_>>());
}
