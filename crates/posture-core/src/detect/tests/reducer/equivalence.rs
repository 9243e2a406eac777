//! Reading an object from its JSON through the sparse view and reading it from a
//! `serde_json::Value` reduce to the same signals, whatever the object holds.

use proptest::prelude::*;
use serde_json::{Value, json};

use super::mutations::{CHANGES, EDITS, FOCUS, Fixtures, KINDS, NAMES, Op, VALUES};
use crate::detect::tests::t;
use crate::detect::{EventType, Reducer, Signal, WatchEvent, WatchedKind, WatchedObject};

#[path = "../../../../benches/detectors/objects.rs"]
mod bench_objects;

/// Both paths over the same events, each with its own reducer.
fn both_paths(events: &[(WatchedKind, EventType, Value)]) -> (Vec<Signal>, Vec<Signal>) {
    let (mut by_value, mut by_json) = (Reducer::new(), Reducer::new());
    let (mut from_values, mut from_json) = (Vec::new(), Vec::new());
    for (i, (kind, change, object)) in events.iter().enumerate() {
        let at = t(i as i64);
        from_values.extend(by_value.reduce(at, *kind, *change, object));
        let text = serde_json::to_string(object).expect("serializable");
        assert_eq!(
            WatchedObject::from_json_bytes(text.as_bytes()).expect("valid JSON"),
            WatchedObject::from_value(object)
        );
        from_json.extend(
            by_json
                .reduce_json(at, *kind, *change, &text)
                .expect("valid JSON"),
        );
    }
    assert_eq!(by_value.live_objects(), by_json.live_objects());
    (from_values, from_json)
}

#[test]
fn the_pinned_stream_of_odd_objects_reduces_the_same_from_json() {
    let events = Fixtures::new().stream(0x0BAD_5EED_F00D, 20_000);
    let (from_values, from_json) = both_paths(&events);
    assert!(from_values.len() > 5_000, "the stream makes signals");
    assert_eq!(from_values, from_json);
}

#[test]
fn the_benchmark_stream_reduces_the_same_from_watch_event_lines() {
    let lines = bench_objects::lines(20_000, 500, 20, 50, 100);
    let (mut by_value, mut by_json) = (Reducer::new(), Reducer::new());
    let (mut from_values, mut from_json) = (Vec::new(), Vec::new());
    for (i, line) in lines.iter().enumerate() {
        let at = t(i as i64);
        let value: Value = serde_json::from_str(line).expect("JSON");
        let object = &value["object"];
        let kind = WatchedKind::of(
            object["apiVersion"].as_str().expect("apiVersion"),
            object["kind"].as_str().expect("kind"),
        )
        .expect("watched");
        from_values.extend(by_value.reduce(at, kind, EventType::Modified, object));

        let event = WatchEvent::from_json(line).expect("watch event");
        assert_eq!(event.change, Some(EventType::Modified));
        assert_eq!(event.object.watched_kind(), Some(kind));
        from_json.extend(by_json.reduce_object(at, kind, EventType::Modified, &event.object));
    }
    assert!(from_values.len() > 1_000, "the stream makes signals");
    assert_eq!(from_values, from_json);
    assert_eq!(by_value.live_objects(), by_json.live_objects());
}

#[test]
fn a_repeated_key_reads_as_a_value_would_the_last_one_winning() {
    let text = r#"{"metadata": {"name": "a", "name": "b"},
        "status": {"replicaModeMap": {"r2": "WO", "r1": "RW", "r2": "ERR"}}}"#;
    let value: Value = serde_json::from_str(text).expect("JSON");
    assert_eq!(value["metadata"]["name"], json!("b"));
    let from_json = WatchedObject::from_json(text).expect("JSON");
    assert_eq!(from_json, WatchedObject::from_value(&value));
    assert_eq!(from_json.fields().name(), "b");
    let modes: Vec<(&str, Option<&str>)> = (from_json.fields().status.replica_mode_map.0.iter())
        .map(|(r, m)| (r.as_ref(), m.get()))
        .collect();
    assert_eq!(modes, [("r1", Some("RW")), ("r2", Some("ERR"))]);
}

#[test]
fn escaped_keys_and_strings_read_unescaped() {
    let text = r#"{"metadata": {"na\u006de": "a\"b", "labels": {"k8s-app": "kube\u002ddns"}}}"#;
    let object = WatchedObject::from_json(text).expect("JSON");
    assert_eq!(object.fields().name(), "a\"b");
    assert_eq!(object.fields().labels().k8s_app.get(), Some("kube-dns"));
}

