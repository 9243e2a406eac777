//! `posture host`: read a k3s host's own files into a `HostFacts` document. The reading and
//! judging live in `posture_core::host`; this is the file system under `--root`.

use std::path::{Path, PathBuf};

use posture_core::host::{FileMeta, HostTree, read_host};

use crate::cli::{HostArgs, HostFormat};
use crate::error::{CliError, exit};
use crate::render;

pub(crate) fn run(args: &HostArgs) -> Result<u8, CliError> {
    std::fs::read_dir(&args.root).map_err(|source| CliError::HostRoot {
        path: args.root.clone(),
        source,
    })?;
    let tree = Files {
        root: args.root.clone(),
    };
    let facts = read_host(
        &tree,
        &args.root.display().to_string(),
        Some(jiff::Timestamp::now()),
    );
    for problem in &facts.unreadable {
        anstream::eprintln!("note: {problem}");
    }
    let document = posture_core::load::host_facts_document(&facts);
    let text = match args.output {
        HostFormat::Yaml => {
            serde_norway::to_string(&document).map_err(|e| CliError::Serialize {
                what: "host facts",
                source: Box::new(e),
            })?
        }
        HostFormat::Json => {
            let mut text =
                serde_json::to_string_pretty(&document).map_err(|e| CliError::Serialize {
                    what: "host facts",
                    source: Box::new(e),
                })?;
            text.push('\n');
            text
        }
    };
    render::write_stdout(&text)?;
    Ok(exit::OK)
}

/// The host's files, each absolute path taken below `root`.
struct Files {
    root: PathBuf,
}

impl Files {
    fn path(&self, path: &str) -> PathBuf {
        self.root.join(Path::new(path.trim_start_matches('/')))
    }
}

impl HostTree for Files {
    fn read(&self, path: &str) -> Option<Result<String, String>> {
        match std::fs::read_to_string(self.path(path)) {
            Ok(text) => Some(Ok(text)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied => {
                Some(Err("permission denied (run as root to read it)".into()))
            }
            Err(e) => Some(Err(e.to_string())),
        }
    }

    fn list(&self, path: &str) -> Option<Vec<String>> {
        let entries = std::fs::read_dir(self.path(path)).ok()?;
        let mut names: Vec<String> = entries
            .filter_map(Result::ok)
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        Some(names)
    }

    fn meta(&self, path: &str) -> Option<FileMeta> {
        let meta = std::fs::metadata(self.path(path)).ok()?;
        Some(FileMeta {
            size: meta.len(),
            modified: meta
                .modified()
                .ok()
                .and_then(|t| jiff::Timestamp::try_from(t).ok()),
            is_dir: meta.is_dir(),
        })
    }
}
