//! Scenario 1: SIPp phones of both schools and a baresip softphone register through their
//! school's box; the cloud sees them: the central office calls each one of them by its
//! on-net number (8 + site code + extension) and each answers, reached over its box's flow.

use std::time::Duration;

use carillon_hil_tests::baresip::Baresip;
use carillon_hil_tests::rig::cloud_sip;

use crate::common::*;
use crate::ensure;

pub fn run(ctx: &mut Ctx) -> Result<(), String> {
    let rig = ctx.rig()?;
    let (a, b) = (rig.a(), rig.b());
    let mut reg = Vec::new();
    for (school, n) in [(a, "201"), (a, "202"), (b, "401")] {
        reg.push((n, register(&rig, school.phone(n), school.box_sip)?));
    }
    ctx.figure("registration through the box (SIPp, REGISTER to 200 after 401)", setup_figure(&reg));
    let soft = Baresip::start(a.phone("203"), a.box_sip, &rig.dir)?;
    let t = soft.wait_registered(Duration::from_secs(10))?;
    ctx.figure("baresip 203 registered through box A", ms(t));
    let office = &rig.office[0];
    register(&rig, office, cloud_sip())?;

    // The cloud reaches each phone through its box.
    let mut setup = Vec::new();
    for (school, n) in [(a, "201"), (a, "202"), (b, "401")] {
        let dialled = format!("8{}{n}", school.code);
        setup.push((n, call(&rig, office, cloud_sip(), &dialled, school.phone(n))?));
    }
    let r = carillon_hil_tests::sipp::call(office, cloud_sip(), "81234203", 300, &rig.dir);
    ensure!(r.ok(), "the central office calling baresip 203: SIPp exited {:?}: {}", r.code, r.errors);
    soft.wait_event("CALL_ESTABLISHED", 1, Duration::from_secs(5))?;
    soft.wait_event("CALL_CLOSED", 1, Duration::from_secs(5))?;
    if let Some(d) = r.rtd {
        setup.push(("203 (baresip)", d));
    }
    ctx.figure("central office -> each phone, set-up", setup_figure(&setup));
    for i in 0..2 {
        let info = rig.box_info(i)?;
        ensure!(info["online"] == true && info["mode"] == "online", "box {i} as the cloud shows it: {info}");
    }
    Ok(())
}
