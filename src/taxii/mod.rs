//! The TAXII protocol core: pure, no I/O, no Pingora, no tokio.
//!
//! - [`dialect`]: the three dialects and their identifiers;
//! - [`detect`]: which dialect a request or response speaks, from its HTTP context and body;
//! - [`scan`]: the envelope scan of one message body;
//! - [`envelope`]: the dialect-neutral result;
//! - [`edit`]: the operator's message rewriting rules (feed renaming, header rules, push
//!   messages, poll windows) and content digests;
//! - [`rewrite`]: what a partner sees of a discovery, feed information or subscription response;
//! - [`writer`]: the status and error messages the gateway sends, with the binding's headers.

pub mod detect;
pub mod dialect;
pub mod edit;
pub mod envelope;
pub mod error;
pub mod limits;
pub mod rewrite;
pub mod scan;
pub(crate) mod schema;
pub(crate) mod skip;
pub(crate) mod values;
pub mod writer;

pub use detect::{scan_message, HttpContext};
pub use dialect::{Dialect, Transport};
pub use edit::{
    content_digests, edit_draft1_query, edit_message, EditError, Edited, Rules, StripHeaders,
    Window,
};
pub use envelope::{ChildRef, Envelope, FeedRecord, Field, HeaderRef, MessageKind, ServiceRef};
pub use error::{Reject, RejectKind};
pub use limits::ScanLimits;
pub use rewrite::{rewrite_response, Outcome, RewriteError, RewritePlan, Rewritten};
pub use scan::{scan_body, StreamScanner};
pub use values::format_rfc3339;
pub use writer::{refusal_reply, Refusal, Reply, ReplyContext};
