//! Host trees in memory: what each kind of k3s server's files read as.

use std::collections::BTreeMap;

use super::*;

/// A host's files by absolute path; directories are implied by the files below them.
#[derive(Default)]
struct Tree {
    files: BTreeMap<String, String>,
    forbidden: Vec<String>,
}

impl Tree {
    fn file(mut self, path: &str, text: &str) -> Self {
        self.files.insert(path.to_owned(), text.to_owned());
        self
    }
    fn forbidden(mut self, path: &str) -> Self {
        self.forbidden.push(path.to_owned());
        self.file(path, "")
    }
}

impl HostTree for Tree {
    fn read(&self, path: &str) -> Option<Result<String, String>> {
        if self.forbidden.iter().any(|p| p == path) {
            return Some(Err("permission denied".into()));
        }
        self.files.get(path).cloned().map(Ok)
    }
    fn list(&self, path: &str) -> Option<Vec<String>> {
        let prefix = format!("{path}/");
        let mut names: Vec<String> = (self.files.keys())
            .filter_map(|p| p.strip_prefix(&prefix))
            .map(|rest| rest.split('/').next().unwrap_or(rest).to_owned())
            .collect();
        names.dedup();
        (!names.is_empty()).then_some(names)
    }
    fn meta(&self, path: &str) -> Option<FileMeta> {
        if let Some(text) = self.files.get(path) {
            return Some(FileMeta {
                size: text.len() as u64,
                modified: None,
                is_dir: false,
            });
        }
        let prefix = format!("{path}/");
        self.files
            .keys()
            .any(|p| p.starts_with(&prefix))
            .then_some(FileMeta {
                is_dir: true,
                ..FileMeta::default()
            })
    }
}

const UNIT: &str = "/etc/systemd/system/k3s.service";
const DB: &str = "/var/lib/rancher/k3s/server/db";

fn unit(args: &str) -> String {
    format!(
        "[Service]\nEnvironmentFile=-/etc/systemd/system/k3s.service.env\nExecStart=/usr/local/bin/k3s \\\n    server \\\n{args}\n"
    )
}

fn read(tree: &Tree) -> HostFacts {
    read_host(tree, "/", None)
}

#[test]
fn a_sqlite_server_is_seen_by_its_state_db() {
    let tree = Tree::default()
        .file("/etc/hostname", "server-1\n")
        .file(UNIT, &unit(""))
        .file(&format!("{DB}/state.db"), "SQLite format 3")
        .file(&format!("{DB}/state.db-wal"), "");
    let facts = read(&tree);
    assert_eq!(facts.host, "server-1");
    assert_eq!(facts.role, HostRole::Server);
    assert_eq!(facts.datastore.kind, HostDatastore::Sqlite);
    assert_eq!(
        facts.datastore.seen,
        [format!("{DB}/state.db"), format!("{DB}/state.db-wal")]
    );
}

#[test]
fn etcd_on_disk_wins_over_a_datastore_endpoint_and_names_its_members_at_join() {
    let tree = Tree::default()
        .file("/etc/rancher/k3s/config.yaml", "datastore-endpoint: postgres://u:p@db/k3s\n")
        .file(UNIT, &unit(""))
        .file(&format!("{DB}/etcd/name"), "s3-0b7d\n")
        .file(
            &format!("{DB}/etcd/config"),
            "initial-cluster: s1-4f1c=https://10.0.0.1:2380,s2-9a3e=https://10.0.0.2:2380,s3-0b7d=https://10.0.0.3:2380\n",
        )
        .file(&format!("{DB}/snapshots/on-demand-s3-1"), "x");
    let facts = read(&tree);
    assert_eq!(facts.datastore.kind, HostDatastore::EmbeddedEtcd);
    let etcd = facts.datastore.etcd.expect("etcd facts");
    assert_eq!(etcd.member_name.as_deref(), Some("s3-0b7d"));
    assert_eq!(
        etcd.members_at_join,
        Some(vec![
            "s1-4f1c".to_owned(),
            "s2-9a3e".to_owned(),
            "s3-0b7d".to_owned()
        ])
    );
    assert_eq!(etcd.snapshots.len(), 1);
    assert_eq!(
        facts.datastore.endpoint.as_deref(),
        Some("postgres://****@db/k3s")
    );
}

