//! Time stamps and latencies: the wall clock both sides of a measurement read, and the
//! histograms the latencies go into.
//!
//! A latency is recorded in microseconds into an HdrHistogram (3 significant figures: a
//! reported percentile is within 0.1 % of the exact one), so a worker's memory does not grow
//! with the deliveries it sees, and the parent adds the workers' histograms up.

use std::time::{SystemTime, UNIX_EPOCH};

use hdrhistogram::Histogram;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Microseconds since the Unix epoch, on the wall clock that the parent and the workers share.
pub fn unix_micros() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_micros() as u64)
}

/// Microseconds from `sent_us` to `now_us` (0 when the clocks disagree).
pub fn micros_since(sent_us: u64, now_us: u64) -> u64 {
    now_us.saturating_sub(sent_us)
}

/// The longest latency told apart from longer ones: an hour, in µs. Longer ones count as an
/// hour (no run lasts that long).
const HIGHEST_US: u64 = 3_600_000_000;

/// Latencies in µs. Between processes it travels as `[[value, count], …]` pairs, one per
/// bucket that holds any.
#[derive(Debug, Clone)]
pub struct Latencies(Histogram<u64>);

impl Default for Latencies {
    fn default() -> Self {
        // Constant bounds that `new_with_bounds` accepts (low >= 1, high >= 2 * low, 3 figures).
        Self(Histogram::new_with_bounds(1, HIGHEST_US, 3).expect("valid histogram bounds"))
    }
}

impl Latencies {
    pub fn record(&mut self, us: u64) {
        self.0.saturating_record(us);
    }

    /// Adds `other`'s latencies to these.
    pub fn add(&mut self, other: &Latencies) {
        for v in other.0.iter_recorded() {
            self.record_n(v.value_iterated_to(), v.count_at_value());
        }
    }

    fn record_n(&mut self, us: u64, count: u64) {
        self.0.saturating_record_n(us, count);
    }

    pub fn len(&self) -> u64 {
        self.0.len()
    }

    /// The percentiles the report shows.
    pub fn summary(&self) -> Latency {
        if self.0.is_empty() {
            return Latency::default();
        }
        let ms = |us: u64| us as f64 / 1000.0;
        let at = |q: f64| ms(self.0.value_at_quantile(q));
        Latency {
            count: self.0.len() as usize,
            p50_ms: at(0.50),
            p90_ms: at(0.90),
            p99_ms: at(0.99),
            max_ms: ms(self.0.max()),
        }
    }
}

impl Serialize for Latencies {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(self.0.iter_recorded().map(|v| (v.value_iterated_to(), v.count_at_value())))
    }
}

impl<'de> Deserialize<'de> for Latencies {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let mut latencies = Latencies::default();
        for (us, count) in Vec::<(u64, u64)>::deserialize(deserializer)? {
            latencies.record_n(us, count);
        }
        Ok(latencies)
    }
}

/// A latency distribution as the report shows it.
#[derive(Debug, Default, Serialize)]
pub struct Latency {
    pub count: usize,
    pub p50_ms: f64,
    pub p90_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn of(us: impl IntoIterator<Item = u64>) -> Latencies {
        let mut l = Latencies::default();
        us.into_iter().for_each(|us| l.record(us));
        l
    }

    /// Within the histogram's precision of `ms`.
    fn near(got: f64, ms: f64) -> bool {
        (got - ms).abs() <= ms / 1000.0
    }

    #[test]
    fn percentiles_by_nearest_rank() {
        let l = of((1..=100).map(|ms| ms * 1000)).summary();
        assert_eq!(l.count, 100);
        assert!(near(l.p50_ms, 50.0) && near(l.p90_ms, 90.0), "{l:?}");
        assert!(near(l.p99_ms, 99.0) && near(l.max_ms, 100.0), "{l:?}");
        // Below 2 ms every µs is a bucket of its own.
        let exact = of([5, 1500, 7]).summary();
        assert_eq!((exact.p50_ms, exact.max_ms), (0.007, 1.5));
        assert_eq!(Latencies::default().summary().count, 0);
    }

    #[test]
    fn travels_as_pairs_and_adds_up() {
        let a = of([100, 100, 2_000_000]);
        let json = serde_json::to_string(&a).unwrap();
        let mut back: Latencies = serde_json::from_str(&json).unwrap();
        assert_eq!(back.len(), 3);
        back.add(&of([300]));
        let l = back.summary();
        assert_eq!((l.count, l.p50_ms), (4, 0.1));
        assert!(near(l.max_ms, 2000.0), "{l:?}");
        // Out of range is clamped, not lost.
        assert_eq!(of([u64::MAX]).len(), 1);
    }
}
