//! qa-hub-bench: drives a running hub over real loopback connections and reports delivery
//! latency, throughput, losses and server memory.
//!
//! One process may hold at most `ulimit -n` sockets, so WebSocket clients live in worker
//! processes (this binary re-executed with `--worker`), each holding at most `--per-worker`
//! connections; the parent creates questions, posts answers over REST and adds up what the
//! workers saw. Client sockets are bound to 127.0.0.(1 + i % --source-addrs) before
//! connecting, so the 4-tuples never run out of ephemeral ports and per-IP caps can be met.
//!
//! Latency needs one clock on both sides: every answer body starts with `t<unix micros>`,
//! the wall-clock time at which its POST was sent (or, for open-loop `rate`, was due), and a
//! worker subtracts it from its own wall clock on delivery. Edits (`mixed`) carry the time the
//! same way. A `score` event carries no text of ours, so a worker keeps (post, score, time
//! received) and is told at the end which vote produced that score and when it was due: the
//! tool's votes are all +1 by distinct voters, so each of a post's scores is reached once.
//!
//! Parent and workers speak JSON lines over the workers' stdin/stdout.
//!
//! The parts: `cli` (the flags), `scenario/` (one module per scenario behind one trait),
//! `run` (what every run does around a scenario), `fleet` (the parent's side of the worker
//! processes) and `worker` (theirs), `messages` (what they tell each other), `rest` (posting),
//! `latency` (the clock and the histograms), `report` (the printed result).
//!
//! No protocol code of its own: the REST calls go through `qa_hub_client::Client` (reqwest,
//! keep-alive), the WebSockets through `qa_hub_client::Connection` (tokio-tungstenite) and the
//! frames through `qa_hub_protocol`'s types.
//!
//! Exit status: 0 when every expected notification arrived exactly once and in order; 1 when
//! any was missing, duplicated or out of order, an event came that the tool did not cause, or a
//! connection or a write failed; 2 on usage errors.

mod cli;
mod fleet;
mod latency;
mod messages;
mod report;
mod rest;
mod run;
mod scenario;
mod worker;

use clap::Parser;
use tokio::task::LocalSet;

use crate::{
    cli::{Cli, Command},
    scenario::mixed::Mixed,
};

fn main() {
    let cli = Cli::parse();
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("tokio runtime");
    let local = LocalSet::new();
    if cli.worker {
        if let Err(e) = local.block_on(&rt, worker::run()) {
            eprintln!("worker: {e:#}");
            std::process::exit(1);
        }
        return;
    }
    let result = local.block_on(&rt, async {
        match cli.scenario.clone() {
            Some(Command::Fanout(s)) => run::run(&cli, s).await,
            Some(Command::Rate(s)) => run::run(&cli, s).await,
            Some(Command::Idle(s)) => run::run(&cli, s).await,
            Some(Command::Mixed(s)) => run::run(&cli, Mixed::new(s)).await,
            None => Err(anyhow::anyhow!("name a scenario: fanout, rate, idle or mixed")),
        }
    });
    match result {
        Ok(report) => {
            if cli.json {
                println!("{}", serde_json::to_string_pretty(&report).expect("report serialises"));
            } else {
                report.print_table();
            }
            if !report.ok() {
                // Also on stderr, so that a `--json` run piped elsewhere still says so.
                eprintln!("qa-hub-bench: FAILED: {}", report.failures());
                std::process::exit(1);
            }
            std::process::exit(0);
        }
        Err(e) => {
            eprintln!("qa-hub-bench: {e:#}");
            std::process::exit(2);
        }
    }
}
