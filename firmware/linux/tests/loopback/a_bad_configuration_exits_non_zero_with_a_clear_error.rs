//! A bad configuration is refused at start with a message naming the problem and exit status 2.

use std::process::Command;

use super::common::{box_bin, tempdir};

fn run_with(text: &str) -> (Option<i32>, String) {
    let dir = tempdir("badcfg");
    let path = dir.join("box.toml");
    std::fs::write(&path, text).unwrap();
    let out = Command::new(box_bin()).arg("--config").arg(&path).output().unwrap();
    (out.status.code(), String::from_utf8_lossy(&out.stderr).into_owned())
}

#[test]
fn bad_configurations_are_refused_clearly() {
    let good = super::common::box_toml(
        &tempdir("badcfg-state"),
        "127.0.0.1:1".parse().unwrap(),
        "127.0.0.1:2".parse().unwrap(),
        "127.0.0.1:3".parse().unwrap(),
        None,
    );
    let cases = [
        (good.replace("insecure_plain_tcp = true", ""), "exactly one of ca_file, pinned_cert"),
        (good.replace("[lan]", "[lan]\nport = 5060"), "unknown field `port`"),
        (good.replace("host = \"box7.school.example\"", "host = \"not a host\""), "identity.host"),
        (good.replace("enrollment_token = \"tok-123\"", ""), "no identity"),
        (
            good.replace("insecure_plain_tcp = true", "pinned_cert = \"/nonexistent/cloud.pem\""),
            "/nonexistent/cloud.pem",
        ),
        ("this is not toml".to_owned(), "bad configuration"),
    ];
    for (text, want) in cases {
        let (code, err) = run_with(&text);
        assert_eq!(code, Some(2), "exit status for {want:?}: stderr {err}");
        assert!(err.contains(want), "{want:?} not in {err:?}");
    }
    let out = Command::new(box_bin()).arg("--config").arg("/nonexistent/box.toml").output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot read /nonexistent/box.toml"));
}
