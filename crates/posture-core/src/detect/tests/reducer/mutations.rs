//! Streams of watch events built from the API-shaped fixtures with the fields the reducer reads
//! set, removed or given odd values (wrong types, nulls, huge numbers, escapes), over a few
//! object names per kind so objects are created, changed, deleted and recreated.

use serde_json::{Value, json};

use crate::detect::{EventType, WatchedKind};

const POD: &str = include_str!("../fixtures/pod-coredns.json");
const SLICE: &str = include_str!("../fixtures/endpointslice-kube-dns.json");
const LEASE: &str = include_str!("../fixtures/lease-kube-scheduler.json");
const NODE: &str = include_str!("../fixtures/node-worker.json");
const LONGHORN: &str = include_str!("../fixtures/longhorn-gitea.json");
const EVENT: &str = include_str!("../fixtures/event-evicted.json");

const REPLICA_A: &str = "pvc-9b7d2e51-3c8a-4f06-b1e2-5a7c9d0e4f31-r-a07f3c2";
const REPLICA_C: &str = "pvc-9b7d2e51-3c8a-4f06-b1e2-5a7c9d0e4f31-r-c27f3c2";

/// Every field any kind's reduction reads, and some of their parents.
const PATHS: &[&[&str]] = &[
    &["metadata"],
    &["metadata", "name"],
    &["metadata", "namespace"],
    &["metadata", "labels"],
    &["metadata", "labels", "k8s-app"],
    &["metadata", "labels", "pod-template-hash"],
    &["metadata", "labels", "kubernetes.io/service-name"],
    &["metadata", "labels", "longhornnode"],
    &["metadata", "labels", "longhornvolume"],
    &["metadata", "ownerReferences"],
    &["metadata", "ownerReferences", "0"],
    &["metadata", "ownerReferences", "0", "controller"],
    &["metadata", "ownerReferences", "0", "kind"],
    &["metadata", "ownerReferences", "0", "name"],
    &["metadata", "ownerReferences", "1"],
    &["spec"],
    &["spec", "containers"],
    &["spec", "containers", "0", "image"],
    &["spec", "containers", "1"],
    &["spec", "holderIdentity"],
    &["spec", "renewTime"],
    &["spec", "leaseDurationSeconds"],
    &["spec", "source"],
    &["spec", "source", "persistentVolumeName"],
    &["spec", "nodeName"],
    &["spec", "nodeID"],
    &["spec", "volumeName"],
    &["status"],
    &["status", "reason"],
    &["status", "conditions"],
    &["status", "conditions", "0"],
    &["status", "conditions", "0", "type"],
    &["status", "conditions", "0", "status"],
    &["status", "conditions", "0", "reason"],
    &["status", "conditions", "1", "type"],
    &["status", "conditions", "1", "status"],
    &["status", "containerStatuses"],
    &["status", "containerStatuses", "0", "name"],
    &["status", "containerStatuses", "0", "restartCount"],
    &[
        "status",
        "containerStatuses",
        "0",
        "state",
        "waiting",
        "reason",
    ],
    &["status", "containerStatuses", "1"],
    &["status", "initContainerStatuses"],
    &["status", "initContainerStatuses", "0", "name"],
    &["status", "initContainerStatuses", "0", "restartCount"],
    &["status", "state"],
    &["status", "robustness"],
    &["status", "replicaModeMap"],
    &["status", "replicaModeMap", REPLICA_A],
    &["status", "replicaModeMap", REPLICA_C],
    &["status", "replicaModeMap", "a-first"],
    &["status", "attached"],
    &["endpoints"],
    &["endpoints", "0"],
    &["endpoints", "0", "conditions"],
    &["endpoints", "0", "conditions", "ready"],
    &["endpoints", "1", "conditions", "ready"],
    &["endpoints", "0", "targetRef", "kind"],
    &["endpoints", "0", "targetRef", "name"],
    &["endpoints", "0", "targetRef", "namespace"],
    &["reason"],
    &["involvedObject"],
    &["involvedObject", "kind"],
    &["involvedObject", "name"],
    &["involvedObject", "namespace"],
    &["value"],
];

