//! Response rewriting per partner (issue "Partners and policy", item 5): what a partner sees of
//! the services and feeds behind the gateway.
//!
//! - **Discovery responses** lose the service instances the plan says the partner cannot use, and
//!   every remaining address is rewritten from the upstream's to the gateway's public one.
//! - **Feed / Collection Information responses** (Draft 1 `feed`, 1.0 `Feed`, 1.1 `Collection`)
//!   lose the records of the feeds the partner holds no grant on; the addresses of the service
//!   records in the kept ones (`Polling_Service`, `Subscription_Service`,
//!   `Receiving_Inbox_Service`) are rewritten.
//! - **Subscription Management responses**: `Poll_Instance` addresses (1.0/1.1) are rewritten.
//!
//! An address the plan cannot map is dropped with its record, so that a client never learns a
//! way around the gateway. The rewrite splices byte ranges the envelope scan recorded
//! ([`Envelope::services`], [`Envelope::feed_records`]): every byte outside the edited ranges is
//! kept as it was, nothing is re-serialised. A dropped record takes the white space run before it
//! along, so that pretty-printed output stays tidy. Every other message, and every other part of
//! these ones, is left alone. A signed message (`ds:Signature`) is never rewritten: it is
//! reported as [`Outcome::Signed`] and the caller decides (issue "Message rewriting", item 5).
//!
//! Pure, no I/O: one pass over the records (sorting the edits), one copy of the body.

use std::fmt;
use std::ops::Range;

use super::dialect::Dialect;
use super::envelope::{Envelope, MessageKind, ServiceRef};
use super::skip::is_xml_char;
use super::values::collapse;

/// The public names under which a feed record is listed.
pub type FeedAliases<'a> = dyn Fn(&str) -> Vec<String> + 'a;

/// What one partner may see, and where the gateway is.
pub struct RewritePlan<'a> {
    /// Whether the partner may see a service record. Called for every service record of the
    /// message, outside dropped feeds: Discovery `service-instance` / `Service_Instance`, and the
    /// `Polling_Service`, `Subscription_Service`, `Receiving_Inbox_Service` and `Poll_Instance`
    /// records ([`ServiceRef::element`] says which; [`ServiceRef::service_type`] is implied by
    /// the element for those).
    pub keep_service: &'a dyn Fn(&ServiceRef) -> bool,
    /// Whether the partner may see a feed or collection, by its name exactly as sent.
    pub keep_feed: &'a dyn Fn(&str) -> bool,
    /// The gateway's public address for an upstream service address (given whitespace-collapsed,
    /// with character references resolved), or `None` when the gateway does not serve it: the
    /// record is then dropped. The result is written XML-escaped; a result that is empty or
    /// holds control characters counts as `None`.
    pub map_address: &'a dyn Fn(&str) -> Option<String>,
    /// The public names under which a Feed/Collection Information record is shown, given its
    /// name as sent; `None` (the default) shows each record under its own name. Each alias is
    /// kept when [`RewritePlan::keep_feed`] holds for it; for each kept alias other than the
    /// record's own name, a copy of the whole record (its service records dropped and mapped
    /// like the original's) is inserted right after it with the name replaced. When the
    /// record's own name is not among the kept aliases, the copies take its place. An alias
    /// that is empty or holds characters XML cannot carry is left out.
    pub feed_aliases: Option<&'a FeedAliases<'a>>,
}

fn keep_every_service(_: &ServiceRef) -> bool {
    true
}

fn keep_every_feed(_: &str) -> bool {
    true
}

