//! Nodes on one Postgres database sharing events through NATS (`--broker nats://…`): every
//! subscriber gets every answer once and in order across NATS restarts, `/readyz` says when a
//! node is cut off, a node hears only the topics it watches, and an event that no node
//! published still arrives. Each test runs its own `nats-server` (Debian's package) on free
//! ports. Postgres only.

use serde_json::Value;
use uuid::Uuid;

use crate::common::{
    Backend, NatsServer, TestApp, TestDb, WAIT, WsClient, eventually, free_port, post_round_robin, start_on,
    stop_all, subscribers, try_start_on, tweak,
};

/// Starts `n` nodes named node-0, node-1, … on one fresh database, each with `--broker` the
/// URL that `nats(i)` gives and `--nats-sweep-secs sweep`.
async fn nats_cluster(n: usize, nats: impl Fn(usize) -> String, sweep: u64) -> Vec<TestApp> {
    let db = TestDb::new(Backend::Postgres).await;
    let config = |c: &mut qa_hub::Config, i: usize| {
        tweak(c, i);
        c.cluster.broker = Some(nats(i).parse().unwrap());
        c.cluster.nats_sweep_secs = sweep;
    };
    let mut nodes = Vec::new();
    for i in 1..n {
        nodes.push(start_on(db.shared(), |c| config(c, i)).await);
    }
    nodes.insert(0, start_on(db, |c| config(c, 0)).await);
    nodes
}

/// Waits until every node's `/readyz` answers 200 (`ready`) or 503 with the NATS sentence.
async fn all_ready(nodes: &[TestApp], ready: bool) {
    for node in nodes {
        eventually(if ready { "every node is ready" } else { "every node is not ready" }, WAIT, || async {
            let res = node.get("/readyz").await;
            if ready {
                return (res.status() == 200).then_some(());
            }
            let body: Value = (res.status() == 503).then_some(res)?.json().await.ok()?;
            let message = body["error"]["message"].as_str().unwrap_or_default();
            assert!(message.contains("NATS"), "{body}");
            Some(())
        })
        .await;
    }
}

/// Every client's next answers are exactly seqs `from..=to` of `q`, in order.
async fn all_receive(clients: &mut [WsClient], q: Uuid, from: i64, to: i64) {
    let expected: Vec<(Uuid, i64)> = (from..=to).map(|seq| (q, seq)).collect();
    for ws in clients.iter_mut() {
        assert_eq!(ws.answers(expected.len()).await, expected);
    }
}

/// The sweep is off here: what is posted while NATS is down must reach the other nodes by
/// their catch-up after the reconnect, before they say they are ready again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_subscriber_gets_each_answer_once_in_order_across_nats_restarts() {
    let mut nats = NatsServer::start().await;
    let url = nats.url();
    let nodes = nats_cluster(3, |_| url.clone(), 0).await;
    let q = nodes[0].question().await;
    let mut clients = subscribers(&nodes, 2, q).await;

    // Twice: answers while NATS runs, answers while it is down (and the nodes notice), NATS
    // back on the same port.
    let mut seen = 0;
    for (up, down) in [(50, 30), (40, 30)] {
        post_round_robin(&nodes, q, seen + 1, seen + up).await;
        nats.kill();
        let during = post_round_robin(&nodes, q, seen + up + 1, seen + up + down);
        tokio::join!(during, all_ready(&nodes, false));
        nats.run().await;
        all_ready(&nodes, true).await;
        // Ready means caught up: the answers other nodes posted while this one was cut off
        // are here without waiting for a later answer to reveal the gap.
        all_receive(&mut clients, q, seen as i64 + 1, (seen + up + down) as i64).await;
        seen += up + down;
    }
    // The rest while the nodes notice the server again; nothing is left for a restart.
    nats.kill();
    all_ready(&nodes, false).await;
    let rest = post_round_robin(&nodes, q, seen + 1, 200);
    let back = async {
        nats.run().await;
        all_ready(&nodes, true).await;
    };
    tokio::join!(rest, back);
    all_receive(&mut clients, q, seen as i64 + 1, 200).await;
    // Nothing twice: a sentinel is each client's very next message.
    nodes[2].answer(q, "sentinel").await;
    all_receive(&mut clients, q, 201, 201).await;
    stop_all(nodes).await;
}

