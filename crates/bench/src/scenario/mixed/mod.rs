//! `mixed`: answers, votes and edits at a given ratio, posted open-loop at a total rate,
//! round-robin over the questions, each question getting the kinds interleaved at that ratio;
//! latency and deliveries per kind.
//!
//! Every write must make exactly one event, or the subscribers' seq check fails the run:
//! - an answer always does;
//! - a vote is +1 by a voter who has not voted on that answer (a vote that already stands
//!   writes nothing), and voters are users of their own, never an answer's author (whose vote
//!   is refused); so each vote raises the score by one, and the score a vote returns names
//!   its event;
//! - an edit is by the answer's author and carries a new text (the same text is no revision).
//!
//! A `score` event carries no text of ours, so a worker keeps (post, score, time received)
//! and is told at the end which vote produced that score and when it was due.
//!
//! Votes and edits land on one of the question's newest answers (`--window`), as on a real
//! site where new answers draw the attention.

mod mix;

use std::{cell::RefCell, rc::Rc, time::Instant};

use anyhow::{Context as _, bail};
use clap::Args;
use futures_util::{StreamExt, stream};
use qa_hub_client::{Client, NewAnswer, PostId, PostKind};
use serde::Serialize;
use uuid::Uuid;

pub use self::mix::Mix;
use self::mix::Schedule;
use super::{Context, KindWrites, OpenLoop, Scenario, Shape, Writes, unshare};
use crate::{
    cli::Cli,
    latency::unix_micros,
    messages::{Kind, VoteSent},
    rest::answer_body,
};

#[derive(Debug, Clone, Args, Serialize)]
pub struct MixedArgs {
    #[arg(long, default_value_t = 10)]
    questions: usize,
    #[arg(long, default_value_t = 200)]
    subscribers_per_question: usize,
    /// Writes (answers + votes + edits) per second, over all questions.
    #[arg(long, default_value_t = 100)]
    rate: u64,
    #[arg(long, default_value_t = 10)]
    duration_secs: u64,
    /// Relative weights of the kinds; each question gets them interleaved at this ratio.
    #[arg(long, default_value = "answers=1,votes=10,edits=1")]
    mix: Mix,
    /// Distinct voting users (host-signed tokens); each votes at most once per answer,
    /// so a busy answer may get at most this many votes.
    #[arg(long, default_value_t = 500)]
    voters: usize,
    /// Posting users when there is no `--tokens` file (host-signed tokens).
    #[arg(long, default_value_t = 64)]
    posters: usize,
    /// Answers posted to each question before the subscribers connect, for the first
    /// votes and edits to land on.
    #[arg(long, default_value_t = 5)]
    seed_answers: usize,
    /// Votes and edits go to one of the question's newest N answers.
    #[arg(long, default_value_t = 10)]
    window: usize,
    /// HTTP keep-alive connections used for writing.
    #[arg(long, default_value_t = 64)]
    http_connections: usize,
}

/// A `mixed` run: its flags, and what its set-up made (the voters, the seed answers).
pub struct Mixed {
    args: MixedArgs,
    voters: Vec<Client>,
    questions: Vec<Question>,
}

impl Mixed {
    pub fn new(args: MixedArgs) -> Mixed {
        Mixed { args, voters: Vec::new(), questions: Vec::new() }
    }
}

impl Scenario for Mixed {
    fn shape(&self) -> Shape {
        let questions = self.args.questions;
        Shape { questions, subscribers: questions * self.args.subscribers_per_question }
    }

    fn http_connections(&self) -> usize {
        self.args.http_connections.max(1)
    }

    /// Without `--tokens`, host-signed posters, each a user of its own.
    fn posters(&self, cli: &Cli, pool: &Client) -> anyhow::Result<Vec<Client>> {
        match cli.tokens {
            None => signed_users(pool, cli, "poster", self.args.posters),
            Some(_) => crate::rest::posters_per_node(cli, self.http_connections()),
        }
    }

    /// The voters, every user known to the hub, and answers to vote on, all before anything
    /// is measured.
    async fn prepare(&mut self, cx: &Context<'_>) -> anyhow::Result<()> {
        self.voters = signed_users(&cx.pool, cx.cli, "voter", self.args.voters)?;
        eprintln!("signing in {} poster(s) and {} voter(s)", cx.posters.len(), self.voters.len());
        warm_up(&cx.posters).await?;
        warm_up(&self.voters).await?;
        let seed_answers = self.args.seed_answers;
        eprintln!("posting {seed_answers} answer(s) to each question");
        self.questions = seed(&cx.posters, &cx.questions, seed_answers, cx.cli.body_bytes).await?;
        Ok(())
    }

    async fn drive(&mut self, cx: &Context<'_>) -> anyhow::Result<Writes> {
        write(&self.args, cx, &self.voters, std::mem::take(&mut self.questions)).await
    }
}

