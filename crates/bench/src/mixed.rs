//! The `mixed` scenario's writing side: answers, votes and edits at a given ratio, posted
//! open-loop at a total rate, round-robin over the questions, each question getting the kinds
//! interleaved at that ratio.
//!
//! Every write must make exactly one event, or the subscribers' seq check fails the run:
//! - an answer always does;
//! - a vote is +1 by a voter who has not voted on that answer (a vote that already stands
//!   writes nothing), and voters are users of their own, never an answer's author (whose vote
//!   is refused); so each vote raises the score by one, and the score a vote returns names
//!   its event;
//! - an edit is by the answer's author and carries a new text (the same text is no revision).
//!
//! Votes and edits land on one of the question's newest answers (`--window`), as on a real
//! site where new answers draw the attention.

use std::{cell::RefCell, fmt, rc::Rc, str::FromStr, time::Duration};

use anyhow::{Context, bail};
use futures_util::{StreamExt, stream};
use qa_hub_client::{Client, NewAnswer, PostId, PostKind};
use serde::{Serialize, Serializer};
use tokio::{sync::Semaphore, time::Instant};
use uuid::Uuid;

use crate::{Cli, Kind, VoteSent, answer_body, unix_micros};

/// The relative weights of answers, votes and edits: `answers=1,votes=10,edits=1`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Mix {
    weights: [u32; 3],
}

impl Mix {
    fn weight(&self, kind: Kind) -> u32 {
        self.weights[kind as usize]
    }
}

impl FromStr for Mix {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let mut weights = [0u32; 3];
        for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (name, weight) =
                part.split_once('=').ok_or_else(|| format!("{part:?}: expected kind=weight"))?;
            let kind = Kind::ALL
                .into_iter()
                .find(|k| k.plural() == name.trim())
                .ok_or_else(|| format!("{name:?}: the kinds are answers, votes and edits"))?;
            weights[kind as usize] = weight.trim().parse().map_err(|e| format!("{part:?}: {e}"))?;
        }
        if weights.iter().all(|&w| w == 0) {
            return Err("give at least one kind a weight above 0".into());
        }
        Ok(Self { weights })
    }
}

impl fmt::Display for Mix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let parts: Vec<String> =
            Kind::ALL.iter().map(|k| format!("{}={}", k.plural(), self.weight(*k))).collect();
        f.write_str(&parts.join(","))
    }
}

