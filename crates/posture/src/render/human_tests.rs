//! Rendering of hand-built reports: order, nesting, evidence, wrapping and colour.

use posture_core::ObjectRef;
use posture_core::report::{CheckResult, CheckStatus, Fact};
use posture_core::{Evidence, Finding, Report, Section, Severity};

use super::*;

fn deployment(name: &str) -> ObjectRef {
    ObjectRef::new("apps/v1", "Deployment", Some("apps"), name)
}

fn check(id: &str, section: Section, status: CheckStatus, detail: Option<&str>) -> CheckResult {
    CheckResult {
        id: id.into(),
        section,
        title: format!("title of {id}"),
        status,
        detail: detail.map(str::to_owned),
    }
}

fn finding(id: &str, section: Section, severity: Severity, object: &ObjectRef) -> Finding {
    Finding {
        id: id.into(),
        section,
        severity,
        object: object.clone(),
        message: format!("{object} is not where the runbook wants it"),
        evidence: vec![Evidence::field(object, "spec.replicas", 1)],
        remediation: Some("scale it to two replicas".into()),
    }
}

fn sample() -> Report {
    let web = deployment("web");
    let mut report = Report::new("scenarios/lab.yaml");
    report.facts.push(Fact {
        section: Section::ControlPlane,
        name: "datastore".into(),
        value: "sqlite, single writer".into(),
    });
    report.checks = vec![
        check(
            "longhorn.settings",
            Section::Longhorn,
            CheckStatus::Unknown,
            Some("settings.longhorn.io is forbidden"),
        ),
        check(
            "ingress.replicas",
            Section::Ingress,
            CheckStatus::Fail,
            None,
        ),
        check(
            "control-plane.readyz",
            Section::ControlPlane,
            CheckStatus::Pass,
            Some("all 12 readyz checks pass"),
        ),
        check(
            "risks.restarts",
            Section::Risks,
            CheckStatus::Skipped,
            Some("no pods"),
        ),
    ];
    report.findings = vec![
        finding(
            "ingress.replicas.count",
            Section::Ingress,
            Severity::Warning,
            &web,
        ),
        finding(
            "ingress.replicas",
            Section::Ingress,
            Severity::Error,
            &deployment("haproxy"),
        ),
        finding(
            "ownership.unowned",
            Section::Ownership,
            Severity::Info,
            &web,
        ),
    ];
    report.finish()
}

fn plain(text: &str) -> String {
    anstream::adapter::strip_str(text).to_string()
}

#[test]
fn sections_follow_the_runbook_with_findings_under_their_check() {
    insta::assert_snapshot!(plain(&render(&sample())));
}

#[test]
fn sections_appear_in_runbook_order() {
    let text = plain(&render(&sample()));
    let positions: Vec<usize> = [
        "2.1 k3s",
        "2.2 Ingress",
        "2.4 Longhorn",
        "Ownership",
        "Appendix",
    ]
    .iter()
    .map(|t| {
        text.find(t)
            .unwrap_or_else(|| panic!("{t} missing in\n{text}"))
    })
    .collect();
    assert!(positions.windows(2).all(|w| w[0] < w[1]), "{text}");
    assert!(!text.contains("2.3 CoreDNS"), "empty sections are left out");
}

#[test]
fn empty_reports_still_summarise() {
    let text = plain(&render(&Report::new("x.yaml").finish()));
    assert_eq!(
        text,
        "posture check of x.yaml\n\nsummary: 0 errors, 0 warnings, 0 info; checks: 0 passed, 0 failed, 0 unknown, 0 skipped\n"
    );
}

#[test]
fn styles_are_present_before_the_writer_strips_them() {
    let raw = render(&sample());
    assert!(raw.contains("\u{1b}["), "styled output carries ANSI codes");
    assert!(!plain(&raw).contains('\u{1b}'));
}

#[test]
fn long_messages_wrap_within_the_width_but_commands_stay_whole() {
    let web = deployment("web");
    let mut report = Report::new("x.yaml");
    let mut long = finding("risks.long", Section::Risks, Severity::Error, &web);
    long.message = "word ".repeat(60);
    long.evidence = vec![Evidence::with_command(
        &web,
        "status",
        "x",
        format!("kubectl {}", "a".repeat(120)),
    )];
    report.findings.push(long);
    let text = plain(&render(&report.finish()));
    for line in text.lines().filter(|l| !l.trim_start().starts_with("$ ")) {
        assert!(line.chars().count() <= WIDTH, "too long: {line:?}");
    }
    assert!(text.contains(&format!("$ kubectl {}", "a".repeat(120))));
}

#[test]
fn wrapping_keeps_overlong_words_whole() {
    let word = "x".repeat(150);
    assert_eq!(
        wrap(&format!("a {word} b"), 0, 0),
        vec!["a".to_owned(), word, "b".to_owned()]
    );
    assert_eq!(wrap("", 2, 2), vec![String::new()]);
}
