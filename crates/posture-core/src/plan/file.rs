//! The plan file: canonical JSON, its sha256, and reading a plan back with typed errors.

use serde_json::Value;
use sha2::{Digest, Sha256};

use super::{ClusterIdentity, PLAN_SCHEMA, Plan};

#[derive(Debug, thiserror::Error)]
pub enum PlanFileError {
    #[error("failed to parse plan file: {message}")]
    Parse { message: String },
    #[error("unsupported plan schema {found:?} (expected {PLAN_SCHEMA})")]
    Schema { found: String },
    #[error(
        "plan content does not match its sha256 (recorded {recorded}, computed {computed}): the file was edited or damaged"
    )]
    HashMismatch { recorded: String, computed: String },
    #[error(
        "plan was made for cluster {planned_server} (kube-system uid {planned_uid}), not {actual_server} (uid {actual_uid})"
    )]
    WrongCluster {
        planned_server: String,
        planned_uid: String,
        actual_server: String,
        actual_uid: String,
    },
}

/// JSON with object keys sorted and no whitespace: the same plan always hashes the same.
pub fn canonical_json(value: &Value) -> String {
    let mut out = String::new();
    write_canonical(value, &mut out);
    out
}

fn write_canonical(value: &Value, out: &mut String) {
    match value {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            out.push('{');
            for (i, key) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&Value::String(key.clone()).to_string());
                out.push(':');
                write_canonical(&map[key], out);
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_canonical(item, out);
            }
            out.push(']');
        }
        scalar => out.push_str(&scalar.to_string()),
    }
}

impl Plan {
    /// sha256 (hex) of the canonical JSON of the plan with its hash field left out.
    pub fn content_hash(&self) -> String {
        let mut value = serde_json::to_value(self).unwrap_or(Value::Null);
        if let Value::Object(map) = &mut value {
            map.remove("sha256");
        }
        hex::encode(Sha256::digest(canonical_json(&value).as_bytes()))
    }

    /// Checks the recorded hash against the content.
    pub fn verify(&self) -> Result<(), PlanFileError> {
        let computed = self.content_hash();
        if computed == self.sha256 {
            Ok(())
        } else {
            Err(PlanFileError::HashMismatch {
                recorded: self.sha256.clone(),
                computed,
            })
        }
    }

    /// Checks that `actual` is the cluster the plan was made for. The kube-system uid decides;
    /// a different server URL for the same uid (a new DNS name, a tunnel) is accepted.
    pub fn verify_cluster(&self, actual: &ClusterIdentity) -> Result<(), PlanFileError> {
        if self.cluster.kube_system_uid == actual.kube_system_uid {
            Ok(())
        } else {
            Err(PlanFileError::WrongCluster {
                planned_server: self.cluster.server.clone(),
                planned_uid: self.cluster.kube_system_uid.clone(),
                actual_server: actual.server.clone(),
                actual_uid: actual.kube_system_uid.clone(),
            })
        }
    }

    /// Pretty JSON for the plan file.
    pub fn to_json_pretty(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_default()
    }

    /// Reads a plan file and verifies its schema and hash.
    pub fn from_json(text: &[u8]) -> Result<Self, PlanFileError> {
        let value: Value = serde_json::from_slice(text).map_err(|e| PlanFileError::Parse {
            message: e.to_string(),
        })?;
        let schema = value
            .get("schema")
            .and_then(Value::as_str)
            .unwrap_or_default();
        if schema != PLAN_SCHEMA {
            return Err(PlanFileError::Schema {
                found: schema.to_owned(),
            });
        }
        let plan: Plan =
            serde_path_to_error::deserialize(&value).map_err(|e| PlanFileError::Parse {
                message: format!("field `{}`: {}", e.path(), e.inner()),
            })?;
        plan.verify()?;
        Ok(plan)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn canonical_json_sorts_keys_at_every_level() {
        let v = json!({"b": 1, "a": {"d": [1, {"z": 0, "y": "x"}], "c": null}});
        assert_eq!(
            canonical_json(&v),
            r#"{"a":{"c":null,"d":[1,{"y":"x","z":0}]},"b":1}"#
        );
    }
}
