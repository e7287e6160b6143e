//! Liveness and readiness probes for orchestrators and load balancers.

use actix_web::{HttpResponse, web};
use serde_json::json;

use crate::{app::AppState, error::Error};

/// The process is up and serving HTTP.
#[utoipa::path(get, path = "/healthz", tag = "health", responses((status = 200, description = "The process is up")))]
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(json!({"status": "ok"}))
}

/// The database answers, so requests can be served; with several nodes, this node also hears
/// the answers posted on the others.
#[utoipa::path(get, path = "/readyz", tag = "health", responses(
    (status = 200, description = "Ready"),
    (status = 503, description = "The database is unreachable, or this node is cut off from the other nodes' answers", body = crate::error::ErrorBody),
))]
pub async fn readyz(state: web::Data<AppState>) -> Result<HttpResponse, Error> {
    if let Some(problem) = state.cluster.problem() {
        return Err(Error::Unavailable(problem));
    }
    match state.store.ping().await {
        Ok(()) => Ok(HttpResponse::Ok().json(json!({"status": "ready", "database": state.store.backend()}))),
        Err(e) => {
            tracing::warn!(error = %e, "readiness check failed");
            Err(Error::Unavailable("The database is unreachable.".into()))
        }
    }
}
