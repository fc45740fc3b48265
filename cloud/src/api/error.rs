//! The API's error type: every failure becomes a status and a JSON `{"error": "..."}`.

use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

use crate::store::StoreError;

/// An API failure. Client errors carry their reason; [`AppError::Internal`] carries a detail
/// that is logged and never sent.
#[derive(Debug)]
#[non_exhaustive]
pub enum AppError {
    /// 401: no or unknown bearer token.
    Unauthorized,
    /// 403: known caller, not allowed.
    Forbidden(String),
    /// 404: no such thing (or not this caller's).
    NotFound(String),
    /// 400: the request is wrong.
    BadRequest(String),
    /// 409: clashes with what is stored.
    Conflict(String),
    /// A rejection from an axum extractor, with its own status (400, 415, 422...).
    Rejected(StatusCode, String),
    /// 500: our fault; the detail is logged only.
    Internal(String),
}

impl From<StoreError> for AppError {
    fn from(e: StoreError) -> AppError {
        match e {
            StoreError::NotFound(what) => AppError::NotFound(format!("{what} not found")),
            StoreError::Conflict(m) => AppError::Conflict(m),
            StoreError::Invalid(m) => AppError::BadRequest(m),
            StoreError::BadToken => AppError::BadRequest("invalid, used or expired token".into()),
            other => AppError::Internal(other.to_string()),
        }
    }
}

impl From<JsonRejection> for AppError {
    fn from(r: JsonRejection) -> AppError {
        AppError::Rejected(r.status(), r.body_text())
    }
}

impl From<PathRejection> for AppError {
    fn from(r: PathRejection) -> AppError {
        // A malformed id in the path names nothing that exists.
        AppError::Rejected(StatusCode::BAD_REQUEST, r.body_text())
    }
}

impl From<QueryRejection> for AppError {
    fn from(r: QueryRejection) -> AppError {
        AppError::Rejected(StatusCode::BAD_REQUEST, r.body_text())
    }
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        let (status, message) = match self {
            AppError::Unauthorized => {
                let body = Json(json!({ "error": "missing or invalid bearer token" }));
                return (StatusCode::UNAUTHORIZED, [(header::WWW_AUTHENTICATE, "Bearer")], body).into_response();
            }
            AppError::Forbidden(m) => (StatusCode::FORBIDDEN, m),
            AppError::NotFound(m) => (StatusCode::NOT_FOUND, m),
            AppError::BadRequest(m) => (StatusCode::BAD_REQUEST, m),
            AppError::Conflict(m) => (StatusCode::CONFLICT, m),
            AppError::Rejected(s, m) => (s, m),
            AppError::Internal(detail) => {
                tracing::error!(error = %detail, "internal error in the admin API");
                (StatusCode::INTERNAL_SERVER_ERROR, "internal server error".to_owned())
            }
        };
        (status, Json(json!({ "error": message }))).into_response()
    }
}
