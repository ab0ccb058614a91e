//! Every error code of API.md, with a message a student can act on.

use std::time::Duration;

use serde_json::json;
use socketlab::Config;
use tokio::net::{TcpListener, TcpSocket, TcpStream};

use crate::helpers::*;

#[tokio::test]
async fn invalid_spec_names_the_field() {
    let app = spawn_app().await;
    let cases = [
        (
            json!({"kind": "tcp-servr", "bind": "127.0.0.1:0", "behavior": "echo"}),
            "kind",
        ),
        (
            json!({"kind": "tcp-server", "bind": "127.0.0.1:0", "behavior": "nope"}),
            "behavior",
        ),
        (
            json!({"kind": "udp-server", "bind": "127.0.0.1:0", "behavior": "chat"}),
            "behavior",
        ),
        (
            json!({"kind": "tcp-server", "bind": "127.0.0.1:0"}),
            "behavior",
        ),
        (json!({"kind": "tcp-server", "behavior": "echo"}), "bind"),
        (json!({"kind": "tcp-client"}), "target"),
        (
            json!({"kind": "tcp-server", "bind": "127.0.0.1:0", "behavior": "echo", "colour": "red"}),
            "colour",
        ),
        (
            json!({"kind": "tcp-server", "bind": "127.0.0.1:0", "behavior": "echo", "options": {"recv_size": "big"}}),
            "options.recv_size",
        ),
        (
            json!({"kind": "tcp-server", "bind": "127.0.0.1:0", "behavior": "echo", "options": {"recv_size": 0}}),
            "options.recv_size",
        ),
        (
            json!({"kind": "tcp-server", "bind": "127.0.0.1:0", "behavior": "echo", "options": {"turbo": true}}),
            "turbo",
        ),
        (json!({"kind": 7}), "kind"),
    ];
    for (spec, field) in cases {
        let (st, v) = app.post("/api/engines", spec.clone()).await;
        let msg = assert_error(st, &v, 400, "invalid_spec");
        assert!(
            msg.contains(field),
            "{spec}: message should name {field}: {msg}"
        );
    }
    for raw in ["{\"kind\": \"tcp-server\",", "not json", "", "[1,2]"] {
        let (st, v) = app.post_raw("/api/engines", raw).await;
        assert_error(st, &v, 400, "invalid_spec");
    }
    let (_, list) = app.get("/api/engines").await;
    assert_eq!(list, json!([]), "failed creates leave nothing behind");
}

#[tokio::test]
async fn invalid_address_says_how_to_write_it() {
    let app = spawn_app().await;
    for (bind, hint) in [
        ("127.0.0.1:99999", "0-65535"),
        ("127.0.0.1:65536", "0-65535"),
        ("127.0.0.1", "missing port"),
        ("::1:80", "brackets"),
        ("0177.0.0.1:5000", "not a valid IPv4"),
        ("no such host!:5000", "neither an IP"),
        ("127.0.0.1:port", "not a number"),
    ] {
        let (st, v) = app
            .post(
                "/api/engines",
                json!({"kind": "tcp-server", "bind": bind, "behavior": "echo"}),
            )
            .await;
        let msg = assert_error(st, &v, 400, "invalid_address");
        assert!(msg.contains(hint), "{bind}: {msg}");
    }
    let (st, v) = app
        .post(
            "/api/engines",
            json!({"kind": "tcp-client", "target": "127.0.0.1:0"}),
        )
        .await;
    assert_error(st, &v, 400, "invalid_address");
}

