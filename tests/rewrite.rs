//! The response rewriter (`taxii::rewrite`): discovery, feed/collection information and
//! subscription management responses of every dialect, filtered and re-addressed per partner by
//! splicing byte ranges. Every result must scan again, in the same dialect, with the expected
//! records; every byte outside the edits must stay as it was.
//!
//! The corpus tests read `shared/` beside the repository (`../shared`, or `$TAXII_SHARED`) and
//! fail with a message saying so when it is missing.

#![allow(clippy::expect_used, clippy::unwrap_used)]

use std::path::{Path, PathBuf};

use taxii_gateway::taxii::{
    rewrite_response, scan_body, Dialect, Envelope, MessageKind, Outcome, RewritePlan, Rewritten,
    ScanLimits, ServiceRef, StreamScanner,
};

const GW: &str = "https://gw.example:9443";

/// The gateway's address for an upstream one: same path, the gateway's origin. Addresses under
/// `/unmapped` (and anything not http or https) have no route through the gateway.
fn to_gateway(addr: &str) -> Option<String> {
    let rest = addr
        .strip_prefix("http://")
        .or_else(|| addr.strip_prefix("https://"))?;
    let path = &rest[rest.find('/').unwrap_or(rest.len())..];
    if path.starts_with("/unmapped") {
        return None;
    }
    Some(format!("{GW}{path}"))
}

fn scan(body: &[u8]) -> Envelope {
    scan_body(body, &ScanLimits::default())
        .unwrap_or_else(|r| panic!("{r:?}\n{}", String::from_utf8_lossy(body)))
}

/// Rewrites `body` and checks that the result scans again as the same message kind in the same
/// dialect. Returns the result, the new body and its envelope.
fn rewrite(body: &str, plan: &RewritePlan<'_>) -> (Rewritten, String, Envelope) {
    let before = scan(body.as_bytes());
    let r = rewrite_response(body.as_bytes(), &before, plan).expect("spans fit the body");
    let out = String::from_utf8(r.body(body.as_bytes()).to_vec()).expect("UTF-8 stays UTF-8");
    let after = scan(out.as_bytes());
    assert_eq!(after.dialect, before.dialect);
    assert_eq!(after.kind, before.kind);
    assert_eq!(after.message_id, before.message_id, "header bytes moved");
    (r, out, after)
}

fn addresses(env: &Envelope) -> Vec<&str> {
    env.services
        .iter()
        .map(|s| s.address.value.as_str())
        .collect()
}

fn feed_names(env: &Envelope) -> Vec<&str> {
    env.feed_records
        .iter()
        .map(|f| f.name.value.as_str())
        .collect()
}

fn counts(r: &Rewritten) -> [usize; 4] {
    [
        r.feeds_dropped,
        r.services_dropped,
        r.unmapped_addresses,
        r.addresses_rewritten,
    ]
}

// ---------------------------------------------------------------------------------------------
// Discovery responses, one per dialect, checked byte for byte
// ---------------------------------------------------------------------------------------------

const DRAFT1_DISCOVERY: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<TAXII_DiscoveryResponse xmlns="http://taxii.mitre.org/messages/xml/1" message-id="a1" in-response-to="b2">
  <service-instance service-type="DISCOVERY" service-version="TAXII_1.0" available="true">
    <protocol-binding>TAXII_HTTPS_BINDING_1.0</protocol-binding>
    <message-binding>TAXII_XML_BINDING_1.0</message-binding>
    <service-address>http://127.0.0.1:9000/services/discovery</service-address>
    <message>Discovery.</message>
  </service-instance>
  <service-instance service-type="INBOX" service-version="TAXII_1.0">
    <protocol-binding>TAXII_HTTP_BINDING_1.0</protocol-binding>
    <message-binding>TAXII_XML_BINDING_1.0</message-binding>
    <content-binding>STIX_XML_1.0</content-binding>
    <service-address>http://127.0.0.1:9000/services/inbox</service-address>
  </service-instance>
  <service-instance service-type="POLL" service-version="TAXII_1.0">
    <protocol-binding>TAXII_HTTP_BINDING_1.0</protocol-binding>
    <message-binding>TAXII_XML_BINDING_1.0</message-binding>
    <service-address> http://127.0.0.1:9000/services/poll </service-address>
  </service-instance>
</TAXII_DiscoveryResponse>
"#;

fn no_inbox(s: &ServiceRef) -> bool {
    s.service_type != "INBOX"
}

#[test]
fn draft1_discovery_drops_services_and_maps_addresses() {
    let plan = RewritePlan::new(&to_gateway).keep_services(&no_inbox);
    let (r, out, after) = rewrite(DRAFT1_DISCOVERY, &plan);
    let expected = r#"<?xml version="1.0" encoding="UTF-8"?>
<TAXII_DiscoveryResponse xmlns="http://taxii.mitre.org/messages/xml/1" message-id="a1" in-response-to="b2">
  <service-instance service-type="DISCOVERY" service-version="TAXII_1.0" available="true">
    <protocol-binding>TAXII_HTTPS_BINDING_1.0</protocol-binding>
    <message-binding>TAXII_XML_BINDING_1.0</message-binding>
    <service-address>https://gw.example:9443/services/discovery</service-address>
    <message>Discovery.</message>
  </service-instance>
  <service-instance service-type="POLL" service-version="TAXII_1.0">
    <protocol-binding>TAXII_HTTP_BINDING_1.0</protocol-binding>
    <message-binding>TAXII_XML_BINDING_1.0</message-binding>
    <service-address>https://gw.example:9443/services/poll</service-address>
  </service-instance>
</TAXII_DiscoveryResponse>
"#;
    assert_eq!(out, expected);
    assert_eq!(counts(&r), [0, 1, 0, 2]);
    assert_eq!(
        addresses(&after),
        [
            "https://gw.example:9443/services/discovery",
            "https://gw.example:9443/services/poll"
        ]
    );
}

