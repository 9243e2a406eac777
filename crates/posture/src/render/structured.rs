//! `-o json` and `-o yaml`: the report exactly as its documented schema says.

use std::io::{self, Write};

use posture_core::Report;

use crate::error::CliError;

/// The serialized forms of a report.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Format {
    Json,
    Yaml,
}

/// Writes `report` to stdout as it serializes: a large cluster's report is tens of megabytes,
/// better not held a second time as text. A reader that closes the pipe early (`| head`) is not
/// a failure.
pub(crate) fn print(report: &Report, format: Format) -> Result<(), CliError> {
    let mut out = RememberError {
        inner: io::BufWriter::with_capacity(1 << 16, io::stdout().lock()),
        error: None,
    };
    let flushed = write(report, format, &mut out).and_then(|()| out.flush().map_err(Into::into));
    match (flushed, out.error) {
        (Ok(()), _) => Ok(()),
        (Err(_), Some(io::ErrorKind::BrokenPipe)) => Ok(()),
        (Err(_), Some(kind)) => Err(CliError::Write {
            path: "stdout".into(),
            source: io::Error::from(kind),
        }),
        (Err(source), None) => Err(CliError::Serialize {
            what: "report",
            source,
        }),
    }
}

type SerializeError = Box<dyn std::error::Error + Send + Sync>;

/// `report` in `format`, as `print` writes it.
fn write(report: &Report, format: Format, out: &mut impl Write) -> Result<(), SerializeError> {
    match format {
        Format::Json => {
            serde_json::to_writer_pretty(&mut *out, report)?;
            out.write_all(b"\n")?;
        }
        Format::Yaml => serde_norway::to_writer(out, report)?,
    }
    Ok(())
}

/// A writer that keeps the kind of the I/O error it failed with, which a serializer's own
/// error type may not expose.
struct RememberError<W> {
    inner: W,
    error: Option<io::ErrorKind>,
}

impl<W: Write> Write for RememberError<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.inner
            .write(buf)
            .inspect_err(|e| self.error = Some(e.kind()))
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner
            .flush()
            .inspect_err(|e| self.error = Some(e.kind()))
    }
}

/// Any JSON document (`check -o sarif`), pretty-printed with a final newline.
pub(crate) fn print_value(value: &serde_json::Value) -> Result<(), CliError> {
    let mut text = serde_json::to_string_pretty(value).map_err(|source| CliError::Serialize {
        what: "report",
        source: Box::new(source),
    })?;
    text.push('\n');
    super::write_stdout(&text)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(report: &Report, format: Format) -> String {
        let mut out = Vec::new();
        write(report, format, &mut out).expect("serializes");
        String::from_utf8(out).expect("UTF-8")
    }

    #[test]
    fn schema_comes_first_in_both_formats() {
        let report = Report::new("x.yaml").finish();
        let json = text(&report, Format::Json);
        assert!(
            json.starts_with("{\n  \"schema\": \"posture.dev/v1/report\""),
            "{json}"
        );
        assert!(json.ends_with("}\n"), "{json}");
        let yaml = text(&report, Format::Yaml);
        assert!(
            yaml.starts_with("schema: posture.dev/v1/report\n"),
            "{yaml}"
        );
        let back: Report = serde_json::from_str(&json).expect("round trip");
        assert_eq!(back, report);
    }
}
