//! Demo and benchmark data: a deterministic generator of realistic TAXII messages.
//!
//! Benches (`benches/scan.rs`), tests, the comparison script (`scripts/bench-parse.sh`, through
//! `examples/gen_message.rs`) and later the demo upstream all draw their messages from here, so
//! that every figure is measured on the same bytes. Nothing here is random: the same arguments
//! always give the same bytes, on every machine.
//!
//! What the messages look like, and why:
//! - a Poll Response carries many content blocks, each one STIX 1.1.1 package of about 5.6 KB
//!   (a header with intent, TLP marking and source; three indicators on an IP address, a URL and
//!   a file hash; one TTP with its kill chain phase), written the way STIX producers write them:
//!   fifteen namespace prefixes declared on the package, `xsi:type` on indicators, properties and
//!   vocabulary values, escaped text (`&amp;`, `&lt;`, `&quot;`, character references) in titles,
//!   descriptions and URLs. With its envelope a 1.1 block is about 5.9 KB;
//! - the 1.1 and 1.0 envelopes use the prefixes libtaxii writes (`taxii_11:`, `taxii:`), Draft 1
//!   the default namespace as in the Draft 1 examples;
//! - a Poll Request is about 1 KB: a 1.1 request with a Default Query, 1.0 and Draft 1 requests
//!   with extended headers and content bindings.
//!
//! This is data for demos and measurements, not a TAXII implementation: it writes bytes, it does
//! not check them. The unit tests run them through [`crate::taxii::scan_body`]; the 1.1 and 1.0
//! messages also pass libtaxii 1.1.119's parser and its XSD validation. The Draft 1 response
//! carries the same STIX 1.1.1 packages as bare documents, which the gateway accepts (any foreign
//! element, DIGEST §5.12 #6) but the Draft 1 XSD, older than STIX 1.0, does not name.

use std::fmt::Write as _;

use crate::taxii::{writer, Dialect};

#[cfg(feature = "gateway")]
pub mod service;
pub mod upstream;

/// The content binding of every block (1.1 Content Binding Reference: STIX 1.1.1).
pub const STIX_111_BINDING: &str = "urn:stix.mitre.org:xml:1.1.1";

/// The feed (collection) the generated messages are about.
pub const FEED: &str = "demo-indicators";

/// A Poll Response of `dialect` with as many STIX 1.1.1 content blocks as fit in `target_bytes`
/// (at least one): the result is at most `target_bytes` long, unless one block alone is larger,
/// and within one block (about 6 KB) of it.
pub fn poll_response(dialect: Dialect, target_bytes: usize) -> Vec<u8> {
    // The header with the widest possible record count: the real one is never longer.
    let fixed = response_head(dialect, u64::MAX).len() + response_tail(dialect).len();
    let mut body = String::with_capacity(target_bytes.saturating_add(8 * 1024));
    let mut blocks = 0u64;
    let mut block = String::new();
    loop {
        block.clear();
        content_block(dialect, blocks, &mut block);
        if blocks > 0 && fixed + body.len() + block.len() > target_bytes {
            break;
        }
        body.push_str(&block);
        blocks += 1;
    }
    assemble(dialect, blocks, &body)
}

/// A Poll Response of `dialect` with exactly `blocks` content blocks (0 is allowed).
pub fn poll_response_blocks(dialect: Dialect, blocks: usize) -> Vec<u8> {
    let mut body = String::new();
    for i in 0..blocks as u64 {
        content_block(dialect, i, &mut body);
    }
    assemble(dialect, blocks as u64, &body)
}

