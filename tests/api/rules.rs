//! Reply rules (each kind and placeholder, over TCP and UDP) and repeated sends (counted
//! exactly, ended by a stop).

use std::time::Duration;

use serde_json::{Value, json};
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpStream, UdpSocket};

use crate::helpers::*;

fn rules() -> Value {
    json!([
        {"match": "exact", "pattern": "ping", "reply": "pong #{{counter}}"},
        {"match": "regex", "pattern": "^HELLO (\\w+)$", "reply": "hi {{match}}, you are {{peer}}"},
        {"match": "contains", "pattern": "time", "reply": "it is {{time}}"},
    ])
}

#[tokio::test]
async fn rules_answer_before_the_behavior_over_tcp_and_udp() {
    let app = spawn_app().await;
    let e = app
        .engine(
            json!({"kind": "tcp-server", "bind": "127.0.0.1:0", "behavior": "echo",
                       "options": {"rules": rules()}}),
        )
        .await;
    assert_eq!(e["options"]["rules"], rules(), "the engine shows its rules");
    let mut s = TcpStream::connect(local_of(&e)).await.unwrap();
    let me = s.local_addr().unwrap().to_string();
    for (send, want) in [
        ("ping", "pong #1".to_string()),
        ("ping\n", "pong #2\n".to_string()),
        ("HELLO ada", format!("hi ada, you are {me}")),
        ("no rule for this", "no rule for this".to_string()),
    ] {
        s.write_all(send.as_bytes()).await.unwrap();
        let got = read_until(&mut s, |b| b.len() >= want.len()).await;
        assert_eq!(String::from_utf8_lossy(&got), want, "after {send:?}");
    }
    s.write_all(b"what time is it").await.unwrap();
    let got = String::from_utf8(read_until(&mut s, |b| b.ends_with(b"Z")).await).unwrap();
    assert!(got.starts_with("it is 20"), "{got}");

    // A UDP server, with add behind the rules.
    let u = app
        .engine(
            json!({"kind": "udp-server", "bind": "127.0.0.1:0", "behavior": "add",
                       "options": {"rules": rules()}}),
        )
        .await;
    let sock = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let me = sock.local_addr().unwrap().to_string();
    let mut buf = [0u8; 256];
    for (send, want) in [
        ("ping", "pong #1".to_string()),
        ("HELLO bob", format!("hi bob, you are {me}")),
        ("50,40", "90".to_string()),
    ] {
        sock.send_to(send.as_bytes(), local_of(&u)).await.unwrap();
        let (n, _) = tokio::time::timeout(Duration::from_secs(5), sock.recv_from(&mut buf))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(String::from_utf8_lossy(&buf[..n]), want);
    }
}

#[tokio::test]
async fn a_rule_answering_a_chat_member_is_not_broadcast() {
    let app = spawn_app().await;
    let e = app
        .engine(json!({"kind": "tcp-server", "bind": "127.0.0.1:0", "behavior": "chat",
                       "options": {"rules": [{"match": "exact", "pattern": "/who", "reply": "you are {{peer}}"}]}}))
        .await;
    let mut a = TcpStream::connect(local_of(&e)).await.unwrap();
    read_until(&mut a, |b| b.ends_with(b"\n")).await;
    let mut b = TcpStream::connect(local_of(&e)).await.unwrap();
    read_until(&mut b, |b| b.ends_with(b"\n")).await;
    read_until(&mut a, |b| b.ends_with(b"\n")).await;
    a.write_all(b"/who\n").await.unwrap();
    let me = a.local_addr().unwrap().to_string();
    assert_eq!(
        read_until(&mut a, |b| b.ends_with(b"\n")).await,
        format!("you are {me}\n").as_bytes()
    );
    a.write_all(b"hi\n").await.unwrap();
    assert_eq!(
        read_until(&mut b, |b| b.ends_with(b"\n")).await,
        format!("{me}: hi\n").as_bytes(),
        "the rule's question never reached b"
    );
}

