//! Scenario 4: school A's WAN is cut. The box is in survival within its target
//! (`detect_within_ms`); a call inside the school placed 1 s after the cut (before the
//! keepalives can tell) connects through the per-transaction fallback; a phone that
//! registers during the outage calls and is called; an emergency number gets the configured
//! treatment (no fallback trunk is configured: a clear 503, recorded); school B is
//! untouched and still reaches the central office through the cloud.

use std::time::{Duration, Instant};

use carillon_hil_tests::rig::{cloud_sip, DETECT_WITHIN};
use carillon_hil_tests::sipp;

use crate::common::*;
use crate::ensure;

pub fn run(ctx: &mut Ctx) -> Result<(), String> {
    let rig = ctx.rig()?;
    let (a, b) = (rig.a(), rig.b());
    let (p201, p202, p203, p204, p205) =
        (a.phone("201"), a.phone("202"), a.phone("203"), a.phone("204"), a.phone("205"));
    for p in [p201, p202, p203, p205] {
        register(&rig, p, a.box_sip)?;
    }
    register(&rig, b.phone("401"), b.box_sip)?;
    register(&rig, &rig.office[0], cloud_sip())?;

    // A call up before the cut, hung up after it: in survival the box takes the BYE past the
    // unreachable cloud straight to the other phone, which answers it 200.
    let held_uas = sipp::answer(p205, &rig.dir)?;
    let held = sipp::call_start(p203, a.box_sip, "205", 4000, &rig.dir);

    std::thread::sleep(Duration::from_millis(500));
    let cut = rig.cut_wan(0)?;
    // The box's log is watched from the cut on, on the side, while the call below goes.
    let log = a.box_proc().log.clone();
    let watcher = std::thread::spawn(move || -> Option<Duration> {
        while cut.elapsed() < Duration::from_secs(15) {
            if std::fs::read_to_string(&log).unwrap_or_default().contains("to=Survival") {
                return Some(cut.elapsed());
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        None
    });
    // The caller dials 1 s after the cut.
    let at = cut + Duration::from_secs(1);
    std::thread::sleep(at.saturating_duration_since(Instant::now()));
    let early = call(&rig, p201, a.box_sip, "202", p202)?;
    let survival = watcher.join().ok().flatten().ok_or("box A not in survival within 15 s of the cut")?;
    ctx.figure(
        "time to survival after the cut (a call placed at +1 s)",
        format!("{} ms (target {} ms)", survival.as_millis(), DETECT_WITHIN.as_millis()),
    );
    ensure!(survival <= DETECT_WITHIN, "survival {survival:?} after the cut, target {DETECT_WITHIN:?}");

    let r204 = register(&rig, p204, a.box_sip)?;
    let out204 = call(&rig, p204, a.box_sip, "201", p201)?;
    let in204 = call(&rig, p202, a.box_sip, "204", p204)?;
    ctx.figure(
        "survival set-up times",
        setup_figure(&[("201->202 at cut+1s", early), ("204 (new) ->201", out204), ("202->204 (new)", in204)]),
    );
    ctx.figure("registration of a new phone in survival", ms(r204));
    refused(&rig, p201, a.box_sip, "112")?;
    ctx.figure("emergency 112 in survival (no fallback trunk configured)", "503, as configured");
    box_log(&rig, 0, "call record journaled seq=", 4, Duration::from_secs(5))?;

    let h = held.finish(Duration::from_secs(15));
    let held_answered = held_uas.finish(Duration::from_secs(2));
    ensure!(
        h.ok(),
        "the call up before the cut: its BYE in the outage did not get its 200 (SIPp exited {:?}: {})",
        h.code,
        h.errors.trim()
    );
    ensure!(
        held_answered.ok(),
        "205 did not get the BYE of the call up before the cut (SIPp exited {:?})",
        held_answered.code
    );
    ctx.figure("call up before the cut, BYE after it", "BYE 200 in survival");

    // School B does not notice.
    let info = rig.box_info(1)?;
    ensure!(info["mode"] == "online" && info["online"] == true, "box B during A's outage: {info}");
    let bsetup = call(&rig, b.phone("401"), b.box_sip, "89000901", &rig.office[0])?;
    ctx.figure("school B -> central office during A's outage", ms(bsetup));
    Ok(())
}
