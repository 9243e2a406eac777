//! Repeating requests that are safe to repeat (reads, and the lock's own create-or-replace):
//! a throttled or failed one is tried again a few times, with a growing pause, before the
//! caller gives up. Writes are never repeated here; the apply machine decides about those.

use std::time::Duration;

/// Whether a failed request is worth repeating: throttled, a server error, or no answer.
pub(crate) fn transient(error: &kube::Error) -> bool {
    match error {
        kube::Error::Api(status) => status.code == 429 || status.code >= 500,
        _ => true,
    }
}

/// Calls `call` until it succeeds or fails in a way `retriable` rejects, at most six times,
/// pausing 100 ms, then twice as long each time (at most 5 s).
pub(crate) async fn retrying<T, E, F, Fut>(
    mut call: F,
    retriable: impl Fn(&E) -> bool,
) -> Result<T, E>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, E>>,
{
    let mut pause = Duration::from_millis(100);
    for _ in 0..5 {
        match call().await {
            Err(e) if retriable(&e) => {
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(Duration::from_secs(5));
            }
            other => return other,
        }
    }
    call().await
}
