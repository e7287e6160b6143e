//! Tags: a question carries one to five, given when it is asked, checked against the rules
//! (422 with the rule), returned as stored, and announced with it on the list of questions and
//! on each tag's own topic (`tag:{name}`), which resumes exactly like every topic.

use std::time::Duration;

use futures_util::future::join_all;
use reqwest::Method;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::common::{Backend, SseClient, TestApp, WsClient, events, hub, id_of, user};

/// Asks a question with `tags` as `token`'s user; returns its id.
async fn ask_tagged(app: &TestApp, token: &str, title: &str, tags: &[&str]) -> Uuid {
    let body = json!({"title": title, "body": "b", "tags": tags});
    let (status, q) = app.send(Method::POST, "/api/questions", Some(token), body).await;
    assert_eq!(status, 201, "{q}");
    id_of(&q)
}

/// Nothing more arrives on `ws` for a moment.
async fn nothing_more(ws: &mut WsClient) {
    if let Some(more) = ws.recv_within(Duration::from_millis(200)).await {
        panic!("nothing more expected, got {more}");
    }
}

/// Every event of `topic` from `after` on, read by a new subscriber: exactly `upto - after`
/// of them, contiguous, then nothing.
async fn resume(app: &TestApp, topic: &str, after: i64, upto: i64) -> Vec<Value> {
    let mut ws = app.ws().await;
    let head = ws.subscribe(topic, Some(after)).await;
    assert_eq!(head, upto, "the head of {topic}");
    let mut last = after;
    let got = events(&mut ws, &mut last, (upto - after) as usize).await;
    nothing_more(&mut ws).await;
    got
}

async fn a_question_keeps_its_tags_and_the_list_announces_them(backend: Backend) {
    let app = hub(backend).await;
    let ann = user("ann");
    let mut list = app.ws().await;
    let mut last = list.subscribe("questions", None).await;

    let (status, asked) = app
        .send(
            Method::POST,
            "/api/questions",
            Some(&ann),
            json!({"title": "Tagged", "body": "b", "tags": ["Rust", "tokio", "rust", "c#"]}),
        )
        .await;
    assert_eq!(status, 201, "{asked}");
    assert_eq!(asked["tags"], json!(["rust", "tokio", "c#"]), "folded to lower case, each once, in order");
    let path = format!("/api/questions/{}", asked["id"].as_str().unwrap());
    let fetched: Value = app.get(&path).await.json().await.unwrap();
    assert_eq!(fetched["tags"], asked["tags"]);

    // A client built before tags sends none: the question has none.
    let (status, untagged) =
        app.send(Method::POST, "/api/questions", Some(&ann), json!({"title": "Plain", "body": "b"})).await;
    assert_eq!((status, &untagged["tags"]), (201, &json!([])));

    let got = events(&mut list, &mut last, 2).await;
    assert_eq!(got[0]["question"]["tags"], json!(["rust", "tokio", "c#"]), "{got:?}");
    assert_eq!(got[1]["question"]["tags"], json!([]), "{got:?}");
    // A resume reads the summary back from the log with its tags.
    let mut again = app.ws().await;
    again.subscribe("questions", Some(0)).await;
    let mut from = 0;
    assert_eq!(events(&mut again, &mut from, 2).await, got);
}

async fn tags_that_break_the_rules_are_refused_with_the_rule(backend: Backend) {
    let app = hub(backend).await;
    let ann = user("ann");
    for (tags, says) in [
        (json!([]), "1 to 5 tags"),
        (json!(["a", "b", "c", "d", "e", "f"]), "1 to 5 tags"),
        (json!(["two words"]), "a-z, 0-9"),
        (json!(["-rust"]), "a-z, 0-9"),
        (json!(["a234567890123456789012345678901234567"]), "1 to 35 characters"),
        (json!(["rüst"]), "a-z, 0-9"),
    ] {
        let (status, body) = app
            .send(
                Method::POST,
                "/api/questions",
                Some(&ann),
                json!({"title": "T", "body": "b", "tags": tags}),
            )
            .await;
        assert_eq!(status, 422, "{tags} → {body}");
        let message = body["error"]["message"].as_str().unwrap();
        assert!(message.contains(says), "{tags} → {message}");
    }
    let (status, body) = app
        .send(Method::POST, "/api/questions", Some(&ann), json!({"title": "T", "body": "b", "tags": "rust"}))
        .await;
    assert_eq!(status, 422, "a string is not a list of tags: {body}");
    let listed: Value = app.get("/api/questions").await.json().await.unwrap();
    assert_eq!(listed["items"], json!([]), "nothing refused was stored");
}

