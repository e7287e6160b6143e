//! Start-up failures of the real binary: each is one line on stderr that says what is wrong
//! and which flag or variable fixes it, with a non-zero exit status — no backtrace, no panic.

use crate::common::{Backend, TestDb};

/// Runs `qa-hub` with `args` and the default logging; returns its stderr after it exits 1.
async fn fails_with(args: &[&str]) -> String {
    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_qa-hub"))
        .args(args)
        .env_remove("RUST_LOG")
        .env_remove("DATABASE_URL")
        .env("NO_COLOR", "1")
        .kill_on_drop(true)
        .output()
        .await
        .expect("qa-hub runs");
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert_eq!(output.status.code(), Some(1), "exit status; stderr: {stderr}");
    assert!(!stderr.contains("panicked") && !stderr.contains("backtrace"), "{stderr}");
    // Log lines of what went well may come first (they start with a timestamp); the error is
    // the last line, and the only one that is not a log line.
    let (last, before) =
        stderr.trim_end().lines().collect::<Vec<_>>().split_last().map(|(l, b)| (*l, b.to_vec())).unwrap();
    assert!(last.starts_with("qa-hub: "), "the error is the last line: {stderr}");
    assert!(before.iter().all(|line| line.starts_with("20") && line.contains(" INFO ")), "{stderr}");
    last.to_owned()
}

fn says(stderr: &str, all: &[&str]) {
    for part in all {
        assert!(stderr.contains(part), "{part:?} missing from: {stderr}");
    }
}

#[tokio::test]
async fn a_malformed_database_url() {
    let stderr = fails_with(&["--database-url", "postgres://ann:secret@db.example:port/qa"]).await;
    says(&stderr, &["not a valid URL", "DATABASE_URL (--database-url)"]);
    assert!(!stderr.contains("secret"), "the password is never printed: {stderr}");
    let stderr = fails_with(&["--database-url", "mysql://ann@db.example/qa"]).await;
    says(&stderr, &["not supported", "sqlite://FILE or postgres://", "DATABASE_URL"]);
    let stderr = fails_with(&["--database-url", "postgres://ann@db.example/qa?sslmode=sometimes"]).await;
    says(&stderr, &["sslmode", "DATABASE_URL"]);
}

#[tokio::test]
async fn an_unreachable_database() {
    // Port 1 on loopback: nothing listens, so the connection is refused.
    let stderr = fails_with(&["--database-url", "postgres://postgres@127.0.0.1:1/qa"]).await;
    says(
        &stderr,
        &["cannot reach Postgres at 127.0.0.1:1", "connection refused", "DATABASE_URL (--database-url)"],
    );
    let stderr = fails_with(&["--database-url", "sqlite:///nonexistent-folder/qa-hub.db"]).await;
    says(&stderr, &["cannot open the SQLite database", "folder exists", "DATABASE_URL (--database-url)"]);
}

#[tokio::test]
async fn a_missing_postgres_database() {
    let url = crate::common::with_database(&crate::common::postgres_admin_url(), "qa_hub_no_such_database");
    let stderr = fails_with(&["--database-url", &url]).await;
    says(&stderr, &["does not exist", "database name", "DATABASE_URL"]);
}

async fn a_port_in_use(backend: Backend) {
    let db = TestDb::new(backend).await;
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let stderr = fails_with(&["--bind", &addr, "--database-url", &db.url]).await;
    says(&stderr, &[&format!("cannot listen on \"{addr}\""), "already in use", "--bind or QA_HUB_BIND"]);
}

async fn an_invalid_setting(backend: Backend) {
    let db = TestDb::new(backend).await;
    let stderr = fails_with(&["--bind", "127.0.0.1:0", "--database-url", &db.url, "--db-pool", "0"]).await;
    says(&stderr, &["--db-pool (QA_HUB_DB_POOL) must be at least 1"]);
}

on_both_backends!(a_port_in_use, an_invalid_setting);
