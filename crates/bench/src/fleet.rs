//! The parent's side of the worker processes: it starts them (this binary with `--worker`),
//! hands each its share of the subscribers, waits until they are connected, follows their
//! progress, and adds up what they saw.

use std::{
    process::Stdio,
    time::{Duration, Instant},
};

use anyhow::Context;
use tokio::{
    io::{AsyncBufReadExt, AsyncWriteExt, BufReader},
    process::{Child, ChildStdin, ChildStdout, Command},
    sync::mpsc,
};
use uuid::Uuid;

use crate::{
    cli::Cli,
    messages::{FromWorker, ToWorker, VoteSent, WorkerResult, WorkerSpec},
};

/// The worker processes of one run.
pub struct Fleet {
    workers: Vec<Worker>,
}

struct Worker {
    child: Child,
    stdin: ChildStdin,
    /// The worker's messages, read by a task of their own so that progress never backs up.
    msgs: mpsc::UnboundedReceiver<anyhow::Result<FromWorker>>,
    delivered: u64,
}

/// How the connecting went, over all workers.
pub struct Ready {
    pub connected: usize,
    pub failed: usize,
    pub first_error: Option<String>,
}

impl Fleet {
    /// Starts enough workers for `total` subscribers (at most `--per-worker` each); subscriber
    /// i follows `questions[i % questions.len()]`.
    pub async fn spawn(cli: &Cli, total: usize, questions: &[Uuid]) -> anyhow::Result<Fleet> {
        let exe = std::env::current_exe()?;
        let n = total.div_ceil(cli.per_worker.max(1));
        let mut workers = Vec::new();
        for w in 0..n {
            let first = w * total / n;
            let count = (w + 1) * total / n - first;
            let mut child = Command::new(&exe)
                .arg("--worker")
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .kill_on_drop(true)
                .spawn()
                .context("starting a worker process")?;
            let mut stdin = child.stdin.take().context("a worker's stdin")?;
            let stdout = child.stdout.take().context("a worker's stdout")?;
            let spec = WorkerSpec {
                servers: cli.server.clone(),
                source_addrs: cli.source_addrs,
                connect_concurrency: cli.connect_concurrency,
                first,
                count,
                questions: questions.to_vec(),
                transport: cli.transport,
            };
            stdin.write_all(format!("{}\n", serde_json::to_string(&spec)?).as_bytes()).await?;
            workers.push(Worker { child, stdin, msgs: forward(stdout), delivered: 0 });
        }
        Ok(Fleet { workers })
    }

    /// Waits for every worker's `ready`.
    pub async fn ready(&mut self, deadline: Duration) -> anyhow::Result<Ready> {
        let mut all = Ready { connected: 0, failed: 0, first_error: None };
        for w in &mut self.workers {
            loop {
                match tokio::time::timeout(deadline, w.next_msg())
                    .await
                    .context("workers did not connect in time")??
                {
                    FromWorker::Ready { connected, failed, first_error } => {
                        all.connected += connected;
                        all.failed += failed;
                        all.first_error = all.first_error.or(first_error);
                        break;
                    }
                    _ => continue,
                }
            }
        }
        Ok(all)
    }

    /// Polls worker progress until `expected` deliveries were seen or `deadline` passes;
    /// returns the deliveries seen.
    pub async fn await_deliveries(&mut self, expected: u64, deadline: Duration) -> u64 {
        let until = Instant::now() + deadline;
        let mut last_print = Instant::now();
        loop {
            tokio::time::sleep(Duration::from_millis(50)).await;
            for w in &mut self.workers {
                while let Ok(msg) = w.msgs.try_recv() {
                    if let Ok(FromWorker::Progress { delivered }) = msg {
                        w.delivered = delivered;
                    }
                }
            }
            let total: u64 = self.workers.iter().map(|w| w.delivered).sum();
            if last_print.elapsed() > Duration::from_secs(1) {
                eprintln!("  delivered {total}/{expected}");
                last_print = Instant::now();
            }
            if total >= expected || Instant::now() >= until {
                return total;
            }
        }
    }

    /// Stops every worker (telling it how many events each question had, and which vote made
    /// which score) and adds up their results.
    pub async fn collect(self, expected: Vec<u64>, votes: Vec<VoteSent>) -> anyhow::Result<WorkerResult> {
        let mut all = WorkerResult::default();
        let stop = format!("{}\n", serde_json::to_string(&ToWorker::Stop { expected, votes })?);
        for mut w in self.workers {
            w.stdin.write_all(stop.as_bytes()).await?;
            let res = loop {
                match tokio::time::timeout(Duration::from_secs(60), w.next_msg())
                    .await
                    .context("worker result")??
                {
                    FromWorker::Result(r) => break r,
                    _ => continue,
                }
            };
            all.add(res);
            let _ = w.child.wait().await;
        }
        Ok(all)
    }
}

impl Worker {
    async fn next_msg(&mut self) -> anyhow::Result<FromWorker> {
        self.msgs.recv().await.context("a worker exited early")?
    }
}

/// Reads a worker's stdout line by line into a channel, until it ends or a line is not a
/// message.
fn forward(stdout: ChildStdout) -> mpsc::UnboundedReceiver<anyhow::Result<FromWorker>> {
    let (tx, rx) = mpsc::unbounded_channel();
    tokio::task::spawn_local(async move {
        let mut lines = BufReader::new(stdout).lines();
        loop {
            let msg = match lines.next_line().await {
                Ok(Some(line)) => serde_json::from_str(&line).map_err(anyhow::Error::from),
                Ok(None) => Err(anyhow::anyhow!("a worker exited early")),
                Err(e) => Err(e.into()),
            };
            let end = msg.is_err();
            if tx.send(msg).is_err() || end {
                return;
            }
        }
    });
    rx
}
