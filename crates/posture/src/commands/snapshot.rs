//! `posture snapshot`: save what `check` reads, so it can be judged later or elsewhere.

use std::path::{Path, PathBuf};

use crate::cli::{GlobalArgs, SnapshotArgs};
use crate::error::{CliError, exit};
use crate::render;

pub(crate) fn run(global: &GlobalArgs, args: &SnapshotArgs) -> Result<u8, CliError> {
    let host_facts = super::load_host_facts(&args.host_facts)?;
    let mut collection = super::collect_live_documents(global)?;
    collection.snapshot.host_facts.extend(host_facts);
    let target = args.output.to_string_lossy();
    if target == "-" {
        render::write_stdout(&posture_kube::save::snapshot_text(&collection))?;
    } else {
        write_whole(&args.output, &collection).map_err(|source| CliError::Write {
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

/// Streams the documents beside the target and renames, so an interrupted run never leaves half a
/// snapshot.
fn write_whole(path: &Path, collection: &posture_kube::Collection) -> std::io::Result<()> {
    let mut partial = path.as_os_str().to_owned();
    partial.push(".partial");
    let partial = PathBuf::from(partial);
    let written = std::fs::File::create(&partial).and_then(|file| {
        let mut out = std::io::BufWriter::with_capacity(1 << 16, file);
        posture_kube::save::write_snapshot(collection, &mut out)
    });
    written
        .and_then(|()| std::fs::rename(&partial, path))
        .inspect_err(|_| {
            let _ = std::fs::remove_file(&partial);
        })
}