#[tokio::test]
async fn bad_rules_are_named_by_their_index() {
    let app = spawn_app().await;
    let spec = |rules: Value| json!({"kind": "tcp-server", "bind": "127.0.0.1:0", "behavior": "echo", "options": {"rules": rules}});
    let (st, v) = app
        .post(
            "/api/engines",
            spec(json!([{"match": "exact", "pattern": "a", "reply": "b"},
                        {"match": "regex", "pattern": "([unclosed", "reply": "x"}])),
        )
        .await;
    assert!(
        assert_error(st, &v, 400, "invalid_spec").starts_with("field options.rules[1].pattern")
    );
    let (st, v) = app
        .post(
            "/api/engines",
            spec(json!([{"match": "glob", "pattern": "*", "reply": "x"}])),
        )
        .await;
    assert!(assert_error(st, &v, 400, "invalid_spec").contains("options.rules[0].match"));
    let (st, v) = app
        .post(
            "/api/engines",
            spec(json!([{"match": "exact", "pattern": "a"}])),
        )
        .await;
    assert!(
        assert_error(st, &v, 400, "invalid_spec").contains("reply"),
        "{v}"
    );
    let (st, v) = app
        .post(
            "/api/engines",
            json!({"kind": "tcp-client", "target": "127.0.0.1:9", "options": {"rules": []}}),
        )
        .await;
    assert!(assert_error(st, &v, 400, "invalid_spec").contains("for servers"));
}

#[tokio::test]
async fn repeated_sends_are_counted_exactly_and_a_stop_ends_them() {
    let app = spawn_app().await;
    let server = app.engine(udp_spec("discard")).await;
    let client = app
        .engine(json!({"kind": "udp-client", "target": server["local"].clone()}))
        .await;
    let cid = client["id"].as_str().unwrap().to_string();
    let (st, out) = app
        .send(
            &cid,
            json!({"data": "tick", "repeat": 50, "interval_ms": 0}),
        )
        .await;
    json_ok(st, &out);
    assert_eq!(
        (out["repeat"].as_u64(), out["interval_ms"].as_u64()),
        (Some(50), Some(0))
    );
    app.wait_engine(server["id"].as_str().unwrap(), "50 datagrams", |v| {
        v["stats"]["messages_in"] == 50
    })
    .await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let sent = |evs: &[Value]| evs.iter().filter(|e| e["kind"] == "sent").count();
    assert_eq!(
        sent(&app.events(&cid).await),
        50,
        "exactly as many sendto() calls as asked"
    );

    // A long repeat, stopped partway: nothing more after the stop.
    let (st, _) = app
        .send(
            &cid,
            json!({"data": "tock", "repeat": 10_000, "interval_ms": 10}),
        )
        .await;
    assert_eq!(st.as_u16(), 200);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (st, stopped) = app
        .post(&format!("/api/engines/{cid}/send/stop"), json!({}))
        .await;
    json_ok(st, &stopped);
    assert_eq!(stopped["stopped"], 1);
    let at_stop = sent(&app.events(&cid).await);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let later = sent(&app.events(&cid).await);
    assert_eq!(at_stop, later, "no send after the stop");
    assert!(later > 50 && later < 50 + 10_000, "{later}");
    let (_, none) = app
        .post(&format!("/api/engines/{cid}/send/stop"), json!({}))
        .await;
    assert_eq!(none["stopped"], 0);

    for bad in [
        json!({"data": "x", "repeat": 0}),
        json!({"data": "x", "repeat": 10_001}),
        json!({"data": "x", "repeat": 2, "interval_ms": 3_600_001}),
    ] {
        let (st, v) = app.send(&cid, bad.clone()).await;
        assert_error(st, &v, 400, "invalid_spec");
    }
    // Stopping the engine ends a repeat too.
    app.send(
        &cid,
        json!({"data": "tack", "repeat": 10_000, "interval_ms": 5}),
    )
    .await;
    app.post(&format!("/api/engines/{cid}/stop"), json!({}))
        .await;
    let n = sent(&app.events(&cid).await);
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(sent(&app.events(&cid).await), n);
}
