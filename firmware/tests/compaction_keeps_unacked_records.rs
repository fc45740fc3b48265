//! Reclaiming acknowledged sectors keeps every unacknowledged record, and sequence numbers keep
//! increasing across reclaiming and reboots, through many turns of the ring.
#![allow(clippy::unwrap_used, missing_docs)]

mod common;

use std::collections::VecDeque;

use carillon_firmware::journal::*;
use common::*;

#[test]
fn compaction_keeps_unacked_records_and_numbering_goes_on() {
    for write_size in [1, 8] {
        let mut j = open(RamStorage::<2048>::new(512, write_size));
        // The model: records not yet acked, oldest first.
        let mut unacked: VecDeque<_> = VecDeque::new();
        let mut next = 1u64;
        let mut n = 0u64;
        let mut fulls = 0;
        for round in 0..60 {
            // Append until full (or a few, on some rounds).
            let burst = if round % 3 == 0 { 3 } else { 1000 };
            for _ in 0..burst {
                match j.append(record(n)) {
                    Ok(seq) => {
                        assert_eq!(seq, next, "numbers increase without gaps");
                        unacked.push_back(stored(n, seq));
                        next += 1;
                        n += 1;
                    }
                    Err(JournalError::Full) => {
                        fulls += 1;
                        break;
                    }
                    Err(e) => panic!("{e:?}"),
                }
            }
            // The journal offers exactly the unacked records, in order.
            assert_eq!(unacked_records(&j), Vec::from(unacked.clone()), "round {round}");
            // The cloud acks a varying part of them.
            let take = unacked.len() * (round % 4 + 1) / 4;
            if take > 0 {
                let up_to = unacked[take - 1].seq;
                j.ack(up_to).unwrap();
                unacked.drain(..take);
            }
            if round % 5 == 4 {
                j = reopen(j);
                assert_eq!(j.next_seq(), next, "numbering survives a reboot");
            }
        }
        let j = reopen(j);
        assert_eq!(unacked_records(&j), Vec::from(unacked));
        assert!(next > 300, "the ring turned many times ({next} records)");
        assert!(fulls > 10);
        assert!(j.storage().erase_count() > 40, "sectors were reclaimed");
    }
}

#[test]
fn a_partly_acked_oldest_sector_is_not_reclaimed() {
    let mut j = open(ram());
    let mut n = 0;
    while j.storage().image()[512..].iter().all(|&b| b == ERASED) {
        j.append(record(n)).unwrap();
        n += 1;
    }
    let in_first_sector = n - 1; // the last append started the second sector
    while j.append(record(n)).is_ok() {
        n += 1;
    }
    // All but the last record of the oldest sector acked: it cannot be reclaimed yet.
    j.ack(in_first_sector - 1).unwrap();
    assert_eq!(j.append(record(999)), Err(JournalError::Full));
    j.ack(in_first_sector).unwrap();
    assert_eq!(j.append(record(999)).unwrap(), n + 1);
    let mut j = reopen(j);
    let got = upload_all(&mut j);
    assert_eq!(got.first().unwrap().seq, in_first_sector + 1);
    assert_eq!(got.last().unwrap(), &stored(999, n + 1));
    assert_eq!(got.len() as u64, n + 1 - in_first_sector);
}
