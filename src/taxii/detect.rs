//! Dialect detection: every signal of a request or response (method, query, `Content-Type`, the
//! `X-TAXII-*` headers, the root namespace) must agree (DIALECTS.md §11).

use super::dialect::{self, Dialect, Transport};
use super::envelope::{Envelope, Field, MessageKind};
use super::error::{Reject, RejectKind};
use super::limits::ScanLimits;
use super::scan::{new_envelope, scan_body};
use super::values;

/// The HTTP side of one message, as far as the dialect is concerned.
///
/// `method == None` means "no HTTP context" (a message read from a file, or a response): the
/// body alone decides, and headers are checked only where present. With a method, the binding's
/// rules apply in full: 1.x POSTs must carry `X-TAXII-Content-Type`, `X-TAXII-Protocol` and
/// `X-TAXII-Services` (1.0 HTTP binding §2.1.4–2.1.6), and Draft 1's discovery and feed
/// information requests are GETs (Draft 1 HTTP binding §5.1.1, §5.1.2).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HttpContext {
    pub method: Option<String>,
    /// The raw query string, without `?`.
    pub query: Option<String>,
    pub content_type: Option<String>,
    pub x_taxii_content_type: Option<String>,
    pub x_taxii_protocol: Option<String>,
    pub x_taxii_services: Option<String>,
    /// The transport the message actually used, when known; `X-TAXII-Protocol` must name it.
    pub transport: Option<Transport>,
}

impl HttpContext {
    /// A request context.
    pub fn request(method: &str, query: Option<&str>) -> HttpContext {
        HttpContext {
            method: Some(method.to_string()),
            query: query.filter(|q| !q.is_empty()).map(str::to_string),
            ..HttpContext::default()
        }
    }

    /// Records one header; names are matched case-insensitively (libtaxii sends `X-Taxii-*`).
    /// A TAXII header given twice with different values is a disagreement.
    pub fn header(&mut self, name: &str, value: &str) -> Result<(), Reject> {
        let slot = if name.eq_ignore_ascii_case("content-type") {
            &mut self.content_type
        } else if name.eq_ignore_ascii_case("x-taxii-content-type") {
            &mut self.x_taxii_content_type
        } else if name.eq_ignore_ascii_case("x-taxii-protocol") {
            &mut self.x_taxii_protocol
        } else if name.eq_ignore_ascii_case("x-taxii-services") {
            &mut self.x_taxii_services
        } else {
            return Ok(());
        };
        match slot {
            Some(old) if old.trim() != value.trim() => Err(Reject::new(
                RejectKind::DialectMismatch,
                format!("header {name} given twice with different values"),
            )),
            _ => {
                *slot = Some(value.to_string());
                Ok(())
            }
        }
    }
}

/// Reads one message: detects its dialect from every signal present, scans the body, and checks
/// that all signals agree.
pub fn scan_message(
    ctx: &HttpContext,
    body: &[u8],
    limits: &ScanLimits,
) -> Result<Envelope, Reject> {
    let method = ctx.method.as_deref();
    if method == Some("GET") {
        return draft1_get(ctx, body, limits);
    }
    if let Some(m) = method {
        if m != "POST" {
            return Err(Reject::new(
                RejectKind::MethodNotAllowed,
                format!("{m} is not a TAXII method: TAXII messages are POSTed (Draft 1: GET for discovery and feed information)"),
            ));
        }
    }
    let allowed = header_dialects(ctx)?;
    if method.is_some() {
        require_binding_headers(ctx, &allowed, body)?;
    }
    let envelope = scan_body(body, limits)?;
    let d = envelope.dialect;
    if !allowed.contains(&d) {
        let mut r = Reject::new(
            RejectKind::DialectMismatch,
            format!(
                "the body is TAXII {d} but the headers say {}",
                names(&allowed)
            ),
        );
        r.message_id = Some(envelope.message_id.value.clone());
        return Err(r);
    }
    // Draft 1 HTTP binding §5.1: discovery and feed information requests are GETs; a POSTed XML
    // form of them is answered 405 (DIGEST §9.5).
    if method == Some("POST")
        && d == Dialect::Draft1
        && matches!(
            envelope.kind,
            MessageKind::DiscoveryRequest | MessageKind::FeedInformationRequest
        )
    {
        let mut r = Reject::new(
            RejectKind::MethodNotAllowed,
            format!(
                "{} is a GET with query parameters in Draft 1 (HTTP binding §5.1)",
                envelope.message
            ),
        );
        r.message_id = Some(envelope.message_id.value.clone());
        return Err(r);
    }
    Ok(envelope)
}

