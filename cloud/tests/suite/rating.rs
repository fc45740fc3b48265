//! Rating at ingestion and monthly statements, with figures.

use carillon_cloud::model::{CallEvent, Direction, NewBox, NewSite, Outcome, RecordFilter, SiteKind};
use carillon_cloud::rating::{DestinationClass as C, Tariff};
use carillon_cloud::{Month, Store};

use crate::common::{call, store, NOW};

/// 2025-04-01 00:00:00 UTC.
const APRIL: i64 = 1_743_465_600;

async fn priced_store() -> (Store, i64, i64, i64) {
    let s = store().await;
    for t in [
        Tariff { class: C::NationalFixed, price_micros_per_sec: 100, min_secs: 0, increment_secs: 1 },
        Tariff { class: C::NationalMobile, price_micros_per_sec: 300, min_secs: 30, increment_secs: 1 },
        Tariff { class: C::International, price_micros_per_sec: 1_000, min_secs: 0, increment_secs: 60 },
    ] {
        s.set_tariff(&t).await.unwrap();
    }
    let body = s.create_body("Board", NOW).await.unwrap();
    let site =
        |code: &str| NewSite { body_id: None, name: format!("S{code}"), code: code.into(), kind: SiteKind::School };
    let a = s.create_site(body.id, &site("1001"), NOW).await.unwrap();
    let b = s.create_site(body.id, &site("1002"), NOW).await.unwrap();
    (s, body.id, a.id, b.id)
}

#[tokio::test]
async fn each_class_is_rated_by_its_tariff() {
    let (s, _, a, _) = priced_store().await;
    let cases = [
        ("103", C::OnNet, 0),
        ("81002101", C::OnNet, 0),
        ("112", C::Emergency, 0),
        ("025551234", C::NationalFixed, 100 * 90),
        ("0475123456", C::NationalMobile, 300 * 90),
        ("0033142685300", C::International, 1_000 * 120),
    ];
    for (callee, class, cost) in cases {
        let rec = s.record_call(a, &call(callee, NOW, Some(90)), NOW).await.unwrap();
        assert_eq!((rec.class, rec.cost_micros), (class, cost), "{callee}");
        assert_eq!(rec.duration_secs, 90);
    }
    // Minimum and unanswered.
    let short = s.record_call(a, &call("0475123456", NOW, Some(10)), NOW).await.unwrap();
    assert_eq!((short.billed_secs, short.cost_micros), (30, 9_000));
    let missed = s.record_call(a, &call("0033142685300", NOW, None), NOW).await.unwrap();
    assert_eq!((missed.outcome, missed.cost_micros), (Outcome::NoAnswer, 0));
    let inbound = CallEvent {
        direction: Direction::Inbound,
        caller: "+3225550000".into(),
        ..call("+3225551000", NOW, Some(600))
    };
    let rec = s.record_call(a, &inbound, NOW).await.unwrap();
    assert_eq!((rec.class, rec.cost_micros), (C::Inbound, 0));
}

#[tokio::test]
async fn box_records_are_rated_at_ingestion_and_keep_their_price() {
    let (s, _, a, _) = priced_store().await;
    let issued = s.create_box(a, &NewBox { name: "b".into(), enrollment_ttl_secs: None }, 3600, NOW).await.unwrap();
    let recs = crate::common::batch(1..=2);
    s.ingest_box_records(issued.box_info.id, &recs, NOW).await.unwrap();
    // A new price applies to later calls only.
    s.set_tariff(&Tariff { class: C::NationalFixed, price_micros_per_sec: 999, min_secs: 0, increment_secs: 1 })
        .await
        .unwrap();
    let page = s.list_records(&RecordFilter { site_id: Some(a), ..Default::default() }, None, 10).await.unwrap();
    assert_eq!(page.records.len(), 2);
    for r in &page.records {
        assert_eq!((r.class, r.billed_secs, r.cost_micros), (C::NationalFixed, 60, 6_000));
        assert_eq!(r.box_id, Some(issued.box_info.id));
    }
}

