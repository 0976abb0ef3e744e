//! Checking a response as it streams from the upstream.
//!
//! Response headers leave before the first body byte is seen (PINGORA.md), so every checked
//! response is re-framed as chunked, and the body is held back until the protocol core has
//! verified it: responses up to `responses.hold_bytes` whole, larger ones (big poll responses)
//! child by child of the root with [`StreamScanner`]. A response the core rejects is replaced by
//! a FAILURE message in the requester's dialect while nothing has left yet; after that the
//! connection is cut, so that no byte the core rejected reaches the client.

use bytes::Bytes;
use pingora::http::ResponseHeader;
use pingora::{Error, ErrorType, Result};

use crate::config::GatewayConfig;
use crate::taxii::detect::header_dialects;
use crate::taxii::writer::{binding_headers, status_message, Detail, StatusType};
use crate::taxii::{
    refusal_reply, Dialect, Envelope, HttpContext, MessageKind, Refusal, ReplyContext,
    StreamScanner, Transport,
};

enum Mode {
    /// Scan, hold, release.
    Check,
    /// The upstream's body is dropped; this one is sent at its end.
    Replace(Option<Bytes>),
    /// The upstream's body is dropped (the answer already went out).
    Discard,
}

/// The response side of one exchange.
pub struct ResponseCheck {
    mode: Mode,
    request_dialect: Dialect,
    /// A Draft 1 inbox push: the answer has no TAXII body at all (Draft 1 Services §5.1.1).
    empty_expected: bool,
    headers: HttpContext,
    scanner: Option<StreamScanner>,
    held: Vec<u8>,
    received: u64,
    released: usize,
    hold_bytes: usize,
    max_bytes: u64,
    failure_ctx: ReplyContext,
    /// The response's envelope, once read.
    pub envelope: Option<Envelope>,
    /// Why the response was refused, if it was.
    pub refused: Option<String>,
    /// Discovery, feed/collection information and subscription responses: filtered for the
    /// partner and their addresses mapped to the gateway's.
    rewrite: Option<RewriteSetup>,
    /// What the rewrite did: (records dropped, addresses rewritten), for logs and audit.
    pub rewritten: Option<(usize, usize)>,
    /// The operator rules for the answer.
    rules: ResponseRules,
    /// Poll answers: SHA-256 of each content block sent.
    digest_blocks: bool,
    pub digests: Vec<String>,
    /// Capture of the answer as sent: the log, the file name, the cap; bytes so far.
    capture: Option<(
        std::sync::Arc<crate::audit::capture::CaptureLog>,
        String,
        String,
        usize,
    )>,
    capture_buf: Vec<u8>,
    /// What the rules did to the answer, in words (audit).
    pub rewrites: Vec<String>,
    /// A signed answer the rules would have changed: refused or passed unchanged.
    pub signed: Option<&'static str>,
    /// What capture made of the answer (file name, or why not).
    pub captured: Option<String>,
    /// The configured XML limits (for reading a streamed answer's head again).
    limits: crate::taxii::ScanLimits,
    /// A streamed answer's first bytes left rewritten: a signature found later cannot be kept.
    head_edited: bool,
}

/// The operator rules that apply to an answer (see [`crate::rules`]).
#[derive(Default)]
pub struct ResponseRules {
    /// (public, upstream) names the request was renamed with: renamed back in the answer.
    pub renamed: Vec<(String, String)>,
    /// The begin a clamped poll was served from: said in the poll answer.
    pub served_begin: Option<i64>,
    /// The upstream answering (for the public names of its feeds).
    pub upstream: usize,
    /// Refuse (true) or pass unchanged a signed answer that the rules would change.
    pub refuse_signed: bool,
    /// Capture the answer: (log, exchange id, max bytes).
    pub capture: Option<(
        std::sync::Arc<crate::audit::capture::CaptureLog>,
        String,
        usize,
    )>,
}

