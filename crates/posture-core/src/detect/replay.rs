//! Replays a recorded JSON-lines stream of signals through fresh detectors, so a recording of
//! `posture watch` reproduces exactly the alerts seen live.

use super::Detectors;
use super::alert::Alert;
use super::policy::DetectPolicy;
use super::signal::Signal;

#[derive(Debug, thiserror::Error)]
#[error("line {line}: failed to parse signal")]
pub struct ReplayError {
    pub line: usize,
    #[source]
    pub source: serde_json::Error,
}

/// Parses one recorded line. Blank lines (and surrounding whitespace) yield `None`.
pub fn parse_line(line: &str) -> Result<Option<Signal>, serde_json::Error> {
    let line = line.trim();
    if line.is_empty() {
        return Ok(None);
    }
    serde_json::from_str(line).map(Some)
}

/// Every alert the recorded `lines` raise and clear, in order. Stops at the first line that is
/// not a signal, naming it (1-based).
pub fn replay<'a>(
    lines: impl IntoIterator<Item = &'a str>,
    policy: &DetectPolicy,
) -> Result<Vec<Alert>, ReplayError> {
    let mut detectors = Detectors::new(policy);
    let mut alerts = Vec::new();
    for (index, line) in lines.into_iter().enumerate() {
        let signal = parse_line(line).map_err(|source| ReplayError {
            line: index + 1,
            source,
        })?;
        if let Some(signal) = signal {
            alerts.extend(detectors.observe(&signal));
        }
    }
    Ok(alerts)
}
