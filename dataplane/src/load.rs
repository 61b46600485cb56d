//! A bounded load generator: a fixed number of requests, over a few
//! kept-alive connections, to a loopback address only, stopping by itself
//! when they are sent or when its time is up, whichever comes first (or
//! when told to). Each answer's body names the version that served it;
//! [`crate::tally`] counts what was seen.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant, SystemTime};

use crate::Error;
use crate::http::Connection;
use crate::tally::{Outcome, Record, Tally};

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
    /// The least time from one request of a connection to its next
    /// (`Duration::ZERO`: back to back). With `connections` connections,
    /// at most `connections / pace` requests a second.
    pub pace: Duration,
}

impl Load {
    /// `requests` requests of `GET /` to `target` over 4 connections, back
    /// to back, for at most 60 s.
    pub fn new(target: SocketAddr, requests: usize) -> Self {
        Self {
            target,
            path: "/".to_owned(),
            headers: Vec::new(),
            requests,
            connections: 4,
            time_limit: Duration::from_secs(60),
            pace: Duration::ZERO,
        }
    }

    /// A steady background load on `target`: `per_second` requests a
    /// second over 4 connections, for `time_limit` at most (and so at most
    /// `per_second × time_limit` requests).
    pub fn steady(target: SocketAddr, per_second: u32, time_limit: Duration) -> Self {
        let connections = 4;
        let per_second = per_second.max(1);
        let requests = usize::try_from(u64::from(per_second) * time_limit.as_secs().max(1))
            .unwrap_or(usize::MAX);
        Self {
            pace: Duration::from_secs(connections) / per_second,
            connections: 4,
            ..Self::new(target, requests).within(time_limit)
        }
    }

    /// This load with a time limit of `time_limit`.
    #[must_use]
    pub fn within(self, time_limit: Duration) -> Self {
        Self { time_limit, ..self }
    }

    /// This load with `name: value` on every request.
    #[must_use]
    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }

    /// Sends the load and counts the answers.
    ///
    /// # Errors
    ///
    /// [`Error::NotLoopback`] when the target is outside 127.0.0.0/8
    /// (nothing is sent).
    pub async fn run(&self) -> Result<Tally, Error> {
        Ok(self.start()?.finish().await.tally())
    }

    /// Starts sending in the background; [`Running::stop`] ends it early,
    /// [`Running::finish`] waits for its end.
    ///
    /// # Errors
    ///
    /// [`Error::NotLoopback`] when the target is outside 127.0.0.0/8
    /// (nothing is sent).
    pub fn start(&self) -> Result<Running, Error> {
        if !self.target.ip().is_loopback() {
            return Err(Error::NotLoopback(self.target.to_string()));
        }
        let tickets = Arc::new(AtomicUsize::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let deadline = Instant::now() + self.time_limit;
        let workers = (0..self.connections.max(1))
            .map(|_| {
                let load = self.clone();
                let tickets = Arc::clone(&tickets);
                let stop = Arc::clone(&stop);
                tokio::spawn(async move { load.worker(&tickets, &stop, deadline).await })
            })
            .collect();
        Ok(Running {
            stop,
            workers,
            started: Instant::now(),
        })
    }

    async fn worker(
        &self,
        tickets: &AtomicUsize,
        stop: &AtomicBool,
        deadline: Instant,
    ) -> Vec<Outcome> {
        let headers: Vec<(&str, &str)> = self
            .headers
            .iter()
            .map(|(n, v)| (n.as_str(), v.as_str()))
            .collect();
        let mut outcomes = Vec::new();
        let mut connection: Option<Connection> = None;
        let mut next = Instant::now();
        while Instant::now() < deadline
            && !stop.load(Ordering::Relaxed)
            && tickets.fetch_add(1, Ordering::Relaxed) < self.requests
        {
            if !self.pace.is_zero() {
                tokio::time::sleep_until(next.into()).await;
                next = Instant::now() + self.pace;
            }
            let at = SystemTime::now();
            if connection.is_none() {
                connection = Connection::open(self.target).await.ok();
            }
            let Some(open) = connection.as_mut() else {
                outcomes.push(Outcome { at, answer: None });
                continue;
            };
            let remaining = deadline.saturating_duration_since(Instant::now());
            let answer = match tokio::time::timeout(remaining, open.get(&self.path, &headers)).await
            {
                Ok(Ok((code, body))) => {
                    Some((String::from_utf8_lossy(&body).trim().to_owned(), code))
                }
                _ => {
                    connection = None;
                    None
                }
            };
            outcomes.push(Outcome { at, answer });
        }
        outcomes
    }
}

/// A load being sent; its workers stop at its limits, or when told to.
#[derive(Debug)]
pub struct Running {
    stop: Arc<AtomicBool>,
    workers: Vec<tokio::task::JoinHandle<Vec<Outcome>>>,
    started: Instant,
}

impl Running {
    /// Stops sending (the requests in flight complete) and returns what
    /// was seen.
    pub async fn stop(self) -> Record {
        self.stop.store(true, Ordering::Relaxed);
        self.finish().await
    }

    /// Waits until the load has been sent (or its time is up) and returns
    /// what was seen.
    pub async fn finish(self) -> Record {
        let mut outcomes = Vec::new();
        for worker in self.workers {
            if let Ok(part) = worker.await {
                outcomes.extend(part);
            }
        }
        Record::new(outcomes, self.started.elapsed())
    }
}
