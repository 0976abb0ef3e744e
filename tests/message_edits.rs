//! Message rewriting rules (issue 6): `taxii::edit` on every message type of every dialect,
//! each case asserting the exact output bytes.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};
use taxii_gateway::taxii::edit::{
    content_digests, edit_draft1_query, edit_message, EditError, Rules, StripHeaders, Window,
};
use taxii_gateway::taxii::{scan_body, Envelope, Outcome, ScanLimits, StreamScanner};

fn shared() -> PathBuf {
    std::env::var_os("TAXII_SHARED")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared"))
}

/// `P/…` is tests/fixtures, `S/…` the shared corpus.
fn path(name: &str) -> PathBuf {
    match name.split_once('/') {
        Some(("P", rest)) => Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures")
            .join(rest),
        Some(("S", rest)) => shared().join("fixtures").join(rest),
        _ => panic!("fixture name {name}"),
    }
}

fn fixture(name: &str) -> String {
    std::fs::read_to_string(path(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn scan(body: &[u8]) -> Envelope {
    scan_body(body, &ScanLimits::default())
        .unwrap_or_else(|r| panic!("{r:?}\n{}", String::from_utf8_lossy(body)))
}

/// The edited body (the rules must change it).
fn edited(body: &str, rules: &Rules<'_>) -> String {
    let env = scan(body.as_bytes());
    let out = edit_message(body.as_bytes(), &env, rules).unwrap();
    match out.outcome {
        Outcome::Rewritten(b) => String::from_utf8(b).unwrap(),
        other => panic!("{other:?} for\n{body}"),
    }
}

/// `body` with each `(from, to)` replacing the first occurrence of `from`, after the previous
/// replacement: the expected bytes, computed by text search alone.
fn replaced(body: &str, pairs: &[(&str, &str)]) -> String {
    let mut out = String::new();
    let mut rest = body;
    for (from, to) in pairs {
        let at = rest
            .find(from)
            .unwrap_or_else(|| panic!("{from:?} not in the fixture"));
        out.push_str(&rest[..at]);
        out.push_str(to);
        rest = &rest[at + from.len()..];
    }
    out.push_str(rest);
    out
}

fn all_fixtures() -> Vec<String> {
    let mut names = Vec::new();
    for (tag, base) in [
        (
            "P",
            Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures"),
        ),
        ("S", shared().join("fixtures")),
    ] {
        for dir in ["draft1", "1.0", "1.1"] {
            let Ok(entries) = std::fs::read_dir(base.join(dir)) else {
                continue;
            };
            for e in entries {
                let name = e.unwrap().file_name().into_string().unwrap();
                if name.ends_with(".xml") {
                    names.push(format!("{tag}/{dir}/{name}"));
                }
            }
        }
    }
    names.sort();
    names
}

/// The messages that carry feed/collection names, per dialect.
const FEED_MESSAGES: &[(&str, &str)] = &[
    ("draft1", "TAXII_FeedInformationResponse"),
    ("draft1", "TAXII_SubscriptionManagementRequest"),
    ("draft1", "TAXII_SubscriptionManagementResponse"),
    ("draft1", "TAXII_PollRequest"),
    ("draft1", "TAXII_SubscriptionAlert"),
    ("1.0", "Feed_Information_Response"),
    ("1.0", "Subscription_Management_Request"),
    ("1.0", "Subscription_Management_Response"),
    ("1.0", "Poll_Request"),
    ("1.0", "Poll_Response"),
    ("1.0", "Inbox_Message"),
    ("1.1", "Collection_Information_Response"),
    ("1.1", "Subscription_Management_Request"),
    ("1.1", "Subscription_Management_Response"),
    ("1.1", "Poll_Request"),
    ("1.1", "Poll_Response"),
    ("1.1", "Poll_Fulfillment"),
    ("1.1", "Inbox_Message"),
];

#[derive(Clone, Copy, Debug)]
enum Direction {
    /// Public → upstream names.
    Request,
    /// Upstream → public names.
    Response,
}

/// (fixture, direction, renames (old → new), expected (raw old → raw new) in document order).
type RenameCase = (
    &'static str,
    Direction,
    &'static [(&'static str, &'static str)],
    &'static [(&'static str, &'static str)],
);

const RENAMES: &[RenameCase] = &[
    // Draft 1: the feed-name element and the feed record's @feed-name.
    (
        "P/draft1/TAXII_PollRequest-content-binding.xml",
        Direction::Request,
        &[("phishing-urls", "up-phish")],
        &[(
            "<feed-name>phishing-urls</feed-name>",
            "<feed-name>up-phish</feed-name>",
        )],
    ),
    (
        "S/draft1/TAXII_PollRequest-prefixed.xml",
        Direction::Request,
        &[("Gold", "a&b <c>")],
        &[(">Gold<", ">a&amp;b &lt;c&gt;<")],
    ),
    (
        "P/draft1/TAXII_SubscriptionManagementRequest-subscribe.xml",
        Direction::Request,
        &[("phishing-urls", "say \"hi\"")],
        &[(">phishing-urls<", ">say \"hi\"<")],
    ),
    (
        "P/draft1/TAXII_SubscriptionManagementResponse-subscribe.xml",
        Direction::Response,
        &[("phishing-urls", "community-phishing")],
        &[(">phishing-urls<", ">community-phishing<")],
    ),
    (
        "P/draft1/TAXII_SubscriptionAlert.xml",
        Direction::Response,
        &[("malware-hashes", "hashes")],
        &[(">malware-hashes<", ">hashes<")],
    ),
    (
        "P/draft1/TAXII_FeedInformationResponse.xml",
        Direction::Response,
        &[
            ("phishing-urls", "pub-phish"),
            ("ics-advisories", "say \"ics\" & 'more'"),
        ],
        &[
            ("feed-name=\"phishing-urls\"", "feed-name=\"pub-phish\""),
            (
                "feed-name=\"ics-advisories\"",
                "feed-name=\"say &quot;ics&quot; &amp; &apos;more&apos;\"",
            ),
        ],
    ),
    // 1.0: @feed_name on the root, Feed and Source_Subscription.
    (
        "P/1.0/Poll_Request-subscription.xml",
        Direction::Request,
        &[("malware-hashes", "upstream-hashes")],
        &[(
            "feed_name=\"malware-hashes\"",
            "feed_name=\"upstream-hashes\"",
        )],
    ),
    (
        "S/1.0/Poll_Response-multi.xml",
        Direction::Response,
        &[("gold", "community-gold")],
        &[("feed_name=\"gold\"", "feed_name=\"community-gold\"")],
    ),
    (
        "P/1.0/Subscription_Management_Request-unsubscribe.xml",
        Direction::Request,
        &[("phishing-urls", "up&phish")],
        &[(
            "feed_name=\"phishing&#45;urls\"",
            "feed_name=\"up&amp;phish\"",
        )],
    ),
    (
        "P/1.0/Subscription_Management_Response-subscribe-poll.xml",
        Direction::Response,
        &[("malware-hashes", "pub-hashes")],
        &[("feed_name=\"malware-hashes\"", "feed_name=\"pub-hashes\"")],
    ),
    (
        "P/1.0/Feed_Information_Response.xml",
        Direction::Response,
        &[
            ("phishing-urls", "pub-phish"),
            ("malware-hashes", "pub-hashes"),
        ],
        &[
            ("feed_name=\"phishing-urls\"", "feed_name=\"pub-phish\""),
            ("feed_name=\"malware-hashes\"", "feed_name=\"pub-hashes\""),
        ],
    ),
    (
        "P/1.0/Inbox_Message.xml",
        Direction::Request,
        &[("phishing-urls", "up-phish")],
        &[("feed_name=\"phishing-urls\"", "feed_name=\"up-phish\"")],
    ),
    // 1.1: @collection_name on the root, Collection and Source_Subscription;
    // Destination_Collection_Name.
    (
        "P/1.1/Poll_Request-query.xml",
        Direction::Request,
        &[("c2-domains", "up-c2")],
        &[(
            "collection_name=\"c2-domains\"",
            "collection_name=\"up-c2\"",
        )],
    ),
    (
        "S/1.1/Poll_Response-multipart-1.xml",
        Direction::Response,
        &[("gold", "community-gold")],
        &[(
            "collection_name=\"gold\"",
            "collection_name=\"community-gold\"",
        )],
    ),
    (
        "P/1.1/Poll_Fulfillment.xml",
        Direction::Request,
        &[("malware-hashes", "up-hashes")],
        &[(
            "collection_name=\"malware-hashes\"",
            "collection_name=\"up-hashes\"",
        )],
    ),
    (
        "P/1.1/Subscription_Management_Request-pause.xml",
        Direction::Request,
        &[("phishing-urls", "up-phish")],
        &[(
            "collection_name=\"phishing-urls\"",
            "collection_name=\"up-phish\"",
        )],
    ),
    (
        "P/1.1/Subscription_Management_Response-subscribe.xml",
        Direction::Response,
        &[("phishing-urls", "pub-phish")],
        &[(
            "collection_name=\"phishing-urls\"",
            "collection_name=\"pub-phish\"",
        )],
    ),
    (
        "P/1.1/Collection_Information_Response.xml",
        Direction::Response,
        &[("malware-hashes", "pub-hashes")],
        &[(
            "collection_name=\"malware-hashes\"",
            "collection_name=\"pub-hashes\"",
        )],
    ),
    (
        "P/1.1/Inbox_Message-destinations.xml",
        Direction::Request,
        &[
            ("member-sightings", "up-sightings"),
            ("phishing-urls", "up-phish"),
            ("c2-domains", "up<c2>"),
        ],
        &[
            (">member-sightings<", ">up-sightings<"),
            ("<![CDATA[phishing-urls]]>", "up-phish"),
            (">c2&#x2D;domains<", ">up&lt;c2&gt;<"),
        ],
    ),
    (
        "P/1.1/Inbox_Message.xml",
        Direction::Request,
        &[("phishing-urls", "up-phish")],
        &[(
            "collection_name=\"phishing-urls\"",
            "collection_name=\"up-phish\"",
        )],
    ),
];

/// The envelope as `inspect` prints it, feeds replaced by `feeds`.
fn json_with_feeds(env: &Envelope, feeds: &[String]) -> serde_json::Value {
    let mut j = env.to_json();
    j["feeds"] = serde_json::json!(feeds);
    j
}

#[test]
fn rename_every_feed_name_field_exactly() {
    for (name, direction, renames, expected) in RENAMES {
        let body = fixture(name);
        let map: HashMap<&str, &str> = renames.iter().copied().collect();
        let rename = |n: &str| map.get(n).map(|s| s.to_string());
        let rules = Rules {
            rename_feed: Some(&rename),
            ..Rules::default()
        };
        let env = scan(body.as_bytes());
        let result = edit_message(body.as_bytes(), &env, &rules).unwrap();
        let Outcome::Rewritten(out) = &result.outcome else {
            panic!("{name}: {:?}", result.outcome);
        };
        let out = String::from_utf8(out.clone()).unwrap();
        assert_eq!(out, replaced(&body, expected), "{name} ({direction:?})");
        // The new body scans to the new names and otherwise the same envelope.
        let again = scan(out.as_bytes());
        let want: Vec<String> = env
            .feeds
            .iter()
            .map(|f| {
                let v = f.value.trim();
                map.get(v).map_or(f.value.clone(), |n| n.to_string())
            })
            .collect();
        let got: Vec<String> = again.feeds.iter().map(|f| f.value.clone()).collect();
        assert_eq!(got, want, "{name}");
        assert_eq!(again.to_json(), json_with_feeds(&env, &want), "{name}");
        let renamed: Vec<(String, String)> = env
            .feeds
            .iter()
            .filter_map(|f| {
                map.get(f.value.trim())
                    .map(|n| (f.value.trim().to_string(), n.to_string()))
            })
            .collect();
        assert_eq!(result.renamed, renamed, "{name}");
    }
}

#[test]
fn every_message_with_feed_names_has_a_rename_case() {
    let covered: BTreeSet<(String, String)> = RENAMES
        .iter()
        .map(|(name, ..)| {
            let env = scan(fixture(name).as_bytes());
            (env.dialect.as_str().to_string(), env.message.to_string())
        })
        .collect();
    for (dialect, message) in FEED_MESSAGES {
        assert!(
            covered.contains(&(dialect.to_string(), message.to_string())),
            "no rename case for {dialect} {message}"
        );
    }
    // Every fixture that carries a feed name is one of those messages.
    for name in all_fixtures() {
        let env = scan(fixture(&name).as_bytes());
        if !env.feeds.is_empty() {
            assert!(
                FEED_MESSAGES.contains(&(env.dialect.as_str(), env.message)),
                "{name}: {} {} carries feed names",
                env.dialect.as_str(),
                env.message
            );
        }
    }
}

/// Every fixture of every dialect: every name renamed, every byte outside the names kept.
#[test]
fn rename_keeps_every_other_byte_of_every_fixture() {
    let rename = |n: &str| Some(format!("v-{n}"));
    let rules = Rules {
        rename_feed: Some(&rename),
        ..Rules::default()
    };
    for name in all_fixtures() {
        let body = fixture(&name);
        let env = scan(body.as_bytes());
        let result = edit_message(body.as_bytes(), &env, &rules).unwrap();
        if env.feeds.is_empty() {
            assert_eq!(result.outcome, Outcome::Unchanged, "{name}");
            continue;
        }
        if env.signed {
            assert_eq!(result.outcome, Outcome::Signed, "{name}");
            continue;
        }
        let Outcome::Rewritten(out) = result.outcome else {
            panic!("{name}");
        };
        // Walk the original's feed spans: the bytes between them are the same.
        let mut at = 0;
        let mut o = 0;
        for f in &env.feeds {
            let same = &body.as_bytes()[at..f.span.start];
            assert_eq!(&out[o..o + same.len()], same, "{name}");
            o += same.len();
            let new = format!("v-{}", f.value.trim());
            assert!(out[o..].starts_with(new.as_bytes()), "{name}: {new}");
            o += new.len();
            at = f.span.end;
        }
        assert_eq!(&out[o..], &body.as_bytes()[at..], "{name}");
        let again = scan(&out);
        let want: Vec<String> = env
            .feeds
            .iter()
            .map(|f| format!("v-{}", f.value.trim()))
            .collect();
        assert_eq!(again.to_json(), json_with_feeds(&env, &want), "{name}");
    }
}

#[test]
fn a_rename_to_nothing_is_an_error() {
    let body = fixture("P/1.1/Poll_Request-query.xml");
    let env = scan(body.as_bytes());
    for bad in ["", " ", "a\u{1}b"] {
        let rename = |_: &str| Some(bad.to_string());
        let rules = Rules {
            rename_feed: Some(&rename),
            ..Rules::default()
        };
        assert!(matches!(
            edit_message(body.as_bytes(), &env, &rules),
            Err(EditError::InvalidValue { .. })
        ));
    }
}

const V11_NS: &str = "http://taxii.mitre.org/messages/taxii_xml_binding-1.1";

#[test]
fn headers_strip_and_add_per_dialect() {
    let partner = [("urn:example:partner".to_string(), "acme & co".to_string())];
    let all = Rules {
        strip_headers: StripHeaders::All,
        ..Rules::default()
    };
    let add = Rules {
        add_headers: &partner,
        ..Rules::default()
    };
    // 1.0, default namespace: stripping every header removes the container.
    let body = fixture("P/1.0/Discovery_Request-extended-headers.xml");
    let start = body.find("\n  <Extended_Headers>").unwrap();
    let end = body.find("</Extended_Headers>").unwrap() + "</Extended_Headers>".len();
    let want = format!("{}{}", &body[..start], &body[end..]);
    assert_eq!(edited(&body, &all), want);
    // One by name: the other stays.
    let names = ["urn:example-isac:header:member".to_string()];
    let named = Rules {
        strip_headers: StripHeaders::Named(&names),
        ..Rules::default()
    };
    let want = replaced(
        &body,
        &[(
            "\n    <Extended_Header name=\"urn:example-isac:header:member\">acme-bank</Extended_Header>",
            "",
        )],
    );
    let env = scan(body.as_bytes());
    let out = edit_message(body.as_bytes(), &env, &named).unwrap();
    assert_eq!(out.headers_stripped, 1);
    assert_eq!(out.body(body.as_bytes()), want.as_bytes());
    // Added after the kept ones, same indentation.
    let want = replaced(
        &body,
        &[(
            "    </Extended_Header>\n",
            "    </Extended_Header>\n    <Extended_Header name=\"urn:example:partner\">acme &amp; co</Extended_Header>\n",
        )],
    );
    assert_eq!(edited(&body, &add), want);
    // Strip all and add: a new container in place of the old one.
    let both = Rules {
        strip_headers: StripHeaders::All,
        add_headers: &partner,
        ..Rules::default()
    };
    let want = format!(
        "{}\n  <Extended_Headers>\n    <Extended_Header name=\"urn:example:partner\">acme &amp; co</Extended_Header>\n  </Extended_Headers>{}",
        &body[..start],
        &body[end..]
    );
    assert_eq!(edited(&body, &both), want);

    // 1.0, self-closing root in the default namespace.
    let body = fixture("P/1.0/Discovery_Request.xml");
    let want = replaced(
        &body,
        &[(
            "message_id=\"1001\"/>",
            "message_id=\"1001\"><Extended_Headers><Extended_Header name=\"urn:example:partner\">acme &amp; co</Extended_Header></Extended_Headers></Discovery_Request>",
        )],
    );
    assert_eq!(edited(&body, &add), want);
    assert_eq!(scan(want.as_bytes()).extended_headers.len(), 1);

    // 1.1, prefixed root, children present: first child, with the root's prefix.
    let body = format!(
        "<taxii_11:Poll_Request xmlns:taxii_11=\"{V11_NS}\" message_id=\"m1\" collection_name=\"gold\">\n  <taxii_11:Subscription_ID>s1</taxii_11:Subscription_ID>\n</taxii_11:Poll_Request>"
    );
    let want = format!(
        "<taxii_11:Poll_Request xmlns:taxii_11=\"{V11_NS}\" message_id=\"m1\" collection_name=\"gold\">\n  <taxii_11:Extended_Headers>\n    <taxii_11:Extended_Header name=\"urn:example:partner\">acme &amp; co</taxii_11:Extended_Header>\n  </taxii_11:Extended_Headers>\n  <taxii_11:Subscription_ID>s1</taxii_11:Subscription_ID>\n</taxii_11:Poll_Request>"
    );
    assert_eq!(edited(&body, &add), want);
    // 1.1, prefixed self-closing root.
    let body = format!("<t:Discovery_Request xmlns:t=\"{V11_NS}\" message_id=\"m2\" />");
    let want = format!("<t:Discovery_Request xmlns:t=\"{V11_NS}\" message_id=\"m2\" ><t:Extended_Headers><t:Extended_Header name=\"urn:example:partner\">acme &amp; co</t:Extended_Header></t:Extended_Headers></t:Discovery_Request>");
    assert_eq!(edited(&body, &add), want);
    assert_eq!(
        scan(want.as_bytes()).extended_headers[0].name,
        "urn:example:partner"
    );

    // Draft 1: headers are elements named by local name; the container's prefix is used.
    let body = fixture("P/draft1/TAXII_DiscoveryRequest-extended-headers.xml");
    let env = scan(body.as_bytes());
    let names: Vec<&str> = env
        .extended_headers
        .iter()
        .map(|h| h.name.as_str())
        .collect();
    assert_eq!(names, ["feed-name", "member", "service-address"]);
    let strip = ["feed-name".to_string(), "service-address".to_string()];
    let adds = [
        ("partner".to_string(), "acme".to_string()),
        ("not a name".to_string(), "x".to_string()),
    ];
    let rules = Rules {
        strip_headers: StripHeaders::Named(&strip),
        add_headers: &adds,
        ..Rules::default()
    };
    let out = edit_message(body.as_bytes(), &env, &rules).unwrap();
    assert_eq!(
        (out.headers_stripped, out.headers_added, out.headers_refused),
        (2, 1, 1)
    );
    let want = replaced(
        &body,
        &[
            ("\n    <isac:feed-name>phishing-urls</isac:feed-name>", ""),
            (
                "]]></hdr:member>",
                "]]></hdr:member>\n    <isac:partner>acme</isac:partner>",
            ),
            (
                "\n    <isac:service-address>http://10.0.0.7/internal</isac:service-address>",
                "",
            ),
        ],
    );
    assert_eq!(out.body(body.as_bytes()), want.as_bytes());
    // Draft 1 without headers, default namespace: inserted as the first child.
    let body = fixture("P/draft1/TAXII_PollRequest-content-binding.xml");
    let want = replaced(
        &body,
        &[(
            "\n  <feed-name>",
            "\n  <extended-headers>\n    <partner>acme</partner>\n  </extended-headers>\n  <feed-name>",
        )],
    );
    let rules = Rules {
        add_headers: &adds[..1],
        ..Rules::default()
    };
    assert_eq!(edited(&body, &rules), want);
    assert_eq!(scan(want.as_bytes()).extended_headers[0].name, "partner");
}

#[test]
fn draft1_query_headers() {
    let strip = ["member".to_string()];
    let adds = [
        ("partner".to_string(), "acme bank&co".to_string()),
        ("message_id".to_string(), "x".to_string()),
    ];
    let rules = Rules {
        strip_headers: StripHeaders::Named(&strip),
        add_headers: &adds,
        ..Rules::default()
    };
    assert_eq!(
        edit_draft1_query(
            "message_type=discovery_request&message_id=a1&mem%62er=x&tier=gold",
            &rules
        ),
        "message_type=discovery_request&message_id=a1&tier=gold&partner=acme%20bank%26co"
    );
    let all = Rules {
        strip_headers: StripHeaders::All,
        ..Rules::default()
    };
    assert_eq!(
        edit_draft1_query(
            "message_type=feed_information_request&a=1&message_id=a1",
            &all
        ),
        "message_type=feed_information_request&message_id=a1"
    );
    assert_eq!(edit_draft1_query("", &Rules::default()), "");
}

#[test]
fn push_message_set_or_inserted() {
    let rules = Rules {
        set_message: Some("via gateway <acme>"),
        ..Rules::default()
    };
    for name in ["P/1.1/Inbox_Message.xml", "P/1.0/Inbox_Message.xml"] {
        let body = fixture(name);
        let start = body.find("<Message>").unwrap() + "<Message>".len();
        let end = body.find("</Message>").unwrap();
        let want = format!("{}via gateway &lt;acme&gt;{}", &body[..start], &body[end..]);
        assert_eq!(edited(&body, &rules), want, "{name}");
    }
    // Draft 1: message comes after subscription-id, before content-binding.
    let body = fixture("P/draft1/TAXII_STIXMessage.xml");
    let want = replaced(
        &body,
        &[(
            "<content-binding>",
            "<message>via gateway &lt;acme&gt;</message>\n  <content-binding>",
        )],
    );
    assert_eq!(edited(&body, &rules), want);
    // 1.1 without Message: after the destinations.
    let body = format!("<Inbox_Message xmlns=\"{V11_NS}\" message_id=\"m\">\n  <Destination_Collection_Name>a</Destination_Collection_Name>\n  <Content_Block><Content_Binding binding_id=\"x\"/><Content>c</Content></Content_Block>\n</Inbox_Message>");
    let want = body.replace(
        "  <Content_Block>",
        "  <Message>via gateway &lt;acme&gt;</Message>\n  <Content_Block>",
    );
    assert_eq!(edited(&body, &rules), want);
    // Not a push: nothing.
    let body = fixture("P/1.1/Poll_Request-query.xml");
    let env = scan(body.as_bytes());
    let out = edit_message(body.as_bytes(), &env, &rules).unwrap();
    assert_eq!((out.outcome, out.message_set), (Outcome::Unchanged, false));
}

/// 2026-12-04T10:00:00Z.
const NOT_BEFORE: i64 = 1_796_378_400;

fn clamp(body: &str) -> (Outcome, Option<Window>) {
    let env = scan(body.as_bytes());
    let rules = Rules {
        begin_not_before: Some(NOT_BEFORE),
        ..Rules::default()
    };
    let out = edit_message(body.as_bytes(), &env, &rules).unwrap();
    (out.outcome, out.window)
}

fn window(asked: Option<&str>, served: &str) -> Option<Window> {
    Some(Window {
        asked: asked.map(str::to_string),
        served: served.to_string(),
    })
}

#[test]
fn poll_requests_are_clamped() {
    let t = "2026-12-04T10:00:00Z";
    // Earlier, replaced: Draft 1 (zone-less), 1.0, 1.1.
    for (name, old) in [
        (
            "P/draft1/TAXII_PollRequest-content-binding.xml",
            "2013-01-14T00:00:00Z",
        ),
        (
            "P/draft1/TAXII_PollRequest-subscription.xml",
            "2013-01-14T12:00:00.000000001",
        ),
        (
            "P/1.0/Poll_Request-subscription.xml",
            "2013-06-01T00:00:00.123456Z",
        ),
        (
            "P/1.1/Poll_Request-query.xml",
            "2014-03-01T12:00:00.5-05:00",
        ),
    ] {
        let body = fixture(name);
        let (outcome, w) = clamp(&body);
        assert_eq!(
            outcome,
            Outcome::Rewritten(replaced(&body, &[(old, t)]).into_bytes()),
            "{name}"
        );
        assert_eq!(w, window(Some(old), t), "{name}");
    }
    // Absent: inserted at the schema position. Draft 1 after feed-name.
    let body = fixture("S/draft1/TAXII_PollRequest-content-binding.xml");
    let env = scan(body.as_bytes());
    if env.begin_timestamp.is_none() {
        let (outcome, w) = clamp(&body);
        let Outcome::Rewritten(out) = outcome else {
            panic!()
        };
        let again = scan(&out);
        assert_eq!(again.begin_timestamp.map(|f| f.value), Some(t.to_string()));
        assert_eq!(w, window(None, t));
    }
    // 1.1: before Subscription_ID (the schema order), prefixed.
    let body = format!("<taxii_11:Poll_Request xmlns:taxii_11=\"{V11_NS}\" message_id=\"m1\" collection_name=\"gold\">\n  <taxii_11:Subscription_ID>s1</taxii_11:Subscription_ID>\n</taxii_11:Poll_Request>");
    let want = body.replace(
        "<taxii_11:Subscription_ID>",
        "<taxii_11:Exclusive_Begin_Timestamp>2026-12-04T10:00:00Z</taxii_11:Exclusive_Begin_Timestamp>\n  <taxii_11:Subscription_ID>",
    );
    assert_eq!(
        clamp(&body),
        (Outcome::Rewritten(want.into_bytes()), window(None, t))
    );
    // 1.1: after an end timestamp? No: before it.
    let body = format!("<Poll_Request xmlns=\"{V11_NS}\" message_id=\"m1\" collection_name=\"gold\"><Inclusive_End_Timestamp>2027-01-01T00:00:00Z</Inclusive_End_Timestamp><Subscription_ID>s1</Subscription_ID></Poll_Request>");
    let want = body.replace(
        "<Inclusive_End_Timestamp>",
        "<Exclusive_Begin_Timestamp>2026-12-04T10:00:00Z</Exclusive_Begin_Timestamp><Inclusive_End_Timestamp>",
    );
    assert_eq!(
        clamp(&body),
        (Outcome::Rewritten(want.into_bytes()), window(None, t))
    );
    // 1.0 without timestamps: after Extended_Headers, before Content_Binding.
    let body = "<Poll_Request xmlns=\"http://taxii.mitre.org/messages/taxii_xml_binding-1\" message_id=\"1\" feed_name=\"gold\">\n  <Extended_Headers><Extended_Header name=\"a\">b</Extended_Header></Extended_Headers>\n  <Content_Binding>x</Content_Binding>\n</Poll_Request>";
    let want = body.replace(
        "  <Content_Binding>",
        "  <Exclusive_Begin_Timestamp>2026-12-04T10:00:00Z</Exclusive_Begin_Timestamp>\n  <Content_Binding>",
    );
    assert_eq!(
        clamp(body),
        (Outcome::Rewritten(want.into_bytes()), window(None, t))
    );
    // Later or equal: unchanged, the window says so.
    let later = "2026-12-04T10:00:00.5Z";
    let body =
        fixture("P/1.1/Poll_Request-subscription.xml").replace("2014-03-01T00:00:00Z", later);
    assert_eq!(
        clamp(&body),
        (Outcome::Unchanged, window(Some(later), later))
    );
}

#[test]
fn poll_responses_say_the_window_served() {
    // 1.0: inclusive begin = the exclusive instant + 1 µs.
    let body = fixture("P/1.0/Poll_Response.xml");
    let (outcome, w) = clamp(&body);
    let served = "2026-12-04T10:00:00.000001Z";
    assert_eq!(
        outcome,
        Outcome::Rewritten(
            replaced(&body, &[("2013-06-01T00:00:00.123457Z", served)]).into_bytes()
        )
    );
    assert_eq!(w, window(Some("2013-06-01T00:00:00.123457Z"), served));
    // 1.1 without begin: after Subscription_ID? The schema puts it after Subscription_ID and
    // before Inclusive_End_Timestamp.
    let body = format!("<Poll_Response xmlns=\"{V11_NS}\" message_id=\"r\" in_response_to=\"m\" collection_name=\"gold\"><Inclusive_End_Timestamp>2027-01-01T00:00:00Z</Inclusive_End_Timestamp></Poll_Response>");
    let want = body.replace(
        "<Inclusive_End_Timestamp>",
        "<Exclusive_Begin_Timestamp>2026-12-04T10:00:00Z</Exclusive_Begin_Timestamp><Inclusive_End_Timestamp>",
    );
    assert_eq!(
        clamp(&body),
        (
            Outcome::Rewritten(want.into_bytes()),
            window(None, "2026-12-04T10:00:00Z")
        )
    );
    // Draft 1 empty poll response.
    let body = fixture("P/draft1/TAXII_PollResponse-empty.xml");
    let env = scan(body.as_bytes());
    let (outcome, _) = clamp(&body);
    let Outcome::Rewritten(out) = outcome else {
        panic!()
    };
    assert_eq!(
        scan(&out).begin_timestamp.map(|f| f.value),
        Some("2026-12-04T10:00:00Z".to_string())
    );
    assert_eq!(scan(&out).to_json(), env.to_json());
}

#[test]
fn signed_messages_are_never_edited() {
    let rename = |n: &str| Some(format!("v-{n}"));
    let headers = [("urn:x".to_string(), "y".to_string())];
    let rules = Rules {
        rename_feed: Some(&rename),
        strip_headers: StripHeaders::All,
        add_headers: &headers,
        set_message: Some("m"),
        begin_not_before: Some(NOT_BEFORE),
    };
    for name in [
        "P/1.1/Discovery_Request-signed.xml",
        "P/1.0/Inbox_Message-signed.xml",
        "P/1.0/Subscription_Management_Request-status.xml",
        "S/1.0/Inbox_Message-signed.xml",
        "S/1.1/Discovery_Request-signed.xml",
    ] {
        let body = fixture(name);
        let env = scan(body.as_bytes());
        assert!(env.signed, "{name}");
        let out = edit_message(body.as_bytes(), &env, &rules).unwrap();
        assert_eq!(out.outcome, Outcome::Signed, "{name}");
        assert_eq!(out.body(body.as_bytes()), body.as_bytes());
    }
}

fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The exact bytes of each `<open…` … `close` element, found by text search.
fn blocks<'a>(body: &'a str, open: &str, close: &str) -> Vec<&'a str> {
    let mut out = Vec::new();
    let mut at = 0;
    while let Some(s) = body[at..].find(open) {
        let s = at + s;
        let e = s + body[s..].find(close).unwrap() + close.len();
        out.push(&body[s..e]);
        at = e;
    }
    out
}

#[test]
fn content_digests_are_of_the_bytes_on_the_wire() {
    for (name, open, close) in [
        (
            "P/1.0/Inbox_Message.xml",
            "<Content_Block>",
            "</Content_Block>",
        ),
        (
            "S/1.0/Poll_Response-multi.xml",
            "<Content_Block>",
            "</Content_Block>",
        ),
        (
            "P/1.1/Inbox_Message.xml",
            "<Content_Block>",
            "</Content_Block>",
        ),
        (
            "S/1.1/Poll_Response-multipart-1.xml",
            "<Content_Block>",
            "</Content_Block>",
        ),
        ("P/draft1/TAXII_STIXMessage.xml", "<STIX", "</STIX>"),
    ] {
        let body = fixture(name);
        let want: Vec<String> = blocks(&body, open, close)
            .iter()
            .map(|b| sha256_hex(b.as_bytes()))
            .collect();
        assert!(!want.is_empty(), "{name}");
        let env = scan(body.as_bytes());
        assert_eq!(content_digests(body.as_bytes(), &env), want, "{name}");
        // Streamed in small pieces: the spans completed so far are the same blocks.
        let mut s = StreamScanner::new(ScanLimits::default());
        let mut seen = Vec::new();
        for piece in body.as_bytes().chunks(37) {
            s.feed(piece).unwrap();
            for span in &s.content_block_spans()[seen.len()..] {
                assert!(span.end <= s.verified());
                seen.push(sha256_hex(&body.as_bytes()[span.clone()]));
            }
        }
        let env2 = s.finish().unwrap();
        for span in &env2.content_block_spans[seen.len()..] {
            seen.push(sha256_hex(&body.as_bytes()[span.clone()]));
        }
        assert_eq!(seen, want, "{name} streamed");
        assert_eq!(env2, env, "{name}");
        // Drained as they are released (what the gateway does with long answers): each block
        // once, in order, and the scanner keeps none of them.
        let mut s = StreamScanner::new(ScanLimits::default());
        let mut drained = Vec::new();
        for piece in body.as_bytes().chunks(37) {
            s.feed(piece).unwrap();
            for span in s.drain_released(s.verified()) {
                assert!(span.end <= s.verified());
                drained.push(sha256_hex(&body.as_bytes()[span]));
            }
            assert!(s.content_block_spans().iter().all(|b| b.end > s.verified()));
        }
        let env3 = s.finish().unwrap();
        for span in &env3.content_block_spans {
            drained.push(sha256_hex(&body.as_bytes()[span.clone()]));
        }
        assert_eq!(drained, want, "{name} drained");
        assert_eq!(env3.content_blocks, env.content_blocks, "{name}");
        assert_eq!(env3.feeds, env.feeds, "{name}");
    }
}

#[test]
fn an_envelope_of_another_body_is_an_error() {
    let body = fixture("P/1.0/Feed_Information_Response.xml");
    let env = scan(body.as_bytes());
    let rename = |n: &str| Some(format!("v-{n}"));
    let rules = Rules {
        rename_feed: Some(&rename),
        ..Rules::default()
    };
    assert!(matches!(
        edit_message(&body.as_bytes()[..40], &env, &rules),
        Err(EditError::Mismatch(_))
    ));
}
