//! Watch streams: newline-delimited JSON events read from the store's change history.
//!
//! # Guarantees
//! - A watch resumed from a resourceVersion still in history sees every later change exactly
//!   once; an older one gets one `ERROR` event with a 410 `Expired` Status, then the stream ends.
//! - Bookmarks (when allowed) carry a resourceVersion up to which every change was delivered.
//!
//! - With a selector, an object that starts matching is reported as `ADDED` and one that stops
//!   matching as `DELETED`, as the real API server does.
//!
//! # Caveats
//! - A watch resumed from a resourceVersion works out what the client saw at that version from
//!   history; an object whose earlier state has left history counts as its first later state.

use std::collections::{HashMap, HashSet};
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::response::{IntoResponse, Response};
use jiff::Timestamp;
use serde_json::{Value, json};
use tokio::sync::mpsc;
use tokio::time::Instant;

use super::objects::Target;
use super::objects::{Representation, partial_metadata, representation};
use super::selectors::Filter;
use super::status::ApiError;
use super::{Request, Shared, table};
use crate::store::{ChangeType, Committed, ObjectKey, Store, StoreError};

struct WatchRequest {
    target: Target,
    filter: Filter,
    bookmarks: bool,
    timeout: Option<Duration>,
    /// `kubectl get -w` asks for each object as a one-row Table, metadata informers for its
    /// metadata only.
    representation: Representation,
    /// Objects the client has been told about and that still match the selectors.
    selected: HashSet<ObjectKey>,
}

impl WatchRequest {
    fn object_event(&self, kind: &str, object: &Value, now: Timestamp, rv: u64) -> Bytes {
        match self.representation {
            Representation::Table => event(kind, &table::table(self.target.rt, &[object], now, rv)),
            Representation::Metadata => event(kind, &partial_metadata(object)),
            Representation::Object => event(kind, object),
        }
    }
}

pub(crate) fn serve(shared: Arc<Shared>, target: Target, request: &Request) -> Response {
    let filter = match Filter::from_query(&request.query, target.rt) {
        Ok(filter) => filter,
        Err(error) => return error.into_response(),
    };
    let query = &request.query;
    let resume_from = match query.get("resourceVersion").unwrap_or("") {
        "" | "0" => None,
        rv => match rv.parse::<u64>() {
            Ok(rv) => Some(rv),
            Err(_) => {
                return ApiError::bad_request(format!("invalid resourceVersion {rv:?}"))
                    .into_response();
            }
        },
    };
    let send_initial = query.flag("sendInitialEvents") || resume_from.is_none();
    let mut watch = WatchRequest {
        target,
        filter,
        bookmarks: query.flag("allowWatchBookmarks"),
        timeout: query
            .get("timeoutSeconds")
            .and_then(|s| s.parse::<u64>().ok())
            .map(Duration::from_secs),
        representation: match representation(request) {
            Ok(representation) => representation,
            Err(error) => return error.into_response(),
        },
        selected: HashSet::new(),
    };
    // Subscribe before reading the store so no change between the two is missed.
    let changes = shared.changes.subscribe();
    let (initial, last_rv, ended) = {
        let twin = shared.twin();
        let store_rv = twin.store.resource_version();
        watch.selected = selection_at(&twin.store, &watch, resume_from.unwrap_or(store_rv));
        match resume_from {
            Some(rv) if !send_initial => match twin.store.changes_since(rv) {
                Ok(_) => (Vec::new(), rv, false),
                Err(error) => (vec![error_event(&error)], rv, true),
            },
            _ => {
                let mut lines: Vec<Bytes> = twin
                    .store
                    .list(watch.target.rt, watch.target.namespace.as_deref())
                    .filter(|(_, object)| watch.filter.matches(object))
                    .map(|(_, object)| watch.object_event("ADDED", object, twin.now(), store_rv))
                    .collect();
                if query.flag("sendInitialEvents") {
                    lines.push(bookmark(&watch.target, store_rv, true));
                }
                (lines, store_rv, false)
            }
        }
    };
    let (sender, receiver) = mpsc::channel::<Bytes>(64);
    tokio::spawn(async move {
        for line in initial {
            if sender.send(line).await.is_err() {
                return;
            }
        }
        if !ended {
            stream_changes(shared, watch, last_rv, changes, sender).await;
        }
    });
    let stream = futures::stream::unfold(receiver, |mut receiver| async move {
        receiver
            .recv()
            .await
            .map(|line| (Ok::<_, Infallible>(line), receiver))
    });
    (
        [(http::header::CONTENT_TYPE, "application/json")],
        Body::from_stream(stream),
    )
        .into_response()
}

async fn stream_changes(
    shared: Arc<Shared>,
    mut watch: WatchRequest,
    mut last_rv: u64,
    mut changes: tokio::sync::watch::Receiver<u64>,
    sender: mpsc::Sender<Bytes>,
) {
    let mut restarts = shared.restarts.subscribe();
    let mut shutdown = shared.shutdown.subscribe();
    let deadline = watch.timeout.map(|t| Instant::now() + t);
    let interval = shared.bookmark_interval;
    let mut bookmark_timer = tokio::time::interval_at(Instant::now() + interval, interval);
    loop {
        let (lines, gone) = collect(&shared, &mut watch, &mut last_rv);
        for line in lines {
            if sender.send(line).await.is_err() {
                return;
            }
        }
        if gone || *shutdown.borrow() {
            return;
        }
        // Biased: a restart that raced with a change must end the stream, so the client
        // resumes from history rather than seeing the change on a stream that should be gone.
        tokio::select! {
            biased;
            _ = shutdown.changed() => return,
            _ = restarts.changed() => return,
            changed = changes.changed() => if changed.is_err() { return },
            () = sleep_until(deadline) => return,
            _ = bookmark_timer.tick(), if watch.bookmarks => {
                if sender.send(bookmark(&watch.target, last_rv, false)).await.is_err() {
                    return;
                }
            }
            () = sender.closed() => return,
        }
    }
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(deadline) => tokio::time::sleep_until(deadline).await,
        None => std::future::pending().await,
    }
}

