//! The HTTP front-ends: the REST API ([`api`]), the pages ([`web`]), the WebSocket ([`ws`]),
//! its Server-Sent Events fallback ([`sse`]) and the metrics endpoint ([`metrics`]). Each parses its input into domain types once, calls
//! the service layer, and maps [`DomainError`](crate::domain::DomainError) to its own error
//! shape: JSON for the API ([`error`]), an HTML page for the pages, an `error` message on the
//! socket.
//!
//! Handlers receive a [`Context`], defined here below them and built by `app`; nothing in
//! this tree imports the module that assembles the server.

pub mod admission;
pub mod api;
pub mod auth;
pub mod body;
pub mod client_ip;
pub mod conn_cap;
pub mod error;
pub mod metrics;
pub mod origin;
pub mod rate;
pub mod server;
pub mod socket;
pub mod sse;
pub mod web;
pub mod ws;

use std::{sync::Arc, time::Duration};

use tokio_util::sync::CancellationToken;

use crate::{limits::Connections, metrics::Metrics, realtime::Hub, realtime::session, service::Services};

/// What a WebSocket or event stream is allowed, from the configuration.
#[derive(Debug, Clone, Copy)]
pub struct WsSettings {
    pub max_frame_bytes: usize,
    pub session: session::Limits,
    pub ping_interval: Duration,
    pub close_timeout: Duration,
    /// How long one write may wait for a peer that does not read.
    pub write_timeout: Duration,
    /// The kernel's send buffer per connection (`None`: autotuned).
    pub send_buffer: Option<usize>,
    /// `None` keeps idle connections.
    pub idle_timeout: Option<Duration>,
    /// Requests a connection may send per second (0: no limit).
    pub requests_per_second: u32,
}

impl WsSettings {
    /// The clocks of a WebSocket or an event stream.
    pub fn clocks(&self) -> crate::realtime::driver::Clocks {
        crate::realtime::driver::Clocks {
            ping_interval: self.ping_interval,
            idle_timeout: self.idle_timeout,
            write_timeout: self.write_timeout,
            close_timeout: self.close_timeout,
        }
    }
}

/// What every handler can reach; cheap to clone.
#[derive(Clone)]
pub struct Context {
    inner: Arc<Inner>,
}

struct Inner {
    services: Services,
    hub: Arc<Hub>,
    metrics: Arc<Metrics>,
    connections: Arc<Connections>,
    shutdown: CancellationToken,
    ws: WsSettings,
    anonymous_writes: bool,
}

impl Context {
    pub fn new(
        services: Services,
        hub: Arc<Hub>,
        metrics: Arc<Metrics>,
        connections: Arc<Connections>,
        shutdown: CancellationToken,
        ws: WsSettings,
        anonymous_writes: bool,
    ) -> Self {
        Self {
            inner: Arc::new(Inner { services, hub, metrics, connections, shutdown, ws, anonymous_writes }),
        }
    }

    /// Whether requests without an identity may post (`--anonymous-writes`).
    pub fn anonymous_writes(&self) -> bool {
        self.inner.anonymous_writes
    }

    pub fn services(&self) -> &Services {
        &self.inner.services
    }

    pub fn hub(&self) -> &Arc<Hub> {
        &self.inner.hub
    }

    pub fn metrics(&self) -> &Arc<Metrics> {
        &self.inner.metrics
    }

    pub fn connections(&self) -> &Arc<Connections> {
        &self.inner.connections
    }

    /// Cancelled when the server starts shutting down; connections close with 1001.
    pub fn shutdown(&self) -> &CancellationToken {
        &self.inner.shutdown
    }

    pub fn ws(&self) -> &WsSettings {
        &self.inner.ws
    }
}

/// Every route of the server.
pub fn configure(cfg: &mut actix_web::web::ServiceConfig) {
    use actix_web::web::get;
    cfg.route("/metrics", get().to(metrics::endpoint))
        .configure(api::configure)
        .configure(web::configure)
        .route("/ws", get().to(ws::upgrade))
        .route("/sse", get().to(sse::stream));
}
