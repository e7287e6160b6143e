//! qa-hub: a self-hosted real-time notification hub for Q&A sites.
//!
//! | module | concern |
//! | --- | --- |
//! | [`config`] | flags and environment variables |
//! | [`store`] | questions and answers in SQLite or Postgres |
//! | [`api`] | the REST API and its OpenAPI document |
//! | [`hub`] | who watches which question; fan-out of new answers |
//! | [`ws`] | one WebSocket connection's life |
//! | [`cluster`] | on Postgres, sharing answers between hub nodes (LISTEN/NOTIFY) |
//! | [`protocol`] | the WebSocket message format |
//! | [`web`] | the HTML pages and the browser client that keeps them live |
//! | [`metrics`] | Prometheus metrics at `/metrics` |
//! | [`limits`] | connection caps per node and per client IP |
//! | [`app`] | wiring it all into a server that `main` and tests share |

pub mod api;
pub mod app;
pub mod cluster;
pub mod config;
pub mod error;
pub mod hub;
pub mod limits;
pub mod metrics;
pub mod protocol;
pub mod store;
pub mod web;
pub mod ws;

pub use app::Application;
pub use config::Config;
