//! The Pingora `ProxyHttp` implementation: glue between Pingora's phases and the modules that
//! hold the logic (`taxii`, `config`). Each phase method is short; what a phase decides lives in
//! the module that owns the concept.
//!
//! One exchange, phase by phase:
//! - `request_filter`: route, identify the transport, read the body (bodies that fit Pingora's
//!   64 KiB retry buffer), scan and decide before the upstream is contacted;
//! - `request_body_filter`: larger bodies are held back chunk by chunk and decided at their end;
//!   a refusal aborts the upstream connection, which has seen the request head but no body byte;
//! - `upstream_peer`, `upstream_request_filter`: the route's upstream, path, identity headers;
//! - `response_filter`, `response_body_filter`: the response is scanned as it streams; a
//!   response the core rejects is replaced by a FAILURE answer (or, once bytes have left, cut);
//! - `fail_to_proxy`: upstream faults become 502/504 answers in the requester's dialect.

pub mod passthrough;
pub mod probe;
mod response;

use std::collections::HashMap;
use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use arc_swap::ArcSwap;
use async_trait::async_trait;
use bytes::Bytes;
use pingora::http::{RequestHeader, ResponseHeader};
use pingora::proxy::{FailToProxy, ProxyHttp, Session};
use pingora::upstreams::peer::HttpPeer;
use pingora::utils::tls::WrappedX509;
use pingora::{Error, ErrorSource, ErrorType, Result};

use crate::config::{GatewayConfig, Route, Scheme};
use crate::taxii::{
    refusal_reply, scan_message, Dialect, Envelope, HttpContext, MessageKind, Refusal, RejectKind,
    ReplyContext, Transport,
};

pub use response::ResponseCheck;

/// Bodies up to this size are read and decided in `request_filter`, before the upstream is
/// contacted; Pingora replays them from its retry buffer (hard-coded at 64 KiB, PINGORA.md).
const EARLY_BODY_BYTES: usize = 64 * 1024;

/// The gateway service: a configuration snapshot, swapped whole on reload. Clones share it.
#[derive(Clone)]
pub struct Gateway {
    config: Arc<ArcSwap<GatewayConfig>>,
    /// Upstream CA sets, loaded once per configuration.
    upstream_cas: Arc<ArcSwap<HashMap<String, Arc<[WrappedX509]>>>>,
    audit: Option<Arc<crate::audit::writer::AuditLog>>,
    capture: Option<Arc<crate::audit::capture::CaptureLog>>,
    limits: Arc<ArcSwap<crate::limits::RateLimits>>,
}

impl Gateway {
    /// Takes a new, validated configuration: upstream CA sets first (a CA that cannot be read
    /// keeps the running snapshot), then the limiters (unchanged quotas keep their state), then
    /// the snapshot itself. Exchanges in flight finish on the snapshot they started with.
    /// The running configuration snapshot.
    pub fn config_snapshot(&self) -> Arc<GatewayConfig> {
        self.config.load_full()
    }

    pub fn swap(&self, new: GatewayConfig) -> std::result::Result<(), String> {
        let cas = load_upstream_cas(&new)?;
        let limits = crate::limits::RateLimits::for_config(&new, Some(&self.limits.load()));
        self.upstream_cas.store(Arc::new(cas));
        self.limits.store(Arc::new(limits));
        self.config.store(Arc::new(new));
        Ok(())
    }

    /// How to reach an upstream: its address, timeouts and TLS settings (CA set, SNI).
    pub fn peer(&self, up: &crate::config::Upstream) -> HttpPeer {
        let tls = up.scheme == Scheme::Https;
        let mut peer = HttpPeer::new(up.authority(), tls, up.sni.clone());
        peer.options.connection_timeout = Some(up.connect_timeout);
        peer.options.total_connection_timeout = Some(up.connect_timeout);
        peer.options.read_timeout = Some(up.read_timeout);
        peer.options.write_timeout = Some(up.read_timeout);
        peer.options.verify_cert = up.verify_tls;
        peer.options.verify_hostname = up.verify_tls;
        if let Some(ca) = self.upstream_cas.load().get(&up.name) {
            peer.options.ca = Some(ca.clone());
        }
        peer
    }

    pub fn new(
        config: Arc<ArcSwap<GatewayConfig>>,
        audit: Option<Arc<crate::audit::writer::AuditLog>>,
        capture: Option<Arc<crate::audit::capture::CaptureLog>>,
    ) -> std::result::Result<Gateway, String> {
        let cas = load_upstream_cas(&config.load())?;
        let limits = Arc::new(ArcSwap::from_pointee(
            crate::limits::RateLimits::for_config(&config.load(), None),
        ));
        Ok(Gateway {
            config,
            upstream_cas: Arc::new(ArcSwap::from_pointee(cas)),
            audit,
            capture,
            limits,
        })
    }
}

fn load_upstream_cas(
    config: &GatewayConfig,
) -> std::result::Result<HashMap<String, Arc<[WrappedX509]>>, String> {
    let mut cas = HashMap::new();
    for u in &config.upstreams {
        let Some(path) = &u.ca_file else { continue };
        let pem = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
        let mut certs = Vec::new();
        for item in rustls_pemfile::certs(&mut pem.as_slice()) {
            let der = item.map_err(|e| format!("{}: not PEM certificates: {e}", path.display()))?;
            certs.push(WrappedX509::new(
                der.to_vec(),
                pingora::utils::tls::parse_x509,
            ));
        }
        if certs.is_empty() {
            return Err(format!("{}: no certificate", path.display()));
        }
        cas.insert(u.name.clone(), Arc::from(certs.into_boxed_slice()));
    }
    Ok(cas)
}

