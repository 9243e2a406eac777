//! k3s's settings merged the way k3s merges them (`pkg/configfilearg` in k3s): `config.yaml`,
//! then each drop-in of `config.yaml.d/` in file-name order, a later file replacing a key's whole
//! value and a `key+` appending to it; `K3S_*` environment variables rank below the files and the
//! service's command-line flags above them. See docs/k3s.md for the sources.

use std::collections::BTreeMap;

use serde_json::Value;

use super::redact;
use super::{K3sConfig, Setting};

/// Environment variables that stand for a flag (k3s `pkg/cli/cmds/server.go`).
const ENV_FLAGS: [(&str, &str); 10] = [
    ("K3S_DATASTORE_ENDPOINT", "datastore-endpoint"),
    ("K3S_TOKEN", "token"),
    ("K3S_TOKEN_FILE", "token-file"),
    ("K3S_AGENT_TOKEN", "agent-token"),
    ("K3S_AGENT_TOKEN_FILE", "agent-token-file"),
    ("K3S_URL", "server"),
    ("K3S_CLUSTER_INIT", "cluster-init"),
    ("K3S_CLUSTER_RESET", "cluster-reset"),
    ("K3S_DATA_DIR", "data-dir"),
    ("K3S_NODE_NAME", "node-name"),
];

/// Flags that take no value on the command line, so the word after them is the next flag.
const BOOLEAN_FLAGS: [&str; 16] = [
    "cluster-init",
    "cluster-reset",
    "disable-helm-controller",
    "disable-kube-proxy",
    "disable-network-policy",
    "disable-cloud-controller",
    "disable-scheduler",
    "disable-apiserver",
    "disable-controller-manager",
    "disable-etcd",
    "secrets-encryption",
    "embedded-registry",
    "selinux",
    "rootless",
    "debug",
    "prefer-bundled-bin",
];

/// Settings whose value is itself a secret: only whether they are set is kept.
const SECRET_KEYS: [&str; 4] = [
    "token",
    "agent-token",
    "etcd-s3-secret-key",
    "etcd-s3-access-key",
];

/// A setting while it is being merged: its values in order and where they came from.
#[derive(Debug, Default, Clone)]
struct Merged {
    values: Vec<String>,
    /// Whether the setting was written as a list (or appended to): reported as a list.
    list: bool,
    sources: Vec<String>,
}

/// The merge of every source, lowest rank first.
#[derive(Debug, Default)]
pub struct Merge {
    settings: BTreeMap<String, Merged>,
}

/// Why a config file could not be merged.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{file}: {message}")]
pub struct ConfigError {
    pub file: String,
    pub message: String,
}

impl Merge {
    /// `K3S_*` variables from the unit's environment files (the lowest rank).
    pub fn environment(&mut self, file: &str, variables: &[(String, String)]) {
        for (name, value) in variables {
            if let Some((_, key)) = ENV_FLAGS.iter().find(|(env, _)| env == name) {
                self.settings.insert(
                    (*key).to_owned(),
                    Merged {
                        values: vec![value.clone()],
                        list: false,
                        sources: vec![format!("{file} ({name})")],
                    },
                );
            }
        }
    }

    /// One config file, merged over what came before it.
    pub fn config_file(&mut self, file: &str, text: &str) -> Result<(), ConfigError> {
        let error = |message: String| ConfigError {
            file: file.to_owned(),
            message,
        };
        let document: Value = if text.trim().is_empty() {
            Value::Null
        } else {
            serde_norway::from_str(text).map_err(|e| error(e.to_string()))?
        };
        let map = match document {
            Value::Null => return Ok(()),
            Value::Object(map) => map,
            other => {
                return Err(error(format!(
                    "expected a mapping of settings, found {}",
                    kind_of(&other)
                )));
            }
        };
        for (raw_key, value) in map {
            let (key, append) = match raw_key.strip_suffix('+') {
                Some(key) => (key.to_owned(), true),
                None => (raw_key.clone(), false),
            };
            let key = long_name(key.trim_start_matches('-')).to_owned();
            let (values, list) =
                values_of(&value, &key).map_err(|m| error(format!("{raw_key}: {m}")))?;
            let entry = self.settings.entry(key.clone()).or_default();
            if append && !entry.values.is_empty() {
                entry.values.extend(values);
                entry.list = true;
                entry.sources.push(file.to_owned());
            } else {
                *entry = Merged {
                    values,
                    list: list || append,
                    sources: vec![file.to_owned()],
                };
            }
        }
        Ok(())
    }

