//! The validated policy snapshot: partners, their credentials and their grants, with feed globs
//! and address rules compiled once at load.

use std::collections::HashMap;
use std::fmt;
use std::path::Path;
use std::sync::{Arc, Mutex, OnceLock};

use argon2::password_hash::rand_core::{OsRng, RngCore};
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use sha2::{Digest, Sha256};

use super::{Action, ActionSet};
use crate::taxii::values;

/// Where a partner or a grant was written: the policy file and the 1-based line of its header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    pub file: Arc<Path>,
    pub line: usize,
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.file.display(), self.line)
    }
}

/// A feed name pattern of a grant: an exact name, or a glob where `*` matches any run of
/// characters (also none) and `?` exactly one character. No other character is special and
/// there is no escape: a feed name holding `*` or `?` is matched by itself too.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FeedPattern {
    source: String,
    kind: PatternKind,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum PatternKind {
    /// `*`
    Any,
    /// No wildcard.
    Exact,
    /// `abc*`: only a trailing star.
    Prefix(String),
    Glob(Vec<GlobToken>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum GlobToken {
    Star,
    One,
    Char(char),
}

impl FeedPattern {
    /// Compiles a pattern (the caller has checked it is not empty).
    pub fn new(source: &str) -> FeedPattern {
        let stars = source.matches('*').count();
        let kind = if source == "*" {
            PatternKind::Any
        } else if !source.contains(['*', '?']) {
            PatternKind::Exact
        } else if stars == 1 && source.ends_with('*') && !source.contains('?') {
            PatternKind::Prefix(source[..source.len() - 1].to_string())
        } else {
            let mut tokens: Vec<GlobToken> = Vec::with_capacity(source.len());
            for c in source.chars() {
                let t = match c {
                    '*' => GlobToken::Star,
                    '?' => GlobToken::One,
                    c => GlobToken::Char(c),
                };
                // `**` is `*`.
                if !(t == GlobToken::Star && tokens.last() == Some(&GlobToken::Star)) {
                    tokens.push(t);
                }
            }
            PatternKind::Glob(tokens)
        };
        FeedPattern {
            source: source.to_string(),
            kind,
        }
    }

    /// The pattern as written.
    pub fn as_str(&self) -> &str {
        &self.source
    }

    /// True for `*`, the only pattern that allows a push whose route names no inbox feed.
    pub fn is_any(&self) -> bool {
        self.kind == PatternKind::Any
    }

    /// Whether the name matches, compared exactly (no case folding, no trimming).
    pub fn matches(&self, name: &str) -> bool {
        match &self.kind {
            PatternKind::Any => true,
            PatternKind::Exact => self.source == name,
            PatternKind::Prefix(p) => name.starts_with(p.as_str()),
            PatternKind::Glob(tokens) => glob_matches(tokens, name),
        }
    }
}

/// Wildcard matching with one backtrack point (the last `*`): linear in practice, at worst
/// pattern length × name length.
fn glob_matches(tokens: &[GlobToken], name: &str) -> bool {
    let (mut t, mut i) = (0usize, 0usize);
    let mut star: Option<(usize, usize)> = None;
    while i < name.len() {
        let c = name[i..].chars().next().unwrap_or('\0');
        match tokens.get(t) {
            Some(GlobToken::Star) => {
                star = Some((t, i));
                t += 1;
                continue;
            }
            Some(GlobToken::One) => {
                t += 1;
                i += c.len_utf8();
                continue;
            }
            Some(GlobToken::Char(p)) if *p == c => {
                t += 1;
                i += c.len_utf8();
                continue;
            }
            _ => {}
        }
        match star {
            Some((st, si)) => {
                let skipped = name[si..].chars().next().map_or(1, char::len_utf8);
                star = Some((st, si + skipped));
                t = st + 1;
                i = si + skipped;
            }
            None => return false,
        }
    }
    tokens[t.min(tokens.len())..]
        .iter()
        .all(|t| *t == GlobToken::Star)
}

/// An allowed delivery address of a grant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AddressRule {
    /// The address, exactly.
    Exact(String),
    /// Any address that starts with this (for a URL, the prefix names the whole authority and a
    /// `/`: checked at load, so that `http://127.0.0.1:9999` cannot admit
    /// `http://127.0.0.1:99990/` or `http://127.0.0.1:9999.example/`).
    Prefix(String),
    /// Any address: only [`Policy::permissive`] has it; a policy file cannot say it.
    Any,
}

impl AddressRule {
    /// Whether an address (whitespace-collapsed, as URIs are) is allowed. An address holding
    /// white space or a control character inside is never allowed: an upstream might cut it
    /// there or read it otherwise.
    pub fn allows(&self, address: &str) -> bool {
        let a = values::collapse(address);
        if a.is_empty() || a.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return false;
        }
        match self {
            AddressRule::Exact(e) => a == e,
            AddressRule::Prefix(p) => a.starts_with(p.as_str()),
            AddressRule::Any => true,
        }
    }
}

