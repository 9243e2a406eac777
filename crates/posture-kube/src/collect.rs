//! Reads a cluster into a [`Snapshot`]: one LIST per resource the runbook inspects, all at once,
//! plus the API server's verbose health endpoints.
//!
//! Every LIST is paged as kubectl pages it ([`PAGE_SIZE`] objects per request), and each page is
//! turned into what the caller keeps (typed objects for checking, documents for saving) before
//! the next one is asked for, so a large cluster is never held twice. When the server has
//! compacted away a list's continue token (410 Gone), the list starts over, as kubectl's does.
//!
//! Guarantees: a resource the credentials may not read is recorded in `Snapshot::unreadable` and
//! the rest is still collected; Longhorn's absence (404 on its group) leaves `longhorn` as `None`.
//! Only a cluster that cannot be reached, rejects the credentials, or forbids everything fails.

use futures::future::join_all;
use http::StatusCode;
use posture_core::Snapshot;
use posture_core::load::{add_listed_json, unreadable};
use posture_core::snapshot::{HealthReport, Longhorn, SnapshotInfo};
use serde_json::Value;

use crate::client::ClusterEndpoint;
use crate::targets::{LONGHORN_DEFAULT_NAMESPACE, TARGETS, Target};

/// The collected objects as the API returned them (for saving) or typed (for checking).
#[derive(Debug, Clone, Default)]
pub struct Collection {
    /// Provenance, health, what could not be read and, when collected [`Keep::Typed`], every
    /// object.
    pub snapshot: Snapshot,
    /// When collected [`Keep::Documents`]: every object with `apiVersion` and `kind` set and
    /// `managedFields` removed.
    pub documents: Vec<Value>,
}

/// What collection keeps of each object it reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Keep {
    /// Typed objects in the [`Snapshot`], for checks and plans.
    Typed,
    /// The objects as documents, for saving; the snapshot holds only provenance and health.
    Documents,
}

/// Objects per LIST request: what kubectl asks for (`--chunk-size`).
pub const PAGE_SIZE: usize = 500;

/// How often one LIST may start over because its continue token expired before it gives up on
/// that resource.
const LIST_RESTARTS: usize = 3;

#[derive(Debug, thiserror::Error)]
pub enum CollectError {
    #[error("cannot reach the API server {server} (context {context})")]
    Unreachable {
        server: String,
        context: String,
        #[source]
        source: kube::Error,
    },
    #[error("the API server {server} rejected the credentials of context {context}")]
    Unauthorized {
        server: String,
        context: String,
        #[source]
        source: kube::Error,
    },
    #[error(
        "context {context} may read none of the resources posture needs on {server} (403 Forbidden)"
    )]
    Forbidden { server: String, context: String },
    #[error(
        "the API server {server} (context {context}) did not answer within the request timeout of {}",
        crate::deadline::seconds(*timeout)
    )]
    TimedOut {
        server: String,
        context: String,
        timeout: std::time::Duration,
    },
    #[error(
        "the API server {server} (context {context}) is throttling requests (429 Too Many Requests) and still was after {} attempts or {} of retrying{}",
        crate::deadline::MAX_ATTEMPTS,
        crate::deadline::seconds(crate::deadline::RETRY_BUDGET),
        retry_after.map(|d| format!(" (it last asked to wait {})", crate::deadline::seconds(d))).unwrap_or_default()
    )]
    Throttled {
        server: String,
        context: String,
        retry_after: Option<std::time::Duration>,
    },
    #[error(
        "context {context} could read none of the resources posture needs on {server}: {reason}"
    )]
    NothingRead {
        server: String,
        context: String,
        reason: String,
    },
}

/// What one request came back with, classified before anything is done with it.
enum Outcome<T> {
    Read(T),
    /// Answered, but not with data: the short reason to record.
    Refused {
        status: u16,
        reason: String,
    },
    /// Never answered, or answered that the credentials are invalid.
    Fatal(kube::Error),
}

/// Collects the cluster `client` talks to, typed.
pub async fn collect(
    client: &kube::Client,
    cluster: &ClusterEndpoint,
) -> Result<Snapshot, CollectError> {
    Ok(collect_with(client, cluster, Keep::Typed, PAGE_SIZE)
        .await?
        .snapshot)
}

