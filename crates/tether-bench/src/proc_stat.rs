//! The `/proc` readings of a process: CPU time (user and system) and
//! resident memory, for the server under test and for the generator itself.

/// Clock ticks per second of `/proc/PID/stat` times (`getconf CLK_TCK`;
/// Linux fixes it at 100 on the usual architectures).
fn clock_ticks() -> f64 {
    static TICKS: std::sync::OnceLock<f64> = std::sync::OnceLock::new();
    *TICKS.get_or_init(|| {
        std::process::Command::new("getconf")
            .arg("CLK_TCK")
            .output()
            .ok()
            .and_then(|o| String::from_utf8(o.stdout).ok())
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or(100.0)
    })
}

/// CPU time of a process, split as the kernel accounts it: in the
/// process's own code (user) and in system calls on its behalf (system).
/// The split tells how much of a server's cost its code can change at all.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct CpuTime {
    /// Seconds in user space.
    pub user: f64,
    /// Seconds in the kernel.
    pub system: f64,
}

impl CpuTime {
    /// User plus system seconds.
    pub fn total(self) -> f64 {
        self.user + self.system
    }

    fn since(self, earlier: CpuTime) -> CpuTime {
        CpuTime { user: self.user - earlier.user, system: self.system - earlier.system }
    }
}

/// CPU time of a process, all its threads (`None` if `/proc` cannot tell).
/// `pid` "self" means this process.
pub fn cpu_time(pid: &str) -> Option<CpuTime> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name may hold spaces and parentheses: fields count from the last ')'.
    let rest = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // Fields 14 and 15 of proc(5) (utime, stime) are the 12th and 13th after the name.
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    Some(CpuTime { user: utime / clock_ticks(), system: stime / clock_ticks() })
}

/// Resident memory of a process in KiB (`VmRSS`).
pub fn rss_kb(pid: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// The kernel's memory for sockets, machine-wide, in KiB: TCP buffer
/// memory (`/proc/net/sockstat`, `TCP: ... mem` in pages) and the slab
/// caches (`Slab` of `/proc/meminfo`: socket, inode, file and epoll
/// structures live there). Read before and after opening connections, the
/// difference is what they cost the kernel; it counts both ends of each
/// loopback connection, and anything else the machine did meanwhile.
pub fn kernel_socket_kb() -> Option<KernelMemory> {
    let sockstat = std::fs::read_to_string("/proc/net/sockstat").ok()?;
    let tcp = sockstat.lines().find(|l| l.starts_with("TCP:"))?;
    let mut words = tcp.split_whitespace();
    let pages: u64 = words.by_ref().skip_while(|w| *w != "mem").nth(1)?.parse().ok()?;
    let meminfo = std::fs::read_to_string("/proc/meminfo").ok()?;
    let slab = meminfo.lines().find(|l| l.starts_with("Slab:"))?;
    let slab_kb = slab.split_whitespace().nth(1)?.parse().ok()?;
    Some(KernelMemory { tcp_buffers_kb: pages * 4, slab_kb })
}

/// One reading of [`kernel_socket_kb`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct KernelMemory {
    /// Memory held by TCP socket buffers (KiB).
    pub tcp_buffers_kb: u64,
    /// Memory in the kernel's slab caches (KiB).
    pub slab_kb: u64,
}

/// CPU seconds of the server and of this process, read at the start of the
/// window and subtracted at its end.
#[derive(Debug)]
pub struct CpuWindow {
    server: Option<(String, Option<CpuTime>)>,
    client: Option<CpuTime>,
}

impl CpuWindow {
    /// Reads both clocks now.
    pub fn start(server_pid: Option<u32>) -> CpuWindow {
        let server = server_pid.map(|p| {
            let p = p.to_string();
            let now = cpu_time(&p);
            (p, now)
        });
        CpuWindow { server, client: cpu_time("self") }
    }

    /// The CPU time used since `start`: the server's, and this process's seconds.
    pub fn stop(&self) -> (Option<CpuTime>, Option<f64>) {
        let server = self.server.as_ref().and_then(|(p, t0)| Some(cpu_time(p)?.since((*t0)?)));
        let client = self.client.and_then(|t0| Some(cpu_time("self")?.since(t0).total()));
        (server, client)
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn own_process_has_cpu_time_and_memory() {
        // Burn a little CPU so the reading cannot be a constant.
        let t0 = cpu_time("self").expect("/proc/self/stat");
        let start = std::time::Instant::now();
        let mut x = 0u64;
        while start.elapsed() < Duration::from_millis(60) {
            x = std::hint::black_box(x.wrapping_mul(31).wrapping_add(7));
        }
        let used = cpu_time("self").unwrap().since(t0);
        assert!(used.user > 0.0, "{used:?}");
        // The window's system time is part of the process's whole.
        assert!(used.system <= cpu_time("self").unwrap().system, "{used:?}");
        assert!(rss_kb("self").unwrap() > 100);
        assert!(kernel_socket_kb().expect("/proc/net/sockstat and /proc/meminfo").slab_kb > 0);
        assert_eq!(cpu_time("0"), None);
    }

    #[test]
    fn a_window_subtracts_each_clock_on_its_own() {
        let earlier = CpuTime { user: 1.25, system: 0.5 };
        let later = CpuTime { user: 3.0, system: 0.75 };
        assert_eq!(later.since(earlier), CpuTime { user: 1.75, system: 0.25 });
        assert_eq!(later.since(earlier).total(), 2.0);
    }
}
