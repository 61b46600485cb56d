//! Go `net/rpc` with the gob codec, server side, over one yamux stream.

use std::future::Future;
use std::sync::Arc;

use futures::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::sync::mpsc;
use tokio_util::compat::FuturesAsyncReadCompatExt as _;
use tokio_util::io::SyncIoBridge;

use super::{DISPENSE_NAME, Shared};
use crate::gob::{self, Decoder, Encoder, Schema, Value};

/// A request: `rpc.Request{ServiceMethod, Seq}` and its body.
#[derive(Debug, Clone, PartialEq)]
pub struct Call {
    /// `Service.Method`.
    pub method: String,
    /// The caller's sequence number, echoed in the reply.
    pub seq: u64,
    /// The decoded body.
    pub body: Value,
}

/// A response: `rpc.Response{ServiceMethod, Seq, Error}` and its body.
#[derive(Debug, Clone, PartialEq)]
pub struct Reply {
    /// Echoed from the call.
    pub method: String,
    /// Echoed from the call.
    pub seq: u64,
    /// A method error (Go's `error` return), empty on success.
    pub error: String,
    /// The body's Go type.
    pub schema: Schema,
    /// The body.
    pub body: Value,
}

impl Reply {
    /// A successful reply to `call`.
    pub fn ok(call: &Call, schema: Schema, body: Value) -> Self {
        Self {
            method: call.method.clone(),
            seq: call.seq,
            error: String::new(),
            schema,
            body,
        }
    }

    /// A failed call; the body is an empty struct, as Go's server sends.
    pub fn error(call: &Call, error: impl Into<String>) -> Self {
        Self {
            method: call.method.clone(),
            seq: call.seq,
            error: error.into(),
            schema: empty_schema(),
            body: Value::Struct(Vec::new()),
        }
    }
}

/// `struct{}`.
pub(crate) fn empty_schema() -> Schema {
    Schema::Struct {
        name: "",
        fields: Vec::new(),
    }
}

fn response_schema() -> Schema {
    Schema::Struct {
        name: "Response",
        fields: vec![
            ("ServiceMethod", Schema::String),
            ("Seq", Schema::Uint),
            ("Error", Schema::String),
        ],
    }
}

/// Serves net/rpc on `stream`: calls are read in order, handled
/// concurrently, and answered as they finish (matched by `Seq`).
/// `after_reply` runs once a reply has been written.
pub(crate) async fn serve<H, F>(
    stream: yamux::Stream,
    handler: H,
    after_reply: impl Fn(&Reply) + Send + 'static,
) where
    H: Fn(Call) -> F + Send + Sync + 'static,
    F: Future<Output = Reply> + Send + 'static,
{
    let (reader, mut writer) = stream.split();
    let (calls_tx, mut calls_rx) = mpsc::channel::<Call>(64);
    let bridge = SyncIoBridge::new(reader.compat());
    tokio::task::spawn_blocking(move || read_calls(bridge, calls_tx));

    let (replies_tx, mut replies_rx) = mpsc::channel::<Reply>(64);
    let write_loop = tokio::spawn(async move {
        let mut encoder = Encoder::new();
        let header = response_schema();
        while let Some(reply) = replies_rx.recv().await {
            let head = Value::Struct(vec![
                ("ServiceMethod".into(), Value::String(reply.method.clone())),
                ("Seq".into(), Value::Uint(reply.seq)),
                ("Error".into(), Value::String(reply.error.clone())),
            ]);
            let bytes = encoder.encode(&header, &head).and_then(|mut b| {
                encoder.encode(&reply.schema, &reply.body).map(|body| {
                    b.extend(body);
                    b
                })
            });
            let bytes = match bytes {
                Ok(b) => b,
                Err(e) => {
                    tracing::error!(method = %reply.method, "cannot encode a reply: {e}");
                    continue;
                }
            };
            if let Err(e) = async {
                writer.write_all(&bytes).await?;
                writer.flush().await
            }
            .await
            {
                tracing::debug!("rpc stream closed while replying: {e}");
                return;
            }
            after_reply(&reply);
        }
    });

    let handler = Arc::new(handler);
    while let Some(call) = calls_rx.recv().await {
        let (handler, replies) = (handler.clone(), replies_tx.clone());
        tokio::spawn(async move {
            let reply = handler(call).await;
            let _ = replies.send(reply).await;
        });
    }
    drop(replies_tx);
    let _ = write_loop.await;
}

