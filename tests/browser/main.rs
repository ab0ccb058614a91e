//! Browser tests: the dashboard in a real headless Chromium against a real socketlab.

// Test and benchmark tasks belong to their process (clients, servers, timers), not to an
// engine's run: clippy.toml's rule is for the product's code.
#![allow(clippy::disallowed_methods)]

mod capture;
mod class;
mod exercises;
mod harness;
mod inspect;
mod layout;
mod progress;
mod stage;
mod traps;
mod trust;

use std::time::Duration;

use fantoccini::key::Key;
use harness::*;
use serde_json::json;
use tokio::io::AsyncWriteExt;

fn rows_with(engine: &str, kind: &str, text: &str) -> String {
    format!(
        "[...document.querySelectorAll('.engine-detail[data-engine-id=\"{engine}\"] .log-rows .row.k-{kind} .c-data')]\
         .some(e => e.textContent === {text:?})"
    )
}

/// An arrow in the scene out of (`sent`) or into (`received`) one of the engine's sockets.
fn arrows_with(engine: &str, kind: &str, text: &str) -> String {
    let end = if kind == "sent" { "from" } else { "to" };
    format!(
        "[...document.querySelectorAll('svg.scene g.arrow[data-{end}-engine=\"{engine}\"]')]\
         .some(g => g.querySelector('line') && g.querySelector('text.label')?.textContent.includes({text:?}))"
    )
}

#[tokio::test]
async fn echo_demo_from_form_and_preset_seen_live_by_two_viewers() {
    let _one_at_a_time = serial().await;
    let app = spawn_app().await;
    let driver = Driver::start().await;
    let b = driver.browser().await;
    b.goto(&app.base).await;

    // An echo server from the form.
    b.select("#new-engine select[name=kind]", "tcp-server")
        .await;
    b.select("#new-engine select[name=behavior]", "echo").await;
    b.type_into("#new-engine input[name=bind]", "127.0.0.1:0")
        .await;
    b.type_into("#new-engine input[name=name]", "Echo server")
        .await;
    b.click("#new-engine button[type=submit]").await;
    b.wait_js("document.querySelector('li[data-engine-id=\"e1\"] .e-title')?.textContent === 'Echo server'", "the server in the list").await;
    let (_, server) = app.get("/api/engines/e1").await;
    assert_eq!(server["behavior"], "echo");
    assert_eq!(server["state"], "running");

    // Its client from the preset, aimed at wherever the server listens.
    b.click("button[data-preset=echo-client]").await;
    b.wait_js(
        "document.querySelector('.engine-detail')?.dataset.engineId === 'e2'",
        "the client selected",
    )
    .await;
    let (_, client) = app.get("/api/engines/e2").await;
    assert_eq!(client["kind"], "tcp-client");
    assert_eq!(client["peer"], server["local"]);

    // A second viewer, in its own browser session, watching the client.
    let b2 = driver.browser().await;
    b2.goto(&format!("{}/#e2", app.base)).await;
    b2.wait_js(
        "document.querySelector('.engine-detail')?.dataset.engineId === 'e2'",
        "viewer 2 on e2",
    )
    .await;

    // hello from the composer, Enter to send.
    b.type_into(
        ".composer textarea[name=data]",
        &format!("hello{}", char::from(Key::Enter)),
    )
    .await;
    for viewer in [&b, &b2] {
        viewer
            .wait_js(
                &rows_with("e2", "sent", "hello"),
                "send() hello in the client's log",
            )
            .await;
        viewer
            .wait_js(
                &rows_with("e2", "received", "hello"),
                "recv() hello in the client's log",
            )
            .await;
        viewer
            .wait_js(
                &arrows_with("e2", "sent", "hello"),
                "a send arrow in the scene",
            )
            .await;
        viewer
            .wait_js(
                &arrows_with("e2", "received", "hello"),
                "a receive arrow in the scene",
            )
            .await;
    }
    let result = b
        .js("document.querySelector('.composer .c-result').textContent")
        .await;
    assert!(
        result.as_str().unwrap().starts_with("sent 5 B to"),
        "{result}"
    );

    // The server's side of the same exchange, with the client's ephemeral port as the peer.
    b.click("li[data-engine-id=e1]").await;
    b.wait_js(
        &rows_with("e1", "received", "hello"),
        "recv() in the server's log",
    )
    .await;
    b.wait_js(
        &rows_with("e1", "sent", "hello"),
        "send() in the server's log",
    )
    .await;
    b.wait_js(
        &arrows_with("e1", "received", "hello"),
        "arrows into the server's sockets in the scene",
    )
    .await;
    let peers = b
        .js("[...document.querySelectorAll('.engine-detail .row.k-received .c-peer')].map(e => e.textContent)")
        .await;
    assert_eq!(
        peers,
        json!([client["local"]]),
        "the server sees the client's ephemeral port"
    );
    let lanes = b
        .js("[...document.querySelectorAll('svg.scene-head g.lane-head')].map(g => `${g.dataset.role} ${g.dataset.addr}`)")
        .await;
    let (s, c) = (
        server["local"].as_str().unwrap(),
        client["local"].as_str().unwrap(),
    );
    assert_eq!(
        lanes,
        json!([
            format!("client {c}"),
            format!("listen {s}"),
            format!("accepted {s}")
        ]),
        "one lane per socket: the client's port, the listening socket, accept()'s new one"
    );
    let counters = b
        .js("document.querySelector('li[data-engine-id=\"e1\"] .e-stats').textContent")
        .await;
    b.wait_js(
        "document.querySelector('li[data-engine-id=\"e1\"] .e-stats').textContent.includes('in 5 B (1)')",
        &format!("live counters (now {counters})"),
    )
    .await;

    // A picture for the README, mid-exchange.
    b.type_into(
        ".composer textarea[name=data]",
        &format!("Thank you for connecting{}", char::from(Key::Enter)),
    )
    .await;
    b.wait_js(
        &rows_with("e1", "sent", "Thank you for connecting"),
        "a second exchange",
    )
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let png = b.client.screenshot().await.unwrap();
    // Always taken (so the path stays tested), kept in target/; the README's copy in docs/ is
    // refreshed only when asked, so a test run never dirties the source tree.
    let shot = concat!(env!("CARGO_MANIFEST_DIR"), "/target/dashboard.png");
    std::fs::write(shot, &png).unwrap();
    assert!(
        png.len() > 10_000 && png.starts_with(b"\x89PNG"),
        "a real screenshot"
    );
    if std::env::var_os("SOCKETLAB_UPDATE_SCREENSHOT").is_some() {
        std::fs::write(
            concat!(env!("CARGO_MANIFEST_DIR"), "/docs/dashboard.png"),
            png,
        )
        .unwrap();
    }
    b.assert_no_page_errors().await;
    b2.assert_no_page_errors().await;
}

