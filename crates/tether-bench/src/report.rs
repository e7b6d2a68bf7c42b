//! What a run measured, and how it is printed: a few human lines, or one
//! JSON object with `--json`.

use std::fmt::Write as _;
use std::time::Duration;

use hdrhistogram::Histogram;
use serde_json::{json, Value};

use crate::proc_stat::{CpuTime, KernelMemory};

/// Latencies in nanoseconds, 1 ns to 1 hour at three significant digits.
pub fn new_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 3_600_000_000_000, 3).expect("valid histogram bounds")
}

/// One run's results.
#[derive(Debug, Default)]
pub struct Report {
    /// `echo`, `setup` or `idle`.
    pub mode: &'static str,
    /// The server's URL.
    pub url: String,
    /// The workload's parameters, as shown and written to JSON.
    pub params: Vec<(&'static str, Value)>,
    /// The measured window (after the warm-up).
    pub window: Duration,
    /// Operations completed in the window: echoed messages, or handshakes
    /// with their close.
    pub ops: u64,
    /// Echoed payload bytes received in the window.
    pub bytes: u64,
    /// Latency of each operation (ns), from its scheduled start.
    pub latency: Option<Histogram<u64>>,
    /// Failed connections or operations.
    pub errors: u64,
    /// The first few error messages.
    pub error_samples: Vec<String>,
    /// CPU time the server used during the window (`--server-pid`).
    pub server_cpu: Option<CpuTime>,
    /// CPU seconds this generator used during the window.
    pub client_cpu_s: Option<f64>,
    /// Idle mode: the server's resident memory before and with the connections held (KiB).
    pub rss_kb: Option<(u64, u64)>,
    /// Idle mode: connections held open.
    pub held: u64,
    /// Idle mode: the kernel's socket memory before and with the connections held.
    pub kernel: Option<(KernelMemory, KernelMemory)>,
}

impl Report {
    fn secs(&self) -> f64 {
        self.window.as_secs_f64().max(1e-9)
    }

    /// Operations per second.
    pub fn ops_per_s(&self) -> f64 {
        self.ops as f64 / self.secs()
    }

    /// Operations per CPU-second of the server.
    pub fn ops_per_server_cpu_s(&self) -> Option<f64> {
        self.server_cpu.map(CpuTime::total).filter(|&s| s > 0.0).map(|s| self.ops as f64 / s)
    }

    /// Server memory per held connection (KiB).
    pub fn rss_kb_per_conn(&self) -> Option<f64> {
        let (before, after) = self.rss_kb?;
        (self.held > 0).then(|| (after as f64 - before as f64) / self.held as f64)
    }

    /// Kernel memory per held connection (KiB): TCP buffers and slab, both
    /// ends of each loopback connection together.
    pub fn kernel_kb_per_conn(&self) -> Option<(f64, f64)> {
        let (before, after) = self.kernel?;
        let per = |b: u64, a: u64| (a as f64 - b as f64) / self.held as f64;
        (self.held > 0).then(|| (per(before.tcp_buffers_kb, after.tcp_buffers_kb), per(before.slab_kb, after.slab_kb)))
    }

    fn percentile_us(&self, q: f64) -> Option<f64> {
        self.latency.as_ref().filter(|h| !h.is_empty()).map(|h| h.value_at_quantile(q) as f64 / 1e3)
    }

    /// The report as one JSON object.
    pub fn to_json(&self) -> Value {
        let ops_key = if self.mode == "setup" { "setups_per_s" } else { "msg_per_s" };
        let mut v = json!({
            "mode": self.mode,
            "url": self.url,
            "window_s": round(self.window.as_secs_f64(), 3),
            "ops": self.ops,
            "msg_per_s": round(self.ops_per_s(), 1),
            "msg_per_server_cpu_s": self.ops_per_server_cpu_s().map(|x| round(x, 1)),
            "mb_per_s": round(self.bytes as f64 / 1e6 / self.secs(), 2),
            "p50_us": self.percentile_us(0.5).map(|x| round(x, 1)),
            "p90_us": self.percentile_us(0.9).map(|x| round(x, 1)),
            "p99_us": self.percentile_us(0.99).map(|x| round(x, 1)),
            "p999_us": self.percentile_us(0.999).map(|x| round(x, 1)),
            "max_us": self.percentile_us(1.0).map(|x| round(x, 1)),
            "errors": self.errors,
            "error_samples": self.error_samples,
            "server_cpu_s": self.server_cpu.map(|c| round(c.total(), 3)),
            "server_user_cpu_s": self.server_cpu.map(|c| round(c.user, 3)),
            "server_sys_cpu_s": self.server_cpu.map(|c| round(c.system, 3)),
            "client_cpu_s": self.client_cpu_s.map(|x| round(x, 3)),
        });
        let obj = v.as_object_mut().expect("an object");
        obj.insert(ops_key.to_owned(), json!(round(self.ops_per_s(), 1)));
        if self.mode == "idle" {
            obj.insert("held".into(), json!(self.held));
            obj.insert("rss_kb_before".into(), json!(self.rss_kb.map(|r| r.0)));
            obj.insert("rss_kb_after".into(), json!(self.rss_kb.map(|r| r.1)));
            obj.insert("rss_kb_per_conn".into(), json!(self.rss_kb_per_conn().map(|x| round(x, 2))));
            let kernel = self.kernel_kb_per_conn();
            obj.insert("kernel_tcp_buffers_kb_per_conn".into(), json!(kernel.map(|k| round(k.0, 2))));
            obj.insert("kernel_slab_kb_per_conn".into(), json!(kernel.map(|k| round(k.1, 2))));
        }
        for (k, val) in &self.params {
            obj.insert((*k).to_owned(), val.clone());
        }
        v
    }

