//! The databases: which backend a test runs on ([`on_both_backends!`] defines each test once
//! per backend), and a fresh database per test (a temp SQLite file, or a new Postgres database
//! dropped afterwards).
//!
//! Postgres is not optional: its tests fail when it is unreachable. Point them elsewhere with
//! `TEST_DATABASE_URL` (an admin URL whose user may create databases).

use sqlx::{Connection, PgConnection};
use uuid::Uuid;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

pub fn postgres_admin_url() -> String {
    std::env::var("TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

/// A database that exists for one test only.
pub struct TestDb {
    pub url: String,
    pg_name: Option<String>,
    _dir: Option<tempfile::TempDir>,
}

impl TestDb {
    pub async fn new(backend: Backend) -> Self {
        match backend {
            Backend::Sqlite => {
                let dir = tempfile::tempdir().expect("temp dir");
                let url = format!("sqlite://{}/qa-hub.db", dir.path().display());
                Self { url, pg_name: None, _dir: Some(dir) }
            }
            Backend::Postgres => {
                let admin = postgres_admin_url();
                let name = format!("qa_hub_test_{}", Uuid::new_v4().simple());
                let mut conn = PgConnection::connect(&admin)
                    .await
                    .unwrap_or_else(|e| panic!("Postgres at {admin} is required for the tests: {e}"));
                sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
                    .execute(&mut conn)
                    .await
                    .expect("create test database");
                let url = with_database(&admin, &name);
                Self { url, pg_name: Some(name), _dir: None }
            }
        }
    }
}

impl TestDb {
    /// A database this harness did not create and will not drop (a throwaway server's).
    pub fn external(url: impl Into<String>) -> Self {
        Self { url: url.into(), pg_name: None, _dir: None }
    }

    /// The Postgres database name in the URL.
    pub fn database_name(&self) -> &str {
        let path = self.url.split('?').next().unwrap_or_default();
        path.rsplit('/').next().unwrap_or_default()
    }

    /// Runs a query that returns one integer (a `count(*)`) directly on the database: for
    /// checking that a refused request wrote nothing.
    pub async fn count(&self, sql: &str) -> i64 {
        let sql = sqlx::AssertSqlSafe(sql.to_owned());
        if self.url.starts_with("sqlite:") {
            let mut conn = sqlx::SqliteConnection::connect(&self.url).await.expect("sqlite connection");
            sqlx::query_scalar(sql).fetch_one(&mut conn).await.expect("count query")
        } else {
            let mut conn = PgConnection::connect(&self.url).await.expect("postgres connection");
            sqlx::query_scalar(sql).fetch_one(&mut conn).await.expect("count query")
        }
    }

    /// Runs a statement directly on the database: for putting rows in a state only an older
    /// build could have written.
    pub async fn execute(&self, sql: &str) {
        let sql = sqlx::AssertSqlSafe(sql.to_owned());
        if self.url.starts_with("sqlite:") {
            let mut conn = sqlx::SqliteConnection::connect(&self.url).await.expect("sqlite connection");
            sqlx::query(sql).execute(&mut conn).await.expect("statement");
        } else {
            let mut conn = PgConnection::connect(&self.url).await.expect("postgres connection");
            sqlx::query(sql).execute(&mut conn).await.expect("statement");
        }
    }

    /// Another handle on the same database that does not drop it: for a second (third, …)
    /// server on one database. Stop those servers before the owning handle goes away.
    pub fn shared(&self) -> Self {
        Self { url: self.url.clone(), pg_name: None, _dir: None }
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let Some(name) = self.pg_name.take() else { return };
        // Drop runs outside async; a short-lived thread with its own runtime does the cleanup.
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().ok()?;
            rt.block_on(async {
                let mut conn = PgConnection::connect(&postgres_admin_url()).await.ok()?;
                sqlx::raw_sql(sqlx::AssertSqlSafe(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")))
                    .execute(&mut conn)
                    .await
                    .ok()
            })
        })
        .join();
    }
}

/// Replaces the database name in a Postgres URL.
pub fn with_database(url: &str, name: &str) -> String {
    let (base, query) = url.split_once('?').map_or((url, None), |(b, q)| (b, Some(q)));
    let after_scheme = base.find("://").map_or(0, |i| i + 3);
    let base = match base[after_scheme..].find('/') {
        Some(slash) => &base[..after_scheme + slash],
        None => base,
    };
    match query {
        Some(q) => format!("{base}/{name}?{q}"),
        None => format!("{base}/{name}"),
    }
}

/// Adds a query parameter (`sslmode=require`) to a database URL.
pub fn with_param(url: &str, param: &str) -> String {
    format!("{url}{}{param}", if url.contains('?') { '&' } else { '?' })
}

/// (connections with TLS, all connections) that Postgres reports to database `name`, not
/// counting the asking connection.
pub async fn tls_connections(admin: &mut PgConnection, name: &str) -> (i64, i64) {
    sqlx::query_as(
        "SELECT count(*) FILTER (WHERE s.ssl), count(*) FROM pg_stat_activity a \
         JOIN pg_stat_ssl s USING (pid) WHERE a.datname = $1 AND a.pid <> pg_backend_pid()",
    )
    .bind(name)
    .fetch_one(admin)
    .await
    .expect("pg_stat_ssl")
}

/// Defines each listed test twice, `sqlite::name` and `postgres::name`, each calling
/// `name(Backend)` from the enclosing module.
#[macro_export]
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() { super::$name($crate::common::Backend::Sqlite).await }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() { super::$name($crate::common::Backend::Postgres).await }
            )*
        }
    };
}