/// What rewriting a response needs: the configuration (routes, policy), the partner, and the
/// gateway's public base URLs (`http://host:port`) per scheme.
pub struct RewriteSetup {
    pub config: std::sync::Arc<GatewayConfig>,
    pub partner: Option<String>,
    pub http_base: Option<String>,
    pub https_base: Option<String>,
}

impl ResponseCheck {
    /// Decides from the upstream's status and headers how the body will be handled, and
    /// rewrites the header to match.
    #[allow(clippy::too_many_arguments)]
    pub fn start(
        request: &Envelope,
        upstream_response: &mut ResponseHeader,
        transport: Transport,
        config: &GatewayConfig,
        id_seed: u128,
        now_unix: u64,
        rewrite: Option<RewriteSetup>,
        rules: ResponseRules,
    ) -> ResponseCheck {
        // The answers that name services and feeds are held whole, so that they can be
        // filtered and their addresses mapped before any byte leaves.
        let rewrite = rewrite.filter(|_| {
            matches!(
                request.kind,
                MessageKind::DiscoveryRequest
                    | MessageKind::FeedInformationRequest
                    | MessageKind::SubscriptionManagementRequest
            )
        });
        let poll = matches!(
            request.kind,
            MessageKind::PollRequest | MessageKind::PollFulfillment
        );
        let edits_poll = poll && (!rules.renamed.is_empty() || rules.served_begin.is_some());
        let dialect = request.dialect;
        let status = upstream_response.status.as_u16();
        let mut headers = HttpContext::default();
        for (name, value) in upstream_response.headers.iter() {
            let _ = headers.header(name.as_str(), &String::from_utf8_lossy(value.as_bytes()));
        }
        let failure_ctx = ReplyContext {
            dialect,
            transport,
            in_response_to: Some(request.message_id.value.clone()),
            id_seed,
            now_unix,
            message: None,
        };
        let mut check = ResponseCheck {
            mode: Mode::Check,
            request_dialect: dialect,
            empty_expected: dialect == Dialect::Draft1 && request.kind == MessageKind::InboxMessage,
            headers,
            scanner: Some(StreamScanner::new(config.xml_limits)),
            held: Vec::new(),
            received: 0,
            released: 0,
            hold_bytes: if rewrite.is_some() {
                usize::MAX
            } else {
                config.responses.hold_bytes
            },
            max_bytes: config.responses.max_bytes,
            failure_ctx,
            envelope: None,
            refused: None,
            rewrite,
            rewritten: None,
            digest_blocks: poll,
            digests: Vec::new(),
            capture: rules.capture.as_ref().map(|(log, id, max)| {
                (log.clone(), id.clone(), format!("{id}.response.xml"), *max)
            }),
            capture_buf: Vec::new(),
            rules,
            rewrites: Vec::new(),
            signed: None,
            captured: None,
            limits: config.xml_limits,
            head_edited: false,
        };
        // A poll answer the rules edit is held whole up to hold_bytes like any other (a larger
        // one streams with its feed name renamed in the first bytes released).
        let _ = edits_poll;
        let ok_status = status == 200;
        // Draft 1 HTTP binding §7: errors found in headers or while parsing are HTTP statuses;
        // the upstream's own are passed on, without whatever body it put there.
        let draft1_http_error = dialect == Dialect::Draft1 && (400..500).contains(&status);
        if draft1_http_error {
            check.replace_header(
                upstream_response,
                status,
                binding_headers(dialect, transport, false),
                None,
            );
        } else if !ok_status {
            // 1.x: "a Status_Message in HTTP 200 whenever possible" (1.0 HTTP binding §4); any
            // other status from the upstream is a fault of the upstream.
            check.refused = Some(format!("upstream answered HTTP {status}"));
            let reply = refusal_reply(&check.failure_ctx, &Refusal::UpstreamFailed);
            let body = Bytes::from(reply.body);
            check.replace_header(upstream_response, reply.status, reply.headers, Some(body));
        } else if !header_dialects(&check.headers).is_ok_and(|ds| ds.contains(&dialect)) {
            check.refused = Some("the response's TAXII headers name another dialect".into());
            let reply = refusal_reply(&check.failure_ctx, &Refusal::UpstreamFailed);
            let body = Bytes::from(reply.body);
            check.replace_header(upstream_response, reply.status, reply.headers, Some(body));
        } else {
            // Re-framed: the checked body may differ in length from what the upstream announced.
            upstream_response.remove_header("content-length");
            // X-TAXII-Protocol names the transport of this hop, not the upstream's.
            if check.headers.x_taxii_protocol.is_some() || dialect == Dialect::Draft1 {
                let _ = upstream_response
                    .insert_header("X-TAXII-Protocol", dialect.protocol_id(transport));
            }
            let _ = upstream_response.insert_header("Transfer-Encoding", "chunked");
        }
        check
    }

