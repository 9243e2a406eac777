use serde_json::{Value, json};

use super::*;
use crate::plan::patch::apply_as_server;
use crate::plan::{Delivery, PostCondition};

fn cluster() -> ClusterIdentity {
    ClusterIdentity {
        server: "https://lab:6443".into(),
        kube_system_uid: "uid-1".into(),
    }
}

fn deployment(namespace: &str, name: &str) -> ObjectRef {
    ObjectRef::new("apps/v1", "Deployment", Some(namespace), name)
}

/// A change on `object` that sets `/spec/replicas`, owned as given.
fn change(object: ObjectRef, owner: Option<Owner>, replicas: i64, live: bool) -> Change {
    let observed = json!({"spec": {}});
    let pinned = build(
        &observed,
        &[Edit::Set(path(&["spec", "replicas"]), json!(replicas))],
    )
    .expect("builds")
    .expect("a change");
    Change {
        id: format!("{}#1", object.name),
        summary: String::new(),
        object: object.clone(),
        resource_version: None,
        owner,
        delivery: if live {
            Delivery::Live
        } else {
            Delivery::SourceFile {
                file_name: "owned.patch.yaml".into(),
                content: String::new(),
                instructions: Vec::new(),
            }
        },
        action: Action::Patch {
            forward: pinned.forward,
            inverse: pinned.inverse,
        },
        post_condition: PostCondition::ObjectExists { object },
    }
}

fn plan(changes: Vec<Change>) -> Plan {
    Plan::outside_planner(
        cluster(),
        "test".into(),
        Vec::new(),
        vec![Stage {
            id: "s".into(),
            section: Section::Ingress,
            title: String::new(),
            runbook_approval_required: false,
            rationale: String::new(),
            changes,
        }],
    )
}

fn application(name: &str, self_heal: bool) -> Value {
    json!({
        "apiVersion": "argoproj.io/v1alpha1", "kind": "Application",
        "metadata": {"name": name, "namespace": "argocd", "resourceVersion": "7"},
        "spec": {"syncPolicy": {"automated": {"prune": true, "selfHeal": self_heal}}},
    })
}

fn kustomization(name: &str) -> Value {
    json!({
        "apiVersion": "kustomize.toolkit.fluxcd.io/v1", "kind": "Kustomization",
        "metadata": {"name": name, "namespace": "flux-system"},
        "spec": {"interval": "10m", "path": "./apps", "prune": true},
    })
}

fn hpa(namespace: &str, target: &str, min: i64, max: i64, current: i64) -> Value {
    json!({
        "apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler",
        "metadata": {"name": target, "namespace": namespace},
        "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": target},
                 "minReplicas": min, "maxReplicas": max},
        "status": {"currentReplicas": current},
    })
}

fn the_lab() -> (Plan, Controllers) {
    let plan = plan(vec![
        change(
            deployment("ingress", "haproxy"),
            Some(Owner::ArgoCd {
                app: "ingress".into(),
            }),
            2,
            true,
        ),
        change(
            deployment("apps", "gitea"),
            Some(Owner::Flux {
                kind: "Kustomization".into(),
                name: "apps".into(),
            }),
            1,
            true,
        ),
        change(
            deployment("kube-system", "coredns"),
            Some(Owner::K3sAddon {
                name: "coredns".into(),
            }),
            2,
            false,
        ),
    ]);
    let controllers = Controllers {
        argo_applications: vec![application("ingress", true), application("other", true)],
        flux: vec![kustomization("apps"), kustomization("infra")],
        autoscalers: vec![
            hpa("kube-system", "coredns", 1, 3, 1),
            hpa("apps", "unrelated", 1, 3, 1),
        ],
        scaled_objects: Vec::new(),
    };
    (plan, controllers)
}

fn held(pause: &PausePlan) -> Vec<(String, Hold)> {
    pause
        .held
        .iter()
        .map(|h| (h.object.to_string(), h.hold.clone()))
        .collect()
}

/// Applies a change's forward patch and then its inverse to `doc`, returning both results.
fn round_trip(change: &Change, doc: &Value) -> (Value, Value) {
    let Action::Patch { forward, inverse } = &change.action else {
        panic!("a patch");
    };
    // As the API server applies them: a KEDA annotation is added to metadata tested absent.
    let mut after = doc.clone();
    apply_as_server(&mut after, forward).expect("forward applies");
    let mut back = after.clone();
    apply_as_server(&mut back, inverse).expect("inverse applies");
    (after, back)
}

