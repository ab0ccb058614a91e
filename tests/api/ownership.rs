//! What outlives a run and what does not: a stopped UDP engine holds nothing back (its ports
//! are free the moment stop returns, whatever its impairment holds, and it says nothing
//! after `stopped`), and a `PATCH`ed impairment is the engine's own (kept across a restart,
//! and in a lab saved from the workspace).

use std::net::SocketAddr;
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};
use tokio::net::UdpSocket;

use crate::helpers::*;

/// One UDP engine with one datagram in the hands of its impairment, and every port it has.
struct Caught {
    id: String,
    ports: Vec<SocketAddr>,
    what: String,
}

/// Starts a `kind` with `impair`, makes it send one datagram the impairment takes (lost,
/// doubled, held back for `reorder`, or delayed), and waits for that datagram's event.
async fn caught(app: &TestApp, kind: &str, impair: &Value, plain: &UdpSocket) -> Caught {
    let there = plain.local_addr().unwrap();
    let spec = match kind {
        "udp-server" => json!({"kind": kind, "bind": "127.0.0.1:0", "behavior": "echo"}),
        "udp-client" => json!({"kind": kind, "target": there.to_string()}),
        _ => json!({"kind": kind, "bind": "127.0.0.1:0", "target": there.to_string()}),
    };
    let mut spec = spec;
    spec["options"] = json!({"impair": impair});
    let e = app.engine(spec).await;
    let id = e["id"].as_str().unwrap().to_string();
    let what = format!("{kind} with {impair}");
    match kind {
        // A send through the API returns once the datagram is in the impairment's hands.
        "udp-client" => {
            let (st, v) = app.send(&id, json!({"data": "one"})).await;
            assert_eq!(st, StatusCode::OK, "{what}: {v}");
        }
        // The server's echo and the proxy's relay to its server are the impaired sends.
        _ => {
            plain.send_to(b"one", local_of(&e)).await.unwrap();
        }
    }
    let fate = ["dropped", "duplicated", "delayed"];
    app.wait_event(&id, &what, |ev| {
        fate.contains(&ev["kind"].as_str().unwrap_or(""))
    })
    .await;
    let view = app.engine_view(&id).await;
    let mut ports = vec![local_of(&view)];
    ports.extend(
        view["connections"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|c| c["upstream"]["local"].as_str())
            .map(|a| a.parse::<SocketAddr>().unwrap()),
    );
    Caught { id, ports, what }
}

#[tokio::test]
async fn every_udp_kind_frees_its_ports_when_stop_returns_whatever_its_impairment_holds() {
    let app = spawn_app().await;
    // The reply of a server, the sends of a client and the relays of a proxy, into a socket
    // that only receives.
    let plain = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let impairs = [
        json!({"loss": 1.0}),
        json!({"duplicate": 1.0}),
        json!({"reorder": 1.0}),
        json!({"delay_ms": 1000}),
        json!({"delay_ms": 800, "jitter_ms": 200}),
    ];
    let mut all = Vec::new();
    for kind in ["udp-server", "udp-client", "udp-proxy"] {
        for impair in &impairs {
            all.push(caught(&app, kind, impair, &plain).await);
        }
    }
    for c in &all {
        let (st, v) = app
            .post(&format!("/api/engines/{}/stop", c.id), json!({}))
            .await;
        assert_eq!(st, StatusCode::OK, "{}: {v}", c.what);
        // Right after stop returns: every port it had is free for anyone.
        for port in &c.ports {
            let bound = std::net::UdpSocket::bind(port);
            assert!(
                bound.is_ok(),
                "{}: {port} still taken after stop returned: {:?}",
                c.what,
                bound.err()
            );
        }
    }
    // Past every delay: nothing more was said by any of them.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    for c in &all {
        let evs = app.events(&c.id).await;
        let last = evs.last().unwrap();
        assert_eq!(
            last["kind"], "stopped",
            "{}: events after stopped: {evs:#?}",
            c.what
        );
        assert_eq!(
            evs.iter().filter(|e| e["kind"] == "stopped").count(),
            1,
            "{}",
            c.what
        );
    }
    // A fixed-port server of those ports starts again at once on it.
    let port = all[2].ports[0];
    let again = app
        .engine(json!({"kind": "udp-server", "bind": port.to_string(), "behavior": "echo"}))
        .await;
    assert_eq!(local_of(&again), port);
}

#[tokio::test]
async fn a_patched_impairment_is_kept_across_a_restart_and_in_a_saved_lab() {
    let dir = temp_dir("patched");
    let config = socketlab::config::Config {
        data_dir: Some(dir.clone()),
        ..socketlab::config::Config::default()
    };
    let (app, _) = spawn_app_ready(config.clone()).await;
    let e = app.engine(udp_spec("echo")).await;
    let id = e["id"].as_str().unwrap().to_string();
    let impair = json!({"loss": 0.25, "reorder": 0.5, "delay_ms": 3, "seed": 11});
    let r = app
        .http
        .patch(format!("{}/api/engines/{id}", app.base))
        .json(&json!({"options": {"impair": impair}}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    // Saved as a lab: the engine as it is now, impairment and all.
    let (st, lab) = app
        .post(
            "/api/labs",
            json!({"name": "lossy echo", "from_current": true}),
        )
        .await;
    assert_eq!(st, StatusCode::CREATED, "{lab}");
    let lab_id = lab["id"].as_str().unwrap().to_string();
    let (_, got) = app.get(&format!("/api/labs/{lab_id}")).await;
    assert_eq!(
        got["engines"][0]["options"]["impair"]["reorder"], 0.5,
        "{got}"
    );
    assert_eq!(got["engines"][0]["options"]["impair"]["seed"], 11, "{got}");
    app.shutdown().await;

    let (app, started) = spawn_app_ready(config).await;
    assert!(started.problems.is_empty(), "{:?}", started.problems);
    let v = app.engine_view(&id).await;
    assert_eq!(v["state"], "stopped");
    for (k, want) in impair.as_object().unwrap() {
        assert_eq!(&v["options"]["impair"][k], want, "{k} after a restart: {v}");
    }
    // And followed once started: the next datagram's fate is the PATCHed one's.
    let (st, v) = app
        .post(&format!("/api/engines/{id}/start"), json!({}))
        .await;
    assert_eq!(st, StatusCode::OK, "{v}");
    let plain = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    for _ in 0..20 {
        plain.send_to(b"x", local_of(&v)).await.unwrap();
    }
    let evs = app
        .wait_event(&id, "an impaired datagram", |e| {
            e["kind"] == "dropped" || e["kind"] == "delayed"
        })
        .await;
    assert!(
        evs.iter()
            .any(|e| e["message"].as_str().is_some_and(|m| m.contains("impair")))
    );
    app.shutdown().await;
    let _ = std::fs::remove_dir_all(&dir);
}
