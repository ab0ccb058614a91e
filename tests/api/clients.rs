//! The client kinds against plain sockets of the test.

use std::time::Duration;

use serde_json::json;
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, UdpSocket};

use crate::helpers::*;

#[tokio::test]
async fn tcp_client_connects_sends_receives_and_half_closes() {
    let app = spawn_app().await;
    let server = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let target = server.local_addr().unwrap();
    let e = app
        .engine(json!({"kind": "tcp-client", "target": target.to_string(), "name": "my client"}))
        .await;
    let id = e["id"].as_str().unwrap().to_string();
    let (mut sock, client_addr) = server.accept().await.unwrap();
    assert_eq!(
        local_of(&e),
        client_addr,
        "local shows the ephemeral port the OS chose"
    );
    assert_ne!(client_addr.port(), target.port());
    assert_eq!(e["peer"], target.to_string());
    assert_eq!(e["behavior"], "manual");
    assert_eq!(e["name"], "my client");
    assert_eq!(e["connections"].as_array().unwrap().len(), 1);

    let (st, out) = app.send(&id, json!({"data": "hello\n"})).await;
    json_ok(st, &out);
    assert_eq!(out, json!({"bytes": 6, "sent_to": [target.to_string()]}));
    assert_eq!(read_until(&mut sock, |b| b.len() >= 6).await, b"hello\n");

    sock.write_all(b"hi back").await.unwrap();
    let evs = app.wait_event(&id, "received", kind_is("received")).await;
    let rx = evs.iter().find(|e| e["kind"] == "received").unwrap();
    assert_eq!(rx["text"], "hi back");
    assert_eq!(rx["call"], "recv()");
    assert_eq!(rx["local"], client_addr.to_string());
    let connected = evs.iter().find(|e| e["kind"] == "connected").unwrap();
    assert_eq!(connected["call"], "connect()");
    assert_eq!(connected["local"], client_addr.to_string());

    // Half-close: the server sees EOF but can still answer.
    let (st, out) = app
        .send(&id, json!({"data": "last words", "shutdown": "write"}))
        .await;
    json_ok(st, &out);
    assert_eq!(read_to_eof(&mut sock).await, b"last words");
    app.wait_event(&id, "shutdown()", |e| {
        e["kind"] == "shutdown" && e["call"] == "shutdown()"
    })
    .await;
    sock.write_all(b"still hear you").await.unwrap();
    app.wait_event(&id, "after half-close", |e| e["text"] == "still hear you")
        .await;
    drop(sock);
    let v = app
        .wait_engine(&id, "stopped by the peer", |v| v["state"] == "stopped")
        .await;
    assert!(v["error"].as_str().unwrap().contains("peer closed"), "{v}");
    let evs = app.wait_event(&id, "stopped", kind_is("stopped")).await;
    assert!(
        evs.iter()
            .any(|e| e["kind"] == "closed" && e["call"] == "close()")
    );

    // Start again reconnects, from a new ephemeral port.
    let (st, v) = app
        .post(&format!("/api/engines/{id}/start"), json!({}))
        .await;
    json_ok(st, &v);
    let (_sock2, addr2) = server.accept().await.unwrap();
    assert_eq!(v["state"], "running");
    assert_eq!(local_of(&v), addr2);
}

#[tokio::test]
async fn tcp_client_with_echo_behavior_answers_the_server() {
    let app = spawn_app().await;
    let server = TcpListener::bind("127.0.0.1:0").await.unwrap();
    app.engine(json!({"kind": "tcp-client", "target": server.local_addr().unwrap().to_string(), "behavior": "uppercase"}))
        .await;
    let (mut sock, _) = server.accept().await.unwrap();
    sock.write_all(b"shout").await.unwrap();
    assert_eq!(read_until(&mut sock, |b| b.len() >= 5).await, b"SHOUT");
}

#[tokio::test]
async fn udp_client_sends_to_its_target_or_to() {
    let app = spawn_app().await;
    let server = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let other = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let target = server.local_addr().unwrap();
    let e = app
        .engine(json!({"kind": "udp-client", "target": target.to_string()}))
        .await;
    let id = e["id"].as_str().unwrap().to_string();
    assert_eq!(
        e["local"].as_str().unwrap().split(':').next(),
        Some("127.0.0.1")
    );

    let (st, out) = app.send(&id, json!({"data": "Hello Python!"})).await;
    json_ok(st, &out);
    assert_eq!(out["sent_to"], json!([target.to_string()]));
    let mut buf = [0u8; 100];
    let (n, from) = tokio::time::timeout(Duration::from_secs(2), server.recv_from(&mut buf))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(&buf[..n], b"Hello Python!");
    assert_eq!(from, local_of(&e));

    server.send_to(b"got it", from).await.unwrap();
    let evs = app.wait_event(&id, "recvfrom", kind_is("received")).await;
    let rx = evs.iter().find(|e| e["kind"] == "received").unwrap();
    assert_eq!(rx["call"], "recvfrom()");
    assert_eq!(rx["peer"], target.to_string());
    assert_eq!(rx["text"], "got it");

    let (st, out) = app
        .send(
            &id,
            json!({"data": "elsewhere", "to": other.local_addr().unwrap().to_string()}),
        )
        .await;
    json_ok(st, &out);
    let (n, _) = tokio::time::timeout(Duration::from_secs(2), other.recv_from(&mut buf))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(&buf[..n], b"elsewhere");
}

#[tokio::test]
async fn clients_against_engines_show_the_whole_exchange() {
    let app = spawn_app().await;
    let server = app.engine(tcp_spec("echo")).await;
    let client = app
        .engine(json!({"kind": "tcp-client", "target": server["local"], "options": {"recv_size": 1024}}))
        .await;
    let cid = client["id"].as_str().unwrap();
    let sid = server["id"].as_str().unwrap();
    let (st, out) = app.send(cid, json!({"data": "hello"})).await;
    json_ok(st, &out);
    app.wait_event(cid, "echo back", |e| {
        e["kind"] == "received" && e["text"] == "hello"
    })
    .await;
    let sevs = app.events(sid).await;
    let acc = sevs.iter().find(|e| e["kind"] == "accepted").unwrap();
    assert_eq!(
        acc["peer"], client["local"],
        "the server sees the client's ephemeral port"
    );
    let conn = acc["conn"].as_str().unwrap();
    let srv_rx = sevs.iter().find(|e| e["kind"] == "received").unwrap();
    assert_eq!(srv_rx["conn"], conn);
    assert_eq!(srv_rx["data"], b64(b"hello"));
    let v = app
        .wait_engine(sid, "stats", |v| v["stats"]["bytes_out"] == 5)
        .await;
    assert_eq!(v["stats"]["bytes_in"], 5);
    assert_eq!(v["stats"]["messages_in"], 1);
    assert_eq!(v["stats"]["messages_out"], 1);
    assert_eq!(v["connections"][0]["peer"], client["local"]);
    assert_eq!(v["connections"][0]["bytes_in"], 5);
}
