//! The composition root: store → broker → hub → services → HTTP. `main` and every test start
//! the hub the same way: [`Application::build`] connects and migrates the database, starts the
//! broker, binds the listener (port 0 gives an ephemeral port) and returns before serving.
//! Nothing imports this module; it imports everything.

use std::{net::SocketAddr, sync::Arc, time::Duration};

use actix_web::{App, dev::ServerHandle, web};
use tokio_util::{sync::CancellationToken, task::TaskTracker};
use tracing_actix_web::TracingLogger;

use crate::{
    broker::{self, Broker, local::LocalBroker, nats::NatsBroker, postgres::PostgresBroker},
    config::{BrokerKind, Config},
    http::{self, Context, WsSettings},
    limits::Connections,
    metrics::Metrics,
    realtime::{Hub, session, webhook},
    service::Services,
    store::Store,
};

pub struct Application {
    addr: SocketAddr,
    /// The `--metrics-bind` listener's address.
    metrics_addr: Option<SocketAddr>,
    ctx: Context,
    server: actix_web::dev::Server,
    grace: Duration,
    store: Store,
    /// The webhook workers: a stopping node waits for them to give their leases up.
    webhooks: TaskTracker,
}

impl Application {
    pub async fn build(config: Config) -> anyhow::Result<Self> {
        // The settings' values were checked as they were read; the rule across the identity
        // flags, and the key file, before anything else starts.
        let host_tokens = config.identity.host_tokens()?;
        let db = &config.database;
        let store = Store::connect(&db.database_url, db.db_pool, db.durable()).await?;
        store.migrate().await?;
        let (hub, shutdown, metrics) = (Hub::new(), CancellationToken::new(), Arc::new(Metrics::new()));
        let node_id = config.cluster.node_id();
        let deps = broker::Deps {
            node_id: node_id.clone(),
            store: store.clone(),
            hub: hub.clone(),
            metrics: metrics.clone(),
            shutdown: shutdown.clone(),
        };
        let broker: Arc<dyn Broker> = match config.cluster.broker_kind(store.backend())? {
            BrokerKind::Local => LocalBroker::new(hub.clone()),
            BrokerKind::Postgres => {
                let options = store.postgres_connect_options().ok_or_else(|| {
                    anyhow::anyhow!("--broker postgres (QA_HUB_BROKER) needs a postgres:// DATABASE_URL")
                })?;
                PostgresBroker::start(deps, options, config.cluster.notify_inline_bytes).await?
            }
            BrokerKind::Nats(url) => NatsBroker::start(deps, &url, config.cluster.nats_sweep()).await?,
        };
        broker::connect_interest(&hub, &broker)?;
        tracing::debug!(broker = broker.name(), "broker started");
        let auth = crate::service::AuthSettings { host_tokens, ..Default::default() };
        let services = Services::new(store.clone(), broker, metrics.clone(), auth)
            .allow_webhooks(config.webhooks.webhook_allow.clone());
        services.start_forgetting_keys();
        services.start_notifier();
        if config.identity.anonymous_writes {
            tracing::warn!(
                "--anonymous-writes is on: anyone can ask and answer under any name; use it for demos and load tests only"
            );
        }
        let realtime = &config.realtime;
        let ws = WsSettings {
            max_frame_bytes: realtime.max_frame_bytes,
            session: session::Limits {
                max_subscriptions: realtime.max_subscriptions,
                outbound_queue: realtime.outbound_queue,
            },
            ping_interval: realtime.ping_interval(),
            close_timeout: realtime.close_timeout(),
            write_timeout: realtime.write_timeout(),
            send_buffer: realtime.send_buffer(),
            idle_timeout: realtime.idle_timeout(),
            requests_per_second: realtime.ws_requests_per_second,
        };
        let connections = Connections::new(realtime.max_connections, realtime.max_connections_per_ip);
        let anonymous_writes = config.identity.anonymous_writes;
        let ctx = Context::new(services, hub, metrics, connections, shutdown, ws, anonymous_writes);
        let data = web::Data::new(ctx.clone());
        let settings = &config.server;
        let body_timeout = http::body::BodyTimeout(settings.body_timeout());
        // Bound before the server so that the app knows which listener is the private one.
        let metrics_listener = match &config.metrics.metrics_bind {
            Some(addr) => Some(std::net::TcpListener::bind(addr).map_err(|e| {
                anyhow::anyhow!(
                    "cannot listen on {addr:?} for metrics ({e}); choose another address with --metrics-bind or QA_HUB_METRICS_BIND"
                )
            })?),
            None => None,
        };
        let metrics_access = http::metrics::MetricsAccess {
            private: metrics_listener.as_ref().map(|l| l.local_addr()).transpose()?,
            token: config.metrics.metrics_token.clone(),
        };
        let metrics_addr = metrics_access.private;
        let trusted_proxies = http::client_ip::TrustedProxies(settings.trusted_proxies.clone());
        let allowed_origins = settings.allowed_origins.clone();
        let trusted_proxies_for_caps = trusted_proxies.clone();
        let post_limit = web::Data::from(http::rate::PostLimit::new(config.limits.posts_per_minute));
        post_limit.start_forgetting();
        let preview_limit =
            web::Data::from(http::rate::PreviewLimit::for_posts(config.limits.posts_per_minute));
        preview_limit.start_forgetting();
        let signup_limit = web::Data::from(http::rate::SignupLimit::per_hour(config.limits.signups_per_hour));
        signup_limit.start_forgetting();
        let login_limit = web::Data::from(http::rate::LoginLimit::new(
            config.limits.login_failures_per_hour,
            config.limits.login_attempts_per_minute,
        ));
        login_limit.start_forgetting();
        let app = move || {
            App::new()
                .wrap(actix_web::middleware::from_fn(http::body::bound_body_time))
                .wrap(actix_web::middleware::from_fn(http::conn_cap::refuse_over_cap))
                .wrap(actix_web::middleware::from_fn(http::metrics::track_requests))
                .wrap(TracingLogger::<http::client_ip::RequestSpan>::new())
                .app_data(data.clone())
                .app_data(body_timeout)
                .app_data(metrics_access.clone())
                .app_data(trusted_proxies.clone())
                .app_data(allowed_origins.clone())
                .app_data(post_limit.clone())
                .app_data(preview_limit.clone())
                .app_data(signup_limit.clone())
                .app_data(login_limit.clone())
                .configure(http::configure)
                .default_service(web::to(http::api::not_found))
        };
        let listeners = http::server::bind(&settings.bind).map_err(|e| {
            anyhow::anyhow!(
                "cannot listen on {:?} ({}); choose another address with --bind or QA_HUB_BIND",
                settings.bind,
                match e.kind() {
                    std::io::ErrorKind::AddrInUse => "the address is already in use".to_owned(),
                    _ => e.to_string(),
                }
            )
        })?;
        let addrs = listeners.iter().map(|l| l.local_addr()).collect::<Result<Vec<_>, _>>()?;
        let options = http::server::Options {
            workers: settings.workers(),
            // In-flight requests get this long after the sockets' grace period; the two
            // together stay within the 10 s an orchestrator typically allows before SIGKILL.
            shutdown_timeout: Duration::from_secs(4),
            on_connect: Arc::new(http::conn_cap::on_connect(
                Connections::new(usize::MAX, settings.max_http_connections_per_ip),
                trusted_proxies_for_caps,
            )),
        };
        let addr = *addrs.first().ok_or_else(|| anyhow::anyhow!("bound no address"))?;
        // Started once the listeners are bound: webhooks must not call the hub's own addresses.
        let webhook_settings = webhook::Settings {
            timeout: config.webhooks.timeout(),
            retry_max: config.webhooks.retry_max(),
            own_addresses: webhook::own_addresses(&[addrs, metrics_addr.into_iter().collect()].concat()),
        };
        let webhooks = webhook::Dispatcher::start(
            ctx.services().clone(),
            ctx.hub().clone(),
            webhook_settings,
            &node_id,
            ctx.shutdown().clone(),
        )?;
        let server =
            http::server::serve(app, listeners.into_iter().chain(metrics_listener).collect(), options)?;
        let grace = settings.shutdown_grace();
        Ok(Self { addr, metrics_addr, ctx, server, grace, store, webhooks })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Where `/metrics` is served without a token, when `--metrics-bind` is set.
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.metrics_addr
    }

