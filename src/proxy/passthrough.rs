//! A plain Pingora passthrough with the gateway's routing and nothing else: no body reading,
//! no scanning, no re-framing. It exists only as the baseline of the load benchmark
//! (`taxii-gateway run --passthrough`), so that the cost of inspection is measured against the
//! same framework on the same machine.

use std::sync::Arc;

use async_trait::async_trait;
use pingora::http::RequestHeader;
use pingora::proxy::{ProxyHttp, Session};
use pingora::upstreams::peer::HttpPeer;
use pingora::{Error, ErrorType, Result};

use super::point_at_upstream;
use crate::config::{GatewayConfig, Scheme};

pub struct Passthrough {
    config: Arc<GatewayConfig>,
}

impl Passthrough {
    pub fn new(config: Arc<GatewayConfig>) -> Passthrough {
        Passthrough { config }
    }
}

#[async_trait]
impl ProxyHttp for Passthrough {
    type CTX = Option<usize>;

    fn new_ctx(&self) -> Option<usize> {
        None
    }

    async fn request_filter(&self, session: &mut Session, ctx: &mut Option<usize>) -> Result<bool> {
        let req = session.req_header();
        let host = req.headers.get("host").and_then(|h| h.to_str().ok());
        *ctx = self.config.route_index(host, req.uri.path());
        if ctx.is_none() {
            return Err(Error::explain(ErrorType::HTTPStatus(404), "no route"));
        }
        Ok(false)
    }

    async fn upstream_peer(
        &self,
        _session: &mut Session,
        ctx: &mut Option<usize>,
    ) -> Result<Box<HttpPeer>> {
        let route = ctx
            .map(|i| &self.config.routes[i])
            .ok_or_else(|| Error::explain(ErrorType::InternalError, "no route"))?;
        let up = &self.config.upstreams[route.upstream];
        let mut peer = HttpPeer::new(up.authority(), up.scheme == Scheme::Https, up.sni.clone());
        peer.options.connection_timeout = Some(up.connect_timeout);
        peer.options.read_timeout = Some(up.read_timeout);
        peer.options.verify_cert = up.verify_tls;
        peer.options.verify_hostname = up.verify_tls;
        Ok(Box::new(peer))
    }

    async fn upstream_request_filter(
        &self,
        session: &mut Session,
        upstream_request: &mut RequestHeader,
        ctx: &mut Option<usize>,
    ) -> Result<()> {
        let Some(route) = ctx.map(|i| &self.config.routes[i]) else {
            return Ok(());
        };
        let up = &self.config.upstreams[route.upstream];
        point_at_upstream(
            session.req_header().uri.query(),
            upstream_request,
            up,
            route,
        )?;
        Ok(())
    }
}