    fn replace_header(
        &mut self,
        resp: &mut ResponseHeader,
        status: u16,
        headers: Vec<(&'static str, String)>,
        body: Option<Bytes>,
    ) {
        let names: Vec<String> = resp
            .headers
            .keys()
            .map(|k| k.as_str().to_string())
            .collect();
        for name in names {
            resp.remove_header(&name);
        }
        let _ = resp.set_status(status);
        for (name, value) in headers {
            let _ = resp.insert_header(name, value);
        }
        let len = body.as_ref().map_or(0, Bytes::len);
        let _ = resp.insert_header("Content-Length", len.to_string());
        self.mode = Mode::Replace(body);
    }

    /// One piece of the upstream's body (`end`: the last).
    pub fn body(&mut self, body: &mut Option<Bytes>, end: bool) -> Result<()> {
        match &mut self.mode {
            Mode::Replace(answer) => {
                *body = if end { answer.take() } else { None };
                return Ok(());
            }
            Mode::Discard => {
                *body = None;
                return Ok(());
            }
            Mode::Check => {}
        }
        let chunk = body.take();
        let mut verdict: std::result::Result<(), String> = Ok(());
        if let (Some(chunk), Some(scanner)) = (chunk.as_ref(), self.scanner.as_mut()) {
            self.received += chunk.len() as u64;
            if self.received > self.max_bytes {
                verdict = Err(format!("response larger than {} bytes", self.max_bytes));
            } else if let Err(r) = scanner.feed(chunk) {
                verdict = Err(r.to_string());
            }
            self.held.extend_from_slice(chunk);
        }
        if verdict.is_ok() && end {
            verdict = self.finish();
        }
        match verdict {
            Ok(()) if end => {
                let out = std::mem::take(&mut self.held);
                self.capture_piece(&out, true);
                *body = Some(Bytes::from(out));
                Ok(())
            }
            Ok(()) => {
                if self.received > self.hold_bytes as u64 {
                    let verified = self.scanner.as_ref().map_or(0, StreamScanner::verified);
                    let ready = verified.saturating_sub(self.released);
                    if ready > 0 {
                        // The blocks about to leave are digested, then forgotten by the
                        // scanner, so a long answer's scan holds only what is held here.
                        let spans = self
                            .scanner
                            .as_mut()
                            .map(|s| s.drain_released(self.released + ready))
                            .unwrap_or_default();
                        if self.digest_blocks {
                            self.digest_spans(&spans);
                        }
                        let mut out: Vec<u8> = self.held.drain(..ready).collect();
                        if self.released == 0 {
                            match self.edit_streamed_head(out) {
                                Ok(edited) => out = edited,
                                Err(why) => return self.refuse(body, why),
                            }
                        }
                        self.released += ready;
                        self.capture_piece(&out, false);
                        *body = Some(Bytes::from(out));
                    }
                }
                Ok(())
            }
            Err(why) => self.refuse(body, why),
        }
    }

    fn finish(&mut self) -> std::result::Result<(), String> {
        let Some(scanner) = self.scanner.take() else {
            return Ok(());
        };
        if self.received == 0 && self.empty_expected {
            return Ok(());
        }
        let env = scanner.finish().map_err(|r| r.to_string())?;
        let allowed = header_dialects(&self.headers).map_err(|r| r.to_string())?;
        if env.dialect != self.request_dialect || !allowed.contains(&env.dialect) {
            return Err(format!(
                "a TAXII {} response to a TAXII {} request",
                env.dialect, self.request_dialect
            ));
        }
        if env.kind.is_request() {
            return Err(format!(
                "the upstream answered with a request message ({})",
                env.message
            ));
        }
        if self.digest_blocks {
            self.digest_spans(&env.content_block_spans);
        }
        if self.head_edited && env.signed {
            // Its first bytes left rewritten before the signature (the last child) came: the
            // rest is not sent, and the connection is cut.
            self.signed = Some("refused");
            return Err("a signed answer whose first bytes the rules had already rewritten".into());
        }
        if self.released == 0 {
            let mut changed = false;
            if let Some(setup) = self.rewrite.take() {
                changed = self.apply_rewrite(&setup, &env)?;
            }
            self.apply_edits(&env, changed)?;
        }
        self.envelope = Some(env);
        Ok(())
    }

    /// Digests the content blocks at `spans` (message offsets), each wholly in `held`.
    fn digest_spans(&mut self, spans: &[std::ops::Range<usize>]) {
        for span in spans {
            let bytes = span
                .start
                .checked_sub(self.released)
                .and_then(|a| self.held.get(a..span.end - self.released));
            match bytes {
                Some(bytes) => self.digests.push(crate::taxii::edit::digest_hex(bytes)),
                // Never: blocks end at the scanner's checkpoints, where bytes are released.
                None => self.digests.push("unavailable".to_string()),
            }
        }
    }

    /// The first bytes of a streamed poll answer, before any leaves: the rules' edits (feed
    /// names back to the partner's, the window served). They end after a complete child of the
    /// root, so closed with the root's end tag they read as a whole message, which is edited
    /// like a held answer. Should that fail, the feed names alone are renamed.
    fn edit_streamed_head(&mut self, out: Vec<u8>) -> std::result::Result<Vec<u8>, String> {
        if self.rules.renamed.is_empty() && self.rules.served_begin.is_none() {
            return Ok(out);
        }
        let limits = crate::taxii::ScanLimits {
            max_total_bytes: usize::MAX,
            max_elements: usize::MAX,
            ..self.limits
        };
        // The whole document when its root closed in these bytes; else closed here.
        let read = match crate::taxii::scan_body(&out, &limits) {
            Ok(env) => Some((out.clone(), env, String::new())),
            Err(_) => root_qname(&out).and_then(|qname| {
                let close = format!("</{qname}>");
                let mut doc = out.clone();
                doc.extend_from_slice(close.as_bytes());
                crate::taxii::scan_body(&doc, &limits)
                    .ok()
                    .map(|env| (doc, env, close))
            }),
        };
        let Some((mut doc, env, close)) = read else {
            if self.rules.served_begin.is_some() {
                return Err(
                    "the first bytes of the answer could not be read to say its window".into(),
                );
            }
            self.head_edited = true;
            return Ok(self.rename_streamed_head(out));
        };
        // A head cut before the place of the begin timestamp cannot say the window: the
        // upstream's own begin may still come.
        if self.rules.served_begin.is_some() && !close.is_empty() && !reaches_begin(&env) {
            return Err("the answer's first child is larger than responses.hold_bytes; its window cannot be said".into());
        }
        let before = self.rewrites.len();
        let signed_before = self.signed;
        self.held_swap(&mut doc);
        let result = self.apply_edits(&env, false);
        self.held_swap(&mut doc);
        result?;
        if self.signed != signed_before || !doc.ends_with(close.as_bytes()) {
            // Signed (passed unchanged), or the edit touched the closing tag added here.
            return Ok(out);
        }
        doc.truncate(doc.len() - close.len());
        for r in &mut self.rewrites[before..] {
            r.push_str(" (streamed answer)");
        }
        self.head_edited = doc != out;
        Ok(doc)
    }

    /// Swaps the held bytes with `other` (to edit a head with the held-answer code).
    fn held_swap(&mut self, other: &mut Vec<u8>) {
        std::mem::swap(&mut self.held, other);
    }

    /// The first bytes of a streamed answer: the feed names in them (the root's) renamed back
    /// to the names the partner used.
    fn rename_streamed_head(&mut self, out: Vec<u8>) -> Vec<u8> {
        if self.rules.renamed.is_empty() {
            return out;
        }
        let feeds: Vec<crate::taxii::Field> = self
            .scanner
            .as_ref()
            .map(|s| s.feeds_so_far().to_vec())
            .unwrap_or_default();
        let mut edits: Vec<(std::ops::Range<usize>, String)> = Vec::new();
        for f in feeds {
            if f.span.is_empty() || f.span.end > out.len() {
                continue;
            }
            if let Some(public) = crate::rules::public_name(&self.rules.renamed, &f.value) {
                edits.push((
                    f.span.clone(),
                    crate::taxii::edit::escape_attribute(&public),
                ));
                self.rewrites.push(format!(
                    "feed {:?} -> {public:?} (streamed answer)",
                    f.value
                ));
            }
        }
        if edits.is_empty() {
            return out;
        }
        edits.sort_by_key(|(r, _)| r.start);
        let mut spliced = Vec::with_capacity(out.len() + 64);
        let mut at = 0;
        for (r, text) in edits {
            if r.start < at {
                continue;
            }
            spliced.extend_from_slice(&out[at..r.start]);
            spliced.extend_from_slice(text.as_bytes());
            at = r.end;
        }
        spliced.extend_from_slice(&out[at..]);
        spliced
    }

    /// Keeps a copy of what is sent for the capture directory, up to the cap; at the end,
    /// writes it.
    fn capture_piece(&mut self, piece: &[u8], last: bool) {
        let Some((_, _, _, max)) = &self.capture else {
            return;
        };
        let max = *max;
        if self.captured.is_none() {
            if self.capture_buf.len() + piece.len() > max {
                self.captured = Some(format!(
                    "response not captured: over max_message_bytes ({max})"
                ));
                self.capture_buf = Vec::new();
            } else {
                self.capture_buf.extend_from_slice(piece);
            }
        }
        if last && self.captured.is_none() {
            if let Some((log, id, name, _)) = self.capture.take() {
                let bytes = std::mem::take(&mut self.capture_buf);
                self.captured = Some(if log.write(&id, name.clone(), bytes) {
                    name
                } else {
                    "response not captured: capture queue full".into()
                });
            }
        }
    }

    /// The rules' edits of a held answer: feed names renamed back (poll and subscription
    /// answers), the served poll window said. `rescan`: the held body changed since `env`
    /// was read.
    fn apply_edits(&mut self, env: &Envelope, rescan: bool) -> std::result::Result<(), String> {
        let edits_kind = matches!(
            env.kind,
            MessageKind::PollResponse | MessageKind::SubscriptionManagementResponse
        );
        if !edits_kind || (self.rules.renamed.is_empty() && self.rules.served_begin.is_none()) {
            return Ok(());
        }
        let fresh;
        let env = if rescan {
            fresh = crate::taxii::scan_body(&self.held, &self.limits)
                .map_err(|e| format!("the rewritten answer does not read back: {e}"))?;
            &fresh
        } else {
            env
        };
        let renamed = &self.rules.renamed;
        let rename = |upstream_name: &str| crate::rules::public_name(renamed, upstream_name);
        let rules = crate::taxii::edit::Rules {
            rename_feed: (!renamed.is_empty())
                .then_some(&rename as &dyn Fn(&str) -> Option<String>),
            begin_not_before: self
                .rules
                .served_begin
                .filter(|_| env.kind == MessageKind::PollResponse),
            ..crate::taxii::edit::Rules::default()
        };
        let edited = crate::taxii::edit::edit_message(&self.held, env, &rules)
            .map_err(|e| format!("the answer could not be rewritten: {e}"))?;
        for (from, to) in &edited.renamed {
            if from != to {
                self.rewrites.push(format!("feed {from:?} -> {to:?}"));
            }
        }
        if let Some(w) = &edited.window {
            self.rewrites
                .push(format!("poll window served from {}", w.served));
        }
        match edited.outcome {
            crate::taxii::Outcome::Unchanged => Ok(()),
            crate::taxii::Outcome::Rewritten(body) => {
                self.held = body;
                if let Some(m) = crate::metrics::global() {
                    m.rewrites.with_label_values(&["response"]).inc();
                }
                Ok(())
            }
            crate::taxii::Outcome::Signed if self.rules.refuse_signed => {
                self.signed = Some("refused");
                Err("a signed answer that the rules would rewrite".into())
            }
            crate::taxii::Outcome::Signed => {
                self.signed = Some("passed_unchanged");
                self.rewrites.clear();
                self.rewrites
                    .push("signed answer passed unchanged (rules not applied)".into());
                Ok(())
            }
        }
    }

    /// Filters the held answer for the partner and maps every address to the gateway's
    /// (Draft 1 Services §4.2.3, §4.2.5: a server may hide any service or feed from a
    /// requester). Addresses that map nowhere are dropped with their record, so that clients
    /// never walk around the gateway.
    fn apply_rewrite(
        &mut self,
        setup: &RewriteSetup,
        env: &Envelope,
    ) -> std::result::Result<bool, String> {
        use crate::policy::{allowed_actions, visible_feeds, Action, Policy};
        let config = &setup.config;
        let policy: &Policy = match &config.policy {
            Some(p) => p,
            None => Policy::permissive(),
        };
        let partner = setup.partner.as_deref().and_then(|id| policy.partner(id));
        let Some(partner) = partner else {
            return Err("no partner to filter the answer for".into());
        };
        let actions = allowed_actions(partner);
        let keep_service = |s: &crate::taxii::ServiceRef| {
            let needed: &[Action] = match s
                .service_type
                .to_ascii_uppercase()
                .replace('-', "_")
                .as_str()
            {
                "DISCOVERY" => &[Action::Discover],
                "POLL" => &[Action::Poll],
                "INBOX" => &[Action::Push],
                "FEED_MANAGEMENT" | "COLLECTION_MANAGEMENT" => &[
                    Action::FeedInfo,
                    Action::Subscribe,
                    Action::ManageSubscription,
                ],
                _ => &[],
            };
            needed.iter().any(|a| actions.contains(*a))
        };
        let keep_feed = visible_feeds(policy, partner);
        let map = |addr: &str| {
            super::map_address(
                config,
                addr,
                setup.http_base.as_deref(),
                setup.https_base.as_deref(),
            )
        };
        let upstream = self.rules.upstream;
        let aliases = |name: &str| crate::rules::feed_aliases(config, upstream, name);
        let mut plan = crate::taxii::rewrite::RewritePlan::new(&map)
            .keep_services(&keep_service)
            .keep_feeds(&keep_feed);
        if !config.feeds.is_empty() {
            plan = plan.feed_aliases(&aliases);
        }
        let done = crate::taxii::rewrite::rewrite_response(&self.held, env, &plan)
            .map_err(|e| format!("the answer could not be filtered: {e}"))?;
        match done.outcome {
            crate::taxii::rewrite::Outcome::Rewritten(body) => {
                self.rewritten = Some((
                    done.feeds_dropped + done.services_dropped,
                    done.addresses_rewritten,
                ));
                if done.feeds_aliased > 0 {
                    self.rewrites.push(format!(
                        "feed records listed under public names: {}",
                        done.feeds_aliased
                    ));
                }
                self.held = body;
                Ok(true)
            }
            crate::taxii::rewrite::Outcome::Unchanged => Ok(false),
            // A signature would break; an unfiltered answer would show what the partner may
            // not see or addresses around the gateway: refused.
            crate::taxii::rewrite::Outcome::Signed => {
                Err("a signed answer that would need filtering".into())
            }
        }
    }

    /// The upstream failed after the response head left (`fail_to_proxy`). While no body byte
    /// has left, the rest of the answer: the FAILURE message `refuse` would write, or the
    /// replacing answer still owed; `None` when bytes left (the connection is cut) or nothing
    /// is owed. (Added with tests/proxy_faults.rs.)
    pub fn upstream_failed(&mut self) -> Option<Bytes> {
        let rest = match &mut self.mode {
            Mode::Replace(answer) => answer.take(),
            Mode::Check if self.released == 0 && !self.empty_expected => {
                self.refused = Some("the upstream failed before the body was whole".into());
                self.held = Vec::new();
                self.scanner = None;
                Some(Bytes::from(status_message(
                    &self.failure_ctx,
                    StatusType::Failure,
                    &Detail::None,
                )))
            }
            Mode::Check | Mode::Discard => None,
        };
        self.mode = Mode::Discard;
        rest
    }

    fn refuse(&mut self, body: &mut Option<Bytes>, why: String) -> Result<()> {
        self.refused = Some(why.clone());
        self.held = Vec::new();
        self.scanner = None;
        if self.released > 0 || self.empty_expected {
            // Bytes already left (or the dialect has no body to say it in): cut the response.
            self.mode = Mode::Discard;
            return Err(Error::explain(
                ErrorType::HTTPStatus(502),
                format!("response refused: {why}"),
            ));
        }
        // The status line (200) and TAXII headers of the request's dialect already left; a
        // FAILURE message in that dialect completes a valid answer.
        *body = Some(Bytes::from(status_message(
            &self.failure_ctx,
            StatusType::Failure,
            &Detail::None,
        )));
        self.mode = Mode::Discard;
        Ok(())
    }
}

/// The qualified name of the root element a message head starts (after any XML declaration,
/// comments and processing instructions).
fn root_qname(head: &[u8]) -> Option<String> {
    let mut at = 0;
    loop {
        let lt = at + head.get(at..)?.iter().position(|&b| b == b'<')?;
        match head.get(lt + 1)? {
            b'?' | b'!' => {
                at = lt + 1;
                // Skip to the end of the declaration, comment or instruction.
                let end = if head[lt..].starts_with(b"<!--") {
                    find(&head[lt..], b"-->")? + 3
                } else {
                    head[lt..].iter().position(|&b| b == b'>')? + 1
                };
                at = at.max(lt + end);
            }
            _ => {
                let rest = &head[lt + 1..];
                let end = rest
                    .iter()
                    .position(|&b| b.is_ascii_whitespace() || b == b'>' || b == b'/')?;
                return std::str::from_utf8(&rest[..end]).ok().map(str::to_string);
            }
        }
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// Whether a poll answer's head holds its begin timestamp's place: the begin itself, or a
/// child that comes after it.
fn reaches_begin(env: &Envelope) -> bool {
    const AT_OR_AFTER: [&str; 13] = [
        "begin-timestamp",
        "end-timestamp",
        "subscription-id",
        "message",
        "content-binding",
        "Inclusive_Begin_Timestamp",
        "Exclusive_Begin_Timestamp",
        "Inclusive_End_Timestamp",
        "Subscription_ID",
        "Message",
        "Source_Subscription",
        "Record_Count",
        "Content_Block",
    ];
    env.root_children
        .iter()
        .any(|c| AT_OR_AFTER.contains(&c.name))
}
