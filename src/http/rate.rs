//! Rate limits at the HTTP edge, as token buckets (governor's GCRA): posts (questions and
//! answers, over REST and the forms) per client address, and requests per WebSocket
//! connection. A post over the limit gets 429 with `Retry-After`; a WebSocket request over it
//! gets an `error` message with code `rate_limited`, and the connection stays up.
//!
//! Limits per account join these when accounts exist; the address is what is known today.

use std::{
    net::IpAddr,
    num::NonZeroU32,
    sync::{Arc, OnceLock},
    time::Duration,
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

use super::client_ip::ClientIp;

/// Posts per client address: `per_minute` in any minute, all of them at once at most.
#[derive(Debug)]
pub struct PostLimit(Option<DefaultKeyedRateLimiter<IpAddr>>);

impl PostLimit {
    /// `0` turns the limit off.
    pub fn new(per_minute: u32) -> Arc<Self> {
        Arc::new(Self(NonZeroU32::new(per_minute).map(|n| RateLimiter::keyed(Quota::per_minute(n)))))
    }

    /// Takes one post from `client`'s bucket, or says how long until there is one.
    pub fn check(&self, client: ClientIp) -> Result<(), Duration> {
        let Some(limiter) = &self.0 else { return Ok(()) };
        limiter.check_key(&client.key()).map_err(|not_until| not_until.wait_time_from(limiter.clock().now()))
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

/// Takes one post from the bucket of the request's client (see `client_ip`), or says how
/// long until there is one.
pub fn check_post(req: &actix_web::HttpRequest) -> Result<(), Duration> {
    let Some(limit) = req.app_data::<actix_web::web::Data<PostLimit>>() else { return Ok(()) };
    limit.check(super::client_ip::client_of(req))
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
    fn a_bucket_per_client_and_off_at_zero() {
        let limit = PostLimit::new(2);
        let (a, b) = (ClientIp([192, 0, 2, 1].into()), ClientIp([192, 0, 2, 2].into()));
        assert!(limit.check(a).is_ok() && limit.check(a).is_ok());
        let wait = limit.check(a).unwrap_err();
        assert!(wait > Duration::ZERO && wait <= Duration::from_secs(30), "{wait:?}");
        assert!(limit.check(b).is_ok(), "another client has its own bucket");
        let off = PostLimit::new(0);
        assert!((0..1000).all(|_| off.check(a).is_ok()));
    }
}
