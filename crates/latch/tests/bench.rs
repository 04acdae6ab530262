//! `latch bench --quick --out DIR` keeps working: it runs every section briefly and writes the
//! report and its charts. Nothing here looks at the figures (timing never decides a test).

mod common;

use std::process::Command;

#[test]
fn quick_bench_writes_its_report_and_charts() {
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
        "## Targets",
        "## One validation per approach",
        "JWT HS256 verify",
        "JWT EdDSA verify",
        "JWT RS256 verify",
        "PostgreSQL session row by primary key",
        "Redis session, the usual way",
        "Latch validate, warm near-cache",
        "## How long a revoked session or a removed role still works",
        "Latch, another node",
        "## Redis",
        "## One node over HTTP",
        "GET /v1/forward-auth",
        "## Service tokens",
        "## Durable session creation, embedded store",
    ] {
        assert!(md.contains(section), "missing {section:?} in\n{md}");
    }
    assert!(!md.contains("## Skipped"), "a section was skipped:\n{md}");
    let json: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("report.json")).unwrap()).unwrap();
    assert_eq!(json["quick"], true);
    assert!(json["validation"].as_array().unwrap().len() >= 8);
    assert!(json["redis"]["lag_trials"].as_u64().unwrap() > 0);
    assert!(!json["targets"].as_array().unwrap().is_empty());
    for chart in ["latency.svg", "freshness.svg"] {
        let svg = std::fs::read_to_string(out.join(chart)).unwrap();
        assert!(
            svg.starts_with("<svg") && svg.contains("log scale"),
            "{chart}"
        );
        assert!(svg.contains("PostgreSQL"), "{chart} has every approach");
    }
}
