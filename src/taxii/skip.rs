//! The payload skipper: walks over opaque content (STIX documents, extended headers, queries,
//! signatures) without decoding it, at memchr speed.
//!
//! quick-xml validates and resolves every event, which caps an envelope scan near 650 MB/s
//! (PERFORMANCE.md). Payload does not need that: the gateway only needs to know where it ends and
//! that it is well-formed enough not to hurt the upstream parser. So this scanner checks tag
//! structure (start/end names match), attribute syntax and uniqueness, comments, CDATA,
//! processing instructions and references, refuses any DOCTYPE and any entity but the five
//! predefined ones, and enforces every limit. UTF-8 was checked once for the whole body.

use memchr::{memchr, memchr2, memchr3, memmem};

use super::error::{Reject, RejectKind};
use super::limits::ScanLimits;

/// Counters shared between the envelope scan and the skipper.
pub(crate) struct SkipState<'l> {
    pub limits: &'l ScanLimits,
    pub elements: usize,
    /// Name ranges of the open payload elements (reused between calls).
    pub stack: Vec<(usize, usize)>,
    /// Attribute name ranges of the current tag (reused).
    pub attr_names: Vec<(usize, usize)>,
}

impl<'l> SkipState<'l> {
    pub fn new(limits: &'l ScanLimits) -> Self {
        SkipState {
            limits,
            elements: 0,
            stack: Vec::new(),
            attr_names: Vec::new(),
        }
    }

    pub fn count_element(&mut self, at: usize) -> Result<(), Reject> {
        self.elements += 1;
        if self.elements > self.limits.max_elements {
            return Err(Reject::new(
                RejectKind::TooManyElements,
                format!("more than {} elements", self.limits.max_elements),
            )
            .at(at));
        }
        Ok(())
    }
}

fn malformed(detail: impl Into<String>, at: usize) -> Reject {
    Reject::new(RejectKind::Malformed, detail).at(at)
}

const fn is_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\r')
}

/// What a byte is to a name: most bytes belong to it; white space, `/`, `>` and `=` end it;
/// `<`, `"`, `'` and `&` belong to it but make it invalid (reported by [`check_name`]).
const NAME_BYTE: u8 = 0;
const NAME_END: u8 = 1;
const NAME_INVALID: u8 = 2;
static NAME_CLASS: [u8; 256] = {
    let mut t = [NAME_BYTE; 256];
    let mut i = 0;
    while i < 256 {
        let b = i as u8;
        if is_space(b) || matches!(b, b'/' | b'>' | b'=') {
            t[i] = NAME_END;
        } else if matches!(b, b'<' | b'"' | b'\'' | b'&') {
            t[i] = NAME_INVALID;
        }
        i += 1;
    }
    t
};

/// Reads a name from `start` to the first byte that ends one (or the end of the input). Returns
/// its end and whether it holds a byte no name may hold; one pass, because names are short and
/// a search per name cost a third of the scan (two memchr set-ups for ~15 bytes).
#[inline]
fn scan_name(input: &[u8], start: usize) -> (usize, bool) {
    let mut invalid = false;
    let mut i = start;
    loop {
        while input
            .get(i)
            .is_some_and(|&b| NAME_CLASS[usize::from(b)] == NAME_BYTE)
        {
            i += 1;
        }
        match input.get(i) {
            Some(&b) if NAME_CLASS[usize::from(b)] == NAME_INVALID => {
                invalid = true;
                i += 1;
            }
            _ => return (i, invalid),
        }
    }
}

/// Checks a reference starting at `input[at] == b'&'`; returns the offset after its `;`.
/// Only the five predefined entities and character references exist without a DTD.
pub(crate) fn check_reference(input: &[u8], at: usize) -> Result<usize, Reject> {
    const LONGEST: usize = 12; // "&#x10FFFF;" plus slack
    let window = &input[at + 1..input.len().min(at + 1 + LONGEST)];
    let Some(semi) = memchr(b';', window) else {
        return Err(Reject::new(RejectKind::Malformed, "'&' that starts no reference").at(at));
    };
    let name = &window[..semi];
    let ok = match name {
        b"lt" | b"gt" | b"amp" | b"apos" | b"quot" => true,
        [b'#', b'x', hex @ ..] => char_ref(hex, 16),
        [b'#', dec @ ..] => char_ref(dec, 10),
        _ => {
            return Err(Reject::new(
                RejectKind::Entity,
                format!("undefined entity &{};", String::from_utf8_lossy(name)),
            )
            .at(at))
        }
    };
    if !ok {
        return Err(Reject::new(RejectKind::Malformed, "invalid character reference").at(at));
    }
    Ok(at + 1 + semi + 1)
}

