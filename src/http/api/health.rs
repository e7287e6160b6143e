//! Liveness and readiness probes for orchestrators and load balancers.

use actix_web::{HttpResponse, web};
use serde_json::json;

use crate::{
    http::{Context, error::Error},
    service::NotReady,
};

/// The process is up and serving HTTP.
#[utoipa::path(get, path = "/healthz", tag = "health", responses((status = 200, description = "The process is up")))]
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(json!({"status": "ok"}))
}

/// The database answers, so requests can be served; with several nodes, this node also hears
/// the events committed on the others.
#[utoipa::path(get, path = "/readyz", tag = "health", responses(
    (status = 200, description = "Ready"),
    (status = 503, description = "The database is unreachable, or this node is cut off from the other nodes' events", body = crate::http::error::ErrorBody),
))]
pub async fn readyz(ctx: web::Data<Context>) -> Result<HttpResponse, Error> {
    match ctx.services().ready().await {
        Ok(()) => {
            Ok(HttpResponse::Ok().json(json!({"status": "ready", "database": ctx.services().backend()})))
        }
        // The broker's reason is written for operators: show it.
        Err(NotReady::Broker(problem)) => Err(Error::Unavailable(problem)),
        Err(NotReady::Database(e)) => {
            tracing::warn!(error = %e, "readiness check failed");
            Err(Error::Unavailable("The database is unreachable.".into()))
        }
    }
}
