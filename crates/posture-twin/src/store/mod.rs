//! The twin's object store: every object as JSON, one cluster-wide resourceVersion counter, and a
//! bounded history of changes from which watches resume (410 Gone when asked for older ones).
//!
//! The store knows nothing of HTTP or of controllers; both the API server and the simulation
//! read and write through it.

mod meta;
#[cfg(test)]
mod tests;
mod types;

use std::collections::{BTreeMap, VecDeque};

use jiff::Timestamp;
use serde_json::{Value, json};

use crate::clock::rfc3339;
use crate::resources::ResourceType;
use meta::{ensure_metadata, has_finalizers, is_deleting, meta_str, not_found, set_type_meta, uid};

pub use meta::short_suffix;
pub use types::{ChangeType, Committed, ObjectKey, StoreError};

pub struct Store {
    objects: BTreeMap<ObjectKey, Value>,
    resource_version: u64,
    history: VecDeque<Committed>,
    history_limit: usize,
    /// Oldest resourceVersion a watch may resume from.
    oldest_resumable: u64,
    uid_counter: u64,
}

impl Default for Store {
    fn default() -> Self {
        Self::with_history_limit(50_000)
    }
}

impl Store {
    pub fn with_history_limit(history_limit: usize) -> Self {
        Self {
            objects: BTreeMap::new(),
            resource_version: 1,
            history: VecDeque::new(),
            history_limit: history_limit.max(1),
            oldest_resumable: 1,
            uid_counter: 0,
        }
    }

    pub fn history_limit(&self) -> usize {
        self.history_limit
    }

    /// Changes how many changes the history keeps, dropping the oldest beyond it. Loading a big
    /// scenario runs with a tiny history so its bulk writes do not pile up.
    pub fn set_history_limit(&mut self, limit: usize) {
        self.history_limit = limit.max(1);
        while self.history.len() > self.history_limit {
            if let Some(dropped) = self.history.pop_front() {
                self.oldest_resumable = dropped.resource_version + 1;
            }
        }
    }

    pub fn resource_version(&self) -> u64 {
        self.resource_version
    }

    pub fn len(&self) -> usize {
        self.objects.len()
    }

    pub fn is_empty(&self) -> bool {
        self.objects.is_empty()
    }

    pub fn get(&self, key: &ObjectKey) -> Option<&Value> {
        self.objects.get(key)
    }