fn char_ref(digits: &[u8], radix: u32) -> bool {
    let Ok(s) = std::str::from_utf8(digits) else {
        return false;
    };
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_hexdigit()) {
        return false;
    }
    u32::from_str_radix(s, radix)
        .ok()
        .and_then(char::from_u32)
        .is_some_and(is_xml_char)
}

/// XML 1.0 §2.2 `Char`.
pub(crate) fn is_xml_char(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\r' | '\u{20}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}' | '\u{10000}'..='\u{10FFFF}')
}

/// Skips the content of a payload element whose start tag ends just before `start`, at nesting
/// depth `depth` (the payload element's own depth). Returns the offset of the `</` that closes
/// the payload element, which the caller's XML reader then reads.
pub(crate) fn skip_content(
    input: &[u8],
    start: usize,
    depth: usize,
    st: &mut SkipState<'_>,
) -> Result<usize, Reject> {
    let limits = st.limits;
    st.stack.clear();
    let mut pos = start;
    let mut text_start = start;
    loop {
        // Pretty-printed payload: most text runs are a line break and indentation before the
        // next tag, cheaper to step over than to search.
        let mut ws = pos;
        while input.get(ws).copied().is_some_and(is_space) {
            ws += 1;
        }
        let at = if input.get(ws) == Some(&b'<') {
            ws
        } else {
            let Some(rel) = memchr2(b'<', b'&', &input[ws..]) else {
                return Err(malformed(
                    "the document ends inside an element",
                    input.len(),
                ));
            };
            ws + rel
        };
        if input[at] == b'&' {
            pos = check_reference(input, at)?;
            continue;
        }
        if at - text_start > limits.max_text_bytes {
            return Err(Reject::new(
                RejectKind::TextTooLong,
                format!("a text run longer than {} bytes", limits.max_text_bytes),
            )
            .at(text_start));
        }
        let next = input.get(at + 1).copied();
        pos = match next {
            Some(b'/') => {
                let name_start = at + 2;
                // The usual case, `</name>` right after the open element's name: no search. The
                // stacked name holds neither '>' nor white space, so this is exactly what the
                // search below would find.
                if let Some(&(s, e)) = st.stack.last() {
                    let close = name_start + (e - s);
                    if input.get(close) == Some(&b'>') && input[name_start..close] == input[s..e] {
                        st.stack.pop();
                        pos = close + 1;
                        text_start = pos;
                        continue;
                    }
                }
                let Some(gt) = memchr(b'>', &input[name_start..]) else {
                    return Err(malformed("unterminated end tag", at));
                };
                let mut name_end = name_start + gt;
                while name_end > name_start && is_space(input[name_end - 1]) {
                    name_end -= 1;
                }
                let name = &input[name_start..name_end];
                match st.stack.pop() {
                    None => return Ok(at),
                    Some((s, e)) if &input[s..e] == name => {}
                    Some((s, e)) => {
                        return Err(malformed(
                            format!(
                                "end tag </{}> does not match <{}>",
                                String::from_utf8_lossy(name),
                                String::from_utf8_lossy(&input[s..e])
                            ),
                            at,
                        ))
                    }
                }
                name_start + gt + 1
            }
            Some(b'!') => {
                let rest = &input[at..];
                if rest.starts_with(b"<!--") {
                    let Some(end) = memmem::find(&rest[4..], b"--") else {
                        return Err(malformed("unterminated comment", at));
                    };
                    // XML 1.0 §2.5: "--" must not occur inside a comment.
                    if rest.get(4 + end + 2) != Some(&b'>') {
                        return Err(malformed("'--' inside a comment", at));
                    }
                    at + 4 + end + 3
                } else if rest.starts_with(b"<![CDATA[") {
                    let Some(end) = memmem::find(&rest[9..], b"]]>") else {
                        return Err(malformed("unterminated CDATA section", at));
                    };
                    if end > limits.max_text_bytes {
                        return Err(Reject::new(
                            RejectKind::TextTooLong,
                            format!(
                                "a CDATA section longer than {} bytes",
                                limits.max_text_bytes
                            ),
                        )
                        .at(at));
                    }
                    at + 9 + end + 3
                } else if rest.starts_with(b"<!DOCTYPE") {
                    return Err(Reject::new(RejectKind::Doctype, "DOCTYPE inside content").at(at));
                } else {
                    return Err(malformed("markup declaration inside content", at));
                }
            }
            Some(b'?') => {
                let Some(end) = memmem::find(&input[at + 2..], b"?>") else {
                    return Err(malformed("unterminated processing instruction", at));
                };
                let target_end = input[at + 2..at + 2 + end]
                    .iter()
                    .position(|&b| is_space(b))
                    .unwrap_or(end);
                let target = &input[at + 2..at + 2 + target_end];
                if target.is_empty() || target.eq_ignore_ascii_case(b"xml") {
                    return Err(malformed(
                        "XML declaration or empty target inside content",
                        at,
                    ));
                }
                at + 2 + end + 2
            }
            Some(_) => start_tag(input, at, depth, st)?,
            None => return Err(malformed("the document ends inside a tag", at)),
        };
        text_start = pos;
    }
}

