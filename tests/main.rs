//! The integration tests, as one binary: every test starts real servers on ephemeral ports
//! and talks to them as a client would — HTTP, WebSocket, `/metrics`, a real browser — on
//! SQLite and on Postgres (`on_both_backends!`). Shared helpers are in `common`.

#[macro_use]
mod common;

mod browser;
mod client;
mod cluster;
mod db_restart;
mod events;
mod follows;
mod identity;
mod inbox;
mod list;
mod load_faults;
mod markdown;
mod nats;
mod posts;
mod rest;
mod revocation;
mod sse;
mod startup;
mod tag_pages;
mod tag_watch;
mod tags;
mod tls;
mod votes;
mod web;
mod webhooks;
mod ws;