/// Events for changes after `last_rv` that the watch selects; true when history is gone.
fn collect(shared: &Shared, watch: &mut WatchRequest, last_rv: &mut u64) -> (Vec<Bytes>, bool) {
    let twin = shared.twin();
    let changes = match twin.store.changes_since(*last_rv) {
        Ok(changes) => changes,
        Err(error) => return (vec![error_event(&error)], true),
    };
    let (now, rv) = (twin.now(), twin.store.resource_version());
    let mut lines = Vec::new();
    for change in changes {
        let target = &watch.target;
        let same_resource =
            change.key.group == target.rt.group && change.key.plural == target.rt.plural;
        let in_namespace = target
            .namespace
            .as_deref()
            .is_none_or(|ns| change.key.namespace == ns);
        if !same_resource || !in_namespace {
            continue;
        }
        let matches = watch.filter.matches(&change.object);
        let was_selected = watch.selected.contains(&change.key);
        let Some(kind) = classify(change.change, matches, was_selected) else {
            continue;
        };
        if kind == "DELETED" {
            watch.selected.remove(&change.key);
        } else {
            watch.selected.insert(change.key.clone());
        }
        lines.push(watch.object_event(kind, &change.object, now, rv));
    }
    *last_rv = rv;
    (lines, false)
}

/// The objects of the watched resource that matched the selectors at `rv`: what a client
/// resuming from `rv` knows. History gives each object's state at `rv`; an object changed
/// since but no longer in history counts as its first later state says.
fn selection_at(store: &Store, watch: &WatchRequest, rv: u64) -> HashSet<ObjectKey> {
    let target = &watch.target;
    let watched = |key: &ObjectKey| {
        key.group == target.rt.group
            && key.plural == target.rt.plural
            && target
                .namespace
                .as_deref()
                .is_none_or(|ns| key.namespace == ns)
    };
    let mut before: HashMap<&ObjectKey, Option<&Value>> = HashMap::new();
    let mut first_after: HashMap<&ObjectKey, &Committed> = HashMap::new();
    for change in store.history().filter(|c| watched(&c.key)) {
        if change.resource_version <= rv {
            let state = (change.change != ChangeType::Deleted).then_some(&change.object);
            before.insert(&change.key, state);
        } else {
            first_after.entry(&change.key).or_insert(change);
        }
    }
    let mut selected: HashSet<ObjectKey> = store
        .list(target.rt, target.namespace.as_deref())
        .filter(|(key, object)| !first_after.contains_key(key) && watch.filter.matches(object))
        .map(|(key, _)| key.clone())
        .collect();
    for (key, change) in first_after {
        let was_selected = match before.get(key) {
            Some(state) => state.is_some_and(|object| watch.filter.matches(object)),
            None => change.change != ChangeType::Added && watch.filter.matches(&change.object),
        };
        if was_selected {
            selected.insert(key.clone());
        }
    }
    selected
}

/// The event a client watching with selectors sees for one change.
fn classify(change: ChangeType, matches: bool, was_selected: bool) -> Option<&'static str> {
    match (change, matches, was_selected) {
        (ChangeType::Added, true, _) => Some("ADDED"),
        (ChangeType::Added, false, _) => None,
        (ChangeType::Deleted, matches, was_selected) => {
            (matches || was_selected).then_some("DELETED")
        }
        (ChangeType::Modified, true, true) => Some("MODIFIED"),
        (ChangeType::Modified, true, false) => Some("ADDED"),
        (ChangeType::Modified, false, true) => Some("DELETED"),
        (ChangeType::Modified, false, false) => None,
    }
}

fn event(kind: &str, object: &Value) -> Bytes {
    let mut line = json!({"type": kind, "object": object}).to_string();
    line.push('\n');
    Bytes::from(line)
}

fn error_event(error: &StoreError) -> Bytes {
    let status = ApiError::new(410, "Expired", error.to_string()).to_status();
    event("ERROR", &status)
}

fn bookmark(target: &Target, rv: u64, initial_events_end: bool) -> Bytes {
    let mut metadata = json!({"resourceVersion": rv.to_string()});
    if initial_events_end {
        metadata["annotations"] = json!({"k8s.io/initial-events-end": "true"});
    }
    event(
        "BOOKMARK",
        &json!({"kind": target.rt.kind, "apiVersion": target.rt.api_version(), "metadata": metadata}),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn objects_entering_and_leaving_a_selection_are_added_and_deleted() {
        assert_eq!(classify(ChangeType::Modified, true, false), Some("ADDED"));
        assert_eq!(classify(ChangeType::Modified, false, true), Some("DELETED"));
        assert_eq!(classify(ChangeType::Modified, true, true), Some("MODIFIED"));
        assert_eq!(classify(ChangeType::Modified, false, false), None);
        assert_eq!(classify(ChangeType::Deleted, false, true), Some("DELETED"));
        assert_eq!(classify(ChangeType::Deleted, false, false), None);
        assert_eq!(classify(ChangeType::Added, false, false), None);
    }
}
