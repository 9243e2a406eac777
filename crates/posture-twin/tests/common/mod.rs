//! A served homelab twin and helpers to drive it with the real kubectl and kube-rs.

#![allow(dead_code)]

use std::path::PathBuf;
use std::process::Output;

use posture_twin::Twin;
use posture_twin::api::{RunningTwin, ServeOptions, serve};

pub struct Served {
    pub twin: RunningTwin,
    pub dir: tempfile::TempDir,
    pub kubeconfig: PathBuf,
}

pub fn start_time() -> jiff::Timestamp {
    "2026-11-23T12:00:00Z".parse().expect("valid timestamp")
}

pub async fn serve_homelab() -> Served {
    let twin = serve(Twin::homelab(start_time()), ServeOptions::default())
        .await
        .expect("the twin serves");
    let dir = tempfile::tempdir().expect("temp dir");
    let kubeconfig = dir.path().join("kubeconfig");
    twin.write_kubeconfig(&kubeconfig)
        .expect("kubeconfig written");
    Served {
        twin,
        dir,
        kubeconfig,
    }
}

pub struct KubectlResult {
    pub success: bool,
    pub stdout: String,
    pub stderr: String,
}

impl Served {
    /// Runs the real kubectl against the twin, with its discovery cache kept in the temp dir.
    pub async fn kubectl(&self, args: &[&str]) -> KubectlResult {
        let mut command = std::process::Command::new("kubectl");
        command
            .arg("--kubeconfig")
            .arg(&self.kubeconfig)
            .arg("--cache-dir")
            .arg(self.dir.path().join("cache"))
            .args(args)
            .env("HOME", self.dir.path());
        let output: Output = tokio::task::spawn_blocking(move || command.output())
            .await
            .expect("kubectl task")
            .expect("kubectl runs");
        KubectlResult {
            success: output.status.success(),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }

    /// Starts a long-running kubectl (such as `get -w`) with its stdout piped; killed on drop.
    pub fn kubectl_spawn(&self, args: &[&str]) -> tokio::process::Child {
        tokio::process::Command::new("kubectl")
            .arg("--kubeconfig")
            .arg(&self.kubeconfig)
            .arg("--cache-dir")
            .arg(self.dir.path().join("cache"))
            .args(args)
            .env("HOME", self.dir.path())
            .stdout(std::process::Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("kubectl starts")
    }

    pub async fn kubectl_ok(&self, args: &[&str]) -> String {
        let result = self.kubectl(args).await;
        assert!(
            result.success,
            "kubectl {args:?} failed:\n{}\n{}",
            result.stdout, result.stderr
        );
        result.stdout
    }

    /// A kube-rs client without its default retries, so tests see each answer as sent
    /// (kube retries 429, which eviction answers when a disruption budget forbids it).
    pub async fn client(&self) -> kube::Client {
        let mut config = kube::Config::from_custom_kubeconfig(
            kube::config::Kubeconfig::read_from(&self.kubeconfig).expect("kubeconfig reads"),
            &kube::config::KubeConfigOptions::default(),
        )
        .await
        .expect("kubeconfig is valid");
        config.default_retry = false;
        kube::Client::try_from(config).expect("client builds")
    }
}

/// Failure guard for awaited events; never a synchronisation delay.
pub const GUARD: std::time::Duration = std::time::Duration::from_secs(20);

pub fn api_status(error: kube::Error) -> (u16, String) {
    match error {
        kube::Error::Api(status) => (status.code, status.reason),
        other => panic!("expected an API error, got {other:?}"),
    }
}

pub fn config_map(name: &str, value: &str) -> k8s_openapi::api::core::v1::ConfigMap {
    serde_json::from_value(serde_json::json!({
        "metadata": {"name": name, "namespace": "apps"},
        "data": {"value": value},
    }))
    .expect("valid config map")
}

pub fn value_of(cm: &k8s_openapi::api::core::v1::ConfigMap) -> Option<&str> {
    cm.data
        .as_ref()
        .and_then(|d| d.get("value"))
        .map(String::as_str)
}
