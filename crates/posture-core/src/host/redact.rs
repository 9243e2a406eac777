//! Secrets out of what posture prints: a datastore endpoint keeps its scheme, host and database
//! but not its user or password (`postgres://user:pass@host/db`, `mysql://user:pass@tcp(host)/db`).

/// What a secret setting reads as once redacted.
pub const SET: &str = "(set)";

const HIDDEN: &str = "****";

/// Query parameters that carry a password in database DSNs.
const SECRET_PARAMETERS: [&str; 4] = ["password", "passwd", "pwd", "sslpassword"];

/// `endpoint` without the credentials in it.
pub fn endpoint(endpoint: &str) -> String {
    // An etcd endpoint list (`https://a:2379,https://b:2379`) redacts each part.
    if endpoint.contains(',') && endpoint.contains("://") {
        return endpoint
            .split(',')
            .map(one_endpoint)
            .collect::<Vec<_>>()
            .join(",");
    }
    one_endpoint(endpoint)
}

fn one_endpoint(endpoint: &str) -> String {
    let (scheme, rest) = match endpoint.split_once("://") {
        Some((scheme, rest)) => (Some(scheme), rest),
        None => (None, endpoint),
    };
    // The user part ends at the last `@` before the path (a password may itself hold `@`);
    // mysql's `user:pass@tcp(host:3306)/db` holds its host in parentheses.
    let authority_end = authority_len(rest);
    let authority_end = rest[..authority_end].rfind('@');
    let rest = match authority_end {
        Some(at) => format!("{HIDDEN}{}", &rest[at..]),
        None => rest.to_owned(),
    };
    let rest = redact_parameters(&rest);
    match scheme {
        Some(scheme) => format!("{scheme}://{rest}"),
        None => rest,
    }
}

/// Where the authority ends: the first `/` or `?` outside parentheses.
fn authority_len(rest: &str) -> usize {
    let mut depth = 0usize;
    for (i, c) in rest.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => depth = depth.saturating_sub(1),
            '/' | '?' if depth == 0 => return i,
            _ => {}
        }
    }
    rest.len()
}

fn redact_parameters(text: &str) -> String {
    let Some((base, query)) = text.split_once('?') else {
        return text.to_owned();
    };
    let query: Vec<String> = query
        .split('&')
        .map(|pair| match pair.split_once('=') {
            Some((name, _)) if SECRET_PARAMETERS.contains(&name.to_ascii_lowercase().as_str()) => {
                format!("{name}={HIDDEN}")
            }
            _ => pair.to_owned(),
        })
        .collect();
    format!("{base}?{}", query.join("&"))
}

#[cfg(test)]
mod tests {
    use super::endpoint;

    #[test]
    fn credentials_leave_every_endpoint_form() {
        for (given, shown) in [
            (
                "postgres://k3s:s3cret@db.lan:5432/k3s",
                "postgres://****@db.lan:5432/k3s",
            ),
            (
                "postgres://k3s:p@ss@db.lan/k3s?sslmode=disable",
                "postgres://****@db.lan/k3s?sslmode=disable",
            ),
            (
                "mysql://k3s:s3cret@tcp(db.lan:3306)/k3s",
                "mysql://****@tcp(db.lan:3306)/k3s",
            ),
            (
                "postgres://db.lan/k3s?user=k3s&password=s3cret",
                "postgres://db.lan/k3s?user=k3s&password=****",
            ),
            (
                "https://10.0.0.1:2379,https://10.0.0.2:2379",
                "https://10.0.0.1:2379,https://10.0.0.2:2379",
            ),
            (
                "sqlite:///var/lib/rancher/k3s/server/db/state.db",
                "sqlite:///var/lib/rancher/k3s/server/db/state.db",
            ),
        ] {
            assert_eq!(endpoint(given), shown, "{given}");
            assert!(!endpoint(given).contains("s3cret"));
        }
    }
}
