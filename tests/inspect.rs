//! `taxii-gateway inspect`, the real binary, on the project's own fixtures (`tests/fixtures/`,
//! described one line per file in `tests/fixtures/README.md`).
//!
//! - every good fixture prints exactly the envelope in [`GOOD`] (all twelve keys) and exits 0;
//! - every hostile fixture prints `{"error": KIND, "detail": TEXT}` with the kind in [`BAD`] and
//!   exits 2;
//! - the HTTP context (`--method`, `--header`, `--query`, `--transport`) decides Draft 1 GETs and
//!   the agreement of every dialect signal ([`HTTP`]).
//!
//! The tables must name every fixture file, and every file must be in a table.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeSet;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde_json::{json, Value};

const BIN: &str = env!("CARGO_BIN_EXE_taxii-gateway");

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

/// What one run of `taxii-gateway inspect ARGS` printed, with `stdin` as standard input.
struct Run {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

fn inspect(args: &[&str], stdin: &[u8]) -> Run {
    let mut child = Command::new(BIN)
        .arg("inspect")
        .args(args)
        .current_dir(fixtures())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("taxii-gateway runs");
    // Written from a thread: the binary may stop reading (it reads at most the size limit + 1).
    let mut pipe = child.stdin.take().expect("stdin is piped");
    let body = stdin.to_vec();
    let writer = std::thread::spawn(move || {
        let _ = pipe.write_all(&body);
    });
    let out = child.wait_with_output().expect("taxii-gateway exits");
    writer.join().expect("the stdin writer finishes");
    Run {
        code: out.status.code(),
        stdout: String::from_utf8(out.stdout).expect("stdout is UTF-8"),
        stderr: String::from_utf8(out.stderr).expect("stderr is UTF-8"),
    }
}

impl Run {
    /// The one JSON object printed on the one line of stdout.
    fn json(&self) -> Value {
        let line = self.stdout.strip_suffix('\n').unwrap_or(&self.stdout);
        assert!(
            !line.contains('\n'),
            "inspect printed more than one line: {:?}",
            self.stdout
        );
        let v: Value = serde_json::from_str(line)
            .unwrap_or_else(|e| panic!("stdout is not JSON ({e}): {:?}", self.stdout));
        assert!(v.is_object(), "stdout is not a JSON object: {v}");
        v
    }

    /// Checks a successful run and returns its envelope.
    fn envelope(&self) -> Result<Value, String> {
        if self.code != Some(0) || !self.stderr.is_empty() {
            return Err(format!(
                "exit {:?}, stdout {:?}, stderr {:?}",
                self.code, self.stdout, self.stderr
            ));
        }
        Ok(self.json())
    }

    /// Checks a refusal and returns its kind.
    fn error(&self) -> Result<String, String> {
        if self.code != Some(2) || !self.stderr.is_empty() {
            return Err(format!(
                "exit {:?}, stdout {:?}, stderr {:?}",
                self.code, self.stdout, self.stderr
            ));
        }
        let v = self.json();
        let keys: BTreeSet<&str> = v
            .as_object()
            .map(|o| o.keys().map(String::as_str).collect())
            .unwrap_or_default();
        if keys != BTreeSet::from(["detail", "error"]) {
            return Err(format!("a refusal has exactly error and detail: {v}"));
        }
        if v["detail"].as_str().is_none_or(str::is_empty) {
            return Err(format!("the detail is an empty or non-string value: {v}"));
        }
        v["error"]
            .as_str()
            .map(str::to_string)
            .ok_or_else(|| format!("error is not a string: {v}"))
    }
}

// ---------------------------------------------------------------------------------------------
// Good fixtures: file → the exact envelope
// ---------------------------------------------------------------------------------------------

/// One accepted fixture and the envelope `inspect` must print for it. Fields left out of an
/// entry take their value from [`NOTHING`]: null, `[]` or 0, and that is asserted too.
struct Good {
    file: &'static str,
    dialect: &'static str,
    message: &'static str,
    message_id: &'static str,
    in_response_to: Option<&'static str>,
    feeds: &'static [&'static str],
    action: Option<&'static str>,
    subscription_id: Option<&'static str>,
    content_bindings: &'static [&'static str],
    delivery_addresses: &'static [&'static str],
    service_addresses: &'static [&'static str],
    status_type: Option<&'static str>,
    content_blocks: usize,
}

const NOTHING: Good = Good {
    file: "",
    dialect: "",
    message: "",
    message_id: "",
    in_response_to: None,
    feeds: &[],
    action: None,
    subscription_id: None,
    content_bindings: &[],
    delivery_addresses: &[],
    service_addresses: &[],
    status_type: None,
    content_blocks: 0,
};

impl Good {
    /// The whole JSON object, all twelve keys.
    fn json(&self) -> Value {
        json!({
            "dialect": self.dialect,
            "message": self.message,
            "message_id": self.message_id,
            "in_response_to": self.in_response_to,
            "feeds": self.feeds,
            "action": self.action,
            "subscription_id": self.subscription_id,
            "content_bindings": self.content_bindings,
            "delivery_addresses": self.delivery_addresses,
            "service_addresses": self.service_addresses,
            "status_type": self.status_type,
            "content_blocks": self.content_blocks,
        })
    }
}