/// `None` removes the field.
fn odd_value(index: usize) -> Option<Value> {
    let values = [
        Value::Null,
        json!(true),
        json!(false),
        json!(0),
        json!(3),
        json!(7),
        json!(-1),
        json!(2.5),
        json!(3.0),
        json!(u64::MAX),
        json!(i64::MIN),
        json!(1e300),
        json!(""),
        json!("True"),
        json!("False"),
        json!("Unknown"),
        json!("Ready"),
        json!("WO"),
        json!("RW"),
        json!("ERR"),
        json!("Evicted"),
        json!("Preempted"),
        json!("CrashLoopBackOff"),
        json!("DisruptionTarget"),
        json!("Pod"),
        json!("ReplicaSet"),
        json!("kube-dns"),
        json!("6799fbcd5"),
        json!("coredns-6799fbcd5"),
        json!("kube-system"),
        json!("name-0"),
        json!("node-\"q\"\u{e9}\\"),
        json!("2026-11-24T10:00:02Z"),
        json!("not a time"),
        json!("{\"v1\":\"3\",\"v2\":\"2\"}"),
        json!(" 5 "),
        json!("haproxytech/kubernetes-ingress:3.1.4"),
        json!({}),
        json!([]),
        json!(["x", 1, null, {}]),
        json!({"x": 1, "ready": false, "name": 2}),
        json!([{"name": "c", "restartCount": 9}, 4, {"type": "Ready", "status": "True"}]),
        json!({"waiting": {"reason": "CrashLoopBackOff"}}),
    ];
    values.get(index % (values.len() + 1)).cloned()
}

/// One event to build: which fixture, which of a few names, what happens, and which fields
/// are changed to which odd values (indices into [`PATHS`] and [`odd_value`]).
#[derive(Debug, Clone)]
pub(crate) struct Op {
    pub(crate) kind: usize,
    pub(crate) name: usize,
    pub(crate) change: usize,
    pub(crate) edits: Vec<(usize, usize)>,
    /// Likelier changes: indices into the kind's [`focus`] fields and their usual values.
    pub(crate) focus: Vec<(usize, usize)>,
}

pub(crate) const KINDS: usize = 11;
pub(crate) const NAMES: usize = 3;
pub(crate) const CHANGES: usize = 6;
pub(crate) const EDITS: usize = 4;
pub(crate) const VALUES: usize = 64;
pub(crate) const FOCUS: usize = 3;

/// The fields whose changes make signals, per kind, with the values they usually take.
fn focus(kind: WatchedKind) -> Vec<(&'static [&'static str], Vec<Value>)> {
    match kind {
        WatchedKind::Pod => vec![
            (
                &["status", "containerStatuses", "0", "restartCount"],
                (0..6).map(|n| json!(n)).collect(),
            ),
            (
                &[
                    "status",
                    "containerStatuses",
                    "0",
                    "state",
                    "waiting",
                    "reason",
                ],
                vec![json!("CrashLoopBackOff"), json!("ContainerCreating")],
            ),
            (
                &["status", "reason"],
                vec![json!("Evicted"), json!("Running")],
            ),
        ],
        WatchedKind::EndpointSlice => vec![
            (
                &["endpoints", "0", "conditions", "ready"],
                vec![json!(true), json!(false)],
            ),
            (
                &["endpoints", "1", "conditions", "ready"],
                vec![json!(true), json!(false)],
            ),
        ],
        WatchedKind::Lease => vec![
            (&["spec", "holderIdentity"], vec![json!("a"), json!("b")]),
            (
                &["spec", "renewTime"],
                vec![
                    json!("2026-11-24T10:00:01Z"),
                    json!("2026-11-24T10:00:03.5Z"),
                ],
            ),
        ],
        WatchedKind::Node => vec![(
            &["status", "conditions", "1", "status"],
            vec![json!("True"), json!("False"), json!("Unknown")],
        )],
        WatchedKind::Event => vec![(
            &["reason"],
            vec![
                json!("Evicted"),
                json!("Pulled"),
                json!("TaintManagerEviction"),
            ],
        )],
        WatchedKind::LonghornVolume => vec![
            (
                &["status", "state"],
                vec![json!("attached"), json!("detached")],
            ),
            (
                &["status", "robustness"],
                vec![json!("healthy"), json!("degraded")],
            ),
        ],
        WatchedKind::LonghornReplica => {
            vec![
                (&["spec", "nodeID"], vec![json!("node-a"), json!("node-b")]),
                (
                    &["spec", "failedAt"],
                    vec![json!(""), json!("2026-11-24T10:00:05Z")],
                ),
            ]
        }
        WatchedKind::LonghornEngine => vec![
            (
                &["status", "replicaModeMap", REPLICA_A],
                vec![json!("RW"), json!("WO"), json!("ERR")],
            ),
            (
                &["status", "replicaModeMap", REPLICA_C],
                vec![json!("RW"), json!("WO"), json!("WO")],
            ),
        ],
        WatchedKind::LonghornSetting => vec![(
            &["value"],
            vec![json!("1"), json!("2"), json!("{\"v1\":\"3\",\"v2\":\"2\"}")],
        )],
        WatchedKind::VolumeAttachment => {
            vec![(&["status", "attached"], vec![json!(true), json!(false)])]
        }
    }
}

pub(crate) struct Fixtures {
    objects: Vec<(WatchedKind, Value)>,
}