#[tokio::test]
async fn statements_sum_per_class_per_site_and_per_body() {
    let (s, body, a, b) = priced_store().await;
    // March: site A 2 fixed (60 s + 120 s), 1 mobile (10 s -> 30 s minimum), 1 emergency;
    // site B 1 international (61 s -> 120 s). April: one fixed call at A, not in March.
    s.record_call(a, &call("025551234", NOW, Some(60)), NOW).await.unwrap();
    s.record_call(a, &call("025551234", NOW + 1000, Some(120)), NOW).await.unwrap();
    s.record_call(a, &call("0475123456", NOW + 2000, Some(10)), NOW).await.unwrap();
    s.record_call(a, &call("112", NOW + 3000, Some(300)), NOW).await.unwrap();
    s.record_call(b, &call("0033142685300", NOW + 4000, Some(61)), NOW).await.unwrap();
    s.record_call(a, &call("025551234", APRIL, Some(60)), NOW).await.unwrap();
    // The last second of March belongs to March.
    s.record_call(b, &call("025551234", APRIL - 1, None), NOW).await.unwrap();

    let march = Month::parse("2025-03").unwrap();
    let sa = s.site_statement(a, march).await.unwrap();
    let line = |st: &carillon_cloud::model::Statement, c: C| {
        let l = st.lines.iter().find(|l| l.class == c).unwrap();
        (l.calls, l.billed_secs, l.cost_micros)
    };
    assert_eq!(sa.lines.len(), C::ALL.len());
    assert_eq!(line(&sa, C::NationalFixed), (2, 180, 18_000));
    assert_eq!(line(&sa, C::NationalMobile), (1, 30, 9_000));
    assert_eq!(line(&sa, C::Emergency), (1, 300, 0));
    assert_eq!(line(&sa, C::International), (0, 0, 0));
    assert_eq!(sa.total_micros, 27_000);

    let sb = s.body_statement(body, march).await.unwrap();
    assert_eq!(line(&sb, C::International), (1, 120, 120_000));
    assert_eq!(line(&sb, C::NationalFixed), (3, 180, 18_000));
    assert_eq!(sb.total_micros, 147_000);
    let subtotals: Vec<(String, i64)> = sb.sites.iter().map(|x| (x.code.clone(), x.total_micros)).collect();
    assert_eq!(subtotals, vec![("1001".to_owned(), 27_000), ("1002".to_owned(), 120_000)]);

    let april = s.site_statement(a, Month::parse("2025-04").unwrap()).await.unwrap();
    assert_eq!(april.total_micros, 6_000);
}

#[tokio::test]
async fn a_month_without_calls_totals_zero() {
    let (s, body, a, _) = priced_store().await;
    s.record_call(a, &call("025551234", NOW, Some(60)), NOW).await.unwrap();
    let july = Month::parse("2025-07").unwrap();
    let st = s.site_statement(a, july).await.unwrap();
    assert_eq!(st.total_micros, 0);
    assert!(st.lines.iter().all(|l| l.calls == 0 && l.cost_micros == 0));
    let sb = s.body_statement(body, july).await.unwrap();
    assert_eq!(sb.total_micros, 0);
    assert_eq!(sb.sites.len(), 2);
    assert!(sb.sites.iter().all(|x| x.total_micros == 0));
}

#[test]
fn month_bounds_are_utc_calendar_months() {
    assert_eq!(Month::parse("2025-03").unwrap().bounds(), (1_740_787_200, APRIL));
    assert_eq!(Month::parse("2024-12").unwrap().bounds().1, 1_735_689_600);
    assert_eq!(Month::parse("2024-02").unwrap().bounds().1 - Month::parse("2024-02").unwrap().bounds().0, 29 * 86_400);
    for bad in ["2025-13", "2025-3", "25-03", "2025-00", "abcd-ef", ""] {
        assert!(Month::parse(bad).is_none(), "{bad}");
    }
}
