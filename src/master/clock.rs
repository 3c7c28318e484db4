//! The master's clock for worker silence: wall time minus the time the master itself
//! stood still.
//!
//! A worker is dropped when nothing was *heard* from it for a while; but while the
//! master is stopped (SIGSTOP, a swapped-out Pi), blocked on a slow disk or on a stdout
//! nobody reads, it hears nothing from anyone, and healthy workers' frames wait in
//! their sockets. Measuring those stalls and leaving them out of the scheduler's time
//! keeps the master from blaming workers for its own pauses. We chose this over a
//! writer thread with a bounded queue because it also covers stalls that are not
//! writes (SIGSTOP, page faults, a loaded machine) and keeps the loop single-threaded;
//! the loop additionally reads every socket that became ready during a stall before
//! it lets a timer expire anyone.

use std::time::{Duration, Instant};

/// Pauses shorter than this are ordinary scheduling noise and stay counted.
pub(super) const STALL_SLACK: Duration = Duration::from_millis(100);

pub(super) struct StallClock {
    started: Instant,
    excluded: Duration,
}

impl StallClock {
    pub(super) fn new(started: Instant) -> Self {
        StallClock {
            started,
            excluded: Duration::ZERO,
        }
    }

    /// Time since the start with every measured stall left out.
    pub(super) fn now(&self) -> Duration {
        self.at(Instant::now())
    }

    /// [`now`](Self::now) as it reads at instant `t`.
    pub(super) fn at(&self, t: Instant) -> Duration {
        t.saturating_duration_since(self.started)
            .saturating_sub(self.excluded)
    }

    /// Total time left out so far.
    pub(super) fn excluded(&self) -> Duration {
        self.excluded
    }

    /// After a wait for events that was asked to last at most `asked` and took
    /// `took`: an overshoot past the slack means the process was not running (stopped
    /// or starved) for some part of it, which part unknown, so the whole wait is left
    /// out. That delays expiries by at most one wait, and only after a stall; counting
    /// the asked part would let the deadline that ended the wait fire before the
    /// workers (in `run`, threads that were stopped too) could be heard again.
    /// Returns whether it counts as a stall.
    pub(super) fn after_wait(&mut self, asked: Duration, took: Duration) -> bool {
        if took.saturating_sub(asked) <= STALL_SLACK {
            return false;
        }
        self.exclude(took)
    }

    /// After `took` of work between two waits (reading, writing, checkpointing): a
    /// long stretch is time in which no socket was read. Returns whether it counts.
    pub(super) fn after_work(&mut self, took: Duration) -> bool {
        self.exclude(took)
    }

    fn exclude(&mut self, lost: Duration) -> bool {
        if lost <= STALL_SLACK {
            return false;
        }
        self.excluded += lost - STALL_SLACK;
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_pauses_count_and_stalls_do_not() {
        let t0 = Instant::now();
        let mut c = StallClock::new(t0);
        assert!(!c.after_wait(Duration::from_secs(1), Duration::from_millis(1050)));
        assert!(!c.after_work(Duration::from_millis(80)));
        assert_eq!(c.excluded(), Duration::ZERO);
        // Stopped for 3 s inside a 1 s wait: the whole wait, less the slack.
        assert!(c.after_wait(Duration::from_secs(1), Duration::from_secs(3)));
        assert_eq!(c.excluded(), Duration::from_secs(3) - STALL_SLACK);
        // Blocked 6 s on a write.
        assert!(c.after_work(Duration::from_secs(6)));
        let ex = Duration::from_secs(9) - 2 * STALL_SLACK;
        assert_eq!(c.excluded(), ex);
        let later = t0 + Duration::from_secs(10);
        assert_eq!(c.at(later), Duration::from_secs(10) - ex);
        // Never before the start, whatever was excluded.
        assert_eq!(c.at(t0), Duration::ZERO);
    }
}
