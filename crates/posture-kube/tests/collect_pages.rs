//! Collection pages every LIST as kubectl does, and starts a list over when etcd has compacted
//! away its continue token, on a served twin through a client that records each request.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use posture_kube::{ClusterEndpoint, Keep, collect_with};
use posture_twin::api::{RunningTwin, ServeOptions, serve};
use posture_twin::fault::Fault;
use posture_twin::sim::{ScaleParams, generate_scenario};

/// The query of every pod LIST the client sent, in order.
type Log = Arc<Mutex<Vec<String>>>;

/// Records pod LISTs; with `compact_before_continuing` set, compacts the twin's history the first
/// time the client asks for a second page, as etcd might between two pages.
#[derive(Clone)]
struct Record {
    log: Log,
    twin: Arc<RunningTwin>,
    compact_before_continuing: bool,
}

#[derive(Clone)]
struct Recorded<S> {
    inner: S,
    record: Record,
}

impl<S> tower::Layer<S> for Record {
    type Service = Recorded<S>;
    fn layer(&self, inner: S) -> Recorded<S> {
        Recorded {
            inner,
            record: self.clone(),
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
        if request.uri().path() == "/api/v1/pods" {
            let query = request.uri().query().unwrap_or_default().to_owned();
            let mut log = self.record.log.lock().expect("log");
            let first_continue = query.contains("continue=")
                && !log.iter().any(|q: &String| q.contains("continue="));
            if first_continue && self.record.compact_before_continuing {
                compact_after_writes(&self.record.twin);
            }
            log.push(query);
        }
        self.inner.call(request)
    }
}

/// Time passes (leases are renewed: the cluster writes), then etcd compacts up to now, as it does
/// every five minutes on a real control plane.
fn compact_after_writes(twin: &RunningTwin) {
    let before = twin.with_twin(|t| t.store.resource_version());
    twin.with_twin(|t| t.advance(jiff::SignedDuration::from_secs(30)));
    assert!(
        twin.with_twin(|t| t.store.resource_version()) > before,
        "the cluster wrote"
    );
    twin.inject(&Fault::Compact);
}

async fn twin_with_pods(pods: usize) -> Arc<RunningTwin> {
    let mut twin = posture_twin::Twin::new("2026-11-23T12:00:00Z".parse().expect("valid"));
    let scenario = generate_scenario(ScaleParams {
        nodes: 4,
        pods,
        volumes: 2,
        replicas_per_volume: 2,
    });
    twin.load_scenario("generated.yaml", &scenario)
        .expect("the generated scenario loads");
    Arc::new(
        serve(twin, ServeOptions::default())
            .await
            .expect("the twin serves"),
    )
}

async fn recording_client(twin: &Arc<RunningTwin>, log: &Log, compact: bool) -> kube::Client {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("kubeconfig");
    std::fs::write(&path, twin.kubeconfig()).expect("kubeconfig");
    let file = kube::config::Kubeconfig::read_from(&path).expect("kubeconfig");
    let config =
        kube::Config::from_custom_kubeconfig(file, &kube::config::KubeConfigOptions::default())
            .await
            .expect("config");
    let (builder, _) = posture_kube::transport::builder(config).expect("client");
    builder
        .with_layer(&Record {
            log: log.clone(),
            twin: Arc::clone(twin),
            compact_before_continuing: compact,
        })
        .build()
}

fn cluster(twin: &RunningTwin) -> ClusterEndpoint {
    ClusterEndpoint {
        server: twin.url(),
        context: "posture-twin".into(),
    }
}

/// Every pod the twin holds, by namespace and name.
fn pods_in(twin: &RunningTwin) -> BTreeSet<(String, String)> {
    let pods = posture_twin::resources::by_plural("", "pods").expect("pods are served");
    twin.with_twin(|t| {
        t.store
            .list(pods, None)
            .map(|(key, _)| (key.namespace.clone(), key.name.clone()))
            .collect()
    })
}

fn collected(snapshot: &posture_core::Snapshot) -> Vec<(String, String)> {
    let mut names: Vec<(String, String)> = (snapshot.pods.iter())
        .map(|p| {
            (
                p.metadata.namespace.clone().unwrap_or_default(),
                p.metadata.name.clone().unwrap_or_default(),
            )
        })
        .collect();
    names.sort();
    names
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twelve_hundred_pods_come_in_three_pages_of_at_most_five_hundred() {
    let twin = twin_with_pods(1200).await;
    let expected = pods_in(&twin);
    assert_eq!(expected.len(), 1200, "the generated twin holds 1,200 pods");
    let log = Log::default();
    let client = recording_client(&twin, &log, false).await;

    let collection = collect_with(&client, &cluster(&twin), Keep::Typed, 500)
        .await
        .expect("collects");

    let pages = log.lock().expect("log").clone();
    assert_eq!(pages.len(), 3, "{pages:?}");
    assert!(pages.iter().all(|q| q.contains("limit=500")), "{pages:?}");
    assert!(!pages[0].contains("continue="), "{pages:?}");
    assert!(
        pages[1..].iter().all(|q| q.contains("continue=")),
        "{pages:?}"
    );
    let names = collected(&collection.snapshot);
    assert_eq!(names.len(), 1200, "each pod once");
    assert_eq!(
        names.into_iter().collect::<BTreeSet<_>>(),
        expected,
        "every pod present"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_continue_token_starts_the_list_over() {
    let twin = twin_with_pods(1200).await;
    let expected = pods_in(&twin);
    let log = Log::default();
    let client = recording_client(&twin, &log, true).await;

    let collection = collect_with(&client, &cluster(&twin), Keep::Typed, 500)
        .await
        .expect("collects despite the compaction");

    let pages = log.lock().expect("log").clone();
    // First page; its continue token is refused (410); the list starts over and pages through.
    assert_eq!(pages.len(), 5, "{pages:?}");
    assert!(!pages[0].contains("continue="), "{pages:?}");
    assert!(pages[1].contains("continue="), "{pages:?}");
    assert!(
        !pages[2].contains("continue="),
        "the list starts over: {pages:?}"
    );
    assert!(
        pages[3..].iter().all(|q| q.contains("continue=")),
        "{pages:?}"
    );
    let names = collected(&collection.snapshot);
    assert_eq!(
        names.len(),
        1200,
        "no pod twice from the abandoned first page"
    );
    assert_eq!(names.into_iter().collect::<BTreeSet<_>>(), expected);
    assert!(
        collection.snapshot.unreadable("pods").is_none(),
        "{:?}",
        collection.snapshot.unreadable
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_twin_answers_a_compacted_token_as_the_api_server_does() {
    let twin = twin_with_pods(30).await;
    let http = get_json(&twin, "/api/v1/pods?limit=10").await;
    let token = http["metadata"]["continue"]
        .as_str()
        .expect("a continue token")
        .to_owned();
    compact_after_writes(&twin);
    let expired = get_json(&twin, &format!("/api/v1/pods?limit=10&continue={token}")).await;
    assert_eq!(expired["kind"], "Status");
    assert_eq!(expired["code"], 410);
    assert_eq!(expired["reason"], "Expired");
    assert!(
        expired["metadata"]["continue"].is_string(),
        "the Status offers an inconsistent continuation: {expired}"
    );
}

/// GET `path` from the twin with kube-rs's plain client, the body as JSON whatever the status.
async fn get_json(twin: &RunningTwin, path: &str) -> serde_json::Value {
    let config = kube::Config::new(twin.url().parse().expect("url"));
    let client = kube::Client::try_from(config).expect("client");
    let request = http::Request::get(path)
        .body(kube::client::Body::empty())
        .expect("request");
    let response = client.send(request).await.expect("answered");
    let body = response.into_body().collect_bytes().await.expect("a body");
    serde_json::from_slice(&body).expect("JSON")
}

/// Over TLS, as a real API server is reached, a whole collection goes over one HTTP/2
/// connection: no handshake per LIST, and no request waiting behind another's connection.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn over_tls_a_collection_is_http2_on_one_connection() {
    let twin = posture_twin::api::serve_tls(
        posture_twin::Twin::homelab("2026-11-23T12:00:00Z".parse().expect("valid")),
        ServeOptions::default(),
        None,
    )
    .await
    .expect("the twin serves HTTPS");
    assert!(twin.url().starts_with("https://"), "{}", twin.url());
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("kubeconfig");
    twin.write_kubeconfig(&path).expect("kubeconfig");
    let (client, cluster) = posture_kube::client_from(Some(&path), None)
        .await
        .expect("a client that trusts the twin's certificate");

    let snapshot = posture_kube::collect(&client, &cluster)
        .await
        .expect("collects over TLS");

    assert!(!snapshot.nodes.is_empty());
    assert!(snapshot.readyz.is_some() && snapshot.healthz.is_some());
    let (http2, connections) = twin.http2_requests_and_connections();
    // Every LIST and both health probes.
    assert!(http2 >= 24, "{http2} requests over HTTP/2");
    assert_eq!(
        connections, 1,
        "{http2} requests over {connections} connections"
    );
}
