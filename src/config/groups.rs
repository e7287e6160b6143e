//! The settings, one struct per concern; [`Config`](super::Config) flattens them into one
//! command line. Each field is named as its flag (`--db-pool` is `db_pool`), reads the
//! environment variable beside it, and holds its value already parsed: a range, an origin
//! list, a host list is checked by clap as it reads the flag ([`parse`]). The accessors turn
//! what a flag spells in seconds or with a 0 meaning "off" into what the code uses.

use std::time::Duration;

use clap::Args;

use super::{
    AllowedOrigins,
    parse::{self, at_least},
};
use crate::domain::{HostTokens, WebhookAllow};

/// The HTTP server: where it listens, who it trusts, how long it waits.
#[derive(Debug, Clone, Args)]
pub struct Server {
    /// Address to listen on (use port 0 for an ephemeral port).
    #[arg(long, global = true, env = "QA_HUB_BIND", default_value = "127.0.0.1:8080")]
    pub bind: String,

    /// Web pages that may open a WebSocket here besides the hub's own (comma-separated
    /// origins like `https://example.com`); `*` allows any page, and must be set explicitly.
    /// A page from elsewhere gets 403 before the upgrade. Default: `self`.
    #[arg(
        long,
        global = true,
        env = "QA_HUB_ALLOWED_ORIGINS",
        default_value = "self",
        value_parser = parse::parsed::<AllowedOrigins>
    )]
    pub allowed_origins: AllowedOrigins,

    /// Proxies in front of the hub (comma-separated CIDRs, e.g. `10.0.0.0/8,::1/128`): only
    /// from these peers are `Forwarded` / `X-Forwarded-For` believed to name the client, for
    /// the connection caps and the logs. Default: none, every client is its TCP peer.
    #[arg(long, global = true, env = "QA_HUB_TRUSTED_PROXIES", value_delimiter = ',')]
    pub trusted_proxies: Vec<ipnet::IpNet>,

    /// HTTP worker threads (0: one per CPU core).
    #[arg(long, global = true, env = "QA_HUB_WORKERS", default_value_t = 0)]
    pub workers: usize,

    /// Seconds a request body may take to arrive, counted from its head; a slower one is
    /// refused with 408. At least 1.
    #[arg(long, global = true, env = "QA_HUB_BODY_TIMEOUT_SECS", default_value_t = 10, value_parser = at_least(1u64))]
    pub body_timeout_secs: u64,

    /// Most TCP connections (plain HTTP and WebSocket alike) from one client address; a
    /// client over it gets 503 on every request of its extra connections, which are then
    /// closed. Connections from `--trusted-proxies` are not counted (they carry many
    /// clients). Keep it above `--max-connections-per-ip`.
    #[arg(long, global = true, env = "QA_HUB_MAX_HTTP_CONNECTIONS_PER_IP", default_value_t = 1_100)]
    pub max_http_connections_per_ip: usize,

    /// Seconds that a graceful shutdown (SIGTERM, SIGINT) waits for WebSocket connections to
    /// finish closing before it stops the server anyway.
    #[arg(long, global = true, env = "QA_HUB_SHUTDOWN_GRACE_SECS", default_value_t = 5)]
    pub shutdown_grace_secs: u64,
}

impl Server {
    /// HTTP worker threads: `--workers`, or one per CPU core.
    pub fn workers(&self) -> usize {
        match self.workers {
            0 => std::thread::available_parallelism().map_or(2, |n| n.get()),
            n => n,
        }
    }

    pub fn body_timeout(&self) -> Duration {
        Duration::from_secs(self.body_timeout_secs)
    }

    pub fn shutdown_grace(&self) -> Duration {
        Duration::from_secs(self.shutdown_grace_secs)
    }
}

/// Where `/metrics` is served.
#[derive(Debug, Clone, Args)]
pub struct Metrics {
    /// A second address that serves `/metrics` (and only there it needs no token), for a
    /// Prometheus on the private network; port 0 picks one. Without it, and without
    /// `--metrics-token`, no port serves `/metrics`.
    #[arg(long, global = true, env = "QA_HUB_METRICS_BIND")]
    pub metrics_bind: Option<String>,