/// The state of one exchange.
pub struct Exchange {
    config: Arc<GatewayConfig>,
    pub request_id: String,
    transport: Transport,
    route: Option<usize>,
    /// The dialect answers are written in before the request's own is known.
    dialect: Dialect,
    pub request: Option<Envelope>,
    /// The request body, when the gateway holds it.
    body: Vec<u8>,
    /// The body was read in `request_filter` (Pingora replays it); otherwise it is collected in
    /// `request_body_filter`.
    body_read_early: bool,
    body_was_chunked: bool,
    http: HttpContext,
    /// An answer decided after the upstream was contacted, written by `fail_to_proxy`.
    pending: Option<(Refusal, Option<String>)>,
    /// Human-readable reason put in the answer's `message` / `Message` field.
    reason: Option<String>,
    /// The authenticated partner's id (`anonymous` for the anonymous partner).
    pub partner: Option<String>,
    /// The Host the client used (for the gateway's public addresses).
    host: Option<String>,
    /// How the partner was identified (`basic`, `token`, `certificate`, `anonymous`).
    credential: Option<&'static str>,
    started: std::time::Instant,
    /// Request body bytes (the body itself may have been handed to Pingora).
    body_len: usize,
    /// The protocol core's rejection kind, for metrics.
    reject_kind: Option<&'static str>,
    answered: bool,
    response: Option<ResponseCheck>,
    /// The operator rules' plan for the request, once policy allowed it.
    plan: Option<crate::rules::RequestPlan>,
    /// SHA-256 of each content block the partner pushed.
    request_digests: Vec<String>,
    /// Captured files (or why not), for the audit record; `capturing`: the response too.
    captured: Vec<String>,
    capturing: bool,
    /// A signed message the rules would have changed: refused or passed unchanged.
    signed: Option<&'static str>,
    /// A body read early and rewritten: the length of the partner's body, and how much of it
    /// Pingora has replayed in this attempt (the rewritten body replaces the first piece).
    original_len: usize,
    replayed: usize,
}

#[async_trait]
impl ProxyHttp for Gateway {
    type CTX = Exchange;

    fn new_ctx(&self) -> Exchange {
        if let Some(m) = crate::metrics::global() {
            m.open_connections.inc();
        }
        Exchange {
            config: self.config.load_full(),
            request_id: format!("{:032x}", random_u128()),
            transport: Transport::Http,
            route: None,
            dialect: Dialect::V11,
            request: None,
            body: Vec::new(),
            body_read_early: false,
            body_was_chunked: false,
            http: HttpContext::default(),
            pending: None,
            reason: None,
            partner: None,
            host: None,
            credential: None,
            started: std::time::Instant::now(),
            body_len: 0,
            reject_kind: None,
            answered: false,
            response: None,
            plan: None,
            request_digests: Vec::new(),
            captured: Vec::new(),
            capturing: false,
            signed: None,
            original_len: 0,
            replayed: 0,
        }
    }

    async fn request_filter(&self, session: &mut Session, ctx: &mut Exchange) -> Result<bool> {
        ctx.transport = match session.digest().and_then(|d| d.ssl_digest.as_ref()) {
            Some(_) => Transport::Https,
            None => Transport::Http,
        };
        let req = session.req_header();
        let host = req
            .headers
            .get("host")
            .and_then(|h| h.to_str().ok())
            .or_else(|| req.uri.host())
            .map(str::to_string);
        let path = req.uri.path().to_string();
        ctx.host = host.clone();
        let Some(route_index) = ctx.config.route_index(host.as_deref(), &path) else {
            // No TAXII service here: a bare 404, as an HTTP server answers an unknown path.
            return answer_plain(session, ctx, 404, "no TAXII service at this path\n").await;
        };
        ctx.route = Some(route_index);
        let route = &ctx.config.routes[route_index];

        let mut http = HttpContext::request(req.method.as_str(), req.uri.query());
        http.transport = Some(ctx.transport);
        let mut header_error = None;
        for (name, value) in req.headers.iter() {
            let value = String::from_utf8_lossy(value.as_bytes());
            if let Err(r) = http.header(name.as_str(), &value) {
                header_error.get_or_insert(r);
            }
        }
        ctx.dialect = likely_dialect(&http, route);
        ctx.body_was_chunked = req.headers.get("transfer-encoding").is_some();
        let content_length = req
            .headers
            .get("content-length")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<usize>().ok());
        ctx.http = http;
        if let Some(r) = header_error {
            ctx.reason = Some(r.to_string());
            ctx.reject_kind = Some(r.kind.as_str());
            return refuse(session, ctx, Refusal::Rejected(r.kind), None).await;
        }
        match authenticate(session, &ctx.config) {
            Ok((id, credential)) => {
                ctx.partner = Some(id);
                ctx.credential = Some(credential);
            }
            Err(basic) => {
                // Never say which part was wrong (user, password, token, certificate).
                let realm = basic.then(|| "taxii-gateway".to_string());
                return refuse(session, ctx, Refusal::Unauthenticated { realm }, None).await;
            }
        }
        // Rate limits, before the body is read.
        let client = session
            .client_addr()
            .and_then(|a| a.as_inet())
            .map(|a| a.ip());
        let partner = ctx.partner.clone().unwrap_or_default();
        if let Err(retry_after_secs) =
            self.limits
                .load()
                .check(&partner, ctx.credential == Some("anonymous"), client)
        {
            ctx.reason = Some(format!("rate limited: retry after {retry_after_secs} s"));
            if let Some(m) = crate::metrics::global() {
                m.rate_limited.with_label_values(&[partner.as_str()]).inc();
            }
            return refuse(
                session,
                ctx,
                Refusal::RateLimited { retry_after_secs },
                None,
            )
            .await;
        }
        if content_length.is_some_and(|n| n > route.max_body_bytes) {
            return refuse(session, ctx, Refusal::TooLarge, None).await;
        }

