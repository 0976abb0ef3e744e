//! Resource limits enforced while scanning, so that refusing a hostile message costs bounded CPU
//! and memory (DESIGN.md, "XML threat protection").

use serde::Deserialize;

/// Limits on one message. Every limit is checked while scanning, payload included: the upstream
/// parser reads the payload too, and the gateway is its shield.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ScanLimits {
    /// Largest body, in bytes. Default 64 MiB.
    pub max_total_bytes: usize,
    /// Deepest element nesting, root = 1. Default 64 (libxml2 stops at 256).
    pub max_depth: usize,
    /// Most elements in one message. Default 2,000,000.
    pub max_elements: usize,
    /// Most attributes on one element (namespace declarations included). Default 64.
    pub max_attributes: usize,
    /// Longest attribute value, raw bytes. Default 8 KiB.
    pub max_attribute_bytes: usize,
    /// Longest run of character data between two tags (CDATA included), raw bytes.
    /// Default 16 MiB.
    pub max_text_bytes: usize,
    /// Longest element or attribute name, bytes. Default 256.
    pub max_name_bytes: usize,
    /// Streaming only: the most bytes held back while one child of the root (a content block,
    /// say) is incomplete. Default 16 MiB.
    pub max_held_bytes: usize,
}

impl Default for ScanLimits {
    fn default() -> Self {
        ScanLimits {
            max_total_bytes: 64 * 1024 * 1024,
            max_depth: 64,
            max_elements: 2_000_000,
            max_attributes: 64,
            max_attribute_bytes: 8 * 1024,
            max_text_bytes: 16 * 1024 * 1024,
            max_name_bytes: 256,
            max_held_bytes: 16 * 1024 * 1024,
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    /// `config/xml-limits.toml` documents the defaults; it must say what the code does.
    #[test]
    fn documented_defaults_match_the_code() {
        let text = include_str!("../../config/xml-limits.toml");
        let parsed: ScanLimits = toml::from_str(text).expect("config/xml-limits.toml parses");
        assert_eq!(parsed, ScanLimits::default());
    }

    #[test]
    fn unknown_keys_are_refused() {
        let err = toml::from_str::<ScanLimits>("max_depht = 3\n").unwrap_err();
        assert!(err.to_string().contains("max_depht"), "{err}");
    }
}
