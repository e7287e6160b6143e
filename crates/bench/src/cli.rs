//! The command line: the flags every scenario shares, and one subcommand per scenario (its
//! own flags live with the scenario, in `scenario/`).

use std::{net::SocketAddr, path::PathBuf};

use clap::{Parser, Subcommand};
use serde::{Deserialize, Serialize};

use crate::scenario::{fanout::Fanout, idle::Idle, mixed::MixedArgs, rate::Rate};

#[derive(Debug, Parser)]
#[command(name = "qa-hub-bench", about = "Load generator for a running qa-hub (loopback only)")]
pub struct Cli {
    /// The hub's address (loopback only); several, comma-separated, for the nodes of a
    /// cluster: client i connects to node i mod N, and posts go round-robin over the nodes.
    #[arg(long, default_value = "127.0.0.1:8080", value_delimiter = ',')]
    pub server: Vec<SocketAddr>,
    /// Client sockets are spread over 127.0.0.1 ..= 127.0.0.N.
    #[arg(long, default_value_t = 64)]
    pub source_addrs: u8,
    /// Most WebSocket connections one worker process holds (mind `ulimit -n`).
    #[arg(long, default_value_t = 5_000)]
    pub per_worker: usize,
    /// Connection attempts in flight per worker.
    #[arg(long, default_value_t = 128)]
    pub connect_concurrency: usize,
    /// Size of each answer body in bytes (at least the timestamp).
    #[arg(long, default_value_t = 100)]
    pub body_bytes: usize,
    /// The server's process id, to read its resident memory from /proc.
    #[arg(long)]
    pub server_pid: Option<u32>,
    /// Give up on any phase (connecting, delivery) after this many seconds.
    #[arg(long, default_value_t = 120)]
    pub timeout_secs: u64,
    /// Print the result as JSON on stdout instead of a table.
    #[arg(long)]
    pub json: bool,
    /// A file of service tokens, one per line: posts take them in turn (a token per poster),
    /// as a hub that requires identities needs. Without it posts are anonymous, which needs
    /// a hub run with `--anonymous-writes`.
    #[arg(long)]
    pub tokens: Option<PathBuf>,
    /// The hub's host-token secret (`--jwt-secret` of the server, at least 32 bytes): `mixed`
    /// signs a token per voter (and per poster, without `--tokens`), each its own user.
    #[arg(long, env = "QA_HUB_JWT_SECRET", hide_env_values = true)]
    pub jwt_secret: Option<String>,
    /// The issuer the hub expects (`--jwt-issuer` of the server).
    #[arg(long, env = "QA_HUB_JWT_ISSUER", default_value = "https://bench.example")]
    pub jwt_issuer: String,
    /// How the subscribers connect: WebSockets, or Server-Sent Events streams (`GET /sse`,
    /// one topic each).
    #[arg(long, value_enum, default_value_t = Transport::Ws)]
    pub transport: Transport,
    /// Internal: run as a worker process.
    #[arg(long, hide = true)]
    pub worker: bool,
    #[command(subcommand)]
    pub scenario: Option<Command>,
}

/// The scenarios. Serialised into the report as `{"scenario": "<name>", <its flags>…}`.
#[derive(Debug, Clone, Subcommand, Serialize)]
#[serde(tag = "scenario", rename_all = "snake_case")]
pub enum Command {
    /// N subscribers of one question; M answers posted one after another.
    Fanout(Fanout),
    /// Subscribers spread over many questions; answers posted open-loop at a fixed rate.
    Rate(Rate),
    /// N subscribed connections held open; server memory per connection.
    Idle(Idle),
    /// Answers, votes and edits mixed at a ratio, open-loop at a total rate, into the
    /// subscribers of a few questions; latency and deliveries per kind.
    Mixed(MixedArgs),
}

/// How a subscriber connects.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Transport {
    Ws,
    Sse,
}