fn names(ds: &[Dialect]) -> String {
    ds.iter()
        .map(|d| d.as_str())
        .collect::<Vec<_>>()
        .join(" or ")
}

/// The dialects the headers allow (all three when there are none), checking each header's
/// syntax and their agreement with each other and with the transport.
pub fn header_dialects(ctx: &HttpContext) -> Result<Vec<Dialect>, Reject> {
    let mut allowed: Vec<Dialect> = Dialect::ALL.to_vec();
    let mut narrow = |what: &str, ds: &[Dialect]| -> Result<(), Reject> {
        let before = allowed.clone();
        allowed.retain(|d| ds.contains(d));
        if allowed.is_empty() {
            return Err(Reject::new(
                RejectKind::DialectMismatch,
                format!(
                    "{what} says {} but other signals say {}",
                    names(ds),
                    names(&before)
                ),
            ));
        }
        Ok(())
    };
    if let Some(ct) = &ctx.content_type {
        // Draft 1 HTTP binding §4.1.2, 1.0 HTTP binding §2.1.2: type `application`, subtype
        // matching the XML message binding.
        let media = ct.split(';').next().unwrap_or("").trim();
        if !media.eq_ignore_ascii_case("application/xml") {
            return Err(Reject::new(
                RejectKind::UnsupportedMediaType,
                format!("Content-Type {media:?} is not application/xml"),
            ));
        }
    }
    if let Some(v) = &ctx.x_taxii_content_type {
        let d = dialect::parse_content_type_id(v).ok_or_else(|| {
            Reject::new(
                RejectKind::UnsupportedMediaType,
                format!("X-TAXII-Content-Type {v:?} is not a TAXII XML binding"),
            )
        })?;
        narrow("X-TAXII-Content-Type", &[d])?;
    }
    if let Some(v) = &ctx.x_taxii_services {
        let d = dialect::parse_services_id(v).ok_or_else(|| {
            Reject::new(
                RejectKind::UnsupportedMediaType,
                format!("X-TAXII-Services {v:?} is not a TAXII services version"),
            )
        })?;
        narrow("X-TAXII-Services", &[d])?;
    }
    if let Some(v) = &ctx.x_taxii_protocol {
        let (ds, transport) = dialect::parse_protocol(v).ok_or_else(|| {
            Reject::new(
                RejectKind::UnsupportedMediaType,
                format!("X-TAXII-Protocol {v:?} is not a TAXII HTTP binding"),
            )
        })?;
        narrow("X-TAXII-Protocol", ds)?;
        if let Some(real) = ctx.transport {
            if real != transport {
                return Err(Reject::new(
                    RejectKind::DialectMismatch,
                    format!("X-TAXII-Protocol {v:?} does not match the transport used ({real:?})"),
                ));
            }
        }
    }
    Ok(allowed)
}

/// 1.0 HTTP binding §2.1.4–2.1.6: a 1.x message MUST carry all three TAXII headers; without them
/// "the recipient can assume that the message does not contain a TAXII Message". Draft 1 makes
/// only `X-TAXII-Protocol` a MUST and its examples omit others, so it falls back to the body.
fn require_binding_headers(
    ctx: &HttpContext,
    allowed: &[Dialect],
    body: &[u8],
) -> Result<(), Reject> {
    if allowed == [Dialect::Draft1] {
        return Ok(());
    }
    let any_taxii_header = ctx.x_taxii_content_type.is_some()
        || ctx.x_taxii_protocol.is_some()
        || ctx.x_taxii_services.is_some();
    if !any_taxii_header {
        if body_claims(body, Dialect::Draft1) {
            return Ok(());
        }
        return Err(Reject::new(
            RejectKind::NotTaxii,
            "a POST without X-TAXII-Content-Type, X-TAXII-Protocol and X-TAXII-Services is not a TAXII 1.x message",
        ));
    }
    for (name, value) in [
        ("X-TAXII-Content-Type", &ctx.x_taxii_content_type),
        ("X-TAXII-Protocol", &ctx.x_taxii_protocol),
        ("X-TAXII-Services", &ctx.x_taxii_services),
    ] {
        if value.is_none() {
            return Err(Reject::new(
                RejectKind::NotTaxii,
                format!("a TAXII 1.x POST must carry {name}"),
            ));
        }
    }
    Ok(())
}

