//! `-o json` and `-o yaml`: the report exactly as its documented schema says.

use posture_core::Report;

use crate::error::CliError;

pub(crate) fn json(report: &Report) -> Result<String, CliError> {
    let mut text = serde_json::to_string_pretty(report).map_err(|e| CliError::Serialize {
        what: "report",
        source: Box::new(e),
    })?;
    text.push('\n');
    Ok(text)
}

pub(crate) fn yaml(report: &Report) -> Result<String, CliError> {
    serde_norway::to_string(report).map_err(|e| CliError::Serialize {
        what: "report",
        source: Box::new(e),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schema_comes_first_in_both_formats() {
        let report = Report::new("x.yaml").finish();
        let json = json(&report).expect("json");
        assert!(
            json.starts_with("{\n  \"schema\": \"posture.dev/v1/report\""),
            "{json}"
        );
        let yaml = yaml(&report).expect("yaml");
        assert!(
            yaml.starts_with("schema: posture.dev/v1/report\n"),
            "{yaml}"
        );
        let back: Report = serde_json::from_str(&json).expect("round trip");
        assert_eq!(back, report);
    }
}
