//! The rig's runner (`harness = false`): checks that it can run here (root, namespaces, SIPp,
//! baresip) and says clearly why not when it cannot (the run is then skipped), removes
//! namespaces that a dead run of this crate left, builds the release binaries, runs every
//! scenario on a fresh rig one after another, and prints the table of results and figures.
//!
//! `cargo test -p carillon-hil-tests --test rig [-- NAME_FILTER]`.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod common;

mod a_flapping_wan_during_steady_calling_loses_and_duplicates_no_record;
mod a_hostile_lan_host_gets_errors_while_the_other_phones_call;
mod box_killed_during_the_outage_restarts_with_config_and_journal_and_serves_in_survival;
mod calls_inside_a_school_between_schools_and_to_the_central_office_connect_online;
mod calls_to_and_from_the_public_network_go_through_the_carrier;
mod phones_register_through_their_box_and_the_cloud_sees_them;
mod wan_cut_the_school_survives_and_keeps_calling;
mod wan_restored_the_cloud_reaches_every_phone_and_gets_the_outage_records_once;

use std::panic::AssertUnwindSafe;
use std::time::Instant;

use carillon_hil_tests::{baresip, binaries, netns, sipp};
use common::Ctx;

/// The longest the scenarios may take together, once the binaries are built (they take about
/// three minutes).
const RUN_LIMIT: std::time::Duration = std::time::Duration::from_secs(20 * 60);

type Scenario = (&'static str, fn(&mut Ctx) -> Result<(), String>);

const SCENARIOS: &[Scenario] = &[
    (
        "phones_register_through_their_box_and_the_cloud_sees_them",
        phones_register_through_their_box_and_the_cloud_sees_them::run,
    ),
    (
        "calls_inside_a_school_between_schools_and_to_the_central_office_connect_online",
        calls_inside_a_school_between_schools_and_to_the_central_office_connect_online::run,
    ),
    (
        "calls_to_and_from_the_public_network_go_through_the_carrier",
        calls_to_and_from_the_public_network_go_through_the_carrier::run,
    ),
    ("wan_cut_the_school_survives_and_keeps_calling", wan_cut_the_school_survives_and_keeps_calling::run),
    (
        "wan_restored_the_cloud_reaches_every_phone_and_gets_the_outage_records_once",
        wan_restored_the_cloud_reaches_every_phone_and_gets_the_outage_records_once::run,
    ),
    (
        "box_killed_during_the_outage_restarts_with_config_and_journal_and_serves_in_survival",
        box_killed_during_the_outage_restarts_with_config_and_journal_and_serves_in_survival::run,
    ),
    (
        "a_flapping_wan_during_steady_calling_loses_and_duplicates_no_record",
        a_flapping_wan_during_steady_calling_loses_and_duplicates_no_record::run,
    ),
    (
        "a_hostile_lan_host_gets_errors_while_the_other_phones_call",
        a_hostile_lan_host_gets_errors_while_the_other_phones_call::run,
    ),
];

enum Outcome {
    Passed,
    Failed(String),
}

/// One line of the table: scenario, outcome, seconds, figures.
type Row<'a> = (&'a str, Outcome, f64, Vec<(String, String)>);

fn main() {
    let filter: Option<String> = std::env::args().skip(1).find(|a| !a.starts_with('-'));
    let chosen: Vec<&Scenario> =
        SCENARIOS.iter().filter(|(name, _)| filter.as_deref().is_none_or(|f| name.contains(f))).collect();
    let why_not = netns::unavailable()
        .or_else(|| (!sipp::available()).then(|| "sipp is not installed (apt-get install sip-tester)".to_owned()))
        .or_else(|| {
            (!baresip::available()).then(|| "baresip is not installed (apt-get install baresip-core)".to_owned())
        });
    if let Some(why) = why_not {
        println!("\nSKIPPED: the rig cannot run here: {why}.");
        println!("rig: 0 passed, 0 failed, {} skipped", chosen.len());
        return;
    }
    let removed = netns::remove_leftovers();
    if removed > 0 {
        println!("rig: removed {removed} namespaces left by an earlier run that died");
    }
    let workspace = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let started = Instant::now();
    let bins = match binaries::release(&workspace) {
        Ok(b) => b,
        Err(e) => {
            println!("rig: {e}");
            println!("rig: 0 passed, {} failed", chosen.len());
            std::process::exit(1);
        }
    };
    println!("rig: release binaries ready in {:.1} s", started.elapsed().as_secs_f64());
    // The whole run is bounded: every wait inside is, and this is the backstop. Namespaces
    // and processes left by such an exit are removed by the next run (see `remove_leftovers`).
    std::thread::spawn(|| {
        std::thread::sleep(RUN_LIMIT);
        println!("\nrig: the run took longer than {RUN_LIMIT:?}; stopping\nrig: 0 passed, 1 failed");
        std::process::exit(1);
    });
    let base = std::env::temp_dir().join("carillon-rig");
    let mut rows: Vec<Row<'_>> = Vec::new();
    for (name, run) in chosen {
        println!("\nrig: {name} ...");
        let t = Instant::now();
        let mut ctx = Ctx::new(&bins, &base);
        let result = std::panic::catch_unwind(AssertUnwindSafe(|| run(&mut ctx)));
        let outcome = match result {
            Ok(Ok(())) => Outcome::Passed,
            Ok(Err(e)) => Outcome::Failed(e),
            Err(p) => Outcome::Failed(
                p.downcast_ref::<String>()
                    .cloned()
                    .or_else(|| p.downcast_ref::<&str>().map(|s| (*s).to_owned()))
                    .unwrap_or_else(|| "panicked".into()),
            ),
        };
        let secs = t.elapsed().as_secs_f64();
        match &outcome {
            Outcome::Passed => {
                println!("rig: {name} ... ok ({secs:.1} s)");
                ctx.discard_files();
            }
            Outcome::Failed(e) => {
                println!("rig: {name} ... FAILED ({secs:.1} s): {e}");
                println!("rig: files of the failed run kept in {}", ctx.dir().display());
            }
        }
        rows.push((*name, outcome, secs, std::mem::take(&mut ctx.figures)));
    }
    print_table(&rows);
    let failed = rows.iter().filter(|r| matches!(r.1, Outcome::Failed(_))).count();
    println!("\nrig: {} passed, {failed} failed", rows.len() - failed);
    if failed > 0 {
        std::process::exit(1);
    }
}

fn print_table(rows: &[Row<'_>]) {
    let width = rows.iter().map(|r| r.0.len()).max().unwrap_or(8).max(8);
    println!("\n{:<width$} | result | time  | figures", "scenario");
    println!("{}-+--------+-------+{}", "-".repeat(width), "-".repeat(60));
    for (name, outcome, secs, figures) in rows {
        let result = match outcome {
            Outcome::Passed => "ok",
            Outcome::Failed(_) => "FAILED",
        };
        let mut lines = figures.iter().map(|(k, v)| format!("{k}: {v}"));
        println!("{name:<width$} | {result:<6} | {secs:>4.0}s | {}", lines.next().unwrap_or_default());
        for l in lines {
            println!("{:<width$} |        |       | {l}", "");
        }
    }
}