/// Each tag has its own topic with its own seqs: a question asked with two tags is a
/// `question` event on both (the same summary as on `questions`), a tag nobody used yet can be
/// watched from 0, and names with `.` and `#` are topics like any other.
async fn asking_announces_the_question_on_each_of_its_tags(backend: Backend) {
    let app = hub(backend).await;
    let ann = user("ann");
    let mut net = app.ws().await;
    let mut net_seq = net.subscribe("tag:asp.net-core", None).await;
    let mut sharp = app.ws().await;
    // Upper case is folded as in a tag's name: the topic is `tag:c#`.
    let reply = sharp.subscribe_reply("tag:C#", Some(0)).await;
    assert_eq!(
        (reply["type"].as_str(), reply["topic"].as_str()),
        (Some("subscribed"), Some("tag:c#")),
        "{reply}"
    );
    let mut sharp_seq = reply["seq"].as_i64().unwrap();
    assert_eq!((net_seq, sharp_seq), (0, 0), "a tag nobody used is a topic at 0");
    let reply = app.ws().await.subscribe_reply("tag:-nope", None).await;
    assert_eq!(
        (reply["type"].as_str(), reply["code"].as_str()),
        (Some("error"), Some("invalid_topic")),
        "{reply}"
    );

    let first = ask_tagged(&app, &ann, "Both", &["asp.net-core", "c#"]).await;
    let second = ask_tagged(&app, &ann, "One", &["c#"]).await;
    let got = events(&mut sharp, &mut sharp_seq, 2).await;
    assert_eq!(
        got.iter()
            .map(|e| (e["type"].clone(), e["topic"].clone(), e["question"]["id"].clone()))
            .collect::<Vec<_>>(),
        [
            (json!("question"), json!("tag:c#"), json!(first)),
            (json!("question"), json!("tag:c#"), json!(second))
        ]
    );
    assert_eq!(got[0]["question"]["tags"], json!(["asp.net-core", "c#"]));
    assert_eq!(got[0]["question"]["title"], "Both");
    let on_net = events(&mut net, &mut net_seq, 1).await;
    assert_eq!(
        (on_net[0]["topic"].as_str(), &on_net[0]["question"]["id"]),
        (Some("tag:asp.net-core"), &json!(first))
    );
    nothing_more(&mut net).await;

    // The list has both, with the same summary.
    let mut list = app.ws().await;
    list.subscribe("questions", Some(0)).await;
    let mut from = 0;
    let listed = events(&mut list, &mut from, 2).await;
    assert_eq!(listed[0]["question"], got[0]["question"]);
}

/// A resume of a tag's topic from any seq, 0 to the last, gives exactly the events after it.
async fn a_tag_topic_resumes_exactly_from_every_seq(backend: Backend) {
    let app = hub(backend).await;
    let ann = user("ann");
    for (i, tags) in
        [&["rust"][..], &["go"], &["rust", "tokio"], &["tokio", "rust"], &["rust"]].iter().enumerate()
    {
        ask_tagged(&app, &ann, &format!("Q{i}"), tags).await;
    }
    let all = resume(&app, "tag:rust", 0, 4).await;
    assert!(all.iter().all(|e| e["type"] == "question" && e["topic"] == "tag:rust"), "{all:?}");
    let titles: Vec<_> = all.iter().map(|e| e["question"]["title"].as_str().unwrap()).collect();
    assert_eq!(titles, ["Q0", "Q2", "Q3", "Q4"]);
    for after in 0..=4 {
        assert_eq!(resume(&app, "tag:rust", after, 4).await, all[after as usize..], "after {after}");
    }
}

