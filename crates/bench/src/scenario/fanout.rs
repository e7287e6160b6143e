//! `fanout`: N subscribers of one question; M answers posted one after another, with a pause
//! between them so that each fan-out is measured on its own.

use std::time::{Duration, Instant};

use anyhow::Context as _;
use clap::Args;
use qa_hub_client::Error as ClientError;
use serde::Serialize;

use super::{Context, Scenario, Shape, Writes};
use crate::{latency::unix_micros, rest::answer_body};

#[derive(Debug, Clone, Args, Serialize)]
pub struct Fanout {
    #[arg(long, default_value_t = 10_000)]
    subscribers: usize,
    #[arg(long, default_value_t = 20)]
    answers: usize,
    /// Pause between answers, so each fan-out is measured on its own.
    #[arg(long, default_value_t = 200)]
    interval_ms: u64,
}

impl Scenario for Fanout {
    fn shape(&self) -> Shape {
        Shape { questions: 1, subscribers: self.subscribers }
    }

    async fn drive(&mut self, cx: &Context<'_>) -> anyhow::Result<Writes> {
        let mut writes = Writes::none(cx.questions.len());
        let client = cx.posters.first().context("a poster")?;
        for m in 0..self.answers {
            let sent = unix_micros();
            let t = Instant::now();
            let res = client.post_answer(cx.questions[0], &answer_body(sent, cx.cli.body_bytes)).await;
            writes.latencies.record(t.elapsed().as_micros() as u64);
            match res {
                Ok(_) => {
                    writes.per_question[0] += 1;
                    writes.ok += 1;
                }
                // Refused (HTTP error status): counted; the connection failing ends the run.
                Err(ClientError::Api(_)) => writes.failed += 1,
                Err(e) => return Err(e).context("posting an answer"),
            }
            if m + 1 < self.answers {
                tokio::time::sleep(Duration::from_millis(self.interval_ms)).await;
            }
        }
        Ok(writes)
    }
}