        let small = content_length.is_some_and(|n| n <= EARLY_BODY_BYTES);
        if ctx.http.method.as_deref() == Some("POST") && !small {
            // Large or chunked: decided in request_body_filter, before any body byte leaves.
            return Ok(false);
        }
        session.enable_retry_buffering();
        let limit = route.max_body_bytes.min(EARLY_BODY_BYTES);
        while let Some(chunk) = session.read_request_body().await? {
            if ctx.body.len() + chunk.len() > limit {
                return refuse(session, ctx, Refusal::TooLarge, None).await;
            }
            ctx.body.extend_from_slice(&chunk);
        }
        ctx.body_read_early = true;
        match decide(ctx, self.capture.as_deref()) {
            Ok(()) => Ok(false),
            Err((refusal, irt)) => refuse(session, ctx, refusal, irt).await,
        }
    }

    async fn request_body_filter(
        &self,
        _session: &mut Session,
        body: &mut Option<Bytes>,
        end_of_stream: bool,
        ctx: &mut Exchange,
    ) -> Result<()> {
        if ctx.body_read_early {
            // Pingora replays the partner's body from its retry buffer; a rewritten one takes
            // its place: all of it with the first piece, nothing with the others.
            if ctx.original_len > 0 {
                if let Some(chunk) = body.take() {
                    let first = ctx.replayed == 0;
                    ctx.replayed += chunk.len();
                    *body = Some(if first {
                        Bytes::copy_from_slice(&ctx.body)
                    } else {
                        Bytes::new()
                    });
                    if ctx.replayed >= ctx.original_len {
                        ctx.replayed = 0;
                    }
                }
            }
            return Ok(());
        }
        if let Some(chunk) = body.take() {
            let limit = ctx.route.map_or(0, |r| ctx.config.routes[r].max_body_bytes);
            if ctx.body.len() + chunk.len() > limit {
                ctx.pending = Some((Refusal::TooLarge, None));
                return Err(Error::explain(
                    ErrorType::HTTPStatus(413),
                    "request body too large",
                ));
            }
            ctx.body.extend_from_slice(&chunk);
            // An empty chunk keeps the upstream waiting; `None` would end its body.
            *body = Some(Bytes::new());
        }
        if end_of_stream {
            ctx.body_len = ctx.body.len();
            let decided = decide(ctx, self.capture.as_deref()).and_then(|()| {
                // The upstream connection was chosen before this body could be read.
                let route_upstream = ctx.route.map(|r| ctx.config.routes[r].upstream);
                match &ctx.plan {
                    Some(plan) if Some(plan.upstream) != route_upstream => {
                        ctx.reason = Some(format!(
                            "a message over {EARLY_BODY_BYTES} bytes can only go to this service's own upstream, and its feed lives on upstream {}",
                            ctx.config.upstreams[plan.upstream].name
                        ));
                        Err((
                            Refusal::Denied,
                            ctx.request.as_ref().map(|r| r.message_id.value.clone()),
                        ))
                    }
                    _ => Ok(()),
                }
            });
            if let Err(pending) = decided {
                ctx.pending = Some(pending);
                return Err(Error::explain(
                    ErrorType::HTTPStatus(400),
                    "request refused",
                ));
            }
            *body = Some(Bytes::from(std::mem::take(&mut ctx.body)));
        }
        Ok(())
    }

    async fn upstream_peer(
        &self,
        _session: &mut Session,
        ctx: &mut Exchange,
    ) -> Result<Box<HttpPeer>> {
        let up = &ctx.config.upstreams[upstream_of(ctx)?];
        Ok(Box::new(self.peer(up)))
    }

    async fn upstream_request_filter(
        &self,
        session: &mut Session,
        upstream_request: &mut RequestHeader,
        ctx: &mut Exchange,
    ) -> Result<()> {
        let route = current_route(ctx)?;
        let up = &ctx.config.upstreams[upstream_of(ctx)?];
        let query = match ctx.plan.as_ref().and_then(|p| p.query.as_deref()) {
            Some(q) => Some(q),
            None => session.req_header().uri.query(),
        };
        point_at_upstream(query, upstream_request, up, route)?;
        upstream_request.insert_header("X-Request-Id", &ctx.request_id)?;
        // The partner's own credentials stay here; the upstream learns who it is from the
        // identity header (Draft 1 Services §6.3: credentials are passed on to the handler).
        upstream_request.remove_header("authorization");
        if let Some(auth) = &up.authorization {
            upstream_request.insert_header("Authorization", auth.as_str())?;
        }
        let identity = ctx.config.server.identity_header.clone();
        upstream_request.remove_header(identity.as_str());
        if ctx.config.policy.is_some() {
            if let Some(id) = &ctx.partner {
                upstream_request.insert_header(identity, id.as_str())?;
            }
        }
        let client = session
            .client_addr()
            .and_then(|a| a.as_inet())
            .map(|a| a.ip().to_string());
        if let Some(ip) = &client {
            let xff = match upstream_request
                .headers
                .get("x-forwarded-for")
                .and_then(|v| v.to_str().ok())
            {
                Some(prior) => format!("{prior}, {ip}"),
                None => ip.clone(),
            };
            upstream_request.insert_header("X-Forwarded-For", xff)?;
            let proto = if ctx.transport == Transport::Https {
                "https"
            } else {
                "http"
            };
            let for_ip = if ip.contains(':') {
                format!("\"[{ip}]\"")
            } else {
                ip.clone()
            };
            upstream_request.insert_header("Forwarded", format!("for={for_ip};proto={proto}"))?;
        }
        // X-TAXII-Protocol names the transport of each hop (1.0 HTTP binding §2.1.5).
        if let Some(request) = &ctx.request {
            let hop = if up.scheme == Scheme::Https {
                Transport::Https
            } else {
                Transport::Http
            };
            upstream_request.insert_header("X-TAXII-Protocol", request.dialect.protocol_id(hop))?;
        }
        if ctx.body_read_early && (ctx.body_was_chunked || ctx.original_len > 0) {
            // De-chunked into the retry buffer, or rewritten: send it with an exact length.
            upstream_request.remove_header("transfer-encoding");
            upstream_request.insert_header("Content-Length", ctx.body.len().to_string())?;
        } else if !ctx.body_read_early
            && ctx.http.method.as_deref() == Some("POST")
            && rules_may_rewrite(&ctx.config, route)
        {
            // Decided after this head leaves: a rule may change the body's length.
            upstream_request.remove_header("content-length");
            upstream_request.insert_header("Transfer-Encoding", "chunked")?;
        }
        Ok(())
    }

    async fn response_filter(
        &self,
        _session: &mut Session,
        upstream_response: &mut ResponseHeader,
        ctx: &mut Exchange,
    ) -> Result<()> {
        let Some(request) = ctx.request.as_ref() else {
            return Ok(());
        };
        let (http_base, https_base) = public_bases(&ctx.config, ctx.host.as_deref());
        let setup = response::RewriteSetup {
            config: ctx.config.clone(),
            partner: ctx.partner.clone(),
            http_base,
            https_base,
        };
        let route = current_route(ctx)?;
        let rules = response::ResponseRules {
            renamed: ctx
                .plan
                .as_ref()
                .map(|p| p.renamed.clone())
                .unwrap_or_default(),
            served_begin: ctx.plan.as_ref().and_then(|p| p.served_begin),
            upstream: upstream_of(ctx)?,
            refuse_signed: route.signed == crate::config::SignedMessages::Refuse,
            capture: match (&self.capture, &ctx.config.capture) {
                (Some(log), Some(c)) if ctx.capturing => {
                    Some((log.clone(), ctx.request_id.clone(), c.max_message_bytes))
                }
                _ => None,
            },
        };
        let check = ResponseCheck::start(
            request,
            upstream_response,
            ctx.transport,
            &ctx.config,
            random_u128(),
            now_unix(),
            Some(setup),
            rules,
        );
        upstream_response.insert_header("X-Request-Id", &ctx.request_id)?;
        ctx.response = Some(check);
        Ok(())
    }

    fn response_body_filter(
        &self,
        _session: &mut Session,
        body: &mut Option<Bytes>,
        end_of_stream: bool,
        ctx: &mut Exchange,
    ) -> Result<Option<std::time::Duration>> {
        if let Some(check) = ctx.response.as_mut() {
            check.body(body, end_of_stream)?;
        }
        Ok(None)
    }

    /// Pingora never retries a POST, and every TAXII request is one. A request that only reads
    /// (discovery, feed/collection information, poll, poll fulfillment, subscription STATUS)
    /// and whose body is whole in the retry buffer is resent on a fresh connection when a
    /// pooled upstream connection turned out to be closed (the error Pingora marks as
    /// retryable on reused connections only). Messages that change state upstream (inbox
    /// pushes, subscribe, unsubscribe, pause, resume, modify) are never resent.
    fn error_while_proxy(
        &self,
        peer: &HttpPeer,
        session: &mut Session,
        e: Box<Error>,
        ctx: &mut Exchange,
        client_reused: bool,
    ) -> Box<Error> {
        let mut e = e.more_context(format!("Peer: {peer}"));
        let read_only = ctx.request.as_ref().is_some_and(|r| match r.kind {
            MessageKind::DiscoveryRequest
            | MessageKind::FeedInformationRequest
            | MessageKind::PollRequest
            | MessageKind::PollFulfillment => true,
            MessageKind::SubscriptionManagementRequest => r
                .action
                .as_ref()
                .is_some_and(|a| matches!(a.value.trim(), "STATUS" | "QUERY")),
            _ => false,
        });
        if read_only && ctx.body_read_early && !session.as_ref().retry_buffer_truncated() {
            e.retry.decide_reuse(client_reused);
        } else {
            e.set_retry(false);
        }
        e
    }

    /// One audit record per exchange, whatever its outcome (DESIGN.md "Audit record").
    async fn logging(&self, session: &mut Session, e: Option<&Error>, ctx: &mut Exchange)
    where
        Self::CTX: Send + Sync,
    {
        let record = audit_record(session, e, ctx);
        if let Some(m) = crate::metrics::global() {
            m.open_connections.dec();
            let upstream = upstream_of(ctx)
                .ok()
                .filter(|_| record.decision == "forwarded")
                .map(|i| ctx.config.upstreams[i].name.as_str());
            m.exchange(
                record.partner.as_deref().unwrap_or(""),
                record.dialect.as_deref().unwrap_or(""),
                record.message_type.as_deref().unwrap_or(""),
                &record.decision,
                ctx.started.elapsed(),
                upstream,
                record.request_bytes,
                record.response_bytes,
            );
            if let Some(kind) = ctx.reject_kind {
                m.rejections.with_label_values(&[kind]).inc();
            }
        }
        if let Some(audit) = &self.audit {
            audit.record(record);
        }
    }

    async fn fail_to_proxy(
        &self,
        session: &mut Session,
        e: &Error,
        ctx: &mut Exchange,
    ) -> FailToProxy
    where
        Self::CTX: Send + Sync,
    {
        let (refusal, irt) = match ctx.pending.take() {
            Some(p) => p,
            None => {
                let irt = ctx.request.as_ref().map(|r| r.message_id.value.clone());
                match (e.esource(), e.etype()) {
                    (
                        _,
                        ErrorType::ConnectTimedout
                        | ErrorType::ReadTimedout
                        | ErrorType::WriteTimedout,
                    ) => (Refusal::UpstreamTimeout, irt),
                    (ErrorSource::Upstream, _) => (Refusal::UpstreamFailed, irt),
                    (
                        ErrorSource::Downstream,
                        ErrorType::ReadError | ErrorType::WriteError | ErrorType::ConnectionClosed,
                    ) => {
                        return FailToProxy {
                            error_code: 0,
                            can_reuse_downstream: false,
                        };
                    }
                    (ErrorSource::Downstream, _) => (Refusal::Rejected(RejectKind::Malformed), irt),
                    _ if ctx.request.is_some() => (Refusal::UpstreamFailed, irt),
                    _ => (Refusal::Rejected(RejectKind::Malformed), irt),
                }
            }
        };
        if let Some(m) = crate::metrics::global() {
            match refusal {
                Refusal::UpstreamTimeout => m.upstream_errors.with_label_values(&["timeout"]).inc(),
                Refusal::UpstreamFailed => m
                    .upstream_errors
                    .with_label_values(&[e.etype().as_str()])
                    .inc(),
                _ => {}
            }
        }
        if ctx.answered || session.response_written().is_some() {
            // The upstream failed (closed, reset, timed out) after the response head left: if
            // no body byte left either, complete the answer as for a rejected body (a FAILURE
            // message, or the answer that replaced the upstream's); else the connection is cut.
            // (Found by tests/proxy_faults.rs: a truncated response used to end the chunked
            // answer unfinished and empty.)
            let rest = ctx
                .response
                .as_mut()
                .and_then(ResponseCheck::upstream_failed);
            if let (false, Some(rest)) = (ctx.answered, rest) {
                let _ = session.write_response_body(Some(rest), true).await;
            }
            return FailToProxy {
                error_code: 0,
                can_reuse_downstream: false,
            };
        }
        let reply = reply_for(ctx, &refusal, irt);
        let status = reply.status;
        let _ = write_reply(session, ctx, reply).await;
        FailToProxy {
            error_code: status,
            can_reuse_downstream: false,
        }
    }
}

