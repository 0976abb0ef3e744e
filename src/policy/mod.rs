//! Policy: who may do what to which feed. A decision is a pure function of the policy snapshot,
//! the partner, the envelope, the route's inbox feed and the time.
//!
//! - [`load`](Policy::load): policy files (TOML) into a validated, immutable [`Policy`];
//! - lookups by credential: [`Policy::partner_by_basic`], [`Policy::partner_by_token`],
//!   [`Policy::partner_by_certificate`], [`Policy::anonymous`];
//! - [`action_of`]: the action a message asks for (the table below);
//! - [`decide`]: allow (naming the grant) or deny (saying what was missing), default deny;
//! - [`visible_feeds`], [`allowed_actions`]: what response filtering needs.
//!
//! Actions, per message (every dialect; Draft 1 name / 1.0 name / 1.1 name):
//!
//! | message | action |
//! |---|---|
//! | `TAXII_DiscoveryRequest` / `Discovery_Request` / `Discovery_Request` | `discover` |
//! | `TAXII_FeedInformationRequest` / `Feed_Information_Request` / `Collection_Information_Request` | `feed_info` |
//! | Subscription Management Request, action `SUBSCRIBE` | `subscribe` |
//! | Subscription Management Request, any other action (`UNSUBSCRIBE`, `PAUSE`, `RESUME`, `MODIFY`, `STATUS`, `QUERY`) | `manage_subscription` |
//! | `TAXII_PollRequest` / `Poll_Request` / `Poll_Request`, and 1.1 `Poll_Fulfillment` | `poll` |
//! | `TAXII_STIXMessage` / `Inbox_Message` / `Inbox_Message` | `push` |
//! | every response and status message, Draft 1 `TAXII_SubscriptionAlert` | none: denied |

mod load;
mod model;

use crate::taxii::values;
use crate::taxii::{Dialect, Envelope, MessageKind, Refusal, RejectKind};

pub use model::{
    hash_secret, hash_token, normalize_subject, AddressRule, CertificateMatch, FeedPattern, Grant,
    GrantRef, HeaderRules, Origin, Partner, Policy, Rate,
};

/// What a partner may ask for (DESIGN.md, "Configuration contract").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Action {
    Discover,
    FeedInfo,
    Subscribe,
    ManageSubscription,
    Poll,
    Push,
}

impl Action {
    pub const ALL: [Action; 6] = [
        Action::Discover,
        Action::FeedInfo,
        Action::Subscribe,
        Action::ManageSubscription,
        Action::Poll,
        Action::Push,
    ];

    /// The name policy files use.
    pub fn name(self) -> &'static str {
        match self {
            Action::Discover => "discover",
            Action::FeedInfo => "feed_info",
            Action::Subscribe => "subscribe",
            Action::ManageSubscription => "manage_subscription",
            Action::Poll => "poll",
            Action::Push => "push",
        }
    }

    pub fn from_name(name: &str) -> Option<Action> {
        Action::ALL.into_iter().find(|a| a.name() == name)
    }

    /// Whether the action is decided per feed. Discovery and feed information requests name
    /// no feed: any grant of the action allows them (their responses are filtered instead).
    pub fn is_feed_level(self) -> bool {
        !matches!(self, Action::Discover | Action::FeedInfo)
    }

    fn bit(self) -> u8 {
        1 << (self as u8)
    }
}

impl std::fmt::Display for Action {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// A set of actions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct ActionSet(u8);

impl ActionSet {
    pub const EMPTY: ActionSet = ActionSet(0);
    pub const ALL: ActionSet = ActionSet(0b11_1111);

    pub fn of(actions: &[Action]) -> ActionSet {
        actions.iter().fold(ActionSet::EMPTY, |mut s, a| {
            s.insert(*a);
            s
        })
    }

    pub fn contains(self, action: Action) -> bool {
        self.0 & action.bit() != 0
    }

    pub fn insert(&mut self, action: Action) {
        self.0 |= action.bit();
    }

