//! The operator's rewriting rules applied to one exchange (issue "Message rewriting"): virtual
//! feeds, extended header rules, the `Message` of pushes, poll window clamping, and which
//! upstream a message goes to. Pure: the proxy and `policy explain` both call it, so that
//! `explain` shows exactly the rewrites the gateway makes.
//!
//! - **Virtual feeds** (`[[feed]] public, upstream, name`): a request naming a public name is
//!   rewritten toward the upstream's name and sent to that upstream; the answer is rewritten
//!   back to the name the partner used. Policy decides on the public names, before any rewrite.
//!   A message whose feeds live on different upstreams is refused.
//! - **Header rules**: the route's (`strip_headers`, `partner_header`), then the allowing
//!   grant's added to them.
//! - **Push message**: the grant's `push_message`, else the route's, set as the `Message` of
//!   every push.
//! - **Poll window**: a grant with `poll_window = "clamp"` moves the begin of a poll asking too
//!   far back (policy says where to, [`crate::policy::Decision::Allow`]`::clamp_begin`).
//! - **Signed messages** (`ds:Signature`) are never rewritten: the route's `signed_messages`
//!   refuses them or passes them unchanged.

use crate::config::{GatewayConfig, Route, SignedMessages};
use crate::policy::{Grant, HeaderRules, Partner};
use crate::taxii::edit::{edit_draft1_query, edit_message, Rules, StripHeaders, Window};
use crate::taxii::{Dialect, Envelope, MessageKind, Outcome};

/// What the rules make of one request.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RequestPlan {
    /// The upstream (index into [`GatewayConfig::upstreams`]) the message goes to.
    pub upstream: usize,
    /// (public, upstream) feed names renamed in the request: the answer is renamed back.
    pub renamed: Vec<(String, String)>,
    /// The body to send instead of the partner's, when a rule changed it.
    pub body: Option<Vec<u8>>,
    /// The query to send instead of the partner's (Draft 1 GET extended headers).
    pub query: Option<String>,
    /// What was done, in words (audit record, `policy explain`).
    pub rewrites: Vec<String>,
    /// A signed message a rule would have changed, passed unchanged.
    pub signed_passed: bool,
    /// The poll window served after clamping.
    pub window: Option<Window>,
    /// The begin served (Unix seconds), to say in the answer.
    pub served_begin: Option<i64>,
}

/// Why the rules refuse a request (said to the partner as DENIED).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleRefusal(pub String);