/// Host-signed tokens for users `<role>-1` … `<role>-n`, each a client of its own on
/// `client`'s connection pool.
fn signed_users(client: &Client, cli: &Cli, role: &str, n: usize) -> anyhow::Result<Vec<Client>> {
    let secret = cli.jwt_secret.as_deref().context(
        "mixed needs --jwt-secret (or QA_HUB_JWT_SECRET), the hub's: votes are by many distinct users",
    )?;
    anyhow::ensure!(n > 0, "at least one {role} is needed");
    #[derive(Serialize)]
    struct Claims<'a> {
        iss: &'a str,
        sub: String,
        name: String,
        exp: u64,
    }
    // Long enough for any run; the hub checks `exp` on every request.
    let exp = unix_micros() / 1_000_000 + 6 * 3600;
    let key = jsonwebtoken::EncodingKey::from_secret(secret.as_bytes());
    let header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256);
    (1..=n)
        .map(|i| {
            let claims =
                Claims { iss: &cli.jwt_issuer, sub: format!("{role}-{i}"), name: format!("{role}-{i}"), exp };
            let token = jsonwebtoken::encode(&header, &claims, &key).context("signing a token")?;
            Ok(client.clone().with_token(token))
        })
        .collect()
}

/// Asks the hub who each client is, 16 at a time: the first sight of a host-signed token
/// creates its user, which should not be part of what is measured.
async fn warm_up(clients: &[Client]) -> anyhow::Result<()> {
    let results: Vec<_> = stream::iter(clients).map(|c| c.me()).buffer_unordered(16).collect().await;
    for r in results {
        r.context("an identity the hub refused (are --jwt-secret and --jwt-issuer the hub's?)")?;
    }
    Ok(())
}

/// An answer that votes and edits can land on.
#[derive(Debug)]
struct Posted {
    id: Uuid,
    /// Index of its author among the posters.
    author: usize,
    /// Votes sent to it so far; also picks the next voter.
    votes: usize,
}

/// What the writers know about one question.
#[derive(Debug, Default)]
struct Question {
    id: Uuid,
    /// Answers in the order their posts returned.
    answers: Vec<Posted>,
    schedule: Schedule,
}

/// Posts `per_question` answers to each question (before anyone subscribes), so that the
/// first votes and edits have something to land on.
async fn seed(
    posters: &[Client],
    qids: &[Uuid],
    per_question: usize,
    body_bytes: usize,
) -> anyhow::Result<Vec<Question>> {
    anyhow::ensure!(!posters.is_empty(), "no poster");
    let mut questions: Vec<Question> = qids.iter().map(|&id| Question { id, ..Default::default() }).collect();
    let jobs: Vec<(usize, usize)> =
        (0..per_question).flat_map(|n| (0..qids.len()).map(move |q| (q, n * qids.len() + q))).collect();
    let posted: Vec<_> = stream::iter(jobs)
        .map(|(q, n)| {
            let author = n % posters.len();
            let body = answer_body(unix_micros(), body_bytes);
            let (client, question) = (&posters[author], qids[q]);
            async move { (q, author, client.post_answer(question, &body).await) }
        })
        .buffered(16)
        .collect()
        .await;
    for (q, author, answer) in posted {
        let id = answer.context("seeding an answer")?.id;
        questions[q].answers.push(Posted { id, author, votes: 0 });
    }
    Ok(questions)
}

/// What the write tasks share.
struct Shared {
    questions: Vec<Question>,
    per_question: Vec<u64>,
    kinds: [KindWrites; 3],
    votes: Vec<VoteSent>,
    first_error: Option<String>,
}

