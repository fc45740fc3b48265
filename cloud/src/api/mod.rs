//! The admin API: JSON over HTTP (axum), for the operator and for organising bodies.
//!
//! # Authentication and tenancy
//! Every `/v1` request carries `Authorization: Bearer <token>`. The operator token (from the
//! configuration) sees and changes everything. A body token (issued by the operator, stored as
//! a SHA-256) acts for one organising body: it sees and changes only that body's sites and what
//! hangs off them. Anything of another body answers **404**, exactly as if it did not exist, so
//! existence does not leak; creating something *for* another body (a site with its `body_id`)
//! answers **403**, as do operator-only actions (bodies, tokens, DIDs, tariffs).
//!
//! # Errors
//! Every error is JSON `{"error": "..."}`: 400/422 for bad input (with the reason), 401, 403,
//! 404, 409 for conflicts. Internal errors are logged with `tracing` and answered with a bare
//! 500 that tells nothing about the cause.
//!
//! The route table is in [`app`]; the OpenAPI document at `/openapi.json` is built from
//! [`openapi::OPERATIONS`], and a test checks that every operation it lists is routed.

mod error;
pub mod openapi;
mod routes;

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{header, StatusCode};
use axum::routing::{get, post, put};
use axum::Router;
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;

pub use error::AppError;

use crate::secrets;
use crate::store::Store;

/// Wall-clock time as UTC Unix seconds: injected so tests control it.
pub type Clock = Arc<dyn Fn() -> i64 + Send + Sync>;

/// The system clock.
pub fn system_clock() -> Clock {
    Arc::new(|| {
        SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
    })
}

/// What every handler shares.
#[derive(Clone)]
pub struct AppState {
    /// The store.
    pub store: Store,
    operator_token_hash: Arc<str>,
    clock: Clock,
    /// Default lifetime of box enrollment tokens, in seconds.
    pub enrollment_ttl_secs: i64,
}

impl AppState {
    /// State with the system clock and a 7-day enrollment-token lifetime. Only the SHA-256 of
    /// the operator token is kept.
    pub fn new(store: Store, operator_token: &str) -> AppState {
        AppState {
            store,
            operator_token_hash: secrets::token_hash(operator_token).into(),
            clock: system_clock(),
            enrollment_ttl_secs: 7 * 86_400,
        }
    }

    /// Replaces the clock (tests).
    pub fn with_clock(mut self, clock: Clock) -> AppState {
        self.clock = clock;
        self
    }

    /// Now, in UTC Unix seconds.
    pub fn now(&self) -> i64 {
        (self.clock)()
    }
}

/// Who is calling: the operator, or one organising body.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Caller {
    /// The operator token: everything.
    Operator,
    /// A body token: that body's sites only.
    Body(i64),
}

impl Caller {
    /// Whether this caller may see things owned by `body_id`.
    pub fn sees(self, body_id: i64) -> bool {
        match self {
            Caller::Operator => true,
            Caller::Body(b) => b == body_id,
        }
    }

    /// The body filter for list queries: `None` for the operator.
    pub fn body_filter(self) -> Option<i64> {
        match self {
            Caller::Operator => None,
            Caller::Body(b) => Some(b),
        }
    }

    /// Fails with 403 unless this is the operator.
    pub fn require_operator(self) -> Result<(), AppError> {
        match self {
            Caller::Operator => Ok(()),
            Caller::Body(_) => Err(AppError::Forbidden("only the operator may do this".into())),
        }
    }
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Caller, AppError> {
        let token = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .ok_or(AppError::Unauthorized)?;
        if secrets::constant_time_eq(&secrets::token_hash(token), &state.operator_token_hash) {
            return Ok(Caller::Operator);
        }
        match state.store.body_for_token(token).await? {
            Some(body) => Ok(Caller::Body(body)),
            None => Err(AppError::Unauthorized),
        }
    }
}

/// The admin API's router: `/healthz`, `/openapi.json` and the `/v1` resources.
pub fn app(state: AppState) -> Router {
    use routes::*;
    Router::new()
        .route("/healthz", get(healthz))
        .route("/openapi.json", get(openapi_json))
        .route("/v1/bodies", get(list_bodies).post(create_body))
        .route("/v1/bodies/{id}", get(get_body).patch(update_body).delete(delete_body))
        .route("/v1/bodies/{id}/tokens", get(list_body_tokens).post(issue_body_token))
        .route("/v1/bodies/{id}/tokens/{token_id}", axum::routing::delete(revoke_body_token))
        .route("/v1/bodies/{id}/statements/{month}", get(body_statement))
        .route("/v1/sites", get(list_sites).post(create_site))
        .route("/v1/sites/{id}", get(get_site).patch(update_site).delete(delete_site))
        .route("/v1/sites/{id}/statements/{month}", get(site_statement))
        .route(
            "/v1/sites/{id}/fallback-trunk",
            get(get_fallback_trunk).put(set_fallback_trunk).delete(delete_fallback_trunk),
        )
        .route("/v1/sites/{id}/extensions", get(list_extensions).post(create_extension))
        .route("/v1/extensions/{id}", get(get_extension).patch(update_extension).delete(delete_extension))
        .route("/v1/extensions/{id}/credential", post(reset_extension_credential))
        .route("/v1/sites/{id}/ring-groups", get(list_ring_groups).post(create_ring_group))
        .route("/v1/ring-groups/{id}", get(get_ring_group).patch(update_ring_group).delete(delete_ring_group))
        .route("/v1/dids", get(list_dids).post(create_did))
        .route("/v1/dids/{id}", get(get_did).patch(update_did).delete(delete_did))
        .route("/v1/sites/{id}/boxes", get(list_site_boxes).post(create_box))
        .route("/v1/boxes", get(list_boxes))
        .route("/v1/boxes/{id}", get(get_box).delete(delete_box))
        .route("/v1/boxes/{id}/enrollment-token", post(issue_enrollment_token))
        .route("/v1/tariffs", get(list_tariffs))
        .route("/v1/tariffs/{class}", put(set_tariff))
        .route("/v1/call-records", get(list_records))
        .route("/v1/call-records/{id}", get(get_record))
        .fallback(no_route)
        .method_not_allowed_fallback(no_method)
        .layer(TimeoutLayer::with_status_code(StatusCode::REQUEST_TIMEOUT, Duration::from_secs(30)))
        .layer(TraceLayer::new_for_http())
        .with_state(state)
}
