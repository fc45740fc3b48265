//! Tenant isolation: a body token sees and changes only its own body's sites and everything
//! under them; another body's things answer 404 (existence does not leak), creating for another
//! body or doing operator work answers 403.

use axum::http::StatusCode;
use serde_json::json;

use crate::common::{call, error_message, Api, NOW};

/// Two bodies, each with a site, extension, ring group, DID, box and call record.
struct World {
    api: Api,
    a_token: String,
    a_body: i64,
    a_site: i64,
    b_body: i64,
    b_site: i64,
    b_ext: i64,
    b_rg: i64,
    b_did: i64,
    b_box: i64,
    b_record: i64,
}

async fn world() -> World {
    let api = Api::new().await;
    let (a_body, a_token) = api.body("Board A").await;
    let (b_body, _) = api.body("Board B").await;
    let a_site = api.site(a_body, "1001").await;
    let b_site = api.site(b_body, "2001").await;
    api.extension(a_site, "102").await;
    let (b_ext, _) = api.extension(b_site, "102").await;
    let (_, rg) = api
        .op(
            "POST",
            &format!("/v1/sites/{b_site}/ring-groups"),
            Some(json!({ "number": "200", "name": "Main", "members": [b_ext] })),
        )
        .await;
    let (_, did) = api
        .op(
            "POST",
            "/v1/dids",
            Some(json!({ "number": "+3225552000", "site_id": b_site, "target": { "kind": "extension", "id": b_ext } })),
        )
        .await;
    let (b_box, _) = api.new_box(b_site).await;
    api.store.record_call(a_site, &call("025551234", NOW, Some(60)), NOW).await.unwrap();
    let b_record = api.store.record_call(b_site, &call("025551234", NOW, Some(60)), NOW).await.unwrap().id;
    World {
        a_token,
        a_body,
        a_site,
        b_body,
        b_site,
        b_ext,
        b_rg: rg["id"].as_i64().unwrap(),
        b_did: did["id"].as_i64().unwrap(),
        b_box,
        b_record,
        api,
    }
}

#[tokio::test]
async fn another_bodys_things_are_404_for_every_method() {
    let w = world().await;
    let (bb, bs, be, brg, bd, bx, br) = (w.b_body, w.b_site, w.b_ext, w.b_rg, w.b_did, w.b_box, w.b_record);
    let cases: Vec<(&str, String, Option<serde_json::Value>)> = vec![
        ("GET", format!("/v1/bodies/{bb}"), None),
        ("PATCH", format!("/v1/bodies/{bb}"), Some(json!({ "name": "x" }))),
        ("GET", format!("/v1/bodies/{bb}/statements/2025-03"), None),
        ("GET", format!("/v1/sites/{bs}"), None),
        ("PATCH", format!("/v1/sites/{bs}"), Some(json!({ "name": "mine now" }))),
        ("DELETE", format!("/v1/sites/{bs}"), None),
        ("GET", format!("/v1/sites/{bs}/statements/2025-03"), None),
        ("GET", format!("/v1/sites/{bs}/fallback-trunk"), None),
        ("PUT", format!("/v1/sites/{bs}/fallback-trunk"), Some(json!({ "host": "10.0.0.9" }))),
        ("DELETE", format!("/v1/sites/{bs}/fallback-trunk"), None),
        ("GET", format!("/v1/sites/{bs}/extensions"), None),
        ("POST", format!("/v1/sites/{bs}/extensions"), Some(json!({ "number": "103", "display_name": "Spy" }))),
        ("GET", format!("/v1/extensions/{be}"), None),
        ("PATCH", format!("/v1/extensions/{be}"), Some(json!({ "display_name": "x" }))),
        ("POST", format!("/v1/extensions/{be}/credential"), None),
        ("DELETE", format!("/v1/extensions/{be}"), None),
        ("GET", format!("/v1/sites/{bs}/ring-groups"), None),
        ("POST", format!("/v1/sites/{bs}/ring-groups"), Some(json!({ "number": "300", "name": "x" }))),
        ("GET", format!("/v1/ring-groups/{brg}"), None),
        ("PATCH", format!("/v1/ring-groups/{brg}"), Some(json!({ "name": "x" }))),
        ("DELETE", format!("/v1/ring-groups/{brg}"), None),
        ("GET", format!("/v1/dids/{bd}"), None),
        ("PATCH", format!("/v1/dids/{bd}"), Some(json!({ "target": { "kind": "extension", "id": be } }))),
        ("DELETE", format!("/v1/dids/{bd}"), None),
        ("GET", format!("/v1/dids?site_id={bs}"), None),
        ("GET", format!("/v1/sites/{bs}/boxes"), None),
        ("POST", format!("/v1/sites/{bs}/boxes"), Some(json!({ "name": "x" }))),
        ("GET", format!("/v1/boxes/{bx}"), None),
        ("GET", format!("/v1/boxes?site_id={bs}"), None),
        ("POST", format!("/v1/boxes/{bx}/enrollment-token"), None),
        ("DELETE", format!("/v1/boxes/{bx}"), None),
        ("GET", format!("/v1/call-records?site_id={bs}"), None),
        ("GET", format!("/v1/call-records?body_id={bb}"), None),
        ("GET", format!("/v1/call-records/{br}"), None),
        ("GET", format!("/v1/sites?body_id={bb}"), None),
    ];
    for (method, path, body) in cases {
        let (s, v) = w.api.call(method, &path, Some(&w.a_token), body).await;
        assert_eq!(s, StatusCode::NOT_FOUND, "{method} {path} -> {v}");
        let msg = error_message(&v);
        // Same answer as for something that does not exist at all.
        let missing = path.replace(&format!("/{bs}"), "/999999").replace(&format!("/{be}"), "/999999");
        if missing != path && method == "GET" && !path.contains('?') {
            let (s2, v2) = w.api.call("GET", &missing, Some(&w.a_token), None).await;
            assert_eq!((s2, error_message(&v2)), (StatusCode::NOT_FOUND, msg.clone()), "{missing}");
        }
    }
    // Nothing of B changed.
    let (_, site) = w.api.op("GET", &format!("/v1/sites/{bs}"), None).await;
    assert_eq!(site["name"], "School 2001");
    assert_eq!(w.api.op("GET", &format!("/v1/extensions/{be}"), None).await.0, StatusCode::OK);
    assert_eq!(w.api.op("GET", &format!("/v1/boxes/{bx}"), None).await.0, StatusCode::OK);
    assert_eq!(w.api.store.get_box(bx).await.unwrap().enrollment_expires_at, Some(NOW + 7 * 86_400));
    assert!(w.api.store.get_fallback_trunk(bs).await.is_err(), "B still has no fallback trunk");
}