static GOOD: &[Good] = &[
    Good {
        file: "draft1/TAXII_DiscoveryRequest-extended-headers.xml",
        dialect: "draft1",
        message: "TAXII_DiscoveryRequest",
        message_id: "c0ffee00 7a11 4b0b 9d3e 51a7e0000111",
        ..NOTHING
    },
    Good {
        file: "draft1/TAXII_DiscoveryRequest.xml",
        dialect: "draft1",
        message: "TAXII_DiscoveryRequest",
        message_id: "c0ffee00-7a11-4b0b-9d3e-51a7e0000101",
        ..NOTHING
    },
    Good {
        file: "draft1/TAXII_DiscoveryResponse-empty.xml",
        dialect: "draft1",
        message: "TAXII_DiscoveryResponse",
        message_id: "d15c0000-0002-4c1e-8a5a-15ac00000002",
        in_response_to: Some("c0ffee00-7a11-4b0b-9d3e-51a7e0000111"),
        ..NOTHING
    },
    Good {
        file: "draft1/TAXII_DiscoveryResponse.xml",
        dialect: "draft1",
        message: "TAXII_DiscoveryResponse",
        message_id: "d15c0000-0001-4c1e-8a5a-15ac00000001",
        in_response_to: Some("c0ffee00-7a11-4b0b-9d3e-51a7e0000101"),
        content_bindings: &["STIX_XML_1.0", "STIX_XML_1.0.1"],
        service_addresses: &[
            "https://taxii.example-isac.org/discovery",
            "https://taxii.example-isac.org/feeds?tier=members&v=1",
            "https://taxii.example-isac.org/poll/",
            "http://submit.example-isac.org/inbox",
        ],
        ..NOTHING
    },
    Good {
        file: "draft1/TAXII_ErrorMessage-denied.xml",
        dialect: "draft1",
        message: "TAXII_ErrorMessage",
        message_id: "e1a2b3c4-0001-4d5e-9f60-1ac0000000e1",
        in_response_to: Some("c0ffee00-7a11-4b0b-9d3e-51a7e0000104"),
        status_type: Some("DENIED"),
        ..NOTHING
    },
    Good {
        file: "draft1/TAXII_ErrorMessage-pending.xml",
        dialect: "draft1",
        message: "TAXII_ErrorMessage",
        message_id: "E1A2B3C4-0003-4D5E-9F60-1AC0000000E3",
        in_response_to: Some("c0ffee00-7a11-4b0b-9d3e-51a7e0000102"),
        status_type: Some("PENDING"),
        ..NOTHING
    },
    Good {
        file: "draft1/TAXII_ErrorMessage-unsupported-content.xml",
        dialect: "draft1",
        message: "TAXII_ErrorMessage",
        message_id: "e1a2b3c4-0002-4d5e-9f60-1ac0000000e2",
        in_response_to: Some("c0ffee00-7a11-4b0b-9d3e-51a7e0000107"),
        status_type: Some("UNSUPPORTED-CONTENT"),
        ..NOTHING
    },
    Good {
        file: "draft1/TAXII_FeedInformationRequest.xml",
        dialect: "draft1",
        message: "TAXII_FeedInformationRequest",
        message_id: "c0ffee00-7a11-4b0b-9d3e-51a7e0000103",
        ..NOTHING
    },
    Good {
        file: "draft1/TAXII_FeedInformationResponse.xml",
        dialect: "draft1",
        message: "TAXII_FeedInformationResponse",
        message_id: "d15c0000-0003-4c1e-8a5a-15ac00000003",
        in_response_to: Some("c0ffee00-7a11-4b0b-9d3e-51a7e0000103"),
        feeds: &["phishing-urls", "malware-hashes", "ics-advisories"],
        content_bindings: &["STIX_XML_1.0", "STIX_XML_1.0.1"],
        ..NOTHING
    },
    Good {
        file: "draft1/TAXII_PollRequest-content-binding.xml",
        dialect: "draft1",
        message: "TAXII_PollRequest",
        message_id: "c0ffee00-7a11-4b0b-9d3e-51a7e0000112",
        feeds: &["phishing-urls"],
        content_bindings: &["STIX_XML_1.0"],
        ..NOTHING
    },
    Good {
        file: "draft1/TAXII_PollRequest-subscription.xml",
        dialect: "draft1",
        message: "TAXII_PollRequest",
        message_id: "c0ffee00-7a11-4b0b-9d3e-51a7e0000113",
        feeds: &["malware-hashes"],
        subscription_id: Some("isac-sub-0077"),
        ..NOTHING
    },
    Good {
        file: "draft1/TAXII_PollResponse-empty.xml",
        dialect: "draft1",
        message: "TAXII_PollResponse",
        message_id: "d15c0000-0009-4c1e-8a5a-15ac00000009",
        in_response_to: Some("c0ffee00-7a11-4b0b-9d3e-51a7e0000112"),
        content_bindings: &["STIX_XML_1.0"],
        ..NOTHING
    },
    Good {
        file: "draft1/TAXII_PollResponse.xml",
        dialect: "draft1",
        message: "TAXII_PollResponse",
        message_id: "d15c0000-0008-4c1e-8a5a-15ac00000008",
        in_response_to: Some("c0ffee00-7a11-4b0b-9d3e-51a7e0000113"),
        subscription_id: Some("isac-sub-0077"),
        content_bindings: &["STIX_XML_1.0.1"],
        content_blocks: 3,
        ..NOTHING
    },
    Good {
        file: "draft1/TAXII_STIXMessage-unsolicited.xml",
        dialect: "draft1",
        message: "TAXII_STIXMessage",
        message_id: "ac3e0000-0001-4b0b-9d3e-51a7e00000aa",
        content_bindings: &["STIX_XML_1.0"],
        content_blocks: 1,
        ..NOTHING
    },
    Good {
        file: "draft1/TAXII_STIXMessage.xml",
        dialect: "draft1",
        message: "TAXII_STIXMessage",
        message_id: "d15c0000-000a-4c1e-8a5a-15ac0000000a",
        subscription_id: Some("isac-sub-0042"),
        content_bindings: &["STIX_XML_1.0"],
        content_blocks: 2,
        ..NOTHING
    },
    Good {
        file: "draft1/TAXII_SubscriptionAlert.xml",
        dialect: "draft1",
        message: "TAXII_SubscriptionAlert",
        message_id: "d15c0000-0007-4c1e-8a5a-15ac00000007",
        feeds: &["malware-hashes"],
        action: Some("PAUSE"),
        subscription_id: Some("isac-sub-0077"),
        ..NOTHING
    },
    Good {
        file: "draft1/TAXII_SubscriptionManagementRequest-modify.xml",
        dialect: "draft1",
        message: "TAXII_SubscriptionManagementRequest",
        message_id: "c0ffee00-7a11-4b0b-9d3e-51a7e0000106",
        feeds: &["phishing-urls"],
        action: Some("MODIFY"),
        subscription_id: Some("isac-sub-0042"),
        content_bindings: &["STIX_XML_1.0.1"],
        delivery_addresses: &["http://dmz.acme-bank.example:8080/taxii/inbox"],
        ..NOTHING
    },
    Good {
        file: "draft1/TAXII_SubscriptionManagementRequest-pause.xml",
        dialect: "draft1",
        message: "TAXII_SubscriptionManagementRequest",
        message_id: "c0ffee00-7a11-4b0b-9d3e-51a7e0000108",
        feeds: &["malware-hashes"],
        action: Some("PAUSE"),
        subscription_id: Some("isac-sub-0077"),
        ..NOTHING
    },
    Good {
        file: "draft1/TAXII_SubscriptionManagementRequest-resume.xml",
        dialect: "draft1",
        message: "TAXII_SubscriptionManagementRequest",
        message_id: "c0ffee00-7a11-4b0b-9d3e-51a7e0000109",
        feeds: &["malware-hashes"],
        action: Some("RESUME"),
        subscription_id: Some("isac-sub-0077"),
        ..NOTHING
    },
    Good {
        file: "draft1/TAXII_SubscriptionManagementRequest-status.xml",
        dialect: "draft1",
        message: "TAXII_SubscriptionManagementRequest",
        message_id: "c0ffee00-7a11-4b0b-9d3e-51a7e0000110",
        feeds: &["ics-advisories"],
        action: Some("STATUS"),
        ..NOTHING
    },
    Good {
        file: "draft1/TAXII_SubscriptionManagementRequest-subscribe-poll.xml",
        dialect: "draft1",
        message: "TAXII_SubscriptionManagementRequest",
        message_id: "c0ffee00-7a11-4b0b-9d3e-51a7e0000105",
        feeds: &["malware-hashes"],
        action: Some("SUBSCRIBE"),
        content_bindings: &["STIX_XML_1.0.1"],
        ..NOTHING
    },
    Good {
        file: "draft1/TAXII_SubscriptionManagementRequest-subscribe.xml",
        dialect: "draft1",
        message: "TAXII_SubscriptionManagementRequest",
        message_id: "c0ffee00-7a11-4b0b-9d3e-51a7e0000104",
        feeds: &["phishing-urls"],
        action: Some("SUBSCRIBE"),
        content_bindings: &["STIX_XML_1.0"],
        delivery_addresses: &["https://cti.acme-bank.example/taxii/inbox"],
        ..NOTHING
    },
    Good {
        file: "draft1/TAXII_SubscriptionManagementRequest-unsubscribe.xml",
        dialect: "draft1",
        message: "TAXII_SubscriptionManagementRequest",
        message_id: "c0ffee00-7a11-4b0b-9d3e-51a7e0000107",
        feeds: &["phishing-urls"],
        action: Some("UNSUBSCRIBE"),
        subscription_id: Some("isac-sub-0042"),
        ..NOTHING
    },
    Good {
        file: "draft1/TAXII_SubscriptionManagementResponse-status-none.xml",
        dialect: "draft1",
        message: "TAXII_SubscriptionManagementResponse",
        message_id: "d15c0000-0006-4c1e-8a5a-15ac00000006",
        in_response_to: Some("c0ffee00-7a11-4b0b-9d3e-51a7e0000110"),
        feeds: &["ics-advisories"],
        ..NOTHING
    },
    Good {
        file: "draft1/TAXII_SubscriptionManagementResponse-status.xml",
        dialect: "draft1",
        message: "TAXII_SubscriptionManagementResponse",
        message_id: "d15c0000-0005-4c1e-8a5a-15ac00000005",
        in_response_to: Some("c0ffee00-7a11-4b0b-9d3e-51a7e0000110"),
        feeds: &["ics-advisories"],
        content_bindings: &["STIX_XML_1.0.1"],
        delivery_addresses: &["https://ot-soc.acme-bank.example/inbox"],
        ..NOTHING
    },
    Good {
        file: "draft1/TAXII_SubscriptionManagementResponse-subscribe.xml",
        dialect: "draft1",
        message: "TAXII_SubscriptionManagementResponse",
        message_id: "d15c0000-0004-4c1e-8a5a-15ac00000004",
        in_response_to: Some("c0ffee00-7a11-4b0b-9d3e-51a7e0000104"),
        feeds: &["phishing-urls"],
        subscription_id: Some("isac-sub-0042"),
        content_bindings: &["STIX_XML_1.0"],
        delivery_addresses: &["https://cti.acme-bank.example/taxii/inbox"],
        ..NOTHING
    },
    Good {
        file: "1.0/Discovery_Request-extended-headers.xml",
        dialect: "1.0",
        message: "Discovery_Request",
        message_id: "1002",
        ..NOTHING
    },
    Good {
        file: "1.0/Discovery_Request.xml",
        dialect: "1.0",
        message: "Discovery_Request",
        message_id: "1001",
        ..NOTHING
    },
    Good {
        file: "1.0/Discovery_Response.xml",
        dialect: "1.0",
        message: "Discovery_Response",
        message_id: "2004",
        in_response_to: Some("1001"),
        content_bindings: &["urn:stix.mitre.org:xml:1.0", "urn:stix.mitre.org:xml:1.0.1"],
        service_addresses: &[
            "https://taxii.example-isac.org/taxii-discovery-service/",
            "https://taxii.example-isac.org/feed-management?member=acme-bank&tier=gold",
            "https://taxii.example-isac.org/poll",
            "http://submit.example-isac.org/inbox",
        ],
        ..NOTHING
    },
    Good {
        file: "1.0/Feed_Information_Request-bom-crlf.xml",
        dialect: "1.0",
        message: "Feed_Information_Request",
        message_id: "1004",
        ..NOTHING
    },
    Good {
        file: "1.0/Feed_Information_Request.xml",
        dialect: "1.0",
        message: "Feed_Information_Request",
        message_id: "1003",
        ..NOTHING
    },
    Good {
        file: "1.0/Feed_Information_Response.xml",
        dialect: "1.0",
        message: "Feed_Information_Response",
        message_id: "2005",
        in_response_to: Some("1003"),
        feeds: &["phishing-urls", "malware-hashes"],
        content_bindings: &["urn:stix.mitre.org:xml:1.0", "urn:stix.mitre.org:xml:1.0.1"],
        service_addresses: &[
            "https://taxii.example-isac.org/poll",
            "https://taxii.example-isac.org/feed-management",
            "http://mirror.example-isac.org/poll",
        ],
        ..NOTHING
    },
    Good {
        file: "1.0/Inbox_Message-nested-1.1.xml",
        dialect: "1.0",
        message: "Inbox_Message",
        message_id: "1021",
        content_bindings: &["urn:example-isac:content:taxii-1.1-message"],
        content_blocks: 1,
        ..NOTHING
    },
    Good {
        file: "1.0/Inbox_Message-signed.xml",
        dialect: "1.0",
        message: "Inbox_Message",
        message_id: "1020",
        content_bindings: &["urn:stix.mitre.org:xml:1.0.1"],
        content_blocks: 1,
        ..NOTHING
    },
    Good {
        file: "1.0/Inbox_Message.xml",
        dialect: "1.0",
        message: "Inbox_Message",
        message_id: "2015",
        feeds: &["phishing-urls"],
        subscription_id: Some("urn:example-isac:sub:0042"),
        content_bindings: &[
            "urn:stix.mitre.org:xml:1.0",
            "urn:example-isac:content:url-list",
        ],
        content_blocks: 2,
        ..NOTHING
    },
    Good {
        file: "1.0/Poll_Request-content-binding.xml",
        dialect: "1.0",
        message: "Poll_Request",
        message_id: "1015",
        feeds: &["phishing-urls"],
        content_bindings: &["urn:stix.mitre.org:xml:1.0.1", "urn:stix.mitre.org:xml:1.0"],
        ..NOTHING
    },
    Good {
        file: "1.0/Poll_Request-subscription.xml",
        dialect: "1.0",
        message: "Poll_Request",
        message_id: "1014",
        feeds: &["malware-hashes"],
        subscription_id: Some("urn:example-isac:sub:0077"),
        ..NOTHING
    },
    Good {
        file: "1.0/Poll_Response-empty.xml",
        dialect: "1.0",
        message: "Poll_Response",
        message_id: "2014",
        in_response_to: Some("1015"),
        feeds: &["phishing-urls"],
        ..NOTHING
    },
    Good {
        file: "1.0/Poll_Response.xml",
        dialect: "1.0",
        message: "Poll_Response",
        message_id: "2013",
        in_response_to: Some("1014"),
        feeds: &["malware-hashes"],
        subscription_id: Some("urn:example-isac:sub:0077"),
        content_bindings: &[
            "urn:stix.mitre.org:xml:1.0.1",
            "http://www.w3.org/2001/04/xmlenc#|urn:stix.mitre.org:xml:1.0.1",
        ],
        content_blocks: 2,
        ..NOTHING
    },
    Good {
        file: "1.0/Status_Message-denied-signed.xml",
        dialect: "1.0",
        message: "Status_Message",
        message_id: "2003",
        in_response_to: Some("1016"),
        status_type: Some("DENIED"),
        ..NOTHING
    },
    Good {
        file: "1.0/Status_Message-retry.xml",
        dialect: "1.0",
        message: "Status_Message",
        message_id: "2002",
        in_response_to: Some("1015"),
        status_type: Some("RETRY"),
        ..NOTHING
    },
    Good {
        file: "1.0/Status_Message-success.xml",
        dialect: "1.0",
        message: "Status_Message",
        message_id: "2001",
        in_response_to: Some("1020"),
        status_type: Some("SUCCESS"),
        ..NOTHING
    },
    Good {
        file: "1.0/Subscription_Management_Request-status.xml",
        dialect: "1.0",
        message: "Subscription_Management_Request",
        message_id: "1013",
        feeds: &["malware-hashes"],
        action: Some("STATUS"),
        ..NOTHING
    },
    Good {
        file: "1.0/Subscription_Management_Request-subscribe-poll.xml",
        dialect: "1.0",
        message: "Subscription_Management_Request",
        message_id: "1011",
        feeds: &["malware-hashes"],
        action: Some("SUBSCRIBE"),
        ..NOTHING
    },
    Good {
        file: "1.0/Subscription_Management_Request-subscribe-push.xml",
        dialect: "1.0",
        message: "Subscription_Management_Request",
        message_id: "1010",
        feeds: &["phishing-urls"],
        action: Some("SUBSCRIBE"),
        content_bindings: &["urn:stix.mitre.org:xml:1.0"],
        delivery_addresses: &["https://cti.acme-bank.example/taxii/inbox"],
        ..NOTHING
    },
    Good {
        file: "1.0/Subscription_Management_Request-unsubscribe.xml",
        dialect: "1.0",
        message: "Subscription_Management_Request",
        message_id: "1012",
        feeds: &["phishing-urls"],
        action: Some("UNSUBSCRIBE"),
        subscription_id: Some("urn:example-isac:sub:0042"),
        ..NOTHING
    },
    Good {
        file: "1.0/Subscription_Management_Response-status.xml",
        dialect: "1.0",
        message: "Subscription_Management_Response",
        message_id: "2012",
        in_response_to: Some("1013"),
        feeds: &["malware-hashes"],
        content_bindings: &["urn:stix.mitre.org:xml:1.0.1"],
        delivery_addresses: &["https://cti.acme-bank.example/taxii/inbox"],
        service_addresses: &["https://taxii.example-isac.org/poll"],
        ..NOTHING
    },
    Good {
        file: "1.0/Subscription_Management_Response-subscribe-poll.xml",
        dialect: "1.0",
        message: "Subscription_Management_Response",
        message_id: "2011",
        in_response_to: Some("1011"),
        feeds: &["malware-hashes"],
        subscription_id: Some("urn:example-isac:sub:0077"),
        service_addresses: &["https://taxii.example-isac.org/poll"],
        ..NOTHING
    },
    Good {
        file: "1.0/Subscription_Management_Response-subscribe-push.xml",
        dialect: "1.0",
        message: "Subscription_Management_Response",
        message_id: "2010",
        in_response_to: Some("1010"),
        feeds: &["phishing-urls"],
        subscription_id: Some("urn:example-isac:sub:0042"),
        ..NOTHING
    },
    Good {
        file: "1.1/Collection_Information_Request.xml",
        dialect: "1.1",
        message: "Collection_Information_Request",
        message_id: "urn:uuid:3b8e5f0a-1d2c-4e6f-8a9b-0c1d2e3f4a04",
        ..NOTHING
    },
    Good {
        file: "1.1/Collection_Information_Response.xml",
        dialect: "1.1",
        message: "Collection_Information_Response",
        message_id: "urn:example-isac:msg:resp-005",
        in_response_to: Some("urn:uuid:3b8e5f0a-1d2c-4e6f-8a9b-0c1d2e3f4a04"),
        feeds: &["phishing-urls", "malware-hashes"],
        content_bindings: &["urn:stix.mitre.org:xml:1.1.1", "urn:stix.mitre.org:xml:1.1"],
        service_addresses: &[
            "https://taxii.example-isac.org/poll/",
            "https://taxii.example-isac.org/collection-management/",
            "https://submit.example-isac.org/inbox/",
            "http://mirror.example-isac.org/poll/",
        ],
        ..NOTHING
    },
    Good {
        file: "1.1/Discovery_Request-signed.xml",
        dialect: "1.1",
        message: "Discovery_Request",
        message_id: "urn:uuid:3b8e5f0a-1d2c-4e6f-8a9b-0c1d2e3f4a03",
        ..NOTHING
    },
    Good {
        file: "1.1/Discovery_Request.xml",
        dialect: "1.1",
        message: "Discovery_Request",
        message_id: "urn:uuid:3b8e5f0a-1d2c-4e6f-8a9b-0c1d2e3f4a02",
        ..NOTHING
    },
    Good {
        file: "1.1/Discovery_Response.xml",
        dialect: "1.1",
        message: "Discovery_Response",
        message_id: "urn:example-isac:msg:resp-004",
        in_response_to: Some("urn:uuid:3b8e5f0a-1d2c-4e6f-8a9b-0c1d2e3f4a02"),
        content_bindings: &["urn:stix.mitre.org:xml:1.1.1", "urn:stix.mitre.org:xml:1.1"],
        service_addresses: &[
            "https://taxii.example-isac.org/taxii-discovery-service/",
            "https://taxii.example-isac.org/collection-management/",
            "https://taxii.example-isac.org/poll/",
            "https://submit.example-isac.org/inbox/",
        ],
        ..NOTHING
    },
    Good {
        file: "1.1/Inbox_Message-async-result.xml",
        dialect: "1.1",
        message: "Inbox_Message",
        message_id: "urn:example-isac:msg:push-002",
        content_bindings: &["urn:stix.mitre.org:xml:1.1.1"],
        content_blocks: 1,
        ..NOTHING
    },
    Good {
        file: "1.1/Inbox_Message-destinations.xml",
        dialect: "1.1",
        message: "Inbox_Message",
        message_id: "urn:uuid:3b8e5f0a-1d2c-4e6f-8a9b-0c1d2e3f4a21",
        feeds: &["member-sightings", "phishing-urls", "c2-domains"],
        content_bindings: &["urn:stix.mitre.org:xml:1.1.1"],
        content_blocks: 1,
        ..NOTHING
    },
    Good {
        file: "1.1/Inbox_Message.xml",
        dialect: "1.1",
        message: "Inbox_Message",
        message_id: "urn:example-isac:msg:push-001",
        feeds: &["phishing-urls"],
        subscription_id: Some("urn:example-isac:sub:1142"),
        content_bindings: &["urn:stix.mitre.org:xml:1.1.1"],
        content_blocks: 1,
        ..NOTHING
    },
    Good {
        file: "1.1/Poll_Fulfillment.xml",
        dialect: "1.1",
        message: "Poll_Fulfillment",
        message_id: "urn:uuid:3b8e5f0a-1d2c-4e6f-8a9b-0c1d2e3f4a14",
        feeds: &["malware-hashes"],
        ..NOTHING
    },
    Good {
        file: "1.1/Poll_Request-delivery.xml",
        dialect: "1.1",
        message: "Poll_Request",
        message_id: "urn:uuid:3b8e5f0a-1d2c-4e6f-8a9b-0c1d2e3f4a12",
        feeds: &["malware-hashes"],
        content_bindings: &["urn:stix.mitre.org:xml:1.1.1"],
        delivery_addresses: &["https://bulk.acme-bank.example/taxii11/inbox"],
        ..NOTHING
    },
    Good {
        file: "1.1/Poll_Request-query.xml",
        dialect: "1.1",
        message: "Poll_Request",
        message_id: "urn:uuid:3b8e5f0a-1d2c-4e6f-8a9b-0c1d2e3f4a13",
        feeds: &["c2-domains"],
        content_bindings: &["urn:stix.mitre.org:xml:1.1.1", "urn:stix.mitre.org:xml:1.1"],
        ..NOTHING
    },
    Good {
        file: "1.1/Poll_Request-subscription.xml",
        dialect: "1.1",
        message: "Poll_Request",
        message_id: "urn:uuid:3b8e5f0a-1d2c-4e6f-8a9b-0c1d2e3f4a11",
        feeds: &["phishing-urls"],
        subscription_id: Some("urn:example-isac:sub:1142"),
        ..NOTHING
    },
    Good {
        file: "1.1/Poll_Response-count-only.xml",
        dialect: "1.1",
        message: "Poll_Response",
        message_id: "urn:example-isac:msg:resp-009",
        in_response_to: Some("urn:uuid:3b8e5f0a-1d2c-4e6f-8a9b-0c1d2e3f4a13"),
        feeds: &["c2-domains"],
        ..NOTHING
    },
    Good {
        file: "1.1/Poll_Response-multipart.xml",
        dialect: "1.1",
        message: "Poll_Response",
        message_id: "urn:example-isac:msg:resp-010",
        in_response_to: Some("urn:uuid:3b8e5f0a-1d2c-4e6f-8a9b-0c1d2e3f4a12"),
        feeds: &["malware-hashes"],
        content_bindings: &["urn:stix.mitre.org:xml:1.1.1"],
        content_blocks: 2,
        ..NOTHING
    },
    Good {
        file: "1.1/Poll_Response.xml",
        dialect: "1.1",
        message: "Poll_Response",
        message_id: "urn:example-isac:msg:resp-008",
        in_response_to: Some("urn:uuid:3b8e5f0a-1d2c-4e6f-8a9b-0c1d2e3f4a11"),
        feeds: &["phishing-urls"],
        subscription_id: Some("urn:example-isac:sub:1142"),
        content_bindings: &[
            "urn:stix.mitre.org:xml:1.1.1",
            "urn:example-isac:content:archived-taxii",
        ],
        content_blocks: 3,
        ..NOTHING
    },
    Good {
        file: "1.1/Status_Message-destination-collection-error.xml",
        dialect: "1.1",
        message: "Status_Message",
        message_id: "urn:example-isac:msg:resp-003",
        in_response_to: Some("urn:uuid:3b8e5f0a-1d2c-4e6f-8a9b-0c1d2e3f4a21"),
        status_type: Some("DESTINATION_COLLECTION_ERROR"),
        ..NOTHING
    },
    Good {
        file: "1.1/Status_Message-pending.xml",
        dialect: "1.1",
        message: "Status_Message",
        message_id: "urn:example-isac:msg:resp-002",
        in_response_to: Some("urn:uuid:3b8e5f0a-1d2c-4e6f-8a9b-0c1d2e3f4a12"),
        status_type: Some("PENDING"),
        ..NOTHING
    },
    Good {
        file: "1.1/Status_Message-success.xml",
        dialect: "1.1",
        message: "Status_Message",
        message_id: "urn:example-isac:msg:resp-001",
        in_response_to: Some("urn:uuid:3b8e5f0a-1d2c-4e6f-8a9b-0c1d2e3f4a01"),
        status_type: Some("SUCCESS"),
        ..NOTHING
    },
    Good {
        file: "1.1/Subscription_Management_Request-pause.xml",
        dialect: "1.1",
        message: "Subscription_Management_Request",
        message_id: "urn:uuid:3b8e5f0a-1d2c-4e6f-8a9b-0c1d2e3f4007",
        feeds: &["phishing-urls"],
        action: Some("PAUSE"),
        subscription_id: Some("urn:example-isac:sub:1142"),
        ..NOTHING
    },
    Good {
        file: "1.1/Subscription_Management_Request-resume.xml",
        dialect: "1.1",
        message: "Subscription_Management_Request",
        message_id: "urn:uuid:3b8e5f0a-1d2c-4e6f-8a9b-0c1d2e3f4008",
        feeds: &["phishing-urls"],
        action: Some("RESUME"),
        subscription_id: Some("urn:example-isac:sub:1142"),
        ..NOTHING
    },
    Good {
        file: "1.1/Subscription_Management_Request-status.xml",
        dialect: "1.1",
        message: "Subscription_Management_Request",
        message_id: "urn:uuid:3b8e5f0a-1d2c-4e6f-8a9b-0c1d2e3f4010",
        feeds: &["phishing-urls"],
        action: Some("STATUS"),
        ..NOTHING
    },
    Good {
        file: "1.1/Subscription_Management_Request-subscribe-push.xml",
        dialect: "1.1",
        message: "Subscription_Management_Request",
        message_id: "urn:uuid:3b8e5f0a-1d2c-4e6f-8a9b-0c1d2e3f4a05",
        feeds: &["phishing-urls"],
        action: Some("SUBSCRIBE"),
        content_bindings: &["urn:stix.mitre.org:xml:1.1.1"],
        delivery_addresses: &["https://cti.acme-bank.example/taxii11/inbox"],
        ..NOTHING
    },
    Good {
        file: "1.1/Subscription_Management_Request-subscribe-query.xml",
        dialect: "1.1",
        message: "Subscription_Management_Request",
        message_id: "urn:uuid:3b8e5f0a-1d2c-4e6f-8a9b-0c1d2e3f4a06",
        feeds: &["c2-domains"],
        action: Some("SUBSCRIBE"),
        ..NOTHING
    },
    Good {
        file: "1.1/Subscription_Management_Request-unsubscribe.xml",
        dialect: "1.1",
        message: "Subscription_Management_Request",
        message_id: "urn:uuid:3b8e5f0a-1d2c-4e6f-8a9b-0c1d2e3f4009",
        feeds: &["phishing-urls"],
        action: Some("UNSUBSCRIBE"),
        subscription_id: Some("urn:example-isac:sub:1142"),
        ..NOTHING
    },
    Good {
        file: "1.1/Subscription_Management_Response-status.xml",
        dialect: "1.1",
        message: "Subscription_Management_Response",
        message_id: "urn:example-isac:msg:resp-007",
        in_response_to: Some("urn:uuid:3b8e5f0a-1d2c-4e6f-8a9b-0c1d2e3f4010"),
        feeds: &["phishing-urls"],
        content_bindings: &["urn:stix.mitre.org:xml:1.1.1"],
        delivery_addresses: &["https://cti.acme-bank.example/taxii11/inbox"],
        ..NOTHING
    },
    Good {
        file: "1.1/Subscription_Management_Response-subscribe.xml",
        dialect: "1.1",
        message: "Subscription_Management_Response",
        message_id: "urn:example-isac:msg:resp-006",
        in_response_to: Some("urn:uuid:3b8e5f0a-1d2c-4e6f-8a9b-0c1d2e3f4a05"),
        feeds: &["phishing-urls"],
        subscription_id: Some("urn:example-isac:sub:1142"),
        content_bindings: &["urn:stix.mitre.org:xml:1.1.1"],
        delivery_addresses: &["https://cti.acme-bank.example/taxii11/inbox"],
        service_addresses: &["https://taxii.example-isac.org/poll/"],
        ..NOTHING
    },
];

