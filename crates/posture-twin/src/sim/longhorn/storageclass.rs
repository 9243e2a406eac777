//! The Longhorn manager keeps the `longhorn` StorageClass in line with the YAML embedded in its
//! ConfigMap; StorageClass parameters are immutable, so a change means delete and recreate.

use crate::sim::util::slot;
use jiff::Timestamp;
use serde::Deserialize;
use serde_json::{Value, json};

use super::LonghornMemory;
use crate::sim::util::{name, rt};
use crate::store::{ObjectKey, Store};

const CONFIG_MAP: &str = "longhorn-storageclass";
const DATA_KEY: &str = "storageclass.yaml";
const LAST_APPLIED: &str = "longhorn.io/last-applied-configmap";
const COMPARED: [&str; 5] = [
    "provisioner",
    "parameters",
    "reclaimPolicy",
    "volumeBindingMode",
    "allowVolumeExpansion",
];

pub(super) fn reconcile(memory: &mut LonghornMemory, store: &mut Store, now: Timestamp) {
    let source = store
        .list(rt("", "configmaps"), None)
        .find(|(_, cm)| name(cm) == CONFIG_MAP)
        .and_then(|(_, cm)| cm.pointer(&format!("/data/{DATA_KEY}")))
        .and_then(Value::as_str)
        .map(str::to_owned);
    let Some(source) = source else {
        return;
    };
    if memory.storage_class_source.as_deref() == Some(source.as_str()) {
        return;
    }
    memory.storage_class_source = Some(source.clone());
    let Ok(mut desired) = serde_norway::Deserializer::from_str(&source)
        .next()
        .map(Value::deserialize)
        .transpose()
        .map(Option::unwrap_or_default)
    else {
        return;
    };
    if !desired.is_object() || name(&desired).is_empty() {
        return;
    }
    *slot(&mut desired, &["metadata", "annotations", LAST_APPLIED]) = json!(CONFIG_MAP);
    let sc_rt = rt("storage.k8s.io", "storageclasses");
    let key = ObjectKey::new(sc_rt, "", name(&desired));
    if let Some(current) = store.get(&key) {
        let annotations_equal = |v: &Value| {
            let mut a = v
                .pointer("/metadata/annotations")
                .cloned()
                .unwrap_or(json!({}));
            if let Some(map) = a.as_object_mut() {
                map.remove(LAST_APPLIED);
            }
            a
        };
        let same = COMPARED.iter().all(|f| current.get(f) == desired.get(f))
            && annotations_equal(current) == annotations_equal(&desired);
        if same {
            return;
        }
        let _ = store.delete(&key, false);
    }
    let _ = store.create(sc_rt, desired, now, false);
}