/// Reads a start or empty-element tag at `at`; returns the offset after it.
fn start_tag(
    input: &[u8],
    at: usize,
    depth: usize,
    st: &mut SkipState<'_>,
) -> Result<usize, Reject> {
    let limits = st.limits;
    st.count_element(at)?;
    let name_start = at + 1;
    let (name_end, invalid) = scan_name(input, name_start);
    check_name(input, name_start, name_end, invalid, limits)?;
    let mut i = name_end;
    st.attr_names.clear();
    loop {
        let ws_start = i;
        while i < input.len() && is_space(input[i]) {
            i += 1;
        }
        match input.get(i) {
            None => return Err(malformed("the document ends inside a tag", at)),
            Some(b'>') => {
                if depth + st.stack.len() + 1 > limits.max_depth {
                    return Err(Reject::new(
                        RejectKind::TooDeep,
                        format!("elements nested deeper than {}", limits.max_depth),
                    )
                    .at(at));
                }
                st.stack.push((name_start, name_end));
                return Ok(i + 1);
            }
            Some(b'/') => {
                if input.get(i + 1) != Some(&b'>') {
                    return Err(malformed("'/' inside a tag", i));
                }
                if depth + st.stack.len() + 1 > limits.max_depth {
                    return Err(Reject::new(
                        RejectKind::TooDeep,
                        format!("elements nested deeper than {}", limits.max_depth),
                    )
                    .at(at));
                }
                return Ok(i + 2);
            }
            Some(_) if i == ws_start => {
                return Err(malformed("attributes must be separated by white space", i));
            }
            Some(_) => {}
        }
        // An attribute: name, '=', quoted value.
        let attr_start = i;
        let invalid;
        (i, invalid) = scan_name(input, attr_start);
        check_name(input, attr_start, i, invalid, limits)?;
        let attr = (attr_start, i);
        if st.attr_names.len() >= limits.max_attributes {
            return Err(Reject::new(
                RejectKind::TooManyAttributes,
                format!(
                    "more than {} attributes on one element",
                    limits.max_attributes
                ),
            )
            .at(at));
        }
        if st
            .attr_names
            .iter()
            .any(|&(s, e)| input[s..e] == input[attr.0..attr.1])
        {
            return Err(malformed(
                format!(
                    "duplicate attribute {}",
                    String::from_utf8_lossy(&input[attr.0..attr.1])
                ),
                attr_start,
            ));
        }
        st.attr_names.push(attr);
        while i < input.len() && is_space(input[i]) {
            i += 1;
        }
        if input.get(i) != Some(&b'=') {
            return Err(malformed("attribute without '='", i));
        }
        i += 1;
        while i < input.len() && is_space(input[i]) {
            i += 1;
        }
        let quote = match input.get(i) {
            Some(&q @ (b'"' | b'\'')) => q,
            _ => return Err(malformed("attribute value without quotes", i)),
        };
        let value_start = i + 1;
        // Most values hold neither '<' nor a reference: then one search finds the closing quote
        // and proves it.
        let plain = match memchr3(quote, b'<', b'&', &input[value_start..]) {
            Some(rel) if input[value_start + rel] == quote => Some(rel),
            _ => None,
        };
        let len = match plain {
            Some(len) => len,
            None => match memchr(quote, &input[value_start..]) {
                Some(len) => len,
                None => return Err(malformed("unterminated attribute value", i)),
            },
        };
        if len > limits.max_attribute_bytes {
            return Err(Reject::new(
                RejectKind::AttributeTooLong,
                format!(
                    "an attribute value longer than {} bytes",
                    limits.max_attribute_bytes
                ),
            )
            .at(value_start));
        }
        let value_end = value_start + len;
        if plain.is_none() {
            let mut v = value_start;
            while let Some(rel) = memchr2(b'<', b'&', &input[v..value_end]) {
                let p = v + rel;
                if input[p] == b'<' {
                    return Err(malformed("'<' inside an attribute value", p));
                }
                v = check_reference(input, p)?;
                if v > value_end {
                    return Err(malformed("reference runs past the attribute value", p));
                }
            }
        }
        i = value_end + 1;
    }
}

