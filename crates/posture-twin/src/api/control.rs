//! The twin's control plane for tests and demos (`/twin/v1/...`), API-side faults, and the
//! ticker that runs virtual time at a multiple of real time.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use axum::response::Response;
use http::Method;
use jiff::SignedDuration;
use serde::Deserialize;
use serde_json::json;
use tokio::time::Instant;

use super::status::{ApiError, json_response};
use super::{Request, Shared};
use crate::clock::rfc3339;
use crate::fault::Fault;

/// API-side faults currently in force.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ApiFaults {
    /// Share of requests answered with an error, and the status code used.
    pub errors: Option<(f64, u16)>,
    /// Share of requests held until the fault is cleared.
    pub timeouts: Option<f64>,
    /// Plural of the resources whose writes are carried out and then held unanswered.
    pub lost_replies: Option<String>,
}

/// Whether request number `n` is among the `rate` share picked, spreading picks evenly so
/// that exactly `floor(n * rate)` of the first `n` requests are picked.
pub(crate) fn picked(n: u64, rate: f64) -> bool {
    let rate = rate.clamp(0.0, 1.0);
    ((n + 1) as f64 * rate).floor() > (n as f64 * rate).floor()
}

#[derive(Debug, Deserialize)]
struct AdvanceBody {
    seconds: f64,
}

pub(crate) fn route(shared: &Shared, request: &Request) -> Option<Response> {
    let endpoint = request.path.strip_prefix("/twin/v1/")?;
    let result = match (&request.method, endpoint) {
        (&Method::GET, "now") => Ok(now_body(shared)),
        (&Method::POST, "advance") => advance(shared, request),
        (&Method::POST, "faults") => serde_json::from_slice::<Fault>(&request.body)
            .map_err(|e| ApiError::bad_request(format!("invalid fault: {e}")))
            .and_then(|fault| missing_target(&shared.twin(), &fault).map_or(Ok(fault), Err))
            .map(|fault| {
                inject(shared, &fault);
                json!({"injected": fault})
            }),
        (&Method::GET, "faults") => {
            let faults = shared.faults().clone();
            let held = shared.held_requests.load(Ordering::SeqCst);
            Ok(json!({"errors": faults.errors, "timeouts": faults.timeouts,
                "lostReplies": faults.lost_replies, "held": held}))
        }
        (_, "now" | "advance" | "faults") => Err(ApiError::method_not_allowed()),
        _ => Err(ApiError::not_found_path()),
    };
    Some(match result {
        Ok(body) => json_response(200, &body),
        Err(error) => axum::response::IntoResponse::into_response(error),
    })
}

fn now_body(shared: &Shared) -> serde_json::Value {
    json!({"now": rfc3339(shared.twin().now())})
}

fn advance(shared: &Shared, request: &Request) -> Result<serde_json::Value, ApiError> {
    let body: AdvanceBody = serde_json::from_slice(&request.body)
        .map_err(|e| ApiError::bad_request(format!("expected {{\"seconds\": N}}: {e}")))?;
    let by = SignedDuration::try_from_secs_f64(body.seconds)
        .ok()
        .filter(|d| !d.is_negative())
        .ok_or_else(|| ApiError::bad_request("seconds must be a non-negative number"))?;
    shared.mutate(|twin| twin.advance(by));
    Ok(now_body(shared))
}

/// A fault aimed at a node, pod, lease or volume the twin does not have: 404, as the API
/// server answers for a missing object, so nothing is "injected" into thin air.
fn missing_target(twin: &crate::Twin, fault: &Fault) -> Option<ApiError> {
    let (group, plural, namespace, name) = match fault {
        Fault::StopNode { node }
        | Fault::StartNode { node }
        | Fault::PartitionNode { node }
        | Fault::HealNode { node } => ("", "nodes", None, node),
        Fault::CrashLoop { namespace, pod } | Fault::FlapReadiness { namespace, pod, .. } => {
            ("", "pods", Some(namespace), pod)
        }
        Fault::LeaseThrash {
            namespace, name, ..
        } => ("coordination.k8s.io", "leases", Some(namespace), name),
        Fault::FailRebuilds {
            volume: Some(volume),
        } => ("longhorn.io", "volumes", None, volume),
        _ => return None,
    };
    let rt = crate::resources::by_plural(group, plural)?;
    let found = twin
        .store
        .list(rt, namespace.map(String::as_str))
        .any(|(key, _)| key.name == *name);
    (!found).then(|| {
        let mut error = ApiError::not_found(rt, name);
        if let Some(namespace) = namespace {
            error.message = format!("{} in namespace \"{namespace}\"", error.message);
        }
        error
    })
}