#[test]
fn what_is_not_an_object_reads_as_an_empty_one_and_broken_json_is_an_error() {
    for text in [
        "[1, 2]",
        "\"pod\"",
        "null",
        "3",
        r#"{"metadata": [1, {"name": "x"}]}"#,
    ] {
        let object = WatchedObject::from_json(text).expect("JSON");
        assert_eq!(object, WatchedObject::default(), "{text}");
    }
    assert!(WatchedObject::from_json(r#"{"metadata": {"name": "a"}"#).is_err());
    assert!(WatchEvent::from_json(r#"{"type": "MODIFIED", "object": "#).is_err());
    assert!(WatchedObject::from_json_bytes(b"{\"metadata\": {\"name\": \"\xff\"}}").is_err());
    let mut reducer = Reducer::new();
    assert!(
        reducer
            .reduce_json(t(0), WatchedKind::Pod, EventType::Added, "{")
            .is_err()
    );
    assert_eq!(reducer.live_objects(), 0);
}

#[test]
fn watch_event_types_other_than_changes_have_no_change() {
    for (text, change) in [
        (r#"{"type": "ADDED", "object": {}}"#, Some(EventType::Added)),
        (
            r#"{"object": {}, "type": "DELETED"}"#,
            Some(EventType::Deleted),
        ),
        (r#"{"type": "BOOKMARK", "object": {}}"#, None),
        (r#"{"type": "ERROR", "object": {"kind": "Status"}}"#, None),
        (r#"{"type": 1}"#, None),
    ] {
        let event = WatchEvent::from_json(text).expect("JSON");
        assert_eq!(event.change, change, "{text}");
    }
}

fn op() -> impl Strategy<Value = Op> {
    (
        0..KINDS,
        0..NAMES,
        0..CHANGES,
        prop::collection::vec((0..1000usize, 0..VALUES), 0..=EDITS),
        prop::collection::vec((0..FOCUS, 0..FOCUS), 0..=FOCUS),
    )
        .prop_map(|(kind, name, change, edits, focus)| Op {
            kind,
            name,
            change,
            edits,
            focus,
        })
}

proptest! {
    #[test]
    fn both_ways_of_reading_objects_give_the_same_signals(
        ops in prop::collection::vec(op(), 1..120),
    ) {
        let fixtures = Fixtures::new();
        let events: Vec<_> = ops.iter().map(|op| fixtures.build(op)).collect();
        let (from_values, from_json) = both_paths(&events);
        prop_assert_eq!(from_values, from_json);
    }

    #[test]
    fn any_bytes_read_as_an_object_or_an_error_never_a_panic(
        bytes in prop::collection::vec(any::<u8>(), 0..200),
    ) {
        let mut reducer = Reducer::new();
        let text = String::from_utf8_lossy(&bytes);
        for kind in [WatchedKind::Pod, WatchedKind::LonghornEngine, WatchedKind::EndpointSlice] {
            let _ = reducer.reduce_json(t(0), kind, EventType::Modified, &text);
        }
        let _ = WatchEvent::from_json_bytes(&bytes);
        let _ = WatchedObject::from_json_bytes(&bytes);
    }
}

#[test]
fn reducer_memory_follows_live_objects_not_events() {
    let lines = bench_objects::lines(40_000, 200, 20, 50, 100);
    let mut reducer = Reducer::new();
    let mut after = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        let event = WatchEvent::from_json(line).expect("watch event");
        let kind = event.object.watched_kind().expect("watched");
        reducer.reduce_object(t(i as i64), kind, EventType::Modified, &event.object);
        if i + 1 == 10_000 || i + 1 == 40_000 {
            after.push((reducer.live_objects(), reducer.live_bytes()));
        }
    }
    let [(objects, bytes), (objects_4x, bytes_4x)] = after[..] else {
        panic!("two samples");
    };
    assert_eq!(objects, objects_4x, "every object was seen by then");
    assert!(
        bytes_4x <= bytes + bytes / 20,
        "{bytes} bytes, then {bytes_4x}"
    );
    assert!(
        bytes / objects < 1_000,
        "{} bytes per object",
        bytes / objects
    );
}