    /// `sqlite` or `postgres`.
    pub fn backend(&self) -> &'static str {
        self.store.backend()
    }

    /// A handle that stops the server gracefully from elsewhere (signals, tests).
    pub fn stopper(&self) -> Stopper {
        Stopper {
            server: self.server.handle(),
            ctx: self.ctx.clone(),
            grace: self.grace,
            store: self.store.clone(),
            webhooks: self.webhooks.clone(),
        }
    }

    /// Serves until stopped.
    pub async fn run(self) -> std::io::Result<()> {
        self.server.await
    }
}

#[derive(Clone)]
pub struct Stopper {
    server: ServerHandle,
    ctx: Context,
    grace: Duration,
    store: Store,
    webhooks: TaskTracker,
}

impl Stopper {
    /// Stops accepting, closes every WebSocket with 1001 "going away", finishes in-flight
    /// requests, stops. Returns how many connections were still open when the grace period
    /// ran out (0 when every socket got its 1001 and finished).
    pub async fn stop(&self) -> usize {
        self.server.pause().await;
        self.ctx.shutdown().cancel();
        // Connection tasks hold their slot until their close frame is written (or the peer
        // is given up on), so an empty count means every socket got its 1001.
        let connections = self.ctx.connections();
        let left = if connections.wait_until_empty(self.grace).await { 0 } else { connections.open() };
        if left > 0 {
            tracing::warn!(open = left, "connections still open after the grace period");
        }
        self.server.stop(true).await;
        // The webhook workers saw the cancellation; give them a moment to release their leases
        // (one UPDATE each), so another node takes over at once instead of after 30 s.
        self.webhooks.close();
        let _ = tokio::time::timeout(Duration::from_secs(2), self.webhooks.wait()).await;
        self.store.close().await;
        left
    }
}
