//! `posture watch --notify URL`: raised and cleared alerts posted to a webhook from a task of
//! their own, so a slow or absent receiver never holds up detection. Each alert is tried a few
//! times with backoff; a queue that fills up (a receiver down through a storm) drops the
//! newest alerts and counts them, rather than grow without bound.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use posture_core::detect::Alert;
use posture_core::detect::webhook;
use tokio::sync::mpsc;

/// Alerts waiting to be posted before new ones are dropped.
const QUEUE: usize = 1024;

#[derive(Debug, Clone)]
pub struct NotifySettings {
    pub url: http::Uri,
    /// The body template (`--notify-template`); Alertmanager's webhook format when `None`.
    pub template: Option<String>,
    /// Tries per alert.
    pub attempts: u32,
    /// How long one try may take.
    pub timeout: Duration,
    /// The wait before the second try; doubled for each further one.
    pub backoff: Duration,
}

impl NotifySettings {
    pub fn new(url: http::Uri) -> Self {
        Self {
            url,
            template: None,
            attempts: 3,
            timeout: Duration::from_secs(5),
            backoff: Duration::from_millis(500),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum NotifyError {
    #[error("--notify takes an http:// or https:// URL, not {0}")]
    Scheme(String),
    #[error("cannot load the system's trusted certificates for https")]
    Roots(#[source] std::io::Error),
}

/// What the notifier did, for `/metrics` and the last words of a watch.
#[derive(Debug, Default)]
pub struct NotifyCounters {
    /// Alerts handed to the notifier.
    pub offered: AtomicU64,
    pub delivered: AtomicU64,
    /// Alerts given up on after every try.
    pub failed: AtomicU64,
    /// Alerts dropped because the queue was full.
    pub dropped: AtomicU64,
}

pub struct Notifier {
    queue: mpsc::Sender<Alert>,
    task: tokio::task::JoinHandle<()>,
    pub counters: Arc<NotifyCounters>,
}

impl Notifier {
    /// Starts the posting task on the current runtime.
    pub fn start(settings: NotifySettings) -> Result<Self, NotifyError> {
        match settings.url.scheme_str() {
            Some("http" | "https") => {}
            _ => return Err(NotifyError::Scheme(settings.url.to_string())),
        }
        let mut http = HttpConnector::new();
        http.enforce_http(false);
        http.set_connect_timeout(Some(settings.timeout));
        let https = hyper_rustls::HttpsConnectorBuilder::new()
            .with_native_roots()
            .map_err(NotifyError::Roots)?
            .https_or_http()
            .enable_http1()
            .wrap_connector(http);
        let client: Client<_, Full<Bytes>> = Client::builder(TokioExecutor::new()).build(https);
        let (queue, mut alerts) = mpsc::channel::<Alert>(QUEUE);
        let counters = Arc::new(NotifyCounters::default());
        let task = {
            let counters = Arc::clone(&counters);
            tokio::spawn(async move {
                while let Some(alert) = alerts.recv().await {
                    let body = webhook::body(&alert, settings.template.as_deref());
                    if post(&client, &settings, body).await {
                        counters.delivered.fetch_add(1, Ordering::Relaxed);
                    } else {
                        counters.failed.fetch_add(1, Ordering::Relaxed);
                        tracing::warn!(alert = alert.id(), "notify: not delivered");
                    }
                }
            })
        };
        Ok(Self {
            queue,
            task,
            counters,
        })
    }

    /// Queues `alert` and returns at once.
    pub fn notify(&self, alert: &Alert) {
        self.counters.offered.fetch_add(1, Ordering::Relaxed);
        if self.queue.try_send(alert.clone()).is_err() {
            self.counters.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Posts what is queued, for at most `within`; returns how many alerts were not delivered
    /// (failed, dropped, or still queued at the deadline).
    pub async fn finish(self, within: Duration) -> u64 {
        let Self {
            queue,
            mut task,
            counters,
        } = self;
        drop(queue);
        if tokio::time::timeout(within, &mut task).await.is_err() {
            task.abort();
        }
        counters.offered.load(Ordering::Relaxed) - counters.delivered.load(Ordering::Relaxed)
    }
}

/// One alert's tries; true once a 2xx came back.
async fn post(
    client: &Client<hyper_rustls::HttpsConnector<HttpConnector>, Full<Bytes>>,
    settings: &NotifySettings,
    body: String,
) -> bool {
    let content_type = if settings.template.is_none() || body.trim_start().starts_with('{') {
        "application/json"
    } else {
        "text/plain; charset=utf-8"
    };
    let mut wait = settings.backoff;
    for attempt in 1..=settings.attempts.max(1) {
        let request = http::Request::post(settings.url.clone())
            .header(http::header::CONTENT_TYPE, content_type)
            .header(http::header::USER_AGENT, "posture")
            .body(Full::new(Bytes::from(body.clone())));
        let Ok(request) = request else {
            return false;
        };
        match tokio::time::timeout(settings.timeout, client.request(request)).await {
            Ok(Ok(response)) if response.status().is_success() => return true,
            Ok(Ok(response)) => {
                tracing::debug!(status = %response.status(), attempt, "notify: refused");
            }
            Ok(Err(error)) => tracing::debug!(%error, attempt, "notify: failed"),
            Err(_) => tracing::debug!(attempt, "notify: timed out"),
        }
        if attempt < settings.attempts {
            tokio::time::sleep(wait).await;
            wait *= 2;
        }
    }
    false
}
