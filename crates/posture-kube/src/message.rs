//! Errors as a person reads them: one line, causes joined by ": ", and an answer of the API
//! server as `<code> <reason>: <message>` — never kube-rs's `Debug` dump of a `Status`.

use std::error::Error;

/// `403 Forbidden: leases.coordination.k8s.io is forbidden: ...`; the reason falls back to the
/// code's own name, and a missing part is left out.
pub fn status_line(status: &kube::core::Status) -> String {
    let reason = if status.reason.is_empty() {
        http::StatusCode::from_u16(status.code)
            .ok()
            .and_then(|code| code.canonical_reason())
            .unwrap_or_default()
            .to_owned()
    } else {
        status.reason.clone()
    };
    let head = match (status.code, reason.is_empty()) {
        (0, _) => reason,
        (code, true) => code.to_string(),
        (code, false) => format!("{code} {reason}"),
    };
    let message = status.message.trim();
    match (head.is_empty(), message.is_empty()) {
        (true, _) => message.to_owned(),
        (false, true) => head,
        (false, false) => format!("{head}: {message}"),
    }
}

/// The error and its causes on one line, outermost first; a cause whose text is already in the
/// line is not repeated, and kube-rs's wrappers are replaced by what they wrap.
pub fn one_line(error: &(dyn Error + 'static)) -> String {
    let mut line = String::new();
    let mut current = Some(error);
    // A cyclic `source` must not hang the error path.
    for _ in 0..32 {
        let Some(error) = current else { break };
        current = error.source();
        let raw = error.to_string();
        let text = match kube_text(error) {
            Some(Rendered::Status(text)) => {
                current = None;
                text
            }
            Some(Rendered::Wrapper) => {
                let inner = current.map(ToString::to_string).unwrap_or_default();
                if line.contains(&raw) {
                    line = line.replace(&raw, &inner);
                }
                continue;
            }
            None => raw.clone(),
        };
        if line.contains(&raw) && raw != text {
            line = line.replace(&raw, &text);
        } else if !line.contains(&text) {
            if !line.is_empty() {
                line.push_str(": ");
            }
            line.push_str(&text);
        }
    }
    // Whatever Display a dependency chose, a line break would split the two-line output.
    line.replace(['\n', '\r'], " ")
}

enum Rendered {
    /// An API answer, written out in full: its sources add nothing.
    Status(String),
    /// A kube-rs wrapper whose own text only prefixes its source's.
    Wrapper,
}

fn kube_text(error: &(dyn Error + 'static)) -> Option<Rendered> {
    if let Some(status) = error.downcast_ref::<kube::core::Status>() {
        return Some(Rendered::Status(status_line(status)));
    }
    match error.downcast_ref::<kube::Error>()? {
        kube::Error::Api(status) => Some(Rendered::Status(status_line(status))),
        kube::Error::Service(_) | kube::Error::HyperError(_) => Some(Rendered::Wrapper),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    enum Outer {
        #[error("cannot take the lock")]
        Lock(#[source] kube::Error),
        #[error("watch failed: {0}")]
        Inline(#[source] kube::Error),
    }

    fn conflict() -> kube::Error {
        let status = kube::core::Status::failure(
            "Operation cannot be fulfilled on leases \"posture-lock\": the object has been modified",
            "Conflict",
        )
        .with_code(409);
        kube::Error::Api(status.boxed())
    }

    #[test]
    fn an_api_status_reads_code_reason_message() {
        let line = one_line(&Outer::Lock(conflict()));
        assert_eq!(
            line,
            "cannot take the lock: 409 Conflict: Operation cannot be fulfilled on leases \"posture-lock\": the object has been modified"
        );
        assert!(!line.contains("Status {"), "{line}");
    }

    #[test]
    fn a_status_printed_inline_by_a_wrapper_is_rewritten_too() {
        let line = one_line(&Outer::Inline(conflict()));
        assert!(line.starts_with("watch failed: 409 Conflict: "), "{line}");
        assert!(!line.contains("Status {"), "{line}");
        assert!(!line.contains("ApiError"), "{line}");
    }

    #[test]
    fn service_wrappers_give_way_to_what_they_wrap() {
        let error = Outer::Lock(kube::Error::Service(Box::new(crate::deadline::TimedOut {
            timeout: std::time::Duration::from_secs(2),
        })));
        assert_eq!(
            one_line(&error),
            "cannot take the lock: no answer within the request timeout of 2s"
        );
    }

    #[test]
    fn missing_reasons_fall_back_to_the_codes_name() {
        let status = kube::core::Status::failure("slow down", "").with_code(429);
        assert_eq!(status_line(&status), "429 Too Many Requests: slow down");
    }
}
