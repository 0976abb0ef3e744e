//! Building and running the Pingora server from a validated configuration.

use std::sync::Arc;

use arc_swap::ArcSwap;
use pingora::listeners::tls::TlsSettings;
use pingora::server::configuration::{Opt, ServerConf};
use pingora::server::Server;

use crate::config::GatewayConfig;
use crate::proxy::passthrough::Passthrough;
use crate::proxy::Gateway;
use pingora::services::listening::Service;

/// A Pingora server with the gateway's services, ready to run.
pub fn build(config: GatewayConfig, mode: Mode) -> Result<Server, String> {
    pingora::tls::install_default_crypto_provider();
    let conf = ServerConf {
        threads: config.server.threads,
        grace_period_seconds: Some(config.server.grace_period.as_secs()),
        graceful_shutdown_timeout_seconds: Some(config.server.graceful_shutdown_timeout.as_secs()),
        pid_file: config
            .server
            .pid_file
            .as_ref()
            .map(|p| p.display().to_string())
            .unwrap_or_else(|| ServerConf::default().pid_file),
        ..ServerConf::default()
    };
    // Pingora's own command line (-c -d -u -t) is not ours: the options come from our CLI.
    let mut server = Server::new_with_opt_and_conf(Opt::default(), conf);
    server.bootstrap();
    let listeners = config.listeners.clone();
    match mode {
        Mode::Gateway => {
            let shared = Arc::new(ArcSwap::from_pointee(config));
            let gateway = Gateway::new(shared)?;
            let mut service = pingora::proxy::http_proxy_service_with_name(
                &server.configuration,
                gateway,
                "taxii-gateway",
            );
            add_listeners(&mut service, &listeners)?;
            server.add_service(service);
        }
        Mode::Passthrough => {
            let plain = Passthrough::new(Arc::new(config));
            let mut service = pingora::proxy::http_proxy_service_with_name(
                &server.configuration,
                plain,
                "passthrough",
            );
            add_listeners(&mut service, &listeners)?;
            server.add_service(service);
        }
    }
    Ok(server)
}

/// What `run` serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// The gateway.
    Gateway,
    /// A plain Pingora passthrough with the same routes: the load benchmark's baseline.
    Passthrough,
}

fn add_listeners<A>(
    service: &mut Service<A>,
    listeners: &[crate::config::Listener],
) -> Result<(), String> {
    for l in listeners {
        let addr = l.address.to_string();
        match &l.tls {
            None => service.add_tcp(&addr),
            Some(tls) => {
                let settings = TlsSettings::intermediate(
                    &tls.certificate_file.display().to_string(),
                    &tls.key_file.display().to_string(),
                )
                .map_err(|e| format!("listener {addr}: {e}"))?;
                let mut settings = settings;
                if let Some(ca) = &tls.client_ca_file {
                    settings.set_client_cert_verifier(client_verifier(
                        ca,
                        tls.client_certificate_required,
                    )?);
                }
                service.add_tls_with_settings(&addr, None, settings);
            }
        }
    }
    Ok(())
}

/// `demo`: the gateway from `config` plus the embedded sample upstream on the address of the
/// config's upstream named `sample`, advertising the gateway's public URL.
pub fn build_demo(config: GatewayConfig) -> Result<(Server, String, Vec<&'static str>), String> {
    let upstream = config
        .upstreams
        .iter()
        .find(|u| u.name == "sample")
        .ok_or("the demo configuration needs an [[upstream]] named \"sample\"")?;
    let listen = upstream.authority();
    let public = config
        .server
        .public_url
        .clone()
        .or_else(|| {
            config
                .listeners
                .first()
                .map(|l| format!("http://{}", l.address))
        })
        .ok_or("no listener")?;
    let sample = crate::demo::upstream::SampleUpstream::new(&public);
    let feeds = sample.feed_names();
    let mut server = build(config, Mode::Gateway)?;
    server.add_service(crate::demo::service::service(&listen, sample));
    Ok((server, public, feeds))
}

/// `sample-upstream`: the sample upstream alone (tests, load benchmark).
pub fn build_sample_upstream(listen: &str, advertise: &str) -> Server {
    let mut server = Server::new_with_opt_and_conf(
        Opt::default(),
        ServerConf {
            threads: 2,
            grace_period_seconds: Some(0),
            graceful_shutdown_timeout_seconds: Some(1),
            ..ServerConf::default()
        },
    );
    server.bootstrap();
    let sample = crate::demo::upstream::SampleUpstream::new(advertise);
    server.add_service(crate::demo::service::service(listen, sample));
    server
}

/// A verifier of partners' client certificates issued by the CA in `ca_file`; with
/// `required == false` a client may also come without one (then Basic, a token or the
/// anonymous partner identify it).
fn client_verifier(
    ca_file: &std::path::Path,
    required: bool,
) -> Result<Arc<dyn pingora::tls::ClientCertVerifier>, String> {
    let mut roots = pingora::tls::RootCertStore::empty();
    pingora::tls::load_ca_file_into_store(ca_file, &mut roots)
        .map_err(|e| format!("{}: {e}", ca_file.display()))?;
    let builder = pingora::tls::WebPkiClientVerifier::builder(Arc::new(roots));
    let builder = if required {
        builder
    } else {
        builder.allow_unauthenticated()
    };
    builder
        .build()
        .map_err(|e| format!("{}: {e}", ca_file.display()))
}