impl<'a> RewritePlan<'a> {
    /// A plan that keeps every record and maps every address with `map_address`.
    pub fn new(map_address: &'a dyn Fn(&str) -> Option<String>) -> RewritePlan<'a> {
        RewritePlan {
            keep_service: &keep_every_service,
            keep_feed: &keep_every_feed,
            map_address,
            feed_aliases: None,
        }
    }

    pub fn feed_aliases(mut self, feed_aliases: &'a dyn Fn(&str) -> Vec<String>) -> Self {
        self.feed_aliases = Some(feed_aliases);
        self
    }

    pub fn keep_services(mut self, keep_service: &'a dyn Fn(&ServiceRef) -> bool) -> Self {
        self.keep_service = keep_service;
        self
    }

    pub fn keep_feeds(mut self, keep_feed: &'a dyn Fn(&str) -> bool) -> Self {
        self.keep_feed = keep_feed;
        self
    }
}

/// What became of the body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Nothing to change: send the body as it is.
    Unchanged,
    /// The new body.
    Rewritten(Vec<u8>),
    /// The message carries a `ds:Signature` and the plan calls for changes (the counts say
    /// which): the body was not touched. Passing it on unchanged shows the partner the upstream's
    /// addresses and the feeds it holds no grant on; refusing it is the caller's choice.
    Signed,
}

impl Outcome {
    /// The body to send: the new one, or `original` when unchanged or signed.
    pub fn body<'b>(&'b self, original: &'b [u8]) -> &'b [u8] {
        match self {
            Outcome::Rewritten(body) => body,
            Outcome::Unchanged | Outcome::Signed => original,
        }
    }

    /// True when the body was rewritten.
    pub fn changed(&self) -> bool {
        matches!(self, Outcome::Rewritten(_))
    }
}

/// The result of [`rewrite_response`], with counts for audit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rewritten {
    pub outcome: Outcome,
    /// Feed/collection records dropped: no grant, or (1.0) every `Polling_Service` of the feed
    /// dropped, which would leave the record without the means of delivery 1.0 requires.
    pub feeds_dropped: usize,
    /// Service records dropped (outside dropped feeds), for either reason.
    pub services_dropped: usize,
    /// Of those, the records dropped because their address could not be mapped.
    pub unmapped_addresses: usize,
    /// Addresses rewritten (an address the mapper leaves as it was is not counted).
    pub addresses_rewritten: usize,
    /// Copies of feed/collection records inserted under an alias ([`RewritePlan::feed_aliases`]).
    pub feeds_aliased: usize,
}

impl Rewritten {
    /// The body to send: the new one, or `original` when unchanged or signed.
    pub fn body<'b>(&'b self, original: &'b [u8]) -> &'b [u8] {
        self.outcome.body(original)
    }

    /// True when the body was rewritten.
    pub fn changed(&self) -> bool {
        self.outcome.changed()
    }
}

/// The envelope does not describe this body (it was scanned from another one, or from a stream
/// with other offsets): nothing can be spliced, and the caller must not pass the body on as if it
/// had been filtered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RewriteError {
    pub detail: String,
}

impl fmt::Display for RewriteError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "the envelope does not match the response body: {}",
            self.detail
        )
    }
}

impl std::error::Error for RewriteError {}

/// One splice: the bytes of `range` give way to `text`, or, for `None`, a dropped record goes
/// with the white space before it.
struct Edit {
    range: Range<usize>,
    text: Option<String>,
}

/// What becomes of one service record.
enum Decision {
    Keep,
    Rewrite(String),
    Drop { unmapped: bool },
}

