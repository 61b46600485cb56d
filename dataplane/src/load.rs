//! A bounded load generator and the split it measures: a fixed number of
//! requests, over a few kept-alive connections, to a loopback address only,
//! stopping by itself when they are sent or when its time is up, whichever
//! comes first. Each answer's body names the version that served it.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use crate::Error;
use crate::http::Connection;

/// What to send.
#[derive(Debug, Clone)]
pub struct Load {
    /// Where (a loopback address: anything else is refused).
    pub target: SocketAddr,
    /// The path of every request.
    pub path: String,
    /// Headers every request carries.
    pub headers: Vec<(String, String)>,
    /// How many requests at most.
    pub requests: usize,
    /// How many connections send at the same time.
    pub connections: usize,
    /// When to stop even if not every request was sent.
    pub time_limit: Duration,
}

impl Load {
    /// `requests` requests of `GET /` to `target` over 4 connections, for
    /// at most 60 s.
    pub fn new(target: SocketAddr, requests: usize) -> Self {
        Self {
            target,
            path: "/".to_owned(),
            headers: Vec::new(),
            requests,
            connections: 4,
            time_limit: Duration::from_secs(60),
        }
    }

    /// Sends the load and counts the answers.
    ///
    /// # Errors
    ///
    /// [`Error::NotLoopback`] when the target is outside 127.0.0.0/8
    /// (nothing is sent).
    pub async fn run(&self) -> Result<Tally, Error> {
        if !self.target.ip().is_loopback() {
            return Err(Error::NotLoopback(self.target.to_string()));
        }
        let tickets = Arc::new(AtomicUsize::new(0));
        let deadline = Instant::now() + self.time_limit;
        let started = Instant::now();
        let mut workers = Vec::new();
        for _ in 0..self.connections.max(1) {
            let load = self.clone();
            let tickets = Arc::clone(&tickets);
            workers.push(tokio::spawn(async move {
                load.worker(&tickets, deadline).await
            }));
        }
        let mut tally = Tally::default();
        for worker in workers {
            if let Ok(part) = worker.await {
                tally.merge(part);
            }
        }
        tally.elapsed = started.elapsed();
        Ok(tally)
    }

    async fn worker(&self, tickets: &AtomicUsize, deadline: Instant) -> Tally {
        let headers: Vec<(&str, &str)> = self
            .headers
            .iter()
            .map(|(n, v)| (n.as_str(), v.as_str()))
            .collect();
        let mut tally = Tally::default();
        let mut connection: Option<Connection> = None;
        while Instant::now() < deadline && tickets.fetch_add(1, Ordering::Relaxed) < self.requests {
            if connection.is_none() {
                connection = Connection::open(self.target).await.ok();
            }
            let Some(open) = connection.as_mut() else {
                tally.failed += 1;
                continue;
            };
            let remaining = deadline.saturating_duration_since(Instant::now());
            match tokio::time::timeout(remaining, open.get(&self.path, &headers)).await {
                Ok(Ok((code, body))) => {
                    let version = String::from_utf8_lossy(&body).trim().to_owned();
                    *tally.answers.entry((version, code)).or_default() += 1;
                }
                _ => {
                    tally.failed += 1;
                    connection = None;
                }
            }
        }
        tally
    }
}

/// What a load saw.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Tally {
    /// Answers by (version in the body, status code).
    pub answers: BTreeMap<(String, u16), usize>,
    /// Requests that got no answer (connection refused or reset, time up).
    pub failed: usize,
    /// How long the load ran.
    pub elapsed: Duration,
}

impl Tally {
    fn merge(&mut self, other: Self) {
        for (key, n) in other.answers {
            *self.answers.entry(key).or_default() += n;
        }
        self.failed += other.failed;
    }

    /// Requests answered, with any status.
    pub fn answered(&self) -> usize {
        self.answers.values().sum()
    }

    /// Requests answered by `version`, with any status.
    pub fn by_version(&self, version: &str) -> usize {
        self.answers
            .iter()
            .filter(|((v, _), _)| v == version)
            .map(|(_, n)| n)
            .sum()
    }

    /// The percentage of answered requests that `version` served (0 when
    /// nothing was answered).
    ///
    /// ```
    /// use rollgate_dataplane::Tally;
    /// let mut tally = Tally::default();
    /// tally.answers.insert(("1".into(), 200), 750);
    /// tally.answers.insert(("2".into(), 200), 200);
    /// tally.answers.insert(("2".into(), 500), 50);
    /// assert_eq!(tally.share("2"), 25.0);
    /// ```
    pub fn share(&self, version: &str) -> f64 {
        let answered = self.answered();
        if answered == 0 {
            return 0.0;
        }
        // Counts stay far below 2^52: exact as floating point.
        #[allow(clippy::cast_precision_loss)]
        let share = 100.0 * self.by_version(version) as f64 / answered as f64;
        share
    }

    /// Requests that did not succeed: no answer, or an answer other than
    /// 2xx.
    pub fn unsuccessful(&self) -> usize {
        self.failed
            + self
                .answers
                .iter()
                .filter(|((_, code), _)| !(200..300).contains(code))
                .map(|(_, n)| n)
                .sum::<usize>()
    }
}
