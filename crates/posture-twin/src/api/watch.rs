//! Watch streams: newline-delimited JSON events read from the store's change history.
//!
//! # Guarantees
//! - A watch resumed from a resourceVersion still in history sees every later change exactly
//!   once; an older one gets one `ERROR` event with a 410 `Expired` Status, then the stream ends.
//! - Bookmarks (when allowed) carry a resourceVersion up to which every change was delivered.
//!
//! # Caveats
//! - A label or field selector is applied to each change's new object only: an object that
//!   stops matching is not reported as deleted.

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
use super::selectors::Filter;
use super::status::ApiError;
use super::{Request, Shared, table};
use crate::store::StoreError;

struct WatchRequest {
    target: Target,
    filter: Filter,
    bookmarks: bool,
    timeout: Option<Duration>,
    /// `kubectl get -w` asks for each object as a one-row Table.
    as_table: bool,
}

impl WatchRequest {
    fn object_event(&self, kind: &str, object: &Value, now: Timestamp, rv: u64) -> Bytes {
        if self.as_table {
            event(kind, &table::table(self.target.rt, &[object], now, rv))
        } else {
            event(kind, object)
        }
    }
}

pub(crate) fn serve(shared: Arc<Shared>, target: Target, request: &Request) -> Response {
    let filter = match Filter::from_query(&request.query) {
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
    let watch = WatchRequest {
        target,
        filter,
        bookmarks: query.flag("allowWatchBookmarks"),
        timeout: query
            .get("timeoutSeconds")
            .and_then(|s| s.parse::<u64>().ok())
            .map(Duration::from_secs),
        as_table: request.accept().contains("as=Table"),
    };
    // Subscribe before reading the store so no change between the two is missed.
    let changes = shared.changes.subscribe();
    let (initial, last_rv, ended) = {
        let twin = shared.twin();
        let store_rv = twin.store.resource_version();
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
    watch: WatchRequest,
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
        let (lines, gone) = collect(&shared, &watch, &mut last_rv);
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
fn collect(shared: &Shared, watch: &WatchRequest, last_rv: &mut u64) -> (Vec<Bytes>, bool) {
    let twin = shared.twin();
    let changes = match twin.store.changes_since(*last_rv) {
        Ok(changes) => changes,
        Err(error) => return (vec![error_event(&error)], true),
    };
    let target = &watch.target;
    let (now, rv) = (twin.now(), twin.store.resource_version());
    let lines = changes
        .into_iter()
        .filter(|c| c.key.group == target.rt.group && c.key.plural == target.rt.plural)
        .filter(|c| {
            target
                .namespace
                .as_deref()
                .is_none_or(|ns| c.key.namespace == ns)
        })
        .filter(|c| watch.filter.matches(&c.object))
        .map(|c| watch.object_event(c.change.as_str(), &c.object, now, rv))
        .collect();
    *last_rv = rv;
    (lines, false)
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