/// The fixture files of one folder, relative to `tests/fixtures`.
fn files_in(folder: &str) -> BTreeSet<String> {
    std::fs::read_dir(fixtures().join(folder))
        .unwrap_or_else(|e| panic!("tests/fixtures/{folder}: {e}"))
        .map(|e| e.expect("a directory entry").file_name())
        .map(|n| format!("{folder}/{}", n.to_string_lossy()))
        .filter(|n| n.ends_with(".xml"))
        .collect()
}

#[test]
fn every_good_fixture_prints_its_exact_envelope() {
    let mut failures = Vec::new();
    for g in GOOD {
        let run = inspect(&[g.file], b"");
        match run.envelope() {
            Ok(got) if got == g.json() => {}
            Ok(got) => failures.push(format!("{}:\n   got {got}\n  want {}", g.file, g.json())),
            Err(e) => failures.push(format!("{}: {e}", g.file)),
        }
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}

#[test]
fn the_good_table_names_every_good_fixture_once() {
    let in_table: Vec<&str> = GOOD.iter().map(|g| g.file).collect();
    let unique: BTreeSet<String> = in_table.iter().map(|f| f.to_string()).collect();
    assert_eq!(unique.len(), in_table.len(), "a file is listed twice");
    let on_disk: BTreeSet<String> = ["draft1", "1.0", "1.1"]
        .iter()
        .flat_map(|d| files_in(d))
        .collect();
    assert_eq!(unique, on_disk, "the table and tests/fixtures disagree");
}

#[test]
fn good_fixture_names_follow_the_corpus_convention() {
    // `<dialect folder>/<RootName>[-variant].xml`, as in the shared corpus.
    for g in GOOD {
        let (folder, name) = g.file.split_once('/').expect("folder/name");
        let stem = name.strip_suffix(".xml").expect(".xml");
        let root = stem.split('-').next().expect("a root name");
        assert_eq!(folder, g.dialect, "{}: folder vs dialect", g.file);
        assert_eq!(root, g.message, "{}: file name vs message", g.file);
    }
}

#[test]
fn standard_input_gives_what_the_file_gives() {
    for file in [
        "1.1/Inbox_Message-destinations.xml",
        "1.0/Feed_Information_Request-bom-crlf.xml",
        "draft1/TAXII_STIXMessage-unsolicited.xml",
    ] {
        let body = std::fs::read(fixtures().join(file)).expect("the fixture reads");
        let from_file = inspect(&[file], b"").envelope().expect(file);
        let from_dash = inspect(&["-"], &body).envelope().expect(file);
        let from_nothing = inspect(&[], &body).envelope().expect(file);
        assert_eq!(from_dash, from_file, "{file} via -");
        assert_eq!(from_nothing, from_file, "{file} via standard input");
    }
}

// ---------------------------------------------------------------------------------------------
// Hostile fixtures: file → the kind of refusal
// ---------------------------------------------------------------------------------------------

/// Every file in `bad/`, named `<kind>-<what>.xml`, and the `error` it must produce.
static BAD: &[(&str, &str)] = &[
    (
        "bad/attribute_too_long-extended-header.xml",
        "attribute_too_long",
    ),
    ("bad/doctype-xxe-file.xml", "doctype"),
    ("bad/empty-prolog-only.xml", "empty"),
    ("bad/encoding-declared-utf16.xml", "encoding"),
    ("bad/encoding-latin1.xml", "encoding"),
    ("bad/entity-undefined-in-text.xml", "entity"),
    (
        "bad/invalid_combination-draft1-poll-no-selector.xml",
        "invalid_combination",
    ),
    (
        "bad/invalid_combination-poll-both-selectors.xml",
        "invalid_combination",
    ),
    ("bad/invalid_value-modify-in-1.1.xml", "invalid_value"),
    (
        "bad/invalid_value-timestamp-without-zone.xml",
        "invalid_value",
    ),
    (
        "bad/invalid_value-uri-message-id-in-1.0.xml",
        "invalid_value",
    ),
    ("bad/malformed-cdata-end-in-text.xml", "malformed"),
    ("bad/malformed-control-character.xml", "malformed"),
    ("bad/malformed-invalid-stix-name.xml", "malformed"),
    ("bad/malformed-mismatched-end-tag.xml", "malformed"),
    ("bad/missing_field-message-id.xml", "missing_field"),
    (
        "bad/missing_field-unsubscribe-without-id.xml",
        "missing_field",
    ),
    ("bad/multiple_roots-two-messages.xml", "multiple_roots"),
    ("bad/name_too_long-payload-element.xml", "name_too_long"),
    ("bad/repeated_field-two-feed-names.xml", "repeated_field"),
    (
        "bad/repeated_field-two-subscription-ids.xml",
        "repeated_field",
    ),
    ("bad/too_deep-nested-content.xml", "too_deep"),
    (
        "bad/too_many_attributes-stix-element.xml",
        "too_many_attributes",
    ),
    (
        "bad/unexpected_attribute-feed-name-in-1.1.xml",
        "unexpected_attribute",
    ),
    (
        "bad/unexpected_element-content-binding-in-push-parameters.xml",
        "unexpected_element",
    ),
    (
        "bad/unexpected_element-foreign-in-envelope.xml",
        "unexpected_element",
    ),
    ("bad/unexpected_text-in-envelope.xml", "unexpected_text"),
    (
        "bad/unknown_message-feed-information-in-1.1.xml",
        "unknown_message",
    ),
    (
        "bad/unknown_message-poll-fulfillment-in-1.0.xml",
        "unknown_message",
    ),
    ("bad/unknown_namespace-lookalike.xml", "unknown_namespace"),
    ("bad/unknown_namespace-none.xml", "unknown_namespace"),
];

#[test]
fn every_bad_fixture_is_refused_with_its_kind() {
    let mut failures = Vec::new();
    for (file, kind) in BAD {
        match inspect(&[file], b"").error() {
            Ok(got) if got == *kind => {}
            Ok(got) => failures.push(format!("{file}: got {got}, want {kind}")),
            Err(e) => failures.push(format!("{file}: {e}")),
        }
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}

#[test]
fn the_bad_table_names_every_bad_fixture_by_its_kind() {
    let in_table: BTreeSet<String> = BAD.iter().map(|(f, _)| f.to_string()).collect();
    assert_eq!(in_table.len(), BAD.len(), "a file is listed twice");
    assert_eq!(
        in_table,
        files_in("bad"),
        "the table and tests/fixtures/bad disagree"
    );
    for (file, kind) in BAD {
        let name = file.strip_prefix("bad/").expect("bad/");
        assert!(
            name.starts_with(&format!("{kind}-")),
            "{file} is not named after its kind {kind}"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// The HTTP context
// ---------------------------------------------------------------------------------------------

const XML: &str = "Content-Type: application/xml";
const CT_10: &str = "X-TAXII-Content-Type: urn:taxii.mitre.org:message:xml:1.0";
const CT_11: &str = "X-TAXII-Content-Type: urn:taxii.mitre.org:message:xml:1.1";
const PROTO_HTTP: &str = "X-TAXII-Protocol: urn:taxii.mitre.org:protocol:http:1.0";
const PROTO_HTTPS: &str = "X-TAXII-Protocol: urn:taxii.mitre.org:protocol:https:1.0";
const SERV_10: &str = "X-TAXII-Services: urn:taxii.mitre.org:services:1.0";
const SERV_11: &str = "X-TAXII-Services: urn:taxii.mitre.org:services:1.1";
const D1_CT: &str = "X-TAXII-Content-Type: TAXII_1.0/TAXII_XML_BINDING_1.0";
const D1_HTTP: &str = "X-TAXII-Protocol: TAXII_HTTP_BINDING_1.0";
const D1_HTTPS_TYPO: &str = "X-TAXII-Protocol: TAXI_HTTPS_BINDING_1.0";

/// What a run with an HTTP context must print.
enum Want {
    /// Exactly this envelope.
    Envelope(Value),
    /// Exactly the envelope [`GOOD`] lists for this fixture.
    AsTable(&'static str),
    /// A refusal of this kind.
    Error(&'static str),
}

/// One case: the body (a fixture, or nothing), the method, the headers, the query, the
/// transport, and what `inspect` must answer.
struct Http {
    name: &'static str,
    file: Option<&'static str>,
    method: Option<&'static str>,
    headers: &'static [&'static str],
    query: Option<&'static str>,
    transport: Option<&'static str>,
    want: Want,
}

/// A Draft 1 GET request's envelope: only the message and its id.
fn draft1_get(message: &str, message_id: &str) -> Want {
    Want::Envelope(json!({
        "dialect": "draft1",
        "message": message,
        "message_id": message_id,
        "in_response_to": null,
        "feeds": [],
        "action": null,
        "subscription_id": null,
        "content_bindings": [],
        "delivery_addresses": [],
        "service_addresses": [],
        "status_type": null,
        "content_blocks": 0,
    }))
}

#[rustfmt::skip]
fn http_cases() -> Vec<Http> {
    use Want::*;
    const POLL_11: &str = "1.1/Poll_Request-subscription.xml";
    const POLL_10: &str = "1.0/Poll_Request-subscription.xml";
    const POLL_D1: &str = "draft1/TAXII_PollRequest-subscription.xml";
    let case = |name, file, method, headers, query, transport, want| Http {
        name,
        file,
        method,
        headers,
        query,
        transport,
        want,
    };
    vec![
        // Draft 1 GET requests (HTTP binding 5.1.1, 5.1.2): the query is the message.
        case("GET discovery", None, Some("GET"), &[],
            Some("message_type=discovery_request&message_id=c0ffee00-7a11-4b0b-9d3e-51a7e0000201"), None,
            draft1_get("TAXII_DiscoveryRequest", "c0ffee00-7a11-4b0b-9d3e-51a7e0000201")),
        case("GET feed information: percent-encoded id, '+', mixed-case type, extended header, '?'",
            None, Some("GET"), &[],
            Some("?message_type=Feed_Information_Request&message_id=a847%2098be+ffe8%2D40ee&tlp=AMBER"),
            None, draft1_get("TAXII_FeedInformationRequest", "a847 98be ffe8-40ee")),
        case("GET with the Draft 1 headers MITRE's examples send, over HTTPS", None, Some("GET"),
            &[XML, D1_CT, D1_HTTPS_TYPO], Some("message_type=DISCOVERY_REQUEST&message_id=00ff"),
            Some("https"), draft1_get("TAXII_DiscoveryRequest", "00ff")),
        case("GET with a 1.1 header", None, Some("GET"), &[SERV_11],
            Some("message_type=discovery_request&message_id=00ff"), None, Error("dialect_mismatch")),
        case("GET without message_type", None, Some("GET"), &[],
            Some("message_id=00ff"), None, Error("not_taxii")),
        case("GET without query", None, Some("GET"), &[], None, None, Error("not_taxii")),
        case("GET of a message that is POSTed", None, Some("GET"), &[],
            Some("message_type=poll_request&message_id=00ff"), None, Error("not_taxii")),
        case("GET without message_id", None, Some("GET"), &[],
            Some("message_type=discovery_request"), None, Error("missing_field")),
        case("GET with two message ids", None, Some("GET"), &[],
            Some("message_type=discovery_request&message_id=01&message_id=02"), None,
            Error("repeated_field")),
        case("GET with a broken percent-encoding", None, Some("GET"), &[],
            Some("message_type=discovery_request&message_id=0%G1"), None, Error("invalid_value")),
        case("GET with a message id without hex digit", None, Some("GET"), &[],
            Some("message_type=discovery_request&message_id=%21%21"), None, Error("invalid_value")),
        case("GET with a query that is not UTF-8", None, Some("GET"), &[],
            Some("message_type=discovery_request&message_id=0f%FF"), None, Error("encoding")),
        case("GET with a body", Some("draft1/TAXII_DiscoveryRequest.xml"), Some("GET"), &[],
            Some("message_type=discovery_request&message_id=00ff"), None,
            Error("invalid_combination")),
        // Draft 1 POSTs.
        case("POST Draft 1 with its headers", Some(POLL_D1), Some("POST"), &[XML, D1_CT, D1_HTTP],
            None, Some("http"), AsTable(POLL_D1)),
        case("POST Draft 1 with no header: the body decides", Some(POLL_D1), Some("POST"), &[],
            None, None, AsTable(POLL_D1)),
        case("POST Draft 1 discovery (a GET in Draft 1)", Some("draft1/TAXII_DiscoveryRequest.xml"),
            Some("POST"), &[XML, D1_CT, D1_HTTP], None, None, Error("method_not_allowed")),
        case("POST Draft 1 feed information (a GET in Draft 1)",
            Some("draft1/TAXII_FeedInformationRequest.xml"), Some("POST"), &[], None, None,
            Error("method_not_allowed")),
        case("POST Draft 1 body with 1.1 headers", Some(POLL_D1), Some("POST"),
            &[XML, CT_11, PROTO_HTTP, SERV_11], None, None, Error("dialect_mismatch")),
        case("Draft 1 HTTP protocol over HTTPS", Some(POLL_D1), Some("POST"), &[D1_HTTP], None,
            Some("https"), Error("dialect_mismatch")),
        case("Draft 1 protocol with a 1.1 services header", Some(POLL_11), Some("POST"),
            &[D1_HTTP, SERV_11], None, None, Error("dialect_mismatch")),
        // 1.x POSTs (HTTP binding 2.1.4-2.1.6: all three X-TAXII headers).
        case("POST 1.1 with its headers", Some(POLL_11), Some("POST"),
            &[XML, CT_11, PROTO_HTTP, SERV_11], None, Some("http"), AsTable(POLL_11)),
        case("POST 1.0 over HTTPS with its headers, names in any case", Some(POLL_10), Some("POST"),
            &["content-type: application/xml; charset=utf-8",
              "x-taxii-content-type: urn:taxii.mitre.org:message:xml:1.0",
              "X-Taxii-Protocol: urn:taxii.mitre.org:protocol:https:1.0",
              "x-taxii-services: urn:taxii.mitre.org:services:1.0"],
            None, Some("https"), AsTable(POLL_10)),
        case("a stale message_type on a 1.1 POST", Some(POLL_11), Some("POST"),
            &[XML, CT_11, PROTO_HTTP, SERV_11], Some("message_type=discovery_request&message_id=1"),
            None, AsTable(POLL_11)),
        case("no method: the body alone, headers checked", Some(POLL_11), None, &[CT_11], None,
            None, AsTable(POLL_11)),
        case("POST 1.1 without X-TAXII headers", Some(POLL_11), Some("POST"), &[XML], None, None,
            Error("not_taxii")),
        case("POST 1.1 without X-TAXII-Services", Some(POLL_11), Some("POST"),
            &[XML, CT_11, PROTO_HTTP], None, None, Error("not_taxii")),
        case("POST 1.1 without X-TAXII-Protocol", Some(POLL_11), Some("POST"), &[CT_11, SERV_11],
            None, None, Error("not_taxii")),
        case("1.1 body, 1.0 headers", Some(POLL_11), Some("POST"),
            &[XML, CT_10, PROTO_HTTP, SERV_10], None, None, Error("dialect_mismatch")),
        case("1.0 body, 1.1 headers", Some(POLL_10), Some("POST"),
            &[XML, CT_11, PROTO_HTTP, SERV_11], None, None, Error("dialect_mismatch")),
        case("1.1 content type, 1.0 services", Some(POLL_11), Some("POST"),
            &[XML, CT_11, PROTO_HTTP, SERV_10], None, None, Error("dialect_mismatch")),
        case("one header twice with different values", Some(POLL_11), Some("POST"),
            &[XML, CT_11, PROTO_HTTP, SERV_11, SERV_10], None, None, Error("dialect_mismatch")),
        case("HTTP protocol header over HTTPS", Some(POLL_11), Some("POST"),
            &[XML, CT_11, PROTO_HTTP, SERV_11], None, Some("https"), Error("dialect_mismatch")),
        case("HTTPS protocol header over HTTP", Some(POLL_10), Some("POST"),
            &[XML, CT_10, PROTO_HTTPS, SERV_10], None, Some("http"), Error("dialect_mismatch")),
        case("Content-Type text/xml", Some(POLL_11), Some("POST"),
            &["Content-Type: text/xml", CT_11, PROTO_HTTP, SERV_11], None, None,
            Error("unsupported_media_type")),
        case("a JSON message binding", Some(POLL_11), Some("POST"),
            &[XML, "X-TAXII-Content-Type: urn:taxii.mitre.org:message:json:1.1", PROTO_HTTP, SERV_11],
            None, None, Error("unsupported_media_type")),
        case("an unknown protocol binding", Some(POLL_11), Some("POST"),
            &[XML, CT_11, "X-TAXII-Protocol: urn:taxii.mitre.org:protocol:ftp:1.0", SERV_11],
            None, None, Error("unsupported_media_type")),
        case("an unknown services version", Some(POLL_11), Some("POST"),
            &[XML, CT_11, PROTO_HTTP, "X-TAXII-Services: urn:taxii.mitre.org:services:2.0"],
            None, None, Error("unsupported_media_type")),
        case("PUT", Some(POLL_11), Some("PUT"), &[XML, CT_11, PROTO_HTTP, SERV_11], None, None,
            Error("method_not_allowed")),
        case("DELETE without body", None, Some("DELETE"), &[], None, None,
            Error("method_not_allowed")),
        case("a lower-case method (methods are case-sensitive)", Some(POLL_11), Some("post"),
            &[XML, CT_11, PROTO_HTTP, SERV_11], None, None, Error("method_not_allowed")),
        case("a header without a colon", Some(POLL_11), Some("POST"), &["X-TAXII-Services"], None,
            None, Error("malformed")),
    ]
}

#[test]
fn the_http_context_decides_and_must_agree() {
    let mut failures = Vec::new();
    for c in http_cases() {
        let mut args: Vec<String> = Vec::new();
        if let Some(f) = c.file {
            args.push(f.to_string());
        }
        if let Some(m) = c.method {
            args.extend(["--method".to_string(), m.to_string()]);
        }
        for h in c.headers {
            args.extend(["--header".to_string(), h.to_string()]);
        }
        if let Some(q) = c.query {
            args.extend(["--query".to_string(), q.to_string()]);
        }
        if let Some(t) = c.transport {
            args.extend(["--transport".to_string(), t.to_string()]);
        }
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        // Without a file, standard input is the (empty) body.
        let run = inspect(&args, b"");
        let outcome = match &c.want {
            Want::Envelope(want) => run.envelope().and_then(|got| {
                (got == *want)
                    .then_some(())
                    .ok_or(format!("got {got}, want {want}"))
            }),
            Want::AsTable(file) => {
                let want = GOOD
                    .iter()
                    .find(|g| g.file == *file)
                    .expect("the fixture is in GOOD")
                    .json();
                run.envelope().and_then(|got| {
                    (got == want)
                        .then_some(())
                        .ok_or(format!("got {got}, want {want}"))
                })
            }
            Want::Error(kind) => run.error().and_then(|got| {
                (got == *kind)
                    .then_some(())
                    .ok_or(format!("got {got}, want {kind}"))
            }),
        };
        if let Err(e) = outcome {
            failures.push(format!("{}: {e}", c.name));
        }
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}

#[test]
fn draft1_get_query_parameters_hit_the_limits() {
    // Each value is bounded like an attribute value (8 KiB by default) ...
    let long = format!(
        "message_type=discovery_request&message_id=00ff&note={}",
        "a".repeat(8 * 1024 + 1)
    );
    let at_limit = long.replacen(&"a".repeat(8 * 1024 + 1), &"a".repeat(8 * 1024), 1);
    let get = |q: &str| inspect(&["--method", "GET", "--query", q], b"");
    assert_eq!(get(&long).error().as_deref(), Ok("attribute_too_long"));
    assert!(get(&at_limit).envelope().is_ok());
    // ... and the extended headers are counted like attributes (64 by default).
    let params = |n: usize| {
        let mut q = String::from("message_type=discovery_request&message_id=00ff");
        for i in 0..n {
            q.push_str(&format!("&h{i}=v"));
        }
        q
    };
    assert!(get(&params(64)).envelope().is_ok());
    assert_eq!(
        get(&params(65)).error().as_deref(),
        Ok("too_many_attributes")
    );
}

#[test]
fn a_body_over_64_mib_is_too_large() {
    // The binary reads at most the limit + 1 bytes, so this costs 64 MiB, not more.
    let mut body = b"<Discovery_Request xmlns=\"http://taxii.mitre.org/messages/taxii_xml_binding-1.1\" message_id=\"urn:x:1\"/>".to_vec();
    body.resize(64 * 1024 * 1024 + 1, b' ');
    assert_eq!(inspect(&["-"], &body).error().as_deref(), Ok("too_large"));
}

#[test]
fn a_missing_file_is_an_error_of_the_command_not_a_refusal() {
    let run = inspect(&["no-such-fixture.xml"], b"");
    assert_eq!(run.code, Some(1), "{}", run.stderr);
    assert!(run.stdout.is_empty(), "{}", run.stdout);
    assert!(
        run.stderr.contains("taxii-gateway inspect"),
        "{}",
        run.stderr
    );
}

#[test]
fn the_readme_describes_every_fixture() {
    let readme = std::fs::read_to_string(fixtures().join("README.md")).expect("README.md");
    // Sections `## <folder>/ ...`, then table rows `| \`<file>\` | what | answer |`.
    let mut folder = "";
    let mut described = BTreeSet::new();
    for line in readme.lines() {
        if let Some(heading) = line.strip_prefix("## ") {
            folder = heading.split('/').next().unwrap_or_default();
        } else if let Some(row) = line.strip_prefix("| `") {
            let file = row.split('`').next().unwrap_or_default();
            assert!(
                described.insert(format!("{folder}/{file}")),
                "README.md describes {folder}/{file} twice"
            );
        }
    }
    let on_disk: BTreeSet<String> = ["draft1", "1.0", "1.1", "bad"]
        .iter()
        .flat_map(|d| files_in(d))
        .collect();
    assert_eq!(
        described, on_disk,
        "tests/fixtures/README.md and the files disagree"
    );
}
