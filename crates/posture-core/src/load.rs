//! Loads a snapshot from text: one or more YAML or JSON documents of Kubernetes objects, the
//! format of `kubectl get -o yaml` (lists included) and of `posture snapshot -o FILE`.
//!
//! Errors name the file, line and column, and for a well-formed object of the wrong shape, the
//! object and the field, so a person can fix the file without guessing.

use serde::de::{DeserializeOwned, DeserializeSeed, IgnoredAny, MapAccess, Visitor};
use serde::{Deserialize, Deserializer};
use serde_json::Value;

use crate::longhorn;
use crate::snapshot::{HealthReport, Longhorn, Snapshot, SnapshotInfo, Unreadable};

/// Group of posture's own documents inside a saved snapshot.
pub const POSTURE_API_VERSION: &str = "posture.dev/v1";

/// A well-formed document whose fields do not fit the object's schema.
#[derive(Debug, thiserror::Error)]
#[error("{file}:{line}: {kind} {name}: field `{field}`: {message}")]
pub struct ObjectError {
    pub file: String,
    pub line: usize,
    pub kind: String,
    pub name: String,
    pub field: String,
    pub message: String,
}

#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("{file}:{line}:{column}: invalid YAML: {message}")]
    Syntax {
        file: String,
        line: usize,
        column: usize,
        message: String,
    },
    #[error("{0}")]
    Object(Box<ObjectError>),
    #[error("{file}:{line}: document is not a Kubernetes object (it needs apiVersion and kind)")]
    NotAnObject { file: String, line: usize },
    #[error(
        "{file}: no Node, so this is not a cluster's snapshot (empty input, or the output of another command?)"
    )]
    NotACluster { file: String },
    #[error("{0}")]
    TooDeep(crate::nesting::TooDeep),
}

/// A snapshot that lists no Node cannot be the cluster (every cluster has one): an empty file,
/// empty stdin, or some other command's output. Nodes the credentials may not read are not
/// missing: the checks that need them say unknown.
pub fn ensure_cluster(snapshot: &Snapshot) -> Result<(), LoadError> {
    if snapshot.nodes.is_empty() && snapshot.unreadable("nodes").is_none() {
        return Err(LoadError::NotACluster {
            file: snapshot.info.source.clone(),
        });
    }
    Ok(())
}

/// Parses `text` (named `file` in errors) into a snapshot. A text parsed as YAML is first
/// scanned for nesting ([`crate::nesting::check_nesting`]): the YAML parser would take minutes on
/// a deep one; JSON's parser limits nesting by itself.
pub fn load_snapshot_str(file: &str, text: &str) -> Result<Snapshot, LoadError> {
    let mut snapshot = Snapshot {
        info: SnapshotInfo {
            source: file.to_owned(),
            ..SnapshotInfo::default()
        },
        ..Snapshot::default()
    };
    match json_documents(text) {
        Some(documents) => {
            for (line, document) in documents {
                add_document(&mut snapshot, file, line, document)?;
            }
        }
        None => add_shallow_yaml(&mut snapshot, file, text, 1)?,
    }
    Ok(snapshot)
}

/// The documents of `text` with the line each starts on, when every one of them is JSON (as
/// `posture snapshot` writes them, and as `kubectl get -o json` prints one): those parse many
/// times faster as JSON than as YAML. `None` when any document is not, or when the text uses YAML
/// stream syntax beyond plain `---` separators; then the whole text is read as YAML.
fn json_documents(text: &str) -> Option<Vec<(usize, &str)>> {
    let mut documents = Vec::new();
    let mut start: Option<(usize, usize)> = None;
    let mut offset = 0;
    for (index, line) in text.split_inclusive('\n').enumerate() {
        // Inside a document only a line that starts with `-`, `.` or `%` can matter: most lines
        // of a large snapshot are passed over on their first byte.
        if start.is_some() && !matches!(line.as_bytes().first(), Some(b'-' | b'.' | b'%')) {
            offset += line.len();
            continue;
        }
        let content = line.trim_end();
        if content == "---" {
            if let Some((line, from)) = start.take() {
                documents.push((line, &text[from..offset]));
            }
        } else if content.starts_with("---")
            || content.starts_with("...")
            || content.starts_with('%')
        {
            return None;
        } else if start.is_none() && !content.trim_start().is_empty() {
            if content.trim_start().starts_with('#') {
                // A comment before a document: fine for YAML, not for JSON.
                return None;
            }
            start = Some((index + 1, offset));
        }
        offset += line.len();
    }
    if let Some((line, from)) = start {
        documents.push((line, &text[from..]));
    }
    let all_json = documents
        .iter()
        .all(|(_, d)| d.trim_start().starts_with('{') && d.trim_end().ends_with('}'));
    (all_json && !documents.is_empty()).then_some(documents)
}

