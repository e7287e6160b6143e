//! One run of any scenario: create the questions, let the scenario set up, connect the
//! subscribers (in worker processes), let the scenario write while they read, then collect
//! what they saw into the report.

use std::time::{Duration, Instant};

use anyhow::Context as _;

use crate::{
    cli::Cli,
    fleet::Fleet,
    latency::Latencies,
    messages::Kind,
    report::{KindReport, Report},
    rest,
    scenario::{Context, Scenario},
};

pub async fn run(cli: &Cli, mut scenario: impl Scenario) -> anyhow::Result<Report> {
    anyhow::ensure!(
        !cli.server.is_empty() && cli.server.iter().all(|s| s.ip().is_loopback()),
        "--server must be loopback addresses"
    );
    let timeout = Duration::from_secs(cli.timeout_secs);
    let mut report = Report { scenario: cli.scenario.clone(), ..Default::default() };
    let shape = scenario.shape();
    let total = shape.subscribers;
    eprintln!("creating {} question(s)", shape.questions);
    let pool = rest::rest_client(cli.server[0], scenario.http_connections())?;
    let posters = scenario.posters(cli, &pool)?;
    let first = posters.first().context("no poster")?;
    let questions = rest::create_questions(first, shape.questions).await?;
    anyhow::ensure!(!questions.is_empty(), "the scenario needs at least one question");
    let cx = Context { cli, pool, posters, questions, timeout };
    scenario.prepare(&cx).await?;
    if let Some(pid) = cli.server_pid {
        report.server_rss_before_kib = Some(rss_kib(pid)?);
    }
    eprintln!("connecting and subscribing {total} WebSocket client(s)");
    let started = Instant::now();
    let mut fleet = Fleet::spawn(cli, total, &cx.questions).await?;
    let ready = fleet.ready(timeout).await?;
    report.connect_subscribe_secs = started.elapsed().as_secs_f64();
    (report.connections, report.connect_failed, report.connect_error) =
        (ready.connected, ready.failed, ready.first_error);
    eprintln!(
        "  {} connected, {} failed in {:.3} s",
        report.connections, report.connect_failed, report.connect_subscribe_secs
    );

    let post_started = Instant::now();
    let writes = scenario.drive(&cx).await?;
    report.post_secs = post_started.elapsed().as_secs_f64();
    report.posts_ok = writes.ok;
    report.posts_failed = writes.failed;
    report.posts_per_sec = report.posts_ok as f64 / report.post_secs.max(1e-9);
    report.post_latency = writes.latencies.summary();
    // Every connection subscribed to question q should see all of q's events.
    let posted = writes.per_question;
    report.expected = (0..total).map(|i| posted[i % posted.len()]).sum();
    let mut delivery_secs = 0.0;
    if report.expected > 0 {
        let delivered = fleet.await_deliveries(report.expected, timeout).await;
        delivery_secs = post_started.elapsed().as_secs_f64();
        report.deliveries_per_sec = delivered as f64 / delivery_secs;
    }
    if let Some(pid) = cli.server_pid {
        let after = rss_kib(pid)?;
        report.server_rss_after_kib = Some(after);
        let before = report.server_rss_before_kib.unwrap_or(0);
        report.server_rss_per_connection_kib =
            Some(after.saturating_sub(before) as f64 / report.connections.max(1) as f64);
    }
    let res = fleet.collect(posted, writes.votes).await?;
    report.delivered = res.delivered;
    report.missing = res.missing;
    report.duplicates = res.duplicates;
    report.out_of_order = res.out_of_order;
    report.dropped_connections = res.dropped;
    report.closed_going_away = res.going_away;
    report.first_drop = res.first_drop;
    report.unexpected_events = res.unexpected;
    report.unattributed_scores = res.unattributed;
    report.first_gap = res.first_gap;
    let delivered_by_kind = res.latencies_us;
    if let Some(kinds) = &writes.kinds {
        for kind in Kind::ALL {
            let written = &kinds[kind as usize];
            let delivered = delivered_by_kind.get(&kind).cloned().unwrap_or_default();
            report.kinds.push(KindReport {
                kind,
                writes_ok: written.ok,
                writes_failed: written.failed,
                writes_per_sec: written.ok as f64 / report.post_secs.max(1e-9),
                write_latency: written.latencies.summary(),
                delivered: delivered.len(),
                deliveries_per_sec: delivered.len() as f64 / delivery_secs.max(1e-9),
                delivery_latency: delivered.summary(),
            });
        }
    }
    let mut all = Latencies::default();
    for latencies in delivered_by_kind.values() {
        all.add(latencies);
    }
    report.delivery_latency = all.summary();
    Ok(report)
}

/// A process's resident memory in KiB, from /proc.
fn rss_kib(pid: u32) -> anyhow::Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).context("VmRSS in /proc status")?;
    Ok(line.split_whitespace().nth(1).context("VmRSS value")?.parse()?)
}
