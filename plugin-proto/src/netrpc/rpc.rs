//! Go `net/rpc` with the gob codec, server side, over one yamux stream.

use std::future::Future;
use std::sync::Arc;

use futures::{AsyncReadExt as _, AsyncWriteExt as _};

use super::{DISPENSE_NAME, Shared};
use crate::gob::{self, Decoder, Encoder, Pending, Schema, Value};

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
///
/// Bytes are gathered as they arrive and a call is decoded once all of it is
/// there (gob values can span messages); each call runs in its own task,
/// which writes its reply under a lock on the shared encoder and stream.
pub(crate) async fn serve<H, F>(
    stream: yamux::Stream,
    handler: H,
    after_reply: impl Fn(&Reply) + Send + Sync + 'static,
) where
    H: Fn(Call) -> F + Send + Sync + 'static,
    F: Future<Output = Reply> + Send + 'static,
{
    let (mut reader, writer) = stream.split();
    let replies = Arc::new(Replies {
        out: tokio::sync::Mutex::new((writer, Encoder::new())),
        header: response_schema(),
        after_reply: Box::new(after_reply),
    });
    let handler = Arc::new(handler);
    let mut decoder = Decoder::new(Pending::default());
    let mut chunk = vec![0u8; 64 * 1024];
    loop {
        // Start every call that has fully arrived.
        loop {
            let start = decoder.get_mut().position();
            match read_call(&mut decoder) {
                Ok(call) => {
                    decoder.get_mut().compact();
                    let (handler, replies) = (handler.clone(), replies.clone());
                    tokio::spawn(async move {
                        let reply = handler(call).await;
                        replies.send(&reply).await;
                    });
                }
                Err(gob::Error::Eof { .. }) => {
                    // Not all here yet: rewind to the call's start and read on.
                    decoder.get_mut().set_position(start);
                    decoder.discard_partial();
                    break;
                }
                Err(e) => {
                    tracing::warn!("rpc stream: {e}");
                    return;
                }
            }
        }
        match reader.read(&mut chunk).await {
            Ok(0) => return,
            Ok(n) => decoder.get_mut().extend(&chunk[..n]),
            Err(e) => {
                tracing::debug!("rpc stream closed: {e}");
                return;
            }
        }
    }
}

/// The write side of a net/rpc stream, shared by the calls' tasks.
struct Replies {
    out: tokio::sync::Mutex<(futures::io::WriteHalf<yamux::Stream>, Encoder)>,
    header: Schema,
    after_reply: Box<dyn Fn(&Reply) + Send + Sync>,
}

impl Replies {
    async fn send(&self, reply: &Reply) {
        let head = Value::Struct(vec![
            ("ServiceMethod".into(), Value::String(reply.method.clone())),
            ("Seq".into(), Value::Uint(reply.seq)),
            ("Error".into(), Value::String(reply.error.clone())),
        ]);
        let mut out = self.out.lock().await;
        let (writer, encoder) = &mut *out;
        let bytes = encoder.encode(&self.header, &head).and_then(|mut b| {
            encoder.encode(&reply.schema, &reply.body).map(|body| {
                b.extend(body);
                b
            })
        });
        let bytes = match bytes {
            Ok(b) => b,
            Err(e) => {
                tracing::error!(method = %reply.method, "cannot encode a reply: {e}");
                return;
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
        drop(out);
        (self.after_reply)(reply);
    }
}

/// Decodes one call: the `rpc.Request` header, then its body.
fn read_call<R: std::io::Read>(decoder: &mut Decoder<R>) -> Result<Call, gob::Error> {
    let header = decoder.decode()?;
    let method = header
        .field("ServiceMethod")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_owned();
    let seq = match header.field("Seq") {
        Some(Value::Uint(s)) => *s,
        _ => 0,
    };
    let body = decoder.decode()?;
    Ok(Call { method, seq, body })
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
