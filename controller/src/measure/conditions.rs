//! Metric conditions evaluated in a child process with a memory and time
//! limit.
//!
//! Conditions come from AnalysisTemplates that anyone allowed to write one
//! in a namespace may write, and expr-lang has no memory budget (Argo's
//! expression language stops at 1,000,000 units): `map(result, {map(result,
//! {repeat("x", 1000)})})` over a value of a thousand numbers builds a
//! gigabyte. So each measurement's conditions are evaluated by this same
//! program started again as a child ([`EVALUATE_ARG`]): it limits its own
//! data segment and its CPU time ([`ChildEvaluator::with_limits`]) before
//! it reads the request (and offers itself first to the out-of-memory
//! killer), and the parent kills it when its time is up. A child that dies takes only that measurement
//! with it, which becomes an `Error` whose message says which limit was
//! reached; the controller goes on.
//!
//! The request and answer are [`rollgate_analysis::isolation`]'s; the
//! phases and messages are those of an evaluation in-process.

use std::io::{Read, Write};
use std::path::PathBuf;
use std::process::{Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use expr::Value;
use rollgate_analysis::condition::Conditions;
use rollgate_analysis::isolation::{self, Evaluator};
use rollout_core::AnalysisPhase;

/// The argument that starts the program as a condition evaluator
/// ([`serve_child`]).
pub const EVALUATE_ARG: &str = "__evaluate-conditions";

/// A child's data segment limit by default: 256 MiB.
pub const DEFAULT_MEMORY: u64 = 256 << 20;

/// How long a child may take by default: 10 s (Argo's evaluation has no
/// time limit; its memory budget bounds most loops).
pub const DEFAULT_TIME: Duration = Duration::from_secs(10);

/// The longest answer read from a child: 1 MiB (an answer is a phase or a
/// message).
const MAX_ANSWER: u64 = 1 << 20;

/// What of a child's standard error is kept for a message.
const MAX_STDERR: u64 = 4 << 10;

/// Evaluates conditions in a child process: `program` started with
/// [`EVALUATE_ARG`], which must call [`serve_child`].
#[derive(Debug, Clone)]
pub struct ChildEvaluator {
    program: PathBuf,
    memory: u64,
    time: Duration,
}

impl ChildEvaluator {
    /// Children of `program`, with the default limits.
    pub fn new(program: impl Into<PathBuf>) -> Self {
        Self {
            program: program.into(),
            memory: DEFAULT_MEMORY,
            time: DEFAULT_TIME,
        }
    }

    /// The same, with a child's data segment limited to `memory` bytes and
    /// its run to `time`.
    #[must_use]
    pub fn with_limits(mut self, memory: u64, time: Duration) -> Self {
        self.memory = memory;
        self.time = time;
        self
    }

    /// Runs one child on `request`: its answer, or why there is none.
    fn run(&self, request: &[u8]) -> Result<Vec<u8>, String> {
        let mut child = Command::new(&self.program)
            .arg(EVALUATE_ARG)
            .arg(self.memory.to_string())
            .arg(self.time.as_secs().max(1).to_string())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| format!("the condition evaluator could not be started: {e}"))?;
        let (stdin, stdout, stderr) =
            (child.stdin.take(), child.stdout.take(), child.stderr.take());
        let deadline = Instant::now() + self.time;
        std::thread::scope(|scope| {
            // A child that fails before reading all of it closes the pipe:
            // its exit status says why, not the write.
            scope.spawn(move || stdin.map(|mut pipe| pipe.write_all(request)));
            let (closed, on_close) = std::sync::mpsc::channel::<()>();
            let answer = scope.spawn(move || {
                let answer = read_bounded(stdout, MAX_ANSWER);
                drop(closed);
                answer
            });
            let stderr = scope.spawn(move || read_bounded(stderr, MAX_STDERR));
            // The child closes its output when it exits: wait for that
            // rather than polling, then for its exit status.
            let _ = on_close.recv_timeout(self.time);
            let status = wait_until(&mut child, deadline);
            let answer = answer.join().unwrap_or_default();
            let stderr = stderr.join().unwrap_or_default();
            match status {
                Some(status) if status.success() => Ok(answer),
                Some(status) => Err(self.ended(status, &stderr)),
                None => Err(self.over_time()),
            }
        })
    }

    fn over_time(&self) -> String {
        format!(
            "the evaluation took longer than its limit of {}",
            humantime::format_duration(self.time)
        )
    }

    /// Why a child that ended without an answer did.
    fn ended(&self, status: ExitStatus, stderr: &[u8]) -> String {
        let said = String::from_utf8_lossy(stderr);
        let last = said
            .lines()
            .rev()
            .find(|l| !l.trim().is_empty())
            .unwrap_or("");
        if said.contains("memory allocation of") {
            format!(
                "the evaluation needed more than its memory limit of {} MiB",
                self.memory >> 20
            )
        } else if cpu_time_exceeded(status) {
            self.over_time()
        } else if last.is_empty() {
            format!("the condition evaluator ended ({status}) without an answer")
        } else {
            format!("the condition evaluator ended ({status}) without an answer: {last}")
        }
    }
}