const V10_DISCOVERY: &str = "<Discovery_Response xmlns=\"http://taxii.mitre.org/messages/taxii_xml_binding-1\" message_id=\"90001\" in_response_to=\"41235\">\r
  <Service_Instance service_type=\"DISCOVERY\" service_version=\"urn:taxii.mitre.org:services:1.0\">\r
    <Protocol_Binding>urn:taxii.mitre.org:protocol:https:1.0</Protocol_Binding>\r
    <Address>https://up.internal/taxii-discovery-service/</Address>\r
    <Message_Binding>urn:taxii.mitre.org:message:xml:1.0</Message_Binding>\r
  </Service_Instance>\r
  <Service_Instance service_type=\"FEED_MANAGEMENT\" service_version=\"urn:taxii.mitre.org:services:1.0\">\r
    <Protocol_Binding>urn:taxii.mitre.org:protocol:https:1.0</Protocol_Binding>\r
    <Address>https://up.internal/unmapped/feed-management/</Address>\r
    <Message_Binding>urn:taxii.mitre.org:message:xml:1.0</Message_Binding>\r
  </Service_Instance>\r
  <Service_Instance service_type=\"POLL\" service_version=\"urn:taxii.mitre.org:services:1.0\">\r
    <Protocol_Binding>urn:taxii.mitre.org:protocol:https:1.0</Protocol_Binding>\r
    <Address>https://up.internal/poll/</Address>\r
    <Message_Binding>urn:taxii.mitre.org:message:xml:1.0</Message_Binding>\r
  </Service_Instance>\r
</Discovery_Response>";

#[test]
fn v10_discovery_drops_the_record_whose_address_cannot_be_mapped() {
    let plan = RewritePlan::new(&to_gateway);
    let (r, out, after) = rewrite(V10_DISCOVERY, &plan);
    let expected = "<Discovery_Response xmlns=\"http://taxii.mitre.org/messages/taxii_xml_binding-1\" message_id=\"90001\" in_response_to=\"41235\">\r
  <Service_Instance service_type=\"DISCOVERY\" service_version=\"urn:taxii.mitre.org:services:1.0\">\r
    <Protocol_Binding>urn:taxii.mitre.org:protocol:https:1.0</Protocol_Binding>\r
    <Address>https://gw.example:9443/taxii-discovery-service/</Address>\r
    <Message_Binding>urn:taxii.mitre.org:message:xml:1.0</Message_Binding>\r
  </Service_Instance>\r
  <Service_Instance service_type=\"POLL\" service_version=\"urn:taxii.mitre.org:services:1.0\">\r
    <Protocol_Binding>urn:taxii.mitre.org:protocol:https:1.0</Protocol_Binding>\r
    <Address>https://gw.example:9443/poll/</Address>\r
    <Message_Binding>urn:taxii.mitre.org:message:xml:1.0</Message_Binding>\r
  </Service_Instance>\r
</Discovery_Response>";
    assert_eq!(out, expected);
    assert_eq!(counts(&r), [0, 1, 1, 2]);
    assert_eq!(
        after
            .services
            .iter()
            .map(|s| s.service_type.as_str())
            .collect::<Vec<_>>(),
        ["DISCOVERY", "POLL"]
    );
}

/// OpenTAXII's style: every element prefixed, the TAXII 1.0 namespace bound too.
const V11_DISCOVERY_PREFIXED: &str = r#"<taxii_11:Discovery_Response xmlns:taxii="http://taxii.mitre.org/messages/taxii_xml_binding-1" xmlns:taxii_11="http://taxii.mitre.org/messages/taxii_xml_binding-1.1" message_id="1" in_response_to="2"><taxii_11:Service_Instance service_type="DISCOVERY" service_version="urn:taxii.mitre.org:services:1.1" available="true"><taxii_11:Protocol_Binding>urn:taxii.mitre.org:protocol:http:1.0</taxii_11:Protocol_Binding><taxii_11:Address>http://127.0.0.1:9301/services/discovery</taxii_11:Address><taxii_11:Message_Binding>urn:taxii.mitre.org:message:xml:1.1</taxii_11:Message_Binding></taxii_11:Service_Instance><taxii_11:Service_Instance service_type="INBOX" service_version="urn:taxii.mitre.org:services:1.1"><taxii_11:Protocol_Binding>urn:taxii.mitre.org:protocol:http:1.0</taxii_11:Protocol_Binding><taxii_11:Address>http://127.0.0.1:9301/services/inbox</taxii_11:Address><taxii_11:Message_Binding>urn:taxii.mitre.org:message:xml:1.1</taxii_11:Message_Binding></taxii_11:Service_Instance><taxii_11:Service_Instance service_type="POLL" service_version="urn:taxii.mitre.org:services:1.1"><taxii_11:Protocol_Binding>urn:taxii.mitre.org:protocol:http:1.0</taxii_11:Protocol_Binding><taxii_11:Address>http://127.0.0.1:9301/services/poll?a=1&amp;b=2</taxii_11:Address><taxii_11:Message_Binding>urn:taxii.mitre.org:message:xml:1.1</taxii_11:Message_Binding></taxii_11:Service_Instance></taxii_11:Discovery_Response>"#;