/// A Poll Request of `dialect`, about 1 KB.
pub fn poll_request(dialect: Dialect) -> Vec<u8> {
    let message_id = fixed_message_id(dialect, REQUEST_SEED);
    let begin = timestamp(0);
    let end = timestamp(86_400);
    let text = match dialect {
        Dialect::V11 => format!(
            r#"<?xml version="1.0" encoding="UTF-8"?>
<taxii_11:Poll_Request xmlns:taxii_11="{ns}" xmlns:tdq="http://taxii.mitre.org/query/taxii_default_query-1" message_id="{message_id}" collection_name="{FEED}">
  <taxii_11:Exclusive_Begin_Timestamp>{begin}</taxii_11:Exclusive_Begin_Timestamp>
  <taxii_11:Poll_Parameters allow_asynch="false">
    <taxii_11:Response_Type>FULL</taxii_11:Response_Type>
    <taxii_11:Content_Binding binding_id="{STIX_111_BINDING}"/>
    <taxii_11:Query format_id="urn:taxii.mitre.org:query:default:1.0">
      <tdq:Default_Query targeting_expression_id="{STIX_111_BINDING}">
        <tdq:Criteria operator="OR">
          <tdq:Criterion negate="false">
            <tdq:Target>STIX_Package/STIX_Header/Description</tdq:Target>
            <tdq:Test capability_id="urn:taxii.mitre.org:query:capability:regex-1" relationship="matches">
              <tdq:Parameter name="value">^(Invoice|R&amp;D).*</tdq:Parameter>
            </tdq:Test>
          </tdq:Criterion>
        </tdq:Criteria>
      </tdq:Default_Query>
    </taxii_11:Query>
  </taxii_11:Poll_Parameters>
</taxii_11:Poll_Request>
"#,
            ns = dialect.namespace(),
        ),
        Dialect::V10 => format!(
            r#"<?xml version="1.0" encoding="UTF-8"?>
<taxii:Poll_Request xmlns:taxii="{ns}" message_id="{message_id}" feed_name="{FEED}">
  <taxii:Extended_Headers>
    <taxii:Extended_Header name="http://demo.example.com/taxii/hdr/client-build">cabby-0.1.23 (demo)</taxii:Extended_Header>
    <taxii:Extended_Header name="urn:demo.example.com:hdr:requester">soc-tier2@partner.example</taxii:Extended_Header>
    <taxii:Extended_Header name="urn:demo.example.com:hdr:tlp"><tlp xmlns="urn:demo.example.com:tlp" max="AMBER">GREEN</tlp></taxii:Extended_Header>
  </taxii:Extended_Headers>
  <taxii:Exclusive_Begin_Timestamp>{begin}</taxii:Exclusive_Begin_Timestamp>
  <taxii:Inclusive_End_Timestamp>{end}</taxii:Inclusive_End_Timestamp>
  <taxii:Content_Binding>{STIX_111_BINDING}</taxii:Content_Binding>
  <taxii:Content_Binding>urn:stix.mitre.org:xml:1.1</taxii:Content_Binding>
  <taxii:Content_Binding>urn:stix.mitre.org:xml:1.0.1</taxii:Content_Binding>
  <taxii:Content_Binding>urn:stix.mitre.org:xml:1.0</taxii:Content_Binding>
</taxii:Poll_Request>
"#,
            ns = dialect.namespace(),
        ),
        Dialect::Draft1 => format!(
            r#"<?xml version="1.0" encoding="UTF-8"?>
<TAXII_PollRequest xmlns="{ns}"
    xmlns:demo="http://demo.example.com/taxii/ext-hdr"
    message-id="{message_id}">
  <extended-headers>
    <demo:client-build>taxii-gateway-demo 0.1</demo:client-build>
    <demo:requester role="analyst">soc-tier2@partner.example</demo:requester>
    <demo:tlp max="AMBER">GREEN</demo:tlp>
    <demo:note>Nightly pull for the R&amp;D sensor grid &#x2014; retry after 300 s on &quot;pending&quot;.</demo:note>
    <demo:trace-id>{trace}</demo:trace-id>
  </extended-headers>
  <feed-name>{FEED}</feed-name>
  <begin-timestamp>{begin}</begin-timestamp>
  <end-timestamp>{end}</end-timestamp>
  <content-binding>{STIX_111_BINDING}</content-binding>
</TAXII_PollRequest>
"#,
            ns = dialect.namespace(),
            trace = Rng::new(REQUEST_SEED).uuid(),
        ),
    };
    text.into_bytes()
}

