//! Policy files: TOML in, partners of a validated [`Policy`] out. Unknown keys are refused;
//! every error names the file, the line and the key, as for the gateway configuration.

use std::ops::Range;
use std::path::Path;
use std::sync::Arc;

use argon2::password_hash::PasswordHash;
use serde::Deserialize;
use toml::Spanned;

use super::model::{
    normalize_subject, parse_fingerprint, AddressRule, CertificateMatch, FeedPattern, Grant,
    HeaderRules, Origin, Partner, Policy, Rate, ANONYMOUS,
};
use super::{Action, ActionSet};
use crate::config::ConfigError;

// ------------------------------------------------------------------------------------------
// The file format (serde).
// ------------------------------------------------------------------------------------------

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    #[serde(default, rename = "partner")]
    partners: Vec<Spanned<RawPartner>>,
    anonymous: Option<Spanned<RawAnonymous>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPartner {
    id: Spanned<String>,
    basic: Option<Spanned<RawBasic>>,
    #[serde(default)]
    tokens: Vec<Spanned<String>>,
    certificate: Option<Spanned<RawCertificate>>,
    rate: Option<Spanned<RawRate>>,
    #[serde(default)]
    conceal: bool,
    #[serde(default)]
    capture: bool,
    #[serde(default, rename = "grant")]
    grants: Vec<Spanned<RawGrant>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAnonymous {
    rate: Option<Spanned<RawRate>>,
    #[serde(default)]
    conceal: bool,
    #[serde(default)]
    capture: bool,
    #[serde(default, rename = "grant")]
    grants: Vec<Spanned<RawGrant>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawBasic {
    user: Spanned<String>,
    password_hash: Spanned<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCertificate {
    sha256: Option<Spanned<String>>,
    subject: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRate {
    per_second: Spanned<f64>,
    burst: Option<Spanned<u32>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawGrant {
    #[serde(default)]
    feeds: Vec<Spanned<String>>,
    actions: Spanned<Vec<Spanned<String>>>,
    #[serde(default)]
    content_bindings: Vec<Spanned<String>>,
    #[serde(default)]
    delivery_addresses: Vec<Spanned<RawAddress>>,
    max_poll_window_seconds: Option<Spanned<u64>>,
    poll_window: Option<Spanned<String>>,
    #[serde(default)]
    strip_headers: Vec<Spanned<String>>,
    partner_header: Option<Spanned<String>>,
    push_message: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAddress {
    prefix: Option<String>,
    exact: Option<String>,
}

// ------------------------------------------------------------------------------------------
// Validation and merging.
// ------------------------------------------------------------------------------------------

/// Argon2 parameters above these would let a policy file make every Basic request cost seconds
/// or gigabytes: refused at load.
const MAX_ARGON2_MEMORY_KIB: u32 = 256 * 1024;
const MAX_ARGON2_PASSES: u32 = 16;
const MAX_ARGON2_LANES: u32 = 16;

impl Policy {
    /// Reads, validates and merges policy files, in order. No file: a policy without partners,
    /// which denies everything.
    pub fn load<P: AsRef<Path>>(paths: &[P]) -> Result<Policy, ConfigError> {
        let mut policy = Policy::empty();
        for path in paths {
            let path = path.as_ref();
            let text = std::fs::read_to_string(path).map_err(|e| ConfigError {
                file: path.to_path_buf(),
                line: 0,
                key: String::new(),
                message: format!("cannot read: {e}"),
            })?;
            policy.add_file(path, &text)?;
        }
        Ok(policy)
    }

    /// Validates the text of one policy file that came from `path`.
    pub fn parse(path: &Path, text: &str) -> Result<Policy, ConfigError> {
        let mut policy = Policy::empty();
        policy.add_file(path, text)?;
        Ok(policy)
    }

    /// Adds one file's partners, checking them against those already there. On error the
    /// policy is half-built: callers drop it (only a complete load is ever returned).
    fn add_file(&mut self, path: &Path, text: &str) -> Result<(), ConfigError> {
        let src = Source {
            path,
            text,
            file: Arc::from(path),
        };
        let at = |span: Range<usize>, key: &str, message: String| src.error(span, key, message);
        let raw: RawFile = toml::from_str(text).map_err(|e| {
            let span = e.span().unwrap_or(0..0);
            let message = e.message().to_string();
            let key = match message.split('`').nth(1) {
                Some(k)
                    if message.starts_with("unknown field")
                        || message.starts_with("missing field") =>
                {
                    k.to_string()
                }
                _ => key_before(text, span.start),
            };
            at(span, &key, message)
        })?;
        self.sources.push(src.file.clone());

        for p in raw.partners {
            let header = p.span();
            let p = p.into_inner();
            let id = p.id.get_ref().clone();
            let id_span = p.id.span();
            if let Err(why) = valid_id(&id) {
                return Err(at(id_span, "partner.id", format!("{id:?} {why}")));
            }
            if id == "anonymous" {
                return Err(at(
                    id_span,
                    "partner.id",
                    "\"anonymous\" is reserved: write the anonymous partner as [anonymous]".into(),
                ));
            }
            if let Some(other) = self.partners.iter().find(|o| o.id == id) {
                return Err(at(
                    id_span,
                    "partner.id",
                    format!("partner {id:?} is already defined at {}", other.origin),
                ));
            }
            let index = self.partners.len();

            let basic_user = match p.basic {
                None => None,
                Some(b) => {
                    let b = b.into_inner();
                    let user = b.user.get_ref().clone();
                    if user.is_empty() || user.contains(':') || user.chars().any(|c| c.is_control())
                    {
                        return Err(at(
                            b.user.span(),
                            "partner.basic.user",
                            format!("{user:?} must be non-empty, without ':' or control characters (RFC 7617 §2)"),
                        ));
                    }
                    check_password_hash(b.password_hash.get_ref()).map_err(|m| {
                        at(b.password_hash.span(), "partner.basic.password_hash", m)
                    })?;
                    if let Some((other, _)) = self.by_user.get(&user) {
                        return Err(at(
                            b.user.span(),
                            "partner.basic.user",
                            format!(
                                "Basic user {user:?} is already partner {:?}'s",
                                self.partners[*other].id
                            ),
                        ));
                    }
                    self.by_user
                        .insert(user.clone(), (index, b.password_hash.into_inner()));
                    Some(user)
                }
            };

            for t in &p.tokens {
                let digest =
                    parse_token_hash(t.get_ref()).map_err(|m| at(t.span(), "partner.tokens", m))?;
                if let Some(other) = self.by_token.get(&digest) {
                    let owner = if *other == index {
                        "this partner".to_string()
                    } else {
                        format!("partner {:?}", self.partners[*other].id)
                    };
                    return Err(at(
                        t.span(),
                        "partner.tokens",
                        format!("this token hash is already {owner}'s"),
                    ));
                }
                self.by_token.insert(digest, index);
            }

            let certificate = match p.certificate {
                None => None,
                Some(c) => {
                    let span = c.span();
                    let c = c.into_inner();
                    let m = match (c.sha256, c.subject) {
                        (Some(fp), None) => {
                            let digest = parse_fingerprint(fp.get_ref()).ok_or_else(|| {
                                at(
                                    fp.span(),
                                    "partner.certificate.sha256",
                                    "must be 64 hex digits (any case), optionally with ':' between bytes".into(),
                                )
                            })?;
                            if let Some(other) = self.by_fingerprint.get(&digest) {
                                return Err(at(
                                    fp.span(),
                                    "partner.certificate.sha256",
                                    format!(
                                        "this fingerprint is already partner {:?}'s",
                                        self.partners[*other].id
                                    ),
                                ));
                            }
                            self.by_fingerprint.insert(digest, index);
                            CertificateMatch::Sha256(digest)
                        }
                        (None, Some(subject)) => {
                            let normal = normalize_subject(subject.get_ref())
                                .filter(|s| !s.is_empty())
                                .ok_or_else(|| {
                                    at(
                                        subject.span(),
                                        "partner.certificate.subject",
                                        format!(
                                            "{:?} is not an RFC 4514 DN (CN=…,O=…)",
                                            subject.get_ref()
                                        ),
                                    )
                                })?;
                            if let Some(other) = self.by_subject.get(&normal) {
                                return Err(at(
                                    subject.span(),
                                    "partner.certificate.subject",
                                    format!(
                                        "this subject is already partner {:?}'s",
                                        self.partners[*other].id
                                    ),
                                ));
                            }
                            self.by_subject.insert(normal.clone(), index);
                            CertificateMatch::Subject(normal)
                        }
                        _ => {
                            return Err(at(
                                span,
                                "partner.certificate",
                                "give exactly one of sha256 or subject".into(),
                            ))
                        }
                    };
                    Some(m)
                }
            };

            if basic_user.is_none() && p.tokens.is_empty() && certificate.is_none() {
                return Err(at(
                    header,
                    "partner",
                    format!("partner {id:?} has no credentials (basic, tokens or certificate); use [anonymous] for requests without any"),
                ));
            }
            let rate = p.rate.map(|r| rate(r, &src, "partner")).transpose()?;
            let grants = grants(p.grants, &src, "partner")?;
            let actions = grants
                .iter()
                .fold(ActionSet::EMPTY, |s, g| s.union(g.actions));
            self.partners.push(Partner {
                id,
                conceal: p.conceal,
                rate,
                grants,
                origin: src.origin(header),
                basic_user,
                tokens: p.tokens.len(),
                certificate,
                capture: p.capture,
                index,
                actions,
            });
        }

        if let Some(a) = raw.anonymous {
            let header = a.span();
            if let Some(other) = &self.anonymous {
                return Err(at(
                    header,
                    "anonymous",
                    format!(
                        "the anonymous partner is already defined at {}",
                        other.origin
                    ),
                ));
            }
            let a = a.into_inner();
            let rate = a.rate.map(|r| rate(r, &src, "anonymous")).transpose()?;
            let grants = grants(a.grants, &src, "anonymous")?;
            let actions = grants
                .iter()
                .fold(ActionSet::EMPTY, |s, g| s.union(g.actions));
            self.anonymous = Some(Partner {
                id: "anonymous".into(),
                conceal: a.conceal,
                rate,
                grants,
                origin: src.origin(header.clone()),
                basic_user: None,
                tokens: 0,
                certificate: None,
                capture: a.capture,
                index: ANONYMOUS,
                actions,
            });
        }
        Ok(())
    }
}

/// The file being read, for error positions.
struct Source<'a> {
    path: &'a Path,
    text: &'a str,
    file: Arc<Path>,
}

impl Source<'_> {
    fn error(&self, span: Range<usize>, key: &str, message: String) -> ConfigError {
        ConfigError {
            file: self.path.to_path_buf(),
            line: line_of(self.text, span.start),
            key: key.to_string(),
            message,
        }
    }

    fn origin(&self, span: Range<usize>) -> Origin {
        Origin {
            file: self.file.clone(),
            line: line_of(self.text, span.start),
        }
    }
}

fn rate(r: Spanned<RawRate>, src: &Source<'_>, table: &str) -> Result<Rate, ConfigError> {
    let at = |span: Range<usize>, key: &str, message: String| src.error(span, key, message);
    let r = r.into_inner();
    let per_second = *r.per_second.get_ref();
    if !(per_second.is_finite() && per_second > 0.0 && per_second <= 1_000_000.0) {
        return Err(at(
            r.per_second.span(),
            &format!("{table}.rate.per_second"),
            format!("{per_second} must be above 0 and at most 1000000"),
        ));
    }
    let burst = match r.burst {
        Some(b) if *b.get_ref() == 0 => {
            return Err(at(
                b.span(),
                &format!("{table}.rate.burst"),
                "must be at least 1".into(),
            ))
        }
        Some(b) => b.into_inner(),
        // One second's worth.
        None => per_second.ceil().max(1.0) as u32,
    };
    Ok(Rate { per_second, burst })
}

fn grants(
    raw: Vec<Spanned<RawGrant>>,
    src: &Source<'_>,
    table: &str,
) -> Result<Vec<Grant>, ConfigError> {
    let at = |span: Range<usize>, key: &str, message: String| src.error(span, key, message);
    let key = |k: &str| format!("{table}.grant.{k}");
    let mut out = Vec::with_capacity(raw.len());
    for g in raw {
        let header = g.span();
        let origin = src.origin(header.clone());
        let g = g.into_inner();
        let mut actions = ActionSet::EMPTY;
        for a in g.actions.get_ref() {
            let action = Action::from_name(a.get_ref()).ok_or_else(|| {
                at(
                    a.span(),
                    &key("actions"),
                    format!(
                        "{:?} is not one of discover, feed_info, subscribe, manage_subscription, poll, push",
                        a.get_ref()
                    ),
                )
            })?;
            actions.insert(action);
        }
        if actions.is_empty() {
            return Err(at(
                g.actions.span(),
                &key("actions"),
                "a grant needs at least one action".into(),
            ));
        }
        let mut feeds = Vec::with_capacity(g.feeds.len());
        for f in &g.feeds {
            let name = f.get_ref();
            if name.is_empty() || name.chars().any(|c| c.is_control()) {
                return Err(at(
                    f.span(),
                    &key("feeds"),
                    format!("{name:?} is empty or holds control characters"),
                ));
            }
            feeds.push(FeedPattern::new(name));
        }
        if feeds.is_empty() && actions != ActionSet::of(&[Action::Discover]) {
            return Err(at(
                header,
                &key("feeds"),
                format!("a grant of {actions} needs feeds (names or globs; \"*\": every feed)"),
            ));
        }
        let mut content_bindings = Vec::with_capacity(g.content_bindings.len());
        for b in g.content_bindings {
            let v = b.get_ref().trim();
            if v.is_empty() || v.chars().any(|c| c.is_whitespace() || c.is_control()) {
                return Err(at(
                    b.span(),
                    &key("content_bindings"),
                    format!("{:?} is not a content binding id", b.get_ref()),
                ));
            }
            content_bindings.push(v.to_string());
        }
        let mut delivery_addresses = Vec::with_capacity(g.delivery_addresses.len());
        for a in g.delivery_addresses {
            let span = a.span();
            let rule = match a.into_inner() {
                RawAddress {
                    prefix: Some(p),
                    exact: None,
                } => {
                    check_address(&p, true).map_err(|m| at(span, &key("delivery_addresses"), m))?;
                    AddressRule::Prefix(p)
                }
                RawAddress {
                    prefix: None,
                    exact: Some(e),
                } => {
                    check_address(&e, false)
                        .map_err(|m| at(span, &key("delivery_addresses"), m))?;
                    AddressRule::Exact(e)
                }
                _ => {
                    return Err(at(
                        span,
                        &key("delivery_addresses"),
                        "each entry is { prefix = \"…\" } or { exact = \"…\" }".into(),
                    ))
                }
            };
            delivery_addresses.push(rule);
        }
        let max_poll_window_seconds = match g.max_poll_window_seconds {
            Some(w) if *w.get_ref() == 0 => {
                return Err(at(
                    w.span(),
                    &key("max_poll_window_seconds"),
                    "must be above 0 (leave it out for no limit)".into(),
                ))
            }
            w => w.map(Spanned::into_inner),
        };
        let clamp_poll_window = match &g.poll_window {
            None => false,
            Some(v) => match v.get_ref().as_str() {
                "refuse" => false,
                "clamp" => true,
                other => {
                    return Err(at(
                        v.span(),
                        &key("poll_window"),
                        format!("{other:?}: \"refuse\" (the default) or \"clamp\""),
                    ))
                }
            },
        };
        if clamp_poll_window && max_poll_window_seconds.is_none() {
            if let Some(v) = &g.poll_window {
                return Err(at(
                    v.span(),
                    &key("poll_window"),
                    "\"clamp\" needs max_poll_window_seconds".into(),
                ));
            }
        }
        let headers = HeaderRules {
            strip: header_names(&g.strip_headers, true)
                .map_err(|(span, m)| at(span, &key("strip_headers"), m))?,
            partner_header: match &g.partner_header {
                None => None,
                Some(h) => Some(
                    header_names(std::slice::from_ref(h), false)
                        .map_err(|(span, m)| at(span, &key("partner_header"), m))?
                        .remove(0),
                ),
            },
        };
        if let Some(m) = &g.push_message {
            if m.get_ref()
                .chars()
                .any(|c| c.is_control() && !matches!(c, '\n' | '\t'))
            {
                return Err(at(
                    m.span(),
                    &key("push_message"),
                    "holds control characters".into(),
                ));
            }
        }
        out.push(Grant {
            feeds,
            actions,
            content_bindings,
            delivery_addresses,
            max_poll_window_seconds,
            clamp_poll_window,
            headers,
            push_message: g.push_message.map(Spanned::into_inner),
            origin,
        });
    }
    Ok(out)
}

/// Extended header names of a rule: non-empty, no white space or control characters; `"*"`
/// (every header) only where `star` allows it.
fn header_names(
    names: &[Spanned<String>],
    star: bool,
) -> Result<Vec<String>, (Range<usize>, String)> {
    let mut out = Vec::with_capacity(names.len());
    for n in names {
        let v = n.get_ref();
        if v == "*" && !star {
            return Err((n.span(), "\"*\" is not a header name".into()));
        }
        if v.is_empty() || v.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err((n.span(), format!("{v:?} is not an extended header name")));
        }
        out.push(v.clone());
    }
    Ok(out)
}

/// A partner id travels to the upstream in a header and into audit records: a token of
/// letters, digits and `.`, `_`, `-`, `@`, `:`, at most 64 bytes.
fn valid_id(id: &str) -> Result<(), &'static str> {
    if id.is_empty() || id.len() > 64 {
        return Err("must be 1 to 64 bytes long");
    }
    if !id
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-' | b'@' | b':'))
    {
        return Err("may hold only letters, digits and . _ - @ :");
    }
    Ok(())
}

/// A `password_hash`: an argon2id PHC string with parameters a request can afford.
fn check_password_hash(phc: &str) -> Result<(), String> {
    let h = PasswordHash::new(phc)
        .map_err(|e| format!("is not a PHC string ($argon2id$v=19$m=…,t=…,p=…$salt$hash): {e}"))?;
    if h.algorithm != argon2::ARGON2ID_IDENT {
        return Err(format!(
            "is {}, not argon2id (`taxii-gateway hash-secret` prints one)",
            h.algorithm
        ));
    }
    if h.salt.is_none() || h.hash.is_none() {
        return Err("lacks its salt or hash".into());
    }
    let p = argon2::Params::try_from(&h).map_err(|e| format!("has bad parameters: {e}"))?;
    if p.m_cost() > MAX_ARGON2_MEMORY_KIB
        || p.t_cost() > MAX_ARGON2_PASSES
        || p.p_cost() > MAX_ARGON2_LANES
    {
        return Err(format!(
            "costs too much per request (at most m={MAX_ARGON2_MEMORY_KIB}, t={MAX_ARGON2_PASSES}, p={MAX_ARGON2_LANES})"
        ));
    }
    Ok(())
}

/// A `tokens` entry: the SHA-256 of the token, 64 hex digits.
fn parse_token_hash(s: &str) -> Result<[u8; 32], String> {
    if s.starts_with('$') {
        return Err("bearer tokens are stored as their SHA-256 (64 hex digits: `printf %s TOKEN | sha256sum`), not as a PHC string: a token is found by its hash alone".into());
    }
    if s.contains(':') {
        return Err("must be 64 hex digits, without ':'".into());
    }
    parse_fingerprint(s).ok_or_else(|| "must be the token's SHA-256 as 64 hex digits".into())
}

/// A delivery address entry: no white space or control characters; a URL prefix must name its
/// whole authority, up to and including the `/` after it.
fn check_address(a: &str, prefix: bool) -> Result<(), String> {
    if a.is_empty() || a.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(format!("{a:?} is empty or holds white space"));
    }
    if prefix {
        if let Some((_, rest)) = a.split_once("://") {
            match rest.find('/') {
                Some(i) if i > 0 => {}
                _ => {
                    return Err(format!(
                        "prefix {a:?} must end its host and port with '/' (e.g. \"http://127.0.0.1:9999/\"), or it would admit other hosts and ports"
                    ))
                }
            }
        }
    }
    Ok(())
}

fn line_of(text: &str, offset: usize) -> usize {
    text.as_bytes()[..offset.min(text.len())]
        .iter()
        .filter(|&&b| b == b'\n')
        .count()
        + 1
}

/// The key a value at `offset` was given to (`key = value` on the same line), for serde
/// errors that name only the value.
fn key_before(text: &str, offset: usize) -> String {
    let before = &text[..offset.min(text.len())];
    let line = before.rsplit('\n').next().unwrap_or("");
    let Some((lhs, _)) = line.rsplit_once('=') else {
        return String::new();
    };
    let lhs = lhs.trim_end();
    let key: String = lhs
        .chars()
        .rev()
        .take_while(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | '"'))
        .collect::<Vec<char>>()
        .into_iter()
        .rev()
        .collect();
    key.trim_matches('"').to_string()
}
