//! Tests of `spec.rs`.

use super::*;
use crate::error::ErrorKind;

fn err(json: &str) -> String {
    match EngineSpec::from_json(json.as_bytes()) {
        Err(e) if matches!(e.kind(), ErrorKind::InvalidSpec | ErrorKind::InvalidAddress) => {
            e.message().to_string()
        }
        other => panic!("{json}: expected an error, got {other:?}"),
    }
}

#[test]
fn defaults_apply() {
    let s =
        EngineSpec::from_json(br#"{"kind":"tcp-server","bind":"127.0.0.1:0","behavior":"chat"}"#)
            .unwrap();
    assert_eq!(s.options.max_clients, Some(10));
    assert_eq!(s.options.backlog, Some(5));
    assert_eq!(s.options.recv_size, 1024);
    let s =
        EngineSpec::from_json(br#"{"kind":"tcp-server","bind":"127.0.0.1:0","behavior":"greet"}"#)
            .unwrap();
    assert_eq!(s.options.greeting.as_deref(), Some(DEFAULT_GREETING));
    assert_eq!(s.options.max_clients, Some(1024));
    let s = EngineSpec::from_json(br#"{"kind":"udp-client","target":"127.0.0.1:9"}"#).unwrap();
    assert_eq!(s.behavior, Behavior::Manual);
    assert_eq!(s.options.backlog, None);
}

#[test]
fn errors_name_the_field() {
    assert!(err(r#"{"kind":"tcp-servr","bind":"127.0.0.1:0"}"#).contains("field kind"));
    assert!(
        err(r#"{"kind":"tcp-server","bind":"127.0.0.1:0","behavior":"nope"}"#)
            .contains("field behavior")
    );
    assert!(
        err(r#"{"kind":"udp-server","bind":"127.0.0.1:0","behavior":"chat"}"#)
            .contains("not available for a udp-server")
    );
    assert!(
        err(r#"{"kind":"tcp-server","bind":"127.0.0.1:0"}"#).contains("field behavior is missing")
    );
    assert!(err(r#"{"kind":"tcp-server","behavior":"echo"}"#).contains("field bind is missing"));
    assert!(err(r#"{"kind":"tcp-client"}"#).contains("field target is missing"));
    assert!(
        err(r#"{"kind":"tcp-server","bind":"127.0.0.1:0","behavior":"echo","colour":1}"#)
            .contains("colour")
    );
    assert!(err(r#"{"kind":"tcp-server","bind":"127.0.0.1:0","behavior":"echo","options":{"recv_size":0}}"#).contains("options.recv_size"));
    assert!(err(r#"{"kind":"tcp-server","bind":"127.0.0.1:0","behavior":"echo","options":{"recv_size":"big"}}"#).contains("options.recv_size"));
    assert!(
        err(r#"{"kind":"tcp-server","bind":"127.0.0.1:0","behavior":"echo","options":{"nope":1}}"#)
            .contains("nope")
    );
    assert!(err(r#"{"kind":"udp-server","bind":"127.0.0.1:0","behavior":"echo","options":{"backlog":1}}"#).contains("options.backlog"));
    assert!(err(r#"{"kind":"tcp-client","target":"127.0.0.1:0"}"#).contains("port 0"));
    assert!(
        err(r#"{"kind":"tcp-server","bind":"127.0.0.1:0","behavior":"echo""#)
            .contains("malformed JSON")
    );
    assert!(err(r#"[1,2]"#).contains("JSON object"));
    assert!(err("").contains("empty"));
}
