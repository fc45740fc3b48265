//! The OpenAPI 3.1 document served at `/openapi.json`, built from a table of operations.
//!
//! Hand-written rather than derived: the table below is the one list of the API's operations,
//! and the test suite sends a request to every entry to prove the router serves it.

use serde_json::{json, Map, Value};

/// One documented operation.
#[derive(Clone, Copy, Debug)]
pub struct Operation {
    /// HTTP method, lower case.
    pub method: &'static str,
    /// Path template, `{name}` for parameters.
    pub path: &'static str,
    /// One line of what it does.
    pub summary: &'static str,
    /// Schema name of the JSON request body, if any.
    pub request: Option<&'static str>,
    /// Success status.
    pub status: u16,
    /// Schema name of the success body (`[Name]` for an array), if any.
    pub response: Option<&'static str>,
}

const fn op(
    method: &'static str,
    path: &'static str,
    summary: &'static str,
    request: Option<&'static str>,
    status: u16,
    response: Option<&'static str>,
) -> Operation {
    Operation { method, path, summary, request, status, response }
}

/// Every operation of the API.
pub const OPERATIONS: &[Operation] = &[
    op("get", "/healthz", "Liveness", None, 200, None),
    op("get", "/openapi.json", "This document", None, 200, None),
    op("get", "/v1/bodies", "List organising bodies (a body token sees its own)", None, 200, Some("[Body]")),
    op("post", "/v1/bodies", "Create an organising body (operator)", Some("BodyName"), 201, Some("Body")),
    op("get", "/v1/bodies/{id}", "Get an organising body", None, 200, Some("Body")),
    op("patch", "/v1/bodies/{id}", "Rename an organising body (operator)", Some("BodyName"), 200, Some("Body")),
    op("delete", "/v1/bodies/{id}", "Delete a body without sites (operator)", None, 204, None),
    op("get", "/v1/bodies/{id}/tokens", "List a body's API tokens (operator)", None, 200, Some("[BodyToken]")),
    op(
        "post",
        "/v1/bodies/{id}/tokens",
        "Issue a body API token, shown once (operator)",
        Some("TokenLabel"),
        201,
        Some("IssuedBodyToken"),
    ),
    op("delete", "/v1/bodies/{id}/tokens/{token_id}", "Revoke a body API token (operator)", None, 204, None),
    op(
        "get",
        "/v1/bodies/{id}/statements/{month}",
        "Monthly statement of a body (month YYYY-MM, UTC)",
        None,
        200,
        Some("Statement"),
    ),
    op("get", "/v1/sites", "List sites (query: body_id)", None, 200, Some("[Site]")),
    op("post", "/v1/sites", "Create a site (school or central office)", Some("NewSite"), 201, Some("Site")),
    op("get", "/v1/sites/{id}", "Get a site", None, 200, Some("Site")),
    op("patch", "/v1/sites/{id}", "Change a site", Some("SitePatch"), 200, Some("Site")),
    op("delete", "/v1/sites/{id}", "Delete a site without boxes or call records", None, 204, None),
    op(
        "get",
        "/v1/sites/{id}/statements/{month}",
        "Monthly statement of a site (month YYYY-MM, UTC)",
        None,
        200,
        Some("Statement"),
    ),
    op("get", "/v1/sites/{id}/extensions", "List a site's extensions", None, 200, Some("[Extension]")),
    op(
        "post",
        "/v1/sites/{id}/extensions",
        "Create an extension; the SIP password is shown once",
        Some("NewExtension"),
        201,
        Some("CreatedExtension"),
    ),
    op("get", "/v1/extensions/{id}", "Get an extension (never its password)", None, 200, Some("Extension")),
    op(
        "patch",
        "/v1/extensions/{id}",
        "Change an extension's number or name",
        Some("ExtensionPatch"),
        200,
        Some("Extension"),
    ),
    op("delete", "/v1/extensions/{id}", "Delete an extension", None, 204, None),
    op(
        "post",
        "/v1/extensions/{id}/credential",
        "Reset the SIP password; the new one is shown once",
        None,
        200,
        Some("CreatedExtension"),
    ),
    op(
        "get",
        "/v1/sites/{id}/fallback-trunk",
        "Get a school's fallback trunk for emergency calls in survival (no password)",
        None,
        200,
        Some("FallbackTrunk"),
    ),
    op(
        "put",
        "/v1/sites/{id}/fallback-trunk",
        "Set a school's fallback trunk; pushed to its boxes",
        Some("FallbackTrunkSpec"),
        200,
        Some("FallbackTrunk"),
    ),
    op("delete", "/v1/sites/{id}/fallback-trunk", "Remove a school's fallback trunk", None, 204, None),
    op("get", "/v1/sites/{id}/ring-groups", "List a site's ring groups", None, 200, Some("[RingGroup]")),
    op("post", "/v1/sites/{id}/ring-groups", "Create a ring group", Some("NewRingGroup"), 201, Some("RingGroup")),
    op("get", "/v1/ring-groups/{id}", "Get a ring group", None, 200, Some("RingGroup")),
    op(
        "patch",
        "/v1/ring-groups/{id}",
        "Change a ring group (members replace the list)",
        Some("RingGroupPatch"),
        200,
        Some("RingGroup"),
    ),
    op("delete", "/v1/ring-groups/{id}", "Delete a ring group", None, 204, None),
    op("get", "/v1/dids", "List DIDs (query: site_id)", None, 200, Some("[Did]")),
    op("post", "/v1/dids", "Create a DID (operator)", Some("NewDid"), 201, Some("Did")),
    op("get", "/v1/dids/{id}", "Get a DID", None, 200, Some("Did")),
    op(
        "patch",
        "/v1/dids/{id}",
        "Point a DID at another extension or ring group of its site",
        Some("DidPatch"),
        200,
        Some("Did"),
    ),
    op("delete", "/v1/dids/{id}", "Delete a DID (operator)", None, 204, None),
    op("get", "/v1/sites/{id}/boxes", "List a site's boxes with status", None, 200, Some("[Box]")),
    op(
        "post",
        "/v1/sites/{id}/boxes",
        "Create a box; its one-time enrollment token is shown once",
        Some("NewBox"),
        201,
        Some("IssuedEnrollment"),
    ),
    op("get", "/v1/boxes", "List boxes with status (query: site_id)", None, 200, Some("[Box]")),
    op("get", "/v1/boxes/{id}", "Get a box and its status", None, 200, Some("Box")),
    op("delete", "/v1/boxes/{id}", "Delete a box that uploaded no call records", None, 204, None),
    op(
        "post",
        "/v1/boxes/{id}/enrollment-token",
        "Issue a new one-time enrollment token",
        None,
        201,
        Some("IssuedEnrollment"),
    ),
    op("get", "/v1/tariffs", "List tariffs", None, 200, Some("[Tariff]")),
    op("put", "/v1/tariffs/{class}", "Set a class's tariff (operator)", Some("TariffBody"), 200, Some("Tariff")),
    op(
        "get",
        "/v1/call-records",
        "List call records (query: site_id, body_id, from, to, class, limit, cursor)",
        None,
        200,
        Some("RecordPage"),
    ),
    op("get", "/v1/call-records/{id}", "Get a call record", None, 200, Some("CallRecord")),
];

