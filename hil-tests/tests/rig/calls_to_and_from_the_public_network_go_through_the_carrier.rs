//! Scenario 3: a phone of school A calls a national number, which leaves through the
//! carrier's trunk (SIPp answering as the carrier), and an emergency number, which goes the
//! same way while online; the carrier calls the school's DID, which rings the secretariat
//! ring group (201 answers, 202 rings and is cancelled). Records: national fixed at its
//! tariff, the inbound call on the school.

use std::time::Duration;

use carillon_hil_tests::rig::{NATIONAL_TARIFF, SECRETARIAT_DID};
use carillon_hil_tests::sipp::{self, Sipp};
use serde_json::Value;

use crate::common::*;
use crate::ensure;

pub fn run(ctx: &mut Ctx) -> Result<(), String> {
    let rig = ctx.rig()?;
    let a = rig.a();
    let (p201, p202) = (a.phone("201"), a.phone("202"));
    register(&rig, p201, a.box_sip)?;
    register(&rig, p202, a.box_sip)?;

    let out = call(&rig, p201, a.box_sip, "022345678", &rig.carrier)?;
    let sos = call(&rig, p201, a.box_sip, "112", &rig.carrier)?;

    // Inbound: the carrier calls the DID; both members ring, 201 answers, 202 is cancelled.
    let answers = sipp::answer(p201, &rig.dir)?;
    let rings = sipp::ring_until_cancelled(p202, &rig.dir)?;
    let cloud = carillon_hil_tests::rig::cloud_sip();
    let inbound =
        Sipp::start(&rig.carrier, "carrier_call.xml", Some(cloud), &["-s", SECRETARIAT_DID, "-d", "300"], &rig.dir)
            .finish(Duration::from_secs(30));
    let (ans, ring) = (answers.finish(Duration::from_secs(10)), rings.finish(Duration::from_secs(10)));
    ensure!(inbound.ok(), "the carrier calling {SECRETARIAT_DID}: SIPp exited {:?}: {}", inbound.code, inbound.errors);
    ensure!(ans.ok(), "201 answering the DID call: SIPp exited {:?}: {}", ans.code, ans.errors);
    ensure!(ring.ok(), "202 ringing and being cancelled: SIPp exited {:?}: {}", ring.code, ring.errors);
    let inbound_setup = inbound.rtd.unwrap_or_default();
    ctx.figure(
        "set-up times",
        setup_figure(&[
            ("201->022345678 via carrier", out),
            ("201->112 via carrier", sos),
            ("carrier->DID->group 300", inbound_setup),
        ]),
    );

    let recs = wait_records(&rig, a.site_id, "three records of school A", Duration::from_secs(10), |r| r.len() >= 3)?;
    let national: Vec<&Value> = recs.iter().filter(|r| r["callee"] == "022345678").collect();
    let cost = NATIONAL_TARIFF.0 * NATIONAL_TARIFF.1;
    ensure!(
        national.len() == 1 && national[0]["class"] == "national_fixed" && national[0]["cost_micros"] == cost,
        "the national call's record (want one, national_fixed, {cost}): {}",
        Value::from(recs.clone())
    );
    let emergency: Vec<&Value> = recs.iter().filter(|r| r["callee"] == "112").collect();
    ensure!(
        emergency.len() == 1 && emergency[0]["class"] == "emergency",
        "the emergency call's record: {}",
        Value::from(recs.clone())
    );
    let inbound: Vec<&Value> = recs.iter().filter(|r| r["class"] == "inbound").collect();
    ensure!(
        inbound.len() == 1 && inbound[0]["outcome"] == "answered" && inbound[0]["callee"] == SECRETARIAT_DID,
        "the inbound call's record: {}",
        Value::from(recs.clone())
    );
    ctx.figure("records", format!("national_fixed {cost} micro-units, emergency, inbound answered: one each"));
    Ok(())
}