/// Points the upstream request at the route's upstream path (the client's query kept) and host.
pub(crate) fn point_at_upstream(
    query: Option<&str>,
    upstream_request: &mut RequestHeader,
    up: &crate::config::Upstream,
    route: &Route,
) -> Result<()> {
    let mut target = format!("{}{}", up.base_path, route.upstream_path);
    if let Some(q) = query.filter(|q| !q.is_empty()) {
        target.push('?');
        target.push_str(q);
    }
    let uri = target
        .parse()
        .map_err(|e| Error::because(ErrorType::InternalError, "upstream path", e))?;
    upstream_request.set_uri(uri);
    upstream_request.insert_header("Host", up.authority())?;
    Ok(())
}

/// The upstream the exchange goes to: its virtual feeds' (the rules' plan), else the route's.
fn upstream_of(ctx: &Exchange) -> Result<usize> {
    match &ctx.plan {
        Some(plan) => Ok(plan.upstream),
        None => current_route(ctx).map(|r| r.upstream),
    }
}

/// Whether any operator rule could change a request sent to `route`.
fn rules_may_rewrite(config: &GatewayConfig, route: &Route) -> bool {
    !config.feeds.is_empty()
        || !route.headers.is_empty()
        || route.push_message.is_some()
        || config.policy.as_ref().is_some_and(|p| {
            p.partners()
                .iter()
                .chain(p.anonymous())
                .flat_map(|partner| partner.grants.iter())
                .any(|g| !g.headers.is_empty() || g.clamp_poll_window || g.push_message.is_some())
        })
}

