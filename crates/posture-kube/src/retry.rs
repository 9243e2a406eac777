//! Repeating requests that are safe to repeat (reads, and the lock's own create-or-replace):
//! a throttled or failed one is tried again a few times, with a growing pause, before the
//! caller gives up. Writes are never repeated here; the apply machine decides about those.
//!
//! Bounded like the client's own retries (see [`crate::deadline`]): at most six calls, no new
//! one once [`RETRY_BUDGET`] has passed, a `Retry-After` the server sent is waited out, and a
//! request that already used up its whole deadline is not repeated.

use std::time::Duration;

use crate::deadline::{RETRY_BUDGET, timed_out};

/// Whether a failed request is worth repeating: throttled, a server error, or no connection.
pub(crate) fn transient(error: &kube::Error) -> bool {
    match error {
        kube::Error::Api(status) => status.code == 429 || status.code >= 500,
        other => timed_out(other).is_none(),
    }
}

/// Calls `call` until it succeeds or fails in a way `retriable` rejects, at most six times,
/// pausing 100 ms, then twice as long each time (at most 5 s), and never starting a call
/// later than [`RETRY_BUDGET`] after the first.
pub(crate) async fn retrying<T, E, F, Fut>(call: F, retriable: impl Fn(&E) -> bool) -> Result<T, E>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, E>>,
{
    retrying_within(RETRY_BUDGET, call, retriable).await
}

async fn retrying_within<T, E, F, Fut>(
    budget: Duration,
    mut call: F,
    retriable: impl Fn(&E) -> bool,
) -> Result<T, E>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, E>>,
{
    let started = tokio::time::Instant::now();
    let mut pause = Duration::from_millis(100);
    for _ in 0..5 {
        match call().await {
            Err(e) if retriable(&e) && started.elapsed() + pause <= budget => {
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(Duration::from_secs(5));
            }
            other => return other,
        }
    }
    call().await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn retries_stop_at_the_budget() {
        let mut calls = 0;
        let result: Result<(), ()> = retrying_within(
            Duration::from_millis(400),
            || {
                calls += 1;
                async {
                    tokio::time::sleep(Duration::from_millis(200)).await;
                    Err(())
                }
            },
            |_| true,
        )
        .await;
        assert!(result.is_err());
        assert_eq!(
            calls, 2,
            "a second call starts inside the budget, a third would not"
        );
    }

    #[test]
    fn a_request_that_timed_out_is_not_repeated() {
        let timed_out = kube::Error::Service(Box::new(crate::deadline::TimedOut {
            timeout: Duration::from_secs(1),
        }));
        assert!(!transient(&timed_out));
        let throttled = kube::core::Status::failure("slow down", "TooManyRequests").with_code(429);
        assert!(transient(&kube::Error::Api(throttled.boxed())));
    }
}