/// Rewrites a Discovery, Feed/Collection Information or Subscription Management response for one
/// partner, following `plan` (see the module documentation). `envelope` is the scan of exactly
/// `body` ([`super::scan_body`], or [`super::StreamScanner`] fed the whole body from its start).
/// Every other message comes back [`Outcome::Unchanged`].
pub fn rewrite_response(
    body: &[u8],
    envelope: &Envelope,
    plan: &RewritePlan<'_>,
) -> Result<Rewritten, RewriteError> {
    let mut out = Rewritten {
        outcome: Outcome::Unchanged,
        feeds_dropped: 0,
        services_dropped: 0,
        unmapped_addresses: 0,
        addresses_rewritten: 0,
        feeds_aliased: 0,
    };
    if !matches!(
        envelope.kind,
        MessageKind::DiscoveryResponse
            | MessageKind::FeedInformationResponse
            | MessageKind::SubscriptionManagementResponse
    ) {
        return Ok(out);
    }
    let feeds = &envelope.feed_records;
    for f in feeds {
        check_span(body, &f.span, "feed record")?;
    }
    for s in &envelope.services {
        check_span(body, &s.span, "service record")?;
        if !s.address.span.is_empty() {
            check_span(body, &s.address.span, "service address")?;
        }
    }

    // Per feed: whether its own record stays, and the aliases it is copied under.
    let mut keep_own = Vec::with_capacity(feeds.len());
    let mut copies: Vec<Vec<String>> = Vec::with_capacity(feeds.len());
    for f in feeds {
        let name = &f.name.value;
        match plan.feed_aliases {
            None => {
                keep_own.push((plan.keep_feed)(name));
                copies.push(Vec::new());
            }
            Some(aliases) => {
                let mut own = false;
                let mut extra: Vec<String> = Vec::new();
                for alias in aliases(name) {
                    if !(plan.keep_feed)(&alias) {
                        continue;
                    }
                    if alias == *name {
                        own = true;
                    } else if !alias.is_empty()
                        && alias.chars().all(|c| !c.is_control() && is_xml_char(c))
                        && !extra.contains(&alias)
                    {
                        extra.push(alias);
                    }
                }
                keep_own.push(own);
                copies.push(extra);
            }
        }
    }
    let mut keep_feed: Vec<bool> = keep_own
        .iter()
        .zip(&copies)
        .map(|(own, extra)| *own || !extra.is_empty())
        .collect();
    // Per feed: its Polling_Service records, and how many of them are dropped (the 1.0 rule).
    let mut polling = vec![(0u32, 0u32); feeds.len()];
    let mut decisions = Vec::with_capacity(envelope.services.len());
    for s in &envelope.services {
        // The feed record holding the service, if any (records are in document order, and
        // neither feeds nor services nest in their own kind).
        let i = feeds.partition_point(|f| f.span.start <= s.span.start);
        let owner = (i > 0 && feeds[i - 1].span.end >= s.span.end).then(|| i - 1);
        if owner.is_some_and(|i| !keep_feed[i]) {
            continue;
        }
        let decision = decide(s, plan);
        if let Some(i) = owner {
            if s.element == "Polling_Service" {
                polling[i].0 += 1;
                if matches!(decision, Decision::Drop { .. }) {
                    polling[i].1 += 1;
                }
            }
        }
        decisions.push((owner, s, decision));
    }
    // 1.0 XML Binding §3.5: a Feed lists a Push_Method or a Polling_Service. A feed whose polling
    // services are all gone may be left with neither (the envelope does not record push
    // methods): drop it rather than send a record 1.0 clients may refuse.
    if envelope.dialect == Dialect::V10 {
        for (i, &(total, dropped)) in polling.iter().enumerate() {
            if total > 0 && total == dropped {
                keep_feed[i] = false;
            }
        }
    }

    let mut edits = Vec::new();
    // Service edits inside records that are copied, per feed (offsets in the body).
    let mut inner: Vec<Vec<Edit>> = (0..feeds.len()).map(|_| Vec::new()).collect();
    for (f, keep) in feeds.iter().zip(&keep_feed) {
        if !keep {
            out.feeds_dropped += 1;
            edits.push(Edit {
                range: f.span.clone(),
                text: None,
            });
        }
    }
    for (owner, s, decision) in decisions {
        if owner.is_some_and(|i| !keep_feed[i]) {
            continue;
        }
        let target = match owner {
            Some(i) if !copies[i].is_empty() => &mut inner[i],
            _ => &mut edits,
        };
        match decision {
            Decision::Keep => {}
            Decision::Rewrite(text) => {
                out.addresses_rewritten += 1;
                target.push(Edit {
                    range: s.address.span.clone(),
                    text: Some(text),
                });
            }
            Decision::Drop { unmapped } => {
                out.services_dropped += 1;
                out.unmapped_addresses += usize::from(unmapped);
                target.push(Edit {
                    range: s.span.clone(),
                    text: None,
                });
            }
        }
    }
    // Records shown under aliases: the record, edited, then a copy per alias.
    for (i, f) in feeds.iter().enumerate() {
        if !keep_feed[i] || copies[i].is_empty() {
            continue;
        }
        check_span(body, &f.name.span, "feed name")?;
        let base = f.span.start;
        let relative = |e: &Edit| Edit {
            range: e.range.start - base..e.range.end - base,
            text: e.text.clone(),
        };
        let mut own: Vec<Edit> = inner[i].iter().map(relative).collect();
        own.sort_unstable_by_key(|e| e.range.start);
        let record = &body[f.span.clone()];
        let mut space = base;
        while space > 0 && matches!(body[space - 1], b' ' | b'\t' | b'\n' | b'\r') {
            space -= 1;
        }
        let space = &body[space..base];
        let mut text: Vec<u8> = Vec::new();
        if keep_own[i] {
            text.extend(splice(record, &own)?);
        }
        for alias in &copies[i] {
            let mut with_name: Vec<Edit> = own
                .iter()
                .map(|e| Edit {
                    range: e.range.clone(),
                    text: e.text.clone(),
                })
                .collect();
            with_name.push(Edit {
                range: f.name.span.start - base..f.name.span.end - base,
                text: Some(escape_attribute(alias)),
            });
            with_name.sort_unstable_by_key(|e| e.range.start);
            if !text.is_empty() {
                text.extend_from_slice(space);
            }
            text.extend(splice(record, &with_name)?);
            out.feeds_aliased += 1;
        }
        edits.push(Edit {
            range: f.span.clone(),
            text: Some(String::from_utf8_lossy(&text).into_owned()),
        });
    }
    if edits.is_empty() {
        return Ok(out);
    }
    if envelope.signed {
        out.outcome = Outcome::Signed;
        return Ok(out);
    }
    edits.sort_unstable_by_key(|e| e.range.start);
    out.outcome = Outcome::Rewritten(splice(body, &edits)?);
    Ok(out)
}