fn schema_ref(name: &str) -> Value {
    match name.strip_prefix('[').and_then(|n| n.strip_suffix(']')) {
        Some(inner) => json!({ "type": "array", "items": { "$ref": format!("#/components/schemas/{inner}") } }),
        None => json!({ "$ref": format!("#/components/schemas/{name}") }),
    }
}

fn object(required: &[&str], props: Value) -> Value {
    json!({ "type": "object", "required": required, "properties": props })
}

fn schemas() -> Value {
    let int = json!({ "type": "integer", "format": "int64" });
    let opt_int = json!({ "type": ["integer", "null"], "format": "int64" });
    let s = json!({ "type": "string" });
    let opt_s = json!({ "type": ["string", "null"] });
    let class = json!({ "type": "string", "enum": ["on_net", "emergency", "national_fixed", "national_mobile", "international", "inbound"] });
    let target = json!({ "type": "object", "required": ["kind", "id"], "properties": {
        "kind": { "type": "string", "enum": ["extension", "ring_group"] }, "id": int } });
    let kind = json!({ "type": "string", "enum": ["school", "central_office"] });
    let members = json!({ "type": "array", "items": int });
    let line = object(
        &["class", "calls", "billed_secs", "cost_micros"],
        json!({ "class": class, "calls": int, "billed_secs": int, "cost_micros": int }),
    );
    let subtotal = object(
        &["site_id", "code", "name", "total_micros"],
        json!({ "site_id": int, "code": s, "name": s, "total_micros": int }),
    );
    let body = object(&["id", "name", "created_at"], json!({ "id": int, "name": s, "created_at": int }));
    let box_info = object(
        &["id", "site_id", "name", "enrolled", "online", "survival_secs", "acked_seq"],
        json!({
        "id": int, "site_id": int, "name": s, "enrolled": { "type": "boolean" }, "enrolled_at": opt_int,
        "enrollment_expires_at": opt_int, "online": { "type": "boolean" }, "last_seen_at": opt_int,
        "survival_secs": int, "firmware_version": opt_s, "acked_seq": int, "mode": opt_s,
        "config_applied_version": opt_int, "config_rejection": opt_s, "created_at": int }),
    );
    let extension_props =
        json!({ "id": int, "site_id": int, "number": s, "sip_username": s, "display_name": s, "created_at": int });
    let mut created_ext = extension_props.clone();
    if let Some(m) = created_ext.as_object_mut() {
        m.insert(
            "sip_password".into(),
            json!({ "type": "string", "description": "Shown once; only HA1 digests are stored" }),
        );
    }
    let record = object(
        &["id", "site_id", "caller", "callee", "class", "started_at", "ended_at", "outcome", "cost_micros"],
        json!({
        "id": int, "site_id": int, "box_id": opt_int, "box_seq": opt_int, "caller": s, "callee": s, "class": class,
        "started_at": int, "answered_at": opt_int, "ended_at": int, "duration_secs": int, "billed_secs": int,
        "outcome": { "type": "string", "enum": ["answered", "no_answer", "busy", "cancelled", "failed"] },
        "cost_micros": int }),
    );
    let tariff = object(
        &["class", "price_micros_per_sec", "min_secs", "increment_secs"],
        json!({ "class": class, "price_micros_per_sec": int, "min_secs": int, "increment_secs": int }),
    );
    json!({
        "Error": object(&["error"], json!({ "error": s })),
        "Body": body,
        "BodyName": object(&["name"], json!({ "name": s })),
        "TokenLabel": object(&["label"], json!({ "label": s })),
        "BodyToken": object(&["id", "body_id", "label", "created_at"], json!({ "id": int, "body_id": int, "label": s, "created_at": int })),
        "IssuedBodyToken": object(&["id", "body_id", "label", "created_at", "token"], json!({ "id": int, "body_id": int, "label": s, "created_at": int, "token": { "type": "string", "description": "Shown once" } })),
        "Site": object(&["id", "body_id", "name", "code", "kind"], json!({ "id": int, "body_id": int, "name": s, "code": { "type": "string", "pattern": "^[0-9]{4}$" }, "kind": kind, "created_at": int })),
        "NewSite": object(&["name", "code"], json!({ "body_id": opt_int, "name": s, "code": { "type": "string", "pattern": "^[0-9]{4}$" }, "kind": kind })),
        "SitePatch": object(&[], json!({ "name": s, "code": s, "kind": kind })),
        "Extension": object(&["id", "site_id", "number", "sip_username", "display_name"], extension_props),
        "CreatedExtension": object(&["id", "site_id", "number", "sip_username", "display_name", "sip_password"], created_ext),
        "NewExtension": object(&["number", "display_name"], json!({ "number": s, "sip_username": opt_s, "display_name": s })),
        "ExtensionPatch": object(&[], json!({ "number": s, "display_name": s })),
        "RingGroup": object(&["id", "site_id", "number", "name", "timeout_secs", "members"], json!({ "id": int, "site_id": int, "number": s, "name": s, "timeout_secs": int, "members": members, "created_at": int })),
        "NewRingGroup": object(&["number", "name"], json!({ "number": s, "name": s, "timeout_secs": int, "members": members })),
        "RingGroupPatch": object(&[], json!({ "number": s, "name": s, "timeout_secs": int, "members": members })),
        "FallbackTrunkSpec": object(&["host"], json!({ "host": { "type": "string", "description": "IP address" }, "port": int, "username": opt_s, "password": { "type": ["string", "null"], "description": "Stored for the box; never shown again" } })),
        "FallbackTrunk": object(&["site_id", "host", "port", "has_password"], json!({ "site_id": int, "host": s, "port": int, "username": opt_s, "has_password": { "type": "boolean" }, "updated_at": int })),
        "Did": object(&["id", "number", "site_id", "target"], json!({ "id": int, "number": s, "site_id": int, "target": target, "created_at": int })),
        "NewDid": object(&["number", "site_id", "target"], json!({ "number": { "type": "string", "pattern": "^\\+[0-9]{6,15}$" }, "site_id": int, "target": target })),
        "DidPatch": object(&["target"], json!({ "target": target })),
        "Box": box_info,
        "NewBox": object(&["name"], json!({ "name": s, "enrollment_ttl_secs": opt_int })),
        "IssuedEnrollment": object(&["box", "enrollment_token", "expires_at"], json!({ "box": { "$ref": "#/components/schemas/Box" }, "enrollment_token": { "type": "string", "description": "One-time; shown once" }, "expires_at": int })),
        "Tariff": tariff,
        "TariffBody": object(&["price_micros_per_sec"], json!({ "price_micros_per_sec": int, "min_secs": int, "increment_secs": int })),
        "CallRecord": record,
        "RecordPage": object(&["records"], json!({ "records": { "type": "array", "items": { "$ref": "#/components/schemas/CallRecord" } }, "next_cursor": opt_s })),
        "Statement": object(&["month", "body_id", "lines", "sites", "total_micros"], json!({ "month": s, "site_id": opt_int, "body_id": int, "lines": { "type": "array", "items": line }, "sites": { "type": "array", "items": subtotal }, "total_micros": int })),
    })
}

