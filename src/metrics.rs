//! Prometheus metrics (prefix `taxii_gateway_`) and the admin endpoints `/metrics`,
//! `/healthz`, `/readyz`.

use std::sync::OnceLock;
use std::time::Duration;

use prometheus::{
    Encoder, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, Opts, Registry,
    TextEncoder,
};

/// The gateway's metrics, registered once per process.
pub struct Metrics {
    registry: Registry,
    pub requests: IntCounterVec,
    pub latency: HistogramVec,
    pub upstream_latency: HistogramVec,
    pub bytes_in: IntCounter,
    pub bytes_out: IntCounter,
    pub rate_limited: IntCounterVec,
    pub rejections: IntCounterVec,
    pub upstream_errors: IntCounterVec,
    pub reloads: IntCounterVec,
    pub open_connections: IntGauge,
    pub audit_dropped: IntCounter,
    pub capture_dropped: IntCounter,
    pub rewrites: IntCounterVec,
    pub upstream_up: prometheus::IntGaugeVec,
}

fn build() -> Result<Metrics, prometheus::Error> {
    let registry = Registry::new_custom(Some("taxii_gateway".into()), None)?;
    let buckets = vec![
        0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
    ];
    let m = Metrics {
        requests: IntCounterVec::new(
            Opts::new(
                "requests_total",
                "Exchanges by partner, dialect, message type and decision",
            ),
            &["partner", "dialect", "message", "decision"],
        )?,
        latency: HistogramVec::new(
            HistogramOpts::new(
                "request_duration_seconds",
                "Time from request to the end of the answer",
            )
            .buckets(buckets.clone()),
            &["dialect"],
        )?,
        upstream_latency: HistogramVec::new(
            HistogramOpts::new(
                "upstream_duration_seconds",
                "Time spent on forwarded exchanges",
            )
            .buckets(buckets),
            &["upstream"],
        )?,
        bytes_in: IntCounter::new("request_bytes_total", "Request body bytes received")?,
        bytes_out: IntCounter::new("response_bytes_total", "Response body bytes sent")?,
        rate_limited: IntCounterVec::new(
            Opts::new("rate_limited_total", "Requests refused by a rate limit"),
            &["partner"],
        )?,
        rejections: IntCounterVec::new(
            Opts::new(
                "rejections_total",
                "Messages the protocol core refused, by kind",
            ),
            &["kind"],
        )?,
        upstream_errors: IntCounterVec::new(
            Opts::new("upstream_errors_total", "Upstream faults by kind"),
            &["kind"],
        )?,
        reloads: IntCounterVec::new(
            Opts::new("reloads_total", "Configuration reloads by result"),
            &["result"],
        )?,
        open_connections: IntGauge::new("open_connections", "Exchanges in progress")?,
        audit_dropped: IntCounter::new(
            "audit_records_dropped_total",
            "Audit records dropped because the queue was full (when_full = \"drop\")",
        )?,
        capture_dropped: IntCounter::new(
            "capture_dropped_total",
            "Captured messages not written because the capture queue was full",
        )?,
        rewrites: IntCounterVec::new(
            Opts::new(
                "rewrites_total",
                "Messages rewritten by operator rules, by direction (request, response)",
            ),
            &["direction"],
        )?,
        upstream_up: prometheus::IntGaugeVec::new(
            Opts::new(
                "upstream_up",
                "1 when the upstream answered its last readiness probe, else 0",
            ),
            &["upstream"],
        )?,
        registry,
    };
    m.registry.register(Box::new(m.requests.clone()))?;
    m.registry.register(Box::new(m.latency.clone()))?;
    m.registry.register(Box::new(m.upstream_latency.clone()))?;
    m.registry.register(Box::new(m.bytes_in.clone()))?;
    m.registry.register(Box::new(m.bytes_out.clone()))?;
    m.registry.register(Box::new(m.rate_limited.clone()))?;
    m.registry.register(Box::new(m.rejections.clone()))?;
    m.registry.register(Box::new(m.upstream_errors.clone()))?;
    m.registry.register(Box::new(m.reloads.clone()))?;
    m.registry.register(Box::new(m.open_connections.clone()))?;
    m.registry.register(Box::new(m.audit_dropped.clone()))?;
    m.registry.register(Box::new(m.capture_dropped.clone()))?;
    m.registry.register(Box::new(m.rewrites.clone()))?;
    m.registry.register(Box::new(m.upstream_up.clone()))?;
    Ok(m)
}

