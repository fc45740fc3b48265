//! The store's directory rules: credentials as HA1 only, one number namespace per site,
//! nothing deleted that records or routes still need.

use carillon_cloud::model::{DidTarget, ExtensionPatch, NewDid, NewExtension, NewRingGroup, NewSite, SiteKind};
use carillon_cloud::secrets::{ha1_md5, ha1_sha256};
use carillon_cloud::{Store, StoreError};

use crate::common::{call, store, NOW};

async fn site(s: &Store, code: &str) -> i64 {
    let body = match s.list_bodies().await.unwrap().first() {
        Some(b) => b.id,
        None => s.create_body("Board", NOW).await.unwrap().id,
    };
    let new = NewSite { body_id: None, name: "School".into(), code: code.into(), kind: SiteKind::School };
    s.create_site(body, &new, NOW).await.unwrap().id
}

fn ext(number: &str) -> NewExtension {
    NewExtension { number: number.into(), sip_username: None, display_name: "Phone".into() }
}

#[tokio::test]
async fn sip_credential_is_the_ha1_of_the_password_shown_once() {
    let s = store().await;
    let a = site(&s, "1234").await;
    let made = s.create_extension(a, &ext("102"), NOW).await.unwrap();
    assert_eq!(made.extension.sip_username, "1234-102");
    let cred = s.sip_credential("1234-102").await.unwrap();
    assert_eq!(cred.realm, "carillon");
    assert_eq!(cred.ha1_md5, ha1_md5("1234-102", "carillon", &made.sip_password));
    assert_eq!(cred.ha1_sha256, ha1_sha256("1234-102", "carillon", &made.sip_password));
    let reset = s.reset_extension_password(made.extension.id).await.unwrap();
    assert_ne!(reset.sip_password, made.sip_password);
    let cred2 = s.sip_credential("1234-102").await.unwrap();
    assert_eq!(cred2.ha1_md5, ha1_md5("1234-102", "carillon", &reset.sip_password));
    assert!(matches!(s.sip_credential("nobody").await, Err(StoreError::NotFound(_))));
}

#[tokio::test]
async fn extensions_and_ring_groups_share_a_number_space_per_site() {
    let s = store().await;
    let a = site(&s, "1234").await;
    let b = site(&s, "5678").await;
    let e = s.create_extension(a, &ext("102"), NOW).await.unwrap().extension;
    s.create_extension(b, &ext("102"), NOW).await.unwrap();
    assert!(matches!(s.create_extension(a, &ext("102"), NOW).await, Err(StoreError::Conflict(_))));
    let rg = NewRingGroup { number: "102".into(), name: "Secretariat".into(), timeout_secs: 20, members: vec![e.id] };
    assert!(matches!(s.create_ring_group(a, &rg, NOW).await, Err(StoreError::Conflict(_))));
    let rg = s.create_ring_group(a, &NewRingGroup { number: "200".into(), ..rg }, NOW).await.unwrap();
    assert_eq!(rg.members, vec![e.id]);
    let clash = ExtensionPatch { number: Some("200".into()), display_name: None };
    assert!(matches!(s.update_extension(e.id, &clash).await, Err(StoreError::Conflict(_))));
    for bad in ["101", "112", "0123", "8123", "1", "12345678", "1a"] {
        assert!(matches!(s.create_extension(a, &ext(bad), NOW).await, Err(StoreError::Invalid(_))), "{bad}");
    }
}

#[tokio::test]
async fn routes_and_records_keep_what_they_need() {
    let s = store().await;
    let a = site(&s, "1234").await;
    let e = s.create_extension(a, &ext("102"), NOW).await.unwrap().extension;
    let did = s
        .create_did(&NewDid { number: "+3225551000".into(), site_id: a, target: DidTarget::Extension(e.id) }, NOW)
        .await
        .unwrap();
    assert_eq!(s.did_by_number("+3225551000").await.unwrap(), did);
    assert!(matches!(s.delete_extension(e.id).await, Err(StoreError::Conflict(_))));
    s.delete_did(did.id).await.unwrap();
    s.delete_extension(e.id).await.unwrap();
    s.record_call(a, &call("102", NOW, Some(5)), NOW).await.unwrap();
    assert!(matches!(s.delete_site(a).await, Err(StoreError::Conflict(_))));
    let body = s.get_site(a).await.unwrap().body_id;
    assert!(matches!(s.delete_body(body).await, Err(StoreError::Conflict(_))));
    // A site without records goes, with its directory.
    let b = site(&s, "5678").await;
    s.create_extension(b, &ext("102"), NOW).await.unwrap();
    s.delete_site(b).await.unwrap();
    assert!(matches!(s.get_site(b).await, Err(StoreError::NotFound(_))));
    assert_eq!(s.site_by_code("1234").await.unwrap().id, a);
}