/// Collects the cluster as documents to save.
pub async fn collect_documents(
    client: &kube::Client,
    cluster: &ClusterEndpoint,
) -> Result<Collection, CollectError> {
    collect_with(client, cluster, Keep::Documents, PAGE_SIZE).await
}

/// Collects the cluster keeping `keep` of each object, asking for `page_size` objects per request.
pub async fn collect_with(
    client: &kube::Client,
    cluster: &ClusterEndpoint,
    keep: Keep,
    page_size: usize,
) -> Result<Collection, CollectError> {
    // The first request alone: it proves the server answers and the credentials are accepted
    // before two dozen lists (each with its own retries) go to a server that is down, refuses
    // us or is throttling. Over one HTTP/2 connection the lists would wait for the same
    // handshake anyway, so this costs one round trip. Its Date header is the cluster's own idea
    // of "now".
    let (readyz, date) = health(client, "/readyz").await;
    if let Outcome::Fatal(source) = readyz {
        return Err(fatal(cluster, source));
    }
    let lists = join_all(
        TARGETS
            .iter()
            .map(|t| list(client, t, t.path(), keep, page_size)),
    );
    let (lists, (healthz, _)) = futures::join!(lists, health(client, "/healthz"));

    let mut collection = Collection {
        snapshot: Snapshot {
            info: SnapshotInfo {
                source: cluster.server.clone(),
                context: Some(cluster.context.clone()),
                collected_at: Some(date.unwrap_or_else(jiff::Timestamp::now)),
            },
            ..Snapshot::default()
        },
        documents: Vec::new(),
    };
    let snapshot = &mut collection.snapshot;
    for (endpoint, outcome) in [("/readyz", readyz), ("/healthz", healthz)] {
        match outcome {
            Outcome::Read(report) if endpoint == "/readyz" => snapshot.readyz = Some(report),
            Outcome::Read(report) => snapshot.healthz = Some(report),
            Outcome::Refused { reason, .. } => {
                snapshot.unreadable.push(unreadable(endpoint, &reason))
            }
            Outcome::Fatal(source) => return Err(fatal(cluster, source)),
        }
    }

    let mut longhorn_absent = true;
    let mut any_read = false;
    let mut not_forbidden: Option<String> = None;
    for (target, outcome) in TARGETS.iter().zip(lists) {
        match outcome {
            Outcome::Read(part) => {
                any_read = true;
                longhorn_absent &= !target.is_longhorn();
                add_part(&mut collection, target, part);
            }
            Outcome::Refused { status, .. }
                if (target.is_longhorn() || target.is_optional()) && status == 404 => {}
            Outcome::Refused { status, reason } => {
                longhorn_absent &= !target.is_longhorn();
                if status != 403 && not_forbidden.is_none() {
                    not_forbidden = Some(format!("{}: {reason}", target.resource()));
                }
                record_unreadable(&mut collection, target, &reason);
            }
            Outcome::Fatal(source) => return Err(fatal(cluster, source)),
        }
    }
    if !any_read {
        // Only a 403 is a permission problem; anything else is what the server said.
        let (server, context) = (cluster.server.clone(), cluster.context.clone());
        return Err(match not_forbidden {
            None => CollectError::Forbidden { server, context },
            Some(reason) => CollectError::NothingRead {
                server,
                context,
                reason,
            },
        });
    }
    if !longhorn_absent {
        collection
            .snapshot
            .longhorn
            .get_or_insert_with(Longhorn::default);
        read_longhorn_config_maps(client, cluster, &mut collection, keep, page_size).await?;
    }
    Ok(collection)
}

/// Longhorn renders its StorageClass from a ConfigMap in its own namespace. The parallel lists
/// read `longhorn-system`, where Longhorn installs by default; when its Settings say it lives
/// elsewhere, that namespace's ConfigMaps are read too (one more LIST, still namespaced).
async fn read_longhorn_config_maps(
    client: &kube::Client,
    cluster: &ClusterEndpoint,
    collection: &mut Collection,
    keep: Keep,
    page_size: usize,
) -> Result<(), CollectError> {
    let Some(namespace) =
        longhorn_namespace(collection).filter(|ns| ns != LONGHORN_DEFAULT_NAMESPACE)
    else {
        return Ok(());
    };
    let Some(target) = TARGETS.iter().find(|t| t.plural == "configmaps") else {
        return Ok(());
    };
    let path = format!("/api/v1/namespaces/{namespace}/configmaps");
    match list(client, target, path, keep, page_size).await {
        Outcome::Read(part) => add_part(collection, target, part),
        Outcome::Refused { reason, .. } => record_unreadable(collection, target, &reason),
        Outcome::Fatal(source) => return Err(fatal(cluster, source)),
    }
    Ok(())
}