fn parameters(path: &str) -> Vec<Value> {
    path.split('/')
        .filter_map(|seg| seg.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
        .map(|name| {
            let schema = if matches!(name, "month" | "class") {
                json!({ "type": "string" })
            } else {
                json!({ "type": "integer", "format": "int64" })
            };
            json!({ "name": name, "in": "path", "required": true, "schema": schema })
        })
        .collect()
}

/// The OpenAPI document.
pub fn document() -> Value {
    let mut paths = Map::new();
    for o in OPERATIONS {
        let mut operation = Map::new();
        operation.insert("summary".into(), json!(o.summary));
        let params = parameters(o.path);
        if !params.is_empty() {
            operation.insert("parameters".into(), Value::Array(params));
        }
        if let Some(req) = o.request {
            operation.insert(
                "requestBody".into(),
                json!({ "required": true, "content": { "application/json": { "schema": schema_ref(req) } } }),
            );
        }
        let ok = match o.response {
            Some(r) => {
                json!({ "description": "Success", "content": { "application/json": { "schema": schema_ref(r) } } })
            }
            None => json!({ "description": "Success" }),
        };
        let error =
            json!({ "description": "Error", "content": { "application/json": { "schema": schema_ref("Error") } } });
        operation.insert("responses".into(), json!({ o.status.to_string(): ok, "default": error }));
        if o.path.starts_with("/v1/") {
            operation.insert("security".into(), json!([{ "bearer": [] }]));
        }
        if let Some(item) = paths.entry(o.path.to_owned()).or_insert_with(|| json!({})).as_object_mut() {
            item.insert(o.method.into(), Value::Object(operation));
        }
    }
    json!({
        "openapi": "3.1.0",
        "info": { "title": "Carillon cloud admin API", "version": env!("CARGO_PKG_VERSION"),
                  "description": "Times are UTC Unix seconds; money is integer micro-units of the currency. A body token sees only its own sites: others answer 404." },
        "paths": paths,
        "components": {
            "schemas": schemas(),
            "securitySchemes": { "bearer": { "type": "http", "scheme": "bearer" } }
        }
    })
}
