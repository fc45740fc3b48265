//! Boxes: one-time enrollment, authentication, status, and exactly-once journal ingestion.

use carillon_cloud::model::{BoxStatusReport, NewBox, NewSite, RecordFilter, SiteKind};
use carillon_cloud::{Store, StoreError};

use crate::common::{batch, store, NOW};

/// A store with one body, one site and one box: (store, site id, box id, enrollment token).
async fn with_box() -> (Store, i64, i64, String) {
    let s = store().await;
    let body = s.create_body("Board", NOW).await.unwrap();
    let site = s
        .create_site(
            body.id,
            &NewSite { body_id: None, name: "School".into(), code: "1234".into(), kind: SiteKind::School },
            NOW,
        )
        .await
        .unwrap();
    let issued =
        s.create_box(site.id, &NewBox { name: "box".into(), enrollment_ttl_secs: None }, 3600, NOW).await.unwrap();
    (s, site.id, issued.box_info.id, issued.enrollment_token)
}

async fn stored_seqs(s: &Store, site: i64) -> Vec<i64> {
    let page = s.list_records(&RecordFilter { site_id: Some(site), ..Default::default() }, None, 1000).await.unwrap();
    let mut seqs: Vec<i64> = page.records.iter().map(|r| r.box_seq.unwrap()).collect();
    seqs.sort_unstable();
    seqs
}

#[tokio::test]
async fn enrollment_token_works_once() {
    let (s, _, box_id, token) = with_box().await;
    let (id, credential) = s.enroll_box(&token, NOW + 10).await.unwrap();
    assert_eq!(id, box_id);
    assert!(matches!(s.enroll_box(&token, NOW + 11).await, Err(StoreError::BadToken)));
    let info = s.authenticate_box(box_id, &credential).await.unwrap();
    assert!(info.enrolled);
    assert_eq!(info.enrolled_at, Some(NOW + 10));
    assert_eq!(info.enrollment_expires_at, None);
    assert!(matches!(s.authenticate_box(box_id, "cx_wrong").await, Err(StoreError::BadToken)));
    assert!(matches!(s.authenticate_box(box_id + 99, &credential).await, Err(StoreError::BadToken)));
}

#[tokio::test]
async fn enrollment_token_expires() {
    let (s, _, box_id, token) = with_box().await;
    assert!(matches!(s.enroll_box(&token, NOW + 3600).await, Err(StoreError::BadToken)));
    assert!(!s.get_box(box_id).await.unwrap().enrolled);
}

#[tokio::test]
async fn reissued_token_replaces_the_old_one_and_then_the_credential() {
    let (s, _, box_id, first) = with_box().await;
    let (_, old_cred) = s.enroll_box(&first, NOW).await.unwrap();
    let second = s.issue_enrollment_token(box_id, 600, NOW).await.unwrap();
    // Until the new token is used, the old credential still works.
    s.authenticate_box(box_id, &old_cred).await.unwrap();
    assert!(matches!(s.enroll_box(&first, NOW + 1).await, Err(StoreError::BadToken)));
    let (_, new_cred) = s.enroll_box(&second.enrollment_token, NOW + 1).await.unwrap();
    assert_ne!(old_cred, new_cred);
    assert!(matches!(s.authenticate_box(box_id, &old_cred).await, Err(StoreError::BadToken)));
    s.authenticate_box(box_id, &new_cred).await.unwrap();
}

#[tokio::test]
async fn same_batch_twice_stores_each_record_once() {
    let (s, site, box_id, _) = with_box().await;
    assert_eq!(s.ingest_box_records(box_id, &batch(1..=5), NOW).await.unwrap(), 5);
    assert_eq!(s.ingest_box_records(box_id, &batch(1..=5), NOW).await.unwrap(), 5);
    assert_eq!(stored_seqs(&s, site).await, vec![1, 2, 3, 4, 5]);
    assert_eq!(s.get_box(box_id).await.unwrap().acked_seq, 5);
}