/// One STIX 1.1.1 package of about 5.6 KB, the `index`th of every generated response. Its first
/// line is not indented; the following lines are indented by `indent` plus their own depth.
pub fn stix_package(index: u64, indent: &str) -> String {
    let mut out = String::with_capacity(6 * 1024);
    write_package(index, indent, &mut out);
    out
}

const REQUEST_SEED: u64 = 0x5eed_0001;
const RESPONSE_SEED: u64 = 0x5eed_0002;

/// A message id in the dialect's syntax, as the gateway's writer makes them, from a fixed seed.
fn fixed_message_id(dialect: Dialect, seed: u64) -> String {
    let mut rng = Rng::new(seed);
    let bits = (u128::from(rng.next()) << 64) | u128::from(rng.next());
    // 1.0 ids are the low 64 bits in decimal: keep them to nine digits, like a counter.
    let bits = if dialect == Dialect::V10 {
        bits % 1_000_000_000
    } else {
        bits
    };
    writer::message_id(dialect, bits)
}

fn assemble(dialect: Dialect, blocks: u64, body: &str) -> Vec<u8> {
    let head = response_head(dialect, blocks);
    let tail = response_tail(dialect);
    let mut out = Vec::with_capacity(head.len() + body.len() + tail.len());
    out.extend_from_slice(head.as_bytes());
    out.extend_from_slice(body.as_bytes());
    out.extend_from_slice(tail.as_bytes());
    out
}

fn response_head(dialect: Dialect, blocks: u64) -> String {
    let message_id = fixed_message_id(dialect, RESPONSE_SEED);
    let request_id = fixed_message_id(dialect, REQUEST_SEED);
    let begin = timestamp(0);
    let end = timestamp(86_400);
    let ns = dialect.namespace();
    match dialect {
        Dialect::V11 => format!(
            r#"<?xml version="1.0" encoding="UTF-8"?>
<taxii_11:Poll_Response xmlns:taxii_11="{ns}" message_id="{message_id}" in_response_to="{request_id}" collection_name="{FEED}" more="false" result_part_number="1">
  <taxii_11:Exclusive_Begin_Timestamp>{begin}</taxii_11:Exclusive_Begin_Timestamp>
  <taxii_11:Inclusive_End_Timestamp>{end}</taxii_11:Inclusive_End_Timestamp>
  <taxii_11:Record_Count partial_count="false">{blocks}</taxii_11:Record_Count>
  <taxii_11:Message>{blocks} STIX packages from the demo feed.</taxii_11:Message>
"#
        ),
        Dialect::V10 => format!(
            r#"<?xml version="1.0" encoding="UTF-8"?>
<taxii:Poll_Response xmlns:taxii="{ns}" message_id="{message_id}" in_response_to="{request_id}" feed_name="{FEED}">
  <taxii:Message>{blocks} STIX packages from the demo feed.</taxii:Message>
  <taxii:Inclusive_Begin_Timestamp>{begin}</taxii:Inclusive_Begin_Timestamp>
  <taxii:Inclusive_End_Timestamp>{end}</taxii:Inclusive_End_Timestamp>
"#
        ),
        Dialect::Draft1 => format!(
            r#"<?xml version="1.0" encoding="UTF-8"?>
<TAXII_PollResponse xmlns="{ns}" message-id="{message_id}" in-response-to="{request_id}">
  <begin-timestamp>{begin}</begin-timestamp>
  <end-timestamp>{end}</end-timestamp>
  <message>{blocks} STIX packages from the demo feed.</message>
  <content-binding>{STIX_111_BINDING}</content-binding>
"#
        ),
    }
}

fn response_tail(dialect: Dialect) -> &'static str {
    match dialect {
        Dialect::V11 => "</taxii_11:Poll_Response>\n",
        Dialect::V10 => "</taxii:Poll_Response>\n",
        Dialect::Draft1 => "</TAXII_PollResponse>\n",
    }
}

