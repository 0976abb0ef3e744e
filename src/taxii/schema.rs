//! The envelope grammar of every message of the three dialects, as static tables.
//!
//! Each table mirrors the dialect's XSD content model where the spec text agrees with it, and the
//! spec text where it does not (Draft 1 XML Binding §1.1.1.2, 1.0/1.1 XML Binding §1.1.2: the
//! text wins). Element order is not enforced (a reordered message keeps its meaning and its
//! bytes); membership, cardinality, required attributes and the choices policy depends on are.
//! Anything marked `Payload` is skipped without being decoded: STIX content, extended headers,
//! queries, signatures.

use super::dialect::Dialect;
use super::envelope::MessageKind;

/// Which namespace an element must be in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Ns {
    /// The dialect's own message namespace.
    Taxii,
    /// XML Signature (`ds:Signature`).
    Dsig,
    /// Any namespace other than the dialect's (Draft 1 `stix:STIX` documents).
    Other,
}

/// What an element may contain.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Body {
    /// Only the listed child elements, and whitespace.
    Elements(&'static [Child]),
    /// Character data only; its value is captured as given.
    Text(Capture),
    /// Nothing but whitespace.
    Empty,
    /// Anything well-formed; skipped, never decoded.
    Payload,
}

/// How a value is read and where it goes in the envelope.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Capture {
    /// Checked for the limits and well-formedness only.
    Ignore,
    MessageId,
    InResponseTo,
    /// A feed or collection name (xs:string in Draft 1, xs:anyURI in 1.x: kept exactly).
    Feed,
    /// A 1.1 `Destination_Collection_Name`: a feed name that is also a push destination.
    Destination,
    /// A subscription action, one of the listed values.
    Action(&'static [&'static str]),
    SubscriptionId,
    ContentBinding,
    DeliveryAddress,
    ServiceAddress,
    ServiceType,
    StatusType,
    /// A timestamp, validated per dialect (DIALECTS.md §4).
    Timestamp,
    /// A timestamp that opens or closes the message's time window (poll request, poll
    /// response, inbox source subscription), validated like `Timestamp` and kept.
    BeginTimestamp,
    EndTimestamp,
    /// `true`, `false`, `1` or `0` (xs:boolean).
    Boolean,
    /// Decimal digits (xs:nonNegativeInteger / positiveInteger).
    Integer,
    /// The `@name` of a 1.x `Extended_Header` (xs:anyURI), kept with the header's span.
    HeaderName,
}

#[derive(Debug, Clone, Copy)]
pub(crate) struct Attr {
    pub name: &'static str,
    pub required: bool,
    pub capture: Capture,
}

/// What an element means beyond its fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Role {
    Plain,
    /// A content block (1.x `Content_Block`, Draft 1 STIX document).
    ContentBlock,
    /// A service record; the service type is fixed by the element, or `None` when an attribute
    /// (`service-type`, `service_type`) gives it.
    Service(Option<&'static str>),
    /// `ds:Signature`.
    Signature,
    /// A feed or collection record of a Feed/Collection Information response (Draft 1 `feed`,
    /// 1.0 `Feed`, 1.1 `Collection`); its name attribute captures as [`Capture::Feed`].
    FeedRecord,
    /// The extended headers container (Draft 1 `extended-headers`, 1.x `Extended_Headers`).
    /// In Draft 1 it is payload: its child elements are the headers, named by local name.
    ExtendedHeaders,
    /// A 1.x `Extended_Header` (payload, named by its `@name`).
    ExtendedHeader,
}

#[derive(Debug)]
pub(crate) struct Node {
    /// Local name; `*` matches any name (only with `Ns::Other`).
    pub name: &'static str,
    pub ns: Ns,
    pub attrs: &'static [Attr],
    pub body: Body,
    pub role: Role,
}

/// A child slot: which element, how many.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Child {
    pub node: &'static Node,
    pub min: u32,
    pub max: u32,
}