/// Asks with overlapping tags in every order, at once: on Postgres each takes its tags' rows
/// in one order, so none deadlocks (a deadlock would be a 503), and every count and every
/// topic's seqs come out exact.
async fn concurrent_asks_with_overlapping_tags_all_succeed(backend: Backend) {
    let app = hub(backend).await;
    let ann = user("ann");
    let orders: [&[&str]; 6] = [
        &["alpha", "beta", "gamma"],
        &["gamma", "beta", "alpha"],
        &["beta", "alpha"],
        &["gamma", "alpha", "beta"],
        &["beta", "gamma"],
        &["alpha", "gamma"],
    ];
    let asks = (0..24).map(|i| {
        let (app, ann, tags) = (&app, &ann, orders[i % orders.len()]);
        async move {
            let body = json!({"title": format!("Q{i}"), "body": "b", "tags": tags});
            app.send(Method::POST, "/api/questions", Some(ann), body).await
        }
    });
    for (status, body) in join_all(asks).await {
        assert_eq!(status, 201, "{body}");
    }
    // Each tag is in 5 of the 6 orders: 20 questions each.
    for tag in ["alpha", "beta", "gamma"] {
        let got = resume(&app, &format!("tag:{tag}"), 0, 20).await;
        assert!(got.iter().all(|e| e["type"] == "question"), "{got:?}");
    }
}

/// An event stream takes a tag's topic like any other, and its ids resume it.
async fn an_event_stream_follows_a_tag(backend: Backend) {
    let app = hub(backend).await;
    let ann = user("ann");
    let first = ask_tagged(&app, &ann, "Before", &["c#"]).await;
    let mut sse = SseClient::open(&app, "tag:c%23,questions", Some("tag:c#=0,questions=1"), None).await;
    let second = ask_tagged(&app, &ann, "After", &["c#", "rust"]).await;
    let mut got = Vec::new();
    while got.len() < 3 {
        let (id, data) = sse.next().await;
        if data["type"] != "subscribed" {
            got.push((id.unwrap_or_else(|| panic!("an event with an id: {data}")), data));
        }
    }
    let on_tag: Vec<_> = got
        .iter()
        .filter(|(_, e)| e["topic"] == "tag:c#")
        .map(|(_, e)| e["question"]["id"].clone())
        .collect();
    assert_eq!(on_tag, [json!(first), json!(second)], "{got:?}");
    let (last_id, _) = got.last().unwrap();
    assert!(last_id.contains("tag:c#=2"), "{last_id}");
}

/// PATCHes question `q`'s tags (and nothing else) as `token`'s user: (status, reply).
async fn retag(app: &TestApp, token: &str, q: Uuid, tags: &[&str]) -> (u16, Value) {
    app.send(Method::PATCH, &format!("/api/questions/{q}"), Some(token), json!({"tags": tags})).await
}

/// How many live questions carry `tag`, as stored: its count, and its `question_tags` rows.
async fn stored_count(app: &TestApp, tag: &str) -> (i64, i64) {
    let count = app
        .db
        .count(&format!("SELECT COALESCE((SELECT question_count FROM tags WHERE name = '{tag}'), 0)"))
        .await;
    let rows = app.db.count(&format!("SELECT count(*) FROM question_tags WHERE tag = '{tag}'")).await;
    (count, rows)
}

/// An edit's tags follow the asking rules (422 with the rule), and only a question has tags.
async fn an_edits_tags_are_checked_like_asking(backend: Backend) {
    let app = hub(backend).await;
    let ann = user("ann");
    let q = ask_tagged(&app, &ann, "T", &["rust"]).await;
    for (tags, says) in [
        (json!([]), "1 to 5 tags"),
        (json!(["a", "b", "c", "d", "e", "f"]), "1 to 5 tags"),
        (json!(["two words"]), "a-z, 0-9"),
        (json!(["c#", "-x"]), "\"-x\" is not a tag name"),
    ] {
        let path = format!("/api/questions/{q}");
        let (status, body) = app.send(Method::PATCH, &path, Some(&ann), json!({"tags": tags})).await;
        assert_eq!(status, 422, "{tags} → {body}");
        let message = body["error"]["message"].as_str().unwrap();
        assert!(message.contains(says), "{tags} → {message}");
    }
    let a = app.answer_as(&user("bob"), q, "An answer").await;
    let (status, body) = app
        .send(
            Method::PATCH,
            &format!("/api/answers/{a}"),
            Some(&user("bob")),
            json!({"body": "x", "tags": ["rust"]}),
        )
        .await;
    assert_eq!(status, 422, "{body}");
    assert!(body["error"]["message"].as_str().unwrap().contains("An answer has no tags"), "{body}");
    let question: Value = app.get(&format!("/api/questions/{q}")).await.json().await.unwrap();
    assert_eq!(
        (question["tags"].clone(), question["revision"].as_i64()),
        (json!(["rust"]), Some(1)),
        "nothing changed"
    );
    assert_eq!(stored_count(&app, "rust").await, (1, 1));
}