/// Appends the `index`th content block (Draft 1: the bare STIX document) to `out`.
fn content_block(dialect: Dialect, index: u64, out: &mut String) {
    // Each block is labelled one minute after the previous one, from the begin timestamp on.
    let label = timestamp(60 + (index % 1400) * 60);
    match dialect {
        Dialect::V11 => {
            let _ = write!(
                out,
                "  <taxii_11:Content_Block>\n    <taxii_11:Content_Binding binding_id=\"{STIX_111_BINDING}\"/>\n    <taxii_11:Content>\n"
            );
            write_package(index, "", out);
            let _ = write!(
                out,
                "\n    </taxii_11:Content>\n    <taxii_11:Timestamp_Label>{label}</taxii_11:Timestamp_Label>\n  </taxii_11:Content_Block>\n"
            );
        }
        Dialect::V10 => {
            let _ = write!(
                out,
                "  <taxii:Content_Block>\n    <taxii:Content_Binding>{STIX_111_BINDING}</taxii:Content_Binding>\n    <taxii:Content>\n"
            );
            write_package(index, "", out);
            let _ = write!(
                out,
                "\n    </taxii:Content>\n    <taxii:Timestamp_Label>{label}</taxii:Timestamp_Label>\n  </taxii:Content_Block>\n"
            );
        }
        Dialect::Draft1 => {
            write_package(index, "", out);
            out.push('\n');
        }
    }
}

const MALWARE: &[&str] = &[
    "PlugX",
    "Poison Ivy",
    "DarkComet",
    "Zeus \"GameOver\"",
    "njRAT",
    "Emotet",
    "Dridex",
    "Cobalt Strike <beacon>",
];

const CAMPAIGN_THEMES: &[&str] = &[
    "invoice",
    "shipping notice",
    "payroll update",
    "R&D conference",
    "VPN password reset",
    "tax refund",
];

const TLDS: &[&str] = &[
    "example",
    "example.com",
    "example.net",
    "example.org",
    "test",
];