/// Adds one JSON document that starts on `line`; one that is not valid JSON after all is read as
/// YAML, so its error names the line and column as for any YAML document.
fn add_document(
    snapshot: &mut Snapshot,
    file: &str,
    line: usize,
    document: &str,
) -> Result<(), LoadError> {
    let Some(meta) = TypeMeta::peek(document) else {
        return add_shallow_yaml(snapshot, file, document, line);
    };
    // Kubernetes objects are read straight from the text into their types; lists, and the few
    // documents read through a field, go through a JSON value first.
    if !meta.kind.is_empty() {
        match add_typed_json(
            snapshot,
            &meta.api_version,
            &meta.kind,
            document,
            file,
            line,
        ) {
            Ok(true) => return Ok(()),
            Ok(false) => {}
            // The peek stops at `kind`: a syntax error further on is one of YAML's to report.
            Err(_) if serde_json::from_str::<IgnoredAny>(document).is_err() => {
                return add_shallow_yaml(snapshot, file, document, line);
            }
            Err(e) => return Err(e),
        }
    }
    match serde_json::from_str::<Value>(document) {
        Ok(value) => add_value(snapshot, value, file, line),
        Err(_) => add_shallow_yaml(snapshot, file, document, line),
    }
}

/// Adds an object of `kind` in `api_version` from its JSON `text`, straight into its type; false
/// for a kind the snapshot does not hold typed.
fn add_typed_json(
    snapshot: &mut Snapshot,
    api_version: &str,
    kind: &str,
    text: &str,
    file: &str,
    line: usize,
) -> Result<bool, LoadError> {
    let ctx = ObjectContext {
        file,
        line,
        kind,
        source: Source::Json(text),
    };
    add_typed(snapshot, group_of(api_version), kind, &ctx)
}

/// The API group of an `apiVersion` (`""` for the core group's `v1`).
fn group_of(api_version: &str) -> &str {
    api_version.split_once('/').map(|(g, _)| g).unwrap_or("")
}

/// YAML text, or a document that looked like JSON but is not, whose first line is `line`:
/// scanned for nesting first, since the YAML parser would take minutes on a deep one.
fn add_shallow_yaml(
    snapshot: &mut Snapshot,
    file: &str,
    document: &str,
    line: usize,
) -> Result<(), LoadError> {
    crate::nesting::check_nesting(file, document, crate::nesting::MAX_NESTING).map_err(
        |mut too_deep| {
            too_deep.line += line - 1;
            LoadError::TooDeep(too_deep)
        },
    )?;
    add_yaml_documents(snapshot, file, document, line)
}

/// Adds one object of `kind` in `api_version` from its JSON text, typed, as a list item arrives
/// (without its own `apiVersion` and `kind`): straight from the text into its type, with no JSON
/// value in between. Kinds the snapshot does not hold are skipped. Errors name `origin`.
pub fn add_listed_json(
    snapshot: &mut Snapshot,
    api_version: &str,
    kind: &str,
    text: &str,
    origin: &str,
) -> Result<(), LoadError> {
    add_typed_json(snapshot, api_version, kind, text, origin, 0).map(|_| ())
}

/// Whether `text` is read by the JSON path (every document JSON), which parses many times faster
/// than the YAML one.
pub fn is_json_stream(text: &str) -> bool {
    json_documents(text).is_some()
}

/// The fields that say what a document is.
#[derive(Default)]
struct TypeMeta {
    api_version: String,
    kind: String,
}

