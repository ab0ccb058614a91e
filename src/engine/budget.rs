//! Budgets one workspace's engines share: received bytes per second ([`Throttle`]) and open
//! connections ([`ConnBudget`]).
//!
//! The throttle is the generic cell rate algorithm (GCRA): one atomic "theoretical arrival time" that each
//! `recv()` pushes forward by the time its bytes are worth at the allowed rate. While the
//! workspace stays under its rate, that time never runs ahead of the clock by more than the
//! burst and nobody waits; past it, the reader that pushed it ahead sleeps the difference, so
//! its socket is read more slowly and TCP's own flow control slows the sender. One atomic
//! per workspace, no lock: engines of other workspaces never touch it.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// How much a workspace may receive at once before reads are spaced out: 100 ms worth.
const BURST: Duration = Duration::from_millis(100);

/// Now, in ns, on a clock that may lag by a few milliseconds: every `recv()` of a workspace
/// with a byte limit asks it the time, and the kernel's coarse clock answers in a few
/// nanoseconds where the precise one takes tens; a limit with a 100 ms burst cannot tell.
#[cfg(target_os = "linux")]
fn now_ns(start: &Instant) -> u64 {
    let _ = start;
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid timespec for the call to write; the clock id exists on Linux.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC_COARSE, &mut ts) };
    (ts.tv_sec as u64)
        .saturating_mul(1_000_000_000)
        .saturating_add(ts.tv_nsec as u64)
}

#[cfg(not(target_os = "linux"))]
fn now_ns(start: &Instant) -> u64 {
    start.elapsed().as_nanos() as u64
}

/// A byte rate limit shared by one workspace's engines.
#[derive(Debug)]
pub struct Throttle {
    rate: u64,
    start: Instant,
    /// Nanoseconds of budget one byte costs, in 1/1024 ns so slow and fast rates both fit.
    cost_per_byte: u64,
    burst_ns: u64,
    /// The theoretical arrival time, in ns since `start`.
    tat: AtomicU64,
}

impl Throttle {
    /// A limit of `bytes_per_sec` (at least 1).
    pub fn new(bytes_per_sec: u64) -> Self {
        Self::with_burst(bytes_per_sec, BURST)
    }

    /// A limit of `per_sec` units a second (at least 1), of which `burst`'s worth may come
    /// at once.
    pub fn with_burst(per_sec: u64, burst: Duration) -> Self {
        let rate = per_sec.max(1);
        Self {
            rate,
            start: Instant::now(),
            cost_per_byte: (1_000_000_000u64 * 1024).div_ceil(rate),
            burst_ns: burst.as_nanos() as u64,
            tat: AtomicU64::new(0),
        }
    }

    /// Like [`Throttle::take`] for `n` units, but refuses (`Err` with the wait it would
    /// take) instead of charging when the wait would be longer than `max_wait`, so a caller
    /// that keeps asking while refused does not push the budget ever further away.
    pub fn take_within(&self, n: usize, max_wait: Duration) -> Result<Option<Duration>, Duration> {
        let now = now_ns(&self.start);
        let cost = (n as u64).saturating_mul(self.cost_per_byte) / 1024;
        let max = max_wait.as_nanos() as u64;
        let mut tat = self.tat.load(Ordering::Relaxed);
        loop {
            let next = tat.max(now).saturating_add(cost);
            let wait = (next - now).saturating_sub(self.burst_ns);
            if wait > max {
                return Err(Duration::from_nanos(wait));
            }
            match self
                .tat
                .compare_exchange_weak(tat, next, Ordering::Relaxed, Ordering::Relaxed)
            {
                Ok(_) => return Ok((wait > 0).then(|| Duration::from_nanos(wait))),
                Err(seen) => tat = seen,
            }
        }
    }

    /// How long a reader should wait before it reads, if the budget is spent past the burst
    /// by whichever reader spent it.
    pub fn owed(&self) -> Option<Duration> {
        self.owed_at(now_ns(&self.start))
    }

    fn owed_at(&self, now: u64) -> Option<Duration> {
        let ahead = self.tat.load(Ordering::Relaxed).saturating_sub(now);
        (ahead > self.burst_ns).then(|| Duration::from_nanos(ahead - self.burst_ns))
    }

    /// The allowed bytes per second.
    pub fn rate(&self) -> u64 {
        self.rate
    }

    /// Accounts for `n` bytes just received; returns how long the reader should wait before
    /// its next read, if the workspace is over its rate.
    pub fn take(&self, n: usize) -> Option<Duration> {
        let now = now_ns(&self.start);
        self.take_at(n, now)
    }

