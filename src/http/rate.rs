//! Rate limits at the HTTP edge, as token buckets (governor's GCRA): posts (questions and
//! answers, over REST and the forms) per user (per client address for anonymous posts),
//! sign-ups per client address, failed log-ins per handle, and requests per WebSocket
//! connection. A request over a limit gets 429 with `Retry-After` (a page saying so on the
//! forms); a WebSocket request over it gets an `error` message with code `rate_limited`, and
//! the connection stays up.
//!
//! The buckets live in each node's memory: with several nodes behind a balancer a client gets
//! each node's budget (docs/security.md says so).

use std::{
    collections::HashMap,
    num::NonZeroU32,
    sync::{Arc, Mutex, OnceLock},
    time::{Duration, Instant},
};

use governor::{
    DefaultDirectRateLimiter, DefaultKeyedRateLimiter, Quota, RateLimiter,
    clock::{Clock as _, DefaultClock},
};

/// One clock for every limiter. Making a clock (quanta's) asks the CPU whether its counter
/// is usable, and in a virtual machine each of those CPUID instructions traps to the
/// hypervisor; a connection should not pay that.
fn clock() -> DefaultClock {
    static CLOCK: OnceLock<DefaultClock> = OnceLock::new();
    CLOCK.get_or_init(DefaultClock::default).clone()
}

/// A bucket per key (a user, a client address, a handle): `n` per period, all of them at once
/// at most.
#[derive(Debug)]
pub struct KeyedLimit(Option<DefaultKeyedRateLimiter<String>>);

/// Posts per user (or per client address, for anonymous posts), per minute.
pub struct PostLimit(Arc<KeyedLimit>);
/// Sign-ups per client address, per hour.
pub struct SignupLimit(Arc<KeyedLimit>);
/// Markdown previews (`POST /api/markdown`, the forms' Preview button) per writer, per minute:
/// a bucket of their own, so that a live preview while typing does not spend the posts'.
pub struct PreviewLimit(Arc<KeyedLimit>);

impl PostLimit {
    pub fn new(per_minute: u32) -> Arc<Self> {
        Arc::new(Self(KeyedLimit::new(per_minute)))
    }
}

impl PreviewLimit {
    /// [`PREVIEWS_PER_POST`] times the posts' limit (`0`: off, as the posts' limit is).
    pub fn for_posts(posts_per_minute: u32) -> Arc<Self> {
        Arc::new(Self(KeyedLimit::new(posts_per_minute.saturating_mul(PREVIEWS_PER_POST))))
    }
}

/// Previews a writer may ask for per post they may make: a live preview asks once per pause
/// in typing (see static/preview.js), a few times per post.
pub const PREVIEWS_PER_POST: u32 = 4;

impl std::ops::Deref for PreviewLimit {
    type Target = Arc<KeyedLimit>;
    fn deref(&self) -> &Self::Target {
        &self.0
    }
}

impl SignupLimit {
    pub fn per_hour(per_hour: u32) -> Arc<Self> {
        Arc::new(Self(KeyedLimit::per_hour(per_hour)))
    }
}

impl std::ops::Deref for PostLimit {
    type Target = Arc<KeyedLimit>;
    fn deref(&self) -> &Self::Target {
        &self.0
    }
}

impl std::ops::Deref for SignupLimit {
    type Target = Arc<KeyedLimit>;
    fn deref(&self) -> &Self::Target {
        &self.0
    }
}

impl KeyedLimit {
    /// `per_minute` posts a minute; `0` turns the limit off.
    pub fn new(per_minute: u32) -> Arc<Self> {
        Self::with(NonZeroU32::new(per_minute).map(Quota::per_minute))
    }

    /// `per_hour` a hour; `0` turns the limit off.
    pub fn per_hour(per_hour: u32) -> Arc<Self> {
        Self::with(NonZeroU32::new(per_hour).map(Quota::per_hour))
    }

    fn with(quota: Option<Quota>) -> Arc<Self> {
        Arc::new(Self(quota.map(RateLimiter::keyed)))
    }

    /// Takes one from `key`'s bucket, or says how long until there is one.
    pub fn check(&self, key: &str) -> Result<(), Duration> {
        let Some(limiter) = &self.0 else { return Ok(()) };
        limiter
            .check_key(&key.to_owned())
            .map_err(|not_until| not_until.wait_time_from(limiter.clock().now()))
    }

    /// Forgets clients whose buckets are full again, so the table does not grow with every
    /// address ever seen.
    pub fn forget_idle(&self) {
        if let Some(limiter) = &self.0 {
            limiter.retain_recent();
            limiter.shrink_to_fit();
        }
    }

    /// Forgets idle clients once a minute for as long as the limit is in use.
    pub fn start_forgetting(self: &Arc<Self>) {
        if self.0.is_none() {
            return;
        }
        let limit = Arc::downgrade(self);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(60));
            loop {
                tick.tick().await;
                match limit.upgrade() {
                    Some(limit) => limit.forget_idle(),
                    None => return,
                }
            }
        });
    }
}

/// Requests a WebSocket connection may send: `per_second`, as a burst too. One per
/// connection, so a client's storm of subscribes costs only its own connection's budget.
pub struct RequestLimit(Option<DefaultDirectRateLimiter>);

impl RequestLimit {
    /// `0` turns the limit off.
    pub fn new(per_second: u32) -> Self {
        Self(
            NonZeroU32::new(per_second)
                .map(|n| RateLimiter::direct_with_clock(Quota::per_second(n), clock())),
        )
    }