#[test]
fn v11_discovery_with_prefixes_and_escaped_addresses() {
    let plan = RewritePlan::new(&to_gateway).keep_services(&no_inbox);
    let (r, out, after) = rewrite(V11_DISCOVERY_PREFIXED, &plan);
    // No white space to take along; the `&amp;` of the upstream's address is read as `&` and
    // written back escaped.
    let expected = r#"<taxii_11:Discovery_Response xmlns:taxii="http://taxii.mitre.org/messages/taxii_xml_binding-1" xmlns:taxii_11="http://taxii.mitre.org/messages/taxii_xml_binding-1.1" message_id="1" in_response_to="2"><taxii_11:Service_Instance service_type="DISCOVERY" service_version="urn:taxii.mitre.org:services:1.1" available="true"><taxii_11:Protocol_Binding>urn:taxii.mitre.org:protocol:http:1.0</taxii_11:Protocol_Binding><taxii_11:Address>https://gw.example:9443/services/discovery</taxii_11:Address><taxii_11:Message_Binding>urn:taxii.mitre.org:message:xml:1.1</taxii_11:Message_Binding></taxii_11:Service_Instance><taxii_11:Service_Instance service_type="POLL" service_version="urn:taxii.mitre.org:services:1.1"><taxii_11:Protocol_Binding>urn:taxii.mitre.org:protocol:http:1.0</taxii_11:Protocol_Binding><taxii_11:Address>https://gw.example:9443/services/poll?a=1&amp;b=2</taxii_11:Address><taxii_11:Message_Binding>urn:taxii.mitre.org:message:xml:1.1</taxii_11:Message_Binding></taxii_11:Service_Instance></taxii_11:Discovery_Response>"#;
    assert_eq!(out, expected);
    assert_eq!(counts(&r), [0, 1, 0, 2]);
    assert_eq!(
        addresses(&after),
        [
            "https://gw.example:9443/services/discovery",
            "https://gw.example:9443/services/poll?a=1&b=2"
        ]
    );
}

#[test]
fn new_addresses_are_escaped() {
    let odd = |a: &str| to_gateway(a).map(|g| format!("{g}?x=<1>&y=]]>"));
    let plan = RewritePlan::new(&odd);
    let (r, out, after) = rewrite(V11_DISCOVERY_PREFIXED, &plan);
    assert_eq!(counts(&r), [0, 0, 0, 3]);
    assert!(
        out.contains(">https://gw.example:9443/services/discovery?x=&lt;1&gt;&amp;y=]]&gt;</"),
        "{out}"
    );
    assert_eq!(
        addresses(&after)[2],
        "https://gw.example:9443/services/poll?a=1&b=2?x=<1>&y=]]>"
    );
}

#[test]
fn mapped_addresses_with_control_characters_count_as_unmapped() {
    let bad = |a: &str| to_gateway(a).map(|g| format!("{g}\u{1}"));
    let plan = RewritePlan::new(&bad);
    let (r, out, after) = rewrite(V11_DISCOVERY_PREFIXED, &plan);
    assert_eq!(counts(&r), [0, 3, 3, 0]);
    assert!(after.services.is_empty());
    assert!(out.ends_with("in_response_to=\"2\"></taxii_11:Discovery_Response>"));
}

#[test]
fn an_address_already_pointing_at_the_gateway_is_left_alone() {
    let body = V10_DISCOVERY.replace("https://up.internal/", "https://gw.example:9443/");
    let plan = RewritePlan::new(&to_gateway);
    let (r, out, _) = rewrite(&body, &plan);
    // Only the unmappable record goes.
    assert_eq!(counts(&r), [0, 1, 1, 0]);
    let from = body
        .find("\r\n  <Service_Instance service_type=\"FEED")
        .unwrap();
    let to = from + body[from..].find("</Service_Instance>").unwrap() + "</Service_Instance>".len();
    assert_eq!(out, format!("{}{}", &body[..from], &body[to..]));
}

#[test]
fn addresses_in_cdata_char_refs_and_around_comments_are_replaced_whole() {
    let body = V10_DISCOVERY
        .replace(
            "https://up.internal/taxii-discovery-service/",
            "<![CDATA[https://up.internal/taxii-discovery-service/]]>",
        )
        .replace(
            "https://up.internal/poll/",
            "https:&#x2F;/up.internal/<!-- old -->poll/",
        );
    let plan = RewritePlan::new(&to_gateway);
    let (r, out, after) = rewrite(&body, &plan);
    assert_eq!(counts(&r), [0, 1, 1, 2]);
    assert!(out.contains("<Address>https://gw.example:9443/taxii-discovery-service/</Address>"));
    assert!(out.contains("<Address>https://gw.example:9443/poll/</Address>"));
    assert!(!out.contains("CDATA") && !out.contains("old"), "{out}");
    assert_eq!(
        addresses(&after),
        [
            "https://gw.example:9443/taxii-discovery-service/",
            "https://gw.example:9443/poll/"
        ]
    );
}

#[test]
fn dropping_every_record_leaves_a_tidy_empty_response() {
    let none = |_: &ServiceRef| false;
    let plan = RewritePlan::new(&to_gateway).keep_services(&none);
    let (r, out, after) = rewrite(DRAFT1_DISCOVERY, &plan);
    assert_eq!(counts(&r), [0, 3, 0, 0]);
    assert!(after.services.is_empty());
    assert_eq!(
        out,
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<TAXII_DiscoveryResponse xmlns=\"http://taxii.mitre.org/messages/xml/1\" message-id=\"a1\" in-response-to=\"b2\">\n</TAXII_DiscoveryResponse>\n"
    );
}

#[test]
fn nothing_to_change_is_unchanged() {
    let same = |a: &str| Some(a.to_string());
    let plan = RewritePlan::new(&same);
    // Escaped, or with white space around: the same address, nothing to do.
    for body in [V11_DISCOVERY_PREFIXED, DRAFT1_DISCOVERY] {
        let (r, out, _) = rewrite(body, &plan);
        assert_eq!(r.outcome, Outcome::Unchanged);
        assert!(!r.changed());
        assert_eq!(counts(&r), [0, 0, 0, 0]);
        assert_eq!(out, body);
    }
}

// ---------------------------------------------------------------------------------------------
// Feed / Collection Information responses
// ---------------------------------------------------------------------------------------------

const DRAFT1_FEEDS: &str = r#"<TAXII_FeedInformationResponse xmlns="http://taxii.mitre.org/messages/xml/1" message-id="c3" in-response-to="d4">
  <feed feed-name="Platinum" available="false">
    <description>Most comprehensive.</description>
    <delivery-method>POLL</delivery-method>
    <message-binding>TAXII_XML_BINDING_1.0</message-binding>
    <content-binding>STIX_XML_1.0</content-binding>
  </feed>
	<feed feed-name="Gold">
    <description>Up to the minute.</description>
    <delivery-method>POLL</delivery-method>
    <message-binding>TAXII_XML_BINDING_1.0</message-binding>
    <content-binding>STIX_XML_1.0</content-binding>
  </feed>
  <!-- the cheap one -->
  <feed feed-name="Silver">
    <description>Daily digest.</description>
    <delivery-method>TAXII_HTTP_BINDING_1.0</delivery-method>
    <message-binding>TAXII_XML_BINDING_1.0</message-binding>
    <content-binding>STIX_XML_1.0</content-binding>
  </feed>
