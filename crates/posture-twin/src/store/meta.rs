//! Metadata helpers the store's writes share: deletion state, finalizers, type and object
//! metadata, and the deterministic uids and name suffixes the twin generates.

use serde_json::{Value, json};

use super::StoreError;
use crate::resources::ResourceType;

pub(super) fn not_found(rt: &ResourceType, name: &str) -> StoreError {
    let kind = if rt.group.is_empty() {
        rt.plural.to_owned()
    } else {
        format!("{}.{}", rt.plural, rt.group)
    };
    StoreError::NotFound {
        kind,
        name: name.to_owned(),
    }
}

pub(super) fn is_deleting(object: &Value) -> bool {
    object
        .pointer("/metadata/deletionTimestamp")
        .is_some_and(|t| !t.is_null())
}

pub(super) fn has_finalizers(object: &Value) -> bool {
    object
        .pointer("/metadata/finalizers")
        .and_then(Value::as_array)
        .is_some_and(|f| !f.is_empty())
}

pub(super) fn meta_str(object: &Value, field: &str) -> Option<String> {
    object
        .get("metadata")?
        .get(field)?
        .as_str()
        .map(str::to_owned)
}

pub(super) fn ensure_metadata(object: &mut Value) -> &mut serde_json::Map<String, Value> {
    if !object.is_object() {
        *object = json!({});
    }
    let obj = object.as_object_mut().expect("made an object above");
    let meta = obj.entry("metadata").or_insert_with(|| json!({}));
    if !meta.is_object() {
        *meta = json!({});
    }
    meta.as_object_mut().expect("made an object above")
}

pub(super) fn set_type_meta(object: &mut Value, rt: &ResourceType) {
    if let Some(obj) = object.as_object_mut() {
        obj.insert("apiVersion".into(), json!(rt.api_version()));
        obj.insert("kind".into(), json!(rt.kind));
    }
}

/// Deterministic UIDs: the twin must replay identically under the same inputs.
pub(super) fn uid(counter: u64) -> String {
    format!("00000000-0000-4000-8000-{counter:012x}")
}

/// Five lowercase alphanumerics, like the suffixes Kubernetes generates.
pub fn short_suffix(seed: u64) -> String {
    const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ 0xDEAD_BEEF;
    (0..5)
        .map(|_| {
            let c = ALPHABET[(x % ALPHABET.len() as u64) as usize] as char;
            x /= ALPHABET.len() as u64;
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            c
        })
        .collect()
}