/// A retag moves the question between tags: the question's `edit` carries the new tags, the
/// tag added gets a `question` event, the tag removed a `question-delete`; the counts and the
/// revisions follow. An edit that leaves the tags alone says nothing of them.
async fn a_retag_is_announced_on_the_question_and_on_both_tags(backend: Backend) {
    let app = hub(backend).await;
    let ann = user("ann");
    let q = ask_tagged(&app, &ann, "Moving", &["rust", "tokio"]).await;
    let mut question = app.ws().await;
    let mut question_seq = question.subscribe(&format!("question:{q}"), None).await;
    let mut rust = app.ws().await;
    let mut rust_seq = rust.subscribe("tag:rust", None).await;
    let mut go = app.ws().await;
    let mut go_seq = go.subscribe("tag:go", None).await;
    assert_eq!((rust_seq, go_seq), (1, 0));

    let (status, revision) = retag(&app, &ann, q, &["tokio", "Go"]).await;
    assert_eq!(status, 200, "{revision}");
    assert_eq!((revision["revision"].as_i64(), &revision["tags"]), (Some(2), &json!(["tokio", "go"])));
    let edit = events(&mut question, &mut question_seq, 1).await.remove(0);
    assert_eq!(
        (edit["type"].as_str(), &edit["tags"], edit["title"].as_str()),
        (Some("edit"), &json!(["tokio", "go"]), Some("Moving"))
    );
    let joined = events(&mut go, &mut go_seq, 1).await.remove(0);
    assert_eq!(
        (
            joined["type"].as_str(),
            &joined["question"]["id"],
            &joined["question"]["tags"],
            joined["question"]["title"].as_str()
        ),
        (Some("question"), &json!(q), &json!(["tokio", "go"]), Some("Moving"))
    );
    let left = events(&mut rust, &mut rust_seq, 1).await.remove(0);
    assert_eq!(left, json!({"type": "question-delete", "topic": "tag:rust", "seq": 2, "question_id": q}));
    // tokio kept it: nothing there.
    assert_eq!(resume(&app, "tag:tokio", 0, 1).await.len(), 1);
    assert_eq!(stored_count(&app, "rust").await, (0, 0));
    assert_eq!(stored_count(&app, "go").await, (1, 1));
    assert_eq!(stored_count(&app, "tokio").await, (1, 1));

    // The same tags again change nothing; a title edit says nothing of the tags.
    let (status, same) = retag(&app, &ann, q, &["tokio", "go"]).await;
    assert_eq!((status, same["revision"].as_i64()), (200, Some(2)));
    let (status, _) =
        app.send(Method::PATCH, &format!("/api/questions/{q}"), Some(&ann), json!({"title": "Moved"})).await;
    assert_eq!(status, 200);
    let titled = events(&mut question, &mut question_seq, 1).await.remove(0);
    assert_eq!((titled["title"].as_str(), titled.get("tags")), (Some("Moved"), None), "{titled}");
    nothing_more(&mut go).await;
    // A resume reads the retag's edit back with its tags.
    let replayed = resume(&app, &format!("question:{q}"), 0, 2).await;
    assert_eq!(replayed[0], edit);

    // Each revision of a question shows its tags; revision 1 the tags it was asked with.
    let (_, revisions) =
        app.send(Method::GET, &format!("/api/questions/{q}/revisions"), None, Value::Null).await;
    let tags: Vec<_> = revisions["items"].as_array().unwrap().iter().map(|r| r["tags"].clone()).collect();
    assert_eq!(tags, [json!(["rust", "tokio"]), json!(["tokio", "go"]), json!(["tokio", "go"])]);
    let a = app.answer_as(&user("bob"), q, "An answer").await;
    let (_, revisions) =
        app.send(Method::GET, &format!("/api/answers/{a}/revisions"), None, Value::Null).await;
    assert_eq!(revisions["items"][0].get("tags"), None, "an answer has none: {revisions}");
}