#[tokio::test]
async fn invalid_data_for_bad_hex_and_base64() {
    let app = spawn_app().await;
    let e = app.engine(udp_spec("manual")).await;
    let id = e["id"].as_str().unwrap();
    let (st, v) = app
        .send(
            id,
            json!({"data": "48 6", "encoding": "hex", "to": "127.0.0.1:9999"}),
        )
        .await;
    assert!(assert_error(st, &v, 400, "invalid_data").contains("odd"));
    let (st, v) = app
        .send(
            id,
            json!({"data": "zz", "encoding": "hex", "to": "127.0.0.1:9999"}),
        )
        .await;
    assert!(assert_error(st, &v, 400, "invalid_data").contains("not a hex digit"));
    let (st, v) = app
        .send(
            id,
            json!({"data": "%%%", "encoding": "base64", "to": "127.0.0.1:9999"}),
        )
        .await;
    assert!(assert_error(st, &v, 400, "invalid_data").contains("base64"));
    let (st, v) = app
        .send(
            id,
            json!({"data": "x", "encoding": "rot13", "to": "127.0.0.1:9999"}),
        )
        .await;
    assert!(assert_error(st, &v, 400, "invalid_spec").contains("encoding"));
    let (st, v) = app.send(id, json!({"data": "x"})).await;
    assert!(assert_error(st, &v, 400, "invalid_spec").contains("to"));
    let (st, v) = app
        .send(id, json!({"data": "x", "to": "127.0.0.1:9999", "bogus": 1}))
        .await;
    assert!(assert_error(st, &v, 400, "invalid_spec").contains("bogus"));
}

#[tokio::test]
async fn forbidden_outside_the_policy() {
    let app = spawn_app().await;
    // Refused before any socket call: no traffic leaves loopback.
    for (spec, hint) in [
        (
            json!({"kind": "tcp-server", "bind": "0.0.0.0:0", "behavior": "echo"}),
            "--allow-bind",
        ),
        (
            json!({"kind": "tcp-client", "target": "192.0.2.1:5000"}),
            "--allow-target",
        ),
        (
            json!({"kind": "tcp-server", "bind": "127.0.0.1:80", "behavior": "echo"}),
            "privileged",
        ),
        (
            json!({"kind": "udp-server", "bind": format!("127.0.0.1:{}", app.addr.port()), "behavior": "echo"}),
            "dashboard",
        ),
    ] {
        let (st, v) = app.post("/api/engines", spec.clone()).await;
        let msg = assert_error(st, &v, 403, "forbidden");
        assert!(msg.contains(hint), "{spec}: {msg}");
    }
    let e = app.engine(udp_spec("manual")).await;
    let (st, v) = app
        .send(
            e["id"].as_str().unwrap(),
            json!({"data": "x", "to": "192.0.2.1:5000"}),
        )
        .await;
    assert_error(st, &v, 403, "forbidden");
}

#[tokio::test]
async fn not_found_for_unknown_ids_and_routes() {
    let app = spawn_app().await;
    for path in ["/api/engines/e999", "/api/engines/zzz", "/api/nope"] {
        let (st, v) = app.get(path).await;
        assert_error(st, &v, 404, "not_found");
    }
    let (st, v) = app.post("/api/engines/e42/stop", json!({})).await;
    assert_error(st, &v, 404, "not_found");
    let (st, v) = app.delete("/api/engines/e42").await;
    assert_error(st, &v, 404, "not_found");
    let (st, v) = app.get("/api/events?engine=e42").await;
    assert_error(st, &v, 404, "not_found");
    let e = app.engine(tcp_spec("manual")).await;
    let id = e["id"].as_str().unwrap();
    let (st, v) = app.send(id, json!({"data": "x", "conn": "c999"})).await;
    assert!(assert_error(st, &v, 404, "not_found").contains("open now: none"));
    let (st, v) = app.send(id, json!({"data": "x"})).await;
    assert!(assert_error(st, &v, 400, "invalid_spec").contains("conn"));
    let r = tokio_tungstenite::connect_async(format!("ws://{}/ws?engine=e42", app.addr)).await;
    match r {
        Err(tokio_tungstenite::tungstenite::Error::Http(resp)) => {
            assert_eq!(resp.status().as_u16(), 404)
        }
        other => panic!("expected 404 before the upgrade, got {other:?}"),
    }
}

