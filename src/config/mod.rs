//! The gateway configuration: TOML in, a validated immutable [`GatewayConfig`] out.
//!
//! Every external format converts into the internal structure here, and nothing downstream of
//! loading sees raw file values. Unknown keys are refused; every error names the file, the line
//! and the key.

use std::collections::BTreeSet;
use std::fmt;
use std::net::SocketAddr;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use toml::Spanned;

use crate::taxii::{Dialect, ScanLimits};

/// A configuration error: where, which key, what.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    pub file: PathBuf,
    /// 1-based; 0 when the error is about the file as a whole.
    pub line: usize,
    pub key: String,
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file.display())?;
        if self.line > 0 {
            write!(f, ":{}", self.line)?;
        }
        if !self.key.is_empty() {
            write!(f, ": {}", self.key)?;
        }
        write!(f, ": {}", self.message)
    }
}

impl std::error::Error for ConfigError {}

// ------------------------------------------------------------------------------------------
// The file format (serde). Names carry units; every optional key has a documented default.
// ------------------------------------------------------------------------------------------

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    #[serde(default)]
    server: RawServer,
    #[serde(default, rename = "listener")]
    listeners: Vec<Spanned<RawListener>>,
    #[serde(default, rename = "upstream")]
    upstreams: Vec<Spanned<RawUpstream>>,
    #[serde(default, rename = "route")]
    routes: Vec<Spanned<RawRoute>>,
    #[serde(default)]
    xml_limits: ScanLimits,
    #[serde(default)]
    responses: RawResponses,
    /// Policy files (partners, credentials, grants). None: every request is served as an
    /// anonymous partner allowed everything (inspection only).
    #[serde(default)]
    policies: Vec<Spanned<PathBuf>>,
    audit: Option<RawAudit>,
    #[serde(default)]
    limits: RawLimits,
    admin: Option<RawAdmin>,
    /// Virtual feeds: public names mapped to (upstream, upstream feed name).
    #[serde(default, rename = "feed")]
    feeds: Vec<Spanned<RawFeed>>,
    capture: Option<Spanned<RawCapture>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFeed {
    public: Spanned<String>,
    upstream: Spanned<String>,
    name: Spanned<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCapture {
    dir: PathBuf,
    #[serde(default = "default_capture_max_bytes")]
    max_message_bytes: usize,
    #[serde(default = "default_capture_keep")]
    keep: usize,
    #[serde(default)]
    feeds: Vec<Spanned<String>>,
}

fn default_capture_max_bytes() -> usize {
    10 * 1024 * 1024
}

fn default_capture_keep() -> usize {
    1000
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAdmin {
    address: Spanned<String>,
    /// How often each upstream is probed for `/readyz`.
    #[serde(default = "default_probe_interval")]
    probe_interval_seconds: u64,
}

fn default_probe_interval() -> u64 {
    5
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawLimits {
    global: Option<RateConfig>,
    anonymous_per_address: Option<RateConfig>,
}

/// A rate: requests per second sustained, and the burst above it.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RateConfig {
    pub per_second: f64,
    #[serde(default = "one")]
    pub burst: u32,
}

fn one() -> u32 {
    1
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAudit {
    file: PathBuf,
    #[serde(default = "default_queue_records")]
    queue_records: usize,
    #[serde(default)]
    when_full: WhenFull,
}

fn default_queue_records() -> usize {
    10_000
}

/// What a full audit queue does to the exchange that wants to record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum WhenFull {
    /// The exchange waits: no record is ever lost.
    #[default]
    Block,
    /// The record is dropped and the drop counted.
    Drop,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawServer {
    threads: usize,
    grace_period_seconds: u64,
    graceful_shutdown_timeout_seconds: u64,
    pid_file: Option<PathBuf>,
    /// The public base URL clients reach the gateway at, when it differs from the listener
    /// (behind a load balancer). Used to rewrite advertised service addresses.
    public_url: Option<String>,
    /// The header that tells the upstream which partner sent a request (Draft 1 Services §6.3).
    identity_header: String,
}

impl Default for RawServer {
    fn default() -> Self {
        RawServer {
            threads: 2,
            grace_period_seconds: 5,
            graceful_shutdown_timeout_seconds: 10,
            pid_file: None,
            public_url: None,
            identity_header: "X-TAXII-Partner".to_string(),
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawListener {
    address: Spanned<String>,
    tls: Option<RawListenerTls>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawListenerTls {
    certificate_file: Spanned<PathBuf>,
    key_file: Spanned<PathBuf>,
    client_certificates: Option<RawClientCertificates>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawClientCertificates {
    ca_file: Spanned<PathBuf>,
    #[serde(default)]
    required: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawUpstream {
    name: Spanned<String>,
    url: Spanned<String>,
    #[serde(default = "default_connect_timeout_ms")]
    connect_timeout_ms: u64,
    #[serde(default = "default_read_timeout_ms")]
    read_timeout_ms: u64,
    #[serde(default)]
    tls: RawUpstreamTls,
    /// Credentials the gateway presents to this upstream instead of the partner's.
    credentials: Option<RawUpstreamCredentials>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawUpstreamCredentials {
    /// HTTP Basic: the user, and a file holding the password (secrets stay out of the config).
    basic_user: Option<String>,
    basic_password_file: Option<Spanned<PathBuf>>,
    /// A bearer token, from a file.
    bearer_token_file: Option<Spanned<PathBuf>>,
}

fn default_connect_timeout_ms() -> u64 {
    2_000
}
fn default_read_timeout_ms() -> u64 {
    30_000
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawUpstreamTls {
    #[serde(default = "default_true")]
    verify: bool,
    ca_file: Option<Spanned<PathBuf>>,
    sni: Option<String>,
}

impl Default for RawUpstreamTls {
    fn default() -> Self {
        RawUpstreamTls {
            verify: true,
            ca_file: None,
            sni: None,
        }
    }
}

fn default_true() -> bool {
    true
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRoute {
    path: Spanned<String>,
    host: Option<String>,
    upstream: Spanned<String>,
    upstream_path: Option<Spanned<String>>,
    #[serde(default = "all_dialects")]
    dialects: Spanned<Vec<String>>,
    #[serde(default = "default_max_body_bytes")]
    max_body_bytes: usize,
    inbox_feed: Option<String>,
    #[serde(default)]
    strip_headers: Vec<Spanned<String>>,
    partner_header: Option<Spanned<String>>,
    push_message: Option<Spanned<String>>,
    signed_messages: Option<Spanned<String>>,
}

fn all_dialects() -> Spanned<Vec<String>> {
    Spanned::new(
        0..0,
        Dialect::ALL
            .iter()
            .map(|d| d.as_str().to_string())
            .collect(),
    )
}
fn default_max_body_bytes() -> usize {
    10 * 1024 * 1024
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawResponses {
    max_bytes: u64,
    hold_bytes: usize,
}

impl Default for RawResponses {
    fn default() -> Self {
        RawResponses {
            max_bytes: 4 * 1024 * 1024 * 1024,
            hold_bytes: 1024 * 1024,
        }
    }
}

// ------------------------------------------------------------------------------------------
// The validated configuration.
// ------------------------------------------------------------------------------------------

/// The whole gateway configuration, validated.
#[derive(Debug, Clone)]
pub struct GatewayConfig {
    pub source: PathBuf,
    pub server: Server,
    pub listeners: Vec<Listener>,
    pub upstreams: Vec<Upstream>,
    pub routes: Vec<Route>,
    pub xml_limits: ScanLimits,
    pub responses: Responses,
    /// The admin listener (`/metrics`, `/healthz`, `/readyz`), if any.
    pub admin: Option<SocketAddr>,
    /// How often the upstreams are probed for `/readyz` (with an admin listener).
    pub probe_interval: Duration,
    /// Virtual feeds (`[[feed]]`).
    pub feeds: Vec<VirtualFeed>,
    /// Message capture (`[capture]`).
    pub capture: Option<Capture>,
    /// The audit log, if any.
    pub audit: Option<Audit>,
    /// A limit on all requests together. Default none.
    pub global_rate: Option<RateConfig>,
    /// A limit per client address on anonymous requests. Default none.
    pub anonymous_rate_per_address: Option<RateConfig>,
    /// Partners and grants; `None`: no policy files, every request is allowed (inspection only).
    pub policy: Option<std::sync::Arc<crate::policy::Policy>>,
}

#[derive(Debug, Clone)]
pub struct Server {
    /// Worker threads of the proxy service. Default 2.
    pub threads: usize,
    /// After SIGTERM, how long in-flight exchanges may take. Default 5 s.
    pub grace_period: Duration,
    /// After the grace period, how long the runtime may take to stop. Default 10 s.
    pub graceful_shutdown_timeout: Duration,
    pub pid_file: Option<PathBuf>,
    pub public_url: Option<String>,
    /// Header carrying the partner id toward the upstream. Default `X-TAXII-Partner`.
    pub identity_header: String,
}

#[derive(Debug, Clone)]
pub struct Listener {
    pub address: SocketAddr,
    pub tls: Option<ListenerTls>,
}

#[derive(Debug, Clone)]
pub struct ListenerTls {
    pub certificate_file: PathBuf,
    pub key_file: PathBuf,
    /// Client certificates: the CA that issues them, and whether one is required.
    pub client_ca_file: Option<PathBuf>,
    pub client_certificate_required: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    Http,
    Https,
}

#[derive(Debug, Clone)]
pub struct Upstream {
    pub name: String,
    pub scheme: Scheme,
    pub host: String,
    pub port: u16,
    /// Path prefix of the URL (without a trailing `/`), prepended to routes' upstream paths.
    pub base_path: String,
    pub connect_timeout: Duration,
    pub read_timeout: Duration,
    pub verify_tls: bool,
    pub ca_file: Option<PathBuf>,
    pub sni: String,
    /// The `Authorization` value the gateway sends to this upstream, if any.
    pub authorization: Option<String>,
}

impl Upstream {
    /// `host:port`, for connecting.
    pub fn authority(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }

    /// The URL prefix the upstream advertises its services under.
    pub fn origin(&self) -> String {
        let scheme = match self.scheme {
            Scheme::Http => "http",
            Scheme::Https => "https",
        };
        format!("{scheme}://{}{}", self.authority(), self.base_path)
    }
}

#[derive(Debug, Clone)]
pub struct Route {
    pub path: String,
    pub host: Option<String>,
    /// Index into [`GatewayConfig::upstreams`].
    pub upstream: usize,
    pub upstream_path: String,
    pub dialects: Vec<Dialect>,
    pub max_body_bytes: usize,
    /// The feed a push without a destination (Draft 1, 1.0) lands in upstream, for policy.
    pub inbox_feed: Option<String>,
    /// Extended header rules for every message sent here (a grant's rules add to them).
    pub headers: crate::policy::HeaderRules,
    /// The `Message` every push sent here carries toward the upstream (set or replaced).
    pub push_message: Option<String>,
    /// What a message carrying an XML signature gets when a rule would change it.
    pub signed: SignedMessages,
}

/// What becomes of a signed message (`ds:Signature`, 1.0/1.1) that a rule would rewrite: it is
/// never rewritten, since any change breaks the signature.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignedMessages {
    /// Refused (request: the partner gets DENIED; response: a FAILURE in its place).
    Refuse,
    /// Passed on unchanged, the rules not applied.
    Pass,
}

/// A public feed/collection name served by an upstream under another name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VirtualFeed {
    pub public: String,
    /// Index into [`GatewayConfig::upstreams`].
    pub upstream: usize,
    pub name: String,
}

/// Where full messages are written, and which.
#[derive(Debug, Clone)]
pub struct Capture {
    pub dir: PathBuf,
    /// Larger messages are not written (the audit record says so).
    pub max_message_bytes: usize,
    /// The newest this many exchanges' files are kept.
    pub keep: usize,
    /// Messages naming one of these feeds (public names, globs) are captured.
    pub feeds: Vec<crate::policy::FeedPattern>,
}

/// The audit log's settings.
#[derive(Debug, Clone)]
pub struct Audit {
    /// The JSON-lines file (relative to the working directory).
    pub file: PathBuf,
    /// Records waiting for the writer. Default 10,000.
    pub queue_records: usize,
    pub when_full: WhenFull,
}

#[derive(Debug, Clone)]
pub struct Responses {
    /// Largest response body streamed through. Default 4 GiB.
    pub max_bytes: u64,
    /// Responses up to this size are read whole and checked before any byte is passed on, so
    /// that a rejected one can still be replaced by a FAILURE answer. Default 1 MiB.
    pub hold_bytes: usize,
}

impl GatewayConfig {
    /// Reads and validates a configuration file (relative paths inside it are relative to the
    /// working directory, as operators expect from a service's command line).
    pub fn load(path: &Path) -> Result<GatewayConfig, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError {
            file: path.to_path_buf(),
            line: 0,
            key: String::new(),
            message: format!("cannot read: {e}"),
        })?;
        GatewayConfig::parse(path, &text)
    }

    /// Validates configuration text that came from `path`.
    pub fn parse(path: &Path, text: &str) -> Result<GatewayConfig, ConfigError> {
        let at = |span: Range<usize>, key: &str, message: String| ConfigError {
            file: path.to_path_buf(),
            line: line_of(text, span.start),
            key: key.to_string(),
            message,
        };
        let raw: RawConfig = toml::from_str(text).map_err(|e| {
            let span = e.span().unwrap_or(0..0);
            let message = e.message().to_string();
            let key = message
                .split('`')
                .nth(1)
                .filter(|_| message.starts_with("unknown field"))
                .unwrap_or("")
                .to_string();
            at(span, &key, message)
        })?;

        let server = Server {
            threads: raw.server.threads.max(1),
            grace_period: Duration::from_secs(raw.server.grace_period_seconds),
            graceful_shutdown_timeout: Duration::from_secs(
                raw.server.graceful_shutdown_timeout_seconds,
            ),
            pid_file: raw.server.pid_file,
            identity_header: raw.server.identity_header,
            public_url: raw
                .server
                .public_url
                .map(|u| u.trim_end_matches('/').to_string()),
        };

        if raw.listeners.is_empty() {
            return Err(at(
                0..0,
                "listener",
                "at least one [[listener]] is needed".into(),
            ));
        }
        let mut listeners = Vec::new();
        let mut addresses = BTreeSet::new();
        for l in raw.listeners {
            let l = l.into_inner();
            let address: SocketAddr = l.address.get_ref().parse().map_err(|e| {
                at(
                    l.address.span(),
                    "listener.address",
                    format!("{:?} is not ip:port: {e}", l.address.get_ref()),
                )
            })?;
            if !addresses.insert(address) {
                return Err(at(
                    l.address.span(),
                    "listener.address",
                    format!("{address} is listed twice"),
                ));
            }
            let tls = match l.tls {
                None => None,
                Some(t) => {
                    for (f, key) in [
                        (&t.certificate_file, "listener.tls.certificate_file"),
                        (&t.key_file, "listener.tls.key_file"),
                    ] {
                        if !f.get_ref().is_file() {
                            return Err(at(
                                f.span(),
                                key,
                                format!("{} is not a readable file", f.get_ref().display()),
                            ));
                        }
                    }
                    let (client_ca_file, client_certificate_required) = match t.client_certificates
                    {
                        None => (None, false),
                        Some(c) => {
                            if !c.ca_file.get_ref().is_file() {
                                return Err(at(
                                    c.ca_file.span(),
                                    "listener.tls.client_certificates.ca_file",
                                    format!(
                                        "{} is not a readable file",
                                        c.ca_file.get_ref().display()
                                    ),
                                ));
                            }
                            (Some(c.ca_file.into_inner()), c.required)
                        }
                    };
                    Some(ListenerTls {
                        certificate_file: t.certificate_file.into_inner(),
                        key_file: t.key_file.into_inner(),
                        client_ca_file,
                        client_certificate_required,
                    })
                }
            };
            listeners.push(Listener { address, tls });
        }

        let mut upstreams: Vec<Upstream> = Vec::new();
        for u in raw.upstreams {
            let u = u.into_inner();
            let name = u.name.get_ref().clone();
            if name.is_empty() || upstreams.iter().any(|o| o.name == name) {
                return Err(at(
                    u.name.span(),
                    "upstream.name",
                    format!("{name:?} is empty or not unique"),
                ));
            }
            let (scheme, host, port, base_path) =
                parse_url(u.url.get_ref()).map_err(|m| at(u.url.span(), "upstream.url", m))?;
            if let Some(ca) = &u.tls.ca_file {
                if !ca.get_ref().is_file() {
                    return Err(at(
                        ca.span(),
                        "upstream.tls.ca_file",
                        format!("{} is not a readable file", ca.get_ref().display()),
                    ));
                }
            }
            if u.connect_timeout_ms == 0 || u.read_timeout_ms == 0 {
                return Err(at(
                    u.url.span(),
                    "upstream.connect_timeout_ms",
                    "timeouts must be above 0".into(),
                ));
            }
            let authorization = match u.credentials {
                None => None,
                Some(c) => {
                    Some(upstream_authorization(c).map_err(|(span, key, m)| at(span, key, m))?)
                }
            };
            upstreams.push(Upstream {
                authorization,
                name,
                sni: u.tls.sni.unwrap_or_else(|| host.clone()),
                scheme,
                host,
                port,
                base_path,
                connect_timeout: Duration::from_millis(u.connect_timeout_ms),
                read_timeout: Duration::from_millis(u.read_timeout_ms),
                verify_tls: u.tls.verify,
                ca_file: u.tls.ca_file.map(Spanned::into_inner),
            });
        }

        if raw.routes.is_empty() {
            return Err(at(0..0, "route", "at least one [[route]] is needed".into()));
        }
        let mut routes: Vec<Route> = Vec::new();
        let header_names = |names: &[Spanned<String>],
                            star: bool,
                            key: &str|
         -> Result<Vec<String>, ConfigError> {
            let mut out = Vec::new();
            for n in names {
                let v = n.get_ref();
                if (v == "*" && !star)
                    || v.is_empty()
                    || v.chars().any(|c| c.is_whitespace() || c.is_control())
                {
                    return Err(at(
                        n.span(),
                        key,
                        format!("{v:?} is not an extended header name"),
                    ));
                }
                out.push(v.clone());
            }
            Ok(out)
        };
        for r in raw.routes {
            let r = r.into_inner();
            let path = r.path.get_ref().clone();
            if !path.starts_with('/') {
                return Err(at(
                    r.path.span(),
                    "route.path",
                    format!("{path:?} must start with /"),
                ));
            }
            let host = r.host.map(|h| h.to_ascii_lowercase());
            if routes.iter().any(|o| o.path == path && o.host == host) {
                return Err(at(
                    r.path.span(),
                    "route.path",
                    format!("{path:?} is routed twice"),
                ));
            }
            let upstream = upstreams
                .iter()
                .position(|u| &u.name == r.upstream.get_ref())
                .ok_or_else(|| {
                    at(
                        r.upstream.span(),
                        "route.upstream",
                        format!("no [[upstream]] is named {:?}", r.upstream.get_ref()),
                    )
                })?;
            let upstream_path = match r.upstream_path {
                Some(p) if !p.get_ref().starts_with('/') => {
                    return Err(at(
                        p.span(),
                        "route.upstream_path",
                        format!("{:?} must start with /", p.get_ref()),
                    ))
                }
                Some(p) => p.into_inner(),
                None => path.clone(),
            };
            let mut dialects = Vec::new();
            for d in r.dialects.get_ref() {
                let d = Dialect::from_name(d).ok_or_else(|| {
                    at(
                        r.dialects.span(),
                        "route.dialects",
                        format!("{d:?} is not draft1, 1.0 or 1.1"),
                    )
                })?;
                if !dialects.contains(&d) {
                    dialects.push(d);
                }
            }
            if dialects.is_empty() {
                return Err(at(
                    r.dialects.span(),
                    "route.dialects",
                    "a route needs at least one dialect".into(),
                ));
            }
            let headers = crate::policy::HeaderRules {
                strip: header_names(&r.strip_headers, true, "route.strip_headers")?,
                partner_header: match &r.partner_header {
                    None => None,
                    Some(h) => {
                        header_names(std::slice::from_ref(h), false, "route.partner_header")?.pop()
                    }
                },
            };
            if let Some(m) = &r.push_message {
                if m.get_ref()
                    .chars()
                    .any(|c| c.is_control() && !matches!(c, '\n' | '\t'))
                {
                    return Err(at(
                        m.span(),
                        "route.push_message",
                        "holds control characters".into(),
                    ));
                }
            }
            let signed = match &r.signed_messages {
                None => SignedMessages::Refuse,
                Some(v) => match v.get_ref().as_str() {
                    "refuse" => SignedMessages::Refuse,
                    "pass" => SignedMessages::Pass,
                    other => {
                        return Err(at(
                            v.span(),
                            "route.signed_messages",
                            format!("{other:?}: \"refuse\" (the default) or \"pass\""),
                        ))
                    }
                },
            };
            routes.push(Route {
                path,
                host,
                upstream,
                upstream_path,
                dialects,
                max_body_bytes: r.max_body_bytes,
                inbox_feed: r.inbox_feed,
                headers,
                push_message: r.push_message.map(Spanned::into_inner),
                signed,
            });
        }

        let policy = if raw.policies.is_empty() {
            None
        } else {
            for p in &raw.policies {
                if !p.get_ref().is_file() {
                    return Err(at(
                        p.span(),
                        "policies",
                        format!("{} is not a readable file", p.get_ref().display()),
                    ));
                }
            }
            let paths: Vec<PathBuf> = raw.policies.into_iter().map(Spanned::into_inner).collect();
            Some(std::sync::Arc::new(crate::policy::Policy::load(&paths)?))
        };
        let responses = Responses {
            max_bytes: raw.responses.max_bytes,
            hold_bytes: raw.responses.hold_bytes,
        };
        let mut feeds: Vec<VirtualFeed> = Vec::new();
        for f in raw.feeds {
            let f = f.into_inner();
            for (v, key) in [(&f.public, "feed.public"), (&f.name, "feed.name")] {
                let text = v.get_ref();
                if text.is_empty()
                    || text.trim() != text
                    || text.chars().any(|c| c.is_control())
                    || text.contains(['*', '?'])
                {
                    return Err(at(
                        v.span(),
                        key,
                        format!("{text:?}: a feed name, without surrounding white space, control characters or globs"),
                    ));
                }
            }
            if feeds.iter().any(|o| &o.public == f.public.get_ref()) {
                return Err(at(
                    f.public.span(),
                    "feed.public",
                    format!("{:?} is mapped twice", f.public.get_ref()),
                ));
            }
            let upstream = upstreams
                .iter()
                .position(|u| &u.name == f.upstream.get_ref())
                .ok_or_else(|| {
                    at(
                        f.upstream.span(),
                        "feed.upstream",
                        format!("no [[upstream]] is named {:?}", f.upstream.get_ref()),
                    )
                })?;
            feeds.push(VirtualFeed {
                public: f.public.into_inner(),
                upstream,
                name: f.name.into_inner(),
            });
        }
        let capture = match raw.capture {
            None => None,
            Some(c) => {
                let span = c.span();
                let c = c.into_inner();
                if c.keep == 0 {
                    return Err(at(span, "capture.keep", "must be at least 1".into()));
                }
                let mut patterns = Vec::new();
                for f in &c.feeds {
                    if f.get_ref().is_empty() || f.get_ref().chars().any(|ch| ch.is_control()) {
                        return Err(at(
                            f.span(),
                            "capture.feeds",
                            format!("{:?} is empty or holds control characters", f.get_ref()),
                        ));
                    }
                    patterns.push(crate::policy::FeedPattern::new(f.get_ref()));
                }
                Some(Capture {
                    dir: c.dir,
                    max_message_bytes: c.max_message_bytes,
                    keep: c.keep,
                    feeds: patterns,
                })
            }
        };
        Ok(GatewayConfig {
            source: path.to_path_buf(),
            server,
            listeners,
            upstreams,
            routes,
            xml_limits: raw.xml_limits,
            responses,
            policy,
            probe_interval: Duration::from_secs(
                raw.admin
                    .as_ref()
                    .map_or(5, |a| a.probe_interval_seconds)
                    .max(1),
            ),
            admin: match raw.admin {
                None => None,
                Some(a) => Some(a.address.get_ref().parse().map_err(|e| {
                    at(
                        a.address.span(),
                        "admin.address",
                        format!("{:?} is not ip:port: {e}", a.address.get_ref()),
                    )
                })?),
            },
            global_rate: raw.limits.global,
            anonymous_rate_per_address: raw.limits.anonymous_per_address,
            audit: raw.audit.map(|a| Audit {
                file: a.file,
                queue_records: a.queue_records,
                when_full: a.when_full,
            }),
            feeds,
            capture,
        })
    }

    /// The virtual feed with this public name.
    /// A name is compared whitespace-collapsed, as a validating upstream reads it (1.x feed
    /// names are `xs:anyURI`): ` community-a ` is `community-a`.
    pub fn virtual_feed(&self, public: &str) -> Option<&VirtualFeed> {
        let public = crate::taxii::values::collapse(public);
        self.feeds.iter().find(|f| f.public == public)
    }

    /// The route for a request: exact path, the host-specific route before the host-less one.
    pub fn route(&self, host: Option<&str>, path: &str) -> Option<&Route> {
        self.route_index(host, path).map(|i| &self.routes[i])
    }

    /// Index into `routes` of [`GatewayConfig::route`].
    pub fn route_index(&self, host: Option<&str>, path: &str) -> Option<usize> {
        let host = host.map(|h| strip_port(h).to_ascii_lowercase());
        self.routes
            .iter()
            .position(|r| r.path == path && r.host.is_some() && r.host == host)
            .or_else(|| {
                self.routes
                    .iter()
                    .position(|r| r.path == path && r.host.is_none())
            })
    }

    /// A human summary, printed by `check`.
    pub fn summary(&self) -> String {
        let mut s = format!("{}: valid\n", self.source.display());
        for l in &self.listeners {
            s.push_str(&format!(
                "  listener {} ({})\n",
                l.address,
                if l.tls.is_some() { "https" } else { "http" }
            ));
        }
        for u in &self.upstreams {
            s.push_str(&format!("  upstream {} -> {}\n", u.name, u.origin()));
        }
        for r in &self.routes {
            let dialects: Vec<&str> = r.dialects.iter().map(|d| d.as_str()).collect();
            s.push_str(&format!(
                "  route {}{} -> {}{} [{}]\n",
                r.host.as_deref().unwrap_or(""),
                r.path,
                self.upstreams[r.upstream].name,
                r.upstream_path,
                dialects.join(", ")
            ));
            let mut rules = Vec::new();
            if !r.headers.strip.is_empty() {
                rules.push(format!("strip headers [{}]", r.headers.strip.join(", ")));
            }
            if let Some(h) = &r.headers.partner_header {
                rules.push(format!("partner header {h}"));
            }
            if r.push_message.is_some() {
                rules.push("push message".to_string());
            }
            if r.signed == SignedMessages::Pass {
                rules.push("signed messages passed unchanged".to_string());
            }
            if !rules.is_empty() {
                s.push_str(&format!("    rules: {}\n", rules.join("; ")));
            }
        }
        for f in &self.feeds {
            s.push_str(&format!(
                "  feed {} -> {}:{}\n",
                f.public, self.upstreams[f.upstream].name, f.name
            ));
        }
        if let Some(c) = &self.capture {
            let feeds: Vec<&str> = c.feeds.iter().map(|f| f.as_str()).collect();
            s.push_str(&format!(
                "  capture to {} (feeds [{}], max {} bytes, newest {} kept)\n",
                c.dir.display(),
                feeds.join(", "),
                c.max_message_bytes,
                c.keep
            ));
        }
        match &self.policy {
            Some(p) => {
                s.push_str("  policy:\n");
                for line in p.summary().lines() {
                    s.push_str(&format!("    {line}\n"));
                }
            }
            None => s.push_str("  policy: none (inspection only: every request is allowed)\n"),
        }
        s
    }
}

/// `host:port` → `host`; `[v6]:port` → `v6`.
fn strip_port(host: &str) -> &str {
    if let Some(rest) = host.strip_prefix('[') {
        return rest.split(']').next().unwrap_or(rest);
    }
    match host.rsplit_once(':') {
        Some((h, p)) if p.bytes().all(|b| b.is_ascii_digit()) => h,
        _ => host,
    }
}

/// The `Authorization` header value for an upstream's credentials; exactly one kind.
fn upstream_authorization(
    c: RawUpstreamCredentials,
) -> Result<String, (Range<usize>, &'static str, String)> {
    let read = |f: &Spanned<PathBuf>, key: &'static str| {
        std::fs::read_to_string(f.get_ref())
            .map(|s| s.trim_end_matches(['\r', '\n']).to_string())
            .map_err(|e| (f.span(), key, format!("{}: {e}", f.get_ref().display())))
    };
    match (c.basic_user, c.basic_password_file, c.bearer_token_file) {
        (Some(user), Some(file), None) => {
            let password = read(&file, "upstream.credentials.basic_password_file")?;
            Ok(format!(
                "Basic {}",
                base64(format!("{user}:{password}").as_bytes())
            ))
        }
        (None, None, Some(file)) => {
            let token = read(&file, "upstream.credentials.bearer_token_file")?;
            Ok(format!("Bearer {token}"))
        }
        _ => Err((
            0..0,
            "upstream.credentials",
            "give basic_user with basic_password_file, or bearer_token_file".into(),
        )),
    }
}

fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, &b)| n | u32::from(b) << (16 - 8 * i));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

fn line_of(text: &str, offset: usize) -> usize {
    text.as_bytes()[..offset.min(text.len())]
        .iter()
        .filter(|&&b| b == b'\n')
        .count()
        + 1
}

/// `http[s]://host[:port][/base]`.
fn parse_url(url: &str) -> Result<(Scheme, String, u16, String), String> {
    let (scheme, rest) = if let Some(r) = url.strip_prefix("http://") {
        (Scheme::Http, r)
    } else if let Some(r) = url.strip_prefix("https://") {
        (Scheme::Https, r)
    } else {
        return Err(format!("{url:?} must start with http:// or https://"));
    };
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, ""),
    };
    let default_port = if scheme == Scheme::Http { 80 } else { 443 };
    let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
        let (h, after) = v6
            .split_once(']')
            .ok_or_else(|| format!("{url:?}: unclosed [ in the host"))?;
        let port = match after.strip_prefix(':') {
            Some(p) => p.parse().map_err(|_| format!("{url:?}: bad port"))?,
            None => default_port,
        };
        (h.to_string(), port)
    } else {
        match authority.rsplit_once(':') {
            Some((h, p)) => (
                h.to_string(),
                p.parse().map_err(|_| format!("{url:?}: bad port"))?,
            ),
            None => (authority.to_string(), default_port),
        }
    };
    if host.is_empty() {
        return Err(format!("{url:?} has no host"));
    }
    if path.contains('?') || path.contains('#') {
        return Err(format!("{url:?}: no query or fragment in an upstream URL"));
    }
    Ok((scheme, host, port, path.trim_end_matches('/').to_string()))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    const GOOD: &str = r#"
[[listener]]
address = "127.0.0.1:8080"

[[upstream]]
name = "sample"
url = "http://127.0.0.1:9000/base/"

[[route]]
path = "/services/poll"
upstream = "sample"
upstream_path = "/poll"
dialects = ["1.1", "draft1"]
"#;

    fn parse(text: &str) -> Result<GatewayConfig, ConfigError> {
        GatewayConfig::parse(Path::new("gw.toml"), text)
    }

    #[test]
    fn a_good_file_loads() {
        let c = parse(GOOD).unwrap();
        assert_eq!(c.listeners[0].address.to_string(), "127.0.0.1:8080");
        assert_eq!(c.upstreams[0].origin(), "http://127.0.0.1:9000/base");
        let r = c.route(Some("example.org:8080"), "/services/poll").unwrap();
        assert_eq!(r.upstream_path, "/poll");
        assert_eq!(r.dialects, vec![Dialect::V11, Dialect::Draft1]);
        assert!(c.route(None, "/services/inbox").is_none());
        assert_eq!(c.xml_limits, ScanLimits::default());
    }

    #[test]
    fn errors_name_file_line_and_key() {
        let e = parse(&GOOD.replace("upstream_path", "upstream_pth")).unwrap_err();
        assert_eq!((e.line, e.key.as_str()), (12, "upstream_pth"), "{e}");
        assert!(
            e.to_string().starts_with("gw.toml:12: upstream_pth: "),
            "{e}"
        );

        let e = parse(&GOOD.replace("upstream = \"sample\"", "upstream = \"nope\"")).unwrap_err();
        assert_eq!((e.line, e.key.as_str()), (11, "route.upstream"), "{e}");

        let e = parse(&GOOD.replace("\"1.1\", \"draft1\"", "\"1.2\"")).unwrap_err();
        assert_eq!((e.line, e.key.as_str()), (13, "route.dialects"), "{e}");

        let e = parse(&GOOD.replace("127.0.0.1:8080", "localhost")).unwrap_err();
        assert_eq!((e.line, e.key.as_str()), (3, "listener.address"), "{e}");

        let e = parse(&GOOD.replace("http://127.0.0.1:9000/base/", "ftp://x")).unwrap_err();
        assert_eq!((e.line, e.key.as_str()), (7, "upstream.url"), "{e}");

        let e = parse(&format!("{GOOD}\n[xml_limits]\nmax_depht = 3\n")).unwrap_err();
        assert_eq!(e.key, "max_depht", "{e}");
    }

    #[test]
    fn upstream_credentials() {
        let dir = std::env::temp_dir().join(format!("tg-cred-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let pass = dir.join("pass");
        std::fs::write(&pass, "s3cret\n").unwrap();
        let text = GOOD.replace(
            "url = \"http://127.0.0.1:9000/base/\"",
            &format!("url = \"http://127.0.0.1:9000/base/\"\ncredentials = {{ basic_user = \"gw\", basic_password_file = \"{}\" }}", pass.display()),
        );
        let c = parse(&text).unwrap();
        assert_eq!(
            c.upstreams[0].authorization.as_deref(),
            Some("Basic Z3c6czNjcmV0")
        );
        let e = parse(&text.replace("basic_user = \"gw\", ", "")).unwrap_err();
        assert_eq!(e.key, "upstream.credentials", "{e}");
        assert_eq!(base64(b"ab"), "YWI=");
        assert_eq!(base64(b"abc"), "YWJj");
        assert_eq!(base64(b"a"), "YQ==");
    }

    #[test]
    fn urls() {
        assert_eq!(
            parse_url("https://[::1]/x").unwrap(),
            (Scheme::Https, "::1".into(), 443, "/x".into())
        );
        assert_eq!(
            parse_url("http://h:81").unwrap(),
            (Scheme::Http, "h".into(), 81, "".into())
        );
        assert!(parse_url("http://:81").is_err());
        assert!(parse_url("http://h:x").is_err());
    }
}
