//! Seeds a SQLite database for the SIP benchmark (`scripts/bench-cloud.sh`, issue 4) through the
//! [`Store`] API, and writes SIPp injection files with the generated passwords.
//!
//! ```sh
//! cargo run --release -p carillon-cloud --example seed -- \
//!     --db bench.db --realm carillon.bench --phones 25000 --callees 20 --other-sites 2 --per-other 200 --out DIR
//! ```
//!
//! One organising body; site `1000` with `--phones` extensions numbered `100000`… (SIP
//! usernames `1000-100000`…) and `--callees` extensions numbered `200`… (`1000-200`…);
//! `--other-sites` more sites (`2000`, `2001`, …) with `--per-other` extensions each, so the
//! directory is not a single site. Files written to `--out` (first line `SEQUENTIAL`, then one
//! line per extension, `;`-separated, for SIPp's `-inf`):
//! - `phones.csv`: `username;password` of the `--phones` extensions;
//! - `callees.csv`: `username;password` of the callees;
//! - `calls.csv`: `caller username;caller password;dialled callee number`, callers taken from
//!   the phones, callees in turn.
//!
//! The database must not exist yet (the numbers would clash).

use std::fmt::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;

use carillon_cloud::model::{NewExtension, NewSite};
use carillon_cloud::{Store, StoreOptions};
use clap::Parser;

#[derive(Parser)]
#[command(about = "Seed a SQLite database and SIPp injection files for the SIP benchmark")]
struct Args {
    /// SQLite file to create.
    #[arg(long)]
    db: PathBuf,
    /// SIP digest realm (must match the cloud's `realm`).
    #[arg(long, default_value = "carillon")]
    realm: String,
    /// Extensions of the benchmark site that register.
    #[arg(long, default_value_t = 25_000)]
    phones: u32,
    /// Extensions of the benchmark site that answer calls.
    #[arg(long, default_value_t = 20)]
    callees: u32,
    /// Further sites.
    #[arg(long, default_value_t = 2)]
    other_sites: u32,
    /// Extensions in each further site.
    #[arg(long, default_value_t = 200)]
    per_other: u32,
    /// Directory for the CSV files.
    #[arg(long)]
    out: PathBuf,
}

fn ext(number: String) -> NewExtension {
    NewExtension { display_name: format!("Bench {number}"), number, sip_username: None }
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    match run(Args::parse()).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("seed: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn run(a: Args) -> Result<(), Box<dyn std::error::Error>> {
    if a.db.exists() {
        return Err(format!("{} exists already", a.db.display()).into());
    }
    if a.phones > 899_999 || a.callees > 700 || a.callees == 0 || a.per_other > 700 || a.other_sites > 99 {
        return Err("counts out of range".into());
    }
    std::fs::create_dir_all(&a.out)?;
    let url = format!("sqlite://{}?mode=rwc", a.db.display());
    let store = Store::connect(&url, StoreOptions { realm: a.realm.clone(), ..StoreOptions::default() }).await?;
    let now = 1_767_225_600; // 2026-01-01, a fixed creation time
    let body = store.create_body("Bench schools", now).await?;
    let site = |code: String| NewSite {
        body_id: Some(body.id),
        name: format!("Bench school {code}"),
        code,
        kind: carillon_cloud::model::SiteKind::School,
    };
    let main = store.create_site(body.id, &site("1000".into()), now).await?;

    let mut phones = String::from("SEQUENTIAL\n");
    for i in 0..a.phones {
        let c = store.create_extension(main.id, &ext((100_000 + i).to_string()), now).await?;
        writeln!(phones, "{};{}", c.extension.sip_username, c.sip_password)?;
    }
    let mut callees = String::from("SEQUENTIAL\n");
    let mut callee_numbers = Vec::new();
    for i in 0..a.callees {
        let c = store.create_extension(main.id, &ext((200 + i).to_string()), now).await?;
        writeln!(callees, "{};{}", c.extension.sip_username, c.sip_password)?;
        callee_numbers.push(c.extension.number);
    }
    for s in 0..a.other_sites {
        let other = store.create_site(body.id, &site((2000 + s).to_string()), now).await?;
        for i in 0..a.per_other {
            store.create_extension(other.id, &ext((200 + i).to_string()), now).await?;
        }
    }
    let mut calls = String::from("SEQUENTIAL\n");
    for (i, line) in phones.lines().skip(1).enumerate() {
        let callee = &callee_numbers[i % callee_numbers.len()];
        writeln!(calls, "{line};{callee}")?;
    }
    std::fs::write(a.out.join("phones.csv"), phones)?;
    std::fs::write(a.out.join("callees.csv"), callees)?;
    std::fs::write(a.out.join("calls.csv"), calls)?;
    store.close().await;
    let total = a.phones + a.callees + a.other_sites * a.per_other;
    println!("seeded {total} extensions in {} sites into {}", 1 + a.other_sites, a.db.display());
    Ok(())
}
