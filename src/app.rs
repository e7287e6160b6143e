//! Building and running the server. `main` and every test start the hub the same way:
//! [`Application::build`] connects and migrates the database, binds the listener (port 0
//! gives an ephemeral port) and returns before serving.

use std::{net::SocketAddr, sync::Arc, time::Duration};

use actix_web::{App, HttpServer, dev::ServerHandle, web};
use tokio_util::sync::CancellationToken;
use tracing_actix_web::TracingLogger;

use crate::{
    api, cluster::ClusterStatus, config::Config, hub::Hub, limits::Connections, metrics::Metrics,
    store::Store, ws,
};

/// What every handler can reach; cheap to clone.
#[derive(Clone)]
pub struct AppState {
    pub config: Arc<Config>,
    pub store: Store,
    pub hub: Arc<Hub>,
    /// Cancelled when the server starts shutting down; connections close with 1001.
    pub shutdown: CancellationToken,
    /// Whether this node hears the other nodes' answers (see `cluster`).
    pub cluster: Arc<ClusterStatus>,
    pub metrics: Arc<Metrics>,
    /// Open WebSocket connections under the node and per-IP caps.
    pub connections: Arc<Connections>,
}

pub struct Application {
    addr: SocketAddr,
    state: AppState,
    server: actix_web::dev::Server,
}

impl Application {
    pub async fn build(config: Config) -> anyhow::Result<Self> {
        config.validate()?;
        let store = Store::connect(&config.database_url, config.db_pool).await?;
        store.migrate().await?;
        let (hub, shutdown) = (Hub::new(), CancellationToken::new());
        let node_id = config.node_id();
        // On Postgres, nodes share answers through LISTEN/NOTIFY; SQLite is single-node.
        let cluster = match store.postgres_pool() {
            Some(pool) => crate::cluster::start(node_id, pool.clone(), hub.clone(), shutdown.clone()).await?,
            None => ClusterStatus::single_node(node_id),
        };
        let state = AppState {
            config: Arc::new(config.clone()),
            store,
            hub,
            shutdown,
            cluster,
            metrics: Arc::new(Metrics::new()),
            connections: Connections::new(config.max_connections, config.max_connections_per_ip),
        };
        let data = web::Data::new(state.clone());
        let workers = match config.workers {
            0 => std::thread::available_parallelism().map_or(2, |n| n.get()),
            n => n,
        };
        let server = HttpServer::new(move || {
            App::new()
                .wrap(actix_web::middleware::from_fn(crate::metrics::track_requests))
                .wrap(TracingLogger::default())
                .app_data(data.clone())
                .route("/metrics", web::get().to(crate::metrics::endpoint))
                .configure(api::configure)
                .configure(crate::web::configure)
                .route("/ws", web::get().to(ws::upgrade))
                .default_service(web::to(api::not_found))
        })
        .workers(workers)
        // `main` owns the signals so that sockets get their 1001 before the server stops.
        .disable_signals()
        // In-flight requests get this long after the sockets' grace period; the two together
        // stay within the 10 s an orchestrator typically allows before SIGKILL.
        .shutdown_timeout(4)
        .bind(&config.bind)
        .map_err(|e| {
            anyhow::anyhow!(
                "cannot listen on {:?} ({}); choose another address with --bind or QA_HUB_BIND",
                config.bind,
                match e.kind() {
                    std::io::ErrorKind::AddrInUse => "the address is already in use".to_owned(),
                    _ => e.to_string(),
                }
            )
        })?;
        let addr = *server.addrs().first().ok_or_else(|| anyhow::anyhow!("bound no address"))?;
        Ok(Self { addr, state, server: server.run() })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// A handle that stops the server gracefully from elsewhere (signals, tests).
    pub fn stopper(&self) -> Stopper {
        Stopper { server: self.server.handle(), state: self.state.clone() }
    }

    /// Serves until stopped.
    pub async fn run(self) -> std::io::Result<()> {
        self.server.await
    }
}

#[derive(Clone)]
pub struct Stopper {
    server: ServerHandle,
    state: AppState,
}

impl Stopper {
    /// Stops accepting, closes every WebSocket with 1001 "going away", finishes in-flight
    /// requests, stops.
    pub async fn stop(&self) {
        self.server.pause().await;
        self.state.shutdown.cancel();
        // Connection tasks hold their slot until their close frame is written (or the peer
        // is given up on), so an empty count means every socket got its 1001.
        let grace = Duration::from_secs(self.state.config.shutdown_grace_secs);
        if !self.state.connections.wait_until_empty(grace).await {
            tracing::warn!(
                open = self.state.connections.open(),
                "connections still open after the grace period"
            );
        }
        self.server.stop(true).await;
        self.state.store.close().await;
    }
}
