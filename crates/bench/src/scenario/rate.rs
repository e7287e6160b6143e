//! `rate`: subscribers spread over many questions; answers posted open-loop at a fixed rate,
//! round-robin over the questions, each post at its due time (its body carries that time, so
//! a slow hub shows up as delivery latency, not as a lower offered rate).

use std::{cell::RefCell, rc::Rc, time::Instant};

use clap::Args;
use serde::Serialize;

use super::{Context, OpenLoop, Scenario, Shape, Writes, unshare};
use crate::rest::answer_body;

#[derive(Debug, Clone, Args, Serialize)]
pub struct Rate {
    #[arg(long, default_value_t = 1_900)]
    questions: usize,
    #[arg(long, default_value_t = 10)]
    subscribers_per_question: usize,
    /// Answer posts per second.
    #[arg(long, default_value_t = 2_000)]
    rate: u64,
    #[arg(long, default_value_t = 10)]
    duration_secs: u64,
    /// HTTP keep-alive connections used for posting.
    #[arg(long, default_value_t = 64)]
    http_connections: usize,
}

impl Scenario for Rate {
    fn shape(&self) -> Shape {
        Shape { questions: self.questions, subscribers: self.questions * self.subscribers_per_question }
    }

    fn http_connections(&self) -> usize {
        self.http_connections.max(1)
    }

    async fn drive(&mut self, cx: &Context<'_>) -> anyhow::Result<Writes> {
        anyhow::ensure!(!cx.questions.is_empty() && !cx.posters.is_empty(), "no question or no poster");
        let n = self.rate * self.duration_secs;
        let shared =
            Rc::new(RefCell::new(Posted { writes: Writes::none(cx.questions.len()), first_error: None }));
        let mut posts = OpenLoop::new(self.rate, self.http_connections);
        let body_bytes = cx.cli.body_bytes;
        posts
            .run(
                n,
                |k, due_us| {
                    let q = (k as usize) % cx.questions.len();
                    let body = answer_body(due_us, body_bytes);
                    // Posters take turns, each with its own identity.
                    let client = cx.posters[(k as usize) % cx.posters.len()].clone();
                    let (shared, question) = (shared.clone(), cx.questions[q]);
                    Ok(async move {
                        let t = Instant::now();
                        let res = client.post_answer(question, &body).await;
                        let mut s = shared.borrow_mut();
                        s.writes.latencies.record(t.elapsed().as_micros() as u64);
                        match res {
                            Ok(_) => {
                                s.writes.ok += 1;
                                s.writes.per_question[q] += 1;
                            }
                            Err(e) => {
                                s.writes.failed += 1;
                                s.first_error.get_or_insert(format!("{:#}", anyhow::Error::new(e)));
                            }
                        }
                    })
                },
                |k| {
                    let s = shared.borrow();
                    eprintln!("  posted {k}/{n}: {} ok, {} failed", s.writes.ok, s.writes.failed);
                },
            )
            .await?;
        posts.finish(cx.timeout, "posts").await?;
        let s = unshare(shared, "post")?;
        if let Some(e) = &s.first_error {
            eprintln!("  first failed post: {e}");
        }
        Ok(s.writes)
    }
}

/// What the post tasks share.
struct Posted {
    writes: Writes,
    first_error: Option<String>,
}
