//! taxii-gateway: a security gateway for TAXII 1.x (Draft 1, 1.0, 1.1) on Pingora.

#![forbid(unsafe_code)]

pub mod audit;
pub mod config;
pub mod demo;
#[cfg(feature = "gateway")]
pub mod limits;
#[cfg(feature = "gateway")]
pub mod metrics;
pub mod policy;
#[cfg(feature = "gateway")]
pub mod proxy;
pub mod rules;
#[cfg(feature = "gateway")]
pub mod server;
pub mod taxii;
