//! Cluster time from the API server's `Date` header: detectors judge in the cluster's time, which
//! for the twin is a virtual clock and for a real cluster may be skewed from this machine's.

use http::Request;
use jiff::Timestamp;

use super::WatchError;

/// The latest cluster time seen; never goes backwards.
#[derive(Debug, Default)]
pub(crate) struct ClusterClock {
    latest: Option<Timestamp>,
    /// The first reading, in this machine's time and the cluster's: how fast the cluster's
    /// clock runs (1x for a real cluster, faster for a sped-up twin) follows from it.
    first: Option<(std::time::Instant, Timestamp)>,
    latest_read_at: Option<std::time::Instant>,
}

impl ClusterClock {
    /// Asks the API server for its time (a cheap `/readyz`) and remembers it.
    pub(crate) async fn refresh(&mut self, client: &kube::Client) -> Result<Timestamp, WatchError> {
        let at = read(client).await?;
        Ok(self.observe(at))
    }

    pub(crate) fn observe(&mut self, at: Timestamp) -> Timestamp {
        self.observe_at(at, std::time::Instant::now())
    }

    fn observe_at(&mut self, at: Timestamp, read_at: std::time::Instant) -> Timestamp {
        self.first.get_or_insert((read_at, at));
        self.latest_read_at = Some(read_at);
        let now = self.latest.map_or(at, |latest| latest.max(at));
        self.latest = Some(now);
        now
    }

    /// Cluster seconds per real second, once readings span at least two real seconds (the
    /// `Date` header counts whole seconds, so shorter spans say little).
    pub(crate) fn rate(&self) -> Option<f64> {
        let (first_read, first) = self.first?;
        let span = self.latest_read_at?.saturating_duration_since(first_read);
        if span < std::time::Duration::from_secs(2) {
            return None;
        }
        let advanced = self.latest?.duration_since(first).as_secs_f64();
        Some(advanced / span.as_secs_f64())
    }

    pub(crate) fn now(&self) -> Option<Timestamp> {
        self.latest
    }
}

/// The API server's time, from the `Date` header of a cheap `/readyz`.
pub(crate) async fn read(client: &kube::Client) -> Result<Timestamp, WatchError> {
    let request = Request::get("/readyz")
        .body(Vec::new())
        .map_err(|e| WatchError::Request(e.to_string()))?;
    let response = client
        .send(request.map(kube::client::Body::from))
        .await
        .map_err(WatchError::Unreachable)?;
    let date = response
        .headers()
        .get(http::header::DATE)
        .and_then(|v| v.to_str().ok())
        .ok_or(WatchError::NoDate)?;
    parse_http_date(date)
}

pub(crate) fn parse_http_date(text: &str) -> Result<Timestamp, WatchError> {
    jiff::fmt::rfc2822::parse(text)
        .map(|zoned| zoned.timestamp())
        .map_err(|_| WatchError::BadDate(text.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_rate_follows_the_readings_once_they_span_two_seconds() {
        let start = std::time::Instant::now();
        let t0: Timestamp = "2026-11-23T12:00:00Z".parse().expect("valid");
        let mut clock = ClusterClock::default();
        clock.observe_at(t0, start);
        clock.observe_at(
            t0 + jiff::SignedDuration::from_secs(200),
            start + std::time::Duration::from_secs(1),
        );
        assert_eq!(clock.rate(), None, "one second says little");
        clock.observe_at(
            t0 + jiff::SignedDuration::from_secs(800),
            start + std::time::Duration::from_secs(4),
        );
        assert_eq!(clock.rate(), Some(200.0));
    }

    #[test]
    fn http_dates_parse_and_time_never_goes_back() {
        let at = parse_http_date("Mon, 23 Nov 2026 12:00:05 GMT").expect("valid date");
        assert_eq!(at.to_string(), "2026-11-23T12:00:05Z");
        let mut clock = ClusterClock::default();
        assert_eq!(clock.observe(at), at);
        let earlier = parse_http_date("Mon, 23 Nov 2026 12:00:01 GMT").expect("valid date");
        assert_eq!(clock.observe(earlier), at);
        assert!(parse_http_date("yesterday").is_err());
    }
}
