//! `latch bench --quick --out DIR` keeps working: it runs every section briefly and writes the
//! report. Nothing here looks at the figures (timing never decides a test).

mod common;

use std::process::Command;

#[test]
fn quick_bench_writes_its_report() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("report");
    let o = Command::new(common::bin())
        .args(["bench", "--quick", "--out"])
        .arg(&out)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let md = std::fs::read_to_string(out.join("report.md")).unwrap();
    for section in [
        "## One validation, in process",
        "JWT HS256 verify",
        "JWT EdDSA verify",
        "## Durable session creation, embedded store",
        "## Redis",
        "Revocation lag",
        "### One node over HTTP",
    ] {
        assert!(md.contains(section), "missing {section:?} in\n{md}");
    }
    let json: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("report.json")).unwrap()).unwrap();
    assert_eq!(json["quick"], true);
    assert_eq!(json["validation"].as_array().unwrap().len(), 4);
    assert!(json["redis"]["lag_trials"].as_u64().unwrap() > 0);
}
