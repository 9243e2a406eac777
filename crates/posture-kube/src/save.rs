//! Writes a collection as the multi-document stream that `posture check --snapshot` loads again.
//!
//! Each document is written as indented JSON after a `---` line. JSON is YAML's flow style, so the
//! file is still multi-document YAML for every YAML tool, reads like `kubectl get -o json`, and
//! loads many times faster than block-style YAML (see `posture_core::load`).

use std::io::Write;

use posture_core::load::posture_documents;
use serde_json::{Value, json};

use crate::collect::Collection;

/// The collection's documents in the order they are saved: posture's own documents (provenance,
/// health, what could not be read) first, then every collected object.
fn documents(collection: &Collection) -> impl Iterator<Item = std::borrow::Cow<'_, Value>> {
    let mut own = posture_documents(&collection.snapshot);
    // An installed Longhorn with no objects yet must still load as installed.
    let has_longhorn_objects = collection.documents.iter().any(|d| {
        d.get("apiVersion").and_then(Value::as_str) == Some(posture_core::longhorn::API_VERSION)
    });
    if collection.snapshot.longhorn.is_some() && !has_longhorn_objects {
        own.push(json!({
            "apiVersion": "apiextensions.k8s.io/v1",
            "kind": "CustomResourceDefinition",
            "metadata": {"name": "volumes.longhorn.io"},
            "spec": {"group": "longhorn.io"},
        }));
    }
    (own.into_iter().map(std::borrow::Cow::Owned))
        .chain(collection.documents.iter().map(std::borrow::Cow::Borrowed))
}

/// Writes the collection to `out` one document at a time.
pub fn write_snapshot(collection: &Collection, out: &mut impl Write) -> std::io::Result<()> {
    for document in documents(collection) {
        out.write_all(b"---\n")?;
        serde_json::to_writer_pretty(&mut *out, document.as_ref())?;
        out.write_all(b"\n")?;
    }
    out.flush()
}

/// The collection as one string, as [`write_snapshot`] writes it.
pub fn snapshot_text(collection: &Collection) -> String {
    let mut out = Vec::new();
    write_snapshot(collection, &mut out).expect("writing to memory does not fail");
    String::from_utf8(out).expect("serde_json writes UTF-8")
}
