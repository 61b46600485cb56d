//! The gob codec against streams Go's `encoding/gob` wrote (golden files made
//! by `interop/argo write`), and Go reading what the encoder writes.

use std::path::{Path, PathBuf};
use std::process::Command;

use plugin_proto::gob::{Decoder, Encoder, Error, Schema, Value};

fn golden(name: &str) -> Vec<u8> {
    std::fs::read(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/data/gob")
            .join(name),
    )
    .unwrap()
}

/// Reads (method, seq, body) triples: a net/rpc request header, then its body.
fn requests(bytes: &[u8]) -> Vec<(String, u64, Value)> {
    let mut dec = Decoder::new(bytes);
    let mut out = Vec::new();
    loop {
        let header = match dec.decode() {
            Ok(h) => h,
            Err(Error::Eof { at_boundary: true }) => return out,
            Err(e) => panic!("{e}"),
        };
        let method = header
            .field("ServiceMethod")
            .and_then(Value::as_str)
            .unwrap()
            .to_owned();
        let seq = header.field("Seq").and_then(Value::as_i64).unwrap_or(0) as u64;
        let body = dec.decode().unwrap_or_else(|e| panic!("{method}: {e}"));
        out.push((method, seq, body));
    }
}

#[test]
fn control_stream_calls_decode() {
    let calls = requests(&golden("control-calls.gob"));
    assert_eq!(calls.len(), 3);
    assert_eq!(calls[0], ("Control.Ping".into(), 0, Value::Bool(true)));
    assert_eq!(
        calls[1],
        (
            "Dispenser.Dispense".into(),
            1,
            Value::String("RpcTrafficRouterPlugin".into())
        )
    );
    assert_eq!(calls[2].0, "Control.Quit");
}

