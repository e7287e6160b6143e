//! qa-hub: a self-hosted real-time notification hub for Q&A sites.
//!
//! Data walks one way: HTTP → service → store → commit → broker → hub → session → socket.
//!
//! | module | concern |
//! | --- | --- |
//! | [`config`] | flags and environment variables |
//! | [`domain`] | the shared vocabulary: parsed text, questions, answers, topics, events, the domain error |
//! | [`http`] | the front-ends: REST API, pages, WebSocket, metrics endpoint; the handlers' context |
//! | [`service`] | the use cases; the only callers of the store and the broker |
//! | [`store`] | questions, answers and the event log in SQLite or Postgres |
//! | [`broker`] | committed events to every node: local, Postgres LISTEN/NOTIFY, NATS |
//! | [`realtime`] | the hub (topic → subscribers) and the per-connection session |
//! | [`wire`] | the WebSocket message format, on the `qa-hub-protocol` crate |
//! | [`metrics`] | Prometheus metrics |
//! | [`limits`] | connection caps per node and per client IP |
//! | [`admin`] | the `user` and `token` commands |
//! | [`app`] | the composition root: wiring it all into a server that `main` and tests share |
//!
//! docs/architecture.md draws the layers and walks one answer through them.

pub mod admin;
pub mod app;
pub mod broker;
pub mod config;
pub mod domain;
pub mod http;
pub mod limits;
pub mod metrics;
pub mod realtime;
pub mod service;
pub mod store;
pub mod wire;

pub use app::Application;
pub use config::Config;