    pub fn union(self, other: ActionSet) -> ActionSet {
        ActionSet(self.0 | other.0)
    }

    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    pub fn iter(self) -> impl Iterator<Item = Action> {
        Action::ALL.into_iter().filter(move |a| self.contains(*a))
    }
}

/// What policy says of one message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Allowed by this grant (for a message naming several feeds: the grant of the first).
    /// `clamp_begin`: a poll asking further back than the grant allows, allowed because the
    /// grant clamps (`poll_window = "clamp"`): serve it from this instant (Unix seconds).
    Allow {
        grant: GrantRef,
        clamp_begin: Option<i64>,
    },
    /// Denied. `missing` says in words what no grant gives (safe to show the partner: it names
    /// the action, the feed and the values the partner sent, never the policy's files or other
    /// feeds). `grant` is the grant that allowed the action on the feed but whose narrowing
    /// refused the message, when that is why.
    Deny {
        reason: DenyReason,
        missing: String,
        grant: Option<GrantRef>,
    },
}

impl Decision {
    pub fn is_allow(&self) -> bool {
        matches!(self, Decision::Allow { .. })
    }
}

/// Why a message was denied.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DenyReason {
    /// Not a request a client may send: responses, status messages, Draft 1 subscription
    /// alerts (a server sends those).
    NotARequest,
    /// Service level: no grant of the partner holds the action at all.
    Service,
    /// Feed level: the action is granted, but not on (every one of) the feed(s) the message
    /// names, or the route of a push names no inbox feed and no grant covers `*`.
    Feed,
    /// A grant allows the action on the feed, but not the content bindings asked for or sent.
    ContentBinding,
    /// A grant allows the action on the feed, but not the delivery address.
    DeliveryAddress,
    /// A grant allows the poll, but not that far back (or without a begin timestamp).
    PollWindow,
}

impl DenyReason {
    /// The answer, per DESIGN.md "Errors, per dialect": service level is 403 (Draft 1) or
    /// `UNAUTHORIZED`; feed level `UNAUTHORIZED`; with `conceal`, both as not found. Narrowing
    /// refusals concern a feed the partner may use, so they are never concealed.
    pub fn refusal(self, conceal: bool) -> Refusal {
        match self {
            DenyReason::NotARequest => Refusal::Rejected(RejectKind::UnknownMessage),
            DenyReason::Service => Refusal::ServiceDenied { conceal },
            DenyReason::Feed => Refusal::FeedDenied { conceal },
            DenyReason::ContentBinding | DenyReason::DeliveryAddress | DenyReason::PollWindow => {
                Refusal::FeedDenied { conceal: false }
            }
        }
    }
}

/// The action a message asks for; `None` for anything that is not a client's request.
pub fn action_of(envelope: &Envelope) -> Option<Action> {
    match envelope.kind {
        MessageKind::DiscoveryRequest => Some(Action::Discover),
        MessageKind::FeedInformationRequest => Some(Action::FeedInfo),
        MessageKind::SubscriptionManagementRequest => {
            let action = envelope.action.as_ref()?;
            // Draft 1 Services §4.2.6, 1.0 Services §3.4.6, 1.1 Services §4.4.6.
            Some(if values::collapse(&action.value) == "SUBSCRIBE" {
                Action::Subscribe
            } else {
                Action::ManageSubscription
            })
        }
        MessageKind::PollRequest | MessageKind::PollFulfillment => Some(Action::Poll),
        MessageKind::InboxMessage => Some(Action::Push),
        MessageKind::StatusMessage
        | MessageKind::DiscoveryResponse
        | MessageKind::FeedInformationResponse
        | MessageKind::SubscriptionManagementResponse
        | MessageKind::PollResponse
        | MessageKind::SubscriptionAlert => None,
    }
}

/// A Draft 1 timestamp without a zone is read as the earliest instant it can be (UTC+14), so
/// that a poll window is never widened by the missing zone.
const MAX_ZONE_OFFSET_SECONDS: i64 = 14 * 3600;

