//! What the kernel says about a server process: CPU time and resident memory.

use std::io;

/// CPU time of a process, all its threads, in seconds.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct CpuTimes {
    /// In the program itself (`utime`).
    pub user: f64,
    /// In the kernel on its behalf: system calls, and the network stack's work they
    /// do (`stime`).
    pub system: f64,
}

impl CpuTimes {
    pub fn total(&self) -> f64 {
        self.user + self.system
    }
}

impl std::ops::Sub for CpuTimes {
    type Output = CpuTimes;
    fn sub(self, earlier: CpuTimes) -> CpuTimes {
        CpuTimes {
            user: self.user - earlier.user,
            system: self.system - earlier.system,
        }
    }
}

/// User plus system CPU time of process `pid`, all its threads, in seconds.
pub fn cpu_seconds(pid: u32) -> io::Result<f64> {
    cpu_times(pid).map(|t| t.total())
}

/// User and system CPU time of process `pid`, all its threads (`utime` and `stime`
/// of `/proc/<pid>/stat`, in clock ticks of 10 ms on Linux).
pub fn cpu_times(pid: u32) -> io::Result<CpuTimes> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    // The command name (field 2) is in parentheses and may hold spaces: count the
    // fields from the last ')'. After it come field 3 (state) onwards.
    let after_name = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest)
        .ok_or_else(|| bad(&stat))?;
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    let field = |n: usize| -> io::Result<u64> {
        fields
            .get(n - 3)
            .and_then(|f| f.parse().ok())
            .ok_or_else(|| bad(&stat))
    };
    let seconds = |ticks: u64| ticks as f64 / clock_ticks_per_second();
    Ok(CpuTimes {
        user: seconds(field(14)?),
        system: seconds(field(15)?),
    })
}

/// Resident set size of process `pid` in bytes (`VmRSS` of `/proc/<pid>/status`).
pub fn rss_bytes(pid: u32) -> io::Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().strip_suffix("kB"))
        .and_then(|kb| kb.trim().parse::<u64>().ok())
        .map(|kb| kb * 1024)
        .ok_or_else(|| bad(&status))
}

fn clock_ticks_per_second() -> f64 {
    // SAFETY: sysconf only reads a configuration value.
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if ticks > 0 { ticks as f64 } else { 100.0 }
}

fn bad(text: &str) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        format!("unexpected /proc contents: {text:.80}"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_this_process() {
        let pid = std::process::id();
        // Spin until the kernel has charged a tick of user time to this process
        // (ticks are sampled, so a fixed spin could fall short on a loaded machine).
        let start = std::time::Instant::now();
        let mut times = cpu_times(pid).unwrap();
        while times.user == 0.0 && start.elapsed() < std::time::Duration::from_secs(10) {
            std::hint::black_box((0..10_000u64).sum::<u64>());
            times = cpu_times(pid).unwrap();
        }
        assert!(times.user > 0.0 && times.system >= 0.0, "{times:?}");
        assert!(cpu_seconds(pid).unwrap() >= times.total());
        assert!(rss_bytes(pid).unwrap() > 0);
    }
}