/// The namespace Longhorn's Settings (else its Volumes) live in, typed or as documents.
fn longhorn_namespace(collection: &Collection) -> Option<String> {
    let typed = collection.snapshot.longhorn.as_ref().and_then(|lh| {
        lh.settings
            .iter()
            .find_map(|s| s.metadata.namespace.clone())
            .or_else(|| lh.volumes.iter().find_map(|v| v.metadata.namespace.clone()))
    });
    let of_kind = |kind: &str| {
        collection.documents.iter().find_map(|d| {
            let longhorn = d.get("apiVersion").and_then(Value::as_str)
                == Some(posture_core::longhorn::API_VERSION);
            (longhorn && d.get("kind").and_then(Value::as_str) == Some(kind))
                .then(|| {
                    d.pointer("/metadata/namespace")?
                        .as_str()
                        .map(str::to_owned)
                })
                .flatten()
        })
    };
    typed
        .or_else(|| of_kind("Setting"))
        .or_else(|| of_kind("Volume"))
}

/// Records that `target` could not be read, once: the checks that need it say "unknown".
fn record_unreadable(collection: &mut Collection, target: &Target, reason: &str) {
    if collection.snapshot.unreadable(&target.resource()).is_none() {
        collection
            .snapshot
            .unreadable
            .push(unreadable(&target.resource(), reason));
    }
}

fn fatal(cluster: &ClusterEndpoint, source: kube::Error) -> CollectError {
    let (server, context) = (cluster.server.clone(), cluster.context.clone());
    if let Some(timeout) = crate::deadline::timed_out(&source) {
        return CollectError::TimedOut {
            server,
            context,
            timeout,
        };
    }
    match &source {
        kube::Error::Api(status) if status.code == 429 => CollectError::Throttled {
            server,
            context,
            retry_after: status
                .details
                .as_ref()
                .map(|d| u64::from(d.retry_after_seconds))
                .filter(|s| *s > 0)
                .map(std::time::Duration::from_secs),
        },
        kube::Error::Auth(_) => CollectError::Unauthorized {
            server,
            context,
            source,
        },
        kube::Error::Api(status) if status.code == 401 => CollectError::Unauthorized {
            server,
            context,
            source,
        },
        _ => CollectError::Unreachable {
            server,
            context,
            source,
        },
    }
}

/// Classifies a failed request: what the server answered concerns one resource; anything else
/// (connection refused, TLS, no answer in time, 401, throttling that outlasted the retries,
/// credentials that cannot be obtained) the whole cluster.
fn classify<T>(error: kube::Error) -> Outcome<T> {
    match error {
        kube::Error::Api(status) if !matches!(status.code, 0 | 401 | 429) => Outcome::Refused {
            status: status.code,
            reason: reason_for(status.code, &status.message),
        },
        kube::Error::SerdeError(e) => Outcome::Refused {
            status: 200,
            reason: format!("invalid response: {e}"),
        },
        other => Outcome::Fatal(other),
    }
}

fn reason_for(code: u16, message: &str) -> String {
    match StatusCode::from_u16(code) {
        Ok(StatusCode::FORBIDDEN) => "forbidden".to_owned(),
        Ok(StatusCode::NOT_FOUND) => "not found".to_owned(),
        _ if message.is_empty() => format!("HTTP {code}"),
        _ => format!("HTTP {code}: {message}"),
    }
}

/// One resource's objects, read page by page.
#[derive(Default)]
struct Part {
    snapshot: Snapshot,
    documents: Vec<Value>,
    /// Why an object was skipped, for the first one that did not fit its schema.
    invalid: Option<String>,
}

/// The fields of a list response collection reads: the page's objects and where the next begins.
#[derive(serde::Deserialize)]
struct ListPage<'a> {
    #[serde(default)]
    metadata: ListMeta,
    /// Each item's text, borrowed from the response: decoded straight into its type, never
    /// copied nor turned into a JSON value first.
    #[serde(default, borrow)]
    items: Vec<&'a serde_json::value::RawValue>,
}

