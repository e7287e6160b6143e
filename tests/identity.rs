//! Who writes: accounts and the `user` / `token` commands (run as the real binary), service
//! tokens, host-signed JWTs, log-in sessions and their cookie, CSRF tokens on the forms,
//! Idempotency-Key, and the limits on sign-ups and failed log-ins. Each server here runs with
//! anonymous writes off, as the hub does by default.

use jsonwebtoken::{EncodingKey, Header, encode};
use serde_json::{Value, json};

use crate::common::{
    Backend, ISSUER, SECRET, TestApp, cli, csrf_of, hub_with, id_of, jwt, log_in, no_redirects, now,
    session_of, start_on, user_with_token,
};

async fn post(app: &TestApp, path: &str, token: Option<&str>, body: Value) -> reqwest::Response {
    let mut req = app.http.post(app.url(path)).json(&body);
    if let Some(token) = token {
        req = req.bearer_auth(token);
    }
    req.send().await.unwrap()
}

async fn error_code(res: reqwest::Response) -> String {
    res.json::<Value>().await.unwrap()["error"]["code"].as_str().unwrap_or_default().to_owned()
}

async fn writes_need_an_identity(backend: Backend) {
    let app = hub_with(backend, |_| {}).await;
    let res = post(&app, "/api/questions", None, json!({"title": "t", "body": "b", "author": "ann"})).await;
    assert_eq!(res.status(), 401);
    assert_eq!(res.headers()["www-authenticate"], "Bearer realm=\"qa-hub\"");
    assert_eq!(error_code(res).await, "unauthorized");
    let res = post(&app, "/api/questions", Some("qah_not-a-token"), json!({"title": "t", "body": "b"})).await;
    assert_eq!(res.status(), 401);
    assert_eq!(res.headers()["www-authenticate"], "Bearer realm=\"qa-hub\", error=\"invalid_token\"");
    assert_eq!(error_code(res).await, "invalid_credentials");
    let res = app
        .http
        .post(app.url("/api/questions"))
        .header("authorization", "Basic YTpi")
        .json(&json!({"title": "t", "body": "b"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401, "a scheme other than Bearer");
    assert_eq!(app.db.count("SELECT count(*) FROM questions").await, 0, "nothing written");

    // Reading stays public.
    let (_, token) = user_with_token(&app, "ann").await;
    let q = id_of(
        &post(&app, "/api/questions", Some(&token), json!({"title": "t", "body": "b"}))
            .await
            .json()
            .await
            .unwrap(),
    );
    let res =
        post(&app, &format!("/api/questions/{q}/answers"), None, json!({"body": "b", "author": "bob"})).await;
    assert_eq!(res.status(), 401);
    assert_eq!(app.get("/api/questions").await.status(), 200);
    assert_eq!(app.get(&format!("/api/questions/{q}/answers")).await.status(), 200);
    assert_eq!(app.db.count("SELECT count(*) FROM answers").await, 0);
}

async fn a_service_token_posts_as_its_user(backend: Backend) {
    let app = hub_with(backend, |_| {}).await;
    let (ann, token) = user_with_token(&app, "ann").await;
    let me: Value =
        app.http.get(app.url("/api/me")).bearer_auth(&token).send().await.unwrap().json().await.unwrap();
    assert_eq!(me, json!({"id": ann, "name": "ann", "role": "user"}));

    // `author` in the body is ignored: the identity is the author.
    let res =
        post(&app, "/api/questions", Some(&token), json!({"title": "t", "body": "b", "author": "mallory"}))
            .await;
    assert_eq!(res.status(), 201);
    let question: Value = res.json().await.unwrap();
    assert_eq!(
        (question["author"].as_str(), question["author_id"].as_str()),
        (Some("ann"), Some(ann.to_string().as_str()))
    );
    let q = id_of(&question);

    let mut ws = app.ws().await;
    ws.subscribe_legacy(q, None).await;
    let res = post(&app, &format!("/api/questions/{q}/answers"), Some(&token), json!({"body": "mine"})).await;
    assert_eq!(res.status(), 201);
    let answer: Value = res.json().await.unwrap();
    assert_eq!(answer["author_id"], json!(ann));
    let pushed = ws.recv().await;
    assert_eq!(pushed["answer"]["author"], "ann");
    assert_eq!(pushed["answer"]["author_id"], json!(ann), "the socket carries the author's id too");

    // Handles are unique whatever their case; the command says so and exits non-zero.
    let (ok, _, err) = cli(&app.db, &["user", "create", "ANN", "--password-stdin"], "another one\n").await;
    assert!(!ok);
    assert!(err.contains("taken"), "{err}");
    let (ok, _, err) = cli(&app.db, &["user", "create", "bo", "--password-stdin"], "long enough\n").await;
    assert!(!ok && err.contains("handle"), "{err}");
}

async fn a_revoked_token_fails_on_another_node_at_once(backend: Backend) {
    let first = hub_with(backend, |_| {}).await;
    let second = start_on(first.db.shared(), |config| config.identity.anonymous_writes = false).await;
    let (_, admin_token) = user_with_token(&first, "ann").await;
    // A token made over REST by its owner, used on the other node.
    let res = first
        .http
        .post(first.url("/api/tokens"))
        .bearer_auth(&admin_token)
        .json(&json!({"name": "backend"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    let created: Value = res.json().await.unwrap();
    let (token, token_id) =
        (created["token"].as_str().unwrap().to_owned(), created["id"].as_str().unwrap().to_owned());
    let q = id_of(
        &post(&second, "/api/questions", Some(&token), json!({"title": "t", "body": "b"}))
            .await
            .json()
            .await
            .unwrap(),
    );
    // An answer on the second node: that node now knows the token (its poster cache).
    let res =
        post(&second, &format!("/api/questions/{q}/answers"), Some(&token), json!({"body": "before"})).await;
    assert_eq!(res.status(), 201);
    let listed: Value = first
        .http
        .get(first.url("/api/tokens"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(listed["items"].as_array().unwrap().len(), 2);
    assert!(
        listed["items"].as_array().unwrap().iter().all(|t| t.get("token").is_none()),
        "secrets are never listed"
    );

    let res = first
        .http
        .delete(first.url(&format!("/api/tokens/{token_id}")))
        .bearer_auth(&admin_token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 204);
    // The very next request, on the other node.
    let res =
        post(&second, &format!("/api/questions/{q}/answers"), Some(&token), json!({"body": "after"})).await;
    assert_eq!(res.status(), 401);
    assert_eq!(error_code(res).await, "invalid_credentials");
    assert_eq!(
        first.db.count("SELECT count(*) FROM answers").await,
        1,
        "nothing written after the revocation"
    );
    let res = post(&second, "/api/questions", Some(&token), json!({"title": "t", "body": "b"})).await;
    assert_eq!(res.status(), 401);

    // The command-line revocation does the same.
    let (ok, list, _) = cli(&first.db, &["token", "list", "--user", "ann"], "").await;
    assert!(ok && list.contains("tests") && list.ends_with("active"), "{list}");
    let admin_id = list.split('\t').next().unwrap().to_owned();
    let (ok, _, err) = cli(&first.db, &["token", "revoke", "--user", "ann", &admin_id], "").await;
    assert!(ok, "{err}");
    let res = post(&second, "/api/questions", Some(&admin_token), json!({"title": "t", "body": "b"})).await;
    assert_eq!(res.status(), 401);
    second.stop().await;
}

async fn an_idempotency_key_retry_returns_the_same_answer(backend: Backend) {
    let app = hub_with(backend, |_| {}).await;
    let (_, ann) = user_with_token(&app, "ann").await;
    let (_, bob) = user_with_token(&app, "bob").await;
    let q = id_of(
        &post(&app, "/api/questions", Some(&ann), json!({"title": "t", "body": "b"}))
            .await
            .json()
            .await
            .unwrap(),
    );
    let mut ws = app.ws().await;
    ws.subscribe_legacy(q, None).await;
    let path = app.url(&format!("/api/questions/{q}/answers"));
    let send = |token: &str, key: &str, body: &str| {
        app.http
            .post(&path)
            .bearer_auth(token)
            .header("idempotency-key", key)
            .json(&json!({"body": body}))
            .send()
    };
    let first = send(&bob, "retry-1", "once").await.unwrap();
    assert_eq!(first.status(), 201);
    assert!(first.headers().get("idempotent-replayed").is_none());
    let first: Value = first.json().await.unwrap();
    let again = send(&bob, "retry-1", "once").await.unwrap();
    assert_eq!(again.status(), 201);
    assert_eq!(again.headers()["idempotent-replayed"], "true");
    assert_eq!(again.json::<Value>().await.unwrap(), first, "the first result, again");
    // Retries racing each other still store one answer.
    let racing = futures_util::future::join_all((0..8).map(|_| send(&bob, "retry-2", "raced"))).await;
    let ids: std::collections::HashSet<String> = futures_util::future::join_all(
        racing
            .into_iter()
            .map(|r| async { r.unwrap().json::<Value>().await.unwrap()["id"].as_str().unwrap().to_owned() }),
    )
    .await
    .into_iter()
    .collect();
    assert_eq!(ids.len(), 1, "eight racing retries, one answer");
    assert_eq!(app.db.count("SELECT count(*) FROM answers").await, 2);

    // The same key for a different request is refused; another identity's key is its own.
    let reused = send(&bob, "retry-1", "something else").await.unwrap();
    assert_eq!(reused.status(), 422);
    assert_eq!(error_code(reused).await, "idempotency_key_reused");
    assert_eq!(send(&ann, "retry-1", "once").await.unwrap().status(), 201);
    assert_eq!(app.db.count("SELECT count(*) FROM answers").await, 3);
    let bad = send(&bob, "", "x").await.unwrap();
    assert_eq!(bad.status(), 422, "an empty key");

    // Watchers saw each stored answer exactly once.
    assert_eq!(ws.answers(3).await.iter().map(|(_, s)| *s).collect::<Vec<_>>(), vec![1, 2, 3]);
    post(&app, &format!("/api/questions/{q}/answers"), Some(&ann), json!({"body": "last"})).await;
    assert_eq!(ws.answers(1).await[0].1, 4, "and nothing twice");

    // Questions take keys too.
    let ask = |key: &str| {
        app.http
            .post(app.url("/api/questions"))
            .bearer_auth(&ann)
            .header("idempotency-key", key)
            .json(&json!({"title": "t", "body": "b"}))
            .send()
    };
    let a = ask("ask-1").await.unwrap().json::<Value>().await.unwrap();
    let b = ask("ask-1").await.unwrap().json::<Value>().await.unwrap();
    assert_eq!(a["id"], b["id"]);
    assert_eq!(app.db.count("SELECT count(*) FROM questions").await, 2);
}

/// A retry with the Idempotency-Key of a post deleted since is told it is gone (410), as a
/// comment's retry is, and stores nothing.
async fn a_retry_after_the_post_was_deleted_is_gone(backend: Backend) {
    let app = hub_with(backend, |_| {}).await;
    let (_, ann) = user_with_token(&app, "ann").await;
    let ask = || {
        app.http
            .post(app.url("/api/questions"))
            .bearer_auth(&ann)
            .header("idempotency-key", "ask")
            .json(&json!({"title": "t", "body": "b"}))
            .send()
    };
    let q = id_of(&ask().await.unwrap().json().await.unwrap());
    let reply = |path: String| {
        app.http
            .post(app.url(&path))
            .bearer_auth(&ann)
            .header("idempotency-key", "k")
            .json(&json!({"body": "b"}))
            .send()
    };
    let answers = format!("/api/questions/{q}/answers");
    let a = id_of(&reply(answers.clone()).await.unwrap().json().await.unwrap());
    let delete = |path: String| app.http.delete(app.url(&path)).bearer_auth(&ann).send();
    assert_eq!(delete(format!("/api/answers/{a}")).await.unwrap().status(), 204);
    let retry = reply(answers).await.unwrap();
    assert_eq!(retry.status(), 410);
    assert_eq!(error_code(retry).await, "answer_deleted");
    assert_eq!(delete(format!("/api/questions/{q}")).await.unwrap().status(), 204);
    let retry = ask().await.unwrap();
    assert_eq!(retry.status(), 410);
    assert_eq!(error_code(retry).await, "question_deleted");
    assert_eq!(app.db.count("SELECT count(*) FROM answers").await, 1);
    assert_eq!(app.db.count("SELECT count(*) FROM questions").await, 1);
}

/// Names that show nothing, or show as another's, are refused wherever a name comes in (sign-up,
/// a host-signed token's `name` and `sub`, a token's name), with a 4xx and nothing stored: the
/// invisible and format characters of Unicode, and NUL in a `sub` (which Postgres cannot even
/// store). A long `sub` with no `name` is shown cut to a name's length, as documented.
async fn invisible_and_look_alike_names_are_refused(backend: Backend) {
    let app = hub_with(backend, |config| {
        config.identity.jwt_secret = Some(SECRET.into());
        config.identity.jwt_issuer = Some(ISSUER.into());
    })
    .await;
    let invisible = [
        "\u{200b}",
        "ali\u{200b}ce",
        "ali\u{200d}ce",
        "\u{200e}alice",
        "alice\u{200f}",
        "al\u{061c}ice",
        "\u{feff}alice",
        "alice\u{e0041}",
        "\u{3164}",
        "\u{2800}",
        "\u{00ad}",
    ];
    let form = |handle: &str, name: &str| {
        let encode = |v: &str| url::form_urlencoded::byte_serialize(v.as_bytes()).collect::<String>();
        no_redirects()
            .post(app.url("/signup"))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(format!("handle={handle}&name={}&password=long+enough", encode(name)))
            .send()
    };
    for (i, name) in invisible.iter().enumerate() {
        let res = form(&format!("user{i}"), name).await.unwrap();
        assert!(res.status().is_client_error(), "sign-up named {name:?}: {}", res.status());
    }
    // Handles stay plain ASCII: a Cyrillic а is not an a.
    assert!(form("\u{430}lice", "alice").await.unwrap().status().is_client_error());
    assert_eq!(app.db.count("SELECT count(*) FROM users").await, 0);

    let token = |claims: Value| jwt(claims, SECRET);
    let exp = now() + 300;
    let mut refused: Vec<(String, String)> = invisible
        .iter()
        .map(|name| {
            (format!("name {name:?}"), token(json!({"iss": ISSUER, "sub": "7", "name": name, "exp": exp})))
        })
        .collect();
    for sub in ["a\u{0}b", "a\nb", "\u{200b}", " 7", "ali\u{200b}ce"] {
        refused.push((
            format!("sub {sub:?}"),
            token(json!({"iss": ISSUER, "sub": sub, "name": "Ada", "exp": exp})),
        ));
    }
    refused.push((
        "sub over 255 bytes".into(),
        token(json!({"iss": ISSUER, "sub": "é".repeat(128), "exp": exp})),
    ));
    for (what, token) in refused {
        let res = post(&app, "/api/questions", Some(&token), json!({"title": "t", "body": "b"})).await;
        assert_eq!(res.status(), 401, "{what}");
        assert_eq!(
            res.headers()["www-authenticate"],
            "Bearer realm=\"qa-hub\", error=\"invalid_token\"",
            "{what}"
        );
        assert_eq!(error_code(res).await, "invalid_credentials", "{what}");
    }
    assert_eq!(app.db.count("SELECT count(*) FROM users").await, 0, "nothing stored");

    // The docs' promise: `sub` up to 255 bytes, `name` defaulting to it.
    let long_sub = "u".repeat(200);
    let me: Value = app
        .http
        .get(app.url("/api/me"))
        .bearer_auth(token(json!({"iss": ISSUER, "sub": long_sub, "exp": exp})))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let shown = me["name"].as_str().unwrap();
    assert_eq!(shown.chars().count(), 64, "{shown}");
    assert!(shown.starts_with("uuuu") && shown.ends_with('…'), "{shown}");
    // What people write keeps what it needs: emoji sequences and Persian's joiner.
    let ok = token(json!({"iss": ISSUER, "sub": "8", "name": "Ada 👩‍💻", "exp": exp}));
    let res = post(&app, "/api/questions", Some(&ok), json!({"title": "I ❤️ می‌خواهم 👩‍💻", "body": "b"})).await;
    assert_eq!(res.status(), 201);

    // Token names follow the same rules.
    let (_, service) = user_with_token(&app, "ann").await;
    for name in ["\u{202e}gnp.exe", "ann\u{200b}", "\u{200b}"] {
        let res = post(&app, "/api/tokens", Some(&service), json!({"name": name})).await;
        assert_eq!(res.status(), 422, "token named {name:?}");
    }
    let (ok, _, _) = cli(&app.db, &["token", "create", "--user", "ann", "--name", "\u{200b}"], "").await;
    assert!(!ok, "the command refuses it too");
    assert_eq!(app.db.count("SELECT count(*) FROM service_tokens").await, 1);
}

async fn host_signed_tokens_map_to_users(backend: Backend) {
    let app = hub_with(backend, |config| {
        config.identity.jwt_secret = Some(SECRET.into());
        config.identity.jwt_issuer = Some(ISSUER.into());
    })
    .await;
    let good = jwt(json!({"iss": ISSUER, "sub": "42", "name": "Ada", "exp": now() + 300}), SECRET);
    let res = post(&app, "/api/questions", Some(&good), json!({"title": "t", "body": "b"})).await;
    assert_eq!(res.status(), 201);
    let q: Value = res.json().await.unwrap();
    assert_eq!(q["author"], "Ada");
    // The same subject later, renamed: the same user, with the new name.
    let renamed = jwt(json!({"iss": ISSUER, "sub": "42", "name": "Ada L.", "exp": now() + 300}), SECRET);
    let res =
        post(&app, &format!("/api/questions/{}/answers", id_of(&q)), Some(&renamed), json!({"body": "b"}))
            .await;
    let a: Value = res.json().await.unwrap();
    assert_eq!((&a["author_id"], a["author"].as_str()), (&q["author_id"], Some("Ada L.")));
    assert_eq!(app.db.count("SELECT count(*) FROM users").await, 1);

    let header_none = base64_url(br#"{"alg":"none","typ":"JWT"}"#);
    let claims = base64_url(json!({"iss": ISSUER, "sub": "7", "exp": now() + 300}).to_string().as_bytes());
    let refused = [
        ("expired", jwt(json!({"iss": ISSUER, "sub": "7", "exp": now() - 120}), SECRET)),
        (
            "not yet valid",
            jwt(json!({"iss": ISSUER, "sub": "7", "exp": now() + 600, "nbf": now() + 300}), SECRET),
        ),
        (
            "wrong key",
            jwt(
                json!({"iss": ISSUER, "sub": "7", "exp": now() + 300}),
                "another-secret-of-enough-length-000000",
            ),
        ),
        ("wrong issuer", jwt(json!({"iss": "https://evil.example", "sub": "7", "exp": now() + 300}), SECRET)),
        ("no exp", jwt(json!({"iss": ISSUER, "sub": "7"}), SECRET)),
        ("alg none", format!("{header_none}.{claims}.")),
    ];
    for (what, token) in refused {
        let res = post(&app, "/api/questions", Some(&token), json!({"title": "t", "body": "b"})).await;
        assert_eq!(res.status(), 401, "{what}");
        assert_eq!(error_code(res).await, "invalid_credentials", "{what}");
    }
    assert_eq!(app.db.count("SELECT count(*) FROM questions").await, 1);
    assert_eq!(app.db.count("SELECT count(*) FROM users").await, 1, "no user for a refused token");
}

/// A site that signs with a private key (Ed25519) gives the hub only its public key; a token
/// signed HS256 with that public key as the "secret" (the classic algorithm confusion) is
/// refused.
async fn public_key_tokens_and_no_algorithm_confusion(backend: Backend) {
    let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ED25519).unwrap();
    let public = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(public.path(), key.public_key_pem()).unwrap();
    let app = hub_with(backend, |config| {
        config.identity.jwt_public_key = Some(public.path().to_owned());
        config.identity.jwt_issuer = Some(ISSUER.into());
    })
    .await;
    let claims = json!({"iss": ISSUER, "sub": "9", "name": "Eve", "exp": now() + 300});
    let private = EncodingKey::from_ed_pem(key.serialize_pem().as_bytes()).unwrap();
    let signed = encode(&Header::new(jsonwebtoken::Algorithm::EdDSA), &claims, &private).unwrap();
    let res = post(&app, "/api/questions", Some(&signed), json!({"title": "t", "body": "b"})).await;
    assert_eq!(res.status(), 201);
    assert_eq!(res.json::<Value>().await.unwrap()["author"], "Eve");
    let confused = jwt(claims, &key.public_key_pem());
    let res = post(&app, "/api/questions", Some(&confused), json!({"title": "t", "body": "b"})).await;
    assert_eq!(res.status(), 401);
    assert_eq!(app.db.count("SELECT count(*) FROM questions").await, 1);
}

fn base64_url(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

async fn sessions_forms_and_csrf(backend: Backend) {
    let app = hub_with(backend, |_| {}).await;
    user_with_token(&app, "ann").await;
    let res = log_in(&app, "ANN", "correct horse").await;
    assert_eq!(res.status(), 303, "handles log in whatever their case");
    assert_eq!(res.headers()["location"], "/questions");
    let cookie = session_of(&res);
    let page = no_redirects()
        .get(app.url("/"))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("Logged in as"), "the header shows who is logged in");
    let csrf = csrf_of(&app, &cookie).await;

    let form = |body: String, cookie: Option<&str>| {
        let mut req = no_redirects()
            .post(app.url("/questions"))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body);
        if let Some(cookie) = cookie {
            req = req.header("cookie", cookie);
        }
        req.send()
    };
    // Without a session, the form sends you to log in, and writes nothing.
    let res = form("title=t&body=b&author=x".into(), None).await.unwrap();
    assert_eq!(res.status(), 303);
    assert_eq!(res.headers()["location"], "/login?next=%2F%23ask");
    // With the session but without its CSRF token: 403.
    let res = form("title=t&body=b".into(), Some(&cookie)).await.unwrap();
    assert_eq!(res.status(), 403);
    let res = form("title=t&body=b&csrf=forged".into(), Some(&cookie)).await.unwrap();
    assert_eq!(res.status(), 403);
    assert_eq!(app.db.count("SELECT count(*) FROM questions").await, 0);
    let res = form(format!("title=t&body=b&tags=t&csrf={csrf}"), Some(&cookie)).await.unwrap();
    assert_eq!(res.status(), 303);
    assert_eq!(
        app.db.count("SELECT count(*) FROM questions WHERE author = 'ann' AND author_id IS NOT NULL").await,
        1
    );

    // The cookie works on REST from this site (or a non-browser client), never cross-site.
    let rest = |headers: &[(&str, &str)]| {
        let mut req = no_redirects()
            .post(app.url("/api/questions"))
            .header("cookie", &cookie)
            .json(&json!({"title": "t", "body": "b"}));
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        req.send()
    };
    assert_eq!(rest(&[("sec-fetch-site", "same-origin")]).await.unwrap().status(), 201);
    assert_eq!(rest(&[("sec-fetch-site", "cross-site")]).await.unwrap().status(), 401);
    assert_eq!(rest(&[("origin", "http://evil.example")]).await.unwrap().status(), 401);

    // Log-out ends the session: the old cookie is worth nothing, here or on REST.
    let res = no_redirects()
        .post(app.url("/logout"))
        .header("cookie", &cookie)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("csrf={csrf}"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 303);
    assert!(res.headers()["set-cookie"].to_str().unwrap().contains("Max-Age=0"));
    assert_eq!(rest(&[]).await.unwrap().status(), 401);
    let page = no_redirects()
        .get(app.url("/"))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(!page.contains("Logged in as"));
}

async fn brute_force_log_ins_are_locked(backend: Backend) {
    let app = hub_with(backend, |config| config.limits.login_failures_per_hour = 3).await;
    user_with_token(&app, "ann").await;
    for attempt in 1..=4 {
        let res = log_in(&app, "ann", "wrong password").await;
        assert_eq!(res.status(), 401, "attempt {attempt}");
        assert!(res.headers().get("set-cookie").is_none());
    }
    // Locked now, for the right password too.
    let res = log_in(&app, "ann", "correct horse").await;
    assert_eq!(res.status(), 429);
    let retry: u64 = res.headers()["retry-after"].to_str().unwrap().parse().unwrap();
    assert!(retry > 60, "a failure's worth of time: {retry} s");
    // Another handle is not locked.
    user_with_token(&app, "bob").await;
    assert_eq!(log_in(&app, "bob", "correct horse").await.status(), 303);
}

/// Each log-in costs an Argon2 hash, for unknown handles too: attempts are limited per client
/// address, whatever the handle. Each service token is a row: creating them counts against
/// the user's post budget.
async fn log_in_attempts_and_token_creation_are_limited(backend: Backend) {
    let app = hub_with(backend, |config| {
        config.limits.login_attempts_per_minute = 2;
        config.limits.posts_per_minute = 2;
    })
    .await;
    let (_, token) = user_with_token(&app, "ann").await;
    assert_eq!(log_in(&app, "nobody", "wrong password").await.status(), 401);
    assert_eq!(log_in(&app, "somebody", "wrong password").await.status(), 401);
    let res = log_in(&app, "ann", "correct horse").await;
    assert_eq!(res.status(), 429, "a third attempt from the address, another handle");
    assert!(res.headers().contains_key("retry-after"));

    let create =
        || app.http.post(app.url("/api/tokens")).bearer_auth(&token).json(&json!({"name": "more"})).send();
    assert_eq!(create().await.unwrap().status(), 201);
    assert_eq!(create().await.unwrap().status(), 201);
    let res = create().await.unwrap();
    assert_eq!(res.status(), 429);
    assert_eq!(error_code(res).await, "rate_limited");
    assert_eq!(app.db.count("SELECT count(*) FROM service_tokens").await, 3);
}

async fn sign_ups_make_accounts_and_are_limited(backend: Backend) {
    let app = hub_with(backend, |config| config.limits.signups_per_hour = 2).await;
    let sign_up = |handle: &str| {
        no_redirects()
            .post(app.url("/signup"))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(format!("handle={handle}&name=&password=long+enough"))
            .send()
    };
    let res = sign_up("ann").await.unwrap();
    assert_eq!(res.status(), 303, "signed up and logged in");
    let cookie = session_of(&res);
    let me: Value = app
        .http
        .get(app.url("/api/me"))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(me["name"], "ann");
    let taken = sign_up("Ann").await.unwrap();
    assert_eq!(taken.status(), 409, "a handle is unique whatever its case");
    let limited = sign_up("cid").await.unwrap();
    assert_eq!(limited.status(), 429);
    assert!(limited.headers().contains_key("retry-after"));
    assert_eq!(app.db.count("SELECT count(*) FROM users").await, 1);
}

async fn the_socket_takes_a_token_in_an_auth_message(backend: Backend) {
    let app = hub_with(backend, |_| {}).await;
    let (ann, token) = user_with_token(&app, "ann").await;
    let q = id_of(
        &post(&app, "/api/questions", Some(&token), json!({"title": "t", "body": "b"}))
            .await
            .json()
            .await
            .unwrap(),
    );
    let mut ws = app.ws().await;
    ws.send(json!({"type": "auth", "token": "qah_wrong"})).await;
    let refused = ws.recv().await;
    assert_eq!(
        (refused["type"].as_str(), refused["code"].as_str()),
        (Some("error"), Some("invalid_credentials"))
    );
    ws.send(json!({"type": "auth"})).await;
    assert_eq!(ws.recv().await["code"], "invalid_message");
    ws.send(json!({"type": "auth", "token": token})).await;
    assert_eq!(ws.recv().await, json!({"type": "authenticated", "user_id": ann, "name": "ann"}));
    // The connection stayed up through the refusals, and works as before.
    ws.subscribe_legacy(q, None).await;
    post(&app, &format!("/api/questions/{q}/answers"), Some(&token), json!({"body": "b"})).await;
    assert_eq!(ws.answers(1).await, vec![(q, 1)]);
}

/// Without JavaScript, voting and accepting are forms: they need the session and its CSRF
/// token, write what the REST API writes, and return to the page they were sent from.
async fn vote_and_accept_forms(backend: Backend) {
    let app = hub_with(backend, |_| {}).await;
    let (_, ann) = user_with_token(&app, "ann").await;
    let (_, bob) = user_with_token(&app, "bob").await;
    let q: Value = post(&app, "/api/questions", Some(&ann), json!({"title": "t", "body": "b"}))
        .await
        .json()
        .await
        .unwrap();
    let q = id_of(&q);
    let a: Value = post(&app, &format!("/api/questions/{q}/answers"), Some(&bob), json!({"body": "a"}))
        .await
        .json()
        .await
        .unwrap();
    let a = id_of(&a);
    let cookie = session_of(&log_in(&app, "ann", "correct horse").await);
    let csrf = csrf_of(&app, &cookie).await;
    let page = |cookie: String| {
        let app = &app;
        async move {
            no_redirects()
                .get(app.url(&format!("/questions/{q}")))
                .header("cookie", cookie)
                .send()
                .await
                .unwrap()
                .text()
                .await
                .unwrap()
        }
    };
    let before = page(cookie.clone()).await;
    assert!(before.contains("Accept this answer"), "the asker may accept");
    // (Edit and comment forms name the post's kind too: look for the vote form itself.)
    let (question_part, answers_part) = before.split_at(before.find(r#"id="answer-list""#).unwrap());
    assert!(!question_part.contains(r#"<form class="vote""#), "no vote on your own question");
    assert!(answers_part.contains(r#"<form class="vote""#), "a vote on someone else's answer");

    let form = |path: &str, body: String, cookie: Option<&str>| {
        let mut req = no_redirects()
            .post(app.url(path))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body);
        if let Some(cookie) = cookie {
            req = req.header("cookie", cookie);
        }
        req.send()
    };
    let vote = format!("/questions/{q}/vote");
    let back = format!("%2Fquestions%2F{q}%23answer-1");
    // Refused: no session (to log in), no or a forged CSRF token; nothing changes.
    let res = form(&vote, format!("kind=answer&post={a}&value=1&back={back}"), None).await.unwrap();
    assert_eq!(res.status(), 303);
    assert!(res.headers()["location"].to_str().unwrap().starts_with("/login?next="));
    for csrf in ["", "forged"] {
        let res =
            form(&vote, format!("csrf={csrf}&kind=answer&post={a}&value=1"), Some(&cookie)).await.unwrap();
        assert_eq!(res.status(), 403);
    }
    assert_eq!(app.db.count("SELECT count(*) FROM votes").await, 0);

    let res = form(&vote, format!("csrf={csrf}&kind=answer&post={a}&value=1&back={back}"), Some(&cookie))
        .await
        .unwrap();
    assert_eq!(res.status(), 303);
    assert_eq!(res.headers()["location"].to_str().unwrap(), format!("/questions/{q}#answer-1"));
    // A return address off this question's page is not followed.
    let res = form(
        &format!("/questions/{q}/accept"),
        format!("csrf={csrf}&answer={a}&accept=1&back=https%3A%2F%2Fevil.example%2F"),
        Some(&cookie),
    )
    .await
    .unwrap();
    assert_eq!(res.status(), 303);
    assert_eq!(res.headers()["location"].to_str().unwrap(), format!("/questions/{q}"));
    let question: Value = app.get(&format!("/api/questions/{q}")).await.json().await.unwrap();
    assert_eq!(question["accepted_answer_id"], json!(a));
    let answers: Value = app.get(&format!("/api/questions/{q}/answers")).await.json().await.unwrap();
    assert_eq!(answers["items"][0]["score"], 1);
    let after = page(cookie.clone()).await;
    assert!(after.contains(r#"aria-pressed="true""#), "the page shows the standing vote");
    assert!(after.contains("Unaccept"), "and the accepted answer");
    // Voting on your own post through the form is refused like over REST.
    let res =
        form(&vote, format!("csrf={csrf}&kind=question&post={q}&value=1"), Some(&cookie)).await.unwrap();
    assert_eq!(res.status(), 403);
}

on_both_backends!(
    the_socket_takes_a_token_in_an_auth_message,
    vote_and_accept_forms,
    writes_need_an_identity,
    a_service_token_posts_as_its_user,
    a_revoked_token_fails_on_another_node_at_once,
    an_idempotency_key_retry_returns_the_same_answer,
    a_retry_after_the_post_was_deleted_is_gone,
    invisible_and_look_alike_names_are_refused,
    host_signed_tokens_map_to_users,
    public_key_tokens_and_no_algorithm_confusion,
    sessions_forms_and_csrf,
    brute_force_log_ins_are_locked,
    log_in_attempts_and_token_creation_are_limited,
    sign_ups_make_accounts_and_are_limited,
);
