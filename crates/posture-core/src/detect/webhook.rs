//! What `posture watch --notify URL` posts for an alert: by default a body in the format of
//! Alertmanager's webhook receiver (version 4), which Alertmanager-compatible receivers read, with
//! a `text` line added for Slack-style hooks; or the person's own template.

use serde_json::{Value, json};

use super::Alert;

/// The placeholders a `--notify-template` may use. Each is replaced by its value escaped as the
/// inside of a JSON string (quotes, backslashes and newlines escaped), so a JSON template stays
/// JSON: `{"text":"{text}"}`.
pub const PLACEHOLDERS: [&str; 8] = [
    "{status}",
    "{id}",
    "{detector}",
    "{subject}",
    "{severity}",
    "{message}",
    "{at}",
    "{text}",
];

/// `firing` or `resolved`, as Alertmanager says it.
pub fn status(alert: &Alert) -> &'static str {
    if alert.is_raised() {
        "firing"
    } else {
        "resolved"
    }
}

/// The alert in one line: `FIRING crash-loop apps/web-1/web [warning]: MESSAGE`.
pub fn text(alert: &Alert) -> String {
    match alert {
        Alert::Raised {
            detector,
            subject,
            severity,
            message,
            ..
        } => format!(
            "FIRING {detector} {subject} [{}]: {message}",
            severity.as_str()
        ),
        Alert::Cleared {
            detector,
            subject,
            message,
            ..
        } => format!("RESOLVED {detector} {subject}: {message}"),
    }
}

/// The body to post for `alert`: the template filled in, or the Alertmanager-style document.
pub fn body(alert: &Alert, template: Option<&str>) -> String {
    match template {
        Some(template) => fill(template, alert),
        None => alertmanager(alert).to_string(),
    }
}

fn fill(template: &str, alert: &Alert) -> String {
    let severity = match alert {
        Alert::Raised { severity, .. } => severity.as_str(),
        Alert::Cleared { .. } => "resolved",
    };
    let message = match alert {
        Alert::Raised { message, .. } | Alert::Cleared { message, .. } => message.as_str(),
    };
    let values = [
        status(alert).to_owned(),
        alert.id().to_owned(),
        alert.detector().to_string(),
        alert.subject().to_owned(),
        severity.to_owned(),
        message.to_owned(),
        alert.at().to_string(),
        text(alert),
    ];
    let mut out = template.to_owned();
    for (placeholder, value) in PLACEHOLDERS.iter().zip(values) {
        out = out.replace(placeholder, &json_inner(&value));
    }
    out
}

/// `value` as the inside of a JSON string.
fn json_inner(value: &str) -> String {
    let quoted = Value::String(value.to_owned()).to_string();
    quoted[1..quoted.len() - 1].to_owned()
}

/// Alertmanager's webhook document (version 4) for one alert, plus `text`.
pub fn alertmanager(alert: &Alert) -> Value {
    let (severity, evidence, message) = match alert {
        Alert::Raised {
            severity,
            evidence,
            message,
            ..
        } => (severity.as_str(), evidence.join("\n"), message.as_str()),
        Alert::Cleared { message, .. } => ("resolved", String::new(), message.as_str()),
    };
    let labels = json!({
        "alertname": alert.detector().to_string(),
        "subject": alert.subject(),
        "severity": severity,
        "source": "posture",
    });
    let at = alert.at().to_string();
    let (starts, ends) = if alert.is_raised() {
        (at.clone(), "0001-01-01T00:00:00Z".to_owned())
    } else {
        ("0001-01-01T00:00:00Z".to_owned(), at.clone())
    };
    json!({
        "version": "4",
        "groupKey": alert.id(),
        "truncatedAlerts": 0,
        "status": status(alert),
        "receiver": "posture",
        "groupLabels": {"alertname": alert.detector().to_string()},
        "commonLabels": labels,
        "commonAnnotations": {"summary": message},
        "externalURL": "",
        "alerts": [{
            "status": status(alert),
            "labels": labels,
            "annotations": {"summary": message, "description": evidence},
            "startsAt": starts,
            "endsAt": ends,
            "generatorURL": "",
            "fingerprint": alert.id(),
        }],
        "text": text(alert),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::detect::DetectorKind;
    use crate::report::Severity;

    fn raised() -> Alert {
        Alert::Raised {
            id: "crash-loop/apps/web-1/web".into(),
            detector: DetectorKind::CrashLoop,
            subject: "apps/web-1/web".into(),
            severity: Severity::Warning,
            at: "2026-11-23T12:00:00Z".parse().expect("time"),
            message: "web is in \"CrashLoopBackOff\"".into(),
            evidence: vec!["12:00 back-off".into()],
        }
    }

    #[test]
    fn the_default_body_is_alertmanagers_with_a_text_line() {
        let body: Value = serde_json::from_str(&body(&raised(), None)).expect("JSON");
        assert_eq!(body["version"], "4");
        assert_eq!(body["status"], "firing");
        assert_eq!(body["alerts"][0]["labels"]["alertname"], "crash-loop");
        assert_eq!(body["alerts"][0]["startsAt"], "2026-11-23T12:00:00Z");
        assert!(
            body["text"]
                .as_str()
                .is_some_and(|t| t.starts_with("FIRING crash-loop"))
        );
    }

    #[test]
    fn a_json_template_stays_json_whatever_the_message_holds() {
        let filled = body(&raised(), Some(r#"{"text":"{text}","sev":"{severity}"}"#));
        let value: Value = serde_json::from_str(&filled).expect("still JSON");
        assert_eq!(value["sev"], "warning");
        assert!(
            value["text"]
                .as_str()
                .is_some_and(|t| t.contains("\"CrashLoopBackOff\""))
        );
    }
}