#[tokio::test]
async fn address_in_use_and_not_running() {
    let app = spawn_app().await;
    let e = app.engine(tcp_spec("echo")).await;
    let (st, v) = app
        .post(
            "/api/engines",
            json!({"kind": "tcp-server", "bind": e["local"], "behavior": "echo"}),
        )
        .await;
    let msg = assert_error(st, &v, 409, "address_in_use");
    assert!(msg.contains("port 0"), "{msg}");
    let u = app.engine(udp_spec("echo")).await;
    let (st, v) = app
        .post(
            "/api/engines",
            json!({"kind": "udp-server", "bind": u["local"], "behavior": "echo"}),
        )
        .await;
    assert_error(st, &v, 409, "address_in_use");

    let id = e["id"].as_str().unwrap();
    app.post(&format!("/api/engines/{id}/stop"), json!({}))
        .await;
    let (st, v) = app.send(id, json!({"data": "x", "conn": "*"})).await;
    assert!(assert_error(st, &v, 409, "not_running").contains("/start"));
    let (st, v) = app
        .delete(&format!("/api/engines/{id}/connections/c1"))
        .await;
    assert_error(st, &v, 409, "not_running");
}

#[tokio::test]
async fn limit_reached_for_engines_and_viewers() {
    let mut config = Config::default();
    config.limits.max_engines = 2;
    config.limits.max_viewers = 1;
    let app = spawn_app_with(config).await;
    app.engine(tcp_spec("echo")).await;
    app.engine(udp_spec("echo")).await;
    let (st, v) = app.post("/api/engines", tcp_spec("echo")).await;
    assert!(assert_error(st, &v, 409, "limit_reached").contains("--max-engines"));
    let first = app.ws("").await;
    let r = tokio_tungstenite::connect_async(format!("ws://{}/ws", app.addr)).await;
    match r {
        Err(tokio_tungstenite::tungstenite::Error::Http(resp)) => {
            assert_eq!(resp.status().as_u16(), 409)
        }
        other => panic!("expected 409 before the upgrade, got {other:?}"),
    }
    drop(first);
    // The slot comes back when the viewer leaves.
    let end = tokio::time::Instant::now() + Duration::from_secs(5);
    loop {
        if tokio_tungstenite::connect_async(format!("ws://{}/ws", app.addr))
            .await
            .is_ok()
        {
            break;
        }
        assert!(tokio::time::Instant::now() < end, "viewer slot never freed");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn too_large_for_tcp_and_udp() {
    let mut config = Config::default();
    config.limits.max_message = 100_000;
    let app = spawn_app_with(config).await;
    let e = app.engine(tcp_spec("manual")).await;
    let _c = TcpStream::connect(local_of(&e)).await.unwrap();
    let (st, v) = app
        .send(
            e["id"].as_str().unwrap(),
            json!({"data": "x".repeat(100_001), "conn": "*"}),
        )
        .await;
    assert!(assert_error(st, &v, 413, "too_large").contains("100000"));
    let u = app.engine(udp_spec("manual")).await;
    let app2 = spawn_app().await;
    let u2 = app2.engine(udp_spec("manual")).await;
    let (st, v) = app2
        .send(
            u2["id"].as_str().unwrap(),
            json!({"data": "x".repeat(65_508), "to": u["local"]}),
        )
        .await;
    assert!(assert_error(st, &v, 413, "too_large").contains("65507"));
    let (st, v) = app2
        .send(
            u2["id"].as_str().unwrap(),
            json!({"data": "x".repeat(65_507), "to": u["local"]}),
        )
        .await;
    json_ok(st, &v);
    // A body far over any limit is refused before it is read in full.
    let big = "x".repeat(2_000_000);
    let r = app
        .http
        .post(format!(
            "{}/api/engines/{}/send",
            app.base,
            e["id"].as_str().unwrap()
        ))
        .header("content-type", "application/json")
        .body(format!("{{\"data\":\"{big}\",\"conn\":\"*\"}}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 413);
    let v: serde_json::Value = r.json().await.unwrap();
    assert_eq!(v["error"]["code"], "too_large");
}

#[tokio::test]
async fn connect_failed_refused_and_timed_out() {
    let mut config = Config::default();
    config.limits.connect_timeout = Duration::from_millis(400);
    let app = spawn_app_with(config).await;
    let closed_port = {
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        l.local_addr().unwrap().port()
    };
    let (st, v) = app
        .post(
            "/api/engines",
            json!({"kind": "tcp-client", "target": format!("127.0.0.1:{closed_port}")}),
        )
        .await;
    assert!(assert_error(st, &v, 502, "connect_failed").contains("refused"));

    // A listener whose accept queue is full drops new SYNs: connect() hangs until the timeout.
    let sock = TcpSocket::new_v4().unwrap();
    sock.bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let full = sock.listen(0).unwrap();
    let addr = full.local_addr().unwrap();
    let mut fillers = Vec::new();
    for _ in 0..4 {
        if let Ok(Ok(s)) =
            tokio::time::timeout(Duration::from_millis(200), TcpStream::connect(addr)).await
        {
            fillers.push(s);
        }
    }
    let (st, v) = app
        .post(
            "/api/engines",
            json!({"kind": "tcp-client", "target": addr.to_string()}),
        )
        .await;
    let msg = assert_error(st, &v, 502, "connect_failed");
    assert!(msg.contains("timed out after 0.4 s"), "{msg}");
    let (_, list) = app.get("/api/engines").await;
    assert_eq!(list, json!([]), "failed connects leave nothing behind");
}

#[tokio::test]
async fn wrong_method_and_bad_queries_are_json_errors() {
    let app = spawn_app().await;
    let r = app
        .http
        .put(format!("{}/api/engines", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 405);
    let v: serde_json::Value = r.json().await.unwrap();
    assert_eq!(v["error"]["code"], "method_not_allowed");
    let (st, v) = app.get("/api/events?since=-3").await;
    assert_error(st, &v, 400, "invalid_spec");
    let (st, v) = app.get("/api/events?sinse=3").await;
    assert_error(st, &v, 400, "invalid_spec");
}

#[tokio::test]
async fn every_error_is_json_whatever_made_it() {
    let app = spawn_app().await;
    let json_error = |what: &str, r: reqwest::Response, status: u16| {
        let what = what.to_string();
        async move {
            assert_eq!(r.status().as_u16(), status, "{what}");
            assert_eq!(
                r.headers()["content-type"].to_str().unwrap(),
                "application/json",
                "{what}"
            );
            let v: serde_json::Value = r.json().await.unwrap();
            assert!(
                v["error"]["code"].is_string() && v["error"]["message"].is_string(),
                "{what}: {v}"
            );
            v
        }
    };
    // A body over the route's limit (axum's own rejection, plain text before).
    let big = app
        .http
        .post(format!("{}/api/engines", app.base))
        .header("content-type", "application/json")
        .body(vec![b' '; 5 << 20])
        .send()
        .await
        .unwrap();
    let v = json_error("body limit", big, 413).await;
    assert_eq!(v["error"]["code"], "too_large");
    // A WebSocket route asked without the upgrade's headers.
    let r = app
        .http
        .get(format!("{}/ws", app.base))
        .send()
        .await
        .unwrap();
    json_error("plain GET /ws", r, 400).await;
    // A path that is nothing.
    let r = app
        .http
        .get(format!("{}/nothing/here", app.base))
        .send()
        .await
        .unwrap();
    json_error("unknown path", r, 404).await;
    // A field error says its field.
    let (st, v) = app
        .post("/api/engines", json!({"kind": "tcp-server", "bind": "127.0.0.1:0", "behavior": "echo", "options": {"recv_size": 0}}))
        .await;
    assert_error(st, &v, 400, "invalid_spec");
    assert_eq!(v["error"]["field"], "options.recv_size", "{v}");
}

/// Every route that takes JSON names the field an error is about in `field`, a JSON path
/// the error carries from where it was found (not read back from its message): engine
/// specs, a rule of a spec, a PATCH, a send, a lab (an engine of it), a join.
#[tokio::test]
async fn every_json_route_names_the_field_of_its_error() {
    let app = spawn_app().await;
    let cases: Vec<(&str, &str, serde_json::Value, &str)> = vec![
        (
            "POST",
            "/api/engines",
            json!({"kind": "tcp-server", "bind": "127.0.0.1:0", "behavior": "sing"}),
            "behavior",
        ),
        (
            "POST",
            "/api/engines",
            json!({"kind": "tcp-server", "bind": "127.0.0.1:0", "behavior": "echo", "colour": 1}),
            "colour",
        ),
        (
            "POST",
            "/api/engines",
            json!({"kind": "tcp-server", "bind": "127.0.0.1:99999", "behavior": "echo"}),
            "bind",
        ),
        (
            "POST",
            "/api/engines",
            json!({"kind": "tcp-client", "target": "127.0.0.1:port"}),
            "target",
        ),
        (
            "POST",
            "/api/engines",
            json!({"kind": "tcp-server", "bind": "127.0.0.1:0", "behavior": "echo",
            "options": {"rules": [{"match": "exact", "pattern": "a", "reply": "b"}, {"match": "regex", "pattern": "(", "reply": "x"}]}}),
            "options.rules[1].pattern",
        ),
        (
            "POST",
            "/api/labs",
            json!({"name": "x", "engines": [
            {"kind": "tcp-server", "bind": "127.0.0.1:0", "behavior": "echo"},
            {"kind": "tcp-client", "target": "@5"}]}),
            "engines[1].target",
        ),
        (
            "POST",
            "/api/labs",
            json!({"name": "x", "engines": [
            {"kind": "tcp-server", "bind": "127.0.0.1:0", "behavior": "echo", "options": {"backlog": 0}}]}),
            "engines[0].options.backlog",
        ),
    ];
    for (method, path, body, field) in cases {
        let r = app
            .http
            .request(method.parse().unwrap(), format!("{}{path}", app.base))
            .json(&body)
            .send()
            .await
            .unwrap();
        let st = r.status();
        let v: serde_json::Value = r.json().await.unwrap();
        assert_eq!(st, 400, "{method} {path} {body}: {v}");
        assert_eq!(v["error"]["field"], field, "{method} {path} {body}: {v}");
    }
    let udp = app.post("/api/engines", udp_spec("echo")).await.1;
    let id = udp["id"].as_str().unwrap().to_string();
    let r = app
        .http
        .patch(format!("{}/api/engines/{id}", app.base))
        .json(&json!({"options": {"impair": {"loss": 2.0}}}))
        .send()
        .await
        .unwrap();
    let st = r.status();
    let v: serde_json::Value = r.json().await.unwrap();
    assert_error(st, &v, 400, "invalid_spec");
    assert_eq!(v["error"]["field"], "options.impair.loss", "{v}");
    let (st, v) = app
        .post(
            &format!("/api/engines/{id}/send"),
            json!({"data": "hi", "encoding": "rot13"}),
        )
        .await;
    assert_error(st, &v, 400, "invalid_spec");
    assert_eq!(v["error"]["field"], "encoding", "{v}");
    let (st, v) = app
        .post(&format!("/api/engines/{id}/send"), json!({"data": "hi"}))
        .await;
    assert_error(st, &v, 400, "invalid_spec");
    assert_eq!(v["error"]["field"], "to", "{v}");
    // An error about no one field has none.
    let (st, v) = app.post("/api/engines/e999/stop", json!({})).await;
    assert_error(st, &v, 404, "not_found");
    assert!(v["error"].get("field").is_none(), "{v}");
}
