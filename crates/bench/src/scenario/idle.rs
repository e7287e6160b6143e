//! `idle`: N subscribed connections held open and nothing written, to read the server's
//! memory per connection (`--server-pid`).

use std::time::Duration;

use clap::Args;
use serde::Serialize;

use super::{Context, Scenario, Shape, Writes};

#[derive(Debug, Clone, Args, Serialize)]
pub struct Idle {
    #[arg(long, default_value_t = 19_000)]
    connections: usize,
    #[arg(long, default_value_t = 1_900)]
    questions: usize,
    /// Wait this long after connecting before reading the server's memory.
    #[arg(long, default_value_t = 3)]
    settle_secs: u64,
}

impl Scenario for Idle {
    fn shape(&self) -> Shape {
        Shape { questions: self.questions, subscribers: self.connections }
    }

    async fn drive(&mut self, cx: &Context<'_>) -> anyhow::Result<Writes> {
        tokio::time::sleep(Duration::from_secs(self.settle_secs)).await;
        Ok(Writes::none(cx.questions.len()))
    }
}
