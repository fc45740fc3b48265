//! Harness: a store on the database under test, and an API driven with `oneshot`.

use std::sync::atomic::{AtomicI64, AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use axum::Router;
use carillon_cloud::api::{app, AppState};
use carillon_cloud::model::{BoxCallRecord, CallEvent, Direction, Outcome, RecordFilter, RecordPage};
use carillon_cloud::{Store, StoreOptions};
use serde_json::{json, Value};
use sqlx::Connection;
use tower::ServiceExt;

pub const OPERATOR: &str = "operator-secret-token-0123456789";
/// 2025-03-10 12:00:00 UTC.
pub const NOW: i64 = 1_741_608_000;

/// A database URL for one test: SQLite in memory, or a fresh PostgreSQL database.
pub async fn database_url() -> String {
    match std::env::var("DATABASE_URL") {
        Ok(url) if url.starts_with("postgres") => {
            static N: AtomicU32 = AtomicU32::new(0);
            let name =
                format!("carillon_t_{}_{}_{}", std::process::id(), N.fetch_add(1, Ordering::Relaxed), rand_suffix());
            let mut admin = sqlx::PgConnection::connect(&url).await.expect("connect to DATABASE_URL");
            sqlx::query(&format!("CREATE DATABASE {name}")).execute(&mut admin).await.expect("create test database");
            admin.close().await.ok();
            let mut u = url::Url::parse(&url).expect("DATABASE_URL is a URL");
            u.set_path(&format!("/{name}"));
            u.to_string()
        }
        _ => "sqlite::memory:".to_owned(),
    }
}

fn rand_suffix() -> u32 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.subsec_nanos()).unwrap_or(0)
}

pub async fn store() -> Store {
    Store::connect(&database_url().await, StoreOptions::default()).await.expect("store")
}

/// A call, answered if `answered_secs` is some.
pub fn call(callee: &str, started_at: i64, answered_secs: Option<i64>) -> CallEvent {
    match answered_secs {
        Some(d) => CallEvent {
            caller: "102".into(),
            callee: callee.into(),
            direction: Direction::Outbound,
            started_at,
            answered_at: Some(started_at + 5),
            ended_at: started_at + 5 + d,
            outcome: Outcome::Answered,
        },
        None => CallEvent {
            caller: "102".into(),
            callee: callee.into(),
            direction: Direction::Outbound,
            started_at,
            answered_at: None,
            ended_at: started_at + 20,
            outcome: Outcome::NoAnswer,
        },
    }
}

/// Box records with sequence numbers `seqs`, each a 60-second national call.
pub fn batch(seqs: impl IntoIterator<Item = i64>) -> Vec<BoxCallRecord> {
    seqs.into_iter().map(|seq| BoxCallRecord { seq, call: call("025551234", NOW + seq * 100, Some(60)) }).collect()
}

/// The API on a fresh store, with a settable clock.
pub struct Api {
    pub app: Router,
    pub store: Store,
    pub clock: Arc<AtomicI64>,
}

impl Api {
    pub async fn new() -> Api {
        let store = store().await;
        let clock = Arc::new(AtomicI64::new(NOW));
        let c = clock.clone();
        let state = AppState::new(store.clone(), OPERATOR).with_clock(Arc::new(move || c.load(Ordering::SeqCst)));
        Api { app: app(state), store, clock }
    }

    /// Sends one request; returns the status and the JSON body (`Null` when empty).
    pub async fn call(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut req = Request::builder().method(method).uri(path);
        if let Some(t) = token {
            req = req.header("authorization", format!("Bearer {t}"));
        }
        let req = match body {
            Some(b) => req.header("content-type", "application/json").body(Body::from(b.to_string())),
            None => req.body(Body::empty()),
        }
        .unwrap();
        self.raw(req).await
    }