#[tokio::test]
async fn the_page_follows_the_api_and_drives_engines() {
    let _one_at_a_time = serial().await;
    let app = spawn_app().await;
    let driver = Driver::start().await;
    let b = driver.browser().await;
    b.goto(&app.base).await;

    // Created by a script, shown without a reload.
    let e = app.post("/api/engines", json!({"kind": "udp-server", "bind": "127.0.0.1:0", "behavior": "echo", "name": "from curl"})).await;
    let id = e["id"].as_str().unwrap().to_string();
    b.wait_js(&format!("document.querySelector('li[data-engine-id=\"{id}\"] .e-title')?.textContent === 'from curl'"), "the API's engine in the list").await;

    // An API error, in the API's words, next to the field it is about.
    b.type_into("#new-engine input[name=bind]", "127.0.0.1:99999")
        .await;
    b.click("#new-engine button[type=submit]").await;
    let msg = b
        .wait_js(
            "document.querySelector('[data-error-for=bind]').textContent",
            "the bind error",
        )
        .await;
    assert!(
        msg.as_str().unwrap().contains("out of range 0-65535"),
        "{msg}"
    );
    assert_eq!(
        b.js("document.querySelector('#new-engine input[name=bind]').getAttribute('aria-invalid')")
            .await,
        json!("true")
    );
    b.select("#new-engine select[name=kind]", "tcp-client")
        .await;
    b.type_into("#new-engine input[name=bind]", "").await;
    b.type_into("#new-engine input[name=target]", "127.0.0.1:1")
        .await;
    b.click("#new-engine button[type=submit]").await;
    let msg = b
        .wait_js(
            "document.querySelector('[data-error-for=target]').textContent",
            "the target error",
        )
        .await;
    assert!(msg.as_str().unwrap().contains("privileged"), "{msg}");

    // Stop, start and delete from the page.
    b.click(&format!("li[data-engine-id={id}] button[data-action=stop]"))
        .await;
    b.wait_js(
        &format!(
            "document.querySelector('li[data-engine-id=\"{id}\"]').dataset.state === 'stopped'"
        ),
        "stopped in the list",
    )
    .await;
    assert_eq!(
        app.get(&format!("/api/engines/{id}")).await.1["state"],
        "stopped"
    );
    b.click(&format!(
        "li[data-engine-id={id}] button[data-action=start]"
    ))
    .await;
    b.wait_js(
        &format!(
            "document.querySelector('li[data-engine-id=\"{id}\"]').dataset.state === 'running'"
        ),
        "running again",
    )
    .await;
    assert_eq!(
        app.get(&format!("/api/engines/{id}")).await.1["state"],
        "running"
    );
    b.click(&format!(
        "li[data-engine-id={id}] button[data-action=delete]"
    ))
    .await;
    b.wait_js(
        &format!("!document.querySelector('li[data-engine-id=\"{id}\"]')"),
        "gone from the list",
    )
    .await;
    assert_eq!(app.get(&format!("/api/engines/{id}")).await.0, 404);
    b.assert_no_page_errors().await;
}