#[test]
fn argo_shaped_plugin_calls_decode_by_go_field_names() {
    let calls = requests(&golden("plugin-calls.gob"));
    let methods: Vec<_> = calls.iter().map(|(m, s, _)| (m.as_str(), *s)).collect();
    assert_eq!(
        methods,
        [
            ("Plugin.InitPlugin", 0),
            ("Plugin.SetWeight", 1),
            ("Plugin.SetHeaderRoute", 2),
            ("Plugin.SetMirrorRoute", 3),
            ("Plugin.UpdateHash", 4),
            ("Plugin.Type", 5)
        ]
    );
    assert_eq!(
        calls[0].2,
        Value::Interface(None),
        "InitPlugin sends a nil interface"
    );

    let Value::Interface(Some((name, args))) = &calls[1].2 else {
        panic!("{:?}", calls[1].2)
    };
    assert_eq!(name, "SetWeightAndVerifyWeightArgs");
    assert_eq!(
        args.field("DesiredWeight").and_then(Value::as_i64),
        Some(30)
    );
    let rollout = args.field("Rollout").unwrap();
    assert_eq!(
        rollout
            .path(&["ObjectMeta", "Name"])
            .and_then(Value::as_str),
        Some("rollout-canary")
    );
    assert_eq!(
        rollout
            .path(&["ObjectMeta", "Namespace"])
            .and_then(Value::as_str),
        Some("default")
    );
    assert!(
        matches!(rollout.path(&["ObjectMeta", "CreationTimestamp"]), Some(Value::Encoded(b)) if !b.is_empty()),
        "metav1.Time arrives as time.Time's GobEncode bytes"
    );
    let canary = rollout.path(&["Spec", "Strategy", "Canary"]).unwrap();
    assert_eq!(
        canary.field("CanaryService").and_then(Value::as_str),
        Some("web-canary")
    );
    let routing = canary.field("TrafficRouting").unwrap();
    let config = routing
        .field("Plugins")
        .and_then(|p| p.map_get("argoproj-labs/gatewayAPI"))
        .unwrap();
    assert_eq!(
        config.as_bytes(),
        Some(&br#"{"httpRoute":"web","namespace":"default"}"#[..])
    );
    let routes: Vec<_> = routing
        .field("ManagedRoutes")
        .unwrap()
        .elements()
        .iter()
        .map(|r| r.field("Name").and_then(Value::as_str).unwrap())
        .collect();
    assert_eq!(routes, ["beta", "shadow"]);
    assert_eq!(
        routing.field("MaxTrafficWeight"),
        None,
        "nil pointers are not sent"
    );
    let extra = args.field("AdditionalDestinations").unwrap().elements();
    assert_eq!(
        extra[0].field("ServiceName").and_then(Value::as_str),
        Some("web-exp")
    );

    let Value::Interface(Some((name, args))) = &calls[2].2 else {
        panic!()
    };
    assert_eq!(name, "SetHeaderArgs");
    let m = &args.path(&["SetHeaderRoute", "Match"]).unwrap().elements()[0];
    assert_eq!(
        m.path(&["HeaderValue", "Prefix"]).and_then(Value::as_str),
        Some("y")
    );

    let Value::Interface(Some((name, args))) = &calls[3].2 else {
        panic!()
    };
    assert_eq!(name, "SetMirrorArgs");
    let mirror = args.field("SetMirrorRoute").unwrap();
    assert_eq!(mirror.field("Percentage").and_then(Value::as_i64), Some(20));
    let headers = mirror.field("Match").unwrap().elements()[0]
        .field("Headers")
        .unwrap();
    assert_eq!(
        headers
            .map_get("x-user")
            .and_then(|v| v.field("Regex"))
            .and_then(Value::as_str),
        Some("^a")
    );

    let Value::Interface(Some((name, args))) = &calls[4].2 else {
        panic!()
    };
    assert_eq!(name, "UpdateHashArgs");
    assert_eq!(
        args.field("CanaryHash").and_then(Value::as_str),
        Some("5898765588")
    );
}

#[test]
fn truncated_streams_are_errors_not_panics() {
    let bytes = golden("plugin-calls.gob");
    for cut in (0..bytes.len()).step_by(7) {
        let mut dec = Decoder::new(&bytes[..cut]);
        while dec.decode().is_ok() {}
    }
}

#[test]
fn a_message_over_the_size_limit_is_refused_before_it_is_read() {
    // A length prefix of MAX_MESSAGE + 1 (four bytes, big-endian, after
    // the byte -4) and nothing after it.
    let count = u32::try_from(plugin_proto::gob::MAX_MESSAGE + 1).unwrap();
    let mut bytes = vec![0xfc];
    bytes.extend_from_slice(&count.to_be_bytes());
    let err = Decoder::new(&bytes[..]).decode().unwrap_err();
    assert_eq!(
        err.to_string(),
        "gob: a message of 67108865 bytes, more than the limit of 67108864 bytes"
    );
    // At the limit the length is taken, and the missing bytes are the error.
    let mut bytes = vec![0xfc];
    bytes.extend_from_slice(&(count - 1).to_be_bytes());
    let err = Decoder::new(&bytes[..]).decode().unwrap_err();
    assert!(matches!(err, Error::Eof { .. }), "{err}");
}

fn reply_stream() -> Vec<u8> {
    let header = Schema::Struct {
        name: "Response",
        fields: vec![
            ("ServiceMethod", Schema::String),
            ("Seq", Schema::Uint),
            ("Error", Schema::String),
        ],
    };
    let rpc_error = Schema::Struct {
        name: "RpcError",
        fields: vec![("ErrorString", Schema::String)],
    };
    let verify = Schema::Struct {
        name: "VerifyWeightResponse",
        fields: vec![("Verified", Schema::Int), ("Err", rpc_error.clone())],
    };
    let h = |method: &str, seq: u64, error: &str| {
        Value::Struct(vec![
            ("ServiceMethod".into(), Value::String(method.into())),
            ("Seq".into(), Value::Uint(seq)),
            ("Error".into(), Value::String(error.into())),
        ])
    };
    let err = |s: &str| Value::Struct(vec![("ErrorString".into(), Value::String(s.into()))]);
    let mut enc = Encoder::new();
    let mut out = Vec::new();
    let mut send = |schema: &Schema, value: &Value| out.extend(enc.encode(schema, value).unwrap());
    send(&header, &h("Dispenser.Dispense", 1, ""));
    send(&Schema::Uint, &Value::Uint(1));
    send(&header, &h("Plugin.SetWeight", 7, ""));
    send(&rpc_error, &err("HTTPRoute default/web not found"));
    send(&header, &h("Plugin.VerifyWeight", 8, ""));
    send(
        &verify,
        &Value::Struct(vec![
            ("Verified".into(), Value::Int(2)),
            ("Err".into(), err("")),
        ]),
    );
    send(&header, &h("Plugin.Type", 9, ""));
    send(&Schema::String, &Value::String("rollgate/journal".into()));
    send(&header, &h("Plugin.SetWeight", 10, ""));
    send(&rpc_error, &err(""));
    send(&header, &h("Control.Ping", 11, ""));
    send(
        &Schema::Struct {
            name: "",
            fields: vec![],
        },
        &Value::Struct(vec![]),
    );
    out
}

#[test]
fn encoded_replies_decode_again() {
    let bytes = reply_stream();
    let mut dec = Decoder::new(&bytes[..]);
    let header = dec.decode().unwrap();
    assert_eq!(
        header.field("ServiceMethod").and_then(Value::as_str),
        Some("Dispenser.Dispense")
    );
    assert_eq!(dec.decode().unwrap(), Value::Uint(1));
    dec.decode().unwrap();
    let e = dec.decode().unwrap();
    assert_eq!(
        e.field("ErrorString").and_then(Value::as_str),
        Some("HTTPRoute default/web not found")
    );
}

#[test]
fn go_reads_what_the_encoder_writes() {
    if Command::new("go").arg("version").output().is_err() {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI must run the gob interop test, but `go` is missing"
        );
        eprintln!("skipped: no Go toolchain on this machine");
        return;
    }
    let tmp = PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
    let reader = tmp.join("argo-interop");
    let build = Command::new("go")
        .args(["build", "-o"])
        .arg(&reader)
        .arg(".")
        .current_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join("interop/argo"))
        .env("GOTOOLCHAIN", "local")
        .output()
        .unwrap();
    assert!(
        build.status.success(),
        "{}",
        String::from_utf8_lossy(&build.stderr)
    );
    let file = tmp.join("replies.gob");
    std::fs::write(&file, reply_stream()).unwrap();
    let out = Command::new(&reader)
        .arg("read")
        .arg(&file)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines: Vec<serde_json::Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 6, "{lines:?}");
    assert_eq!(lines[0]["body"], 1);
    assert_eq!(
        lines[1]["body"]["ErrorString"],
        "HTTPRoute default/web not found"
    );
    assert_eq!(lines[1]["seq"], 7);
    assert_eq!(lines[2]["body"]["Verified"], 2);
    assert_eq!(lines[3]["body"], "rollgate/journal");
    assert_eq!(lines[4]["body"]["ErrorString"], "");
    assert_eq!(lines[5]["method"], "Control.Ping");
}
