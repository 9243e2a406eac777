//! Replays a recorded JSON-lines stream of signals through fresh detectors, so a recording of
//! `posture watch` reproduces exactly the alerts seen live.
//!
//! A recording may open with a header line naming its schema (`{"schema":"posture.dev/v1/signals"}`),
//! so a future format change is refused instead of misread; recordings without one are read as
//! the current schema.

use serde::Deserialize;

use super::Detectors;
use super::alert::Alert;
use super::policy::DetectPolicy;
use super::signal::Signal;

pub const SIGNALS_SCHEMA: &str = "posture.dev/v1/signals";

/// The first line of a recording.
pub fn header_line() -> String {
    format!(r#"{{"schema":"{SIGNALS_SCHEMA}"}}"#)
}

#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    #[error("line {line}: failed to parse signal")]
    Parse {
        line: usize,
        #[source]
        source: serde_json::Error,
    },
    #[error("line {line}: recording schema {found} is not {SIGNALS_SCHEMA}")]
    Schema { line: usize, found: String },
}

impl ReplayError {
    /// The 1-based line at fault.
    pub fn line(&self) -> usize {
        match self {
            Self::Parse { line, .. } | Self::Schema { line, .. } => *line,
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Header {
    schema: String,
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
        let number = index + 1;
        if index == 0 && line.trim_start().starts_with(r#"{"schema""#) {
            let header: Header =
                serde_json::from_str(line.trim()).map_err(|source| ReplayError::Parse {
                    line: number,
                    source,
                })?;
            if header.schema != SIGNALS_SCHEMA {
                return Err(ReplayError::Schema {
                    line: number,
                    found: header.schema,
                });
            }
            continue;
        }
        let signal = parse_line(line).map_err(|source| ReplayError::Parse {
            line: number,
            source,
        })?;
        if let Some(signal) = signal {
            alerts.extend(detectors.observe(&signal));
        }
    }
    Ok(alerts)
}
