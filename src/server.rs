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
pub fn build(config: GatewayConfig, mode: Mode) -> Result<Built, String> {
    let reload_from = (mode == Mode::Gateway).then(|| config.source.clone());
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
    let admin = config.admin;
    let mut readiness = None;
    if admin.is_some() {
        crate::metrics::enable();
    }
    let mut audit_log = None;
    let mut capture_log = None;
    match mode {
        Mode::Gateway => {
            let shared = Arc::new(ArcSwap::from_pointee(config));
            let audit = match &shared.load().audit {
                None => None,
                Some(a) => Some(
                    crate::audit::writer::AuditLog::open(
                        &a.file,
                        a.queue_records,
                        a.when_full == crate::config::WhenFull::Block,
                    )
                    .map_err(|e| format!("audit file {}: {e}", a.file.display()))?,
                ),
            };
            audit_log = audit.clone();
            let capture = match &shared.load().capture {
                None => None,
                Some(c) => Some(
                    crate::audit::capture::CaptureLog::open(&c.dir, c.keep)
                        .map_err(|e| format!("capture directory {}: {e}", c.dir.display()))?,
                ),
            };
            capture_log = capture.clone();
            let gateway = Gateway::new(shared, audit, capture)?;
            if let Some(audit) = &audit_log {
                server.add_service(pingora::services::background::background_service(
                    "audit-reopen",
                    AuditReopener {
                        audit: audit.clone(),
                    },
                ));
            }
            if admin.is_some() {
                let upstreams = gateway
                    .config_snapshot()
                    .upstreams
                    .iter()
                    .map(|u| u.name.clone())
                    .collect();
                let ready = Arc::new(crate::proxy::probe::Readiness::new(upstreams));
                readiness = Some(ready.clone());
                server.add_service(pingora::services::background::background_service(
                    "upstream-probe",
                    crate::proxy::probe::Prober {
                        gateway: gateway.clone(),
                        readiness: ready,
                    },
                ));
            }
            if let Some(path) = reload_from {
                server.add_service(pingora::services::background::background_service(
                    "reload",
                    Reloader {
                        path,
                        gateway: gateway.clone(),
                    },
                ));
            }
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
    if let Some(admin) = admin {
        let mut service = Service::new(
            "admin".to_string(),
            pingora::apps::http_app::HttpServer::new_app(crate::metrics::AdminApp { readiness }),
        );
        service.add_tcp(&admin.to_string());
        server.add_service(service);
    }
    Ok(Built {
        server,
        audit: audit_log,
        capture: capture_log,
    })
}

/// A built server and what must be done after it stops.
pub struct Built {
    pub server: Server,
    audit: Option<Arc<crate::audit::writer::AuditLog>>,
    capture: Option<Arc<crate::audit::capture::CaptureLog>>,
}

impl Built {
    /// Runs until SIGTERM (graceful: exchanges in flight finish) or SIGINT, then writes out and
    /// flushes every queued audit record before the process exits.
    pub fn run(self) -> ! {
        self.server.run(pingora::server::RunArgs::default());
        if let Some(audit) = &self.audit {
            if !audit.flush(std::time::Duration::from_secs(10)) {
                log::error!("audit log: the writer did not finish within 10 s");
            }
        }
        if let Some(capture) = &self.capture {
            if !capture.flush(std::time::Duration::from_secs(10)) {
                log::error!("capture: the writer did not finish within 10 s");
            }
        }
        std::process::exit(0)
    }
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
                    // With client certificates: the same settings, plus a callback that reads the
                    // verified certificate's subject for authentication by subject DN.
                    let mut with_subject = TlsSettings::with_callbacks(Box::new(ClientSubject))
                        .map_err(|e| format!("listener {addr}: {e}"))?;
                    with_subject
                        .set_certificate_chain_file(&tls.certificate_file.display().to_string())
                        .map_err(|e| format!("listener {addr}: {e}"))?;
                    with_subject
                        .set_private_key_file(&tls.key_file.display().to_string())
                        .map_err(|e| format!("listener {addr}: {e}"))?;
                    with_subject.set_client_cert_verifier(client_verifier(
                        ca,
                        tls.client_certificate_required,
                    )?);
                    settings = with_subject;
                }
                service.add_tls_with_settings(&addr, None, settings);
            }
        }
    }
    Ok(())
}

