//! Policy: who may do what to which feed. A decision is a function of the snapshot, the partner
//! and the envelope.
//!
//! This is the hook the proxy calls for every message it has read; until partners and grants
//! exist (the partners and policy issue), every message that the protocol core accepted is
//! allowed.

use crate::taxii::Envelope;

/// What policy says of one message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    Allow,
}

/// Decides one request.
pub fn decide(_request: &Envelope) -> Decision {
    Decision::Allow
}
