//! Class mode in the browser: two students and the instructor at once, and a watcher.

use fantoccini::key::Key;
use serde_json::json;

use crate::harness::*;

/// The titles of the engines in a page's list.
const ENGINE_TITLES: &str = "[...document.querySelectorAll('#engines li[data-engine-id] .e-title')].map(e => e.textContent)";

/// Every element that acts (creates, stops, sends, closes, deletes) and is on screen.
const VISIBLE_ACTIONS: &str = "[...document.querySelectorAll('.act, #new-engine, .composer, [data-action], [data-preset]')]\
     .filter(e => e.offsetParent !== null).map(e => e.className || e.id || e.tagName)";

fn row_cell(ws_name: &str, col: &str) -> String {
    format!(
        "[...document.querySelectorAll('#ws-table tbody tr')].find(tr => tr.querySelector('.c-name').textContent === {ws_name:?})?.querySelector('.c-{col}')?.textContent"
    )
}

#[tokio::test]
async fn two_students_an_instructor_and_a_watcher_each_see_what_is_theirs() {
    let _one_at_a_time = serial().await;
    let app = spawn_class((17_000, 17_999)).await;
    let driver = Driver::start().await;

    // The instructor: the class view first, with the join link large.
    let teacher = driver.browser().await;
    teacher.viewport(1280, 720).await;
    teacher.goto(&app.base).await;
    let code = teacher
        .wait_js(
            "document.getElementById('class-code')?.textContent",
            "the class code",
        )
        .await;
    let code = code.as_str().unwrap().to_string();
    let url = teacher
        .js("document.getElementById('join-url').textContent")
        .await;
    assert!(
        url.as_str().unwrap().ends_with(&format!("/join/{code}")),
        "{url}"
    );
    let size = teacher
        .js("parseFloat(getComputedStyle(document.getElementById('join-url')).fontSize)")
        .await;
    assert!(
        size.as_f64().unwrap() >= 40.0,
        "readable off a projector: {size}px"
    );

    // Two students join from their own browsers.
    let ada = driver.browser().await;
    ada.join(&app.base, &code, "Ada").await;
    let ports = ada.js("document.getElementById('ports').textContent").await;
    assert_eq!(ports, json!("your ports: 17000-17099"));
    ada.click("button[data-preset=echo-server]").await;
    ada.wait_js(
        "document.querySelectorAll('#engines li[data-engine-id]').length === 1",
        "Ada's server",
    )
    .await;
    let (_, ada_engines) = app.get("/api/workspaces").await;
    let ada_id = ada_engines
        .as_array()
        .unwrap()
        .iter()
        .find(|w| w["name"] == "Ada")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    ada.click("button[data-preset=echo-client]").await;
    ada.wait_js(
        "document.querySelector('.engine-detail')?.dataset.engineId === 'e2'",
        "Ada's client selected",
    )
    .await;
    let addr = ada
        .js("document.querySelector('li[data-engine-id=e1] .e-addr').textContent")
        .await;
    assert!(
        addr.as_str().unwrap().contains("127.0.0.1:170"),
        "port 0 picked in the block: {addr}"
    );

    let bob = driver.browser().await;
    bob.join(&app.base, &code, "Bob").await;
    bob.click("button[data-preset=udp-upper-server]").await;
    bob.wait_js(
        "document.querySelectorAll('#engines li[data-engine-id]').length === 1",
        "Bob's server",
    )
    .await;
    assert_eq!(bob.js(ENGINE_TITLES).await, json!(["UDP uppercase server"]));
    assert_eq!(
        ada.js(ENGINE_TITLES).await,
        json!(["Echo server", "Echo client"])
    );

    // The instructor's list shows both, and Ada's counters move when she sends.
    teacher
        .wait_js(
            &format!("{} === '0 B'", row_cell("Ada", "bytes_in")),
            "Ada's row",
        )
        .await;
    teacher
        .wait_js(
            &format!("{} === '1 / 1'", row_cell("Bob", "engines")),
            "Bob's row",
        )
        .await;
    ada.type_into(
        ".composer textarea[name=data]",
        &format!("hello class{}", char::from(Key::Enter)),
    )
    .await;
    teacher
        .wait_js(
            &format!("{} === '22 B'", row_cell("Ada", "bytes_in")),
            "Ada's bytes counted live",
        )
        .await;
    // A few more of the class, joined by script, so the picture looks like a lab.
    for name in ["Grace", "Alan", "Barbara"] {
        let joined = app
            .post("/api/join", json!({"code": code, "name": name}))
            .await;
        let cred = joined["credential"].as_str().unwrap();
        let r = reqwest::Client::new()
            .post(format!("{}/api/engines", app.base))
            .bearer_auth(cred)
            .json(&json!({"kind": "udp-server", "bind": "127.0.0.1:0", "behavior": "uppercase"}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 201);
    }
    teacher
        .wait_js(
            &format!("{} === '1 / 1'", row_cell("Barbara", "engines")),
            "the others' rows",
        )
        .await;
    teacher.screenshot("instructor.png").await;

    // The instructor opens Ada's workspace: her engines, live, and nothing to act with.
    teacher
        .click(&format!(
            "button[data-action=open][data-ws-id=\"{ada_id}\"]"
        ))
        .await;
    teacher
        .wait_js(
            &format!("JSON.stringify({ENGINE_TITLES}) === '[\"Echo server\",\"Echo client\"]'"),
            "Ada's engines in the instructor's page",
        )
        .await;
    assert_eq!(teacher.js(VISIBLE_ACTIONS).await, json!([]));
    teacher.click("li[data-engine-id=e2]").await;
    teacher
        .wait_js(
            "[...document.querySelectorAll('.log-rows .row.k-sent .c-data')].some(e => e.textContent === 'hello class')",
            "Ada's send() in the instructor's log",
        )
        .await;
    teacher.screenshot("instructor-watching.png").await;

    // A watcher with Ada's watch link sees her exchange live and can do nothing to it.
    ada.click("#copy-watch").await;
    let watch = ada
        .wait_js(
            "document.querySelector('.watch-link input').value",
            "Ada's watch link",
        )
        .await;
    let watcher = driver.browser().await;
    watcher.open_link(watch.as_str().unwrap()).await;
    assert_eq!(
        watcher.js(ENGINE_TITLES).await,
        json!(["Echo server", "Echo client"])
    );
    assert_eq!(watcher.js(VISIBLE_ACTIONS).await, json!([]));
    assert_eq!(
        watcher
            .js("document.querySelector('.composer')?.offsetParent ?? null")
            .await,
        json!(null)
    );
    ada.type_into(
        ".composer textarea[name=data]",
        &format!("for the watcher{}", char::from(Key::Enter)),
    )
    .await;
    teacher
        .wait_js(
            "[...document.querySelectorAll('.log-rows .row.k-received .c-data')].some(e => e.textContent === 'for the watcher')",
            "Ada's new message, live",
        )
        .await;
    // The watch link opens in present mode: the scene, large, for the room.
    watcher
        .wait_js(
            "document.body.classList.contains('present') && [...document.querySelectorAll('svg.scene g.arrow text.label')].some(t => t.textContent.includes('for the watcher'))",
            "the arrow in the watcher's scene, in present mode",
        )
        .await;
    // Bob never saw any of it.
    assert_eq!(bob.js(ENGINE_TITLES).await, json!(["UDP uppercase server"]));
    for b in [&teacher, &ada, &bob, &watcher] {
        b.assert_no_page_errors().await;
    }
}