    /// The service's command line after the subcommand (the highest rank): a flag given here
    /// replaces the files' value, a repeated flag's values all of the files' values.
    pub fn command_line(&mut self, source: &str, args: &[String]) {
        let mut from_cli: BTreeMap<String, Merged> = BTreeMap::new();
        for (key, value) in flags(args) {
            let entry = from_cli.entry(key).or_insert_with(|| Merged {
                sources: vec![source.to_owned()],
                ..Merged::default()
            });
            if !entry.values.is_empty() {
                entry.list = true;
            }
            entry.values.push(value);
        }
        self.settings.extend(from_cli);
    }

    /// The merged settings, secrets redacted; `disable` split on commas as k3s splits it.
    pub fn finish(self, config: &mut K3sConfig) {
        for (key, merged) in self.settings {
            let mut values = merged.values;
            let mut list = merged.list;
            if key == "disable" {
                values = values
                    .iter()
                    .flat_map(|v| v.split(','))
                    .map(|v| v.trim().to_owned())
                    .filter(|v| !v.is_empty())
                    .collect();
                list = true;
            }
            if SECRET_KEYS.contains(&key.as_str()) {
                values = values.iter().map(|_| redact::SET.to_owned()).collect();
            } else if key == "datastore-endpoint" {
                values = values.iter().map(|v| redact::endpoint(v)).collect();
            }
            let value = if list || values.len() > 1 {
                Value::from(values)
            } else {
                Value::from(values.into_iter().next().unwrap_or_default())
            };
            config.settings.insert(
                key,
                Setting {
                    value,
                    source: merged.sources.join(", "),
                },
            );
        }
    }
}

/// A config value as k3s turns it into flags: a list gives one flag per item.
fn values_of(value: &Value, key: &str) -> Result<(Vec<String>, bool), String> {
    let scalar = |v: &Value| match v {
        Value::String(s) => Ok(s.clone()),
        Value::Bool(b) => Ok(b.to_string()),
        Value::Number(n) => Ok(n.to_string()),
        other => Err(format!("expected a value, found {}", kind_of(other))),
    };
    match value {
        Value::Array(items) => Ok((items.iter().map(scalar).collect::<Result<_, _>>()?, true)),
        Value::Null => Err(format!("{key} has no value")),
        other => Ok((vec![scalar(other)?], false)),
    }
}

fn kind_of(value: &Value) -> &'static str {
    match value {
        Value::Null => "nothing",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "a mapping",
    }
}

/// `--key=value`, `--key value` and `--flag` pairs of a k3s command line.
pub fn flags(args: &[String]) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut words = args.iter().peekable();
    while let Some(word) = words.next() {
        let Some(flag) = word.strip_prefix("--").or_else(|| word.strip_prefix('-')) else {
            continue;
        };
        if let Some((key, value)) = flag.split_once('=') {
            out.push((long_name(key).to_owned(), value.to_owned()));
            continue;
        }
        let flag = long_name(flag);
        let takes_value = !BOOLEAN_FLAGS.contains(&flag)
            && words.peek().is_some_and(|next| !next.starts_with('-'));
        let value = if takes_value {
            words.next().cloned().unwrap_or_default()
        } else {
            "true".to_owned()
        };
        out.push((flag.to_owned(), value));
    }
    out
}

