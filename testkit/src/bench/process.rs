//! Resident set and CPU time of processes, sampled from `/proc`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// What a [`Sampler`] has seen of the processes it watches.
#[derive(Debug, Default, Clone, Copy, PartialEq)]
pub struct ProcessFigures {
    /// The largest sum over the processes of `VmHWM` (each one's own
    /// high-water mark of the resident set), in KiB.
    pub peak_rss_kib: u64,
    /// The largest sum of `RssAnon` sampled (heap, stacks), in KiB.
    pub peak_rss_anon_kib: u64,
    /// The largest sum of `RssFile` sampled (code, libraries), in KiB.
    pub peak_rss_file_kib: u64,
    /// The sum of `VmRSS` at the last sample, in KiB.
    pub rss_kib: u64,
    /// CPU time (user and system) of the processes so far, in seconds.
    pub cpu_seconds: f64,
}

/// The kernel's clock ticks per second in `/proc/<pid>/stat` (`USER_HZ`,
/// 100 on every Linux architecture this runs on).
const USER_HZ: f64 = 100.0;

/// Samples the processes that `watch` picks (given each process's id and
/// executable), every half second, until dropped.
pub struct Sampler {
    figures: Arc<Mutex<ProcessFigures>>,
    task: tokio::task::JoinHandle<()>,
}

impl Sampler {
    /// Starts sampling the processes that `watch` accepts by id and
    /// executable path (e.g. one child and every process started from a
    /// directory of its own: never a binary path other runs may share).
    pub fn start(watch: impl Fn(u32, &std::path::Path) -> bool + Send + 'static) -> Self {
        let figures = Arc::new(Mutex::new(ProcessFigures::default()));
        let shared = Arc::clone(&figures);
        let task = tokio::spawn(async move {
            // CPU time per process seen, kept after it exits.
            let mut cpu: HashMap<u32, f64> = HashMap::new();
            loop {
                sample(&watch, &mut cpu, &shared);
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
        });
        Self { figures, task }
    }

    /// The figures so far (after one more sample).
    pub async fn figures(&self) -> ProcessFigures {
        tokio::time::sleep(Duration::from_millis(600)).await;
        *self.figures.lock().unwrap()
    }
}

impl Drop for Sampler {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn sample(
    watch: &impl Fn(u32, &std::path::Path) -> bool,
    cpu: &mut HashMap<u32, f64>,
    figures: &Mutex<ProcessFigures>,
) {
    let Ok(procs) = std::fs::read_dir("/proc") else {
        return;
    };
    let (mut hwm, mut anon, mut file, mut rss) = (0, 0, 0, 0);
    for entry in procs.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|p| p.parse::<u32>().ok())
        else {
            continue;
        };
        let path = entry.path();
        if !std::fs::read_link(path.join("exe")).is_ok_and(|exe| watch(pid, &exe)) {
            continue;
        }
        let status = std::fs::read_to_string(path.join("status")).unwrap_or_default();
        for line in status.lines() {
            let Some((key, value)) = line.split_once(':') else {
                continue;
            };
            let kib: u64 = value
                .trim()
                .trim_end_matches(" kB")
                .trim()
                .parse()
                .unwrap_or(0);
            match key {
                "VmHWM" => hwm += kib,
                "RssAnon" => anon += kib,
                "RssFile" => file += kib,
                "VmRSS" => rss += kib,
                _ => {}
            }
        }
        if let Some(seconds) = std::fs::read_to_string(path.join("stat"))
            .ok()
            .and_then(|stat| cpu_seconds(&stat))
        {
            cpu.insert(pid, seconds);
        }
    }
    let mut figures = figures.lock().unwrap();
    figures.peak_rss_kib = figures.peak_rss_kib.max(hwm);
    figures.peak_rss_anon_kib = figures.peak_rss_anon_kib.max(anon);
    figures.peak_rss_file_kib = figures.peak_rss_file_kib.max(file);
    figures.rss_kib = rss;
    figures.cpu_seconds = cpu.values().sum();
}

/// User plus system CPU seconds from a `/proc/<pid>/stat` line (fields 14
/// and 15, counted after the parenthesised command name, which may hold
/// spaces).
///
/// ```
/// let stat = "42 (a b) S 1 42 42 0 -1 0 0 0 0 0 250 50 0 0 20 0 1 0";
/// assert_eq!(rollgate_testkit::bench::cpu_seconds(stat), Some(3.0));
/// ```
pub fn cpu_seconds(stat: &str) -> Option<f64> {
    let rest = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // After the name: state is field 3, utime 14 and stime 15.
    let user: f64 = fields.get(11)?.parse().ok()?;
    let system: f64 = fields.get(12)?.parse().ok()?;
    Some((user + system) / USER_HZ)
}

/// One process as it is now: resident set, open file descriptors and
/// threads, for a soak's series.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Snapshot {
    /// `VmRSS`, in KiB.
    pub rss_kib: u64,
    /// Entries of `/proc/<pid>/fd`.
    pub fds: u64,
    /// `Threads`.
    pub threads: u64,
}

/// Process `pid` as it is now, `None` once it has exited.
pub fn snapshot(pid: u32) -> Option<Snapshot> {
    let dir = std::path::Path::new("/proc").join(pid.to_string());
    let status = std::fs::read_to_string(dir.join("status")).ok()?;
    let field = |key: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(key)?.strip_prefix(':'))
            .and_then(|v| v.trim().trim_end_matches(" kB").trim().parse().ok())
            .unwrap_or(0)
    };
    let fds = std::fs::read_dir(dir.join("fd")).ok()?.count() as u64;
    Some(Snapshot {
        rss_kib: field("VmRSS"),
        fds,
        threads: field("Threads"),
    })
}

/// The ids of the processes that `watch` accepts by id and executable path.
pub fn processes(watch: impl Fn(u32, &std::path::Path) -> bool) -> Vec<u32> {
    let Ok(procs) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    procs
        .flatten()
        .filter_map(|entry| {
            let pid = entry.file_name().to_str()?.parse::<u32>().ok()?;
            let exe = std::fs::read_link(entry.path().join("exe")).ok()?;
            watch(pid, &exe).then_some(pid)
        })
        .collect()
}