#[tokio::test]
async fn lists_show_only_the_callers_own() {
    let w = world().await;
    let t = Some(w.a_token.as_str());
    let (_, bodies) = w.api.call("GET", "/v1/bodies", t, None).await;
    assert_eq!(
        bodies.as_array().unwrap().iter().map(|b| b["id"].as_i64().unwrap()).collect::<Vec<_>>(),
        vec![w.a_body]
    );
    let (_, sites) = w.api.call("GET", "/v1/sites", t, None).await;
    assert_eq!(sites.as_array().unwrap().iter().map(|s| s["id"].as_i64().unwrap()).collect::<Vec<_>>(), vec![w.a_site]);
    let (_, dids) = w.api.call("GET", "/v1/dids", t, None).await;
    assert_eq!(dids, json!([]));
    let (_, boxes) = w.api.call("GET", "/v1/boxes", t, None).await;
    assert_eq!(boxes, json!([]));
    let (_, recs) = w.api.call("GET", "/v1/call-records", t, None).await;
    let recs = recs["records"].as_array().unwrap().clone();
    assert_eq!(recs.len(), 1);
    assert_eq!(recs[0]["site_id"].as_i64(), Some(w.a_site));
    // The operator sees both.
    let (_, recs) = w.api.op("GET", "/v1/call-records", None).await;
    assert_eq!(recs["records"].as_array().unwrap().len(), 2);
    let (_, st) = w.api.call("GET", &format!("/v1/bodies/{}/statements/2025-03", w.a_body), t, None).await;
    assert_eq!(st["sites"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn creating_for_another_body_and_operator_work_are_403() {
    let w = world().await;
    let t = Some(w.a_token.as_str());
    let forbidden = [
        ("POST", "/v1/sites".to_owned(), Some(json!({ "body_id": w.b_body, "name": "Intruder", "code": "3001" }))),
        ("POST", "/v1/bodies".to_owned(), Some(json!({ "name": "Board C" }))),
        ("PATCH", format!("/v1/bodies/{}", w.a_body), Some(json!({ "name": "Renamed" }))),
        ("DELETE", format!("/v1/bodies/{}", w.a_body), None),
        ("POST", format!("/v1/bodies/{}/tokens", w.a_body), Some(json!({ "label": "more" }))),
        ("GET", format!("/v1/bodies/{}/tokens", w.a_body), None),
        (
            "POST",
            "/v1/dids".to_owned(),
            Some(json!({ "number": "+3225553000", "site_id": w.a_site, "target": { "kind": "extension", "id": 1 } })),
        ),
        ("PUT", "/v1/tariffs/international".to_owned(), Some(json!({ "price_micros_per_sec": 0 }))),
    ];
    for (method, path, body) in forbidden {
        let (s, v) = w.api.call(method, &path, t, body).await;
        assert_eq!(s, StatusCode::FORBIDDEN, "{method} {path} -> {v}");
        error_message(&v);
    }
    assert!(w.api.store.site_by_code("3001").await.is_err());
    // Within its own body a body token does the school's work.
    let (s, site) = w.api.call("POST", "/v1/sites", t, Some(json!({ "name": "Annexe", "code": "1002" }))).await;
    assert_eq!((s, site["body_id"].as_i64()), (StatusCode::CREATED, Some(w.a_body)));
    let sid = site["id"].as_i64().unwrap();
    let (s, ext) = w
        .api
        .call(
            "POST",
            &format!("/v1/sites/{sid}/extensions"),
            t,
            Some(json!({ "number": "102", "display_name": "Desk" })),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED);
    assert!(ext["sip_password"].is_string());
    let (s, _) = w.api.call("POST", &format!("/v1/sites/{sid}/boxes"), t, Some(json!({ "name": "box" }))).await;
    assert_eq!(s, StatusCode::CREATED);
    let (s, _) = w.api.call("GET", "/v1/tariffs", t, None).await;
    assert_eq!(s, StatusCode::OK);
    let (s, _) = w.api.call("GET", &format!("/v1/sites/{sid}/statements/2025-03"), t, None).await;
    assert_eq!(s, StatusCode::OK);
}