</TAXII_FeedInformationResponse>"#;

#[test]
fn draft1_feed_information_drops_feeds_without_a_grant() {
    let gold = |name: &str| name == "Gold";
    let plan = RewritePlan::new(&to_gateway).keep_feeds(&gold);
    let (r, out, after) = rewrite(DRAFT1_FEEDS, &plan);
    let expected = r#"<TAXII_FeedInformationResponse xmlns="http://taxii.mitre.org/messages/xml/1" message-id="c3" in-response-to="d4">
	<feed feed-name="Gold">
    <description>Up to the minute.</description>
    <delivery-method>POLL</delivery-method>
    <message-binding>TAXII_XML_BINDING_1.0</message-binding>
    <content-binding>STIX_XML_1.0</content-binding>
  </feed>
  <!-- the cheap one -->
</TAXII_FeedInformationResponse>"#;
    assert_eq!(out, expected);
    assert_eq!(counts(&r), [2, 0, 0, 0]);
    assert_eq!(feed_names(&after), ["Gold"]);
    assert_eq!(
        after
            .feeds
            .iter()
            .map(|f| f.value.as_str())
            .collect::<Vec<_>>(),
        ["Gold"]
    );
}

const V10_FEEDS: &str = r#"<?xml version="1.0"?>
<tx:Feed_Information_Response xmlns:tx="http://taxii.mitre.org/messages/taxii_xml_binding-1" message_id="90002" in_response_to="41237">
  <tx:Feed feed_name="gold" available="true">
    <tx:Description>Gold.</tx:Description>
    <tx:Content_Binding>urn:stix.mitre.org:xml:1.0</tx:Content_Binding>
    <tx:Polling_Service>
      <tx:Protocol_Binding>urn:taxii.mitre.org:protocol:https:1.0</tx:Protocol_Binding>
      <tx:Address>https://up.internal/poll/</tx:Address>
      <tx:Message_Binding>urn:taxii.mitre.org:message:xml:1.0</tx:Message_Binding>
    </tx:Polling_Service>
    <tx:Subscription_Service>
      <tx:Protocol_Binding>urn:taxii.mitre.org:protocol:https:1.0</tx:Protocol_Binding>
      <tx:Address>https://up.internal/unmapped/feed-management/</tx:Address>
      <tx:Message_Binding>urn:taxii.mitre.org:message:xml:1.0</tx:Message_Binding>
    </tx:Subscription_Service>
  </tx:Feed>
  <tx:Feed feed_name="secret">
    <tx:Description>Not for this partner.</tx:Description>
    <tx:Content_Binding>urn:stix.mitre.org:xml:1.0</tx:Content_Binding>
    <tx:Polling_Service>
      <tx:Protocol_Binding>urn:taxii.mitre.org:protocol:https:1.0</tx:Protocol_Binding>
      <tx:Address>https://up.internal/unmapped/poll/</tx:Address>
      <tx:Message_Binding>urn:taxii.mitre.org:message:xml:1.0</tx:Message_Binding>
    </tx:Polling_Service>
  </tx:Feed>
  <tx:Feed feed_name="stranded">
    <tx:Description>Its only polling service is not served by the gateway.</tx:Description>
    <tx:Content_Binding>urn:stix.mitre.org:xml:1.0</tx:Content_Binding>
    <tx:Polling_Service>
      <tx:Protocol_Binding>urn:taxii.mitre.org:protocol:https:1.0</tx:Protocol_Binding>
      <tx:Address>https://up.internal/unmapped/poll/</tx:Address>
      <tx:Message_Binding>urn:taxii.mitre.org:message:xml:1.0</tx:Message_Binding>
    </tx:Polling_Service>
  </tx:Feed>
</tx:Feed_Information_Response>"#;

#[test]
fn v10_feed_information_drops_feeds_and_unmapped_services_and_maps_the_rest() {
    let not_secret = |name: &str| name != "secret";
    let plan = RewritePlan::new(&to_gateway).keep_feeds(&not_secret);
    let (r, out, after) = rewrite(V10_FEEDS, &plan);
    let expected = r#"<?xml version="1.0"?>
<tx:Feed_Information_Response xmlns:tx="http://taxii.mitre.org/messages/taxii_xml_binding-1" message_id="90002" in_response_to="41237">
  <tx:Feed feed_name="gold" available="true">
    <tx:Description>Gold.</tx:Description>
    <tx:Content_Binding>urn:stix.mitre.org:xml:1.0</tx:Content_Binding>
    <tx:Polling_Service>
      <tx:Protocol_Binding>urn:taxii.mitre.org:protocol:https:1.0</tx:Protocol_Binding>
      <tx:Address>https://gw.example:9443/poll/</tx:Address>
      <tx:Message_Binding>urn:taxii.mitre.org:message:xml:1.0</tx:Message_Binding>
    </tx:Polling_Service>
  </tx:Feed>
</tx:Feed_Information_Response>"#;
    assert_eq!(out, expected);
    // `secret` has no grant; `stranded` loses its only Polling_Service, and with it the means
    // of delivery a 1.0 Feed must list: it goes too.
    assert_eq!(counts(&r), [2, 1, 1, 1]);
    assert_eq!(feed_names(&after), ["gold"]);
    assert_eq!(addresses(&after), ["https://gw.example:9443/poll/"]);
    assert_eq!(after.services[0].element, "Polling_Service");
}