static ENABLED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Starts counting: called when the configuration has an admin listener to expose the counts
/// (without one nobody could read them, and nothing is counted).
pub fn enable() {
    ENABLED.store(true, std::sync::atomic::Ordering::Relaxed);
}

/// The process's metrics; `None` while counting is not enabled ([`enable`]), or if the
/// registry could not be built (never with these static names).
pub fn global() -> Option<&'static Metrics> {
    static METRICS: OnceLock<Option<Metrics>> = OnceLock::new();
    if !ENABLED.load(std::sync::atomic::Ordering::Relaxed) {
        return None;
    }
    METRICS.get_or_init(|| build().ok()).as_ref()
}

impl Metrics {
    /// The Prometheus text exposition of every metric.
    pub fn render(&self) -> Vec<u8> {
        let mut out = Vec::new();
        let _ = TextEncoder::new().encode(&self.registry.gather(), &mut out);
        out
    }

    /// One finished exchange.
    #[allow(clippy::too_many_arguments)]
    pub fn exchange(
        &self,
        partner: &str,
        dialect: &str,
        message: &str,
        decision: &str,
        took: Duration,
        upstream: Option<&str>,
        bytes_in: u64,
        bytes_out: u64,
    ) {
        self.requests
            .with_label_values(&[partner, dialect, message, decision])
            .inc();
        self.latency
            .with_label_values(&[dialect])
            .observe(took.as_secs_f64());
        if let Some(up) = upstream {
            self.upstream_latency
                .with_label_values(&[up])
                .observe(took.as_secs_f64());
        }
        self.bytes_in.inc_by(bytes_in);
        self.bytes_out.inc_by(bytes_out);
    }
}

/// The admin endpoints as a Pingora HTTP app. `readiness`: the upstream probes' results
/// (`None`: no probing, as in passthrough mode; ready once serving).
pub struct AdminApp {
    pub readiness: Option<std::sync::Arc<crate::proxy::probe::Readiness>>,
}

#[async_trait::async_trait]
impl pingora::apps::http_app::ServeHttp for AdminApp {
    async fn response(
        &self,
        session: &mut pingora::protocols::http::ServerSession,
    ) -> http::Response<Vec<u8>> {
        let (status, content_type, body): (u16, &str, Vec<u8>) =
            match session.req_header().uri.path() {
                "/metrics" => match global() {
                    Some(m) => (200, "text/plain; version=0.0.4", m.render()),
                    None => (500, "text/plain", b"metrics unavailable\n".to_vec()),
                },
                "/healthz" => (200, "text/plain", b"ok\n".to_vec()),
                // The configuration snapshot is loaded before any listener accepts, so ready
                // means: every upstream answered its last probe.
                "/readyz" => match self.readiness.as_ref().map(|r| r.check()) {
                    None | Some(Ok(())) => (200, "text/plain", b"ready\n".to_vec()),
                    Some(Err(why)) => (
                        503,
                        "text/plain",
                        format!("not ready\n{why}\n").into_bytes(),
                    ),
                },
                _ => (404, "text/plain", b"not found\n".to_vec()),
            };
        http::Response::builder()
            .status(status)
            .header("Content-Type", content_type)
            .header("Content-Length", body.len().to_string())
            .body(body)
            .unwrap_or_else(|_| http::Response::new(Vec::new()))
    }
}
