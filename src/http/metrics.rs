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
    let method = req.method().clone();
    let res = next.call(req).await?;
    if let Some(ctx) = ctx {
        let route = res.request().match_pattern().unwrap_or_else(|| "unmatched".to_owned());
        let status = res.status();
        let m = ctx.metrics();
        m.http_requests.with_label_values(&[route.as_str(), method.as_str(), status.as_str()]).inc();
        m.http_latency
            .with_label_values(&[route.as_str(), method.as_str()])
            .observe(started.elapsed().as_secs_f64());
    }
    Ok(res)
}
