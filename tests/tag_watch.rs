//! Watched and ignored tags: the choices over REST (and their cap), the `tag` inbox entries
//! the notifier writes for a new question in a watched tag — grouped per tag while unread, one
//! per question, never for one's own question, none when an ignored tag is on it —, exactly
//! once across two nodes, and the management page.

use reqwest::Method;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::common::{
    Backend, ISSUER, SECRET, TestApp, TestDb, WAIT, cli, csrf_of, events, eventually, host_tokens, hub,
    hub_with, inbox_socket, log_in, no_redirects, session_of, start_on, stop_all, user,
};

async fn watch(app: &TestApp, token: &str, tag: &str, state: Value) -> (u16, Value) {
    app.send(Method::PUT, &format!("/api/tags/{tag}/watch"), Some(token), json!({ "state": state })).await
}

async fn ask_tagged(app: &TestApp, token: &str, title: &str, tags: &[&str]) -> Uuid {
    let (status, q) = app
        .send(Method::POST, "/api/questions", Some(token), json!({"title": title, "body": "b", "tags": tags}))
        .await;
    assert_eq!(status, 201, "{q}");
    q["id"].as_str().unwrap().parse().unwrap()
}

/// `token`'s `tag` entries, newest change first: (tag, count, question id, read).
async fn tag_entries(app: &TestApp, token: &str) -> Vec<(String, i64, String, bool)> {
    let (status, body) = app.send(Method::GET, "/api/inbox", Some(token), Value::Null).await;
    assert_eq!(status, 200, "{body}");
    body["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["reason"] == "tag")
        .map(|e| {
            (
                e["tag"].as_str().unwrap().to_owned(),
                e["count"].as_i64().unwrap(),
                e["question_id"].as_str().unwrap().to_owned(),
                e["read"].as_bool().unwrap(),
            )
        })
        .collect()
}

/// Waits until `token` has a `tag` entry for `tag` with `count`.
async fn wait_for(app: &TestApp, token: &str, tag: &str, count: i64) {
    eventually(&format!("an entry of {count} in [{tag}]"), WAIT, || async {
        tag_entries(app, token).await.iter().any(|(t, c, _, read)| t == tag && *c == count && !read)
    })
    .await;
}

async fn tags_are_watched_ignored_and_cleared_over_rest(backend: Backend) {
    let app = hub_with(backend, |c| {
        host_tokens(c);
        c.limits.posts_per_minute = 0;
    })
    .await;
    let ann = user("ann");
    let (status, body) = watch(&app, &ann, "Rust", json!("watching")).await;
    assert_eq!((status, &body["tag"], &body["state"]), (200, &json!("rust"), &json!("watching")), "{body}");
    assert!(body["since"].is_string());
    let (status, body) = watch(&app, &ann, "php", json!("ignored")).await;
    assert_eq!((status, &body["state"]), (200, &json!("ignored")));
    let (status, listed) = app.send(Method::GET, "/api/me/tags", Some(&ann), Value::Null).await;
    assert_eq!(status, 200);
    let items: Vec<_> =
        listed["items"].as_array().unwrap().iter().map(|i| (i["tag"].clone(), i["state"].clone())).collect();
    assert_eq!(items, [(json!("php"), json!("ignored")), (json!("rust"), json!("watching"))]);
    assert_eq!(listed["max"], 200);

    // Changing and clearing: null and "none" both clear.
    assert_eq!(watch(&app, &ann, "rust", json!("ignored")).await.1["state"], "ignored");
    let (status, body) = watch(&app, &ann, "rust", Value::Null).await;
    assert_eq!((status, &body["state"], &body["since"]), (200, &Value::Null, &Value::Null));
    assert_eq!(watch(&app, &ann, "php", json!("none")).await.1["state"], Value::Null);
    let (_, listed) = app.send(Method::GET, "/api/me/tags", Some(&ann), Value::Null).await;
    assert_eq!(listed["items"], json!([]));

    // Nobody signed in: 401; a bad name or state: 422 with the rule.
    let (status, _) = app.send(Method::PUT, "/api/tags/rust/watch", None, json!({"state": "watching"})).await;
    assert_eq!(status, 401);
    let (status, _) = app.send(Method::GET, "/api/me/tags", None, Value::Null).await;
    assert_eq!(status, 401);
    let (status, body) = watch(&app, &ann, "two%20words", json!("watching")).await;
    assert_eq!(status, 422, "{body}");
    let message = body["error"]["message"].as_str().unwrap();
    assert!(message.contains("\"two words\"") && message.contains("a-z, 0-9"), "{message}");
    let (status, body) = watch(&app, &ann, "rust", json!("following")).await;
    assert_eq!(status, 422, "{body}");
    assert!(body["error"]["message"].as_str().unwrap().contains("\"watching\", \"ignored\""), "{body}");

    // The cap: 200 tags; a 201st is refused, changing one of the 200 is not.
    for chunk in (0..200).collect::<Vec<_>>().chunks(50) {
        futures_util::future::join_all(chunk.iter().map(|i| {
            let (app, ann) = (&app, &ann);
            async move { assert_eq!(watch(app, ann, &format!("t{i}"), json!("watching")).await.0, 200) }
        }))
        .await;
    }
    let (status, body) = watch(&app, &ann, "one-more", json!("watching")).await;
    assert_eq!((status, body["error"]["code"].as_str()), (409, Some("too_many_tags")), "{body}");
    assert_eq!(watch(&app, &ann, "t7", json!("ignored")).await.0, 200);
    let (_, listed) = app.send(Method::GET, "/api/me/tags", Some(&ann), Value::Null).await;
    assert_eq!(listed["items"].as_array().unwrap().len(), 200);
}

async fn a_watched_tag_notifies_grouped_once_never_of_ones_own_and_ignored_wins(backend: Backend) {
    let app = hub(backend).await;
    let (watcher, asker) = (user("watcher"), user("asker"));
    // A question asked before the watch is not news.
    ask_tagged(&app, &asker, "Before", &["rust"]).await;
    for (tag, state) in [("rust", "watching"), ("tokio", "watching"), ("php", "ignored")] {
        assert_eq!(watch(&app, &watcher, tag, json!(state)).await.0, 200);
    }
    let (mut live, _) = inbox_socket(&app, &watcher, 0).await;
    let mut last = 0;

    ask_tagged(&app, &watcher, "My own", &["rust"]).await;
    let first = ask_tagged(&app, &asker, "Two watched tags", &["tokio", "rust"]).await;
    let got = &events(&mut live, &mut last, 1).await[0];
    let entry = &got["entry"];
    assert_eq!(
        (&entry["reason"], &entry["tag"], &entry["count"], &entry["question_id"], &entry["actor"]),
        (&json!("tag"), &json!("tokio"), &json!(1), &json!(first), &json!("asker")),
        "one entry, in the question's first watched tag: {got}"
    );
    ask_tagged(&app, &asker, "Ignored wins", &["rust", "php"]).await;
    let newest = ask_tagged(&app, &asker, "Rust again", &["rust"]).await;
    let again = ask_tagged(&app, &asker, "Tokio again", &["tokio"]).await;
    let got = events(&mut live, &mut last, 2).await;
    assert_eq!((&got[0]["entry"]["tag"], &got[0]["entry"]["count"]), (&json!("rust"), &json!(1)), "{got:?}");
    assert_eq!((&got[1]["entry"]["tag"], &got[1]["entry"]["count"]), (&json!("tokio"), &json!(2)), "{got:?}");
    assert_eq!(got[1]["entry"]["id"], entry["id"], "grouped while unread");
    assert_eq!(
        tag_entries(&app, &watcher).await,
        [("tokio".into(), 2, again.to_string(), false), ("rust".into(), 1, newest.to_string(), false)]
    );

    // Read, the next question starts a new entry.
    let id = got[1]["entry"]["id"].as_str().unwrap().to_owned();
    let (status, _) =
        app.send(Method::PUT, &format!("/api/inbox/{id}/read"), Some(&watcher), Value::Null).await;
    assert_eq!(status, 200);
    ask_tagged(&app, &asker, "Tokio after reading", &["tokio"]).await;
    wait_for(&app, &watcher, "tokio", 1).await;
    let entries = tag_entries(&app, &watcher).await;
    assert_eq!(
        entries.iter().map(|e| (e.0.as_str(), e.1, e.3)).collect::<Vec<_>>(),
        [("tokio", 1, false), ("tokio", 2, true), ("rust", 1, false)]
    );
    // The asker, who watches nothing, heard nothing.
    assert!(tag_entries(&app, &asker).await.is_empty());
}

/// Two nodes on one database ask into a watched tag at once: every question counts once in
/// the watcher's entry, and the inbox topic has one event per question, not more.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tag_notifications_are_written_once_across_two_nodes() {
    let db = TestDb::new(Backend::Postgres).await;
    let with_jwt = |c: &mut qa_hub::Config, i: usize| {
        crate::common::tweak(c, i);
        c.identity.anonymous_writes = false;
        c.identity.jwt_secret = Some(SECRET.into());
        c.identity.jwt_issuer = Some(ISSUER.into());
        c.limits.posts_per_minute = 0;
    };
    let b = start_on(db.shared(), |c| with_jwt(c, 1)).await;
    let a = start_on(db, |c| with_jwt(c, 0)).await;
    let watchers: Vec<String> = (0..5).map(|i| user(&format!("w{i}"))).collect();
    for w in &watchers {
        assert_eq!(watch(&a, w, "rust", json!("watching")).await.0, 200);
    }
    let asks = (0..20).map(|i| {
        let node = if i % 2 == 0 { &a } else { &b };
        async move { ask_tagged(node, &user(&format!("asker{i}")), "Q", &["rust"]).await }
    });
    futures_util::future::join_all(asks).await;
    for w in &watchers {
        wait_for(&b, w, "rust", 20).await;
    }
    // One more, as a barrier: once it is counted, anything the two nodes did with the first
    // twenty is written.
    ask_tagged(&b, &user("last"), "Q", &["rust"]).await;
    for w in &watchers {
        wait_for(&a, w, "rust", 21).await;
        let (_, inbox) = a.send(Method::GET, "/api/inbox", Some(w), Value::Null).await;
        assert_eq!(inbox["last_seq"], 21, "one inbox event per question: {inbox}");
        assert_eq!(tag_entries(&a, w).await.len(), 1);
    }
    stop_all(vec![a, b]).await;
}

