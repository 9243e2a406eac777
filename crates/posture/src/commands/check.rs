//! `posture check`: judge a live cluster or a saved snapshot against the runbook.

use std::io::Read;

use posture_core::{Snapshot, load_snapshot_str};

use crate::cli::{CheckArgs, GlobalArgs, OutputFormat};
use crate::error::{CliError, exit};
use crate::render;

pub(crate) fn run(global: &GlobalArgs, args: &CheckArgs) -> Result<u8, CliError> {
    let policy = super::load_policy(global)?;
    let snapshot = match &args.snapshot {
        Some(path) => load_file(&path.to_string_lossy())?,
        None => super::collect_live(global)?.snapshot,
    };
    // Checks that needed these say "unknown"; say why once, where it does not disturb stdout.
    for unreadable in &snapshot.unreadable {
        anstream::eprintln!(
            "note: could not read {}: {}",
            unreadable.resource,
            unreadable.reason
        );
    }
    let report = posture_core::checks::run(&snapshot, &policy);
    let text = match args.output {
        OutputFormat::Human => render::human::render(&report),
        OutputFormat::Json => render::structured::json(&report)?,
        OutputFormat::Yaml => render::structured::yaml(&report)?,
    };
    render::write_stdout(&text)?;
    let failed = report
        .findings
        .iter()
        .any(|f| args.fail_on.is_reached_by(f.severity));
    Ok(if failed { exit::FINDINGS } else { exit::OK })
}

/// Loads a saved snapshot; `-` reads stdin.
fn load_file(path: &str) -> Result<Snapshot, CliError> {
    let (name, text) = if path == "-" {
        let mut text = String::new();
        std::io::stdin()
            .read_to_string(&mut text)
            .map_err(|source| CliError::ReadSnapshot {
                path: "<stdin>".into(),
                source,
            })?;
        ("<stdin>", text)
    } else {
        let text = std::fs::read_to_string(path).map_err(|source| CliError::ReadSnapshot {
            path: path.to_owned(),
            source,
        })?;
        (path, text)
    };
    super::shallow(name, &text)?;
    load_snapshot_str(name, &text).map_err(CliError::Snapshot)
}
