//! Conformance: `carillon sip-check` gives the manifest's verdict for every RFC 4475 / RFC 5118
//! torture message in `../shared/sip-torture/` (read in place, never copied into the project).

use std::path::PathBuf;
use std::process::Command;

fn torture_dir() -> Option<PathBuf> {
    if let Ok(d) = std::env::var("CARILLON_TORTURE_DIR") {
        return Some(PathBuf::from(d));
    }
    let d = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/sip-torture");
    d.join("manifest.tsv").exists().then_some(d)
}

#[test]
fn sip_check_gives_the_manifest_verdict_for_every_torture_message() {
    let Some(dir) = torture_dir() else {
        // CI always has the folder beside the clone: there, its absence is a failure.
        assert!(std::env::var_os("CI").is_none(), "CI run without ../shared/sip-torture");
        eprintln!("skipped: ../shared/sip-torture not found (set CARILLON_TORTURE_DIR)");
        return;
    };
    let manifest = std::fs::read_to_string(dir.join("manifest.tsv")).expect("manifest.tsv");
    let mut expected = Vec::new();
    for line in manifest.lines().skip(1) {
        let cols: Vec<&str> = line.split('\t').collect();
        assert!(cols.len() >= 5, "short manifest line: {line}");
        expected.push((cols[0].to_string(), cols[4].to_string()));
    }
    assert_eq!(expected.len(), 61, "the manifest lists 61 messages");

    let out = Command::new(env!("CARGO_BIN_EXE_carillon"))
        .arg("sip-check")
        .args(expected.iter().map(|(f, _)| dir.join(f)))
        .output()
        .expect("run carillon");
    assert!(out.status.success(), "exit status {:?}", out.status);
    let stdout = String::from_utf8(out.stdout).expect("utf-8 output");
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), expected.len(), "one line per file");
    let mut wrong = Vec::new();
    for ((file, want), line) in expected.iter().zip(&lines) {
        let cols: Vec<&str> = line.split('\t').collect();
        assert_eq!(cols.len(), 3, "three columns: {line}");
        assert!(cols[0].ends_with(file.as_str()), "{line} is not about {file}");
        assert!(!cols[2].is_empty(), "a verdict says why: {line}");
        if cols[1] != want {
            wrong.push(format!("{file}: expected {want}, got {line}"));
        }
        if want == "invalid" && !file.contains("scalarlg") && !file.contains("bigcode") {
            assert!(cols[2].contains("answer 4") || cols[2].contains("answer 5"), "status missing: {line}");
        }
    }
    assert!(wrong.is_empty(), "{} wrong verdicts:\n{}", wrong.len(), wrong.join("\n"));
}

#[test]
fn specific_statuses_from_the_rfc() {
    let Some(dir) = torture_dir() else { return };
    let check = |f: &str| {
        let out = Command::new(env!("CARGO_BIN_EXE_carillon")).arg("sip-check").arg(dir.join(f)).output().expect("run");
        String::from_utf8(out.stdout).expect("utf-8")
    };
    assert!(check("rfc4475-3.1.2.16-badvers.sip").contains("answer 505"));
    assert!(check("rfc4475-3.1.2.19-bigcode.sip").contains("response dropped"));
    assert!(check("rfc4475-3.3.11-zeromf.sip").contains("483"));
    assert!(check("rfc4475-3.3.5-bext01.sip").contains("420"));
    assert!(check("rfc4475-3.3.2-unkscm.sip").contains("416"));
    assert!(check("rfc4475-3.1.1.8-dblreq.sip").contains("450 trailing bytes"));
}

#[test]
fn unreadable_file_is_a_nonzero_exit_and_others_still_checked() {
    let dir = std::env::temp_dir().join(format!("carillon-sipcheck-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("tmp");
    let good = dir.join("ok.sip");
    std::fs::write(&good, b"OPTIONS sip:a@b SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\nFrom: <sip:x@y>;tag=1\r\nTo: <sip:a@b>\r\nCall-ID: c\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n").expect("write");
    let out = Command::new(env!("CARGO_BIN_EXE_carillon"))
        .args(["sip-check", dir.join("missing.sip").to_str().expect("path"), good.to_str().expect("path")])
        .output()
        .expect("run");
    assert!(!out.status.success());
    let stdout = String::from_utf8(out.stdout).expect("utf-8");
    assert!(stdout.contains("ok.sip\tvalid\tOPTIONS request"), "{stdout}");
    std::fs::remove_dir_all(&dir).ok();
}
