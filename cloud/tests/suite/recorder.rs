//! The call-record writer: records leave the SIP path through a bounded queue and are committed
//! in batches; a stop drains the queue; a full queue makes submitters wait; nothing is lost or
//! written twice. And SQLite on a file: WAL, with reads that do not wait for the writer.
//!
//! These tests run on the default current-thread runtime on purpose: the writer task cannot run
//! until the test yields, so "records are queued when the stop begins" holds by construction.

use std::collections::HashSet;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use carillon_cloud::model::{NewExtension, NewSite, RecordCursor, RecordFilter, SiteKind};
use carillon_cloud::sip::{RecordWriter, SystemClock};
use carillon_cloud::Store;
use sqlx::Connection;

use super::common::{call, store, NOW};

async fn school(s: &Store, code: &str) -> i64 {
    let body = s.create_body("Board", NOW).await.unwrap();
    let new = NewSite { body_id: None, name: format!("School {code}"), code: code.into(), kind: SiteKind::School };
    s.create_site(body.id, &new, NOW).await.unwrap().id
}

/// Every record of `site`, all pages.
async fn all_records(s: &Store, site: i64) -> Vec<carillon_cloud::model::CallRecord> {
    let filter = RecordFilter { site_id: Some(site), ..RecordFilter::default() };
    let mut out = Vec::new();
    let mut cursor = None;
    loop {
        let page = s.list_records(&filter, cursor, 1000).await.unwrap();
        out.extend(page.records);
        match page.next_cursor {
            Some(c) => cursor = Some(RecordCursor::decode(&c).unwrap()),
            None => return out,
        }
    }
}

/// Each started_at in `0..n` (offset from NOW by 60 s steps) exactly once.
fn assert_each_once(records: &[carillon_cloud::model::CallRecord], n: i64) {
    assert_eq!(records.len() as i64, n, "record count");
    let starts: HashSet<i64> = records.iter().map(|r| r.started_at).collect();
    assert_eq!(starts.len() as i64, n, "each call once");
    assert!((0..n).all(|i| starts.contains(&(NOW + i * 60))), "every call present");
}

#[tokio::test]
async fn a_stop_writes_every_queued_record_exactly_once() {
    let s = store().await;
    let site = school(&s, "1234").await;
    let w = RecordWriter::start(s.clone(), Arc::new(SystemClock), 10_000, 100);
    const N: i64 = 3_000;
    for i in 0..N {
        w.submit(site, call("025551234", NOW + i * 60, Some(30))).await;
    }
    assert_eq!(w.pending(), N as usize, "all queued, none written yet, when the stop begins");
    w.stop().await;
    assert_eq!(w.pending(), 0);
    assert_each_once(&all_records(&s, site).await, N);
    let st = w.stats();
    assert_eq!(st.written.load(Ordering::Relaxed), N as u64);
    let batches = st.batches.load(Ordering::Relaxed);
    assert!((N as u64 / 100..N as u64 / 2).contains(&batches), "group commit: {batches} transactions for {N}");
}

#[tokio::test]
async fn a_full_queue_makes_submitters_wait_and_loses_nothing() {
    let s = store().await;
    let site = school(&s, "1234").await;
    let w = RecordWriter::start(s.clone(), Arc::new(SystemClock), 4, 3);
    const N: i64 = 50;
    let tasks: Vec<_> = (0..N)
        .map(|i| {
            let w = w.clone();
            tokio::spawn(async move { w.submit(site, call("025551234", NOW + i * 60, Some(30))).await })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
    assert!(w.stats().full_waits.load(Ordering::Relaxed) > 0, "the queue of 4 was full at some point");
    w.stop().await;
    assert_each_once(&all_records(&s, site).await, N);
}

#[tokio::test]
async fn a_record_submitted_after_the_stop_is_written_directly() {
    let s = store().await;
    let site = school(&s, "1234").await;
    let w = RecordWriter::start(s.clone(), Arc::new(SystemClock), 16, 8);
    w.stop().await;
    w.submit(site, call("025551234", NOW, Some(30))).await;
    assert_each_once(&all_records(&s, site).await, 1);
    assert_eq!(w.stats().direct.load(Ordering::Relaxed), 1);
}

#[tokio::test]
async fn a_refused_record_is_counted_and_the_rest_of_its_batch_is_stored() {
    let s = store().await;
    let site = school(&s, "1234").await;
    let w = RecordWriter::start(s.clone(), Arc::new(SystemClock), 100, 100);
    for i in 0..5 {
        w.submit(site, call("025551234", NOW + i * 60, Some(30))).await;
    }
    w.submit(site + 1000, call("025551234", NOW, Some(30))).await; // no such site
    for i in 5..10 {
        w.submit(site, call("025551234", NOW + i * 60, Some(30))).await;
    }
    w.stop().await;
    assert_each_once(&all_records(&s, site).await, 10);
    assert_eq!(w.stats().refused.load(Ordering::Relaxed), 1);
    assert_eq!(w.stats().written.load(Ordering::Relaxed), 10);
}

#[tokio::test]
async fn sqlite_on_a_file_uses_wal_and_reads_do_not_wait_for_a_blocked_writer() {
    if std::env::var("DATABASE_URL").is_ok_and(|u| u.starts_with("postgres")) {
        eprintln!("skipped: SQLite-file specific");
        return;
    }
    let dir = std::env::temp_dir().join(format!("carillon-wal-{}-{}", std::process::id(), rand_tag()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("cloud.db");
    let url = format!("sqlite://{}?mode=rwc", path.display());
    let s = Store::connect(&url, Default::default()).await.unwrap();
    let site = school(&s, "1234").await;
    let user = s
        .create_extension(
            site,
            &NewExtension { number: "201".into(), sip_username: None, display_name: "A".into() },
            NOW,
        )
        .await
        .unwrap()
        .extension
        .sip_username;

    let mut other = sqlx::SqliteConnection::connect(&format!("sqlite://{}", path.display())).await.unwrap();
    let mode: String = sqlx::query_scalar("PRAGMA journal_mode").fetch_one(&mut other).await.unwrap();
    assert_eq!(mode, "wal");

    // Another process holds the write lock: a store write (here one that starts by writing, so
    // SQLite's busy timeout applies) must wait for it, holding the store's write connection...
    sqlx::query("BEGIN IMMEDIATE").execute(&mut other).await.unwrap();
    let writer = {
        let s = s.clone();
        tokio::spawn(async move { s.create_body("Second", NOW).await })
    };
    for _ in 0..20 {
        tokio::task::yield_now().await; // let it take the write connection and block
    }
    // ...while the SIP path's reads go on (bounded far below the writer's 5 s busy timeout).
    for _ in 0..10 {
        let cred = tokio::time::timeout(Duration::from_secs(2), s.sip_credential(&user)).await;
        assert!(matches!(cred, Ok(Ok(_))), "credential read while the writer is blocked: {cred:?}");
    }
    assert!(!writer.is_finished(), "the write waits for the lock");
    sqlx::query("COMMIT").execute(&mut other).await.unwrap();
    writer.await.unwrap().unwrap();
    assert_eq!(s.list_bodies().await.unwrap().len(), 2);
    s.close().await;
    other.close().await.ok();
    std::fs::remove_dir_all(&dir).ok();
}

fn rand_tag() -> u32 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.subsec_nanos()).unwrap_or(0)
}
