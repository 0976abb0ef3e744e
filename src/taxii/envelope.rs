//! The dialect-neutral envelope: what the gateway knows about one TAXII message.

use std::ops::Range;

use serde::Serialize;

use super::dialect::Dialect;

/// A value read from the message, with the byte range of its raw form in the body (the attribute
/// value between the quotes, or the element's text), so that a rewriter can splice it.
/// Values that did not come from the body (Draft 1 GET query parameters) have an empty range.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Field {
    pub value: String,
    pub span: Range<usize>,
}

/// One service a Discovery, Feed/Collection Information or Subscription Management response
/// names, with the address a client would contact.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceRef {
    /// The service type as the dialect spells it (`POLL`, `FEED-MANAGEMENT`,
    /// `COLLECTION_MANAGEMENT`, …). For service records inside feed/collection information it is
    /// implied by the element (`Polling_Service` → `POLL`).
    pub service_type: String,
    /// The element that holds the record (`service-instance`, `Service_Instance`,
    /// `Polling_Service`, `Subscription_Service`, `Receiving_Inbox_Service`, `Poll_Instance`).
    pub element: &'static str,
    pub address: Field,
    /// Byte range of the whole record element, for filtering it out of a response.
    pub span: Range<usize>,
}

/// One feed or collection record of a Feed/Collection Information response (Draft 1 `feed`,
/// 1.0 `Feed`, 1.1 `Collection`), for filtering it out per partner.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FeedRecord {
    /// `@feed-name`, `@feed_name` or `@collection_name`, as sent (also in [`Envelope::feeds`]).
    pub name: Field,
    /// Byte range of the whole record element.
    pub span: Range<usize>,
}

/// One TAXII extended header of the message body, for stripping it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeaderRef {
    /// 1.x: the `@name` of `Extended_Header` (whitespace-collapsed, references resolved);
    /// Draft 1: the local name of the child element of `extended-headers`.
    pub name: String,
    /// Byte range of the whole header element, `<` to the end of its end tag.
    pub span: Range<usize>,
}

/// One child element of the message's root element, for editing the message at its schema
/// positions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChildRef {
    /// The local name as the dialect's grammar spells it (`Extended_Headers`, `begin-timestamp`,
    /// `Signature`, …); `*` for a Draft 1 STIX document.
    pub name: &'static str,
    /// Byte range of the whole element, `<` to the end of its end tag (or of `/>`).
    pub span: Range<usize>,
    /// Text-only elements: the byte range of their character data as written (references and
    /// CDATA sections included); `None` when they hold none, and for other elements.
    pub text: Option<Range<usize>>,
}

/// The kind of message, dialect-neutral (Draft 1 names on the left, DIALECTS.md §2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MessageKind {
    StatusMessage,
    DiscoveryRequest,
    DiscoveryResponse,
    FeedInformationRequest,
    FeedInformationResponse,
    SubscriptionManagementRequest,
    SubscriptionManagementResponse,
    PollRequest,
    PollResponse,
    /// Draft 1 `TAXII_STIXMessage`, 1.x `Inbox_Message`.
    InboxMessage,
    /// 1.1 only.
    PollFulfillment,
    /// Draft 1 XSD only.
    SubscriptionAlert,
}

impl MessageKind {
    /// True for the messages a client sends to a server.
    pub fn is_request(self) -> bool {
        matches!(
            self,
            MessageKind::DiscoveryRequest
                | MessageKind::FeedInformationRequest
                | MessageKind::SubscriptionManagementRequest
                | MessageKind::PollRequest
                | MessageKind::InboxMessage
                | MessageKind::PollFulfillment
                | MessageKind::SubscriptionAlert
        )
    }
}