const V11_COLLECTIONS: &str = r#"<Collection_Information_Response xmlns="http://taxii.mitre.org/messages/taxii_xml_binding-1.1" message_id="urn:uuid:1" in_response_to="urn:uuid:2">
  <Collection collection_name="feed-a" collection_type="DATA_FEED" available="true">
    <Description>A.</Description>
    <Polling_Service>
      <Protocol_Binding>urn:taxii.mitre.org:protocol:http:1.0</Protocol_Binding>
      <Address>http://127.0.0.1:9000/services/poll</Address>
      <Message_Binding>urn:taxii.mitre.org:message:xml:1.1</Message_Binding>
    </Polling_Service>
    <Polling_Service>
      <Protocol_Binding>urn:taxii.mitre.org:protocol:http:1.0</Protocol_Binding>
      <Address>http://127.0.0.1:9000/unmapped/poll-auth</Address>
      <Message_Binding>urn:taxii.mitre.org:message:xml:1.1</Message_Binding>
    </Polling_Service>
    <Subscription_Service>
      <Protocol_Binding>urn:taxii.mitre.org:protocol:http:1.0</Protocol_Binding>
      <Address>http://127.0.0.1:9000/services/collection-management</Address>
      <Message_Binding>urn:taxii.mitre.org:message:xml:1.1</Message_Binding>
    </Subscription_Service>
    <Receiving_Inbox_Service>
      <Protocol_Binding>urn:taxii.mitre.org:protocol:http:1.0</Protocol_Binding>
      <Address>http://127.0.0.1:9000/services/inbox?c=feed-a&amp;x=1</Address>
      <Message_Binding>urn:taxii.mitre.org:message:xml:1.1</Message_Binding>
      <Content_Binding binding_id="urn:stix.mitre.org:xml:1.1.1"/>
    </Receiving_Inbox_Service>
  </Collection>
  <Collection collection_name="feed-b">
    <Description>B.</Description>
    <Polling_Service>
      <Protocol_Binding>urn:taxii.mitre.org:protocol:http:1.0</Protocol_Binding>
      <Address>http://127.0.0.1:9000/services/poll</Address>
      <Message_Binding>urn:taxii.mitre.org:message:xml:1.1</Message_Binding>
    </Polling_Service>
  </Collection>
  <Collection collection_name="feed-c">
    <Description>C: every service unmapped; a 1.1 collection may list none.</Description>
    <Polling_Service>
      <Protocol_Binding>urn:taxii.mitre.org:protocol:http:1.0</Protocol_Binding>
      <Address>http://127.0.0.1:9000/unmapped/poll</Address>
      <Message_Binding>urn:taxii.mitre.org:message:xml:1.1</Message_Binding>
    </Polling_Service>
  </Collection>
</Collection_Information_Response>"#;

#[test]
fn v11_collection_information_drops_and_maps() {
    let not_b = |name: &str| name != "feed-b";
    let no_subscriptions = |s: &ServiceRef| s.element != "Subscription_Service";
    let plan = RewritePlan::new(&to_gateway)
        .keep_feeds(&not_b)
        .keep_services(&no_subscriptions);
    let (r, out, after) = rewrite(V11_COLLECTIONS, &plan);
    let expected = r#"<Collection_Information_Response xmlns="http://taxii.mitre.org/messages/taxii_xml_binding-1.1" message_id="urn:uuid:1" in_response_to="urn:uuid:2">
  <Collection collection_name="feed-a" collection_type="DATA_FEED" available="true">
    <Description>A.</Description>
    <Polling_Service>
      <Protocol_Binding>urn:taxii.mitre.org:protocol:http:1.0</Protocol_Binding>
      <Address>https://gw.example:9443/services/poll</Address>
      <Message_Binding>urn:taxii.mitre.org:message:xml:1.1</Message_Binding>
    </Polling_Service>
    <Receiving_Inbox_Service>
      <Protocol_Binding>urn:taxii.mitre.org:protocol:http:1.0</Protocol_Binding>
      <Address>https://gw.example:9443/services/inbox?c=feed-a&amp;x=1</Address>
      <Message_Binding>urn:taxii.mitre.org:message:xml:1.1</Message_Binding>
      <Content_Binding binding_id="urn:stix.mitre.org:xml:1.1.1"/>
    </Receiving_Inbox_Service>
  </Collection>
  <Collection collection_name="feed-c">
    <Description>C: every service unmapped; a 1.1 collection may list none.</Description>
  </Collection>
</Collection_Information_Response>"#;
    assert_eq!(out, expected);
    assert_eq!(counts(&r), [1, 3, 2, 2]);
    assert_eq!(feed_names(&after), ["feed-a", "feed-c"]);
    assert_eq!(
        addresses(&after),
        [
            "https://gw.example:9443/services/poll",
            "https://gw.example:9443/services/inbox?c=feed-a&x=1"
        ]
    );
}

#[test]
fn feed_records_are_in_the_envelope_whole_and_streamed() {
    for body in [DRAFT1_FEEDS, V10_FEEDS, V11_COLLECTIONS] {
        let env = scan(body.as_bytes());
        assert_eq!(env.feed_records.len(), 3);
        for f in &env.feed_records {
            let record = &body[f.span.clone()];
            assert!(record.starts_with('<') && record.ends_with('>'), "{record}");
            assert!(f.span.contains(&f.name.span.start));
            assert_eq!(&body[f.name.span.clone()], f.name.value);
        }
        for s in &env.services {
            assert_eq!(
                body[s.address.span.clone()].trim().replace("&amp;", "&"),
                s.address.value.trim()
            );
        }
        // Piece by piece, cut everywhere: the same envelope.
        for step in [1, 7, 64] {
            let mut st = StreamScanner::new(ScanLimits::default());
            for piece in body.as_bytes().chunks(step) {
                st.feed(piece).expect("feeds");
            }
            assert_eq!(st.finish().expect("finishes"), env, "pieces of {step}");
        }
    }
    // Other messages have none.
    assert!(scan(DRAFT1_DISCOVERY.as_bytes()).feed_records.is_empty());
}