/// API faults change the server; cluster faults go to the simulation.
pub(crate) fn inject(shared: &Shared, fault: &Fault) {
    match fault {
        Fault::ApiErrors { rate, status } => {
            shared.faults().errors = Some((*rate, *status));
            shared.fault_changes.send_modify(|n| *n += 1);
        }
        Fault::ApiTimeouts { rate } => {
            shared.faults().timeouts = Some(*rate);
            shared.fault_changes.send_modify(|n| *n += 1);
        }
        Fault::LostReplies { plural } => {
            shared.faults().lost_replies = Some(plural.clone());
            shared.fault_changes.send_modify(|n| *n += 1);
        }
        Fault::RestartApi => {
            shared.restarts.send_modify(|n| *n += 1);
        }
        Fault::Compact => shared.mutate(|twin| twin.store.compact()),
        Fault::ClearAll => {
            *shared.faults() = ApiFaults::default();
            shared.fault_changes.send_modify(|n| *n += 1);
            shared.mutate(|twin| twin.inject(fault));
        }
        cluster => shared.mutate(|twin| twin.inject(cluster)),
    }
}

/// An injected error or timeout for this request, if the active faults pick it.
pub(crate) async fn api_fault(shared: &Shared) -> Option<Response> {
    let faults = shared.faults().clone();
    if faults == ApiFaults::default() {
        return None;
    }
    let n = shared.next_request_number();
    if let Some((rate, code)) = faults.errors
        && picked(n, rate)
    {
        return Some(injected_error(code));
    }
    if let Some(rate) = faults.timeouts
        && picked(n, rate)
    {
        hold_until_cleared(shared).await;
        return Some(axum::response::IntoResponse::into_response(ApiError::new(
            504,
            "Timeout",
            "the server was unable to return a response in the time allotted, but may still be processing the request",
        )));
    }
    None
}

fn injected_error(code: u16) -> Response {
    let (reason, message) = match code {
        429 => (
            "TooManyRequests",
            "the server has received too many requests and has asked us to try again later",
        ),
        503 => (
            "ServiceUnavailable",
            "the server is currently unable to handle the request",
        ),
        _ => (
            "InternalError",
            "an error on the server (\"injected fault\") has prevented the request from succeeding",
        ),
    };
    let mut response =
        axum::response::IntoResponse::into_response(ApiError::new(code, reason, message));
    if code == 429 {
        response.headers_mut().insert(
            http::header::RETRY_AFTER,
            http::HeaderValue::from_static("1"),
        );
    }
    response
}

/// Counts a held request for as long as it is held, even when the client gives up first.
struct HeldRequest<'a>(&'a Shared);

impl<'a> HeldRequest<'a> {
    fn new(shared: &'a Shared) -> Self {
        shared.held_requests.fetch_add(1, Ordering::SeqCst);
        Self(shared)
    }
}

impl Drop for HeldRequest<'_> {
    fn drop(&mut self) {
        self.0.held_requests.fetch_sub(1, Ordering::SeqCst);
    }
}

/// After a write was carried out: holds the answer when the write's resource loses its replies.
pub(crate) async fn lose_reply(
    shared: &Shared,
    method: &Method,
    path: &str,
    dry_run: bool,
    response: Response,
) -> Response {
    let mutating = matches!(
        *method,
        Method::POST | Method::PUT | Method::PATCH | Method::DELETE
    );
    let Some(plural) = shared.faults().lost_replies.clone() else {
        return response;
    };
    let names_it = path.split('/').any(|s| s == plural);
    if !mutating || dry_run || !names_it || !response.status().is_success() {
        return response;
    }
    let _held = HeldRequest::new(shared);
    let mut fault_changes = shared.fault_changes.subscribe();
    let mut shutdown = shared.shutdown.subscribe();
    while shared.faults().lost_replies.is_some() && !*shutdown.borrow() {
        tokio::select! {
            changed = fault_changes.changed() => if changed.is_err() { break },
            _ = shutdown.changed() => break,
        }
    }
    axum::response::IntoResponse::into_response(ApiError::new(
        504,
        "Timeout",
        "the server was unable to return a response in the time allotted, but may still be processing the request",
    ))
}

async fn hold_until_cleared(shared: &Shared) {
    let _held = HeldRequest::new(shared);
    let mut fault_changes = shared.fault_changes.subscribe();
    let mut shutdown = shared.shutdown.subscribe();
    while shared.faults().timeouts.is_some() && !*shutdown.borrow() {
        tokio::select! {
            changed = fault_changes.changed() => if changed.is_err() { return },
            _ = shutdown.changed() => return,
        }
    }
}