    /// Serves `/metrics` on the public address too, to requests that carry
    /// `Authorization: Bearer TOKEN`.
    #[arg(long, global = true, env = "QA_HUB_METRICS_TOKEN", hide_env_values = true, value_parser = parse::metrics_token)]
    pub metrics_token: Option<String>,
}

/// Who may write: anonymous writers, and the host site whose signed tokens name its users.
#[derive(Debug, Clone, Args)]
pub struct Identity {
    /// Let requests without an identity ask and answer, naming any author (today's demos and
    /// load tests); off by default, and a warning at start-up when on.
    #[arg(long, global = true, env = "QA_HUB_ANONYMOUS_WRITES")]
    pub anonymous_writes: bool,

    /// The secret a host site signs its users' tokens with (HS256; at least 32 bytes).
    #[arg(long, global = true, env = "QA_HUB_JWT_SECRET", hide_env_values = true)]
    pub jwt_secret: Option<String>,

    /// A PEM file with the public key a host site signs its users' tokens with (Ed25519 for
    /// EdDSA, or RSA for RS256), instead of `--jwt-secret`.
    #[arg(long, global = true, env = "QA_HUB_JWT_PUBLIC_KEY", conflicts_with = "jwt_secret")]
    pub jwt_public_key: Option<std::path::PathBuf>,

    /// The `iss` every host-signed token must carry; with the token's `sub` it names the
    /// site's user. Required with `--jwt-secret` or `--jwt-public-key`.
    #[arg(long, global = true, env = "QA_HUB_JWT_ISSUER")]
    pub jwt_issuer: Option<String>,
}

impl Identity {
    /// The verifier of host-signed tokens, when one is configured: the one rule across flags
    /// (an issuer with either key), and the key file read and parsed, once, at start.
    pub fn host_tokens(&self) -> anyhow::Result<Option<HostTokens>> {
        let issuer = || {
            self.jwt_issuer.as_deref().map(str::trim).filter(|i| !i.is_empty()).ok_or_else(|| {
                anyhow::anyhow!(
                    "--jwt-issuer (QA_HUB_JWT_ISSUER) is required with --jwt-secret or --jwt-public-key"
                )
            })
        };
        Ok(match (&self.jwt_secret, &self.jwt_public_key) {
            (Some(secret), _) => Some(
                HostTokens::hs256(secret.as_bytes(), issuer()?)
                    .map_err(|why| anyhow::anyhow!("--jwt-secret (QA_HUB_JWT_SECRET) {why}"))?,
            ),
            (None, Some(path)) => {
                let pem = std::fs::read(path).map_err(|e| {
                    anyhow::anyhow!(
                        "cannot read --jwt-public-key (QA_HUB_JWT_PUBLIC_KEY) {}: {e}",
                        path.display()
                    )
                })?;
                Some(
                    HostTokens::public_key(&pem, issuer()?)
                        .map_err(|why| anyhow::anyhow!("--jwt-public-key (QA_HUB_JWT_PUBLIC_KEY) {why}"))?,
                )
            }
            (None, None) => None,
        })
    }
}

/// Rate limits on accounts and posts (per user or per client address).
#[derive(Debug, Clone, Args)]
pub struct Limits {
    /// Accounts one client address may create per hour (all at once at most); more get 429.
    /// 0 turns the limit off.
    #[arg(long, global = true, env = "QA_HUB_SIGNUPS_PER_HOUR", default_value_t = 10)]
    pub signups_per_hour: u32,

    /// Failed log-ins one handle may have per hour; past that the handle is locked (429, with
    /// `Retry-After`) for right and wrong passwords alike. 0 turns the limit off.
    #[arg(long, global = true, env = "QA_HUB_LOGIN_FAILURES_PER_HOUR", default_value_t = 10)]
    pub login_failures_per_hour: u32,

    /// Log-in attempts one client address may make per minute (all at once at most), right
    /// or wrong: each costs an Argon2 hash. More get 429. 0 turns the limit off.
    #[arg(long, global = true, env = "QA_HUB_LOGIN_ATTEMPTS_PER_MINUTE", default_value_t = 30)]
    pub login_attempts_per_minute: u32,