impl TypeMeta {
    /// `apiVersion` and `kind` of a JSON document, read only as far as both: objects written by
    /// the API server and by `posture snapshot` start with them, so the rest of the text is read
    /// once, by the typed parse. `None` when the text is not JSON (as far as it was read).
    fn peek(document: &str) -> Option<TypeMeta> {
        let mut meta = TypeMeta::default();
        let mut de = serde_json::Deserializer::from_str(document);
        match (PeekTypeMeta { meta: &mut meta }).deserialize(&mut de) {
            Ok(()) => de.end().ok().map(|()| meta),
            Err(_) if !meta.api_version.is_empty() && !meta.kind.is_empty() => Some(meta),
            Err(_) => None,
        }
    }
}

/// Reads a document's keys into `meta` and stops, with an error, once it has both.
struct PeekTypeMeta<'a> {
    meta: &'a mut TypeMeta,
}

#[derive(Deserialize)]
#[serde(field_identifier, rename_all = "camelCase")]
enum TypeField {
    ApiVersion,
    Kind,
    #[serde(other)]
    Other,
}

impl<'de> DeserializeSeed<'de> for PeekTypeMeta<'_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for PeekTypeMeta<'_> {
    type Value = ();

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a Kubernetes object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while let Some(field) = map.next_key::<TypeField>()? {
            match field {
                TypeField::ApiVersion => self.meta.api_version = map.next_value()?,
                TypeField::Kind => self.meta.kind = map.next_value()?,
                TypeField::Other => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
            if !self.meta.api_version.is_empty() && !self.meta.kind.is_empty() {
                return Err(serde::de::Error::custom("apiVersion and kind read"));
            }
        }
        Ok(())
    }
}

/// Adds the YAML documents of `text`, whose first line is line `first_line` of `file`.
fn add_yaml_documents(
    snapshot: &mut Snapshot,
    file: &str,
    text: &str,
    first_line: usize,
) -> Result<(), LoadError> {
    let starts = document_start_lines(text);
    for (index, document) in serde_norway::Deserializer::from_str(text).enumerate() {
        let value = Value::deserialize(document).map_err(|e| syntax_error(file, &e, first_line))?;
        let line = starts.get(index).copied().unwrap_or(1) + first_line - 1;
        if value.is_null() {
            continue;
        }
        add_value(snapshot, value, file, line)?;
    }
    Ok(())
}

/// Adds one object as the API returned it (with `apiVersion` and `kind` set) to `snapshot`, typed
/// exactly as a saved snapshot's documents are. Errors name `origin` in place of a file.
pub fn add_object(snapshot: &mut Snapshot, value: Value, origin: &str) -> Result<(), LoadError> {
    add_value(snapshot, value, origin, 0)
}

fn syntax_error(file: &str, e: &serde_norway::Error, first_line: usize) -> LoadError {
    let (line, column) = e
        .location()
        .map(|l| (l.line() + first_line - 1, l.column()))
        .unwrap_or((first_line, 1));
    let message = e.to_string();
    // serde_norway appends " at line X column Y"; the prefix already says where.
    let message = match message.find(" at line ") {
        Some(at) => message[..at].to_owned(),
        None => message,
    };
    LoadError::Syntax {
        file: file.to_owned(),
        line,
        column,
        message,
    }
}

/// First line (1-based) of each YAML document, matching the order the parser yields them.
fn document_start_lines(text: &str) -> Vec<usize> {
    let mut starts = Vec::new();
    let mut current: Option<usize> = None;
    for (i, line) in text.lines().enumerate() {
        let lineno = i + 1;
        if line.starts_with("---") {
            if let Some(start) = current.take() {
                starts.push(start);
            }
            continue;
        }
        let content = line.trim();
        if current.is_none() && !content.is_empty() && !content.starts_with('#') {
            current = Some(lineno);
        }
    }
    if let Some(start) = current {
        starts.push(start);
    }
    starts
}

