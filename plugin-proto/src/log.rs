//! Plugin logs: JSON lines on stderr in the shape go-plugin hosts parse
//! (hashicorp/go-hclog's `@level`, `@message`, `@timestamp`, `@module`), and
//! their way back into the host's `tracing` logs.

use std::io::Write as _;
use std::time::SystemTime;

use serde_json::{Map, Value};
use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::EnvFilter;
use tracing_subscriber::layer::{Context, Layer, SubscriberExt as _};

/// The environment variable that sets a plugin's log filter (default `info`).
pub const LOG_ENV: &str = "ROLLGATE_LOG";

/// The shape of a plugin's log lines on stderr.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LogFormat {
    /// hclog JSON lines, which go-plugin hosts parse into levelled entries.
    #[default]
    Json,
    /// Plain text lines for people; hosts log each line as it is.
    Text,
}

impl std::str::FromStr for LogFormat {
    type Err = String;

    /// `json` or `text`.
    ///
    /// ```
    /// use plugin_proto::log::LogFormat;
    /// assert_eq!("text".parse(), Ok(LogFormat::Text));
    /// assert!("yaml".parse::<LogFormat>().unwrap_err().contains("--log-format"));
    /// ```
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "json" => Ok(Self::Json),
            "text" => Ok(Self::Text),
            other => Err(format!(
                "--log-format {other:?}: expected \"json\" or \"text\""
            )),
        }
    }
}

/// Installs the logger on stderr for a plugin process, filtered by
/// `ROLLGATE_LOG` (default `info`).
pub fn init_plugin_logging(format: LogFormat) {
    let filter = EnvFilter::try_from_env(LOG_ENV).unwrap_or_else(|_| EnvFilter::new("info"));
    let registry = tracing_subscriber::registry().with(filter);
    let _ = match format {
        LogFormat::Json => tracing::subscriber::set_global_default(registry.with(JsonLines)),
        LogFormat::Text => tracing::subscriber::set_global_default(
            registry.with(
                tracing_subscriber::fmt::layer()
                    .with_writer(std::io::stderr)
                    .with_ansi(false),
            ),
        ),
    };
}

/// A `tracing` layer writing one hclog-style JSON object per event to stderr.
#[derive(Debug, Default, Clone, Copy)]
pub struct JsonLines;

impl<S: Subscriber> Layer<S> for JsonLines {
    fn on_event(&self, event: &Event<'_>, _: Context<'_, S>) {
        let line = render(event, SystemTime::now());
        let mut err = std::io::stderr().lock();
        let _ = writeln!(err, "{line}");
    }
}

/// One event as an hclog JSON line.
fn render(event: &Event<'_>, now: SystemTime) -> String {
    let mut fields = Fields(Map::new());
    event.record(&mut fields);
    let mut obj = Map::new();
    let level = match *event.metadata().level() {
        Level::ERROR => "error",
        Level::WARN => "warn",
        Level::INFO => "info",
        Level::DEBUG => "debug",
        Level::TRACE => "trace",
    };
    obj.insert("@level".into(), level.into());
    obj.insert(
        "@message".into(),
        fields
            .0
            .remove("message")
            .unwrap_or(Value::String(String::new())),
    );
    obj.insert(
        "@timestamp".into(),
        humantime::format_rfc3339_micros(now).to_string().into(),
    );
    obj.insert("@module".into(), event.metadata().target().into());
    obj.extend(fields.0);
    Value::Object(obj).to_string()
}

struct Fields(Map<String, Value>);

impl Visit for Fields {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name().into(), value.into());
    }
    fn record_i64(&mut self, field: &Field, value: i64) {
        self.0.insert(field.name().into(), value.into());
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        self.0.insert(field.name().into(), value.into());
    }
    fn record_bool(&mut self, field: &Field, value: bool) {
        self.0.insert(field.name().into(), value.into());
    }
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.0
            .insert(field.name().into(), format!("{value:?}").into());
    }
}

/// The message of a line a plugin wrote to stderr: hclog JSON's
/// `@message`, or the line as it is.
pub(crate) fn message(line: &str) -> String {
    serde_json::from_str::<Map<String, Value>>(line)
        .ok()
        .and_then(|mut o| match o.remove("@message") {
            Some(Value::String(s)) => Some(s),
            _ => None,
        })
        .unwrap_or_else(|| line.trim().to_owned())
}

/// Re-emits a line a plugin wrote to stderr as a `tracing` event of the
/// host: hclog JSON keeps its level and message (other keys become a
/// `fields` value); anything else is logged as it is, at debug level.
pub fn forward(plugin: &str, line: &str) {
    let parsed: Option<Map<String, Value>> = serde_json::from_str(line).ok();
    let Some(mut obj) = parsed.filter(|o| o.contains_key("@message")) else {
        tracing::debug!(plugin, stderr = line);
        return;
    };
    let text = |v: Option<Value>| match v {
        Some(Value::String(s)) => s,
        Some(other) => other.to_string(),
        None => String::new(),
    };
    let message = text(obj.remove("@message"));
    let level = text(obj.remove("@level"));
    obj.remove("@timestamp");
    let fields = Value::Object(obj).to_string();
    match level.as_str() {
        "error" => tracing::error!(plugin, fields, "{message}"),
        "warn" => tracing::warn!(plugin, fields, "{message}"),
        "info" => tracing::info!(plugin, fields, "{message}"),
        "trace" => tracing::trace!(plugin, fields, "{message}"),
        _ => tracing::debug!(plugin, fields, "{message}"),
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use super::*;

    /// Captures rendered lines instead of writing to stderr.
    struct Capture(Arc<Mutex<Vec<String>>>);

    impl<S: Subscriber> Layer<S> for Capture {
        fn on_event(&self, event: &Event<'_>, _: Context<'_, S>) {
            let at = SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1_790_000_000);
            self.0.lock().unwrap().push(render(event, at));
        }
    }

    #[test]
    fn events_render_as_hclog_json() {
        let lines = Arc::new(Mutex::new(Vec::new()));
        let subscriber = tracing_subscriber::registry().with(Capture(lines.clone()));
        tracing::subscriber::with_default(subscriber, || {
            tracing::warn!(rollout = "shop/web", weight = 20, "weight set");
        });
        let line = lines.lock().unwrap()[0].clone();
        let v: Value = serde_json::from_str(&line).unwrap();
        assert_eq!(v["@level"], "warn");
        assert_eq!(v["@message"], "weight set");
        assert_eq!(v["@timestamp"], "2026-09-21T14:13:20.000000Z");
        assert_eq!(v["rollout"], "shop/web");
        assert_eq!(v["weight"], 20);
    }

    #[test]
    fn the_message_of_a_line_is_hclog_s_or_the_line() {
        let json = r#"{"@level":"error","@message":"cannot start","pid":7}"#;
        assert_eq!(message(json), "cannot start");
        assert_eq!(message("panicked at main.rs:3\n"), "panicked at main.rs:3");
        assert_eq!(message(r#"{"other": 1}"#), r#"{"other": 1}"#);
    }
}