/// A cheap look for a dialect's namespace in the body, used only to word the answer to a
/// header-less POST; the scan itself decides from the resolved root namespace.
fn body_claims(body: &[u8], d: Dialect) -> bool {
    let ns = d.namespace().as_bytes();
    memchr::memmem::find(body, ns).is_some_and(|i| {
        body.get(i + ns.len())
            .is_some_and(|&b| b == b'"' || b == b'\'')
    })
}

/// Draft 1 HTTP binding §5.1.1, §5.1.2: discovery and feed information requests are GETs with
/// `message_type` and `message_id`; every other parameter is an extended header.
fn draft1_get(ctx: &HttpContext, body: &[u8], limits: &ScanLimits) -> Result<Envelope, Reject> {
    let query = ctx.query.as_deref().unwrap_or("");
    let mut message_type: Option<String> = None;
    let mut message_id: Option<String> = None;
    let mut extended = Vec::new();
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
        let name = percent_decode(name)?;
        let value = percent_decode(value)?;
        if value.len() > limits.max_attribute_bytes {
            return Err(Reject::new(
                RejectKind::AttributeTooLong,
                format!(
                    "query parameter {name} is longer than {} bytes",
                    limits.max_attribute_bytes
                ),
            ));
        }
        let slot = match name.as_str() {
            // The names are reserved and exact; the message_type value is case-insensitive.
            "message_type" => &mut message_type,
            "message_id" => &mut message_id,
            _ => {
                extended.push((name, value));
                if extended.len() > limits.max_attributes {
                    return Err(Reject::new(
                        RejectKind::TooManyAttributes,
                        format!("more than {} query parameters", limits.max_attributes),
                    ));
                }
                continue;
            }
        };
        if slot.is_some() {
            return Err(Reject::new(
                RejectKind::RepeatedField,
                format!("query parameter {name} given twice"),
            ));
        }
        *slot = Some(value);
    }
    let (kind, message) = match message_type.as_deref().map(str::to_ascii_lowercase).as_deref() {
        Some("discovery_request") => (MessageKind::DiscoveryRequest, "TAXII_DiscoveryRequest"),
        Some("feed_information_request") => (MessageKind::FeedInformationRequest, "TAXII_FeedInformationRequest"),
        Some(other) => {
            return Err(Reject::new(
                RejectKind::NotTaxii,
                format!("message_type {other:?} is not a Draft 1 GET message (discovery_request, feed_information_request)"),
            ))
        }
        None => {
            return Err(Reject::new(
                RejectKind::NotTaxii,
                "a GET without message_type is not a TAXII message; TAXII 1.x messages are POSTed",
            ))
        }
    };
    let Some(id) = message_id else {
        return Err(Reject::new(
            RejectKind::MissingField,
            "a Draft 1 GET needs the query parameter message_id",
        ));
    };
    values::valid_message_id(Dialect::Draft1, &id)
        .map_err(|why| Reject::new(RejectKind::InvalidValue, format!("message_id {why}")))?;
    // Only Draft 1 signals may accompany it. Content-Type and X-TAXII-Content-Type are
    // meaningless on a GET and MITRE's examples send them anyway: tolerated, but still checked
    // for agreement (DIGEST §9.2).
    let allowed = header_dialects(ctx)?;
    if !allowed.contains(&Dialect::Draft1) {
        return Err(Reject::new(
            RejectKind::DialectMismatch,
            format!(
                "a Draft 1 GET request with headers that say {}",
                names(&allowed)
            ),
        ));
    }
    if !body.is_empty() {
        return Err(Reject::new(
            RejectKind::InvalidCombination,
            "a Draft 1 GET request carries no body",
        ));
    }
    let mut env = new_envelope(Dialect::Draft1, kind, message);
    env.message_id = Field {
        value: id,
        span: 0..0,
    };
    env.query_extended_headers = extended;
    Ok(env)
}