    /// The report as a few lines for a person.
    pub fn to_text(&self) -> String {
        let mut out = String::new();
        let params: Vec<String> = self.params.iter().map(|(k, v)| format!("{k}={v}")).collect();
        let _ = writeln!(out, "{} {} ({})", self.mode, self.url, params.join(" "));
        match self.mode {
            "idle" => {
                let _ = writeln!(out, "  held:       {} connections", self.held);
                if let (Some((b, a)), Some(per)) = (self.rss_kb, self.rss_kb_per_conn()) {
                    let _ = writeln!(out, "  server RSS: {b} KiB -> {a} KiB, {per:.2} KiB per connection");
                }
                if let Some((tcp, slab)) = self.kernel_kb_per_conn() {
                    let _ = writeln!(
                        out,
                        "  kernel:     {tcp:.2} KiB TCP buffers + {slab:.2} KiB slab per connection (both ends, machine-wide)"
                    );
                }
            }
            mode => {
                let unit = if mode == "setup" { "setups" } else { "msg" };
                let _ = writeln!(
                    out,
                    "  {:.0} {unit}/s, {:.2} MB/s echoed, {} {unit} in {:.2} s",
                    self.ops_per_s(),
                    self.bytes as f64 / 1e6 / self.secs(),
                    self.ops,
                    self.secs()
                );
            }
        }
        if let Some(cpu) = self.server_cpu {
            let per = self.ops_per_server_cpu_s().map_or("-".to_owned(), |x| format!("{x:.0}"));
            let user = 100.0 * cpu.user / cpu.total().max(1e-9);
            let _ = writeln!(
                out,
                "  server CPU: {:.2} s ({user:.0} % in user space), {per} per server CPU-second",
                cpu.total()
            );
        }
        if let Some(cpu) = self.client_cpu_s {
            let _ = writeln!(out, "  generator CPU: {cpu:.2} s ({:.0} % of the window)", 100.0 * cpu / self.secs());
        }
        if self.latency.as_ref().is_some_and(|h| !h.is_empty()) {
            let p = |q| self.percentile_us(q).unwrap_or(0.0);
            let _ = writeln!(
                out,
                "  latency us: p50 {:.1}  p90 {:.1}  p99 {:.1}  p99.9 {:.1}  max {:.1}",
                p(0.5),
                p(0.9),
                p(0.99),
                p(0.999),
                p(1.0)
            );
        }
        let _ = writeln!(out, "  errors: {}", self.errors);
        for e in &self.error_samples {
            let _ = writeln!(out, "    {e}");
        }
        out
    }
}

fn round(x: f64, digits: i32) -> f64 {
    let f = 10f64.powi(digits);
    (x * f).round() / f
}

/// Collects error messages: counts them all, keeps the first few.
#[derive(Debug, Default)]
pub struct Errors {
    /// How many errors there were.
    pub count: u64,
    /// The first few.
    pub samples: Vec<String>,
}

impl Errors {
    /// Records one error.
    pub fn push(&mut self, e: String) {
        self.count += 1;
        if self.samples.len() < 5 {
            self.samples.push(e);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_has_the_comparison_fields() {
        let mut latency = new_histogram();
        for us in 1..=100u64 {
            latency.record(us * 1000).unwrap();
        }
        let report = Report {
            mode: "echo",
            url: "ws://127.0.0.1:1/".into(),
            window: Duration::from_secs(2),
            ops: 1000,
            bytes: 20_000,
            latency: Some(latency),
            server_cpu: Some(CpuTime { user: 0.125, system: 0.375 }),
            ..Report::default()
        };
        let v = report.to_json();
        assert_eq!(v["msg_per_s"], 500.0);
        assert_eq!(v["msg_per_server_cpu_s"], 2000.0);
        assert_eq!(v["server_cpu_s"], 0.5);
        assert_eq!(v["server_user_cpu_s"], 0.125);
        assert_eq!(v["server_sys_cpu_s"], 0.375);
        assert!(report.to_text().contains("(25 % in user space)"), "{}", report.to_text());
        assert_eq!(v["mb_per_s"], 0.01);
        let p50 = v["p50_us"].as_f64().unwrap();
        assert!((49.0..=51.0).contains(&p50), "{p50}");
        assert!(v["p99_us"].as_f64().unwrap() > p50);
        let idle = Report { mode: "idle", held: 100, rss_kb: Some((1000, 1500)), ..Report::default() };
        assert_eq!(idle.to_json()["rss_kb_per_conn"], 5.0);
    }
}