impl fmt::Display for AddressRule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AddressRule::Exact(e) => write!(f, "{e}"),
            AddressRule::Prefix(p) => write!(f, "{p}…"),
            AddressRule::Any => write!(f, "any address"),
        }
    }
}

/// One grant: actions on feeds, and what it narrows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    /// Feed patterns; empty only for a grant that holds `discover` alone.
    pub feeds: Vec<FeedPattern>,
    pub actions: ActionSet,
    /// Allowed content bindings (exact binding ids) of pushes, polls and subscriptions; empty:
    /// any.
    pub content_bindings: Vec<String>,
    /// Allowed delivery addresses of subscriptions and asynchronous polls; empty: none.
    pub delivery_addresses: Vec<AddressRule>,
    /// The oldest begin timestamp a poll request may ask for, in seconds before now; `None`:
    /// no limit.
    pub max_poll_window_seconds: Option<u64>,
    /// A poll asking further back than `max_poll_window_seconds` is served from the oldest
    /// instant allowed instead of refused (`poll_window = "clamp"`).
    pub clamp_poll_window: bool,
    /// Extended header rules for the messages this grant allows (added to the route's).
    pub headers: HeaderRules,
    /// The `Message` of the pushes this grant allows (in place of the route's).
    pub push_message: Option<String>,
    pub origin: Origin,
}

/// Extended header rules (per route in the configuration, per grant in policy files).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HeaderRules {
    /// Names of TAXII extended headers to remove on the way to the upstream; `"*"`: all.
    pub strip: Vec<String>,
    /// An extended header carrying the partner id, added toward the upstream (1.0/1.1
    /// `Extended_Header name="…"`, Draft 1 an element or GET parameter of that name).
    pub partner_header: Option<String>,
}

impl HeaderRules {
    pub fn is_empty(&self) -> bool {
        self.strip.is_empty() && self.partner_header.is_none()
    }

    /// These rules and `other`'s together: every strip of both; `other`'s partner header
    /// where it names one.
    pub fn with(&self, other: &HeaderRules) -> HeaderRules {
        let mut strip = self.strip.clone();
        for s in &other.strip {
            if !strip.contains(s) {
                strip.push(s.clone());
            }
        }
        HeaderRules {
            strip,
            partner_header: other
                .partner_header
                .clone()
                .or_else(|| self.partner_header.clone()),
        }
    }

    pub fn strips_all(&self) -> bool {
        self.strip.iter().any(|s| s == "*")
    }
}

impl Grant {
    /// Whether a feed name, as sent, is one of this grant's feeds. A name that XML white space
    /// surrounds must match in both forms (as sent and collapsed): 1.x feed names are
    /// xs:anyURI, which a validating upstream collapses, and a pattern like `?feed-b` must not
    /// admit ` feed-b` that the upstream then reads as `feed-b`.
    pub fn covers(&self, name: &str) -> bool {
        let collapsed = values::collapse(name);
        self.feeds
            .iter()
            .any(|p| p.matches(name) && (collapsed == name || p.matches(collapsed)))
    }
}

/// A partner's rate limit (parsed and validated here; enforced by the rate limiter).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rate {
    /// Requests per second, sustained.
    pub per_second: f64,
    /// Requests allowed at once above the sustained rate (the bucket size).
    pub burst: u32,
}

/// How a client certificate identifies a partner.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CertificateMatch {
    /// The SHA-256 fingerprint of the DER certificate.
    Sha256([u8; 32]),
    /// The subject DN, normalised by [`normalize_subject`].
    Subject(String),
}