impl Serialize for Mix {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

/// Smooth weighted round-robin (as nginx balances upstreams): over every `sum of weights`
/// picks each kind exactly its weight's times, spread out rather than in runs.
#[derive(Debug, Default)]
struct Schedule {
    current: [i64; 3],
}

impl Schedule {
    fn next(&mut self, mix: &Mix) -> Kind {
        let total: i64 = mix.weights.iter().map(|&w| i64::from(w)).sum();
        for kind in Kind::ALL {
            self.current[kind as usize] += i64::from(mix.weight(kind));
        }
        let pick = Kind::ALL
            .into_iter()
            .filter(|k| mix.weight(*k) > 0)
            .max_by_key(|k| (self.current[*k as usize], std::cmp::Reverse(*k as usize)))
            .unwrap_or(Kind::Answer);
        self.current[pick as usize] -= total;
        pick
    }
}

/// Host-signed tokens for users `<role>-1` … `<role>-n`, each a client of its own on
/// `client`'s connection pool.
pub fn signed_users(client: &Client, cli: &Cli, role: &str, n: usize) -> anyhow::Result<Vec<Client>> {
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
pub async fn warm_up(clients: &[Client]) -> anyhow::Result<()> {
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
pub struct Question {
    id: Uuid,
    /// Answers in the order their posts returned.
    answers: Vec<Posted>,
    schedule: Schedule,
}

/// Posts `per_question` answers to each question (before anyone subscribes), so that the
/// first votes and edits have something to land on.
pub async fn seed(
    posters: &[Client],
    qids: &[Uuid],
    per_question: usize,
    body_bytes: usize,
) -> anyhow::Result<Vec<Question>> {
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

/// What the writes did.
#[derive(Debug, Default)]
pub struct Outcome {
    /// Writes that took effect, per question: the events each question's subscribers expect.
    pub per_question: Vec<u64>,
    /// Per kind (indexed by `Kind as usize`): writes that took effect, that failed, and the
    /// request latencies in µs.
    pub ok: [u64; 3],
    pub failed: [u64; 3],
    pub latencies_us: [Vec<u32>; 3],
    /// Which score each vote made, and when it was due.
    pub votes: Vec<VoteSent>,
}

/// The knobs of one run.
pub struct Plan<'a> {
    pub posters: &'a [Client],
    pub voters: &'a [Client],
    pub mix: Mix,
    pub rate: u64,
    pub writes: u64,
    pub window: usize,
    pub http_connections: usize,
    pub body_bytes: usize,
    pub timeout: Duration,
}

/// Makes `plan.writes` writes at `plan.rate` per second, each at its due time whether or not
/// earlier ones have been answered (open loop, like `rate`): a slow hub shows up as latency,
/// not as a lower offered rate.
pub async fn write(plan: Plan<'_>, questions: Vec<Question>) -> anyhow::Result<Outcome> {
    struct Shared {
        questions: Vec<Question>,
        out: Outcome,
        first_error: Option<String>,
    }
    let n_questions = questions.len();
    anyhow::ensure!(n_questions > 0, "no question to write to");
    let shared = Rc::new(RefCell::new(Shared {
        questions,
        out: Outcome { per_question: vec![0; n_questions], ..Default::default() },
        first_error: None,
    }));
    let permits = Rc::new(Semaphore::new(plan.http_connections.max(1)));
    let (rate, n) = (plan.rate.max(1), plan.writes);
    let start = Instant::now();
    let start_us = unix_micros();
    let mut tasks = Vec::with_capacity(n as usize);
    let mut last_print = Instant::now();
    let (mut k, mut answers_made, mut rng) = (0u64, 0usize, 0x9E37_79B9_7F4A_7C15u64);
    while k < n {
        tokio::time::sleep_until(start + Duration::from_nanos(k * 1_000_000_000 / rate)).await;
        // Everything due by now goes out (the timer's resolution is 1 ms).
        let upto = (start.elapsed().as_nanos() as u64 * rate / 1_000_000_000 + 1).min(n);
        while k < upto {
            let q = (k as usize) % n_questions;
            let due_us = start_us + k * 1_000_000 / rate;
            let permits = permits.clone();
            let shared_for_task = shared.clone();
            let mut s = shared.borrow_mut();
            let question = &mut s.questions[q];
            let mut kind = question.schedule.next(&plan.mix);
            if kind != Kind::Answer && question.answers.is_empty() {
                // Nothing to vote on or edit yet (no seed answers): answer instead.
                kind = Kind::Answer;
            }
            // Among the newest `window` answers.
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            let newest = question.answers.len().min(plan.window.max(1));
            let pick = question.answers.len().saturating_sub(1 + (rng as usize) % newest.max(1));
            let request: Request = match kind {
                Kind::Answer => {
                    let author = answers_made % plan.posters.len();
                    answers_made += 1;
                    Request::Answer {
                        question: question.id,
                        author,
                        body: answer_body(due_us, plan.body_bytes),
                    }
                }
                Kind::Vote => {
                    let target = &mut question.answers[pick];
                    if target.votes >= plan.voters.len() {
                        bail!(
                            "answer {} has had a vote from each of the {} voters; raise --voters",
                            target.id,
                            plan.voters.len()
                        );
                    }
                    // Each answer walks through the voters from a place of its own, one voter
                    // per vote: nobody votes twice on it.
                    let voter = (pick * 7919 + q * 104_729 + target.votes) % plan.voters.len();
                    target.votes += 1;
                    Request::Vote { answer: target.id, voter }
                }
                Kind::Edit => {
                    let target = &question.answers[pick];
                    Request::Edit {
                        answer: target.id,
                        author: target.author,
                        body: edit_body(due_us, k, plan.body_bytes),
                    }
                }
            };
            drop(s);
            let client = match &request {
                Request::Answer { author, .. } | Request::Edit { author, .. } => {
                    plan.posters[*author].clone()
                }
                Request::Vote { voter, .. } => plan.voters[*voter].clone(),
            };
            tasks.push(tokio::task::spawn_local(async move {
                // At most `http_connections` writes in flight, so at most that many connections.
                let _permit = permits.acquire().await;
                let t = std::time::Instant::now();
                let result = send(&client, &request).await;
                let took = t.elapsed().as_micros().min(u32::MAX as u128) as u32;
                let mut s = shared_for_task.borrow_mut();
                let s = &mut *s;
                s.out.latencies_us[kind as usize].push(took);
                match result {
                    Ok(done) => {
                        s.out.ok[kind as usize] += 1;
                        s.out.per_question[q] += 1;
                        match done {
                            Done::Answer(id) => {
                                let author = match request {
                                    Request::Answer { author, .. } => author,
                                    _ => 0,
                                };
                                s.questions[q].answers.push(Posted { id, author, votes: 0 });
                            }
                            Done::Vote(post_id, score) => {
                                s.out.votes.push(VoteSent { post_id, score, sent_us: due_us })
                            }
                            Done::Edit => {}
                        }
                    }
                    Err(e) => {
                        s.out.failed[kind as usize] += 1;
                        s.first_error.get_or_insert(format!("{} {e:#}", kind.plural()));
                    }
                }
            }));
            k += 1;
        }
        if last_print.elapsed() > Duration::from_secs(1) {
            let s = shared.borrow();
            let ok: u64 = s.out.ok.iter().sum();
            let failed: u64 = s.out.failed.iter().sum();
            eprintln!("  written {k}/{n}: {ok} ok, {failed} failed");
            last_print = Instant::now();
        }
    }
    let wait_all = async {
        for t in tasks {
            let _ = t.await;
        }
    };
    if tokio::time::timeout(plan.timeout, wait_all).await.is_err() {
        bail!("writes did not finish within {:?}", plan.timeout);
    }
    let s = Rc::try_unwrap(shared).ok().context("all write tasks finished")?.into_inner();
    if let Some(e) = &s.first_error {
        eprintln!("  first failed write: {e}");
    }
    Ok(s.out)
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
    fn mix_parses_and_prints() {
        let mix: Mix = "answers=1, votes=10,edits=1".parse().unwrap();
        assert_eq!(mix.weights, [1, 10, 1]);
        assert_eq!(mix.to_string(), "answers=1,votes=10,edits=1");
        assert_eq!("votes=3".parse::<Mix>().unwrap().weights, [0, 3, 0]);
        assert!("answers=0".parse::<Mix>().is_err());
        assert!("likes=1".parse::<Mix>().is_err());
        assert!("answers".parse::<Mix>().is_err());
        assert!("answers=-1".parse::<Mix>().is_err());
    }

    #[test]
    fn schedule_keeps_the_ratio_and_spreads_the_kinds() {
        let mix: Mix = "answers=1,votes=10,edits=1".parse().unwrap();
        let mut schedule = Schedule::default();
        let picks: Vec<Kind> = (0..24).map(|_| schedule.next(&mix)).collect();
        for round in picks.chunks(12) {
            let count = |k| round.iter().filter(|&&p| p == k).count();
            assert_eq!((count(Kind::Answer), count(Kind::Vote), count(Kind::Edit)), (1, 10, 1));
        }
        // Never two answers or two edits in a row; the votes come in runs of at most six.
        assert!(picks.windows(2).all(|w| w[0] != w[1] || w[0] == Kind::Vote));
        assert!(picks.windows(7).all(|w| w.iter().any(|&p| p != Kind::Vote)));
        let only_votes: Mix = "votes=1".parse().unwrap();
        assert!((0..5).all(|_| schedule.next(&only_votes) == Kind::Vote));
    }

    #[test]
    fn edits_have_new_text_and_carry_the_time() {
        let (a, b) = (edit_body(1_700_000_000_000_000, 1, 100), edit_body(1_700_000_000_000_000, 2, 100));
        assert_ne!(a, b);
        assert_eq!(a.len(), 100);
        assert!(a.starts_with("t1700000000000000 "));
    }
}
