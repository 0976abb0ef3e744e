#![forbid(unsafe_code)]
pub mod taxii;
