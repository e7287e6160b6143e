//! Several nodes on one Postgres database, as the cluster and NATS tests run them.

use futures_util::future::join_all;
use serde_json::Value;
use uuid::Uuid;

use super::{TestApp, WsClient};

/// The config of node `i`: named `node-{i}`, with a small pool.
pub fn tweak(config: &mut qa_hub::Config, i: usize) {
    config.cluster.node_id = Some(format!("node-{i}"));
    // Three nodes per test, tests in parallel: stay well inside max_connections.
    config.database.db_pool = 3;
}

/// Stops every node (their listeners too) before the database is dropped.
pub async fn stop_all(nodes: Vec<TestApp>) {
    for node in nodes.iter().rev() {
        node.stop().await;
    }
}

/// A question's answer count, over REST.
pub async fn answer_count(node: &TestApp, q: Uuid) -> i64 {
    let question: Value = node.get(&format!("/api/questions/{q}")).await.json().await.unwrap();
    question["answer_count"].as_i64().unwrap()
}

/// Subscribes `per_node` clients on every node to `q`.
pub async fn subscribers(nodes: &[TestApp], per_node: usize, q: Uuid) -> Vec<WsClient> {
    let mut clients = Vec::new();
    for node in nodes {
        for _ in 0..per_node {
            let mut ws = node.ws().await;
            ws.subscribe_legacy(q, None).await;
            clients.push(ws);
        }
    }
    clients
}

/// Posts answers `from..=to` to `q`, answer i through node i % nodes, four at a time.
pub async fn post_round_robin(nodes: &[TestApp], q: Uuid, from: usize, to: usize) {
    let posters = (0..4).map(|lane| async move {
        for i in (from..=to).filter(|i| i % 4 == lane) {
            nodes[i % nodes.len()].answer(q, &format!("answer {i}")).await;
        }
    });
    join_all(posters).await;
}
