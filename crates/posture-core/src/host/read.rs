//! From a host's files to [`HostFacts`]: which files k3s would read, in which order, and what
//! the datastore and manifest directories hold.

use std::collections::BTreeMap;

use super::config::Merge;
use super::unit::{parse_environment, parse_unit};
use super::{
    AddonFacts, DatastoreFacts, EtcdFacts, FileFacts, HostDatastore, HostFacts, HostRole, K3sConfig,
};

const CONFIG_FILE: &str = "/etc/rancher/k3s/config.yaml";
const DEFAULT_DATA_DIR: &str = "/var/lib/rancher/k3s";
/// Where the install script writes the service, server first.
const UNITS: [&str; 4] = [
    "/etc/systemd/system/k3s.service",
    "/etc/systemd/system/k3s-agent.service",
    "/usr/lib/systemd/system/k3s.service",
    "/lib/systemd/system/k3s.service",
];

/// A file's size, last change and whether it is a directory.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FileMeta {
    pub size: u64,
    pub modified: Option<jiff::Timestamp>,
    pub is_dir: bool,
}

/// Read access to a host's files by their absolute paths on that host.
pub trait HostTree {
    /// A file's text; `None` when it does not exist, `Err` with the reason when it cannot be read.
    fn read(&self, path: &str) -> Option<Result<String, String>>;
    /// A directory's entry names, sorted by name; `None` when it does not exist.
    fn list(&self, path: &str) -> Option<Vec<String>>;
    fn meta(&self, path: &str) -> Option<FileMeta>;
}

/// Everything the host's files say about k3s. `root` is recorded as given; `now` dates the facts.
pub fn read_host(tree: &dyn HostTree, root: &str, now: Option<jiff::Timestamp>) -> HostFacts {
    let mut facts = HostFacts {
        root: root.to_owned(),
        collected_at: now,
        ..HostFacts::default()
    };
    let mut unreadable = Vec::new();
    let mut invalid = Vec::new();
    let mut read = |path: &str| match tree.read(path)? {
        Ok(text) => Some(text),
        Err(reason) => {
            unreadable.push(format!("{path}: {reason}"));
            None
        }
    };

    let mut merge = Merge::default();
    let mut config = K3sConfig::default();
    // The service first: its environment ranks lowest, its command line highest.
    let unit = UNITS.iter().find_map(|path| {
        let text = read(path)?;
        let name = path.rsplit('/').next().unwrap_or(path);
        Some((path.to_string(), parse_unit(name, &text)))
    });
    if let Some((path, unit)) = &unit {
        config.unit = Some(path.clone());
        for env_file in &unit.environment_files {
            if let Some(text) = read(env_file) {
                merge.environment(env_file, &parse_environment(&text));
                config.env_files.push(env_file.clone());
            }
        }
    }
    let mut config_files = vec![CONFIG_FILE.to_owned()];
    let drop_ins = format!("{CONFIG_FILE}.d");
    config_files.extend(
        tree.list(&drop_ins)
            .unwrap_or_default()
            .into_iter()
            .filter(|name| {
                let lower = name.to_ascii_lowercase();
                lower.ends_with(".yaml") || lower.ends_with(".yml")
            })
            .map(|name| format!("{drop_ins}/{name}")),
    );
    for file in config_files {
        if let Some(text) = read(&file) {
            match merge.config_file(&file, &text) {
                Ok(()) => config.files.push(file),
                Err(e) => invalid.push(e.to_string()),
            }
        }
    }
    if let Some((path, unit)) = &unit {
        merge.command_line(path, &unit.args);
    }
    merge.finish(&mut config);

    facts.role = match unit.as_ref().and_then(|(_, u)| u.subcommand.as_deref()) {
        Some("server") => HostRole::Server,
        Some("agent") => HostRole::Agent,
        _ => HostRole::Unknown,
    };
    let data_dir = config
        .values("data-dir")
        .pop()
        .unwrap_or_else(|| DEFAULT_DATA_DIR.to_owned());
    let data_dir = data_dir.trim_end_matches('/').to_owned();
    if facts.role == HostRole::Unknown && tree.meta(&format!("{data_dir}/server/db")).is_some() {
        facts.role = HostRole::Server;
    }
    facts.host = config
        .values("node-name")
        .pop()
        .or_else(|| read("/etc/hostname").map(|h| h.trim().to_owned()))
        .unwrap_or_default();
    facts.datastore = datastore(tree, &config, &data_dir, facts.role, &mut read);
    facts.addons = addons(tree, &config, &data_dir, &mut read);
    facts.config = config;
    unreadable.extend(invalid);
    facts.unreadable = unreadable;
    facts
}

fn file_facts(tree: &dyn HostTree, path: &str) -> Option<FileFacts> {
    let meta = tree.meta(path)?;
    Some(FileFacts {
        path: path.to_owned(),
        size_bytes: meta.size,
        modified: meta.modified,
    })
}