/// The long name of k3s's one-letter flags (`-t` is `--token`).
fn long_name(flag: &str) -> &str {
    match flag {
        "t" => "token",
        "s" => "server",
        "d" => "data-dir",
        "c" => "config",
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn merged(steps: impl FnOnce(&mut Merge)) -> K3sConfig {
        let mut merge = Merge::default();
        steps(&mut merge);
        let mut config = K3sConfig::default();
        merge.finish(&mut config);
        config
    }

    #[test]
    fn a_later_drop_in_replaces_a_key_and_a_plus_key_appends() {
        let config = merged(|m| {
            m.config_file(
                "config.yaml",
                "disable: [traefik]\ncluster-dns: 10.43.0.10\n",
            )
            .expect("test input is valid");
            m.config_file("config.yaml.d/10.yaml", "disable+: servicelb\n")
                .expect("test input is valid");
            m.config_file("config.yaml.d/20.yaml", "cluster-dns: 10.43.0.53\n")
                .expect("test input is valid");
        });
        assert_eq!(config.values("disable"), ["traefik", "servicelb"]);
        assert_eq!(
            config.settings["disable"].source,
            "config.yaml, config.yaml.d/10.yaml"
        );
        assert_eq!(config.values("cluster-dns"), ["10.43.0.53"]);
        assert_eq!(
            config.settings["cluster-dns"].source,
            "config.yaml.d/20.yaml"
        );
    }

    #[test]
    fn a_plain_key_after_an_append_starts_over() {
        let config = merged(|m| {
            m.config_file("a.yaml", "disable: [traefik]\n")
                .expect("test input is valid");
            m.config_file("b.yaml", "disable: local-storage\n")
                .expect("test input is valid");
        });
        assert_eq!(config.values("disable"), ["local-storage"]);
    }

    #[test]
    fn the_command_line_outranks_files_and_files_outrank_the_environment() {
        let config = merged(|m| {
            m.environment(
                "k3s.service.env",
                &[
                    ("K3S_TOKEN".into(), "s3cret".into()),
                    (
                        "K3S_DATASTORE_ENDPOINT".into(),
                        "postgres://k3s:pw@db:5432/k3s".into(),
                    ),
                    ("K3S_URL".into(), "https://10.0.0.1:6443".into()),
                ],
            );
            m.config_file("config.yaml", "server: https://10.0.0.2:6443\n")
                .expect("test input is valid");
            m.command_line(
                "k3s.service",
                &[
                    "--cluster-init".into(),
                    "--disable".into(),
                    "traefik,servicelb".into(),
                ],
            );
        });
        assert_eq!(config.values("server"), ["https://10.0.0.2:6443"]);
        assert_eq!(config.values("token"), [redact::SET]);
        assert_eq!(
            config.settings["token"].source,
            "k3s.service.env (K3S_TOKEN)"
        );
        assert_eq!(
            config.values("datastore-endpoint"),
            ["postgres://****@db:5432/k3s"]
        );
        assert!(config.flag("cluster-init"));
        assert_eq!(config.values("disable"), ["traefik", "servicelb"]);
        let printed = serde_json::to_string(&config).expect("test input is valid");
        assert!(
            !printed.contains("s3cret") && !printed.contains(":pw@"),
            "{printed}"
        );
    }

    #[test]
    fn flags_read_like_k3s_reads_them() {
        let args: Vec<String> = [
            "--cluster-init",
            "--token",
            "x",
            "--node-label=a=b",
            "-t",
            "y",
        ]
        .map(String::from)
        .to_vec();
        assert_eq!(
            flags(&args),
            [
                ("cluster-init".to_owned(), "true".to_owned()),
                ("token".to_owned(), "x".to_owned()),
                ("node-label".to_owned(), "a=b".to_owned()),
                ("token".to_owned(), "y".to_owned()),
            ]
        );
    }

    #[test]
    fn a_file_that_is_not_a_mapping_is_an_error_naming_the_file() {
        let mut merge = Merge::default();
        let error = merge
            .config_file("/etc/rancher/k3s/config.yaml", "- a\n- b\n")
            .expect_err("a list is not settings");
        assert_eq!(
            error.to_string(),
            "/etc/rancher/k3s/config.yaml: expected a mapping of settings, found a list"
        );
    }
}
