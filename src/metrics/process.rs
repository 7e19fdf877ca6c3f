//! Process metrics (`process_*`, the names every Prometheus client library uses), read
//! from `/proc/self` at scrape time: nothing runs between scrapes. Empty on systems
//! without procfs.

use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::registry::Registry;

/// Registers the process metrics this system can report into `registry`.
pub fn register(registry: &mut Registry) {
    #[cfg(target_os = "linux")]
    linux::register(registry);
    #[cfg(not(target_os = "linux"))]
    let _ = registry;
}

#[cfg(target_os = "linux")]
mod linux {
    use super::*;

    pub fn register(registry: &mut Registry) {
        // SAFETY: sysconf and getrlimit only read process-wide values.
        let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as f64;
        let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) }.max(1) as f64;
        if let Some(stat) = self_stat() {
            registry.register(
                "process_cpu_seconds",
                "Total user and system CPU time spent in seconds",
                ConstCounter::new((stat.utime + stat.stime) as f64 / ticks),
            );
            if let Some(boot) = boot_time() {
                registry.register(
                    "process_start_time_seconds",
                    "Start time of the process since unix epoch in seconds",
                    ConstGauge::new(boot as f64 + stat.start_ticks as f64 / ticks),
                );
            }
        }
        if let Some(pages) = std::fs::read_to_string("/proc/self/statm")
            .ok()
            .and_then(|s| s.split_whitespace().nth(1)?.parse::<u64>().ok())
        {
            registry.register(
                "process_resident_memory_bytes",
                "Resident memory size in bytes",
                ConstGauge::new(pages as f64 * page),
            );
        }
        if let Ok(dir) = std::fs::read_dir("/proc/self/fd") {
            // The directory handle itself is one of the entries: not counted.
            let open = dir.count().saturating_sub(1) as i64;
            registry.register(
                "process_open_fds",
                "Number of open file descriptors",
                ConstGauge::new(open),
            );
        }
        let mut limit = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: `limit` is a valid rlimit the call fills in.
        if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } == 0
            && limit.rlim_cur != libc::RLIM_INFINITY
        {
            registry.register(
                "process_max_fds",
                "Maximum number of open file descriptors",
                ConstGauge::new(limit.rlim_cur as i64),
            );
        }
    }

    struct Stat {
        utime: u64,
        stime: u64,
        start_ticks: u64,
    }

    /// `/proc/self/stat`: fields after the command name, which may itself hold spaces and
    /// parentheses, so the split is at its last `)`.
    fn self_stat() -> Option<Stat> {
        let s = std::fs::read_to_string("/proc/self/stat").ok()?;
        let rest = &s[s.rfind(')')? + 1..];
        // `rest` starts at field 3 (state): utime is field 14, stime 15, starttime 22.
        let f: Vec<&str> = rest.split_whitespace().collect();
        let field = |n: usize| f.get(n - 3)?.parse::<u64>().ok();
        Some(Stat {
            utime: field(14)?,
            stime: field(15)?,
            start_ticks: field(22)?,
        })
    }

    fn boot_time() -> Option<u64> {
        std::fs::read_to_string("/proc/stat")
            .ok()?
            .lines()
            .find_map(|l| l.strip_prefix("btime ")?.trim().parse().ok())
    }
}