/// Advances virtual time by `speed` times the real time elapsed, in small steps.
///
/// When the machine cannot keep up (a debug build sharing two cores with its tests, say), the
/// clock slows down rather than catching up: one tick advances at most a few steps' worth, and
/// a late tick is not followed by a burst of ticks. Catching up would hold the twin for longer
/// than the time it catches up on, so every tick would be later than the last, and the API,
/// starved of the twin, would stop answering.
pub(crate) async fn run_clock(shared: Arc<Shared>, speed: f64) {
    let speed = if speed.is_finite() {
        speed.clamp(0.0, 1e6)
    } else {
        1.0
    };
    let step = clock_step(speed);
    let most_per_tick = step.mul_f64(speed * CATCH_UP_TICKS);
    let mut ticker = tokio::time::interval(step);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut last = Instant::now();
    loop {
        ticker.tick().await;
        let now = Instant::now();
        let elapsed = now
            .saturating_duration_since(last)
            .mul_f64(speed)
            .min(most_per_tick);
        last = now;
        if let Ok(by) = SignedDuration::try_from(elapsed) {
            shared.mutate(|twin| twin.advance(by));
        }
    }
}

/// How many ticks' worth of virtual time one late tick may make up.
const CATCH_UP_TICKS: f64 = 4.0;

/// How often the sped-up clock advances: every 100 ms, but often enough that one step is at
/// most about two virtual seconds, so leases renewed every few seconds are seen renewing on
/// time rather than in bursts after a long jump.
fn clock_step(speed: f64) -> Duration {
    const MOST_VIRTUAL_PER_STEP: f64 = 2.0;
    let seconds = (MOST_VIRTUAL_PER_STEP / speed.max(f64::MIN_POSITIVE)).clamp(0.005, 0.1);
    Duration::from_secs_f64(seconds)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Twin;

    #[test]
    fn fast_clocks_step_often_and_slow_ones_every_100_ms() {
        assert_eq!(clock_step(1.0), Duration::from_millis(100));
        assert_eq!(clock_step(200.0), Duration::from_millis(10));
        assert_eq!(clock_step(1e6), Duration::from_millis(5));
    }

    #[test]
    fn faults_at_objects_the_twin_lacks_are_refused() {
        let twin = Twin::homelab("2026-11-23T12:00:00Z".parse().expect("valid"));
        let node = |name: &str| Fault::StopNode { node: name.into() };
        let error = missing_target(&twin, &node("nosuchnode")).expect("refused");
        assert_eq!(error.code, 404);
        assert!(
            error.message.contains("\"nosuchnode\" not found"),
            "{}",
            error.message
        );
        let pod = Fault::CrashLoop {
            namespace: "nowhere".into(),
            pod: "nothing".into(),
        };
        assert!(missing_target(&twin, &pod).is_some());
        let existing = twin
            .store
            .list(
                crate::resources::by_plural("", "nodes").expect("nodes"),
                None,
            )
            .map(|(key, _)| key.name.clone())
            .next()
            .expect("a node");
        assert!(missing_target(&twin, &node(&existing)).is_none());
        assert!(missing_target(&twin, &Fault::ClearAll).is_none());
    }

    #[test]
    fn picks_exactly_the_requested_share() {
        for rate in [0.0, 0.1, 0.25, 0.5, 1.0] {
            let count = (0..1000).filter(|&n| picked(n, rate)).count();
            assert_eq!(count, (1000.0 * rate) as usize, "rate {rate}");
        }
    }

    #[tokio::test(start_paused = true)]
    async fn the_clock_runs_at_the_requested_speed() {
        let start: jiff::Timestamp = "2026-11-23T12:00:00Z".parse().expect("valid");
        let shared = Arc::new(Shared::new(Twin::new(start)));
        // At 200x the clock steps every 10 ms: the last step before 2.005 s is at 2 s.
        let ticker = tokio::spawn(run_clock(Arc::clone(&shared), 200.0));
        tokio::time::sleep(Duration::from_millis(2005)).await;
        ticker.abort();
        let elapsed = shared.twin().now().duration_since(start);
        assert_eq!(elapsed, SignedDuration::from_secs(400));
    }

    #[tokio::test(start_paused = true)]
    async fn a_clock_that_falls_behind_slows_down_rather_than_catching_up() {
        let start: jiff::Timestamp = "2026-11-23T12:00:00Z".parse().expect("valid");
        let shared = Arc::new(Shared::new(Twin::new(start)));
        let ticker = tokio::spawn(run_clock(Arc::clone(&shared), 200.0));
        // The first tick fires at once; the next comes 100 ms late, ten steps in one.
        tokio::task::yield_now().await;
        tokio::time::advance(Duration::from_millis(100)).await;
        tokio::task::yield_now().await;
        ticker.abort();
        let elapsed = shared.twin().now().duration_since(start);
        // 100 ms at 200x is 20 virtual seconds; one late tick makes up at most four steps (8 s).
        assert_eq!(elapsed, SignedDuration::from_secs(8));
    }
}
