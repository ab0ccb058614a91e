//! The small traps a class falls into, each closed: a kind switch that kept a server's
//! behavior, an echo client aimed at an echo server (a loop as fast as the machine), a
//! finished repeat still saying "sending", and a keyboard user's long way to the Send box.

use fantoccini::key::Key;
use serde_json::json;

use crate::harness::*;

#[tokio::test]
async fn kind_switch_echo_loop_finished_repeats_and_the_skip_link() {
    let _one_at_a_time = serial().await;
    let app = spawn_app().await;
    let server = app
        .post(
            "/api/engines",
            json!({"kind": "tcp-server", "bind": "127.0.0.1:0", "behavior": "echo", "name": "Echo server"}),
        )
        .await;
    let driver = Driver::start().await;
    let b = driver.browser().await;
    b.viewport(1280, 720).await;
    b.goto(&format!("{}/", app.base)).await;

    // The first Tab reaches the skip link; with no engine selected it goes to the list.
    b.client
        .active_element()
        .await
        .unwrap()
        .send_keys(&Key::Tab.to_string())
        .await
        .unwrap();
    assert_eq!(
        b.js("document.activeElement.textContent").await,
        json!("Skip to the Send box")
    );

    // A server's echo does not follow the kind to a client.
    b.select("#f-kind", "tcp-server").await;
    b.select("#f-behavior", "echo").await;
    b.select("#f-kind", "tcp-client").await;
    assert_eq!(
        b.js("document.getElementById('f-behavior').value").await,
        json!("manual")
    );

    // An echo client aimed at the echo server is warned about, and starts only when asked
    // again.
    b.select("#f-behavior", "echo").await;
    b.type_into("#f-target", server["local"].as_str().unwrap())
        .await;
    b.click("#new-engine button[type=submit]").await;
    let warning = b
        .wait_js(
            "document.querySelector('[data-error-for=_form]').textContent",
            "the loop warning",
        )
        .await;
    assert!(warning.as_str().unwrap().contains("loop"), "{warning}");
    let (_, list) = app.get("/api/engines").await;
    assert_eq!(
        list.as_array().unwrap().len(),
        1,
        "nothing started on the warning"
    );
    b.click("#new-engine button[type=submit]").await;
    b.wait_js(
        "document.querySelectorAll('#engines li[data-engine-id]').length === 2",
        "started when asked again",
    )
    .await;
    // Stopped at once: its loop is not this test's business.
    let (_, list) = app.get("/api/engines").await;
    let looping = list.as_array().unwrap()[1]["id"]
        .as_str()
        .unwrap()
        .to_string();
    app.post(&format!("/api/engines/{looping}/stop"), json!({}))
        .await;

    // A manual client repeats three sends; when they are done the panel says sent, and its
    // Stop button goes.
    let client = app
        .post(
            "/api/engines",
            json!({"kind": "tcp-client", "target": server["local"], "behavior": "manual", "name": "Repeater"}),
        )
        .await;
    let cid = client["id"].as_str().unwrap();
    b.goto(&format!("{}/#{cid}", app.base)).await;
    b.wait_js(
        &format!("document.querySelector('.engine-detail')?.dataset.engineId === '{cid}'"),
        "the repeater selected from the address",
    )
    .await;
    b.type_into(".composer textarea[name=data]", "tick").await;
    b.js("(document.querySelector('.composer input[name=repeat]').value = '3', document.querySelector('.composer input[name=repeat]').dispatchEvent(new Event('input')), 1)")
        .await;
    b.js("(document.querySelector('.composer input[name=interval]').value = '50', 1)")
        .await;
    b.click(".composer button[type=submit]").await;
    let done = b
        .wait_js(
            "(t => t.startsWith('sent 3') && document.querySelector('.composer .c-stop').hidden && t)(document.querySelector('.composer .c-result').textContent)",
            "the repeats said done",
        )
        .await;
    assert!(!done.as_str().unwrap().contains("every"), "{done}");
    // With an engine selected, the skip link lands in its Send box.
    b.js("(document.querySelector('.skip[href=\"#c-data\"]').click(), 1)")
        .await;
    assert_eq!(b.js("document.activeElement.id").await, json!("c-data"));
    b.assert_no_page_errors().await;
}
