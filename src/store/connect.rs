//! From `DATABASE_URL` to connect options, and from a failed connection to a sentence an
//! operator can act on.
//!
//! sqlx parses libpq's URL parameters but departs from libpq in three places that matter to
//! someone pointing qa-hub at a managed Postgres, so the options are adjusted here, once, for
//! the pool and the cluster listener alike:
//! - `sslmode=require` with a root certificate (`sslrootcert`, or libpq's default
//!   `~/.postgresql/root.crt` when it exists) verifies the chain, as libpq's `verify-ca` does;
//!   sqlx would not verify at all.
//! - `sslrootcert=system` means the built-in root set (libpq 16); sqlx would read a file called
//!   `system`.
//! - `sslmode=allow` tries TLS first (as `prefer`); sqlx would never use TLS.
//!
//! One departure remains: verification trusts the `sslrootcert` file *in addition to* the
//! Mozilla roots built into qa-hub, where libpq trusts the file alone. README says so and
//! recommends `verify-full`, which also checks the host name.

use std::{
    path::{Path, PathBuf},
    str::FromStr,
    time::Duration,
};

use sqlx::{
    ConnectOptions,
    postgres::{PgConnectOptions, PgSslMode},
};

/// Which flag and variable set the database; named in every message about it.
const SETTING: &str = "DATABASE_URL (--database-url)";

/// A start-up failure, already worded for the operator: one line, ending in what to change.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ConnectError(String);

impl ConnectError {
    pub fn new(message: impl Into<String>) -> Self {
        Self(message.into())
    }
}

/// Parses a `postgres://` URL into the options every connection of this process uses.
pub fn postgres_options(url: &str) -> Result<PgConnectOptions, ConnectError> {
    let mut parsed =
        url::Url::parse(url).map_err(|e| ConnectError::new(format!("{SETTING} is not a valid URL: {e}")))?;
    let root_param = parsed.query_pairs().find(|(k, _)| is_root_cert_key(k)).map(|(_, v)| v.into_owned());
    let system_roots = root_param.as_deref() == Some("system");
    if system_roots {
        // The built-in roots are what verification uses when no file is given.
        let kept: Vec<(String, String)> = parsed
            .query_pairs()
            .filter(|(k, _)| !is_root_cert_key(k))
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
        parsed.query_pairs_mut().clear().extend_pairs(kept);
    }
    let mut options = PgConnectOptions::from_str(parsed.as_str()).map_err(|e| {
        let mut cause: &dyn std::error::Error = &e;
        while let Some(inner) = cause.source() {
            cause = inner;
        }
        let hint = if cause.to_string().contains("ssl_mode") {
            "; sslmode is one of disable, allow, prefer, require, verify-ca, verify-full"
        } else {
            ""
        };
        ConnectError::new(format!("{SETTING} is not a usable Postgres URL: {cause}{hint}"))
    })?;

    let root_file = match root_param {
        Some(_) if system_roots => None,
        Some(path) => Some(PathBuf::from(path)),
        None => match std::env::var_os("PGSSLROOTCERT") {
            Some(path) => Some(PathBuf::from(path)),
            // libpq's default, used (like libpq) only when it exists.
            None => default_root_file().inspect(|path| options = options.clone().ssl_root_cert(path)),
        },
    };
    if let Some(path) = &root_file {
        check_root_file(path)?;
    }
    options = match options.get_ssl_mode() {
        PgSslMode::Allow => options.ssl_mode(PgSslMode::Prefer),
        PgSslMode::Require if root_file.is_some() => options.ssl_mode(PgSslMode::VerifyCa),
        _ => options,
    };
    Ok(options)
}

fn is_root_cert_key(key: &str) -> bool {
    matches!(key, "sslrootcert" | "ssl-root-cert" | "ssl-ca")
}

fn default_root_file() -> Option<PathBuf> {
    let path = PathBuf::from(std::env::var_os("HOME")?).join(".postgresql/root.crt");
    path.is_file().then_some(path)
}

/// A root file that cannot be read would otherwise surface as a bare I/O error mid-handshake.
fn check_root_file(path: &Path) -> Result<(), ConnectError> {
    let text = std::fs::read(path).map_err(|e| {
        ConnectError::new(format!(
            "cannot read sslrootcert file {} named in {SETTING} or PGSSLROOTCERT: {e}",
            path.display()
        ))
    })?;
    if !String::from_utf8_lossy(&text).contains("-----BEGIN CERTIFICATE-----") {
        return Err(ConnectError::new(format!(
            "sslrootcert file {} named in {SETTING} or PGSSLROOTCERT holds no PEM certificate",
            path.display()
        )));
    }
    Ok(())
}

/// Opens one connection with `options` and returns why it failed, if it did. A pool that
/// timed out retrying refused connections reports only the time-out; this finds the cause.
pub async fn probe(options: &PgConnectOptions) -> Option<sqlx::Error> {
    match tokio::time::timeout(Duration::from_secs(5), options.connect()).await {
        Ok(Ok(conn)) => {
            let _ = sqlx::Connection::close(conn).await;
            None
        }
        Ok(Err(e)) => Some(e),
        Err(_) => Some(sqlx::Error::PoolTimedOut),
    }
}