impl Evaluator for ChildEvaluator {
    fn assess(&self, conditions: &Conditions, result: &Value) -> Result<AnalysisPhase, String> {
        if conditions.describe().is_empty() {
            // Nothing to evaluate: every value is Successful.
            return conditions.assess(result);
        }
        match self.run(&isolation::request(conditions, result)) {
            Ok(answer) => isolation::read_answer(&answer),
            Err(why) => Err(format!(
                "could not evaluate {}: {why}",
                conditions.describe()
            )),
        }
    }
}

/// Waits for `child` until `deadline`; kills it then. `None`: killed.
fn wait_until(child: &mut std::process::Child, deadline: Instant) -> Option<ExitStatus> {
    let mut pause = Duration::from_micros(20);
    loop {
        match child.try_wait() {
            Ok(Some(status)) => return Some(status),
            Ok(None) if Instant::now() < deadline => {}
            Ok(None) | Err(_) => {
                let _ = child.kill();
                let _ = child.wait();
                return None;
            }
        }
        std::thread::sleep(pause);
        pause = (pause * 2).min(Duration::from_millis(20));
    }
}

fn read_bounded(pipe: Option<impl Read>, limit: u64) -> Vec<u8> {
    let mut read = Vec::new();
    if let Some(pipe) = pipe {
        let _ = pipe.take(limit).read_to_end(&mut read);
    }
    read
}

fn cpu_time_exceeded(status: ExitStatus) -> bool {
    use rustix::process::Signal;
    use std::os::unix::process::ExitStatusExt;
    // The soft limit's SIGXCPU (the hard one, a second later, is SIGKILL,
    // which the kernel's out-of-memory killer sends too).
    status.signal() == Some(Signal::XCPU.as_raw())
}

/// The child's side, for `main` to call when the program was started with
/// [`EVALUATE_ARG`] (`args` are the arguments after it: the memory limit
/// in bytes and the CPU time limit in seconds): limits itself, reads the
/// request from standard input, writes the answer to standard output.
/// Returns the exit code.
pub fn serve_child(args: &[String]) -> std::process::ExitCode {
    let (Some(memory), Some(seconds)) = (
        args.first().and_then(|a| a.parse::<u64>().ok()),
        args.get(1).and_then(|a| a.parse::<u64>().ok()),
    ) else {
        eprintln!("{EVALUATE_ARG} takes a memory limit in bytes and a time limit in seconds");
        return std::process::ExitCode::FAILURE;
    };
    if let Err(e) = limit_self(memory, seconds) {
        eprintln!("the condition evaluator could not limit itself: {e}");
        return std::process::ExitCode::FAILURE;
    }
    let mut request = Vec::new();
    if let Err(e) = std::io::stdin().lock().read_to_end(&mut request) {
        eprintln!("the condition evaluator could not read its request: {e}");
        return std::process::ExitCode::FAILURE;
    }
    let answer = isolation::answer(&request);
    match std::io::stdout().lock().write_all(&answer) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(_) => std::process::ExitCode::FAILURE,
    }
}

/// Limits this process's data segment (heap and private mappings) to
/// `memory` bytes and its CPU time to `seconds`, and offers it first to the
/// kernel's out-of-memory killer: children count against the pod's memory
/// limit with the controller, and one of them, not the controller, should
/// go when several together reach it.
fn limit_self(memory: u64, seconds: u64) -> rustix::io::Result<()> {
    use rustix::process::{Resource, Rlimit, setrlimit};
    // Raising one's own score needs no privilege; where /proc is not
    // there, the limits still hold.
    let _ = std::fs::write("/proc/self/oom_score_adj", "1000");
    setrlimit(
        Resource::Data,
        Rlimit {
            current: Some(memory),
            maximum: Some(memory),
        },
    )?;
    // SIGXCPU at the soft limit ends the process and says why; the hard
    // limit a second later is the kernel's SIGKILL, should it be caught.
    setrlimit(
        Resource::Cpu,
        Rlimit {
            current: Some(seconds),
            maximum: Some(seconds + 1),
        },
    )
}

#[cfg(test)]
mod tests {
    use std::os::unix::process::ExitStatusExt;

    use super::*;

    #[test]
    fn only_the_cpu_limit_signal_reads_as_over_time() {
        let child = ChildEvaluator::new("unused").with_limits(64 << 20, Duration::from_secs(3));
        let signalled = |signal: i32| ExitStatus::from_raw(signal);
        assert_eq!(
            child.ended(signalled(rustix::process::Signal::XCPU.as_raw()), b""),
            "the evaluation took longer than its limit of 3s"
        );
        // SIGKILL is also the out-of-memory killer's: said as it is.
        let killed = child.ended(signalled(9), b"");
        assert!(
            killed.starts_with("the condition evaluator ended (signal: 9")
                && killed.ends_with("without an answer"),
            "{killed}"
        );
        assert_eq!(
            child.ended(signalled(6), b"memory allocation of 1048576 bytes failed\n"),
            "the evaluation needed more than its memory limit of 64 MiB"
        );
    }
}
