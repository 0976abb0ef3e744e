//! The three TAXII 1.x dialects and the identifiers that name them.
//!
//! Sources: `spec/DIALECTS.md` §1 (identity card) and §11 (how to tell the dialects apart).

use std::fmt;

/// One of the three TAXII 1.x dialects the gateway speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Dialect {
    /// TAXII 1.0 Draft 1 (November 2012), the primary specification.
    Draft1,
    /// TAXII 1.0 (April 2013).
    V10,
    /// TAXII 1.1 (January 2014).
    V11,
}

/// The transport a message travelled over; `X-TAXII-Protocol` must name it (1.0 HTTP binding
/// §2.1.5; Draft 1 HTTP binding §9.2 by implication).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Transport {
    Http,
    Https,
}

/// Draft 1 XML Binding §1.1.1.3.
pub const NS_DRAFT1: &str = "http://taxii.mitre.org/messages/xml/1";
/// TAXII 1.0 XML Binding §1.1.2.
pub const NS_V10: &str = "http://taxii.mitre.org/messages/taxii_xml_binding-1";
/// TAXII 1.1 XML Binding §1.1.2.
pub const NS_V11: &str = "http://taxii.mitre.org/messages/taxii_xml_binding-1.1";
/// XML Signature, allowed as the last child of 1.0/1.1 messages and content blocks.
pub const NS_XMLDSIG: &str = "http://www.w3.org/2000/09/xmldsig#";
/// The `xml:` prefix namespace (`xml:lang`, `xml:space`).
pub const NS_XML: &str = "http://www.w3.org/XML/1998/namespace";
/// XML Schema instance (`xsi:schemaLocation`, `xsi:type`): tolerated, never dereferenced.
pub const NS_XSI: &str = "http://www.w3.org/2001/XMLSchema-instance";

impl Dialect {
    pub const ALL: [Dialect; 3] = [Dialect::Draft1, Dialect::V10, Dialect::V11];

    /// The name used in JSON, configuration and logs: `draft1`, `1.0`, `1.1`.
    pub fn as_str(self) -> &'static str {
        match self {
            Dialect::Draft1 => "draft1",
            Dialect::V10 => "1.0",
            Dialect::V11 => "1.1",
        }
    }

    /// Parses the names of [`Dialect::as_str`].
    pub fn from_name(name: &str) -> Option<Dialect> {
        Dialect::ALL.into_iter().find(|d| d.as_str() == name)
    }

    /// The XML namespace of the dialect's messages.
    pub fn namespace(self) -> &'static str {
        match self {
            Dialect::Draft1 => NS_DRAFT1,
            Dialect::V10 => NS_V10,
            Dialect::V11 => NS_V11,
        }
    }

    /// The dialect whose message namespace is `uri` (compared exactly, never by prefix).
    pub fn from_namespace(uri: &[u8]) -> Option<Dialect> {
        Dialect::ALL
            .into_iter()
            .find(|d| d.namespace().as_bytes() == uri)
    }

    /// `X-TAXII-Content-Type` the gateway sends (Draft 1 HTTP binding §3: a TAXII Media Type;
    /// 1.0 HTTP binding §2.1.4: a Message Binding ID).
    pub fn content_type_id(self) -> &'static str {
        match self {
            Dialect::Draft1 => "TAXII_1.0/TAXII_XML_BINDING_1.0",
            Dialect::V10 => "urn:taxii.mitre.org:message:xml:1.0",
            Dialect::V11 => "urn:taxii.mitre.org:message:xml:1.1",
        }
    }

    /// `X-TAXII-Services` (1.0 HTTP binding §2.1.6); Draft 1 has no such header.
    pub fn services_id(self) -> Option<&'static str> {
        match self {
            Dialect::Draft1 => None,
            Dialect::V10 => Some("urn:taxii.mitre.org:services:1.0"),
            Dialect::V11 => Some("urn:taxii.mitre.org:services:1.1"),
        }
    }

    /// `X-TAXII-Protocol` the gateway sends, always the canonical form for the real transport
    /// (Draft 1 HTTP binding §1.3; 1.0 HTTP binding §1.1.2).
    pub fn protocol_id(self, transport: Transport) -> &'static str {
        match (self, transport) {
            (Dialect::Draft1, Transport::Http) => "TAXII_HTTP_BINDING_1.0",
            (Dialect::Draft1, Transport::Https) => "TAXII_HTTPS_BINDING_1.0",
            (_, Transport::Http) => "urn:taxii.mitre.org:protocol:http:1.0",
            (_, Transport::Https) => "urn:taxii.mitre.org:protocol:https:1.0",
        }
    }
}

