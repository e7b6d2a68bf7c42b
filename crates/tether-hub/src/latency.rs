//! The delivery latency histogram: how long a message waits between the
//! moment this hub fans it out and the moment a member's connection has
//! written its frame to the socket.

use std::num::NonZeroU64;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// The upper bounds of the histogram's buckets (the last bucket, past
/// them, is `+Inf`): from 50 µs to 5 s.
pub const LATENCY_BOUNDS: [Duration; 14] = [
    Duration::from_micros(50),
    Duration::from_micros(100),
    Duration::from_micros(250),
    Duration::from_micros(500),
    Duration::from_millis(1),
    Duration::from_micros(2500),
    Duration::from_millis(5),
    Duration::from_millis(10),
    Duration::from_millis(25),
    Duration::from_millis(50),
    Duration::from_millis(100),
    Duration::from_millis(250),
    Duration::from_secs(1),
    Duration::from_secs(5),
];

/// Buckets, with the `+Inf` one.
const BUCKETS: usize = LATENCY_BOUNDS.len() + 1;

/// A snapshot of the delivery latency histogram (see [`HubStats`](crate::HubStats)).
///
/// Each sample is one frame of a room message delivered to one member,
/// timed from the moment this hub fanned the message out (it ordered it
/// itself, or received it from the backplane already ordered) to the moment
/// the member's writer had written it to the socket (the kernel has it).
/// Frames a member receives on resume, and acks and notices, are not
/// counted; neither are frames dropped or never written (member gone).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct LatencyHistogram {
    /// Samples per bucket, not cumulative: `counts[i]` took at most
    /// `LATENCY_BOUNDS[i]` and more than the bound before; the last entry
    /// counts the samples over every bound.
    pub counts: [u64; BUCKETS],
    /// The sum of every sample.
    pub sum: Duration,
    /// The number of samples.
    pub count: u64,
}

impl LatencyHistogram {
    /// `(upper bound, samples at or under it)` per bucket, cumulative as
    /// Prometheus wants them; `None` is `+Inf`.
    pub fn cumulative(&self) -> impl Iterator<Item = (Option<Duration>, u64)> + '_ {
        let bounds = LATENCY_BOUNDS.iter().copied().map(Some).chain([None]);
        bounds.zip(self.counts.iter().scan(0, |total, n| {
            *total += n;
            Some(*total)
        }))
    }
}

/// When a frame was fanned out: nanoseconds since the process's first
/// stamp, plus one. Half an `Instant` (8 bytes, and none spent on `None`),
/// as every member's queue keeps one per frame, and one frame at rest.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Stamp(NonZeroU64);

impl Stamp {
    pub(crate) fn now() -> Self {
        static START: OnceLock<Instant> = OnceLock::new();
        let nanos = START.get_or_init(Instant::now).elapsed().as_nanos();
        // 584 years before this saturates.
        Stamp(NonZeroU64::MIN.saturating_add(u64::try_from(nanos).unwrap_or(u64::MAX)))
    }

    /// The time from `self` to `later` (zero if `later` is earlier).
    pub(crate) fn until(self, later: Stamp) -> Duration {
        Duration::from_nanos(later.0.get().saturating_sub(self.0.get()))
    }
}

/// The live histogram: atomics, so every member's writer records into it
/// without a lock.
#[derive(Debug, Default)]
pub(crate) struct Latency {
    counts: [AtomicU64; BUCKETS],
    sum_nanos: AtomicU64,
}

impl Latency {
    /// Records `n` samples of `latency`.
    pub(crate) fn record(&self, latency: Duration, n: u64) {
        let bucket = LATENCY_BOUNDS.iter().position(|bound| latency <= *bound).unwrap_or(BUCKETS - 1);
        self.counts[bucket].fetch_add(n, Relaxed);
        let nanos = u64::try_from(latency.as_nanos()).unwrap_or(u64::MAX);
        self.sum_nanos.fetch_add(nanos.saturating_mul(n), Relaxed);
    }

    pub(crate) fn snapshot(&self) -> LatencyHistogram {
        let counts = std::array::from_fn(|i| self.counts[i].load(Relaxed));
        let count = counts.iter().sum();
        LatencyHistogram { counts, sum: Duration::from_nanos(self.sum_nanos.load(Relaxed)), count }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stamps_measure_the_time_between_them() {
        let first = Stamp::now();
        std::thread::sleep(Duration::from_millis(2));
        let second = Stamp::now();
        assert!(first.until(second) >= Duration::from_millis(2));
        assert_eq!(second.until(first), Duration::ZERO);
        assert_eq!(std::mem::size_of::<Option<Stamp>>(), 8);
    }

    #[test]
    fn samples_land_in_their_bucket_and_add_up() {
        let latency = Latency::default();
        latency.record(Duration::from_micros(10), 2);
        latency.record(Duration::from_micros(100), 1);
        latency.record(Duration::from_millis(3), 1);
        latency.record(Duration::from_secs(60), 1);
        let h = latency.snapshot();
        assert_eq!(h.count, 5);
        assert_eq!(h.sum, Duration::from_micros(20 + 100 + 3000) + Duration::from_secs(60));
        let cumulative: Vec<(Option<Duration>, u64)> = h.cumulative().collect();
        assert_eq!(cumulative[0], (Some(Duration::from_micros(50)), 2));
        assert_eq!(cumulative[1], (Some(Duration::from_micros(100)), 3), "a bound is inclusive");
        assert_eq!(cumulative[6], (Some(Duration::from_millis(5)), 4));
        assert_eq!(cumulative[13].1, 4);
        assert_eq!(cumulative[14], (None, 5));
    }
}