#[tokio::test]
async fn a_file_database_keeps_its_data_across_reopen() {
    if std::env::var("DATABASE_URL").is_ok_and(|u| u.starts_with("postgres")) {
        return; // SQLite-file specific; the PostgreSQL run covers its own persistence.
    }
    let dir = std::env::temp_dir().join(format!("carillon-cloud-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("cloud.db");
    let _ = std::fs::remove_file(&path);
    let url = format!("sqlite://{}?mode=rwc", path.display());
    let s = Store::connect(&url, Default::default()).await.unwrap();
    s.create_body("Kept", NOW).await.unwrap();
    s.close().await;
    let s = Store::connect(&url, Default::default()).await.unwrap();
    assert_eq!(s.list_bodies().await.unwrap()[0].name, "Kept");
    s.close().await;
    std::fs::remove_dir_all(&dir).ok();
}

#[tokio::test]
async fn the_suite_runs_on_the_database_it_was_given() {
    let on_pg = std::env::var("DATABASE_URL").is_ok_and(|u| u.starts_with("postgres"));
    let want = if on_pg { carillon_cloud::Backend::Postgres } else { carillon_cloud::Backend::Sqlite };
    assert_eq!(store().await.backend(), want);
}

#[tokio::test]
async fn every_directory_write_bumps_its_sites_config_version_only() {
    let s = store().await;
    let a = site(&s, "1234").await;
    let b = site(&s, "5678").await;
    let version = |s: Store, site: i64| async move {
        s.site_config_versions().await.unwrap().into_iter().find(|(id, _)| *id == site).unwrap().1
    };
    let b_before = version(s.clone(), b).await;
    let mut last = version(s.clone(), a).await;
    let mut bumped = |v: i64, what: &str| {
        assert!(v > last, "{what}: {v} > {last}");
        last = v;
    };
    let e1 = s.create_extension(a, &ext("201"), NOW).await.unwrap().extension.id;
    bumped(version(s.clone(), a).await, "create extension");
    let e2 = s.create_extension(a, &ext("202"), NOW).await.unwrap().extension.id;
    s.update_extension(e2, &ExtensionPatch { number: None, display_name: Some("Desk".into()) }).await.unwrap();
    bumped(version(s.clone(), a).await, "update extension");
    s.reset_extension_password(e2).await.unwrap();
    bumped(version(s.clone(), a).await, "reset password");
    let g = s
        .create_ring_group(
            a,
            &NewRingGroup { number: "300".into(), name: "G".into(), timeout_secs: 20, members: vec![e1, e2] },
            NOW,
        )
        .await
        .unwrap()
        .id;
    bumped(version(s.clone(), a).await, "create ring group");
    let did = s
        .create_did(&NewDid { number: "+3221234567".into(), site_id: a, target: DidTarget::RingGroup(g) }, NOW)
        .await
        .unwrap()
        .id;
    bumped(version(s.clone(), a).await, "create DID");
    s.delete_did(did).await.unwrap();
    bumped(version(s.clone(), a).await, "delete DID");
    s.delete_ring_group(g).await.unwrap();
    bumped(version(s.clone(), a).await, "delete ring group");
    s.delete_extension(e2).await.unwrap();
    bumped(version(s.clone(), a).await, "delete extension");
    // A refused write changes nothing.
    assert!(s.create_extension(a, &ext("201"), NOW).await.is_err());
    assert_eq!(version(s.clone(), a).await, last);
    assert_eq!(version(s.clone(), b).await, b_before, "the other site did not move");
    // The configuration read back matches.
    let cfg = s.site_config(a).await.unwrap();
    assert_eq!((cfg.version, cfg.site_code.as_str(), cfg.extensions.len()), (last, "1234", 1));
}
