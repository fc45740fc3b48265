//! The handlers. Each one: authenticate ([`Caller`]), check the tenant, call the store.

use axum::extract::{FromRequest, FromRequestParts, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};

use super::{openapi, AppError, AppState, Caller};
use crate::model::{
    Body, BodyToken, BoxInfo, CallRecord, CreatedExtension, Did, DidTarget, Extension, ExtensionPatch, FallbackTrunk,
    FallbackTrunkSpec, IssuedBodyToken, IssuedEnrollment, NewBox, NewDid, NewExtension, NewRingGroup, NewSite,
    RecordCursor, RecordFilter, RecordPage, RingGroup, RingGroupPatch, Site, SitePatch, Statement,
};
use crate::rating::{DestinationClass, Tariff};
use crate::store::{Month, StoreError};

/// `Json` whose rejections are JSON errors.
#[derive(FromRequest)]
#[from_request(via(axum::Json), rejection(AppError))]
pub(crate) struct ApiJson<T>(pub T);

/// `Path` whose rejections are JSON errors.
#[derive(FromRequestParts)]
#[from_request(via(axum::extract::Path), rejection(AppError))]
pub(crate) struct ApiPath<T>(pub T);

/// `Query` whose rejections are JSON errors.
#[derive(FromRequestParts)]
#[from_request(via(axum::extract::Query), rejection(AppError))]
pub(crate) struct ApiQuery<T>(pub T);

type ApiResult<T> = Result<Json<T>, AppError>;

fn created<T: serde::Serialize>(v: T) -> Response {
    (StatusCode::CREATED, Json(v)).into_response()
}

/// Maps "not found" (of anything) to "`what` not found", so a hidden parent does not show.
fn hide(what: &str) -> impl Fn(AppError) -> AppError + '_ {
    move |e| match e {
        AppError::NotFound(_) => AppError::NotFound(format!("{what} not found")),
        other => other,
    }
}

impl AppState {
    async fn body_for(&self, caller: Caller, id: i64) -> Result<Body, AppError> {
        if !caller.sees(id) {
            return Err(AppError::NotFound("organising body not found".into()));
        }
        Ok(self.store.get_body(id).await?)
    }

    async fn site_for(&self, caller: Caller, id: i64) -> Result<Site, AppError> {
        let site = self.store.get_site(id).await?;
        if !caller.sees(site.body_id) {
            return Err(AppError::NotFound("site not found".into()));
        }
        Ok(site)
    }

    async fn extension_for(&self, caller: Caller, id: i64) -> Result<Extension, AppError> {
        let ext = self.store.get_extension(id).await?;
        self.site_for(caller, ext.site_id).await.map_err(hide("extension"))?;
        Ok(ext)
    }

    async fn ring_group_for(&self, caller: Caller, id: i64) -> Result<RingGroup, AppError> {
        let group = self.store.get_ring_group(id).await?;
        self.site_for(caller, group.site_id).await.map_err(hide("ring group"))?;
        Ok(group)
    }

    async fn did_for(&self, caller: Caller, id: i64) -> Result<Did, AppError> {
        let did = self.store.get_did(id).await?;
        self.site_for(caller, did.site_id).await.map_err(hide("DID"))?;
        Ok(did)
    }

    async fn box_for(&self, caller: Caller, id: i64) -> Result<BoxInfo, AppError> {
        let info = self.store.get_box(id).await?;
        self.site_for(caller, info.site_id).await.map_err(hide("box"))?;
        Ok(info)
    }
}

fn parse_month(s: &str) -> Result<Month, AppError> {
    Month::parse(s).ok_or_else(|| AppError::BadRequest("month must be YYYY-MM".into()))
}

pub(crate) async fn healthz() -> Json<Value> {
    Json(json!({ "status": "ok" }))
}

pub(crate) async fn openapi_json() -> Json<Value> {
    Json(openapi::document())
}

pub(crate) async fn no_route() -> AppError {
    AppError::NotFound("no such route".into())
}

pub(crate) async fn no_method() -> AppError {
    AppError::Rejected(StatusCode::METHOD_NOT_ALLOWED, "method not allowed on this route".into())
}