fn current_route(ctx: &Exchange) -> Result<&Route> {
    ctx.route
        .map(|i| &ctx.config.routes[i])
        .ok_or_else(|| Error::explain(ErrorType::InternalError, "no route"))
}

/// The dialect to answer in before the message is read: the headers' if they name one, else
/// the route's only dialect, else 1.1 (OpenTAXII does the same).
fn likely_dialect(http: &HttpContext, route: &Route) -> Dialect {
    if http.method.as_deref() == Some("GET") && route.dialects.contains(&Dialect::Draft1) {
        return Dialect::Draft1;
    }
    let mut probe = http.clone();
    probe.method = None;
    match crate::taxii::detect::header_dialects(&probe) {
        Ok(ds) if ds.len() < 3 => ds
            .iter()
            .copied()
            .find(|d| route.dialects.contains(d))
            .unwrap_or(ds[0]),
        _ if route.dialects.len() == 1 => route.dialects[0],
        _ => Dialect::V11,
    }
}

/// Reads the held request with the protocol core and applies the route's and the policy's
/// rules. `Err` carries the answer and the in-response-to to echo.
fn decide(
    ctx: &mut Exchange,
    capture: Option<&crate::audit::capture::CaptureLog>,
) -> std::result::Result<(), (Refusal, Option<String>)> {
    let Some(route_index) = ctx.route else {
        return Err((Refusal::Rejected(RejectKind::NotTaxii), None));
    };
    let route = &ctx.config.routes[route_index];
    let envelope = match scan_message(&ctx.http, &ctx.body, &ctx.config.xml_limits) {
        Ok(e) => e,
        Err(r) => {
            ctx.reason = Some(r.to_string());
            ctx.reject_kind = Some(r.kind.as_str());
            return Err((Refusal::Rejected(r.kind), r.message_id));
        }
    };
    ctx.dialect = envelope.dialect;
    let irt = Some(envelope.message_id.value.clone());
    if !route.dialects.contains(&envelope.dialect) {
        ctx.reason = Some(format!(
            "TAXII {} is not served at this path",
            envelope.dialect
        ));
        return Err((Refusal::Rejected(RejectKind::UnsupportedMediaType), irt));
    }
    if !envelope.kind.is_request() {
        ctx.reason = Some(format!("{} is not a request", envelope.message));
        return Err((Refusal::Rejected(RejectKind::UnknownMessage), irt));
    }
    let policy: &crate::policy::Policy = match &ctx.config.policy {
        Some(p) => p,
        None => crate::policy::Policy::permissive(),
    };
    let partner = ctx.partner.as_deref().and_then(|id| policy.partner(id));
    let Some(partner) = partner else {
        return Err((Refusal::Unauthenticated { realm: None }, irt));
    };
    let inbox = route.inbox_feed.as_deref();
    let (grant, clamp_begin) =
        match crate::policy::decide(policy, partner, &envelope, inbox, now_unix()) {
            crate::policy::Decision::Deny {
                reason, missing, ..
            } => {
                ctx.reason = Some(missing);
                return Err((reason.refusal(partner.conceal), irt));
            }
            crate::policy::Decision::Allow { grant, clamp_begin } => {
                (policy.grant(grant), clamp_begin)
            }
        };
    if envelope.kind == MessageKind::InboxMessage {
        ctx.request_digests = crate::taxii::edit::content_digests(&ctx.body, &envelope);
    }
    // Capture the message as the partner sent it.
    if let (Some(log), Some(c)) = (capture, &ctx.config.capture) {
        let wanted = partner.capture
            || envelope.feeds.iter().any(|f| {
                let name = crate::taxii::values::collapse(&f.value);
                c.feeds.iter().any(|p| p.matches(name))
            });
        if wanted {
            ctx.capturing = true;
            let bytes = if ctx.body.is_empty() {
                ctx.http.query.clone().unwrap_or_default().into_bytes()
            } else {
                ctx.body.clone()
            };
            let name = format!("{}.request.xml", ctx.request_id);
            if bytes.len() > c.max_message_bytes {
                ctx.captured.push(format!(
                    "request not captured: {} bytes, over max_message_bytes",
                    bytes.len()
                ));
            } else if log.write(&ctx.request_id, name.clone(), bytes) {
                ctx.captured.push(name);
            } else {
                ctx.captured
                    .push("request not captured: capture queue full".into());
            }
        }
    }
    let query = ctx.http.query.clone();
    match crate::rules::plan_request(
        &ctx.config,
        route,
        partner,
        grant,
        clamp_begin,
        &envelope,
        &ctx.body,
        query.as_deref(),
    ) {
        Ok(mut plan) => {
            if plan.signed_passed {
                ctx.signed = Some("passed_unchanged");
            }
            if let Some(body) = plan.body.take() {
                ctx.original_len = ctx.body.len();
                ctx.body = body;
                if let Some(m) = crate::metrics::global() {
                    m.rewrites.with_label_values(&["request"]).inc();
                }
            }
            ctx.plan = Some(plan);
        }
        Err(crate::rules::RuleRefusal(why)) => {
            if envelope.signed {
                ctx.signed = Some("refused");
            }
            ctx.reason = Some(why);
            ctx.request = Some(envelope);
            return Err((Refusal::Denied, irt));
        }
    }
    ctx.request = Some(envelope);
    Ok(())
}

