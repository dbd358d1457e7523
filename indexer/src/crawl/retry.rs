//! Bounded retries with exponential backoff and full jitter, honouring `Retry-After`.

use std::future::Future;
use std::hash::{BuildHasher as _, Hasher as _};
use std::time::Duration;

use crate::fetch::FetchError;

/// How hard to retry a registry request that failed transiently (see
/// [`FetchError::is_transient`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts in all, the first included (1 = no retries).
    pub attempts: u32,
    /// Delay before the first retry; doubled for each further one.
    pub base_delay: Duration,
    /// Longest delay, whatever the backoff or a `Retry-After` header say.
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            attempts: 3,
            base_delay: Duration::from_millis(250),
            max_delay: Duration::from_secs(30),
        }
    }
}

impl RetryPolicy {
    /// The delay before retry number `retry` (1-based) after `error`: the registry's
    /// `Retry-After` when it sent one, else `base · 2^(retry-1)` with full jitter (a uniform
    /// pick in `[d/2, d]`, so a fleet of crawlers does not retry in lockstep); capped.
    pub fn delay(&self, retry: u32, error: &FetchError) -> Duration {
        if let Some(d) = error.retry_after() {
            return d.min(self.max_delay);
        }
        let exp = self
            .base_delay
            .saturating_mul(1u32 << (retry.saturating_sub(1)).min(16));
        let d = exp.min(self.max_delay);
        let half = d / 2;
        let r = std::collections::hash_map::RandomState::new()
            .build_hasher()
            .finish();
        half + half.mul_f64((r % 10_000) as f64 / 10_000.0)
    }

    /// Runs `op` until it succeeds, fails for good, or the attempts are used up.
    pub async fn run<T, F, Fut>(&self, what: &str, mut op: F) -> Result<T, FetchError>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, FetchError>>,
    {
        let mut attempt = 1;
        loop {
            match op().await {
                Err(e) if e.is_transient() && attempt < self.attempts.max(1) => {
                    let delay = self.delay(attempt, &e);
                    tracing::debug!(what, attempt, ?delay, error = %e, "retrying");
                    tokio::time::sleep(delay).await;
                    attempt += 1;
                }
                other => return other,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU32, Ordering};

    use super::*;

    fn http(status: u16, detail: &str) -> FetchError {
        FetchError::Http {
            registry: "r".into(),
            what: "w".into(),
            status,
            detail: detail.into(),
        }
    }

    #[test]
    fn delays_back_off_with_jitter_and_honour_retry_after() {
        let p = RetryPolicy::default();
        for retry in 1..=3 {
            let d = p.delay(retry, &http(503, ""));
            let full = Duration::from_millis(250 * (1 << (retry - 1)));
            assert!(d >= full / 2 && d <= full, "{retry}: {d:?}");
        }
        assert_eq!(
            p.delay(
                1,
                &http(429, "TOOMANYREQUESTS: slow down (Retry-After: 7s)")
            ),
            Duration::from_secs(7)
        );
        assert_eq!(
            p.delay(1, &http(429, "x (Retry-After: 3600s)")),
            Duration::from_secs(30)
        );
    }

    #[tokio::test]
    async fn retries_transient_failures_only() {
        let p = RetryPolicy {
            attempts: 3,
            base_delay: Duration::from_millis(1),
            max_delay: Duration::from_millis(5),
        };
        let n = AtomicU32::new(0);
        let r: Result<(), _> = p
            .run("x", || async {
                n.fetch_add(1, Ordering::SeqCst);
                Err(http(502, "bad gateway"))
            })
            .await;
        assert!(r.is_err());
        assert_eq!(n.load(Ordering::SeqCst), 3);

        n.store(0, Ordering::SeqCst);
        let r = p
            .run("x", || async {
                if n.fetch_add(1, Ordering::SeqCst) == 0 {
                    Err(http(429, "x (Retry-After: 0s)"))
                } else {
                    Ok(5)
                }
            })
            .await;
        assert_eq!(r.unwrap(), 5);
        assert_eq!(n.load(Ordering::SeqCst), 2);

        n.store(0, Ordering::SeqCst);
        let r: Result<(), _> = p
            .run("x", || async {
                n.fetch_add(1, Ordering::SeqCst);
                Err(http(404, "no"))
            })
            .await;
        assert!(r.is_err());
        assert_eq!(n.load(Ordering::SeqCst), 1);
    }
}
