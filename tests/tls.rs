//! TLS to Postgres, as an operator of a managed database uses it: `sslmode=require` against
//! our local Postgres (Debian's snakeoil certificate), and the verifying modes against a
//! throwaway Postgres whose certificate chains to a CA this test makes. Postgres only: the
//! settings are Postgres URL parameters.

use std::{
    path::{Path, PathBuf},
    process::Command,
};

use crate::common::{Backend, TestApp, TestDb, start_on, tls_connections, with_param};
use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};
use sqlx::{Connection, PgConnection};

/// A question answered over REST reaches a WebSocket subscriber, and reads back.
async fn smoke(app: &TestApp) {
    let q = app.question().await;
    let mut ws = app.ws().await;
    assert_eq!(ws.subscribe_legacy(q, None).await, 0);
    app.answer(q, "over TLS").await;
    assert_eq!(ws.answers(1).await, vec![(q, 1)]);
    let listed: serde_json::Value =
        app.get(&format!("/api/questions/{q}/answers")).await.json().await.unwrap();
    assert_eq!(listed["items"][0]["body"], "over TLS");
}

async fn admin(url: &str) -> PgConnection {
    PgConnection::connect(url).await.expect("admin connection")
}

/// Serves the smoke test on a fresh database of the local Postgres with `sslmode` set; returns
/// (connections with TLS, all connections) of the hub's pool and listener.
async fn smoke_with_sslmode(mode: &str) -> (i64, i64) {
    let mut db = TestDb::new(Backend::Postgres).await;
    db.url = with_param(&db.url, &format!("sslmode={mode}"));
    let app = start_on(db, |_| {}).await;
    smoke(&app).await;
    let counts =
        tls_connections(&mut admin(&crate::common::postgres_admin_url()).await, app.db.database_name()).await;
    app.stop().await;
    counts
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sslmode_require_serves_rest_and_websocket_over_tls() {
    let (encrypted, all) = smoke_with_sslmode("require").await;
    // The pool and the cluster listener.
    assert!(all >= 2 && encrypted == all, "{encrypted} of {all} connections use TLS");
}

/// The control for the test above: the same check sees plain connections when TLS is off.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sslmode_disable_connects_in_the_clear() {
    let (encrypted, all) = smoke_with_sslmode("disable").await;
    assert!(all >= 2 && encrypted == 0, "{encrypted} of {all} connections use TLS");
}

/// A CA, a server certificate for `localhost` that it signs, and an unrelated CA.
struct Pki {
    dir: tempfile::TempDir,
}

impl Pki {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let ca = |name: &str| {
            let key = KeyPair::generate().unwrap();
            let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
            params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
            params.distinguished_name.push(rcgen::DnType::CommonName, name);
            let cert = params.self_signed(&key).unwrap();
            std::fs::write(dir.path().join(format!("{name}.pem")), cert.pem()).unwrap();
            (params, key)
        };
        let (ca_params, ca_key) = ca("qa-hub-test-ca");
        ca("unrelated-ca");
        let server_key = KeyPair::generate().unwrap();
        let server = CertificateParams::new(vec!["localhost".to_owned()])
            .unwrap()
            .signed_by(&server_key, &Issuer::new(ca_params, ca_key))
            .unwrap();
        std::fs::write(dir.path().join("server.crt"), server.pem()).unwrap();
        std::fs::write(dir.path().join("server.key"), server_key.serialize_pem()).unwrap();
        Self { dir }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }
}

/// A Postgres server of our own, serving TLS with the [`Pki`] server certificate; stopped and
/// deleted when dropped (also when the test fails).
struct ThrowawayPostgres {
    dir: tempfile::TempDir,
    port: u16,
}

impl ThrowawayPostgres {
    fn start(pki: &Pki) -> Self {
        let dir = tempfile::Builder::new().prefix("qa-hub-tls-pg-").tempdir().unwrap();
        let data = dir.path().join("data");
        std::fs::copy(pki.path("server.crt"), dir.path().join("server.crt")).unwrap();
        std::fs::copy(pki.path("server.key"), dir.path().join("server.key")).unwrap();
        set_mode(&dir.path().join("server.key"), 0o600);
        // Postgres refuses to run as root; the tests may (CI does).
        if running_as_root() {
            run(Command::new("chown").arg("-R").arg("postgres:").arg(dir.path()));
        }
        run(postgres_command("initdb").arg("-D").arg(&data).args([
            "-A",
            "trust",
            "-U",
            "postgres",
            "--no-sync",
        ]));
        // A port another process takes between our probe and the server's bind fails the
        // start; a few tries make that harmless.
        for _ in 0..5 {
            let port = free_port();
            let options = format!(
                "-p {port} -c listen_addresses=127.0.0.1 -c unix_socket_directories={dir} -c ssl=on \
                 -c ssl_cert_file={dir}/server.crt -c ssl_key_file={dir}/server.key -c fsync=off",
                dir = dir.path().display()
            );
            let started = postgres_command("pg_ctl")
                .arg("-D")
                .arg(&data)
                .arg("-l")
                .arg(dir.path().join("log"))
                .args(["-w", "-o", &options, "start"])
                .output()
                .expect("pg_ctl runs");
            if started.status.success() {
                return Self { dir, port };
            }
        }
        let log = std::fs::read_to_string(dir.path().join("log")).unwrap_or_default();
        panic!("the throwaway Postgres did not start:\n{log}");
    }

