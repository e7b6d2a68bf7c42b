//! The hub's counters in the Prometheus text format (`GET /metrics`): the
//! library's [`HubStats`] and the connections this command counts.

use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;

use tether_hub::{HubStats, LatencyHistogram};

/// Connections the command has served: open now, and since it started.
#[derive(Debug, Default)]
pub struct Connections {
    open: AtomicU64,
    total: AtomicU64,
}

/// Counts a connection as open until dropped.
pub struct Open(Arc<Connections>);

impl Connections {
    /// Counts one more connection, open until the guard is dropped.
    pub fn open(self: Arc<Self>) -> Open {
        self.open.fetch_add(1, Relaxed);
        self.total.fetch_add(1, Relaxed);
        Open(self)
    }
}

impl Drop for Open {
    fn drop(&mut self) {
        self.0.open.fetch_sub(1, Relaxed);
    }
}

/// A metric's kind, as `# TYPE` names it.
#[derive(Clone, Copy)]
enum Kind {
    Gauge,
    Counter,
}

/// The metrics page: `# HELP` and `# TYPE` before each sample, counters
/// named `..._total`.
pub fn render(stats: &HubStats, connections: &Connections) -> String {
    use Kind::{Counter, Gauge};
    let samples: [(&str, Kind, &str, u64); 17] = [
        ("connections", Gauge, "WebSocket connections open now.", connections.open.load(Relaxed)),
        ("connections_total", Counter, "WebSocket connections accepted.", connections.total.load(Relaxed)),
        ("members", Gauge, "Room members now.", stats.members),
        ("rooms", Gauge, "Rooms held (with members, or history not yet expired).", stats.rooms as u64),
        ("messages_in_total", Counter, "Messages members sent (refused ones included).", stats.received),
        ("bytes_in_total", Counter, "Payload bytes of the messages members sent.", stats.bytes_in),
        ("messages_published_total", Counter, "Messages ordered in a room.", stats.published),
        ("deliveries_total", Counter, "Frames queued for members: one per member per message.", stats.delivered),
        ("bytes_out_total", Counter, "Bytes of the frames queued for members.", stats.bytes_out),
        (
            "members_dropped_total",
            Counter,
            "Members closed because their queue overflowed (those closed for a publish: publishes_refused_total).",
            stats.overflowed,
        ),
        ("frames_dropped_total", Counter, "Frames dropped from the queues of lossy rooms' members.", stats.dropped),
        (
            "frames_sent_straight_total",
            Counter,
            "Frames a room's drain wrote straight to a parked member's socket.",
            stats.sent_straight,
        ),
        (
            "frames_sent_in_part_total",
            Counter,
            "Frames a room's drain began and a member's task finished.",
            stats.sent_in_part,
        ),
        ("publishes_refused_total", Counter, "Publishes refused (limits, bad envelopes).", stats.refused),
        ("backplane_failures_total", Counter, "Times the link to the backplane failed.", stats.backplane_failures),
        (
            "backplane_reconnects_total",
            Counter,
            "Times the link to the backplane came back after a failure.",
            stats.backplane_reconnects,
        ),
        ("backplane_up", Gauge, "1 while the link to the backplane (Redis) works, else 0.", stats.backplane_up.into()),
    ];
    let mut out = String::new();
    for (name, kind, help, value) in samples {
        let kind = match kind {
            Gauge => "gauge",
            Counter => "counter",
        };
        // Writing to a String cannot fail.
        let _ = write!(
            out,
            "# HELP tether_hub_{name} {help}\n# TYPE tether_hub_{name} {kind}\ntether_hub_{name} {value}\n"
        );
    }
    latency(&mut out, &stats.delivery_latency);
    out
}

/// The delivery latency histogram: `_bucket` lines (cumulative, `le` in
/// seconds), `_sum` and `_count`.
fn latency(out: &mut String, histogram: &LatencyHistogram) {
    let name = "tether_hub_delivery_latency_seconds";
    let _ = write!(
        out,
        "# HELP {name} From this hub fanning a room message out to its frame written to a member's socket.\n\
         # TYPE {name} histogram\n"
    );
    for (bound, count) in histogram.cumulative() {
        let le = bound.map_or("+Inf".to_owned(), |b| b.as_secs_f64().to_string());
        let _ = writeln!(out, "{name}_bucket{{le=\"{le}\"}} {count}");
    }
    let _ = write!(out, "{name}_sum {}\n{name}_count {}\n", histogram.sum.as_secs_f64(), histogram.count);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_sample_has_help_and_type_and_counters_end_in_total() {
        let connections = Arc::new(Connections::default());
        let open = connections.clone().open();
        let text = render(&HubStats::default(), &connections);
        drop(open);
        let (text, histogram) = text.split_at(text.find("# HELP tether_hub_delivery_latency").unwrap());
        assert!(histogram.contains("# TYPE tether_hub_delivery_latency_seconds histogram\n"));
        assert!(histogram.contains("tether_hub_delivery_latency_seconds_bucket{le=\"0.00005\"} 0\n"));
        assert!(histogram.contains("tether_hub_delivery_latency_seconds_bucket{le=\"+Inf\"} 0\n"));
        assert!(histogram
            .ends_with("tether_hub_delivery_latency_seconds_sum 0\ntether_hub_delivery_latency_seconds_count 0\n"));
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len() % 3, 0);
        for chunk in lines.chunks(3) {
            let name = chunk[2].split(' ').next().unwrap();
            assert_eq!(chunk[0].split(' ').nth(2), Some(name), "{chunk:?}");
            let kind = chunk[1].rsplit(' ').next().unwrap();
            assert_eq!(kind == "counter", name.ends_with("_total"), "{chunk:?}");
        }
        assert!(text.contains("tether_hub_connections 1\n") && text.contains("tether_hub_connections_total 1\n"));
        assert_eq!(connections.open.load(Relaxed), 0, "closed when the guard drops");
    }
}