    /// Objects of one resource, in one namespace or (None) all, ordered by namespace and name.
    pub fn list<'a>(
        &'a self,
        rt: &'static ResourceType,
        namespace: Option<&'a str>,
    ) -> impl Iterator<Item = (&'a ObjectKey, &'a Value)> + 'a {
        let start = ObjectKey {
            group: rt.group,
            plural: rt.plural,
            namespace: namespace.unwrap_or("").to_owned(),
            name: String::new(),
        };
        self.objects.range(start..).take_while(move |(k, _)| {
            k.group == rt.group
                && k.plural == rt.plural
                && namespace.is_none_or(|ns| k.namespace == ns)
        })
    }

    /// Creates an object. Sets uid, resourceVersion, creationTimestamp and generation.
    /// With `dry_run`, returns what would be stored and changes nothing.
    pub fn create(
        &mut self,
        rt: &'static ResourceType,
        mut object: Value,
        now: Timestamp,
        dry_run: bool,
    ) -> Result<Value, StoreError> {
        let namespace = meta_str(&object, "namespace").unwrap_or_default();
        let mut name = meta_str(&object, "name").unwrap_or_default();
        if name.is_empty() {
            match meta_str(&object, "generateName") {
                Some(prefix) if !prefix.is_empty() => {
                    self.uid_counter += 1;
                    name = format!(
                        "{prefix}{}",
                        short_suffix(self.uid_counter + self.resource_version)
                    );
                }
                _ => {
                    return Err(StoreError::Invalid {
                        kind: rt.kind.to_owned(),
                        name: String::new(),
                        reason: "metadata.name: Required value: name or generateName is required"
                            .into(),
                    });
                }
            }
        }
        if rt.namespaced && namespace.is_empty() {
            return Err(StoreError::Invalid {
                kind: rt.kind.to_owned(),
                name,
                reason: "metadata.namespace: Required value".into(),
            });
        }
        let key = ObjectKey::new(rt, &namespace, &name);
        if self.objects.contains_key(&key) {
            return Err(StoreError::AlreadyExists {
                kind: rt.plural.to_owned(),
                name,
            });
        }
        self.uid_counter += 1;
        let rv = self.resource_version + 1;
        let meta = ensure_metadata(&mut object);
        meta.insert("name".into(), json!(name));
        if rt.namespaced {
            meta.insert("namespace".into(), json!(namespace));
        } else {
            meta.remove("namespace");
        }
        meta.insert("uid".into(), json!(uid(self.uid_counter)));
        meta.insert("resourceVersion".into(), json!(rv.to_string()));
        meta.insert("creationTimestamp".into(), json!(rfc3339(now)));
        if object.get("spec").is_some() {
            ensure_metadata(&mut object).insert("generation".into(), json!(1));
        }
        set_type_meta(&mut object, rt);
        if dry_run {
            return Ok(object);
        }
        self.commit(ChangeType::Added, key, object.clone());
        Ok(object)
    }

    /// Replaces an object. When the new object carries a resourceVersion it must match the
    /// stored one (optimistic concurrency: 409 otherwise). Identity fields are preserved;
    /// generation increases when `spec` changes.
    pub fn update(
        &mut self,
        key: &ObjectKey,
        mut object: Value,
        dry_run: bool,
    ) -> Result<Value, StoreError> {
        let rt = key.resource();
        let current = self.existing(key)?;
        if let Some(expected) = meta_str(&object, "resourceVersion").filter(|s| !s.is_empty())
            && Some(expected.as_str())
                != current
                    .pointer("/metadata/resourceVersion")
                    .and_then(Value::as_str)
        {
            return Err(StoreError::Conflict {
                plural: rt.plural.to_owned(),
                name: key.name.clone(),
            });
        }
        if let Some(name) = meta_str(&object, "name")
            && name != key.name
        {
            return Err(StoreError::Invalid {
                kind: rt.kind.to_owned(),
                name: key.name.clone(),
                reason: format!("metadata.name: Invalid value: \"{name}\": field is immutable"),
            });
        }
        let rv = self.resource_version + 1;
        let spec_changed = current.get("spec") != object.get("spec");
        let generation = current
            .pointer("/metadata/generation")
            .and_then(Value::as_i64);
        let current_meta = current
            .get("metadata")
            .cloned()
            .unwrap_or_else(|| json!({}));
        let meta = ensure_metadata(&mut object);
        for field in [
            "uid",
            "creationTimestamp",
            "name",
            "namespace",
            "deletionTimestamp",
        ] {
            match current_meta.get(field) {
                Some(v) => {
                    meta.insert(field.into(), v.clone());
                }
                None => {
                    meta.remove(field);
                }
            }
        }
        meta.insert("resourceVersion".into(), json!(rv.to_string()));
        if let Some(g) = generation {
            meta.insert(
                "generation".into(),
                json!(if spec_changed { g + 1 } else { g }),
            );
        }
        set_type_meta(&mut object, rt);
        if dry_run {
            return Ok(object);
        }
        if &object == self.objects.get(key).expect("checked above") {
            return Ok(object);
        }
        if is_deleting(&object) && !has_finalizers(&object) {
            self.objects.remove(key);
            self.commit(ChangeType::Deleted, key.clone(), object.clone());
            return Ok(object);
        }
        self.commit(ChangeType::Modified, key.clone(), object.clone());
        Ok(object)
    }

    /// Deletes an object as a client's DELETE does: at once without finalizers; with them, it
    /// only gains a deletionTimestamp and goes when an update removes the last finalizer.
    pub fn request_deletion(
        &mut self,
        key: &ObjectKey,
        now: Timestamp,
        dry_run: bool,
    ) -> Result<Value, StoreError> {
        let current = self.existing(key)?;
        if !has_finalizers(current) {
            return self.delete(key, dry_run);
        }
        if is_deleting(current) {
            return Ok(current.clone());
        }
        let mut object = current.clone();
        let meta = ensure_metadata(&mut object);
        meta.insert("deletionTimestamp".into(), json!(rfc3339(now)));
        meta.insert("deletionGracePeriodSeconds".into(), json!(0));
        if dry_run {
            return Ok(object);
        }
        let rv = self.resource_version + 1;
        ensure_metadata(&mut object).insert("resourceVersion".into(), json!(rv.to_string()));
        self.commit(ChangeType::Modified, key.clone(), object.clone());
        Ok(object)
    }

    /// Changes an object through `edit` without a resourceVersion precondition: how controllers
    /// in the simulation write. Returns false when the object does not exist. No-op edits commit
    /// nothing, as on a real API server.
    pub fn modify(&mut self, key: &ObjectKey, edit: impl FnOnce(&mut Value)) -> bool {
        let Some(current) = self.objects.get(key) else {
            return false;
        };
        let mut next = current.clone();
        edit(&mut next);
        if &next == current {
            return true;
        }
        if let Some(meta) = next.get_mut("metadata").and_then(Value::as_object_mut) {
            meta.remove("resourceVersion");
        }
        self.update(key, next, false).is_ok()
    }

    /// Sets `metadata.deletionTimestamp` (graceful deletion: the object stays until whoever is
    /// responsible finishes it). Returns false when the object does not exist or is already
    /// terminating.
    pub fn mark_for_deletion(&mut self, key: &ObjectKey, now: Timestamp) -> bool {
        let Some(current) = self.objects.get(key) else {
            return false;
        };
        if current.pointer("/metadata/deletionTimestamp").is_some() {
            return false;
        }
        let mut next = current.clone();
        let rv = self.resource_version + 1;
        let meta = ensure_metadata(&mut next);
        meta.insert("deletionTimestamp".into(), json!(rfc3339(now)));
        meta.insert("deletionGracePeriodSeconds".into(), json!(30));
        meta.insert("resourceVersion".into(), json!(rv.to_string()));
        self.commit(ChangeType::Modified, key.clone(), next);
        true
    }

    /// The stored object, or the API's NotFound for it.
    fn existing(&self, key: &ObjectKey) -> Result<&Value, StoreError> {
        self.objects
            .get(key)
            .ok_or_else(|| not_found(key.resource(), &key.name))
    }

    /// Deletes an object, returning it as it was with the deletion's resourceVersion.
    pub fn delete(&mut self, key: &ObjectKey, dry_run: bool) -> Result<Value, StoreError> {
        let mut object = self.existing(key)?.clone();
        if dry_run {
            return Ok(object);
        }
        self.objects.remove(key);
        let rv = self.resource_version + 1;
        ensure_metadata(&mut object).insert("resourceVersion".into(), json!(rv.to_string()));
        self.commit(ChangeType::Deleted, key.clone(), object.clone());
        Ok(object)
    }

    /// Changes after `since` (exclusive), or `Gone` when history no longer reaches back that far.
    pub fn changes_since(&self, since: u64) -> Result<Vec<&Committed>, StoreError> {
        if since + 1 < self.oldest_resumable {
            return Err(StoreError::Gone {
                requested: since,
                oldest: self.oldest_resumable,
            });
        }
        let start = self
            .history
            .partition_point(|c| c.resource_version <= since);
        Ok(self.history.range(start..).collect())
    }

    /// True when history no longer reaches back to `rv`: a list begun there cannot continue.
    pub fn is_compacted(&self, rv: u64) -> bool {
        rv + 1 < self.oldest_resumable
    }

    /// Every change still in history, oldest first.
    pub fn history(&self) -> impl Iterator<Item = &Committed> {
        self.history.iter()
    }

    /// Forgets all history: every resumed watch must re-list (used to simulate compaction).
    pub fn compact(&mut self) {
        self.history.clear();
        self.oldest_resumable = self.resource_version + 1;
    }

    fn commit(&mut self, change: ChangeType, key: ObjectKey, object: Value) {
        self.resource_version += 1;
        let rv = self.resource_version;
        match change {
            ChangeType::Deleted => {}
            _ => {
                self.objects.insert(key.clone(), object.clone());
            }
        }
        self.history.push_back(Committed {
            resource_version: rv,
            change,
            key,
            object,
        });
        while self.history.len() > self.history_limit {
            if let Some(dropped) = self.history.pop_front() {
                self.oldest_resumable = dropped.resource_version + 1;
            }
        }
    }
}
