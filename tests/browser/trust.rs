//! What the page trusts: after a server restart it goes on with the new run's events (its
//! old numbers mean nothing there), and a layer it showed for one workspace's event N is
//! never shown for another's.

use std::time::Duration;

use serde_json::json;

use crate::harness::*;

/// Whether the log of engine `id` shows a row whose data is `text`.
fn log_has(id: &str, text: &str) -> String {
    format!(
        "[...document.querySelectorAll('.engine-detail[data-engine-id=\"{id}\"] .log-rows .row .c-data')].some(e => e.textContent === {text:?})"
    )
}

#[tokio::test]
async fn the_page_follows_a_server_restart_without_a_reload() {
    let _one_at_a_time = serial().await;
    let dir =
        std::env::temp_dir().join(format!("socketlab-browser-restart-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let data = dir.clone();
    let app = spawn_app_with(move |c| c.data_dir = Some(data)).await;
    let addr = app.base.trim_start_matches("http://").to_string();
    let e = app
        .post("/api/engines", json!({"kind": "udp-server", "bind": "127.0.0.1:0", "behavior": "echo", "name": "echo"}))
        .await;
    let id = e["id"].as_str().unwrap().to_string();
    let local: std::net::SocketAddr = e["local"].as_str().unwrap().parse().unwrap();
    let sock = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    // Many events before the restart, so the page's last seq is far past what the new run
    // will number for a while.
    for i in 0..40 {
        sock.send_to(format!("before {i}").as_bytes(), local)
            .await
            .unwrap();
    }
    let driver = Driver::start().await;
    let b = driver.browser().await;
    b.viewport(1280, 720).await;
    b.goto(&format!("{}/#{id}", app.base)).await;
    b.wait_js(&log_has(&id, "before 39"), "the first run's last echo")
        .await;
    // The server stops and comes back on the same address and data, its numbering at 1.
    app.stop().await;
    b.wait_js(
        "document.getElementById('live').dataset.status !== 'live'",
        "the page noticing the server went",
    )
    .await;
    let data = dir.clone();
    let app = spawn_app_on(&addr, move |c| c.data_dir = Some(data)).await;
    let started = app
        .post(&format!("/api/engines/{id}/start"), json!({}))
        .await;
    let local: std::net::SocketAddr = started["local"].as_str().unwrap().parse().unwrap();
    b.wait_js_for(
        "document.getElementById('live').dataset.status === 'live'",
        "the stream back",
        Duration::from_secs(20),
    )
    .await;
    sock.send_to(b"after the restart", local).await.unwrap();
    // Without a reload: the new run's events are shown, and the old run's are gone.
    b.wait_js(
        &log_has(&id, "after the restart"),
        "the new run's echo in the log",
    )
    .await;
    assert_eq!(b.js(&log_has(&id, "before 39")).await, json!(false));
    b.assert_no_page_errors().await;
    app.stop().await;
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn stepping_after_switching_workspace_shows_that_workspaces_layers() {
    let _one_at_a_time = serial().await;
    let app = spawn_class((12_000, 12_999)).await;
    let (_, me) = app.get("/api/workspace").await;
    let code = me["class"]["code"].as_str().unwrap().to_string();
    // Two students, the same exchange in each (so the same event numbers), other bytes.
    let mut clients = Vec::new();
    for name in ["Ada", "Bob"] {
        let joined: serde_json::Value = reqwest::Client::new()
            .post(format!("{}/api/join", app.base))
            .json(&json!({"code": code, "name": name}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let cred = joined["credential"].as_str().unwrap().to_string();
        let http = reqwest::Client::new();
        let post = |path: String, body: serde_json::Value| {
            let (http, cred, base) = (http.clone(), cred.clone(), app.base.clone());
            async move {
                http.post(format!("{base}{path}"))
                    .bearer_auth(cred)
                    .json(&body)
                    .send()
                    .await
                    .unwrap()
                    .json::<serde_json::Value>()
                    .await
                    .unwrap()
            }
        };
        let s = post(
            "/api/engines".into(),
            json!({"kind": "tcp-server", "bind": "127.0.0.1:0", "behavior": "echo"}),
        )
        .await;
        let c = post(
            "/api/engines".into(),
            json!({"kind": "tcp-client", "target": s["local"]}),
        )
        .await;
        let cid = c["id"].as_str().unwrap().to_string();
        post(
            format!("/api/engines/{cid}/send"),
            json!({"data": format!("hello from {}", name.to_lowercase())}),
        )
        .await;
        let server_port = s["local"]
            .as_str()
            .unwrap()
            .rsplit(':')
            .next()
            .unwrap()
            .to_string();
        clients.push((
            name,
            cid,
            joined["id"].as_str().unwrap().to_string(),
            server_port,
        ));
    }
    let driver = Driver::start().await;
    let b = driver.browser().await;
    b.viewport(1280, 720).await;
    b.goto(&app.base).await;
    let mut seqs = Vec::new();
    for (name, cid, ws, server_port) in &clients {
        // The instructor opens the student's workspace from the class table.
        b.wait_js(
            &format!("!!document.querySelector('tr[data-ws-id=\"{ws}\"] [data-action=open]')"),
            "the student's row",
        )
        .await;
        b.click(&format!("tr[data-ws-id=\"{ws}\"] [data-action=open]"))
            .await;
        b.wait_js(
            &format!("document.querySelectorAll('svg.scene g.call.k-received[data-engine=\"{cid}\"]').length >= 1"),
            "the client's recv() drawn",
        )
        .await;
        b.js(&format!("(document.querySelector('svg.scene g.call.k-received[data-engine=\"{cid}\"] rect').dispatchEvent(new MouseEvent('click', {{bubbles: true}})), 1)"))
            .await;
        let text = b
            .wait_js(
                "document.querySelector('.scene-details .sd-layers')?.textContent",
                "the layers of the recv()",
            )
            .await;
        // The echo the client received came from this student's server, in their block.
        let want = format!("TCP {server_port} →");
        assert!(
            text.as_str().unwrap().contains(&want),
            "{name}'s workspace shows {name}'s packet ({want}): {text}"
        );
        seqs.push(
            b.js("Number(document.getElementById('stage').dataset.at)")
                .await,
        );
        // Back to the class, to open the next one.
        b.click("button[data-tab=class]").await;
    }
    assert_eq!(seqs[0], seqs[1], "the same event number in both workspaces");
    b.assert_no_page_errors().await;
}