impl fmt::Display for CertificateMatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CertificateMatch::Sha256(d) => write!(f, "sha256 {}", hex(d)),
            CertificateMatch::Subject(s) => write!(f, "subject {s}"),
        }
    }
}

/// One partner: an identity, its credentials (held by the [`Policy`], which looks partners up
/// by them), its rate and its grants.
#[derive(Debug, Clone)]
pub struct Partner {
    /// The partner's id (`anonymous` for the anonymous partner): what audit records name and
    /// what the identity header toward the upstream carries.
    pub id: String,
    /// Answer a feed or service the partner may not use as "not found" rather than
    /// "unauthorized" (DESIGN.md, "Errors, per dialect").
    pub conceal: bool,
    pub rate: Option<Rate>,
    pub grants: Vec<Grant>,
    pub origin: Origin,
    /// The Basic user name, if the partner has one.
    pub basic_user: Option<String>,
    /// How many bearer tokens the partner has.
    pub tokens: usize,
    pub certificate: Option<CertificateMatch>,
    /// Every message of this partner is written to the capture directory (`capture = true`).
    pub capture: bool,
    pub(super) index: usize,
    pub(super) actions: ActionSet,
}

impl Partner {
    /// True for the anonymous partner.
    pub fn is_anonymous(&self) -> bool {
        self.index == ANONYMOUS
    }

    /// Every action any of its grants holds.
    pub fn actions(&self) -> ActionSet {
        self.actions
    }
}

/// The index of the anonymous partner in a [`GrantRef`].
pub(super) const ANONYMOUS: usize = usize::MAX;

/// Which grant of which partner of a [`Policy`] a decision rests on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct GrantRef {
    pub(super) partner: usize,
    pub(super) grant: usize,
}

/// The partner policy: every partner of every policy file, validated and merged, immutable.
/// Lookups by credential are O(1) (a Basic password costs one argon2id verification).
pub struct Policy {
    pub(super) partners: Vec<Partner>,
    pub(super) anonymous: Option<Partner>,
    /// User → (partner index, PHC string).
    pub(super) by_user: HashMap<String, (usize, String)>,
    pub(super) by_token: HashMap<[u8; 32], usize>,
    pub(super) by_fingerprint: HashMap<[u8; 32], usize>,
    pub(super) by_subject: HashMap<String, usize>,
    /// The files it was loaded from.
    pub(super) sources: Vec<Arc<Path>>,
    /// Basic credentials verified once, by a keyed SHA-256 of user and password, so that a
    /// partner's every request does not cost an argon2id verification. Lives and dies with the
    /// snapshot (a reload starts empty); failures are never cached.
    verified: Mutex<HashMap<[u8; 32], usize>>,
    cache_key: [u8; 32],
}

/// The largest number of Basic credentials remembered as verified; past it the cache starts
/// over (it only saves work).
const VERIFIED_CACHE_ENTRIES: usize = 4096;

impl fmt::Debug for Policy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // No hashes in logs.
        f.debug_struct("Policy")
            .field("partners", &self.partners)
            .field("anonymous", &self.anonymous)
            .field("sources", &self.sources)
            .finish_non_exhaustive()
    }
}

impl Policy {
    pub(super) fn empty() -> Policy {
        let mut cache_key = [0u8; 32];
        OsRng.fill_bytes(&mut cache_key);
        Policy {
            partners: Vec::new(),
            anonymous: None,
            by_user: HashMap::new(),
            by_token: HashMap::new(),
            by_fingerprint: HashMap::new(),
            by_subject: HashMap::new(),
            sources: Vec::new(),
            verified: Mutex::new(HashMap::new()),
            cache_key,
        }
    }