#[test]
fn an_external_datastore_is_named_without_its_credentials_wherever_it_was_set() {
    let tree = Tree::default()
        .file(UNIT, &unit("\t'--token' \\\n\t'tok-from-unit' \\\n"))
        .file(
            "/etc/systemd/system/k3s.service.env",
            "K3S_DATASTORE_ENDPOINT='mysql://k3s:hunter2@tcp(db:3306)/k3s'\n",
        );
    let facts = read(&tree);
    assert_eq!(facts.datastore.kind, HostDatastore::External);
    assert_eq!(
        facts.datastore.seen,
        [
            "datastore-endpoint mysql://****@tcp(db:3306)/k3s (/etc/systemd/system/k3s.service.env (K3S_DATASTORE_ENDPOINT))"
        ]
    );
    let printed = serde_json::to_string(&facts).expect("test input is valid");
    assert!(
        !printed.contains("hunter2") && !printed.contains("tok-from-unit"),
        "{printed}"
    );
    assert_eq!(facts.config.values("token"), [redact::SET]);
}

#[test]
fn an_agent_keeps_no_datastore_and_unreadable_files_are_named() {
    let tree = Tree::default()
        .file(
            "/etc/systemd/system/k3s-agent.service",
            "[Service]\nExecStart=/usr/local/bin/k3s \\\n    agent \\\n",
        )
        .forbidden("/etc/rancher/k3s/config.yaml");
    let facts = read(&tree);
    assert_eq!(facts.role, HostRole::Agent);
    assert_eq!(facts.datastore.kind, HostDatastore::None);
    assert_eq!(
        facts.unreadable,
        ["/etc/rancher/k3s/config.yaml: permission denied"]
    );
}

#[test]
fn a_moved_data_dir_is_followed_and_skipped_addons_are_listed() {
    let data = "/srv/k3s";
    let tree = Tree::default()
        .file("/etc/rancher/k3s/config.yaml", &format!("data-dir: {data}\n"))
        .file(&format!("{data}/server/db/state.db"), "x")
        .file(&format!("{data}/server/manifests/coredns.yaml"), "kind: Deployment\n")
        .file(&format!("{data}/server/manifests/coredns.yaml.skip"), "")
        .file(&format!("{data}/server/manifests/metrics-server/service.yaml"), "")
        .file(
            &format!("{data}/server/manifests/dns-extra.yaml"),
            "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: coredns-custom, namespace: kube-system}\n",
        );
    let facts = read(&tree);
    assert_eq!(
        facts.role,
        HostRole::Server,
        "a server/db directory makes it a server"
    );
    assert_eq!(facts.datastore.kind, HostDatastore::Sqlite);
    assert_eq!(
        facts.addons.present,
        ["coredns.yaml", "dns-extra.yaml", "metrics-server/"]
    );
    assert!(facts.addons.is_skipped("coredns"));
    assert_eq!(facts.addons.coredns_custom, ["dns-extra.yaml"]);
}

#[test]
fn a_config_file_that_is_not_settings_is_reported_not_merged() {
    let tree = Tree::default()
        .file("/etc/rancher/k3s/config.yaml", "[not, a, mapping]\n")
        .file(
            "/etc/rancher/k3s/config.yaml.d/10-dns.yaml",
            "cluster-dns: 10.43.0.53\n",
        );
    let facts = read(&tree);
    assert_eq!(
        facts.config.files,
        ["/etc/rancher/k3s/config.yaml.d/10-dns.yaml"]
    );
    assert_eq!(facts.config.values("cluster-dns"), ["10.43.0.53"]);
    assert_eq!(facts.unreadable.len(), 1);
    assert!(facts.unreadable[0].starts_with("/etc/rancher/k3s/config.yaml: expected a mapping"));
}

#[test]
fn host_facts_saved_with_a_snapshot_load_back_unchanged() {
    let tree = Tree::default()
        .file("/etc/hostname", "server-1\n")
        .file(UNIT, &unit("\t'--cluster-init' \\\n"))
        .file(&format!("{DB}/etcd/name"), "server-1-4f1c\n");
    let facts = read_host(
        &tree,
        "/",
        Some("2026-12-01T10:00:00Z".parse().expect("test input is valid")),
    );
    let snapshot = crate::Snapshot {
        host_facts: vec![facts.clone()],
        ..crate::Snapshot::default()
    };
    let text: String = crate::load::posture_documents(&snapshot)
        .iter()
        .map(|d| {
            format!(
                "---\n{}\n",
                serde_json::to_string_pretty(d).expect("test input is valid")
            )
        })
        .collect();
    let loaded = crate::load_snapshot_str("saved.yaml", &text).expect("loads");
    assert_eq!(loaded.host_facts, [facts]);
}