/// The blocking read side: gob-decodes requests and passes them on.
fn read_calls<R: std::io::Read>(reader: R, calls: mpsc::Sender<Call>) {
    let mut decoder = Decoder::new(reader);
    loop {
        let header = match decoder.decode() {
            Ok(h) => h,
            Err(gob::Error::Eof { at_boundary: true }) => return,
            Err(e) => {
                tracing::warn!("rpc stream: {e}");
                return;
            }
        };
        let method = header
            .field("ServiceMethod")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_owned();
        let seq = match header.field("Seq") {
            Some(Value::Uint(s)) => *s,
            _ => 0,
        };
        let body = match decoder.decode() {
            Ok(b) => b,
            Err(e) => {
                tracing::warn!(%method, "rpc stream: cannot read the call's body: {e}");
                return;
            }
        };
        if calls.blocking_send(Call { method, seq, body }).is_err() {
            return;
        }
    }
}

/// The control stream: `Control.Ping`, `Control.Quit`, `Dispenser.Dispense`.
pub(super) async fn serve_control(stream: yamux::Stream, shared: Arc<Shared>) {
    let handler_shared = shared.clone();
    let handler = move |call: Call| {
        let shared = handler_shared.clone();
        async move { control(&shared, &call) }
    };
    let quit_shared = shared.clone();
    serve(stream, handler, move |reply| {
        if reply.method == "Control.Quit" {
            tracing::info!("quit requested by the host");
            let _ = quit_shared.quit.send(true);
        }
    })
    .await;
}

fn control(shared: &Shared, call: &Call) -> Reply {
    match call.method.as_str() {
        "Control.Ping" | "Control.Quit" => {
            Reply::ok(call, empty_schema(), Value::Struct(Vec::new()))
        }
        "Dispenser.Dispense" => match call.body.as_str() {
            Some(DISPENSE_NAME) => {
                let id = shared
                    .next_id
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                if let Ok(mut pending) = shared.dispensed.lock() {
                    pending.insert(id);
                }
                shared.dispensing.notify_waiters();
                Reply::ok(call, Schema::Uint, Value::Uint(u64::from(id)))
            }
            other => Reply::error(
                call,
                format!("unknown plugin type: {}", other.unwrap_or("")),
            ),
        },
        other => Reply::error(call, format!("rpc: can't find service {other}")),
    }
}

/// How long a broker stream waits for its id to be dispensed.
const BROKER_WAIT: std::time::Duration = std::time::Duration::from_secs(5);

/// A broker stream: the host sends the dispensed id (little-endian u32),
/// the plugin echoes it, then the stream carries `Plugin.<Method>` calls.
pub(super) async fn serve_broker_stream(mut stream: yamux::Stream, shared: Arc<Shared>) {
    let mut id = [0u8; 4];
    if let Err(e) = stream.read_exact(&mut id).await {
        tracing::debug!("broker stream closed before its id: {e}");
        return;
    }
    // The stream can arrive before its Dispense call is handled: wait for
    // the id as long as go-plugin's broker would (5 s).
    let wanted = u32::from_le_bytes(id);
    let take = || {
        shared
            .dispensed
            .lock()
            .map(|mut pending| pending.remove(&wanted))
            .unwrap_or(false)
    };
    let known = tokio::time::timeout(BROKER_WAIT, async {
        loop {
            let notified = shared.dispensing.notified();
            if take() {
                return true;
            }
            notified.await;
        }
    })
    .await
    .unwrap_or(false);
    if !known {
        tracing::warn!(
            id = u32::from_le_bytes(id),
            "broker stream for an id that was not dispensed"
        );
        return;
    }
    if stream.write_all(&id).await.is_err() || stream.flush().await.is_err() {
        return;
    }
    let router = shared.router.clone();
    let plugin_name = shared.plugin_name.clone();
    let handler = move |call: Call| {
        let (router, plugin_name) = (router.clone(), plugin_name.clone());
        async move { super::argo::handle(router.as_ref(), &plugin_name, &call).await }
    };
    serve(stream, handler, |_| {}).await;
}
