//! Rate limits (governor): one limiter per partner, since a keyed limiter cannot give keys
//! different quotas; an optional global limiter; and a limiter keyed by client address for
//! anonymous requests. Checked before the body is read.

use std::collections::HashMap;
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::time::Duration;

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultDirectRateLimiter, DefaultKeyedRateLimiter, Quota};

use crate::config::RateConfig;
use crate::policy::Policy;

/// The limiters of one configuration.
pub struct RateLimits {
    /// Each partner's limiter with the (per_second bits, burst) it was built for, so that a
    /// reload keeps the limiters whose quota did not change.
    per_partner: HashMap<String, (std::sync::Arc<DefaultDirectRateLimiter>, (u64, u32))>,
    global: Option<DefaultDirectRateLimiter>,
    anonymous_by_address: Option<DefaultKeyedRateLimiter<IpAddr>>,
    /// For the wait of a refused request. Made once: making a clock calibrates it (CPUID),
    /// which cost a fifth of the gateway's CPU when it was made per request.
    clock: DefaultClock,
}

/// A quota of `per_second` sustained with bursts of `burst`; `None` (no limiter) for a rate
/// that is not a positive number.
pub fn quota(per_second: f64, burst: u32) -> Option<Quota> {
    if per_second.is_nan() || per_second <= 0.0 {
        return None;
    }
    let period = Duration::from_secs_f64(1.0 / per_second);
    let burst = NonZeroU32::new(burst.max(1))?;
    Quota::with_period(period).map(|q| q.allow_burst(burst))
}

impl RateLimits {
    /// The limiters of a configuration; with `previous`, partners whose quota is unchanged keep
    /// their limiter (and so their state) across a reload.
    pub fn for_config(
        config: &crate::config::GatewayConfig,
        previous: Option<&RateLimits>,
    ) -> RateLimits {
        let mut limits = RateLimits::new(
            config.policy.as_deref(),
            config.global_rate.as_ref(),
            config.anonymous_rate_per_address.as_ref(),
        );
        if let Some(prev) = previous {
            for (id, (limiter, key)) in limits.per_partner.iter_mut() {
                if let Some((old, old_key)) = prev.per_partner.get(id) {
                    if old_key == key {
                        *limiter = old.clone();
                    }
                }
            }
        }
        limits
    }

    pub fn new(
        policy: Option<&Policy>,
        global: Option<&RateConfig>,
        anonymous_per_address: Option<&RateConfig>,
    ) -> RateLimits {
        let mut per_partner = HashMap::new();
        if let Some(policy) = policy {
            for p in policy.partners().iter().chain(policy.anonymous()) {
                let Some(rate) = p.rate.as_ref() else {
                    continue;
                };
                if let Some(q) = quota(rate.per_second, rate.burst) {
                    let key = (rate.per_second.to_bits(), rate.burst);
                    per_partner.insert(
                        p.id.clone(),
                        (
                            std::sync::Arc::new(DefaultDirectRateLimiter::direct(q)),
                            key,
                        ),
                    );
                }
            }
        }
        RateLimits {
            per_partner,
            global: global
                .and_then(|r| quota(r.per_second, r.burst))
                .map(DefaultDirectRateLimiter::direct),
            anonymous_by_address: anonymous_per_address
                .and_then(|r| quota(r.per_second, r.burst))
                .map(DefaultKeyedRateLimiter::keyed),
            clock: DefaultClock::default(),
        }
    }

    /// `Err(seconds)`: over a limit; retry after that many seconds (at least 1).
    pub fn check(&self, partner: &str, anonymous: bool, client: Option<IpAddr>) -> Result<(), u64> {
        let wait = |not_until: governor::NotUntil<_>| {
            let d = not_until.wait_time_from(self.clock.now());
            d.as_secs() + u64::from(d.subsec_nanos() > 0)
        };
        if let Some(l) = &self.global {
            l.check().map_err(|n| wait(n).max(1))?;
        }
        if let Some((l, _)) = self.per_partner.get(partner) {
            l.check().map_err(|n| wait(n).max(1))?;
        }
        if anonymous {
            if let (Some(l), Some(ip)) = (&self.anonymous_by_address, client) {
                l.check_key(&ip).map_err(|n| wait(n).max(1))?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn burst_then_wait() {
        let limits = RateLimits::new(
            None,
            Some(&RateConfig {
                per_second: 1.0,
                burst: 2,
            }),
            None,
        );
        assert!(limits.check("x", false, None).is_ok());
        assert!(limits.check("x", false, None).is_ok());
        assert_eq!(limits.check("x", false, None), Err(1));
    }

    #[test]
    fn anonymous_clients_are_limited_per_address() {
        let limits = RateLimits::new(
            None,
            None,
            Some(&RateConfig {
                per_second: 1.0,
                burst: 1,
            }),
        );
        let a: IpAddr = "127.0.0.1".parse().unwrap();
        let b: IpAddr = "127.0.0.2".parse().unwrap();
        assert!(limits.check("anonymous", true, Some(a)).is_ok());
        assert!(limits.check("anonymous", true, Some(a)).is_err());
        assert!(limits.check("anonymous", true, Some(b)).is_ok());
        // A partner is not an anonymous client.
        assert!(limits.check("alpha", false, Some(a)).is_ok());
    }

    #[test]
    fn quotas() {
        assert!(quota(0.0, 1).is_none());
        assert!(quota(f64::NAN, 1).is_none());
        assert!(quota(0.5, 0).is_some());
    }
}