#[derive(Default, serde::Deserialize)]
struct ListMeta {
    #[serde(default, rename = "continue")]
    next: Option<String>,
}

/// Lists `path` (a `target` in one or every namespace) in pages of `page_size`, keeping `keep` of
/// each object. A continue token the server no longer honours (410) starts the list over, at
/// most [`LIST_RESTARTS`] times; anything else the server answers is the outcome.
///
/// A page is decoded on a blocking thread while the next one is asked for, so the server
/// writing a page and posture decoding the one before overlap instead of taking turns.
async fn list(
    client: &kube::Client,
    target: &'static Target,
    path: String,
    keep: Keep,
    page_size: usize,
) -> Outcome<Part> {
    let mut restarts = 0;
    'list: loop {
        let mut decoding: Option<tokio::task::JoinHandle<Result<Part, String>>> = None;
        let mut next: Option<String> = None;
        loop {
            let uri = page_uri(&path, target.field_selector, page_size, next.as_deref());
            let request = match http::Request::get(uri).body(Vec::new()) {
                Ok(request) => request,
                Err(e) => return Outcome::Fatal(kube::Error::HttpError(e)),
            };
            let text = match client.request_text(request).await {
                Ok(text) => text,
                Err(kube::Error::Api(status))
                    if status.code == 410 && next.is_some() && restarts < LIST_RESTARTS =>
                {
                    restarts += 1;
                    tracing::debug!(%path, restarts, "continue token expired: listing again");
                    continue 'list;
                }
                Err(e) => return classify(e),
            };
            let token = match serde_json::from_str::<ListPage>(&text) {
                Ok(page) => page.metadata.next.filter(|token| !token.is_empty()),
                Err(e) => return invalid_response(&e),
            };
            let part = match decoding.take() {
                Some(previous) => match decoded(previous.await) {
                    Ok(part) => part,
                    Err(reason) => return invalid_response(&reason),
                },
                None => Part::default(),
            };
            let page = tokio::task::spawn_blocking(move || decode_page(part, &text, target, keep));
            match token {
                Some(token) => {
                    next = Some(token);
                    decoding = Some(page);
                }
                None => {
                    return match decoded(page.await) {
                        Ok(mut part) => {
                            part.snapshot.drop_managed_fields();
                            Outcome::Read(part)
                        }
                        Err(reason) => invalid_response(&reason),
                    };
                }
            }
        }
    }
}

/// Adds the objects of one list answer, `text`, to `part`.
fn decode_page(mut part: Part, text: &str, target: &Target, keep: Keep) -> Result<Part, String> {
    let page: ListPage = serde_json::from_str(text).map_err(|e| e.to_string())?;
    for item in page.items {
        add_item(&mut part, target, item.get(), keep);
    }
    Ok(part)
}

/// The part a page's decoding produced, or why the page could not be read.
fn decoded(joined: Result<Result<Part, String>, tokio::task::JoinError>) -> Result<Part, String> {
    joined.map_err(|e| e.to_string()).and_then(|page| page)
}

/// A list answer posture could not read.
fn invalid_response(error: &dyn std::fmt::Display) -> Outcome<Part> {
    Outcome::Refused {
        status: 200,
        reason: format!("invalid response: {error}"),
    }
}

/// `path` with the query of one page: `limit`, the selector, and `continue` after the first.
fn page_uri(path: &str, field_selector: Option<&str>, limit: usize, next: Option<&str>) -> String {
    let mut query = form_urlencoded::Serializer::new(String::new());
    query.append_pair("limit", &limit.to_string());
    if let Some(selector) = field_selector {
        query.append_pair("fieldSelector", selector);
    }
    if let Some(token) = next {
        query.append_pair("continue", token);
    }
    format!("{path}?{}", query.finish())
}

