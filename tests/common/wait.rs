//! Waiting: a test waits for what it expects, with a deadline, never for a fixed time.

use std::{future::Future, time::Duration};

use tokio::time::Instant;

/// How long a test waits for an event before it fails.
pub const WAIT: Duration = Duration::from_secs(15);

/// What a check passed to [`eventually`] returns: `true` / `Some(value)` once it holds.
pub trait Outcome {
    /// What [`eventually`] returns once the check holds.
    type Value;
    fn holds(self) -> Option<Self::Value>;
}

impl Outcome for bool {
    type Value = ();
    fn holds(self) -> Option<()> {
        self.then_some(())
    }
}

impl<T> Outcome for Option<T> {
    type Value = T;
    fn holds(self) -> Option<T> {
        self
    }
}

/// Polls an async `check` every 20 ms until it holds (`true`, or `Some(value)`, which is
/// returned), failing the test after `limit` ([`WAIT`] unless a test has a reason to be
/// stricter). For state that has no event to await: a counter on the server, a page's DOM.
pub async fn eventually<F, Fut>(what: &str, limit: Duration, mut check: F) -> <Fut::Output as Outcome>::Value
where
    F: FnMut() -> Fut,
    Fut: Future,
    Fut::Output: Outcome,
{
    let deadline = Instant::now() + limit;
    loop {
        if let Some(value) = check().await.holds() {
            return value;
        }
        assert!(Instant::now() < deadline, "timed out after {limit:?} waiting until {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
