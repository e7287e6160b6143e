//! Test harness: each test gets its own server on an ephemeral port and its own fresh
//! database, and talks to it over real HTTP, WebSocket and event-stream connections. Test
//! modules import helpers from here only, never from each other. By concern:
//!
//! - [`app`]: the test app (start it, tweak its config) and the verbs tests use on it;
//! - [`db`]: the backends, [`on_both_backends!`], a fresh database per test;
//! - [`users`]: host-signed tokens, accounts and service tokens, log-in sessions;
//! - [`sockets`]: the WebSocket and SSE clients, `subscribe`, a proxy that refuses upgrades;
//! - [`wait`]: [`eventually`], the one way to wait for state without an event;
//! - [`browser`]: a headless Chromium of a test's own, for the pages;
//! - [`cluster`]: several nodes on one database; [`nats`]: a `nats-server` of a test's own.
#![allow(dead_code)]

pub mod app;
pub mod browser;
pub mod cluster;
#[macro_use]
pub mod db;
pub mod nats;
pub mod sockets;
pub mod users;
pub mod wait;

pub use app::*;
pub use browser::*;
pub use cluster::*;
pub use db::*;
pub use nats::*;
pub use sockets::*;
pub use users::*;
pub use wait::*;