/// Writes the `index`th STIX 1.1.1 package. Text taken from the tables above goes through
/// [`escape`], so `&`, `<` and `"` come out escaped as a STIX producer would write them.
fn write_package(index: u64, indent: &str, out: &mut String) {
    let mut rng = Rng::new(0x5713_0000 ^ index.wrapping_mul(0x9E37_79B9_7F4A_7C15));
    let produced = timestamp(index % 1440 * 60);
    let package_id = rng.uuid();
    let malware = MALWARE[rng.below(MALWARE.len())];
    let theme = CAMPAIGN_THEMES[rng.below(CAMPAIGN_THEMES.len())];
    let ip = format!(
        "{}.{}.{}.{}",
        [198, 203, 192][rng.below(3)],
        rng.below(256),
        rng.below(256),
        1 + rng.below(254)
    );
    let host_len = 6 + rng.below(6);
    let domain = format!(
        "{}{}.{}",
        ["cdn-", "update-", "mail.", "login-", "secure-"][rng.below(5)],
        rng.word(host_len),
        TLDS[rng.below(TLDS.len())]
    );
    let url = format!(
        "http://{domain}/{}/gate.php?id={}&v=2&lang=en",
        rng.word(5),
        rng.below(100_000)
    );
    let sha256 = rng.hex(64);
    let file_name = format!("{}_{}.doc.exe", theme.replace(' ', "_"), rng.below(10_000));
    let ttp_id = rng.uuid();
    let ids: Vec<String> = (0..9).map(|_| rng.uuid()).collect();
    let confidence = ["High", "Medium", "Low"][rng.below(3)];
    let tlp = ["GREEN", "AMBER", "WHITE"][rng.below(3)];
    let malware_e = escape(malware);
    let theme_e = escape(theme);
    let url_e = escape(&url);
    let file_e = escape(&file_name);

    let lines: [String; 5] = [
        format!(
            r#"<stix:STIX_Package
    xmlns:stix="http://stix.mitre.org/stix-1"
    xmlns:stixCommon="http://stix.mitre.org/common-1"
    xmlns:stixVocabs="http://stix.mitre.org/default_vocabularies-1"
    xmlns:indicator="http://stix.mitre.org/Indicator-2"
    xmlns:ttp="http://stix.mitre.org/TTP-1"
    xmlns:cybox="http://cybox.mitre.org/cybox-2"
    xmlns:cyboxCommon="http://cybox.mitre.org/common-2"
    xmlns:cyboxVocabs="http://cybox.mitre.org/default_vocabularies-2"
    xmlns:AddressObj="http://cybox.mitre.org/objects#AddressObject-2"
    xmlns:URIObj="http://cybox.mitre.org/objects#URIObject-2"
    xmlns:FileObj="http://cybox.mitre.org/objects#FileObject-2"
    xmlns:marking="http://data-marking.mitre.org/Marking-1"
    xmlns:tlpMarking="http://data-marking.mitre.org/extensions/MarkingStructure#TLP-1"
    xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"
    xmlns:demo="http://demo.example.com"
    id="demo:Package-{package_id}" version="1.1.1" timestamp="{produced}">
  <stix:STIX_Header>
    <stix:Title>{malware_e} activity: {theme_e} lures from {ip}</stix:Title>
    <stix:Package_Intent xsi:type="stixVocabs:PackageIntentVocab-1.0">Indicators - Network Activity</stix:Package_Intent>
    <stix:Description>Spear-phishing wave #{index} with &quot;{theme_e}&quot; lures. The dropper calls {domain} over HTTP &amp; HTTPS once (tick &lt; 50 ms) &#x2014; block it.</stix:Description>
    <stix:Handling>
      <marking:Marking>
        <marking:Controlled_Structure>//node() | //@*</marking:Controlled_Structure>
        <marking:Marking_Structure xsi:type="tlpMarking:TLPMarkingStructureType" color="{tlp}"/>
      </marking:Marking>
    </stix:Handling>
    <stix:Information_Source>
      <stixCommon:Identity>
        <stixCommon:Name>Demo CERT &amp; Partners</stixCommon:Name>
      </stixCommon:Identity>
    </stix:Information_Source>
  </stix:STIX_Header>
  <stix:Indicators>"#,
        ),
        format!(
            r#"
    <stix:Indicator xsi:type="indicator:IndicatorType" id="demo:indicator-{i0}" timestamp="{produced}">
      <indicator:Title>C2 server {ip}</indicator:Title>
      <indicator:Type xsi:type="stixVocabs:IndicatorTypeVocab-1.1">IP Watchlist</indicator:Type>
      <indicator:Observable id="demo:Observable-{i1}">
        <cybox:Object id="demo:Address-{i2}">
          <cybox:Properties xsi:type="AddressObj:AddressObjectType" category="ipv4-addr">
            <AddressObj:Address_Value condition="Equals">{ip}</AddressObj:Address_Value>
          </cybox:Properties>
        </cybox:Object>
      </indicator:Observable>
      <indicator:Confidence timestamp="{produced}">
        <stixCommon:Value xsi:type="stixVocabs:HighMediumLowVocab-1.0">{confidence}</stixCommon:Value>
      </indicator:Confidence>
    </stix:Indicator>"#,
            i0 = ids[0],
            i1 = ids[1],
            i2 = ids[2],
        ),
        format!(
            r#"
    <stix:Indicator xsi:type="indicator:IndicatorType" id="demo:indicator-{i3}" timestamp="{produced}">
      <indicator:Title>Payload URL on {domain}</indicator:Title>
      <indicator:Type xsi:type="stixVocabs:IndicatorTypeVocab-1.1">URL Watchlist</indicator:Type>
      <indicator:Observable id="demo:Observable-{i4}">
        <cybox:Object id="demo:URI-{i5}">
          <cybox:Properties xsi:type="URIObj:URIObjectType" type="URL">
            <URIObj:Value condition="Equals">{url_e}</URIObj:Value>
          </cybox:Properties>
        </cybox:Object>
      </indicator:Observable>
    </stix:Indicator>"#,
            i3 = ids[3],
            i4 = ids[4],
            i5 = ids[5],
        ),
        format!(
            r#"
    <stix:Indicator xsi:type="indicator:IndicatorType" id="demo:indicator-{i6}" timestamp="{produced}">
      <indicator:Title>Dropper {file_e}</indicator:Title>
      <indicator:Type xsi:type="stixVocabs:IndicatorTypeVocab-1.1">File Hash Watchlist</indicator:Type>
      <indicator:Observable id="demo:Observable-{i7}">
        <cybox:Object id="demo:File-{i8}">
          <cybox:Properties xsi:type="FileObj:FileObjectType">
            <FileObj:File_Name condition="Equals">{file_e}</FileObj:File_Name>
            <FileObj:Hashes>
              <cyboxCommon:Hash>
                <cyboxCommon:Type xsi:type="cyboxVocabs:HashNameVocab-1.0" condition="Equals">SHA256</cyboxCommon:Type>
                <cyboxCommon:Simple_Hash_Value condition="Equals">{sha256}</cyboxCommon:Simple_Hash_Value>
              </cyboxCommon:Hash>
            </FileObj:Hashes>
          </cybox:Properties>
        </cybox:Object>
      </indicator:Observable>
    </stix:Indicator>
  </stix:Indicators>"#,
            i6 = ids[6],
            i7 = ids[7],
            i8 = ids[8],
        ),
        format!(
            r#"
  <stix:TTPs>
    <stix:TTP xsi:type="ttp:TTPType" id="demo:ttp-{ttp_id}" timestamp="{produced}">
      <ttp:Title>{malware_e} remote access</ttp:Title>
      <ttp:Behavior>
        <ttp:Malware>
          <ttp:Malware_Instance>
            <ttp:Name>{malware_e}</ttp:Name>
          </ttp:Malware_Instance>
        </ttp:Malware>
      </ttp:Behavior>
      <ttp:Kill_Chain_Phases>
        <stixCommon:Kill_Chain_Phase phase_id="stix:TTP-d6dc32b9-2538-4951-8733-3cb9ef1daae2" name="Command and Control" ordinality="6" kill_chain_id="stix:TTP-af3e707f-2fb9-49e5-8c37-14026ca0a5ff" kill_chain_name="LM Cyber Kill Chain"/>
      </ttp:Kill_Chain_Phases>
    </stix:TTP>
  </stix:TTPs>
</stix:STIX_Package>"#,
        ),
    ];
    for part in &lines {
        let mut first = true;
        for line in part.split('\n') {
            if !first {
                out.push('\n');
                if !line.is_empty() {
                    out.push_str(indent);
                }
            }
            first = false;
            out.push_str(line);
        }
    }
}