    /// Posts (questions and answers, over REST and the forms) one user may make per minute, all
    /// at once at most (anonymous posts: one client address); more get 429 with `Retry-After`.
    /// 0 turns the limit off.
    #[arg(long, global = true, env = "QA_HUB_POSTS_PER_MINUTE", default_value_t = 30)]
    pub posts_per_minute: u32,
}

/// Which hosts webhooks may call, and how patiently.
#[derive(Debug, Clone, Args)]
pub struct Webhooks {
    /// Hosts webhooks may call (comma-separated): `hooks.example.com`, `example.com:8443`,
    /// `*.example.com`, `10.1.2.3`. Anything else is refused at registration and never called,
    /// so the hub cannot be made to reach other addresses on its network. A name that
    /// resolves to a loopback, private, link-local or the hub's own address is not called
    /// unless that address is listed too. Default: none (webhooks are off).
    // No default shown: the help says it.
    #[arg(
        long,
        global = true,
        env = "QA_HUB_WEBHOOK_ALLOW",
        default_value = "",
        hide_default_value = true,
        value_parser = parse::parsed::<WebhookAllow>
    )]
    pub webhook_allow: WebhookAllow,

    /// Seconds one webhook POST may take, connecting included, before it counts as failed.
    #[arg(long, global = true, env = "QA_HUB_WEBHOOK_TIMEOUT_SECS", default_value_t = 10, value_parser = at_least(1u64))]
    pub webhook_timeout_secs: u64,

    /// The longest wait, in seconds, between two attempts at a failing webhook endpoint (the
    /// wait doubles from 1 s after each failure in a row).
    #[arg(long, global = true, env = "QA_HUB_WEBHOOK_RETRY_MAX_SECS", default_value_t = 300, value_parser = at_least(1u64))]
    pub webhook_retry_max_secs: u64,
}

impl Webhooks {
    pub fn timeout(&self) -> Duration {
        Duration::from_secs(self.webhook_timeout_secs)
    }

    pub fn retry_max(&self) -> Duration {
        Duration::from_secs(self.webhook_retry_max_secs)
    }
}

/// The database and how it is used.
#[derive(Debug, Clone, Args)]
pub struct Database {
    /// Database: `sqlite://FILE` (created on first run) or `postgres://USER@HOST/DB`.
    #[arg(long, global = true, env = "DATABASE_URL", default_value = "sqlite://qa-hub.db")]
    pub database_url: String,

    /// Largest number of database connections in the pool.
    #[arg(long, global = true, env = "QA_HUB_DB_POOL", default_value_t = 10, value_parser = at_least(1u32))]
    pub db_pool: u32,

    /// SQLite: when a commit counts as done. `full` (the default) syncs the write-ahead log to
    /// disk at every commit, so a committed answer and its seq survive a power loss; `normal`
    /// syncs only at checkpoints, faster, and a power loss (not a crash of the process) can
    /// lose the last commits and let their seqs be handed out again, which breaks exact
    /// resume for clients that saw them.
    #[arg(long, global = true, env = "QA_HUB_SQLITE_SYNCHRONOUS", value_enum, default_value_t = Durability::Full)]
    pub sqlite_synchronous: Durability,
}

impl Database {
    /// Whether an SQLite commit waits for the disk (`--sqlite-synchronous full`).
    pub fn durable(&self) -> bool {
        self.sqlite_synchronous == Durability::Full
    }
}

/// When an SQLite commit counts as done (see `sqlite_synchronous`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Durability {
    Full,
    Normal,
}

/// WebSocket and event-stream connections: how many, how big, how often, how long.
#[derive(Debug, Clone, Args)]
pub struct Realtime {
    /// Most WebSocket connections this node holds; more are refused with 503 before the
    /// upgrade. Keep it under the process's open-file limit (`ulimit -n`).
    #[arg(long, global = true, env = "QA_HUB_MAX_CONNECTIONS", default_value_t = 19_000, value_parser = at_least(1usize))]
    pub max_connections: usize,

    /// Most WebSocket connections from one client IP address; more are refused with 503.
    #[arg(long, global = true, env = "QA_HUB_MAX_CONNECTIONS_PER_IP", default_value_t = 1_000, value_parser = at_least(1usize))]
    pub max_connections_per_ip: usize,