#[test]
fn pauses_the_owners_and_autoscalers_of_what_the_plan_changes_and_nothing_else() {
    let (plan, controllers) = the_lab();
    let pause = plan_pause(&plan, &controllers).expect("builds");
    let held = held(&pause);
    assert_eq!(held.len(), 3, "{held:?}");
    assert!(held[0].0.contains("argocd/ingress") && held[0].1 == Hold::AutomatedSyncOff);
    assert!(held[1].0.contains("flux-system/apps") && held[1].1 == Hold::Suspended);
    // CoreDNS runs one replica now and the plan sets two: the pin holds two.
    assert!(held[2].0.contains("kube-system/coredns"));
    assert_eq!(held[2].1, Hold::Pinned { replicas: 2 });
    let plan = pause.plan.expect("a pause plan");
    assert_eq!(plan.stages.len(), 1);
    assert_eq!(plan.stages[0].id, PAUSE_STAGE);
    assert_eq!(plan.sha256, plan.content_hash());
    assert!(plan.verify().is_ok());
}

#[test]
fn each_pause_is_undone_exactly_and_its_inverse_tests_the_paused_value() {
    let (plan, controllers) = the_lab();
    let pause = plan_pause(&plan, &controllers).expect("builds");
    let changes = &pause.plan.expect("a plan").stages[0].changes;
    let originals = [
        &controllers.argo_applications[0],
        &controllers.flux[0],
        &controllers.autoscalers[0],
    ];
    for (change, original) in changes.iter().zip(originals) {
        let (after, back) = round_trip(change, original);
        assert_ne!(&after, original, "{}", change.id);
        assert_eq!(&back, original, "{}", change.id);
        // Someone turned the setting back meanwhile: the inverse's tests refuse.
        let Action::Patch { inverse, .. } = &change.action else {
            panic!("a patch");
        };
        let mut meddled = after.clone();
        match change.object.kind.as_str() {
            "Application" => meddled["spec"]["syncPolicy"]["automated"] = json!({"selfHeal": true}),
            "Kustomization" => meddled["spec"]["suspend"] = json!(false),
            _ => meddled["spec"]["maxReplicas"] = json!(5),
        }
        assert!(
            json_patch::patch(&mut meddled, inverse).is_err(),
            "{} inverse overwrote a change",
            change.id
        );
    }
    // Automated sync is off, not only self-heal: a commit landing mid-run is not synced over
    // the run's live changes either. The rest of the sync policy is left alone, and the
    // inverse puts the policy back as it was, prune and all.
    let mut app = controllers.argo_applications[0].clone();
    app["spec"]["syncPolicy"]["syncOptions"] = json!(["CreateNamespace=true"]);
    let mut controllers = controllers.clone();
    controllers.argo_applications[0] = app.clone();
    let pause = plan_pause(&plan, &controllers).expect("builds");
    let (after, back) = round_trip(&pause.plan.expect("a plan").stages[0].changes[0], &app);
    assert_eq!(after.pointer("/spec/syncPolicy/automated"), None);
    assert_eq!(
        after.pointer("/spec/syncPolicy/syncOptions"),
        Some(&json!(["CreateNamespace=true"]))
    );
    assert_eq!(back, app);
}

#[test]
fn already_paused_or_never_healing_owners_are_noted_not_patched() {
    let (plan, mut controllers) = the_lab();
    let mut manual = application("ingress", false);
    manual["spec"]["syncPolicy"] = json!({"syncOptions": ["CreateNamespace=true"]});
    controllers.argo_applications = vec![manual];
    controllers.flux[0]["spec"]["suspend"] = json!(true);
    controllers.autoscalers[0] = hpa("kube-system", "coredns", 2, 2, 2);
    let pause = plan_pause(&plan, &controllers).expect("builds");
    assert!(pause.plan.is_none(), "{:?}", pause.held);
    assert_eq!(pause.notes.len(), 3, "{:?}", pause.notes);
    assert!(
        pause.notes[0].contains("not synced automatically"),
        "{:?}",
        pause.notes
    );
    assert!(pause.notes[1].contains("already suspended"));
    assert!(pause.notes[2].contains("already pinned at 2"));
}

/// Without self-heal, automated sync still applies the next commit, over the run's live
/// changes: such an Application is paused too. One whose newer `automated.enabled` is false is
/// not synced automatically at all.
#[test]
fn automated_sync_without_self_heal_is_paused_and_a_disabled_one_is_not() {
    let (plan, mut controllers) = the_lab();
    controllers.argo_applications = vec![application("ingress", false)];
    let pause = plan_pause(&plan, &controllers).expect("builds");
    assert_eq!(pause.held[0].hold, Hold::AutomatedSyncOff);

    controllers.argo_applications[0]["spec"]["syncPolicy"]["automated"]["enabled"] = json!(false);
    let pause = plan_pause(&plan, &controllers).expect("builds");
    assert!(
        pause.held.iter().all(|h| h.object.kind != "Application"),
        "{:?}",
        pause.held
    );
    assert!(
        pause.notes[0].contains("not synced automatically"),
        "{:?}",
        pause.notes
    );
}