/// XML-escapes text for an element body or a double-quoted attribute.
fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            _ => out.push(c),
        }
    }
    out
}

/// `2014-05-08T00:00:00Z` plus `seconds` (less than 30 days), RFC 3339.
fn timestamp(seconds: u64) -> String {
    let day = 8 + seconds / 86_400;
    let s = seconds % 86_400;
    format!(
        "2014-05-{day:02}T{:02}:{:02}:{:02}Z",
        s / 3600,
        s / 60 % 60,
        s % 60
    )
}

/// SplitMix64: small, fast, and the same on every platform.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Self {
        Rng(seed)
    }

    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `0..n` (`n` > 0; the tiny modulo bias does not matter here).
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn hex(&mut self, len: usize) -> String {
        const DIGITS: &[u8; 16] = b"0123456789abcdef";
        (0..len).map(|_| DIGITS[self.below(16)] as char).collect()
    }

    fn word(&mut self, len: usize) -> String {
        (0..len)
            .map(|_| (b'a' + self.below(26) as u8) as char)
            .collect()
    }

    /// A version 4 UUID, lower case.
    fn uuid(&mut self) -> String {
        let a = self.next();
        let b = self.next();
        format!(
            "{:08x}-{:04x}-4{:03x}-{:x}{:03x}-{:012x}",
            a >> 32,
            (a >> 16) & 0xffff,
            a & 0xfff,
            8 + (b >> 62),
            (b >> 48) & 0xfff,
            b & 0xffff_ffff_ffff
        )
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use crate::taxii::{scan_body, MessageKind, ScanLimits};

    fn count(haystack: &[u8], needle: &[u8]) -> usize {
        haystack
            .windows(needle.len())
            .filter(|w| w == &needle)
            .count()
    }

    #[test]
    fn poll_responses_scan_with_the_expected_block_count() {
        for dialect in Dialect::ALL {
            for blocks in [0, 1, 7] {
                let msg = poll_response_blocks(dialect, blocks);
                let env = scan_body(&msg, &ScanLimits::default())
                    .unwrap_or_else(|r| panic!("{dialect} {blocks}: {r:?}"));
                assert_eq!(env.dialect, dialect);
                assert_eq!(env.kind, MessageKind::PollResponse);
                assert_eq!(env.content_blocks, blocks, "{dialect}");
                assert_eq!(env.feeds.len(), usize::from(dialect != Dialect::Draft1));
                assert_eq!(
                    env.content_bindings.len(),
                    usize::from(blocks > 0 || dialect == Dialect::Draft1)
                );
            }
        }
    }

    #[test]
    fn poll_response_fills_the_target_size() {
        for dialect in Dialect::ALL {
            let target = 1_000_000;
            let msg = poll_response(dialect, target);
            assert!(msg.len() <= target, "{dialect}: {}", msg.len());
            assert!(msg.len() > target - 8 * 1024, "{dialect}: {}", msg.len());
            let env = scan_body(&msg, &ScanLimits::default())
                .unwrap_or_else(|r| panic!("{dialect}: {r:?}"));
            let packages = count(&msg, b"<stix:STIX_Package");
            assert!(packages > 150, "{dialect}: {packages}");
            assert_eq!(env.content_blocks, packages, "{dialect}");
            assert_eq!(env.content_block_spans.len(), packages);
        }
        // A target smaller than one block still gives one block.
        let env = scan_body(&poll_response(Dialect::V11, 10), &ScanLimits::default());
        assert_eq!(env.map(|e| e.content_blocks), Ok(1));
    }

    #[test]
    fn packages_are_realistic_and_deterministic() {
        let sizes: Vec<usize> = (0..50).map(|i| stix_package(i, "").len()).collect();
        for &size in &sizes {
            assert!((4_500..6_000).contains(&size), "{size}");
        }
        assert_eq!(stix_package(3, "  "), stix_package(3, "  "));
        assert_ne!(stix_package(3, ""), stix_package(4, ""));
        assert_eq!(
            poll_response(Dialect::V11, 50_000),
            poll_response(Dialect::V11, 50_000)
        );
        let p = stix_package(0, "");
        for needle in [
            "xsi:type=\"",
            "&amp;",
            "&lt;",
            "&quot;",
            "&#x2014;",
            "version=\"1.1.1\"",
        ] {
            assert!(p.contains(needle), "{needle}");
        }
    }

    #[test]
    fn poll_requests_are_about_1_kb_and_scan() {
        for dialect in Dialect::ALL {
            let msg = poll_request(dialect);
            assert!(
                (800..1_300).contains(&msg.len()),
                "{dialect}: {}",
                msg.len()
            );
            let env = scan_body(&msg, &ScanLimits::default())
                .unwrap_or_else(|r| panic!("{dialect}: {r:?}"));
            assert_eq!(env.dialect, dialect);
            assert_eq!(env.kind, MessageKind::PollRequest);
            assert_eq!(env.feeds.first().map(|f| f.value.as_str()), Some(FEED));
        }
    }
}