/// Decides one request of `partner` (which must be one of `policy`'s).
///
/// Default deny. The action comes from [`action_of`]; without any grant of it the denial is
/// service level. Discovery and feed information are allowed by any grant of the action.
/// Everything else is decided per feed, and every feed must be allowed (DESIGN.md, "Policy
/// semantics"):
///
/// - subscription management, poll request, poll fulfillment: the feed/collection the message
///   names;
/// - a 1.1 `Inbox_Message` naming destination collections: each of them (its
///   `Source_Subscription` names the sender's collection and is not decided on);
/// - a 1.0 `Inbox_Message`, a Draft 1 `TAXII_STIXMessage`, and a 1.1 `Inbox_Message` without
///   destinations carry no destination (1.0 Services §3.4.10, Draft 1 Services §4.2.10): they are
///   decided on the route's inbox feed, `route_inbox_feed`; when the route names none, only a
///   grant of `push` on `*` allows them.
///
/// For each feed some grant holding the action and covering the feed must also pass its
/// narrowing ([`Grant::content_bindings`], [`Grant::delivery_addresses`],
/// [`Grant::max_poll_window_seconds`]); `now_unix` is the time for the poll window.
pub fn decide(
    policy: &Policy,
    partner: &Partner,
    envelope: &Envelope,
    route_inbox_feed: Option<&str>,
    now_unix: u64,
) -> Decision {
    debug_assert!(
        policy
            .partner_at(partner.index)
            .is_some_and(|p| p.id == partner.id),
        "partner {} is not one of this policy's",
        partner.id
    );
    let deny = |reason, missing: String| Decision::Deny {
        reason,
        missing,
        grant: None,
    };
    let grant_ref = |grant: usize| GrantRef {
        partner: partner.index,
        grant,
    };
    let Some(action) = action_of(envelope) else {
        return deny(
            DenyReason::NotARequest,
            format!("{} is not a request a client may send", envelope.message),
        );
    };
    if !partner.actions.contains(action) {
        return deny(DenyReason::Service, format!("no grant of {action}"));
    }
    if !action.is_feed_level() {
        let i = partner
            .grants
            .iter()
            .position(|g| g.actions.contains(action))
            .unwrap_or(0);
        return Decision::Allow {
            grant: grant_ref(i),
            clamp_begin: None,
        };
    }

    // The feeds to decide on.
    let mut first: Option<usize> = None;
    let mut clamp_begin: Option<i64> = None;
    let mut decide_feed = |name: Option<&str>| -> Result<(), Decision> {
        let mut refused: Option<(usize, DenyReason, String)> = None;
        let mut covered = false;
        for (i, g) in partner.grants.iter().enumerate() {
            if !g.actions.contains(action) {
                continue;
            }
            let covers = match name {
                Some(n) => g.covers(n),
                None => g.feeds.iter().any(FeedPattern::is_any),
            };
            if !covers {
                continue;
            }
            covered = true;
            match narrowing(g, action, envelope, now_unix) {
                Ok(clamp) => {
                    first.get_or_insert(i);
                    if let Some(c) = clamp {
                        clamp_begin = Some(clamp_begin.map_or(c, |b: i64| b.max(c)));
                    }
                    return Ok(());
                }
                Err((reason, why)) => {
                    refused.get_or_insert((i, reason, why));
                }
            }
        }
        Err(match (covered, refused) {
            (true, Some((i, reason, missing))) => Decision::Deny {
                reason,
                missing,
                grant: Some(grant_ref(i)),
            },
            _ => deny(
                DenyReason::Feed,
                match name {
                    Some(n) => format!("no grant of {action} on feed {n:?}"),
                    None => format!(
                        "no grant of {action} on every feed (\"*\"): this service names no inbox feed"
                    ),
                },
            ),
        })
    };

    let result = if action == Action::Push {
        if envelope.dialect == Dialect::V11 && !envelope.destinations.is_empty() {
            // 1.1 Services §4.4.10: the sender asks for the content to be added to every
            // Destination Collection Name.
            envelope
                .destinations
                .iter()
                .try_for_each(|d| decide_feed(Some(&d.value)))
        } else {
            decide_feed(route_inbox_feed)
        }
    } else if envelope.feeds.is_empty() {
        Err(deny(
            DenyReason::Feed,
            format!("{} names no feed", envelope.message),
        ))
    } else {
        envelope
            .feeds
            .iter()
            .try_for_each(|f| decide_feed(Some(&f.value)))
    };
    match (result, first) {
        (Ok(()), Some(i)) => Decision::Allow {
            grant: grant_ref(i),
            clamp_begin,
        },
        (Err(d), _) => d,
        (Ok(()), None) => deny(DenyReason::Feed, format!("no grant of {action}")),
    }
}