/// An app-of-apps parent would sync its child's automated policy straight back, and an Argo CD
/// Application owning an HPA would put its bounds back: both owners are paused too, ahead of
/// what they own (paused first, restored last), up to the root. A Flux Kustomization owning an
/// Application is suspended. An owner of a Flux object is not: `suspend` is in no manifest.
#[test]
fn the_owners_of_a_paused_application_or_hpa_are_paused_first() {
    let (plan, mut controllers) = the_lab();
    let tracked_by = |object: &mut Value, app: &str| {
        object["metadata"]["annotations"] = json!({
            "argocd.argoproj.io/tracking-id": format!("{app}:argoproj.io/Application:argocd/x")
        });
    };
    tracked_by(&mut controllers.argo_applications[0], "apps-of-apps");
    let mut parent = application("apps-of-apps", true);
    tracked_by(&mut parent, "root");
    let root = application("root", false);
    assert!(root.pointer("/spec/syncPolicy/automated").is_some());
    controllers.argo_applications.extend([parent, root]);
    tracked_by(&mut controllers.autoscalers[0], "dns");
    controllers.argo_applications.push(application("dns", true));
    controllers.flux[0]["metadata"]["labels"] =
        json!({"kustomize.toolkit.fluxcd.io/name": "flux-system"});

    let pause = plan_pause(&plan, &controllers).expect("builds");
    let names: Vec<&str> = pause.held.iter().map(|h| h.object.name.as_str()).collect();
    // Each owner ahead of what it owns; Flux's own owner left running.
    let before = |a: &str, b: &str| {
        let at = |n: &str| names.iter().position(|x| *x == n).expect(n);
        at(a) < at(b)
    };
    assert!(before("root", "apps-of-apps"), "{names:?}");
    assert!(before("apps-of-apps", "ingress"), "{names:?}");
    assert!(before("dns", "coredns"), "{names:?}");
    assert!(!names.contains(&"flux-system"), "{names:?}");
    let parent = pause
        .held
        .iter()
        .find(|h| h.object.name == "apps-of-apps")
        .expect("the parent is held");
    assert_eq!(parent.hold, Hold::AutomatedSyncOff);
    assert_eq!(parent.because_of[0].name, "ingress");
    // The plan's changes run in the same order, so the journal restores children first.
    let plan = pause.plan.expect("a pause plan");
    let changed: Vec<&str> = plan.stages[0]
        .changes
        .iter()
        .map(|c| c.object.name.as_str())
        .collect();
    assert_eq!(changed, names);

    // A Flux Kustomization applying the Application is suspended instead.
    let (plan, mut controllers) = the_lab();
    controllers.argo_applications[0]["metadata"]["labels"] =
        json!({"kustomize.toolkit.fluxcd.io/name": "infra"});
    let pause = plan_pause(&plan, &controllers).expect("builds");
    let infra = pause
        .held
        .iter()
        .find(|h| h.object.name == "infra")
        .expect("the Kustomization applying the Application is held");
    assert_eq!(infra.hold, Hold::Suspended);
}

#[test]
fn an_owner_missing_from_the_cluster_is_named_in_a_note() {
    let (plan, mut controllers) = the_lab();
    controllers.flux.clear();
    let pause = plan_pause(&plan, &controllers).expect("builds");
    assert!(
        pause
            .notes
            .iter()
            .any(|n| n.contains("Flux Kustomization apps") && n.contains("apps/gitea")),
        "{:?}",
        pause.notes
    );
}

#[test]
fn argo_applications_in_other_namespaces_match_by_their_tracking_name() {
    let (mut plan, controllers) = the_lab();
    plan.stages[0].changes[0].owner = Some(Owner::ArgoCd {
        app: "argocd_ingress".into(),
    });
    let pause = plan_pause(&plan, &controllers).expect("builds");
    assert_eq!(pause.held[0].hold, Hold::AutomatedSyncOff);
    assert_eq!(pause.held[0].object.name, "ingress");
}

