//! The result of a run: what the tool prints (a table, or JSON with `--json`) and whether the
//! run passed. The scripts in bench/ and docs/benchmarks.md read this output: its rows and
//! field names stay as they are.

use serde::Serialize;

use crate::{cli::Command, latency::Latency, messages::Kind};

/// One kind of write in a `mixed` run: how the writes went and how their events were
/// delivered.
#[derive(Debug, Serialize)]
pub struct KindReport {
    pub kind: Kind,
    pub writes_ok: u64,
    pub writes_failed: u64,
    pub writes_per_sec: f64,
    /// Request sent to HTTP response received.
    pub write_latency: Latency,
    pub delivered: u64,
    pub deliveries_per_sec: f64,
    /// Write due to the worker receiving the frame.
    pub delivery_latency: Latency,
}

#[derive(Debug, Default, Serialize)]
pub struct Report {
    pub scenario: Option<Command>,
    pub connections: usize,
    pub connect_failed: usize,
    pub connect_error: Option<String>,
    pub connect_subscribe_secs: f64,
    pub posts_ok: u64,
    pub posts_failed: u64,
    pub post_secs: f64,
    pub posts_per_sec: f64,
    /// POST sent to HTTP response received.
    pub post_latency: Latency,
    pub expected: u64,
    pub delivered: u64,
    pub missing: u64,
    pub duplicates: u64,
    pub out_of_order: u64,
    /// Events the tool did not cause, and score events no vote of ours explains.
    pub unexpected_events: u64,
    pub unattributed_scores: u64,
    pub first_gap: Option<String>,
    pub dropped_connections: u64,
    /// Of the dropped, those closed with 1001 "going away".
    pub closed_going_away: u64,
    pub first_drop: Option<String>,
    pub deliveries_per_sec: f64,
    /// POST sent (or due, for `rate`) to the worker receiving the frame.
    pub delivery_latency: Latency,
    pub server_rss_before_kib: Option<u64>,
    pub server_rss_after_kib: Option<u64>,
    pub server_rss_per_connection_kib: Option<f64>,
    /// `mixed`: the figures per kind of write (the totals above are over all of them).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub kinds: Vec<KindReport>,
}

impl Report {
    pub fn ok(&self) -> bool {
        self.missing == 0
            && self.duplicates == 0
            && self.out_of_order == 0
            && self.unexpected_events == 0
            && self.unattributed_scores == 0
            && self.connect_failed == 0
            && self.dropped_connections == 0
            && self.posts_failed == 0
    }

    /// What went wrong, in one line.
    pub fn failures(&self) -> String {
        let mut what = format!(
            "{} missing, {} repeated, {} out of order, {} unexpected events, {} unexplained scores, \
             {} failed writes, {} failed and {} dropped connections",
            self.missing,
            self.duplicates,
            self.out_of_order,
            self.unexpected_events,
            self.unattributed_scores,
            self.posts_failed,
            self.connect_failed,
            self.dropped_connections
        );
        for detail in [&self.first_gap, &self.first_drop, &self.connect_error].into_iter().flatten() {
            what.push_str("; ");
            what.push_str(detail);
        }
        what
    }

    pub fn print_table(&self) {
        let row = |k: &str, v: String| println!("{k:<36} {v}");
        row("scenario", serde_json::to_string(&self.scenario).unwrap_or_default());
        row("connections (failed)", format!("{} ({})", self.connections, self.connect_failed));
        if let Some(e) = &self.connect_error {
            row("first connect error", e.clone());
        }
        row("connect+subscribe all", format!("{:.3} s", self.connect_subscribe_secs));
        if self.posts_ok + self.posts_failed > 0 {
            row("posts ok (failed)", format!("{} ({})", self.posts_ok, self.posts_failed));
            row("posts/s", format!("{:.0} over {:.2} s", self.posts_per_sec, self.post_secs));
            let l = &self.post_latency;
            row(
                "POST latency p50/p90/p99/max",
                format!("{:.2} / {:.2} / {:.2} / {:.2} ms", l.p50_ms, l.p90_ms, l.p99_ms, l.max_ms),
            );
            row("delivered/expected", format!("{}/{}", self.delivered, self.expected));
            row(
                "missing / duplicate / out of order",
                format!("{} / {} / {}", self.missing, self.duplicates, self.out_of_order),
            );
            if let Some(gap) = &self.first_gap {
                row("first gap or repeat", gap.clone());
            }
            if self.unexpected_events + self.unattributed_scores > 0 {
                row(
                    "unexpected events / unexplained scores",
                    format!("{} / {}", self.unexpected_events, self.unattributed_scores),
                );
            }
            row("deliveries/s", format!("{:.0}", self.deliveries_per_sec));
            let l = &self.delivery_latency;
            row(
                "POST->delivery p50/p90/p99/max",
                format!("{:.2} / {:.2} / {:.2} / {:.2} ms", l.p50_ms, l.p90_ms, l.p99_ms, l.max_ms),
            );
        }
        for k in &self.kinds {
            let name = k.kind.plural();
            row(
                &format!("{name}: ok (failed), per s"),
                format!("{} ({}), {:.1}/s", k.writes_ok, k.writes_failed, k.writes_per_sec),
            );
            let l = &k.write_latency;
            row(
                &format!("{name}: request p50/p99/max"),
                format!("{:.2} / {:.2} / {:.2} ms", l.p50_ms, l.p99_ms, l.max_ms),
            );
            row(
                &format!("{name}: delivered, per s"),
                format!("{}, {:.0}/s", k.delivered, k.deliveries_per_sec),
            );
            let l = &k.delivery_latency;
            row(
                &format!("{name}: ->delivery p50/p90/p99/max"),
                format!("{:.2} / {:.2} / {:.2} / {:.2} ms", l.p50_ms, l.p90_ms, l.p99_ms, l.max_ms),
            );
        }
        row(
            "connections dropped (of them 1001)",
            format!("{} ({})", self.dropped_connections, self.closed_going_away),
        );
        if let Some(d) = &self.first_drop {
            row("first drop", d.clone());
        }
        if let (Some(b), Some(a)) = (self.server_rss_before_kib, self.server_rss_after_kib) {
            row("server RSS before / after", format!("{b} / {a} KiB"));
        }
        if let Some(per) = self.server_rss_per_connection_kib {
            row("server RSS per connection", format!("{per:.2} KiB"));
        }
        row(
            "result",
            if self.ok() {
                "OK".into()
            } else {
                "FAILED: notifications lost, repeated or connections dropped".into()
            },
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_gap_fails_the_report() {
        let clean = Report { expected: 10, delivered: 10, ..Default::default() };
        assert!(clean.ok());
        let gap = Report {
            missing: 1,
            out_of_order: 1,
            first_gap: Some("a gap: client 3 got seq 5 after seq 3".into()),
            ..clean
        };
        assert!(!gap.ok());
        assert!(gap.failures().starts_with("1 missing, 0 repeated, 1 out of order"), "{}", gap.failures());
        assert!(gap.failures().ends_with("; a gap: client 3 got seq 5 after seq 3"));
        assert!(!Report { unattributed_scores: 1, ..Default::default() }.ok());
        assert!(!Report { unexpected_events: 1, ..Default::default() }.ok());
    }
}