/// Constraints across fields that policy depends on, checked when the root closes.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Check {
    /// Exactly one of two children (Draft 1 XML Binding §3.8, 1.1 XML Binding §3.8).
    ExactlyOneOf(&'static str, &'static str),
    /// The field (child element or root attribute) is required for these actions.
    RequiredFor(&'static str, &'static [&'static str]),
}

#[derive(Debug)]
pub(crate) struct MessageSpec {
    pub kind: MessageKind,
    pub root: Node,
    pub checks: &'static [Check],
}

pub(crate) const UNBOUNDED: u32 = u32::MAX;

const fn one(node: &'static Node) -> Child {
    Child {
        node,
        min: 1,
        max: 1,
    }
}
const fn opt(node: &'static Node) -> Child {
    Child {
        node,
        min: 0,
        max: 1,
    }
}
const fn many(node: &'static Node) -> Child {
    Child {
        node,
        min: 0,
        max: UNBOUNDED,
    }
}
const fn some(node: &'static Node) -> Child {
    Child {
        node,
        min: 1,
        max: UNBOUNDED,
    }
}
const fn req(name: &'static str, capture: Capture) -> Attr {
    Attr {
        name,
        required: true,
        capture,
    }
}
const fn optional(name: &'static str, capture: Capture) -> Attr {
    Attr {
        name,
        required: false,
        capture,
    }
}
const fn text(name: &'static str, capture: Capture) -> Node {
    Node {
        name,
        ns: Ns::Taxii,
        attrs: &[],
        body: Body::Text(capture),
        role: Role::Plain,
    }
}
const fn elements(name: &'static str, attrs: &'static [Attr], children: &'static [Child]) -> Node {
    Node {
        name,
        ns: Ns::Taxii,
        attrs,
        body: Body::Elements(children),
        role: Role::Plain,
    }
}
const fn service(
    name: &'static str,
    kind: Option<&'static str>,
    attrs: &'static [Attr],
    children: &'static [Child],
) -> Node {
    Node {
        name,
        ns: Ns::Taxii,
        attrs,
        body: Body::Elements(children),
        role: Role::Service(kind),
    }
}
const fn feed_record(
    name: &'static str,
    attrs: &'static [Attr],
    children: &'static [Child],
) -> Node {
    Node {
        name,
        ns: Ns::Taxii,
        attrs,
        body: Body::Elements(children),
        role: Role::FeedRecord,
    }
}
const fn payload(name: &'static str, attrs: &'static [Attr]) -> Node {
    Node {
        name,
        ns: Ns::Taxii,
        attrs,
        body: Body::Payload,
        role: Role::Plain,
    }
}
const fn message(kind: MessageKind, root: Node, checks: &'static [Check]) -> MessageSpec {
    MessageSpec { kind, root, checks }
}

static SIGNATURE: Node = Node {
    name: "Signature",
    ns: Ns::Dsig,
    attrs: &[],
    body: Body::Payload,
    role: Role::Signature,
};

// ---------------------------------------------------------------------------------------------
// TAXII 1.0 Draft 1 (XML Binding §3, XSD `TAXII_XMLSchema_1.0_Draft.xsd`)
// ---------------------------------------------------------------------------------------------
mod draft1 {
    use super::*;

    /// Draft 1 Services §4.2.6; the XSD says QUERY where the spec says STATUS (DIGEST §5.12 #1).
    pub const ACTIONS: &[&str] = &[
        "SUBSCRIBE",
        "UNSUBSCRIBE",
        "PAUSE",
        "RESUME",
        "MODIFY",
        "STATUS",
        "QUERY",
    ];

    pub const HEADER_ATTRS: &[Attr] = &[
        req("message-id", Capture::MessageId),
        optional("in-response-to", Capture::InResponseTo),
    ];
    /// `<extended-headers>`: any elements, `processContents="skip"`.
    pub static EXTENDED_HEADERS: Node = Node {
        name: "extended-headers",
        ns: Ns::Taxii,
        attrs: &[],
        body: Body::Payload,
        role: Role::ExtendedHeaders,
    };
    pub static FEED_NAME: Node = text("feed-name", Capture::Feed);
    pub static ACTION: Node = text("action", Capture::Action(ACTIONS));
    pub static SUBSCRIPTION_ID: Node = text("subscription-id", Capture::SubscriptionId);
    pub static CONTENT_BINDING: Node = text("content-binding", Capture::ContentBinding);
    pub static MESSAGE: Node = text("message", Capture::Ignore);
    pub static BEGIN: Node = text("begin-timestamp", Capture::BeginTimestamp);
    pub static END: Node = text("end-timestamp", Capture::EndTimestamp);
    pub static PROTOCOL_BINDING: Node = text("protocol-binding", Capture::Ignore);
    pub static MESSAGE_BINDING: Node = text("message-binding", Capture::Ignore);
    pub static DELIVERY_METHOD: Node = text("delivery-method", Capture::Ignore);
    /// A documents of a poll response or STIX message: `{http://stix.mitre.org}STIX` in the XSD,
    /// any foreign element in practice (DIGEST §5.12 #6).
    pub static STIX: Node = Node {
        name: "*",
        ns: Ns::Other,
        attrs: &[],
        body: Body::Payload,
        role: Role::ContentBlock,
    };

    /// `subscriptionRecordType`. `<protect>` is XSD-only (DIGEST §5.12 #2): optional here.
    const SUBSCRIPTION_CHILDREN: &[Child] = &[
        opt(&PROTECT),
        one(&DELIVERY_METHOD),
        one(&MESSAGE_BINDING),
        one(&CONTENT_BINDING),
        one(&SEND_TO),
    ];
    pub static PROTECT: Node = text("protect", Capture::Boolean);
    pub static SEND_TO: Node = text("send-to", Capture::DeliveryAddress);
    pub static SUBSCRIPTION: Node = elements("subscription", &[], SUBSCRIPTION_CHILDREN);
    pub static SUBSCRIPTION_RECORD: Node = elements(
        "subscription",
        &[req("subscription-id", Capture::SubscriptionId)],
        SUBSCRIPTION_CHILDREN,
    );
    pub static SERVICE_INSTANCE: Node = service(
        "service-instance",
        None,
        &[
            req("service-type", Capture::ServiceType),
            req("service-version", Capture::Ignore),
            optional("available", Capture::Boolean),
        ],
        &[
            one(&PROTOCOL_BINDING),
            some(&MESSAGE_BINDING),
            many(&CONTENT_BINDING),
            one(&SERVICE_ADDRESS),
            opt(&MESSAGE),
        ],
    );
    pub static SERVICE_ADDRESS: Node = text("service-address", Capture::ServiceAddress);
    pub static FEED: Node = feed_record(
        "feed",
        &[
            req("feed-name", Capture::Feed),
            optional("available", Capture::Boolean),
        ],
        &[
            one(&DESCRIPTION),
            some(&DELIVERY_METHOD),
            some(&MESSAGE_BINDING),
            some(&CONTENT_BINDING),
        ],
    );
    pub static DESCRIPTION: Node = text("description", Capture::Ignore);
    pub static ERROR_DETAIL: Node = text("error-detail", Capture::Ignore);
    pub static ALERT_ACTION: Node = Node {
        name: "action",
        ns: Ns::Taxii,
        attrs: &[
            req("effective-time", Capture::Timestamp),
            optional("error-type", Capture::Ignore),
        ],
        body: Body::Text(Capture::Action(ACTIONS)),
        role: Role::Plain,
    };

    pub static MESSAGES: &[MessageSpec] = &[
        message(
            MessageKind::StatusMessage,
            elements(
                "TAXII_ErrorMessage",
                &[
                    req("message-id", Capture::MessageId),
                    optional("in-response-to", Capture::InResponseTo),
                    req("error-type", Capture::StatusType),
                ],
                &[opt(&EXTENDED_HEADERS), opt(&ERROR_DETAIL), opt(&MESSAGE)],
            ),
            &[],
        ),
        message(
            MessageKind::DiscoveryRequest,
            elements(
                "TAXII_DiscoveryRequest",
                HEADER_ATTRS,
                &[opt(&EXTENDED_HEADERS)],
            ),
            &[],
        ),
        message(
            MessageKind::DiscoveryResponse,
            elements(
                "TAXII_DiscoveryResponse",
                HEADER_ATTRS,
                &[opt(&EXTENDED_HEADERS), many(&SERVICE_INSTANCE)],
            ),
            &[],
        ),
        message(
            MessageKind::FeedInformationRequest,
            elements(
                "TAXII_FeedInformationRequest",
                HEADER_ATTRS,
                &[opt(&EXTENDED_HEADERS)],
            ),
            &[],
        ),
        message(
            MessageKind::FeedInformationResponse,
            elements(
                "TAXII_FeedInformationResponse",
                HEADER_ATTRS,
                &[opt(&EXTENDED_HEADERS), many(&FEED)],
            ),
            &[],
        ),
        message(
            MessageKind::SubscriptionManagementRequest,
            elements(
                "TAXII_SubscriptionManagementRequest",
                HEADER_ATTRS,
                &[
                    opt(&EXTENDED_HEADERS),
                    one(&FEED_NAME),
                    one(&ACTION),
                    opt(&SUBSCRIPTION_ID),
                    opt(&SUBSCRIPTION),
                ],
            ),
            // XML Binding §3.6: subscription-id for UNSUBSCRIBE, PAUSE, RESUME, MODIFY;
            // subscription parameters for SUBSCRIBE and MODIFY.
            &[
                Check::RequiredFor(
                    "subscription-id",
                    &["UNSUBSCRIBE", "PAUSE", "RESUME", "MODIFY"],
                ),
                Check::RequiredFor("subscription", &["SUBSCRIBE", "MODIFY"]),
            ],
        ),
        message(
            MessageKind::SubscriptionManagementResponse,
            elements(
                "TAXII_SubscriptionManagementResponse",
                HEADER_ATTRS,
                &[
                    opt(&EXTENDED_HEADERS),
                    one(&FEED_NAME),
                    opt(&MESSAGE),
                    many(&SUBSCRIPTION_RECORD),
                ],
            ),
            &[],
        ),
        message(
            MessageKind::SubscriptionAlert,
            elements(
                "TAXII_SubscriptionAlert",
                HEADER_ATTRS,
                &[
                    opt(&EXTENDED_HEADERS),
                    one(&FEED_NAME),
                    one(&ALERT_ACTION),
                    one(&SUBSCRIPTION_ID),
                    opt(&SUBSCRIPTION),
                    opt(&MESSAGE),
                ],
            ),
            &[],
        ),
        message(
            MessageKind::PollRequest,
            elements(
                "TAXII_PollRequest",
                HEADER_ATTRS,
                &[
                    opt(&EXTENDED_HEADERS),
                    one(&FEED_NAME),
                    opt(&BEGIN),
                    opt(&END),
                    opt(&SUBSCRIPTION_ID),
                    opt(&CONTENT_BINDING),
                ],
            ),
            // XML Binding §3.8: content-binding "MUST be present if and only if" there is no
            // subscription-id (Services Table 8 is looser; DIGEST §12 #6 follows X).
            &[Check::ExactlyOneOf("subscription-id", "content-binding")],
        ),
        message(
            MessageKind::PollResponse,
            elements(
                "TAXII_PollResponse",
                HEADER_ATTRS,
                &[
                    opt(&EXTENDED_HEADERS),
                    opt(&BEGIN),
                    one(&END),
                    opt(&SUBSCRIPTION_ID),
                    opt(&MESSAGE),
                    one(&CONTENT_BINDING),
                    many(&STIX),
                ],
            ),
            &[],
        ),
        message(
            MessageKind::InboxMessage,
            elements(
                "TAXII_STIXMessage",
                HEADER_ATTRS,
                &[
                    opt(&EXTENDED_HEADERS),
                    opt(&SUBSCRIPTION_ID),
                    opt(&MESSAGE),
                    one(&CONTENT_BINDING),
                    some(&STIX),
                ],
            ),
            &[],
        ),
    ];
}

// ---------------------------------------------------------------------------------------------
// Elements shared by TAXII 1.0 and 1.1 (same names in different namespaces)
// ---------------------------------------------------------------------------------------------
mod common {
    use super::*;

    pub static EXTENDED_HEADER: Node = Node {
        name: "Extended_Header",
        ns: Ns::Taxii,
        attrs: &[req("name", Capture::HeaderName)],
        body: Body::Payload,
        role: Role::ExtendedHeader,
    };
    pub static EXTENDED_HEADERS: Node = Node {
        name: "Extended_Headers",
        ns: Ns::Taxii,
        attrs: &[],
        body: Body::Elements(&[some(&EXTENDED_HEADER)]),
        role: Role::ExtendedHeaders,
    };
    pub static PROTOCOL_BINDING: Node = text("Protocol_Binding", Capture::Ignore);
    pub static MESSAGE_BINDING: Node = text("Message_Binding", Capture::Ignore);
    pub static SERVICE_ADDRESS: Node = text("Address", Capture::ServiceAddress);
    pub static DELIVERY_ADDRESS: Node = text("Address", Capture::DeliveryAddress);
    pub static MESSAGE: Node = text("Message", Capture::Ignore);
    pub static DESCRIPTION: Node = text("Description", Capture::Ignore);
    pub static CONTENT: Node = payload("Content", &[]);
    pub static TIMESTAMP_LABEL: Node = text("Timestamp_Label", Capture::Timestamp);
    pub static PADDING: Node = text("Padding", Capture::Ignore);
    pub static EXCLUSIVE_BEGIN: Node = text("Exclusive_Begin_Timestamp", Capture::BeginTimestamp);
    pub static INCLUSIVE_BEGIN: Node = text("Inclusive_Begin_Timestamp", Capture::BeginTimestamp);
    pub static INCLUSIVE_END: Node = text("Inclusive_End_Timestamp", Capture::EndTimestamp);
    pub static PUSH_METHOD: Node = elements(
        "Push_Method",
        &[],
        &[one(&PROTOCOL_BINDING), some(&MESSAGE_BINDING)],
    );
    /// `BindingsGroup` (`ServiceContactInfoType`).
    pub const CONTACT: &[Child] = &[
        one(&PROTOCOL_BINDING),
        one(&SERVICE_ADDRESS),
        some(&MESSAGE_BINDING),
    ];
    pub static POLLING_SERVICE: Node = service("Polling_Service", Some("POLL"), &[], CONTACT);
    pub static POLL_INSTANCE: Node = service("Poll_Instance", Some("POLL"), &[], CONTACT);
    pub const SERVICE_INSTANCE_ATTRS: &[Attr] = &[
        req("service_type", Capture::ServiceType),
        req("service_version", Capture::Ignore),
        optional("available", Capture::Boolean),
    ];
}

// ---------------------------------------------------------------------------------------------
// TAXII 1.0 (XML Binding 1.0 §3, `TAXII_XMLMessageBinding_Schema.xsd`)
// ---------------------------------------------------------------------------------------------
mod v10 {
    use super::common::*;
    use super::*;

    /// 1.0 Services §3.4.6.
    pub const ACTIONS: &[&str] = &["SUBSCRIBE", "UNSUBSCRIBE", "STATUS"];
    pub const REQUEST_ATTRS: &[Attr] = &[req("message_id", Capture::MessageId)];
    pub const RESPONSE_ATTRS: &[Attr] = &[
        req("message_id", Capture::MessageId),
        req("in_response_to", Capture::InResponseTo),
    ];

    pub static CONTENT_BINDING: Node = text("Content_Binding", Capture::ContentBinding);
    pub static STATUS_DETAIL: Node = text("Status_Detail", Capture::Ignore);
    pub static SERVICE_INSTANCE: Node = service(
        "Service_Instance",
        None,
        SERVICE_INSTANCE_ATTRS,
        &[
            one(&PROTOCOL_BINDING),
            one(&SERVICE_ADDRESS),
            some(&MESSAGE_BINDING),
            many(&CONTENT_BINDING),
            opt(&MESSAGE),
        ],
    );
    pub static SUBSCRIPTION_SERVICE: Node = service(
        "Subscription_Service",
        Some("FEED_MANAGEMENT"),
        &[],
        CONTACT,
    );
    /// `FeedRecordType`: the choice between push methods and polling services is not a policy
    /// input, so it is left to the upstream.
    pub static FEED: Node = feed_record(
        "Feed",
        &[
            req("feed_name", Capture::Feed),
            optional("available", Capture::Boolean),
        ],
        &[
            one(&DESCRIPTION),
            some(&CONTENT_BINDING),
            many(&PUSH_METHOD),
            many(&POLLING_SERVICE),
            many(&SUBSCRIPTION_SERVICE),
        ],
    );
    pub static PUSH_PARAMETERS: Node = elements(
        "Push_Parameters",
        &[],
        &[
            one(&PROTOCOL_BINDING),
            one(&DELIVERY_ADDRESS),
            one(&MESSAGE_BINDING),
            many(&CONTENT_BINDING),
        ],
    );
    pub static SUBSCRIPTION: Node = elements(
        "Subscription",
        &[req("subscription_id", Capture::SubscriptionId)],
        &[opt(&PUSH_PARAMETERS), many(&POLL_INSTANCE)],
    );
    pub static CONTENT_BLOCK: Node = Node {
        name: "Content_Block",
        ns: Ns::Taxii,
        attrs: &[],
        body: Body::Elements(&[
            one(&CONTENT_BINDING),
            one(&CONTENT),
            opt(&TIMESTAMP_LABEL),
            opt(&PADDING),
            opt(&SIGNATURE),
        ]),
        role: Role::ContentBlock,
    };
    pub static SOURCE_SUBSCRIPTION: Node = elements(
        "Source_Subscription",
        // TAXII-XML-1.0-Err-01 makes both attributes required.
        &[
            req("feed_name", Capture::Feed),
            req("subscription_id", Capture::SubscriptionId),
        ],
        &[opt(&INCLUSIVE_BEGIN), one(&INCLUSIVE_END)],
    );

    pub static MESSAGES: &[MessageSpec] = &[
        message(
            MessageKind::StatusMessage,
            elements(
                "Status_Message",
                &[
                    req("message_id", Capture::MessageId),
                    req("in_response_to", Capture::InResponseTo),
                    req("status_type", Capture::StatusType),
                ],
                &[
                    opt(&EXTENDED_HEADERS),
                    opt(&STATUS_DETAIL),
                    opt(&MESSAGE),
                    opt(&SIGNATURE),
                ],
            ),
            &[],
        ),
        message(
            MessageKind::DiscoveryRequest,
            elements(
                "Discovery_Request",
                REQUEST_ATTRS,
                &[opt(&EXTENDED_HEADERS), opt(&SIGNATURE)],
            ),
            &[],
        ),
        message(
            MessageKind::DiscoveryResponse,
            elements(
                "Discovery_Response",
                RESPONSE_ATTRS,
                &[
                    opt(&EXTENDED_HEADERS),
                    many(&SERVICE_INSTANCE),
                    opt(&SIGNATURE),
                ],
            ),
            &[],
        ),
        message(
            MessageKind::FeedInformationRequest,
            elements(
                "Feed_Information_Request",
                REQUEST_ATTRS,
                &[opt(&EXTENDED_HEADERS), opt(&SIGNATURE)],
            ),
            &[],
        ),
        message(
            MessageKind::FeedInformationResponse,
            elements(
                "Feed_Information_Response",
                RESPONSE_ATTRS,
                &[opt(&EXTENDED_HEADERS), many(&FEED), opt(&SIGNATURE)],
            ),
            &[],
        ),
        message(
            MessageKind::SubscriptionManagementRequest,
            elements(
                "Subscription_Management_Request",
                &[
                    req("message_id", Capture::MessageId),
                    req("action", Capture::Action(ACTIONS)),
                    req("feed_name", Capture::Feed),
                    optional("subscription_id", Capture::SubscriptionId),
                ],
                &[
                    opt(&EXTENDED_HEADERS),
                    opt(&PUSH_PARAMETERS),
                    opt(&SIGNATURE),
                ],
            ),
            // 1.0 XML Binding §3.6: a Subscription ID is required for UNSUBSCRIBE.
            &[Check::RequiredFor("subscription_id", &["UNSUBSCRIBE"])],
        ),
        message(
            MessageKind::SubscriptionManagementResponse,
            elements(
                "Subscription_Management_Response",
                &[
                    req("message_id", Capture::MessageId),
                    req("in_response_to", Capture::InResponseTo),
                    req("feed_name", Capture::Feed),
                ],
                &[
                    opt(&EXTENDED_HEADERS),
                    opt(&MESSAGE),
                    many(&SUBSCRIPTION),
                    opt(&SIGNATURE),
                ],
            ),
            &[],
        ),
        message(
            MessageKind::PollRequest,
            elements(
                "Poll_Request",
                &[
                    req("message_id", Capture::MessageId),
                    req("feed_name", Capture::Feed),
                    optional("subscription_id", Capture::SubscriptionId),
                ],
                &[
                    opt(&EXTENDED_HEADERS),
                    opt(&EXCLUSIVE_BEGIN),
                    opt(&INCLUSIVE_END),
                    many(&CONTENT_BINDING),
                    opt(&SIGNATURE),
                ],
            ),
            &[],
        ),
        message(
            MessageKind::PollResponse,
            elements(
                "Poll_Response",
                &[
                    req("message_id", Capture::MessageId),
                    req("in_response_to", Capture::InResponseTo),
                    req("feed_name", Capture::Feed),
                    optional("subscription_id", Capture::SubscriptionId),
                ],
                &[
                    opt(&EXTENDED_HEADERS),
                    opt(&MESSAGE),
                    opt(&INCLUSIVE_BEGIN),
                    one(&INCLUSIVE_END),
                    many(&CONTENT_BLOCK),
                    opt(&SIGNATURE),
                ],
            ),
            &[],
        ),
        message(
            MessageKind::InboxMessage,
            elements(
                "Inbox_Message",
                REQUEST_ATTRS,
                &[
                    opt(&EXTENDED_HEADERS),
                    opt(&MESSAGE),
                    opt(&SOURCE_SUBSCRIPTION),
                    many(&CONTENT_BLOCK),
                    opt(&SIGNATURE),
                ],
            ),
            &[],
        ),
    ];
}

// ---------------------------------------------------------------------------------------------
// TAXII 1.1 (XML Binding 1.1 §3, `TAXII_XMLMessageBinding_Schema.xsd` 1.1)
// ---------------------------------------------------------------------------------------------
mod v11 {
    use super::common::*;
    use super::*;

    /// 1.1 Services §4.4.6.
    pub const ACTIONS: &[&str] = &["SUBSCRIBE", "UNSUBSCRIBE", "PAUSE", "RESUME", "STATUS"];
    pub const REQUEST_ATTRS: &[Attr] = &[req("message_id", Capture::MessageId)];
    pub const RESPONSE_ATTRS: &[Attr] = &[
        req("message_id", Capture::MessageId),
        req("in_response_to", Capture::InResponseTo),
    ];

    pub static SUBTYPE: Node = Node {
        name: "Subtype",
        ns: Ns::Taxii,
        attrs: &[req("subtype_id", Capture::Ignore)],
        body: Body::Empty,
        role: Role::Plain,
    };
    /// `ContentBindingIDType`: `@binding_id` and 0-n `Subtype`.
    pub static CONTENT_BINDING: Node = elements(
        "Content_Binding",
        &[req("binding_id", Capture::ContentBinding)],
        &[many(&SUBTYPE)],
    );
    /// `ContentInstanceType` (inside a content block): at most one `Subtype`.
    pub static BLOCK_CONTENT_BINDING: Node = elements(
        "Content_Binding",
        &[req("binding_id", Capture::ContentBinding)],
        &[opt(&SUBTYPE)],
    );
    pub static DETAIL: Node = payload("Detail", &[req("name", Capture::Ignore)]);
    pub static STATUS_DETAIL: Node = elements("Status_Detail", &[], &[some(&DETAIL)]);
    pub static SUPPORTED_QUERY: Node =
        payload("Supported_Query", &[req("format_id", Capture::Ignore)]);
    pub static QUERY: Node = payload("Query", &[req("format_id", Capture::Ignore)]);
    pub static SERVICE_INSTANCE: Node = service(
        "Service_Instance",
        None,
        SERVICE_INSTANCE_ATTRS,
        &[
            one(&PROTOCOL_BINDING),
            one(&SERVICE_ADDRESS),
            some(&MESSAGE_BINDING),
            many(&SUPPORTED_QUERY),
            many(&CONTENT_BINDING),
            opt(&MESSAGE),
        ],
    );
    pub static COLLECTION_VOLUME: Node = text("Collection_Volume", Capture::Integer);
    pub static SUBSCRIPTION_SERVICE: Node = service(
        "Subscription_Service",
        Some("COLLECTION_MANAGEMENT"),
        &[],
        CONTACT,
    );
    pub static RECEIVING_INBOX_SERVICE: Node = service(
        "Receiving_Inbox_Service",
        Some("INBOX"),
        &[],
        &[
            one(&PROTOCOL_BINDING),
            one(&SERVICE_ADDRESS),
            some(&MESSAGE_BINDING),
            many(&CONTENT_BINDING),
        ],
    );
    pub static COLLECTION: Node = feed_record(
        "Collection",
        &[
            req("collection_name", Capture::Feed),
            optional("collection_type", Capture::Ignore),
            optional("available", Capture::Boolean),
        ],
        &[
            one(&DESCRIPTION),
            opt(&COLLECTION_VOLUME),
            many(&CONTENT_BINDING),
            many(&PUSH_METHOD),
            many(&POLLING_SERVICE),
            many(&SUBSCRIPTION_SERVICE),
            many(&RECEIVING_INBOX_SERVICE),
        ],
    );
    pub static SUBSCRIPTION_ID: Node = text("Subscription_ID", Capture::SubscriptionId);
    pub static RESPONSE_TYPE: Node = text("Response_Type", Capture::Ignore);
    pub static SUBSCRIPTION_PARAMETERS: Node = elements(
        "Subscription_Parameters",
        &[],
        &[opt(&RESPONSE_TYPE), many(&CONTENT_BINDING), opt(&QUERY)],
    );
    pub static PUSH_PARAMETERS: Node = elements(
        "Push_Parameters",
        &[],
        &[
            one(&PROTOCOL_BINDING),
            one(&DELIVERY_ADDRESS),
            one(&MESSAGE_BINDING),
        ],
    );
    pub static DELIVERY_PARAMETERS: Node = elements(
        "Delivery_Parameters",
        &[],
        &[
            one(&PROTOCOL_BINDING),
            one(&DELIVERY_ADDRESS),
            one(&MESSAGE_BINDING),
        ],
    );
    pub static POLL_PARAMETERS: Node = elements(
        "Poll_Parameters",
        &[optional("allow_asynch", Capture::Boolean)],
        &[
            opt(&RESPONSE_TYPE),
            many(&CONTENT_BINDING),
            opt(&QUERY),
            opt(&DELIVERY_PARAMETERS),
        ],
    );
    pub static SUBSCRIPTION: Node = elements(
        "Subscription",
        &[optional("status", Capture::Ignore)],
        &[
            one(&SUBSCRIPTION_ID),
            opt(&SUBSCRIPTION_PARAMETERS),
            opt(&PUSH_PARAMETERS),
            many(&POLL_INSTANCE),
        ],
    );
    pub static RECORD_COUNT: Node = Node {
        name: "Record_Count",
        ns: Ns::Taxii,
        attrs: &[optional("partial_count", Capture::Boolean)],
        body: Body::Text(Capture::Integer),
        role: Role::Plain,
    };
    pub static CONTENT_BLOCK: Node = Node {
        name: "Content_Block",
        ns: Ns::Taxii,
        attrs: &[],
        body: Body::Elements(&[
            one(&BLOCK_CONTENT_BINDING),
            one(&CONTENT),
            opt(&TIMESTAMP_LABEL),
            opt(&MESSAGE),
            opt(&PADDING),
            opt(&SIGNATURE),
        ]),
        role: Role::ContentBlock,
    };
    pub static DESTINATION_COLLECTION_NAME: Node =
        text("Destination_Collection_Name", Capture::Destination);
    pub static SOURCE_SUBSCRIPTION: Node = elements(
        "Source_Subscription",
        &[req("collection_name", Capture::Feed)],
        &[
            one(&SUBSCRIPTION_ID),
            opt(&EXCLUSIVE_BEGIN),
            opt(&INCLUSIVE_END),
        ],
    );

    pub static MESSAGES: &[MessageSpec] = &[
        message(
            MessageKind::StatusMessage,
            elements(
                "Status_Message",
                &[
                    req("message_id", Capture::MessageId),
                    req("in_response_to", Capture::InResponseTo),
                    req("status_type", Capture::StatusType),
                ],
                &[
                    opt(&EXTENDED_HEADERS),
                    opt(&STATUS_DETAIL),
                    opt(&MESSAGE),
                    opt(&SIGNATURE),
                ],
            ),
            &[],
        ),
        message(
            MessageKind::DiscoveryRequest,
            elements(
                "Discovery_Request",
                REQUEST_ATTRS,
                &[opt(&EXTENDED_HEADERS), opt(&SIGNATURE)],
            ),
            &[],
        ),
        message(
            MessageKind::DiscoveryResponse,
            elements(
                "Discovery_Response",
                RESPONSE_ATTRS,
                &[
                    opt(&EXTENDED_HEADERS),
                    many(&SERVICE_INSTANCE),
                    opt(&SIGNATURE),
                ],
            ),
            &[],
        ),
        message(
            MessageKind::FeedInformationRequest,
            elements(
                "Collection_Information_Request",
                REQUEST_ATTRS,
                &[opt(&EXTENDED_HEADERS), opt(&SIGNATURE)],
            ),
            &[],
        ),
        message(
            MessageKind::FeedInformationResponse,
            elements(
                "Collection_Information_Response",
                RESPONSE_ATTRS,
                &[opt(&EXTENDED_HEADERS), many(&COLLECTION), opt(&SIGNATURE)],
            ),
            &[],
        ),
        message(
            MessageKind::SubscriptionManagementRequest,
            elements(
                "Subscription_Management_Request",
                &[
                    req("message_id", Capture::MessageId),
                    req("action", Capture::Action(ACTIONS)),
                    req("collection_name", Capture::Feed),
                ],
                &[
                    opt(&EXTENDED_HEADERS),
                    opt(&SUBSCRIPTION_ID),
                    opt(&SUBSCRIPTION_PARAMETERS),
                    opt(&PUSH_PARAMETERS),
                    opt(&SIGNATURE),
                ],
            ),
            // 1.1 XML Binding §3.6: Subscription_ID for UNSUBSCRIBE, PAUSE and RESUME;
            // Subscription_Parameters for SUBSCRIBE.
            &[
                Check::RequiredFor("Subscription_ID", &["UNSUBSCRIBE", "PAUSE", "RESUME"]),
                Check::RequiredFor("Subscription_Parameters", &["SUBSCRIBE"]),
            ],
        ),
        message(
            MessageKind::SubscriptionManagementResponse,
            elements(
                "Subscription_Management_Response",
                &[
                    req("message_id", Capture::MessageId),
                    req("in_response_to", Capture::InResponseTo),
                    req("collection_name", Capture::Feed),
                ],
                &[
                    opt(&EXTENDED_HEADERS),
                    opt(&MESSAGE),
                    many(&SUBSCRIPTION),
                    opt(&SIGNATURE),
                ],
            ),
            &[],
        ),
        message(
            MessageKind::PollRequest,
            elements(
                "Poll_Request",
                &[
                    req("message_id", Capture::MessageId),
                    req("collection_name", Capture::Feed),
                ],
                &[
                    opt(&EXTENDED_HEADERS),
                    opt(&EXCLUSIVE_BEGIN),
                    opt(&INCLUSIVE_END),
                    opt(&SUBSCRIPTION_ID),
                    opt(&POLL_PARAMETERS),
                    opt(&SIGNATURE),
                ],
            ),
            // 1.1 XML Binding §3.8: exactly one of the two, which may be authorised differently.
            &[Check::ExactlyOneOf("Subscription_ID", "Poll_Parameters")],
        ),
        message(
            MessageKind::PollResponse,
            elements(
                "Poll_Response",
                &[
                    req("message_id", Capture::MessageId),
                    req("in_response_to", Capture::InResponseTo),
                    req("collection_name", Capture::Feed),
                    optional("more", Capture::Boolean),
                    optional("result_id", Capture::Ignore),
                    optional("result_part_number", Capture::Integer),
                ],
                &[
                    opt(&EXTENDED_HEADERS),
                    opt(&SUBSCRIPTION_ID),
                    opt(&EXCLUSIVE_BEGIN),
                    opt(&INCLUSIVE_END),
                    opt(&RECORD_COUNT),
                    opt(&MESSAGE),
                    many(&CONTENT_BLOCK),
                    opt(&SIGNATURE),
                ],
            ),
            &[],
        ),
        message(
            MessageKind::InboxMessage,
            elements(
                "Inbox_Message",
                &[
                    req("message_id", Capture::MessageId),
                    optional("result_id", Capture::Ignore),
                ],
                &[
                    opt(&EXTENDED_HEADERS),
                    many(&DESTINATION_COLLECTION_NAME),
                    opt(&MESSAGE),
                    opt(&SOURCE_SUBSCRIPTION),
                    opt(&RECORD_COUNT),
                    many(&CONTENT_BLOCK),
                    opt(&SIGNATURE),
                ],
            ),
            &[],
        ),
        message(
            MessageKind::PollFulfillment,
            elements(
                "Poll_Fulfillment",
                &[
                    req("message_id", Capture::MessageId),
                    req("collection_name", Capture::Feed),
                    req("result_id", Capture::Ignore),
                    optional("result_part_number", Capture::Integer),
                ],
                &[opt(&EXTENDED_HEADERS), opt(&SIGNATURE)],
            ),
            &[],
        ),
    ];
}

/// The messages of a dialect.
pub(crate) fn messages(dialect: Dialect) -> &'static [MessageSpec] {
    match dialect {
        Dialect::Draft1 => draft1::MESSAGES,
        Dialect::V10 => v10::MESSAGES,
        Dialect::V11 => v11::MESSAGES,
    }
}