impl Fixtures {
    pub(crate) fn new() -> Self {
        let parse = |text: &str| serde_json::from_str::<Value>(text).expect("fixture is JSON");
        let longhorn = parse(LONGHORN);
        let mut ingress = parse(POD);
        ingress["spec"]["containers"][0]["image"] = json!("haproxytech/kubernetes-ingress:3.1.4");
        ingress["metadata"]["labels"]["k8s-app"] = json!("ingress");
        let objects = vec![
            (WatchedKind::Pod, parse(POD)),
            (WatchedKind::Pod, ingress),
            (WatchedKind::EndpointSlice, parse(SLICE)),
            (WatchedKind::Lease, parse(LEASE)),
            (WatchedKind::Node, parse(NODE)),
            (WatchedKind::Event, parse(EVENT)),
            (WatchedKind::LonghornVolume, longhorn["volume"].clone()),
            (
                WatchedKind::LonghornReplica,
                longhorn["replicas"][1].clone(),
            ),
            (WatchedKind::LonghornEngine, longhorn["engine"].clone()),
            (WatchedKind::LonghornSetting, longhorn["setting"].clone()),
            (
                WatchedKind::VolumeAttachment,
                longhorn["volumeAttachment"].clone(),
            ),
        ];
        assert_eq!(objects.len(), KINDS);
        Self { objects }
    }

    /// The event `op` describes. Names 0 and 1 are renamed; name 2 keeps the fixture's name so
    /// pods, slices and events refer to each other.
    pub(crate) fn build(&self, op: &Op) -> (WatchedKind, EventType, Value) {
        let (kind, base) = &self.objects[op.kind % KINDS];
        let mut object = base.clone();
        if op.name % NAMES < 2 {
            let name = format!("name-{}", op.name % NAMES);
            put(
                &mut object,
                &["metadata", "name"],
                Some(json!(name.clone())),
            );
            if *kind == WatchedKind::Event {
                put(&mut object, &["involvedObject", "name"], Some(json!(name)));
            }
        }
        let focus = focus(*kind);
        for &(field, value) in &op.focus {
            let (path, values) = &focus[field % focus.len()];
            put(
                &mut object,
                path,
                Some(values[value % values.len()].clone()),
            );
        }
        for &(path, value) in &op.edits {
            put(&mut object, PATHS[path % PATHS.len()], odd_value(value));
        }
        let change = match op.change % CHANGES {
            0 => EventType::Added,
            1 => EventType::Deleted,
            _ => EventType::Modified,
        };
        (*kind, change, object)
    }

    /// A deterministic stream of `n` events.
    pub(crate) fn stream(&self, seed: u64, n: usize) -> Vec<(WatchedKind, EventType, Value)> {
        let mut state = seed | 1;
        let mut next = move |bound: usize| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state % bound as u64) as usize
        };
        (0..n)
            .map(|_| {
                let edits = (0..next(EDITS + 1))
                    .map(|_| (next(PATHS.len()), next(VALUES)))
                    .collect();
                let focus = (0..next(FOCUS + 1))
                    .map(|_| (next(FOCUS), next(FOCUS)))
                    .collect();
                let op = Op {
                    kind: next(KINDS),
                    name: next(NAMES),
                    change: next(CHANGES),
                    edits,
                    focus,
                };
                self.build(&op)
            })
            .collect()
    }
}

/// Sets (or with `None` removes) the value at `path`, creating objects on the way and replacing
/// whatever is not one; a numeric segment indexes an array (appending when past its end).
fn put(object: &mut Value, path: &[&str], value: Option<Value>) {
    let Some((last, parents)) = path.split_last() else {
        return;
    };
    let mut at = object;
    for segment in parents {
        at = child(at, segment);
    }
    match (at, value) {
        (Value::Array(items), value) if last.parse::<usize>().is_ok() => {
            let index = last.parse::<usize>().expect("checked");
            match value {
                Some(v) if index < items.len() => items[index] = v,
                Some(v) => items.push(v),
                None if index < items.len() => {
                    items.remove(index);
                }
                None => {}
            }
        }
        (Value::Object(map), Some(v)) => {
            map.insert((*last).to_owned(), v);
        }
        (Value::Object(map), None) => {
            map.remove(*last);
        }
        (other, Some(v)) => *other = json!({ *last: v }),
        (_, None) => {}
    }
}

fn child<'a>(at: &'a mut Value, segment: &str) -> &'a mut Value {
    if let (Value::Array(items), Ok(index)) = (&*at, segment.parse::<usize>()) {
        let len = items.len();
        let Value::Array(items) = at else {
            unreachable!("matched above")
        };
        if index >= len {
            items.push(json!({}));
            return items.last_mut().expect("just pushed");
        }
        return &mut items[index];
    }
    if !at.is_object() {
        *at = json!({});
    }
    let Value::Object(map) = at else {
        unreachable!("made an object above")
    };
    map.entry(segment.to_owned()).or_insert_with(|| json!({}))
}
