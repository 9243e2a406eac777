//! Forward and inverse patches driven through a real API server's storage rules, as the twin
//! models them: whatever the edits, the inverse journaled for a write (rebuilt on what the
//! server stored) brings back the object the plan found.

use posture_core::apply::inverse::{effect_holds, rebase};
use posture_core::plan::patch::{Edit, apply_as_server, build, path, tests_hold};
use proptest::prelude::*;
use serde_json::{Value, json};

/// What a real API server stores for a Deployment it is sent: Go's serialization rules (empty
/// maps and lists dropped, empty structs kept) and its defaults.
fn stored(mut object: Value) -> Value {
    let deployments = posture_twin::resources::by_plural("apps", "deployments").expect("served");
    posture_twin::model::normalize(deployments, &mut object);
    object
}

fn deployment(selector: &[(String, String)], tolerations: &[String], affinity: bool) -> Value {
    let mut spec = json!({
        "containers": [{"name": "web", "image": "nginx:1.27"}],
        "nodeSelector": selector
            .iter()
            .map(|(k, v)| (k.clone(), json!(v)))
            .collect::<serde_json::Map<String, Value>>(),
        "tolerations": tolerations
            .iter()
            .map(|key| json!({"key": key, "operator": "Exists", "effect": "NoSchedule"}))
            .collect::<Vec<_>>(),
    });
    if affinity {
        spec["affinity"] = json!({"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
            "nodeSelectorTerms": [{"matchExpressions": [{"key": "zone", "operator": "In", "values": ["a"]}]}]
        }}});
    }
    stored(json!({
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web", "namespace": "apps", "labels": {"app": "web"}},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": {"app": "web"}},
            "template": {"metadata": {"labels": {"app": "web"}}, "spec": spec},
        },
    }))
}

fn pod_spec(tokens: &[&str]) -> Vec<String> {
    let mut full = vec!["spec", "template", "spec"];
    full.extend_from_slice(tokens);
    path(&full)
}

fn edit() -> impl Strategy<Value = Edit> {
    let key = "[a-c]";
    prop_oneof![
        key.prop_map(|k| Edit::Remove(pod_spec(&["nodeSelector", &k]))),
        (key, "[x-z]").prop_map(|(k, v)| Edit::Set(pod_spec(&["nodeSelector", &k]), json!(v))),
        Just(Edit::Set(pod_spec(&["nodeSelector"]), json!({}))),
        Just(Edit::Set(pod_spec(&["tolerations"]), json!([]))),
        Just(Edit::Remove(pod_spec(&["tolerations"]))),
        key.prop_map(|k| Edit::Set(
            pod_spec(&["tolerations"]),
            json!([{"key": k, "operator": "Exists"}])
        )),
        Just(Edit::Remove(pod_spec(&["affinity", "nodeAffinity"]))),
        Just(Edit::Set(pod_spec(&["affinity"]), json!({}))),
        (0i64..3).prop_map(|n| Edit::Set(path(&["spec", "replicas"]), json!(n))),
        Just(Edit::Remove(path(&["metadata", "labels", "app"]))),
    ]
}

proptest! {
    #[test]
    fn a_rebased_inverse_restores_what_the_server_stored(
        selector in prop::collection::vec(("[a-c]", "[x-z]"), 0..3),
        tolerations in prop::collection::vec("[a-c]", 0..3),
        affinity in any::<bool>(),
        edits in prop::collection::vec(edit(), 1..5),
    ) {
        let observed = deployment(&selector, &tolerations, affinity);
        let Some(planned) = build(&observed, &edits).expect("the planner builds its patches") else {
            return Ok(());
        };
        let mut live = observed.clone();
        apply_as_server(&mut live, &planned.forward).expect("the forward patch applies");
        let live = stored(live);
        prop_assert!(effect_holds(&planned.forward, &live), "{live}");

        let inverse = rebase(&planned.inverse, &live);
        prop_assert!(tests_hold(&inverse, &live), "{inverse:?} on {live}");
        let mut restored = live.clone();
        apply_as_server(&mut restored, &inverse).expect("the inverse applies");
        let restored = stored(restored);
        prop_assert_eq!(&restored, &observed);
        prop_assert!(tests_hold(&planned.forward, &restored));
    }
}

#[test]
fn the_planned_inverse_alone_fails_where_the_server_dropped_an_emptied_map() {
    let observed = deployment(&[("a".into(), "x".into())], &[], false);
    let planned = build(&observed, &[Edit::Remove(pod_spec(&["nodeSelector", "a"]))])
        .expect("builds")
        .expect("a change");
    let mut live = observed.clone();
    apply_as_server(&mut live, &planned.forward).expect("applies");
    let live = stored(live);
    assert!(live.pointer("/spec/template/spec/nodeSelector").is_none());
    assert!(
        !tests_hold(&planned.inverse, &live),
        "the planned inverse tests nodeSelector {{}}"
    );
    let mut restored = live.clone();
    apply_as_server(&mut restored, &rebase(&planned.inverse, &live)).expect("applies");
    assert_eq!(stored(restored), observed);
}