/// `demo`: the gateway from `config` plus the embedded sample upstream on the address of the
/// config's upstream named `sample`, advertising the gateway's public URL.
pub fn build_demo(config: GatewayConfig) -> Result<(Built, String, Vec<&'static str>), String> {
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
    let mut built = build(config, Mode::Gateway)?;
    built
        .server
        .add_service(crate::demo::service::service(&listen, sample));
    Ok((built, public, feeds))
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

/// The subject DN of a partner's client certificate, in RFC 4514 order (most specific RDN
/// first: `CN=alpha,O=Alpha`), stored with the connection for authentication.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerSubject(pub String);

/// Reads the verified client certificate's subject once per connection.
struct ClientSubject;

#[async_trait::async_trait]
impl pingora::listeners::TlsAccept for ClientSubject {
    async fn handshake_complete_callback(
        &self,
        tls: &pingora::protocols::tls::TlsRef,
    ) -> Option<Arc<dyn std::any::Any + Send + Sync>> {
        let der = tls.peer_certificate_der()?;
        use x509_parser::prelude::FromDer;
        let (_, cert) = x509_parser::certificate::X509Certificate::from_der(der).ok()?;
        Some(Arc::new(PeerSubject(rfc4514(cert.subject()))))
    }
}

/// RFC 4514 string of a name: RDNs last to first, `+` between the values of one RDN.
pub(crate) fn rfc4514(name: &x509_parser::x509::X509Name<'_>) -> String {
    let registry = x509_parser::objects::oid_registry();
    let rdns: Vec<String> = name
        .iter_rdn()
        .map(|rdn| {
            rdn.iter()
                .map(|atv| {
                    let key = x509_parser::objects::oid2abbrev(atv.attr_type(), registry)
                        .map(str::to_string)
                        .unwrap_or_else(|_| atv.attr_type().to_id_string());
                    let value = atv.as_str().unwrap_or("");
                    format!("{key}={}", escape_dn_value(value))
                })
                .collect::<Vec<_>>()
                .join("+")
        })
        .collect();
    rdns.into_iter().rev().collect::<Vec<_>>().join(",")
}

fn escape_dn_value(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    for (i, c) in v.chars().enumerate() {
        let edge = (i == 0 && (c == ' ' || c == '#')) || (i + 1 == v.chars().count() && c == ' ');
        if edge || matches!(c, ',' | '+' | '"' | '\\' | '<' | '>' | ';' | '=') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// SIGUSR1: reopen the audit file (after logrotate moved it away); the chain goes on in the
/// new file.
struct AuditReopener {
    audit: Arc<crate::audit::writer::AuditLog>,
}

#[async_trait::async_trait]
impl pingora::services::background::BackgroundService for AuditReopener {
    async fn start(&self, mut shutdown: pingora::server::ShutdownWatch) {
        let Ok(mut usr1) =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::user_defined1())
        else {
            log::error!("audit: cannot listen for SIGUSR1");
            return;
        };
        loop {
            tokio::select! {
                _ = usr1.recv() => self.audit.reopen(),
                _ = shutdown.changed() => return,
            }
        }
    }
}

/// SIGHUP: re-read the configuration and its policies, validate the whole snapshot, and swap it
/// in at once; on any error the running snapshot stays, the error is logged with file, line
/// and key, and counted. Listener changes need a restart and are reported as such.
struct Reloader {
    path: std::path::PathBuf,
    gateway: Gateway,
}

#[async_trait::async_trait]
impl pingora::services::background::BackgroundService for Reloader {
    async fn start(&self, mut shutdown: pingora::server::ShutdownWatch) {
        let Ok(mut hup) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())
        else {
            log::error!("reload: cannot listen for SIGHUP");
            return;
        };
        loop {
            tokio::select! {
                _ = hup.recv() => self.reload(),
                _ = shutdown.changed() => return,
            }
        }
    }
}

impl Reloader {
    fn reload(&self) {
        let result = match GatewayConfig::load(&self.path) {
            Err(e) => Err(e.to_string()),
            Ok(new) => {
                let old = self.gateway.config_snapshot();
                let listeners = |c: &GatewayConfig| {
                    c.listeners
                        .iter()
                        .map(|l| (l.address, l.tls.is_some()))
                        .collect::<Vec<_>>()
                };
                if listeners(&old) != listeners(&new) || old.admin != new.admin {
                    log::warn!("reload: listener changes take effect only after a restart");
                }
                let audit_file = |c: &GatewayConfig| c.audit.as_ref().map(|a| a.file.clone());
                if audit_file(&old) != audit_file(&new) {
                    log::warn!("reload: a new audit file takes effect only after a restart");
                }
                self.gateway.swap(new)
            }
        };
        let label = match &result {
            Ok(()) => {
                log::info!("reload: {} loaded", self.path.display());
                "ok"
            }
            Err(e) => {
                log::error!("reload refused, the running configuration stays: {e}");
                "error"
            }
        };
        if let Some(m) = crate::metrics::global() {
            m.reloads.with_label_values(&[label]).inc();
        }
    }
}