    /// Takes one request from the bucket, or says how long until there is one.
    pub fn check(&self) -> Result<(), Duration> {
        let Some(limiter) = &self.0 else { return Ok(()) };
        limiter.check().map_err(|not_until| not_until.wait_time_from(limiter.clock().now()))
    }
}

/// Failed log-ins per handle: after `per_hour` failures within the hour (all at once at most),
/// the handle is locked, for right and wrong passwords alike, until a failure's worth of time
/// has passed. Only failures count, so a person who logs in often is never locked out by it.
pub struct LoginLimit {
    failures: Arc<KeyedLimit>,
    /// Log-in attempts per client address, failed or not: each costs an Argon2 hash (tens of
    /// milliseconds of CPU), also for handles that do not exist.
    attempts: Arc<KeyedLimit>,
    /// Handles over the limit, and until when. Only locked handles are held here, and expired
    /// entries are dropped as they are met.
    locked: Mutex<HashMap<String, Instant>>,
}

impl LoginLimit {
    /// `failures_per_hour` per handle, `attempts_per_minute` per client address; `0` turns
    /// either off.
    pub fn new(failures_per_hour: u32, attempts_per_minute: u32) -> Arc<Self> {
        Arc::new(Self {
            failures: KeyedLimit::per_hour(failures_per_hour),
            attempts: KeyedLimit::new(attempts_per_minute),
            locked: Mutex::default(),
        })
    }

    /// Takes one attempt from `client`'s bucket, or says how long until there is one.
    pub fn attempt(&self, client: &str) -> Result<(), Duration> {
        self.attempts.check(client)
    }

    /// Whether `handle` may try now; if not, how long until it may.
    pub fn check(&self, handle: &str) -> Result<(), Duration> {
        let mut locked = self.locked.lock().unwrap_or_else(|e| e.into_inner());
        match locked.get(handle) {
            Some(until) if *until > Instant::now() => Err(*until - Instant::now()),
            Some(_) => {
                locked.remove(handle);
                Ok(())
            }
            None => Ok(()),
        }
    }

    /// Forgets handles whose failures have all expired, once a minute.
    pub fn start_forgetting(&self) {
        self.failures.start_forgetting();
        self.attempts.start_forgetting();
    }

    /// Counts a failed log-in of `handle`, locking it when that was one too many.
    pub fn failed(&self, handle: &str) {
        if let Err(wait) = self.failures.check(handle) {
            let mut locked = self.locked.lock().unwrap_or_else(|e| e.into_inner());
            let now = Instant::now();
            locked.retain(|_, until| *until > now);
            locked.insert(handle.to_owned(), now + wait);
        }
    }
}

/// Takes one post from `owner`'s bucket (see `auth::Writer::owner`), or says how long until
/// there is one.
pub fn check_post(req: &actix_web::HttpRequest, owner: &str) -> Result<(), Duration> {
    let Some(limit) = req.app_data::<actix_web::web::Data<PostLimit>>() else { return Ok(()) };
    limit.check(owner)
}

/// Takes one preview from `owner`'s bucket, or says how long until there is one.
pub fn check_preview(req: &actix_web::HttpRequest, owner: &str) -> Result<(), Duration> {
    let Some(limit) = req.app_data::<actix_web::web::Data<PreviewLimit>>() else { return Ok(()) };
    limit.check(owner)
}

/// Whole seconds to wait, as `Retry-After` says it: rounded up, at least 1.
pub fn retry_after_secs(wait: Duration) -> u64 {
    (wait.as_secs() + u64::from(wait.subsec_nanos() > 0)).max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every WebSocket connection holds one (72 bytes today, against about 18 KiB for the
    /// whole connection): a guard against a state that grows with the quota.
    #[test]
    fn a_connection_budget_is_small() {
        let size = std::mem::size_of::<RequestLimit>();
        assert!(size <= 128, "{size} bytes");
    }

    #[test]
    fn retry_after_rounds_up_to_whole_seconds() {
        assert_eq!(retry_after_secs(Duration::ZERO), 1);
        assert_eq!(retry_after_secs(Duration::from_millis(1)), 1);
        assert_eq!(retry_after_secs(Duration::from_secs(2)), 2);
        assert_eq!(retry_after_secs(Duration::from_millis(2001)), 3);
    }

    #[test]
    fn a_bucket_per_key_and_off_at_zero() {
        let limit = PostLimit::new(2);
        let (a, b) = ("user:a", "addr:192.0.2.2");
        assert!(limit.check(a).is_ok() && limit.check(a).is_ok());
        let wait = limit.check(a).unwrap_err();
        assert!(wait > Duration::ZERO && wait <= Duration::from_secs(30), "{wait:?}");
        assert!(limit.check(b).is_ok(), "another key has its own bucket");
        let off = PostLimit::new(0);
        assert!((0..1000).all(|_| off.check(a).is_ok()));
    }

    #[test]
    fn only_failed_log_ins_lock_a_handle() {
        let limit = LoginLimit::new(3, 0);
        for _ in 0..3 {
            assert!(limit.check("ann").is_ok());
            limit.failed("ann");
        }
        assert!(limit.check("ann").is_ok(), "three failures are within the budget");
        limit.failed("ann");
        let wait = limit.check("ann").unwrap_err();
        assert!(wait > Duration::from_secs(60), "locked for a failure's worth of time: {wait:?}");
        assert!(limit.check("bob").is_ok(), "other handles are not locked");
    }
}
