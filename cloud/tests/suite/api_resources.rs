//! The admin API resource by resource, as the operator: CRUD, validation, secrets shown once.

use axum::body::Body;
use axum::http::{Request, StatusCode};
use carillon_cloud::api::openapi::OPERATIONS;
use carillon_cloud::model::NewBox;
use serde_json::{json, Value};

use crate::common::{batch, call, error_message, Api, NOW, OPERATOR};

#[tokio::test]
async fn every_documented_operation_is_routed() {
    let api = Api::new().await;
    for op in OPERATIONS {
        let path = op.path.replace("{month}", "2025-03").replace("{class}", "on_net").replace(['{', '}'], "");
        let path = path.replace("token_id", "999999").replace("/id", "/999999");
        let body = op.request.map(|_| json!({}));
        let (status, v) = api.op(&op.method.to_uppercase(), &path, body).await;
        assert_ne!(status, StatusCode::METHOD_NOT_ALLOWED, "{} {}", op.method, op.path);
        if status == StatusCode::NOT_FOUND {
            assert_ne!(error_message(&v), "no such route", "{} {}", op.method, op.path);
        }
    }
    let (status, v) = api.op("GET", "/v1/nothing", None).await;
    assert_eq!((status, error_message(&v).as_str()), (StatusCode::NOT_FOUND, "no such route"));
}