/// Interest routing: a node subscribes on NATS only to the topics its clients watch, and
/// drops the subscription when the last of them leaves.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_hears_only_the_topics_it_watches() {
    let nats = NatsServer::start().await;
    let url = nats.url();
    let nodes = nats_cluster(3, |_| url.clone(), 0).await;
    let (q, other) = (nodes[0].question().await, nodes[0].question().await);
    let subject = |q: Uuid| format!("qa-hub.events.question.{q}");
    let received = r#"qa_hub_broker_events_received_total{path="frame"}"#;

    // Node 1 watches q, node 2 another question, node 0 nothing; node 0 posts to q.
    let mut on_1 = nodes[1].ws().await;
    on_1.subscribe_legacy(q, None).await;
    let mut on_2 = nodes[2].ws().await;
    on_2.subscribe_legacy(other, None).await;
    eventually("the nodes subscribe on NATS", WAIT, || async {
        let ok = nats.subscriptions("node-1").await == [subject(q)]
            && nats.subscriptions("node-2").await == [subject(other)]
            && nats.subscriptions("node-0").await.is_empty();
        ok.then_some(())
    })
    .await;
    for i in 1..=20 {
        nodes[0].answer(q, &format!("answer {i}")).await;
    }
    assert_eq!(on_1.answers(20).await, (1..=20).map(|seq| (q, seq)).collect::<Vec<_>>());
    assert_eq!(nodes[1].metric(received).await, 20.0, "node 1 heard each answer once");
    assert_eq!(nodes[2].metric(received).await, 0.0, "node 2 watches another question");
    assert_eq!(nodes[0].metric(received).await, 0.0, "node 0 does not hear itself");

    // Node 1's last watcher of q leaves: it unsubscribes. Node 2 starts watching q: it hears
    // q's next answer.
    drop(on_1);
    eventually("node 1 unsubscribes", WAIT, || async {
        nats.subscriptions("node-1").await.is_empty().then_some(())
    })
    .await;
    on_2.subscribe_legacy(q, None).await;
    eventually("node 2 subscribes to q too", WAIT, || async {
        (nats.subscriptions("node-2").await.len() == 2).then_some(())
    })
    .await;
    nodes[0].answer(q, "answer 21").await;
    assert_eq!(on_2.answers(1).await, vec![(q, 21)]);
    assert_eq!(nodes[2].metric(received).await, 1.0);
    assert_eq!(nodes[1].metric(received).await, 20.0, "node 1 no longer hears q");
    stop_all(nodes).await;
}

/// An event committed but never published (as if its node had crashed right after the commit)
/// reaches a subscriber that gets no later event of the topic: by the sweep. Here the nodes use
/// two unconnected NATS servers, so nothing node 1 publishes reaches node 0.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_event_that_was_never_published_arrives_by_the_sweep() {
    let (a, b) = (NatsServer::start().await, NatsServer::start().await);
    let urls = [a.url(), b.url()];
    let nodes = nats_cluster(2, |i| urls[i].clone(), 1).await;
    let q = nodes[0].question().await;
    let mut ws = nodes[0].ws().await;
    ws.subscribe_legacy(q, None).await;
    nodes[1].answer(q, "unannounced").await;
    assert_eq!(ws.answers(1).await, vec![(q, 1)]);
    assert_eq!(nodes[0].metric(r#"qa_hub_broker_events_received_total{path="frame"}"#).await, 0.0);
    stop_all(nodes).await;
}

/// A NATS server that cannot be reached, or an SQLite database, is a start-up error that names
/// the flag.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_without_its_nats_server_or_with_sqlite_does_not_start() {
    let nowhere = format!("nats://127.0.0.1:{}", free_port());
    let db = TestDb::new(Backend::Postgres).await;
    let error = try_start_on(db, |c| c.cluster.broker = Some(nowhere.parse().unwrap())).await.err().unwrap();
    assert!(error.to_string().contains("--broker (QA_HUB_BROKER)"), "{error}");
    let nats = NatsServer::start().await;
    let db = TestDb::new(Backend::Sqlite).await;
    let error =
        try_start_on(db, |c| c.cluster.broker = Some(nats.url().parse().unwrap())).await.err().unwrap();
    assert!(error.to_string().contains("needs a postgres:// DATABASE_URL"), "{error}");
}

/// The sweep reads every watched inbox in one query (`Store::events_after_each`): it must
/// return what reading each inbox on its own returns, newest `max` per topic.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sweep_reads_inboxes_in_one_batch_like_one_at_a_time() {
    use crate::common::{ISSUER, SECRET, events, inbox_socket, user};
    use qa_hub::domain::Topic;
    let db = TestDb::new(Backend::Postgres).await;
    let app = start_on(db.shared(), |c| {
        c.identity.jwt_secret = Some(SECRET.into());
        c.identity.jwt_issuer = Some(ISSUER.into());
    })
    .await;
    // Two askers; each answer to their questions lands in their inbox.
    let mut inboxes = Vec::new();
    for (asker, answers) in [("ann", 3), ("bea", 5)] {
        let token = user(asker);
        let (q, _) = app.thread(&token, &user("answerer")).await;
        for i in 1..answers {
            app.answer_as(&user(&format!("v{i}")), q, "more").await;
        }
        // All of them written (the notifier writes after the answers commit): one event per
        // answer, the entry growing.
        let (mut ws, _) = inbox_socket(&app, &token, 0).await;
        let got = events(&mut ws, &mut 0, answers).await;
        let topic: Topic = got[0]["topic"].as_str().unwrap().parse().unwrap();
        inboxes.push(topic);
    }
    let store = qa_hub::store::Store::connect(&db.url, 2, true).await.unwrap();
    for max in [1, 2, 100] {
        let mut one_at_a_time = Vec::new();
        for &topic in &inboxes {
            let all = store.events_between(topic, 0, i64::MAX, 100).await.unwrap();
            assert!(all.len() >= 3, "{topic} has its events");
            one_at_a_time.extend(all.iter().skip(all.len().saturating_sub(max as usize)).cloned());
        }
        one_at_a_time.sort_by_key(|e| (e.topic, e.seq));
        let watched: Vec<(Topic, i64)> = inboxes.iter().map(|&t| (t, 0)).collect();
        assert_eq!(store.events_after_each(&watched, max).await.unwrap(), one_at_a_time, "max {max}");
    }
    // After the head: nothing.
    let heads: Vec<(Topic, i64)> = inboxes.iter().map(|&t| (t, i64::MAX / 2)).collect();
    assert!(store.events_after_each(&heads, 100).await.unwrap().is_empty());
    store.close().await;
    app.stop().await;
}