fn datastore(
    tree: &dyn HostTree,
    config: &K3sConfig,
    data_dir: &str,
    role: HostRole,
    read: &mut dyn FnMut(&str) -> Option<String>,
) -> DatastoreFacts {
    let db = format!("{data_dir}/server/db");
    let etcd_dir = format!("{db}/etcd");
    let mut facts = DatastoreFacts {
        data_dir: data_dir.to_owned(),
        endpoint: config.values("datastore-endpoint").pop(),
        sqlite: file_facts(tree, &format!("{db}/state.db")),
        sqlite_migrated: file_facts(tree, &format!("{db}/state.db.migrated")),
        ..DatastoreFacts::default()
    };
    // k3s prefers an etcd found on disk over every datastore argument (docs.k3s.io/datastore).
    let etcd_initialized = tree.meta(&format!("{etcd_dir}/member/wal")).is_some()
        || tree.meta(&format!("{etcd_dir}/name")).is_some();
    if etcd_initialized {
        facts.kind = HostDatastore::EmbeddedEtcd;
        facts.seen.push(format!("{etcd_dir}/"));
        let member_name = read(&format!("{etcd_dir}/name")).map(|n| n.trim().to_owned());
        let members_at_join = read(&format!("{etcd_dir}/config")).and_then(|c| initial_cluster(&c));
        let snapshot_dir = config
            .values("etcd-snapshot-dir")
            .pop()
            .unwrap_or_else(|| format!("{db}/snapshots"));
        let mut snapshots: Vec<FileFacts> = tree
            .list(&snapshot_dir)
            .unwrap_or_default()
            .iter()
            .filter_map(|name| file_facts(tree, &format!("{snapshot_dir}/{name}")))
            .collect();
        snapshots.sort_by_key(|s| s.modified);
        facts.etcd = Some(EtcdFacts {
            member_name,
            members_at_join,
            snapshots,
        });
    } else if let Some(endpoint) = &facts.endpoint {
        facts.kind = HostDatastore::External;
        let source = config
            .settings
            .get("datastore-endpoint")
            .map(|s| s.source.as_str())
            .unwrap_or_default();
        facts
            .seen
            .push(format!("datastore-endpoint {endpoint} ({source})"));
    } else if let Some(sqlite) = &facts.sqlite {
        facts.kind = HostDatastore::Sqlite;
        facts.seen.push(sqlite.path.clone());
        for suffix in ["-wal", "-shm"] {
            let path = format!("{}{suffix}", sqlite.path);
            if tree.meta(&path).is_some() {
                facts.seen.push(path);
            }
        }
    } else if role == HostRole::Agent {
        facts.kind = HostDatastore::None;
        facts.seen.push("the service runs `k3s agent`".to_owned());
    }
    facts
}

/// The member names of an etcd config's `initial-cluster: a=https://…,b=https://…`.
fn initial_cluster(config: &str) -> Option<Vec<String>> {
    let value: serde_json::Value = serde_norway::from_str(config).ok()?;
    let cluster = value.get("initial-cluster")?.as_str()?;
    let names: Vec<String> = cluster
        .split(',')
        .filter_map(|member| {
            member
                .split_once('=')
                .map(|(name, _)| name.trim().to_owned())
        })
        .filter(|name| !name.is_empty())
        .collect();
    (!names.is_empty()).then_some(names)
}

fn addons(
    tree: &dyn HostTree,
    config: &K3sConfig,
    data_dir: &str,
    read: &mut dyn FnMut(&str) -> Option<String>,
) -> AddonFacts {
    let dir = format!("{data_dir}/server/manifests");
    let mut facts = AddonFacts {
        manifests_dir: dir.clone(),
        disabled: config.values("disable"),
        ..AddonFacts::default()
    };
    let entries = tree.list(&dir).unwrap_or_default();
    let mut present = BTreeMap::new();
    for name in entries {
        let path = format!("{dir}/{name}");
        if let Some(skipped) = name.strip_suffix(".skip") {
            facts.skipped.push(skipped.to_owned());
            continue;
        }
        let is_dir = tree.meta(&path).is_some_and(|m| m.is_dir);
        if is_dir {
            present.insert(format!("{name}/"), ());
            continue;
        }
        let lower = name.to_ascii_lowercase();
        if !(lower.ends_with(".yaml") || lower.ends_with(".yml") || lower.ends_with(".json")) {
            continue;
        }
        present.insert(name.clone(), ());
        if read(&path).is_some_and(|text| defines_coredns_custom(&text)) {
            facts.coredns_custom.push(name);
        }
    }
    facts.present = present.into_keys().collect();
    facts
}

/// Whether a manifest holds a `ConfigMap` named `coredns-custom` in `kube-system`.
fn defines_coredns_custom(text: &str) -> bool {
    use serde::Deserialize;
    serde_norway::Deserializer::from_str(text).any(|document| {
        serde_json::Value::deserialize(document).is_ok_and(|doc| {
            doc.get("kind").and_then(|k| k.as_str()) == Some("ConfigMap")
                && doc.pointer("/metadata/name").and_then(|n| n.as_str()) == Some("coredns-custom")
                && doc
                    .pointer("/metadata/namespace")
                    .and_then(|n| n.as_str())
                    .is_none_or(|ns| ns == "kube-system")
        })
    })
}
