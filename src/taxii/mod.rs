//! The TAXII protocol core: pure, no I/O, no Pingora, no tokio.
//!
//! - [`dialect`]: the three dialects and their identifiers;
//! - [`detect`]: which dialect a request or response speaks, from its HTTP context and body;
//! - [`scan`]: the envelope scan of one message body;
//! - [`envelope`]: the dialect-neutral result;
//! - [`writer`]: the status and error messages the gateway sends, with the binding's headers.

pub mod detect;
pub mod dialect;
pub mod envelope;
pub mod error;
pub mod limits;
pub mod scan;
pub(crate) mod schema;
pub(crate) mod skip;
pub(crate) mod values;
pub mod writer;

pub use detect::{scan_message, HttpContext};
pub use dialect::{Dialect, Transport};
pub use envelope::{Envelope, Field, MessageKind, ServiceRef};
pub use error::{Reject, RejectKind};
pub use limits::ScanLimits;
pub use scan::{scan_body, StreamScanner};
pub use values::format_rfc3339;
pub use writer::{refusal_reply, Refusal, Reply, ReplyContext};
