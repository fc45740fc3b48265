//! An ack that arrives twice, late, out of order, or from a confused peer changes nothing.
#![allow(clippy::unwrap_used, missing_docs)]

mod common;

use carillon_firmware::journal::*;
use common::*;

#[test]
fn repeated_and_stale_acks_change_nothing() {
    let mut j = open(ram());
    append_all(&mut j, 0..10);
    assert_eq!(j.ack(5).unwrap(), AckOutcome::Advanced);
    let image = j.storage().image().to_vec();

    for stale in [5, 4, 1, 0] {
        assert_eq!(j.ack(stale).unwrap(), AckOutcome::Stale, "ack {stale}");
    }
    assert_eq!(j.storage().image(), &image[..], "a stale ack writes nothing");
    assert_eq!(j.acked_up_to(), 5);
    assert_eq!(pending_seqs(&mut j, 8), vec![6, 7, 8, 9, 10]);

    let mut j = reopen(j);
    assert_eq!(j.ack(5).unwrap(), AckOutcome::Stale);
    assert_eq!(j.ack(3).unwrap(), AckOutcome::Stale);
    assert_eq!(pending_seqs(&mut j, 8), vec![6, 7, 8, 9, 10]);
}

#[test]
fn acks_out_of_order_keep_the_highest() {
    let mut j = open(ram());
    append_all(&mut j, 0..10);
    assert_eq!(j.ack(7).unwrap(), AckOutcome::Advanced);
    assert_eq!(j.ack(3).unwrap(), AckOutcome::Stale);
    assert_eq!(j.ack(6).unwrap(), AckOutcome::Stale);
    let mut j = reopen(j);
    assert_eq!(j.acked_up_to(), 7);
    assert_eq!(pending_seqs(&mut j, 8), vec![8, 9, 10]);
}

#[test]
fn an_ack_beyond_the_last_record_is_refused() {
    let mut j = open(ram());
    append_all(&mut j, 0..3);
    let image = j.storage().image().to_vec();
    assert_eq!(j.ack(4), Err(JournalError::AckBeyondEnd { up_to: 4, last: 3 }));
    assert_eq!(j.ack(u64::MAX), Err(JournalError::AckBeyondEnd { up_to: u64::MAX, last: 3 }));
    assert_eq!(j.storage().image(), &image[..]);
    assert_eq!((j.acked_up_to(), j.unacked()), (0, 3));
    assert_eq!(pending_seqs(&mut j, 8), vec![1, 2, 3]);
}

#[test]
fn resync_with_a_cloud_that_is_behind_or_ahead() {
    let mut j = open(ram());
    append_all(&mut j, 0..5);
    // Behind (it lost its last ack to us): an ordinary ack.
    assert_eq!(j.resync(2).unwrap(), AckOutcome::Advanced);
    assert_eq!(j.resync(1).unwrap(), AckOutcome::Stale);
    assert_eq!(pending_seqs(&mut j, 8), vec![3, 4, 5]);

    // Ahead: this journal was lost (new storage) and the cloud holds records up to 40.
    let mut fresh = open(ram());
    assert_eq!(fresh.resync(40).unwrap(), AckOutcome::Advanced);
    assert_eq!(fresh.append(record(0)).unwrap(), 41);
    let mut fresh = reopen(fresh);
    assert_eq!(fresh.next_seq(), 42);
    assert_eq!(pending_seqs(&mut fresh, 8), vec![41]);
}
