//! The sample TAXII upstream: an in-process demo backend with a few feeds that answers in all
//! three dialects. Tests and benchmarks put the gateway in front of it; it is plainly a demo, not
//! a TAXII server to deploy.
//!
//! Pure logic: no I/O, no threads, no clock, no randomness. [`SampleUpstream::handle`] takes one
//! HTTP request ([`SampleRequest`]) and returns one HTTP answer ([`SampleResponse`]); whoever
//! wraps it into a server owns sockets and TLS. The same requests in the same order always give
//! the same bytes.
//!
//! What it serves, under the advertised base URL:
//!
//! | path | messages |
//! |---|---|
//! | [`DISCOVERY_PATH`] | Discovery (Draft 1: GET; 1.x: POST) |
//! | [`FEED_MANAGEMENT_PATH`] | Feed/Collection Information (Draft 1: GET), Subscription Management |
//! | [`POLL_PATH`] | Poll, 1.1 Poll Fulfillment |
//! | [`INBOX_PATH`] | Inbox (Draft 1 `TAXII_STIXMessage`, 1.x `Inbox_Message`) |
//!
//! A Draft 1 GET for discovery or feed information is answered at either of the first two paths
//! (the Draft's own example sends one to the wrong service, DIGEST-DRAFT1 §12 #4). Any other path
//! is a bare 404. Requests are read with [`scan_message`], so the upstream is exactly as strict as
//! the gateway's protocol core; what it refuses gets the answer the gateway's writer gives
//! ([`refusal_reply`]): Draft 1 a bare HTTP 400 (405, 413, 415 where they apply), 1.x a
//! `Status_Message` `BAD_MESSAGE` in a 200 (400 for a POST that is not TAXII at all).
//!
//! The feeds ([`FEED_NAMES`]) hold STIX 1.1.1 packages from the deterministic generator of
//! [`crate::demo`]; content pushed to the inbox is added to the feed(s) it names and shows up in
//! later polls, in every dialect. Each block carries a timestamp label (one minute apart), and
//! polls honour the requested bounds, so incremental polling works as with a real feed.

use std::collections::VecDeque;
use std::ops::Range;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use quick_xml::events::{BytesStart, Event};
use quick_xml::name::{PrefixDeclaration, ResolveResult};
use quick_xml::{NsReader, Reader, XmlVersion};

use super::{content_block, escape, FEED, STIX_111_BINDING};
use crate::taxii::dialect::{parse_content_type_id, parse_protocol, parse_services_id};
use crate::taxii::writer::{self, binding_headers, refusal_reply, Refusal, ReplyContext};
use crate::taxii::{
    format_rfc3339, scan_message, Dialect, Envelope, HttpContext, MessageKind, Reject, RejectKind,
    ScanLimits, Transport,
};

/// The Discovery service.
pub const DISCOVERY_PATH: &str = "/services/discovery";
/// The Feed Management (1.1: Collection Management) service.
pub const FEED_MANAGEMENT_PATH: &str = "/services/feed-management";
/// The Poll service.
pub const POLL_PATH: &str = "/services/poll";
/// The Inbox service.
pub const INBOX_PATH: &str = "/services/inbox";
/// The four service paths, in the order Discovery lists them.
pub const SERVICE_PATHS: [&str; 4] = [DISCOVERY_PATH, FEED_MANAGEMENT_PATH, POLL_PATH, INBOX_PATH];

/// 12 blocks of indicators; also where inbox content goes when no feed is named.
pub const FEED_INDICATORS: &str = "indicators";
/// 6 blocks.
pub const FEED_MALWARE: &str = "malware";
/// 4 blocks.
pub const FEED_PHISHING: &str = "phishing";
/// As many blocks as fit in [`SampleConfig::big_feed_bytes`] (a 1.1 poll response of about that
/// size), for load tests.
pub const FEED_BIG: &str = "big";
/// Every feed, in the order feed information lists them. The last one is [`crate::demo::FEED`],
/// the feed [`crate::demo::poll_request`] targets: it serves the same content as [`FEED_BIG`].
pub const FEED_NAMES: [&str; 5] = [FEED_INDICATORS, FEED_MALWARE, FEED_PHISHING, FEED_BIG, FEED];
/// Where inbox content goes unless a 1.1 `Destination_Collection_Name` (or, Draft 1, the
/// subscription it serves) names another feed.
pub const DEFAULT_INBOX_FEED: &str = FEED_INDICATORS;
/// Subscriptions held at most; a SUBSCRIBE beyond is `DENIED`.
pub const MAX_SUBSCRIPTIONS: usize = 10_000;
/// Pushed blocks kept per feed; the oldest are dropped beyond (the generated ones always stay).
pub const MAX_PUSHED_BLOCKS_PER_FEED: usize = 1_000;
/// 1.1 poll results kept for Poll Fulfillment, the oldest dropped first.
const MAX_RESULTS: usize = 64;
/// `2014-05-08T00:00:00Z`, the generator's time origin: block `i` is labelled
/// `BASE + 60 + (i % 1400) * 60` (see `content_block` in the parent module).
const LABEL_BASE: u64 = 1_399_507_200;
/// Seed bits of the upstream's own message ids (1.0 ids are the low 64 bits: a counter).
const ID_SEED_HIGH: u128 = 0x5a3b_1e00_0000_0000;

/// One HTTP request, as the server wrapping the upstream received it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SampleRequest {
    pub method: String,
    /// The path, without the query.
    pub path: String,
    /// The raw query string, without `?`.
    pub query: Option<String>,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// True when the request came over TLS: `X-TAXII-Protocol` must then name HTTPS.
    pub tls: bool,
}

impl SampleRequest {
    /// A Draft 1 GET (discovery or feed information): `query` holds `message_type` and
    /// `message_id`, percent-encoded.
    pub fn get(path: &str, query: &str, tls: bool) -> SampleRequest {
        SampleRequest {
            method: "GET".into(),
            path: path.into(),
            query: Some(query.into()),
            headers: vec![(
                "X-TAXII-Protocol".into(),
                Dialect::Draft1.protocol_id(transport(tls)).into(),
            )],
            body: Vec::new(),
            tls,
        }
    }

    /// A POST of a `dialect` message with that binding's headers (`X-TAXII-Services` for 1.x).
    pub fn post(
        path: &str,
        dialect: Dialect,
        tls: bool,
        body: impl Into<Vec<u8>>,
    ) -> SampleRequest {
        let mut headers = vec![
            ("Content-Type".to_string(), "application/xml".to_string()),
            (
                "X-TAXII-Content-Type".to_string(),
                dialect.content_type_id().to_string(),
            ),
            (
                "X-TAXII-Protocol".to_string(),
                dialect.protocol_id(transport(tls)).to_string(),
            ),
        ];
        if let Some(services) = dialect.services_id() {
            headers.push(("X-TAXII-Services".to_string(), services.to_string()));
        }
        SampleRequest {
            method: "POST".into(),
            path: path.into(),
            query: None,
            headers,
            body: body.into(),
            tls,
        }
    }

    /// The first value of a header, names compared case-insensitively.
    pub fn header(&self, name: &str) -> Option<&str> {
        find_header(&self.headers, name)
    }
}

/// The HTTP answer.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SampleResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl SampleResponse {
    /// The first value of a header, names compared case-insensitively.
    pub fn header(&self, name: &str) -> Option<&str> {
        find_header(&self.headers, name)
    }

    fn bare(status: u16) -> SampleResponse {
        SampleResponse {
            status,
            headers: Vec::new(),
            body: Vec::new(),
        }
    }
}

fn find_header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

fn transport(tls: bool) -> Transport {
    if tls {
        Transport::Https
    } else {
        Transport::Http
    }
}

/// How the upstream is built.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SampleConfig {
    /// Target size of a 1.1 poll response of [`FEED_BIG`] (and [`crate::demo::FEED`]), in bytes:
    /// the feed holds as many blocks (about 5.9 KB each) as fit, at least one. Default 1 MiB.
    pub big_feed_bytes: usize,
    /// Content blocks per part of a 1.1 poll result; a larger result is multi-part (`more`,
    /// `result_id`, fetched with Poll Fulfillment). Default `usize::MAX`: never split.
    pub part_blocks: usize,
    /// The limits requests are read with.
    pub limits: ScanLimits,
}

impl Default for SampleConfig {
    fn default() -> Self {
        SampleConfig {
            big_feed_bytes: 1024 * 1024,
            part_blocks: usize::MAX,
            limits: ScanLimits::default(),
        }
    }
}

/// One content block, rendered once per dialect. Draft 1 has no rendering for content that is
/// not XML elements (a Draft 1 poll response carries bare STIX documents).
#[derive(Debug)]
struct Block {
    binding: String,
    /// Timestamp label, seconds since the Unix epoch.
    label: u64,
    /// `<taxii_11:Content_Block>…`, one line per element, indented for a poll response.
    v11: String,
    /// `<taxii:Content_Block>…`.
    v10: String,
    /// The document(s), and how many.
    draft1: Option<(String, usize)>,
}

impl Block {
    fn generated(index: u64) -> Block {
        let mut v11 = String::with_capacity(6 * 1024);
        content_block(Dialect::V11, index, &mut v11);
        let mut v10 = String::with_capacity(6 * 1024);
        content_block(Dialect::V10, index, &mut v10);
        let mut d1 = String::with_capacity(6 * 1024);
        content_block(Dialect::Draft1, index, &mut d1);
        Block {
            binding: STIX_111_BINDING.to_string(),
            label: LABEL_BASE + 60 + (index % 1400) * 60,
            v11,
            v10,
            draft1: Some((d1, 1)),
        }
    }

    fn pushed(binding: &str, content: &Fragment, label: u64) -> Block {
        let b = escape(binding);
        let ts = format_rfc3339(label);
        let text = &content.text;
        Block {
            binding: binding.to_string(),
            label,
            v11: format!(
                "  <taxii_11:Content_Block>\n    <taxii_11:Content_Binding binding_id=\"{b}\"/>\n    <taxii_11:Content>{text}</taxii_11:Content>\n    <taxii_11:Timestamp_Label>{ts}</taxii_11:Timestamp_Label>\n  </taxii_11:Content_Block>\n"
            ),
            v10: format!(
                "  <taxii:Content_Block>\n    <taxii:Content_Binding>{b}</taxii:Content_Binding>\n    <taxii:Content>{text}</taxii:Content>\n    <taxii:Timestamp_Label>{ts}</taxii:Timestamp_Label>\n  </taxii:Content_Block>\n"
            ),
            draft1: content.draft1_docs.map(|n| (format!("  {text}\n"), n)),
        }
    }

    /// The rendering for `d` and the number of content blocks (Draft 1: documents) it holds.
    fn render(&self, d: Dialect) -> Option<(&str, usize)> {
        match d {
            Dialect::V11 => Some((&self.v11, 1)),
            Dialect::V10 => Some((&self.v10, 1)),
            Dialect::Draft1 => self.draft1.as_ref().map(|(s, n)| (s.as_str(), *n)),
        }
    }
}

struct Feed {
    name: &'static str,
    description: &'static str,
    generated: Arc<Vec<Arc<Block>>>,
}

/// What a subscription delivers and how.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Params {
    /// Push delivery: (protocol binding, address). `None`: the subscriber polls.
    push: Option<(String, String)>,
    /// The message binding asked for (Draft 1 always gives one; 1.x with push parameters).
    message_binding: Option<String>,
    /// Empty: every binding.
    content_bindings: Vec<String>,
    /// 1.1 `Response_Type` `COUNT_ONLY`.
    count_only: bool,
}

#[derive(Debug, Clone)]
struct Subscription {
    id: String,
    feed: usize,
    paused: bool,
    params: Params,
}

struct PollResult {
    id: String,
    feed: usize,
    subscription_id: Option<String>,
    begin: Option<String>,
    end: String,
    blocks: Arc<Vec<Arc<Block>>>,
}

#[derive(Default)]
struct State {
    /// Per feed, parallel to `SampleUpstream::feeds`.
    pushed: Vec<VecDeque<Arc<Block>>>,
    /// Per feed: the latest timestamp label.
    latest: Vec<u64>,
    subscriptions: Vec<Subscription>,
    next_subscription: u64,
    results: VecDeque<PollResult>,
    next_result: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Service {
    Discovery,
    FeedManagement,
    Poll,
    Inbox,
}

/// The status types the upstream sends, named per dialect.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Status {
    Success,
    BadMessage,
    NotFound,
    Denied,
    /// Draft 1 only: a request sent to a service that does not serve it.
    UnsupportedService,
    /// 1.1 only.
    InvalidResponsePart,
    /// 1.1 only.
    DestinationCollectionError,
}

impl Status {
    fn name(self, d: Dialect) -> &'static str {
        let draft1 = d == Dialect::Draft1;
        match self {
            Status::Success => "SUCCESS",
            Status::BadMessage if draft1 => "BAD-MESSAGE",
            Status::BadMessage => "BAD_MESSAGE",
            Status::NotFound if draft1 => "NOT-FOUND",
            Status::NotFound => "NOT_FOUND",
            Status::Denied => "DENIED",
            Status::UnsupportedService => "UNSUPPORTED-SERVICE",
            Status::InvalidResponsePart => "INVALID_RESPONSE_PART",
            Status::DestinationCollectionError => "DESTINATION_COLLECTION_ERROR",
        }
    }
}

/// The sample upstream. `&self` methods only: state (subscriptions, pushed content, poll results)
/// sits behind a mutex, so one instance can serve concurrent requests.
pub struct SampleUpstream {
    /// The advertised base URL, without a trailing `/`.
    base: String,
    /// The path part of `base` (`""` or `/taxii`), accepted as a prefix of request paths.
    base_path: String,
    /// The transport the advertised addresses use (their protocol bindings say so).
    base_transport: Transport,
    feeds: Vec<Feed>,
    part_blocks: usize,
    limits: ScanLimits,
    ids: AtomicU64,
    state: Mutex<State>,
}

impl std::fmt::Debug for SampleUpstream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SampleUpstream")
            .field("base", &self.base)
            .field("feeds", &self.feed_names())
            .finish_non_exhaustive()
    }
}

impl SampleUpstream {
    /// An upstream whose service addresses are `advertised_base` + the service paths
    /// (`https://…` bases advertise the HTTPS protocol bindings), with the default configuration.
    pub fn new(advertised_base: &str) -> SampleUpstream {
        SampleUpstream::with_config(advertised_base, SampleConfig::default())
    }