fn add_value(
    snapshot: &mut Snapshot,
    mut value: Value,
    file: &str,
    line: usize,
) -> Result<(), LoadError> {
    let api_version = value
        .get("apiVersion")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    let kind = value
        .get("kind")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    if kind.is_empty() {
        return Err(LoadError::NotAnObject {
            file: file.to_owned(),
            line,
        });
    }
    if kind == "List" || (kind.ends_with("List") && value.get("items").is_some()) {
        let items = match value.get_mut("items").map(Value::take) {
            Some(Value::Array(items)) => items,
            _ => Vec::new(),
        };
        for item in items {
            add_value(snapshot, item, file, line)?;
        }
        return Ok(());
    }
    let group = group_of(&api_version);
    let ctx = ObjectContext {
        file,
        line,
        kind: &kind,
        source: Source::Value(&value),
    };
    if add_typed(snapshot, group, &kind, &ctx)? {
        return Ok(());
    }
    match (group, kind.as_str()) {
        ("apiextensions.k8s.io", "CustomResourceDefinition") => {
            let crd_group = value.pointer("/spec/group").and_then(Value::as_str);
            if crd_group == Some("longhorn.io") {
                longhorn_mut(snapshot);
            }
        }
        ("posture.dev", "SnapshotInfo") => snapshot.info = ctx.parse_field("spec")?,
        ("posture.dev", "ApiHealth") => {
            let report: HealthReport = ctx.parse_field("spec")?;
            match report.endpoint.as_str() {
                "/healthz" => snapshot.healthz = Some(report),
                _ => snapshot.readyz = Some(report),
            }
        }
        ("posture.dev", "Unreadable") => snapshot.unreadable.push(ctx.parse_field("spec")?),
        ("posture.dev", "HostFacts") => snapshot.host_facts.push(ctx.parse_field("spec")?),
        // Other kinds are not part of the runbook's picture.
        _ => {}
    }
    Ok(())
}

/// Adds an object of a kind the snapshot holds typed; false for any other kind.
fn add_typed(
    snapshot: &mut Snapshot,
    group: &str,
    kind: &str,
    ctx: &ObjectContext<'_>,
) -> Result<bool, LoadError> {
    match (group, kind) {
        ("", "Namespace") => snapshot.namespaces.push(ctx.parse()?),
        ("", "Node") => snapshot.nodes.push(ctx.parse()?),
        ("", "Pod") => snapshot.pods.push(crate::compact::pod(ctx.parse()?)),
        ("", "Service") => snapshot.services.push(ctx.parse()?),
        ("", "PersistentVolume") => snapshot.persistent_volumes.push(ctx.parse()?),
        ("", "PersistentVolumeClaim") => snapshot.persistent_volume_claims.push(ctx.parse()?),
        ("", "ConfigMap") => snapshot.config_maps.push(ctx.parse()?),
        ("", "Event") => snapshot.events.push(ctx.parse()?),
        ("apps", "Deployment") => snapshot.deployments.push(ctx.parse()?),
        // autoscaling/v1 and v2 share the fields the checks read (the target and the bounds).
        ("autoscaling", "HorizontalPodAutoscaler") => {
            snapshot.horizontal_pod_autoscalers.push(ctx.parse()?)
        }
        ("apps", "DaemonSet") => snapshot.daemon_sets.push(ctx.parse()?),
        ("apps", "StatefulSet") => snapshot.stateful_sets.push(ctx.parse()?),
        ("apps", "ReplicaSet") => snapshot.replica_sets.push(ctx.parse()?),
        ("policy", "PodDisruptionBudget") => snapshot.pod_disruption_budgets.push(ctx.parse()?),
        ("discovery.k8s.io", "EndpointSlice") => snapshot.endpoint_slices.push(ctx.parse()?),
        ("coordination.k8s.io", "Lease") => snapshot.leases.push(ctx.parse()?),
        ("storage.k8s.io", "StorageClass") => snapshot.storage_classes.push(ctx.parse()?),
        ("longhorn.io", "Setting") => longhorn_mut(snapshot).settings.push(ctx.parse()?),
        ("longhorn.io", "Volume") => longhorn_mut(snapshot).volumes.push(ctx.parse()?),
        ("longhorn.io", "Replica") => longhorn_mut(snapshot).replicas.push(ctx.parse()?),
        ("longhorn.io", "Engine") => longhorn_mut(snapshot).engines.push(ctx.parse()?),
        ("longhorn.io", "Node") => longhorn_mut(snapshot)
            .nodes
            .push(ctx.parse::<longhorn::LonghornNode>()?),
        ("longhorn.io", _) => {
            longhorn_mut(snapshot);
        }
        ("argoproj.io", "Application") => snapshot.gitops.applications.push(ctx.parse()?),
        ("kustomize.toolkit.fluxcd.io", "Kustomization")
        | ("helm.toolkit.fluxcd.io", "HelmRelease") => snapshot.gitops.flux.push(ctx.parse()?),
        ("keda.sh", "ScaledObject") => snapshot.gitops.scaled_objects.push(ctx.parse()?),
        _ => return Ok(false),
    }
    Ok(true)
}