fn reply_for(
    ctx: &Exchange,
    refusal: &Refusal,
    in_response_to: Option<String>,
) -> crate::taxii::Reply {
    refusal_reply(
        &ReplyContext {
            dialect: ctx.dialect,
            transport: ctx.transport,
            in_response_to,
            id_seed: random_u128(),
            now_unix: now_unix(),
            message: ctx.reason.clone(),
        },
        refusal,
    )
}

async fn refuse(
    session: &mut Session,
    ctx: &mut Exchange,
    refusal: Refusal,
    in_response_to: Option<String>,
) -> Result<bool> {
    let reply = reply_for(ctx, &refusal, in_response_to);
    write_reply(session, ctx, reply).await?;
    Ok(true)
}

async fn write_reply(
    session: &mut Session,
    ctx: &mut Exchange,
    reply: crate::taxii::Reply,
) -> Result<()> {
    let mut resp = ResponseHeader::build(reply.status, Some(reply.headers.len() + 3))?;
    for (name, value) in &reply.headers {
        resp.insert_header(*name, value)?;
    }
    resp.insert_header("Content-Length", reply.body.len().to_string())?;
    resp.insert_header("X-Request-Id", &ctx.request_id)?;
    ctx.answered = true;
    session.set_keepalive(None);
    session.write_response_header(Box::new(resp), false).await?;
    session
        .write_response_body(Some(Bytes::from(reply.body)), true)
        .await?;
    Ok(())
}

async fn answer_plain(
    session: &mut Session,
    ctx: &mut Exchange,
    status: u16,
    text: &'static str,
) -> Result<bool> {
    let mut resp = ResponseHeader::build(status, Some(3))?;
    resp.insert_header("Content-Type", "text/plain")?;
    resp.insert_header("Content-Length", text.len().to_string())?;
    resp.insert_header("X-Request-Id", &ctx.request_id)?;
    ctx.answered = true;
    session.write_response_header(Box::new(resp), false).await?;
    session
        .write_response_body(Some(Bytes::from_static(text.as_bytes())), true)
        .await?;
    Ok(true)
}

pub(crate) fn now_unix() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// Random bits for message and request ids (not secrets): the standard library's per-process
/// random hash keys, a counter and the clock.
pub(crate) fn random_u128() -> u128 {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    let mut a = std::collections::hash_map::RandomState::new().build_hasher();
    a.write_u64(n);
    a.write_u128(nanos);
    let mut b = std::collections::hash_map::RandomState::new().build_hasher();
    b.write_u64(!n);
    b.write_u128(nanos);
    (u128::from(a.finish()) << 64) | u128::from(b.finish())
}