    pub fn with_config(advertised_base: &str, config: SampleConfig) -> SampleUpstream {
        let base = advertised_base.trim_end_matches('/').to_string();
        let base_transport = if base
            .get(..8)
            .is_some_and(|s| s.eq_ignore_ascii_case("https://"))
        {
            Transport::Https
        } else {
            Transport::Http
        };
        let base_path = base
            .find("://")
            .map(|i| &base[i + 3..])
            .and_then(|rest| rest.find('/').map(|j| rest[j..].to_string()))
            .unwrap_or_default();

        let range = |first: u64, count: u64| -> Arc<Vec<Arc<Block>>> {
            Arc::new(
                (first..first + count)
                    .map(|i| Arc::new(Block::generated(i)))
                    .collect(),
            )
        };
        // The big feed: as many blocks as fit in a 1.1 poll response of the target size.
        let head_allowance = 1024;
        let mut big = Vec::new();
        let mut size = head_allowance;
        loop {
            let block = Block::generated(big.len() as u64);
            if !big.is_empty() && size + block.v11.len() > config.big_feed_bytes {
                break;
            }
            size += block.v11.len();
            big.push(Arc::new(block));
        }
        let big = Arc::new(big);
        let feeds = vec![
            Feed {
                name: FEED_INDICATORS,
                description: "Indicators of compromise: C2 addresses, payload URLs and dropper hashes. Inbox content lands here by default.",
                generated: range(0, 12),
            },
            Feed {
                name: FEED_MALWARE,
                description: "Malware families and their remote-access tooling.",
                generated: range(300, 6),
            },
            Feed {
                name: FEED_PHISHING,
                description: "Spear-phishing lures and the infrastructure behind them.",
                generated: range(600, 4),
            },
            Feed {
                name: FEED_BIG,
                description: "Bulk feed for load tests (its size is configurable).",
                generated: big.clone(),
            },
            Feed {
                name: FEED,
                description: "The feed the demo generator's poll requests target: the content of the big feed.",
                generated: big,
            },
        ];
        let state = State {
            pushed: feeds.iter().map(|_| VecDeque::new()).collect(),
            latest: feeds
                .iter()
                .map(|f| {
                    f.generated
                        .iter()
                        .map(|b| b.label)
                        .max()
                        .unwrap_or(LABEL_BASE)
                })
                .collect(),
            ..State::default()
        };
        SampleUpstream {
            base,
            base_path,
            base_transport,
            feeds,
            part_blocks: config.part_blocks.max(1),
            limits: config.limits,
            ids: AtomicU64::new(1),
            state: Mutex::new(state),
        }
    }

    /// The advertised base URL, without a trailing `/`.
    pub fn advertised_base(&self) -> &str {
        &self.base
    }