    /// Most questions one WebSocket connection may subscribe to at once.
    #[arg(long, global = true, env = "QA_HUB_MAX_SUBSCRIPTIONS", default_value_t = 100, value_parser = at_least(1usize))]
    pub max_subscriptions: usize,

    /// Largest WebSocket message a client may send, in bytes, in one frame or in fragments
    /// together; bigger ones close with 1009.
    #[arg(long, global = true, env = "QA_HUB_MAX_FRAME_BYTES", default_value_t = 64 * 1024, value_parser = at_least(256usize))]
    pub max_frame_bytes: usize,

    /// Notifications queued for one connection before it counts as too slow and is closed
    /// with 1013.
    #[arg(long, global = true, env = "QA_HUB_OUTBOUND_QUEUE", default_value_t = 1024, value_parser = at_least(1usize))]
    pub outbound_queue: usize,

    /// Requests (subscribe, unsubscribe…) one WebSocket connection may send per second, as a
    /// burst too; more get an `error` with code `rate_limited`. 0 turns the limit off.
    #[arg(long, global = true, env = "QA_HUB_WS_REQUESTS_PER_SECOND", default_value_t = 20)]
    pub ws_requests_per_second: u32,

    /// Seconds between server pings; a peer silent for two intervals is dropped.
    #[arg(long, global = true, env = "QA_HUB_PING_INTERVAL_SECS", default_value_t = 30, value_parser = at_least(1u64))]
    pub ping_interval_secs: u64,

    /// Seconds after which a connection with no subscriptions that sent no request is closed
    /// (1000 "idle"); 0 disables.
    #[arg(long, global = true, env = "QA_HUB_IDLE_TIMEOUT_SECS", default_value_t = 60)]
    pub idle_timeout_secs: u64,

    /// Seconds one WebSocket write may wait for a peer that does not read (its buffers full)
    /// before the connection is closed with 1013; at least 1.
    #[arg(long, global = true, env = "QA_HUB_WRITE_TIMEOUT_SECS", default_value_t = 10, value_parser = at_least(1u64))]
    pub write_timeout_secs: u64,

    /// Seconds a closing WebSocket or event stream has to take what is queued for it (and the
    /// close frame) before its connection is cut off (socket reset).
    #[arg(long, global = true, env = "QA_HUB_CLOSE_TIMEOUT_SECS", default_value_t = 10)]
    pub close_timeout_secs: u64,

    /// The kernel's send buffer for each WebSocket and event stream, in bytes (the kernel
    /// doubles it for its bookkeeping). Fixed, so that a client that stops reading cannot make
    /// the kernel grow it to megabytes on our side; 0 leaves the kernel's autotuning on.
    #[arg(long, global = true, env = "QA_HUB_SEND_BUFFER_BYTES", default_value_t = 65_536)]
    pub send_buffer_bytes: usize,
}

impl Realtime {
    pub fn ping_interval(&self) -> Duration {
        Duration::from_secs(self.ping_interval_secs)
    }

    /// `None` when idle connections are kept forever.
    pub fn idle_timeout(&self) -> Option<Duration> {
        (self.idle_timeout_secs > 0).then(|| Duration::from_secs(self.idle_timeout_secs))
    }

    pub fn write_timeout(&self) -> Duration {
        Duration::from_secs(self.write_timeout_secs)
    }

    pub fn close_timeout(&self) -> Duration {
        Duration::from_secs(self.close_timeout_secs)
    }

    /// `None` leaves the kernel's autotuning on.
    pub fn send_buffer(&self) -> Option<usize> {
        Some(self.send_buffer_bytes).filter(|&bytes| bytes > 0)
    }
}

/// Several nodes on one database: how each is named and how events reach the others.
#[derive(Debug, Clone, Args)]
pub struct Cluster {
    /// This node's name among several sharing one Postgres database (letters, digits, `.`,
    /// `_`, `-`; at most 40); its listener shows in pg_stat_activity as
    /// `qa-hub-listener:NODE_ID`, its NATS connection (with `--broker nats://…`) as
    /// `qa-hub:NODE_ID`. Default: a random one.
    #[arg(long, global = true, env = "QA_HUB_NODE_ID", value_parser = parse::node_id)]
    pub node_id: Option<String>,

