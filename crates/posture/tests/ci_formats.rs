//! `check -o junit` read by a real JUnit consumer (Python's junitparser) and `check -o sarif`
//! validated against the SARIF 2.1.0 JSON schema (Python's jsonschema). The tools come from PyPI
//! and npm (`.ci/run` installs them; `scripts/fetch-sarif-schema.sh` fetches the schema): where
//! they are missing the test says so and passes, unless POSTURE_REQUIRE_CI_TOOLS is set, as in CI.

mod common;

use std::path::{Path, PathBuf};

use common::{posture, run, workspace};
use serde_json::Value;

/// Runs a Python snippet with `args`; `None` when a module it imports is missing.
fn python(script: &str, args: &[&Path]) -> Option<std::process::Output> {
    let output = std::process::Command::new("python3")
        .arg("-c")
        .arg(script)
        .args(args)
        .output()
        .expect("python3 runs");
    let stderr = String::from_utf8_lossy(&output.stderr);
    if stderr.contains("ModuleNotFoundError") {
        assert!(
            std::env::var_os("POSTURE_REQUIRE_CI_TOOLS").is_none(),
            "a Python module is missing: {stderr}"
        );
        eprintln!("skipped: {stderr}");
        return None;
    }
    Some(output)
}

async fn report_of(format: &str, fail_on: &str) -> String {
    let snapshot = workspace().join("scenarios/homelab.yaml");
    let out = run(posture(&[
        "check",
        "--snapshot",
        &snapshot.display().to_string(),
        "--fail-on",
        fail_on,
        "-o",
        format,
    ]))
    .await;
    assert!(out.code == 0 || out.code == 1, "{}", out.stderr);
    out.stdout
}

const READ_JUNIT: &str = r#"
import json, sys
from junitparser import JUnitXml, Failure, Skipped, Error
xml = JUnitXml.fromfile(sys.argv[1])
cases = []
for suite in xml:
    for case in suite:
        kinds = [type(r).__name__ for r in case.result]
        messages = [r.message for r in case.result]
        cases.append({"suite": suite.name, "name": case.name, "results": kinds, "messages": messages,
                      "out": case.system_out or ""})
print(json.dumps({"tests": xml.tests, "failures": xml.failures, "skipped": xml.skipped,
                  "errors": xml.errors, "cases": cases}))
"#;

#[tokio::test]
async fn junit_is_read_by_junitparser_with_a_case_per_check_and_failures_per_fail_on() {
    let dir = tempfile::tempdir().expect("temp dir");
    let json: Value = serde_json::from_str(&report_of("json", "warning").await).expect("json");
    let checks = json["checks"].as_array().expect("checks").len();
    let failing: Vec<&str> = json["checks"]
        .as_array()
        .expect("checks")
        .iter()
        .filter(|c| c["status"] == "fail")
        .map(|c| c["id"].as_str().expect("id"))
        .collect();
    assert!(!failing.is_empty());

    let file = dir.path().join("report.xml");
    std::fs::write(&file, report_of("junit", "warning").await).expect("written");
    let Some(output) = python(READ_JUNIT, &[&file]) else {
        return;
    };
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let read: Value = serde_json::from_slice(&output.stdout).expect("the parser's JSON");
    assert_eq!(read["tests"], checks, "{read:#}");
    assert_eq!(read["failures"], failing.len(), "{read:#}");
    let cases = read["cases"].as_array().expect("cases");
    for id in &failing {
        let case = cases
            .iter()
            .find(|c| c["name"] == *id)
            .unwrap_or_else(|| panic!("no case {id}"));
        assert_eq!(case["results"], serde_json::json!(["Failure"]), "{case}");
        assert!(
            case["messages"][0]
                .as_str()
                .is_some_and(|m| m.contains("finding(s)")),
            "{case}"
        );
    }

    // With --fail-on error, warnings are reported as output, not failures.
    std::fs::write(&file, report_of("junit", "error").await).expect("written");
    let output = python(READ_JUNIT, &[&file]).expect("the module was there a moment ago");
    let read: Value = serde_json::from_slice(&output.stdout).expect("the parser's JSON");
    let errors_only = json["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .filter(|f| f["severity"] == "error")
        .map(|f| f["id"].as_str().expect("id"))
        .collect::<std::collections::BTreeSet<_>>()
        .len();
    assert_eq!(read["failures"], errors_only, "{read:#}");
}

const VALIDATE_SARIF: &str = r#"
import json, sys
import jsonschema
schema = json.load(open(sys.argv[1]))
log = json.load(open(sys.argv[2]))
jsonschema.validate(log, schema)
print("valid")
"#;

fn sarif_schema() -> Option<PathBuf> {
    let path = std::env::var_os("POSTURE_SARIF_SCHEMA")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace().join("target/sarif-schema/sarif-2.1.0.json"));
    if path.is_file() {
        return Some(path);
    }
    assert!(
        std::env::var_os("POSTURE_REQUIRE_CI_TOOLS").is_none(),
        "no SARIF schema at {}: run scripts/fetch-sarif-schema.sh",
        path.display()
    );
    eprintln!("skipped: no SARIF schema (scripts/fetch-sarif-schema.sh fetches it)");
    None
}

