//! A metric endpoint on 127.0.0.1 for the `web` provider's tests: every
//! request is answered `200 OK` with the current JSON body, which the test
//! sets, and the head of each request (request line and headers) is kept.

use std::sync::{Arc, Mutex};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// The endpoint; it serves until the test's runtime ends.
pub struct Endpoint {
    /// `http://127.0.0.1:<port>`.
    pub address: String,
    body: Arc<Mutex<String>>,
    seen: Arc<Mutex<Vec<String>>>,
}

impl Endpoint {
    /// Listens on a free loopback port, answering `body`.
    ///
    /// # Panics
    ///
    /// When no loopback port can be bound.
    pub async fn start(body: &str) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind a loopback port");
        let address = format!(
            "http://{}",
            listener.local_addr().expect("the bound address")
        );
        let body = Arc::new(Mutex::new(body.to_owned()));
        let seen = Arc::new(Mutex::new(Vec::new()));
        let (answer, heads) = (body.clone(), seen.clone());
        tokio::spawn(async move {
            while let Ok((mut stream, _)) = listener.accept().await {
                let (answer, heads) = (answer.clone(), heads.clone());
                tokio::spawn(async move {
                    let mut head = Vec::new();
                    let mut buf = [0u8; 1024];
                    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                        match stream.read(&mut buf).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => head.extend_from_slice(&buf[..n]),
                        }
                    }
                    lock(&heads).push(String::from_utf8_lossy(&head).into_owned());
                    let body = lock(&answer).clone();
                    let reply = format!(
                        "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                        body.len()
                    );
                    let _ = stream.write_all(reply.as_bytes()).await;
                });
            }
        });
        Self {
            address,
            body,
            seen,
        }
    }

    /// Answers `body` from now on.
    pub fn answer(&self, body: &str) {
        *lock(&self.body) = body.to_owned();
    }

    /// The heads of the requests received so far.
    pub fn requests(&self) -> Vec<String> {
        lock(&self.seen).clone()
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}