#[tokio::test]
async fn batch_cut_in_the_middle_then_resent_whole_stores_each_record_once() {
    let (s, site, box_id, _) = with_box().await;
    let whole = batch(1..=8);
    // The link broke after the first three records got through.
    assert_eq!(s.ingest_box_records(box_id, &whole[..3], NOW).await.unwrap(), 3);
    assert_eq!(s.ingest_box_records(box_id, &whole, NOW).await.unwrap(), 8);
    assert_eq!(stored_seqs(&s, site).await, (1..=8).collect::<Vec<_>>());
    // The statement counts each call once: 8 calls of 60 s.
    let st = s.site_statement(site, carillon_cloud::Month::parse("2025-03").unwrap()).await.unwrap();
    let national =
        st.lines.iter().find(|l| l.class == carillon_cloud::rating::DestinationClass::NationalFixed).unwrap();
    assert_eq!((national.calls, national.billed_secs), (8, 480));
}

#[tokio::test]
async fn high_water_mark_stops_at_a_gap_and_moves_when_it_fills() {
    let (s, _, box_id, _) = with_box().await;
    assert_eq!(s.ingest_box_records(box_id, &batch([1, 2, 4, 5]), NOW).await.unwrap(), 2);
    assert_eq!(s.ingest_box_records(box_id, &batch([3]), NOW).await.unwrap(), 5);
    assert_eq!(s.ingest_box_records(box_id, &[], NOW).await.unwrap(), 5);
}

#[tokio::test]
async fn a_batch_with_a_bad_record_stores_nothing() {
    let (s, site, box_id, _) = with_box().await;
    let mut b = batch(1..=3);
    b[2].call.ended_at = b[2].call.started_at - 1;
    match s.ingest_box_records(box_id, &b, NOW).await {
        Err(StoreError::Invalid(m)) => assert!(m.contains("seq 3"), "{m}"),
        other => panic!("expected Invalid, got {other:?}"),
    }
    let mut zero = batch([0]);
    zero[0].seq = 0;
    assert!(matches!(s.ingest_box_records(box_id, &zero, NOW).await, Err(StoreError::Invalid(_))));
    assert!(stored_seqs(&s, site).await.is_empty());
    assert_eq!(s.get_box(box_id).await.unwrap().acked_seq, 0);
}

#[tokio::test]
async fn oversized_batches_and_unknown_boxes_are_refused() {
    let (s, _, box_id, _) = with_box().await;
    assert!(matches!(s.ingest_box_records(box_id + 100, &batch(1..=1), NOW).await, Err(StoreError::NotFound(_))));
    assert!(matches!(s.ingest_box_records(box_id, &batch(1..=1001), NOW).await, Err(StoreError::Invalid(_))));
}

#[tokio::test]
async fn box_status_accumulates_survival_time() {
    let (s, _, box_id, _) = with_box().await;
    let r = |online, fw: Option<&str>, add| BoxStatusReport {
        online,
        firmware_version: fw.map(Into::into),
        survival_secs_add: add,
    };
    s.report_box_status(box_id, &r(true, Some("1.0.0"), 0), NOW).await.unwrap();
    s.report_box_status(box_id, &r(false, None, 120), NOW + 200).await.unwrap();
    let info = s.report_box_status(box_id, &r(true, None, 30), NOW + 400).await.unwrap();
    assert!(info.online);
    assert_eq!(info.last_seen_at, Some(NOW + 400));
    assert_eq!(info.survival_secs, 150);
    assert_eq!(info.firmware_version.as_deref(), Some("1.0.0"));
    assert!(matches!(s.report_box_status(box_id, &r(true, None, -1), NOW).await, Err(StoreError::Invalid(_))));
}

#[tokio::test]
async fn concurrent_uses_still_count_once() {
    let (s, site, box_id, token) = with_box().await;
    // Two boxes racing with one enrollment token: exactly one wins.
    let (r1, r2) = tokio::join!(s.enroll_box(&token, NOW), s.enroll_box(&token, NOW));
    assert_eq!(u8::from(r1.is_ok()) + u8::from(r2.is_ok()), 1, "{r1:?} {r2:?}");
    // The same batch uploaded on two connections at once is stored once.
    let b = batch(1..=20);
    let (a1, a2) = tokio::join!(s.ingest_box_records(box_id, &b, NOW), s.ingest_box_records(box_id, &b, NOW));
    assert_eq!((a1.unwrap(), a2.unwrap()), (20, 20));
    assert_eq!(stored_seqs(&s, site).await, (1..=20).collect::<Vec<_>>());
}
