//! Stop, start, delete, shutdown; IPv6 and names.

use std::time::Duration;

use serde_json::json;
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream, UdpSocket};

use crate::helpers::*;

#[tokio::test]
async fn stop_frees_the_port_at_once_and_start_brings_it_back() {
    let app = spawn_app().await;
    let e = app.engine(tcp_spec("echo")).await;
    let id = e["id"].as_str().unwrap();
    let addr = local_of(&e);
    let mut clients = Vec::new();
    for _ in 0..20 {
        let mut c = TcpStream::connect(addr).await.unwrap();
        c.write_all(b"hi").await.unwrap();
        assert_eq!(read_until(&mut c, |b| b.len() >= 2).await, b"hi");
        clients.push(c);
    }
    let (st, v) = app
        .post(&format!("/api/engines/{id}/stop"), json!({}))
        .await;
    json_ok(st, &v);
    assert_eq!(v["state"], "stopped");
    assert_eq!(v["connections"], json!([]));
    assert_eq!(v["stats"]["connections_open"], 0);
    assert_eq!(v["stats"]["connections_total"], 20);
    // Right after stop returns, the port is free: we can bind it ourselves.
    let taken = std::net::TcpListener::bind(addr).expect("port free right after stop");
    for c in &mut clients {
        assert_eq!(read_to_eof(c).await, b"", "every connection was closed");
    }
    let evs = app.events(id).await;
    assert_eq!(evs.iter().filter(|e| e["kind"] == "closed").count(), 20);
    let stopped = evs.last().unwrap();
    assert_eq!(stopped["kind"], "stopped");
    assert!(stopped["message"].as_str().unwrap().contains("by request"));

    // A port-0 spec keeps its port across stop/start when it can, and takes any free port
    // when something else took it meanwhile.
    let (st, moved) = app
        .post(&format!("/api/engines/{id}/start"), json!({}))
        .await;
    json_ok(st, &moved);
    assert_ne!(local_of(&moved), addr);
    app.post(&format!("/api/engines/{id}/stop"), json!({}))
        .await;
    drop(taken);
    // Start again: the same port as last time, though the spec said 0. Another test's socket
    // may take the freed port in the moment between (the tests run at once, all drawing on
    // the ephemeral ports): then it moves, as it should, and the next stop and start must
    // come back to its new port.
    let mut last = local_of(&moved);
    let mut attempt = 0;
    let v = loop {
        let (st, v) = app
            .post(&format!("/api/engines/{id}/start"), json!({}))
            .await;
        json_ok(st, &v);
        assert_eq!(v["state"], "running");
        if local_of(&v) == last {
            break v;
        }
        attempt += 1;
        assert!(attempt < 3, "never came back to its last port: {v}");
        last = local_of(&v);
        app.post(&format!("/api/engines/{id}/stop"), json!({}))
            .await;
    };
    let addr = local_of(&v);
    let mut c = TcpStream::connect(addr).await.unwrap();
    c.write_all(b"again").await.unwrap();
    assert_eq!(read_until(&mut c, |b| b.len() >= 5).await, b"again");
    // Starting a running engine and stopping twice are harmless.
    let (st, _) = app
        .post(&format!("/api/engines/{id}/start"), json!({}))
        .await;
    assert_eq!(st.as_u16(), 200);
    app.post(&format!("/api/engines/{id}/stop"), json!({}))
        .await;
    let (st, v) = app
        .post(&format!("/api/engines/{id}/stop"), json!({}))
        .await;
    assert_eq!((st.as_u16(), v["state"].as_str()), (200, Some("stopped")));
}

#[tokio::test]
async fn start_fails_cleanly_when_a_fixed_port_was_taken() {
    let app = spawn_app().await;
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let e = app
        .engine(
            json!({"kind": "tcp-server", "bind": format!("127.0.0.1:{port}"), "behavior": "echo"}),
        )
        .await;
    let id = e["id"].as_str().unwrap();
    app.post(&format!("/api/engines/{id}/stop"), json!({}))
        .await;
    let taken = std::net::TcpListener::bind(("127.0.0.1", port)).unwrap();
    let (st, err) = app
        .post(&format!("/api/engines/{id}/start"), json!({}))
        .await;
    assert_error(st, &err, 409, "address_in_use");
    let v = app.engine_view(id).await;
    assert_eq!(v["state"], "failed");
    assert!(
        v["error"].as_str().unwrap().contains("already in use"),
        "{v}"
    );
    drop(taken);
    let (st, v) = app
        .post(&format!("/api/engines/{id}/start"), json!({}))
        .await;
    json_ok(st, &v);
    assert_eq!(v["state"], "running");
    assert!(
        !v.as_object().unwrap().contains_key("error"),
        "a running engine has no error: {v}"
    );
}

#[tokio::test]
async fn udp_stop_frees_the_port() {
    let app = spawn_app().await;
    let e = app.engine(udp_spec("echo")).await;
    let id = e["id"].as_str().unwrap();
    app.post(&format!("/api/engines/{id}/stop"), json!({}))
        .await;
    UdpSocket::bind(local_of(&e))
        .await
        .expect("UDP port free right after stop");
}

#[tokio::test]
async fn delete_stops_and_forgets() {
    let app = spawn_app().await;
    let e = app.engine(tcp_spec("echo")).await;
    let id = e["id"].as_str().unwrap();
    let mut c = TcpStream::connect(local_of(&e)).await.unwrap();
    let (st, _) = app.delete(&format!("/api/engines/{id}")).await;
    assert_eq!(st.as_u16(), 204);
    TcpListener::bind(local_of(&e))
        .await
        .expect("port free after delete");
    assert_eq!(read_to_eof(&mut c).await, b"");
    let (st, v) = app.get(&format!("/api/engines/{id}")).await;
    assert_error(st, &v, 404, "not_found");
    let (_, list) = app.get("/api/engines").await;
    assert_eq!(list, json!([]));
}

