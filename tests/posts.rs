//! The rest of a post's life: edits with every revision kept, soft deletes whose text never
//! reaches a reader again, and comments — each an event on the question's topic, live and on
//! resume, and a client resuming from any seq of a mixed stream ends where a fresh load does.

use std::collections::BTreeMap;

use serde_json::{Value, json};
use uuid::Uuid;

use crate::common::{Backend, Case, TestApp, events, hub, id_of, moderator, question_topic, user};

use reqwest::Method;

async fn get(app: &TestApp, path: &str) -> (u16, Value) {
    let res = app.get(path).await;
    let status = res.status().as_u16();
    (status, res.json().await.unwrap_or(Value::Null))
}

async fn comment(app: &TestApp, token: &str, post: &str, body: &str) -> Uuid {
    let (status, c) =
        app.send(Method::POST, &format!("{post}/comments"), Some(token), json!({"body": body})).await;
    assert_eq!(status, 201, "{c}");
    id_of(&c)
}

/// What a reader sees of a question: what a page shows, as plain data.
#[derive(Debug, Default, Clone, PartialEq)]
struct View {
    title: String,
    body: String,
    score: i64,
    revision: i64,
    accepted: Option<Uuid>,
    /// id → (body, score, revision)
    answers: BTreeMap<Uuid, (String, i64, i64)>,
    /// id → (post id, body)
    comments: BTreeMap<Uuid, (Uuid, String)>,
}

fn uuid(v: &Value) -> Uuid {
    Uuid::parse_str(v.as_str().unwrap_or_else(|| panic!("a uuid: {v}"))).unwrap()
}

impl View {
    /// A fresh load over REST.
    async fn load(app: &TestApp, q: Uuid) -> Self {
        let (_, question) = get(app, &format!("/api/questions/{q}")).await;
        let (_, answers) = get(app, &format!("/api/questions/{q}/answers?limit=100")).await;
        let (_, comments) = get(app, &format!("/api/questions/{q}/comments")).await;
        let mut view = View {
            title: question["title"].as_str().unwrap().into(),
            body: question["body"].as_str().unwrap().into(),
            score: question["score"].as_i64().unwrap(),
            revision: question["revision"].as_i64().unwrap(),
            accepted: question["accepted_answer_id"].as_str().map(|s| s.parse().unwrap()),
            ..View::default()
        };
        for a in answers["items"].as_array().unwrap() {
            view.answers.insert(
                uuid(&a["id"]),
                (
                    a["body"].as_str().unwrap().into(),
                    a["score"].as_i64().unwrap(),
                    a["revision"].as_i64().unwrap(),
                ),
            );
        }
        for c in comments["items"].as_array().unwrap() {
            view.comments.insert(uuid(&c["id"]), (uuid(&c["post_id"]), c["body"].as_str().unwrap().into()));
        }
        view
    }

    /// Applies one event, as a client does.
    fn apply(&mut self, q: Uuid, e: &Value) {
        match e["type"].as_str().unwrap() {
            // An answer event carries the text, not the score or revision: those follow as
            // `score` and `edit` events.
            "answer" => {
                let a = &e["answer"];
                self.answers.insert(uuid(&a["id"]), (a["body"].as_str().unwrap().into(), 0, 1));
            }
            "score" if e["post_kind"] == "question" => self.score = e["score"].as_i64().unwrap(),
            "score" => {
                if let Some(a) = self.answers.get_mut(&uuid(&e["post_id"])) {
                    a.1 = e["score"].as_i64().unwrap();
                }
            }
            "accept" => self.accepted = Some(uuid(&e["answer_id"])),
            "unaccept" => self.accepted = None,
            "edit" if e["post_kind"] == "question" => {
                assert_eq!(uuid(&e["post_id"]), q);
                self.title = e["title"].as_str().unwrap().into();
                self.body = e["body"].as_str().unwrap().into();
                self.revision = e["revision"].as_i64().unwrap();
            }
            "edit" => {
                if let Some(a) = self.answers.get_mut(&uuid(&e["post_id"])) {
                    a.0 = e["body"].as_str().unwrap().into();
                    a.2 = e["revision"].as_i64().unwrap();
                }
            }
            "comment" => {
                let c = &e["comment"];
                self.comments
                    .insert(uuid(&c["id"]), (uuid(&c["post_id"]), c["body"].as_str().unwrap().into()));
            }
            "comment-delete" => {
                self.comments.remove(&uuid(&e["comment_id"]));
            }
            "delete" => {
                let post = uuid(&e["post_id"]);
                self.answers.remove(&post);
                self.comments.retain(|_, (on, _)| *on != post);
                if self.accepted == Some(post) {
                    self.accepted = None;
                }
            }
            "redacted" => {}
            other => panic!("unexpected event {other}: {e}"),
        }
    }
}

