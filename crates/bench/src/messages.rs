//! What the parent and its worker processes tell each other, as JSON lines over the workers'
//! stdin and stdout, and the kinds of event the tool causes.

use std::{collections::BTreeMap, net::SocketAddr};

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::{cli::Transport, latency::Latencies};

/// A worker's first line on stdin: which connections it makes.
#[derive(Debug, Serialize, Deserialize)]
pub struct WorkerSpec {
    /// The nodes; connection i connects to `servers[i % servers.len()]`.
    pub servers: Vec<SocketAddr>,
    pub source_addrs: u8,
    pub connect_concurrency: usize,
    /// Global index of this worker's first connection; connection i subscribes to
    /// `questions[i % questions.len()]`.
    pub first: usize,
    pub count: usize,
    pub questions: Vec<Uuid>,
    pub transport: Transport,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FromWorker {
    Ready { connected: usize, failed: usize, first_error: Option<String> },
    Progress { delivered: u64 },
    Result(WorkerResult),
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ToWorker {
    /// Stop reading; `expected[q]` events were caused on `questions[q]`, and `votes` says
    /// which vote produced each score and when it was due.
    Stop { expected: Vec<u64>, votes: Vec<VoteSent> },
}

/// The kinds of event the tool causes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    Answer,
    Vote,
    Edit,
}

impl Kind {
    pub const ALL: [Kind; 3] = [Kind::Answer, Kind::Vote, Kind::Edit];

    pub fn plural(self) -> &'static str {
        match self {
            Kind::Answer => "answers",
            Kind::Vote => "votes",
            Kind::Edit => "edits",
        }
    }
}

/// A vote that took effect: it made `post_id`'s score `score`; it was due at `sent_us`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct VoteSent {
    pub post_id: Uuid,
    pub score: i64,
    pub sent_us: u64,
}

/// What a worker's connections saw; the parent adds up every worker's.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct WorkerResult {
    pub delivered: u64,
    pub missing: u64,
    pub duplicates: u64,
    pub out_of_order: u64,
    /// Events of a kind the tool does not cause (an accept, a delete, …).
    pub unexpected: u64,
    /// Score events that no vote of ours explains.
    pub unattributed: u64,
    /// The first gap or repeat, for the report: which connection, which seqs.
    pub first_gap: Option<String>,
    /// Connections that closed or failed before the end.
    pub dropped: u64,
    pub first_drop: Option<String>,
    /// Of the dropped, those the server closed with 1001 "going away" (it shut down).
    pub going_away: u64,
    /// Delivery latencies in microseconds, by the kind of event.
    pub latencies_us: BTreeMap<Kind, Latencies>,
}

impl WorkerResult {
    /// Adds another worker's result to this one (the first gap and drop seen are kept).
    pub fn add(&mut self, other: WorkerResult) {
        self.delivered += other.delivered;
        self.missing += other.missing;
        self.duplicates += other.duplicates;
        self.out_of_order += other.out_of_order;
        self.unexpected += other.unexpected;
        self.unattributed += other.unattributed;
        self.first_gap = self.first_gap.take().or(other.first_gap);
        self.dropped += other.dropped;
        self.going_away += other.going_away;
        self.first_drop = self.first_drop.take().or(other.first_drop);
        for (kind, latencies) in other.latencies_us {
            self.latencies_us.entry(kind).or_default().add(&latencies);
        }
    }
}
