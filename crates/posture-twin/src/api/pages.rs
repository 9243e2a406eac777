//! Paginated lists (`limit` and `continue`), as the real API server pages through etcd: items in
//! key order (namespace, then name), a continue token naming where the next page starts, and
//! `remainingItemCount` when the list is not filtered by selectors.

use serde_json::{Value, json};

use super::objects::Query;
use super::status::ApiError;
use crate::store::ObjectKey;

/// One page of a list.
pub(crate) struct Page<'a> {
    pub items: Vec<&'a Value>,
    /// Where the next page starts, when there is one.
    pub next: Option<String>,
    pub remaining: Option<usize>,
}

/// The message the real API server answers a compacted continue token with.
const EXPIRED: &str = "The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter, or use the continue token in this response to retrieve the remainder of the results. Continuing with the provided token results in an inconsistent list - objects that were created, modified, or deleted between the time the first chunk was returned and now may show up in the list.";

/// The page of `items` (in key order) that `limit` and `continue` ask for. A token whose list
/// began before the history `compacted` says is gone is 410 Expired, as etcd's compaction makes
/// it on a real server; the Status carries a token to continue inconsistently, as there.
pub(crate) fn page<'a>(
    items: Vec<(&ObjectKey, &'a Value)>,
    query: &Query,
    rv: u64,
    filtered: bool,
    compacted: impl Fn(u64) -> bool,
) -> Result<Page<'a>, ApiError> {
    let start = match query.get("continue").filter(|t| !t.is_empty()) {
        Some(token) => {
            let (token_rv, namespace, name) = decode_token(token).ok_or_else(|| {
                ApiError::bad_request("continue key is not valid: the continue token is malformed")
            })?;
            if compacted(token_rv) {
                let inconsistent = encode_token(rv, &namespace, &name);
                return Err(ApiError::new(410, "Expired", EXPIRED).with_list_continue(inconsistent));
            }
            Some((namespace, name))
        }
        None => None,
    };
    let after = |key: &ObjectKey| {
        start
            .as_ref()
            .is_none_or(|(ns, name)| (key.namespace.as_str(), key.name.as_str()) > (ns, name))
    };
    let rest: Vec<(&ObjectKey, &Value)> = items.into_iter().filter(|(k, _)| after(k)).collect();
    let limit = query
        .get("limit")
        .and_then(|l| l.parse::<usize>().ok())
        .filter(|l| *l > 0);
    let Some(limit) = limit.filter(|l| *l < rest.len()) else {
        return Ok(Page {
            items: rest.into_iter().map(|(_, v)| v).collect(),
            next: None,
            remaining: None,
        });
    };
    let remaining = rest.len() - limit;
    let last = rest[limit - 1].0;
    let next = encode_token(rv, &last.namespace, &last.name);
    Ok(Page {
        items: rest.into_iter().take(limit).map(|(_, v)| v).collect(),
        next: Some(next),
        remaining: (!filtered).then_some(remaining),
    })
}

/// A continue token for a list at `rv` that goes on after `namespace/name`.
fn encode_token(rv: u64, namespace: &str, name: &str) -> String {
    let token = json!({
        "v": "meta.k8s.io/v1",
        "rv": rv,
        "start": format!("{namespace}/{name}\u{0}"),
    });
    base64_encode(token.to_string().as_bytes())
}

/// The resource version of the list a continue token belongs to, and the (namespace, name)
/// after which it starts.
fn decode_token(token: &str) -> Option<(u64, String, String)> {
    let bytes = base64_decode(token)?;
    let value: Value = serde_json::from_slice(&bytes).ok()?;
    if value.get("v").and_then(Value::as_str) != Some("meta.k8s.io/v1") {
        return None;
    }
    let rv = value.get("rv")?.as_u64()?;
    let start = value.get("start")?.as_str()?.trim_end_matches('\u{0}');
    let (namespace, name) = start.split_once('/')?;
    Some((rv, namespace.to_owned(), name.to_owned()))
}

const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/// Unpadded URL-safe base64, as continue tokens are written.
fn base64_encode(bytes: &[u8]) -> String {
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, b)| n | (u32::from(*b) << (16 - 8 * i)));
        for i in 0..=chunk.len() {
            out.push(char::from(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize]));
        }
    }
    out
}

/// Decodes URL-safe or standard base64, padded or not.
fn base64_decode(text: &str) -> Option<Vec<u8>> {
    let mut bits = 0u32;
    let mut count = 0;
    let mut out = Vec::new();
    for c in text.trim_end_matches('=').bytes() {
        let c = match c {
            b'+' => b'-',
            b'/' => b'_',
            c => c,
        };
        let value = ALPHABET.iter().position(|a| *a == c)? as u32;
        bits = (bits << 6) | value;
        count += 6;
        if count >= 8 {
            count -= 8;
            out.push((bits >> count) as u8);
            bits &= (1 << count) - 1;
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_round_trips() {
        for text in ["", "a", "ab", "abc", "not-a-token", "{\"v\":1}"] {
            let encoded = base64_encode(text.as_bytes());
            assert_eq!(base64_decode(&encoded).as_deref(), Some(text.as_bytes()));
        }
        assert_eq!(base64_encode(b"not-a-token"), "bm90LWEtdG9rZW4");
    }

    #[test]
    fn tokens_that_do_not_decode_are_refused() {
        assert_eq!(decode_token("bm90LWEtdG9rZW4"), None);
        assert_eq!(decode_token("%%%"), None);
        let token = base64_encode(br#"{"v":"meta.k8s.io/v1","rv":3,"start":"ns/b\u0000"}"#);
        assert_eq!(decode_token(&token), Some((3, "ns".into(), "b".into())));
    }
}