/// Plans the rewrites of one request that policy allowed. `body` is the message as the
/// partner sent it and `envelope` its scan; `query` the request's query string (Draft 1 GET).
#[allow(clippy::too_many_arguments)]
pub fn plan_request(
    config: &GatewayConfig,
    route: &Route,
    partner: &Partner,
    grant: Option<&Grant>,
    clamp_begin: Option<i64>,
    envelope: &Envelope,
    body: &[u8],
    query: Option<&str>,
) -> Result<RequestPlan, RuleRefusal> {
    let mut plan = RequestPlan {
        upstream: route.upstream,
        ..RequestPlan::default()
    };

    // Every grant the message rests on: the one policy names, then any other of the partner's
    // holding the action on a feed the message is addressed to (a 1.1 push to several
    // destinations may rest on several); their header rules all apply.
    let action = crate::policy::action_of(envelope);
    let addressed: Vec<&str> = envelope
        .destinations
        .iter()
        .chain(&envelope.feeds)
        .map(|f| f.value.as_str())
        .collect();
    let mut grants: Vec<&Grant> = grant.into_iter().collect();
    for g in &partner.grants {
        let holds = action.is_some_and(|a| g.actions.contains(a));
        if holds
            && addressed.iter().any(|f| g.covers(f))
            && !grants.iter().any(|o| std::ptr::eq(*o, g))
        {
            grants.push(g);
        }
    }
    let no_rules = config.feeds.is_empty()
        && route.headers.is_empty()
        && route.push_message.is_none()
        && clamp_begin.is_none()
        && grants
            .iter()
            .all(|g| g.headers.is_empty() && g.push_message.is_none());
    if no_rules {
        return Ok(plan);
    }

    // Where the message goes: the upstream of each feed it is addressed to.
    let routed: Vec<&str> = match envelope.kind {
        MessageKind::InboxMessage => envelope
            .destinations
            .iter()
            .map(|f| f.value.as_str())
            .collect(),
        MessageKind::PollRequest
        | MessageKind::PollFulfillment
        | MessageKind::SubscriptionManagementRequest => {
            envelope.feeds.iter().map(|f| f.value.as_str()).collect()
        }
        _ => Vec::new(),
    };
    let mut chosen: Option<(usize, &str)> = None;
    for name in &routed {
        let up = config
            .virtual_feed(name)
            .map_or(route.upstream, |v| v.upstream);
        match chosen {
            None => chosen = Some((up, name)),
            Some((other, first)) if other != up => {
                return Err(RuleRefusal(format!(
                    "feeds {first:?} and {name:?} live on different upstreams; send one message per upstream"
                )));
            }
            Some(_) => {}
        }
    }
    if let Some((up, _)) = chosen {
        plan.upstream = up;
    }

    // A name of another upstream (an Inbox Source_Subscription's) is left as it is.
    let upstream = plan.upstream;
    let rename = |name: &str| {
        config
            .virtual_feed(name)
            .filter(|v| v.upstream == upstream)
            .map(|v| v.name.clone())
    };
    let mut headers = route.headers.clone();
    for g in &grants {
        headers = headers.with(&g.headers);
    }
    // The partner id header is the gateway's to write: one a client sent is always removed.
    if let Some(h) = headers.partner_header.clone() {
        if !headers.strip.contains(&h) {
            headers.strip.push(h);
        }
    }
    let strip = strip_of(&headers);
    let add: Vec<(String, String)> = headers
        .partner_header
        .iter()
        .map(|h| (h.clone(), partner.id.clone()))
        .collect();
    let push = grants
        .iter()
        .find_map(|g| g.push_message.as_deref())
        .or(route.push_message.as_deref())
        .filter(|_| envelope.kind == MessageKind::InboxMessage);
    let rules = Rules {
        rename_feed: (!config.feeds.is_empty())
            .then_some(&rename as &dyn Fn(&str) -> Option<String>),
        strip_headers: strip,
        add_headers: &add,
        set_message: push,
        begin_not_before: clamp_begin.filter(|_| envelope.kind == MessageKind::PollRequest),
    };

    // A Draft 1 GET carries its extended headers in the query.
    if envelope.dialect == Dialect::Draft1 && body.is_empty() {
        let q = query.unwrap_or("");
        let edited = edit_draft1_query(q, &rules);
        if edited != q {
            plan.rewrites.push(format!("query {q:?} -> {edited:?}"));
            plan.query = Some(edited);
        }
        return Ok(plan);
    }

    let edited = edit_message(body, envelope, &rules).map_err(|e| RuleRefusal(e.to_string()))?;
    for (from, to) in &edited.renamed {
        if from != to {
            plan.rewrites.push(format!(
                "feed {from:?} -> {to:?} (upstream {})",
                config.upstreams[plan.upstream].name
            ));
        }
    }
    plan.renamed = edited
        .renamed
        .iter()
        .filter(|(a, b)| a != b)
        .cloned()
        .collect();
    if edited.headers_stripped > 0 {
        plan.rewrites.push(format!(
            "extended headers stripped: {}",
            edited.headers_stripped
        ));
    }
    if edited.headers_added > 0 {
        for (name, value) in &add {
            plan.rewrites
                .push(format!("extended header {name:?} = {value:?} added"));
        }
    }
    if edited.headers_refused > 0 {
        plan.rewrites.push(format!(
            "extended headers not addable in {}: {}",
            envelope.dialect, edited.headers_refused
        ));
    }
    if edited.message_set {
        plan.rewrites.push("push message set".into());
    }
    if let Some(w) = &edited.window {
        plan.rewrites.push(format!(
            "poll window clamped: asked from {}, served from {}",
            w.asked.as_deref().unwrap_or("the beginning"),
            w.served
        ));
        plan.served_begin = clamp_begin;
        plan.window = Some(w.clone());
    }
    match edited.outcome {
        Outcome::Unchanged => {}
        Outcome::Rewritten(body) => plan.body = Some(body),
        Outcome::Signed => match route.signed {
            SignedMessages::Refuse => {
                return Err(RuleRefusal(
                    "the message is signed (ds:Signature) and the gateway's rules would change it"
                        .into(),
                ))
            }
            // A window or a header the partner may not send is policy, not presentation: a
            // signature (which the gateway does not check) never gets a message past them.
            SignedMessages::Pass if edited.window.is_some() || edited.headers_stripped > 0 => {
                return Err(RuleRefusal(format!(
                    "the message is signed (ds:Signature) and must be changed ({}); a signed message is never rewritten",
                    if edited.window.is_some() {
                        "its poll window"
                    } else {
                        "extended headers it may not send"
                    }
                )))
            }
            SignedMessages::Pass => {
                plan.rewrites = vec!["signed message passed unchanged (rules not applied)".into()];
                plan.renamed.clear();
                plan.window = None;
                plan.served_begin = None;
                plan.signed_passed = true;
            }
        },
    }
    Ok(plan)
}

fn strip_of(h: &HeaderRules) -> StripHeaders<'_> {
    if h.strips_all() {
        StripHeaders::All
    } else if h.strip.is_empty() {
        StripHeaders::None
    } else {
        StripHeaders::Named(&h.strip)
    }
}

/// The public names under which an upstream's feed record is listed: its own name, then each
/// virtual feed of that upstream naming it (each then kept or not by the partner's grants).
pub fn feed_aliases(config: &GatewayConfig, upstream: usize, name: &str) -> Vec<String> {
    let mut names = vec![name.to_string()];
    for v in &config.feeds {
        if v.upstream == upstream && v.name == name && !names.contains(&v.public) {
            names.push(v.public.clone());
        }
    }
    names
}

/// The name the partner used for an upstream feed name in this exchange, if it was renamed
/// (compared whitespace-collapsed).
pub fn public_name(renamed: &[(String, String)], upstream_name: &str) -> Option<String> {
    let name = crate::taxii::values::collapse(upstream_name);
    renamed
        .iter()
        .find(|(_, to)| to == name)
        .map(|(from, _)| crate::taxii::values::collapse(from).to_string())
}
