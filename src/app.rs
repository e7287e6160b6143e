//! Building and running the server. `main` and every test start the hub the same way:
//! [`Application::build`] connects and migrates the database, binds the listener (port 0
//! gives an ephemeral port) and returns before serving.

use std::{net::SocketAddr, sync::Arc, time::Duration};

use actix_web::{App, HttpServer, dev::ServerHandle, web};
use anyhow::Context;
use tokio_util::sync::CancellationToken;
use tracing_actix_web::TracingLogger;

use crate::{api, cluster::ClusterStatus, config::Config, hub::Hub, store::Store, ws};

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
            Some(pool) => {
                crate::cluster::start(
                    &config.database_url,
                    node_id,
                    pool.clone(),
                    hub.clone(),
                    shutdown.clone(),
                )
                .await?
            }
            None => ClusterStatus::single_node(node_id),
        };
        let state = AppState { config: Arc::new(config.clone()), store, hub, shutdown, cluster };
        let data = web::Data::new(state.clone());
        let workers = match config.workers {
            0 => std::thread::available_parallelism().map_or(2, |n| n.get()),
            n => n,
        };
        let server = HttpServer::new(move || {
            App::new()
                .wrap(TracingLogger::default())
                .app_data(data.clone())
                .configure(api::configure)
                .configure(crate::web::configure)
                .route("/ws", web::get().to(ws::upgrade))
                .default_service(web::to(api::not_found))
        })
        .workers(workers)
        // `main` owns the signals so that sockets get their 1001 before the server stops.
        .disable_signals()
        .shutdown_timeout(10)
        .bind(&config.bind)
        .with_context(|| format!("cannot listen on {:?} (--bind / QA_HUB_BIND)", config.bind))?;
        let addr = *server.addrs().first().ok_or_else(|| anyhow::anyhow!("bound no address"))?;
        Ok(Self { addr, state, server: server.run() })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
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
    /// Closes every WebSocket with 1001 "going away", finishes in-flight requests, stops.
    pub async fn stop(&self) {
        self.state.shutdown.cancel();
        // Give connection tasks a moment to hand their close frames to the sockets.
        tokio::time::sleep(Duration::from_millis(100)).await;
        self.server.stop(true).await;
        self.state.store.close().await;
    }
}