#[tokio::test]
async fn received_bytes_are_shown_as_text_or_hex_never_as_markup() {
    let _one_at_a_time = serial().await;
    let app = spawn_app().await;
    let e = app
        .post(
            "/api/engines",
            json!({"kind": "tcp-server", "bind": "127.0.0.1:0", "behavior": "discard"}),
        )
        .await;
    let id = e["id"].as_str().unwrap().to_string();
    let payload = "<img src=x onerror=alert(1)>";
    let mut s = tokio::net::TcpStream::connect(e["local"].as_str().unwrap())
        .await
        .unwrap();
    s.write_all(payload.as_bytes()).await.unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    s.write_all(b"hello").await.unwrap();

    let driver = Driver::start().await;
    let b = driver.browser().await;
    b.goto(&format!("{}/#{id}", app.base)).await;
    b.wait_js(&rows_with(&id, "received", payload), "the payload as text")
        .await;
    b.wait_js(&rows_with(&id, "received", "hello"), "hello")
        .await;
    assert_eq!(
        b.js("document.querySelectorAll('img').length").await,
        json!(0),
        "no element was created"
    );
    assert!(b.client.get_alert_text().await.is_err(), "no script ran");
    b.wait_js(
        "[...document.querySelectorAll('svg.scene text')].some(t => t.textContent.includes('<img src=x onerr'))",
        "the scene showing the payload as text",
    )
    .await;
    assert_eq!(
        b.js("document.querySelectorAll('img').length").await,
        json!(0)
    );

    b.click(".toolbar input[name=hex]").await;
    b.wait_js(
        &rows_with(&id, "received", "68 65 6c 6c 6f"),
        "hello in hex",
    )
    .await;
    b.assert_no_page_errors().await;
}

