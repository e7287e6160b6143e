//! Prometheus metrics, served as text at `GET /metrics`.
//!
//! Each server has its own registry (tests run many servers in one process). Everything on
//! the fan-out hot path is either a plain atomic the hub already keeps (its stats, read at
//! scrape time) or a pre-resolved metric handle: no label lookups per subscriber.
//!
//! The endpoint and the per-request middleware live with the other HTTP code, in
//! `http::metrics`.

use std::{sync::Mutex, time::Duration};

use prometheus::{
    Encoder, Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Opts,
    Registry, TextEncoder,
};

/// Why a WebSocket connection ended; the `reason` label of `qa_hub_ws_disconnects_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Disconnect {
    /// The peer closed or vanished.
    Client,
    /// The outbound queue overflowed (slow consumer), closed with 1013.
    Overflow,
    /// The server is shutting down (1001).
    Shutdown,
    /// No pong for two ping intervals.
    PingTimeout,
    /// No subscriptions and no requests for the idle timeout.
    Idle,
    /// A frame over the size limit, or a WebSocket protocol violation.
    Protocol,
    /// The database failed while catching up.
    Database,
    /// A write waited longer than the write timeout: the peer does not read (1013).
    WriteTimeout,
}

impl Disconnect {
    const ALL: [Self; 8] = [
        Self::Client,
        Self::Overflow,
        Self::Shutdown,
        Self::PingTimeout,
        Self::Idle,
        Self::Protocol,
        Self::Database,
        Self::WriteTimeout,
    ];

    fn label(self) -> &'static str {
        match self {
            Self::Client => "client",
            Self::Overflow => "overflow",
            Self::Shutdown => "shutdown",
            Self::PingTimeout => "ping_timeout",
            Self::Idle => "idle",
            Self::Protocol => "protocol",
            Self::Database => "database",
            Self::WriteTimeout => "write_timeout",
        }
    }
}

pub struct Metrics {
    registry: Registry,
    pub connections_open: IntGauge,
    /// Upgrades refused with 503 by `reason` ("node" or "ip").
    pub connections_rejected: IntCounterVec,
    pub subscriptions: IntGauge,
    pub answers_posted: IntCounter,
    /// Pre-resolved children of `qa_hub_ws_disconnects_total`, indexed like
    /// [`Disconnect::ALL`].
    disconnect_counters: Vec<IntCounter>,
    /// Commit to the frame being handed to the socket, per delivery.
    pub delivery_latency: Histogram,
    pub http_requests: IntCounterVec,
    pub http_latency: HistogramVec,
    notifications_sent: IntCounter,
    queue_overflows: IntCounter,
    db_pool_connections: IntGaugeVec,
    db_pool_idle: IntGaugeVec,
    /// Events heard from other nodes through the broker with their frame in the message.
    pub broker_frames: IntCounter,
    /// Events heard from other nodes by reference, then read from the log.
    pub broker_references: IntCounter,
    /// Events this node committed but could not hand to the broker (NATS): other nodes get
    /// them from the event log instead.
    pub broker_unpublished: IntCounter,
    /// Serialises scrapes, which copy the hub's atomics into counters.
    scrape: Mutex<()>,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

fn reg<T: prometheus::core::Collector + Clone + 'static>(registry: &Registry, metric: T) -> T {
    registry.register(Box::new(metric.clone())).expect("metric names are unique");
    metric
}

