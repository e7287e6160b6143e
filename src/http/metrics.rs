//! `GET /metrics`, and the middleware that counts and times every request.

use std::sync::atomic::Ordering;

use actix_web::{
    Error as ActixError, HttpResponse,
    body::MessageBody,
    dev::{ServiceRequest, ServiceResponse},
    middleware::Next,
    web,
};

use super::Context;

/// `GET /metrics`: Prometheus text format.
pub async fn endpoint(ctx: web::Data<Context>) -> HttpResponse {
    let stats = &ctx.hub().stats;
    let body = ctx.metrics().render(
        stats.sent.load(Ordering::Relaxed),
        stats.overflows.load(Ordering::Relaxed),
        &ctx.services().pool_stats(),
    );
    HttpResponse::Ok().content_type("text/plain; version=0.0.4; charset=utf-8").body(body)
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
