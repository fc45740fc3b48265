//! Scenario 5: after an outage in which phones registered with the box (two known from
//! before, one new) and called, school A's WAN comes back. The box hands its bindings back at
//! once: the central office reaches every phone of the school within 5 s of the restore,
//! while no phone has registered again (they registered for an hour). The outage's call
//! records reach the cloud exactly once, rated (the rig's on-net tariff makes an answered
//! call cost 600 micro-units; the refused emergency call is free).

use std::time::Duration;

use carillon_hil_tests::rig::{cloud_sip, ON_NET_TARIFF};
use serde_json::Value;

use crate::common::*;
use crate::ensure;

pub fn run(ctx: &mut Ctx) -> Result<(), String> {
    let rig = ctx.rig()?;
    let a = rig.a();
    let (p201, p202, p204) = (a.phone("201"), a.phone("202"), a.phone("204"));
    register(&rig, p201, a.box_sip)?;
    register(&rig, p202, a.box_sip)?;
    let office = &rig.office[0];
    register(&rig, office, cloud_sip())?;

    rig.cut_wan(0)?;
    box_log(&rig, 0, "to=Survival", 1, Duration::from_secs(10))?;
    register(&rig, p204, a.box_sip)?;
    call(&rig, p201, a.box_sip, "202", p202)?;
    call(&rig, p204, a.box_sip, "201", p201)?;
    refused(&rig, p202, a.box_sip, "112")?;
    box_log(&rig, 0, "call record journaled seq=3", 1, Duration::from_secs(5))?;

    let restored = rig.restore_wan(0)?;
    let reached = reach_every_phone(&rig, 0, office, &[p201, p202, p204], restored)?;
    let (figure, worst) = reach_figure(&reached);
    ctx.figure("cloud reaches the phone again after the restore", figure);
    ensure!(
        worst <= REACH_WITHIN,
        "the cloud reached every phone only {worst:?} after the restore (target {REACH_WITHIN:?})"
    );

    // The journal: three records, uploaded once, rated.
    box_log(&rig, 0, "to=Online", 2, Duration::from_secs(20))?;
    let box_id = Value::from(a.box_id);
    let recs = wait_records(&rig, a.site_id, "the outage's three records", Duration::from_secs(20), |r| {
        records_where(r, "box_id", &box_id).len() >= 3
    })?;
    // A moment later nothing more may come: wait until the box's acknowledged sequence is 3.
    let info = carillon_hil_tests::process::wait_for("box A acked_seq 3", Duration::from_secs(10), || {
        rig.box_info(0).ok().filter(|i| i["acked_seq"] == 3)
    })?;
    let recs_after = rig.records(a.site_id)?;
    let from_box = records_where(&recs_after, "box_id", &box_id);
    let mut seqs: Vec<i64> = from_box.iter().filter_map(|r| r["box_seq"].as_i64()).collect();
    seqs.sort_unstable();
    ensure!(
        seqs == [1, 2, 3],
        "box records by sequence: {seqs:?} (want 1, 2, 3 once each): {}",
        Value::from(recs.clone())
    );
    let cost = ON_NET_TARIFF.0 * ON_NET_TARIFF.1;
    for (caller, callee) in [("201", "202"), ("204", "201")] {
        let r = from_box.iter().find(|r| r["caller"] == caller && r["callee"] == callee);
        ensure!(
            r.is_some_and(|r| r["outcome"] == "answered" && r["class"] == "on_net" && r["cost_micros"] == cost),
            "outage call {caller}->{callee} not recorded answered and rated: {}",
            Value::from(recs_after.clone())
        );
    }
    let sos = from_box.iter().find(|r| r["callee"] == "112");
    ensure!(
        sos.is_some_and(|r| r["class"] == "emergency" && r["outcome"] != "answered" && r["cost_micros"] == 0),
        "the refused emergency call's record: {}",
        Value::from(recs_after.clone())
    );
    ctx.figure("outage records in the cloud", format!("seq {seqs:?} once each, rated; box {}", info["mode"]));
    Ok(())
}