/// The page of one's tags (`/inbox/tags`): anonymous visitors are sent to log in; its form
/// needs the session's CSRF token and refuses a cross-site post; a bad name is a 422 page with
/// the rule. The home page rendered for a user hides the questions in a tag they ignore,
/// behind "1 hidden", and `?ignored=show` shows them.
async fn the_tags_page_and_the_home_page_for_a_user_who_ignores_a_tag(backend: Backend) {
    let app = hub(backend).await;
    let (ok, _, err) =
        cli(&app.db, &["user", "create", "ann", "--password-stdin"], "correct horse battery\n").await;
    assert!(ok, "{err}");
    let cookie = session_of(&log_in(&app, "ann", "correct horse battery").await);
    let csrf = csrf_of(&app, &cookie).await;
    let res = no_redirects().get(app.url("/inbox/tags")).send().await.unwrap();
    assert_eq!(res.status(), 303);
    assert!(res.headers()["location"].to_str().unwrap().starts_with("/login"));
    let post = |body: String, headers: Vec<(&'static str, String)>| {
        let mut req = no_redirects()
            .post(app.url("/inbox/tags"))
            .header("content-type", "application/x-www-form-urlencoded")
            .header("cookie", &cookie);
        for (name, value) in headers {
            req = req.header(name, value);
        }
        req.body(body).send()
    };
    let evil = vec![("origin", "http://evil.example".to_owned())];
    let res = post(format!("csrf={csrf}&tag=php&state=ignored"), evil).await.unwrap();
    assert_eq!(res.status(), 403, "cross-site");
    let res = post("tag=php&state=ignored".into(), vec![]).await.unwrap();
    assert_eq!(res.status(), 403, "no CSRF token");
    let page = |path: &'static str| {
        let req = app.http.get(app.url(path)).header("cookie", &cookie);
        async move { req.send().await.unwrap().text().await.unwrap() }
    };
    assert!(!page("/inbox/tags").await.contains("data-tag=\"php\""), "nothing stored");
    let res = post(format!("csrf={csrf}&tag=PHP&state=ignored"), vec![]).await.unwrap();
    assert_eq!((res.status().as_u16(), res.headers()["location"].to_str().unwrap()), (303, "/inbox/tags"));
    let res = post(format!("csrf={csrf}&tag=two+words&state=watching"), vec![]).await.unwrap();
    assert_eq!(res.status(), 422);
    assert!(res.text().await.unwrap().contains("a-z, 0-9"), "the rule is on the page");
    let listed = page("/inbox/tags").await;
    assert!(listed.contains("data-tag=\"php\" data-state=\"ignored\""), "{listed}");
    assert!(page("/inbox").await.contains("href=\"/inbox/tags\""), "linked from the inbox");

    let shown = ask_tagged(&app, &user("bob"), "Shown question", &["rust"]).await;
    let hidden = ask_tagged(&app, &user("bob"), "Hidden question", &["rust", "php"]).await;
    let home = page("/").await;
    assert!(home.contains(&format!("data-question-id=\"{hidden}\" hidden")), "{home}");
    assert!(home.contains(&format!("data-question-id=\"{shown}\">")));
    assert!(home.contains(">1 hidden</a>") && home.contains("data-ignored-tags=\"php\""));
    let all = page("/?ignored=show").await;
    assert!(all.contains(&format!("data-question-id=\"{hidden}\">")) && !all.contains("1 hidden"));
    // Nobody signed in: nothing hidden, no link.
    let anonymous = app.get("/").await.text().await.unwrap();
    assert!(
        anonymous.contains(&format!("data-question-id=\"{hidden}\">"))
            && !anonymous.contains("hidden-toggle")
    );
}

