//! Builds a kube-rs client the way kubectl would: `--kubeconfig`, `KUBECONFIG`, `--context`, and
//! the pod's service account when running inside the cluster.

use std::path::{Path, PathBuf};

use kube::config::{Config, KubeConfigOptions, Kubeconfig};

use crate::deadline::DeadlineLayer;

/// Which cluster a client talks to, for provenance and for error messages a person can act on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterEndpoint {
    /// The API server URL.
    pub server: String,
    /// The kubeconfig context, or `in-cluster` for a service account.
    pub context: String,
}

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("failed to read kubeconfig {path}")]
    ReadKubeconfig {
        path: PathBuf,
        #[source]
        source: kube::config::KubeconfigError,
    },
    #[error("failed to load context {context:?} from the kubeconfig")]
    Context {
        context: String,
        #[source]
        source: kube::config::KubeconfigError,
    },
    #[error("no kubeconfig found and not running inside a cluster")]
    NoConfig {
        #[source]
        source: kube::config::InferConfigError,
    },
    #[error("failed to build a client for {server}")]
    Build {
        server: String,
        #[source]
        source: kube::Error,
    },
}

/// A client for the cluster named by `kubeconfig` (else `KUBECONFIG`, else `~/.kube/config`, else
/// the in-cluster service account) and `context` (else the kubeconfig's current context).
pub async fn client_from(
    kubeconfig: Option<&Path>,
    context: Option<&str>,
) -> Result<(kube::Client, ClusterEndpoint), ClientError> {
    client_with(kubeconfig, context, |_| {}).await
}

/// [`client_from`] with a last say on the configuration. Every request gets the deadline of
/// [`crate::deadline::request_timeout`]; `default_retry` left on (as kube-rs sets it) retries
/// throttled requests within [`crate::deadline::RETRY_BUDGET`], turned off (apply) never.
pub async fn client_with(
    kubeconfig: Option<&Path>,
    context: Option<&str>,
    adjust: impl FnOnce(&mut Config),
) -> Result<(kube::Client, ClusterEndpoint), ClientError> {
    let options = KubeConfigOptions {
        context: context.map(str::to_owned),
        ..KubeConfigOptions::default()
    };
    let (config, context_name) = match kubeconfig {
        Some(path) => {
            let file =
                Kubeconfig::read_from(path).map_err(|source| ClientError::ReadKubeconfig {
                    path: path.to_owned(),
                    source,
                })?;
            from_kubeconfig(file, &options).await?
        }
        None => match Kubeconfig::read() {
            Ok(file) => from_kubeconfig(file, &options).await?,
            // No kubeconfig anywhere: inside a pod the service account still works. A context
            // asked for explicitly cannot be honoured there, so that stays an error.
            Err(_) if context.is_none() => {
                let config = Config::infer()
                    .await
                    .map_err(|source| ClientError::NoConfig { source })?;
                (config, "in-cluster".to_owned())
            }
            Err(source) => {
                return Err(ClientError::ReadKubeconfig {
                    path: PathBuf::from("$KUBECONFIG or ~/.kube/config"),
                    source,
                });
            }
        },
    };
    let mut config = config;
    adjust(&mut config);
    // kube-rs's retries wait minutes in all; the deadline layer's are bounded (see `deadline`).
    let settings = DeadlineLayer {
        timeout: crate::deadline::request_timeout(),
        retry: config.default_retry,
    };
    config.default_retry = false;
    let server = config.cluster_url.to_string();
    let server = server.trim_end_matches('/').to_owned();
    let (builder, transport) =
        crate::transport::builder(config).map_err(|source| ClientError::Build {
            server: server.clone(),
            source,
        })?;
    tracing::debug!(%server, ?transport, "client built");
    let client = builder
        .with_layer(&tower::buffer::BufferLayer::new(1024))
        .with_layer(&settings)
        .build();
    Ok((
        client,
        ClusterEndpoint {
            server,
            context: context_name,
        },
    ))
}

async fn from_kubeconfig(
    file: Kubeconfig,
    options: &KubeConfigOptions,
) -> Result<(Config, String), ClientError> {
    let name = options
        .context
        .clone()
        .or_else(|| file.current_context.clone())
        .unwrap_or_default();
    let config = Config::from_custom_kubeconfig(file, options)
        .await
        .map_err(|source| ClientError::Context {
            context: name.clone(),
            source,
        })?;
    Ok((config, name))
}