/// Percent-decoding of a query component; `+` is a space (HTML form encoding, which is what
/// clients produce). The result must be UTF-8.
fn percent_decode(s: &str) -> Result<String, Reject> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' => {
                let hex = bytes
                    .get(i + 1..i + 3)
                    .and_then(|h| std::str::from_utf8(h).ok());
                let Some(b) = hex.and_then(|h| u8::from_str_radix(h, 16).ok()) else {
                    return Err(Reject::new(
                        RejectKind::InvalidValue,
                        "invalid percent-encoding in the query",
                    ));
                };
                out.push(b);
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out).map_err(|_| {
        Reject::new(
            RejectKind::Encoding,
            "the query is not UTF-8 after decoding",
        )
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    const POLL_11: &str = r#"<Poll_Request xmlns="http://taxii.mitre.org/messages/taxii_xml_binding-1.1" message_id="1" collection_name="a"><Subscription_ID>s</Subscription_ID></Poll_Request>"#;
    const POLL_D1: &str = r#"<TAXII_PollRequest xmlns="http://taxii.mitre.org/messages/xml/1" message-id="a1"><feed-name>a</feed-name><subscription-id>s</subscription-id></TAXII_PollRequest>"#;

    fn ctx11() -> HttpContext {
        let mut c = HttpContext::request("POST", None);
        for (n, v) in [
            ("Content-Type", "application/xml"),
            (
                "X-Taxii-Content-Type",
                "urn:taxii.mitre.org:message:xml:1.1",
            ),
            ("X-TAXII-Protocol", "urn:taxii.mitre.org:protocol:http:1.0"),
            ("x-taxii-services", "urn:taxii.mitre.org:services:1.1"),
        ] {
            c.header(n, v).unwrap();
        }
        c
    }

    fn kind(ctx: &HttpContext, body: &str) -> Result<Dialect, RejectKind> {
        scan_message(ctx, body.as_bytes(), &ScanLimits::default())
            .map(|e| e.dialect)
            .map_err(|e| e.kind)
    }

    #[test]
    fn agreeing_signals_pass() {
        assert_eq!(kind(&ctx11(), POLL_11), Ok(Dialect::V11));
        let mut d1 = HttpContext::request("POST", None);
        d1.header("X-TAXII-Protocol", "TAXI_HTTP_BINDING_1.0")
            .unwrap();
        d1.header("X-TAXII-Content-Type", "TAXII_1.0/TAXII_XML_BINDING_1.0")
            .unwrap();
        assert_eq!(kind(&d1, POLL_D1), Ok(Dialect::Draft1));
        // Draft 1 with no header at all falls back to the body.
        assert_eq!(
            kind(&HttpContext::request("POST", None), POLL_D1),
            Ok(Dialect::Draft1)
        );
        // No HTTP context: the body alone.
        assert_eq!(kind(&HttpContext::default(), POLL_11), Ok(Dialect::V11));
    }

    #[test]
    fn disagreements_are_their_own_kind() {
        let mut c = ctx11();
        c.x_taxii_services = Some("urn:taxii.mitre.org:services:1.0".into());
        assert_eq!(kind(&c, POLL_11), Err(RejectKind::DialectMismatch));
        // Headers say 1.1, body is 1.0.
        let poll10 = r#"<Poll_Request xmlns="http://taxii.mitre.org/messages/taxii_xml_binding-1" message_id="1" feed_name="a"/>"#;
        assert_eq!(kind(&ctx11(), poll10), Err(RejectKind::DialectMismatch));
        // Draft 1 protocol header on a 1.1 body.
        let mut c = HttpContext::request("POST", None);
        c.header("X-TAXII-Protocol", "TAXII_HTTP_BINDING_1.0")
            .unwrap();
        assert_eq!(kind(&c, POLL_11), Err(RejectKind::DialectMismatch));
        // The protocol header must name the real transport.
        let mut c = ctx11();
        c.transport = Some(Transport::Https);
        assert_eq!(kind(&c, POLL_11), Err(RejectKind::DialectMismatch));
        // The same header twice with different values.
        let mut c = ctx11();
        assert!(c
            .header("X-TAXII-Services", "urn:taxii.mitre.org:services:1.0")
            .is_err());
    }

    #[test]
    fn binding_rules() {
        let mut c = ctx11();
        c.x_taxii_services = None;
        assert_eq!(kind(&c, POLL_11), Err(RejectKind::NotTaxii));
        assert_eq!(
            kind(&HttpContext::request("POST", None), POLL_11),
            Err(RejectKind::NotTaxii)
        );
        let mut c = ctx11();
        c.content_type = Some("text/xml".into());
        assert_eq!(kind(&c, POLL_11), Err(RejectKind::UnsupportedMediaType));
        let mut c = ctx11();
        c.x_taxii_content_type = Some("urn:taxii.mitre.org:message:json:1.1".into());
        assert_eq!(kind(&c, POLL_11), Err(RejectKind::UnsupportedMediaType));
        assert_eq!(
            kind(&HttpContext::request("PUT", None), POLL_11),
            Err(RejectKind::MethodNotAllowed)
        );
        let disc = r#"<TAXII_DiscoveryRequest xmlns="http://taxii.mitre.org/messages/xml/1" message-id="a1"/>"#;
        assert_eq!(
            kind(&HttpContext::request("POST", None), disc),
            Err(RejectKind::MethodNotAllowed)
        );
        assert_eq!(kind(&HttpContext::default(), disc), Ok(Dialect::Draft1));
    }

    #[test]
    fn draft1_gets() {
        let get = |q: &str| {
            scan_message(
                &HttpContext::request("GET", Some(q)),
                b"",
                &ScanLimits::default(),
            )
        };
        let e = get("message_type=Discovery_Request&message_id=a847%2098be&tlp=GREEN").unwrap();
        assert_eq!(
            (e.dialect, e.message, e.message_id.value.as_str()),
            (Dialect::Draft1, "TAXII_DiscoveryRequest", "a847 98be")
        );
        assert_eq!(
            e.query_extended_headers,
            vec![("tlp".to_string(), "GREEN".to_string())]
        );
        let e = get("message_type=feed_information_request&message_id=1").unwrap();
        assert_eq!(e.message, "TAXII_FeedInformationRequest");
        assert_eq!(
            get("message_id=1").map_err(|e| e.kind),
            Err(RejectKind::NotTaxii)
        );
        assert_eq!(
            get("message_type=poll_request&message_id=1").map_err(|e| e.kind),
            Err(RejectKind::NotTaxii)
        );
        assert_eq!(
            get("message_type=discovery_request").map_err(|e| e.kind),
            Err(RejectKind::MissingField)
        );
        assert_eq!(
            get("message_type=discovery_request&message_id=1&message_id=2").map_err(|e| e.kind),
            Err(RejectKind::RepeatedField)
        );
        assert_eq!(
            get("message_type=discovery_request&message_id=%zz").map_err(|e| e.kind),
            Err(RejectKind::InvalidValue)
        );
        let mut c =
            HttpContext::request("GET", Some("message_type=discovery_request&message_id=1"));
        c.header("X-TAXII-Services", "urn:taxii.mitre.org:services:1.1")
            .unwrap();
        assert_eq!(kind(&c, ""), Err(RejectKind::DialectMismatch));
        // A stale message_type on a 1.x POST does not make it Draft 1 (DIALECTS §11.7).
        let mut c = ctx11();
        c.query = Some("message_type=discovery_request".into());
        assert_eq!(kind(&c, POLL_11), Ok(Dialect::V11));
    }
}