/// A deleted question leaves its tags (counts, `question-delete`), and its `question` events
/// on every tag it was ever on are redacted: no resume returns its title. Every tag topic
/// still resumes exactly from any seq across the redactions.
async fn a_deleted_questions_events_are_redacted_on_its_tags(backend: Backend) {
    let app = hub(backend).await;
    let ann = user("ann");
    let kept = ask_tagged(&app, &ann, "Kept", &["go"]).await;
    let q = ask_tagged(&app, &ann, "Secret title", &["rust", "go"]).await;
    let (status, _) = retag(&app, &ann, q, &["go", "tokio"]).await;
    assert_eq!(status, 200);
    let mut go = app.ws().await;
    let mut go_seq = go.subscribe("tag:go", None).await;
    assert_eq!(go_seq, 2);
    let (status, _) = app.send(Method::DELETE, &format!("/api/questions/{q}"), Some(&ann), Value::Null).await;
    assert_eq!(status, 204);
    let left = events(&mut go, &mut go_seq, 1).await.remove(0);
    assert_eq!(left, json!({"type": "question-delete", "topic": "tag:go", "seq": 3, "question_id": q}));

    // rust: asked (redacted), left by the retag; tokio: joined (redacted), left by the delete.
    let rust = resume(&app, "tag:rust", 0, 2).await;
    assert_eq!(
        rust.iter().map(|e| e["type"].as_str().unwrap()).collect::<Vec<_>>(),
        ["redacted", "question-delete"]
    );
    let tokio = resume(&app, "tag:tokio", 0, 2).await;
    assert_eq!(
        tokio.iter().map(|e| e["type"].as_str().unwrap()).collect::<Vec<_>>(),
        ["redacted", "question-delete"]
    );
    let all_go = resume(&app, "tag:go", 0, 3).await;
    assert_eq!(
        all_go.iter().map(|e| e["type"].as_str().unwrap()).collect::<Vec<_>>(),
        ["question", "redacted", "question-delete"]
    );
    assert_eq!(all_go[0]["question"]["id"], json!(kept), "another question's event stays");
    for (topic, got) in [("tag:rust", &rust), ("tag:tokio", &tokio), ("tag:go", &all_go)] {
        assert!(!Value::Array(got.to_vec()).to_string().contains("Secret"), "{topic}: {got:?}");
    }
    for after in 0..=3 {
        assert_eq!(resume(&app, "tag:go", after, 3).await, all_go[after as usize..], "after {after}");
    }
    for tag in ["rust", "tokio"] {
        assert_eq!(stored_count(&app, tag).await, (0, 0), "{tag}");
    }
    assert_eq!(stored_count(&app, "go").await, (1, 1));
}

