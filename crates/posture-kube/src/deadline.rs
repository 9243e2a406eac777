//! Every request to the API server has a deadline, and a throttled one is tried again only a
//! few times, within a fixed budget, waiting what the server's `Retry-After` asks.
//!
//! kube-rs's own retry policy (up to 15 retries, pauses growing to minutes) is switched off for
//! every client posture builds; this layer takes its place:
//! - each attempt must deliver its response headers within the request timeout, and a response
//!   that is not a watch its whole body within the same time, else it fails with [`TimedOut`];
//! - `429 Too Many Requests` (any method: the server did not act on it) and `503`/`504` (reads
//!   only) are tried again at most [`MAX_ATTEMPTS`] times in all, never past [`RETRY_BUDGET`]
//!   after the first attempt began; a `Retry-After` longer than what is left ends the retries at
//!   once. The last answer is then returned as the server gave it.
//! - Watches keep their connection open for as long as the server streams, so only their
//!   headers have a deadline; the watchers re-establish them as they always do.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use futures::future::BoxFuture;
use http::{Method, Request, Response, StatusCode};
use http_body::Frame;
use kube::client::Body;
use tokio::time::{Instant, Sleep};
use tower::{BoxError, Layer, Service, ServiceExt};

/// The request timeout when none is set: long enough for a LIST of a large cluster over a slow
/// link, short enough that a hung server is reported while the person is still there.
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// Attempts of one request, the first included, when the server throttles it or is unavailable.
pub const MAX_ATTEMPTS: u32 = 5;
/// No retry starts later than this after the first attempt began.
pub const RETRY_BUDGET: Duration = Duration::from_secs(20);

static REQUEST_TIMEOUT_MS: AtomicU64 = AtomicU64::new(DEFAULT_REQUEST_TIMEOUT.as_millis() as u64);

/// Sets the request timeout of every client built from now on (the CLI's `--request-timeout`).
pub fn set_request_timeout(timeout: Duration) {
    let ms = u64::try_from(timeout.as_millis())
        .unwrap_or(u64::MAX)
        .max(1);
    REQUEST_TIMEOUT_MS.store(ms, Ordering::Relaxed);
}

/// The request timeout new clients get.
pub fn request_timeout() -> Duration {
    Duration::from_millis(REQUEST_TIMEOUT_MS.load(Ordering::Relaxed))
}

/// A request that got no (complete) answer within the request timeout.
#[derive(Debug, Clone, Copy, thiserror::Error)]
#[error("no answer within the request timeout of {}", seconds(*timeout))]
pub struct TimedOut {
    pub timeout: Duration,
}

/// The deadline of `error`, when it is a request that timed out.
pub fn timed_out(error: &(dyn std::error::Error + 'static)) -> Option<Duration> {
    let mut current = Some(error);
    for _ in 0..16 {
        let error = current?;
        if let Some(TimedOut { timeout }) = error.downcast_ref::<TimedOut>() {
            return Some(*timeout);
        }
        current = error.source();
    }
    None
}

/// `30s`, `1.5s`.
pub fn seconds(d: Duration) -> String {
    let ms = d.as_millis();
    if ms.is_multiple_of(1000) {
        format!("{}s", ms / 1000)
    } else {
        format!("{}s", d.as_secs_f64())
    }
}

/// Adds the deadline, and with `retry` the bounded retries, to a client's service stack.
#[derive(Debug, Clone, Copy)]
pub(crate) struct DeadlineLayer {
    pub(crate) timeout: Duration,
    pub(crate) retry: bool,
}

impl<S> Layer<S> for DeadlineLayer {
    type Service = Deadline<S>;

    fn layer(&self, inner: S) -> Deadline<S> {
        Deadline {
            inner,
            settings: *self,
        }
    }
}

#[derive(Debug, Clone)]
pub(crate) struct Deadline<S> {
    inner: S,
    settings: DeadlineLayer,
}

impl<S, B> Service<Request<Body>> for Deadline<S>
where
    S: Service<Request<Body>, Response = Response<B>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Into<BoxError>,
    B: http_body::Body<Data = Bytes> + Unpin + Send + 'static,
    B::Error: Into<BoxError>,
{
    type Response = Response<DeadlineBody<B>>;
    type Error = BoxError;
    type Future = BoxFuture<'static, Result<Self::Response, BoxError>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, request: Request<Body>) -> Self::Future {
        // The service that was made ready answers the first attempt; retries ready a clone.
        let fresh = self.inner.clone();
        let inner = std::mem::replace(&mut self.inner, fresh);
        Box::pin(send(inner, self.settings, request))
    }
}

async fn send<S, B>(
    mut inner: S,
    settings: DeadlineLayer,
    mut request: Request<Body>,
) -> Result<Response<DeadlineBody<B>>, BoxError>
where
    S: Service<Request<Body>, Response = Response<B>>,
    S::Error: Into<BoxError>,
{
    let DeadlineLayer { timeout, retry } = settings;
    let streaming = is_watch(request.uri());
    let started = Instant::now();
    let mut attempt = 1;
    loop {
        let again = if retry { clone_request(&request) } else { None };
        let method = request.method().clone();
        let attempt_started = Instant::now();
        let response = match tokio::time::timeout(timeout, inner.call(request)).await {
            Ok(response) => response.map_err(Into::into)?,
            Err(_) => return Err(Box::new(TimedOut { timeout })),
        };
        if let Some(next) = again
            && attempt < MAX_ATTEMPTS
            && retriable(&method, response.status())
        {
            let wait = retry_after(&response).unwrap_or_else(|| backoff(attempt));
            if started.elapsed() + wait <= RETRY_BUDGET {
                tracing::info!(
                    status = response.status().as_u16(),
                    attempt,
                    wait = %seconds(wait),
                    "the API server asked to try again later"
                );
                drop(response);
                tokio::time::sleep(wait).await;
                match tokio::time::timeout(timeout, ServiceExt::ready(&mut inner)).await {
                    Ok(ready) => ready.map_err(Into::into)?,
                    Err(_) => return Err(Box::new(TimedOut { timeout })),
                };
                request = next;
                attempt += 1;
                continue;
            }
        }
        let deadline = (!streaming).then(|| attempt_started + timeout);
        return Ok(response.map(|body| DeadlineBody::new(body, deadline, timeout)));
    }
}

