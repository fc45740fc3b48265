//! A long random run of appends, acks and reboots with power cut at random moments: after every
//! reboot the journal offers exactly the records whose append returned `Ok` and that are not
//! acknowledged, in order, and numbering never goes back.
#![allow(clippy::unwrap_used, missing_docs)]

mod common;

use carillon_firmware::journal::*;
use carillon_protocol::control::CallRecord;
use common::*;

struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

#[test]
fn power_cuts_never_lose_an_appended_record() {
    for (seed, write_size) in [(1u64, 1u32), (2, 4), (3, 32), (4, 1)] {
        let mut rng = Rng(0x9E37_79B9_7F4A_7C15 ^ seed);
        let mut j = open(RamStorage::<4096>::new(512, write_size));
        // Records appended with `Ok`, by sequence number.
        let mut appended: Vec<CallRecord> = vec![];
        // The ack is at least this after a reboot (it returned `Advanced`), at most `j.acked_up_to()`.
        let mut durable_ack = 0u64;
        let mut n = 0u64;
        let (mut cuts, mut fulls) = (0, 0);
        for step in 0..3000 {
            let cut = rng.below(10) == 0;
            if cut {
                j.storage_mut().cut_power_after(rng.below(120) as usize);
            }
            match rng.below(10) {
                0..=6 => match j.append(record(n)) {
                    Ok(seq) => {
                        assert_eq!(seq, appended.len() as u64 + 1, "step {step}");
                        appended.push(stored(n, seq));
                        n += 1;
                    }
                    Err(JournalError::Full) => fulls += 1,
                    Err(JournalError::Storage(RamError::PowerCut)) => assert!(cut),
                    Err(e) => panic!("step {step}: {e:?}"),
                },
                7 => {
                    let last = appended.len() as u64;
                    if last > j.acked_up_to() {
                        let up_to = j.acked_up_to() + 1 + rng.below((last - j.acked_up_to()).min(8));
                        match j.ack(up_to) {
                            Ok(AckOutcome::Advanced) => durable_ack = up_to,
                            Ok(_) => {}
                            Err(JournalError::Storage(RamError::PowerCut)) => assert!(cut),
                            Err(e) => panic!("step {step}: {e:?}"),
                        }
                    }
                }
                _ => {}
            }
            if cut || rng.below(20) == 0 {
                cuts += u32::from(cut);
                let in_memory_ack = j.acked_up_to();
                let mut storage = j.into_storage();
                storage.restore_power();
                j = open(storage);
                let ack = j.acked_up_to();
                assert!(ack >= durable_ack && ack <= in_memory_ack, "step {step}: ack {ack}");
                durable_ack = ack;
                assert_eq!(j.next_seq(), appended.len() as u64 + 1, "step {step}");
                let offered = unacked_records(&j);
                assert_eq!(offered, appended[ack as usize..].to_vec(), "step {step}");
            }
        }
        eprintln!("write size {write_size}: {} records, {cuts} power cuts, {fulls} times full", appended.len());
        assert!(cuts > 100 && fulls > 20, "the run exercised cuts ({cuts}) and fullness ({fulls})");
        assert!(appended.len() > 1000, "{} records", appended.len());
    }
}