fn check_span(body: &[u8], span: &Range<usize>, what: &str) -> Result<(), RewriteError> {
    if span.start <= span.end && span.end <= body.len() {
        Ok(())
    } else {
        Err(RewriteError {
            detail: format!(
                "{what} at {}..{} outside a body of {} bytes",
                span.start,
                span.end,
                body.len()
            ),
        })
    }
}

fn decide(s: &ServiceRef, plan: &RewritePlan<'_>) -> Decision {
    if !(plan.keep_service)(s) {
        return Decision::Drop { unmapped: false };
    }
    let current = collapse(&s.address.value);
    // An empty address has no text to splice (its span is empty): nothing a client could use.
    if s.address.span.is_empty() || current.is_empty() {
        return Decision::Drop { unmapped: true };
    }
    let Some(mapped) = (plan.map_address)(current) else {
        return Decision::Drop { unmapped: true };
    };
    let mapped = collapse(&mapped);
    if mapped.is_empty() || mapped.chars().any(|c| c.is_control() || !is_xml_char(c)) {
        return Decision::Drop { unmapped: true };
    }
    if mapped == current {
        Decision::Keep
    } else {
        Decision::Rewrite(escape(mapped))
    }
}

/// Character data for `s`: `&`, `<` and `>` (for `]]>`) as references.
fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            c => out.push(c),
        }
    }
    out
}

/// An attribute value for `s` in either quote.
fn escape_attribute(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\t' => out.push_str("&#9;"),
            '\n' => out.push_str("&#10;"),
            '\r' => out.push_str("&#13;"),
            c => out.push(c),
        }
    }
    out
}

/// The body with `edits` (sorted by start) applied.
fn splice(body: &[u8], edits: &[Edit]) -> Result<Vec<u8>, RewriteError> {
    let mut out = Vec::with_capacity(body.len());
    let mut at = 0;
    for e in edits {
        if e.range.start < at {
            return Err(RewriteError {
                detail: format!("records overlap at {}..{}", e.range.start, e.range.end),
            });
        }
        let mut start = e.range.start;
        match &e.text {
            Some(text) => {
                out.extend_from_slice(&body[at..start]);
                out.extend_from_slice(text.as_bytes());
            }
            None => {
                // Between envelope elements there is only white space (and comments): take the
                // run before the record along.
                while start > at && matches!(body[start - 1], b' ' | b'\t' | b'\n' | b'\r') {
                    start -= 1;
                }
                out.extend_from_slice(&body[at..start]);
            }
        }
        at = e.range.end;
    }
    out.extend_from_slice(&body[at..]);
    Ok(out)
}
