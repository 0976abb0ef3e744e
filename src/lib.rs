#![forbid(unsafe_code)]
pub mod config;
pub mod demo;
pub mod taxii;