    /// How committed events reach the other nodes: `postgres` (LISTEN/NOTIFY on the database),
    /// a NATS server's URL `nats://HOST:PORT` (every node on the same database and the same
    /// NATS; Postgres only), or `local` (this node only). Default: `postgres` on a Postgres
    /// database, else `local`.
    #[arg(long, global = true, env = "QA_HUB_BROKER")]
    pub broker: Option<BrokerKind>,

    /// NATS broker: every this many seconds each node compares the topics it watches with the
    /// event log and publishes what it missed (events committed on a node that crashed before
    /// publishing them); one query per 1,000 watched questions. 0 turns the sweep off: such an
    /// event then waits for the topic's next event.
    #[arg(long, global = true, env = "QA_HUB_NATS_SWEEP_SECS", default_value_t = 5)]
    pub nats_sweep_secs: u64,

    /// Postgres broker: events whose frame is shorter than this many bytes travel in the
    /// NOTIFY payload (other nodes need no database read); longer ones go by reference. At most
    /// 8000 (Postgres' limit); 0 sends every event by reference. The default is where the two
    /// paths cost the same in docs/scaling.md's measurements: larger payloads slow every
    /// notifying commit more than the read they save.
    #[arg(long, global = true, env = "QA_HUB_NOTIFY_INLINE_BYTES", default_value_t = 3000)]
    pub notify_inline_bytes: usize,
}

impl Cluster {
    /// The configured node id, or a random one (it only needs to be unique among nodes).
    pub fn node_id(&self) -> String {
        self.node_id.clone().unwrap_or_else(|| uuid::Uuid::new_v4().simple().to_string()[..12].to_owned())
    }

    /// The broker to use on a database of `backend` (`sqlite`, `postgres`): a rule across
    /// `--broker` and `--database-url`, checked once the database has said what it is.
    pub fn broker_kind(&self, backend: &str) -> anyhow::Result<BrokerKind> {
        match (&self.broker, backend) {
            (None, "postgres") => Ok(BrokerKind::Postgres),
            (None, _) => Ok(BrokerKind::Local),
            (Some(BrokerKind::Postgres), "sqlite") => {
                anyhow::bail!(
                    "--broker postgres (QA_HUB_BROKER) needs a postgres:// DATABASE_URL (--database-url)"
                )
            }
            // SQLite is one file on one machine: there is one node, nothing to share, and a
            // broker would only add a way to be "not ready".
            (Some(BrokerKind::Nats(_)), "sqlite") => {
                anyhow::bail!(
                    "--broker nats://… (QA_HUB_BROKER) needs a postgres:// DATABASE_URL (--database-url): \
                     an SQLite database serves one node only; use --broker local"
                )
            }
            (Some(kind), _) => Ok(kind.clone()),
        }
    }

    /// NATS broker: `None` when the sweep is off.
    pub fn nats_sweep(&self) -> Option<Duration> {
        (self.nats_sweep_secs > 0).then(|| Duration::from_secs(self.nats_sweep_secs))
    }
}

/// The brokers qa-hub can use (see `broker`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BrokerKind {
    /// This node only: SQLite, or one node on Postgres.
    Local,
    /// Postgres LISTEN/NOTIFY: every node on the same database.
    Postgres,
    /// NATS at this `nats://` URL: every node on the same database and the same NATS.
    Nats(String),
}

impl std::str::FromStr for BrokerKind {
    type Err = String;

    /// `local`, `postgres`, or a `nats://HOST[:PORT]` URL (user and password may be in it).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "local" => Ok(Self::Local),
            "postgres" => Ok(Self::Postgres),
            _ if s.starts_with("nats://") => match url::Url::parse(s) {
                Ok(url) if url.host_str().is_some_and(|h| !h.is_empty()) => Ok(Self::Nats(s.to_owned())),
                // The URL itself is not repeated: it may hold a password.
                _ => Err("a nats:// URL needs a host, as in nats://127.0.0.1:4222 (QA_HUB_BROKER)".into()),
            },
            _ => Err("expected `local`, `postgres` or a `nats://HOST:PORT` URL (QA_HUB_BROKER)".into()),
        }
    }
}