impl Metrics {
    pub fn new() -> Self {
        let r = Registry::new();
        let latency_buckets =
            vec![0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0];
        let disconnects = reg(
            &r,
            IntCounterVec::new(
                Opts::new("qa_hub_ws_disconnects_total", "WebSocket connections ended, by reason"),
                &["reason"],
            )
            .unwrap(),
        );
        let disconnect_counters =
            Disconnect::ALL.iter().map(|d| disconnects.with_label_values(&[d.label()])).collect();
        let broker_received = reg(
            &r,
            IntCounterVec::new(
                Opts::new(
                    "qa_hub_broker_events_received_total",
                    "Events heard from other nodes through the broker, by how they came: with their \
                     frame, or by reference (then read from the event log)",
                ),
                &["path"],
            )
            .unwrap(),
        );
        Self {
            broker_frames: broker_received.with_label_values(&["frame"]),
            broker_references: broker_received.with_label_values(&["reference"]),
            broker_unpublished: reg(
                &r,
                IntCounter::new(
                    "qa_hub_broker_events_unpublished_total",
                    "Events committed here that the broker could not publish (queue full, NATS refused \
                     them); the other nodes' sessions and sweeps read them from the event log",
                )
                .unwrap(),
            ),
            connections_open: reg(
                &r,
                IntGauge::new("qa_hub_ws_connections", "Open WebSocket connections").unwrap(),
            ),
            connections_rejected: reg(
                &r,
                IntCounterVec::new(
                    Opts::new(
                        "qa_hub_ws_connections_rejected_total",
                        "WebSocket upgrades refused with 503 because a connection cap was reached",
                    ),
                    &["cap"],
                )
                .unwrap(),
            ),
            subscriptions: reg(
                &r,
                IntGauge::new("qa_hub_subscriptions", "Topic subscriptions held by open connections")
                    .unwrap(),
            ),
            answers_posted: reg(
                &r,
                IntCounter::new("qa_hub_answers_posted_total", "Answers committed through the API").unwrap(),
            ),
            disconnect_counters,
            delivery_latency: reg(
                &r,
                Histogram::with_opts(
                    HistogramOpts::new(
                        "qa_hub_delivery_latency_seconds",
                        "From an answer's commit to its frame being handed to a subscriber's socket",
                    )
                    .buckets(latency_buckets.clone()),
                )
                .unwrap(),
            ),
            http_requests: reg(
                &r,
                IntCounterVec::new(
                    Opts::new(
                        "qa_hub_http_requests_total",
                        "HTTP requests by route pattern, method and status",
                    ),
                    &["route", "method", "status"],
                )
                .unwrap(),
            ),
            http_latency: reg(
                &r,
                HistogramVec::new(
                    HistogramOpts::new(
                        "qa_hub_http_request_duration_seconds",
                        "HTTP request handling time by route pattern and method",
                    )
                    .buckets(latency_buckets),
                    &["route", "method"],
                )
                .unwrap(),
            ),
            notifications_sent: reg(
                &r,
                IntCounter::new(
                    "qa_hub_notifications_sent_total",
                    "Notifications put on a subscriber's outbound queue",
                )
                .unwrap(),
            ),
            queue_overflows: reg(
                &r,
                IntCounter::new(
                    "qa_hub_queue_overflows_total",
                    "Subscribers dropped because their outbound queue was full",
                )
                .unwrap(),
            ),
            db_pool_connections: reg(
                &r,
                IntGaugeVec::new(
                    Opts::new("qa_hub_db_pool_connections", "Database connections open, by pool"),
                    &["pool"],
                )
                .unwrap(),
            ),
            db_pool_idle: reg(
                &r,
                IntGaugeVec::new(
                    Opts::new("qa_hub_db_pool_idle", "Idle database connections, by pool"),
                    &["pool"],
                )
                .unwrap(),
            ),
            registry: r,
            scrape: Mutex::new(()),
        }
    }

    pub fn disconnected(&self, why: Disconnect) {
        let i = Disconnect::ALL.iter().position(|d| *d == why).expect("listed");
        self.disconnect_counters[i].inc();
    }

    pub fn observe_delivery(&self, latency: Duration) {
        self.delivery_latency.observe(latency.as_secs_f64());
    }

    /// Renders every metric in the Prometheus text format.
    /// `sent` and `overflows` are the hub's own counts; `pools` is (pool name, connections
    /// open, of which idle) for each database pool.
    pub fn render(&self, sent: u64, overflows: u64, pools: &[(&'static str, u32, usize)]) -> String {
        let _guard = self.scrape.lock().unwrap_or_else(|p| p.into_inner());
        // The hub counts with plain atomics; bring the counters up to them.
        self.notifications_sent.inc_by(sent.saturating_sub(self.notifications_sent.get()));
        self.queue_overflows.inc_by(overflows.saturating_sub(self.queue_overflows.get()));
        for &(pool, size, idle) in pools {
            self.db_pool_connections.with_label_values(&[pool]).set(i64::from(size));
            self.db_pool_idle.with_label_values(&[pool]).set(idle as i64);
        }
        let mut out = Vec::new();
        TextEncoder::new().encode(&self.registry.gather(), &mut out).expect("text encoding cannot fail");
        String::from_utf8(out).expect("the text format is UTF-8")
    }
}
