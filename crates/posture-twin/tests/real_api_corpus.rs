//! The twin answers as a real kube-apiserver does: every case of the recorded corpus of real
//! answers (`shared/realapi/` next to the workspace, see its README.md) is sent to a served
//! homelab twin by the corpus's own `compare.py`, which must find every answer identical.
//!
//! Deliberate differences from a real server, none of which the corpus pins:
//! - new pods get no projected service account token volume (the twin has no tokens);
//! - pod templates carry no `creationTimestamp: null` (clients and compare.py ignore it);
//! - unknown fields of built-in kinds are kept (the shape tables do not list every field);
//! - CRD `x-kubernetes-validations` (CEL) rules and string formats are not checked.

mod common;

use std::path::PathBuf;

/// `shared/` sits beside the workspace root.
fn compare_script() -> PathBuf {
    let workspace = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let script = workspace.join("../shared/realapi/compare.py");
    assert!(
        script.is_file(),
        "the real API corpus is missing: expected {} (the `shared/` directory beside the \
         workspace root holds the recorded answers of a real API server)",
        script.display()
    );
    script
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_corpus_answer_matches_the_real_api_server() {
    let script = compare_script();
    let served = common::serve_homelab().await;
    let output = tokio::process::Command::new("python3")
        .arg(&script)
        .arg(&served.kubeconfig)
        .output()
        .await
        .expect("python3 runs compare.py");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "compare.py found answers that differ from the real API server's:\n{stdout}\n{stderr}"
    );
}
