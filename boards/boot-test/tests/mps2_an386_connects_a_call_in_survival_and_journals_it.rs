//! On the emulated board, in survival (no uplink), two phones of the school register and one
//! calls the other through the box: the callee rings and answers, the caller gets the 200 and
//! ACKs it, the callee gets the ACK, a BYE ends the call; the box writes the call's record to
//! the journal in its flash-like store (its log shows the append).
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::time::Duration;

use carillon_boot_test::*;

#[test]
fn a_call_between_two_phones_rings_connects_ends_and_is_journaled() {
    let dir = tempdir("mps2-call");
    let store = dir.join("store.bin");
    std::fs::write(&store, store_image(&school(8))).unwrap();
    let mut qemu = Qemu::boot(&board_elf(), Some(&store));
    assert!(qemu.wait_line("SIP on UDP port 5060", 0, Duration::from_secs(30)).is_some(), "{}", qemu.log());

    let mut caller = CallPhone::new(101, qemu.sip);
    let callee = {
        let mut p = CallPhone::new(102, qemu.sip);
        assert_eq!(p.register(&password(102)), 200, "callee registers:\n{}", qemu.log());
        p
    };
    assert_eq!(caller.register(&password(101)), 200, "caller registers:\n{}", qemu.log());

    // The callee answers from its own thread, as a phone would.
    let answering = std::thread::spawn(move || {
        let (invite, from) =
            callee.recv_request("INVITE", Duration::from_secs(10)).expect("the INVITE reaches the callee");
        callee.respond(&invite, from, 180, "Ringing");
        callee.respond(&invite, from, 200, "OK");
        let got_ack = callee.recv_request("ACK", Duration::from_secs(10)).is_some();
        let (bye, from) = callee.recv_request("BYE", Duration::from_secs(10)).expect("the BYE reaches the callee");
        callee.respond(&bye, from, 200, "OK");
        (invite, got_ack)
    });

    let (status, dialog, resp) = caller.invite(102, &password(101));
    assert_eq!(status, 200, "the call connects:\n{resp}\n{}", qemu.log());
    let mut dialog = dialog.expect("a dialog");
    caller.ack(&dialog);
    let from = qemu.line_count();
    assert_eq!(caller.bye(&mut dialog), 200, "the BYE is answered:\n{}", qemu.log());

    let (invite, got_ack) = answering.join().unwrap();
    assert!(invite.contains("Record-Route:"), "the box stays in the dialog:\n{invite}");
    assert!(got_ack, "the ACK reached the callee");
    let journaled = qemu.wait_line("JournalAppended", from, Duration::from_secs(10));
    assert!(journaled.is_some(), "the call was journaled:\n{}", qemu.log());
    let _ = std::fs::remove_dir_all(&dir);
}
