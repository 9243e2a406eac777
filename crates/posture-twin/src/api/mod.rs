//! Serves a [`Twin`] over HTTP as a Kubernetes API server that kubectl and kube-rs accept.
//!
//! # Guarantees
//! - Every successful write that is not a dry run is followed by [`Twin::settle`], so
//!   controllers react before the next request is answered.
//! - Every mutation (API write, control endpoint, speed ticker, [`RunningTwin`] method) wakes
//!   open watches, which then read the store's change history.
//! - Responses carry a `Date` header with the twin's virtual time.
//!
//! # Caveats
//! - HTTP, or HTTPS with a self-signed certificate made at start ([`serve_tls`]). Without a token
//!   (the default, for loopback) there is no authentication; with one ([`serve_with_token`])
//!   every request must carry it as a bearer token, else 401.
//! - Server-side apply is approximated by a merge patch that creates missing objects.

mod control;
mod discovery;
mod eviction;
mod json_patch;
mod objects;
mod pages;
mod patch;
mod selectors;
mod status;
mod strategic;
mod table;
mod table_cells;
mod table_columns;
mod table_crd;
mod target;
mod tls;
mod watch;

use std::net::SocketAddr;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::response::Response;
use http::{HeaderMap, HeaderValue, Method, Uri};
use jiff::{SignedDuration, Timestamp};
use tokio::sync::watch as channel;
use tokio::task::JoinHandle;

use crate::Twin;
use crate::fault::Fault;

pub use control::ApiFaults;
pub use tls::TlsError;

/// How the twin is served.
#[derive(Debug, Clone, Copy)]
pub struct ServeOptions {
    /// Where to listen; port 0 picks any free port.
    pub addr: SocketAddr,
    /// 0: virtual time moves only when asked to (tests). N > 0: time runs N times as fast as
    /// real time (demos).
    pub speed: f64,
}

