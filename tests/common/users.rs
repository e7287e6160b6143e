//! Users and their credentials: host-signed JWTs (one user per `sub`, no password hash per
//! user), accounts and service tokens made with the real binary's `user` / `token` commands,
//! and log-in sessions with their cookie and CSRF token.

use std::process::Stdio;

use jsonwebtoken::{EncodingKey, Header, encode};
use qa_hub::Config;
use serde_json::{Value, json};
use tokio::io::AsyncWriteExt;
use uuid::Uuid;

use super::{TestApp, TestDb};

/// The issuer and shared secret of host-signed tokens (see [`host_tokens`]).
pub const ISSUER: &str = "https://site.example";
pub const SECRET: &str = "0123456789abcdef0123456789abcdef-test-secret";

/// A config tweak: the hub accepts tokens signed with [`SECRET`] by [`ISSUER`].
pub fn host_tokens(config: &mut Config) {
    config.identity.jwt_secret = Some(SECRET.into());
    config.identity.jwt_issuer = Some(ISSUER.into());
}

pub fn jwt(claims: Value, secret: &str) -> String {
    encode(&Header::default(), &claims, &EncodingKey::from_secret(secret.as_bytes())).unwrap()
}

pub fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

/// A host-signed token for user `sub`.
pub fn user(sub: &str) -> String {
    jwt(json!({"iss": ISSUER, "sub": sub, "name": sub, "exp": now() + 600}), SECRET)
}

/// Runs `qa-hub ARGS` on the test's database, with `stdin`; returns (exit status, the last
/// line of stdout, stderr).
pub async fn cli(db: &TestDb, args: &[&str], stdin: &str) -> (bool, String, String) {
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_qa-hub"))
        .args(args)
        .env("DATABASE_URL", &db.url)
        .env("RUST_LOG", "warn")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the qa-hub binary runs");
    child.stdin.take().unwrap().write_all(stdin.as_bytes()).await.unwrap();
    let out = child.wait_with_output().await.unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let last = stdout.lines().last().unwrap_or_default().to_owned();
    (out.status.success(), last, String::from_utf8_lossy(&out.stderr).into_owned())
}

/// Creates `handle` (password `correct horse`) and a service token for them: (user id, token).
pub async fn user_with_token(app: &TestApp, handle: &str) -> (Uuid, String) {
    let (ok, id, err) =
        cli(&app.db, &["user", "create", handle, "--password-stdin"], "correct horse\n").await;
    assert!(ok, "user create: {err}");
    let (ok, token, err) = cli(&app.db, &["token", "create", "--user", handle, "--name", "tests"], "").await;
    assert!(ok, "token create: {err}");
    assert!(token.starts_with("qah_"), "{token}");
    (Uuid::parse_str(&id).expect("the id is the last line"), token)
}

/// A moderator's service token (made with the CLI, as an operator would).
pub async fn moderator(app: &TestApp) -> String {
    let (ok, _, err) =
        cli(&app.db, &["user", "create", "mod", "--moderator", "--password-stdin"], "correct horse\n").await;
    assert!(ok, "user create: {err}");
    let (ok, token, err) = cli(&app.db, &["token", "create", "--user", "mod", "--name", "tests"], "").await;
    assert!(ok, "token create: {err}");
    token
}

/// A client that shows redirects instead of following them, as the form tests need.
pub fn no_redirects() -> reqwest::Client {
    reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap()
}

/// Logs in through the form; the session cookie's `name=value`.
pub async fn log_in(app: &TestApp, handle: &str, password: &str) -> reqwest::Response {
    no_redirects()
        .post(app.url("/login"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("handle={handle}&password={}&next=/questions", password.replace(' ', "+")))
        .send()
        .await
        .unwrap()
}

pub fn session_of(res: &reqwest::Response) -> String {
    let cookie = res.headers()["set-cookie"].to_str().unwrap().to_owned();
    assert!(cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax"), "{cookie}");
    assert!(!cookie.contains("Secure"), "plain http: no Secure flag ({cookie})");
    cookie.split(';').next().unwrap().to_owned()
}

/// A page's CSRF token (every form of a logged-in page carries it).
pub async fn csrf_of(app: &TestApp, cookie: &str) -> String {
    let page =
        app.http.get(app.url("/")).header("cookie", cookie).send().await.unwrap().text().await.unwrap();
    let at = page.find("name=\"csrf\" value=\"").expect("a logged-in page has a CSRF token") + 19;
    page[at..].split('"').next().unwrap().to_owned()
}

/// The user id behind a token.
pub async fn me(app: &TestApp, token: &str) -> Uuid {
    let (status, body) = app.send(reqwest::Method::GET, "/api/me", Some(token), Value::Null).await;
    assert_eq!(status, 200, "{body}");
    body["id"].as_str().unwrap().parse().unwrap()
}