/// `GET {endpoint}?verbose`, and the response's `Date` header whatever the status.
async fn health(
    client: &kube::Client,
    endpoint: &str,
) -> (Outcome<HealthReport>, Option<jiff::Timestamp>) {
    let request =
        match http::Request::get(format!("{endpoint}?verbose")).body(kube::client::Body::empty()) {
            Ok(request) => request,
            Err(e) => return (Outcome::Fatal(kube::Error::HttpError(e)), None),
        };
    let response = match client.send(request).await {
        Ok(response) => response,
        Err(e) => return (Outcome::Fatal(e), None),
    };
    let status = response.status();
    let date = response
        .headers()
        .get(http::header::DATE)
        .and_then(|v| v.to_str().ok())
        .and_then(parse_http_date);
    let body = match response.into_body().collect_bytes().await {
        Ok(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
        Err(e) => return (Outcome::Fatal(e), date),
    };
    let outcome = if status == StatusCode::UNAUTHORIZED || status == StatusCode::TOO_MANY_REQUESTS {
        let status = serde_json::from_str::<kube::core::Status>(&body)
            .ok()
            .filter(|s| s.code == status.as_u16())
            .unwrap_or_else(|| {
                let reason = status.canonical_reason().unwrap_or_default();
                kube::core::Status::failure(body.trim(), reason).with_code(status.as_u16())
            });
        Outcome::Fatal(kube::Error::Api(status.boxed()))
    } else if status.is_success() || status == StatusCode::INTERNAL_SERVER_ERROR {
        // A failing health check answers 500 with the same verbose body: data, not an error.
        Outcome::Read(HealthReport {
            endpoint: endpoint.to_owned(),
            body,
        })
    } else {
        Outcome::Refused {
            status: status.as_u16(),
            reason: reason_for(status.as_u16(), body.trim()),
        }
    };
    (outcome, date)
}

/// Parses an HTTP `Date` header (`Tue, 24 Nov 2026 16:04:42 GMT`).
fn parse_http_date(text: &str) -> Option<jiff::Timestamp> {
    jiff::fmt::rfc2822::DateTimeParser::new()
        .parse_timestamp(text)
        .ok()
}

/// Keeps one listed object (its JSON text) as `keep` says: typed, or as a document with the
/// `apiVersion` and `kind` a list leaves out and without `managedFields`. A document is kept only
/// if it reads as its type, as a saved snapshot is loaded again.
fn add_item(part: &mut Part, target: &Target, text: &str, keep: Keep) {
    let resource = target.resource();
    let (api_version, kind) = (target.api_version, target.kind);
    let read = match keep {
        Keep::Typed => add_listed_json(&mut part.snapshot, api_version, kind, text, &resource),
        Keep::Documents => {
            add_listed_json(&mut Snapshot::default(), api_version, kind, text, &resource)
        }
    };
    if let Err(e) = read {
        tracing::warn!(%resource, error = %e, "skipping an object that does not fit its schema");
        part.invalid
            .get_or_insert_with(|| format!("invalid object: {e}"));
        return;
    }
    if keep == Keep::Documents
        && let Ok(Value::Object(mut map)) = serde_json::from_str::<Value>(text)
    {
        map.insert("apiVersion".into(), api_version.into());
        map.insert("kind".into(), kind.into());
        if let Some(Value::Object(metadata)) = map.get_mut("metadata") {
            metadata.remove("managedFields");
        }
        part.documents.push(Value::Object(map));
    }
}

/// Moves a resource's part into the collection, in the order of [`TARGETS`].
fn add_part(collection: &mut Collection, target: &Target, part: Part) {
    collection.snapshot.append(part.snapshot);
    collection.documents.extend(part.documents);
    if let Some(reason) = part.invalid {
        record_unreadable(collection, target, &reason);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn http_dates_parse_as_utc() {
        let at = parse_http_date("Tue, 24 Nov 2026 16:04:42 GMT").expect("valid date");
        assert_eq!(at.to_string(), "2026-11-24T16:04:42Z");
        assert_eq!(parse_http_date("yesterday"), None);
    }

    #[test]
    fn statuses_the_server_answered_are_per_resource() {
        let forbidden = kube::core::Status::failure("no", "Forbidden").with_code(403);
        assert!(
            matches!(classify::<()>(kube::Error::Api(forbidden.boxed())), Outcome::Refused { status: 403, ref reason } if reason == "forbidden")
        );
        let unauthorized = kube::core::Status::failure("no", "Unauthorized").with_code(401);
        assert!(matches!(
            classify::<()>(kube::Error::Api(unauthorized.boxed())),
            Outcome::Fatal(_)
        ));
    }
}
