//! The `qa-hub` binary: reads the flags (`config::Cli`), then serves (`Application`) or runs
//! one of the admin commands (`user`, `token`); a failed start ends in one line on stderr.

use std::process::ExitCode;

use qa_hub::{
    Application,
    config::{Cli, Command},
    store::Store,
};
use tracing_subscriber::EnvFilter;

/// jemalloc rather than the system's allocator: it gives the memory of a burst back to the
/// system soon after it is freed (hundreds of connections let go, say), where glibc's malloc
/// keeps it in its arenas for ever, and it leaves the untouched part of a buffer unbacked, as
/// glibc does (mimalloc, tried, did not: +9 KiB per idle event stream; docs/benchmarks.md).
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// jemalloc's settings: a background thread returns freed pages to the system a second after
/// they are freed, whether or not anything else is allocated meanwhile.
#[allow(non_upper_case_globals)]
#[unsafe(export_name = "_rjem_malloc_conf")]
pub static malloc_conf: &[u8] = b"background_thread:true,dirty_decay_ms:1000,muzzy_decay_ms:0\0";

#[actix_web::main]
async fn main() -> ExitCode {
    // Logs go to stderr, beside the one-line error a failed start ends with.
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")))
        .init();
    match async { run(Cli::from_env()?).await }.await {
        Ok(()) => ExitCode::SUCCESS,
        // One line, no backtrace: every start-up error already says what to change.
        Err(error) => {
            let line = format!("{error:#}").split_whitespace().collect::<Vec<_>>().join(" ");
            eprintln!("qa-hub: {line}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command.unwrap_or(Command::Serve) {
        Command::Migrate => {
            let store = Store::connect(&cli.config.database.database_url, 1, true).await?;
            store.migrate().await?;
            tracing::info!(database = store.backend(), "migrations applied");
            store.close().await;
        }
        Command::Serve => serve(cli.config).await?,
        Command::Healthcheck => healthcheck(&cli.config.server.bind).await?,
        Command::User(command) => qa_hub::admin::user(&cli.config, command).await?,
        Command::Token(command) => qa_hub::admin::token(&cli.config, command).await?,
    }
    Ok(())
}

async fn serve(config: qa_hub::Config) -> anyhow::Result<()> {
    let app = Application::build(config).await?;
    tracing::info!(addr = %app.addr(), database = app.backend(), "qa-hub listening");
    if let Some(addr) = app.metrics_addr() {
        tracing::info!(%addr, "metrics served at /metrics");
    }
    let stopper = app.stopper();
    tokio::spawn(async move {
        shutdown_signal().await;
        tracing::info!("shutting down");
        stopper.stop().await;
    });
    app.run().await?;
    tracing::info!("stopped");
    Ok(())
}

/// Resolves on SIGINT (Ctrl-C) or SIGTERM.
async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .expect("installing a SIGTERM handler");
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}

/// Asks the server bound at `bind` for /healthz over plain HTTP/1.0; an error (non-zero exit)
/// unless it answers 200 within a few seconds.
async fn healthcheck(bind: &str) -> anyhow::Result<()> {
    use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    let mut addr: SocketAddr =
        bind.parse().map_err(|e| anyhow::anyhow!("--bind {bind:?} is not IP:PORT: {e}"))?;
    // A server bound to every interface is reachable on loopback.
    if addr.ip().is_unspecified() {
        addr.set_ip(match addr.ip() {
            IpAddr::V4(_) => IpAddr::V4(Ipv4Addr::LOCALHOST),
            IpAddr::V6(_) => IpAddr::V6(Ipv6Addr::LOCALHOST),
        });
    }
    let check = async {
        let mut stream = tokio::net::TcpStream::connect(addr).await?;
        stream.write_all(b"GET /healthz HTTP/1.0\r\nHost: localhost\r\n\r\n").await?;
        let mut head = [0u8; 12];
        stream.read_exact(&mut head).await?;
        Ok::<_, std::io::Error>(head)
    };
    let head = tokio::time::timeout(std::time::Duration::from_secs(3), check)
        .await
        .map_err(|_| anyhow::anyhow!("no answer from {addr} within 3 s"))??;
    anyhow::ensure!(head.ends_with(b" 200"), "{addr}/healthz answered {:?}", String::from_utf8_lossy(&head));
    Ok(())
}
