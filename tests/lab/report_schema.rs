//! Every JSON report validates against reports/schema-v2.json: a run on the lab, and runs
//! where checks are skipped for want of an account.

use crate::support as lab;

fn schema() -> jsonschema::Validator {
    let text = std::fs::read_to_string(lab::repo().join("reports/schema-v2.json")).unwrap();
    let schema: serde_json::Value = serde_json::from_str(&text).unwrap();
    jsonschema::validator_for(&schema).expect("schema compiles")
}

fn assert_valid(v: &serde_json::Value) {
    let validator = schema();
    let errors: Vec<String> = validator
        .iter_errors(v)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect();
    assert!(
        errors.is_empty(),
        "report does not match schema-v2:\n{}\n{v:#}",
        errors.join("\n")
    );
    // Counts agree with the list.
    let checks = v["checks"].as_array().unwrap();
    for s in ["pass", "fail", "warn", "skip", "error"] {
        let n = checks.iter().filter(|c| c["status"] == s).count();
        assert_eq!(v["summary"][s], n, "summary.{s}");
    }
}

#[test]
fn lab_run_matches_schema() {
    let g = lab::Lab::lock();
    assert_valid(&g.run(&[]).json);
}

#[test]
fn schema_rejects_a_report_missing_a_field() {
    let bad = serde_json::json!({"schema_version": 2, "checks": []});
    assert!(!schema().is_valid(&bad));
}

#[test]
fn run_without_account_matches_schema() {
    // 127.0.0.2 reaches the lab's Postfix too (it listens on all addresses); no account: the
    // checks that need one are skipped, and the report still validates.
    let out = std::process::Command::new(lab::mailcheck_bin())
        .args([
            "run",
            "--host",
            "127.0.0.2",
            "--format",
            "json",
            "--timeout",
            "20",
        ])
        .env_remove("MAILCHECK_PASSWORD")
        .output()
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_valid(&v);
}