    /// The advertised address of a service path (one of [`SERVICE_PATHS`]).
    pub fn service_url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub fn feed_names(&self) -> Vec<&'static str> {
        self.feeds.iter().map(|f| f.name).collect()
    }

    /// How many content blocks a feed holds now (generated and pushed), or `None` for an unknown
    /// feed.
    pub fn block_count(&self, feed: &str) -> Option<usize> {
        let i = self.feed_index(feed)?;
        Some(self.feeds[i].generated.len() + self.state().pushed[i].len())
    }

    /// How many subscriptions exist, over all feeds.
    pub fn subscription_count(&self) -> usize {
        self.state().subscriptions.len()
    }

    /// Answers one request.
    pub fn handle(&self, req: &SampleRequest) -> SampleResponse {
        let t = transport(req.tls);
        let Some(service) = self.route(&req.path) else {
            return SampleResponse::bare(404);
        };
        let mut ctx = HttpContext::request(&req.method, req.query.as_deref());
        ctx.transport = Some(t);
        for (name, value) in &req.headers {
            if let Err(r) = ctx.header(name, value) {
                return self.refuse(req, &r);
            }
        }
        let env = match scan_message(&ctx, &req.body, &self.limits) {
            Ok(env) => env,
            Err(r) => return self.refuse(req, &r),
        };
        let d = env.dialect;
        let served = match env.kind {
            MessageKind::DiscoveryRequest => {
                service == Service::Discovery
                    || (d == Dialect::Draft1 && service == Service::FeedManagement)
            }
            MessageKind::FeedInformationRequest => {
                service == Service::FeedManagement
                    || (d == Dialect::Draft1 && service == Service::Discovery)
            }
            MessageKind::SubscriptionManagementRequest => service == Service::FeedManagement,
            MessageKind::PollRequest | MessageKind::PollFulfillment => service == Service::Poll,
            MessageKind::InboxMessage => service == Service::Inbox,
            _ => {
                // Responses, status messages and the Draft 1 XSD-only subscription alert: no
                // service of this upstream takes them.
                return match d {
                    Dialect::Draft1 => self.bare(400, d, t),
                    _ => self.status(
                        &env,
                        t,
                        Status::BadMessage,
                        &[],
                        &format!("{} is not a request this upstream serves", env.message),
                    ),
                };
            }
        };
        if !served {
            return match (d, env.kind) {
                // The Draft 1 inbox never answers with a TAXII message.
                (Dialect::Draft1, MessageKind::InboxMessage) => self.bare(400, d, t),
                (Dialect::Draft1, _) => self.status(
                    &env,
                    t,
                    Status::UnsupportedService,
                    &[],
                    &format!("{} is not served at {}", env.message, req.path),
                ),
                _ => self.status(
                    &env,
                    t,
                    Status::BadMessage,
                    &[],
                    &format!("{} is not served at {}", env.message, req.path),
                ),
            };
        }
        // What the envelope does not carry (timestamps, result ids, delivery parameters, the
        // content itself) is read here, from a body the scan has already accepted.
        let details = if req.body.is_empty() {
            Details::default()
        } else {
            match Details::read(&req.body, d, env.kind == MessageKind::InboxMessage) {
                Ok(details) => details,
                Err(why) => {
                    return match d {
                        Dialect::Draft1 => self.bare(400, d, t),
                        _ => self.status(&env, t, Status::BadMessage, &[], &why),
                    }
                }
            }
        };
        match env.kind {
            MessageKind::DiscoveryRequest => self.discovery(&env, t),
            MessageKind::FeedInformationRequest => self.feed_information(&env, t),
            MessageKind::SubscriptionManagementRequest => self.subscription(&env, &details, t),
            MessageKind::PollRequest => self.poll(&env, &details, t),
            MessageKind::PollFulfillment => self.fulfillment(&env, &details, t),
            _ => self.inbox(&env, &details, t),
        }
    }

    // -----------------------------------------------------------------------------------------
    // Plumbing
    // -----------------------------------------------------------------------------------------

    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn feed_index(&self, name: &str) -> Option<usize> {
        self.feeds.iter().position(|f| f.name == name)
    }

    fn route(&self, path: &str) -> Option<Service> {
        let path = path.split('?').next().unwrap_or("");
        let path = if self.base_path.is_empty() {
            path
        } else {
            path.strip_prefix(self.base_path.as_str()).unwrap_or(path)
        };
        let path = if path.len() > 1 {
            path.trim_end_matches('/')
        } else {
            path
        };
        match path {
            DISCOVERY_PATH => Some(Service::Discovery),
            FEED_MANAGEMENT_PATH => Some(Service::FeedManagement),
            POLL_PATH => Some(Service::Poll),
            INBOX_PATH => Some(Service::Inbox),
            _ => None,
        }
    }

    fn next_seed(&self) -> u128 {
        let n = self.ids.fetch_add(1, Ordering::Relaxed);
        (ID_SEED_HIGH << 64) | u128::from(900_000 + n)
    }

    /// A fresh message id in the dialect's syntax.
    fn message_id(&self, d: Dialect) -> String {
        writer::message_id(d, self.next_seed())
    }

    fn protocol(&self, d: Dialect) -> &'static str {
        d.protocol_id(self.base_transport)
    }

    fn reply(&self, d: Dialect, t: Transport, body: String) -> SampleResponse {
        SampleResponse {
            status: 200,
            headers: headers(d, t, true),
            body: body.into_bytes(),
        }
    }

    /// An answer without a TAXII body (Draft 1 inbox success, Draft 1 errors).
    fn bare(&self, status: u16, d: Dialect, t: Transport) -> SampleResponse {
        SampleResponse {
            status,
            headers: headers(d, t, false),
            body: Vec::new(),
        }
    }

    /// The answer to a request the protocol core refused, as the gateway's writer words it, in
    /// the dialect the request claims.
    fn refuse(&self, req: &SampleRequest, r: &Reject) -> SampleResponse {
        let Some(d) = guess_dialect(req) else {
            let status = if r.kind == RejectKind::MethodNotAllowed {
                405
            } else {
                400
            };
            return SampleResponse::bare(status);
        };
        let ctx = ReplyContext {
            dialect: d,
            transport: transport(req.tls),
            in_response_to: r.message_id.clone(),
            id_seed: self.next_seed(),
            now_unix: 0,
            message: Some(r.to_string()),
        };
        let reply = refusal_reply(&ctx, &Refusal::Rejected(r.kind));
        SampleResponse {
            status: reply.status,
            headers: reply
                .headers
                .into_iter()
                .map(|(n, v)| (n.to_string(), v))
                .collect(),
            body: reply.body,
        }
    }

    /// An error (Draft 1) or status (1.x) message in a 200. `details` are 1.1 name-value pairs
    /// (the other dialects carry none for the types used here).
    fn status(
        &self,
        env: &Envelope,
        t: Transport,
        status: Status,
        details: &[(&str, &str)],
        message: &str,
    ) -> SampleResponse {
        let d = env.dialect;
        let mut x = Xml::response(
            d,
            if d == Dialect::Draft1 {
                "TAXII_ErrorMessage"
            } else {
                "Status_Message"
            },
            &self.message_id(d),
            &env.message_id.value,
            &[(
                if d == Dialect::Draft1 {
                    "error-type"
                } else {
                    "status_type"
                },
                status.name(d),
            )],
        );
        if d == Dialect::V11 && !details.is_empty() {
            x.open(1, "Status_Detail", &[]);
            for &(name, value) in details {
                x.open_inline(2, "Detail", &[("name", name)]);
                x.text_close(value, "Detail");
            }
            x.close(1, "Status_Detail");
        }
        if !message.is_empty() {
            x.leaf(
                1,
                if d == Dialect::Draft1 {
                    "message"
                } else {
                    "Message"
                },
                message,
            );
        }
        self.reply(d, t, x.finish())
    }

    fn not_found(&self, env: &Envelope, t: Transport, item: &str, what: &str) -> SampleResponse {
        self.status(
            env,
            t,
            Status::NotFound,
            &[("ITEM", item)],
            &format!("No {what} {item}."),
        )
    }

    /// 1.x service contact records (`Polling_Service`, `Poll_Instance`, …).
    fn contact(&self, x: &mut Xml, indent: usize, element: &str, path: &str) {
        let d = x.d;
        x.open(indent, element, &[]);
        x.leaf(indent + 1, "Protocol_Binding", self.protocol(d));
        x.leaf(indent + 1, "Address", &self.service_url(path));
        x.leaf(indent + 1, "Message_Binding", message_binding(d));
        x.close(indent, element);
    }

    /// Every block of a feed now: generated, then pushed, with the latest label.
    fn snapshot(&self, feed: usize) -> (Vec<Arc<Block>>, u64) {
        let generated = &self.feeds[feed].generated;
        let state = self.state();
        let mut blocks = Vec::with_capacity(generated.len() + state.pushed[feed].len());
        blocks.extend(generated.iter().cloned());
        blocks.extend(state.pushed[feed].iter().cloned());
        (blocks, state.latest[feed])
    }

    // -----------------------------------------------------------------------------------------
    // Discovery and feed information
    // -----------------------------------------------------------------------------------------

    fn discovery(&self, env: &Envelope, t: Transport) -> SampleResponse {
        let d = env.dialect;
        let root = match d {
            Dialect::Draft1 => "TAXII_DiscoveryResponse",
            _ => "Discovery_Response",
        };
        let mut x = Xml::response(d, root, &self.message_id(d), &env.message_id.value, &[]);
        let management = match d {
            Dialect::Draft1 => "FEED-MANAGEMENT",
            Dialect::V10 => "FEED_MANAGEMENT",
            Dialect::V11 => "COLLECTION_MANAGEMENT",
        };
        let services = [
            (
                "DISCOVERY",
                DISCOVERY_PATH,
                "Sample TAXII upstream (demo backend).",
            ),
            (
                management,
                FEED_MANAGEMENT_PATH,
                "Feed information and subscriptions.",
            ),
            (
                "POLL",
                POLL_PATH,
                "Poll any feed, with or without a subscription.",
            ),
            (
                "INBOX",
                INBOX_PATH,
                "Pushed content is added to the feeds it names (default: indicators).",
            ),
        ];
        let version = match d {
            Dialect::Draft1 => "TAXII_1.0",
            _ => d.services_id().unwrap_or_default(),
        };
        for (service_type, path, message) in services {
            let attrs = [
                (
                    if d == Dialect::Draft1 {
                        "service-type"
                    } else {
                        "service_type"
                    },
                    service_type,
                ),
                (
                    if d == Dialect::Draft1 {
                        "service-version"
                    } else {
                        "service_version"
                    },
                    version,
                ),
                ("available", "true"),
            ];
            if d == Dialect::Draft1 {
                x.open(1, "service-instance", &attrs);
                x.leaf(2, "protocol-binding", self.protocol(d));
                x.leaf(2, "message-binding", message_binding(d));
                // Draft 1 XML Binding §3.3: MUST be present for INBOX.
                if service_type == "INBOX" {
                    x.leaf(2, "content-binding", STIX_111_BINDING);
                    x.leaf(2, "content-binding", "STIX_XML_1.0");
                }
                x.leaf(2, "service-address", &self.service_url(path));
                x.leaf(2, "message", message);
                x.close(1, "service-instance");
            } else {
                // 1.x: an INBOX without Content_Binding accepts every binding.
                x.open(1, "Service_Instance", &attrs);
                x.leaf(2, "Protocol_Binding", self.protocol(d));
                x.leaf(2, "Address", &self.service_url(path));
                x.leaf(2, "Message_Binding", message_binding(d));
                x.leaf(2, "Message", message);
                x.close(1, "Service_Instance");
            }
        }
        self.reply(d, t, x.finish())
    }

    fn feed_information(&self, env: &Envelope, t: Transport) -> SampleResponse {
        let d = env.dialect;
        let root = match d {
            Dialect::Draft1 => "TAXII_FeedInformationResponse",
            Dialect::V10 => "Feed_Information_Response",
            Dialect::V11 => "Collection_Information_Response",
        };
        let mut x = Xml::response(d, root, &self.message_id(d), &env.message_id.value, &[]);
        for (i, feed) in self.feeds.iter().enumerate() {
            let (blocks, _) = self.snapshot(i);
            let mut bindings: Vec<&str> = Vec::new();
            for b in &blocks {
                if !bindings.contains(&b.binding.as_str()) {
                    bindings.push(&b.binding);
                }
            }
            match d {
                Dialect::Draft1 => {
                    x.open(
                        1,
                        "feed",
                        &[("feed-name", feed.name), ("available", "true")],
                    );
                    x.leaf(2, "description", feed.description);
                    x.leaf(2, "delivery-method", "POLL");
                    x.leaf(2, "message-binding", message_binding(d));
                    for b in &bindings {
                        x.leaf(2, "content-binding", b);
                    }
                    x.close(1, "feed");
                }
                Dialect::V10 => {
                    x.open(
                        1,
                        "Feed",
                        &[("feed_name", feed.name), ("available", "true")],
                    );
                    x.leaf(2, "Description", feed.description);
                    for b in &bindings {
                        x.leaf(2, "Content_Binding", b);
                    }
                    self.contact(&mut x, 2, "Polling_Service", POLL_PATH);
                    self.contact(&mut x, 2, "Subscription_Service", FEED_MANAGEMENT_PATH);
                    x.close(1, "Feed");
                }
                Dialect::V11 => {
                    x.open(
                        1,
                        "Collection",
                        &[
                            ("collection_name", feed.name),
                            ("collection_type", "DATA_FEED"),
                            ("available", "true"),
                        ],
                    );
                    x.leaf(2, "Description", feed.description);
                    x.leaf(2, "Collection_Volume", &blocks.len().to_string());
                    for b in &bindings {
                        x.empty(2, "Content_Binding", &[("binding_id", b)]);
                    }
                    self.contact(&mut x, 2, "Polling_Service", POLL_PATH);
                    self.contact(&mut x, 2, "Subscription_Service", FEED_MANAGEMENT_PATH);
                    self.contact(&mut x, 2, "Receiving_Inbox_Service", INBOX_PATH);
                    x.close(1, "Collection");
                }
            }
        }
        self.reply(d, t, x.finish())
    }

    // -----------------------------------------------------------------------------------------
    // Subscription management
    // -----------------------------------------------------------------------------------------

    fn subscription(&self, env: &Envelope, details: &Details, t: Transport) -> SampleResponse {
        let d = env.dialect;
        let Some(feed_name) = env.feeds.first().map(|f| f.value.as_str()) else {
            return self.status(env, t, Status::BadMessage, &[], "no feed named");
        };
        let Some(feed) = self.feed_index(feed_name) else {
            return self.not_found(env, t, feed_name, "feed");
        };
        let action = env
            .action
            .as_ref()
            .map(|a| a.value.trim())
            .unwrap_or_default();
        // The Draft 1 XSD's QUERY is the spec's STATUS (DIGEST-DRAFT1 §5.12 #1).
        let action = if action == "QUERY" { "STATUS" } else { action };
        let requested = env.subscription_id().map(str::to_string);
        let mut state = self.state();
        let find = |state: &State, id: &str| {
            state
                .subscriptions
                .iter()
                .position(|s| s.id == id && s.feed == feed)
        };
        // (records to answer with, message)
        let (records, message): (Vec<(Subscription, &str)>, String) = match action {
            "SUBSCRIBE" => {
                let params = Params::read(env, details);
                // Draft 1 rule 6, 1.0 rule 5: an identical SUBSCRIBE returns the existing id.
                if let Some(s) = state
                    .subscriptions
                    .iter()
                    .find(|s| s.feed == feed && s.params == params)
                {
                    (vec![(s.clone(), "ACTIVE")], "Already subscribed.".into())
                } else if state.subscriptions.len() >= MAX_SUBSCRIPTIONS {
                    drop(state);
                    return self.status(
                        env,
                        t,
                        Status::Denied,
                        &[],
                        &format!(
                            "This demo upstream holds at most {MAX_SUBSCRIPTIONS} subscriptions."
                        ),
                    );
                } else {
                    state.next_subscription += 1;
                    let s = Subscription {
                        id: format!("urn:demo:subscription:{}", state.next_subscription),
                        feed,
                        paused: false,
                        params,
                    };
                    state.subscriptions.push(s.clone());
                    (vec![(s, "ACTIVE")], "Subscription established.".into())
                }
            }
            "UNSUBSCRIBE" => {
                let id = requested.unwrap_or_default();
                // An unknown id is a success all the same (Draft 1 rule 3, 1.0 rule 3).
                let s = match find(&state, &id) {
                    Some(i) => state.subscriptions.remove(i),
                    None => Subscription {
                        id,
                        feed,
                        paused: false,
                        params: Params::poll(),
                    },
                };
                (vec![(s, "UNSUBSCRIBED")], "Subscription removed.".into())
            }
            "PAUSE" | "RESUME" | "MODIFY" => {
                let id = requested.unwrap_or_default();
                let Some(i) = find(&state, &id) else {
                    drop(state);
                    return self.not_found(env, t, &id, "subscription");
                };
                let s = &mut state.subscriptions[i];
                match action {
                    "PAUSE" => s.paused = true,
                    "RESUME" => s.paused = false,
                    _ => s.params = Params::read(env, details),
                }
                let status = if s.paused { "PAUSED" } else { "ACTIVE" };
                (
                    vec![(s.clone(), status)],
                    format!("Subscription {}.", action.to_ascii_lowercase()),
                )
            }
            _ => {
                // STATUS: 1.1 may select one subscription; Draft 1 and 1.0 ignore an id.
                let selected = if d == Dialect::V11 { requested } else { None };
                if let Some(id) = selected {
                    let Some(i) = find(&state, &id) else {
                        drop(state);
                        return self.not_found(env, t, &id, "subscription");
                    };
                    let s = state.subscriptions[i].clone();
                    let status = if s.paused { "PAUSED" } else { "ACTIVE" };
                    (vec![(s, status)], String::new())
                } else {
                    let all: Vec<(Subscription, &str)> = state
                        .subscriptions
                        .iter()
                        .filter(|s| s.feed == feed)
                        .map(|s| (s.clone(), if s.paused { "PAUSED" } else { "ACTIVE" }))
                        .collect();
                    let message = format!("{} subscription(s) on {feed_name}.", all.len());
                    (all, message)
                }
            }
        };
        drop(state);

        let root = match d {
            Dialect::Draft1 => "TAXII_SubscriptionManagementResponse",
            _ => "Subscription_Management_Response",
        };
        let feed_attr = match d {
            Dialect::Draft1 => None,
            Dialect::V10 => Some(("feed_name", feed_name)),
            Dialect::V11 => Some(("collection_name", feed_name)),
        };
        let mut x = Xml::response(
            d,
            root,
            &self.message_id(d),
            &env.message_id.value,
            feed_attr.as_slice(),
        );
        if d == Dialect::Draft1 {
            x.leaf(1, "feed-name", feed_name);
        }
        if !message.is_empty() {
            x.leaf(
                1,
                if d == Dialect::Draft1 {
                    "message"
                } else {
                    "Message"
                },
                &message,
            );
        }
        let status_action = action == "STATUS";
        let unsubscribe = action == "UNSUBSCRIBE";
        for (s, status) in &records {
            let p = &s.params;
            match d {
                Dialect::Draft1 => {
                    x.open(1, "subscription", &[("subscription-id", &s.id)]);
                    let (method, address) = match &p.push {
                        Some((protocol, address)) => (protocol.as_str(), address.as_str()),
                        None => ("POLL", ""),
                    };
                    x.leaf(2, "delivery-method", method);
                    x.leaf(
                        2,
                        "message-binding",
                        p.message_binding.as_deref().unwrap_or(message_binding(d)),
                    );
                    x.leaf(
                        2,
                        "content-binding",
                        p.content_bindings
                            .first()
                            .map_or(STIX_111_BINDING, String::as_str),
                    );
                    x.leaf(2, "send-to", address);
                    x.close(1, "subscription");
                }
                Dialect::V10 => {
                    x.open(1, "Subscription", &[("subscription_id", &s.id)]);
                    // 1.0 XML Binding §3.7: Push_Parameters only for STATUS; Poll_Instance
                    // MUST be there for a poll-only subscription.
                    if let (true, Some((protocol, address))) = (status_action, &p.push) {
                        x.open(2, "Push_Parameters", &[]);
                        x.leaf(3, "Protocol_Binding", protocol);
                        x.leaf(3, "Address", address);
                        x.leaf(
                            3,
                            "Message_Binding",
                            p.message_binding.as_deref().unwrap_or(message_binding(d)),
                        );
                        for b in &p.content_bindings {
                            x.leaf(3, "Content_Binding", b);
                        }
                        x.close(2, "Push_Parameters");
                    }
                    if !unsubscribe && p.push.is_none() {
                        self.contact(&mut x, 2, "Poll_Instance", POLL_PATH);
                    }
                    x.close(1, "Subscription");
                }
                Dialect::V11 => {
                    x.open(1, "Subscription", &[("status", status)]);
                    x.leaf(2, "Subscription_ID", &s.id);
                    if !unsubscribe {
                        x.open(2, "Subscription_Parameters", &[]);
                        x.leaf(
                            3,
                            "Response_Type",
                            if p.count_only { "COUNT_ONLY" } else { "FULL" },
                        );
                        for b in &p.content_bindings {
                            x.empty(3, "Content_Binding", &[("binding_id", b)]);
                        }
                        x.close(2, "Subscription_Parameters");
                        if let Some((protocol, address)) = &p.push {
                            x.open(2, "Push_Parameters", &[]);
                            x.leaf(3, "Protocol_Binding", protocol);
                            x.leaf(3, "Address", address);
                            x.leaf(
                                3,
                                "Message_Binding",
                                p.message_binding.as_deref().unwrap_or(message_binding(d)),
                            );
                            x.close(2, "Push_Parameters");
                        } else {
                            self.contact(&mut x, 2, "Poll_Instance", POLL_PATH);
                        }
                    }
                    x.close(1, "Subscription");
                }
            }
        }
        self.reply(d, t, x.finish())
    }

    // -----------------------------------------------------------------------------------------
    // Poll and Poll Fulfillment
    // -----------------------------------------------------------------------------------------

    fn poll(&self, env: &Envelope, details: &Details, t: Transport) -> SampleResponse {
        let d = env.dialect;
        let Some(feed_name) = env.feeds.first().map(|f| f.value.as_str()) else {
            return self.status(env, t, Status::BadMessage, &[], "no feed named");
        };
        let Some(feed) = self.feed_index(feed_name) else {
            return self.not_found(env, t, feed_name, "feed");
        };
        let subscription = match env.subscription_id() {
            None => None,
            Some(id) => {
                let state = self.state();
                match state
                    .subscriptions
                    .iter()
                    .find(|s| s.id == id && s.feed == feed)
                {
                    Some(s) => Some(s.clone()),
                    None => {
                        drop(state);
                        return self.not_found(env, t, id, "subscription");
                    }
                }
            }
        };
        // Content bindings asked for: the request's, else the subscription's; none = all.
        // Draft 1 answers with exactly one binding.
        let mut wanted: Vec<String> = if !env.content_bindings.is_empty() {
            env.content_bindings.clone()
        } else if let Some(s) = &subscription {
            s.params.content_bindings.clone()
        } else {
            Vec::new()
        };
        if d == Dialect::Draft1 {
            wanted.truncate(1);
            if wanted.is_empty() {
                wanted.push(STIX_111_BINDING.to_string());
            }
        }
        let (begin_name, end_name) = match d {
            Dialect::Draft1 => ("begin-timestamp", "end-timestamp"),
            _ => ("Exclusive_Begin_Timestamp", "Inclusive_End_Timestamp"),
        };
        let begin = details.text(begin_name).map(|s| s.trim().to_string());
        let end = details.text(end_name).map(|s| s.trim().to_string());
        let begin_ms = begin.as_deref().and_then(parse_timestamp_ms);
        let end_ms = end.as_deref().and_then(parse_timestamp_ms);
        let count_only = d == Dialect::V11
            && (details
                .text("Poll_Parameters/Response_Type")
                .is_some_and(|v| v.trim() == "COUNT_ONLY")
                || subscription.as_ref().is_some_and(|s| s.params.count_only));

        let (all, latest) = self.snapshot(feed);
        let blocks: Vec<Arc<Block>> = all
            .into_iter()
            .filter(|b| wanted.is_empty() || wanted.contains(&b.binding))
            .filter(|b| {
                let label = (b.label as i64).saturating_mul(1000);
                let after_begin = match begin_ms {
                    // Draft 1 leaves inclusiveness open (DIGEST-DRAFT1 §12 #7): inclusive.
                    Some(ms) if d == Dialect::Draft1 => label >= ms,
                    Some(ms) => label > ms,
                    None => true,
                };
                after_begin && end_ms.is_none_or(|ms| label <= ms)
            })
            .filter(|b| b.render(d).is_some())
            .collect();
        // The response's end bound: the request's, else the latest label considered.
        let end = end.unwrap_or_else(|| format_rfc3339(latest));
        let subscription_id = subscription.map(|s| s.id);

        if d == Dialect::V11 {
            if count_only {
                let mut x = Xml::response(
                    d,
                    "Poll_Response",
                    &self.message_id(d),
                    &env.message_id.value,
                    &[("collection_name", feed_name)],
                );
                if let Some(id) = &subscription_id {
                    x.leaf(1, "Subscription_ID", id);
                }
                if let Some(b) = &begin {
                    x.leaf(1, "Exclusive_Begin_Timestamp", b);
                }
                x.leaf(1, "Inclusive_End_Timestamp", &end);
                x.open_inline(1, "Record_Count", &[("partial_count", "false")]);
                x.text_close(&blocks.len().to_string(), "Record_Count");
                x.leaf(
                    1,
                    "Message",
                    &format!("{} records in {feed_name}.", blocks.len()),
                );
                return self.reply(d, t, x.finish());
            }
            // Every full 1.1 result is kept for Poll Fulfillment, multi-part or not.
            let result = {
                let mut state = self.state();
                state.next_result += 1;
                let result = PollResult {
                    id: format!("urn:demo:result:{}", state.next_result),
                    feed,
                    subscription_id,
                    begin,
                    end,
                    blocks: Arc::new(blocks),
                };
                let kept = PollResult {
                    id: result.id.clone(),
                    feed,
                    subscription_id: result.subscription_id.clone(),
                    begin: result.begin.clone(),
                    end: result.end.clone(),
                    blocks: result.blocks.clone(),
                };
                if state.results.len() >= MAX_RESULTS {
                    state.results.pop_front();
                }
                state.results.push_back(kept);
                result
            };
            return self.poll_part(env, t, &result, 1);
        }

        let count: usize = blocks
            .iter()
            .filter_map(|b| b.render(d).map(|(_, n)| n))
            .sum();
        let root = match d {
            Dialect::Draft1 => "TAXII_PollResponse",
            _ => "Poll_Response",
        };
        let mut attrs: Vec<(&str, &str)> = Vec::new();
        if d == Dialect::V10 {
            attrs.push(("feed_name", feed_name));
            if let Some(id) = &subscription_id {
                attrs.push(("subscription_id", id));
            }
        }
        let mut x = Xml::response(d, root, &self.message_id(d), &env.message_id.value, &attrs);
        let message = format!("{count} content blocks from {feed_name}.");
        if d == Dialect::Draft1 {
            if let Some(b) = &begin {
                x.leaf(1, "begin-timestamp", b);
            }
            x.leaf(1, "end-timestamp", &end);
            if let Some(id) = &subscription_id {
                x.leaf(1, "subscription-id", id);
            }
            x.leaf(1, "message", &message);
            x.leaf(1, "content-binding", &wanted[0]);
        } else {
            x.leaf(1, "Message", &message);
            // 1.0: the response's begin bound is inclusive; the first label returned is one.
            if let (Some(_), Some(first)) = (&begin, blocks.first()) {
                x.leaf(1, "Inclusive_Begin_Timestamp", &format_rfc3339(first.label));
            }
            x.leaf(1, "Inclusive_End_Timestamp", &end);
        }
        for b in &blocks {
            if let Some((text, _)) = b.render(d) {
                x.raw(text);
            }
        }
        self.reply(d, t, x.finish())
    }

    /// Part `part` (1-based, in range) of a 1.1 poll result.
    fn poll_part(
        &self,
        env: &Envelope,
        t: Transport,
        result: &PollResult,
        part: usize,
    ) -> SampleResponse {
        let d = Dialect::V11;
        let total = result.blocks.len();
        let parts = total.div_ceil(self.part_blocks).max(1);
        let from = (part - 1).saturating_mul(self.part_blocks).min(total);
        let to = from.saturating_add(self.part_blocks).min(total);
        let more = if part < parts { "true" } else { "false" };
        let part_text = part.to_string();
        let feed_name = self.feeds[result.feed].name;
        let mut x = Xml::response(
            d,
            "Poll_Response",
            &self.message_id(d),
            &env.message_id.value,
            &[
                ("collection_name", feed_name),
                ("more", more),
                ("result_id", &result.id),
                ("result_part_number", &part_text),
            ],
        );
        if let Some(id) = &result.subscription_id {
            x.leaf(1, "Subscription_ID", id);
        }
        if let Some(b) = &result.begin {
            x.leaf(1, "Exclusive_Begin_Timestamp", b);
        }
        x.leaf(1, "Inclusive_End_Timestamp", &result.end);
        x.open_inline(1, "Record_Count", &[("partial_count", "false")]);
        x.text_close(&total.to_string(), "Record_Count");
        x.leaf(
            1,
            "Message",
            &format!(
                "Part {part} of {parts}: {} of {total} content blocks from {feed_name}.",
                to - from
            ),
        );
        x.reserve(result.blocks[from..to].iter().map(|b| b.v11.len()).sum());
        for b in &result.blocks[from..to] {
            x.raw(&b.v11);
        }
        self.reply(d, t, x.finish())
    }

    fn fulfillment(&self, env: &Envelope, details: &Details, t: Transport) -> SampleResponse {
        let Some(feed_name) = env.feeds.first().map(|f| f.value.as_str()) else {
            return self.status(env, t, Status::BadMessage, &[], "no collection named");
        };
        let Some(feed) = self.feed_index(feed_name) else {
            return self.not_found(env, t, feed_name, "collection");
        };
        let result_id = details.root_attr("result_id").unwrap_or_default().trim();
        // Required by the 1.1 text, optional in the XSD: part 1 when absent.
        let part: usize = details
            .root_attr("result_part_number")
            .map_or(Some(1), |v| v.trim().trim_start_matches('+').parse().ok())
            .unwrap_or(usize::MAX);
        let result = {
            let state = self.state();
            state
                .results
                .iter()
                .find(|r| r.id == result_id && r.feed == feed)
                .map(|r| PollResult {
                    id: r.id.clone(),
                    feed: r.feed,
                    subscription_id: r.subscription_id.clone(),
                    begin: r.begin.clone(),
                    end: r.end.clone(),
                    blocks: r.blocks.clone(),
                })
        };
        let Some(result) = result else {
            return self.not_found(env, t, result_id, "result");
        };
        let parts = result.blocks.len().div_ceil(self.part_blocks).max(1);
        if part == 0 || part > parts {
            return self.status(
                env,
                t,
                Status::InvalidResponsePart,
                &[("MAX_PART_NUMBER", &parts.to_string())],
                &format!("Result {result_id} has {parts} part(s)."),
            );
        }
        self.poll_part(env, t, &result, part)
    }

    // -----------------------------------------------------------------------------------------
    // Inbox
    // -----------------------------------------------------------------------------------------

    fn inbox(&self, env: &Envelope, details: &Details, t: Transport) -> SampleResponse {
        let d = env.dialect;
        // Which feeds the content goes to.
        let targets: Vec<usize> = match d {
            Dialect::V11 => {
                let named: Vec<&str> = details.texts("Destination_Collection_Name").collect();
                if named.is_empty() {
                    self.feed_index(DEFAULT_INBOX_FEED).into_iter().collect()
                } else {
                    let mut targets = Vec::new();
                    for name in &named {
                        match self.feed_index(name) {
                            Some(i) if !targets.contains(&i) => targets.push(i),
                            Some(_) => {}
                            None => {
                                // 1.1 Services §3.2: a non-SUCCESS answer means nothing is kept.
                                let acceptable: Vec<(&str, &str)> = self
                                    .feeds
                                    .iter()
                                    .map(|f| ("ACCEPTABLE_DESTINATION", f.name))
                                    .collect();
                                return self.status(
                                    env,
                                    t,
                                    Status::DestinationCollectionError,
                                    &acceptable,
                                    &format!("No collection named {name}; nothing was stored."),
                                );
                            }
                        }
                    }
                    targets
                }
            }
            Dialect::Draft1 => {
                // A STIX message names no feed; the subscription it serves may.
                let by_subscription = env.subscription_id().and_then(|id| {
                    self.state()
                        .subscriptions
                        .iter()
                        .find(|s| s.id == id)
                        .map(|s| s.feed)
                });
                by_subscription
                    .or_else(|| self.feed_index(DEFAULT_INBOX_FEED))
                    .into_iter()
                    .collect()
            }
            Dialect::V10 => self.feed_index(DEFAULT_INBOX_FEED).into_iter().collect(),
        };
        // The content, made self-contained (namespace declarations it inherits copied onto it).
        let default_binding = env
            .content_bindings
            .first()
            .map_or(STIX_111_BINDING, String::as_str);
        let mut contents = Vec::with_capacity(details.blocks.len());
        for raw in &details.blocks {
            let Some(fragment) = details.source.get(raw.range.clone()) else {
                continue;
            };
            match Fragment::new(fragment, &raw.scope) {
                Ok(f) => contents.push((
                    raw.binding
                        .clone()
                        .unwrap_or_else(|| default_binding.to_string()),
                    f,
                )),
                Err(why) => {
                    return match d {
                        Dialect::Draft1 => self.bare(400, d, t),
                        _ => self.status(env, t, Status::BadMessage, &[], &why),
                    }
                }
            }
        }
        {
            let mut state = self.state();
            for &feed in &targets {
                for (binding, content) in &contents {
                    let label = state.latest[feed] + 60;
                    state.latest[feed] = label;
                    let pushed = &mut state.pushed[feed];
                    if pushed.len() >= MAX_PUSHED_BLOCKS_PER_FEED {
                        pushed.pop_front();
                    }
                    pushed.push_back(Arc::new(Block::pushed(binding, content, label)));
                }
            }
        }
        match d {
            // Draft 1 Services §5.1.1: the inbox sends no TAXII message back.
            Dialect::Draft1 => self.bare(200, d, t),
            _ => {
                let names: Vec<&str> = targets.iter().map(|&i| self.feeds[i].name).collect();
                self.status(
                    env,
                    t,
                    Status::Success,
                    &[],
                    &format!(
                        "{} content block(s) added to {}.",
                        contents.len(),
                        names.join(", ")
                    ),
                )
            }
        }
    }
}

