//! The scenarios, one module each, behind one trait. A scenario says how many questions and
//! subscribers it wants, who posts, what it sets up before anyone subscribes, and what it
//! does while the subscribers read (its writes, or a wait); run.rs does the rest for all of
//! them (creating questions, the worker processes, the report).
//!
//! Adding a scenario: a module here with a `clap::Args` struct of its flags that implements
//! [`Scenario`], a variant in `cli::Command`, and an arm in main.rs.

pub mod fanout;
pub mod idle;
pub mod mixed;
pub mod rate;

use std::{cell::RefCell, rc::Rc, time::Duration};

use anyhow::{Context as _, bail};
use qa_hub_client::Client;
use tokio::{sync::Semaphore, task::JoinHandle};
use uuid::Uuid;

use crate::{cli::Cli, latency::Latencies, messages::VoteSent, rest};

/// How big a run is: `questions` questions, and `subscribers` connections, subscriber i
/// following question i mod `questions`.
pub struct Shape {
    pub questions: usize,
    pub subscribers: usize,
}

/// What a scenario has to work with.
pub struct Context<'a> {
    pub cli: &'a Cli,
    /// A client on the first node's pool, for set-up.
    pub pool: Client,
    /// Who posts; poster k posts through node k mod N.
    pub posters: Vec<Client>,
    /// The questions the subscribers follow.
    pub questions: Vec<Uuid>,
    /// The longest any phase may take.
    pub timeout: Duration,
}

pub trait Scenario {
    fn shape(&self) -> Shape;

    /// Keep-alive HTTP connections for the writes.
    fn http_connections(&self) -> usize {
        16
    }

    /// The clients that post: by default one per `--tokens` line on each node (one anonymous
    /// client per node without tokens).
    fn posters(&self, cli: &Cli, _pool: &Client) -> anyhow::Result<Vec<Client>> {
        rest::posters_per_node(cli, self.http_connections())
    }

    /// Set-up after the questions exist and before anyone subscribes; not measured.
    async fn prepare(&mut self, _cx: &Context<'_>) -> anyhow::Result<()> {
        Ok(())
    }

    /// The measured phase, while every subscriber reads.
    async fn drive(&mut self, cx: &Context<'_>) -> anyhow::Result<Writes>;
}

/// What a scenario's measured phase wrote.
#[derive(Debug, Default)]
pub struct Writes {
    /// Writes that took effect, per question: the events each question's subscribers expect.
    pub per_question: Vec<u64>,
    pub ok: u64,
    pub failed: u64,
    /// Request sent to response received, in µs.
    pub latencies: Latencies,
    /// Which score each vote made, and when it was due (`mixed`).
    pub votes: Vec<VoteSent>,
    /// The same per kind of write (`mixed`).
    pub kinds: Option<[KindWrites; 3]>,
}

impl Writes {
    /// Nothing written yet to any of `questions` questions.
    pub fn none(questions: usize) -> Writes {
        Writes { per_question: vec![0; questions], ..Default::default() }
    }
}

/// One kind of write in a `mixed` run (indexed by `Kind as usize`).
#[derive(Debug, Default)]
pub struct KindWrites {
    pub ok: u64,
    pub failed: u64,
    pub latencies: Latencies,
}

/// Writes sent open-loop: each at its due time whether or not earlier ones have been
/// answered, so a slow hub shows up as latency, never as a lower offered rate. At most
/// `connections` are in flight (so at most that many HTTP connections are open).
pub struct OpenLoop {
    rate: u64,
    permits: Rc<Semaphore>,
    tasks: Vec<JoinHandle<()>>,
}

impl OpenLoop {
    pub fn new(rate: u64, connections: usize) -> OpenLoop {
        OpenLoop {
            rate: rate.max(1),
            permits: Rc::new(Semaphore::new(connections.max(1))),
            tasks: Vec::new(),
        }
    }

    /// Sends writes 0..n: sleeps until write k is due, then calls `send(k, due µs)` for every
    /// write due by then (the timer's resolution is 1 ms) and spawns the future it returns,
    /// which runs once a connection is free. `progress` is called about once a second.
    pub async fn run<F>(
        &mut self,
        n: u64,
        mut send: impl FnMut(u64, u64) -> anyhow::Result<F>,
        mut progress: impl FnMut(u64),
    ) -> anyhow::Result<()>
    where
        F: Future<Output = ()> + 'static,
    {
        let rate = self.rate;
        let start = tokio::time::Instant::now();
        let start_us = crate::latency::unix_micros();
        let mut last_print = std::time::Instant::now();
        let mut k = 0u64;
        while k < n {
            tokio::time::sleep_until(start + Duration::from_nanos(k * 1_000_000_000 / rate)).await;
            let upto = (start.elapsed().as_nanos() as u64 * rate / 1_000_000_000 + 1).min(n);
            while k < upto {
                let write = send(k, start_us + k * 1_000_000 / rate)?;
                let permits = self.permits.clone();
                self.tasks.push(tokio::task::spawn_local(async move {
                    let _permit = permits.acquire().await;
                    write.await;
                }));
                k += 1;
            }
            if last_print.elapsed() > Duration::from_secs(1) {
                progress(k);
                last_print = std::time::Instant::now();
            }
        }
        Ok(())
    }

    /// Waits for every write sent to finish, for at most `timeout`.
    pub async fn finish(self, timeout: Duration, what: &str) -> anyhow::Result<()> {
        let wait_all = async {
            for t in self.tasks {
                let _ = t.await;
            }
        };
        if tokio::time::timeout(timeout, wait_all).await.is_err() {
            bail!("{what} did not finish within {timeout:?}");
        }
        Ok(())
    }
}

/// Takes the state the write tasks shared back, once they have all finished.
pub fn unshare<T>(shared: Rc<RefCell<T>>, what: &str) -> anyhow::Result<T> {
    Ok(Rc::try_unwrap(shared).ok().with_context(|| format!("all {what} tasks finished"))?.into_inner())
}
