//! `posture snapshot`: save what `check` reads, so it can be judged later or elsewhere.

use std::path::{Path, PathBuf};

use crate::cli::{GlobalArgs, SnapshotArgs};
use crate::error::{CliError, exit};
use crate::render;

pub(crate) fn run(global: &GlobalArgs, args: &SnapshotArgs) -> Result<u8, CliError> {
    let collection = super::collect_live(global)?;
    let yaml = posture_kube::snapshot_yaml(&collection).map_err(|e| CliError::Serialize {
        what: "snapshot",
        source: Box::new(e),
    })?;
    let target = args.output.to_string_lossy();
    if target == "-" {
        render::write_stdout(&yaml)?;
    } else {
        write_whole(&args.output, &yaml).map_err(|source| CliError::Write {
            path: target.clone().into_owned(),
            source,
        })?;
        let info = &collection.snapshot.info;
        anstream::eprintln!(
            "saved {} objects from {} (context {}) to {target}",
            collection.documents.len(),
            info.source,
            info.context.as_deref().unwrap_or("-"),
        );
        for unreadable in &collection.snapshot.unreadable {
            anstream::eprintln!(
                "  unreadable: {} ({})",
                unreadable.resource,
                unreadable.reason
            );
        }
    }
    Ok(exit::OK)
}

/// Writes beside the target and renames, so an interrupted run never leaves half a snapshot.
fn write_whole(path: &Path, text: &str) -> std::io::Result<()> {
    let mut partial = path.as_os_str().to_owned();
    partial.push(".partial");
    let partial = PathBuf::from(partial);
    std::fs::write(&partial, text)?;
    std::fs::rename(&partial, path).inspect_err(|_| {
        let _ = std::fs::remove_file(&partial);
    })
}