impl fmt::Display for Dialect {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What one `X-TAXII-Protocol` value says: which dialects it allows and over which transport.
pub(crate) fn parse_protocol(value: &str) -> Option<(&'static [Dialect], Transport)> {
    const DRAFT1: &[Dialect] = &[Dialect::Draft1];
    const V1X: &[Dialect] = &[Dialect::V10, Dialect::V11];
    // Draft 1 HTTP binding §1.3 is canonical; §4.1.5 says `TAXII_HTTP_1.0`, and every MITRE
    // example spells `TAXI_HTTP(S)_BINDING_1.0` (DIGEST-DRAFT1 §9.1): accept all of them.
    match value.trim() {
        "TAXII_HTTP_BINDING_1.0" | "TAXII_HTTP_1.0" | "TAXI_HTTP_BINDING_1.0" => {
            Some((DRAFT1, Transport::Http))
        }
        "TAXII_HTTPS_BINDING_1.0" | "TAXII_HTTPS_1.0" | "TAXI_HTTPS_BINDING_1.0" => {
            Some((DRAFT1, Transport::Https))
        }
        "urn:taxii.mitre.org:protocol:http:1.0" => Some((V1X, Transport::Http)),
        "urn:taxii.mitre.org:protocol:https:1.0" => Some((V1X, Transport::Https)),
        _ => None,
    }
}

/// What one `X-TAXII-Content-Type` value says.
pub(crate) fn parse_content_type_id(value: &str) -> Option<Dialect> {
    let value = value.trim();
    match value {
        "urn:taxii.mitre.org:message:xml:1.0" => return Some(Dialect::V10),
        "urn:taxii.mitre.org:message:xml:1.1" => return Some(Dialect::V11),
        _ => {}
    }
    // Draft 1 HTTP binding §3: `<Services Version ID>/<Message Binding Version ID>` with
    // unrestricted parameters; §3's own example subtype is `TAXII_XML_1.0` (DIGEST §9.1).
    let media = value.split(';').next().unwrap_or("").trim();
    match media.split_once('/') {
        Some((services, binding))
            if services.trim() == "TAXII_1.0"
                && matches!(binding.trim(), "TAXII_XML_BINDING_1.0" | "TAXII_XML_1.0") =>
        {
            Some(Dialect::Draft1)
        }
        _ => None,
    }
}

/// What one `X-TAXII-Services` value says (1.0 HTTP binding §2.1.6).
pub(crate) fn parse_services_id(value: &str) -> Option<Dialect> {
    match value.trim() {
        "urn:taxii.mitre.org:services:1.0" => Some(Dialect::V10),
        "urn:taxii.mitre.org:services:1.1" => Some(Dialect::V11),
        _ => None,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn namespaces_map_back_to_their_dialect() {
        for d in Dialect::ALL {
            assert_eq!(Dialect::from_namespace(d.namespace().as_bytes()), Some(d));
            assert_eq!(Dialect::from_name(d.as_str()), Some(d));
        }
        assert_eq!(
            Dialect::from_namespace(b"http://taxii.mitre.org/messages/xml/1/"),
            None
        );
    }

    #[test]
    fn draft1_protocol_spellings_are_all_accepted() {
        for v in [
            "TAXII_HTTP_BINDING_1.0",
            "TAXII_HTTP_1.0",
            "TAXI_HTTP_BINDING_1.0",
        ] {
            assert_eq!(parse_protocol(v).map(|p| p.1), Some(Transport::Http), "{v}");
        }
        for v in ["TAXII_HTTPS_BINDING_1.0", "TAXI_HTTPS_BINDING_1.0"] {
            assert_eq!(
                parse_protocol(v).map(|p| p.1),
                Some(Transport::Https),
                "{v}"
            );
        }
        assert!(parse_protocol("urn:taxii.mitre.org:protocol:ftp:1.0").is_none());
    }

    #[test]
    fn content_type_ids() {
        assert_eq!(
            parse_content_type_id("TAXII_1.0/TAXII_XML_BINDING_1.0"),
            Some(Dialect::Draft1)
        );
        assert_eq!(
            parse_content_type_id("TAXII_1.0/TAXII_XML_1.0; q=1"),
            Some(Dialect::Draft1)
        );
        assert_eq!(
            parse_content_type_id("urn:taxii.mitre.org:message:xml:1.1"),
            Some(Dialect::V11)
        );
        assert_eq!(parse_content_type_id("application/xml"), None);
    }
}