fn longhorn_mut(snapshot: &mut Snapshot) -> &mut Longhorn {
    snapshot.longhorn.get_or_insert_with(Longhorn::default)
}

struct ObjectContext<'a> {
    file: &'a str,
    line: usize,
    kind: &'a str,
    source: Source<'a>,
}

/// Where an object is read from: a parsed value, or the JSON text of one document.
enum Source<'a> {
    Value(&'a Value),
    Json(&'a str),
}

impl ObjectContext<'_> {
    fn parse<T: DeserializeOwned>(&self) -> Result<T, LoadError> {
        // Nearly every object fits its type: read it without tracking where the parser is (which
        // costs an allocation per key), and read only one that failed again, to name the field.
        let untracked = match self.source {
            Source::Value(value) => T::deserialize(value).ok(),
            Source::Json(text) => serde_json::from_str(text).ok(),
        };
        if let Some(object) = untracked {
            return Ok(object);
        }
        match self.source {
            Source::Value(value) => {
                serde_path_to_error::deserialize(value).map_err(|e| self.error(e))
            }
            Source::Json(text) => {
                let mut json = serde_json::Deserializer::from_str(text);
                serde_path_to_error::deserialize(&mut json).map_err(|e| self.error(e))
            }
        }
    }

    /// The document as a value: for the name in an error, or a field.
    fn value(&self) -> std::borrow::Cow<'_, Value> {
        match self.source {
            Source::Value(value) => std::borrow::Cow::Borrowed(value),
            Source::Json(text) => {
                std::borrow::Cow::Owned(serde_json::from_str(text).unwrap_or(Value::Null))
            }
        }
    }

    fn parse_field<T: DeserializeOwned>(&self, field: &str) -> Result<T, LoadError> {
        let inner = self.value().get(field).cloned().unwrap_or(Value::Null);
        serde_path_to_error::deserialize(&inner).map_err(|e| self.error(e))
    }

    fn error(&self, e: serde_path_to_error::Error<serde_json::Error>) -> LoadError {
        let value = self.value();
        let name = value
            .pointer("/metadata/name")
            .and_then(Value::as_str)
            .unwrap_or("<unnamed>");
        let namespace = value.pointer("/metadata/namespace").and_then(Value::as_str);
        LoadError::Object(Box::new(ObjectError {
            file: self.file.to_owned(),
            line: self.line,
            kind: self.kind.to_owned(),
            name: namespace
                .map(|ns| format!("{ns}/{name}"))
                .unwrap_or_else(|| name.to_owned()),
            field: e.path().to_string(),
            message: e.into_inner().to_string(),
        }))
    }
}

/// Serializes posture's own documents so a saved snapshot keeps its provenance and health.
pub fn posture_documents(snapshot: &Snapshot) -> Vec<Value> {
    let mut docs = vec![serde_json::json!({
        "apiVersion": POSTURE_API_VERSION,
        "kind": "SnapshotInfo",
        "spec": snapshot.info,
    })];
    for report in [&snapshot.readyz, &snapshot.healthz].into_iter().flatten() {
        docs.push(serde_json::json!({
            "apiVersion": POSTURE_API_VERSION, "kind": "ApiHealth", "spec": report,
        }));
    }
    for unreadable in &snapshot.unreadable {
        docs.push(serde_json::json!({
            "apiVersion": POSTURE_API_VERSION, "kind": "Unreadable", "spec": unreadable,
        }));
    }
    for facts in &snapshot.host_facts {
        docs.push(host_facts_document(facts));
    }
    docs
}

