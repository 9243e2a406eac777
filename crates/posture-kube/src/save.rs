//! Writes a collection as the multi-document YAML that `posture check --snapshot` loads again.

use posture_core::load::posture_documents;
use serde_json::{Value, json};

use crate::collect::Collection;

/// The collection as YAML documents: posture's own documents (provenance, health, what could not
/// be read) first, then every collected object.
pub fn snapshot_yaml(collection: &Collection) -> Result<String, serde_norway::Error> {
    let mut documents = posture_documents(&collection.snapshot);
    // An installed Longhorn with no objects yet must still load as installed.
    let has_longhorn_objects = collection.documents.iter().any(|d| {
        d.get("apiVersion").and_then(Value::as_str) == Some(posture_core::longhorn::API_VERSION)
    });
    if collection.snapshot.longhorn.is_some() && !has_longhorn_objects {
        documents.push(json!({
            "apiVersion": "apiextensions.k8s.io/v1",
            "kind": "CustomResourceDefinition",
            "metadata": {"name": "volumes.longhorn.io"},
            "spec": {"group": "longhorn.io"},
        }));
    }
    let mut out = String::new();
    for document in documents.iter().chain(&collection.documents) {
        out.push_str("---\n");
        out.push_str(&serde_norway::to_string(document)?);
    }
    Ok(out)
}
