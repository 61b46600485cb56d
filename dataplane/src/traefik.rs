//! Traefik (`$ROLLGATE_TRAEFIK`, built by `ROLLGATE_DATAPLANE=1
//! scripts/cluster build`) as the Gateway API implementation of one test
//! namespace: its Kubernetes Gateway provider watches that namespace on the
//! tier's API server, its `web` entry point takes the traffic, and its
//! `traefik` entry point serves the API (`/api/rawdata`), `/ping` and
//! Prometheus metrics (`/metrics`). Everything listens on 127.0.0.1.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::{Error, http};

/// The `controllerName` Traefik's Gateway provider claims GatewayClasses by.
pub const CONTROLLER_NAME: &str = "traefik.io/gateway-controller";

/// How long Traefik may take to answer `/ping` after it starts.
const START_PATIENCE: Duration = Duration::from_secs(60);

/// A running Traefik; stopped when dropped, its log's tail printed if the
/// test is failing.
pub struct Traefik {
    child: Child,
    work: PathBuf,
    /// Where the `web` entry point listens (the port a Gateway listener
    /// must name for Traefik to serve it there).
    pub web: SocketAddr,
    /// Where the API, `/ping` and `/metrics` are served.
    pub admin: SocketAddr,
}

impl Traefik {
    /// Starts Traefik for `namespace` on free loopback ports, against the
    /// API server at `api_server` (`https://127.0.0.1:<port>`), trusting
    /// the tier's CA (`$ROLLGATE_CLUSTER/pki/ca.crt`) and authenticating
    /// with its admin token, and waits until it answers `/ping`.
    ///
    /// # Errors
    ///
    /// [`Error::Setting`] without `ROLLGATE_TRAEFIK` or `ROLLGATE_CLUSTER`,
    /// [`Error::Start`] when the process cannot be run or does not answer
    /// within a minute.
    pub async fn start(namespace: &str, api_server: &str) -> Result<Self, Error> {
        let binary = setting("ROLLGATE_TRAEFIK")?;
        let state = PathBuf::from(setting("ROLLGATE_CLUSTER")?);
        if !api_server.starts_with("https://127.") {
            return Err(Error::NotLoopback(api_server.to_owned()));
        }
        let token = std::fs::read_to_string(state.join("pki/admin.token"))
            .map_err(|e| Error::Start(format!("the cluster's admin token: {e}")))?;
        let web = free_port()?;
        let admin = free_port()?;
        let work = std::env::temp_dir().join(format!("rollgate-traefik-{namespace}"));
        std::fs::create_dir_all(&work).map_err(|e| Error::Start(e.to_string()))?;
        // YAML is a superset of JSON: Traefik reads this as its YAML file.
        let config = json!({
            "global": {"checkNewVersion": false, "sendAnonymousUsage": false},
            "entryPoints": {
                "web": {"address": web.to_string()},
                "traefik": {"address": admin.to_string()}
            },
            "api": {"insecure": true, "dashboard": false},
            "ping": {"entryPoint": "traefik"},
            "metrics": {"prometheus": {
                "entryPoint": "traefik", "addRoutersLabels": true, "addServicesLabels": true
            }},
            "log": {"level": "INFO"},
            "providers": {
                "providersThrottleDuration": "100ms",
                "kubernetesGateway": {
                    "endpoint": api_server,
                    "token": token.trim(),
                    "certAuthFilePath": state.join("pki/ca.crt"),
                    "namespaces": [namespace],
                    "throttleDuration": "100ms",
                    "statusAddress": {"ip": "127.0.0.1"}
                }
            }
        });
        let config_file = work.join("traefik.yaml");
        std::fs::write(&config_file, config.to_string())
            .map_err(|e| Error::Start(format!("{}: {e}", config_file.display())))?;
        let log = std::fs::File::create(work.join("traefik.log"))
            .map_err(|e| Error::Start(e.to_string()))?;
        let child = Command::new(&binary)
            .arg(format!("--configFile={}", config_file.display()))
            .stdout(Stdio::from(
                log.try_clone().map_err(|e| Error::Start(e.to_string()))?,
            ))
            .stderr(Stdio::from(log))
            .spawn()
            .map_err(|e| Error::Start(format!("{binary}: {e}")))?;
        let traefik = Self {
            child,
            work,
            web,
            admin,
        };
        let started = Instant::now();
        while !matches!(http::get(admin, "/ping").await, Ok((200, _))) {
            if started.elapsed() > START_PATIENCE {
                return Err(Error::Start(format!(
                    "Traefik did not answer /ping on {admin} within {} s; log in {}",
                    START_PATIENCE.as_secs(),
                    traefik.log_path().display()
                )));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Ok(traefik)
    }

    /// Traefik's log file.
    pub fn log_path(&self) -> PathBuf {
        self.work.join("traefik.log")
    }

    /// The dynamic configuration Traefik runs now (`/api/rawdata`).
    ///
    /// # Errors
    ///
    /// [`Error::Request`] when it cannot be read.
    pub async fn rawdata(&self) -> Result<Value, Error> {
        let (code, body) = http::get(self.admin, "/api/rawdata").await?;
        if code != 200 {
            return Err(Error::Request(format!("/api/rawdata answered {code}")));
        }
        serde_json::from_slice(&body).map_err(|e| Error::Request(format!("/api/rawdata: {e}")))
    }

    /// The Prometheus metrics Traefik exports now (`/metrics`).
    ///
    /// # Errors
    ///
    /// [`Error::Request`] when they cannot be read.
    pub async fn metrics(&self) -> Result<String, Error> {
        let (_, body) = http::get(self.admin, "/metrics").await?;
        String::from_utf8(body.to_vec()).map_err(|e| Error::Request(e.to_string()))
    }
}

impl Drop for Traefik {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            let log = std::fs::read_to_string(self.log_path()).unwrap_or_default();
            let lines: Vec<&str> = log.lines().collect();
            eprintln!("--- Traefik log (last 40 lines) ---");
            for line in &lines[lines.len().saturating_sub(40)..] {
                eprintln!("{line}");
            }
        }
        let _ = std::fs::remove_dir_all(&self.work);
    }
}