/// Words a failure to connect to Postgres as one sentence that names what to change.
pub fn explain(error: &sqlx::Error, options: &PgConnectOptions) -> ConnectError {
    let host = options.get_host();
    let at = format!("Postgres at {host}:{}", options.get_port());
    let mode = ssl_mode_name(options.get_ssl_mode());
    let detail = sqlx_detail(error);
    // rustls' verdicts reach us inside I/O errors as well as TLS ones: go by the text.
    let tls_failure = matches!(error, sqlx::Error::Tls(_)) || detail.contains("certificate");
    let message = match error {
        sqlx::Error::Configuration(_) => format!("{SETTING} is not a usable Postgres URL: {detail}"),
        _ if detail.contains("does not support TLS") => format!(
            "{at} does not offer TLS, but sslmode={mode} in {SETTING} requires it; enable ssl on the server or set sslmode=prefer"
        ),
        _ if tls_failure && detail.contains("not valid for name") => format!(
            "the TLS certificate of {at} is not issued for the host name {host:?} ({detail}); connect by a name the certificate lists, or set sslmode=verify-ca in {SETTING} to skip the name check"
        ),
        _ if tls_failure && detail.contains("certificate") => format!(
            "the TLS certificate of {at} did not verify ({detail}); set sslrootcert=/path/to/ca.pem in {SETTING} to the CA that signed it (managed services publish theirs), or set sslmode=require to encrypt without verifying"
        ),
        _ if tls_failure => {
            format!("TLS to {at} failed ({detail}); check sslmode and sslrootcert in {SETTING}")
        }
        sqlx::Error::Io(e) if e.kind() == std::io::ErrorKind::ConnectionRefused => format!(
            "cannot reach {at}: connection refused; start the database or fix the host and port in {SETTING}"
        ),
        sqlx::Error::Io(_) => {
            format!("cannot reach {at} ({detail}); fix the host and port in {SETTING}")
        }
        sqlx::Error::PoolTimedOut => {
            format!(
                "no connection to {at} within the time allowed; check that it is reachable and the host and port in {SETTING}"
            )
        }
        sqlx::Error::Database(db) => {
            let said = db.message();
            match db.code().as_deref() {
                Some("3D000") => {
                    format!("{at} says {said:?}; create it or fix the database name in {SETTING}")
                }
                Some("28000") if said.contains("no encryption") => format!(
                    "{at} refused a connection without TLS ({said}); set sslmode=require (or verify-full) in {SETTING}"
                ),
                Some(code) if code.starts_with("28") => {
                    format!("{at} refused the login ({said}); fix the user name or password in {SETTING}")
                }
                _ => format!("{at} refused the connection ({said}); check {SETTING}"),
            }
        }
        _ => format!("cannot connect to {at} ({detail}); check {SETTING}"),
    };
    ConnectError(message)
}

/// An error's text without the newlines some drivers put in it.
fn sqlx_detail(error: &sqlx::Error) -> String {
    error.to_string().split_whitespace().collect::<Vec<_>>().join(" ")
}

fn ssl_mode_name(mode: PgSslMode) -> &'static str {
    match mode {
        PgSslMode::Disable => "disable",
        PgSslMode::Allow => "allow",
        PgSslMode::Prefer => "prefer",
        PgSslMode::Require => "require",
        PgSslMode::VerifyCa => "verify-ca",
        PgSslMode::VerifyFull => "verify-full",
    }
}

/// The URL with its password replaced, for messages and logs.
pub fn redact(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut parsed) if parsed.password().is_some() => {
            let _ = parsed.set_password(Some("***"));
            parsed.to_string()
        }
        Ok(_) => url.to_owned(),
        Err(_) => "(unparsable)".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn require_with_a_root_certificate_verifies_the_chain_as_libpq_does() {
        let dir = tempfile::tempdir().unwrap();
        let ca = dir.path().join("ca.pem");
        std::fs::write(&ca, "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n").unwrap();
        let url = format!("postgres://u@db.example/app?sslmode=require&sslrootcert={}", ca.display());
        assert!(matches!(postgres_options(&url).unwrap().get_ssl_mode(), PgSslMode::VerifyCa));
        let plain = postgres_options("postgres://u@db.example/app?sslmode=require").unwrap();
        assert!(matches!(plain.get_ssl_mode(), PgSslMode::Require));
    }

    #[test]
    fn allow_tries_tls_and_system_means_the_built_in_roots() {
        let allow = postgres_options("postgres://u@db.example/app?sslmode=allow").unwrap();
        assert!(matches!(allow.get_ssl_mode(), PgSslMode::Prefer));
        let system =
            postgres_options("postgres://u@db.example/app?sslmode=verify-full&sslrootcert=system").unwrap();
        assert!(matches!(system.get_ssl_mode(), PgSslMode::VerifyFull));
    }

    #[test]
    fn bad_urls_and_root_files_are_sentences_naming_the_setting() {
        for (url, expect) in [
            ("postgres://u:secret@db.example:notaport/app", "not a valid URL"),
            ("postgres://u@db.example/app?sslmode=sometimes", "not a usable Postgres URL"),
            ("postgres://u@db.example/app?sslrootcert=/nonexistent/ca.pem", "cannot read sslrootcert"),
        ] {
            let message = postgres_options(url).unwrap_err().to_string();
            assert!(message.contains(expect) && message.contains("DATABASE_URL"), "{url}: {message}");
            assert!(!message.contains("secret") && !message.contains('\n'), "{message}");
        }
    }
}