/// The document `posture host` prints and `--host-facts` reads.
pub fn host_facts_document(facts: &crate::host::HostFacts) -> Value {
    serde_json::json!({"apiVersion": POSTURE_API_VERSION, "kind": "HostFacts", "spec": facts})
}

/// Sanity helper for callers that embed or hand-write snapshots.
pub fn unreadable(resource: &str, reason: &str) -> Unreadable {
    Unreadable {
        resource: resource.to_owned(),
        reason: reason.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loads_lists_and_single_documents() {
        let text = r#"
# a comment
apiVersion: v1
kind: List
items:
- apiVersion: v1
  kind: Node
  metadata: {name: a}
- apiVersion: v1
  kind: Node
  metadata: {name: b}
---
apiVersion: longhorn.io/v1beta2
kind: Setting
metadata: {name: default-replica-count, namespace: longhorn-system}
value: '{"v1":"3"}'
"#;
        let snap = load_snapshot_str("x.yaml", text).expect("loads");
        assert_eq!(snap.nodes.len(), 2);
        let lh = snap.longhorn.expect("longhorn present");
        assert_eq!(lh.settings[0].name(), "default-replica-count");
    }

    #[test]
    fn syntax_errors_name_file_line_and_column() {
        let err = load_snapshot_str(
            "bad.yaml",
            "apiVersion: v1\nkind: Node\nmetadata: {name: [\n",
        )
        .expect_err("must fail");
        let msg = err.to_string();
        assert!(msg.starts_with("bad.yaml:"), "{msg}");
        assert!(
            matches!(err, LoadError::Syntax { line, .. } if line >= 3),
            "{msg}"
        );
    }

    #[test]
    fn shape_errors_name_object_and_field() {
        let text = "apiVersion: v1\nkind: Node\nmetadata: {name: a}\n---\napiVersion: apps/v1\nkind: Deployment\nmetadata: {name: d, namespace: n}\nspec:\n  replicas: lots\n";
        let err = load_snapshot_str("f.yaml", text).expect_err("must fail");
        match &err {
            LoadError::Object(e) => {
                assert_eq!(e.line, 5);
                assert_eq!(e.name, "n/d");
                assert_eq!(e.field, "spec.replicas");
            }
            other => panic!("unexpected {other}"),
        }
    }

    #[test]
    fn documents_without_kind_are_rejected() {
        let err = load_snapshot_str("f.yaml", "just: data\n").expect_err("must fail");
        assert!(matches!(err, LoadError::NotAnObject { line: 1, .. }));
    }

    #[test]
    fn document_start_lines_skip_comments_and_separators() {
        assert_eq!(
            document_start_lines("# c\na: 1\n---\nb: 2\n---\n# x\nc: 3\n"),
            vec![2, 4, 7]
        );
        assert_eq!(document_start_lines("---\na: 1\n"), vec![2]);
    }

    /// The homelab as `posture snapshot` writes it: each document as indented JSON.
    fn as_json_stream(yaml: &str) -> String {
        let mut out = String::new();
        for document in serde_norway::Deserializer::from_str(yaml) {
            let value = Value::deserialize(document).expect("valid YAML");
            if value.is_null() {
                continue;
            }
            out.push_str("---\n");
            out.push_str(&serde_json::to_string_pretty(&value).expect("serializes"));
            out.push('\n');
        }
        out
    }

    const HOMELAB: &str = include_str!("../../../scenarios/homelab.yaml");

    #[test]
    fn json_documents_load_as_their_yaml_does() {
        let json = as_json_stream(HOMELAB);
        assert!(is_json_stream(&json));
        assert!(!is_json_stream(HOMELAB));
        let from_yaml = load_snapshot_str("h.yaml", HOMELAB).expect("loads");
        let from_json = load_snapshot_str("h.json", &json).expect("loads");
        let names = |s: &Snapshot| -> Vec<String> {
            (s.pods
                .iter()
                .map(|p| p.metadata.name.clone().unwrap_or_default()))
            .chain(
                s.nodes
                    .iter()
                    .map(|n| n.metadata.name.clone().unwrap_or_default()),
            )
            .collect()
        };
        assert_eq!(names(&from_json), names(&from_yaml));
        assert_eq!(from_json.pods, from_yaml.pods);
        assert_eq!(from_json.deployments, from_yaml.deployments);
        let (a, b) = (
            from_json.longhorn.expect("lh"),
            from_yaml.longhorn.expect("lh"),
        );
        assert_eq!(a.volumes.len(), b.volumes.len());
        assert_eq!(a.replicas.len(), b.replicas.len());
        assert_eq!(a.settings.len(), b.settings.len());
    }

    #[test]
    fn json_shape_errors_name_the_object_field_and_line() {
        let text = "---\n{\"apiVersion\": \"v1\", \"kind\": \"Node\", \"metadata\": {\"name\": \"a\"}}\n---\n{\n  \"apiVersion\": \"apps/v1\",\n  \"kind\": \"Deployment\",\n  \"metadata\": {\"name\": \"d\", \"namespace\": \"n\"},\n  \"spec\": {\"replicas\": \"lots\"}\n}\n";
        assert!(is_json_stream(text));
        match load_snapshot_str("f.yaml", text).expect_err("must fail") {
            LoadError::Object(e) => {
                assert_eq!(
                    (e.line, e.name.as_str(), e.field.as_str()),
                    (4, "n/d", "spec.replicas")
                );
            }
            other => panic!("unexpected {other}"),
        }
    }

    #[test]
    fn a_json_looking_document_that_is_yaml_loads_as_yaml() {
        // Flow-style YAML (unquoted keys) is not JSON: it is read as YAML, errors included.
        let text = "---\n{apiVersion: v1, kind: Node, metadata: {name: a}}\n---\n{apiVersion: v1, kind: Node, metadata: {name: [}}\n";
        assert!(is_json_stream(text), "both documents look like JSON");
        match load_snapshot_str("f.yaml", text).expect_err("the second is broken") {
            LoadError::Syntax { line, .. } => assert_eq!(line, 4),
            other => panic!("unexpected {other}"),
        }
        let good = load_snapshot_str("f.yaml", &text.replace("[}", "b}")).expect("loads");
        assert_eq!(good.nodes.len(), 2);
    }

    #[test]
    fn a_json_syntax_error_after_the_kind_is_reported_with_its_line() {
        // The type is read from the first keys only; the broken part comes after them.
        let text = "---\n{\"apiVersion\": \"v1\", \"kind\": \"Node\", \"metadata\": {\"name\": \"a\"}}\n---\n{\"apiVersion\": \"v1\",\n \"kind\": \"Node\",\n \"metadata\": {\"name\": [}}\n";
        assert!(is_json_stream(text));
        match load_snapshot_str("f.json", text).expect_err("the second is broken") {
            LoadError::Syntax { line, .. } => assert_eq!(line, 6),
            other => panic!("unexpected {other}"),
        }
    }

    #[test]
    fn a_json_document_may_name_its_kind_last() {
        let text = "{\"metadata\": {\"name\": \"a\", \"labels\": {\"kind\": \"x\"}}, \"status\": {}, \"apiVersion\": \"v1\", \"kind\": \"Node\"}\n";
        let snapshot = load_snapshot_str("f.json", text).expect("loads");
        assert_eq!(snapshot.nodes.len(), 1);
        assert_eq!(snapshot.nodes[0].metadata.name.as_deref(), Some("a"));
        let no_kind = load_snapshot_str("f.json", "{\"apiVersion\": \"v1\", \"metadata\": {}}\n");
        assert!(
            matches!(no_kind, Err(LoadError::NotAnObject { .. })),
            "{no_kind:?}"
        );
    }

    #[test]
    fn deep_nesting_in_a_json_looking_document_is_refused_before_parsing() {
        let deep = format!("{}{}", "{a: ".repeat(5000), "}".repeat(5000));
        let text = format!(
            "---\n{{\"apiVersion\": \"v1\", \"kind\": \"Node\", \"metadata\": {{\"name\": \"a\"}}}}\n---\n{deep}\n"
        );
        match load_snapshot_str("f.yaml", &text).expect_err("too deep") {
            LoadError::TooDeep(e) => assert_eq!(e.line, 4),
            other => panic!("unexpected {other}"),
        }
    }
}