/// The message spec for a root element local name in a dialect.
pub(crate) fn message_spec(dialect: Dialect, local_name: &str) -> Option<&'static MessageSpec> {
    messages(dialect).iter().find(|m| m.root.name == local_name)
}

/// The spec of a message kind in a dialect (for Draft 1 GET requests and for the writer).
pub(crate) fn spec_of(dialect: Dialect, kind: MessageKind) -> Option<&'static MessageSpec> {
    messages(dialect).iter().find(|m| m.kind == kind)
}

/// The largest number of child slots any element has; frames keep a counter per slot.
pub(crate) const MAX_CHILD_SLOTS: usize = 12;

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    fn walk(node: &'static Node, seen: &mut Vec<*const Node>) {
        if seen.contains(&(node as *const Node)) {
            return;
        }
        seen.push(node as *const Node);
        assert!(
            node.attrs.len() <= 32,
            "{} has too many attributes for the bitmask",
            node.name
        );
        if let Body::Elements(children) = node.body {
            assert!(
                children.len() <= MAX_CHILD_SLOTS,
                "{} has too many child slots",
                node.name
            );
            for (i, c) in children.iter().enumerate() {
                assert!(c.min <= c.max);
                // Two slots for one name would make counting ambiguous.
                for d in &children[..i] {
                    assert!(
                        !(d.node.name == c.node.name && d.node.ns == c.node.ns),
                        "{} lists {} twice",
                        node.name,
                        c.node.name
                    );
                }
                walk(c.node, seen);
            }
        }
    }

    #[test]
    fn tables_are_consistent() {
        for d in Dialect::ALL {
            let mut seen = Vec::new();
            for m in messages(d) {
                walk(&m.root, &mut seen);
                assert!(
                    m.root.attrs.iter().any(|a| a.capture == Capture::MessageId),
                    "{} has no message id",
                    m.root.name
                );
            }
        }
    }

    #[test]
    fn every_dialect_has_its_message_set() {
        assert_eq!(messages(Dialect::Draft1).len(), 11);
        assert_eq!(messages(Dialect::V10).len(), 10);
        assert_eq!(messages(Dialect::V11).len(), 11);
        assert!(message_spec(Dialect::V11, "Feed_Information_Request").is_none());
        assert!(message_spec(Dialect::V11, "Collection_Information_Request").is_some());
        assert!(message_spec(Dialect::V10, "Poll_Fulfillment").is_none());
    }
}
