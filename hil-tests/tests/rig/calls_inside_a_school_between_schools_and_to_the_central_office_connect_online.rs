//! Scenario 2, online: a call inside school A (SIPp to SIPp, SIPp to the baresip softphone
//! that answers by itself, and baresip placing one), a call from school A to school B, and a
//! call to the central office. Each connects and is hung up; the cloud records each once,
//! rated on-net.

use std::time::Duration;

use carillon_hil_tests::baresip::Baresip;
use carillon_hil_tests::rig::{cloud_sip, ON_NET_TARIFF};
use carillon_hil_tests::sipp;
use serde_json::Value;

use crate::common::*;
use crate::ensure;

pub fn run(ctx: &mut Ctx) -> Result<(), String> {
    let rig = ctx.rig()?;
    let (a, b) = (rig.a(), rig.b());
    for (school, n) in [(a, "201"), (a, "202"), (b, "401")] {
        register(&rig, school.phone(n), school.box_sip)?;
    }
    let office = &rig.office[0];
    register(&rig, office, cloud_sip())?;
    let mut soft = Baresip::start(a.phone("203"), a.box_sip, &rig.dir)?;
    soft.wait_registered(Duration::from_secs(10))?;

    let p201 = a.phone("201");
    let mut setup = Vec::new();
    setup.push(("inside A 201->202", call(&rig, p201, a.box_sip, "202", a.phone("202"))?));
    setup.push(("A->B 201->85678401", call(&rig, p201, a.box_sip, "85678401", b.phone("401"))?));
    setup.push(("A->office 201->89000901", call(&rig, p201, a.box_sip, "89000901", office)?));
    // The softphone answers by itself...
    let r = sipp::call(p201, a.box_sip, "203", 300, &rig.dir);
    ensure!(r.ok(), "201 calling baresip 203: SIPp exited {:?}: {}", r.code, r.errors);
    soft.wait_event("CALL_CLOSED", 1, Duration::from_secs(5))?;
    if let Some(d) = r.rtd {
        setup.push(("201->203 (baresip answers)", d));
    }
    // ... and places a call: baresip 203 dials 202, which answers; baresip hangs up.
    let uas = sipp::answer(a.phone("202"), &rig.dir)?;
    soft.command("dial", "202")?;
    let t = soft.wait_event("CALL_ESTABLISHED", 2, Duration::from_secs(10))?;
    soft.command("hangup", "")?;
    let answered = uas.finish(Duration::from_secs(10));
    ensure!(answered.ok(), "202 answering baresip 203: SIPp exited {:?}: {}", answered.code, answered.errors);
    setup.push(("203 (baresip) dials 202, until established", t));
    ctx.figure("set-up times (INVITE to 200)", setup_figure(&setup));

    // The cloud's records of school A: each call once, answered, rated on-net (the rig's
    // on-net tariff bills 60 s at 10 micro-units whatever the length).
    let expected = [("201", "202"), ("201", "85678401"), ("201", "89000901"), ("201", "203"), ("203", "202")];
    let recs = wait_records(&rig, a.site_id, "school A's five calls recorded", Duration::from_secs(10), |r| {
        r.len() >= expected.len()
    })?;
    ensure!(
        recs.len() == expected.len(),
        "school A has {} records, want {}: {}",
        recs.len(),
        expected.len(),
        Value::from(recs.clone())
    );
    let cost = ON_NET_TARIFF.0 * ON_NET_TARIFF.1;
    for (caller, callee) in expected {
        let found: Vec<&Value> = recs.iter().filter(|r| r["caller"] == caller && r["callee"] == callee).collect();
        ensure!(found.len() == 1, "record {caller}->{callee}: {} found in {}", found.len(), Value::from(recs.clone()));
        let r = found[0];
        ensure!(
            r["outcome"] == "answered" && r["class"] == "on_net" && r["cost_micros"] == cost && r["billed_secs"] == 60,
            "record {caller}->{callee} not answered and rated on-net: {r}"
        );
    }
    ctx.figure(
        "records in the cloud",
        format!("{} for {} calls, each answered, on_net, {cost} micro-units", recs.len(), expected.len()),
    );
    Ok(())
}
