//! `GET /metrics`, and the middleware that counts and times every request.

use std::sync::atomic::Ordering;

use actix_web::{
    Error as ActixError, HttpResponse,
    body::MessageBody,
    dev::{ServiceRequest, ServiceResponse},
    middleware::Next,
    web,
};

use super::{Context, error::Error};

/// Who may read `/metrics`: anyone who reaches the private listener, and on the public one
/// whoever shows the token. Neither configured: nobody.
#[derive(Debug, Clone, Default)]
pub struct MetricsAccess {
    /// The `--metrics-bind` listener's address.
    pub private: Option<std::net::SocketAddr>,
    /// `--metrics-token`.
    pub token: Option<String>,
}

impl MetricsAccess {
    fn check(&self, req: &actix_web::HttpRequest) -> Result<(), Error> {
        let listener = req.conn_data::<super::conn_cap::LocalAddr>().map(|local| local.0);
        if self.private.is_some() && self.private == listener {
            return Ok(());
        }
        let Some(token) = &self.token else {
            return Err(Error::not_found(
                "not_found",
                "Metrics are not served on this address; see --metrics-bind and --metrics-token.",
            ));
        };
        let presented = req
            .headers()
            .get(actix_web::http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .unwrap_or_default();
        // Compared in constant time, so the response time says nothing about how much of a
        // guess was right.
        if bool::from(subtle::ConstantTimeEq::ct_eq(presented.as_bytes(), token.as_bytes())) {
            Ok(())
        } else {
            Err(Error::Unauthorized {
                realm: "metrics",
                code: "unauthorized",
                message: "Metrics need Authorization: Bearer with the metrics token.".into(),
            })
        }
    }
}

/// `GET /metrics`: Prometheus text format, to those [`MetricsAccess`] lets in.
pub async fn endpoint(req: actix_web::HttpRequest, ctx: web::Data<Context>) -> Result<HttpResponse, Error> {
    let nobody = MetricsAccess::default();
    req.app_data::<MetricsAccess>().unwrap_or(&nobody).check(&req)?;
    let stats = &ctx.hub().stats;
    let body = ctx.metrics().render(
        stats.sent.load(Ordering::Relaxed),
        stats.overflows.load(Ordering::Relaxed),
        &ctx.services().pool_stats(),
    );
    Ok(HttpResponse::Ok().content_type("text/plain; version=0.0.4; charset=utf-8").body(body))
}

/// Middleware: counts and times every HTTP request by its matched route pattern (never the raw
/// path, which would make a label per question id).
pub async fn track_requests(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, ActixError> {
    let started = std::time::Instant::now();
    let ctx = req.app_data::<web::Data<Context>>().cloned();
    let method = method_label(req.method());
    let res = next.call(req).await?;
    if let Some(ctx) = ctx {
        let route = res.request().match_pattern().unwrap_or_else(|| "unmatched".to_owned());
        let status = res.status();
        let m = ctx.metrics();
        m.http_requests.with_label_values(&[route.as_str(), method, status.as_str()]).inc();
        m.http_latency.with_label_values(&[route.as_str(), method]).observe(started.elapsed().as_secs_f64());
    }
    Ok(res)
}

/// The method as a label: any token is a valid HTTP method, so one a client invents would
/// otherwise become a time series of its own; every method outside the standard nine counts as
/// `other`.
fn method_label(method: &actix_web::http::Method) -> &'static str {
    use actix_web::http::Method;
    match *method {
        Method::GET => "GET",
        Method::HEAD => "HEAD",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::DELETE => "DELETE",
        Method::CONNECT => "CONNECT",
        Method::OPTIONS => "OPTIONS",
        Method::TRACE => "TRACE",
        Method::PATCH => "PATCH",
        _ => "other",
    }
}
