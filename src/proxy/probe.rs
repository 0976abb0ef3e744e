//! Upstream readiness probes for `/readyz`: every `admin.probe_interval_seconds`, each upstream
//! of the running snapshot gets one HTTP request (`GET` of its base path, with its TLS
//! settings and timeouts). Any HTTP answer counts as "answered" (a TAXII service answers a bare
//! GET with an error, which still shows the server is there); a refused connection, a failed
//! TLS handshake or a timeout does not.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use pingora::connectors::http::Connector;
use pingora::http::RequestHeader;

use super::Gateway;
use crate::config::Upstream;

/// What `/readyz` reports: the last probe result of each upstream of the running snapshot.
pub struct Readiness {
    last: Mutex<HashMap<String, Result<(), String>>>,
    /// The upstream names of the running snapshot, in configuration order.
    names: Mutex<Vec<String>>,
}

impl Readiness {
    /// Not ready until each of `upstreams` (the starting snapshot's) has answered a probe.
    /// Their `upstream_up` gauges start at 0.
    pub fn new(upstreams: Vec<String>) -> Self {
        if let Some(m) = crate::metrics::global() {
            for name in &upstreams {
                m.upstream_up.with_label_values(&[name]).set(0);
            }
        }
        Readiness {
            last: Mutex::new(HashMap::new()),
            names: Mutex::new(upstreams),
        }
    }

    /// `Ok` when every upstream answered its last probe; otherwise one line per upstream that
    /// did not (or was not probed yet).
    pub fn check(&self) -> Result<(), String> {
        let names = self.names.lock().map(|n| n.clone()).unwrap_or_default();
        let last = match self.last.lock() {
            Ok(l) => l,
            Err(_) => return Err("probe state unavailable".into()),
        };
        let mut problems = Vec::new();
        for name in &names {
            match last.get(name) {
                Some(Ok(())) => {}
                Some(Err(e)) => problems.push(format!("upstream {name}: {e}")),
                None => problems.push(format!("upstream {name}: not probed yet")),
            }
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(problems.join("\n"))
        }
    }

    fn set(&self, names: Vec<String>, results: HashMap<String, Result<(), String>>) {
        if let Ok(mut n) = self.names.lock() {
            *n = names;
        }
        if let Ok(mut l) = self.last.lock() {
            *l = results;
        }
    }
}

/// The background service that probes.
pub struct Prober {
    pub gateway: Gateway,
    pub readiness: Arc<Readiness>,
}

#[async_trait::async_trait]
impl pingora::services::background::BackgroundService for Prober {
    async fn start(&self, mut shutdown: pingora::server::ShutdownWatch) {
        let connector = Connector::new(None);
        loop {
            let config = self.gateway.config_snapshot();
            let mut results = HashMap::new();
            let mut names = Vec::new();
            for up in &config.upstreams {
                let result = probe(&connector, &self.gateway, up).await;
                if let Some(m) = crate::metrics::global() {
                    m.upstream_up
                        .with_label_values(&[&up.name])
                        .set(i64::from(result.is_ok()));
                }
                if let Err(e) = &result {
                    log::warn!("probe: upstream {} did not answer: {e}", up.name);
                }
                names.push(up.name.clone());
                results.insert(up.name.clone(), result);
            }
            self.readiness.set(names, results);
            tokio::select! {
                _ = tokio::time::sleep(config.probe_interval) => {}
                _ = shutdown.changed() => return,
            }
        }
    }
}

async fn probe(connector: &Connector, gateway: &Gateway, up: &Upstream) -> Result<(), String> {
    let peer = gateway.peer(up);
    // Bounded even when the upstream accepts and never answers.
    let limit = up.connect_timeout + up.read_timeout.min(Duration::from_secs(10));
    let exchange = async {
        let (mut session, _) = connector
            .get_http_session(&peer)
            .await
            .map_err(|e| e.to_string())?;
        let path = if up.base_path.is_empty() {
            "/".to_string()
        } else {
            format!("{}/", up.base_path)
        };
        let mut req =
            RequestHeader::build("GET", path.as_bytes(), None).map_err(|e| e.to_string())?;
        req.insert_header("Host", up.authority())
            .map_err(|e| e.to_string())?;
        req.insert_header("User-Agent", "taxii-gateway-probe")
            .map_err(|e| e.to_string())?;
        req.insert_header("Connection", "close")
            .map_err(|e| e.to_string())?;
        session
            .write_request_header(Box::new(req))
            .await
            .map_err(|e| e.to_string())?;
        session
            .finish_request_body()
            .await
            .map_err(|e| e.to_string())?;
        session
            .read_response_header()
            .await
            .map_err(|e| e.to_string())?;
        match session.response_header() {
            Some(_) => Ok(()),
            None => Err("no answer".to_string()),
        }
    };
    match tokio::time::timeout(limit, exchange).await {
        Ok(r) => r,
        Err(_) => Err(format!("no answer within {} ms", limit.as_millis())),
    }
}