#[tokio::test]
async fn server_close_one_connection() {
    let app = spawn_app().await;
    let e = app.engine(tcp_spec("manual")).await;
    let id = e["id"].as_str().unwrap();
    let mut a = TcpStream::connect(local_of(&e)).await.unwrap();
    let _b = TcpStream::connect(local_of(&e)).await.unwrap();
    let v = app
        .wait_engine(id, "two", |v| {
            v["connections"].as_array().unwrap().len() == 2
        })
        .await;
    let conn = v["connections"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["peer"] == a.local_addr().unwrap().to_string())
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let (st, _) = app
        .delete(&format!("/api/engines/{id}/connections/{conn}"))
        .await;
    assert_eq!(st.as_u16(), 204);
    assert_eq!(read_to_eof(&mut a).await, b"");
    let v = app.engine_view(id).await;
    assert_eq!(v["connections"].as_array().unwrap().len(), 1);
    let (st, err) = app
        .delete(&format!("/api/engines/{id}/connections/{conn}"))
        .await;
    assert_error(st, &err, 404, "not_found");
}

#[tokio::test]
async fn ipv6_loopback_and_localhost_for_bind_and_target() {
    let app = spawn_app().await;
    let v6 = app
        .engine(json!({"kind": "tcp-server", "bind": "[::1]:0", "behavior": "echo"}))
        .await;
    let addr = local_of(&v6);
    assert!(addr.is_ipv6() && v6["local"].as_str().unwrap().starts_with("[::1]:"));
    let c = app
        .engine(json!({"kind": "tcp-client", "target": format!("[::1]:{}", addr.port())}))
        .await;
    assert!(local_of(&c).is_ipv6());
    let cid = c["id"].as_str().unwrap();
    app.send(cid, json!({"data": "over six"})).await;
    app.wait_event(cid, "echo over IPv6", |e| {
        e["text"] == "over six" && e["kind"] == "received"
    })
    .await;

    let named = app
        .engine(json!({"kind": "tcp-server", "bind": "localhost:0", "behavior": "uppercase"}))
        .await;
    let port = local_of(&named).port();
    assert!(local_of(&named).ip().is_loopback());
    let c = app
        .engine(json!({"kind": "tcp-client", "target": format!("localhost:{port}")}))
        .await;
    let cid = c["id"].as_str().unwrap();
    app.send(cid, json!({"data": "by name"})).await;
    app.wait_event(cid, "uppercased", |e| e["text"] == "BY NAME")
        .await;

    let u6 = app
        .engine(json!({"kind": "udp-server", "bind": "[::1]:0", "behavior": "echo"}))
        .await;
    let uc = app
        .engine(json!({"kind": "udp-client", "target": format!("[::1]:{}", local_of(&u6).port())}))
        .await;
    assert!(local_of(&uc).is_ipv6());
    let ucid = uc["id"].as_str().unwrap();
    app.send(ucid, json!({"data": "datagram six"})).await;
    app.wait_event(ucid, "UDP echo over IPv6", |e| {
        e["kind"] == "received" && e["text"] == "datagram six"
    })
    .await;
    let ul = app
        .engine(json!({"kind": "udp-server", "bind": "localhost:0", "behavior": "echo"}))
        .await;
    assert!(local_of(&ul).ip().is_loopback());
}

#[tokio::test]
async fn shutdown_stops_every_engine_and_closes_every_socket() {
    let app = spawn_app().await;
    let tcp = app.engine(tcp_spec("echo")).await;
    let udp = app.engine(udp_spec("echo")).await;
    let mut c = TcpStream::connect(local_of(&tcp)).await.unwrap();
    c.write_all(b"x").await.unwrap();
    read_until(&mut c, |b| !b.is_empty()).await;
    let mut ws = app.ws("?since=0").await;
    app.shutdown().await;
    assert_eq!(read_to_eof(&mut c).await, b"");
    TcpListener::bind(local_of(&tcp))
        .await
        .expect("TCP port free after shutdown");
    UdpSocket::bind(local_of(&udp))
        .await
        .expect("UDP port free after shutdown");
    // The viewer is told goodbye rather than left hanging.
    let mut last = None;
    while let Some(ev) = ws.next_within(Duration::from_secs(3)).await {
        last = Some(ev);
    }
    let last = last.expect("events were replayed");
    assert!(
        last["kind"] == "stopped" || last["kind"] == "closed",
        "{last}"
    );
}

#[tokio::test]
async fn the_page_lists_engines() {
    let app = spawn_app().await;
    let e = app.engine(json!({"kind": "tcp-server", "bind": "127.0.0.1:0", "behavior": "echo", "name": "<b>x</b>"})).await;
    let html = app
        .http
        .get(format!("{}/", app.base))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(html.contains(&format!("data-engine-id=\"{}\"", e["id"].as_str().unwrap())));
    assert!(html.contains(e["local"].as_str().unwrap()));
    assert!(
        html.contains("&#60;b&#62;x&#60;/b&#62;") && !html.contains("<b>x"),
        "names are escaped"
    );
    let css = app
        .http
        .get(format!("{}/static/app.css", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(css.status().as_u16(), 200);
    let (st, body) = app.get("/healthz").await;
    assert_eq!((st.as_u16(), body), (200, json!("ok")));
}