/// The envelope of one message: every field policy, rewriting and audit read. Payload (STIX
/// content, extended headers) is not here: it stays opaque.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Envelope {
    pub dialect: Dialect,
    pub kind: MessageKind,
    /// Root element local name as the dialect spells it.
    pub message: &'static str,
    pub message_id: Field,
    pub in_response_to: Option<Field>,
    /// Feed/collection names the message targets or describes, in document order.
    pub feeds: Vec<Field>,
    /// The push destinations a 1.1 `Inbox_Message` names (`Destination_Collection_Name`, also
    /// in `feeds`), in document order. A `Source_Subscription`'s collection names the sender's
    /// collection, not a destination, and is in `feeds` only. Empty in every other message.
    pub destinations: Vec<Field>,
    /// Subscription management action (`SUBSCRIBE`, …), as sent.
    pub action: Option<Field>,
    /// Subscription ids in document order: the one a request targets, the one a poll response
    /// or inbox message serves, or the records of a subscription management response.
    pub subscription_ids: Vec<Field>,
    /// Content bindings in document order, each distinct value once.
    pub content_bindings: Vec<String>,
    /// The time window the message names, as sent: Draft 1 `begin-timestamp` /
    /// `end-timestamp`, 1.x `Exclusive_Begin_Timestamp` (1.0 responses and source subscriptions:
    /// `Inclusive_Begin_Timestamp`) / `Inclusive_End_Timestamp`, of a poll request (the window
    /// asked for), a poll response or an inbox message's source subscription (the window served).
    pub begin_timestamp: Option<Field>,
    pub end_timestamp: Option<Field>,
    /// Addresses a server is asked to push to: Draft 1 `send-to`, `Push_Parameters/Address`,
    /// 1.1 `Delivery_Parameters/Address`. Empty Draft 1 `send-to` (POLL delivery) is left out.
    pub delivery_addresses: Vec<Field>,
    /// Service records with their addresses (responses only).
    pub services: Vec<ServiceRef>,
    /// Feed/collection records of a Feed/Collection Information response, in document order.
    pub feed_records: Vec<FeedRecord>,
    /// Draft 1 `@error-type`, 1.x `@status_type`.
    pub status_type: Option<Field>,
    /// 1.x `Content_Block` elements, or Draft 1 STIX documents.
    pub content_blocks: usize,
    /// Byte range of each content block element, in document order.
    pub content_block_spans: Vec<Range<usize>>,
    /// True when the message carries a `ds:Signature` (1.0/1.1) anywhere in its envelope.
    pub signed: bool,
    /// Draft 1 GET only: the query parameters other than `message_type` and `message_id`, which
    /// are the message's extended headers (Draft 1 HTTP binding §5.1.1).
    pub query_extended_headers: Vec<(String, String)>,
    /// The extended headers of the body, in document order (1.x `Extended_Header`, Draft 1 the
    /// children of `extended-headers`). Their content is payload and stays opaque.
    pub extended_headers: Vec<HeaderRef>,
    /// Byte range of the whole extended headers container, when the message has one.
    pub extended_headers_span: Option<Range<usize>>,
    /// Byte range of the root element's start tag, `<` to `>` (empty for a Draft 1 GET).
    pub root_start_tag: Range<usize>,
    /// Byte range of the root element's end tag; empty at `root_start_tag.end` when the root is
    /// an empty-element tag (`<X .../>`), or for a Draft 1 GET.
    pub root_end_tag: Range<usize>,
    /// True when the root element is written `<X .../>`.
    pub root_self_closing: bool,
    /// The namespace prefix of the root element's name (`taxii_11` of `taxii_11:Poll_Request`),
    /// `None` when it uses the default namespace.
    pub root_prefix: Option<String>,
    /// The child elements of the root, in document order.
    pub root_children: Vec<ChildRef>,
}

impl Envelope {
    /// The JSON object `taxii-gateway inspect` prints, with exactly the documented keys.
    pub fn to_json(&self) -> serde_json::Value {
        #[derive(Serialize)]
        struct Out<'a> {
            dialect: &'a str,
            message: &'a str,
            message_id: &'a str,
            in_response_to: Option<&'a str>,
            feeds: Vec<&'a str>,
            action: Option<&'a str>,
            subscription_id: Option<&'a str>,
            content_bindings: &'a [String],
            delivery_addresses: Vec<&'a str>,
            service_addresses: Vec<&'a str>,
            status_type: Option<&'a str>,
            content_blocks: usize,
        }
        let out = Out {
            dialect: self.dialect.as_str(),
            message: self.message,
            message_id: &self.message_id.value,
            in_response_to: self.in_response_to.as_ref().map(|f| f.value.as_str()),
            feeds: self.feeds.iter().map(|f| f.value.as_str()).collect(),
            action: self.action.as_ref().map(|f| f.value.as_str()),
            subscription_id: self.subscription_id(),
            content_bindings: &self.content_bindings,
            delivery_addresses: self
                .delivery_addresses
                .iter()
                .map(|f| f.value.as_str())
                .collect(),
            service_addresses: self
                .services
                .iter()
                .map(|s| s.address.value.as_str())
                .collect(),
            status_type: self.status_type.as_ref().map(|f| f.value.as_str()),
            content_blocks: self.content_blocks,
        };
        serde_json::to_value(out).unwrap_or(serde_json::Value::Null)
    }

    /// The one subscription id the message is about; `None` when it names none or several
    /// (a STATUS response listing several subscriptions).
    pub fn subscription_id(&self) -> Option<&str> {
        match self.subscription_ids.as_slice() {
            [one] => Some(one.value.as_str()),
            _ => None,
        }
    }
}
