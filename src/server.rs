//! Building and running the Pingora server from a validated configuration.

use std::sync::Arc;

use arc_swap::ArcSwap;
use pingora::listeners::tls::TlsSettings;
use pingora::server::configuration::{Opt, ServerConf};
use pingora::server::Server;

use crate::config::GatewayConfig;
use crate::proxy::Gateway;

/// A Pingora server with the gateway's services, ready to run.
pub fn build(config: GatewayConfig) -> Result<Server, String> {
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
    let shared = Arc::new(ArcSwap::from_pointee(config));
    let gateway = Gateway::new(shared)?;
    let mut service = pingora::proxy::http_proxy_service_with_name(
        &server.configuration,
        gateway,
        "taxii-gateway",
    );
    for l in &listeners {
        let addr = l.address.to_string();
        match &l.tls {
            None => service.add_tcp(&addr),
            Some(tls) => {
                let settings = TlsSettings::intermediate(
                    &tls.certificate_file.display().to_string(),
                    &tls.key_file.display().to_string(),
                )
                .map_err(|e| format!("listener {addr}: {e}"))?;
                service.add_tls_with_settings(&addr, None, settings);
            }
        }
    }
    server.add_service(service);
    Ok(server)
}
