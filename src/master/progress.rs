//! The progress display: one redrawn stderr line on a terminal, periodic lines
//! otherwise. It reads the scheduler's figures and never changes anything.

use crate::schedule::Scheduler;
use std::time::{Duration, Instant};

/// How often the progress line is redrawn on a terminal, and printed otherwise.
const PROGRESS_TTY: Duration = Duration::from_millis(500);
const PROGRESS_LOG: Duration = Duration::from_secs(10);

pub(super) struct Progress {
    quiet: bool,
    tty: bool,
    next: Instant,
    shown: bool,
}

impl Progress {
    pub(super) fn new(quiet: bool) -> Self {
        // SAFETY: isatty only inspects the descriptor.
        let tty = unsafe { libc::isatty(2) } == 1;
        let every = if tty { PROGRESS_TTY } else { PROGRESS_LOG };
        Progress {
            quiet,
            tty,
            next: Instant::now() + every,
            shown: false,
        }
    }

    /// When the display wants to run next.
    pub(super) fn next_due(&self) -> Instant {
        if self.quiet {
            Instant::now() + Duration::from_secs(3600)
        } else {
            self.next
        }
    }

    pub(super) fn maybe_show<P>(&mut self, sched: &Scheduler<P>, started: Instant) {
        if self.quiet || Instant::now() < self.next {
            return;
        }
        let p = sched.progress();
        let secs = started.elapsed().as_secs_f64();
        let frac = if p.numbers_total == 0 {
            1.0
        } else {
            p.numbers_done as f64 / p.numbers_total as f64
        };
        let rate = p.numbers_done as f64 / secs.max(1e-9);
        let eta = if rate > 0.0 {
            (p.numbers_total - p.numbers_done) as f64 / rate
        } else {
            f64::INFINITY
        };
        let line = format!(
            "{:5.1}% {}/{} numbers, {} primes, {}/s, {} workers, {} threads, ETA {}",
            frac * 100.0,
            human(p.numbers_done as f64),
            human(p.numbers_total as f64),
            p.primes,
            human(rate),
            p.workers,
            p.threads,
            eta_text(eta)
        );
        if self.tty {
            eprint!("\r{line}\x1b[K");
            self.shown = true;
            self.next = Instant::now() + PROGRESS_TTY;
        } else {
            // Not through `log`: progress is asked for (no --quiet) whatever RUST_LOG says.
            eprintln!("primecluster: {line}");
            self.next = Instant::now() + PROGRESS_LOG;
        }
    }

    /// Erases a redrawn line so that what follows starts on a clean line.
    pub(super) fn clear(&mut self) {
        if self.shown {
            eprint!("\r\x1b[K");
            self.shown = false;
        }
    }
}

/// 1234567 -> "1.23M".
pub fn human(x: f64) -> String {
    const UNITS: [(f64, &str); 6] = [
        (1e18, "E"),
        (1e15, "P"),
        (1e12, "T"),
        (1e9, "G"),
        (1e6, "M"),
        (1e3, "k"),
    ];
    for (scale, unit) in UNITS {
        if x >= scale {
            return format!("{:.2}{unit}", x / scale);
        }
    }
    format!("{x:.0}")
}

fn eta_text(secs: f64) -> String {
    if !secs.is_finite() {
        return "?".into();
    }
    let s = secs.round() as u64;
    match s {
        0..=99 => format!("{s}s"),
        100..=5999 => format!("{}m{:02}s", s / 60, s % 60),
        _ => format!("{}h{:02}m", s / 3600, s / 60 % 60),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn human_numbers() {
        assert_eq!(human(999.0), "999");
        assert_eq!(human(1_234_567.0), "1.23M");
        assert_eq!(eta_text(61.0), "61s");
        assert_eq!(eta_text(3700.0), "61m40s");
        assert_eq!(eta_text(f64::INFINITY), "?");
    }
}