    fn take_at(&self, n: usize, now: u64) -> Option<Duration> {
        let cost = (n as u64).saturating_mul(self.cost_per_byte) / 1024;
        let mut tat = self.tat.load(Ordering::Relaxed);
        loop {
            let next = tat.max(now).saturating_add(cost);
            match self
                .tat
                .compare_exchange_weak(tat, next, Ordering::Relaxed, Ordering::Relaxed)
            {
                Ok(_) => {
                    let ahead = next - now;
                    return (ahead > self.burst_ns)
                        .then(|| Duration::from_nanos(ahead - self.burst_ns));
                }
                Err(seen) => tat = seen,
            }
        }
    }
}

/// Open connections over all of a workspace's engines, at most `max`.
#[derive(Debug)]
pub struct ConnBudget {
    max: usize,
    open: AtomicUsize,
}

impl ConnBudget {
    /// A budget of `max` connections.
    pub fn new(max: usize) -> Self {
        Self {
            max,
            open: AtomicUsize::new(0),
        }
    }

    /// The most allowed.
    pub fn max(&self) -> usize {
        self.max
    }

    /// Takes one connection's place; false when all are taken.
    pub fn acquire(&self) -> bool {
        self.open
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| {
                (n < self.max).then_some(n + 1)
            })
            .is_ok()
    }

    /// Gives a place back.
    pub fn release(&self) {
        let _ = self
            .open
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conn_budget_counts_places() {
        let b = ConnBudget::new(2);
        assert!(b.acquire() && b.acquire());
        assert!(!b.acquire());
        b.release();
        assert!(b.acquire());
        b.release();
        b.release();
        b.release();
        assert!(b.acquire() && b.acquire() && !b.acquire());
    }

    #[test]
    fn under_the_rate_nobody_waits() {
        let t = Throttle::new(1_000_000);
        // 1 MB/s: 1,000 bytes every millisecond is exactly the rate.
        for ms in 0..2_000u64 {
            assert_eq!(t.take_at(1_000, ms * 1_000_000), None, "at {ms} ms");
        }
    }

    #[test]
    fn over_the_rate_reads_wait_for_the_excess() {
        let t = Throttle::new(1_000_000);
        // The burst (100 ms = 100,000 bytes) passes at once ...
        assert_eq!(t.take_at(100_000, 0), None);
        // ... then 500,000 bytes more at the same instant are 0.5 s early.
        let wait = t.take_at(500_000, 0).unwrap();
        assert!(
            (499..=501).contains(&wait.as_millis()),
            "{wait:?} for half a second over"
        );
        // Waiting it out, and then keeping to the rate, costs nothing more.
        assert_eq!(t.take_at(1_000, 600_000_000), None);
    }

    #[test]
    fn a_reader_new_to_the_budget_waits_for_what_others_took() {
        let t = Throttle::new(1_000_000);
        assert_eq!(t.owed_at(0), None, "nothing taken");
        // One reader takes the burst and 300 ms more ...
        assert!(t.take_at(400_000, 0).is_some());
        // ... and any other waits the 300 ms before its first read, less what has passed.
        let w = t.owed_at(0).unwrap();
        assert!((299..=301).contains(&w.as_millis()), "{w:?}");
        let w = t.owed_at(200_000_000).unwrap();
        assert!((99..=101).contains(&w.as_millis()), "{w:?}");
        assert_eq!(t.owed_at(300_000_000), None, "paid back");
    }

    #[test]
    fn a_refused_take_costs_nothing() {
        let t = Throttle::with_burst(10, Duration::from_secs(1));
        // Ten at once are the burst; the next ones wait a tenth of a second more each.
        for _ in 0..10 {
            assert_eq!(t.take_within(1, Duration::ZERO), Ok(None));
        }
        let w = t.take_within(1, Duration::from_secs(1)).unwrap().unwrap();
        assert!((99..=101).contains(&w.as_millis()), "{w:?}");
        let tat = t.tat.load(Ordering::Relaxed);
        assert!(t.take_within(1, Duration::from_millis(50)).is_err());
        assert_eq!(
            t.tat.load(Ordering::Relaxed),
            tat,
            "the refusal was not charged"
        );
    }

    #[test]
    fn many_readers_share_one_budget() {
        let t = std::sync::Arc::new(Throttle::new(1_000_000));
        let over: Vec<_> = (0..4)
            .map(|_| {
                let t = t.clone();
                std::thread::spawn(move || (0..100).filter_map(|_| t.take_at(10_000, 0)).count())
            })
            .collect();
        let waited: usize = over.into_iter().map(|h| h.join().unwrap()).sum();
        // 4,000,000 bytes at one instant: all but the first 100,000 are over the burst.
        assert!(waited >= 389, "{waited} of 400 reads had to wait");
        let tat = t.tat.load(Ordering::Relaxed);
        assert_eq!(
            tat,
            4_000_000_000 / 1_000_000 * 1_000_000,
            "every byte counted once"
        );
    }
}
