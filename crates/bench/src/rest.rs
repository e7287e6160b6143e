//! The writing side's plumbing: REST clients on pools of keep-alive connections (the parent
//! posts thousands of answers a second), the posters' identities, the questions a run
//! creates, and the answer bodies that carry their own send time.

use std::{net::SocketAddr, path::Path, time::Duration};

use anyhow::Context;
use futures_util::{StreamExt, stream};
use qa_hub_client::{Client, NewAnswer, NewQuestion};
use uuid::Uuid;

use crate::cli::Cli;

/// A REST client for the hub with at most `connections` idle keep-alive connections. The server
/// closes connections idle for 5 s; one idle for 2 s is dropped here rather than raced
/// against that close.
pub fn rest_client(server: SocketAddr, connections: usize) -> anyhow::Result<Client> {
    let http = Client::http_builder()
        .pool_max_idle_per_host(connections)
        .pool_idle_timeout(Duration::from_secs(2))
        .tcp_nodelay(true)
        .build()?;
    Ok(Client::with_http(&format!("http://{server}"), http)?)
}

/// The posters of a run: one per `--tokens` line (one anonymous client without tokens) on
/// each node, each node with its own pool of `connections`; poster k posts through node
/// k mod N.
pub fn posters_per_node(cli: &Cli, connections: usize) -> anyhow::Result<Vec<Client>> {
    let mut per_node = Vec::new();
    for server in &cli.server {
        per_node.push(posters(&rest_client(*server, connections)?, cli.tokens.as_deref())?);
    }
    let per = per_node.first().map_or(0, Vec::len);
    Ok((0..per * per_node.len()).map(|k| per_node[k % per_node.len()][k / per_node.len()].clone()).collect())
}

/// One client per poster, each with its own token (`--tokens`), all on one connection pool;
/// without tokens, one anonymous client.
fn posters(client: &Client, tokens: Option<&Path>) -> anyhow::Result<Vec<Client>> {
    let Some(path) = tokens else { return Ok(vec![client.clone()]) };
    let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let clients: Vec<Client> =
        text.lines().map(str::trim).filter(|t| !t.is_empty()).map(|t| client.clone().with_token(t)).collect();
    anyhow::ensure!(!clients.is_empty(), "{} holds no token", path.display());
    Ok(clients)
}

/// Creates `n` questions, 16 at a time.
pub async fn create_questions(client: &Client, n: usize) -> anyhow::Result<Vec<Uuid>> {
    let question =
        NewQuestion { title: "Benchmark question".into(), body: "Load test.".into(), author: "bench".into() };
    let created: Vec<anyhow::Result<Vec<Uuid>>> = stream::iter(0..16.min(n.max(1)))
        .map(|lane| {
            let question = &question;
            async move {
                let mut ids = Vec::new();
                for _ in (lane..n).step_by(16) {
                    ids.push(client.ask(question).await.context("creating a question")?.id);
                }
                Ok(ids)
            }
        })
        .buffer_unordered(16)
        .collect()
        .await;
    let mut ids = Vec::with_capacity(n);
    for lane in created {
        ids.extend(lane?);
    }
    Ok(ids)
}

/// An answer of `bytes` bytes whose text starts with `t<sent_us>`, which the workers read
/// the delivery latency from.
pub fn answer_body(sent_us: u64, bytes: usize) -> NewAnswer {
    let mut text = format!("t{sent_us} ");
    if text.len() < bytes {
        text.extend(std::iter::repeat_n('x', bytes - text.len()));
    }
    NewAnswer { body: text, author: "bench".into() }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_carry_the_time_and_the_size() {
        let a = answer_body(1_700_000_000_000_000, 100);
        assert!(a.body.starts_with("t1700000000000000 "));
        assert_eq!(a.body.len(), 100);
        assert_eq!(answer_body(7, 0).body, "t7 ");
    }
}
