//! The name formats of `k8s.io/apimachinery/pkg/util/validation`: DNS labels and subdomains,
//! qualified names (label and annotation keys), label values and IANA service names (named ports).

fn is_alnum(c: char) -> bool {
    c.is_ascii_alphanumeric()
}

/// `[a-z0-9]([-a-z0-9]*[a-z0-9])?`, at most 63 characters.
pub(crate) fn is_dns_label(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 63
        && s.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && !s.starts_with('-')
        && !s.ends_with('-')
}

/// DNS labels, each of `[-a-z0-9]` starting and ending alphanumeric, joined by dots; at most
/// 253 characters.
pub(crate) fn is_dns_subdomain(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 253
        && s.split('.').all(|part| {
            !part.is_empty()
                && part
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
                && !part.starts_with('-')
                && !part.ends_with('-')
        })
}

/// `([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]`, at most 63 characters (empty when `allow_empty`).
fn is_name_part(s: &str, allow_empty: bool) -> bool {
    if s.is_empty() {
        return allow_empty;
    }
    s.len() <= 63
        && s.chars()
            .all(|c| is_alnum(c) || c == '-' || c == '_' || c == '.')
        && s.starts_with(is_alnum)
        && s.ends_with(is_alnum)
}

/// A label or annotation key: an optional DNS subdomain prefix and `/`, then a name part.
pub(crate) fn is_qualified_name(s: &str) -> bool {
    match s.split_once('/') {
        Some((prefix, name)) => is_dns_subdomain(prefix) && is_name_part(name, false),
        None => is_name_part(s, false),
    }
}

/// A label value: empty, or a name part.
pub(crate) fn is_label_value(s: &str) -> bool {
    is_name_part(s, true)
}

/// An IANA service name, as named ports must be: 1 to 15 of `[-a-z0-9]` with at least one
/// letter, no hyphen at either end and no two hyphens in a row.
pub(crate) fn is_iana_svc_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 15
        && s.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && s.chars().any(|c| c.is_ascii_lowercase())
        && !s.starts_with('-')
        && !s.ends_with('-')
        && !s.contains("--")
}

/// A ConfigMap or Secret key: `[-._a-zA-Z0-9]+`, at most 253 characters, not `.` or `..`.
pub(crate) fn is_config_map_key(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 253
        && s.chars()
            .all(|c| is_alnum(c) || c == '-' || c == '_' || c == '.')
        && s != "."
        && s != ".."
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_values() {
        assert!(is_label_value(""));
        assert!(is_label_value("back-end_1.x"));
        assert!(!is_label_value("back end!"));
        assert!(!is_label_value("-x"));
        assert!(!is_label_value(&"a".repeat(64)));
    }

    #[test]
    fn qualified_names() {
        assert!(is_qualified_name("app"));
        assert!(is_qualified_name("kubernetes.io/hostname"));
        assert!(!is_qualified_name("Kubernetes.io/hostname"));
        assert!(!is_qualified_name("/x"));
        assert!(!is_qualified_name("a/b/c"));
    }

    #[test]
    fn iana_service_names() {
        assert!(is_iana_svc_name("http"));
        assert!(is_iana_svc_name("dns-tcp"));
        assert!(!is_iana_svc_name("no_such-port-name-too-long"));
        assert!(!is_iana_svc_name("8080"));
        assert!(!is_iana_svc_name("a--b"));
        assert!(!is_iana_svc_name("Http"));
    }

    #[test]
    fn dns_names() {
        assert!(is_dns_label("qdrant-0"));
        assert!(!is_dns_label("Qdrant"));
        assert!(is_dns_subdomain("volumes.longhorn.io"));
        assert!(!is_dns_subdomain("a..b"));
    }
}
