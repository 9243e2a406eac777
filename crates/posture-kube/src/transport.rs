//! The connection kube-rs's default stack would make, with two changes a short-lived CLI feels on
//! every request: Nagle's algorithm off (`TCP_NODELAY`), so a request written right after the TLS
//! handshake does not wait for the server's delayed ACK; and HTTP/2 offered in the TLS handshake,
//! so a run's parallel requests share one connection instead of opening one each, as kubectl does.
//!
//! A plain-HTTP server (the twin) gets HTTP/1.1 as before. A kubeconfig with a proxy or with an
//! exec plugin keeps kube-rs's own stack: proxies need its tunnelling connectors, and an exec
//! plugin's client certificate expiry is only known inside kube-rs.

use http_body_util::BodyExt;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use kube::client::{Body, ClientBuilder, ConfigExt, DynBody};
use kube::config::Config;
use tower::util::BoxService;
use tower::{BoxError, ServiceBuilder, ServiceExt as _};

/// Which stack [`builder`] chose, for the debug log and for tests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    /// `TCP_NODELAY`, and HTTP/2 where the server offers it in TLS.
    Tuned,
    /// kube-rs's default stack (proxy or exec plugin in the kubeconfig).
    KubeDefault,
}

/// A HTTP/2 connection's first window; grown adaptively from there as a large LIST streams.
const H2_INITIAL_WINDOW: u32 = 1 << 20;

/// The service kube-rs's own builder makes: requests in, boxed bodies out.
pub type Service = BoxService<http::Request<Body>, http::Response<Box<DynBody>>, BoxError>;

/// A client builder for `config`, and which transport it uses.
pub fn builder(config: Config) -> Result<(ClientBuilder<Service>, Transport), kube::Error> {
    if config.proxy_url.is_some() || config.auth_info.exec.is_some() {
        return Ok((ClientBuilder::try_from(config)?, Transport::KubeDefault));
    }
    let mut http = HttpConnector::new();
    http.enforce_http(false);
    http.set_nodelay(true);
    http.set_connect_timeout(config.connect_timeout);

    let tls = config.rustls_client_config()?;
    let https = hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config(tls)
        .https_or_http();
    let https = match config.tls_server_name.as_deref() {
        Some(name) => {
            let name = name.to_owned().try_into().map_err(|e| {
                kube::Error::RustlsTls(kube::client::RustlsTlsError::InvalidServerName(e))
            })?;
            https.with_server_name_resolver(hyper_rustls::FixedServerNameResolver::new(name))
        }
        None => https,
    };
    let https = https.enable_all_versions().wrap_connector(http);

    let mut connector = hyper_timeout::TimeoutConnector::new(https);
    connector.set_connect_timeout(config.connect_timeout);
    connector.set_read_timeout(config.read_timeout);
    connector.set_write_timeout(config.write_timeout);
    connector.set_reset_reader_on_write(config.reset_reader_on_write);

    let client: hyper_util::client::legacy::Client<_, Body> =
        hyper_util::client::legacy::Builder::new(TokioExecutor::new())
            .http2_initial_stream_window_size(H2_INITIAL_WINDOW)
            .http2_initial_connection_window_size(H2_INITIAL_WINDOW)
            .http2_adaptive_window(true)
            .build(connector);

    let default_namespace = config.default_namespace.clone();
    let service = ServiceBuilder::new()
        .layer(config.base_uri_layer())
        .option_layer(config.auth_layer()?)
        .layer(config.extra_headers_layer()?)
        .map_err(BoxError::from)
        .service(client)
        .map_response(|response| {
            response.map(|body| Box::new(body.map_err(BoxError::from)) as Box<DynBody>)
        })
        .boxed();
    Ok((
        ClientBuilder::new(service, default_namespace),
        Transport::Tuned,
    ))
}