    /// A policy whose anonymous partner may do everything a request can ask, on every feed,
    /// with any delivery address: what the gateway did before partners existed. For tests and
    /// for the proxy until it authenticates partners; never for production.
    pub fn permissive() -> &'static Policy {
        static PERMISSIVE: OnceLock<Policy> = OnceLock::new();
        PERMISSIVE.get_or_init(|| {
            let mut p = Policy::empty();
            p.anonymous = Some(Partner {
                id: "anonymous".into(),
                conceal: false,
                rate: None,
                grants: vec![Grant {
                    feeds: vec![FeedPattern::new("*")],
                    actions: ActionSet::ALL,
                    content_bindings: Vec::new(),
                    delivery_addresses: vec![AddressRule::Any],
                    max_poll_window_seconds: None,
                    clamp_poll_window: false,
                    headers: HeaderRules::default(),
                    push_message: None,
                    origin: Origin {
                        file: Arc::from(Path::new("(permissive)")),
                        line: 0,
                    },
                }],
                origin: Origin {
                    file: Arc::from(Path::new("(permissive)")),
                    line: 0,
                },
                basic_user: None,
                tokens: 0,
                certificate: None,
                capture: false,
                index: ANONYMOUS,
                actions: ActionSet::ALL,
            });
            p
        })
    }

    /// The partners with credentials, in file order.
    pub fn partners(&self) -> &[Partner] {
        &self.partners
    }

    /// The partner with that id (`anonymous` names the anonymous partner).
    pub fn partner(&self, id: &str) -> Option<&Partner> {
        self.partners
            .iter()
            .chain(self.anonymous.as_ref())
            .find(|p| p.id == id)
    }

    /// The anonymous partner, for requests without credentials, if the policy has one.
    pub fn anonymous(&self) -> Option<&Partner> {
        self.anonymous.as_ref()
    }

    /// The files the policy was loaded from.
    pub fn sources(&self) -> &[Arc<Path>] {
        &self.sources
    }

    /// The grant a decision names.
    pub fn grant(&self, r: GrantRef) -> Option<&Grant> {
        self.partner_at(r.partner)?.grants.get(r.grant)
    }

    /// The partner whose grant a decision names.
    pub fn partner_of(&self, r: GrantRef) -> Option<&Partner> {
        self.partner_at(r.partner)
    }

    pub(super) fn partner_at(&self, index: usize) -> Option<&Partner> {
        if index == ANONYMOUS {
            self.anonymous.as_ref()
        } else {
            self.partners.get(index)
        }
    }

    /// The partner whose HTTP Basic credentials these are. An unknown user costs the same
    /// argon2id verification as a known one, so that timing does not tell which users exist.
    pub fn partner_by_basic(&self, user: &str, password: &str) -> Option<&Partner> {
        let key = self.cache_digest(user, password);
        if let Ok(cache) = self.verified.lock() {
            if let Some(&i) = cache.get(&key) {
                return self.partners.get(i);
            }
        }
        let (index, phc) = match self.by_user.get(user) {
            Some((i, phc)) => (Some(*i), phc.as_str()),
            None => (None, dummy_hash()),
        };
        let ok = PasswordHash::new(phc)
            .map(|h| {
                Argon2::default()
                    .verify_password(password.as_bytes(), &h)
                    .is_ok()
            })
            .unwrap_or(false);
        let index = index.filter(|_| ok)?;
        if let Ok(mut cache) = self.verified.lock() {
            if cache.len() >= VERIFIED_CACHE_ENTRIES {
                cache.clear();
            }
            cache.insert(key, index);
        }
        self.partners.get(index)
    }

    /// The partner holding this bearer token (looked up by its SHA-256).
    pub fn partner_by_token(&self, token: &str) -> Option<&Partner> {
        let digest: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        self.by_token
            .get(&digest)
            .and_then(|&i| self.partners.get(i))
    }

    /// The partner a client certificate identifies: by the SHA-256 fingerprint of the DER
    /// certificate (64 hex digits, any case, `:` between bytes allowed), else by the subject DN
    /// in RFC 4514 form (most specific RDN first, as `openssl x509 -noout -subject -nameopt
    /// RFC2253` prints it; see [`normalize_subject`]). A fingerprint match wins over a subject
    /// match.
    pub fn partner_by_certificate(&self, sha256_hex: &str, subject_dn: &str) -> Option<&Partner> {
        if let Some(fp) = parse_fingerprint(sha256_hex) {
            if let Some(&i) = self.by_fingerprint.get(&fp) {
                return self.partners.get(i);
            }
        }
        let subject = normalize_subject(subject_dn)?;
        self.by_subject
            .get(&subject)
            .and_then(|&i| self.partners.get(i))
    }

    fn cache_digest(&self, user: &str, password: &str) -> [u8; 32] {
        let mut h = Sha256::new();
        h.update(self.cache_key);
        h.update((user.len() as u64).to_be_bytes());
        h.update(user.as_bytes());
        h.update(password.as_bytes());
        h.finalize().into()
    }

    /// Which action the partner holds grants for, and on which feeds, one line per grant.
    pub fn describe(&self, partner: &Partner) -> String {
        let mut s = String::new();
        for g in &partner.grants {
            let feeds: Vec<&str> = g.feeds.iter().map(FeedPattern::as_str).collect();
            s.push_str(&format!(
                "  {}: {} on [{}]",
                g.origin,
                g.actions,
                feeds.join(", ")
            ));
            if !g.content_bindings.is_empty() {
                s.push_str(&format!(
                    "; content bindings [{}]",
                    g.content_bindings.join(", ")
                ));
            }
            if !g.delivery_addresses.is_empty() {
                let a: Vec<String> = g.delivery_addresses.iter().map(|a| a.to_string()).collect();
                s.push_str(&format!("; delivery addresses [{}]", a.join(", ")));
            }
            if let Some(w) = g.max_poll_window_seconds {
                s.push_str(&format!("; poll window {w} s"));
            }
            s.push('\n');
        }
        s
    }

    /// A human summary, for `check`.
    pub fn summary(&self) -> String {
        let mut s = String::new();
        for p in self.partners.iter().chain(self.anonymous.as_ref()) {
            let mut creds = Vec::new();
            if let Some(u) = &p.basic_user {
                creds.push(format!("basic {u}"));
            }
            if p.tokens > 0 {
                creds.push(format!("{} token(s)", p.tokens));
            }
            if let Some(c) = &p.certificate {
                creds.push(format!("certificate {c}"));
            }
            s.push_str(&format!(
                "  partner {} ({}): {} grant(s){}\n",
                p.id,
                if creds.is_empty() {
                    "no credentials".to_string()
                } else {
                    creds.join(", ")
                },
                p.grants.len(),
                if p.conceal { ", concealing" } else { "" }
            ));
        }
        s
    }
}