/// Makes `rate * duration_secs` writes at `rate` per second, open loop (like `rate`).
async fn write(
    args: &MixedArgs,
    cx: &Context<'_>,
    voters: &[Client],
    questions: Vec<Question>,
) -> anyhow::Result<Writes> {
    let n_questions = questions.len();
    anyhow::ensure!(n_questions > 0, "no question to write to");
    anyhow::ensure!(!cx.posters.is_empty() && !voters.is_empty(), "no poster or no voter");
    let shared = Rc::new(RefCell::new(Shared {
        questions,
        per_question: vec![0; n_questions],
        kinds: Default::default(),
        votes: Vec::new(),
        first_error: None,
    }));
    let n = args.rate * args.duration_secs;
    let mut writes = OpenLoop::new(args.rate, args.http_connections);
    let (mut answers_made, mut rng) = (0usize, 0x9E37_79B9_7F4A_7C15u64);
    writes
        .run(
            n,
            |k, due_us| {
                let q = (k as usize) % n_questions;
                let mut s = shared.borrow_mut();
                let question = &mut s.questions[q];
                let mut kind = question.schedule.next(&args.mix);
                if kind != Kind::Answer && question.answers.is_empty() {
                    // Nothing to vote on or edit yet (no seed answers): answer instead.
                    kind = Kind::Answer;
                }
                // Among the newest `window` answers.
                rng ^= rng << 13;
                rng ^= rng >> 7;
                rng ^= rng << 17;
                let newest = question.answers.len().min(args.window.max(1));
                let pick = question.answers.len().saturating_sub(1 + (rng as usize) % newest.max(1));
                let request = match kind {
                    Kind::Answer => {
                        let author = answers_made % cx.posters.len();
                        answers_made += 1;
                        Request::Answer {
                            question: question.id,
                            author,
                            body: answer_body(due_us, cx.cli.body_bytes),
                        }
                    }
                    Kind::Vote => {
                        let target = &mut question.answers[pick];
                        if target.votes >= voters.len() {
                            bail!(
                                "answer {} has had a vote from each of the {} voters; raise --voters",
                                target.id,
                                voters.len()
                            );
                        }
                        // Each answer walks through the voters from a place of its own, one
                        // voter per vote: nobody votes twice on it.
                        let voter = (pick * 7919 + q * 104_729 + target.votes) % voters.len();
                        target.votes += 1;
                        Request::Vote { answer: target.id, voter }
                    }
                    Kind::Edit => {
                        let target = &question.answers[pick];
                        Request::Edit {
                            answer: target.id,
                            author: target.author,
                            body: edit_body(due_us, k, cx.cli.body_bytes),
                        }
                    }
                };
                drop(s);
                let client = match &request {
                    Request::Answer { author, .. } | Request::Edit { author, .. } => {
                        cx.posters[*author].clone()
                    }
                    Request::Vote { voter, .. } => voters[*voter].clone(),
                };
                let shared = shared.clone();
                Ok(async move {
                    let t = Instant::now();
                    let result = send(&client, &request).await;
                    let mut s = shared.borrow_mut();
                    let s = &mut *s;
                    let of_kind = &mut s.kinds[kind as usize];
                    of_kind.latencies.record(t.elapsed().as_micros() as u64);
                    match result {
                        Ok(done) => {
                            of_kind.ok += 1;
                            s.per_question[q] += 1;
                            match done {
                                Done::Answer(id) => {
                                    let author = match request {
                                        Request::Answer { author, .. } => author,
                                        _ => 0,
                                    };
                                    s.questions[q].answers.push(Posted { id, author, votes: 0 });
                                }
                                Done::Vote(post_id, score) => {
                                    s.votes.push(VoteSent { post_id, score, sent_us: due_us })
                                }
                                Done::Edit => {}
                            }
                        }
                        Err(e) => {
                            of_kind.failed += 1;
                            s.first_error.get_or_insert(format!("{} {e:#}", kind.plural()));
                        }
                    }
                })
            },
            |k| {
                let s = shared.borrow();
                let ok: u64 = s.kinds.iter().map(|w| w.ok).sum();
                let failed: u64 = s.kinds.iter().map(|w| w.failed).sum();
                eprintln!("  written {k}/{n}: {ok} ok, {failed} failed");
            },
        )
        .await?;
    writes.finish(cx.timeout, "writes").await?;
    let s = unshare(shared, "write")?;
    if let Some(e) = &s.first_error {
        eprintln!("  first failed write: {e}");
    }
    let mut out = Writes { per_question: s.per_question, votes: s.votes, ..Default::default() };
    for kind in &s.kinds {
        out.ok += kind.ok;
        out.failed += kind.failed;
        out.latencies.add(&kind.latencies);
    }
    out.kinds = Some(s.kinds);
    Ok(out)
}

#[derive(Debug)]
enum Request {
    Answer { question: Uuid, author: usize, body: NewAnswer },
    Vote { answer: Uuid, voter: usize },
    Edit { answer: Uuid, author: usize, body: String },
}

enum Done {
    Answer(Uuid),
    /// The post and the score the vote made.
    Vote(Uuid, i64),
    Edit,
}

async fn send(client: &Client, request: &Request) -> anyhow::Result<Done> {
    Ok(match request {
        Request::Answer { question, body, .. } => Done::Answer(client.post_answer(*question, body).await?.id),
        Request::Vote { answer, .. } => {
            let post = PostId { post_kind: PostKind::Answer, post_id: *answer };
            let result = client.vote(post, 1).await?;
            // A vote that was already standing would have made no event.
            anyhow::ensure!(result.vote == 1, "the vote on {answer} did not stand (vote {})", result.vote);
            Done::Vote(*answer, result.score)
        }
        Request::Edit { answer, body, .. } => {
            client.edit_answer(*answer, body).await?;
            Done::Edit
        }
    })
}

/// An edit's new text: the due time first (for the latency), then the write's number, which
/// makes every edit's text new.
fn edit_body(due_us: u64, k: u64, bytes: usize) -> String {
    let mut text = format!("t{due_us} edit {k} ");
    if text.len() < bytes {
        text.extend(std::iter::repeat_n('y', bytes - text.len()));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn edits_have_new_text_and_carry_the_time() {
        let (a, b) = (edit_body(1_700_000_000_000_000, 1, 100), edit_body(1_700_000_000_000_000, 2, 100));
        assert_ne!(a, b);
        assert_eq!(a.len(), 100);
        assert!(a.starts_with("t1700000000000000 "));
    }
}