#[tokio::test]
async fn openapi_document_lists_the_api() {
    let api = Api::new().await;
    let (status, doc) = api.call("GET", "/openapi.json", None, None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(doc["openapi"], "3.1.0");
    assert!(doc["paths"]["/v1/sites/{id}/extensions"]["post"]["responses"]["201"].is_object());
    assert!(doc["components"]["schemas"]["CreatedExtension"]["properties"]["sip_password"].is_object());
    assert_eq!(doc["paths"]["/v1/sites/{id}"]["get"]["parameters"][0]["name"], "id");
}

#[tokio::test]
async fn requests_without_a_valid_token_get_401_json() {
    let api = Api::new().await;
    for token in [None, Some("nope"), Some("")] {
        let (status, v) = api.call("GET", "/v1/sites", token, None).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        error_message(&v);
    }
    let req =
        Request::get("/v1/sites").header("authorization", format!("Basic {OPERATOR}")).body(Body::empty()).unwrap();
    assert_eq!(api.raw(req).await.0, StatusCode::UNAUTHORIZED);
    let (status, _) = api.call("GET", "/healthz", None, None).await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn bodies_and_their_tokens() {
    let api = Api::new().await;
    let (id, token) = api.body("Board A").await;
    assert!(token.starts_with("cb_"));
    let (s, v) = api.op("GET", &format!("/v1/bodies/{id}"), None).await;
    assert_eq!((s, v["name"].as_str()), (StatusCode::OK, Some("Board A")));
    let (s, v) = api.op("PATCH", &format!("/v1/bodies/{id}"), Some(json!({ "name": "Board A2" }))).await;
    assert_eq!((s, v["name"].as_str()), (StatusCode::OK, Some("Board A2")));
    let (s, v) = api.op("POST", "/v1/bodies", Some(json!({ "name": "Board A2" }))).await;
    assert_eq!(s, StatusCode::CONFLICT, "{v}");
    // Tokens are listed without their secret, and stop working when revoked.
    let (s, list) = api.op("GET", &format!("/v1/bodies/{id}/tokens"), None).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(list.as_array().unwrap().len(), 1);
    assert!(list[0].get("token").is_none() && !list.to_string().contains(&token));
    assert_eq!(api.call("GET", "/v1/sites", Some(&token), None).await.0, StatusCode::OK);
    let tid = list[0]["id"].as_i64().unwrap();
    assert_eq!(api.op("DELETE", &format!("/v1/bodies/{id}/tokens/{tid}"), None).await.0, StatusCode::NO_CONTENT);
    assert_eq!(api.call("GET", "/v1/sites", Some(&token), None).await.0, StatusCode::UNAUTHORIZED);
    // A body with a site cannot go; without one it can.
    let site = api.site(id, "1234").await;
    assert_eq!(api.op("DELETE", &format!("/v1/bodies/{id}"), None).await.0, StatusCode::CONFLICT);
    assert_eq!(api.op("DELETE", &format!("/v1/sites/{site}"), None).await.0, StatusCode::NO_CONTENT);
    assert_eq!(api.op("DELETE", &format!("/v1/bodies/{id}"), None).await.0, StatusCode::NO_CONTENT);
    assert_eq!(api.op("GET", &format!("/v1/bodies/{id}"), None).await.0, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn sites_crud_and_validation() {
    let api = Api::new().await;
    let (body, _) = api.body("Board").await;
    let (s, v) = api
        .op(
            "POST",
            "/v1/sites",
            Some(json!({ "body_id": body, "name": "Central office", "code": "0001", "kind": "central_office" })),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    assert_eq!(v["kind"], "central_office");
    let id = v["id"].as_i64().unwrap();
    for (bad, want) in [
        (json!({ "body_id": body, "name": "X", "code": "123" }), StatusCode::BAD_REQUEST),
        (json!({ "body_id": body, "name": "X", "code": "12a4" }), StatusCode::BAD_REQUEST),
        (json!({ "body_id": body, "name": " ", "code": "1235" }), StatusCode::BAD_REQUEST),
        (json!({ "body_id": body, "name": "X", "code": "0001" }), StatusCode::CONFLICT),
        (json!({ "body_id": 9999, "name": "X", "code": "1236" }), StatusCode::BAD_REQUEST),
        (json!({ "name": "X", "code": "1236" }), StatusCode::BAD_REQUEST),
        (json!({ "body_id": body, "name": "X", "code": "1236", "colour": "red" }), StatusCode::UNPROCESSABLE_ENTITY),
        (json!({ "body_id": body, "name": "X", "code": "1236", "kind": "castle" }), StatusCode::UNPROCESSABLE_ENTITY),
    ] {
        let (s, v) = api.op("POST", "/v1/sites", Some(bad.clone())).await;
        assert_eq!(s, want, "{bad} -> {v}");
        error_message(&v);
    }
    let (s, v) = api.op("PATCH", &format!("/v1/sites/{id}"), Some(json!({ "name": "HQ", "code": "0002" }))).await;
    assert_eq!((s, v["name"].as_str(), v["code"].as_str()), (StatusCode::OK, Some("HQ"), Some("0002")));
    let (s, list) = api.op("GET", &format!("/v1/sites?body_id={body}"), None).await;
    assert_eq!((s, list.as_array().unwrap().len()), (StatusCode::OK, 1));
    assert_eq!(api.op("GET", "/v1/sites/abc", None).await.0, StatusCode::BAD_REQUEST);
    assert_eq!(api.op("DELETE", &format!("/v1/sites/{id}"), None).await.0, StatusCode::NO_CONTENT);
    assert_eq!(api.op("GET", &format!("/v1/sites/{id}"), None).await.0, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn malformed_requests_get_json_errors() {
    let api = Api::new().await;
    let req = Request::post("/v1/bodies")
        .header("authorization", format!("Bearer {OPERATOR}"))
        .header("content-type", "application/json")
        .body(Body::from("{not json"))
        .unwrap();
    let (s, v) = api.raw(req).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    error_message(&v);
    let req = Request::post("/v1/bodies")
        .header("authorization", format!("Bearer {OPERATOR}"))
        .body(Body::from("{}"))
        .unwrap();
    let (s, v) = api.raw(req).await;
    assert_eq!(s, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    error_message(&v);
    let (s, v) = api.op("POST", "/v1/bodies", Some(json!({}))).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(error_message(&v).contains("name"));
    let (s, v) = api.op("GET", "/v1/call-records?limit=x", None).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    error_message(&v);
    let (s, v) = api.op("PUT", "/v1/bodies", None).await;
    assert_eq!(s, StatusCode::METHOD_NOT_ALLOWED);
    error_message(&v);
}

#[tokio::test]
async fn extension_password_is_shown_once_and_never_again() {
    let api = Api::new().await;
    let (body, _) = api.body("Board").await;
    let site = api.site(body, "1234").await;
    let (s, created) = api
        .op(
            "POST",
            &format!("/v1/sites/{site}/extensions"),
            Some(json!({ "number": "102", "display_name": "Secretariat" })),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED);
    let id = created["id"].as_i64().unwrap();
    let password = created["sip_password"].as_str().unwrap().to_owned();
    assert_eq!(password.len(), 20);
    let seen = [
        api.op("GET", &format!("/v1/extensions/{id}"), None).await.1,
        api.op("GET", &format!("/v1/sites/{site}/extensions"), None).await.1,
        api.op("PATCH", &format!("/v1/extensions/{id}"), Some(json!({ "display_name": "Office" }))).await.1,
    ];
    for v in &seen {
        let text = v.to_string();
        assert!(!text.contains(&password) && !text.contains("sip_password") && !text.contains("ha1"), "{text}");
    }
    assert_eq!(seen[2]["display_name"], "Office");
    let (s, reset) = api.op("POST", &format!("/v1/extensions/{id}/credential"), None).await;
    assert_eq!(s, StatusCode::OK);
    let new_password = reset["sip_password"].as_str().unwrap();
    assert_ne!(new_password, password);
    let cred = api.store.sip_credential("1234-102").await.unwrap();
    assert_eq!(cred.ha1_md5, carillon_cloud::secrets::ha1_md5("1234-102", "carillon", new_password));
    // Validation and conflicts.
    for (bad, want) in [
        (json!({ "number": "102", "display_name": "Dup" }), StatusCode::CONFLICT),
        (json!({ "number": "112", "display_name": "Emergency" }), StatusCode::BAD_REQUEST),
        (json!({ "number": "103", "display_name": "X", "sip_username": "bad user" }), StatusCode::BAD_REQUEST),
        (json!({ "number": "103", "display_name": "X", "sip_username": "1234-102" }), StatusCode::CONFLICT),
    ] {
        let (s, v) = api.op("POST", &format!("/v1/sites/{site}/extensions"), Some(bad.clone())).await;
        assert_eq!(s, want, "{bad} -> {v}");
        error_message(&v);
    }
    assert_eq!(api.op("DELETE", &format!("/v1/extensions/{id}"), None).await.0, StatusCode::NO_CONTENT);
    assert_eq!(api.op("GET", &format!("/v1/extensions/{id}"), None).await.0, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn ring_groups_crud_with_member_checks() {
    let api = Api::new().await;
    let (body, _) = api.body("Board").await;
    let a = api.site(body, "1234").await;
    let b = api.site(body, "5678").await;
    let (e1, _) = api.extension(a, "102").await;
    let (e2, _) = api.extension(a, "103").await;
    let (other, _) = api.extension(b, "102").await;
    let (s, rg) = api
        .op(
            "POST",
            &format!("/v1/sites/{a}/ring-groups"),
            Some(json!({ "number": "200", "name": "Secretariat", "members": [e2, e1] })),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{rg}");
    assert_eq!(rg["members"], json!([e2, e1]));
    assert_eq!(rg["timeout_secs"], 30);
    let id = rg["id"].as_i64().unwrap();
    for bad in [
        json!({ "members": [other] }),
        json!({ "members": [e1, e1] }),
        json!({ "timeout_secs": 0 }),
        json!({ "number": "102" }),
    ] {
        let (s, v) = api.op("PATCH", &format!("/v1/ring-groups/{id}"), Some(bad.clone())).await;
        assert!(s == StatusCode::BAD_REQUEST || s == StatusCode::CONFLICT, "{bad} -> {s} {v}");
    }
    let (s, v) =
        api.op("PATCH", &format!("/v1/ring-groups/{id}"), Some(json!({ "members": [e1], "timeout_secs": 45 }))).await;
    assert_eq!((s, &v["members"], &v["timeout_secs"]), (StatusCode::OK, &json!([e1]), &json!(45)));
    // Deleting a member extension takes it out of the group.
    api.op("DELETE", &format!("/v1/extensions/{e1}"), None).await;
    let (_, v) = api.op("GET", &format!("/v1/ring-groups/{id}"), None).await;
    assert_eq!(v["members"], json!([]));
    let (_, list) = api.op("GET", &format!("/v1/sites/{a}/ring-groups"), None).await;
    assert_eq!(list.as_array().unwrap().len(), 1);
    assert_eq!(api.op("DELETE", &format!("/v1/ring-groups/{id}"), None).await.0, StatusCode::NO_CONTENT);
    assert_eq!(api.op("GET", &format!("/v1/ring-groups/{id}"), None).await.0, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn dids_route_into_their_site_only() {
    let api = Api::new().await;
    let (body, _) = api.body("Board").await;
    let a = api.site(body, "1234").await;
    let b = api.site(body, "5678").await;
    let (e, _) = api.extension(a, "102").await;
    let (eb, _) = api.extension(b, "102").await;
    let (_, rg) = api
        .op(
            "POST",
            &format!("/v1/sites/{a}/ring-groups"),
            Some(json!({ "number": "200", "name": "Main", "members": [e] })),
        )
        .await;
    let rg = rg["id"].as_i64().unwrap();
    let (s, did) = api
        .op(
            "POST",
            "/v1/dids",
            Some(json!({ "number": "+3225551000", "site_id": a, "target": { "kind": "ring_group", "id": rg } })),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{did}");
    let id = did["id"].as_i64().unwrap();
    for (bad, want) in [
        (
            json!({ "number": "+3225551000", "site_id": a, "target": { "kind": "extension", "id": e } }),
            StatusCode::CONFLICT,
        ),
        (
            json!({ "number": "3225551001", "site_id": a, "target": { "kind": "extension", "id": e } }),
            StatusCode::BAD_REQUEST,
        ),
        (
            json!({ "number": "+3225551001", "site_id": a, "target": { "kind": "extension", "id": eb } }),
            StatusCode::BAD_REQUEST,
        ),
        (
            json!({ "number": "+3225551001", "site_id": 999, "target": { "kind": "extension", "id": e } }),
            StatusCode::BAD_REQUEST,
        ),
    ] {
        let (s, v) = api.op("POST", "/v1/dids", Some(bad.clone())).await;
        assert_eq!(s, want, "{bad} -> {v}");
    }
    let (s, v) =
        api.op("PATCH", &format!("/v1/dids/{id}"), Some(json!({ "target": { "kind": "extension", "id": e } }))).await;
    assert_eq!((s, &v["target"]), (StatusCode::OK, &json!({ "kind": "extension", "id": e })));
    let (_, list) = api.op("GET", &format!("/v1/dids?site_id={a}"), None).await;
    assert_eq!(list.as_array().unwrap().len(), 1);
    assert_eq!(api.op("DELETE", &format!("/v1/ring-groups/{rg}"), None).await.0, StatusCode::NO_CONTENT);
    assert_eq!(api.op("DELETE", &format!("/v1/extensions/{e}"), None).await.0, StatusCode::CONFLICT);
    assert_eq!(api.op("DELETE", &format!("/v1/dids/{id}"), None).await.0, StatusCode::NO_CONTENT);
    assert_eq!(api.op("GET", &format!("/v1/dids/{id}"), None).await.0, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn boxes_enrollment_token_shown_once_and_status() {
    let api = Api::new().await;
    let (body, _) = api.body("Board").await;
    let site = api.site(body, "1234").await;
    let (id, token) = api.new_box(site).await;
    let (s, v) = api.op("GET", &format!("/v1/boxes/{id}"), None).await;
    assert_eq!(s, StatusCode::OK);
    assert!(!v.to_string().contains(&token));
    assert_eq!((v["enrolled"].as_bool(), v["enrollment_expires_at"].as_i64()), (Some(false), Some(NOW + 7 * 86_400)));
    let (_, cred) = api.store.enroll_box(&token, NOW + 5).await.unwrap();
    api.store
        .report_box_status(
            id,
            &carillon_cloud::model::BoxStatusReport {
                online: true,
                firmware_version: Some("1.2.3".into()),
                survival_secs_add: 42,
            },
            NOW + 6,
        )
        .await
        .unwrap();
    let (_, list) = api.op("GET", &format!("/v1/boxes?site_id={site}"), None).await;
    let b = &list[0];
    assert_eq!(
        (b["online"].as_bool(), b["firmware_version"].as_str(), b["survival_secs"].as_i64()),
        (Some(true), Some("1.2.3"), Some(42))
    );
    assert_eq!(b["last_seen_at"].as_i64(), Some(NOW + 6));
    assert!(!list.to_string().contains(&cred));
    api.clock.store(NOW + 100, std::sync::atomic::Ordering::SeqCst);
    let (s, again) = api.op("POST", &format!("/v1/boxes/{id}/enrollment-token"), None).await;
    assert_eq!(s, StatusCode::CREATED);
    assert_eq!(again["expires_at"].as_i64(), Some(NOW + 100 + 7 * 86_400));
    let token2 = again["enrollment_token"].as_str().unwrap();
    assert_ne!(token2, token);
    let (s, v) = api
        .op("POST", &format!("/v1/sites/{site}/boxes"), Some(json!({ "name": "b", "enrollment_ttl_secs": 5 })))
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{v}");
    // A box that uploaded records stays; one that did not can go.
    api.store.ingest_box_records(id, &batch(1..=1), NOW).await.unwrap();
    assert_eq!(api.op("DELETE", &format!("/v1/boxes/{id}"), None).await.0, StatusCode::CONFLICT);
    let spare = api
        .store
        .create_box(site, &NewBox { name: "spare".into(), enrollment_ttl_secs: None }, 600, NOW)
        .await
        .unwrap();
    assert_eq!(api.op("DELETE", &format!("/v1/boxes/{}", spare.box_info.id), None).await.0, StatusCode::NO_CONTENT);
}

#[tokio::test]
async fn tariffs_are_set_by_the_operator() {
    let api = Api::new().await;
    let (_, list) = api.op("GET", "/v1/tariffs", None).await;
    assert_eq!(list.as_array().unwrap().len(), 6);
    assert!(list.as_array().unwrap().iter().all(|t| t["price_micros_per_sec"] == 0));
    let (s, t) = api
        .op("PUT", "/v1/tariffs/national_mobile", Some(json!({ "price_micros_per_sec": 250, "min_secs": 30 })))
        .await;
    assert_eq!(s, StatusCode::OK, "{t}");
    assert_eq!((t["price_micros_per_sec"].as_i64(), t["increment_secs"].as_i64()), (Some(250), Some(1)));
    let (_, list) = api.op("GET", "/v1/tariffs", None).await;
    assert!(list.as_array().unwrap().iter().any(|t| t["class"] == "national_mobile" && t["min_secs"] == 30));
    assert_eq!(
        api.op("PUT", "/v1/tariffs/gold", Some(json!({ "price_micros_per_sec": 1 }))).await.0,
        StatusCode::NOT_FOUND
    );
    let (s, v) = api.op("PUT", "/v1/tariffs/international", Some(json!({ "price_micros_per_sec": -1 }))).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    error_message(&v);
    let (s, _) = api
        .op("PUT", "/v1/tariffs/international", Some(json!({ "price_micros_per_sec": 1, "increment_secs": 0 })))
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn call_records_filter_and_paginate() {
    let api = Api::new().await;
    let (body, _) = api.body("Board").await;
    let a = api.site(body, "1234").await;
    let b = api.site(body, "5678").await;
    for i in 0..7 {
        api.store.record_call(a, &call("025551234", NOW + i * 60, Some(10)), NOW).await.unwrap();
    }
    api.store.record_call(a, &call("112", NOW + 30, Some(10)), NOW).await.unwrap();
    api.store.record_call(b, &call("025551234", NOW + 30, Some(10)), NOW).await.unwrap();

    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    let mut pages = 0;
    loop {
        let q = match &cursor {
            Some(c) => format!("/v1/call-records?site_id={a}&limit=3&cursor={c}"),
            None => format!("/v1/call-records?site_id={a}&limit=3"),
        };
        let (s, page) = api.op("GET", &q, None).await;
        assert_eq!(s, StatusCode::OK, "{page}");
        pages += 1;
        for r in page["records"].as_array().unwrap() {
            assert_eq!(r["site_id"].as_i64(), Some(a));
            seen.push((r["started_at"].as_i64().unwrap(), r["id"].as_i64().unwrap()));
        }
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => break,
        }
    }
    assert_eq!(pages, 3);
    assert_eq!(seen.len(), 8);
    let mut sorted = seen.clone();
    sorted.sort_unstable();
    sorted.dedup();
    assert_eq!(sorted, seen, "ordered by start time, no duplicates");

    let (_, em) = api.op("GET", "/v1/call-records?class=emergency", None).await;
    assert_eq!(em["records"].as_array().unwrap().len(), 1);
    let (_, window) = api.op("GET", &format!("/v1/call-records?from={}&to={}", NOW + 60, NOW + 180), None).await;
    let starts: Vec<i64> =
        window["records"].as_array().unwrap().iter().map(|r| r["started_at"].as_i64().unwrap()).collect();
    assert_eq!(starts, vec![NOW + 60, NOW + 120]);
    let (_, all) = api.op("GET", "/v1/call-records", None).await;
    assert_eq!(all["records"].as_array().unwrap().len(), 9);
    let id = all["records"][0]["id"].as_i64().unwrap();
    assert_eq!(api.op("GET", &format!("/v1/call-records/{id}"), None).await.0, StatusCode::OK);
    for bad in ["limit=0", "limit=5000", "cursor=zzz", "class=cheap", "site=1"] {
        let (s, v) = api.op("GET", &format!("/v1/call-records?{bad}"), None).await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{bad}");
        error_message(&v);
    }
}

#[tokio::test]
async fn statements_over_the_api() {
    let api = Api::new().await;
    let (body, _) = api.body("Board").await;
    let a = api.site(body, "1234").await;
    api.op("PUT", "/v1/tariffs/national_fixed", Some(json!({ "price_micros_per_sec": 150 }))).await;
    api.store.record_call(a, &call("025551234", NOW, Some(100)), NOW).await.unwrap();
    let (s, st) = api.op("GET", &format!("/v1/sites/{a}/statements/2025-03"), None).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(st["total_micros"].as_i64(), Some(15_000));
    let fixed =
        st["lines"].as_array().unwrap().iter().find(|l| l["class"] == "national_fixed").cloned().unwrap_or(Value::Null);
    assert_eq!((fixed["calls"].as_i64(), fixed["billed_secs"].as_i64()), (Some(1), Some(100)));
    let (_, st) = api.op("GET", &format!("/v1/bodies/{body}/statements/2025-03"), None).await;
    assert_eq!(st["total_micros"].as_i64(), Some(15_000));
    assert_eq!(st["sites"][0]["total_micros"].as_i64(), Some(15_000));
    let (_, st) = api.op("GET", &format!("/v1/bodies/{body}/statements/2025-08"), None).await;
    assert_eq!(st["total_micros"].as_i64(), Some(0));
    let (s, v) = api.op("GET", &format!("/v1/sites/{a}/statements/March"), None).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    error_message(&v);
}

#[tokio::test]
async fn internal_errors_are_a_bare_500() {
    let api = Api::new().await;
    let (body, _) = api.body("Board").await;
    api.store.close().await;
    let (s, v) = api.op("GET", &format!("/v1/bodies/{body}"), None).await;
    assert_eq!(s, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(error_message(&v), "internal server error");
}

#[tokio::test]
async fn a_schools_fallback_trunk_is_set_shown_without_its_password_and_removed() {
    let api = Api::new().await;
    let (body, token) = api.body("Board").await;
    let site = api.site(body, "1001").await;
    let path = format!("/v1/sites/{site}/fallback-trunk");
    let version = |api: &Api| {
        let store = api.store.clone();
        async move { store.site_config_versions().await.unwrap().into_iter().find(|(id, _)| *id == site).unwrap().1 }
    };
    let (s, v) = api.op("GET", &path, None).await;
    assert_eq!((s, error_message(&v).as_str()), (StatusCode::NOT_FOUND, "fallback trunk not found"));
    // Bad input: a clear 4xx, nothing stored, the configuration version unchanged.
    let before = version(&api).await;
    for (bad, why) in [
        (json!({ "host": "gw.school.example" }), "host must be an IP address"),
        (json!({ "host": "192.168.1.20", "port": 0 }), "port must be 1 to 65535"),
        (json!({ "host": "192.168.1.20", "username": "school" }), "username and password go together"),
        (json!({ "host": "192.168.1.20", "username": "a b", "password": "x" }), "username must be"),
        (json!({ "host": "192.168.1.20", "extra": 1 }), "unknown field"),
    ] {
        let (s, v) = api.op("PUT", &path, Some(bad.clone())).await;
        assert!(s.is_client_error(), "{bad} -> {s}");
        assert!(error_message(&v).contains(why), "{bad} -> {v}");
    }
    assert_eq!(version(&api).await, before);
    assert_eq!(api.op("GET", &path, None).await.0, StatusCode::NOT_FOUND);
    // The body's own token may set it; the answer never carries the password.
    let spec = json!({ "host": "192.168.1.20", "port": 5062, "username": "school", "password": "s3cret" });
    let (s, v) = api.call("PUT", &path, Some(&token), Some(spec)).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(
        (v["host"].as_str(), v["port"].as_i64(), v["username"].as_str()),
        (Some("192.168.1.20"), Some(5062), Some("school"))
    );
    assert_eq!(v["has_password"], true);
    assert!(!v.to_string().contains("s3cret"));
    assert!(version(&api).await > before, "the box gets it at the next push");
    let (s, got) = api.op("GET", &path, None).await;
    assert_eq!((s, &got), (StatusCode::OK, &v));
    // What the box is sent has the password.
    let cfg = api.store.site_config(site).await.unwrap();
    let t = cfg.fallback_trunk.expect("in the site's configuration");
    assert_eq!((t.host.as_str(), t.port, t.password.as_deref()), ("192.168.1.20", 5062, Some("s3cret")));
    // Replaced without credentials, then removed.
    let (s, v) = api.op("PUT", &path, Some(json!({ "host": "fd00::20" }))).await;
    assert_eq!((s, v["port"].as_i64(), v["has_password"].as_bool()), (StatusCode::OK, Some(5060), Some(false)));
    assert_eq!(api.op("DELETE", &path, None).await.0, StatusCode::NO_CONTENT);
    assert_eq!(api.op("GET", &path, None).await.0, StatusCode::NOT_FOUND);
    assert_eq!(api.op("DELETE", &path, None).await.0, StatusCode::NOT_FOUND);
    assert!(api.store.site_config(site).await.unwrap().fallback_trunk.is_none());
}