#[test]
fn keda_pauses_its_scaled_object_and_leaves_its_hpa_to_keda() {
    let (plan, mut controllers) = the_lab();
    let mut keda_hpa = hpa("apps", "gitea", 1, 4, 1);
    keda_hpa["metadata"]["name"] = json!("keda-hpa-gitea");
    keda_hpa["metadata"]["ownerReferences"] =
        json!([{"apiVersion": "keda.sh/v1alpha1", "kind": "ScaledObject", "name": "gitea"}]);
    controllers.autoscalers.push(keda_hpa);
    let scaled = json!({
        "apiVersion": "keda.sh/v1alpha1", "kind": "ScaledObject",
        "metadata": {"name": "gitea", "namespace": "apps"},
        "spec": {"scaleTargetRef": {"name": "gitea"}},
    });
    controllers.scaled_objects.push(scaled.clone());
    let pause = plan_pause(&plan, &controllers).expect("builds");
    let held = held(&pause);
    assert!(
        !held.iter().any(|(o, _)| o.contains("keda-hpa")),
        "{held:?}"
    );
    let keda = pause
        .held
        .iter()
        .position(|h| h.hold == Hold::KedaPaused)
        .expect("the ScaledObject is paused");
    let change = &pause.plan.expect("a plan").stages[0].changes[keda];
    let (after, back) = round_trip(change, &scaled);
    assert_eq!(
        after.pointer("/metadata/annotations/autoscaling.keda.sh~1paused"),
        Some(&json!("true"))
    );
    assert_eq!(back, scaled);

    // One paused by hand already is left alone.
    let mut by_hand = scaled;
    by_hand["metadata"]["annotations"] = json!({KEDA_PAUSED_REPLICAS: "1"});
    let (plan, mut controllers) = the_lab();
    controllers.scaled_objects.push(by_hand);
    let pause = plan_pause(&plan, &controllers).expect("builds");
    assert!(!pause.held.iter().any(|h| h.hold == Hold::KedaPaused));
}

#[test]
fn an_hpa_is_never_pinned_below_what_it_runs_now() {
    let (plan, mut controllers) = the_lab();
    controllers.autoscalers[0] = hpa("kube-system", "coredns", 1, 6, 4);
    let pause = plan_pause(&plan, &controllers).expect("builds");
    assert!(
        pause
            .held
            .iter()
            .any(|h| h.hold == Hold::Pinned { replicas: 4 })
    );
}

#[test]
fn a_plan_of_unowned_objects_without_autoscalers_pauses_nothing() {
    let plan = plan(vec![change(deployment("apps", "x"), None, 2, true)]);
    let pause = plan_pause(&plan, &Controllers::default()).expect("builds");
    assert!(pause.plan.is_none());
    assert!(pause.held.is_empty() && pause.notes.is_empty());
}

#[test]
fn a_drill_pins_the_autoscalers_of_the_workloads_on_the_node_at_what_they_run() {
    use crate::checks::testkit::{daemon_set, deployment, pod, two_nodes};
    let mut snap = two_nodes();
    snap.deployments = vec![
        deployment("apps", "web").build(),
        deployment("apps", "elsewhere").build(),
    ];
    snap.daemon_sets = vec![daemon_set("kube-system", "agent").build()];
    snap.pods = vec![
        pod("apps", "web-1")
            .on("p")
            .owned_by("Deployment", "web")
            .build(),
        pod("apps", "elsewhere-1")
            .on("s")
            .owned_by("Deployment", "elsewhere")
            .build(),
        pod("kube-system", "agent-1")
            .on("p")
            .owned_by("DaemonSet", "agent")
            .build(),
    ];
    let controllers = Controllers {
        argo_applications: vec![application("web", true)],
        autoscalers: vec![
            hpa("apps", "web", 1, 5, 3),
            hpa("apps", "elsewhere", 1, 5, 1),
        ],
        ..Controllers::default()
    };
    let pause = drill_pause(
        &snap,
        "p",
        &crate::policy::Policy::default(),
        &controllers,
        cluster(),
    )
    .expect("builds");
    assert_eq!(
        held(&pause),
        vec![(
            "HorizontalPodAutoscaler apps/web".to_owned(),
            Hold::Pinned { replicas: 3 }
        )]
    );
    assert_eq!(pause.plan.expect("a plan").source, "drill --pause");
}

#[test]
fn an_hpa_with_no_current_count_and_no_planned_one_is_not_pinned_by_guess() {
    let (mut plan, mut controllers) = the_lab();
    // The plan changes CoreDNS without setting its replicas; its HPA has no status.
    plan.stages[0].changes[2] = Change {
        action: Action::Patch {
            forward: json_patch::Patch(Vec::new()),
            inverse: json_patch::Patch(Vec::new()),
        },
        ..plan.stages[0].changes[2].clone()
    };
    controllers.autoscalers[0]
        .as_object_mut()
        .expect("an object")
        .remove("status");
    let pause = plan_pause(&plan, &controllers).expect("builds");
    assert!(
        !pause
            .held
            .iter()
            .any(|h| matches!(h.hold, Hold::Pinned { .. }))
    );
    assert!(
        pause.notes.iter().any(|n| n.contains("not pinned")),
        "{:?}",
        pause.notes
    );
}