// ---------------------------------------------------------------------------------------------
// Subscription Management responses, signed and other messages, a mismatched envelope
// ---------------------------------------------------------------------------------------------

const V11_SUBSCRIPTION: &str = r#"<Subscription_Management_Response xmlns="http://taxii.mitre.org/messages/taxii_xml_binding-1.1" message_id="m1" in_response_to="m0" collection_name="feed-a">
  <Subscription status="ACTIVE">
    <Subscription_ID>sub-1</Subscription_ID>
    <Push_Parameters>
      <Protocol_Binding>urn:taxii.mitre.org:protocol:http:1.0</Protocol_Binding>
      <Address>http://partner.example/inbox</Address>
      <Message_Binding>urn:taxii.mitre.org:message:xml:1.1</Message_Binding>
    </Push_Parameters>
    <Poll_Instance>
      <Protocol_Binding>urn:taxii.mitre.org:protocol:http:1.0</Protocol_Binding>
      <Address>http://127.0.0.1:9000/services/poll</Address>
      <Message_Binding>urn:taxii.mitre.org:message:xml:1.1</Message_Binding>
    </Poll_Instance>
    <Poll_Instance>
      <Protocol_Binding>urn:taxii.mitre.org:protocol:http:1.0</Protocol_Binding>
      <Address>http://127.0.0.1:9000/unmapped/poll</Address>
      <Message_Binding>urn:taxii.mitre.org:message:xml:1.1</Message_Binding>
    </Poll_Instance>
  </Subscription>
</Subscription_Management_Response>"#;

#[test]
fn subscription_responses_map_poll_instances_and_keep_push_addresses() {
    let plan = RewritePlan::new(&to_gateway);
    let (r, out, after) = rewrite(V11_SUBSCRIPTION, &plan);
    assert_eq!(counts(&r), [0, 1, 1, 1]);
    assert_eq!(addresses(&after), ["https://gw.example:9443/services/poll"]);
    assert_eq!(after.services[0].element, "Poll_Instance");
    // The partner's own push address is not the upstream's: untouched.
    assert!(out.contains("<Address>http://partner.example/inbox</Address>"));
    assert_eq!(addresses(&after).len(), 1);
    assert_eq!(
        after.delivery_addresses[0].value,
        "http://partner.example/inbox"
    );
    assert!(!out.contains("unmapped"));

    // 1.0: Poll_Instance too.
    let v10 = r#"<Subscription_Management_Response xmlns="http://taxii.mitre.org/messages/taxii_xml_binding-1" message_id="1" in_response_to="0" feed_name="gold">
  <Subscription subscription_id="s1">
    <Poll_Instance>
      <Protocol_Binding>urn:taxii.mitre.org:protocol:http:1.0</Protocol_Binding>
      <Address>http://up.internal/poll/</Address>
      <Message_Binding>urn:taxii.mitre.org:message:xml:1.0</Message_Binding>
    </Poll_Instance>
  </Subscription>
</Subscription_Management_Response>"#;
    let (r, out, _) = rewrite(v10, &plan);
    assert_eq!(counts(&r), [0, 0, 0, 1]);
    assert_eq!(
        out,
        v10.replace("http://up.internal/poll/", "https://gw.example:9443/poll/")
    );
}

#[test]
fn a_signed_message_is_not_touched() {
    let signed = V11_COLLECTIONS.replace(
        "</Collection_Information_Response>",
        "<ds:Signature xmlns:ds=\"http://www.w3.org/2000/09/xmldsig#\"><ds:SignedInfo/></ds:Signature>\n</Collection_Information_Response>",
    );
    let not_b = |name: &str| name != "feed-b";
    let plan = RewritePlan::new(&to_gateway).keep_feeds(&not_b);
    let env = scan(signed.as_bytes());
    assert!(env.signed);
    let r = rewrite_response(signed.as_bytes(), &env, &plan).unwrap();
    assert_eq!(r.outcome, Outcome::Signed);
    assert!(!r.changed());
    assert_eq!(r.body(signed.as_bytes()), signed.as_bytes());
    // The counts say what the plan called for.
    assert_eq!(counts(&r), [1, 2, 2, 3]);

    // Signed, with nothing to change: simply unchanged.
    let same = |a: &str| Some(a.to_string());
    let r = rewrite_response(signed.as_bytes(), &env, &RewritePlan::new(&same)).unwrap();
    assert_eq!(r.outcome, Outcome::Unchanged);
}

#[test]
fn other_messages_are_unchanged() {
    let poll = r#"<Poll_Response xmlns="http://taxii.mitre.org/messages/taxii_xml_binding-1.1" message_id="1" in_response_to="0" collection_name="feed-b"><Inclusive_End_Timestamp>2026-01-01T00:00:00Z</Inclusive_End_Timestamp></Poll_Response>"#;
    let env = scan(poll.as_bytes());
    let never = |_: &str| false;
    let plan = RewritePlan::new(&to_gateway).keep_feeds(&never);
    let r = rewrite_response(poll.as_bytes(), &env, &plan).unwrap();
    assert_eq!(r.outcome, Outcome::Unchanged);
    assert_eq!(counts(&r), [0, 0, 0, 0]);
}

#[test]
fn an_envelope_of_another_body_is_an_error() {
    let env = scan(V11_COLLECTIONS.as_bytes());
    let plan = RewritePlan::new(&to_gateway);
    let short = &V11_COLLECTIONS.as_bytes()[..200];
    let err = rewrite_response(short, &env, &plan).unwrap_err();
    assert!(err.to_string().contains("does not match"), "{err}");
}

// ---------------------------------------------------------------------------------------------
// The shared corpus: fixtures of every dialect and OpenTAXII's real responses
// ---------------------------------------------------------------------------------------------

fn shared() -> PathBuf {
    let dir = std::env::var_os("TAXII_SHARED")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared"));
    assert!(
        dir.join("fixtures").is_dir() && dir.join("interop/captures").is_dir(),
        "the shared corpus is missing at {}: check out shared/ beside the repository or set TAXII_SHARED",
        dir.display()
    );
    dir
}