    fn url(&self, host: &str, params: &str) -> String {
        format!("postgres://postgres@{host}:{}/postgres?{params}", self.port)
    }
}

impl Drop for ThrowawayPostgres {
    fn drop(&mut self) {
        let _ = postgres_command("pg_ctl")
            .arg("-D")
            .arg(self.dir.path().join("data"))
            .args(["-m", "immediate", "stop"])
            .output();
    }
}

fn running_as_root() -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() == 0 }
}

/// A Postgres server program (from PATH or Debian's versioned folder), run as the `postgres`
/// user when we are root.
fn postgres_command(program: &str) -> Command {
    let path = std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default())
        .chain(
            std::fs::read_dir("/usr/lib/postgresql")
                .into_iter()
                .flatten()
                .flatten()
                .map(|version| version.path().join("bin")),
        )
        .map(|dir| dir.join(program))
        .find(|candidate| candidate.is_file())
        .unwrap_or_else(|| panic!("{program} not found: install Debian's postgresql package"));
    if running_as_root() {
        let mut command = Command::new("runuser");
        command.args(["-u", "postgres", "--"]).arg(path);
        command
    } else {
        Command::new(path)
    }
}

fn run(command: &mut Command) {
    let output = command.output().expect("command runs");
    assert!(output.status.success(), "{command:?} failed: {}", String::from_utf8_lossy(&output.stderr));
}

fn set_mode(path: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// Starts the hub on `url`, or returns the start-up error's text.
async fn try_start(url: String) -> Result<TestApp, String> {
    crate::common::try_start_on(TestDb::external(url), |_| {}).await.map_err(|e| format!("{e:#}"))
}

/// Every libpq mode against a server whose certificate chains to a CA the test supplies.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verifying_modes_follow_libpq_against_a_ca_the_test_supplies() {
    let pki = Pki::new();
    let pg = ThrowawayPostgres::start(&pki);
    let ca = pki.path("qa-hub-test-ca.pem");
    let unrelated = pki.path("unrelated-ca.pem");
    let root = |path: &Path| format!("sslrootcert={}", path.display());

    // verify-full: the chain and the host name check out.
    let app = try_start(pg.url("localhost", &format!("sslmode=verify-full&{}", root(&ca)))).await.unwrap();
    smoke(&app).await;
    let mut admin = admin(&pg.url("localhost", "sslmode=disable")).await;
    let (encrypted, all) = tls_connections(&mut admin, "postgres").await;
    assert!(all >= 2 && encrypted == all, "{encrypted} of {all} connections use TLS");
    app.stop().await;

    // The same with an unrelated root: refused, in one sentence naming the setting.
    let refused = try_start(pg.url("localhost", &format!("sslmode=verify-full&{}", root(&unrelated))))
        .await
        .err()
        .expect("an unrelated root is refused");
    assert!(refused.contains("did not verify") && refused.contains("sslrootcert="), "{refused}");

    // verify-full checks the name (the certificate is for localhost only); verify-ca does not.
    let wrong_name = try_start(pg.url("127.0.0.1", &format!("sslmode=verify-full&{}", root(&ca))))
        .await
        .err()
        .expect("a certificate for another name is refused");
    assert!(
        wrong_name.contains("not issued for the host name") && wrong_name.contains("verify-ca"),
        "{wrong_name}"
    );
    let app = try_start(pg.url("127.0.0.1", &format!("sslmode=verify-ca&{}", root(&ca)))).await.unwrap();
    smoke(&app).await;
    app.stop().await;

    // require encrypts without verifying — unless a root certificate is given, when libpq
    // verifies the chain as verify-ca does.
    let app = try_start(pg.url("127.0.0.1", "sslmode=require")).await.unwrap();
    app.stop().await;
    let refused = try_start(pg.url("127.0.0.1", &format!("sslmode=require&{}", root(&unrelated))))
        .await
        .err()
        .expect("require with a root certificate verifies the chain");
    assert!(refused.contains("did not verify"), "{refused}");

    // The real binary: exit status 1 and the same sentence as the only line on stderr.
    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_qa-hub"))
        .args(["--bind", "127.0.0.1:0", "--database-url"])
        .arg(pg.url("localhost", &format!("sslmode=verify-full&{}", root(&unrelated))))
        .env_remove("RUST_LOG")
        .output()
        .await
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.starts_with("qa-hub: the TLS certificate of Postgres") && stderr.contains("sslrootcert="));
}
