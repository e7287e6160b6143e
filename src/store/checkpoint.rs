//! WAL checkpoints for SQLite, off the commit path.
//!
//! By default SQLite checkpoints inside whichever commit pushes the WAL past 1,000 pages, so
//! every few seconds under load one post waits for the WAL to be copied into the database
//! file and synced: the tail of the post latency. The writer therefore has automatic
//! checkpoints turned off, and this task runs a PASSIVE checkpoint (which blocks neither
//! readers nor the writer) on a connection of its own once a second. docs/benchmarks.md has
//! the before/after figures.

use std::time::Duration;

use sqlx::{SqlitePool, sqlite::SqliteConnectOptions, sqlite::SqlitePoolOptions};

const INTERVAL: Duration = Duration::from_secs(1);

/// Starts the checkpointing task; it stops once `writer` is closed.
pub(super) async fn start(options: SqliteConnectOptions, writer: SqlitePool) -> sqlx::Result<()> {
    let pool = SqlitePoolOptions::new().max_connections(1).connect_with(options).await?;
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(INTERVAL);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        while !writer.is_closed() {
            tick.tick().await;
            if let Err(e) = sqlx::query("PRAGMA wal_checkpoint(PASSIVE)").execute(&pool).await {
                tracing::warn!(error = %e, "WAL checkpoint failed");
            }
        }
        pool.close().await;
    });
    Ok(())
}
