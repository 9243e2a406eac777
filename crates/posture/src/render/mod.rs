//! Text shown by more than one command or view: a check report for people (`human`) or
//! programs (`structured`), a plan's diff (`diff`), an alert line (`alert`), a drill's
//! what-if (`drill`) and an observed drill's report (`drill_report`).

pub(crate) mod alert;
pub(crate) mod check_html;
pub(crate) mod ci;
pub(crate) mod diff;
pub(crate) mod drill;
pub(crate) mod drill_report;
pub(crate) mod human;
pub(crate) mod structured;

use std::io::Write;

use crate::error::CliError;

/// Writes to stdout, keeping colour only on a terminal and never when `NO_COLOR` is set.
pub(crate) fn write_stdout(text: &str) -> Result<(), CliError> {
    // Text without escape sequences (JSON, YAML, plain) needs no colour handling: megabytes of
    // report go straight out.
    let written = if text.as_bytes().contains(&0x1b) {
        let mut out = anstream::stdout().lock();
        out.write_all(text.as_bytes()).and_then(|()| out.flush())
    } else {
        let mut out = std::io::stdout().lock();
        out.write_all(text.as_bytes()).and_then(|()| out.flush())
    };
    written
        .or_else(|e| match e.kind() {
            // `posture check | head` closing the pipe early is not a failure.
            std::io::ErrorKind::BrokenPipe => Ok(()),
            _ => Err(e),
        })
        .map_err(|source| CliError::Write {
            path: "stdout".into(),
            source,
        })
}