#[tokio::test]
async fn sarif_validates_against_the_sarif_2_1_0_schema_with_a_result_per_finding() {
    let json: Value = serde_json::from_str(&report_of("json", "error").await).expect("json");
    let text = report_of("sarif", "error").await;
    let sarif: Value = serde_json::from_str(&text).expect("SARIF is JSON");
    let run = &sarif["runs"][0];
    assert_eq!(
        run["results"].as_array().expect("results").len(),
        json["findings"].as_array().expect("findings").len()
    );
    let rules = run["tool"]["driver"]["rules"].as_array().expect("rules");
    assert_eq!(
        rules.len(),
        json["checks"].as_array().expect("checks").len()
    );
    // Rule descriptions come from docs/checks.md.
    let drain = rules
        .iter()
        .find(|r| r["id"] == "preconditions.drain-budgets")
        .expect("a rule per check");
    assert!(
        drain["fullDescription"]["text"]
            .as_str()
            .is_some_and(|t| t.contains("forbids every eviction")),
        "{drain:#}"
    );
    // Levels follow --fail-on: errors are errors, warnings stay warnings.
    for result in run["results"].as_array().expect("results") {
        let severity = result["properties"]["severity"].as_str().expect("severity");
        let expected = match severity {
            "error" => "error",
            "warning" => "warning",
            _ => "note",
        };
        assert_eq!(result["level"], expected, "{result:#}");
        let index = result["ruleIndex"].as_u64().expect("a rule index") as usize;
        assert_eq!(rules[index]["id"], result["ruleId"]);
    }

    let Some(schema) = sarif_schema() else {
        return;
    };
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("report.sarif");
    std::fs::write(&file, &text).expect("written");
    let Some(output) = python(VALIDATE_SARIF, &[&schema, &file]) else {
        return;
    };
    assert!(
        output.status.success(),
        "the SARIF log does not validate: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

#[tokio::test]
async fn suppressed_findings_are_sarif_results_with_their_justification_and_still_validate() {
    let dir = tempfile::tempdir().expect("temp dir");
    let policy = dir.path().join("posture.yaml");
    std::fs::write(
        &policy,
        "suppress:\n- {check: 'preconditions.workloads.*', kind: StatefulSet, reason: qdrant moves with its volume}\n",
    )
    .expect("policy written");
    let snapshot = workspace().join("scenarios/homelab.yaml");
    let out = run(posture(&[
        "check",
        "--snapshot",
        &snapshot.display().to_string(),
        "--config",
        &policy.display().to_string(),
        "-o",
        "sarif",
    ]))
    .await;
    assert!(out.code == 0 || out.code == 1, "{}", out.stderr);
    let sarif: Value = serde_json::from_str(&out.stdout).expect("SARIF is JSON");
    let suppressed: Vec<&Value> = sarif["runs"][0]["results"]
        .as_array()
        .expect("results")
        .iter()
        .filter(|r| r.get("suppressions").is_some())
        .collect();
    assert_eq!(suppressed.len(), 1, "{sarif:#}");
    assert_eq!(
        suppressed[0]["suppressions"][0],
        serde_json::json!({"kind": "external", "justification": "qdrant moves with its volume"})
    );
    let Some(schema) = sarif_schema() else {
        return;
    };
    let file = dir.path().join("report.sarif");
    std::fs::write(&file, &out.stdout).expect("written");
    let Some(output) = python(VALIDATE_SARIF, &[&schema, &file]) else {
        return;
    };
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
}