impl Default for ServeOptions {
    fn default() -> Self {
        Self {
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            speed: 0.0,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("failed to bind {addr}")]
    Bind {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error("failed to read the bound address")]
    LocalAddr(#[source] std::io::Error),
    #[error("failed to serve HTTPS")]
    Tls(#[from] TlsError),
}

/// State shared by every request handler, the speed ticker and the [`RunningTwin`] handle.
pub(crate) struct Shared {
    twin: Mutex<Twin>,
    /// Bumped after every mutation; watches wait on it.
    changes: channel::Sender<u64>,
    /// Bumped when the API server "restarts": every open watch ends.
    restarts: channel::Sender<u64>,
    /// Set once when the server shuts down.
    shutdown: channel::Sender<bool>,
    faults: Mutex<ApiFaults>,
    /// Bumped when API faults change, so held requests can be released.
    fault_changes: channel::Sender<u64>,
    /// Counts requests subject to API faults; faults pick requests deterministically from it.
    request_counter: AtomicU64,
    /// Requests currently held by an injected timeout.
    held_requests: AtomicU64,
    /// Real time between watch bookmarks.
    bookmark_interval: Duration,
    /// The bearer token every request must carry, if any.
    token: Option<String>,
    /// Requests that came over HTTP/2.
    http2_requests: AtomicU64,
    /// Connections accepted (counted when serving TLS).
    pub(crate) connections: AtomicU64,
}

impl Shared {
    fn new(twin: Twin) -> Self {
        Self {
            twin: Mutex::new(twin),
            changes: channel::Sender::new(0),
            restarts: channel::Sender::new(0),
            shutdown: channel::Sender::new(false),
            faults: Mutex::new(ApiFaults::default()),
            fault_changes: channel::Sender::new(0),
            request_counter: AtomicU64::new(0),
            held_requests: AtomicU64::new(0),
            bookmark_interval: Duration::from_secs(5),
            token: None,
            http2_requests: AtomicU64::new(0),
            connections: AtomicU64::new(0),
        }
    }

    /// Reads the twin. The guard must never be held across an `.await`.
    pub(crate) fn twin(&self) -> MutexGuard<'_, Twin> {
        self.twin.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Changes the twin and wakes every watch.
    pub(crate) fn mutate<R>(&self, change: impl FnOnce(&mut Twin) -> R) -> R {
        let result = {
            let mut twin = self.twin();
            change(&mut twin)
        };
        self.changes.send_modify(|generation| *generation += 1);
        result
    }

    pub(crate) fn faults(&self) -> MutexGuard<'_, ApiFaults> {
        self.faults.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn next_request_number(&self) -> u64 {
        self.request_counter.fetch_add(1, Ordering::Relaxed)
    }
}

/// A served twin. Dropping it stops the server.
pub struct RunningTwin {
    addr: SocketAddr,
    shared: Arc<Shared>,
    server: Option<JoinHandle<()>>,
    ticker: Option<JoinHandle<()>>,
    /// The certificate served, when serving HTTPS.
    certificate_pem: Option<String>,
}

/// Starts serving `twin` in the background of the current tokio runtime.
pub async fn serve(twin: Twin, options: ServeOptions) -> Result<RunningTwin, ServeError> {
    serve_with_token(twin, options, None).await
}

/// [`serve`], answering only requests that carry `Authorization: Bearer <token>` when a token
/// is given (401 otherwise); [`RunningTwin::kubeconfig`] then carries the token.
pub async fn serve_with_token(
    twin: Twin,
    options: ServeOptions,
    token: Option<String>,
) -> Result<RunningTwin, ServeError> {
    serve_as(twin, options, token, None).await
}

/// [`serve_with_token`] over HTTPS, with a self-signed certificate made now;
/// [`RunningTwin::kubeconfig`] trusts it.
pub async fn serve_tls(
    twin: Twin,
    options: ServeOptions,
    token: Option<String>,
) -> Result<RunningTwin, ServeError> {
    let identity = tls::Identity::self_signed()?;
    serve_as(twin, options, token, Some(identity)).await
}

async fn serve_as(
    twin: Twin,
    options: ServeOptions,
    token: Option<String>,
    identity: Option<tls::Identity>,
) -> Result<RunningTwin, ServeError> {
    let listener = tokio::net::TcpListener::bind(options.addr)
        .await
        .map_err(|source| ServeError::Bind {
            addr: options.addr,
            source,
        })?;
    let addr = listener.local_addr().map_err(ServeError::LocalAddr)?;
    let mut shared = Shared::new(twin);
    shared.token = token;
    let shared = Arc::new(shared);
    let router = Router::new()
        .fallback(handle)
        .with_state(Arc::clone(&shared));
    let mut shutdown = shared.shutdown.subscribe();
    let certificate_pem = identity.as_ref().map(|i| i.certificate_pem.clone());
    let server_shared = Arc::clone(&shared);
    let server = tokio::spawn(async move {
        let stopped = async move {
            let _ = shutdown.wait_for(|stopped| *stopped).await;
        };
        if let Some(identity) = identity {
            return tls::serve(listener, router, identity, &server_shared, stopped).await;
        }
        // As Go's net package does for kube-apiserver: no Nagle delay on any answer.
        let listener = axum::serve::ListenerExt::tap_io(listener, |tcp| {
            let _ = tcp.set_nodelay(true);
        });
        if let Err(error) = axum::serve(listener, router)
            .with_graceful_shutdown(stopped)
            .await
        {
            tracing::warn!(%error, "twin API server stopped");
        }
    });
    let ticker = (options.speed > 0.0)
        .then(|| tokio::spawn(control::run_clock(Arc::clone(&shared), options.speed)));
    Ok(RunningTwin {
        addr,
        shared,
        server: Some(server),
        ticker,
        certificate_pem,
    })
}

impl RunningTwin {
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:PORT`, or `https://` when serving TLS.
    pub fn url(&self) -> String {
        let scheme = match self.certificate_pem {
            Some(_) => "https",
            None => "http",
        };
        format!("{scheme}://{}", self.addr)
    }

    /// A kubeconfig whose cluster, user and context are all named `posture-twin`.
    pub fn kubeconfig(&self) -> String {
        format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: posture-twin\n  cluster:\n    server: {}\n{}\
             users:\n- name: posture-twin\n  user: {}\ncontexts:\n- name: posture-twin\n  context:\n    \
             cluster: posture-twin\n    user: posture-twin\ncurrent-context: posture-twin\npreferences: {{}}\n",
            self.url(),
            match &self.certificate_pem {
                Some(pem) => format!(
                    "    certificate-authority-data: {}\n",
                    base64::Engine::encode(&base64::engine::general_purpose::STANDARD, pem)
                ),
                None => String::new(),
            },
            match &self.shared.token {
                Some(token) => format!("{{token: '{token}'}}"),
                // Over HTTPS kubectl asks for a user name and password when the user has no
                // credentials at all; the twin without a token accepts any.
                None if self.certificate_pem.is_some() => "{token: anonymous}".to_owned(),
                None => "{}".to_owned(),
            }
        )
    }

    /// Writes [`Self::kubeconfig`]; one carrying a token is readable by its owner only.
    pub fn write_kubeconfig(&self, path: &Path) -> std::io::Result<()> {
        std::fs::write(path, self.kubeconfig())?;
        #[cfg(unix)]
        if self.shared.token.is_some() {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
        }
        Ok(())
    }

    pub fn now(&self) -> Timestamp {
        self.shared.twin().now()
    }

    /// Moves virtual time forward and returns the new time.
    pub fn advance(&self, by: SignedDuration) -> Timestamp {
        self.shared.mutate(|twin| {
            twin.advance(by);
            twin.now()
        })
    }

    /// Injects a fault: API faults into the server, cluster faults into the simulation.
    pub fn inject(&self, fault: &Fault) {
        control::inject(&self.shared, fault);
    }

    /// How many requests came over HTTP/2, and how many TLS connections were accepted: what a
    /// client's connection handling looks like from the server.
    pub fn http2_requests_and_connections(&self) -> (u64, u64) {
        (
            self.shared.http2_requests.load(Ordering::Relaxed),
            self.shared.connections.load(Ordering::Relaxed),
        )
    }

    /// How many requests an injected timeout is holding right now.
    pub fn held_requests(&self) -> u64 {
        self.shared.held_requests.load(Ordering::SeqCst)
    }

    /// Reads or changes the twin directly; open watches are woken afterwards.
    pub fn with_twin<R>(&self, f: impl FnOnce(&mut Twin) -> R) -> R {
        self.shared.mutate(f)
    }

    /// Stops serving: open watches end and the listener closes.
    pub async fn shutdown(mut self) {
        self.shared.shutdown.send_replace(true);
        if let Some(ticker) = self.ticker.take() {
            ticker.abort();
        }
        if let Some(server) = self.server.take() {
            let _ = server.await;
        }
    }
}

impl Drop for RunningTwin {
    fn drop(&mut self) {
        self.shared.shutdown.send_replace(true);
        if let Some(ticker) = self.ticker.take() {
            ticker.abort();
        }
    }
}

/// Every request comes through here: control and discovery first, then objects.
async fn handle(
    State(shared): State<Arc<Shared>>,
    version: http::Version,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if version == http::Version::HTTP_2 {
        shared.http2_requests.fetch_add(1, Ordering::Relaxed);
    }
    if let Some(token) = &shared.token
        && !bearer_matches(&headers, token)
    {
        return axum::response::IntoResponse::into_response(status::ApiError::new(
            401,
            "Unauthorized",
            "Unauthorized",
        ));
    }
    let request = Request {
        method,
        path: uri.path().trim_end_matches('/').to_owned(),
        query: objects::Query::parse(&uri),
        headers,
        body,
    };
    let mut response = if let Some(response) = control::route(&shared, &request) {
        response
    } else if let Some(response) = discovery::route(&shared, &request) {
        response
    } else {
        match control::api_fault(&shared).await {
            Some(response) => response,
            None => {
                let method = request.method.clone();
                let path = request.path.clone();
                let dry_run = request.query.dry_run();
                let response = objects::route(&shared, request).await;
                control::lose_reply(&shared, &method, &path, dry_run, response).await
            }
        }
    };
    let now = shared.twin().now();
    if let Ok(date) = HeaderValue::from_str(&http_date(now)) {
        response.headers_mut().insert(http::header::DATE, date);
    }
    response
}

/// Whether the request carries `Authorization: Bearer <token>`, compared in constant time.
fn bearer_matches(headers: &HeaderMap, token: &str) -> bool {
    let Some(given) = headers
        .get(http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
    else {
        return false;
    };
    given.len() == token.len()
        && given
            .bytes()
            .zip(token.bytes())
            .fold(0u8, |diff, (a, b)| diff | (a ^ b))
            == 0
}

/// One parsed request, passed to every route.
pub(crate) struct Request {
    pub method: Method,
    pub path: String,
    pub query: objects::Query,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Request {
    pub(crate) fn accept(&self) -> &str {
        self.headers
            .get(http::header::ACCEPT)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }

    pub(crate) fn content_type(&self) -> &str {
        self.headers
            .get(http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }
}

/// IMF-fixdate, as HTTP `Date` headers are written.
fn http_date(t: Timestamp) -> String {
    t.strftime("%a, %d %b %Y %H:%M:%S GMT").to_string()
}