/// `/api/tags`: the tags in use with their live counts (after asks, a retag and a delete),
/// most used first then by name, paged by offset; `/api/tags/{tag}` one tag and its topic's
/// seq; a name that breaks the rules is a 422 with the rule, one never used a 404.
async fn tags_are_listed_by_use_with_live_counts(backend: Backend) {
    let app = hub(backend).await;
    let ann = user("ann");
    ask_tagged(&app, &ann, "Q1", &["rust", "go"]).await;
    ask_tagged(&app, &ann, "Q2", &["rust"]).await;
    let q3 = ask_tagged(&app, &ann, "Q3", &["c#", "rust"]).await;
    let q4 = ask_tagged(&app, &ann, "Q4", &["go", "c++"]).await;
    let listed: Value = app.get("/api/tags").await.json().await.unwrap();
    let counts = |page: &Value| {
        page["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| (t["name"].as_str().unwrap().to_owned(), t["question_count"].as_i64().unwrap()))
            .collect::<Vec<_>>()
    };
    let expect = |pairs: &[(&str, i64)]| pairs.iter().map(|(n, c)| (n.to_string(), *c)).collect::<Vec<_>>();
    assert_eq!(counts(&listed), expect(&[("rust", 3), ("go", 2), ("c#", 1), ("c++", 1)]));
    assert_eq!(listed["next"], Value::Null);

    // Retagged away from rust, then one of go's deleted: the counts follow, c++ is no longer
    // in use and is not listed.
    assert_eq!(retag(&app, &ann, q3, &["c#"]).await.0, 200);
    let (status, _) =
        app.send(Method::DELETE, &format!("/api/questions/{q4}"), Some(&ann), Value::Null).await;
    assert_eq!(status, 204);
    let first: Value = app.get("/api/tags?limit=2").await.json().await.unwrap();
    assert_eq!(counts(&first), expect(&[("rust", 2), ("c#", 1)]));
    assert_eq!(first["next"], json!(2));
    let second: Value = app.get("/api/tags?limit=2&offset=2").await.json().await.unwrap();
    assert_eq!((counts(&second), &second["next"]), (expect(&[("go", 1)]), &Value::Null));
    for (tag, count) in [("rust", 2), ("c#", 1), ("go", 1), ("c++", 0)] {
        assert_eq!(stored_count(&app, tag).await, (count, count), "{tag}");
    }

    // One tag: `#` and `+` percent-encoded in the path.
    let (status, one) = app.send(Method::GET, "/api/tags/c%23", None, Value::Null).await;
    assert_eq!((status, one), (200, json!({"name": "c#", "question_count": 1, "last_seq": 1})));
    let (status, plus) = app.send(Method::GET, "/api/tags/c%2B%2B", None, Value::Null).await;
    assert_eq!((status, plus), (200, json!({"name": "c++", "question_count": 0, "last_seq": 2})));
    let (status, rust) = app.send(Method::GET, "/api/tags/Rust", None, Value::Null).await;
    assert_eq!((status, &rust["last_seq"]), (200, &json!(4)), "asked 3 times, left once: {rust}");
    let (status, body) = app.send(Method::GET, "/api/tags/never-used", None, Value::Null).await;
    assert_eq!((status, body["error"]["code"].as_str()), (404, Some("tag_not_found")), "{body}");
    let (status, body) = app.send(Method::GET, "/api/tags/-bad", None, Value::Null).await;
    assert_eq!(status, 422, "{body}");
    assert!(body["error"]["message"].as_str().unwrap().contains("a-z, 0-9"), "{body}");
    for bad in ["/api/tags?limit=0", "/api/tags?offset=-1", "/api/tags?limit=x"] {
        assert_eq!(app.get(bad).await.status(), 400, "{bad}");
    }
}

/// `/api/questions?tag=`: a tag's live questions newest first, paged like the whole list.
async fn the_questions_of_a_tag_are_paged_newest_first(backend: Backend) {
    let app = hub(backend).await;
    let ann = user("ann");
    let mut rust = Vec::new();
    for i in 0..5 {
        rust.push(ask_tagged(&app, &ann, &format!("R{i}"), &["rust", "c#"]).await);
        ask_tagged(&app, &ann, &format!("G{i}"), &["go"]).await;
    }
    let (status, _) =
        app.send(Method::DELETE, &format!("/api/questions/{}", rust[2]), Some(&ann), Value::Null).await;
    assert_eq!(status, 204);
    let live: Vec<Value> = [4, 3, 1, 0].iter().map(|&i| json!(rust[i])).collect();
    let mut seen = Vec::new();
    let mut path = "/api/questions?tag=c%23&limit=3".to_owned();
    loop {
        let page: Value = app.get(&path).await.json().await.unwrap();
        let items = page["items"].as_array().unwrap();
        assert!(items.len() <= 3 && items.iter().all(|q| q["tags"] == json!(["rust", "c#"])), "{page}");
        seen.extend(items.iter().map(|q| q["id"].clone()));
        match page["next"].as_str() {
            Some(next) => path = format!("/api/questions?tag=c%23&limit=3&before={next}"),
            None => break,
        }
    }
    assert_eq!(seen, live);
    let page: Value = app.get("/api/questions?tag=RUST").await.json().await.unwrap();
    assert_eq!(page["items"].as_array().unwrap().iter().map(|q| q["id"].clone()).collect::<Vec<_>>(), live);
    let page: Value = app.get("/api/questions?tag=nothing").await.json().await.unwrap();
    assert_eq!((page["items"].clone(), page["next"].clone()), (json!([]), Value::Null));
    let res = app.get("/api/questions?tag=two%20words").await;
    assert_eq!(res.status(), 422);
    let body: Value = res.json().await.unwrap();
    assert!(body["error"]["message"].as_str().unwrap().contains("a-z, 0-9"), "{body}");
    // Without `tag`: every question, as before.
    let all: Value = app.get("/api/questions?limit=100").await.json().await.unwrap();
    assert_eq!(all["items"].as_array().unwrap().len(), 9);
}

on_both_backends!(
    tags_are_listed_by_use_with_live_counts,
    the_questions_of_a_tag_are_paged_newest_first,
    an_edits_tags_are_checked_like_asking,
    a_retag_is_announced_on_the_question_and_on_both_tags,
    a_deleted_questions_events_are_redacted_on_its_tags,
    a_question_keeps_its_tags_and_the_list_announces_them,
    tags_that_break_the_rules_are_refused_with_the_rule,
    asking_announces_the_question_on_each_of_its_tags,
    a_tag_topic_resumes_exactly_from_every_seq,
    concurrent_asks_with_overlapping_tags_all_succeed,
    an_event_stream_follows_a_tag,
);

/// Measures a resume of a tag's topic holding `QA_HUB_BENCH_EVENTS` (100,000) `question`
/// events from `after_seq` 0 over one WebSocket, on both databases (docs/benchmarks.md,
/// "Tags"). Not part of the suite: run with
///
///     cargo test --release --test main tags::resume_of_a_large_tag_topic -- --ignored --nocapture
///
/// The events are written straight into the database (one `INSERT … SELECT` over a counter,
/// then the topic's row), not asked over HTTP: only the resume is measured. The server runs
/// in the test's process, so the RSS printed (VmRSS, and the peak VmHWM) is the server's and
/// the client's together.
#[tokio::test(flavor = "multi_thread")]
#[ignore = "measurement; see docs/benchmarks.md"]
async fn resume_of_a_large_tag_topic() {
    use sqlx::Connection;
    use std::time::Instant;

    let n: i64 = std::env::var("QA_HUB_BENCH_EVENTS").ok().and_then(|v| v.parse().ok()).unwrap_or(100_000);
    let rss = || {
        let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
        let kib = |key: &str| {
            status
                .lines()
                .find_map(|l| l.strip_prefix(key))
                .and_then(|v| v.split_whitespace().next()?.parse::<u64>().ok())
        };
        (kib("VmRSS:").unwrap_or(0) / 1024, kib("VmHWM:").unwrap_or(0) / 1024)
    };
    for backend in [Backend::Sqlite, Backend::Postgres] {
        if backend == Backend::Postgres && std::env::var("TEST_DATABASE_URL").is_err() {
            println!("postgres: skipped (no TEST_DATABASE_URL)");
            continue;
        }
        let app = hub(backend).await;
        let payload = json!({
            "title": "How do I keep a resume of a hundred thousand events cheap?",
            "author": "ann", "author_id": null, "created_at": "2026-12-08T01:00:00Z", "tags": ["bench", "rust"],
        })
        .to_string();
        const INSERT: &str = "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < $1) \
                              INSERT INTO events (topic, seq, kind, ref_id, payload, created_at) \
                              SELECT 'tag:bench', i, 'question', $2, $3, $4 FROM n";
        const TOPIC: &str = "INSERT INTO topics (name, last_seq) VALUES ('tag:bench', $1)";
        let (id, at) = (Uuid::now_v7(), chrono::Utc::now());
        let written = Instant::now();
        if backend == Backend::Sqlite {
            let mut conn = sqlx::SqliteConnection::connect(&app.db.url).await.unwrap();
            sqlx::query(INSERT).bind(n).bind(id).bind(&payload).bind(at).execute(&mut conn).await.unwrap();
            sqlx::query(TOPIC).bind(n).execute(&mut conn).await.unwrap();
        } else {
            let mut conn = sqlx::PgConnection::connect(&app.db.url).await.unwrap();
            sqlx::query(INSERT).bind(n).bind(id).bind(&payload).bind(at).execute(&mut conn).await.unwrap();
            sqlx::query(TOPIC).bind(n).execute(&mut conn).await.unwrap();
        }
        let written = written.elapsed();
        let before = rss();
        let mut ws = app.ws().await;
        let started = Instant::now();
        let head = ws.subscribe("tag:bench", Some(0)).await;
        assert_eq!(head, n);
        let mut last = 0;
        let mut bytes = 0usize;
        while last < n {
            let msg = ws.recv().await;
            let seq = msg["seq"].as_i64().unwrap_or_else(|| panic!("an event: {msg}"));
            assert_eq!(seq, last + 1);
            bytes += msg.to_string().len();
            last = seq;
        }
        let took = started.elapsed();
        let after = rss();
        println!(
            "{backend:?}: {n} events ({} MB of JSON) written in {:.1} s; resumed from 0 in {:.2} s ({:.0} events/s); \
             RSS {} MiB before, {} MiB after, peak {} MiB",
            bytes / 1_000_000,
            written.as_secs_f64(),
            took.as_secs_f64(),
            n as f64 / took.as_secs_f64(),
            before.0,
            after.0,
            after.1,
        );
    }
}
