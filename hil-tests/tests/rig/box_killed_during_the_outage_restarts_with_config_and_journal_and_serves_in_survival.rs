//! Scenario 6: school A's WAN is cut (no traffic: the keepalives alone tell), a call is made
//! in survival, then the box process is killed with SIGKILL and started again on the same
//! state directory, still cut off. Its configuration and journal are intact and it serves
//! the school again in survival; when the WAN returns the cloud reaches both phones within
//! 5 s (the restarted box's reconnection backoff is bounded) and both calls' records reach the
//! cloud once.

use std::time::{Duration, Instant};

use carillon_hil_tests::rig::DETECT_WITHIN;
use serde_json::Value;

use crate::common::*;
use crate::ensure;

pub fn run(ctx: &mut Ctx) -> Result<(), String> {
    let mut rig = ctx.rig()?;
    register(&rig, &rig.office[0], carillon_hil_tests::rig::cloud_sip())?;
    rig.cut_wan(0)?;
    let survival = box_log(&rig, 0, "to=Survival", 1, Duration::from_secs(10))?;
    ctx.figure(
        "time to survival after the cut (keepalives alone)",
        format!("{} ms (target {} ms)", survival.as_millis(), DETECT_WITHIN.as_millis()),
    );
    ensure!(survival <= DETECT_WITHIN, "survival {survival:?} after the cut, target {DETECT_WITHIN:?}");
    {
        let a = rig.a();
        register(&rig, a.phone("201"), a.box_sip)?;
        register(&rig, a.phone("202"), a.box_sip)?;
        call(&rig, a.phone("201"), a.box_sip, "202", a.phone("202"))?;
    }
    box_log(&rig, 0, "call record journaled seq=1", 1, Duration::from_secs(5))?;

    // kill -9, then the same binary on the same state directory.
    if let Some(p) = rig.schools[0].box_proc.as_mut() {
        p.kill9();
    }
    let restart = Instant::now();
    rig.start_box(0)?;
    box_log(&rig, 0, "carillon-box started", 1, Duration::from_secs(10))?;
    let log = rig.a().box_proc().log_text();
    ensure!(log.contains("config_version=Some("), "configuration lost across the kill:\n{log}");
    ensure!(log.contains("journal_unacked=1"), "journal lost across the kill:\n{log}");
    ensure!(!log.contains("to=Online"), "box online although the WAN is cut:\n{log}");
    let a = rig.a();
    register(&rig, a.phone("201"), a.box_sip)?;
    let serving = restart.elapsed();
    register(&rig, a.phone("202"), a.box_sip)?;
    let setup = call(&rig, a.phone("201"), a.box_sip, "202", a.phone("202"))?;
    box_log(&rig, 0, "call record journaled seq=2", 1, Duration::from_secs(5))?;
    ctx.figure("restart after SIGKILL to first registration served", ms(serving));
    ctx.figure("call set-up in survival after the restart", ms(setup));

    let restored = rig.restore_wan(0)?;
    let reached = reach_every_phone(&rig, 0, &rig.office[0], &[a.phone("201"), a.phone("202")], restored)?;
    let (figure, worst) = reach_figure(&reached);
    ctx.figure("cloud reaches the phone again after the restore (box restarted in the outage)", figure);
    ensure!(
        worst <= REACH_WITHIN,
        "the cloud reached every phone only {worst:?} after the restore (target {REACH_WITHIN:?})"
    );
    box_log(&rig, 0, "to=Online", 1, Duration::from_secs(30))?;
    let box_id = Value::from(a.box_id);
    let recs = wait_records(&rig, a.site_id, "both calls' records", Duration::from_secs(20), |r| {
        records_where(r, "box_id", &box_id).len() >= 2
    })?;
    carillon_hil_tests::process::wait_for("box A acked_seq 2", Duration::from_secs(10), || {
        rig.box_info(0).ok().filter(|i| i["acked_seq"] == 2)
    })?;
    let recs_after = rig.records(a.site_id)?;
    let mut seqs: Vec<i64> =
        records_where(&recs_after, "box_id", &box_id).iter().filter_map(|r| r["box_seq"].as_i64()).collect();
    seqs.sort_unstable();
    ensure!(seqs == [1, 2], "records by box sequence {seqs:?}, want [1, 2]: {}", Value::from(recs));
    ctx.figure("records after the restore", "seq 1 (before the kill) and 2 (after), once each");
    Ok(())
}