fn files(dir: &Path, suffix: &str) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.to_string_lossy().ends_with(suffix))
        .collect();
    out.sort();
    out
}

/// The body of a capture file: everything after the head's CRLF CRLF, byte for byte.
fn capture_body(path: &Path) -> Vec<u8> {
    let raw = std::fs::read(path).unwrap();
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map_or(raw.len(), |i| i + 4);
    raw[split..].to_vec()
}

/// Whether the corpus partner sees a feed: every other one, by position in the message.
fn corpus_keep_feed(env: &Envelope) -> impl Fn(&str) -> bool + '_ {
    move |name: &str| {
        let i = env
            .feed_records
            .iter()
            .position(|f| f.name.value == name)
            .unwrap();
        i % 2 == 0
    }
}

/// The corpus partner sees no inbox and no subscription service.
fn corpus_keep_service(s: &ServiceRef) -> bool {
    !matches!(s.service_type.as_str(), "INBOX")
        && !matches!(
            s.element,
            "Subscription_Service" | "Receiving_Inbox_Service"
        )
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// What the rewrite must give, computed the plain way: cut the dropped records out with the
/// white space before them, then replace each kept address text.
fn oracle(body: &str, env: &Envelope) -> (String, Vec<String>, Vec<String>) {
    let keep_feed = corpus_keep_feed(env);
    let mut cut: Vec<std::ops::Range<usize>> = Vec::new();
    let mut names = Vec::new();
    for f in &env.feed_records {
        if keep_feed(&f.name.value) {
            names.push(f.name.value.clone());
        } else {
            cut.push(f.span.clone());
        }
    }
    let mut kept = Vec::new();
    for s in &env.services {
        if cut.iter().any(|c| c.contains(&s.span.start)) {
            continue;
        }
        match to_gateway(s.address.value.trim()) {
            Some(new) if corpus_keep_service(s) => kept.push((s, new)),
            _ => cut.push(s.span.clone()),
        }
    }
    cut.sort_by_key(|c| c.start);
    let mut out = String::new();
    let mut at = 0;
    for c in &cut {
        let start = body[..c.start]
            .trim_end_matches([' ', '\t', '\r', '\n'])
            .len()
            .max(at);
        out.push_str(&body[at..start]);
        at = c.end;
    }
    out.push_str(&body[at..]);
    for (s, new) in &kept {
        let old = &body[s.address.span.clone()];
        out = out.replace(&format!(">{old}</"), &format!(">{}</", escape(new)));
    }
    let addresses = kept.into_iter().map(|(_, new)| new).collect();
    (out, names, addresses)
}

/// Rewrites one corpus message if it is one the rewriter handles; returns its kind.
fn check_corpus_message(label: &str, body: &[u8]) -> Option<(Dialect, MessageKind, [usize; 4])> {
    let env = scan_body(body, &ScanLimits::default()).ok()?;
    if !matches!(
        env.kind,
        MessageKind::DiscoveryResponse
            | MessageKind::FeedInformationResponse
            | MessageKind::SubscriptionManagementResponse
    ) {
        return None;
    }
    let text = std::str::from_utf8(body).unwrap();
    let keep_feed = corpus_keep_feed(&env);
    let plan = RewritePlan::new(&to_gateway)
        .keep_feeds(&keep_feed)
        .keep_services(&corpus_keep_service);
    let r = rewrite_response(body, &env, &plan).unwrap_or_else(|e| panic!("{label}: {e}"));
    let out = std::str::from_utf8(r.body(body)).unwrap();
    let (expected, names, addrs) = oracle(text, &env);
    assert_eq!(out, expected, "{label}");
    let after = scan_body(out.as_bytes(), &ScanLimits::default())
        .unwrap_or_else(|e| panic!("{label}: the rewrite does not scan: {e:?}\n{out}"));
    assert_eq!(
        (after.dialect, after.kind),
        (env.dialect, env.kind),
        "{label}"
    );
    assert_eq!(feed_names(&after), names, "{label}");
    assert_eq!(addresses(&after), addrs, "{label}");
    assert!(
        after
            .services
            .iter()
            .all(|s| s.address.value.starts_with(GW)),
        "{label}: an upstream address is left"
    );
    assert_eq!(
        r.feeds_dropped,
        env.feed_records.len() - after.feed_records.len(),
        "{label}"
    );
    Some((env.dialect, env.kind, counts(&r)))
}

#[test]
fn fixtures_of_every_dialect() {
    let dir = shared().join("fixtures");
    let mut seen = Vec::new();
    let mut total = [0; 4];
    for folder in ["draft1", "1.0", "1.1"] {
        for path in files(&dir.join(folder), ".xml") {
            let body = std::fs::read(&path).unwrap();
            if let Some((d, k, c)) = check_corpus_message(&path.display().to_string(), &body) {
                seen.push((d, k));
                for (t, c) in total.iter_mut().zip(c) {
                    *t += c;
                }
            }
        }
    }
    for d in Dialect::ALL {
        for k in [
            MessageKind::DiscoveryResponse,
            MessageKind::FeedInformationResponse,
            MessageKind::SubscriptionManagementResponse,
        ] {
            assert!(
                seen.contains(&(d, k)),
                "no {d:?} {k:?} fixture was rewritten"
            );
        }
    }
    // Feeds dropped, services dropped, unmapped (none: every corpus address is http or
    // https), addresses rewritten.
    println!("fixtures: {total:?}");
    assert!(
        total[0] > 0 && total[1] > 0 && total[2] == 0 && total[3] > 10,
        "{total:?}"
    );
}

#[test]
fn opentaxii_captures() {
    let dir = shared().join("interop/captures");
    let mut seen = Vec::new();
    let mut total = [0; 4];
    for folder in ["1.0", "1.1"] {
        for path in files(&dir.join(folder), ".response.txt") {
            let body = capture_body(&path);
            if let Some((d, k, c)) = check_corpus_message(&path.display().to_string(), &body) {
                seen.push((d, k));
                for (t, c) in total.iter_mut().zip(c) {
                    *t += c;
                }
            }
        }
    }
    for d in [Dialect::V10, Dialect::V11] {
        for k in [
            MessageKind::DiscoveryResponse,
            MessageKind::FeedInformationResponse,
            MessageKind::SubscriptionManagementResponse,
        ] {
            assert!(
                seen.contains(&(d, k)),
                "no {d:?} {k:?} capture was rewritten"
            );
        }
    }
    // Feeds dropped, services dropped, unmapped (none: every corpus address is http or
    // https), addresses rewritten.
    println!("captures: {total:?}");
    assert!(
        total[0] > 0 && total[1] > 0 && total[2] == 0 && total[3] > 10,
        "{total:?}"
    );
}

// ---------------------------------------------------------------------------------------------
// Feed record aliases (issue 6): one upstream record shown under several public names
// ---------------------------------------------------------------------------------------------

const V10_FEEDS_FOR_ALIASES: &str = r#"<Feed_Information_Response xmlns="http://taxii.mitre.org/messages/taxii_xml_binding-1" message_id="2" in_response_to="1">
  <Feed feed_name="feed-a">
    <Description>A</Description>
    <Content_Binding>urn:stix</Content_Binding>
    <Polling_Service>
      <Protocol_Binding>urn:taxii.mitre.org:protocol:http:1.0</Protocol_Binding>
      <Address>http://up.example/poll</Address>
      <Message_Binding>urn:taxii.mitre.org:message:xml:1.0</Message_Binding>
    </Polling_Service>
    <Subscription_Service>
      <Protocol_Binding>urn:taxii.mitre.org:protocol:http:1.0</Protocol_Binding>
      <Address>http://up.example/unmapped/manage</Address>
      <Message_Binding>urn:taxii.mitre.org:message:xml:1.0</Message_Binding>
    </Subscription_Service>
  </Feed>
  <Feed feed_name="feed-b">
    <Description>B</Description>
    <Content_Binding>urn:stix</Content_Binding>
    <Polling_Service>
      <Protocol_Binding>urn:taxii.mitre.org:protocol:http:1.0</Protocol_Binding>
      <Address>http://up.example/poll</Address>
      <Message_Binding>urn:taxii.mitre.org:message:xml:1.0</Message_Binding>
    </Polling_Service>
  </Feed>
</Feed_Information_Response>"#;

/// `feed-a` as itself, as `community-a` and as `a"&<`; `feed-b` only as `public-b`.
fn aliases(name: &str) -> Vec<String> {
    match name {
        "feed-a" => vec!["feed-a".into(), "community-a".into(), "a\"&<".into()],
        "feed-b" => vec!["public-b".into()],
        other => vec![other.to_string()],
    }
}

#[test]
fn feed_records_are_copied_under_their_aliases() {
    let plan = RewritePlan::new(&to_gateway).feed_aliases(&aliases);
    let (r, out, after) = rewrite(V10_FEEDS_FOR_ALIASES, &plan);
    let record_a = |name: &str| {
        format!(
            r#"<Feed feed_name="{name}">
    <Description>A</Description>
    <Content_Binding>urn:stix</Content_Binding>
    <Polling_Service>
      <Protocol_Binding>urn:taxii.mitre.org:protocol:http:1.0</Protocol_Binding>
      <Address>https://gw.example:9443/poll</Address>
      <Message_Binding>urn:taxii.mitre.org:message:xml:1.0</Message_Binding>
    </Polling_Service>
  </Feed>"#
        )
    };
    let want = format!(
        r#"<Feed_Information_Response xmlns="http://taxii.mitre.org/messages/taxii_xml_binding-1" message_id="2" in_response_to="1">
  {}
  {}
  {}
  <Feed feed_name="public-b">
    <Description>B</Description>
    <Content_Binding>urn:stix</Content_Binding>
    <Polling_Service>
      <Protocol_Binding>urn:taxii.mitre.org:protocol:http:1.0</Protocol_Binding>
      <Address>https://gw.example:9443/poll</Address>
      <Message_Binding>urn:taxii.mitre.org:message:xml:1.0</Message_Binding>
    </Polling_Service>
  </Feed>
</Feed_Information_Response>"#,
        record_a("feed-a"),
        record_a("community-a"),
        record_a("a&quot;&amp;&lt;"),
    );
    assert_eq!(out, want);
    assert_eq!(
        feed_names(&after),
        ["feed-a", "community-a", "a\"&<", "public-b"]
    );
    assert_eq!(r.feeds_aliased, 3);
    // The subscription service of feed-a is dropped once (counted for the record, not per copy).
    assert_eq!(counts(&r), [0, 1, 1, 2]);

    // Aliases are kept only with a grant: feed-a under community-a alone.
    let keep = |n: &str| n == "community-a";
    let plan = RewritePlan::new(&to_gateway)
        .feed_aliases(&aliases)
        .keep_feeds(&keep);
    let (r, out, after) = rewrite(V10_FEEDS_FOR_ALIASES, &plan);
    assert_eq!(feed_names(&after), ["community-a"]);
    assert_eq!(
        out,
        format!(
            "<Feed_Information_Response xmlns=\"http://taxii.mitre.org/messages/taxii_xml_binding-1\" message_id=\"2\" in_response_to=\"1\">\n  {}\n</Feed_Information_Response>",
            record_a("community-a")
        )
    );
    assert_eq!((r.feeds_dropped, r.feeds_aliased), (1, 1));
}

#[test]
fn aliases_default_to_the_name_itself() {
    let same = |n: &str| vec![n.to_string()];
    let a = RewritePlan::new(&to_gateway).feed_aliases(&same);
    let b = RewritePlan::new(&to_gateway);
    let (ra, out_a, _) = rewrite(V10_FEEDS_FOR_ALIASES, &a);
    let (rb, out_b, _) = rewrite(V10_FEEDS_FOR_ALIASES, &b);
    assert_eq!(out_a, out_b);
    assert_eq!(ra, rb);
}