fn headers(d: Dialect, t: Transport, has_body: bool) -> Vec<(String, String)> {
    binding_headers(d, t, has_body)
        .into_iter()
        .map(|(n, v)| (n.to_string(), v))
        .collect()
}

/// The message binding a service record names.
fn message_binding(d: Dialect) -> &'static str {
    match d {
        Dialect::Draft1 => "TAXII_XML_BINDING_1.0",
        _ => d.content_type_id(),
    }
}

/// The dialect a refused request claims, to answer in: the method, then the headers, then the
/// root namespace. `None` when nothing says TAXII.
fn guess_dialect(req: &SampleRequest) -> Option<Dialect> {
    if req.method == "GET" {
        return Some(Dialect::Draft1);
    }
    if let Some(d) = req.header("X-TAXII-Services").and_then(parse_services_id) {
        return Some(d);
    }
    if let Some(d) = req
        .header("X-TAXII-Content-Type")
        .and_then(parse_content_type_id)
    {
        return Some(d);
    }
    let protocol = req.header("X-TAXII-Protocol").and_then(parse_protocol);
    if let Some(([Dialect::Draft1], _)) = protocol {
        return Some(Dialect::Draft1);
    }
    for d in [Dialect::V11, Dialect::V10, Dialect::Draft1] {
        let ns = d.namespace().as_bytes();
        let claimed = memchr::memmem::find_iter(&req.body, ns).any(|i| {
            req.body
                .get(i + ns.len())
                .is_some_and(|&b| b == b'"' || b == b'\'')
        });
        if claimed {
            return Some(d);
        }
    }
    protocol.map(|_| Dialect::V11)
}

impl Params {
    fn poll() -> Params {
        Params {
            push: None,
            message_binding: None,
            content_bindings: Vec::new(),
            count_only: false,
        }
    }

