//! Reading a Prometheus endpoint on 127.0.0.1 from a test: one `GET`, and
//! the samples of the text it answers.

use std::collections::BTreeMap;

/// `GET http://127.0.0.1:<port><path>`: the status code and the body, or
/// `None` if nothing answers.
pub async fn http_get(port: u16, path: &str) -> Option<(u16, String)> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .ok()?;
    let request = format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.ok()?;
    let mut answer = String::new();
    stream.read_to_string(&mut answer).await.ok()?;
    let status = answer.split(' ').nth(1)?.parse().ok()?;
    let body = answer.split_once("\r\n\r\n")?.1.to_owned();
    Some((status, body))
}

/// A port of 127.0.0.1 that was free a moment ago.
///
/// # Panics
///
/// When no loopback port can be bound.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("a free loopback port")
        .port()
}

/// The samples of a Prometheus text exposition, `name{labels}` to value.
///
/// ```
/// use rollgate_testkit::scrape::Samples;
/// let samples = Samples::parse("# TYPE calls counter\ncalls_total{method=\"Apply\",result=\"ok\"} 3\ncalls_total{method=\"Verify\",result=\"ok\"} 1\n");
/// assert_eq!(samples.sum("calls_total", &[("method", "Apply")]), 3.0);
/// assert_eq!(samples.sum("calls_total", &[("result", "ok")]), 4.0);
/// assert_eq!(samples.sum("calls", &[]), 0.0);
/// ```
#[derive(Debug, Clone, Default)]
pub struct Samples(BTreeMap<String, f64>);

impl Samples {
    /// The samples of `text` (comments and unreadable lines left out).
    pub fn parse(text: &str) -> Self {
        Self(
            text.lines()
                .filter(|line| !line.starts_with('#'))
                .filter_map(|line| {
                    let (series, value) = line.rsplit_once(' ')?;
                    Some((series.to_owned(), value.parse().ok()?))
                })
                .collect(),
        )
    }

    /// The sum of the samples of metric `name` whose labels include each of
    /// `labels`; 0 when there is none.
    pub fn sum(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        self.0
            .iter()
            .filter(|(series, _)| {
                let Some(rest) = series.strip_prefix(name) else {
                    return false;
                };
                (rest.is_empty() || rest.starts_with('{'))
                    && labels
                        .iter()
                        .all(|(k, v)| rest.contains(&format!("{k}=\"{v}\"")))
            })
            .map(|(_, value)| value)
            .sum()
    }
}
