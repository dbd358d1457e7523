//! A call's wall clock.
//!
//! The deadline covers guest code and host waits alike (a sleep, a stalled HTTP response), but
//! not the time spent waiting for the MCP client to answer a question the component asked: a
//! user filling in a form takes as long as it takes, and that wait has its own bound
//! ([`crate::client::MAX_INPUT_WAIT`]).

use std::sync::Mutex;
use std::time::{Duration, Instant};

/// When a call started, its deadline, and the client waits excluded from it.
#[derive(Debug)]
pub(crate) struct CallClock {
    started: Instant,
    deadline: Duration,
    waits: Mutex<Waits>,
}

#[derive(Debug, Default)]
struct Waits {
    /// Finished waits, summed.
    total: Duration,
    /// The wait under way, if any. A call's guest runs on one fiber, so waits never overlap.
    since: Option<Instant>,
}

impl CallClock {
    pub(crate) fn new(started: Instant, deadline: Duration) -> Self {
        Self {
            started,
            deadline,
            waits: Mutex::default(),
        }
    }

    fn excluded(&self) -> Duration {
        let w = self.waits.lock().unwrap();
        w.total + w.since.map_or(Duration::ZERO, |s| s.elapsed())
    }

    /// Time left before the deadline (frozen while the client is being waited for).
    pub(crate) fn remaining(&self) -> Duration {
        (self.deadline + self.excluded()).saturating_sub(self.started.elapsed())
    }

    /// True when the deadline passed (never while the client is being waited for).
    pub(crate) fn expired(&self) -> bool {
        self.waits.lock().unwrap().since.is_none() && self.remaining().is_zero()
    }

    pub(crate) fn wait_begins(&self) {
        self.waits.lock().unwrap().since = Some(Instant::now());
    }

    pub(crate) fn wait_ends(&self) {
        let mut w = self.waits.lock().unwrap();
        if let Some(s) = w.since.take() {
            w.total += s.elapsed();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_waits_do_not_use_up_the_deadline() {
        let c = CallClock::new(Instant::now(), Duration::from_millis(50));
        c.wait_begins();
        std::thread::sleep(Duration::from_millis(80));
        assert!(!c.expired(), "no expiry while waiting for the client");
        c.wait_ends();
        assert!(
            c.remaining() > Duration::from_millis(20),
            "{:?}",
            c.remaining()
        );
        std::thread::sleep(Duration::from_millis(60));
        assert!(c.expired());
    }
}