/// A grant's narrowing, applied to a message whose action and feed it allows. `Ok(Some(t))`:
/// allowed once the poll's begin is clamped to `t` (the grant clamps instead of refusing).
fn narrowing(
    grant: &Grant,
    action: Action,
    envelope: &Envelope,
    now_unix: u64,
) -> Result<Option<i64>, (DenyReason, String)> {
    // Content bindings: of the content pushed, of the content a poll or a subscription asks
    // for. Naming none in a poll (without a subscription) or a subscription asks for every
    // binding ("all content bindings are acceptable": 1.0 XML Binding §3.8, 1.0 XML Binding
    // §3.6 `Push_Parameters`; 1.1 Services §4.4.6, §4.4.8): refused when the grant lists some.
    // A Draft 1 poll without a subscription always names one (XML Binding §3.8). A poll by
    // subscription id gets what the subscription was allowed when it was made.
    if !grant.content_bindings.is_empty() && action != Action::Discover {
        if envelope.content_bindings.is_empty() {
            let asks_all = match action {
                Action::Poll => {
                    envelope.kind == MessageKind::PollRequest
                        && envelope.subscription_ids.is_empty()
                }
                Action::Subscribe => true,
                _ => false,
            };
            if asks_all {
                return Err((
                    DenyReason::ContentBinding,
                    format!(
                        "no content binding named, which asks for every one; allowed: {}",
                        grant.content_bindings.join(", ")
                    ),
                ));
            }
        }
        if let Some(b) = envelope
            .content_bindings
            .iter()
            .find(|b| !grant.content_bindings.contains(b))
        {
            return Err((
                DenyReason::ContentBinding,
                format!("content binding {b:?} is not allowed"),
            ));
        }
    }

    // Delivery addresses: an upstream must never be steered into pushing anywhere the operator
    // did not allow (DESIGN.md, "Policy semantics").
    if let Some(a) = envelope
        .delivery_addresses
        .iter()
        .find(|a| !grant.delivery_addresses.iter().any(|r| r.allows(&a.value)))
    {
        return Err((
            DenyReason::DeliveryAddress,
            format!("delivery address {:?} is not allowed", a.value),
        ));
    }

    if let (Action::Poll, MessageKind::PollRequest, Some(window)) =
        (action, envelope.kind, grant.max_poll_window_seconds)
    {
        let oldest = i64::try_from(now_unix)
            .unwrap_or(i64::MAX)
            .saturating_sub(i64::try_from(window).unwrap_or(i64::MAX));
        let begin = envelope
            .begin_timestamp
            .as_ref()
            .and_then(|b| values::timestamp_unix(&b.value))
            .map(|(secs, zoned)| {
                if zoned {
                    secs
                } else {
                    secs - MAX_ZONE_OFFSET_SECONDS
                }
            });
        if grant.clamp_poll_window && begin.is_none_or(|b| b < oldest) {
            return Ok(Some(oldest));
        }
        match begin {
            None => {
                return Err((
                    DenyReason::PollWindow,
                    format!(
                        "a poll without a begin timestamp asks for everything; at most {window} s back is allowed"
                    ),
                ))
            }
            Some(b) if b < oldest => {
                return Err((
                    DenyReason::PollWindow,
                    format!("the poll begins more than {window} s ago"),
                ))
            }
            Some(_) => {}
        }
    }
    Ok(None)
}

/// Whether the partner may see a feed in a Feed/Collection Information response: it holds a
/// grant (of any action) on it. A grant that holds only `discover` and names no feed makes no
/// feed visible.
pub fn visible_feeds<'a>(_policy: &'a Policy, partner: &'a Partner) -> impl Fn(&str) -> bool + 'a {
    move |name: &str| partner.grants.iter().any(|g| g.covers(name))
}

/// Every action any of the partner's grants holds (for filtering discovery responses).
pub fn allowed_actions(partner: &Partner) -> ActionSet {
    partner.actions
}