on_both_backends!(
    tags_are_watched_ignored_and_cleared_over_rest,
    a_watched_tag_notifies_grouped_once_never_of_ones_own_and_ignored_wins,
    the_tags_page_and_the_home_page_for_a_user_who_ignores_a_tag,
);

/// The scale of a popular tag: an ask into a tag with N watchers (QA_HUB_BENCH_WATCHERS,
/// default 10,000), created over REST (`PUT /api/tags/rust/watch`, 200 at a time). Prints the
/// ask's POST latency (beside one into a tag nobody watches) and the time until every
/// watcher's inbox holds its entry (counted in the database). Run with
/// `cargo test --release --test main -- --ignored an_ask_into_a_tag_with --nocapture`.
#[tokio::test(flavor = "multi_thread")]
#[ignore = "measurement; see docs/benchmarks.md"]
async fn an_ask_into_a_tag_with_ten_thousand_watchers() {
    use std::time::{Duration, Instant};
    let n: usize = std::env::var("QA_HUB_BENCH_WATCHERS").ok().and_then(|v| v.parse().ok()).unwrap_or(10_000);
    for backend in [Backend::Sqlite, Backend::Postgres] {
        let app = crate::common::spawn_with(backend, |c| {
            c.identity.anonymous_writes = false;
            host_tokens(c);
            c.limits.posts_per_minute = 0;
        })
        .await;
        let started = Instant::now();
        let watchers: Vec<String> = (0..n).map(|i| user(&format!("w{i}"))).collect();
        for chunk in watchers.chunks(200) {
            futures_util::future::join_all(chunk.iter().map(|token| {
                let app = &app;
                async move { assert_eq!(watch(app, token, "rust", json!("watching")).await.0, 200) }
            }))
            .await;
        }
        let set_up = started.elapsed();
        let asker = user("asker");
        ask_tagged(&app, &asker, "Warm", &["quiet"]).await;
        let t = Instant::now();
        ask_tagged(&app, &asker, "Nobody watches this", &["quiet"]).await;
        let post_quiet = t.elapsed();
        let t = Instant::now();
        ask_tagged(&app, &asker, "Everyone watches this", &["rust"]).await;
        let post_popular = t.elapsed();
        eventually("every watcher's entry", Duration::from_secs(300), || async {
            app.db.count("SELECT count(*) FROM inbox WHERE reason = 'tag'").await == n as i64
        })
        .await;
        let stored = t.elapsed();
        println!(
            "{backend:?}: {n} watchers (set up in {set_up:.1?}): ask POST {post_popular:.1?} (into a tag nobody watches: {post_quiet:.1?}); every watcher's inbox written after {stored:.1?}"
        );
        app.stop().await;
    }
}