/// Every upstream in Traefik's dynamic configuration `rawdata`: the server
/// URLs of its HTTP services' load balancers and the addresses of its TCP
/// and UDP services', as written.
///
/// ```
/// let rawdata = serde_json::json!({"services": {
///     "a": {"loadBalancer": {"servers": [{"url": "http://127.1.0.3:8080"}]}},
///     "w": {"weighted": {"services": [{"name": "a", "weight": 1}]}}
/// }});
/// assert_eq!(rollgate_dataplane::traefik::upstreams(&rawdata), ["http://127.1.0.3:8080"]);
/// ```
pub fn upstreams(rawdata: &Value) -> Vec<String> {
    let mut found = Vec::new();
    for (section, field) in [
        ("services", "url"),
        ("tcpServices", "address"),
        ("udpServices", "address"),
    ] {
        for service in rawdata[section].as_object().into_iter().flatten() {
            for server in service.1["loadBalancer"]["servers"]
                .as_array()
                .into_iter()
                .flatten()
            {
                if let Some(upstream) = server[field].as_str() {
                    found.push(upstream.to_owned());
                }
            }
        }
    }
    found
}

/// The address of an upstream as [`upstreams`] lists it (`http://IP:PORT`,
/// `IP:PORT`, `[IPv6]:PORT`), or `None` when it does not name an IP.
///
/// ```
/// use rollgate_dataplane::traefik::upstream_ip;
/// assert_eq!(upstream_ip("http://127.1.0.3:8080"), "127.1.0.3".parse().ok());
/// assert_eq!(upstream_ip("10.96.0.12:80"), "10.96.0.12".parse().ok());
/// assert_eq!(upstream_ip("http://web.example:80"), None);
/// ```
pub fn upstream_ip(upstream: &str) -> Option<IpAddr> {
    let rest = upstream.split_once("://").map_or(upstream, |(_, r)| r);
    let authority = rest.split('/').next()?;
    let host = match authority.rsplit_once(':') {
        Some((host, port)) if port.chars().all(|c| c.is_ascii_digit()) => host,
        _ => authority,
    };
    host.trim_start_matches('[')
        .trim_end_matches(']')
        .parse()
        .ok()
}

fn setting(name: &str) -> Result<String, Error> {
    std::env::var(name).map_err(|_| Error::Setting(name.to_owned()))
}

/// A loopback port free now (bound, then released for Traefik to take).
fn free_port() -> Result<SocketAddr, Error> {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map_err(|e| Error::Start(format!("a free loopback port: {e}")))
}