    /// The subscription parameters of a SUBSCRIBE or MODIFY request.
    fn read(env: &Envelope, details: &Details) -> Params {
        let text = |path: &str| details.text(path).map(|s| s.trim().to_string());
        let address = env
            .delivery_addresses
            .first()
            .map(|f| f.value.trim().to_string())
            .filter(|a| !a.is_empty());
        let (push, message_binding, count_only) = match env.dialect {
            Dialect::Draft1 => {
                let method = text("subscription/delivery-method").unwrap_or_default();
                let push = match address {
                    Some(a) if method != "POLL" && !method.is_empty() => Some((method, a)),
                    _ => None,
                };
                (push, text("subscription/message-binding"), false)
            }
            d => {
                let protocol = text("Push_Parameters/Protocol_Binding")
                    .filter(|p| !p.is_empty())
                    .unwrap_or_else(|| d.protocol_id(Transport::Https).to_string());
                let push = address.map(|a| (protocol, a));
                let binding = push
                    .as_ref()
                    .and_then(|_| text("Push_Parameters/Message_Binding"));
                let count_only = d == Dialect::V11
                    && text("Subscription_Parameters/Response_Type").as_deref()
                        == Some("COUNT_ONLY");
                (push, binding, count_only)
            }
        };
        Params {
            push,
            message_binding: message_binding.filter(|b| !b.is_empty()),
            content_bindings: env.content_bindings.clone(),
            count_only,
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Writing
// ---------------------------------------------------------------------------------------------

/// A response document: the dialect's prefix on every TAXII element (`taxii_11:` and `taxii:` as
/// libtaxii writes them and as the generator's blocks use; Draft 1 the default namespace).
struct Xml {
    d: Dialect,
    prefix: &'static str,
    root: &'static str,
    out: String,
}

impl Xml {
    fn response(
        d: Dialect,
        root: &'static str,
        message_id: &str,
        in_response_to: &str,
        attrs: &[(&str, &str)],
    ) -> Xml {
        let prefix = match d {
            Dialect::Draft1 => "",
            Dialect::V10 => "taxii:",
            Dialect::V11 => "taxii_11:",
        };
        let mut out = String::with_capacity(2048);
        out.push_str("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<");
        out.push_str(prefix);
        out.push_str(root);
        out.push_str(" xmlns");
        if !prefix.is_empty() {
            out.push(':');
            out.push_str(&prefix[..prefix.len() - 1]);
        }
        out.push_str("=\"");
        out.push_str(d.namespace());
        out.push('"');
        let (id_name, irt_name) = match d {
            Dialect::Draft1 => ("message-id", "in-response-to"),
            _ => ("message_id", "in_response_to"),
        };
        let mut x = Xml {
            d,
            prefix,
            root,
            out,
        };
        x.attr(id_name, message_id);
        x.attr(irt_name, in_response_to);
        for (n, v) in attrs {
            x.attr(n, v);
        }
        x.out.push_str(">\n");
        x
    }

    fn attr(&mut self, name: &str, value: &str) {
        self.out.push(' ');
        self.out.push_str(name);
        self.out.push_str("=\"");
        self.out.push_str(&escape(value));
        self.out.push('"');
    }

    fn indent(&mut self, level: usize) {
        for _ in 0..level {
            self.out.push_str("  ");
        }
    }

    fn tag(&mut self, level: usize, name: &str, attrs: &[(&str, &str)]) {
        self.indent(level);
        self.out.push('<');
        self.out.push_str(self.prefix);
        self.out.push_str(name);
        for (n, v) in attrs {
            self.attr(n, v);
        }
    }

    fn open(&mut self, level: usize, name: &str, attrs: &[(&str, &str)]) {
        self.open_inline(level, name, attrs);
        self.out.push('\n');
    }

    fn open_inline(&mut self, level: usize, name: &str, attrs: &[(&str, &str)]) {
        self.tag(level, name, attrs);
        self.out.push('>');
    }

    fn empty(&mut self, level: usize, name: &str, attrs: &[(&str, &str)]) {
        self.tag(level, name, attrs);
        self.out.push_str("/>\n");
    }

    fn text_close(&mut self, text: &str, name: &str) {
        self.out.push_str(&escape(text));
        self.out.push_str("</");
        self.out.push_str(self.prefix);
        self.out.push_str(name);
        self.out.push_str(">\n");
    }

    fn leaf(&mut self, level: usize, name: &str, text: &str) {
        self.open_inline(level, name, &[]);
        self.text_close(text, name);
    }

    fn close(&mut self, level: usize, name: &str) {
        self.indent(level);
        self.out.push_str("</");
        self.out.push_str(self.prefix);
        self.out.push_str(name);
        self.out.push_str(">\n");
    }

    fn reserve(&mut self, bytes: usize) {
        self.out.reserve(bytes + 64);
    }

    fn raw(&mut self, text: &str) {
        self.out.push_str(text);
    }

    fn finish(mut self) -> String {
        let root = self.root;
        self.close(0, root);
        self.out
    }
}

// ---------------------------------------------------------------------------------------------
// Reading what the envelope does not carry
// ---------------------------------------------------------------------------------------------

/// One content block of an inbox message, as found in the body.
#[derive(Debug, Default)]
struct RawBlock {
    /// 1.x: the block's content binding. Draft 1: `None` (the message's one binding applies).
    binding: Option<String>,
    /// 1.x: the inner content of `Content`; Draft 1: the whole STIX document.
    range: Range<usize>,
    /// Namespace bindings in scope there (`None`: the default namespace).
    scope: Vec<(Option<String>, String)>,
}

/// Fields of a message the protocol core validates but does not put in the [`Envelope`]. Read
/// only from bodies the scan accepted, so the walk needs no checks of its own beyond syntax.
#[derive(Debug, Default)]
struct Details {
    /// The body as text (a leading BOM kept: ranges index into it).
    source: String,
    /// Unprefixed attributes of the root element.
    root_attrs: Vec<(String, String)>,
    /// Text of every envelope element below the root, by path (`Poll_Parameters/Response_Type`),
    /// as sent. Payload (content, extended headers, queries, status details) is not entered.
    texts: Vec<(String, String)>,
    blocks: Vec<RawBlock>,
}

/// TAXII elements whose content is payload: skipped.
const PAYLOAD: &[&str] = &[
    "extended-headers",
    "Extended_Headers",
    "Query",
    "Supported_Query",
    "Status_Detail",
];

impl Details {
    fn text(&self, path: &str) -> Option<&str> {
        self.texts
            .iter()
            .find(|(p, _)| p == path)
            .map(|(_, t)| t.as_str())
    }

    fn texts<'a>(&'a self, path: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.texts
            .iter()
            .filter(move |(p, _)| p == path)
            .map(|(_, t)| t.as_str())
    }

    fn root_attr(&self, name: &str) -> Option<&str> {
        self.root_attrs
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    fn read(body: &[u8], d: Dialect, want_blocks: bool) -> Result<Details, String> {
        let source = std::str::from_utf8(body).map_err(|e| e.to_string())?;
        let text = source.strip_prefix('\u{FEFF}').unwrap_or(source);
        let offset = source.len() - text.len();
        let ns = d.namespace();
        let mut reader = NsReader::from_str(text);
        let mut out = Details::default();
        // Names and texts of the open envelope elements below the root.
        let mut path: Vec<String> = Vec::new();
        let mut texts: Vec<String> = Vec::new();
        let mut depth = 0usize;
        let mut block: Option<RawBlock> = None;
        let err = |e: quick_xml::Error| e.to_string();
        loop {
            let before = reader.buffer_position() as usize;
            let (res, event) = reader.read_resolved_event().map_err(err)?;
            let taxii = matches!(&res, ResolveResult::Bound(n) if n.as_ref() == ns);
            let (e, empty) = match event {
                Event::Start(e) => (e, false),
                Event::Empty(e) => (e, true),
                Event::End(_) => {
                    if let (Some(name), Some(value)) = (path.pop(), texts.pop()) {
                        let full = if path.is_empty() {
                            name
                        } else {
                            format!("{}/{name}", path.join("/"))
                        };
                        if full == "Content_Block/Content_Binding" {
                            if let Some(b) = block.as_mut() {
                                b.binding.get_or_insert_with(|| value.trim().to_string());
                            }
                        }
                        if full == "Content_Block" {
                            out.blocks.extend(block.take());
                        }
                        out.texts.push((full, value));
                    }
                    depth = depth.saturating_sub(1);
                    continue;
                }
                Event::Text(t) => {
                    if let Some(s) = texts.last_mut() {
                        s.push_str(&t.xml10_content());
                    }
                    continue;
                }
                Event::CData(c) => {
                    if let Some(s) = texts.last_mut() {
                        s.push_str(&c.into_inner());
                    }
                    continue;
                }
                Event::GeneralRef(r) => {
                    if let Some(s) = texts.last_mut() {
                        match r.resolve_char_ref().map_err(err)? {
                            Some(c) => s.push(c),
                            None => s.push_str(match &*r {
                                "amp" => "&",
                                "lt" => "<",
                                "gt" => ">",
                                "quot" => "\"",
                                "apos" => "'",
                                _ => "",
                            }),
                        }
                    }
                    continue;
                }
                Event::Eof => break,
                _ => continue,
            };
            depth += 1;
            if depth == 1 {
                out.root_attrs = plain_attributes(&e)?;
                if empty {
                    depth -= 1;
                }
                continue;
            }
            let local = e.local_name().as_ref().to_string();
            if !taxii {
                // Draft 1 STIX documents are the root's foreign children; anything else foreign
                // (signatures) is skipped.
                if d == Dialect::Draft1 && depth == 2 && want_blocks {
                    let scope = scope_of(&reader);
                    if !empty {
                        reader.read_to_end(e.name()).map_err(err)?;
                    }
                    let after = reader.buffer_position() as usize;
                    out.blocks.push(RawBlock {
                        binding: None,
                        range: offset + before..offset + after,
                        scope,
                    });
                } else if !empty {
                    reader.read_to_end(e.name()).map_err(err)?;
                }
                depth -= 1;
                continue;
            }
            let in_block = depth == 3 && path.len() == 1 && block.is_some();
            if want_blocks && d != Dialect::Draft1 && depth == 2 && local == "Content_Block" {
                block = Some(RawBlock::default());
            }
            if in_block && local == "Content_Binding" && d == Dialect::V11 {
                if let Some(b) = block.as_mut() {
                    b.binding = plain_attributes(&e)?
                        .into_iter()
                        .find(|(n, _)| n == "binding_id")
                        .map(|(_, v)| v.trim().to_string());
                }
            }
            if in_block && local == "Content" {
                let scope = scope_of(&reader);
                let range = if empty {
                    let at = reader.buffer_position() as usize;
                    at..at
                } else {
                    let span = reader.read_to_end(e.name()).map_err(err)?;
                    span.start as usize..span.end as usize
                };
                if let Some(b) = block.as_mut() {
                    b.range = offset + range.start..offset + range.end;
                    b.scope = scope;
                }
                depth -= 1;
                continue;
            }
            if PAYLOAD.contains(&local.as_str()) {
                if !empty {
                    reader.read_to_end(e.name()).map_err(err)?;
                }
                depth -= 1;
                continue;
            }
            if empty {
                let full = if path.is_empty() {
                    local
                } else {
                    format!("{}/{local}", path.join("/"))
                };
                out.texts.push((full, String::new()));
                depth -= 1;
            } else {
                path.push(local);
                texts.push(String::new());
            }
        }
        out.source = source.to_string();
        Ok(out)
    }
}

/// The element's attributes without a prefix (namespace declarations left out), values decoded.
fn plain_attributes(e: &BytesStart<'_>) -> Result<Vec<(String, String)>, String> {
    let mut out = Vec::new();
    for a in e.attributes() {
        let a = a.map_err(|e| e.to_string())?;
        let key = a.key.as_ref();
        if key.contains(':') || key == "xmlns" {
            continue;
        }
        let value = a
            .normalized_value(XmlVersion::Implicit1_0)
            .map_err(|e| e.to_string())?;
        out.push((key.to_string(), value.into_owned()));
    }
    Ok(out)
}

fn scope_of<R>(reader: &NsReader<R>) -> Vec<(Option<String>, String)> {
    reader
        .resolver()
        .bindings()
        .map(|(p, n)| {
            let prefix = match p {
                PrefixDeclaration::Default => None,
                PrefixDeclaration::Named(p) => Some(p.to_string()),
            };
            (prefix, n.as_ref().to_string())
        })
        .collect()
}

/// Content made self-contained: every namespace declaration it inherited from the message it
/// came in is copied onto its top-level elements, so that it keeps its meaning in any envelope.
#[derive(Debug)]
struct Fragment {
    text: String,
    /// `Some(n)`: the content is `n` elements (and nothing but white space, comments and
    /// processing instructions between them), none in the Draft 1 namespace, so it can travel
    /// as `n` Draft 1 documents.
    draft1_docs: Option<usize>,
}

impl Fragment {
    fn new(fragment: &str, scope: &[(Option<String>, String)]) -> Result<Fragment, String> {
        struct Top {
            /// Where declarations go: right after the element name.
            at: usize,
            prefix: Option<String>,
            /// Declarations on the element itself.
            own: Vec<(Option<String>, String)>,
            /// Prefixes element and attribute names of its subtree use (`None`: an unprefixed
            /// element, which the default namespace applies to).
            used: Vec<Option<String>>,
        }
        let mut reader = Reader::from_str(fragment);
        let mut tops: Vec<Top> = Vec::new();
        let mut depth = 0usize;
        let mut text = false;
        loop {
            let before = reader.buffer_position() as usize;
            let event = reader.read_event().map_err(|e| e.to_string())?;
            let (e, empty) = match event {
                Event::Start(e) => (e, false),
                Event::Empty(e) => (e, true),
                Event::End(_) => {
                    depth = depth.saturating_sub(1);
                    continue;
                }
                Event::Text(t) if depth == 0 => {
                    text |= !t.xml10_content().trim().is_empty();
                    continue;
                }
                Event::CData(_) | Event::GeneralRef(_) if depth == 0 => {
                    text = true;
                    continue;
                }
                Event::Eof => break,
                _ => continue,
            };
            let name = e.name().as_ref().to_string();
            let prefix = name.split_once(':').map(|(p, _)| p.to_string());
            let mut own = Vec::new();
            let mut used = vec![prefix.clone()];
            for a in e.attributes() {
                let a = a.map_err(|e| e.to_string())?;
                match a.key.as_namespace_binding() {
                    Some(decl) if depth == 0 => {
                        let decl = match decl {
                            PrefixDeclaration::Default => None,
                            PrefixDeclaration::Named(p) => Some(p.to_string()),
                        };
                        let value = a
                            .normalized_value(XmlVersion::Implicit1_0)
                            .map_err(|e| e.to_string())?;
                        own.push((decl, value.into_owned()));
                    }
                    Some(_) => {}
                    None => {
                        if let Some((p, _)) = a.key.as_ref().split_once(':') {
                            used.push(Some(p.to_string()));
                        }
                    }
                }
            }
            if depth == 0 {
                tops.push(Top {
                    at: before + 1 + name.len(),
                    prefix,
                    own,
                    used: Vec::new(),
                });
            }
            if let Some(top) = tops.last_mut() {
                for p in used {
                    if !top.used.contains(&p) {
                        top.used.push(p);
                    }
                }
            }
            if !empty {
                depth += 1;
            }
        }
        let taxii = |uri: &str| Dialect::from_namespace(uri.as_bytes()).is_some();
        let mut out = String::with_capacity(fragment.len() + tops.len() * 256);
        let mut copied = 0;
        let mut draft1 = !text && !tops.is_empty();
        for top in &tops {
            out.push_str(&fragment[copied..top.at]);
            copied = top.at;
            let declares = |p: &Option<String>| top.own.iter().any(|(q, _)| q == p);
            let mut default_in_scope = false;
            for (prefix, uri) in scope {
                default_in_scope |= prefix.is_none();
                // The envelope's own namespace matters only to content that uses its prefix.
                if declares(prefix) || (taxii(uri) && !top.used.contains(prefix)) {
                    continue;
                }
                match prefix {
                    Some(p) => {
                        out.push_str(" xmlns:");
                        out.push_str(p);
                    }
                    None => out.push_str(" xmlns"),
                }
                out.push_str("=\"");
                out.push_str(&escape(uri));
                out.push('"');
            }
            if !default_in_scope && top.used.contains(&None) && !declares(&None) {
                out.push_str(" xmlns=\"\"");
            }
            // The element's own namespace: a Draft 1 document must not be a Draft 1 element.
            let own_ns = top
                .own
                .iter()
                .chain(scope.iter())
                .find(|(p, _)| *p == top.prefix)
                .map(|(_, uri)| uri.as_str());
            if own_ns == Some(Dialect::Draft1.namespace()) {
                draft1 = false;
            }
        }
        out.push_str(&fragment[copied..]);
        Ok(Fragment {
            text: out,
            draft1_docs: draft1.then_some(tops.len()),
        })
    }
}

/// A timestamp as milliseconds since the Unix epoch: `YYYY-MM-DDTHH:MM:SS[.f][Z|±HH:MM]` (a
/// Draft 1 value without a zone is read as UTC). `None` for anything else.
fn parse_timestamp_ms(s: &str) -> Option<i64> {
    let b = s.trim().as_bytes();
    let num = |r: Range<usize>| -> Option<i64> {
        let part = b.get(r)?;
        if part.is_empty() || !part.iter().all(u8::is_ascii_digit) {
            return None;
        }
        std::str::from_utf8(part).ok()?.parse().ok()
    };
    let year_len = b.iter().take_while(|c| c.is_ascii_digit()).count();
    let y = num(0..year_len)?;
    let i = year_len;
    let (mo, d, h, mi, se) = (
        num(i + 1..i + 3)?,
        num(i + 4..i + 6)?,
        num(i + 7..i + 9)?,
        num(i + 10..i + 12)?,
        num(i + 13..i + 15)?,
    );
    let mut j = i + 15;
    let mut ms = 0i64;
    if b.get(j) == Some(&b'.') {
        let digits = b[j + 1..].iter().take_while(|c| c.is_ascii_digit()).count();
        for k in 0..3 {
            ms = ms * 10
                + b.get(j + 1 + k)
                    .filter(|_| k < digits)
                    .map_or(0, |c| i64::from(c - b'0'));
        }
        j += 1 + digits;
    }
    let offset_min = match b.get(j) {
        None | Some(b'Z' | b'z') => 0,
        Some(&sign @ (b'+' | b'-')) => {
            let m = num(j + 1..j + 3)? * 60 + num(j + 4..j + 6)?;
            if sign == b'+' {
                m
            } else {
                -m
            }
        }
        _ => return None,
    };
    // Howard Hinnant's days_from_civil.
    let yy = if mo <= 2 { y - 1 } else { y };
    let era = yy.div_euclid(400);
    let yoe = yy - era * 400;
    let doy = (153 * ((mo + 9) % 12) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    let secs = days * 86_400 + h * 3600 + mi * 60 + se - offset_min * 60;
    Some(secs * 1000 + ms)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use crate::taxii::{scan_body, Envelope};

    const NS1: &str = "http://taxii.mitre.org/messages/xml/1";
    const NS10: &str = "http://taxii.mitre.org/messages/taxii_xml_binding-1";
    const NS11: &str = "http://taxii.mitre.org/messages/taxii_xml_binding-1.1";
    const BASE: &str = "https://gateway.example/taxii";

    fn upstream() -> SampleUpstream {
        SampleUpstream::new(BASE)
    }

    /// A request message id in the dialect's syntax.
    fn mid(d: Dialect, n: u32) -> String {
        match d {
            Dialect::Draft1 => format!("a84798be-ffe8-40ee-3722-c893288b{n:04x}"),
            Dialect::V10 => format!("{}", 41_000 + n),
            Dialect::V11 => format!("urn:uuid:6f1f3c1e-0d3a-4c55-8a4e-1a2b3c4d{n:04x}"),
        }
    }

    /// Sends a request and checks what every answer must satisfy: a TAXII body passes the scan
    /// with the answer's own headers, in the request's dialect and transport.
    fn send(u: &SampleUpstream, req: &SampleRequest) -> SampleResponse {
        let resp = u.handle(req);
        if !resp.body.is_empty() {
            let mut ctx = HttpContext {
                transport: Some(transport(req.tls)),
                ..HttpContext::default()
            };
            for (n, v) in &resp.headers {
                ctx.header(n, v).unwrap();
            }
            let env = scan_message(&ctx, &resp.body, &ScanLimits::default())
                .unwrap_or_else(|r| panic!("{r}\n{}", String::from_utf8_lossy(&resp.body)));
            scan_body(&resp.body, &ScanLimits::default()).unwrap();
            assert!(!env.kind.is_request(), "{}", env.message);
            assert_eq!(resp.header("Content-Type"), Some("application/xml"));
        }
        resp
    }

    /// The answer is a 200 TAXII message of `kind` in `d`, with the binding's headers, answering
    /// message `irt`.
    fn taxii(
        resp: &SampleResponse,
        d: Dialect,
        tls: bool,
        kind: MessageKind,
        irt: &str,
    ) -> Envelope {
        assert_eq!(resp.status, 200, "{}", String::from_utf8_lossy(&resp.body));
        assert_eq!(
            resp.header("X-TAXII-Content-Type"),
            Some(d.content_type_id())
        );
        assert_eq!(
            resp.header("X-TAXII-Protocol"),
            Some(d.protocol_id(transport(tls)))
        );
        assert_eq!(resp.header("X-TAXII-Services"), d.services_id());
        let env = scan_body(&resp.body, &ScanLimits::default()).unwrap();
        assert_eq!(env.dialect, d);
        assert_eq!(env.kind, kind, "{}", String::from_utf8_lossy(&resp.body));
        assert_eq!(
            env.in_response_to.as_ref().map(|f| f.value.as_str()),
            Some(irt)
        );
        env
    }

    fn status_type(env: &Envelope) -> &str {
        env.status_type
            .as_ref()
            .map(|f| f.value.as_str())
            .unwrap_or("")
    }

    fn body(resp: &SampleResponse) -> String {
        String::from_utf8_lossy(&resp.body).into_owned()
    }

    fn feeds(env: &Envelope) -> Vec<&str> {
        env.feeds.iter().map(|f| f.value.as_str()).collect()
    }

    // --- request builders -------------------------------------------------------------------

    fn discovery(d: Dialect, n: u32) -> SampleRequest {
        let id = mid(d, n);
        match d {
            Dialect::Draft1 => SampleRequest::get(
                DISCOVERY_PATH,
                &format!("message_type=discovery_request&message_id={id}"),
                false,
            ),
            Dialect::V10 => SampleRequest::post(
                DISCOVERY_PATH,
                d,
                false,
                format!(r#"<Discovery_Request xmlns="{NS10}" message_id="{id}"/>"#),
            ),
            Dialect::V11 => SampleRequest::post(
                DISCOVERY_PATH,
                d,
                false,
                format!(r#"<Discovery_Request xmlns="{NS11}" message_id="{id}"/>"#),
            ),
        }
    }

    fn feed_info(d: Dialect, n: u32) -> SampleRequest {
        let id = mid(d, n);
        match d {
            Dialect::Draft1 => SampleRequest::get(
                FEED_MANAGEMENT_PATH,
                &format!("message_type=Feed_Information_Request&message_id={id}"),
                true,
            ),
            Dialect::V10 => SampleRequest::post(
                FEED_MANAGEMENT_PATH,
                d,
                true,
                format!(r#"<Feed_Information_Request xmlns="{NS10}" message_id="{id}"/>"#),
            ),
            Dialect::V11 => SampleRequest::post(
                FEED_MANAGEMENT_PATH,
                d,
                true,
                format!(r#"<Collection_Information_Request xmlns="{NS11}" message_id="{id}"/>"#),
            ),
        }
    }

    /// A poll of `feed`: by subscription when `sub` is given, else for every content.
    fn poll(
        d: Dialect,
        n: u32,
        feed: &str,
        sub: Option<&str>,
        begin: Option<&str>,
    ) -> SampleRequest {
        let id = mid(d, n);
        let body = match d {
            Dialect::Draft1 => {
                let begin = begin.map_or(String::new(), |b| {
                    format!("<begin-timestamp>{b}</begin-timestamp>")
                });
                let select = match sub {
                    Some(s) => format!("<subscription-id>{s}</subscription-id>"),
                    None => format!("<content-binding>{STIX_111_BINDING}</content-binding>"),
                };
                format!(
                    r#"<TAXII_PollRequest xmlns="{NS1}" message-id="{id}"><feed-name>{feed}</feed-name>{begin}{select}</TAXII_PollRequest>"#
                )
            }
            Dialect::V10 => {
                let sub = sub.map_or(String::new(), |s| format!(r#" subscription_id="{s}""#));
                let begin = begin.map_or(String::new(), |b| {
                    format!("<Exclusive_Begin_Timestamp>{b}</Exclusive_Begin_Timestamp>")
                });
                format!(
                    r#"<Poll_Request xmlns="{NS10}" message_id="{id}" feed_name="{feed}"{sub}>{begin}</Poll_Request>"#
                )
            }
            Dialect::V11 => {
                let begin = begin.map_or(String::new(), |b| {
                    format!("<Exclusive_Begin_Timestamp>{b}</Exclusive_Begin_Timestamp>")
                });
                let select = match sub {
                    Some(s) => format!("<Subscription_ID>{s}</Subscription_ID>"),
                    None => {
                        "<Poll_Parameters><Response_Type>FULL</Response_Type></Poll_Parameters>"
                            .into()
                    }
                };
                format!(
                    r#"<Poll_Request xmlns="{NS11}" message_id="{id}" collection_name="{feed}">{begin}{select}</Poll_Request>"#
                )
            }
        };
        SampleRequest::post(POLL_PATH, d, false, body)
    }

    fn manage(d: Dialect, n: u32, feed: &str, action: &str, sub: Option<&str>) -> SampleRequest {
        let id = mid(d, n);
        let body = match d {
            Dialect::Draft1 => {
                let sid = sub.map_or(String::new(), |s| {
                    format!("<subscription-id>{s}</subscription-id>")
                });
                let params = if matches!(action, "SUBSCRIBE" | "MODIFY") {
                    format!("<subscription><delivery-method>POLL</delivery-method><message-binding>TAXII_XML_BINDING_1.0</message-binding><content-binding>{STIX_111_BINDING}</content-binding><send-to/></subscription>")
                } else {
                    String::new()
                };
                format!(
                    r#"<TAXII_SubscriptionManagementRequest xmlns="{NS1}" message-id="{id}"><feed-name>{feed}</feed-name><action>{action}</action>{sid}{params}</TAXII_SubscriptionManagementRequest>"#
                )
            }
            Dialect::V10 => {
                let sid = sub.map_or(String::new(), |s| format!(r#" subscription_id="{s}""#));
                format!(
                    r#"<Subscription_Management_Request xmlns="{NS10}" message_id="{id}" action="{action}" feed_name="{feed}"{sid}/>"#
                )
            }
            Dialect::V11 => {
                let sid = sub.map_or(String::new(), |s| {
                    format!("<Subscription_ID>{s}</Subscription_ID>")
                });
                let params = if action == "SUBSCRIBE" {
                    "<Subscription_Parameters><Response_Type>FULL</Response_Type></Subscription_Parameters>"
                } else {
                    ""
                };
                format!(
                    r#"<Subscription_Management_Request xmlns="{NS11}" message_id="{id}" action="{action}" collection_name="{feed}">{sid}{params}</Subscription_Management_Request>"#
                )
            }
        };
        SampleRequest::post(FEED_MANAGEMENT_PATH, d, false, body)
    }

    /// An inbox push of one STIX package whose id is `marker`.
    fn push(d: Dialect, n: u32, marker: &str, destinations: &[&str]) -> SampleRequest {
        let id = mid(d, n);
        let body = match d {
            Dialect::Draft1 => format!(
                r#"<TAXII_STIXMessage xmlns="{NS1}" xmlns:stix="http://stix.mitre.org" message-id="{id}"><content-binding>{STIX_111_BINDING}</content-binding><stix:STIX id="{marker}"><stix:Title>pushed</stix:Title></stix:STIX></TAXII_STIXMessage>"#
            ),
            Dialect::V10 => format!(
                r#"<Inbox_Message xmlns="{NS10}" message_id="{id}"><Content_Block><Content_Binding>{STIX_111_BINDING}</Content_Binding><Content><stix:STIX_Package xmlns:stix="http://stix.mitre.org/stix-1" id="{marker}" version="1.1.1"/></Content></Content_Block></Inbox_Message>"#
            ),
            Dialect::V11 => {
                let dest: String = destinations
                    .iter()
                    .map(|f| {
                        format!("<Destination_Collection_Name>{f}</Destination_Collection_Name>")
                    })
                    .collect();
                // The stix prefix is declared on the root: the stored content must carry it.
                format!(
                    r#"<Inbox_Message xmlns="{NS11}" xmlns:stix="http://stix.mitre.org/stix-1" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" message_id="{id}">{dest}<Content_Block><Content_Binding binding_id="{STIX_111_BINDING}"/><Content>
      <stix:STIX_Package id="{marker}" version="1.1.1"><stix:STIX_Header><stix:Title xsi:type="stix:x">R&amp;D &#x2014; pushed</stix:Title></stix:STIX_Header></stix:STIX_Package>
    </Content><Timestamp_Label>2001-01-01T00:00:00Z</Timestamp_Label></Content_Block></Inbox_Message>"#
                )
            }
        };
        SampleRequest::post(INBOX_PATH, d, false, body)
    }

    // --- discovery and feed information -----------------------------------------------------

    #[test]
    fn discovery_lists_the_four_services_in_every_dialect() {
        let u = upstream();
        for d in Dialect::ALL {
            for tls in [false, true] {
                let mut req = discovery(d, 1);
                req.tls = tls;
                if let Some(h) = req
                    .headers
                    .iter_mut()
                    .find(|(n, _)| n == "X-TAXII-Protocol")
                {
                    h.1 = d.protocol_id(transport(tls)).to_string();
                }
                let resp = send(&u, &req);
                let env = taxii(&resp, d, tls, MessageKind::DiscoveryResponse, &mid(d, 1));
                let addresses: Vec<&str> = env
                    .services
                    .iter()
                    .map(|s| s.address.value.as_str())
                    .collect();
                let expected: Vec<String> =
                    SERVICE_PATHS.iter().map(|p| format!("{BASE}{p}")).collect();
                assert_eq!(addresses, expected, "{d}");
                let types: Vec<&str> = env
                    .services
                    .iter()
                    .map(|s| s.service_type.as_str())
                    .collect();
                let management = match d {
                    Dialect::Draft1 => "FEED-MANAGEMENT",
                    Dialect::V10 => "FEED_MANAGEMENT",
                    Dialect::V11 => "COLLECTION_MANAGEMENT",
                };
                assert_eq!(types, ["DISCOVERY", management, "POLL", "INBOX"]);
                // The advertised base is https: so are the advertised bindings.
                assert!(body(&resp).contains(d.protocol_id(Transport::Https)));
            }
        }
    }

    #[test]
    fn draft1_gets_are_answered_at_either_discovery_or_feed_management() {
        let u = upstream();
        let id = "a847 98be ffe8 40ee 3722 c893 288b d376";
        for path in [DISCOVERY_PATH, FEED_MANAGEMENT_PATH] {
            let req = SampleRequest::get(
                path,
                "message_type=feed_information_request&message_id=a847%2098be%20ffe8%2040ee%203722%20c893%20288b%20d376&x-tlp=GREEN",
                false,
            );
            let env = taxii(
                &send(&u, &req),
                Dialect::Draft1,
                false,
                MessageKind::FeedInformationResponse,
                id,
            );
            assert_eq!(feeds(&env), FEED_NAMES);
            let req =
                SampleRequest::get(path, "message_type=DISCOVERY_REQUEST&message_id=1f", false);
            taxii(
                &send(&u, &req),
                Dialect::Draft1,
                false,
                MessageKind::DiscoveryResponse,
                "1f",
            );
        }
        // Not at the poll service.
        let req = SampleRequest::get(
            POLL_PATH,
            "message_type=discovery_request&message_id=1f",
            false,
        );
        let env = taxii(
            &send(&u, &req),
            Dialect::Draft1,
            false,
            MessageKind::StatusMessage,
            "1f",
        );
        assert_eq!(status_type(&env), "UNSUPPORTED-SERVICE");
    }

    #[test]
    fn feed_information_lists_every_feed_in_every_dialect() {
        let u = upstream();
        for d in Dialect::ALL {
            let resp = send(&u, &feed_info(d, 2));
            let env = taxii(
                &resp,
                d,
                true,
                MessageKind::FeedInformationResponse,
                &mid(d, 2),
            );
            assert_eq!(feeds(&env), FEED_NAMES, "{d}");
            assert_eq!(env.content_bindings, [STIX_111_BINDING]);
            let addresses: Vec<&str> = env
                .services
                .iter()
                .map(|s| s.address.value.as_str())
                .collect();
            let per_feed: &[&str] = match d {
                Dialect::Draft1 => &[],
                Dialect::V10 => &[POLL_PATH, FEED_MANAGEMENT_PATH],
                Dialect::V11 => &[POLL_PATH, FEED_MANAGEMENT_PATH, INBOX_PATH],
            };
            let expected: Vec<String> = FEED_NAMES
                .iter()
                .flat_map(|_| per_feed.iter().map(|p| format!("{BASE}{p}")))
                .collect();
            assert_eq!(addresses, expected, "{d}");
        }
        let b = body(&send(&u, &feed_info(Dialect::V11, 3)));
        assert!(b.contains("<taxii_11:Collection_Volume>12</taxii_11:Collection_Volume>"));
    }

    // --- poll -------------------------------------------------------------------------------

    #[test]
    fn polls_return_the_feed_in_every_dialect() {
        let u = upstream();
        for d in Dialect::ALL {
            for (feed, count) in [(FEED_INDICATORS, 12), (FEED_MALWARE, 6), (FEED_PHISHING, 4)] {
                let resp = send(&u, &poll(d, 3, feed, None, None));
                let env = taxii(&resp, d, false, MessageKind::PollResponse, &mid(d, 3));
                assert_eq!(env.content_blocks, count, "{d} {feed}");
                assert_eq!(env.content_bindings, [STIX_111_BINDING]);
                let expected: &[&str] = if d == Dialect::Draft1 { &[] } else { &[feed] };
                assert_eq!(feeds(&env), expected);
                if d == Dialect::V11 {
                    let b = body(&resp);
                    assert!(
                        b.contains(&format!(r#"partial_count="false">{count}<"#)),
                        "{b}"
                    );
                    assert!(b.contains(r#"more="false""#));
                }
            }
            assert_eq!(u.block_count(FEED_INDICATORS), Some(12));
        }
    }

    #[test]
    fn unknown_feeds_are_not_found() {
        let u = upstream();
        for d in Dialect::ALL {
            for req in [
                poll(d, 4, "gold", None, None),
                manage(d, 4, "gold", "SUBSCRIBE", None),
                manage(d, 4, "gold", "STATUS", None),
            ] {
                let env = taxii(
                    &send(&u, &req),
                    d,
                    false,
                    MessageKind::StatusMessage,
                    &mid(d, 4),
                );
                let expected = if d == Dialect::Draft1 {
                    "NOT-FOUND"
                } else {
                    "NOT_FOUND"
                };
                assert_eq!(status_type(&env), expected);
                if d == Dialect::V11 {
                    assert!(body(&u.handle(&req))
                        .contains(r#"<taxii_11:Detail name="ITEM">gold</taxii_11:Detail>"#));
                }
            }
        }
        assert_eq!(u.subscription_count(), 0);
    }

    #[test]
    fn the_generators_poll_requests_get_the_big_feed() {
        let config = SampleConfig {
            big_feed_bytes: 200_000,
            ..SampleConfig::default()
        };
        let u = SampleUpstream::with_config("http://upstream.test", config);
        let blocks = u.block_count(FEED_BIG).unwrap();
        assert_eq!(u.block_count(FEED), Some(blocks));
        assert!((25..40).contains(&blocks), "{blocks}");
        for d in Dialect::ALL {
            let req = SampleRequest::post(POLL_PATH, d, false, super::super::poll_request(d));
            let resp = send(&u, &req);
            let request = scan_body(&req.body, &ScanLimits::default()).unwrap();
            let env = taxii(
                &resp,
                d,
                false,
                MessageKind::PollResponse,
                &request.message_id.value,
            );
            assert_eq!(env.content_blocks, blocks, "{d}");
            if d == Dialect::V11 {
                assert!(resp.body.len() <= 200_000, "{}", resp.body.len());
                assert!(resp.body.len() > 190_000, "{}", resp.body.len());
            }
        }
        // The default is about 1 MiB.
        let u = upstream();
        let resp = send(&u, &poll(Dialect::V11, 5, FEED_BIG, None, None));
        assert!(
            (1_000_000..=1_048_576).contains(&resp.body.len()),
            "{}",
            resp.body.len()
        );
    }

    #[test]
    fn polls_honour_the_timestamp_bounds() {
        let u = upstream();
        // Indicators are labelled 00:01 … 00:12 on 2014-05-08.
        for d in Dialect::ALL {
            let resp = send(
                &u,
                &poll(d, 6, FEED_INDICATORS, None, Some("2014-05-08T00:10:00Z")),
            );
            let env = taxii(&resp, d, false, MessageKind::PollResponse, &mid(d, 6));
            // Draft 1 bounds are inclusive, 1.x begin bounds exclusive.
            let expected = if d == Dialect::Draft1 { 3 } else { 2 };
            assert_eq!(env.content_blocks, expected, "{d}");
            assert!(
                body(&resp).contains("2014-05-08T00:12:00Z"),
                "{d}: the end bound is the latest label"
            );
        }
        // An offset moves the bound: 02:10:00+02:00 is 00:10:00Z.
        let resp = send(
            &u,
            &poll(
                Dialect::V11,
                7,
                FEED_INDICATORS,
                None,
                Some("2014-05-08T02:10:00.5+02:00"),
            ),
        );
        let env = scan_body(&resp.body, &ScanLimits::default()).unwrap();
        assert_eq!(env.content_blocks, 2);
        assert_eq!(
            parse_timestamp_ms("2014-05-08T00:00:00Z"),
            Some(LABEL_BASE as i64 * 1000)
        );
        assert_eq!(
            parse_timestamp_ms("2014-05-08T00:00:00.25"),
            Some(LABEL_BASE as i64 * 1000 + 250)
        );
        assert_eq!(format_rfc3339(LABEL_BASE), "2014-05-08T00:00:00Z");
    }

    #[test]
    fn count_only_polls_carry_the_count_and_no_content() {
        let u = upstream();
        let id = mid(Dialect::V11, 8);
        let req = SampleRequest::post(
            POLL_PATH,
            Dialect::V11,
            false,
            format!(
                r#"<Poll_Request xmlns="{NS11}" message_id="{id}" collection_name="malware"><Poll_Parameters><Response_Type>COUNT_ONLY</Response_Type></Poll_Parameters></Poll_Request>"#
            ),
        );
        let resp = send(&u, &req);
        let env = taxii(&resp, Dialect::V11, false, MessageKind::PollResponse, &id);
        assert_eq!(env.content_blocks, 0);
        assert!(body(&resp).contains(r#"partial_count="false">6</taxii_11:Record_Count>"#));
    }

    #[test]
    fn multi_part_results_are_fetched_with_poll_fulfillment() {
        let config = SampleConfig {
            part_blocks: 5,
            ..SampleConfig::default()
        };
        let u = SampleUpstream::with_config(BASE, config);
        let d = Dialect::V11;
        let resp = send(&u, &poll(d, 9, FEED_INDICATORS, None, None));
        let env = taxii(&resp, d, false, MessageKind::PollResponse, &mid(d, 9));
        assert_eq!(env.content_blocks, 5);
        let b = body(&resp);
        assert!(
            b.contains(r#"more="true" result_id="urn:demo:result:1" result_part_number="1""#),
            "{b}"
        );
        assert!(b.contains(r#"partial_count="false">12<"#));
        let fulfil = |n: u32, collection: &str, result: &str, part: &str| {
            let id = mid(d, n);
            SampleRequest::post(
                POLL_PATH,
                d,
                false,
                format!(
                    r#"<Poll_Fulfillment xmlns="{NS11}" message_id="{id}" collection_name="{collection}" result_id="{result}" result_part_number="{part}"/>"#
                ),
            )
        };
        for (part, blocks, more) in [("1", 5, "true"), ("2", 5, "true"), ("3", 2, "false")] {
            let resp = send(&u, &fulfil(10, FEED_INDICATORS, "urn:demo:result:1", part));
            let env = taxii(&resp, d, false, MessageKind::PollResponse, &mid(d, 10));
            assert_eq!(env.content_blocks, blocks, "part {part}");
            assert!(body(&resp).contains(&format!(
                r#"more="{more}" result_id="urn:demo:result:1" result_part_number="{part}""#
            )));
        }
        for part in ["4", "0"] {
            let resp = send(&u, &fulfil(11, FEED_INDICATORS, "urn:demo:result:1", part));
            let env = taxii(&resp, d, false, MessageKind::StatusMessage, &mid(d, 11));
            assert_eq!(status_type(&env), "INVALID_RESPONSE_PART");
            assert!(body(&resp)
                .contains(r#"<taxii_11:Detail name="MAX_PART_NUMBER">3</taxii_11:Detail>"#));
        }
        for (collection, result) in [
            (FEED_INDICATORS, "urn:demo:result:9"),
            (FEED_MALWARE, "urn:demo:result:1"),
            ("gold", "urn:demo:result:1"),
        ] {
            let resp = send(&u, &fulfil(12, collection, result, "1"));
            let env = taxii(&resp, d, false, MessageKind::StatusMessage, &mid(d, 12));
            assert_eq!(status_type(&env), "NOT_FOUND");
        }
        // With the default configuration every result is one part, and can be fetched again.
        let u = upstream();
        send(&u, &poll(d, 13, FEED_PHISHING, None, None));
        let resp = send(&u, &fulfil(14, FEED_PHISHING, "urn:demo:result:1", "1"));
        let env = taxii(&resp, d, false, MessageKind::PollResponse, &mid(d, 14));
        assert_eq!(env.content_blocks, 4);
        let env = taxii(
            &send(&u, &fulfil(15, FEED_PHISHING, "urn:demo:result:1", "2")),
            d,
            false,
            MessageKind::StatusMessage,
            &mid(d, 15),
        );
        assert_eq!(status_type(&env), "INVALID_RESPONSE_PART");
    }

    // --- subscriptions ----------------------------------------------------------------------

    #[test]
    fn subscription_lifecycle_in_every_dialect() {
        let u = upstream();
        for d in Dialect::ALL {
            let feed = FEED_MALWARE;
            let resp = send(&u, &manage(d, 20, feed, "SUBSCRIBE", None));
            let env = taxii(
                &resp,
                d,
                false,
                MessageKind::SubscriptionManagementResponse,
                &mid(d, 20),
            );
            assert_eq!(feeds(&env), [feed]);
            let id = env
                .subscription_id()
                .expect("one subscription id")
                .to_string();
            assert!(id.starts_with("urn:demo:subscription:"));
            // Poll-only: 1.x answers name the poll service.
            if d != Dialect::Draft1 {
                assert_eq!(env.services.len(), 1);
                assert_eq!(env.services[0].address.value, format!("{BASE}{POLL_PATH}"));
            }

            // An identical SUBSCRIBE returns the same subscription.
            let again = send(&u, &manage(d, 21, feed, "SUBSCRIBE", None));
            let env = taxii(
                &again,
                d,
                false,
                MessageKind::SubscriptionManagementResponse,
                &mid(d, 21),
            );
            assert_eq!(env.subscription_id(), Some(id.as_str()));

            // STATUS lists it (1.1 also by id).
            let env = taxii(
                &send(&u, &manage(d, 22, feed, "STATUS", None)),
                d,
                false,
                MessageKind::SubscriptionManagementResponse,
                &mid(d, 22),
            );
            assert!(env.subscription_ids.iter().any(|f| f.value == id), "{d}");
            if d == Dialect::V11 {
                let env = taxii(
                    &send(&u, &manage(d, 23, feed, "STATUS", Some(&id))),
                    d,
                    false,
                    MessageKind::SubscriptionManagementResponse,
                    &mid(d, 23),
                );
                assert_eq!(env.subscription_id(), Some(id.as_str()));
            }

            // PAUSE and RESUME (Draft 1, 1.1), MODIFY (Draft 1).
            let actions: &[&str] = match d {
                Dialect::Draft1 => &["PAUSE", "RESUME", "MODIFY"],
                Dialect::V10 => &[],
                Dialect::V11 => &["PAUSE", "PAUSE", "RESUME"],
            };
            for action in actions {
                let resp = send(&u, &manage(d, 24, feed, action, Some(&id)));
                let env = taxii(
                    &resp,
                    d,
                    false,
                    MessageKind::SubscriptionManagementResponse,
                    &mid(d, 24),
                );
                assert_eq!(env.subscription_id(), Some(id.as_str()), "{d} {action}");
                if d == Dialect::V11 {
                    let expected = if *action == "PAUSE" {
                        "PAUSED"
                    } else {
                        "ACTIVE"
                    };
                    assert!(body(&resp).contains(&format!(r#"status="{expected}""#)));
                }
            }

            // Polling with the subscription.
            let resp = send(&u, &poll(d, 25, feed, Some(&id), None));
            let env = taxii(&resp, d, false, MessageKind::PollResponse, &mid(d, 25));
            assert_eq!(env.content_blocks, 6);
            assert_eq!(env.subscription_id(), Some(id.as_str()));

            // UNSUBSCRIBE, after which the id is gone.
            let resp = send(&u, &manage(d, 26, feed, "UNSUBSCRIBE", Some(&id)));
            let env = taxii(
                &resp,
                d,
                false,
                MessageKind::SubscriptionManagementResponse,
                &mid(d, 26),
            );
            assert_eq!(env.subscription_id(), Some(id.as_str()));
            let env = taxii(
                &send(&u, &manage(d, 27, feed, "STATUS", None)),
                d,
                false,
                MessageKind::SubscriptionManagementResponse,
                &mid(d, 27),
            );
            assert!(env.subscription_ids.is_empty(), "{d}");
            let env = taxii(
                &send(&u, &poll(d, 28, feed, Some(&id), None)),
                d,
                false,
                MessageKind::StatusMessage,
                &mid(d, 28),
            );
            assert!(status_type(&env).starts_with("NOT"));
            if d != Dialect::V10 {
                let env = taxii(
                    &send(&u, &manage(d, 29, feed, "PAUSE", Some(&id))),
                    d,
                    false,
                    MessageKind::StatusMessage,
                    &mid(d, 29),
                );
                assert!(status_type(&env).starts_with("NOT"));
            }
            // Unsubscribing an unknown id is a success all the same.
            let env = taxii(
                &send(
                    &u,
                    &manage(d, 30, feed, "UNSUBSCRIBE", Some("urn:demo:nope")),
                ),
                d,
                false,
                MessageKind::SubscriptionManagementResponse,
                &mid(d, 30),
            );
            assert_eq!(env.subscription_id(), Some("urn:demo:nope"));
        }
        assert_eq!(u.subscription_count(), 0);
    }

    #[test]
    fn subscriptions_are_per_feed_and_status_lists_them_all() {
        let u = upstream();
        let d = Dialect::V10;
        let mut ids = Vec::new();
        for (n, feed) in [(40, FEED_INDICATORS), (41, FEED_PHISHING)] {
            let env = scan_body(
                &send(&u, &manage(d, n, feed, "SUBSCRIBE", None)).body,
                &ScanLimits::default(),
            )
            .unwrap();
            ids.push(env.subscription_id().unwrap().to_string());
        }
        assert_ne!(ids[0], ids[1]);
        // A push subscription is another one, listed with its push parameters.
        let id = mid(d, 42);
        let req = SampleRequest::post(
            FEED_MANAGEMENT_PATH,
            d,
            false,
            format!(
                r#"<Subscription_Management_Request xmlns="{NS10}" message_id="{id}" action="SUBSCRIBE" feed_name="indicators"><Push_Parameters><Protocol_Binding>urn:taxii.mitre.org:protocol:https:1.0</Protocol_Binding><Address>https://client.example/inbox</Address><Message_Binding>urn:taxii.mitre.org:message:xml:1.0</Message_Binding></Push_Parameters></Subscription_Management_Request>"#
            ),
        );
        let env = taxii(
            &send(&u, &req),
            d,
            false,
            MessageKind::SubscriptionManagementResponse,
            &id,
        );
        assert!(
            env.services.is_empty(),
            "no Poll_Instance for a push subscription"
        );
        let env = taxii(
            &send(&u, &manage(d, 43, FEED_INDICATORS, "STATUS", None)),
            d,
            false,
            MessageKind::SubscriptionManagementResponse,
            &mid(d, 43),
        );
        assert_eq!(env.subscription_ids.len(), 2);
        assert_eq!(env.subscription_id(), None);
        let addresses: Vec<&str> = env
            .delivery_addresses
            .iter()
            .map(|f| f.value.as_str())
            .collect();
        assert_eq!(addresses, ["https://client.example/inbox"]);
        // A subscription of another feed is not found through this one.
        let env = taxii(
            &send(&u, &poll(d, 44, FEED_INDICATORS, Some(&ids[1]), None)),
            d,
            false,
            MessageKind::StatusMessage,
            &mid(d, 44),
        );
        assert_eq!(status_type(&env), "NOT_FOUND");
        // Draft 1 QUERY (the XSD's STATUS) and the subscriptions made in 1.0.
        let env = taxii(
            &send(
                &u,
                &manage(Dialect::Draft1, 45, FEED_INDICATORS, "QUERY", None),
            ),
            Dialect::Draft1,
            false,
            MessageKind::SubscriptionManagementResponse,
            &mid(Dialect::Draft1, 45),
        );
        assert_eq!(env.subscription_ids.len(), 2);
        assert_eq!(u.subscription_count(), 3);
    }

    // --- inbox ------------------------------------------------------------------------------

    #[test]
    fn inbox_pushes_show_up_in_later_polls_in_every_dialect() {
        let u = upstream();
        for (i, d) in Dialect::ALL.into_iter().enumerate() {
            let marker = format!("demo:pushed-{i}");
            let resp = send(&u, &push(d, 50, &marker, &[]));
            if d == Dialect::Draft1 {
                // No TAXII message back: 200, empty, X-TAXII-Protocol only.
                assert_eq!(resp.status, 200);
                assert!(resp.body.is_empty());
                assert_eq!(
                    resp.headers,
                    [(
                        "X-TAXII-Protocol".to_string(),
                        "TAXII_HTTP_BINDING_1.0".to_string()
                    )]
                );
            } else {
                let env = taxii(&resp, d, false, MessageKind::StatusMessage, &mid(d, 50));
                assert_eq!(status_type(&env), "SUCCESS");
            }
            assert_eq!(u.block_count(DEFAULT_INBOX_FEED), Some(13 + i));
            // Every dialect sees every push so far.
            for p in Dialect::ALL {
                let resp = send(&u, &poll(p, 51, DEFAULT_INBOX_FEED, None, None));
                let env = taxii(&resp, p, false, MessageKind::PollResponse, &mid(p, 51));
                assert_eq!(env.content_blocks, 13 + i, "{d} pushed, {p} polled");
                for j in 0..=i {
                    assert!(body(&resp).contains(&format!("demo:pushed-{j}")), "{p}");
                }
            }
        }
        // The stored content kept its namespaces: the prefix the 1.1 push declared on its root
        // travels with the package.
        let resp = send(
            &u,
            &poll(Dialect::Draft1, 52, DEFAULT_INBOX_FEED, None, None),
        );
        let b = body(&resp);
        assert!(b.contains(r#"<stix:STIX_Package xmlns:stix="http://stix.mitre.org/stix-1" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" id="demo:pushed-2""#), "{b}");
        assert!(b.contains("R&amp;D &#x2014; pushed"));
        // Pushed blocks get the feed's next labels, one minute apart.
        assert!(
            b.contains("<end-timestamp>2014-05-08T00:15:00Z</end-timestamp>"),
            "{b}"
        );
    }

    #[test]
    fn incremental_polls_see_only_new_content() {
        let u = upstream();
        let d = Dialect::V11;
        let env = scan_body(
            &send(
                &u,
                &poll(d, 60, FEED_PHISHING, None, Some("2014-05-08T10:04:00Z")),
            )
            .body,
            &ScanLimits::default(),
        )
        .unwrap();
        assert_eq!(env.content_blocks, 0);
        // Phishing is labelled 10:01 … 10:04 (blocks 600 … 603); the next label is 10:05.
        let env = scan_body(
            &send(&u, &push(d, 61, "demo:new", &[FEED_PHISHING])).body,
            &ScanLimits::default(),
        )
        .unwrap();
        assert_eq!(status_type(&env), "SUCCESS");
        let resp = send(
            &u,
            &poll(d, 62, FEED_PHISHING, None, Some("2014-05-08T10:04:00Z")),
        );
        let env = taxii(&resp, d, false, MessageKind::PollResponse, &mid(d, 62));
        assert_eq!(env.content_blocks, 1);
        let b = body(&resp);
        assert!(
            b.contains("demo:new") && b.contains("<taxii_11:Timestamp_Label>2014-05-08T10:05:00Z<"),
            "{b}"
        );
    }

    #[test]
    fn inbox_routing_by_destination_and_subscription() {
        let u = upstream();
        let d = Dialect::V11;
        let env = taxii(
            &send(
                &u,
                &push(
                    d,
                    70,
                    "demo:two",
                    &[FEED_MALWARE, FEED_PHISHING, FEED_MALWARE],
                ),
            ),
            d,
            false,
            MessageKind::StatusMessage,
            &mid(d, 70),
        );
        assert_eq!(status_type(&env), "SUCCESS");
        assert_eq!(u.block_count(FEED_MALWARE), Some(7));
        assert_eq!(u.block_count(FEED_PHISHING), Some(5));
        assert_eq!(u.block_count(FEED_INDICATORS), Some(12));
        // An unknown destination: nothing stored at all.
        let resp = send(&u, &push(d, 71, "demo:lost", &[FEED_MALWARE, "gold"]));
        let env = taxii(&resp, d, false, MessageKind::StatusMessage, &mid(d, 71));
        assert_eq!(status_type(&env), "DESTINATION_COLLECTION_ERROR");
        assert!(body(&resp)
            .contains(r#"<taxii_11:Detail name="ACCEPTABLE_DESTINATION">big</taxii_11:Detail>"#));
        assert_eq!(u.block_count(FEED_MALWARE), Some(7));
        // Draft 1: a push serving a subscription goes to that subscription's feed.
        let p = Dialect::Draft1;
        let env = scan_body(
            &send(&u, &manage(p, 72, FEED_PHISHING, "SUBSCRIBE", None)).body,
            &ScanLimits::default(),
        )
        .unwrap();
        let sid = env.subscription_id().unwrap().to_string();
        let id = mid(p, 73);
        let req = SampleRequest::post(
            INBOX_PATH,
            p,
            false,
            format!(
                r#"<TAXII_STIXMessage xmlns="{NS1}" message-id="{id}"><subscription-id>{sid}</subscription-id><content-binding>STIX_XML_1.0</content-binding><STIX xmlns="http://stix.mitre.org" id="a"/><stix:STIX xmlns:stix="http://stix.mitre.org" id="b"/></TAXII_STIXMessage>"#
            ),
        );
        assert_eq!(send(&u, &req).status, 200);
        assert_eq!(u.block_count(FEED_PHISHING), Some(7));
        // Content bindings are kept: a Draft 1 poll for STIX_XML_1.0 gets exactly those two.
        let id = mid(p, 74);
        let req = SampleRequest::post(
            POLL_PATH,
            p,
            false,
            format!(
                r#"<TAXII_PollRequest xmlns="{NS1}" message-id="{id}"><feed-name>phishing</feed-name><content-binding>STIX_XML_1.0</content-binding></TAXII_PollRequest>"#
            ),
        );
        let resp = send(&u, &req);
        let env = taxii(&resp, p, false, MessageKind::PollResponse, &id);
        assert_eq!(env.content_blocks, 2);
        assert_eq!(env.content_bindings, ["STIX_XML_1.0"]);
    }

    #[test]
    fn content_that_is_not_xml_elements_stays_out_of_draft1() {
        let u = upstream();
        let id = mid(Dialect::V10, 80);
        let req = SampleRequest::post(
            INBOX_PATH,
            Dialect::V10,
            false,
            format!(
                r#"<taxii:Inbox_Message xmlns:taxii="{NS10}" message_id="{id}"><taxii:Content_Block><taxii:Content_Binding>urn:example:base64</taxii:Content_Binding><taxii:Content>SGVsbG8sIFRBWElJIQ==</taxii:Content></taxii:Content_Block><taxii:Content_Block><taxii:Content_Binding>{STIX_111_BINDING}</taxii:Content_Binding><taxii:Content><Package xmlns="urn:example:plain" id="p1"/></taxii:Content></taxii:Content_Block></taxii:Inbox_Message>"#
            ),
        );
        let env = taxii(
            &send(&u, &req),
            Dialect::V10,
            false,
            MessageKind::StatusMessage,
            &id,
        );
        assert_eq!(status_type(&env), "SUCCESS");
        let count = |d: Dialect, n: u32| {
            let mut req = poll(d, n, FEED_INDICATORS, None, None);
            if d == Dialect::V11 {
                // Every binding.
                req.body = format!(r#"<Poll_Request xmlns="{NS11}" message_id="{}" collection_name="indicators"><Poll_Parameters/></Poll_Request>"#, mid(d, n)).into_bytes();
            }
            let resp = send(&u, &req);
            (
                scan_body(&resp.body, &ScanLimits::default())
                    .unwrap()
                    .content_blocks,
                body(&resp),
            )
        };
        assert_eq!(count(Dialect::V11, 81).0, 14);
        assert_eq!(count(Dialect::V10, 82).0, 14);
        let (n, b) = count(Dialect::Draft1, 83);
        assert_eq!(n, 13);
        assert!(
            b.contains(r#"<Package xmlns="urn:example:plain" id="p1"/>"#),
            "{b}"
        );
    }

    // --- refusals and routing ---------------------------------------------------------------

    #[test]
    fn malformed_requests_get_the_dialects_error() {
        let u = upstream();
        // Draft 1: a bare 400 with X-TAXII-Protocol.
        let req = SampleRequest::post(
            POLL_PATH,
            Dialect::Draft1,
            true,
            format!(r#"<TAXII_PollRequest xmlns="{NS1}" message-id="1"><feed-name>indicators"#),
        );
        let resp = send(&u, &req);
        assert_eq!(resp.status, 400);
        assert!(resp.body.is_empty());
        assert_eq!(
            resp.header("X-TAXII-Protocol"),
            Some("TAXII_HTTPS_BINDING_1.0")
        );
        // 1.x: BAD_MESSAGE in a 200, echoing the id when it was read.
        for d in [Dialect::V10, Dialect::V11] {
            let ns = d.namespace();
            let id = mid(d, 90);
            let feed = if d == Dialect::V10 {
                "feed_name"
            } else {
                "collection_name"
            };
            let req = SampleRequest::post(
                POLL_PATH,
                d,
                false,
                format!(
                    r#"<Poll_Request xmlns="{ns}" message_id="{id}" {feed}="x"><Bogus/></Poll_Request>"#
                ),
            );
            let env = taxii(&send(&u, &req), d, false, MessageKind::StatusMessage, &id);
            assert_eq!(status_type(&env), "BAD_MESSAGE");
            // Headers that say 1.1 over a 1.0 body: answered in 1.1.
            let mut req = poll(Dialect::V10, 91, FEED_INDICATORS, None, None);
            req.headers = SampleRequest::post(POLL_PATH, d, false, "").headers;
            let resp = send(&u, &req);
            if d == Dialect::V11 {
                // The 1.0 id is a valid 1.1 id too: echoed.
                let env = taxii(
                    &resp,
                    d,
                    false,
                    MessageKind::StatusMessage,
                    &mid(Dialect::V10, 91),
                );
                assert_eq!(status_type(&env), "BAD_MESSAGE");
            } else {
                taxii(&resp, d, false, MessageKind::PollResponse, &mid(d, 91));
            }
        }
        // X-TAXII-Protocol must name the transport used.
        let mut req = poll(Dialect::V11, 92, FEED_INDICATORS, None, None);
        req.tls = true;
        // Refused on the headers, before the body (and its id) is read.
        let env = taxii(
            &send(&u, &req),
            Dialect::V11,
            true,
            MessageKind::StatusMessage,
            "0",
        );
        assert_eq!(status_type(&env), "BAD_MESSAGE");
        // A 1.x POST without the TAXII headers is not TAXII: 400.
        let mut req = poll(Dialect::V11, 93, FEED_INDICATORS, None, None);
        req.headers.retain(|(n, _)| n == "Content-Type");
        let resp = send(&u, &req);
        assert_eq!(resp.status, 400);
        // A GET without message_type, a PUT.
        let resp = send(&u, &SampleRequest::get(DISCOVERY_PATH, "x=1", false));
        assert_eq!((resp.status, resp.body.len()), (400, 0));
        let mut req = discovery(Dialect::V11, 94);
        req.method = "PUT".into();
        let resp = send(&u, &req);
        assert_eq!(resp.status, 405);
        assert_eq!(resp.header("Allow"), Some("POST"));
        // No TAXII signal at all.
        let req = SampleRequest {
            method: "POST".into(),
            path: POLL_PATH.into(),
            body: b"hello".to_vec(),
            ..SampleRequest::default()
        };
        assert_eq!(send(&u, &req), SampleResponse::bare(400));
        // A POSTed Draft 1 discovery request: 405, as the binding uses GET.
        let req = SampleRequest::post(
            DISCOVERY_PATH,
            Dialect::Draft1,
            false,
            format!(r#"<TAXII_DiscoveryRequest xmlns="{NS1}" message-id="1a"/>"#),
        );
        assert_eq!(send(&u, &req).status, 405);
    }

    #[test]
    fn unknown_paths_are_404_and_messages_must_reach_their_service() {
        let u = upstream();
        for d in Dialect::ALL {
            for path in [
                "/",
                "/services",
                "/services/polls",
                "/taxii-discovery-service/",
            ] {
                let mut req = discovery(d, 100);
                req.path = path.into();
                assert_eq!(send(&u, &req), SampleResponse::bare(404), "{path}");
            }
            // The advertised base's path and a trailing slash are accepted.
            let mut req = discovery(d, 101);
            req.path = format!("/taxii{DISCOVERY_PATH}/");
            taxii(
                &send(&u, &req),
                d,
                false,
                MessageKind::DiscoveryResponse,
                &mid(d, 101),
            );
            // A poll at the inbox.
            let mut req = poll(d, 102, FEED_INDICATORS, None, None);
            req.path = INBOX_PATH.into();
            let env = taxii(
                &send(&u, &req),
                d,
                false,
                MessageKind::StatusMessage,
                &mid(d, 102),
            );
            let expected = if d == Dialect::Draft1 {
                "UNSUPPORTED-SERVICE"
            } else {
                "BAD_MESSAGE"
            };
            assert_eq!(status_type(&env), expected);
            // An inbox message at the poll service; Draft 1 has no TAXII answer for it.
            let mut req = push(d, 103, "demo:misrouted", &[]);
            req.path = POLL_PATH.into();
            let resp = send(&u, &req);
            if d == Dialect::Draft1 {
                assert_eq!((resp.status, resp.body.len()), (400, 0));
            } else {
                let env = taxii(&resp, d, false, MessageKind::StatusMessage, &mid(d, 103));
                assert_eq!(status_type(&env), "BAD_MESSAGE");
            }
            // A response is no request.
            let id = mid(d, 104);
            let status = match d {
                Dialect::Draft1 => format!(
                    r#"<TAXII_ErrorMessage xmlns="{NS1}" message-id="{id}" error-type="FAILURE"/>"#
                ),
                _ => format!(
                    r#"<Status_Message xmlns="{}" message_id="{id}" in_response_to="{id}" status_type="FAILURE"/>"#,
                    d.namespace()
                ),
            };
            let resp = send(&u, &SampleRequest::post(INBOX_PATH, d, false, status));
            if d == Dialect::Draft1 {
                assert_eq!(resp.status, 400);
            } else {
                assert_eq!(
                    status_type(&taxii(&resp, d, false, MessageKind::StatusMessage, &id)),
                    "BAD_MESSAGE"
                );
            }
        }
        assert_eq!(u.block_count(DEFAULT_INBOX_FEED), Some(12));
    }

    #[test]
    fn answers_have_fresh_ids_in_the_dialects_syntax_and_are_deterministic() {
        let run = || {
            let u = upstream();
            let mut bodies = Vec::new();
            for d in Dialect::ALL {
                for req in [
                    discovery(d, 1),
                    feed_info(d, 2),
                    poll(d, 3, FEED_MALWARE, None, None),
                    manage(d, 4, FEED_MALWARE, "SUBSCRIBE", None),
                    push(d, 5, "m", &[]),
                ] {
                    bodies.push(send(&u, &req));
                }
            }
            bodies
        };
        let a = run();
        assert_eq!(a, run());
        let mut ids = std::collections::HashSet::new();
        for resp in a.iter().filter(|r| !r.body.is_empty()) {
            let env = scan_body(&resp.body, &ScanLimits::default()).unwrap();
            assert!(ids.insert(env.message_id.value.clone()));
            if env.dialect == Dialect::V10 {
                assert!(env.message_id.value.bytes().all(|b| b.is_ascii_digit()));
            }
        }
        fn shareable<T: Send + Sync>() {}
        shareable::<SampleUpstream>();
    }

    #[test]
    fn fragments_carry_their_inherited_namespaces() {
        let scope = vec![
            (None, NS11.to_string()),
            (Some("stix".to_string()), "urn:stix".to_string()),
            (Some("a".to_string()), "urn:a".to_string()),
        ];
        let f = Fragment::new(
            r#" <stix:P xmlns:a="urn:own" x="a:b"><stix:Q/></stix:P> <!-- c --> <R/>"#,
            &scope,
        )
        .unwrap();
        assert_eq!(
            f.text,
            r#" <stix:P xmlns:stix="urn:stix" xmlns:a="urn:own" x="a:b"><stix:Q/></stix:P> <!-- c --> <R xmlns="http://taxii.mitre.org/messages/taxii_xml_binding-1.1" xmlns:stix="urn:stix" xmlns:a="urn:a"/>"#
        );
        // <R/> is then a 1.1 TAXII element, which is fine as Draft 1 content.
        assert_eq!(f.draft1_docs, Some(2));
        let f = Fragment::new("<R/>", &scope[1..]).unwrap();
        assert_eq!(
            f.text,
            r#"<R xmlns:stix="urn:stix" xmlns:a="urn:a" xmlns=""/>"#
        );
        let f = Fragment::new(
            r#"<t:x xmlns:t="http://taxii.mitre.org/messages/xml/1"/>"#,
            &[],
        )
        .unwrap();
        assert_eq!(f.draft1_docs, None);
        assert_eq!(
            Fragment::new("text &amp; <b/>", &[]).unwrap().draft1_docs,
            None
        );
        assert_eq!(Fragment::new("", &[]).unwrap().draft1_docs, None);
    }
}
