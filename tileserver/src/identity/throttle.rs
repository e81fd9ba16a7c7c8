//! Sign-in throttling, per account and per client address: after a few failures in a row,
//! each further attempt waits longer (doubling up to a ceiling), whatever the password. A
//! success clears the account's count. In memory, per replica: a replica restarted forgets,
//! which bounds the lockout an attacker can inflict on a real user.

use std::collections::HashMap;
use std::sync::Mutex;

/// Failures in a row allowed per account before attempts wait.
pub const ACCOUNT_FREE_FAILURES: u32 = 5;
/// Failures in a row allowed per client address (several people behind one NAT) before attempts wait.
pub const ADDRESS_FREE_FAILURES: u32 = 20;
/// First wait after the free failures, milliseconds; doubled by each further failure.
pub const FIRST_WAIT_MS: i64 = 30_000;
/// Longest wait, milliseconds.
pub const MAX_WAIT_MS: i64 = 15 * 60_000;
/// Failures older than this are forgotten, milliseconds.
pub const FORGET_AFTER_MS: i64 = 60 * 60_000;
/// Keys kept at most (older ones are pruned first).
const MAX_KEYS: usize = 100_000;

#[derive(Debug, Clone, Copy)]
struct Failures {
    count: u32,
    last_ms: i64,
    blocked_until_ms: i64,
}

/// Failure counts by key (`account:NAME`, `address:IP`).
#[derive(Debug, Default)]
pub struct Throttle {
    // Lock rule: held for a map operation only, never across an await or another lock.
    failures: Mutex<HashMap<String, Failures>>,
}

impl Throttle {
    /// Milliseconds to wait before `key` may try again (0: now).
    pub fn wait_ms(&self, key: &str, now_ms: i64) -> i64 {
        let map = self.failures.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        map.get(key).map_or(0, |f| (f.blocked_until_ms - now_ms).max(0))
    }

    /// Records a failure of `key`; `free` failures in a row are allowed before waits start.
    pub fn fail(&self, key: &str, free: u32, now_ms: i64) {
        let mut map = self.failures.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if map.len() >= MAX_KEYS {
            map.retain(|_, f| now_ms - f.last_ms < FORGET_AFTER_MS);
        }
        let f = map.entry(key.to_owned()).or_insert(Failures { count: 0, last_ms: now_ms, blocked_until_ms: 0 });
        if now_ms - f.last_ms >= FORGET_AFTER_MS {
            f.count = 0;
        }
        f.count += 1;
        f.last_ms = now_ms;
        if f.count >= free {
            let doublings = (f.count - free).min(16);
            f.blocked_until_ms = now_ms + (FIRST_WAIT_MS << doublings).min(MAX_WAIT_MS);
        }
    }

    /// Clears `key` (a successful sign-in).
    pub fn clear(&self, key: &str) {
        self.failures.lock().unwrap_or_else(std::sync::PoisonError::into_inner).remove(key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_start_after_the_free_failures_and_double() {
        let t = Throttle::default();
        for i in 0..4 {
            t.fail("account:a", 5, i);
            assert_eq!(t.wait_ms("account:a", i), 0);
        }
        t.fail("account:a", 5, 10);
        assert_eq!(t.wait_ms("account:a", 10), FIRST_WAIT_MS);
        t.fail("account:a", 5, 20);
        assert_eq!(t.wait_ms("account:a", 20), 2 * FIRST_WAIT_MS);
        for _ in 0..20 {
            t.fail("account:a", 5, 30);
        }
        assert_eq!(t.wait_ms("account:a", 30), MAX_WAIT_MS);
        assert_eq!(t.wait_ms("account:b", 30), 0, "other keys are not affected");
        t.clear("account:a");
        assert_eq!(t.wait_ms("account:a", 30), 0);
    }
}