/// Whether the request is a watch (its body streams for as long as the server likes).
fn is_watch(uri: &http::Uri) -> bool {
    uri.query().is_some_and(|query| {
        query
            .split('&')
            .any(|pair| matches!(pair, "watch=true" | "watch=1" | "watch"))
    })
}

/// 429: the server did not act on the request, so any method may be repeated. 503 and 504
/// may come after a write landed, so only reads are repeated.
fn retriable(method: &Method, status: StatusCode) -> bool {
    match status {
        StatusCode::TOO_MANY_REQUESTS => true,
        StatusCode::SERVICE_UNAVAILABLE | StatusCode::GATEWAY_TIMEOUT => {
            matches!(*method, Method::GET | Method::HEAD)
        }
        _ => false,
    }
}

/// `Retry-After: SECONDS` (the API server never sends the HTTP-date form).
fn retry_after<B>(response: &Response<B>) -> Option<Duration> {
    let value = response.headers().get(http::header::RETRY_AFTER)?;
    let seconds: u64 = value.to_str().ok()?.trim().parse().ok()?;
    Some(Duration::from_secs(seconds))
}

/// 200 ms, then twice as long each time, at most 5 s.
fn backoff(attempt: u32) -> Duration {
    let factor = 2u32.saturating_pow(attempt.saturating_sub(1));
    (Duration::from_millis(200) * factor).min(Duration::from_secs(5))
}

fn clone_request(request: &Request<Body>) -> Option<Request<Body>> {
    let body = request.body().try_clone()?;
    let mut copy = Request::new(body);
    *copy.method_mut() = request.method().clone();
    *copy.uri_mut() = request.uri().clone();
    *copy.version_mut() = request.version();
    *copy.headers_mut() = request.headers().clone();
    *copy.extensions_mut() = request.extensions().clone();
    Some(copy)
}

/// A response body that must be complete by its deadline (none for a watch).
pub(crate) struct DeadlineBody<B> {
    inner: B,
    deadline: Option<Pin<Box<Sleep>>>,
    timeout: Duration,
}

impl<B> DeadlineBody<B> {
    fn new(inner: B, deadline: Option<Instant>, timeout: Duration) -> Self {
        Self {
            inner,
            deadline: deadline.map(|at| Box::pin(tokio::time::sleep_until(at))),
            timeout,
        }
    }
}

impl<B> http_body::Body for DeadlineBody<B>
where
    B: http_body::Body<Data = Bytes> + Unpin,
    B::Error: Into<BoxError>,
{
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = self.get_mut();
        if let Poll::Ready(frame) = Pin::new(&mut this.inner).poll_frame(cx) {
            return Poll::Ready(frame.map(|f| f.map_err(Into::into)));
        }
        if let Some(deadline) = &mut this.deadline
            && deadline.as_mut().poll(cx).is_ready()
        {
            return Poll::Ready(Some(Err(Box::new(TimedOut {
                timeout: this.timeout,
            }))));
        }
        Poll::Pending
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_watches_stream_past_the_deadline() {
        let uri = |s: &str| s.parse::<http::Uri>().expect("uri");
        assert!(is_watch(&uri("/api/v1/pods?watch=true&resourceVersion=1")));
        assert!(is_watch(&uri("/api/v1/pods?resourceVersion=1&watch=1")));
        assert!(!is_watch(&uri("/api/v1/pods?limit=500")));
        assert!(!is_watch(&uri("/api/v1/watchers")));
    }

    #[test]
    fn throttled_requests_are_repeated_but_unavailable_writes_are_not() {
        assert!(retriable(&Method::PATCH, StatusCode::TOO_MANY_REQUESTS));
        assert!(retriable(&Method::GET, StatusCode::SERVICE_UNAVAILABLE));
        assert!(!retriable(&Method::PATCH, StatusCode::SERVICE_UNAVAILABLE));
        assert!(!retriable(&Method::GET, StatusCode::FORBIDDEN));
    }

    #[test]
    fn retry_after_is_read_in_seconds_and_backoff_is_capped() {
        let response = Response::builder()
            .header(http::header::RETRY_AFTER, "7")
            .body(())
            .expect("response");
        assert_eq!(retry_after(&response), Some(Duration::from_secs(7)));
        assert_eq!(backoff(1), Duration::from_millis(200));
        assert_eq!(backoff(3), Duration::from_millis(800));
        assert_eq!(backoff(40), Duration::from_secs(5));
    }

    #[test]
    fn a_timeout_is_found_anywhere_in_the_chain() {
        let error = kube::Error::Service(Box::new(TimedOut {
            timeout: Duration::from_millis(1500),
        }));
        assert_eq!(timed_out(&error), Some(Duration::from_millis(1500)));
        let cause = std::error::Error::source(&error).map(ToString::to_string);
        assert_eq!(
            cause.as_deref(),
            Some("no answer within the request timeout of 1.5s")
        );
    }
}