// ---- organising bodies ------------------------------------------------------------------

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct BodyName {
    name: String,
}

pub(crate) async fn list_bodies(State(st): State<AppState>, caller: Caller) -> ApiResult<Vec<Body>> {
    let bodies = st.store.list_bodies().await?;
    Ok(Json(bodies.into_iter().filter(|b| caller.sees(b.id)).collect()))
}

pub(crate) async fn create_body(
    State(st): State<AppState>,
    caller: Caller,
    ApiJson(req): ApiJson<BodyName>,
) -> Result<Response, AppError> {
    caller.require_operator()?;
    Ok(created(st.store.create_body(&req.name, st.now()).await?))
}

pub(crate) async fn get_body(State(st): State<AppState>, caller: Caller, ApiPath(id): ApiPath<i64>) -> ApiResult<Body> {
    Ok(Json(st.body_for(caller, id).await?))
}

pub(crate) async fn update_body(
    State(st): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<i64>,
    ApiJson(req): ApiJson<BodyName>,
) -> ApiResult<Body> {
    st.body_for(caller, id).await?;
    caller.require_operator()?;
    Ok(Json(st.store.rename_body(id, &req.name).await?))
}

pub(crate) async fn delete_body(
    State(st): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<i64>,
) -> Result<StatusCode, AppError> {
    st.body_for(caller, id).await?;
    caller.require_operator()?;
    st.store.delete_body(id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct TokenLabel {
    label: String,
}

pub(crate) async fn list_body_tokens(
    State(st): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<i64>,
) -> ApiResult<Vec<BodyToken>> {
    st.body_for(caller, id).await?;
    caller.require_operator()?;
    Ok(Json(st.store.list_body_tokens(id).await?))
}

pub(crate) async fn issue_body_token(
    State(st): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<i64>,
    ApiJson(req): ApiJson<TokenLabel>,
) -> Result<Response, AppError> {
    st.body_for(caller, id).await?;
    caller.require_operator()?;
    let issued: IssuedBodyToken = st.store.issue_body_token(id, &req.label, st.now()).await?;
    Ok(created(issued))
}

pub(crate) async fn revoke_body_token(
    State(st): State<AppState>,
    caller: Caller,
    ApiPath((id, token_id)): ApiPath<(i64, i64)>,
) -> Result<StatusCode, AppError> {
    st.body_for(caller, id).await?;
    caller.require_operator()?;
    st.store.revoke_body_token(id, token_id).await?;
    Ok(StatusCode::NO_CONTENT)
}

pub(crate) async fn body_statement(
    State(st): State<AppState>,
    caller: Caller,
    ApiPath((id, month)): ApiPath<(i64, String)>,
) -> ApiResult<Statement> {
    st.body_for(caller, id).await?;
    let month = parse_month(&month)?;
    Ok(Json(st.store.body_statement(id, month).await?))
}

// ---- sites --------------------------------------------------------------------------------

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct SiteQuery {
    body_id: Option<i64>,
}

pub(crate) async fn list_sites(
    State(st): State<AppState>,
    caller: Caller,
    ApiQuery(q): ApiQuery<SiteQuery>,
) -> ApiResult<Vec<Site>> {
    if let Some(b) = q.body_id {
        st.body_for(caller, b).await?;
    }
    Ok(Json(st.store.list_sites(q.body_id.or(caller.body_filter())).await?))
}

pub(crate) async fn create_site(
    State(st): State<AppState>,
    caller: Caller,
    ApiJson(req): ApiJson<NewSite>,
) -> Result<Response, AppError> {
    let body_id = match (caller, req.body_id) {
        (Caller::Body(own), Some(b)) if b != own => {
            return Err(AppError::Forbidden("a body token may create sites for its own body only".into()))
        }
        (Caller::Body(own), _) => own,
        (Caller::Operator, Some(b)) => b,
        (Caller::Operator, None) => return Err(AppError::BadRequest("body_id is required".into())),
    };
    let site = st.store.create_site(body_id, &req, st.now()).await.map_err(|e| match e {
        StoreError::NotFound(_) => AppError::BadRequest("organising body does not exist".into()),
        other => other.into(),
    })?;
    Ok(created(site))
}

pub(crate) async fn get_site(State(st): State<AppState>, caller: Caller, ApiPath(id): ApiPath<i64>) -> ApiResult<Site> {
    Ok(Json(st.site_for(caller, id).await?))
}

pub(crate) async fn update_site(
    State(st): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<i64>,
    ApiJson(patch): ApiJson<SitePatch>,
) -> ApiResult<Site> {
    st.site_for(caller, id).await?;
    Ok(Json(st.store.update_site(id, &patch).await?))
}

pub(crate) async fn delete_site(
    State(st): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<i64>,
) -> Result<StatusCode, AppError> {
    st.site_for(caller, id).await?;
    st.store.delete_site(id).await?;
    Ok(StatusCode::NO_CONTENT)
}

pub(crate) async fn site_statement(
    State(st): State<AppState>,
    caller: Caller,
    ApiPath((id, month)): ApiPath<(i64, String)>,
) -> ApiResult<Statement> {
    st.site_for(caller, id).await?;
    let month = parse_month(&month)?;
    Ok(Json(st.store.site_statement(id, month).await?))
}

// ---- extensions -----------------------------------------------------------------------------

pub(crate) async fn list_extensions(
    State(st): State<AppState>,
    caller: Caller,
    ApiPath(site): ApiPath<i64>,
) -> ApiResult<Vec<Extension>> {
    st.site_for(caller, site).await?;
    Ok(Json(st.store.list_extensions(site).await?))
}

pub(crate) async fn create_extension(
    State(st): State<AppState>,
    caller: Caller,
    ApiPath(site): ApiPath<i64>,
    ApiJson(req): ApiJson<NewExtension>,
) -> Result<Response, AppError> {
    st.site_for(caller, site).await?;
    let made: CreatedExtension = st.store.create_extension(site, &req, st.now()).await?;
    Ok(created(made))
}

pub(crate) async fn get_extension(
    State(st): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<i64>,
) -> ApiResult<Extension> {
    Ok(Json(st.extension_for(caller, id).await?))
}

pub(crate) async fn update_extension(
    State(st): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<i64>,
    ApiJson(patch): ApiJson<ExtensionPatch>,
) -> ApiResult<Extension> {
    st.extension_for(caller, id).await?;
    Ok(Json(st.store.update_extension(id, &patch).await?))
}

pub(crate) async fn delete_extension(
    State(st): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<i64>,
) -> Result<StatusCode, AppError> {
    st.extension_for(caller, id).await?;
    st.store.delete_extension(id).await?;
    Ok(StatusCode::NO_CONTENT)
}

pub(crate) async fn reset_extension_credential(
    State(st): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<i64>,
) -> ApiResult<CreatedExtension> {
    st.extension_for(caller, id).await?;
    Ok(Json(st.store.reset_extension_password(id).await?))
}

// ---- ring groups ----------------------------------------------------------------------------

pub(crate) async fn list_ring_groups(
    State(st): State<AppState>,
    caller: Caller,
    ApiPath(site): ApiPath<i64>,
) -> ApiResult<Vec<RingGroup>> {
    st.site_for(caller, site).await?;
    Ok(Json(st.store.list_ring_groups(site).await?))
}

pub(crate) async fn create_ring_group(
    State(st): State<AppState>,
    caller: Caller,
    ApiPath(site): ApiPath<i64>,
    ApiJson(req): ApiJson<NewRingGroup>,
) -> Result<Response, AppError> {
    st.site_for(caller, site).await?;
    Ok(created(st.store.create_ring_group(site, &req, st.now()).await?))
}

pub(crate) async fn get_ring_group(
    State(st): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<i64>,
) -> ApiResult<RingGroup> {
    Ok(Json(st.ring_group_for(caller, id).await?))
}

pub(crate) async fn update_ring_group(
    State(st): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<i64>,
    ApiJson(patch): ApiJson<RingGroupPatch>,
) -> ApiResult<RingGroup> {
    st.ring_group_for(caller, id).await?;
    Ok(Json(st.store.update_ring_group(id, &patch).await?))
}

pub(crate) async fn delete_ring_group(
    State(st): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<i64>,
) -> Result<StatusCode, AppError> {
    st.ring_group_for(caller, id).await?;
    st.store.delete_ring_group(id).await?;
    Ok(StatusCode::NO_CONTENT)
}

// ---- DIDs -----------------------------------------------------------------------------------

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct SiteFilter {
    site_id: Option<i64>,
}

pub(crate) async fn list_dids(
    State(st): State<AppState>,
    caller: Caller,
    ApiQuery(q): ApiQuery<SiteFilter>,
) -> ApiResult<Vec<Did>> {
    if let Some(s) = q.site_id {
        st.site_for(caller, s).await?;
    }
    Ok(Json(st.store.list_dids(q.site_id, caller.body_filter()).await?))
}

pub(crate) async fn create_did(
    State(st): State<AppState>,
    caller: Caller,
    ApiJson(req): ApiJson<NewDid>,
) -> Result<Response, AppError> {
    caller.require_operator()?;
    let did = st.store.create_did(&req, st.now()).await.map_err(|e| match e {
        StoreError::NotFound(_) => AppError::BadRequest("site does not exist".into()),
        other => other.into(),
    })?;
    Ok(created(did))
}

pub(crate) async fn get_did(State(st): State<AppState>, caller: Caller, ApiPath(id): ApiPath<i64>) -> ApiResult<Did> {
    Ok(Json(st.did_for(caller, id).await?))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct DidPatch {
    target: DidTarget,
}

pub(crate) async fn update_did(
    State(st): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<i64>,
    ApiJson(patch): ApiJson<DidPatch>,
) -> ApiResult<Did> {
    st.did_for(caller, id).await?;
    Ok(Json(st.store.retarget_did(id, patch.target).await?))
}

pub(crate) async fn delete_did(
    State(st): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<i64>,
) -> Result<StatusCode, AppError> {
    st.did_for(caller, id).await?;
    caller.require_operator()?;
    st.store.delete_did(id).await?;
    Ok(StatusCode::NO_CONTENT)
}

// ---- boxes ----------------------------------------------------------------------------------

pub(crate) async fn list_site_boxes(
    State(st): State<AppState>,
    caller: Caller,
    ApiPath(site): ApiPath<i64>,
) -> ApiResult<Vec<BoxInfo>> {
    st.site_for(caller, site).await?;
    Ok(Json(st.store.list_boxes(Some(site), None).await?))
}

pub(crate) async fn list_boxes(
    State(st): State<AppState>,
    caller: Caller,
    ApiQuery(q): ApiQuery<SiteFilter>,
) -> ApiResult<Vec<BoxInfo>> {
    if let Some(s) = q.site_id {
        st.site_for(caller, s).await?;
    }
    Ok(Json(st.store.list_boxes(q.site_id, caller.body_filter()).await?))
}

pub(crate) async fn create_box(
    State(st): State<AppState>,
    caller: Caller,
    ApiPath(site): ApiPath<i64>,
    ApiJson(req): ApiJson<NewBox>,
) -> Result<Response, AppError> {
    st.site_for(caller, site).await?;
    let ttl = req.enrollment_ttl_secs.unwrap_or(st.enrollment_ttl_secs);
    let issued: IssuedEnrollment = st.store.create_box(site, &req, ttl, st.now()).await?;
    Ok(created(issued))
}

pub(crate) async fn get_box(
    State(st): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<i64>,
) -> ApiResult<BoxInfo> {
    Ok(Json(st.box_for(caller, id).await?))
}

pub(crate) async fn delete_box(
    State(st): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<i64>,
) -> Result<StatusCode, AppError> {
    st.box_for(caller, id).await?;
    st.store.delete_box(id).await?;
    Ok(StatusCode::NO_CONTENT)
}

pub(crate) async fn issue_enrollment_token(
    State(st): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<i64>,
) -> Result<Response, AppError> {
    st.box_for(caller, id).await?;
    let issued = st.store.issue_enrollment_token(id, st.enrollment_ttl_secs, st.now()).await?;
    Ok(created(issued))
}

// ---- tariffs --------------------------------------------------------------------------------

pub(crate) async fn list_tariffs(State(st): State<AppState>, _caller: Caller) -> ApiResult<Vec<Tariff>> {
    Ok(Json(st.store.list_tariffs().await?))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct TariffBody {
    price_micros_per_sec: i64,
    #[serde(default)]
    min_secs: i64,
    #[serde(default = "one")]
    increment_secs: i64,
}

fn one() -> i64 {
    1
}

pub(crate) async fn set_tariff(
    State(st): State<AppState>,
    caller: Caller,
    ApiPath(class): ApiPath<String>,
    ApiJson(req): ApiJson<TariffBody>,
) -> ApiResult<Tariff> {
    caller.require_operator()?;
    let class = DestinationClass::parse(&class).ok_or_else(|| AppError::NotFound("no such class".into()))?;
    let tariff = Tariff {
        class,
        price_micros_per_sec: req.price_micros_per_sec,
        min_secs: req.min_secs,
        increment_secs: req.increment_secs,
    };
    Ok(Json(st.store.set_tariff(&tariff).await?))
}

// ---- call records ---------------------------------------------------------------------------

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RecordQuery {
    site_id: Option<i64>,
    body_id: Option<i64>,
    from: Option<i64>,
    to: Option<i64>,
    class: Option<String>,
    limit: Option<i64>,
    cursor: Option<String>,
}

pub(crate) async fn list_records(
    State(st): State<AppState>,
    caller: Caller,
    ApiQuery(q): ApiQuery<RecordQuery>,
) -> ApiResult<RecordPage> {
    if let Some(s) = q.site_id {
        st.site_for(caller, s).await?;
    }
    if let Some(b) = q.body_id {
        st.body_for(caller, b).await?;
    }
    let class = match q.class.as_deref() {
        Some(c) => Some(DestinationClass::parse(c).ok_or_else(|| AppError::BadRequest(format!("unknown class {c}")))?),
        None => None,
    };
    let cursor = match q.cursor.as_deref() {
        Some(c) => Some(RecordCursor::decode(c).ok_or_else(|| AppError::BadRequest("bad cursor".into()))?),
        None => None,
    };
    let filter =
        RecordFilter { site_id: q.site_id, body_id: q.body_id.or(caller.body_filter()), from: q.from, to: q.to, class };
    Ok(Json(st.store.list_records(&filter, cursor, q.limit.unwrap_or(100)).await?))
}

pub(crate) async fn get_record(
    State(st): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<i64>,
) -> ApiResult<CallRecord> {
    let rec = st.store.get_record(id).await?;
    st.site_for(caller, rec.site_id).await.map_err(hide("call record"))?;
    Ok(Json(rec))
}

pub(crate) async fn get_fallback_trunk(
    State(st): State<AppState>,
    caller: Caller,
    ApiPath(site): ApiPath<i64>,
) -> ApiResult<FallbackTrunk> {
    st.site_for(caller, site).await?;
    Ok(Json(st.store.get_fallback_trunk(site).await?))
}

pub(crate) async fn set_fallback_trunk(
    State(st): State<AppState>,
    caller: Caller,
    ApiPath(site): ApiPath<i64>,
    ApiJson(spec): ApiJson<FallbackTrunkSpec>,
) -> ApiResult<FallbackTrunk> {
    st.site_for(caller, site).await?;
    Ok(Json(st.store.set_fallback_trunk(site, &spec, st.now()).await?))
}

pub(crate) async fn delete_fallback_trunk(
    State(st): State<AppState>,
    caller: Caller,
    ApiPath(site): ApiPath<i64>,
) -> Result<StatusCode, AppError> {
    st.site_for(caller, site).await?;
    st.store.delete_fallback_trunk(site).await?;
    Ok(StatusCode::NO_CONTENT)
}
