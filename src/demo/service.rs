//! The sample upstream as a Pingora HTTP service (for `demo`, `sample-upstream`, tests and
//! benchmarks).

use std::sync::Arc;

use async_trait::async_trait;
use pingora::apps::http_app::{HttpServer, ServeHttp};
use pingora::protocols::http::ServerSession;
use pingora::services::listening::Service;

use super::upstream::{SampleRequest, SampleUpstream};

/// A listening service answering as the sample upstream on `listen`.
pub fn service(listen: &str, upstream: SampleUpstream) -> Service<HttpServer<SampleApp>> {
    let app = SampleApp(Arc::new(upstream));
    let mut service = Service::new(
        "sample TAXII upstream".to_string(),
        HttpServer::new_app(app),
    );
    service.add_tcp(listen);
    service
}

/// Adapts [`SampleUpstream`] to Pingora's `ServeHttp`.
pub struct SampleApp(Arc<SampleUpstream>);

#[async_trait]
impl ServeHttp for SampleApp {
    async fn response(&self, session: &mut ServerSession) -> http::Response<Vec<u8>> {
        let mut body = Vec::new();
        while let Ok(Some(chunk)) = session.read_request_body().await {
            body.extend_from_slice(&chunk);
        }
        let head = session.req_header();
        let req = SampleRequest {
            method: head.method.as_str().to_string(),
            path: head.uri.path().to_string(),
            query: head.uri.query().map(str::to_string),
            headers: head
                .headers
                .iter()
                .map(|(n, v)| {
                    (
                        n.as_str().to_string(),
                        String::from_utf8_lossy(v.as_bytes()).into_owned(),
                    )
                })
                .collect(),
            body,
            tls: session.digest().is_some_and(|d| d.ssl_digest.is_some()),
        };
        let answer = self.0.handle(&req);
        let mut builder = http::Response::builder().status(answer.status);
        for (name, value) in &answer.headers {
            builder = builder.header(name.as_str(), value.as_str());
        }
        builder = builder.header("Content-Length", answer.body.len().to_string());
        builder.body(answer.body).unwrap_or_else(|_| {
            let mut r = http::Response::new(Vec::new());
            *r.status_mut() = http::StatusCode::INTERNAL_SERVER_ERROR;
            r
        })
    }
}