#[tokio::test]
async fn a_flood_of_5000_events_per_second_keeps_the_page_bounded_and_current() {
    let _one_at_a_time = serial().await;
    let app = spawn_app().await;
    let e = app
        .post(
            "/api/engines",
            json!({"kind": "udp-server", "bind": "127.0.0.1:0", "behavior": "echo"}),
        )
        .await;
    let id = e["id"].as_str().unwrap().to_string();
    let driver = Driver::start().await;
    let b = driver.browser().await;
    b.goto(&format!("{}/#{id}", app.base)).await;
    b.wait_js(
        &format!("document.querySelector('.engine-detail')?.dataset.engineId === '{id}'"),
        "the engine selected",
    )
    .await;
    b.js("(window.__longest = 0, new PerformanceObserver(l => l.getEntries().forEach(e => window.__longest = Math.max(window.__longest, e.duration))).observe({entryTypes: ['longtask']}), 1)").await;

    // About 5,000 events a second for three seconds: each datagram is a recvfrom() and a sendto().
    let sock = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let target = e["local"].as_str().unwrap().to_string();
    let mut tick = tokio::time::interval(Duration::from_millis(10));
    for i in 0..300u32 {
        tick.tick().await;
        for j in 0..25u32 {
            sock.send_to(format!("datagram {i}-{j}").as_bytes(), &target)
                .await
                .unwrap();
        }
    }
    let (_, v) = app.get(&format!("/api/engines/{id}")).await;
    let sent = v["stats"]["messages_out"].as_u64().unwrap();
    assert!(sent > 7000, "the echo kept up: {sent}");
    let (_, last) = app
        .get(&format!(
            "/api/events?engine={id}&before=18446744073709551615&limit=1"
        ))
        .await;
    let last_seq = last["events"][0]["seq"].as_u64().unwrap();
    b.wait_js(
        &format!("Number(document.querySelector('.engine-detail .log-rows .row:last-child')?.dataset.seq) === {last_seq}"),
        "the log caught up with the newest event",
    )
    .await;
    let rows = b
        .js("document.querySelectorAll('.engine-detail .log-rows .row').length")
        .await;
    let svg_rows = b
        .js("document.querySelectorAll('svg.scene g.call').length")
        .await;
    assert!(
        rows.as_u64().unwrap() <= 100,
        "only the rows in view are in the DOM: {rows}"
    );
    assert!(
        svg_rows.as_u64().unwrap() <= 200,
        "only the scene's rows in view are drawn: {svg_rows}"
    );
    // Scrolled to the top, the log shows the oldest events it keeps, without a reload.
    b.js("(document.querySelector('.engine-detail .log').scrollTop = 0, 1)")
        .await;
    b.wait_js(
        "document.querySelector('.engine-detail .log-rows .row:first-child')?.dataset.seq < 100",
        "the oldest rows drawn after scrolling up",
    )
    .await;
    b.wait_js(
        "!document.querySelector('.engine-detail .jump').hidden",
        "a jump-to-latest button once scrolled up",
    )
    .await;
    let longest = b.js("window.__longest").await;
    eprintln!("flood: {sent} datagrams echoed; page's longest task {longest} ms");
    b.assert_no_page_errors().await;
}

#[tokio::test]
async fn a_change_the_disk_refuses_shows_a_banner_until_it_is_saved() {
    let _one_at_a_time = serial().await;
    let dir =
        std::env::temp_dir().join(format!("socketlab-browser-unsaved-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let data = dir.clone();
    let app = spawn_app_with(move |c| c.data_dir = Some(data)).await;
    let driver = Driver::start().await;
    let b = driver.browser().await;
    b.goto(&app.base).await;
    assert_eq!(
        b.js("document.getElementById('unsaved').hidden").await,
        json!(true)
    );
    // The workspaces' directory becomes a plain file: every save fails, even as root.
    let ws_dir = dir.join("personal/workspaces");
    let away = dir.join("personal/workspaces.away");
    std::fs::rename(&ws_dir, &away).unwrap();
    std::fs::write(&ws_dir, b"not a directory").unwrap();
    b.click("button[data-preset=echo-server]").await;
    let text = b
        .wait_js(
            "!document.getElementById('unsaved').hidden && document.getElementById('unsaved').textContent",
            "the not-saved banner",
        )
        .await;
    assert!(
        text.as_str()
            .unwrap()
            .starts_with("Not saved: your last change works"),
        "{text}"
    );
    // The engine is there all the same, and the form does not call it a failure.
    b.wait_js(
        "document.querySelectorAll('#engines li[data-engine-id]').length === 1",
        "the engine in the list",
    )
    .await;
    assert_eq!(
        b.js("[...document.querySelectorAll('#new-engine .field-error, #new-engine .form-error')].map(e => e.textContent).join('')").await,
        json!(""),
        "the form shows no error for a change that was made"
    );
    // Space back: the server's retry saves it, and the banner goes by itself.
    std::fs::remove_file(&ws_dir).unwrap();
    std::fs::rename(&away, &ws_dir).unwrap();
    b.wait_js_for(
        "document.getElementById('unsaved').hidden",
        "the banner gone once saved",
        Duration::from_secs(40),
    )
    .await;
    b.assert_no_page_errors().await;
    let _ = std::fs::remove_dir_all(&dir);
}