async fn edits_keep_every_revision_and_are_announced(backend: Backend) {
    let app = hub(backend).await;
    let (asker, answerer) = (user("asker"), user("answerer"));
    let (q, a) = app.thread(&asker, &answerer).await;
    let moderator = moderator(&app).await;
    let mut live = app.ws().await;
    let mut last = live.subscribe(&question_topic(q), None).await;

    let answer_path = format!("/api/answers/{a}");
    let (status, r) =
        app.send(Method::PATCH, &answer_path, Some(&answerer), json!({"body": "a, better"})).await;
    assert_eq!((status, r["revision"].as_i64()), (200, Some(2)), "{r}");
    // The same text again is no new revision, and announces nothing.
    let (status, r) =
        app.send(Method::PATCH, &answer_path, Some(&answerer), json!({"body": "a, better"})).await;
    assert_eq!((status, r["revision"].as_i64()), (200, Some(2)), "{r}");
    // A moderator edits the question's title only.
    let (status, r) = app
        .send(Method::PATCH, &format!("/api/questions/{q}"), Some(&moderator), json!({"title": "t2"}))
        .await;
    assert_eq!(
        (status, &r["title"], &r["body"], r["revision"].as_i64()),
        (200, &json!("t2"), &json!("b"), Some(2))
    );

    let got = events(&mut live, &mut last, 2).await;
    assert_eq!(
        (&got[0]["type"], &got[0]["post_id"], &got[0]["body"], &got[0]["revision"], &got[0]["editor"]),
        (&json!("edit"), &json!(a), &json!("a, better"), &json!(2), &json!("answerer"))
    );
    assert_eq!(
        (&got[1]["post_kind"], &got[1]["title"], &got[1]["editor"]),
        (&json!("question"), &json!("t2"), &json!("mod"))
    );

    // Every revision is kept: who, when, what.
    let (_, revisions) = get(&app, &format!("{answer_path}/revisions")).await;
    let items: Vec<_> = revisions["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["revision"].clone(), r["body"].clone(), r["editor"].clone()))
        .collect();
    assert_eq!(
        items,
        [(json!(1), json!("a"), json!("answerer")), (json!(2), json!("a, better"), json!("answerer"))]
    );
    let (_, revisions) = get(&app, &format!("/api/questions/{q}/revisions")).await;
    assert_eq!(revisions["items"].as_array().unwrap().len(), 2, "{revisions}");
    let (_, answers) = get(&app, &format!("/api/questions/{q}/answers")).await;
    let shown = &answers["items"][0];
    assert_eq!((&shown["body"], &shown["revision"]), (&json!("a, better"), &json!(2)));
    assert!(shown["edited_at"].is_string(), "{shown}");

    // The same events from the log.
    let mut ws = app.ws().await;
    let mut seen = 1;
    assert_eq!(ws.subscribe(&question_topic(q), Some(1)).await, 3);
    let resumed = events(&mut ws, &mut seen, 2).await;
    assert_eq!(resumed, got);
}

async fn who_may_edit_delete_and_comment(backend: Backend) {
    let app = hub(backend).await;
    let (asker, answerer, other) = (user("asker"), user("answerer"), user("other"));
    let (q, a) = app.thread(&asker, &answerer).await;
    let c = comment(&app, &answerer, &format!("/api/answers/{a}"), "mine").await;
    let missing = Uuid::now_v7();
    let events_before = app.db.count("SELECT count(*) FROM events WHERE topic LIKE 'question:%'").await;
    let long = "x".repeat(601);
    let cases: Vec<Case> = vec![
        (Method::PATCH, format!("/api/answers/{a}"), None, json!({"body": "x"}), 401, "unauthorized"),
        (Method::PATCH, format!("/api/answers/{a}"), Some(&other), json!({"body": "x"}), 403, "not_author"),
        (Method::PATCH, format!("/api/answers/{a}"), Some(&asker), json!({"body": "x"}), 403, "not_author"),
        (
            Method::PATCH,
            format!("/api/questions/{q}"),
            Some(&answerer),
            json!({"title": "x"}),
            403,
            "not_author",
        ),
        (
            Method::PATCH,
            format!("/api/answers/{a}"),
            Some(&answerer),
            json!({"body": ""}),
            422,
            "invalid_field",
        ),
        (Method::PATCH, format!("/api/questions/{q}"), Some(&asker), json!({}), 422, "invalid_field"),
        (
            Method::PATCH,
            format!("/api/answers/{missing}"),
            Some(&answerer),
            json!({"body": "x"}),
            404,
            "answer_not_found",
        ),
        (Method::DELETE, format!("/api/answers/{a}"), None, Value::Null, 401, "unauthorized"),
        (Method::DELETE, format!("/api/answers/{a}"), Some(&other), Value::Null, 403, "not_author"),
        // The asker may not delete a question that has answers; only a moderator may.
        (Method::DELETE, format!("/api/questions/{q}"), Some(&asker), Value::Null, 403, "has_answers"),
        (
            Method::DELETE,
            format!("/api/questions/{missing}"),
            Some(&asker),
            Value::Null,
            404,
            "question_not_found",
        ),
        (Method::POST, format!("/api/answers/{a}/comments"), None, json!({"body": "x"}), 401, "unauthorized"),
        (
            Method::POST,
            format!("/api/answers/{a}/comments"),
            Some(&other),
            json!({"body": long}),
            422,
            "invalid_field",
        ),
        (
            Method::POST,
            format!("/api/answers/{a}/comments"),
            Some(&other),
            json!({"body": "two\nlines"}),
            422,
            "invalid_field",
        ),
        (
            Method::POST,
            format!("/api/questions/{missing}/comments"),
            Some(&other),
            json!({"body": "x"}),
            404,
            "question_not_found",
        ),
        (Method::DELETE, format!("/api/comments/{c}"), Some(&other), Value::Null, 403, "not_author"),
        (Method::DELETE, format!("/api/comments/{c}"), Some(&asker), Value::Null, 403, "not_author"),
        (
            Method::DELETE,
            format!("/api/comments/{missing}"),
            Some(&other),
            Value::Null,
            404,
            "comment_not_found",
        ),
        (Method::DELETE, "/api/comments/nope".to_owned(), Some(&other), Value::Null, 400, "invalid_id"),
    ];
    for (method, path, token, body, status, code) in cases {
        let (got, reply) = app.send(method.clone(), &path, token, body).await;
        assert_eq!((got, reply["error"]["code"].as_str()), (status, Some(code)), "{method} {path}: {reply}");
    }
    // Nothing changed.
    assert_eq!(
        app.db.count("SELECT count(*) FROM events WHERE topic LIKE 'question:%'").await,
        events_before
    );
    assert_eq!(app.db.count("SELECT count(*) FROM revisions").await, 0);
    assert_eq!(app.db.count("SELECT count(*) FROM comments").await, 1);
    assert_eq!(app.db.count("SELECT count(*) FROM answers WHERE deleted_at IS NOT NULL").await, 0);

    // A deleted answer: 410 for every change, 404 never.
    let (status, _) =
        app.send(Method::DELETE, &format!("/api/answers/{a}"), Some(&answerer), Value::Null).await;
    assert_eq!(status, 204);
    for (method, path, body) in [
        (Method::DELETE, format!("/api/answers/{a}"), Value::Null),
        (Method::PATCH, format!("/api/answers/{a}"), json!({"body": "back"})),
        (Method::POST, format!("/api/answers/{a}/comments"), json!({"body": "hello?"})),
        (Method::PUT, format!("/api/answers/{a}/vote"), json!({"value": 1})),
        (Method::DELETE, format!("/api/comments/{c}"), Value::Null),
    ] {
        let (got, reply) = app.send(method.clone(), &path, Some(&answerer), body).await;
        assert_eq!(got, 410, "{method} {path}: {reply}");
    }
    let (got, reply) =
        app.send(Method::PUT, &format!("/api/answers/{a}/accept"), Some(&asker), Value::Null).await;
    assert_eq!(got, 410, "{reply}");
    // The row stays for moderators: they still read what it said.
    let revisions = format!("/api/answers/{a}/revisions");
    assert_eq!(app.send(Method::GET, &revisions, Some(&answerer), Value::Null).await.0, 410);
    let moderator = moderator(&app).await;
    let (status, list) = app.send(Method::GET, &revisions, Some(&moderator), Value::Null).await;
    assert_eq!(
        (status, &list["items"][0]["body"], list["items"].as_array().map(Vec::len)),
        (200, &json!("a"), Some(1))
    );
    // With its only answer gone, the asker may delete the question; readers then get 404.
    let (status, _) =
        app.send(Method::DELETE, &format!("/api/questions/{q}"), Some(&asker), Value::Null).await;
    assert_eq!(status, 204);
    assert_eq!(get(&app, &format!("/api/questions/{q}")).await.0, 404);
    let (_, list) = get(&app, "/api/questions").await;
    assert_eq!(list["items"], json!([]), "a deleted question leaves the list");
}

async fn a_deleted_answer_is_gone_everywhere(backend: Backend) {
    let app = hub(backend).await;
    let (asker, answerer, other) = (user("asker"), user("answerer"), user("other"));
    let (q, keep) = app.thread(&asker, &other).await;
    let a = app.answer_as(&answerer, q, "SECRET-one").await;
    let path = format!("/api/answers/{a}");
    app.send(Method::PATCH, &path, Some(&answerer), json!({"body": "SECRET-two"})).await;
    comment(&app, &other, &path, "SECRET-comment").await;
    assert_eq!(app.vote(&other, &format!("{path}/vote"), 1).await.0, 200);
    assert_eq!(app.send(Method::PUT, &format!("{path}/accept"), Some(&asker), Value::Null).await.0, 200);
    let mut live = app.ws().await;
    let mut last = live.subscribe(&question_topic(q), None).await;

    let moderator = moderator(&app).await;
    let (status, _) = app.send(Method::DELETE, &path, Some(&moderator), Value::Null).await;
    assert_eq!(status, 204);
    let tombstone = &events(&mut live, &mut last, 1).await[0];
    assert_eq!(
        tombstone,
        &json!({"type": "delete", "topic": format!("question:{q}"), "seq": last, "post_kind": "answer", "post_id": a})
    );

    // Not over REST, not on the page, not in a resume from seq 0.
    let mut seen_anywhere = Vec::new();
    for p in [
        format!("/api/questions/{q}"),
        format!("/api/questions/{q}/answers"),
        format!("/api/questions/{q}/comments"),
        format!("/questions/{q}"),
    ] {
        let res = app.get(&p).await;
        assert_eq!(res.status(), 200, "{p}");
        seen_anywhere.push((p, res.text().await.unwrap()));
    }
    let (status, _) = get(&app, &format!("{path}/revisions")).await;
    assert_eq!(status, 410);
    let mut ws = app.ws().await;
    let mut seen = 0;
    let head = ws.subscribe(&question_topic(q), Some(0)).await;
    let replay = events(&mut ws, &mut seen, head as usize).await;
    seen_anywhere.push(("resume".into(), serde_json::to_string(&replay).unwrap()));
    for (where_, text) in &seen_anywhere {
        assert!(!text.contains("SECRET"), "deleted text in {where_}: {text}");
    }
    let kinds: Vec<_> = replay.iter().map(|e| e["type"].as_str().unwrap().to_owned()).collect();
    assert_eq!(
        kinds,
        ["answer", "redacted", "redacted", "redacted", "redacted", "redacted", "delete"],
        "{replay:?}"
    );
    let (_, question) = get(&app, &format!("/api/questions/{q}")).await;
    assert_eq!((&question["answer_count"], &question["accepted_answer_id"]), (&json!(1), &Value::Null));
    let (_, answers) = get(&app, &format!("/api/questions/{q}/answers")).await;
    assert_eq!(answers["items"].as_array().unwrap().len(), 1);
    assert_eq!(answers["items"][0]["id"], json!(keep));
}

/// A mixed stream, then a client resuming after every seq in it ends with what a fresh load
/// shows; so does one that watched live from the start.
async fn resume_from_any_seq_matches_a_fresh_load(backend: Backend) {
    let app = hub(backend).await;
    let (asker, u1, u2, u3) = (user("asker"), user("u1"), user("u2"), user("u3"));
    let (q, a1) = app.thread(&asker, &u1).await;
    let mut live = app.ws().await;
    let mut last = 0;
    assert_eq!(live.subscribe(&question_topic(q), Some(0)).await, 1);
    let a2 = app.answer_as(&u2, q, "two").await;
    let a3 = app.answer_as(&u3, q, "three").await;
    app.vote(&u2, &format!("/api/answers/{a1}/vote"), 1).await;
    app.vote(&u3, &format!("/api/answers/{a1}/vote"), 1).await;
    app.vote(&u1, &format!("/api/questions/{q}/vote"), -1).await;
    app.send(Method::PATCH, &format!("/api/answers/{a2}"), Some(&u2), json!({"body": "two, edited"})).await;
    let c1 = comment(&app, &u3, &format!("/api/answers/{a2}"), "nice").await;
    comment(&app, &u1, &format!("/api/questions/{q}"), "which version?").await;
    app.send(Method::PATCH, &format!("/api/questions/{q}"), Some(&asker), json!({"body": "b, clarified"}))
        .await;
    app.send(Method::PUT, &format!("/api/answers/{a3}/accept"), Some(&asker), Value::Null).await;
    app.send(Method::DELETE, &format!("/api/comments/{c1}"), Some(&u3), Value::Null).await;
    comment(&app, &u2, &format!("/api/answers/{a3}"), "soon gone").await;
    app.vote(&u1, &format!("/api/answers/{a3}/vote"), -1).await;
    app.send(Method::DELETE, &format!("/api/answers/{a3}"), Some(&u3), Value::Null).await;
    app.send(Method::PUT, &format!("/api/answers/{a1}/accept"), Some(&asker), Value::Null).await;
    app.vote(&u2, &format!("/api/answers/{a1}/vote"), -1).await;

    let fresh = View::load(&app, q).await;
    let head = get(&app, &format!("/api/questions/{q}")).await.1["last_seq"].as_i64().unwrap();
    assert_eq!(head, 17);
    // What a page loaded before the first event shows; then the live watcher's view after
    // each seq. Every event arrives once, in order, and the watcher ends where a fresh load is.
    let mut state = View { title: "t".into(), body: "b".into(), revision: 1, ..View::default() };
    let mut after = vec![state.clone()];
    for e in events(&mut live, &mut last, head as usize).await {
        state.apply(q, &e);
        after.push(state.clone());
    }
    assert_eq!(state, fresh, "the live watcher ends where a fresh load is");

    for from in 0..head {
        let mut ws = app.ws().await;
        let mut seen = from;
        assert_eq!(ws.subscribe(&question_topic(q), Some(from)).await, head);
        let mut view = after[from as usize].clone();
        for e in events(&mut ws, &mut seen, (head - from) as usize).await {
            view.apply(q, &e);
        }
        assert_eq!(view, fresh, "resuming after seq {from}");
    }
}

async fn comments_are_announced_and_replayed_once(backend: Backend) {
    let app = hub(backend).await;
    let (asker, answerer) = (user("asker"), user("answerer"));
    let (q, a) = app.thread(&asker, &answerer).await;
    let mut live = app.ws().await;
    let mut last = live.subscribe(&question_topic(q), None).await;
    let path = app.url(&format!("/api/answers/{a}/comments"));
    let post = || {
        app.http
            .post(&path)
            .bearer_auth(&asker)
            .header("idempotency-key", "k1")
            .json(&json!({"body": "  why?  "}))
            .send()
    };
    let first = post().await.unwrap();
    assert_eq!(first.status(), 201);
    let first: Value = first.json().await.unwrap();
    let again = post().await.unwrap();
    assert_eq!(again.status(), 201);
    assert_eq!(again.headers().get("idempotent-replayed").map(|v| v.to_str().unwrap()), Some("true"));
    assert_eq!(again.json::<Value>().await.unwrap(), first);
    assert_eq!(first["body"], "why?", "trimmed");
    assert_eq!(
        (&first["post_kind"], &first["post_id"], &first["author"]),
        (&json!("answer"), &json!(a), &json!("asker"))
    );

    let got = events(&mut live, &mut last, 1).await;
    assert_eq!(got[0]["type"], "comment");
    let mut on_the_wire = first.clone();
    on_the_wire.as_object_mut().unwrap().remove("question_id"); // the topic names it
    assert_eq!(got[0]["comment"], on_the_wire);
    let (status, _) = app
        .send(Method::DELETE, &format!("/api/comments/{}", id_of(&first)), Some(&asker), Value::Null)
        .await;
    assert_eq!(status, 204);
    let got = events(&mut live, &mut last, 1).await;
    assert_eq!(
        got[0],
        json!({"type": "comment-delete", "topic": format!("question:{q}"), "seq": 3, "comment_id": first["id"], "post_kind": "answer", "post_id": a})
    );
    assert_eq!(get(&app, &format!("/api/questions/{q}/comments")).await.1["items"], json!([]));
}

on_both_backends!(
    edits_keep_every_revision_and_are_announced,
    who_may_edit_delete_and_comment,
    a_deleted_answer_is_gone_everywhere,
    resume_from_any_seq_matches_a_fresh_load,
    comments_are_announced_and_replayed_once,
);
