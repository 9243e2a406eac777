//! Every request posture makes fits `posture_kube::rbac::PERMISSIONS`: collect, the server's
//! answer to a drill, a `watch --act` counter-move, and an apply with `--ingress-daemonset` and
//! its rollback run against the twin through a client that records each request's method and
//! path.

#[path = "apply/support.rs"]
mod support;

use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use posture_core::apply::{ApplyState, Halt};
use std::time::Duration;

use posture_core::plan::PlanOptions;
use posture_core::report::Section;
use posture_kube::rbac::{NON_RESOURCE_URLS, allows, permission_of};
use posture_kube::watch::act::{Act, act};

type Log = Arc<Mutex<Vec<(String, String, String)>>>;

#[derive(Clone)]
struct Record(Log);

#[derive(Clone)]
struct Recorded<S> {
    inner: S,
    log: Log,
}

impl<S> tower::Layer<S> for Record {
    type Service = Recorded<S>;
    fn layer(&self, inner: S) -> Recorded<S> {
        Recorded {
            inner,
            log: self.0.clone(),
        }
    }
}

impl<S, B> tower::Service<http::Request<B>> for Recorded<S>
where
    S: tower::Service<http::Request<B>>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = S::Future;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        let uri = request.uri();
        self.log.lock().expect("log").push((
            request.method().to_string(),
            uri.path().to_owned(),
            uri.query().unwrap_or_default().to_owned(),
        ));
        self.inner.call(request)
    }
}

async fn recording_client(kubeconfig: &std::path::Path, log: &Log) -> kube::Client {
    let file = kube::config::Kubeconfig::read_from(kubeconfig).expect("kubeconfig");
    let config =
        kube::Config::from_custom_kubeconfig(file, &kube::config::KubeConfigOptions::default())
            .await
            .expect("config");
    kube::client::ClientBuilder::try_from(config)
        .expect("client")
        .with_layer(&Record(log.clone()))
        .build()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_request_fits_the_documented_permissions() {
    let mut lab = support::lab().await;
    let log: Log = Log::default();
    let client = recording_client(&lab.kubeconfig, &log).await;
    let (_, cluster) = posture_kube::client_from(Some(&lab.kubeconfig), None)
        .await
        .expect("client");

    posture_kube::collect(&client, &cluster)
        .await
        .expect("collect");
    posture_kube::drill::server_dry_run(&client, "miniserver")
        .await
        .expect("the server answers a dry-run drain");
    let journal = lab.journal_path("act.journal");
    act(&client, &cluster, &Act::StopRebuilds, Some(&journal))
        .await
        .expect("act");

    // The ingress stage with a DaemonSet creates it, and the rollback deletes it again.
    let plan = lab
        .plan(PlanOptions {
            sections: vec![Section::Ingress],
            allow_owned: true,
            ingress_daemonset: true,
        })
        .await;
    lab.client = client;
    let mut settings = lab.settings();
    settings.timeout = Duration::from_secs(20);
    let outcome = lab.apply(&plan, "apply.journal", settings).await;
    assert_eq!(outcome.state, ApplyState::Done, "{outcome:?}");
    let (_, outcome) = lab.roll_back(&plan, "apply.journal").await;
    assert_eq!(
        outcome.state,
        ApplyState::Halted(Halt::RolledBack),
        "{outcome:?}"
    );

    let log = log.lock().expect("log").clone();
    let mut used = std::collections::BTreeSet::new();
    for (method, path, query) in &log {
        match permission_of(method, path, query) {
            Some((group, resource, namespace, verb)) => {
                assert!(
                    allows(&group, &resource, namespace.as_deref(), verb),
                    "{method} {path}?{query} needs {verb} on {group}/{resource} in {namespace:?}, \
                     which rbac::PERMISSIONS (and docs/install.md) do not grant"
                );
                used.insert((resource, verb));
            }
            None => assert!(
                NON_RESOURCE_URLS.contains(&path.as_str()),
                "{method} {path}: not a resource nor a granted URL"
            ),
        }
    }
    // The run exercised the writes the table exists for.
    for needed in [
        ("daemonsets", "create"),
        ("daemonsets", "delete"),
        ("leases", "create"),
        ("leases", "delete"),
        ("settings", "patch"),
        ("pods/eviction", "create"),
    ] {
        assert!(
            used.contains(&(needed.0.to_owned(), needed.1)),
            "no {} on {} among {used:?}",
            needed.1,
            needed.0
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_paused_apply_asks_only_for_the_documented_permissions() {
    let mut lab = support::lab_of(posture_twin::Twin::homelab_gitops(support::start_time())).await;
    let log: Log = Log::default();
    let client = recording_client(&lab.kubeconfig, &log).await;
    let plan = lab
        .plan(PlanOptions {
            sections: vec![Section::Preconditions, Section::Ingress, Section::Coredns],
            allow_owned: true,
            ..PlanOptions::default()
        })
        .await;
    lab.client = client;
    let header = posture_core::apply::journal::JournalHeader::for_plan(&plan);
    let mut file =
        posture_kube::journal::JournalFile::create(&lab.journal_path("p.journal"), &header)
            .expect("journal");
    let point = posture_core::apply::journal::resume_point(&plan, &header, &[]).expect("point");
    let mut approve = posture_kube::apply::ApproveAll;
    let mut engine = posture_kube::apply::Engine {
        client: lab.client.clone(),
        server: lab.server.clone(),
        options: posture_core::apply::ApplyOptions {
            auto_approve: true,
            ..Default::default()
        },
        settings: lab.settings(),
        journal: &mut file,
        approver: &mut approve,
    };
    let run = engine
        .run_paused(
            &plan,
            posture_core::apply::Mode::Apply(point),
            &lab.journal_path("p.journal.pause"),
        )
        .await
        .expect("the paused run runs");
    assert_eq!(run.outcome.state, ApplyState::Done, "{:?}", run.outcome);
    assert_eq!(run.restored, Ok(3));

    let log = log.lock().expect("log").clone();
    let mut used = std::collections::BTreeSet::new();
    for (method, path, query) in &log {
        let Some((group, resource, namespace, verb)) = permission_of(method, path, query) else {
            assert!(
                NON_RESOURCE_URLS.contains(&path.as_str()),
                "{method} {path}"
            );
            continue;
        };
        assert!(
            allows(&group, &resource, namespace.as_deref(), verb),
            "{method} {path}?{query} needs {verb} on {group}/{resource} in {namespace:?}, \
             which rbac::PERMISSIONS (and docs/install.md) do not grant"
        );
        used.insert((resource, verb));
    }
    for needed in [
        ("applications", "list"),
        ("applications", "patch"),
        ("kustomizations", "list"),
        ("kustomizations", "patch"),
        ("helmreleases", "list"),
        ("scaledobjects", "list"),
        ("horizontalpodautoscalers", "patch"),
    ] {
        assert!(
            used.contains(&(needed.0.to_owned(), needed.1)),
            "no {} on {} among {used:?}",
            needed.1,
            needed.0
        );
    }
}
