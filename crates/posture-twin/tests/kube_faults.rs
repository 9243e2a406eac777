//! Injected API faults and the control endpoint, seen through kube-rs.

mod common;

use k8s_openapi::api::core::v1::Node;
use kube::api::Api;
use posture_twin::fault::Fault;

use common::{GUARD, api_status};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn injected_api_errors_hit_the_requested_share() {
    let served = common::serve_homelab().await;
    let client = served.client().await;
    let nodes: Api<Node> = Api::all(client.clone());
    served.twin.inject(&Fault::ApiErrors {
        rate: 0.25,
        status: 500,
    });
    let mut failures = 0;
    for _ in 0..40 {
        if let Err(error) = nodes.get("worker-1").await {
            assert_eq!(api_status(error), (500, "InternalError".to_owned()));
            failures += 1;
        }
        client
            .apiserver_version()
            .await
            .expect("discovery is never faulted");
    }
    assert_eq!(failures, 10);
    served.twin.inject(&Fault::ClearAll);
    for _ in 0..8 {
        nodes.get("worker-1").await.expect("faults cleared");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn control_endpoint_advances_virtual_time_reported_in_date_headers() {
    let served = common::serve_homelab().await;
    let client = served.client().await;
    let request = http::Request::post("/twin/v1/advance")
        .header("content-type", "application/json")
        .body(br#"{"seconds": 90}"#.to_vec())
        .expect("request");
    let answer: serde_json::Value = client.request(request).await.expect("advanced");
    assert_eq!(answer["now"], "2026-11-23T12:01:30Z");
    assert_eq!(
        served.twin.now(),
        common::start_time() + jiff::SignedDuration::from_secs(90)
    );
    let response = client
        .send(
            http::Request::get("/readyz")
                .body(kube::client::Body::empty())
                .expect("request"),
        )
        .await
        .expect("readyz");
    let date = response
        .headers()
        .get(http::header::DATE)
        .and_then(|d| d.to_str().ok())
        .expect("a Date header");
    assert_eq!(date, "Mon, 23 Nov 2026 12:01:30 GMT");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn injected_timeouts_hold_requests_until_cleared() {
    let served = common::serve_homelab().await;
    let nodes: Api<Node> = Api::all(served.client().await);
    served.twin.inject(&Fault::ApiTimeouts { rate: 1.0 });
    let held = tokio::spawn({
        let nodes = nodes.clone();
        async move { nodes.get("worker-1").await }
    });
    tokio::time::timeout(GUARD, async {
        while served.twin.held_requests() == 0 {
            tokio::task::yield_now().await;
        }
    })
    .await
    .expect("the request is held");
    assert!(!held.is_finished());
    served.twin.inject(&Fault::ClearAll);
    let answer = tokio::time::timeout(GUARD, held)
        .await
        .expect("released when cleared")
        .expect("task");
    assert_eq!(api_status(answer.expect_err("timed out")).0, 504);
    assert_eq!(served.twin.held_requests(), 0);
    nodes.get("worker-1").await.expect("answered again");
}
