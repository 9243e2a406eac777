//! HTTPS for the twin, with a self-signed certificate made at start: a real API server is only
//! reached over TLS, and a client's connection handling (Nagle's algorithm, HTTP/2 negotiation,
//! one connection or many) only shows there. Both HTTP/2 and HTTP/1.1 are offered, as
//! kube-apiserver offers them.

use std::sync::Arc;

use axum::Router;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls;

/// The certificate the twin serves with, for the kubeconfig that trusts it.
#[derive(Clone)]
pub(crate) struct Identity {
    /// PEM of the self-signed certificate (it is its own certificate authority).
    pub(crate) certificate_pem: String,
    acceptor: TlsAcceptor,
}

#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("failed to make a self-signed certificate")]
    Certificate(#[from] rcgen::Error),
    #[error("failed to set up TLS")]
    Config(#[from] rustls::Error),
}

impl Identity {
    /// A fresh self-signed certificate for `localhost` and 127.0.0.1.
    pub(crate) fn self_signed() -> Result<Self, TlsError> {
        let certified = rcgen::generate_simple_self_signed(vec![
            "localhost".to_owned(),
            "127.0.0.1".to_owned(),
        ])?;
        let certificate_pem = certified.cert.pem();
        let key =
            rustls::pki_types::PrivateKeyDer::Pkcs8(certified.signing_key.serialize_der().into());
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()?
            .with_no_client_auth()
            .with_single_cert(vec![certified.cert.der().clone()], key)?;
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        Ok(Self {
            certificate_pem,
            acceptor: TlsAcceptor::from(Arc::new(config)),
        })
    }
}

/// Serves `router` over TLS on `listener` until `stopped` resolves. Each connection is
/// HTTP/2 or HTTP/1.1 as the client's ALPN asks.
pub(crate) async fn serve(
    listener: TcpListener,
    router: Router,
    identity: Identity,
    shared: &super::Shared,
    stopped: impl Future<Output = ()>,
) {
    tokio::pin!(stopped);
    loop {
        let (tcp, _) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    tracing::warn!(%error, "twin TLS listener failed to accept");
                    continue;
                }
            },
            () = &mut stopped => return,
        };
        shared
            .connections
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        // As Go's net package does for kube-apiserver.
        let _ = tcp.set_nodelay(true);
        let acceptor = identity.acceptor.clone();
        let service = TowerToHyperService::new(router.clone());
        tokio::spawn(async move {
            let Ok(stream) = acceptor.accept(tcp).await else {
                return;
            };
            let served = auto::Builder::new(TokioExecutor::new())
                .serve_connection_with_upgrades(TokioIo::new(stream), service)
                .await;
            if let Err(error) = served {
                tracing::debug!(%error, "twin TLS connection ended");
            }
        });
    }
}