/// An argon2id hash (PHC string, the argon2 crate's default parameters: 19 MiB, 2 passes, 1
/// lane, as OWASP recommends) of a secret with a random salt: what `taxii-gateway hash-secret`
/// prints for a policy file's `password_hash`.
pub fn hash_secret(secret: &str) -> Result<String, String> {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(secret.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| format!("cannot hash: {e}"))
}

/// The SHA-256 of a bearer token, as lowercase hex: what a policy file's `tokens` holds.
pub fn hash_token(token: &str) -> String {
    hex(&Sha256::digest(token.as_bytes()))
}

/// The hash an unknown Basic user is verified against (of a random secret, argon2 defaults).
fn dummy_hash() -> &'static str {
    static DUMMY: OnceLock<String> = OnceLock::new();
    DUMMY.get_or_init(|| {
        let mut secret = [0u8; 16];
        OsRng.fill_bytes(&mut secret);
        hash_secret(&hex(&secret)).unwrap_or_default()
    })
}

pub(super) fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(char::from(DIGITS[usize::from(b >> 4)]));
        s.push(char::from(DIGITS[usize::from(b & 15)]));
    }
    s
}

/// 64 hex digits (any case), optionally with `:` between bytes (`openssl x509 -fingerprint
/// -sha256` prints `AB:CD:…`), into 32 bytes.
pub(super) fn parse_fingerprint(s: &str) -> Option<[u8; 32]> {
    let s = s.trim();
    let digits: Vec<u8> = if s.contains(':') {
        let parts: Vec<&str> = s.split(':').collect();
        if parts.len() != 32 || parts.iter().any(|p| p.len() != 2) {
            return None;
        }
        parts.concat().into_bytes()
    } else {
        s.as_bytes().to_vec()
    };
    if digits.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, pair) in digits.chunks(2).enumerate() {
        let hi = (pair[0] as char).to_digit(16)?;
        let lo = (pair[1] as char).to_digit(16)?;
        out[i] = (hi * 16 + lo) as u8;
    }
    Some(out)
}