/// Identifies the partner from exactly one kind of credential: HTTP Basic, a bearer token, or
/// a TLS client certificate (by its SHA-256 fingerprint), else the anonymous partner. `Err`
/// means "answer 401"; its flag says whether HTTP Basic applies (`WWW-Authenticate`).
fn authenticate(
    session: &Session,
    config: &GatewayConfig,
) -> std::result::Result<(String, &'static str), bool> {
    let Some(policy) = &config.policy else {
        // No policy files: inspection only, every request is the permissive anonymous partner.
        return Ok(("anonymous".to_string(), "anonymous"));
    };
    let basic_applies = policy.partners().iter().any(|p| p.basic_user.is_some());
    let auth = session
        .req_header()
        .headers
        .get("authorization")
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned());
    let cert = session
        .digest()
        .and_then(|d| d.ssl_digest.as_ref())
        .map(|d| {
            d.cert_digest
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect::<String>()
        })
        .filter(|hex| !hex.is_empty());
    let by_header = match auth.as_deref().map(str::trim) {
        None => None,
        Some(value) => {
            let (scheme, rest) = value.split_once(' ').unwrap_or((value, ""));
            let (partner, kind) = if scheme.eq_ignore_ascii_case("basic") {
                let p =
                    decode_basic(rest.trim()).and_then(|(u, p)| policy.partner_by_basic(&u, &p));
                (p, "basic")
            } else if scheme.eq_ignore_ascii_case("bearer") {
                (policy.partner_by_token(rest.trim()), "token")
            } else {
                (None, "")
            };
            Some((partner.map(|p| p.id.clone()).ok_or(basic_applies)?, kind))
        }
    };
    let subject = session
        .digest()
        .and_then(|d| d.ssl_digest.as_ref())
        .and_then(|d| d.extension.get::<crate::server::PeerSubject>())
        .map(|s| s.0.clone())
        .unwrap_or_default();
    let by_cert = match &cert {
        None => None,
        Some(hex) => policy
            .partner_by_certificate(hex, &subject)
            .map(|p| p.id.clone()),
    };
    match (by_header, by_cert, &cert) {
        // Exactly one partner: a certificate and a header naming two partners is refused.
        (Some((a, _)), Some(b), _) if a != b => Err(basic_applies),
        (Some(a), _, _) => Ok(a),
        (None, Some(b), _) => Ok((b, "certificate")),
        // A certificate the CA vouches for but no partner holds: not a partner.
        (None, None, Some(_)) => Err(basic_applies),
        (None, None, None) => policy
            .anonymous()
            .map(|p| (p.id.clone(), "anonymous"))
            .ok_or(basic_applies),
    }
}

/// `user:password` from a Basic credential (RFC 7617), UTF-8.
fn decode_basic(b64: &str) -> Option<(String, String)> {
    let mut bits = 0u32;
    let mut nbits = 0;
    let mut out = Vec::with_capacity(b64.len() * 3 / 4);
    for c in b64.bytes() {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            b'=' => break,
            _ => return None,
        };
        bits = (bits << 6) | u32::from(v);
        nbits += 6;
        if nbits >= 8 {
            nbits -= 8;
            out.push((bits >> nbits) as u8);
            bits &= (1 << nbits) - 1;
        }
    }
    let text = String::from_utf8(out).ok()?;
    let (u, p) = text.split_once(':')?;
    Some((u.to_string(), p.to_string()))
}

/// Maps an address a response advertises to the gateway's public one: an upstream's service
/// address becomes the public path of the route that serves it; an address already at the
/// gateway stays; anything else maps nowhere (`None`: the record is dropped).
pub(crate) fn map_address(
    config: &GatewayConfig,
    addr: &str,
    http_base: Option<&str>,
    https_base: Option<&str>,
) -> Option<String> {
    let (scheme, rest) = addr.split_once("://")?;
    let https = scheme.eq_ignore_ascii_case("https");
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    let authority = authority.to_ascii_lowercase();
    // Already the gateway's: kept when the scheme is the listener's. OpenTAXII advertises
    // `https://` twins of its domain; at the gateway's plain port they would have clients start
    // TLS on a plain listener, so they go to the TLS listener (or are dropped without one).
    let bases = [(false, http_base), (true, https_base)];
    for (base_tls, base) in bases {
        let Some(base) = base else { continue };
        let base_authority = base
            .split_once("://")
            .map_or(base, |(_, a)| a)
            .to_ascii_lowercase();
        if authority == base_authority && config.routes.iter().any(|r| r.path == path) {
            if base_tls == https {
                return Some(addr.to_string());
            }
            let other = if https { https_base? } else { http_base? };
            return Some(format!("{other}{path}"));
        }
    }
    let route = config.routes.iter().find(|r| {
        let up = &config.upstreams[r.upstream];
        authority == up.authority().to_ascii_lowercase()
            && path == format!("{}{}", up.base_path, r.upstream_path)
    })?;
    let base = if https { https_base? } else { http_base? };
    Some(format!("{base}{}", route.path))
}

/// The gateway's public base URLs per scheme: `server.public_url` when set, else the first
/// plain and the first TLS listener, with the host the client used.
fn public_bases(config: &GatewayConfig, host: Option<&str>) -> (Option<String>, Option<String>) {
    if let Some(url) = &config.server.public_url {
        return if url.starts_with("https://") {
            (None, Some(url.clone()))
        } else {
            (Some(url.clone()), None)
        };
    }
    let name = |l: &crate::config::Listener| {
        let h = host
            .map(|h| match h.strip_prefix('[') {
                Some(v6) => format!("[{}]", v6.split(']').next().unwrap_or(v6)),
                None => h
                    .rsplit_once(':')
                    .map_or(h, |(n, p)| {
                        if p.bytes().all(|b| b.is_ascii_digit()) {
                            n
                        } else {
                            h
                        }
                    })
                    .to_string(),
            })
            .unwrap_or_else(|| match l.address.ip() {
                std::net::IpAddr::V6(ip) => format!("[{ip}]"),
                ip => ip.to_string(),
            });
        format!("{h}:{}", l.address.port())
    };
    let http = config
        .listeners
        .iter()
        .find(|l| l.tls.is_none())
        .map(|l| format!("http://{}", name(l)));
    let https = config
        .listeners
        .iter()
        .find(|l| l.tls.is_some())
        .map(|l| format!("https://{}", name(l)));
    (http, https)
}