    pub async fn raw(&self, req: Request<Body>) -> (StatusCode, Value) {
        let resp = self.app.clone().oneshot(req).await.unwrap();
        let status = resp.status();
        let bytes = axum::body::to_bytes(resp.into_body(), 1 << 20).await.unwrap();
        let value = if bytes.is_empty() { Value::Null } else { serde_json::from_slice(&bytes).unwrap() };
        (status, value)
    }

    pub async fn op(&self, method: &str, path: &str, body: Option<Value>) -> (StatusCode, Value) {
        self.call(method, path, Some(OPERATOR), body).await
    }

    /// Creates a body and a token for it: (body id, token).
    pub async fn body(&self, name: &str) -> (i64, String) {
        let (s, b) = self.op("POST", "/v1/bodies", Some(json!({ "name": name }))).await;
        assert_eq!(s, StatusCode::CREATED, "{b}");
        let id = b["id"].as_i64().unwrap();
        let (s, t) = self.op("POST", &format!("/v1/bodies/{id}/tokens"), Some(json!({ "label": "admin" }))).await;
        assert_eq!(s, StatusCode::CREATED, "{t}");
        (id, t["token"].as_str().unwrap().to_owned())
    }

    /// Creates a site for a body (as the operator): its id.
    pub async fn site(&self, body_id: i64, code: &str) -> i64 {
        let (s, v) = self
            .op(
                "POST",
                "/v1/sites",
                Some(json!({ "body_id": body_id, "name": format!("School {code}"), "code": code })),
            )
            .await;
        assert_eq!(s, StatusCode::CREATED, "{v}");
        v["id"].as_i64().unwrap()
    }

    /// Creates an extension: (id, password).
    pub async fn extension(&self, site: i64, number: &str) -> (i64, String) {
        let (s, v) = self
            .op(
                "POST",
                &format!("/v1/sites/{site}/extensions"),
                Some(json!({ "number": number, "display_name": "Phone" })),
            )
            .await;
        assert_eq!(s, StatusCode::CREATED, "{v}");
        (v["id"].as_i64().unwrap(), v["sip_password"].as_str().unwrap().to_owned())
    }

    /// Creates a box: (id, enrollment token).
    pub async fn new_box(&self, site: i64) -> (i64, String) {
        let (s, v) = self.op("POST", &format!("/v1/sites/{site}/boxes"), Some(json!({ "name": "box" }))).await;
        assert_eq!(s, StatusCode::CREATED, "{v}");
        (v["box"]["id"].as_i64().unwrap(), v["enrollment_token"].as_str().unwrap().to_owned())
    }
}

/// Asserts the JSON error shape and returns the message.
pub fn error_message(v: &Value) -> String {
    let obj = v.as_object().unwrap_or_else(|| panic!("error body is not an object: {v}"));
    assert_eq!(obj.len(), 1, "error body has only `error`: {v}");
    obj["error"].as_str().unwrap_or_else(|| panic!("no error string: {v}")).to_owned()
}

/// How long a test waits for state the server writes asynchronously (call records, box status,
/// registry rows) before it fails.
pub const SETTLE: Duration = Duration::from_secs(5);

/// Polls `cond` every 20 ms until it holds; panics naming `what` if it does not within `timeout`.
/// For state written by the server's own tasks after the answer a test waits for, where a fixed
/// sleep would race a loaded machine.
pub async fn wait_until<F, Fut>(what: &str, timeout: Duration, mut cond: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + timeout;
    while !cond().await {
        assert!(tokio::time::Instant::now() < deadline, "not within {timeout:?}: {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Polls the store until `filter` matches at least `n` call records; returns that page (the
/// first 100). Panics, showing what was there, if they are not all written within `timeout`.
/// The caller still asserts the exact count and contents.
pub async fn wait_for_records(store: &Store, filter: &RecordFilter, n: usize, timeout: Duration) -> RecordPage {
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        let page = store.list_records(filter, None, 100).await.expect("list records");
        if page.records.len() >= n {
            return page;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "only {} of {n} call records within {timeout:?}: {:?}",
            page.records.len(),
            page.records
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