/// A subject DN in RFC 4514 form, normalised for comparison: attribute types upper-cased,
/// spaces around `,`, `+` and `=` dropped; values kept exactly (case included), escapes kept
/// as written. `None` when an RDN has no `type=value` form.
pub fn normalize_subject(dn: &str) -> Option<String> {
    let mut out = String::with_capacity(dn.len());
    let mut ava = String::new();
    let mut escaped = false;
    let flush = |ava: &str, out: &mut String| -> Option<()> {
        let (t, v) = ava.split_once('=')?;
        let t = t.trim();
        let mut v = v.trim_start_matches(' ');
        // Keep an escaped trailing space (`\ `).
        let trimmed = v.trim_end_matches(' ');
        if trimmed.ends_with('\\') && trimmed.len() < v.len() {
            v = &v[..trimmed.len() + 1];
        } else {
            v = trimmed;
        }
        if t.is_empty() || t.contains(char::is_whitespace) {
            return None;
        }
        out.push_str(&t.to_ascii_uppercase());
        out.push('=');
        out.push_str(v);
        Some(())
    };
    for c in dn.trim().chars() {
        if escaped {
            ava.push(c);
            escaped = false;
            continue;
        }
        match c {
            '\\' => {
                ava.push(c);
                escaped = true;
            }
            ',' | '+' => {
                flush(&ava, &mut out)?;
                out.push(c);
                ava.clear();
            }
            c => ava.push(c),
        }
    }
    flush(&ava, &mut out)?;
    Some(out)
}

impl fmt::Display for ActionSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<&str> = Action::ALL
            .iter()
            .filter(|a| self.contains(**a))
            .map(|a| a.name())
            .collect();
        write!(f, "{}", names.join(", "))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn globs() {
        for (pattern, name, want) in [
            ("*", "anything", true),
            ("*", "", true),
            ("feed-a", "feed-a", true),
            ("feed-a", "feed-A", false),
            ("feed-a", "feed-a ", false),
            ("feed-*", "feed-", true),
            ("feed-*", "feed-abc", true),
            ("feed-*", "fee", false),
            ("feed-?", "feed-b", true),
            ("feed-?", "feed-bb", false),
            ("feed-?", "feed-é", true),
            ("*-a", "feed-a", true),
            ("*-a", "feed-b", false),
            ("f*d-*", "feed-x", true),
            ("f*d-*", "fxd", false),
            ("*a*b*", "xxaxxbxx", true),
            ("*a*b*", "xxbxxaxx", false),
            ("a**b", "ab", true),
            ("?", "", false),
            ("urn:x:*:y", "urn:x:1:2:y", true),
        ] {
            assert_eq!(
                FeedPattern::new(pattern).matches(name),
                want,
                "{pattern} ~ {name:?}"
            );
        }
    }

    #[test]
    fn addresses() {
        let p = AddressRule::Prefix("http://127.0.0.1:9999/".into());
        assert!(p.allows("http://127.0.0.1:9999/inbox"));
        assert!(p.allows("  http://127.0.0.1:9999/inbox\n"));
        assert!(!p.allows("http://127.0.0.1:99990/"));
        assert!(!p.allows("http://127.0.0.1:9999/a b"));
        assert!(!p.allows("http://evil/"));
        let e = AddressRule::Exact("mailto:soc@example.org".into());
        assert!(e.allows("mailto:soc@example.org"));
        assert!(!e.allows("mailto:soc@example.org.evil"));
    }

    #[test]
    fn fingerprints_and_subjects() {
        let hexs = "ab".repeat(32);
        let colons = vec!["AB"; 32].join(":");
        assert_eq!(parse_fingerprint(&hexs), Some([0xab; 32]));
        assert_eq!(parse_fingerprint(&colons), Some([0xab; 32]));
        assert_eq!(parse_fingerprint(&hexs[2..]), None);
        assert_eq!(parse_fingerprint(&"zz".repeat(32)), None);
        assert_eq!(
            normalize_subject("cn = gamma , O=Gamma TEST ONLY").as_deref(),
            Some("CN=gamma,O=Gamma TEST ONLY")
        );
        assert_eq!(
            normalize_subject(r"CN=a\, b+UID=1").as_deref(),
            Some(r"CN=a\, b+UID=1")
        );
        assert_eq!(normalize_subject("gamma"), None);
    }

    #[test]
    fn secrets_hash_and_verify() {
        let phc = hash_secret("s3cret").unwrap();
        assert!(phc.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{phc}");
        let h = PasswordHash::new(&phc).unwrap();
        assert!(Argon2::default().verify_password(b"s3cret", &h).is_ok());
        assert!(Argon2::default().verify_password(b"s3cret ", &h).is_err());
        assert_eq!(
            hash_token("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