/// The audit record of a finished exchange.
fn audit_record(session: &Session, e: Option<&Error>, ctx: &Exchange) -> crate::audit::AuditRecord {
    let req = ctx.request.as_ref();
    let resp = ctx.response.as_ref();
    let status = session.response_written().map(|r| r.status.as_u16());
    // The upstream's answer refused counts as such even when the gateway then wrote its own
    // answer in its place (nothing of the upstream's had left yet).
    let decision = if resp.and_then(|r| r.refused.as_ref()).is_some() {
        "response_refused"
    } else if ctx.answered {
        "refused"
    } else if e.is_some() {
        "error"
    } else {
        "forwarded"
    };
    let reason = ctx
        .reason
        .clone()
        .or_else(|| resp.and_then(|r| r.refused.clone()))
        .or_else(|| e.map(|e| e.to_string()));
    crate::audit::AuditRecord {
        time: crate::audit::rfc3339_utc(SystemTime::now()),
        request_id: ctx.request_id.clone(),
        partner: ctx.partner.clone(),
        credential: ctx.credential.map(str::to_string),
        client_addr: session
            .client_addr()
            .map(|a| a.to_string())
            .unwrap_or_default(),
        route: ctx.route.map(|i| ctx.config.routes[i].path.clone()),
        dialect: req
            .map(|r| r.dialect.as_str().to_string())
            .or_else(|| Some(ctx.dialect.as_str().to_string())),
        message_type: req.map(|r| r.message.to_string()),
        message_id: req.map(|r| r.message_id.value.clone()),
        in_response_to: resp
            .and_then(|r| r.envelope.as_ref())
            .and_then(|e| e.in_response_to.as_ref())
            .map(|f| f.value.clone()),
        feeds: req
            .map(|r| r.feeds.iter().map(|f| f.value.clone()).collect())
            .unwrap_or_default(),
        action: req
            .and_then(crate::policy::action_of)
            .map(|a| a.name().to_string()),
        decision: decision.to_string(),
        reason,
        upstream_status: if ctx.answered { None } else { status },
        response_message_type: resp
            .and_then(|r| r.envelope.as_ref())
            .map(|e| e.message.to_string()),
        response_status_type: resp
            .and_then(|r| r.envelope.as_ref())
            .and_then(|e| e.status_type.as_ref())
            .map(|f| f.value.clone()),
        request_bytes: ctx.body_len.max(ctx.body.len()) as u64,
        response_bytes: session.body_bytes_sent() as u64,
        content_blocks: match req {
            Some(r) if r.kind == MessageKind::InboxMessage => Some(r.content_blocks as u64),
            _ => resp
                .and_then(|r| r.envelope.as_ref())
                .map(|e| e.content_blocks as u64),
        },
        latency_ms: ctx.started.elapsed().as_millis() as u64,
        content_digests: if ctx.request_digests.is_empty() {
            resp.map(|r| r.digests.clone()).unwrap_or_default()
        } else {
            ctx.request_digests.clone()
        },
        rewrites: ctx
            .plan
            .iter()
            .flat_map(|p| p.rewrites.iter().cloned())
            .chain(resp.iter().flat_map(|r| r.rewrites.iter().cloned()))
            .collect(),
        signed: ctx
            .signed
            .or_else(|| resp.and_then(|r| r.signed))
            .map(str::to_string),
        capture: ctx
            .captured
            .iter()
            .cloned()
            .chain(resp.and_then(|r| r.captured.clone()))
            .collect(),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::{decode_basic, map_address};
    use crate::config::GatewayConfig;

    #[test]
    fn addresses_map_to_the_listener_of_their_scheme() {
        let text = r#"
[[listener]]
address = "127.0.0.1:8080"
[[listener]]
address = "127.0.0.1:8443"
tls = { certificate_file = "config/tls/server.crt", key_file = "config/tls/server.key" }
[[upstream]]
name = "up"
url = "http://10.0.0.5:9000/base"
[[route]]
path = "/services/poll"
upstream = "up"
upstream_path = "/poll"
"#;
        let c = GatewayConfig::parse(std::path::Path::new("t.toml"), text).unwrap();
        let (http, https) = (Some("http://gw:8080"), Some("https://gw:8443"));
        let map = |a: &str| map_address(&c, a, http, https);
        assert_eq!(
            map("http://10.0.0.5:9000/base/poll").as_deref(),
            Some("http://gw:8080/services/poll")
        );
        assert_eq!(
            map("https://10.0.0.5:9000/base/poll").as_deref(),
            Some("https://gw:8443/services/poll")
        );
        assert_eq!(
            map("http://gw:8080/services/poll").as_deref(),
            Some("http://gw:8080/services/poll")
        );
        // An https twin at the plain port goes to the TLS listener.
        assert_eq!(
            map("https://gw:8080/services/poll").as_deref(),
            Some("https://gw:8443/services/poll")
        );
        assert_eq!(
            map("http://gw:8443/services/poll").as_deref(),
            Some("http://gw:8080/services/poll")
        );
        assert_eq!(map("http://gw:8080/services/other"), None);
        assert_eq!(map("http://elsewhere:9000/base/poll"), None);
        assert_eq!(map("http://10.0.0.5:9000/base/inbox"), None);
        assert_eq!(
            map_address(&c, "https://10.0.0.5:9000/base/poll", http, None),
            None
        );
    }

    #[test]
    fn basic_credentials_decode() {
        assert_eq!(
            decode_basic("YWxwaGE6YWxwaGEtcGFzcw=="),
            Some(("alpha".into(), "alpha-pass".into()))
        );
        assert_eq!(decode_basic("dTpwOnE="), Some(("u".into(), "p:q".into())));
        assert_eq!(decode_basic("***"), None);
        assert_eq!(decode_basic("bm9jb2xvbg=="), None);
    }
}