/// Checks the name `input[start..end]`; `invalid` is what [`scan_name`] found.
#[inline(always)]
fn check_name(
    input: &[u8],
    start: usize,
    end: usize,
    invalid: bool,
    limits: &ScanLimits,
) -> Result<(), Reject> {
    if end == start {
        return Err(malformed("missing name", start));
    }
    if end - start > limits.max_name_bytes {
        return Err(Reject::new(
            RejectKind::NameTooLong,
            format!("a name longer than {} bytes", limits.max_name_bytes),
        )
        .at(start));
    }
    let first = input[start];
    if first.is_ascii_digit() || matches!(first, b'-' | b'.' | b'"' | b'\'' | b'<' | b'&') {
        return Err(malformed("invalid name", start));
    }
    if invalid {
        return Err(malformed("invalid character in a name", start));
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    fn skip(doc: &str) -> Result<usize, Reject> {
        let limits = ScanLimits::default();
        let mut st = SkipState::new(&limits);
        // The document is the content of a payload element that is closed by "</P>".
        skip_content(doc.as_bytes(), 0, 1, &mut st)
    }

    #[test]
    fn finds_the_closing_tag_of_the_container() {
        let doc = r#"<a x="1" y='2'><b/>text &amp; &#x41;<!-- c --><![CDATA[<not a tag>]]><?pi x?></a></P>"#;
        assert_eq!(skip(doc).map(|p| &doc[p..]), Ok("</P>"));
    }

    #[test]
    fn rejects_what_a_strict_parser_rejects() {
        let cases: &[(&str, RejectKind)] = &[
            ("<a></b></P>", RejectKind::Malformed),
            ("<a x='1' x='2'/></P>", RejectKind::Malformed),
            ("<a x=1/></P>", RejectKind::Malformed),
            ("<a x='<'/></P>", RejectKind::Malformed),
            ("&lol;</P>", RejectKind::Entity),
            ("<a x='&xxe;'/></P>", RejectKind::Entity),
            ("<!DOCTYPE x></P>", RejectKind::Doctype),
            ("<!-- a -- b --></P>", RejectKind::Malformed),
            ("<?xml version='1.0'?></P>", RejectKind::Malformed),
            ("<a>", RejectKind::Malformed),
            ("&#0;</P>", RejectKind::Malformed),
            ("<a b='1'c='2'/></P>", RejectKind::Malformed),
        ];
        for (doc, kind) in cases {
            assert_eq!(skip(doc).map_err(|e| e.kind), Err(*kind), "{doc}");
        }
    }

    #[test]
    fn enforces_limits() {
        let limits = ScanLimits {
            max_depth: 3,
            max_attributes: 1,
            max_attribute_bytes: 4,
            max_text_bytes: 5,
            max_name_bytes: 3,
            ..ScanLimits::default()
        };
        let cases: &[(&str, RejectKind)] = &[
            ("<a><b><c/></b></a></P>", RejectKind::TooDeep),
            ("<a x='1' y='2'/></P>", RejectKind::TooManyAttributes),
            ("<a x='12345'/></P>", RejectKind::AttributeTooLong),
            ("123456</P>", RejectKind::TextTooLong),
            ("<![CDATA[123456]]></P>", RejectKind::TextTooLong),
            ("<abcd/></P>", RejectKind::NameTooLong),
        ];
        for (doc, kind) in cases {
            let mut st = SkipState::new(&limits);
            assert_eq!(
                skip_content(doc.as_bytes(), 0, 1, &mut st).map_err(|e| e.kind),
                Err(*kind),
                "{doc}"
            );
        }
        let mut st = SkipState::new(&limits);
        assert!(skip_content(b"<a><b/></a></P>", 0, 1, &mut st).is_ok());
    }
}
